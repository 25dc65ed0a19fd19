#!/usr/bin/env python3
"""Failover benchmark: how long a client loses its gateway, against the RFC 5798 bounds.

    python tools/failover_bench.py [--runs 5] [--intervals 1,0.1,0.01] [--modes hard,graceful]
                                   [--json] [--timeline] [--png FILE]

For each advertisement interval a lab is built: r1 (priority 200) and r2 (priority 100) share
VRID 51 and 192.0.2.254/24, a client c1 probes that address every 5 ms. Each run fails the
master r1 and measures, from the client:

* blackout: from the last answered probe before the outage to the first answered after it;
* detection: from the last advertisement of r1 the client saw (for a graceful shutdown, its
  priority-0 advertisement) to the first advertisement of r2.

Modes: ``hard`` takes r1's link down and SIGKILLs its vrrpd at once (a crashed router; a
SIGKILL alone would leave r1's kernel answering for the address the daemon never removed):
bound Master_Down_Interval of r2 = 3 x interval + (256 - 100) x interval / 256. ``graceful``
sends SIGTERM (vrrpd sends priority 0 and removes the address): bound Skew_Time of r2 =
(256 - 100) x interval / 256. Each failure comes right after the client saw an advert of r1
(the probe waits for one), so a hard blackout is close to its worst case, Master_Down_Interval
after that advert; a crash at a random moment would lose up to one interval less. Between
runs r1 is restarted and waits until it is master again (preemption). Everything is removed
at the end, also on errors and Ctrl-C.

With ``--timeline`` each run is also drawn in the terminal (`netns_lab.timeline`: the client's
probes, each router's adverts, states and gratuitous ARPs, the blackout), with the progress
lines on stderr; ``--png FILE`` draws each run into a PNG (matplotlib, ``pip install
'vrrpd[plot]'``), FILE itself for a single run, else FILE-{interval}s-{mode}-{run}.png.

Figures are for reading, not asserting: the machine is shared and has two cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netns_lab.failover import Failover, converge, interval_arg, virtual_router
from netns_lab.lab import Lab, Node, Vrrpd
from netns_lab.timeline import (
    PlotUnavailable,
    Timeline,
    png_path,
    render_png,
    render_text,
    require_matplotlib,
)

MASTER_PRIO, BACKUP_PRIO = 200, 100


@dataclass
class Run:
    interval: float
    mode: str
    run: int
    blackout: float = math.nan  # seconds
    detection: float = math.nan
    bound: float = math.nan
    sent: int = 0
    lost: int = 0
    priority0_seen: bool | None = None
    error: str | None = None


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    """One lab for one advertisement interval: r1, r2 and c1; `run_once` fails r1 (and, with
    `timeline`, leaves the run's `Timeline` in `last_timeline`)."""

    def __init__(
        self,
        interval: float,
        keep_logs: bool,
        timeline: bool = False,
        backup_keys: dict[str, Any] | None = None,
    ) -> None:
        self.interval = interval
        self.timeline = timeline
        self.last_timeline: Timeline | None = None
        self.lab = Lab(keep_workdir=keep_logs)
        try:
            self.r1: Node = self.lab.add_router("r1", "192.0.2.1/24")
            self.r2: Node = self.lab.add_router("r2", "192.0.2.2/24")
            self.c1: Node = self.lab.add_client("c1", "192.0.2.100/24")
            backup = virtual_router(BACKUP_PRIO, interval) | (backup_keys or {})
            self.d2: Vrrpd = self.r2.start_vrrpd([backup])
            self.d1: Vrrpd = self.r1.start_vrrpd([virtual_router(MASTER_PRIO, interval)])
            self.converge()
        except BaseException:
            self.lab.close()
            raise

    def close(self) -> None:
        self.lab.close()

    def converge(self) -> None:
        """Wait until r1 is MASTER holding the VIP alone and r2 is its BACKUP."""
        converge(
            {"r1": self.d1, "r2": self.d2}, {"r1": self.r1, "r2": self.r2}, "r1", self.interval
        )

    def run_once(self, mode: str, index: int) -> Run:
        interval = self.interval
        r = Run(interval=interval, mode=mode, run=index)
        with Failover(
            self.c1,
            old=self.r1,
            old_daemon=self.d1,
            new=self.r2,
            new_daemon=self.d2,
            interval=interval,
            hard=mode == "hard",
            timeline=self.timeline,
        ) as f:
            r.bound = f.bound
            code = f.fail()
            if code is not None and code != 0:
                r.error = f"r1's vrrpd exited with code {code} on SIGTERM"
            f.wait_takeover()
            res = f.stop()
        if self.timeline:
            self.last_timeline = f.timeline(
                {"r1": self.d1, "r2": self.d2},
                f"{mode.capitalize()} failover r1 -> r2, advert interval {interval:g} s, "
                f"run {index}",
            )
        r.blackout = f.blackout
        r.sent, r.lost = int(res["sent"]), f.lost
        det = f.detection
        if det is not None:
            r.detection = det[0]
            if mode == "graceful":
                r.priority0_seen = f.last_priority() == 0
        elif r.error is None:
            r.error = "the probe did not see both r1's last and r2's first advertisement"
        self.restore(mode)
        return r

    def restore(self, mode: str) -> None:
        """Bring r1 back and wait until it has preempted r2."""
        if mode == "hard":
            self.r1.link_set(True)
        self.d1 = self.r1.start_vrrpd([virtual_router(MASTER_PRIO, self.interval)])
        self.converge()


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    keys: list[tuple[float, str]] = []
    for r in runs:
        if (r.interval, r.mode) not in keys:
            keys.append((r.interval, r.mode))
    for interval, mode in keys:
        group = [r for r in runs if r.interval == interval and r.mode == mode]
        ok = [r for r in group if r.error is None]
        bo = [r.blackout for r in ok if math.isfinite(r.blackout)]
        de = [r.detection for r in ok if math.isfinite(r.detection)]
        bound = group[0].bound

        def stats(xs: list[float]) -> dict[str, float | None]:
            if not xs:
                return {"min": None, "median": None, "max": None}
            return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}

        row: dict[str, Any] = {
            "interval": interval,
            "mode": mode,
            "runs": len(group),
            "failed": len(group) - len(ok),
            "blackout": stats(bo),
            "detection": stats(de),
            "bound": bound,
        }
        med = row["detection"]["median"]
        row["median_detection_minus_bound"] = None if med is None else med - bound
        rows.append(row)
    return rows


def _ms(x: float | None, width: int = 8) -> str:
    return f"{'-':>{width}}" if x is None else f"{x * 1000:>{width}.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table, one row per interval and mode; times in milliseconds."""
    head1 = (
        f"{'':<9}  {'':<8}  {'':>4}  {'blackout (ms)':^26}  {'detection (ms)':^26}  "
        f"{'bound':>8}  {'median det.':>12}"
    )
    head2 = (
        f"{'interval':>9}  {'mode':<8}  {'runs':>4}  {'min':>8}{'median':>9}{'max':>9}  "
        f"{'min':>8}{'median':>9}{'max':>9}  {'(ms)':>8}  {'- bound (ms)':>12}"
    )
    lines = [head1, head2, "-" * len(head2)]
    for row in rows:
        b, d = row["blackout"], row["detection"]
        lines.append(
            f"{row['interval']:>8g}s  {row['mode']:<8}  {row['runs']:>4}  "
            f"{_ms(b['min'])} {_ms(b['median'])} {_ms(b['max'])}  "
            f"{_ms(d['min'])} {_ms(d['median'])} {_ms(d['max'])}  "
            f"{_ms(row['bound'])}  {_ms(row['median_detection_minus_bound'], 12)}"
        )
        if row["failed"]:
            lines.append(f"{'':<9}  {'':<8}  ({row['failed']} of {row['runs']} runs failed)")
    return "\n".join(lines)


def _finite(x: Any) -> Any:
    """NaN and infinities have no JSON spelling: null instead."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _intervals(text: str) -> list[float]:
    return [interval_arg(part) for part in text.split(",")]


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("hard", "graceful")]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"modes must be hard and/or graceful, got {text!r}")
    return modes


def _table(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object of virtual_router keys")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="tools/failover_bench.py",
        description="Measure VRRP failover (client blackout and detection) in namespaces.",
    )
    ap.add_argument("--runs", type=int, default=5, help="failovers per interval and mode")
    ap.add_argument(
        "--intervals",
        type=_intervals,
        default=[1.0, 0.1, 0.01],
        help="advertisement intervals in seconds, comma-separated (default 1,0.1,0.01)",
    )
    ap.add_argument(
        "--modes", type=_modes, default=["hard", "graceful"], help="hard,graceful (default both)"
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--keep-logs", action="store_true", help="keep vrrpd configs and logs")
    ap.add_argument(
        "--timeline",
        action="store_true",
        help="draw each run's timeline in the terminal (stderr, with the progress lines)",
    )
    ap.add_argument(
        "--png",
        metavar="FILE",
        help="draw each run's timeline into a PNG: FILE for a single run, else "
        "FILE-{interval}s-{mode}-{run}.png (needs matplotlib: pip install 'vrrpd[plot]')",
    )
    ap.add_argument(
        "--backup-keys",
        type=_table,
        default={},
        metavar="JSON",
        help='extra keys for r2 (the backup that takes over), e.g. \'{"takeover_gate": '
        '["/bin/true"], "gate_interval": 0.1}\' or \'{"before_master": ["/bin/true"]}\'',
    )
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs: must be at least 1")
    if args.png:
        try:
            require_matplotlib()
        except PlotUnavailable as e:
            say(str(e))
            return 2
    single = args.runs * len(args.intervals) * len(args.modes) == 1
    if os.geteuid() != 0:
        say("failover_bench: needs root (network namespaces, raw sockets)")
        return 1

    runs: list[Run] = []
    interrupted = False
    try:
        for interval in args.intervals:
            say(f"interval {interval:g} s: building the lab and converging ...")
            draw = bool(args.timeline or args.png)
            bench: Bench | None = Bench(interval, args.keep_logs, draw, args.backup_keys)
            try:
                for mode in args.modes:
                    for i in range(1, args.runs + 1):
                        if bench is None:
                            bench = Bench(interval, args.keep_logs, draw, args.backup_keys)
                        try:
                            r = bench.run_once(mode, i)
                        except Exception as e:
                            r = Run(interval=interval, mode=mode, run=i, error=str(e))
                            say(f"  {mode} run {i}: FAILED: {e}")
                            for name, d in (("r1", bench.d1), ("r2", bench.d2)):
                                say(f"  --- {name} log tail:")
                                for line in d.log_text().splitlines()[-10:]:
                                    say(f"      {line}")
                            bench.close()
                            bench = None  # rebuild for the next run
                        else:
                            say(
                                f"  {mode:<8} run {i}: blackout {_ms(r.blackout).strip()} ms, "
                                f"detection {_ms(r.detection).strip()} ms, "
                                f"bound {_ms(r.bound).strip()} ms"
                                + (f"  ({r.error})" if r.error else "")
                            )
                            tl = bench.last_timeline
                            if args.timeline and tl is not None:
                                say(render_text(tl))
                            if args.png and tl is not None:
                                label = f"{interval:g}s-{mode}-{i}"
                                path = Path(args.png) if single else png_path(args.png, label)
                                render_png(tl, path)
                                say(f"  timeline written to {path}")
                        runs.append(r)
            finally:
                if bench is not None:
                    if args.keep_logs:
                        say(f"  logs kept in {bench.lab.workdir}")
                    bench.close()
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: cleaned up; results so far:")

    rows = summarize(runs)
    if args.json:
        doc = {"summary": rows, "runs": [asdict(r) for r in runs]}
        print(json.dumps(_finite(doc), indent=1))
    else:
        print(table(rows))
    if interrupted:
        return 130
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
