"""The real daemon under a stand-in service manager: sd_notify end to end.

vrrpd runs in a lab namespace with NOTIFY_SOCKET naming a Unix datagram socket this test
bound (a path: it crosses network namespaces) and WATCHDOG_USEC=1000000, as systemd starts a
`Type=notify` unit with `WatchdogSec=1`. What the daemon sends is what systemd would see:
READY=1 once the control socket answers, STATUS= summaries, WATCHDOG=1 every half second,
RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM. The unit file in
tools/systemd is checked to ask for exactly that protocol.
"""

from __future__ import annotations

import configparser
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import vr
from vrrpd.io.control import request

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tools" / "systemd" / "vrrpd.service"
WATCHDOG_USEC = 1_000_000

Datagram = tuple[float, dict[str, str]]  # (monotonic arrival time, assignments)


class Manager:
    """The service manager's end of NOTIFY_SOCKET: a bound datagram socket and a thread
    that keeps every datagram with its arrival time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self._got: list[Datagram] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self._lock:
                self._got.append((now, fields))

    def datagrams(self) -> list[Datagram]:
        with self._lock:
            return list(self._got)

    def wait(
        self, match: Callable[[dict[str, str]], bool], timeout: float, what: str, after: int = 0
    ) -> int:
        """Index of the first datagram from index `after` on that `match`es."""

        def found() -> int | None:
            got = self.datagrams()
            for i in range(after, len(got)):
                if match(got[i][1]):
                    return i + 1  # never 0, so wait_for sees it as found
            return None

        try:
            return wait_for(found, timeout, interval=0.01, what=what) - 1
        except TimeoutError as e:
            raise TimeoutError(f"{e}; datagrams: {self.datagrams()}") from None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def manager() -> Iterator[Manager]:
    tmp = tempfile.mkdtemp(prefix="vrrpd-notify-")
    m = Manager(os.path.join(tmp, "notify.sock"))
    try:
        yield m
    finally:
        m.close()
        shutil.rmtree(tmp, ignore_errors=True)


def start_under_manager(node: Node, manager: Manager, routers: list[dict[str, Any]]) -> Vrrpd:
    """Start vrrpd like systemd starts a Type=notify unit with WatchdogSec=1."""
    workdir = node.lab.workdir
    sock, conf, log = (workdir / f"{node.name}{ext}" for ext in (".sock", ".toml", ".log"))
    conf.write_text(dumps({"daemon": {"control_socket": str(sock)}, "virtual_router": routers}))
    env = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_PID", "JOURNAL_STREAM")}
    env.update(NOTIFY_SOCKET=manager.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    with open(log, "ab") as logf:
        proc = node.popen(
            [sys.executable, "-m", "vrrpd", "--config", str(conf)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
        )
    node.vrrpd = Vrrpd(node, proc, conf, log, sock, routers)
    return node.vrrpd


def test_sd_notify_ready_status_watchdog_reload_stopping(lab: Lab, manager: Manager) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    env_seen = lab.workdir / "notify-env"
    script = lab.workdir / "notify.sh"
    script.write_text(
        f'#!/bin/sh\necho "${{NOTIFY_SOCKET:-unset}} ${{WATCHDOG_USEC:-unset}}" >> {env_seen}\n'
    )
    script.chmod(0o755)
    d = start_under_manager(r1, manager, [vr(priority=150, notify=[str(script)])])

    # READY=1 only once the daemon can be talked to: at that moment `status` answers.
    ready = manager.wait(lambda f: f.get("READY") == "1", 20, "READY=1")
    rows = request(str(d.socket_path), {"cmd": "status"}, timeout=5)
    assert [r["name"] for r in rows] == ["gw"]
    first = manager.datagrams()[ready][1]
    assert first["STATUS"].startswith("1 virtual routers, "), first
    assert not any(f.get("READY") for _, f in manager.datagrams()[:ready])

    # STATUS= follows the state: a summary line naming the master.
    d.wait_state("gw", "MASTER", timeout=10)
    manager.wait(lambda f: f.get("STATUS") == "1 virtual routers, 1 master (gw)", 10, "STATUS")

    # WATCHDOG=1 every WATCHDOG_USEC / 2, from the event loop.
    def watchdogs() -> list[float]:
        return [t for t, f in manager.datagrams() if f.get("WATCHDOG") == "1"]

    wait_for(lambda: len(watchdogs()) >= 4, 10, what="4 WATCHDOG=1")
    times = watchdogs()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.3 <= g < WATCHDOG_USEC / 1e6 for g in gaps), f"watchdog gaps {gaps}"

    # SIGHUP: RELOADING=1 (with the monotonic time systemd matches), then READY=1 again.
    mark = len(manager.datagrams())
    hup_at = time.monotonic()
    os.kill(d.pid, signal.SIGHUP)
    reloading = manager.wait(lambda f: f.get("RELOADING") == "1", 10, "RELOADING=1", mark)
    fields = manager.datagrams()[reloading][1]
    usec = int(fields["MONOTONIC_USEC"])
    assert hup_at - 1 <= usec / 1e6 <= time.monotonic() + 1
    again = manager.wait(lambda f: f.get("READY") == "1", 10, "READY=1 after reload", reloading)
    assert again > reloading
    assert "STATUS" in manager.datagrams()[again][1]
    assert d.router("gw")["state"] == "MASTER"

    # SIGTERM: STOPPING=1, then a clean exit.
    mark = len(manager.datagrams())
    d.process.send_signal(signal.SIGTERM)
    manager.wait(lambda f: f.get("STOPPING") == "1", 10, "STOPPING=1", mark)
    assert d.process.wait(timeout=20) == 0
    # Nothing after STOPPING claims readiness again.
    stopping = manager.wait(lambda f: f.get("STOPPING") == "1", 1, "STOPPING=1", mark)
    assert not any(f.get("READY") for _, f in manager.datagrams()[stopping:])

    # The daemon keeps NOTIFY_SOCKET / WATCHDOG_USEC to itself: notify scripts never see them.
    lines = env_seen.read_text().splitlines()
    assert lines and set(lines) == {"unset unset"}, lines
    assert "Traceback" not in d.log_text()


def test_unit_file_asks_for_the_notify_protocol() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text(), source=str(UNIT))
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    watchdog = service["WatchdogSec"]
    assert watchdog.isdigit() and int(watchdog) > 0, watchdog
    reload = shlex.split(service["ExecReload"])
    assert reload[0].endswith("/kill") and "-HUP" in reload and "$MAINPID" in reload, reload
    start = shlex.split(service["ExecStart"])
    check = shlex.split(service["ExecStartPre"])
    assert start[start.index("--config") + 1] == check[check.index("--check-config") + 1]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # systemd's own parser: every key known, every section right. The binary is replaced by
    # one that exists (verify checks that ExecStart= is executable).
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: install Debian's systemd package"
    with tempfile.TemporaryDirectory(prefix="vrrpd-unit-") as tmp:
        copy = Path(tmp) / "vrrpd.service"
        copy.write_text(UNIT.read_text().replace("/usr/local/bin/vrrpd", "/bin/true"))
        cp = subprocess.run(
            [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
        )
    assert (cp.returncode, cp.stderr.strip()) == (0, ""), cp.stderr
