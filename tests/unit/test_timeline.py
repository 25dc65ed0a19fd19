"""netns_lab.timeline: the failover timeline's data model, its terminal and PNG renderers, and
the parsers that feed it (probe results, vrrpd log lines). Pure: synthetic events, no lab."""

from __future__ import annotations

import datetime
import struct
import sys
import zlib
from pathlib import Path

import pytest

from netns_lab.timeline import (
    PLOT_MISSING,
    PlotUnavailable,
    Timeline,
    build,
    log_transitions,
    nice_step,
    outage,
    probe_sends,
    render_png,
    render_text,
    require_matplotlib,
)

F = 1000.0  # the fault, on an arbitrary clock
STEP = 0.005


def hard_failover(blackout: float = 0.355, interval: float = 0.1) -> Timeline:
    """r1 (master) killed at F; r2 takes over `blackout` later; r3 stays backup."""
    probes = [
        (t, not F + 0.002 <= t < F + blackout)
        for t in (F - 0.3 + k * STEP for k in range(int((blackout + 0.6) / STEP)))
    ]
    adverts = [(F - 0.25 + k * interval, "r1", 200) for k in range(3)]
    adverts += [(F + blackout - 0.004 + k * interval, "r2", 100) for k in range(3)]
    transitions = [
        (F - 9, "r1", "MASTER"),
        (F - 9, "r2", "BACKUP"),
        (F - 9, "r3", "BACKUP"),
        (F, "r1", ""),
        (F + blackout - 0.005, "r2", "MASTER"),
    ]
    garps = [(F + blackout - 0.0045, "r2"), (F + blackout - 0.003, "r2")]
    return build(
        fault=F,
        fault_label="r1 link down + SIGKILL",
        routers=["r1", "r2", "r3"],
        probes=probes,
        adverts=adverts,
        transitions=transitions,
        garps=garps,
        interval=interval,
        title="hard",
    )


# --- the model ------------------------------------------------------------------------------


def test_lanes_in_order_with_their_marks() -> None:
    tl = hard_failover()
    assert [lane.name for lane in tl.lanes] == [
        "client probe",
        "r1 adverts",
        "r1 state",
        "r2 adverts",
        "r2 state",
        "r2 GARP",
        "r3 state",  # r3 sent nothing: no adverts or GARP lane, but its state
    ]
    probe = tl.lane("client probe")
    assert set(probe.kinds()) == {"reply", "lost"}
    assert all(-0.2 < t < 0 for t in tl.lane("r1 adverts").times())  # the one before the fault
    r1 = tl.lane("r1 state")
    assert r1.initial == "MASTER" and [(m.t, m.text) for m in r1.marks] == [(0.0, "")]
    r2 = tl.lane("r2 state")
    assert r2.initial == "BACKUP"
    assert [m.text for m in r2.marks] == ["MASTER"]
    assert r2.marks[0].t == pytest.approx(0.35)
    assert tl.lane("r3 state").initial == "BACKUP" and not tl.lane("r3 state").marks
    assert tl.lane("r2 GARP").times() == pytest.approx([0.3505, 0.352])
    with pytest.raises(KeyError, match="no lane 'r9 state'"):
        tl.lane("r9 state")


def test_window_is_a_margin_around_the_fault_and_the_recovery() -> None:
    tl = hard_failover(interval=0.1)
    assert tl.start == pytest.approx(-0.15)  # 1.5 intervals before the fault
    assert tl.end == pytest.approx(0.355 + 0.15, abs=STEP)  # ... after the recovery
    assert all(tl.start <= m.t <= tl.end for lane in tl.lanes for m in lane.marks)


def test_window_is_cut_to_the_time_the_probe_ran() -> None:
    probes = [(F - 0.01, True), (F + 0.02, False), (F + 0.05, True)]
    tl = build(fault=F, fault_label="x", routers=["r1"], probes=probes, interval=1.0)
    assert (tl.start, tl.end) == pytest.approx((-0.01, 0.05))


def test_blackout_from_the_first_lost_probe_to_the_first_answered_after_it() -> None:
    tl = hard_failover(blackout=0.355)
    b0, b1 = tl.blackout or (None, None)
    assert b0 is not None and b1 is not None
    assert 0.002 <= b0 < 0.002 + STEP
    assert 0.355 <= b1 < 0.355 + STEP
    assert tl.blackout_ms == pytest.approx((b1 - b0) * 1000)


def test_outage_cases() -> None:
    # a reply in flight at the fault may be lost: the outage starts there, not later
    assert outage([(1.0, True), (2.0, False), (3.0, False), (4.0, True)], 2.5) == (2.0, 4.0)
    assert outage([(1.0, True), (2.0, True)], 1.5) is None  # nothing lost
    assert outage([(1.0, True), (2.0, False)], 1.5) == (2.0, None)  # never over
    # a loss long before the fault, answered since, is not this outage
    assert outage([(0.5, False), (1.0, True), (3.0, False), (4.0, True)], 2.0) == (3.0, 4.0)


def test_probe_sends_interpolates_the_lost_ones() -> None:
    result = {
        "sent": 6,
        "interval": 0.005,
        "start": 10.0,
        "replies": [[1, 10.005, 10.006], [4, 10.02, 10.021], [1, 10.005, 10.007]],
    }
    sends = probe_sends(result)
    assert [ok for _, ok in sends] == [False, True, False, False, True, False]
    assert [t for t, _ in sends] == pytest.approx([10.0, 10.005, 10.01, 10.015, 10.02, 10.025])


def test_log_transitions_parses_vrrpd_lines() -> None:
    text = (
        "--- netns_lab: starting vrrpd in vl1r1 ---\n"
        "2026-12-02T13:53:06.920 vrrpd[29346] INFO gw: state INITIALIZE -> BACKUP "
        "reason=startup vrid=51 iface=eth0 family=ipv4 priority=200\n"
        "2026-12-02T13:53:06.921 vrrpd[29346] INFO vrrpd running: 1 virtual router(s)\n"
        "2026-12-02T13:53:07.238 vrrpd[29346] INFO other: state BACKUP -> MASTER "
        "reason=master-down vrid=52 iface=eth0 family=ipv4 priority=200\n"
        "2026-12-02T13:53:09.020 vrrpd[29417] INFO gw: state MASTER -> INITIALIZE "
        "reason=shutdown vrid=51 iface=eth0 family=ipv4 priority=200\n"
    )
    got = log_transitions(text, "gw")
    assert [(name, old, new) for _, name, old, new in got] == [
        ("gw", "INITIALIZE", "BACKUP"),
        ("gw", "MASTER", "INITIALIZE"),
    ]
    local = datetime.datetime(2026, 12, 2, 13, 53, 6, 920000).timestamp()
    assert got[0][0] == pytest.approx(local)
    assert got[1][0] - got[0][0] == pytest.approx(2.1)
    assert len(log_transitions(text)) == 3


# --- the terminal ---------------------------------------------------------------------------


def rows_of(text: str) -> dict[str, str]:
    """Lane name -> its cells (the part after the label column)."""
    lines = text.splitlines()
    axis = next(line for line in lines if "┼" in line or "▼" in line)
    label_w = len(axis) - len(axis.lstrip())
    return {line[:label_w].strip(): line[label_w:] for line in lines}


def test_render_text_rows_scale_and_shade() -> None:
    tl = hard_failover()
    text = render_text(tl, width=100)
    lines = text.splitlines()
    assert lines[0] == "hard"
    assert all(len(line) <= 100 for line in lines)
    rows = rows_of(text)
    cols = 100 - (len(lines[2]) - len(lines[2].lstrip()))
    span = tl.end - tl.start

    def col(t: float) -> int:
        return int((t - tl.start) / span * cols)

    fault_col = lines[2].index("▼") - (100 - cols)
    assert fault_col == col(0.0)
    probe = rows["client probe"]
    assert set(probe[: fault_col - 1]) == {"─"}  # answered before the fault
    assert set(probe[fault_col + 2 : col(0.35)]) == {"x"}  # lost during the blackout
    assert probe.rstrip()[-1] == "─"  # answered again
    assert rows["r1 state"][fault_col] == "X"  # killed at the fault
    assert set(rows["r1 state"][:fault_col]) == {"M"}
    assert rows["r1 state"][fault_col + 1 :].strip(" ░") == ""
    r2 = rows["r2 state"]
    assert set(r2[: col(0.345)]) == {"B"} and set(r2[col(0.36) :]) == {"M"}
    assert set(rows["r2 GARP"].strip(" ░")) == {"G"}
    assert rows["r2 GARP"].index("G") == col(0.3505)
    assert rows["r2 adverts"].count("|") == 2  # two of the three fall inside the window
    assert rows["r3 state"].strip() == "B" * cols
    blackout = rows["blackout"]
    b0, b1 = tl.blackout or (0.0, 0.0)
    assert blackout.index("▓") == col(b0) and blackout.rstrip().endswith("▓")
    assert len(blackout.rstrip()) - 1 == col(b1 or 0.0)
    # the blackout's columns are shaded where a lane is empty
    assert "░" in rows["r1 adverts"][col(b0) : col(b1 or 0.0)]
    assert "░" not in rows["r1 adverts"][col(b1 or 0.0) + 1 :]
    assert f"blackout: {tl.blackout_ms:.1f} ms" in " ".join(lines)


def test_render_text_axis_ticks_in_ms() -> None:
    tl = build(
        fault=F,
        fault_label="f",
        routers=["r1"],
        probes=[(F - 1.0, True), (F + 3.0, True)],
        margin=5.0,  # the window is then the probe's run
    )
    assert (tl.start, tl.end) == (-1.0, 3.0)
    text = render_text(tl, width=90)
    labels = text.splitlines()[0]
    assert labels.startswith("ms from the fault")
    assert labels.split()[4:] == ["-1000", "0", "1000", "2000", "3000"]
    axis = text.splitlines()[1]
    assert axis.count("┼") == 4 and axis.count("▼") == 1
    assert labels.index(" 0 ") + 1 == axis.index("▼")  # the label sits on its tick


def test_render_text_ascii_only() -> None:
    text = render_text(hard_failover(), width=80, ascii_only=True)
    assert text.isascii()
    assert "v" in text.splitlines()[2] and "#" in text


def test_nice_step() -> None:
    assert nice_step(655) == 200
    assert nice_step(4000) == 1000
    assert nice_step(60) == 10
    assert nice_step(6) == 1


def test_empty_and_degenerate_timelines_say_so() -> None:
    nothing = build(fault=F, fault_label="f", routers=[])
    assert nothing.empty
    text = render_text(nothing)
    assert "nothing to draw" in text and "\n" not in text
    # probes that all ran before the window: the window is empty
    early = build(fault=F, fault_label="f", routers=["r1"], probes=[(F - 50, True)])
    assert early.empty and "nothing to draw" in render_text(early)
    zero = Timeline("t", "f", 0.0, 0.0, (), None)
    assert render_text(zero).startswith("t: nothing to draw")
    with pytest.raises(ValueError, match="width 20 too small"):
        render_text(hard_failover(), width=20)


def test_no_loss_no_blackout() -> None:
    tl = build(
        fault=F,
        fault_label="f",
        routers=["r1"],
        probes=[(F - 0.1 + k * STEP, True) for k in range(60)],
        transitions=[(F - 5, "r1", "MASTER")],
        interval=0.1,
    )
    assert tl.blackout is None and tl.blackout_ms is None
    text = render_text(tl)
    assert "blackout: no probe lost" in " ".join(text.splitlines())
    assert "▓" not in rows_of(text)["blackout"]


# --- PNG ------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29]), "IHDR checksum"
    assert data[-8:-4] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_render_png_is_a_png_of_plausible_size(tmp_path: Path) -> None:
    short, long_ = tmp_path / "short.png", tmp_path / "long.png"
    render_png(hard_failover(blackout=0.355), short)
    render_png(hard_failover(blackout=0.6), long_)
    a, b = short.read_bytes(), long_.read_bytes()
    width, height = png_size(a)
    assert 800 <= width <= 1100 and 300 <= height <= 800, (width, height)
    assert 5_000 < len(a) < 150_000
    assert a != b  # the picture follows the blackout


def test_render_png_of_an_empty_timeline(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    render_png(build(fault=F, fault_label="f", routers=[]), path)
    png_size(path.read_bytes())


def test_without_matplotlib_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(PlotUnavailable) as e:
        require_matplotlib()
    assert str(e.value) == PLOT_MISSING == "--png needs matplotlib: pip install 'vrrpd[plot]'"
    with pytest.raises(PlotUnavailable):
        render_png(hard_failover(), "/nonexistent/never-written.png")
    assert "client probe" in render_text(hard_failover())  # the terminal needs nothing


def test_tools_refuse_png_without_matplotlib_before_any_lab(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netns_lab.demo import run_demo
    from tools import failover_bench

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert failover_bench.main(["--runs", "1", "--png", "x.png"]) == 2
    assert capsys.readouterr().err == PLOT_MISSING + "\n"
    said: list[str] = []
    assert run_demo(png="x.png", say=said.append) == 2
    assert said == [PLOT_MISSING]  # no lab was built: nothing else said
