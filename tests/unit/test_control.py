"""The control socket: a real Unix socket in tmp_path, an asyncio server, a blocking client
run in a thread (asyncio.to_thread)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.status_samples import counters, record
from vrrpd.api import RouterStatus, unknown_command
from vrrpd.cli import vrrpctl_main
from vrrpd.io.control import ControlError, ControlServer, request

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


RECORDS = [record(counters=counters(adverts_sent=10)), record(name="gw6", family=6, vrid=7)]
STATUS = [r.to_json() for r in RECORDS]  # what a client receives


async def status_handler(req: dict[str, Any]) -> Any:
    """`status`: the records; `explain`: echoes `name` (any JSON value); others refused."""
    if req["cmd"] == "status":
        return RECORDS
    if req["cmd"] == "explain":
        return req.get("name")
    raise ControlError(f"{req['cmd']}: not here")


def sock_path(tmp_path: Path) -> str:
    path = str(tmp_path / "c.sock")
    assert len(path) < 108  # AF_UNIX limit
    return path


def run(coro: Awaitable[Any]) -> Any:
    async def wrapped() -> Any:
        return await asyncio.wait_for(coro, timeout=20)

    return asyncio.run(wrapped())


def raw_exchange(path: str, data: bytes) -> list[dict[str, Any]]:
    """Send raw bytes, read answer lines until the server closes or all lines came."""
    expected = data.count(b"\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(data)
        buf = b""
        while buf.count(b"\n") < expected:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return [json.loads(line) for line in buf.splitlines()]


def served_exchange(path: str, handler: Any, data: bytes) -> list[dict[str, Any]]:
    """Serve `handler` on `path`, send `data` raw, return the answers."""

    async def main() -> list[dict[str, Any]]:
        server = await serving(path, handler)
        try:
            return await asyncio.to_thread(raw_exchange, path, data)
        finally:
            await server.close()

    answers: list[dict[str, Any]] = run(main())
    return answers


async def serving(path: str, handler: Handler = status_handler) -> ControlServer:
    server = ControlServer(path, handler)
    await server.start()
    return server


def served_request(path: str, req: dict[str, Any]) -> Any:
    """Start a server on `path`, send it `req` from a thread, close it; the result."""

    async def main() -> Any:
        server = await serving(path)
        try:
            return await asyncio.to_thread(request, path, req)
        finally:
            await server.close()

    return run(main())


def test_request_gets_result(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    assert served_request(path, {"cmd": "status"}) == STATUS
    assert not os.path.exists(path)  # close() removes the socket file


def test_socket_mode_0600(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> int:
        server = await serving(path)
        try:
            st = os.stat(path)
            assert stat.S_ISSOCK(st.st_mode)
            return stat.S_IMODE(st.st_mode)
        finally:
            await server.close()

    assert run(main()) == 0o600


def test_creates_missing_directory(tmp_path: Path) -> None:
    path = str(tmp_path / "run" / "c.sock")
    assert served_request(path, {"cmd": "explain", "name": 42}) == 42


def test_invalid_json_and_missing_cmd(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    lines = b'not json\n{"nocmd": 1}\n[1, 2]\n{"cmd": 5}\n{"cmd": "explain", "name": "x"}\n'

    async def main() -> list[dict[str, Any]]:
        server = await serving(path)
        try:
            return await asyncio.to_thread(raw_exchange, path, lines)
        finally:
            await server.close()

    answers = run(main())
    bad_shape = {"ok": False, "error": 'request must be an object with a string "cmd"'}
    assert answers == [
        {"ok": False, "error": "request is not valid JSON"},
        bad_shape,
        bad_shape,
        bad_shape,
        {"ok": True, "result": "x"},  # the connection goes on after errors
    ]


def test_deeply_nested_json_is_an_error_answer(tmp_path: Path) -> None:
    """json.loads raises RecursionError, not ValueError, past ~1000 levels: the server must
    answer it like any invalid request and keep serving."""
    path = sock_path(tmp_path)
    deep = b"[" * 10_000 + b"]" * 10_000  # within MAX_REQUEST, far past the recursion limit
    lines = deep + b"\n" + b'{"cmd": "explain", "name": "x"}\n'
    assert served_exchange(path, status_handler, lines) == [
        {"ok": False, "error": "request is not valid JSON"},
        {"ok": True, "result": "x"},
    ]


def test_handler_control_error_is_an_error_answer(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> tuple[list[dict[str, Any]], str]:
        server = await serving(path)
        try:
            raw = await asyncio.to_thread(raw_exchange, path, b'{"cmd": "reload"}\n')
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"cmd": "reload"})
            return raw, str(info.value)
        finally:
            await server.close()

    raw, message = run(main())
    assert raw == [{"ok": False, "error": "reload: not here"}]
    assert message == "reload: not here"


def test_unknown_command_answered_by_the_server(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    seen: list[str] = []

    async def recording(req: dict[str, Any]) -> Any:
        seen.append(req["cmd"])
        return await status_handler(req)

    data = b'{"cmd": "bogus"}\n{"cmd": "STATUS"}\n{"cmd": "status"}\n'
    answers = served_exchange(path, recording, data)
    assert answers == [
        {"ok": False, "error": unknown_command("bogus")},
        {"ok": False, "error": unknown_command("STATUS")},  # names are case-sensitive
        {"ok": True, "result": STATUS},
    ]
    assert seen == ["status"]  # the handler never saw the unknown ones
    assert answers[0]["error"] == (
        "unknown command 'bogus'; known: status, explain, events, takeover, release, "
        "maintenance, reload"
    )


def test_status_records_round_trip(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    rows = served_request(path, {"cmd": "status"})
    assert [RouterStatus.from_json(row) for row in rows] == RECORDS


def test_unserialisable_result_is_an_error_answer(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def odd(req: dict[str, Any]) -> Any:
        if req["cmd"] == "status":
            return {"when": object()}
        return "fine"

    answers = served_exchange(path, odd, b'{"cmd": "status"}\n{"cmd": "explain"}\n')
    assert answers[0]["ok"] is False
    assert answers[0]["error"].startswith("internal error: ")
    assert "object" in answers[0]["error"]
    assert answers[1] == {"ok": True, "result": "fine"}  # the connection goes on


def test_request_missing_cmd_raises(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> str:
        server = await serving(path)
        try:
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"command": "status"})
            return str(info.value)
        finally:
            await server.close()

    assert run(main()) == 'request must be an object with a string "cmd"'


def test_handler_exception_becomes_error_answer(tmp_path: Path) -> None:
    # ControlServer's docstring: "exceptions become error answers".
    path = sock_path(tmp_path)

    async def broken(req: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    async def main() -> list[dict[str, Any]]:
        server = await serving(path, broken)
        try:
            return await asyncio.to_thread(raw_exchange, path, b'{"cmd": "status"}\n')
        finally:
            await server.close()

    answers = run(main())
    assert len(answers) == 1, "the server closed the connection without an answer"
    assert answers[0]["ok"] is False
    assert isinstance(answers[0]["error"], str)
    assert answers[0]["error"]


def test_request_too_long(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    big = json.dumps({"cmd": "explain", "name": "x" * 100_000}).encode() + b"\n"

    async def main() -> list[dict[str, Any]]:
        server = await serving(path)
        try:
            return await asyncio.to_thread(raw_exchange, path, big)
        finally:
            await server.close()

    assert run(main()) == [{"ok": False, "error": "request too long"}]


def test_request_missing_path(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.sock")
    with pytest.raises(ControlError) as info:
        request(path, {"cmd": "status"})
    assert str(info.value) == f"{path}: no such socket (is vrrpd running?)"


def test_request_refused_on_dead_socket(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)  # a socket file nobody listens on
    with pytest.raises(ControlError) as info:
        request(path, {"cmd": "status"})
    assert str(info.value) == f"{path}: connection refused (is vrrpd running?)"


def test_request_on_a_server_that_says_nothing(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    async def main() -> str:
        server = await asyncio.start_unix_server(mute, path=path)
        try:
            with pytest.raises(ControlError) as info:
                await asyncio.to_thread(request, path, {"cmd": "status"})
            return str(info.value)
        finally:
            server.close()
            await server.wait_closed()

    assert run(main()) == f"{path}: not a JSON answer: b'hello'"


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)  # left behind by a process that died
    assert os.path.exists(path)
    with pytest.raises(ControlError, match="connection refused"):
        request(path, {"cmd": "status"})

    # Had the stale file been kept, the request would be refused.
    assert served_request(path, {"cmd": "status"}) == STATUS


def test_live_socket_in_use(tmp_path: Path) -> None:
    path = sock_path(tmp_path)

    async def main() -> tuple[str, Any]:
        first = await serving(path)
        try:
            second = ControlServer(path, status_handler)
            with pytest.raises(ControlError) as info:
                await second.start()
            await second.close()  # a refused server removes nothing
            # The first server is untouched and still answers.
            assert os.path.exists(path)
            still = await asyncio.to_thread(request, path, {"cmd": "status"})
            return str(info.value), still
        finally:
            await first.close()

    message, still = run(main())
    assert message == f"control socket {path}: in use by another vrrpd (it holds {path}.lock)"
    assert still == STATUS


def test_a_second_server_is_refused_by_the_lock(tmp_path: Path) -> None:
    """Two daemons started together both find no live socket; the lock decides. Here the
    first server's socket file is gone (as if the second had looked before the first bound):
    the second is still refused, and starts once the first has closed."""
    path = sock_path(tmp_path)

    async def main() -> str:
        first = await serving(path)
        os.unlink(path)
        second = ControlServer(path, status_handler)
        try:
            with pytest.raises(ControlError) as info:
                await second.start()
        finally:
            await first.close()
        await second.start()  # the lock is free again
        await second.close()
        return str(info.value)

    assert run(main()) == f"control socket {path}: in use by another vrrpd (it holds {path}.lock)"


def test_not_a_socket(tmp_path: Path) -> None:
    path = sock_path(tmp_path)
    Path(path).write_text("precious")

    async def main() -> str:
        server = ControlServer(path, status_handler)
        with pytest.raises(ControlError) as info:
            await server.start()
        return str(info.value)

    assert run(main()) == f"control socket {path}: exists and is not a socket"
    assert Path(path).read_text() == "precious"


def test_vrrpctl_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sock_path(tmp_path)

    async def main() -> int:
        server = await serving(path)
        try:
            return await asyncio.to_thread(vrrpctl_main, ["--socket", path, "status", "--json"])
        finally:
            await server.close()

    assert run(main()) == 0
    assert json.loads(capsys.readouterr().out) == STATUS


def test_vrrpctl_status_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = sock_path(tmp_path)

    async def main() -> int:
        server = await serving(path)
        try:
            return await asyncio.to_thread(vrrpctl_main, ["--socket", path, "status"])
        finally:
            await server.close()

    assert run(main()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["gw", "gw6"]
    assert lines[3].startswith("  gw: adverts_sent=10 ")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_vrrpctl_status_bad_row_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_flag: list[str]
) -> None:
    path = sock_path(tmp_path)
    bad = {k: v for k, v in STATUS[1].items() if k != "priority"}

    async def rows(req: dict[str, Any]) -> Any:
        return [STATUS[0], bad]

    async def main() -> int:
        server = await serving(path, rows)
        try:
            argv = ["--socket", path, "status", *json_flag]
            return await asyncio.to_thread(vrrpctl_main, argv)
        finally:
            await server.close()

    assert run(main()) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["vrrpctl: status row 1 (gw6): status row without 'priority'"]
