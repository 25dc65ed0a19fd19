"""Election across implementations: address tie-break, hard failover and preemption back,
no preemption; vrrpd in r1, keepalived in r2, a client in c1, VRRPv3 over IPv4.

Hard failures are a SIGKILL of the master's daemon (keepalived: both processes, see
`Keepalived.crash`) and its link taken down, so the stale VIP the dead daemon leaves behind is
unreachable; the returning router (link up, daemon restarted with the higher priority) must
remove that stale VIP and preempt.
"""

from __future__ import annotations

import pytest

from netns_lab.keepalived import Keepalived, start_keepalived
from netns_lab.lab import Lab, Node, Vrrpd
from tests.interop.conftest import (
    KA_NAME,
    VIP,
    VR_NAME,
    assert_client_reaches,
    assert_keepalived_clean,
    assert_vrrpd_clean,
    describe,
    holder_nodes,
    holders,
    ka,
    run_log,
    vr,
    wait_ka_state,
    wait_keepalived_heard_vrrpd,
    wait_single_holder,
    wait_vrrpd_heard_keepalived,
    wait_vrrpd_state,
)

pytestmark = [pytest.mark.netns, pytest.mark.interop]


@pytest.mark.parametrize("higher_address", ["vrrpd", "keepalived"])
def test_tie_break_by_primary_address(lab: Lab, higher_address: str) -> None:
    # An equal-priority backup never preempts a running master (RFC 5798 §6.4.2); the address
    # breaks the tie when two masters meet (§6.4.3). Make two masters with a partition (every
    # router drops incoming VRRP), then heal it: the higher primary address must remain.
    vrrpd_addr, ka_addr = (
        ("192.0.2.2", "192.0.2.1") if higher_address == "vrrpd" else ("192.0.2.1", "192.0.2.2")
    )
    r1 = lab.add_router("r1", f"{vrrpd_addr}/24")
    r2 = lab.add_router("r2", f"{ka_addr}/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    routers = [r1, r2]
    for n in routers:
        n.block_vrrp()
    d = r1.start_vrrpd([vr(priority=100)])
    k = start_keepalived(r2, [ka(priority=100)])
    wait_vrrpd_state(d, "MASTER", k)
    wait_ka_state(k, "MASTER", d)
    assert holder_nodes(routers, VIP) == ["r1", "r2"], "the partition must make two masters"
    ka_backups = k.transitions(KA_NAME, "BACKUP")

    for n in routers:
        n.unblock_vrrp()
    if higher_address == "vrrpd":
        wait_ka_state(k, "BACKUP", d)
        wait_single_holder(routers, VIP, r1, d, k)
        assert d.router(VR_NAME)["state"] == "MASTER", describe(d, k)
        assert "reason=higher-priority-seen" not in run_log(d), describe(d, k)
        assert_client_reaches(c1, VIP, r1, d, k)
        wait_keepalived_heard_vrrpd(k, d, adverts=8)
        assert_vrrpd_clean(d, k)
    else:
        wait_vrrpd_state(d, "BACKUP", k)
        assert "reason=higher-priority-seen" in run_log(d), describe(d, k)
        wait_single_holder(routers, VIP, r2, d, k)
        assert k.state(KA_NAME) == "MASTER", describe(d, k)
        assert k.transitions(KA_NAME, "BACKUP") == ka_backups, describe(d, k)
        assert d.router(VR_NAME)["master"] == ka_addr
        assert_client_reaches(c1, VIP, r2, d, k)
        wait_vrrpd_heard_keepalived(d, k, adverts=8)
        assert_keepalived_clean(k, d)


def _converged(lab: Lab, *, vrrpd_wins: bool) -> tuple[Node, Node, Node, Vrrpd, Keepalived]:
    """vrrpd in r1, keepalived in r2, the winner at priority 200 and the other at 100: wait
    until the winner is master and the other its backup, only the winner holds the VIP, the
    client reaches it and the backup heard 8 of its adverts."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d = r1.start_vrrpd([vr(priority=200 if vrrpd_wins else 100)])
    k = start_keepalived(r2, [ka(priority=100 if vrrpd_wins else 200)])
    if vrrpd_wins:
        wait_vrrpd_state(d, "MASTER", k)
        wait_ka_state(k, "BACKUP", d)
    else:
        wait_ka_state(k, "MASTER", d)
        wait_vrrpd_state(d, "BACKUP", k)
    winner = r1 if vrrpd_wins else r2
    wait_single_holder([r1, r2], VIP, winner, d, k)
    assert_client_reaches(c1, VIP, winner, d, k)
    if vrrpd_wins:
        wait_keepalived_heard_vrrpd(k, d, adverts=8)
    else:
        wait_vrrpd_heard_keepalived(d, k, adverts=8)
    return r1, r2, c1, d, k


def test_hard_failover_vrrpd_killed_then_preempts_back(lab: Lab) -> None:
    r1, r2, c1, d, k = _converged(lab, vrrpd_wins=True)
    routers = [r1, r2]

    # Hard failure of the master: SIGKILL (no priority 0), then its link goes down.
    d.kill()
    r1.link_set(False)
    wait_ka_state(k, "MASTER", d)
    assert not any("priority 0" in line for line in k.log_lines()), describe(d, k)
    assert any("Receive advertisement timeout" in line for line in k.log_lines()), describe(d, k)
    wait_single_holder(routers, VIP, r2, d, k, up_only=True)
    # A SIGKILLed daemon cannot remove its VIP: it stays on r1's (down) link.
    assert holder_nodes(routers, VIP) == ["r1", "r2"], holders(routers, VIP)
    assert_client_reaches(c1, VIP, r2, d, k)

    # r1 returns with the higher priority: vrrpd removes the stale VIP, hears keepalived's
    # lower-priority adverts and preempts; keepalived steps back.
    r1.link_set(True)
    d = r1.start_vrrpd([vr(priority=200)])
    wait_vrrpd_state(d, "MASTER", k)
    assert "reason=preempted" in run_log(d), describe(d, k)
    wait_ka_state(k, "BACKUP", d)
    wait_single_holder(routers, VIP, r1, d, k)
    assert_client_reaches(c1, VIP, r1, d, k)
    counters = assert_vrrpd_clean(d, k)
    assert counters["adverts_received"] > 0, f"vrrpd never heard keepalived as master {counters}"
    wait_keepalived_heard_vrrpd(k, d, adverts=8)


def test_hard_failover_keepalived_crash_then_preempts_back(lab: Lab) -> None:
    r1, r2, c1, d, k = _converged(lab, vrrpd_wins=False)
    routers = [r1, r2]

    # Hard failure of the master: keepalived's VRRP child and parent SIGKILLed, link down.
    k.crash()
    r2.link_set(False)
    row = wait_vrrpd_state(d, "MASTER", k)
    assert "reason=master-down" in run_log(d), describe(d, k)
    assert row["counters"]["priority0_received"] == 0, row["counters"]
    wait_single_holder(routers, VIP, r1, d, k, up_only=True)
    assert holder_nodes(routers, VIP) == ["r1", "r2"], holders(routers, VIP)
    assert_client_reaches(c1, VIP, r1, d, k)

    # r2 returns: keepalived removes its stale VIP at start-up, hears vrrpd's lower priority
    # and preempts; vrrpd steps back.
    r2.link_set(True)
    k = start_keepalived(r2, [ka(priority=200)])
    wait_ka_state(k, "MASTER", d)
    wait_vrrpd_state(d, "BACKUP", k)
    assert "reason=higher-priority-seen" in run_log(d), describe(d, k)
    wait_single_holder(routers, VIP, r2, d, k)
    assert_client_reaches(c1, VIP, r2, d, k)
    wait_vrrpd_heard_keepalived(d, k, adverts=8)
    assert_keepalived_clean(k, d)


@pytest.mark.parametrize("returning", ["vrrpd", "keepalived"])
def test_no_preemption(lab: Lab, returning: str) -> None:
    # The higher-priority router comes up with preemption off while the lower one is master:
    # it must stay backup (RFC 5798 §6.4.2: Preempt_Mode false, accept the master's advert).
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    routers = [r1, r2]
    if returning == "keepalived":
        d = r1.start_vrrpd([vr(priority=100)])
        wait_vrrpd_state(d, "MASTER")
        k = start_keepalived(r2, [ka(priority=200, nopreempt=True)])
        wait_ka_state(k, "BACKUP", d)
        wait_keepalived_heard_vrrpd(k, d, adverts=15)
        assert k.transitions(KA_NAME, "MASTER") == 0, describe(d, k)
        wait_single_holder(routers, VIP, r1, d, k)
        assert_client_reaches(c1, VIP, r1, d, k)
    else:
        k = start_keepalived(r2, [ka(priority=100)])
        wait_ka_state(k, "MASTER")
        d = r1.start_vrrpd([vr(priority=200, preempt=False)])
        wait_vrrpd_state(d, "BACKUP", k)
        wait_vrrpd_heard_keepalived(d, k, adverts=15)
        assert "-> MASTER" not in run_log(d), describe(d, k)
        wait_single_holder(routers, VIP, r2, d, k)
        assert_client_reaches(c1, VIP, r2, d, k)
