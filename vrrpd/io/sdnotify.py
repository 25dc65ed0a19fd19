"""Tell the service manager how the daemon is doing: the sd_notify datagram protocol.

Why: with `Type=notify`, systemd considers vrrpd started only once it says READY=1 (after its
sockets are open and its virtual routers run), shows its STATUS= line in `systemctl status`,
and, with `WatchdogSec=`, restarts it if the event loop stops sending WATCHDOG=1.

The protocol: the manager puts a Unix datagram socket's address in NOTIFY_SOCKET (a path, or
`@name` for the abstract namespace); each datagram is newline-separated `NAME=value`
assignments, e.g. `READY=1\\nSTATUS=2 routers, 1 master`. WATCHDOG_USEC is the watchdog
timeout; WATCHDOG_PID, when set, names the one process it is meant for (so a child that
inherited the environment does not feed it). Sending is fire and forget: a missing or dead
manager must never break the daemon, so nothing here raises and nothing blocks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


def _address(value: str) -> bytes | None:
    """The socket address NOTIFY_SOCKET names, or None if it is not one we can use.

    `@name` is Linux's abstract namespace (a leading NUL byte on the wire); anything else must
    be an absolute path. (systemd also knows `vsock:` addresses, for virtual machines; those
    leave the notifier disabled.)
    """
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return os.fsencode(value)
    return None


class Notifier:
    """The daemon's side of sd_notify, configured from the environment.

    `enabled` is false when there is no usable NOTIFY_SOCKET (not started by systemd, or by a
    unit that is not `Type=notify`); every send then returns False and does nothing. `env`
    defaults to `os.environ`; tests pass their own mapping.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self.address = _address(environ.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _positive_int(environ.get("WATCHDOG_USEC"))
        # Kept raw: a WATCHDOG_PID that is set but not a number is for nobody, not for everyone.
        self._watchdog_pid = environ.get("WATCHDOG_PID")
        self.last_error: OSError | None = None
        self._sock: socket.socket | None = None
        if self.address is not None:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
            except OSError as exc:
                self.last_error = exc
            else:
                self._sock = sock

    @property
    def enabled(self) -> bool:
        """True if there is a manager to notify."""
        return self._sock is not None

    def send_text(self, text: str) -> bool:
        """Send one datagram of raw assignments ("READY=1\\nSTATUS=..."); True if it left.

        Never raises: a missing socket, a full queue or a refusing manager give False, and the
        error is kept in `last_error` for the curious.
        """
        sock = self._sock
        if sock is None or self.address is None or not text:
            return False
        try:
            sock.sendto(
                text.encode("utf-8", "replace"),
                socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL,
                self.address,
            )
        except OSError as exc:
            self.last_error = exc
            return False
        return True

    def send(self, **fields: str | int) -> bool:
        """Send the assignments `NAME=value` as one datagram: `send(READY=1, STATUS="up")`.

        A newline inside a value would start a new assignment, so it becomes a space.
        """
        lines = [f"{name}={str(value).replace(chr(10), ' ')}" for name, value in fields.items()]
        return self.send_text("\n".join(lines))

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (READY=1), with an optional status line."""
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status` (STATUS=)."""
        return self.send(STATUS=text)

    def reloading(self, status: str | None = None) -> bool:
        """A configuration reload begins (RELOADING=1); send `ready()` when it is done.

        MONOTONIC_USEC lets systemd (`Type=notify-reload`) match the reload to its request.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        if status is None:
            return self.send(RELOADING=1, MONOTONIC_USEC=usec)
        return self.send(RELOADING=1, MONOTONIC_USEC=usec, STATUS=status)

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown begins (STOPPING=1)."""
        if status is None:
            return self.send(STOPPING=1)
        return self.send(STOPPING=1, STATUS=status)

    def watchdog(self) -> bool:
        """Feed the watchdog (WATCHDOG=1); call at least every `watchdog_interval()`."""
        return self.send(WATCHDOG=1)

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, or None when no watchdog is asked of this process.

        Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends, so one late ping is not
        fatal. None if WATCHDOG_USEC is unset or invalid, or WATCHDOG_PID names another process.
        """
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and _positive_int(self._watchdog_pid) != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def close(self) -> None:
        """Close the socket; later sends return False."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _positive_int(value: str | None) -> int | None:
    """A strictly positive decimal integer, or None for anything else (unset, junk, zero)."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number > 0 else None
