"""What vrrpd changed and must undo: the record (vrrpd.leftovers, pure), its file
(vrrpd.io.addrrecord: atomic, per control socket, corrupt taken as empty) and the undoing."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from ipaddress import ip_interface
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_layering import FORBIDDEN, loaded
from vrrpd import leftovers
from vrrpd.io import addrrecord, nft, sysctl
from vrrpd.io.netlink import Link, NetlinkFailure
from vrrpd.io.vmac import macvlan_name
from vrrpd.leftovers import EMPTY, MACVLAN_RE, Record, from_json, to_json, undo_plan

V4 = ip_interface("192.0.2.254/24")
V6 = ip_interface("2001:db8::254/64")
IGNORE = (4, "eth0", "arp_ignore")
ANNOUNCE = (4, "eth0", "arp_announce")
MACVLAN = "vr4.51.2"


def test_the_record_module_is_pure() -> None:
    assert loaded(("leftovers",), FORBIDDEN) == []


# -- the record ------------------------------------------------------------------------------


def test_the_first_value_seen_is_the_original_never_a_later_one() -> None:
    """The bug this fixes: a restarted daemon read its predecessor's arp_ignore=1 as the
    original, and restored 1 at exit."""
    rec = EMPTY.with_original(IGNORE, "0")
    assert rec.with_original(IGNORE, "1") is rec
    assert rec.with_original(ANNOUNCE, "2").sysctls == {IGNORE: "0", ANNOUNCE: "2"}


def test_changes_return_new_records_and_empty_means_nothing_to_undo() -> None:
    rec = EMPTY.with_addresses("eth0", [V4, V6]).with_macvlan(MACVLAN).with_nft_table(True)
    assert EMPTY.empty and not EMPTY.pending
    assert rec.addresses == {("eth0", V4), ("eth0", V6)} and rec.pending
    assert rec.without_addresses("eth0", [V4]).addresses == {("eth0", V6)}
    assert rec.without_addresses("eth1", [V6]).addresses == rec.addresses
    only_addresses = rec.without_macvlan(MACVLAN).with_nft_table(False)
    assert not only_addresses.pending and not only_addresses.empty
    assert only_addresses.without_addresses("eth0", [V4, V6]) == EMPTY


def test_json_round_trip_in_a_stable_order() -> None:
    rec = (
        EMPTY.with_addresses("eth1", [V4])
        .with_addresses("eth0", [V6, V4])
        .with_original(ANNOUNCE, "0")
        .with_original(IGNORE, "0")
        .with_original((6, "eth0", "disable_ipv6"), "0")
        .with_macvlan("vr6.7.3")
        .with_macvlan(MACVLAN)
        .with_nft_table(True)
    )
    data = to_json(rec)
    assert data == {
        "version": 1,
        "addresses": [
            ["eth0", "192.0.2.254/24"],
            ["eth0", "2001:db8::254/64"],
            ["eth1", "192.0.2.254/24"],
        ],
        "sysctls": [
            [4, "eth0", "arp_announce", "0"],
            [4, "eth0", "arp_ignore", "0"],
            [6, "eth0", "disable_ipv6", "0"],
        ],
        "nft_table": True,
        "macvlans": [MACVLAN, "vr6.7.3"],
    }
    assert from_json(json.loads(json.dumps(data))) == rec
    assert from_json({"version": 1}) == EMPTY  # a missing part is empty


@pytest.mark.parametrize(
    "data",
    [
        [["eth0", "192.0.2.254/24"]],  # not an object (the address list of older vrrpd)
        {"version": 2},
        {"version": 1, "extra": []},
        {"version": 1, "addresses": {}},
        {"version": 1, "addresses": [["eth0"]]},
        {"version": 1, "addresses": [["eth0", "not-an-address"]]},
        {"version": 1, "addresses": [["", "192.0.2.254/24"]]},
        {"version": 1, "addresses": [["eth0", 7]]},
        {"version": 1, "sysctls": [[5, "eth0", "arp_ignore", "0"]]},
        {"version": 1, "sysctls": [[True, "eth0", "arp_ignore", "0"]]},
        {"version": 1, "sysctls": [[4, "..", "arp_ignore", "0"]]},  # /proc/sys/net/ipv4/arp_ignore
        {"version": 1, "sysctls": [[4, "eth0/../..", "x", "0"]]},
        {"version": 1, "sysctls": [[4, "eth0", "../../kernel/x", "0"]]},
        {"version": 1, "sysctls": [[4, "eth0", "arp_ignore", "0\n1"]]},
        {"version": 1, "sysctls": [[4, "eth0", "arp_ignore", 0]]},
        {"version": 1, "nft_table": "yes"},
        {"version": 1, "macvlans": ["eth0"]},  # never a link vrrpd did not make
        {"version": 1, "macvlans": ["vr4.1.1234567890"]},
    ],
)
def test_from_json_refuses_what_vrrpd_never_writes(data: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        from_json(data)


def test_every_macvlan_name_vrrpd_gives_is_one_a_record_may_hold() -> None:
    for family, vrid, index in ((4, 1, 1), (6, 255, 2**31 - 1), (4, 255, 999_999_999)):
        name = macvlan_name(family, vrid, index)
        assert MACVLAN_RE.fullmatch(name) and len(name) <= 15, name
        assert from_json(to_json(EMPTY.with_macvlan(name))).macvlans == {name}


# -- what to undo ----------------------------------------------------------------------------


def test_undo_after_sigkill_restores_originals_deletes_the_table_and_macvlans() -> None:
    rec = (
        EMPTY.with_addresses("eth0", [V4])
        .with_original(IGNORE, "0")
        .with_original(ANNOUNCE, "0")
        .with_macvlan(MACVLAN)
        .with_nft_table(True)
    )
    plan = undo_plan(rec, {"lo", "eth0", MACVLAN}, {IGNORE: "1", ANNOUNCE: "2"})
    assert plan.macvlans == (MACVLAN,)
    assert plan.sysctls == ((ANNOUNCE, "0"), (IGNORE, "0"))
    assert plan.nft_table
    assert plan.kept == EMPTY.with_addresses("eth0", [V4]), "addresses: the start-up plan's"
    assert plan.left() == plan.kept


def test_undo_skips_what_needs_nothing() -> None:
    other = (4, "eth1", "arp_ignore")
    on_macvlan = (4, MACVLAN, "arp_ignore")
    rec = (
        EMPTY.with_original(IGNORE, "0")  # already back to 0
        .with_original(other, "0")  # eth1 is gone
        .with_original(on_macvlan, "0")  # goes with its macvlan
        .with_macvlan(MACVLAN)
        .with_macvlan("vr4.9.2")  # deleted by hand
    )
    plan = undo_plan(rec, {"eth0", MACVLAN}, {IGNORE: "0", other: None, on_macvlan: "1"})
    assert plan.macvlans == (MACVLAN,)
    assert plan.sysctls == ()
    assert not plan.nft_table
    assert plan.left() == EMPTY


def test_an_unreadable_sysctl_is_written_anyway() -> None:
    rec = EMPTY.with_original(IGNORE, "0")
    assert undo_plan(rec, {"eth0"}, {IGNORE: None}).sysctls == ((IGNORE, "0"),)
    assert undo_plan(rec, {"eth0"}, {}).sysctls == ((IGNORE, "0"),)


def test_what_fails_stays_recorded_with_its_original() -> None:
    rec = (
        EMPTY.with_original(IGNORE, "0")
        .with_original(ANNOUNCE, "0")
        .with_macvlan(MACVLAN)
        .with_nft_table(True)
    )
    plan = undo_plan(rec, {"eth0", MACVLAN}, {IGNORE: "1", ANNOUNCE: "2"})
    left = plan.left(macvlans=[MACVLAN], sysctls=[IGNORE], nft_table=True)
    assert left == EMPTY.with_original(IGNORE, "0").with_macvlan(MACVLAN).with_nft_table(True)
    # ... and the next run keeps that original, whatever it reads now.
    assert left.with_original(IGNORE, "1").sysctls[IGNORE] == "0"


# -- the file --------------------------------------------------------------------------------


def test_record_path_is_next_to_the_control_socket() -> None:
    assert addrrecord.path_for("/run/vrrpd/a.sock") == Path("/run/vrrpd/a.sock.record")


def test_record_missing_is_empty(tmp_path: Path) -> None:
    assert addrrecord.load(tmp_path / "none") == EMPTY


def test_record_file_round_trip_and_an_empty_record_is_no_file(tmp_path: Path) -> None:
    rf = addrrecord.RecordFile(addrrecord.path_for(tmp_path / "vrrpd.sock"))
    assert rf.state == EMPTY and not rf.path.exists(), "nothing read or written before load"
    rf.update(rf.state.with_addresses("eth0", [V4]).with_original(IGNORE, "0"))
    assert stat.S_IMODE(rf.path.stat().st_mode) == 0o600
    assert addrrecord.RecordFile(rf.path).load() == rf.state
    rf.update(rf.state.without_addresses("eth0", [V4]))
    assert addrrecord.load(rf.path) == EMPTY.with_original(IGNORE, "0")
    rf.update(EMPTY)
    assert not rf.path.exists(), "a clean exit leaves no record"
    assert list(tmp_path.iterdir()) == [], "no temporary file left"


def test_an_unchanged_record_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rf = addrrecord.RecordFile(tmp_path / "rec")
    rf.update(rf.state.with_macvlan(MACVLAN))
    writes: list[Record] = []
    monkeypatch.setattr(addrrecord, "save", lambda path, rec: writes.append(rec))
    rf.update(rf.state.with_macvlan(MACVLAN))
    rf.update(rf.state.with_original(IGNORE, "0"))
    rf.update(rf.state.with_original(IGNORE, "1"))  # first seen wins: no change
    assert writes == [EMPTY.with_macvlan(MACVLAN).with_original(IGNORE, "0")]


def test_record_separate_per_control_socket(tmp_path: Path) -> None:
    a = addrrecord.RecordFile(addrrecord.path_for(tmp_path / "a.sock"))
    b = addrrecord.RecordFile(addrrecord.path_for(tmp_path / "b.sock"))
    a.update(EMPTY.with_original(IGNORE, "0"))
    b.update(EMPTY.with_original(IGNORE, "1"))
    assert addrrecord.load(a.path).sysctls == {IGNORE: "0"}
    assert addrrecord.load(b.path).sysctls == {IGNORE: "1"}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '[["eth0", "192.0.2.254/24"]]',
        '{"version": 1, "macvlans": ["eth0"]}',
        "[" * 100_000,
        "\udcff",
    ],
)
def test_record_corrupt_is_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    path = tmp_path / "rec"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    rf = addrrecord.RecordFile(path)
    with caplog.at_level(logging.WARNING, logger="vrrpd"):
        assert rf.load() == EMPTY
    assert any(
        "corrupt" in r.getMessage() or "unreadable" in r.getMessage() for r in caplog.records
    )
    rf.update(rf.state.with_addresses("eth0", [V4]))  # replaced, not an obstacle
    assert addrrecord.load(path) == EMPTY.with_addresses("eth0", [V4])


def test_record_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rf = addrrecord.RecordFile(tmp_path / "rec")
    rf.update(EMPTY.with_addresses("eth0", [V4]))
    before = rf.path.read_text()

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        rf.update(rf.state.with_macvlan(MACVLAN))
    assert rf.path.read_text() == before, "a failed write leaves the old record"
    assert rf.state == EMPTY.with_addresses("eth0", [V4]), "... and the old state"
    assert [p.name for p in tmp_path.iterdir()] == ["rec"], "no temporary file left"


def test_record_unwritable_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        addrrecord.RecordFile(tmp_path / "missing-dir" / "rec").update(EMPTY.with_nft_table(True))


# -- undoing, with the kernel faked ----------------------------------------------------------


class FakeNetlink:
    def __init__(self, links: dict[str, int], fail: set[str]) -> None:
        self.names = links
        self.fail = fail
        self.deleted: list[str] = []

    async def links(self) -> list[Link]:
        return [Link(i, n, "00:00:00:00:00:00", True) for n, i in self.names.items()]

    async def del_link(self, index: int) -> bool:
        name = next(n for n, i in self.names.items() if i == index)
        if name in self.fail:
            raise NetlinkFailure(f"removing interface {index}: Operation not permitted", 1)
        self.deleted.append(name)
        return True


def test_undo_does_what_it_can_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    values = {IGNORE: "1", ANNOUNCE: "2"}
    written: dict[tuple[int, str, str], str] = {}
    scripts: list[str] = []

    def write(family: int, ifname: str, key: str, value: int | str) -> None:
        if key == "arp_announce":
            raise PermissionError(13, f"cannot set {key}: Permission denied")
        written[(family, ifname, key)] = str(value)

    async def run_nft(script: str) -> None:
        scripts.append(script)

    monkeypatch.setattr(sysctl, "read", lambda *key: values[key])
    monkeypatch.setattr(sysctl, "write", write)
    monkeypatch.setattr(nft, "_nft", run_nft)
    rf = addrrecord.RecordFile(tmp_path / "rec")
    rf.update(
        EMPTY.with_addresses("eth0", [V4])
        .with_original(IGNORE, "0")
        .with_original(ANNOUNCE, "0")
        .with_macvlan(MACVLAN)
        .with_macvlan("vr4.52.2")
        .with_nft_table(True)
    )
    nl = FakeNetlink({"eth0": 2, MACVLAN: 7, "vr4.52.2": 8}, fail={"vr4.52.2"})
    with caplog.at_level(logging.INFO, logger="vrrpd"):
        asyncio.run(addrrecord.undo(rf, nl))  # type: ignore[arg-type]
    assert nl.deleted == [MACVLAN]
    assert written == {IGNORE: "0"}
    assert len(scripts) == 1 and "delete table inet vrrpd" in scripts[0]
    kept = EMPTY.with_addresses("eth0", [V4]).with_original(ANNOUNCE, "0").with_macvlan("vr4.52.2")
    assert rf.state == kept and addrrecord.load(rf.path) == kept
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "vr4.52.2" in errors[0] and "arp_announce" in errors[1], errors


def test_nft_install_is_recorded_first_and_forgotten_if_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rf = addrrecord.RecordFile(tmp_path / "rec")
    seen: list[bool] = []

    async def failing(script: str) -> None:
        seen.append(addrrecord.load(rf.path).nft_table)
        raise OSError("nft not found: accept_mode = false needs nftables")

    monkeypatch.setattr(nft, "_nft", failing)
    with pytest.raises(OSError):
        asyncio.run(nft.install([V4.ip], rf))
    assert seen == [True], "on disk before nft ran"
    assert rf.state == EMPTY and not rf.path.exists(), "a failed transaction created nothing"


def test_leftovers_are_the_one_record(tmp_path: Path) -> None:
    """Addresses, sysctls, the table and macvlans share one file (one idea in one place)."""
    rf = addrrecord.RecordFile(addrrecord.path_for(tmp_path / "s.sock"))
    rf.update(EMPTY.with_addresses("eth0", [V4]).with_nft_table(True))
    assert [p.name for p in tmp_path.iterdir()] == ["s.sock.record"]
    assert leftovers.from_json(json.loads(rf.path.read_text())) == rf.state
