"""Following an interface by its index, pure.

The configuration names an interface; the sockets, the frames and the virtual MAC's macvlan
are bound to its index. An interface deleted and re-created with the same name (a VLAN or a
bond taken down and up again, a macvlan made again) has a new index: what was bound to the old
one is dead, while the name, and so link tracking, says all is well.

`Follow` is what the runtime knows of one configured interface: the index it follows and
whether the sockets, frames and start-up checks are done for that index (`ready`). Each input
returns a `Decision`:

- KEEP: nothing to do here (another interface, or ours as it was: up and down are link
  tracking's, `vrrpd.tracking`).
- FAULT: the interface the sockets are bound to is gone (deleted, or renamed away), or an
  attempt to reopen it failed (no address to send from yet, gone again). Its virtual routers
  hold FAULT (`Instance.link_lost`) until a later event makes it REOPEN.
- REOPEN: an interface of that name is there and not yet opened (re-created with a new index,
  renamed back, or still failing a start-up check, or the kernel said "no such device" for
  it). Its virtual routers hold FAULT while the runtime reopens the sockets, makes the virtual
  MAC's macvlan again and redoes the start-up checks; only `opened` (then
  `Instance.link_ready`) lets them leave FAULT.

A REOPEN while an attempt runs asks for one more (`wanted` counts them), so an attempt that
raced with a later change is never taken as the last word.

Like `fsm`, this module never reads a clock, opens a socket or logs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    KEEP = "keep"
    FAULT = "fault"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    why: str = ""  # the FAULT reason, for status, explain and the log ("" for KEEP)


KEEP = Decision(Verdict.KEEP)


@dataclass(slots=True)
class Follow:
    """One configured interface `name`: the `index` followed, and whether the runtime has
    reopened it (`ready`). Starts ready: the daemon opens the interface before it starts."""

    name: str
    index: int
    ready: bool = True
    wanted: int = 0  # REOPEN decisions so far: an attempt is current while this is unchanged

    def link(self, name: str, index: int, deleted: bool) -> Decision:
        """A link event (RTM_NEWLINK, or RTM_DELLINK when `deleted`) for interface `index`,
        now named `name`."""
        if index == self.index:
            if deleted or name != self.name:
                self.ready = False
                how = "deleted" if deleted else f"renamed to {name}"
                return Decision(Verdict.FAULT, f"interface {self.name} {how} (index {index})")
            if self.ready:
                return KEEP
            return self._reopen(f"interface {self.name} (index {index}): reopening")
        if name != self.name or deleted:
            return KEEP  # another interface; or an older one of our name, gone again
        old, self.index = self.index, index
        return self._reopen(f"interface {self.name} re-created (index {old} -> {index}): reopening")

    def address_added(self, index: int) -> Decision:
        """An address appeared on interface `index`: the start-up check that found no
        address to send from may pass now."""
        if index != self.index or self.ready:
            return KEEP
        return self._reopen(f"interface {self.name} (index {index}): reopening")

    def vanished(self) -> Decision:
        """The kernel answered "no such device" for the interface (adding a virtual address,
        sending): whatever the link events said (they may be late, or lost), it is not what
        we opened. FAULT, and look for it by name. KEEP if that is already under way."""
        if not self.ready:
            return KEEP
        return self._reopen(f"interface {self.name} (index {self.index}): no such device")

    def failed(self, index: int, problem: str) -> Decision:
        """An attempt for `index` failed (`problem`: one line). The interface stays not
        ready; the next link or address event retries."""
        if index != self.index:
            return KEEP  # superseded: the current index has its own attempt
        self.ready = False
        return Decision(Verdict.FAULT, f"interface {self.name} (index {index}): {problem}")

    def opened(self, index: int, attempt: int) -> bool:
        """The runtime reopened interface `index` and its checks passed, in the attempt
        started when `wanted` was `attempt`. True (now ready) if nothing newer is wanted;
        False if a later event asks for another attempt."""
        if index != self.index or attempt != self.wanted:
            return False
        self.ready = True
        return True

    def _reopen(self, why: str) -> Decision:
        self.ready = False
        self.wanted += 1
        return Decision(Verdict.REOPEN, why)
