"""The control socket: a Unix stream socket, one JSON object per line each way.

Request `{"cmd": "status"}`; answer `{"ok": true, "result": ...}` or
`{"ok": false, "error": "one line"}`. The commands are `vrrpd.api.COMMANDS`: the server
answers any other `cmd` itself, with `vrrpd.api.unknown_command`, so a handler only sees known
ones. A result may hold `RouterStatus` records; they go on the wire as their `to_json()` form.

Who may do what is `vrrpd.access` (pure): each connection's peer credentials
(`SO_PEERCRED`, `SO_PEERGROUPS`) are checked against it on every request; a refused request
gets its one-line answer and the connection is closed. The socket file is 0600, or 0660 and
owned by `[daemon] control_group`; its directory must belong to root or the daemon's user and
be writable by nobody else (checked with `lstat` at start; created 0700, or 0750 with the
group, when missing). At most `access.MAX_CONNECTIONS` connections are served at once (the
excess is answered and closed), and a connection that does not complete a request, or read
its answer, within `[daemon] control_idle_timeout` seconds is answered and closed: a client
that trickles one byte a second holds its slot for that long, not forever.

Both sides live here: `ControlServer` (the daemon's) and the blocking client `request` /
`follow` (`vrrpctl`'s, and the test harness').
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import grp
import json
import logging
import os
import socket
import stat
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from ..access import (
    Group,
    Peer,
    Policy,
    directory_mode,
    directory_problem,
    group_reach_problem,
    socket_mode,
)
from ..api import COMMANDS, RouterStatus, unknown_command
from ..config import DEFAULT_CONTROL_IDLE_TIMEOUT
from ..throttle import Throttle

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
        return ControlError(
            f"{path}: permission denied: only root and the members of vrrpd's "
            f"[daemon] control_group may connect"
        )
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
    if not line:
        raise ControlError(f"{path}: the daemon closed the connection without an answer")
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
            _send_request(s, req)
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
            _send_request(s, req)
            _answer(path, lines.readline())
            s.settimeout(None)
            for line in lines:
                yield json.loads(line)
        except OSError as e:
            raise _oserror(path, e, timeout) from None


def _send_request(s: socket.socket, req: dict[str, Any]) -> None:
    """Send one request line. A daemon that refuses a connection (too many open) answers
    and closes without reading: the send may then fail, and the answer is still there to
    read."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        s.sendall(json.dumps(req).encode() + b"\n")


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
    it raises `ControlError("one line")` to refuse. It only sees requests the peer may make
    (`vrrpd.access.Policy`): `group` names the control group (read-only commands), and
    `idle_timeout` is how long a connection may go without completing a request.
    """

    def __init__(
        self,
        path: str,
        handler: Handler,
        group: str | None = None,
        idle_timeout: float = DEFAULT_CONTROL_IDLE_TIMEOUT,
    ) -> None:
        self.path = path
        self.handler = handler
        self.group_name = group
        self.idle_timeout = idle_timeout
        self.policy = Policy(os.geteuid())
        self.server: asyncio.AbstractServer | None = None
        self._lock_fd: int | None = None
        self._open = 0  # connections being served
        self._open_unprivileged = 0  # of which from neither root nor the daemon's user
        self._refused_log = Throttle(10.0)  # refusals are logged, a flood of them is not

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path) or "."

    async def start(self) -> None:
        """Check the directory, take the lock, bind. ControlError (one line) for what this
        module decides; an OSError as it came (the daemon names the privilege it lacked,
        vrrpd.privilege)."""
        self.policy = Policy(os.geteuid(), _resolve_group(self.group_name))
        self._directory()
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
            self._set_socket_mode()
        except BaseException:
            if self.server is not None:
                await self.close()
            self._unlock()
            raise

    def reconfigure(self, group: str | None, idle_timeout: float) -> None:
        """A reload changed `[daemon] control_group` or `control_idle_timeout`: check the new
        group, give the socket to it, and apply both to every request from now on (open
        connections included). ControlError (one line) changes nothing."""
        policy = Policy(os.geteuid(), _resolve_group(group))
        old = self.policy
        self.policy = policy
        try:
            self._set_socket_mode()
        except ControlError:
            self.policy = old
            raise
        except OSError as e:
            self.policy = old
            raise ControlError(f"control socket {self.path}: {e.strerror or e}") from None
        self.group_name, self.idle_timeout = group, idle_timeout
        self._warn_unreachable()
        log.info(
            "control socket %s: group %s, idle timeout %gs",
            self.path,
            group or "none (root only)",
            idle_timeout,
        )

    def _directory(self) -> None:
        """Create the socket's directory if it is missing; refuse one that others could
        write to (StartupError's one line, as ControlError)."""
        where = self.directory
        group = self.policy.group
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            mode = directory_mode(group)
            try:
                os.makedirs(os.path.dirname(os.path.abspath(where)), exist_ok=True)
                os.mkdir(where, mode)
            except FileExistsError:
                pass  # made meanwhile by someone else: checked below like any other
            except OSError as e:
                raise ControlError(
                    f"control socket directory {where}: cannot create it: {e.strerror or e}"
                ) from None
            else:
                if group is not None:
                    _give_to_group(where, group, "control socket directory")
                os.chmod(where, mode)  # exactly, whatever the umask
            st = os.lstat(where)
        problem = directory_problem(where, st.st_mode, st.st_uid, self.policy.daemon_uid)
        if problem is not None:
            raise ControlError(problem)
        self._warn_unreachable()

    def _warn_unreachable(self) -> None:
        with contextlib.suppress(OSError):
            st = os.lstat(self.directory)
            warning = group_reach_problem(self.directory, st.st_mode, st.st_gid, self.policy.group)
            if warning is not None:
                log.warning("%s", warning)

    def _set_socket_mode(self) -> None:
        group = self.policy.group
        if group is not None:
            _give_to_group(self.path, group, "control socket")
        os.chmod(self.path, socket_mode(group))

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

    def _refused(self, peer: Peer, why: str) -> None:
        unsaid = self._refused_log.hit(time.monotonic())
        if unsaid is not None:
            more = f" ({unsaid} more refused since the last such line)" if unsaid else ""
            log.warning("control: refused %s: %s%s", peer, why, more)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = _peer(writer)
        except OSError as e:  # not seen on Linux AF_UNIX; then nobody is trusted
            log.warning("control: cannot read the peer's credentials: %s", e)
            writer.close()
            return
        full = self.policy.admit(peer, self._open, self._open_unprivileged)
        if full is not None:
            self._refused(peer, full)
            with contextlib.suppress(ConnectionError, TimeoutError):
                await self._send(writer, {"ok": False, "error": full})
            writer.close()
            return
        unprivileged = not self.policy.privileged(peer)
        self._open += 1
        self._open_unprivileged += unprivileged
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            return
        finally:
            self._open -= 1
            self._open_unprivileged -= unprivileged
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
            except (ValueError, asyncio.LimitOverrunError):
                await self._send(writer, {"ok": False, "error": "request too long"})
                return
            except TimeoutError:
                error = f"no complete request within {self.idle_timeout:g}s; connection closed"
                await self._send(writer, {"ok": False, "error": error})
                return
            if not line:
                return
            answer = await self._answer(line, peer)
            if answer.pop("close", False):  # refused: say why, then hang up
                await self._send(writer, answer)
                return
            stream = answer.pop("stream", None)
            if isinstance(stream, Stream):
                # First the acknowledgement, then one line per item until either side
                # stops; the connection then closes.
                await self._send(writer, {"ok": True, "stream": True})
                await self._stream(reader, writer, stream.items)
                return
            await self._send(writer, answer)

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, items: AsyncIterator[Any]
    ) -> None:
        """Send `items` until they end or the follower goes away. A follower sends nothing
        more, so anything read (its end of file, mostly) ends the stream at once: a
        `vrrpctl events` that was killed frees its connection slot then, not at the next
        event."""

        async def pump() -> None:
            async for item in items:
                await self._send(writer, item)

        sending = asyncio.ensure_future(pump())
        hangup = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait((sending, hangup), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, hangup):
                task.cancel()
            await asyncio.gather(sending, hangup, return_exceptions=True)
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _answer(self, line: bytes, peer: Peer) -> dict[str, Any]:
        """The answer to one request line; `"close": True` in it when it is a refusal."""
        req: Any = None
        try:
            req = json.loads(line)
        except (ValueError, RecursionError):  # nested too deep counts as invalid
            error = "request is not valid JSON"
        else:
            if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
                error = 'request must be an object with a string "cmd"'
            elif req["cmd"] not in COMMANDS:
                error = unknown_command(req["cmd"])
            else:
                error = ""
        denied = self.policy.refusal(peer, None if error else req["cmd"])
        if denied is not None:
            self._refused(peer, denied)
            return {"ok": False, "error": denied, "close": True}
        if error:
            return {"ok": False, "error": error}
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

    async def _send(self, writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        """Write one answer line; TimeoutError when the client has not read it (and what
        came before) within the idle timeout."""
        try:
            line = json.dumps(answer, default=_to_json)
        except (TypeError, ValueError) as e:  # a handler bug: answer it, keep serving
            log.error("control: answer not serialisable: %s", e)
            line = json.dumps({"ok": False, "error": f"internal error: {e}"})
        writer.write(line.encode() + b"\n")
        await asyncio.wait_for(writer.drain(), self.idle_timeout)


# struct ucred (SO_PEERCRED) and SO_PEERGROUPS, which Python's socket module does not name
# (Linux 4.13+, the same number on every architecture vrrpd runs on).
_UCRED = struct.Struct("iII")
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
# Python's getsockopt reads at most 1024 bytes: 256 groups. A peer with more gets ERANGE and
# is judged by its primary group alone.
_MAX_GROUPS = 256


def _peer(writer: asyncio.StreamWriter) -> Peer:
    """The connected process' credentials, as the kernel recorded them at connect()."""
    sock = writer.get_extra_info("socket")
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * _MAX_GROUPS)
    except OSError:
        raw = b""
    groups = struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
    return Peer(uid=uid, gid=gid, groups=groups, pid=pid)


def _resolve_group(name: str | None) -> Group | None:
    if name is None:
        return None
    try:
        return Group(name, grp.getgrnam(name).gr_gid)
    except KeyError:
        raise ControlError(
            f"[daemon] control_group {name!r}: no such group; create it (groupadd {name}) "
            f"or remove the key"
        ) from None


def _give_to_group(path: str, group: Group, what: str) -> None:
    try:
        os.chown(path, -1, group.gid)
    except OSError as e:
        raise ControlError(
            f"{what} {path}: cannot give it to group {group.name!r} ([daemon] control_group): "
            f"{e.strerror or e}; add vrrpd's user to that group"
        ) from None


def _to_json(value: object) -> Any:
    """json.dumps' `default`: the wire form of the records a result may hold."""
    if isinstance(value, RouterStatus):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
