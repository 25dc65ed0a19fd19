"""The core, end to end: real vrrpd processes in namespaces on one bridge.

Bounds are generous (the machine is shared and has two cores); the benchmark in
tools/failover_bench.py measures the real figures.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, VIP_ADDR, master_and_backup, vr
from vrrpd.timing import master_down_interval, skew_time

MARGIN = 1.0  # seconds on top of an RFC bound: scheduling on a loaded 2-core machine


def holds_vip(node: Node) -> bool:
    return any(a.split("/")[0] == VIP_ADDR for a in node.addresses())


def holders(*nodes: Node) -> list[str]:
    return [n.name for n in nodes if holds_vip(n)]


def test_election_by_priority(lab: Lab) -> None:
    nodes = [lab.add_router(f"r{i}", f"192.0.2.{i}/24") for i in (1, 2, 3)]
    prios = {"r1": 120, "r2": 200, "r3": 100}
    daemons = {n.name: n.start_vrrpd([vr(priority=prios[n.name])]) for n in nodes}
    daemons["r2"].wait_state("gw", "MASTER", timeout=10)
    for name in ("r1", "r3"):
        daemons[name].wait_state("gw", "BACKUP", timeout=10)
        wait_for(
            lambda d=daemons[name]: d.router("gw")["master"] == "192.0.2.2",
            10,
            what=f"{name} to see r2 as master",
        )
    wait_for(lambda: holders(*nodes) == ["r2"], 10, what="only r2 to hold the VIP")


def _block_vrrp(node: Node) -> None:
    node.run(
        ["nft", "-f", "-"],
        input="""
        table inet vrrptest {
            chain input { type filter hook input priority 0; ip protocol vrrp drop; }
        }
    """,
    )


def _unblock_vrrp(node: Node) -> None:
    node.run(["nft", "delete", "table", "inet", "vrrptest"])


def test_tie_break_by_higher_primary_address(lab: Lab) -> None:
    # An equal-priority backup never preempts (§6.4.2: priority >= local resets its timer);
    # the address breaks the tie when two masters meet (§6.4.3). Make two masters with a
    # partition, then heal it: the one with the higher primary address must remain.
    nodes = [lab.add_router(f"r{i}", f"192.0.2.{i}/24") for i in (1, 2)]
    for n in nodes:
        _block_vrrp(n)
    d1, d2 = (n.start_vrrpd([vr(priority=100)]) for n in nodes)
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "MASTER", timeout=10)
    assert holders(*nodes) == ["r1", "r2"]  # split brain, as the partition demands
    for n in nodes:
        _unblock_vrrp(n)
    d1.wait_state("gw", "BACKUP", timeout=10)
    assert d2.router("gw")["state"] == "MASTER"
    assert "reason=higher-priority-seen" in d1.log_text()
    wait_for(lambda: holders(*nodes) == ["r2"], 10, what="only r2 (higher address) to hold the VIP")


def _converged_pair(lab: Lab, interval: float) -> tuple[Node, Node, Vrrpd, Vrrpd]:
    return master_and_backup(lab, 15, advert_interval=interval)


def test_hard_failover_within_master_down_interval(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 1.0)
    bound = float(master_down_interval(100, 100, 3))  # 3.609375 s
    killed = time.monotonic()
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=bound + MARGIN)
    took = time.monotonic() - killed
    assert took <= bound + MARGIN
    assert "reason=master-down" in d2.log_text()
    # A SIGKILLed master cannot remove its VIP: both hold it until r1's daemon comes back.
    assert holders(r1, r2) == ["r1", "r2"]


def test_graceful_failover_within_skew_time(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 1.0)
    bound = float(skew_time(100, 100, 3))  # 0.609 s, far below Master_Down_Interval 3.6 s
    stopped = time.monotonic()
    d1.process.send_signal(signal.SIGTERM)
    d2.wait_state("gw", "MASTER", timeout=bound + MARGIN)
    took = time.monotonic() - stopped
    assert took <= bound + MARGIN < float(master_down_interval(100, 100, 3))
    assert d1.process.wait(timeout=10) == 0
    assert "reason=priority-0" in d2.log_text()
    assert d2.router("gw")["counters"]["priority0_received"] >= 1
    wait_for(lambda: holders(r1, r2) == ["r2"], 5, what="r1 to have removed its VIP")


def test_sigint_also_releases(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 0.1)
    d1.process.send_signal(signal.SIGINT)
    assert d1.process.wait(timeout=10) == 0
    d2.wait_state("gw", "MASTER", timeout=5)
    wait_for(lambda: holders(r1, r2) == ["r2"], 5, what="only r2 to hold the VIP")


def test_preemption_when_higher_priority_returns(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 0.1)
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    d1 = r1.start_vrrpd([vr(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    assert "reason=preempted" in d1.log_text()
    assert "reason=higher-priority-seen" in d2.log_text()
    # The restarted daemon removed the VIP its killed predecessor left, then won it back:
    wait_for(lambda: holders(r1, r2) == ["r1"], 10, what="only r1 to hold the VIP")


def test_no_preemption_when_preempt_false(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 0.1)
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    d1 = r1.start_vrrpd([vr(priority=200, preempt=False)])
    d1.wait_state("gw", "BACKUP", timeout=10)
    # Stay a backup across many Master_Down_Intervals (0.36 s each) of r2's adverts.
    wait_for(
        lambda: d1.router("gw")["counters"]["adverts_received"] >= 30,
        20,
        what="r1 to receive 30 adverts from r2",
    )
    assert d1.router("gw")["state"] == "BACKUP"
    assert d1.router("gw")["master"] == "192.0.2.2"
    assert d2.router("gw")["state"] == "MASTER"
    assert holders(r1, r2) == ["r2"]


def test_owner_takes_over_at_once(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    d2 = r2.start_vrrpd([vr(priority=100, advert_interval=1.0)])
    d2.wait_state("gw", "MASTER", timeout=15)
    started = time.monotonic()
    d1 = r1.start_vrrpd([vr(priority=255, advert_interval=1.0)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    assert "reason=owner" in d1.log_text()
    # Owner: no Master_Down_Interval wait (3.6 s at this interval), master right after start.
    assert time.monotonic() - started < float(master_down_interval(255, 100, 3)) + 3
    wait_for(lambda: holders(r1, r2) == ["r1"], 10, what="only r1 to hold the VIP")


def test_client_arp_entry_moves_to_new_master(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 0.1)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    c1.run(["ping", "-c", "1", "-W", "2", VIP_ADDR])
    assert c1.neigh(VIP_ADDR) == r1.mac
    capture = lab.workdir / "c1-arp.pcap"
    dump = c1.popen(
        ["tcpdump", "-i", "eth0", "-U", "-n", "-w", str(capture), "arp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(
        lambda: capture.exists() and capture.stat().st_size > 0, 10, what="tcpdump to start writing"
    )
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    # No traffic from the client: only r2's gratuitous ARP can move the entry.
    wait_for(lambda: c1.neigh(VIP_ADDR) == r2.mac, 5, what="client ARP entry to move to r2")
    wait_for(lambda: len(_garps(capture, r2.mac)) >= 5, 5, what="5 gratuitous ARPs from r2")
    dump.terminate()
    dump.wait(timeout=10)


def _garps(pcap: Path, mac: str) -> list[object]:
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import rdpcap

    try:
        frames = rdpcap(str(pcap))
    except Exception:  # the capture is still being written
        return []
    return [
        f
        for f in frames
        if ARP in f
        and f[ARP].op == 1
        and f[ARP].psrc == VIP_ADDR == f[ARP].pdst
        and f[ARP].hwsrc == mac
        and f[Ether].dst == "ff:ff:ff:ff:ff:ff"
    ]


def test_ttl_64_and_bad_checksum_discarded_and_counted(lab: Lab) -> None:
    # Without the kernel filter, which would drop TTL 64 uncounted (test_kernel_filter.py).
    _r1, _r2, d1, d2 = master_and_backup(lab, 15, NO_KERNEL_FILTER, advert_interval=0.1)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    # A priority-254 advert would take mastership from r1 (200) if it were accepted.
    c1.inject(3, addresses=[VIP_ADDR], priority=254, ttl=64)
    c1.inject(2, addresses=[VIP_ADDR], priority=254, checksum="bad")
    for d in (d1, d2):
        wait_for(
            lambda d=d: d.router("gw")["counters"]["discard_ttl"] == 3, 5, what="3 TTL discards"
        )
        wait_for(
            lambda d=d: d.router("gw")["counters"]["discard_checksum"] == 2,
            5,
            what="2 checksum discards",
        )
    assert d1.router("gw")["state"] == "MASTER"
    assert d2.router("gw")["master"] == "192.0.2.1"
    # The same advert with TTL 255 and a good checksum *is* accepted: the test can fail.
    c1.inject(1, addresses=[VIP_ADDR], priority=254)
    wait_for(
        lambda: d1.router("gw")["state"] == "BACKUP",
        5,
        what="r1 to yield to the valid priority-254 advert",
    )


def test_restart_after_sigkill_leaves_one_vip_holder(lab: Lab) -> None:
    r1, r2, d1, d2 = _converged_pair(lab, 0.1)
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
    assert holders(r1, r2) == ["r1", "r2"]  # the killed daemon's VIP is still there
    d1 = r1.start_vrrpd([vr(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    wait_for(lambda: holders(r1, r2) == ["r1"], 10, what="exactly one VIP holder")
    assert "removed stale virtual address" in d1.log_text()


def test_vip_removed_by_hand_is_put_back(lab: Lab) -> None:
    r1, _r2, d1, _d2 = _converged_pair(lab, 0.1)
    wait_for(lambda: holds_vip(r1), 5, what="r1 to hold the VIP")
    r1.run(["ip", "addr", "del", "192.0.2.254/24", "dev", "eth0"])
    wait_for(lambda: holds_vip(r1), 5, what="r1 to put the VIP back")
    assert "putting it back" in d1.log_text()


def test_start_up_errors_are_one_clear_line(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    bad = r1.start_vrrpd([vr(interface="nosuch0")])
    assert bad.process.wait(timeout=15) == 1
    assert "vrrpd: interface nosuch0 does not exist" in bad.log_text()
    assert "Traceback" not in bad.log_text()

    bare = lab.add_router("r2", None)  # an interface with no IPv4 address of its own
    none = bare.start_vrrpd([vr()])
    assert none.process.wait(timeout=15) == 1
    assert "interface eth0: no IPv4 address of its own" in none.log_text()


def test_second_daemon_on_the_same_socket_refuses_and_touches_nothing(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    first = r1.start_vrrpd([vr(priority=200)])
    first.wait_state("gw", "MASTER", timeout=10)
    conf = lab.workdir / "r1.toml"  # the same file, so the same control socket
    second = r1.run([sys.executable, "-m", "vrrpd", "--config", str(conf)], check=False)
    assert second.returncode == 1
    assert "in use by another vrrpd" in second.stderr
    # The running daemon keeps its VIP and its control socket.
    assert holds_vip(r1)
    assert first.router("gw")["state"] == "MASTER"
