"""ND Router Advertisements for an IPv6 virtual router (RFC 5798 §6.4.2, §6.4.3; RFC 4861
§6.2.5), with `router_advertisements = true`.

r1 (priority 200) and r2 (priority 100) run "gw6" (VRID 51, 2001:db8::fe/64); c1 captures.
"""

from __future__ import annotations

from typing import Any

import pytest

from netns_lab import wire
from netns_lab.lab import Lab, wait_for
from tests.helpers import vr

pytestmark = pytest.mark.netns

VR_LL = wire.vr_link_local(51)


def _ras(packets: list[Any], mac: str, lifetime: int, source: str = VR_LL) -> list[Any]:
    from scapy.layers.inet6 import ICMPv6ND_RA, IPv6
    from scapy.layers.l2 import Ether

    return [
        p
        for p in packets
        if ICMPv6ND_RA in p
        and p[Ether].src == mac
        and wire.same_ip(p[IPv6].src, source)
        and p[IPv6].hlim == 255
        and p[ICMPv6ND_RA].routerlifetime == lifetime
    ]


def test_master_sends_router_advertisements_backup_none(lab: Lab) -> None:
    """§6.4.3 MUST send ND Router Advertisements for the virtual router."""
    from scapy.layers.inet6 import ICMPv6NDOptPrefixInfo

    r1 = lab.add_router("r1", None, ipv6="2001:db8::1/64")
    r2 = lab.add_router("r2", None, ipv6="2001:db8::2/64")
    c1 = lab.add_client("c1", None, ipv6="2001:db8::100/64")
    cap = c1.capture("icmp6")
    table = {
        "name": "gw6",
        "virtual_ips": ["2001:db8::fe/64"],
        "router_advertisements": True,
    }
    d1 = r1.start_vrrpd([vr(priority=200, **table)])
    d2 = r2.start_vrrpd([vr(priority=100, **table)])
    d1.wait_state("gw6", "MASTER", timeout=15)
    d2.wait_state("gw6", "BACKUP", timeout=15)
    (ra, *_) = cap.wait_packets(
        lambda p: bool(_ras([p], r1.mac, 1800)), 1, 10, "an RA from the master r1"
    )
    info = ra[ICMPv6NDOptPrefixInfo]
    assert (info.prefix, info.prefixlen, info.L, info.A) == ("2001:db8::", 64, 1, 0)
    # r2 was briefly master before r1 preempted; once Backup it must be silent: its last RA
    # says "no longer a router" (lifetime 0), and no lifetime-1800 RA follows it.
    wait_for(
        lambda: bool(_ras(cap.packets(), r2.mac, 0)) or not _ras(cap.packets(), r2.mac, 1800),
        5,
        what="r2 silent or retracted",
    )
    d1.stop()
    cap.wait_packets(lambda p: bool(_ras([p], r1.mac, 0)), 1, 10, "r1's lifetime-0 RA at stop")
    d2.wait_state("gw6", "MASTER", timeout=10)
    cap.wait_packets(lambda p: bool(_ras([p], r2.mac, 1800)), 1, 10, "an RA from the new master")
    cap.stop()


def test_backup_sends_no_router_advertisement(lab: Lab) -> None:
    """§6.4.2 A Backup with router_advertisements on sends none (only the Master does)."""
    # The lab is shared with the test above (its routers still run VRID 51): new nodes, VRID 52.
    r3 = lab.add_router("r3", None, ipv6="2001:db8::3/64")
    r4 = lab.add_router("r4", None, ipv6="2001:db8::4/64")
    c2 = lab.add_client("c2", None, ipv6="2001:db8::101/64")
    table = {
        "name": "gw6b",
        "vrid": 52,
        "virtual_ips": ["2001:db8::fd/64"],
        "router_advertisements": True,
    }
    ll = wire.vr_link_local(52)
    d3 = r3.start_vrrpd([vr(priority=200, **table)])
    d3.wait_state("gw6b", "MASTER", timeout=15)
    cap = c2.capture("icmp6")
    d4 = r4.start_vrrpd([vr(priority=100, **table)])
    d4.wait_state("gw6b", "BACKUP", timeout=15)
    cap.wait_packets(lambda p: bool(_ras([p], r3.mac, 1800, ll)), 1, 10, "an RA from r3")
    # r3's start-up RAs come 4 s apart; r4 has been a Backup for at least that long once it
    # has heard 60 adverts at 0.1 s.
    wait_for(
        lambda: d4.router("gw6b")["counters"]["adverts_received"] >= 60,
        20,
        what="r4 to hear 60 adverts of r3",
    )
    assert not _ras(cap.packets(), r4.mac, 1800, ll)
    assert not _ras(cap.packets(), r4.mac, 0, ll)
    cap.stop()
