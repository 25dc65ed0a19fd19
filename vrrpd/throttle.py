"""How often to repeat a warning, pure: the first occurrence is said at once, then at most
one line per `every` seconds, saying how many were not (an advert that cannot be sent at a
10 ms interval must not write 100 lines a second)."""

from __future__ import annotations


class Throttle:
    def __init__(self, every: float) -> None:
        self.every = every
        self._said_at: float | None = None
        self._quiet = 0  # occurrences since the last line

    def hit(self, now: float) -> int | None:
        """One occurrence at `now`: None to stay quiet, else how many went unsaid since the
        last line (0 for the first)."""
        if self._said_at is not None and now < self._said_at + self.every:
            self._quiet += 1
            return None
        unsaid, self._quiet, self._said_at = self._quiet, 0, now
        return unsaid
