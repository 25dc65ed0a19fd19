"""Sync groups, pure: virtual routers that change state together, so a firewall's inside and
outside addresses always sit on one node (keepalived's vrrp_sync_group).

- If one member is in FAULT on its own account, every other member is held in FAULT.
- If one master steps down to Backup, the other masters of its group step down too.
- When all members reach the same state, the group reports it once (`GroupSettled`).
- An operator's takeover, release or maintenance of one member applies to every member:
  otherwise the group would pull the member straight back (a takeover of one member makes
  the other node's members step down, but the members left behind there preempt back).

`SyncGroups.follow(name, outputs, now)` takes what one virtual router produced and returns
it with what the group makes the others do, each output tagged with the virtual router that
carries it out, in order. The daemon and the in-memory test network route through it alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import fsm
from .config import SyncGroup
from .instance import Instance, Output, Refused, TrackingChanged, Transition


@dataclass(frozen=True, slots=True)
class GroupSettled:
    """Every member of `group` is now in `state` (reported once per state)."""

    group: SyncGroup
    state: fsm.State


Routed = tuple[str, Output | GroupSettled]


class SyncGroups:
    def __init__(
        self,
        groups: Sequence[SyncGroup],
        instances: Mapping[str, Instance],
        settled: Mapping[str, fsm.State] | None = None,
    ) -> None:
        """`settled`: the state each group last reported (kept across a reload)."""
        self.instances = instances
        self.groups = {g.name: g for g in groups}
        self.settled: dict[str, fsm.State] = dict(settled or {})
        self.stopping = False  # at shutdown, members leave one by one: nobody follows
        for inst in instances.values():
            inst.group = None
        for group in groups:
            for member in group.members:
                if member in instances:
                    instances[member].group = group.name
        for inst in instances.values():
            inst.group_fault = self.fault_reason(inst)

    def members(self, inst: Instance) -> list[Instance]:
        if inst.group is None:
            return [inst]
        return [self.instances[m] for m in self.groups[inst.group].members if m in self.instances]

    def fault_reason(self, inst: Instance) -> str:
        """Why the group holds `inst` in FAULT ("" when it does not)."""
        for other in self.members(inst):
            if other is not inst and other.own_fault:
                return f"member {other.name} in FAULT"
        return ""

    def follow(self, name: str, outputs: Iterable[Output], now: float) -> list[Routed]:
        routed: list[Routed] = []
        inst = self.instances[name]
        for out in outputs:
            routed.append((name, out))
            if isinstance(out, Transition):
                routed += self._after_transition(inst, out, now)
            elif isinstance(out, TrackingChanged):
                routed += self._after_tracking(inst, now)
        return routed

    def override(
        self, name: str, op: Callable[[Instance, float], list[Output]], now: float
    ) -> list[Routed]:
        """An operator request (`Instance.takeover`, `release`, `set_maintenance`...) for
        `name` and, in a sync group, for every other member too. The named one goes first:
        if it refuses (`Refused`), nothing has changed; the others follow only if it did not.
        """
        inst = self.instances[name]
        routed = self.follow(name, op(inst, now), now)
        for other in self.members(inst):
            if other is not inst:
                # A member that refuses (already master here: nothing to take over) is left.
                with contextlib.suppress(Refused):
                    routed += self.follow(other.name, op(other, now), now)
        return routed

    def _after_transition(self, inst: Instance, t: Transition, now: float) -> list[Routed]:
        if inst.group is None or self.stopping:
            return []
        routed: list[Routed] = []
        if t.old is fsm.State.MASTER and t.new is fsm.State.BACKUP:
            # A member left: the others follow, so the group never splits across nodes.
            for other in self.members(inst):
                if other is not inst and other.state is fsm.State.MASTER:
                    routed += self.follow(other.name, other.step_down(now), now)
        group = self.groups[inst.group]
        states = {m.state for m in self.members(inst)}
        if len(states) == 1:
            (state,) = states
            if self.settled.get(group.name) is not state:
                self.settled[group.name] = state
                routed.append((inst.name, GroupSettled(group, state)))
        return routed

    def _after_tracking(self, inst: Instance, now: float) -> list[Routed]:
        """`inst`'s own fault may have changed: the other members re-evaluate."""
        routed: list[Routed] = []
        for other in self.members(inst):
            if other is not inst:
                reason = self.fault_reason(other)
                routed += self.follow(other.name, other.set_group_fault(reason, now), now)
        return routed
