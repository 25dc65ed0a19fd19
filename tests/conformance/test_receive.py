"""Receive validation (RFC 5798 §7.1, §5.1.1.3, §5.2, RFC 9568 errata 8299/8301), IPv4.

One lab: r1 Master (priority 200), r2 Backup (priority 100), VRID 51, 0.1 s; c1 injects.
Every broken advert carries priority 254 from c1: accepted, it would make r1 yield and r2
follow c1, so a discard is visible as "nothing moved" and as a counter. Each test waits for
the counter to reach its count on both daemons (a positive condition), checks that no other
discard counter moved, and that the roles did not change. The last test is the control: the
same advert, valid, is accepted and r1 yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netns_lab.lab import Lab
from tests.conformance import conftest
from tests.conformance.conftest import (
    C1,
    R1,
    VIP_ADDR,
    WAIT,
    check_discards,
    counters,
    delta,
    discards,
    log_lines,
    state,
    wait_counter,
)

pytestmark = pytest.mark.netns

# An advert that would win if it were valid (from c1, for "gw").
BASE: dict[str, Any] = {"priority": 254, "interval": 10, "addresses": [VIP_ADDR]}


class Pair(conftest.Pair):
    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        self.settled()
        return counters(self.d1), counters(self.d2)

    def expect_discards(self, packets: list[bytes], want: dict[str, int]) -> None:
        """Send `packets` by multicast (and a sentinel, see `check_discards`): both daemons
        must count exactly `want`, and the roles must be as before."""
        self.settled()
        before = check_discards(self.inj, (self.d1, self.d2), packets, want, base=BASE)
        assert state(self.d1) == "MASTER"
        assert state(self.d2) == "BACKUP"
        assert delta(self.d1, before[0]).get("became_master", 0) == 0
        assert delta(self.d2, before[1]).get("became_master", 0) == 0
        assert delta(self.d1, before[0]).get("adverts_received", 0) == 0
        assert self.d2.router("gw")["master"] == R1
        assert self.r1.has_address(VIP_ADDR)
        assert not self.r2.has_address(VIP_ADDR)


@pytest.fixture(scope="module")
def p(lab: Lab) -> Iterator[Pair]:
    yield from conftest.pair(lab, Pair)


def craft_bad(p: Pair, **fields: Any) -> bytes:
    """An advert that would win if it were valid, with `fields` overridden."""
    return p.inj.craft(**{**BASE, **fields})


bad = craft_bad  # the tests' short name


def test_ttl_not_255_discarded(p: Pair) -> None:
    """§7.1 MUST discard: IP TTL not 255 (§5.1.1.3)."""
    p.expect_discards([bad(p, ttl=t) for t in (254, 64, 1, 0)], {"discard_ttl": 4})


def test_version_not_3_discarded(p: Pair) -> None:
    """§7.1 MUST discard: VRRP version not 3."""
    packets = [bad(p, version=v) for v in (0, 1, 4, 15)]
    packets.append(bad(p, version=2, interval=1))  # a well-formed VRRPv2 advert
    p.expect_discards(packets, {"discard_version": 5})


def test_unknown_type_discarded(p: Pair) -> None:
    """§5.2.2 MUST discard: a packet with unknown type."""
    p.expect_discards([bad(p, type=t) for t in (0, 2, 3, 15)], {"discard_type": 4})


def test_incomplete_packet_discarded(p: Pair) -> None:
    """§7.1 MUST discard: the packet does not contain the complete VRRP message."""
    p.expect_discards(
        [
            bad(p, count=2),  # says two addresses, carries one
            bad(p, count=255),
            bad(p, truncate=10),  # cut inside the address
            bad(p, truncate=7),  # cut inside the header, VRID still readable
            bad(p, truncate=1),  # not even a VRID
        ],
        # README: discards that name a configured VRID count in its row; those that name
        # none count on the interface and show in every row. Either way: all five.
        {"discard_length": 5},
    )


def test_longer_than_count_discarded(p: Pair) -> None:
    """§7.1 A message longer than its count says is discarded (stricter than required)."""
    p.expect_discards([bad(p, trailing=b"\x00" * n) for n in (1, 4, 16)], {"discard_length": 3})


def test_bad_checksum_discarded(p: Pair) -> None:
    """§7.1 MUST verify the VRRP checksum: discard on mismatch."""
    p.expect_discards(
        [bad(p, checksum="bad"), bad(p, checksum="bad", reserved=1)], {"discard_checksum": 2}
    )


def test_vrid_not_configured_discarded(p: Pair) -> None:
    """§7.1 MUST discard: VRID not configured on the receiving interface."""
    p.expect_discards([bad(p, vrid=v) for v in (1, 52, 255)], {"discard_vrid": 3})


def test_count_zero_discarded(p: Pair) -> None:
    """§7.1 (erratum 8299) MUST discard: IPvX Addr Count is zero (§5.2.5)."""
    p.expect_discards([bad(p, count=0, addresses=[]), bad(p, count=0)], {"discard_count_zero": 2})


def test_interval_zero_discarded(p: Pair) -> None:
    """§7.1 (erratum 8301) MUST discard: Max Adver Int is zero."""
    p.expect_discards(
        [bad(p, interval=0), bad(p, interval=0, reserved=0xF)], {"discard_interval_zero": 2}
    )


def accepted_by_master(p: Pair, packets: list[bytes], want: dict[str, int]) -> dict[str, int]:
    """Send lower-priority adverts by unicast to r1 (r2 never sees them); wait until r1 has
    received them all; return r1's counter changes. They change no role."""
    before = p.snapshot()
    p.inj.send(packets)
    wait_counter(p.d1, "adverts_received", before[0]["adverts_received"] + len(packets))
    changed = delta(p.d1, before[0])
    for counter, n in want.items():
        assert changed.get(counter, 0) == n, (counter, changed)
    assert discards(changed) == {}
    assert state(p.d1) == "MASTER"
    assert state(p.d2) == "BACKUP"
    return changed


def test_both_checksum_forms_accepted(p: Pair) -> None:
    """§5.2.8 Accept both IPv4 checksum forms: RFC 5798 pseudo-header, RFC 9568 message only."""
    low: dict[str, Any] = {"priority": 50, "addresses": [VIP_ADDR], "dst": R1}
    packets = [p.inj.craft(checksum="rfc5798", **low), p.inj.craft(checksum="rfc9568", **low)]
    accepted_by_master(p, packets, {"checksum_rfc5798": 1, "checksum_rfc9568": 1})


def test_reserved_bits_ignored(p: Pair) -> None:
    """§5.2.6 MUST ignore the reserved bits on reception."""
    packets = [
        p.inj.craft(priority=50, addresses=[VIP_ADDR], dst=R1, reserved=r) for r in (1, 8, 0xF)
    ]
    accepted_by_master(p, packets, {"adverts_received": 3})


def test_address_list_mismatch_accepted_and_counted(p: Pair) -> None:
    """§7.1 MUST drop a non-owner advert whose address list differs (if checked).

    Deviation: vrrpd accepts, counts and logs it instead.
    """
    packets = [
        p.inj.craft(priority=50, addresses=["192.0.2.99"], dst=R1),
        p.inj.craft(priority=50, addresses=[VIP_ADDR, "192.0.2.99"], dst=R1),
    ]
    accepted_by_master(p, packets, {"address_list_mismatch": 2})
    assert log_lines(p.d1, f"address list from {C1} differs from ours")


def test_valid_advert_accepted_control(p: Pair) -> None:
    """§6.4.3 MUST go Backup on a higher-priority advert: the control for every discard test."""
    before = p.snapshot()
    p.inj.send(bad(p))  # every field right: priority 254, TTL 255, good checksum
    p.d1.wait_state("gw", "BACKUP", timeout=WAIT)
    changed = delta(p.d1, before[0])
    assert discards(changed) == {}
    assert changed["adverts_received"] == 1
    assert p.d1.router("gw")["master"] == C1
    p.settled()  # c1 is silent: r1 takes over again after Master_Down_Interval
