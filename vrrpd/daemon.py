"""The asyncio reactor: sockets, netlink and timers in; the pure state machine in the middle;
actions out (advertisements, addresses, gratuitous ARP / NA), logged and counted.

One process, one loop, one raw socket per (interface, family), many virtual routers keyed by
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
from fractions import Fraction
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from . import fsm, packet
from .config import Config, VirtualRouterConfig
from .control import ControlError, ControlServer
from .io import nft, rawsock, sysctl
from .io.announce import Announcer, garp_frame, na_frame
from .io.netlink import AddrEvent, Link, LinkEvent, Netlink, NetlinkFailure, monitor
from .io.timer import DeadlineTimer
from .receive import DISCARD_REASONS, Accepted, Receiver, RouterView, auth_data

log = logging.getLogger("vrrpd")

IPAddress = IPv4Address | IPv6Address

COUNTERS: tuple[str, ...] = (
    "adverts_sent",
    "adverts_received",
    "became_master",
    "priority0_sent",
    "priority0_received",
    "checksum_rfc5798",
    "checksum_rfc9568",
    "address_list_mismatch",
    "interval_mismatch",
    "send_errors",
    *(f"discard_{r}" for r in DISCARD_REASONS),
)
# Discards that cannot be attributed to one virtual router (no configured VRID in the packet)
# are counted on the channel and shown in the row of every virtual router on it.
CHANNEL_COUNTERS = ("discard_vrid", "discard_ip_header", "discard_length")

# Sysctls a virtual MAC needs on the macvlan and its parent (IPv4), see README "Virtual MAC".
VMAC_ARP_SYSCTLS = {"arp_ignore": 1, "arp_announce": 2}


class StartupError(Exception):
    """The daemon cannot start; str() is one line for the operator."""


def vmac_address(family: int, vrid: int) -> str:
    """RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6."""
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


class Port:
    """One interface: its link facts and its packet socket (frames: adverts, ARP, NA)."""

    def __init__(self, link: Link) -> None:
        self.name = link.name
        self.index = link.index
        self.mac = link.mac
        self.announcer: Announcer | None = None

    def open(self) -> None:
        self.announcer = Announcer(self.name)

    def close(self) -> None:
        if self.announcer is not None:
            self.announcer.close()
            self.announcer = None


class Channel:
    """One (interface, family): its raw socket, validation and the virtual routers on it."""

    def __init__(self, port: Port, family: int, primary: IPAddress) -> None:
        self.port = port
        self.family = family
        self.primary = primary
        self.routers: dict[int, Router] = {}
        self.counters = dict.fromkeys(CHANNEL_COUNTERS, 0)
        self.sock: socket.socket | None = None
        self.receiver = Receiver({}, {primary})

    @property
    def label(self) -> str:
        return f"{self.port.name}/ipv{self.family}"

    def open(self) -> None:
        self.sock = rawsock.open_socket(self.family, self.port.name, self.port.index)
        local: set[IPAddress] = {self.primary}
        local.update(r.src for r in self.routers.values())
        self.receiver = Receiver({vrid: r.view() for vrid, r in self.routers.items()}, local)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Router:
    """One virtual router: the pure state machine plus its timers, frames and counters."""

    def __init__(self, cfg: VirtualRouterConfig, channel: Channel, daemon: Daemon) -> None:
        self.cfg = cfg
        self.channel = channel
        self.port = channel.port
        self.daemon = daemon
        # Our advertisements' source, which is also our primary address in tie-breaks.
        self.src: IPAddress = cfg.unicast_source or channel.primary
        self.fsm = fsm.VirtualRouter(
            fsm.Params(
                vrid=cfg.vrid,
                priority=cfg.priority,
                interval_cs=cfg.advert_interval_cs,
                preempt=cfg.preempt,
                preempt_delay=cfg.preempt_delay,
                version=cfg.version,
            ),
            primary=self.src,
        )
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.state_since = time.monotonic()
        self.timer: DeadlineTimer | None = None
        self.timer_at: float | None = None
        self.busy = False  # the worker is executing actions
        self.queue: asyncio.Queue[list[fsm.Action]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.vmac: Link | None = None  # the macvlan, when use_vmac
        self._adverts: dict[int, list[tuple[IPAddress, bytes]]] = {}
        self._announce_frames: list[bytes] = []
        self._announcing: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._warned: set[tuple[str, str]] = set()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def vip_index(self) -> int:
        """The interface that holds the virtual addresses: the macvlan, or the interface."""
        return self.vmac.index if self.vmac is not None else self.port.index

    @property
    def frame_mac(self) -> str:
        return self.vmac.mac if self.vmac is not None else self.port.mac

    def view(self) -> RouterView:
        return RouterView(
            version=self.cfg.version,
            addresses=frozenset(v.ip for v in self.cfg.virtual_ips),
            interval_cs=self.cfg.advert_interval_cs,
            auth_pass=self.cfg.auth_pass,
            peers=frozenset(self.cfg.unicast_peers),
            ttl_check=self.cfg.unicast_ttl_check or not self.cfg.unicast_peers,
        )

    def build_frames(self) -> None:
        """Everything this router puts on the wire, built once: no per-packet work later."""
        self._adverts.clear()
        mac = self.frame_mac
        frames = []
        for vip in self.cfg.virtual_ips:
            if isinstance(vip.ip, IPv4Address):
                frames.append(garp_frame(mac, vip.ip))
            else:
                assert isinstance(self.channel.primary, IPv6Address)
                frames.append(na_frame(mac, self.channel.primary, vip.ip))
        self._announce_frames = frames

    def _advert(self, priority: int) -> list[tuple[IPAddress, bytes]]:
        """(destination, bytes) to send for `priority`: a multicast Ethernet frame, or one
        unicast payload per peer (the checksum covers the destination, so one each)."""
        cached = self._adverts.get(priority)
        if cached is None:
            cfg = self.cfg
            adv = packet.Advertisement(
                version=cfg.version,
                vrid=cfg.vrid,
                priority=priority,
                interval_cs=cfg.advert_interval_cs,
                addresses=cfg.advert_addresses,
                auth_type=1 if cfg.auth_pass else 0,
                auth_data=auth_data(cfg.auth_pass) if cfg.version == 2 else b"",
            )
            cached = []
            if cfg.unicast_peers:
                for peer in cfg.unicast_peers:
                    message = packet.encode(adv, self.src, peer, cfg.checksum)
                    cached.append((peer, rawsock.unicast_payload(message, self.src, peer)))
            else:
                grp = rawsock.group(self.channel.family)
                message = packet.encode(adv, self.src, grp, cfg.checksum)
                ip = rawsock.ip_packet(message, self.src, grp)
                cached.append((grp, rawsock.ethernet_frame(self.frame_mac, grp, ip)))
            self._adverts[priority] = cached
        return cached

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
        for task in (self.worker, self._announcing, self._refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- receiving -------------------------------------------------------------------------

    def received(self, verdict: Accepted, arrived: float) -> None:
        c = self.counters
        c["adverts_received"] += 1
        c["checksum_" + verdict.checksum_form.value] += 1
        if verdict.advert.priority == 0:
            c["priority0_received"] += 1
        if verdict.address_mismatch:
            c["address_list_mismatch"] += 1
            theirs = " ".join(str(a) for a in verdict.advert.addresses)
            self._warn_once(
                "addresses",
                str(verdict.src),
                f"address list from {verdict.src} differs from ours: {theirs} "
                "(accepted, RFC 5798 §7.1 MAY)",
            )
        if verdict.interval_mismatch:
            c["interval_mismatch"] += 1
            self._warn_once(
                "interval",
                str(verdict.src),
                f"advertisement interval {verdict.advert.interval_cs / 100:g} s from "
                f"{verdict.src} differs from ours ({self.cfg.advert_interval_cs / 100:g} s); "
                "backups follow the master's (RFC 5798 §6.4.2)",
            )
        self.dispatch(fsm.AdvertReceived(verdict.advert, verdict.src), arrived)

    def _warn_once(self, kind: str, who: str, message: str) -> None:
        if (kind, who) not in self._warned:
            self._warned.add((kind, who))
            log.warning("%s: %s", self.cfg.name, message)

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
                self._stop_announcing()
                await self.daemon.set_vips(self, add=False)
            case fsm.Announce():
                self.announce()
            case fsm.StateChanged(old, new, reason):
                self.state_since = time.monotonic()
                if new is fsm.State.MASTER:
                    self.counters["became_master"] += 1
                    self._start_refresh()
                else:
                    self._stop_announcing()
                log.info(
                    "%s: state %s -> %s reason=%s vrid=%d iface=%s family=ipv%d priority=%d",
                    self.cfg.name,
                    old.value,
                    new.value,
                    reason.value,
                    self.cfg.vrid,
                    self.cfg.interface,
                    self.channel.family,
                    self.cfg.priority,
                )

    def _send(self, priority: int) -> None:
        try:
            for dst, data in self._advert(priority):
                if self.cfg.unicast_peers:
                    assert self.channel.sock is not None
                    rawsock.send_unicast(self.channel.sock, data, self.src, dst, self.port.index)
                else:
                    assert self.port.announcer is not None
                    self.port.announcer.sock.send(data)
        except OSError as e:
            self.counters["send_errors"] += 1
            log.warning("%s: advertisement not sent: %s", self.cfg.name, e.strerror or e)
            return
        self.counters["adverts_sent"] += 1
        if priority == 0:
            self.counters["priority0_sent"] += 1

    # -- gratuitous ARP / unsolicited NA -----------------------------------------------------

    def announce(self) -> None:
        """One burst now: `garp_repeat` rounds, `garp_interval` apart (later rounds on a task)."""
        if self._announcing is not None:
            self._announcing.cancel()
            self._announcing = None
        repeat, interval = self.cfg.garp_repeat, self.cfg.garp_interval
        if repeat <= 0:
            return
        if interval == 0:
            self._announce_round(repeat)
            return
        self._announce_round(1)
        if repeat > 1:
            self._announcing = asyncio.get_running_loop().create_task(
                self._announce_rest(repeat - 1, interval)
            )

    def _announce_round(self, times: int) -> None:
        assert self.port.announcer is not None
        failed = 0
        for _ in range(times):
            failed += self.port.announcer.send(self._announce_frames)
        if failed:
            log.warning("%s: %d gratuitous ARP/NA frames not sent", self.cfg.name, failed)

    async def _announce_rest(self, times: int, interval: Fraction) -> None:
        for _ in range(times):
            await asyncio.sleep(float(interval))
            self._announce_round(1)

    def _start_refresh(self) -> None:
        if self.cfg.garp_refresh > 0 and self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(float(self.cfg.garp_refresh))
            if self.fsm.state is fsm.State.MASTER:
                self.announce()

    def _stop_announcing(self) -> None:
        for task in (self._announcing, self._refreshing):
            if task is not None:
                task.cancel()
        self._announcing = self._refreshing = None

    # -- reporting -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        f = self.fsm
        counters = dict(self.counters)
        counters.update(self.channel.counters)
        return {
            "name": self.cfg.name,
            "interface": self.cfg.interface,
            "vrid": self.cfg.vrid,
            "family": self.channel.family,
            "version": self.cfg.version,
            "state": f.state.value,
            "priority": self.cfg.priority,
            "advert_interval": self.cfg.advert_interval_cs / 100,
            "master_adver_interval": f.master_adver_interval_cs / 100,
            "master": None if f.master_address is None else str(f.master_address),
            "primary": str(self.src),
            "time_in_state": round(time.monotonic() - self.state_since, 3),
            "virtual_ips": [str(v) for v in self.cfg.virtual_ips],
            "checksum": self.cfg.checksum.value,
            "vmac": None if self.vmac is None else self.vmac.name,
            "unicast_peers": [str(p) for p in self.cfg.unicast_peers],
            "accept_mode": self.cfg.accept_mode,
            "counters": counters,
        }


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.netlink: Netlink | None = None
        self.ports: dict[str, Port] = {}
        self.channels: dict[tuple[str, int], Channel] = {}
        self.routers: list[Router] = []
        self.control = ControlServer(config.daemon.control_socket, self._control)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nft_installed = False
        self._sysctl_restore: list[tuple[int, str, str, str]] = []

    # -- start-up --------------------------------------------------------------------------

    async def _setup(self) -> None:
        # The control socket first: it is also the lock that keeps a second daemon with the
        # same configuration from touching the addresses of the running one.
        try:
            await self.control.start()
        except (ControlError, OSError) as e:
            raise StartupError(str(e)) from None
        self.netlink = nl = Netlink()
        try:
            await self._setup_channels(nl)
            for router in self.routers:
                if router.cfg.use_vmac:
                    await self._setup_vmac(nl, router)
                router.build_frames()
            await self._setup_accept_mode()
        except NetlinkFailure as e:
            raise StartupError(str(e)) from None
        except OSError as e:
            raise StartupError(str(e)) from None
        loop = asyncio.get_running_loop()
        for port in self.ports.values():
            try:
                port.open()
            except OSError as e:
                raise StartupError(f"interface {port.name}: cannot open sockets: {e}") from None
        for ch in self.channels.values():
            try:
                ch.open()
            except OSError as e:
                raise StartupError(f"{ch.label}: cannot open sockets: {e}") from None
            assert ch.sock is not None
            loop.add_reader(ch.sock.fileno(), self._readable, ch)

    async def _setup_channels(self, nl: Netlink) -> None:
        vips: dict[str, set[IPAddress]] = {}
        for cfg in self.config.virtual_routers:
            vips.setdefault(cfg.interface, set()).update(v.ip for v in cfg.virtual_ips)
        for name, ours in vips.items():
            link = await nl.link(name)
            port = self.ports[name] = Port(link)
            addrs = await nl.addresses(link.index)
            # A crashed predecessor must not leave a duplicate VIP: remove ours before electing.
            for a, _ in addrs:
                if a.ip in ours:
                    await nl.del_address(link.index, a)
                    log.info("%s: removed stale virtual address %s found at start-up", name, a)
            families = {c.family for c in self.config.virtual_routers if c.interface == name}
            for family in sorted(families):
                primary = _primary(family, [(a.ip, p) for a, p in addrs], ours)
                if primary is None:
                    what = "IPv4 address" if family == 4 else "IPv6 link-local address"
                    raise StartupError(
                        f"interface {name}: no {what} of its own to send advertisements from"
                    )
                self.channels[(name, family)] = Channel(port, family, primary)
        for cfg in self.config.virtual_routers:
            ch = self.channels[(cfg.interface, cfg.family)]
            router = Router(cfg, ch, self)
            ch.routers[cfg.vrid] = router
            self.routers.append(router)

    async def _setup_vmac(self, nl: Netlink, router: Router) -> None:
        family, vrid, port = router.channel.family, router.cfg.vrid, router.port
        name = f"vr{family}.{vrid}.{port.index}"[:15]
        stale = await nl.find_link(name)
        if stale is not None:
            await nl.del_link(stale.index)
            log.info("%s: removed stale macvlan %s found at start-up", router.cfg.name, name)
        mac = vmac_address(family, vrid)
        link = await nl.add_macvlan(port.index, name, mac)
        router.vmac = link
        # Never form an IPv6 interface identifier from the virtual MAC (RFC 5798 §7.4).
        sysctl.write(6, name, "addr_gen_mode", 1)
        if family == 4:
            sysctl.write(6, name, "disable_ipv6", 1)
            for iface in (port.name, name):
                for key, value in VMAC_ARP_SYSCTLS.items():
                    if iface == port.name:
                        self._sysctl_restore.append((4, iface, key, sysctl.read(4, iface, key)))
                    sysctl.write(4, iface, key, value)
        await nl.set_up(link.index)
        log.info("%s: virtual MAC %s on macvlan %s", router.cfg.name, mac, name)

    async def _setup_accept_mode(self) -> None:
        dropped = [
            v.ip
            for r in self.routers
            if not r.cfg.accept_mode and r.cfg.priority != fsm.OWNER_PRIORITY
            for v in r.cfg.virtual_ips
            if not v.ip.is_link_local
        ]
        if dropped:
            await nft.install(dropped)
            self._nft_installed = True
            log.info("accept_mode false: dropping traffic to %d virtual address(es)", len(dropped))

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
        for ch in self.channels.values():
            if ch.sock is not None:
                loop.remove_reader(ch.sock.fileno())
            ch.close()
        for port in self.ports.values():
            port.close()
        if self.netlink is not None:
            for router in self.routers:
                if router.vmac is not None:
                    with contextlib.suppress(NetlinkFailure):
                        await self.netlink.del_link(router.vmac.index)
                    router.vmac = None
        for family, iface, key, value in self._sysctl_restore:
            with contextlib.suppress(OSError):
                sysctl.write(family, iface, key, value)
        if self._nft_installed:
            try:
                await nft.remove()
            except OSError as e:
                log.error("accept_mode rules not removed: %s", e)
        await self.control.close()
        if self.netlink is not None:
            await self.netlink.close()

    # -- inputs ----------------------------------------------------------------------------

    def _readable(self, ch: Channel) -> None:
        assert ch.sock is not None
        while True:
            try:
                got = rawsock.receive(ch.sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("%s: receive failed: %s", ch.label, e.strerror or e)
                return
            if ch.family == 4:
                verdict = ch.receiver.receive_ipv4(got.data)
            else:
                assert got.src is not None
                dst = got.dst if got.dst is not None else rawsock.VRRP_GROUP_V6
                hops = got.hop_limit if got.hop_limit is not None else -1
                verdict = ch.receiver.receive(got.data, got.src, dst, hops)
            if isinstance(verdict, Accepted):
                ch.routers[verdict.vrid].received(verdict, got.arrived)
                continue
            key = "discard_" + verdict.reason
            router = ch.routers.get(verdict.vrid) if verdict.vrid is not None else None
            if router is not None:
                router.counters[key] += 1
            else:
                ch.counters[key] = ch.counters.get(key, 0) + 1
            log.debug("%s: discarded (%s): %s", ch.label, verdict.reason, verdict.detail)

    async def _watch_netlink(self) -> None:
        try:
            async for event in monitor():
                if isinstance(event, AddrEvent) and not event.added:
                    for router in self.routers:
                        if (
                            router.vip_index == event.index
                            and router.fsm.state is fsm.State.MASTER
                            and any(v.ip == event.address for v in router.cfg.virtual_ips)
                        ):
                            log.warning(
                                "%s: virtual address %s removed while master; putting it back",
                                router.cfg.name,
                                event.address,
                            )
                            router.dispatch(fsm.VipsLost())
                elif isinstance(event, LinkEvent) and event.up:
                    # Back from a link flap: Linux flushed IPv6 addresses when the link went
                    # down, and neighbours may have moved on. Put the VIPs back and announce.
                    for router in self.routers:
                        if (
                            event.index in (router.port.index, router.vip_index)
                            and router.fsm.state is fsm.State.MASTER
                        ):
                            router.dispatch(fsm.VipsLost())
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
                    await self.netlink.add_address(router.vip_index, vip)
                else:
                    await self.netlink.del_address(router.vip_index, vip)
            except NetlinkFailure as e:
                log.error("%s: %s", router.cfg.name, e)

    # -- control -----------------------------------------------------------------------------

    async def _control(self, req: dict[str, Any]) -> Any:
        cmd = req["cmd"]
        if cmd == "status":
            return [r.status() for r in self.routers]
        raise ControlError(f"unknown command {cmd!r}; known: status")


def _primary(
    family: int, addrs: list[tuple[IPAddress, bool]], vips: set[IPAddress]
) -> IPAddress | None:
    """The address advertisements are sent from: the interface's primary IPv4 address, or
    its IPv6 link-local address (RFC 5798 §5.1.1.1, §5.1.2.1), never one of our VIPs."""
    for addr, is_primary in addrs:
        if addr in vips or addr.version != family:
            continue
        if family == 4 and is_primary:
            return addr
        if family == 6 and addr.is_link_local:
            return addr
    return None


async def serve(config: Config) -> int:
    return await Daemon(config).run()
