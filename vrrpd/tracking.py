"""Tracked objects -> effective priority and FAULT, with rise/fall debounce, pure.

Operators track interfaces, scripts and files. Each tracked object either carries a weight
(-254..254, non-zero) that moves the advertised priority while it fails, or no weight
(`weight=None`), which puts the virtual router in FAULT while it fails:

- interface: failing while the link is down; the term is `weight` while down, 0 while up.
- script: the adapter runs it and feeds each result in; `fall` consecutive failures make it
  failing, `rise` consecutive successes make it OK again (debounce, like keepalived and
  ExaBGP's healthcheck). The term is `weight` while failing, 0 while OK.
- file: the adapter reads an integer from it; the term is always value x weight (keepalived's
  track_file). With `weight=None` it is failing while the value is non-zero. A file that cannot
  be read or holds no integer (the adapter passes None) is failing: it counts as value 1, so a
  weighted file applies its weight once and a `weight=None` file holds FAULT.

Effective priority = base + the sum of the terms, clamped to 1..254. An owner (base 255) is
never moved off 255 by weights, but FAULT applies to it too (RFC 5798 §6.4.1 says nothing of
tracking; keepalived does the same).

Start-up: every object starts UNKNOWN until its first input. An unknown object never moves the
priority (no input is no evidence of a failure, and advertising a lowered priority that rises
again a moment later would cost the network two elections instead of at most one), but an
unknown `weight=None` object holds FAULT (it guards "never be master while this is broken",
and claiming the addresses before knowing is the unsafe direction). The first input decides at
once, whatever rise/fall say: debounce protects a known state from flapping, and there is no
known state yet; waiting `rise` intervals would only delay the start (keepalived does the
same). The adapter should therefore feed the current link state and file contents right at
start (they are cheap to read); only scripts cost one check interval. `awaiting()` lists the
objects that have had no input yet.

Like `fsm`, this module never reads a clock, runs anything, opens a file or logs: the adapter
does the I/O and feeds results in; every mutator says whether the effective priority or the
FAULT condition changed, so the adapter knows when to tell the state machine.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from .types import MAX_BACKUP_PRIORITY, MIN_PRIORITY, OWNER_PRIORITY

MAX_WEIGHT = 254

JSON = dict[str, object]


class Kind(enum.Enum):
    """What a tracked object watches."""

    INTERFACE = "interface"
    SCRIPT = "script"
    FILE = "file"


class Status(enum.Enum):
    """An object's debounced condition. UNKNOWN: no input since start (see module docstring)."""

    UNKNOWN = "unknown"
    OK = "ok"
    FAILING = "failing"  # link down / script failing / file non-zero or unreadable


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """One tracked object of one virtual router, as configured.

    `target` is what is watched: the interface name, the script's command text or the file's
    path; empty means "same as `name`" (the usual case for an interface). `rise` and `fall`
    apply to scripts only; for other kinds they must stay 1 so a misplaced setting is caught.
    """

    name: str
    kind: Kind
    weight: int | None
    rise: int = 1
    fall: int = 1
    target: str = ""

    def __post_init__(self) -> None:
        where = f"track {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"track name must be a non-empty string (got {self.name!r})")
        if not isinstance(self.kind, Kind):
            allowed = ", ".join(k.value for k in Kind)
            raise ValueError(f"{where}: kind must be one of {allowed} (got {self.kind!r})")
        if self.weight is not None and (
            not isinstance(self.weight, int)
            or isinstance(self.weight, bool)
            or self.weight == 0
            or not -MAX_WEIGHT <= self.weight <= MAX_WEIGHT
        ):
            raise ValueError(
                f"{where}: weight must be -{MAX_WEIGHT}..{MAX_WEIGHT} and non-zero, "
                f"or None for FAULT (got {self.weight!r})"
            )
        for key in ("rise", "fall"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{where}: {key} must be an integer >= 1 (got {value!r})")
            if self.kind is not Kind.SCRIPT and value != 1:
                raise ValueError(
                    f"{where}: {key} applies to scripts only, not to a {self.kind.value} "
                    f"(got {value})"
                )
        if not isinstance(self.target, str):
            raise ValueError(f"{where}: target must be a string (got {self.target!r})")
        if not self.target:
            object.__setattr__(self, "target", self.name)


@dataclass(frozen=True, slots=True)
class Term:
    """One object's contribution, for `explain`, logs and the control socket.

    `value` is what the object adds to the base priority (0 while OK, unknown, or for a
    `weight=None` object); it is computed for an owner too, where it is not applied.
    `failing` is True when the object counts as failing: it applies its weight, or (with
    `weight=None`) it holds FAULT, an unknown `weight=None` object included.
    """

    name: str
    kind: Kind
    value: int
    text: str
    failing: bool


@dataclass(slots=True)
class _Object:
    """The mutable condition of one tracked object (private to `Tracker`)."""

    spec: TrackSpec
    status: Status = Status.UNKNOWN
    fails: int = 0  # consecutive script failures (capped at `fall`)
    oks: int = 0  # consecutive script successes (capped at `rise`)
    value: int | None = 0  # last file value; None: unreadable


class Tracker:
    """The tracked objects of one virtual router: their inputs in, effective priority out."""

    def __init__(self, base_priority: int, specs: Sequence[TrackSpec]) -> None:
        _check_priority(base_priority)
        self._base = base_priority
        self._objects: dict[str, _Object] = {}
        self.changes = 0  # inputs taken so far: a reader may cache what it derived until then
        for spec in specs:
            if not isinstance(spec, TrackSpec):
                raise ValueError(f"tracked objects must be TrackSpec (got {spec!r})")
            if spec.name in self._objects:
                raise ValueError(
                    f"track {spec.name!r}: duplicate name (names are unique per virtual router)"
                )
            self._objects[spec.name] = _Object(spec)

    # -- inputs ----------------------------------------------------------------------------

    def interface(self, name: str, up: bool) -> bool:
        """A link came up or went down. True if the effective priority or FAULT changed.

        `name` is the kernel interface name: every interface track watching it is updated
        (what netlink events carry). When no track watches an interface of that name, it is
        taken as a track name instead.
        """
        watching = [
            o
            for o in self._objects.values()
            if o.spec.kind is Kind.INTERFACE and o.spec.target == name
        ]
        if not watching:
            watching = [self._get(name, Kind.INTERFACE)]
        self.changes += 1
        before = self._outcome()
        for obj in watching:
            obj.status = Status.OK if up else Status.FAILING
        return self._outcome() != before

    def script_result(self, name: str, ok: bool) -> bool:
        """One run of the script of track `name` succeeded (`ok`) or failed.

        Debounced: `fall` consecutive failures make an OK script failing, `rise` consecutive
        successes make a failing one OK; any other result resets the count. The first result
        after start decides at once (see the module docstring). True if the effective
        priority or FAULT changed.
        """
        obj = self._get(name, Kind.SCRIPT)
        spec = obj.spec
        self.changes += 1
        before = self._outcome()
        if ok:
            obj.fails = 0
            obj.oks = min(obj.oks + 1, spec.rise)
            if obj.status is Status.UNKNOWN or obj.oks >= spec.rise:
                obj.status = Status.OK
        else:
            obj.oks = 0
            obj.fails = min(obj.fails + 1, spec.fall)
            if obj.status is Status.UNKNOWN or obj.fails >= spec.fall:
                obj.status = Status.FAILING
        return self._outcome() != before

    def file_value(self, name: str, value: int | None) -> bool:
        """The file of track `name` holds `value` (None: unreadable or not an integer).

        True if the effective priority or FAULT changed.
        """
        obj = self._get(name, Kind.FILE)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"track {name!r}: file value must be an int or None (got {value!r})")
        self.changes += 1
        before = self._outcome()
        obj.value = value
        obj.status = Status.OK if value == 0 else Status.FAILING
        return self._outcome() != before

    def set_base(self, priority: int) -> bool:
        """The configured priority changed (reload). True if the effective priority changed."""
        _check_priority(priority)
        self.changes += 1
        before = self._outcome()
        self._base = priority
        return self._outcome() != before

    def carry_over(self, old: Tracker) -> None:
        """Take the verdicts of `old`'s objects whose specification is unchanged (a reload
        that adds one script must not send the others back to UNKNOWN, which would hold
        FAULT for an unweighted one until its next result)."""
        self.changes += 1
        for name, obj in self._objects.items():
            before = old._objects.get(name)
            if before is not None and before.spec == obj.spec:
                obj.status, obj.fails, obj.oks = before.status, before.fails, before.oks
                obj.value = before.value

    # -- outputs ---------------------------------------------------------------------------

    @property
    def base_priority(self) -> int:
        return self._base

    @property
    def owner(self) -> bool:
        """Base 255: the address owner, whose priority weights never move (FAULT still does)."""
        return self._base == OWNER_PRIORITY

    @property
    def raw_priority(self) -> int:
        """Base plus every term, before clamping (the owner's is 255: weights do not apply)."""
        if self.owner:
            return OWNER_PRIORITY
        return self._base + sum(t.value for t in self.terms())

    @property
    def effective_priority(self) -> int:
        """The priority to advertise: base + terms clamped to 1..254, or 255 for an owner."""
        if self.owner:
            return OWNER_PRIORITY
        return max(MIN_PRIORITY, min(MAX_BACKUP_PRIORITY, self.raw_priority))

    @property
    def fault(self) -> bool:
        """True while some `weight=None` object is failing (or has had no input yet)."""
        return any(o.spec.weight is None and o.status is not Status.OK for o in self._all())

    def fault_reasons(self) -> list[str]:
        """Why FAULT holds, one text per object, in configuration order; empty when not."""
        return [
            _text(o) for o in self._all() if o.spec.weight is None and o.status is not Status.OK
        ]

    def terms(self) -> list[Term]:
        """Every object's term, in configuration order (zero terms included)."""
        return [_term(o) for o in self._all()]

    def awaiting(self) -> list[str]:
        """Names of the objects that have had no input since start (status UNKNOWN)."""
        return [o.spec.name for o in self._all() if o.status is Status.UNKNOWN]

    def explain(self) -> str:
        """The arithmetic in one line, e.g. "base 150, -50 uplink eth1 down = 100".

        Non-zero terms only; ", clamped to N" when clamping applied; "; FAULT: reason, ..."
        while in FAULT; an owner reads "base 255 (owner: weights do not apply) = 255".
        """
        if self.owner:
            text = f"base {OWNER_PRIORITY} (owner: weights do not apply) = {OWNER_PRIORITY}"
        else:
            parts = [f"base {self._base}"]
            parts += [f"{t.value:+d} {t.text}" for t in self.terms() if t.value]
            raw, effective = self.raw_priority, self.effective_priority
            text = f"{', '.join(parts)} = {raw}"
            if raw != effective:
                text += f", clamped to {effective}"
        reasons = self.fault_reasons()
        if reasons:
            text += f"; FAULT: {', '.join(reasons)}"
        return text

    def snapshot(self) -> JSON:
        """A JSON-friendly picture for the control socket and `vrrpctl`."""
        objects: list[JSON] = []
        for obj, term in zip(self._all(), self.terms(), strict=True):
            spec = obj.spec
            objects.append(
                {
                    "name": spec.name,
                    "kind": spec.kind.value,
                    "target": spec.target,
                    "state": obj.status.value,
                    "weight": spec.weight,
                    "term": term.value,
                    "detail": term.text,
                }
            )
        return {
            "base": self._base,
            "effective": self.effective_priority,
            "fault": self.fault,
            "fault_reasons": self.fault_reasons(),
            "explain": self.explain(),
            "objects": objects,
        }

    # -- helpers ---------------------------------------------------------------------------

    def _all(self) -> list[_Object]:
        return list(self._objects.values())

    def _get(self, name: str, kind: Kind) -> _Object:
        obj = self._objects.get(name)
        if obj is None:
            known = ", ".join(o.spec.name for o in self._all() if o.spec.kind is kind)
            raise KeyError(f"no tracked {kind.value} named {name!r} (known: {known or 'none'})")
        if obj.spec.kind is not kind:
            raise KeyError(f"track {name!r} is a {obj.spec.kind.value}, not a {kind.value}")
        return obj

    def _outcome(self) -> tuple[int, bool]:
        return self.effective_priority, self.fault


def _check_priority(priority: int) -> None:
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 255:
        raise ValueError(f"base priority must be an integer 1..255 (got {priority!r})")


def _term(obj: _Object) -> Term:
    """An object's contribution and its text (see `Term`)."""
    spec, status = obj.spec, obj.status
    failing = status is Status.FAILING or (spec.weight is None and status is Status.UNKNOWN)
    value = 0
    if spec.weight is not None and status is Status.FAILING:
        if spec.kind is Kind.FILE:
            # keepalived's track_file: value x weight; unreadable counts as value 1.
            value = (1 if obj.value is None else obj.value) * spec.weight
        else:
            value = spec.weight
    return Term(spec.name, spec.kind, value, _text(obj), failing)


def _text(obj: _Object) -> str:
    spec, status = obj.spec, obj.status
    if spec.kind is Kind.INTERFACE:
        # "interface eth1 down" when the track is named after its interface, else the
        # operator's name first: "uplink eth1 down".
        label = (
            f"interface {spec.target}" if spec.name == spec.target else f"{spec.name} {spec.target}"
        )
        condition = {Status.UNKNOWN: "state unknown", Status.OK: "up", Status.FAILING: "down"}
        return f"{label} {condition[status]}"
    if spec.kind is Kind.SCRIPT:
        label = f"script {spec.name}"
        if status is Status.UNKNOWN:
            return f"{label} not run yet"
        if status is Status.OK:
            return f"{label} ok (fall {obj.fails}/{spec.fall})" if obj.fails else f"{label} ok"
        if obj.oks:
            return f"{label} failing (rise {obj.oks}/{spec.rise})"
        return f"{label} failing ({obj.fails}/{spec.fall})"
    label = f"file {spec.name} {spec.target}"
    if status is Status.UNKNOWN:
        return f"{label} not read yet"
    if obj.value is None:
        if spec.weight is None:
            return f"{label} unreadable"
        return f"{label} unreadable (as 1 x {spec.weight})"
    if spec.weight is None:
        return f"{label} = {obj.value}"
    return f"{label} = {obj.value} x {spec.weight}"
