"""netns_lab.frr's pure parts: FRR 8.4.4's Skew_Time / Master_Down_Interval arithmetic
(whole centiseconds, integer division) against RFC 5798's exact values, and the FRR
configuration the lab renders."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from netns_lab.frr import frr_master_down_interval_cs, frr_skew_time_cs, render_config
from netns_lab.lab import LabError
from vrrpd import timing

INTERVALS_CS = (1, 2, 10, 20, 37, 100, 150, 255, 256, 1000, 4095)


@pytest.mark.parametrize("interval_cs", INTERVALS_CS)
def test_frr_skew_is_the_rfc_value_rounded_down_to_a_centisecond(interval_cs: int) -> None:
    for priority in range(1, 256):
        exact_cs = timing.skew_time(priority, interval_cs) * 100
        frr = frr_skew_time_cs(priority, interval_cs)
        assert frr == math.floor(exact_cs)
        assert 0 <= exact_cs - frr < 1
        mdi_cs = timing.master_down_interval(priority, interval_cs) * 100
        assert frr_master_down_interval_cs(priority, interval_cs) == math.floor(mdi_cs)


def test_worked_examples() -> None:
    # Priority 100 at 1 s: RFC 609.375 ms, FRR 600 ms (RFC-NOTES).
    assert timing.skew_time(100, 100) == Fraction(609_375, 1_000_000)
    assert frr_skew_time_cs(100, 100) == 60
    assert frr_master_down_interval_cs(100, 100) == 360
    # FRR's own documentation example: priority 200 at 1 s shows "Skew Time 210 ms".
    assert frr_skew_time_cs(200, 100) == 21
    # Priority 1 at 200 ms (the interop test): 190 ms against 199.21875 ms.
    assert frr_skew_time_cs(1, 20) == 19
    assert timing.skew_time(1, 20) * 1000 == Fraction(199_21875, 100_000)
    # At 100 ms, priorities 231..254 get no skew at all from FRR.
    assert [frr_skew_time_cs(p, 10) for p in (230, 231, 254)] == [1, 0, 0]
    assert timing.skew_time(231, 10) * 1000 == Fraction(9_765_625, 1_000_000)


def test_frr_skew_v2_uses_one_second() -> None:
    # VRRPv2: (256 - priority) * 100 // 256 cs whatever the interval (RFC 3768: / 256 s).
    assert frr_skew_time_cs(100, 300, version=2) == 60
    assert frr_skew_time_cs(255, 100, version=2) == 0
    assert frr_master_down_interval_cs(100, 100, version=2) == 360


@pytest.mark.parametrize(("priority", "interval_cs"), [(0, 100), (256, 100), (100, 0), (1, 4096)])
def test_frr_skew_rejects_values_outside_the_protocol(priority: int, interval_cs: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        frr_skew_time_cs(priority, interval_cs)


def test_render_config() -> None:
    text = render_config(
        "vl01-r2",
        [
            {
                "vrid": 51,
                "priority": 200,
                "advertisement_interval": 200,
                "preempt": False,
                "ip": ["192.0.2.254/24"],
                "ipv6": ["fe80::200:5eff:fe00:233/64", "2001:db8::fe/64"],
            }
        ],
    )
    lines = text.splitlines()
    assert "hostname vl01-r2" in lines
    assert "debug vrrp packets" in lines
    at = lines.index("interface eth0")
    assert lines[at + 1 :] == [
        " vrrp 51 version 3",
        " vrrp 51 priority 200",
        " vrrp 51 advertisement-interval 200",
        " no vrrp 51 preempt",
        " vrrp 51 ip 192.0.2.254",
        " vrrp 51 ipv6 fe80::200:5eff:fe00:233",
        " vrrp 51 ipv6 2001:db8::fe",
        "exit",
        "!",
    ]


@pytest.mark.parametrize(
    ("router", "message"),
    [
        ({"vrid": 51, "ip": ["192.0.2.254/24"], "advertisement_interval": 15}, "multiple of 10"),
        ({"vrid": 51, "ip": ["192.0.2.254/24"], "advertisement_interval": 5}, "10..40950"),
        ({"vrid": 51, "ip": ["192.0.2.254/24"], "priority": 255}, "no owner mode"),
        ({"vrid": 0, "ip": ["192.0.2.254/24"]}, "vrid: 1..255"),
        ({"vrid": 51, "ip": ["192.0.2.254"]}, "needs its prefix"),
        ({"vrid": 51, "ip": ["10.0.0.1/24"]}, "not a documentation address"),
        ({"vrid": 51, "ip": ["2001:db8::fe/64"]}, "is not IPv4"),
        ({"vrid": 51}, "at least one address"),
        ({"vrid": 51, "ip": ["192.0.2.254/24"], "accept": True}, "unknown keys"),
    ],
)
def test_render_config_refuses(router: dict[str, object], message: str) -> None:
    with pytest.raises(LabError, match=message):  # FrrError, or the lab's address check
        render_config("h", [router])


def test_two_backups_frr_lower_priority_can_fire_first() -> None:
    # Backups vrrpd (priority 206) and FRR (205) at 200 ms after the master's priority 0: by
    # RFC 5798 the higher priority's Skew_Time is the shorter, but FRR's truncated one fires
    # 9.0625 ms earlier (30 ms against vrrpd's exact 39.0625 ms). The interop lab saw FRR
    # take over first in 10 of 10 trials (then vrrpd preempted it).
    vrrpd_ms = timing.skew_time(206, 20) * 1000
    frr_ms = frr_skew_time_cs(205, 20) * 10
    assert (frr_ms, vrrpd_ms) == (30, Fraction(390_625, 10_000))
    assert vrrpd_ms - frr_ms == Fraction(90_625, 10_000)


@pytest.mark.parametrize("interval_cs", INTERVALS_CS)
def test_priorities_apart_by_256_over_the_interval_never_invert(interval_cs: int) -> None:
    # FRR's skew is short of the exact one by less than 1 cs, and a priority step is worth
    # interval/256 cs: a vrrpd backup whose priority exceeds FRR's by at least
    # 256 / interval_cs (3 at 1 s, 13 at 200 ms, 1 from 2.56 s on) always fires first, for
    # Skew_Time and Master_Down_Interval alike.
    step = math.ceil(256 / interval_cs)
    for frr_priority in range(1, 255 - step):
        frr_cs = frr_skew_time_cs(frr_priority, interval_cs)
        for vrrpd_priority in range(frr_priority + step, 255):
            # exact vrrpd skew < FRR's, in 1/256 cs: (256 - p) * interval < 256 * frr_cs
            assert (256 - vrrpd_priority) * interval_cs < 256 * frr_cs, (
                frr_priority,
                vrrpd_priority,
            )
