"""VRRP timer arithmetic, exact (RFC 5798 §6.1, RFC 3768 §6.1).

All values are `Fraction` seconds computed from integer centiseconds, never a float truncated
to an integer: Skew_Time for priority 100 at 1 s is exactly 609.375 ms (keepalived keeps it
exact too; FRR rounds it down to whole centiseconds, 600 ms). The adapter turns a Fraction
into a float deadline only when it adds it to the clock (nanosecond resolution).
"""

from __future__ import annotations

import functools
from fractions import Fraction

CS = Fraction(1, 100)  # one centisecond in seconds


def skew_time(priority: int, interval_cs: int, version: int = 3) -> Fraction:
    """Skew_Time in seconds.

    v3: ((256 - Priority) * Master_Adver_Interval) / 256 (RFC 5798 §6.1).
    v2: (256 - Priority) / 256 seconds, independent of the interval (RFC 3768 §6.1).
    """
    if version == 2:
        return Fraction(256 - priority, 256)
    return Fraction((256 - priority) * interval_cs, 256) * CS


def master_down_interval(priority: int, interval_cs: int, version: int = 3) -> Fraction:
    """Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, in seconds."""
    return 3 * interval_cs * CS + skew_time(priority, interval_cs, version)


@functools.lru_cache(maxsize=1024)
def master_down_seconds(priority: int, interval_cs: int, version: int = 3) -> float:
    """`master_down_interval` as the clock's type, worked out once per combination (a backup
    adds it to the clock on every advertisement it accepts)."""
    return float(master_down_interval(priority, interval_cs, version))


@functools.lru_cache(maxsize=1024)
def skew_seconds(priority: int, interval_cs: int, version: int = 3) -> float:
    return float(skew_time(priority, interval_cs, version))


@functools.lru_cache(maxsize=1024)
def interval_seconds(interval_cs: int) -> float:
    return float(interval_cs * CS)
