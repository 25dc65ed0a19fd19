"""Virtual MAC, ARP and Accept_Mode (RFC 5798 §6.4.1-§6.4.3, §7.2, §7.3, §8.1.2), IPv4.

One lab: r1 runs "gw" (VRID 51, priority 200, use_vmac), "closed" (VRID 52, priority 200,
accept_mode = false) and "owner" (VRID 53, priority 255, accept_mode = false); r2 is the
Backup of "gw" (use_vmac). c1 is a host: it pings, resolves and captures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import (
    VIP_ADDR,
    WAIT,
    Marker,
    capture,
    vr,
    wait_adverts,
)

pytestmark = pytest.mark.netns

R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"
CLOSED_VIP, OWNER_VIP = "192.0.2.253", "192.0.2.252"
VMAC = "00:00:5e:00:01:33"  # VRID 51


@dataclass
class L2:
    r1: Node
    r2: Node
    c1: Node
    d1: Vrrpd
    d2: Vrrpd
    cap: Capture
    inj: Injector
    marker: Marker  # a packet from c1, captured: everything before it is in the capture too


@pytest.fixture(scope="module")
def l2(lab: Lab) -> Iterator[L2]:
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    cap = capture(c1, "ip proto 112 or arp or icmp")
    d1 = r1.start_vrrpd(
        [
            vr(name="gw", priority=200, use_vmac=True),
            vr(
                name="closed",
                vrid=52,
                priority=200,
                accept_mode=False,
                virtual_ips=[f"{CLOSED_VIP}/24"],
            ),
            vr(
                name="owner",
                vrid=53,
                priority=255,
                accept_mode=False,
                virtual_ips=[f"{OWNER_VIP}/24"],
            ),
        ]
    )
    d1.wait_states({"gw": "MASTER", "closed": "MASTER", "owner": "MASTER"}, timeout=WAIT)
    d2 = r2.start_vrrpd([vr(name="gw", priority=100, use_vmac=True)])
    d2.wait_state("gw", "BACKUP", timeout=WAIT)
    inj = c1.injector()
    yield L2(r1, r2, c1, d1, d2, cap, inj, Marker(inj, cap, "192.0.2.99"))
    inj.close()


def arp_replies(l2: L2, ip: str) -> list[Any]:
    from scapy.layers.l2 import ARP

    return [p for p in l2.cap.packets() if ARP in p and p[ARP].op == 2 and p[ARP].psrc == ip]


def test_vmac_advert_source(l2: L2) -> None:
    """§7.2 MUST send adverts with the virtual MAC as source MAC (use_vmac = true)."""
    ads = wait_adverts(l2.cap, 3, src=R1, vrid=51)
    assert {p.src for p in ads} == {VMAC}


def test_vmac_format_ipv4(l2: L2) -> None:
    """§7.3 The IPv4 virtual MAC is 00-00-5E-00-01-{VRID}."""
    macvlans = [x for x in l2.r1.links() if x["kind"] == "macvlan"]
    assert [x["mac"] for x in macvlans] == [wire.vmac(4, 51)] == [VMAC]
    assert l2.r1.holders_of(VIP_ADDR) == [macvlans[0]["ifname"]]


def test_gratuitous_arp_carries_vmac(l2: L2) -> None:
    """§6.4.1/§6.4.2 MUST broadcast gratuitous ARP with the virtual MAC on becoming Master."""
    found = wait_for(
        lambda: wire.garps(l2.cap.packets(), VIP_ADDR, mac=VMAC), WAIT, what="GARP from vmac"
    )
    assert found
    assert wire.garps(l2.cap.packets(), VIP_ADDR, mac=l2.r1.mac) == []


def test_arp_reply_carries_vmac(l2: L2) -> None:
    """§8.1.2 MUST answer ARP for a VIP with the virtual MAC, MUST NOT with the physical."""
    l2.c1.neigh_flush()
    assert l2.c1.ping(VIP_ADDR, count=1)
    l2.marker()
    replies = arp_replies(l2, VIP_ADDR)
    assert replies
    assert {p.hwsrc for p in replies} == {VMAC}
    assert l2.c1.neigh(VIP_ADDR) == VMAC


def test_master_accepts_frames_to_vmac(l2: L2) -> None:
    """§6.4.3 MUST accept and forward packets sent to the virtual MAC (accepted here)."""
    l2.c1.run(["ip", "neigh", "replace", VIP_ADDR, "lladdr", VMAC, "dev", "eth0"])
    assert l2.c1.ping(VIP_ADDR, count=2)


def test_accept_mode_true_accepts(l2: L2) -> None:
    """§6.4.3 MUST accept packets addressed to the VIPs when Accept_Mode is True."""
    assert l2.d1.router("gw")["accept_mode"] is True
    assert l2.c1.ping(VIP_ADDR, count=1)


def echo_seen(node: Node, cap: Capture, dst: str, n: int) -> list[Any]:
    from scapy.layers.inet import ICMP, IP

    def found() -> list[Any] | None:
        got = [p for p in cap.packets() if ICMP in p and p[ICMP].type == 8 and p[IP].dst == dst]
        return got if len(got) >= n else None

    return wait_for(found, WAIT, what=f"{n} echo requests to {dst} at {node.name}")


def echo_replies(cap: Capture, src: str) -> list[Any]:
    from scapy.layers.inet import ICMP, IP

    return [p for p in cap.packets() if ICMP in p and p[ICMP].type == 0 and p[IP].src == src]


def test_accept_mode_false_drops(l2: L2) -> None:
    """§6.4.3 MUST NOT accept packets to the VIPs when neither owner nor Accept_Mode True."""
    cap = capture(l2.r1, "icmp")
    assert not l2.c1.ping(CLOSED_VIP, count=2, timeout=1.0)
    echo_seen(l2.r1, cap, CLOSED_VIP, 2)  # they did reach r1 ...
    assert echo_replies(cap, CLOSED_VIP) == []  # ... and nothing answered
    cap.stop()


def test_accept_mode_false_answers_arp(l2: L2) -> None:
    """§6.4.3 With Accept_Mode False the Master MUST still answer ARP for the VIPs."""
    l2.c1.neigh_flush()
    l2.c1.ping(CLOSED_VIP, count=1, timeout=1.0)
    wait_for(lambda: l2.c1.neigh(CLOSED_VIP) == l2.r1.mac, WAIT, what="ARP for the VIP")


def test_owner_accepts_with_accept_mode_false(l2: L2) -> None:
    """§6.4.3 MUST accept packets to the VIPs when it is the address owner."""
    assert l2.d1.router("owner")["accept_mode"] is False
    assert l2.c1.ping(OWNER_VIP, count=1)


def test_backup_does_not_accept_vip_traffic(l2: L2) -> None:
    """§6.4.2 MUST NOT accept packets addressed to the VIPs while Backup."""
    cap = capture(l2.r2, "icmp")
    l2.c1.run(["ip", "neigh", "replace", VIP_ADDR, "lladdr", l2.r2.mac, "dev", "eth0"])
    try:
        assert not l2.c1.ping(VIP_ADDR, count=2, timeout=1.0)
        echo_seen(l2.r2, cap, VIP_ADDR, 2)  # sent to r2's MAC, they reached r2 ...
        assert echo_replies(cap, VIP_ADDR) == []  # ... and r2 did not answer
    finally:
        l2.c1.run(["ip", "neigh", "del", VIP_ADDR, "dev", "eth0"], check=False)
        cap.stop()
    assert l2.d2.router("gw")["state"] == "BACKUP"
