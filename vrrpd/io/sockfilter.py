"""Attach a classic BPF program (`vrrpd.bpf`) to a socket, or take it off.

SO_ATTACH_FILTER takes a ``struct sock_fprog`` (length, pointer to the ``struct sock_filter``
array). The kernel copies the program during setsockopt, so the ctypes array only has to live
until the call returns. Attaching again replaces the program in one step: no packet is
let through unfiltered, or lost, while a channel's filter is updated.
"""

from __future__ import annotations

import ctypes
import errno
import socket
from collections.abc import Sequence

from ..bpf import Insn

SO_ATTACH_FILTER = 26  # asm-generic/socket.h
SO_DETACH_FILTER = 27


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def attach(sock: socket.socket, prog: Sequence[Insn]) -> None:
    """Run `prog` on every packet queued to `sock` from now on (replacing any filter)."""
    insns = (_SockFilter * len(prog))(*(_SockFilter(i.code, i.jt, i.jf, i.k) for i in prog))
    fprog = _SockFprog(len(prog), ctypes.cast(insns, ctypes.POINTER(_SockFilter)))
    # bytes(fprog) holds the array's address; `insns` is alive until this function returns.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def detach(sock: socket.socket) -> None:
    """Take the filter off `sock` (none attached: nothing to do)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
