"""One virtual router's decisions, pure: the state machine, its tracked objects, the operator's
overrides (takeover, release, maintenance), its counters, and what a reload changes.

Every input is a method that takes `now` (seconds, monotonic) and returns typed outputs, in
the order the runtime must carry them out. The runtime (`vrrpd.io.executor`) decides nothing:
it sends, adds and removes addresses, announces, starts and stops the periodic tasks, and
reports what the kernel refused. Everything that decides is here, and reached by unit tests
without root: which addresses to add, announce or remove (never the host's own, which an
RFC 5798 owner advertises but does not manage), when to refresh or send Router Advertisements,
when to hand over to a winner after a split brain, and what a reload rebuilds.

Like `fsm`, this module never reads a clock, sleeps, opens a socket or logs.
"""

from __future__ import annotations

import datetime
import enum
import errno
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from . import fsm
from .api import (
    CHANNEL_COUNTERS,
    DISCARD_COUNTER,
    Counter,
    RouterStatus,
    TrackedStatus,
    zero_counters,
)
from .config import TrackScript, VirtualRouterConfig
from .packet import ChecksumForm
from .receive import Accepted, RouterView
from .reload import changed_fields
from .throttle import Throttle
from .timing import master_down_seconds, skew_seconds
from .tracking import Kind, Tracker, TrackSpec
from .types import MAX_BACKUP_PRIORITY, MIN_PRIORITY, IPAddress, IPInterface

MAINTENANCE_PRIORITY = MIN_PRIORITY
TAKEOVER_PRIORITY = MAX_BACKUP_PRIORITY
WARNED_MAX = 64  # (kind, sender) pairs a virtual router warns about, at most
OTHER_MASTER_EVERY = 10.0  # seconds between two reports of a lower-priority master
# What the kernel answers for an advert on an interface that is down (ENETDOWN; unicast:
# ENETUNREACH, its routes are gone) or gone (ENXIO): expected while our link is known down
# (`Instance.expected_send_error`).
LINK_DOWN_ERRORS = frozenset({errno.ENETDOWN, errno.ENETUNREACH, errno.ENXIO})


# --- outputs ------------------------------------------------------------------------------

SendAdvert = fsm.SendAdvert  # the state machine's own: passed through as it is


@dataclass(frozen=True, slots=True)
class AddAddresses:
    """Add these addresses; `claim`: we are becoming master (a virtual MAC goes up first)."""

    addresses: tuple[IPInterface, ...]
    claim: bool = True


@dataclass(frozen=True, slots=True)
class DelAddresses:
    """Remove these addresses; `release`: we are leaving master (a virtual MAC goes down
    after, so a backup never accepts frames sent to it, §6.4.2)."""

    addresses: tuple[IPInterface, ...]
    release: bool = True


@dataclass(frozen=True, slots=True)
class Announce:
    """Gratuitous ARP / unsolicited NA for these addresses (`garp_repeat` rounds)."""

    addresses: tuple[IPInterface, ...]


@dataclass(frozen=True, slots=True)
class StopAnnouncing:
    """Cancel a burst in progress and the periodic refresh."""


@dataclass(frozen=True, slots=True)
class Refresh:
    """(Re)start the periodic re-announcement every `interval` seconds; 0 stops it."""

    interval: Fraction


@dataclass(frozen=True, slots=True)
class BeforeMaster:
    """Run `before_master` for `transition` and wait for it (at most its timeout) before
    the steps that follow: the addresses, announcements and advertisements of a new
    master (the service behind the address is ready when traffic arrives)."""

    transition: Transition


@dataclass(frozen=True, slots=True)
class AnnounceLater:
    """One more burst `delay` seconds from now if still master (keepalived's
    garp_master_delay); cancelled by StopAnnouncing."""

    delay: Fraction


@dataclass(frozen=True, slots=True)
class RouterAds:
    """IPv6 Router Advertisements: on starts them; off stops them and sends lifetime 0."""

    on: bool


@dataclass(frozen=True, slots=True)
class HandOver:
    """We stepped down for `winner`: announce our addresses at its MAC (split brain)."""

    winner: IPAddress
    addresses: tuple[IPInterface, ...]


class Part(enum.Enum):
    """What the runtime rebuilds after a reload changed the configuration in place, or after
    the interface was reopened (`Instance.link_ready`)."""

    FRAMES = "frames"  # advertisements, GARP/NA and RA frames
    VIEW = "view"  # the channel's receive checks (addresses, interval, peers, auth)
    TRACKING = "tracking"  # the script/file runner
    FILTER = "filter"  # the accept_mode nftables table


@dataclass(frozen=True, slots=True)
class Rebuild:
    parts: frozenset[Part]


@dataclass(frozen=True, slots=True)
class Transition:
    old: fsm.State
    new: fsm.State
    reason: fsm.Reason
    priority: int
    # The master as last seen after the change (ours when we are master; "" unknown): a fact
    # for reports and scripts, not part of what the transition is.
    master: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    old: int
    new: int
    explain: str


@dataclass(frozen=True, slots=True)
class TrackingChanged:
    what: str
    explain: str


@dataclass(frozen=True, slots=True)
class Warn:
    """One log line at warning level (each kind of warning once per sender)."""

    message: str


@dataclass(frozen=True, slots=True)
class GateChanged:
    """The takeover gate's verdict changed (`ok`: it passes), with the run's detail."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class GateHolding:
    """The master is gone but the takeover gate fails: Backup for up to `grace` seconds more."""

    grace: Fraction
    detail: str


@dataclass(frozen=True, slots=True)
class OtherMaster:
    """While Master, an advert from a router that is Master too but ranks lower (§6.4.3):
    a split brain healing; it steps down when it hears our answer. Reported at most once per
    OTHER_MASTER_EVERY (each advert is counted); `unsaid`: such adverts since the last report."""

    address: IPAddress
    priority: int
    ours: int
    unsaid: int


@dataclass(frozen=True, slots=True)
class Updated:
    """A reload changed these keys in place."""

    changed: tuple[str, ...]


Output = (
    SendAdvert
    | AddAddresses
    | DelAddresses
    | Announce
    | StopAnnouncing
    | Refresh
    | AnnounceLater
    | BeforeMaster
    | RouterAds
    | HandOver
    | Rebuild
    | Transition
    | PriorityChanged
    | TrackingChanged
    | Warn
    | Updated
    | OtherMaster
    | GateChanged
    | GateHolding
)

# Outputs the runtime only reports, at once (logs, events); the others are carried out in
# order by the virtual router's executor. A Transition is both: reported at once, and its
# notify script runs when the executor reaches it (after the transition's own actions).
REPORT_ONLY = (
    PriorityChanged,
    TrackingChanged,
    Warn,
    Updated,
    OtherMaster,
    GateChanged,
    GateHolding,
)
REPORTS = (Transition, *REPORT_ONLY)


# RFC 8347's new-master-reason for vrrpd's reasons for becoming master.
NEW_MASTER_REASON: dict[fsm.Reason, str] = {
    fsm.Reason.STARTUP: "priority",
    fsm.Reason.OWNER: "priority",
    fsm.Reason.FAULT_CLEARED: "priority",  # an owner back from FAULT
    fsm.Reason.RELOAD: "priority",
    fsm.Reason.MASTER_DOWN: "no-response",
    fsm.Reason.PRIORITY_0: "no-response",
    fsm.Reason.PREEMPTED: "preempted",
    fsm.Reason.TAKEOVER: "preempted",
    fsm.Reason.GATE_GRACE: "no-response",
}


def new_master_reason(reason: fsm.Reason | None) -> str:
    """ietf-vrrp's new-master-reason: "not-master" until the router first becomes master,
    then why it last did (it keeps that reason as backup, like the RFC 8347 leaf)."""
    return "not-master" if reason is None else NEW_MASTER_REASON.get(reason, "priority")


def iso_utc(t: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with milliseconds."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds")


class Refused(Exception):
    """An operator request that cannot be carried out; str() is one line."""


# --- configuration -> parts of the machine --------------------------------------------------


def _counts(verdict: Accepted) -> tuple[Counter, ...]:
    """The counters an accepted advert counts."""
    counts = [Counter.ADVERTS_RECEIVED, _CHECKSUM_COUNTER[verdict.checksum_form]]
    if verdict.advert.priority == 0:
        counts.append(Counter.PRIORITY0_RECEIVED)
    if verdict.address_mismatch:
        counts.append(Counter.ADDRESS_LIST_MISMATCH)
    if verdict.interval_mismatch:
        counts.append(Counter.INTERVAL_MISMATCH)
    return tuple(counts)


def track_specs(cfg: VirtualRouterConfig) -> list[TrackSpec]:
    """The tracked objects: the configured ones, plus the router's own interface, whose link
    going down is always FAULT."""
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
    return specs


def _links(cfg: VirtualRouterConfig) -> frozenset[str]:
    return frozenset(t.target for t in track_specs(cfg) if t.kind is Kind.INTERFACE)


def fsm_params(cfg: VirtualRouterConfig) -> fsm.Params:
    return fsm.Params(
        vrid=cfg.vrid,
        priority=cfg.priority,
        interval_cs=cfg.advert_interval_cs,
        preempt=cfg.preempt,
        preempt_delay=cfg.preempt_delay,
        version=cfg.version,
        gated=bool(cfg.takeover_gate),
        gate_grace=cfg.gate_grace,
    )


def view(cfg: VirtualRouterConfig) -> RouterView:
    """What the channel's receive checks need of this virtual router."""
    return RouterView(
        version=cfg.version,
        addresses=frozenset(v.ip for v in cfg.virtual_ips),
        interval_cs=cfg.advert_interval_cs,
        auth_pass=cfg.auth_pass,
        peers=frozenset(cfg.unicast_peers),
        ttl_check=cfg.unicast_ttl_check or not cfg.unicast_peers,
    )


_CHECKSUM_COUNTER = {
    ChecksumForm.PSEUDO: Counter.CHECKSUM_RFC5798,
    ChecksumForm.PLAIN: Counter.CHECKSUM_RFC9568,
}

_FRAME_KEYS = frozenset(
    {
        "advert_interval_cs",
        "checksum",
        "auth_pass",
        "unicast_peers",
        "unicast_source",
        "virtual_ips",
        "router_advertisements",
    }
)
_VIEW_KEYS = frozenset(
    {
        "advert_interval_cs",
        "auth_pass",
        "unicast_peers",
        "unicast_source",
        "unicast_ttl_check",
        "virtual_ips",
    }
)
_TRACK_KEYS = frozenset({"track_interfaces", "track_scripts", "track_files", "priority"})
# The gate's name among the runner's scripts: outside the track names' alphabet, so a track
# script named "takeover_gate" is never taken for it.
GATE_CHECK = "(takeover gate)"
_GATE_KEYS = frozenset({"takeover_gate", "gate_interval", "gate_timeout"})  # the runner's


# --- the virtual router -------------------------------------------------------------------


class Instance:
    """One virtual router. `primary` is its interface's primary address (IPv6: link-local);
    `host_owned` are configured virtual addresses that are the host's own (an RFC 5798 owner
    listing the interface's address): advertised, announced, never added or removed."""

    def __init__(
        self,
        cfg: VirtualRouterConfig,
        primary: IPAddress,
        host_owned: Iterable[IPAddress] = (),
    ) -> None:
        self.cfg = cfg
        self.primary = primary
        self.host_owned = frozenset(host_owned)
        self.fsm = fsm.VirtualRouter(fsm_params(cfg), primary=self.src)
        self.tracker = Tracker(cfg.priority, track_specs(cfg))
        self._tracked_cache: tuple[object, tuple[TrackedStatus, ...]] = (None, ())
        self._dates: dict[tuple[float, float], str] = {}  # (loop time, wall - loop): ISO
        self.tracked_links = _links(cfg)  # interfaces whose link state tracking needs
        self.maintenance = False
        self.takeover_held = False  # advertising TAKEOVER_PRIORITY after `vrrpctl takeover`
        self.group: str | None = None  # the sync group, set by SyncGroups
        self.group_fault = ""  # why the sync group holds this router in FAULT ("" if not)
        self.link_fault = ""  # why its interface holds it in FAULT (vrrpd.linkfollow; "" if not)
        self.counters = zero_counters()
        self.transitions = 0
        self.state_since = 0.0
        self.up_since: float | None = None  # when it left Initialize (loop time)
        self.master_reason: fsm.Reason | None = None  # why it last became master
        self.started = False
        self._warned: set[tuple[str, str]] = set()
        self._last_advert: Accepted | None = None  # the verdict `advert` last saw
        self._last_counts: tuple[Counter, ...] = ()  # the counters it counts
        self._other_masters = Throttle(OTHER_MASTER_EVERY)
        self.link_down = False  # our interface's last link event said down (or gone)
        self.gate_detail = ""  # the takeover gate's last run ("" = none yet)

    # -- facts -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def state(self) -> fsm.State:
        return self.fsm.state

    @property
    def src(self) -> IPAddress:
        """Our advertisements' source, also our primary address in tie-breaks (§6.4.3)."""
        return self.cfg.unicast_source or self.primary

    @property
    def own_fault(self) -> bool:
        return self.tracker.fault or bool(self.link_fault)

    def managed(self, vips: Iterable[IPInterface] | None = None) -> tuple[IPInterface, ...]:
        """The addresses vrrpd adds and removes: the virtual ones minus the host's own."""
        chosen = self.cfg.virtual_ips if vips is None else vips
        return tuple(v for v in chosen if v.ip not in self.host_owned)

    def view(self) -> RouterView:
        return view(self.cfg)

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
        if self.link_fault:
            text += f"; FAULT: {self.link_fault}"
        if self.group_fault and self.group is not None:
            text += f"; FAULT: sync group {self.group}: {self.group_fault}"
        if self.cfg.takeover_gate:
            text += f"; takeover gate: {self.gate_text()}"
        return text

    def gate_check(self) -> TrackScript | None:
        """The takeover gate as a check for the script runner (run like a tracked script,
        ahead of need, so a takeover never waits for it), or None without a gate."""
        cfg = self.cfg
        if not cfg.takeover_gate:
            return None
        return TrackScript(
            GATE_CHECK, cfg.takeover_gate, cfg.gate_interval, cfg.gate_timeout, 1, 1, None
        )

    def gate_text(self) -> str:
        """The takeover gate's verdict for explain and logs."""
        if not self.gate_detail:
            return "no result yet (holds a takeover like a failure)"
        verdict = "passes" if self.fsm.gate_open else "fails"
        return f"{verdict} ({self.gate_detail})"

    # -- protocol inputs -------------------------------------------------------------------

    def start(self, now: float) -> list[Output]:
        """Enable the router: FAULT if a check that must hold has no good verdict yet
        (never claim the addresses before knowing), else Initialize -> Backup/Master."""
        self.started = True
        self.state_since = now
        if self.own_fault or self.group_fault:
            out = self._run(fsm.FaultOn(), now)
        else:
            out = self._run(fsm.Startup(), now)
        return out + self.apply(now)

    def advert(self, verdict: Accepted, now: float) -> list[Output]:
        """A validated advertisement for this VRID."""
        c = self.counters
        if verdict is self._last_advert:
            for counter in self._last_counts:
                c[counter] += 1
            if self.fsm.repeat(now):
                # The steady state: the master's previous advert again (the receiver handed
                # back the same verdict), and all it did was restart Master_Down_Timer.
                return []
        else:
            self._last_advert = verdict
            self._last_counts = _counts(verdict)
            for counter in self._last_counts:
                c[counter] += 1
        out: list[Output] = []
        src = str(verdict.src)
        if verdict.address_mismatch and self._first("addresses", src):
            theirs = " ".join(str(a) for a in verdict.advert.addresses)
            out += self._warn(
                f"address list from {src} differs from ours: {theirs} "
                "(accepted, RFC 5798 §7.1 MAY)",
            )
        if verdict.interval_mismatch and self._first("interval", src):
            out += self._warn(
                f"advertisement interval {verdict.advert.interval_cs / 100:g} s from "
                f"{src} differs from ours ({self.cfg.advert_interval_cs / 100:g} s); "
                "backups follow the master's (RFC 5798 §6.4.2)",
            )
        adv = verdict.advert
        if (
            self.state is fsm.State.MASTER
            and adv.priority
            and not self.fsm.outranked_by(adv.priority, verdict.src)
        ):
            c[Counter.LOWER_PRIORITY_MASTER] += 1
            unsaid = self._other_masters.hit(now)
            if unsaid is not None:
                out.append(OtherMaster(verdict.src, adv.priority, self.fsm.priority, unsaid))
        return out + self._run(fsm.AdvertReceived(adv, verdict.src), now)

    def discarded(self, reason: str) -> None:
        self.counters[DISCARD_COUNTER[reason]] += 1

    def sent(self, priority: int, ok: bool) -> None:
        """The runtime's report of one advertisement sent (or refused by the kernel)."""
        if not ok:
            self.counters[Counter.SEND_ERRORS] += 1
            return
        self.counters[Counter.ADVERTS_SENT] += 1
        if priority == 0:
            self.counters[Counter.PRIORITY0_SENT] += 1

    def announced(self, frames: int) -> None:
        """The runtime's report of gratuitous ARP / unsolicited NA frames sent."""
        self.counters[Counter.ANNOUNCEMENTS_SENT] += frames

    def expected_send_error(self, code: int | None) -> bool:
        """Whether an advert refused with errno `code` is what a down link does (ENETDOWN,
        ENETUNREACH, ENXIO) while our link is known down: the priority-0 advert of the FAULT
        that follows cannot leave, and the tracking and state lines already say why. Anything
        else, or while the link is thought up, is worth a warning."""
        return self.link_down and code in LINK_DOWN_ERRORS

    def timeout(self, now: float) -> list[Output]:
        return self._run(fsm.Timeout(), now)

    def next_deadline(self) -> float | None:
        return self.fsm.next_deadline()

    def shutdown(self, now: float) -> list[Output]:
        return self._run(fsm.Shutdown(), now)

    def holds(self, address: IPAddress) -> bool:
        """Whether `address` is one this router added and keeps while master."""
        return self.state is fsm.State.MASTER and any(v.ip == address for v in self.managed())

    def vips_lost(self, address: IPAddress, now: float) -> list[Output]:
        """A virtual address disappeared from the interface: a master puts it back."""
        if not self.holds(address):
            return []
        return [
            Warn(f"virtual address {address} removed while master; putting it back"),
            *self._run(fsm.VipsLost(), now),
        ]

    def vip_appeared(self, address: IPAddress, now: float) -> list[Output]:
        """A virtual address was added to the interface: only a master holds it (RFC 5798
        §6.4.2: a backup MUST NOT own the virtual addresses), so a router that is not master
        removes it, whoever added it. A master's own add comes back as this event too: kept."""
        if self.state is fsm.State.MASTER:
            return []
        vips = tuple(v for v in self.managed() if v.ip == address)
        if not vips:
            return []
        return [
            Warn(
                f"virtual address {address} added while {self.state.name}; removing it "
                "(only the master holds it: use vrrpctl takeover to move it here)"
            ),
            DelAddresses(vips, release=False),
        ]

    def link_up_again(self, now: float) -> list[Output]:
        """Our interface is back from a flap: Linux flushed IPv6 addresses when it went
        down, and neighbours may have moved on. A master puts them back and announces."""
        return self._run(fsm.VipsLost(), now)  # nothing unless Master

    def link_lost(self, why: str, now: float) -> list[Output]:
        """Our interface is gone, or is being reopened after it was re-created with a new
        index (`vrrpd.linkfollow`): FAULT, saying `why`, until `link_ready`."""
        if why == self.link_fault:
            return []
        self.link_fault = why
        return self._tracking(why, now)

    def link_ready(self, primary: IPAddress, now: float) -> list[Output]:
        """The runtime reopened our interface and its start-up checks passed; `primary` is
        its primary address now. Frames (its MAC may be new) and receive checks are rebuilt
        first, then FAULT may clear."""
        self.primary = primary
        self.fsm.primary = self.src
        self.link_fault = ""
        rebuild = Rebuild(frozenset({Part.FRAMES, Part.VIEW}))
        return [rebuild, *self._tracking(f"interface {self.cfg.interface} reopened", now)]

    # -- tracking --------------------------------------------------------------------------

    def link(self, ifname: str, up: bool, now: float) -> list[Output]:
        if ifname == self.cfg.interface:
            self.link_down = not up
        if ifname not in self.tracked_links or not self.tracker.interface(ifname, up):
            return []
        return self._tracking(f"interface {ifname} {'up' if up else 'down'}", now)

    def gate_result(self, ok: bool, detail: str, now: float) -> list[Output]:
        """One run of the takeover gate: exit 0 = ready to become master."""
        first, self.gate_detail = not self.gate_detail, detail
        if ok == self.fsm.gate_open and not first:
            return []
        return [GateChanged(ok, detail), *self._run(fsm.Gate(ok), now)]

    def check_result(self, name: str, ok: bool, detail: str, now: float) -> list[Output]:
        """One run of a script the runner runs for us: the takeover gate (`gate_check`) or a
        tracked script."""
        if name == GATE_CHECK:
            return self.gate_result(ok, detail, now)
        return self.script_result(name, ok, detail, now)

    def script_result(self, name: str, ok: bool, detail: str, now: float) -> list[Output]:
        if not self.tracker.script_result(name, ok):
            return []
        return self._tracking(f"script {name} {'ok' if ok else 'failing'} ({detail})", now)

    def file_value(self, name: str, value: int | None, now: float) -> list[Output]:
        if not self.tracker.file_value(name, value):
            return []
        return self._tracking(f"file {name} = {value}", now)

    def _tracking(self, what: str, now: float) -> list[Output]:
        return [TrackingChanged(what, self.explain()), *self.apply(now)]

    def set_group_fault(self, reason: str, now: float) -> list[Output]:
        self.group_fault = reason
        return self.apply(now)

    def apply(self, now: float) -> list[Output]:
        """Bring the state machine in line with tracking, overrides and the sync group."""
        if not self.started:
            return []
        out: list[Output] = []
        fault = self.own_fault or bool(self.group_fault)
        if fault and self.state is not fsm.State.FAULT:
            out += self._run(fsm.FaultOn(), now)
        wanted = self.desired_priority()
        if wanted != self.fsm.priority:
            old = self.fsm.priority
            out += self._run(fsm.SetPriority(wanted), now)
            out.append(PriorityChanged(old, wanted, self.explain()))
        if not fault and self.state is fsm.State.FAULT:
            out += self._run(fsm.FaultOff(), now)
        return out

    # -- operator overrides ----------------------------------------------------------------

    def takeover(self, now: float) -> list[Output]:
        """Become master now: raise the advertised priority to 254, add and announce the
        addresses, then advertise (the old master sees a higher priority, §6.4.3)."""
        if self.state is not fsm.State.BACKUP:
            raise Refused(f"{self.name}: takeover needs state BACKUP, not {self.state.value}")
        if self.maintenance:
            raise Refused(f"{self.name}: in maintenance; turn it off first")
        if self.fsm.gate_blocks:
            raise Refused(f"{self.name}: the takeover gate {self.gate_text()}; not taking over")
        master = self.fsm.master_priority
        if master is not None and master >= TAKEOVER_PRIORITY:
            raise Refused(
                f"{self.name}: the master advertises priority {master}, not below "
                f"{TAKEOVER_PRIORITY}"
            )
        held, self.takeover_held = self.takeover_held, True
        out = self.apply(now)
        try:
            return out + self._run(fsm.Takeover(), now)
        except ValueError as e:
            self.takeover_held = held
            self.apply(now)  # a backup's priority is not on the wire: nothing to carry out
            raise Refused(f"{self.name}: {e}") from None

    def release(self, now: float) -> list[Output]:
        """Back to the configured (tracked) priority; a better router may preempt."""
        self.takeover_held = False
        return self.apply(now)

    def set_maintenance(self, on: bool, now: float) -> list[Output]:
        """On: advertise priority 1, release with priority 0, stay backup until off."""
        self.maintenance = on
        if on:
            self.takeover_held = False
        out = self.apply(now)
        if on:
            out += self._run(fsm.StepDown(), now)
        return out

    def step_down(self, now: float) -> list[Output]:
        """Leave Master (a sync group member stepped down)."""
        return self._run(fsm.StepDown(), now)

    # -- reload ----------------------------------------------------------------------------

    def update(
        self, cfg: VirtualRouterConfig, host_owned: Iterable[IPAddress], now: float
    ) -> list[Output]:
        """Take a new configuration of the same virtual router (same interface, VRID,
        family, version, virtual MAC: see `vrrpd.reload`) without leaving the state."""
        old = self.cfg
        changed = changed_fields(old, cfg)
        if not changed:
            return []
        master = self.state is fsm.State.MASTER
        old_managed = self.managed()
        before: list[Output] = []  # while the old frames are still in place
        after: list[Output] = []
        parts: set[Part] = set()
        if changed & _FRAME_KEYS:
            parts.add(Part.FRAMES)
        if changed & _VIEW_KEYS:
            parts.add(Part.VIEW)
        if "accept_mode" in changed or ("virtual_ips" in changed and not cfg.accept_mode):
            parts.add(Part.FILTER)
        ra_was, ra_now = old.router_advertisements, cfg.router_advertisements
        if master and ra_was and (not ra_now or "virtual_ips" in changed):
            before.append(RouterAds(False))  # lifetime 0 for what hosts know of us

        self.cfg = cfg
        self.host_owned = frozenset(host_owned)
        self.fsm.params = fsm_params(cfg)
        self.fsm.primary = self.src
        if "takeover_gate" in changed:  # another check: no verdict yet
            self.fsm.gate_open, self.gate_detail = False, ""
        if changed & _GATE_KEYS:
            parts.add(Part.TRACKING)
        if changed & _TRACK_KEYS:
            tracker = Tracker(cfg.priority, track_specs(cfg))
            tracker.carry_over(self.tracker)
            self.tracker = tracker
            self.tracked_links = _links(cfg)
            parts.add(Part.TRACKING)

        if master and "virtual_ips" in changed:
            new_managed = self.managed()
            added = tuple(v for v in new_managed if v not in old_managed)
            dropped = tuple(v for v in old_managed if v not in new_managed)
            announced = tuple(v for v in cfg.virtual_ips if v not in old.virtual_ips)
            if added:
                after.append(AddAddresses(added, claim=False))
            if dropped:
                after.append(DelAddresses(dropped, release=False))
            if announced:
                after.append(Announce(announced))
        if master and "garp_refresh" in changed:
            after.append(Refresh(cfg.garp_refresh))
        if master and ra_now and (not ra_was or "virtual_ips" in changed):
            after.append(RouterAds(True))
        return [
            *before,
            *([Rebuild(frozenset(parts))] if parts else []),
            *after,
            Updated(tuple(sorted(changed))),
            *self.apply(now),
        ]

    # -- reporting -------------------------------------------------------------------------

    def status(
        self, now: float, channel_counters: Mapping[Counter, int], vmac: str | None, wall: float
    ) -> RouterStatus:
        """The record `vrrpctl status` shows; `now` is loop time, `wall` the clock's time at
        `now` (seconds since the epoch), for the leaves that are dates."""
        f, cfg = self.fsm, self.cfg

        offset = round(wall - now, 3)  # the clock's anchor: steady unless the clock is set

        def date(t: float | None) -> str | None:
            if t is None:
                return None
            text = self._dates.get((t, offset))
            if text is None:  # a new transition, or the clock was set: at most two kept
                if len(self._dates) > 1:
                    self._dates.clear()
                text = self._dates[(t, offset)] = iso_utc(offset + t)
            return text

        changed = date(self.state_since) if self.transitions else None
        interval_cs = f.master_adver_interval_cs
        last = self._last_advert
        counters = {str(k): v for k, v in self.counters.items()}
        for key in CHANNEL_COUNTERS:
            # The channel's discards (no configured VRID in the packet) add to the router's.
            counters[str(key)] += channel_counters.get(key, 0)
        return RouterStatus(
            name=cfg.name,
            interface=cfg.interface,
            vrid=cfg.vrid,
            family=cfg.family,
            version=cfg.version,
            state=f.state.value,
            priority=cfg.priority,
            effective_priority=f.priority,
            transitions=self.transitions,
            maintenance=self.maintenance,
            takeover=self.takeover_held,
            fault_reasons=tuple(self.tracker.fault_reasons())
            + ((self.link_fault,) if self.link_fault else ())
            + ((f"sync group {self.group}: {self.group_fault}",) if self.group_fault else ()),
            advert_interval=cfg.advert_interval_cs / 100,
            master_adver_interval=f.master_adver_interval_cs / 100,
            master=None if f.master_address is None else str(f.master_address),
            primary=str(self.src),
            time_in_state=round(max(0.0, now - self.state_since), 3),
            virtual_ips=tuple(str(v) for v in cfg.virtual_ips),
            checksum=cfg.checksum.value,
            vmac=vmac,
            unicast_peers=tuple(str(p) for p in cfg.unicast_peers),
            accept_mode=cfg.accept_mode,
            is_owner=f.params.owner,
            master_down_interval=master_down_seconds(f.priority, interval_cs, cfg.version),
            skew_time=skew_seconds(f.priority, interval_cs, cfg.version),
            last_adv_source=None if last is None else str(last.src),
            new_master_reason=new_master_reason(self.master_reason),
            up_since=date(self.up_since),
            last_transition=changed,
            master_since=changed if f.state is fsm.State.MASTER else None,
            counters=counters,
            tracked=self._tracked(),
        )

    def _tracked(self) -> tuple[TrackedStatus, ...]:
        """The tracked objects, the router's own interface last (see `track_specs`); made
        again only after the tracker took an input (a status of 200 routers is on the loop)."""
        tracker = self.tracker
        key = (tracker, tracker.changes)
        if self._tracked_cache[0] != key:
            self._tracked_cache = (key, self._tracked_now())
        return self._tracked_cache[1]

    def _tracked_now(self) -> tuple[TrackedStatus, ...]:
        tracker = self.tracker
        weights = {s.name: s.weight for s in track_specs(self.cfg)}
        unknown = tracker.awaiting()
        return tuple(
            TrackedStatus(
                t.name,
                t.kind.value,
                "unknown" if t.name in unknown else "failing" if t.failing else "ok",
                weights.get(t.name),
                t.value,
            )
            for t in tracker.terms()
        )

    # -- the state machine's actions -> outputs --------------------------------------------

    def _run(self, event: fsm.Event, now: float) -> list[Output]:
        out: list[Output] = []
        for action in self.fsm.handle(event, now):
            match action:
                case fsm.SendAdvert():
                    out.append(action)
                case fsm.AddVips():
                    out.append(AddAddresses(self.managed()))
                case fsm.DelVips():
                    out += [StopAnnouncing(), DelAddresses(self.managed())]
                case fsm.Announce():
                    out.append(Announce(self.cfg.virtual_ips))
                case fsm.GateHeld(grace):
                    out.append(GateHolding(grace, self.gate_text()))
                case fsm.StateChanged(old, new, reason):
                    out += self._changed(old, new, reason, now)
                    if new is fsm.State.MASTER and self.cfg.before_master:
                        # Ahead of everything the new master does: its addresses,
                        # announcements and first advertisement wait for the hook.
                        t = next(o for o in out if isinstance(o, Transition))
                        out.insert(0, BeforeMaster(t))
        return out

    def _changed(
        self, old: fsm.State, new: fsm.State, reason: fsm.Reason, now: float
    ) -> list[Output]:
        # Counted when it happens, so a status read never sees a state its counters, log and
        # event stream do not show yet.
        self.transitions += 1
        self.state_since = now
        if old is fsm.State.INITIALIZE and self.up_since is None:
            self.up_since = now
        if new is fsm.State.MASTER:
            self.counters[Counter.BECAME_MASTER] += 1
            self.master_reason = reason
        elif old is fsm.State.MASTER:
            self.counters[Counter.LEFT_MASTER] += 1
        seen = self.fsm.master_address
        master = "" if seen is None else str(seen)
        out: list[Output] = [Transition(old, new, reason, self.fsm.priority, master)]
        ra = self.cfg.router_advertisements
        if new is fsm.State.MASTER:
            if self.cfg.garp_delay > 0:
                out.append(AnnounceLater(self.cfg.garp_delay))
            if self.cfg.garp_refresh > 0:
                out.append(Refresh(self.cfg.garp_refresh))
            if ra:
                out.append(RouterAds(True))
            return out
        out.append(StopAnnouncing())
        if old is fsm.State.MASTER and ra:
            out.append(RouterAds(False))
        winner = self.fsm.master_address
        if (
            reason is fsm.Reason.HIGHER_PRIORITY
            and old is fsm.State.MASTER
            and not self.cfg.use_vmac  # with the virtual MAC, hosts need no new mapping
            and winner is not None
        ):
            # After a split brain hosts may still map the addresses to us, and the winner
            # may never hear us (we heard it first and went quiet): hand over.
            out.append(HandOver(winner, self.cfg.virtual_ips))
        return out

    def _first(self, kind: str, who: str) -> bool:
        """Whether to warn about `kind` from `who`: once each, and for at most WARNED_MAX
        pairs (then once more to say the rest goes unsaid): a sender that forges ever new
        sources neither fills the memory nor the log."""
        if (kind, who) in self._warned or len(self._warned) > WARNED_MAX:
            return False
        self._warned.add((kind, who))
        return True

    def _warn(self, message: str) -> list[Output]:
        if len(self._warned) > WARNED_MAX:
            return [Warn(f"{message}; more such warnings are not logged (see the counters)")]
        return [Warn(message)]
