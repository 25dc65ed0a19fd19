"""After SIGKILL (issue 10): a killed vrrpd leaves the accept_mode nft table (dropping traffic
to the VIPs), the virtual MAC's macvlan with its VIP, and the parent's ARP sysctls as it set
them. The record next to the control socket (`<control_socket>.record`) says what to undo:
at the next start, at the clean stop after it (the parent's own values, not the ones the
killed daemon set), or with `vrrpd --cleanup` (systemd's ExecStopPost) without a restart.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import VIP_ADDR, vr
from vrrpd.io.addrrecord import path_for

TABLE = ("inet", "vrrpd")
# The router that leaves everything behind: the VIP on a macvlan, traffic to it dropped.
VMAC_DROP = vr(priority=200, use_vmac=True, accept_mode=False)
PLAIN_VIP = "192.0.2.253/24"  # a second router's, on eth0 itself (no virtual MAC)
PLAIN = vr(name="plain", vrid=52, priority=200, virtual_ips=[PLAIN_VIP])


def arp(node: Node) -> tuple[str, str]:
    return node.conf_sysctl("eth0", "arp_ignore"), node.conf_sysctl("eth0", "arp_announce")


def running_master(lab: Lab, routers: Sequence[Mapping[str, Any]]) -> tuple[Node, Vrrpd, str]:
    """r1 with arp_ignore = arp_announce = 0 on eth0, then vrrpd master of `routers` (the
    first with the virtual MAC); returns the node, the daemon and the macvlan's name."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r1.set_sysctl("net.ipv4.conf.eth0.arp_ignore", 0)
    r1.set_sysctl("net.ipv4.conf.eth0.arp_announce", 0)
    d1 = r1.start_vrrpd(routers)
    d1.wait_states({r["name"]: "MASTER" for r in routers}, timeout=10)
    macvlan = str(wait_for(lambda: d1.router("gw").get("vmac"), 5, what="the macvlan"))
    wait_for(lambda: r1.holders_of(VIP_ADDR) == [macvlan], 5, what="the VIP on the macvlan")
    wait_for(lambda: TABLE in r1.nft_tables(), 5, what="table inet vrrpd")
    wait_for(lambda: arp(r1) == ("1", "2"), 5, what="eth0's ARP sysctls set by vrrpd")
    return r1, d1, macvlan


def killed_master(lab: Lab, routers: Sequence[Mapping[str, Any]]) -> tuple[Node, Vrrpd, str]:
    """`running_master`, then SIGKILL: everything it changed is still there."""
    r1, d1, macvlan = running_master(lab, routers)
    assert d1.kill() == -9
    assert TABLE in r1.nft_tables() and r1.link(macvlan) is not None and arp(r1) == ("1", "2")
    assert path_for(d1.socket_path).exists(), "the record outlives the daemon"
    return r1, d1, macvlan


def assert_nothing_left(r1: Node, d: Vrrpd, macvlan: str) -> None:
    assert arp(r1) == ("0", "0"), "eth0's own ARP sysctls, not the ones vrrpd set"
    assert TABLE not in r1.nft_tables(), r1.nft_ruleset()
    assert r1.link(macvlan) is None
    assert [link["ifname"] for link in r1.links() if link["kind"] == "macvlan"] == []
    assert not r1.holders_of(VIP_ADDR) and not r1.holders_of(PLAIN_VIP), r1.all_addresses()
    assert not path_for(d.socket_path).exists(), "nothing left to undo: no record"


def cleanup(node: Node, d: Vrrpd) -> subprocess.CompletedProcess[str]:
    """`vrrpd --cleanup` on the daemon's configuration file, in its namespace."""
    argv = [sys.executable, "-m", "vrrpd", "--cleanup", str(d.config_path)]
    proc = node.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, "")


def test_restart_after_sigkill_then_stop_gives_the_parent_its_own_arp_sysctls(lab: Lab) -> None:
    r1, _, macvlan = killed_master(lab, [VMAC_DROP])
    d2 = r1.start_vrrpd([VMAC_DROP])
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: r1.holders_of(VIP_ADDR) == [macvlan], 5, what="the VIP on the macvlan")
    assert TABLE in r1.nft_tables() and arp(r1) == ("1", "2")
    assert d2.stop() == 0
    assert_nothing_left(r1, d2, macvlan)


def test_a_restart_without_accept_mode_or_vmac_undoes_them_at_start(lab: Lab) -> None:
    r1, _, macvlan = killed_master(lab, [VMAC_DROP])
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d2 = r1.start_vrrpd([vr(priority=200)])  # accept_mode true, the VIP on eth0
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: r1.holders_of(VIP_ADDR) == ["eth0"], 5, what="the VIP on eth0 only")
    assert TABLE not in r1.nft_tables(), r1.nft_ruleset()
    assert r1.link(macvlan) is None
    assert arp(r1) == ("0", "0")
    assert c1.ping(VIP_ADDR, timeout=3), "traffic to the VIP is no longer dropped"
    assert d2.stop() == 0
    assert_nothing_left(r1, d2, macvlan)


def test_cleanup_after_sigkill_undoes_everything_without_a_restart(lab: Lab) -> None:
    r1, d1, macvlan = killed_master(lab, [VMAC_DROP, PLAIN])
    assert r1.holders_of(PLAIN_VIP) == ["eth0"], "the killed daemon's VIP on eth0 stays"
    done = cleanup(r1, d1)
    assert done.returncode == 0, done.stdout
    assert "restored net.ipv4.conf.eth0.arp_ignore to 0" in done.stdout, done.stdout
    assert_nothing_left(r1, d1, macvlan)
    again = cleanup(r1, d1)  # ExecStopPost runs after every stop, a clean one too
    assert again.returncode == 0, again.stdout
    assert "restored" not in again.stdout and "removed" not in again.stdout, again.stdout


def test_cleanup_refuses_while_the_daemon_runs(lab: Lab) -> None:
    r1, d1, macvlan = running_master(lab, [VMAC_DROP])
    refused = cleanup(r1, d1)
    assert refused.returncode == 1, refused.stdout
    assert "in use by another vrrpd" in refused.stdout, refused.stdout
    assert TABLE in r1.nft_tables() and r1.link(macvlan) is not None and arp(r1) == ("1", "2")
    assert d1.router("gw")["state"] == "MASTER"
    assert d1.stop() == 0
    assert_nothing_left(r1, d1, macvlan)
