"""System tests: the I/O adapters against the real services they talk to, no mocks.

`journald` starts a private systemd-journald in a journal namespace of its own
(`systemd-journald NAMESPACE`, as the `systemd-journald@.service` template does): its socket is
/run/systemd/journal.NAMESPACE/socket and `journalctl --namespace=NAMESPACE` reads what it
stored, so the tests never touch the machine's own journal and runs never collide. It needs
root and Debian's `systemd` package; without them the tests fail saying so, never skip, since
CI runs as root and a skipped test would hide a broken adapter.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from vrrpd.io.journal import journal_available

JOURNALD = "/lib/systemd/systemd-journald"
START_SECONDS = 10.0
WAIT_SECONDS = 10.0

Entry = dict[str, Any]


class Journal(NamedTuple):
    """A running private journald: where to send, and how to read back what it stored."""

    socket_path: str
    read_entries: Callable[[], list[Entry]]
    namespace: str = ""

    def wait_for(self, match: Callable[[Entry], bool], timeout: float = WAIT_SECONDS) -> Entry:
        """The first stored entry for which `match` is true, polling until `timeout`."""
        entries = self.wait_for_all(match, 1, timeout)
        return entries[0]

    def wait_for_all(
        self, match: Callable[[Entry], bool], count: int, timeout: float = WAIT_SECONDS
    ) -> list[Entry]:
        """At least `count` stored entries that `match`, in journal order, polling until
        `timeout` (journald writes as it receives, but a loaded machine may lag)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.read_entries() if match(e)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(
                    f"journal namespace {self.namespace}: {len(found)} matching entries "
                    f"after {timeout:.0f} s, wanted {count}"
                )
            time.sleep(0.05)


def _field(value: Any) -> Any:
    """journalctl's JSON for one field as Python: text stays text, a binary field (an array of
    byte values) becomes text, a repeated field a list of those."""
    if isinstance(value, list):
        if all(isinstance(v, int) for v in value):
            return bytes(value).decode("utf-8", "replace")
        return [_field(v) for v in value]
    return value


def _read(namespace: str) -> list[Entry]:
    """Every entry of the namespace, oldest first, with fields decoded by `_field`."""
    base = ["journalctl", f"--namespace={namespace}", "--no-pager"]
    # --sync makes journald write out everything it received before this call.
    subprocess.run([*base, "--sync"], check=False, capture_output=True, timeout=10)
    out = subprocess.run(
        [*base, "-o", "json", "--all"], check=False, capture_output=True, timeout=10
    )
    entries = []
    for line in out.stdout.splitlines():
        if line.strip():
            raw = json.loads(line)
            entries.append({k: _field(v) for k, v in raw.items()})
    return entries


def _remove_namespace_files(namespace: str) -> None:
    shutil.rmtree(f"/run/systemd/journal.{namespace}", ignore_errors=True)
    for pattern in (f"/var/log/journal/*.{namespace}", f"/run/log/journal/*.{namespace}"):
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def journald(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    """A private systemd-journald in a fresh namespace, stopped and removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("journald system tests need root (they start a private systemd-journald)")
    if not os.access(JOURNALD, os.X_OK) or shutil.which("journalctl") is None:
        pytest.fail(
            f"{JOURNALD} or journalctl missing: install Debian's `systemd` package "
            "(tools/bootstrap does)"
        )
    namespace = f"vrrpdtest{uuid.uuid4().hex[:12]}"
    socket_path = f"/run/systemd/journal.{namespace}/socket"
    varlink = f"/run/systemd/journal.{namespace}/io.systemd.journal"
    log_path: Path = tmp_path_factory.mktemp("journald") / "journald.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [JOURNALD, namespace],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C on the terminal must leave teardown to us
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (journal_available(socket_path) and os.path.exists(varlink)):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace").strip()
                pytest.fail(
                    f"systemd-journald {namespace} did not come up "
                    f"(exit status {proc.poll()}): {output or 'no output'}"
                )
            time.sleep(0.02)
        yield Journal(socket_path, lambda: _read(namespace), namespace)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        _remove_namespace_files(namespace)
