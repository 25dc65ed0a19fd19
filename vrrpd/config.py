"""Configuration: TOML -> validated, frozen dataclasses.

Every problem a user can make is reported as one line naming the file, the key and what is
allowed, e.g. ``vrrpd.toml: virtual_router[0].vrid: must be an integer 1..255, got 300``.
All problems of a file are collected, not just the first. Unknown keys are errors.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from pathlib import Path
from typing import Any

from .packet import ChecksumForm

IPInterface = IPv4Interface | IPv6Interface

DEFAULT_CONTROL_SOCKET = "/run/vrrpd/vrrpd.sock"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DaemonConfig:
    control_socket: str = DEFAULT_CONTROL_SOCKET


@dataclass(frozen=True)
class VirtualRouterConfig:
    name: str
    interface: str
    vrid: int
    priority: int
    advert_interval_cs: int
    preempt: bool
    preempt_delay: Fraction
    version: int
    virtual_ips: tuple[IPInterface, ...]
    checksum: ChecksumForm
    garp_repeat: int

    @property
    def family(self) -> int:
        return self.virtual_ips[0].version

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies a virtual router on the wire: (interface, VRID, family)."""
        return (self.interface, self.vrid, self.family)


@dataclass(frozen=True)
class Config:
    daemon: DaemonConfig
    virtual_routers: tuple[VirtualRouterConfig, ...]


# --- validation helpers -------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{self.source}: {where}: {message}")


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Table:
    """Reads typed keys from one TOML table, recording problems instead of raising."""

    def __init__(self, data: Mapping[str, Any], where: str, problems: _Problems) -> None:
        self.data, self.where, self.problems = data, where, problems
        self.seen: set[str] = set()

    def _bad(self, key: str, message: str) -> None:
        self.problems.add(f"{self.where}{key}", message)

    def get(self, key: str, default: Any, check: Callable[[Any], str | None]) -> Any:
        """`check` returns None when the value is good, or the message for the problem."""
        self.seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                self._bad(key, "is required")
                return None
            return default
        value = self.data[key]
        message = check(value)
        if message is not None:
            self._bad(key, f"{message}, got {_show(value)}")
            return None
        return value

    def finish(self) -> None:
        for key in self.data:
            if key not in self.seen:
                allowed = ", ".join(sorted(self.seen))
                self._bad(key, f"unknown key (allowed: {allowed})")


_REQUIRED = object()


def _int_range(lo: int, hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
        return None if ok else f"must be an integer {lo}..{hi}"

    return check


def _is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _number_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and lo <= v <= hi
        )
        return None if ok else f"must be a number of seconds {lo:g}..{hi:g}"

    return check


def _string(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and pattern.match(v) else f"must be {what}"

    return check


def _choice(*allowed: object) -> Callable[[Any], str | None]:
    shown = " or ".join(_show(a) for a in allowed)

    def check(v: Any) -> str | None:
        ok = any(v == a and type(v) is type(a) for a in allowed)
        return None if ok else f"must be {shown}"

    return check


def _centiseconds(seconds: float) -> int | None:
    """Seconds -> whole centiseconds, or None when not a multiple of 0.01 s."""
    cs = round(seconds * 100)
    return cs if abs(cs - seconds * 100) < 1e-6 else None


# --- parsing ------------------------------------------------------------------------------


def _parse_router(raw: Any, index: int, problems: _Problems) -> VirtualRouterConfig | None:
    where = f"virtual_router[{index}]."
    if not isinstance(raw, dict):
        problems.add(f"virtual_router[{index}]", "must be a table")
        return None
    before = len(problems.lines)
    t = _Table(raw, where, problems)
    name = t.get("name", _REQUIRED, _string(NAME_RE, "1-32 characters of A-Z a-z 0-9 _ . -"))
    interface = t.get("interface", _REQUIRED, _string(IFNAME_RE, "an interface name"))
    vrid = t.get("vrid", _REQUIRED, _int_range(1, 255))
    priority = t.get("priority", 100, _int_range(1, 255))
    version = t.get("version", 3, _choice(3, 2))
    interval = t.get("advert_interval", 1.0, _number_range(0.01, 255))
    preempt = t.get("preempt", True, _is_bool)
    preempt_delay = t.get("preempt_delay", 0.0, _number_range(0, 3600))
    checksum = t.get("checksum", "rfc5798", _choice("rfc5798", "rfc9568"))
    garp_repeat = t.get("garp_repeat", 5, _int_range(0, 100))
    vips_raw = t.get("virtual_ips", _REQUIRED, _vip_list_shape)
    t.finish()

    interval_cs: int | None = None
    if interval is not None and version is not None:
        if version == 3:
            interval_cs = _centiseconds(interval)
            if interval_cs is None or not 1 <= interval_cs <= 4095:
                problems.add(
                    f"{where}advert_interval",
                    "must be 0.01..40.95 seconds in steps of 0.01 for version 3, "
                    f"got {_show(interval)}",
                )
                interval_cs = None
        else:
            if float(interval) != int(interval) or not 1 <= interval <= 255:
                problems.add(
                    f"{where}advert_interval",
                    f"must be whole seconds 1..255 for version 2, got {_show(interval)}",
                )
            else:
                interval_cs = int(interval) * 100

    vips: list[IPInterface] = []
    if vips_raw is not None:
        for i, text in enumerate(vips_raw):
            try:
                vip = ip_interface(text)
            except ValueError:
                problems.add(
                    f"{where}virtual_ips[{i}]",
                    f"must be an IPv4 or IPv6 address with optional /prefix, got {_show(text)}",
                )
                continue
            if any(v.ip == vip.ip for v in vips):
                problems.add(f"{where}virtual_ips[{i}]", f"duplicate address {_show(text)}")
            vips.append(vip)
        families = {v.version for v in vips}
        if len(families) > 1:
            problems.add(
                f"{where}virtual_ips",
                "must be all IPv4 or all IPv6 (use two virtual routers with the same vrid)",
            )
        if version == 2 and 6 in families:
            problems.add(f"{where}virtual_ips", "must be IPv4 for version 2")

    if len(problems.lines) > before:
        return None
    return VirtualRouterConfig(
        name=name,
        interface=interface,
        vrid=vrid,
        priority=priority,
        advert_interval_cs=interval_cs or 100,
        preempt=preempt,
        preempt_delay=Fraction(preempt_delay).limit_denominator(1000),
        version=version,
        virtual_ips=tuple(vips),
        checksum=ChecksumForm(checksum),
        garp_repeat=garp_repeat,
    )


def _vip_list_shape(v: Any) -> str | None:
    ok = isinstance(v, list) and 1 <= len(v) <= 255 and all(isinstance(x, str) for x in v)
    return None if ok else "must be a list of 1..255 address strings"


def parse(data: Mapping[str, Any], source: str) -> Config:
    """Validate a decoded TOML document; raise ConfigError with every problem found."""
    problems = _Problems(source)
    top = _Table(data, "", problems)

    daemon_raw = top.get("daemon", {}, lambda v: None if isinstance(v, dict) else "must be a table")
    daemon = DaemonConfig()
    if daemon_raw is not None:
        d = _Table(daemon_raw, "daemon.", problems)
        sock = d.get(
            "control_socket",
            DEFAULT_CONTROL_SOCKET,
            lambda v: (
                None
                if isinstance(v, str) and v.startswith("/") and len(v) < 108
                else "must be an absolute path shorter than 108 characters"
            ),
        )
        d.finish()
        daemon = DaemonConfig(control_socket=sock or DEFAULT_CONTROL_SOCKET)

    routers_raw = top.get(
        "virtual_router",
        _REQUIRED,
        lambda v: None if isinstance(v, list) and v else "must be one or more [[virtual_router]]",
    )
    top.finish()

    routers: list[VirtualRouterConfig] = []
    for i, raw in enumerate(routers_raw or []):
        vr = _parse_router(raw, i, problems)
        if vr is None:
            continue
        for j, other in enumerate(routers):
            if other.name == vr.name:
                problems.add(f"virtual_router[{i}].name", f"duplicate name {vr.name!r}")
            if other.key == vr.key:
                problems.add(
                    f"virtual_router[{i}].vrid",
                    f"vrid {vr.vrid} on {vr.interface} for IPv{vr.family} is already used by "
                    f"virtual_router[{j}] ({other.name!r})",
                )
        routers.append(vr)

    if problems.lines:
        raise ConfigError(problems.lines)
    return Config(daemon=daemon, virtual_routers=tuple(routers))


def load(path: str | Path) -> Config:
    """Read and validate a TOML file; raise ConfigError with one line per problem."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError([f"{source}: cannot read: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{source}: TOML syntax error: {e}"]) from None
    return parse(data, source)
