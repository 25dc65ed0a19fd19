"""JournalHandler against a real systemd-journald (private namespace), read back by journalctl.

Also real Unix sockets where journald cannot show a behaviour: a socket nobody reads (a full
queue), and sockets that are missing or dead (journald gone).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import Entry, Journal
from vrrpd.io.journal import JournalHandler, journal_available, stderr_is_journal

ROOT = Path(__file__).resolve().parents[2]

# Enough entries to fill a receiver's queue that nobody reads: the kernel queues at most
# net.unix.max_dgram_qlen datagrams (10 by default, 512 where systemd set it at boot).
QLEN = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
COUNT = QLEN + 30


class Collect(logging.Handler):
    """A real handler that keeps what it is given: the fallback under test."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def make_logger(handler: logging.Handler) -> logging.Logger:
    """A logger of its own (no propagation to root or pytest's capture) feeding `handler`."""
    log = logging.getLogger(f"vrrpd.systemtest.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    return log


def tagged(tag: str) -> Callable[[Entry], bool]:
    """Matches the entries a test sent with TEST_ID=tag."""
    return lambda e: e.get("TEST_ID") == tag


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def handler(journald: Journal) -> Iterator[JournalHandler]:
    h = JournalHandler(socket_path=journald.socket_path)
    yield h
    h.close()


def fields(tag: str, **more: Any) -> dict[str, Any]:
    return {"vrrp": {"TEST_ID": tag, **more}}


def test_structured_fields_arrive(journald: Journal, handler: JournalHandler, tag: str) -> None:
    log = make_logger(handler)
    vrrp = {
        "VRRP_NAME": "gw",
        "VRRP_VRID": 51,
        "VRRP_IFACE": "eth0",
        "VRRP_STATE": "MASTER",
        "VRRP_REASON": "master-down",
    }
    log.info("gw: state BACKUP -> MASTER", extra=fields(tag, **vrrp))
    entry = journald.wait_for(tagged(tag))
    assert entry["MESSAGE"] == "gw: state BACKUP -> MASTER"
    assert entry["PRIORITY"] == "6"
    assert entry["SYSLOG_IDENTIFIER"] == "vrrpd"
    assert entry["_TRANSPORT"] == "journal"
    assert entry["_PID"] == str(os.getpid())
    for name, value in vrrp.items():
        assert entry[name] == str(value), name
    assert entry["LOGGER"] == log.name
    assert entry["CODE_FILE"] == __file__
    assert entry["CODE_FUNC"] == "test_structured_fields_arrive"
    assert int(entry["CODE_LINE"]) > 0
    assert (handler.sent, handler.dropped, handler.invalid_fields) == (1, 0, 0)


def test_priorities_and_identifier(journald: Journal, tag: str) -> None:
    handler = JournalHandler(socket_path=journald.socket_path, identifier="vrrpd-test")
    log = make_logger(handler)
    try:
        log.debug("d", extra=fields(tag))
        log.info("i", extra=fields(tag))
        log.log(25, "between info and warning", extra=fields(tag))
        log.warning("w", extra=fields(tag))
        log.error("e", extra=fields(tag))
        log.critical("c", extra=fields(tag))
        entries = journald.wait_for_all(tagged(tag), 6)
    finally:
        handler.close()
    assert [(e["MESSAGE"][0], e["PRIORITY"]) for e in entries] == [
        ("d", "7"),
        ("i", "6"),
        ("b", "6"),
        ("w", "4"),
        ("e", "3"),
        ("c", "2"),
    ]
    assert {e["SYSLOG_IDENTIFIER"] for e in entries} == {"vrrpd-test"}


def test_multiline_message_and_field_arrive_intact(
    journald: Journal, handler: JournalHandler, tag: str
) -> None:
    log = make_logger(handler)
    message = "first line\nsecond line\n\tindented = with equals\n"
    reason = "priority 0 advert\nfrom 192.0.2.2"
    log.warning(message, extra=fields(tag, VRRP_REASON=reason))
    # The wire form is the binary-safe one: NAME, newline, little-endian u64 length, value.
    record = logging.LogRecord(log.name, logging.WARNING, __file__, 1, message, None, None)
    record.vrrp = {"VRRP_REASON": reason}
    raw = handler.entry(record)
    assert b"MESSAGE\n" + struct.pack("<Q", len(message)) + message.encode() + b"\n" in raw
    assert b"VRRP_REASON\n" + struct.pack("<Q", len(reason)) + reason.encode() + b"\n" in raw
    entry = journald.wait_for(tagged(tag))
    assert entry["MESSAGE"] == message
    assert entry["VRRP_REASON"] == reason
    assert entry["PRIORITY"] == "4"


def test_traceback_arrives_with_the_message(
    journald: Journal, handler: JournalHandler, tag: str
) -> None:
    log = make_logger(handler)
    try:
        raise ValueError("bad advert")
    except ValueError:
        log.exception("handler failed", extra=fields(tag))
    entry = journald.wait_for(tagged(tag))
    assert entry["MESSAGE"].startswith("handler failed\nTraceback (most recent call last):\n")
    assert entry["MESSAGE"].endswith("ValueError: bad advert")
    assert entry["PRIORITY"] == "3"


def test_200_kb_message_arrives(journald: Journal, handler: JournalHandler, tag: str) -> None:
    log = make_logger(handler)
    message = "".join(f"{i:08d}\n" for i in range(200 * 1024 // 9))
    log.info(message, extra=fields(tag))
    entry = journald.wait_for(tagged(tag))
    assert len(entry["MESSAGE"]) == len(message)
    assert entry["MESSAGE"] == message
    assert handler.dropped == 0


def test_entry_too_large_for_a_datagram_goes_through_a_sealed_memfd(
    journald: Journal, handler: JournalHandler, tag: str
) -> None:
    # A Unix datagram carries up to about twice net.core.wmem_default (here ~416 KiB, so a
    # 200 KB entry still fits in one); 2 MiB needs the memfd path whatever the sysctls.
    log = make_logger(handler)
    message = "x" * (2 * 1024 * 1024) + "\nend"
    log.info(message, extra=fields(tag, VRRP_VRID=51))
    assert handler.sent_memfd == 1, handler.last_error
    entry = journald.wait_for(tagged(tag))
    assert entry["MESSAGE"] == message
    assert entry["VRRP_VRID"] == "51"
    assert (handler.sent, handler.dropped) == (1, 0)


def test_invalid_field_names_are_dropped_not_fatal(
    journald: Journal, handler: JournalHandler, tag: str
) -> None:
    log = make_logger(handler)
    bad: dict[Any, Any] = {
        "lower": 1,
        "_TRUSTED": 1,
        "9LIVES": 1,
        "WITH-DASH": 1,
        "A" * 65: 1,
        "": 1,
        "ÄRGER": 1,
        7: 1,
        "PRIORITY": 0,  # the handler's own field: not duplicated
        "VRRP_NONE": None,
    }
    log.info("some fields are bad", extra={"vrrp": {**bad, "TEST_ID": tag, "B" * 64: "ok"}})
    entry = journald.wait_for(tagged(tag))
    assert entry["MESSAGE"] == "some fields are bad"
    assert entry["B" * 64] == "ok"
    assert entry["PRIORITY"] == "6"
    names = set(entry)
    for name in bad:
        if name != "PRIORITY":
            assert name not in names
    assert handler.invalid_fields == len(bad)
    assert (handler.sent, handler.dropped) == (1, 0)


def test_no_journald_drops_counts_and_falls_back(
    tmp_path: Path, journald: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.socket")
    dead = str(tmp_path / "dead.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(dead)  # the file stays after close: a stale socket, as a dead journald leaves
    assert not journal_available(missing)
    assert not journal_available(dead)
    assert journal_available(journald.socket_path)
    for path in (missing, dead):
        fallback = Collect()
        handler = JournalHandler(socket_path=path, fallback=fallback)
        log = make_logger(handler)
        log.error("nobody listens")
        log.info("still nobody", extra={"vrrp": {"VRRP_VRID": 1}})
        assert handler.dropped == 2
        assert handler.sent == 0
        assert handler.last_error is not None
        assert [r.getMessage() for r in fallback.records] == ["nobody listens", "still nobody"]
        handler.close()
        log.info("after close")  # closed: still no exception
        assert handler.dropped == 3
    # Dropping is not an error: handleError (which prints a traceback) was never called.
    assert "Traceback" not in capsys.readouterr().err


def test_full_queue_waits_in_backlog_in_order(tmp_path: Path) -> None:
    """A receiver that does not read fills its queue (net.unix.max_dgram_qlen); the handler
    neither blocks nor loses entries: they wait, and go out in order once there is room."""
    path = str(tmp_path / "slow.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        handler = JournalHandler(socket_path=path, code_location=False)
        log = make_logger(handler)
        for i in range(COUNT):
            log.info("entry %d", i)
        assert handler.pending > 0, "the queue never filled: nothing was tested"
        assert handler.sent + handler.pending == COUNT
        assert handler.dropped == 0
        receiver.setblocking(False)
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while len(got) < COUNT and time.monotonic() < deadline:
            try:
                got.append(receiver.recv(65536))
            except BlockingIOError:
                handler.flush()  # the queue has room again: the backlog goes out
        messages = [d.split(b"\n", 1)[0] for d in got]
        assert messages == [f"MESSAGE=entry {i}".encode() for i in range(COUNT)]
        assert (handler.sent, handler.pending, handler.dropped) == (COUNT, 0, 0)
        handler.close()


def test_backlog_falls_back_when_journald_goes_away(tmp_path: Path) -> None:
    path = str(tmp_path / "vanishing.socket")
    fallback = Collect()
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    handler = JournalHandler(socket_path=path, fallback=fallback)
    log = make_logger(handler)
    for i in range(COUNT):
        log.info("entry %d", i)
    queued = handler.pending
    assert queued > 0
    receiver.close()
    os.unlink(path)
    handler.close()
    assert handler.pending == 0
    assert handler.dropped == queued
    assert [r.getMessage() for r in fallback.records] == [
        f"entry {i}" for i in range(COUNT - queued, COUNT)
    ]


def _stream_to_journald(journald: Journal, identifier: str) -> socket.socket:
    """A stream connected to journald's stdout socket, as systemd gives a service's stderr."""
    stream_path = os.path.join(os.path.dirname(journald.socket_path), "stdout")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(stream_path)
    # Header: identifier, unit, priority, level prefix, forward to syslog, kmsg, console.
    sock.sendall(f"{identifier}\n\n6\n0\n0\n0\n0\n".encode())
    return sock


def test_stderr_is_journal_with_a_real_journal_stream(journald: Journal, tag: str) -> None:
    stream = _stream_to_journald(journald, f"vrrpd-stream-{tag}")
    try:
        st = os.fstat(stream.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        code = (
            "import sys\n"
            "from vrrpd.io.journal import stderr_is_journal\n"
            "print(stderr_is_journal())\n"
            f"print('stderr line {tag}', file=sys.stderr)\n"
        )
        run = [sys.executable, "-c", code]

        def says(env: dict[str, str], stderr: Any) -> str:
            out = subprocess.run(
                run, env=env, stderr=stderr, stdout=subprocess.PIPE, cwd=ROOT, timeout=30
            )
            return out.stdout.decode().strip()

        assert says(env, stream) == "True"
        assert says(env, subprocess.DEVNULL) == "False"  # stderr redirected by a wrapper
        no_env = {k: v for k, v in env.items() if k != "JOURNAL_STREAM"}
        assert says(no_env, stream) == "False"
    finally:
        stream.close()
    # What went to that stderr is in the journal: it really was the journal stream.
    entry = journald.wait_for(lambda e: e.get("MESSAGE") == f"stderr line {tag}")
    assert entry["_TRANSPORT"] == "stdout"
    assert entry["SYSLOG_IDENTIFIER"] == f"vrrpd-stream-{tag}"


def test_stderr_is_journal_rejects_junk() -> None:
    st = os.fstat(2)
    assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}) is True
    assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}) is False
    for junk in ("", "12", "a:b", ":", "1:2:3"):
        assert stderr_is_journal({"JOURNAL_STREAM": junk}) is False
    assert stderr_is_journal({}) is False
