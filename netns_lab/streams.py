"""Long-lived TCP streams and short HTTP-like requests, for the standby lab (`netns_lab.standby`).

Run inside lab namespaces (no root needed beyond ``ip netns exec``)::

    python -m netns_lab.streams serve --echo 9000           # the server behind the gateways
    python -m netns_lab.streams serve --http 8080           # "the service" on a gateway
    python -m netns_lab.streams client --streams 198.51.100.100:9000 --count 5 \\
        --requests 192.0.2.254:8080 --status FILE

``serve --echo`` echoes every byte back; ``serve --http`` answers each connection's request
(anything up to an empty line) with ``HTTP/1.0 200 OK`` and closes it. With ``--ready FILE``
the server creates FILE once it listens.

``client`` opens `--count` connections to the echo server and, every `--chunk-every` seconds
(5 ms), sends 64 bytes on each; the echo comes back, so each connection's byte counter shows
it kept flowing. With ``--requests`` it also starts one short request every `--request-every`
seconds (10 ms): connect, ``GET / HTTP/1.0``, read the answer to the end; a request that is
refused, reset or not answered within `--request-timeout` (1 s) failed. Every 50 ms it
rewrites `--status` (a JSON object: the byte counters, errors and request tallies, for a
controller to poll); on SIGTERM it prints one JSON object::

    {"start": t0, "end": t1, "chunk_every": s,
     "streams": [{"sent": n, "received": n, "error": null | "ECONNRESET ...",
                  "error_at": t | null, "gaps": [[a, b], ...], "last_rx": t}, ...],
     "requests": [[t_start, t_end, ok, why], ...]}

``gaps`` are the intervals longer than `GAP` (50 ms) without a received byte. Times are
CLOCK_MONOTONIC seconds, the controller's `time.monotonic()`. The pure analysis of a result
(`stream_verdicts`, `request_summary`) is here too.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GAP = 0.05  # seconds without a received byte that count as a gap
CHUNK = b"0123456789abcdef" * 4  # 64 bytes per send
REQUEST = b"GET / HTTP/1.0\r\nHost: service\r\n\r\n"
ANSWER = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
STATUS_EVERY = 0.05

# --- pure analysis --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamVerdict:
    """One long-lived connection across a failure at `fault`."""

    survived: bool  # no error, flowing at the end, and at least `need` bytes after the failure
    bytes_after: int  # the byte counter's growth from `before` to the end
    stall: float  # the longest time without a received byte, going on at or after the failure
    error: str | None


def stream_verdicts(
    result: Mapping[str, Any], fault: float, before: Sequence[int], need: int
) -> list[StreamVerdict]:
    """Each stream of a client result across a failure at monotonic time `fault`; `before`
    holds the byte counters read just before it.

    A stream survived if it has no error, was still receiving at the end (a gap still open
    then means it never came back) and received at least `need` bytes after the failure.
    The stall is its longest gap going on at or beginning after the failure.
    """
    out = []
    end = float(result.get("end", 0.0))
    for i, s in enumerate(result.get("streams", [])):
        gaps = [(float(a), float(b)) for a, b in s.get("gaps", [])]
        last_rx = float(s.get("last_rx") or 0.0)
        open_gap = end - last_rx > GAP * 4
        relevant = [b - a for a, b in gaps if b >= fault - GAP]
        if open_gap and last_rx >= fault - GAP:
            relevant.append(end - last_rx)
        elif open_gap:
            relevant.append(end - max(last_rx, fault))
        error = s.get("error")
        grew = int(s.get("received", 0)) - (before[i] if i < len(before) else 0)
        out.append(
            StreamVerdict(
                survived=error is None and not open_gap and grew >= need,
                bytes_after=max(0, grew),
                stall=max(relevant, default=0.0),
                error=error,
            )
        )
    return out


@dataclass(frozen=True)
class RequestSummary:
    sent: int  # requests started after the failure
    failed: int  # of those, failed (refused, reset, timed out)
    back: float | None  # seconds from the failure to the first answered request started after
    # the last failed one (None: never answered again)


def request_summary(result: Mapping[str, Any], fault: float) -> RequestSummary:
    """The short requests started after monotonic time `fault` - their timeout: how many
    failed, and when the service answered again (the start of the first request answered
    after the last failure, from the fault)."""
    reqs = [(float(a), float(b), bool(ok)) for a, b, ok, _ in result.get("requests", [])]
    after = [r for r in reqs if r[1] >= fault]  # still running at the fault, or later
    failed = [r for r in after if not r[2]]
    if not failed:
        return RequestSummary(len(after), 0, 0.0)
    last_bad = max(r[0] for r in failed)
    back = next((r[0] for r in sorted(after) if r[2] and r[0] > last_bad), None)
    return RequestSummary(len(after), len(failed), None if back is None else back - fault)


# --- servers --------------------------------------------------------------------------------


class _Running:
    """`on` until SIGTERM or SIGINT (the loop then ends and the process reports)."""

    def __init__(self) -> None:
        self.on = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, frame: object) -> None:
        self.on = False


def _listener(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(512)
    s.setblocking(False)
    return s


def serve(echo: int | None, http: int | None, ready: Path | None) -> int:
    """Echo and/or HTTP-like servers in one selector loop, until SIGTERM."""
    sel = selectors.DefaultSelector()
    if echo is not None:
        sel.register(_listener(echo), selectors.EVENT_READ, "echo-listen")
    if http is not None:
        sel.register(_listener(http), selectors.EVENT_READ, "http-listen")
    if ready is not None:
        ready.touch()
    buffers: dict[socket.socket, bytes] = {}
    running = _Running()

    def close(conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn)
        buffers.pop(conn, None)
        conn.close()

    while running.on:
        for key, _ in sel.select(0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if key.data in ("echo-listen", "http-listen"):
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(conn, selectors.EVENT_READ, key.data.split("-")[0])
                    buffers[conn] = b""
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                close(sock)
                continue
            if not data:
                close(sock)
            elif key.data == "echo":
                with contextlib.suppress(BlockingIOError):
                    sock.send(data)  # 64-byte chunks: the send buffer never fills
            else:
                buffers[sock] += data
                if b"\r\n\r\n" in buffers[sock]:
                    with contextlib.suppress(OSError):
                        sock.send(ANSWER)
                    close(sock)
    return 0


# --- the client -----------------------------------------------------------------------------


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class _Stream:
    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.sent = 0
        self.received = 0
        self.error: str | None = None
        self.error_at: float | None = None
        self.gaps: list[list[float]] = []
        self.last_rx = now

    def fail(self, e: OSError, now: float) -> None:
        if self.error is None:
            name = errno.errorcode.get(e.errno or 0, "error")
            self.error, self.error_at = f"{name} {e.strerror or e}", now

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "received": self.received,
            "error": self.error,
            "error_at": self.error_at,
            "gaps": self.gaps,
            "last_rx": self.last_rx,
        }


class _Request:
    def __init__(self, sock: socket.socket, start: float) -> None:
        self.sock = sock
        self.start = start
        self.sent = False
        self.answer = b""


def client(args: argparse.Namespace) -> int:
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    streams: list[_Stream] = []
    host, port = _addr(args.streams) if args.streams else ("", 0)
    for _ in range(args.count if args.streams else 0):
        s = socket.create_connection((host, port), timeout=args.connect_timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = _Stream(s, time.monotonic())
        streams.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    req_target = _addr(args.requests) if args.requests else None
    finished: list[list[Any]] = []
    pending: dict[socket.socket, _Request] = {}
    running = _Running()

    def done(r: _Request, ok: bool, why: str, now: float) -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(r.sock)
        pending.pop(r.sock, None)
        r.sock.close()
        finished.append([r.start, now, ok, why])

    def status(now: float) -> None:
        if not args.status:
            return
        ok = sum(1 for r in finished if r[2])
        state = {
            "t": now,
            "received": [s.received for s in streams],
            "errors": [s.error for s in streams],
            "requests_ok": ok,
            "requests_failed": len(finished) - ok,
            "last_ok": max((r[0] for r in finished if r[2]), default=None),
            "oldest_pending": min((r.start for r in pending.values()), default=None),
        }
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, args.status)

    next_chunk = next_req = next_status = time.monotonic()
    while running.on:
        now = time.monotonic()
        if streams and now >= next_chunk:
            for st in streams:
                if st.error is None:
                    try:
                        st.sent += st.sock.send(CHUNK)
                    except BlockingIOError:
                        pass  # the path is stalled; the counters show it
                    except OSError as e:
                        st.fail(e, now)
            next_chunk = max(next_chunk + args.chunk_every, now)
        if req_target is not None and now >= next_req:
            r = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            r.setblocking(False)
            req = _Request(r, now)
            pending[r] = req
            err = r.connect_ex(req_target)
            if err not in (0, errno.EINPROGRESS):
                done(req, False, errno.errorcode.get(err, str(err)), now)
            else:
                sel.register(r, selectors.EVENT_WRITE, req)
            next_req = max(next_req + args.request_every, now)
        for late in [x for x in pending.values() if now - x.start > args.request_timeout]:
            done(late, False, "timeout", now)
        if now >= next_status:
            status(now)
            next_status = now + STATUS_EVERY
        timeout = min(next_chunk if streams else now + 0.05, next_req if req_target else now + 0.05)
        for key, _ in sel.select(max(0.0, timeout - time.monotonic())):
            now = time.monotonic()
            obj = key.data
            if isinstance(obj, _Stream):
                try:
                    data = obj.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    obj.fail(e, now)
                    sel.unregister(obj.sock)
                    continue
                if not data:
                    obj.fail(OSError(errno.ECONNRESET, "closed by the peer"), now)
                    sel.unregister(obj.sock)
                    continue
                if now - obj.last_rx > GAP:
                    obj.gaps.append([obj.last_rx, now])
                obj.received += len(data)
                obj.last_rx = now
            elif isinstance(obj, _Request):
                sock = obj.sock
                if not obj.sent:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        done(obj, False, errno.errorcode.get(err, str(err)), now)
                        continue
                    try:
                        sock.send(REQUEST)
                    except OSError as e:
                        done(obj, False, errno.errorcode.get(e.errno or 0, "error"), now)
                        continue
                    obj.sent = True
                    sel.modify(sock, selectors.EVENT_READ, obj)
                    continue
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    done(obj, False, errno.errorcode.get(e.errno or 0, "error"), now)
                    continue
                if data:
                    obj.answer += data
                    continue
                ok = obj.answer.startswith(b"HTTP/1.0 200")
                done(obj, ok, "" if ok else "bad answer", now)
    end = time.monotonic()
    for left in list(pending.values()):
        done(left, False, "unfinished", end)
    finished = [r for r in finished if r[3] != "unfinished"]
    finished.sort()
    status(end)
    json.dump(
        {
            "start": start,
            "end": end,
            "chunk_every": args.chunk_every,
            "streams": [s.as_json() for s in streams],
            "requests": finished,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m netns_lab.streams")
    sub = ap.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="echo and/or HTTP-like servers")
    srv.add_argument("--echo", type=int, help="echo port")
    srv.add_argument("--http", type=int, help="HTTP-like port")
    srv.add_argument("--ready", type=Path, help="create this file once listening")
    cl = sub.add_parser("client", help="long-lived streams and short requests")
    cl.add_argument("--streams", metavar="HOST:PORT", help="the echo server")
    cl.add_argument("--count", type=int, default=5, help="long-lived connections (default 5)")
    cl.add_argument("--chunk-every", type=float, default=0.005)
    cl.add_argument("--requests", metavar="HOST:PORT", help="the HTTP-like service")
    cl.add_argument("--request-every", type=float, default=0.01)
    cl.add_argument("--request-timeout", type=float, default=1.0)
    cl.add_argument("--connect-timeout", type=float, default=5.0)
    cl.add_argument("--status", help="rewrite this JSON file every 50 ms")
    args = ap.parse_args(argv)
    if args.command == "serve":
        if args.echo is None and args.http is None:
            ap.error("serve: give --echo PORT and/or --http PORT")
        return serve(args.echo, args.http, args.ready)
    if not args.streams and not args.requests:
        ap.error("client: give --streams HOST:PORT and/or --requests HOST:PORT")
    return client(args)


if __name__ == "__main__":
    sys.exit(main())
