"""IPv6 (RFC 5798 §5.1.2, §5.2.8, §5.2.9, §6.4, §7.3, §7.4, §8.2; RFC 9568 erratum 8300).

One lab, IPv6 only: r1 runs "gw6" (VRID 51, priority 200), "vm6" (VRID 52, use_vmac) and
"closed6" (VRID 53, accept_mode = false); r2 is the Backup of "gw6"; c1 is a host that
captures, pings and injects from its link-local address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import (
    GROUP6,
    WAIT,
    Marker,
    capture,
    check_discards,
    checksum_ok,
    counters,
    delta,
    discards,
    log_lines,
    vr,
    vrrp_message,
    wait_adverts,
    wait_counter,
    wait_received,
)

pytestmark = pytest.mark.netns

VIP6, VM_VIP6, CLOSED_VIP6 = "2001:db8::254", "2001:db8::253", "2001:db8::252"
VR_LL = wire.vr_link_local(51)  # fe80::200:5eff:fe00:233
VMAC6 = wire.vmac(6, 52)  # 00:00:5e:00:02:34


@dataclass
class Six:
    r1: Node
    r2: Node
    c1: Node
    d1: Vrrpd
    d2: Vrrpd
    cap: Capture
    inj: Injector
    ll1: str
    ll2: str
    marker: Marker  # a packet from c1, captured: everything before it is in the capture too

    def settled(self) -> None:
        self.d1.wait_states({"gw6": "MASTER", "vm6": "MASTER", "closed6": "MASTER"}, WAIT)
        self.d2.wait_state("gw6", "BACKUP", timeout=WAIT)
        wait_received(self.d2, 2, "gw6")
        assert self.d2.router("gw6")["master"] == self.ll1

    def gw_adverts(self, n: int = 3) -> list[Any]:
        return wait_adverts(self.cap, n, src=self.ll1, vrid=51)


@pytest.fixture(scope="module")
def six(lab: Lab) -> Iterator[Six]:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    r2 = lab.add_router("r2", None, "2001:db8::2/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    cap = capture(c1, "ip6 proto 112 or icmp6")
    d1 = r1.start_vrrpd(
        [
            vr(name="gw6", priority=200, virtual_ips=[f"{VIP6}/64"]),
            vr(name="vm6", vrid=52, priority=200, use_vmac=True, virtual_ips=[f"{VM_VIP6}/64"]),
            vr(
                name="closed6",
                vrid=53,
                priority=200,
                accept_mode=False,
                virtual_ips=[f"{CLOSED_VIP6}/64"],
            ),
        ]
    )
    d1.wait_states({"gw6": "MASTER", "vm6": "MASTER", "closed6": "MASTER"}, WAIT)
    d2 = r2.start_vrrpd([vr(name="gw6", priority=100, virtual_ips=[f"{VIP6}/64"])])
    ll1, ll2 = r1.link_local(), r2.link_local()
    assert ll1 and ll2
    inj = c1.injector(neighbours={ll1: r1.mac, ll2: r2.mac})
    s = Six(r1, r2, c1, d1, d2, cap, inj, ll1, ll2, Marker(inj, cap, VR_LL))
    s.settled()
    yield s
    inj.close()


def addresses(message: bytes) -> list[str]:
    return [str(IPv6Address(message[i : i + 16])) for i in range(8, len(message), 16)]


def test_v6_destination_group(six: Six) -> None:
    """§5.1.2.2 Adverts are sent to the IPv6 multicast address ff02::12."""
    ads = six.gw_adverts()
    assert {str(wire.ip_of(p).dst) for p in ads} == {GROUP6}
    assert {p.dst for p in ads} == {"33:33:00:00:00:12"}


def test_v6_hop_limit_255(six: Six) -> None:
    """§5.1.2.3 MUST send with hop limit 255."""
    assert {wire.ttl_of(p) for p in six.gw_adverts()} == {255}


def test_v6_next_header_112(six: Six) -> None:
    """§5.1.2.4 The IPv6 next header is 112."""
    assert {int(wire.ip_of(p).nh) for p in six.gw_adverts()} == {112}


def test_v6_source_link_local(six: Six) -> None:
    """§5.1.2.1 The source is the link-local address of the sending interface."""
    ads = [p for p in wire.adverts(six.cap.packets(), vrid=51) if p.src == six.r1.mac]
    assert ads
    assert {str(wire.ip_of(p).src) for p in ads} == {six.ll1}


def test_v6_first_address_link_local(six: Six) -> None:
    """§5.2.9 MUST: the first address is the virtual router's IPv6 link-local address."""
    for p in six.gw_adverts():
        m = vrrp_message(p)
        assert addresses(m) == [VR_LL, VIP6]
        assert m[3] == 2


def test_v6_checksum_pseudo_header(six: Six) -> None:
    """§5.2.8 The checksum includes the IPv6 pseudo-header."""
    ads = six.gw_adverts()
    assert all(checksum_ok(p, "pseudo") for p in ads)
    assert not any(checksum_ok(p, "plain") for p in ads)


def v6_discards(six: Six, packets: list[bytes], want: dict[str, int]) -> None:
    six.settled()
    check_discards(
        six.inj,
        (six.d1, six.d2),
        packets,
        want,
        base={"priority": 254, "interval": 10, "addresses": [VR_LL, VIP6]},
        noise=frozenset({"discard_vrid"}),  # r2 hears r1's other VRIDs
        name="gw6",
    )
    assert six.d1.router("gw6")["state"] == "MASTER"
    assert six.d2.router("gw6")["state"] == "BACKUP"


def test_v6_hop_limit_not_255_discarded(six: Six) -> None:
    """§7.1 MUST discard: IPv6 hop limit not 255 (§5.1.2.3)."""
    win = {"priority": 254, "interval": 10, "addresses": [VR_LL, VIP6]}
    v6_discards(six, [six.inj.craft(ttl=h, **win) for h in (254, 64, 1)], {"discard_ttl": 3})


def test_v6_checksum_verified(six: Six) -> None:
    """§7.1 MUST verify the checksum (IPv6: pseudo-header form only)."""
    win = {"priority": 254, "interval": 10, "addresses": [VR_LL, VIP6]}
    packets = [six.inj.craft(checksum="bad", **win), six.inj.craft(checksum="plain", **win)]
    v6_discards(six, packets, {"discard_checksum": 2})


def test_v6_first_address_not_link_local_accepted(six: Six) -> None:
    """§7.1 (erratum 8300) MUST discard IPv6 adverts whose first address is not link-local.

    Deviation: vrrpd accepts, counts and logs them (keepalived 2.2.7 sends such lists).
    """
    six.settled()
    before = counters(six.d1, "gw6")
    six.inj.advert(priority=50, dst=six.ll1, addresses=[VIP6])
    wait_counter(six.d1, "adverts_received", before["adverts_received"] + 1, "gw6")
    changed = delta(six.d1, before, "gw6")
    assert changed["address_list_mismatch"] == 1
    assert discards(changed) == {}
    assert log_lines(six.d1, "differs from ours")
    assert six.d1.router("gw6")["state"] == "MASTER"


def test_v6_unsolicited_na_on_master(six: Six) -> None:
    """§6.4.1/§6.4.2 MUST send unsolicited NAs (R=1, S=0, O=1) on becoming Master."""
    from scapy.layers.inet6 import ICMPv6ND_NA

    for target in (VR_LL, VIP6):
        nas = wait_for(
            lambda t=target: wire.unsolicited_nas(six.cap.packets(), t, six.r1.mac),
            WAIT,
            what=f"unsolicited NA for {target}",
        )
        for p in nas:
            na = p[ICMPv6ND_NA]
            assert (na.R, na.S, na.O) == (1, 0, 1)


def test_v6_na_physical_mac_by_default(six: Six) -> None:
    """§6.4.1 The NA's target link-layer address is the virtual MAC: not by default."""
    nas = wait_for(
        lambda: wire.unsolicited_nas(six.cap.packets(), VIP6), WAIT, what="unsolicited NA"
    )
    assert {(p.src, wire.na_lladdr(p)) for p in nas} == {(six.r1.mac, six.r1.mac)}


def test_v6_na_carries_vmac(six: Six) -> None:
    """§6.4.1 The NA's target link-layer address is the virtual MAC (use_vmac = true)."""
    nas = wait_for(
        lambda: wire.unsolicited_nas(six.cap.packets(), VM_VIP6, VMAC6),
        WAIT,
        what="unsolicited NA from the virtual MAC",
    )
    assert {wire.na_lladdr(p) for p in nas} == {VMAC6}


def test_v6_vmac_format(six: Six) -> None:
    """§7.3 The IPv6 virtual MAC is 00-00-5E-00-02-{VRID}."""
    ads = wait_adverts(six.cap, 3, vrid=52)
    assert {p.src for p in ads} == {VMAC6}
    assert [x["mac"] for x in six.r1.links() if x["kind"] == "macvlan"] == [VMAC6]


def test_v6_no_interface_identifier_from_vmac(six: Six) -> None:
    """§7.4 MUST NOT form interface identifiers from the virtual MAC."""
    (mv,) = [x for x in six.r1.links() if x["kind"] == "macvlan"]
    assert mv["addrgenmode"] == "none"
    # eth0 forms its link-local the normal way, from its own MAC ...
    assert six.ll1 == wire.eui64_link_local(six.r1.mac)
    # ... and the macvlan holds only the virtual router's configured addresses (the VR
    # link-local first, which vrrpd derives for the virtual router, not for the host).
    held = {a.split("/")[0] for a in six.r1.addresses(mv["ifname"])}
    assert held == {wire.vr_link_local(52), VM_VIP6}


def test_v6_master_answers_ns(six: Six) -> None:
    """§6.4.3 MUST respond to Neighbor Solicitations for the IPv6 VIPs."""
    six.c1.neigh_flush()
    assert six.c1.ping(VIP6, count=1)
    assert six.c1.neigh(VIP6) is not None


def test_v6_ns_answer_physical_mac_by_default(six: Six) -> None:
    """§8.2.2 MUST answer NS with the virtual MAC: not by default (use_vmac = false)."""
    six.c1.neigh_flush()
    assert six.c1.ping(VIP6, count=1)
    assert six.c1.neigh(VIP6) == six.r1.mac


def test_v6_backup_does_not_answer_ns(six: Six) -> None:
    """§6.4.2 MUST NOT respond to Neighbor Solicitations for the IPv6 VIPs while Backup."""
    from scapy.layers.inet6 import ICMPv6ND_NA

    six.c1.neigh_flush()
    assert six.c1.ping(VIP6, count=1)
    six.marker()
    nas = [
        p
        for p in six.cap.packets()
        if ICMPv6ND_NA in p and p[ICMPv6ND_NA].S == 1 and str(p[ICMPv6ND_NA].tgt) == VIP6
    ]
    assert nas
    assert {p.src for p in nas} == {six.r1.mac}


def test_v6_solicited_node_membership(six: Six) -> None:
    """§6.4.3 MUST join the Solicited-Node multicast group of each IPv6 VIP."""
    group = "ff02::1:ff00:254"  # solicited-node address of 2001:db8::254

    def groups(node: Node) -> str:
        return node.run(["ip", "-6", "maddr", "show", "dev", "eth0"]).stdout

    wait_for(lambda: group in groups(six.r1), WAIT, what="r1 in the solicited-node group")
    assert group not in groups(six.r2)


def test_v6_accept_mode_false_keeps_nd(six: Six) -> None:
    """§6.4.3 Accept_Mode False: MUST NOT drop Neighbor Solicitations and Advertisements.

    Other traffic to the VIP is dropped.
    """
    six.c1.neigh_flush()
    assert not six.c1.ping(CLOSED_VIP6, count=1, timeout=1.0)
    wait_for(lambda: six.c1.neigh(CLOSED_VIP6) == six.r1.mac, WAIT, what="ND for the VIP")


def test_v6_answers_ns_with_vmac(six: Six) -> None:
    """§8.2.2 MUST answer NS for a VIP with the virtual MAC, MUST NOT with the physical."""
    six.c1.neigh_flush()
    assert six.c1.ping(VM_VIP6, count=1)
    assert six.c1.neigh(VM_VIP6) == VMAC6


def test_v6_backup_sends_no_router_advertisements(six: Six) -> None:
    """§6.4.2 MUST NOT send ND Router Advertisements for the virtual router while Backup."""
    from scapy.layers.inet6 import ICMPv6ND_RA

    six.settled()
    six.marker()
    assert [p for p in six.cap.packets() if ICMPv6ND_RA in p and p.src == six.r2.mac] == []
