#!/usr/bin/env python3
"""Resource benchmark: vrrpd against keepalived 2.2.7, in one run on one lab, with ratios.

    python tools/resource_bench.py [--runs 3] [--interval 0.01] [--seconds 10]
                                   [--flood-rate 2000] [--flood-seconds 5] [--profile 10]
                                   [--json] [--keep-logs]

One lab for the whole run: routers r1 (192.0.2.1) and r2 (192.0.2.2) and a client c1
(192.0.2.100) on one bridge. Each run measures vrrpd and then keepalived (the order alternates
from run to run, so a drift of the shared machine does not favour one), always on the same
nodes, one implementation at a time (never both at once: they would compete for the CPUs):

* pair: r2 (priority 100) is started, then r1 (priority 200), VRID 51, 192.0.2.254/24, VRRPv3,
  `--interval` (default 0.01 s; keepalived: ``advert_int 0.01`` with ``vrrp_version 3``).
  Once r1 is master and r2 backup and `--warmup` seconds have passed, a `--seconds` window:
  CPU time of each daemon's process tree (keepalived: the parent and its VRRP child) over the
  adverts r1 sent in the window, counted in a capture on c1 (every advert r1 sends is one r2
  receives: one bridge, no loss). Reported as microseconds of CPU per advertisement sent
  (master) and received (backup), and CPU % of one core.
* memory: RSS, PSS and USS (private) of the master's process tree, from
  /proc/PID/smaps_rollup, summed over the tree (keepalived's parent and child share pages
  after fork: PSS is the fair sum, RSS counts shared pages twice).
* flood: right after, c1 sends invalid advertisements (VRID 51, priority 250, bad checksum,
  multicast: both routers receive them) at `--flood-rate` per second for `--flood-seconds`.
  Does the master keep its cadence (adverts sent / expected, largest gap between two), does
  the backup stay quiet, CPU % under the flood and the extra CPU per flood packet (the flood
  window's CPU minus the steady window's rate). keepalived logs a line per rejected packet
  (console logging into a file, as netns_lab runs it); vrrpd counts them.
* start-up: the pair is stopped; r1 starts alone as the priority 255 owner, interval 1 s.
  From exec (the moment ``Popen`` returned: ``ip netns exec`` has started) to the first
  advertisement on the wire (capture on c1), to "ready" (the daemon's log says it is master,
  polled every 2 ms), and the CPU time the process tree used up to then. vrrpd: the VIP is
  r1's own address (RFC 5798 owner). keepalived: ``state MASTER``, priority 255 and VIP
  192.0.2.254/24 (keepalived removes its configured VIPs at start, so it cannot be given the
  interface's own address; with ``state BACKUP`` it would wait Master_Down_Interval first).

CPU time is the kernel's per-process CPU clock (``clock_gettime`` on the clock of another
process: nanoseconds, all threads, also ones that have exited), summed over the process tree
found through /proc/*/stat. `--profile N` then runs the vrrpd pair once more and samples the
master and the backup for N seconds each with py-spy (``pip install py-spy``), printing the
functions where vrrpd's time goes.

Figures are for reading, not asserting: the machine is shared; ratios (vrrpd / keepalived,
medians of the same run) mean more than absolute times. Needs root; everything is removed at
the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netns_lab.craft import Sender, craft
from netns_lab.failover import VRID, interval_arg, virtual_router
from netns_lab.keepalived import Keepalived, start_keepalived, stop_all
from netns_lab.lab import Capture, ControlError, Lab, Node, Vrrpd, read_text
from vrrpd.types import IPPROTO_VRRP, OWNER_PRIORITY

VIP = "192.0.2.254/24"
R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"
MASTER_PRIO, BACKUP_PRIO = 200, 100
IMPLS = ("vrrpd", "keepalived")
KA_NAME, VR_NAME = "VI_1", "gw"
CONVERGE = 30.0  # seconds: generous on a loaded 2-core machine


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- /proc: process trees, CPU clocks, memory -----------------------------------------------


def _ppids() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/*/stat)."""
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        out[int(entry.name)] = int(fields[1])
    return out


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    parents = _ppids()
    if root not in parents:
        return []
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


def _cpu_clock(pid: int) -> int:
    """The kernel's CPU clock id of process `pid` (MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED),
    what glibc's clock_getcpuclockid returns)."""
    return ((~pid) << 3) | 2


def cpu_ns(pid: int) -> int:
    """CPU time (user + system, every thread, exited ones too) of `pid` in nanoseconds; 0 if
    it is gone. Falls back to the sum of /proc/PID/task/*/schedstat."""
    try:
        return time.clock_gettime_ns(_cpu_clock(pid))
    except OSError:
        pass
    total = 0
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(task.path, "schedstat").read_text().split()[0])
    return total


def tree_cpu_ns(root: int) -> int:
    return sum(cpu_ns(p) for p in process_tree(root))


@dataclass
class Memory:
    rss_kib: int = 0
    pss_kib: int = 0
    uss_kib: int = 0  # Private_Clean + Private_Dirty
    processes: int = 0


def tree_memory(root: int) -> Memory:
    """RSS, PSS and USS summed over the tree of `root` (/proc/PID/smaps_rollup)."""
    m = Memory()
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        values: dict[str, int] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                values[parts[0][:-1]] = int(parts[1])
        m.rss_kib += values.get("Rss", 0)
        m.pss_kib += values.get("Pss", 0)
        m.uss_kib += values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
        m.processes += 1
    return m


# --- a capture file: VRRP frames with their times ---------------------------------------------


@dataclass(frozen=True)
class Frame:
    t: float  # wall clock (the capture's kernel timestamp)
    src: str
    vrid: int
    priority: int


def pcap_header(data: bytes, path: Path) -> tuple[struct.Struct, float]:
    """A pcap file's record header layout and time-stamp unit, from its first 24 bytes
    (Ethernet link type only)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {magic.hex()})")
    frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet (1)")
    return struct.Struct(endian + "IIII"), frac


def read_vrrp_frames(path: Path) -> list[Frame]:
    """The IPv4 VRRP frames of a pcap file (Ethernet link type), a cut-off last record left
    out. A few lines of struct instead of scapy: a run holds thousands of frames."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    if len(data) < 24:
        return []
    rec, frac = pcap_header(data, path)
    out: list[Frame] = []
    pos = 24
    while pos + 16 <= len(data):
        sec, sub, incl, _orig = rec.unpack_from(data, pos)
        body = data[pos + 16 : pos + 16 + incl]
        if len(body) < incl:
            break
        pos += 16 + incl
        if len(body) < 14 + 20 or body[12:14] != b"\x08\x00" or body[14 + 9] != IPPROTO_VRRP:
            continue
        ihl = (body[14] & 0x0F) * 4
        vrrp = 14 + ihl
        if len(body) < vrrp + 3:
            continue
        src = socket.inet_ntoa(body[14 + 12 : 14 + 16])
        out.append(Frame(sec + sub * frac, src, body[vrrp + 1], body[vrrp + 2]))
    return out


def between(frames: Sequence[Frame], src: str, t0: float, t1: float) -> list[Frame]:
    """Adverts (priority > 0) of VRID 51 from `src` captured in [t0, t1)."""
    return [
        f for f in frames if f.src == src and f.vrid == VRID and f.priority > 0 and t0 <= f.t < t1
    ]


def gaps(frames: Sequence[Frame]) -> list[float]:
    return [b.t - a.t for a, b in itertools.pairwise(frames)]


# --- the two daemons behind one face ----------------------------------------------------------


class Daemon:
    """A running vrrpd or keepalived on one node: its PID (the root of its process tree),
    its state, its log since it started, stop."""

    impl = ""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def pid(self) -> int:
        raise NotImplementedError

    @property
    def started(self) -> float:
        """time.monotonic() right after Popen returned (``ip netns exec`` is running)."""
        raise NotImplementedError

    def log_text(self) -> str:
        raise NotImplementedError

    def wait_state(self, state: str, timeout: float) -> None:
        raise NotImplementedError

    def master_line(self) -> re.Pattern[str]:
        """The log line that says the virtual router is master."""
        raise NotImplementedError

    def flood_seen(self) -> int | None:
        """How many invalid (bad checksum) adverts the daemon says it rejected, or None."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class VrrpdDaemon(Daemon):
    impl = "vrrpd"

    def __init__(self, node: Node, table: dict[str, Any]) -> None:
        super().__init__(node)
        log = node.lab.workdir / f"{node.name}.log"
        self.log_offset = log.stat().st_size if log.exists() else 0
        self.d: Vrrpd = node.start_vrrpd([table])

    @property
    def pid(self) -> int:
        return self.d.pid

    @property
    def started(self) -> float:
        return self.d.started

    def log_text(self) -> str:
        return read_text(self.d.log_path, self.log_offset)

    def wait_state(self, state: str, timeout: float) -> None:
        self.d.wait_state(VR_NAME, state, timeout)

    def master_line(self) -> re.Pattern[str]:
        return re.compile(rf"{VR_NAME}: state \S+ -> MASTER")

    def flood_seen(self) -> int | None:
        try:
            return int(self.d.counters(VR_NAME).get("discard_checksum", 0))
        except (ControlError, KeyError, OSError):
            return None

    def stop(self) -> None:
        if self.d.alive:
            self.d.stop()


class KeepalivedDaemon(Daemon):
    impl = "keepalived"

    def __init__(self, node: Node, instance: dict[str, Any]) -> None:
        super().__init__(node)
        self.ka: Keepalived = start_keepalived(node, [instance], wait=False)

    @property
    def pid(self) -> int:
        return self.ka.pid

    @property
    def started(self) -> float:
        return self.ka.started

    def log_text(self) -> str:
        return self.ka.log_text()

    def wait_state(self, state: str, timeout: float) -> None:
        self.ka.wait_started(timeout)
        self.ka.wait_state(KA_NAME, state, timeout)

    def master_line(self) -> re.Pattern[str]:
        return re.compile(rf"\({KA_NAME}\) Entering MASTER STATE")

    def flood_seen(self) -> int | None:
        return sum(1 for line in self.ka.log_lines() if "Invalid VRRPv3 checksum" in line)

    def stop(self) -> None:
        if self.ka.alive:
            self.ka.stop()


def start(impl: str, node: Node, priority: int, interval: float, vip: str) -> Daemon:
    """Start `impl` on `node`: one virtual router, VRID 51, VRRPv3, multicast."""
    if impl == "vrrpd":
        table = virtual_router(priority, interval) | {"virtual_ips": [vip]}
        return VrrpdDaemon(node, table)
    instance: dict[str, Any] = {
        "name": KA_NAME,
        "interface": "eth0",
        "virtual_router_id": VRID,
        "priority": priority,
        "advert_int": interval,
        "virtual_ipaddress": [vip],
    }
    if priority == OWNER_PRIORITY:
        instance["state"] = "MASTER"
    return KeepalivedDaemon(node, instance)


# --- the flood --------------------------------------------------------------------------------


class Flood:
    """Invalid adverts (bad checksum, VRID 51, priority 250) from c1 at `rate` per second,
    sent by a thread of this process on an AF_PACKET socket in c1's namespace."""

    def __init__(self, node: Node, rate: float, interval: float) -> None:
        self.rate = rate
        packet = craft(
            src=C1,
            vrid=VRID,
            priority=250,
            interval=round(interval * 100),
            addresses=[VIP.split("/")[0]],
            checksum="bad",
        )
        self.sender = Sender("eth0", netns=node.ns)
        self.frame = self.sender.frame(packet)
        self.sent = 0
        self.t_start = self.t_stop = 0.0  # wall clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flood", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        sock = self.sender.sock
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - start) * self.rate)
                while self.sent < due:
                    sock.send(self.frame)
                    self.sent += 1
                time.sleep(0.001)
        except BaseException as e:  # reported by stop()
            self.error = e

    def start(self) -> None:
        self.t_start = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.t_stop = time.time()
        self.sender.close()
        if self.error is not None:
            raise RuntimeError(f"flood sender failed: {self.error}")


# --- one measurement of one implementation ----------------------------------------------------


@dataclass
class Sample:
    impl: str
    run: int
    # steady state, master r1 and backup r2
    window: float = math.nan
    adverts: int = 0
    adverts_per_s: float = math.nan
    backup_adverts: int = 0  # adverts from r2 in the window: should be 0
    master_us_per_advert: float = math.nan
    backup_us_per_advert: float = math.nan
    master_cpu_pct: float = math.nan
    backup_cpu_pct: float = math.nan
    master_mem: Memory = field(default_factory=Memory)
    backup_mem: Memory = field(default_factory=Memory)
    # flood
    flood_sent: int = 0
    flood_rate: float = math.nan
    flood_seen_by_master: int | None = None
    flood_adverts: int = 0
    flood_expected: float = math.nan
    flood_max_gap_ms: float = math.nan
    flood_backup_adverts: int = 0
    flood_master_cpu_pct: float = math.nan
    flood_backup_cpu_pct: float = math.nan
    flood_master_extra_us_per_packet: float = math.nan
    flood_backup_extra_us_per_packet: float = math.nan
    # start-up as the owner
    startup_first_advert_ms: float = math.nan
    startup_ready_ms: float = math.nan
    startup_cpu_ms: float = math.nan
    error: str | None = None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.interval: float = args.interval
        self.lab = Lab(keep_workdir=args.keep_logs)
        try:
            self.r1 = self.lab.add_router("r1", f"{R1}/24")
            self.r2 = self.lab.add_router("r2", f"{R2}/24")
            self.c1 = self.lab.add_client("c1", f"{C1}/24")
        except BaseException:
            self.lab.close()
            raise
        self.daemons: list[Daemon] = []

    def close(self) -> None:
        self.stop_daemons()
        with contextlib.suppress(Exception):
            stop_all(self.lab)
        self.lab.close()

    def stop_daemons(self) -> None:
        """Stop what runs in the order started: the backup before the master (no takeover
        in between)."""
        for d in self.daemons:
            try:
                d.stop()
            except Exception as e:
                say(f"  stopping {d.impl} in {d.node.name}: {e}")
        self.daemons.clear()

    def capture(self) -> Capture:
        # The daemons' adverts only (the flood comes from c1 itself).
        return self.c1.capture(f"ip proto {IPPROTO_VRRP} and not src host {C1}")

    def measure(self, impl: str, run: int) -> Sample:
        s = Sample(impl=impl, run=run)
        try:
            self._pair(impl, s)
            self.stop_daemons()
            self._startup(impl, s)
        except Exception as e:
            s.error = f"{type(e).__name__}: {e}"
            for d in self.daemons:
                say(f"  --- {d.impl} in {d.node.name}, log tail:")
                for line in d.log_text().splitlines()[-10:]:
                    say(f"      {line}")
        finally:
            self.stop_daemons()
        return s

    def _pair(self, impl: str, s: Sample) -> None:
        args = self.args
        backup = start(impl, self.r2, BACKUP_PRIO, self.interval, VIP)
        self.daemons.append(backup)
        master = start(impl, self.r1, MASTER_PRIO, self.interval, VIP)
        self.daemons.append(master)
        master.wait_state("MASTER", CONVERGE)
        backup.wait_state("BACKUP", CONVERGE)
        cap = self.capture()
        try:
            time.sleep(args.warmup)
            flood_seen0 = master.flood_seen()
            # steady window
            m0, b0, t0 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid), time.time()
            time.sleep(args.seconds)
            m1, b1, t1 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid), time.time()
            s.master_mem = tree_memory(master.pid)
            s.backup_mem = tree_memory(backup.pid)
            # flood window
            flood: Flood | None = None
            fm0 = fb0 = fm1 = fb1 = 0
            if args.flood_seconds > 0 and args.flood_rate > 0:
                flood = Flood(self.c1, args.flood_rate, self.interval)
                fm0, fb0 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid)
                flood.start()
                time.sleep(args.flood_seconds)
                fm1, fb1 = tree_cpu_ns(master.pid), tree_cpu_ns(backup.pid)
                flood.stop()
                time.sleep(max(0.2, 5 * self.interval))  # the last adverts reach the capture
            if not process_tree(master.pid) or not process_tree(backup.pid):
                raise RuntimeError(f"{impl} exited during the measurement")
        finally:
            cap.stop()
        frames = read_vrrp_frames(cap.pcap_path)

        window = t1 - t0
        sent = between(frames, R1, t0, t1)
        s.window = window
        s.adverts = len(sent)
        s.adverts_per_s = len(sent) / window
        s.backup_adverts = len(between(frames, R2, t0, t1))
        if sent:
            s.master_us_per_advert = (m1 - m0) / 1e3 / len(sent)
            s.backup_us_per_advert = (b1 - b0) / 1e3 / len(sent)
        s.master_cpu_pct = (m1 - m0) / 1e9 / window * 100
        s.backup_cpu_pct = (b1 - b0) / 1e9 / window * 100

        if flood is not None:
            ft0, ft1 = flood.t_start, flood.t_stop
            fwin = ft1 - ft0
            s.flood_sent = flood.sent
            s.flood_rate = flood.sent / fwin
            seen1 = master.flood_seen()
            if seen1 is not None and flood_seen0 is not None:
                s.flood_seen_by_master = seen1 - flood_seen0
            during = between(frames, R1, ft0, ft1)
            s.flood_adverts = len(during)
            s.flood_expected = fwin / self.interval
            # the largest gap between two adverts of r1 from the flood's start to its end,
            # the adverts just outside the window included (a silence at an edge counts)
            around = between(frames, R1, ft0 - 1.0, ft1 + 1.0)
            inside = [b.t - a.t for a, b in itertools.pairwise(around) if b.t >= ft0 and a.t < ft1]
            s.flood_max_gap_ms = max(inside) * 1e3 if inside else math.nan
            s.flood_backup_adverts = len(between(frames, R2, ft0, ft1 + 0.2))
            cpu_window = fwin  # CPU snapshots bracket the sender thread's life closely
            s.flood_master_cpu_pct = (fm1 - fm0) / 1e9 / cpu_window * 100
            s.flood_backup_cpu_pct = (fb1 - fb0) / 1e9 / cpu_window * 100
            if flood.sent:
                m_rate, b_rate = (m1 - m0) / window, (b1 - b0) / window  # ns per second
                s.flood_master_extra_us_per_packet = (
                    (fm1 - fm0 - m_rate * cpu_window) / 1e3 / flood.sent
                )
                s.flood_backup_extra_us_per_packet = (
                    (fb1 - fb0 - b_rate * cpu_window) / 1e3 / flood.sent
                )

    def _startup(self, impl: str, s: Sample) -> None:
        """r1 alone as the owner (priority 255), interval 1 s: exec -> first advert, ready."""
        vip = f"{R1}/24" if impl == "vrrpd" else VIP
        cap = self.capture()
        try:
            offset = time.time() - time.monotonic()
            d = start(impl, self.r1, OWNER_PRIORITY, 1.0, vip)
            self.daemons.append(d)
            t_exec = d.started + offset  # wall clock
            ready_at: float | None = None
            first: Frame | None = None
            master_re = d.master_line()
            deadline = time.monotonic() + CONVERGE
            while ready_at is None or first is None:
                now = time.monotonic()
                if ready_at is None and master_re.search(d.log_text()):
                    ready_at = now + offset
                if first is None:
                    got = [
                        f
                        for f in read_vrrp_frames(cap.pcap_path)
                        if f.src == R1 and f.vrid == VRID and f.priority > 0
                    ]
                    first = got[0] if got else None
                if not process_tree(d.pid):
                    raise RuntimeError(f"{impl} exited during start-up")
                if now > deadline:
                    raise TimeoutError(
                        f"{impl} start-up: ready={ready_at is not None}, "
                        f"first advert={first is not None} after {CONVERGE}s"
                    )
                time.sleep(0.002)
            s.startup_cpu_ms = tree_cpu_ns(d.pid) / 1e6
            s.startup_first_advert_ms = (first.t - t_exec) * 1e3
            s.startup_ready_ms = (ready_at - t_exec) * 1e3
            if isinstance(d, KeepalivedDaemon):
                d.ka.wait_started()  # its VRRP child's PID, for a checked stop
        finally:
            cap.stop()
            self.stop_daemons()


# --- profile: where vrrpd's time goes, with py-spy --------------------------------------------


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _frame_name(frame: str) -> str:
    """``func (/path/to/vrrpd/io/x.py:12)`` -> ``func (vrrpd/io/x.py:12)``."""
    m = re.fullmatch(r"(?P<func>.*) \((?P<file>[^():]+):(?P<line>\d+)\)", frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("/vrrpd/", "/netns_lab/", "/lib/python3"):
        i = path.find(marker)
        if i >= 0:
            path = path[i + 1 :]
            break
    return f"{m['func']} ({path}:{m['line']})"


def profile_top(raw: str, top: int) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks -> the functions with the most samples, self and total.

    Each line is ``frame;frame;...;leaf COUNT`` (process and thread frames first with
    ``--threads``, not used here). Self: the leaf; total: every function on the stack once.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    # Inclusive time of vrrpd's own functions, without the frames every sample passes through
    # (the event loop's run_forever, vrrpd_main, ...): those say nothing.
    ours = [(name, n) for name, n in total.most_common() if "(vrrpd/" in name and n < 0.9 * samples]
    return {
        "samples": samples,
        "self": [(name, n) for name, n in own.most_common(top)],
        "total": ours[:top],
    }


def run_profile(bench: Bench, seconds: float, top: int) -> dict[str, Any]:
    """The vrrpd pair once more; py-spy samples the master, then the backup."""
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy not found (pip install py-spy into the venv)")
    out: dict[str, Any] = {}
    try:
        backup = start("vrrpd", bench.r2, BACKUP_PRIO, bench.interval, VIP)
        bench.daemons.append(backup)
        master = start("vrrpd", bench.r1, MASTER_PRIO, bench.interval, VIP)
        bench.daemons.append(master)
        master.wait_state("MASTER", CONVERGE)
        backup.wait_state("BACKUP", CONVERGE)
        time.sleep(bench.args.warmup)
        for role, d in (("master", master), ("backup", backup)):
            dest = bench.lab.workdir / f"pyspy-{role}.txt"
            argv = [
                spy,
                "record",
                "--pid",
                str(d.pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                "1000",
                "--nonblocking",
                "--function",
                "--format",
                "raw",
                "--output",
                str(dest),
            ]
            say(f"profile: py-spy on the vrrpd {role} for {seconds:g} s ...")
            cp = subprocess.run(
                argv, capture_output=True, text=True, timeout=seconds + 60, check=False
            )
            if cp.returncode != 0 or not dest.exists():
                raise RuntimeError(f"py-spy failed ({cp.returncode}): {cp.stderr.strip()}")
            out[role] = profile_top(dest.read_text(), top)
            out[role]["seconds"] = seconds
            out[role]["rate"] = 1000
    finally:
        bench.stop_daemons()
    return out


# --- summary ----------------------------------------------------------------------------------

# The table's rows, in order: key, label, and how to read the figure from a Sample.
ROWS: list[tuple[str, str, Callable[[Sample], float | None]]] = [
    ("adverts_per_s", "master: adverts sent per second", lambda s: s.adverts_per_s),
    ("master_us", "master: CPU us per advert sent", lambda s: s.master_us_per_advert),
    ("master_pct", "master: CPU % of one core", lambda s: s.master_cpu_pct),
    ("backup_us", "backup: CPU us per advert received", lambda s: s.backup_us_per_advert),
    ("backup_pct", "backup: CPU % of one core", lambda s: s.backup_cpu_pct),
    ("rss", "memory (master): RSS MiB", lambda s: s.master_mem.rss_kib / 1024),
    ("pss", "memory (master): PSS MiB", lambda s: s.master_mem.pss_kib / 1024),
    ("uss", "memory (master): USS MiB", lambda s: s.master_mem.uss_kib / 1024),
    ("procs", "processes (master)", lambda s: float(s.master_mem.processes)),
    ("first", "start-up: exec -> first advert ms", lambda s: s.startup_first_advert_ms),
    ("ready", "start-up: exec -> master (log) ms", lambda s: s.startup_ready_ms),
    ("startcpu", "start-up: CPU ms until then", lambda s: s.startup_cpu_ms),
    ("frate", "flood: invalid adverts per second", lambda s: s.flood_rate),
    ("fseen", "flood: rejections counted/logged %", lambda s: _pct(s)),
    ("fkept", "flood: master adverts % of expected", lambda s: _kept(s)),
    ("fgap", "flood: largest advert gap ms", lambda s: s.flood_max_gap_ms),
    ("fback", "flood: adverts from the backup", lambda s: float(s.flood_backup_adverts)),
    ("fmpct", "flood: master CPU %", lambda s: s.flood_master_cpu_pct),
    ("fmus", "flood: master extra CPU us per packet", lambda s: s.flood_master_extra_us_per_packet),
    ("fbpct", "flood: backup CPU %", lambda s: s.flood_backup_cpu_pct),
    ("fbus", "flood: backup extra CPU us per packet", lambda s: s.flood_backup_extra_us_per_packet),
]
NO_RATIO = {"adverts_per_s", "frate", "fseen", "fkept", "fback", "procs"}


def _pct(s: Sample) -> float | None:
    if s.flood_seen_by_master is None or not s.flood_sent:
        return None
    return 100.0 * s.flood_seen_by_master / s.flood_sent


def _kept(s: Sample) -> float | None:
    if not s.flood_sent or not math.isfinite(s.flood_expected) or s.flood_expected <= 0:
        return None
    return 100.0 * s.flood_adverts / s.flood_expected


def _stats(xs: list[float]) -> dict[str, float] | None:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def summarize(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    for key, label, get in ROWS:
        row: dict[str, Any] = {"key": key, "metric": label}
        for impl in IMPLS:
            ok = [s for s in samples if s.impl == impl and s.error is None]
            row[impl] = _stats([v for s in ok if (v := get(s)) is not None])
        a, b = row["vrrpd"], row["keepalived"]
        row["ratio"] = (
            a["median"] / b["median"]
            if key not in NO_RATIO and a and b and b["median"] not in (0, 0.0)
            else None
        )
        rows.append(row)
    return rows


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cell(st: dict[str, float] | None) -> str:
    if st is None:
        return "-"
    return f"{_num(st['median'])} [{_num(st['min'])}-{_num(st['max'])}]"


def table(rows: list[dict[str, Any]]) -> str:
    w = max(len(r["metric"]) for r in rows)
    cw = 24
    head = f"{'':<{w}}  {'vrrpd':>{cw}}  {'keepalived':>{cw}}  {'vrrpd/ka':>8}"
    sub = f"{'':<{w}}  {'median [min-max]':>{cw}}  {'median [min-max]':>{cw}}  {'':>8}"
    lines = [head, sub, "-" * len(head)]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(
            f"{r['metric']:<{w}}  {_cell(r['vrrpd']):>{cw}}  {_cell(r['keepalived']):>{cw}}  "
            f"{ratio:>8}"
        )
    return "\n".join(line.rstrip() for line in lines)


def profile_text(prof: dict[str, Any], top: int) -> str:
    lines = []
    for role in ("master", "backup"):
        p = prof.get(role)
        if not p:
            continue
        n = p["samples"] or 1
        lines.append(
            f"py-spy, vrrpd {role}: {p['samples']} samples on CPU in {p['seconds']:g} s "
            f"at {p['rate']} Hz"
        )
        for kind, title in (("self", "self"), ("total", "inclusive, vrrpd functions")):
            lines.append(f"  {title}:")
            for name, count in p[kind][:top]:
                lines.append(f"    {100 * count / n:5.1f}%  {name}")
    return "\n".join(lines)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def can_run(tool: str) -> bool:
    """Root and keepalived, which a side-by-side benchmark needs; else says so."""
    if os.geteuid() != 0:
        say(f"{tool}: needs root (network namespaces, raw sockets, keepalived)")
        return False
    if not os.access("/usr/sbin/keepalived", os.X_OK):
        say(f"{tool}: needs keepalived (apt-get install keepalived)")
        return False
    return True


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="tools/resource_bench.py",
        description="CPU, memory, start-up and flood holding: vrrpd against keepalived.",
    )
    ap.add_argument("--runs", type=int, default=3, help="measurements per implementation")
    ap.add_argument("--interval", type=interval_arg, default=0.01, help="advert interval, s (0.01)")
    ap.add_argument("--seconds", type=_positive, default=10.0, help="steady window, s (10)")
    ap.add_argument("--warmup", type=_positive, default=2.0, help="after convergence, s (2)")
    ap.add_argument("--flood-rate", type=_positive, default=2000.0, help="packets/s (2000)")
    ap.add_argument("--flood-seconds", type=_positive, default=5.0, help="0: no flood (5)")
    ap.add_argument(
        "--profile", type=_positive, default=0.0, help="py-spy vrrpd for N s per role (0: off)"
    )
    ap.add_argument("--top", type=int, default=12, help="profile entries shown (12)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--save", type=Path, help="also write the JSON document to this file")
    ap.add_argument("--keep-logs", action="store_true", help="keep configs, logs, captures")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs: must be at least 1")
    if args.seconds <= 0:
        ap.error("--seconds: must be > 0")
    if not can_run("resource_bench"):
        return 1

    samples: list[Sample] = []
    prof: dict[str, Any] = {}
    interrupted = False
    say("building the lab ...")
    bench = Bench(args)
    try:
        for run in range(1, args.runs + 1):
            order = IMPLS if run % 2 else tuple(reversed(IMPLS))
            for impl in order:
                say(f"run {run}: {impl} ...")
                s = bench.measure(impl, run)
                samples.append(s)
                if s.error:
                    say(f"  FAILED: {s.error}")
                else:
                    say(
                        f"  master {s.master_us_per_advert:.1f} us/advert "
                        f"({s.adverts} adverts), backup {s.backup_us_per_advert:.1f} us/advert, "
                        f"PSS {s.master_mem.pss_kib / 1024:.1f} MiB, first advert "
                        f"{s.startup_first_advert_ms:.0f} ms, flood: "
                        f"{s.flood_adverts}/{s.flood_expected:.0f} adverts, "
                        f"max gap {s.flood_max_gap_ms:.1f} ms"
                    )
        if args.profile > 0:
            prof = run_profile(bench, args.profile, args.top)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: cleaning up; results so far:")
    finally:
        if args.keep_logs:
            say(f"logs kept in {bench.lab.workdir}")
        bench.close()

    rows = summarize(samples)
    doc = {
        "summary": rows,
        "samples": [asdict(s) for s in samples],
        "profile": prof,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    text = json.dumps(_finite(doc), indent=1)
    if args.save is not None:
        args.save.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(table(rows))
        if prof:
            print()
            print(profile_text(prof, args.top))
    if interrupted:
        return 130
    return 1 if any(s.error for s in samples) else 0


if __name__ == "__main__":
    sys.exit(main())
