"""tools/grafana/vrrpd-dashboard.json: it loads as a Grafana dashboard (panels with
Prometheus targets on a datasource variable, the panels the README promises) and every query
parses as PromQL (Debian's promtool, the queries as recording rules).
tests/netns/test_metrics_scrape.py checks that every metric the queries name is in a real
scrape of a running vrrpd."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "tools" / "grafana" / "vrrpd-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def queries(data: dict[str, Any]) -> list[str]:
    """Every PromQL query: the panels' targets and the query variables."""
    out = [t["expr"] for p in data["panels"] for t in p["targets"]]
    out += [v["definition"] for v in data["templating"]["list"] if v["type"] == "query"]
    return out


def metric_names(expr: str) -> tuple[set[str], set[str]]:
    """(the metric names `expr` selects by name, the `__name__=~` regexes it selects with)."""
    regexes = set(re.findall(r'__name__=~"([^"]+)"', expr))
    bare = re.sub(r'"[^"]*"', '""', expr)  # no string literals (label values, regexes)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)  # no label matchers
    bare = re.sub(r"\[[^\]]*\]", "[]", bare)  # no ranges
    tokens = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare)
    return {t for t in tokens if t.startswith(("vrrp_", "keepalived_"))}, regexes


def test_loads_as_a_grafana_dashboard() -> None:
    data = dashboard()
    assert data["title"] and data["uid"] and isinstance(data["schemaVersion"], int)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        assert panel["title"] and panel["type"], panel
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["expr"].strip()
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_the_promised_panels() -> None:
    titles = [p["title"] for p in dashboard()["panels"]]
    for words in (
        "State per virtual router",
        "Transitions",
        "Advertisements sent and received",
        "Discards by reason",
        "Effective vs configured priority",
        "Tracked objects",
    ):
        assert words in titles


def test_every_query_is_promql(tmp_path: Path) -> None:
    rules = []
    for n, expr in enumerate(queries(dashboard())):
        if expr.startswith("label_values("):  # Grafana's, not PromQL: its selector is
            expr = expr.removeprefix("label_values(").rpartition(",")[0]
        expr = expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
        rules.append({"record": f"dashboard:query{n}", "expr": expr.replace("$name", ".*")})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # YAML
    tool = shutil.which("promtool")
    assert tool is not None, "promtool not found: tools/bootstrap installs Debian's prometheus"
    done = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_metric_names_found_in_queries() -> None:
    names, regexes = metric_names(
        'sum by (instance) (rate(vrrp_adverts_sent_total{name=~"$name"}[5m]))'
        ' + rate({__name__=~"vrrp_discard_.+_total", name="vrrp_x"}[1m])'
    )
    assert names == {"vrrp_adverts_sent_total"}
    assert regexes == {"vrrp_discard_.+_total"}
    every = set().union(*(metric_names(q)[0] for q in queries(dashboard())))
    assert {"vrrp_state", "vrrp_priority", "vrrp_tracked_object_state"} <= every
