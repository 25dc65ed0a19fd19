"""What a Master puts on the wire (RFC 5798 §5.1.1, §5.2, §6.4.1, §6.4.3, §7.2), IPv4.

One lab: r1 runs three virtual routers (gw: VRID 51, two VIPs; plain: VRID 52 with
checksum = "rfc9568"; owner: VRID 53, priority 255), r2 a backup of VRID 51, c1 captures
everything from before the daemons start. r1 has a secondary address too, so the source
address test can tell the primary from any other. The two shutdown tests run last.
"""

from __future__ import annotations

import itertools
import signal
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import (
    GROUP4,
    WAIT,
    Marker,
    adverts,
    capture,
    checksum_ok,
    log_time,
    vr,
    vrrp_message,
    wait_adverts,
)
from vrrpd.timing import master_down_interval

pytestmark = pytest.mark.netns

INTERVAL = 0.5
VIPS = ["192.0.2.254/24", "192.0.2.253/24"]
PLAIN_VIP = "192.0.2.252/24"
OWNER_VIP = "192.0.2.251/24"


@dataclass
class Wire:
    r1: Node
    r2: Node
    c1: Node
    d1: Vrrpd
    d2: Vrrpd
    cap: Capture
    inj: Injector
    marker: Marker  # a packet from c1, captured: everything before it is in the capture too


@pytest.fixture(scope="module")
def w(lab: Lab) -> Iterator[Wire]:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r1.run(["ip", "addr", "add", "192.0.2.9/24", "dev", "eth0"])  # a secondary address
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = capture(c1, "ip proto 112 or arp")
    common = {"priority": 200, "advert_interval": INTERVAL}
    d1 = r1.start_vrrpd(
        [
            vr(name="gw", vrid=51, virtual_ips=VIPS, **common),
            vr(name="plain", vrid=52, virtual_ips=[PLAIN_VIP], checksum="rfc9568", **common),
            vr(name="owner", vrid=53, virtual_ips=[OWNER_VIP], **{**common, "priority": 255}),
        ]
    )
    d1.wait_states({"gw": "MASTER", "plain": "MASTER", "owner": "MASTER"}, timeout=WAIT)
    d2 = r2.start_vrrpd([vr(name="gw", vrid=51, virtual_ips=VIPS, advert_interval=INTERVAL)])
    d2.wait_state("gw", "BACKUP", timeout=WAIT)
    wait_adverts(cap, 6, src="192.0.2.1", vrid=51)
    inj = c1.injector()
    yield Wire(r1, r2, c1, d1, d2, cap, inj, Marker(inj, cap, "192.0.2.99"))
    inj.close()


def gw_adverts(w: Wire, n: int = 3) -> list[Any]:
    return wait_adverts(w.cap, n, src="192.0.2.1", vrid=51)


def test_advert_destination_is_the_vrrp_group(w: Wire) -> None:
    """§5.1.1.2 Adverts are sent to the IPv4 multicast address 224.0.0.18."""
    ads = gw_adverts(w)
    assert {str(wire.ip_of(p).dst) for p in ads} == {GROUP4}
    assert {p.dst for p in ads} == {"01:00:5e:00:00:12"}


def test_advert_ttl_255(w: Wire) -> None:
    """§5.1.1.3 MUST send with IP TTL 255."""
    assert {wire.ttl_of(p) for p in gw_adverts(w)} == {255}


def test_advert_protocol_112(w: Wire) -> None:
    """§5.1.1.4 Adverts use IP protocol 112."""
    assert {int(wire.ip_of(p).proto) for p in gw_adverts(w)} == {112}


def test_advert_source_is_primary_address(w: Wire) -> None:
    """§5.1.1.1 The source is the primary IPv4 address of the sending interface."""
    assert w.r1.has_address("192.0.2.9")  # the secondary is there and never used
    ads = adverts(w.cap, vrid=51)
    sources = {str(wire.ip_of(p).src) for p in ads if p.src == w.r1.mac}
    assert sources == {"192.0.2.1"}


def test_advert_dscp_cs6(w: Wire) -> None:
    """RFC 4594 Network control traffic SHOULD be marked DSCP CS6."""
    assert {int(wire.ip_of(p).tos) for p in gw_adverts(w)} == {0xC0}


def test_advert_version_3_type_1(w: Wire) -> None:
    """§5.2.1/§5.2.2 Version 3, type 1 (ADVERTISEMENT)."""
    assert {vrrp_message(p)[0] for p in gw_adverts(w)} == {0x31}


def test_advert_vrid_and_priority_as_configured(w: Wire) -> None:
    """§5.2.3/§5.2.4 VRID and priority fields carry the configured values."""
    msgs = [vrrp_message(p) for p in gw_adverts(w)]
    assert {(m[1], m[2]) for m in msgs} == {(51, 200)}


def test_owner_advertises_priority_255(w: Wire) -> None:
    """§5.2.4 MUST: the address owner advertises priority 255."""
    msgs = [vrrp_message(p) for p in wait_adverts(w.cap, 3, src="192.0.2.1", vrid=53)]
    assert {m[2] for m in msgs} == {255}


def test_advert_count_is_number_of_addresses(w: Wire) -> None:
    """§5.2.5 Count IPvX Addrs is the number of addresses carried (minimum 1)."""
    for p in gw_adverts(w):
        m = vrrp_message(p)
        assert m[3] == len(VIPS) == (len(m) - 8) // 4


def test_advert_reserved_bits_zero(w: Wire) -> None:
    """§5.2.6 MUST set the reserved bits to zero on transmission."""
    assert {vrrp_message(p)[4] >> 4 for p in gw_adverts(w)} == {0}


def test_advert_interval_in_centiseconds(w: Wire) -> None:
    """§5.2.7 Max Adver Int is the configured Advertisement_Interval in centiseconds."""
    ints = {int.from_bytes(vrrp_message(p)[4:6], "big") & 0x0FFF for p in gw_adverts(w)}
    assert ints == {round(INTERVAL * 100)}


def test_advert_checksum_rfc5798_form(w: Wire) -> None:
    """§5.2.8 The checksum is valid; default form: RFC 5798 with the pseudo-header."""
    ads = gw_adverts(w)
    assert all(checksum_ok(p, "rfc5798") for p in ads)
    assert not any(checksum_ok(p, "rfc9568") for p in ads)


def test_advert_checksum_rfc9568_form(w: Wire) -> None:
    """§5.2.8 (RFC 9568) IPv4 checksum over the VRRP message only, when configured."""
    ads = wait_adverts(w.cap, 3, src="192.0.2.1", vrid=52)
    assert all(checksum_ok(p, "rfc9568") for p in ads)
    assert not any(checksum_ok(p, "rfc5798") for p in ads)


def test_advert_addresses_are_the_vips(w: Wire) -> None:
    """§5.2.9 The address list is the virtual router's IPv4 addresses."""
    want = b"".join(bytes(int(x) for x in v.split("/")[0].split(".")) for v in VIPS)
    assert {vrrp_message(p)[8:] for p in gw_adverts(w)} == {want}


def test_advert_source_mac_is_interface_mac_by_default(w: Wire) -> None:
    """§7.2 MUST use the virtual MAC as source MAC: not by default (use_vmac = false)."""
    assert {p.src for p in gw_adverts(w)} == {w.r1.mac}


def test_master_advertises_every_interval(w: Wire) -> None:
    """§6.4.3 Adver_Timer: the Master sends an advert every Advertisement_Interval."""
    ads = wait_adverts(w.cap, 12, src="192.0.2.1", vrid=51)
    times = sorted(float(p.time) for p in ads)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > INTERVAL * 0.5  # never early (a short gap is a timer bug)
    assert abs(statistics.median(gaps) - INTERVAL) < INTERVAL * 0.1


def test_backup_sends_no_adverts(w: Wire) -> None:
    """§6.4.2 A Backup sends no advertisements (only the Master does, §6.4.3)."""
    before = len(adverts(w.cap, vrid=51))
    wait_adverts(w.cap, before + 6, vrid=51)
    assert w.d2.router("gw")["state"] == "BACKUP"
    assert adverts(w.cap, src="192.0.2.2") == []


def test_owner_master_at_startup_without_waiting(w: Wire) -> None:
    """§6.4.1 MUST: the owner (priority 255) sends an advert and becomes Master at startup."""
    assert "gw: state INITIALIZE -> BACKUP reason=startup" in w.d1.log_text()
    assert "owner: state INITIALIZE -> MASTER reason=owner" in w.d1.log_text()
    first_owner = min(float(p.time) for p in adverts(w.cap, src="192.0.2.1", vrid=53))
    first_gw = min(float(p.time) for p in adverts(w.cap, src="192.0.2.1", vrid=51))
    # The non-owner waits a whole Master_Down_Interval (1.61 s) before its first advert.
    assert first_gw - first_owner > 1.0


def test_non_owner_waits_master_down_interval(w: Wire) -> None:
    """§6.4.1 MUST: a non-owner starts Backup, Master_Down_Timer = Master_Down_Interval."""
    backup_at = log_time(w.d1, "gw: state INITIALIZE -> BACKUP")
    first = min(float(p.time) for p in adverts(w.cap, src="192.0.2.1", vrid=51))
    mdi = float(master_down_interval(200, round(INTERVAL * 100), 3))  # 1.609 s
    # The log stamp is truncated to the millisecond and written just after the transition.
    assert first - backup_at >= mdi - 0.02


def test_gratuitous_arp_on_becoming_master(w: Wire) -> None:
    """§6.4.1/§6.4.2 MUST broadcast a gratuitous ARP for each VIP on becoming Master."""
    for vip in VIPS:
        addr = vip.split("/")[0]
        found = wait_for(
            lambda a=addr: wire.garps(w.cap.packets(), a) or None, WAIT, what=f"GARP {addr}"
        )
        assert all(p.dst == "ff:ff:ff:ff:ff:ff" for p in found)


def test_gratuitous_arp_physical_mac_by_default(w: Wire) -> None:
    """§6.4.1 The gratuitous ARP carries the virtual MAC: not by default (use_vmac = false)."""
    found = wait_for(lambda: wire.garps(w.cap.packets(), VIPS[0].split("/")[0]), WAIT, what="GARP")
    assert {(p.src, p.hwsrc) for p in found} == {(w.r1.mac, w.r1.mac)}


def arp_replies(w: Wire, vip: str) -> list[Any]:
    from scapy.layers.l2 import ARP

    return [p for p in w.cap.packets() if ARP in p and p[ARP].op == 2 and p[ARP].psrc == vip]


def test_master_answers_arp_for_vips(w: Wire) -> None:
    """§6.4.3 MUST respond to ARP requests for the IPv4 VIPs."""
    w.c1.neigh_flush()
    for vip in VIPS:
        addr = vip.split("/")[0]
        assert w.c1.ping(addr, count=1, timeout=2.0)
        assert w.c1.neigh(addr) is not None


def test_backup_does_not_answer_arp_for_vips(w: Wire) -> None:
    """§6.4.2 MUST NOT respond to ARP requests for the VIPs while Backup."""
    vip = VIPS[0].split("/")[0]
    w.c1.neigh_flush()
    assert w.c1.ping(vip, count=1, timeout=2.0)
    w.marker()  # any reply to the ARP request behind the ping is captured by now
    replies = arp_replies(w, vip)
    assert replies
    assert w.r2.mac not in {p.hwsrc for p in replies}
    assert w.r2.mac not in {p.src for p in replies}


def test_arp_reply_physical_mac_by_default(w: Wire) -> None:
    """§8.1.2 MUST answer ARP with the virtual MAC: not by default (use_vmac = false)."""
    vip = VIPS[1].split("/")[0]
    w.c1.neigh_flush()
    assert w.c1.ping(vip, count=1, timeout=2.0)
    w.marker()
    assert {p.hwsrc for p in arp_replies(w, vip)} == {w.r1.mac}
    assert w.c1.neigh(vip) == w.r1.mac


def test_backup_shutdown_sends_nothing(w: Wire) -> None:
    """§6.4.2 Shutdown in Backup: cancel Master_Down_Timer, go Initialize, send nothing."""
    w.d2.process.send_signal(signal.SIGTERM)
    assert w.d2.process.wait(timeout=WAIT) == 0
    assert "gw: state BACKUP -> INITIALIZE reason=shutdown" in w.d2.log_text()
    w.marker()  # whatever r2 sent before it exited is captured by now
    assert adverts(w.cap, src="192.0.2.2") == []


def test_master_shutdown_sends_priority_0(w: Wire) -> None:
    """§6.4.3 Shutdown: MUST cancel Adver_Timer and send one advert with priority 0."""
    w.d1.process.send_signal(signal.SIGTERM)
    assert w.d1.process.wait(timeout=WAIT) == 0
    w.marker()  # everything r1 sent before it exited is captured by now
    for vrid in (51, 52, 53):
        ads = adverts(w.cap, src="192.0.2.1", vrid=vrid)
        zero = [p for p in ads if vrrp_message(p)[2] == 0]
        assert len(zero) == 1
        last = max(float(p.time) for p in ads)
        assert float(zero[0].time) == last  # nothing after it: the Adver_Timer is cancelled
        assert checksum_ok(zero[0], "rfc9568" if vrid == 52 else "rfc5798")
