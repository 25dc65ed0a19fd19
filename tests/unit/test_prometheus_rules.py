"""The example alert rules (tools/prometheus/vrrpd-alerts.yml) with Debian's promtool: they
load (`promtool check rules`) and fire when they should on synthetic series (`promtool test
rules`, tools/prometheus/vrrpd-alerts.test.yml). tests/netns/test_prometheus_alerts.py runs
them in a real Prometheus against real vrrpd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parents[2] / "tools" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool not found: tools/bootstrap installs Debian's prometheus"
    return subprocess.run(
        [tool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_load() -> None:
    done = promtool("check", "rules", "vrrpd-alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_rules_fire_on_synthetic_series() -> None:
    done = promtool("test", "rules", "vrrpd-alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
