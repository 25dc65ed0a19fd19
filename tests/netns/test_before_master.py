"""`before_master` on real vrrpd processes: the hook runs after the decision to become master
and before anything of the new master reaches the wire. A client captures ARP and VRRP while
r2 (backup, with the hook) takes over from r1 (killed): r2's first gratuitous ARP and first
advertisement come after the hook's last act, and the hook saw no VIP on r2. A hook that
outlives `before_master_timeout` is killed and the takeover goes on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netns_lab import wire
from netns_lab.lab import Lab, wait_for
from tests.helpers import VIP_ADDR, vr

pytestmark = pytest.mark.netns

R1, R2 = "192.0.2.1", "192.0.2.2"


def _hook(lab: Lab, seconds: float) -> tuple[Path, Path]:
    """A hook that records its start, whether the VIP is on eth0, works `seconds`, its end."""
    out = lab.workdir / "before.out"
    script = lab.workdir / "before.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "start $(date +%s.%N) $VRRP_STATE $VRRP_REASON" >> {out}\n'
        f'ip -o addr show dev eth0 | grep -q " {VIP_ADDR}/" && echo vip-present >> {out}\n'
        f"sleep {seconds}\n"
        f'echo "end $(date +%s.%N)" >> {out}\n'
    )
    script.chmod(0o755)
    return script, out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_nothing_of_the_new_master_is_on_the_wire_before_the_hook_ends(lab: Lab) -> None:
    script, out = _hook(lab, 0.3)
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d1 = r1.start_vrrpd([vr(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=10)
    d2 = r2.start_vrrpd([vr(priority=100, before_master=[str(script)])])
    d2.wait_state("gw", "BACKUP", timeout=10)
    cap = c1.capture("arp or ip proto 112")
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: any(x.startswith("end ") for x in _lines(out)), 10, what="the hook's end")
    cap.wait_packets(lambda p: bool(wire.garps([p], VIP_ADDR, r2.mac)), 1, 10, "r2's GARP")
    packets = cap.stop()
    lines = _lines(out)
    assert [x.split()[0] for x in lines] == ["start", "end"], lines  # once, and no VIP yet
    assert lines[0].split()[2:] == ["MASTER", "master-down"]
    start, end = float(lines[0].split()[1]), float(lines[1].split()[1])
    garps = wire.times(wire.garps(packets, VIP_ADDR, r2.mac))
    adverts = wire.times(wire.adverts(packets, src=R2))
    assert garps and adverts
    assert min(garps) > end and min(adverts) > end, (start, end, garps[:1], adverts[:1])
    assert end - start >= 0.3
    assert f"{VIP_ADDR}/24" in r2.addresses()
    assert "gw: before_master done in" in d2.log_text()


def test_a_hook_past_its_timeout_is_killed_and_the_takeover_goes_on(lab: Lab) -> None:
    script, out = _hook(lab, 30)
    r1 = lab.add_router("r1", f"{R1}/24")
    d1 = r1.start_vrrpd([vr(before_master=[str(script)], before_master_timeout=0.5)])
    d1.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: f"{VIP_ADDR}/24" in r1.addresses(), 10, what="the VIP after the timeout")
    assert [x.split()[0] for x in _lines(out)] == ["start"]  # killed before its end
    log = d1.log_text()
    assert "gw: before_master failed in" in log and "killed after 0.5s" in log
