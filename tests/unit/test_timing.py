"""Exact VRRP timer arithmetic (RFC 5798 §6.1, RFC 3768 §6.1)."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest

from vrrpd.timing import CS, master_down_interval, skew_time


@pytest.mark.parametrize(
    ("priority", "interval_cs", "skew", "mdi"),
    [
        # 1 s
        (100, 100, Fraction(609375, 1_000_000), Fraction(3_609_375, 1_000_000)),
        (150, 100, Fraction(106, 256), 3 + Fraction(106, 256)),
        (254, 100, Fraction(2, 256), 3 + Fraction(2, 256)),
        (1, 100, Fraction(255, 256), 3 + Fraction(255, 256)),
        (255, 100, Fraction(1, 256), 3 + Fraction(1, 256)),
        # 0.1 s
        (100, 10, Fraction(609375, 10_000_000), Fraction(3_609_375, 10_000_000)),
        (150, 10, Fraction(106, 2560), Fraction(3, 10) + Fraction(106, 2560)),
        # 0.01 s: 156/25600 s exactly
        (100, 1, Fraction(156, 25600), Fraction(3, 100) + Fraction(156, 25600)),
        (255, 1, Fraction(1, 25600), Fraction(3, 100) + Fraction(1, 25600)),
        # 40.95 s
        (
            100,
            4095,
            Fraction(156 * 4095, 25600),
            Fraction(3 * 4095, 100) + Fraction(156 * 4095, 25600),
        ),
    ],
)
def test_v3_exact(priority: int, interval_cs: int, skew: Fraction, mdi: Fraction) -> None:
    got_skew = skew_time(priority, interval_cs)
    got_mdi = master_down_interval(priority, interval_cs)
    assert isinstance(got_skew, Fraction)
    assert isinstance(got_mdi, Fraction)
    assert got_skew == skew
    assert got_mdi == mdi
    assert skew_time(priority, interval_cs, version=3) == skew


def test_v3_priority_100_at_1s_is_not_rounded_to_centiseconds() -> None:
    # FRR rounds down to 600 ms; RFC and keepalived: 609.375 ms.
    assert skew_time(100, 100) == Fraction(39, 64)
    assert float(skew_time(100, 100)) == 0.609375
    assert float(master_down_interval(100, 100)) == 3.609375


@pytest.mark.parametrize(
    ("priority", "interval_cs"), [(100, 100), (150, 100), (254, 300), (1, 100), (255, 25500)]
)
def test_v2_skew_ignores_interval(priority: int, interval_cs: int) -> None:
    skew = Fraction(256 - priority, 256)
    assert skew_time(priority, interval_cs, version=2) == skew
    assert master_down_interval(priority, interval_cs, version=2) == 3 * interval_cs * CS + skew


def test_v2_and_v3_agree_at_1s_only() -> None:
    assert skew_time(100, 100, version=2) == skew_time(100, 100, version=3)
    assert skew_time(100, 300, version=2) != skew_time(100, 300, version=3)
    assert skew_time(100, 300, version=2) == Fraction(156, 256)


def test_centisecond_unit() -> None:
    assert Fraction(1, 100) == CS
    assert isinstance(CS, Fraction)


def test_skew_decreases_with_priority() -> None:
    skews = [skew_time(p, 100) for p in range(1, 256)]
    assert all(a > b for a, b in pairwise(skews))
    assert all(0 < s < 1 for s in skews)
