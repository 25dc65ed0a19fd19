"""VRRPv2 (RFC 3768): election and failover in whole seconds, the v2 wire format, interval
mismatch and simple-text authentication discarded and counted."""

from __future__ import annotations

import time
from typing import Any

from netns_lab import wire
from netns_lab.lab import Lab, Node, master_down_interval, wait_for
from tests.helpers import VIP_ADDR, vr

MARGIN = 1.5  # seconds on top of an RFC bound: a loaded 2-core machine


def vr2(**overrides: Any) -> dict[str, Any]:
    return vr(**{"version": 2, "advert_interval": 1, **overrides})


def holders(*nodes: Node) -> list[str]:
    return [n.name for n in nodes if n.has_address(VIP_ADDR)]


def _inject_v2(c1: Node, repeat: int, password: str | None = None, **fields: Any) -> None:
    """v2 adverts from `c1`; with `password`, simple-text authentication (type 1)."""
    if password is not None:
        fields.update(auth_type=1, auth_data=password.encode())
    c1.inject(repeat, version=2, addresses=[VIP_ADDR], **fields)


def test_v2_election_failover_and_wire_format(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    d1 = r1.start_vrrpd([vr2(priority=200)])
    d2 = r2.start_vrrpd([vr2(priority=100)])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == "192.0.2.1", 5, what="r2 to follow r1")
    assert d2.router("gw")["version"] == 2
    wait_for(lambda: holders(r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")

    ads = cap.wait_packets(
        lambda p: bool(wire.adverts([p], src="192.0.2.1")), 2, 10, "2 adverts from r1"
    )
    for p in ads:
        v = wire.vrrp_layer(p)
        assert (v.version, v.type, v.vrid, v.priority) == (2, 1, 51, 200)
        assert v.adv == 1  # whole seconds
        assert v.authtype == 0 and (v.auth1, v.auth2) == (0, 0)
        assert [str(a) for a in v.addrlist] == [VIP_ADDR]
        assert wire.ttl_of(p) == 255
        assert wire.same_ip(wire.ip_of(p).dst, "224.0.0.18")
        # v2: the checksum covers the VRRP message only (no pseudo-header)
        message = wire.vrrp_bytes(p)
        assert len(message) == 8 + 4 + 8
        assert wire.internet_checksum(message) == 0, f"bad v2 checksum in {message.hex()}"

    bound = master_down_interval(1.0, 100)  # v2: 3 s + (256 - 100) / 256 s
    killed = time.monotonic()
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=bound + MARGIN)
    assert time.monotonic() - killed <= bound + MARGIN
    assert "reason=master-down" in d2.log_text()
    cap.stop()


def test_v2_interval_mismatch_discarded_and_counted(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr2(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=15)
    # A priority-254 advert would take mastership from r1 (200) if it were accepted.
    _inject_v2(c1, 3, priority=254, interval=2)
    d1.wait_counter("gw", "discard_interval", 3, timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    # The same advert with r1's own interval is accepted: the test can fail.
    _inject_v2(c1, 1, priority=254, interval=1)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert d1.router("gw")["master"] == "192.0.2.100"
    assert d1.counters("gw")["discard_interval"] == 3


def test_v2_auth_pass_match_and_mismatch(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    d1 = r1.start_vrrpd([vr2(priority=200, auth_pass="s3cret")])
    d2 = r2.start_vrrpd([vr2(priority=100, auth_pass="s3cret")])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == "192.0.2.1", 5, what="r2 to follow r1")
    assert d2.counters("gw")["discard_auth"] == 0
    wait_for(lambda: holders(r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")
    ads = cap.wait_packets(lambda p: bool(wire.adverts([p], src="192.0.2.1")), 1, 10, "r1 advert")
    v = wire.vrrp_layer(ads[0])
    assert v.authtype == 1
    assert wire.vrrp_bytes(ads[0])[-8:] == b"s3cret\0\0"
    assert wire.internet_checksum(wire.vrrp_bytes(ads[0])) == 0

    # Wrong password, and no authentication at all: both discarded, counted, no effect.
    _inject_v2(c1, 3, "wrong", priority=254)
    _inject_v2(c1, 2, priority=254)
    for d in (d1, d2):
        d.wait_counter("gw", "discard_auth", 5, timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    assert d2.router("gw")["master"] == "192.0.2.1"
    # The right password is accepted: the test can fail.
    _inject_v2(c1, 1, "s3cret", priority=254)
    d1.wait_state("gw", "BACKUP", timeout=5)
    cap.stop()
