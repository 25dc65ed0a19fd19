"""Batched and unbatched processing give the same events.

The reactor (`vrrpd.io.reactor`) reads up to a batch of datagrams per wake-up and keeps every
virtual router's deadline in one heap (`vrrpd.timers`); `timers.merge` fires the deadlines
that fell between two datagrams of a batch before the later one. Here a node of real
virtual routers (`Instance`, through the real `Receiver`, whose remembered verdicts make the
steady-state fast path) receives the same advertisements twice: once one at a time with each
router's own `next_deadline` (the reference, as `harness.Network` runs), once in random
batches through `Deadlines`/`merge`/`drain`. The outputs, with their times, must be equal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.harness import config, router
from vrrpd.frames import advertisement
from vrrpd.instance import Instance, Output
from vrrpd.packet import encode, ipv4_header
from vrrpd.receive import Accepted, Receiver
from vrrpd.timers import Deadlines, drain, merge
from vrrpd.types import VRRP_GROUP_V4

ME = IPv4Address("192.0.2.2")
PEERS = (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.3"))
VRIDS = (1, 2, 3)


@dataclass(frozen=True)
class Packet:
    time: float
    data: bytes


Event = tuple[float, str, Output]


def node() -> tuple[dict[int, Instance], Receiver]:
    cfg = config(
        [
            router(
                name=f"vr{v}",
                vrid=v,
                priority=100,
                advert_interval=0.1,
                preempt=v != 2,
                virtual_ips=[f"192.0.2.{250 + v}/24"],
            )
            for v in VRIDS
        ]
    )
    insts = {c.vrid: Instance(c, ME) for c in cfg.virtual_routers}
    for inst in insts.values():
        for link in inst.tracked_links:
            inst.tracker.interface(link, True)
    receiver = Receiver({v: i.view() for v, i in insts.items()}, {ME})
    return insts, receiver


def datagram(vrid: int, priority: int, src: IPv4Address, insts: dict[int, Instance]) -> bytes:
    adv = advertisement(insts[vrid].cfg, priority)
    message = encode(adv, src, VRRP_GROUP_V4)
    return ipv4_header(src, VRRP_GROUP_V4, len(message)) + message


class Runner:
    def __init__(self) -> None:
        self.insts, self.receiver = node()
        self.events: list[Event] = []

    def start(self) -> None:
        for inst in self.insts.values():
            self.record(inst, inst.start(0.0), 0.0)

    def record(self, inst: Instance, out: list[Output], now: float) -> None:
        self.events += [(now, inst.name, o) for o in out]

    def packet(self, p: Packet) -> None:
        verdict = self.receiver.receive_ipv4(p.data)
        if isinstance(verdict, Accepted):
            inst = self.insts[verdict.vrid]
            self.record(inst, inst.advert(verdict, p.time), p.time)

    def timeout(self, inst: Instance, now: float) -> None:
        self.record(inst, inst.timeout(now), now)


def one_at_a_time(packets: list[Packet], end: float) -> list[Event]:
    r = Runner()
    r.start()
    queue = list(packets)
    while True:
        timers = [(d, v) for v, i in r.insts.items() if (d := i.next_deadline()) is not None]
        t_timer, vrid = min(timers) if timers else (math.inf, 0)
        t_packet = queue[0].time if queue else math.inf
        if min(t_timer, t_packet) > end:
            return r.events
        if t_timer < t_packet:
            r.timeout(r.insts[vrid], t_timer)
        else:
            r.packet(queue.pop(0))


def batched(packets: list[Packet], cuts: list[int], end: float) -> list[Event]:
    r = Runner()
    r.start()
    deadlines: Deadlines[int] = Deadlines()

    def schedule(inst: Instance) -> None:
        deadlines.set(inst.cfg.vrid, inst.next_deadline())

    def handled(fn: Callable[[], None], inst: Instance | None = None) -> None:
        fn()
        for i in r.insts.values() if inst is None else (inst,):
            schedule(i)

    for inst in r.insts.values():
        schedule(inst)

    def on_due(vrid: int, at: float) -> None:
        inst = r.insts[vrid]
        handled(lambda: r.timeout(inst, at), inst)

    def on_item(p: Packet) -> None:
        handled(lambda: r.packet(p))

    bounds = sorted({0, len(packets), *(c % (len(packets) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        batch = packets[lo:hi]
        merge(batch, lambda p: p.time, deadlines, on_item, on_due)
        # The timer wakes on time between batches: what is due before the next batch.
        upto = packets[hi].time if hi < len(packets) else end
        while (first := deadlines.earliest()) is not None and first < upto:
            for vrid, at in drain(deadlines, first, 0.0):
                on_due(vrid, at)
    while (first := deadlines.earliest()) is not None and first <= end:
        for vrid, at in drain(deadlines, first, 0.0):
            on_due(vrid, at)
    return r.events


@st.composite
def traffic(draw: st.DrawFn) -> tuple[list[Packet], list[int], float]:
    insts, _ = node()
    n = draw(st.integers(0, 60))
    t = 0.0
    packets: list[Packet] = []
    for _ in range(n):
        # Mostly steady adverts (repeats: the fast path), sometimes a gap long enough for
        # Master_Down_Timer, lower priorities, priority 0, another sender.
        t += draw(st.sampled_from([0.0, 0.001, 0.05, 0.1, 0.1, 0.1, 0.5]))
        vrid = draw(st.sampled_from(VRIDS))
        priority = draw(st.sampled_from([200, 200, 200, 150, 50, 0]))
        src = draw(st.sampled_from(PEERS))
        packets.append(Packet(t, datagram(vrid, priority, src, insts)))
    cuts = draw(st.lists(st.integers(0, 1000), max_size=8))
    return packets, cuts, t + 1.0


@given(traffic())
@settings(max_examples=200, deadline=None)
def test_batched_and_unbatched_give_the_same_events(
    case: tuple[list[Packet], list[int], float],
) -> None:
    packets, cuts, end = case
    assert in_order(batched(packets, cuts, end)) == in_order(one_at_a_time(packets, end))


def in_order(events: list[Event]) -> list[Event]:
    """By time, then router (the order among routers due at the same instant is free; each
    router's own order is kept: the sort is stable)."""
    return sorted(events, key=lambda e: (e[0], e[1]))


def test_a_steady_master_is_followed_with_no_output_either_way() -> None:
    insts, _ = node()
    packets = [
        Packet(0.01 + k * 0.1, datagram(v, 200, PEERS[0], insts)) for k in range(30) for v in VRIDS
    ]
    packets.sort(key=lambda p: p.time)
    events = batched(packets, [7, 19, 40], 3.0)
    assert in_order(events) == in_order(one_at_a_time(packets, 3.0))
    # Three transitions to Backup at start-up and nothing else: no false takeover.
    assert [e[2].new.value for e in events if hasattr(e[2], "new")] == ["BACKUP"] * 3
