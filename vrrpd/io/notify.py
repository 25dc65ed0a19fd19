"""Notify scripts: run in order, one at a time, each with a timeout, never blocking the
protocol (the state machine goes on while a script runs or hangs).

A script gets keepalived-compatible arguments after its own (`INSTANCE name STATE priority`,
or `GROUP name STATE` for a sync group) and the same facts as environment variables
(VRRP_NAME, VRRP_STATE, VRRP_OLD_STATE, VRRP_REASON, VRRP_PRIORITY, VRRP_VRID, VRRP_IFACE,
VRRP_FAMILY, VRRP_KIND, and VRRP_MASTER: the master's address as last seen, "" unknown). The
per-state hooks (`on_master` ...) run the same way, without the arguments. A script that
outlives its timeout is killed with its process group.
Scripts run as `[daemon] script_user` with a fixed environment (`vrrpd.io.scripthost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from subprocess import SubprocessError

from ..config import SyncGroup, VirtualRouterConfig
from ..fsm import State
from ..hooks import commands
from ..instance import Transition
from .scripthost import Launcher, kill_group

log = logging.getLogger("vrrpd")

QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Job:
    argv: tuple[str, ...]
    env: dict[str, str]
    timeout: float
    what: str  # for logs: "gw MASTER"


GROUP_TIMEOUT = 10.0


def instance_env(cfg: VirtualRouterConfig, t: Transition) -> dict[str, str]:
    """The VRRP_* environment of a virtual router's scripts for transition `t`."""
    return {
        "VRRP_KIND": "INSTANCE",
        "VRRP_NAME": cfg.name,
        "VRRP_STATE": t.new.value,
        "VRRP_OLD_STATE": t.old.value,
        "VRRP_REASON": t.reason.value,
        "VRRP_PRIORITY": str(t.priority),
        "VRRP_VRID": str(cfg.vrid),
        "VRRP_IFACE": cfg.interface,
        "VRRP_FAMILY": f"ipv{cfg.family}",
        "VRRP_MASTER": t.master,
    }


def instance_jobs(cfg: VirtualRouterConfig, t: Transition) -> list[Job]:
    """The scripts run for a virtual router's transition, in order (`vrrpd.hooks`)."""
    keepalived = ("INSTANCE", cfg.name, t.new.value, str(t.priority))
    return [
        Job(argv, instance_env(cfg, t), float(cfg.notify_timeout), f"{cfg.name} {t.new.value}")
        for argv in commands(cfg, t.new, keepalived)
    ]


def before_master_job(cfg: VirtualRouterConfig, t: Transition) -> Job:
    """`before_master` for transition `t`, as given (no arguments appended)."""
    timeout = float(cfg.before_master_timeout)
    return Job(cfg.before_master, instance_env(cfg, t), timeout, f"{cfg.name} before_master")


def group_jobs(group: SyncGroup, state: State) -> list[Job]:
    """The scripts run when a sync group settles in `state` (INITIALIZE: vrrpd stops)."""
    env = {"VRRP_KIND": "GROUP", "VRRP_NAME": group.name, "VRRP_STATE": state.value}
    return [
        Job(argv, dict(env), GROUP_TIMEOUT, f"group {group.name} {state.value}")
        for argv in commands(group, state, ("GROUP", group.name, state.value))
    ]


STDERR_KEEP = 4096  # bytes of a script's stderr kept (the end: what it said last)


async def tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    """Read `stream` to its end, keeping only its last `keep` bytes."""
    buf = bytearray()
    while chunk := await stream.read(65536):
        buf += chunk
        if len(buf) > keep:
            del buf[:-keep]
    return bytes(buf)


class NotifyRunner:
    def __init__(self, launcher: Launcher | None = None) -> None:
        self.launcher = launcher if launcher is not None else Launcher()
        self.queue: asyncio.Queue[Job] = asyncio.Queue(QUEUE_LIMIT)
        self.task: asyncio.Task[None] | None = None
        self.ran = 0
        self.failed = 0

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="notify")

    def submit(self, job: Job) -> None:
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.failed += 1
            log.error(
                "notify %s: %d notifications pending; this one is dropped", job.what, QUEUE_LIMIT
            )

    async def drain(self, timeout: float) -> None:
        """Let pending notifications run (at shutdown), for at most `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self.run(job)
            except Exception:
                log.exception("notify %s failed", job.what)
            finally:
                self.queue.task_done()

    async def run(self, job: Job) -> bool:
        """Run `job` now, beside the queue, and wait for it: whether it exited 0 in time."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *job.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                **self.launcher.options(job.env),
            )
        except (OSError, SubprocessError) as e:
            self.failed += 1
            reason = e.strerror if isinstance(e, OSError) and e.strerror else e
            log.error("notify %s: cannot run %s: %s", job.what, job.argv[0], reason)
            return False
        assert proc.stderr is not None
        try:
            err, _code = await asyncio.wait_for(
                asyncio.gather(tail(proc.stderr, STDERR_KEEP), proc.wait()), job.timeout
            )
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
            self.failed += 1
            log.error("notify %s: %s killed after %gs", job.what, job.argv[0], job.timeout)
            return False
        except asyncio.CancelledError:
            kill_group(proc.pid)  # shutdown: no script outlives the daemon
            raise
        self.ran += 1
        if proc.returncode != 0:
            self.failed += 1
            detail = err.decode(errors="replace").strip().splitlines()
            log.warning(
                "notify %s: %s exited %d%s",
                job.what,
                job.argv[0],
                proc.returncode,
                f": {detail[-1]}" if detail else "",
            )
            return False
        return True
