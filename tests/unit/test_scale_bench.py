"""tools/scale_bench.py: its pure parts (configurations, the pcap reader, what the adverts
say, the tables). The benchmark itself needs root and runs by hand."""

from __future__ import annotations

import math
import socket
import struct
from pathlib import Path

import pytest

from netns_lab.craft import checksum_of
from netns_lab.keepalived import render_config
from tools.scale_bench import (
    Case,
    CaseResult,
    Converge,
    FloodStep,
    PcapTail,
    StartupSample,
    Window,
    case_table,
    flood_verdict,
    junk_packets,
    keepalived_instances,
    parse_cases,
    parse_rates,
    parse_raw_drops,
    parse_records,
    startup_summary,
    startup_table,
    vip_of,
    vrrpd_tables,
)
from vrrpd.config import parse

R1, R2 = "192.0.2.1", "192.0.2.2"


# --- configuration ----------------------------------------------------------------------------


def test_vip_of_uses_documentation_addresses() -> None:
    assert vip_of(1) == "198.51.100.1/24"
    assert vip_of(254) == "198.51.100.254/24"
    assert vip_of(255) == "203.0.113.1/24"
    assert len({vip_of(v) for v in range(1, 256)}) == 255
    with pytest.raises(ValueError):
        vip_of(0)


def test_vrrpd_tables_are_a_valid_configuration() -> None:
    tables = vrrpd_tables(255, 150, 0.01)
    assert [t["vrid"] for t in tables] == list(range(1, 256))
    assert len({t["name"] for t in tables}) == 255
    assert tables[0]["name"] == "vr1" and tables[0]["virtual_ips"] == ["198.51.100.1/24"]
    assert all(t["priority"] == 150 and t["advert_interval"] == 0.01 for t in tables)
    owner = vrrpd_tables(3, 255, 1.0, owner_vip="192.0.2.1/24")
    assert owner[0]["virtual_ips"] == ["192.0.2.1/24"]
    assert owner[1]["virtual_ips"] == ["198.51.100.2/24"]


def test_vrrpd_accepts_255_tables() -> None:
    cfg = parse({"virtual_router": vrrpd_tables(255, 100, 0.01)}, "scale.toml")
    assert len(cfg.virtual_routers) == 255
    owner = parse({"virtual_router": vrrpd_tables(255, 255, 1.0, "192.0.2.1/24")}, "o.toml")
    assert len(owner.virtual_routers) == 255


def test_keepalived_instances_render() -> None:
    inst = keepalived_instances(255, 100, 0.01)
    assert [i["name"] for i in inst[:2]] == ["VI_1", "VI_2"]
    assert all("state" not in i for i in inst)
    text = render_config(inst, {"vrrp_version": 3})
    assert text.count("vrrp_instance ") == 255
    assert "virtual_router_id 255" in text and "203.0.113.1/24" in text
    assert "advert_int 0.01" in text
    owners = keepalived_instances(2, 255, 1.0)
    assert all(i["state"] == "MASTER" for i in owners)


def test_parse_cases() -> None:
    assert parse_cases("255x0.1, 200x0.01") == [Case(255, 0.1), Case(200, 0.01)]
    assert Case(200, 0.01).expected_rate == pytest.approx(20000)
    assert Case(50, 1.0).label == "50x1"
    for bad in ("0x1", "256x1", "10x0.005", "10", "x1", ""):
        with pytest.raises(ValueError):
            parse_cases(bad)


def test_parse_rates() -> None:
    assert parse_rates("10k,20000, 3.5k") == [10000.0, 20000.0, 3500.0]
    for bad in ("0", "-5", "ten", ""):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_junk_packets_are_invalid_for_the_configured_vrid() -> None:
    packets = junk_packets(1, 200, 10)
    assert len(packets) == 40
    for p in packets:
        assert p[9] == 112 and p[12:16] == socket.inet_aton("192.0.2.100")
        assert p[16:20] == socket.inet_aton("224.0.0.18")
        ttl, msg = p[8], p[(p[0] & 0x0F) * 4 :]
        if ttl == 255 and len(msg) >= 8 and msg[0] == 0x31 and msg[1] == 1:
            # a v3 advert for VRID 1 with TTL 255: its checksum must be wrong in either form
            (field,) = struct.unpack("!H", msg[6:8])
            for form in ("rfc5798", "rfc9568"):
                assert field != checksum_of(msg, "192.0.2.100", "224.0.0.18", form)
    kinds = {
        "ttl": sum(1 for p in packets if p[8] == 64),
        "vrid 200": sum(1 for p in packets if len(p) > 21 and p[20] == 0x31 and p[21] == 200),
        "version 2": sum(1 for p in packets if len(p) > 20 and p[20] == 0x21 and p[21] == 1),
    }
    assert kinds == {"ttl": 8, "vrid 200": 8, "version 2": 8}
    assert len(junk_packets(1, None, 10)) == 32
    only = junk_packets(1, 200, 10, kinds=["checksum"])
    assert len(only) == 8 and all(p[8] == 255 and p[20] == 0x31 for p in only)
    with pytest.raises(ValueError):
        junk_packets(1, 200, 10, kinds=["nonsense"])
    with pytest.raises(ValueError):
        junk_packets(1, None, 10, kinds=["vrid"])


# --- the pcap reader --------------------------------------------------------------------------


def _frame(src: str, vrid: int, prio: int, extra: int = 0) -> bytes:
    eth = b"\x01\x00\x5e\x00\x00\x12" + b"\x02" * 6 + b"\x08\x00"
    ip = bytes([0x45, 0xC0, 0, 32, 0, 0, 0, 0, 255, 112, 0, 0])
    ip += socket.inet_aton(src) + socket.inet_aton("224.0.0.18")
    vrrp = bytes([0x31, vrid, prio, 1, 0, 100, 0, 0]) + socket.inet_aton("198.51.100.1")
    return eth + ip + vrrp + b"\x00" * extra


def _pcap(frames: list[tuple[float, bytes]], snaplen: int = 64) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    for t, body in frames:
        cut = body[:snaplen]
        sec = int(t)
        out += struct.pack("<IIII", sec, round((t - sec) * 1e6), len(cut), len(body)) + cut
    return out


def test_parse_records_mixed_sizes_and_other_frames() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    frames = [
        (100.0, _frame(R1, 1, 150)),
        (100.5, _frame(R1, 2, 150)),
        (101.0, _frame(R2, 3, 100, extra=8)),  # a longer frame (two addresses)
        (101.25, arp),
        (102.0, _frame(R1, 4, 0)),
    ]
    data = _pcap(frames)
    got, used = parse_records(data, 24, struct.Struct("<IIII"), 1e-6)
    assert used == len(data)
    assert [(a[1], a[2], a[3]) for a in got] == [
        (R1, 1, 150),
        (R1, 2, 150),
        (R2, 3, 100),
        (R1, 4, 0),
    ]
    assert got[1][0] == pytest.approx(100.5)


def test_pcap_tail_reads_as_the_file_grows(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    whole = _pcap([(10.0 + i, _frame(R1, 1 + i % 3, 150)) for i in range(5)])
    tail = PcapTail(path)
    assert tail.read() == []  # no file yet
    path.write_bytes(whole[:20])  # a cut header
    assert tail.read() == []
    cut = 24 + 62 * 2 + 30  # two records and part of the third
    path.write_bytes(whole[:cut])
    first = tail.read()
    assert [a[0] for a in first] == [10.0, 11.0]
    path.write_bytes(whole)
    rest = tail.read()
    assert [a[0] for a in rest] == [12.0, 13.0, 14.0]
    assert tail.read() == []


def test_pcap_tail_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\x00" * 40)
    with pytest.raises(ValueError):
        PcapTail(path).read()


# --- what the adverts say ---------------------------------------------------------------------


def test_converge_waits_for_every_vrid_and_a_silent_backup() -> None:
    c = Converge(range(1, 3), R1, R2, since=10.0, hold=1.0)
    c.add([(9.0, R1, 1, 150), (10.2, R2, 1, 100), (10.3, R1, 1, 150)])
    assert c.at() is None  # VRID 2 not yet (the advert before `since` does not count)
    c.add([(10.4, R1, 2, 150), (10.6, R2, 2, 100), (11.0, R1, 1, 150)])
    assert c.at() is None  # r2 spoke at 10.6: held only 0.4 s
    c.add([(11.5, R1, 2, 0), (11.7, R1, 1, 150)])
    assert c.at() == pytest.approx(10.6)
    alone = Converge([1], R2, R1, since=0.0, hold=0.0)
    alone.add([(0.5, R2, 1, 100)])
    assert alone.at() == pytest.approx(0.5)


def test_window_gaps_counts_and_backup_adverts() -> None:
    w = Window(10.0, 12.0, [1, 2, 3], R1, R2)
    adverts = [
        (9.5, R1, 1, 150),
        (10.5, R1, 1, 150),  # gap 1.0 across the window's start
        (11.0, R1, 1, 150),
        (11.8, R1, 1, 150),
        (12.1, R1, 1, 150),
        (12.5, R1, 1, 150),  # after the window closed for VRID 1: ignored
        (10.2, R1, 2, 150),  # no advert before the window: counted from t0
        (11.9, R1, 2, 0),  # priority 0 is not an advert of a master
        (11.5, R2, 3, 100),  # a takeover
        (12.5, R2, 3, 100),  # after the window
    ]
    w.add(sorted(adverts))
    w.finish(13.0)
    assert w.count == {1: 3, 2: 1, 3: 0}
    assert w.adverts == 4 and w.rate == pytest.approx(2.0)
    assert w.gap[1] == pytest.approx(1.0)
    assert w.gap[2] == pytest.approx(13.0 - 10.2)  # open until the end
    assert w.gap[3] == pytest.approx(3.0)  # silent: the whole span
    assert w.worst() == (3, pytest.approx(3.0))
    assert w.silent_vrids() == [3]
    assert w.backup_adverts == 1 and w.backup_vrids == {3}


def test_window_backup_tail() -> None:
    w = Window(0.0, 1.0, [1], R1, R2, backup_until=1.5)
    w.add([(0.1, R1, 1, 150), (0.6, R1, 1, 150), (1.1, R1, 1, 150), (1.4, R2, 1, 100)])
    w.finish()
    assert w.backup_adverts == 1
    assert w.gap[1] == pytest.approx(0.5)


# --- tables -----------------------------------------------------------------------------------


def test_case_table_has_ratios_and_failures() -> None:
    v = CaseResult("255x0.1", 255, 0.1, "vrrpd", expected_rate=2550.0)
    v.converge_s, v.master_cpu_pct, v.backup_cpu_pct = 1.5, 30.0, 20.0
    v.tx_rate, v.max_gap_intervals, v.backup_adverts, v.backup_vrids = 2549.0, 1.2, 3, [7]
    k = CaseResult("255x0.1", 255, 0.1, "keepalived", expected_rate=2550.0)
    k.converge_s, k.master_cpu_pct, k.backup_cpu_pct = None, 10.0, 4.0
    k.tx_rate, k.max_gap_intervals = 2550.0, 1.0
    k.converge_note = "not converged in 120s"
    e = CaseResult("1x1", 1, 1.0, "vrrpd", error="RuntimeError: vrrpd in r1 exited")
    text = case_table([v, k, e])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["case", "impl", "conv"]
    row_v = next(line for line in lines if line.startswith("255x0.1  vrrpd"))
    assert "3.00x" in row_v and "5.00x" in row_v and "3 (1 VRIDs)" in row_v
    assert "2549 (2550)" in row_v
    row_k = next(line for line in lines if line.startswith("255x0.1  keepalived"))
    assert "FAIL" in row_k
    assert any("ERROR" in line and "exited" in line for line in lines)
    assert "255x0.1 keepalived: not converged in 120s" in text


def test_flood_verdict() -> None:
    ok = FloodStep("vrrpd", 10000, achieved=9990.0)
    bad = FloodStep("vrrpd", 20000, achieved=19000.0, failed=True, why="master gap 3.0")
    assert flood_verdict([ok]) == "held up to 10000/s (sent 9990/s)"
    assert flood_verdict([ok, bad]).startswith("fails at 20000/s (sent 19000/s): master gap")
    assert flood_verdict([]) == "no step run"


def test_startup_summary_and_table() -> None:
    samples = [
        StartupSample("vrrpd", 1, r, first_ms=100.0 + r, all_ms=100.0 + r, cpu_ms=90.0)
        for r in range(3)
    ] + [
        StartupSample("keepalived", 1, r, first_ms=10.0, all_ms=10.0, cpu_ms=9.0) for r in range(3)
    ]
    samples.append(StartupSample("vrrpd", 1, 9, error="TimeoutError"))
    samples.append(StartupSample("keepalived", 1, 9, first_ms=math.nan))
    summary = startup_summary(samples)
    by = {r["impl"]: r for r in summary}
    assert by["vrrpd"]["runs"] == 3
    assert by["vrrpd"]["first_ms"]["median"] == pytest.approx(101.0)
    assert by["keepalived"]["first_ms"] == {"median": 10.0, "min": 10.0, "max": 10.0}
    text = startup_table(summary)
    assert "10.10x/10.10x" in text


def test_parse_raw_drops() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode ref pointer drops\n"
        "  112: 00000000:0070 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
        "        0 1234 2 0000000000000000 17\n"
        "  112: 00000000:0070 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
        "        0 1235 2 0000000000000000 3\n"
        "  1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
        "        0 1236 2 0000000000000000 99\n"
    )
    assert parse_raw_drops(text) == 20
    assert parse_raw_drops(text, proto=1) == 99
    assert parse_raw_drops(text.splitlines()[0]) is None
