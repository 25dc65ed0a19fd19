"""Protocol-112 sockets for IPv4 (RFC 5798 §5.1.1, §8.1): one per interface.

The socket is bound to its interface, joins 224.0.0.18 there, does not loop its own
multicast back, and does not receive groups joined by other sockets (IP_MULTICAST_ALL off).
We send with IP_HDRINCL so the header is exactly ours: TTL 255, DSCP CS6, source = the
interface's primary address (the checksum pseudo-header depends on it).
"""

from __future__ import annotations

import socket
import struct
import time
from ipaddress import IPv4Address

from ..packet import IPPROTO_VRRP, ipv4_header

VRRP_GROUP_V4 = IPv4Address("224.0.0.18")
IP_MULTICAST_ALL = 49  # linux/in.h; not exported by the socket module
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; SCM_TIMESTAMPNS has the same value
RECV_BUFFER = 1 << 20
_CMSG_SPACE = socket.CMSG_SPACE(16)  # struct timespec
_TIMESPEC = struct.Struct("@qq")


def _mreqn(group: IPv4Address, ifindex: int) -> bytes:
    # struct ip_mreqn { in_addr imr_multiaddr; in_addr imr_address; int imr_ifindex; }
    return group.packed + bytes(4) + struct.pack("@i", ifindex)


def open_ipv4(ifname: str, ifindex: int) -> socket.socket:
    """A non-blocking raw socket for VRRP over IPv4 on one interface."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(IPv4Address(0), ifindex))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(VRRP_GROUP_V4, ifindex))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def ipv4_datagram(message: bytes, src: IPv4Address, dst: IPv4Address = VRRP_GROUP_V4) -> bytes:
    """A whole IPv4 packet carrying `message` (what `send_ipv4` sends)."""
    return ipv4_header(src, dst, len(message)) + message


def send_ipv4(sock: socket.socket, datagram: bytes, dst: IPv4Address = VRRP_GROUP_V4) -> None:
    sock.sendto(datagram, (str(dst), 0))


def recv_timestamped(sock: socket.socket) -> tuple[bytes, float]:
    """One datagram and when it arrived, on the `time.monotonic()` scale.

    The kernel stamps each packet on arrival (CLOCK_REALTIME); timers restarted by an
    advertisement then run from its arrival, not from when a busy loop got round to it.
    Raises BlockingIOError when nothing is queued.
    """
    data, ancdata, _flags, _addr = sock.recvmsg(65535, _CMSG_SPACE)
    now = time.monotonic()
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(cdata)
            arrived = now - (time.time() - (sec + nsec * 1e-9))
            # A wall-clock step between arrival and now must not move timers: trust the
            # stamp only within a plausible window.
            if now - 1.0 <= arrived <= now:
                return data, arrived
    return data, now
