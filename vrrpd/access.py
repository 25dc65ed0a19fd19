"""Who may use the control socket, and where it may live: pure decisions, no I/O.

The control socket (vrrpd.io.control) asks the kernel who is at the other end of each
connection (`SO_PEERCRED`: uid, gid; `SO_PEERGROUPS`: the supplementary groups) and asks
`Policy` what that peer may do:

- root (uid 0) and the daemon's own user (its euid, when it runs as a dedicated user) may use
  every command;
- members of the optional `[daemon] control_group` (primary or supplementary group) may use
  the read-only commands, `READ_ONLY`, and nothing else;
- everybody else is refused whatever they ask.

The file modes say the same thing a second time: the socket is 0600, or 0660 owned by the
control group. A peer the file modes let in by mistake (a hand-made `chmod 666`) is still
refused here.

The directory that holds the socket must belong to root or to the daemon's user and be
writable by nobody else (`directory_problem`): whoever can write there can replace the socket
(clients would then talk to an impostor) or its lock file.

Connections are capped (`MAX_CONNECTIONS`, `admit`): a client that opens sockets in a loop
cannot exhaust the daemon's file descriptors, and the last `RESERVED_PRIVILEGED` slots are
kept for root and the daemon's user, so a flood from the control group cannot lock the
operator out.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from .api import Command

# The commands that change nothing: the control group may use these and only these. The one
# list; vrrpctl, the daemon and the tests take it from here.
READ_ONLY: frozenset[str] = frozenset({Command.STATUS, Command.EXPLAIN, Command.EVENTS})

# Connections open at once, all peers together. 32 is far more than operators and a
# monitoring agent need (vrrpctl opens one per command, `vrrpctl events` one while it
# follows), and small enough that a flood of connections costs the daemon little.
MAX_CONNECTIONS = 32
# Of those, slots only root and the daemon's user can take.
RESERVED_PRIVILEGED = 4

SOCKET_MODE = 0o600
GROUP_SOCKET_MODE = 0o660
DIRECTORY_MODE = 0o700
GROUP_DIRECTORY_MODE = 0o750


@dataclass(frozen=True)
class Peer:
    """The process at the other end of a connection, as the kernel saw it when it
    connected."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()  # supplementary groups
    pid: int = 0

    def __str__(self) -> str:
        return f"uid {self.uid} (pid {self.pid})"


@dataclass(frozen=True)
class Group:
    """The control group, its name resolved to its gid."""

    name: str
    gid: int


@dataclass(frozen=True)
class Policy:
    """`daemon_uid` is the daemon's effective uid (0 when it runs as root)."""

    daemon_uid: int
    group: Group | None = None

    def privileged(self, peer: Peer) -> bool:
        return peer.uid in (0, self.daemon_uid)

    def member(self, peer: Peer) -> bool:
        return self.group is not None and (
            peer.gid == self.group.gid or self.group.gid in peer.groups
        )

    def _who(self) -> str:
        """Who may use every command."""
        if self.daemon_uid == 0:
            return "root"
        return f"root or uid {self.daemon_uid} (vrrpd's own)"

    def refusal(self, peer: Peer, cmd: str | None) -> str | None:
        """None if `peer` may send `cmd`, else the one-line answer that refuses it.

        `cmd` None stands for a request that names no known command (invalid JSON, an
        unknown `cmd`): a peer with any right gets the usual error answer for it, anybody
        else is refused.
        """
        if self.privileged(peer):
            return None
        member = self.member(peer)
        if member and (cmd is None or cmd in READ_ONLY):
            return None
        if member:
            assert self.group is not None
            allowed = ", ".join(c for c in Command if c in READ_ONLY)
            return (
                f"permission denied: {cmd} needs {self._who()}; uid {peer.uid} "
                f"(group {self.group.name!r}) may only use {allowed}"
            )
        who = self._who()
        if self.group is not None and (cmd is None or cmd in READ_ONLY):
            who += f" or group {self.group.name!r}"
        if cmd is None:
            return (
                f"permission denied: the control socket needs {who}; uid {peer.uid} is not allowed"
            )
        return f"permission denied: {cmd} needs {who}; uid {peer.uid} is not allowed"

    def admit(self, peer: Peer, open_now: int, open_unprivileged: int) -> str | None:
        """None if a new connection from `peer` may be served while `open_now` are open
        (`open_unprivileged` of them from peers that are neither root nor the daemon's
        user), else the one-line answer that refuses it."""
        if open_now >= MAX_CONNECTIONS:
            return (
                f"too many control connections ({open_now} open, at most {MAX_CONNECTIONS}); "
                f"try again later"
            )
        shared = MAX_CONNECTIONS - RESERVED_PRIVILEGED
        if not self.privileged(peer) and open_unprivileged >= shared:
            return (
                f"too many control connections from users other than root ({open_unprivileged} "
                f"open, at most {shared}); try again later"
            )
        return None


def socket_mode(group: Group | None) -> int:
    return SOCKET_MODE if group is None else GROUP_SOCKET_MODE


def directory_mode(group: Group | None) -> int:
    return DIRECTORY_MODE if group is None else GROUP_DIRECTORY_MODE


def directory_problem(path: str, st_mode: int, st_uid: int, daemon_uid: int) -> str | None:
    """None if a control socket may live in directory `path` (its `lstat` mode and owner),
    else the one start-up line that says why not and what to do.

    It must be a real directory (not a symbolic link: whoever can change the link chooses
    where the socket goes), owned by root or the daemon's user, and writable by nobody else
    (sticky or not: a sticky directory still lets others create the socket's or the lock's
    name first).
    """
    mode = stat.S_IMODE(st_mode)
    where = f"control socket directory {path}"
    owner = "root" if daemon_uid == 0 else f"root or uid {daemon_uid} (vrrpd's user)"
    fix = "or set [daemon] control_socket to a path in a directory of its own"
    if stat.S_ISLNK(st_mode):
        return f"{where} is a symbolic link; name the real directory in [daemon] control_socket"
    if not stat.S_ISDIR(st_mode):
        return f"{where} is not a directory; remove it {fix}"
    if st_uid not in (0, daemon_uid):
        return (
            f"{where} is owned by uid {st_uid} (mode {mode:04o}); it must belong to {owner}: "
            f"chown it {fix}"
        )
    writers = [who for who, bit in (("group", 0o020), ("others", 0o002)) if mode & bit]
    if writers:
        return (
            f"{where} is writable by {' and '.join(writers)} (owner uid {st_uid}, mode "
            f"{mode:04o}): whoever can write there can replace the socket; chmod go-w {path} "
            f"{fix}"
        )
    return None


def group_reach_problem(path: str, st_mode: int, st_gid: int, group: Group | None) -> str | None:
    """A warning (not a refusal) when the control group cannot reach a socket in directory
    `path`: it needs search permission there, as its group or as others."""
    if group is None:
        return None
    if st_mode & (0o001 | (0o010 if st_gid == group.gid else 0)):
        return None
    return (
        f"control socket directory {path} (mode {stat.S_IMODE(st_mode):04o}, gid {st_gid}) "
        f"does not let group {group.name!r} reach the socket: members will get 'permission "
        f"denied'; chgrp {group.name} {path} && chmod g+x {path}"
    )
