"""Frames put on the wire as they are: gratuitous ARP (RFC 5798 §6.4.1/§6.4.2, RFC 5227 §3),
unsolicited Neighbor Advertisements (RFC 5798 §6.4.1, RFC 4861 §7.2.6), and multicast
advertisements, all sent on one AF_PACKET socket per interface.

ARP and NA frames are built once with scapy (only the layers used are imported) when a virtual
router is set up; at run time only bytes are sent: no scapy on the hot path.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address

from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether

BROADCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES = "ff02::1"


def garp_frame(mac: str, vip: IPv4Address, sender: str | None = None) -> bytes:
    """An ARP request from the VIP to the VIP, broadcast: Linux hosts update an existing
    neighbour entry from it (and, with arp_accept, create one), as do switches' MAC tables.

    `mac` is the address announced for the VIP; `sender` the frame's Ethernet source when
    another host's address is announced (default: `mac`)."""
    frame = Ether(src=sender or mac, dst=BROADCAST) / ARP(
        op=1, hwsrc=mac, psrc=str(vip), hwdst="00:00:00:00:00:00", pdst=str(vip)
    )
    return bytes(frame)


def na_frame(mac: str, source: IPv6Address, vip: IPv6Address, sender: str | None = None) -> bytes:
    """An unsolicited NA for `vip` to all nodes: Router and Override set, Solicited clear,
    with `mac` as the target link-layer address, so neighbours replace their entry at once.
    `sender` as for `garp_frame`."""
    frame = (
        Ether(src=sender or mac, dst="33:33:00:00:00:01")
        / IPv6(src=str(source), dst=ALL_NODES, hlim=255)
        / ICMPv6ND_NA(R=1, S=0, O=1, tgt=str(vip))
        / ICMPv6NDOptDstLLAddr(lladdr=mac)
    )
    return bytes(frame)


def ra_frame(
    mac: str, source: IPv6Address, prefixes: list[tuple[IPv6Address, int]], lifetime: int
) -> bytes:
    """An ND Router Advertisement for the virtual router (RFC 5798 §6.4.3, RFC 4861 §4.2):
    from its link-local address and MAC, with `lifetime` seconds as a default router (0:
    "no longer a router"), and each virtual prefix as on-link (no autoconfiguration)."""
    frame = (
        Ether(src=mac, dst="33:33:00:00:00:01")
        / IPv6(src=str(source), dst=ALL_NODES, hlim=255)
        / ICMPv6ND_RA(chlim=64, routerlifetime=lifetime)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )
    for prefix, length in prefixes:
        frame /= ICMPv6NDOptPrefixInfo(
            prefix=str(prefix),
            prefixlen=length,
            L=1,
            A=0,
            validlifetime=lifetime or 0,
            preferredlifetime=0,
        )
    return bytes(frame)


class Announcer:
    """One packet socket on one interface; sends frames as given."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.bind((ifname, 0))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def send(self, frames: list[bytes]) -> int:
        """Send each frame once; return how many could not be queued (link down, ...)."""
        failed = 0
        for frame in frames:
            try:
                self.sock.send(frame)
            except OSError:
                failed += 1
        return failed

    def close(self) -> None:
        self.sock.close()
