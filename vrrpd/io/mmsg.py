"""recvmmsg(2) and sendmmsg(2) through ctypes: many datagrams per system call.

A `BatchReader` owns one socket's receive buffers, allocated once: up to `capacity` datagrams
of `size` bytes with their ancillary data and source address. Each `read` is one system call;
what it returns is copied out as bytes. `send_many` sends a list of whole datagrams on one
socket in one call (the kernel may take fewer: it says how many).

Python 3.11's socket module has neither call; the layouts below are Linux's on 64-bit
(`struct mmsghdr` is a `struct msghdr` and the byte count of the message).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import struct
from collections.abc import Callable

MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
SOCKADDR_SIZE = 28  # struct sockaddr_in6, the larger of the two families


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.recvmmsg.argtypes = [
    ctypes.c_int,
    ctypes.POINTER(_Mmsghdr),
    ctypes.c_uint,
    ctypes.c_int,
    ctypes.c_void_p,
]
_libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint, ctypes.c_int]

_STRIDE = ctypes.sizeof(_Mmsghdr)
_NAMELEN_AT = _Msghdr.msg_namelen.offset
_CONTROLLEN_AT = _Msghdr.msg_controllen.offset
_LEN_AT = _Mmsghdr.msg_len.offset
_U32 = struct.Struct("@I")
_SIZE = struct.Struct("@N")
_CMSG = struct.Struct("@Nii")  # struct cmsghdr: cmsg_len, cmsg_level, cmsg_type
_CMSG_ALIGN = ctypes.sizeof(ctypes.c_size_t)

Cmsg = tuple[int, int, bytes]  # (level, type, data), as socket.recvmsg gives them
CMSG_HEADER = _CMSG


def _fail() -> OSError:
    err = ctypes.get_errno()
    return OSError(err, os.strerror(err))


class BatchReader:
    """One socket's receive buffers. `read` fills them; `data`, `control` and `name` give
    what the last read put in slot `i`."""

    def __init__(
        self, sock: socket.socket, capacity: int, size: int, control: int, names: bool
    ) -> None:
        self.sock = sock
        self.capacity = capacity
        self.size = size
        self.control_size = control
        self.names = names  # keep each datagram's source address (IPv6: not in the data)
        self._data = ctypes.create_string_buffer(capacity * size)
        self._control = ctypes.create_string_buffer(capacity * control)
        self._names = ctypes.create_string_buffer(capacity * SOCKADDR_SIZE)
        self._iov = (_Iovec * capacity)()
        self._msgs = (_Mmsghdr * capacity)()
        data, ctl, name = (ctypes.addressof(b) for b in (self._data, self._control, self._names))
        for i in range(capacity):
            self._iov[i].iov_base = data + i * size
            self._iov[i].iov_len = size
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name = name + i * SOCKADDR_SIZE if names else None
            hdr.msg_iov = ctypes.pointer(self._iov[i])
            hdr.msg_iovlen = 1
            hdr.msg_control = ctl + i * control
        self.view = memoryview(self._msgs).cast("B")
        self.data_view = memoryview(self._data).cast("B")
        self.control_view = memoryview(self._control).cast("B")
        self.names_view = memoryview(self._names).cast("B")
        self._dirty = capacity  # headers the kernel may have changed since they were set

    def read(self, limit: int) -> int:
        """Fill up to `limit` slots (`capacity` at most) with queued datagrams; how many
        (0 when none is queued)."""
        limit = min(limit, self.capacity)
        view, control = self.view, self.control_size
        for at in range(0, min(self._dirty, limit) * _STRIDE, _STRIDE):
            _SIZE.pack_into(view, at + _CONTROLLEN_AT, control)
            if self.names:
                _U32.pack_into(view, at + _NAMELEN_AT, SOCKADDR_SIZE)
        count = _libc.recvmmsg(self.sock.fileno(), self._msgs, limit, MSG_DONTWAIT, None)
        if count < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EINTR):
                self._dirty = 0
                return 0
            raise _fail()
        self._dirty = count
        return int(count)

    def stamped(self, stamp: struct.Struct) -> list[tuple[bytes, int, tuple[int, ...] | None]]:
        """What the last `read` got, as (data, control bytes used, `stamp` unpacked from the
        start of its control slot, None if the slot is shorter): for a socket whose first
        control message is known (IPv4: the time stamp), without a call per field."""
        view, data, control = self.view, self.data_view, self.control_view
        size, csize = self.size, self.control_size
        out = []
        for i in range(self._dirty):
            at = i * _STRIDE
            length = _U32.unpack_from(view, at + _LEN_AT)[0]
            used = _SIZE.unpack_from(view, at + _CONTROLLEN_AT)[0]
            start = i * size
            body = data[start : start + (length if length < size else size)].tobytes()
            fields = stamp.unpack_from(control, i * csize) if used >= stamp.size else None
            out.append((body, used, fields))
        return out

    def data(self, i: int) -> bytes:
        length = _U32.unpack_from(self.view, i * _STRIDE + _LEN_AT)[0]
        start = i * self.size
        return self.data_view[start : start + min(length, self.size)].tobytes()

    def control_used(self, i: int) -> int:
        return int(_SIZE.unpack_from(self.view, i * _STRIDE + _CONTROLLEN_AT)[0])

    def cmsgs(self, i: int) -> list[Cmsg]:
        return _cmsgs(self.control_view, i * self.control_size, self.control_used(i))

    def name(self, i: int) -> bytes:
        length = _U32.unpack_from(self.view, i * _STRIDE + _NAMELEN_AT)[0]
        start = i * SOCKADDR_SIZE
        return self.names_view[start : start + min(length, SOCKADDR_SIZE)].tobytes()


def _cmsgs(view: memoryview, start: int, used: int) -> list[Cmsg]:
    out: list[Cmsg] = []
    at, end = start, start + used
    while at + _CMSG.size <= end:
        length, level, kind = _CMSG.unpack_from(view, at)
        if length < _CMSG.size or at + length > end:
            break
        out.append((level, kind, view[at + _CMSG.size : at + length].tobytes()))
        at += (length + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1)
    return out


class _SendBuffers:
    """Headers for sendmmsg, grown as needed and reused: filled with `struct`, no ctypes
    object per datagram."""

    def __init__(self) -> None:
        self.capacity = 0
        self._grow(64)

    def _grow(self, capacity: int) -> None:
        self.capacity = capacity
        self.msgs = (_Mmsghdr * capacity)()
        self.iov = (_Iovec * capacity)()
        self.msgs_view = memoryview(self.msgs).cast("B")
        self.iov_view = memoryview(self.iov).cast("B")
        iov = ctypes.addressof(self.iov)
        for i in range(capacity):
            self.msgs[i].msg_hdr.msg_iov = ctypes.cast(iov + i * _IOV.size, ctypes.POINTER(_Iovec))
            self.msgs[i].msg_hdr.msg_iovlen = 1

    def fill(self, datagrams: list[bytes]) -> ctypes.Array[ctypes.c_char]:
        """Point the first len(datagrams) headers at one copy of them (kept alive by the
        returned buffer)."""
        if len(datagrams) > self.capacity:
            self._grow(max(len(datagrams), 2 * self.capacity))
        joined = ctypes.create_string_buffer(b"".join(datagrams), sum(map(len, datagrams)))
        base = ctypes.addressof(joined)
        view = self.iov_view
        for i, data in enumerate(datagrams):
            _IOV.pack_into(view, i * _IOV.size, base, len(data))
            base += len(data)
        return joined


_IOV = struct.Struct("@PN")  # struct iovec
_send_buffers: _SendBuffers | None = None


def send_many(sock: socket.socket, datagrams: list[bytes]) -> tuple[int, OSError | None]:
    """Send `datagrams` in order with as few calls as the kernel allows: (how many were sent,
    the error that stopped the rest, if one did)."""
    global _send_buffers
    count = len(datagrams)
    if count == 0:
        return 0, None
    if count == 1:
        try:
            sock.send(datagrams[0])
        except OSError as e:
            return 0, e
        return 1, None
    if _send_buffers is None:
        _send_buffers = _SendBuffers()
    buffers = _send_buffers
    keep = buffers.fill(datagrams)
    sent = 0
    fd = sock.fileno()
    try:
        while sent < count:
            done = _libc.sendmmsg(fd, ctypes.byref(buffers.msgs[sent]), count - sent, 0)
            if done < 0:
                err = ctypes.get_errno()
                if err == errno.EINTR:
                    continue
                return sent, OSError(err, os.strerror(err))
            if done == 0:
                break
            sent += done
    finally:
        del keep
    return sent, None


Done = Callable[[OSError | None], None]


class Outbox:
    """Datagrams held while `open` (a reactor batch: the adverts due in one wake-up) and
    sent at `flush`, one sendmmsg per socket, in the order they were posted. Each one's
    `done(error)` then says whether it left."""

    def __init__(self) -> None:
        self.open = False
        self._queued: dict[int, tuple[socket.socket, list[bytes], list[Done]]] = {}

    def post(self, sock: socket.socket, data: bytes, done: Done) -> None:
        entry = self._queued.get(sock.fileno())
        if entry is None:
            entry = self._queued[sock.fileno()] = (sock, [], [])
        entry[1].append(data)
        entry[2].append(done)

    def flush(self) -> None:
        self.open = False
        queued, self._queued = self._queued, {}
        for sock, datagrams, dones in queued.values():
            sent, error = send_many(sock, datagrams)
            for i, done in enumerate(dones):
                done(None if i < sent else error or OSError("not sent"))
