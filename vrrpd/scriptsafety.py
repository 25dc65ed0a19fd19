"""Who runs notify and track scripts, and whether a program may be run as root (pure).

The decisions only; `vrrpd.io.scripthost` looks up users and groups, stats the paths and
reads the capabilities, then asks here.

The rule for a program run as root (in the spirit of keepalived's `enable_script_security`):
every entry the kernel passes through to reach it, symbolic links followed, from `/` down
to the file itself, must be one that only root can change:

- it is owned by root (uid 0), symbolic links included: in a sticky directory the owner of
  a link may replace it;
- it is not writable by its group or by others (the group too, even group 0), except a
  directory with the sticky bit (like /tmp): there no one but root can rename or remove
  root's entries, and the next entry on the path is checked in its turn;
- the mode of a symbolic link means nothing and is not looked at;
- when the program does not exist (yet), the deepest directory that does must not be
  writable by group or others at all, sticky or not: whoever can write there could create
  the rest of the path.

POSIX ACLs are not read. Only the program (argv[0]) is checked: a script handed to an
interpreter as an argument (`["/bin/sh", "/etc/x.sh"]`) is not, so list the script itself
first, with a `#!` line.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .config import HOOK_KEYS, Config

# Linux capability numbers (linux/capability.h)
CAP_SETGID = 6
CAP_SETUID = 7

# What a script finds in its environment besides its own facts (VRRP_*): a fixed PATH, who it
# is, and the daemon's locale and time zone. Nothing else of the daemon's leaks through.
SCRIPT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class PathFact:
    """What lstat() says about one entry on a program's path."""

    path: str
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True)
class ScriptIdentity:
    """Who scripts run as. `switch` False: as the daemon itself (no set*id calls)."""

    uid: int
    gid: int
    name: str | None = None  # the user's name, when the passwd database has one
    home: str = "/"
    switch: bool = False

    @property
    def as_root(self) -> bool:
        return self.uid == 0


def _writers(mode: int) -> str | None:
    group, others = bool(mode & stat.S_IWGRP), bool(mode & stat.S_IWOTH)
    if group and others:
        return "its group and others"
    if group:
        return "its group"
    if others:
        return "others"
    return None


def _mode(mode: int) -> str:
    return f"mode {stat.S_IMODE(mode):04o}"


def unsafe(facts: Sequence[PathFact], complete: bool = True) -> str | None:
    """Why a user other than root could change what runs at the end of `facts`, or None.

    `facts` are the entries on the way to the program, `/` first, in the order they are
    passed (a symbolic link is followed by the entries of its target). `complete` False: the
    path ends early because an entry does not exist; the last fact is the deepest directory
    that does. The reason names the first entry that breaks the rule (module docstring)."""
    for fact in facts:
        if fact.uid != 0:
            return f"{fact.path} is owned by uid {fact.uid}, not root"
        if stat.S_ISLNK(fact.mode):
            continue
        writers = _writers(fact.mode)
        sticky_dir = stat.S_ISDIR(fact.mode) and bool(fact.mode & stat.S_ISVTX)
        if writers is not None and not sticky_dir:
            return f"{fact.path} is writable by {writers} ({_mode(fact.mode)})"
    if not complete and facts:
        last = facts[-1]
        writers = _writers(last.mode)
        if writers is not None:
            return (
                f"it does not exist and {last.path} is writable by {writers} "
                f"({_mode(last.mode)}): they could create it"
            )
    return None


SCRIPT_KEYS = ("notify", *HOOK_KEYS)  # the argv keys of a virtual router and a sync group


def programs(config: Config) -> Iterator[tuple[str, str]]:
    """(key, program) of every external command the configuration runs, keys as in
    configuration error lines (`virtual_router[0].track_scripts[1].command`)."""
    for i, vr in enumerate(config.virtual_routers):
        for key in (*SCRIPT_KEYS, "before_master", "takeover_gate"):
            if argv := getattr(vr, key):
                yield f"virtual_router[{i}].{key}", argv[0]
        for k, script in enumerate(vr.track_scripts):
            yield f"virtual_router[{i}].track_scripts[{k}].command", script.command[0]
    for k, group in enumerate(config.sync_groups):
        for key in SCRIPT_KEYS:
            if argv := getattr(group, key):
                yield f"sync_group[{k}].{key}", argv[0]


def refusal(source: str, key: str, program: str, reason: str) -> str:
    """The configuration error line for a program that would run as root unsafely."""
    return (
        f"{source}: {key}: refusing to run {program} as root: {reason}; make the file and "
        "every directory on its path owned by root and not writable by group or others "
        "(chown root, chmod go-w), or set daemon.script_user to an unprivileged user"
    )


def needs_switch(current: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether running as `target` (uid, gid) takes set*id calls from `current` (uid, gid)."""
    return current != target


def missing_capabilities(effective: int, current_uid: int, target_uid: int) -> tuple[str, ...]:
    """The capabilities a switch from `current_uid` to `target_uid` needs and `effective`
    (the CapEff mask) lacks. setgroups() (the supplementary groups are always cleared) and
    setregid() need CAP_SETGID; setreuid() to another uid needs CAP_SETUID."""
    need = [("CAP_SETGID", CAP_SETGID)]
    if target_uid != current_uid:
        need.insert(0, ("CAP_SETUID", CAP_SETUID))
    return tuple(name for name, bit in need if not (effective >> bit) & 1)


def capability_mask(status: str, field: str) -> int:
    """A capability mask (`CapEff`, `CapAmb`, ...) from the text of /proc/<pid>/status;
    0 when the field is missing."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.strip(), 16)
    return 0


def environment(
    identity: ScriptIdentity, inherited: Mapping[str, str], own: Mapping[str, str]
) -> dict[str, str]:
    """A script's whole environment: PATH, HOME, USER and LOGNAME, the daemon's LANG, LC_ALL
    and TZ, then the script's `own` facts."""
    env = {"PATH": SCRIPT_PATH, "HOME": identity.home}
    if identity.name is not None:
        env["USER"] = env["LOGNAME"] = identity.name
    env.update({k: inherited[k] for k in PASSED_THROUGH if k in inherited})
    env.update(own)
    return env
