"""Notifier against real Unix datagram sockets standing in for the service manager.

The receiving side does what systemd does: it binds the socket named in NOTIFY_SOCKET (a path
or an abstract name), reads datagrams and checks the sender's credentials (SCM_CREDENTIALS).
"""

from __future__ import annotations

import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vrrpd.io.sdnotify import Notifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket in tmp_path and the NOTIFY_SOCKET value naming it."""
    path = str(tmp_path / "notify")
    assert len(path.encode()) < 108, f"socket path too long for AF_UNIX: {path}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_notifications_arrive(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("2 routers, 1 master")
    assert receive(sock) == "READY=1\nSTATUS=2 routers, 1 master"
    assert notifier.ready()
    assert receive(sock) == "READY=1"
    assert notifier.status("gw: MASTER")
    assert receive(sock) == "STATUS=gw: MASTER"
    assert notifier.watchdog()
    assert receive(sock) == "WATCHDOG=1"
    assert notifier.stopping("shutting down")
    assert receive(sock) == "STOPPING=1\nSTATUS=shutting down"
    assert notifier.stopping()
    assert receive(sock) == "STOPPING=1"
    assert notifier.send_text("READY=1\nSTATUS=raw")
    assert receive(sock) == "READY=1\nSTATUS=raw"
    # A newline in a value would start a new assignment: it becomes a space.
    assert notifier.send(STATUS="two\nlines", ERRNO=0)
    assert receive(sock) == "STATUS=two lines\nERRNO=0"
    notifier.close()
    assert not notifier.enabled
    assert notifier.status("closed") is False


def test_reloading_carries_the_monotonic_clock(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading("reloading configuration")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = dict(line.split("=", 1) for line in receive(sock).split("\n"))
    assert fields["RELOADING"] == "1"
    assert fields["STATUS"] == "reloading configuration"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_sender_credentials_are_ours(manager: tuple[socket.socket, str]) -> None:
    """systemd accepts a notification only from the service's process (NotifyAccess=main):
    the kernel-attested PID of the datagram must be ours."""
    sock, path = manager
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    assert Notifier({"NOTIFY_SOCKET": path}).ready()
    data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    assert data == b"READY=1"
    creds = [d for level, kind, d in ancillary if kind == socket.SCM_CREDENTIALS]
    assert creds, "no SCM_CREDENTIALS"
    pid, uid, gid = struct.unpack("3i", creds[0][:12])
    assert (pid, uid, gid) == (os.getpid(), os.getuid(), os.getgid())


def test_abstract_socket() -> None:
    name = f"vrrpdtest-notify-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.enabled
        assert notifier.ready("abstract")
        assert receive(sock) == "READY=1\nSTATUS=abstract"
        assert notifier.watchdog()
        assert receive(sock) == "WATCHDOG=1"


def test_watchdog_interval() -> None:
    me = str(os.getpid())
    other = str(os.getpid() + 1)
    assert Notifier({"WATCHDOG_USEC": "2000000"}).watchdog_interval() == 1.0
    assert Notifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": me}).watchdog_interval() == 1.0
    assert Notifier({"WATCHDOG_USEC": "300000"}).watchdog_interval() == 0.15
    # Meant for another process (we inherited the environment): not ours to feed.
    assert Notifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": other}).watchdog_interval() is None
    for pid in ("", "abc", "0", "-1"):
        env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": pid}
        assert Notifier(env).watchdog_interval() is None, pid
    for usec in ("", "0", "-5", "1e6", "abc", "1_000"):
        assert Notifier({"WATCHDOG_USEC": usec}).watchdog_interval() is None, usec
    assert Notifier({}).watchdog_interval() is None


def test_os_environ_is_the_default(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    try:
        os.environ["NOTIFY_SOCKET"] = path
        os.environ["WATCHDOG_USEC"] = "4000000"
        os.environ.pop("WATCHDOG_PID", None)
        notifier = Notifier()
        assert notifier.ready()
        assert receive(sock) == "READY=1"
        assert notifier.watchdog_interval() == 2.0
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize("value", [None, "", "relative/path", "@", "vsock:2:1234"])
def test_no_usable_notify_socket_is_disabled(value: str | None) -> None:
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    notifier = Notifier(env)
    assert not notifier.enabled
    assert notifier.send(READY=1) is False
    assert notifier.send_text("READY=1") is False
    assert notifier.ready("x") is False
    assert notifier.status("x") is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    assert notifier.watchdog() is False
    notifier.close()


def test_missing_or_dead_manager_never_raises(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    dead = str(tmp_path / "dead")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(dead)  # the file outlives the socket: nobody is listening on it
    for path in (missing, dead):
        notifier = Notifier({"NOTIFY_SOCKET": path})
        assert notifier.enabled
        assert notifier.ready("nobody there") is False
        assert isinstance(notifier.last_error, OSError)
        notifier.close()


def test_full_manager_queue_does_not_block(manager: tuple[socket.socket, str]) -> None:
    """A manager that does not read: sends fail fast (EAGAIN) instead of blocking the loop."""
    sock, path = manager
    notifier = Notifier({"NOTIFY_SOCKET": path})
    # The kernel queues at most net.unix.max_dgram_qlen datagrams for a socket nobody reads;
    # past that a blocking send would hang here forever, a non-blocking one fails at once.
    qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    results = [notifier.watchdog() for _ in range(qlen + 100)]
    assert results[0] is True
    assert results[-1] is False, "the queue never filled: nothing was tested"
    assert isinstance(notifier.last_error, BlockingIOError)
    sock.setblocking(False)
    while True:
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
    assert notifier.watchdog() is True  # room again
