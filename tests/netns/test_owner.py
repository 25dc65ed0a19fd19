"""The RFC 5798 address owner keeps its address: vrrpd never adds or removes a host's own
address, at start, while running, on SIGTERM, or after a SIGKILL and restart.

r1 has 192.0.2.1/24 on eth0 and runs `gw` with priority 255 and virtual_ips ["192.0.2.1/24"]
(§5.2.4, §6.4.1: the owner); r2 (192.0.2.2, priority 100) backs it up. The address on r1 is
sampled every 10 ms, and every netlink address event on eth0 is recorded (`AddressSampler`),
from before vrrpd starts until the end. A non-owner's VIP left by a SIGKILL is still removed
at the next start (stale clean-up), and an unrelated secondary address is left alone.
"""

from __future__ import annotations

import time

import pytest

from netns_lab.lab import ControlError, Lab, Node, Vrrpd, wait_for
from tests.helpers import VIP, VIP_ADDR, vr
from tests.netns.test_operations import R1, R2, transitions_logged
from tests.netns.test_reload_in_place import AddressSampler
from vrrpd.types import OWNER_PRIORITY

pytestmark = pytest.mark.netns

INTERVAL = 0.1
OWNED = f"{R1}/24"  # r1's own address, and the owner's virtual address
START_MARK = "--- netns_lab: starting vrrpd"


def owner_table() -> dict[str, object]:
    return vr(priority=OWNER_PRIORITY, virtual_ips=[OWNED], advert_interval=INTERVAL)


def backup_table() -> dict[str, object]:
    return vr(priority=100, virtual_ips=[OWNED], advert_interval=INTERVAL)


def last_run_transitions(d: Vrrpd) -> list[tuple[str, str, str]]:
    """`transitions_logged` of the latest start only (the lab appends every run to one log)."""
    text = d.log_text()
    earlier = text[: text.rindex(START_MARK)].count(" gw: state ")
    return transitions_logged(d)[earlier:]


def wait_master_or_exit(d: Vrrpd, timeout: float = 15) -> None:
    """Poll until `gw` is MASTER or the daemon has exited (the callers assert which)."""

    def settled() -> bool:
        if not d.alive:
            return True
        try:
            return d.router("gw")["state"] == "MASTER"
        except (ControlError, KeyError):
            return False

    wait_for(settled, timeout, what=f"{d.node.name}/gw to be MASTER (or vrrpd to exit)")


def assert_kept(sampler: AddressSampler, since: float, what: str, d: Vrrpd) -> None:
    lost = sampler.without(R1, since)
    said = [line for line in d.log_text().splitlines() if R1 in line]
    assert not lost, (
        f"{R1}, r1's own address (the owner's), left r1's eth0 {lost[0] - since:.3f} s after "
        f"{what} ({len(lost)} samples/events without it); vrrpd's log about it: {said[-3:]}"
    )


def assert_owner_master(d: Vrrpd, how: str) -> None:
    assert d.alive, (
        f"the owner's vrrpd exited ({how}), code {d.returncode}:\n{d.log_text()[-3000:]}"
    )
    row = d.router("gw")
    assert (row["state"], row["effective_priority"]) == ("MASTER", OWNER_PRIORITY), row
    assert last_run_transitions(d) == [("INITIALIZE", "MASTER", "owner")], (
        f"the owner must become MASTER at once, reason owner ({how}): {last_run_transitions(d)}"
    )


def owner_started(lab: Lab) -> tuple[Node, AddressSampler, Vrrpd, float]:
    """r1 with its sampler running, then the owner's vrrpd started and settled."""
    r1 = lab.add_router("r1", OWNED)
    sampler = AddressSampler(r1)
    sampler.wait_started()
    start = time.monotonic()
    d1 = r1.start_vrrpd([owner_table()])
    wait_master_or_exit(d1)
    return r1, sampler, d1, start


def test_owner_keeps_its_address_at_start_while_running_and_across_a_backup_restart(
    lab: Lab,
) -> None:
    r1, sampler, d1, start = owner_started(lab)
    assert_kept(sampler, start, "the owner's vrrpd started", d1)
    assert_owner_master(d1, "at start")
    assert r1.has_address(R1)
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d2 = r2.start_vrrpd([backup_table()])
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow the owner r1")
    assert not r2.has_address(R1)
    assert c1.ping(R1), "the client cannot reach the owner's address"
    # Running for a while (2 s of adverts), then r2 restarts: the owner stays as it is.
    d2.wait_counter("gw", "adverts_received", 20, timeout=15)
    assert d2.stop() == 0
    d2 = r2.start_vrrpd([backup_table()])
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow r1 again")
    d2.wait_counter("gw", "adverts_received", 10, timeout=15)
    sampler.stop()
    assert_kept(sampler, start, "the owner's vrrpd started", d1)
    n = len([t for t, _ in sampler.samples() if t >= start])
    print(f"owner running: {n} address samples, {len(sampler.events())} address events")
    assert n >= 100, f"too few address samples: {n}"
    row = d1.router("gw")
    assert (row["state"], row["transitions"]) == ("MASTER", 1), row
    assert not r2.has_address(R1)
    assert c1.ping(R1), "the client cannot reach the owner's address"


def test_owner_keeps_its_address_on_sigterm(lab: Lab) -> None:
    r1, sampler, d1, start = owner_started(lab)
    assert_kept(sampler, start, "the owner's vrrpd started", d1)
    assert_owner_master(d1, "at start")
    r2 = lab.add_router("r2", f"{R2}/24")
    d2 = r2.start_vrrpd([backup_table()])
    d2.wait_state("gw", "BACKUP", timeout=15)
    stopped = time.monotonic()
    assert d1.stop() == 0, f"the owner's vrrpd exited {d1.returncode}:\n{d1.log_text()[-3000:]}"
    # r2 hears the owner's priority-0 advert and, being configured for 192.0.2.1, takes over
    # as the RFC says: it becomes MASTER and adds 192.0.2.1 to its own eth0, a duplicate of the
    # address r1 keeps (the owner's address is the host's). That is the configuration's doing,
    # not asserted here; only r1's side is. A short window (10 adverts from whoever is master
    # now, or 3 s) lets a late removal on r1 show.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            if d2.counters("gw")["adverts_sent"] >= 10:
                break
        except (ControlError, KeyError):
            pass
        time.sleep(0.05)
    sampler.stop()
    print(
        f"after r1's SIGTERM r2 is {d2.router('gw')['state']}; r2 holds {R1}: {r2.has_address(R1)}"
    )
    assert_kept(sampler, stopped, "SIGTERM", d1)
    assert r1.has_address(R1), f"{R1} is gone from r1 after the owner's vrrpd stopped"


def test_owner_keeps_its_address_across_sigkill_and_restart(lab: Lab) -> None:
    r1, sampler, d1, start = owner_started(lab)
    assert_kept(sampler, start, "the owner's vrrpd started", d1)
    assert_owner_master(d1, "at start")
    assert d1.kill() == -9
    assert r1.has_address(R1)
    restart = time.monotonic()
    d1 = r1.start_vrrpd([owner_table()])
    wait_master_or_exit(d1)
    assert_kept(sampler, restart, "the owner's vrrpd restarted after a SIGKILL", d1)
    assert_owner_master(d1, "after a SIGKILL and restart")
    assert "stale" not in d1.log_text().split(START_MARK)[-1], d1.log_text()[-2000:]
    d1.wait_counter("gw", "adverts_sent", 10, timeout=15)
    sampler.stop()
    assert_kept(sampler, start, "the owner's vrrpd started", d1)
    assert r1.has_address(R1)


def test_stale_vip_of_a_non_owner_removed_at_start_other_addresses_kept(lab: Lab) -> None:
    r1 = lab.add_router("r1", f"{R1}/24")
    d1 = r1.start_vrrpd([vr(priority=100, advert_interval=INTERVAL)])
    d1.wait_state("gw", "MASTER", timeout=15)
    wait_for(lambda: r1.has_address(VIP_ADDR), 10, what="r1 to hold the VIP")
    d1.kill()
    assert r1.has_address(VIP_ADDR), "a SIGKILLed vrrpd cannot remove its VIP"
    # An address vrrpd has nothing to do with (a secondary in the same subnet).
    r1.run(["ip", "addr", "add", "192.0.2.77/24", "dev", "eth0"])
    # r2 (priority 200) is master now; r1 restarts as its backup, so it must not hold the VIP.
    r2 = lab.add_router("r2", f"{R2}/24")
    d2 = r2.start_vrrpd([vr(priority=200, advert_interval=INTERVAL)])
    d2.wait_state("gw", "MASTER", timeout=15)
    sampler = AddressSampler(r1)
    sampler.wait_started()
    restart = time.monotonic()
    d1 = r1.start_vrrpd([vr(priority=100, advert_interval=INTERVAL)])
    d1.wait_state("gw", "BACKUP", timeout=15)
    d1.wait_counter("gw", "adverts_received", 10, timeout=15)
    sampler.stop()
    assert not r1.has_address(VIP_ADDR), "the stale VIP stayed on r1"
    assert f"removed stale virtual address {VIP}" in d1.log_text()
    for kept in (R1, "192.0.2.77"):
        gone = sampler.without(kept, restart)
        assert not gone, f"{kept} left r1's eth0 during the restart (not vrrpd's to remove)"
        assert r1.has_address(kept)
    assert last_run_transitions(d1) == [("INITIALIZE", "BACKUP", "startup")]


def test_unmarked_leftover_of_a_non_owner_is_removed_with_a_warning(lab: Lab) -> None:
    """keepalived (or a vrrpd from before the address mark) killed hard leaves the VIP with
    no mark of vrrpd's: a non-owner cannot own it (RFC 5798 §1), so it goes at start."""
    r1 = lab.add_router("r1", f"{R1}/24")
    r1.run(["ip", "addr", "add", VIP, "dev", "eth0"])  # what keepalived leaves: proto 0
    r2 = lab.add_router("r2", f"{R2}/24")
    d2 = r2.start_vrrpd([vr(priority=200, advert_interval=INTERVAL)])
    d2.wait_state("gw", "MASTER", timeout=15)
    d1 = r1.start_vrrpd([vr(priority=100, advert_interval=INTERVAL)])
    d1.wait_state("gw", "BACKUP", timeout=15)
    assert not r1.has_address(VIP_ADDR), "the leftover VIP stayed on the backup"
    assert r1.has_address(R1)
    assert f"removed virtual address {VIP} found at start-up without vrrpd's mark" in (
        d1.log_text()
    )


def test_a_non_owner_listing_the_hosts_only_address_is_refused(lab: Lab) -> None:
    """priority 100 with r1's own (primary) address as its VIP: one clear line, exit 1, and
    the address stays (removing it would cut the host off; keeping it, every node would
    answer for it)."""
    r1 = lab.add_router("r1", f"{R1}/24")
    d1 = r1.start_vrrpd([backup_table()])
    wait_for(lambda: not d1.alive, 15, what="vrrpd to refuse the configuration")
    assert d1.returncode == 1
    assert (
        f"interface eth0: {R1} is on it without vrrpd's mark: if it is the host's own address, "
        "only the address owner (priority = 255) may list it in virtual_ips; if a stopped "
        f"keepalived or vrrpd left it, remove it (ip addr del {R1} dev eth0)"
    ) in d1.log_text()
    assert r1.has_address(R1)
