"""Sync groups on the in-memory network: two nodes, each with an "inside" and an "outside"
virtual router in one group. Node 0 has the higher priority for both."""

from __future__ import annotations

import pytest

from tests.property.harness import Network, config, router
from vrrpd.fsm import State
from vrrpd.groups import GroupSettled, SyncGroups
from vrrpd.instance import Instance, Transition

B, M, F = State.BACKUP, State.MASTER, State.FAULT


def firewall(priority: int, group: bool = True) -> object:
    return config(
        [
            router(
                name="inside",
                vrid=1,
                priority=priority,
                virtual_ips=["192.0.2.254/24"],
                track_interfaces=[{"interface": "up1"}],
            ),
            router(name="outside", vrid=2, priority=priority, virtual_ips=["192.0.2.253/24"]),
        ],
        [{"name": "fw", "members": ["inside", "outside"], "notify": ["/bin/true"]}]
        if group
        else [],
    )


def started(group: bool = True) -> Network:
    net = Network([firewall(200, group), firewall(100, group)])  # type: ignore[list-item]
    net.start()
    net.run_until(10.0)
    assert net.masters("inside") == [0] and net.masters("outside") == [0], net.describe()
    return net


def test_a_member_in_fault_takes_the_whole_group_to_fault() -> None:
    net = started()
    t = net.now
    inside = net.nodes[0].insts["inside"]
    net.input(0, "inside", inside.link, "up1", False)
    assert net.state(0, "inside") is F and net.state(0, "outside") is F, net.describe()
    assert "member inside in FAULT" in net.nodes[0].insts["outside"].explain()
    net.run_until(t + 5.0)
    assert net.masters("inside") == [1] and net.masters("outside") == [1], net.describe()
    assert net.holders("192.0.2.253") == [1] and net.holders("192.0.2.254") == [1]

    net.input(0, "inside", inside.link, "up1", True)
    assert net.state(0, "outside") is B, net.describe()  # out of FAULT: Backup, then preempt
    net.run_until(net.now + 5.0)
    assert net.masters("inside") == [0] and net.masters("outside") == [0], net.describe()
    assert net.holders("192.0.2.253") == [0] and net.holders("192.0.2.254") == [0]


def test_without_the_group_the_other_router_stays_master() -> None:
    net = started(group=False)
    inside = net.nodes[0].insts["inside"]
    net.input(0, "inside", inside.link, "up1", False)
    net.run_until(net.now + 5.0)
    assert net.masters("inside") == [1] and net.masters("outside") == [0], net.describe()


def test_a_master_stepping_down_takes_the_others_with_it() -> None:
    """Node 0's inside hears a higher priority (node 1 took over outside alone, as a router
    without the group would): node 0's outside follows it down at once (priority 0)."""
    net = started()
    t = net.now
    net.input(1, "inside", net.nodes[1].insts["inside"].takeover)
    net.run_until(t + 0.5)
    assert net.state(0, "inside") is B and net.state(0, "outside") is B, net.describe()
    steps = [e.out for e in net.transitions(t) if e.node == 0 and e.name == "outside"]
    assert [s.reason.value for s in steps] == ["step-down"], net.describe()  # type: ignore[union-attr]


@pytest.mark.parametrize("member", ["inside", "outside"])
def test_takeover_maintenance_and_release_move_the_whole_group(member: str) -> None:
    net = started()
    t = net.now
    net.override(1, member, lambda inst, now: inst.takeover(now))
    net.run_until(t + 5.0)
    assert net.masters("inside") == [1] and net.masters("outside") == [1], net.describe()
    assert net.holders("192.0.2.253") == [1] and net.holders("192.0.2.254") == [1]
    net.override(1, member, lambda inst, now: inst.release(now))
    net.run_until(net.now + 5.0)
    assert net.masters("inside") == [0] and net.masters("outside") == [0], net.describe()

    net.override(0, member, lambda inst, now: inst.set_maintenance(True, now))
    net.run_until(net.now + 5.0)
    assert net.masters("inside") == [1] and net.masters("outside") == [1], net.describe()
    assert all(i.fsm.priority == 1 for i in net.nodes[0].insts.values())
    net.override(0, member, lambda inst, now: inst.set_maintenance(False, now))
    net.run_until(net.now + 5.0)
    assert net.masters("inside") == [0] and net.masters("outside") == [0], net.describe()


def test_the_group_reports_each_settled_state_once() -> None:
    net = started()
    settled = [e.out for e in net.outputs(GroupSettled) if e.node == 0]
    assert [s.state for s in settled] == [B, M]  # type: ignore[union-attr]
    inside = net.nodes[0].insts["inside"]
    net.input(0, "inside", inside.link, "up1", False)
    net.input(0, "inside", inside.link, "up1", False)  # no change: nothing more
    settled = [e.out.state for e in net.outputs(GroupSettled) if e.node == 0]  # type: ignore[union-attr]
    assert settled == [B, M, F]


def test_stopping_nobody_follows() -> None:
    net = started()
    node = net.nodes[0]
    node.groups.stopping = True
    t = net.now
    net.input(0, "inside", node.insts["inside"].shutdown)
    assert net.state(0, "outside") is M
    assert not [e for e in net.outputs(GroupSettled, t) if e.node == 0]


@pytest.mark.parametrize("faulty", ["inside", "outside"])
def test_group_fault_is_held_from_the_start(faulty: str) -> None:
    """A member whose check has no verdict yet holds the others in FAULT at start."""
    cfg = firewall(200)
    insts = {c.name: Instance(c, net_primary()) for c in cfg.virtual_routers}  # type: ignore[attr-defined]
    other = "outside" if faulty == "inside" else "inside"
    if faulty == "outside":
        insts["inside"].tracker.interface("up1", True)
    insts["inside"].tracker.interface("eth0", True)
    insts["outside"].tracker.interface("eth0", faulty != "outside")
    groups = SyncGroups(cfg.sync_groups, insts)  # type: ignore[attr-defined]
    outs = groups.follow(other, insts[other].start(0.0), 0.0)
    assert insts[other].state is F
    assert any(isinstance(o, Transition) and o.new is F for _, o in outs)


def net_primary() -> object:
    from ipaddress import IPv4Address

    return IPv4Address("192.0.2.1")
