"""VRRPv2 where it differs from VRRPv3 (RFC 3768; RFC 2338 for simple-text authentication).

One lab: r1 (priority 200) and r2 (priority 100) run "v2" (VRID 51, version 2, 1 s); r1 also
runs "auth" (VRID 52, auth_pass "secret") alone. c1 captures and injects. Receive checks use
a sentinel packet (see `check_discards`); adverts meant for VRID 52 go to r1 by unicast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd
from tests.conformance.conftest import (
    GROUP4,
    VIP_ADDR,
    WAIT,
    capture,
    check_discards,
    checksum_ok,
    counters,
    delta,
    discards,
    vr,
    vrrp_message,
    wait_adverts,
    wait_counter,
    wait_received,
)

pytestmark = pytest.mark.netns

R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"
AUTH_VIP = "192.0.2.253"
# A v2 advert that would win if it were valid (from c1, for "v2").
BASE: dict[str, Any] = {"version": 2, "priority": 254, "interval": 1, "addresses": [VIP_ADDR]}


@dataclass
class V2:
    r1: Node
    r2: Node
    d1: Vrrpd
    d2: Vrrpd
    inj: Injector
    cap: Capture

    def settled(self) -> None:
        self.d1.wait_states({"v2": "MASTER", "auth": "MASTER"}, timeout=WAIT)
        self.d2.wait_state("v2", "BACKUP", timeout=WAIT)
        wait_received(self.d2, 1, "v2")
        assert self.d2.router("v2")["master"] == R1

    def craft(self, **fields: Any) -> bytes:
        return self.inj.craft(**{**BASE, **fields})

    def both_discard(self, packets: list[bytes], want: dict[str, int]) -> None:
        self.settled()
        check_discards(
            self.inj,
            (self.d1, self.d2),
            packets,
            want,
            base=BASE,
            noise=frozenset({"discard_vrid"}),  # r2 hears r1's other VRIDs
            name="v2",
        )
        assert self.d1.router("v2")["state"] == "MASTER"
        assert self.d2.router("v2")["state"] == "BACKUP"

    def auth_discards(self, packets: list[bytes], want: dict[str, int]) -> None:
        self.settled()
        check_discards(
            self.inj,
            (self.d1,),
            packets,
            want,
            base={
                **BASE,
                "vrid": 52,
                "dst": R1,
                "addresses": [AUTH_VIP],
                "auth_type": 1,
                "auth_data": b"secret",
            },
            name="auth",
        )
        assert self.d1.router("auth")["state"] == "MASTER"


@pytest.fixture(scope="module")
def v(lab: Lab) -> Iterator[V2]:
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    cap = capture(c1, "ip proto 112")
    common: dict[str, Any] = {"version": 2, "advert_interval": 1}
    d1 = r1.start_vrrpd(
        [
            vr(name="v2", priority=200, **common),
            vr(
                name="auth",
                vrid=52,
                priority=200,
                auth_pass="secret",
                virtual_ips=[f"{AUTH_VIP}/24"],
                **common,
            ),
        ]
    )
    d1.wait_states({"v2": "MASTER", "auth": "MASTER"}, timeout=WAIT)
    d2 = r2.start_vrrpd([vr(name="v2", priority=100, **common)])
    inj = c1.injector(neighbours={R1: r1.mac, R2: r2.mac})
    v2 = V2(r1, r2, d1, d2, inj, cap)
    v2.settled()
    yield v2
    inj.close()


def sent(v: V2, vrid: int = 51) -> list[bytes]:
    return [vrrp_message(p) for p in wait_adverts(v.cap, 3, src=R1, vrid=vrid)]


def test_v2_ttl_255_to_group(v: V2) -> None:
    """RFC 3768 §5.2.2/§5.2.3 MUST send to 224.0.0.18 with TTL 255."""
    ads = wait_adverts(v.cap, 3, src=R1, vrid=51)
    assert {(str(wire.ip_of(p).dst), wire.ttl_of(p)) for p in ads} == {(GROUP4, 255)}


def test_v2_version_2_type_1(v: V2) -> None:
    """RFC 3768 §5.3.1/§5.3.2 Version 2, type 1 (ADVERTISEMENT)."""
    assert {m[0] for m in sent(v)} == {0x21}


def test_v2_interval_in_seconds(v: V2) -> None:
    """RFC 3768 §5.3.7 Adver Int is the advertisement interval in seconds."""
    assert {m[5] for m in sent(v)} == {1}


def test_v2_checksum_over_message_only(v: V2) -> None:
    """RFC 3768 §5.3.8 The checksum covers the VRRP message only (no pseudo-header)."""
    ads = wait_adverts(v.cap, 3, src=R1, vrid=51)
    assert all(checksum_ok(p, "plain") for p in ads)
    assert not any(checksum_ok(p, "pseudo") for p in ads)


def test_v2_no_authentication_zero_data(v: V2) -> None:
    """RFC 3768 §5.3.6/§5.3.10 Auth Type 0; Authentication Data zero on transmission."""
    for m in sent(v):
        assert m[4] == 0
        assert m[-8:] == bytes(8)
        assert len(m) == 8 + 4 * m[3] + 8


def test_v2_simple_text_password_sent(v: V2) -> None:
    """RFC 3768 §5.3.6 Auth Types 1 and 2 are reserved: vrrpd sends type 1 with auth_pass."""
    for m in sent(v, 52):
        assert m[4] == 1
        assert m[-8:] == b"secret\x00\x00"


def test_v2_ttl_not_255_discarded(v: V2) -> None:
    """RFC 3768 §7.1 MUST discard: IP TTL not 255."""
    v.both_discard([v.craft(ttl=64), v.craft(ttl=1)], {"discard_ttl": 2})


def test_v2_version_not_2_discarded(v: V2) -> None:
    """RFC 3768 §7.1 MUST discard: version not 2 (a VRRPv3 advert)."""
    v.both_discard([v.craft(version=3, interval=100)], {"discard_version": 1})


def test_v2_interval_mismatch_discarded(v: V2) -> None:
    """RFC 3768 §7.1 MUST discard: Adver Interval differs from the configured one."""
    v.both_discard([v.craft(interval=2), v.craft(interval=255)], {"discard_interval": 2})


def test_v2_checksum_verified(v: V2) -> None:
    """RFC 3768 §7.1 MUST verify the checksum (message only): discard a mismatch."""
    v.both_discard([v.craft(checksum="bad"), v.craft(checksum="pseudo")], {"discard_checksum": 2})


def test_v2_auth_type_mismatch_discarded(v: V2) -> None:
    """RFC 3768 §5.3.6 MUST discard: an auth type not matching the configured method."""
    v.both_discard(
        [v.craft(auth_type=1, auth_data=b"secret"), v.craft(auth_type=2)],
        {"discard_auth": 2},
    )
    wrong = {"vrid": 52, "dst": R1, "addresses": [AUTH_VIP]}
    v.auth_discards(
        [v.craft(auth_type=0, **wrong), v.craft(auth_type=1, auth_data=b"Secret", **wrong)],
        {"discard_auth": 2},
    )


def accepted_by_r1(v: V2, name: str, packets: list[bytes]) -> dict[str, int]:
    v.settled()
    before = counters(v.d1, name)
    v.inj.send(packets)
    wait_counter(v.d1, "adverts_received", before["adverts_received"] + len(packets), name)
    changed = delta(v.d1, before, name)
    assert discards(changed) == {}
    assert v.d1.router(name)["state"] == "MASTER"
    return changed


def test_v2_auth_data_ignored_without_authentication(v: V2) -> None:
    """RFC 3768 §5.3.10 Authentication Data is ignored on reception (Auth Type 0)."""
    junk = v.craft(priority=50, dst=R1, auth_type=0, auth_data=b"\xff" * 8)
    assert accepted_by_r1(v, "v2", [junk])["adverts_received"] == 1


def test_v2_matching_password_accepted(v: V2) -> None:
    """RFC 2338 §5.3.6 A matching simple-text password is accepted (control)."""
    ok = v.craft(
        vrid=52, dst=R1, priority=50, addresses=[AUTH_VIP], auth_type=1, auth_data=b"secret"
    )
    assert accepted_by_r1(v, "auth", [ok])["adverts_received"] == 1


def test_v2_valid_advert_accepted_control(v: V2) -> None:
    """RFC 3768 §6.4.3 MUST go Backup on a higher priority: the control for the discards."""
    v.settled()
    v.inj.send(v.craft())  # version 2, interval 1 s, TTL 255, no auth, right checksum
    v.d1.wait_state("v2", "BACKUP", timeout=WAIT)
    assert v.d1.router("v2")["master"] == C1
    v.settled()  # c1 is silent: r1 is Master again after Master_Down_Interval (3.2 s)
