"""The demo: three vrrpd routers and a client on one bridge; fail the master twice.

1. r1 (priority 150), r2 (120), r3 (100) share VRID 51 and the virtual address 192.0.2.254;
   r1 wins the election.
2. Hard failure: r1's link is taken down and its vrrpd SIGKILLed right after (a crashed
   router: a SIGKILL alone would leave r1's kernel answering for the address the killed daemon
   never removed). r2 takes over after Master_Down_Interval; the client's probe measures the
   blackout and the client's ARP entry for the virtual address moves to r2's MAC.
3. Graceful shutdown: r2's vrrpd gets SIGTERM, sends a priority-0 advertisement and removes
   the address; r3 takes over after only Skew_Time.

Every figure is printed next to its RFC 5798 §6.1 bound, and each failover is drawn as a
timeline (`netns_lab.timeline`: the client's probes, each router's adverts, states and gratuitous
ARPs, the blackout); with `png`, also as PNG files. Everything is removed at the end, also after
an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from .failover import (
    MARGIN,
    VIP,
    VIP_ADDR,
    VRID,
    Failover,
    backup_of,
    converge,
    virtual_router,
)
from .lab import Lab, Node, Vrrpd, wait_for
from .timeline import (
    PlotUnavailable,
    png_path,
    render_png,
    render_text,
    require_matplotlib,
)

ROUTERS = (("r1", "192.0.2.1/24", 150), ("r2", "192.0.2.2/24", 120), ("r3", "192.0.2.3/24", 100))
CLIENT = ("c1", "192.0.2.100/24")
# (title, summary label, old master, new master, the other backups, hard failure?)
STEPS: tuple[tuple[str, str, str, str, list[str], bool], ...] = (
    (
        "1) Hard failure of the master r1 (link down, vrrpd SIGKILLed)",
        "hard (r1 -> r2)",
        "r1",
        "r2",
        ["r3"],
        True,
    ),
    (
        "2) Graceful shutdown of the new master r2 (SIGTERM: priority-0 advertisement)",
        "graceful (r2 -> r3)",
        "r2",
        "r3",
        [],
        False,
    ),
)

Say = Callable[[str], None]


def status_table(daemons: dict[str, Vrrpd], nodes: dict[str, Node]) -> list[str]:
    """One line per router: state, priority, who it sees as master, advert counters."""
    names = {str(n.ipv4.ip): n.name for n in nodes.values() if n.ipv4 is not None}
    lines = [
        f"  {'router':<7}{'address':<14}{'prio':>5}  {'state':<11}{'master':<18}"
        f"{'sent':>6}{'recv':>6}  holds VIP"
    ]
    for name, d in daemons.items():
        node = nodes[name]
        addr = str(node.ipv4.ip) if node.ipv4 else "-"
        if not d.alive:
            lines.append(f"  {name:<7}{addr:<14}{'':>5}  (stopped)")
            continue
        row = d.router("gw")
        master = row.get("master") or "-"
        if master in names:
            master = f"{master} ({names[master]})"
        c = row.get("counters", {})
        holds = "yes" if node.has_address(VIP_ADDR) else "no"
        lines.append(
            f"  {name:<7}{addr:<14}{row.get('priority', '?'):>5}  {row.get('state', '?'):<11}"
            f"{master:<18}{c.get('adverts_sent', 0):>6}{c.get('adverts_received', 0):>6}  {holds}"
        )
    return lines


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def _who(mac: str | None, nodes: dict[str, Node]) -> str:
    if mac is None:
        return "(no entry)"
    for n in nodes.values():
        if n.mac == mac:
            return f"{mac} ({n.name})"
    return f"{mac} (unknown)"


def _failover(
    say: Say,
    *,
    client: Node,
    nodes: dict[str, Node],
    daemons: dict[str, Vrrpd],
    old: str,
    new: str,
    others: list[str],
    interval: float,
    hard: bool,
    png: Path | None = None,
) -> dict[str, float]:
    """Fail `old` (hard: SIGKILL + link down; else SIGTERM) and measure the takeover by `new`;
    draw its timeline (and into `png`)."""
    routers = {n: d for n, d in daemons.items() if d.alive}  # killed before: not drawn
    with Failover(
        client,
        old=nodes[old],
        old_daemon=daemons[old],
        new=nodes[new],
        new_daemon=daemons[new],
        interval=interval,
        hard=hard,
        timeline=True,
    ) as f:
        new_prio, bound = f.new_priority, f.bound
        if hard:
            bound_text = (
                f"Master_Down_Interval({new}) = 3 x {interval:g} + (256 - {new_prio}) x "
                f"{interval:g} / 256 = {bound:.6g} s"
            )
        else:
            bound_text = (
                f"Skew_Time({new}) = (256 - {new_prio}) x {interval:g} / 256 = {bound:.6g} s"
            )
        arp_before = client.neigh(VIP_ADDR)
        say(
            f"  client probe running: ICMP echo to {VIP_ADDR} every 5 ms; ARP {VIP_ADDR} -> "
            f"{_who(arp_before, nodes)}"
        )
        pid = daemons[old].pid
        code = f.fail()
        if hard:
            say(f"  {old}: eth0 taken down and vrrpd (pid {pid}) SIGKILLed")
        else:
            say(f"  {old}: vrrpd (pid {pid}) got SIGTERM and exited with code {code}")
            gone = "STILL PRESENT (not removed!)" if nodes[old].has_address(VIP_ADDR) else "removed"
            say(f"  {old}: virtual address {gone}")
        took = f.wait_takeover()
        say(f"  {new}: MASTER (seen by the controller {took:.3f} s after the failure)")
        for o in others:
            wait_for(backup_of(daemons[o], f.new_ip), MARGIN, what=f"{o} to see {new} as master")
        with contextlib.suppress(TimeoutError):  # reported below from what the table holds
            wait_for(
                lambda: client.neigh(VIP_ADDR) == nodes[new].mac,
                MARGIN,
                what=f"the client's ARP entry for {VIP_ADDR} to move to {new}",
            )
        arp_after = client.neigh(VIP_ADDR)
        res = f.stop()

    out, det = f.blackout, f.detection
    say(
        f"  client ARP {VIP_ADDR} -> {_who(arp_after, nodes)}"
        + ("  [moved]" if arp_after == nodes[new].mac and arp_after != arp_before else "")
    )
    say(f"  probes: {res['sent']} sent, {f.lost} lost")
    say(f"  blackout seen by the client:           {_ms(out)}")
    if det is None:
        say(
            "  detection: the probe did not see both the old master's last and the new "
            "master's first advertisement"
        )
        det_s = float("nan")
    else:
        det_s = det[0]
        what = "priority-0 advert" if not hard else "advert"
        last_prio = f.last_priority()
        if not hard and last_prio != 0:
            what = f"advert (priority {last_prio}: NO priority-0 advert seen)"
        say(f"  detection, {old}'s last {what} -> {new}'s first advert: {_ms(det_s)}")
    say(f"  RFC 5798 bound: {bound_text} ({bound * 1000:.1f} ms)")
    if det is not None:
        say(f"  detection - bound: {(det_s - bound) * 1000:+.1f} ms")
    tl = f.timeline(routers)
    say("")
    for line in render_text(tl).splitlines():
        say(f"  {line}")
    if png is not None:
        render_png(tl, png)
        say(f"  timeline written to {png}")
    say("")
    return {"blackout": out, "detection": det_s, "bound": bound}


def run_demo(
    interval: float = 1.0, keep_logs: bool = False, say: Say = print, png: str | None = None
) -> int:
    """Build the lab, run both failovers, print what happened; returns an exit code. With
    `png`, each failover's timeline is also written there, its mode before the suffix
    (``demo.png``: ``demo-hard.png``, ``demo-graceful.png``)."""
    if png is not None:
        try:
            require_matplotlib()
        except PlotUnavailable as e:
            say(str(e))
            return 2
    lab = Lab(keep_workdir=keep_logs)
    daemons: dict[str, Vrrpd] = {}
    try:
        say(
            f"netns lab {lab.prefix}: bridge {lab.bridge} in namespace {lab.switch_ns} "
            "(multicast snooping off, STP off)"
        )
        nodes: dict[str, Node] = {}
        for name, addr, _ in ROUTERS:
            nodes[name] = lab.add_router(name, addr)
        client = lab.add_client(*CLIENT)
        for n in [*nodes.values(), client]:
            say(f"  {n.name:<4}namespace {n.ns:<10} eth0 {n.ipv4!s:<16} MAC {n.mac}")
        say("")
        say(
            f"Starting vrrpd in r1, r2, r3: VRID {VRID}, virtual address {VIP}, "
            f"advert interval {interval:g} s, priorities "
            + ", ".join(f"{n} {p}" for n, _, p in ROUTERS)
        )
        t0 = time.monotonic()
        for name, _, prio in ROUTERS:
            daemons[name] = nodes[name].start_vrrpd([virtual_router(prio, interval)])
        converge(daemons, nodes, "r1", interval)
        say(f"Converged after {time.monotonic() - t0:.2f} s:")
        for line in status_table(daemons, nodes):
            say(line)

        measured: list[tuple[str, dict[str, float]]] = []
        for title, label, old, new, others, hard in STEPS:
            say("")
            say(title)
            m = _failover(
                say,
                client=client,
                nodes=nodes,
                daemons=daemons,
                old=old,
                new=new,
                others=others,
                interval=interval,
                hard=hard,
                png=None if png is None else png_path(png, "hard" if hard else "graceful"),
            )
            measured.append((label, m))
            for line in status_table(daemons, nodes):
                say(line)

        say("")
        say("Summary")
        say(f"  {'failover':<22}{'blackout':>12}{'detection':>12}{'RFC bound':>12}")
        for label, m in measured:
            say(
                f"  {label:<22}{m['blackout'] * 1000:>9.1f} ms{m['detection'] * 1000:>9.1f} ms"
                f"{m['bound'] * 1000:>9.1f} ms"
            )
        return 0
    except KeyboardInterrupt:
        say("")
        say("Interrupted: cleaning up")
        return 130
    except Exception as e:
        say("")
        say(f"demo failed: {e}")
        for name, d in daemons.items():
            tail = d.log_text().splitlines()[-15:]
            say(f"--- last lines of {name}'s vrrpd log ({d.log_path}):")
            for line in tail:
                say(f"    {line}")
        return 1
    finally:
        if keep_logs:
            say(f"Logs and configs kept in {lab.workdir}")
        lab.close()
        say(f"Cleaned up: namespaces {lab.prefix}* removed")
