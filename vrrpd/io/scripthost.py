"""The host side of running scripts: users and groups, path facts, capabilities, and the
options every notify and track script is started with. The decisions are
`vrrpd.scriptsafety`'s; this module gathers what they are made from.

No asyncio here: `vrrpd --check-config` runs `problems()` (through `vrrpd.config.load`).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import signal
import stat
from collections.abc import Callable, Mapping
from typing import Any

from ..config import Config, DaemonConfig
from ..scriptsafety import (
    PathFact,
    ScriptIdentity,
    capability_mask,
    environment,
    missing_capabilities,
    needs_switch,
    programs,
    refusal,
    unsafe,
)

MAX_LINKS = 40  # symbolic links followed on one path, as the kernel does (ELOOP)
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class ScriptUserError(Exception):
    """script_user or script_group cannot be used; str() is `key: what to do`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


def _numeric(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if value.isascii() and value.isdigit() else None


def _user(value: str | int) -> pwd.struct_passwd | None:
    """A user by name, or else by uid (like chown: a name first, then a number)."""
    if isinstance(value, str):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(value)
    uid = _numeric(value)
    if uid is None:
        return None
    with contextlib.suppress(KeyError, OverflowError):
        return pwd.getpwuid(uid)
    return None


def _group(value: str | int) -> int:
    if isinstance(value, str):
        with contextlib.suppress(KeyError):
            return grp.getgrnam(value).gr_gid
    gid = _numeric(value)
    if gid is None:
        raise ScriptUserError(
            "daemon.script_group",
            f"no group {value!r} on this host: create it (groupadd) or name another",
        )
    return gid  # a bare gid needs no group entry


def identity(daemon: DaemonConfig) -> ScriptIdentity:
    """Who scripts run as under `daemon` (raises ScriptUserError, one line)."""
    euid, egid = os.geteuid(), os.getegid()
    if daemon.script_user is None:
        me = _user(euid)
        return ScriptIdentity(euid, egid, me and me.pw_name, (me and me.pw_dir) or "/")
    entry = _user(daemon.script_user)
    gid: int | None
    if entry is not None:
        uid, gid, name, home = entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir or "/"
    else:
        number = _numeric(daemon.script_user)
        if number is None:
            raise ScriptUserError(
                "daemon.script_user",
                f"no user {daemon.script_user!r} on this host: create it "
                "(useradd --system) or name another",
            )
        uid, gid, name, home = number, None, None, "/"
    if daemon.script_group is not None:
        gid = _group(daemon.script_group)
    elif gid is None:
        raise ScriptUserError(
            "daemon.script_user",
            f"uid {uid} has no entry in the user database, so no primary group: "
            "set daemon.script_group",
        )
    return ScriptIdentity(uid, gid, name, home, needs_switch((euid, egid), (uid, gid)))


def _proc_status() -> str:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def effective_capabilities() -> int:
    status = _proc_status()
    if "CapEff:" not in status:  # no /proc: root is taken to have them all
        return -1 if os.geteuid() == 0 else 0
    return capability_mask(status, "CapEff")


def path_facts(
    path: str,
    lstat: Callable[[str], os.stat_result] = os.lstat,
    readlink: Callable[[str], str] = os.readlink,
) -> tuple[list[PathFact], bool]:
    """The lstat facts of every entry the kernel passes to reach `path`, `/` first,
    symbolic links followed (a link, then the entries of its target). The bool is False
    when an entry does not exist: the facts then end at the deepest directory that does.
    Raises OSError for a loop of links or an entry that cannot be looked at."""

    def fact(p: str) -> PathFact:
        st = lstat(p)
        return PathFact(p, st.st_uid, st.st_gid, st.st_mode)

    facts = [fact("/")]
    done: list[str] = []  # the resolved directories so far
    todo = [c for c in reversed(path.split("/")) if c]  # a stack: the next entry last
    links = 0
    while todo:
        name = todo.pop()
        if name == ".":
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join([*done, name])
        try:
            facts.append(fact(here))
        except (FileNotFoundError, NotADirectoryError):
            return facts, False
        if not stat.S_ISLNK(facts[-1].mode):
            done.append(name)
            continue
        links += 1
        if links > MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = readlink(here)
        if target.startswith("/"):
            done = []
        todo.extend(c for c in reversed(target.split("/")) if c)
    return facts, True


def why_unsafe(program: str) -> str | None:
    """Why `program` must not run as root (`scriptsafety.unsafe`), or None."""
    try:
        facts, complete = path_facts(program)
    except OSError as e:
        return f"its path cannot be checked: {e.strerror or e}"
    return unsafe(facts, complete)


def problems(config: Config, source: str) -> list[str]:
    """One line per reason the scripts of `config` cannot run here as configured: an
    unknown script_user or script_group, a switch of user this process has not the
    capabilities for, a program that would run as root and that others could change."""
    try:
        who = identity(config.daemon)
    except ScriptUserError as e:
        return [f"{source}: {e}"]
    lines = []
    if who.switch:
        missing = missing_capabilities(effective_capabilities(), os.geteuid(), who.uid)
        if missing:
            shown = who.name or f"uid {who.uid}"
            lines.append(
                f"{source}: daemon.script_user: running scripts as {shown} needs "
                f"{' and '.join(missing)}, which vrrpd lacks here (uid {os.geteuid()}): grant "
                "them (AmbientCapabilities= and CapabilityBoundingSet= in the unit) or leave "
                "script_user out to run scripts as vrrpd's own user"
            )
    if who.as_root:
        seen: dict[str, str | None] = {}
        for key, program in programs(config):
            if program not in seen:
                seen[program] = why_unsafe(program)
            reason = seen[program]
            if reason is not None:
                lines.append(refusal(source, key, program, reason))
    return lines


def _capability_dropper() -> Callable[[], None]:
    """A function for a child between fork and exec: clears its ambient and inheritable
    capability sets, so a non-root script inherits none of the daemon's capabilities."""
    import ctypes  # only when the daemon holds such capabilities (a non-root unit)

    libc = ctypes.CDLL(None, use_errno=True)
    prctl, capget, capset = libc.prctl, libc.capget, libc.capset
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two of (effective, permitted, inheritable)

    def drop() -> None:
        if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 or capget(header, data):
            raise OSError(ctypes.get_errno(), "cannot clear the capabilities for the script")
        data[2] = data[5] = 0
        if capset(header, data):
            raise OSError(ctypes.get_errno(), "cannot clear the capabilities for the script")

    return drop


class Launcher:
    """How scripts are started (`options`): as whom (`use` changes it, on reload), in which
    environment, from `/`, in a new session, with no inherited file descriptor and none of
    the daemon's capabilities."""

    def __init__(self, who: ScriptIdentity | None = None) -> None:
        self.identity = who if who is not None else identity(DaemonConfig())
        status = _proc_status()
        held = capability_mask(status, "CapAmb") | capability_mask(status, "CapInh")
        self._preexec = _capability_dropper() if held else None

    def use(self, who: ScriptIdentity) -> None:
        self.identity = who

    def options(self, own_env: Mapping[str, str]) -> dict[str, Any]:
        """Keyword arguments for `asyncio.create_subprocess_exec` (the caller adds stdin,
        stdout and stderr)."""
        who = self.identity
        opts: dict[str, Any] = {
            "env": environment(who, os.environ, own_env),
            "cwd": "/",
            "close_fds": True,
            "start_new_session": True,
        }
        if who.switch:
            opts.update(user=who.uid, group=who.gid, extra_groups=[])
        if self._preexec is not None:
            opts["preexec_fn"] = self._preexec
        return opts


def kill_group(pid: int) -> None:
    """SIGKILL a script's process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
