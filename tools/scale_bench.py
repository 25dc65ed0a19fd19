#!/usr/bin/env python3
"""Scale benchmark: vrrpd against keepalived 2.2.7 with many virtual routers (issue 9).

    python tools/scale_bench.py [--quick] [--cases 255x0.1,200x0.01] [--seconds 10]
                                [--converge-cap 120] [--flood-n 1] [--flood-interval 0.1]
                                [--flood-rates 1k,2k,5k,...] [--flood-step 5]
                                [--startup-runs 5] [--skip cases,flood,startup]
                                [--json] [--save FILE] [--keep-logs]

Default: the 9 cases {1,50,255} x {1,0.1,0.01} s and 200x0.01, floods from 100 to 200k
frames/s, 5 start-ups; --quick: 1x1,255x0.1,200x0.01 with 5 s windows, a 60 s convergence
cap, floods 100,10k,50k,100k, 3 start-ups.

One lab for the whole run: routers r1 (192.0.2.1/24, priority 150) and r2 (192.0.2.2/24,
priority 100) and a client c1 (192.0.2.100/24) on one bridge. vrrpd and keepalived run one
after the other on the same nodes, never both at once; the order alternates from case to case.

* cases (``NxI``: N virtual routers, advert interval I s): VRIDs 1..N on eth0, VRRPv3 over
  IPv4 multicast, one VIP each (198.51.100.V/24, VRID 255: 203.0.113.1/24); vrrpd tables
  vr1..vrN, keepalived instances VI_1..VI_N. r2 starts alone and becomes master of every
  VRID (all of them advertised by r2 in the capture on c1), then r1 starts and preempts.
  Converge: from r1's exec until every VRID has been advertised by r1 and r2 has been silent
  since (held for max(1 s, 2 intervals)), capped by --converge-cap. Then a steady window of
  --seconds: CPU % of one core of both process trees (keepalived: parent + VRRP child), the
  vrrpd/keepalived ratio, RSS and PSS, adverts r2 sent (false takeovers: r2 has priority > 0
  only while master), r1's adverts per second against N / interval, the largest gap between
  two adverts of one VRID (worst VRID, in intervals; a silence at the window's edge counts),
  and the CPU per advert (master: per advert sent; backup: per advert received: the same
  adverts, one bridge). A case that does not converge is still measured and marked. Also
  from the kernel: r1's eth0 tx_packets per second and the receive drops of each router's
  protocol 112 raw sockets (/proc/net/raw: a full socket buffer) in the window.
  r1 and r2 run with net.ipv4.conf.{all,eth0}.promote_secondaries = 1 (what systemd's
  sysctl defaults set on most hosts): the routers have no address in 198.51.100.0/24, so
  the first VIP added there is the subnet's primary address, and without promotion removing
  it deletes every other VIP of the subnet (--no-promote-secondaries to see that).
* flood (--flood-n VRIDs at --flood-interval, r1 master, r2 backup): c1 sends junk on
  protocol 112 to 224.0.0.18 at rising rates, --flood-step s each: adverts with TTL 64, with
  a bad checksum, for an unconfigured VRID (valid otherwise), of version 2, and random bytes,
  all claiming priority 250 where they carry one (--flood-kinds picks some). Sent from
  prebuilt Ethernet frames on an AF_PACKET socket with sendmmsg(2), paced in bursts; the
  rate achieved and the rate r1's eth0 received are reported. A step fails when the
  master's largest advert gap exceeds 2 intervals or r2 advertises; an implementation's
  first failing step ends its flood.
* start-up: r1 alone, every VRID at priority 255, interval 1 s, N=1 and N=255; from exec to
  the first advert on the wire and to the first advert of every VRID, and the CPU used until
  then; --startup-runs repetitions, median. vrrpd: VRID 1's VIP is r1's own 192.0.2.1/24
  (the RFC 5798 owner); keepalived: ``state MASTER`` and the VIPs of the cases (it removes
  configured VIPs at start, so it cannot be given the interface's own address).

Captures: tcpdump on c1 with ``ip proto 112 and not src host 192.0.2.100``, snap length 64,
read incrementally with struct (never scapy; about 0.4 us a frame, so a case that captures
millions does not steal much of the machine; the bench's own CPU per case is in the JSON).
tcpdump hands frames over in blocks (up to 1 s late): times are the kernel's capture
timestamps, so only the moment a wait notices something is late, not the figure. CPU: the
kernel's per-process CPU clocks summed over the process tree (tools/resource_bench.py).
keepalived runs as netns_lab starts it: console log into a file, one line per rejected
packet. vrrpd's kernel filter (SO_ATTACH_FILTER, on by default) drops the TTL, version and
VRID junk and most random bytes before they reach the daemon; the bad checksums reach it.

Figures are for reading, not asserting: the machine is shared. Needs root; everything is
removed at the end, also on errors and Ctrl-C (the lab stops what it started, by PID).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netns_lab.craft import Sender, craft, ip_packet
from netns_lab.failover import interval_arg, virtual_router
from netns_lab.keepalived import Keepalived, start_keepalived, stop_all
from netns_lab.lab import Lab, LabError, Node, Vrrpd, kill_child, read_text, stop_child
from tools.resource_bench import (
    Memory,
    _finite,
    can_run,
    pcap_header,
    process_tree,
    say,
    tree_cpu_ns,
    tree_memory,
)
from vrrpd.io.mmsg import send_many
from vrrpd.types import IPPROTO_VRRP, OWNER_PRIORITY

R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"
MASTER_PRIO, BACKUP_PRIO = 150, 100
IMPLS = ("vrrpd", "keepalived")
DEFAULT_CASES = "1x1,1x0.1,1x0.01,50x1,50x0.1,50x0.01,255x1,255x0.1,255x0.01,200x0.01"
QUICK_CASES = "1x1,255x0.1,200x0.01"
DEFAULT_FLOOD_RATES = "100,1k,5k,10k,20k,35k,50k,70k,100k,150k,200k"
QUICK_FLOOD_RATES = "100,10k,50k,100k"
JUNK_KINDS = ("ttl", "checksum", "version", "vrid", "random")
SNAPLEN = 64  # Ethernet + IPv4 + the VRRP header and the first address: 46 bytes
STARTUP_NS = (1, 255)
STARTUP_CAP = 60.0  # seconds for an owner to advertise every VRID
STOP_TIMEOUT = 30.0  # seconds for a daemon to exit after SIGTERM (255 VIPs to remove)
GAP_LIMIT = 2.0  # flood: a master advert gap above this many intervals is a failure


# --- configuration (pure) ---------------------------------------------------------------------


def vip_of(vrid: int) -> str:
    """The VIP of VRID `vrid`: 198.51.100.V/24, and 203.0.113.1/24 for 255 (documentation
    addresses; the routers have none in those subnets)."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"VRID must be 1..255, got {vrid}")
    return f"198.51.100.{vrid}/24" if vrid <= 254 else "203.0.113.1/24"


def vrrpd_tables(
    n: int, priority: int, interval: float, owner_vip: str | None = None
) -> list[dict[str, Any]]:
    """[[virtual_router]] tables vr1..vrN, VRIDs 1..N on eth0; `owner_vip` replaces VRID 1's VIP
    (the owner's own address)."""
    out = []
    for v in range(1, n + 1):
        vip = owner_vip if owner_vip is not None and v == 1 else vip_of(v)
        out.append(
            virtual_router(priority, interval) | {"name": f"vr{v}", "vrid": v, "virtual_ips": [vip]}
        )
    return out


def keepalived_instances(n: int, priority: int, interval: float) -> list[dict[str, Any]]:
    """vrrp_instance VI_1..VI_N (VRRPv3 from netns_lab's global_defs); priority 255 starts in
    state MASTER."""
    out: list[dict[str, Any]] = []
    for v in range(1, n + 1):
        inst: dict[str, Any] = {
            "name": f"VI_{v}",
            "interface": "eth0",
            "virtual_router_id": v,
            "priority": priority,
            "advert_int": interval,
            "virtual_ipaddress": [vip_of(v)],
        }
        if priority == OWNER_PRIORITY:
            inst["state"] = "MASTER"
        out.append(inst)
    return out


@dataclass(frozen=True)
class Case:
    n: int
    interval: float

    @property
    def label(self) -> str:
        return f"{self.n}x{self.interval:g}"

    @property
    def expected_rate(self) -> float:
        return self.n / self.interval


def parse_cases(text: str) -> list[Case]:
    """``"255x0.1,200x0.01"`` -> cases; N 1..255, interval 0.01..40.95 s in 0.01 steps."""
    out: list[Case] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*x\s*([0-9.]+)", part)
        if not m:
            raise ValueError(f"case {part!r}: expected NxINTERVAL, e.g. 255x0.1")
        n = int(m[1])
        if not 1 <= n <= 255:
            raise ValueError(f"case {part!r}: N must be 1..255")
        try:
            interval = interval_arg(m[2])
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"case {part!r}: interval {e}") from None
        out.append(Case(n, interval))
    if not out:
        raise ValueError("no case given")
    return out


def parse_rates(text: str) -> list[float]:
    """``"10k,20000,3.5k"`` -> [10000.0, 20000.0, 3500.0] (each > 0)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        mult = 1000.0 if part.endswith("k") else 1.0
        try:
            value = float(part.removesuffix("k")) * mult
        except ValueError:
            raise ValueError(f"rate {part!r}: not a number") from None
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"rate {part!r}: must be > 0")
        out.append(value)
    if not out:
        raise ValueError("no rate given")
    return out


# --- a pcap file read as it grows -------------------------------------------------------------


class PcapTail:
    """The IPv4 VRRP frames of a pcap file (Ethernet), read incrementally: each `read()`
    returns the records completed since the last one (a record still being written is left
    for the next call). Struct only: a case writes hundreds of thousands of frames."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.rec: struct.Struct | None = None
        self.frac = 1e-6
        self.records = 0

    def _header(self, data: bytes) -> None:
        self.rec, self.frac = pcap_header(data, self.path)

    def read(self) -> list[Advert]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        base = 0
        if self.rec is None:
            if len(data) < 24:
                return []
            self._header(data)
            base = 24
        frames, used = parse_records(data, base, self.rec, self.frac)  # type: ignore[arg-type]
        self.pos += used
        self.records += len(frames)
        return frames


# An advert seen in the capture: (wall-clock time, source address, VRID, priority). Plain
# tuples, not resource_bench's Frame: a case can capture millions of them.
Advert = tuple[float, str, int, int]

# A VRRPv3 IPv4 advert with one address, cut at SNAPLEN: the record header, then the frame's
# ethertype, version/IHL, protocol, source, VRID and priority (46 bytes of frame).
_FIXED_LEN = 46
_FIXED = "IIII12x2sB8xB2x4s4xxBB9x"
_NAMES: dict[bytes, str] = {}


def _name(raw: bytes) -> str:
    name = _NAMES.get(raw)
    if name is None:
        name = _NAMES[raw] = socket.inet_ntoa(raw)
    return name


def parse_records(
    data: bytes, pos: int, rec: struct.Struct, frac: float
) -> tuple[list[Advert], int]:
    """VRRP adverts of the complete pcap records in `data` from `pos`; (adverts, where the
    first incomplete record starts). Runs of records of the usual size go through one
    struct.iter_unpack (about 0.3 us a record); anything else record by record."""
    out: list[Advert] = []
    n = len(data)
    fixed = struct.Struct(rec.format[0] + _FIXED)
    size = fixed.size
    view = memoryview(data)
    while pos + 16 <= n:
        sec, sub, incl, _orig = rec.unpack_from(data, pos)
        if incl == _FIXED_LEN:
            run = (n - pos) // size
            if run == 0:
                break  # the record is not complete yet
            for sec, sub, incl, _o, eth, vihl, proto, src, vrid, prio in fixed.iter_unpack(
                view[pos : pos + run * size]
            ):
                if incl != _FIXED_LEN or eth != b"\x08\x00" or vihl != 0x45 or proto != 112:
                    break
                out.append((sec + sub * frac, _name(src), vrid, prio))
                pos += size
            else:
                continue
            sec, sub, incl, _orig = rec.unpack_from(data, pos)
        end = pos + 16 + incl
        if end > n:
            break
        body = data[pos + 16 : end]
        pos = end
        if len(body) < 34 or body[12:14] != b"\x08\x00" or body[23] != IPPROTO_VRRP:
            continue
        vrrp = 14 + (body[14] & 0x0F) * 4
        if len(body) < vrrp + 3:
            continue
        out.append((sec + sub * frac, _name(body[26:30]), body[vrrp + 1], body[vrrp + 2]))
    return out, pos


# --- what the frames say (pure, fed frame by frame) -------------------------------------------


class Converge:
    """Has `master` taken over every VRID in `vrids` since `since`, with `backup` silent?

    `at()`: the moment from which every VRID had been advertised by `master` (at or after
    `since`) and `backup` sent no advert (priority > 0) any more, once the capture has run
    `hold` seconds past it; else None. With `backup` absent it says when `master` had
    advertised every VRID."""

    def __init__(
        self, vrids: Iterable[int], master: str, backup: str, since: float, hold: float
    ) -> None:
        self.vrids = frozenset(vrids)
        self.master, self.backup = master, backup
        self.since, self.hold = since, hold
        self.first: dict[int, float] = {}
        self.last_backup: float | None = None
        self.latest = -math.inf

    def add(self, adverts: Sequence[Advert]) -> None:
        if not adverts:
            return
        self.latest = max(self.latest, max(a[0] for a in adverts))
        since, master, backup, vrids = self.since, self.master, self.backup, self.vrids
        first = self.first
        for t, src, vrid, prio in adverts:
            if t < since or prio == 0:
                continue
            if src == master:
                if vrid in vrids and vrid not in first:
                    first[vrid] = t
            elif src == backup:
                self.last_backup = t

    def at(self) -> float | None:
        if len(self.first) < len(self.vrids):
            return None
        t = max(self.first.values())
        if self.last_backup is not None:
            t = max(t, self.last_backup)
        return t if self.latest - t >= self.hold else None


class Window:
    """Adverts (priority > 0) of `master` per VRID in the window [t0, t1) and of `backup` in
    [t0, backup_until): counts, and the largest gap between two adverts of one VRID. A gap
    that overlaps the window counts whole (the advert before t0 is its start; with none seen,
    t0); an open one at the end runs to `finish(t_end)`."""

    def __init__(
        self,
        t0: float,
        t1: float,
        vrids: Iterable[int],
        master: str,
        backup: str,
        backup_until: float | None = None,
    ) -> None:
        self.t0, self.t1 = t0, t1
        self.master, self.backup = master, backup
        self.backup_until = t1 if backup_until is None else backup_until
        self.vrids = sorted(set(vrids))
        self.last: dict[int, float] = {}
        self.gap: dict[int, float] = dict.fromkeys(self.vrids, 0.0)
        self.count: dict[int, int] = dict.fromkeys(self.vrids, 0)
        self.backup_adverts = 0
        self.backup_vrids: set[int] = set()
        self.latest = -math.inf
        self.finished = False

    def add(self, adverts: Sequence[Advert]) -> None:
        if not adverts:
            return
        self.latest = max(self.latest, max(a[0] for a in adverts))
        for t, src, v, prio in adverts:
            if prio == 0:
                continue
            if src == self.master and v in self.gap:
                prev = self.last.get(v)
                if t < self.t0:
                    self.last[v] = t
                    continue
                if prev is not None and prev >= self.t1:
                    continue  # this VRID's window is closed
                start = self.t0 if prev is None else prev
                self.gap[v] = max(self.gap[v], t - start)
                if t < self.t1:
                    self.count[v] += 1
                self.last[v] = t
            elif src == self.backup and self.t0 <= t < self.backup_until:
                self.backup_adverts += 1
                self.backup_vrids.add(v)

    def finish(self, t_end: float | None = None) -> None:
        """Close the gaps still open at the window's end: they run to `t_end` (default: the
        last frame seen, at least t1)."""
        end = max(self.t1, self.latest if t_end is None else t_end)
        for v in self.vrids:
            prev = self.last.get(v)
            if prev is None or prev < self.t1:
                start = self.t0 if prev is None else prev
                self.gap[v] = max(self.gap[v], end - start)
        self.finished = True

    @property
    def adverts(self) -> int:
        return sum(self.count.values())

    @property
    def rate(self) -> float:
        return self.adverts / (self.t1 - self.t0)

    def worst(self) -> tuple[int, float]:
        """(VRID, seconds) of the largest gap."""
        v = max(self.vrids, key=lambda x: self.gap[x])
        return v, self.gap[v]

    def silent_vrids(self) -> list[int]:
        return [v for v in self.vrids if self.count[v] == 0]


# --- tcpdump in c1 with a small snap length ---------------------------------------------------


class Sniffer:
    """tcpdump on c1's eth0: the daemons' VRRP frames (not c1's own flood), first SNAPLEN
    bytes, written as they arrive (-U); a large kernel buffer for 25,000 frames a second."""

    def __init__(self, node: Node, name: str) -> None:
        self.node = node
        self.pcap = node.lab.workdir / f"{name}.pcap"
        self.err = node.lab.workdir / f"{name}.tcpdump.log"
        argv = [
            *("tcpdump", "-i", "eth0", "-U", "-n", "-B", "16384"),
            *("-s", str(SNAPLEN), "-w", str(self.pcap)),
            *("ip", "proto", str(IPPROTO_VRRP), "and", "not", "src", "host", C1),
        ]
        with open(self.err, "wb") as e:
            self.proc = node.popen(argv, stdout=subprocess.DEVNULL, stderr=e)
        self.tail = PcapTail(self.pcap)
        self.stats: dict[str, int] = {}
        deadline = time.monotonic() + 15
        while "listening on" not in read_text(self.err):
            if self.proc.poll() is not None:
                raise LabError(f"tcpdump in {node.name} exited: {read_text(self.err).strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"tcpdump in {node.name} did not start")
            time.sleep(0.02)

    def read(self) -> list[Advert]:
        return self.tail.read()

    def stop(self) -> dict[str, int]:
        """Stop tcpdump (by its PID) and return its counters (captured, dropped by kernel)."""
        if self.proc.poll() is None and not stop_child(self.proc, 10):
            kill_child(self.proc)
        self.node.lab._untrack(self.proc)
        text = read_text(self.err)
        for key, pattern in (
            ("captured", r"(\d+) packets? captured"),
            ("received", r"(\d+) packets? received by filter"),
            ("dropped", r"(\d+) packets? dropped by kernel"),
        ):
            m = re.search(pattern, text)
            if m:
                self.stats[key] = int(m[1])
        return self.stats

    def remove(self) -> None:
        self.pcap.unlink(missing_ok=True)


# --- the daemons ------------------------------------------------------------------------------


class Daemon:
    """vrrpd (one process) or keepalived (parent + VRRP child) on one node, as started."""

    def __init__(self, impl: str, node: Node, handle: Vrrpd | Keepalived, log_offset: int) -> None:
        self.impl, self.node, self.handle = impl, node, handle
        self.log_offset = log_offset
        self.wall_offset = time.time() - time.monotonic()

    @property
    def pid(self) -> int:
        return self.handle.pid

    @property
    def started_wall(self) -> float:
        """Wall-clock time right after Popen returned (``ip netns exec`` running)."""
        return self.handle.started + self.wall_offset

    @property
    def alive(self) -> bool:
        return self.handle.alive and bool(process_tree(self.pid))

    def log_text(self) -> str:
        if isinstance(self.handle, Keepalived):
            return self.handle.log_text()
        return read_text(self.handle.log_path, self.log_offset)

    def log_tail(self, lines: int = 10) -> list[str]:
        return self.log_text().splitlines()[-lines:]

    def stop(self) -> None:
        if isinstance(self.handle, Keepalived):
            if self.handle.alive:
                with contextlib.suppress(Exception):
                    self.handle.wait_started(5.0)  # the VRRP child's PID, for a checked stop
                self.handle.stop(timeout=STOP_TIMEOUT)
        elif self.handle.alive:
            self.handle.stop(timeout=STOP_TIMEOUT)


def start_daemon(impl: str, node: Node, n: int, priority: int, interval: float) -> Daemon:
    """`impl` on `node` with VRIDs 1..n at `priority`; an owner (255) vrrpd gets the node's
    own address as VRID 1's VIP."""
    if impl == "vrrpd":
        owner_vip = str(node.ipv4) if priority == OWNER_PRIORITY and node.ipv4 else None
        log = node.lab.workdir / f"{node.name}.log"
        offset = log.stat().st_size if log.exists() else 0
        d = node.start_vrrpd(vrrpd_tables(n, priority, interval, owner_vip))
        return Daemon(impl, node, d, offset)
    ka = start_keepalived(node, keepalived_instances(n, priority, interval), wait=False)
    return Daemon(impl, node, ka, ka.log_offset)


# --- the junk flood ---------------------------------------------------------------------------


def junk_packets(
    vrid: int,
    unconfigured: int | None,
    interval_cs: int,
    seed: int = 9,
    kinds: Sequence[str] = JUNK_KINDS,
) -> list[bytes]:
    """IPv4 packets on protocol 112 from c1 to 224.0.0.18 that no router may act on, 8 of
    each of `kinds`: for `vrid`, ``ttl`` 64 (valid otherwise), a bad ``checksum``,
    ``version`` 2; a valid advert for the ``vrid`` `unconfigured` (None: left out);
    ``random`` bytes (never a v3 advertisement's first byte). Priority 250 (above both
    routers) where they carry one."""
    unknown = set(kinds) - set(JUNK_KINDS)
    if unknown:
        raise ValueError(f"unknown junk kind(s) {sorted(unknown)}; known: {JUNK_KINDS}")
    rng = random.Random(seed)
    out: list[bytes] = []
    addresses = [vip_of(vrid).split("/")[0]]
    for i in range(8):
        common: dict[str, Any] = {"src": C1, "priority": 250 - i, "interval": interval_cs}
        if "ttl" in kinds:
            out.append(craft(vrid=vrid, addresses=addresses, ttl=64, **common))
        if "checksum" in kinds:
            out.append(craft(vrid=vrid, addresses=addresses, checksum="bad", **common))
        if "version" in kinds:
            out.append(
                craft(
                    src=C1,
                    version=2,
                    vrid=vrid,
                    priority=250 - i,
                    interval=max(1, interval_cs // 100),
                    addresses=addresses,
                )
            )
        if "vrid" in kinds and unconfigured is not None:
            out.append(craft(vrid=unconfigured, addresses=["203.0.113.200"], **common))
        message = bytearray(rng.randbytes(rng.randrange(1, 48)))
        if message[0] == 0x31:  # version 3, type 1
            message[0] = 0x21
        if "random" in kinds:
            out.append(ip_packet(bytes(message), src=C1))
    if not out:
        raise ValueError("no junk to send (the only kind was vrid, with no VRID free)")
    return out


def parse_kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = set(kinds) - set(JUNK_KINDS)
    if unknown or not kinds:
        raise ValueError(f"junk kinds: a comma list of {', '.join(JUNK_KINDS)}")
    return kinds


class Batch:
    """Prebuilt frames sent with sendmmsg(2) (vrrpd.io.mmsg) on a bound AF_PACKET socket:
    `send(k)` puts the next k frames of the ring (cycling through `frames`) on the wire, up
    to `size` a call."""

    def __init__(self, sock: socket.socket, frames: Sequence[bytes], size: int = 512) -> None:
        self.sock = sock
        self.size = max(size, len(frames))
        self.ring = [frames[i % len(frames)] for i in range(self.size)]
        self.pos = 0
        self.errors = 0

    def send(self, k: int) -> int:
        """Send up to `k` frames; returns how many went (0 on ENOBUFS and the like)."""
        count = min(k, self.size - self.pos)
        sent, error = send_many(self.sock, self.ring[self.pos : self.pos + count])
        if error is not None:
            self.errors += 1
        self.pos = (self.pos + sent) % self.size
        return sent


class JunkFlood:
    """`frames` from c1 at `rate` per second (split over `threads` senders), each thread on its
    own AF_PACKET socket in c1's namespace, in bursts of what is due every millisecond."""

    def __init__(self, node: Node, packets: Sequence[bytes], rate: float, threads: int = 1) -> None:
        self.rate = rate
        self.senders = [Sender("eth0", netns=node.ns) for _ in range(max(1, threads))]
        frames = [self.senders[0].frame(p) for p in packets]
        self.batches = [Batch(s.sock, frames) for s in self.senders]
        self.counts = [0] * len(self.senders)
        self.t_start = self.t_stop = 0.0  # wall clock
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"flood{i}", daemon=True)
            for i in range(len(self.senders))
        ]
        self.error: BaseException | None = None

    @property
    def sent(self) -> int:
        return sum(self.counts)

    @property
    def achieved(self) -> float:
        span = self.t_stop - self.t_start
        return self.sent / span if span > 0 else math.nan

    def _run(self, i: int) -> None:
        batch = self.batches[i]
        rate = self.rate / len(self.batches)
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - start) * rate) - self.counts[i]
                if due <= 0:
                    time.sleep(0.001)
                    continue
                sent = batch.send(due)
                self.counts[i] += sent
                if sent == 0:
                    time.sleep(0.0002)
        except BaseException as e:  # reported by stop()
            self.error = e

    def start(self) -> None:
        self.t_start = time.time()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self.t_stop = time.time()
        for s in self.senders:
            s.close()
        if self.error is not None:
            raise RuntimeError(f"flood sender failed: {self.error}")

    def close(self) -> None:
        if not self._stop.is_set():
            with contextlib.suppress(Exception):
                if any(t.is_alive() for t in self._threads):
                    self.stop()
                else:
                    for s in self.senders:
                        s.close()


# --- results ----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: str
    n: int
    interval: float
    impl: str
    r2_master_s: float | None = None  # r2 alone: exec -> every VRID advertised
    converge_s: float | None = None  # r1's exec -> r1 the only advertiser (None: failed)
    converge_note: str = ""
    window_s: float = math.nan
    master_cpu_pct: float = math.nan
    backup_cpu_pct: float = math.nan
    master_mem: Memory = field(default_factory=Memory)
    backup_mem: Memory = field(default_factory=Memory)
    adverts: int = 0  # r1's adverts in the window
    tx_rate: float = math.nan
    expected_rate: float = math.nan
    silent_vrids: int = 0  # VRIDs r1 never advertised in the window
    max_gap_intervals: float = math.nan
    max_gap_vrid: int | None = None
    backup_adverts: int = 0  # r2's adverts (priority > 0) in the window: false takeovers
    backup_vrids: list[int] = field(default_factory=list)
    master_us_per_advert: float = math.nan
    backup_us_per_advert: float = math.nan
    capture: dict[str, int] = field(default_factory=dict)
    kernel_tx_rate: float | None = None  # r1's eth0 tx_packets per second in the window
    master_rx_drops: int | None = None  # protocol 112 raw sockets' drops (/proc/net/raw)
    backup_rx_drops: int | None = None
    capture_cpu_pct: float = math.nan  # tcpdump on c1 during the window
    bench_cpu_s: float = math.nan  # this process (reading the capture) during the case
    error: str | None = None


@dataclass
class FloodStep:
    impl: str
    target: float
    sent: int = 0
    achieved: float = math.nan  # frames/s c1 put on the wire
    r1_rx_rate: float | None = None  # frames/s r1's eth0 received
    adverts: int = 0
    expected: float = math.nan
    max_gap_intervals: float = math.nan
    backup_adverts: int = 0
    master_cpu_pct: float = math.nan
    backup_cpu_pct: float = math.nan
    failed: bool = False
    why: str = ""


@dataclass
class FloodResult:
    impl: str
    n: int
    interval: float
    converge_s: float | None = None
    steps: list[FloodStep] = field(default_factory=list)
    verdict: str = ""
    error: str | None = None


@dataclass
class StartupSample:
    impl: str
    n: int
    run: int
    first_ms: float = math.nan  # exec -> first advert
    all_ms: float = math.nan  # exec -> every VRID advertised once
    cpu_ms: float = math.nan  # CPU of the tree until then
    error: str | None = None


# --- the benchmark ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lab = Lab(keep_workdir=args.keep_logs)
        try:
            self.r1 = self.lab.add_router("r1", f"{R1}/24")
            self.r2 = self.lab.add_router("r2", f"{R2}/24")
            self.c1 = self.lab.add_client("c1", f"{C1}/24")
            if args.promote_secondaries:
                for node in (self.r1, self.r2):
                    for key in ("all", "eth0"):
                        node.set_sysctl(f"net.ipv4.conf.{key}.promote_secondaries", 1)
        except BaseException:
            self.lab.close()
            raise
        self.daemons: list[Daemon] = []
        self.sniffers: list[Sniffer] = []
        self.floods: list[JunkFlood] = []
        self.captures = 0

    # housekeeping
    def close(self) -> None:
        for f in self.floods:
            f.close()
        self.stop_daemons()
        self.stop_sniffers()
        with contextlib.suppress(Exception):
            stop_all(self.lab)
        self.lab.close()

    def start(self, impl: str, node: Node, n: int, priority: int, interval: float) -> Daemon:
        d = start_daemon(impl, node, n, priority, interval)
        self.daemons.append(d)
        return d

    def stop_daemons(self) -> None:
        """Stop what runs, in the order started (the backup first: no takeover in between),
        then remove VIPs a daemon left behind (they would confuse the next one)."""
        for d in self.daemons:
            try:
                d.stop()
            except Exception as e:
                say(f"  stopping {d.impl} in {d.node.name}: {type(e).__name__}: {e}")
        self.daemons.clear()
        for node in (self.r1, self.r2):
            with contextlib.suppress(Exception):
                left = [a for a in node.addresses() if a.startswith(("198.51.100.", "203.0.113."))]
                if left:
                    say(f"  {node.name}: {len(left)} VIPs left behind, removing them")
                    for a in left:
                        node.del_address(a)

    def sniff(self, what: str) -> Sniffer:
        self.captures += 1
        s = Sniffer(self.c1, f"c1-{self.captures:03d}-{what}")
        self.sniffers.append(s)
        return s

    def stop_sniffers(self) -> None:
        for s in self.sniffers:
            with contextlib.suppress(Exception):
                s.stop()
        self.sniffers.clear()

    def end_sniffer(self, s: Sniffer) -> dict[str, int]:
        stats = s.stop()
        if s in self.sniffers:
            self.sniffers.remove(s)
        if not self.args.keep_logs:
            s.remove()
        return stats

    def _check_alive(self, *daemons: Daemon) -> None:
        for d in daemons:
            if not d.alive:
                raise RuntimeError(f"{d.impl} in {d.node.name} exited")

    def _report_failure(self, e: BaseException) -> str:
        text = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        say(f"  FAILED: {text}")
        for d in self.daemons:
            say(f"  --- {d.impl} in {d.node.name}, log tail:")
            for line in d.log_tail(8):
                say(f"      {line[:200]}")
        return text

    # r2, then r1: the common start of a case and of the flood
    def _pair(
        self, impl: str, n: int, interval: float, sniffer: Sniffer, cap: float
    ) -> tuple[Daemon, Daemon, float | None, float | None, str]:
        """Start r2 (until it advertises every VRID, at most `cap`), then r1; wait until r1
        is the only advertiser (at most `cap`). Returns (master, backup, r2 master s,
        converge s, note)."""
        vrids = range(1, n + 1)
        note = ""
        backup = self.start(impl, self.r2, n, BACKUP_PRIO, interval)
        alone = Converge(vrids, R2, R1, backup.started_wall, 0.0)
        r2_s = self._wait(alone, sniffer, cap, backup)
        if r2_s is None:
            note = f"r2 advertised {len(alone.first)}/{n} VRIDs in {cap:g}s; "
        else:
            r2_s -= backup.started_wall
        master = self.start(impl, self.r1, n, MASTER_PRIO, interval)
        conv = Converge(vrids, R1, R2, master.started_wall, max(1.0, 2 * interval))
        t = self._wait(conv, sniffer, cap, master, backup)
        if t is None:
            note += f"not converged in {cap:g}s: r1 advertised {len(conv.first)}/{n} VRIDs"
            if conv.last_backup is not None:
                after = conv.last_backup - master.started_wall
                note += f", r2 still advertising {after:.1f}s after r1's exec"
            return master, backup, r2_s, None, note
        return master, backup, r2_s, t - master.started_wall, note

    def _wait(self, conv: Converge, sniffer: Sniffer, cap: float, *daemons: Daemon) -> float | None:
        deadline = time.monotonic() + cap
        while True:
            conv.add(sniffer.read())
            t = conv.at()
            if t is not None:
                return t
            self._check_alive(*daemons)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)

    # one case, one implementation
    def case(self, c: Case, impl: str) -> CaseResult:
        args = self.args
        r = CaseResult(c.label, c.n, c.interval, impl, expected_rate=c.expected_rate)
        sniffer = self.sniff(f"{c.label}-{impl}")
        own0 = time.process_time()
        try:
            master, backup, r.r2_master_s, r.converge_s, r.converge_note = self._pair(
                impl, c.n, c.interval, sniffer, args.converge_cap
            )
            k0 = self._kernel_counters()
            cap0 = tree_cpu_ns(sniffer.proc.pid)
            m0, b0, t0 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid), time.time()
            time.sleep(args.seconds)
            m1, b1, t1 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid), time.time()
            k1 = self._kernel_counters()
            if k0[0] is not None and k1[0] is not None:
                r.kernel_tx_rate = (k1[0] - k0[0]) / (k1[3] - k0[3])
            if k0[1] is not None and k1[1] is not None:
                r.master_rx_drops = k1[1] - k0[1]
            if k0[2] is not None and k1[2] is not None:
                r.backup_rx_drops = k1[2] - k0[2]
            r.capture_cpu_pct = (tree_cpu_ns(sniffer.proc.pid) - cap0) / 1e9 / (t1 - t0) * 100
            r.master_mem, r.backup_mem = tree_memory(master.pid), tree_memory(backup.pid)
            self._check_alive(master, backup)
            # the adverts that end the window's last gaps; tcpdump hands frames over in
            # blocks, up to 1 s late
            time.sleep(max(1.5, 3 * c.interval))
            win = Window(t0, t1, range(1, c.n + 1), R1, R2)
            win.add(sniffer.read())
            win.finish()
            self.stop_daemons()
            r.capture = self.end_sniffer(sniffer)
            r.window_s = t1 - t0
            r.master_cpu_pct = (m1 - m0) / 1e9 / r.window_s * 100
            r.backup_cpu_pct = (b1 - b0) / 1e9 / r.window_s * 100
            r.adverts = win.adverts
            r.tx_rate = win.rate
            r.silent_vrids = len(win.silent_vrids())
            vrid, gap = win.worst()
            r.max_gap_intervals, r.max_gap_vrid = gap / c.interval, vrid
            r.backup_adverts = win.backup_adverts
            r.backup_vrids = sorted(win.backup_vrids)
            if win.adverts:
                r.master_us_per_advert = (m1 - m0) / 1e3 / win.adverts
                r.backup_us_per_advert = (b1 - b0) / 1e3 / win.adverts
        except Exception as e:
            r.error = self._report_failure(e)
        finally:
            r.bench_cpu_s = time.process_time() - own0
            self.stop_daemons()
            if sniffer in self.sniffers:
                with contextlib.suppress(Exception):
                    r.capture = self.end_sniffer(sniffer)
        return r

    def _kernel_counters(self) -> tuple[int | None, int | None, int | None, float]:
        """(r1's eth0 tx_packets, drops of r1's and of r2's protocol 112 raw sockets, when)."""
        return (
            _counter(self.r1, "tx_packets"),
            raw_drops(self.r1),
            raw_drops(self.r2),
            time.time(),
        )

    # the flood
    def _rx_packets(self, node: Node) -> int | None:
        return _counter(node, "rx_packets")

    def flood(self, res: FloodResult) -> None:
        """The flood for `res.impl`, filling `res` as it goes (kept on Ctrl-C)."""
        args = self.args
        impl, n, interval = res.impl, res.n, res.interval
        unconfigured = 200 if n < 200 else (n + 1 if n < 255 else None)
        packets = junk_packets(1, unconfigured, round(interval * 100), kinds=args.flood_kinds)
        sniffer = self.sniff(f"flood-{impl}")
        frames: list[Advert] = []
        try:
            master, backup, _r2, res.converge_s, note = self._pair(
                impl, n, interval, sniffer, args.converge_cap
            )
            if res.converge_s is None:
                raise RuntimeError(note)
            time.sleep(1.0)
            for rate in args.flood_rates:
                step = FloodStep(impl, rate)
                say(f"  {impl}: flood {rate:.0f}/s ...")
                rx0 = self._rx_packets(self.r1)
                flood = JunkFlood(self.c1, packets, rate, args.flood_threads)
                self.floods.append(flood)
                m0, b0 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid)
                flood.start()
                try:
                    time.sleep(args.flood_step)
                finally:
                    flood.stop()
                    self.floods.remove(flood)
                m1, b1 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid)
                rx1 = self._rx_packets(self.r1)
                t0, t1 = flood.t_start, flood.t_stop
                span = t1 - t0
                step.sent, step.achieved = flood.sent, flood.achieved
                if rx0 is not None and rx1 is not None:
                    step.r1_rx_rate = (rx1 - rx0) / span
                step.master_cpu_pct = (m1 - m0) / 1e9 / span * 100
                step.backup_cpu_pct = (b1 - b0) / 1e9 / span * 100
                step.expected = span / interval * n
                tail = max(0.5, 3 * interval)
                # a takeover right at the end, the adverts after t1 (handed over up to 1 s late)
                time.sleep(tail + 1.2)
                frames += sniffer.read()
                win = Window(t0, t1, range(1, n + 1), R1, R2, backup_until=t1 + tail)
                win.add(frames)
                win.finish()
                step.adverts = win.adverts
                step.max_gap_intervals = win.worst()[1] / interval
                step.backup_adverts = win.backup_adverts
                why = []
                if step.max_gap_intervals > GAP_LIMIT:
                    why.append(f"master gap {step.max_gap_intervals:.1f} intervals")
                if step.backup_adverts:
                    why.append(f"r2 sent {step.backup_adverts} adverts (takeover)")
                if not master.alive or not backup.alive:
                    why.append("a daemon exited")
                step.failed, step.why = bool(why), "; ".join(why)
                res.steps.append(step)
                say(
                    f"    sent {step.achieved:.0f}/s, r1 received "
                    f"{_fmt(step.r1_rx_rate, 0)}/s, gap {step.max_gap_intervals:.2f} intervals, "
                    f"r2 adverts {step.backup_adverts}, CPU master {step.master_cpu_pct:.0f} % "
                    f"backup {step.backup_cpu_pct:.0f} %" + (f": FAIL ({step.why})" if why else "")
                )
                if step.failed:
                    break
                time.sleep(1.0)
            res.verdict = flood_verdict(res.steps)
        except Exception as e:
            res.error = self._report_failure(e)
            res.verdict = f"error: {res.error}"
        except KeyboardInterrupt:
            res.verdict = "interrupted; " + flood_verdict(res.steps)
            raise
        finally:
            self.stop_daemons()
            if sniffer in self.sniffers:
                with contextlib.suppress(Exception):
                    self.end_sniffer(sniffer)

    # start-up
    def startup(self, impl: str, n: int, run: int) -> StartupSample:
        s = StartupSample(impl, n, run)
        sniffer = self.sniff(f"startup-{impl}-{n}-{run}")
        try:
            d = self.start(impl, self.r1, n, OWNER_PRIORITY, 1.0)
            t_exec = d.started_wall
            first: float | None = None
            seen: set[int] = set()
            deadline = time.monotonic() + STARTUP_CAP
            while len(seen) < n:
                for t, src, vrid, prio in sniffer.read():
                    if src == R1 and prio > 0 and 1 <= vrid <= n:
                        first = t if first is None else first
                        if vrid not in seen:
                            seen.add(vrid)
                            if len(seen) == n:
                                s.all_ms = (t - t_exec) * 1e3
                                break
                if len(seen) == n:
                    break
                self._check_alive(d)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(seen)}/{n} VRIDs advertised after {STARTUP_CAP}s")
                time.sleep(0.002)
            s.cpu_ms = tree_cpu_ns(d.pid) / 1e6
            assert first is not None
            s.first_ms = (first - t_exec) * 1e3
        except Exception as e:
            s.error = self._report_failure(e)
        finally:
            self.stop_daemons()
            if sniffer in self.sniffers:
                with contextlib.suppress(Exception):
                    self.end_sniffer(sniffer)
        return s


def _counter(node: Node, name: str) -> int | None:
    """/sys/class/net/eth0/statistics/NAME in `node`'s namespace."""
    cp = node.run(["cat", f"/sys/class/net/eth0/statistics/{name}"], check=False)
    text = cp.stdout.strip()
    return int(text) if cp.returncode == 0 and text.isdigit() else None


def parse_raw_drops(text: str, proto: int = IPPROTO_VRRP) -> int | None:
    """The summed ``drops`` column of /proc/net/raw lines of sockets bound to protocol
    `proto` (the local "port" field), None if there is none."""
    total: int | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 13 or ":" not in fields[1]:
            continue
        if int(fields[1].rsplit(":", 1)[1], 16) != proto or not fields[-1].isdigit():
            continue
        total = (total or 0) + int(fields[-1])
    return total


def raw_drops(node: Node) -> int | None:
    cp = node.run(["cat", "/proc/net/raw"], check=False)
    return parse_raw_drops(cp.stdout) if cp.returncode == 0 else None


def flood_verdict(steps: Sequence[FloodStep]) -> str:
    """The first failed step ("fails at X/s: why"), else "held up to Y/s"."""
    for st in steps:
        if st.failed:
            return f"fails at {st.target:.0f}/s (sent {st.achieved:.0f}/s): {st.why}"
    if not steps:
        return "no step run"
    top = steps[-1]
    return f"held up to {top.target:.0f}/s (sent {top.achieved:.0f}/s)"


# --- tables (pure) ----------------------------------------------------------------------------


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _num(x: float | None) -> str:
    """Three significant-ish digits: 0.123, 1.23, 12.3, 123."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _int(x: int | None) -> str:
    return "-" if x is None else str(x)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def render(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """Rows of cells as aligned text; `right[i]`: column i right-aligned. Row 0 is the
    header, underlined."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [
            c.rjust(w) if right[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def case_table(results: Sequence[CaseResult]) -> str:
    head = [
        "case", "impl", "conv s", "M cpu%", "B cpu%", "M ratio", "B ratio",
        "M RSS/PSS MiB", "M us/adv", "B us/adv", "takeovers", "tx/s (expected)", "kern tx/s",
        "rx drops M/B", "max gap",
    ]  # fmt: skip
    rows = [head]
    by = {(r.case, r.impl): r for r in results}
    for r in results:
        other = by.get((r.case, "keepalived")) if r.impl == "vrrpd" else None
        if r.error:
            rows.append([r.case, r.impl, "ERROR", r.error[:60], *[""] * (len(head) - 4)])
            continue
        conv = _fmt(r.converge_s, 2) if r.converge_s is not None else "FAIL"
        take = str(r.backup_adverts)
        if r.backup_adverts:
            take += f" ({len(r.backup_vrids)} VRIDs)"
        gap = _num(r.max_gap_intervals)
        if r.silent_vrids:
            gap += f" ({r.silent_vrids} silent)"
        if r.capture.get("dropped"):
            gap += " *"
        rows.append(
            [
                r.case,
                r.impl,
                conv,
                _num(r.master_cpu_pct),
                _num(r.backup_cpu_pct),
                _ratio(r.master_cpu_pct, other.master_cpu_pct) if other else "",
                _ratio(r.backup_cpu_pct, other.backup_cpu_pct) if other else "",
                f"{r.master_mem.rss_kib / 1024:.1f}/{r.master_mem.pss_kib / 1024:.1f}",
                _num(r.master_us_per_advert),
                _num(r.backup_us_per_advert),
                take,
                f"{r.tx_rate:.0f} ({r.expected_rate:.0f})" if math.isfinite(r.tx_rate) else "-",
                _fmt(r.kernel_tx_rate, 0),
                f"{_int(r.master_rx_drops)}/{_int(r.backup_rx_drops)}",
                gap,
            ]
        )
    text = render(rows, [False, False] + [True] * (len(head) - 2))
    notes = [
        "M/B: master r1 / backup r2 process trees; cpu%: of one core; ratio: vrrpd/keepalived;",
        "us/adv: CPU per advert sent (M) / received (B); takeovers: adverts from r2 in the",
        "window; tx/s: r1's adverts seen on c1; kern tx/s: r1's eth0 tx_packets; rx drops:",
        "receive drops of the protocol 112 raw sockets of r1/r2 (/proc/net/raw) in the window;",
        "max gap: largest gap between two adverts of one VRID, in intervals (* the capture",
        "dropped frames); conv FAIL: not converged within the cap.",
    ]
    for r in results:
        if r.converge_note:
            notes.append(f"{r.case} {r.impl}: {r.converge_note}")
    return text + "\n" + "\n".join(notes)


def flood_table(results: Sequence[FloodResult]) -> str:
    head = [
        "impl", "target/s", "sent/s", "r1 rx/s", "adverts", "max gap", "r2 adverts",
        "M cpu%", "B cpu%", "result",
    ]  # fmt: skip
    rows = [head]
    for res in results:
        for st in res.steps:
            rows.append(
                [
                    res.impl,
                    f"{st.target:.0f}",
                    _fmt(st.achieved, 0),
                    _fmt(st.r1_rx_rate, 0),
                    f"{st.adverts}/{st.expected:.0f}",
                    _num(st.max_gap_intervals),
                    str(st.backup_adverts),
                    _num(st.master_cpu_pct),
                    _num(st.backup_cpu_pct),
                    f"FAIL: {st.why}" if st.failed else "ok",
                ]
            )
    text = render(rows, [False] + [True] * 8 + [False]) if len(rows) > 1 else "(no flood step)"
    lines = [text]
    for res in results:
        lines.append(f"{res.impl}: {res.verdict}")
    return "\n".join(lines)


def startup_summary(samples: Sequence[StartupSample]) -> list[dict[str, Any]]:
    out = []
    for n in sorted({s.n for s in samples}):
        for impl in IMPLS:
            ok = [s for s in samples if s.n == n and s.impl == impl and s.error is None]
            row: dict[str, Any] = {"n": n, "impl": impl, "runs": len(ok)}
            for key in ("first_ms", "all_ms", "cpu_ms"):
                xs = [getattr(s, key) for s in ok if math.isfinite(getattr(s, key))]
                row[key] = (
                    {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}
                    if xs
                    else None
                )
            out.append(row)
    return out


def startup_table(summary: Sequence[dict[str, Any]]) -> str:
    def cell(st: dict[str, float] | None) -> str:
        return "-" if st is None else f"{_num(st['median'])} [{_num(st['min'])}-{_num(st['max'])}]"

    def med(row: dict[str, Any] | None, key: str) -> float | None:
        return None if row is None or row[key] is None else float(row[key]["median"])

    head = ["N", "impl", "runs", "first advert ms", "all VRIDs ms", "CPU ms", "ratio first/all"]
    rows = [head]
    by = {(r["n"], r["impl"]): r for r in summary}
    for r in summary:
        other = by.get((r["n"], "keepalived")) if r["impl"] == "vrrpd" else None
        ratio = ""
        if other is not None:
            ratio = (
                f"{_ratio(med(r, 'first_ms'), med(other, 'first_ms'))}/"
                f"{_ratio(med(r, 'all_ms'), med(other, 'all_ms'))}"
            )
        rows.append(
            [
                str(r["n"]),
                r["impl"],
                str(r["runs"]),
                cell(r["first_ms"]),
                cell(r["all_ms"]),
                cell(r["cpu_ms"]),
                ratio,
            ]
        )
    return render(rows, [True, False, True, True, True, True, True])


# --- main -------------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _typed(parse: Any) -> Any:
    def conv(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return conv


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tools/scale_bench.py",
        description="Many virtual routers: vrrpd against keepalived (CPU, memory, convergence, "
        "cadence, junk flood, start-up).",
    )
    ap.add_argument("--cases", type=_typed(parse_cases), help=f"NxI list ({DEFAULT_CASES})")
    ap.add_argument("--seconds", type=_positive, help="steady window per case, s (10)")
    ap.add_argument("--converge-cap", type=_positive, help="s to wait for convergence (120)")
    ap.add_argument("--flood-n", type=int, default=1, help="VRIDs during the flood (1)")
    ap.add_argument("--flood-interval", type=interval_arg, default=0.1, help="s (0.1)")
    ap.add_argument("--flood-rates", type=_typed(parse_rates), help=f"({DEFAULT_FLOOD_RATES})")
    ap.add_argument("--flood-step", type=_positive, default=5.0, help="s per rate (5)")
    ap.add_argument(
        "--flood-kinds",
        type=_typed(parse_kinds),
        default=list(JUNK_KINDS),
        help=f"junk sent, in equal parts ({','.join(JUNK_KINDS)})",
    )
    ap.add_argument("--flood-threads", type=int, default=1, help="sender threads (1)")
    ap.add_argument(
        "--no-promote-secondaries",
        dest="promote_secondaries",
        action="store_false",
        help="leave net.ipv4.conf.*.promote_secondaries at 0 on r1/r2: removing the first VIP "
        "of 198.51.100.0/24 (the primary) then deletes every other VIP in it",
    )
    ap.add_argument("--startup-runs", type=int, help="repetitions of the start-up (5)")
    ap.add_argument(
        "--skip", default="", help="comma list of parts to leave out: cases,flood,startup"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"cases {QUICK_CASES}, 5 s windows, cap 60 s, flood {QUICK_FLOOD_RATES}, 3 start-ups",
    )
    ap.add_argument("--json", action="store_true", help="print the JSON document, not tables")
    ap.add_argument("--save", type=Path, help="also write the JSON document to this file")
    ap.add_argument("--keep-logs", action="store_true", help="keep configs, logs, captures")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    quick = args.quick
    if args.cases is None:
        args.cases = parse_cases(QUICK_CASES if quick else DEFAULT_CASES)
    if args.seconds is None:
        args.seconds = 5.0 if quick else 10.0
    if args.converge_cap is None:
        args.converge_cap = 60.0 if quick else 120.0
    if args.flood_rates is None:
        args.flood_rates = parse_rates(QUICK_FLOOD_RATES if quick else DEFAULT_FLOOD_RATES)
    if args.startup_runs is None:
        args.startup_runs = 3 if quick else 5
    if not 1 <= args.flood_n <= 255:
        ap.error("--flood-n: must be 1..255")
    if args.startup_runs < 0 or args.flood_threads < 1:
        ap.error("--startup-runs >= 0, --flood-threads >= 1")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - {"cases", "flood", "startup"}:
        ap.error(f"--skip: unknown part(s) {sorted(skip - {'cases', 'flood', 'startup'})}")
    if not can_run("scale_bench"):
        return 1

    cases: list[CaseResult] = []
    floods: list[FloodResult] = []
    starts: list[StartupSample] = []
    interrupted = False
    t_begin = time.monotonic()
    say(f"building the lab (load average {os.getloadavg()[0]:.2f}) ...")
    bench = Bench(args)
    say(f"lab {bench.lab.prefix}, work directory {bench.lab.workdir}")
    try:
        if "cases" not in skip:
            for i, c in enumerate(args.cases):
                order = IMPLS if i % 2 == 0 else tuple(reversed(IMPLS))
                for impl in order:
                    say(f"case {c.label} ({c.expected_rate:.0f} adverts/s): {impl} ...")
                    r = bench.case(c, impl)
                    cases.append(r)
                    if r.error is None:
                        say(
                            f"  converge {_fmt(r.converge_s, 2)} s, CPU master "
                            f"{r.master_cpu_pct:.1f} % backup {r.backup_cpu_pct:.1f} %, tx "
                            f"{r.tx_rate:.0f}/{r.expected_rate:.0f}/s, max gap "
                            f"{r.max_gap_intervals:.2f}, r2 adverts {r.backup_adverts}"
                            + (f"; {r.converge_note}" if r.converge_note else "")
                        )
        if "flood" not in skip:
            for impl in IMPLS:
                say(f"flood ({args.flood_n} VRID(s) at {args.flood_interval:g} s): {impl} ...")
                res = FloodResult(impl, args.flood_n, args.flood_interval)
                floods.append(res)
                bench.flood(res)
                say(f"  {impl}: {res.verdict}")
        if "startup" not in skip:
            for run in range(1, args.startup_runs + 1):
                for n in STARTUP_NS:
                    order = IMPLS if run % 2 else tuple(reversed(IMPLS))
                    for impl in order:
                        s = bench.startup(impl, n, run)
                        starts.append(s)
                        if s.error is None:
                            say(
                                f"start-up {run} N={n} {impl}: first advert {s.first_ms:.0f} ms,"
                                f" all {s.all_ms:.0f} ms, CPU {s.cpu_ms:.0f} ms"
                            )
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: cleaning up; results so far:")
    finally:
        if args.keep_logs:
            say(f"logs kept in {bench.lab.workdir}")
        bench.close()
    elapsed = time.monotonic() - t_begin
    say(f"done in {elapsed / 60:.1f} min")

    summary = startup_summary(starts)
    doc = {
        "cases": [asdict(r) for r in cases],
        "flood": [asdict(f) for f in floods],
        "startup": [asdict(s) for s in starts],
        "startup_summary": summary,
        "elapsed_s": elapsed,
        "args": {
            k: (str(v) if isinstance(v, Path) else [asdict(x) for x in v] if k == "cases" else v)
            for k, v in vars(args).items()
        },
    }
    text = json.dumps(_finite(doc), indent=1)
    if args.save is not None:
        args.save.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        if cases:
            print(case_table(cases))
        if floods:
            print()
            print(
                f"junk flood: {args.flood_n} VRID(s) at {args.flood_interval:g} s, "
                f"{args.flood_step:g} s per rate; junk in equal parts: "
                f"{', '.join(args.flood_kinds)};\nfail = master gap > "
                f"{GAP_LIMIT:g} intervals or an advert from r2"
            )
            print(flood_table(floods))
        if starts:
            print()
            print("start-up: r1 alone, priority 255, interval 1 s; median [min-max]")
            print(startup_table(summary))
    if interrupted:
        return 130
    errors = any(r.error for r in cases) or any(f.error for f in floods)
    return 1 if errors or any(s.error for s in starts) else 0


if __name__ == "__main__":
    sys.exit(main())
