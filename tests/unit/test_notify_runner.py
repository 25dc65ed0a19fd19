"""The notify runner (vrrpd.io.notify) with real scripts: a script's stderr is kept only at
its end, whatever it writes; a script still running when the runner closes is killed."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pytest

from netns_lab.lab import wait_for
from vrrpd.io.notify import STDERR_KEEP, Job, NotifyRunner, tail


def job(code: str, timeout: float = 30.0) -> Job:
    return Job(argv=(sys.executable, "-c", code), env={}, timeout=timeout, what="gw MASTER")


def test_tail_keeps_the_end() -> None:
    async def main() -> bytes:
        stream = asyncio.StreamReader()
        stream.feed_data(b"x" * 100_000 + b"the end")
        stream.feed_eof()
        return await tail(stream, 16)

    assert asyncio.run(main()) == b"x" * 9 + b"the end"


@pytest.mark.timeout(60)
def test_a_flood_on_stderr_keeps_only_its_end(caplog: pytest.LogCaptureFixture) -> None:
    """20 MB on stderr, then a last line and exit 3: the warning quotes the last line."""
    code = "import sys\nsys.stderr.write('y' * 20_000_000 + '\\nlast words\\n')\nsys.exit(3)"

    async def main() -> NotifyRunner:
        runner = NotifyRunner()
        runner.start()
        runner.submit(job(code))
        await runner.drain(timeout=50)
        await runner.close()
        return runner

    with caplog.at_level(logging.WARNING, logger="vrrpd"):
        runner = asyncio.run(main())
    assert runner.ran == 1 and runner.failed == 1
    assert any("exited 3: last words" in r.getMessage() for r in caplog.records)
    assert STDERR_KEEP < 20_000_000


@pytest.mark.timeout(60)
def test_a_script_still_running_at_close_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)"

    async def main() -> int:
        runner = NotifyRunner()
        runner.start()
        runner.submit(job(code, timeout=600))
        await asyncio.to_thread(
            wait_for, lambda: pid_file.exists() and pid_file.read_text(), 20, what="the script"
        )
        await runner.close()
        return int(pid_file.read_text())

    pid = asyncio.run(main())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its parent counts
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"

    wait_for(gone, 10, what=f"notify script {pid} to be killed")
