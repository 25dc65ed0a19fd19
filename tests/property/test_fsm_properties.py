"""Hypothesis: any sequence of events keeps the state machine's timers consistent with its
state, its actions consistent with its transitions, and never leaves a timer stuck."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.helpers import became_master, received
from vrrpd.fsm import (
    Action,
    AddVips,
    Announce,
    DelVips,
    Event,
    Params,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    StateChanged,
    Timeout,
    VipsLost,
    VirtualRouter,
)

ME = IPv4Address("192.0.2.100")

params = st.builds(
    Params,
    vrid=st.just(51),
    priority=st.integers(1, 255),
    interval_cs=st.sampled_from([1, 10, 100, 300, 4095]),
    preempt=st.booleans(),
    preempt_delay=st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(5)]),
    version=st.just(3),
)

adverts = st.builds(
    lambda prio, host, interval: received(prio, IPv4Address(f"192.0.2.{host}"), interval),
    st.integers(0, 255),
    st.sampled_from([1, 99, 101, 200]),  # below and above our own address
    st.sampled_from([1, 10, 100, 300]),
)

steps = st.lists(
    st.tuples(
        st.one_of(
            adverts,
            st.just(Timeout()),
            st.just(Timeout()),
            st.just(Startup()),
            st.just(Shutdown()),
            st.just(VipsLost()),
        ),
        # How the clock moves before the event: to the next deadline, or by a random step.
        st.one_of(st.just(None), st.floats(0, 5, allow_nan=False)),
    ),
    max_size=60,
)


def check_timers(vr: VirtualRouter) -> None:
    if vr.state is State.INITIALIZE:
        assert vr.next_deadline() is None
    elif vr.state is State.BACKUP:
        assert vr.master_down_deadline is not None
        assert vr.adver_deadline is None
    else:
        assert vr.adver_deadline is not None
        assert vr.master_down_deadline is None
        assert vr.preempt_deadline is None
        assert vr.master_address == vr.primary


def check_actions(before: State, vr: VirtualRouter, event: Event, actions: list[Action]) -> None:
    changes = [a for a in actions if isinstance(a, StateChanged)]
    assert len(changes) <= 1
    if changes:
        (c,) = changes
        assert (c.old, c.new) == (before, vr.state)
        assert c.old is not c.new
        assert actions[-1] == c  # the state change is reported last
    else:
        assert vr.state is before
    for a in actions:
        if isinstance(a, SendAdvert):
            if a.priority == 0:
                assert isinstance(event, Shutdown) and before is State.MASTER
            else:
                assert a.priority == vr.params.priority
                assert vr.state is State.MASTER
        if isinstance(a, AddVips | Announce):
            assert vr.state is State.MASTER
        if isinstance(a, DelVips):
            assert before is State.MASTER and vr.state is not State.MASTER
    if vr.state is State.MASTER and before is not State.MASTER:
        assert actions == became_master(before, changes[0].reason, vr.priority)


@settings(max_examples=400, deadline=None)
@given(p=params, script=steps)
def test_random_event_sequences(p: Params, script: list[tuple[Event, float | None]]) -> None:
    vr = VirtualRouter(p, ME)
    now = 0.0
    for event, step in script:
        deadline = vr.next_deadline()
        if step is None and deadline is not None:
            now = max(now, deadline)
        elif step is not None:
            now += step
        before = vr.state
        actions = vr.handle(event, now)
        check_actions(before, vr, event, actions)
        check_timers(vr)
        if isinstance(event, Timeout):
            after = vr.next_deadline()
            # Whatever was due has fired: nothing is left at or before `now`.
            assert after is None or after > now
        if isinstance(event, Startup) and before is State.INITIALIZE and not p.owner:
            assert vr.master_down_deadline == now + float(vr.master_down_interval)


@settings(max_examples=200, deadline=None)
@given(p=params, priorities=st.lists(st.integers(1, 254), min_size=1, max_size=30))
def test_backup_without_preempt_never_leaves_a_live_master(
    p: Params, priorities: list[int]
) -> None:
    """Preempt off, adverts every interval from anyone: never Master while they come."""
    p = Params(p.vrid, min(p.priority, 254), p.interval_cs, preempt=False)
    vr = VirtualRouter(p, ME)
    vr.handle(Startup(), 0.0)
    src = IPv4Address("192.0.2.1")
    interval = p.interval_cs / 100
    for k, prio in enumerate(priorities):
        now = (k + 1) * interval
        assert vr.handle(Timeout(), now) == []
        vr.handle(received(prio, src, p.interval_cs), now)
        assert vr.state is State.BACKUP
        assert vr.master_address == src
