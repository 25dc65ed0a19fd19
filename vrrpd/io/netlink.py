"""Netlink through pyroute2's asyncio API: addresses, links, and a monitor of both.

Adding or removing a virtual address is idempotent: "already there" on add and "not there"
on delete are success, so a restart, a retry or a hand-made change never turns into an error.

Every address vrrpd adds carries the address protocol `VRRPD_ADDR_PROTO` (IFA_PROTO, 112):
a later vrrpd recognises it as its own (`address_records`, vrrpd.addresses.startup_plan).

Failures: pyroute2's NetlinkError is not an OSError, and the socket may raise OSError; every
method turns both into `NetlinkFailure` (except `neighbour`, where any failure means "not
known", and `close`, which never fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv6Interface, ip_address
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .. import privilege
from ..addresses import VRRPD_ADDR_PROTO, Address, kernel_keeps_addr_proto
from ..privilege import Op
from ..types import IPAddress, IPInterface

__all__ = [
    "VRRPD_ADDR_PROTO",
    "AddrEvent",
    "Address",
    "IPAddress",
    "IPInterface",
    "Link",
    "LinkEvent",
    "NeighEvent",
    "Netlink",
    "NetlinkFailure",
    "kernel_keeps_addr_proto",
    "monitor",
]

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFF_UP = 0x1
# NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP
NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x80 | 0x40
IFF_RUNNING = 0x40


class NetlinkFailure(Exception):
    """A netlink request that failed for a reason the caller must report; `code` is the
    errno when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


Failed = (NetlinkError, OSError)  # what pyroute2 raises: the kernel's answer, or the socket


def _code(e: NetlinkError | OSError) -> int | None:
    return e.code if isinstance(e, NetlinkError) else e.errno


def _failure(what: str, e: NetlinkError | OSError) -> NetlinkFailure:
    code = _code(e)
    line = privilege.explain(Op.NETLINK, what, code)  # refused: the capability it lacks
    return NetlinkFailure(f"{what}: {e}" if line is None else line, code)


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
    deleted: bool = False  # RTM_DELLINK: the interface is gone (its index with it)


@dataclass(frozen=True, slots=True)
class NeighEvent:
    """A neighbour's link-layer address, learnt or confirmed (RTM_NEWNEIGH, valid state)."""

    index: int
    address: IPAddress
    lladdr: str


class NeighbourWaits:
    """Who waits to learn a neighbour's link-layer address, and the monitor's news of it."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[int, IPAddress], set[asyncio.Future[str]]] = {}

    @contextlib.contextmanager
    def waiting(self, index: int, address: IPAddress) -> Iterator[asyncio.Future[str]]:
        """A future that `seen` resolves with the address's MAC on interface `index`."""
        learnt: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        key = (index, address)
        self._waiting.setdefault(key, set()).add(learnt)
        try:
            yield learnt
        finally:
            learnt.cancel()
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(learnt)
                if not waiting:
                    del self._waiting[key]

    def seen(self, event: NeighEvent) -> None:
        for learnt in self._waiting.get((event.index, event.address), ()):
            if not learnt.done():
                learnt.set_result(event.lladdr)


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    mac: str
    up: bool


def _attr(msg: Any, name: str) -> Any:
    return msg.get(name) if hasattr(msg, "get") else None


def _address(msg: Any) -> Address | None:
    """An RTM_NEWADDR message as an `Address`; None if it has no address."""
    # IFA_LOCAL is the local address (IFA_ADDRESS is the peer's on a point-to-point IPv4
    # address); IPv6 messages carry IFA_ADDRESS only.
    addr = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    if addr is None:
        return None
    iface: IPInterface
    if ":" in addr:
        iface = IPv6Interface(f"{addr}/{msg['prefixlen']}")
    else:
        iface = IPv4Interface(f"{addr}/{msg['prefixlen']}")
    return Address(
        iface=iface,
        primary=not int(msg.get("flags", 0)) & IFA_F_SECONDARY,
        proto=int(msg.get("IFA_PROTO") or 0),
    )


def _link(msg: Any) -> Link:
    flags = int(msg["flags"])
    return Link(
        index=int(msg["index"]),
        name=str(msg.get("IFLA_IFNAME")),
        mac=str(msg.get("IFLA_ADDRESS")),
        up=bool(flags & IFF_UP and flags & IFF_RUNNING),
    )


class Netlink:
    """One request socket; `monitor()` opens its own socket for events. Requests are
    serialized: two dumps in flight on one socket make the kernel answer EBUSY."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.neighbours = NeighbourWaits()  # told by the monitor's NeighEvents (the daemon)
        try:
            self.ipr = AsyncIPRoute()
        except Failed as e:
            raise _failure("opening a netlink socket", e) from e

    async def close(self) -> None:
        with contextlib.suppress(*Failed):
            self.ipr.close()

    @staticmethod
    def keeps_proto() -> bool:
        """Does the running kernel keep the address protocol (IFA_PROTO, Linux >= 6.1)? If
        not, `add_address` still sends it, but what vrrpd added must be recorded elsewhere
        (vrrpd.io.addrrecord)."""
        return kernel_keeps_addr_proto(os.uname().release)

    async def link(self, name: str) -> Link:
        async with self._lock:
            try:
                found = await self.ipr.link_lookup(ifname=name)
                if not found:
                    raise NetlinkFailure(f"interface {name} does not exist", errno.ENODEV)
                links = [m async for m in await self.ipr.get_links(found[0])]
            except Failed as e:
                raise _failure(f"interface {name}", e) from e
        if not links:  # removed between the lookup and the query
            raise NetlinkFailure(f"interface {name} does not exist", errno.ENODEV)
        return _link(links[0])

    async def links(self) -> list[Link]:
        """Every interface of this namespace, in one dump."""
        async with self._lock:
            try:
                return [_link(m) async for m in await self.ipr.get_links()]
            except Failed as e:
                raise _failure("listing interfaces", e) from e

    async def address_records(self, index: int) -> list[Address]:
        """Every address on the interface (address/prefix, primary?, protocol), kernel
        order."""
        async with self._lock:
            try:
                msgs = [m async for m in await self.ipr.get_addr(index=index)]
            except Failed as e:
                raise _failure(f"listing the addresses of interface {index}", e) from e
        return [a for a in map(_address, msgs) if a is not None]

    async def add_address(self, index: int, iface: IPInterface) -> bool:
        """Add; True if it was added, False if it was already there.

        The address carries protocol `VRRPD_ADDR_PROTO`, so a later vrrpd knows it added it.
        One that was already there keeps whatever protocol it had: False means "not ours".
        A kernel older than 6.1 ignores the attribute (unknown attributes of RTM_NEWADDR are
        skipped). IPv6 addresses skip duplicate address detection (IFA_F_NODAD): a virtual
        address must be usable the moment it is added, not a second later.
        """
        extra: dict[str, Any] = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
        async with self._lock:
            try:
                await self.ipr.addr(
                    "add",
                    index=index,
                    address=str(iface.ip),
                    prefixlen=iface.network.prefixlen,
                    proto=VRRPD_ADDR_PROTO,
                    **extra,
                )
            except Failed as e:
                if _code(e) == errno.EEXIST:
                    return False
                raise _failure(f"adding {iface} to interface {index}", e) from e
        return True

    async def neighbour(self, index: int, address: IPAddress) -> str | None:
        """The link-layer address the kernel knows for `address` on interface `index`; None
        if it knows none, and also if the table cannot be read (a caller waits for it to be
        learnt, and a failure is no different from "not yet")."""
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        async with self._lock:
            try:
                async for msg in await self.ipr.get_neighbours(family=family, ifindex=index):
                    dst, lladdr = msg.get("NDA_DST"), msg.get("NDA_LLADDR")
                    if dst and lladdr and ip_address(dst) == address and msg["state"] & NUD_VALID:
                        return str(lladdr)
            except Failed:
                return None
        return None

    async def resolve(
        self, index: int, address: IPAddress, timeout: float, ask: Callable[[], None]
    ) -> str | None:
        """The link-layer address of `address` on `index`: from the table, else `ask()` (make
        the kernel resolve it) and return as soon as the monitor reports it, within `timeout`
        seconds; None if it was not learnt by then."""
        with self.neighbours.waiting(index, address) as learnt:  # before looking: none missed
            mac = await self.neighbour(index, address)
            if mac is not None:
                return mac
            ask()
            try:
                return await asyncio.wait_for(learnt, timeout)
            except TimeoutError:
                return await self.neighbour(index, address)  # in case the monitor missed it

    async def find_link(self, name: str) -> Link | None:
        try:
            return await self.link(name)
        except NetlinkFailure:
            return None

    async def add_macvlan(self, parent: int, name: str, mac: str) -> Link:
        """A macvlan in bridge mode on `parent` with address `mac`, not yet up."""
        async with self._lock:
            try:
                await self.ipr.link(
                    "add",
                    ifname=name,
                    kind="macvlan",
                    link=parent,
                    macvlan_mode="bridge",
                    address=mac,
                )
            except Failed as e:
                raise _failure(f"creating macvlan {name} ({mac})", e) from e
        return await self.link(name)

    async def set_up(self, index: int) -> None:
        async with self._lock:
            try:
                await self.ipr.link("set", index=index, state="up")
            except Failed as e:
                raise _failure(f"setting interface {index} up", e) from e

    async def set_down(self, index: int) -> None:
        async with self._lock:
            try:
                await self.ipr.link("set", index=index, state="down")
            except Failed as e:
                if _code(e) != errno.ENODEV:
                    raise _failure(f"setting interface {index} down", e) from e

    async def del_link(self, index: int) -> bool:
        async with self._lock:
            try:
                await self.ipr.link("del", index=index)
            except Failed as e:
                if _code(e) == errno.ENODEV:
                    return False
                raise _failure(f"removing interface {index}", e) from e
        return True

    async def del_address(self, index: int, iface: IPInterface) -> bool:
        """Delete; True if it was removed, False if it was not there."""
        async with self._lock:
            try:
                await self.ipr.addr(
                    "del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
                )
            except Failed as e:
                if _code(e) in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                    return False
                raise _failure(f"removing {iface} from interface {index}", e) from e
        return True


async def monitor() -> AsyncIterator[AddrEvent | LinkEvent | NeighEvent]:
    """Address, link and neighbour changes, as they happen, for every interface of this
    namespace (neighbours: only those with a link-layer address in a valid state).
    Raises NetlinkFailure if the socket cannot be opened or fails (e.g. ENOBUFS: events
    were lost)."""
    try:
        ipr = AsyncIPRoute()
    except Failed as e:
        raise _failure("opening the netlink monitor", e) from e
    try:
        try:
            await ipr.bind()
        except Failed as e:
            raise _failure("subscribing to netlink events", e) from e
        while True:
            try:
                msgs = [m async for m in ipr.get()]
            except Failed as e:
                raise _failure("reading netlink events", e) from e
            for msg in msgs:
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
                    deleted = event == "RTM_DELLINK"
                    yield LinkEvent(link.index, link.up and not deleted, link.name, deleted)
                elif event == "RTM_NEWNEIGH":
                    dst, lladdr = msg.get("NDA_DST"), msg.get("NDA_LLADDR")
                    if dst and lladdr and int(msg["state"]) & NUD_VALID:
                        yield NeighEvent(int(msg["ifindex"]), ip_address(dst), str(lladdr))
    finally:
        with contextlib.suppress(*Failed):
            ipr.close()
