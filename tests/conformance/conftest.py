"""Conformance tests: one test per requirement of RFC 5798 §5-§8 (with RFC 9568 and its errata
8298-8301) and RFC 3768 where VRRPv2 differs, against live vrrpd processes in a lab.

Each test's docstring starts with its section and the requirement in one line; `ledger.py`
lists every requirement (tested, deviation, not-implemented, not-applicable) and
`tools/conformance_table.py` turns a run into CONFORMANCE.md.

A test file builds one lab for all its tests (module scope): vrrpd is started once, packets
are injected with netns_lab.craft (`Node.injector`) from a client namespace, and the tests assert on
counter deltas (`Vrrpd.status()`), states, logs and captures. Waits poll a positive
condition with a deadline; a test that must show that nothing happened waits for something
that does happen (the discard counter reaching N, more adverts received) and then asserts
that the state did not change. Deadlines are generous: the machine is shared and small.

These tests need root and never skip: without root they fail, saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netns_lab import craft, wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER, lab_for
from tests.helpers import VIP as VIP
from tests.helpers import VIP_ADDR as VIP_ADDR
from tests.helpers import vr as vr

REPO = Path(__file__).resolve().parents[2]

GROUP4 = "224.0.0.18"
GROUP6 = "ff02::12"
WAIT = 10.0  # seconds: the deadline for anything that should take milliseconds


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One lab for the whole test file; removed (namespaces, processes) after it. Its
    daemons run without the kernel filter: discards are counted exactly, reason by reason."""
    yield from lab_for("conformance tests", daemon=NO_KERNEL_FILTER)


# --- injection -------------------------------------------------------------------------------


class Stream:
    """Sends a packet every `every` seconds on a thread until stopped (a fake master).

    `switch(packet)` changes what is sent from the next tick on; `stop()` returns the time
    (time.time()) the last packet went out.
    """

    def __init__(self, injector: Injector, packet: bytes, every: float = 0.05) -> None:
        self.injector = injector
        self.packet = packet
        self.every = every
        self.sent = 0
        self.last_sent = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="advert-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        while not self._stop.is_set():
            with self._lock:
                self.injector.sender.send(self.packet)
                self.sent += 1
                self.last_sent = time.time()
            self._stop.wait(self.every)

    def switch(self, packet: bytes) -> None:
        with self._lock:
            self.packet = packet

    def wait_sent(self, n: int) -> None:
        start = self.sent
        wait_for(lambda: self.sent >= start + n, WAIT, what=f"{n} packets streamed")

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(WAIT)
        return self.last_sent

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a Master and a Backup -------------------------------------------------------------------

R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"


@dataclass
class Pair:
    """r1 (R1, priority 200) Master and r2 (R2, priority 100) Backup of "gw"; `inj` sends from
    c1 (C1)."""

    r1: Node
    r2: Node
    d1: Vrrpd
    d2: Vrrpd
    inj: Injector

    def settled(self) -> None:
        """r1 Master, r2 Backup following r1 (waits: a control test moves them)."""
        self.d1.wait_state("gw", "MASTER", timeout=WAIT)
        self.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        wait_received(self.d2, 2)
        assert self.d2.router("gw")["master"] == R1


P = TypeVar("P", bound=Pair)


def pair(
    lab: Lab,
    kind: type[P],
    r1_keys: dict[str, Any] | None = None,
    r2_keys: dict[str, Any] | None = None,
) -> Iterator[P]:
    """The body of a module fixture: a settled `kind` (a `Pair`); `r1_keys` / `r2_keys` are
    added to each router's "gw" table. The injector is closed after the module."""
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    d1 = r1.start_vrrpd([vr(priority=200, **(r1_keys or {}))])
    d1.wait_state("gw", "MASTER", timeout=WAIT)
    d2 = r2.start_vrrpd([vr(priority=100, **(r2_keys or {}))])
    with c1.injector(neighbours={R1: r1.mac, R2: r2.mac}) as inj:
        p = kind(r1, r2, d1, d2, inj)
        p.settled()
        yield p


# --- counters and states ---------------------------------------------------------------------


def counters(d: Vrrpd, name: str = "gw") -> dict[str, int]:
    return {k: int(v) for k, v in d.counters(name).items()}


def delta(d: Vrrpd, before: dict[str, int], name: str = "gw") -> dict[str, int]:
    """The counters that changed since `before`, with their increase."""
    now = counters(d, name)
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def discards(changed: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in changed.items() if k.startswith("discard_")}


def wait_counter(d: Vrrpd, counter: str, at_least: int, name: str = "gw") -> int:
    return d.wait_counter(name, counter, at_least, timeout=WAIT)


SENTINELS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("discard_ttl", {"ttl": 1}),
    ("discard_type", {"type": 0}),
    ("discard_checksum", {"checksum": "bad"}),
)


def check_discards(
    inj: Injector,
    daemons: Iterable[Vrrpd],
    packets: list[bytes],
    want: dict[str, int],
    *,
    base: dict[str, Any],
    name: str = "gw",
    noise: frozenset[str] = frozenset(),
) -> list[dict[str, int]]:
    """Send `packets`, then a sentinel: `base` (the fields of a valid advert for this
    virtual router) broken so that it is discarded for a reason not in `want` and that no
    real peer produces (a TTL of 1, else type 0, else a bad checksum). Once a daemon has
    counted the sentinel it has processed every packet before it (one socket, read in
    order): its discard counters must then have grown by exactly `want` (counter ->
    increase), no more, no less. `noise` names counters the lab moves by itself (e.g.
    discard_vrid on a router that hears VRIDs it does not run): they are not compared.
    Returns the counters from before."""
    daemons = list(daemons)
    assert not noise & set(want)
    mark, broken = next((m, f) for m, f in SENTINELS if m not in want)
    sentinel = inj.craft(**{**base, **broken})
    before = [counters(d, name) for d in daemons]
    inj.send([*packets, sentinel])
    for d, b in zip(daemons, before, strict=True):
        wait_counter(d, mark, b[mark] + 1, name)
        got = discards(delta(d, b, name))
        got[mark] -= 1
        got = {k: v for k, v in got.items() if v and k not in noise}
        assert got == want, f"{d.node.name}/{name}: {got}"
    return before


def wait_received(d: Vrrpd, more: int, name: str = "gw") -> None:
    """Wait until `d` has received `more` further valid adverts (a clock made of adverts)."""
    start = counters(d, name)["adverts_received"]
    wait_counter(d, "adverts_received", start + more, name)


def state(d: Vrrpd, name: str = "gw") -> str:
    return str(d.router(name)["state"])


def holds(node: Node, address: str) -> bool:
    return node.has_address(address)


# --- captures and logs -----------------------------------------------------------------------

_captures = 0


def capture(node: Node, bpf: str = "", ifname: str = "eth0") -> Capture:
    """Like `Node.capture`, with tcpdump in --immediate-mode: each packet reaches the file
    as it arrives (otherwise libpcap hands them over in blocks, up to a second late), so a
    test can react to the wire. The lab stops it on close."""
    import subprocess

    global _captures
    _captures += 1
    base = node.lab.workdir / f"{node.name}-{ifname}-imm{_captures}"
    pcap, err = base.with_suffix(".pcap"), base.with_suffix(".tcpdump.log")
    argv = ["tcpdump", "-i", ifname, "--immediate-mode", "-U", "-n", "-s", "512"]
    argv += ["-w", str(pcap), *bpf.split()]
    with open(err, "wb") as e:
        proc = node.popen(argv, stdout=subprocess.DEVNULL, stderr=e)
    cap = Capture(node, proc, pcap, err)
    cap.wait_started()
    return cap


def adverts(cap: Capture, *, src: str | None = None, vrid: int | None = None) -> list[Any]:
    return wire.adverts(cap.packets(), src=src, vrid=vrid)


def wait_adverts(
    cap: Capture, n: int, *, src: str | None = None, vrid: int | None = None, after: float = 0.0
) -> list[Any]:
    """Poll until `n` adverts (from `src`, for `vrid`, captured after `after`) are there."""

    def enough() -> list[Any] | None:
        found = [p for p in adverts(cap, src=src, vrid=vrid) if float(p.time) > after]
        return found if len(found) >= n else None

    return wait_for(enough, WAIT + n * 1.5, interval=0.05, what=f"{n} adverts from {src}")


class Marker:
    """Puts a packet on the wire from the injector's node (an advert for VRID 99 carrying
    `address`) and waits until `cap` has it: everything sent before it is in the capture too
    (tcpdump writes in order). Calling it returns the marker's capture time."""

    def __init__(self, inj: Injector, cap: Capture, address: str) -> None:
        self.inj, self.cap, self.address = inj, cap, address
        self.count = 0

    def __call__(self) -> float:
        self.count += 1
        self.inj.advert(vrid=99, priority=self.count, addresses=[self.address])
        found = wait_adverts(self.cap, self.count, src=self.inj.src, vrid=99)
        return max(float(p.time) for p in found)


def vrrp_message(p: Any) -> bytes:
    return wire.vrrp_bytes(p)


def checksum_ok(p: Any, form: str) -> bool:
    """Is the advert's checksum right in `form`, computed here (not by vrrpd's codec)?"""
    msg = vrrp_message(p)
    ip = wire.ip_of(p)
    want = craft.checksum_of(msg, str(ip.src), str(ip.dst), form)
    return int.from_bytes(msg[6:8], "big") == want


def log_time(d: Vrrpd, needle: str) -> float:
    """The wall-clock time (time.time() scale) of the first log line containing `needle`."""

    def find() -> float | None:
        for line in d.log_text().splitlines():
            if needle in line:
                stamp = line.split(" ", 1)[0]
                return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        return None

    return wait_for(find, WAIT, what=f"log line with {needle!r} in {d.node.name}")


def log_lines(d: Vrrpd, needle: str) -> list[str]:
    return [line for line in d.log_text().splitlines() if needle in line]


def poll(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    return wait_for(predicate, timeout, what=what)
