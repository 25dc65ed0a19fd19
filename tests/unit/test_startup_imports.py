"""What the daemon imports at start-up (issue 9: start-up time and memory).

Each case runs a fresh interpreter that goes the way ``vrrpd --config`` goes (vrrpd.cli, the
logging set up for a log target, vrrpd.daemon) and lists the modules that appeared. The daemon
runs on the standard library and pyroute2 (all netlink): scapy is the tests' oracle only,
prometheus_client comes with vrrpd.io.metrics when `metrics_listen` is set, and the journald
writer only when the log goes to journald. ``vrrpd --check-config`` (run before every start by
the systemd unit) imports neither asyncio nor the daemon.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# argv: the log target, then modules to import after the daemon's. Prints the log handler's
# class, then the new modules.
SCRIPT = r"""
import sys
before = set(sys.modules)
import vrrpd.cli
vrrpd.cli._setup_logging(sys.argv[1], "/nonexistent/journal/socket", "info")
import vrrpd.daemon
for name in sys.argv[2:]:
    __import__(name)
import logging
print(type(logging.getLogger().handlers[0]).__name__)
print("\n".join(sorted(set(sys.modules) - before)))
"""

# argv: a configuration file. Prints what `vrrpd --check-config` printed, "--", the new modules.
CHECK_CONFIG = r"""
import sys
before = set(sys.modules)
from vrrpd.cli import vrrpd_main
code = vrrpd_main(["--check-config", sys.argv[1]])
print("--", code)
print("\n".join(sorted(set(sys.modules) - before)))
"""

CONFIG = """
[[virtual_router]]
name = "gw"
interface = "eth0"
vrid = 51
priority = 100
virtual_ips = ["192.0.2.254/24"]
"""

NEVER = ("scapy", "prometheus_client")
RUNTIME = {"vrrpd", "pyroute2", "__mp_main__"}  # + stdlib (pyroute2 loads multiprocessing)
JOURNAL = "vrrpd.io.journal"
METRICS = "vrrpd.io.metrics"


def python(script: str, *argv: str, journal_stream: str | None = None) -> str:
    """Run `script` in a fresh interpreter on this checkout; its standard output."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(REPO), env.get("PYTHONPATH")) if x)
    cp = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def run(target: str, *extra: str, journal_stream: str | None = None) -> tuple[str, set[str]]:
    """The root logger's handler class and the modules imported, in a fresh interpreter."""
    out = python(SCRIPT, target, *extra, journal_stream=journal_stream)
    handler, *modules = out.split()
    assert "vrrpd.daemon" in modules and "vrrpd.io.netlink" in modules, modules
    return handler, set(modules)


def imported(target: str, *extra: str) -> set[str]:
    return run(target, *extra)[1]


def _package(module: str) -> str:
    return module.partition(".")[0]


def _from(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if _package(m) == package}


@pytest.mark.parametrize("target", ["stderr", "auto"])
def test_the_daemon_imports_only_the_standard_library_and_pyroute2(target: str) -> None:
    handler, modules = run(target)
    assert handler == "StreamHandler"
    for package in NEVER:
        assert not _from(modules, package), f"{package} imported at start-up"
    outside = {m for m in modules if _package(m) not in sys.stdlib_module_names | RUNTIME}
    assert not outside, f"imported from outside the standard library: {sorted(outside)}"
    assert JOURNAL not in modules, "the journald writer without logging to journald"
    assert METRICS not in modules, "the metrics endpoint without metrics_listen"


def test_auto_with_a_journal_stream_that_is_not_stderr_logs_to_stderr() -> None:
    """systemd's JOURNAL_STREAM names a stream; stderr is something else here (a pipe): the
    writer is looked at, but the log stays on stderr."""
    handler, modules = run("auto", journal_stream="1:1")
    assert handler == "StreamHandler"
    assert JOURNAL in modules
    assert not _from(modules, "prometheus_client")


def test_the_journald_writer_comes_with_logging_to_journald() -> None:
    handler, modules = run("journal")
    assert handler == "JournalHandler"
    assert JOURNAL in modules
    for package in NEVER:
        assert not _from(modules, package), f"{package} imported with the journald writer"


def test_the_metrics_endpoint_brings_prometheus_client() -> None:
    """The check above would see prometheus_client: importing the metrics module (what the
    daemon does when `metrics_listen` is set) brings it."""
    modules = imported("stderr", METRICS)
    assert _from(modules, "prometheus_client")
    assert not _from(modules, "scapy")


def test_check_config_imports_neither_asyncio_nor_the_daemon(tmp_path: Path) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG)
    said, _, listed = python(CHECK_CONFIG, str(conf)).partition("-- ")
    assert said.strip() == f"{conf}: OK, 1 virtual router(s)"
    code, *modules = listed.split()
    assert code == "0"
    assert "vrrpd.config" in modules, modules
    for name in ("asyncio", "vrrpd.daemon", "vrrpd.io.netlink", "vrrpd.io.control", JOURNAL):
        assert name not in modules, f"{name} imported by --check-config"
    for package in NEVER:
        assert not _from(set(modules), package), f"{package} imported by --check-config"
