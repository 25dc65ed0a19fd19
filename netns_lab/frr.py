"""FRR (the Debian package, 8.4.4: zebra + vrrpd) as a VRRP peer in a lab node, for interop tests.

    f = start_frr(r2, [{"vrid": 51, "priority": 100, "advertisement_interval": 200,
                        "ip": ["192.0.2.254/24"]}])
    f.wait_state(51, "Master", timeout=10)
    f.router(51)["v4"]["stats"]["adverRx"]       # `show vrrp 51 json`
    f.stop()           # SIGTERM: a master sends priority 0, its macvlan goes protodown
    f.crash()          # SIGKILL both daemons: nothing is sent, the macvlan stays as it was

What FRR needs from the system (FRR's doc/user/vrrp.rst): it does not create the interfaces
that carry the virtual MAC. For each VRID and family the operator makes a macvlan on the
router's interface, mode ``bridge`` (in ``private`` mode a backup would not hear the master),
with the virtual MAC 00:00:5e:00:01:XX (IPv4) / 00:00:5e:00:02:XX (IPv6), ``addrgenmode
random`` (its IPv6 link-local must not be the EUI-64 of the shared MAC: FRR sends IPv6
adverts from it, and two routers with the same source would both win), the virtual addresses
with their prefix, and up. FRR then only switches that macvlan's ``protodown`` (carrier off
on backup, on for master): the virtual addresses stay on it in every state, so a VIP holder
is an interface that is up *and* has carrier (``LOWER_UP``). The parent gets ``arp_ignore=1``
and ``arp_announce=2`` here, as vrrpd does for its own macvlans (RFC-NOTES): with the default
0 a backup's parent answered ARP for the VIP on its carrier-less macvlan with its own MAC
(seen in the lab). `start_frr` does all this: ``vrrp4-XX`` / ``vrrp6-XX`` (XX = VRID in
decimal) on the router's interface, kept across restarts (``addrgenmode`` is set after the
link is made: ``ip link add ... addrgenmode random type macvlan``, as FRR's doc writes it,
fails on the lab's kernel with "Address family not supported by protocol").

Each node gets its own directory ``{workdir}/{node}.frr`` (owned by the ``frr`` user, which
FRR drops to: root is not in the ``frrvty`` group its privilege code demands) holding the
configuration files, pid files, vty sockets (``--vty_socket``) and zebra's API socket
(``-z``); nothing under /etc/frr or /var/run/frr is read or written, and several nodes run
FRR at once (the lab's work directory becomes mode 0711 so that ``frr`` reaches its own
directory). The daemons run in the foreground in the node's namespace through `Node.popen`
(the lab tracks and stops them), TCP vty off (``-P 0``)::

    zebra  -u frr -g frr --vty_socket DIR -z DIR/zserv.api -P 0 -f DIR/zebra.conf -i ...
    vrrpd  (the same options, its own .conf and .pid)

with ``--log stdout`` appended to ``{workdir}/{node}.frr.log`` (both daemons). FRR also makes
``/var/tmp/frr/{daemon}.{pid}`` (its crash-log directory, removed at a clean exit): after a
SIGKILL the runner removes the directories of the PIDs it started, also at exit for a run
cut short (`running` lists what still runs, of a node or a lab).

Configuration: one mapping per virtual router, FRR's own units::

    {"vrid": 51, "version": 3, "priority": 100, "advertisement_interval": 200,  # ms, 10-40950,
     "preempt": True, "ip": ["192.0.2.254/24"], "ipv6": ["2001:db8::fe/64"],    # a multiple of 10
     "interface": "eth0"}

Addresses carry the prefix the macvlan gets (FRR's own configuration takes the bare address);
all must be documentation addresses. ``debug vrrp protocol`` and ``debug vrrp packets`` are
on, so the log names every advertisement FRR rejects (`complaints`), with microsecond time
stamps (``log timestamp precision 6``).

State comes from ``vtysh --vty_socket DIR -d vrrpd -c 'show vrrp VRID json'`` in the
namespace: per family ``status`` (``Initialize``, ``Backup``, ``Master``), ``skewTime`` and
``masterDownInterval`` (ms), ``stats`` (``adverTx``, ``adverRx``: adverts that passed its
checks, ``transitions``). FRR 8.4.4 keeps no error counter: a rejected advert is only a
debug log line (``Datagram invalid: ...``).

Timers: FRR computes Skew_Time in whole centiseconds with integer division
(`frr_skew_time_cs`), RFC 5798 §6.1 does not truncate (`vrrpd.timing.skew_time`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import subprocess
import weakref
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from pathlib import Path
from typing import Any

from .lab import (
    Lab,
    LabError,
    Node,
    check_documentation_address,
    kill_child,
    read_text,
    stop_child,
    wait_for,
)
from .wire import vmac

FRR_BIN = Path("/usr/lib/frr")
ZEBRA = FRR_BIN / "zebra"
VRRPD = FRR_BIN / "vrrpd"
VTYSH = "/usr/bin/vtysh"
FRR_USER = "frr"  # the Debian package's user; its groups include frrvty
CRASHLOG_DIR = Path("/var/tmp/frr")  # FRR's compiled-in directory for {daemon}.{pid}/

STATES = ("Initialize", "Backup", "Master")

# What FRR 8.4.4 logs (with `debug vrrp packets` / `debug vrrp protocol`) when it rejects or
# doubts a received advertisement (vrrpd/vrrp_packet.c, vrrpd/vrrp.c), e.g.
#   [VRID 51] [IPv4] Datagram invalid: Bad VRRP checksum 1234; should be 5678
#   [VRID 51] [IPv4] Datagram invalid: Advertisement contains VRID 52 which does not match ...
#   [VRID 51] [IPv4] Datagram invalid: Received advertisement with advertisement interval ...
#   [VRID 51] [IPv4] Datagram has 2 addresses, but this VRRP instance has 1
COMPLAINT_RE = re.compile(r"Datagram invalid|Datagram has \d+ addresses|does not match|unequal")

_running: weakref.WeakSet[Frr] = weakref.WeakSet()


class FrrError(LabError):
    """FRR refused its configuration, exited, or did not stop; the message has the log."""


# --- timers (pure) ---------------------------------------------------------------------------


def frr_skew_time_cs(priority: int, interval_cs: int, version: int = 3) -> int:
    """Skew_Time as FRR 8.4.4 computes it (vrrp_recalculate_timers): whole centiseconds,
    ``((256 - priority) * interval) // 256`` with the master's interval for v3 and 100 cs for
    v2. RFC 5798 §6.1 has no truncation: ``vrrpd.timing.skew_time`` is the exact value."""
    if not 1 <= priority <= 255:
        raise ValueError(f"priority must be 1..255, got {priority}")
    if not 1 <= interval_cs <= 4095:
        raise ValueError(f"interval must be 1..4095 centiseconds, got {interval_cs}")
    return ((256 - priority) * (interval_cs if version == 3 else 100)) // 256


def frr_master_down_interval_cs(priority: int, interval_cs: int, version: int = 3) -> int:
    """Master_Down_Interval as FRR computes it: 3 intervals + `frr_skew_time_cs`, in cs."""
    return 3 * interval_cs + frr_skew_time_cs(priority, interval_cs, version)


# --- configuration --------------------------------------------------------------------------

_KEYS = {"vrid", "version", "priority", "advertisement_interval", "preempt", "ip", "ipv6"}


def _addresses(
    router: Mapping[str, Any], key: str, where: str
) -> list[IPv4Interface | IPv6Interface]:
    out: list[IPv4Interface | IPv6Interface] = []
    want = 4 if key == "ip" else 6
    for text in router.get(key) or []:
        check_documentation_address(str(text), f"{where}.{key}")
        if "/" not in str(text):
            raise FrrError(f"{where}.{key}: {text!r} needs its prefix (the macvlan gets it)")
        addr = ip_interface(str(text))
        if addr.version != want:
            raise FrrError(f"{where}.{key}: {text!r} is not IPv{want}")
        out.append(addr)
    return out


def _check_router(router: Mapping[str, Any], where: str) -> None:
    unknown = set(router) - _KEYS - {"interface"}
    if unknown:
        raise FrrError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    vrid = router.get("vrid")
    if not isinstance(vrid, int) or not 1 <= vrid <= 255:
        raise FrrError(f"{where}.vrid: 1..255 is required, got {vrid!r}")
    interval = router.get("advertisement_interval", 1000)
    if not isinstance(interval, int) or not 10 <= interval <= 40950 or interval % 10:
        raise FrrError(
            f"{where}.advertisement_interval: milliseconds, a multiple of 10 in 10..40950, "
            f"got {interval!r}"
        )
    priority = router.get("priority", 100)
    if not isinstance(priority, int) or not 1 <= priority <= 254:
        raise FrrError(f"{where}.priority: 1..254 (FRR has no owner mode), got {priority!r}")
    if router.get("version", 3) not in (2, 3):
        raise FrrError(f"{where}.version: 2 or 3, got {router.get('version')!r}")
    if not router.get("ip") and not router.get("ipv6"):
        raise FrrError(f"{where}: give at least one address in ip or ipv6")


def render_config(hostname: str, routers: Sequence[Mapping[str, Any]]) -> str:
    """FRR vrrpd configuration text for these virtual routers (see the module docstring)."""
    if not routers:
        raise FrrError("frr: give at least one virtual router")
    by_interface: dict[str, list[str]] = {}
    seen: set[tuple[str, int]] = set()
    for i, r in enumerate(routers):
        where = f"router[{i}]"
        _check_router(r, where)
        ifname = str(r.get("interface", "eth0"))
        vrid = int(r["vrid"])
        if (ifname, vrid) in seen:
            raise FrrError(f"{where}: VRID {vrid} on {ifname} given twice")
        seen.add((ifname, vrid))
        lines = by_interface.setdefault(ifname, [])
        lines.append(f" vrrp {vrid} version {r.get('version', 3)}")
        lines.append(f" vrrp {vrid} priority {r.get('priority', 100)}")
        lines.append(f" vrrp {vrid} advertisement-interval {r.get('advertisement_interval', 1000)}")
        lines.append(f" {'' if r.get('preempt', True) else 'no '}vrrp {vrid} preempt")
        for key in ("ip", "ipv6"):
            lines += [f" vrrp {vrid} {key} {a.ip}" for a in _addresses(r, key, where)]
    out = [
        "! written by netns_lab.frr",
        f"hostname {hostname}",
        "log timestamp precision 6",
        "debug vrrp protocol",
        "debug vrrp packets",
    ]
    for ifname, lines in by_interface.items():
        out += [f"interface {ifname}", *lines, "exit", "!"]
    return "\n".join(out) + "\n"


def macvlan_name(family: int, vrid: int) -> str:
    """The macvlan the runner makes for a VRID: ``vrrp4-51`` / ``vrrp6-51``."""
    return f"vrrp{family}-{vrid}"


def add_macvlans(node: Node, router: Mapping[str, Any]) -> list[str]:
    """What FRR expects the operator to have made (module docstring), for one virtual router;
    a macvlan that exists already (a restart after `Frr.stop` / `Frr.crash`) is kept as it
    is, addresses included. Returns the names."""
    parent = str(router.get("interface", "eth0"))
    vrid = int(router["vrid"])
    names = []
    for family, key in ((4, "ip"), (6, "ipv6")):
        addrs = _addresses(router, key, f"vrid {vrid}")
        if not addrs:
            continue
        name = macvlan_name(family, vrid)
        names.append(name)
        if node.link(name) is not None:
            continue
        node.run(["ip", "link", "add", name, "link", parent, "type", "macvlan", "mode", "bridge"])
        mac = vmac(family, vrid)
        node.run(["ip", "link", "set", "dev", name, "address", mac, "addrgenmode", "random"])
        if family == 6:
            node.set_sysctl(f"net.ipv6.conf.{name}.accept_dad", 0)
        for a in addrs:
            nodad = ["nodad"] if family == 6 else []
            node.run(["ip", "addr", "add", str(a), "dev", name, *nodad])
        node.run(["ip", "link", "set", "dev", name, "up"])
        if family == 4:
            node.set_sysctl(f"net.ipv4.conf.{parent}.arp_ignore", 1)
            node.set_sysctl(f"net.ipv4.conf.{parent}.arp_announce", 2)
    return names


# --- processes ------------------------------------------------------------------------------


class Frr:
    """zebra + vrrpd of FRR in a lab node; see `start_frr`."""

    def __init__(
        self,
        node: Node,
        directory: Path,
        log_path: Path,
        log_offset: int,
        routers: list[dict[str, Any]],
        macvlans: list[str],
    ) -> None:
        self.node = node
        self.directory = directory
        self.log_path = log_path
        self.log_offset = log_offset  # where this run's lines start in the (appended) log
        self.routers = routers
        self.macvlans = macvlans
        self.zebra: subprocess.Popen[Any] | None = None
        self.vrrpd: subprocess.Popen[Any] | None = None

    def __repr__(self) -> str:
        return f"Frr(node={self.node.name!r}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        """Both daemons run."""
        return all(p is not None and p.poll() is None for p in (self.zebra, self.vrrpd))

    # log
    def log_text(self) -> str:
        """This run's output of both daemons."""
        return read_text(self.log_path, self.log_offset)

    def log_lines(self) -> list[str]:
        return self.log_text().splitlines()

    def complaints(self) -> list[str]:
        """Log lines in which FRR rejected or doubted a received advertisement."""
        return [line for line in self.log_lines() if COMPLAINT_RE.search(line)]

    def _exited_error(self, doing: str) -> FrrError:
        codes = {
            name: (p.poll() if p is not None else None)
            for name, p in (("zebra", self.zebra), ("vrrpd", self.vrrpd))
        }
        return FrrError(
            f"FRR in {self.node.name} exited ({codes}) while {doing}; log {self.log_path}:\n"
            f"{self.log_text()[-4000:]}"
        )

    # state
    def vtysh(self, command: str, timeout: float = 10.0) -> str:
        """One vtysh command against this node's vrrpd; its output (raises on failure)."""
        cp = self.node.run(
            [
                VTYSH,
                *("--vty_socket", str(self.directory), "--config_dir", str(self.directory)),
                *("-d", "vrrpd", "-c", command),
            ],
            check=False,
            timeout=timeout,
        )
        if cp.returncode != 0:
            raise FrrError(
                f"{self.node.name}: vtysh -c {command!r} failed (exit {cp.returncode}): "
                f"{(cp.stderr + cp.stdout).strip()}"
            )
        return cp.stdout

    def router(self, vrid: int) -> dict[str, Any]:
        """``show vrrp VRID json`` of this node's FRR: the one virtual router's object."""
        rows = json.loads(self.vtysh(f"show vrrp {vrid} json") or "[]")
        if not rows:
            raise KeyError(f"{self.node.name}: FRR has no VRID {vrid}")
        return dict(rows[0])

    def family(self, vrid: int, family: int = 4) -> dict[str, Any]:
        """The ``v4`` / ``v6`` part of `router`: status, skewTime, masterDownInterval, stats."""
        return dict(self.router(vrid)[f"v{family}"])

    def state(self, vrid: int, family: int = 4) -> str:
        """``Initialize`` / ``Backup`` / ``Master``, or ``STOPPED`` once a daemon exited."""
        if not self.alive:
            return "STOPPED"
        return str(self.family(vrid, family)["status"])

    def stats(self, vrid: int, family: int = 4) -> dict[str, int]:
        return {k: int(v) for k, v in self.family(vrid, family)["stats"].items()}

    def wait_state(self, vrid: int, state: str, timeout: float, family: int = 4) -> dict[str, Any]:
        """Poll until VRID's `family` router is in `state`; returns its ``v4``/``v6`` object."""
        if state not in STATES:
            raise FrrError(f"state must be one of {STATES}, got {state!r}")
        last: list[object] = [None]

        def reached() -> dict[str, Any] | None:
            if not self.alive:
                raise self._exited_error(f"waiting for VRID {vrid} to be {state}")
            fam = self.family(vrid, family)
            last[0] = fam.get("status")
            return fam if fam.get("status") == state else None

        try:
            return wait_for(
                reached,
                timeout,
                interval=0.05,
                what=f"FRR {self.node.name}/VRID {vrid} IPv{family} {state}",
                ignore=(FrrError, KeyError),
            )
        except TimeoutError as e:
            raise TimeoutError(
                f"{e}; now {last[0]}; log tail:\n{self.log_text()[-2000:]}"
            ) from None

    def wait_started(self, timeout: float = 20.0) -> None:
        """Wait until vrrpd answers with every configured VRID out of Initialize."""

        def started() -> bool:
            if not self.alive:
                raise self._exited_error("starting")
            for r in self.routers:
                fam = 4 if r.get("ip") else 6
                if self.family(int(r["vrid"]), fam)["status"] == "Initialize":
                    return False
            return True

        try:
            wait_for(
                started,
                timeout,
                interval=0.05,
                what=f"FRR in {self.node.name} to start",
                ignore=(FrrError, KeyError, ValueError),
            )
        except TimeoutError as e:
            raise FrrError(f"{e}; log:\n{self.log_text()[-4000:]}") from None

    # stopping: our children by their Popen (unreaped: the PIDs cannot have been reused)
    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM to vrrpd (a master sends priority 0 and puts its macvlan in protodown
        through zebra), then to zebra. Returns vrrpd's exit code; a hang is killed and raises."""
        hung = []
        try:
            for name, proc in (("vrrpd", self.vrrpd), ("zebra", self.zebra)):
                if proc is None:
                    continue
                if proc is self.zebra and proc.poll() is None:
                    self._wait_protodown(timeout)
                if not stop_child(proc, timeout):
                    kill_child(proc)
                    hung.append(name)
                self.node.lab._untrack(proc)
        finally:
            self._forget()
        if hung:
            raise FrrError(
                f"FRR in {self.node.name}: {', '.join(hung)} did not exit within {timeout}s of "
                f"SIGTERM (killed); log:\n{self.log_text()[-4000:]}"
            )
        return self.vrrpd.returncode if self.vrrpd is not None else 0

    def _wait_protodown(self, timeout: float) -> None:
        """After vrrpd's shutdown, give zebra the time to apply its protodown requests (it
        receives them as vrrpd exits): until no macvlan of ours has carrier, or 3 s."""
        with contextlib.suppress(TimeoutError):
            wait_for(
                lambda: all(
                    "LOWER_UP" not in (self.node.link(m) or {}).get("raw", {}).get("flags", [])
                    for m in self.macvlans
                ),
                min(timeout, 3.0),
                what="FRR's macvlans in protodown",
            )

    def crash(self) -> None:
        """A hard failure: SIGKILL vrrpd and zebra. Nothing is sent; the macvlans keep their
        state (a master's stays up, with the VIP)."""
        try:
            for proc in (self.vrrpd, self.zebra):
                if proc is not None:
                    kill_child(proc)
                    self.node.lab._untrack(proc)
        finally:
            self._forget()

    def _forget(self) -> None:
        """No longer running: remove FRR's crash-log directories of our (dead) children."""
        for daemon, proc in (("zebra", self.zebra), ("vrrpd", self.vrrpd)):
            if proc is not None and proc.poll() is not None:
                # `ip netns exec` execs the daemon: the Popen's PID is the daemon's own
                shutil.rmtree(CRASHLOG_DIR / f"{daemon}.{proc.pid}", ignore_errors=True)
        _running.discard(self)

    def _start_daemon(self, binary: Path, conf: Path, logf: Any) -> subprocess.Popen[Any]:
        name = binary.name
        argv = [
            str(binary),
            *("-u", FRR_USER, "-g", FRR_USER),
            *("--vty_socket", str(self.directory), "-z", str(self.directory / "zserv.api")),
            *("-A", "127.0.0.1", "-P", "0"),
            *("-f", str(conf), "-i", str(self.directory / f"{name}.pid")),
            *("--log", "stdout"),
        ]
        return self.node.popen(argv, stdout=logf, stderr=subprocess.STDOUT)


def start_frr(node: Node, routers: list[dict[str, Any]], *, wait: bool = True) -> Frr:
    """Make the macvlans (first start on this node only), write the configuration, start
    zebra then vrrpd in the node's namespace and (with `wait`) wait until every virtual
    router has left Initialize. See the module docstring for `routers`."""
    if any(f.alive for f in running(node)):
        raise FrrError(f"{node.name}: FRR already running")
    hostname = f"{node.lab.prefix}-{node.name}"
    text = render_config(hostname, routers)  # checks everything before touching the node
    workdir = node.lab.workdir
    directory = workdir / f"{node.name}.frr"
    directory.mkdir(exist_ok=True)
    os.chmod(workdir, 0o711)  # the frr user must reach its directory (not list the others)
    shutil.chown(directory, FRR_USER, FRR_USER)
    for stale in ("zebra.vty", "vrrpd.vty", "zserv.api", "zebra.pid", "vrrpd.pid"):
        (directory / stale).unlink(missing_ok=True)  # from a killed run: no live FRR here
    macvlans = [m for r in routers for m in add_macvlans(node, r)]
    (directory / "zebra.conf").write_text(f"hostname {hostname}\n")
    (directory / "vrrpd.conf").write_text(text)
    (directory / "vtysh.conf").write_text("")
    log = workdir / f"{node.name}.frr.log"
    with open(log, "ab") as logf:
        logf.write(f"--- netns_lab: starting FRR in {node.ns} ---\n".encode())
        logf.flush()
        frr = Frr(node, directory, log, logf.tell(), [dict(r) for r in routers], macvlans)
        _running.add(frr)
        try:
            frr.zebra = frr._start_daemon(ZEBRA, directory / "zebra.conf", logf)
            zebra = frr.zebra
            wait_for(
                lambda: (directory / "zebra.vty").exists() or zebra.poll() is not None,
                15.0,
                what=f"zebra in {node.name} to open its vty socket",
            )
            if zebra.poll() is not None:
                raise frr._exited_error("starting zebra")
            frr.vrrpd = frr._start_daemon(VRRPD, directory / "vrrpd.conf", logf)
            if wait:
                frr.wait_started()
        except BaseException:  # everything started goes again, by PID
            with contextlib.suppress(Exception):
                frr.stop(timeout=5.0)
            raise
    return frr


def running(where: Node | Lab | None = None) -> list[Frr]:
    """The FRR instances started here and not yet stopped: of one node, one lab, or all."""
    return [f for f in list(_running) if where is None or where in (f.node, f.node.lab)]


@atexit.register
def _stop_left_running() -> None:
    """At exit, what a run cut short left: stopped (if its lab has not already stopped it),
    crash-log directories removed."""
    for f in running():
        with contextlib.suppress(Exception):
            f.stop(timeout=5.0)
