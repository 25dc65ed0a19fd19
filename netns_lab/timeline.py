"""A failover as a picture: what the client, the wire and the daemons saw around one failure.

Pure: plain events in (times in seconds on one clock, any clock), a `Timeline` out: lanes of
marks on an axis in seconds from the fault (t = 0). `render_text` draws it for a terminal (one
row per lane, fixed width, a millisecond axis, the blackout shaded); `render_png` draws it with
matplotlib, the optional extra ``plot`` (``pip install 'vrrpd[plot]'``), imported only there.

Lanes, top to bottom:

* ``client probe``: each echo request to the virtual address, answered or lost (by send time);
* per router ``rN adverts`` (VRRP adverts on the segment, priority 0 marked), ``rN state``
  (from vrrpd's transitions; a killed daemon's lane ends at its kill) and ``rN GARP``
  (gratuitous ARP sent from the router's MAC);
* ``blackout``: from the first lost probe after the last one answered before the fault to the
  first answered after it (the probe's `blackout` figure counts one probe spacing more: from
  the last answered probe before the outage).

Collecting the events from a lab run (probe result, client capture, vrrpd logs) is
`netns_lab.failover.Failover.timeline`.
"""

from __future__ import annotations

import datetime
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .probe import answered

PLOT_MISSING = "--png needs matplotlib: pip install 'vrrpd[plot]'"

# Input events (absolute times, one clock for all):
Probe = tuple[float, bool]  # echo request: send time, answered
Advert = tuple[float, str, int]  # time, router, priority
Transition = tuple[float, str, str]  # time, router, new state ("" = killed / not running)
Garp = tuple[float, str]  # time, router

STATE_CODES = {"MASTER": "M", "BACKUP": "B", "INITIALIZE": "I", "FAULT": "F"}


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed; str() is the one line to show."""


@dataclass(frozen=True)
class Mark:
    t: float  # seconds from the fault
    kind: str  # reply | lost | advert | priority0 | state | garp
    text: str = ""  # state: the new state ("" = killed); advert: the priority


@dataclass(frozen=True)
class Lane:
    name: str  # "client probe", "r1 adverts", "r1 state", "r2 GARP"
    kind: str  # probe | adverts | state | garp
    marks: tuple[Mark, ...]
    initial: str = ""  # state lanes: the state at the window's start ("" = unknown)

    def kinds(self) -> list[str]:
        return [m.kind for m in self.marks]

    def times(self, kind: str | None = None) -> list[float]:
        return [m.t for m in self.marks if kind is None or m.kind == kind]


@dataclass(frozen=True)
class Timeline:
    title: str
    fault: str  # what happened at t = 0
    start: float  # window, seconds from the fault
    end: float
    lanes: tuple[Lane, ...]
    blackout: tuple[float, float | None] | None  # first lost -> first answered (None: open)

    def lane(self, name: str) -> Lane:
        for lane in self.lanes:
            if lane.name == name:
                return lane
        raise KeyError(f"no lane {name!r} (lanes: {', '.join(x.name for x in self.lanes)})")

    @property
    def empty(self) -> bool:
        return not self.end > self.start or not any(
            lane.marks or lane.initial for lane in self.lanes
        )

    @property
    def blackout_ms(self) -> float | None:
        if self.blackout is None or self.blackout[1] is None:
            return None
        return (self.blackout[1] - self.blackout[0]) * 1000


# --- building -------------------------------------------------------------------------------


def outage(probes: Sequence[Probe], fault: float) -> tuple[float, float | None] | None:
    """The client's outage around `fault`: (first lost probe, first answered after it).

    The first lost probe is the first unanswered one after the last probe answered before
    the fault (a reply in flight at the fault may be lost too); None when no probe was lost
    after that, and the end None when none was answered after the loss.
    """
    ordered = sorted(probes)
    before = [t for t, ok in ordered if ok and t <= fault]
    after = before[-1] if before else -math.inf
    first_lost = next((t for t, ok in ordered if not ok and t > after), None)
    if first_lost is None:
        return None
    back = next((t for t, ok in ordered if ok and t > first_lost), None)
    return first_lost, back


def build(
    *,
    fault: float,
    fault_label: str,
    routers: Sequence[str],
    probes: Iterable[Probe] = (),
    adverts: Iterable[Advert] = (),
    transitions: Iterable[Transition] = (),
    garps: Iterable[Garp] = (),
    interval: float = 1.0,
    title: str = "",
    margin: float | None = None,
) -> Timeline:
    """The timeline of one failover at time `fault`.

    The window runs from `margin` (default 1.5 advert intervals, at least 20 ms) before the
    fault to `margin` after the last of: the end of the blackout, the transitions and the
    first GARP after the fault; cut to the time the probe ran, when it ran. Lanes come in the
    order of `routers`; routers not named there (an unknown sender) follow. A router's
    adverts and GARP lanes are left out when they hold nothing in the window; its state lane
    is kept (a backup that stayed backup says so).
    """
    probes = sorted(probes)
    adverts = sorted(adverts)
    transitions = sorted(transitions)
    garps = sorted(garps)
    pad = max(1.5 * interval, 0.02) if margin is None else margin
    out = outage(probes, fault)
    ends = [t for t, _, _ in transitions if t >= fault]
    ends += [t for t, _ in garps if t >= fault][:1]
    if out is not None:
        ends.append(out[1] if out[1] is not None else out[0])
    start, end = fault - pad, max([fault, *ends]) + pad
    if probes:
        start, end = max(start, probes[0][0]), min(end, probes[-1][0])

    def inside(t: float) -> bool:
        return start <= t <= end

    def rel(t: float) -> float:
        return t - fault

    names = list(routers)
    for r in [x[1] for x in adverts] + [x[1] for x in transitions] + [x[1] for x in garps]:
        if r not in names:
            names.append(r)

    lanes = [
        Lane(
            "client probe",
            "probe",
            tuple(Mark(rel(t), "reply" if ok else "lost") for t, ok in probes if inside(t)),
        )
    ]
    for r in names:
        ads = tuple(
            Mark(rel(t), "advert" if p else "priority0", str(p))
            for t, src, p in adverts
            if src == r and inside(t)
        )
        if ads:
            lanes.append(Lane(f"{r} adverts", "adverts", ads))
        before = [s for t, src, s in transitions if src == r and t < start]
        states = tuple(
            Mark(rel(t), "state", s) for t, src, s in transitions if src == r and inside(t)
        )
        lanes.append(Lane(f"{r} state", "state", states, before[-1] if before else ""))
        gs = tuple(Mark(rel(t), "garp") for t, src in garps if src == r and inside(t))
        if gs:
            lanes.append(Lane(f"{r} GARP", "garp", gs))
    blackout = None
    if out is not None:
        blackout = (rel(out[0]), None if out[1] is None else rel(out[1]))
    return Timeline(
        title=title,
        fault=fault_label,
        start=rel(start),
        end=rel(end),
        lanes=tuple(lanes),
        blackout=blackout,
    )


def probe_sends(result: Mapping[str, Any]) -> list[Probe]:
    """Every echo request of a `netns_lab.probe` result as (send time, answered).

    The result keeps send times of answered requests only; a lost one's is interpolated
    between its answered neighbours (the probe sends on a fixed schedule), before the first
    answered one from the start, after the last one by the probe's interval.
    """
    done = answered(result)
    sent = int(result.get("sent", 0))
    step = float(result.get("interval", 0.005))
    known = {seq: t for seq, t, _ in done}
    seqs = sorted(known)
    out: list[Probe] = []
    i = 0  # index in seqs of the next answered seq
    for seq in range(sent):
        if seq in known:
            out.append((known[seq], True))
            i += 1
            continue
        if i == 0:
            start = float(result.get("start", known[seqs[0]] - seqs[0] * step if seqs else 0))
            t = start + seq * step
        elif i == len(seqs):
            t = known[seqs[-1]] + (seq - seqs[-1]) * step
        else:
            a, b = seqs[i - 1], seqs[i]
            t = known[a] + (known[b] - known[a]) * (seq - a) / (b - a)
        out.append((t, False))
    return out


_TRANSITION = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+) vrrpd\[\d+\] \w+ (\S+): state (\w+) -> (\w+) "
    r"reason=(\S+)"
)


def log_transitions(text: str, router: str | None = None) -> list[tuple[float, str, str, str]]:
    """The state transitions in a vrrpd log (its stderr lines): (time, virtual router, old,
    new, reason), for virtual router `router` only if given. The time is the log's local
    wall-clock time (to the millisecond) as seconds since the epoch."""
    out = []
    for line in text.splitlines():
        m = _TRANSITION.match(line)
        if m is None or (router is not None and m[2] != router):
            continue
        when = datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        out.append((when, m[2], m[3], m[4]))
    return out


# --- the terminal ---------------------------------------------------------------------------

_UNICODE = {
    "reply": "─",
    "lost": "x",
    "advert": "|",
    "priority0": "0",
    "garp": "G",
    "killed": "X",
    "shade": "░",
    "blackout": "▓",
    "tick": "┼",
    "axis": "─",
    "fault": "▼",
}
_ASCII = {
    **_UNICODE,
    "reply": "-",
    "shade": ":",
    "blackout": "#",
    "tick": "+",
    "axis": "-",
    "fault": "v",
}


def nice_step(span_ms: float, ticks: int = 6) -> float:
    """A tick spacing of 1, 2 or 5 x 10^k ms giving about `ticks` ticks over `span_ms`."""
    raw = max(span_ms / ticks, 1e-3)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _fmt_ms(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"


def render_text(tl: Timeline, width: int = 100, *, ascii_only: bool = False) -> str:
    """The timeline in `width` columns: a title, tick labels in ms from the fault, the axis
    (the fault marked), one row per lane, the blackout row and a legend."""
    if tl.empty:
        return (
            f"{tl.title or 'timeline'}: nothing to draw (no probe, advert, state or GARP "
            f"in a window of {(tl.end - tl.start) * 1000:g} ms)"
        )
    g = _ASCII if ascii_only else _UNICODE
    names = [lane.name for lane in tl.lanes] + ["blackout", "ms from the fault"]
    label_w = max(len(n) for n in names) + 2
    cols = width - label_w
    if cols < 20:
        raise ValueError(f"width {width} too small: at least {label_w + 20} columns")
    span = tl.end - tl.start

    def col(t: float) -> int:
        return min(cols - 1, max(0, int((t - tl.start) / span * cols)))

    def col_end(c: int) -> float:
        return tl.start + (c + 1) * span / cols

    shaded: set[int] = set()
    if tl.blackout is not None:
        b0, b1 = tl.blackout
        shaded = set(range(col(b0), col(tl.end if b1 is None else b1) + 1))

    rows: list[str] = []
    if tl.title:
        rows.append(tl.title)
    # tick labels and axis
    step = nice_step(span * 1000) / 1000
    first = math.ceil(tl.start / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(tl.end / step + 1e-9) + 1)]
    labels = [" "] * cols
    axis = [g["axis"]] * cols
    for t in ticks:
        c = col(t)
        axis[c] = g["tick"]
        text = _fmt_ms(round(t * 1000, 6))
        at = min(c, cols - len(text))
        if all(x == " " for x in labels[max(0, at - 1) : at + len(text) + 1]):
            labels[at : at + len(text)] = text
    if tl.start <= 0 <= tl.end:
        axis[col(0.0)] = g["fault"]
    rows.append(f"{'ms from the fault':<{label_w}}" + "".join(labels).rstrip())
    rows.append(" " * label_w + "".join(axis))
    for lane in tl.lanes:
        cells = [" "] * cols
        if lane.kind == "state":
            state, marks, i = lane.initial, sorted(lane.marks, key=lambda m: m.t), 0
            for c in range(cols):
                killed = False
                while i < len(marks) and marks[i].t < col_end(c):
                    state = marks[i].text
                    killed = killed or not state
                    i += 1
                cells[c] = g["killed"] if killed else STATE_CODES.get(state, state[:1] or " ")
        else:
            for m in lane.marks:
                c = col(m.t)
                if m.kind == "reply" and cells[c] == g["lost"]:
                    continue  # a lost probe in a column wins over answered ones
                if m.kind == "advert" and cells[c] == g["priority0"]:
                    continue
                cells[c] = g[m.kind]
            if lane.kind == "probe":  # a probe's answer holds until the next probe
                used = [c for c in range(cols) if cells[c] != " "]
                for c in range(used[0] + 1 if used else cols, used[-1] if used else 0):
                    if cells[c] == " ":
                        cells[c] = cells[c - 1]
        for c in shaded:
            if cells[c] == " ":
                cells[c] = g["shade"]
        rows.append(f"{lane.name:<{label_w}}" + "".join(cells).rstrip())
    bo = [" "] * cols
    for c in shaded:
        bo[c] = g["blackout"]
    ms = tl.blackout_ms
    what = (
        "no probe lost"
        if tl.blackout is None
        else ("not over when the probe stopped" if ms is None else f"{ms:.1f} ms")
    )
    rows.append(f"{'blackout':<{label_w}}" + "".join(bo).rstrip())
    notes = (
        f"{g['fault']} fault at 0: {tl.fault}.  {g['blackout']} blackout: {what} (first lost "
        f"probe to the first answered after it).  {g['reply']} probe answered  {g['lost']} "
        f"probe lost  {g['advert']} advert  {g['priority0']} priority-0 advert  {g['garp']} "
        f"gratuitous ARP  M/B/I/F MASTER/BACKUP/INITIALIZE/FAULT  {g['killed']} killed.  "
        f"1 column = {span / cols * 1000:.3g} ms."
    )
    rows += textwrap.wrap(notes, width, break_on_hyphens=False)
    return "\n".join(rows)


# --- PNG ------------------------------------------------------------------------------------

_STATE_COLOURS = {
    "MASTER": "#2e7d32",
    "BACKUP": "#90caf9",
    "INITIALIZE": "#bdbdbd",
    "FAULT": "#c62828",
}
_ROUTER_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457")


def png_path(base: str | Path, label: str) -> Path:
    """`base` with `label` before its suffix: ``demo.png``, ``hard`` -> ``demo-hard.png``."""
    p = Path(base)
    return p.with_name(f"{p.stem}-{label}{p.suffix or '.png'}")


def require_matplotlib() -> None:
    """Raise `PlotUnavailable` (one line) when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(PLOT_MISSING) from None


def render_png(tl: Timeline, path: str | Path, *, width_in: float = 10.0, dpi: int = 100) -> None:
    """Draw the timeline into the PNG file `path` (matplotlib's Agg, no display needed)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    lanes = list(tl.lanes)
    fig = Figure(figsize=(width_in, 1.6 + 0.42 * (len(lanes) + 1)), dpi=dpi)
    ax = fig.subplots()
    if tl.empty:
        ax.text(0.5, 0.5, render_text(tl), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        fig.savefig(str(path), format="png")
        return
    ms = 1000.0
    n = len(lanes)
    y_of = {lane.name: n - i for i, lane in enumerate(lanes)}
    routers = [lane.name.split()[0] for lane in lanes if lane.kind == "state"]
    colour = {r: _ROUTER_COLOURS[i % len(_ROUTER_COLOURS)] for i, r in enumerate(routers)}
    if tl.blackout is not None:
        b0, b1 = tl.blackout
        b1 = tl.end if b1 is None else b1
        ax.axvspan(b0 * ms, b1 * ms, color="#e53935", alpha=0.15, lw=0)
        ms_text = tl.blackout_ms
        label = "blackout " + ("(open)" if ms_text is None else f"{ms_text:.1f} ms")
        ax.text((b0 + b1) / 2 * ms, n + 0.75, label, ha="center", va="center", color="#b71c1c")
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.text(0, 0.25, f" fault: {tl.fault}", ha="left", va="center", fontsize=8)
    end_ms = tl.end * ms
    for lane in lanes:
        y = y_of[lane.name]
        router = lane.name.split()[0]
        if lane.kind == "probe":
            ok = lane.times("reply")
            bad = lane.times("lost")
            ax.vlines([t * ms for t in ok], y - 0.3, y + 0.3, color="#43a047", lw=0.6)
            ax.vlines([t * ms for t in bad], y - 0.3, y + 0.3, color="#e53935", lw=0.6)
        elif lane.kind == "adverts":
            c = colour.get(router, "black")
            ax.vlines([t * ms for t in lane.times("advert")], y - 0.3, y + 0.3, color=c, lw=1.5)
            zero = [t * ms for t in lane.times("priority0")]
            ax.plot(zero, [y] * len(zero), "v", color=c, ms=8, label=None)
            for t in zero:
                ax.text(t, y + 0.35, "prio 0", fontsize=7, ha="center", va="bottom")
        elif lane.kind == "garp":
            ts = [t * ms for t in lane.times("garp")]
            ax.plot(ts, [y] * len(ts), "^", color=colour.get(router, "black"), ms=7)
        else:
            state, t0 = lane.initial, tl.start * ms
            for m in [*sorted(lane.marks, key=lambda m: m.t), Mark(tl.end, "state", "-")]:
                t1 = m.t * ms
                if state and t1 > t0:
                    ax.broken_barh(
                        [(t0, t1 - t0)], (y - 0.3, 0.6), color=_STATE_COLOURS.get(state, "#eee")
                    )
                    if t1 - t0 > (end_ms - tl.start * ms) * 0.07:
                        ax.text(
                            (t0 + t1) / 2,
                            y,
                            state,
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if state in ("MASTER", "FAULT") else "black",
                        )
                if m.text == "" and m.kind == "state":
                    ax.plot([t1], [y], "x", color="black", ms=8, mew=2)
                state, t0 = m.text, t1
    ax.set_yticks([y_of[lane.name] for lane in lanes], [lane.name for lane in lanes])
    ax.set_ylim(0, n + 1.1)
    ax.set_xlim(tl.start * ms, end_ms)
    ax.set_xlabel("ms from the fault")
    ax.grid(axis="x", color="#dddddd", lw=0.5)
    ax.set_axisbelow(True)
    if tl.title:
        ax.set_title(tl.title, fontsize=10)
    ax.legend(
        handles=_legend(),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=5,
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(str(path), format="png", bbox_inches="tight", pad_inches=0.1)


def _legend() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def line(colour: str, marker: str, label: str, **kw: Any) -> Any:
        return Line2D([], [], color=colour, marker=marker, ls="", label=label, **kw)

    return [
        line("#43a047", "|", "probe answered", ms=9),
        line("#e53935", "|", "probe lost", ms=9),
        line("#1565c0", "|", "advert (colour per router)", ms=9, mew=1.5),
        line("#1565c0", "v", "priority-0 advert"),
        line("#1565c0", "^", "gratuitous ARP"),
        *(Patch(color=c, label=s) for s, c in _STATE_COLOURS.items()),
        line("black", "x", "daemon killed", mew=2),
        Patch(color="#e53935", alpha=0.15, label="blackout"),
    ]
