"""The asyncio reactor: sockets, netlink and timers in; the pure state machine in the middle;
actions out (adverts, addresses, gratuitous ARP), logged and counted.

One process, one loop, one raw socket per interface, many virtual routers keyed by
(interface, VRID, family). Each virtual router executes its actions in order on its own worker
task, so the state machine reacts at once while netlink calls complete in sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import Any

from . import fsm, packet
from .config import Config, VirtualRouterConfig
from .control import ControlError, ControlServer
from .io import rawsock
from .io.announce import Announcer, garp_frame
from .io.netlink import AddrEvent, LinkEvent, Netlink, NetlinkFailure, monitor
from .io.timer import DeadlineTimer
from .receive import DISCARD_REASONS, Accepted, Receiver, RouterView

log = logging.getLogger("vrrpd")

COUNTERS: tuple[str, ...] = (
    "adverts_sent",
    "adverts_received",
    "became_master",
    "priority0_sent",
    "priority0_received",
    "checksum_rfc5798",
    "checksum_rfc9568",
    "address_list_mismatch",
    "send_errors",
    *(f"discard_{r}" for r in DISCARD_REASONS),
)
# Discards that cannot be attributed to one virtual router (no configured VRID in the packet)
# are counted on the interface and shown in the row of every virtual router on it.
INTERFACE_COUNTERS = ("discard_vrid", "discard_ip_header", "discard_length")


class StartupError(Exception):
    """The daemon cannot start; str() is one line for the operator."""


class Interface:
    """One interface: its raw socket, its announcer and the virtual routers on it."""

    def __init__(self, name: str, index: int, mac: str, primary: IPv4Address) -> None:
        self.name = name
        self.index = index
        self.mac = mac
        self.primary = primary
        self.routers: dict[int, Router] = {}
        self.counters = dict.fromkeys(INTERFACE_COUNTERS, 0)
        self.sock: socket.socket | None = None
        self.announcer: Announcer | None = None
        self.receiver = Receiver({}, {primary})

    def open(self) -> None:
        self.sock = rawsock.open_ipv4(self.name, self.index)
        self.announcer = Announcer(self.name)
        self.receiver = Receiver(
            {
                vrid: RouterView(r.cfg.version, frozenset(v.ip for v in r.cfg.virtual_ips))
                for vrid, r in self.routers.items()
            },
            {self.primary},
        )

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.announcer is not None:
            self.announcer.close()
            self.announcer = None


class Router:
    """One virtual router: the pure state machine plus its timers, cache and counters."""

    def __init__(self, cfg: VirtualRouterConfig, iface: Interface, daemon: Daemon) -> None:
        self.cfg = cfg
        self.iface = iface
        self.daemon = daemon
        self.fsm = fsm.VirtualRouter(
            fsm.Params(
                vrid=cfg.vrid,
                priority=cfg.priority,
                interval_cs=cfg.advert_interval_cs,
                preempt=cfg.preempt,
                preempt_delay=cfg.preempt_delay,
                version=cfg.version,
            ),
            primary=iface.primary,
        )
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.state_since = time.monotonic()
        self.timer: DeadlineTimer | None = None
        self.timer_at: float | None = None
        self.busy = False  # the worker is executing actions
        self.queue: asyncio.Queue[list[fsm.Action]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self._adverts: dict[int, bytes] = {}
        self._garp = [
            garp_frame(iface.mac, v.ip) for v in cfg.virtual_ips if isinstance(v.ip, IPv4Address)
        ]
        self._mismatch_from: set[str] = set()

    # -- driving the state machine ---------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = DeadlineTimer(loop, self._on_timer)
        self.worker = loop.create_task(self._work(), name=self.cfg.name)
        self.dispatch(fsm.Startup())

    def dispatch(self, event: fsm.Event, now: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        actions = self.fsm.handle(event, loop.time() if now is None else now)
        if actions and not self.busy and self.queue.empty():
            # Nothing is pending: send now rather than after a trip through the worker.
            while actions and isinstance(first := actions[0], fsm.SendAdvert):
                self._send(first.priority)
                actions.pop(0)
        if actions:
            self.queue.put_nowait(actions)
        self._reschedule()

    def _reschedule(self) -> None:
        deadline = self.fsm.next_deadline()
        if deadline == self.timer_at or self.timer is None:
            return
        self.timer_at = deadline
        if deadline is None:
            self.timer.cancel()
        else:
            self.timer.set(deadline)

    def _on_timer(self) -> None:
        deadline = self.timer_at
        self.timer_at = None
        now = asyncio.get_running_loop().time()
        if deadline is not None:
            if now < deadline:
                now = deadline  # woken within the clock's resolution of the deadline
            elif log.isEnabledFor(logging.DEBUG):
                log.debug("%s: timer woke %.0f us late", self.cfg.name, (now - deadline) * 1e6)
        self.dispatch(fsm.Timeout(), now)

    def stop(self) -> None:
        self.dispatch(fsm.Shutdown())
        if self.timer is not None:
            self.timer.close()
            self.timer = None
        self.timer_at = None

    async def drain(self) -> None:
        await self.queue.join()
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker

    # -- receiving -------------------------------------------------------------------------

    def received(self, verdict: Accepted, arrived: float) -> None:
        c = self.counters
        c["adverts_received"] += 1
        c["checksum_" + verdict.checksum_form.value] += 1
        if verdict.advert.priority == 0:
            c["priority0_received"] += 1
        if verdict.address_mismatch:
            c["address_list_mismatch"] += 1
            who = str(verdict.src)
            if who not in self._mismatch_from:
                self._mismatch_from.add(who)
                theirs = " ".join(str(a) for a in verdict.advert.addresses)
                log.warning(
                    "%s: address list from %s differs from ours: %s (accepted, RFC 5798 §7.1 MAY)",
                    self.cfg.name,
                    who,
                    theirs,
                )
        self.dispatch(fsm.AdvertReceived(verdict.advert, verdict.src), arrived)

    # -- executing actions -----------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            actions = await self.queue.get()
            self.busy = True
            try:
                for action in actions:
                    await self._execute(action)
            except Exception:  # an adapter bug must not kill the virtual router
                log.exception("%s: executing %s failed", self.cfg.name, actions)
            finally:
                self.busy = False
                self.queue.task_done()

    async def _execute(self, action: fsm.Action) -> None:
        match action:
            case fsm.SendAdvert(priority):
                self._send(priority)
            case fsm.AddVips():
                await self.daemon.set_vips(self, add=True)
            case fsm.DelVips():
                await self.daemon.set_vips(self, add=False)
            case fsm.Announce():
                assert self.iface.announcer is not None
                failed = self.iface.announcer.send(self._garp, self.cfg.garp_repeat)
                if failed:
                    log.warning("%s: %d gratuitous ARP frames not sent", self.cfg.name, failed)
            case fsm.StateChanged(old, new, reason):
                self.state_since = time.monotonic()
                if new is fsm.State.MASTER:
                    self.counters["became_master"] += 1
                log.info(
                    "%s: state %s -> %s reason=%s vrid=%d iface=%s priority=%d",
                    self.cfg.name,
                    old.value,
                    new.value,
                    reason.value,
                    self.cfg.vrid,
                    self.cfg.interface,
                    self.cfg.priority,
                )

    def _advert(self, priority: int) -> bytes:
        cached = self._adverts.get(priority)
        if cached is None:
            adv = packet.Advertisement(
                version=self.cfg.version,
                vrid=self.cfg.vrid,
                priority=priority,
                interval_cs=self.cfg.advert_interval_cs,
                addresses=tuple(v.ip for v in self.cfg.virtual_ips),
            )
            src = self.iface.primary
            message = packet.encode(adv, src, rawsock.VRRP_GROUP_V4, self.cfg.checksum)
            cached = self._adverts[priority] = rawsock.ipv4_datagram(message, src)
        return cached

    def _send(self, priority: int) -> None:
        assert self.iface.sock is not None
        try:
            rawsock.send_ipv4(self.iface.sock, self._advert(priority))
        except OSError as e:
            self.counters["send_errors"] += 1
            log.warning("%s: advertisement not sent: %s", self.cfg.name, e.strerror or e)
            return
        self.counters["adverts_sent"] += 1
        if priority == 0:
            self.counters["priority0_sent"] += 1

    def invalidate(self) -> None:
        self._adverts.clear()

    # -- reporting -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        f = self.fsm
        counters = dict(self.counters)
        counters.update(self.iface.counters)
        return {
            "name": self.cfg.name,
            "interface": self.cfg.interface,
            "vrid": self.cfg.vrid,
            "family": self.cfg.family,
            "version": self.cfg.version,
            "state": f.state.value,
            "priority": self.cfg.priority,
            "advert_interval": self.cfg.advert_interval_cs / 100,
            "master_adver_interval": f.master_adver_interval_cs / 100,
            "master": None if f.master_address is None else str(f.master_address),
            "primary": str(self.iface.primary),
            "time_in_state": round(time.monotonic() - self.state_since, 3),
            "virtual_ips": [str(v) for v in self.cfg.virtual_ips],
            "checksum": self.cfg.checksum.value,
            "counters": counters,
        }


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.netlink: Netlink | None = None
        self.interfaces: dict[str, Interface] = {}
        self.routers: list[Router] = []
        self.control = ControlServer(config.daemon.control_socket, self._control)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- start-up --------------------------------------------------------------------------

    async def _setup(self) -> None:
        # The control socket first: it is also the lock that keeps a second daemon with the
        # same configuration from touching the addresses of the running one.
        try:
            await self.control.start()
        except (ControlError, OSError) as e:
            raise StartupError(str(e)) from None
        self.netlink = nl = Netlink()
        vips_by_iface: dict[str, set[IPv4Address | IPv6Address]] = {}
        for cfg in self.config.virtual_routers:
            vips_by_iface.setdefault(cfg.interface, set()).update(v.ip for v in cfg.virtual_ips)
        for name, vips in vips_by_iface.items():
            try:
                link = await nl.link(name)
                addrs = await nl.addresses(link.index)
            except NetlinkFailure as e:
                raise StartupError(str(e)) from None
            primary = next(
                (
                    a.ip
                    for a, is_primary in addrs
                    if isinstance(a, IPv4Interface) and is_primary and a.ip not in vips
                ),
                None,
            )
            if primary is None:
                raise StartupError(
                    f"interface {name}: no IPv4 address of its own to send advertisements from"
                )
            self.interfaces[name] = Interface(name, link.index, link.mac, primary)
            # A crashed predecessor must not leave a duplicate VIP: remove ours before electing.
            for a, _ in addrs:
                if a.ip in vips:
                    await nl.del_address(link.index, a)
                    log.info("%s: removed stale virtual address %s found at start-up", name, a)
        for cfg in self.config.virtual_routers:
            iface = self.interfaces[cfg.interface]
            router = Router(cfg, iface, self)
            iface.routers[cfg.vrid] = router
            self.routers.append(router)
        loop = asyncio.get_running_loop()
        for iface in self.interfaces.values():
            try:
                iface.open()
            except OSError as e:
                raise StartupError(f"interface {iface.name}: cannot open sockets: {e}") from None
            assert iface.sock is not None
            loop.add_reader(iface.sock.fileno(), self._readable, iface)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            await self._setup()
            self._tasks.append(loop.create_task(self._watch_netlink()))
            for router in self.routers:
                router.start()
            log.info(
                "vrrpd running: %d virtual router(s), control socket %s",
                len(self.routers),
                self.config.daemon.control_socket,
            )
            await self.stopping.wait()
            log.info("vrrpd stopping")
        finally:
            await self._teardown()
        return 0

    async def _teardown(self) -> None:
        for router in self.routers:
            if router.worker is not None:
                router.stop()
        for router in self.routers:
            await router.drain()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        loop = asyncio.get_running_loop()
        for iface in self.interfaces.values():
            if iface.sock is not None:
                loop.remove_reader(iface.sock.fileno())
            iface.close()
        await self.control.close()
        if self.netlink is not None:
            await self.netlink.close()

    # -- inputs ----------------------------------------------------------------------------

    def _readable(self, iface: Interface) -> None:
        assert iface.sock is not None
        while True:
            try:
                data, arrived = rawsock.recv_timestamped(iface.sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("%s: receive failed: %s", iface.name, e.strerror or e)
                return
            verdict = iface.receiver.receive_ipv4(data)
            if isinstance(verdict, Accepted):
                iface.routers[verdict.vrid].received(verdict, arrived)
                continue
            key = "discard_" + verdict.reason
            router = iface.routers.get(verdict.vrid) if verdict.vrid is not None else None
            if router is not None:
                router.counters[key] += 1
            else:
                iface.counters[key] = iface.counters.get(key, 0) + 1
            log.debug("%s: discarded (%s): %s", iface.name, verdict.reason, verdict.detail)

    async def _watch_netlink(self) -> None:
        by_index = {i.index: i for i in self.interfaces.values()}
        try:
            async for event in monitor():
                if isinstance(event, AddrEvent) and not event.added:
                    iface = by_index.get(event.index)
                    if iface is None:
                        continue
                    for router in iface.routers.values():
                        if router.fsm.state is fsm.State.MASTER and any(
                            v.ip == event.address for v in router.cfg.virtual_ips
                        ):
                            log.warning(
                                "%s: virtual address %s removed while master; putting it back",
                                router.cfg.name,
                                event.address,
                            )
                            router.dispatch(fsm.VipsLost())
                elif isinstance(event, LinkEvent):
                    pass  # link tracking and FAULT come with the tracking work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("netlink monitor failed; hand-removed addresses are no longer restored")

    # -- actions needing the daemon ----------------------------------------------------------

    async def set_vips(self, router: Router, add: bool) -> None:
        assert self.netlink is not None
        for vip in router.cfg.virtual_ips:
            try:
                if add:
                    await self.netlink.add_address(router.iface.index, vip)
                else:
                    await self.netlink.del_address(router.iface.index, vip)
            except NetlinkFailure as e:
                log.error("%s: %s", router.cfg.name, e)

    # -- control -----------------------------------------------------------------------------

    async def _control(self, req: dict[str, Any]) -> Any:
        cmd = req["cmd"]
        if cmd == "status":
            return [r.status() for r in self.routers]
        raise ControlError(f"unknown command {cmd!r}; known: status")


async def serve(config: Config) -> int:
    return await Daemon(config).run()
