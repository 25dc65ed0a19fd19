"""Gratuitous ARP on the wire: garp_repeat frames per takeover spaced by garp_interval,
a second burst after garp_delay, garp_refresh while master, and a re-announcement at once
when a split brain heals.

Only lower bounds on spacing are tight (a frame must not come early); upper bounds are
generous, for a loaded 2-core machine.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from scapy.layers.l2 import ARP

from netns_lab import wire
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.helpers import VIP_ADDR, vr


def _master_captured(lab: Lab, **keys: Any) -> tuple[Node, Capture, Vrrpd]:
    """r1 master of `vr(priority=200, **keys)`, with the client capturing ARP from the start."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("arp")
    d1 = r1.start_vrrpd([vr(priority=200, **keys)])
    d1.wait_state("gw", "MASTER", timeout=10)
    return r1, cap, d1


def test_garp_repeat_spaced_by_garp_interval(lab: Lab) -> None:
    r1, cap, d1 = _master_captured(lab, garp_repeat=4, garp_interval=0.25)
    gs = cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 4, 10, "4 GARPs")
    # No fifth: wait until r1 has sent 15 more adverts (1.5 s at 0.1 s), well past the burst.
    sent = d1.counters("gw")["adverts_sent"]
    d1.wait_counter("gw", "adverts_sent", sent + 15, timeout=15)
    gs = wire.garps(cap.stop(), VIP_ADDR, r1.mac)
    ts = wire.times(gs)
    assert len(ts) == 4, f"garp_repeat = 4 but {len(ts)} gratuitous ARPs: {ts}"
    # A late frame may be followed by an early-looking one if the daemon keeps an absolute
    # schedule: each gap at least half the interval, the whole burst at least 3 x 0.2 s.
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(0.125 <= g <= 2.0 for g in gaps), f"garp_interval = 0.25 s, gaps {gaps}"
    assert ts[-1] - ts[0] >= 0.6, f"garp_interval = 0.25 s, gaps {gaps}"


def test_garp_refresh_while_master(lab: Lab) -> None:
    r1, cap, d1 = _master_captured(lab, garp_repeat=1, garp_refresh=1)
    # One at takeover, then one per second: 4 within a generous deadline.
    cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 4, 10, "4 GARPs")
    ts = wire.times(wire.garps(cap.stop(), VIP_ADDR, r1.mac))
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(0.5 <= g <= 3.0 for g in gaps), f"garp_refresh = 1 s, gaps {gaps}"
    assert (ts[-1] - ts[0]) / len(gaps) >= 0.8, f"garp_refresh = 1 s, gaps {gaps}"
    assert d1.router("gw")["state"] == "MASTER"
    assert d1.counters("gw")["became_master"] == 1  # refreshes, not new takeovers


def test_garp_delay_sends_a_second_burst(lab: Lab) -> None:
    # keepalived's garp_master_delay: garp_repeat frames at once, as many again 1 s later.
    r1, cap, d1 = _master_captured(lab, garp_repeat=2, garp_delay=1)
    cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 4, 10, "4 GARPs")
    # No third burst: wait 15 adverts more (1.5 s at 0.1 s) after the second.
    sent = d1.counters("gw")["adverts_sent"]
    d1.wait_counter("gw", "adverts_sent", sent + 15, timeout=15)
    ts = wire.times(wire.garps(cap.stop(), VIP_ADDR, r1.mac))
    assert len(ts) == 4, f"garp_repeat = 2 twice, got {len(ts)} gratuitous ARPs: {ts}"
    assert ts[1] - ts[0] < 0.5 and ts[3] - ts[2] < 0.5, f"two bursts expected: {ts}"
    assert 0.9 <= ts[2] - ts[0] <= 4.0, f"garp_delay = 1 s, second burst after {ts[2] - ts[0]}"
    assert d1.counters("gw")["became_master"] == 1


def _split_brain(lab: Lab) -> tuple[Node, Node, Node, Vrrpd, Vrrpd]:
    """r1 (200) and r2 (100) both master behind a partition; the client follows r2."""
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
    return r1, r2, c1, d1, d2


def test_master_reannounces_when_it_hears_the_other_master(lab: Lab) -> None:
    # The heal reaches r1 first: r1 hears r2's lower-priority adverts while r2 hears nothing.
    r1, r2, c1, d1, d2 = _split_brain(lab)
    cap = c1.capture("arp")
    healed = time.time()
    r1.unblock_vrrp()
    d1.wait_counter("gw", "adverts_received", 1, timeout=5)
    # r1 must re-announce at once, or the client would keep sending to r2.
    gs = cap.wait_packets(
        lambda p: bool(wire.garps([p], VIP_ADDR, r1.mac)), 1, 5, "a GARP from r1 after the heal"
    )
    assert float(gs[0].time) - healed < 3.0
    wait_for(lambda: c1.neigh(VIP_ADDR) == r1.mac, 5, what="client back on r1")
    r2.unblock_vrrp()
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert d1.router("gw")["state"] == "MASTER"
    wait_for(lambda: not r2.has_address(VIP_ADDR), 5, what="r2 to release the VIP")
    assert c1.neigh(VIP_ADDR) == r1.mac
    assert c1.ping(VIP_ADDR, timeout=2)
    cap.stop()


def test_clients_return_to_the_winner_when_the_loser_hears_first(lab: Lab) -> None:
    # The heal reaches r2 first: r2 hears r1, steps down and, as a backup, sends nothing more,
    # so r1 never hears a second master. In a symmetric heal this is the order half the time
    # (whoever advertises first after the heal is heard first). Clients that followed r2
    # must still come back to r1 at once: r2 no longer holds the VIP. r2 hands over: it
    # announces the VIP at r1's MAC (ARP sender r1, Ethernet source r2, so the switch keeps
    # r1's MAC on r1's port).
    r1, r2, c1, d1, d2 = _split_brain(lab)
    cap = c1.capture("arp")
    r2.unblock_vrrp()
    d2.wait_state("gw", "BACKUP", timeout=5)
    wait_for(lambda: not r2.has_address(VIP_ADDR), 5, what="r2 to release the VIP")
    healed = time.time()
    r1.unblock_vrrp()
    assert d1.router("gw")["state"] == "MASTER"
    try:
        gs = cap.wait_packets(
            lambda p: bool(_announces(p, VIP_ADDR, r1.mac)),
            1,
            5,
            "a GARP for the VIP at r1's MAC after r2 stepped down",
        )
    except TimeoutError as e:
        raise AssertionError(
            f"{e}; the client still maps the VIP to {c1.neigh(VIP_ADDR)} (r2 = {r2.mac}, "
            f"r1 = {r1.mac}), and r2 no longer holds the VIP; r2's log:\n"
            f"{d2.log_text()[-1500:]}"
        ) from None
    assert float(gs[-1].time) - healed < 5.0
    wait_for(lambda: c1.neigh(VIP_ADDR) == r1.mac, 5, what="client back on r1")
    assert c1.ping(VIP_ADDR, timeout=2)
    cap.stop()


def _announces(packet: object, vip: str, mac: str) -> bool:
    """A gratuitous ARP mapping `vip` to `mac`, whoever sends it."""
    return any(g[ARP].hwsrc == mac for g in wire.garps([packet], vip))
