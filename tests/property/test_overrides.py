"""Operator overrides (takeover, release, maintenance) and the hand-over after a split brain,
on the in-memory network: two or three nodes running vrrpd's pure virtual routers."""

from __future__ import annotations

import pytest

from tests.property.harness import Network, config, router
from vrrpd.fsm import State
from vrrpd.instance import (
    MAINTENANCE_PRIORITY,
    TAKEOVER_PRIORITY,
    AddAddresses,
    Announce,
    HandOver,
    Instance,
    Output,
    Refused,
    SendAdvert,
    Transition,
)

B, M = State.BACKUP, State.MASTER
VIP = "192.0.2.254"


def pair(*priorities: int, **keys: object) -> Network:
    net = Network([config([router(priority=p, **keys)]) for p in priorities])
    net.start()
    net.run_until(10.0)
    return net


def takeover(inst: Instance, now: float) -> list[Output]:
    return inst.takeover(now)


def release(inst: Instance, now: float) -> list[Output]:
    return inst.release(now)


def test_takeover_claims_the_addresses_before_it_advertises_and_holds_254() -> None:
    net = pair(200, 100)
    t = net.now
    net.override(1, "gw", takeover)
    ours = [e.out for e in net.events if e.time >= t and e.node == 1]
    kinds = [type(o) for o in ours if isinstance(o, AddAddresses | Announce | SendAdvert)]
    # Addresses and announcements first, so hosts move while the old master still answers.
    assert kinds[:3] == [AddAddresses, Announce, SendAdvert]
    assert ours[kinds.index(SendAdvert) + 0] is not None
    net.run_until(t + 1.0)
    assert net.masters() == [1] and net.holders(VIP) == [1], net.describe()
    assert net.nodes[1].insts["gw"].fsm.priority == TAKEOVER_PRIORITY
    net.run_until(t + 20.0)  # the old master (200) does not preempt back while held
    assert net.masters() == [1], net.describe()

    net.override(1, "gw", release)
    net.run_until(net.now + 5.0)
    assert net.masters() == [0] and net.holders(VIP) == [0], net.describe()


@pytest.mark.parametrize("master_priority", [254, 255])
def test_takeover_refused_when_the_master_advertises_254_or_more(master_priority: int) -> None:
    net = pair(master_priority, 100, virtual_ips=["192.0.2.254/24"])
    inst = net.nodes[1].insts["gw"]
    with pytest.raises(Refused, match=f"advertises priority {master_priority}"):
        net.override(1, "gw", takeover)
    assert inst.state is B and not inst.takeover_held and inst.fsm.priority == 100


def test_takeover_refused_unless_backup_or_in_maintenance() -> None:
    net = pair(200, 100)
    with pytest.raises(Refused, match="needs state BACKUP, not MASTER"):
        net.override(0, "gw", takeover)
    net.override(1, "gw", lambda i, now: i.set_maintenance(True, now))
    with pytest.raises(Refused, match="in maintenance"):
        net.override(1, "gw", takeover)


def test_maintenance_releases_at_once_and_stays_backup_until_off() -> None:
    net = pair(200, 100)
    t = net.now
    net.override(0, "gw", lambda i, now: i.set_maintenance(True, now))
    inst = net.nodes[0].insts["gw"]
    assert inst.state is B and inst.fsm.priority == MAINTENANCE_PRIORITY
    sent = [e.out for e in net.outputs(SendAdvert, t) if e.node == 0]
    # Priority 1 is advertised (the transition and notify say 1), then priority 0 releases.
    assert [s.priority for s in sent] == [1, 0]  # type: ignore[union-attr]
    net.run_until(t + 1.0)  # skew time of 100 at 1 s: 0.61 s, far below Master_Down
    assert net.masters() == [1] and net.holders(VIP) == [1], net.describe()
    net.run_until(t + 20.0)
    assert net.masters() == [1], net.describe()
    assert "maintenance: advertising 1" in inst.explain()

    net.override(0, "gw", lambda i, now: i.set_maintenance(False, now))
    net.run_until(net.now + 5.0)
    assert net.masters() == [0], net.describe()


def test_split_brain_heals_and_the_loser_hands_over_to_the_winner() -> None:
    net = pair(200, 100)
    net.partition(0, 1)
    net.run_until(net.now + 10.0)
    assert sorted(net.masters()) == [0, 1] and sorted(net.holders(VIP)) == [0, 1]
    t = net.now
    net.partition(0, 1, on=False)
    net.run_until(t + 5.0)
    assert net.masters() == [0] and net.holders(VIP) == [0], net.describe()
    handed = [e for e in net.outputs(HandOver, t)]
    assert [(e.node, str(e.out.winner)) for e in handed] == [(1, "192.0.2.1")]  # type: ignore[union-attr]
    lost = [e.out for e in net.transitions(t) if e.node == 1]
    assert [(o.old, o.new, o.reason.value) for o in lost] == [  # type: ignore[union-attr]
        (M, B, "higher-priority-seen")
    ]


def test_no_hand_over_with_the_virtual_mac() -> None:
    net = pair(200, 100, use_vmac=True)
    net.partition(0, 1)
    net.run_until(net.now + 10.0)
    t = net.now
    net.partition(0, 1, on=False)
    net.run_until(t + 5.0)
    assert net.masters() == [0]
    assert net.outputs(HandOver, t) == []
    assert [e for e in net.transitions(t) if isinstance(e.out, Transition)]
