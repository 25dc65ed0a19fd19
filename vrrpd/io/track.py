"""The I/O half of tracking: runs check scripts and reads tracked files, and hands each
result to a callback (which feeds the pure `tracking.Tracker`). Interfaces need no poller:
their state comes from netlink events in the daemon.

Scripts are argument lists run without a shell, every `interval` seconds, each run bounded by
`timeout` (then killed with its process group), as `[daemon] script_user` with a fixed
environment (`vrrpd.io.scripthost`). Files are read once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Callable
from subprocess import SubprocessError

from ..config import TrackFile, TrackScript
from .scripthost import Launcher, kill_group

log = logging.getLogger("vrrpd")

FILE_POLL = 1.0


async def run_check(
    command: tuple[str, ...], timeout: float, launcher: Launcher
) -> tuple[bool, str]:
    """Run one check; (success, one-line detail)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            **launcher.options({}),
        )
    except (OSError, SubprocessError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        return False, f"cannot run {command[0]}: {reason}"
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        kill_group(proc.pid)
        await proc.wait()
        return False, f"timed out after {timeout:g}s"
    except asyncio.CancelledError:
        kill_group(proc.pid)
        raise
    return code == 0, f"exit {code}"


FILE_MAX = 64  # bytes: an integer with room for blanks; a longer file holds no value


def read_value(path: str) -> int | None:
    """The integer in a tracked file, or None when it cannot be read or holds none.

    Only a regular file counts, opened without blocking and read at most FILE_MAX + 1
    bytes: a FIFO at the path must not stop the event loop, a link to /dev/zero must not
    fill the memory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, FILE_MAX + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > FILE_MAX:
        return None
    try:
        return int(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None


class TrackRunner:
    """The scripts and files of one virtual router, each on its own task."""

    def __init__(
        self,
        scripts: tuple[TrackScript, ...],
        files: tuple[TrackFile, ...],
        on_script: Callable[[str, bool, str], None],
        on_file: Callable[[str, int | None], None],
        launcher: Launcher | None = None,
    ) -> None:
        self.launcher = launcher if launcher is not None else Launcher()
        self.scripts = scripts
        self.files = files
        self.on_script = on_script
        self.on_file = on_file
        self.tasks: list[asyncio.Task[None]] = []

    def read_files_now(self) -> None:
        for f in self.files:
            self.on_file(f.name, read_value(f.path))

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks += [loop.create_task(self._script(s)) for s in self.scripts]
        self.tasks += [loop.create_task(self._file(f)) for f in self.files]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()

    async def _script(self, spec: TrackScript) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            ok, detail = await run_check(spec.command, float(spec.timeout), self.launcher)
            self.on_script(spec.name, ok, detail)
            await asyncio.sleep(max(0.0, started + float(spec.interval) - loop.time()))

    async def _file(self, spec: TrackFile) -> None:
        while True:
            await asyncio.sleep(FILE_POLL)
            self.on_file(spec.name, read_value(spec.path))
