"""Hot, warm and cold standby across a hard failover: ``python -m netns_lab standby``.

The lab (every address a documentation address)::

    c1 192.0.2.100 ── a ──┬── eth0 g1 192.0.2.1   eth1 198.51.100.1 ──┬── b ── s1 198.51.100.100
      (default route      ├── eth0 g2 192.0.2.2   eth1 198.51.100.2 ──┘
       via the VIP        │        eth2 203.0.113.1/.2: the sync link (segment s)
       192.0.2.254)       VIPs 192.0.2.254 (inside, VRID 51), 198.51.100.254 (outside, VRID 52)

g1 and g2 are stateful gateways running vrrpd with a sync group of the two virtual routers
(`examples/conntrackd/vrrpd.toml`, priorities 200 and 100, interval 0.1 s) and the firewall of
`examples/conntrackd/nftables.conf`: forwarded traffic only for established/related
connections or new ones from the clients, SNAT to the outside VIP, `ct state invalid` dropped
(and counted) on input and forward, ``nf_conntrack_tcp_loose = 0`` (read back). s1 runs an echo
server (port 9000) with no route back to the clients: only the SNAT mapping brings replies.

"The service" is an HTTP-like server on the gateways themselves (port 8080, reached at the
inside VIP): what a gateway pair serves by itself (a proxy, a resolver, an API), the part of a
failover that conntrack cannot carry. The grades:

* ``hot``: conntrackd FT-FW over the sync link (`examples/conntrackd/conntrackd.conf`), driven by
  `examples/conntrackd/primary-backup.sh`: ``before_master`` commits the replicated connections
  before the addresses move, the group's on_master/on_backup/on_fault do the rest; the service
  runs on both gateways.
* ``warm``: no conntrack sync; the service runs on both gateways and g2's ``takeover_gate``
  checks that it answers.
* ``cold``: no conntrack sync; the service is started by the group's ``on_master``.
* ``none``: no conntrack sync and no service on g2: only the addresses move (the control).

Across a hard failure of g1 (cut off its three segments at once, then vrrpd and conntrackd
SIGKILLed: `StandbyLab.cut` says why not its links down), the client c1 runs N long-lived TCP
connections through the gateways to s1 (64 bytes every 5 ms each, echoed: the byte counters
show each one flowing), one short request to the service every 10 ms, and an ICMP probe to s1
every 5 ms (the blackout); a capture on c1 sees the adverts and gratuitous ARPs. Per run: the
blackout, the connections kept, the requests failed, when the service answered again, the
takeover (the first gratuitous ARP of g2), the packets g2 dropped as invalid, and the
timeline (`netns_lab.timeline`, with a lane per connection and one for the requests).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import signal
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import wire
from .failover import interval_arg
from .keepalived import Keepalived, start_keepalived
from .lab import (
    PACKAGE_ROOT,
    Capture,
    Lab,
    LabError,
    Node,
    ProbeRun,
    Vrrpd,
    kill_child,
    master_down_interval,
    read_text,
    signal_child,
    wait_for,
)
from .probe import blackout
from .streams import RequestSummary, StreamVerdict, request_summary, stream_verdicts
from .timeline import (
    Lane,
    Mark,
    PlotUnavailable,
    Timeline,
    build,
    log_transitions,
    png_path,
    probe_sends,
    render_png,
    render_text,
    require_matplotlib,
)

EXAMPLES = Path(PACKAGE_ROOT) / "examples" / "conntrackd"
GRADES = ("hot", "warm", "cold", "none")
KEEPALIVED = "keepalived"  # a grade on request: hot with keepalived 2.2.7 in vrrpd's place
SETUP = {
    "hot": "conntrackd FT-FW sync + before_master commit",
    "warm": "no conntrack sync; service running, takeover_gate checks it",
    "cold": "no conntrack sync; service started by on_master",
    "none": "no conntrack sync, no service on the backup (control)",
    KEEPALIVED: "keepalived 2.2.7 + conntrackd, commit in notify_master (after the VIPs)",
}
SYNCED = ("hot", KEEPALIVED)  # the grades with conntrackd
CLIENT, SERVER = "192.0.2.100", "198.51.100.100"
VIP_IN, VIP_OUT = "192.0.2.254", "198.51.100.254"
GATEWAYS = {
    "g1": {"a": "192.0.2.1/24", "b": "198.51.100.1/24", "s": "203.0.113.1/24"},
    "g2": {"a": "192.0.2.2/24", "b": "198.51.100.2/24", "s": "203.0.113.2/24"},
}
PRIORITY = {"g1": 200, "g2": 100}
ECHO_PORT, SERVICE_PORT = 9000, 8080
MARGIN = 5.0  # seconds past a bound before a wait gives up
NEED = 6400  # bytes a connection must receive after the failure to count as kept (0.5 s)


# Counted beside the recipe's firewall (whose counters sum every invalid packet): the
# connections' packets (forwarded, or the server's to the SNAT address that found no
# mapping) apart from requests to the service on the gateway itself.
LAB_COUNTERS = f"""
table inet standbylab {{
    counter conn_forward {{}}
    counter conn_input {{}}
    counter service_input {{}}
    chain forward {{
        type filter hook forward priority filter - 1; policy accept;
        ct state invalid counter name conn_forward
    }}
    chain input {{
        type filter hook input priority filter - 1; policy accept;
        ct state invalid tcp sport {ECHO_PORT} counter name conn_input
        ct state invalid tcp dport {SERVICE_PORT} counter name service_input
    }}
}}
"""


# --- configuration from the examples --------------------------------------------------------


def conntrackd_conf(example: str, workdir: Path, node: str) -> str:
    """examples/conntrackd/conntrackd.conf for lab node g1 (node A) or g2 (node B): the UDP
    addresses swapped on g2, the log, lock and socket paths in the lab's work directory."""
    text = example
    if node == "g2":
        a = "IPv4_address 203.0.113.1\n\t\tIPv4_Destination_Address 203.0.113.2"
        b = "IPv4_address 203.0.113.2\n\t\tIPv4_Destination_Address 203.0.113.1"
        if a not in text:
            raise LabError("examples/conntrackd/conntrackd.conf: the UDP block has changed")
        text = text.replace(a, b)
    for key, path in (
        (r"LogFile \S+", f"LogFile {workdir}/{node}-conntrackd.log"),
        (r"LockFile \S+", f"LockFile {workdir}/{node}-conntrackd.lock"),
        (r"(UNIX \{\s*Path )\S+", rf"\g<1>{workdir}/{node}-ctd.ctl"),
    ):
        text, n = re.subn(key, path, text)
        if n != 1:
            raise LabError(f"examples/conntrackd/conntrackd.conf: expected one {key!r}")
    return text


def vrrpd_routers(
    grade: str, node: str, conf: Path, script: Path, extra: Mapping[str, Path], interval: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The virtual routers and sync groups of examples/conntrackd/vrrpd.toml for `node` and
    `grade`: the hooks point at this checkout's script and the lab's conntrackd.conf (hot),
    or are replaced by the grade's own (warm: the gate; cold: starting the service)."""
    example = tomllib.loads((EXAMPLES / "vrrpd.toml").read_text())
    prefix = "/usr/local/sbin/vrrpd-conntrackd"

    def local(argv: Sequence[str]) -> list[str]:
        out = [str(script) if a == prefix else a for a in argv]
        return [str(conf) if a == "/etc/conntrackd/conntrackd.conf" else a for a in out]

    routers = []
    for r in example["virtual_router"]:
        t = dict(r)
        t.update(priority=PRIORITY[node], advert_interval=interval)
        if grade == "hot":
            t["before_master"] = local(t["before_master"])
        else:
            t.pop("before_master", None)
            t.pop("before_master_timeout", None)
        if grade == "warm":
            t.update(takeover_gate=[str(extra["gate"])], gate_interval=0.5, gate_grace=5)
        routers.append(t)
    groups = []
    for g in example["sync_group"]:
        t = dict(g)
        for hook in ("on_master", "on_backup", "on_fault", "on_stop"):
            if grade == "hot" and hook in t:
                t[hook] = local(t[hook])
            else:
                t.pop(hook, None)
        if grade == "cold":
            t["on_master"] = [str(extra["start"])]
        groups.append(t)
    return routers, groups


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One measured hard failover of g1."""

    grade: str
    blackout: float  # ICMP to the server, seconds
    takeover: float | None  # from the failure to g2's first gratuitous ARP for the inside VIP
    streams: tuple[StreamVerdict, ...]
    requests: RequestSummary
    invalid: int  # the connections' packets g2 dropped as invalid after the failure
    invalid_service: int  # requests to the (dead) service on g1 that reached g2 mid-connection
    before_master_ms: tuple[float, ...]  # g2's before_master durations (hot)

    @property
    def kept(self) -> int:
        return sum(1 for s in self.streams if s.survived)

    @property
    def stall(self) -> float:
        return max((s.stall for s in self.streams), default=0.0)


class StandbyLab:
    """The standby lab of one grade inside `lab`: `start()`, then `failover()` once."""

    def __init__(
        self,
        lab: Lab,
        grade: str,
        *,
        connections: int = 5,
        interval: float = 0.1,
        window: float = 3.0,
        timeline: bool = False,
    ) -> None:
        if grade not in SETUP:
            raise LabError(f"grade {grade!r}: must be one of {', '.join(SETUP)}")
        self.lab, self.grade, self.n, self.interval = lab, grade, connections, interval
        self.window = window  # seconds after the takeover to wait for streams and service
        self.want_timeline = timeline
        self.gw: dict[str, Node] = {}
        self.vrrpd: dict[str, Vrrpd] = {}
        self.keepalived: dict[str, Keepalived] = {}
        self.conntrackd: dict[str, subprocess.Popen[Any]] = {}
        self.ctd_conf: dict[str, Path] = {}
        self.timeline: Timeline | None = None
        self.status_path = lab.workdir / "client.status"

    # building
    def start(self) -> None:
        """Build the lab and start everything; returns with g1 master, g2 backup."""
        lab, wd = self.lab, self.lab.workdir
        lab.add_segment("b")
        lab.add_segment("s")
        for name, addrs in GATEWAYS.items():
            self.gw[name] = lab.add_gateway(name, addrs, default_routes=False)
        self.client = lab.add_client("c1", f"{CLIENT}/24")
        self.client.add_route("default", VIP_IN)
        self.server = lab.add_client("s1", f"{SERVER}/24", segment="b")
        ruleset = (EXAMPLES / "nftables.conf").read_text()
        for g in self.gw.values():
            g.nft(ruleset)
            g.nft(LAB_COUNTERS)
            # the key exists only once the ruleset has loaded conntrack in this namespace
            g.set_sysctl("net.netfilter.nf_conntrack_tcp_loose", 0)
            loose = g.sysctl("net.netfilter.nf_conntrack_tcp_loose")
            if loose != "0":
                raise LabError(f"{g.name}: nf_conntrack_tcp_loose reads {loose!r}, not 0")
        self._serve(self.server, "--echo", str(ECHO_PORT))
        if self.grade in (*SYNCED, "warm"):
            for g in self.gw.values():
                self._serve(g, "--http", str(SERVICE_PORT))
        elif self.grade == "none":
            self._serve(self.gw["g1"], "--http", str(SERVICE_PORT))
        extra = {
            "gate": _script(
                wd / "service-ready",
                f"#!{sys.executable} -S\nimport socket\n"
                f"socket.create_connection(('127.0.0.1', {SERVICE_PORT}), 0.4).close()\n",
            ),
            "start": _script(
                wd / "service-start",
                "#!/bin/sh\n"
                f"PYTHONPATH={PACKAGE_ROOT} setsid -f {sys.executable} -m netns_lab.streams "
                f"serve --http {SERVICE_PORT} >/dev/null 2>&1 </dev/null\n",
            ),
        }
        example = (EXAMPLES / "conntrackd.conf").read_text()
        for name, g in self.gw.items():
            conf = wd / f"{name}-conntrackd.conf"
            conf.write_text(conntrackd_conf(example, wd, name))
            self.ctd_conf[name] = conf
            if self.grade in SYNCED:
                with open(wd / f"{name}-conntrackd.out", "wb") as out:
                    self.conntrackd[name] = g.popen(
                        ["conntrackd", "-C", str(conf)], stdout=out, stderr=subprocess.STDOUT
                    )
        for name in self.conntrackd:
            wait_for(partial(self.answers, name), 15, what=f"conntrackd in {name} to answer")
        if self.grade == KEEPALIVED:
            self._start_keepalived()
            return
        for name in ("g1", "g2"):
            routers, groups = vrrpd_routers(
                self.grade,
                name,
                self.ctd_conf[name],
                EXAMPLES / "primary-backup.sh",
                extra,
                self.interval,
            )
            d = start_vrrpd(self.gw[name], routers, groups)
            self.vrrpd[name] = d
            want = "MASTER" if name == "g1" else "BACKUP"
            d.wait_ready(timeout=15)
            d.wait_states({"inside": want, "outside": want}, timeout=15)

    def _start_keepalived(self) -> None:
        """keepalived on both gateways, the two VIPs as in examples/conntrackd/vrrpd.toml, and
        the standard sequence as keepalived users run it: all of it in notify_master (the
        commit first), which keepalived runs after adding the addresses."""
        script, wd = EXAMPLES / "primary-backup.sh", self.lab.workdir
        for name, g in self.gw.items():
            conf = self.ctd_conf[name]
            hooks = {
                state: _script(
                    wd / f"{name}-ka-{state}",
                    "#!/bin/sh\n" + "".join(f"{script} {step} {conf}\n" for step in steps),
                )
                for state, steps in (
                    ("master", ("commit", "primary")),
                    ("backup", ("backup",)),
                    ("fault", ("fault",)),
                )
            }
            instances = [
                {
                    "name": vr,
                    "interface": ifname,
                    "virtual_router_id": vrid,
                    "priority": PRIORITY[name],
                    "advert_int": self.interval,
                    "virtual_ipaddress": [f"{vip}/24"],
                    **{f"notify_{state}": str(path) for state, path in hooks.items()},
                }
                for vr, ifname, vrid, vip in (
                    ("inside", "eth0", 51, VIP_IN),
                    ("outside", "eth1", 52, VIP_OUT),
                )
            ]
            self.keepalived[name] = start_keepalived(
                g, instances, global_defs={"enable_script_security": True}
            )
        for name, ka in self.keepalived.items():
            want = "MASTER" if name == "g1" else "BACKUP"
            for vr in ("inside", "outside"):
                ka.wait_state(vr, want, timeout=15)

    def _serve(self, node: Node, *args: str) -> None:
        ready = self.lab.workdir / f"{node.name}-serve{args[0]}.ready"
        with open(self.lab.workdir / f"{node.name}-serve.log", "ab") as log:
            node.popen(
                [sys.executable, "-m", "netns_lab.streams", "serve", *args, "--ready", str(ready)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(ready.exists, 15, what=f"the server in {node.name}")

    def ctd(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``conntrackd -C CONF ARGS`` in gateway `node`."""
        return self.gw[node].run(["conntrackd", "-C", str(self.ctd_conf[node]), *args], check=check)

    def answers(self, node: str) -> bool:
        """Does `node`'s conntrackd answer on its control socket?"""
        return self.ctd(node, "-s", check=False).returncode == 0

    def external(self, node: str) -> int:
        """The client's connections in `node`'s external cache (replicated from the peer)."""
        out = self.ctd(node, "-e", "ct", check=False).stdout
        return sum(1 for line in out.splitlines() if f"dport={ECHO_PORT} " in line)

    def cut(self, node: str) -> None:
        """Take gateway `node` off its three segments at once, its links left up: the
        bridge-side ports leave their bridges (a dead box, as its peers see it). Taking its
        own links down instead would make its vrrpd see a link fault first, and the sync
        group's other member resign with a priority-0 advert: a graceful failover."""
        batch = "".join(f"link set {self.lab.prefix}{node}-{i} nomaster\n" for i in range(3))
        subprocess.run(
            ["ip", "-n", self.lab.switch_ns, "-batch", "-"],
            input=batch,
            text=True,
            capture_output=True,
            check=True,
            timeout=30,
        )

    def counters(self, node: str) -> dict[str, int]:
        """The packet counters of `node`'s lab table (`LAB_COUNTERS`), by name."""
        return {
            str(c["name"]): int(c["packets"])
            for o in self.gw[node].nft_list()
            if (c := o.get("counter")) and c.get("table") == "standbylab"
        }

    def status(self) -> dict[str, Any] | None:
        """The traffic client's latest status, or None before its first."""
        text = read_text(self.status_path)
        return json.loads(text) if text else None

    # the failover
    def failover(self) -> Run:
        """Start the traffic, fail g1 hard, watch g2 take over, stop and measure."""
        wd, c = self.lab.workdir, self.client
        cap: Capture = c.capture("--immediate-mode arp or ip proto 112")
        with open(wd / "client.json", "wb") as out, open(wd / "client.log", "wb") as err:
            client = c.popen(
                [
                    sys.executable, "-m", "netns_lab.streams", "client",
                    "--streams", f"{SERVER}:{ECHO_PORT}", "--count", str(self.n),
                    "--requests", f"{VIP_IN}:{SERVICE_PORT}", "--status", str(self.status_path),
                ],
                stdout=out,
                stderr=err,
            )  # fmt: skip
        probe: ProbeRun = c.start_probe(SERVER, adverts=True, vrid=51)
        try:
            return self._failover(cap, client, probe)
        finally:
            if probe.alive:
                probe.kill()
            signal_child(client, signal.SIGKILL)
            cap.stop()

    def _failover(self, cap: Capture, client: subprocess.Popen[Any], probe: ProbeRun) -> Run:
        g2 = self.gw["g2"]
        probe.wait_ready(timeout=15, advert_from="192.0.2.1")

        def flowing() -> dict[str, Any] | None:
            if client.poll() is not None:
                err = read_text(self.lab.workdir / "client.log").strip()
                raise LabError(f"the traffic client exited: {err}")
            s = self.status()
            ok = (
                s is not None
                and len(s["received"]) == self.n
                and all(x >= NEED for x in s["received"])
                and s["requests_ok"] > 0
            )
            return s if ok else None

        wait_for(flowing, 30, what="every connection flowing and the service answering")
        if self.grade in SYNCED:  # every connection replicated to g2 before the failure
            wait_for(lambda: self.external("g2") >= self.n, 15, what="g2's external cache")
        # the failure comes right after an advert of g1 (close to the worst case)
        seen = time.monotonic()
        probe.wait_event(
            lambda e: e[0] == "advert" and e[2] == "192.0.2.1" and float(e[1]) > seen,
            3 * self.interval + MARGIN,
            "an advert of g1",
        )
        before = list(wait_for(self.status, 5, what="the client's status")["received"])
        counted = self.counters("g2")
        t_fail = time.monotonic()
        self.cut("g1")  # first: the outage and the silence start together
        if self.keepalived:
            self.keepalived["g1"].crash()
        else:
            self.vrrpd["g1"].kill()
        if "g1" in self.conntrackd:
            kill_child(self.conntrackd["g1"])
            self.lab._untrack(self.conntrackd["g1"])
        t_killed = time.monotonic()
        bound = master_down_interval(self.interval, PRIORITY["g2"])
        if self.keepalived:
            for vr in ("inside", "outside"):
                self.keepalived["g2"].wait_state(vr, "MASTER", timeout=bound + MARGIN)
        else:
            self.vrrpd["g2"].wait_states(
                {"inside": "MASTER", "outside": "MASTER"}, timeout=bound + MARGIN
            )
        t_master = time.monotonic()

        def recovered() -> bool:
            s = self.status()
            if s is None:
                return False
            grew = [r - b for r, b in zip(s["received"], before, strict=True)]
            answered = s["last_ok"] is not None and s["last_ok"] > t_master
            # every request started before the takeover has its verdict (answer or timeout)
            settled = s["oldest_pending"] is None or s["oldest_pending"] > t_master
            return all(g >= NEED for g in grew) and answered and settled

        # what did not come back in the window is the measurement
        with contextlib.suppress(TimeoutError):
            wait_for(recovered, self.window, what="the connections and the service")
        probe.wait_reply_sent_after(t_master, timeout=MARGIN + 10)
        # read before the client stops: closing its connections while the echoes are in
        # flight makes the server's last segments invalid (after the client's reset)
        grew = {k: v - counted.get(k, 0) for k, v in self.counters("g2").items()}
        signal_child(client, signal.SIGTERM)
        client.wait(15)
        self.lab._untrack(client)
        result = json.loads((self.lab.workdir / "client.json").read_text())
        ping = probe.stop()
        offset = time.time() - time.monotonic()
        packets = cap.stop()
        garps = [t - offset for t in wire.times(wire.garps(packets, VIP_IN, g2.mac))]
        first_garp = min((t for t in garps if t > t_fail), default=None)
        log = self.vrrpd["g2"].log_text() if self.vrrpd else ""
        hook = re.findall(r"before_master done in ([\d.]+) ms", log)
        run = Run(
            grade=self.grade,
            blackout=blackout(ping),
            takeover=None if first_garp is None else first_garp - t_fail,
            streams=tuple(stream_verdicts(result, t_fail, before, NEED)),
            requests=request_summary(result, t_fail),
            invalid=grew["conn_forward"] + grew["conn_input"],
            invalid_service=grew["service_input"],
            before_master_ms=tuple(float(x) for x in hook),
        )
        if self.want_timeline:
            self.timeline = self._timeline(run, t_fail, t_killed, ping, packets, result, offset)
        return run

    def _timeline(
        self,
        run: Run,
        t_fail: float,
        t_killed: float,
        ping: Mapping[str, Any],
        packets: Sequence[Any],
        result: Mapping[str, Any],
        offset: float,
    ) -> Timeline:
        by_ip = {"192.0.2.1": "g1", "192.0.2.2": "g2"}
        by_mac = {g.mac: name for name, g in self.gw.items()}
        adverts = [
            (float(p.time) - offset, by_ip.get(str(wire.ip_of(p).src), str(wire.ip_of(p).src)),
             int(p.priority))
            for p in wire.adverts(packets, vrid=51)
        ]  # fmt: skip
        garps = [
            (float(p.time) - offset, by_mac.get(p.src, p.src)) for p in wire.garps(packets, VIP_IN)
        ]
        transitions = [
            (t - offset, name, new)
            for name, d in self.vrrpd.items()
            for t, _, _, new in log_transitions(d.log_text(), "inside")
        ]
        transitions.append((t_killed, "g1", ""))
        daemon = ("keepalived" if self.keepalived else "vrrpd") + (
            " and conntrackd" if self.conntrackd else ""
        )
        # wide enough to show the service answering again (cold: it starts after the takeover)
        pad = max(1.5 * self.interval, 0.02)
        if run.requests.back is not None and run.takeover is not None:
            pad = max(pad, run.requests.back - run.takeover + 0.15)
        tl = build(
            fault=t_fail,
            fault_label=f"g1 cut off its three segments, its {daemon} SIGKILLed",
            margin=pad,
            routers=["g1", "g2"],
            probes=probe_sends(ping),
            adverts=adverts,
            transitions=transitions,
            garps=garps,
            interval=self.interval,
            title=f"{self.grade}: {SETUP[self.grade]} (hard failure of g1, interval "
            f"{self.interval:g} s)",
        )
        return with_traffic(tl, t_fail, result)


def with_traffic(tl: Timeline, fault: float, result: Mapping[str, Any]) -> Timeline:
    """`tl` with the traffic client's lanes after the ping lane: the short requests (each
    marked answered or failed at its start) and one lane per long-lived connection (a mark
    every chunk interval: receiving, or in a gap without a received byte)."""
    step = float(result.get("chunk_every", 0.005))
    end = float(result.get("end", 0.0))
    reqs = tuple(
        Mark(float(a) - fault, "reply" if ok else "lost")
        for a, _, ok, _ in result.get("requests", [])
        if tl.start <= float(a) - fault <= tl.end
    )
    lanes = [dataclasses.replace(tl.lanes[0], name="ping server"), Lane("requests", "probe", reqs)]
    for i, s in enumerate(result.get("streams", [])):
        gaps = [(float(a), float(b)) for a, b in s.get("gaps", [])]
        last = float(s.get("last_rx") or 0.0)
        if end - last > 4 * step:
            gaps.append((last, end))
        marks = []
        t = tl.start
        while t <= tl.end:
            at = fault + t
            quiet = any(a < at < b for a, b in gaps)
            marks.append(Mark(t, "lost" if quiet else "reply"))
            t += step
        lanes.append(Lane(f"conn {i + 1}", "probe", tuple(marks)))
    return dataclasses.replace(tl, lanes=(*lanes, *tl.lanes[1:]))


def start_vrrpd(
    node: Node, routers: Sequence[Mapping[str, Any]], groups: Sequence[Mapping[str, Any]]
) -> Vrrpd:
    """Start vrrpd in `node` on these virtual routers and sync groups."""
    return node.start_vrrpd(routers, sync_groups=groups)


# --- the table ------------------------------------------------------------------------------


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:.0f}"


def _spread(xs: Sequence[float]) -> str:
    """Median, and min-max when there are several runs, in ms."""
    if not xs:
        return "—"
    med = _ms(statistics.median(xs))
    return med if len(xs) == 1 else f"{med} ({_ms(min(xs))}-{_ms(max(xs))})"


def _range(xs: Sequence[int]) -> str:
    return f"{min(xs)}" if min(xs) == max(xs) else f"{min(xs)}-{max(xs)}"


def table(runs: Mapping[str, Sequence[Run]], window: float) -> str:
    """The grades side by side, a Markdown table: medians (min-max) over the runs."""
    head = (
        "| grade | set-up | runs | connections kept | longest stall (ms) | blackout (ms) | "
        "requests failed | service answers again after (ms) | takeover (ms) | "
        "dropped as invalid |"
    )
    rows = [head, "|" + "---|" * 10]
    for grade, rs in runs.items():
        if not rs:
            continue
        kept = sum(r.kept for r in rs)
        total = sum(len(r.streams) for r in rs)
        backs = [r.requests.back for r in rs]
        never = sum(1 for b in backs if b is None)
        back = _spread([b for b in backs if b is not None])
        if never:
            back = (
                f"never within {window:g} s" if never == len(rs) else f"{back}; {never} runs never"
            )
        failed = [r.requests.failed for r in rs]
        fail = f"{statistics.median(failed):g}" + (f" ({_range(failed)})" if len(rs) > 1 else "")
        if never == len(rs):
            fail += " (all, to the end)"
        invalid = [r.invalid for r in rs]
        rows.append(
            f"| {grade} | {SETUP[grade]} | {len(rs)} | {kept} of {total} | "
            f"{_spread([r.stall for r in rs])} | {_spread([r.blackout for r in rs])} | "
            f"{fail} | {back} | {_spread([r.takeover for r in rs if r.takeover is not None])} | "
            f"{_range(invalid)} |"
        )
    return "\n".join(rows)


def describe(run: Run) -> str:
    """One line for one run: what each connection did, the requests, the takeover."""
    conns = " ".join(
        f"{s.bytes_after // 1000}k" if s.survived else ("reset" if s.error else "stalled")
        for s in run.streams
    )
    back = (
        "never answers again in the window"
        if run.requests.back is None
        else f"answers again after {run.requests.back * 1000:.0f} ms"
    )
    hook = (
        f", before_master {'/'.join(f'{x:g}' for x in run.before_master_ms)} ms"
        if run.before_master_ms
        else ""
    )
    return (
        f"{run.grade}: kept {run.kept}/{len(run.streams)} [{conns}], longest stall "
        f"{run.stall * 1000:.0f} ms, blackout {run.blackout * 1000:.0f} ms, takeover "
        f"{_ms(run.takeover)} ms{hook}; requests failed {run.requests.failed}, the service "
        f"{back}; dropped as invalid {run.invalid} "
        f"(+{run.invalid_service} to the dead service)"
    )


# --- the command ----------------------------------------------------------------------------


def grades_arg(text: str) -> list[str]:
    """An argparse type: grades separated by commas."""
    out = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in out if g not in SETUP]
    if bad or not out:
        raise argparse.ArgumentTypeError(
            f"unknown grade {', '.join(bad) or '(none)'}: choose from {', '.join(SETUP)}"
        )
    return out


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--grades",
        type=grades_arg,
        default=list(GRADES),
        help=f"comma-separated, of {', '.join(SETUP)} (default: {','.join(GRADES)}; "
        f"{KEEPALIVED}: hot with keepalived in vrrpd's place)",
    )
    ap.add_argument("--runs", type=int, default=1, help="failovers per grade (default 1)")
    ap.add_argument(
        "--connections", type=int, default=5, help="long-lived TCP connections (default 5)"
    )
    ap.add_argument(
        "--interval",
        type=interval_arg,
        default=0.1,
        help="advertisement interval in seconds (default 0.1)",
    )
    ap.add_argument(
        "--window",
        type=float,
        default=3.0,
        help="seconds after the takeover to wait for the connections and the service (default 3)",
    )
    ap.add_argument("--no-timeline", action="store_true", help="no timeline in the terminal")
    ap.add_argument(
        "--png",
        metavar="FILE",
        help="also draw each grade's first failover as a PNG: FILE-hot.png, ... "
        "(needs matplotlib: pip install 'vrrpd[plot]')",
    )
    ap.add_argument("--width", type=int, default=110, help="terminal timeline width")


def command(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    if args.runs < 1 or args.connections < 1:
        say("netns_lab standby: --runs and --connections must be at least 1")
        return 2
    if args.png:
        try:
            require_matplotlib()
        except PlotUnavailable as e:
            say(f"netns_lab standby: {e}")
            return 2
        folder = Path(args.png).parent
        if not folder.is_dir():
            say(f"netns_lab standby: --png {args.png}: no directory {folder}; create it first")
            return 2
    runs: dict[str, list[Run]] = {}
    for grade in args.grades:
        runs[grade] = []
        for k in range(args.runs):
            draw = k == 0 and (args.png or not args.no_timeline)
            with Lab() as lab:
                sb = StandbyLab(
                    lab,
                    grade,
                    connections=args.connections,
                    interval=args.interval,
                    window=args.window,
                    timeline=bool(draw),
                )
                sb.start()
                run = sb.failover()
            runs[grade].append(run)
            say(describe(run))
            if draw and sb.timeline is not None:
                if not args.no_timeline:
                    say(render_text(sb.timeline, args.width))
                if args.png:
                    path = png_path(args.png, grade)
                    render_png(sb.timeline, path)
                    say(f"timeline: {path}")
    say("")
    say(table(runs, args.window))
    return 0
