"""Netlink through pyroute2's asyncio API: addresses, links, and a monitor of both.

Adding or removing a virtual address is idempotent: "already there" on add and "not there"
on delete are success, so a restart, a retry or a hand-made change never turns into an error.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

IPInterface = IPv4Interface | IPv6Interface
IPAddress = IPv4Address | IPv6Address

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFF_UP = 0x1
# NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP
NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x80 | 0x40
IFF_RUNNING = 0x40


class NetlinkFailure(Exception):
    """A netlink request that failed for a reason the caller must report."""


@dataclass(frozen=True, slots=True)
class AddrEvent:
    added: bool
    index: int
    address: IPAddress
    prefixlen: int


@dataclass(frozen=True, slots=True)
class LinkEvent:
    index: int
    up: bool  # administratively up and carrier present
    name: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    mac: str
    up: bool


def _attr(msg: Any, name: str) -> Any:
    return msg.get(name) if hasattr(msg, "get") else None


def _link(msg: Any) -> Link:
    flags = int(msg["flags"])
    return Link(
        index=int(msg["index"]),
        name=str(msg.get("IFLA_IFNAME")),
        mac=str(msg.get("IFLA_ADDRESS")),
        up=bool(flags & IFF_UP and flags & IFF_RUNNING),
    )


class Netlink:
    """One request socket; `monitor()` opens its own socket for events."""

    def __init__(self) -> None:
        self.ipr = AsyncIPRoute()

    async def close(self) -> None:
        self.ipr.close()

    async def link(self, name: str) -> Link:
        try:
            found = await self.ipr.link_lookup(ifname=name)
        except NetlinkError as e:
            raise NetlinkFailure(f"interface {name}: {e}") from e
        if not found:
            raise NetlinkFailure(f"interface {name} does not exist")
        links = [m async for m in await self.ipr.get_links(found[0])]
        return _link(links[0])

    async def links(self) -> list[Link]:
        """Every interface of this namespace, in one dump."""
        try:
            return [_link(m) async for m in await self.ipr.get_links()]
        except NetlinkError as e:
            raise NetlinkFailure(f"listing interfaces: {e}") from e

    async def addresses(self, index: int) -> list[tuple[IPInterface, bool]]:
        """(address/prefix, primary?) for every address on the interface, kernel order."""
        out: list[tuple[IPInterface, bool]] = []
        async for msg in await self.ipr.get_addr(index=index):
            addr = msg.get("IFA_ADDRESS")
            if addr is None:
                continue
            iface: IPInterface
            if ":" in addr:
                iface = IPv6Interface(f"{addr}/{msg['prefixlen']}")
            else:
                iface = IPv4Interface(f"{addr}/{msg['prefixlen']}")
            out.append((iface, not int(msg.get("flags", 0)) & IFA_F_SECONDARY))
        return out

    async def add_address(self, index: int, iface: IPInterface) -> bool:
        """Add; True if it was added, False if it was already there.

        IPv6 addresses skip duplicate address detection (IFA_F_NODAD): a virtual address
        must be usable the moment it is added, not a second later.
        """
        extra: dict[str, Any] = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
        try:
            await self.ipr.addr(
                "add",
                index=index,
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
                **extra,
            )
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise NetlinkFailure(f"adding {iface} to interface {index}: {e}") from e
        return True

    async def neighbour(self, index: int, address: IPAddress) -> str | None:
        """The link-layer address the kernel knows for `address` on interface `index`."""
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        try:
            async for msg in await self.ipr.get_neighbours(family=family, ifindex=index):
                dst, lladdr = msg.get("NDA_DST"), msg.get("NDA_LLADDR")
                if dst and lladdr and ip_address(dst) == address and msg["state"] & NUD_VALID:
                    return str(lladdr)
        except NetlinkError:
            return None
        return None

    async def find_link(self, name: str) -> Link | None:
        try:
            return await self.link(name)
        except NetlinkFailure:
            return None

    async def add_macvlan(self, parent: int, name: str, mac: str) -> Link:
        """A macvlan in bridge mode on `parent` with address `mac`, not yet up."""
        try:
            await self.ipr.link(
                "add",
                ifname=name,
                kind="macvlan",
                link=parent,
                macvlan_mode="bridge",
                address=mac,
            )
        except NetlinkError as e:
            raise NetlinkFailure(f"creating macvlan {name} ({mac}): {e}") from e
        return await self.link(name)

    async def set_up(self, index: int) -> None:
        try:
            await self.ipr.link("set", index=index, state="up")
        except NetlinkError as e:
            raise NetlinkFailure(f"setting interface {index} up: {e}") from e

    async def set_down(self, index: int) -> None:
        try:
            await self.ipr.link("set", index=index, state="down")
        except NetlinkError as e:
            if e.code != errno.ENODEV:
                raise NetlinkFailure(f"setting interface {index} down: {e}") from e

    async def del_link(self, index: int) -> bool:
        try:
            await self.ipr.link("del", index=index)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise NetlinkFailure(f"removing interface {index}: {e}") from e
        return True

    async def del_address(self, index: int, iface: IPInterface) -> bool:
        """Delete; True if it was removed, False if it was not there."""
        try:
            await self.ipr.addr(
                "del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
            )
        except NetlinkError as e:
            if e.code in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                return False
            raise NetlinkFailure(f"removing {iface} from interface {index}: {e}") from e
        return True


async def monitor() -> AsyncIterator[AddrEvent | LinkEvent]:
    """Address and link changes, as they happen, for every interface of this namespace."""
    ipr = AsyncIPRoute()
    try:
        await ipr.bind()
        while True:
            async for msg in ipr.get():
                event = _attr(msg, "event")
                if event in ("RTM_NEWADDR", "RTM_DELADDR"):
                    addr = msg.get("IFA_ADDRESS")
                    if addr is None:
                        continue
                    yield AddrEvent(
                        event == "RTM_NEWADDR",
                        int(msg["index"]),
                        ip_address(addr),
                        int(msg["prefixlen"]),
                    )
                elif event in ("RTM_NEWLINK", "RTM_DELLINK"):
                    link = _link(msg)
                    yield LinkEvent(link.index, link.up and event == "RTM_NEWLINK", link.name)
    finally:
        ipr.close()
