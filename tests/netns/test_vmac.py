"""Virtual MAC (use_vmac): a macvlan with 00:00:5e:00:01:{VRID} holds the VIPs; clients keep
that MAC across a failover; ARP sysctls; no IPv6 interface id from the virtual MAC; removed on
SIGTERM."""

from __future__ import annotations

from typing import Any

from netns_lab import wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import VIP_ADDR, master_and_backup, vr

VMAC4 = wire.vmac(4, 51)  # 00:00:5e:00:01:33
VMAC6 = wire.vmac(6, 51)  # 00:00:5e:00:02:33
VIP6 = "2001:db8::254/64"
VIP6_ADDR = VIP6.split("/")[0]


def vmac_link(node: Node, d: Vrrpd, name: str = "gw") -> dict[str, Any]:
    """The macvlan vrrpd reports for `name`, checked to exist."""
    ifname = wait_for(
        lambda: d.router(name).get("vmac"), 5, what=f"{node.name}/{name} to report its vmac"
    )
    link = wait_for(lambda: node.link(ifname), 5, what=f"macvlan {ifname} in {node.name}")
    return link


def test_client_keeps_the_virtual_mac_across_failover(lab: Lab) -> None:
    r1, r2, d1, d2 = master_and_backup(lab, use_vmac=True)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    link = vmac_link(r1, d1)
    assert (link["kind"], link["mode"], link["mac"], link["parent"]) == (
        "macvlan",
        "bridge",
        VMAC4,
        "eth0",
    ), link
    assert link["up"]
    wait_for(
        lambda: r1.holders_of(VIP_ADDR) == [link["ifname"]],
        5,
        what=f"the VIP on {link['ifname']} only (not on eth0)",
    )
    cap = c1.capture("arp or ip proto 112")
    ads = cap.wait_packets(
        lambda p: bool(wire.adverts([p], src="192.0.2.1")), 2, 5, "adverts from r1"
    )
    assert {p.src for p in ads} == {VMAC4}, "adverts must come from the virtual MAC"

    assert c1.ping(VIP_ADDR, timeout=3)
    assert c1.neigh(VIP_ADDR) == VMAC4  # ARP answered with the virtual MAC, not eth0's

    assert d1.stop() == 0  # graceful: priority 0, macvlan removed
    d2.wait_state("gw", "MASTER", timeout=5)
    wait_for(lambda: r1.link(link["ifname"]) is None, 5, what="r1's macvlan to be removed")
    assert not r1.holders_of(VIP_ADDR)
    # r2's gratuitous ARP: Ethernet source and ARP sender both the virtual MAC.
    cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, VMAC4)), 1, 5, "a GARP from vmac")
    link2 = vmac_link(r2, d2)
    assert link2["mac"] == VMAC4
    wait_for(lambda: r2.holders_of(VIP_ADDR) == [link2["ifname"]], 5, what="the VIP on r2's vmac")
    assert c1.neigh(VIP_ADDR) == VMAC4  # unchanged across the failover
    assert c1.ping(VIP_ADDR, timeout=3)  # ... and it reaches r2 now
    assert c1.neigh(VIP_ADDR) == VMAC4
    cap.stop()


def test_vmac_sysctls_no_ipv6_interface_id_and_removed_on_sigterm(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    before = {k: r1.conf_sysctl("eth0", k) for k in ("arp_ignore", "arp_announce")}
    d1 = r1.start_vrrpd([vr(priority=200, use_vmac=True)])
    d1.wait_state("gw", "MASTER", timeout=10)
    link = vmac_link(r1, d1)
    ifname = link["ifname"]

    def arp_sysctls() -> dict[str, tuple[str, str]]:
        return {
            i: (r1.conf_sysctl(i, "arp_ignore"), r1.conf_sysctl(i, "arp_announce"))
            for i in ("eth0", ifname)
        }

    try:
        wait_for(lambda: set(arp_sysctls().values()) == {("1", "2")}, 5, what="ARP sysctls")
    except TimeoutError:
        raise AssertionError(f"(arp_ignore, arp_announce) by interface: {arp_sysctls()}") from None
    # RFC 5798 §7.4: the virtual MAC never forms an IPv6 interface identifier.
    derived = wire.eui64_link_local(VMAC4)
    assert link["addrgenmode"] in ("none", "random", None), link["addrgenmode"]
    addrs = r1.all_addresses()
    assert not any(wire.same_ip(a, derived) for a in addrs.get(ifname, [])), addrs
    assert not any(wire.same_ip(a, derived) for a in addrs.get("eth0", [])), addrs

    assert d1.stop() == 0
    assert r1.link(ifname) is None, "the macvlan must be removed on SIGTERM"
    assert not r1.holders_of(VIP_ADDR)
    after = {k: r1.conf_sysctl("eth0", k) for k in ("arp_ignore", "arp_announce")}
    assert after == before, "eth0's ARP sysctls restored on exit"


def test_ipv6_vmac(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    d1 = r1.start_vrrpd([vr(priority=200, use_vmac=True, virtual_ips=[VIP6])])
    d1.wait_state("gw", "MASTER", timeout=10)
    link = vmac_link(r1, d1)
    assert (link["kind"], link["mac"], link["parent"]) == ("macvlan", VMAC6, "eth0"), link
    wait_for(
        lambda: r1.holders_of(VIP6_ADDR) == [link["ifname"]], 5, what="the IPv6 VIP on the vmac"
    )
    assert c1.ping(VIP6_ADDR, timeout=3)
    assert c1.neigh(VIP6_ADDR) == VMAC6
    assert d1.stop() == 0
    assert r1.link(link["ifname"]) is None
