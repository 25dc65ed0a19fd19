"""A Master receiving adverts (RFC 5798 §6.4.3 with RFC 9568; §7.1 with erratum 8298).

One lab: r1 (192.0.2.10) runs "gw" (VRID 51, priority 200, 1 s) and "owner" (VRID 52,
priority 255, 1 s), alone on the segment; c1 injects (also from spoofed addresses on either
side of r1's) and captures. With a 1 s interval an advert sent "at once" is told apart from
the next scheduled one: the tests inject half-way through an interval.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import (
    VIP_ADDR,
    WAIT,
    adverts,
    capture,
    counters,
    delta,
    discards,
    vr,
    vrrp_message,
    wait_adverts,
    wait_counter,
)

pytestmark = pytest.mark.netns

R1, C1 = "192.0.2.10", "192.0.2.100"
LOWER, HIGHER = "192.0.2.5", "192.0.2.200"  # spoofed sources either side of r1's address
INTERVAL = 1.0
OWNER_VIP = "192.0.2.253"


@dataclass
class Subject:
    r1: Node
    c1: Node
    d1: Vrrpd
    inj: Injector
    cap: Capture

    def injected(self) -> list[float]:
        """Capture times of the frames c1 sent (whatever IP source they claim)."""
        return [float(p.time) for p in adverts(self.cap) if p.src == self.c1.mac]

    def ready(self) -> None:
        self.d1.wait_states({"gw": "MASTER", "owner": "MASTER"}, timeout=WAIT)


@pytest.fixture(scope="module")
def s(lab: Lab) -> Iterator[Subject]:
    r1 = lab.add_router("r1", f"{R1}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    cap = capture(c1, "ip proto 112 or arp")
    d1 = r1.start_vrrpd(
        [
            vr(name="gw", priority=200, advert_interval=INTERVAL),
            vr(
                name="owner",
                vrid=52,
                priority=255,
                advert_interval=INTERVAL,
                virtual_ips=[f"{OWNER_VIP}/24"],
            ),
        ]
    )
    inj = c1.injector(neighbours={R1: r1.mac})
    subject = Subject(r1, c1, d1, inj, cap)
    subject.ready()
    yield subject
    inj.close()


@dataclass
class Reaction:
    natural: float  # the last scheduled advert before the injection
    injected: float  # the injected packet, as captured
    response: float | None  # r1's first advert after it, if before the next scheduled one
    following: float | None  # r1's advert after the response


def inject_mid_interval(s: Subject, vrid: int, packet: bytes) -> Reaction:
    """Wait for a scheduled advert, inject `packet` between 0.3 and 0.6 intervals later (tries
    again when the machine was too slow to hit that window), then wait for r1's next two
    adverts. The times are the capture's."""
    for _ in range(5):
        seen = len(adverts(s.cap, src=R1, vrid=vrid))
        last = wait_adverts(s.cap, seen + 1, src=R1, vrid=vrid)
        natural = max(float(p.time) for p in last)
        wait_for(lambda n=natural: time.time() >= n + 0.3 * INTERVAL, WAIT, what="mid-interval")
        mine = len(s.injected())
        s.inj.send(packet)
        injected = wait_for(
            lambda m=mine: s.injected()[m:] or None, WAIT, what="the injected packet captured"
        )[0]
        if injected <= natural + 0.6 * INTERVAL:
            break
    else:
        pytest.fail("could not inject mid-interval in 5 tries (machine too slow)")
    after = wait_adverts(s.cap, 2, src=R1, vrid=vrid, after=injected)
    times = sorted(float(p.time) for p in after)
    # Without a reaction the next advert is the scheduled one, at natural + INTERVAL.
    response = times[0] if times[0] < natural + 0.9 * INTERVAL else None
    return Reaction(natural, injected, response, times[1] if response is not None else None)


def answered(s: Subject, priority: int, why: str) -> tuple[Reaction, dict[str, int]]:
    """Inject an advert of `priority` for "gw" mid-interval; r1 must answer it at once.
    Returns r1's reaction and its counters from before."""
    s.ready()
    before = counters(s.d1)
    r = inject_mid_interval(s, 51, s.inj.craft(priority=priority, addresses=[VIP_ADDR]))
    assert r.response is not None, f"no advert sent in reply to {why}"
    assert r.response - r.injected < 0.3
    return r, before


def test_priority_0_answered_at_once(s: Subject) -> None:
    """§6.4.3 MUST: on a priority-0 advert, send an advert at once and reset the Adver_Timer."""
    r, before = answered(s, 0, "priority 0")
    assert r.response is not None
    assert r.following is not None
    # Reset: the next one is a whole interval after the reply, not at the old schedule.
    assert r.following - r.response > 0.9 * INTERVAL
    assert delta(s.d1, before)["priority0_received"] == 1
    assert s.d1.router("gw")["state"] == "MASTER"


def test_lower_priority_answered_at_once(s: Subject) -> None:
    """§6.4.3 (RFC 9568) A Master discards a lower-priority advert and advertises at once."""
    _, before = answered(s, 100, "a lower priority")
    assert vrrp_message(adverts(s.cap, src=R1, vrid=51)[-1])[2] == 200
    assert s.d1.router("gw")["state"] == "MASTER"
    assert discards(delta(s.d1, before)) == {}


def test_equal_priority_lower_address_stays_master(s: Subject) -> None:
    """§6.4.3 Equal priority from a lower primary address: the Master stays Master."""
    s.ready()
    before = counters(s.d1)
    packet = s.inj.craft(src=LOWER, priority=200, interval=10, addresses=[VIP_ADDR])
    r = inject_mid_interval(s, 51, packet)
    assert delta(s.d1, before)["adverts_received"] == 1
    assert s.d1.router("gw")["state"] == "MASTER"
    assert r.response is not None  # and, as for any lower one, it asserts itself at once
    assert s.r1.has_address(VIP_ADDR)


def test_higher_priority_makes_master_backup(s: Subject) -> None:
    """§6.4.3 MUST: on a higher priority, go Backup and learn Master_Adver_Interval."""
    s.ready()
    s.inj.advert(priority=254, interval=37, addresses=[VIP_ADDR])
    s.d1.wait_state("gw", "BACKUP", timeout=WAIT)
    row = s.d1.router("gw")
    assert row["master"] == C1
    assert row["master_adver_interval"] == 0.37
    assert "gw: state MASTER -> BACKUP reason=higher-priority-seen" in s.d1.log_text()
    wait_for(lambda: not s.r1.has_address(VIP_ADDR), WAIT, what="r1 to remove the VIP")
    s.ready()  # c1 is silent: Master again after Master_Down_Interval


def test_equal_priority_higher_address_makes_master_backup(s: Subject) -> None:
    """§6.4.3 MUST: equal priority from a greater primary address: go Backup."""
    s.ready()
    s.inj.advert(src=HIGHER, priority=200, interval=10, addresses=[VIP_ADDR])
    s.d1.wait_state("gw", "BACKUP", timeout=WAIT)
    assert s.d1.router("gw")["master"] == HIGHER
    s.ready()


def test_owner_processes_adverts(s: Subject) -> None:
    """§7.1 (erratum 8298) An address owner processes adverts: two owners resolve by address."""
    s.ready()
    before = counters(s.d1, "owner")
    lower = s.inj.craft(src=LOWER, vrid=52, priority=255, interval=10, addresses=[OWNER_VIP])
    s.inj.send(lower)
    wait_counter(s.d1, "adverts_received", before["adverts_received"] + 1, "owner")
    assert s.d1.router("owner")["state"] == "MASTER"  # its address is the greater one
    s.inj.advert(src=HIGHER, vrid=52, priority=255, interval=10, addresses=[OWNER_VIP])
    s.d1.wait_state("owner", "BACKUP", timeout=WAIT)
    changed = delta(s.d1, before, "owner")
    assert changed["adverts_received"] == 2
    assert discards(changed) == {}
    s.ready()
