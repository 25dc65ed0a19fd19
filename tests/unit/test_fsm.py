"""The pure state machine (RFC 5798 §6.4 with RFC 9568), driven with an explicit `now`."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Address, IPv6Address

import pytest

from tests.unit.helpers import (
    INIT,
    ME,
    B,
    IPAddress,
    M,
    backup,
    became_master,
    make,
    master,
    received,
)
from vrrpd import timing
from vrrpd.fsm import (
    Action,
    AddVips,
    Announce,
    DelVips,
    Reason,
    SendAdvert,
    Shutdown,
    Startup,
    StateChanged,
    Timeout,
    VipsLost,
    VirtualRouter,
)

LOWER_ADDR = IPv4Address("192.0.2.1")
HIGHER_ADDR = IPv4Address("192.0.2.3")


def rx(
    vr: VirtualRouter,
    priority: int,
    src: IPAddress,
    now: float,
    interval_cs: int = 100,
) -> list[Action]:
    return vr.handle(received(priority, src, interval_cs, vr.params.version), now)


Timeline = list[tuple[float, Action]]


def drive(
    vr: VirtualRouter,
    adverts: list[tuple[float, int, IPAddress]],
    until: float,
) -> Timeline:
    """Feed timed adverts (time, priority, src) and fire timers up to `until`, in time order.

    A timer due at the same time as an advert fires first.
    """
    out: Timeline = []
    pending = sorted(adverts, key=lambda a: a[0])
    while True:
        deadline = vr.next_deadline()
        t_adv = pending[0][0] if pending else None
        if deadline is not None and deadline <= until and (t_adv is None or deadline <= t_adv):
            out += [(deadline, a) for a in vr.handle(Timeout(), deadline)]
            continue
        if t_adv is None or t_adv > until:
            return out
        t, prio, src = pending.pop(0)
        out += [(t, a) for a in rx(vr, prio, src, t)]


def transitions(timeline: Timeline) -> list[tuple[float, StateChanged]]:
    return [(t, a) for t, a in timeline if isinstance(a, StateChanged)]


def every(
    start: float, step: float, end: float, prio: int, src: IPAddress
) -> list[tuple[float, int, IPAddress]]:
    n = int((end - start) / step) + 1
    return [(start + i * step, prio, src) for i in range(n)]


# --- §6.4.1 Initialize --------------------------------------------------------------------


class TestStartup:
    def test_backup_with_exact_master_down_deadline(self) -> None:
        vr = make(priority=100, interval_cs=100)
        now = 1000.25
        assert vr.state is INIT
        assert vr.next_deadline() is None
        assert vr.handle(Startup(), now) == [StateChanged(INIT, B, Reason.STARTUP)]
        assert vr.state is B
        skew = Fraction(256 - 100, 256) * 1  # seconds, interval 1 s
        assert skew == Fraction(609375, 1_000_000)
        mdi = 3 * Fraction(1) + skew
        assert mdi == Fraction(3_609_375, 1_000_000)
        assert vr.skew_time == skew
        assert vr.master_down_interval == mdi
        assert vr.master_down_interval == timing.master_down_interval(100, 100)
        assert vr.master_down_deadline == now + float(mdi)
        assert vr.master_down_deadline == now + 3.609375
        assert vr.next_deadline() == now + 3.609375
        assert vr.adver_deadline is None
        assert vr.master_adver_interval_cs == 100
        assert vr.master_address is None

    @pytest.mark.parametrize(
        ("priority", "interval_cs"), [(1, 1), (150, 10), (254, 4095), (200, 37)]
    )
    def test_deadline_other_timers(self, priority: int, interval_cs: int) -> None:
        vr = make(priority=priority, interval_cs=interval_cs)
        vr.handle(Startup(), 5.0)
        mdi = 3 * interval_cs * Fraction(1, 100) + Fraction((256 - priority) * interval_cs, 25600)
        assert vr.master_down_interval == mdi
        assert vr.master_down_deadline == 5.0 + float(mdi)

    def test_owner_becomes_master_at_once(self) -> None:
        vr = make(priority=255)
        assert vr.params.owner
        actions = vr.handle(Startup(), 7.0)
        # A backup may hold the addresses while the owner was away: they are the owner's
        # before its advertisement makes that backup drop them.
        assert actions == [
            AddVips(),
            Announce(),
            SendAdvert(255),
            StateChanged(INIT, M, Reason.OWNER),
        ]
        assert vr.state is M
        assert vr.adver_deadline == 8.0
        assert vr.next_deadline() == 8.0
        assert vr.master_down_deadline is None
        assert vr.master_address == ME

    def test_startup_twice_does_nothing(self) -> None:
        vr = backup(0.0)
        deadline = vr.master_down_deadline
        assert vr.handle(Startup(), 1.0) == []
        assert vr.master_down_deadline == deadline
        assert vr.state is B

    def test_initialize_ignores_adverts_and_timeouts(self) -> None:
        vr = make()
        assert rx(vr, 200, HIGHER_ADDR, 1.0) == []
        assert vr.handle(Timeout(), 100.0) == []
        assert vr.handle(VipsLost(), 100.0) == []
        assert vr.state is INIT
        assert vr.next_deadline() is None


# --- §6.4.2 Backup ------------------------------------------------------------------------


class TestBackup:
    def test_timeout_before_deadline_does_nothing(self) -> None:
        vr = backup(0.0)
        deadline = vr.master_down_deadline
        assert deadline == 3.609375
        assert vr.handle(Timeout(), deadline - 1e-6) == []
        assert vr.handle(Timeout(), 1.0) == []
        assert vr.state is B
        assert vr.master_down_deadline == deadline

    def test_master_down_fires_at_deadline(self) -> None:
        vr = backup(0.0)
        deadline = vr.master_down_deadline
        assert deadline is not None
        assert vr.handle(Timeout(), deadline) == became_master(B, Reason.MASTER_DOWN, 100)
        assert vr.state is M
        assert vr.master_down_deadline is None
        assert vr.adver_deadline == deadline + 1.0
        assert vr.master_address == ME

    def test_late_timeout_fires_too(self) -> None:
        vr = backup(0.0)
        actions = vr.handle(Timeout(), 10.0)
        assert actions == became_master(B, Reason.MASTER_DOWN, 100)
        assert vr.adver_deadline == 11.0

    def test_priority_0_sets_skew_time(self) -> None:
        vr = backup(0.0)
        assert rx(vr, 200, HIGHER_ADDR, 1.0) == []
        assert rx(vr, 0, HIGHER_ADDR, 1.5) == []
        assert vr.master_down_deadline == 1.5 + 0.609375
        assert vr.master_down_deadline == 1.5 + float(Fraction(156, 256))
        assert vr.handle(Timeout(), 1.5 + 0.6) == []
        assert vr.handle(Timeout(), 1.5 + 0.609375) == became_master(B, Reason.PRIORITY_0, 100)

    def test_priority_0_uses_learned_interval(self) -> None:
        vr = backup(0.0)
        rx(vr, 200, HIGHER_ADDR, 1.0, interval_cs=300)
        rx(vr, 0, HIGHER_ADDR, 2.0, interval_cs=300)
        assert vr.master_down_deadline == 2.0 + float(Fraction(156 * 300, 25600))

    def test_learns_master_adver_interval(self) -> None:
        vr = backup(0.0)  # own interval 1 s
        assert rx(vr, 200, HIGHER_ADDR, 5.0, interval_cs=300) == []
        assert vr.state is B
        assert vr.master_adver_interval_cs == 300
        assert vr.master_address == HIGHER_ADDR
        mdi = Fraction(9) + Fraction(156 * 3, 256)
        assert vr.master_down_interval == mdi
        assert vr.skew_time == Fraction(156 * 3, 256)
        assert vr.master_down_deadline == 5.0 + float(mdi)
        # The learned interval is forgotten on becoming master: we advertise our own.
        deadline = vr.master_down_deadline
        assert vr.handle(Timeout(), deadline) == became_master(B, Reason.MASTER_DOWN, 100)
        assert vr.master_adver_interval_cs == 100
        assert vr.adver_deadline == deadline + 1.0

    def test_learns_a_shorter_interval(self) -> None:
        vr = backup(0.0, priority=100, interval_cs=100)
        rx(vr, 150, HIGHER_ADDR, 2.0, interval_cs=10)
        assert vr.master_adver_interval_cs == 10
        assert vr.master_down_deadline == 2.0 + float(Fraction(3, 10) + Fraction(156 * 10, 25600))

    @pytest.mark.parametrize("priority", [100, 101, 254, 255])
    def test_higher_or_equal_priority_resets_the_timer(self, priority: int) -> None:
        vr = backup(0.0)
        for t in (1.0, 2.0, 3.0, 4.0, 5.0):
            assert rx(vr, priority, HIGHER_ADDR, t) == []
            assert vr.master_down_deadline == t + 3.609375
        assert vr.handle(Timeout(), 8.0) == []
        assert vr.state is B

    def test_preempt_false_follows_lower_master_forever(self) -> None:
        vr = backup(0.0, priority=200, preempt=False)
        timeline = drive(vr, every(0.5, 1.0, 60.0, 100, LOWER_ADDR), until=60.0)
        assert transitions(timeline) == []
        assert vr.state is B
        assert vr.master_address == LOWER_ADDR
        assert vr.master_down_deadline == 59.5 + float(timing.master_down_interval(200, 100))

    def test_preempt_true_discards_lower_and_preempts_after_mdi(self) -> None:
        vr = backup(0.0, priority=200)
        deadline = vr.master_down_deadline
        assert deadline == float(3 + Fraction(56, 256))
        assert rx(vr, 100, LOWER_ADDR, 0.5, interval_cs=300) == []
        # Discarded: neither the timer nor the interval is taken from it.
        assert vr.master_down_deadline == deadline
        assert vr.master_adver_interval_cs == 100
        timeline = drive(vr, every(1.5, 1.0, 10.0, 100, LOWER_ADDR), until=10.0)
        assert transitions(timeline) == [(deadline, StateChanged(B, M, Reason.PREEMPTED))]
        assert [a for t, a in timeline if t == deadline] == became_master(B, Reason.PREEMPTED, 200)

    def test_preemption_claims_and_announces_before_its_first_advert(self) -> None:
        # The lower master drops the addresses the moment it hears our advertisement: they
        # must be ours (and hosts told) before it goes out, or no router holds them.
        vr = backup(0.0, priority=200)
        rx(vr, 100, LOWER_ADDR, 0.5)
        deadline = vr.master_down_deadline
        assert deadline is not None
        assert vr.handle(Timeout(), deadline) == [
            AddVips(),
            Announce(),
            SendAdvert(200),
            StateChanged(B, M, Reason.PREEMPTED),
        ]

    @pytest.mark.parametrize("released", [False, True])
    def test_a_gone_master_is_replaced_advert_first(self, released: bool) -> None:
        # Silence or priority 0: nobody holds the addresses, and the advertisement is what
        # stops the other backups: it does not wait for netlink.
        vr = backup(0.0, priority=200)
        rx(vr, 250, HIGHER_ADDR, 0.5)
        if released:
            rx(vr, 0, HIGHER_ADDR, 1.0)
        deadline = vr.master_down_deadline
        assert deadline is not None
        reason = Reason.PRIORITY_0 if released else Reason.MASTER_DOWN
        assert vr.handle(Timeout(), deadline) == [
            SendAdvert(200),
            AddVips(),
            Announce(),
            StateChanged(B, M, reason),
        ]

    def test_preempt_reason_is_cleared_by_a_better_master(self) -> None:
        vr = backup(0.0, priority=200)
        rx(vr, 100, LOWER_ADDR, 0.5)
        rx(vr, 250, HIGHER_ADDR, 1.0)
        assert vr.master_address == HIGHER_ADDR
        assert vr.master_down_deadline == 1.0 + float(timing.master_down_interval(200, 100))
        deadline = vr.master_down_deadline
        assert vr.handle(Timeout(), deadline) == became_master(B, Reason.MASTER_DOWN, 200)

    def test_preempt_delay_follows_lower_master_then_preempts(self) -> None:
        delay = Fraction(5)
        vr = backup(0.0, priority=200, preempt_delay=delay)
        mdi = float(timing.master_down_interval(200, 100))
        lower = every(0.5, 1.0, 30.0, 100, LOWER_ADDR)
        # During the delay the lower-priority master is followed.
        timeline = drive(vr, [a for a in lower if a[0] < 5.0], until=5.0)
        assert transitions(timeline) == []
        assert vr.state is B
        assert vr.master_address == LOWER_ADDR
        assert vr.master_down_deadline == 4.5 + mdi
        # After the delay its adverts are discarded and Master_Down_Timer preempts it.
        timeline = drive(vr, [a for a in lower if a[0] >= 5.0], until=30.0)
        changes = transitions(timeline)
        assert [c for _, c in changes] == [StateChanged(B, M, Reason.PREEMPTED)], (
            f"preempt_delay {delay} s never ended: still {vr.state} at 30 s, "
            f"preempt_deadline={vr.preempt_deadline}"
        )
        t_master = changes[0][0]
        assert 0.5 + float(delay) <= t_master <= 0.5 + float(delay) + mdi

    def test_preempt_delay_does_not_delay_master_down(self) -> None:
        vr = backup(0.0, priority=200, preempt_delay=Fraction(10))
        rx(vr, 100, LOWER_ADDR, 0.5)
        rx(vr, 100, LOWER_ADDR, 1.5)
        # The lower master goes silent: the ordinary Master_Down_Timer fires.
        deadline = 1.5 + float(timing.master_down_interval(200, 100))
        assert vr.master_down_deadline == deadline
        timeline = drive(vr, [], until=deadline)
        assert transitions(timeline) == [(deadline, StateChanged(B, M, Reason.MASTER_DOWN))]

    def test_better_master_during_preempt_delay_cancels_it(self) -> None:
        vr = backup(0.0, priority=200, preempt_delay=Fraction(5))
        rx(vr, 100, LOWER_ADDR, 0.5)
        assert vr.preempt_deadline == 5.5
        rx(vr, 250, HIGHER_ADDR, 1.0)
        assert vr.preempt_deadline is None
        assert vr.next_deadline() == vr.master_down_deadline

    def test_v2_skew_is_independent_of_interval(self) -> None:
        vr = make(priority=100, interval_cs=300, version=2)
        vr.handle(Startup(), 0.0)
        assert vr.skew_time == Fraction(156, 256)
        assert vr.master_down_interval == 9 + Fraction(156, 256)
        assert vr.master_down_deadline == 9 + 0.609375
        rx(vr, 0, HIGHER_ADDR, 20.0, interval_cs=300)
        assert vr.master_down_deadline == 20.0 + 0.609375

    @pytest.mark.parametrize("priority", [1, 100, 254])
    def test_v2_skew_values(self, priority: int) -> None:
        vr = make(priority=priority, interval_cs=100, version=2)
        assert vr.skew_time == Fraction(256 - priority, 256)


# --- §6.4.3 Master ------------------------------------------------------------------------


class TestMaster:
    def test_adver_timer(self) -> None:
        vr, t0 = master()
        assert vr.adver_deadline == t0 + 1.0
        assert vr.handle(Timeout(), t0 + 0.999) == []
        assert vr.handle(Timeout(), t0 + 1.0) == [SendAdvert(100)]
        assert vr.adver_deadline == t0 + 2.0
        assert vr.next_deadline() == t0 + 2.0

    def test_adver_timer_short_interval(self) -> None:
        vr, t0 = master(interval_cs=1)
        assert vr.adver_deadline == t0 + 0.01

    def test_higher_priority_makes_backup(self) -> None:
        vr, t0 = master()
        now = t0 + 0.3
        actions = rx(vr, 101, LOWER_ADDR, now, interval_cs=200)
        assert actions == [DelVips(), StateChanged(M, B, Reason.HIGHER_PRIORITY)]
        assert vr.state is B
        assert vr.adver_deadline is None
        assert vr.master_address == LOWER_ADDR
        assert vr.master_adver_interval_cs == 200
        assert vr.master_down_deadline == now + float(timing.master_down_interval(100, 200))
        assert vr.next_deadline() == vr.master_down_deadline

    def test_equal_priority_higher_address_makes_backup(self) -> None:
        vr, t0 = master()
        actions = rx(vr, 100, HIGHER_ADDR, t0 + 0.5)
        assert actions == [DelVips(), StateChanged(M, B, Reason.HIGHER_PRIORITY)]
        assert vr.state is B

    def test_equal_priority_lower_address_stays_and_advertises(self) -> None:
        vr, t0 = master()
        now = t0 + 0.5
        assert rx(vr, 100, LOWER_ADDR, now) == [SendAdvert(100), Announce()]
        assert vr.state is M
        assert vr.adver_deadline == now + 1.0

    def test_answers_other_adverts_at_most_once_per_interval(self) -> None:
        """A stream of lower-priority adverts must not make the master send an advert and a
        burst of gratuitous ARPs for each (an amplifier)."""
        vr, t0 = master()
        now = t0 + 0.5
        assert rx(vr, 99, LOWER_ADDR, now) == [SendAdvert(100), Announce()]
        for dt in (0.001, 0.3, 0.999):
            assert rx(vr, 99, LOWER_ADDR, now + dt) == []
        assert vr.adver_deadline == now + 1.0  # the regular advert still comes
        assert rx(vr, 99, LOWER_ADDR, now + 1.0) == [SendAdvert(100), Announce()]
        # §6.4.3 MUST answer a priority-0 advert at once: one advert for one, no announcement
        # (not an amplifier), every time.
        for dt in (1.001, 1.002):
            assert rx(vr, 0, LOWER_ADDR, now + dt) == [SendAdvert(100)]

    def test_at_a_short_interval_reannounces_once_a_second(self) -> None:
        """At 10 ms the answer comes every interval, the gratuitous ARPs once a second."""
        from vrrpd.fsm import REANNOUNCE_AFTER

        vr, t0 = master(interval_cs=1)
        got = [rx(vr, 99, LOWER_ADDR, t0 + k * 0.005) for k in range(1, 401)]
        answers = [a for a in got if a]
        announces = [a for a in got if Announce() in a]
        assert 180 <= len(answers) <= 201  # once per 10 ms over 2 s, never per advert (400)
        assert len(announces) == round(2.0 / REANNOUNCE_AFTER)

    def test_address_compared_as_integer(self) -> None:
        # 192.0.2.10 > 192.0.2.9 numerically, though not as text.
        vr, t0 = master(primary=IPv4Address("192.0.2.9"))
        assert rx(vr, 100, IPv4Address("192.0.2.10"), t0 + 0.1)[-1] == StateChanged(
            M, B, Reason.HIGHER_PRIORITY
        )
        vr, t0 = master(primary=IPv4Address("192.0.2.10"))
        assert rx(vr, 100, IPv4Address("192.0.2.9"), t0 + 0.1) == [SendAdvert(100), Announce()]

    def test_ipv6_tie_break(self) -> None:
        vr, t0 = master(primary=IPv6Address("fe80::2"))
        assert rx(vr, 100, IPv6Address("fe80::1"), t0 + 0.1) == [SendAdvert(100), Announce()]
        assert rx(vr, 100, IPv6Address("fe80::10"), t0 + 0.2) == [
            DelVips(),
            StateChanged(M, B, Reason.HIGHER_PRIORITY),
        ]

    def test_primary_change_changes_tie_break(self) -> None:
        """A reload of unicast_source changes our primary address in place."""
        vr, t0 = master(primary=IPv4Address("192.0.2.2"))
        vr.primary = IPv4Address("192.0.2.200")
        assert vr.primary == IPv4Address("192.0.2.200")
        assert rx(vr, 100, HIGHER_ADDR, t0 + 0.1) == [SendAdvert(100), Announce()]

    def test_lower_priority_sends_advert_at_once_and_resets_timer(self) -> None:
        vr, t0 = master()
        assert vr.adver_deadline == t0 + 1.0
        now = t0 + 0.25
        assert rx(vr, 99, HIGHER_ADDR, now) == [SendAdvert(100), Announce()]
        assert vr.state is M
        assert vr.adver_deadline == now + 1.0
        assert vr.handle(Timeout(), t0 + 1.0) == []
        # One interval later, once more: the other master's GARP may have come after ours.
        assert vr.handle(Timeout(), now + 1.0) == [SendAdvert(100), Announce()]
        assert vr.handle(Timeout(), now + 2.0) == [SendAdvert(100)]

    def test_announcing_again_is_forgotten_when_leaving_master(self) -> None:
        vr, t0 = master()
        assert rx(vr, 99, LOWER_ADDR, t0 + 0.25) == [SendAdvert(100), Announce()]
        assert rx(vr, 101, HIGHER_ADDR, t0 + 0.5)[-1] == StateChanged(
            M, B, Reason.HIGHER_PRIORITY
        )
        got = drive(vr, [], t0 + 10.0)  # the master falls silent: master again, one burst
        assert [a for _t, a in got if a == Announce()] == [Announce()]
        assert vr.state is M

    def test_priority_0_sends_advert_at_once(self) -> None:
        vr, t0 = master()
        now = t0 + 0.75
        assert rx(vr, 0, HIGHER_ADDR, now) == [SendAdvert(100)]
        assert vr.state is M
        assert vr.adver_deadline == now + 1.0

    def test_owner_stays_master_against_lower(self) -> None:
        vr = make(priority=255)
        vr.handle(Startup(), 0.0)
        assert rx(vr, 254, HIGHER_ADDR, 0.5) == [SendAdvert(255), Announce()]
        assert vr.state is M

    def test_two_owners_resolve_by_address(self) -> None:
        # RFC 9568 erratum 8298: an owner processes adverts normally (and logs the
        # misconfiguration), so two owners end with one Active Router.
        vr = make(priority=255)
        vr.handle(Startup(), 0.0)
        assert rx(vr, 255, LOWER_ADDR, 0.5) == [SendAdvert(255), Announce()]
        assert rx(vr, 255, HIGHER_ADDR, 0.7) == [
            DelVips(),
            StateChanged(M, B, Reason.HIGHER_PRIORITY),
        ]
        assert vr.master_down_deadline == 0.7 + float(3 + Fraction(1, 256))

    def test_master_does_not_arm_master_down(self) -> None:
        vr, t0 = master()
        rx(vr, 50, HIGHER_ADDR, t0 + 0.1)
        assert vr.master_down_deadline is None
        assert vr.preempt_deadline is None


# --- Shutdown, VipsLost -------------------------------------------------------------------


class TestShutdown:
    def test_from_master(self) -> None:
        vr, t0 = master()
        assert vr.handle(Shutdown(), t0 + 0.5) == [
            SendAdvert(0),
            DelVips(),
            StateChanged(M, INIT, Reason.SHUTDOWN),
        ]
        assert vr.state is INIT
        assert vr.next_deadline() is None
        assert vr.adver_deadline is None

    def test_from_owner_master(self) -> None:
        vr = make(priority=255)
        vr.handle(Startup(), 0.0)
        assert vr.handle(Shutdown(), 1.0) == [
            SendAdvert(0),
            DelVips(),
            StateChanged(M, INIT, Reason.SHUTDOWN),
        ]

    def test_from_backup(self) -> None:
        vr = backup(0.0, priority=200, preempt_delay=Fraction(5))
        rx(vr, 100, LOWER_ADDR, 0.5)
        assert vr.handle(Shutdown(), 1.0) == [StateChanged(B, INIT, Reason.SHUTDOWN)]
        assert vr.next_deadline() is None
        assert vr.master_down_deadline is None
        assert vr.preempt_deadline is None

    def test_from_initialize(self) -> None:
        assert make().handle(Shutdown(), 0.0) == []

    def test_restart_after_shutdown(self) -> None:
        vr, t0 = master()
        vr.handle(Shutdown(), t0 + 1)
        assert vr.handle(Startup(), t0 + 2) == [StateChanged(INIT, B, Reason.STARTUP)]
        assert vr.master_down_deadline == t0 + 2 + 3.609375


class TestVipsLost:
    def test_master_puts_them_back(self) -> None:
        vr, t0 = master()
        deadline = vr.adver_deadline
        assert vr.handle(VipsLost(), t0 + 0.5) == [AddVips(), Announce()]
        assert vr.state is M
        assert vr.adver_deadline == deadline

    def test_backup_does_nothing(self) -> None:
        vr = backup(0.0)
        deadline = vr.master_down_deadline
        assert vr.handle(VipsLost(), 1.0) == []
        assert vr.master_down_deadline == deadline
        assert vr.state is B


class TestRepeat:
    """`repeat`: the master's previous advert again only restarts Master_Down_Timer."""

    def test_after_an_accepted_advert_only_the_timer_moves(self) -> None:
        vr = backup(0.0, priority=100, interval_cs=100)
        assert rx(vr, 200, HIGHER_ADDR, 1.0) == []
        assert vr.repeat(2.0)
        assert vr.master_down_deadline == 2.0 + float(timing.master_down_interval(100, 100))
        assert vr.master_address == HIGHER_ADDR and vr.state is B

    def test_not_after_anything_else(self) -> None:
        vr = backup(0.0, priority=100, interval_cs=100)
        assert not vr.repeat(0.5)  # nothing accepted yet
        rx(vr, 200, HIGHER_ADDR, 1.0)
        vr.handle(Timeout(), 1.5)  # any other event ends it
        assert not vr.repeat(2.0)
        rx(vr, 50, HIGHER_ADDR, 2.0)  # a lower master is discarded, not followed
        assert not vr.repeat(2.5)
        vr, t0 = master()
        rx(vr, 50, LOWER_ADDR, t0 + 0.1)
        assert not vr.repeat(t0 + 0.2)  # a master answers: never a repeat

    def test_not_while_preempt_delay_counts(self) -> None:
        vr = backup(0.0, priority=200, interval_cs=100, preempt_delay=Fraction(5))
        assert rx(vr, 100, HIGHER_ADDR, 1.0) == []
        assert not vr.repeat(2.0)
