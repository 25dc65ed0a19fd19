"""Everything a virtual router puts on the wire, built once, pure: advertisements (whole
Ethernet frames for multicast, one payload per unicast peer), gratuitous ARP (RFC 5798
§6.4.1/§6.4.2, RFC 5227 §3), unsolicited Neighbor Advertisements (RFC 4861 §7.2.6) and Router
Advertisements (RFC 5798 §6.4.3, RFC 4861 §4.2).

Every frame is built with `struct` and our own codec, and checked byte for byte against
scapy (the tests' oracle) in tests/unit/test_frames.py: the daemon does not import scapy,
which would cost ~25 MiB and ~0.18 s of start-up (BENCHMARK.md). At run time only bytes are
sent: no per-packet work on the hot path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from . import packet
from .config import VirtualRouterConfig
from .receive import auth_data
from .types import IPAddress, IPInterface, vrrp_group

BROADCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES = IPv6Address("ff02::1")
ALL_NODES_MAC = "33:33:00:00:00:01"
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_ARP = 0x0806
IPPROTO_ICMPV6 = 58
ND_ROUTER_ADVERT = 134  # RFC 4861 §4.2
ND_NEIGHBOR_ADVERT = 136  # RFC 4861 §4.4
ND_OPT_SOURCE_LL = 1
ND_OPT_TARGET_LL = 2
ND_OPT_PREFIX = 3
NA_ROUTER, NA_OVERRIDE = 0x80000000, 0x20000000
PREFIX_ON_LINK = 0x80
RA_HOP_LIMIT = 64  # "Cur Hop Limit" advertised to hosts
# Router Advertisements (RFC 4861 §6.2.1 defaults: lifetime 3 x MaxRtrAdvInterval 600 s).
RA_ROUTER_LIFETIME = 1800


# --- advertisements -------------------------------------------------------------------------


def ip_packet(message: bytes, src: IPAddress, dst: IPAddress) -> bytes:
    """The whole IP packet carrying `message`: our header, TTL/hop limit 255, DSCP CS6."""
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        return packet.ipv4_header(src, dst, len(message)) + message
    if isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        return packet.ipv6_header(src, dst, len(message)) + message
    raise ValueError("source and destination must be of one family")


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def multicast_mac(addr: IPAddress) -> bytes:
    """The Ethernet destination of an IP multicast address (RFC 1112 §6.4, RFC 2464 §7)."""
    if isinstance(addr, IPv4Address):
        return bytes((0x01, 0x00, 0x5E)) + bytes((addr.packed[1] & 0x7F,)) + addr.packed[2:]
    return b"\x33\x33" + addr.packed[12:]


def ethernet_frame(src_mac: str, dst: IPAddress, ip: bytes) -> bytes:
    """An Ethernet frame carrying an IP packet to a multicast destination."""
    ethertype = ETH_P_IP if isinstance(dst, IPv4Address) else ETH_P_IPV6
    return multicast_mac(dst) + _mac_bytes(src_mac) + struct.pack("!H", ethertype) + ip


def unicast_payload(message: bytes, src: IPAddress, dst: IPAddress) -> bytes:
    """What the raw socket is handed for unicast: IPv4 with our own header, IPv6 the message."""
    return ip_packet(message, src, dst) if isinstance(dst, IPv4Address) else message


def advertisement(cfg: VirtualRouterConfig, priority: int) -> packet.Advertisement:
    """The advertisement a virtual router sends at `priority`."""
    return packet.Advertisement(
        version=cfg.version,
        vrid=cfg.vrid,
        priority=priority,
        interval_cs=cfg.advert_interval_cs,
        addresses=cfg.advert_addresses,
        auth_type=1 if cfg.auth_pass else 0,
        auth_data=auth_data(cfg.auth_pass) if cfg.version == 2 else b"",
    )


def advert_frames(
    cfg: VirtualRouterConfig, src: IPAddress, mac: str, priority: int
) -> list[tuple[IPAddress, bytes]]:
    """(destination, bytes) to send for `priority`: one multicast Ethernet frame, or one
    unicast payload per peer (the checksum covers the destination, so one each)."""
    adv = advertisement(cfg, priority)
    if cfg.unicast_peers:
        return [
            (peer, unicast_payload(packet.encode(adv, src, peer, cfg.checksum), src, peer))
            for peer in cfg.unicast_peers
        ]
    grp = vrrp_group(cfg.family)
    message = packet.encode(adv, src, grp, cfg.checksum)
    return [(grp, ethernet_frame(mac, grp, ip_packet(message, src, grp)))]


# --- announcements --------------------------------------------------------------------------


def _ether(dst: str, src: str, ethertype: int) -> bytes:
    return _mac_bytes(dst) + _mac_bytes(src) + struct.pack("!H", ethertype)


def _icmpv6(src: IPv6Address, body: bytes) -> bytes:
    """IPv6 header to all nodes, hop limit 255 (RFC 4861 §7.1.2), and the ICMPv6 message
    `body` (checksum field zero) with its checksum over the pseudo-header (RFC 4443 §2.3)."""
    pseudo = src.packed + ALL_NODES.packed + struct.pack("!I3xB", len(body), IPPROTO_ICMPV6)
    checksum = packet.internet_checksum(pseudo + body)
    message = body[:2] + struct.pack("!H", checksum) + body[4:]
    header = packet.ipv6_header(src, ALL_NODES, len(message), 255, 0, IPPROTO_ICMPV6)
    return header + message


def garp_frame(mac: str, vip: IPv4Address, sender: str | None = None) -> bytes:
    """An ARP request from the VIP to the VIP, broadcast: Linux hosts update an existing
    neighbour entry from it (and, with arp_accept, create one), as do switches' MAC tables.

    `mac` is the address announced for the VIP; `sender` the frame's Ethernet source when
    another host's address is announced (default: `mac`)."""
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1)  # Ethernet, IPv4, request
    arp += _mac_bytes(mac) + vip.packed + bytes(6) + vip.packed
    return _ether(BROADCAST, sender or mac, ETH_P_ARP) + arp


def na_frame(mac: str, source: IPv6Address, vip: IPv6Address, sender: str | None = None) -> bytes:
    """An unsolicited NA for `vip` to all nodes: Router and Override set, Solicited clear,
    with `mac` as the target link-layer address, so neighbours replace their entry at once.
    `sender` as for `garp_frame`."""
    body = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_ROUTER | NA_OVERRIDE) + vip.packed
    body += struct.pack("!BB", ND_OPT_TARGET_LL, 1) + _mac_bytes(mac)
    return _ether(ALL_NODES_MAC, sender or mac, ETH_P_IPV6) + _icmpv6(source, body)


def announce_frame(
    vip: IPInterface, mac: str, primary: IPAddress, sender: str | None = None
) -> bytes:
    """The gratuitous ARP (IPv4) or unsolicited NA (IPv6, from `primary`) for one address."""
    if isinstance(vip.ip, IPv4Address):
        return garp_frame(mac, vip.ip, sender)
    assert isinstance(primary, IPv6Address)
    return na_frame(mac, primary, vip.ip, sender)


def ra_frame(
    mac: str, source: IPv6Address, prefixes: list[tuple[IPv6Address, int]], lifetime: int
) -> bytes:
    """An ND Router Advertisement for the virtual router (RFC 5798 §6.4.3, RFC 4861 §4.2):
    from its link-local address and MAC, with `lifetime` seconds as a default router (0:
    "no longer a router", RFC 4861 §6.2.5) and medium preference (RFC 4191), and each virtual
    prefix as on-link (no autoconfiguration; valid for `lifetime`, preferred for 0)."""
    body = struct.pack("!BBHBBHII", ND_ROUTER_ADVERT, 0, 0, RA_HOP_LIMIT, 0, lifetime, 0, 0)
    body += struct.pack("!BB", ND_OPT_SOURCE_LL, 1) + _mac_bytes(mac)
    for prefix, length in prefixes:
        body += struct.pack("!BBBBIII", ND_OPT_PREFIX, 4, length, PREFIX_ON_LINK, lifetime, 0, 0)
        body += prefix.packed
    return _ether(ALL_NODES_MAC, mac, ETH_P_IPV6) + _icmpv6(source, body)


def ra_frames(cfg: VirtualRouterConfig, mac: str) -> dict[int, bytes]:
    """Router lifetime -> RA frame (RA_ROUTER_LIFETIME and 0), or {} when RAs are off."""
    first = cfg.virtual_ips[0].ip  # IPv6: the virtual router's link-local address
    if not cfg.router_advertisements or not isinstance(first, IPv6Address):
        return {}
    prefixes = sorted(
        {
            (v.network.network_address, v.network.prefixlen)
            for v in cfg.virtual_ips
            if isinstance(v.network.network_address, IPv6Address)
            and not v.ip.is_link_local
            and v.network.prefixlen < 128
        }
    )
    return {
        lifetime: ra_frame(mac, first, list(prefixes), lifetime)
        for lifetime in (RA_ROUTER_LIFETIME, 0)
    }


@dataclass
class Frames:
    """One virtual router's frames for its current configuration, source and MAC."""

    cfg: VirtualRouterConfig
    src: IPAddress  # advertisements' source
    primary: IPAddress  # the interface's primary address (IPv6 NAs' source)
    mac: str
    announce: dict[IPInterface, bytes] = field(init=False)
    ra: dict[int, bytes] = field(init=False)
    _adverts: dict[int, list[tuple[IPAddress, bytes]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.announce = {
            vip: announce_frame(vip, self.mac, self.primary) for vip in self.cfg.virtual_ips
        }
        self.ra = ra_frames(self.cfg, self.mac)

    def advert(self, priority: int) -> list[tuple[IPAddress, bytes]]:
        """Built on first use per priority, then cached."""
        cached = self._adverts.get(priority)
        if cached is None:
            cached = self._adverts[priority] = advert_frames(self.cfg, self.src, self.mac, priority)
        return cached

    def announcements(self, vips: tuple[IPInterface, ...]) -> list[bytes]:
        return [self.announce[v] for v in vips if v in self.announce]
