"""Protocol-112 sockets (RFC 5798 §5.1, §8): one per (interface, address family).

Receiving: the socket is bound to its interface, joins 224.0.0.18 / ff02::12 there, does not
receive groups joined by other sockets, and reports per packet the arrival time (kernel
timestamp), the TTL or hop limit, and for IPv6 the destination (the checksum needs it).

Sending: multicast advertisements go out as whole Ethernet frames on the interface's packet
socket (built once per priority, see `ethernet_frame`), which also lets a virtual router send
from its virtual MAC; unicast advertisements go through this socket: IPv4 with our own header
(IP_HDRINCL: TTL 255, DSCP CS6, our source), IPv6 with hop limit 255 and the source given
per packet.
"""

from __future__ import annotations

import socket
import struct
import time
from functools import partial
from ipaddress import IPv4Address, IPv6Address
from typing import NamedTuple

from .. import privilege
from ..packet import DSCP_CS6_TOS
from ..privilege import Op
from ..types import IPPROTO_VRRP, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL, IPAddress
from . import mmsg

IP_MULTICAST_ALL = 49  # linux/in.h; not exported by the socket module
IPV6_MULTICAST_ALL = 29  # linux/in6.h
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; SCM_TIMESTAMPNS has the same value
RECV_BUFFER = 1 << 20
# Largest datagram read: the biggest valid advert (IPv6, 255 addresses: 4088 bytes) fits;
# a longer one arrives cut short and fails the length check.
RECV_SIZE = 4096 + 64
_ANC_SPACE = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4)
_TIMESPEC = struct.Struct("@qq")
_IP6 = socket.IPPROTO_IPV6
_STAMP = struct.Struct(mmsg.CMSG_HEADER.format + "qq")  # struct cmsghdr + struct timespec


def _mreqn(grp: IPv4Address, ifindex: int) -> bytes:
    # struct ip_mreqn { in_addr imr_multiaddr; in_addr imr_address; int imr_ifindex; }
    return grp.packed + bytes(4) + struct.pack("@i", ifindex)


def open_socket(family: int, ifname: str, ifindex: int) -> socket.socket:
    """A non-blocking raw socket for VRRP of one family on one interface (refused for lack
    of CAP_NET_RAW: `vrrpd.privilege.Unprivileged`)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        sock = socket.socket(af, socket.SOCK_RAW, IPPROTO_VRRP)
    except OSError as e:
        what = f"opening the VRRP raw socket (IPv{family}) on {ifname}"
        raise privilege.refusal(Op.RAW_SOCKET, what, e) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == 4:
            ip = socket.IPPROTO_IP
            sock.setsockopt(ip, socket.IP_HDRINCL, 1)
            sock.setsockopt(ip, socket.IP_MULTICAST_IF, _mreqn(IPv4Address(0), ifindex))
            sock.setsockopt(ip, socket.IP_MULTICAST_LOOP, 0)
            sock.setsockopt(ip, socket.IP_MULTICAST_TTL, VRRP_TTL)
            sock.setsockopt(ip, IP_MULTICAST_ALL, 0)
            sock.setsockopt(ip, socket.IP_ADD_MEMBERSHIP, _mreqn(VRRP_GROUP_V4, ifindex))
        else:
            ip6 = socket.IPPROTO_IPV6
            sock.setsockopt(ip6, socket.IPV6_MULTICAST_IF, ifindex)
            sock.setsockopt(ip6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(ip6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
            sock.setsockopt(ip6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
            sock.setsockopt(ip6, socket.IPV6_TCLASS, DSCP_CS6_TOS)
            sock.setsockopt(ip6, IPV6_MULTICAST_ALL, 0)
            sock.setsockopt(ip6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(ip6, socket.IPV6_RECVPKTINFO, 1)
            mreq = VRRP_GROUP_V6.packed + struct.pack("@I", ifindex)
            sock.setsockopt(ip6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Received(NamedTuple):
    """One datagram: for IPv4 the whole packet (header included), for IPv6 the payload."""

    data: bytes
    arrived: float  # on the time.monotonic() scale
    src: IPAddress | None = None  # IPv6 only (IPv4 has it in the header)
    dst: IPAddress | None = None
    hop_limit: int | None = None


_new = partial(tuple.__new__, Received)  # Received(...) without its Python-level __new__


class Reader:
    """Reads one protocol-112 socket many datagrams per system call (recvmmsg)."""

    def __init__(self, sock: socket.socket, capacity: int) -> None:
        self.v6 = sock.family == socket.AF_INET6
        self.batch = mmsg.BatchReader(sock, capacity, RECV_SIZE, _ANC_SPACE, names=self.v6)

    def receive(self, limit: int) -> list[Received]:
        """Up to `limit` queued datagrams (none: an empty list); the caller comes back for
        the rest on its next wake-up, so a flood never starves timers and other sockets.

        The kernel stamps each packet on arrival (CLOCK_REALTIME); timers restarted by an
        advertisement then run from its arrival, not from when a busy loop got round to it.
        A wall-clock step between arrival and now must not move timers: a stamp is trusted
        only within a plausible window.
        """
        batch = self.batch
        count = batch.read(limit)
        if not count:
            return []
        now = time.monotonic()
        offset = now - time.time()  # realtime -> monotonic
        earliest = now - 1.0
        out: list[Received] = []
        if not self.v6:
            # IPv4: the one control message is the time stamp, first in its slot.
            for data, _used, fields in batch.stamped(_STAMP):
                arrived = now
                if fields is not None and fields[1] == socket.SOL_SOCKET:
                    stamp = fields[3] + fields[4] * 1e-9 + offset
                    if fields[2] == SO_TIMESTAMPNS and earliest <= stamp <= now:
                        arrived = stamp
                out.append(_new((data, arrived, None, None, None)))
            return out
        for i in range(count):
            arrived = now
            dst: IPAddress | None = None
            hop_limit: int | None = None
            for level, kind, cdata in batch.cmsgs(i):
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(cdata)
                    stamp = sec + nsec * 1e-9 + offset
                    if earliest <= stamp <= now:
                        arrived = stamp
                elif level == _IP6 and kind == socket.IPV6_HOPLIMIT and len(cdata) >= 4:
                    hop_limit = struct.unpack("@i", cdata[:4])[0]
                elif level == _IP6 and kind == socket.IPV6_PKTINFO and len(cdata) >= 16:
                    dst = IPv6Address(cdata[:16])
            # struct sockaddr_in6: family, port, flow info, then the address
            src = IPv6Address(batch.name(i)[8:24])
            out.append(Received(batch.data(i), arrived, src, dst, hop_limit))
        return out


def send_unicast(
    sock: socket.socket, payload: bytes, src: IPAddress, dst: IPAddress, ifindex: int
) -> None:
    """Send one advertisement by unicast (`payload` from `unicast_payload`)."""
    if isinstance(dst, IPv4Address):
        sock.sendto(payload, (str(dst), 0))
        return
    pktinfo = src.packed + struct.pack("@I", ifindex)
    sock.sendmsg(
        [payload],
        [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)],
        0,
        (str(dst), 0, 0, ifindex if dst.is_link_local else 0),
    )
