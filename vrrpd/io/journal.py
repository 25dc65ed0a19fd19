"""Log records to systemd-journald over its native protocol, with structured VRRP fields.

Why not just write to stderr: a line on stderr reaches the journal as one opaque MESSAGE, so
an operator cannot ask `journalctl VRRP_VRID=51 VRRP_STATE=MASTER`. The native protocol sends
each record as a set of fields, which the journal indexes.

The protocol (journald's native socket, a Unix datagram socket):

- one datagram is one entry; each field is `NAME=value\\n`;
- a value that contains a newline uses the binary-safe form: `NAME\\n`, the value's length as
  a 64-bit little-endian integer, the value, `\\n`;
- field names are 1-64 characters of `A-Z`, `0-9` and `_`, and do not start with a digit or
  `_` (names beginning with `_` are the journal's own trusted fields); journald ignores the
  others, and we drop them before sending so that a typo costs one field, not the record;
- an entry too large for one datagram (EMSGSIZE) is written to a memfd, sealed against any
  further change, and the descriptor alone is passed with SCM_RIGHTS in an empty datagram.

The handler never raises out of `emit` and never blocks the daemon's event loop: the socket
is non-blocking. When journald is not there (no socket, or nobody listening) the record is
dropped and counted, or handed to a `fallback` handler if the caller gave one. When journald
is merely slow (its receive queue is full: EAGAIN; the kernel's default queue is only
`net.unix.max_dgram_qlen` = 10 datagrams on a machine that systemd did not boot) entries wait
in a small bounded backlog, sent in order before the next record and on `flush()`.
"""

from __future__ import annotations

import array
import collections
import errno
import fcntl
import logging
import os
import re
import socket
import struct
import time
from collections.abc import Mapping

DEFAULT_SOCKET = "/run/systemd/journal/socket"
DEFAULT_IDENTIFIER = "vrrpd"

#: Record attribute holding the structured fields: `extra={"vrrp": {"VRRP_VRID": 51, ...}}`.
FIELDS_ATTRIBUTE = "vrrp"

_FIELD_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

# Fields the handler writes itself; a structured field of the same name would add a second
# value to the entry (the journal allows repeated fields), which no reader expects.
_OWN_FIELDS = frozenset(
    {"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER"}
)

# Errors that mean "journald is there but its queue is full": try again later. Any other
# error (ENOENT, ECONNREFUSED: journald is not there) means the entry cannot be delivered.
_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS})
# The datagram is larger than the socket can carry: pass it in a memfd instead.
_TOO_BIG = frozenset({errno.EMSGSIZE})

# Seals that make a memfd immutable; journald refuses a memfd that could still change under it.
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL

_BACKLOG_MAX = 256
_CLOSE_FLUSH_SECONDS = 0.5


def syslog_priority(levelno: int) -> int:
    """The syslog priority (RFC 5424 severity) journald expects for a Python logging level.

    Levels between the standard ones take the priority of the standard level below them, so a
    custom level 25 is still "info" (6), not "debug".
    """
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def valid_field_name(name: str) -> bool:
    """True if journald accepts `name` as a user field: `A-Z0-9_`, 1-64 long, starting A-Z."""
    return _FIELD_NAME.fullmatch(name) is not None


def _value_bytes(value: object) -> bytes:
    """A field value as bytes: text in UTF-8 (unencodable characters replaced), bytes as is."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "replace")


def encode_field(name: str, value: object) -> bytes:
    """One field in the native wire format, binary-safe when the value contains a newline."""
    key = name.encode("ascii")
    data = _value_bytes(value)
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    """A `logging.Handler` that sends every record to journald as one structured entry.

    Fields: MESSAGE (the formatted record), PRIORITY (syslog level), SYSLOG_IDENTIFIER,
    LOGGER (the logger's name), CODE_FILE/CODE_LINE/CODE_FUNC when `code_location` is true, and
    the structured fields of `record.vrrp` (a mapping of upper-case names to str/int values;
    invalid names and None values are skipped, counted in `invalid_fields`).

    Counters, for the daemon's statistics and tests: `sent` (entries journald accepted),
    `sent_memfd` (of those, passed in a memfd), `dropped` (entries lost), `invalid_fields`.
    `last_error` is the last OSError met, `None` if none.
    """

    def __init__(
        self,
        level: int = logging.NOTSET,
        *,
        socket_path: str = DEFAULT_SOCKET,
        identifier: str = DEFAULT_IDENTIFIER,
        code_location: bool = True,
        fallback: logging.Handler | None = None,
    ) -> None:
        super().__init__(level)
        self.socket_path = socket_path
        self.identifier = identifier
        self.code_location = code_location
        self.fallback = fallback
        self.sent = 0
        self.sent_memfd = 0
        self.dropped = 0
        self.invalid_fields = 0
        self.last_error: OSError | None = None
        # Entries journald had no room for yet (EAGAIN), oldest first, with their records so a
        # fallback can still get them if journald turns out to be gone.
        self._backlog: collections.deque[tuple[bytes, logging.LogRecord]] = collections.deque()
        # Unconnected, so a restarted journald (a new socket at the same path) is found again
        # by the next sendto without any reconnect logic. Python sockets are close-on-exec.
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    # -- building entries -------------------------------------------------------------------

    def entry(self, record: logging.LogRecord) -> bytes:
        """The native-protocol datagram for `record` (public so tests and tools can look)."""
        parts = [
            encode_field("MESSAGE", self.format(record)),
            encode_field("PRIORITY", syslog_priority(record.levelno)),
            encode_field("SYSLOG_IDENTIFIER", self.identifier),
            encode_field("LOGGER", record.name),
        ]
        if self.code_location:
            parts.append(encode_field("CODE_FILE", record.pathname))
            parts.append(encode_field("CODE_LINE", record.lineno))
            parts.append(encode_field("CODE_FUNC", record.funcName))
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, Mapping):
            for name, value in fields.items():
                if (
                    not isinstance(name, str)
                    or not valid_field_name(name)
                    or name in _OWN_FIELDS
                    or value is None
                ):
                    self.invalid_fields += 1
                    continue
                parts.append(encode_field(name, value))
        return b"".join(parts)

    # -- sending ----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Send `record`; never raises and never blocks (see the module docstring)."""
        try:
            data = self.entry(record)
        except Exception:
            self.handleError(record)
            return
        try:
            if self._backlog and not self._drain():
                # Still busy: keep order by queueing behind the older entries.
                self._queue(data, record)
                return
            result = self._send(data)
        except Exception:
            self.dropped += 1
            self.handleError(record)
            return
        if result == "busy":
            self._queue(data, record)
        elif result == "gone":
            self._drop(record)

    def _send(self, data: bytes) -> str:
        """One attempt to deliver `data`: "sent", "busy" (try later) or "gone" (drop it)."""
        sock = self._sock
        if sock is None:
            return "gone"
        try:
            sock.sendto(data, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL, self.socket_path)
        except OSError as exc:
            if exc.errno in _TOO_BIG:
                return self._send_memfd(sock, data)
            return self._classify(exc)
        self.sent += 1
        return "sent"

    def _send_memfd(self, sock: socket.socket, data: bytes) -> str:
        """Deliver an entry too large for a datagram: a sealed memfd passed with SCM_RIGHTS."""
        try:
            fd = os.memfd_create("vrrpd-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError as exc:
            self.last_error = exc
            return "gone"
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())]
            sock.sendmsg([], rights, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL, self.socket_path)
        except OSError as exc:
            return self._classify(exc)
        finally:
            os.close(fd)
        self.sent += 1
        self.sent_memfd += 1
        return "sent"

    def _classify(self, exc: OSError) -> str:
        self.last_error = exc
        return "busy" if exc.errno in _BUSY else "gone"

    def _queue(self, data: bytes, record: logging.LogRecord) -> None:
        if len(self._backlog) >= _BACKLOG_MAX:
            _, oldest = self._backlog.popleft()
            self._drop(oldest)
        self._backlog.append((data, record))

    def _drop(self, record: logging.LogRecord) -> None:
        self.dropped += 1
        if self.fallback is not None:
            try:
                self.fallback.handle(record)
            except Exception:
                self.handleError(record)

    def _drain(self) -> bool:
        """Send the backlog in order; True when it is empty afterwards."""
        while self._backlog:
            data, record = self._backlog[0]
            result = self._send(data)
            if result == "busy":
                return False
            self._backlog.popleft()
            if result == "gone":
                self._drop(record)
        return True

    @property
    def pending(self) -> int:
        """Entries waiting for room in journald's queue."""
        return len(self._backlog)

    def flush(self) -> None:
        """Try once more to send entries journald had no room for; never blocks."""
        self.acquire()
        try:
            self._drain()
        except Exception:
            self.dropped += len(self._backlog)
            self._backlog.clear()
        finally:
            self.release()

    def close(self) -> None:
        """Give a busy journald a moment (bounded) to take the backlog, then close the socket.

        Waiting is acceptable here only because close runs at shutdown, not in the event loop's
        steady state; whatever is still queued after the bound is dropped (or falls back).
        """
        self.acquire()
        try:
            deadline = time.monotonic() + _CLOSE_FLUSH_SECONDS
            while self._backlog and not self._drain() and time.monotonic() < deadline:
                time.sleep(0.005)
            while self._backlog:
                self._drop(self._backlog.popleft()[1])
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        finally:
            self.release()
        super().close()


def journal_available(socket_path: str = DEFAULT_SOCKET) -> bool:
    """True if a journald listens on `socket_path` (the socket exists and accepts a connect).

    A stale socket file left by a dead journald refuses the connect, so existence alone is not
    enough. Never raises.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            probe.setblocking(False)
            probe.connect(socket_path)
    except OSError:
        return False
    return True


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True if standard error is the journal stream systemd connected us to.

    systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it gave the service; if fd 2 is
    still that stream (not redirected by a wrapper), structured logging to journald replaces
    the plain lines it would otherwise carry. `environ` and `fd` exist for tests.
    """
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep:
        return False
    try:
        want = (int(device), int(inode))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == want
