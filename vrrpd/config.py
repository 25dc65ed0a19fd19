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
from ipaddress import (
    IPv4Address,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
)
from pathlib import Path
from typing import Any

from .metricnames import DEFAULT_NAMES, NAME_SETS
from .packet import ChecksumForm
from .types import IPAddress, IPInterface

DEFAULT_CONTROL_SOCKET = "/run/vrrpd/vrrpd.sock"
DEFAULT_CONTROL_IDLE_TIMEOUT = 10.0  # seconds without a complete control request
DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket"
# Whole-string patterns: used with fullmatch (re.match with "$" would accept "gw\n").
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
IFNAME_RE = re.compile(r"[^\s/:]{1,15}")
AUTH_PASS_MAX = 8  # RFC 2338 §5.3.6.1: simple text password, up to 8 octets
LINK_LOCAL = IPv6Network("fe80::/10")
# An advertisement must fit in one packet. The real MTU is not known when the file is read,
# so the check assumes Ethernet's 1500 (RFC 5798 §5.1: IPv4 20 / IPv6 40 header octets,
# VRRP 8 + one address each; VRRPv2 adds 8 octets of authentication data, RFC 3768 §5.1).
ASSUMED_MTU = 1500
VRRP_HEADER = 8
V2_AUTH_DATA = 8


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DaemonConfig:
    control_socket: str = DEFAULT_CONTROL_SOCKET
    metrics_listen: str | None = None  # "HOST:PORT" of the Prometheus endpoint
    metrics_names: str = DEFAULT_NAMES  # "vrrpd", "keepalived" or "both" (vrrpd.metricnames)
    log_target: str = "auto"  # "auto" (journald if stderr goes there), "journal", "stderr"
    journal_socket: str = DEFAULT_JOURNAL_SOCKET
    kernel_filter: bool = True  # a BPF filter drops what no virtual router could accept
    control_group: str | None = None  # may use the read-only control commands (vrrpd.access)
    control_idle_timeout: float = DEFAULT_CONTROL_IDLE_TIMEOUT
    script_user: str | int | None = None  # scripts run as (name or uid); None: vrrpd's user
    script_group: str | int | None = None  # None: script_user's primary group


@dataclass(frozen=True)
class TrackInterface:
    """A tracked interface: down = failing."""

    name: str
    interface: str
    weight: int | None  # None: FAULT while it fails


@dataclass(frozen=True)
class TrackScript:
    """A check command (argument list, no shell): exit 0 = success."""

    name: str
    command: tuple[str, ...]
    interval: Fraction
    timeout: Fraction
    rise: int
    fall: int
    weight: int | None


@dataclass(frozen=True)
class TrackFile:
    """A file holding an integer: value x weight is the priority term (0 = no change)."""

    name: str
    path: str
    weight: int | None


@dataclass(frozen=True)
class SyncGroup:
    """Virtual routers that change state together (all Master, or none)."""

    name: str
    members: tuple[str, ...]
    notify: tuple[str, ...] = ()
    # Per-state hooks (keepalived's notify_master ...): argv run as given, no arguments added.
    on_master: tuple[str, ...] = ()
    on_backup: tuple[str, ...] = ()
    on_fault: tuple[str, ...] = ()
    on_stop: tuple[str, ...] = ()


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
    auth_pass: bytes = b""  # VRRPv2 simple text password (not padded); b"" = none
    use_vmac: bool = False
    unicast_peers: tuple[IPAddress, ...] = ()  # () = multicast
    unicast_source: IPAddress | None = None
    unicast_ttl_check: bool = True
    accept_mode: bool = True
    router_advertisements: bool = False  # IPv6: send ND Router Advertisements while Master
    garp_interval: Fraction = Fraction(0)  # seconds between repeats of the GARP / NA burst
    garp_refresh: Fraction = Fraction(0)  # seconds between re-announcements as Master; 0 = off
    garp_delay: Fraction = Fraction(0)  # seconds after becoming Master to a second burst; 0 = off
    link_local_derived: bool = False  # IPv6: virtual_ips[0] was derived from the virtual MAC
    track_interfaces: tuple[TrackInterface, ...] = ()
    track_scripts: tuple[TrackScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    notify: tuple[str, ...] = ()  # argv prefix; vrrpd appends INSTANCE name STATE priority
    notify_timeout: Fraction = Fraction(10)
    # Run after deciding to become Master, before its addresses and first advertisement.
    before_master: tuple[str, ...] = ()
    before_master_timeout: Fraction = Fraction(5)
    # A readiness check that must pass before this router becomes Master (warm standby).
    takeover_gate: tuple[str, ...] = ()
    gate_interval: Fraction = Fraction(2)  # seconds between runs of the gate
    gate_timeout: Fraction = Fraction(2)  # seconds one run may take (at most gate_interval)
    gate_grace: Fraction = Fraction(5)  # seconds a failing gate may hold us past master down
    # Per-state hooks (keepalived's notify_master ...): argv run as given, no arguments added.
    on_master: tuple[str, ...] = ()
    on_backup: tuple[str, ...] = ()
    on_fault: tuple[str, ...] = ()
    on_stop: tuple[str, ...] = ()

    @property
    def family(self) -> int:
        return self.virtual_ips[0].version

    @property
    def advert_addresses(self) -> tuple[IPAddress, ...]:
        """The addresses an advertisement carries, in order (IPv6: the link-local first)."""
        return tuple(v.ip for v in self.virtual_ips)

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies a virtual router on the wire: (interface, VRID, family)."""
        return (self.interface, self.vrid, self.family)


@dataclass(frozen=True)
class Config:
    daemon: DaemonConfig
    virtual_routers: tuple[VirtualRouterConfig, ...]
    sync_groups: tuple[SyncGroup, ...] = ()


# --- validation helpers -------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{self.source}: {where}: {message}")


_SHOW_DIGITS = 50  # a longer integer is shown by its first digits and its length


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = str(abs(value))  # TOML integers have at most 4300 digits (tomllib's limit)
        if len(digits) > _SHOW_DIGITS:
            sign = "-" if value < 0 else ""
            return f"{sign}{digits[:20]}... ({len(digits)} digits)"
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


def _absolute_path(v: Any) -> str | None:
    return None if isinstance(v, str) and v.startswith("/") else "must be an absolute path"


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def parse_listen(text: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """`"HOST:PORT"` or `"[IPv6]:PORT"` -> (host, port); ValueError with a one-line message.

    HOST is an IPv4 address, a host name, or (in brackets) an IPv6 address, a zone allowed
    (`[fe80::1%eth0]:10112`). PORT is 1-65535; 0 (a free port, for tests) only with
    `allow_port_zero`. The message names the value, not the key: the caller prefixes it
    (`config.toml: metrics_listen: ...`). It lives here, not in metrics.py, so that checking
    a configuration does not import prometheus_client (vrrpd.io.metrics imports it).
    """
    example = "e.g. 127.0.0.1:10112 or [::1]:10112"
    if not isinstance(text, str):
        raise ValueError(f"expected a string HOST:PORT, {example}; got {type(text).__name__}")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [IPv6]:PORT, {example}")
        port_text = rest[1:]
        try:
            addr = ip_address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
        if addr.version != 6:
            raise ValueError(f"{text!r}: brackets are for IPv6 addresses only, {example}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r}: expected HOST:PORT, {example}")
        if ":" in host:
            raise ValueError(f"{text!r}: an IPv6 address needs brackets, e.g. [::1]:10112")
        if not host:
            raise ValueError(
                f"{text!r}: the host is missing; use 0.0.0.0 or [::] for all addresses"
            )
        try:
            IPv4Address(host)
        except ValueError:
            if host.replace(".", "").isdigit() or not _HOSTNAME.fullmatch(host):
                raise ValueError(
                    f"{text!r}: {host!r} is not an IPv4 address or host name"
                ) from None
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"{text!r}: port {port_text!r} is not a number 1-65535")
    port = int(port_text)
    lowest = 0 if allow_port_zero else 1
    if not lowest <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range {lowest}-65535")
    return host, port


def _listen_check(v: Any) -> str | None:
    try:
        parse_listen(v)
    except ValueError as e:
        return f"must be HOST:PORT or [IPv6]:PORT ({e})"
    return None


def _is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _is_number(v: Any) -> bool:
    """A TOML integer or a finite float. Integers are not passed to math.isfinite: one too
    large for a float (a 400-digit advert_interval) makes it raise OverflowError; the range
    checks compare integers with the float bounds exactly."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v))


def _number_range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = _is_number(v) and lo <= v <= hi
        return None if ok else f"must be a number of seconds {lo:g}..{hi:g}"

    return check


def _string(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and pattern.fullmatch(v) else f"must be {what}"

    return check


_is_name = _string(NAME_RE, "1-32 characters of A-Z a-z 0-9 _ . -")


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


def _milliseconds(seconds: float) -> int | None:
    """Seconds -> whole milliseconds, or None when not a multiple of 0.001 s."""
    ms = round(seconds * 1000)
    return ms if abs(ms - seconds * 1000) < 1e-6 else None


def _garp_refresh_range(v: Any) -> str | None:
    ok = _is_number(v) and (v == 0 or 1 <= v <= 86400)
    return None if ok else "must be 0 (off) or a number of seconds 1..86400"


def _toml_type(v: object) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return "a date/time"


def _auth_pass_problem(v: Any) -> str | None:
    """Like a `check`, but the message never shows the value: it may be the real password."""
    allowed = f"1..{AUTH_PASS_MAX} printable ASCII characters"
    if not isinstance(v, str):
        return f"must be a string of {allowed}, got {_toml_type(v)}"
    if not 1 <= len(v) <= AUTH_PASS_MAX:
        return f"must be {allowed}, got {len(v)} characters (value not shown)"
    for pos, char in enumerate(v, 1):
        if not " " <= char <= "~":
            return (
                f"must be {allowed}, got a character that is not printable ASCII at "
                f"position {pos} (value not shown)"
            )
    return None


def _address(text: str, family: int | None, where: str, problems: _Problems) -> IPAddress | None:
    """A unicast peer or source address, or None after recording why it cannot be one."""
    try:
        addr = ip_address(text)
    except ValueError:
        problems.add(where, f"must be an IPv4 or IPv6 address, got {_show(text)}")
        return None
    if isinstance(addr, IPv6Address) and addr.scope_id is not None:
        problems.add(
            where, f"must be an address without %scope (the router's interface), got {_show(text)}"
        )
    elif family is not None and addr.version != family:
        problems.add(where, f"must be IPv{family} like virtual_ips, got {_show(text)}")
    elif addr.is_multicast:
        problems.add(where, f"must not be a multicast address, got {_show(text)}")
    elif addr.is_unspecified:
        problems.add(where, f"must not be the unspecified address, got {_show(text)}")
    else:
        return addr
    return None


def _peer_list_shape(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        return "must be a list of address strings"
    if not v:
        return "must list at least one peer; leave the key out for multicast"
    return None


def _is_string(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be an address string"


def _unusable_vip(addr: IPAddress) -> str | None:
    """Why `addr` cannot be a virtual address, or None. IPv6 link-local ones are fine (the
    virtual router's own, RFC 5798 §5.2.9), and so are IPv4 169.254/16 ones."""
    if addr.is_multicast:
        return "must not be a multicast address"
    if addr.is_loopback:
        return "must not be a loopback address"
    if addr.is_unspecified:
        return "must not be the unspecified address"
    return None


def _max_addresses(family: int, version: int, mtu: int = ASSUMED_MTU) -> int:
    """How many addresses one advertisement can carry in a packet of `mtu` octets."""
    ip_header, size = (40, 16) if family == 6 else (20, 4)
    auth = V2_AUTH_DATA if version == 2 else 0
    return (mtu - ip_header - VRRP_HEADER - auth) // size


def _check_fits_mtu(
    count: int, family: int, version: int, derived: bool, where: str, problems: _Problems
) -> None:
    """An advertisement carries every address; it must fit in one packet (no fragments)."""
    fit = _max_addresses(family, version)
    if count <= fit:
        return
    given = f"{count} (including the derived link-local address)" if derived else str(count)
    problems.add(
        f"{where}virtual_ips",
        f"an advertisement carries at most {fit} IPv{family} addresses at MTU {ASSUMED_MTU}, "
        f"got {given}",
    )


def _derived_link_local(vrid: int) -> IPv6Interface:
    """fe80::/64 + modified EUI-64 of the IPv6 virtual MAC 00:00:5e:00:02:{vrid}."""
    return IPv6Interface(f"fe80::200:5eff:fe00:2{vrid:02x}/64")


# --- parsing ------------------------------------------------------------------------------


def _parse_router(raw: Any, index: int, problems: _Problems) -> VirtualRouterConfig | None:
    where = f"virtual_router[{index}]."
    if not isinstance(raw, dict):
        problems.add(f"virtual_router[{index}]", "must be a table")
        return None
    before = len(problems.lines)
    t = _Table(raw, where, problems)
    name = t.get("name", _REQUIRED, _is_name)
    interface = t.get("interface", _REQUIRED, _string(IFNAME_RE, "an interface name"))
    vrid = t.get("vrid", _REQUIRED, _int_range(1, 255))
    priority = t.get("priority", 100, _int_range(1, 255))
    version = t.get("version", 3, _choice(3, 2))
    interval = t.get("advert_interval", 1.0, _number_range(0.01, 255))
    preempt = t.get("preempt", True, _is_bool)
    preempt_delay = t.get("preempt_delay", 0.0, _number_range(0, 3600))
    checksum = t.get("checksum", "rfc5798", _choice("rfc5798", "rfc9568"))
    garp_repeat = t.get("garp_repeat", 5, _int_range(0, 100))
    garp_interval = t.get("garp_interval", 0, _number_range(0, 10))
    garp_refresh = t.get("garp_refresh", 0, _garp_refresh_range)
    garp_delay = t.get("garp_delay", 0, _number_range(0, 3600))
    accept_mode = t.get("accept_mode", True, _is_bool)
    router_ads = t.get("router_advertisements", False, _is_bool)
    use_vmac = t.get("use_vmac", False, _is_bool)
    auth_raw = t.get("auth_pass", None, lambda v: None)  # checked below, never shown
    peers_raw = t.get("unicast_peers", None, _peer_list_shape)
    source_raw = t.get("unicast_source", None, _is_string)
    ttl_check = t.get("unicast_ttl_check", True, _is_bool)
    vips_raw = t.get("virtual_ips", _REQUIRED, _vip_list_shape)
    tracking = _parse_tracking(t, where, problems)
    notify = t.get("notify", (), _argv_shape)
    notify_timeout = t.get("notify_timeout", 10, _number_range(0.1, 3600))
    before_master = t.get("before_master", (), _argv_shape)
    before_master_timeout = t.get("before_master_timeout", 5, _number_range(0.1, 60))
    takeover_gate = t.get("takeover_gate", (), _argv_shape)
    gate_interval = t.get("gate_interval", 2, _number_range(0.1, 3600))
    gate_timeout = t.get("gate_timeout", None, _number_range(0.1, 3600))
    gate_grace = t.get("gate_grace", 5, _number_range(0, 3600))
    hooks = _parse_hooks(t)
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

    def millis(key: str, value: Any, allowed: str) -> int | None:
        ms = None if value is None else _milliseconds(value)
        if value is not None and ms is None:
            problems.add(
                f"{where}{key}", f"must be {allowed} in steps of 0.001, got {_show(value)}"
            )
        return ms

    garp_interval_ms = millis("garp_interval", garp_interval, "0..10 seconds")
    garp_refresh_ms = millis("garp_refresh", garp_refresh, "0 (off) or 1..86400 seconds")
    garp_delay_ms = millis("garp_delay", garp_delay, "0 (off) or 0.001..3600 seconds")
    if takeover_gate:
        if priority == 255:  # the address owner
            problems.add(
                f"{where}takeover_gate",
                "does not apply to the address owner (priority 255), which is master at once",
            )
        if gate_timeout is not None and gate_interval is not None and gate_timeout > gate_interval:
            problems.add(
                f"{where}gate_timeout",
                f"must not exceed gate_interval ({_show(gate_interval)}), "
                f"got {_show(gate_timeout)}",
            )
    else:
        for key in ("gate_interval", "gate_timeout", "gate_grace"):
            if key in t.data:
                problems.add(f"{where}{key}", "only applies with takeover_gate")

    auth_pass = b""
    if auth_raw is not None:
        message = _auth_pass_problem(auth_raw)
        if message is not None:
            problems.add(f"{where}auth_pass", message)
        elif version == 3:
            problems.add(f"{where}auth_pass", "only applies to version 2, got version 3")
        else:
            auth_pass = auth_raw.encode("ascii")

    vips: list[IPInterface] = []
    vip_texts: list[str] = []
    family: int | None = None
    link_local_derived = False
    if vips_raw is not None:
        vips_before = len(problems.lines)
        for i, text in enumerate(vips_raw):
            try:
                vip = ip_interface(text)
            except ValueError:
                problems.add(
                    f"{where}virtual_ips[{i}]",
                    f"must be an IPv4 or IPv6 address with optional /prefix, got {_show(text)}",
                )
                continue
            unusable = _unusable_vip(vip.ip)
            if "%" in text:  # ipaddress keeps a zone in the interface, not in .ip
                unusable = "must be an address without %scope (the router's interface)"
            if unusable is not None:
                problems.add(f"{where}virtual_ips[{i}]", f"{unusable}, got {_show(text)}")
                continue
            if any(v.ip == vip.ip for v in vips):
                problems.add(f"{where}virtual_ips[{i}]", f"duplicate address {_show(text)}")
            vips.append(vip)
            vip_texts.append(text)
        families = {v.version for v in vips}
        if len(families) > 1:
            problems.add(
                f"{where}virtual_ips",
                "must be all IPv4 or all IPv6 (use two virtual routers with the same vrid)",
            )
        elif families:
            (family,) = families
        if version == 2 and 6 in families:
            problems.add(f"{where}virtual_ips", "must be IPv4 for version 2")
        if len(problems.lines) == vips_before and family == 6 and version == 3:
            vips, link_local_derived = _link_local_first(vips, vip_texts, vrid, where, problems)
        if len(problems.lines) == vips_before and family is not None and version is not None:
            _check_fits_mtu(len(vips), family, version, link_local_derived, where, problems)

    # Unicast: a peer list replaces the multicast group; the other unicast keys need it.
    peers: list[IPAddress] = []
    if peers_raw is not None:
        for i, text in enumerate(peers_raw):
            peer = _address(text, family, f"{where}unicast_peers[{i}]", problems)
            if peer is None:
                continue
            if peer in peers:
                problems.add(f"{where}unicast_peers[{i}]", f"duplicate address {_show(text)}")
            peers.append(peer)
    source: IPAddress | None = None
    if "unicast_peers" not in raw:
        if source_raw is not None:
            problems.add(
                f"{where}unicast_source",
                f"only applies with unicast_peers, got {_show(source_raw)}",
            )
        if "unicast_ttl_check" in raw and ttl_check is not None:
            problems.add(
                f"{where}unicast_ttl_check",
                "only applies with unicast_peers (multicast advertisements are always "
                f"checked for TTL 255), got {_show(ttl_check)}",
            )
    elif source_raw is not None:
        source = _address(source_raw, family, f"{where}unicast_source", problems)
        if source is not None and source in peers:
            problems.add(
                f"{where}unicast_source",
                f"must not be one of unicast_peers, got {_show(source_raw)}",
            )

    if router_ads and family == 4:
        problems.add(
            f"{where}router_advertisements", "only applies to IPv6 virtual routers, got true"
        )

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
        auth_pass=auth_pass,
        use_vmac=use_vmac,
        unicast_peers=tuple(peers),
        unicast_source=source,
        unicast_ttl_check=ttl_check,
        accept_mode=accept_mode,
        router_advertisements=bool(router_ads),
        garp_interval=Fraction(garp_interval_ms or 0, 1000),
        garp_refresh=Fraction(garp_refresh_ms or 0, 1000),
        garp_delay=Fraction(garp_delay_ms or 0, 1000),
        link_local_derived=link_local_derived,
        track_interfaces=tracking[0],
        track_scripts=tracking[1],
        track_files=tracking[2],
        notify=tuple(notify or ()),
        notify_timeout=Fraction(notify_timeout or 10).limit_denominator(1000),
        before_master=tuple(before_master or ()),
        before_master_timeout=Fraction(before_master_timeout or 5).limit_denominator(1000),
        takeover_gate=tuple(takeover_gate or ()),
        gate_interval=Fraction(gate_interval or 2).limit_denominator(1000),
        gate_timeout=Fraction(gate_timeout or gate_interval or 2).limit_denominator(1000),
        gate_grace=Fraction(gate_grace if gate_grace is not None else 5).limit_denominator(1000),
        on_master=hooks[0],
        on_backup=hooks[1],
        on_fault=hooks[2],
        on_stop=hooks[3],
    )


def _link_local_first(
    vips: list[IPInterface],
    texts: list[str],
    vrid: int | None,
    where: str,
    problems: _Problems,
) -> tuple[list[IPInterface], bool]:
    """IPv6 (RFC 5798 §5.2.9): the first address advertised is the virtual router's link-local.

    One fe80::/10 address given: it moves to the front (/64 unless a prefix was written).
    None given: the modified EUI-64 address of the virtual MAC is put first. Returns the new
    list and whether the link-local address was derived.
    """
    local = [i for i, v in enumerate(vips) if v.ip in LINK_LOCAL]
    if len(local) > 1:
        shown = ", ".join(_show(texts[i]) for i in local)
        problems.add(
            f"{where}virtual_ips",
            f"at most one link-local address (the virtual router's own), got {shown}",
        )
        return vips, False
    if local:
        (i,) = local
        vip = vips[i] if "/" in texts[i] else IPv6Interface(f"{vips[i].ip}/64")
        return [vip, *vips[:i], *vips[i + 1 :]], False
    if vrid is None:
        return vips, False  # the vrid problem is already reported
    return [_derived_link_local(vrid), *vips], True  # the MTU check bounds the count


HOOK_KEYS = ("on_master", "on_backup", "on_fault", "on_stop")


def _parse_hooks(t: _Table) -> tuple[tuple[str, ...], ...]:
    """The per-state hooks of a virtual router or sync group, in HOOK_KEYS order (argv
    each; () = none)."""
    return tuple(tuple(t.get(key, (), _argv_shape) or ()) for key in HOOK_KEYS)


def _argv_shape(v: Any) -> str | None:
    ok = isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)
    if not ok:
        return "must be a non-empty list of strings (program and arguments; no shell)"
    return None if v[0].startswith("/") else "must start with an absolute program path"


_ACCOUNT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?")
_MAX_ID = 2**32 - 2  # (uid_t) -1 means "no change" to the kernel


def _user_or_id(what: str) -> Callable[[Any], str | None]:
    """A user or group: a name (a name first, like chown, then a number) or an id."""

    def check(v: Any) -> str | None:
        if isinstance(v, str) and _ACCOUNT_RE.fullmatch(v):
            return None
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _MAX_ID:
            return None
        return f"must be a {what} name or a numeric id 0..{_MAX_ID}"

    return check


def _weight(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and -254 <= v <= 254 and v != 0
    return None if ok else "must be a non-zero integer -254..254 (leave it out for FAULT)"


def _list_of_tables(v: Any) -> str | None:
    return (
        None
        if isinstance(v, list) and all(isinstance(x, dict) for x in v)
        else ("must be a list of tables")
    )


TrackingConfig = tuple[tuple[TrackInterface, ...], tuple[TrackScript, ...], tuple[TrackFile, ...]]


def _parse_tracking(t: _Table, where: str, problems: _Problems) -> TrackingConfig:
    """track_interfaces, track_scripts, track_files; names unique within the router."""
    ifaces: list[TrackInterface] = []
    scripts: list[TrackScript] = []
    files: list[TrackFile] = []
    names: set[str] = set()

    def unique(name: str | None, at: str) -> None:
        if name is None:
            return
        if name in names:
            problems.add(f"{at}name", f"duplicate tracked object name {name!r}")
        names.add(name)

    for k, raw in enumerate(t.get("track_interfaces", [], _list_of_tables) or []):
        at = f"{where}track_interfaces[{k}]."
        x = _Table(raw, at, problems)
        iface = x.get("interface", _REQUIRED, _string(IFNAME_RE, "an interface name"))
        name = x.get("name", iface, _is_name)
        weight = x.get("weight", None, _weight)
        x.finish()
        unique(name, at)
        if iface is not None and name is not None:
            ifaces.append(TrackInterface(name, iface, weight))
    for k, raw in enumerate(t.get("track_scripts", [], _list_of_tables) or []):
        at = f"{where}track_scripts[{k}]."
        x = _Table(raw, at, problems)
        name = x.get("name", _REQUIRED, _is_name)
        command = x.get("command", _REQUIRED, _argv_shape)
        interval = x.get("interval", 2, _number_range(0.1, 3600))
        timeout = x.get("timeout", None, _number_range(0.1, 3600))
        rise = x.get("rise", 1, _int_range(1, 100))
        fall = x.get("fall", 1, _int_range(1, 100))
        weight = x.get("weight", None, _weight)
        x.finish()
        unique(name, at)
        if None not in (name, command, interval, rise, fall):
            timeout = interval if timeout is None else timeout
            if timeout > interval:
                problems.add(
                    f"{at}timeout",
                    f"must not exceed interval ({_show(interval)}), got {_show(timeout)}",
                )
            scripts.append(
                TrackScript(
                    name,
                    tuple(command),
                    Fraction(interval).limit_denominator(1000),
                    Fraction(timeout).limit_denominator(1000),
                    rise,
                    fall,
                    weight,
                )
            )
    for k, raw in enumerate(t.get("track_files", [], _list_of_tables) or []):
        at = f"{where}track_files[{k}]."
        x = _Table(raw, at, problems)
        name = x.get("name", _REQUIRED, _is_name)
        path = x.get(
            "path",
            _REQUIRED,
            _absolute_path,
        )
        weight = x.get("weight", None, _weight)
        x.finish()
        unique(name, at)
        if name is not None and path is not None:
            files.append(TrackFile(name, path, weight))
    return tuple(ifaces), tuple(scripts), tuple(files)


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
        listen_raw = d.get("metrics_listen", None, _listen_check)
        metrics_names = d.get("metrics_names", DEFAULT_NAMES, _choice(*NAME_SETS))
        log_target = d.get("log_target", "auto", _choice("auto", "journal", "stderr"))
        journal = d.get(
            "journal_socket",
            DEFAULT_JOURNAL_SOCKET,
            _absolute_path,
        )
        kernel_filter = d.get("kernel_filter", True, _is_bool)
        control_group = d.get("control_group", None, _is_name)
        idle = d.get("control_idle_timeout", DEFAULT_CONTROL_IDLE_TIMEOUT, _number_range(0.1, 3600))
        script_user = d.get("script_user", None, _user_or_id("user"))
        script_group = d.get("script_group", None, _user_or_id("group"))
        if script_group is not None and script_user is None and "script_user" not in d.data:
            problems.add("daemon.script_group", "needs daemon.script_user (set both or neither)")
        d.finish()
        daemon = DaemonConfig(
            control_socket=sock or DEFAULT_CONTROL_SOCKET,
            metrics_listen=listen_raw or None,
            metrics_names=metrics_names or DEFAULT_NAMES,
            log_target=log_target or "auto",
            journal_socket=journal or DEFAULT_JOURNAL_SOCKET,
            kernel_filter=kernel_filter is not False,
            control_group=control_group,
            control_idle_timeout=float(idle or DEFAULT_CONTROL_IDLE_TIMEOUT),
            script_user=script_user,
            script_group=script_group,
        )

    groups_raw = top.get("sync_group", [], _list_of_tables)
    routers_raw = top.get(
        "virtual_router",
        _REQUIRED,
        lambda v: None if isinstance(v, list) and v else "must be one or more [[virtual_router]]",
    )
    top.finish()

    routers: list[VirtualRouterConfig] = []
    indexes: list[int] = []  # routers[n] is virtual_router[indexes[n]]
    for i, raw in enumerate(routers_raw or []):
        vr = _parse_router(raw, i, problems)
        if vr is None:
            continue
        for j, other in zip(indexes, routers, strict=True):
            if other.name == vr.name:
                problems.add(f"virtual_router[{i}].name", f"duplicate name {vr.name!r}")
            if other.key == vr.key:
                problems.add(
                    f"virtual_router[{i}].vrid",
                    f"vrid {vr.vrid} on {vr.interface} for IPv{vr.family} is already used by "
                    f"virtual_router[{j}] ({other.name!r})",
                )
        _check_shared_vips(vr, raw["virtual_ips"], i, routers, indexes, problems)
        routers.append(vr)
        indexes.append(i)

    groups = _parse_sync_groups(groups_raw or [], {r.name for r in routers}, problems)
    if problems.lines:
        raise ConfigError(problems.lines)
    return Config(daemon=daemon, virtual_routers=tuple(routers), sync_groups=groups)


def _check_shared_vips(
    vr: VirtualRouterConfig,
    texts: list[str],
    index: int,
    routers: list[VirtualRouterConfig],
    indexes: list[int],
    problems: _Problems,
) -> None:
    """No address in two virtual routers, whatever the prefix lengths: each adds its addresses
    as Master and deletes them on leaving, so on one interface a restart (or FAULT) of one
    takes the address from the other, and on two both answer for it. A link-local address
    belongs to its link: it clashes only on the same interface. Routers that already clash
    by name or by (interface, VRID, family) are not compared again: that line says enough."""
    for k, text in enumerate(texts):
        addr = ip_interface(text).ip  # vr was built from these, so they parse
        for j, other in zip(indexes, routers, strict=True):
            if other.name == vr.name or other.key == vr.key:
                continue
            if addr.is_link_local and other.interface != vr.interface:
                continue
            if any(v.ip == addr for v in other.virtual_ips):
                problems.add(
                    f"virtual_router[{index}].virtual_ips[{k}]",
                    f"is also an address of virtual_router[{j}] ({other.name!r}): "
                    f"{vr.name!r} and {other.name!r} must not share an address (each adds "
                    f"and deletes it on its own), got {_show(text)}",
                )
                break


def _parse_sync_groups(
    raws: list[Any], routers: set[str], problems: _Problems
) -> tuple[SyncGroup, ...]:
    groups: list[SyncGroup] = []
    member_of: dict[str, str] = {}
    for k, raw in enumerate(raws):
        at = f"sync_group[{k}]."
        x = _Table(raw, at, problems)
        name = x.get("name", _REQUIRED, _is_name)
        members = x.get(
            "members",
            _REQUIRED,
            lambda v: (
                None
                if isinstance(v, list) and len(v) >= 2 and all(isinstance(m, str) for m in v)
                else "must be a list of at least 2 virtual_router names"
            ),
        )
        notify = x.get("notify", (), _argv_shape)
        hooks = _parse_hooks(x)
        x.finish()
        if name is not None and any(g.name == name for g in groups):
            problems.add(f"{at}name", f"duplicate sync_group name {name!r}")
        for m in members or []:
            if m not in routers:
                problems.add(f"{at}members", f"no virtual_router named {m!r}")
            elif m in member_of:
                problems.add(f"{at}members", f"{m!r} is already in sync_group {member_of[m]!r}")
            else:
                member_of[m] = name or "?"
        if name is not None and members:
            on_master, on_backup, on_fault, on_stop = hooks
            groups.append(
                SyncGroup(
                    name,
                    tuple(members),
                    tuple(notify or ()),
                    on_master=on_master,
                    on_backup=on_backup,
                    on_fault=on_fault,
                    on_stop=on_stop,
                )
            )
    return tuple(groups)


def load(path: str | Path) -> Config:
    """Read and validate a TOML file; raise ConfigError with one line per problem. This
    includes what only the host can tell about its scripts (`vrrpd.io.scripthost`): an
    unknown script_user, a program others could change that would run as root."""
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
    except ValueError as e:  # an integer of more than 4300 digits (int's str limit)
        reason = str(e).split(";")[0]
        raise ConfigError([f"{source}: TOML value out of range: {reason}"]) from None
    config = parse(data, source)
    from .io.scripthost import problems  # the host's users, files and capabilities

    lines = problems(config, source)
    if lines:
        raise ConfigError(lines)
    return config
