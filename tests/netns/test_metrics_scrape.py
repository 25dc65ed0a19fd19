"""The Prometheus endpoint of a running vrrpd, scraped over the lab's network.

Each router's daemon listens on its own documentation address (`[daemon] metrics_listen`),
and a client namespace on the same segment scrapes it with urllib, as Prometheus would. The
text is parsed with prometheus_client's parser and compared with `vrrpctl status`. A scrape
may be up to 1 s old (the body is cached): a value that must move is polled for.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, VIP, VIP_ADDR, vr
from tests.netns.test_operations import put
from tests.netns.test_reload import read_doc, write_doc
from tests.netns.test_reload_in_place import reload
from tests.unit.test_grafana_dashboard import dashboard, metric_names, queries
from vrrpd.receive import DISCARD_REASONS

pytestmark = pytest.mark.netns

PORT = 10112  # the README's example port (9650 and 9165 are keepalived exporters')
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


def labelled(samples: Samples, name: str, **labels: str) -> float:
    """The value of sample `name` with exactly `labels` (not the vrrpd LABELS)."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not exported"
    return samples[key]


def scrape_until(client: Node, host: str, ok: Any, what: str) -> Samples:
    """Scrape `host` until `ok(samples)` holds (a scrape may be the cached body)."""

    def scraped() -> Samples | None:
        samples = scrape(client, host)[1]
        return samples if ok(samples) else None

    found: Samples = wait_for(scraped, 10, interval=0.2, what=what)
    return found


def start(node: Node, priority: int, names: str = "vrrpd", **extra: Any) -> Vrrpd:
    assert node.ipv4 is not None
    return node.start_vrrpd(
        [vr(priority=priority, **extra)],
        # Without the kernel filter, which would drop the TTL-64 adverts uncounted.
        daemon={
            "metrics_listen": f"{node.ipv4.ip}:{PORT}",
            "metrics_names": names,
            **NO_KERNEL_FILTER,
        },
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
    again = scrape_until(
        c1,
        "192.0.2.1",
        lambda m: value(m, "vrrp_adverts_sent_total") >= sent + 5,
        "5 more adverts in r1's scrape",
    )
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
    scrape_until(
        c1,
        "192.0.2.2",
        lambda m: value(m, "vrrp_state", state="MASTER") == 1,
        "r2's metrics to show MASTER",
    )

    # A reload switches the name set at once (the cached body is dropped), nothing restarts.
    doc = read_doc(d2)
    doc["daemon"]["metrics_names"] = "keepalived"
    write_doc(d2, doc)
    assert reload(d2)["unchanged"] == ["gw"]
    _, m2 = scrape(c1, "192.0.2.2")
    ka = {"iname": "gw", "intf": "eth0", "vrid": "51", "ip_address": VIP}
    assert m2[("keepalived_vrrp_state", frozenset(ka.items()))] == 2
    assert not [name for name, _ in m2 if name.startswith("vrrp_")]
    assert d2.router("gw")["state"] == "MASTER"


def test_both_name_sets_and_every_dashboard_metric_in_a_real_scrape(lab: Lab) -> None:
    """metrics_names = "both": the keepalived exporter's names agree with vrrpd's in one
    scrape, the metrics added for issue 12 are there, and so is every metric the Grafana
    dashboard (tools/grafana/vrrpd-dashboard.json) queries."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    load = lab.workdir / "load"
    put(load, "0\n")
    tracks: dict[str, Any] = {
        "track_files": [{"name": "load", "path": str(load), "weight": -50}],
        "track_scripts": [{"name": "chk", "command": ["/bin/true"], "interval": 1}],
    }
    d1 = start(r1, 150, "both", **tracks)
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = start(r2, 120, "both")
    d2.wait_state("gw", "BACKUP", timeout=15)
    d1.wait_counter("gw", "announcements_sent", 5, timeout=10)  # garp_repeat 5 x 1 address
    began = time.time()
    put(load, "1\n")  # 100 < 120: r2 preempts, r1 leaves MASTER
    d2.wait_state("gw", "MASTER", timeout=10)
    d1.wait_state("gw", "BACKUP", timeout=10)
    d2.wait_counter("gw", "announcements_sent", 5, timeout=10)

    ka = {"iname": "gw", "intf": "eth0", "vrid": "51"}
    m1 = scrape_until(
        c1,
        "192.0.2.1",
        lambda m: (
            m.get(("vrrp_left_master_total", frozenset(LABELS.items()))) == 1
            and m.get(("keepalived_script_status", frozenset({("name", "chk")}))) == 1
        ),
        "r1's scrape to show it left MASTER and the script's verdict",
    )
    # vrrpd's names: the new counters, the timestamp, build info, tracked objects.
    assert value(m1, "vrrp_became_master_total") == 1
    assert value(m1, "vrrp_announcements_sent_total") >= 5
    stamp = value(m1, "vrrp_last_transition_timestamp_seconds")
    assert began - 1 <= stamp <= time.time() + 1, (began, stamp)
    (info,) = [k for k in m1 if k[0] == "vrrp_build_info"]
    assert dict(info[1])["version"] and m1[info] == 1
    load_state = {
        s: value(m1, "vrrp_tracked_object_state", object="load", kind="file", state=s)
        for s in ("unknown", "ok", "failing")
    }
    assert load_state == {"unknown": 0, "ok": 0, "failing": 1}
    assert value(m1, "vrrp_tracked_object_term", object="load", kind="file") == -50
    assert value(m1, "vrrp_tracked_object_state", object="eth0", kind="interface", state="ok")
    # The keepalived exporter's names, from the same scrape: the same numbers.
    assert labelled(m1, "keepalived_up") == 1
    assert labelled(m1, "keepalived_vrrp_state", **ka, ip_address=VIP) == 1  # BACKUP
    pairs = {
        "keepalived_advertisements_sent_total": "vrrp_adverts_sent_total",
        "keepalived_advertisements_received_total": "vrrp_adverts_received_total",
        "keepalived_become_master_total": "vrrp_became_master_total",
        "keepalived_release_master_total": "vrrp_left_master_total",
        "keepalived_priority_zero_sent_total": "vrrp_priority0_sent_total",
        "keepalived_ip_ttl_errors_total": "vrrp_discard_ttl_total",
    }
    for theirs, ours in pairs.items():
        assert labelled(m1, theirs, **ka) == value(m1, ours), theirs
    assert labelled(m1, "keepalived_release_master_total", **ka) == 1
    m2 = scrape_until(
        c1,
        "192.0.2.2",
        lambda m: (
            m.get(("keepalived_vrrp_state", frozenset({**ka, "ip_address": VIP}.items()))) == 2
        ),
        "r2's keepalived_vrrp_state to say MASTER (2)",
    )
    assert value(m2, "vrrp_announcements_sent_total") >= 5

    # Every metric the dashboard queries is in these scrapes.
    scraped = {name for name, _ in m1} | {name for name, _ in m2}
    for query in queries(dashboard()):
        names, regexes = metric_names(query)
        assert names <= scraped, (query, names - scraped)
        for regex in regexes:
            assert any(re.fullmatch(regex, n) for n in scraped), (query, regex)
