"""vrrpd.access: who may use which control command, how many connections, which directory
may hold the socket. Pure: no sockets, no files (the config keys are read from tmp files)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, problems, write
from vrrpd.access import (
    MAX_CONNECTIONS,
    READ_ONLY,
    RESERVED_PRIVILEGED,
    Group,
    Peer,
    Policy,
    directory_mode,
    directory_problem,
    group_reach_problem,
    socket_mode,
)
from vrrpd.api import Command
from vrrpd.config import load

OPS = Group("vrrpops", 4242)
ROOT = Peer(uid=0, gid=0, pid=1)
ALICE = Peer(uid=1000, gid=1000, groups=(27,), pid=77)  # not in the control group
MEMBER = Peer(uid=1001, gid=1001, groups=(27, OPS.gid), pid=78)  # supplementary member
PRIMARY = Peer(uid=1002, gid=OPS.gid, pid=79)  # the group is its primary group
VRRPD_USER = Peer(uid=998, gid=998, pid=80)

WRITING = [c for c in Command if c not in READ_ONLY]


def test_read_only_commands_are_the_ones_that_change_nothing() -> None:
    assert sorted(READ_ONLY) == ["events", "explain", "status"]
    assert WRITING == ["takeover", "release", "maintenance", "reload"]


@pytest.mark.parametrize("cmd", [*Command, None])
def test_root_may_do_everything(cmd: str | None) -> None:
    assert Policy(daemon_uid=0).refusal(ROOT, cmd) is None
    assert Policy(daemon_uid=998, group=OPS).refusal(ROOT, cmd) is None


@pytest.mark.parametrize("cmd", [*Command, None])
def test_the_daemons_own_user_may_do_everything(cmd: str | None) -> None:
    assert Policy(daemon_uid=998).refusal(VRRPD_USER, cmd) is None


def test_others_are_refused_everything_without_a_group() -> None:
    policy = Policy(daemon_uid=0)
    assert policy.refusal(ALICE, "status") == (
        "permission denied: status needs root; uid 1000 is not allowed"
    )
    assert policy.refusal(ALICE, "takeover") == (
        "permission denied: takeover needs root; uid 1000 is not allowed"
    )
    # Invalid JSON, an unknown command: refused too, not answered as if it could go on.
    assert policy.refusal(ALICE, None) == (
        "permission denied: the control socket needs root; uid 1000 is not allowed"
    )
    # Membership of some group (sudo, 27) counts for nothing without a control group.
    assert policy.refusal(MEMBER, "status") is not None


def test_with_a_daemon_user_the_refusal_names_it() -> None:
    assert Policy(daemon_uid=998).refusal(ALICE, "reload") == (
        "permission denied: reload needs root or uid 998 (vrrpd's own); uid 1000 is not allowed"
    )


@pytest.mark.parametrize("peer", [MEMBER, PRIMARY], ids=["supplementary", "primary"])
def test_group_members_may_read_only(peer: Peer) -> None:
    policy = Policy(daemon_uid=0, group=OPS)
    for cmd in READ_ONLY:
        assert policy.refusal(peer, cmd) is None
    # An invalid or unknown request gets its usual error answer.
    assert policy.refusal(peer, None) is None
    for cmd in WRITING:
        assert policy.refusal(peer, cmd) == (
            f"permission denied: {cmd} needs root; uid {peer.uid} (group 'vrrpops') may only "
            f"use status, explain, events"
        )


def test_non_members_are_told_about_the_group_for_reading_only() -> None:
    policy = Policy(daemon_uid=0, group=OPS)
    assert policy.refusal(ALICE, "status") == (
        "permission denied: status needs root or group 'vrrpops'; uid 1000 is not allowed"
    )
    assert policy.refusal(ALICE, None) == (
        "permission denied: the control socket needs root or group 'vrrpops'; "
        "uid 1000 is not allowed"
    )
    assert policy.refusal(ALICE, "maintenance") == (
        "permission denied: maintenance needs root; uid 1000 is not allowed"
    )


def test_connection_cap() -> None:
    policy = Policy(daemon_uid=0, group=OPS)
    assert policy.admit(ROOT, MAX_CONNECTIONS - 1, 0) is None
    assert policy.admit(ROOT, MAX_CONNECTIONS, 0) == (
        f"too many control connections ({MAX_CONNECTIONS} open, at most {MAX_CONNECTIONS}); "
        "try again later"
    )
    assert policy.admit(MEMBER, MAX_CONNECTIONS, 0) is not None


def test_the_last_slots_are_kept_for_root() -> None:
    policy = Policy(daemon_uid=998, group=OPS)
    shared = MAX_CONNECTIONS - RESERVED_PRIVILEGED
    assert RESERVED_PRIVILEGED > 0
    assert policy.admit(MEMBER, shared - 1, shared - 1) is None
    assert policy.admit(MEMBER, shared, shared) == (
        f"too many control connections from users other than root ({shared} open, at most "
        f"{shared}); try again later"
    )
    assert policy.admit(ALICE, shared, shared) is not None
    for privileged in (ROOT, VRRPD_USER):
        assert policy.admit(privileged, shared, shared) is None
        assert policy.admit(privileged, MAX_CONNECTIONS - 1, shared) is None


def test_modes() -> None:
    assert (socket_mode(None), socket_mode(OPS)) == (0o600, 0o660)
    assert (directory_mode(None), directory_mode(OPS)) == (0o700, 0o750)


DIR = stat.S_IFDIR


@pytest.mark.parametrize(
    ("mode", "owner", "daemon_uid"),
    [
        (DIR | 0o755, 0, 0),  # systemd's RuntimeDirectory=vrrpd as root
        (DIR | 0o700, 0, 0),
        (DIR | 0o750, 0, 0),
        (DIR | 0o755, 998, 998),  # RuntimeDirectory= for User=vrrpd
        (DIR | 0o700, 0, 998),  # root's directory, the daemon's user may use it
    ],
)
def test_good_directories(mode: int, owner: int, daemon_uid: int) -> None:
    assert directory_problem("/run/vrrpd", mode, owner, daemon_uid) is None


def test_directory_writable_by_others_is_refused() -> None:
    assert directory_problem("/tmp", DIR | 0o1777, 0, 0) == (
        "control socket directory /tmp is writable by group and others (owner uid 0, mode "
        "1777): whoever can write there can replace the socket; chmod go-w /tmp or set "
        "[daemon] control_socket to a path in a directory of its own"
    )
    assert "writable by others (owner uid 0, mode 0757)" in str(
        directory_problem("/x", DIR | 0o757, 0, 0)
    )
    assert "writable by group (owner uid 998, mode 0775)" in str(
        directory_problem("/x", DIR | 0o775, 998, 998)
    )


def test_directory_of_another_user_is_refused() -> None:
    assert directory_problem("/home/alice/run", DIR | 0o700, 1000, 0) == (
        "control socket directory /home/alice/run is owned by uid 1000 (mode 0700); it must "
        "belong to root: chown it or set [daemon] control_socket to a path in a directory of "
        "its own"
    )
    assert "it must belong to root or uid 998 (vrrpd's user)" in str(
        directory_problem("/x", DIR | 0o700, 1000, 998)
    )


def test_symlink_and_non_directory_are_refused() -> None:
    assert directory_problem("/run/vrrpd", stat.S_IFLNK | 0o777, 0, 0) == (
        "control socket directory /run/vrrpd is a symbolic link; name the real directory in "
        "[daemon] control_socket"
    )
    assert directory_problem("/run/vrrpd", stat.S_IFREG | 0o600, 0, 0) == (
        "control socket directory /run/vrrpd is not a directory; remove it or set [daemon] "
        "control_socket to a path in a directory of its own"
    )


def test_group_reach() -> None:
    assert group_reach_problem("/run/vrrpd", DIR | 0o700, 0, None) is None
    assert group_reach_problem("/run/vrrpd", DIR | 0o750, OPS.gid, OPS) is None
    assert group_reach_problem("/run/vrrpd", DIR | 0o711, 0, OPS) is None  # as others
    assert group_reach_problem("/run/vrrpd", DIR | 0o750, 0, OPS) == (
        "control socket directory /run/vrrpd (mode 0750, gid 0) does not let group "
        "'vrrpops' reach the socket: members will get 'permission denied'; "
        "chgrp vrrpops /run/vrrpd && chmod g+x /run/vrrpd"
    )


def test_config_keys(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ROUTER))
    assert (cfg.daemon.control_group, cfg.daemon.control_idle_timeout) == (None, 10.0)
    text = '[daemon]\ncontrol_group = "vrrpops"\ncontrol_idle_timeout = 2\n' + ROUTER
    cfg = load(write(tmp_path, text))
    assert (cfg.daemon.control_group, cfg.daemon.control_idle_timeout) == ("vrrpops", 2.0)
    assert isinstance(cfg.daemon.control_idle_timeout, float)


def test_config_key_problems(tmp_path: Path) -> None:
    text = '[daemon]\ncontrol_group = "a b"\ncontrol_idle_timeout = 0\n' + ROUTER
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}: daemon.control_group: must be 1-32 characters of A-Z a-z 0-9 _ . -, got 'a b'",
        f"{path}: daemon.control_idle_timeout: must be a number of seconds 0.1..3600, got 0",
    ]
