"""The control socket: a Unix stream socket, one JSON object per line each way.

Request `{"cmd": "status"}`; answer `{"ok": true, "result": ...}` or
`{"ok": false, "error": "one line"}`. The socket file is mode 0600 (root only). The commands
are `vrrpd.api.COMMANDS`: the server answers any other `cmd` itself, with
`vrrpd.api.unknown_command`, so a handler only sees known ones. A result may hold
`RouterStatus` records; they go on the wire as their `to_json()` form.

Both sides live here: `ControlServer` (the daemon's) and the blocking client `request` /
`follow` (`vrrpctl`'s, and the test harness').
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from ..api import COMMANDS, RouterStatus, unknown_command

MAX_REQUEST = 64 * 1024

log = logging.getLogger("vrrpd")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class Stream:
    """A handler's answer that is a stream of JSON objects (e.g. `events`), not one result."""

    def __init__(self, items: AsyncIterator[Any]) -> None:
        self.items = items


class ControlError(Exception):
    """The daemon could not be reached or refused the request; str() is one line."""


def _oserror(path: str, e: OSError, timeout: float) -> ControlError:
    """One line for the operator for anything the socket layer raised."""
    if isinstance(e, FileNotFoundError):
        return ControlError(f"{path}: no such socket (is vrrpd running?)")
    if isinstance(e, ConnectionRefusedError):
        return ControlError(f"{path}: connection refused (is vrrpd running?)")
    if isinstance(e, PermissionError):
        return ControlError(f"{path}: permission denied (the control socket is root only)")
    if isinstance(e, TimeoutError):
        return ControlError(f"{path}: no answer within {timeout:g}s")
    return ControlError(f"{path}: {e.strerror or e}")


def _connect(path: str, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
    except OSError as e:
        s.close()
        raise _oserror(path, e, timeout) from None
    return s


def _answer(path: str, line: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(line)
    except (ValueError, RecursionError):
        raise ControlError(f"{path}: not a JSON answer: {line[:200]!r}") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError(f"{path}: unexpected answer: {line[:200]!r}")
    if not answer["ok"]:
        raise ControlError(str(answer.get("error", "request refused")))
    return answer


def request(path: str, req: dict[str, Any], timeout: float = 5.0) -> Any:
    """Send one request to the daemon at `path`, return its `result` (blocking client).

    `timeout` bounds the whole exchange, not each read.
    """
    deadline = time.monotonic() + timeout
    with _connect(path, timeout) as s:
        try:
            s.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                s.settimeout(remaining)
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError as e:
            raise _oserror(path, e, timeout) from None
    return _answer(path, buf.split(b"\n", 1)[0]).get("result")


def follow(path: str, req: dict[str, Any], timeout: float = 5.0) -> Iterator[Any]:
    """Send a streaming request (e.g. `{"cmd": "events"}`) and yield each object that comes
    back, until the daemon closes the connection. Errors as ControlError, like `request`."""
    with _connect(path, timeout) as s, s.makefile("rb") as lines:
        try:
            s.sendall(json.dumps(req).encode() + b"\n")
            _answer(path, lines.readline())
            s.settimeout(None)
            for line in lines:
                yield json.loads(line)
        except OSError as e:
            raise _oserror(path, e, timeout) from None


def _in_use(path: str) -> bool:
    """Does a live daemon answer on `path`?"""
    try:
        _connect(path, 1.0).close()
    except ControlError:
        return False
    return True


class ControlServer:
    """Serves `handler(request) -> result` on `path`; exceptions become error answers.

    `handler` gets the request object (a dict whose `"cmd"` is one of `COMMANDS`) and returns
    the result (anything JSON-serialisable, `RouterStatus` records included) or a `Stream`;
    it raises `ControlError("one line")` to refuse.
    """

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.server: asyncio.AbstractServer | None = None
        self._lock_fd: int | None = None

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
        self._lock()
        try:
            if os.path.exists(self.path):
                if not stat.S_ISSOCK(os.stat(self.path).st_mode):
                    raise ControlError(f"control socket {self.path}: exists and is not a socket")
                if _in_use(self.path):
                    raise ControlError(f"control socket {self.path}: in use by another vrrpd")
                os.unlink(self.path)  # left behind by a process that died
            old = os.umask(0o177)
            try:
                self.server = await asyncio.start_unix_server(
                    self._client, path=self.path, limit=MAX_REQUEST
                )
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
        except BaseException:
            self._unlock()
            raise

    def _lock(self) -> None:
        """Hold `path`.lock (flock) while serving: two daemons started at the same moment
        would both find no live socket, and the second would replace the first's."""
        lock = self.path + ".lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ControlError(
                f"control socket {self.path}: in use by another vrrpd (it holds {lock})"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        # The lock file stays: removing it would let a third daemon lock a new file while
        # a second still waits on the old one.
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def close(self) -> None:
        """Stop serving and remove the socket file, if this server created it."""
        if self.server is None:
            return  # never started: the file, if any, belongs to someone else
        self.server.close()
        with contextlib.suppress(Exception):
            await self.server.wait_closed()
        self.server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._unlock()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._send(writer, {"ok": False, "error": "request too long"})
                    return
                if not line:
                    return
                answer = await self._answer(line)
                stream = answer.pop("stream", None)
                if isinstance(stream, Stream):
                    # First the acknowledgement, then one line per item until either side
                    # stops; the connection then closes.
                    await self._send(writer, {"ok": True, "stream": True})
                    async for item in stream.items:
                        await self._send(writer, item)
                    return
                await self._send(writer, answer)
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except (ValueError, RecursionError):  # nested too deep counts as invalid
            return {"ok": False, "error": "request is not valid JSON"}
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            return {"ok": False, "error": 'request must be an object with a string "cmd"'}
        if req["cmd"] not in COMMANDS:
            return {"ok": False, "error": unknown_command(req["cmd"])}
        try:
            result = await self.handler(req)
            if isinstance(result, Stream):
                return {"ok": True, "stream": result}
            return {"ok": True, "result": result}
        except ControlError as e:
            return {"ok": False, "error": str(e)}
        except Exception as e:  # a bug in a handler: answer, log, keep serving
            log.exception("control request %r failed", req.get("cmd"))
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        try:
            line = json.dumps(answer, default=_to_json)
        except (TypeError, ValueError) as e:  # a handler bug: answer it, keep serving
            log.error("control: answer not serialisable: %s", e)
            line = json.dumps({"ok": False, "error": f"internal error: {e}"})
        writer.write(line.encode() + b"\n")
        await writer.drain()


def _to_json(value: object) -> Any:
    """json.dumps' `default`: the wire form of the records a result may hold."""
    if isinstance(value, RouterStatus):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
