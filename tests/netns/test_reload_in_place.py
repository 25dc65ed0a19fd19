"""Reload applies changes in place: a running master is never bounced by a change it can apply.

- Adding a VIP by reload (a rolling change, master first or backup first): sampled every 10 ms
  in both routers' namespaces (plus every netlink address event), the original VIP never leaves
  the master and never appears on the backup, no transition anywhere, and the master then
  advertises the new list. The master announces (gratuitous ARP) only the added address; a
  removed VIP goes away without a transition.
- `garp_refresh` 1 -> 0 stops the refresh (it must not become a refresh every 0 s: an ARP
  storm) and 0 -> 1 starts it; a garp_* change itself announces nothing.
- `router_advertisements` switched on by reload makes a master send RAs; switched off, one RA
  with router lifetime 0.
- A reload whose application fails (an interface missing on the node; an IPv6 router on an
  interface with IPv6 disabled) applies nothing, is logged, is answered as a failure, sends
  READY=1 after RELOADING=1 (systemd's notify protocol, a stand-in NOTIFY_SOCKET), leaves
  the daemon serving, and the next valid reload applies.

`AddressSampler` (every 10 ms and every netlink address event in a namespace) is shared with
test_owner.py.
"""

from __future__ import annotations

import itertools
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.lab import Capture, ControlError, Lab, Node, Vrrpd, control_request, wait_for
from tests.conformance.test_ra import _ras
from tests.helpers import VIP, VIP_ADDR, vr
from tests.netns.test_operations import R1, R2, ctl, transitions_logged
from tests.netns.test_reload import read_doc, sighup, write_doc

pytestmark = pytest.mark.netns

INTERVAL = 0.1
NEW_VIP = "192.0.2.252/24"
NEW_VIP_ADDR = NEW_VIP.split("/")[0]
PERIOD = 0.01  # the samplers' period: 10 ms


# --- samplers -------------------------------------------------------------------------------

# Run inside a namespace (`ip netns exec`): dump IFNAME's IPv4 addresses every PERIOD seconds
# ("S <monotonic> <addr> ...") and, in between, write every netlink address event on it
# ("E <monotonic> NEW|DEL <addr>"): a bounce shorter than the period is still seen. The clock
# is CLOCK_MONOTONIC, the same in every namespace and in the test.
_SAMPLER = r"""
import select, sys, time
from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR

out_path, ifname, period = sys.argv[1], sys.argv[2], float(sys.argv[3])
dump, mon = IPRoute(), IPRoute()
mon.bind(groups=RTMGRP_IPV4_IFADDR)
index = dump.link_lookup(ifname=ifname)[0]
with open(out_path, "w", buffering=1) as out:
    due = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= due:
            addrs = sorted(m.get("IFA_ADDRESS") for m in dump.get_addr(family=2, index=index))
            out.write(f"S {time.monotonic():.6f} {' '.join(addrs)}\n")
            due = max(due + period, now)
        ready, _, _ = select.select([mon.fileno()], [], [], max(0.0, due - time.monotonic()))
        if ready:
            for m in mon.get():
                if m["index"] == index:
                    kind = "NEW" if m["event"] == "RTM_NEWADDR" else "DEL"
                    out.write(f"E {time.monotonic():.6f} {kind} {m.get('IFA_ADDRESS')}\n")
"""


class AddressSampler:
    """`_SAMPLER` running in a node: its IPv4 addresses every 10 ms and every change."""

    def __init__(self, node: Node, ifname: str = "eth0") -> None:
        self.node = node
        self.path = node.lab.workdir / f"{node.name}-addr-samples-{time.monotonic_ns()}.txt"
        self.err = self.path.with_suffix(".err")
        with open(self.err, "wb") as err:
            self.proc = node.popen(
                [sys.executable, "-c", _SAMPLER, str(self.path), ifname, repr(PERIOD)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def _lines(self) -> list[list[str]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        return [line.split() for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def samples(self) -> list[tuple[float, frozenset[str]]]:
        return [(float(w[1]), frozenset(w[2:])) for w in self._lines() if w[0] == "S"]

    def events(self) -> list[tuple[float, str, str]]:
        return [(float(w[1]), w[2], w[3]) for w in self._lines() if w[0] == "E"]

    def wait_started(self, count: int = 5, timeout: float = 15) -> None:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"address sampler in {self.node.name} exited {self.proc.returncode}: "
                    f"{self.err.read_text(errors='replace')}"
                )
            return len(self.samples()) >= count

        wait_for(started, timeout, what=f"the address sampler in {self.node.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)

    def without(self, address: str, since: float = 0.0) -> list[float]:
        """Times of samples (after `since`) that lack `address`, and of its removals."""
        gone = [t for t, addrs in self.samples() if t >= since and address not in addrs]
        gone += [t for t, kind, a in self.events() if t >= since and kind == "DEL" and a == address]
        return sorted(gone)

    def holding(self, address: str, since: float = 0.0) -> list[float]:
        """Times of samples (after `since`) that hold `address`, and of its additions."""
        held = [t for t, addrs in self.samples() if t >= since and address in addrs]
        held += [t for t, kind, a in self.events() if t >= since and kind == "NEW" and a == address]
        return sorted(held)

    def coverage(self, start: float, end: float) -> tuple[int, float]:
        """How many samples fall in [start, end] and the longest gap between them (s)."""
        ts = [t for t, _ in self.samples() if start <= t <= end]
        gaps = [b - a for a, b in itertools.pairwise([start, *ts, end])]
        return len(ts), max(gaps)


class StatePoller:
    """A thread asking each daemon's control socket for virtual router `name`'s state every
    10 ms: (monotonic time, state); the state is "absent" when the router is not in the
    status, "error: ..." when the socket did not answer."""

    def __init__(self, daemons: dict[str, Vrrpd], name: str = "gw") -> None:
        self.daemons = daemons
        self.name = name
        self._samples: dict[str, list[tuple[float, str]]] = {k: [] for k in daemons}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="state-poller")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, d in self.daemons.items():
                try:
                    rows = d.status(timeout=2.0)
                    states = [r.get("state") for r in rows if r.get("name") == self.name]
                    state = str(states[0]) if states else "absent"
                except (ControlError, OSError) as e:
                    state = f"error: {e}"
                self._samples[label].append((time.monotonic(), state))
            self._stop.wait(PERIOD)

    def samples(self, label: str) -> list[tuple[float, str]]:
        return list(self._samples[label])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class PcapTail:
    """A capture's pcap read incrementally with `struct`, no scapy: fast enough for an ARP
    storm of 100 000 frames a second. Frames are (capture time, bytes)."""

    def __init__(self, cap: Capture) -> None:
        self.path = cap.pcap_path
        self.offset = 0
        self.scale = 1e-6
        self.frames: list[tuple[float, bytes]] = []

    def read(self) -> list[tuple[float, bytes]]:
        """The frames written since the last call (all of them are in `frames`)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        pos = 0
        if self.offset == 0:
            if len(data) < 24:
                return []
            (magic,) = struct.unpack_from("<I", data)
            self.scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
            pos = 24
        new = []
        while pos + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack_from("<IIII", data, pos)
            if pos + 16 + incl > len(data):
                break  # half written
            new.append((sec + frac * self.scale, data[pos + 16 : pos + 16 + incl]))
            pos += 16 + incl
        self.offset += pos
        self.frames += new
        return new


def garp_for(frame: bytes) -> str | None:
    """The address a gratuitous ARP request announces (broadcast, op 1, sender = target
    address), or None for any other frame."""
    if len(frame) < 42 or frame[:6] != b"\xff" * 6 or frame[12:14] != b"\x08\x06":
        return None
    arp = frame[14:42]
    if arp[6:8] != b"\x00\x01" or arp[14:18] != arp[24:28]:
        return None
    return str(IPv4Address(arp[14:18]))


def is_advert_from(frame: bytes, src: str) -> bool:
    """An IPv4 VRRP frame (protocol 112) from `src`."""
    return (
        len(frame) >= 34
        and frame[12:14] == b"\x08\x00"
        and frame[23] == 112
        and frame[26:30] == IPv4Address(src).packed
    )


# --- helpers ----------------------------------------------------------------------------------


def reload(d: Vrrpd) -> Any:
    """Reload through the control socket (what `vrrpctl reload` does); returns its answer."""
    return control_request(str(d.socket_path), {"cmd": "reload"}, timeout=30)


def set_router(d: Vrrpd, **keys: Any) -> None:
    """Rewrite `d`'s configuration file with `keys` changed in its first virtual router."""
    doc = read_doc(d)
    doc["virtual_router"][0].update(keys)
    write_doc(d, doc)


def pair(lab: Lab) -> tuple[Node, Node, Vrrpd, Vrrpd]:
    """r1 (priority 150) master and r2 (priority 100) backup of `gw`, r2 following r1."""
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    d1 = r1.start_vrrpd([vr(priority=150, advert_interval=INTERVAL)])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = r2.start_vrrpd([vr(priority=100, advert_interval=INTERVAL)])
    d2.wait_state("gw", "BACKUP", timeout=15)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow r1")
    return r1, r2, d1, d2


def adverts_heard(d: Vrrpd, more: int, timeout: float = 15) -> None:
    """Wait until `d` has received `more` further adverts (time passing, shown positively)."""
    d.wait_counter("gw", "adverts_received", d.counters("gw")["adverts_received"] + more, timeout)


def advertised(p: Any) -> tuple[str, ...]:
    """The address list of a captured advert."""
    layer = wire.vrrp_layer(p)
    assert layer is not None
    return tuple(str(a) for a in layer.addrlist)


def in_window(samples: list[tuple[float, str]], start: float, end: float) -> list[str]:
    return [s for t, s in samples if start <= t <= end]


# --- 1. adding a VIP never bounces the master ---------------------------------------------------


@pytest.mark.parametrize("first", ["master", "backup"])
def test_rolling_vip_addition_never_bounces_the_master(lab: Lab, first: str) -> None:
    r1, r2, d1, d2 = pair(lab)
    before = {
        "r1": (d1.router("gw")["transitions"], transitions_logged(d1)),
        "r2": (d2.router("gw")["transitions"], transitions_logged(d2)),
    }
    s1, s2 = AddressSampler(r1), AddressSampler(r2)
    s1.wait_started()
    s2.wait_started()
    states = StatePoller({"r1": d1, "r2": d2})
    wait_for(lambda: len(states.samples("r1")) >= 5, 10, what="the state poller")
    order = [d1, d2] if first == "master" else [d2, d1]
    try:
        start = time.monotonic()
        for d in order:
            set_router(d, virtual_ips=[VIP, NEW_VIP])
            reload(d)
            if d is d1:
                wait_for(lambda: r1.has_address(NEW_VIP_ADDR), 10, what="r1 to add the new VIP")
            adverts_heard(d2, 5)  # r2 hears r1 for a while with the lists differing
        # The window goes on for ~1 s after the second reload (10 adverts at 0.1 s).
        adverts_heard(d2, 10)
        end = time.monotonic()
    finally:
        states.stop()
        s1.stop()
        s2.stop()
    n1, gap1 = s1.coverage(start, end)
    n2, gap2 = s2.coverage(start, end)
    print(
        f"{first} first: {end - start:.2f} s sampled, r1 {n1} samples (max gap "
        f"{gap1 * 1000:.0f} ms, {len(s1.events())} address events), r2 {n2} samples (max gap "
        f"{gap2 * 1000:.0f} ms), states r1 {len(states.samples('r1'))} r2 "
        f"{len(states.samples('r2'))}"
    )
    assert n1 >= 20 and n2 >= 20, f"too few address samples: r1 {n1}, r2 {n2}"
    # The addresses, every 10 ms and every change: the VIP stays on r1 and never reaches r2.
    lost = s1.without(VIP_ADDR, start)
    assert not lost, (
        f"r1 (master) lost {VIP_ADDR} {lost[0] - start:.3f} s into the rolling change "
        f"({len(lost)} samples/events without it): adding a VIP by reload bounced the master"
    )
    for address in (VIP_ADDR, NEW_VIP_ADDR):
        dup = s2.holding(address, start)
        assert not dup, (
            f"r2 (backup) held {address} {dup[0] - start:.3f} s into the rolling change: two "
            "masters during a reload that adds a VIP"
        )
    # The states, every 10 ms, and the transitions counted and logged: none.
    seen1 = in_window(states.samples("r1"), start, end)
    seen2 = in_window(states.samples("r2"), start, end)
    assert set(seen1) == {"MASTER"}, f"r1 left MASTER during the rolling change: {set(seen1)}"
    assert set(seen2) == {"BACKUP"}, f"r2 left BACKUP during the rolling change: {set(seen2)}"
    after = {
        "r1": (d1.router("gw")["transitions"], transitions_logged(d1)),
        "r2": (d2.router("gw")["transitions"], transitions_logged(d2)),
    }
    assert after == before, f"transitions during the rolling change: {before} -> {after}"
    # The end: r1 holds both, r2 neither, and r1 advertises the new list (r2's address list
    # mismatch counter stops growing once both have reloaded).
    assert {VIP_ADDR, NEW_VIP_ADDR} <= set(s1.samples()[-1][1])
    assert r1.has_address(VIP_ADDR) and r1.has_address(NEW_VIP_ADDR)
    assert not r2.has_address(VIP_ADDR) and not r2.has_address(NEW_VIP_ADDR)
    mismatch = d2.counters("gw")["address_list_mismatch"]
    adverts_heard(d2, 10)
    assert d2.counters("gw")["address_list_mismatch"] == mismatch, (
        "r2 still sees a different address list from r1 after both reloaded: the master does "
        "not advertise the new VIP"
    )
    rows = {d: d.router("gw") for d in (d1, d2)}
    assert rows[d1]["virtual_ips"] == rows[d2]["virtual_ips"] == [VIP, NEW_VIP]
    assert (rows[d1]["state"], rows[d2]["state"]) == ("MASTER", "BACKUP")


def test_vip_added_by_reload_announced_alone_and_removed_without_transition(lab: Lab) -> None:
    r1 = lab.add_router("r1", f"{R1}/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=150, advert_interval=INTERVAL)])
    d1.wait_state("gw", "MASTER", timeout=15)
    cap = c1.capture("arp or ip proto 112")
    cap.wait_packets(lambda p: bool(wire.adverts([p], src=R1)), 3, 10, "r1's adverts")
    before = (d1.router("gw")["transitions"], transitions_logged(d1))

    def garps_since(address: str, t: float) -> list[Any]:
        return [p for p in wire.garps(cap.packets(), address, r1.mac) if float(p.time) > t]

    def adverts_since(t: float) -> list[Any]:
        return [p for p in wire.adverts(cap.packets(), src=R1, vrid=51) if float(p.time) > t]

    # Add: the new address is announced (garp_repeat = 5 frames), the old one is not.
    added_at = time.time()
    set_router(d1, virtual_ips=[VIP, NEW_VIP])
    reload(d1)
    wait_for(lambda: len(garps_since(NEW_VIP_ADDR, added_at)) >= 5, 10, what="GARPs for .252")
    wait_for(lambda: len(adverts_since(added_at + 1.0)) >= 1, 15, what="1 s of adverts after")
    old = garps_since(VIP_ADDR, added_at)
    assert not old, (
        f"{len(old)} gratuitous ARPs for {VIP_ADDR} after only {NEW_VIP_ADDR} was added by "
        "reload: the master re-announced (or re-took) the address it already held"
    )
    lists = {advertised(p) for p in adverts_since(added_at + 0.5)}
    assert lists == {(VIP_ADDR, NEW_VIP_ADDR)}, f"r1 advertises {lists} after the addition"
    assert (d1.router("gw")["transitions"], transitions_logged(d1)) == before
    # Remove: the address goes, no transition, nothing announced.
    removed_at = time.time()
    set_router(d1, virtual_ips=[VIP])
    reload(d1)
    wait_for(lambda: not r1.has_address(NEW_VIP_ADDR), 10, what="r1 to drop the removed VIP")
    wait_for(lambda: len(adverts_since(removed_at + 1.0)) >= 1, 15, what="1 s of adverts after")
    packets = cap.stop()
    assert r1.has_address(VIP_ADDR)
    for address in (VIP_ADDR, NEW_VIP_ADDR):
        sent = [p for p in wire.garps(packets, address) if float(p.time) > removed_at]
        assert not sent, f"{len(sent)} gratuitous ARPs for {address} after removing a VIP"
    lists = {advertised(p) for p in adverts_since(removed_at + 0.5)}
    assert lists == {(VIP_ADDR,)}, f"r1 advertises {lists} after the removal"
    row = d1.router("gw")
    assert (row["state"], row["virtual_ips"]) == ("MASTER", [VIP])
    assert (row["transitions"], transitions_logged(d1)) == before


# --- 2. garp_refresh by reload ------------------------------------------------------------------


def _refresh_master(lab: Lab, refresh: int) -> tuple[Vrrpd, Capture, PcapTail]:
    """r1 master alone with garp_refresh = `refresh` (1 frame per announcement), c1 capturing
    ARP and VRRP."""
    r1 = lab.add_router("r1", f"{R1}/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("arp or ip proto 112")
    d1 = r1.start_vrrpd(
        [vr(priority=150, advert_interval=INTERVAL, garp_repeat=1, garp_refresh=refresh)]
    )
    d1.wait_state("gw", "MASTER", timeout=15)
    return d1, cap, PcapTail(cap)


def _garp_times(tail: PcapTail, since: float) -> list[float]:
    tail.read()
    return [t for t, f in tail.frames if t > since and garp_for(f) == VIP_ADDR]


def test_garp_refresh_switched_off_by_reload_stops(lab: Lab) -> None:
    d1, cap, tail = _refresh_master(lab, 1)
    # Refreshing: the takeover's GARP, then a refresh a second later. The reload comes right
    # after that refresh, so none is due while it is applied: any GARP from then on is the
    # reload's doing.
    takeover = wait_for(lambda: _garp_times(tail, 0), 10, what="the takeover's GARP")[0]
    burst = wait_for(lambda: _garp_times(tail, takeover + 0.5), 10, what="a refresh GARP")[0]
    set_router(d1, garp_refresh=0)
    reload(d1)
    done = time.time()
    since = burst + 0.2 if done < burst + 0.9 else done
    # ~2.5 s of r1's adverts after the reload (a positive event), watching for any GARP; on
    # the first one, a moment more to count the storm, then stop looking.
    window_end = done + 2.5
    deadline = time.monotonic() + 20
    window_seen = False
    while time.monotonic() < deadline:
        storm = _garp_times(tail, since)
        if storm and tail.frames[-1][0] > storm[0] + 0.5:
            break
        if any(t > window_end and is_advert_from(f, R1) for t, f in tail.frames[-50:]):
            window_seen = True
            break
        time.sleep(0.05)
    storm = _garp_times(tail, since)
    span = (storm[-1] - storm[0]) if storm else 0.0
    assert not storm, (
        f"{len(storm)} gratuitous ARPs for {VIP_ADDR} within {span:.2f} s after reloading "
        "garp_refresh 1 -> 0 (must be none: refresh off, and a garp_* change announces nothing)"
    )
    assert window_seen, "r1's adverts stopped reaching the client after the reload"
    assert d1.router("gw")["state"] == "MASTER"
    cap.stop()


def test_garp_refresh_switched_on_by_reload_starts(lab: Lab) -> None:
    d1, cap, tail = _refresh_master(lab, 0)
    transitions = d1.router("gw")["transitions"]
    started = time.time()
    set_router(d1, garp_refresh=1)
    reload(d1)
    done = time.time()

    def refreshes() -> list[float] | None:
        ts = _garp_times(tail, started)
        return ts if len(ts) >= 3 else None

    try:
        ts = wait_for(refreshes, 10, interval=0.05, what="3 refresh GARPs after the reload")
    except TimeoutError as e:
        raise AssertionError(
            f"reloading garp_refresh 0 -> 1 on a master did not start the refresh: "
            f"{len(_garp_times(tail, started))} GARPs in 10 s ({e})"
        ) from None
    assert ts[0] >= done + 0.5, (
        f"a GARP {ts[0] - done:.3f} s after the reload: a garp_* change must announce nothing "
        "(the first refresh is one period later)"
    )
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert all(0.5 <= g <= 3.0 for g in gaps), f"garp_refresh = 1 s, gaps {gaps}"
    row = d1.router("gw")
    assert (row["state"], row["transitions"]) == ("MASTER", transitions)
    cap.stop()


# --- 3. router_advertisements by reload --------------------------------------------------------


def test_router_advertisements_switched_by_reload(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, ipv6="2001:db8::1/64")
    c1 = lab.add_client("c1", None, ipv6="2001:db8::100/64")
    d1 = r1.start_vrrpd(
        [vr(name="gw6", priority=150, virtual_ips=["2001:db8::fe/64"], advert_interval=INTERVAL)]
    )
    d1.wait_state("gw6", "MASTER", timeout=15)
    cap = c1.capture("icmp6")
    transitions = d1.router("gw6")["transitions"]
    for on, lifetime, what in (
        (True, 1800, "an RA from the virtual router's link-local"),
        (False, 0, "an RA with router lifetime 0"),
    ):
        since = time.time()
        set_router(d1, router_advertisements=on)
        reload(d1)
        cap.wait_packets(
            lambda p, t=since, life=lifetime: float(p.time) > t and bool(_ras([p], r1.mac, life)),
            1,
            10,
            f"{what} after router_advertisements = {str(on).lower()}",
        )
    row = d1.router("gw6")
    assert (row["state"], row["transitions"]) == ("MASTER", transitions)
    cap.stop()


# --- 4. a failing reload: nothing applied, logged, answered, the daemon serves on -------------


class NotifyManager:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; messages as dicts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen: list[dict[str, str]] = []

    def _take(self, data: bytes) -> dict[str, str]:
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.seen.append(msg)
        return msg

    def next(self, timeout: float) -> dict[str, str]:
        self.sock.settimeout(timeout)
        return self._take(self.sock.recv(65536))

    def wait(self, key: str, timeout: float = 15) -> list[dict[str, str]]:
        """Messages up to and including the first with `key`=1."""
        got: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                msg = self.next(left)
            except TimeoutError:
                raise AssertionError(
                    f"no {key}=1 from vrrpd within {timeout} s; got {got}"
                ) from None
            got.append(msg)
            if msg.get(key) == "1":
                return got

    def drain(self) -> None:
        """Read what has already arrived."""
        self.sock.setblocking(False)
        try:
            while True:
                self._take(self.sock.recv(65536))
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyManager]:
    """NOTIFY_SOCKET for the vrrpd the test starts (lab processes inherit the environment;
    a path socket is reachable from any network namespace)."""
    manager = NotifyManager(lab.workdir / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(manager.path))
    yield manager
    manager.close()


GW2 = vr(name="gw2", vrid=52, priority=150, virtual_ips=["192.0.2.253/24"])
GW6 = vr(name="gw6", vrid=53, priority=150, virtual_ips=["2001:db8::fe/64"])


@pytest.mark.parametrize("failure", ["missing-interface", "ipv6-disabled"])
def test_failing_reload_applies_nothing_and_the_next_one_works(
    lab: Lab, notify: NotifyManager, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    r1 = lab.add_router("r1", f"{R1}/24")
    d1 = r1.start_vrrpd([vr(priority=150, advert_interval=INTERVAL)])
    monkeypatch.delenv("NOTIFY_SOCKET")
    notify.wait("READY")
    d1.wait_state("gw", "MASTER", timeout=15)
    good = read_doc(d1)
    transitions = (d1.router("gw")["transitions"], transitions_logged(d1))
    bad = read_doc(d1)
    if failure == "missing-interface":
        # A valid file (vrrpd --check-config cannot know the node) naming an interface the
        # node does not have, and a new router that could be added: both or neither.
        bad["virtual_router"][0]["interface"] = "eth9"
        bad["virtual_router"].append(dict(GW2, interface="eth0"))
        culprit = "eth9"
    else:
        # An IPv6 router on eth0 with IPv6 off there (no link-local to send from, no
        # address can be added), and an in-place change of gw: both or neither.
        r1.set_sysctl("net.ipv6.conf.eth0.disable_ipv6", 1)
        bad["virtual_router"][0]["priority"] = 140
        bad["virtual_router"].append(dict(GW6, interface="eth0"))
        culprit = "gw6"
    write_doc(d1, bad)

    def nothing_applied(how: str) -> None:
        assert d1.alive, f"vrrpd exited after a failing reload ({how}):\n{d1.log_text()[-3000:]}"
        rows = d1.status()
        names = [r["name"] for r in rows]
        assert names == ["gw"], (
            f"a failing reload ({how}) must apply nothing; running now: {names} (reload is all "
            "or nothing)"
        )
        (row,) = rows
        assert (row["interface"], row["priority"], row["state"]) == ("eth0", 150, "MASTER"), (
            f"a failing reload ({how}) changed gw: {row}"
        )
        assert (row["transitions"], transitions_logged(d1)) == transitions
        assert r1.has_address(VIP_ADDR) and not r1.has_address("192.0.2.253")

    # By signal (systemd's ExecReload): RELOADING=1 then READY=1, one line in the log.
    mark = len(notify.seen)
    offset = len(d1.log_text())
    sighup(d1)
    notify.wait("RELOADING")
    notify.wait("READY")
    wait_for(
        lambda: [
            line
            for line in d1.log_text()[offset:].splitlines()
            if "reload" in line.lower() and culprit in line
        ],
        10,
        what=f"a log line about the failed reload naming {culprit}",
    )
    nothing_applied("SIGHUP")
    # By vrrpctl: a failure, said in one line, and again nothing applied.
    answer = ctl(d1, "reload")
    assert answer.returncode != 0, (
        f"vrrpctl reload answered success for a reload that failed: {answer.stdout.strip()}"
    )
    assert culprit in answer.stderr and len(answer.stderr.strip().splitlines()) == 1, answer.stderr
    nothing_applied("vrrpctl reload")
    # The next valid reload applies (and the daemon was never wedged by the failure).
    if failure == "ipv6-disabled":
        r1.set_sysctl("net.ipv6.conf.eth0.disable_ipv6", 0)
    good["virtual_router"][0]["priority"] = 140
    good["virtual_router"].append(dict(GW2, interface="eth0"))
    write_doc(d1, good)
    try:
        result = reload(d1)
    except ControlError as e:
        raise AssertionError(f"the valid reload after a failed one was refused: {e}") from None
    # Every RELOADING=1 was followed by READY=1 (sent before the answer: already queued).
    notify.drain()
    flags = [key for m in notify.seen[mark:] for key in ("RELOADING", "READY") if m.get(key) == "1"]
    assert flags.count("RELOADING") >= 2 and flags[-1] == "READY", flags
    assert all(b == "READY" for a, b in itertools.pairwise(flags) if a == "RELOADING"), (
        f"RELOADING=1 not followed by READY=1: {flags}"
    )
    assert result["updated"] == ["gw"] and result["added"] == ["gw2"], result
    d1.wait_state("gw2", "MASTER", timeout=15)
    row = d1.router("gw")
    assert (row["priority"], row["state"]) == (140, "MASTER")
    assert (row["transitions"], transitions_logged(d1)) == transitions
    assert "Traceback" not in d1.log_text(), d1.log_text()[-3000:]
