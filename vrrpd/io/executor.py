"""The runtime of one virtual router: carries out its `Instance`'s outputs, in order, on its
own worker task, and owns what they need (frames, the periodic tasks). Its deadlines are the
reactor's (`vrrpd.io.reactor`).

It decides nothing: every choice was made by `vrrpd.instance`. Advertisements go out at once
when nothing is pending (no trip through the worker on the hot path); netlink changes complete
in sequence on the worker, so the state machine reacts at once while the kernel catches up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Sequence
from fractions import Fraction
from functools import partial
from typing import Protocol

from .. import fsm
from ..frames import RA_ROUTER_LIFETIME, Frames, announce_frame
from ..groups import GroupSettled
from ..instance import (
    AddAddresses,
    Announce,
    AnnounceLater,
    BeforeMaster,
    DelAddresses,
    HandOver,
    Instance,
    Output,
    Part,
    Rebuild,
    Refresh,
    RouterAds,
    SendAdvert,
    StopAnnouncing,
    Transition,
)
from ..throttle import Throttle
from ..types import IPAddress, IPInterface
from . import rawsock
from .channel import Channel, Port
from .mmsg import Outbox
from .netlink import Link, Netlink, NetlinkFailure

log = logging.getLogger("vrrpd")

RA_INTERVAL = 200.0  # seconds between periodic RAs (RFC 4861 §6.2.1 MaxRtrAdvInterval 600)
RA_INITIAL = (4.0, 4.0)  # seconds after the first and second advertisement (§6.2.4)
SEND_WARNING_EVERY = 10.0  # seconds between two "advertisement not sent" lines
HAND_OVER_WAIT = 1.0  # seconds to learn the new master's MAC after stepping down
# What the kernel answers for an interface index that no longer exists: the interface was
# deleted (and maybe re-created with a new index), whatever the link events said so far.
NO_DEVICE = frozenset({errno.ENODEV, errno.ENXIO})

Step = Output | GroupSettled


class Hooks(Protocol):
    """What the executor asks of the daemon."""

    netlink: Netlink | None

    def after_transition(self, ex: Executor, t: Transition) -> None: ...

    def group_settled(self, settled: GroupSettled) -> None: ...

    async def rebuild(self, ex: Executor, parts: frozenset[Part]) -> None: ...

    async def before_master(self, ex: Executor, t: Transition) -> None:
        """Run `before_master` for `t` and return when it has finished (or timed out)."""

    def addresses_added(self, ex: Executor, vips: Sequence[IPInterface]) -> None:
        """About to add `vips` (a record of what vrrpd added, where the kernel keeps none)."""

    def addresses_removed(self, ex: Executor, vips: Sequence[IPInterface]) -> None: ...

    def link_vanished(self, ex: Executor) -> None:
        """The kernel said "no such device" for `ex`'s interface or virtual MAC."""


class Executor:
    def __init__(
        self,
        inst: Instance,
        channel: Channel,
        hooks: Hooks,
        vmac: Link | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.inst = inst
        self.outbox = outbox  # the reactor's: adverts due together leave together
        self.channel = channel
        self.port: Port = channel.port
        self.hooks = hooks
        self.vmac = vmac  # the macvlan, when use_vmac
        self.frames = self.build_frames()
        self.running = False  # between start() and drain()
        self._send_failures = Throttle(SEND_WARNING_EVERY)  # send_errors counts every one
        # Outputs waiting for the worker, which exists only while there are some: 255 idle
        # virtual routers keep no task and no queue.
        self.pending: collections.deque[list[Step]] = collections.deque()
        self.worker: asyncio.Task[None] | None = None
        self._announcing: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._announcing_later: asyncio.Task[None] | None = None
        self._advertising_router: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.inst.name

    @property
    def vip_index(self) -> int:
        """The interface that holds the virtual addresses: the macvlan, or the interface."""
        return self.vmac.index if self.vmac is not None else self.port.index

    @property
    def frame_mac(self) -> str:
        return self.vmac.mac if self.vmac is not None else self.port.mac

    def build_frames(self) -> Frames:
        return Frames(self.inst.cfg, self.inst.src, self.channel.primary, self.frame_mac)

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        self.running = True

    async def drain(self) -> None:
        """Finish what is queued, then stop every task."""
        await self.settle()
        self.running = False
        tasks = (self._announcing, self._refreshing, self._announcing_later)
        for task in (*tasks, self._advertising_router):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def settle(self) -> None:
        """Wait until what is queued has been carried out (the worker keeps running)."""
        while self.worker is not None:
            await asyncio.shield(self.worker)

    # -- outputs in ----------------------------------------------------------------------------

    def submit(self, steps: list[Step]) -> None:
        if self.worker is None:
            # Nothing is pending: send now rather than after a trip through the worker.
            while steps and isinstance(first := steps[0], SendAdvert):
                self._send(first.priority)
                steps.pop(0)
        if steps:
            self.pending.append(steps)
            if self.worker is None:
                self.worker = asyncio.get_running_loop().create_task(self._work(), name=self.name)

    async def _work(self) -> None:
        """Carry out what is pending, in order, then end (the next submit starts another)."""
        try:
            while self.pending:
                steps = self.pending.popleft()
                try:
                    for step in steps:
                        await self._execute(step)
                except Exception:  # an adapter bug must not kill the virtual router
                    log.exception("%s: carrying out %s failed", self.name, steps)
        finally:
            self.worker = None

    async def _execute(self, step: Step) -> None:
        match step:
            case SendAdvert(priority):
                self._send(priority)
            case AddAddresses(vips, claim):
                await self._addresses(vips, add=True, link=claim)
            case DelAddresses(vips, release):
                await self._addresses(vips, add=False, link=release)
            case Announce(vips):
                self.announce(self.frames.announcements(vips))
            case StopAnnouncing():
                self._stop_announcing()
            case Refresh(interval):
                self._refresh(interval)
            case BeforeMaster(t):
                await self.hooks.before_master(self, t)
            case AnnounceLater(delay):
                self._cancel("_announcing_later")
                self._announcing_later = asyncio.get_running_loop().create_task(
                    self._announce_after(delay)
                )
            case RouterAds(on):
                self._router_ads(on)
            case HandOver(winner, vips):
                self._cancel("_announcing")
                self._announcing = asyncio.get_running_loop().create_task(
                    self._hand_over(winner, vips)
                )
            case Rebuild(parts):
                await self.hooks.rebuild(self, parts)
            case Transition():
                self.hooks.after_transition(self, step)
            case GroupSettled():
                self.hooks.group_settled(step)

    # -- advertisements --------------------------------------------------------------------

    def _send(self, priority: int) -> None:
        frames = self.frames.advert(priority)
        if not self.inst.cfg.unicast_peers:
            # Multicast: one frame on the packet socket; in a reactor batch it leaves with
            # the others due at the same time (one sendmmsg).
            assert self.port.announcer is not None
            ((_, frame),) = frames
            if self.outbox is not None and self.outbox.open:
                self.outbox.post(self.port.announcer.sock, frame, partial(self._sent, priority))
                return
            try:
                self.port.announcer.sock.send(frame)
            except OSError as e:
                self._sent(priority, e)
                return
            self._sent(priority, None)
            return
        try:
            assert self.channel.sock is not None
            for dst, data in frames:
                rawsock.send_unicast(self.channel.sock, data, self.inst.src, dst, self.port.index)
        except OSError as e:
            self._sent(priority, e)
            return
        self._sent(priority, None)

    def _sent(self, priority: int, error: OSError | None) -> None:
        if error is not None and self.inst.expected_send_error(error.errno):
            # The link is down: the FAULT this brings says so; not a warning.
            log.debug("%s: advertisement not sent: %s", self.name, error.strerror or error)
        elif error is not None:
            unsaid = self._send_failures.hit(time.monotonic())
            if unsaid is not None:
                more = f" ({unsaid} more since the last warning)" if unsaid else ""
                log.warning(
                    "%s: advertisement not sent: %s%s", self.name, error.strerror or error, more
                )
        self.inst.sent(priority, error is None)
        if error is not None and error.errno in NO_DEVICE:
            self.hooks.link_vanished(self)

    # -- addresses ---------------------------------------------------------------------------

    async def _addresses(self, vips: Sequence[IPInterface], add: bool, link: bool) -> None:
        """Add or remove addresses. With a virtual MAC the macvlan is up only while master:
        a backup must not accept frames sent to the virtual MAC (§6.4.2)."""
        nl = self.hooks.netlink
        assert nl is not None
        done: list[IPInterface] = []
        if add:
            self.hooks.addresses_added(self, vips)  # recorded before they exist (crash-safe)
        try:
            if add and link and self.vmac is not None:
                await nl.set_up(self.vmac.index)
            for vip in vips:
                if add:
                    await nl.add_address(self.vip_index, vip)
                else:
                    await nl.del_address(self.vip_index, vip)
                done.append(vip)
            if not add and link and self.vmac is not None:
                await nl.set_down(self.vmac.index)
        except NetlinkFailure as e:
            log.error("%s: %s", self.name, e)
            if e.code in NO_DEVICE:
                # Not master without the addresses: FAULT until the interface is reopened.
                self.hooks.link_vanished(self)
        finally:
            if done and not add:
                self.hooks.addresses_removed(self, done)

    # -- gratuitous ARP / unsolicited NA ---------------------------------------------------

    def announce(self, frames: list[bytes]) -> None:
        """One burst now: `garp_repeat` rounds, `garp_interval` apart (later rounds on a task)."""
        self._cancel("_announcing")
        repeat, interval = self.inst.cfg.garp_repeat, self.inst.cfg.garp_interval
        if repeat <= 0 or not frames:
            return
        if interval == 0:
            self._announce_round(frames, repeat)
            return
        self._announce_round(frames, 1)
        if repeat > 1:
            self._announcing = asyncio.get_running_loop().create_task(
                self._announce_rest(frames, repeat - 1, interval)
            )

    def _announce_round(self, frames: list[bytes], times: int) -> None:
        assert self.port.announcer is not None
        failed = 0
        for _ in range(times):
            failed += self.port.announcer.send(frames)
        self.inst.announced(len(frames) * times - failed)
        if failed:
            log.warning("%s: %d gratuitous ARP/NA frames not sent", self.name, failed)

    async def _announce_rest(self, frames: list[bytes], times: int, interval: Fraction) -> None:
        for _ in range(times):
            await asyncio.sleep(float(interval))
            self._announce_round(frames, 1)

    def _refresh(self, interval: Fraction) -> None:
        """(Re)start the periodic re-announcement at `interval` (fixed for this task: a
        reload to 0 stops it rather than making it sleep 0 s)."""
        self._cancel("_refreshing")
        if interval > 0:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh_every(interval))

    async def _refresh_every(self, interval: Fraction) -> None:
        while True:
            await self._announce_after(interval)

    async def _announce_after(self, delay: Fraction) -> None:
        await asyncio.sleep(float(delay))
        self.announce(self.frames.announcements(self.inst.cfg.virtual_ips))

    def _stop_announcing(self) -> None:
        self._cancel("_announcing")
        self._cancel("_refreshing")
        self._cancel("_announcing_later")

    def _cancel(self, attr: str) -> None:
        task: asyncio.Task[None] | None = getattr(self, attr)
        if task is not None:
            task.cancel()
            setattr(self, attr, None)

    async def _hand_over(self, winner: IPAddress, vips: tuple[IPInterface, ...]) -> None:
        """Announce the addresses at the winner's MAC, learnt from the neighbour table, from
        our own port (so switches keep the winner's MAC where it is)."""
        nl = self.hooks.netlink
        if nl is None:
            return
        ask = partial(self._poke, winner)
        mac = await nl.resolve(self.port.index, winner, HAND_OVER_WAIT, ask)
        if mac is None or self.inst.state is not fsm.State.BACKUP:
            return
        frames = [announce_frame(v, mac, self.channel.primary, self.port.mac) for v in vips]
        assert self.port.announcer is not None
        for _ in range(max(1, self.inst.cfg.garp_repeat)):
            self.port.announcer.send(frames)
        log.info(
            "%s: announced the virtual addresses at the new master's MAC %s (%s)",
            self.name,
            mac,
            winner,
        )

    def _poke(self, address: IPAddress) -> None:
        """Make the kernel resolve `address` (one datagram to the discard port)."""
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.port.name.encode())
            if family == socket.AF_INET:
                s.sendto(b"", (str(address), 9))
            else:
                s.sendto(b"", (str(address), 9, 0, self.port.index))

    # -- Router Advertisements -------------------------------------------------------------

    def _router_ads(self, on: bool) -> None:
        if on:
            if self.frames.ra and self._advertising_router is None:
                self._advertising_router = asyncio.get_running_loop().create_task(
                    self._router_ads_every()
                )
            return
        # Leaving Master, or RAs switched off: say "no longer a router" at once (§6.2.5).
        self._cancel("_advertising_router")
        if self.frames.ra and self.port.announcer is not None:
            self.port.announcer.send([self.frames.ra[0]])

    async def _router_ads_every(self) -> None:
        """RFC 4861 §6.2.4/§6.2.6: a few quick advertisements when we start, then one every
        RA_INTERVAL seconds while Master. (Router Solicitations are not answered: hosts
        that solicit get the next periodic one.)"""
        assert self.port.announcer is not None
        for delay in RA_INITIAL:
            self.port.announcer.send([self.frames.ra[RA_ROUTER_LIFETIME]])
            await asyncio.sleep(delay)
        while True:
            self.port.announcer.send([self.frames.ra[RA_ROUTER_LIFETIME]])
            await asyncio.sleep(RA_INTERVAL)
