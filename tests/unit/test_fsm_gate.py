"""The takeover gate in the pure state machine (vrrpd.fsm): a Backup whose gate fails does not
become Master by Master_Down_Timer at once, nor by preemption, nor on request; it waits up to
gate_grace for a router whose gate passes (whose advertisement ends the wait), and then takes
over anyway, so a gate that fails everywhere never leaves the addresses with nobody."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from ipaddress import IPv4Address

import pytest

from tests.unit.helpers import INIT, B, M, backup, became_master, make, master, received
from vrrpd.fsm import Gate, GateHeld, Reason, Startup, Takeover, Timeout, VirtualRouter

PEER = IPv4Address("192.0.2.2")
MDI = 3 + (256 - 100) / 256  # Master_Down_Interval at priority 100, interval 1 s


def gated(open_: bool, grace: float = 5, **kw: object) -> VirtualRouter:
    vr = backup(**kw)
    vr.params = replace(vr.params, gated=True, gate_grace=Fraction(grace))
    vr.handle(Gate(open_), 0.0)
    return vr


def test_a_passing_gate_changes_nothing() -> None:
    vr = gated(True)
    assert vr.handle(Timeout(), MDI) == became_master(B, Reason.MASTER_DOWN, 100)


def test_a_failing_gate_holds_for_the_grace_then_takes_over_anyway() -> None:
    vr = gated(False, grace=5)
    assert vr.handle(Timeout(), MDI) == [GateHeld(Fraction(5))]
    assert vr.state is B and vr.next_deadline() == pytest.approx(MDI + 5)
    assert vr.handle(Timeout(), MDI + 4.9) == []  # not yet
    assert vr.handle(Timeout(), MDI + 5) == became_master(B, Reason.GATE_GRACE, 100)


def test_the_gate_passing_during_the_hold_takes_over_at_once() -> None:
    vr = gated(False)
    vr.handle(Timeout(), MDI)
    assert vr.handle(Gate(True), MDI + 1) == became_master(B, Reason.MASTER_DOWN, 100)


def test_a_master_speaking_during_the_hold_ends_it() -> None:
    # Another backup whose gate passes took over: follow it, no takeover at the grace's end.
    vr = gated(False)
    vr.handle(Timeout(), MDI)
    assert vr.handle(received(90, PEER), MDI + 1) == []  # lower, but we may not preempt
    assert vr.gate_hold_deadline is None
    assert vr.handle(Timeout(), MDI + 3) == []  # the grace would end at MDI + 5: no more
    assert vr.next_deadline() == pytest.approx(MDI + 1 + MDI)  # the master's timer
    # Only if that master goes quiet does the gate hold again, for the whole grace.
    assert vr.handle(Timeout(), MDI + 1 + MDI) == [GateHeld(Fraction(5))]


def test_a_failing_gate_does_not_preempt_and_a_passing_one_does() -> None:
    vr = gated(False, priority=200)
    assert vr.handle(received(100, PEER), 1.0) == []
    t = 1.0 + 3 + (256 - 200) / 256  # Master_Down_Interval after the advert: it is followed
    assert vr.next_deadline() == pytest.approx(t)
    vr.handle(Gate(True), 2.0)
    assert vr.handle(received(100, PEER), 2.0) == []  # discarded: preempt when the timer fires
    assert vr.handle(Timeout(), t) == became_master(B, Reason.PREEMPTED, 200)


def test_takeover_is_refused_while_the_gate_fails() -> None:
    vr = gated(False)
    with pytest.raises(ValueError, match="takeover gate fails"):
        vr.handle(Takeover(), 1.0)
    vr.handle(Gate(True), 1.0)
    assert vr.handle(Takeover(), 1.0) == became_master(B, Reason.TAKEOVER, 100)


def test_a_master_stays_master_when_its_gate_fails() -> None:
    vr, t = master()
    vr.params = replace(vr.params, gated=True)
    assert vr.handle(Gate(False), t + 1) == [] and vr.state is M


def test_no_grace_means_no_wait() -> None:
    vr = gated(False, grace=0)
    assert vr.handle(Timeout(), MDI) == [GateHeld(Fraction(0))]
    assert vr.handle(Timeout(), MDI) == became_master(B, Reason.GATE_GRACE, 100)


def test_the_owner_is_never_gated() -> None:
    vr = make(255)
    vr.params = replace(vr.params, gated=True)
    assert not vr.gate_blocks
    assert vr.handle(Startup(), 0.0) == became_master(INIT, Reason.OWNER, 255)
