"""What a reload does, decided in one place, pure.

`plan(old, new)` sorts every virtual router into keep / update in place / restart / add /
remove (as ExaBGP sorts its peers), from one table, `KEYS`: for each configuration key, whether
a change to it restarts the virtual router and what a change does. Only a virtual router's
identity restarts it (RFC 5798 §6: a virtual router is its VRID on one interface and family;
its version and its MAC are what it is on the wire): everything else, addresses included, is
applied in place by `Instance.update`, keeping the state, so a rolling change never bounces a
master. The README's reload table is checked against `KEYS` by a unit test.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from .config import Config, VirtualRouterConfig
from .types import OWNER_PRIORITY


class Effect(enum.Enum):
    RESTART = "restart"  # priority-0 release, then a fresh start (Initialize)
    IN_PLACE = "in place"  # applied to the running virtual router; its state is kept


@dataclass(frozen=True)
class Key:
    effect: Effect
    does: str  # what a change does, as the README's table says it


KEYS: dict[str, Key] = {
    "name": Key(Effect.RESTART, "a new name is a new virtual router: the old one is removed"),
    "interface": Key(Effect.RESTART, "identity (RFC 5798 §6): restart"),
    "vrid": Key(Effect.RESTART, "identity: restart"),
    "version": Key(Effect.RESTART, "identity on the wire: restart"),
    "use_vmac": Key(Effect.RESTART, "the virtual MAC is the router's identity: restart"),
    "priority": Key(
        Effect.IN_PLACE,
        "the new priority is advertised at once by a master; to or from 255 (becoming or "
        "ceasing to be the address owner) restarts",
    ),
    "advert_interval_cs": Key(
        Effect.IN_PLACE, "a master advertises the new interval from its next advertisement"
    ),
    "preempt": Key(Effect.IN_PLACE, "applies to the next advertisement received"),
    "preempt_delay": Key(Effect.IN_PLACE, "applies to the next lower-priority master seen"),
    "virtual_ips": Key(
        Effect.IN_PLACE,
        "a master adds the new addresses and announces only those, removes dropped ones and "
        "advertises the new list from its next advertisement; a backup updates its view; a "
        "change of address family restarts",
    ),
    "link_local_derived": Key(Effect.IN_PLACE, "follows virtual_ips"),
    "checksum": Key(Effect.IN_PLACE, "advertisements rebuilt"),
    "auth_pass": Key(Effect.IN_PLACE, "advertisements and receive checks rebuilt"),
    "unicast_peers": Key(Effect.IN_PLACE, "advertisements and receive checks rebuilt"),
    "unicast_source": Key(Effect.IN_PLACE, "advertisements rebuilt (new source, new tie-break)"),
    "unicast_ttl_check": Key(Effect.IN_PLACE, "receive checks rebuilt"),
    "accept_mode": Key(Effect.IN_PLACE, "the nftables filter is rewritten"),
    "router_advertisements": Key(
        Effect.IN_PLACE, "a master starts sending RAs, or sends one with lifetime 0 and stops"
    ),
    "garp_repeat": Key(Effect.IN_PLACE, "used by the next announcement"),
    "garp_interval": Key(Effect.IN_PLACE, "used by the next announcement"),
    "before_master": Key(Effect.IN_PLACE, "used by the next transition to master"),
    "before_master_timeout": Key(Effect.IN_PLACE, "used by the next transition to master"),
    "takeover_gate": Key(Effect.IN_PLACE, "the gate restarts; a new command has no verdict yet"),
    "gate_interval": Key(Effect.IN_PLACE, "the gate restarts, keeping its verdict"),
    "gate_timeout": Key(Effect.IN_PLACE, "the gate restarts, keeping its verdict"),
    "gate_grace": Key(Effect.IN_PLACE, "used by the next master down"),
    "garp_delay": Key(Effect.IN_PLACE, "used by the next transition to master"),
    "garp_refresh": Key(
        Effect.IN_PLACE, "a master's periodic refresh restarts at the new period; 0 stops it"
    ),
    "track_interfaces": Key(
        Effect.IN_PLACE, "unchanged objects keep their verdict; new ones start unknown"
    ),
    "track_scripts": Key(
        Effect.IN_PLACE, "unchanged objects keep their verdict; new ones start unknown"
    ),
    "track_files": Key(Effect.IN_PLACE, "unchanged objects keep their verdict; files re-read"),
    "notify": Key(Effect.IN_PLACE, "used by the next transition"),
    "notify_timeout": Key(Effect.IN_PLACE, "used by the next transition"),
    "on_master": Key(Effect.IN_PLACE, "used by the next transition"),
    "on_backup": Key(Effect.IN_PLACE, "used by the next transition"),
    "on_fault": Key(Effect.IN_PLACE, "used by the next transition"),
    "on_stop": Key(Effect.IN_PLACE, "used by the next transition"),
}


class Action(enum.Enum):
    KEEP = "unchanged"
    UPDATE = "updated"
    RESTART = "restarted"
    ADD = "added"
    REMOVE = "removed"


def changed_fields(old: VirtualRouterConfig, new: VirtualRouterConfig) -> frozenset[str]:
    return frozenset(f.name for f in fields(old) if getattr(old, f.name) != getattr(new, f.name))


def router_action(old: VirtualRouterConfig, new: VirtualRouterConfig) -> Action:
    """KEEP, UPDATE or RESTART for a virtual router present before and after."""
    changed = changed_fields(old, new)
    if not changed:
        return Action.KEEP
    if any(KEYS[name].effect is Effect.RESTART for name in changed):
        return Action.RESTART
    if old.family != new.family:
        return Action.RESTART  # a virtual router is one address family (§6)
    if "priority" in changed and OWNER_PRIORITY in (old.priority, new.priority):
        return Action.RESTART  # the address owner is what it is (§6.4.1)
    return Action.UPDATE


@dataclass(frozen=True)
class Plan:
    """What a reload does to each virtual router, by name, in configuration order."""

    actions: dict[str, Action]
    daemon_changed: tuple[str, ...] = ()  # [daemon] keys that differ
    groups_removed: tuple[str, ...] = ()  # sync groups the new file no longer has: on_stop

    def names(self, action: Action) -> tuple[str, ...]:
        return tuple(n for n, a in self.actions.items() if a is action)

    def summary(self) -> dict[str, list[str]]:
        return {a.value: list(self.names(a)) for a in Action}


def plan(old: Config, new: Config) -> Plan:
    before = {r.name: r for r in old.virtual_routers}
    actions: dict[str, Action] = {}
    for cfg in new.virtual_routers:
        prev = before.get(cfg.name)
        actions[cfg.name] = Action.ADD if prev is None else router_action(prev, cfg)
    for name in before:
        if name not in actions:
            actions[name] = Action.REMOVE
    daemon_changed = tuple(
        f.name
        for f in fields(old.daemon)
        if getattr(old.daemon, f.name) != getattr(new.daemon, f.name)
    )
    kept = {g.name for g in new.sync_groups}
    removed = tuple(g.name for g in old.sync_groups if g.name not in kept)
    return Plan(actions, daemon_changed, removed)


def refused(old: Config, new: Config, source: str) -> list[str]:
    """Changes a reload cannot make (one line each); the running configuration then stays."""
    if new.daemon.control_socket != old.daemon.control_socket:
        return [f"{source}: daemon.control_socket: cannot change on reload (restart vrrpd)"]
    return []
