"""Scale: 200 virtual routers at a 10 ms interval in each of two processes (20,000 adverts a
second on the segment) converge and then stay put: no false takeover, the backup hears the
master's adverts. Timing figures are tools/scale_bench.py's; the bounds here are generous (a
shared 2-core machine)."""

from __future__ import annotations

import time
from typing import Any

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests.helpers import vr

N = 200
INTERVAL = 0.01
WINDOW = 6.0  # seconds of steady state watched
SAMPLE_EVERY = 0.1  # seconds between two looks at the backup's addresses


def vip_of(vrid: int) -> str:
    return f"198.51.100.{vrid}/32"


def routers(priority: int) -> list[dict[str, Any]]:
    return [
        vr(
            name=f"v{vrid}",
            vrid=vrid,
            priority=priority,
            advert_interval=INTERVAL,
            virtual_ips=[vip_of(vrid)],
        )
        for vrid in range(1, N + 1)
    ]


def totals(d: Vrrpd, counter: str) -> int:
    return sum(int(row["counters"][counter]) for row in d.status())


def vips_on(node: Node) -> int:
    return sum(1 for a in node.addresses() if a.startswith("198.51.100."))


def test_200_virtual_routers_at_10_ms_converge_and_stay_stable(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    d2 = r2.start_vrrpd(routers(100))
    d2.wait_ready(timeout=30)
    d1 = r1.start_vrrpd(routers(150))
    d1.wait_ready(timeout=30)
    names = [f"v{v}" for v in range(1, N + 1)]
    d1.wait_states(dict.fromkeys(names, "MASTER"), timeout=30)
    d2.wait_states(dict.fromkeys(names, "BACKUP"), timeout=30)
    wait_for(lambda: vips_on(r1) == N, 20, what="r1 to hold all 200 VIPs")
    wait_for(lambda: vips_on(r2) == 0, 20, what="r2 to hold none")
    # 200 preemptions at once (each an address added, a GARP burst, a hand-over) load both
    # daemons for a moment; on a slow 2-core machine the backup may still take a few routers
    # back and lose them again. Converged means: no such takeover for a whole second.
    seen: list[int] = []

    def settled() -> bool:  # called once a second
        seen.append(totals(d2, "became_master"))
        return len(seen) > 1 and seen[-1] == seen[-2] and vips_on(r2) == 0

    wait_for(settled, 30, interval=1.0, what="r2 not to take over for a second")

    took_over = totals(d2, "became_master")
    stepped = sum(int(row["transitions"]) for row in d1.status())
    received = totals(d2, "adverts_received")
    sent = totals(d1, "adverts_sent")
    start = time.monotonic()
    samples = 0
    while time.monotonic() - start < WINDOW:
        assert vips_on(r2) == 0, "the backup took a virtual address: a false takeover"
        samples += 1
        # A sample (`ip addr`, a fork and 200 addresses parsed) every SAMPLE_EVERY: sampling
        # back to back took a third of a core from the two daemons on a 2-core machine. A
        # takeover between samples still shows in became_master, checked below.
        time.sleep(SAMPLE_EVERY)
    elapsed = time.monotonic() - start
    assert samples >= 10
    assert totals(d2, "became_master") == took_over, "the backup became master"
    assert sum(int(row["transitions"]) for row in d1.status()) == stepped
    expected = N / INTERVAL * elapsed
    sent_rate = (totals(d1, "adverts_sent") - sent) / expected
    heard = (totals(d2, "adverts_received") - received) / expected
    # Generous: the machine is shared; a master that falls behind by half would still pass
    # here but not in the benchmark.
    assert sent_rate > 0.5, f"the master sent {sent_rate:.0%} of the adverts due"
    assert heard > 0.5, f"the backup heard {heard:.0%} of the adverts due"
    assert {row["state"] for row in d2.status()} == {"BACKUP"}


def test_stopping_50_masters_with_vips_in_one_subnet_puts_nothing_back(lab: Lab) -> None:
    """50 VIPs in one /24 on one interface (promote_secondaries off, the kernel's default
    here): deleting the first removes the others with it. At shutdown nothing is put back:
    vrrpd leaves quickly and leaves no address behind."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    tables = [
        vr(
            name=f"v{vrid}",
            vrid=vrid,
            priority=150,
            advert_interval=0.1,
            virtual_ips=[f"198.51.100.{vrid}/24"],
        )
        for vrid in range(1, 51)
    ]
    d1 = r1.start_vrrpd(tables)
    d1.wait_ready(timeout=30)
    d1.wait_states({f"v{v}": "MASTER" for v in range(1, 51)}, timeout=30)
    wait_for(lambda: vips_on(r1) == 50, 20, what="r1 to hold the 50 VIPs")
    start = time.monotonic()
    assert d1.stop(timeout=20) == 0
    took = time.monotonic() - start
    assert vips_on(r1) == 0
    assert "putting it back" not in d1.log_text()
    assert took < 15, f"shutdown took {took:.1f} s"
