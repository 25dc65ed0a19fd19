"""The VRRP state machine of one virtual router (RFC 5798 §6.4 with RFC 9568), pure.

`VirtualRouter.handle(event, now)` takes one input (start, a validated advertisement, the
clock reaching `next_deadline()`, a shutdown) and returns the actions the adapter must carry
out, in order. It never reads a clock, sleeps, opens a socket or logs: `now` is given, in
seconds on any monotonic scale, and deadlines are returned on the same scale.

Timer arithmetic is exact (`vrrpd.timing`); a deadline is `now + float(Fraction)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction

from .packet import Advertisement
from .timing import (
    CS,
    interval_seconds,
    master_down_interval,
    master_down_seconds,
    skew_seconds,
    skew_time,
)
from .types import OWNER_PRIORITY, IPAddress


class State(enum.Enum):
    INITIALIZE = "INITIALIZE"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"  # not in the RFC: a tracked object that must hold is failing


class Reason(enum.Enum):
    """Why a transition happened (stable words for logs, events and notify)."""

    STARTUP = "startup"
    OWNER = "owner"  # priority 255 takes over at start (§6.4.1)
    MASTER_DOWN = "master-down"  # Master_Down_Timer fired after the master went silent
    PRIORITY_0 = "priority-0"  # Master_Down_Timer fired after the master said priority 0
    PREEMPTED = "preempted"  # we preempted a lower-priority master
    HIGHER_PRIORITY = "higher-priority-seen"
    SHUTDOWN = "shutdown"
    FAULT = "fault"  # a tracked object without weight (or the interface) failed
    FAULT_CLEARED = "fault-cleared"  # ... and recovered: back to Backup (owner: Master)
    STEP_DOWN = "step-down"  # released on request (maintenance, a sync group member left)
    TAKEOVER = "takeover"  # became Master on request (vrrpctl takeover)
    GATE_GRACE = "gate-grace-over"  # master down, our gate failing, nobody else took over
    RELOAD = "reload"  # the configuration changed in a way that needs a restart


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Startup:
    """The router is enabled (§6.4.1, Initialize state's Startup event)."""


@dataclass(frozen=True, slots=True)
class AdvertReceived:
    """A validated advertisement for this VRID from `src` (the sender's primary address)."""

    advert: Advertisement
    src: IPAddress


@dataclass(frozen=True, slots=True)
class Timeout:
    """The clock reached `next_deadline()`; expired timers fire, others are left alone."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The router is disabled (§6.4.2/§6.4.3 Shutdown event)."""


@dataclass(frozen=True, slots=True)
class VipsLost:
    """The adapter saw a virtual address disappear from the interface."""


@dataclass(frozen=True, slots=True)
class FaultOn:
    """A tracked object that must hold failed (FAULT: no adverts, no addresses)."""


@dataclass(frozen=True, slots=True)
class FaultOff:
    """Every such object holds again."""


@dataclass(frozen=True, slots=True)
class SetPriority:
    """The effective priority changed (tracking weights, maintenance, takeover)."""

    priority: int


@dataclass(frozen=True, slots=True)
class StepDown:
    """Leave Master now: priority 0 advert so a backup takes over in Skew_Time."""


@dataclass(frozen=True, slots=True)
class Takeover:
    """Become Master now (the adapter raised the priority above the current master's)."""


@dataclass(frozen=True, slots=True)
class Gate:
    """The takeover gate's verdict changed: `open` (it passes) or not (failing, unknown)."""

    open: bool


Event = (
    Startup
    | AdvertReceived
    | Timeout
    | Shutdown
    | VipsLost
    | FaultOn
    | FaultOff
    | SetPriority
    | StepDown
    | Takeover
    | Gate
)


# --- outputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendAdvert:
    priority: int


@dataclass(frozen=True, slots=True)
class AddVips:
    pass


@dataclass(frozen=True, slots=True)
class DelVips:
    pass


@dataclass(frozen=True, slots=True)
class Announce:
    """Gratuitous ARP / unsolicited NA for every virtual address."""


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    reason: Reason


@dataclass(frozen=True, slots=True)
class GateHeld:
    """Master_Down_Timer fired but the takeover gate fails: Backup for up to `grace` more
    seconds, for a router whose gate passes (or the master) to speak."""

    grace: Fraction


Action = SendAdvert | AddVips | DelVips | Announce | StateChanged | GateHeld


@dataclass(frozen=True, slots=True)
class Params:
    """What the state machine needs of a virtual router's configuration."""

    vrid: int
    priority: int  # 1..255
    interval_cs: int  # Advertisement_Interval, centiseconds
    preempt: bool = True
    preempt_delay: Fraction = Fraction(0)  # seconds
    version: int = 3
    gated: bool = False  # a takeover gate must pass before becoming Master (not the owner)
    gate_grace: Fraction = Fraction(5)  # seconds past Master_Down_Interval it may hold us

    @property
    def owner(self) -> bool:
        return self.priority == OWNER_PRIORITY


@dataclass
class VirtualRouter:
    """One virtual router's protocol state. Drive it with `handle`; schedule `next_deadline`."""

    params: Params
    primary: IPAddress  # this router's primary address on the interface (tie-break, §6.4.3)
    state: State = State.INITIALIZE
    master_adver_interval_cs: int = 0  # learned from the master (§6.1); own interval until then
    master_address: IPAddress | None = None  # the current master as last seen (None: unknown)
    master_priority: int | None = None  # its priority as last seen
    priority: int = 0  # effective priority; the configured one until tracking changes it
    adver_deadline: float | None = None  # Adver_Timer (Master)
    master_down_deadline: float | None = None  # Master_Down_Timer (Backup)
    preempt_deadline: float | None = None  # end of preempt_delay (Backup, lower master seen)
    preempt_delay_over: bool = False  # preempt_delay ran out while a lower master was followed
    gate_open: bool = False  # the takeover gate's last verdict (unknown = not open)
    gate_hold_deadline: float | None = None  # Master_Down_Timer fired, gate failing: until
    _down_reason: Reason = field(default=Reason.MASTER_DOWN, repr=False)
    # The last event was an advert accepted from the master with nothing else to do: the
    # same advert again only restarts Master_Down_Timer (`repeat`).
    _repeatable: bool = field(default=False, repr=False)
    _repeat_after: float = field(default=0.0, repr=False)  # Master_Down_Interval then
    # When a Master last answered a lower-priority or priority-0 advert (at most once per
    # Advertisement_Interval: one noisy sender must not make it an amplifier).
    _answered_at: float | None = field(default=None, repr=False)
    _announced_at: float | None = field(default=None, repr=False)  # the last such Announce
    # Announce once more with the next advertisement: the other master's own gratuitous ARP
    # may reach hosts after ours (it adds its addresses after its first advert).
    _announce_again: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.master_adver_interval_cs:
            self.master_adver_interval_cs = self.params.interval_cs
        if not self.priority:
            self.priority = self.params.priority

    # -- derived timers (§6.1) -------------------------------------------------------------

    @property
    def skew_time(self) -> Fraction:
        return skew_time(self.priority, self.master_adver_interval_cs, self.params.version)

    @property
    def master_down_interval(self) -> Fraction:
        return master_down_interval(
            self.priority, self.master_adver_interval_cs, self.params.version
        )

    @property
    def advertisement_interval(self) -> Fraction:
        return self.params.interval_cs * CS

    def next_deadline(self) -> float | None:
        """The earliest armed timer, or None when nothing is scheduled."""
        first = self.adver_deadline
        for d in (self.master_down_deadline, self.preempt_deadline):
            if d is not None and (first is None or d < first):
                first = d
        return first

    # -- input -----------------------------------------------------------------------------

    def _down_seconds(self) -> float:
        return master_down_seconds(
            self.priority, self.master_adver_interval_cs, self.params.version
        )

    def repeat(self, now: float) -> bool:
        """The advert accepted last, received again from the same master (the caller
        compared the bytes): if that is all it did, restart Master_Down_Timer from `now` and
        return True; False means `handle` must see it as an `AdvertReceived`."""
        if not self._repeatable:
            return False
        self.master_down_deadline = now + self._repeat_after
        return True

    def handle(self, event: Event, now: float) -> list[Action]:
        self._repeatable = False
        match event:
            case Startup():
                return self._startup(now)
            case AdvertReceived(advert, src):
                if self.state is State.BACKUP:
                    return self._backup_rx(advert, src, now)
                if self.state is State.MASTER:
                    return self._master_rx(advert, src, now)
                return []  # Initialize: not participating
            case Timeout():
                return self._timeout(now)
            case Shutdown():
                return self._shutdown()
            case VipsLost():
                # Not in the RFC: an address removed by hand while Master is put back.
                return [AddVips(), Announce()] if self.state is State.MASTER else []
            case FaultOn():
                return self._fault_on()
            case FaultOff():
                return self._fault_off(now)
            case SetPriority(priority):
                return self._set_priority(priority, now)
            case StepDown():
                return self._step_down(now)
            case Takeover():
                return self._takeover(now)
            case Gate(open_):
                return self._gate(open_, now)
        raise AssertionError(f"unknown event {event!r}")  # pragma: no cover

    # -- §6.4.1 Initialize -----------------------------------------------------------------

    def _startup(self, now: float) -> list[Action]:
        if self.state is not State.INITIALIZE:
            return []
        if self.params.owner:
            # §6.4.1: the owner sends an advertisement, announces, and becomes Master.
            return self._become_master(now, Reason.OWNER)
        # §6.4.1: Master_Adver_Interval = Advertisement_Interval; Master_Down_Timer = MDI.
        self.master_adver_interval_cs = self.params.interval_cs
        self.master_down_deadline = now + self._down_seconds()
        self.master_address = None
        return [self._transition(State.BACKUP, Reason.STARTUP)]

    # -- §6.4.2 Backup ---------------------------------------------------------------------

    def _backup_rx(self, adv: Advertisement, src: IPAddress, now: float) -> list[Action]:
        if adv.priority == 0:
            # §6.4.2: the master is stopping: Master_Down_Timer = Skew_Time.
            self.master_down_deadline = now + skew_seconds(
                self.priority, self.master_adver_interval_cs, self.params.version
            )
            self._down_reason = Reason.PRIORITY_0
            self.master_address = src
            self.master_priority = 0
            self.gate_hold_deadline = None
            return []
        if not self.params.preempt or adv.priority >= self.priority or self.gate_blocks:
            # (A failing takeover gate: follow the lower master rather than preempt it.)
            # §6.4.2: accept: learn the master's interval, recompute, restart the timer.
            self._follow(adv, src, now)
            self.preempt_deadline = None
            self.preempt_delay_over = False
            self._repeatable = True
            self._repeat_after = self._down_seconds()
            return []
        # A lower-priority master and preemption on.
        if self.params.preempt_delay > 0 and not self.preempt_delay_over:
            # Not in the RFC: preempt_delay lets a returning router settle before it takes
            # over; until it runs out the lower master is followed like any other.
            if self.preempt_deadline is None:
                self.preempt_deadline = now + float(self.params.preempt_delay)
            if now < self.preempt_deadline:
                self._follow(adv, src, now)
                return []
            self.preempt_deadline = None
            self.preempt_delay_over = True
        # §6.4.2: discard; the Master_Down_Timer will fire and we preempt.
        self.master_address = src
        self.master_priority = adv.priority
        self._down_reason = Reason.PREEMPTED
        return []

    def _follow(self, adv: Advertisement, src: IPAddress, now: float) -> None:
        self.gate_hold_deadline = None
        self.master_adver_interval_cs = adv.interval_cs
        self.master_down_deadline = now + self._down_seconds()
        self.master_address = src
        self.master_priority = adv.priority
        self._down_reason = Reason.MASTER_DOWN

    # -- §6.4.3 Master ---------------------------------------------------------------------

    def _master_rx(self, adv: Advertisement, src: IPAddress, now: float) -> list[Action]:
        if adv.priority == 0:
            # §6.4.3: another router is leaving: advertise at once, restart Adver_Timer.
            return self._advertise(now)
        if self.outranked_by(adv.priority, src):
            # §6.4.3: a better master exists: learn its interval and go Backup.
            self.adver_deadline = None
            self._follow(adv, src, now)
            return [DelVips(), self._transition(State.BACKUP, Reason.HIGHER_PRIORITY)]
        # §6.4.3 discards the advertisement; RFC 9568 has the Master advertise at once so a
        # lower-priority router that believes it is Master steps down without waiting. Two
        # masters means a split brain just healed: hosts may have followed the other one's
        # gratuitous ARP, so announce again too (keepalived #893, #2459): at most once per
        # REANNOUNCE_AFTER, as a heal needs one announcement, not one per advert.
        if not self._may_answer(now):
            return []
        last = self._announced_at
        if last is not None and last <= now < last + max(
            REANNOUNCE_AFTER, interval_seconds(self.params.interval_cs)
        ):
            return self._advertise(now)
        self._announced_at = now
        self._announce_again = True
        return [*self._advertise(now), Announce()]

    def outranked_by(self, priority: int, src: IPAddress) -> bool:
        """Whether a master advertising `priority` from `src` wins over us (§6.4.3: higher
        priority, or the same and a greater primary address)."""
        local = self.priority
        return priority > local or (priority == local and _addr_gt(src, self.primary))

    def _may_answer(self, now: float) -> bool:
        """Not in the RFC: answer other routers' adverts at most once per
        Advertisement_Interval, so a flood of them cannot make us a flood."""
        last = self._answered_at
        if last is not None and last <= now < last + interval_seconds(self.params.interval_cs):
            return False
        self._answered_at = now
        return True

    def _advertise(self, now: float) -> list[Action]:
        self.adver_deadline = now + interval_seconds(self.params.interval_cs)
        return [SendAdvert(self.priority)]

    # -- timers ----------------------------------------------------------------------------

    def _timeout(self, now: float) -> list[Action]:
        actions: list[Action] = []
        if self.state is State.BACKUP:
            if self.preempt_deadline is not None and now >= self.preempt_deadline:
                # preempt_delay is over: stop following the lower-priority master; its next
                # advert is discarded and Master_Down_Timer takes over from here.
                self.preempt_deadline = None
                self.preempt_delay_over = True
            if self.master_down_deadline is not None and now >= self.master_down_deadline:
                # §6.4.2 Master_Down_Timer fires.
                actions += self._master_down(now)
        elif (
            self.state is State.MASTER
            and self.adver_deadline is not None
            and now >= self.adver_deadline
        ):
            # §6.4.3 Adver_Timer fires.
            actions += self._advertise(now)
            if self._announce_again:
                # A split brain healed one interval ago; the loser's GARP may have arrived
                # after our answer to it (a lost hand-over leaves hosts there for seconds).
                self._announce_again = False
                actions.append(Announce())
        return actions

    @property
    def gate_blocks(self) -> bool:
        """Whether the takeover gate keeps us from becoming Master now (never the owner)."""
        return self.params.gated and not self.gate_open and not self.params.owner

    def _master_down(self, now: float) -> list[Action]:
        """Master_Down_Timer fired. Not in the RFC: with a failing takeover gate, stay Backup
        for up to gate_grace more, so a router whose gate passes takes over instead (its
        advertisement ends the wait); after that, or if the gate passes first, take over
        anyway: a gate that fails everywhere must not leave the addresses with nobody."""
        if not self.gate_blocks:
            return self._become_master(now, self._down_reason)
        if self.gate_hold_deadline is None:
            grace = self.params.gate_grace
            self.gate_hold_deadline = self.master_down_deadline = now + float(grace)
            return [GateHeld(grace)]
        return self._become_master(now, Reason.GATE_GRACE)  # the grace is over

    def _gate(self, open_: bool, now: float) -> list[Action]:
        self.gate_open = open_
        if open_ and self.state is State.BACKUP and self.gate_hold_deadline is not None:
            return self._become_master(now, self._down_reason)  # it was only waiting for this
        return []

    def _become_master(self, now: float, reason: Reason) -> list[Action]:
        # §6.4.1/§6.4.2: send an advertisement, announce the addresses, set Adver_Timer.
        self.master_down_deadline = None
        self.gate_hold_deadline = None
        self._announce_again = False
        self.preempt_deadline = None
        self.preempt_delay_over = False
        self.master_address = self.primary
        self.master_priority = self.priority
        self.master_adver_interval_cs = self.params.interval_cs
        if reason in DISPLACING:
            # Not the RFC's order (§6.4.2 lists the advertisement first): a live master holds
            # the addresses and drops them the moment it hears us, so they are ours and
            # announced first (make before break): no instant without a holder.
            return [
                AddVips(),
                Announce(),
                *self._advertise(now),
                self._transition(State.MASTER, reason),
            ]
        # The master went silent or said priority 0: nobody holds the addresses, and the
        # advertisement is what stops the other backups from claiming them too, so it goes
        # first and adding the addresses (netlink) must not delay it. Announce after the
        # addresses are in place.
        return [
            *self._advertise(now),
            AddVips(),
            Announce(),
            self._transition(State.MASTER, reason),
        ]

    # -- §6.4.2/§6.4.3 Shutdown ------------------------------------------------------------

    def _shutdown(self) -> list[Action]:
        actions: list[Action] = []
        if self.state is State.MASTER:
            # §6.4.3: cancel Adver_Timer, send an advertisement with priority 0.
            actions += [SendAdvert(0), DelVips()]
        if self.state is not State.INITIALIZE:
            actions.append(self._transition(State.INITIALIZE, Reason.SHUTDOWN))
        self.adver_deadline = self.master_down_deadline = self.preempt_deadline = None
        self.preempt_delay_over = False
        return actions

    # -- not in the RFC: FAULT, priority changes, step-down, takeover ------------------------

    def _release(self) -> list[Action]:
        """Leave Master the graceful way (§6.4.3 Shutdown): priority 0, then drop the VIPs."""
        self.adver_deadline = None
        return [SendAdvert(0), DelVips()]

    def _fault_on(self) -> list[Action]:
        if self.state is State.FAULT:
            return []
        actions = self._release() if self.state is State.MASTER else []
        self.adver_deadline = self.master_down_deadline = self.preempt_deadline = None
        self.master_address = self.master_priority = None
        actions.append(self._transition(State.FAULT, Reason.FAULT))
        return actions

    def _fault_off(self, now: float) -> list[Action]:
        if self.state is not State.FAULT:
            return []
        if self.params.owner:
            return self._become_master(now, Reason.FAULT_CLEARED)
        # As at start-up (§6.4.1): wait a whole Master_Down_Interval for a master.
        self.master_adver_interval_cs = self.params.interval_cs
        self.master_down_deadline = now + self._down_seconds()
        self._down_reason = Reason.MASTER_DOWN
        return [self._transition(State.BACKUP, Reason.FAULT_CLEARED)]

    def _set_priority(self, priority: int, now: float) -> list[Action]:
        if not 1 <= priority <= OWNER_PRIORITY:
            raise ValueError(f"priority must be 1..255, got {priority}")
        if priority == self.priority:
            return []
        self.priority = priority
        if self.state is State.MASTER:
            # Tell the backups now: a higher one may preempt without waiting an interval.
            self.master_priority = priority
            return self._advertise(now)
        return []

    def _step_down(self, now: float) -> list[Action]:
        if self.state is not State.MASTER:
            return []
        actions = self._release()
        self.master_adver_interval_cs = self.params.interval_cs
        self.master_down_deadline = now + self._down_seconds()
        self._down_reason = Reason.MASTER_DOWN
        self.master_address = self.master_priority = None
        actions.append(self._transition(State.BACKUP, Reason.STEP_DOWN))
        return actions

    def _takeover(self, now: float) -> list[Action]:
        if self.state is not State.BACKUP:
            raise ValueError(f"takeover needs state BACKUP, not {self.state.value}")
        if self.gate_blocks:
            raise ValueError("the takeover gate fails: fix what it checks, or remove it")
        if self.master_priority is not None and self.master_priority >= self.priority:
            raise ValueError(
                f"the master advertises priority {self.master_priority}, not below ours "
                f"({self.priority}): raise ours first"
            )
        # Addresses and announcements first, so hosts move to us while the old master still
        # answers; then the advertisement that makes it step down (§6.4.3: higher priority).
        return self._become_master(now, Reason.TAKEOVER)

    def _transition(self, new: State, reason: Reason) -> StateChanged:
        old, self.state = self.state, new
        return StateChanged(old, new, reason)


REANNOUNCE_AFTER = 1.0  # seconds: a master re-announces for other masters' adverts this seldom

# Ways to become Master that displace a master which may still hold the addresses: a lower
# priority one (preemption, vrrpctl takeover), or any one when the address owner starts.
# These add and announce the addresses before the first advertisement (`_become_master`).
DISPLACING = frozenset({Reason.PREEMPTED, Reason.TAKEOVER, Reason.OWNER, Reason.FAULT_CLEARED})


def _addr_gt(a: IPAddress, b: IPAddress) -> bool:
    """Primary addresses compare as unsigned integers (§6.4.3); families never mix."""
    return int(a) > int(b)
