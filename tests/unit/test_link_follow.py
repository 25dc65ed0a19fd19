"""Following an interface by its index (vrrpd.linkfollow, pure): which link and address events
keep, fault or reopen; and what a virtual router does with it (Instance.link_lost /
link_ready): FAULT until the runtime has reopened the interface, frames and receive checks
rebuilt before it may leave FAULT. Also the runtime's side of "no such device": the executor
reports it instead of leaving a MASTER that holds nothing."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

import pytest

from tests.unit.test_instance import ME, cfg, master
from tests.unit.test_layering import FORBIDDEN, loaded
from vrrpd.api import Counter
from vrrpd.fsm import Reason, State
from vrrpd.groups import GroupSettled
from vrrpd.instance import (
    AddAddresses,
    Instance,
    Part,
    Rebuild,
    SendAdvert,
    TrackingChanged,
    Transition,
)
from vrrpd.io.channel import Channel, Port
from vrrpd.io.executor import Executor
from vrrpd.io.netlink import Link, NetlinkFailure
from vrrpd.linkfollow import KEEP, Decision, Follow, Verdict
from vrrpd.types import IPInterface

OLD, NEW, NEWER, OTHER = 3, 7, 9, 4


def follow() -> Follow:
    return Follow("eth0", OLD)


def test_the_module_is_pure() -> None:
    assert loaded(("linkfollow",), FORBIDDEN) == []


# --- the decision -------------------------------------------------------------------------


def test_events_of_other_interfaces_and_ours_as_it_was_keep() -> None:
    f = follow()
    assert f.link("eth1", OTHER, deleted=False) == KEEP
    assert f.link("eth1", OTHER, deleted=True) == KEEP
    assert f.link("eth0", OLD, deleted=False) == KEEP  # up or down: link tracking's
    assert f.address_added(OLD) == KEEP
    assert f.address_added(OTHER) == KEEP
    assert (f.ready, f.index, f.wanted) == (True, OLD, 0)


def test_deleted_is_fault_until_recreated_then_reopen() -> None:
    f = follow()
    d = f.link("eth0", OLD, deleted=True)
    assert d == Decision(Verdict.FAULT, "interface eth0 deleted (index 3)")
    assert not f.ready
    # The name comes back with a new index: reopen there (sockets are bound to indexes).
    d = f.link("eth0", NEW, deleted=False)
    assert d == Decision(Verdict.REOPEN, "interface eth0 re-created (index 3 -> 7): reopening")
    assert (f.index, f.ready, f.wanted) == (NEW, False, 1)
    assert f.opened(NEW, attempt=1)
    assert f.ready
    assert f.link("eth0", NEW, deleted=False) == KEEP  # its later up/down: tracking's


def test_recreated_before_the_delete_was_seen_reopens_at_once() -> None:
    f = follow()
    d = f.link("eth0", NEW, deleted=False)
    assert d.verdict is Verdict.REOPEN and f.index == NEW
    # The old index's late RTM_DELLINK concerns nothing we hold any more.
    assert f.link("eth0", OLD, deleted=True) == KEEP
    assert f.index == NEW and not f.ready


def test_renamed_away_is_fault_and_renamed_back_reopens() -> None:
    f = follow()
    d = f.link("old0", OLD, deleted=False)
    assert d == Decision(Verdict.FAULT, "interface eth0 renamed to old0 (index 3)")
    d = f.link("eth0", OLD, deleted=False)
    assert d == Decision(Verdict.REOPEN, "interface eth0 (index 3): reopening")


def test_a_failed_attempt_waits_for_the_next_link_or_address_event() -> None:
    f = follow()
    f.link("eth0", NEW, deleted=False)
    d = f.failed(NEW, "no IPv4 address of its own to send advertisements from")
    assert d == Decision(
        Verdict.FAULT,
        "interface eth0 (index 7): no IPv4 address of its own to send advertisements from",
    )
    assert f.address_added(OTHER) == KEEP
    d = f.address_added(NEW)
    assert d.verdict is Verdict.REOPEN and f.wanted == 2
    assert f.link("eth0", NEW, deleted=False).verdict is Verdict.REOPEN  # e.g. now up
    assert f.wanted == 3


def test_an_attempt_overtaken_by_a_later_event_is_not_the_last_word() -> None:
    f = follow()
    f.link("eth0", NEW, deleted=False)
    attempt = f.wanted
    f.address_added(NEW)  # while the attempt runs (it may have read the addresses before)
    assert not f.opened(NEW, attempt)
    assert not f.ready
    assert f.opened(NEW, f.wanted) and f.ready


def test_an_attempt_for_an_index_no_longer_followed_neither_opens_nor_faults() -> None:
    f = follow()
    f.link("eth0", NEW, deleted=False)
    attempt = f.wanted
    f.link("eth0", NEWER, deleted=False)  # deleted and re-created once more meanwhile
    assert not f.opened(NEW, attempt)
    assert f.failed(NEW, "gone") == KEEP  # superseded: the current index has its own attempt
    assert f.opened(NEWER, f.wanted) and f.index == NEWER


def test_no_such_device_reopens_once() -> None:
    f = follow()
    d = f.vanished()
    assert d == Decision(Verdict.REOPEN, "interface eth0 (index 3): no such device")
    assert not f.ready and f.wanted == 1
    # Every further failure says the same: no second attempt, no second FAULT.
    assert f.vanished() == KEEP
    assert f.wanted == 1


# --- the virtual router -------------------------------------------------------------------


def test_master_goes_to_fault_and_holds_it_until_reopened() -> None:
    inst, t = master()
    out = inst.link_lost("interface eth0 deleted (index 3)", t + 1)
    assert inst.state is State.FAULT
    assert SendAdvert(0) in out
    assert Transition(State.MASTER, State.FAULT, Reason.FAULT, 100) in out
    assert inst.link_lost("interface eth0 deleted (index 3)", t + 2) == []  # said once
    # Link tracking sees the name come back up: FAULT holds (the index is not reopened).
    inst.link("eth0", False, t + 3)
    assert inst.link("eth0", True, t + 4)[0] == TrackingChanged(
        "interface eth0 up",
        "base 100 = 100; FAULT: interface eth0 deleted (index 3)",
    )
    assert inst.state is State.FAULT
    status = inst.status(t + 4, {}, None, 0.0)
    assert status.fault_reasons == ("interface eth0 deleted (index 3)",)
    assert "FAULT: interface eth0 deleted (index 3)" in inst.explain()


def test_reopened_rebuilds_frames_and_checks_before_leaving_fault() -> None:
    inst, t = master()
    inst.link_lost("interface eth0 re-created (index 3 -> 7): reopening", t + 1)
    moved = IPv4Address("192.0.2.9")  # the re-created interface's address differs
    out = inst.link_ready(moved, t + 2)
    assert out[0] == Rebuild(frozenset({Part.FRAMES, Part.VIEW}))
    assert out[1] == TrackingChanged("interface eth0 reopened", "base 100 = 100")
    left = [o for o in out if isinstance(o, Transition)]
    assert left == [Transition(State.FAULT, State.BACKUP, Reason.FAULT_CLEARED, 100)]
    assert inst.primary == moved == inst.src == inst.fsm.primary
    assert inst.status(t + 2, {}, None, 0.0).fault_reasons == ()


def test_reopened_while_the_link_is_still_down_stays_in_fault() -> None:
    inst, t = master()
    inst.link_lost("interface eth0 re-created (index 3 -> 7): reopening", t + 1)
    inst.link("eth0", False, t + 1)
    inst.link_ready(ME, t + 2)
    assert inst.state is State.FAULT  # link tracking's turn now
    inst.link("eth0", True, t + 3)
    assert inst.state is State.BACKUP


def test_a_router_started_while_its_interface_is_being_reopened_starts_in_fault() -> None:
    inst = Instance(cfg(), ME)
    inst.tracker.interface("eth0", True)
    inst.link_lost("interface eth0 deleted (index 3)", 0.0)  # not started: nothing to do
    out = inst.start(0.0)
    assert inst.state is State.FAULT
    assert Transition(State.INITIALIZE, State.FAULT, Reason.FAULT, 100) in out


# --- the executor: "no such device" is reported, not swallowed ------------------------------


class FakeNetlink:
    def __init__(self, code: int) -> None:
        self.code = code

    async def add_address(self, index: int, iface: IPv4Interface) -> bool:
        raise NetlinkFailure(f"adding {iface} to interface {index}: no", self.code)

    async def set_up(self, index: int) -> None:
        raise NetlinkFailure(f"setting interface {index} up: no", self.code)


class FakeHooks:
    def __init__(self, code: int) -> None:
        self.netlink: Any = FakeNetlink(code)
        self.vanished: list[str] = []

    def after_transition(self, ex: Executor, t: Transition) -> None:
        pass

    def group_settled(self, settled: GroupSettled) -> None:
        pass

    async def rebuild(self, ex: Executor, parts: frozenset[Part]) -> None:
        pass

    def addresses_added(self, ex: Executor, vips: Sequence[IPInterface]) -> None:
        pass

    def addresses_removed(self, ex: Executor, vips: Sequence[IPInterface]) -> None:
        pass

    def link_vanished(self, ex: Executor) -> None:
        self.vanished.append(ex.name)


def executor(code: int, **keys: Any) -> tuple[Executor, FakeHooks]:
    inst, _ = master(**keys)
    port = Port(Link(OLD, "eth0", "02:00:00:00:00:01", True))
    hooks = FakeHooks(code)
    ex = Executor(inst, Channel(port, 4, ME), hooks)
    if keys.get("use_vmac"):
        ex.vmac = Link(11, "vr4.51.3", "00:00:5e:00:01:33", False)
    return ex, hooks


@pytest.mark.parametrize("use_vmac", [False, True])
@pytest.mark.parametrize(
    ("code", "reported"),
    [(errno.ENODEV, True), (errno.ENXIO, True), (errno.EPERM, False)],
)
def test_no_such_device_while_claiming_is_reported(
    code: int, reported: bool, use_vmac: bool
) -> None:
    ex, hooks = executor(code, use_vmac=use_vmac)
    vips = ex.inst.managed()

    async def claim() -> None:
        ex.start()
        ex.submit([AddAddresses(vips)])
        await ex.settle()

    asyncio.run(claim())
    assert hooks.vanished == (["gw"] if reported else [])


@pytest.mark.parametrize(("code", "reported"), [(errno.ENXIO, True), (errno.ENETDOWN, False)])
def test_an_advert_refused_for_a_missing_device_is_reported(code: int, reported: bool) -> None:
    ex, hooks = executor(errno.EPERM)
    errors = ex.inst.counters[Counter.SEND_ERRORS]
    ex._sent(100, OSError(code, "refused"))
    assert hooks.vanished == (["gw"] if reported else [])
    assert ex.inst.counters[Counter.SEND_ERRORS] == errors + 1  # counted as before
