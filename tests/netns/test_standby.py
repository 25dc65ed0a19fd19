"""Hot standby with conntrackd on real processes: the recipe of examples/conntrackd/ (the very
files, paths and addresses rewritten per lab node) on two stateful gateways running vrrpd, a
client network and a server network (`netns_lab.standby`: strict nftables, tcp_loose 0 read
back, SNAT to the outside VIP, a sync link).

Five long-lived TCP connections (64 bytes every 5 ms each way, byte counters) run from the
client through the master g1 to the server; g1 fails hard (cut off its three segments at once,
vrrpd and conntrackd SIGKILLed) and g2 takes over.

* With conntrackd and `before_master` committing: every connection keeps flowing, g2 drops
  no packet as invalid (the commit landed before the addresses), and no connection stalls
  longer than the takeover (to g2's first gratuitous ARP) plus a margin.
* Warm (the service running on g2, its takeover_gate checking it): new requests answered as
  soon as the address arrives, no connection kept. Cold (the service started by on_master):
  answered only once it has started, no connection kept.
* Without conntrackd (the control): no connection comes back, and g2 drops their packets as
  invalid. This is what proves the first test can fail.
"""

from __future__ import annotations

import pytest

from netns_lab.lab import Lab, check_config, wait_for
from netns_lab.standby import EXAMPLES, NEED, StandbyLab, conntrackd_conf

pytestmark = pytest.mark.netns

N = 5
STALL_MARGIN = 0.5  # seconds past the takeover a connection may stay silent (2 busy cores)


def test_hot_standby_keeps_every_connection_and_drops_nothing(lab: Lab) -> None:
    sb = StandbyLab(lab, "hot", connections=N)
    sb.start()
    run = sb.failover()
    assert len(run.streams) == N
    assert [s.error for s in run.streams] == [None] * N
    assert run.kept == N, run.streams
    assert all(s.bytes_after >= NEED for s in run.streams), run.streams
    # the commit came before the addresses: nothing reached g2 without its connection
    assert run.invalid == 0, f"g2 dropped {run.invalid} packets as invalid"
    assert run.takeover is not None, "no gratuitous ARP of g2 seen by the client"
    assert run.stall <= run.takeover + STALL_MARGIN, (run.stall, run.takeover)
    assert len(run.before_master_ms) == 2, run.before_master_ms  # one per virtual router
    log = sb.vrrpd["g2"].log_text()
    assert "before_master failed" not in log
    # the group's on_master ran the rest of the sequence: the caches flushed after the commit
    wait_for(lambda: sb.external("g2") == 0, 10, what="g2's external cache flushed")


def test_without_conntrackd_no_connection_survives(lab: Lab) -> None:
    sb = StandbyLab(lab, "none", connections=N, window=2.0)
    sb.start()
    run = sb.failover()
    assert len(run.streams) == N
    assert run.kept == 0, run.streams
    # each one reset, or silent for the whole window after the takeover
    assert all(s.error is not None or s.stall >= 2.0 for s in run.streams), run.streams
    assert run.invalid > 0


def test_warm_standby_answers_new_requests_at_once_but_keeps_no_connection(lab: Lab) -> None:
    # The service runs on g2 and its takeover_gate checks it; no conntrack sync.
    sb = StandbyLab(lab, "warm", connections=N, window=2.0)
    sb.start()
    run = sb.failover()
    assert run.kept == 0, run.streams  # no replicated state: the connections are gone
    assert run.takeover is not None and run.requests.back is not None, run
    # Answered as soon as the address arrived: the gate ran ahead of need.
    assert run.requests.back <= run.takeover + STALL_MARGIN, (run.requests, run.takeover)
    assert "takeover gate passes" in sb.vrrpd["g2"].log_text()


def test_cold_standby_answers_only_once_the_service_has_started(lab: Lab) -> None:
    # No service on g2 until the group's on_master starts it.
    sb = StandbyLab(lab, "cold", connections=N, window=2.0)
    sb.start()
    run = sb.failover()
    assert run.kept == 0, run.streams
    assert run.takeover is not None and run.requests.back is not None, run
    # Not with the address (warm: within a few ms of it) but once the service has started
    # (a Python server: about 180 ms here; 50 ms is far below what an interpreter takes).
    assert run.requests.back >= run.takeover + 0.05, (run.requests, run.takeover)
    assert run.requests.failed > 0


def test_the_recipe_files_are_valid() -> None:
    cp = check_config(EXAMPLES / "vrrpd.toml")
    assert cp.returncode == 0, cp.stderr
    example = (EXAMPLES / "conntrackd.conf").read_text()
    a = conntrackd_conf(example, EXAMPLES, "g1")
    b = conntrackd_conf(example, EXAMPLES, "g2")
    assert "IPv4_address 203.0.113.1\n\t\tIPv4_Destination_Address 203.0.113.2" in a
    assert "IPv4_address 203.0.113.2\n\t\tIPv4_Destination_Address 203.0.113.1" in b
    assert "HashSize 32768" in a and "Systemd off" in a
