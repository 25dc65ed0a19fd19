"""Netlink (rtnetlink) on asyncio: addresses, links, neighbours, and a monitor of links and
addresses.

Written directly on `socket` (AF_NETLINK, NETLINK_ROUTE): vrrpd needs ten requests and two
kinds of event, and decodes only the few attributes it reads. A netlink library (pyroute2,
which this module used before) cost ~100 ms and ~13 MiB of RSS to import, a third of the
daemon's start-up and memory.

Adding or removing a virtual address is idempotent: "already there" on add and "not there"
on delete are success, so a restart, a retry or a hand-made change never turns into an error.

Every address vrrpd adds carries the address protocol `VRRPD_ADDR_PROTO` (IFA_PROTO, 112):
a later vrrpd recognises it as its own (`address_records`, vrrpd.addresses.startup_plan).

Failures: the kernel's answer (an NLMSG_ERROR with an errno) and the socket's OSError both
become `NetlinkFailure` with the errno as `code` (except `neighbour`, where any failure means
"not known", and `close`, which never fails).

Requests are serialized on one socket (two dumps in flight on one socket make the kernel
answer EBUSY); every non-dump request asks for an acknowledgement, so a request is over when
its NLMSG_ERROR (error 0: success) or, for a dump, its NLMSG_DONE arrives. A request that is
cancelled half-way closes the socket and the next one opens a fresh one: what the kernel still
had to say about the old request can never be read as the answer to the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from ..addresses import VRRPD_ADDR_PROTO, Address, kernel_keeps_addr_proto
from ..types import IPAddress, IPInterface

__all__ = [
    "VRRPD_ADDR_PROTO",
    "AddrEvent",
    "Address",
    "IPAddress",
    "IPInterface",
    "Link",
    "LinkEvent",
    "Netlink",
    "NetlinkFailure",
    "kernel_keeps_addr_proto",
    "monitor",
]

# <linux/netlink.h>
NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; Python's socket module does not name it

# <linux/rtnetlink.h>
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_GETNEIGH = 30
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100

# <linux/if_link.h>
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_LINK = 5
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_MACVLAN_MODE = 1
MACVLAN_MODE_BRIDGE = 4

# <linux/if_addr.h>
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_PROTO = 11
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02

# <linux/neighbour.h>
NDA_DST = 1
NDA_LLADDR = 2
# NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP
NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x80 | 0x40

IFF_UP = 0x1
IFF_RUNNING = 0x40

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_NLA = struct.Struct("=HH")  # nlattr: length, type
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_NDMSG = struct.Struct("=BxxxiHBB")  # ndmsg: family, ifindex, state, flags, type
_U32 = struct.Struct("=I")
_ERROR = struct.Struct("=i")  # nlmsgerr: error, then the request's header

# One datagram of a dump is at most 32 KiB (the kernel's cap); events are one message each.
RECV_SIZE = 65536
# The monitor's receive queue: the events of a start-up or a reload (hundreds of addresses
# added at once) must fit, or the kernel drops them (ENOBUFS).
MONITOR_RCVBUF = 1 << 21
# Retries of a dump that the kernel marks interrupted (the table changed while it was read).
DUMP_TRIES = 5


class NetlinkFailure(Exception):
    """A netlink request that failed for a reason the caller must report; `code` is the
    errno when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _failure(what: str, e: OSError) -> NetlinkFailure:
    return NetlinkFailure(f"{what}: {e}", e.errno)


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


# --- encoding and decoding ----------------------------------------------------------------


def _nla(kind: int, payload: bytes) -> bytes:
    size = _NLA.size + len(payload)
    return _NLA.pack(size, kind) + payload + bytes(-size % 4)


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    """The attributes from `offset` to the end of `data` (one message), by type; a malformed
    tail is ignored."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + _NLA.size <= end:
        size, kind = _NLA.unpack_from(data, offset)
        if size < _NLA.size or offset + size > end:
            break
        out[kind & NLA_TYPE_MASK] = data[offset + _NLA.size : offset + size]
        offset += (size + 3) & ~3
    return out


def _messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, sequence, payload) of each message in one datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        size, kind, flags, seq, _ = _HEADER.unpack_from(data, offset)
        if size < _HEADER.size or offset + size > len(data):
            break
        yield kind, flags, seq, data[offset + _HEADER.size : offset + size]
        offset += (size + 3) & ~3


def _ip(family: int, raw: bytes) -> IPAddress | None:
    if family == socket.AF_INET and len(raw) == 4:
        return IPv4Address(raw)
    if family == socket.AF_INET6 and len(raw) == 16:
        return IPv6Address(raw)
    return None


def _string(raw: bytes | None) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace") if raw else ""


def _mac(raw: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in raw) if raw else ""


def _address(payload: bytes) -> tuple[int, Address] | None:
    """An RTM_NEWADDR message as (interface index, `Address`); None if it has no address."""
    family, prefixlen, flags, _, index = _IFADDR.unpack_from(payload)
    attrs = _attrs(payload, _IFADDR.size)
    # IFA_LOCAL is the local address (IFA_ADDRESS is the peer's on a point-to-point IPv4
    # address); IPv6 messages carry IFA_ADDRESS only.
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    ip = _ip(family, raw) if raw else None
    if ip is None:
        return None
    iface: IPInterface = (
        IPv4Interface((ip, prefixlen)) if ip.version == 4 else IPv6Interface((ip, prefixlen))
    )
    proto = attrs.get(IFA_PROTO)
    return index, Address(
        iface=iface, primary=not flags & IFA_F_SECONDARY, proto=proto[0] if proto else 0
    )


def _link(payload: bytes) -> Link:
    _, _, index, flags, _ = _IFINFO.unpack_from(payload)
    attrs = _attrs(payload, _IFINFO.size)
    return Link(
        index=index,
        name=_string(attrs.get(IFLA_IFNAME)),
        mac=_mac(attrs.get(IFLA_ADDRESS)),
        up=bool(flags & IFF_UP and flags & IFF_RUNNING),
    )


def _ifaddr(index: int, iface: IPInterface) -> bytes:
    """The ifaddrmsg and address attributes that name `iface` on interface `index`."""
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    body = _IFADDR.pack(family, iface.network.prefixlen, 0, 0, index)
    packed = iface.ip.packed
    if family == socket.AF_INET:
        body += _nla(IFA_LOCAL, packed)
    return body + _nla(IFA_ADDRESS, packed)


def _open(groups: int = 0) -> socket.socket:
    kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    sock = socket.socket(socket.AF_NETLINK, kind, NETLINK_ROUTE)
    try:
        if groups:
            try:  # root may exceed net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, MONITOR_RCVBUF)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MONITOR_RCVBUF)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def _close(sock: socket.socket) -> None:
    """Close, first forgetting the loop's reader if a request still waits on it (a later
    socket may get the same descriptor number)."""
    with contextlib.suppress(Exception):
        if sock.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(sock.fileno())
    with contextlib.suppress(OSError):
        sock.close()


# --- requests -----------------------------------------------------------------------------


async def _answer(
    sock: socket.socket, seq: int, dump: bool
) -> tuple[list[tuple[int, bytes]], bool, int]:
    """Read until the answer to request `seq` is complete: the (type, payload) of its
    messages, whether the kernel marked the dump interrupted, and its errno (0: success)."""
    loop = asyncio.get_running_loop()
    out: list[tuple[int, bytes]] = []
    interrupted = False
    while True:
        data = await loop.sock_recv(sock, RECV_SIZE)
        for kind, flags, mseq, payload in _messages(data):
            if mseq != seq:
                continue
            interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
            if kind in (NLMSG_ERROR, NLMSG_DONE):
                code = -_ERROR.unpack_from(payload)[0] if len(payload) >= _ERROR.size else 0
                if code > 0 or kind == NLMSG_DONE or not dump:
                    return out, interrupted, max(code, 0)
                continue  # an acknowledgement within a dump: the dump goes on
            out.append((kind, payload))


class Netlink:
    """One request socket; `monitor()` opens its own socket for events."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._seq = 0
        self._sock: socket.socket | None = None
        try:
            self._sock = _open()
        except OSError as e:
            raise _failure("opening a netlink socket", e) from e

    async def close(self) -> None:
        if self._sock is not None:
            _close(self._sock)
            self._sock = None

    @staticmethod
    def keeps_proto() -> bool:
        """Does the running kernel keep the address protocol (IFA_PROTO, Linux >= 6.1)? If
        not, `add_address` still sends it, but what vrrpd added must be recorded elsewhere
        (vrrpd.io.addrrecord)."""
        return kernel_keeps_addr_proto(os.uname().release)

    async def _request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request, return the (type, payload) of each message of its answer;
        raises OSError with the kernel's errno. The caller holds the lock."""
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        for attempt in range(DUMP_TRIES):
            answer, interrupted = await self._exchange(kind, flags, body, dump)
            if not interrupted or attempt == DUMP_TRIES - 1:
                break
        return answer

    async def _exchange(
        self, kind: int, flags: int, body: bytes, dump: bool
    ) -> tuple[list[tuple[int, bytes]], bool]:
        if self._sock is None:
            self._sock = _open()
        sock = self._sock
        self._seq = seq = self._seq % 0xFFFFFFFF + 1
        if not dump:
            flags |= NLM_F_ACK
        request = _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0)
        try:
            await asyncio.get_running_loop().sock_sendall(sock, request + body)
            out, interrupted, code = await _answer(sock, seq, dump)
        except BaseException:
            # Cancelled or failed half-way: the rest of this answer must not be read as the
            # next request's, so the next request gets a fresh socket.
            if self._sock is sock:
                _close(sock)
                self._sock = None
            raise
        if code:
            raise OSError(code, os.strerror(code))
        return out, interrupted

    async def link(self, name: str) -> Link:
        body = _IFINFO.pack(0, 0, 0, 0, 0) + _nla(IFLA_IFNAME, name.encode() + b"\0")
        async with self._lock:
            try:
                answer = await self._request(RTM_GETLINK, 0, body)
            except OSError as e:
                if e.errno == errno.ENODEV:
                    raise NetlinkFailure(f"interface {name} does not exist", e.errno) from e
                raise _failure(f"interface {name}", e) from e
        links = [_link(p) for k, p in answer if k == RTM_NEWLINK]
        if not links:
            raise NetlinkFailure(f"interface {name} does not exist", errno.ENODEV)
        return links[0]

    async def links(self) -> list[Link]:
        """Every interface of this namespace, in one dump."""
        async with self._lock:
            try:
                answer = await self._request(RTM_GETLINK, NLM_F_DUMP, _IFINFO.pack(0, 0, 0, 0, 0))
            except OSError as e:
                raise _failure("listing interfaces", e) from e
        return [_link(p) for k, p in answer if k == RTM_NEWLINK]

    async def address_records(self, index: int) -> list[Address]:
        """Every address on the interface (address/prefix, primary?, protocol), kernel
        order."""
        async with self._lock:
            try:
                answer = await self._request(
                    RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
                )
            except OSError as e:
                raise _failure(f"listing the addresses of interface {index}", e) from e
        out = []
        for kind, payload in answer:
            found = _address(payload) if kind == RTM_NEWADDR else None
            if found is not None and found[0] == index:
                out.append(found[1])
        return out

    async def add_address(self, index: int, iface: IPInterface) -> bool:
        """Add; True if it was added, False if it was already there.

        The address carries protocol `VRRPD_ADDR_PROTO`, so a later vrrpd knows it added it.
        One that was already there keeps whatever protocol it had: False means "not ours".
        A kernel older than 6.1 ignores the attribute (unknown attributes of RTM_NEWADDR are
        skipped). IPv6 addresses skip duplicate address detection (IFA_F_NODAD): a virtual
        address must be usable the moment it is added, not a second later.
        """
        body = _ifaddr(index, iface) + _nla(IFA_PROTO, bytes((VRRPD_ADDR_PROTO,)))
        if iface.version == 6:
            body += _nla(IFA_FLAGS, _U32.pack(IFA_F_NODAD))
        async with self._lock:
            try:
                await self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
            except OSError as e:
                if e.errno == errno.EEXIST:
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
                answer = await self._request(
                    RTM_GETNEIGH, NLM_F_DUMP, _NDMSG.pack(family, 0, 0, 0, 0)
                )
            except OSError:
                return None
        for _, payload in answer:
            if len(payload) < _NDMSG.size:
                continue
            nfamily, ifindex, state, _, _ = _NDMSG.unpack_from(payload)
            if ifindex != index or not state & NUD_VALID:
                continue
            attrs = _attrs(payload, _NDMSG.size)
            dst, lladdr = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
            if dst and lladdr and _ip(nfamily, dst) == address:
                return _mac(lladdr)
        return None

    async def find_link(self, name: str) -> Link | None:
        try:
            return await self.link(name)
        except NetlinkFailure:
            return None

    async def add_macvlan(self, parent: int, name: str, mac: str) -> Link:
        """A macvlan in bridge mode on `parent` with address `mac`, not yet up."""
        info = _nla(IFLA_INFO_KIND, b"macvlan") + _nla(
            IFLA_INFO_DATA, _nla(IFLA_MACVLAN_MODE, _U32.pack(MACVLAN_MODE_BRIDGE))
        )
        body = (
            _IFINFO.pack(0, 0, 0, 0, 0)
            + _nla(IFLA_IFNAME, name.encode() + b"\0")
            + _nla(IFLA_LINK, _U32.pack(parent))
            + _nla(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))
            + _nla(IFLA_LINKINFO, info)
        )
        async with self._lock:
            try:
                await self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)
            except OSError as e:
                raise _failure(f"creating macvlan {name} ({mac})", e) from e
        return await self.link(name)

    async def _set_flags(self, index: int, up: bool) -> None:
        body = _IFINFO.pack(0, 0, index, IFF_UP if up else 0, IFF_UP)
        await self._request(RTM_NEWLINK, 0, body)

    async def set_up(self, index: int) -> None:
        async with self._lock:
            try:
                await self._set_flags(index, True)
            except OSError as e:
                raise _failure(f"setting interface {index} up", e) from e

    async def set_down(self, index: int) -> None:
        async with self._lock:
            try:
                await self._set_flags(index, False)
            except OSError as e:
                if e.errno != errno.ENODEV:
                    raise _failure(f"setting interface {index} down", e) from e

    async def del_link(self, index: int) -> bool:
        async with self._lock:
            try:
                await self._request(RTM_DELLINK, 0, _IFINFO.pack(0, 0, index, 0, 0))
            except OSError as e:
                if e.errno == errno.ENODEV:
                    return False
                raise _failure(f"removing interface {index}", e) from e
        return True

    async def del_address(self, index: int, iface: IPInterface) -> bool:
        """Delete; True if it was removed, False if it was not there."""
        async with self._lock:
            try:
                await self._request(RTM_DELADDR, 0, _ifaddr(index, iface))
            except OSError as e:
                if e.errno in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                    return False
                raise _failure(f"removing {iface} from interface {index}", e) from e
        return True


# --- events -------------------------------------------------------------------------------


def _event(kind: int, payload: bytes) -> AddrEvent | LinkEvent | None:
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        if len(payload) < _IFADDR.size:
            return None
        family, prefixlen, _, _, index = _IFADDR.unpack_from(payload)
        raw = _attrs(payload, _IFADDR.size).get(IFA_ADDRESS)
        ip = _ip(family, raw) if raw else None
        if ip is None:
            return None
        return AddrEvent(kind == RTM_NEWADDR, index, ip, prefixlen)
    if kind in (RTM_NEWLINK, RTM_DELLINK) and len(payload) >= _IFINFO.size:
        link = _link(payload)
        return LinkEvent(link.index, link.up and kind == RTM_NEWLINK, link.name)
    return None


async def monitor() -> AsyncIterator[AddrEvent | LinkEvent]:
    """Address and link changes, as they happen, for every interface of this namespace.
    Raises NetlinkFailure if the socket cannot be opened or fails (e.g. ENOBUFS: events
    were lost)."""
    try:
        sock = _open(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
    except OSError as e:
        raise _failure("opening the netlink monitor", e) from e
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                data = await loop.sock_recv(sock, RECV_SIZE)
            except OSError as e:
                raise _failure("reading netlink events", e) from e
            for kind, _, _, payload in _messages(data):
                event = _event(kind, payload)
                if event is not None:
                    yield event
    finally:
        _close(sock)
