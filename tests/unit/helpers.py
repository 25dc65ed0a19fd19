"""Builders shared by the unit and property tests: virtual routers of the pure state machine
in a given state, adverts for them, and the configuration files of the config/CLI tests."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from vrrpd.config import ConfigError, load
from vrrpd.fsm import (
    Action,
    AddVips,
    AdvertReceived,
    Announce,
    Params,
    Reason,
    SendAdvert,
    Startup,
    State,
    StateChanged,
    Timeout,
    VirtualRouter,
)
from vrrpd.packet import Advertisement
from vrrpd.types import IPAddress

VRID = 51
ME = IPv4Address("192.0.2.2")
VIP = IPv4Address("192.0.2.254")
INIT, B, M, F = State.INITIALIZE, State.BACKUP, State.MASTER, State.FAULT


# --- the state machine ------------------------------------------------------------------------


def make(
    priority: int = 100,
    interval_cs: int = 100,
    *,
    preempt: bool = True,
    preempt_delay: Fraction = Fraction(0),
    version: int = 3,
    primary: IPAddress = ME,
) -> VirtualRouter:
    """A virtual router of VRID 51 in INITIALIZE."""
    return VirtualRouter(
        Params(
            vrid=VRID,
            priority=priority,
            interval_cs=interval_cs,
            preempt=preempt,
            preempt_delay=preempt_delay,
            version=version,
        ),
        primary,
    )


def advert(priority: int, interval_cs: int = 100, version: int = 3) -> Advertisement:
    """An advert of VRID 51 carrying VIP."""
    return Advertisement(version, VRID, priority, interval_cs, (VIP,))


def received(
    priority: int, src: IPAddress, interval_cs: int = 100, version: int = 3
) -> AdvertReceived:
    """`advert(...)` received from `src`."""
    return AdvertReceived(advert(priority, interval_cs, version), src)


# Becoming Master while another master may still hold the addresses: they are added and
# announced before the first advertisement (make before break).
DISPLACING = (Reason.PREEMPTED, Reason.TAKEOVER, Reason.OWNER, Reason.FAULT_CLEARED)


def became_master(old: State, reason: Reason, priority: int) -> list[Action]:
    if reason in DISPLACING:
        return [AddVips(), Announce(), SendAdvert(priority), StateChanged(old, M, reason)]
    # The master is gone: the advertisement goes first (it must not wait for netlink);
    # Announce after the addresses are in place; the state change last.
    return [SendAdvert(priority), AddVips(), Announce(), StateChanged(old, M, reason)]


def backup(now: float = 0.0, **kw: object) -> VirtualRouter:
    """`make(**kw)` started at `now`: a Backup."""
    vr = make(**kw)  # type: ignore[arg-type]
    assert vr.handle(Startup(), now) == [StateChanged(INIT, B, Reason.STARTUP)]
    return vr


def master(now: float = 0.0, **kw: object) -> tuple[VirtualRouter, float]:
    """A non-owner master (Backup whose Master_Down_Timer fired); returns it and the time."""
    vr = backup(now, **kw)
    deadline = vr.next_deadline()
    assert deadline is not None
    actions = vr.handle(Timeout(), deadline)
    assert actions == became_master(B, Reason.MASTER_DOWN, vr.params.priority)
    return vr, deadline


# --- configuration files ------------------------------------------------------------------------

ROUTER = """\
[[virtual_router]]
name = "gw"
interface = "eth0"
vrid = 51
virtual_ips = ["192.0.2.254/24"]
"""


def write(tmp_path: Path, text: str, name: str = "vrrpd.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    """The problem lines of the ConfigError `load(path)` raises: at least one, one line each,
    and the error's text is exactly those lines."""
    with pytest.raises(ConfigError) as info:
        load(path)
    lines = info.value.problems
    assert lines
    assert str(info.value) == "\n".join(lines)
    assert all("\n" not in line for line in lines)
    return lines


def one_router(**keys: object) -> str:
    """A [[virtual_router]] with the required keys (IPv4, vrid 51), overridden/extended by
    `keys` (TOML values as text; None leaves a key out)."""
    base: dict[str, object] = {
        "name": '"gw"',
        "interface": '"eth0"',
        "vrid": "51",
        "virtual_ips": '["192.0.2.254/24"]',
    }
    base.update(keys)
    body = "".join(f"{k} = {v}\n" for k, v in base.items() if v is not None)
    return "[[virtual_router]]\n" + body


def bad(tmp_path: Path, text: str) -> list[str]:
    """The problem lines of a file, with the file name cut off."""
    path = write(tmp_path, text)
    prefix = f"{path}: "
    lines = problems(path)
    assert all(line.startswith(prefix) for line in lines)
    return [line[len(prefix) :] for line in lines]
