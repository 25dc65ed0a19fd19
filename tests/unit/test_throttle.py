"""vrrpd.throttle: the first warning at once, then one line per period with the count."""

from __future__ import annotations

from vrrpd.throttle import Throttle


def test_first_at_once_then_one_per_period_with_the_count() -> None:
    t = Throttle(every=10.0)
    said = [(now, n) for k in range(1000) if (n := t.hit(now := k * 0.01)) is not None]
    assert said == [(0.0, 0)]  # 10 s of failures at 10 ms: one line
    assert t.hit(10.0) == 999  # the next line says how many went unsaid
    assert t.hit(10.5) is None
    assert t.hit(25.0) == 1
