"""The example alert rules in a real Prometheus (Debian's 2.42): it scrapes two vrrpd in a
namespace lab every second and evaluates tools/prometheus/vrrpd-alerts.yml every second.
The split-brain alert fires while the two routers are partitioned (both MASTER) and clears
after the heal, as its HTTP API (/api/v1/alerts) says.

Prometheus runs in the client namespace on the lab's address, with its own data directory
in the lab's work directory; it is started and stopped by PID and its files are removed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, wait_for
from tests.netns.test_metrics_scrape import PORT, start

pytestmark = pytest.mark.netns

RULES = Path(__file__).resolve().parents[2] / "tools" / "prometheus" / "vrrpd-alerts.yml"
LISTEN = "192.0.2.100:9090"  # in the client namespace: nothing else listens there

GET = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
"""


def api(client: Node, path: str) -> Any:
    """GET Prometheus's HTTP API from the client namespace; the decoded `data`."""
    cp = client.run([sys.executable, "-c", GET, f"http://{LISTEN}{path}"], timeout=30)
    answer = json.loads(cp.stdout)
    assert answer["status"] == "success", answer
    return answer["data"]


def split_brain(client: Node) -> list[dict[str, Any]]:
    return [
        a
        for a in api(client, "/api/v1/alerts")["alerts"]
        if a["labels"]["alertname"] == "VrrpSplitBrain"
    ]


def start_prometheus(client: Node, workdir: Path) -> subprocess.Popen[Any]:
    tool = shutil.which("prometheus")
    assert tool is not None, "prometheus not found: tools/bootstrap installs Debian's prometheus"
    workdir.mkdir()
    targets = [f"192.0.2.{n}:{PORT}" for n in (1, 2)]
    config = {  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "vrrpd", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    log = (workdir / "prometheus.log").open("w")
    with log:
        return client.popen(
            [
                tool,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={LISTEN}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def test_split_brain_alert_fires_while_partitioned_and_clears_after_the_heal(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = start(r1, 200)
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = start(r2, 100)
    d2.wait_state("gw", "BACKUP", timeout=15)

    workdir = lab.workdir / "prometheus"
    prom = start_prometheus(c1, workdir)
    try:
        # Both targets scraped, the rules loaded, no split brain yet.
        wait_for(
            lambda: len(api(c1, "/api/v1/query?query=vrrp_up%3D%3D1")["result"]) == 2,
            30,
            interval=0.5,
            what="Prometheus to scrape both vrrpd",
            ignore=(subprocess.CalledProcessError,),
        )
        groups = api(c1, "/api/v1/rules")["groups"]
        assert {r["name"] for g in groups for r in g["rules"]} >= {"VrrpSplitBrain", "VrrpFault"}
        assert split_brain(c1) == []

        # Partition: r2 no longer hears r1, and becomes master too.
        r2.block_vrrp()
        d2.wait_state("gw", "MASTER", timeout=10)
        assert d1.router("gw")["state"] == "MASTER"
        (alert,) = wait_for(
            lambda: [a for a in split_brain(c1) if a["state"] == "firing"],
            30,
            interval=0.5,
            what="VrrpSplitBrain to fire",
        )
        assert alert["labels"] == {
            "alertname": "VrrpSplitBrain",
            "severity": "critical",
            "name": "gw",
            "vrid": "51",
            "family": "4",
        }
        rules = [r for g in api(c1, "/api/v1/rules")["groups"] for r in g["rules"]]
        assert [r["name"] for r in rules if r["health"] != "ok"] == []  # every rule evaluates
        assert alert["annotations"]["summary"] == (
            "2 masters for virtual router gw (VRID 51, IPv4)"
        )

        # Heal: r2 hears the higher priority again and steps back; the alert clears.
        r2.unblock_vrrp()
        d2.wait_state("gw", "BACKUP", timeout=10)
        wait_for(
            lambda: split_brain(c1) == [],
            30,
            interval=0.5,
            what="VrrpSplitBrain to clear",
        )
        assert d1.router("gw")["state"] == "MASTER"
    finally:
        prom.terminate()  # by PID (Popen), never by name
        try:
            prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    assert not workdir.exists()
