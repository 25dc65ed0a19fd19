"""Real `vrrpctl status --json` output validates against vrrpd/status.schema.json: two routers
with a master, backups, IPv6, the virtual MAC, unicast, the address owner and FAULT, so every
field is seen both null and set."""

from __future__ import annotations

import json

import pytest

from netns_lab.lab import Lab, wait_for
from tests.helpers import vr
from tests.netns.test_operations import ctl_ok
from tests.unit.test_status_schema import validate

pytestmark = pytest.mark.netns


def test_real_status_output_matches_the_schema(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24", "2001:db8::1/64")
    r2 = lab.add_router("r2", "192.0.2.2/24", "2001:db8::2/64")
    routers = [
        vr(name="gw", priority=200),
        vr(name="gw6", vrid=52, virtual_ips=["2001:db8::fe/64"]),
        vr(name="mac", vrid=53, use_vmac=True, virtual_ips=["192.0.2.253/24"]),
        vr(name="uni", vrid=54, virtual_ips=["192.0.2.252/24"], unicast_peers=["192.0.2.2"]),
        vr(
            name="down",
            vrid=55,
            virtual_ips=["192.0.2.251/24"],
            track_files=[{"name": "gone", "path": str(lab.workdir / "absent")}],
        ),
    ]
    d1 = r1.start_vrrpd(routers)
    d1.wait_states({"gw": "MASTER", "gw6": "MASTER", "mac": "MASTER", "down": "FAULT"}, 15)
    own = [vr(name="own", vrid=56, priority=255, virtual_ips=["192.0.2.2/24"])]
    d2 = r2.start_vrrpd([vr(name="gw", priority=100), *own])  # r1 is master already
    d2.wait_states({"gw": "BACKUP", "own": "MASTER"}, 15)
    wait_for(lambda: d2.router("gw")["last_adv_source"] == "192.0.2.1", 10, what="r1's advert")
    seen = []
    for d in (d1, d2):
        rows = json.loads(ctl_ok(d, "status", "--json"))
        validate(rows)
        seen += rows
    by = {(r["primary"], r["name"]): r for r in seen}
    backup, master = by[("192.0.2.2", "gw")], by[("192.0.2.1", "gw")]
    assert backup["new_master_reason"] == "not-master" and backup["master_since"] is None
    assert master["new_master_reason"] == "no-response" and master["master_since"]
    assert (
        by[("192.0.2.2", "own")]["is_owner"]
        and by[("192.0.2.2", "own")]["new_master_reason"] == "priority"
    )
    assert by[("192.0.2.1", "down")]["fault_reasons"]
