"""Many virtual routers in one process, and Active-Active from the examples.

255 virtual routers per interface: two routers, VRIDs 1..255, each VRID its own /32 VIP
(198.51.100.1-254 and 203.0.113.1); odd VRIDs prefer r1, even ones r2. Bounds are generous:
two Python daemons handle 255 adverts a second each on a shared 2-core machine.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd, check_config, wait_for
from tests.helpers import vr

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def vip_of(vrid: int) -> str:
    return f"198.51.100.{vrid}" if vrid < 255 else "203.0.113.1"


def _routers(first: str) -> list[dict[str, Any]]:
    """255 tables; `first` ("r1" or "r2") gets priority 200 on odd VRIDs, the other on even."""
    out = []
    for vrid in range(1, 256):
        mine = (vrid % 2 == 1) == (first == "r1")
        out.append(
            vr(
                name=f"v{vrid}",
                vrid=vrid,
                priority=200 if mine else 100,
                advert_interval=1.0,
                virtual_ips=[f"{vip_of(vrid)}/32"],
            )
        )
    return out


def _vips_on(node: Node) -> set[int]:
    addrs = {a.split("/")[0] for a in node.addresses()}
    return {vrid for vrid in range(1, 256) if vip_of(vrid) in addrs}


def test_255_virtual_routers_in_one_process(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    d1 = r1.start_vrrpd(_routers("r1"))
    d2 = r2.start_vrrpd(_routers("r2"))
    odd = {f"v{i}" for i in range(1, 256, 2)}
    want1 = {f"v{i}": "MASTER" if f"v{i}" in odd else "BACKUP" for i in range(1, 256)}
    want2 = {n: "BACKUP" if s == "MASTER" else "MASTER" for n, s in want1.items()}
    d1.wait_ready(timeout=30)
    d2.wait_ready(timeout=30)
    d1.wait_states(want1, timeout=60)
    d2.wait_states(want2, timeout=60)
    assert len(d1.status()) == 255
    odd_vrids = set(range(1, 256, 2))
    even_vrids = set(range(2, 256, 2))
    wait_for(lambda: _vips_on(r1) == odd_vrids, 20, what="r1 to hold exactly the odd VIPs")
    wait_for(lambda: _vips_on(r2) == even_vrids, 20, what="r2 to hold exactly the even VIPs")

    def wrong_master() -> list[tuple[str, object]]:
        return [
            (row["name"], row["master"])
            for d, other in ((d1, "192.0.2.2"), (d2, "192.0.2.1"))
            for row in d.status()
            if row["state"] == "BACKUP" and row["master"] != other
        ]

    wait_for(lambda: not wrong_master(), 10, what="every backup to follow the other router")

    d1.kill()
    d2.wait_states(dict.fromkeys(want1, "MASTER"), timeout=60)
    wait_for(lambda: _vips_on(r2) == odd_vrids | even_vrids, 20, what="r2 to hold all VIPs")

    # The status row says MASTER as soon as the state machine decides; the counter follows
    # when the takeover's actions (advert, VIPs, GARP) have run: poll, do not race it.
    def never_counted() -> list[Any]:
        return [r["name"] for r in d2.status() if not r["counters"]["became_master"]]

    wait_for(lambda: not never_counted(), 20, what="every r2 row to count its takeover")


def _example(name: str, interval: float = 0.1) -> list[dict[str, Any]]:
    """The virtual routers of examples/NAME, faster (the examples use 1 s)."""
    doc = tomllib.loads((EXAMPLES / name).read_text())
    return [{**t, "advert_interval": interval} for t in doc["virtual_router"]]


def _holder(address: str, *nodes: Node) -> list[str]:
    return [n.name for n in nodes if n.has_address(address)]


def test_active_active_from_the_examples(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    t1, t2 = _example("active-active-r1.toml"), _example("active-active-r2.toml")
    d: dict[str, Vrrpd] = {"r1": r1.start_vrrpd(t1), "r2": r2.start_vrrpd(t2)}
    nodes = {"r1": r1, "r2": r2}
    tables = {"r1": t1, "r2": t2}
    vip = {t["name"]: t["virtual_ips"][0].split("/")[0] for t in t1}  # gw-a: .254, gw-b: .253
    owner = {"gw-a": "r1", "gw-b": "r2"}

    def converged() -> None:
        for vr_name, who in owner.items():
            other = "r2" if who == "r1" else "r1"
            d[who].wait_state(vr_name, "MASTER", timeout=10)
            d[other].wait_state(vr_name, "BACKUP", timeout=10)
            wait_for(
                lambda a=vip[vr_name], w=who: _holder(a, r1, r2) == [w],
                10,
                what=f"only {who} to hold {vr_name}'s VIP",
            )

    converged()
    for victim in ("r1", "r2"):
        survivor = "r2" if victim == "r1" else "r1"
        d[victim].kill()
        # Its VRID moves; the survivor's own stays where it is.
        d[survivor].wait_states({"gw-a": "MASTER", "gw-b": "MASTER"}, timeout=10)
        d[victim] = nodes[victim].start_vrrpd(tables[victim])
        converged()  # the returning node takes its VRID back (preempt)
        assert "reason=preempted" in d[victim].log_text()


@pytest.mark.parametrize(
    "name",
    [
        "active-standby.toml",
        "active-active-r1.toml",
        "active-active-r2.toml",
        "ipv6.toml",
        "unicast.toml",
        "vmac.toml",
        "vrrpv2-keepalived.toml",
    ],
)
def test_example_config_is_valid(name: str) -> None:
    cp = check_config(EXAMPLES / name)
    assert cp.returncode == 0, cp.stderr
    assert "OK" in cp.stdout


def test_active_standby_example_fails_over(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    (table,) = _example("active-standby.toml")
    d1 = r1.start_vrrpd([table])
    d2 = r2.start_vrrpd([{**table, "priority": 100}])  # the standby, as the comment says
    d1.wait_state("gw", "MASTER", timeout=10)
    d2.wait_state("gw", "BACKUP", timeout=10)
    d1.kill()
    d2.wait_state("gw", "MASTER", timeout=5)
