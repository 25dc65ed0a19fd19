"""Chaos in the lab: faults, the facts they are judged by, and scenario runs (vrrpd and/or
keepalived 2.2.7), for ``python -m netns_lab chaos`` and tests/netns/test_chaos.py.

Topology of every scenario: r1 (192.0.2.1, priority 200) and r2 (192.0.2.2, priority 100)
share VRID 51 and 192.0.2.254/24 with preemption; a client c1 (192.0.2.100) pings the VIP
every 20 ms. r1 is the expected holder before the fault and once it has cleared.

The faults (each an object with ``apply()``/``clear()``, a context manager, cleared on every
exit path; nftables rules live in a table of their own, ``chaosN``):

* `Loss`: N % of frames dropped at random (``numgen random mod 100 < N drop``), on the bridge
  (every forwarded frame) or at one router's ingress (``netdev``);
* `Cut`: frames from one bridge port to another dropped: `one_way` is A -> B only;
  `Partition` cuts groups from each other and heals in a chosen order (`heal`);
* `LinkDown`, `Recreate` (the interface deleted, then re-created with the same name, MAC and
  address: a new index), `Freeze` (SIGSTOP / SIGCONT of the daemon's VRRP process);
* `VipDeleted`, `VipAdded`: the VIP changed by hand;
* `RestartStorm`: the daemon stopped (SIGTERM, or SIGKILL) and started N times in a row.

The facts (`Recorder`): a watcher in each router and in the client (`netns_lab.chaos_watch`,
netlink events stamped with CLOCK_MONOTONIC) gives links, addresses and the client's
neighbour entry for the VIP; a thread reads each daemon's state from its log. The pure
`netns_lab.chaos_rules` merges them into a timeline and judges it; snapshots of links,
addresses, nftables tables and sysctls taken before the daemons start and after they stop
show what leaked.

Waits poll a condition with a deadline; the only fixed durations are the experiment's own
(how long a fault stays on once its effect is seen, the loss window).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import chaos_rules as rules
from .chaos_rules import (
    CLIENT,
    HEAL_ORDERS,
    LOSER,
    SCENARIOS,
    WINNER,
    NodeView,
    Observation,
    Phases,
    Result,
    Snapshot,
)
from .failover import VIP, VIP_ADDR, interval_arg, virtual_router
from .keepalived import KEEPALIVED, STATE_RE, Keepalived, start_keepalived
from .lab import (
    Lab,
    LabError,
    Node,
    Vrrpd,
    _ip,
    _run,
    kill_child,
    master_down_interval,
    read_lines,
    read_text,
    signal_child,
    stop_child,
    wait_for,
)

ADDRESSES = {WINNER: ("192.0.2.1/24", 200), LOSER: ("192.0.2.2/24", 100)}
CLIENT_ADDRESS = "192.0.2.100/24"
FINAL_STATES = {WINNER: "MASTER", LOSER: "BACKUP"}
IMPLS = ("vrrpd", "keepalived")
KA_NAME = "VI_1"
PING_INTERVAL = "0.02"
SYSCTL_PATHS = (
    "/proc/sys/net/ipv4/conf",
    "/proc/sys/net/ipv6/conf",
    "/proc/sys/net/ipv4/ip_nonlocal_bind",
    "/proc/sys/net/ipv6/ip_nonlocal_bind",
    "/proc/sys/net/ipv4/ip_forward",
)

_tables = itertools.count(1)

Say = Callable[[str], None]


class ChaosError(LabError):
    """A scenario could not be run (not: an invariant was broken; that is a result)."""


# --- the daemons, one interface for vrrpd and keepalived ------------------------------------


class Peer(ABC):
    """One router's VRRP daemon. State and MASTER entries come from its log (read
    incrementally): the same source for both implementations."""

    impl = ""

    def __init__(self, node: Node, priority: int, interval: float, vmac: bool) -> None:
        self.node = node
        self.priority = priority
        self.interval = interval
        self.vmac = vmac
        self._lock = threading.Lock()
        self._offset = self._size()  # lines before this are another run's
        self._state = "STOPPED"
        self._entries = 0

    @property
    @abstractmethod
    def log_path(self) -> Path: ...

    @property
    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def _launch(self) -> None: ...

    @abstractmethod
    def wait_ready(self, timeout: float) -> None: ...

    @abstractmethod
    def stop(self) -> None:
        """Graceful: the daemon gives up mastership (priority 0) and removes its VIPs."""

    @abstractmethod
    def kill(self) -> None:
        """Hard: SIGKILL, nothing is cleaned up."""

    @abstractmethod
    def pause(self) -> None: ...

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    def _parse(self, line: str) -> str | None:
        """The state a log line says the router entered, or None."""

    def _size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def start(self) -> None:
        with self._lock:
            self._scan()  # the previous run's last lines
            self._offset = self._size()
            self._state = "INIT"
        self._launch()

    def _scan(self) -> None:
        lines, self._offset = read_lines(self.log_path, self._offset)
        for line in lines:
            state = self._parse(line)
            if state is not None:
                self._state = state
                self._entries += state == "MASTER"

    def state(self) -> str:
        """MASTER, BACKUP, FAULT, INIT (started, no state yet), STOPPING or STOPPED."""
        with self._lock:
            self._scan()
            return self._state if self.alive else "STOPPED"

    def master_entries(self) -> int:
        """How many times the router became master since this object was made (all runs)."""
        with self._lock:
            self._scan()
            return self._entries

    def log_tail(self, n: int = 3000) -> str:
        return f"--- {self.impl} in {self.node.name} ---\n{read_text(self.log_path)[-n:]}"


VRRPD_STATE_RE = re.compile(r" gw: state \S+ -> (?P<state>[A-Z]+) reason=")


class VrrpdPeer(Peer):
    impl = "vrrpd"

    def __init__(self, node: Node, priority: int, interval: float, vmac: bool) -> None:
        self.d: Vrrpd | None = None
        super().__init__(node, priority, interval, vmac)

    def table(self) -> dict[str, Any]:
        t = virtual_router(self.priority, self.interval)
        if self.vmac:
            t.update(use_vmac=True, accept_mode=False)
        return t

    @property
    def log_path(self) -> Path:
        return self.node.lab.workdir / f"{self.node.name}.log"

    @property
    def alive(self) -> bool:
        return self.d is not None and self.d.alive

    def _launch(self) -> None:
        self.d = self.node.start_vrrpd([self.table()])

    def wait_ready(self, timeout: float) -> None:
        assert self.d is not None
        self.d.wait_ready(timeout)

    def stop(self) -> None:
        if self.d is not None and self.d.alive:
            self.d.stop()

    def kill(self) -> None:
        if self.d is not None:
            self.d.kill()

    def pause(self) -> None:
        assert self.d is not None
        signal_child(self.d.proc, signal.SIGSTOP)

    def resume(self) -> None:
        if self.d is not None:
            signal_child(self.d.proc, signal.SIGCONT)

    def _parse(self, line: str) -> str | None:
        m = VRRPD_STATE_RE.search(line)
        if m is None:
            return None
        state = m["state"]
        return "INIT" if state == "INITIALIZE" else state


KA_STOPPING_RE = re.compile(r": Stopping$")


class KeepalivedPeer(Peer):
    impl = "keepalived"

    def __init__(self, node: Node, priority: int, interval: float, vmac: bool) -> None:
        self.k: Keepalived | None = None
        super().__init__(node, priority, interval, vmac)

    def instance(self) -> dict[str, Any]:
        inst: dict[str, Any] = {
            "name": KA_NAME,
            "interface": "eth0",
            "virtual_router_id": virtual_router(self.priority, self.interval)["vrid"],
            "priority": self.priority,
            "advert_int": self.interval,
            "virtual_ipaddress": [VIP],
        }
        if self.vmac:
            inst["use_vmac"] = True
        return inst

    @property
    def log_path(self) -> Path:
        return self.node.lab.workdir / f"{self.node.name}.keepalived.log"

    @property
    def alive(self) -> bool:
        return self.k is not None and self.k.alive

    def _launch(self) -> None:
        self.k = start_keepalived(self.node, [self.instance()], wait=False)

    def wait_ready(self, timeout: float) -> None:
        assert self.k is not None
        self.k.wait_started(timeout)

    def stop(self) -> None:
        if self.k is not None and self.k.alive:
            self.k.stop()

    def kill(self) -> None:
        if self.k is not None and self.k.alive:
            self.k.crash()

    def _vrrp_signal(self, sig: int) -> None:
        if self.k is None or not self.k.signal_vrrp(sig):
            raise ChaosError(f"keepalived in {self.node.name}: no VRRP child to signal")

    def pause(self) -> None:
        self._vrrp_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.k is not None:
            self.k.signal_vrrp(signal.SIGCONT)

    def _parse(self, line: str) -> str | None:
        if KA_STOPPING_RE.search(line):
            return "STOPPING"  # it logs no state on the way out, and takes about a second
        m = STATE_RE.search(line)
        return m["state"] if m is not None and m["name"] == KA_NAME else None


def make_peer(impl: str, node: Node, priority: int, interval: float, vmac: bool) -> Peer:
    if impl == "vrrpd":
        return VrrpdPeer(node, priority, interval, vmac)
    if impl == "keepalived":
        return KeepalivedPeer(node, priority, interval, vmac)
    raise ChaosError(f"implementation {impl!r}: vrrpd or keepalived")


# --- faults ---------------------------------------------------------------------------------


class Fault:
    """A fault: `apply()` puts it in place, `clear()` undoes it (idempotent, and safe after
    an `apply()` that failed half-way). As a context manager it is cleared on every exit."""

    what = "fault"

    def __init__(self) -> None:
        self.applied = False

    def apply(self) -> None:
        self.applied = True  # first: a half-done apply is still cleared
        self._apply()

    def clear(self) -> None:
        if self.applied:
            self._clear()
            self.applied = False

    def _apply(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Fault:
        self.apply()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.what})"


def _nft(lab: Lab, node: Node | None, text: str) -> None:
    """Load nft commands in `node`'s namespace, or in the switch namespace (None)."""
    if node is None:
        _run(["ip", "netns", "exec", lab.switch_ns, "nft", "-f", "-"], input=text)
    else:
        node.nft(text)


class NftFault(Fault):
    """A fault made of one nftables table of its own (deleted, whatever is in it, on clear)."""

    def __init__(self, lab: Lab, node: Node | None, family: str, ruleset: Callable[[str], str]):
        super().__init__()
        self.lab, self.node, self.family = lab, node, family
        self.table = f"chaos{next(_tables)}"
        self.ruleset = ruleset(self.table)

    def _apply(self) -> None:
        _nft(self.lab, self.node, self.ruleset)

    def _clear(self) -> None:
        _nft(self.lab, self.node, rules.delete_table(self.family, self.table))


class Loss(NftFault):
    """`percent` % of frames lost: every frame the bridge forwards (`node` None), or every
    frame arriving at `node`'s eth0."""

    def __init__(self, lab: Lab, percent: int, node: Node | None = None) -> None:
        where = None if node is None else "eth0"
        super().__init__(
            lab,
            node,
            "bridge" if node is None else "netdev",
            lambda t: rules.loss_ruleset(t, percent, where),
        )
        self.what = f"{percent} % loss " + (
            "on the bridge" if node is None else f"into {node.name}"
        )


class Cut(NftFault):
    """Frames from A to B (bridge ports of lab nodes) dropped, for each pair (A, B)."""

    def __init__(self, lab: Lab, pairs: Sequence[tuple[Node, Node]]) -> None:
        ports = [(a.bridge_port, b.bridge_port) for a, b in pairs]
        super().__init__(lab, None, "bridge", lambda t: rules.drop_ruleset(t, ports))
        self.pairs = list(pairs)
        self.what = ", ".join(f"{a.name} -> {b.name}" for a, b in pairs) + " dropped"


def one_way(lab: Lab, a: Node, b: Node) -> Cut:
    """Frames from `a` to `b` dropped; `b` to `a` still pass."""
    return Cut(lab, [(a, b)])


class Partition(Fault):
    """Groups of nodes cut from each other (a node in no group hears everyone). Each directed
    cut is its own table, so `heal` can restore them in a chosen order."""

    def __init__(self, lab: Lab, groups: Sequence[Sequence[Node]]) -> None:
        super().__init__()
        self.lab = lab
        by_name = {n.name: n for g in groups for n in g}
        pairs = rules.cut_pairs([[n.name for n in g] for g in groups])
        self.cuts = {(a, b): Cut(lab, [(by_name[a], by_name[b])]) for a, b in pairs}
        self.what = " | ".join(",".join(n.name for n in g) for g in groups)

    def _apply(self) -> None:
        for c in self.cuts.values():
            c.apply()

    def heal(self, order: str, winner: str, between: Callable[[], None]) -> None:
        """Restore the cuts in `order` (`chaos_rules.heal_steps`), calling `between()` between
        two steps (the time the half-healed state lasts)."""
        steps = rules.heal_steps(list(self.cuts), order, winner)
        for i, step in enumerate(steps):
            if i:
                between()
            cuts = [self.cuts[pair] for pair in step]
            _nft(self.lab, None, "".join(rules.delete_table(c.family, c.table) for c in cuts))
            for c in cuts:  # one transaction: the step heals at one instant
                c.applied = False
        self.applied = False

    def _clear(self) -> None:
        for c in self.cuts.values():
            c.clear()


class LinkDown(Fault):
    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
        self.what = f"{node.name} eth0 down"

    def _apply(self) -> None:
        self.node.link_set(False)

    def _clear(self) -> None:
        if self.node.link("eth0") is not None:
            self.node.link_set(True)


class Recreate(Fault):
    """eth0 deleted (apply), then re-created with the same name, MAC and address (clear)."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
        self.what = f"{node.name} eth0 deleted and re-created"

    def _apply(self) -> None:
        self.node.unplug()

    def _clear(self) -> None:
        if self.node.link("eth0") is None:
            self.node.replug()


class Freeze(Fault):
    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self.peer = peer
        self.what = f"{peer.impl} in {peer.node.name} frozen (SIGSTOP)"

    def _apply(self) -> None:
        self.peer.pause()

    def _clear(self) -> None:
        self.peer.resume()


class VipDeleted(Fault):
    """The VIP deleted by hand. Clearing does nothing: putting it back is the daemon's job."""

    def __init__(self, node: Node, vip: str = VIP) -> None:
        super().__init__()
        self.node, self.vip = node, vip
        self.what = f"{vip} deleted on {node.name}"

    def _apply(self) -> None:
        if not self.node.del_address(self.vip):
            raise ChaosError(f"{self.node.name} does not hold {self.vip}: nothing to delete")

    def _clear(self) -> None:
        pass


class VipAdded(Fault):
    """The VIP added by hand (to eth0); clearing removes it if it is still there."""

    def __init__(self, node: Node, vip: str = VIP) -> None:
        super().__init__()
        self.node, self.vip = node, vip
        self.what = f"{vip} added on {node.name}"

    def _apply(self) -> None:
        _ip("addr", "add", self.vip, "dev", "eth0", netns=self.node.ns)

    def _clear(self) -> None:
        self.node.del_address(self.vip)


class RestartStorm(Fault):
    """The daemon stopped (SIGTERM, or SIGKILL with `kill`) and started `times` times in a
    row, each start waited for until the daemon is ready. `last_start` and `ready` are the
    monotonic times of the last start and of its readiness. Clearing makes sure it runs."""

    def __init__(self, peer: Peer, times: int, kill: bool, timeout: float = 30.0) -> None:
        super().__init__()
        if times < 1:
            raise ChaosError(f"restart storm: times must be at least 1, got {times}")
        self.peer, self.times, self.kill, self.timeout = peer, times, kill, timeout
        self.last_start = self.ready = 0.0
        how = "killed" if kill else "stopped"
        self.what = f"{peer.impl} in {peer.node.name} {how} and restarted {times} times"

    def _apply(self) -> None:
        for _ in range(self.times):
            if self.kill:
                self.peer.kill()
            else:
                self.peer.stop()
            self.last_start = time.monotonic()
            self.peer.start()
            self.peer.wait_ready(self.timeout)
            self.ready = time.monotonic()

    def _clear(self) -> None:
        if not self.peer.alive:
            self.peer.start()
            self.peer.wait_ready(self.timeout)


# --- facts ----------------------------------------------------------------------------------


class Watcher:
    """`netns_lab.chaos_watch` in a node: its links, addresses and chosen neighbours."""

    _count = itertools.count(1)

    def __init__(self, node: Node, neigh: Sequence[str] = ()) -> None:
        self.node = node
        base = node.lab.workdir / f"{node.name}-watch{next(self._count)}"
        self.path, self.err = base.with_suffix(".jsonl"), base.with_suffix(".err")
        self.path.write_text("")
        argv = [sys.executable, "-m", "netns_lab.chaos_watch", str(self.path)]
        for ip in neigh:
            argv += ["--neigh", ip]
        with open(self.err, "wb") as err:
            self.proc = node.popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        self._views: list[tuple[float, NodeView]] = []
        self._offset = 0

    def views(self) -> list[tuple[float, NodeView]]:
        lines, self._offset = read_lines(self.path, self._offset)
        self._views += [rules.parse_view(line) for line in lines if line]
        if self.proc.poll() is not None:
            raise ChaosError(
                f"the watcher in {self.node.name} exited with code {self.proc.returncode}: "
                f"{self.err.read_text(errors='replace').strip()[-2000:]}"
            )
        return list(self._views)

    def stop(self) -> None:
        if not stop_child(self.proc, 5.0):
            kill_child(self.proc)
        self.node.lab._untrack(self.proc)


class StatePoller:
    """A thread reading every daemon's state every `period` seconds; a stream of changes per
    router, stamped with the time it was read."""

    def __init__(self, peers: Mapping[str, Peer], period: float = 0.01) -> None:
        self.peers = dict(peers)
        self.period = period
        self.streams: dict[str, list[tuple[float, str]]] = {n: [] for n in peers}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-states", daemon=True)

    def start(self) -> None:
        self._poll()
        self._thread.start()

    def _poll(self) -> None:
        for name, peer in self.peers.items():
            state = peer.state()
            t = time.monotonic()
            with self._lock:
                s = self.streams[name]
                if not s or s[-1][1] != state:
                    s.append((t, state))

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.period):
                self._poll()
        except BaseException as e:  # reported by snapshot()
            self.error = e

    def snapshot(self) -> dict[str, list[tuple[float, str]]]:
        if self.error is not None:
            raise ChaosError(f"reading the daemons' states failed: {self.error}")
        with self._lock:
            return {n: list(s) for n, s in self.streams.items()}

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)


class Recorder:
    """Watchers in the routers and the client, the state poller, and the merged timeline."""

    def __init__(self, routers: Mapping[str, Node], peers: Mapping[str, Peer], client: Node):
        self.routers = dict(routers)
        self.host = {
            n: [str(a) for a in node.segment_addresses[node.segment]] for n, node in routers.items()
        }
        self.watchers: dict[str, Watcher] = {}
        self.client_watcher: Watcher | None = None
        self.poller = StatePoller(peers)
        try:
            for name, node in routers.items():
                self.watchers[name] = Watcher(node)
            self.client_watcher = Watcher(client, [VIP_ADDR])
        except BaseException:
            self.stop()
            raise

    def start(self, timeout: float = 15.0) -> None:
        for w in [*self.watchers.values(), self.client_watcher]:
            assert w is not None
            wait_for(w.views, timeout, what=f"the watcher in {w.node.name} to start")
        self.poller.start()

    def timeline(self) -> list[Observation]:
        assert self.client_watcher is not None
        return rules.observe(
            {n: w.views() for n, w in self.watchers.items()},
            self.poller.snapshot(),
            self.client_watcher.views(),
            VIP,
            self.host,
        )

    def wait(self, pred: rules.Pred, since: float, timeout: float, stable: float) -> float | None:
        """Wait until `pred` has held from some time >= `since` for `stable` seconds; that
        time, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            t = rules.holds_from(self.timeline(), since, pred)
            now = time.monotonic()
            if t is not None and now - t >= stable:
                return t
            if now >= deadline:
                return None
            time.sleep(min(0.05, deadline - now))

    def stop(self) -> None:
        self.poller.stop()
        for w in [*self.watchers.values(), self.client_watcher]:
            if w is not None:
                w.stop()


def node_snapshot(node: Node) -> Snapshot:
    """Links, addresses, nftables tables and sysctls of a router namespace."""
    text = node.run(["grep", "-rs", ".", *SYSCTL_PATHS], check=False).stdout
    return Snapshot(
        links={str(link["ifname"]): str(link["kind"] or "") for link in node.links()},
        addresses={k: frozenset(v) for k, v in node.all_addresses().items()},
        nft_tables=frozenset(f"{f} {n}" for f, n in node.nft_tables()),
        sysctls=rules.parse_sysctls(text),
    )


def switch_snapshot(lab: Lab) -> Snapshot:
    """Links and nftables tables of the switch namespace (where the faults' tables live)."""
    links = json.loads(_ip("-j", "-d", "link", "show", netns=lab.switch_ns).stdout or "[]")
    cp = _run(["ip", "netns", "exec", lab.switch_ns, "nft", "-j", "list", "tables"])
    objs = json.loads(cp.stdout or "{}").get("nftables", [])
    return Snapshot(
        links={
            str(i["ifname"]): str((i.get("linkinfo") or {}).get("info_kind") or "") for i in links
        },
        addresses={},
        nft_tables=frozenset(
            f"{o['table']['family']} {o['table']['name']}" for o in objs if "table" in o
        ),
        sysctls={},
    )


# --- scenario runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a run may be told; the defaults are the CLI's."""

    interval: float = 0.1  # advertisement interval, seconds
    loss: int = 25  # percent, for the loss scenario
    window: float = 60.0  # seconds of loss over which flaps are counted
    hold: float = 1.0  # seconds a fault stays on once its effect is seen
    storm: int = 5  # restarts in a restart storm
    heal_order: str = "together"
    slack: float = 0.5  # seconds allowed past Master_Down_Interval
    grace: float | None = None  # how long a transient breach is tolerated (default below)
    observe: float = 60.0  # seconds to wait for the final state after the effect
    steady: float = 6.0  # seconds the steady state lasts before a fault (past keepalived's
    # garp_master_delay, 5 s: a master's second burst of gratuitous ARPs is behind it)
    stable: float = 1.0  # seconds the final state must last
    start_timeout: float = 30.0
    keep_logs: bool = False

    @property
    def mdi(self) -> float:
        """The longest Master_Down_Interval of the two routers (r2's, priority 100)."""
        return master_down_interval(self.interval, ADDRESSES[LOSER][1])

    @property
    def grace_s(self) -> float:
        return self.grace if self.grace is not None else max(0.3, 2 * self.interval)


@dataclass
class Run:
    """Everything a scenario's fault schedule needs."""

    lab: Lab
    nodes: dict[str, Node]
    client: Node
    peers: dict[str, Peer]
    rec: Recorder
    settings: Settings
    faults: contextlib.ExitStack

    def hold(self, seconds: float) -> None:
        """Let `seconds` pass (the experiment's own duration), failing early if a daemon that
        should run has exited."""
        deadline = time.monotonic() + seconds
        while (now := time.monotonic()) < deadline:
            self.rec.timeline()  # raises if a watcher died
            time.sleep(min(0.1, deadline - now))

    def wait_effect(self, what: str, pred: rules.Pred, since: float) -> None:
        """Wait until the fault's effect is seen (e.g. r2 took over)."""
        timeout = self.settings.mdi + self.settings.slack + 10.0
        if self.rec.wait(pred, since, timeout, stable=0.0) is None:
            raise ChaosError(f"the fault had no effect within {timeout:.1f} s: {what}")

    def enter(self, fault: Fault) -> float:
        """Apply `fault` (cleared when the run ends at the latest); the time it was applied."""
        t = time.monotonic()
        self.faults.enter_context(fault)
        return t


@dataclass(frozen=True)
class Schedule:
    fault_on: float
    fault_off: float
    effect: float
    ready: float | None = None
    flaps: int | None = None


def _holds(router: str) -> rules.Pred:
    return lambda o: router in o.holders


def _durable(run: Run, fault: Fault) -> Schedule:
    """A fault that stays until cleared: on, until r2 holds the VIP, `hold` more, off."""
    on = run.enter(fault)
    run.wait_effect(f"{LOSER} never held the VIP ({fault.what})", _holds(LOSER), on)
    run.hold(run.settings.hold)
    fault.clear()
    off = time.monotonic()
    return Schedule(on, off, off)


def _loss(run: Run) -> Schedule:
    before = sum(p.master_entries() for p in run.peers.values())
    loss = Loss(run.lab, run.settings.loss)
    on = run.enter(loss)
    run.hold(run.settings.window)
    loss.clear()
    off = time.monotonic()
    flaps = sum(p.master_entries() for p in run.peers.values()) - before
    return Schedule(on, off, off, flaps=flaps)


def _partition(run: Run) -> Schedule:
    p = Partition(run.lab, [[run.nodes[WINNER]], [run.nodes[LOSER]]])
    on = run.enter(p)
    run.wait_effect(f"{LOSER} never held the VIP ({p.what})", _holds(LOSER), on)
    run.hold(run.settings.hold)
    p.heal(run.settings.heal_order, WINNER, lambda: run.hold(run.settings.hold))
    off = time.monotonic()
    return Schedule(on, off, off)


def _instant(run: Run, fault: Fault) -> Schedule:
    on = run.enter(fault)
    return Schedule(on, on, on)


def _storm(run: Run, kill: bool) -> Schedule:
    s = RestartStorm(run.peers[WINNER], run.settings.storm, kill, run.settings.start_timeout)
    on = run.enter(s)
    return Schedule(on, s.last_start, s.last_start, ready=s.ready)


SCHEDULES: dict[str, Callable[[Run], Schedule]] = {
    "loss": _loss,
    "one-way": lambda r: _durable(r, one_way(r.lab, r.nodes[WINNER], r.nodes[LOSER])),
    "partition": _partition,
    "link-down": lambda r: _durable(r, LinkDown(r.nodes[WINNER])),
    "recreate": lambda r: _durable(r, Recreate(r.nodes[WINNER])),
    "sigstop": lambda r: _durable(r, Freeze(r.peers[WINNER])),
    "vip-deleted": lambda r: _instant(r, VipDeleted(r.nodes[WINNER])),
    "vip-added": lambda r: _instant(r, VipAdded(r.nodes[LOSER])),
    "restart-storm": lambda r: _storm(r, kill=False),
    "kill-storm": lambda r: _storm(r, kill=True),
}
assert set(SCHEDULES) == set(SCENARIOS)


def _stop_all(peers: Mapping[str, Peer], errors: list[str]) -> None:
    for name, p in peers.items():
        try:
            p.resume()
            p.stop()
        except Exception as e:
            errors.append(f"stopping {p.impl} in {name}: {e}")
            with contextlib.suppress(Exception):
                p.kill()


def run_scenario(
    name: str,
    impl: str,
    settings: Settings,
    say: Say = lambda s: None,
    *,
    lab: Lab | None = None,
) -> Result:
    """Run scenario `name` with `impl` in a lab of its own (or in `lab`, empty, which the
    caller closes); the figures and violations.

    A run that cannot be carried out (a daemon does not start, a fault has no effect) comes
    back with `Result.error` set and the daemons' log tails in it."""
    scenario = SCENARIOS[name]
    result = Result(name, impl)
    own = Lab(keep_workdir=settings.keep_logs) if lab is None else contextlib.nullcontext(lab)
    with own as lab:
        if settings.keep_logs:
            say(f"  logs in {lab.workdir}")
        nodes = {n: lab.add_router(n, a) for n, (a, _) in ADDRESSES.items()}
        client = lab.add_client(CLIENT, CLIENT_ADDRESS)
        before = {n: node_snapshot(node) for n, node in nodes.items()}
        before_sw = switch_snapshot(lab)
        peers = {
            n: make_peer(impl, nodes[n], prio, settings.interval, scenario.vmac)
            for n, (_, prio) in ADDRESSES.items()
        }
        errors: list[str] = []
        rec: Recorder | None = None
        try:
            with contextlib.ExitStack() as outer:
                outer.callback(_stop_all, peers, errors)
                for p in peers.values():
                    p.start()
                for p in peers.values():
                    p.wait_ready(settings.start_timeout)
                ping = client.popen(
                    ["ping", "-n", "-q", "-i", PING_INTERVAL, VIP_ADDR],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                outer.callback(lambda: stop_child(ping, 5.0) or kill_child(ping))
                rec = Recorder(nodes, peers, client)
                outer.callback(rec.stop)
                rec.start()
                steady = rules.settled(WINNER, FINAL_STATES)
                if rec.wait(steady, 0.0, settings.start_timeout, settings.steady) is None:
                    raise ChaosError(
                        f"no steady state ({WINNER} master, client on it) to start from"
                    )
                start = time.monotonic()
                faults = outer.enter_context(contextlib.ExitStack())
                run = Run(lab, nodes, client, peers, rec, settings, faults)
                say(f"{name} / {impl}: {scenario.summary}")
                sched = SCHEDULES[name](run)
                rec.wait(steady, sched.effect, settings.observe, settings.stable)
                end = time.monotonic()
                timeline = [o for o in rec.timeline() if o.t <= end]
                faults.close()
                phases = Phases(
                    start, sched.fault_on, sched.fault_off, sched.effect, end, sched.ready
                )
                verdict = rules.evaluate(
                    timeline,
                    phases,
                    scenario,
                    routers=list(nodes),
                    holder=WINNER,
                    final_states=FINAL_STATES,
                    mdi=settings.mdi,
                    slack=settings.slack,
                    grace=settings.grace_s,
                )
                result.heal_single = verdict.heal_single
                result.heal_client = verdict.heal_client
                result.settle = verdict.settle
                result.flaps = sched.flaps
                result.observed = end - sched.effect
                result.violations = list(verdict.violations)
        except (LabError, TimeoutError, OSError, subprocess.SubprocessError) as e:
            tails = "\n".join(p.log_tail(1500) for p in peers.values())
            result.error = f"{e}\n{tails}"
            return result
        after = {n: node_snapshot(node) for n, node in nodes.items()}
        for n in nodes:
            result.violations += rules.leaks(n, before[n], after[n])
        result.violations += rules.leaks("switch", before_sw, switch_snapshot(lab))
        result.violations += errors
    return result


def run_many(
    names: Sequence[str], impls: Sequence[str], settings: Settings, say: Say = lambda s: None
) -> list[Result]:
    """Each scenario with each implementation, in a fresh lab each."""
    results = []
    for name in names:
        for impl in impls:
            r = run_scenario(name, impl, settings, say)
            say(f"  {summary(r)}")
            if r.error is not None:
                say(r.error)
            results.append(r)
    return results


def summary(r: Result) -> str:
    """One line per run, for progress output."""
    if r.error is not None:
        return f"{r.scenario} / {r.impl}: FAILED: {r.error.splitlines()[0]}"
    parts = [
        f"single holder {rules.cell_ms(r.heal_single, r.observed)} ms",
        f"client-correct {rules.cell_ms(r.heal_client, r.observed)} ms",
    ]
    if r.flaps is not None:
        parts.append(f"flaps {r.flaps}")
    if SCENARIOS[r.scenario].restart:
        parts.append(f"settle {rules.cell_ms(r.settle, r.observed)} ms")
    parts.append(f"violations {len(r.violations)}")
    return f"{r.scenario} / {r.impl}: " + ", ".join(parts)


# --- the CLI (python -m netns_lab chaos ...) ------------------------------------------------


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _scenarios(text: str) -> list[str]:
    try:
        return rules.scenario_names(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _percent(text: str) -> int:
    try:
        return rules.check_percent(int(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The ``chaos`` subcommand's arguments."""
    ap.add_argument(
        "scenario",
        type=_scenarios,
        help=f"{', '.join(SCENARIOS)}; a comma-separated list; or all",
    )
    ap.add_argument("--impl", choices=[*IMPLS, "both"], default="vrrpd", help="default vrrpd")
    ap.add_argument("--interval", type=interval_arg, default=0.1, help="seconds (default 0.1)")
    ap.add_argument("--loss", type=_percent, default=25, help="percent (loss; default 25)")
    ap.add_argument(
        "--window", type=_positive(float), default=60.0, help="seconds of loss (default 60)"
    )
    ap.add_argument(
        "--hold",
        type=_positive(float),
        default=1.0,
        help="seconds a fault stays on after its effect is seen (default 1)",
    )
    ap.add_argument("--storm", type=_positive(int), default=5, help="restarts (default 5)")
    ap.add_argument("--heal-order", choices=HEAL_ORDERS, default="together", help="partition")
    ap.add_argument(
        "--slack",
        type=_positive(float),
        default=0.5,
        help="seconds allowed past Master_Down_Interval (default 0.5)",
    )
    ap.add_argument(
        "--observe",
        type=_positive(float),
        default=60.0,
        help="seconds to wait for the final state after the fault (default 60)",
    )
    ap.add_argument(
        "--steady",
        type=_positive(float),
        default=6.0,
        help="seconds of steady state before the fault (default 6: keepalived's second "
        "gratuitous ARP burst, 5 s after becoming master, is behind)",
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--keep-logs", action="store_true", help="keep each lab's work directory")


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        interval=args.interval,
        loss=args.loss,
        window=args.window,
        hold=args.hold,
        storm=args.storm,
        heal_order=args.heal_order,
        slack=args.slack,
        observe=args.observe,
        steady=args.steady,
        keep_logs=args.keep_logs,
    )


def command(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run the scenarios and print the table (or JSON). Exit 0 when every run was carried
    out (invariant violations are results, listed under the table), 1 when one failed,
    130 on Ctrl-C (after cleaning up)."""
    if not args.scenario:  # `chaos list`
        for scenario in SCENARIOS.values():
            out(f"{scenario.name:14} {scenario.summary}")
        return 0
    impls = list(IMPLS) if args.impl == "both" else [args.impl]
    if "keepalived" in impls and not os.access(KEEPALIVED, os.X_OK):
        print(
            f"netns_lab chaos: {KEEPALIVED} not found: apt-get install keepalived", file=sys.stderr
        )
        return 1
    settings = settings_from(args)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: list[Result] = []
    interrupted = False
    try:
        for name in args.scenario:
            results += run_many([name], impls, settings, say)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: cleaned up; results so far:")
    if args.json:
        out(json.dumps([r.as_dict() for r in results], indent=1))
    else:
        out(
            f"Advertisement interval {settings.interval:g} s: Master_Down_Interval "
            f"{settings.mdi * 1000:.0f} ms (priority 100), bound checked "
            f"Master_Down_Interval + {settings.slack * 1000:.0f} ms.\n"
        )
        out(rules.markdown_table(results, loss=settings.loss, window=settings.window))
        notes = rules.violation_notes([replace(r, error=_first(r.error)) for r in results])
        if notes:
            out("\nInvariant violations and failed runs:\n" + notes)
    if interrupted:
        return 130
    return 1 if any(r.error for r in results) else 0


def _first(text: str | None) -> str | None:
    return None if text is None else text.splitlines()[0]
