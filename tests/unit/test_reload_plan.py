"""The reload plan (vrrpd.reload), pure: which virtual routers a new configuration keeps,
updates in place, restarts, adds and removes, and the README's table of keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vrrpd.config import VirtualRouterConfig, parse
from vrrpd.reload import KEYS, Action, Effect, plan, refused, router_action

ROOT = Path(__file__).resolve().parents[2]


def doc(*routers: dict[str, Any], daemon: dict[str, Any] | None = None) -> Any:
    data: dict[str, Any] = {"virtual_router": list(routers)}
    if daemon:
        data["daemon"] = daemon
    return parse(data, "test.toml")


def vr(name: str = "gw", **keys: Any) -> dict[str, Any]:
    return {"name": name, "interface": "eth0", "vrid": 51, "virtual_ips": ["192.0.2.254/24"]} | keys


def one(**keys: Any) -> VirtualRouterConfig:
    return doc(vr(**keys)).virtual_routers[0]


def test_every_configuration_key_is_in_the_table() -> None:
    from dataclasses import fields

    assert {f.name for f in fields(VirtualRouterConfig)} == set(KEYS)


@pytest.mark.parametrize(
    ("keys", "action"),
    [
        ({}, Action.KEEP),
        ({"priority": 120}, Action.UPDATE),
        ({"virtual_ips": ["192.0.2.254/24", "192.0.2.252/24"]}, Action.UPDATE),
        ({"virtual_ips": ["192.0.2.254/25"]}, Action.UPDATE),
        ({"advert_interval": 0.5}, Action.UPDATE),
        ({"checksum": "rfc9568"}, Action.UPDATE),
        ({"unicast_peers": ["192.0.2.9"]}, Action.UPDATE),
        ({"router_advertisements": False}, Action.KEEP),
        ({"garp_refresh": 0}, Action.KEEP),
        ({"garp_refresh": 5}, Action.UPDATE),
        ({"accept_mode": False}, Action.UPDATE),
        ({"interface": "eth1"}, Action.RESTART),
        ({"vrid": 52}, Action.RESTART),
        ({"version": 2}, Action.RESTART),
        ({"use_vmac": True}, Action.RESTART),
        ({"virtual_ips": ["2001:db8::1/64"]}, Action.RESTART),  # another address family
        ({"priority": 255}, Action.RESTART),  # becomes the address owner
    ],
)
def test_router_action(keys: dict[str, Any], action: Action) -> None:
    assert router_action(one(), one(**keys)) is action


def test_owner_leaving_ownership_restarts() -> None:
    assert router_action(one(priority=255), one(priority=254)) is Action.RESTART


def test_plan_sorts_every_router() -> None:
    old = doc(
        vr("same", vrid=1, virtual_ips=["192.0.2.1/24"]),
        vr("prio", vrid=2, virtual_ips=["192.0.2.2/24"]),
        vr("moved", vrid=3, virtual_ips=["192.0.2.3/24"]),
        vr("gone", vrid=4, virtual_ips=["192.0.2.4/24"]),
    )
    new = doc(
        vr("same", vrid=1, virtual_ips=["192.0.2.1/24"]),
        vr("prio", vrid=2, virtual_ips=["192.0.2.2/24", "192.0.2.12/24"], priority=120),
        vr("moved", vrid=13, virtual_ips=["192.0.2.3/24"]),
        vr("fresh", vrid=5, virtual_ips=["192.0.2.5/24"]),
    )
    p = plan(old, new)
    assert p.actions == {
        "same": Action.KEEP,
        "prio": Action.UPDATE,
        "moved": Action.RESTART,
        "fresh": Action.ADD,
        "gone": Action.REMOVE,
    }
    assert p.summary() == {
        "unchanged": ["same"],
        "updated": ["prio"],
        "restarted": ["moved"],
        "added": ["fresh"],
        "removed": ["gone"],
    }
    assert p.daemon_changed == ()


def test_a_sync_group_the_new_file_drops_is_stopped() -> None:
    four = [vr(n, vrid=i, virtual_ips=[f"192.0.2.{i}/24"]) for i, n in enumerate("abcd", 1)]
    old = parse(
        {
            "virtual_router": four,
            "sync_group": [
                {"name": "g1", "members": ["a", "b"]},
                {"name": "g2", "members": ["c", "d"]},
            ],
        },
        "t.toml",
    )
    new = parse(
        {"virtual_router": four, "sync_group": [{"name": "g2", "members": ["b", "c", "d"]}]},
        "t.toml",
    )
    assert plan(old, new).groups_removed == ("g1",)  # g2 changed its members: kept
    assert plan(new, new).groups_removed == ()
    assert plan(old, doc(*four)).groups_removed == ("g1", "g2")


def test_daemon_keys() -> None:
    old = doc(vr())
    new = doc(vr(), daemon={"metrics_listen": "127.0.0.1:9650"})
    assert plan(old, new).daemon_changed == ("metrics_listen",)
    assert refused(old, new, "f.toml") == []
    moved = doc(vr(), daemon={"control_socket": "/run/other.sock"})
    assert refused(old, moved, "f.toml") == [
        "f.toml: daemon.control_socket: cannot change on reload (restart vrrpd)"
    ]


def test_readme_reload_table_lists_every_key_with_its_effect() -> None:
    """The README's table is the operator's copy of KEYS: same keys, same effect."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Reload without disruption") :]
    section = section[: section.index("\n### ", 5)]
    rows = re.findall(r"^\| `([a-z_]+)` \| (restart|in place) \|", section, re.M)
    shown = dict(rows)
    config_key = {"advert_interval_cs": "advert_interval"}
    expected = {
        config_key.get(k, k): v.effect.value
        for k, v in KEYS.items()
        if k != "link_local_derived"  # not a configuration key: follows virtual_ips
    }
    assert shown == expected
    assert all(v.effect in (Effect.RESTART, Effect.IN_PLACE) for v in KEYS.values())
