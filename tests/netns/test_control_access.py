"""Who may use the control socket of a real vrrpd, and how it bounds its clients.

A real daemon in a lab namespace; the real `vrrpctl` (``python -m vrrpd.ctl``) run from the
host as another user with ``setpriv --reuid 65534`` (uid 65534 is ``nobody``), so the daemon
reads a real uid and real groups with SO_PEERCRED / SO_PEERGROUPS. The lab's work directory
holds the socket; these tests open it to others for search (0711) where an unprivileged
client must reach the socket, as /run (0755) is.

The control group is the system group ``users`` (Debian's gid 100, which ``nobody`` is not
in): a test adds it to the client's groups with setpriv, nothing is written to /etc/group.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd
from netns_lab.toml_out import dumps
from tests.helpers import vr
from tests.unit.test_control_access import read_to_end
from vrrpd.access import MAX_CONNECTIONS
from vrrpd.io.control import ControlError, request

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
GROUP = "users"
BOUND = 30.0  # seconds: a generous bound for anything to happen on a shared 2-core machine


def group_gid() -> int:
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        pytest.fail(f"these tests need the system group {GROUP!r} (Debian: gid 100)")


@functools.cache
def python_for_others() -> str:
    """An interpreter uid 65534 can run: the test's own, unless it lives in a directory only
    root can enter (pyenv under /root), then the system's python3 (vrrpctl needs only the
    standard library)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        done = subprocess.run(
            [*setpriv(NOBODY, NOBODY, ()), candidate, "-c", "import vrrpd.ctl"],
            env=env(),
            cwd="/",
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode == 0:
            return candidate
    pytest.fail("no Python interpreter that uid 65534 can run with vrrpd importable")


def env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}


def setpriv(uid: int, gid: int, groups: Sequence[int]) -> list[str]:
    argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    if groups:
        return [*argv, f"--groups={','.join(map(str, groups))}"]
    return [*argv, "--clear-groups"]


def ctl_as(
    d: Vrrpd, uid: int, gid: int, groups: Sequence[int], *args: str
) -> subprocess.CompletedProcess[str]:
    """The real vrrpctl against `d`'s socket, as `uid` with primary group `gid` and the
    supplementary `groups`."""
    return subprocess.run(
        [
            *setpriv(uid, gid, groups),
            python_for_others(),
            "-m",
            "vrrpd.ctl",
            "--socket",
            str(d.socket_path),
            *args,
        ],
        env=env(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(cp: subprocess.CompletedProcess[str]) -> str:
    """vrrpctl failed with one line on stderr and nothing on stdout: that line."""
    assert cp.returncode == 1, f"exit {cp.returncode}: {cp.stdout!r} {cp.stderr!r}"
    assert cp.stdout == ""
    lines = cp.stderr.splitlines()
    assert len(lines) == 1, cp.stderr
    return lines[0]


@pytest.fixture
def router(lab: Lab) -> Iterator[Node]:
    """r1, with the lab's work directory (the socket's) searchable by others."""
    lab.workdir.chmod(0o711)
    yield lab.add_router("r1", "192.0.2.1/24")


def started(node: Node, **daemon: Any) -> Vrrpd:
    d = node.start_vrrpd([vr()], daemon=daemon)
    d.wait_state("gw", "MASTER", timeout=BOUND)
    return d


def test_non_root_uid_is_refused_with_one_line(router: Node) -> None:
    d = started(router)
    sock = d.socket_path
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    # The file mode keeps uid 65534 out before the daemon is even asked.
    assert refused(ctl_as(d, NOBODY, NOBODY, (), "status")) == (
        f"vrrpctl: {sock}: permission denied: only root and the members of vrrpd's "
        "[daemon] control_group may connect"
    )
    # A socket opened to everyone by mistake: the daemon still checks who is asking.
    sock.chmod(0o666)
    for args in (["status"], ["takeover", "gw"], ["reload"]):
        assert refused(ctl_as(d, NOBODY, NOBODY, (), *args)) == (
            f"vrrpctl: permission denied: {args[0]} needs root; uid 65534 is not allowed"
        )
    assert "control: refused uid 65534 (pid " in d.log_text()
    row = d.router("gw")  # root still may
    assert (row["state"], row["takeover"]) == ("MASTER", False)


def test_control_group_member_reads_but_does_not_override(router: Node) -> None:
    gid = group_gid()
    d = started(router, control_group=GROUP)
    st = d.socket_path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, gid)

    member = (NOBODY, NOBODY, (gid,))  # a supplementary member
    status = ctl_as(d, *member, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[1].split()[:4] == ["gw", "eth0", "51", "MASTER"]
    explain = ctl_as(d, *member, "explain", "gw")
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("base 100")
    for args in (["takeover", "gw"], ["release", "gw"], ["maintenance", "gw", "on"], ["reload"]):
        assert refused(ctl_as(d, *member, *args)) == (
            f"vrrpctl: permission denied: {args[0]} needs root; uid 65534 (group 'users') may "
            "only use status, explain, events"
        )
    row = d.router("gw")
    assert (row["state"], row["maintenance"], row["takeover"]) == ("MASTER", False, False)

    # The group as the primary group counts as well.
    assert ctl_as(d, NOBODY, gid, (), "status").returncode == 0
    # Not a member: kept out by the file mode.
    assert refused(ctl_as(d, NOBODY, NOBODY, (), "status")).endswith(
        "permission denied: only root and the members of vrrpd's [daemon] control_group may connect"
    )


def test_reload_gives_the_socket_to_a_new_control_group(router: Node) -> None:
    gid = group_gid()
    d = started(router)
    member = (NOBODY, NOBODY, (gid,))
    assert "permission denied" in refused(ctl_as(d, *member, "status"))

    doc = tomllib.loads(d.config_path.read_text())
    doc["daemon"]["control_group"] = GROUP
    d.config_path.write_text(dumps(doc))
    request(str(d.socket_path), {"cmd": "reload"}, timeout=BOUND)

    st = d.socket_path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, gid)
    cp = ctl_as(d, *member, "status")
    assert cp.returncode == 0, cp.stderr
    assert "permission denied: takeover" in refused(ctl_as(d, *member, "takeover", "gw"))


def exits_refusing(d: Vrrpd) -> str:
    """vrrpd exited non-zero at start with one `vrrpd: ...` line; that line."""
    d.proc.wait(timeout=BOUND)  # it exits by itself
    assert d.stop() != 0
    this_run = d.log_text().rsplit("--- netns_lab: starting vrrpd", 1)[-1]  # the log appends
    lines = [line for line in this_run.splitlines() if line.startswith("vrrpd: ")]
    assert len(lines) == 1, this_run
    return lines[0]


def test_unsafe_socket_directory_is_refused_at_start(lab: Lab) -> None:
    node = lab.add_router("r1", "192.0.2.1/24")
    where = lab.workdir
    where.chmod(0o777)
    d = node.start_vrrpd([vr()])
    assert exits_refusing(d) == (
        f"vrrpd: control socket directory {where} is writable by group and others (owner uid "
        f"0, mode 0777): whoever can write there can replace the socket; chmod go-w {where} "
        "or set [daemon] control_socket to a path in a directory of its own"
    )
    assert not d.socket_path.exists()
    assert not node.has_address("192.0.2.254", "eth0")

    where.chmod(0o700)
    os.chown(where, NOBODY, -1)
    d = node.start_vrrpd([vr()])
    assert exits_refusing(d) == (
        f"vrrpd: control socket directory {where} is owned by uid 65534 (mode 0700); it must "
        "belong to root: chown it or set [daemon] control_socket to a path in a directory of "
        "its own"
    )

    os.chown(where, 0, -1)
    started(node)  # a safe directory: it starts


def test_connection_cap_and_idle_timeout(router: Node) -> None:
    """32 idle connections (one of them trickling a byte every 0.2 s, one that had a request
    answered): the 33rd is refused
    with one line; after the idle timeout every one of the 32 is answered and closed, and
    the daemon serves again."""
    idle = 5.0
    d = started(router, control_idle_timeout=idle)
    path = str(d.socket_path)
    conns: list[socket.socket] = []
    stop = threading.Event()
    first = time.monotonic()
    try:
        for i in range(MAX_CONNECTIONS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conns.append(s)
            s.settimeout(BOUND)
            s.connect(path)
            if i == 0:
                # One request answered on the first: by then the daemon has also seen the
                # end of the connections wait_state used, so they no longer count.
                s.sendall(b'{"cmd": "status"}\n')
                assert json.loads(s.makefile("rb").readline())["ok"] is True

        def trickle() -> None:
            while not stop.wait(0.2):
                try:
                    conns[1].send(b"{")
                except OSError:
                    return  # closed by the daemon

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()

        with pytest.raises(ControlError) as info:
            request(path, {"cmd": "status"}, timeout=BOUND)
        assert str(info.value) == (
            f"too many control connections ({MAX_CONNECTIONS} open, at most "
            f"{MAX_CONNECTIONS}); try again later"
        )
        answers = [read_to_end(s) for s in conns]  # each ends when the daemon closes it
        took = time.monotonic() - first
        stop.set()
        trickler.join(BOUND)
    finally:
        stop.set()
        for s in conns:
            s.close()
    closed = {"ok": False, "error": f"no complete request within {idle:g}s; connection closed"}
    assert answers == [[closed]] * MAX_CONNECTIONS
    assert took >= idle  # not before the timeout, the trickling one included
    assert d.router("gw")["state"] == "MASTER"  # served again
    assert "control: refused uid 0 (pid " in d.log_text()
