"""Send hand-made VRRP advertisements, valid or not, for tests and experiments.

    ip netns exec NS python tools/vrrp_inject.py --iface eth0 --src 192.0.2.100 \
        --vrid 51 --priority 254 --vip 192.0.2.254 --ttl 64 --count 5

Builds the message with vrrpd's own codec, then breaks what it is asked to break (TTL,
checksum, version, ...), and sends it on a protocol-112 raw socket with our own IP header.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
from ipaddress import IPv4Address

from vrrpd import packet
from vrrpd.io import rawsock


def build(args: argparse.Namespace) -> bytes:
    adv = packet.Advertisement(
        version=args.version,
        vrid=args.vrid,
        priority=args.priority,
        interval_cs=args.interval_cs,
        addresses=tuple(IPv4Address(v) for v in args.vip),
    )
    form = packet.ChecksumForm(args.checksum_form)
    message = bytearray(packet.encode(adv, args.src, args.dst, form))
    if args.bad_checksum:
        message[6] ^= 0xFF
    if args.type is not None:
        message[0] = (message[0] & 0xF0) | args.type
    if args.truncate is not None:
        del message[args.truncate :]
    header = packet.ipv4_header(args.src, args.dst, len(message), ttl=args.ttl)
    return header + bytes(message)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--src", type=IPv4Address, required=True)
    p.add_argument("--dst", type=IPv4Address, default=rawsock.VRRP_GROUP_V4)
    p.add_argument("--vrid", type=int, default=51)
    p.add_argument("--priority", type=int, default=254)
    p.add_argument("--interval-cs", type=int, default=100)
    p.add_argument("--version", type=int, choices=[2, 3], default=3)
    p.add_argument("--vip", action="append", required=True, help="repeat for several")
    p.add_argument("--ttl", type=int, default=255)
    p.add_argument("--bad-checksum", action="store_true")
    p.add_argument("--checksum-form", choices=["rfc5798", "rfc9568"], default="rfc5798")
    p.add_argument("--type", type=int, help="override the 4-bit type field")
    p.add_argument("--truncate", type=int, help="cut the VRRP message to this many bytes")
    p.add_argument("--count", type=int, default=1)
    args = p.parse_args(argv)
    datagram = build(args)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, packet.IPPROTO_VRRP) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        ifindex = socket.if_nametoindex(args.iface)
        s.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_MULTICAST_IF,
            bytes(8) + struct.pack("@i", ifindex),
        )
        for _ in range(args.count):
            s.sendto(datagram, (str(args.dst), 0))
    print(f"sent {args.count} x {len(datagram)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
