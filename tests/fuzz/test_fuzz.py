"""Fuzz run: about 5000 invalid adverts and random bytes on protocol 112 against a live
Master and a live Backup, from a third namespace, in one run bounded to well under a minute.

Lab: r1 (192.0.2.1, priority 200) Master and r2 (192.0.2.2, priority 100) Backup of VRID 51,
0.1 s, VIP 192.0.2.254/24; c1 sends the junk (`tools/vrrp_craft.py --from FILE --rate R`, one
process); c2 captures r1's and r2's adverts meanwhile.

The packets: hypothesis-generated adverts (random version, type, VRID, priority, count,
interval, reserved bits, auth fields, address lists, checksums right in either form, wrong
or arbitrary, truncations, trailing bytes, TTLs, then up to three byte edits) and random
bytes, plus `netns_lab.craft.random_packets` (the tool's --random generator); sources are
documentation addresses that are neither router's, destinations 224.0.0.18 or either
router by unicast. The oracle is vrrpd's pure `Receiver` run here on the same bytes with
each daemon's view: a packet any daemon would accept is never sent (never a valid
higher-priority advert), and each daemon must count every packet it receives under the
reason the oracle gives. The last packet is a sentinel (TTL 1): once it is counted, every
packet before it has been processed.

Properties, one test each: the daemons stay alive and log no exception; nothing changes
state; each daemon's discard counters grow by exactly the oracle's counts, reason by reason;
the Master keeps advertising on time (no gap over 3 intervals) - keepalived restarts its
advert timer on junk and goes silent under such a stream, vrrpd must not.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from netns_lab import craft, wire
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import REPO, capture, counters, vr
from vrrpd.config import parse
from vrrpd.instance import view
from vrrpd.receive import Accepted, Discarded, Receiver

pytestmark = pytest.mark.netns

R1, R2, C1, C2 = "192.0.2.1", "192.0.2.2", "192.0.2.100", "192.0.2.101"
VIP = "192.0.2.254"
GROUP = "224.0.0.18"
INTERVAL = 0.1
MAX_GAP = 3 * INTERVAL
N_HYPOTHESIS = 2500
N_RANDOM = 2500
RATE = 800  # packets per second: the whole run lasts about 6 s
SEED = 51
# Sources that are neither router's own (the kernel drops a packet claiming to come from
# the receiver itself before any socket sees it); off-link ones are delivered too.
SOURCES = [C1, "192.0.2.77", "192.0.2.150", "198.51.100.7", "203.0.113.9"]
DESTINATIONS = [GROUP] * 6 + [R1, R2]
ADDRESSES = [VIP, "192.0.2.253", "198.51.100.254"]


# --- the oracle ----------------------------------------------------------------------------


def receiver(table: dict[str, Any], primary: str) -> Receiver:
    """What the daemon's channel builds for this configuration (vrrpd.instance.view)."""
    cfg = parse({"virtual_router": [table]}, "fuzz").virtual_routers[0]
    return Receiver({cfg.vrid: view(cfg)}, {IPv4Address(primary)})


@dataclass
class Expected:
    """Per daemon: the discard counters' expected growth, and the detail behind it."""

    counts: Counter[str] = field(default_factory=Counter)
    by_vrid: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (reason, named VRID)

    def add(self, verdict: Discarded) -> None:
        self.counts["discard_" + verdict.reason] += 1
        self.by_vrid[(verdict.reason, verdict.vrid is not None)] += 1


def targets(packet: bytes) -> list[str]:
    dst = craft.packet_dst(packet)
    return ["r1", "r2"] if dst == GROUP else ["r1" if dst == R1 else "r2"]


# --- the packets -----------------------------------------------------------------------------


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    src = draw(st.sampled_from(SOURCES))
    dst = draw(st.sampled_from(DESTINATIONS))
    ttl = draw(st.one_of(st.just(255), st.integers(0, 255)))
    if draw(st.integers(0, 9)) == 0:
        return craft.ip_packet(draw(st.binary(max_size=64)), src=src, dst=dst, ttl=ttl)
    message = craft.craft_message(
        src=src,
        dst=dst,
        version=draw(st.one_of(st.just(3), st.just(2), st.integers(0, 15))),
        type=draw(st.one_of(st.just(1), st.integers(0, 15))),
        vrid=draw(st.one_of(st.just(51), st.integers(0, 255))),
        priority=draw(st.integers(0, 255)),
        count=draw(st.one_of(st.none(), st.integers(0, 255))),
        interval=draw(st.one_of(st.none(), st.just(0), st.just(10), st.integers(0, 4095))),
        reserved=draw(st.integers(0, 15)),
        auth_type=draw(st.integers(0, 255)),
        auth_data=draw(st.binary(max_size=8)),
        addresses=draw(st.lists(st.sampled_from(ADDRESSES), max_size=4)),
        checksum=draw(
            st.one_of(st.sampled_from(["auto", "rfc9568", "bad"]), st.integers(0, 0xFFFF))
        ),
        truncate=draw(st.one_of(st.none(), st.integers(0, 40))),
        trailing=draw(st.one_of(st.just(b""), st.binary(min_size=1, max_size=8))),
    )
    edits = draw(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=3))
    if message and edits:
        buf = bytearray(message)
        for pos, value in edits:
            buf[pos % len(buf)] = value
        message = bytes(buf)
    return craft.ip_packet(message, src=src, dst=dst, ttl=ttl)


def hypothesis_packets(n: int) -> list[bytes]:
    """`n` examples of `hostile()`, reproducibly (fixed seed, no example database)."""
    out: list[bytes] = []

    @seed(SEED)
    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(hostile())
    def collect(packet: bytes) -> None:
        out.append(packet)

    collect()
    return out


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    r1: Node
    r2: Node
    d1: Vrrpd
    d2: Vrrpd
    sent: int
    dropped_valid: int
    expected: dict[str, Expected]
    before: dict[str, dict[str, int]]
    after: dict[str, dict[str, int]]
    states: dict[str, str]
    logs_before: dict[str, int]
    started: float
    finished: float
    adverts: list[Any]
    sender_output: str


@pytest.fixture(scope="module")
def run(lab: Lab) -> Iterator[Run]:
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    c2 = lab.add_client("c2", f"{C2}/24")
    tables = {"r1": vr(priority=200, advert_interval=INTERVAL), "r2": vr(priority=100)}
    d1 = r1.start_vrrpd([tables["r1"]])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2 = r2.start_vrrpd([tables["r2"]])
    d2.wait_state("gw", "BACKUP", timeout=10)
    wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2 to follow r1")

    # Generate, then keep only what no daemon would accept.
    oracles = {"r1": receiver(tables["r1"], R1), "r2": receiver(tables["r2"], R2)}
    candidates = hypothesis_packets(N_HYPOTHESIS)
    candidates += craft.random_packets(
        N_RANDOM, SEED, srcs=SOURCES, dsts=DESTINATIONS, vrid=51, addresses=ADDRESSES
    )
    expected = {"r1": Expected(), "r2": Expected()}
    packets: list[bytes] = []
    for p in candidates:
        verdicts = {t: oracles[t].receive_ipv4(p) for t in targets(p)}
        if any(isinstance(v, Accepted) for v in verdicts.values()):
            continue
        packets.append(p)
        for t, v in verdicts.items():
            assert isinstance(v, Discarded)
            expected[t].add(v)
    sentinel = craft.craft(src=C1, ttl=1, priority=254, interval=10, addresses=[VIP])
    for t in ("r1", "r2"):
        expected[t].add(Discarded("ttl", 51, "sentinel"))
    hexfile = lab.workdir / "fuzz.hex"
    craft.write_hex([*packets, sentinel], hexfile)

    cap = capture(c2, f"ip proto 112 and (ether src {r1.mac} or ether src {r2.mac})")
    wait_for(lambda: len(cap.packets()) >= 3, 10, what="r1's adverts captured")
    daemons = {"r1": d1, "r2": d2}
    before = {t: counters(d) for t, d in daemons.items()}
    logs_before = {t: len(d.log_text()) for t, d in daemons.items()}
    started = time.time()
    cp = c1.run(
        [
            sys.executable,
            str(REPO / "tools" / "vrrp_craft.py"),
            *("--iface", "eth0", "--from", str(hexfile), "--rate", str(RATE)),
            *("--neigh", f"{R1}={r1.mac}", "--neigh", f"{R2}={r2.mac}"),
        ],
        timeout=120,
    )
    finished = time.time()
    # The sentinel is the last packet: once counted, everything before it was processed.
    for t, d in daemons.items():
        want = before[t]["discard_ttl"] + expected[t].counts["discard_ttl"]
        try:
            d.wait_counter("gw", "discard_ttl", want, timeout=30)
        except TimeoutError as e:
            raw = d.node.run(["cat", "/proc/net/raw"]).stdout
            raise AssertionError(f"{t}: not every packet was processed: {e}\n{raw}") from None
    after = {t: counters(d) for t, d in daemons.items()}
    states = {t: str(d.router("gw")["state"]) for t, d in daemons.items()}
    seen = len(cap.packets())
    wait_for(lambda: len(cap.packets()) >= seen + 3, 10, what="r1's adverts after the run")
    ads = cap.stop()
    yield Run(
        r1,
        r2,
        d1,
        d2,
        len(packets) + 1,
        len(candidates) - len(packets),
        expected,
        before,
        after,
        states,
        logs_before,
        started,
        finished,
        ads,
        cp.stderr,
    )


def test_enough_hostile_packets_of_every_kind(run: Run) -> None:
    """The run sent thousands of packets, in one bounded burst, exercising every reason."""
    assert run.sent >= 4500
    assert run.finished - run.started < 30
    reasons = {k for k, n in run.expected["r2"].counts.items() if n >= 20}
    every = ["ttl", "version", "type", "length", "count_zero", "interval_zero", "checksum", "vrid"]
    assert reasons >= {f"discard_{r}" for r in every}


def test_daemons_alive_without_exceptions(run: Run) -> None:
    """Neither daemon died or logged an exception (a traceback) during the run."""
    for t, d in (("r1", run.d1), ("r2", run.d2)):
        assert d.alive, f"{t} exited with {d.returncode}:\n{d.log_text()[-3000:]}"
        during = d.log_text()[run.logs_before[t] :]
        assert "Traceback" not in during and " ERROR " not in during, during[-3000:]


def test_no_state_change(run: Run) -> None:
    """Nothing changed state: r1 Master, r2 Backup following r1, the VIP on r1 only."""
    assert run.states == {"r1": "MASTER", "r2": "BACKUP"}
    for t in ("r1", "r2"):
        assert run.after[t]["became_master"] == run.before[t]["became_master"], t
    assert run.d2.router("gw")["master"] == R1
    assert run.r1.has_address(VIP) and not run.r2.has_address(VIP)
    assert wire.adverts(run.adverts, src=R2) == []  # the Backup never spoke
    for t, d in (("r1", run.d1), ("r2", run.d2)):
        assert " -> " not in d.log_text()[run.logs_before[t] :], t  # no transition logged


def discard_growth(run: Run, t: str) -> dict[str, int]:
    b, a = run.before[t], run.after[t]
    return {k: a[k] - b[k] for k in a if k.startswith("discard_") and a[k] != b[k]}


@pytest.mark.parametrize("t", ["r1", "r2"])
def test_discards_counted_as_the_oracle_says(run: Run, t: str) -> None:
    """Every packet a daemon received is counted under the oracle's reason, exactly."""
    got = discard_growth(run, t)
    want = dict(run.expected[t].counts)
    detail = {
        f"{reason} ({'VRID 51' if named else 'no VRID'})": n
        for (reason, named), n in sorted(run.expected[t].by_vrid.items())
    }
    assert got == want, f"{t}: counted {got}, oracle {want}; oracle detail {detail}"
    received = run.after[t]["adverts_received"] - run.before[t]["adverts_received"]
    if t == "r1":
        assert received == 0  # nothing sent was valid
    assert run.after[t]["address_list_mismatch"] == run.before[t]["address_list_mismatch"]


def test_master_keeps_advertising_on_time(run: Run) -> None:
    """The Master's adverts never stop: no gap over 3 intervals (0.3 s) during the run."""
    times = sorted(
        float(p.time)
        for p in wire.adverts(run.adverts, src=R1, vrid=51)
        if run.started - 0.5 <= float(p.time) <= run.finished + 0.5
    )
    assert len(times) >= (run.finished - run.started) / INTERVAL * 0.8
    assert times[0] <= run.started and times[-1] >= run.finished
    gaps = [b - a for a, b in itertools.pairwise(times)]
    worst = max(gaps)
    assert worst <= MAX_GAP, f"largest gap {worst:.3f} s over {len(times)} adverts"
    assert {priority_of(p) for p in wire.adverts(run.adverts, src=R1)} == {200}


def priority_of(p: Any) -> int:
    return wire.vrrp_bytes(p)[2]
