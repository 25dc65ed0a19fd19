"""Operating vrrpd, end to end: tracking (weights, FAULT, own link, scripts with rise/fall,
files), sync groups, the event stream, notify scripts, takeover / release / maintenance.

Real vrrpd processes in lab namespaces, driven with the real `vrrpctl` (``python -m
vrrpd.ctl``) from the host: the control socket is a file. Routers that need a second
interface are lab gateways (``eth0`` on segment ``a``, ``eth1`` on segment ``b``) with no
default routes for anyone. Bounds are generous (a shared 2-core machine); "nothing happens"
is shown by waiting for a positive count (adverts received), never by sleeping.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from netns_lab import probe as probe_mod
from netns_lab import wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import VIP, VIP_ADDR, vr
from vrrpd.timing import skew_time

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
MARGIN = 1.0  # seconds on top of an RFC bound: scheduling on a loaded 2-core machine
VIP_B = "198.51.100.254/24"
VIP_B_ADDR = VIP_B.split("/")[0]
R1, R2 = "192.0.2.1", "192.0.2.2"


# --- helpers ----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(REPO), env.get("PYTHONPATH", "")) if x)
    return env


def ctl(d: Vrrpd, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real vrrpctl against `d`'s control socket (from the host)."""
    return subprocess.run(
        [sys.executable, "-m", "vrrpd.ctl", "--socket", str(d.socket_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        check=False,
    )


def ctl_ok(d: Vrrpd, *args: str) -> str:
    cp = ctl(d, *args)
    assert cp.returncode == 0, f"vrrpctl {' '.join(args)}: exit {cp.returncode}: {cp.stderr}"
    return cp.stdout


def put(path: Path, text: str) -> None:
    """Replace a file's contents atomically: a reader never sees it empty or half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def explain(d: Vrrpd, name: str = "gw") -> str:
    return ctl_ok(d, "explain", name).strip()


def holds(node: Node, address: str, ifname: str = "eth0") -> bool:
    return node.has_address(address, ifname)


def holders(address: str, *nodes: Node, ifname: str = "eth0") -> list[str]:
    return [n.name for n in nodes if holds(n, address, ifname)]


def two_legged(lab: Lab, name: str, octet: int) -> Node:
    """A router namespace with eth0 on segment a (192.0.2.X) and eth1 on segment b
    (198.51.100.X): a lab gateway without default routes for anybody."""
    if "b" not in lab.segments:
        lab.add_segment("b")
    return lab.add_gateway(
        name, {"a": f"192.0.2.{octet}/24", "b": f"198.51.100.{octet}/24"}, default_routes=False
    )


def set_carrier(node: Node, ifname: str, up: bool) -> None:
    """Take the switch side of `node`'s `ifname` down or up: the interface itself stays
    administratively up and loses its carrier, as when a cable is pulled."""
    lab = node.lab
    if node.role == "gateway":
        port = f"{lab.prefix}{node.name}-{int(ifname.removeprefix('eth'))}"
    else:
        assert ifname == "eth0"
        port = f"{lab.prefix}{node.name}"
    subprocess.run(
        ["ip", "-n", lab.switch_ns, "link", "set", port, "up" if up else "down"],
        check=True,
        capture_output=True,
        timeout=30,
    )


def start_doc(
    node: Node,
    routers: Sequence[dict[str, Any]],
    *,
    sync_groups: Sequence[dict[str, Any]] = (),
    daemon: dict[str, Any] | None = None,
) -> Vrrpd:
    """Node.start_vrrpd with sync groups (kept for the tests that call it)."""
    return node.start_vrrpd(routers, sync_groups=sync_groups, daemon=daemon)


def transitions_logged(d: Vrrpd, name: str = "gw") -> list[tuple[str, str, str]]:
    """(old, new, reason) of every `NAME: state OLD -> NEW reason=R` log line, in order."""
    out = []
    for line in d.log_text().splitlines():
        marker = f" {name}: state "
        if marker not in line:
            continue
        words = line.split(marker, 1)[1].split()
        out.append((words[0], words[2], words[3].removeprefix("reason=")))
    return out


def unix_time(event: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(event["time"]).timestamp()


class Events:
    """`vrrpctl events --json` on a daemon, as a subprocess whose stdout lines a thread reads.

    `sync()` makes sure the subscription is live: it reloads the (unchanged) configuration
    until the `reload` event shows up in the stream, and returns that event's seq.
    """

    def __init__(self, d: Vrrpd) -> None:
        self.d = d
        err = d.node.lab.workdir / f"{d.node.name}-events-{time.monotonic_ns()}.err"
        self.err_path = err
        with open(err, "wb") as e:
            self.proc = d.node.popen(
                [
                    sys.executable,
                    "-m",
                    "vrrpd.ctl",
                    "--socket",
                    str(d.socket_path),
                    "events",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=e,
            )
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                item = json.loads(line)
                with self._lock:
                    self._items.append(item)

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    def wait(
        self, match: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for e in self.items():
                if match(e):
                    return e
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"vrrpctl events exited {self.proc.returncode}: "
                    f"{self.err_path.read_text(errors='replace')}"
                )
            return None

        try:
            return wait_for(found, timeout, interval=0.02, what=what)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; events so far: {self.items()}") from None

    def sync(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while True:
            seen = {e["seq"] for e in self.items() if e.get("type") == "reload"}
            ctl_ok(self.d, "reload")
            try:
                ev = self.wait(
                    lambda e, seen=seen: e.get("type") == "reload" and e["seq"] not in seen,
                    2.0,
                    "the reload event",
                )
                return int(ev["seq"])
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def transitions(self, after: int = 0, name: str | None = None) -> list[tuple[str, ...]]:
        return [
            (e["name"], e["old"], e["new"], e["reason"])
            for e in self.items()
            if e.get("type") == "transition"
            and e["seq"] > after
            and (name is None or e["name"] == name)
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(10)


def pair(
    lab: Lab,
    r1_extra: dict[str, Any] | None = None,
    r2_extra: dict[str, Any] | None = None,
    *,
    legs: bool = False,
) -> tuple[Node, Node, Vrrpd, Vrrpd]:
    """r1 (priority 150) master, r2 (priority 120) backup, converged."""
    if legs:
        r1, r2 = two_legged(lab, "r1", 1), two_legged(lab, "r2", 2)
    else:
        r1, r2 = lab.add_router("r1", f"{R1}/24"), lab.add_router("r2", f"{R2}/24")
    d1 = r1.start_vrrpd([vr(priority=150, **(r1_extra or {}))])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = r2.start_vrrpd([vr(priority=120, **(r2_extra or {}))])
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow r1")
    return r1, r2, d1, d2


# --- 1. tracking ------------------------------------------------------------------------------


def test_tracked_interface_weight_lowers_priority_and_backup_preempts(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(
        lab,
        {"track_interfaces": [{"name": "uplink", "interface": "eth1", "weight": -50}]},
        legs=True,
    )
    assert explain(d1) == "base 150 = 150"
    r1.link_set(False, "eth1")  # the uplink is switched off
    d2.wait_state("gw", "MASTER", timeout=5)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert explain(d1) == "base 150, -50 uplink eth1 down = 100"
    row = d1.router("gw")
    assert (row["priority"], row["effective_priority"], row["fault_reasons"]) == (150, 100, [])
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "preempted")
    assert transitions_logged(d1)[-1] == ("MASTER", "BACKUP", "higher-priority-seen")
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="only r2 to hold the VIP")
    r1.link_set(True, "eth1")
    d1.wait_state("gw", "MASTER", timeout=5)
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert explain(d1) == "base 150 = 150"
    assert transitions_logged(d1)[-1] == ("BACKUP", "MASTER", "preempted")
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")
    # The uplink's cable is pulled (carrier lost, the interface stays admin up): the same.
    set_carrier(r1, "eth1", up=False)
    d2.wait_state("gw", "MASTER", timeout=5)
    assert explain(d1) == "base 150, -50 uplink eth1 down = 100"
    set_carrier(r1, "eth1", up=True)
    d1.wait_state("gw", "MASTER", timeout=5)
    assert explain(d1) == "base 150 = 150"


def test_unweighted_track_is_fault_silent_and_recovers(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(lab, {"track_interfaces": [{"interface": "eth1"}]}, legs=True)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    d2_received = d2.counters("gw")["adverts_received"]
    d2.wait_counter("gw", "adverts_received", d2_received + 3, timeout=5)  # capture is live
    r1.link_set(False, "eth1")
    d1.wait_state("gw", "FAULT", timeout=5)
    d2.wait_state("gw", "MASTER", timeout=5)
    row = d1.router("gw")
    assert row["fault_reasons"] == ["interface eth1 down"]
    assert explain(d1) == "base 150 = 150; FAULT: interface eth1 down"
    assert transitions_logged(d1)[-1] == ("MASTER", "FAULT", "fault")
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "priority-0")
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="r1 to drop the VIP in FAULT")
    # Silent in FAULT: r1 hears 20 of r2's adverts and sends none.
    sent = d1.counters("gw")["adverts_sent"]
    received = d1.counters("gw")["adverts_received"]
    d1.wait_counter("gw", "adverts_received", received + 20, timeout=10)
    assert d1.counters("gw")["adverts_sent"] == sent
    assert d1.router("gw")["state"] == "FAULT"
    # On the wire: r1's release (priority 0), then 20 adverts of r2's and none of r1's.
    (release,) = cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=R1)) and wire.vrrp_layer(p).priority == 0,
        1,
        10,
        "r1's priority-0 release",
    )
    released_at = float(release.time)
    cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=R2)) and float(p.time) > released_at,
        20,
        10,
        "20 of r2's adverts after r1's release",
    )
    after = [p for p in wire.adverts(cap.packets(), src=R1) if float(p.time) > released_at]
    assert after == [], f"r1 advertised in FAULT: {[wire.vrrp_layer(p) for p in after]}"
    # Leaving FAULT: Backup first (a whole Master_Down_Interval), then preempt.
    r1.link_set(True, "eth1")
    d1.wait_state("gw", "MASTER", timeout=5)
    assert transitions_logged(d1)[-2:] == [
        ("FAULT", "BACKUP", "fault-cleared"),
        ("BACKUP", "MASTER", "preempted"),
    ]
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")
    cap.stop()


def test_own_interface_losing_carrier_is_fault(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(lab)
    set_carrier(r1, "eth0", up=False)
    d1.wait_state("gw", "FAULT", timeout=5)
    d2.wait_state("gw", "MASTER", timeout=5)
    assert d1.router("gw")["fault_reasons"] == ["interface eth0 down"]
    assert transitions_logged(d1)[-1] == ("MASTER", "FAULT", "fault")
    wait_for(lambda: not holds(r1, VIP_ADDR), 5, what="r1 to drop the VIP in FAULT")
    set_carrier(r1, "eth0", up=True)
    d1.wait_state("gw", "MASTER", timeout=5)
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert transitions_logged(d1)[-2:] == [
        ("FAULT", "BACKUP", "fault-cleared"),
        ("BACKUP", "MASTER", "preempted"),
    ]
    assert d1.router("gw")["fault_reasons"] == []
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")


def _script_runs(path: Path) -> list[tuple[float, int]]:
    """(unix time, exit code) of each run the check script logged."""
    out = []
    for line in path.read_text().splitlines():
        t, code = line.split()
        out.append((float(t), int(code)))
    return out


def _streak_before(runs: list[tuple[float, int]], t: float, code: int) -> int:
    """How many runs right before time `t` ended with `code` (the streak up to `t`)."""
    n = 0
    for _when, c in reversed([r for r in runs if r[0] < t]):
        if c != code:
            break
        n += 1
    return n


def test_track_script_rise_fall_debounce_and_explain(lab: Lab) -> None:
    state = lab.workdir / "check-state"
    runs = lab.workdir / "check-runs"
    put(state, "0\n")
    runs.write_text("")
    script = f'c=$(cat {state}); echo "$(date +%s.%N) $c" >> {runs}; exit $c'
    track = {
        "name": "chk",
        "command": ["/bin/sh", "-c", script],
        "interval": 0.3,
        "rise": 2,
        "fall": 3,
        "weight": -60,
    }
    _r1, _r2, d1, d2 = pair(lab, {"track_scripts": [track]})
    assert explain(d1) == "base 150 = 150"
    events = Events(d1)
    try:
        events.sync()
        put(state, "1\n")
        down = events.wait(
            lambda e: e.get("type") == "priority" and e["new"] == 90, 15, "priority 150 -> 90"
        )
        d2.wait_state("gw", "MASTER", timeout=5)
        d1.wait_state("gw", "BACKUP", timeout=5)
        assert explain(d1) == "base 150, -60 script chk failing (3/3) = 90"
        # fall = 3: exactly three failing runs before the priority moved (the fourth run
        # starts only after the third's result was applied).
        assert _streak_before(_script_runs(runs), unix_time(down), 1) == 3, _script_runs(runs)
        put(state, "0\n")
        up = events.wait(
            lambda e: e.get("type") == "priority" and e["new"] == 150, 15, "priority 90 -> 150"
        )
        d1.wait_state("gw", "MASTER", timeout=5)
        assert explain(d1) == "base 150 = 150"
        assert _streak_before(_script_runs(runs), unix_time(up), 0) == 2, _script_runs(runs)
        tracks = [e["change"] for e in events.items() if e.get("type") == "track"]
        assert tracks == ["script chk failing (exit 1)", "script chk ok (exit 0)"]
    finally:
        events.stop()


def test_track_file_weight_times_value(lab: Lab) -> None:
    load = lab.workdir / "load"
    put(load, "0\n")
    _r1, _r2, d1, d2 = pair(
        lab, {"track_files": [{"name": "load", "path": str(load), "weight": -10}]}
    )
    assert explain(d1) == "base 150 = 150"  # value 0: no term
    transitions = d1.router("gw")["transitions"]
    put(load, "2\n")  # -20: 130, still above r2's 120
    wait_for(
        lambda: d1.router("gw")["effective_priority"] == 130, 10, what="effective priority 130"
    )
    assert explain(d1) == f"base 150, -20 file load {load} = 2 x -10 = 130"
    # Still master after 10 more of its own adverts, no transition.
    d1.wait_counter("gw", "adverts_sent", d1.counters("gw")["adverts_sent"] + 10, timeout=10)
    assert (d1.router("gw")["state"], d1.router("gw")["transitions"]) == ("MASTER", transitions)
    put(load, "4\n")  # -40: 110, below r2
    d2.wait_state("gw", "MASTER", timeout=10)
    d1.wait_state("gw", "BACKUP", timeout=5)
    assert explain(d1) == f"base 150, -40 file load {load} = 4 x -10 = 110"
    put(load, "0\n")
    d1.wait_state("gw", "MASTER", timeout=10)
    assert d1.router("gw")["effective_priority"] == 150


# --- 2. sync group --------------------------------------------------------------------------


def test_sync_group_moves_together_when_one_link_fails(lab: Lab) -> None:
    r1, r2 = two_legged(lab, "r1", 1), two_legged(lab, "r2", 2)

    def routers(priority: int) -> list[dict[str, Any]]:
        return [
            vr(name="inside", interface="eth0", vrid=51, priority=priority, virtual_ips=[VIP]),
            vr(name="outside", interface="eth1", vrid=52, priority=priority, virtual_ips=[VIP_B]),
        ]

    group = [{"name": "edge", "members": ["inside", "outside"]}]
    d1 = start_doc(r1, routers(150), sync_groups=group)
    d1.wait_states({"inside": "MASTER", "outside": "MASTER"}, timeout=15)
    d2 = start_doc(r2, routers(120), sync_groups=group)
    d2.wait_states({"inside": "BACKUP", "outside": "BACKUP"}, timeout=15)
    set_carrier(r1, "eth1", up=False)  # only the outside link fails
    d1.wait_states({"inside": "FAULT", "outside": "FAULT"}, timeout=5)
    d2.wait_states({"inside": "MASTER", "outside": "MASTER"}, timeout=5)
    assert d1.router("outside")["fault_reasons"] == ["interface eth1 down"]
    assert explain(d1, "inside") == (
        "base 150 = 150; FAULT: sync group edge: member outside in FAULT"
    )
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="r2 alone to hold inside")
    wait_for(
        lambda: holders(VIP_B_ADDR, r1, r2, ifname="eth1") == ["r2"],
        5,
        what="r2 alone to hold outside",
    )
    assert "sync group edge: all members FAULT" in d1.log_text()
    set_carrier(r1, "eth1", up=True)
    d1.wait_states({"inside": "MASTER", "outside": "MASTER"}, timeout=10)
    d2.wait_states({"inside": "BACKUP", "outside": "BACKUP"}, timeout=5)
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="r1 to hold inside again")


# --- 3. events ------------------------------------------------------------------------------


def test_event_stream_ordered_with_reasons(lab: Lab) -> None:
    flag = lab.workdir / "flag"
    put(flag, "0\n")
    _r1, _r2, d1, d2 = pair(lab, {"track_files": [{"name": "flag", "path": str(flag)}]})
    e1, e2 = Events(d1), Events(d2)
    try:
        s1, s2 = e1.sync(), e2.sync()
        ctl_ok(d2, "takeover", "gw")
        d1.wait_state("gw", "BACKUP", timeout=5)
        ctl_ok(d2, "release", "gw")
        d1.wait_state("gw", "MASTER", timeout=5)
        d2.wait_state("gw", "BACKUP", timeout=5)
        ctl_ok(d1, "maintenance", "gw", "on")
        d2.wait_state("gw", "MASTER", timeout=5)
        ctl_ok(d1, "maintenance", "gw", "off")
        d1.wait_state("gw", "MASTER", timeout=5)
        d2.wait_state("gw", "BACKUP", timeout=5)
        put(flag, "1\n")
        d1.wait_state("gw", "FAULT", timeout=10)
        d2.wait_state("gw", "MASTER", timeout=5)
        put(flag, "0\n")
        d1.wait_state("gw", "MASTER", timeout=10)
        d2.wait_state("gw", "BACKUP", timeout=5)
        # A reload that adds a virtual router: it starts, and nobody else has its VRID.
        doc = tomllib.loads(d1.config_path.read_text())
        doc["virtual_router"].append(
            vr(name="gw2", vrid=52, priority=100, virtual_ips=["192.0.2.253/24"])
        )
        d1.config_path.write_text(dumps(doc))
        assert "added: gw2" in ctl_ok(d1, "reload")
        d1.wait_state("gw2", "MASTER", timeout=10)
        wait_for(lambda: len(e1.transitions(s1)) >= 9, 10, what="r1's 9 transition events")
        wait_for(lambda: len(e2.transitions(s2)) >= 6, 10, what="r2's 6 transition events")
    finally:
        e1.stop()
        e2.stop()

    for ev in (e1, e2):
        seqs = [e["seq"] for e in ev.items()]
        assert seqs == sorted(set(seqs)), f"seq not strictly increasing: {seqs}"
        times = [e["time"] for e in ev.items()]
        assert times == sorted(times)
    assert e1.transitions(s1) == [
        ("gw", "MASTER", "BACKUP", "higher-priority-seen"),
        ("gw", "BACKUP", "MASTER", "preempted"),
        ("gw", "MASTER", "BACKUP", "step-down"),
        ("gw", "BACKUP", "MASTER", "preempted"),
        ("gw", "MASTER", "FAULT", "fault"),
        ("gw", "FAULT", "BACKUP", "fault-cleared"),
        ("gw", "BACKUP", "MASTER", "preempted"),
        ("gw2", "INITIALIZE", "BACKUP", "startup"),
        ("gw2", "BACKUP", "MASTER", "master-down"),
    ]
    assert e2.transitions(s2) == [
        ("gw", "BACKUP", "MASTER", "takeover"),
        ("gw", "MASTER", "BACKUP", "higher-priority-seen"),
        ("gw", "BACKUP", "MASTER", "priority-0"),
        ("gw", "MASTER", "BACKUP", "higher-priority-seen"),
        ("gw", "BACKUP", "MASTER", "priority-0"),
        ("gw", "MASTER", "BACKUP", "higher-priority-seen"),
    ]
    # Priority and track changes, with the explanation.
    changes1 = [
        (e["type"], e.get("old"), e.get("new"), e.get("change"), e["explain"])
        for e in e1.items()
        if e["seq"] > s1 and e["type"] in ("priority", "track")
    ]
    assert changes1 == [
        ("priority", 150, 1, None, "base 150 = 150; maintenance: advertising 1"),
        ("priority", 1, 150, None, "base 150 = 150"),
        ("track", None, None, "file flag = 1", f"base 150 = 150; FAULT: file flag {flag} = 1"),
        ("track", None, None, "file flag = 0", "base 150 = 150"),
    ]
    changes2 = [
        (e["old"], e["new"]) for e in e2.items() if e["seq"] > s2 and e["type"] == "priority"
    ]
    assert changes2 == [(120, 254), (254, 120)]
    # Each in its place in the stream: priority 1 before the step-down it causes, the track
    # change before the FAULT, r2's 254 before its takeover.
    seq1 = {
        key: e["seq"]
        for e in e1.items()
        for key in [(e["type"], e.get("new"), e.get("reason"), e.get("change"))]
    }
    assert seq1[("priority", 1, None, None)] < seq1[("transition", "BACKUP", "step-down", None)]
    flagged = seq1[("track", None, None, "file flag = 1")]
    assert flagged < seq1[("transition", "FAULT", "fault", None)]
    seq2 = {(e["type"], e.get("new"), e.get("reason")): e["seq"] for e in e2.items()}
    assert seq2[("priority", 254, None)] < seq2[("transition", "MASTER", "takeover")]
    reloads = [e for e in e1.items() if e["type"] == "reload" and e["seq"] > s1]
    assert [(r["added"], r["unchanged"]) for r in reloads] == [(["gw2"], ["gw"])]


# --- 4. notify --------------------------------------------------------------------------------


def _notify_script(lab: Lab, name: str, body: str) -> Path:
    path = lab.workdir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_notify_script_called_in_transition_order(lab: Lab) -> None:
    out1, out2 = lab.workdir / "notify-r1.out", lab.workdir / "notify-r2.out"
    body = (
        'echo "$* | $VRRP_KIND $VRRP_NAME $VRRP_OLD_STATE $VRRP_STATE $VRRP_REASON '
        '$VRRP_PRIORITY $VRRP_VRID $VRRP_IFACE $VRRP_FAMILY" >> "$OUT"\n'
    )
    script = _notify_script(lab, "notify.sh", 'OUT="$1"; shift\n' + body)
    _r1, _r2, d1, d2 = pair(
        lab,
        {"notify": [str(script), str(out1)]},
        {"notify": [str(script), str(out2)]},
    )
    ctl_ok(d1, "maintenance", "gw", "on")
    d2.wait_state("gw", "MASTER", timeout=5)
    want1 = [
        "INSTANCE gw BACKUP 150 | INSTANCE gw INITIALIZE BACKUP startup 150 51 eth0 ipv4",
        "INSTANCE gw MASTER 150 | INSTANCE gw BACKUP MASTER master-down 150 51 eth0 ipv4",
        "INSTANCE gw BACKUP 1 | INSTANCE gw MASTER BACKUP step-down 1 51 eth0 ipv4",
    ]
    want2 = [
        "INSTANCE gw BACKUP 120 | INSTANCE gw INITIALIZE BACKUP startup 120 51 eth0 ipv4",
        "INSTANCE gw MASTER 120 | INSTANCE gw BACKUP MASTER priority-0 120 51 eth0 ipv4",
    ]
    wait_for(lambda: len(_lines(out1)) >= 3, 10, what="r1's 3 notifications")
    wait_for(lambda: len(_lines(out2)) >= 2, 10, what="r2's 2 notifications")
    assert _lines(out1) == want1
    assert _lines(out2) == want2


def test_hanging_notify_is_killed_and_blocks_nothing(lab: Lab) -> None:
    out = lab.workdir / "hang.out"
    children = lab.workdir / "hang.children"
    script = _notify_script(
        lab,
        "hang.sh",
        f'echo "$(date +%s.%N) $$ $*" >> {out}\n'
        f"sleep 30 &\necho $! >> {children}\nwait\n"
        f'echo "not killed $*" >> {out}\n',
    )
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    d1 = r1.start_vrrpd([vr(priority=150)])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = r2.start_vrrpd([vr(priority=120, notify=[str(script)], notify_timeout=0.5)])
    # r2's BACKUP notification is running (and will hang): stop the master now.
    wait_for(lambda: len(_lines(out)) >= 1, 10, interval=0.005, what="the notify script to run")
    started, pid, *argv = _lines(out)[0].split()
    assert argv == ["INSTANCE", "gw", "BACKUP", "120"]
    stopped = time.monotonic()
    d1.process.terminate()  # priority 0: r2 takes over within Skew_Time
    d2.wait_state("gw", "MASTER", timeout=float(skew_time(120, 10, 3)) + MARGIN)
    took = time.monotonic() - stopped
    # The protocol went on while the script hung: MASTER came before the script was killed
    # (at 0.5 s), and well within the failover bound.
    master_at = _log_time(d2, "gw: state BACKUP -> MASTER")
    print(f"notify hang: MASTER {(master_at - float(started)) * 1000:.0f} ms into the hang")
    assert master_at - float(started) < 0.5, (master_at - float(started), took)
    assert took <= float(skew_time(120, 10, 3)) + MARGIN
    # The hung script is killed after notify_timeout (not after its 30 s), then the next one
    # runs: MASTER.
    wait_for(lambda: len(_lines(out)) >= 2, 10, what="the MASTER notification")
    assert _lines(out)[1].split()[2:] == ["INSTANCE", "gw", "MASTER", "120"]
    # Killed with its process group: the shell and its sleeping child are gone.
    for gone in (int(pid), int(_lines(children)[0])):
        wait_for(lambda gone=gone: _dead(gone), 5, what=f"pid {gone} to be gone")
    assert not any("not killed" in line for line in _lines(out))
    assert f"notify gw BACKUP: {script} killed after 0.5s" in d2.log_text()


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting to be reaped."""
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    return True


def _log_time(d: Vrrpd, text: str) -> float:
    """The unix time of the first log line containing `text` (the log's own timestamp)."""
    for line in d.log_text().splitlines():
        if text in line:
            stamp = line.split()[0]  # 2026-01-01T00:00:00.123 (local time)
            return datetime.datetime.fromisoformat(stamp).timestamp()
    raise AssertionError(f"no log line with {text!r}:\n{d.log_text()[-3000:]}")


# --- 5. takeover, release, maintenance ------------------------------------------------------


def test_takeover_loses_no_probe_and_release_gives_back(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(lab)
    c1 = lab.add_client("c1", "192.0.2.100/24")
    probe = c1.start_probe(VIP_ADDR, vrid=51)
    try:
        probe.wait_ready(timeout=10, advert_from=R1)
        assert c1.neigh(VIP_ADDR) == r1.mac
        probe.wait_reply_sent_after(time.monotonic() + 0.5, timeout=5)  # 100 answered first
        before = time.monotonic()
        out = ctl_ok(d2, "takeover", "gw")
        assert out.strip() == "gw: takeover done, priority 254"
        d2.wait_state("gw", "MASTER", timeout=5)
        d1.wait_state("gw", "BACKUP", timeout=5)
        wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="only r2 to hold the VIP")
        assert c1.neigh(VIP_ADDR) == r2.mac
        after = time.monotonic()
        probe.wait_reply_sent_after(after + 0.5, timeout=5)
    finally:
        result = probe.stop()
    sends = [t for _, t, _ in probe_mod.answered(result)]
    # The probe ran across the whole takeover, before and after.
    assert min(sends) < before - 0.5 and max(sends) > after + 0.5
    lost = probe_mod.lost(result)
    print(
        f"takeover: {result['sent']} probes, {lost} lost, "
        f"longest gap {probe_mod.blackout(result) * 1000:.1f} ms"
    )
    assert lost == 0, (
        f"{lost} of {result['sent']} probes lost across the takeover; "
        f"blackout {probe_mod.blackout(result) * 1000:.1f} ms"
    )
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "takeover")
    assert transitions_logged(d1)[-1] == ("MASTER", "BACKUP", "higher-priority-seen")
    row = d2.router("gw")
    assert (row["takeover"], row["effective_priority"], row["priority"]) == (True, 254, 120)
    assert explain(d2) == "base 120 = 120; takeover: advertising 254 (vrrpctl release to end)"
    # The old master does not take it straight back while the takeover holds.
    d1.wait_counter("gw", "adverts_received", d1.counters("gw")["adverts_received"] + 20, 10)
    assert d2.router("gw")["state"] == "MASTER"
    # A takeover needs a backup.
    refused = ctl(d2, "takeover", "gw")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "vrrpctl: gw: takeover needs state BACKUP, not MASTER"
    # release: back to 120, and r1 (150) preempts.
    assert ctl_ok(d2, "release", "gw").strip() == "gw: release done, priority 120"
    d1.wait_state("gw", "MASTER", timeout=5)
    d2.wait_state("gw", "BACKUP", timeout=5)
    row = d2.router("gw")
    assert (row["takeover"], row["effective_priority"]) == (False, 120)
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")


def test_maintenance_steps_down_and_stays_backup(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(lab)
    out = ctl_ok(d1, "maintenance", "gw", "on")
    returned = time.monotonic()
    assert out.strip() == "gw: maintenance on, priority 1"
    d2.wait_state("gw", "MASTER", timeout=float(skew_time(120, 10, 3)) + MARGIN)
    assert time.monotonic() - returned <= float(skew_time(120, 10, 3)) + MARGIN
    # Released with priority 0: r2 waited Skew_Time, not Master_Down_Interval.
    assert transitions_logged(d2)[-1] == ("BACKUP", "MASTER", "priority-0")
    assert d2.counters("gw")["priority0_received"] >= 1
    assert transitions_logged(d1)[-1] == ("MASTER", "BACKUP", "step-down")
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r2"], 5, what="only r2 to hold the VIP")
    # Stays backup although its base (150) beats r2's 120: 30 adverts from r2 later.
    d1.wait_counter("gw", "adverts_received", d1.counters("gw")["adverts_received"] + 30, 15)
    row = d1.router("gw")
    assert (row["state"], row["priority"], row["effective_priority"], row["maintenance"]) == (
        "BACKUP",
        150,
        1,
        True,
    )
    assert d2.router("gw")["state"] == "MASTER"
    assert explain(d1) == "base 150 = 150; maintenance: advertising 1"
    assert ctl_ok(d1, "maintenance", "gw", "off").strip() == "gw: maintenance off, priority 150"
    d1.wait_state("gw", "MASTER", timeout=5)
    d2.wait_state("gw", "BACKUP", timeout=5)
    assert transitions_logged(d1)[-1] == ("BACKUP", "MASTER", "preempted")
    assert d1.router("gw")["effective_priority"] == 150
    wait_for(lambda: holders(VIP_ADDR, r1, r2) == ["r1"], 5, what="only r1 to hold the VIP")
