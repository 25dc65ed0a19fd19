"""A failover probe: ICMP echo to a target every 5 ms, plus a VRRP advert sniffer.

Run inside a client namespace (root: raw sockets)::

    ip netns exec NS python -m netns_lab.probe 192.0.2.254 --adverts --duration 10

It sends one echo request per `--interval` (paced by monotonic deadlines: a late wake-up
does not shift the schedule, and slots missed by more than one interval are skipped, never
sent as a burst), records for each sequence number the send and reply times
(``time.monotonic()``: CLOCK_MONOTONIC is system-wide, so the times compare directly with the
caller's), and with ``--adverts`` records every VRRP advertisement that reaches the client
(arrival time, source address, priority). It stops after ``--duration`` seconds or on
SIGTERM/SIGINT, waits briefly for replies in flight, and prints one JSON object::

    {"target": ..., "interval": ..., "sent": n, "received": n,
     "replies": [[seq, t_send, t_reply], ...], "adverts": [[t, src, priority], ...],
     "start": t0, "end": t1, "send_errors": n}

If no reply arrives within ``--initial-timeout`` of the start, the target was unreachable from
the start: the probe says so on stderr, prints the JSON with an ``"error"`` key and exits 2.

With ``--events FILE`` it also appends live event lines for a controller to poll: ``reply SEQ
T_SEND T_REPLY`` (the first reply, the first after a gap, then at most every 50 ms), ``advert T
SRC PRIORITY`` and ``error TEXT``.

`blackout`, `lost`, `largest_gap` and `detection` are pure functions over the result.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import itertools
import json
import math
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from ipaddress import IPv6Address, ip_address
from typing import IO, Any

from vrrpd.packet import internet_checksum

from .craft import GROUP, IPPROTO_VRRP

MAGIC = b"vrrplab\x00"
PAYLOAD = struct.Struct("!8sQ")  # magic, the probe's own 64-bit sequence number
EVENT_EVERY = 0.05

# --- pure analysis --------------------------------------------------------------------------


def answered(result: Mapping[str, Any]) -> list[tuple[int, float, float]]:
    """Answered probes as (seq, t_send, t_reply), one per sequence number, in send order."""
    first: dict[int, tuple[int, float, float]] = {}
    for seq, t_send, t_reply in result.get("replies", []):
        if seq not in first:
            first[int(seq)] = (int(seq), float(t_send), float(t_reply))
    return [first[s] for s in sorted(first)]


def largest_gap(result: Mapping[str, Any]) -> tuple[float, float] | None:
    """Send times (a, b) of the consecutive answered probes furthest apart, or None (< 2)."""
    sends = [t for _, t, _ in answered(result)]
    if len(sends) < 2:
        return None
    return max(itertools.pairwise(sends), key=lambda ab: ab[1] - ab[0])


def blackout(result: Mapping[str, Any]) -> float:
    """The longest outage the client saw, in seconds.

    From the send time of the last answered probe before the outage to the send time of the
    first answered probe after it; in steady state this is one probe interval. An outage that
    had not ended when the probe stopped is not included (see `tail_lost`). With no answered
    probe at all the result is ``inf``; with one it is 0.
    """
    done = answered(result)
    if not done:
        return math.inf
    gap = largest_gap(result)
    return 0.0 if gap is None else gap[1] - gap[0]


def lost(result: Mapping[str, Any]) -> int:
    """Echo requests sent and never answered."""
    return int(result.get("sent", 0)) - len(answered(result))


def tail_lost(result: Mapping[str, Any]) -> int:
    """Unanswered probes after the last answered one (an outage still going on at the end)."""
    done = answered(result)
    last = done[-1][0] if done else -1
    return int(result.get("sent", 0)) - 1 - last


def detection(
    result: Mapping[str, Any], old: str, new: str, after: float
) -> tuple[float, float, float] | None:
    """Failover detection as the client saw it on the wire.

    `new_first` is the first advert from `new` arriving after monotonic time `after` (the
    failure); `old_last` is the last advert from `old` before that (for a graceful shutdown,
    its priority-0 advert). Returns (new_first - old_last, old_last, new_first), or None when
    either is missing.
    """
    adverts = [(float(t), str(src), int(p)) for t, src, p in result.get("adverts", [])]
    new_first = next((t for t, src, _ in adverts if src == new and t > after), None)
    if new_first is None:
        return None
    old_last = max((t for t, src, _ in adverts if src == old and t < new_first), default=None)
    if old_last is None:
        return None
    return new_first - old_last, old_last, new_first


# --- wire formats ---------------------------------------------------------------------------


def echo_request(v6: bool, ident: int, seq: int) -> bytes:
    """An ICMP (type 8) or ICMPv6 (type 128) echo request carrying our magic and `seq`."""
    payload = PAYLOAD.pack(MAGIC, seq)
    if v6:  # the kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets
        return struct.pack("!BBHHH", 128, 0, 0, ident, seq & 0xFFFF) + payload
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
    csum = internet_checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq & 0xFFFF) + payload


def parse_echo_reply(data: bytes, v6: bool, ident: int) -> int | None:
    """Our probe sequence number if `data` is a reply to one of our requests, else None."""
    if not v6:  # IPv4 raw sockets deliver the IP header too
        if len(data) < 20:
            return None
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < 8 + PAYLOAD.size:
        return None
    typ, code, _, rid, _ = struct.unpack_from("!BBHHH", data)
    if typ != (129 if v6 else 0) or code != 0 or rid != ident:
        return None
    magic, seq = PAYLOAD.unpack_from(data, 8)
    return seq if magic == MAGIC else None


def parse_vrrp(data: bytes, v6: bool) -> tuple[int, int] | None:
    """(vrid, priority) of a VRRP packet (v2 or v3), or None if too short."""
    if not v6:
        if len(data) < 20:
            return None
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < 8:
        return None
    return data[1], data[2]


# --- the probe ------------------------------------------------------------------------------


class Probe:
    def __init__(
        self,
        target: str,
        *,
        interval: float = 0.005,
        duration: float | None = None,
        adverts: bool = False,
        vrid: int | None = None,
        iface: str = "eth0",
        initial_timeout: float = 3.0,
        grace: float = 0.2,
        events: IO[str] | None = None,
    ) -> None:
        self.target = ip_address(target)
        self.v6 = isinstance(self.target, IPv6Address)
        self.interval = interval
        self.duration = duration
        self.vrid = vrid
        self.initial_timeout = initial_timeout
        self.grace = grace
        self.events = events
        self.ident = os.getpid() & 0xFFFF
        self.stop_requested = False
        self.sent = 0
        self.send_errors = 0
        self.last_send_error: str | None = None
        self.send_times: list[float] = []
        self.replies: list[list[Any]] = []
        self.replied: set[int] = set()
        self.adverts: list[list[Any]] = []
        self._last_answered = -1
        self._last_event = -math.inf
        family = socket.AF_INET6 if self.v6 else socket.AF_INET
        proto = socket.IPPROTO_ICMPV6 if self.v6 else socket.IPPROTO_ICMP
        self.icmp = socket.socket(family, socket.SOCK_RAW, proto)
        self.icmp.setblocking(False)
        self.vrrp: socket.socket | None = None
        if adverts:
            self.vrrp = socket.socket(family, socket.SOCK_RAW, IPPROTO_VRRP)
            self.vrrp.setblocking(False)
            ifindex = socket.if_nametoindex(iface)
            # Join the VRRP group: IP does not deliver multicast for groups nobody joined.
            if self.v6:
                mreq6 = socket.inet_pton(socket.AF_INET6, GROUP[6]) + struct.pack("@i", ifindex)
                self.vrrp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6)
            else:
                mreqn = struct.pack(
                    "@4s4si", socket.inet_aton(GROUP[4]), socket.inet_aton("0.0.0.0"), ifindex
                )
                self.vrrp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.icmp, selectors.EVENT_READ, "icmp")
        if self.vrrp is not None:
            self.sel.register(self.vrrp, selectors.EVENT_READ, "vrrp")

    def _event(self, line: str) -> None:
        if self.events is not None:
            self.events.write(line + "\n")
            self.events.flush()

    def _send(self) -> None:
        seq = self.sent
        packet = echo_request(self.v6, self.ident, seq)
        t = time.monotonic()
        self.send_times.append(t)
        self.sent += 1
        try:
            self.icmp.sendto(packet, (str(self.target), 0))
        except OSError as e:  # e.g. EHOSTUNREACH after failed neighbour resolution
            self.send_errors += 1
            self.last_send_error = e.strerror or str(e)

    def _drain(self, timeout: float = 0.0) -> None:
        """Read what arrives within `timeout` seconds (0: what is there now)."""
        for key, _ in self.sel.select(timeout):
            self._read(key.fileobj, key.data)  # type: ignore[arg-type]

    def _read(self, sock: socket.socket, kind: str) -> None:
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                raise
            now = time.monotonic()
            if kind == "icmp":
                if ip_address(addr[0].split("%")[0]) != self.target:
                    continue
                seq = parse_echo_reply(data, self.v6, self.ident)
                if seq is None or seq >= self.sent or seq in self.replied:
                    continue
                t_send = self.send_times[seq]
                self.replied.add(seq)
                self.replies.append([seq, t_send, now])
                gap = seq != self._last_answered + 1
                if seq > self._last_answered:
                    self._last_answered = seq
                if gap or now - self._last_event >= EVENT_EVERY:
                    self._last_event = now
                    self._event(f"reply {seq} {t_send!r} {now!r}")
            else:
                parsed = parse_vrrp(data, self.v6)
                if parsed is None:
                    continue
                vrid, priority = parsed
                if self.vrid is not None and vrid != self.vrid:
                    continue
                src = str(ip_address(addr[0].split("%")[0]))
                self.adverts.append([now, src, priority])
                self._event(f"advert {now!r} {src} {priority}")

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        next_send = t0
        error: str | None = None
        while not self.stop_requested:
            now = time.monotonic()
            if self.duration is not None and now - t0 >= self.duration:
                break
            if not self.replies and now - t0 > self.initial_timeout:
                why = f" (last send error: {self.last_send_error})" if self.last_send_error else ""
                error = (
                    f"target {self.target} unreachable from the start: no echo reply within "
                    f"{self.initial_timeout:g}s to {self.sent} requests{why}"
                )
                break
            if now >= next_send:
                self._send()
                next_send += self.interval
                if next_send < now:  # fell more than a slot behind: skip, never burst
                    next_send = now + self.interval
            self._drain(max(0.0, next_send - time.monotonic()))
        # Replies still in flight: wait until the newest request is answered, at most `grace`.
        end = time.monotonic()
        deadline = end + self.grace
        while error is None and self.sent and (self.sent - 1) not in self.replied:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._drain(remaining)
        self._drain()
        result: dict[str, Any] = {
            "target": str(self.target),
            "interval": self.interval,
            "sent": self.sent,
            "received": len(self.replied),
            "replies": sorted(self.replies),
            "adverts": self.adverts,
            "start": t0,
            "end": end,
            "send_errors": self.send_errors,
        }
        if error is not None:
            result["error"] = error
            self._event(f"error {error}")
        return result

    def close(self) -> None:
        self.sel.close()
        self.icmp.close()
        if self.vrrp is not None:
            self.vrrp.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m netns_lab.probe",
        description="ICMP echo every few ms to a target (the VIP), with an optional VRRP "
        "advert sniffer; prints one JSON result on stdout.",
    )
    ap.add_argument("target", help="IPv4 or IPv6 address to probe, e.g. 192.0.2.254")
    ap.add_argument("--interval", type=float, default=0.005, help="seconds between requests")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    ap.add_argument("--adverts", action="store_true", help="also record VRRP advertisements")
    ap.add_argument("--vrid", type=int, help="record only adverts of this VRID")
    ap.add_argument("--iface", default="eth0", help="interface to join the VRRP group on")
    ap.add_argument(
        "--initial-timeout",
        type=float,
        default=3.0,
        help="fail if no reply arrives within this many seconds of the start",
    )
    ap.add_argument(
        "--grace",
        type=float,
        default=0.2,
        help="after stopping, wait at most this long for replies in flight",
    )
    ap.add_argument("--events", help="append live event lines to this file")
    args = ap.parse_args(argv)
    if not args.interval > 0:
        ap.error("--interval: must be > 0")

    events: IO[str] | None = None
    try:
        if args.events:
            events = open(args.events, "a", encoding="utf-8")  # noqa: SIM115
        try:
            probe = Probe(
                args.target,
                interval=args.interval,
                duration=args.duration,
                adverts=args.adverts,
                vrid=args.vrid,
                iface=args.iface,
                initial_timeout=args.initial_timeout,
                grace=args.grace,
                events=events,
            )
        except (OSError, ValueError) as e:
            print(f"probe: cannot start: {e}", file=sys.stderr)
            return 1

        def stop(signum: int, frame: object) -> None:
            probe.stop_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            result = probe.run()
        finally:
            probe.close()
        json.dump(result, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        sys.stdout.flush()
        if "error" in result:
            print(f"probe: {result['error']}", file=sys.stderr)
            return 2
        return 0
    finally:
        if events is not None:
            with contextlib.suppress(OSError):
                events.close()


if __name__ == "__main__":
    sys.exit(main())
