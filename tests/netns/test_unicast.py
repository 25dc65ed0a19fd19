"""Unicast peers: adverts by unicast across a routing namespace (TTL drops by one there),
unicast_ttl_check, adverts from unlisted sources discarded (discard_peer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netns_lab import wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, VIP_ADDR, vr

SVC = "203.0.113.10/32"  # a service address both sites may hold
SVC_ADDR = SVC.split("/")[0]


def holders(address: str, *nodes: Node) -> list[str]:
    return [n.name for n in nodes if n.has_address(address)]


def _routed(lab: Lab) -> tuple[Node, Node]:
    """r1 (192.0.2.1) on segment a, r2 (198.51.100.2) on segment b, a router between."""
    lab.add_segment("b")
    lab.add_gateway("gw", {"a": "192.0.2.250/24", "b": "198.51.100.250/24"})
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "198.51.100.2/24", segment="b")
    assert r1.ping("198.51.100.2"), "the gateway must route between the segments"
    return r1, r2


def _start(
    r1: Node, r2: Node, daemon: Mapping[str, Any] | None = None, **extra: Any
) -> tuple[Vrrpd, Vrrpd]:
    d1 = r1.start_vrrpd(
        [vr(priority=200, unicast_peers=["198.51.100.2"], virtual_ips=[SVC], **extra)],
        daemon=daemon,
    )
    d2 = r2.start_vrrpd(
        [vr(priority=100, unicast_peers=["192.0.2.1"], virtual_ips=[SVC], **extra)],
        daemon=daemon,
    )
    return d1, d2


def test_unicast_across_a_router_with_ttl_check_off(lab: Lab) -> None:
    r1, r2 = _routed(lab)
    cap1 = r1.capture("ip proto 112")
    cap2 = r2.capture("ip proto 112")
    d1, d2 = _start(r1, r2, unicast_ttl_check=False)
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    wait_for(lambda: d2.router("gw")["master"] == "192.0.2.1", 5, what="r2 to follow r1")
    assert d2.router("gw")["unicast_peers"] == ["192.0.2.1"]
    wait_for(lambda: holders(SVC_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")

    # Sent by unicast with TTL 255, arriving routed with TTL 254; never to 224.0.0.18.
    sent = cap1.wait_packets(
        lambda p: bool(wire.adverts([p], src="192.0.2.1")), 3, 5, "r1's adverts leaving r1"
    )
    assert {(str(wire.ip_of(p).dst), wire.ttl_of(p)) for p in sent} == {("198.51.100.2", 255)}
    got = cap2.wait_packets(
        lambda p: bool(wire.adverts([p], src="192.0.2.1")), 3, 5, "r1's adverts reaching r2"
    )
    assert {wire.ttl_of(p) for p in got} == {254}
    assert d2.counters("gw")["discard_ttl"] == 0
    # No multicast at all.
    assert not [p for p in cap1.packets() if wire.same_ip(wire.ip_of(p).dst, "224.0.0.18")]

    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    assert "reason=master-down" in d2.log_text()
    sent2 = cap2.wait_packets(
        lambda p: bool(wire.adverts([p], src="198.51.100.2")), 3, 5, "r2's adverts as master"
    )
    assert {str(wire.ip_of(p).dst) for p in sent2} == {"192.0.2.1"}
    cap1.stop()
    cap2.stop()


def test_routed_unicast_with_default_ttl_check_is_discarded(lab: Lab) -> None:
    r1, r2 = _routed(lab)
    # unicast_ttl_check defaults to true: TTL 254 is dropped (and, without the kernel filter,
    # counted)
    d1, d2 = _start(r1, r2, NO_KERNEL_FILTER)
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_counter("gw", "discard_ttl", 5, timeout=10)
    d1.wait_counter("gw", "discard_ttl", 1, timeout=10)  # r2 once advertised as master too
    d2.wait_state("gw", "MASTER", timeout=5)  # it never hears a valid advert
    assert d1.router("gw")["state"] == "MASTER"
    assert d2.counters("gw")["adverts_received"] == 0
    wait_for(lambda: holders(SVC_ADDR, r1, r2) == ["r1", "r2"], 5, what="both to hold the VIP")


def test_advert_from_unlisted_source_is_discarded(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=200, unicast_peers=["192.0.2.2"])])
    d2 = r2.start_vrrpd([vr(priority=100, unicast_peers=["192.0.2.1"])])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    wait_for(lambda: d2.router("gw")["master"] == "192.0.2.1", 5, what="r2 to follow r1")
    # From the client (not a listed peer), by unicast to each router, priority 254: it
    # would win if it were accepted.
    c1.inject(3, src="192.0.2.100", dst="192.0.2.1", addresses=[VIP_ADDR], priority=254)
    c1.inject(3, src="192.0.2.100", dst="192.0.2.2", addresses=[VIP_ADDR], priority=254)
    d1.wait_counter("gw", "discard_peer", 3, timeout=5)
    d2.wait_counter("gw", "discard_peer", 3, timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    assert d2.router("gw")["master"] == "192.0.2.1"
    # The same advert from a listed peer's address is accepted: the test can fail.
    c1.inject(1, src="192.0.2.2", dst="192.0.2.1", addresses=[VIP_ADDR], priority=254)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert d1.counters("gw")["discard_peer"] == 3
