"""Migration from keepalived to vrrpd, rehearsed in a lab: a keepalived pair serves a VIP, each
node in turn is replaced by vrrpd running its imported configuration, while a client probes the
VIP and watchers record who holds it.

    python -m netns_lab migrate [--order backup-first|master-first|both]
                                [--procedure safe|naive] [--version 2|3] [--interval 0.1]
                                [--auth-pass PW] [--probe-interval 0.01] [--keep-logs]

Topology: r1 (192.0.2.1, keepalived priority 150, ``state MASTER``) and r2 (192.0.2.2, 100,
``state BACKUP``) share VRID 51 and 192.0.2.254/24; a client c1 pings the VIP every 10 ms
(`netns_lab.probe`); `netns_lab.chaos.Watcher` runs in r1, r2 (addresses) and c1 (its
neighbour entry for the VIP). Each node's keepalived.conf is imported with ``vrrpctl
import-keepalived`` before anything changes (as an operator prepares the files), and the
output must pass ``vrrpd --check-config``.

The procedures (`PROCEDURES`): the master must never be the node whose keepalived is stopped.

* backup-first: replace r2 (a backup: nothing to hand over); ``vrrpctl takeover`` on r2 (vrrpd
  adds the VIP and sends its gratuitous ARPs before advertising 254: keepalived on r1 steps
  down with no gap); replace r1, now a backup; ``vrrpctl release`` on r2: r1 (150) preempts,
  again address before advert.
* master-first: lower r1's keepalived priority below r2's (edit ``priority``, SIGHUP: a reload
  keeps the state) so r2's keepalived preempts it; replace r1, now a backup (its vrrpd, 150,
  preempts r2's keepalived, address before advert); replace r2 (a backup).

The naive procedure stops keepalived on the master (SIGTERM: priority 0) and the backup takes
over after Skew_Time: the client loses what it sends until the new master's gratuitous ARP.

The figures (`Figures`): probes sent and lost, the longest gap between answered probes, and from
the watchers' merged timeline (`netns_lab.chaos_rules.observe`) the spans with no holder, with
two holders, and with the client's neighbour entry on a router that does not hold the VIP.
Each watcher stamps what it reads from its own namespace's netlink socket, so spans between
events in different namespaces are only good to a few milliseconds (a gratuitous ARP can reach
the client's watcher before the sender's watcher reads the address it just added); the probe
is the judge of loss.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import chaos_rules as rules
from .chaos import Watcher, node_snapshot
from .failover import VIP, VIP_ADDR, VRID, interval_arg
from .keepalived import Keepalived, start_keepalived, stop_all
from .lab import (
    PACKAGE_ROOT,
    Lab,
    LabError,
    Node,
    ProbeRun,
    Vrrpd,
    check_config,
    master_down_interval,
    signal_child,
    wait_for,
)
from .probe import answered, blackout, lost

KA_NAME = "VI_1"
ADDRESSES = {"r1": "192.0.2.1/24", "r2": "192.0.2.2/24"}
PRIORITIES = {"r1": 150, "r2": 100}
CLIENT_ADDRESS = "192.0.2.100/24"
PROBE_INTERVAL = 0.01  # seconds between the client's echo requests
LOWERED = 50  # keepalived's priority on r1 while it hands over (master-first), below r2's
SETTLE_SECONDS = 0.5  # a vrrpd backup is settled once it heard this long of adverts (at least
# 3), discarding none
ORDERS = ("backup-first", "master-first")

Say = Callable[[str], None]


class MigrationError(LabError):
    """A step of the rehearsal could not be carried out; the message says which and why."""


@dataclass(frozen=True)
class Variant:
    """What the keepalived pair runs: VRRP version (keepalived's default is 2), interval."""

    version: int = 3
    interval: float = 0.1
    auth_pass: str | None = None  # keepalived ``auth_type PASS`` (VRRPv2 only)

    @property
    def timeout(self) -> float:
        """A generous bound for any one wait (a loaded 2-core machine)."""
        return 20.0 + 10 * master_down_interval(self.interval, min(PRIORITIES.values()))

    @property
    def settle_adverts(self) -> int:
        return max(3, round(SETTLE_SECONDS / self.interval))

    def describe(self) -> str:
        auth = f", auth_type PASS {self.auth_pass}" if self.auth_pass else ""
        return f"VRRPv{self.version}, advert_int {self.interval:g}{auth}"


def keepalived_instance(variant: Variant, node: str) -> dict[str, Any]:
    """r1's or r2's ``vrrp_instance`` (keywords as `netns_lab.keepalived.render_config` takes
    them): what a typical Active-Standby pair writes."""
    inst: dict[str, Any] = {
        "name": KA_NAME,
        "state": "MASTER" if node == "r1" else "BACKUP",
        "interface": "eth0",
        "virtual_router_id": VRID,
        "priority": PRIORITIES[node],
        "advert_int": variant.interval,
        "strict_mode": None,  # the lab's default "strict_mode off": not in real files
        "virtual_ipaddress": [VIP],
    }
    if variant.auth_pass:
        inst["authentication"] = {"auth_type": "PASS", "auth_pass": variant.auth_pass}
    return inst


def keepalived_globals(variant: Variant, node: str) -> dict[str, Any]:
    """``global_defs`` as a real file has them: a router_id, ``vrrp_version 3`` only for v3
    (None drops the lab's defaults)."""
    return {
        "router_id": node,
        "vrrp_version": 3 if variant.version == 3 else None,
        "script_user": None,
        "vrrp_garp_master_refresh": None,
    }


# --- vrrpctl ------------------------------------------------------------------------------------


def vrrpctl(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The real ``vrrpctl`` (``python -m vrrpd.ctl``) of this checkout, from the host."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if x)
    return subprocess.run(
        [sys.executable, "-m", "vrrpd.ctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def control(d: Vrrpd, *args: str) -> str:
    """``vrrpctl --socket SOCK ARGS`` against `d`; its output, or MigrationError."""
    cp = vrrpctl("--socket", str(d.socket_path), *args)
    if cp.returncode != 0:
        raise MigrationError(
            f"vrrpctl {' '.join(args)} on {d.node.name}: exit {cp.returncode}: {cp.stderr.strip()}"
        )
    return cp.stdout


@dataclass
class Imported:
    """``vrrpctl import-keepalived`` on one node's keepalived.conf."""

    source: str  # the keepalived.conf text
    toml: str  # stdout
    report: list[str]  # stderr lines, ``FILE:LINE: construct: what differs``
    returncode: int  # 0 faithful, 2 something differs (the report says what)
    routers: list[dict[str, Any]]
    daemon: dict[str, Any]
    check: subprocess.CompletedProcess[str]  # vrrpd --check-config on the output

    @property
    def name(self) -> str:
        return str(self.routers[0]["name"])

    def reported(self) -> list[str]:
        """The keepalived keyword each report line is about (``FILE:LINE: KEYWORD ...``)."""
        out = []
        for line in self.report:
            m = re.match(r".*?:\d+: (\S+?)[:\s]", line)
            out.append(m.group(1) if m else line)
        return out


def import_keepalived(conf: Path, out: Path) -> Imported:
    """Import `conf` with the real ``vrrpctl import-keepalived``; the output is written to
    `out` and checked with ``vrrpd --check-config``. A failed import raises, with both."""
    source = conf.read_text()
    cp = vrrpctl("import-keepalived", str(conf))
    out.write_text(cp.stdout)
    report = [line for line in cp.stderr.splitlines() if line.strip()]
    what = (
        f"vrrpctl import-keepalived {conf} (exit {cp.returncode})\n--- input ---\n{source}"
        f"--- stdout ---\n{cp.stdout}--- stderr ---\n{cp.stderr}"
    )
    try:
        doc = tomllib.loads(cp.stdout)
    except tomllib.TOMLDecodeError as e:
        raise MigrationError(f"{what}\nthe output is not TOML: {e}") from None
    routers = [dict(r) for r in doc.get("virtual_router", [])]
    if len(routers) != 1:
        raise MigrationError(f"{what}\nwanted one [[virtual_router]], got {len(routers)}")
    daemon = {k: v for k, v in dict(doc.get("daemon", {})).items() if k != "control_socket"}
    check = check_config(out)
    return Imported(source, cp.stdout, report, cp.returncode, routers, daemon, check)


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Step:
    text: str
    start: float
    end: float = 0.0


@dataclass
class Figures:
    """What the client and the watchers saw over a whole migration."""

    order: str
    procedure: str
    variant: Variant
    sent: int = 0
    lost: int = 0
    blackout: float = 0.0  # the longest gap between answered probes (s)
    no_holder: list[tuple[float, float]] = field(default_factory=list)
    two_holders: list[tuple[float, float]] = field(default_factory=list)
    client_off: list[tuple[float, float]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    step_lost: dict[int, int] = field(default_factory=dict)  # step index -> probes lost
    priorities: dict[str, set[int]] = field(default_factory=dict)  # "r1 keepalived" -> seen
    duration: float = 0.0
    probe_interval: float = PROBE_INTERVAL

    @staticmethod
    def longest(spans: Sequence[tuple[float, float]]) -> float:
        return max((b - a for a, b in spans), default=0.0)

    def lines(self) -> list[str]:
        out = [f"{self.order}, procedure {self.procedure} ({self.variant.describe()}):"]
        for i, s in enumerate(self.steps, 1):
            extra = f", {self.step_lost[i]} probes lost" if self.step_lost.get(i) else ""
            out.append(f"  {i}. {s.text} ({s.end - s.start:.1f} s{extra})")

        def spans(name: str, sp: Sequence[tuple[float, float]]) -> str:
            where = ", ".join(
                f"{(b - a) * 1000:.1f} ms in step {step_at(self.steps, a)}" for a, b in sp
            )
            return f"{name}: {len(sp)} spans" + (f" ({where})" if sp else "")

        out += [
            f"  probes every {self.probe_interval * 1000:g} ms: {self.sent} sent, "
            f"{self.lost} lost, longest gap between answers {self.blackout * 1000:.1f} ms",
            "  " + spans("no holder", self.no_holder),
            "  " + spans("two holders", self.two_holders),
            "  " + spans("client on a router without the VIP", self.client_off),
            "  advertised priorities: "
            + ", ".join(f"{k} {sorted(v)}" for k, v in sorted(self.priorities.items())),
            f"  {self.duration:.1f} s",
        ]
        return out


def client_off(o: rules.Observation) -> bool:
    """The client's neighbour entry for the VIP is set and names no interface holding it."""
    if o.client_mac is None:
        return False
    return not any(o.client_mac in macs for macs in o.macs.values())


def step_at(steps: Sequence[Step], t: float) -> int:
    """The step (1-based) under way at `t`: the last one started by then; 0 before the first."""
    return max((i for i, s in enumerate(steps, 1) if s.start <= t), default=0)


def lost_per_step(result: Mapping[str, Any], steps: Sequence[Step]) -> dict[int, int]:
    """Probes lost in each step (1-based), placed by the send time of the first lost one of
    each gap (one interval after the last answered)."""
    out: dict[int, int] = {}
    for (a, ta, _), (b, _, _) in itertools.pairwise(answered(result)):
        if b - a > 1:
            i = step_at(steps, ta + float(result["interval"]))
            out[i] = out.get(i, 0) + b - a - 1
    return out


# --- the rehearsal ------------------------------------------------------------------------------


class Migration:
    """The lab's keepalived pair, the probe, the watchers, and the operator's steps."""

    def __init__(
        self,
        lab: Lab,
        variant: Variant,
        say: Say = lambda s: None,
        probe_interval: float = PROBE_INTERVAL,
    ) -> None:
        self.lab = lab
        self.probe_interval = probe_interval
        self.variant = variant
        self.say = say
        self.nodes: dict[str, Node] = {}
        self.keepalived: dict[str, Keepalived] = {}
        self.vrrpd: dict[str, Vrrpd] = {}
        self.imported: dict[str, Imported] = {}
        self.watchers: dict[str, Watcher] = {}
        self.client_watcher: Watcher | None = None
        self.probe: ProbeRun | None = None
        self.result: dict[str, Any] | None = None
        self.before: dict[str, rules.Snapshot] = {}
        self.steps: list[Step] = []
        self._ka_seen: dict[str, tuple[float, float]] = {}  # node -> keepalived's lifetime

    # set-up
    def start(self) -> None:
        """The pair, r1 master, the imports, the watchers and the probe, answered."""
        for name, address in ADDRESSES.items():
            self.nodes[name] = self.lab.add_router(name, address)
        self.client = self.lab.add_client("c1", CLIENT_ADDRESS)
        self.before = {n: node_snapshot(node) for n, node in self.nodes.items()}
        for name, node in self.nodes.items():
            self.keepalived[name] = start_keepalived(
                node,
                [keepalived_instance(self.variant, name)],
                global_defs=keepalived_globals(self.variant, name),
            )
            self._ka_seen[name] = (time.monotonic(), float("inf"))
        self.keepalived["r1"].wait_state(KA_NAME, "MASTER", self.variant.timeout)
        self.keepalived["r2"].wait_state(KA_NAME, "BACKUP", self.variant.timeout)
        workdir = self.lab.workdir
        for name, ka in self.keepalived.items():
            conf = workdir / f"{name}.keepalived.conf.orig"
            conf.write_text(ka.conf_path.read_text())  # what the operator imports
            self.imported[name] = import_keepalived(conf, workdir / f"{name}.imported.toml")
        for name, node in self.nodes.items():
            self.watchers[name] = Watcher(node)
        self.client_watcher = Watcher(self.client, [VIP_ADDR])
        for w in [*self.watchers.values(), self.client_watcher]:
            wait_for(w.views, self.variant.timeout, what=f"the watcher in {w.node.name}")
        self.probe = self.client.start_probe(VIP_ADDR, interval=self.probe_interval, vrid=VRID)
        self.probe.wait_ready(self.variant.timeout, advert_from=self._ip("r1"))
        self.wait_holder("r1")

    def _ip(self, name: str) -> str:
        address = self.nodes[name].ipv4
        assert address is not None
        return str(address.ip)

    # facts
    def timeline(self) -> list[rules.Observation]:
        assert self.client_watcher is not None
        host = {n: [ADDRESSES[n]] for n in self.nodes}
        return rules.observe(
            {n: w.views() for n, w in self.watchers.items()},
            {},
            self.client_watcher.views(),
            VIP,
            host,
        )

    def wait_holder(self, name: str) -> None:
        """Until `name` is the only holder and the client's entry for the VIP is its MAC."""
        correct = rules.client_correct(name)

        def now() -> bool:
            t = self.timeline()
            return bool(t) and correct(t[-1])

        wait_for(now, self.variant.timeout, what=f"{name} to be the client's only VIP holder")

    def daemon_states(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.nodes:
            d = self.vrrpd.get(name)
            if d is not None:
                out[name] = str(d.router(self.imported[name].name)["state"])
            else:
                out[name] = str(self.keepalived[name].state(KA_NAME))
        return out

    def settle(self, master: str) -> None:
        """Until `master` is the only holder, every daemon in its state, and every vrrpd
        backup has heard `Variant.settle_adverts` adverts from it, discarding none."""
        want = {n: "MASTER" if n == master else "BACKUP" for n in self.nodes}
        try:
            wait_for(
                lambda: self.daemon_states() == want,
                self.variant.timeout,
                what=f"states {want}",
            )
            self.wait_holder(master)
            for name, d in self.vrrpd.items():
                if name == master:
                    continue
                vr = self.imported[name].name
                base = int(d.counters(vr).get("adverts_received", 0))
                d.wait_counter(
                    vr, "adverts_received", base + self.variant.settle_adverts, self.variant.timeout
                )
                row = d.router(vr)
                bad = {
                    k: v
                    for k, v in (row.get("counters") or {}).items()
                    if v and (k.startswith("discard_") or k.endswith("_mismatch"))
                }
                if bad:
                    raise MigrationError(f"{name}: vrrpd discarded adverts: {bad}")
                if row.get("master") != self._ip(master):
                    raise MigrationError(f"{name}: vrrpd's master is {row.get('master')}")
        except TimeoutError as e:
            raise MigrationError(f"{e}; states {self.daemon_states()}\n{self.tails()}") from None

    def tails(self) -> str:
        out = []
        for name in self.nodes:
            d = self.vrrpd.get(name)
            p: Vrrpd | Keepalived = d if d is not None else self.keepalived[name]
            kind = "vrrpd" if d is not None else "keepalived"
            out.append(f"--- {kind} in {name} ---\n{p.log_text()[-2500:]}")
        return "\n".join(out)

    # the operator's steps
    def step(self, text: str) -> Step:
        s = Step(text, time.monotonic())
        self.steps.append(s)
        self.say(f"  {len(self.steps)}. {text}")
        return s

    def stop_keepalived(self, name: str) -> None:
        self.keepalived[name].stop()
        self._ka_seen[name] = (self._ka_seen[name][0], time.monotonic())

    def start_vrrpd(self, name: str) -> Vrrpd:
        imp = self.imported[name]
        d = self.nodes[name].start_vrrpd(imp.routers, daemon=imp.daemon)
        self.vrrpd[name] = d
        d.wait_ready(self.variant.timeout)
        return d

    def replace(self, name: str, master: str) -> None:
        """Stop keepalived on `name` (a backup by now), start vrrpd with the imported
        configuration; settled with `master` holding the VIP."""
        s = self.step(f"{name}: stop keepalived, start vrrpd with the imported configuration")
        self.stop_keepalived(name)
        self.start_vrrpd(name)
        self.settle(master)
        s.end = time.monotonic()

    def takeover(self, name: str) -> None:
        s = self.step(f"{name}: vrrpctl takeover {self.imported[name].name}")
        control(self.vrrpd[name], "takeover", self.imported[name].name)
        self.settle(name)
        s.end = time.monotonic()

    def release(self, name: str, master: str) -> None:
        s = self.step(f"{name}: vrrpctl release {self.imported[name].name}")
        control(self.vrrpd[name], "release", self.imported[name].name)
        self.settle(master)
        s.end = time.monotonic()

    def lower_keepalived(self, name: str, priority: int, master: str) -> None:
        """Edit `name`'s keepalived.conf to `priority` and reload it (SIGHUP)."""
        ka = self.keepalived[name]
        s = self.step(f"{name}: keepalived.conf priority {priority}, reload (SIGHUP)")
        text = ka.conf_path.read_text()
        new, n = re.subn(r"(?m)^(\s*priority )\d+\s*$", rf"\g<1>{priority}", text)
        if n != 1:
            raise MigrationError(f"{ka.conf_path}: no single priority line to edit")
        ka.conf_path.write_text(new)
        signal_child(ka.proc, signal.SIGHUP)
        self.settle(master)
        s.end = time.monotonic()

    def stop_master_naively(self, name: str, master: str) -> None:
        s = self.step(f"{name}: stop keepalived while master (SIGTERM: priority 0)")
        self.stop_keepalived(name)
        self.wait_holder(master)
        s.end = time.monotonic()

    def start_vrrpd_step(self, name: str, master: str) -> None:
        s = self.step(f"{name}: start vrrpd with the imported configuration")
        self.start_vrrpd(name)
        self.settle(master)
        s.end = time.monotonic()

    # the whole thing
    def run(self, order: str, procedure: str = "safe") -> Figures:
        """Migrate both nodes in `order` with `procedure`; the figures (stops the probe)."""
        steps = PROCEDURES.get((order, procedure))
        if steps is None:
            known = ", ".join(f"{o}/{p}" for o, p in PROCEDURES)
            raise MigrationError(f"no procedure {order}/{procedure} (known: {known})")
        assert self.probe is not None
        self.probe.wait_reply_sent_after(time.monotonic() + 0.3, self.variant.timeout)
        begin = time.monotonic()
        steps(self)
        end = time.monotonic()
        self.probe.wait_reply_sent_after(end + 0.3, self.variant.timeout)
        self.result = self.probe.stop()
        timeline = [o for o in self.timeline() if o.t <= end]
        fig = Figures(order, procedure, self.variant, steps=list(self.steps))
        fig.sent = int(self.result["sent"])
        fig.lost = lost(self.result)
        fig.blackout = blackout(self.result)
        fig.no_holder = rules.spans(timeline, lambda o: not o.holders, begin, end)
        fig.two_holders = rules.spans(timeline, lambda o: len(o.holders) > 1, begin, end)
        fig.client_off = rules.spans(timeline, client_off, begin, end)
        fig.step_lost = lost_per_step(self.result, self.steps)
        fig.priorities = self.advertised()
        fig.duration = end - begin
        fig.probe_interval = self.probe_interval
        return fig

    def advertised(self) -> dict[str, set[int]]:
        """The priorities the client saw in each node's adverts, by who sent them."""
        assert self.result is not None
        out: dict[str, set[int]] = {}
        for t, src, prio in self.result.get("adverts", []):
            for name in self.nodes:
                if src != self._ip(name):
                    continue
                born, gone = self._ka_seen[name]
                kind = "keepalived" if born <= float(t) <= gone else "vrrpd"
                out.setdefault(f"{name} {kind}", set()).add(int(prio))
        return out

    def leaks(self) -> list[str]:
        """Stop both vrrpd; what they, or keepalived, left changed in r1 and r2."""
        for d in self.vrrpd.values():
            d.stop()
        out: list[str] = []
        for name, node in self.nodes.items():
            out += rules.leaks(name, self.before[name], node_snapshot(node))
        return out

    def close(self) -> None:
        if self.probe is not None and self.probe.alive:
            self.probe.kill()
        for w in [*self.watchers.values(), self.client_watcher]:
            if w is not None:
                w.stop()
        for d in self.vrrpd.values():
            if d.alive:
                with contextlib.suppress(LabError):
                    d.stop()
        stop_all(self.lab)

    def __enter__(self) -> Migration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _backup_first(m: Migration) -> None:
    m.replace("r2", master="r1")
    m.takeover("r2")
    m.replace("r1", master="r2")
    m.release("r2", master="r1")


def _master_first(m: Migration) -> None:
    m.lower_keepalived("r1", LOWERED, master="r2")
    m.replace("r1", master="r1")
    m.replace("r2", master="r1")


def _backup_first_naive(m: Migration) -> None:
    m.replace("r2", master="r1")
    m.stop_master_naively("r1", master="r2")
    m.start_vrrpd_step("r1", master="r1")


def _master_first_naive(m: Migration) -> None:
    m.stop_master_naively("r1", master="r2")
    m.start_vrrpd_step("r1", master="r1")
    m.replace("r2", master="r1")


# (order, procedure) -> the operator's steps. "safe" is the no-loss procedure of each order.
PROCEDURES: dict[tuple[str, str], Callable[[Migration], None]] = {
    ("backup-first", "safe"): _backup_first,
    ("backup-first", "naive"): _backup_first_naive,
    ("master-first", "safe"): _master_first,
    ("master-first", "naive"): _master_first_naive,
}
PROCEDURE_NAMES = ("safe", "naive")


# --- command line -------------------------------------------------------------------------------


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--order", choices=[*ORDERS, "both"], default="both")
    ap.add_argument(
        "--procedure",
        choices=PROCEDURE_NAMES,
        default="safe",
        help="safe: hand the master over before stopping keepalived there (default); "
        "naive: stop keepalived on the master (priority 0)",
    )
    ap.add_argument("--version", type=int, choices=(2, 3), default=3, help="VRRP version")
    ap.add_argument(
        "--interval",
        type=interval_arg,
        help="advert_int in seconds (default 0.1 for v3, 1 for v2; v2: whole seconds)",
    )
    ap.add_argument("--auth-pass", help="keepalived auth_type PASS with this password (v2)")
    ap.add_argument(
        "--probe-interval",
        type=float,
        default=PROBE_INTERVAL,
        help=f"seconds between the client's echo requests (default {PROBE_INTERVAL})",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep the lab's work directory")


def command(args: argparse.Namespace, say: Say = print) -> int:
    interval = args.interval or (0.1 if args.version == 3 else 1.0)
    if args.version == 2 and interval != int(interval):
        say("netns_lab migrate: --interval: VRRPv2 takes whole seconds")
        return 2
    if args.auth_pass and args.version != 2:
        say("netns_lab migrate: --auth-pass: keepalived authenticates VRRPv2 only")
        return 2
    variant = Variant(args.version, interval, args.auth_pass)
    orders = [
        o
        for o in (ORDERS if args.order == "both" else (args.order,))
        if (o, args.procedure) in PROCEDURES
    ]
    failed = 0
    for order in orders:
        with (
            Lab(keep_workdir=args.keep_logs) as lab,
            Migration(lab, variant, say, args.probe_interval) as m,
        ):
            try:
                say(f"{order}: keepalived pair ({variant.describe()}), r1 master")
                m.start()
                for name, imp in m.imported.items():
                    say(f"  {name}: import-keepalived exit {imp.returncode}")
                    for line in imp.report:
                        say(f"    {line}")
                fig = m.run(order, args.procedure)
                for line in fig.lines():
                    say(line)
                leaks = m.leaks()
                say("  left behind: " + ("; ".join(leaks) if leaks else "nothing"))
            except (LabError, TimeoutError) as e:
                say(f"{order}: failed: {e}")
                failed += 1
    return 1 if failed else 0
