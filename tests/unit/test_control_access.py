"""The control socket's access check, its directory, its connection cap and idle timeout: a
real Unix socket in tmp_path and a real asyncio server. Who is at the other end is the test
process itself, so the peers that are not root are put in place of what SO_PEERCRED said
(`as_peer`); tests/netns/test_control_access.py runs the same with real uids."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_control import (
    RECORDS,
    STATUS,
    raw_exchange,
    run,
    sock_path,
)
from tests.unit.test_metrics import _read_all
from vrrpd.access import MAX_CONNECTIONS, RESERVED_PRIVILEGED, Peer
from vrrpd.cli import vrrpctl_main
from vrrpd.io import control
from vrrpd.io.control import ControlError, ControlServer, Stream, request

ALICE = Peer(uid=1000, gid=1000, pid=4242)
ROOT = Peer(uid=0, gid=0, pid=1)
MY_GROUP = grp.getgrgid(os.getgid()).gr_name  # a group that exists, whoever runs the tests
MEMBER = Peer(uid=1001, gid=os.getgid(), pid=4243)
DEADLINE = 20.0  # seconds: generous, the machine is shared


class Recorder:
    """A handler that records the commands it saw: `status` gives the records, `takeover`
    an answer, `events` a stream that never yields (and notes when it is closed)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.stream_closed = asyncio.Event()

    async def __call__(self, req: dict[str, Any]) -> Any:
        self.seen.append(req["cmd"])
        if req["cmd"] == "events":
            return Stream(self._silent())
        if req["cmd"] == "status":
            return RECORDS
        return {"name": "gw", "priority": 254}

    async def _silent(self) -> AsyncIterator[Any]:
        try:
            await asyncio.Event().wait()
            yield None  # never reached
        finally:
            self.stream_closed.set()


def as_peer(monkeypatch: pytest.MonkeyPatch, who: list[Peer]) -> None:
    """Every connection accepted from now on is seen as coming from `who[0]` (a list, so a
    test can change it on the way)."""
    monkeypatch.setattr(control, "_peer", lambda writer: who[0])


async def serve(path: str, handler: Any, **kw: Any) -> ControlServer:
    server = ControlServer(path, handler, **kw)
    await server.start()
    return server


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` on the loop (the server runs on it) until true, or fail."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(path)
    return s


def read_to_end(s: socket.socket) -> list[dict[str, Any]]:
    """Every answer line until the server closes the connection. Closed with bytes of ours
    still unread (a client trickling its request), the socket reads as reset once the answer
    is read: an end as well."""
    return [json.loads(line) for line in _read_all(s).splitlines()]


# --- who may do what ----------------------------------------------------------------------


def test_peer_is_what_the_kernel_says() -> None:
    a, b = socket.socketpair()
    with a, b:

        class Writer:
            def get_extra_info(self, name: str) -> Any:
                return a if name == "socket" else None

        peer = control._peer(Writer())  # type: ignore[arg-type]
    assert (peer.pid, peer.uid, peer.gid) == (os.getpid(), os.geteuid(), os.getegid())
    assert set(peer.groups) == set(os.getgroups())


def test_refused_peer_gets_one_line_and_is_hung_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sock_path(tmp_path)
    as_peer(monkeypatch, [ALICE])
    handler = Recorder()

    async def main() -> list[dict[str, Any]]:
        server = await serve(path, handler)
        try:
            # Two requests: the first is refused and the connection closed, so the second
            # is never read.
            return await asyncio.to_thread(
                raw_exchange, path, b'{"cmd": "status"}\n{"cmd": "status"}\n'
            )
        finally:
            await server.close()

    assert run(main()) == [
        {"ok": False, "error": "permission denied: status needs root; uid 1000 is not allowed"}
    ]
    assert handler.seen == []


def test_refused_peer_sending_garbage_is_hung_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not 'invalid JSON' line after line: a peer without rights gets one answer."""
    path = sock_path(tmp_path)
    as_peer(monkeypatch, [ALICE])

    async def main() -> list[dict[str, Any]]:
        server = await serve(path, Recorder())
        try:
            return await asyncio.to_thread(raw_exchange, path, b"junk\njunk\n")
        finally:
            await server.close()

    assert run(main()) == [
        {
            "ok": False,
            "error": "permission denied: the control socket needs root; uid 1000 is not allowed",
        }
    ]


def test_vrrpctl_prints_the_refusal_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sock_path(tmp_path)
    as_peer(monkeypatch, [ALICE])

    async def main() -> int:
        server = await serve(path, Recorder())
        try:
            return await asyncio.to_thread(vrrpctl_main, ["--socket", path, "takeover", "gw"])
        finally:
            await server.close()

    assert run(main()) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "vrrpctl: permission denied: takeover needs root; uid 1000 is not allowed"
    ]


def test_group_member_reads_but_does_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sock_path(tmp_path)
    as_peer(monkeypatch, [MEMBER])
    handler = Recorder()

    async def main() -> tuple[Any, list[dict[str, Any]], str]:
        server = await serve(path, handler, group=MY_GROUP)
        try:
            status = await asyncio.to_thread(request, path, {"cmd": "status"})
            refused = await asyncio.to_thread(
                raw_exchange, path, b'{"cmd": "takeover", "name": "gw"}\n{"cmd": "status"}\n'
            )
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"cmd": "reload"})
            return status, refused, str(info.value)
        finally:
            await server.close()

    status, refused, message = run(main())
    assert status == STATUS
    line = (
        f"permission denied: takeover needs root; uid 1001 (group {MY_GROUP!r}) may only use "
        "status, explain, events"
    )
    assert refused == [{"ok": False, "error": line}]  # and hung up: no answer to status
    assert message == line.replace("takeover", "reload")
    assert handler.seen == ["status"]


def test_root_is_not_limited_by_the_group(tmp_path: Path) -> None:
    path = sock_path(tmp_path)  # the real peer: this process
    handler = Recorder()

    async def main() -> Any:
        server = await serve(path, handler, group=MY_GROUP)
        try:
            return await asyncio.to_thread(request, path, {"cmd": "takeover", "name": "gw"})
        finally:
            await server.close()

    # Root, or (tests run by another user) the daemon's own user: everything either way.
    assert run(main()) == {"name": "gw", "priority": 254}
    assert handler.seen == ["takeover"]


# --- files: the socket, its directory -------------------------------------------------------


def mode_and_gid(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_gid


def test_missing_directory_created_0700_socket_0600(tmp_path: Path) -> None:
    path = tmp_path / "run" / "c.sock"

    async def main() -> tuple[tuple[int, int], tuple[int, int]]:
        server = await serve(str(path), Recorder())
        try:
            return mode_and_gid(path.parent), mode_and_gid(path)
        finally:
            await server.close()

    (dir_mode, _), (sock_mode, _) = run(main())
    assert (dir_mode, sock_mode) == (0o700, 0o600)


def test_with_a_group_directory_0750_socket_0660_both_the_groups(tmp_path: Path) -> None:
    path = tmp_path / "run" / "c.sock"
    gid = os.getgid()

    async def main() -> tuple[tuple[int, int], tuple[int, int]]:
        server = await serve(str(path), Recorder(), group=MY_GROUP)
        try:
            return mode_and_gid(path.parent), mode_and_gid(path)
        finally:
            await server.close()

    assert run(main()) == ((0o750, gid), (0o660, gid))


def refused_start(path: str, **kw: Any) -> str:
    async def main() -> str:
        server = ControlServer(path, Recorder(), **kw)
        with pytest.raises(ControlError) as info:
            await server.start()
        await server.close()
        return str(info.value)

    return str(run(main()))


def test_world_writable_directory_refused(tmp_path: Path) -> None:
    where = tmp_path / "open"
    where.mkdir()
    where.chmod(0o1777)  # like /tmp
    message = refused_start(str(where / "c.sock"))
    assert message == (
        f"control socket directory {where} is writable by group and others (owner uid "
        f"{os.geteuid()}, mode 1777): whoever can write there can replace the socket; chmod "
        f"go-w {where} or set [daemon] control_socket to a path in a directory of its own"
    )
    assert list(where.iterdir()) == []  # no socket, no lock file


def test_group_writable_directory_refused(tmp_path: Path) -> None:
    where = tmp_path / "shared"
    where.mkdir()
    where.chmod(0o770)
    assert "is writable by group (" in refused_start(str(where / "c.sock"))


def test_symlinked_directory_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert refused_start(str(link / "c.sock")) == (
        f"control socket directory {link} is a symbolic link; name the real directory in "
        "[daemon] control_socket"
    )
    assert list(real.iterdir()) == []


def test_unknown_group_refused(tmp_path: Path) -> None:
    assert refused_start(sock_path(tmp_path), group="no-such-group-x") == (
        "[daemon] control_group 'no-such-group-x': no such group; create it (groupadd "
        "no-such-group-x) or remove the key"
    )


def test_reconfigure_gives_the_socket_to_the_group_and_back(tmp_path: Path) -> None:
    path = Path(sock_path(tmp_path))

    async def main() -> list[Any]:
        server = await serve(str(path), Recorder())
        try:
            seen: list[Any] = [mode_and_gid(path)[0]]
            server.reconfigure(MY_GROUP, 3.0)
            seen.append(mode_and_gid(path))
            with pytest.raises(ControlError) as info:
                server.reconfigure("no-such-group-x", 1.0)
            seen += [str(info.value), mode_and_gid(path), server.idle_timeout]
            server.reconfigure(None, 10.0)
            seen.append(mode_and_gid(path)[0])
            return seen
        finally:
            await server.close()

    before, grouped, error, after_error, timeout, back = run(main())
    assert before == 0o600
    assert grouped == (0o660, os.getgid())
    assert error.startswith("[daemon] control_group 'no-such-group-x': no such group")
    assert (after_error, timeout) == (grouped, 3.0)  # a refused change changes nothing
    assert back == 0o600


# --- how many, how long ---------------------------------------------------------------------


def test_connection_cap_refuses_the_excess_and_frees_slots(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> tuple[str, Any]:
        server = await serve(path, Recorder(), idle_timeout=600)
        conns = [await asyncio.to_thread(connect, path) for _ in range(MAX_CONNECTIONS)]
        try:
            await until(lambda: server.open_connections == MAX_CONNECTIONS, "32 open")
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"cmd": "status"})
            conns.pop().close()
            await until(lambda: server.open_connections == MAX_CONNECTIONS - 1, "a free slot")
            return str(info.value), await asyncio.to_thread(request, path, {"cmd": "status"})
        finally:
            for c in conns:
                c.close()
            await server.close()

    refused, status = run(main())
    assert refused == (
        f"too many control connections ({MAX_CONNECTIONS} open, at most {MAX_CONNECTIONS}); "
        "try again later"
    )
    assert status == STATUS


def test_the_group_cannot_take_roots_last_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sock_path(tmp_path)
    who = [MEMBER]
    as_peer(monkeypatch, who)
    shared = MAX_CONNECTIONS - RESERVED_PRIVILEGED

    async def main() -> tuple[str, Any]:
        server = await serve(path, Recorder(), group=MY_GROUP, idle_timeout=600)
        conns = [await asyncio.to_thread(connect, path) for _ in range(shared)]
        try:
            await until(lambda: server.open_connections == shared, f"{shared} open")
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"cmd": "status"})
            who[0] = ROOT
            return str(info.value), await asyncio.to_thread(
                request, path, {"cmd": "takeover", "name": "gw"}
            )
        finally:
            for c in conns:
                c.close()
            await server.close()

    refused, answer = run(main())
    assert refused == (
        f"too many control connections from users other than root ({shared} open, at most "
        f"{shared}); try again later"
    )
    assert answer == {"name": "gw", "priority": 254}


def test_idle_connection_is_answered_and_closed(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> tuple[list[dict[str, Any]], float, int]:
        server = await serve(path, Recorder(), idle_timeout=0.5)
        try:
            start = time.monotonic()
            s = await asyncio.to_thread(connect, path)
            with s:
                answers = await asyncio.to_thread(read_to_end, s)
            took = time.monotonic() - start
            await until(lambda: server.open_connections == 0, "the slot freed")
            return answers, took, server.open_connections
        finally:
            await server.close()

    answers, took, still_open = run(main())
    assert answers == [{"ok": False, "error": "no complete request within 0.5s; connection closed"}]
    assert took >= 0.5
    assert still_open == 0


def test_slow_loris_does_not_keep_its_slot(tmp_path: Path) -> None:
    """One byte every 0.1 s, never a whole line: closed after the idle timeout (1 s) since
    the request began, although bytes keep coming."""
    path = sock_path(tmp_path)
    stop = threading.Event()

    def trickle(s: socket.socket) -> int:
        sent = 0
        try:
            while not stop.wait(0.1):
                s.send(b"{")
                sent += 1
        except OSError:
            pass  # closed by the server
        return sent

    async def main() -> tuple[list[dict[str, Any]], int]:
        server = await serve(path, Recorder(), idle_timeout=1.0)
        try:
            s = await asyncio.to_thread(connect, path)
            with s:
                sender = asyncio.create_task(asyncio.to_thread(trickle, s))
                answers = await asyncio.to_thread(read_to_end, s)
                stop.set()
                sent = await sender
            await until(lambda: server.open_connections == 0, "the slot freed")
            return answers, sent
        finally:
            stop.set()
            await server.close()

    answers, sent = run(main())
    assert answers == [{"ok": False, "error": "no complete request within 1s; connection closed"}]
    assert sent >= 3  # it was still sending while it waited


def test_a_client_that_does_not_read_its_answer_is_closed(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    big = "x" * (8 << 20)  # more than the socket buffers hold

    async def handler(req: dict[str, Any]) -> Any:
        return big

    async def main() -> int:
        server = await serve(path, handler, idle_timeout=0.5)
        try:
            s = await asyncio.to_thread(connect, path)
            with s:
                s.sendall(b'{"cmd": "status"}\n')
                await until(lambda: server.open_connections == 1, "served")
                # Never read: the server gives up on the answer after the idle timeout.
                await until(lambda: server.open_connections == 0, "the slot freed")
            return server.open_connections
        finally:
            await server.close()

    assert run(main()) == 0


def test_events_follower_that_hangs_up_frees_its_slot_at_once(tmp_path: Path) -> None:
    """No event comes, so nothing is written: the server notices the follower's end of file
    itself and closes the stream (the event bus would keep its queue otherwise)."""
    path = sock_path(tmp_path)
    handler = Recorder()

    async def main() -> tuple[dict[str, Any], bool]:
        server = await serve(path, handler, idle_timeout=600)
        try:
            s = await asyncio.to_thread(connect, path)
            with s:
                s.sendall(b'{"cmd": "events"}\n')
                ack = json.loads(await asyncio.to_thread(s.makefile("rb").readline))
                await until(lambda: server.open_connections == 1, "following")
            await until(lambda: server.open_connections == 0, "the slot freed")
            await asyncio.wait_for(handler.stream_closed.wait(), DEADLINE)
            return ack, handler.stream_closed.is_set()
        finally:
            await server.close()

    assert run(main()) == ({"ok": True, "stream": True}, True)


def test_a_follower_is_not_closed_for_being_idle(tmp_path: Path) -> None:
    """The idle timeout is for requests: a follower waiting for events sends nothing. An idle
    connection opened after it is closed by the timeout; the follower is still served."""
    path = sock_path(tmp_path)
    handler = Recorder()

    async def main() -> tuple[list[dict[str, Any]], int, bool]:
        server = await serve(path, handler, idle_timeout=0.3)
        try:
            s = await asyncio.to_thread(connect, path)
            with s:
                s.sendall(b'{"cmd": "events"}\n')
                await asyncio.to_thread(s.makefile("rb").readline)
                idle = await asyncio.to_thread(connect, path)
                with idle:
                    closed = await asyncio.to_thread(read_to_end, idle)
                await until(lambda: server.open_connections == 1, "the idle one closed")
                return closed, server.open_connections, handler.stream_closed.is_set()
        finally:
            await server.close()

    closed, still_open, stream_closed = run(main())
    assert closed == [{"ok": False, "error": "no complete request within 0.3s; connection closed"}]
    assert (still_open, stream_closed) == (1, False)
