"""IPv6 (issue 3): election and failover over ff02::12, unsolicited NA, hop limit, nodad VIPs,
the same VRID on IPv4 and IPv6, VIPs back after a link flap.

Routers here have no IPv4 address unless a test needs one: an IPv6 virtual router must work
from the interface's link-local address alone.
"""

from __future__ import annotations

from typing import Any

from netns_lab import wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, VIP_ADDR, vr

VIP6 = "2001:db8::254/64"
VIP6_ADDR = VIP6.split("/")[0]
VR_LL = wire.vr_link_local(51)  # fe80::200:5eff:fe00:233


def vr6(**overrides: Any) -> dict[str, Any]:
    return vr(**{"virtual_ips": [VIP6], **overrides})


def holders6(*nodes: Node) -> list[str]:
    return [n.name for n in nodes if n.has_address(VIP6_ADDR)]


def _pair(lab: Lab, ipv4: bool = False) -> tuple[Node, Node, Vrrpd, Vrrpd]:
    r1 = lab.add_router("r1", "192.0.2.1/24" if ipv4 else None, "2001:db8::1/64")
    r2 = lab.add_router("r2", "192.0.2.2/24" if ipv4 else None, "2001:db8::2/64")
    d1 = r1.start_vrrpd([vr6(priority=200)])
    d2 = r2.start_vrrpd([vr6(priority=100)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    return r1, r2, d1, d2


def test_ipv6_election_failover_and_unsolicited_na(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    r2 = lab.add_router("r2", None, "2001:db8::2/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    cap = c1.capture("icmp6 or ip6 proto 112")
    d1 = r1.start_vrrpd([vr6(priority=200)])
    d2 = r2.start_vrrpd([vr6(priority=100)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    row = d2.router("gw")
    assert row["family"] == 6
    ll1 = r1.link_local()
    assert ll1 is not None
    wait_for(
        lambda: d2.router("gw")["master"] == ll1, 5, what="r2 to see r1's link-local as master"
    )
    wait_for(lambda: holders6(r1, r2) == ["r1"], 5, what="only r1 to hold the IPv6 VIP")

    # The adverts on the wire: ff02::12, hop limit 255, from the link-local, VR link-local first.
    ads = cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=ll1, vrid=51)), 3, 10, "3 IPv6 adverts from r1"
    )
    for p in ads:
        ip, v = wire.ip_of(p), wire.vrrp_layer(p)
        assert wire.same_ip(ip.dst, "ff02::12")
        assert ip.hlim == 255
        assert v.version == 3 and v.priority == 200
        assert [str(a) for a in v.addrlist] == [VR_LL, VIP6_ADDR]

    assert c1.ping(VIP6_ADDR, timeout=3)
    assert c1.neigh(VIP6_ADDR) == r1.mac
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    # No traffic from the client: only r2's unsolicited NA (override flag) can move the entry.
    wait_for(lambda: c1.neigh(VIP6_ADDR) == r2.mac, 5, what="client neighbour entry to move to r2")
    nas = cap.wait_packets(
        lambda p: bool(wire.unsolicited_nas([p], VIP6_ADDR, r2.mac)), 1, 5, "an NA from r2"
    )
    from scapy.layers.inet6 import ICMPv6ND_NA, IPv6

    for p in nas:
        na = p[ICMPv6ND_NA]
        assert (na.R, na.O, na.S) == (1, 1, 0), p.summary()
        assert p[IPv6].hlim == 255
        assert wire.na_lladdr(p) == r2.mac
    assert c1.ping(VIP6_ADDR, timeout=3)


def test_same_vrid_on_ipv4_and_ipv6_are_two_routers(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24", "2001:db8::1/64")
    r2 = lab.add_router("r2", "192.0.2.2/24", "2001:db8::2/64")
    # r1 wins IPv4, r2 wins IPv6: one VRID, two virtual routers keyed by family.
    d1 = r1.start_vrrpd([vr(name="gw4", priority=200), vr6(name="gw6", priority=100)])
    d2 = r2.start_vrrpd([vr(name="gw4", priority=100), vr6(name="gw6", priority=200)])
    d1.wait_states({"gw4": "MASTER", "gw6": "BACKUP"}, timeout=10)
    d2.wait_states({"gw4": "BACKUP", "gw6": "MASTER"}, timeout=10)
    assert {r["name"]: r["family"] for r in d1.status()} == {"gw4": 4, "gw6": 6}
    # BACKUP is reached at start-up, before the first advert: poll for the master's address.
    ll2 = r2.link_local()
    wait_for(lambda: d1.router("gw6")["master"] == ll2, 5, what="r1/gw6 to follow r2")
    wait_for(lambda: d2.router("gw4")["master"] == "192.0.2.1", 5, what="r2/gw4 to follow r1")
    wait_for(
        lambda: [n.name for n in (r1, r2) if n.has_address(VIP_ADDR)] == ["r1"],
        5,
        what="only r1 to hold the IPv4 VIP",
    )
    wait_for(lambda: holders6(r1, r2) == ["r2"], 5, what="only r2 to hold the IPv6 VIP")
    # Each keeps working alone: r1's IPv4 VR fails over, r2's IPv6 VR is untouched.
    received = d2.counters("gw6")["adverts_sent"]
    d1.kill()
    d2.wait_state("gw4", "MASTER", timeout=5)
    assert d2.router("gw6")["state"] == "MASTER"
    assert d2.counters("gw6")["became_master"] == 1
    assert d2.counters("gw6")["adverts_sent"] > received


def test_hop_limit_not_255_discarded_and_counted(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    d1 = r1.start_vrrpd([vr6(priority=200)], daemon=NO_KERNEL_FILTER)  # to count discards
    d1.wait_state("gw", "MASTER", timeout=10)
    ll = c1.link_local()
    assert ll is not None
    fields: dict[str, Any] = {"src": ll, "addresses": [VR_LL, VIP6_ADDR], "priority": 254}
    # A priority-254 advert would take mastership from r1 (200) if it were accepted.
    c1.inject(3, ttl=64, **fields)
    d1.wait_counter("gw", "discard_ttl", 3, timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    # The same advert with hop limit 255 *is* accepted: the test can fail.
    c1.inject(1, **fields)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert d1.router("gw")["master"] == ll


def test_ipv6_vip_is_usable_at_once_not_tentative(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    # DAD on (the lab turns it off): a VIP added without nodad would be tentative ~1 s.
    r1.set_sysctl("net.ipv6.conf.eth0.accept_dad", 1)
    d1 = r1.start_vrrpd([vr6(priority=200)])

    def vip_entry() -> dict[str, Any] | None:
        for a in r1.address_info():
            if a.get("family") == "inet6" and wire.same_ip(a["local"], VIP6_ADDR):
                return a
        return None

    first = wait_for(vip_entry, 10, interval=0.005, what="the IPv6 VIP on r1")
    assert not first.get("tentative"), f"VIP tentative when first seen: {first}"
    assert not first.get("dadfailed"), first
    d1.wait_state("gw", "MASTER", timeout=5)
    assert c1.ping(VIP6_ADDR, timeout=2)
    entry = vip_entry()
    assert entry is not None and not entry.get("tentative"), entry


def test_vips_back_after_link_flap_of_the_master(lab: Lab) -> None:
    r1, r2, d1, d2 = _pair(lab)
    wait_for(lambda: holders6(r1, r2) == ["r1"], 5, what="only r1 to hold the IPv6 VIP")
    # Linux flushes the IPv6 addresses of an interface set down (vrrpd may put them back at
    # once; what counts is that they are there when the link is up again).
    r1.link_set(False)
    d2.wait_state("gw", "MASTER", timeout=5)
    r1.link_set(True)
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    wait_for(lambda: holders6(r1, r2) == ["r1"], 10, what="r1 to hold the IPv6 VIP again")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    assert c1.ping(VIP6_ADDR, timeout=3)
    assert c1.neigh(VIP6_ADDR) == r1.mac
