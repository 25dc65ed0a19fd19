"""The pure half of the chaos suite (`netns_lab.chaos`): no I/O, no clock, unit-tested without
root (tests/unit/test_chaos_rules.py).

* nftables rulesets for the faults (loss in percent, one-way drops, partitions) and the
  idempotent deletion of a fault's table;
* the scenario catalogue: what each scenario does and what it allows while its fault is on;
* facts: what the lab observed (each router's links and addresses, the client's neighbour
  entry, each daemon's state), merged into one timeline of `Observation`s;
* the invariants, evaluated over that timeline: one holder of the VIP within one
  Master_Down_Interval of the fault's effect, the client's neighbour entry on the holder, no
  VIP on a router that is not master (and no master without it), no host address lost; and the
  leaks found by comparing a snapshot taken before the daemons started with one taken after
  they stopped (links, nftables tables, sysctls, addresses);
* the figures (heal to single holder, heal to client-correct, flaps, settle time) and the
  Markdown table that puts implementations side by side.

Times are seconds of CLOCK_MONOTONIC (the same in every namespace).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_interface
from typing import Any

# --- nftables rulesets ----------------------------------------------------------------------

TABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
PRIORITY = -10  # before the default filter priority: the fault sees every packet first


def _check_table(table: str) -> None:
    if not TABLE_RE.match(table):
        raise ValueError(f"nft table name {table!r}: 1..32 of a-z 0-9 _, a letter first")


def _check_ifname(name: str, what: str) -> None:
    if not IFNAME_RE.match(name):
        raise ValueError(f"{what} {name!r}: not an interface name (1..15 of A-Z a-z 0-9 _ . @ -)")


def check_percent(percent: int) -> int:
    """Loss in whole percent, 1..100 (100 drops everything)."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise ValueError(f"loss must be a whole percent 1..100, got {percent!r}")
    return percent


def _drop(percent: int) -> str:
    return "drop" if percent == 100 else f"numgen random mod 100 < {percent} drop"


def loss_ruleset(table: str, percent: int, device: str | None = None) -> str:
    """Drop `percent` % of frames at random.

    Without `device`: every frame the bridge forwards, in a ``bridge`` table of the switch
    namespace (each copy of a flooded frame is judged on its own, so each receiver loses its own
    share). With `device`: every frame arriving on that interface, in a ``netdev`` ingress chain
    of the node's namespace (what that router hears).
    """
    _check_table(table)
    check_percent(percent)
    if device is None:
        return (
            f"table bridge {table} {{\n"
            f"    chain forward {{\n"
            f"        type filter hook forward priority {PRIORITY}; policy accept;\n"
            f"        {_drop(percent)}\n"
            f"    }}\n"
            f"}}\n"
        )
    _check_ifname(device, "device")
    return (
        f"table netdev {table} {{\n"
        f"    chain ingress {{\n"
        f'        type filter hook ingress device "{device}" priority {PRIORITY}; '
        f"policy accept;\n"
        f"        {_drop(percent)}\n"
        f"    }}\n"
        f"}}\n"
    )


def drop_ruleset(table: str, pairs: Sequence[tuple[str, str]], percent: int = 100) -> str:
    """Drop frames the bridge forwards from port A to port B, for each (A, B) in `pairs`:
    one-way when only (A, B) is given, a cut when (B, A) is given too."""
    _check_table(table)
    check_percent(percent)
    if not pairs:
        raise ValueError("drop_ruleset: give at least one (from port, to port) pair")
    rules = []
    for a, b in pairs:
        _check_ifname(a, "bridge port")
        _check_ifname(b, "bridge port")
        if a == b:
            raise ValueError(f"drop_ruleset: a port cannot be cut from itself ({a})")
        rules.append(f'        iifname "{a}" oifname "{b}" {_drop(percent)}\n')
    return (
        f"table bridge {table} {{\n"
        f"    chain forward {{\n"
        f"        type filter hook forward priority {PRIORITY}; policy accept;\n"
        + "".join(rules)
        + "    }\n}\n"
    )


def delete_table(family: str, table: str) -> str:
    """Delete a table whether or not it exists (declare it empty, then delete: one
    transaction that never fails for a table already gone)."""
    _check_table(table)
    if family not in ("bridge", "netdev", "inet", "ip", "ip6", "arp"):
        raise ValueError(f"nft family {family!r}: bridge, netdev, inet, ip, ip6 or arp")
    return f"table {family} {table} {{}}\ndelete table {family} {table}\n"


def cut_pairs(groups: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Every directed (a, b) between members of different groups: a partition."""
    seen: set[str] = set()
    for g in groups:
        for m in g:
            if m in seen:
                raise ValueError(f"partition: {m!r} is in two groups")
            seen.add(m)
    if len([g for g in groups if g]) < 2:
        raise ValueError("partition: give at least two non-empty groups")
    return [
        (a, b)
        for i, ga in enumerate(groups)
        for j, gb in enumerate(groups)
        if i != j
        for a in ga
        for b in gb
    ]


HEAL_ORDERS = ("together", "winner-first", "loser-first")


def heal_steps(
    pairs: Sequence[tuple[str, str]], order: str, winner: str
) -> list[list[tuple[str, str]]]:
    """The directed cuts of a partition, grouped into the steps in which they heal.

    ``together``: one step. ``winner-first``: first what `winner` sends (the others hear the
    master-to-be at once), then the rest. ``loser-first``: the reverse (the winner first hears
    the others' adverts while they still cannot hear it)."""
    if order not in HEAL_ORDERS:
        raise ValueError(f"heal order {order!r}: one of {', '.join(HEAL_ORDERS)}")
    if order == "together":
        return [list(pairs)]
    from_winner = [p for p in pairs if p[0] == winner]
    rest = [p for p in pairs if p[0] != winner]
    steps = [from_winner, rest] if order == "winner-first" else [rest, from_winner]
    return [s for s in steps if s]


# --- the scenario catalogue -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One chaos scenario on the standard topology: r1 (priority 200, the master), r2 (100),
    client c1, one VIP; r1 is the expected holder once the fault has cleared.

    While the fault is on: at most `max_holders` routers hold the VIP (longer than the grace);
    the routers in `exempt` are exempt from "no VIP on a non-master" and "no master without the
    VIP" (a frozen or killed daemon cannot act), those in `host_exempt` from "no host address
    lost" (their interface is gone). `instant`: the fault is a single act (heal is measured
    from it), not a state that is later cleared. `restart`: a restart storm (settle time is
    measured from the last start). `flaps`: the figure is the number of MASTER entries during
    the fault window. `vmac`: routers use the virtual MAC (and vrrpd accept_mode = false).
    """

    name: str
    summary: str
    max_holders: int = 1
    exempt: frozenset[str] = frozenset()
    host_exempt: frozenset[str] = frozenset()
    instant: bool = False
    restart: bool = False
    flaps: bool = False
    vmac: bool = False


WINNER, LOSER, CLIENT = "r1", "r2", "c1"

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "loss",
            "random loss of every frame the bridge forwards (default 25 %) for a fixed window",
            max_holders=2,
            flaps=True,
        ),
        Scenario(
            "one-way",
            "frames from r1 to r2 dropped (r2 hears nothing, r1 hears r2), then restored",
            max_holders=2,
        ),
        Scenario(
            "partition",
            "r1 and r2 cut from each other (the client hears both), healed in a chosen order",
            max_holders=2,
        ),
        Scenario("link-down", "the master's link set down, then up again"),
        Scenario(
            "recreate",
            "the master's interface deleted, re-created with the same name, MAC and address "
            "(a new index)",
            exempt=frozenset({WINNER}),
            host_exempt=frozenset({WINNER}),
        ),
        Scenario(
            "sigstop",
            "the master's daemon frozen (SIGSTOP), then resumed (SIGCONT)",
            max_holders=2,
            exempt=frozenset({WINNER}),
        ),
        Scenario("vip-deleted", "the VIP deleted by hand on the master", instant=True),
        Scenario("vip-added", "the VIP added by hand on the backup", instant=True, max_holders=2),
        Scenario(
            "restart-storm",
            "the master's daemon stopped (SIGTERM) and started again, several times in a row",
            restart=True,
        ),
        Scenario(
            "kill-storm",
            "the master's daemon killed (SIGKILL) and started again, several times in a row, "
            "with the virtual MAC (vrrpd: accept_mode = false): crash leftovers",
            restart=True,
            max_holders=2,
            exempt=frozenset({WINNER}),
            vmac=True,
        ),
    )
}


def scenario_names(text: str) -> list[str]:
    """``all`` or a comma-separated list of scenario names, checked; ``list``: none (the
    command then lists them)."""
    if text.strip() == "list":
        return []
    names = list(SCENARIOS) if text.strip() == "all" else [n.strip() for n in text.split(",")]
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        raise ValueError(
            f"unknown scenario {', '.join(bad) or repr(text)}: "
            f"one of {', '.join(SCENARIOS)}, all or list"
        )
    return names


# --- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkView:
    index: int
    up: bool  # administratively up and carrier (IFF_UP and IFF_LOWER_UP)
    mac: str | None


@dataclass(frozen=True)
class NodeView:
    """One namespace as the watcher saw it at one moment."""

    links: Mapping[str, LinkView] = field(default_factory=dict)
    addrs: Mapping[str, frozenset[str]] = field(default_factory=dict)  # ifname -> addr/len
    neigh: Mapping[str, str | None] = field(default_factory=dict)  # IP -> MAC (None: failed)

    def holding(self, address: str) -> list[str]:
        """Interfaces that are up and hold `address` (with or without /len)."""
        want = _ip(address)
        return sorted(
            ifname
            for ifname, addrs in self.addrs.items()
            if ifname in self.links and self.links[ifname].up and any(_ip(a) == want for a in addrs)
        )

    def has(self, address: str) -> bool:
        """`address` (with or without /len) is on some interface, up or not."""
        want = _ip(address)
        return any(_ip(a) == want for addrs in self.addrs.values() for a in addrs)


def _ip(text: str) -> Any:
    return ip_interface(text).ip if "/" in text else ip_address(text)


def parse_view(line: str) -> tuple[float, NodeView]:
    """One line of `netns_lab.chaos_watch` output: ``{"t": ..., "links": ..., ...}``."""
    doc = json.loads(line)
    links = {
        str(name): LinkView(int(v["index"]), bool(v["up"]), v.get("mac"))
        for name, v in doc.get("links", {}).items()
    }
    addrs = {str(name): frozenset(str(a) for a in v) for name, v in doc.get("addrs", {}).items()}
    neigh = {
        str(ip): (None if mac is None else str(mac)) for ip, mac in doc.get("neigh", {}).items()
    }
    return float(doc["t"]), NodeView(links, addrs, neigh)


@dataclass(frozen=True)
class Observation:
    """What held at time `t` (until the next observation)."""

    t: float
    holders: frozenset[str]  # routers holding the VIP on an interface that is up
    states: Mapping[str, str]  # router -> MASTER, BACKUP, FAULT, INIT, STOPPED, UNKNOWN
    client_mac: str | None  # the client's neighbour entry for the VIP
    macs: Mapping[str, frozenset[str]]  # router -> MACs of the interfaces holding the VIP
    host_missing: Mapping[str, frozenset[str]]  # router -> its own addresses not on it


def merge(streams: Mapping[str, Sequence[tuple[float, Any]]]) -> list[tuple[float, dict[str, Any]]]:
    """Merge time-stamped streams into one timeline of full views.

    Each stream is a time-ordered list of (t, value); a value holds until the stream's next
    one. The timeline starts once every stream has a value and has one entry per distinct
    change time after that (simultaneous changes are one entry).
    """
    if not streams or any(not s for s in streams.values()):
        return []
    start = max(s[0][0] for s in streams.values())
    events = sorted(
        (t, name, i) for name, s in streams.items() for i, (t, _) in enumerate(s) if t > start
    )
    current: dict[str, Any] = {}
    for name, s in streams.items():
        # the last value at or before `start`
        current[name] = [v for t, v in s if t <= start][-1]
    out: list[tuple[float, dict[str, Any]]] = [(start, dict(current))]
    for t, name, i in events:
        current[name] = streams[name][i][1]
        if out[-1][0] == t:
            out[-1] = (t, dict(current))
        else:
            out.append((t, dict(current)))
    return out


def observe(
    routers: Mapping[str, Sequence[tuple[float, NodeView]]],
    states: Mapping[str, Sequence[tuple[float, str]]],
    client: Sequence[tuple[float, NodeView]],
    vip: str,
    host_addresses: Mapping[str, Iterable[str]],
) -> list[Observation]:
    """The merged timeline of observations from the watchers' and the state poller's streams."""
    streams: dict[str, Sequence[tuple[float, Any]]] = {"client": client}
    for name, s in routers.items():
        streams[f"view:{name}"] = s
    for name, st in states.items():
        streams[f"state:{name}"] = st
    vip_ip = str(_ip(vip))
    out = []
    for t, cur in merge(streams):
        holders: set[str] = set()
        macs: dict[str, frozenset[str]] = {}
        missing: dict[str, frozenset[str]] = {}
        for name in routers:
            view: NodeView = cur[f"view:{name}"]
            on = view.holding(vip)
            if on:
                holders.add(name)
            macs[name] = frozenset(str(view.links[i].mac).lower() for i in on if view.links[i].mac)
            missing[name] = frozenset(a for a in host_addresses.get(name, ()) if not view.has(a))
        cview: NodeView = cur["client"]
        mac = cview.neigh.get(vip_ip)
        out.append(
            Observation(
                t=t,
                holders=frozenset(holders),
                states={n: cur[f"state:{n}"] for n in states},
                client_mac=None if mac is None else mac.lower(),
                macs=macs,
                host_missing=missing,
            )
        )
    return out


# --- invariants -----------------------------------------------------------------------------

Pred = Callable[[Observation], bool]


def single_holder(holder: str) -> Pred:
    def pred(o: Observation) -> bool:
        return o.holders == {holder}

    return pred


def client_correct(holder: str) -> Pred:
    """One holder, `holder`, and the client's neighbour entry is one of its MACs (the MAC of
    the interface holding the VIP: the router's own, or the virtual MAC of a macvlan)."""

    def pred(o: Observation) -> bool:
        return (
            o.holders == {holder}
            and o.client_mac is not None
            and o.client_mac in o.macs.get(holder, frozenset())
        )

    return pred


def settled(holder: str, states: Mapping[str, str]) -> Pred:
    """Client-correct on `holder`, and every daemon in its state of `states`."""
    ok = client_correct(holder)

    def pred(o: Observation) -> bool:
        return ok(o) and all(o.states.get(n) == s for n, s in states.items())

    return pred


def holds_from(timeline: Sequence[Observation], since: float, pred: Pred) -> float | None:
    """The first time >= `since` from which `pred` holds at every observation to the end of
    the timeline (the observation in force at `since` included), or None."""
    if not timeline:
        return None
    start: float | None = None
    for i, o in enumerate(timeline):
        nxt = timeline[i + 1].t if i + 1 < len(timeline) else math.inf
        if nxt <= since:
            continue  # over before `since`
        if pred(o):
            if start is None:
                start = max(o.t, since)
        else:
            start = None
    return start


def _intervals(
    timeline: Sequence[Observation], start: float, end: float
) -> list[tuple[float, float, Observation]]:
    """Each observation with the part of [start, end] during which it was in force."""
    out = []
    for i, o in enumerate(timeline):
        a = max(o.t, start)
        b = min(timeline[i + 1].t if i + 1 < len(timeline) else end, end)
        if b > a:
            out.append((a, b, o))
    return out


def spans(
    timeline: Sequence[Observation], bad: Pred, start: float, end: float
) -> list[tuple[float, float]]:
    """The maximal intervals within [start, end] during which `bad` holds."""
    return [(a, b) for a, b, _ in _runs(timeline, lambda o: ["x"] if bad(o) else [], start, end)]


def _runs(
    timeline: Sequence[Observation],
    offenders: Callable[[Observation], list[str]],
    start: float,
    end: float,
) -> list[tuple[float, float, set[str]]]:
    """Maximal intervals within [start, end] with offenders, and who offended in each."""
    out: list[tuple[float, float, set[str]]] = []
    for a, b, o in _intervals(timeline, start, end):
        who = offenders(o)
        if not who:
            continue
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b, out[-1][2] | set(who))
        else:
            out.append((a, b, set(who)))
    return out


@dataclass(frozen=True)
class Phases:
    """When things happened. Heal times count from `effect`; the final state is due by
    ``ready + Master_Down_Interval + slack`` (`ready`: when the last restarted daemon was
    ready, for a restart storm; else `effect`)."""

    start: float  # the observation starts (steady state)
    fault_on: float
    fault_off: float  # the fault cleared (== fault_on for an instant fault)
    effect: float
    end: float
    ready: float | None = None

    @property
    def due_base(self) -> float:
        return self.effect if self.ready is None else max(self.ready, self.effect)


@dataclass(frozen=True)
class Verdict:
    heal_single: float | None  # seconds from the effect, None: never
    heal_client: float | None
    settle: float | None
    violations: tuple[str, ...]


def _checks(
    scenario: Scenario | None, routers: Sequence[str]
) -> list[tuple[str, Callable[[Observation], list[str]]]]:
    """Per-observation checks; each returns the offenders (router names) in that observation.
    `scenario` None: nothing exempt (before the fault, and once the final state is due)."""
    exempt = scenario.exempt if scenario is not None else frozenset()
    host_exempt = scenario.host_exempt if scenario is not None else frozenset()
    max_holders = scenario.max_holders if scenario is not None else 1

    def many(o: Observation) -> list[str]:
        return sorted(o.holders) if len(o.holders) > max_holders else []

    def vip_on_non_master(o: Observation) -> list[str]:
        return [r for r in sorted(o.holders) if r not in exempt and o.states.get(r) != "MASTER"]

    def master_without_vip(o: Observation) -> list[str]:
        return [
            r
            for r in routers
            if r not in exempt and o.states.get(r) == "MASTER" and r not in o.holders
        ]

    def host_lost(o: Observation) -> list[str]:
        return [r for r in routers if r not in host_exempt and o.host_missing.get(r)]

    return [
        (f"more than {max_holders} holder(s) of the VIP", many),
        ("the VIP on a router that is not master", vip_on_non_master),
        ("a master without the VIP", master_without_vip),
        ("a host address lost", host_lost),
    ]


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def _find(
    timeline: Sequence[Observation],
    checks: list[tuple[str, Callable[[Observation], list[str]]]],
    start: float,
    end: float,
    grace: float,
    where: str,
    origin: float,
) -> list[str]:
    """One line per check broken for longer than `grace` within [start, end]."""
    out = []
    for what, offenders in checks:
        for a, b, who in _runs(timeline, offenders, start, end):
            if b - a > grace:
                sign = "+" if a >= origin else "-"
                out.append(
                    f"{where}: {what} ({', '.join(sorted(who))}) for {_ms(b - a)} "
                    f"from {sign}{_ms(abs(a - origin))}"
                )
    return out


def evaluate(
    timeline: Sequence[Observation],
    phases: Phases,
    scenario: Scenario,
    *,
    routers: Sequence[str],
    holder: str,
    final_states: Mapping[str, str],
    mdi: float,
    slack: float,
    grace: float,
) -> Verdict:
    """The figures and the invariant violations of one run.

    * before the fault: one holder, no VIP on a non-master, no master without the VIP, no host
      address lost (each for longer than `grace`);
    * while the fault is on: the same, within what `scenario` allows;
    * `holder` alone holds the VIP, and the client's neighbour entry is on it, within
      Master_Down_Interval (`mdi`) + `slack` of the fault's effect, and to the end;
    * from then on, everything as before the fault.

    Times in the messages count from the fault (``+1234 ms``).
    """
    due = phases.due_base + mdi + slack
    origin = phases.fault_on
    strict = _checks(None, routers)
    violations: list[str] = []
    violations += _find(timeline, strict, phases.start, phases.fault_on, grace, "before", origin)
    violations += _find(
        timeline,
        _checks(scenario, routers),
        phases.fault_on,
        phases.fault_off,
        grace,
        "during the fault",
        origin,
    )
    host_only = [c for c in _checks(scenario, routers) if c[0] == "a host address lost"]
    violations += _find(timeline, host_only, phases.fault_off, due, grace, "healing", origin)
    violations += _find(timeline, strict, due, phases.end, grace, "after", origin)

    def since_effect(t: float | None) -> float | None:
        return None if t is None else t - phases.effect

    single = since_effect(holds_from(timeline, phases.effect, single_holder(holder)))
    client = since_effect(holds_from(timeline, phases.effect, client_correct(holder)))
    settle = since_effect(holds_from(timeline, phases.effect, settled(holder, final_states)))
    bound = due - phases.effect
    if single is None or single > bound:
        violations.append(
            f"{holder} not the single holder within Master_Down_Interval + slack "
            f"({_ms(bound)} after the effect): "
            + ("never" if single is None else f"after {_ms(single)}")
        )
    if client is None or client > bound:
        violations.append(
            f"the client's neighbour entry for the VIP not on {holder} within "
            f"Master_Down_Interval + slack ({_ms(bound)}): "
            + ("never" if client is None else f"after {_ms(client)}")
        )
    return Verdict(single, client, settle, tuple(violations))


# --- leaks: snapshots before and after ------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One namespace's state that a daemon may change and must restore."""

    links: Mapping[str, str]  # ifname -> kind ("veth", "macvlan", "" for lo, ...)
    addresses: Mapping[str, frozenset[str]]  # ifname -> addr/len
    nft_tables: frozenset[str]  # "family name"
    sysctls: Mapping[str, str]  # "ipv4/conf/eth0/arp_ignore" -> "0"


def parse_sysctls(text: str, root: str = "/proc/sys/net/") -> dict[str, str]:
    """``grep -r . /proc/sys/net/...`` output (``PATH:VALUE`` lines) as {path below root:
    value}; lines of other paths are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        if sep and path.startswith(root):
            out[path[len(root) :]] = value.strip()
    return out


def _iface_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[2] if len(parts) >= 4 and parts[1] == "conf" else None


def leaks(node: str, before: Snapshot, after: Snapshot) -> list[str]:
    """What `after` has that `before` had not (or lost): links, addresses, nft tables, and the
    sysctls of interfaces present in both (an interface's own sysctls go with it)."""
    out = []
    for name in sorted(set(after.links) - set(before.links)):
        out.append(f"{node}: {after.links[name] or 'link'} {name} left behind")
    for name in sorted(set(before.links) - set(after.links)):
        out.append(f"{node}: {before.links[name] or 'link'} {name} gone")
    for table in sorted(after.nft_tables - before.nft_tables):
        out.append(f"{node}: nft table {table} left behind")
    for table in sorted(before.nft_tables - after.nft_tables):
        out.append(f"{node}: nft table {table} gone")
    for ifname in sorted(set(before.addresses) & set(after.addresses)):
        for a in sorted(after.addresses[ifname] - before.addresses[ifname]):
            out.append(f"{node}: address {a} left on {ifname}")
        for a in sorted(before.addresses[ifname] - after.addresses[ifname]):
            out.append(f"{node}: address {a} lost from {ifname}")
    common = set(before.links) & set(after.links)
    for key in sorted(set(before.sysctls) & set(after.sysctls)):
        iface = _iface_of(key)
        if iface is not None and iface not in ("all", "default") and iface not in common:
            continue
        if before.sysctls[key] != after.sysctls[key]:
            out.append(f"{node}: sysctl {key} {before.sysctls[key]} -> {after.sysctls[key]}")
    return out


# --- results and the side-by-side table -----------------------------------------------------


@dataclass
class Result:
    """The figures of one scenario run with one implementation."""

    scenario: str
    impl: str
    heal_single: float | None = None  # seconds; None: never (within the observation)
    heal_client: float | None = None
    flaps: int | None = None  # MASTER entries during the loss window
    settle: float | None = None
    observed: float = 0.0  # seconds observed after the effect (what "never" means)
    violations: list[str] = field(default_factory=list)
    error: str | None = None  # the run itself failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "impl": self.impl,
            "heal_single_ms": _ms_value(self.heal_single),
            "heal_client_ms": _ms_value(self.heal_client),
            "flaps": self.flaps,
            "settle_ms": _ms_value(self.settle),
            "observed_ms": _ms_value(self.observed),
            "violations": list(self.violations),
            "error": self.error,
        }


def _ms_value(x: float | None) -> int | None:
    return None if x is None else round(x * 1000)


def cell_ms(x: float | None, observed: float) -> str:
    """Milliseconds, or ``> N`` when it never happened within the `observed` seconds."""
    return f"> {observed * 1000:.0f}" if x is None else f"{x * 1000:.0f}"


IMPL_TITLES = {"vrrpd": "vrrpd", "keepalived": "keepalived 2.2.7"}


def _figures(scenario: Scenario, loss: int, window: float) -> list[tuple[str, str]]:
    rows = [
        ("heal_single", "heal to single holder (ms)"),
        ("heal_client", "heal to client-correct (ms)"),
    ]
    if scenario.flaps:
        rows.append(("flaps", f"flaps under {loss} % loss (MASTER entries in {window:g} s)"))
    if scenario.restart:
        rows.append(("settle", "settle time after the last restart (ms)"))
    rows.append(("violations", "invariant violations"))
    return rows


def _cell(r: Result | None, key: str) -> str:
    if r is None:
        return "-"
    if r.error is not None:
        return "error"
    if key == "heal_single":
        return cell_ms(r.heal_single, r.observed)
    if key == "heal_client":
        return cell_ms(r.heal_client, r.observed)
    if key == "settle":
        return cell_ms(r.settle, r.observed)
    if key == "flaps":
        return "-" if r.flaps is None else str(r.flaps)
    return str(len(r.violations))


def markdown_table(results: Sequence[Result], *, loss: int = 25, window: float = 60.0) -> str:
    """Scenarios down, implementations across (in the order they first appear), one row per
    figure that applies to the scenario."""
    impls = list(dict.fromkeys(r.impl for r in results))
    by = {(r.scenario, r.impl): r for r in results}
    head = "| scenario | figure | " + " | ".join(IMPL_TITLES.get(i, i) for i in impls) + " |"
    sep = "|---|---|" + "---:|" * len(impls)
    lines = [head, sep]
    for name in dict.fromkeys(r.scenario for r in results):
        scenario = SCENARIOS[name]
        for k, (key, label) in enumerate(_figures(scenario, loss, window)):
            cells = " | ".join(_cell(by.get((name, i)), key) for i in impls)
            lines.append(f"| {name if k == 0 else ''} | {label} | {cells} |")
    return "\n".join(lines)


def violation_notes(results: Sequence[Result]) -> str:
    """The violations and errors behind the table, one line each."""
    lines = []
    for r in results:
        title = IMPL_TITLES.get(r.impl, r.impl)
        if r.error is not None:
            lines.append(f"- {r.scenario} / {title}: run failed: {r.error}")
        for v in r.violations:
            lines.append(f"- {r.scenario} / {title}: {v}")
    return "\n".join(lines)
