"""Reload, decided in pure code and checked on the in-memory network: every key that is
applied in place, in every state, keeps the state; a rolling change (one node reloaded, then
the other) never bounces the master and never makes two, in either order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.harness import Network, config, router
from vrrpd.fsm import State
from vrrpd.instance import (
    AddAddresses,
    Announce,
    DelAddresses,
    Part,
    Rebuild,
    Refresh,
    RouterAds,
    Transition,
    Updated,
)
from vrrpd.reload import KEYS, Action, Effect, router_action

B, M, F = State.BACKUP, State.MASTER, State.FAULT
VIP, NEW = "192.0.2.254/24", "192.0.2.252/24"

# For every key applied in place: TOML keys of a changed configuration (given the node's
# own priority) that does not change who should be master.
CHANGES: dict[str, Any] = {
    "priority": lambda p: {"priority": p + 10},
    "advert_interval_cs": lambda p: {"advert_interval": 0.5},
    "preempt": lambda p: {"preempt": False},
    "preempt_delay": lambda p: {"preempt_delay": 2.0},
    "virtual_ips": lambda p: {"virtual_ips": [VIP, NEW]},
    "checksum": lambda p: {"checksum": "rfc9568"},
    "unicast_peers": lambda p: {"unicast_peers": ["192.0.2.1" if p == 100 else "192.0.2.2"]},
    "unicast_source": None,  # with unicast_peers (below)
    "unicast_ttl_check": None,  # with unicast_peers
    "accept_mode": lambda p: {"accept_mode": False},
    "router_advertisements": None,  # IPv6 only: tests/unit/test_instance.py
    "link_local_derived": None,  # IPv6 only, follows virtual_ips
    "auth_pass": None,  # VRRPv2: a rolling change of password drops adverts by design
    "garp_repeat": lambda p: {"garp_repeat": 2},
    "garp_interval": lambda p: {"garp_interval": 0.5},
    "garp_refresh": lambda p: {"garp_refresh": 5},
    "garp_delay": lambda p: {"garp_delay": 5},
    "before_master": lambda p: {"before_master": ["/usr/sbin/conntrackd", "-c"]},
    "before_master_timeout": lambda p: {"before_master_timeout": 2},
    "track_interfaces": lambda p: {"track_interfaces": [{"interface": "up1", "weight": -5}]},
    "track_scripts": lambda p: {
        "track_scripts": [{"name": "chk", "command": ["/bin/true"], "weight": -5}]
    },
    "track_files": lambda p: {"track_files": [{"name": "f", "path": "/run/x", "weight": -1}]},
    "notify": lambda p: {"notify": ["/bin/true"]},
    "notify_timeout": lambda p: {"notify_timeout": 3},
    "on_master": lambda p: {"on_master": ["/bin/true"]},
    "on_backup": lambda p: {"on_backup": ["/bin/true"]},
    "on_fault": lambda p: {"on_fault": ["/bin/true"]},
    "on_stop": lambda p: {"on_stop": ["/bin/true"]},
    "takeover_gate": lambda p: {"takeover_gate": ["/bin/true"]},
    # Only with takeover_gate (a configuration error alone); the gate's unit tests cover them.
    "gate_interval": None,
    "gate_timeout": None,
    "gate_grace": None,
}
IN_PLACE = sorted(k for k, v in KEYS.items() if v.effect is Effect.IN_PLACE)
TESTED = [k for k in IN_PLACE if CHANGES[k] is not None]


def test_every_in_place_key_has_a_change_or_a_reason() -> None:
    assert set(CHANGES) == set(IN_PLACE)


def pair(**keys: Any) -> Network:
    net = Network([config([router(priority=p, **keys)]) for p in (150, 100)])
    net.start()
    net.run_until(10.0)
    assert net.masters() == [0] and net.holders("192.0.2.254") == [0], net.describe()
    return net


def changed(node: int, key: str) -> Any:
    priority = (150, 100)[node]
    return config([router(**{"priority": priority, **CHANGES[key](priority)})])


@pytest.mark.parametrize("key", TESTED)
@pytest.mark.parametrize("state", [M, B, F])
def test_a_reload_of_one_key_keeps_the_state(key: str, state: State) -> None:
    net = pair()
    node = {M: 0, B: 1, F: 1}[state]
    inst = net.nodes[node].insts["gw"]
    if state is F:
        net.input(node, "gw", inst.link, "eth0", False)
    assert inst.state is state
    new = changed(node, key)
    assert router_action(inst.cfg, new.virtual_routers[0]) is Action.UPDATE
    t, mark = net.now, len(net.events)
    net.reload(node, new)
    outs = [e.out for e in net.events[mark:] if e.node == node]
    assert not [o for o in outs if isinstance(o, Transition)], net.describe()
    assert inst.state is state and inst.cfg == new.virtual_routers[0]
    assert [o for o in outs if isinstance(o, Updated)] == [Updated((key,))]
    held = net.nodes[node].held["gw"]
    if state is M:
        assert {str(v) for v in held} == {str(v) for v in inst.cfg.virtual_ips}
        announced = [o for o in outs if isinstance(o, Announce)]
        assert announced == ([Announce(inst.cfg.virtual_ips[1:])] if key == "virtual_ips" else [])
        refresh = [o for o in outs if isinstance(o, Refresh)]
        assert refresh == ([Refresh(inst.cfg.garp_refresh)] if key == "garp_refresh" else [])
    else:
        assert held == set()
        assert not [o for o in outs if isinstance(o, AddAddresses | DelAddresses | Announce)]
    if state is F:
        return
    net.run_until(t + 20.0)
    assert net.masters() == [0], net.describe()
    assert not net.transitions(t), net.describe()


def test_removing_a_vip_from_a_master_removes_only_it() -> None:
    net = Network([config([router(priority=p, virtual_ips=[VIP, NEW])]) for p in (150, 100)])
    net.start()
    net.run_until(10.0)
    t = net.now
    net.reload(0, config([router(priority=150)]))
    outs = [e.out for e in net.events if e.time >= t and e.node == 0]
    dropped = config([router(virtual_ips=[NEW])]).virtual_routers[0].virtual_ips
    assert DelAddresses(dropped, release=False) in outs
    assert not [o for o in outs if isinstance(o, Announce | AddAddresses | Transition)]
    assert net.holders("192.0.2.252") == [] and net.holders("192.0.2.254") == [0]
    rebuilt = [o for o in outs if isinstance(o, Rebuild)]
    assert rebuilt == [Rebuild(frozenset({Part.FRAMES, Part.VIEW}))]


def test_router_advertisements_on_and_off_by_reload_on_a_master() -> None:
    v6 = {"virtual_ips": ["2001:db8::fe/64"]}
    net = Network([config([router(priority=p, **v6)]) for p in (150, 100)], hosts=(1, 2))
    # IPv6 primaries: the harness gives 192.0.2.x; the codec needs one family, so use v4
    # senders only for the state machine and check the outputs of the reload itself.
    inst = net.nodes[0].insts["gw"]
    inst.tracker.interface("eth0", True)
    inst.start(0.0)
    inst.timeout(inst.next_deadline() or 0.0)
    assert inst.state is M
    with_ras = config([router(priority=150, router_advertisements=True, **v6)])
    on = inst.update(with_ras.virtual_routers[0], (), 5.0)
    assert RouterAds(True) in on and RouterAds(False) not in on
    off = inst.update(config([router(priority=150, **v6)]).virtual_routers[0], (), 6.0)
    assert off[0] == RouterAds(False)  # before the frames are rebuilt without RAs
    assert isinstance(off[1], Rebuild) and Part.FRAMES in off[1].parts


@pytest.mark.parametrize("first", [0, 1], ids=["master-first", "backup-first"])
@pytest.mark.parametrize("key", ["virtual_ips", "advert_interval_cs", "checksum", "priority"])
def test_rolling_change_never_bounces(first: int, key: str) -> None:
    net = pair()
    t = net.now
    seen: list[str] = []

    def watch(n: Network) -> None:
        masters = n.masters()
        assert masters == [0], n.describe()
        assert n.holders("192.0.2.254") == [0], n.describe()
        assert len(n.holders("192.0.2.252")) <= 1, n.describe()
        seen.append("ok")

    net.watchers.append(watch)
    net.reload(first, changed(first, key))
    net.run_until(t + 5.0)
    net.reload(1 - first, changed(1 - first, key))
    net.run_until(t + 15.0)
    assert not net.transitions(t), net.describe()
    assert len(seen) > 20
    if key == "virtual_ips":
        assert net.holders("192.0.2.252") == [0]


@settings(max_examples=50, deadline=None)
@given(
    first=st.sampled_from([0, 1]),
    gap=st.floats(0.0, 10.0),
    at=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_rolling_vip_change_at_any_moment(first: int, gap: float, at: float, seed: int) -> None:
    net = Network([config([router(priority=p)]) for p in (150, 100)], seed=seed)
    net.start()
    net.run_until(10.0 + at)
    net.watchers.append(lambda n: None if n.masters() == [0] else pytest.fail(n.describe()))
    t = net.now
    net.reload(first, changed(first, "virtual_ips"))
    net.run_until(t + gap)
    net.reload(1 - first, changed(1 - first, "virtual_ips"))
    net.run_until(t + gap + 10.0)
    assert not net.transitions(t) and net.holders("192.0.2.252") == [0], net.describe()
