"""keepalived.conf (parsed by `vrrpd.kaconf`) -> a vrrpd configuration document; pure.

`convert` returns the document (the dict vrrpd's TOML decodes to: `virtual_router`,
`sync_group`, `daemon`) and the report: one line per construct that was changed or could not
be expressed, `FILE:LINE: what: what happened (why)`. An empty report means the document does
what keepalived 2.2.7 does with the file. Nothing is dropped silently: every keyword not
handled is reported with its line.

The semantics are keepalived 2.2.7's (its man page and source), where they differ from vrrpd's
the conversion follows keepalived and reports what still differs:

- keepalived speaks VRRPv2 unless `vrrp_version 3` / `version 3` (IPv6: always 3); the
  document always says `version`.
- a positive tracking weight is added while the object is up; vrrpd's weight applies while
  it fails: base + w with weight -w. Negative weights map as they are; weight 0 (or none) is
  FAULT; `reverse` turns the sign. The base is clamped to 1..254 (255 is the address owner).
- in a sync group (without `sync_group_tracking_weight`) or at priority 255, keepalived drops
  weighted scripts and files and makes weighted interfaces FAULT-only: so does the import.
- `state MASTER` forces nothing (only the first wait is shorter); without `priority` it means
  255. `nopreempt` is cleared by keepalived with `state MASTER` or priority 255.
- `vrrp_strict`: no accept mode unless priority 255, authentication ignored, unicast refused.
- scripts run without a shell; keepalived splits the command on spaces honouring quotes.
- keepalived sends a second burst of gratuitous ARPs 5 s after becoming master
  (`garp_master_delay`): the document says `garp_delay`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from ipaddress import ip_address, ip_interface
from typing import Any

from .config import IFNAME_RE, NAME_RE, ConfigError, parse
from .kaconf import Parsed, Stmt, Where

__all__ = ["Imported", "convert", "split_command"]

# How a program name without a slash becomes a path (keepalived searches PATH); None: unknown.
Resolver = Callable[[str], "str | None"]

OWNER = 255
MAX_BASE = 254
KA_GARP_DELAY = 5  # keepalived's default garp_master_delay (seconds)
KA_GARP_REPEAT = 5
SCRIPT_DEFAULT_INTERVAL = 1  # keepalived's vrrp_script interval default (seconds)
_SHELL_TOKENS = frozenset({"|", "||", "&&", ";", "&", ">", ">>", "<", "<<", "2>", "2>&1", ">&"})
_SHELL_CHARS = re.compile(r"[|;&<>`]|\$\(")

STRICT_DIFFERS = (
    "vrrp_strict: accept mode, authentication and unicast follow it; but where keepalived "
    "in strict mode stays silent when it hears a lower-priority master, vrrpd answers with "
    "an advert and re-announces its addresses (RFC 9568)"
)

_IGNORED_GLOBAL = {
    "router_id": "identifies the host in keepalived's e-mail and SNMP; vrrpd has neither",
    "notification_email": "vrrpd sends no e-mail; use on_master/on_backup/on_fault hooks",
    "notification_email_from": "vrrpd sends no e-mail",
    "smtp_server": "vrrpd sends no e-mail",
    "smtp_connect_timeout": "vrrpd sends no e-mail",
    "smtp_helo_name": "vrrpd sends no e-mail",
    "smtp_alert": "vrrpd sends no e-mail",
    "smtp_alert_vrrp": "vrrpd sends no e-mail",
    "smtp_alert_checker": "vrrpd sends no e-mail",
}
_NO_MAIL = "vrrpd sends no e-mail; use on_master/on_backup/on_fault hooks"


@dataclass
class Imported:
    """The vrrpd document and the report (empty: complete and faithful)."""

    doc: dict[str, Any]
    report: list[str] = field(default_factory=list)

    @property
    def faithful(self) -> bool:
        return not self.report


def _num(text: str) -> Decimal | None:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _int(text: str) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return None


def _plain(d: Decimal) -> int | float:
    """A Decimal as the TOML number vrrpd reads: an int when whole."""
    return int(d) if d == d.to_integral_value() else float(d)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:  # an unbalanced quote inside: split on spaces
        return text.split()


def split_command(text: str) -> tuple[list[str], list[str]]:
    """keepalived's reading of a script line (the text after `script` / `notify_*`): the
    first word, quotes and backslashes honoured, is the command, split again the same way
    into the argument list (no shell); the other words are returned second (keepalived takes
    them as user and group for notify scripts, and ignores them after `script`)."""
    words = _split(text)
    if not words:
        return [], []
    return _split(words[0]), words[1:]


def _looks_like_shell(argv: list[str]) -> bool:
    return any(a in _SHELL_TOKENS or _SHELL_CHARS.search(a) for a in argv)


class _Names:
    """Unique vrrpd names (1-32 of A-Z a-z 0-9 _ . -) from keepalived names."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        if NAME_RE.fullmatch(wanted):
            base = wanted
        else:  # each character vrrpd does not allow becomes "_"
            base = "".join(c if NAME_RE.fullmatch(c) else "_" for c in wanted)[:32] or "vr"
        name, n = base, 1
        while name in self.used:
            n += 1
            suffix = f"-{n}"
            name = base[: 32 - len(suffix)] + suffix
        self.used.add(name)
        return name


@dataclass
class _Script:
    name: str
    where: Where
    argv: list[str] | None = None
    interval: Decimal = Decimal(SCRIPT_DEFAULT_INTERVAL)
    timeout: Decimal | None = None
    rise: int = 1
    fall: int = 1
    weight: int = 0
    reverse: bool = False
    init_fail: bool = False


@dataclass
class _File:
    name: str
    where: Where
    path: str | None = None
    weight: int = 1
    weight_given: bool = False
    reverse: bool = False


@dataclass
class _Track:
    """One tracked object of one instance, before weights are mapped."""

    kind: str  # "interface" | "script" | "file"
    name: str  # keepalived's name (interface name, script or file block name)
    where: Where
    weight: int
    reverse: bool
    weight_given: bool


@dataclass
class _Instance:
    name: str  # keepalived's
    where: Where
    stmt: Stmt
    vr: dict[str, Any] = field(default_factory=dict)
    tracks: list[_Track] = field(default_factory=list)
    priority: int = 100
    vrname: str = ""
    group: str | None = None
    notify_where: Where | None = None
    dropped: bool = False


class _Converter:
    def __init__(self, parsed: Parsed, resolve: Resolver | None) -> None:
        self.parsed = parsed
        self.resolve = resolve
        self.report: list[str] = [f"{n.where}: {n.message}" for n in parsed.notes]
        self.version = 2
        self.strict = False
        self.garp: dict[str, tuple[Decimal, Where]] = {}
        self.daemon: dict[str, Any] = {}
        self.script_security = False
        self.scripts: dict[str, _Script] = {}
        self.files: dict[str, _File] = {}
        self.instances: list[_Instance] = []
        self.groups: list[Stmt] = []
        self.names = _Names()
        self.first_script: Where | None = None

    # --- helpers ------------------------------------------------------------------------

    def say(self, where: Where | None, message: str) -> None:
        self.report.append(f"{where}: {message}" if where else message)

    def ignored(self, s: Stmt, why: str) -> None:
        self.say(s.where, f"{s.key}: ignored ({why})")

    def need_args(self, s: Stmt, n: int) -> bool:
        if len(s.args) < n:
            self.say(s.where, f"{s.key}: ignored (needs {n} argument{'s' if n > 1 else ''})")
            return False
        return True

    def int_arg(self, s: Stmt, lo: int, hi: int, before: int | None) -> int | None:
        """The statement's integer argument in lo..hi; else reported, `before` kept."""
        v = _int(s.args[0]) if s.args else None
        if v is None or not lo <= v <= hi:
            self.say(s.where, f"{s.key}: ignored (must be {lo}..{hi})")
            return before
        return v

    def block(self, s: Stmt) -> list[Stmt]:
        if s.block is None:
            self.say(s.where, f"{s.key}: ignored (needs a {{ }} block)")
            return []
        return s.block

    def command(self, text: str, where: Where, what: str) -> list[str] | None:
        """A script command as an argv vrrpd accepts (absolute program), or None."""
        if self.first_script is None:
            self.first_script = where
        argv, rest = split_command(text)
        if rest and what.endswith("script"):
            self.say(
                where,
                f"{what}: {' '.join(rest)} ignored (keepalived takes the first "
                "word only: quote the whole command)",
            )
        elif rest:
            self.say(
                where,
                f"{what}: user {' '.join(rest)} ignored (vrrpd runs every "
                "script as [daemon] script_user)",
            )
        if "" in argv:
            self.say(where, f"{what}: empty arguments dropped (vrrpd passes no empty argument)")
            argv = [x for x in argv if x]
        if not argv:
            self.say(where, f"{what}: ignored (empty command)")
            return None
        if _looks_like_shell(argv):
            self.say(
                where,
                f"{what}: {text!r} looks like shell syntax, but keepalived runs it without a "
                "shell and so does vrrpd: the words are passed as arguments as they are; "
                'for a shell write ["/bin/sh", "-c", "..."]',
            )
        if not argv[0].startswith("/"):
            found = self.resolve(argv[0]) if self.resolve else None
            if found is None or not found.startswith("/"):
                self.say(
                    where,
                    f"{what}: program {argv[0]!r} has no path and was not found on vrrpd's "
                    f"script PATH; run through /usr/bin/env (keepalived searches PATH too)",
                )
                argv = ["/usr/bin/env", *argv]
            else:
                self.say(where, f"{what}: program {argv[0]!r} resolved to {found}")
                argv = [found, *argv[1:]]
        return argv

    # --- top level ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        for s in self.parsed.stmts:
            match s.key:
                case "global_defs":
                    self.global_defs(s)
                case "vrrp_script":
                    self.vrrp_script(s)
                case "vrrp_track_file" | "track_file":
                    self.track_file_block(s)
                case "vrrp_instance":
                    if not self.need_args(s, 1):
                        continue
                    if any(i.name == s.args[0] for i in self.instances):
                        self.say(
                            s.where,
                            f"vrrp_instance {s.args[0]}: dropped (a second "
                            "instance of that name; keepalived refuses it too)",
                        )
                        continue
                    self.instances.append(_Instance(s.args[0], s.where, s))
                case "vrrp_sync_group":
                    if not self.need_args(s, 1):
                        continue
                    if any(g.args[0] == s.args[0] for g in self.groups):
                        self.say(
                            s.where,
                            f"vrrp_sync_group {s.args[0]}: dropped (a second group of that name)",
                        )
                        continue
                    self.groups.append(s)
                case "virtual_server" | "virtual_server_group" | "real_server":
                    self.ignored(s, "IPVS load balancing is not part of vrrpd")
                case "static_ipaddress" | "static_routes" | "static_rules":
                    self.ignored(
                        s,
                        "vrrpd manages only virtual addresses; configure these "
                        "with the system's network configuration",
                    )
                case "net_namespace":
                    self.ignored(
                        s,
                        "run vrrpd itself in that network namespace (ip netns exec NAME vrrpd ...)",
                    )
                case _:
                    self.ignored(s, "not a VRRP setting vrrpd has")
        member_of = self.group_members()
        self.group_tracks = {g.args[0]: self.group_tracking(g) for g in self.groups}
        routers: list[dict[str, Any]] = []
        seen_keys: dict[tuple[str, int, int], str] = {}
        seen_vips: dict[str, str] = {}
        for inst in self.instances:
            inst.group = member_of.get(inst.name)
            vr = self.instance(inst)
            if vr is None:
                inst.dropped = True
                continue
            key = (vr["interface"], vr["vrid"], ip_interface(vr["virtual_ips"][0]).version)
            if key in seen_keys:
                self.say(
                    inst.where,
                    f"vrrp_instance {inst.name}: dropped (virtual_router_id {vr['vrid']} on "
                    f"{vr['interface']} is already used by {seen_keys[key]})",
                )
                inst.dropped = True
                continue
            vips = []
            for v in vr["virtual_ips"]:
                a = _address_key(v, vr["interface"])
                if a in seen_vips:
                    self.say(
                        inst.where,
                        f"vrrp_instance {inst.name}: address {v} dropped (also in "
                        f"{seen_vips[a]}; in vrrpd an address belongs to one virtual router)",
                    )
                    continue
                vips.append(v)
            if not vips:
                self.say(inst.where, f"vrrp_instance {inst.name}: dropped (no address left)")
                inst.dropped = True
                continue
            vr["virtual_ips"] = vips
            for v in vips:
                seen_vips.setdefault(_address_key(v, vr["interface"]), inst.name)
            seen_keys[key] = inst.name
            routers.append(vr)
        groups = self.sync_groups()
        self.script_notes()
        doc: dict[str, Any] = {}
        if self.daemon:
            doc["daemon"] = self.daemon
        doc["virtual_router"] = routers
        if groups:
            doc["sync_group"] = groups
        return doc

    def script_notes(self) -> None:
        if self.first_script is None:
            return
        if "script_user" not in self.daemon:
            self.say(
                self.first_script,
                "scripts run as vrrpd's own user (keepalived's default: keepalived_script if "
                "that user exists, else root); set [daemon] script_user to choose",
            )
        if not self.script_security:
            self.say(
                self.first_script,
                "scripts: vrrpd always refuses a program others could change when it would "
                "run it as root (keepalived only with enable_script_security)",
            )

    # --- global_defs --------------------------------------------------------------------

    def global_defs(self, g: Stmt) -> None:
        for s in self.block(g):
            k = s.key
            if k in _IGNORED_GLOBAL:
                self.ignored(s, _IGNORED_GLOBAL[k])
            elif k.startswith("smtp_") or k.startswith("notification_"):
                self.ignored(s, _NO_MAIL)
            elif k == "vrrp_version":
                v = _int(s.args[0]) if s.args else None
                if v in (2, 3):
                    self.version = v
                else:
                    self.say(s.where, f"vrrp_version: ignored (must be 2 or 3, got {s.args})")
            elif k == "vrrp_strict":
                self.strict = True
                self.say(s.where, STRICT_DIFFERS)
            elif k in (
                "vrrp_garp_master_delay",
                "vrrp_garp_master_repeat",
                "vrrp_garp_master_refresh",
                "vrrp_garp_master_refresh_repeat",
                "vrrp_garp_interval",
                "vrrp_gna_interval",
                "vrrp_garp_lower_prio_delay",
                "vrrp_garp_lower_prio_repeat",
            ):
                d = _num(s.args[0]) if s.args else None
                if d is None or d < 0:
                    self.say(s.where, f"{k}: ignored (needs a number of seconds or a count)")
                else:
                    self.garp[k.removeprefix("vrrp_")] = (d, s.where)
            elif k == "vrrp_min_garp":
                on = not s.args or s.args[0].lower() in ("true", "on", "yes", "1")
                if on:
                    self.garp["garp_master_repeat"] = (Decimal(1), s.where)
                    self.garp["garp_master_delay"] = (Decimal(0), s.where)
            elif k == "script_user":
                if self.need_args(s, 1):
                    self.daemon["script_user"] = s.args[0]
                    if len(s.args) > 1:
                        self.daemon["script_group"] = s.args[1]
            elif k == "enable_script_security":
                self.script_security = True
            else:
                self.ignored(s, "no vrrpd equivalent")

    # --- vrrp_script / track_file blocks -----------------------------------------------

    def vrrp_script(self, b: Stmt) -> None:
        if not self.need_args(b, 1):
            return
        sc = _Script(b.args[0], b.where)
        for s in self.block(b):
            k = s.key
            if k == "script":
                sc.argv = self.command(s.raw, s.where, f"vrrp_script {sc.name}: script")
            elif k in ("interval", "timeout"):
                n = _int(s.args[0]) if s.args else None
                if n is None or n < 0:
                    default = "1 s" if k == "interval" else "the interval"
                    self.say(
                        s.where,
                        f"{k}: ignored (keepalived needs whole seconds and keeps {default})",
                    )
                    continue
                whole = Decimal(max(n, 1))  # keepalived: 0 means 1
                if k == "interval":
                    sc.interval = whole
                else:
                    sc.timeout = whole
            elif k in ("rise", "fall"):
                n = _int(s.args[0]) if s.args else None
                if n is None or n < 1:
                    self.say(s.where, f"{k}: ignored (needs a count >= 1; keepalived uses 1)")
                    continue
                if n > 100:
                    self.say(s.where, f"{k} {n}: vrrpd allows at most 100, emitted 100")
                    n = 100
                setattr(sc, k, n)
            elif k == "weight":
                w = _int(s.args[0]) if s.args else None
                if w is None or not -253 <= w <= 253:
                    self.say(s.where, "weight: ignored (must be -253..253)")
                    continue
                sc.weight = w
                sc.reverse = len(s.args) > 1 and s.args[1] == "reverse"
            elif k == "init_fail":
                sc.init_fail = True
            elif k == "user":
                self.ignored(
                    s,
                    "vrrpd runs every script as [daemon] script_user; a per-script user is "
                    "not available",
                )
            else:
                self.ignored(s, "not a vrrp_script setting vrrpd has")
        if sc.argv is None:
            self.say(b.where, f"vrrp_script {sc.name}: no script given; keepalived ignores it")
            return
        self.scripts[sc.name] = sc

    def track_file_block(self, b: Stmt) -> None:
        if not self.need_args(b, 1):
            return
        f = _File(b.args[0], b.where)
        for s in self.block(b):
            if s.key == "file" and s.args:
                f.path = s.args[0]
            elif s.key == "weight":
                w = _int(s.args[0]) if s.args else None
                if w is None:
                    self.say(s.where, "weight: ignored (needs an integer)")
                    continue
                f.weight, f.weight_given = w, True
                f.reverse = len(s.args) > 1 and s.args[1] == "reverse"
            elif s.key == "init_file":
                self.ignored(
                    s,
                    "vrrpd does not create or initialise the file; create it before vrrpd starts",
                )
            else:
                self.ignored(s, "not a track_file setting vrrpd has")
        if f.path is None or not f.path.startswith("/"):
            self.say(b.where, f"{b.key} {f.name}: no absolute file path given; ignored")
            return
        self.files[f.name] = f

    # --- vrrp_instance ------------------------------------------------------------------

    def instance(self, inst: _Instance) -> dict[str, Any] | None:
        name = inst.name
        where = inst.where
        strict: bool | None = None
        state: tuple[str, Where] | None = None
        interface: str | None = None
        vrid: int | None = None
        priority: int | None = None
        advert: tuple[Decimal, Where] | None = None
        version: tuple[int, Where] | None = None
        nopreempt: Where | None = None
        preempt_delay: tuple[Decimal, Where] | None = None
        accept: tuple[bool, Where] | None = None
        auth: dict[str, tuple[str, Where]] = {}
        vips: list[tuple[str, Where]] = []
        evips: list[tuple[str, Where]] = []
        peers: list[str] = []
        peer_stmt: Stmt | None = None
        src: tuple[str, Where] | None = None
        use_vmac = False
        garp = dict(self.garp)
        hooks: dict[str, tuple[list[str], Where]] = {}
        for s in self.block(inst.stmt):
            k = s.key
            a = s.args
            if k == "state":
                if a and a[0] in ("MASTER", "BACKUP"):
                    state = (a[0], s.where)
                else:
                    self.say(s.where, "state: ignored (must be MASTER or BACKUP)")
            elif k == "interface":
                if self.need_args(s, 1):
                    interface = a[0]
            elif k == "virtual_router_id":
                vrid = self.int_arg(s, 1, 255, vrid)
            elif k == "priority":
                priority = self.int_arg(s, 1, 255, priority)
            elif k == "advert_int":
                d = _num(a[0]) if a else None
                if d is None or d <= 0:
                    self.say(s.where, "advert_int: ignored (must be > 0 seconds)")
                else:
                    advert = (d, s.where)
            elif k == "version":
                v = _int(a[0]) if a else None
                if v not in (2, 3):
                    self.say(s.where, "version: ignored (must be 2 or 3)")
                else:
                    version = (v, s.where)
            elif k == "nopreempt":
                nopreempt = s.where
            elif k == "preempt":
                nopreempt = None
            elif k == "preempt_delay":
                d = _num(a[0]) if a else None
                if d is None or not 0 <= d <= 1000:
                    self.say(s.where, "preempt_delay: ignored (must be 0..1000 seconds)")
                else:
                    preempt_delay = (d, s.where)
            elif k == "accept":
                accept = (True, s.where)
            elif k == "no_accept":
                accept = (False, s.where)
            elif k == "strict_mode":
                strict = not a or a[0].lower() in ("on", "true", "yes", "1")
                if strict:
                    self.say(s.where, STRICT_DIFFERS)
            elif k == "authentication":
                for t in self.block(s):
                    if t.key in ("auth_type", "auth_pass") and t.args:
                        auth[t.key] = (t.args[0], t.where)
                    else:
                        self.ignored(t, "not an authentication setting")
            elif k in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                target = vips if k == "virtual_ipaddress" else evips
                for t in self.block(s):
                    got = self.vip(t, interface, name)
                    target.extend((g, t.where) for g in got)
            elif k == "unicast_src_ip":
                if self.need_args(s, 1):
                    src = (a[0], s.where)
            elif k == "mcast_src_ip":
                self.ignored(
                    s,
                    "vrrpd sends multicast adverts from the interface's primary address",
                )
            elif k == "unicast_peer":
                peer_stmt = s
                for t in self.block(s):
                    peers.append(t.key)
                    if t.args:
                        self.say(
                            t.where,
                            f"unicast_peer {t.key}: {' '.join(t.args)} ignored (vrrpd checks "
                            "TTL 255, or nothing with unicast_ttl_check = false)",
                        )
            elif k == "use_vmac":
                use_vmac = True
                if a:
                    self.say(
                        s.where,
                        f"use_vmac {' '.join(a)}: the name/MAC are not used (vrrpd names the "
                        "macvlan vr4.VRID.IFINDEX and uses the RFC 5798 virtual MAC)",
                    )
            elif k == "vmac_xmit_base":
                self.ignored(s, "vrrpd sends adverts from the macvlan with the virtual MAC")
            elif k in ("track_interface", "track_script", "track_file"):
                for t in self.block(s):
                    track = self.track_entry(k, t)
                    if track is not None:
                        inst.tracks.append(track)
            elif k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
                argv = self.notify_stmt(s)
                if argv is not None:
                    hooks[k] = (argv, s.where)
            elif k in (
                "garp_master_delay",
                "garp_master_repeat",
                "garp_master_refresh",
                "garp_master_refresh_repeat",
                "garp_lower_prio_delay",
                "garp_lower_prio_repeat",
            ):
                d = _num(a[0]) if a else None
                if d is None or d < 0:
                    self.say(s.where, f"{k}: ignored (needs a number)")
                else:
                    garp[k] = (d, s.where)
            elif k in ("smtp_alert",):
                self.ignored(s, _NO_MAIL)
            elif k == "dont_track_primary":
                self.ignored(s, "vrrpd always goes to FAULT when its interface is down")
            elif k == "native_ipv6":
                pass  # the addresses decide, in keepalived too
            elif k in ("virtual_routes", "virtual_rules"):
                self.ignored(
                    s,
                    "vrrpd manages addresses only; add routes/rules from on_master/on_backup hooks",
                )
            elif k in ("track_process", "track_bfd"):
                self.ignored(
                    s,
                    "vrrpd tracks interfaces, scripts and files only; use a "
                    "vrrp_script that checks it",
                )
            elif k == "unicast_ttl":
                self.ignored(s, "vrrpd sends unicast adverts with TTL 255")
            elif k == "notify_master_rx_lower_pri":
                self.ignored(
                    s,
                    "no hook for it in vrrpd; vrrpd answers a lower-priority master and "
                    "re-announces its addresses itself",
                )
            else:
                self.ignored(s, "no vrrpd equivalent")

        if strict is None:
            strict = self.strict
        if interface is None:
            self.say(where, f"vrrp_instance {name}: dropped (no interface; vrrpd needs one)")
            return None
        if not IFNAME_RE.fullmatch(interface):
            self.say(
                where,
                f"vrrp_instance {name}: dropped (interface {interface!r} is not an "
                "interface name vrrpd accepts)",
            )
            return None
        if vrid is None:
            self.say(where, f"vrrp_instance {name}: dropped (no virtual_router_id)")
            return None
        if not vips:
            self.say(
                where,
                f"vrrp_instance {name}: dropped (no virtual_ipaddress; vrrpd needs at least one)",
            )
            return None
        family = ip_interface(vips[0][0]).version
        same = [(x, w) for x, w in vips if ip_interface(x).version == family]
        for x, w in vips:
            if ip_interface(x).version != family:
                self.say(
                    w,
                    f"virtual_ipaddress {x}: dropped (all virtual_ipaddress entries must be "
                    f"IPv{family}, in keepalived too)",
                )
        vips = same
        if peers and strict:
            self.say(
                peer_stmt.where if peer_stmt else where,
                f"vrrp_instance {name}: dropped (vrrp_strict refuses unicast_peer: keepalived "
                "does not start with this configuration)",
            )
            return None

        # version
        if version is not None:
            ver = version[0]
        elif family == 6:
            ver = 3
        else:
            ver = self.version
        if family == 6 and ver == 2:
            self.say(version[1] if version else where, "version 2: IPv6 needs VRRPv3; emitted 3")
            ver = 3

        # priority and state
        if priority is None:
            priority = OWNER if state and state[0] == "MASTER" else 100
            if priority == OWNER:
                self.say(
                    state[1] if state else where,
                    "state MASTER without priority: keepalived makes it the address owner; "
                    "emitted priority 255",
                )
        if state and state[0] == "MASTER":
            if strict and priority != OWNER:
                self.say(
                    state[1],
                    "state MASTER: vrrp_strict allows it only at priority 255; keepalived "
                    "starts as BACKUP (not emitted: the election decides)",
                )
            elif priority != OWNER:
                self.say(
                    state[1],
                    "state MASTER: not emitted (the election decides; keepalived only waits "
                    "one advert interval instead of Master_Down_Interval before its first "
                    "claim)",
                )
        inst.priority = priority

        # preemption
        preempt = True
        if nopreempt is not None:
            if priority == OWNER:
                self.say(nopreempt, "nopreempt: keepalived clears it at priority 255; preempt")
            elif state and state[0] == "MASTER":
                self.say(
                    nopreempt,
                    "nopreempt: keepalived clears it with state MASTER (it needs state BACKUP); "
                    "emitted preempt = true",
                )
            else:
                preempt = False
        delay: Decimal | None = None
        if preempt_delay is not None and preempt_delay[0] > 0:
            pd, pw = preempt_delay
            if state and state[0] == "MASTER":
                self.say(pw, "preempt_delay: keepalived clears it with state MASTER; dropped")
            elif not preempt:
                self.say(pw, "preempt_delay: keepalived clears it with nopreempt; dropped")
            elif strict:
                self.say(pw, "preempt_delay: vrrp_strict clears it in keepalived; dropped")
            else:
                delay = pd

        # advert interval
        interval = advert[0] if advert else Decimal(1)
        if ver == 2:
            whole = max(interval.quantize(Decimal(1), rounding=ROUND_HALF_UP), Decimal(1))
            whole = min(whole, Decimal(255))
            if whole != interval and advert:
                self.say(
                    advert[1],
                    f"advert_int {advert[0]}: VRRPv2 counts whole seconds; emitted {whole} "
                    "(keepalived rounds the same way)",
                )
            interval = whole
        else:
            cs = interval.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            cs = min(max(cs, Decimal("0.01")), Decimal("40.95"))
            if cs != interval and advert:
                self.say(
                    advert[1],
                    f"advert_int {advert[0]}: VRRPv3 counts centiseconds up to 40.95; "
                    f"emitted {cs} (keepalived rounds the same way)",
                )
            interval = cs

        # accept mode
        if accept is None:
            acc = priority == OWNER or not strict
        else:
            acc = accept[0]
            if acc and strict and ver == 2 and priority != OWNER:
                self.say(
                    accept[1],
                    "accept: keepalived resets it for VRRPv2 in vrrp_strict; emitted "
                    "accept_mode = false",
                )
                acc = False

        # authentication
        auth_pass: str | None = None
        if auth:
            atype, aw = auth.get("auth_type", ("", inst.where))
            apass = auth.get("auth_pass")
            if not atype:
                aw = apass[1] if apass else aw
                self.say(
                    aw,
                    "authentication: ignored (no auth_type; keepalived then authenticates nothing)",
                )
            elif atype == "AH":
                self.say(
                    aw,
                    "auth_type AH: not supported (vrrpd has no IPsec AH authentication; "
                    "adverts go without it, so AH peers will not accept them)",
                )
            elif atype != "PASS":
                self.say(aw, f"auth_type {atype}: ignored (keepalived knows PASS and AH)")
            elif strict:
                self.say(aw, "authentication: ignored (vrrp_strict ignores it in keepalived)")
            elif ver == 3:
                self.say(aw, "authentication: ignored (keepalived ignores it for VRRPv3)")
            elif apass is None or not apass[0]:
                self.say(aw, "authentication: ignored (no auth_pass; keepalived ignores it)")
            else:
                text = apass[0]
                if len(text) > 8:
                    self.say(
                        apass[1], "auth_pass: only the first 8 characters count, as in keepalived"
                    )
                    text = text[:8]
                if all(" " <= c <= "~" for c in text):
                    auth_pass = text
                else:
                    self.say(apass[1], "auth_pass: dropped (vrrpd needs printable ASCII)")

        # excluded addresses
        if evips:
            keep = [(x, w) for x, w in evips if ip_interface(x).version == family]
            for x, w in evips:
                if ip_interface(x).version != family:
                    self.say(
                        w,
                        f"virtual_ipaddress_excluded {x}: dropped (a vrrpd virtual router "
                        f"holds addresses of one family; add an IPv{6 if family == 4 else 4} "
                        "virtual router for it)",
                    )
            if keep:
                self.say(
                    keep[0][1],
                    "virtual_ipaddress_excluded: added to virtual_ips, so vrrpd advertises "
                    "them (keepalived does not); a keepalived 2.2.7 peer compares the list "
                    "and drops adverts that differ: while one node still runs keepalived, "
                    "list them in its virtual_ipaddress too",
                )
            vips = vips + keep
        seen: set[str] = set()
        unique: list[str] = []
        for x, w in vips:
            ip = str(ip_interface(x).ip)
            if ip in seen:
                self.say(w, f"{x}: listed twice; emitted once")
                continue
            seen.add(ip)
            unique.append(x)
        local = [x for x in unique if family == 6 and ip_interface(x).ip.is_link_local]
        for x in local[1:]:
            self.say(
                where,
                f"vrrp_instance {name}: {x} dropped (an IPv6 virtual router has one "
                f"link-local address, its own; kept {local[0]})",
            )
            unique.remove(x)
        if len(unique) > 255:
            self.say(where, f"vrrp_instance {name}: more than 255 addresses; the rest dropped")
            unique = unique[:255]
        if family == 6 and ver == 3 and not any(ip_interface(v).ip.is_link_local for v in unique):
            self.say(
                vips[0][1],
                "virtual_ipaddress: no link-local address; vrrpd advertises "
                f"fe80::200:5eff:fe00:2{vrid:02x} first (RFC 5798 5.2.9), keepalived does "
                "not: list the same link-local address first on a keepalived peer",
            )

        # the router
        inst.vrname = self.names.take(name)
        if inst.vrname != name:
            self.say(
                where,
                f"vrrp_instance {name}: named {inst.vrname!r} (vrrpd names are 1-32 of "
                "A-Z a-z 0-9 _ . -, unique)",
            )
        vr: dict[str, Any] = {
            "name": inst.vrname,
            "interface": interface,
            "vrid": vrid,
            "priority": priority,
            "version": ver,
            "advert_interval": _plain(interval),
            "preempt": preempt,
        }
        if delay is not None:
            vr["preempt_delay"] = _plain(delay)
        vr["virtual_ips"] = unique
        vr["accept_mode"] = acc
        if use_vmac:
            vr["use_vmac"] = True
        if auth_pass is not None:
            vr["auth_pass"] = auth_pass
        if peers:
            good = []
            for p in peers:
                try:
                    addr = ip_address(p)
                except ValueError:
                    self.say(
                        peer_stmt.where if peer_stmt else where,
                        f"unicast_peer {p}: dropped (not an address)",
                    )
                    continue
                if addr.version != family:
                    self.say(
                        peer_stmt.where if peer_stmt else where,
                        f"unicast_peer {p}: dropped (not IPv{family})",
                    )
                    continue
                if str(addr) in good:
                    self.say(
                        peer_stmt.where if peer_stmt else where,
                        f"unicast_peer {p}: listed twice; emitted once",
                    )
                    continue
                good.append(str(addr))
            source = self.unicast_source(src, family)
            if source is not None and source in good:
                self.say(
                    src[1] if src else where,
                    f"unicast_peer {source}: dropped (it is unicast_src_ip, this router itself)",
                )
                good.remove(source)
            if good:
                vr["unicast_peers"] = good
                if source is not None:
                    vr["unicast_source"] = source
            else:
                self.say(
                    peer_stmt.where if peer_stmt else where,
                    "unicast_peer: empty; keepalived 2.2.7 falls back to multicast, so does "
                    "this output",
                )
        elif src is not None:
            self.say(
                src[1],
                "unicast_src_ip: ignored without unicast_peer (multicast adverts "
                "come from the interface's primary address)",
            )
        self.garp_keys(vr, garp, family, strict, len(unique))
        self.tracking(inst, vr)
        self.hooks(inst, vr, hooks)
        return vr

    def unicast_source(self, src: tuple[str, Where] | None, family: int) -> str | None:
        if src is None:
            return None
        try:
            addr = ip_address(src[0])
        except ValueError:
            self.say(src[1], f"unicast_src_ip {src[0]}: dropped (not an address)")
            return None
        if addr.version != family:
            self.say(src[1], f"unicast_src_ip {src[0]}: dropped (not IPv{family})")
            return None
        return str(addr)

    def vip(self, t: Stmt, interface: str | None, name: str) -> list[str]:
        words = [t.key, *t.args]
        text = words[0]
        addrs = self.expand_range(text)
        if addrs is None:
            self.say(t.where, f"{text}: dropped (not an address with optional /prefix)")
            return []
        i = 1
        while i < len(words):
            opt = words[i]
            val = words[i + 1] if i + 1 < len(words) else None
            if opt == "dev" and val is not None:
                if val != interface:
                    self.say(
                        t.where,
                        f"{text} dev {val}: vrrpd adds its addresses on the router's "
                        f"interface ({interface}) or its macvlan, not on {val}",
                    )
                i += 2
            elif opt == "label" and val is not None:
                self.say(
                    t.where, f"{text} label {val}: ignored (vrrpd adds addresses without a label)"
                )
                i += 2
            elif opt in ("brd", "scope", "peer", "preferred_lft", "track_group") and val:
                self.say(
                    t.where,
                    f"{text} {opt} {val}: ignored (vrrpd adds addresses "
                    "with the kernel's defaults)",
                )
                i += 2
            else:
                self.say(
                    t.where,
                    f"{text} {opt}: ignored (vrrpd adds addresses with the kernel's defaults)",
                )
                i += 1
        return addrs

    def expand_range(self, text: str) -> list[str] | None:
        """`192.0.2.10-12/24` (keepalived's range of the last part) -> the addresses."""
        addr, slash, prefix = text.partition("/")
        suffix = f"/{prefix}" if slash else ""
        m = re.fullmatch(r"(.*[.:])([0-9A-Fa-f]+)-([0-9A-Fa-f]+)", addr)
        texts = [addr]
        if m:
            head, lo, hi = m.groups()
            hexa = ":" in head
            a, b = int(lo, 16 if hexa else 10), int(hi, 16 if hexa else 10)
            if b < a:
                return None
            texts = [f"{head}{(format(n, 'x') if hexa else n)}" for n in range(a, b + 1)]
        out = []
        for x in texts:
            try:
                ip_interface(x + suffix)
            except ValueError:
                return None
            out.append(x + suffix)
        return out

    def track_entry(self, block: str, t: Stmt) -> _Track | None:
        """One line of a track_interface / track_script / track_file block."""
        if block == "track_interface":
            w, rev, given = self.weight_words(t, t.args, 0)
            return _Track("interface", t.key, t.where, w, rev, given)
        kind = "script" if block == "track_script" else "file"
        found: _Script | _File | None = (self.scripts if kind == "script" else self.files).get(
            t.key
        )
        if found is None:
            what = "vrrp_script" if kind == "script" else "track_file block"
            self.say(
                t.where,
                f"{block} {t.key}: dropped (no usable {what} of that name; keepalived ignores "
                "it too)",
            )
            return None
        w, rev, given = self.weight_words(t, t.args, found.weight, found.reverse)
        file_given = isinstance(found, _File) and found.weight_given
        return _Track(kind, t.key, t.where, w, rev, given or file_given)

    def weight_words(
        self, t: Stmt, args: list[str], default: int, default_reverse: bool = False
    ) -> tuple[int, bool, bool]:
        """`[weight W [reverse|noreverse|no_reverse]]` -> (weight, reverse, given)."""
        if not args:
            return default, default_reverse, False
        if args[0] == "weight" and len(args) >= 2:
            w = _int(args[1])
            if w is None or not -254 <= w <= 254:
                self.say(t.where, f"{t.key} weight {args[1]}: ignored (must be -254..254)")
                return default, default_reverse, False
            rev = False
            if len(args) >= 3:
                if args[2] == "reverse":
                    rev = True
                elif args[2] not in ("noreverse", "no_reverse"):
                    self.say(t.where, f"{t.key}: {args[2]} ignored")
            return w, rev, True
        self.say(t.where, f"{t.key} {' '.join(args)}: ignored (expected weight N [reverse])")
        return default, default_reverse, False

    def garp_keys(
        self,
        vr: dict[str, Any],
        garp: dict[str, tuple[Decimal, Where]],
        family: int,
        strict: bool,
        vip_count: int,
    ) -> None:
        repeat = garp.get("garp_master_repeat")
        delay = garp.get("garp_master_delay")
        refresh = garp.get("garp_master_refresh")
        refresh_rep = garp.get("garp_master_refresh_repeat")
        gap = garp.get("gna_interval" if family == 6 else "garp_interval")
        n = int(repeat[0]) if repeat else KA_GARP_REPEAT
        if n > 100:
            self.say(repeat[1] if repeat else None, f"garp repeat {n}: vrrpd allows 0..100; 100")
            n = 100
        vr["garp_repeat"] = n
        d = delay[0] if delay else Decimal(KA_GARP_DELAY)
        if d > 3600:
            self.say(delay[1] if delay else None, "garp_master_delay: more than 3600 s; 3600")
            d = Decimal(3600)
        vr["garp_delay"] = _plain(d.quantize(Decimal("0.001")).normalize())
        if refresh and refresh[0] > 0:
            r = min(max(refresh[0], Decimal(1)), Decimal(86400))
            vr["garp_refresh"] = _plain(r)
            if refresh_rep and refresh_rep[0] != 1:
                self.say(
                    refresh_rep[1],
                    "garp_master_refresh_repeat: vrrpd re-announces each address once per refresh",
                )
        if gap and gap[0] > 0:
            g = min(gap[0], Decimal(10)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
            g = max(g, Decimal("0.001"))
            vr["garp_interval"] = _plain(g.normalize())
            msg = "vrrpd waits it between rounds of announcements, keepalived between messages"
            if g != gap[0]:
                msg += f"; rounded to {g.normalize()} s (vrrpd counts milliseconds up to 10 s)"
            self.say(gap[1], f"{'gna' if family == 6 else 'garp'}_interval: {msg}")
        for key in ("garp_lower_prio_delay", "garp_lower_prio_repeat"):
            if key in garp:
                self.say(
                    garp[key][1],
                    f"{key}: ignored (vrrpd re-announces at once, garp_repeat times, when it "
                    "hears a lower-priority master)",
                )

    # --- tracking -----------------------------------------------------------------------

    def tracking(self, inst: _Instance, vr: dict[str, Any]) -> None:
        """Map keepalived's tracked objects of `inst` onto vrrpd's, with the base priority."""
        base = inst.priority
        owner = base == OWNER
        in_group = inst.group is not None and not self.group_weights.get(inst.group, False)
        why = "in a sync group" if in_group else "at priority 255"
        kept: list[_Track] = []
        for t in inst.tracks:
            if t.kind == "file":
                if (owner or in_group) and t.weight != 0:
                    if t.weight == 1:  # keepalived: the default weight becomes 0
                        self.say(
                            t.where,
                            f"track_file {t.name}: keepalived drops the weight "
                            f"{why}; unweighted (FAULT while non-zero)",
                        )
                        t.weight = 0
                    else:
                        self.say(
                            t.where,
                            f"track_file {t.name}: dropped (keepalived ignores "
                            f"a weighted track_file {why})",
                        )
                        continue
            elif t.weight != 0 and (owner or in_group):
                if t.kind == "interface" and in_group:
                    self.say(
                        t.where,
                        f"track_interface {t.name}: keepalived ignores the "
                        f"weight {why}; unweighted (FAULT while down)",
                    )
                    t.weight = 0
                else:
                    self.say(
                        t.where,
                        f"track_{t.kind} {t.name}: dropped (keepalived "
                        f"ignores a weighted tracked {t.kind} {why})",
                    )
                    continue
            kept.append(t)
        if inst.group is not None:
            have = {(t.kind, t.name) for t in kept}
            group_owner = self.group_owner.get(inst.group, False)
            for t in self.group_tracks.get(inst.group, []):
                if (t.kind, t.name) in have:
                    continue
                if group_owner and t.weight != 0:
                    self.say(
                        t.where,
                        f"{t.name}: keepalived clears the group's weight (a "
                        "member has priority 255); unweighted",
                    )
                    t = _Track(t.kind, t.name, t.where, 0, t.reverse, t.weight_given)
                kept.append(t)
        shift = 0
        ifaces: list[dict[str, Any]] = []
        scripts: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        names = _Names()
        for t in kept:
            entry: dict[str, Any] = {"name": names.take(t.name)}
            sign = -1 if t.reverse else 1
            if t.kind == "file":
                tf = self.files[t.name]
                entry["path"] = tf.path
                if t.weight != 0:
                    w = t.weight * sign
                    if not -254 <= w <= 254:
                        clamped = max(-254, min(254, w))
                        self.say(
                            t.where,
                            f"track_file {t.name}: weight {w} emitted as "
                            f"{clamped} (vrrpd allows -254..254)",
                        )
                        w = clamped
                    entry["weight"] = w
                elif t.reverse:
                    self.say(
                        t.where,
                        f"track_file {t.name}: weight 0 reverse (FAULT while "
                        "zero) has no vrrpd equivalent; FAULT while non-zero",
                    )
                files.append(entry)
                continue
            if t.kind == "interface" and not IFNAME_RE.fullmatch(t.name):
                self.say(t.where, f"track_interface {t.name}: dropped (not an interface name)")
                continue
            if t.weight == 0:
                if t.reverse:
                    self.say(
                        t.where,
                        f"track_{t.kind} {t.name}: dropped (weight 0 reverse, "
                        "FAULT while up, has no vrrpd equivalent)",
                    )
                    continue
            elif t.weight > 0:
                shift += sign * t.weight
                entry["weight"] = -sign * t.weight
            else:
                entry["weight"] = sign * t.weight
            if t.kind == "interface":
                entry["interface"] = t.name
                ifaces.append(entry)
            else:
                sc = self.scripts[t.name]
                entry["command"] = sc.argv
                interval = sc.interval
                timeout = sc.timeout if sc.timeout is not None else interval
                if timeout > interval:
                    self.say(
                        t.where,
                        f"track_script {t.name}: timeout {timeout} s is longer "
                        f"than interval {interval} s; vrrpd needs timeout <= interval, "
                        f"emitted {interval}",
                    )
                    timeout = interval
                entry["interval"] = _plain(min(interval, Decimal(3600)))
                entry["timeout"] = _plain(min(timeout, Decimal(3600)))
                entry["rise"] = sc.rise
                entry["fall"] = sc.fall
                self.initial_state_note(t, sc)
                scripts.append(entry)
        if shift:
            total = base + shift
            clamped = min(max(total, 1), MAX_BASE)
            if clamped != total:
                self.say(
                    inst.where,
                    f"vrrp_instance {inst.name}: priority {base} with every weighted object "
                    f"up is {total}, clamped to {clamped} (255 would be the address owner); "
                    "a failing object now lowers it from "
                    f"{clamped}, so effective priorities differ from keepalived's by up to "
                    f"{abs(total - clamped)}",
                )
            vr["priority"] = clamped
        if ifaces:
            vr["track_interfaces"] = ifaces
        if scripts:
            vr["track_scripts"] = scripts
        if files:
            vr["track_files"] = files

    def initial_state_note(self, t: _Track, sc: _Script) -> None:
        """keepalived's script state before its first result against vrrpd's: no verdict
        yet applies no weight (so the base, which holds the up-term of a positive weight,
        counts as up) and holds FAULT for an unweighted script."""
        if t.weight == 0:
            if sc.init_fail and sc.rise > 1:
                self.say(
                    t.where,
                    f"track_script {t.name}: init_fail with rise {sc.rise}: "
                    "keepalived leaves FAULT after rise successes, vrrpd after the "
                    "first one",
                )
            return
        term = t.weight * (-1 if t.reverse else 1)
        up = term if t.weight > 0 else 0
        down = term if t.weight < 0 else 0
        if sc.init_fail and up != down:
            self.say(
                t.where,
                f"track_script {t.name}: init_fail: until its first result "
                f"keepalived counts it failed ({down:+d}), vrrpd as up ({up:+d})",
            )
        elif not sc.init_fail and up != 0:
            self.say(
                t.where,
                f"track_script {t.name}: until its first result keepalived "
                f"counts it neither way (+0), vrrpd as up ({up:+d})",
            )

    # --- notify -------------------------------------------------------------------------

    def notify_stmt(self, s: Stmt) -> list[str] | None:
        if not s.args:
            self.say(s.where, f"{s.key}: ignored (no script)")
            return None
        return self.command(s.raw, s.where, s.key)

    def hooks(
        self,
        inst: _Instance,
        out: dict[str, Any],
        hooks: dict[str, tuple[list[str], Where]],
        kind: str = "INSTANCE",
    ) -> None:
        for k, key in (
            ("notify_master", "on_master"),
            ("notify_backup", "on_backup"),
            ("notify_fault", "on_fault"),
            ("notify_stop", "on_stop"),
        ):
            if k in hooks:
                out[key] = hooks[k][0]
        if "notify" in hooks:
            argv, w = hooks["notify"]
            out["notify"] = argv
            if any(k in hooks for k in ("notify_master", "notify_backup", "notify_fault")):
                self.say(
                    w, "notify: vrrpd runs it before the per-state script, keepalived after it"
                )
            if kind == "INSTANCE":
                if out["name"] != inst.name:
                    self.say(
                        w, f"notify: the name argument is {out['name']} (keepalived: {inst.name})"
                    )
                if "notify_stop" in hooks:
                    self.say(
                        w,
                        "notify: keepalived also runs it with STOP when stopping; "
                        "vrrpd runs only notify_stop's on_stop then",
                    )
                else:
                    out["on_stop"] = [
                        *argv,
                        "INSTANCE",
                        inst.name,  # keepalived's name, as keepalived passes it
                        "STOP",
                        str(out.get("priority", inst.priority)),
                    ]
                    self.say(
                        w,
                        "notify: keepalived also runs it with STOP when stopping: "
                        "emitted as on_stop with those arguments (a fixed priority: "
                        "keepalived's with every tracked object up)",
                    )

    # --- sync groups --------------------------------------------------------------------

    def group_members(self) -> dict[str, str]:
        """instance name -> group name; reads the groups' tracking weights setting."""
        names = {i.name for i in self.instances}
        member_of: dict[str, str] = {}
        self.group_weights: dict[str, bool] = {}
        self.group_owner: dict[str, bool] = {}
        prio = {i.name: _declared_priority(i.stmt) for i in self.instances}
        for g in self.groups:
            gname = g.args[0]
            self.group_weights[gname] = any(
                s.key == "sync_group_tracking_weight" for s in g.block or []
            )
            for s in g.block or []:
                if s.key != "group":
                    continue
                for m in self.block(s):
                    if m.key not in names:
                        self.say(
                            m.where,
                            f"group {gname}: {m.key}: dropped (no vrrp_instance "
                            "of that name; keepalived ignores it too)",
                        )
                    elif m.key in member_of:
                        self.say(
                            m.where,
                            f"group {gname}: {m.key}: dropped (already in sync "
                            f"group {member_of[m.key]}; keepalived ignores it too)",
                        )
                    else:
                        member_of[m.key] = gname
                        if prio[m.key] == OWNER:
                            self.group_owner[gname] = True
        return member_of

    def sync_groups(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        by_name = {i.name: i for i in self.instances}
        gnames = _Names()
        for g in self.groups:
            gname = g.args[0]
            members = [i for i in self.instances if i.group == gname and not i.dropped]
            hooks: dict[str, tuple[list[str], Where]] = {}
            for s in g.block or []:
                k = s.key
                if k in (
                    "group",
                    "track_interface",
                    "track_script",
                    "track_file",
                    "sync_group_tracking_weight",
                ):
                    continue
                if k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
                    got = self.notify_stmt(s)
                    if got is not None:
                        hooks[k] = (got, s.where)
                elif k in ("smtp_alert",):
                    self.ignored(s, _NO_MAIL)
                elif k == "global_tracking":
                    self.ignored(s, "deprecated in keepalived; put tracking on the group")
                else:
                    self.ignored(s, "no vrrpd equivalent")
            if len(members) < 2:
                self.say(
                    g.where,
                    f"vrrp_sync_group {gname}: dropped ({len(members)} member(s); a vrrpd "
                    "sync group needs 2)"
                    + ("; its notify scripts are not emitted" if hooks else ""),
                )
                continue
            group: dict[str, Any] = {
                "name": gnames.take(gname),
                "members": [by_name[m.name].vrname for m in members],
            }
            if group["name"] != gname:
                self.say(g.where, f"vrrp_sync_group {gname}: named {group['name']!r}")
            self.hooks(members[0], group, hooks, kind="GROUP")
            if "notify" in hooks:
                self.say(
                    hooks["notify"][1],
                    "notify: vrrpd passes GROUP name STATE; keepalived adds a fourth argument, 0",
                )
            out.append(group)
        return out

    def group_tracking(self, g: Stmt) -> list[_Track]:
        """A group's track_* blocks: they apply to every member (with the group's weights)."""
        extra: list[_Track] = []
        for s in g.block or []:
            if s.key not in ("track_interface", "track_script", "track_file"):
                continue
            for t in self.block(s):
                got = self.track_entry(s.key, t)
                if got is not None:
                    extra.append(got)
        if extra:
            self.say(
                extra[0].where,
                f"vrrp_sync_group {g.args[0]}: its tracked objects are added to each member "
                "(vrrpd tracks per virtual router; a FAULT spreads through the group)",
            )
        return extra


def _address_key(text: str, interface: str) -> str:
    """What two virtual routers must not share: an address, a link-local one per interface."""
    ip = ip_interface(text).ip
    return f"{ip}%{interface}" if ip.is_link_local else str(ip)


def _declared_priority(stmt: Stmt) -> int:
    """An instance's base priority as keepalived derives it (priority, else state)."""
    prio: int | None = None
    master = False
    for s in stmt.block or []:
        if s.key == "priority" and s.args:
            v = _int(s.args[0])
            prio = v if v is not None and 1 <= v <= 255 else prio
        elif s.key == "state" and s.args:
            master = s.args[0] == "MASTER"
    if prio is None:
        return OWNER if master else 100
    return prio


def convert(parsed: Parsed, resolve: Resolver | None = None) -> Imported:
    """keepalived's parsed configuration -> the vrrpd document and the report.

    The document passes vrrpd's own validation (`vrrpd.config.parse`): should a virtual router
    still fail it, it is left out and the problem reported."""
    c = _Converter(parsed, resolve)
    doc = c.run()
    _validate(doc, c.report)
    return Imported(doc, _in_file_order(c.report))


def _in_file_order(report: list[str]) -> list[str]:
    """Report lines by file (in order of first mention) and line; others last, in order."""
    files: dict[str, int] = {}
    keyed = []
    for n, line in enumerate(report):
        m = re.match(r"(.+?):(\d+): ", line)
        if m is None:
            keyed.append(((1 << 30, 0, n), line))
            continue
        order = files.setdefault(m.group(1), len(files))
        keyed.append(((order, int(m.group(2)), n), line))
    return [line for _, line in sorted(keyed)]


def _validate(doc: dict[str, Any], report: list[str]) -> None:
    """Leave out what vrrpd would refuse, reporting why (a safety net: the conversion
    aims never to need it)."""
    for _ in range(8):
        if not doc["virtual_router"]:
            return
        try:
            parse(doc, "import")
            return
        except ConfigError as e:
            bad: set[int] = set()
            for line in e.problems:
                report.append(f"vrrpd would refuse the result: {line}")
                m = re.search(r"virtual_router\[(\d+)\]", line)
                if m:
                    bad.add(int(m.group(1)))
            if not bad:
                doc.pop("sync_group", None)
                continue
            dropped = {doc["virtual_router"][i]["name"] for i in bad}
            doc["virtual_router"] = [
                vr for i, vr in enumerate(doc["virtual_router"]) if i not in bad
            ]
            for g in doc.get("sync_group", []):
                g["members"] = [m for m in g["members"] if m not in dropped]
            doc["sync_group"] = [g for g in doc.get("sync_group", []) if len(g["members"]) > 1]
            if not doc["sync_group"]:
                doc.pop("sync_group")


def header(source: str, report: Iterable[str]) -> str:
    """The comment lines that open the emitted TOML: where it came from and the report."""
    lines = [f"# vrrpd configuration imported from {source} by vrrpctl import-keepalived."]
    shown = list(report)
    if shown:
        lines.append("# What differs from keepalived (also printed on stderr):")
        lines += [f"#   {r}" for r in shown]
    else:
        lines.append("# Complete: nothing was changed or dropped.")
    return "\n".join(lines) + "\n\n"
