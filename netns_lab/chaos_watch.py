"""The chaos suite's watcher: run inside a namespace, it writes a line of JSON every time the
namespace's links, addresses or (chosen) neighbour entries change::

    ip netns exec NS python -m netns_lab.chaos_watch OUT [--neigh 192.0.2.254 ...]

    {"t": 1234.567890, "links": {"eth0": {"index": 2, "up": true, "mac": "..."}},
     "addrs": {"eth0": ["192.0.2.1/24", ...]}, "neigh": {"192.0.2.254": "52:54:..."}}

``t`` is CLOCK_MONOTONIC at the moment the change was read (the same clock in every
namespace and in the controller). ``up`` is administratively up with carrier (IFF_UP and
IFF_LOWER_UP). A neighbour entry that is incomplete or failed is ``null``. The first line is
written once the monitor is subscribed and the tables are dumped: from then on nothing is
missed (an overflow of the monitor socket is answered with a fresh dump). It runs until
SIGTERM. `netns_lab.chaos_rules.parse_view` reads the lines; `netns_lab.chaos.Watcher` runs it.

Netlink through pyroute2, the project's netlink library, as everywhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
    RTMGRP_NEIGH,
)

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20


class Tables:
    """The namespace's links, addresses and watched neighbour entries, kept from messages."""

    def __init__(self, neigh: Iterable[str]) -> None:
        self.watch = set(neigh)
        self.links: dict[int, dict[str, Any]] = {}
        self.addrs: dict[int, set[str]] = {}
        self.neigh: dict[str, str | None] = {}

    def apply(self, msg: Any) -> None:
        event = msg["event"]
        if event in ("RTM_NEWLINK", "RTM_DELLINK"):
            index = int(msg["index"])
            if event == "RTM_DELLINK":
                self.links.pop(index, None)
                self.addrs.pop(index, None)
                return
            flags = int(msg["flags"])
            self.links[index] = {
                "index": index,
                "name": msg.get("IFLA_IFNAME"),
                "up": bool(flags & IFF_UP and flags & IFF_LOWER_UP),
                "mac": msg.get("IFLA_ADDRESS"),
            }
        elif event in ("RTM_NEWADDR", "RTM_DELADDR"):
            index = int(msg["index"])
            local = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
            if local is None:
                return
            text = f"{local}/{msg['prefixlen']}"
            have = self.addrs.setdefault(index, set())
            if event == "RTM_NEWADDR":
                have.add(text)
            else:
                have.discard(text)
        elif event in ("RTM_NEWNEIGH", "RTM_DELNEIGH"):
            dst = msg.get("NDA_DST")
            if dst not in self.watch:
                return
            state = int(msg["state"])
            mac = msg.get("NDA_LLADDR")
            bad = event == "RTM_DELNEIGH" or state & (NUD_INCOMPLETE | NUD_FAILED) or not mac
            self.neigh[dst] = None if bad else str(mac)

    def doc(self) -> dict[str, Any]:
        names = {i: str(v["name"]) for i, v in self.links.items() if v.get("name")}
        return {
            "links": {
                names[i]: {"index": i, "up": v["up"], "mac": v["mac"]}
                for i, v in self.links.items()
                if i in names
            },
            "addrs": {names[i]: sorted(a) for i, a in self.addrs.items() if i in names and a},
            "neigh": {ip: self.neigh.get(ip) for ip in sorted(self.watch)},
        }


async def dump(watch: Iterable[str]) -> Tables:
    tables = Tables(watch)
    async with AsyncIPRoute() as ipr:
        for request in (ipr.get_links, ipr.get_addr, ipr.get_neighbours):
            async for msg in await request():
                tables.apply(msg)
    return tables


async def watch(out: TextIO, neigh: Sequence[str]) -> None:
    async with AsyncIPRoute() as mon:
        await mon.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_NEIGH)
        tables = await dump(neigh)  # after subscribing: a change in between is in one or both
        last = ""
        while True:
            doc = tables.doc()
            text = json.dumps(doc, sort_keys=True)
            if text != last:
                out.write(json.dumps({"t": round(time.monotonic(), 6), **doc}) + "\n")
                last = text
            try:
                msgs = [m async for m in mon.get()]
            except (OSError, NetlinkError) as e:
                code = e.code if isinstance(e, NetlinkError) else e.errno
                if code != errno.ENOBUFS:
                    raise
                tables = await dump(neigh)  # events were lost: start again from a dump
                continue
            for msg in msgs:
                tables.apply(msg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m netns_lab.chaos_watch")
    ap.add_argument("out", help="file to append the JSON lines to")
    ap.add_argument("--neigh", action="append", default=[], help="a neighbour IP to watch")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(args.out, "a", buffering=1) as out:
        asyncio.run(watch(out, args.neigh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
