"""The failover timeline from real runs: real vrrpd processes, the client's probe and capture,
the daemons' logs (`Failover.timeline`), and its use by the demo and tools/failover_bench.py.

The order of what happened is checked, not tight figures (a loaded 2-core machine): the old
master's adverts stop at the fault, the new master's transition comes after it, then its GARP
and its adverts, and the client gets answers again only after the transition.
"""

from __future__ import annotations

import re
from pathlib import Path

from netns_lab.failover import Failover, converge, virtual_router
from netns_lab.lab import Lab, Node, Vrrpd
from netns_lab.timeline import Timeline, render_png, render_text
from tests.helpers import need_root
from tools import failover_bench

INTERVAL = 0.1
PNG = b"\x89PNG\r\n\x1a\n"
LOG_TICK = 0.001  # vrrpd's log times are whole milliseconds, rounded down
# both failovers: r1 advertises and dies or stops, r2 takes over and announces itself
LANES = ["client probe", "r1 adverts", "r1 state", "r2 adverts", "r2 state", "r2 GARP"]


def _pair(lab: Lab) -> tuple[Node, Node, Node, Vrrpd, Vrrpd]:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d2 = r2.start_vrrpd([virtual_router(100, INTERVAL)])
    d1 = r1.start_vrrpd([virtual_router(200, INTERVAL)])
    converge({"r1": d1, "r2": d2}, {"r1": r1, "r2": r2}, "r1", INTERVAL)
    return r1, r2, c1, d1, d2


def _failover(lab: Lab, hard: bool) -> tuple[Timeline, Failover]:
    r1, r2, c1, d1, d2 = _pair(lab)
    with Failover(
        c1, old=r1, old_daemon=d1, new=r2, new_daemon=d2, interval=INTERVAL, hard=hard,
        timeline=True,
    ) as f:  # fmt: skip
        f.fail()
        f.wait_takeover()
        f.stop()
    return f.timeline({"r1": d1, "r2": d2}), f


def _check_takeover(tl: Timeline, bound: float) -> float:
    """The new master r2: BACKUP, then MASTER after the fault; its GARP and adverts after its
    transition; the blackout starts at the fault and ends after the transition. Returns the
    transition's time."""
    r2 = tl.lane("r2 state")
    assert r2.initial == "BACKUP", r2
    assert [m.text for m in r2.marks] == ["MASTER"], r2.marks
    t_master = r2.marks[0].t
    assert 0 < t_master < bound + 2.0, f"r2 MASTER at {t_master:.3f} s, bound {bound:.3f} s"
    garps = tl.lane("r2 GARP").times()
    assert garps and garps[0] >= t_master - LOG_TICK, (t_master, garps)
    adverts = tl.lane("r2 adverts").times("advert")
    assert adverts and adverts[0] >= t_master - LOG_TICK, (t_master, adverts)
    assert all(t > 0 for t in adverts), adverts
    assert tl.blackout is not None, "the client lost no probe"
    b0, b1 = tl.blackout
    assert b1 is not None, "the client got no answer after the failover"
    assert -0.02 <= b0 < t_master < b1, (b0, t_master, b1)
    assert tl.start < b0 and b1 < tl.end  # the picture shows both sides of the blackout
    probe = tl.lane("client probe")
    assert all(m.kind == "lost" for m in probe.marks if b0 <= m.t < b1)
    assert all(m.kind == "reply" for m in probe.marks if m.t < b0)
    return t_master


def test_hard_failover_timeline(lab: Lab, tmp_path: Path) -> None:
    need_root("timeline tests")
    tl, f = _failover(lab, hard=True)
    assert [lane.name for lane in tl.lanes] == LANES
    # r1: adverts before the fault only, the last about an interval or less before it
    r1_adverts = tl.lane("r1 adverts").times()
    assert r1_adverts and all(t < 0.005 for t in r1_adverts), r1_adverts
    assert r1_adverts[-1] > -INTERVAL - 0.05, r1_adverts
    # r1: MASTER until killed (perhaps FAULT first: it may see its link go down)
    r1 = tl.lane("r1 state")
    assert r1.initial == "MASTER"
    assert r1.marks[-1].text == "" and r1.marks[-1].t >= 0, r1.marks
    assert {m.text for m in r1.marks[:-1]} <= {"FAULT"}, r1.marks
    t_master = _check_takeover(tl, f.bound)
    assert r1_adverts[-1] < t_master
    # the pictures
    text = render_text(tl)
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    assert "X" in rows["r1 state"] and "G" in rows["r2 GARP"] and "M" in rows["r2 state"]
    assert "x" in rows["client probe"] and "▓" in rows["blackout"]
    png = tmp_path / "hard.png"
    render_png(tl, png)
    assert png.read_bytes().startswith(PNG) and 5_000 < png.stat().st_size < 150_000


def test_graceful_failover_timeline(lab: Lab) -> None:
    need_root("timeline tests")
    tl, f = _failover(lab, hard=False)
    assert [lane.name for lane in tl.lanes] == LANES
    # r1 says goodbye: INITIALIZE after SIGTERM, its last advert priority 0
    r1 = tl.lane("r1 state")
    assert r1.initial == "MASTER"
    assert [m.text for m in r1.marks] == ["INITIALIZE"] and r1.marks[0].t >= -LOG_TICK
    last = tl.lane("r1 adverts").marks[-1]
    assert last.kind == "priority0" and last.t >= 0, tl.lane("r1 adverts").marks
    t_master = _check_takeover(tl, f.bound)
    assert last.t < t_master
    assert "0" in next(r for r in render_text(tl).splitlines() if r.startswith("r1 adverts"))


def test_demo_draws_its_failovers(tmp_path: Path) -> None:
    """`python -m netns_lab demo --png`: the measured figures as before, then each timeline."""
    need_root("the demo")
    from netns_lab.demo import run_demo

    lines: list[str] = []
    assert run_demo(interval=INTERVAL, say=lines.append, png=str(tmp_path / "demo.png")) == 0
    text = "\n".join(lines)
    assert text.count("blackout seen by the client:") == 2
    assert "Summary" in text
    assert "Hard failure of r1, r2 takes over" in text
    assert "Graceful shutdown of r2, r3 takes over" in text
    # the timelines' rows (the label column is padded: "client probe   ───xxx")
    assert len(re.findall(r"^  client probe {3,}─", text, re.M)) == 2
    assert len(re.findall(r"^  blackout {3,} *▓", text, re.M)) == 2
    for name in ("demo-hard.png", "demo-graceful.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG), name


def test_failover_bench_timeline_and_png(tmp_path: Path, capsys: object) -> None:
    need_root("tools/failover_bench.py")
    png = tmp_path / "bench.png"
    argv = ["--runs", "1", "--intervals", "0.1", "--modes", "hard", "--timeline", "--png", str(png)]
    assert failover_bench.main(argv) == 0
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "Hard failover r1 -> r2, advert interval 0.1 s, run 1" in err
    assert "r2 GARP" in err and f"timeline written to {png}" in err
    assert png.read_bytes().startswith(PNG)  # one run: the file itself
