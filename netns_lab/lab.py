"""Network-namespace lab: a Linux bridge in a switch namespace, routers and clients around it.

Topology (every name carries the lab's per-run prefix, e.g. ``vl3f2a``)::

    {prefix}sw:  bridge {prefix}br (multicast_snooping 0, stp_state 0, forward_delay 0)
                   ├── {prefix}r1  ─veth─  eth0 in namespace {prefix}r1
                   ├── {prefix}r2  ─veth─  eth0 in namespace {prefix}r2
                   └── {prefix}c1  ─veth─  eth0 in namespace {prefix}c1

More segments (`Lab.add_segment`) are more bridges in the switch namespace, ``{prefix}-{seg}``
(the default segment ``a`` is ``{prefix}br``); a gateway (`Lab.add_gateway`) is a namespace
with one interface per segment (``eth0``, ``eth1``, ...) and forwarding on, and the routers and
clients of those segments get default routes through it::

    r1 (192.0.2.1) ── a ── gw (192.0.2.250 | 198.51.100.250) ── b ── r2 (198.51.100.2)

Multicast snooping must be off: with it on, the bridge may stop forwarding 224.0.0.18 to
ports that never sent an IGMP report, and VRRP routers would not hear each other.

Everything created is first written to ``/run/netns_lab/{prefix}.json`` (the intent is recorded
before the action), so ``python -m netns_lab cleanup`` can remove what a killed run left.
`Lab.close()` stops the processes the lab started (by PID: SIGTERM, a deadline, then SIGKILL),
deletes the namespaces, the work directory and the state file. It is idempotent and runs from
``__exit__``, from an ``atexit`` hook, and after SIGINT/SIGTERM (SIGTERM raises ``SystemExit``
so ``with`` blocks unwind).

Processes are started in their own session (a terminal's Ctrl-C reaches only the lab
controller, which then stops them in order) and with ``PR_SET_PDEATHSIG=SIGKILL`` (if the
controller itself is killed, its daemons die with it; the namespaces stay until ``cleanup``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv4Interface, IPv6Interface, ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any, TypeVar

from vrrpd import timing
from vrrpd.io.control import ControlError as ControlError
from vrrpd.io.control import request as control_request

from .craft import Injector
from .toml_out import dumps
from .wire import eui64_link_local, same_ip

STATE_DIR = Path("/run/netns_lab")
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
IFNAMSIZ = 15
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,8}$")
SEGMENT_RE = re.compile(r"^[a-z][a-z0-9]{0,3}$")
DEFAULT_SEGMENT = "a"
RESERVED_NODE_NAMES = {"sw", "br"}
# The only addresses a lab may use (RFC 5737, RFC 3849) plus IPv6 link-local.
DOCUMENTATION_NETS = tuple(
    ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "fe80::/10")
)

T = TypeVar("T")


class LabError(RuntimeError):
    """The lab could not do what was asked; str() says what and why."""


class CommandError(subprocess.CalledProcessError):
    """A command failed; unlike CalledProcessError, str() includes its stderr."""

    def __str__(self) -> str:
        cmd = " ".join(self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        err = (self.stderr or "").strip()
        return f"command failed (exit {self.returncode}): {cmd}" + (f": {err}" if err else "")


class VrrpdError(LabError):
    """A vrrpd process exited or misbehaved; the message includes its log."""


class ProbeError(LabError):
    """The probe failed (e.g. the target was unreachable from the start)."""


# --- small helpers --------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.02,
    what: str = "condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` seconds pass.

    Exceptions of the types in `ignore` count as a falsy answer. On timeout raise
    ``TimeoutError("timed out after {timeout}s waiting for {what} (last: ...)")``.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignore as e:
            value, last = None, e
        else:
            if value:
                return value
            last = value
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(min(interval, deadline - now))


def check_documentation_address(address: str, where: str) -> None:
    """Refuse an address outside the documentation ranges (and link-local): labs use no other."""
    try:
        ip = ip_interface(address).ip if "/" in address else ip_address(address)
    except ValueError:
        raise LabError(f"{where}: not an IP address: {address!r}") from None
    if not any(ip in net for net in DOCUMENTATION_NETS):
        allowed = ", ".join(str(n) for n in DOCUMENTATION_NETS)
        raise LabError(f"{where}: {address} is not a documentation address (allowed: {allowed})")


def master_down_interval(interval: float, priority: int) -> float:
    """RFC 5798 §6.1 Master_Down_Interval in seconds, for an interval given in seconds."""
    return float(timing.master_down_interval(priority, round(interval * 100), 3))


def skew_time(interval: float, priority: int) -> float:
    """RFC 5798 §6.1 Skew_Time in seconds, for an interval given in seconds."""
    return float(timing.skew_time(priority, round(interval * 100), 3))


def check_config(
    path: str | os.PathLike[str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vrrpd --check-config PATH`` (this checkout's vrrpd); never raises on
    a non-zero exit: the caller asserts on ``returncode``, ``stdout`` and ``stderr``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if x)
    return subprocess.run(
        [sys.executable, "-m", "vrrpd", "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat).

    Together with the PID it names one process, so a recorded PID reused later by an unrelated
    process is never signalled.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is as good as gone
        return None
    return int(fields[19])


def _same_process(pid: int, start: int | None) -> bool:
    return start is not None and _proc_start_time(pid) == start


_libc: Any = None


def _set_pdeathsig() -> None:
    """In the child before exec: die with SIGKILL when the lab controller dies."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _ip(
    *args: str, netns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    return _run(argv, check=check)


def _run(
    argv: Sequence[str], check: bool = True, timeout: float = 30.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, input=input, check=False
    )
    if check and cp.returncode != 0:
        raise CommandError(cp.returncode, list(argv), cp.stdout, cp.stderr)
    return cp


def _netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def read_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines of `path` from byte `offset` on (a last line still being written is
    left for the next call) and the offset after them; ([], offset) while it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return data[:end].decode(errors="replace").splitlines(), offset + end


def read_text(path: Path, offset: int = 0) -> str:
    """A file's text from byte `offset` on (bad bytes replaced); "" while it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


# --- stopping processes: our children by their Popen, others by a checked PID ----------------


def signal_child(proc: subprocess.Popen[Any], sig: int) -> None:
    """Send `sig` to our child `proc` if it still runs (unreaped: its PID is not reused)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def kill_child(proc: subprocess.Popen[Any]) -> int:
    """SIGKILL our child `proc` if it still runs and reap it; its exit code."""
    signal_child(proc, signal.SIGKILL)
    return proc.wait()


def stop_child(proc: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM our child `proc` and wait up to `timeout`; False if it still runs."""
    signal_child(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _terminate(procs: Iterable[subprocess.Popen[Any]], timeout: float = 5.0) -> None:
    """SIGTERM every live process, wait up to `timeout` for all, then SIGKILL the rest."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        signal_child(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.0, deadline - time.monotonic()))
    for p in live:
        kill_child(p)


def signal_pid(pid: int, sig: int, alive: Callable[[], bool]) -> None:
    """Send `sig` to `pid`, not our child, if `alive()` (the check that it is still the
    process meant, not a reused PID)."""
    if alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_dead(alive: Callable[[], bool], timeout: float, what: str) -> bool:
    """Poll until `alive()` is false; False if it still is after `timeout`."""
    try:
        wait_for(lambda: not alive(), timeout, what=what)
    except TimeoutError:
        return False
    return True


def _signal_recorded(pid: int, start: int | None, timeout: float = 5.0) -> None:
    """Stop a process that is not our child (from a state file): SIGTERM, deadline, SIGKILL."""

    def alive() -> bool:
        return _same_process(pid, start)

    signal_pid(pid, signal.SIGTERM, alive)
    if not wait_dead(alive, timeout, f"pid {pid} to exit"):
        signal_pid(pid, signal.SIGKILL, alive)
        wait_dead(alive, 5.0, f"pid {pid} to die")


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    wait_dead(lambda: _proc_start_time(pid) is not None, timeout, f"pid {pid} to die")


def _kill_netns_pids(ns: str) -> list[int]:
    """SIGKILL whatever still runs in namespace `ns`: it belongs to this lab (the name is ours).

    These are by-PID kills of processes inside a namespace only this lab created, e.g. a
    child a lab process forked; nothing outside the lab can be in it.
    """
    if not _netns_exists(ns):
        return []
    cp = _run(["ip", "netns", "pids", ns], check=False)
    pids = [int(x) for x in cp.stdout.split() if x.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        _wait_gone(pid)
    return pids


# --- signal handling: one SIGTERM handler shared by all live labs ----------------------------

_live_labs: list[Lab] = []
_saved_sigterm: Any = None
_handler_installed = False


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _register(lab: Lab) -> None:
    global _saved_sigterm, _handler_installed
    _live_labs.append(lab)
    if threading.current_thread() is threading.main_thread() and not _handler_installed:
        current = signal.getsignal(signal.SIGTERM)
        if current in (signal.SIG_DFL, None):
            _saved_sigterm = current
            signal.signal(signal.SIGTERM, _on_sigterm)
            _handler_installed = True


def _unregister(lab: Lab) -> None:
    global _handler_installed
    if lab in _live_labs:
        _live_labs.remove(lab)
    if (
        not _live_labs
        and _handler_installed
        and threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGTERM, _saved_sigterm or signal.SIG_DFL)
        _handler_installed = False


@contextlib.contextmanager
def _signals_deferred() -> Any:
    """While cleaning up, a second Ctrl-C or a SIGTERM must not abort the cleanup half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# --- the lab --------------------------------------------------------------------------------


class Lab:
    """A switch namespace with a bridge; add routers and clients with `add_router`/`add_client`.

    Use as a context manager, or call `close()` yourself (it is idempotent). `prefix` defaults
    to ``"vl"`` + 4 random hex digits; it must be 2..8 characters ``[a-z0-9]``.
    """

    def __init__(self, prefix: str | None = None, *, keep_workdir: bool = False) -> None:
        self.prefix = prefix or "vl" + secrets.token_hex(2)
        if not PREFIX_RE.match(self.prefix):
            raise LabError(
                f"prefix {self.prefix!r}: must be 2..8 characters a-z 0-9, a letter first"
            )
        self.switch_ns = f"{self.prefix}sw"
        self.bridge = f"{self.prefix}br"
        self.state_path = STATE_DIR / f"{self.prefix}.json"
        self.keep_workdir = keep_workdir
        self.nodes: dict[str, Node] = {}
        # segment name -> its bridge (in the switch namespace)
        self.segments: dict[str, str] = {DEFAULT_SEGMENT: self.bridge}
        # segment name -> the gateway's addresses on it (default routes point there)
        self._gateways: dict[str, list[IPv4Interface | IPv6Interface]] = {}
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._closed = False
        self._lock = threading.RLock()
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        in_use = LabError(
            f"prefix {self.prefix!r} is in use ({self.state_path} or namespace "
            f"{self.switch_ns} exists); run `python -m netns_lab cleanup --prefix "
            f"{self.prefix}` if it is a leftover"
        )
        if _netns_exists(self.switch_ns):
            raise in_use
        try:  # claim the prefix atomically: two labs never share one
            os.close(os.open(self.state_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            raise in_use from None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"netns_lab-{self.prefix}-"))
        self._save_state()
        _register(self)
        atexit.register(self.close)
        try:
            self._add_netns(self.switch_ns)
            _ip("link", "set", "lo", "up", netns=self.switch_ns)
            self._add_bridge(self.bridge)
        except BaseException:
            self.close()
            raise

    # context manager
    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab(prefix={self.prefix!r}, nodes={list(self.nodes)})"

    # state file
    def _save_state(self) -> None:
        state = {
            "prefix": self.prefix,
            "owner_pid": os.getpid(),
            "owner_start": _proc_start_time(os.getpid()),
            "created": time.time(),
            "workdir": str(self.workdir),
            "namespaces": list(self._namespaces),
            "processes": [
                {"pid": p.pid, "start": _proc_start_time(p.pid), "argv": _argv_text(p)}
                for p in self._procs
                if p.poll() is None
            ],
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.state_path)

    def _add_netns(self, name: str) -> None:
        if len(name) > IFNAMSIZ:
            raise LabError(f"namespace name {name!r} longer than {IFNAMSIZ} characters")
        if _netns_exists(name):
            raise LabError(f"namespace {name} already exists")
        with self._lock:
            self._namespaces.append(name)
            self._save_state()  # the intent first: a crash right after leaves a record
        _ip("netns", "add", name)

    # processes
    def _track(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._procs.append(proc)
            self._save_state()

    def _untrack(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            if not self._closed:
                self._save_state()

    # nodes
    def _add_bridge(self, bridge: str) -> None:
        _ip(
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            netns=self.switch_ns,
        )
        _ip("link", "set", bridge, "up", netns=self.switch_ns)

    def add_segment(self, name: str) -> str:
        """Another L2 segment: a bridge ``{prefix}-{name}`` in the switch namespace.

        `name` is 1..4 characters ``[a-z0-9]``, a letter first; segment ``a`` (the bridge
        ``{prefix}br``) always exists. Returns the bridge's name. Nodes join a segment with
        ``add_router(..., segment=name)``; segments are joined only through a gateway.
        """
        if self._closed:
            raise LabError("the lab is closed")
        if not SEGMENT_RE.match(name):
            raise LabError(
                f"segment name {name!r}: must be 1..4 characters a-z 0-9, a letter first"
            )
        if name in self.segments:
            raise LabError(f"segment {name!r} already exists")
        bridge = f"{self.prefix}-{name}"  # '-' never occurs in node names: no clash with ports
        self._add_bridge(bridge)
        self.segments[name] = bridge
        return bridge

    def _segment_bridge(self, segment: str) -> str:
        try:
            return self.segments[segment]
        except KeyError:
            raise LabError(
                f"no segment {segment!r} (have {', '.join(sorted(self.segments))}; "
                "add it with add_segment)"
            ) from None

    def _check_node_name(self, name: str) -> None:
        if self._closed:
            raise LabError("the lab is closed")
        if not NODE_NAME_RE.match(name) or name in RESERVED_NODE_NAMES:
            raise LabError(
                f"node name {name!r}: must be 1..9 characters a-z 0-9, a letter first, "
                f"not {' or '.join(sorted(RESERVED_NODE_NAMES))}"
            )
        if len(self.prefix) + len(name) > IFNAMSIZ:
            raise LabError(f"node name {name!r} too long for prefix {self.prefix!r}")
        if name in self.nodes:
            raise LabError(f"node {name!r} already exists")

    def _plug(self, ns: str, port: str, ifname: str, segment: str) -> None:
        """A veth pair: `port` on the segment's bridge, `ifname` in namespace `ns` (DAD off)."""
        bridge = self._segment_bridge(segment)
        if len(port) > IFNAMSIZ:
            raise LabError(f"interface name {port!r} longer than {IFNAMSIZ} characters")
        _ip(
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            ns,
            netns=self.switch_ns,
        )
        _ip("link", "set", port, "master", bridge, netns=self.switch_ns)
        _ip("link", "set", port, "up", netns=self.switch_ns)
        # DAD off before the link comes up: the link-local and the node's own IPv6 address are
        # usable at once (a test waiting for DAD would wait a second for nothing).
        _run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-q",
                "-w",
                f"net.ipv6.conf.{ifname}.accept_dad=0",
            ]
        )

    def _add_node(
        self,
        name: str,
        ipv4: str | None,
        ipv6: str | None,
        role: str,
        segment: str = DEFAULT_SEGMENT,
    ) -> Node:
        self._check_node_name(name)
        self._segment_bridge(segment)
        for addr in (ipv4, ipv6):
            if addr:
                check_documentation_address(addr, f"node {name}")
        v4 = IPv4Interface(ipv4) if ipv4 else None
        v6 = IPv6Interface(ipv6) if ipv6 else None
        ns = f"{self.prefix}{name}"
        port = f"{self.prefix}{name}"  # the bridge-side veth end, in the switch namespace
        self._add_netns(ns)
        _ip("link", "set", "lo", "up", netns=ns)
        self._plug(ns, port, "eth0", segment)
        if v4 is not None:
            _ip("addr", "add", str(v4), "dev", "eth0", netns=ns)
        if v6 is not None:
            _ip("addr", "add", str(v6), "dev", "eth0", "nodad", netns=ns)
        _ip("link", "set", "eth0", "up", netns=ns)
        node = Node(self, name, ns, role, v4, v6, segment=segment)
        self.nodes[name] = node
        for gw in self._gateways.get(segment, []):
            node._route_via(gw)
        return node

    def add_router(
        self,
        name: str = "r1",
        ipv4: str | None = "192.0.2.1/24",
        ipv6: str | None = None,
        *,
        segment: str = DEFAULT_SEGMENT,
    ) -> Node:
        """A namespace ``{prefix}{name}`` with ``eth0`` on the bridge, for running vrrpd.

        `ipv6` (e.g. ``"2001:db8::1/64"``) is added with ``nodad``; DAD is off on ``eth0``, so
        the kernel's link-local address (``node.link_local()``) is usable at once too.
        If the segment has a gateway, the node gets a default route through it.
        """
        return self._add_node(name, ipv4, ipv6, "router", segment)

    def add_client(
        self,
        name: str = "c1",
        ipv4: str | None = "192.0.2.100/24",
        ipv6: str | None = None,
        *,
        segment: str = DEFAULT_SEGMENT,
    ) -> Node:
        """A namespace ``{prefix}{name}`` with ``eth0`` on the bridge, for probes."""
        return self._add_node(name, ipv4, ipv6, "client", segment)

    def add_gateway(
        self,
        name: str,
        ipv4: Mapping[str, str],
        ipv6: Mapping[str, str] | None = None,
        *,
        default_routes: bool = True,
    ) -> Node:
        """A routing namespace joining segments: one interface per segment, forwarding on.

            lab.add_segment("b")
            gw = lab.add_gateway("gw", {"a": "192.0.2.250/24", "b": "198.51.100.250/24"})

        Its interfaces are ``eth0``, ``eth1``, ... in the order of the segments in `ipv4` (then
        any segment only in `ipv6`); ``gw.interfaces`` maps segment -> interface. The
        bridge-side ports are ``{prefix}{name}-{index}``. With `default_routes`, every router
        and client of those segments (now and later) whose address is in the gateway's subnet
        gets a default route through it (IPv4 and IPv6 separately). Don't use the tests'
        default VIP 192.0.2.254 as a gateway address.
        """
        self._check_node_name(name)
        v6map = dict(ipv6 or {})
        order = list(dict.fromkeys([*ipv4, *v6map]))
        if not order:
            raise LabError(f"gateway {name}: give at least one segment address")
        for seg in order:
            self._segment_bridge(seg)
        for seg, addr in [*ipv4.items(), *v6map.items()]:
            check_documentation_address(addr, f"gateway {name} on segment {seg}")
        v4s = {seg: IPv4Interface(a) for seg, a in ipv4.items()}
        v6s = {seg: IPv6Interface(a) for seg, a in v6map.items()}
        ns = f"{self.prefix}{name}"
        if len(f"{self.prefix}{name}-{len(order) - 1}") > IFNAMSIZ:
            raise LabError(f"gateway name {name!r} too long for prefix {self.prefix!r}")
        self._add_netns(ns)
        _ip("link", "set", "lo", "up", netns=ns)
        interfaces: dict[str, str] = {}
        for i, seg in enumerate(order):
            ifname = f"eth{i}"
            self._plug(ns, f"{self.prefix}{name}-{i}", ifname, seg)
            if seg in v4s:
                _ip("addr", "add", str(v4s[seg]), "dev", ifname, netns=ns)
            if seg in v6s:
                _ip("addr", "add", str(v6s[seg]), "dev", ifname, "nodad", netns=ns)
            _ip("link", "set", ifname, "up", netns=ns)
            interfaces[seg] = ifname
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", key])
        first = order[0]
        node = Node(self, name, ns, "gateway", v4s.get(first), v6s.get(first), segment=first)
        node.interfaces = interfaces
        node.segment_addresses = {
            seg: [a for a in (v4s.get(seg), v6s.get(seg)) if a is not None] for seg in order
        }
        self.nodes[name] = node
        if default_routes:
            for seg, addrs in node.segment_addresses.items():
                self._gateways.setdefault(seg, []).extend(addrs)
                for other in self.nodes.values():
                    if other.role != "gateway" and other.segment == seg:
                        for gw_addr in addrs:
                            other._route_via(gw_addr)
        return node

    # teardown
    def close(self) -> None:
        """Stop the lab's processes, delete its namespaces, work directory and state file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with _signals_deferred():
            errors: list[str] = []
            try:
                _terminate(list(self._procs))
            except Exception as e:  # keep going: the namespaces must still go
                errors.append(f"stopping processes: {e}")
            self._procs.clear()
            # The switch last: deleting a node namespace deletes its veth pair too.
            for ns in [*reversed(self._namespaces)]:
                try:
                    _kill_netns_pids(ns)
                    if _netns_exists(ns):
                        _ip("netns", "del", ns)
                except Exception as e:
                    errors.append(f"deleting namespace {ns}: {e}")
            if not self.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            if not errors:
                with contextlib.suppress(FileNotFoundError):
                    self.state_path.unlink()
            _unregister(self)
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)
        if errors:
            raise LabError("lab cleanup incomplete: " + "; ".join(errors))


def _argv_text(p: subprocess.Popen[Any]) -> str:
    args = p.args
    if isinstance(args, list | tuple):
        return " ".join(str(a) for a in args)
    return str(args)


# --- nodes ----------------------------------------------------------------------------------


class Node:
    """A namespace with one interface ``eth0`` on a lab segment (a gateway: one per segment)."""

    def __init__(
        self,
        lab: Lab,
        name: str,
        ns: str,
        role: str,
        ipv4: IPv4Interface | None,
        ipv6: IPv6Interface | None,
        *,
        segment: str = DEFAULT_SEGMENT,
    ) -> None:
        self.lab = lab
        self.name = name
        self.ns = ns
        self.role = role
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.segment = segment
        # segment -> interface name; a gateway has one per segment
        self.interfaces: dict[str, str] = {segment: "eth0"}
        # segment -> this node's addresses there (a gateway's; for others, eth0's own)
        self.segment_addresses: dict[str, list[IPv4Interface | IPv6Interface]] = {
            segment: [a for a in (ipv4, ipv6) if a is not None]
        }
        self.mac: str = self._read_mac()
        self.vrrpd: Vrrpd | None = None
        self._probes = 0
        self._captures = 0

    def __repr__(self) -> str:
        return f"Node({self.name!r}, ns={self.ns!r}, ipv4={self.ipv4}, mac={self.mac})"

    def _read_mac(self, ifname: str = "eth0") -> str:
        return str(self._ip_json("link", "show", "dev", ifname)[0]["address"])

    def _ip_json(self, *args: str, check: bool = True) -> list[dict[str, Any]]:
        """``ip -j ARGS`` in this namespace, parsed; [] for no output (or, unchecked, an
        error)."""
        cp = _ip("-j", *args, netns=self.ns, check=check)
        return [] if cp.returncode != 0 else list(json.loads(cp.stdout or "[]"))

    def run(
        self,
        argv: Sequence[str],
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in this namespace and wait for it (text output captured)."""
        return _run(
            ["ip", "netns", "exec", self.ns, *argv], check=check, timeout=timeout, input=input
        )

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a command in this namespace; the lab stops it on close.

        The child gets its own session and dies with the controller (PR_SET_PDEATHSIG);
        PYTHONPATH starts with this checkout so ``-m vrrpd`` and ``-m netns_lab.probe`` run
        the code next to the lab.
        """
        env = dict(kw.pop("env", None) or os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            x for x in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if x
        )
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        kw.setdefault("preexec_fn", _set_pdeathsig)
        proc: subprocess.Popen[Any] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv], env=env, **kw
        )
        self.lab._track(proc)
        return proc

    def addresses(self, ifname: str = "eth0") -> list[str]:
        """The interface's addresses as ``addr/prefixlen`` strings, IPv4 and IPv6."""
        info = self._ip_json("addr", "show", "dev", ifname)
        return [f"{a['local']}/{a['prefixlen']}" for i in info for a in i.get("addr_info", [])]

    def has_address(self, address: str, ifname: str = "eth0") -> bool:
        """Is `address` (with or without /len) configured on `ifname`?"""
        return any(same_ip(a, address) for a in self.addresses(ifname))

    def neigh(self, ip: str, ifname: str = "eth0") -> str | None:
        """The MAC this namespace's neighbour table holds for `ip`, or None (absent/failed)."""
        for entry in self._ip_json("neigh", "show", "to", str(ip), "dev", ifname):
            state = entry.get("state", [])
            if "lladdr" in entry and not {"FAILED", "INCOMPLETE"} & set(state):
                return str(entry["lladdr"])
        return None

    def link_set(self, up: bool, ifname: str = "eth0") -> None:
        _ip("link", "set", ifname, "up" if up else "down", netns=self.ns)

    @property
    def bridge_port(self) -> str:
        """The bridge-side end of this node's ``eth0`` (in the switch namespace)."""
        if self.role == "gateway":
            raise LabError(f"{self.name}: a gateway has one port per segment")
        return f"{self.lab.prefix}{self.name}"

    def unplug(self) -> None:
        """Delete ``eth0`` (its bridge-side end goes with it), as an ifdown of a VLAN or bond
        would; `replug` re-creates it."""
        _ip("link", "del", "eth0", netns=self.ns)

    def replug(self) -> None:
        """Re-create ``eth0`` after `unplug`: the same name, MAC, addresses and routes on the
        same segment, a new interface index."""
        self.lab._plug(self.ns, self.bridge_port, "eth0", self.segment)
        _ip("link", "set", "eth0", "address", self.mac, netns=self.ns)
        if self.ipv4 is not None:
            _ip("addr", "add", str(self.ipv4), "dev", "eth0", netns=self.ns)
        if self.ipv6 is not None:
            _ip("addr", "add", str(self.ipv6), "dev", "eth0", "nodad", netns=self.ns)
        _ip("link", "set", "eth0", "up", netns=self.ns)
        for gw in self.lab._gateways.get(self.segment, []):
            self._route_via(gw)

    def del_address(self, address: str, ifname: str = "eth0") -> bool:
        """Remove `address` from `ifname` if configured (any prefix length); True if removed."""
        for a in self.addresses(ifname):
            if same_ip(a, address):
                _ip("addr", "del", a, "dev", ifname, netns=self.ns)
                return True
        return False

    # links, addresses, neighbours, routes, sysctls
    def links(self) -> list[dict[str, Any]]:
        """Every interface (``ip -j -d link``) as a dict with the keys that tests use.

        ``ifname``, ``mac``, ``kind`` (``veth``, ``macvlan``, ... or None for ``lo``),
        ``parent`` (a macvlan's lower interface, else None), ``mode`` (macvlan mode or None),
        ``up`` (admin up), ``addrgenmode`` (``eui64``, ``none``, ``random``, ...) and ``raw``
        (the whole JSON object).
        """
        out = []
        for info in self._ip_json("-d", "link", "show"):
            linkinfo = info.get("linkinfo") or {}
            data = linkinfo.get("info_data") or {}
            parent = info.get("link")
            out.append(
                {
                    "ifname": info["ifname"],
                    "mac": info.get("address"),
                    "kind": linkinfo.get("info_kind"),
                    "parent": parent
                    if linkinfo.get("info_kind") in ("macvlan", "macvtap")
                    else None,
                    "mode": data.get("mode"),
                    "up": "UP" in info.get("flags", []),
                    "addrgenmode": info.get("inet6_addr_gen_mode"),
                    "raw": info,
                }
            )
        return out

    def link(self, ifname: str) -> dict[str, Any] | None:
        """The `links()` entry of `ifname`, or None if there is no such interface."""
        for entry in self.links():
            if entry["ifname"] == ifname:
                return entry
        return None

    def address_info(self, ifname: str = "eth0") -> list[dict[str, Any]]:
        """The interface's ``addr_info`` entries (``ip -j addr``), flags included.

        Each has ``family`` (``inet``/``inet6``), ``local``, ``prefixlen``, ``scope`` and flag
        keys set to true when present: ``tentative``, ``nodad``, ``dadfailed``, ``deprecated``.
        An absent interface has none.
        """
        info = self._ip_json("addr", "show", "dev", ifname, check=False)
        return [a for i in info for a in i.get("addr_info", [])]

    def all_addresses(self) -> dict[str, list[str]]:
        """Every interface's addresses (``addr/prefixlen``), by interface name."""
        out: dict[str, list[str]] = {}
        for info in self._ip_json("addr", "show"):
            out[info["ifname"]] = [
                f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", [])
            ]
        return out

    def holders_of(self, address: str) -> list[str]:
        """The interfaces that hold `address` (with or without /len)."""
        return [
            ifname
            for ifname, addrs in self.all_addresses().items()
            if any(same_ip(a, address) for a in addrs)
        ]

    def link_local(self, ifname: str = "eth0") -> str | None:
        """The interface's own IPv6 link-local address (without /64), or None.

        The one the kernel formed from the interface's MAC (EUI-64) when present, not a
        virtual router's link-local that vrrpd may have added next to it; else the first.
        """
        lls = [
            str(a["local"])
            for a in self.address_info(ifname)
            if a.get("family") == "inet6" and a.get("scope") == "link"
        ]
        entry = self.link(ifname)
        if entry is not None and entry.get("mac"):
            own = eui64_link_local(str(entry["mac"]))
            if any(ip_address(x) == ip_address(own) for x in lls):
                return own
        return lls[0] if lls else None

    def neigh_entry(self, ip: str, ifname: str = "eth0") -> dict[str, Any] | None:
        """The raw ``ip -j neigh`` entry for `ip` (IPv4 or IPv6), or None."""
        entries = self._ip_json("neigh", "show", "to", str(ip), "dev", ifname)
        return dict(entries[0]) if entries else None

    def neigh_flush(self, ifname: str = "eth0") -> None:
        """Forget every neighbour (ARP and ND) on `ifname`."""
        _ip("neigh", "flush", "dev", ifname, netns=self.ns, check=False)

    def add_route(self, destination: str, via: str, ifname: str | None = None) -> None:
        """``ip route replace DESTINATION via VIA`` (``-6`` when VIA is IPv6)."""
        family = "-6" if ip_address(via).version == 6 else "-4"
        argv = ["route", "replace", destination, "via", via]
        if ifname:
            argv += ["dev", ifname]
        _ip(family, *argv, netns=self.ns)

    def _route_via(self, gateway: IPv4Interface | IPv6Interface) -> None:
        """A default route via `gateway` if one of our addresses is in its subnet."""
        mine = [
            a for a in self.segment_addresses.get(self.segment, []) if a.version == gateway.version
        ]
        if any(a.ip in gateway.network for a in mine):
            self.add_route("default", str(gateway.ip), "eth0")

    def routes(self, family: int = 4) -> list[dict[str, Any]]:
        """``ip -j -4|-6 route`` as parsed JSON."""
        return self._ip_json(f"-{family}", "route", "show")

    def sysctl(self, key: str) -> str:
        """Read a sysctl in this namespace (``net.ipv4.conf.eth0.arp_ignore``)."""
        path = "/proc/sys/" + key.replace(".", "/")
        return self.run(["cat", path]).stdout.strip()

    def conf_sysctl(self, ifname: str, key: str, family: int = 4) -> str:
        """``/proc/sys/net/ipv4|ipv6/conf/IFNAME/KEY`` (safe for interface names with dots)."""
        return self.run(["cat", f"/proc/sys/net/ipv{family}/conf/{ifname}/{key}"]).stdout.strip()

    def set_sysctl(self, key: str, value: str | int) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def ping(self, target: str, count: int = 1, timeout: float = 2.0) -> bool:
        """One (or `count`) echo request(s) to `target`; True if any reply came."""
        family = "-6" if ip_address(target).version == 6 else "-4"
        cp = self.run(
            ["ping", family, "-n", "-q", "-c", str(count), "-W", repr(timeout), target],
            check=False,
            timeout=count * timeout + 10,
        )
        return cp.returncode == 0

    # nftables
    def nft(self, ruleset: str) -> None:
        """Load `ruleset` (nft syntax) with ``nft -f -`` in this namespace."""
        self.run(["nft", "-f", "-"], input=ruleset)

    def nft_list(self) -> list[dict[str, Any]]:
        """``nft -j list ruleset``: the ``nftables`` array (metainfo, tables, chains, rules)."""
        data = json.loads(self.run(["nft", "-j", "list", "ruleset"]).stdout or "{}")
        return list(data.get("nftables", []))

    def nft_tables(self) -> list[tuple[str, str]]:
        """The nftables tables as (family, name), e.g. ``("inet", "vrrpd")``."""
        return [
            (str(o["table"]["family"]), str(o["table"]["name"]))
            for o in self.nft_list()
            if "table" in o
        ]

    def nft_ruleset(self) -> str:
        """``nft list ruleset`` as text (for messages)."""
        return self.run(["nft", "list", "ruleset"]).stdout

    def block_vrrp(self, percent: int = 100, direction: str = "input") -> None:
        """Drop incoming (or outgoing: `direction` ``"output"``) VRRP, IPv4 and IPv6.

        `percent` < 100 drops that share at random (``numgen random mod 100 < percent``), for
        packet loss; 100 is a partition. Lives in table ``inet netnslab``; `unblock_vrrp`
        removes it. Nothing else in the namespace is touched (vrrpd's own table included).
        """
        if not 0 < percent <= 100:
            raise LabError(f"block_vrrp: percent must be 1..100, got {percent}")
        if direction not in ("input", "output"):
            raise LabError(f"block_vrrp: direction must be input or output, got {direction!r}")
        match = "meta l4proto 112" + (
            "" if percent == 100 else f" numgen random mod 100 < {percent}"
        )
        self.nft(
            f"""
            table inet netnslab {{
                chain {direction} {{
                    type filter hook {direction} priority -10; policy accept;
                    {match} drop
                }}
            }}
            """
        )

    def unblock_vrrp(self) -> None:
        """Remove what `block_vrrp` installed (every direction)."""
        if ("inet", "netnslab") in self.nft_tables():
            self.run(["nft", "delete", "table", "inet", "netnslab"])

    # packets
    def capture(self, bpf: str = "", ifname: str = "eth0", name: str | None = None) -> Capture:
        """Start tcpdump on `ifname` with filter `bpf`; returns once it is capturing."""
        self._captures += 1
        base = self.lab.workdir / (name or f"{self.name}-{ifname}-cap{self._captures}")
        pcap, err = base.with_suffix(".pcap"), base.with_suffix(".tcpdump.log")
        argv = ["tcpdump", "-i", ifname, "-U", "-n", "-s", "512", "-w", str(pcap)]
        if bpf:
            argv += bpf.split()
        with open(err, "wb") as e:
            proc = self.popen(argv, stdout=subprocess.DEVNULL, stderr=e)
        cap = Capture(self, proc, pcap, err)
        cap.wait_started()
        return cap

    def injector(
        self, ifname: str = "eth0", neighbours: Mapping[str, str] | None = None
    ) -> Injector:
        """A `netns_lab.craft.Injector` on `ifname` in this namespace, opened from this
        process; the source of its adverts is this node's IPv4 address, else its link-local.
        `neighbours` (IP -> MAC) are the destination MACs of unicast packets."""
        src = str(self.ipv4.ip) if self.ipv4 is not None else str(self.link_local(ifname))
        return Injector(ifname, src=src, netns=self.ns, neighbours=neighbours)

    def inject(self, repeat: int = 1, *, ifname: str = "eth0", **fields: Any) -> int:
        """Craft one VRRP advert (`netns_lab.craft.craft` fields; source: this node's address)
        and send it `repeat` times from here; returns how many were sent. A unicast `dst` is
        resolved from this namespace's neighbour table (a ping fills it).

        ``node.inject(3, src=ll, addresses=["2001:db8::254"], priority=254, ttl=64)``
        """
        neighbours: dict[str, str] = {}
        dst = fields.get("dst")
        if dst is not None and not ip_address(dst).is_multicast:
            mac = self.neigh(dst, ifname)
            if mac is None:
                self.ping(dst)
                mac = self.neigh(dst, ifname)
            if mac is None:
                raise LabError(f"{self.name}: no MAC address for {dst} on {ifname}")
            neighbours[dst] = mac
        with self.injector(ifname, neighbours) as inj:
            return inj.advert(repeat, **fields)

    # vrrpd
    def start_vrrpd(
        self,
        routers: Sequence[Mapping[str, Any]],
        *,
        extra_args: Sequence[str] = (),
        daemon: Mapping[str, Any] | None = None,
        sync_groups: Sequence[Mapping[str, Any]] = (),
    ) -> Vrrpd:
        """Write ``{workdir}/{node}.toml`` from `routers` (and `sync_groups`, one
        ``[[sync_group]]`` table each) and start vrrpd on it.

        Each mapping becomes one ``[[virtual_router]]`` table as given, every key passed
        through (lists of strings, floats, bools: ``unicast_peers = ["198.51.100.2"]``);
        ``interface`` defaults to ``eth0``. ``[daemon]`` holds `daemon`'s keys and
        ``control_socket = "{workdir}/{node}.sock"``. The log (stdout and stderr) is appended
        to ``{workdir}/{node}.log``.
        """
        if self.vrrpd is not None and self.vrrpd.alive:
            raise LabError(f"{self.name}: vrrpd already running (pid {self.vrrpd.pid})")
        workdir = self.lab.workdir
        sock = workdir / f"{self.name}.sock"
        conf = workdir / f"{self.name}.toml"
        log = workdir / f"{self.name}.log"
        if len(str(sock)) >= 108:
            raise LabError(f"control socket path too long: {sock}")
        tables = []
        for r in routers:
            t = dict(r)
            t.setdefault("interface", "eth0")
            for vip in t.get("virtual_ips", []):
                if isinstance(vip, str):  # a non-string is vrrpd's to reject
                    check_documentation_address(vip, f"{self.name}: virtual_ips")
            tables.append(t)
        daemon_table = {**(daemon or {}), "control_socket": str(sock)}
        doc: dict[str, Any] = {"daemon": daemon_table, "virtual_router": tables}
        if sync_groups:
            doc["sync_group"] = [dict(g) for g in sync_groups]
        conf.write_text(dumps(doc))
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # a stale socket from a killed daemon; no live daemon uses it
        with open(log, "ab") as logf:
            logf.write(f"--- netns_lab: starting vrrpd in {self.ns} ---\n".encode())
            logf.flush()
            proc = self.popen(
                [sys.executable, "-m", "vrrpd", "--config", str(conf), *extra_args],
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        self.vrrpd = Vrrpd(self, proc, conf, log, sock, tables)
        return self.vrrpd

    # probe
    def start_probe(
        self,
        target: str,
        *,
        duration: float | None = None,
        interval: float = 0.005,
        adverts: bool = True,
        vrid: int | None = None,
        ifname: str = "eth0",
        initial_timeout: float = 3.0,
    ) -> ProbeRun:
        """Start ``python -m netns_lab.probe`` in this namespace against `target`."""
        check_documentation_address(str(target), f"{self.name}: probe target")
        self._probes += 1
        base = self.lab.workdir / f"{self.name}-probe{self._probes}"
        out, err, events = (base.with_suffix(s) for s in (".json", ".log", ".events"))
        argv = [
            sys.executable,
            "-m",
            "netns_lab.probe",
            str(target),
            "--interval",
            repr(interval),
            "--iface",
            ifname,
            "--initial-timeout",
            repr(initial_timeout),
            "--events",
            str(events),
        ]
        if duration is not None:
            argv += ["--duration", repr(duration)]
        if adverts:
            argv.append("--adverts")
        if vrid is not None:
            argv += ["--vrid", str(vrid)]
        events.write_text("")
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = self.popen(argv, stdout=o, stderr=e)
        return ProbeRun(self, proc, out, err, events)


# --- vrrpd ----------------------------------------------------------------------------------


class Vrrpd:
    """One vrrpd process in a node; `status()` asks its control socket."""

    def __init__(
        self,
        node: Node,
        proc: subprocess.Popen[Any],
        config_path: Path,
        log_path: Path,
        socket_path: Path,
        routers: list[dict[str, Any]],
    ) -> None:
        self.node = node
        self.proc = proc
        self.config_path = config_path
        self.log_path = log_path
        self.socket_path = socket_path
        self.routers = routers
        self.started = time.monotonic()

    def __repr__(self) -> str:
        return f"Vrrpd(node={self.node.name!r}, pid={self.pid}, alive={self.alive})"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def process(self) -> subprocess.Popen[Any]:
        """The `subprocess.Popen` of the daemon (the same object as `proc`)."""
        return self.proc

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def log_text(self) -> str:
        return read_text(self.log_path)

    def _exited_error(self, doing: str) -> VrrpdError:
        return VrrpdError(
            f"vrrpd in {self.node.name} exited with code {self.proc.returncode} while "
            f"{doing}; log {self.log_path}:\n{self.log_text()[-4000:]}"
        )

    def status(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        result = control_request(str(self.socket_path), {"cmd": "status"}, timeout=timeout)
        if not isinstance(result, list):
            raise ControlError(f"{self.socket_path}: status result is not a list: {result!r}")
        return result

    def router(self, name: str) -> dict[str, Any]:
        for row in self.status():
            if row.get("name") == name:
                return row
        raise KeyError(f"{self.node.name}: no virtual router {name!r} in status")

    def counters(self, name: str) -> dict[str, int]:
        """The ``counters`` of virtual router `name` (absent counters read as missing keys)."""
        return dict(self.router(name).get("counters") or {})

    def wait_counter(self, name: str, counter: str, at_least: int, timeout: float) -> int:
        """Poll until counter `counter` of `name` is >= `at_least`; return its value."""

        def reached() -> int | None:
            if not self.alive:
                raise self._exited_error(f"waiting for {name} counter {counter}")
            value = int(self.counters(name).get(counter, 0))
            return value if value >= at_least else None

        try:
            return wait_for(
                reached,
                timeout,
                what=f"{self.node.name}/{name} counter {counter} >= {at_least}",
                ignore=(ControlError, KeyError),
            )
        except TimeoutError as e:
            try:
                have: object = self.counters(name)
            except (ControlError, KeyError) as e2:
                have = e2
            raise TimeoutError(f"{e}; counters now: {have}") from None

    def wait_states(self, want: Mapping[str, str], timeout: float) -> list[dict[str, Any]]:
        """Poll until every virtual router named in `want` is in its state (one status call
        per poll: cheap with hundreds of routers); returns the status rows."""

        def reached() -> list[dict[str, Any]] | None:
            if not self.alive:
                raise self._exited_error("waiting for states")
            rows = self.status()
            have = {r.get("name"): r.get("state") for r in rows}
            return rows if all(have.get(n) == s for n, s in want.items()) else None

        try:
            return wait_for(
                reached,
                timeout,
                interval=0.1,
                what=f"{self.node.name}: states",
                ignore=(ControlError,),
            )
        except TimeoutError:
            try:
                rows = self.status()
            except ControlError as e:
                raise TimeoutError(f"{self.node.name}: states not reached; status: {e}") from None
            have = {r.get("name"): r.get("state") for r in rows}
            wrong = {n: have.get(n) for n, s in want.items() if have.get(n) != s}
            raise TimeoutError(
                f"timed out after {timeout}s: {self.node.name}: {len(wrong)} of {len(want)} "
                f"virtual routers not in the wanted state, e.g. {dict(list(wrong.items())[:5])}"
            ) from None

    def wait_ready(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll until the control socket answers `status`; raise with the log if vrrpd exits."""

        def ready() -> list[dict[str, Any]] | None:
            if not self.alive:
                raise self._exited_error("starting")
            try:
                return self.status(timeout=1.0) or None
            except ControlError:
                return None

        try:
            return wait_for(ready, timeout, what=f"vrrpd in {self.node.name} to answer status")
        except TimeoutError as e:
            raise VrrpdError(f"{e}; log:\n{self.log_text()[-4000:]}") from None

    def wait_state(self, name: str, state: str, timeout: float) -> dict[str, Any]:
        """Poll until virtual router `name` is in `state`; returns that status row."""

        def reached() -> dict[str, Any] | None:
            if not self.alive:
                raise self._exited_error(f"waiting for {name} to be {state}")
            row = self.router(name)
            return row if row.get("state") == state else None

        return wait_for(
            reached,
            timeout,
            what=f"{self.node.name}/{name} to be {state}",
            ignore=(ControlError, KeyError),
        )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout`; return the exit code (raise VrrpdError if it hung)."""
        if not stop_child(self.proc, timeout):
            self.kill()
            raise VrrpdError(
                f"vrrpd in {self.node.name} did not exit within {timeout}s of SIGTERM "
                f"(killed); log:\n{self.log_text()[-4000:]}"
            )
        self.node.lab._untrack(self.proc)
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit code (-9 when it was running)."""
        code = kill_child(self.proc)
        self.node.lab._untrack(self.proc)
        return code


# --- packet captures ------------------------------------------------------------------------


class Capture:
    """A tcpdump writing a pcap in a node (`Node.capture`); `packets()` reads it with scapy.

    tcpdump runs with ``-U`` (each packet written at once), so `packets()` sees what was
    captured so far while it still runs; `stop()` ends it (SIGTERM to its PID) and returns
    every packet. Times are the capture's (``pkt.time``, wall clock), good for spacing.
    """

    def __init__(
        self, node: Node, proc: subprocess.Popen[Any], pcap_path: Path, err_path: Path
    ) -> None:
        self.node = node
        self.proc = proc
        self.pcap_path = pcap_path
        self.err_path = err_path
        self._final: list[Any] | None = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stderr_text(self) -> str:
        return read_text(self.err_path)

    def wait_started(self, timeout: float = 10.0) -> None:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise LabError(
                    f"tcpdump in {self.node.name} exited with code {self.proc.returncode}: "
                    f"{self.stderr_text().strip()}"
                )
            return "listening on" in self.stderr_text()

        wait_for(started, timeout, what=f"tcpdump in {self.node.name} to start")

    def packets(self) -> list[Any]:
        """The scapy packets captured so far (a half-written last record is left out)."""
        if self._final is not None:
            return list(self._final)
        # The layers a lab capture holds; importing them registers them with the reader.
        import scapy.layers.inet
        import scapy.layers.inet6
        import scapy.layers.l2
        import scapy.layers.vrrp  # noqa: F401
        from scapy.utils import PcapReader

        out: list[Any] = []
        try:
            with PcapReader(str(self.pcap_path)) as reader:
                for pkt in reader:
                    out.append(pkt)
        except Exception:  # nothing written yet, or a record cut short: return what we have
            pass
        return out

    def wait_packets(
        self, match: Callable[[Any], bool], count: int, timeout: float, what: str
    ) -> list[Any]:
        """Poll until at least `count` captured packets satisfy `match`; return them all."""

        def enough() -> list[Any] | None:
            found = [p for p in self.packets() if match(p)]
            return found if len(found) >= count else None

        try:
            return wait_for(enough, timeout, interval=0.05, what=what)
        except TimeoutError as e:
            n = len([p for p in self.packets() if match(p)])
            raise TimeoutError(f"{e}; {n} matching of {len(self.packets())} captured") from None

    def stop(self, timeout: float = 10.0) -> list[Any]:
        """Stop tcpdump (SIGTERM, then SIGKILL after `timeout`) and return every packet."""
        if self._final is not None:
            return list(self._final)
        if not stop_child(self.proc, timeout):
            kill_child(self.proc)
        self.node.lab._untrack(self.proc)
        self._final = self.packets()
        return list(self._final)


# --- the probe, seen from the controller ----------------------------------------------------


class ProbeRun:
    """A running `netns_lab.probe`; its live events file tells when it is ready/recovered.

    Events (one per line): ``reply SEQ T_SEND T_REPLY`` (the first reply, the first after a
    gap, then at most every 50 ms), ``advert T SRC PRIORITY`` (each VRRP advert) and
    ``error TEXT``. Times are CLOCK_MONOTONIC seconds, the same clock as `time.monotonic()`.
    """

    def __init__(
        self,
        node: Node,
        proc: subprocess.Popen[Any],
        out_path: Path,
        err_path: Path,
        events_path: Path,
    ) -> None:
        self.node = node
        self.proc = proc
        self.out_path = out_path
        self.err_path = err_path
        self.events_path = events_path
        self._events: list[tuple[str, ...]] = []
        self._offset = 0
        self._result: dict[str, Any] | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        return read_text(self.err_path)

    def events(self) -> list[tuple[str, ...]]:
        """All complete event lines so far, split into fields."""
        lines, self._offset = read_lines(self.events_path, self._offset)
        for line in lines:
            if line:
                self._events.append(tuple(line.split(" ", 3)))
        return list(self._events)

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ProbeError(
                f"probe in {self.node.name} exited with code {self.proc.returncode}: "
                f"{self.stderr_text().strip() or '(no message)'}"
            )

    def wait_event(
        self, match: Callable[[tuple[str, ...]], bool], timeout: float, what: str
    ) -> tuple[str, ...]:
        def found() -> tuple[str, ...] | None:
            for ev in self.events():
                if match(ev):
                    return ev
            self._check_alive()
            return None

        return wait_for(found, timeout, what=what)

    def wait_ready(self, timeout: float = 10.0, advert_from: str | None = None) -> None:
        """Wait for the first echo reply and, if `advert_from` is given, an advert from it."""
        self.wait_event(lambda e: e[0] == "reply", timeout, "the probe's first echo reply")
        if advert_from is not None:
            self.wait_event(
                lambda e: e[0] == "advert" and e[2] == advert_from and int(e[3]) > 0,
                timeout,
                f"a VRRP advert from {advert_from} seen by the probe",
            )

    def wait_reply_sent_after(self, t: float, timeout: float) -> float:
        """Wait for a reply to an echo sent after monotonic time `t`; return its send time."""
        ev = self.wait_event(
            lambda e: e[0] == "reply" and float(e[2]) > t,
            timeout,
            "the client to get echo replies again",
        )
        return float(ev[2])

    def stop(self, timeout: float = 5.0) -> dict[str, Any]:
        """SIGTERM the probe, wait, and return its JSON result (raise ProbeError on failure)."""
        if self._result is not None:
            return self._result
        signal_child(self.proc, signal.SIGTERM)
        return self.result(timeout)

    def kill(self) -> None:
        """SIGKILL the probe if it still runs (after an error: no result wanted)."""
        kill_child(self.proc)
        self.node.lab._untrack(self.proc)

    def result(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the probe to finish by itself (``duration``) and return its result."""
        if self._result is not None:
            return self._result
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ProbeError(
                f"probe in {self.node.name} did not finish within {timeout}s"
            ) from None
        self.node.lab._untrack(self.proc)
        text = self.out_path.read_text()
        try:
            result: dict[str, Any] = json.loads(text)
        except ValueError:
            raise ProbeError(
                f"probe in {self.node.name} exited with code {self.proc.returncode} and no "
                f"result: {self.stderr_text().strip()}"
            ) from None
        if result.get("error"):
            raise ProbeError(f"probe in {self.node.name}: {result['error']}")
        self._result = result
        return result


# --- cleanup of leftovers -------------------------------------------------------------------


def cleanup(
    prefix: str | None = None,
    *,
    all_: bool = False,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Remove what labs recorded in /run/netns_lab; returns how many labs were removed.

    A lab whose controller is still running is left alone unless `force`. Processes are
    signalled only when PID and start time both match the record.
    """
    if not all_ and not prefix:
        raise LabError("cleanup: give a prefix or all_=True")
    if prefix and not PREFIX_RE.match(prefix):
        raise LabError(f"cleanup: prefix {prefix!r}: must be 2..8 characters a-z 0-9")
    paths = sorted(STATE_DIR.glob("*.json")) if all_ else [STATE_DIR / f"{prefix}.json"]
    removed = 0
    for path in paths:
        if not path.exists():
            say(f"{path.stem}: no record in {STATE_DIR}")
            continue
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            say(f"{path}: unreadable ({e}); remove it by hand")
            continue
        name = state.get("prefix", path.stem)
        owner, owner_start = state.get("owner_pid"), state.get("owner_start")
        if (
            isinstance(owner, int)
            and owner != os.getpid()
            and _same_process(owner, owner_start)
            and not force
        ):
            say(f"{name}: its lab is still running (pid {owner}); left alone (use --force)")
            continue
        for p in state.get("processes", []):
            if _same_process(p["pid"], p.get("start")):
                say(f"{name}: stopping pid {p['pid']} ({p.get('argv', '')[:80]})")
                _signal_recorded(p["pid"], p.get("start"))
        gone = []
        for ns in reversed(state.get("namespaces", [])):
            if not str(ns).startswith(name):
                say(f"{name}: namespace {ns!r} does not carry the prefix; skipped")
                continue
            for pid in _kill_netns_pids(ns):
                say(f"{name}: killed pid {pid} left in namespace {ns}")
            if _netns_exists(ns):
                _ip("netns", "del", ns, check=False)
                gone.append(ns)
        workdir = state.get("workdir")
        if workdir and Path(workdir).name.startswith(f"netns_lab-{name}-"):
            shutil.rmtree(workdir, ignore_errors=True)
        path.unlink(missing_ok=True)
        removed += 1
        say(
            f"{name}: removed"
            + (f" namespaces {' '.join(gone)}" if gone else " (no namespaces left)")
        )
    return removed
