"""One reactor for every virtual router: their deadlines in one heap (`vrrpd.timers`) behind
one timerfd, and the receive loop of every protocol-112 socket.

The timer is re-armed only when the earliest deadline moved earlier than the armed time; a
wake-up that finds nothing due (a deadline moved later since) arms the next one. Deadlines due
within `SLACK` of a wake-up are handled in it, so advertisements due together leave together.

A readable socket is read at most `BATCH` datagrams at a time: the loop then serves the
timer, the other sockets, netlink and the control socket before the rest. Within a batch,
deadlines that fell due before a datagram arrived are handled before it (`timers.merge`), so
a batch gives the same sequence as one datagram per wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..timers import SLACK, Deadlines, drain, merge
from . import rawsock
from .rawsock import Received
from .timer import DeadlineTimer

log = logging.getLogger("vrrpd")

BATCH = 64  # datagrams read per wake-up and socket

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")


class Reactor(Generic[K, S]):
    """`on_due(key, now)` when a key's deadline comes; `on_packet(source, received)` for each
    datagram of a socket added with `add_socket(sock, source)`."""

    def __init__(
        self,
        on_due: Callable[[K, float], None],
        on_packet: Callable[[S, Received], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.on_due = on_due
        self.on_packet = on_packet
        self.deadlines: Deadlines[K] = Deadlines()
        self.timer = DeadlineTimer(self.loop, self._wake)
        self.armed: float | None = None

    def schedule(self, key: K, deadline: float | None) -> None:
        """Set (None: cancel) `key`'s deadline; `arm` afterwards."""
        self.deadlines.set(key, deadline)

    def arm(self) -> None:
        first = self.deadlines.earliest()
        if first is not None and (self.armed is None or first < self.armed):
            self.armed = first
            self.timer.set(first)

    def _wake(self) -> None:
        self.armed = None
        now = self.loop.time()
        for key, deadline in drain(self.deadlines, now, SLACK):
            self.on_due(key, max(now, deadline))
        self.arm()

    def add_socket(self, sock: socket.socket, source: S, label: str) -> None:
        self.loop.add_reader(sock.fileno(), self._readable, sock, source, label)

    def remove_socket(self, sock: socket.socket) -> None:
        self.loop.remove_reader(sock.fileno())

    def _readable(self, sock: socket.socket, source: S, label: str) -> None:
        try:
            batch = rawsock.receive(sock, BATCH)
        except OSError as e:
            log.warning("%s: receive failed: %s", label, e.strerror or e)
            return
        merge(
            batch,
            _arrival,
            self.deadlines,
            lambda got: self.on_packet(source, got),
            self.on_due,
        )
        self.arm()

    def close(self) -> None:
        self.timer.close()


def _arrival(got: Received) -> float:
    return got.arrived
