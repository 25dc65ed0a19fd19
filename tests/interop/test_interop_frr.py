"""FRR interop: real FRR 8.4.4 (zebra + vrrpd, `netns_lab.frr`) and real vrrpd processes.

Topology: vrrpd in ``r1`` (192.0.2.1), FRR in ``r2`` (192.0.2.2) with its macvlan
``vrrp4-51`` (virtual MAC, mode bridge, the VIP), a client ``c1`` (192.0.2.100), one bridge;
VRRPv3 over IPv4 every 200 ms on both sides (VRRPv3 over IPv6 and VRRPv2 at 1 s in one case
each). The one who wins runs at priority 200, the other at 100. Cases: each direction with
graceful failover (each side's priority 0) and preemption back; hard failover (SIGKILL, link
down) of each side and preemption back; FRR's whole-centisecond Skew_Time (its `show vrrp
json` and its takeover after vrrpd's priority 0); FRR rejecting RFC 9568's checksum form; a
live FRR sending byte for byte what tests/data/captures/frr-v3-ipv4.pcap holds.

FRR keeps its VIP on the macvlan in every state and turns the macvlan's carrier off
(protodown) on backup, so a VIP holder here is an interface that is up with carrier
(``up_only``); the tests also check that FRR's macvlan is carrier-less whenever FRR is not
master. What every case asserts once it has converged, as the keepalived cases do:
- exactly one router holds the VIP and the client reaches it (its neighbour entry for the
  VIP is a MAC of the holder: FRR's is the virtual MAC of its macvlan);
- vrrpd discarded none of FRR's adverts (every ``discard_*`` 0, no address list or interval
  mismatch; its kernel filter is off, so every advert meets vrrpd's checks) and counted them
  while FRR was master, all with the RFC 5798 checksum form (v3);
- FRR counted vrrpd's adverts (``adverRx`` in ``show vrrp json``: adverts that passed its
  checks) while it stayed backup over more than two of its Master_Down_Intervals, and logged
  no complaint about them (FRR keeps no error counter; with ``debug vrrp packets`` it logs
  every rejected datagram, and `test_frr_complaint_detector` shows that check firing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from netns_lab import frr as frr_lab
from netns_lab.frr import Frr, frr_master_down_interval_cs, frr_skew_time_cs, start_frr
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import NO_KERNEL_FILTER
from tests.interop.conftest import (
    CONVERGE,
    V3_INTERVAL,
    VIP,
    VIP6,
    VIP6_LL,
    VIP_ADDR,
    VR_NAME,
    VRID,
    Daemon,
    assert_client_reaches,
    assert_vrrpd_clean,
    describe,
    run_log,
    vr,
    wait_single_holder,
    wait_vrrpd_state,
)
from vrrpd import timing

pytestmark = [pytest.mark.netns, pytest.mark.interop]

INTERVAL_MS = round(V3_INTERVAL * 1000)  # FRR takes milliseconds (multiples of 10)
INTERVAL_CS = INTERVAL_MS // 10
HEARD = 8  # adverts: 1.6 s at 200 ms, over two of FRR's Master_Down_Intervals (0.72 s)


@pytest.fixture
def flab(lab: Lab) -> Iterator[Lab]:
    """The interop `lab`, with every FRR started in it stopped (by PID) before it closes."""
    for binary in (frr_lab.ZEBRA, frr_lab.VRRPD):
        if not binary.exists():
            pytest.fail(f"FRR interop tests need {binary}: apt-get install frr")
    try:
        yield lab
    finally:
        errors = []
        for f in frr_lab.running(lab):  # by PID, before the lab deletes the namespaces
            try:
                f.stop()
            except frr_lab.FrrError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("stopping FRR: " + "; ".join(errors))


def start_vrrpd(node: Node, **overrides: Any) -> Vrrpd:
    """vrrpd with `vr(**overrides)`, its kernel filter off: every advert FRR sends reaches
    vrrpd's checks and a rejected one would be counted in a ``discard_*`` counter."""
    return node.start_vrrpd([vr(**overrides)], daemon=NO_KERNEL_FILTER)


def fr(**overrides: Any) -> dict[str, Any]:
    """One FRR virtual router with the defaults these tests use (VRID, VIP, 200 ms)."""
    router: dict[str, Any] = {
        "vrid": VRID,
        "priority": 100,
        "advertisement_interval": INTERVAL_MS,
        "ip": [VIP],
    }
    router.update(overrides)
    return router


# --- FRR's view -------------------------------------------------------------------------------


def wait_frr_state(f: Frr, state: str, *others: Daemon | None, family: int = 4) -> dict[str, Any]:
    """`Frr.wait_state` for VRID, with the logs on failure; returns FRR's v4/v6 object."""
    try:
        return f.wait_state(VRID, state, CONVERGE, family)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{describe(*others)}") from None


def assert_frr_clean(f: Frr, d: Vrrpd | None = None) -> None:
    complaints = f.complaints()
    assert not complaints, (
        "FRR rejected or doubted adverts:\n" + "\n".join(complaints[:20]) + "\n" + describe(d, f)
    )


def assert_macvlan_carrier(node: Node, f: Frr, up: bool, family: int = 4) -> None:
    """FRR's macvlan keeps the VIP; its carrier is on only while FRR is master."""
    name = frr_lab.macvlan_name(family, VRID)
    link = node.link(name)
    assert link is not None, f"{node.name}: no {name}"
    flags = link["raw"].get("flags", [])
    assert ("LOWER_UP" in flags) == up, f"{name} flags {flags}, want carrier {up}"


def settled(routers: tuple[Node, Node, Node], holder: Node, d: Vrrpd, f: Frr) -> None:
    """Only `holder` (r1: vrrpd, r2: FRR) holds the VIP, FRR's macvlan has carrier exactly
    when FRR holds it, and the client reaches the holder."""
    r1, r2, c1 = routers
    wait_single_holder([r1, r2], VIP, holder, d, f, up_only=True)
    assert_macvlan_carrier(r2, f, up=holder is r2)
    assert_client_reaches(c1, VIP, holder, d, f)


def wait_frr_heard_vrrpd(f: Frr, d: Vrrpd, adverts: int = HEARD) -> None:
    """While vrrpd is master and FRR backup, FRR counts `adverts` more of vrrpd's adverts,
    stays backup all along (no transition: it accepted them) and logs no complaint."""
    assert d.router(VR_NAME)["state"] == "MASTER", describe(d, f)
    before = f.stats(VRID)
    assert f.state(VRID) == "Backup", describe(d, f)

    def heard() -> bool:
        return f.stats(VRID)["adverRx"] >= before["adverRx"] + adverts

    try:
        wait_for(heard, CONVERGE, interval=0.1, what=f"FRR to count {adverts} of vrrpd's adverts")
    except TimeoutError as e:
        raise AssertionError(f"{e}; stats {f.stats(VRID)}\n{describe(d, f)}") from None
    after = f.stats(VRID)
    assert after["transitions"] == before["transitions"], (
        f"FRR changed state while vrrpd was advertising: {before} -> {after}\n{describe(d, f)}"
    )
    assert f.state(VRID) == "Backup", describe(d, f)
    assert d.router(VR_NAME)["state"] == "MASTER", describe(d, f)
    assert_frr_clean(f, d)


def wait_vrrpd_heard_frr(d: Vrrpd, f: Frr, adverts: int = HEARD) -> None:
    """While FRR is master and vrrpd backup, vrrpd receives `adverts` more of FRR's adverts
    and discards none."""
    assert f.state(VRID) == "Master", describe(d, f)
    assert d.router(VR_NAME)["state"] == "BACKUP", describe(d, f)
    base = int(d.counters(VR_NAME).get("adverts_received", 0))
    try:
        d.wait_counter(VR_NAME, "adverts_received", base + adverts, CONVERGE)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{describe(d, f)}") from None
    assert f.state(VRID) == "Master", describe(d, f)
    assert d.router(VR_NAME)["state"] == "BACKUP", describe(d, f)
    counters = assert_vrrpd_clean(d, f)
    if f.router(VRID)["version"] == 3:  # FRR 8.4.4: the RFC 5798 form (IPv4 pseudo-header)
        assert counters["checksum_rfc5798"] >= adverts, counters
        assert counters["checksum_rfc9568"] == 0, counters


# FRR's log lines, with `log timestamp precision 6`:
#   2026/12/02 13:47:07.053342 VRRP: [Z4BWX-E7EPM] [CORE] [VRID 51] [IPv4] Received VRRP
#       Advertisement from 192.0.2.1: version 3, ..., vrid 51, priority 0, #1 addresses, ...
#   2026/12/02 13:47:07.243371 VRRP: [SN55S-ESQ86] [CORE] [VRID 51] [IPv4] Master_Down_Timer expired


def _stamp(line: str) -> datetime:
    return datetime.strptime(line[:26], "%Y/%m/%d %H:%M:%S.%f")


def priority0_lines(f: Frr, source: str) -> list[str]:
    """FRR's log lines of received priority-0 adverts from `source`."""
    return [
        line
        for line in f.log_lines()
        if f"Received VRRP Advertisement from {source}:" in line and ", priority 0," in line
    ]


def takeover_after_priority0(f: Frr, source: str) -> float:
    """Seconds from FRR's receipt of `source`'s last priority-0 advert to its
    Master_Down_Timer firing (both from FRR's own log: FRR's timer, no network in between)."""
    lines = f.log_lines()
    p0 = [
        i
        for i, line in enumerate(lines)
        if f"Received VRRP Advertisement from {source}:" in line and ", priority 0," in line
    ]
    assert p0, f"FRR logged no priority-0 advert from {source}\n{f.log_text()[-3000:]}"
    fired = [line for line in lines[p0[-1] :] if "Master_Down_Timer expired" in line]
    assert fired, f"no Master_Down_Timer expiry after the priority 0\n{f.log_text()[-3000:]}"
    return (_stamp(fired[0]) - _stamp(lines[p0[-1]])).total_seconds()


# --- set-ups ----------------------------------------------------------------------------------


def _nodes(lab: Lab, ipv6: bool = False) -> tuple[Node, Node, Node]:
    r1 = lab.add_router("r1", "192.0.2.1/24", "2001:db8::1/64" if ipv6 else None)
    r2 = lab.add_router("r2", "192.0.2.2/24", "2001:db8::2/64" if ipv6 else None)
    c1 = lab.add_client("c1", "192.0.2.100/24", "2001:db8::64/64" if ipv6 else None)
    return r1, r2, c1


def _converged(lab: Lab, *, vrrpd_wins: bool) -> tuple[Node, Node, Node, Vrrpd, Frr]:
    """vrrpd in r1 and FRR in r2, the winner at 200: wait until the winner is master and
    the other backup, only the winner holds the VIP, the client reaches it and the backup
    heard the winner (both checks of the module docstring)."""
    r1, r2, c1 = _nodes(lab)
    d = start_vrrpd(r1, priority=200 if vrrpd_wins else 100)
    f = start_frr(r2, [fr(priority=100 if vrrpd_wins else 200)])
    if vrrpd_wins:
        wait_vrrpd_state(d, "MASTER", f)
        wait_frr_state(f, "Backup", d)
    else:
        wait_frr_state(f, "Master", d)
        wait_vrrpd_state(d, "BACKUP", f)
    settled((r1, r2, c1), r1 if vrrpd_wins else r2, d, f)
    if vrrpd_wins:
        wait_frr_heard_vrrpd(f, d)
    else:
        wait_vrrpd_heard_frr(d, f)  # first: vrrpd may have started after FRR became master
        assert d.router(VR_NAME)["master"] == "192.0.2.2", describe(d, f)
    return r1, r2, c1, d, f


def _vrrpd_preempts_back(r1: Node, r2: Node, c1: Node, f: Frr) -> Vrrpd:
    """vrrpd returns at 200 while FRR (100) is master: vrrpd hears FRR's lower priority and
    preempts; FRR steps back (its macvlan loses carrier) and hears vrrpd."""
    d = start_vrrpd(r1, priority=200)
    wait_vrrpd_state(d, "MASTER", f)
    assert "reason=preempted" in run_log(d), describe(d, f)
    wait_frr_state(f, "Backup", d)
    assert any(
        "Received advertisement from 192.0.2.1 w/ priority 200; switching to Backup" in line
        for line in f.log_lines()
    ), describe(d, f)
    settled((r1, r2, c1), r1, d, f)
    counters = assert_vrrpd_clean(d, f)
    assert counters["adverts_received"] > 0, f"vrrpd never heard FRR as master {counters}"
    wait_frr_heard_vrrpd(f, d)
    return d


def _frr_preempts_back(r1: Node, r2: Node, c1: Node, d: Vrrpd) -> Frr:
    """FRR returns at 200 while vrrpd (100) is master: FRR discards vrrpd's lower priority,
    its Master_Down_Timer fires and it takes over; vrrpd steps back and hears it."""
    f = start_frr(r2, [fr(priority=200)])
    wait_frr_state(f, "Master", d)
    wait_vrrpd_state(d, "BACKUP", f)
    assert "reason=higher-priority-seen" in run_log(d), describe(d, f)
    settled((r1, r2, c1), r2, d, f)
    wait_vrrpd_heard_frr(d, f)
    assert_frr_clean(f, d)
    return f


# --- the cases --------------------------------------------------------------------------------


def test_vrrpd_master_frr_backup_graceful_failover_and_back(flab: Lab) -> None:
    r1, r2, c1, d, f = _converged(flab, vrrpd_wins=True)

    # Graceful failover vrrpd -> FRR: vrrpd's priority 0 makes FRR take over after its
    # Skew_Time instead of its Master_Down_Interval.
    assert d.stop() == 0, describe(d, f)
    wait_frr_state(f, "Master", d)
    assert priority0_lines(f, "192.0.2.1"), f"FRR saw no priority 0 from vrrpd\n{describe(d, f)}"
    took = takeover_after_priority0(f, "192.0.2.1")
    assert took < frr_master_down_interval_cs(100, INTERVAL_CS) / 100, (
        f"FRR took {took:.3f} s after the priority 0: not its Skew_Time path\n{describe(d, f)}"
    )
    settled((r1, r2, c1), r2, d, f)
    assert_frr_clean(f, d)

    # Preemption back: vrrpd returns at 200.
    _vrrpd_preempts_back(r1, r2, c1, f)


def test_frr_master_vrrpd_backup_graceful_failover_and_back(flab: Lab) -> None:
    r1, r2, c1, d, f = _converged(flab, vrrpd_wins=False)

    # Graceful failover FRR -> vrrpd: SIGTERM to FRR's vrrpd sends priority 0 and puts the
    # macvlan in protodown (the VIP stays on it, without carrier).
    assert f.stop() == 0, describe(d, f)
    row = wait_vrrpd_state(d, "MASTER", f)
    assert "reason=priority-0" in run_log(d), describe(d, f)
    assert row["counters"]["priority0_received"] >= 1, row["counters"]
    settled((r1, r2, c1), r1, d, f)
    assert r2.holders_of(VIP_ADDR) == [frr_lab.macvlan_name(4, VRID)]
    assert_vrrpd_clean(d, f)

    # Preemption back: FRR returns at 200.
    _frr_preempts_back(r1, r2, c1, d)


def test_hard_failover_vrrpd_killed_then_preempts_back(flab: Lab) -> None:
    r1, r2, c1, d, f = _converged(flab, vrrpd_wins=True)

    # Hard failure of the master: SIGKILL (no priority 0), then its link goes down.
    d.kill()
    r1.link_set(False)
    wait_frr_state(f, "Master", d)
    assert not priority0_lines(f, "192.0.2.1"), describe(d, f)
    assert any("Master_Down_Timer expired" in line for line in f.log_lines()), describe(d, f)
    settled((r1, r2, c1), r2, d, f)
    # A SIGKILLed vrrpd cannot remove its VIP: it stays on r1's (down) link.
    assert r1.holders_of(VIP_ADDR), "the killed vrrpd's VIP should still be on r1"

    r1.link_set(True)
    _vrrpd_preempts_back(r1, r2, c1, f)


def test_hard_failover_frr_crash_then_preempts_back(flab: Lab) -> None:
    r1, r2, c1, d, f = _converged(flab, vrrpd_wins=False)

    # Hard failure of the master: zebra and vrrpd SIGKILLed (nothing sent, the macvlan keeps
    # carrier and VIP), then r2's link goes down (the macvlan follows its parent).
    f.crash()
    r2.link_set(False)
    row = wait_vrrpd_state(d, "MASTER", f)
    assert "reason=master-down" in run_log(d), describe(d, f)
    assert row["counters"]["priority0_received"] == 0, row["counters"]
    settled((r1, r2, c1), r1, d, f)
    assert r2.holders_of(VIP_ADDR), "the crashed FRR's macvlan should keep the VIP"

    # r2 returns: FRR starts as backup (protodown on the stale macvlan), preempts vrrpd.
    r2.link_set(True)
    _frr_preempts_back(r1, r2, c1, d)


def test_frr_skew_time_whole_centiseconds(flab: Lab) -> None:
    # FRR computes Skew_Time in whole centiseconds: priority 1 at 200 ms gives
    # (255 * 20) // 256 = 19 cs = 190 ms where RFC 5798 §6.1 gives 255 * 20 / 256 cs =
    # 199.21875 ms (Master_Down_Interval 790 vs 799.21875 ms). Shown from FRR's own `show
    # vrrp json`, then from its takeover after vrrpd's priority 0.
    r1, r2, c1 = _nodes(flab)
    d = start_vrrpd(r1, priority=100)
    f = start_frr(r2, [fr(priority=1)])
    wait_vrrpd_state(d, "MASTER", f)
    fam = wait_frr_state(f, "Backup", d)
    skew_ms = frr_skew_time_cs(1, INTERVAL_CS) * 10
    rfc_skew_ms = timing.skew_time(1, INTERVAL_CS) * 1000
    assert (skew_ms, rfc_skew_ms) == (190, Fraction(25_500, 128))
    assert fam["masterAdverInterval"] == INTERVAL_MS, fam
    assert fam["skewTime"] == skew_ms, fam
    assert fam["masterDownInterval"] == frr_master_down_interval_cs(1, INTERVAL_CS) * 10 == 790
    assert fam["skewTime"] != rfc_skew_ms

    # vrrpd's priority 0: FRR's Master_Down_Timer is set to its Skew_Time. A timer never
    # fires early, so the measured delay is at least FRR's 190 ms, and far below its
    # Master_Down_Interval (the path without the priority 0).
    assert d.stop() == 0, describe(d, f)
    wait_frr_state(f, "Master", d)
    took = takeover_after_priority0(f, "192.0.2.1")
    assert skew_ms / 1000 <= took < 0.79, f"{took:.6f} s\n{describe(d, f)}"
    print(f"FRR priority 1, 200 ms: took over {took * 1000:.3f} ms after the priority 0")
    settled((r1, r2, c1), r2, d, f)


def test_frr_complaint_detector(flab: Lab) -> None:
    # `Frr.complaints` catches what FRR logs for adverts it rejects (a bad checksum) or doubts
    # (an address count unlike its own), and FRR does not count a rejected one.
    r2 = flab.add_router("r2", "192.0.2.2/24")
    c1 = flab.add_client("c1", "192.0.2.100/24")
    f = start_frr(r2, [fr(priority=100)])
    wait_frr_state(f, "Master")
    assert_frr_clean(f)
    before = f.stats(VRID)["adverRx"]
    c1.inject(
        3, vrid=VRID, priority=254, addresses=[VIP_ADDR], interval=INTERVAL_CS, checksum="bad"
    )
    wait_for(
        lambda: any("Bad VRRP checksum" in line for line in f.complaints()),
        CONVERGE,
        what="FRR to reject the bad checksum",
    )
    assert f.stats(VRID)["adverRx"] == before, "FRR counted an advert it rejected"
    assert f.state(VRID) == "Master", "a rejected priority-254 advert must not make FRR back off"
    c1.inject(3, vrid=VRID, priority=50, addresses=[VIP_ADDR, "192.0.2.253"], interval=INTERVAL_CS)
    wait_for(
        lambda: any("Datagram has 2 addresses" in line for line in f.complaints()),
        CONVERGE,
        what="FRR to log the address count",
    )


def test_vrrpd_and_frr_ipv6(flab: Lab) -> None:
    # VRRPv3 over IPv6: FRR's own macvlan vrrp6-51 (00:00:5e:00:02:33, addrgenmode random:
    # FRR sends from its link-local), the virtual router's link-local listed first on both
    # sides. vrrpd master first, then FRR after vrrpd's priority 0.
    r1, r2, c1 = _nodes(flab, ipv6=True)
    d = start_vrrpd(r1, priority=200, virtual_ips=[VIP6_LL, VIP6])
    f = start_frr(r2, [fr(priority=100, ip=[], ipv6=[VIP6_LL, VIP6])])
    wait_vrrpd_state(d, "MASTER", f)
    wait_frr_state(f, "Backup", d, family=6)
    wait_single_holder([r1, r2], VIP6, r1, d, f, up_only=True)
    assert_client_reaches(c1, VIP6, r1, d, f)
    before = f.stats(VRID, 6)
    wait_for(
        lambda: f.stats(VRID, 6)["adverRx"] >= before["adverRx"] + HEARD,
        CONVERGE,
        what="FRR to count vrrpd's IPv6 adverts",
    )
    assert f.stats(VRID, 6)["transitions"] == before["transitions"], describe(d, f)
    assert_frr_clean(f, d)

    assert d.stop() == 0, describe(d, f)
    fam = wait_frr_state(f, "Master", d, family=6)
    assert fam["addresses"] == [VIP6_LL.split("/")[0], VIP6.split("/")[0]], fam
    wait_single_holder([r1, r2], VIP6, r2, d, f, up_only=True)
    assert_client_reaches(c1, VIP6, r2, d, f)

    # vrrpd returns as backup (100) and hears FRR's IPv6 adverts without a discard.
    d = start_vrrpd(r1, priority=100, virtual_ips=[VIP6_LL, VIP6])
    wait_vrrpd_state(d, "BACKUP", f)
    base = int(d.counters(VR_NAME).get("adverts_received", 0))
    d.wait_counter(VR_NAME, "adverts_received", base + HEARD, CONVERGE)
    assert f.state(VRID, 6) == "Master", describe(d, f)
    assert_vrrpd_clean(d, f)


def test_live_frr_sends_what_the_capture_holds(flab: Lab) -> None:
    # tests/data/captures/frr-v3-ipv4.pcap (FRR 8.4.4 at 192.0.2.1, VRID 51, priority 150,
    # 100 ms, VIP 192.0.2.254; the unit tests decode it) against a live FRR set up the same
    # way: the same VRRP bytes, checksum included, for the adverts and the priority 0 of its
    # shutdown; the same IP header choices (TTL 255, CS6, DF) from the virtual MAC.
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether
    from scapy.utils import rdpcap

    pcap = Path(__file__).resolve().parents[1] / "data" / "captures" / "frr-v3-ipv4.pcap"
    captured = [p for p in rdpcap(str(pcap)) if IP in p and p[IP].proto == 112]
    sent_by_frr = [p for p in captured if p[IP].src == "192.0.2.1"]
    advert, shutdown = bytes(sent_by_frr[0][IP].payload), bytes(sent_by_frr[-1][IP].payload)
    assert (advert[2], shutdown[2]) == (150, 0), "the capture is not what this test expects"

    r1 = flab.add_router("r1", "192.0.2.1/24")
    c1 = flab.add_client("c1", "192.0.2.100/24")
    cap = c1.capture("ip proto 112")
    f = start_frr(r1, [fr(priority=150, advertisement_interval=100)])
    wait_frr_state(f, "Master")

    def from_frr(p: Any) -> bool:
        return IP in p and p[IP].src == "192.0.2.1" and p[IP].proto == 112

    live = cap.wait_packets(from_frr, 3, CONVERGE, "3 adverts from the live FRR")
    for p in live:
        assert bytes(p[IP].payload) == advert, (bytes(p[IP].payload).hex(), advert.hex())
        assert (p[IP].ttl, p[IP].tos, str(p[IP].flags)) == (255, 0xC0, "DF")
        assert p[Ether].src == "00:00:5e:00:01:33"
    assert f.stop() == 0
    last = cap.wait_packets(
        lambda p: from_frr(p) and bytes(p[IP].payload)[2] == 0, 1, CONVERGE, "FRR's priority 0"
    )
    assert bytes(last[0][IP].payload) == shutdown, (bytes(last[0][IP].payload).hex(), shutdown)
    cap.stop()


def test_vrrpv2_both_directions(flab: Lab) -> None:
    # VRRPv2 (1 s, whole seconds on the wire; FRR checks that the interval equals its own):
    # vrrpd master with FRR backup, vrrpd's priority 0, then FRR master with vrrpd backup.
    r1, r2, c1 = _nodes(flab)
    d = start_vrrpd(r1, priority=200, version=2, advert_interval=1)
    f = start_frr(r2, [fr(priority=100, version=2, advertisement_interval=1000)])
    wait_vrrpd_state(d, "MASTER", f)
    wait_frr_state(f, "Backup", d)
    settled((r1, r2, c1), r1, d, f)
    wait_frr_heard_vrrpd(f, d, adverts=5)  # 5 s, over its 3.6 s Master_Down_Interval

    assert d.stop() == 0, describe(d, f)
    wait_frr_state(f, "Master", d)
    assert priority0_lines(f, "192.0.2.1"), describe(d, f)
    settled((r1, r2, c1), r2, d, f)

    d = start_vrrpd(r1, priority=100, version=2, advert_interval=1)
    wait_vrrpd_state(d, "BACKUP", f)
    wait_vrrpd_heard_frr(d, f, adverts=3)
    assert "version 2" in next(line for line in priority0_lines(f, "192.0.2.1")), describe(d, f)


def test_frr_rejects_the_rfc9568_checksum(flab: Lab) -> None:
    # FRR 8.4.4 has no knob for the checksum form (`checksum-with-ipv4-pseudoheader` came in
    # 8.5): it computes and expects the RFC 5798 form. vrrpd sending RFC 9568's is rejected
    # (logged), so FRR never hears a master and becomes one too.
    r1, r2, _client = _nodes(flab)
    d = start_vrrpd(r1, priority=200, checksum="rfc9568")
    f = start_frr(r2, [fr(priority=100)])
    wait_vrrpd_state(d, "MASTER", f)
    wait_frr_state(f, "Master", d)
    wait_for(
        lambda: any("Bad VRRP checksum" in line for line in f.complaints()),
        CONVERGE,
        what="FRR to reject vrrpd's RFC 9568 checksum",
    )
    assert f.stats(VRID)["adverRx"] == 0, f.stats(VRID)
