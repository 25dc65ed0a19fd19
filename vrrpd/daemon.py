"""The asyncio reactor: sockets, netlink and timers in; the pure state machine in the middle;
actions out (advertisements, addresses, gratuitous ARP / NA), logged and counted.

One process, one loop, one raw socket per (interface, family), many virtual routers keyed by
(interface, VRID, family). Each virtual router executes its actions in order on its own worker
task, so the state machine reacts at once while netlink calls complete in sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shlex
import signal
import socket
import time
from collections.abc import Sequence
from fractions import Fraction
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from . import config as config_mod
from . import fsm, packet
from .config import Config, ConfigError, SyncGroup, VirtualRouterConfig
from .control import ControlError, ControlServer, Stream
from .events import EventBus
from .io import nft, rawsock, sysctl
from .io.announce import Announcer, garp_frame, na_frame, ra_frame
from .io.netlink import AddrEvent, Link, LinkEvent, Netlink, NetlinkFailure, monitor
from .io.sdnotify import Notifier
from .io.timer import DeadlineTimer
from .notify import Job, NotifyRunner
from .receive import DISCARD_REASONS, Accepted, Receiver, RouterView, auth_data
from .tracking import Kind, Tracker, TrackSpec
from .trackio import TrackRunner

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

MAINTENANCE_PRIORITY = 1
# Router Advertisements (RFC 4861 §6.2.1 defaults: lifetime 3 x MaxRtrAdvInterval 600 s).
RA_ROUTER_LIFETIME = 1800
RA_INTERVAL = 200.0
RA_INITIAL = (4.0, 4.0)  # seconds after the first and second advertisement (§6.2.4)
HAND_OVER_WAIT = 1.0  # seconds to learn the new master's MAC after stepping down
TAKEOVER_PRIORITY = 254

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
        self.refresh()

    def refresh(self) -> None:
        """Validation follows the virtual routers configured on this channel."""
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
        self._ra_frames: dict[int, bytes] = {}
        self._advertising_router: asyncio.Task[None] | None = None
        self._announcing: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._warned: set[tuple[str, str]] = set()
        self.transitions = 0
        self.maintenance = False
        self.takeover_held = False  # advertising TAKEOVER_PRIORITY after `vrrpctl takeover`
        self.group: SyncGroup | None = None
        self.tracker = Tracker(cfg.priority, [])
        self.tracked_links: set[str] = set()
        self.track_runner: TrackRunner | None = None
        self.build_tracker()

    # -- tracking -> effective priority, FAULT ---------------------------------------------

    def build_tracker(self) -> None:
        """The tracked objects: the configured ones, plus the router's own interface, whose
        link going down is always FAULT."""
        cfg = self.cfg
        specs = [
            TrackSpec(t.name, Kind.INTERFACE, t.weight, target=t.interface)
            for t in cfg.track_interfaces
        ]
        specs += [
            TrackSpec(t.name, Kind.SCRIPT, t.weight, t.rise, t.fall, shlex.join(t.command))
            for t in cfg.track_scripts
        ]
        specs += [TrackSpec(t.name, Kind.FILE, t.weight, target=t.path) for t in cfg.track_files]
        names = {spec.name for spec in specs}
        own = cfg.interface if cfg.interface not in names else f"{cfg.interface}.link"
        specs.append(TrackSpec(own, Kind.INTERFACE, None, target=cfg.interface))
        self.tracker = Tracker(cfg.priority, specs)
        self.tracked_links = {s.target for s in specs if s.kind is Kind.INTERFACE}
        self.track_runner = TrackRunner(
            cfg.track_scripts, cfg.track_files, self._script_result, self._file_value
        )

    def interface_state(self, ifname: str, up: bool) -> None:
        if ifname in self.tracked_links and self.tracker.interface(ifname, up):
            self._tracking_changed(f"interface {ifname} {'up' if up else 'down'}")

    def _script_result(self, name: str, ok: bool, detail: str) -> None:
        if self.tracker.script_result(name, ok):
            self._tracking_changed(f"script {name} {'ok' if ok else 'failing'} ({detail})")

    def _file_value(self, name: str, value: int | None) -> None:
        if self.tracker.file_value(name, value):
            self._tracking_changed(f"file {name} = {value}")

    def _tracking_changed(self, what: str) -> None:
        self.daemon.bus.publish("track", name=self.cfg.name, change=what, explain=self.explain())
        log.info("%s: tracking: %s; %s", self.cfg.name, what, self.explain())
        self.daemon.apply_group(self)

    @property
    def own_fault(self) -> bool:
        return self.tracker.fault

    def desired_priority(self) -> int:
        if self.maintenance:
            return MAINTENANCE_PRIORITY
        if self.takeover_held:
            return TAKEOVER_PRIORITY
        return self.tracker.effective_priority

    def explain(self) -> str:
        text = self.tracker.explain()
        if self.maintenance:
            text += f"; maintenance: advertising {MAINTENANCE_PRIORITY}"
        elif self.takeover_held:
            text += f"; takeover: advertising {TAKEOVER_PRIORITY} (vrrpctl release to end)"
        group_fault = self.daemon.group_fault(self)
        if group_fault and self.group is not None:
            text += f"; FAULT: sync group {self.group.name}: {group_fault}"
        return text

    def apply(self) -> None:
        """Bring the state machine in line with tracking, maintenance, takeover, the group."""
        if self.worker is None:
            return  # not started yet
        fault = self.own_fault or bool(self.daemon.group_fault(self))
        if fault and self.fsm.state is not fsm.State.FAULT:
            self.dispatch(fsm.FaultOn())
        wanted = self.desired_priority()
        if wanted != self.fsm.priority:
            old = self.fsm.priority
            self.dispatch(fsm.SetPriority(wanted))
            self.daemon.bus.publish(
                "priority", name=self.cfg.name, old=old, new=wanted, explain=self.explain()
            )
            log.info("%s: priority %d -> %d (%s)", self.cfg.name, old, wanted, self.explain())
        if not fault and self.fsm.state is fsm.State.FAULT:
            self.dispatch(fsm.FaultOff())

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
        self._ra_frames = {}
        if self.cfg.router_advertisements and isinstance(self.cfg.virtual_ips[0].ip, IPv6Address):
            prefixes = sorted(
                {
                    (v.network.network_address, v.network.prefixlen)
                    for v in self.cfg.virtual_ips
                    if isinstance(v.network.network_address, IPv6Address)
                    and not v.ip.is_link_local
                    and v.network.prefixlen < 128
                }
            )
            source = self.cfg.virtual_ips[0].ip  # the virtual router's link-local address
            for lifetime in (RA_ROUTER_LIFETIME, 0):
                self._ra_frames[lifetime] = ra_frame(mac, source, list(prefixes), lifetime)

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
        if self.track_runner is not None:
            self.track_runner.read_files_now()
            self.track_runner.start()
        if self.own_fault or self.daemon.group_fault(self):
            self.dispatch(fsm.FaultOn())  # never claim the addresses while a check fails
        else:
            self.dispatch(fsm.Startup())
        self.apply()

    def dispatch(self, event: fsm.Event, now: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        actions = self.fsm.handle(event, loop.time() if now is None else now)
        for action in actions:
            if isinstance(action, fsm.StateChanged):
                # Counted, logged and published when it happens, so a status read never sees
                # a state its counters, log and event stream do not show yet.
                self.state_since = time.monotonic()
                self.transitions += 1
                if action.new is fsm.State.MASTER:
                    self.counters["became_master"] += 1
                self.daemon.transitioned(self, action.old, action.new, action.reason)
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
        if self.track_runner is not None:
            await self.track_runner.stop()
        await self.queue.join()
        for task in (self.worker, self._announcing, self._refreshing, self._advertising_router):
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
                if new is fsm.State.MASTER:
                    self._start_refresh()
                    self._start_router_ads()
                else:
                    self._stop_announcing()
                    if old is fsm.State.MASTER:
                        self._stop_router_ads()
                winner = self.fsm.master_address
                if (
                    reason is fsm.Reason.HIGHER_PRIORITY
                    and old is fsm.State.MASTER
                    and self.vmac is None
                    and winner is not None
                ):
                    self._announcing = asyncio.get_running_loop().create_task(
                        self._hand_over(winner)
                    )
                self.daemon.after_transition(self, old, new, reason)

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

    async def _hand_over(self, winner: IPAddress) -> None:
        """We were master and stepped down for a better one: after a split brain, hosts may
        still map the VIPs to our MAC, and the winner may never hear us to re-announce (we
        heard it first and went quiet). Announce the VIPs at the winner's MAC, learnt from the
        neighbour table, from our own port (so switches keep the winner's MAC where it is)."""
        nl = self.daemon.netlink
        if nl is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HAND_OVER_WAIT
        mac = await nl.neighbour(self.port.index, winner)
        while mac is None and loop.time() < deadline:
            self._poke(winner)
            await asyncio.sleep(0.05)
            mac = await nl.neighbour(self.port.index, winner)
        if mac is None or self.fsm.state is not fsm.State.BACKUP:
            return
        frames = []
        for vip in self.cfg.virtual_ips:
            if isinstance(vip.ip, IPv4Address):
                frames.append(garp_frame(mac, vip.ip, sender=self.port.mac))
            elif isinstance(self.channel.primary, IPv6Address):
                frames.append(na_frame(mac, self.channel.primary, vip.ip, sender=self.port.mac))
        assert self.port.announcer is not None
        for _ in range(max(1, self.cfg.garp_repeat)):
            self.port.announcer.send(frames)
        log.info(
            "%s: announced the virtual addresses at the new master's MAC %s (%s)",
            self.cfg.name,
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

    def _start_router_ads(self) -> None:
        if self._ra_frames and self._advertising_router is None:
            self._advertising_router = asyncio.get_running_loop().create_task(self._router_ads())

    async def _router_ads(self) -> None:
        """RFC 4861 §6.2.4/§6.2.6: a few quick advertisements when we start, then one every
        RA_INTERVAL seconds while Master. (Router Solicitations are not answered: hosts
        that solicit get the next periodic one.)"""
        assert self.port.announcer is not None
        for delay in RA_INITIAL:
            self.port.announcer.send([self._ra_frames[RA_ROUTER_LIFETIME]])
            await asyncio.sleep(delay)
        while True:
            self.port.announcer.send([self._ra_frames[RA_ROUTER_LIFETIME]])
            await asyncio.sleep(RA_INTERVAL)

    def _stop_router_ads(self) -> None:
        """Leaving Master: say "no longer a router" at once (RFC 4861 §6.2.5)."""
        if self._advertising_router is not None:
            self._advertising_router.cancel()
            self._advertising_router = None
        if self._ra_frames and self.port.announcer is not None:
            self.port.announcer.send([self._ra_frames[0]])

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
        for key, value in self.channel.counters.items():
            # The channel's discards (no configured VRID in the packet) add to the router's.
            counters[key] = counters.get(key, 0) + value
        return {
            "name": self.cfg.name,
            "interface": self.cfg.interface,
            "vrid": self.cfg.vrid,
            "family": self.channel.family,
            "version": self.cfg.version,
            "state": f.state.value,
            "priority": self.cfg.priority,
            "effective_priority": f.priority,
            "transitions": self.transitions,
            "maintenance": self.maintenance,
            "takeover": self.takeover_held,
            "fault_reasons": self.tracker.fault_reasons(),
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
    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.netlink: Netlink | None = None
        self.ports: dict[str, Port] = {}
        self.channels: dict[tuple[str, int], Channel] = {}
        self.routers: list[Router] = []
        self.control = ControlServer(config.daemon.control_socket, self._control)
        self.stopping = asyncio.Event()
        self.bus = EventBus()
        self.notifier = Notifier()
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(key, None)  # for us only, not for notify scripts and checks
        self.notify_runner = NotifyRunner()
        self.metrics: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._nft_installed = False
        self._sysctl_restore: list[tuple[int, str, str, str]] = []
        self._group_state: dict[str, str] = {}
        self._reloading = asyncio.Lock()

    # -- start-up --------------------------------------------------------------------------

    async def _setup(self) -> None:
        # The control socket first: it is also the lock that keeps a second daemon with the
        # same configuration from touching the addresses of the running one.
        try:
            await self.control.start()
        except (ControlError, OSError) as e:
            raise StartupError(str(e)) from None
        self.netlink = Netlink()
        try:
            await self._add_routers(self.config.virtual_routers)
            self._assign_groups()
            await self._sync_accept_mode()
        except (NetlinkFailure, OSError) as e:
            raise StartupError(str(e)) from None
        if self.config.daemon.metrics_listen is not None:
            await self._start_metrics()

    async def _start_metrics(self) -> None:
        from .metrics import MetricsServer  # prometheus_client only when asked for

        assert self.config.daemon.metrics_listen is not None
        self.metrics = MetricsServer(self.config.daemon.metrics_listen, self.status)
        try:
            await self.metrics.start()
        except OSError as e:
            self.metrics = None
            raise StartupError(str(e)) from None

    async def _port(self, name: str) -> Port:
        port = self.ports.get(name)
        if port is None:
            assert self.netlink is not None
            port = Port(await self.netlink.link(name))
            try:
                port.open()
            except OSError as e:
                raise StartupError(f"interface {name}: cannot open sockets: {e}") from None
            self.ports[name] = port
        return port

    async def _channel(self, port: Port, family: int) -> Channel:
        ch = self.channels.get((port.name, family))
        if ch is None:
            assert self.netlink is not None
            addrs = await self.netlink.addresses(port.index)
            ours = {v.ip for c in self.config.virtual_routers for v in c.virtual_ips}
            primary = _primary(family, [(a.ip, p) for a, p in addrs], ours)
            if primary is None:
                what = "IPv4 address" if family == 4 else "IPv6 link-local address"
                raise StartupError(
                    f"interface {port.name}: no {what} of its own to send advertisements from"
                )
            ch = Channel(port, family, primary)
            try:
                ch.open()
            except OSError as e:
                raise StartupError(f"{ch.label}: cannot open sockets: {e}") from None
            assert ch.sock is not None
            asyncio.get_running_loop().add_reader(ch.sock.fileno(), self._readable, ch)
            self.channels[(port.name, family)] = ch
        return ch

    async def _add_routers(self, cfgs: Sequence[VirtualRouterConfig]) -> list[Router]:
        """Set up virtual routers (not yet started): sockets, stale state, frames. One
        address dump per interface and one link dump for all, however many routers."""
        assert self.netlink is not None
        nl = self.netlink
        mine: dict[str, set[IPAddress]] = {}
        for cfg in cfgs:
            mine.setdefault(cfg.interface, set()).update(v.ip for v in cfg.virtual_ips)
        for name, vips in mine.items():
            port = await self._port(name)
            # A crashed predecessor must not leave a duplicate VIP: remove ours before electing.
            for a, _ in await nl.addresses(port.index):
                if a.ip in vips:
                    await nl.del_address(port.index, a)
                    log.info("%s: removed stale virtual address %s found at start-up", name, a)
        up = {link.name: link.up for link in await nl.links()}
        routers: list[Router] = []
        for cfg in cfgs:
            ch = await self._channel(self.ports[cfg.interface], cfg.family)
            router = Router(cfg, ch, self)
            ch.routers[cfg.vrid] = router
            self.routers.append(router)
            if cfg.use_vmac:
                await self._setup_vmac(nl, router)
            router.build_frames()
            for ifname in router.tracked_links:
                router.tracker.interface(ifname, up.get(ifname, False))
            routers.append(router)
        for ch in {r.channel for r in routers}:
            ch.refresh()
        return routers

    async def _remove_router(self, router: Router) -> None:
        """Release (priority 0 if master) and take down one virtual router."""
        if router.worker is not None:
            router.stop()
        await router.drain()
        if router.vmac is not None and self.netlink is not None:
            with contextlib.suppress(NetlinkFailure):
                await self.netlink.del_link(router.vmac.index)
            router.vmac = None
        ch = router.channel
        ch.routers.pop(router.cfg.vrid, None)
        self.routers.remove(router)
        if ch.routers:
            ch.refresh()
            return
        if ch.sock is not None:
            asyncio.get_running_loop().remove_reader(ch.sock.fileno())
        ch.close()
        del self.channels[(ch.port.name, ch.family)]
        if not any(c.port is ch.port for c in self.channels.values()):
            ch.port.close()
            del self.ports[ch.port.name]

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
                    if iface == port.name and not any(
                        r[1] == iface and r[2] == key for r in self._sysctl_restore
                    ):
                        self._sysctl_restore.append((4, iface, key, sysctl.read(4, iface, key)))
                    sysctl.write(4, iface, key, value)
        log.info("%s: virtual MAC %s on macvlan %s (up while master)", router.cfg.name, mac, name)

    async def _sync_accept_mode(self) -> None:
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
        elif self._nft_installed:
            await nft.remove()
            self._nft_installed = False

    def _assign_groups(self) -> None:
        by_name = {r.cfg.name: r for r in self.routers}
        for r in self.routers:
            r.group = None
        for group in self.config.sync_groups:
            for member in group.members:
                if member in by_name:
                    by_name[member].group = group

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._sighup)
        try:
            await self._setup()
            self.notify_runner.start()
            self._tasks.append(loop.create_task(self._watch_netlink()))
            for router in self.routers:
                router.start()
            interval = self.notifier.watchdog_interval()
            if interval is not None:
                self._tasks.append(loop.create_task(self._watchdog(interval)))
            log.info(
                "vrrpd running: %d virtual router(s), control socket %s",
                len(self.routers),
                self.config.daemon.control_socket,
            )
            self.notifier.ready(self.summary())
            await self.stopping.wait()
            log.info("vrrpd stopping")
            self.notifier.stopping("stopping: releasing virtual routers")
        finally:
            await self._teardown()
        return 0

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def summary(self) -> str:
        """One line for systemd's STATUS=."""
        masters = [r.cfg.name for r in self.routers if r.fsm.state is fsm.State.MASTER]
        faults = [r.cfg.name for r in self.routers if r.fsm.state is fsm.State.FAULT]
        text = f"{len(self.routers)} virtual routers, {len(masters)} master"
        if masters:
            text += f" ({', '.join(masters[:8])}{', ...' if len(masters) > 8 else ''})"
        if faults:
            text += f", {len(faults)} in FAULT"
        return text

    async def _teardown(self) -> None:
        for router in list(self.routers):
            await self._remove_router(router)
        await self.notify_runner.drain(timeout=5.0)
        await self.notify_runner.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for family, iface, key, value in self._sysctl_restore:
            with contextlib.suppress(OSError):
                sysctl.write(family, iface, key, value)
        if self._nft_installed:
            try:
                await nft.remove()
            except OSError as e:
                log.error("accept_mode rules not removed: %s", e)
        if self.metrics is not None:
            await self.metrics.close()
        self.bus.close()
        await self.control.close()
        if self.netlink is not None:
            await self.netlink.close()
        self.notifier.close()

    # -- transitions: logs, events, notify, sync groups --------------------------------------

    def transitioned(
        self, router: Router, old: fsm.State, new: fsm.State, reason: fsm.Reason
    ) -> None:
        cfg = router.cfg
        log.info(
            "%s: state %s -> %s reason=%s vrid=%d iface=%s family=ipv%d priority=%d",
            cfg.name,
            old.value,
            new.value,
            reason.value,
            cfg.vrid,
            cfg.interface,
            router.channel.family,
            router.fsm.priority,
            extra={
                "vrrp": {
                    "VRRP_NAME": cfg.name,
                    "VRRP_VRID": cfg.vrid,
                    "VRRP_IFACE": cfg.interface,
                    "VRRP_STATE": new.value,
                    "VRRP_OLD_STATE": old.value,
                    "VRRP_REASON": reason.value,
                    "VRRP_PRIORITY": router.fsm.priority,
                }
            },
        )
        self.bus.publish(
            "transition",
            name=cfg.name,
            vrid=cfg.vrid,
            interface=cfg.interface,
            family=router.channel.family,
            old=old.value,
            new=new.value,
            reason=reason.value,
            priority=router.fsm.priority,
        )
        self.notifier.status(self.summary())
        group = router.group
        stepped_down = old is fsm.State.MASTER and new is fsm.State.BACKUP
        if group is not None and stepped_down and not self.stopping.is_set():
            # A member left: the others follow, so the group never splits across nodes.
            for other in self._members(group):
                if other is not router and other.fsm.state is fsm.State.MASTER:
                    other.dispatch(fsm.StepDown())

    def after_transition(
        self, router: Router, old: fsm.State, new: fsm.State, reason: fsm.Reason
    ) -> None:
        """Notify scripts, once the transition's actions ran (a MASTER script finds the
        addresses in place, as with keepalived)."""
        cfg = router.cfg
        if cfg.notify and new is not fsm.State.INITIALIZE:
            self.notify_runner.submit(
                Job(
                    argv=(*cfg.notify, "INSTANCE", cfg.name, new.value, str(router.fsm.priority)),
                    env={
                        "VRRP_KIND": "INSTANCE",
                        "VRRP_NAME": cfg.name,
                        "VRRP_STATE": new.value,
                        "VRRP_OLD_STATE": old.value,
                        "VRRP_REASON": reason.value,
                        "VRRP_PRIORITY": str(router.fsm.priority),
                        "VRRP_VRID": str(cfg.vrid),
                        "VRRP_IFACE": cfg.interface,
                        "VRRP_FAMILY": f"ipv{router.channel.family}",
                    },
                    timeout=float(cfg.notify_timeout),
                    what=f"{cfg.name} {new.value}",
                )
            )
        if router.group is not None and not self.stopping.is_set():
            self._group_notify(router.group)

    def _members(self, group: SyncGroup) -> list[Router]:
        return [r for r in self.routers if r.group is group]

    def group_fault(self, router: Router) -> str:
        """Why the router's sync group holds it in FAULT ("" when it does not)."""
        if router.group is None:
            return ""
        for other in self._members(router.group):
            if other is not router and other.own_fault:
                return f"member {other.cfg.name} in FAULT"
        return ""

    def apply_group(self, router: Router) -> None:
        """A router's tracking changed: it and its sync group re-evaluate."""
        if router.group is None:
            router.apply()
            return
        for member in self._members(router.group):
            member.apply()

    def _group_notify(self, group: SyncGroup) -> None:
        states = {r.fsm.state for r in self._members(group)}
        if len(states) != 1:
            return
        (state,) = states
        if self._group_state.get(group.name) == state.value:
            return
        self._group_state[group.name] = state.value
        self.bus.publish("group", name=group.name, state=state.value)
        log.info("sync group %s: all members %s", group.name, state.value)
        if group.notify and state is not fsm.State.INITIALIZE:
            self.notify_runner.submit(
                Job(
                    argv=(*group.notify, "GROUP", group.name, state.value),
                    env={"VRRP_KIND": "GROUP", "VRRP_NAME": group.name, "VRRP_STATE": state.value},
                    timeout=10.0,
                    what=f"group {group.name} {state.value}",
                )
            )

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
                elif isinstance(event, LinkEvent):
                    for router in list(self.routers):
                        if event.name:
                            router.interface_state(event.name, event.up)
                        if (
                            event.up
                            and event.index == router.port.index
                            and router.fsm.state is fsm.State.MASTER
                        ):
                            # Back from a link flap: Linux flushed IPv6 addresses when the
                            # link went down, and neighbours may have moved on.
                            router.dispatch(fsm.VipsLost())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("netlink monitor failed; link and address changes are no longer seen")

    # -- actions needing the daemon ----------------------------------------------------------

    async def set_vips(self, router: Router, add: bool) -> None:
        """Add or remove the virtual addresses. With a virtual MAC the macvlan is up only
        while master: a backup must not accept frames sent to the virtual MAC (§6.4.2)."""
        nl = self.netlink
        assert nl is not None
        try:
            if add and router.vmac is not None:
                await nl.set_up(router.vmac.index)
            for vip in router.cfg.virtual_ips:
                if add:
                    await nl.add_address(router.vip_index, vip)
                else:
                    await nl.del_address(router.vip_index, vip)
            if not add and router.vmac is not None:
                await nl.set_down(router.vmac.index)
        except NetlinkFailure as e:
            log.error("%s: %s", router.cfg.name, e)

    # -- reload ------------------------------------------------------------------------------

    def _sighup(self) -> None:
        asyncio.get_running_loop().create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except ControlError as e:
            for line in str(e).splitlines():
                log.error("reload refused: %s", line)

    async def reload(self) -> dict[str, Any]:
        """Read the configuration file again and apply the differences; on any problem the
        running configuration stays and ControlError carries one line per problem."""
        if self.config_path is None:
            raise ControlError("reload: the daemon was started without a configuration file")
        async with self._reloading:
            try:
                new = config_mod.load(self.config_path)
            except ConfigError as e:
                raise ControlError("\n".join(e.problems)) from None
            if new.daemon.control_socket != self.config.daemon.control_socket:
                raise ControlError(
                    f"{self.config_path}: daemon.control_socket: cannot change on reload "
                    "(restart vrrpd)"
                )
            change = config_mod.diff(self.config, new)
            self.notifier.reloading("reloading")
            old_by_name = {r.cfg.name: r for r in self.routers}
            new_by_name = {c.name: c for c in new.virtual_routers}
            for name in (*change.removed, *change.restarted):
                await self._remove_router(old_by_name[name])
            self.config = new
            for name in change.updated:
                await self._update_in_place(old_by_name[name], new_by_name[name])
            started = []
            for name in (*change.restarted, *change.added):
                try:
                    started += await self._add_routers([new_by_name[name]])
                except (NetlinkFailure, OSError, StartupError) as e:
                    log.error("reload: %s: %s", name, e)
            self._assign_groups()
            for router in started:
                router.start()
            for router in self.routers:
                router.apply()
            await self._sync_accept_mode()
            if "metrics_listen" in change.daemon_changed:
                if self.metrics is not None:
                    await self.metrics.close()
                    self.metrics = None
                if new.daemon.metrics_listen is not None:
                    try:
                        await self._start_metrics()
                    except StartupError as e:
                        log.error("reload: %s", e)
            result = {
                "unchanged": list(change.unchanged),
                "updated": list(change.updated),
                "restarted": list(change.restarted),
                "added": list(change.added),
                "removed": list(change.removed),
            }
            self.bus.publish("reload", **result)
            log.info(
                "reloaded %s: %s",
                self.config_path,
                ", ".join(f"{k} {len(v)}" for k, v in result.items()),
            )
            self.notifier.ready(self.summary())
            return result

    async def _update_in_place(self, router: Router, cfg: VirtualRouterConfig) -> None:
        changed = config_mod.changed_fields(router.cfg, cfg)
        router.cfg = cfg
        router.fsm.params = dataclasses.replace(
            router.fsm.params,
            priority=cfg.priority,
            preempt=cfg.preempt,
            preempt_delay=cfg.preempt_delay,
        )
        if "priority" in changed:
            router.tracker.set_base(cfg.priority)
        if changed & {"track_interfaces", "track_scripts", "track_files"}:
            # New tracked objects start without a verdict (an unweighted one holds FAULT
            # until its first result), so only a change of tracking rebuilds the tracker.
            if router.track_runner is not None:
                await router.track_runner.stop()
            router.build_tracker()
            assert self.netlink is not None
            for ifname in router.tracked_links:
                link = await self.netlink.find_link(ifname)
                router.tracker.interface(ifname, link is not None and link.up)
            if router.track_runner is not None:
                router.track_runner.read_files_now()
                router.track_runner.start()
        log.info("%s: updated in place (%s)", cfg.name, ", ".join(sorted(changed)))

    # -- control -----------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        return [r.status() for r in self.routers]

    def _router(self, req: dict[str, Any]) -> Router:
        name = req.get("name")
        for r in self.routers:
            if r.cfg.name == name:
                return r
        known = ", ".join(r.cfg.name for r in self.routers)
        raise ControlError(f"no virtual router named {name!r} (known: {known})")

    async def _control(self, req: dict[str, Any]) -> Any:
        cmd = req["cmd"]
        if cmd == "status":
            return self.status()
        if cmd == "explain":
            r = self._router(req)
            return {"name": r.cfg.name, "explain": r.explain(), "tracking": r.tracker.snapshot()}
        if cmd == "events":
            return Stream(self.bus.subscribe())
        if cmd == "takeover":
            return self._takeover(self._router(req))
        if cmd == "release":
            r = self._router(req)
            r.takeover_held = False
            r.apply()
            return {"name": r.cfg.name, "priority": r.fsm.priority}
        if cmd == "maintenance":
            return self._maintenance(self._router(req), req.get("on"))
        if cmd == "reload":
            return await self.reload()
        raise ControlError(
            f"unknown command {cmd!r}; known: status, explain, events, takeover, release, "
            "maintenance, reload"
        )

    def _takeover(self, r: Router) -> dict[str, Any]:
        if r.fsm.state is not fsm.State.BACKUP:
            raise ControlError(
                f"{r.cfg.name}: takeover needs state BACKUP, not {r.fsm.state.value}"
            )
        if r.maintenance:
            raise ControlError(f"{r.cfg.name}: in maintenance; turn it off first")
        previous = r.takeover_held
        r.takeover_held = True
        r.apply()
        try:
            r.dispatch(fsm.Takeover())
        except ValueError as e:
            r.takeover_held = previous
            r.apply()
            raise ControlError(f"{r.cfg.name}: {e}") from None
        return {"name": r.cfg.name, "state": r.fsm.state.value, "priority": r.fsm.priority}

    def _maintenance(self, r: Router, on: object) -> dict[str, Any]:
        if not isinstance(on, bool):
            raise ControlError('maintenance needs "on": true or false')
        r.maintenance = on
        if on:
            r.takeover_held = False
        r.apply()
        if on:
            r.dispatch(fsm.StepDown())
        return {"name": r.cfg.name, "maintenance": on, "priority": r.fsm.priority}


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


async def serve(config: Config, config_path: str | None = None) -> int:
    return await Daemon(config, config_path).run()
