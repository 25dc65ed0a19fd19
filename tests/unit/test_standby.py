"""The standby lab's pure parts: the verdicts on the traffic client's result
(`netns_lab.streams`), the configuration drawn from examples/conntrackd/, the table and the
timeline lanes (`netns_lab.standby`). The lab itself: tests/netns/test_standby.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netns_lab.standby import (
    EXAMPLES,
    Run,
    conntrackd_conf,
    grades_arg,
    table,
    vrrpd_routers,
    with_traffic,
)
from netns_lab.streams import RequestSummary, StreamVerdict, request_summary, stream_verdicts
from netns_lab.timeline import build

FAULT = 100.0


def _stream(received: int, last_rx: float, gaps: list[list[float]], error: str | None = None):
    return {"sent": received, "received": received, "error": error, "gaps": gaps,
            "last_rx": last_rx}  # fmt: skip


def test_a_stream_that_resumed_survived_and_its_stall_is_the_gap_over_the_fault() -> None:
    result = {"end": 102.0, "streams": [_stream(20000, 101.999, [[99.0, 99.1], [99.99, 100.4]])]}
    [v] = stream_verdicts(result, FAULT, [10000], need=6400)
    assert v.survived and v.error is None and v.bytes_after == 10000
    assert v.stall == pytest.approx(0.41)  # the gap before the fault is not counted


def test_a_stream_silent_since_the_fault_did_not_survive() -> None:
    result = {"end": 103.0, "streams": [_stream(10100, 99.998, [])]}
    [v] = stream_verdicts(result, FAULT, [10000], need=6400)
    assert not v.survived and v.stall == pytest.approx(3.002)


def test_a_reset_stream_or_too_few_bytes_did_not_survive() -> None:
    result = {
        "end": 102.0,
        "streams": [
            _stream(30000, 101.99, [], error="ECONNRESET reset"),
            _stream(10100, 101.99, []),
        ],
    }
    a, b = stream_verdicts(result, FAULT, [10000, 10000], need=6400)
    assert not a.survived and a.error == "ECONNRESET reset"
    assert not b.survived and b.bytes_after == 100


def test_requests_count_the_failures_after_the_fault_and_when_the_service_came_back() -> None:
    reqs = [
        [99.5, 99.51, True, ""],  # before: not counted
        [99.99, 100.99, False, "timeout"],  # in flight at the fault
        [100.1, 101.1, False, "timeout"],
        [100.3, 100.31, True, ""],
        [100.4, 100.41, True, ""],
    ]
    assert request_summary({"requests": reqs}, FAULT) == RequestSummary(4, 2, pytest.approx(0.3))
    never = [[100.1, 100.2, False, "ECONNREFUSED"]]
    assert request_summary({"requests": never}, FAULT) == RequestSummary(1, 1, None)
    assert request_summary({"requests": reqs[:1]}, FAULT) == RequestSummary(0, 0, 0.0)


def test_the_lab_runs_the_example_files(tmp_path: Path) -> None:
    example = (EXAMPLES / "conntrackd.conf").read_text()
    g2 = conntrackd_conf(example, tmp_path, "g2")
    assert f"LockFile {tmp_path}/g2-conntrackd.lock" in g2
    assert f"Path {tmp_path}/g2-ctd.ctl" in g2 and f"LogFile {tmp_path}/g2-conntrackd.log" in g2
    conf, script = tmp_path / "c.conf", tmp_path / "pb.sh"
    extra = {"gate": tmp_path / "gate", "start": tmp_path / "start"}
    routers, groups = vrrpd_routers("hot", "g2", conf, script, extra, 0.1)
    assert [r["name"] for r in routers] == ["inside", "outside"]
    assert all(r["before_master"] == [str(script), "commit", str(conf)] for r in routers)
    assert all(r["priority"] == 100 and r["advert_interval"] == 0.1 for r in routers)
    assert groups[0]["on_backup"] == [str(script), "backup", str(conf)]
    routers, groups = vrrpd_routers("warm", "g2", conf, script, extra, 0.1)
    assert all("before_master" not in r for r in routers)
    assert all(r["takeover_gate"] == [str(extra["gate"])] for r in routers)
    assert "on_master" not in groups[0]
    _, groups = vrrpd_routers("cold", "g2", conf, script, extra, 0.1)
    assert groups[0]["on_master"] == [str(extra["start"])]


def test_grades_are_checked_in_one_line() -> None:
    assert grades_arg("hot, none") == ["hot", "none"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown grade tepid: choose from hot"):
        grades_arg("hot,tepid")


def _run(grade: str, kept: int, back: float | None) -> Run:
    streams = tuple(
        StreamVerdict(i < kept, 9000 if i < kept else 0, 0.4 if i < kept else 3.0, None)
        for i in range(5)
    )
    return Run(grade, 0.35, 0.34, streams, RequestSummary(100, 35, back), 0, 0, (20.0, 25.0))


def test_the_table_has_a_row_per_grade() -> None:
    text = table(
        {"hot": [_run("hot", 5, 0.35), _run("hot", 5, 0.36)], "none": [_run("none", 0, None)]}, 3
    )
    rows = text.splitlines()
    assert len(rows) == 4
    assert "| hot |" in rows[2] and "| 10 of 10 |" in rows[2] and "355 (350-360)" in rows[2]
    assert "| 0 of 5 |" in rows[3] and "never within 3 s" in rows[3]


def test_the_timeline_gets_a_lane_per_connection_and_one_for_requests() -> None:
    probes = [(FAULT - 0.2 + i * 0.01, not (FAULT < FAULT - 0.2 + i * 0.01 < FAULT + 0.3))
              for i in range(80)]  # fmt: skip
    tl = build(fault=FAULT, fault_label="cut", routers=["g1", "g2"], probes=probes,
               transitions=[(FAULT + 0.3, "g2", "MASTER")], interval=0.1)  # fmt: skip
    result = {
        "end": FAULT + 0.6,
        "chunk_every": 0.005,
        "streams": [_stream(1, FAULT + 0.6, [[FAULT, FAULT + 0.3]]), _stream(1, FAULT, [])],
        "requests": [[FAULT - 0.1, FAULT - 0.09, True, ""], [FAULT + 0.1, FAULT + 1.1, False, "t"]],
    }
    out = with_traffic(tl, FAULT, result)
    names = [lane.name for lane in out.lanes]
    assert names[:4] == ["ping server", "requests", "conn 1", "conn 2"]
    conn1, conn2 = out.lane("conn 1"), out.lane("conn 2")
    assert all(m.kind == "lost" for m in conn1.marks if 0.01 < m.t < 0.29)
    assert all(m.kind == "reply" for m in conn1.marks if m.t > 0.31)
    assert all(m.kind == "lost" for m in conn2.marks if m.t > 0.01)  # never came back
    assert out.lane("requests").kinds() == ["reply", "lost"]
