"""One virtual router's decisions (vrrpd.instance), with an explicit clock: the outputs the
runtime carries out, an address owner that keeps the host's address, counters and status,
tracking, and what a reload rebuilds. Also the small decisions next to it: the primary
address, the accept_mode filter and the notify jobs."""

from __future__ import annotations

import errno
from fractions import Fraction
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_interface
from typing import Any

import pytest

from vrrpd import packet
from vrrpd.addresses import Address, filtered, primary_address
from vrrpd.api import Counter
from vrrpd.config import SyncGroup, VirtualRouterConfig, parse
from vrrpd.fsm import Reason, State
from vrrpd.instance import (
    AddAddresses,
    Announce,
    DelAddresses,
    Instance,
    OtherMaster,
    Part,
    PriorityChanged,
    Rebuild,
    Refresh,
    SendAdvert,
    StopAnnouncing,
    TrackingChanged,
    Transition,
    Updated,
    Warn,
)
from vrrpd.io.notify import group_jobs, instance_jobs
from vrrpd.packet import Advertisement, ChecksumForm
from vrrpd.receive import Accepted

ME = IPv4Address("192.0.2.1")
PEER = IPv4Address("192.0.2.2")
VIP = IPv4Interface("192.0.2.254/24")
OWN = IPv4Interface("192.0.2.1/24")
LOWER = IPv4Address("192.0.2.0")  # an address below ours (tie-breaks, §6.4.3)
OTHER = IPv4Address("192.0.2.3")


def cfg(**keys: Any) -> VirtualRouterConfig:
    table = {"name": "gw", "interface": "eth0", "vrid": 51, "virtual_ips": [str(VIP)]} | keys
    return parse({"virtual_router": [table]}, "t.toml").virtual_routers[0]


def started(now: float = 0.0, host_owned: tuple[IPv4Address, ...] = (), **keys: Any) -> Instance:
    inst = Instance(cfg(**keys), ME, host_owned)
    inst.tracker.interface("eth0", True)
    inst.start(now)
    return inst


def master(**keys: Any) -> tuple[Instance, float]:
    inst = started(**keys)
    if inst.state is State.BACKUP:
        deadline = inst.next_deadline()
        assert deadline is not None
        inst.timeout(deadline)
        return inst, deadline
    return inst, 0.0


def accepted(priority: int, src: IPv4Address = PEER, **kw: Any) -> Accepted:
    adv = Advertisement(3, 51, priority, 100, (VIP.ip,))
    defaults: dict[str, Any] = {"address_mismatch": False}
    defaults.update(kw)
    return Accepted(51, adv, src, ChecksumForm.PSEUDO, **defaults)


# --- start, master, backup ----------------------------------------------------------------


def test_becoming_master_sends_then_claims_then_announces() -> None:
    inst = started()
    deadline = inst.next_deadline()
    assert deadline is not None
    out = inst.timeout(deadline)
    assert out == [
        SendAdvert(100),
        AddAddresses((VIP,)),
        Announce((VIP,)),
        Transition(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100),
    ]
    assert inst.counters[Counter.BECAME_MASTER] == 1 and inst.transitions == 2


def test_preempting_claims_and_announces_before_advertising() -> None:
    # The runtime carries these out in order, awaiting netlink: the address is on the
    # interface, and hosts told, before the advertisement that makes the old master drop it.
    inst = started(priority=200)
    assert inst.advert(accepted(100), 0.5) == []
    deadline = inst.next_deadline()
    assert deadline is not None
    assert inst.timeout(deadline) == [
        AddAddresses((VIP,)),
        Announce((VIP,)),
        SendAdvert(200),
        Transition(State.BACKUP, State.MASTER, Reason.PREEMPTED, 200),
    ]


def test_master_with_refresh_and_stepping_down_for_a_better_one() -> None:
    inst, t = master(garp_refresh=2)
    assert inst.state is State.MASTER
    out = inst.advert(accepted(200), t + 0.5)
    assert out == [
        StopAnnouncing(),
        DelAddresses((VIP,)),
        Transition(State.MASTER, State.BACKUP, Reason.HIGHER_PRIORITY, 100),
        StopAnnouncing(),
        inst_hand_over(inst),
    ]


def inst_hand_over(inst: Instance) -> Any:
    from vrrpd.instance import HandOver

    return HandOver(PEER, inst.cfg.virtual_ips)


def test_before_master_comes_first_whichever_way_the_router_becomes_master() -> None:
    from vrrpd.instance import BeforeMaster

    hook = {"before_master": ["/usr/sbin/conntrackd", "-c"]}
    # Master_Down_Timer (the advertisement would otherwise go first) ...
    inst = started(**hook)
    deadline = inst.next_deadline()
    assert deadline is not None
    outs = inst.timeout(deadline)
    t = next(o for o in outs if isinstance(o, Transition))
    assert outs[0] == BeforeMaster(t) and t.new is State.MASTER
    assert [o for o in outs if isinstance(o, BeforeMaster)] == [outs[0]]  # once
    # ... preemption (the addresses would otherwise go first) ...
    inst = started(priority=200, **hook)
    inst.advert(accepted(100), 0.1)
    deadline = inst.next_deadline()
    assert deadline is not None
    outs = inst.timeout(deadline)
    assert isinstance(outs[0], BeforeMaster) and outs[0].transition.reason is Reason.PREEMPTED
    assert isinstance(outs[1], AddAddresses)
    # ... and the address owner at start.
    owner = Instance(cfg(priority=255, **hook), ME)
    owner.tracker.interface("eth0", True)
    outs = owner.start(0.0)
    assert isinstance(outs[0], BeforeMaster) and outs[0].transition.reason is Reason.OWNER
    # Without the hook nothing waits; and leaving master never runs it.
    inst, t0 = master()
    assert not [o for o in inst.advert(accepted(200), t0 + 1) if isinstance(o, BeforeMaster)]


def test_second_burst_only_when_garp_delay_is_set() -> None:
    from vrrpd.instance import AnnounceLater

    for delay, want in ((5, [AnnounceLater(Fraction(5))]), (0, [])):
        inst = started(garp_delay=delay)
        deadline = inst.next_deadline()
        assert deadline is not None
        outs = inst.timeout(deadline)
        assert [o for o in outs if isinstance(o, AnnounceLater)] == want
        # After the first burst: the second is for the transition, not for every advert.
        assert Announce(inst.cfg.virtual_ips) in outs
        assert outs.index(Announce(inst.cfg.virtual_ips)) < len(outs)


def test_refresh_starts_with_the_configured_period_on_becoming_master() -> None:
    inst = started(garp_refresh=2)
    deadline = inst.next_deadline()
    assert deadline is not None
    assert Refresh(Fraction(2)) in inst.timeout(deadline)


# --- the address owner (RFC 5798 §1): the host's own address --------------------------------


def test_owner_of_the_interface_address_never_adds_or_removes_it() -> None:
    inst = started(host_owned=(OWN.ip,), priority=255, virtual_ips=[str(OWN)])
    assert inst.state is State.MASTER  # at once (§6.4.1)
    assert inst.managed() == ()
    out = inst.shutdown(1.0)
    assert out[:2] == [SendAdvert(0), StopAnnouncing()]
    assert DelAddresses(()) in out and DelAddresses((OWN,)) not in out


def test_owner_with_an_extra_vip_manages_only_that_one() -> None:
    inst = started(host_owned=(OWN.ip,), priority=255, virtual_ips=[str(OWN), str(VIP)])
    assert inst.managed() == (VIP,)
    assert inst.vips_lost(OWN.ip, 1.0) == []  # the host's address is not ours to restore
    lost = inst.vips_lost(VIP.ip, 1.0)
    assert isinstance(lost[0], Warn) and AddAddresses((VIP,)) in lost


def test_a_vip_added_on_a_router_not_master_is_removed() -> None:
    backup = started(priority=100)
    assert backup.state is State.BACKUP
    out = backup.vip_appeared(VIP.ip, 1.0)
    assert isinstance(out[0], Warn) and "added while BACKUP; removing it" in out[0].message
    assert out[1:] == [DelAddresses((VIP,), release=False)]
    assert backup.vip_appeared(IPv4Address("198.51.100.9"), 1.0) == []  # not ours
    owner = started(host_owned=(OWN.ip,), priority=255, virtual_ips=[str(OWN), str(VIP)])
    assert owner.vip_appeared(VIP.ip, 1.0) == []  # a master keeps it
    assert owner.vip_appeared(OWN.ip, 1.0) == []  # the host's own address is never ours


# --- counters, warnings, status -------------------------------------------------------------


def test_counters_and_one_warning_per_sender() -> None:
    inst = started()
    inst.advert(accepted(100, address_mismatch=True), 0.1)
    out = inst.advert(accepted(0, address_mismatch=True), 0.2)
    assert not [o for o in out if isinstance(o, Warn)]  # once per sender
    c = inst.counters
    assert c[Counter.ADVERTS_RECEIVED] == 2 and c[Counter.ADDRESS_LIST_MISMATCH] == 2
    assert c[Counter.PRIORITY0_RECEIVED] == 1 and c[Counter.CHECKSUM_RFC5798] == 2
    inst.discarded("ttl")
    inst.sent(0, True)
    inst.sent(100, False)
    assert c[Counter.DISCARD_TTL] == 1 and c[Counter.PRIORITY0_SENT] == 1
    assert c[Counter.ADVERTS_SENT] == 1 and c[Counter.SEND_ERRORS] == 1


def test_the_same_verdict_again_is_counted_and_moves_the_timer_only() -> None:
    inst = started()
    verdict = accepted(200, address_mismatch=True, interval_mismatch=True)
    first = inst.advert(verdict, 0.5)
    assert [o for o in first if isinstance(o, Warn)]
    for t in (1.5, 2.5):
        assert inst.advert(verdict, t) == []
        assert inst.next_deadline() == t + float(inst.fsm.master_down_interval)
    c = inst.counters
    assert c[Counter.ADVERTS_RECEIVED] == 3 and c[Counter.ADDRESS_LIST_MISMATCH] == 3
    assert c[Counter.INTERVAL_MISMATCH] == 3 and c[Counter.CHECKSUM_RFC5798] == 3
    # An equal advert that is another object (not remembered by the receiver) runs in full.
    assert inst.advert(accepted(200), 3.0) == []
    assert inst.state is State.BACKUP


def test_warnings_about_ever_new_senders_are_bounded() -> None:
    from vrrpd.instance import WARNED_MAX

    inst = started()
    warns: list[str] = []
    for i in range(WARNED_MAX + 50):
        src = IPv4Address(int(IPv4Address("198.51.100.0")) + i)
        out = inst.advert(accepted(200, src=src, address_mismatch=True), 0.1 + i * 0.001)
        warns += [o.message for o in out if isinstance(o, Warn)]
    assert len(warns) == WARNED_MAX + 1
    assert "not logged" in warns[-1] and "not logged" not in warns[-2]
    assert inst.counters[Counter.ADDRESS_LIST_MISMATCH] == WARNED_MAX + 50


def test_a_lower_priority_master_is_counted_and_reported_at_most_every_10_s() -> None:
    # A split brain healing: both are Master; the other ranks lower and will step down when
    # it hears our answer. Each advert counts; one report names it, then one per 10 s.
    inst, t = master(priority=200)
    verdict = accepted(100)
    first = inst.advert(verdict, t + 0.1)
    assert OtherMaster(PEER, 100, 200, 0) in first
    assert SendAdvert(200) in first  # answered (RFC 9568)
    quiet = [inst.advert(verdict, t + 0.2 + i) for i in range(9)]  # the same verdict again too
    assert not [o for out in quiet for o in out if isinstance(o, OtherMaster)]
    later = inst.advert(accepted(100, src=OTHER), t + 10.2)
    assert [o for o in later if isinstance(o, OtherMaster)] == [OtherMaster(OTHER, 100, 200, 9)]
    assert inst.counters[Counter.LOWER_PRIORITY_MASTER] == 11
    assert inst.status(t + 11, {}, None, 0.0).counters["lower_priority_master"] == 11
    assert inst.state is State.MASTER


@pytest.mark.parametrize(
    ("priority", "src", "counted"),
    [
        (150, PEER, True),
        (200, LOWER, True),  # same priority, lower address: it yields (§6.4.3)
        (200, PEER, False),  # same priority, higher address: we yield
        (250, PEER, False),  # a better master: we step down
        (0, PEER, False),  # a master leaving, not a second one
    ],
)
def test_only_a_master_that_ranks_lower_is_another_master(
    priority: int, src: IPv4Address, counted: bool
) -> None:
    inst, t = master(priority=200)
    out = inst.advert(accepted(priority, src=src), t + 0.1)
    assert inst.counters[Counter.LOWER_PRIORITY_MASTER] == int(counted)
    assert any(isinstance(o, OtherMaster) for o in out) is counted


def test_a_backup_following_a_lower_master_reports_no_other_master() -> None:
    inst = started(priority=200, preempt=False)
    out = inst.advert(accepted(100), 0.1)
    assert out == [] and inst.counters[Counter.LOWER_PRIORITY_MASTER] == 0


def test_a_send_error_is_expected_only_from_a_link_known_down() -> None:
    inst, t = master()
    assert not inst.expected_send_error(errno.ENETDOWN)  # the link is thought up: warn
    inst.link("eth0", False, t + 1)  # FAULT: its priority-0 advert cannot leave
    assert inst.expected_send_error(errno.ENETDOWN)
    assert inst.expected_send_error(errno.ENXIO)
    assert inst.expected_send_error(errno.ENETUNREACH)  # unicast: the routes went with it
    assert not inst.expected_send_error(errno.EPERM)  # another cause: still a warning
    assert not inst.expected_send_error(None)
    inst.link("other", True, t + 2)  # another interface says nothing about ours
    assert inst.expected_send_error(errno.ENETDOWN)
    inst.link("eth0", True, t + 3)
    assert not inst.expected_send_error(errno.ENETDOWN)


def test_status_adds_the_channel_discards() -> None:
    inst = started(now=5.0)
    inst.discarded("vrid")  # cannot normally happen, but it adds
    status = inst.status(7.5, {Counter.DISCARD_VRID: 3}, None, 0.0)
    assert status.counters["discard_vrid"] == 4
    assert status.state == "BACKUP" and status.time_in_state == 2.5
    assert status.virtual_ips == ("192.0.2.254/24",) and status.primary == "192.0.2.1"


def test_status_has_the_ietf_vrrp_leaves() -> None:
    wall = 1_800_000_000.0  # 2027-01-15T08:00:00Z at loop time 100
    inst = started(now=10.0, priority=100)
    s = inst.status(10.0, {}, None, wall - 90)
    assert (s.new_master_reason, s.master_since, s.last_adv_source) == ("not-master", None, None)
    assert s.up_since == s.last_transition == "2027-01-15T07:58:30.000+00:00"
    assert (s.is_owner, s.master_down_interval, s.skew_time) == (False, 3.609375, 0.609375)  # exact
    inst.advert(accepted(150), 11.0)
    inst.advert(accepted(150), 11.5)  # the steady state (the same verdict) counts too
    assert inst.status(12.0, {}, None, wall).last_adv_source == str(PEER)
    inst.timeout(11.5 + 3.609375)  # the master went silent
    s = inst.status(100.0, {}, None, wall)
    assert (s.state, s.new_master_reason) == ("MASTER", "no-response")
    assert s.master_since == s.last_transition == "2027-01-15T07:58:35.109+00:00"
    assert s.up_since == "2027-01-15T07:58:30.000+00:00"  # unchanged by later transitions
    inst.advert(accepted(200), 101.0)  # preempted by a better one: backup, reason kept
    s = inst.status(101.0, {}, None, wall + 1)
    assert (s.state, s.new_master_reason, s.master_since) == ("BACKUP", "no-response", None)
    assert s.last_transition == "2027-01-15T08:00:01.000+00:00"
    owner = started(now=0.0, priority=255)
    s = owner.status(1.0, {}, None, wall)
    assert (s.is_owner, s.state, s.new_master_reason) == (True, "MASTER", "priority")


def test_every_reason_for_becoming_master_has_an_ietf_name() -> None:
    from vrrpd.instance import NEW_MASTER_REASON, new_master_reason

    ietf = {"priority", "preempted", "no-response"}
    for reason in Reason:
        if reason in (Reason.HIGHER_PRIORITY, Reason.SHUTDOWN, Reason.FAULT, Reason.STEP_DOWN):
            continue  # never a reason to become master
        assert NEW_MASTER_REASON[reason] in ietf, reason
    assert new_master_reason(None) == "not-master"


# --- tracking and overrides ------------------------------------------------------------------


def test_a_weighted_link_lowers_the_priority_and_says_why() -> None:
    inst, t = master(track_interfaces=[{"interface": "up1", "weight": -60}])
    out = inst.link("up1", False, t + 1)
    assert out[0] == TrackingChanged("interface up1 down", "base 100, -60 interface up1 down = 40")
    assert SendAdvert(40) in out
    assert PriorityChanged(100, 40, "base 100, -60 interface up1 down = 40") in out
    assert inst.link("other", False, t + 2) == []  # not tracked


def test_own_interface_down_is_fault_and_up_again_is_backup() -> None:
    inst, t = master()
    out = inst.link("eth0", False, t + 1)
    assert SendAdvert(0) in out and inst.state is State.FAULT
    out = inst.link("eth0", True, t + 2)
    assert inst.state is State.BACKUP
    assert Transition(State.FAULT, State.BACKUP, Reason.FAULT_CLEARED, 100) in out


# --- reload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "parts"),
    [
        ({"priority": 90}, {Part.TRACKING}),
        ({"advert_interval": 0.5}, {Part.FRAMES, Part.VIEW}),
        ({"checksum": "rfc9568"}, {Part.FRAMES}),
        ({"unicast_peers": ["192.0.2.2"]}, {Part.FRAMES, Part.VIEW}),
        ({"accept_mode": False}, {Part.FILTER}),
        ({"garp_repeat": 1}, set()),
        ({"notify": ["/bin/true"]}, set()),
        ({"track_files": [{"name": "f", "path": "/run/f", "weight": -1}]}, {Part.TRACKING}),
    ],
)
def test_update_rebuilds_only_what_the_change_needs(keys: dict[str, Any], parts: set[Part]) -> None:
    inst, t = master()
    out = inst.update(cfg(**keys), (), t + 1)
    rebuilt = [o for o in out if isinstance(o, Rebuild)]
    assert rebuilt == ([Rebuild(frozenset(parts))] if parts else [])
    assert [o for o in out if isinstance(o, Updated)] == [Updated(tuple(sorted(_fields(keys))))]
    assert inst.state is State.MASTER


def _fields(keys: dict[str, Any]) -> list[str]:
    return ["advert_interval_cs" if k == "advert_interval" else k for k in keys]


def test_update_keeps_verdicts_of_unchanged_tracked_objects() -> None:
    scripts = [{"name": "chk", "command": ["/bin/true"]}]  # unweighted: FAULT while unknown
    inst = Instance(cfg(track_scripts=scripts), ME)
    inst.tracker.interface("eth0", True)
    inst.script_result("chk", True, "exit 0", 0.0)
    inst.start(0.0)
    assert inst.state is State.BACKUP
    more = [*scripts, {"name": "load", "command": ["/bin/true"], "weight": -10}]
    out = inst.update(cfg(track_scripts=more), (), 1.0)
    assert inst.state is State.BACKUP, out  # "chk" kept its verdict: no FAULT


def test_unicast_source_changes_the_tie_break_address() -> None:
    inst = started(unicast_peers=["192.0.2.2"])
    inst.update(cfg(unicast_peers=["192.0.2.2"], unicast_source="192.0.2.9"), (), 1.0)
    assert inst.src == IPv4Address("192.0.2.9") == inst.fsm.primary


def test_update_of_an_unchanged_configuration_does_nothing() -> None:
    inst, t = master()
    assert inst.update(cfg(), (), t + 1) == []


# --- next to the instance: primary address, filter, notify --------------------------------


def test_primary_address_skips_managed_vips_but_not_the_hosts_own() -> None:
    on = [
        Address(VIP, primary=True),
        Address(OWN, primary=True),
        Address(IPv4Interface("192.0.2.7/24"), primary=False),
        Address(ip_interface("fe80::1/64"), primary=True),  # type: ignore[arg-type]
    ]
    assert primary_address(4, on, {VIP.ip}) == OWN.ip
    assert primary_address(4, on, {VIP.ip, OWN.ip}) is None
    assert primary_address(6, on, set()) == IPv6Address("fe80::1")


def test_accept_mode_filter() -> None:
    ll = IPv6Address("fe80::1")
    routers = [
        (False, False, [VIP.ip, ll]),
        (False, True, [OWN.ip]),  # the owner always accepts
        (True, False, [IPv4Address("192.0.2.5")]),
    ]
    assert filtered(routers) == [VIP.ip]


def test_notify_jobs() -> None:
    c = cfg(notify=["/usr/bin/n", "-x"])
    t = Transition(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100, "192.0.2.1")
    (job,) = instance_jobs(c, t)
    assert job.argv == ("/usr/bin/n", "-x", "INSTANCE", "gw", "MASTER", "100")
    assert job.env["VRRP_REASON"] == "master-down" and job.env["VRRP_FAMILY"] == "ipv4"
    assert job.env["VRRP_MASTER"] == "192.0.2.1"
    assert instance_jobs(cfg(), t) == []
    shut = Transition(State.MASTER, State.INITIALIZE, Reason.SHUTDOWN, 100)
    assert instance_jobs(c, shut) == []
    g = SyncGroup("edge", ("a", "b"), ("/usr/bin/g",))
    (gj,) = group_jobs(g, State.FAULT)
    assert gj.argv == ("/usr/bin/g", "GROUP", "edge", "FAULT")
    assert group_jobs(SyncGroup("edge", ("a", "b")), State.MASTER) == []


def test_hook_jobs_follow_notify_with_the_same_environment_and_no_arguments() -> None:
    c = cfg(notify=["/usr/bin/n"], on_master=["/usr/bin/m", "up"], on_stop=["/usr/bin/s"])
    t = Transition(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100, "192.0.2.1")
    notify, hook = instance_jobs(c, t)
    assert notify.argv[0] == "/usr/bin/n" and hook.argv == ("/usr/bin/m", "up")
    assert hook.env == notify.env and hook.timeout == notify.timeout == 10.0
    unknown = Transition(State.INITIALIZE, State.BACKUP, Reason.STARTUP, 100)
    assert [j.argv[0] for j in instance_jobs(c, unknown)] == ["/usr/bin/n"]
    assert instance_jobs(c, unknown)[0].env["VRRP_MASTER"] == ""
    shut = Transition(State.MASTER, State.INITIALIZE, Reason.SHUTDOWN, 100, "192.0.2.1")
    (stop,) = instance_jobs(c, shut)
    assert stop.argv == ("/usr/bin/s",) and stop.env["VRRP_STATE"] == "INITIALIZE"
    g = SyncGroup("edge", ("a", "b"), on_stop=("/usr/bin/gs",))
    (gs,) = group_jobs(g, State.INITIALIZE)
    assert gs.argv == ("/usr/bin/gs",) and gs.env["VRRP_NAME"] == "edge"


def test_transitions_carry_the_master_seen() -> None:
    inst = started()
    deadline = inst.next_deadline()
    assert deadline is not None
    (up,) = [o for o in inst.timeout(deadline) if isinstance(o, Transition)]
    assert up.new is State.MASTER and up.master == str(ME)  # ours
    (down,) = [o for o in inst.advert(accepted(200), deadline + 0.5) if isinstance(o, Transition)]
    assert down.new is State.BACKUP and down.master == str(PEER)  # the advert's source


def test_packet_constants_come_from_one_place() -> None:
    from vrrpd import types

    assert packet.VRRP_GROUP_V4 is types.VRRP_GROUP_V4 and packet.VRRP_TTL == types.VRRP_TTL


def test_auth_pass_changes_in_place_with_frames_and_receive_checks() -> None:
    """VRRPv2 password: applied in place (a rolling change of it drops the other side's
    adverts until both are reloaded: that is what a password is for)."""
    inst, t = master(version=2, auth_pass="one")
    out = inst.update(cfg(version=2, auth_pass="two"), (), t + 1)
    assert Rebuild(frozenset({Part.FRAMES, Part.VIEW})) in out
    assert Updated(("auth_pass",)) in out and inst.state is State.MASTER
    assert inst.view().auth_pass == b"two"


# --- the takeover gate ---------------------------------------------------------------------------


def test_the_gate_reports_changes_holds_and_explains() -> None:
    from vrrpd.instance import GATE_CHECK, GateChanged, GateHolding, Refused

    inst = started(takeover_gate=["/usr/local/bin/ready"], gate_grace=2)
    check = inst.gate_check()
    assert check is not None and (check.name, check.command) == (
        GATE_CHECK,
        ("/usr/local/bin/ready",),
    )
    assert "takeover gate: no result yet" in inst.explain()
    assert inst.gate_result(False, "exit 1", 0.1) == [GateChanged(False, "exit 1")]
    assert inst.gate_result(False, "exit 1", 0.2) == []  # no change, no report
    assert inst.explain().endswith("; takeover gate: fails (exit 1)")
    with pytest.raises(Refused, match="takeover gate fails"):
        inst.takeover(0.3)
    deadline = inst.next_deadline()
    assert deadline is not None
    assert inst.timeout(deadline) == [GateHolding(Fraction(2), "fails (exit 1)")]
    out = inst.gate_result(True, "exit 0", deadline + 1)
    assert out[0] == GateChanged(True, "exit 0")
    t = next(o for o in out if isinstance(o, Transition))
    assert (t.new, t.reason) == (State.MASTER, Reason.MASTER_DOWN)
    assert inst.status(deadline + 1, {}, None, 0.0).new_master_reason == "no-response"
    assert started().gate_check() is None


def test_gate_configuration_errors() -> None:
    from vrrpd.config import ConfigError

    def problems(**keys: Any) -> list[str]:
        with pytest.raises(ConfigError) as e:
            cfg(**keys)
        return [p.split(": ", 1)[1] for p in e.value.problems]

    assert problems(gate_grace=3) == [
        "virtual_router[0].gate_grace: only applies with takeover_gate"
    ]
    gate = {"takeover_gate": ["/bin/true"]}
    assert problems(**gate, priority=255) == [
        "virtual_router[0].takeover_gate: does not apply to the address owner (priority 255), "
        "which is master at once"
    ]
    assert problems(**gate, gate_interval=1, gate_timeout=2) == [
        "virtual_router[0].gate_timeout: must not exceed gate_interval (1), got 2"
    ]
    c = cfg(**gate, gate_interval=0.5)
    assert (c.gate_interval, c.gate_timeout, c.gate_grace) == (Fraction(1, 2), Fraction(1, 2), 5)


def test_tracked_objects_in_status_follow_every_input_though_cached() -> None:
    inst = started(track_interfaces=[{"interface": "up1", "weight": -10}])
    first = inst.status(1.0, {}, None, 0.0).tracked
    assert inst.status(2.0, {}, None, 0.0).tracked is first  # no input since: not made again
    assert [t.state for t in first] == ["unknown", "ok"]  # up1, then the router's own eth0
    inst.link("up1", False, 3.0)
    assert [t.state for t in inst.status(4.0, {}, None, 0.0).tracked] == ["failing", "ok"]
    inst.link("up1", True, 5.0)
    assert [t.state for t in inst.status(6.0, {}, None, 0.0).tracked] == ["ok", "ok"]


def test_a_track_script_named_like_the_gate_is_not_taken_for_it() -> None:
    from vrrpd.instance import GATE_CHECK, GateChanged

    inst = started(
        takeover_gate=["/usr/local/bin/ready"],
        track_scripts=[{"name": "takeover_gate", "command": ["/bin/true"], "weight": -10}],
    )
    check = inst.gate_check()
    assert check is not None and check.name == GATE_CHECK != "takeover_gate"
    out = inst.check_result("takeover_gate", False, "exit 1", 0.1)
    assert not [o for o in out if isinstance(o, GateChanged)]
    assert inst.gate_detail == ""  # the gate has no result yet
    assert inst.check_result(GATE_CHECK, True, "exit 0", 0.2)[0] == GateChanged(True, "exit 0")
