"""The state machine's operator-facing events (not in the RFC): FAULT, priority changes,
step-down and takeover, with an explicit `now` and exact deadlines."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from tests.unit.helpers import INIT, B, F, M, became_master, make, master, received
from vrrpd import timing
from vrrpd.fsm import (
    AddVips,
    AdvertReceived,
    Announce,
    DelVips,
    FaultOff,
    FaultOn,
    Reason,
    SendAdvert,
    SetPriority,
    Shutdown,
    Startup,
    StateChanged,
    StepDown,
    Takeover,
    Timeout,
)

PEER = IPv4Address("192.0.2.1")


def advert(priority: int) -> AdvertReceived:
    return received(priority, PEER)


def mdi(priority: int) -> float:
    return float(timing.master_down_interval(priority, 100, 3))


class TestFault:
    def test_master_releases_with_priority_0_then_drops_addresses(self) -> None:
        vr, _ = master()
        assert vr.handle(FaultOn(), 10.0) == [
            SendAdvert(0),
            DelVips(),
            StateChanged(M, F, Reason.FAULT),
        ]
        assert vr.next_deadline() is None

    def test_backup_goes_quiet(self) -> None:
        vr = make()
        vr.handle(Startup(), 0.0)
        assert vr.handle(FaultOn(), 1.0) == [StateChanged(B, F, Reason.FAULT)]
        assert vr.next_deadline() is None
        assert vr.handle(FaultOn(), 2.0) == []

    def test_fault_ignores_adverts_and_timeouts(self) -> None:
        vr = make()
        vr.handle(FaultOn(), 0.0)
        assert vr.state is F
        assert vr.handle(advert(200), 1.0) == []
        assert vr.handle(Timeout(), 100.0) == []
        assert vr.state is F

    def test_leaving_fault_waits_a_master_down_interval_as_at_start(self) -> None:
        vr = make()
        vr.handle(FaultOn(), 0.0)
        assert vr.handle(FaultOff(), 5.0) == [StateChanged(F, B, Reason.FAULT_CLEARED)]
        assert vr.master_down_deadline == 5.0 + mdi(100)
        assert vr.handle(FaultOff(), 6.0) == []

    def test_owner_leaving_fault_is_master_at_once(self) -> None:
        vr = make(255)
        vr.handle(FaultOn(), 0.0)
        actions = vr.handle(FaultOff(), 1.0)
        # A backup may have taken over meanwhile: addresses and announcement first.
        assert actions == became_master(F, Reason.FAULT_CLEARED, 255)

    def test_shutdown_from_fault(self) -> None:
        vr = make()
        vr.handle(FaultOn(), 0.0)
        assert vr.handle(Shutdown(), 1.0) == [StateChanged(F, INIT, Reason.SHUTDOWN)]


class TestPriority:
    def test_master_advertises_new_priority_at_once(self) -> None:
        vr, _ = master(priority=150)
        assert vr.handle(SetPriority(80), 20.0) == [SendAdvert(80)]
        assert vr.adver_deadline == 21.0
        assert vr.handle(SetPriority(80), 20.5) == []

    def test_backup_timers_use_the_effective_priority(self) -> None:
        vr = make(100)
        vr.handle(Startup(), 0.0)
        assert vr.handle(SetPriority(200), 0.1) == []
        vr.handle(advert(250), 1.0)
        assert vr.master_down_deadline == 1.0 + mdi(200)

    def test_lowered_master_yields_to_a_higher_advert(self) -> None:
        vr, _ = master(priority=150)
        vr.handle(SetPriority(50), 1.0)
        actions = vr.handle(advert(100), 2.0)
        assert actions == [DelVips(), StateChanged(M, B, Reason.HIGHER_PRIORITY)]

    def test_bad_priority(self) -> None:
        with pytest.raises(ValueError, match=r"1\.\.255"):
            make().handle(SetPriority(0), 0.0)


class TestStepDown:
    def test_master_releases_and_waits_as_backup(self) -> None:
        vr, _ = master()
        assert vr.handle(StepDown(), 10.0) == [
            SendAdvert(0),
            DelVips(),
            StateChanged(M, B, Reason.STEP_DOWN),
        ]
        assert vr.master_down_deadline == 10.0 + mdi(100)
        assert vr.adver_deadline is None

    def test_backup_ignores_it(self) -> None:
        vr = make()
        vr.handle(Startup(), 0.0)
        assert vr.handle(StepDown(), 1.0) == []


class TestTakeover:
    def test_addresses_and_announce_before_the_advert(self) -> None:
        vr = make(100)
        vr.handle(Startup(), 0.0)
        vr.handle(advert(150), 0.5)
        vr.handle(SetPriority(254), 1.0)
        assert vr.handle(Takeover(), 1.0) == [
            AddVips(),
            Announce(),
            SendAdvert(254),
            StateChanged(B, M, Reason.TAKEOVER),
        ]
        assert vr.adver_deadline == 2.0
        assert vr.master_down_deadline is None

    def test_refused_while_the_master_is_not_below_us(self) -> None:
        vr = make(100)
        vr.handle(Startup(), 0.0)
        vr.handle(advert(150), 0.5)
        with pytest.raises(ValueError, match="priority 150, not below ours"):
            vr.handle(Takeover(), 1.0)
        assert vr.state is B

    def test_refused_unless_backup(self) -> None:
        with pytest.raises(ValueError, match="needs state BACKUP"):
            master()[0].handle(Takeover(), 1.0)
