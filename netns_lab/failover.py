"""Failover set-up and measurement, shared by the demo (``python -m netns_lab demo``) and the
benchmark (``tools/failover_bench.py``).

Routers share VRID 51 and 192.0.2.254/24; a client probes that address every 5 ms (ICMP echo,
plus an advert sniffer: `netns_lab.probe`). A `Failover` fails the master ``hard`` (its link
taken down, then its vrrpd SIGKILLed: a crashed router; a SIGKILL alone would leave its kernel
answering for the address the daemon never removed) or gracefully (SIGTERM: vrrpd sends
priority 0 and removes the address), waits for the takeover and reads, from the client:

* blackout: from the last answered probe before the outage to the first answered after it;
* detection: from the last advertisement of the old master the client saw (graceful: its
  priority-0 advertisement) to the first advertisement of the new one;

next to the RFC 5798 §6.1 bound: Master_Down_Interval of the new master (hard), Skew_Time
(graceful). With ``timeline=True`` it also captures the client's segment (adverts, gratuitous
ARP) and `Failover.timeline` draws the failover (`netns_lab.timeline`).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import wire
from .lab import (
    Capture,
    LabError,
    Node,
    ProbeRun,
    Vrrpd,
    master_down_interval,
    skew_time,
    wait_for,
)
from .probe import blackout, detection, lost
from .timeline import Timeline, build, log_transitions, probe_sends

VRID = 51
VIP = "192.0.2.254/24"
VIP_ADDR = VIP.split("/")[0]
MARGIN = 5.0  # seconds past an RFC bound before a wait gives up


def virtual_router(priority: int, interval: float) -> dict[str, Any]:
    """The one [[virtual_router]] table of a failover lab."""
    return {
        "name": "gw",
        "interface": "eth0",
        "vrid": VRID,
        "priority": priority,
        "advert_interval": interval,
        "preempt": True,
        "version": 3,
        "virtual_ips": [VIP],
    }


def interval_arg(text: str) -> float:
    """An argparse type: an advertisement interval in seconds (0.01..40.95, steps of 0.01)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    cs = round(value * 100)
    if not 1 <= cs <= 4095 or abs(cs - value * 100) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"must be 0.01..40.95 seconds in steps of 0.01, got {text}"
        )
    return value


def bound(interval: float, priority: int, hard: bool) -> float:
    """The RFC 5798 bound on the takeover by a backup of `priority`."""
    return master_down_interval(interval, priority) if hard else skew_time(interval, priority)


def backup_of(d: Vrrpd, master_ip: str) -> Callable[[], bool]:
    """A poll predicate: `d` is BACKUP and sees `master_ip` as the master."""

    def check() -> bool:
        row = d.router("gw")
        return bool(row["state"] == "BACKUP" and row["master"] == master_ip)

    return check


def address(node: Node) -> str:
    assert node.ipv4 is not None, f"{node.name} has no IPv4 address"
    return str(node.ipv4.ip)


def converge(
    daemons: Mapping[str, Vrrpd], nodes: Mapping[str, Node], master: str, interval: float
) -> None:
    """Wait until the daemon of router `master` is MASTER and holds the VIP alone (of
    `nodes`), and every other daemon is its BACKUP."""
    for d in daemons.values():
        d.wait_ready(timeout=15)
    lowest = min(int(d.router("gw")["priority"]) for d in daemons.values())
    timeout = master_down_interval(interval, lowest) + MARGIN
    daemons[master].wait_state("gw", "MASTER", timeout=timeout)
    master_ip = address(nodes[master])
    for name, d in daemons.items():
        if name != master:
            wait_for(backup_of(d, master_ip), timeout, what=f"{name} to be BACKUP of {master}")

    def holders() -> list[str]:
        return [name for name, n in nodes.items() if n.has_address(VIP_ADDR)]

    wait_for(lambda: holders() == [master], timeout, what=f"only {master} to hold the VIP")


class Failover:
    """One measured failover of `old` (the master) to `new`, seen from `client`.

    Creating it starts the client's probe and waits until it answers and has seen an advert
    of `old` (so a hard failure comes right after one: close to the worst case); then
    `fail()`, `wait_takeover()`, `stop()`; the figures are attributes after `stop()`.

    With `timeline`, a capture on the client records the adverts and gratuitous ARPs, the
    probe runs `tail` (1.5 intervals, at least 20 ms) before the failure and after the
    recovery, and `timeline()` draws it all after `stop()`.
    """

    def __init__(
        self,
        client: Node,
        *,
        old: Node,
        old_daemon: Vrrpd,
        new: Node,
        new_daemon: Vrrpd,
        interval: float,
        hard: bool,
        timeline: bool = False,
    ) -> None:
        self.old, self.old_daemon, self.new_daemon = old, old_daemon, new_daemon
        self.old_ip, self.new_ip = address(old), address(new)
        self.interval, self.hard = interval, hard
        self.new_priority = int(new_daemon.router("gw")["priority"])
        self.bound = bound(interval, self.new_priority, hard)
        self.t_fail = self.t_killed = self.seen = 0.0
        self.result: dict[str, Any] = {}
        self.tail = max(1.5 * interval, 0.02)
        self.packets: list[Any] = []
        # Adverts and gratuitous ARP on the client's segment, for the timeline. Immediate mode
        # (an option after the filter words: tcpdump's getopt permutes them): without it,
        # TPACKET_V3 hands packets over in blocks, and a SIGTERM loses the last block's.
        self.capture: Capture | None = (
            client.capture("--immediate-mode arp or ip proto 112") if timeline else None
        )
        try:
            self.probe: ProbeRun = client.start_probe(VIP_ADDR, adverts=True, vrid=VRID)
            self.probe.wait_ready(timeout=3 * interval + MARGIN, advert_from=self.old_ip)
            if timeline:  # an advert of `old` after `tail` of answered probes: the picture's start
                first = self.probe.wait_event(lambda e: e[0] == "reply", MARGIN, "a reply")
                started = float(first[2])
                self.probe.wait_event(
                    lambda e: (
                        e[0] == "advert"
                        and e[2] == self.old_ip
                        and int(e[3]) > 0
                        and float(e[1]) > started + self.tail
                    ),
                    self.tail + 3 * interval + MARGIN,
                    f"an advert from {self.old_ip} {self.tail:g} s into the probe",
                )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Failover:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the probe and stop the capture if they still run (after an error)."""
        if getattr(self, "probe", None) is not None and self.probe.alive:
            self.probe.kill()
        if self.capture is not None:
            self.capture.stop()

    def fail(self) -> int | None:
        """Fail the old master now; for a graceful failure, its vrrpd's exit code."""
        self.t_fail = time.monotonic()
        if self.hard:
            self.old.link_set(False)  # first: the outage and the silence start together
            self.old_daemon.kill()
            self.t_killed = time.monotonic()
            return None
        return self.old_daemon.stop(timeout=10)

    def wait_takeover(self) -> float:
        """Wait for the new master (within the bound and a margin); seconds since `fail()`."""
        self.new_daemon.wait_state("gw", "MASTER", timeout=self.bound + MARGIN)
        self.seen = time.monotonic()
        return self.seen - self.t_fail

    def stop(self) -> dict[str, Any]:
        """Wait for a reply to a probe sent after the takeover, stop the probe; its result."""
        back = self.probe.wait_reply_sent_after(self.seen, timeout=MARGIN + 10)
        if self.capture is not None:  # the timeline shows a while after the recovery
            self.probe.wait_reply_sent_after(back + self.tail, timeout=self.tail + MARGIN + 10)
        self.result = self.probe.stop()
        if self.capture is not None:
            # every frame up to the probe's end is in once a later one is (they come in order)
            end = float(self.result["end"]) + time.time() - time.monotonic()
            with contextlib.suppress(TimeoutError):
                self.capture.wait_packets(
                    lambda p: float(p.time) > end,
                    1,
                    self.interval + MARGIN,
                    "a frame after the probe",
                )
            self.packets = self.capture.stop()
        return self.result

    @property
    def blackout(self) -> float:
        return blackout(self.result)

    @property
    def lost(self) -> int:
        return lost(self.result)

    @property
    def detection(self) -> tuple[float, float, float] | None:
        """(seconds, the old master's last advert, the new master's first), or None."""
        return detection(self.result, self.old_ip, self.new_ip, after=self.t_fail)

    def last_priority(self) -> int | None:
        """The priority in the old master's last advert (the one `detection` starts at)."""
        det = self.detection
        if det is None:
            return None
        adverts = self.result.get("adverts", [])
        return next((p for t, src, p in adverts if src == self.old_ip and t == det[1]), None)

    def timeline(self, routers: Mapping[str, Vrrpd], title: str | None = None) -> Timeline:
        """The failover as a `netns_lab.timeline.Timeline`, after `stop()`: the probe's
        echo requests, the adverts and gratuitous ARPs the client's capture holds (senders
        named by IPv4 address and MAC from `routers`, name -> daemon, in lane order), and the
        state transitions in the daemons' logs; a hard failure's kill ends the old master's
        state lane. Capture and log times (wall clock) are moved to the probe's monotonic
        clock."""
        if self.capture is None or not self.result:
            raise LabError("Failover.timeline needs Failover(timeline=True) and stop() first")
        offset = time.time() - time.monotonic()
        by_ip = {address(d.node): name for name, d in routers.items()}
        by_mac = {d.node.mac: name for name, d in routers.items()}
        adverts = []
        for p in wire.adverts(self.packets, vrid=VRID):
            src = str(wire.ip_of(p).src)
            adverts.append((float(p.time) - offset, by_ip.get(src, src), int(p.priority)))
        garps = []
        for p in wire.garps(self.packets, VIP_ADDR):
            garps.append((float(p.time) - offset, by_mac.get(p.src, p.src)))
        transitions = [
            (t - offset, name, new)
            for name, d in routers.items()
            for t, _, _, new in log_transitions(d.log_text(), "gw")
        ]
        old = next(name for name, d in routers.items() if d.node is self.old)
        new = next(name for name, d in routers.items() if d is self.new_daemon)
        if self.hard:
            transitions.append((self.t_killed, old, ""))
            fault = f"{old}'s link taken down and its vrrpd SIGKILLed"
        else:
            fault = f"{old}'s vrrpd got SIGTERM (priority-0 advert, address removed)"
        kind = "Hard failure" if self.hard else "Graceful shutdown"
        return build(
            fault=self.t_fail,
            fault_label=fault,
            routers=list(routers),
            probes=probe_sends(self.result),
            adverts=adverts,
            transitions=transitions,
            garps=garps,
            interval=self.interval,
            title=title
            or f"{kind} of {old}, {new} takes over (advert interval {self.interval:g} s)",
        )
