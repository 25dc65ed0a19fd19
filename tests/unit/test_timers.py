"""The process's deadlines (vrrpd.timers): one heap for every virtual router, moved in memory,
handed out in order, and merged with a batch of received packets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.timers import SLACK, Deadlines, drain, merge


def test_due_in_deadline_order_and_unscheduled() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("b", 2.0)
    d.set("a", 1.0)
    d.set("c", 3.0)
    assert d.earliest() == 1.0
    assert d.pop_due(2.5) == [("a", 1.0), ("b", 2.0)]
    assert "a" not in d and "b" not in d and d.get("c") == 3.0
    assert d.pop_due(2.5) == []
    assert d.earliest() == 3.0


def test_moving_later_is_lazy_and_fires_at_the_new_deadline() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("backup", 1.0)
    for t in (1.5, 2.0, 2.5):  # adverts keep restarting Master_Down_Timer
        d.set("backup", t)
    assert len(d._heap) == 1  # no push per advert
    assert d.earliest() == 1.0  # early, never late: the adapter wakes and finds nothing
    assert d.pop_due(1.0) == []
    assert d.earliest() == 2.5
    assert d.pop_due(2.5) == [("backup", 2.5)]


def test_a_wake_up_tidies_moved_deadlines_within_the_horizon() -> None:
    """Backups' deadlines keep moving later; their old entries would each wake the timer for
    nothing. One wake-up queues again the ones within the horizon."""
    d: Deadlines[int] = Deadlines()
    for k in range(10):
        d.set(k, 1.0 + k * 0.0004)  # first entries, 0.4 ms apart
        d.set(k, 1.04 + k * 0.0004)  # then moved later by an advert each
    assert d.pop_due(1.0, SLACK, horizon=0.005) == []
    assert d.earliest() == 1.04  # exact: no wake-up before a real deadline
    d.set(3, 2.0)
    assert [k for k, _ in d.pop_due(1.05, SLACK)] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert d.earliest() == 2.0  # 3's old entry, passed on the way, was queued again
    assert d.get(3) == 2.0 and len(d._heap) == 1


def test_moving_earlier_and_cancelling() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("x", 5.0)
    d.set("x", 1.0)
    assert d.earliest() == 1.0
    d.set("x", None)
    assert d.earliest() is None
    assert d.pop_due(10.0) == []
    d.set("x", 7.0)
    assert d.pop_due(10.0) == [("x", 7.0)]
    assert d.pop_due(10.0) == []  # the entry superseded at 5.0 is gone too


def test_slack_gathers_deadlines_a_few_microseconds_apart() -> None:
    d: Deadlines[int] = Deadlines()
    for k in range(5):
        d.set(k, 1.0 + k * 20e-6)
    d.set(9, 1.0 + 2 * SLACK)
    assert [k for k, _ in d.pop_due(1.0)] == [0, 1, 2, 3, 4]
    assert d.get(9) is not None


def test_drain_includes_deadlines_set_by_handlers() -> None:
    d: Deadlines[str] = Deadlines()
    d.set("a", 1.0)
    seen = []
    for key, at in drain(d, 1.0):
        seen.append((key, at))
        if key == "a":
            d.set("b", 1.0)  # already due: fires in this wake-up
    assert seen == [("a", 1.0), ("b", 1.0)]


ops = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    ),
    max_size=60,
)


@given(ops, st.lists(st.floats(0, 120, allow_nan=False), max_size=10))
@settings(max_examples=300, deadline=None)
def test_same_as_a_plain_dict(
    operations: list[tuple[int, float | None]], nows: list[float]
) -> None:
    """Whatever the sets, cancels and pops, due keys are exactly those of a plain dict."""
    d: Deadlines[int] = Deadlines()
    plain: dict[int, float] = {}
    for i, (key, at) in enumerate(operations):
        d.set(key, at)
        if at is None:
            plain.pop(key, None)
        else:
            plain[key] = at
        if nows and i % 7 == 0:
            now = nows[i % len(nows)]
            got = d.pop_due(now, 0.0)
            want = sorted(((k, t) for k, t in plain.items() if t <= now), key=lambda x: x[1])
            assert [t for _, t in got] == [t for _, t in want]
            assert {k for k, _ in got} == {k for k, _ in want}
            for k, _ in want:
                del plain[k]
        first = d.earliest()
        if plain:
            assert first is not None and first <= min(plain.values())
    assert sorted(d.pop_due(1e9, 0.0), key=lambda x: (x[1], x[0])) == sorted(
        plain.items(), key=lambda x: (x[1], x[0])
    )


@given(
    st.lists(st.floats(0, 10, allow_nan=False), max_size=20),
    st.dictionaries(st.integers(0, 4), st.floats(0, 10, allow_nan=False), max_size=5),
)
def test_merge_orders_deadlines_between_items(
    items: list[float], initial: dict[int, float]
) -> None:
    """A batch handled at once gives the events of handling each item when it arrived:
    a deadline earlier than an item fires before it."""
    items = sorted(items)
    d: Deadlines[int] = Deadlines()
    for k, t in initial.items():
        d.set(k, t)
    events: list[tuple[float, str]] = []
    merge(
        items,
        lambda t: t,
        d,
        lambda t: events.append((t, "item")),
        lambda k, t: events.append((t, f"due {k}")),
    )
    for k, t in drain(d, 1e9, 0.0):
        events.append((t, f"due {k}"))
    # One at a time: every item at its arrival, every deadline when it comes.
    want = [(t, "item") for t in items] + [(t, f"due {k}") for k, t in initial.items()]
    assert sorted(events) == sorted(want)
    times = [t for t, _ in events]
    assert times == sorted(times)  # a deadline before an item fired before it
    assert [e for e in events if e[1] == "item"] == [(t, "item") for t in items]
