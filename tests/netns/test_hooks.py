"""Per-state hooks (on_master, on_backup, on_fault, on_stop) and VRRP_MASTER, on real vrrpd
processes.

Two routers; each script appends `LABEL STATE master=VRRP_MASTER` to its router's file. A
failover and a preemption back show which hooks ran, after notify, with the master's address
(ours when master, the advert's source when backup, empty while unknown); the `transition`
event and `vrrpctl status` carry the same address. Scripts live in the lab's directory
(root's, 0755), since they run as root here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import vr
from tests.netns.test_operations import Events, ctl_ok, start_doc

pytestmark = pytest.mark.netns

R1, R2 = "192.0.2.1", "192.0.2.2"


def _script(lab: Lab) -> Path:
    script = lab.workdir / "hook.sh"
    script.write_text('#!/bin/sh\necho "$1 $VRRP_STATE master=$VRRP_MASTER" >> "$2"\n')
    script.chmod(0o755)
    return script


def _hooks(script: Path, out: Path) -> dict[str, Any]:
    return {
        key: [str(script), label, str(out)]
        for key, label in [
            ("notify", "notify"),
            ("on_master", "master"),
            ("on_backup", "backup"),
            ("on_stop", "stop"),
        ]
    }


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_lines(path: Path, want: list[str]) -> None:
    try:
        wait_for(lambda: len(_lines(path)) >= len(want), 20, what=f"{len(want)} lines in {path}")
    finally:
        assert _lines(path) == want


def test_hooks_run_after_notify_with_the_masters_address(lab: Lab) -> None:
    script = _script(lab)
    out1, out2 = lab.workdir / "hooks-r1.out", lab.workdir / "hooks-r2.out"
    r1, r2 = lab.add_router("r1", f"{R1}/24"), lab.add_router("r2", f"{R2}/24")
    d1 = r1.start_vrrpd([vr(priority=150, **_hooks(script, out1))])
    d1.wait_state("gw", "MASTER", timeout=15)
    d2 = r2.start_vrrpd([vr(priority=120, **_hooks(script, out2))])
    d2.wait_state("gw", "BACKUP", timeout=15)
    events = Events(d2)
    try:
        events.sync()
        wait_for(lambda: d2.router("gw")["master"] == R1, 10, what="r2's status to show r1")
        assert d1.router("gw")["master"] == R1  # ours
        _wait_lines(
            out1,
            [
                "notify BACKUP master=",  # startup: no master known yet
                "backup BACKUP master=",
                f"notify MASTER master={R1}",
                f"master MASTER master={R1}",
            ],
        )
        # Failover: r1 stops (on_stop, no notify), r2 takes over.
        assert d1.stop() == 0
        d2.wait_state("gw", "MASTER", timeout=15)
        event = events.wait(
            lambda e: e.get("type") == "transition" and e.get("new") == "MASTER",
            10,
            "r2's transition to MASTER",
        )
        assert event["master"] == R2
        _wait_lines(
            out1,
            [
                "notify BACKUP master=",
                "backup BACKUP master=",
                f"notify MASTER master={R1}",
                f"master MASTER master={R1}",
                f"stop INITIALIZE master={R1}",
            ],
        )
        # Preemption back: r2 follows r1, the advert's source.
        d1 = r1.start_vrrpd([vr(priority=150, **_hooks(script, out1))])
        d1.wait_state("gw", "MASTER", timeout=15)
        d2.wait_state("gw", "BACKUP", timeout=15)
        back = events.wait(
            lambda e: (
                e.get("type") == "transition"
                and e.get("new") == "BACKUP"
                and e.get("reason") == "higher-priority-seen"
            ),
            10,
            "r2's transition back to BACKUP",
        )
        assert back["master"] == R1
        assert d2.stop() == 0
        _wait_lines(
            out2,
            [
                "notify BACKUP master=",
                "backup BACKUP master=",
                f"notify MASTER master={R2}",
                f"master MASTER master={R2}",
                f"notify BACKUP master={R1}",
                f"backup BACKUP master={R1}",
                f"stop INITIALIZE master={R1}",
            ],
        )
    finally:
        events.stop()


def test_sync_group_hooks_run_once_the_group_settles_and_on_stop(lab: Lab) -> None:
    script = _script(lab)
    out = lab.workdir / "group.out"
    r1 = lab.add_router("r1", f"{R1}/24")
    group = {"name": "edge", "members": ["gw", "gw2"]} | {
        key: [str(script), label, str(out)]
        for key, label in [("on_master", "gmaster"), ("on_backup", "gbackup"), ("on_stop", "gstop")]
    }
    d1 = start_doc(
        r1,
        [
            vr(priority=150),
            vr(name="gw2", vrid=52, priority=150, virtual_ips=["192.0.2.253/24"]),
        ],
        sync_groups=[group],
    )
    d1.wait_states({"gw": "MASTER", "gw2": "MASTER"}, timeout=15)
    _wait_lines(out, ["gbackup BACKUP master=", "gmaster MASTER master="])
    assert d1.stop() == 0
    _wait_lines(
        out, ["gbackup BACKUP master=", "gmaster MASTER master=", "gstop INITIALIZE master="]
    )


def test_a_sync_group_removed_by_reload_runs_on_stop(lab: Lab) -> None:
    script = _script(lab)
    out = lab.workdir / "group.out"
    r1 = lab.add_router("r1", f"{R1}/24")
    routers = [
        vr(priority=150),
        vr(name="gw2", vrid=52, priority=150, virtual_ips=["192.0.2.253/24"]),
    ]
    group = {"name": "edge", "members": ["gw", "gw2"]} | {
        key: [str(script), label, str(out)]
        for key, label in [("on_master", "gmaster"), ("on_stop", "gstop")]
    }
    d1 = start_doc(r1, routers, sync_groups=[group])
    d1.wait_states({"gw": "MASTER", "gw2": "MASTER"}, timeout=15)
    _wait_lines(out, ["gmaster MASTER master="])
    doc = tomllib.loads(d1.config_path.read_text())
    del doc["sync_group"]
    d1.config_path.write_text(dumps(doc))
    ctl_ok(d1, "reload")
    _wait_lines(out, ["gmaster MASTER master=", "gstop INITIALIZE master="])
    # The routers themselves ran on, untouched: the group went, not its members.
    assert {r["name"]: r["state"] for r in d1.status()} == {"gw": "MASTER", "gw2": "MASTER"}
    assert d1.stop() == 0
    assert _lines(out) == ["gmaster MASTER master=", "gstop INITIALIZE master="]  # once


def test_on_fault_runs_when_the_interface_goes_down(lab: Lab) -> None:
    script = _script(lab)
    out = lab.workdir / "r1.out"
    r1 = lab.add_router("r1", f"{R1}/24")
    hooks = {
        key: [str(script), label, str(out)]
        for key, label in [("on_master", "master"), ("on_fault", "fault"), ("on_backup", "backup")]
    }
    d1 = r1.start_vrrpd([vr(priority=150, **hooks)])
    d1.wait_state("gw", "MASTER", timeout=10)
    _wait_lines(out, ["backup BACKUP master=", f"master MASTER master={R1}"])
    r1.link_set(False)
    d1.wait_state("gw", "FAULT", timeout=10)
    _wait_lines(out, ["backup BACKUP master=", f"master MASTER master={R1}", "fault FAULT master="])
    r1.link_set(True)
    d1.wait_state("gw", "MASTER", timeout=15)
    _wait_lines(
        out,
        [
            "backup BACKUP master=",
            f"master MASTER master={R1}",
            "fault FAULT master=",
            "backup BACKUP master=",
            f"master MASTER master={R1}",
        ],
    )
