"""keepalived (the Debian package, 2.2.7) as a VRRP peer in a lab node, for interop tests.

    ka = start_keepalived(r2, [{"name": "VI_1", "virtual_router_id": 51, "priority": 100,
                                "advert_int": 0.2, "virtual_ipaddress": ["192.0.2.254/24"]}])
    ka.wait_state("VI_1", "BACKUP", timeout=10)
    ...
    ka.stop()          # SIGTERM: its VRRP child sends priority 0, removes its VIPs, exits

`start_keepalived` writes ``{workdir}/{node}.keepalived.conf``, checks it with
``keepalived -t`` (a mistake fails at once, naming the line) and runs, in the node's
namespace through `Node.popen` (so the lab tracks and stops it)::

    keepalived -n -P -l -D -G -f CONF -p PID -r VRRP_PID -c CHK_PID -b BFD_PID

(no fork, VRRP subsystem only, log to the console with details, no syslog; every pid file
per node in the lab's work directory, so instances never collide). Console output (both
processes write it, line by line) is appended to ``{workdir}/{node}.keepalived.log``.

State comes from that log: keepalived 2.2.7 prints ``(NAME) Entering MASTER STATE``,
``(NAME) Entering BACKUP STATE (init)``, ``(NAME) Entering FAULT STATE``. `complaints()`
lists the lines in which keepalived rejects a received advertisement; the patterns are the
ones 2.2.7 was seen to print for hand-made bad adverts (bad checksum, TTL, version, type,
length, password, interval, address list). Note it prints nothing for a bad IPv6 checksum:
the kernel verifies that one (IPV6_CHECKSUM) and drops the packet silently.

Configuration: each instance is a mapping rendered generically with keepalived's own
keywords (``True`` = a bare keyword, a list = a ``{ }`` block of lines, a mapping = a block
of ``key value`` lines, anything else = ``key value``), plus ``name``; ``interface eth0``,
``state BACKUP`` and ``strict_mode off`` (no vrrp_strict) are the defaults. Global
definitions default to a unique ``router_id`` per lab node, ``vrrp_version 3`` (2.2.7's
default is 2), ``script_user root`` and ``vrrp_garp_master_refresh 0``. Addresses in
``virtual_ipaddress``, ``unicast_peer`` and ``unicast_src_ip`` must be documentation
addresses, like everything in a lab.

Processes: keepalived runs as a parent and a VRRP child (fork without exec: the same command
line). `stop()` sends SIGTERM to the parent, which stops the child; `crash()` freezes the
parent (SIGSTOP, so it cannot respawn the child), SIGKILLs the child, then the parent. The
parent is signalled through its Popen (our unreaped child: its PID cannot have been reused);
the VRRP child's PID comes from keepalived's pid file (or the one read at start-up) and is
signalled only after checking that ``/proc/PID/cmdline`` is keepalived running this node's
configuration file. Nothing is ever signalled by name. An ``atexit`` hook (registered after
the lab's, so it runs first) stops a keepalived left running; the lab's own cleanup (SIGTERM
to the tracked parent, then killing what is left in its namespaces) covers the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import signal
import subprocess
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .lab import (
    LabError,
    Node,
    _proc_start_time,
    check_documentation_address,
    read_text,
    signal_child,
    signal_pid,
    stop_child,
    wait_dead,
    wait_for,
)

KEEPALIVED = "/usr/sbin/keepalived"

STATE_RE = re.compile(r"\((?P<name>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")

# What keepalived 2.2.7 prints when it rejects a received advertisement (seen with
# adverts from netns_lab.craft against it), e.g.
#   (VI_1) Invalid VRRPv3 checksum            (VI_1) Invalid VRRPv2 checksum
#   (VI_1) invalid TTL/HL. Received 64 and expect 255
#   (VI_1) wrong version. Received 2 and expect 3
#   (VI_1) Invalid packet type. 2 and expect 1
#   IPv4 VRRP packet too short - 26 bytes
#   (VI_1) received an invalid passwd!        (VI_1) received a 0 auth, expecting 1!
#   (VI_1) advertisement interval mismatch mine=1 sec rcv'd=2 sec
#   (VI_1) ip address associated with VRID 51 not present in MASTER advert: 192.0.2.254
#   (VI_1) received an unexpected ip number count 1, expected 2!
# plus broader words, so that a message this list never saw is still caught.
COMPLAINT_RE = re.compile(
    r"invalid|wrong|mismatch|unexpected|not present|too short|expecting|expect \d"
    r"|bad |checksum|discard|malformed|unknown|error",
    re.IGNORECASE,
)

# Protocol as usual, not a rejected packet: a preempting backup ignores a lower-priority master
# (RFC 5798 §6.4.2), "(VI_1) received lower priority (100) advert from 192.0.2.1 - discarding".
BENIGN_RE = re.compile(r"received lower priority \(\d+\) advert from \S+ - discarding")

FORBIDDEN_IN_VALUES = re.compile(r"[{}\n\r#!]")

_running: weakref.WeakSet[Keepalived] = weakref.WeakSet()
_by_node: weakref.WeakKeyDictionary[Node, Keepalived] = weakref.WeakKeyDictionary()


class KeepalivedError(LabError):
    """keepalived refused its configuration, exited, or did not stop; the message has the log."""


# --- configuration --------------------------------------------------------------------------


def _atom(value: object, where: str) -> str:
    if isinstance(value, bool):
        raise KeepalivedError(f"{where}: a boolean only makes sense as a bare keyword")
    if isinstance(value, float):
        text = f"{value:g}" if value != int(value) else str(int(value))
    else:
        text = str(value)
    if not text or FORBIDDEN_IN_VALUES.search(text):
        raise KeepalivedError(f"{where}: value {text!r} is empty or has {{ }} # ! or a newline")
    return text


def _render_block(items: Mapping[str, Any], indent: str, where: str) -> list[str]:
    lines: list[str] = []
    for key, value in items.items():
        if not re.fullmatch(r"[a-z0-9_]+", key):
            raise KeepalivedError(f"{where}: {key!r} is not a keepalived keyword")
        here = f"{where}.{key}"
        if value is None or value is False:
            continue
        if value is True:
            lines.append(f"{indent}{key}")
        elif isinstance(value, Mapping):
            lines.append(f"{indent}{key} {{")
            lines.extend(_render_block(value, indent + "    ", here))
            lines.append(f"{indent}}}")
        elif isinstance(value, list | tuple):
            lines.append(f"{indent}{key} {{")
            lines.extend(f"{indent}    {_atom(v, here)}" for v in value)
            lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}{key} {_atom(value, here)}")
    return lines


def _check_addresses(instance: Mapping[str, Any], where: str) -> None:
    for vip in instance.get("virtual_ipaddress") or []:
        # "192.0.2.254/24 dev eth0 ...": the address is the first word
        check_documentation_address(str(vip).split()[0], f"{where}.virtual_ipaddress")
    for peer in instance.get("unicast_peer") or []:
        check_documentation_address(str(peer).split()[0], f"{where}.unicast_peer")
    if instance.get("unicast_src_ip"):
        check_documentation_address(str(instance["unicast_src_ip"]), f"{where}.unicast_src_ip")


def render_config(instances: Sequence[Mapping[str, Any]], global_defs: Mapping[str, Any]) -> str:
    """keepalived.conf text for these instances (see the module docstring for the mapping)."""
    if not instances:
        raise KeepalivedError("keepalived: give at least one vrrp_instance")
    out = ["# written by netns_lab.keepalived", "global_defs {"]
    out += _render_block(global_defs, "    ", "global_defs")
    out.append("}")
    names: set[str] = set()
    for i, inst in enumerate(instances):
        where = f"vrrp_instance[{i}]"
        name = str(inst.get("name", ""))
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", name):
            raise KeepalivedError(f"{where}.name: 1..32 of A-Z a-z 0-9 _ . -, got {name!r}")
        if name in names:
            raise KeepalivedError(f"{where}.name: {name!r} used twice")
        names.add(name)
        if "virtual_router_id" not in inst:
            raise KeepalivedError(f"{where}: virtual_router_id is required")
        _check_addresses(inst, where)
        body: dict[str, Any] = {"interface": "eth0", "state": "BACKUP", "strict_mode": "off"}
        body.update({k: v for k, v in inst.items() if k != "name"})
        out.append(f"vrrp_instance {name} {{")
        out += _render_block(body, "    ", where)
        out.append("}")
    return "\n".join(out) + "\n"


# --- processes ------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class Keepalived:
    """One keepalived (parent + VRRP child) in a lab node; see `start_keepalived`."""

    def __init__(
        self,
        node: Node,
        proc: subprocess.Popen[Any],
        *,
        conf_path: Path,
        log_path: Path,
        log_offset: int,
        pid_path: Path,
        vrrp_pid_path: Path,
        instances: list[dict[str, Any]],
    ) -> None:
        self.node = node
        self.proc = proc
        self.conf_path = conf_path
        self.log_path = log_path
        self.log_offset = log_offset  # where this run's lines start in the (appended) log
        self.pid_path = pid_path
        self.vrrp_pid_path = vrrp_pid_path
        self.instances = instances
        self.vrrp_pid: int | None = None  # the VRRP child, once started
        self.started = time.monotonic()
        self._hook_registered = False

    def __repr__(self) -> str:
        return (
            f"Keepalived(node={self.node.name!r}, pid={self.pid}, vrrp_pid={self.vrrp_pid}, "
            f"alive={self.alive})"
        )

    @property
    def pid(self) -> int:
        """The parent's PID (``ip netns exec`` execs keepalived: the Popen's own PID)."""
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    # log and state
    def log_text(self) -> str:
        """This run's console output (both processes)."""
        return read_text(self.log_path, self.log_offset)

    def log_lines(self) -> list[str]:
        return self.log_text().splitlines()

    def states(self) -> dict[str, str]:
        """Each instance's last state from the log (instances that logged none are absent)."""
        out: dict[str, str] = {}
        for line in self.log_lines():
            m = STATE_RE.search(line)
            if m:
                out[m.group("name")] = m.group("state")
        return out

    def state(self, name: str) -> str | None:
        """MASTER / BACKUP / FAULT as last logged, ``STOPPED`` once the process has exited,
        None before the instance logged a state."""
        if not self.alive:
            return "STOPPED"
        return self.states().get(name)

    def transitions(self, name: str, state: str) -> int:
        """How many times instance `name` entered `state` in this run."""
        return sum(
            1
            for line in self.log_lines()
            if (m := STATE_RE.search(line)) and m["name"] == name and m["state"] == state
        )

    def complaints(self) -> list[str]:
        """Log lines in which keepalived rejected or complained about a received advert."""
        out = []
        for line in self.log_lines():
            text = line.split(": ", 1)[-1]  # without the time stamp
            if COMPLAINT_RE.search(text) and not BENIGN_RE.search(text):
                out.append(line)
        return out

    def _exited_error(self, doing: str) -> KeepalivedError:
        return KeepalivedError(
            f"keepalived in {self.node.name} exited with code {self.proc.returncode} while "
            f"{doing}; log {self.log_path}:\n{self.log_text()[-4000:]}"
        )

    def wait_log(self, pattern: str, timeout: float, what: str | None = None) -> str:
        """Poll until a line of this run's log matches regex `pattern`; return the line."""
        rx = re.compile(pattern)

        def found() -> str | None:
            for line in self.log_lines():
                if rx.search(line):
                    return line
            if not self.alive:
                raise self._exited_error(f"waiting for {pattern!r}")
            return None

        try:
            return wait_for(found, timeout, what=what or f"keepalived log line {pattern!r}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; log tail:\n{self.log_text()[-2000:]}") from None

    def wait_state(self, name: str, state: str, timeout: float) -> str:
        """Poll the log until instance `name` is in `state`; return it."""

        def reached() -> str | None:
            if not self.alive:
                raise self._exited_error(f"waiting for {name} to be {state}")
            return state if self.states().get(name) == state else None

        try:
            return wait_for(reached, timeout, what=f"keepalived {self.node.name}/{name} {state}")
        except TimeoutError as e:
            raise TimeoutError(
                f"{e}; now {self.states().get(name)}; log tail:\n{self.log_text()[-2000:]}"
            ) from None

    def wait_started(self, timeout: float = 15.0) -> None:
        """Wait for ``Startup complete`` and the VRRP child's pid file (a checked PID)."""
        self.wait_log(r"Startup complete", timeout, f"keepalived in {self.node.name} to start")

        def child() -> int | None:
            if not self.alive:
                raise self._exited_error("starting")
            pid = _read_pid(self.vrrp_pid_path)
            return pid if pid is not None and self._is_ours(pid) else None

        self.vrrp_pid = wait_for(child, timeout, what=f"{self.vrrp_pid_path} to name our child")

    # signals, by checked PID only
    def _is_ours(self, pid: int) -> bool:
        """`pid` runs keepalived with this node's configuration file (and is not a zombie)."""
        argv = _cmdline(pid)
        return (
            bool(argv)
            and Path(argv[0]).name == "keepalived"
            and str(self.conf_path) in argv
            and _proc_start_time(pid) is not None  # not a zombie, not gone
        )

    def _child_pid(self) -> int | None:
        """The VRRP child's PID if it still runs (pid file, else the one seen at start-up)."""
        for pid in (_read_pid(self.vrrp_pid_path), self.vrrp_pid):
            if pid is not None and pid != self.pid and self._is_ours(pid):
                return pid
        return None

    # The parent is our own unreaped child (`signal_child`): its PID cannot have been reused,
    # no cmdline check needed (right after Popen it may still be `ip netns exec`).

    def _signal(self, pid: int, sig: int) -> None:
        """Signal a PID that is not our child, after checking it is our keepalived."""
        signal_pid(pid, sig, lambda: self._is_ours(pid))

    def signal_vrrp(self, sig: int) -> bool:
        """Send `sig` (SIGSTOP, SIGCONT, ...) to the VRRP child, after checking its PID;
        False if it does not run."""
        child = self._child_pid()
        if child is None:
            return False
        self._signal(child, sig)
        return True

    def _wait_child_gone(self, pid: int | None, timeout: float) -> bool:
        return pid is None or wait_dead(
            lambda: self._is_ours(pid), timeout, f"keepalived child {pid}"
        )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM to the parent (its VRRP child sends priority 0 and removes its VIPs);
        wait up to `timeout`. Returns the exit code; a hang is killed and raises."""
        child = self._child_pid()
        if not stop_child(self.proc, timeout):
            self.crash()
            raise KeepalivedError(
                f"keepalived in {self.node.name} did not exit within {timeout}s of SIGTERM "
                f"(killed); log:\n{self.log_text()[-4000:]}"
            )
        if not self._wait_child_gone(child, timeout):
            assert child is not None
            self._signal(child, signal.SIGKILL)
            self._wait_child_gone(child, 5.0)
            raise KeepalivedError(
                f"keepalived in {self.node.name}: VRRP child {child} outlived its parent "
                f"(killed); log:\n{self.log_text()[-4000:]}"
            )
        self._forget()
        return self.proc.returncode

    def crash(self) -> int:
        """A hard failure: SIGSTOP the parent (no respawn), SIGKILL the VRRP child, SIGKILL
        the parent. No priority 0 is sent and the VIPs stay where they are."""
        child = self._child_pid()
        signal_child(self.proc, signal.SIGSTOP)
        if child is not None:
            self._signal(child, signal.SIGKILL)
            self._wait_child_gone(child, 5.0)
        signal_child(self.proc, signal.SIGKILL)
        self.proc.wait(10)
        self._forget()
        return self.proc.returncode

    def _forget(self) -> None:
        _running.discard(self)
        if _by_node.get(self.node) is self:
            del _by_node[self.node]
        if self._hook_registered:
            atexit.unregister(self._atexit)
            self._hook_registered = False

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=5.0)


def start_keepalived(
    node: Node,
    instances: list[dict[str, Any]],
    *,
    global_defs: dict[str, Any] | None = None,
    wait: bool = True,
) -> Keepalived:
    """Write this node's keepalived.conf, check it (``keepalived -t``), start keepalived in
    the node's namespace and (with `wait`) wait until it has started its VRRP child.

    `instances`: one mapping per ``vrrp_instance`` (``name`` plus keepalived keywords);
    `global_defs`: added to / overriding the defaults (a value of None drops a default).
    """
    running = _by_node.get(node)
    if running is not None and running.alive:
        raise KeepalivedError(f"{node.name}: keepalived already running (pid {running.pid})")
    lab = node.lab
    workdir = lab.workdir
    base = f"{node.name}.keepalived"
    conf = workdir / f"{base}.conf"
    log = workdir / f"{base}.log"
    pid, vrrp_pid = workdir / f"{base}.pid", workdir / f"{base}.vrrp.pid"
    chk_pid, bfd_pid = workdir / f"{base}.checkers.pid", workdir / f"{base}.bfd.pid"
    defs: dict[str, Any] = {
        "router_id": f"{lab.prefix}_{node.name}",
        "vrrp_version": 3,
        "script_user": "root",
        "vrrp_garp_master_refresh": 0,
    }
    defs.update(global_defs or {})
    conf.write_text(render_config(instances, {k: v for k, v in defs.items() if v is not None}))
    check = node.run([KEEPALIVED, "-t", "-f", str(conf)], check=False)
    if check.returncode != 0:
        raise KeepalivedError(
            f"{node.name}: keepalived -t rejected {conf} (exit {check.returncode}):\n"
            f"{(check.stderr + check.stdout).strip()}\n--- config ---\n{conf.read_text()}"
        )
    for stale in (pid, vrrp_pid, chk_pid, bfd_pid):
        stale.unlink(missing_ok=True)  # no live keepalived of ours uses them (checked above)
    argv = [
        KEEPALIVED,
        *("-n", "-P", "-l", "-D", "-G"),
        *("-f", str(conf), "-p", str(pid), "-r", str(vrrp_pid)),
        *("-c", str(chk_pid), "-b", str(bfd_pid)),
    ]
    with open(log, "ab") as logf:
        logf.write(f"--- netns_lab: starting keepalived in {node.ns} ---\n".encode())
        logf.flush()
        offset = logf.tell()
        proc = node.popen(argv, stdout=logf, stderr=subprocess.STDOUT)
    ka = Keepalived(
        node,
        proc,
        conf_path=conf,
        log_path=log,
        log_offset=offset,
        pid_path=pid,
        vrrp_pid_path=vrrp_pid,
        instances=[dict(i) for i in instances],
    )
    _running.add(ka)
    _by_node[node] = ka
    atexit.register(ka._atexit)  # after the lab's own hook: runs before it (LIFO)
    ka._hook_registered = True
    if wait:
        try:
            ka.wait_started()
        except BaseException:
            with contextlib.suppress(Exception):
                ka.stop(timeout=5.0)
            raise
    return ka


def running(node: Node | None = None) -> list[Keepalived]:
    """The keepalived processes started here and not yet stopped (of one node, or all)."""
    return [k for k in list(_running) if node is None or k.node is node]


def stop_all(lab: object | None = None, timeout: float = 10.0) -> list[str]:
    """Stop every keepalived started here (of one lab, or all); returns error messages."""
    errors = []
    for ka in running():
        if lab is not None and ka.node.lab is not lab:
            continue
        try:
            ka.stop(timeout)
        except Exception as e:
            errors.append(f"{ka.node.name}: {e}")
    return errors
