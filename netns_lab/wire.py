"""What the lab's captures hold, as pure functions over scapy packets (from `Capture`).

Gratuitous ARP, unsolicited neighbour advertisements and VRRP adverts, picked out of a list of
captured frames; `bursts` groups times into bursts. scapy is the oracle here, never vrrpd's own
codec: a bug in the codec must not hide itself in the test that checks the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import ip_address
from typing import Any

BROADCAST = "ff:ff:ff:ff:ff:ff"


def vmac(family: int, vrid: int) -> str:
    """RFC 5798 §7.3: 00:00:5e:00:01:{VRID} (IPv4), 00:00:5e:00:02:{VRID} (IPv6)."""
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


def vr_link_local(vrid: int) -> str:
    """The link-local vrrpd derives for an IPv6 VR: fe80::/64 + EUI-64 of the IPv6 vmac."""
    return f"fe80::200:5eff:fe00:2{vrid:02x}"


def eui64_link_local(mac: str) -> str:
    """The link-local the kernel would form from `mac` (modified EUI-64, RFC 4291 App. A)."""
    b = bytearray(int(x, 16) for x in mac.split(":"))
    b[0] ^= 0x02
    iid = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ip_address(b"\xfe\x80" + bytes(6) + iid))


def same_ip(a: str, b: str) -> bool:
    return ip_address(str(a).split("/")[0]) == ip_address(str(b).split("/")[0])


def garps(packets: Iterable[Any], vip: str, mac: str | None = None) -> list[Any]:
    """Gratuitous ARP requests for `vip` (sender = target = VIP, broadcast), from `mac`."""
    from scapy.layers.l2 import ARP, Ether

    return [
        p
        for p in packets
        if ARP in p
        and p[ARP].op == 1
        and p[ARP].psrc == vip == p[ARP].pdst
        and p[Ether].dst == BROADCAST
        and (mac is None or (p[ARP].hwsrc == mac and p[Ether].src == mac))
    ]


def unsolicited_nas(packets: Iterable[Any], target: str, mac: str | None = None) -> list[Any]:
    """Neighbour advertisements for `target` sent to ff02::1 (unsolicited), by `mac` about
    itself (Ethernet source and target link-layer address both `mac`)."""
    from scapy.layers.inet6 import ICMPv6ND_NA, IPv6
    from scapy.layers.l2 import Ether

    return [
        p
        for p in packets
        if ICMPv6ND_NA in p
        and same_ip(p[ICMPv6ND_NA].tgt, target)
        and same_ip(p[IPv6].dst, "ff02::1")
        and (mac is None or (p[Ether].src == mac and na_lladdr(p) == mac))
    ]


def na_lladdr(p: Any) -> str | None:
    """The target link-layer address option of an NA, or None."""
    from scapy.layers.inet6 import ICMPv6NDOptDstLLAddr

    return str(p[ICMPv6NDOptDstLLAddr].lladdr) if ICMPv6NDOptDstLLAddr in p else None


def vrrp_layer(p: Any) -> Any | None:
    """The VRRP (v2) or VRRPv3 layer of a frame, or None."""
    from scapy.layers.vrrp import VRRP, VRRPv3

    if VRRPv3 in p:
        return p[VRRPv3]
    if VRRP in p:
        return p[VRRP]
    return None


def adverts(
    packets: Iterable[Any], *, src: str | None = None, vrid: int | None = None
) -> list[Any]:
    """VRRP adverts (IPv4 or IPv6), optionally only from IP source `src` and for `vrid`."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    out = []
    for p in packets:
        v = vrrp_layer(p)
        if v is None:
            continue
        ip = p[IP] if IP in p else p[IPv6]
        if src is not None and not same_ip(ip.src, src):
            continue
        if vrid is not None and v.vrid != vrid:
            continue
        out.append(p)
    return out


def ip_of(p: Any) -> Any:
    """The IPv4 or IPv6 layer of a frame."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    return p[IP] if IP in p else p[IPv6]


def ttl_of(p: Any) -> int:
    from scapy.layers.inet import IP

    return int(p[IP].ttl) if IP in p else int(ip_of(p).hlim)


def internet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vrrp_bytes(p: Any) -> bytes:
    """The VRRP message as sent: sized from the IP length, never from the frame (veth frames
    are not padded, but a padded frame must not add bytes)."""
    from scapy.layers.inet import IP

    ip = ip_of(p)
    raw = bytes(ip.payload)
    if IP in p:
        return raw[: int(ip.len) - int(ip.ihl) * 4]
    return raw[: int(ip.plen)]


def times(packets: Sequence[Any]) -> list[float]:
    return [float(p.time) for p in packets]


def bursts(ts: Iterable[float], gap: float) -> list[list[float]]:
    """Group sorted times into bursts: a new burst starts after a silence longer than `gap`."""
    out: list[list[float]] = []
    for t in sorted(ts):
        if out and t - out[-1][-1] <= gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out
