"""An in-memory network of nodes, each running vrrpd's pure virtual routers (`Instance`)
routed through its `SyncGroups`, exactly as the daemon routes them, on a shared virtual clock.

Advertisements are encoded with the real codec and delivered, through each node's real
`Receiver`, to every other node after a small random delay (a link never reorders), with
optional loss and partitions. Address outputs change what each node holds, so tests can ask
at any moment who holds which address. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from tests.helpers import vr
from vrrpd import fsm, packet
from vrrpd.config import Config, parse
from vrrpd.frames import advertisement
from vrrpd.groups import GroupSettled, SyncGroups
from vrrpd.instance import (
    AddAddresses,
    DelAddresses,
    Instance,
    Output,
    Refresh,
    RouterAds,
    SendAdvert,
    StopAnnouncing,
    Transition,
)
from vrrpd.receive import Accepted, Receiver
from vrrpd.types import IPAddress, IPInterface, vrrp_group

MAX_DELAY = 0.005


def config(
    routers: Sequence[dict[str, object]], groups: Sequence[dict[str, object]] = ()
) -> Config:
    """A validated configuration from [[virtual_router]] / [[sync_group]] tables."""
    data: dict[str, object] = {"virtual_router": list(routers)}
    if groups:
        data["sync_group"] = list(groups)
    return parse(data, "test.toml")


def router(**keys: object) -> dict[str, object]:
    """The lab's default virtual router (tests.helpers.vr) at a 1 s interval."""
    return vr(**{"advert_interval": 1.0, **keys})


@dataclass(order=True)
class Delivery:
    time: float
    seq: int
    target: int = field(compare=False)
    src: IPAddress = field(compare=False)
    dst: IPAddress = field(compare=False)
    message: bytes = field(compare=False)


@dataclass
class Event:
    time: float
    node: int
    name: str
    out: Output | GroupSettled


class Node:
    """One vrrpd: its virtual routers, sync groups and what it holds on the wire."""

    def __init__(self, index: int, cfg: Config, primary: IPAddress) -> None:
        self.index = index
        self.primary = primary
        self.alive = True
        self.insts = {c.name: Instance(c, primary) for c in cfg.virtual_routers}
        self.groups = SyncGroups(cfg.sync_groups, self.insts)
        self.held: dict[str, set[IPInterface]] = {n: set() for n in self.insts}
        self.refreshing: dict[str, bool] = dict.fromkeys(self.insts, False)
        self.router_ads: dict[str, bool] = dict.fromkeys(self.insts, False)
        self.receiver = self._receiver()

    def _receiver(self) -> Receiver:
        return Receiver(
            {i.cfg.vrid: i.view() for i in self.insts.values()},
            {self.primary, *(i.src for i in self.insts.values())},
        )

    def reconfigure(self, cfg: Config, now: float) -> list[tuple[str, Output]]:
        """Apply a new configuration in place (every router must keep its identity)."""
        outs: list[tuple[str, Output]] = []
        for c in cfg.virtual_routers:
            outs += [(c.name, o) for o in self.insts[c.name].update(c, (), now)]
        self.groups = SyncGroups(cfg.sync_groups, self.insts, self.groups.settled)
        self.receiver = self._receiver()
        return outs


class Network:
    def __init__(
        self,
        configs: Sequence[Config],
        seed: int = 0,
        loss: float = 0.0,
        hosts: Sequence[int] = (),
    ) -> None:
        hosts = list(hosts) or list(range(1, len(configs) + 1))
        self.nodes = [
            Node(i, c, IPv4Address(f"192.0.2.{h}"))
            for i, (c, h) in enumerate(zip(configs, hosts, strict=True))
        ]
        self.rng = random.Random(seed)
        self.loss = loss
        self.now = 0.0
        self.cut: set[tuple[int, int]] = set()  # directed links that drop everything
        self.queue: list[Delivery] = []
        self.events: list[Event] = []
        self.watchers: list[Callable[[Network], None]] = []
        self.discarded: list[tuple[float, int, str]] = []  # (time, node, reason)
        self._seq = 0
        self._link_last: dict[tuple[int, int], float] = {}

    # -- driving -----------------------------------------------------------------------------

    def input(
        self, node: int, name: str, produce: Callable[..., list[Output]], *args: object
    ) -> None:
        """Give one input to a virtual router (as the daemon's `feed` does)."""
        n = self.nodes[node]
        self._carry_out(n, n.groups.follow(name, produce(*args, self.now), self.now))

    def override(self, node: int, name: str, op: Callable[[Instance, float], list[Output]]) -> None:
        """An operator request (vrrpctl), as the daemon routes it."""
        n = self.nodes[node]
        self._carry_out(n, n.groups.override(name, op, self.now))

    def start(self, down: Sequence[str] = ()) -> None:
        """Every link up (but `down`), then every router started, as the daemon does: link
        states known before the sync groups judge their members."""
        for n in self.nodes:
            for inst in n.insts.values():
                for link in inst.tracked_links:
                    inst.tracker.interface(link, link not in down)
            n.groups = SyncGroups(n.groups.groups.values(), n.insts)
            for name, inst in n.insts.items():
                self.input(n.index, name, inst.start)

    def kill(self, node: int) -> None:
        self.nodes[node].alive = False

    def partition(self, a: int, b: int, on: bool = True) -> None:
        for link in ((a, b), (b, a)):
            (self.cut.add if on else self.cut.discard)(link)

    def reload(self, node: int, cfg: Config) -> None:
        n = self.nodes[node]
        outs = n.reconfigure(cfg, self.now)
        self._carry_out(n, [r for name, o in outs for r in n.groups.follow(name, [o], self.now)])

    def run_until(self, end: float) -> None:
        while True:
            timers = [
                (d, n.index, name)
                for n in self.nodes
                if n.alive
                for name, inst in n.insts.items()
                if (d := inst.next_deadline()) is not None
            ]
            t_timer, i_timer, name = min(timers) if timers else (math.inf, -1, "")
            t_msg = self.queue[0].time if self.queue else math.inf
            if min(t_timer, t_msg) > end:
                self.now = end
                return
            if t_timer <= t_msg:
                self.now = t_timer
                inst = self.nodes[i_timer].insts[name]
                self.input(i_timer, name, inst.timeout)
                after = inst.next_deadline()
                assert after is None or after > t_timer, f"timer of {name}@{i_timer} stuck"
            else:
                msg = heapq.heappop(self.queue)
                self.now = msg.time
                n = self.nodes[msg.target]
                if not n.alive:
                    continue
                verdict = n.receiver.receive(msg.message, msg.src, msg.dst, 255)
                if not isinstance(verdict, Accepted):
                    self.discarded.append((self.now, n.index, verdict.reason))
                    continue
                inst = next(i for i in n.insts.values() if i.cfg.vrid == verdict.vrid)
                self.input(n.index, inst.name, inst.advert, verdict)
            for watch in self.watchers:
                watch(self)

    # -- outputs -----------------------------------------------------------------------------

    def _carry_out(self, n: Node, routed: Sequence[tuple[str, Output | GroupSettled]]) -> None:
        for name, out in routed:
            self.events.append(Event(self.now, n.index, name, out))
            inst = n.insts[name]
            match out:
                case SendAdvert(priority):
                    if n.alive:
                        self._send(n, inst, priority)
                case AddAddresses(vips):
                    n.held[name].update(vips)
                case DelAddresses(vips):
                    n.held[name].difference_update(vips)
                case StopAnnouncing():
                    n.refreshing[name] = False
                case Refresh(interval):
                    n.refreshing[name] = interval > 0
                case RouterAds(on):
                    n.router_ads[name] = on
                case _:
                    pass

    def _send(self, n: Node, inst: Instance, priority: int) -> None:
        cfg = inst.cfg
        adv = advertisement(cfg, priority)
        grp = vrrp_group(cfg.family)
        message = packet.encode(adv, inst.src, grp, cfg.checksum)
        for m in self.nodes:
            if m is n or not m.alive or (n.index, m.index) in self.cut:
                continue
            if self.rng.random() < self.loss:
                continue
            self._seq += 1
            # A link never reorders: a packet does not overtake the previous one.
            link = (n.index, m.index)
            when = max(self.now + self.rng.uniform(0, MAX_DELAY), self._link_last.get(link, 0))
            self._link_last[link] = when
            heapq.heappush(self.queue, Delivery(when, self._seq, m.index, inst.src, grp, message))

    # -- questions ---------------------------------------------------------------------------

    def state(self, node: int, name: str = "gw") -> fsm.State:
        return self.nodes[node].insts[name].state

    def masters(self, name: str = "gw") -> list[int]:
        """The living nodes where `name` is MASTER."""
        return [n.index for n in self.nodes if n.alive and n.insts[name].state is fsm.State.MASTER]

    def holders(self, address: str) -> list[int]:
        return [
            n.index
            for n in self.nodes
            if n.alive and any(str(v.ip) == address for held in n.held.values() for v in held)
        ]

    def transitions(self, since: float = 0.0) -> list[Event]:
        return [e for e in self.events if e.time >= since and isinstance(e.out, Transition)]

    def outputs(self, kind: type, since: float = 0.0) -> list[Event]:
        return [e for e in self.events if e.time >= since and isinstance(e.out, kind)]

    def describe(self) -> str:
        rows = [
            f"n{n.index} {n.primary} "
            + " ".join(f"{name}={i.state.value}/{i.fsm.priority}" for name, i in n.insts.items())
            + f" held={sorted(str(v) for h in n.held.values() for v in h)}"
            for n in self.nodes
        ]
        tail = [
            f"{e.time:.4f} n{e.node} {e.name} {e.out}"
            for e in self.events[-15:]
            if not isinstance(e.out, SendAdvert)
        ]
        return "\n".join([*rows, "last events:", *tail])
