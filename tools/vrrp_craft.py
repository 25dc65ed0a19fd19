"""Craft VRRP advertisements, valid or broken in any field, and send them from a namespace.

    ip netns exec NS python tools/vrrp_craft.py --iface eth0 --src 192.0.2.100 \\
        --vrid 51 --priority 254 --vip 192.0.2.254 --ttl 64 --repeat 3
    ip netns exec NS python tools/vrrp_craft.py --iface eth0 --src fe80::1 \\
        --vip fe80::200:5eff:fe00:233 --vip 2001:db8::254 --checksum bad
    ip netns exec NS python tools/vrrp_craft.py --iface eth0 --from packets.hex --rate 500
    ip netns exec NS python tools/vrrp_craft.py --iface eth0 --src 192.0.2.100 \\
        --random 5000 --seed 7 --rate 500 --dump sent.hex
    python tools/vrrp_craft.py --print --src 192.0.2.1 --priority 150 --vip 192.0.2.254

The command line of `netns_lab.craft` (the library: every field can be set on its own,
the checksum is computed independently of vrrpd's codec, frames go out whole on an AF_PACKET
socket). The destination MAC is derived for a multicast destination, taken from
``--dst-mac`` / ``--neigh IP=MAC``, or resolved by ARP / ND.

Units: ``--interval`` is the raw field: centiseconds for the v3 layout (12 bits), seconds for
the v2 layout (8 bits).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netns_lab.craft import (
    CHECKSUM_FORMS,
    DSCP_CS6,
    GROUP,
    Item,
    craft,
    family_of,
    random_packets,
    read_hex,
    send,
    write_hex,
)

# --- command line --------------------------------------------------------------------------


def _int(text: str) -> int:
    return int(text, 0)


def _checksum(text: str) -> str | int:
    return text if text in CHECKSUM_FORMS else int(text, 0)


def _neigh(text: str) -> tuple[str, str]:
    ip, sep, mac = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected IP=MAC, got {text!r}")
    return ip, mac


def _default_src(iface: str, family: int) -> str:
    """The interface's first IPv4 address, or its IPv6 link-local address."""
    import json
    import subprocess

    cp = subprocess.run(
        ["ip", "-j", f"-{family}", "addr", "show", "dev", iface],
        capture_output=True,
        text=True,
        check=True,
    )
    for info in json.loads(cp.stdout or "[]"):
        for a in info.get("addr_info", []):
            if family == 4 or a.get("scope") == "link":
                return str(a["local"])
    raise SystemExit(f"vrrp_craft: {iface} has no IPv{family} address to send from; give --src")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--iface", help="interface to send on (required unless --print)")
    p.add_argument("--print", action="store_true", help="print the packet(s) in hex, send none")
    g = p.add_argument_group("IP")
    g.add_argument("--family", type=int, choices=[4, 6], help="default: from --src, else 4")
    g.add_argument("--src", help="default: the interface's IPv4 / link-local address")
    g.add_argument("--dst", help="default 224.0.0.18 / ff02::12; a unicast address works too")
    g.add_argument("--ttl", "--hlim", dest="ttl", type=_int, default=255)
    g.add_argument("--tos", "--tclass", dest="tos", type=_int, default=DSCP_CS6)
    g.add_argument("--dst-mac", help="destination MAC (default: multicast, or resolved)")
    g.add_argument("--src-mac", help="source MAC (default: the interface's)")
    g.add_argument("--neigh", type=_neigh, action="append", default=[], help="IP=MAC, repeat")
    v = p.add_argument_group("VRRP")
    v.add_argument("--version", type=_int, default=3, help="4-bit field (default 3)")
    v.add_argument("--type", type=_int, default=1, help="4-bit field (default 1)")
    v.add_argument("--vrid", type=_int, default=51)
    v.add_argument("--priority", type=_int, default=100)
    v.add_argument("--count", type=_int, help="address count field (default: real count)")
    v.add_argument("--interval", type=_int, help="raw field: v3 centiseconds, v2 seconds")
    v.add_argument("--reserved", type=_int, default=0, help="v3: the 4 reserved bits")
    v.add_argument("--vip", action="append", default=[], help="an address carried; repeat")
    v.add_argument("--auth-type", type=_int, default=0, help="v2 layout")
    v.add_argument("--auth-data", default="", help="v2 layout: text, or hex with 0x prefix")
    v.add_argument("--password", help="v2: auth type 1 with this simple-text password")
    v.add_argument("--checksum", type=_checksum, default="auto", help=f"{CHECKSUM_FORMS} or N")
    v.add_argument("--truncate", type=_int, help="cut the message to this many bytes")
    v.add_argument("--trailing", default="", help="hex bytes appended to the message")
    v.add_argument("--layout", choices=["v2", "v3"], help="default: v2 for version 2")
    s = p.add_argument_group("sending")
    s.add_argument("--repeat", type=_int, default=1, help="send the packet this many times")
    s.add_argument("--every", type=float, default=0.0, help="seconds between sends")
    s.add_argument("--rate", type=float, help="packets per second (same as --every 1/RATE)")
    s.add_argument("--from", dest="from_file", help="send IP packets from a hex file ('-': stdin)")
    s.add_argument("--random", type=_int, help="send N random packets (see random_packets)")
    s.add_argument("--seed", type=_int, default=0)
    s.add_argument("--random-dst", action="append", default=[], help="--random destinations")
    s.add_argument("--dump", help="write what was sent (hex lines) to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.print and not args.iface:
        raise SystemExit("vrrp_craft: --iface is required (or --print)")
    family = args.family or (family_of(args.src) if args.src else 4)
    packets: Iterable[Item]
    if not args.from_file and not args.src and not args.iface:
        raise SystemExit("vrrp_craft: give --src (or --iface to send from its address)")
    src = "" if args.from_file else args.src or _default_src(args.iface, family)
    if args.from_file:
        lines = sys.stdin if args.from_file == "-" else open(args.from_file)  # noqa: SIM115
        packets = read_hex(lines)
    elif args.random is not None:
        packets = random_packets(
            args.random,
            args.seed,
            srcs=[src],
            dsts=args.random_dst or [GROUP[family]],
            vrid=args.vrid,
            addresses=args.vip or [("192.0.2.254" if family == 4 else "2001:db8::254")],
        )
    else:
        auth_type, auth_data = args.auth_type, args.auth_data
        if args.password is not None:
            auth_type, auth_data = 1, args.password
        data = bytes.fromhex(auth_data[2:]) if auth_data.startswith("0x") else auth_data.encode()
        packet = craft(
            src=src,
            dst=args.dst,
            ttl=args.ttl,
            tos=args.tos,
            version=args.version,
            type=args.type,
            vrid=args.vrid,
            priority=args.priority,
            count=args.count,
            interval=args.interval,
            reserved=args.reserved,
            auth_type=auth_type,
            auth_data=data,
            addresses=args.vip,
            checksum=args.checksum,
            truncate=args.truncate,
            trailing=bytes.fromhex(args.trailing),
            layout=args.layout,
        )
        packets = [packet] * args.repeat
    if args.print:
        for item in packets:
            print((item[0] if isinstance(item, tuple) else item).hex())
        return 0
    every = 1.0 / args.rate if args.rate else args.every
    log: list[bytes] | None = [] if args.dump else None
    sent = send(
        packets,
        args.iface,
        every=every,
        dst_mac=args.dst_mac,
        src_mac=args.src_mac,
        neighbours=dict(args.neigh),
        sent_log=log,
    )
    if args.dump and log is not None:
        write_hex(log, args.dump)
    print(f"vrrp_craft: sent {sent} packet(s) on {args.iface}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
