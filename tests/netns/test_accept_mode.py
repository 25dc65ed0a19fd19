"""Accept mode: with accept_mode = false a non-owner master drops traffic to its VIPs (ARP
still answered) through nftables table `inet vrrpd`, removed on exit; true (vrrpd's default)
accepts; the owner (priority 255) always accepts."""

from __future__ import annotations

from netns_lab.lab import Lab, wait_for
from tests.helpers import VIP_ADDR, master_and_backup, vr

TABLE = ("inet", "vrrpd")


def test_accept_mode_false_drops_traffic_to_the_vip(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=200, accept_mode=False)])
    d1.wait_state("gw", "MASTER", timeout=10)
    assert d1.router("gw")["accept_mode"] is False
    wait_for(lambda: r1.has_address(VIP_ADDR), 5, what="r1 to hold the VIP")
    wait_for(lambda: TABLE in r1.nft_tables(), 5, what="nftables table inet vrrpd on r1")
    assert c1.ping("192.0.2.1", timeout=2), "the router's own address must answer"
    assert not c1.ping(VIP_ADDR, count=2, timeout=1), (
        "a non-owner master with accept_mode = false answered a ping to its VIP; "
        f"ruleset:\n{r1.nft_ruleset()}"
    )
    assert c1.neigh(VIP_ADDR) == r1.mac  # ARP for the VIP is still answered
    assert d1.stop() == 0
    assert TABLE not in r1.nft_tables(), "table inet vrrpd must be removed on exit"


def test_accept_mode_true_by_default_answers_at_the_vip(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=200)])  # accept_mode not given: true in vrrpd
    d1.wait_state("gw", "MASTER", timeout=10)
    assert d1.router("gw")["accept_mode"] is True
    wait_for(lambda: r1.has_address(VIP_ADDR), 5, what="r1 to hold the VIP")
    assert c1.ping(VIP_ADDR, timeout=2)
    assert c1.neigh(VIP_ADDR) == r1.mac


def test_owner_always_accepts(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=255, accept_mode=False)])
    d1.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: r1.has_address(VIP_ADDR), 5, what="r1 to hold the VIP")
    assert c1.ping(VIP_ADDR, timeout=2), f"the owner must accept; ruleset:\n{r1.nft_ruleset()}"


def test_accept_mode_false_follows_the_master_role(lab: Lab) -> None:
    # The backup that takes over drops traffic to the VIP too; the old master, now stopped,
    # leaves no table behind.
    r1, r2, d1, d2 = master_and_backup(lab, accept_mode=False)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    assert d1.stop() == 0
    d2.wait_state("gw", "MASTER", timeout=5)
    wait_for(lambda: r2.has_address(VIP_ADDR), 5, what="r2 to hold the VIP")
    assert TABLE not in r1.nft_tables()
    assert c1.ping("192.0.2.2", timeout=2)
    assert not c1.ping(VIP_ADDR, count=2, timeout=1), r2.nft_ruleset()
    wait_for(lambda: c1.neigh(VIP_ADDR) == r2.mac, 5, what="the client's ARP entry on r2")
