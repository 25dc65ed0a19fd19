"""Send hand-made VRRP adverts (IPv4 or IPv6, v2 or v3) as whole Ethernet frames, with scapy.

    ip netns exec NS python -m netns_lab.inject --iface eth0 --family 6 \\
        --src fe80::1 --vip 2001:db8::254 --priority 254 --hlim 64 --count 3

scapy builds the frame, not vrrpd's codec: these adverts are an independent oracle of the
wire format (scapy computes the v3 checksum with the IPv4/IPv6 pseudo-header, the v2 checksum
over the VRRP message only). Everything a receiver must check can be set wrong on purpose:
TTL / hop limit, version, interval, authentication, checksum. `tools/vrrp_inject.py` does
IPv4 only, with vrrpd's codec and unicast destinations; this is its L2 counterpart.

Destination: 224.0.0.18 / ff02::12 by default, to the matching multicast MAC; a unicast
`--dst` needs `--dst-mac`.
"""

from __future__ import annotations

import argparse
import sys
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

VRRP_GROUP_V4 = "224.0.0.18"
VRRP_GROUP_V6 = "ff02::12"


def multicast_mac(dst: str) -> str:
    """The Ethernet multicast address of an IPv4/IPv6 multicast group (RFC 1112, RFC 2464)."""
    ip = ip_address(dst)
    if isinstance(ip, IPv4Address):
        b = ip.packed
        return f"01:00:5e:{b[1] & 0x7F:02x}:{b[2]:02x}:{b[3]:02x}"
    b = ip.packed
    return "33:33:" + ":".join(f"{x:02x}" for x in b[12:])


def auth_words(password: str) -> tuple[int, int]:
    """A VRRPv2 simple-text password (RFC 2338 §5.3.6: up to 8 octets, zero padded) as the two
    32-bit words of scapy's ``auth1``/``auth2``."""
    raw = password.encode()
    if len(raw) > 8:
        raise ValueError(f"password longer than 8 octets: {password!r}")
    raw = raw.ljust(8, b"\0")
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")


def build(
    *,
    family: int,
    src: str,
    vips: list[str],
    src_mac: str | None = None,
    dst: str | None = None,
    dst_mac: str | None = None,
    version: int = 3,
    vrid: int = 51,
    priority: int = 254,
    interval: float = 1.0,
    ttl: int = 255,
    auth_type: int | None = None,
    password: str | None = None,
    bad_checksum: bool = False,
) -> Any:
    """One Ether/IP|IPv6/VRRP frame (a scapy packet). `interval` is in seconds: whole seconds
    for v2 (the field's unit), centiseconds on the wire for v3."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.layers.vrrp import VRRP, VRRPv3

    dst = dst or (VRRP_GROUP_V4 if family == 4 else VRRP_GROUP_V6)
    if dst_mac is None:
        if not ip_address(dst).is_multicast:
            raise ValueError("a unicast --dst needs --dst-mac")
        dst_mac = multicast_mac(dst)
    ether = Ether(dst=dst_mac, src=src_mac) if src_mac else Ether(dst=dst_mac)
    if family == 4:
        l3: Any = IP(src=src, dst=dst, ttl=ttl, tos=0xC0, proto=112)
    else:
        l3 = IPv6(src=src, dst=dst, hlim=ttl, nh=112, tc=0xC0)
    if version == 2:
        if family != 4:
            raise ValueError("VRRPv2 is IPv4 only")
        a1, a2 = auth_words(password) if password is not None else (0, 0)
        atype = auth_type if auth_type is not None else (1 if password is not None else 0)
        vrrp: Any = VRRP(
            version=2,
            vrid=vrid,
            priority=priority,
            authtype=atype,
            adv=round(interval),
            addrlist=vips,
            auth1=a1,
            auth2=a2,
        )
    else:
        vrrp = VRRPv3(version=3, vrid=vrid, priority=priority, adv=round(interval * 100))
        vrrp.addrlist = vips
    frame = ether / l3 / vrrp
    if bad_checksum:
        built = frame.__class__(bytes(frame))
        good = built[VRRP if version == 2 else VRRPv3].chksum
        built[VRRP if version == 2 else VRRPv3].chksum = good ^ 0xFFFF
        frame = built
    return frame


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--family", type=int, choices=[4, 6], default=4)
    p.add_argument("--src", required=True, help="source address (IPv6: a link-local)")
    p.add_argument("--src-mac", help="source MAC (default: the interface's)")
    p.add_argument("--dst", help="default 224.0.0.18 / ff02::12")
    p.add_argument("--dst-mac", help="needed for a unicast --dst")
    p.add_argument("--version", type=int, choices=[2, 3], default=3)
    p.add_argument("--vrid", type=int, default=51)
    p.add_argument("--priority", type=int, default=254)
    p.add_argument("--interval", type=float, default=1.0, help="seconds (default 1)")
    p.add_argument("--vip", action="append", required=True, help="repeat for several")
    p.add_argument("--ttl", "--hlim", dest="ttl", type=int, default=255)
    p.add_argument("--auth-type", type=int, help="v2: default 1 with --password, else 0")
    p.add_argument("--password", help="v2 simple-text password (up to 8 characters)")
    p.add_argument("--bad-checksum", action="store_true")
    p.add_argument("--count", type=int, default=1)
    args = p.parse_args(argv)
    for a in [args.src, *args.vip]:
        want = IPv4Address if args.family == 4 else IPv6Address
        if not isinstance(ip_address(a), want):
            p.error(f"{a} is not an IPv{args.family} address")
    from scapy.arch import get_if_hwaddr

    frame = build(
        family=args.family,
        src=args.src,
        vips=args.vip,
        src_mac=args.src_mac or get_if_hwaddr(args.iface),
        dst=args.dst,
        dst_mac=args.dst_mac,
        version=args.version,
        vrid=args.vrid,
        priority=args.priority,
        interval=args.interval,
        ttl=args.ttl,
        auth_type=args.auth_type,
        password=args.password,
        bad_checksum=args.bad_checksum,
    )
    from scapy.sendrecv import sendp

    sendp(frame, iface=args.iface, count=args.count, verbose=False)
    print(f"sent {args.count} x {len(bytes(frame))} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
