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
import operator
import socket
from collections.abc import Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

from ..timers import HORIZON, SLACK, Deadlines, drain, merge
from . import rawsock
from .mmsg import Outbox
from .rawsock import Received
from .timer import DeadlineTimer

log = logging.getLogger("vrrpd")

BATCH = 64  # datagrams read per wake-up and socket
_ARRIVAL = operator.attrgetter("arrived")
CATCH_UP = 64  # at most, batches read per socket before a timer's deadlines are handled

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
        self.sockets: dict[int, tuple[rawsock.Reader, S, str]] = {}
        self.outbox = Outbox()  # adverts sent at the end of a batch, together
        self.batching = False  # in a batch (of datagrams or deadlines): `arm` waits for its end

    def schedule(self, key: K, deadline: float | None) -> None:
        """Set (None: cancel) `key`'s deadline; `arm` afterwards."""
        self.deadlines.set(key, deadline)

    def arm(self) -> None:
        if self.batching:
            return  # the batch arms once at its end
        first = self.deadlines.earliest()
        if first is not None and (self.armed is None or first < self.armed):
            self.armed = first
            self.timer.set(first)

    def _wake(self) -> None:
        self.armed = None
        # What arrived before the deadline first: a busy loop may not have read it yet, and
        # a Master_Down_Timer must not fire while the master's advert waits in the socket.
        woke = self.loop.time()
        for reader, source, label in list(self.sockets.values()):
            for _ in range(CATCH_UP):
                count, last = self._read(reader, source, label)
                if count < BATCH or last >= woke:
                    break
        now = self.loop.time()
        if log.isEnabledFor(logging.DEBUG):
            first = self.deadlines.earliest()
            if first is not None and now > first:
                log.debug("timer woke %.0f us late", (now - first) * 1e6)
        self.batching = self.outbox.open = True
        try:
            for key, deadline in drain(self.deadlines, now, SLACK, HORIZON):
                self.on_due(key, max(now, deadline))
        finally:
            self.batching = False
            self.outbox.flush()  # the adverts due together leave together
        self.arm()

    def add_socket(self, sock: socket.socket, source: S, label: str) -> None:
        reader = rawsock.Reader(sock, BATCH)
        self.sockets[sock.fileno()] = (reader, source, label)
        self.loop.add_reader(sock.fileno(), self._readable, reader, source, label)

    def remove_socket(self, sock: socket.socket) -> None:
        self.sockets.pop(sock.fileno(), None)
        self.loop.remove_reader(sock.fileno())

    def _readable(self, reader: rawsock.Reader, source: S, label: str) -> None:
        self._read(reader, source, label)
        self.arm()

    def _read(self, reader: rawsock.Reader, source: S, label: str) -> tuple[int, float]:
        """One batch: how many datagrams it had, when the last one arrived."""
        try:
            batch = reader.receive(BATCH)
        except OSError as e:
            log.warning("%s: receive failed: %s", label, e.strerror or e)
            return 0, 0.0
        self.batching = self.outbox.open = True
        try:
            merge(batch, _ARRIVAL, self.deadlines, partial(self.on_packet, source), self.on_due)
        finally:
            self.batching = False
            self.outbox.flush()
        return len(batch), batch[-1].arrived if batch else 0.0

    def close(self) -> None:
        self.timer.close()
