"""The process's deadlines, pure: one heap for every virtual router, behind one kernel timer.

Each key (a virtual router) has at most one deadline. Moving a deadline later, which is what
every advertisement a backup accepts does to its Master_Down_Timer, only writes a dict: the
heap entry left behind is checked when it comes due and pushed again at the key's current
deadline. Moving it earlier pushes a new entry. So the adapter re-arms its one timer only
when the earliest deadline moved earlier, never per advertisement.

`pop_due(now, slack)` hands out, in deadline order, every key due by `now + slack`: deadlines
a few microseconds apart fire in one wake-up, and their advertisements leave together.

`merge` orders a batch of received items and the deadlines that fall between them, so that a
batch handled in one wake-up produces the same sequence as handling each item at its arrival.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

SLACK = 100e-6  # seconds: deadlines this close to the wake-up fire in it
HORIZON = 0.005  # seconds: entries of moved deadlines this close are tidied in the wake-up


class Deadlines(Generic[K]):
    def __init__(self) -> None:
        self._at: dict[K, float] = {}  # key -> its deadline
        self._queued: dict[K, float] = {}  # key -> its earliest heap entry
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def get(self, key: K) -> float | None:
        return self._at.get(key)

    def set(self, key: K, deadline: float | None) -> None:
        """Schedule `key` at `deadline` (replacing its earlier one); None cancels it."""
        if deadline is None:
            self._at.pop(key, None)
            return
        self._at[key] = deadline
        queued = self._queued.get(key)
        if queued is None or deadline < queued:
            self._queued[key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), key))

    def earliest(self) -> float | None:
        """A time at or before the earliest deadline (exact after `pop_due`), None if none.
        Entries left behind by moved or cancelled deadlines make it early, never late."""
        top = self._top()
        return None if top is None else top[0]

    def _top(self) -> tuple[float, K, float] | None:
        """The first live heap entry (its time, key and the key's deadline), after dropping
        the entries superseded by an earlier one of the same key or cancelled."""
        heap = self._heap
        while heap:
            at, _, key = heap[0]
            if self._queued.get(key) != at:
                heapq.heappop(heap)  # superseded by an earlier entry of the same key
                continue
            current = self._at.get(key)
            if current is None:
                heapq.heappop(heap)  # cancelled
                del self._queued[key]
                continue
            return at, key, current
        return None

    def pop_due(
        self, now: float, slack: float = SLACK, horizon: float = 0.0
    ) -> list[tuple[K, float]]:
        """Every key whose deadline is at or before `now + slack`, earliest first, with its
        deadline; each is unscheduled (the caller sets the next one). Entries left behind
        by deadlines that moved later are queued again at their deadline, up to
        `now + horizon`: one wake-up tidies what would otherwise wake the caller again soon
        for nothing."""
        limit = now + slack
        tidy = now + max(slack, horizon)
        heap = self._heap
        due: list[tuple[K, float]] = []
        while (top := self._top()) is not None and top[0] <= tidy:
            at, key, current = top
            if current <= limit:
                heapq.heappop(heap)
                del self._queued[key]
                del self._at[key]
                due.append((key, current))
            elif current > at:  # moved later since: queue it again at its deadline
                heapq.heapreplace(heap, (current, next(self._seq), key))
                self._queued[key] = current
            else:
                break  # a deadline still to come: everything after it is later
        due.sort(key=lambda item: item[1])
        return due


def merge(
    items: Iterable[T],
    arrival: Callable[[T], float],
    deadlines: Deadlines[K],
    on_item: Callable[[T], None],
    on_due: Callable[[K, float], None],
) -> None:
    """Handle a batch of `items` in arrival order; before each, fire the deadlines that fell
    due before it arrived (`on_due(key, deadline)`), as if each had been handled on arrival.
    Handlers may set deadlines; ones that fall before a later item fire before it."""
    heap = deadlines._heap
    for item in items:
        at = arrival(item)
        # heap[0] is at or before the earliest deadline: usually later than `at`, and then
        # nothing can be due. Otherwise one pass fires what is due strictly before `at` and
        # queues again, at their deadlines, the entries that moved later.
        if heap and heap[0][0] < at:
            before = math.nextafter(at, -math.inf)
            while due := deadlines.pop_due(before, 0.0):
                for key, deadline in due:
                    on_due(key, deadline)
        on_item(item)


def drain(
    deadlines: Deadlines[K], now: float, slack: float = SLACK, horizon: float = 0.0
) -> Iterator[tuple[K, float]]:
    """Every deadline due by `now + slack`, including ones set by the handling of earlier
    ones (a handler that schedules something already due sees it fire in the same wake)."""
    while True:
        due = deadlines.pop_due(now, slack, horizon)
        if not due:
            return
        yield from due
