"""A one-shot timer on an absolute CLOCK_MONOTONIC deadline, woken by a Linux timerfd.

asyncio's own timers wake through epoll, whose timeout is whole milliseconds rounded up, so a
`call_at` fires up to a millisecond late. A timerfd armed with an absolute deadline wakes the
loop when the kernel's hrtimer fires (tens of microseconds). `loop.time()` is
`time.monotonic()`, which is CLOCK_MONOTONIC, so deadlines need no conversion.
Python 3.13 has os.timerfd_create; on 3.11 we call libc through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import Callable

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(_Itimerspec),
    ctypes.POINTER(_Itimerspec),
]


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


class DeadlineTimer:
    """`set(deadline)` arms (replacing any earlier deadline), `cancel()` disarms; on expiry
    `callback()` runs in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.fd = _check(_libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC))
        loop.add_reader(self.fd, self._expired)

    def set(self, deadline: float) -> None:
        sec = int(deadline)
        nsec = round((deadline - sec) * 1e9)
        if nsec >= 1_000_000_000:
            sec, nsec = sec + 1, nsec - 1_000_000_000
        if sec == 0 and nsec == 0:
            nsec = 1  # all zeros would disarm
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(sec, nsec))
        _check(_libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None))

    def cancel(self) -> None:
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(0, 0))
        _check(_libc.timerfd_settime(self.fd, 0, ctypes.byref(spec), None))
        self._drain()

    def _drain(self) -> bool:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return False
        return True

    def _expired(self) -> None:
        if self._drain():
            self.callback()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
