"""Which scripts a state change runs, decided in one place, pure.

A virtual router or sync group may have a `notify` script (run on every change, with
keepalived's arguments appended) and one hook per state entered (`on_master`, `on_backup`,
`on_fault`, `on_stop`: keepalived's notify_master, notify_backup, notify_fault, notify_stop,
run as given, nothing appended). Entering INITIALIZE is stopping (shutdown, removal, or a
restart on reload): `on_stop` runs, `notify` does not (as before). Both may be set: notify
runs first.
"""

from __future__ import annotations

from typing import Protocol

from .fsm import State


class Scripted(Protocol):
    """What a virtual router's or sync group's configuration says about its scripts."""

    @property
    def notify(self) -> tuple[str, ...]: ...
    @property
    def on_master(self) -> tuple[str, ...]: ...
    @property
    def on_backup(self) -> tuple[str, ...]: ...
    @property
    def on_fault(self) -> tuple[str, ...]: ...
    @property
    def on_stop(self) -> tuple[str, ...]: ...


def hook(cfg: Scripted, state: State) -> tuple[str, ...]:
    """The hook run on entering `state` (argv; () = none)."""
    match state:
        case State.MASTER:
            return cfg.on_master
        case State.BACKUP:
            return cfg.on_backup
        case State.FAULT:
            return cfg.on_fault
        case State.INITIALIZE:
            return cfg.on_stop


def commands(
    cfg: Scripted, state: State, notify_args: tuple[str, ...]
) -> tuple[tuple[str, ...], ...]:
    """The argvs to run, in this order, on entering `state`: `notify` with `notify_args`
    (keepalived's `INSTANCE gw MASTER 150`) appended, unless stopping; then the state's hook
    as given."""
    out: list[tuple[str, ...]] = []
    if cfg.notify and state is not State.INITIALIZE:
        out.append((*cfg.notify, *notify_args))
    if own := hook(cfg, state):
        out.append(own)
    return tuple(out)
