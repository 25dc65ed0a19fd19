"""Small defects seen in fault runs (issue 10), in lab namespaces with real vrrpd processes:

- the hand-over after a split brain waits for the winner's MAC by neighbour events, not by
  polling the table every 50 ms;
- a router preempting a live master claims and announces the address before its first
  advertisement (the old master drops it when it hears that advertisement);
- a master that hears another master of lower priority counts it, says so once (rate-limited)
  naming it, and tells `vrrpctl events`;
- a link going down is not a warning about the priority-0 advertisement that cannot leave.

Bounds are generous (a shared 2-core machine); only the hand-over test measures, and its
bound is structural: the old poll could not see the winner's MAC before 50 ms had passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from scapy.layers.l2 import ARP, Ether

from netns_lab import wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import VIP_ADDR, vr
from tests.netns.test_garp import _split_brain
from tests.netns.test_operations import Events, ctl_ok

pytestmark = pytest.mark.netns

R1, R2 = "192.0.2.1", "192.0.2.2"
OLD_POLL = 0.05  # seconds: the table poll this replaces; its first look after asking came then


# --- hand-over ----------------------------------------------------------------------------


def _heal_on_the_loser(lab: Lab, r1: Node, r2: Node, d1: Vrrpd, d2: Vrrpd) -> float:
    """One split brain healed where r2 (the loser) hears r1 first and has no neighbour entry
    for it; returns how long after r1's ARP reply reached r2 r2 sent its hand-over GARP (the
    virtual address at r1's MAC, from r2's port)."""
    for n in (r1, r2):
        n.block_vrrp()
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: r2.has_address(VIP_ADDR), 5, what="r2 to hold the VIP")
    r2.neigh_flush()
    assert r2.neigh(R1) is None
    cap = r2.capture("arp or ip proto 112")
    try:
        r2.unblock_vrrp()
        d2.wait_state("gw", "BACKUP", timeout=5)
        cap.wait_packets(
            lambda p: _hands_over(p, r1.mac, r2.mac), 1, 5, "r2's hand-over GARP at r1's MAC"
        )
    finally:
        packets = cap.stop()
    garp = next(float(p.time) for p in packets if _hands_over(p, r1.mac, r2.mac))
    replies = [
        float(p.time)
        for p in packets
        if ARP in p and p[ARP].op == 2 and p[ARP].psrc == R1 and float(p.time) <= garp
    ]
    assert replies, f"r2 announced r1's MAC without asking for it: {[p.summary() for p in packets]}"
    r1.unblock_vrrp()
    d1.wait_state("gw", "MASTER", timeout=5)
    d2.wait_state("gw", "BACKUP", timeout=5)
    return garp - replies[-1]


def _hands_over(p: Any, winner_mac: str, own_mac: str) -> bool:
    """r2's hand-over: a gratuitous ARP for the VIP at the winner's MAC, from r2's port."""
    return bool(
        ARP in p
        and p[ARP].psrc == VIP_ADDR
        and p[ARP].hwsrc == winner_mac
        and p[Ether].src == own_mac
    )


def test_hand_over_goes_out_as_soon_as_the_winners_mac_is_learnt(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    d1 = r1.start_vrrpd([vr(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2 = r2.start_vrrpd([vr(priority=100)])
    d2.wait_state("gw", "BACKUP", timeout=10)
    # The best of three heals: a polling loop cannot beat its interval however lucky it
    # is, an event-driven wait does not need luck (a loaded machine may delay one of them).
    took = [_heal_on_the_loser(lab, r1, r2, d1, d2) for _ in range(3)]
    assert min(took) < OLD_POLL / 2, f"ARP reply -> hand-over GARP: {took} s"
    assert "announced the virtual addresses at the new master's MAC" in d2.log_text()


# --- preemption ---------------------------------------------------------------------------


def test_preempting_router_claims_and_announces_before_its_first_advert(lab: Lab) -> None:
    # r1 (100) holds the address; r2 (200) starts and preempts it. r1 drops the address the
    # moment it hears r2's advertisement, so r2 must hold it (and have told the hosts) first.
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=100)])
    d1.wait_state("gw", "MASTER", timeout=10)
    assert c1.ping(VIP_ADDR, timeout=2)
    assert c1.neigh(VIP_ADDR) == r1.mac
    cap = c1.capture("arp or ip proto 112")
    try:
        d2 = r2.start_vrrpd([vr(priority=200)])
        d2.wait_state("gw", "MASTER", timeout=10)
        cap.wait_packets(
            lambda p: bool(wire.garps([p], VIP_ADDR, r2.mac)), 1, 5, "r2's gratuitous ARP"
        )
        cap.wait_packets(
            lambda p: bool(wire.adverts([p], src=R2)), 1, 5, "r2's first advertisement"
        )
    finally:
        packets = cap.stop()
    assert "reason=preempted" in d2.log_text()
    order = [
        "garp" if wire.garps([p], VIP_ADDR, r2.mac) else "advert"
        for p in packets
        if wire.garps([p], VIP_ADDR, r2.mac) or wire.adverts([p], src=R2)
    ]
    # The frames leave r2 in the order vrrpd carried the outputs out, and the address was
    # added (netlink answered) before the announcement: so it was there before the advert.
    assert order[0] == "garp", f"r2's frames in order: {order}"
    wait_for(lambda: not r1.has_address(VIP_ADDR), 5, what="r1 to drop the VIP")
    assert r2.has_address(VIP_ADDR)
    wait_for(lambda: c1.neigh(VIP_ADDR) == r2.mac, 5, what="the client to follow r2")


# --- a master hearing a lower-priority master ------------------------------------------------


@pytest.fixture
def events_of() -> Iterator[list[Events]]:
    started: list[Events] = []
    yield started
    for e in started:
        e.stop()


def test_another_master_of_lower_priority_is_counted_logged_once_and_an_event(
    lab: Lab, events_of: list[Events]
) -> None:
    r1, r2, _c1, d1, d2 = _split_brain(lab)  # r1 (200) and r2 (100), both MASTER
    events = Events(d1)
    events_of.append(events)
    events.sync()
    before = d1.counters("gw")["lower_priority_master"]
    assert before == 0
    # Half healed: r1 hears r2's adverts (ten a second), r2 still hears nothing and stays
    # MASTER; r1 answers every one of them.
    r1.unblock_vrrp()
    d1.wait_counter("gw", "lower_priority_master", 10, timeout=10)
    event = events.wait(lambda e: e.get("type") == "other-master", 5, "the other-master event")
    assert (event["name"], event["address"], event["priority"], event["ours"]) == (
        "gw",
        R2,
        100,
        200,
    )
    line = f"gw: another master, {R2} with priority 100 (ours 200)"
    lines = [x for x in d1.log_text().splitlines() if line in x]
    assert len(lines) == 1, d1.log_text()[-2000:]  # ten adverts a second: one line
    assert " WARNING " in lines[0]
    assert [e for e in events.items() if e.get("type") == "other-master"] == [event]
    status = ctl_ok(d1, "status")
    shown = re.search(r"lower_priority_master=(\d+)", status)
    assert shown is not None and int(shown.group(1)) >= 10, status
    assert d1.router("gw")["state"] == "MASTER"
    # Healed: r2 hears r1's answer and steps down; the count stops.
    r2.unblock_vrrp()
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert d2.counters("gw")["lower_priority_master"] == 0  # it heard a better one


# --- link down ----------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [{}, {"unicast_peers": [R2]}], ids=["multicast", "unicast"])
def test_link_down_is_no_warning_about_the_advert_that_cannot_leave(
    lab: Lab, keys: dict[str, list[str]]
) -> None:
    # Multicast: the packet socket says ENETDOWN; unicast: ENETUNREACH (the routes are gone).
    r1 = lab.add_router("r1", "192.0.2.1/24")
    d1 = r1.start_vrrpd([vr(priority=200, **keys)])
    d1.wait_state("gw", "MASTER", timeout=10)
    r1.link_set(False)
    d1.wait_state("gw", "FAULT", timeout=10)
    # The priority-0 advert of the FAULT was tried and refused (send_errors counts it)...
    d1.wait_counter("gw", "send_errors", 1, timeout=5)
    log = d1.log_text()
    assert "reason=fault" in log
    # ... and the FAULT line says why, not a warning about the advert.
    warnings = [x for x in log.splitlines() if " WARNING " in x and "not sent" in x]
    assert warnings == [], "\n".join(warnings)
    r1.link_set(True)
    d1.wait_state("gw", "MASTER", timeout=10)
