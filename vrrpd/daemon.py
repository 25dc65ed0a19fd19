"""The daemon: wiring. Sockets, netlink, timers, signals and the control socket feed the pure
virtual routers (`vrrpd.instance`, routed through `vrrpd.groups`); their outputs go to each
router's executor (`vrrpd.io.executor`) or, for reports, to the log, the event stream, notify
scripts and systemd. A reload is planned by `vrrpd.reload` and applied here.

One process, one loop, one raw socket per (interface, family), many virtual routers keyed by
(interface, VRID, family).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from . import config as config_mod
from . import fsm, privilege
from . import reload as reload_mod
from .addresses import (
    Address,
    StartupPlan,
    filtered,
    primary_address,
    recorded_on,
    startup_plan,
)
from .api import DISCARD_COUNTER, Command, RouterStatus, unknown_command
from .config import Config, ConfigError, SyncGroup, VirtualRouterConfig
from .events import EventBus
from .groups import GroupSettled, Routed, SyncGroups
from .instance import (
    REPORT_ONLY,
    REPORTS,
    GateChanged,
    GateHolding,
    Instance,
    OtherMaster,
    Output,
    Part,
    PriorityChanged,
    Refused,
    TrackingChanged,
    Transition,
    Updated,
    Warn,
)
from .io import addrrecord, nft, rawsock
from .io.channel import Channel, Port
from .io.control import ControlError, ControlServer, Stream
from .io.executor import Executor
from .io.netlink import AddrEvent, LinkEvent, NeighEvent, Netlink, NetlinkFailure, monitor
from .io.notify import NotifyRunner, before_master_job, group_jobs, instance_jobs
from .io.reactor import Reactor
from .io.scripthost import Launcher, ScriptUserError, effective_capabilities
from .io.scripthost import identity as script_identity
from .io.sdnotify import Notifier
from .io.track import TrackRunner
from .io.vmac import Vmacs
from .linkfollow import Decision, Verdict
from .privilege import Op
from .receive import Accepted
from .types import OWNER_PRIORITY, VRRP_GROUP_V6, IPAddress, IPInterface

log = logging.getLogger("vrrpd")

# What a failed step of a start-up or reload can raise (netlink, sockets, sysctls, nft).
IO_ERRORS = (NetlinkFailure, OSError)
STATUS_SLICE = 8  # status records made between two turns of the loop (a control request)


class StartupError(Exception):
    """The daemon cannot start; str() is one line for the operator."""


def no_primary(ifname: str, family: int) -> str:
    """The start-up check that failed: nothing on `ifname` to send advertisements from."""
    what = "IPv4 address" if family == 4 else "IPv6 link-local address"
    return f"interface {ifname}: no {what} of its own to send advertisements from"


class Daemon:
    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.netlink: Netlink | None = None
        self.ports: dict[str, Port] = {}
        self.reactor: Reactor[Executor, Channel] | None = None
        self.channels: dict[tuple[str, int], Channel] = {}
        self.execs: dict[str, Executor] = {}  # by name, in configuration order
        self.runners: dict[str, TrackRunner] = {}
        self.groups = SyncGroups((), {})
        self.control = ControlServer(
            config.daemon.control_socket,
            self._control,
            config.daemon.control_group,
            config.daemon.control_idle_timeout,
        )
        self.stopping = asyncio.Event()
        self.bus = EventBus()
        self.notifier = Notifier()
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(key, None)  # for us only, not for notify scripts and checks
        self.scripts = Launcher()  # who notify and track scripts run as: set in _setup
        self.notify_runner = NotifyRunner(self.scripts)
        self.metrics: Any = None
        self.keeps_proto = Netlink.keeps_proto()
        # What this daemon changed and must undo (read once the control socket is ours).
        self.record = addrrecord.RecordFile(addrrecord.path_for(config.daemon.control_socket))
        self.vmacs = Vmacs(self.record)
        self._tasks: list[asyncio.Task[None]] = []
        self._monitor: asyncio.Task[None] | None = None  # link and address events
        self._relinks: dict[str, asyncio.Task[None]] = {}  # interfaces being reopened, by name
        self._reloading = asyncio.Lock()
        self._status_pending = False
        self._by_vip: dict[tuple[int, IPAddress], list[Executor]] | None = None

    # -- routing: inputs -> pure virtual routers -> executors and reports ----------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def feed(
        self,
        ex: Executor,
        produce: Callable[..., list[Output]],
        *args: object,
        now: float | None = None,
    ) -> None:
        """Give one input to `ex`'s virtual router, `produce(*args, now)` (one of its input
        methods), and carry out what follows from it."""
        at = self.now() if now is None else now
        out = produce(*args, at)
        if out:
            self.route(self.groups.follow(ex.name, out, at))
        self.schedule(ex)

    def schedule(self, ex: Executor) -> None:
        reactor = self.reactor
        assert reactor is not None
        reactor.deadlines.set(ex, ex.inst.next_deadline() if ex.running else None)
        if not reactor.batching:
            reactor.arm()

    def route(self, routed: Sequence[Routed]) -> None:
        batches: dict[str, list[Output | GroupSettled]] = {}
        for name, out in routed:
            ex = self.execs[name]
            if isinstance(out, REPORTS):
                self._report(ex, out)
            if not isinstance(out, REPORT_ONLY):
                batches.setdefault(name, []).append(out)
        for name in {name for name, _ in routed}:
            ex = self.execs[name]
            if name in batches and ex.running:
                ex.submit(batches[name])
            self.schedule(ex)

    def _report(self, ex: Executor, out: Output) -> None:
        inst, name = ex.inst, ex.name
        match out:
            case Transition(old, new, reason, priority, master):
                cfg = inst.cfg
                log.info(
                    "%s: state %s -> %s reason=%s vrid=%d iface=%s family=ipv%d priority=%d",
                    name,
                    old.value,
                    new.value,
                    reason.value,
                    cfg.vrid,
                    cfg.interface,
                    cfg.family,
                    priority,
                    extra={
                        "vrrp": {
                            "VRRP_NAME": name,
                            "VRRP_VRID": cfg.vrid,
                            "VRRP_IFACE": cfg.interface,
                            "VRRP_STATE": new.value,
                            "VRRP_OLD_STATE": old.value,
                            "VRRP_REASON": reason.value,
                            "VRRP_PRIORITY": priority,
                        }
                    },
                )
                self.bus.publish(
                    "transition",
                    name=name,
                    vrid=cfg.vrid,
                    interface=cfg.interface,
                    family=cfg.family,
                    old=old.value,
                    new=new.value,
                    reason=reason.value,
                    priority=priority,
                    master=master or None,
                )
                self._status_soon()
            case PriorityChanged(old, new, explain):
                self.bus.publish("priority", name=name, old=old, new=new, explain=explain)
                log.info("%s: priority %d -> %d (%s)", name, old, new, explain)
            case TrackingChanged(what, explain):
                self.bus.publish("track", name=name, change=what, explain=explain)
                log.info("%s: tracking: %s; %s", name, what, explain)
            case Warn(message):
                log.warning("%s: %s", name, message)
            case Updated(changed):
                log.info("%s: updated in place (%s)", name, ", ".join(changed))
            case GateChanged(ok, detail):
                self.bus.publish("gate", name=name, ok=ok, detail=detail)
                (log.info if ok else log.warning)(
                    "%s: takeover gate %s (%s)", name, "passes" if ok else "fails", detail
                )
            case GateHolding(grace, why):
                self.bus.publish("gate-holding", name=name, grace=float(grace), gate=why)
                log.warning(
                    "%s: the master is gone but the takeover gate %s: staying backup up to "
                    "%gs more for a router whose gate passes",
                    name,
                    why,
                    float(grace),
                )
            case OtherMaster(address, priority, ours, unsaid):
                self.bus.publish(
                    "other-master",
                    name=name,
                    address=str(address),
                    priority=priority,
                    ours=ours,
                    unsaid=unsaid,
                )
                more = f"; {unsaid} more such adverts since the last line" if unsaid else ""
                log.warning(
                    "%s: another master, %s with priority %d (ours %d): a split brain "
                    "healing; answered so it steps down%s",
                    name,
                    address,
                    priority,
                    ours,
                    more,
                )

    # -- executor hooks ----------------------------------------------------------------------

    def _due(self, ex: Executor, now: float) -> None:
        if ex.running:
            self.feed(ex, ex.inst.timeout, now=now)

    def after_transition(self, ex: Executor, t: Transition) -> None:
        """Notify scripts, once the transition's actions ran (a MASTER script finds the
        addresses in place, as with keepalived)."""
        for job in instance_jobs(ex.inst.cfg, t):
            self.notify_runner.submit(job)

    async def before_master(self, ex: Executor, t: Transition) -> None:
        began = time.monotonic()
        ok = await self.notify_runner.run(before_master_job(ex.inst.cfg, t))
        took_ms = (time.monotonic() - began) * 1000
        self.bus.publish("before-master", name=ex.name, ok=ok, ms=round(took_ms, 1))
        (log.info if ok else log.warning)(
            "%s: before_master %s in %.1f ms; now adding the addresses%s",
            ex.name,
            "done" if ok else "failed",
            took_ms,
            "" if ok else " anyway (a master without them would hold nothing)",
        )

    def _groups_stopped(self, groups: Iterable[SyncGroup]) -> None:
        """Sync groups that stop (vrrpd stops, or a reload removed them): their on_stop."""
        for group in groups:
            for job in group_jobs(group, fsm.State.INITIALIZE):
                self.notify_runner.submit(job)

    def group_settled(self, settled: GroupSettled) -> None:
        group, state = settled.group, settled.state
        self.bus.publish("group", name=group.name, state=state.value)
        log.info("sync group %s: all members %s", group.name, state.value)
        for job in group_jobs(group, state):
            self.notify_runner.submit(job)

    async def rebuild(self, ex: Executor, parts: frozenset[Part]) -> None:
        if Part.FRAMES in parts:
            ex.frames = ex.build_frames()
        if Part.VIEW in parts:
            ex.channel.refresh()
        if Part.TRACKING in parts:
            await self._restart_tracking(ex)
        if Part.FILTER in parts:
            try:
                await self._sync_accept_mode()
            except OSError as e:
                log.error("%s: accept_mode filter not updated: %s", ex.name, e)

    def addresses_added(self, ex: Executor, vips: Sequence[IPInterface]) -> None:
        if not self.keeps_proto and ex.vmac is None:
            self.record.update(self.record.state.with_addresses(ex.port.name, vips))

    def addresses_removed(self, ex: Executor, vips: Sequence[IPInterface]) -> None:
        if not self.keeps_proto and ex.vmac is None:
            self.record.update(self.record.state.without_addresses(ex.port.name, vips))

    # -- set-up --------------------------------------------------------------------------------

    async def _setup(self) -> None:
        # Without CAP_NET_RAW and CAP_NET_ADMIN nothing below works, or worse, a master
        # could not add its addresses: one line naming what is missing, before anything.
        lacking = privilege.missing(effective_capabilities())
        if lacking:
            raise StartupError(privilege.missing_line(lacking))
        try:  # checked with the configuration (vrrpd.io.scripthost.problems): seldom fails
            self.scripts.use(script_identity(self.config.daemon))
        except ScriptUserError as e:
            raise StartupError(str(e)) from None
        # The control socket first: it is also the lock that keeps a second daemon with the
        # same configuration from touching the addresses of the running one.
        try:
            await self.control.start()
        except ControlError as e:
            raise StartupError(str(e)) from None
        except OSError as e:
            what = f"creating the control socket {self.config.daemon.control_socket}"
            raise StartupError(str(privilege.refusal(Op.CONTROL_SOCKET, what, e))) from None
        self.reactor = Reactor(self._due, self._received)
        try:
            self.netlink = Netlink()
            # What a predecessor killed with SIGKILL left (its addresses: in `_add`).
            self.record.load()
            await addrrecord.undo(self.record, self.netlink)
            await self._add(self.config.virtual_routers, startup=True)
            self.groups = SyncGroups(self.config.sync_groups, self._instances())
            await self._sync_accept_mode()
        except IO_ERRORS as e:
            raise StartupError(str(e)) from None
        if self.config.daemon.metrics_listen is not None:
            await self._start_metrics()

    async def _start_metrics(self) -> None:
        from .io.metrics import MetricsServer  # prometheus_client only when asked for

        assert self.config.daemon.metrics_listen is not None
        self.metrics = MetricsServer(
            self.config.daemon.metrics_listen,
            self.status_rows,
            names=self.config.daemon.metrics_names,
        )
        try:
            await self.metrics.start()
        except OSError as e:
            self.metrics = None
            raise StartupError(str(e)) from None

    def _instances(self) -> dict[str, Instance]:
        return {name: ex.inst for name, ex in self.execs.items()}

    async def _port(self, name: str) -> Port:
        port = self.ports.get(name)
        if port is None:
            assert self.netlink is not None
            port = Port(await self.netlink.link(name))
            try:
                port.open()
            except OSError as e:
                what = f"interface {name}: cannot open sockets"
                raise StartupError(privilege.reported(what, e)) from None
            self.ports[name] = port
        return port

    async def _channel(
        self, port: Port, family: int, on_interface: list[Address], managed: set[IPAddress]
    ) -> Channel:
        ch = self.channels.get((port.name, family))
        if ch is None:
            primary = primary_address(family, on_interface, managed)
            if primary is None:
                raise StartupError(no_primary(port.name, family))
            ch = Channel(port, family, primary, self.config.daemon.kernel_filter)
            try:
                ch.open()
            except OSError as e:
                what = f"{ch.label}: cannot open sockets"
                raise StartupError(privilege.reported(what, e)) from None
            assert ch.sock is not None and self.reactor is not None
            self.reactor.add_socket(ch.sock, ch, ch.label)
            self.channels[(port.name, family)] = ch
        return ch

    async def _host_owned(
        self, ifname: str, cfgs: Iterable[VirtualRouterConfig]
    ) -> tuple[list[Address], StartupPlan]:
        """The interface's addresses and what the start-up cleanup decides for the virtual
        addresses of `cfgs` on it; StartupError if a non-owner claims the host's address."""
        port = await self._port(ifname)
        on_interface, plan = await self._plan(ifname, port.index, cfgs)
        if plan.claimed:
            shown = ", ".join(str(a) for a in plan.claimed)
            raise StartupError(
                f"interface {ifname}: {shown} is on it without vrrpd's mark: if it is the "
                "host's own address, only the address owner (priority = 255) may list it in "
                "virtual_ips; if a stopped keepalived or vrrpd left it, remove it "
                f"(ip addr del {shown} dev {ifname})"
            )
        return on_interface, plan

    async def _plan(
        self, ifname: str, index: int, cfgs: Iterable[VirtualRouterConfig]
    ) -> tuple[list[Address], StartupPlan]:
        """The interface's addresses and the start-up cleanup's decision about them."""
        assert self.netlink is not None
        on_interface = await self.netlink.address_records(index)
        recorded: frozenset[IPAddress] = frozenset()
        if not self.keeps_proto:
            recorded = recorded_on(self.record.state.addresses, ifname)
        vips: set[IPAddress] = set()
        owners: set[IPAddress] = set()
        for cfg in cfgs:
            ips = {v.ip for v in cfg.virtual_ips}
            vips |= ips
            if cfg.priority == OWNER_PRIORITY:
                owners |= ips
        return on_interface, startup_plan(on_interface, vips, recorded, self.keeps_proto, owners)

    async def _add(self, cfgs: Sequence[VirtualRouterConfig], startup: bool) -> list[Executor]:
        """Set up virtual routers (not yet started): sockets, stale addresses, frames. One
        address dump per interface and one link dump for all, however many routers."""
        assert self.netlink is not None
        nl = self.netlink
        vips_on: dict[str, set[IPAddress]] = {}
        cfgs_on: dict[str, list[VirtualRouterConfig]] = {}
        for cfg in cfgs:
            vips_on.setdefault(cfg.interface, set()).update(v.ip for v in cfg.virtual_ips)
            cfgs_on.setdefault(cfg.interface, []).append(cfg)
        owned: dict[str, frozenset[IPAddress]] = {}
        dumps: dict[str, list[Address]] = {}
        for ifname, vips in vips_on.items():
            on_interface, plan = await self._host_owned(ifname, cfgs_on[ifname])
            port = self.ports[ifname]
            # A crashed predecessor must not leave a duplicate VIP: remove what a vrrpd added
            # before electing (at a reload, only the new routers' own addresses).
            stale = plan.remove if startup else plan.at_reload(vips)
            await self._remove_stale(ifname, port.index, stale, plan)
            owned[ifname] = plan.host_owned
            dumps[ifname] = [a for a in on_interface if a.iface not in stale]
        up = {link.name: link.up for link in await nl.links()}
        added: list[Executor] = []
        for cfg in cfgs:
            port = self.ports[cfg.interface]
            host_owned = owned[cfg.interface] & {v.ip for v in cfg.virtual_ips}
            managed = vips_on[cfg.interface] - owned[cfg.interface]
            ch = await self._channel(port, cfg.family, dumps[cfg.interface], managed)
            inst = Instance(cfg, ch.primary, host_owned)
            for vip in sorted(host_owned, key=str):
                log.info(
                    "%s: %s is the interface's own address: advertised, never added or removed",
                    cfg.name,
                    vip,
                )
            vmac = None
            if cfg.use_vmac:
                vmac = await self.vmacs.create(
                    nl, port.name, port.index, cfg.family, cfg.vrid, cfg.name
                )
            assert self.reactor is not None
            ex = Executor(inst, ch, self, vmac, self.reactor.outbox)
            self.execs[cfg.name] = ex
            ch.routers[cfg.vrid] = ex
            for ifname in inst.tracked_links:
                inst.tracker.interface(ifname, up.get(ifname, False))
            added.append(ex)
        for ch in {ex.channel for ex in added}:
            ch.refresh()
        self._by_vip = None
        return added

    async def _remove_stale(
        self, ifname: str, index: int, stale: Sequence[IPInterface], plan: StartupPlan
    ) -> None:
        """Remove the addresses the start-up plan found stale, and forget them."""
        assert self.netlink is not None
        for a in stale:
            await self.netlink.del_address(index, a)
            if a in plan.leftovers:
                log.warning(
                    "%s: removed virtual address %s found at start-up without vrrpd's "
                    "mark (left by keepalived or an older vrrpd?)",
                    ifname,
                    a,
                )
            else:
                log.info("%s: removed stale virtual address %s found at start-up", ifname, a)
        if stale and not self.keeps_proto:
            self.record.update(self.record.state.without_addresses(ifname, stale))

    def _start(self, ex: Executor) -> None:
        ex.start()
        self._start_tracking(ex)
        self.feed(ex, ex.inst.start)

    def _start_tracking(self, ex: Executor) -> None:
        inst = ex.inst
        gate = inst.gate_check()
        scripts = (*inst.cfg.track_scripts, *(() if gate is None else (gate,)))
        if not scripts and not inst.cfg.track_files:
            return  # nothing to run or read: no runner

        def script(name: str, ok: bool, detail: str) -> None:
            self.feed(ex, inst.check_result, name, ok, detail)

        def file(name: str, value: int | None) -> None:
            self.feed(ex, inst.file_value, name, value)

        runner = TrackRunner(scripts, inst.cfg.track_files, script, file, self.scripts)
        self.runners[ex.name] = runner
        runner.read_files_now()
        runner.start()

    async def _restart_tracking(self, ex: Executor) -> None:
        """The tracked objects changed (reload): feed the links' state, restart the runner."""
        runner = self.runners.pop(ex.name, None)
        if runner is not None:
            await runner.stop()
        assert self.netlink is not None
        up = {link.name: link.up for link in await self.netlink.links()}
        for ifname in ex.inst.tracked_links:
            self.feed(ex, ex.inst.link, ifname, up.get(ifname, False))
        self._start_tracking(ex)

    async def _remove(self, ex: Executor) -> None:
        """Release (priority 0 if master) and take down one virtual router."""
        runner = self.runners.pop(ex.name, None)
        if runner is not None:
            await runner.stop()
        if ex.running:
            self.feed(ex, ex.inst.shutdown)
            await ex.drain()
            self.schedule(ex)  # not running: no deadline
        if ex.vmac is not None and self.netlink is not None:
            with contextlib.suppress(NetlinkFailure, OSError):  # if so, undone at exit
                await self.vmacs.delete(self.netlink, ex.vmac)
            ex.vmac = None
        del self.execs[ex.name]
        self._by_vip = None
        ch = ex.channel
        del ch.routers[ex.inst.cfg.vrid]
        if ch.routers:
            ch.refresh()
            return
        if ch.sock is not None and self.reactor is not None:
            self.reactor.remove_socket(ch.sock)
        ch.close()
        del self.channels[(ch.port.name, ch.family)]
        if not any(c.port is ch.port for c in self.channels.values()):
            ch.port.close()
            del self.ports[ch.port.name]

    async def _sync_accept_mode(self) -> None:
        dropped = filtered(
            (
                ex.inst.cfg.accept_mode,
                ex.inst.cfg.priority == OWNER_PRIORITY,
                (v.ip for v in ex.inst.cfg.virtual_ips),
            )
            for ex in self.execs.values()
        )
        if dropped:
            await nft.install(dropped, self.record)
            log.info("accept_mode false: dropping traffic to %d virtual address(es)", len(dropped))
        elif self.record.state.nft_table:
            await nft.remove(self.record)

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._sighup)
        try:
            await self._setup()
            self.notify_runner.start()
            self._monitor = loop.create_task(self._watch_netlink())
            for ex in list(self.execs.values()):
                self._start(ex)
            interval = self.notifier.watchdog_interval()
            if interval is not None:
                self._tasks.append(loop.create_task(self._watchdog(interval)))
            log.info(
                "vrrpd running: %d virtual router(s), control socket %s",
                len(self.execs),
                self.config.daemon.control_socket,
            )
            self.notifier.ready(self.summary())
            settle_heap()
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

    def _status_soon(self) -> None:
        """systemd's STATUS= once the transitions of this wake-up are done (255 routers
        changing state at once send one line, not 255)."""
        if not self._status_pending and self.notifier.enabled:
            self._status_pending = True
            asyncio.get_running_loop().call_soon(self._send_status)

    def _send_status(self) -> None:
        self._status_pending = False
        self.notifier.status(self.summary())

    def summary(self) -> str:
        """One line for systemd's STATUS=."""
        states = [(ex.name, ex.inst.state) for ex in self.execs.values()]
        masters = [n for n, s in states if s is fsm.State.MASTER]
        faults = [n for n, s in states if s is fsm.State.FAULT]
        text = f"{len(states)} virtual routers, {len(masters)} master"
        if masters:
            text += f" ({', '.join(masters[:8])}{', ...' if len(masters) > 8 else ''})"
        if faults:
            text += f", {len(faults)} in FAULT"
        return text

    async def _teardown(self) -> None:
        self.groups.stopping = True
        # Link and address events first: removing one address can make the kernel remove
        # others (secondaries of a deleted primary, promote_secondaries off), and masters
        # still running would put them back while they wait for their own turn.
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for task in list(self._relinks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ex in list(self.execs.values()):
            await self._remove(ex)
        self._prune_ports()
        self._groups_stopped(self.config.sync_groups)  # the groups stop with vrrpd
        await self.notify_runner.drain(timeout=5.0)
        await self.notify_runner.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.netlink is not None:  # the parents' sysctls, the nft table, macvlans left
            try:
                await addrrecord.undo(self.record, self.netlink)
            except NetlinkFailure as e:
                log.error("not undone (see %s): %s", self.record.path, e)
        if self.metrics is not None:
            await self.metrics.close()
        self.bus.close()
        await self.control.close()
        if self.netlink is not None:
            await self.netlink.close()
        if self.reactor is not None:
            self.reactor.close()
            self.reactor = None
        self.notifier.close()

    async def cleanup(self) -> bool:
        """`vrrpd --cleanup`: undo what a daemon with this configuration left behind (killed
        with SIGKILL and not restarted: systemd's ExecStopPost), as a start would, and return:
        the record (macvlans, the parents' sysctls, the nft table) and the addresses marked
        or recorded as vrrpd's on the configured interfaces. Under the control socket's
        lock, like a start: never while that daemon runs. True if nothing is left to undo."""
        try:
            await self.control.start()
        except (ControlError, OSError) as e:
            raise StartupError(str(e)) from None
        try:
            self.netlink = Netlink()
            self.record.load()
            await addrrecord.undo(self.record, self.netlink)
            cfgs_on: dict[str, list[VirtualRouterConfig]] = {}
            for cfg in self.config.virtual_routers:
                cfgs_on.setdefault(cfg.interface, []).append(cfg)
            for ifname, cfgs in cfgs_on.items():
                link = await self.netlink.find_link(ifname)
                if link is not None:
                    plan = (await self._plan(ifname, link.index, cfgs))[1]
                    await self._remove_stale(ifname, link.index, plan.remove, plan)
        except IO_ERRORS as e:
            raise StartupError(str(e)) from None
        finally:
            await self.control.close()
            if self.netlink is not None:
                await self.netlink.close()
            self.notifier.close()
        if self.record.state.pending:
            log.error("cleanup: not everything was undone; what is left is in %s", self.record.path)
            return False
        return True

    # -- inputs --------------------------------------------------------------------------------

    def _received(self, ch: Channel, got: rawsock.Received) -> None:
        if ch.family == 4:
            verdict = ch.receiver.receive_ipv4(got.data)
        else:
            assert got.src is not None
            dst = got.dst if got.dst is not None else VRRP_GROUP_V6
            hops = got.hop_limit if got.hop_limit is not None else -1
            verdict = ch.receiver.receive(got.data, got.src, dst, hops)
        if isinstance(verdict, Accepted):
            ex = ch.routers[verdict.vrid]  # the receiver accepts only configured VRIDs
            if ex.running:
                self.feed(ex, ex.inst.advert, verdict, now=got.arrived)
            return
        owner = ch.routers.get(verdict.vrid) if verdict.vrid is not None else None
        if owner is not None:
            owner.inst.discarded(verdict.reason)
        else:
            key = DISCARD_COUNTER[verdict.reason]
            ch.counters[key] = ch.counters.get(key, 0) + 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: discarded (%s): %s", ch.label, verdict.reason, verdict.detail)

    def _holders(self, index: int, address: IPAddress) -> list[Executor]:
        """The virtual routers that list `address` on interface `index` (an address event
        concerns these, not all 255)."""
        if self._by_vip is None:
            by: dict[tuple[int, IPAddress], list[Executor]] = {}
            for ex in self.execs.values():
                for vip in ex.inst.cfg.virtual_ips:
                    by.setdefault((ex.vip_index, vip.ip), []).append(ex)
            self._by_vip = by
        return self._by_vip.get((index, address), [])

    async def _watch_netlink(self) -> None:
        try:
            async for event in monitor():
                if isinstance(event, NeighEvent):
                    if self.netlink is not None:
                        self.netlink.neighbours.seen(event)  # a hand-over may be waiting
                elif isinstance(event, AddrEvent) and not event.added:
                    for ex in self._holders(event.index, event.address):
                        if ex.running:
                            self.feed(ex, ex.inst.vips_lost, event.address)
                elif isinstance(event, AddrEvent):
                    for port in list(self.ports.values()):
                        self._follow(port, port.follow.address_added(event.index))
                    for ex in self._holders(event.index, event.address):
                        if ex.running:
                            self.feed(ex, ex.inst.vip_appeared, event.address)
                elif isinstance(event, LinkEvent):
                    # The index first: a re-created interface's "up" must not clear FAULT
                    # before it is reopened.
                    for port in list(self.ports.values()):
                        decision = port.follow.link(event.name, event.index, event.deleted)
                        self._follow(port, decision)
                    for ex in list(self.execs.values()):
                        if not ex.running:
                            continue
                        if event.name:
                            self.feed(ex, ex.inst.link, event.name, event.up)
                        if event.up and event.index == ex.port.index:
                            self.feed(ex, ex.inst.link_up_again)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("netlink monitor failed; link and address changes are no longer seen")

    # -- an interface deleted and re-created: follow its index (vrrpd.linkfollow) -------------

    def link_vanished(self, ex: Executor) -> None:
        self._follow(ex.port, ex.port.follow.vanished())

    def _follow(self, port: Port, decision: Decision) -> None:
        """Carry out what `vrrpd.linkfollow` decided for `port`: FAULT for its virtual
        routers, and for REOPEN an attempt at reopening it (one task per interface)."""
        if decision.verdict is Verdict.KEEP:
            return
        for ex in list(self.execs.values()):
            if ex.port is port and ex.running:
                self.feed(ex, ex.inst.link_lost, decision.why)
        task = self._relinks.get(port.name)
        if decision.verdict is Verdict.REOPEN and (task is None or task.done()):
            loop = asyncio.get_running_loop()
            self._relinks[port.name] = loop.create_task(self._relink(port))

    async def _relink(self, port: Port) -> None:
        """Attempts at reopening `port` until one is current (no event asked for another
        meanwhile) or fails (the next link or address event asks again)."""
        follow = port.follow
        while not follow.ready and self.ports.get(port.name) is port:
            attempt = follow.wanted
            async with self._reloading:  # not while a reload sets up the same interfaces
                await self._reopen(port, attempt)
            if follow.wanted == attempt:
                return

    async def _reopen(self, port: Port, attempt: int) -> None:
        """One attempt: the interface of `port`'s name now, its sockets opened again, the
        start-up checks redone (its addresses, a primary address per family), the virtual
        MACs' macvlans made again on it; then its virtual routers may leave FAULT."""
        assert self.netlink is not None and self.reactor is not None
        nl, follow = self.netlink, port.follow
        execs = [ex for ex in self.execs.values() if ex.port is port]
        channels = [ch for ch in self.channels.values() if ch.port is port]
        for ex in execs:
            await ex.settle()  # their FAULT actions, on what is left of the old interface
        old, index = port.index, follow.index
        try:
            link = await nl.link(port.name)
            if link.index != index:
                self._follow(port, follow.link(link.name, link.index, deleted=False))
                return
            port.relink(link)
            on_interface, plan = await self._host_owned(port.name, [ex.inst.cfg for ex in execs])
            managed = {v.ip for ex in execs for v in ex.inst.cfg.virtual_ips} - plan.host_owned
            primaries = {}
            for ch in channels:
                primary = primary_address(ch.family, on_interface, managed)
                if primary is None:
                    raise StartupError(no_primary(port.name, ch.family))
                primaries[ch] = primary
            for ch, primary in primaries.items():
                if ch.sock is not None:
                    self.reactor.remove_socket(ch.sock)
                ch.reopen(primary)
                assert ch.sock is not None
                self.reactor.add_socket(ch.sock, ch, ch.label)
            for ex in execs:
                if ex.inst.cfg.use_vmac:
                    await self._remake_vmac(ex)
            port.vmacs_on = index
        except (*IO_ERRORS, StartupError) as e:
            problem = str(e).removeprefix(f"interface {port.name}: ")
            self._follow(port, follow.failed(index, problem))
            return
        finally:
            self._by_vip = None
        if not follow.opened(index, attempt):
            return
        log.info(
            "%s: reopened on index %d (was %d): sockets, frames and start-up checks redone",
            port.name,
            index,
            old,
        )
        for ex in execs:
            if ex.running:
                self.feed(ex, ex.inst.link_ready, ex.channel.primary)

    async def _remake_vmac(self, ex: Executor) -> None:
        """The virtual MAC's macvlan on the reopened interface, unless the one there was made
        on it and still exists. The old one is removed if it is still there (a macvlan made
        on a macvlan hangs off the lower interface, so it outlives the one it was made on)."""
        assert self.netlink is not None
        nl, cfg, port, old = self.netlink, ex.inst.cfg, ex.port, ex.vmac
        if old is not None and port.vmacs_on == port.index:
            there = await nl.find_link(old.name)
            if there is not None and there.index == old.index:
                return
        ex.vmac = await self.vmacs.create(nl, port.name, port.index, cfg.family, cfg.vrid, cfg.name)
        if old is not None and old.name != ex.vmac.name:
            await self.vmacs.delete(nl, old)  # if already gone with its interface: forgotten

    # -- reload --------------------------------------------------------------------------------

    def _sighup(self) -> None:
        asyncio.get_running_loop().create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except ControlError as e:
            for line in str(e).splitlines():
                log.error("reload refused: %s", line)

    async def reload(self) -> dict[str, Any]:
        """Read the configuration file again and apply the differences (`vrrpd.reload`).
        An invalid file changes nothing; a failure while applying is reported with what was
        and was not applied, and the daemon keeps running."""
        if self.config_path is None:
            raise ControlError("reload: the daemon was started without a configuration file")
        async with self._reloading:
            try:
                new = config_mod.load(self.config_path)
            except ConfigError as e:
                raise ControlError("\n".join(e.problems)) from None
            refused = reload_mod.refused(self.config, new, self.config_path)
            if refused:
                raise ControlError("\n".join(refused))
            try:
                scripts = script_identity(new.daemon)
            except ScriptUserError as e:
                raise ControlError(f"{self.config_path}: {e}") from None
            plan = reload_mod.plan(self.config, new)
            self.scripts.use(scripts)  # the next script runs as the new script_user
            if {"control_group", "control_idle_timeout"} & set(plan.daemon_changed):
                self.control.reconfigure(new.daemon.control_group, new.daemon.control_idle_timeout)
            self.notifier.reloading("reloading")
            try:
                await self._apply(new, plan)
            finally:
                self.notifier.ready(self.summary())
            settle_heap()
            result = plan.summary()
            self.bus.publish("reload", **result)
            log.info(
                "reloaded %s: %s",
                self.config_path,
                ", ".join(f"{k} {len(v)}" for k, v in result.items()),
            )
            return result

    async def _apply(self, new: Config, plan: reload_mod.Plan) -> None:
        A = reload_mod.Action
        new_by_name = {c.name: c for c in new.virtual_routers}
        starting = [new_by_name[n] for n in (*plan.names(A.RESTART), *plan.names(A.ADD))]
        readdressed = [
            new_by_name[n]
            for n in plan.names(A.UPDATE)
            if new_by_name[n].virtual_ips != self.execs[n].inst.cfg.virtual_ips
        ]
        try:
            await self._can_start([*starting, *readdressed])
        except (*IO_ERRORS, StartupError) as e:
            self._prune_ports()
            raise ControlError(f"reload not applied (nothing changed): {e}") from None
        done: list[str] = []
        try:
            for name in (*plan.names(A.REMOVE), *plan.names(A.RESTART)):
                await self._remove(self.execs[name])
                done.append(f"{name} stopped")
            removed = [g for g in self.config.sync_groups if g.name in plan.groups_removed]
            self._groups_stopped(removed)
            self.config = new
            for name in plan.names(A.UPDATE):
                await self._update(self.execs[name], new_by_name[name])
                done.append(f"{name} updated")
            started = await self._add(starting, startup=False)
            self.groups = SyncGroups(new.sync_groups, self._instances(), self.groups.settled)
            for ex in started:
                self._start(ex)
                done.append(f"{ex.name} started")
            for ex in list(self.execs.values()):
                self.feed(ex, ex.inst.apply)
            await self._sync_accept_mode()
            done.append("accept_mode filter")
            if "kernel_filter" in plan.daemon_changed:
                for ch in self.channels.values():
                    ch.kernel_filter = new.daemon.kernel_filter
                    ch.refresh()
                done.append("kernel filter")
            if "metrics_listen" in plan.daemon_changed:
                await self._restart_metrics()
            elif "metrics_names" in plan.daemon_changed and self.metrics is not None:
                self.metrics.names = new.daemon.metrics_names
        except Exception as e:  # whatever failed, the daemon runs on and says what it did
            if not isinstance(e, (*IO_ERRORS, StartupError)):
                log.exception("reload: unexpected failure")
            # What runs is the configuration now: a router that did not start is "added"
            # by the next reload.
            running = tuple(ex.inst.cfg for ex in self.execs.values())
            self.config = dataclasses.replace(new, virtual_routers=running)
            missing = sorted(set(new_by_name) - {ex.name for ex in self.execs.values()})
            message = (
                f"reload failed while applying: {e}; applied: {'; '.join(done) or 'nothing'}; "
                f"not running: {', '.join(missing) or 'none'}"
            )
            log.error("%s", message)
            raise ControlError(message) from None

    def _prune_ports(self) -> None:
        """Close the interfaces no channel uses (opened for a reload that did not happen)."""
        used = {ch.port.name for ch in self.channels.values()}
        for name in [n for n in self.ports if n not in used]:
            self.ports.pop(name).close()

    async def _can_start(self, cfgs: Sequence[VirtualRouterConfig]) -> None:
        """Before a reload changes anything: every interface the new or changed virtual
        routers need exists, has an address to send from, and none of their addresses is the
        host's own unless an owner lists it (raises StartupError or NetlinkFailure)."""
        for cfg in cfgs:
            port = await self._port(cfg.interface)
            vips = {v.ip for v in cfg.virtual_ips}
            on_interface, plan = await self._host_owned(cfg.interface, [cfg])
            if (port.name, cfg.family) in self.channels:
                continue
            if primary_address(cfg.family, on_interface, vips - plan.host_owned) is None:
                raise StartupError(f"{cfg.name}: {no_primary(port.name, cfg.family)}")

    async def _update(self, ex: Executor, cfg: VirtualRouterConfig) -> None:
        """A change that keeps the virtual router running (`vrrpd.reload.KEYS`)."""
        host_owned = ex.inst.host_owned
        if cfg.virtual_ips != ex.inst.cfg.virtual_ips:
            host_owned = (await self._host_owned(cfg.interface, [cfg]))[1].host_owned
        self.feed(ex, ex.inst.update, cfg, host_owned)
        self._by_vip = None

    async def _restart_metrics(self) -> None:
        if self.metrics is not None:
            await self.metrics.close()
            self.metrics = None
        if self.config.daemon.metrics_listen is not None:
            await self._start_metrics()

    # -- control -------------------------------------------------------------------------------

    def status(self) -> list[RouterStatus]:  # at once: for tests and tools, not the socket
        return list(self.status_rows())

    def status_rows(self) -> Iterator[RouterStatus]:
        """The status records one at a time: the metrics server lets the loop run between
        two (200 records take 20-80 ms)."""
        now, wall = self.now(), time.time()
        for ex in list(self.execs.values()):
            vmac = None if ex.vmac is None else ex.vmac.name
            yield ex.inst.status(now, ex.channel.counters, vmac, wall)

    def _router(self, req: dict[str, Any]) -> Executor:
        name = req.get("name")
        ex = self.execs.get(name) if isinstance(name, str) else None
        if ex is None:
            known = ", ".join(self.execs)
            raise ControlError(f"no virtual router named {name!r} (known: {known})")
        return ex

    def _override(self, ex: Executor, op: Callable[[Instance, float], list[Output]]) -> None:
        """An operator request, for the router and its sync group (`SyncGroups.override`)."""
        try:
            routed = self.groups.override(ex.name, op, self.now())
        except Refused as e:
            raise ControlError(str(e)) from None
        self.route(routed)

    async def _control(self, req: dict[str, Any]) -> Any:
        cmd = req["cmd"]
        if cmd == Command.STATUS:
            # A slice at a time, the loop running between two: 200 routers' records take
            # 10-20 ms here, longer than a backup at 10 ms may go without hearing its master.
            rows: list[dict[str, Any]] = []
            for n, row in enumerate(self.status_rows(), 1):
                rows.append(row.to_json())
                if n % STATUS_SLICE == 0:
                    await asyncio.sleep(0)
            return rows
        if cmd == Command.EXPLAIN:
            inst = self._router(req).inst
            tracking = inst.tracker.snapshot()
            return {"name": inst.name, "explain": inst.explain(), "tracking": tracking}
        if cmd == Command.EVENTS:
            return Stream(self.bus.subscribe())
        if cmd == Command.TAKEOVER:
            ex = self._router(req)
            self._override(ex, lambda inst, now: inst.takeover(now))
            return {"name": ex.name, "state": ex.inst.state.value, "priority": ex.inst.fsm.priority}
        if cmd == Command.RELEASE:
            ex = self._router(req)
            self._override(ex, lambda inst, now: inst.release(now))
            return {"name": ex.name, "priority": ex.inst.fsm.priority}
        if cmd == Command.MAINTENANCE:
            ex = self._router(req)
            on = req.get("on")
            if not isinstance(on, bool):
                raise ControlError('maintenance needs "on": true or false')
            self._override(ex, lambda inst, now: inst.set_maintenance(on, now))
            return {"name": ex.name, "maintenance": on, "priority": ex.inst.fsm.priority}
        if cmd == Command.RELOAD:
            return await self.reload()
        raise ControlError(unknown_command(str(cmd)))


def settle_heap() -> None:
    """Move everything alive now (modules, configuration, frames, the virtual routers) out of
    the cyclic garbage collector's sight: a full collection then walks only what was made
    since, not the whole heap. Measured with 200 virtual routers at 10 ms: a full collection
    took 21-27 ms, most of Master_Down_Interval's 36 ms, and the backup took over. Called
    again after a reload (unfrozen first, so what the reload dropped can still be collected)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def serve(config: Config, config_path: str | None = None) -> int:
    return await Daemon(config, config_path).run()


async def cleanup(config: Config) -> int:
    """`vrrpd --cleanup`: 0 if nothing is left to undo, 1 if something could not be."""
    return 0 if await Daemon(config).cleanup() else 1
