"""The Prometheus endpoint of a running vrrpd, scraped over the lab's network.

Each router's daemon listens on its own documentation address (`[daemon] metrics_listen`),
and a client namespace on the same segment scrapes it with urllib, as Prometheus would. The
text is parsed with prometheus_client's parser and compared with `vrrpctl status`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, VIP_ADDR, vr
from tests.netns.test_operations import put
from vrrpd.receive import DISCARD_REASONS

pytestmark = pytest.mark.netns

PORT = 9650
LABELS = {"name": "gw", "interface": "eth0", "vrid": "51", "family": "4"}

SCRAPE = """
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    print(json.dumps({"status": r.status, "type": r.headers["Content-Type"],
                      "body": r.read().decode()}))
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Node, host: str) -> tuple[dict[str, Any], Samples]:
    cp = client.run([sys.executable, "-c", SCRAPE, f"http://{host}:{PORT}/metrics"], timeout=60)
    answer = json.loads(cp.stdout)
    samples: Samples = {}
    for family in text_string_to_metric_families(answer["body"]):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return answer, samples


def value(samples: Samples, name: str, **extra: str) -> float:
    key = (name, frozenset({**LABELS, **extra}.items()))
    assert key in samples, f"{name}{ {**LABELS, **extra} } not exported"
    return samples[key]


def start(node: Node, priority: int, **extra: Any) -> Vrrpd:
    assert node.ipv4 is not None
    return node.start_vrrpd(
        [vr(priority=priority, **extra)],
        # Without the kernel filter, which would drop the TTL-64 adverts uncounted.
        daemon={"metrics_listen": f"{node.ipv4.ip}:{PORT}", **NO_KERNEL_FILTER},
    )


def test_metrics_scraped_from_a_client(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    load = lab.workdir / "load"
    put(load, "2\n")  # 2 x -10: effective 130 of 150
    d1 = start(r1, 150, track_files=[{"name": "load", "path": str(load), "weight": -10}])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = start(r2, 120)
    d2.wait_state("gw", "BACKUP", timeout=15)
    c1.inject(3, addresses=[VIP_ADDR], priority=254, ttl=64)
    for d in (d1, d2):
        d.wait_counter("gw", "discard_ttl", 3, timeout=10)

    answer, m1 = scrape(c1, "192.0.2.1")
    assert answer["status"] == 200
    assert answer["type"] == CONTENT_TYPE_LATEST  # Prometheus text format
    assert m1[("vrrp_up", frozenset())] == 1
    assert m1[("vrrp_virtual_routers", frozenset())] == 1
    states = {s: value(m1, "vrrp_state", state=s) for s in ("INITIALIZE", "BACKUP", "MASTER")}
    assert states == {"INITIALIZE": 0, "BACKUP": 0, "MASTER": 1}
    assert value(m1, "vrrp_state", state="FAULT") == 0
    assert value(m1, "vrrp_priority") == 150
    assert value(m1, "vrrp_effective_priority") == 130
    assert value(m1, "vrrp_discard_ttl_total") == 3
    for reason in DISCARD_REASONS:
        value(m1, f"vrrp_discard_{reason}_total")  # every discard counter is there
    sent = value(m1, "vrrp_adverts_sent_total")
    assert sent > 0

    # Counters move between scrapes: 5 more adverts by the daemon's own count, then again.
    d1.wait_counter("gw", "adverts_sent", int(sent) + 5, timeout=10)
    _, again = scrape(c1, "192.0.2.1")
    assert value(again, "vrrp_adverts_sent_total") >= sent + 5
    status = d1.router("gw")
    assert value(again, "vrrp_transitions_total") == status["transitions"] == 2
    assert value(again, "vrrp_became_master_total") == status["counters"]["became_master"] == 1

    # The backup's endpoint: its own state, the adverts it hears.
    _, m2 = scrape(c1, "192.0.2.2")
    assert value(m2, "vrrp_state", state="BACKUP") == 1
    assert value(m2, "vrrp_state", state="MASTER") == 0
    assert (value(m2, "vrrp_priority"), value(m2, "vrrp_effective_priority")) == (120, 120)
    assert value(m2, "vrrp_adverts_received_total") > 0
    assert value(m2, "vrrp_discard_ttl_total") == 3
    # And it follows a failover: r1's load goes up, r2 preempts, the gauges say so.
    put(load, "4\n")  # 110 < 120
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(
        lambda: value(scrape(c1, "192.0.2.1")[1], "vrrp_state", state="BACKUP") == 1,
        10,
        what="r1's metrics to show BACKUP",
    )
    _, m1 = scrape(c1, "192.0.2.1")
    assert value(m1, "vrrp_effective_priority") == 110
    assert value(scrape(c1, "192.0.2.2")[1], "vrrp_state", state="MASTER") == 1
