"""Reload without disruption: SIGHUP and `vrrpctl reload` on real vrrpd processes.

An unchanged virtual router is not touched (no transition, no gratuitous ARP, no gap in its
adverts, seen from a client's capture); in-place changes keep the state; removed routers
release with priority 0 and added ones start; an invalid file is refused with the same line
as `vrrpd --check-config` and the running configuration stays.
"""

from __future__ import annotations

import datetime
import itertools
import os
import signal
import tomllib
from pathlib import Path
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.lab import Lab, Vrrpd, check_config, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import VIP_ADDR, vr
from tests.netns.test_operations import R1, R2, Events, ctl, ctl_ok, holders, transitions_logged

pytestmark = pytest.mark.netns

INTERVAL = 0.1
RELOADS = 10


def read_doc(d: Vrrpd) -> dict[str, Any]:
    return tomllib.loads(d.config_path.read_text())


def write_doc(d: Vrrpd, doc: dict[str, Any]) -> None:
    d.config_path.write_text(dumps(doc))


def sighup(d: Vrrpd) -> None:
    # The lab's `ip netns exec` execs the daemon: its PID is vrrpd's own.
    assert b"vrrpd" in Path(f"/proc/{d.pid}/cmdline").read_bytes()
    os.kill(d.pid, signal.SIGHUP)


def converged(lab: Lab, **r1: Any) -> tuple[Vrrpd, Vrrpd]:
    n1 = lab.add_router("r1", f"{R1}/24")
    n2 = lab.add_router("r2", f"{R2}/24")
    d1 = n1.start_vrrpd([vr(priority=150, advert_interval=INTERVAL, **r1)])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = n2.start_vrrpd([vr(priority=120, advert_interval=INTERVAL)])
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow r1")
    return d1, d2


def test_unchanged_reloads_touch_nothing(lab: Lab) -> None:
    d1, d2 = converged(lab)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("arp or ip proto 112")
    cap.wait_packets(lambda p: bool(wire.adverts([p], src=R1)), 5, 10, "r1's adverts")
    events = Events(d1)
    try:
        synced = events.sync()  # itself one reload of the unchanged file
        before = {d: d.router("gw")["transitions"] for d in (d1, d2)}

        def reloads() -> list[dict[str, Any]]:
            return [e for e in events.items() if e["type"] == "reload" and e["seq"] > synced]

        for i in range(RELOADS):
            if i % 2 == 0:
                sighup(d1)
            else:
                out = ctl_ok(d1, "reload").strip()
                assert out == "unchanged: gw, updated: -, restarted: -, added: -, removed: -"
            wait_for(lambda n=i + 1: len(reloads()) >= n, 10, what=f"reload event {i + 1}")
        done = reloads()
        done_at = max(_unix(e) for e in done)
        cap.wait_packets(
            lambda p: bool(wire.adverts([p], src=R1)) and float(p.time) > done_at,
            5,
            10,
            "5 of r1's adverts after the last reload",
        )
        first_at = min(_unix(e) for e in done)
    finally:
        events.stop()
    packets = cap.stop()
    assert len(done) == RELOADS
    assert all(e["unchanged"] == ["gw"] and e["updated"] == [] for e in done), done
    assert all(e["restarted"] == e["added"] == e["removed"] == [] for e in done), done
    others = [e for e in events.items() if e["seq"] > synced and e["type"] != "reload"]
    assert others == [], f"a reload of an unchanged file caused events: {others}"
    assert {d: d.router("gw")["transitions"] for d in (d1, d2)} == before
    assert (d1.router("gw")["state"], d2.router("gw")["state"]) == ("MASTER", "BACKUP")
    assert wire.garps(packets, VIP_ADDR) == [], "gratuitous ARP during unchanged reloads"
    adverts = wire.adverts(packets, src=R1, vrid=51)
    assert {wire.vrrp_layer(p).priority for p in adverts} == {150}
    window = [float(p.time) for p in adverts if first_at - 1 <= float(p.time)]
    assert window[0] < first_at and window[-1] > done_at
    gaps = [b - a for a, b in itertools.pairwise(window)]
    print(f"reloads: {len(window)} adverts, max gap {max(gaps) * 1000:.1f} ms")
    assert max(gaps) < 2 * INTERVAL, f"advert gap {max(gaps):.3f} s during reloads: {gaps}"


def _unix(event: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(event["time"]).timestamp()


def test_changed_priority_applied_in_place(lab: Lab) -> None:
    d1, d2 = converged(lab)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    transitions = d1.router("gw")["transitions"]
    doc = read_doc(d1)
    doc["virtual_router"][0]["priority"] = 130  # still above r2's 120: no transition
    write_doc(d1, doc)
    out = ctl_ok(d1, "reload").strip()
    assert out == "unchanged: -, updated: gw, restarted: -, added: -, removed: -"
    row = d1.router("gw")
    assert (row["priority"], row["effective_priority"]) == (130, 130)
    cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=R1)) and wire.vrrp_layer(p).priority == 130,
        5,
        10,
        "r1 advertising 130",
    )
    d1.wait_counter("gw", "adverts_sent", d1.counters("gw")["adverts_sent"] + 10, timeout=10)
    row = d1.router("gw")
    assert (row["state"], row["transitions"]) == ("MASTER", transitions)
    assert d2.router("gw")["state"] == "BACKUP"
    assert "updated in place (priority)" in d1.log_text()
    # Now below r2 (SIGHUP this time): the state has to change, and only by the protocol.
    doc["virtual_router"][0]["priority"] = 100
    write_doc(d1, doc)
    sighup(d1)
    d2.wait_state("gw", "MASTER", timeout=10)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert d1.router("gw")["effective_priority"] == 100
    assert transitions_logged(d1) == [
        ("INITIALIZE", "BACKUP", "startup"),
        ("BACKUP", "MASTER", "master-down"),
        ("MASTER", "BACKUP", "higher-priority-seen"),
    ]
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "preempted")
    cap.stop()


def test_removed_router_releases_and_added_one_starts(lab: Lab) -> None:
    d1, d2 = converged(lab)
    r1, r2 = d1.node, d2.node
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    doc = read_doc(d1)
    doc["virtual_router"] = [
        vr(name="gw2", vrid=52, priority=100, advert_interval=INTERVAL,
           virtual_ips=["192.0.2.253/24"])
    ]  # fmt: skip
    write_doc(d1, doc)
    out = ctl_ok(d1, "reload").strip()
    assert out == "unchanged: -, updated: -, restarted: -, added: gw2, removed: gw"
    cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=R1, vrid=51)) and wire.vrrp_layer(p).priority == 0,
        1,
        10,
        "r1's priority-0 release of VRID 51",
    )
    d2.wait_state("gw", "MASTER", timeout=5)
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "priority-0")
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="r1 to drop the removed VIP")
    d1.wait_state("gw2", "MASTER", timeout=10)
    assert [row["name"] for row in d1.status()] == ["gw2"]
    wait_for(lambda: r1.has_address("192.0.2.253"), 5, what="r1 to hold gw2's VIP")
    assert transitions_logged(d1, "gw2") == [
        ("INITIALIZE", "BACKUP", "startup"),
        ("BACKUP", "MASTER", "master-down"),
    ]
    # Nothing of VRID 51 from r1 after its release.
    packets = cap.stop()
    mine = wire.adverts(packets, src=R1, vrid=51)
    assert wire.vrrp_layer(mine[-1]).priority == 0


def test_invalid_file_is_refused_and_old_config_stays(lab: Lab) -> None:
    d1, d2 = converged(lab)
    transitions = d1.router("gw")["transitions"]
    doc = read_doc(d1)
    doc["virtual_router"][0]["priority"] = 140  # valid, but must not be applied either
    doc["virtual_router"][0]["vrid"] = 300
    write_doc(d1, doc)
    check = check_config(d1.config_path)
    assert check.returncode == 1
    (line,) = check.stderr.splitlines()
    assert line == f"{d1.config_path}: virtual_router[0].vrid: must be an integer 1..255, got 300"
    refused = ctl(d1, "reload")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"vrrpctl: {line}"]
    assert refused.stdout == ""
    sighup(d1)  # the same by signal: logged, refused
    wait_for(lambda: f"reload refused: {line}" in d1.log_text(), 10, what="the refusal logged")
    # Still running the old configuration, state and all.
    d1.wait_counter("gw", "adverts_sent", d1.counters("gw")["adverts_sent"] + 10, timeout=10)
    assert d1.alive
    row = d1.router("gw")
    assert (row["state"], row["vrid"], row["priority"], row["effective_priority"]) == (
        "MASTER",
        51,
        150,
        150,
    )
    assert row["transitions"] == transitions
    assert d2.router("gw")["state"] == "BACKUP"
    # And it still reloads once the file is good again.
    doc["virtual_router"][0]["vrid"] = 51
    write_doc(d1, doc)
    assert "updated: gw" in ctl_ok(d1, "reload")
    assert d1.router("gw")["priority"] == 140
