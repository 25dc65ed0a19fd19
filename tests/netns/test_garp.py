"""Gratuitous ARP on the wire: garp_repeat frames per takeover spaced by garp_interval,
garp_refresh while master, and a re-announcement at once when a split brain heals.

Only lower bounds on spacing are tight (a frame must not come early); upper bounds are
generous, for a loaded 2-core machine.
"""

from __future__ import annotations

import itertools
import time

from netns_lab import wire
from netns_lab.lab import Lab, wait_for
from tests.netns.conftest import VIP_ADDR, vr


def test_garp_repeat_spaced_by_garp_interval(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("arp")
    d1 = r1.start_vrrpd([vr(priority=200, garp_repeat=4, garp_interval=0.25)])
    d1.wait_state("gw", "MASTER", timeout=10)
    gs = cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 4, 10, "4 GARPs")
    # No fifth: wait until r1 has sent 15 more adverts (1.5 s at 0.1 s), well past the burst.
    sent = d1.counters("gw")["adverts_sent"]
    d1.wait_counter("gw", "adverts_sent", sent + 15, timeout=15)
    gs = wire.garps(cap.stop(), VIP_ADDR, r1.mac)
    ts = wire.times(gs)
    assert len(ts) == 4, f"garp_repeat = 4 but {len(ts)} gratuitous ARPs: {ts}"
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(0.2 <= g <= 2.0 for g in gaps), f"garp_interval = 0.25 s, gaps {gaps}"


def test_garp_refresh_while_master(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("arp")
    d1 = r1.start_vrrpd([vr(priority=200, garp_repeat=1, garp_refresh=1)])
    d1.wait_state("gw", "MASTER", timeout=10)
    # One at takeover, then one per second: 4 within a generous deadline.
    cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 4, 10, "4 GARPs")
    ts = wire.times(wire.garps(cap.stop(), VIP_ADDR, r1.mac))
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(0.8 <= g <= 3.0 for g in gaps), f"garp_refresh = 1 s, gaps {gaps}"
    assert d1.router("gw")["state"] == "MASTER"
    assert d1.counters("gw")["became_master"] == 1  # refreshes, not new takeovers


def test_master_reannounces_when_split_brain_heals(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    for n in (r1, r2):
        n.block_vrrp()  # a partition: neither hears the other
    d1 = r1.start_vrrpd([vr(priority=200)])  # garp_refresh off (default)
    d1.wait_state("gw", "MASTER", timeout=10)
    assert c1.ping(VIP_ADDR, timeout=2)
    assert c1.neigh(VIP_ADDR) == r1.mac
    d2 = r2.start_vrrpd([vr(priority=100)])
    d2.wait_state("gw", "MASTER", timeout=10)  # split brain
    # r2's takeover GARPs move the client to r2: it now follows the wrong master.
    wait_for(lambda: c1.neigh(VIP_ADDR) == r2.mac, 5, what="client to follow r2")
    cap = c1.capture("arp")
    healed = time.time()
    for n in (r1, r2):
        n.unblock_vrrp()
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    # r1 must re-announce at once, or the client would keep sending to r2 (now a backup).
    gs = cap.wait_packets(
        lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 1, 5, "a GARP from r1 after the heal"
    )
    assert float(gs[0].time) - healed < 3.0
    wait_for(lambda: c1.neigh(VIP_ADDR) == r1.mac, 5, what="client back on r1")
    wait_for(lambda: not r2.has_address(VIP_ADDR), 5, what="r2 to release the VIP")
    cap.stop()
