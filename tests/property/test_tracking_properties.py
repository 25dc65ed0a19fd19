"""Hypothesis: for any tracked objects and any sequence of inputs, the tracker's priority stays
in range, FAULT holds exactly while a `weight=None` object fails, `explain` ends with the
effective priority, and every mutator's answer says whether (priority, FAULT) changed.

An independent model replays each object's inputs: a script's debounced state is found from
run lengths (the first result decides; afterwards a run of `fall` failures or `rise`
successes switches it), not from the tracker's counters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.tracking import Kind, Tracker, TrackSpec

weights = st.one_of(st.none(), st.integers(-254, -1), st.integers(1, 254))


@st.composite
def spec_lists(draw: st.DrawFn) -> list[TrackSpec]:
    specs = []
    for i in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(Kind))
        weight = draw(weights)
        if kind is Kind.SCRIPT:
            rise, fall = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            specs.append(TrackSpec(f"s{i}", kind, weight, rise, fall, target=f"/bin/chk{i}"))
        elif kind is Kind.INTERFACE:
            # Few interface names, so several tracks may watch the same link.
            target = draw(st.sampled_from(["eth0", "eth1", "eth2"]))
            specs.append(TrackSpec(f"i{i}", kind, weight, target=target))
        else:
            specs.append(TrackSpec(f"f{i}", kind, weight, target=f"/run/f{i}"))
    return specs


@dataclass(frozen=True)
class Iface:
    target: str
    up: bool


@dataclass(frozen=True)
class Script:
    index: int
    ok: bool


@dataclass(frozen=True)
class File:
    index: int
    value: int | None


@dataclass(frozen=True)
class Base:
    priority: int


Input = Iface | Script | File | Base

inputs = st.lists(
    st.one_of(
        st.builds(Iface, st.sampled_from(["eth0", "eth1", "eth2"]), st.booleans()),
        st.builds(Script, st.integers(0, 5), st.booleans()),
        st.builds(Script, st.integers(0, 5), st.booleans()),
        st.builds(
            File,
            st.integers(0, 5),
            st.one_of(st.none(), st.integers(-3, 3), st.integers(-(10**6), 10**6)),
        ),
        st.builds(Base, st.integers(1, 255)),
    ),
    max_size=60,
)


def debounced(results: list[bool], rise: int, fall: int) -> bool | None:
    """The model of a script: None until the first result, then OK (True) or failing."""
    if not results:
        return None
    state, run, last = results[0], 0, results[0]
    for r in results[1:]:
        run = run + 1 if r == last else 1
        last = r
        if r != state and run >= (rise if r else fall):
            state = r
    return state


def model(
    base: int, specs: list[TrackSpec], history: dict[str, list[object]]
) -> tuple[int, bool, int]:
    """(effective priority, fault, raw priority) from the inputs each object has seen."""
    raw, fault = base, False
    for spec in specs:
        seen = history[spec.name]
        term, failing = 0, False
        if not seen:
            failing = spec.weight is None  # unknown: FAULT-type only
        elif spec.kind is Kind.INTERFACE:
            failing = not seen[-1]
            term = spec.weight or 0 if failing else 0
        elif spec.kind is Kind.SCRIPT:
            failing = not debounced([bool(r) for r in seen], spec.rise, spec.fall)
            term = spec.weight or 0 if failing else 0
        else:
            value = seen[-1]
            assert value is None or isinstance(value, int)
            failing = value != 0
            term = (1 if value is None else value) * (spec.weight or 0)
        raw += term
        fault = fault or (spec.weight is None and failing)
    if base == 255:
        return 255, fault, 255
    return max(1, min(254, raw)), fault, raw


@settings(max_examples=400, deadline=None)
@given(base=st.integers(1, 255), specs=spec_lists(), steps=inputs)
def test_tracker_invariants(base: int, specs: list[TrackSpec], steps: list[Input]) -> None:
    t = Tracker(base, specs)
    history: dict[str, list[object]] = {s.name: [] for s in specs}
    scripts = [s for s in specs if s.kind is Kind.SCRIPT]
    files = [s for s in specs if s.kind is Kind.FILE]
    ifaces = [s for s in specs if s.kind is Kind.INTERFACE]
    before = (t.effective_priority, t.fault)
    for step in steps:
        match step:
            case Iface(target, up):
                watching = [s for s in ifaces if s.target == target]
                if not watching:
                    continue
                changed = t.interface(target, up)
                for s in watching:
                    history[s.name].append(up)
            case Script(index, ok):
                if not scripts:
                    continue
                spec = scripts[index % len(scripts)]
                changed = t.script_result(spec.name, ok)
                history[spec.name].append(ok)
            case File(index, value):
                if not files:
                    continue
                spec = files[index % len(files)]
                changed = t.file_value(spec.name, value)
                history[spec.name].append(value)
            case Base(priority):
                changed = t.set_base(priority)
                base = priority
        effective, fault, raw = model(base, specs, history)
        after = (t.effective_priority, t.fault)
        assert after == (effective, fault)
        assert changed == (after != before)
        before = after

        if base == 255:
            assert t.effective_priority == 255
        else:
            assert 1 <= t.effective_priority <= 254
        assert t.fault == bool(t.fault_reasons())
        assert t.awaiting() == [s.name for s in specs if not history[s.name]]

        text = t.explain()
        head, _, fault_part = text.partition("; FAULT: ")
        assert bool(fault_part) == fault
        if fault:
            assert fault_part == ", ".join(t.fault_reasons())
        if base == 255:
            assert head == "base 255 (owner: weights do not apply) = 255"
        elif raw == effective:
            assert head.endswith(f" = {effective}")
            assert "clamped" not in head
        else:
            assert head.endswith(f" = {raw}, clamped to {effective}")
        assert head.startswith(f"base {base}")
        # The listed terms add up to the raw priority.
        if base != 255:
            terms = head[: head.rindex(" = ")]  # a file's term text holds " = " too
            listed = re.findall(r", ([+-]\d+) ", terms)
            assert base + sum(int(v) for v in listed) == raw
