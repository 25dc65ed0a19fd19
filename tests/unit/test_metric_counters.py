"""The counters and status leaves the metrics endpoint added in issue 12 (left_master,
announcements_sent, tracked objects in the status record) and the pure keepalived-exporter
mapping (vrrpd.metricnames), and the [daemon] metrics_names option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, problems, write
from tests.unit.status_samples import counters, record
from tests.unit.test_instance import ME, accepted, cfg, master
from vrrpd.api import Counter, RouterStatus, TrackedStatus
from vrrpd.config import load, parse
from vrrpd.fsm import State
from vrrpd.instance import Instance
from vrrpd.metricnames import (
    KEEPALIVED_COUNTERS,
    KEEPALIVED_STATE,
    KEEPALIVED_UNMAPPED,
    KEEPALIVED_UNSERVED,
    NAME_SETS,
    keepalived_intf,
    keepalived_ip,
    serves,
    summed,
    timestamp,
)
from vrrpd.reload import Action, plan

# --- left_master, announcements_sent ------------------------------------------------------


def test_left_master_counts_each_way_out_of_master() -> None:
    inst, t = master()
    assert inst.counters[Counter.LEFT_MASTER] == 0
    inst.advert(accepted(200), t + 1)  # preempted by a higher priority
    assert inst.state is State.BACKUP
    assert inst.counters[Counter.LEFT_MASTER] == 1
    deadline = inst.next_deadline()
    assert deadline is not None
    inst.timeout(deadline)  # master again
    inst.link("eth0", False, deadline + 1)  # FAULT
    assert inst.state is State.FAULT
    assert inst.counters[Counter.BECAME_MASTER] == 2
    assert inst.counters[Counter.LEFT_MASTER] == 2
    status = inst.status(deadline + 2, {}, None, 0.0)
    assert status.counters["left_master"] == 2


def test_left_master_not_counted_without_mastership() -> None:
    inst = Instance(cfg(priority=50), ME)
    inst.tracker.interface("eth0", True)
    inst.start(0.0)
    inst.advert(accepted(200), 0.1)
    inst.link("eth0", False, 0.2)
    assert inst.state is State.FAULT
    assert inst.counters[Counter.LEFT_MASTER] == 0


def test_announcements_sent_adds_frames() -> None:
    inst, t = master()
    inst.announced(5)
    inst.announced(0)
    inst.announced(2)
    assert inst.status(t, {}, None, 0.0).counters["announcements_sent"] == 7


# --- tracked objects in the status record --------------------------------------------------


def test_status_lists_tracked_objects_in_configuration_order() -> None:
    inst, t = master(
        track_interfaces=[{"interface": "up1", "weight": -60}],
        track_scripts=[{"name": "chk", "command": ["/bin/true"], "weight": -10}],
    )
    assert [(o.name, o.state) for o in inst.status(t, {}, None, 0.0).tracked] == [
        ("up1", "unknown"),
        ("chk", "unknown"),
        ("eth0", "ok"),  # the router's own interface, always tracked, last
    ]
    inst.link("up1", False, t + 1)
    inst.script_result("chk", True, "exit 0", t + 1)
    tracked = inst.status(t + 2, {}, None, 0.0).tracked
    assert tracked == (
        TrackedStatus("up1", "interface", "failing", -60, -60),
        TrackedStatus("chk", "script", "ok", -10, 0),
        TrackedStatus("eth0", "interface", "ok", None, 0),
    )


def test_status_without_configured_objects_has_its_own_link() -> None:
    inst, t = master()
    assert inst.status(t, {}, None, 0.0).tracked == (
        TrackedStatus("eth0", "interface", "ok", None, 0),
    )
    inst.link("eth0", False, t + 1)
    assert inst.status(t + 1, {}, None, 0.0).tracked[0].state == "failing"


def test_a_reload_that_changes_tracking_shows_the_new_objects() -> None:
    inst, t = master()
    assert len(inst.status(t, {}, None, 0.0).tracked) == 1
    tracks = [{"name": "f", "path": "/nonexistent", "weight": -5}]
    inst.update(cfg(track_files=tracks), (), t + 1)
    tracked = inst.status(t + 1, {}, None, 0.0).tracked
    assert [(o.name, o.kind, o.weight) for o in tracked] == [
        ("f", "file", -5),
        ("eth0", "interface", None),
    ]


def test_tracked_round_trips_through_json() -> None:
    row = record(tracked=(TrackedStatus("chk", "script", "failing", None, 0),))
    data = row.to_json()
    assert data["tracked"] == [
        {"name": "chk", "kind": "script", "state": "failing", "weight": None, "term": 0}
    ]
    assert RouterStatus.from_json(data) == row
    older = {k: v for k, v in data.items() if k != "tracked"}  # a daemon from before
    assert RouterStatus.from_json(older).tracked == ()


# --- vrrpd.metricnames ---------------------------------------------------------------------


def test_name_sets() -> None:
    assert NAME_SETS == ("vrrpd", "keepalived", "both")
    assert serves("vrrpd", "vrrpd") and not serves("vrrpd", "keepalived")
    assert serves("keepalived", "keepalived") and not serves("keepalived", "vrrpd")
    assert serves("both", "vrrpd") and serves("both", "keepalived")


def test_keepalived_state_numbers() -> None:
    # keepalived's VRRP_STATE_INIT, _BACK, _MAST, _FAULT as the exporter passes them on.
    assert dict(KEEPALIVED_STATE) == {"INITIALIZE": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}


def test_every_counter_is_mapped_once_or_said_unserved() -> None:
    mapped = [c for cs, _ in KEEPALIVED_COUNTERS.values() for c in cs]
    assert len(mapped) == len(set(mapped))
    assert set(mapped) | set(KEEPALIVED_UNSERVED) == set(Counter)
    assert not set(mapped) & set(KEEPALIVED_UNSERVED)
    assert Counter.LEFT_MASTER in mapped and Counter.CHECKSUM_RFC5798 in KEEPALIVED_UNSERVED
    for family in KEEPALIVED_COUNTERS:
        assert family.startswith("keepalived_") and not family.endswith("_total")
    # What is not served is not also mapped.
    served = {f"{f}_total" for f in KEEPALIVED_COUNTERS}
    assert not served & set(KEEPALIVED_UNMAPPED)


@pytest.mark.parametrize(
    ("vip", "label"),
    [
        ("192.0.2.254/24", "192.0.2.254/24"),
        ("192.0.2.254/32", "192.0.2.254"),
        ("192.0.2.254", "192.0.2.254"),
        ("2001:db8::1/64", "2001:db8::1/64"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("fe80::1", "fe80::1"),
        ("not an address", "not an address"),
    ],
)
def test_keepalived_ip(vip: str, label: str) -> None:
    assert keepalived_ip(vip) == label


def test_keepalived_intf_is_the_macvlan_with_vmac() -> None:
    assert keepalived_intf(record()) == "eth0"
    assert keepalived_intf(record(vmac="vrrp4.2.51")) == "vrrp4.2.51"


def test_summed() -> None:
    row = counters(interval_mismatch=2, discard_interval=3)
    both = (Counter.INTERVAL_MISMATCH, Counter.DISCARD_INTERVAL)
    assert summed(row, both) == 5
    assert summed({"interval_mismatch": 2}, both) is None  # a missing part: no sample
    assert summed({"interval_mismatch": 2, "discard_interval": "x"}, both) is None


def test_timestamp() -> None:
    assert timestamp("1970-01-01T00:01:40.500+00:00") == 100.5
    assert timestamp(None) is None
    assert timestamp("yesterday") is None
    row = dataclasses.replace(record(), last_transition="2026-12-02T13:00:03.500+00:00")
    assert timestamp(row.last_transition) == 1796216403.5


# --- [daemon] metrics_names ----------------------------------------------------------------


def test_metrics_names_option(tmp_path: Path) -> None:
    path = write(tmp_path, ROUTER)
    assert load(path).daemon.metrics_names == "vrrpd"  # today's names by default
    for names in NAME_SETS:
        path = write(tmp_path, f'[daemon]\nmetrics_names = "{names}"\n' + ROUTER)
        assert load(path).daemon.metrics_names == names
    path = write(tmp_path, '[daemon]\nmetrics_names = "prometheus"\n' + ROUTER)
    assert problems(path) == [
        f"{path}: daemon.metrics_names: must be 'vrrpd' or 'keepalived' or 'both', got 'prometheus'"
    ]


def test_a_reload_that_changes_metrics_names_changes_only_that() -> None:
    table = {"name": "gw", "interface": "eth0", "vrid": 51, "virtual_ips": ["192.0.2.254/24"]}
    old = parse({"virtual_router": [table]}, "a.toml")
    new = parse({"daemon": {"metrics_names": "both"}, "virtual_router": [table]}, "a.toml")
    done = plan(old, new)
    assert done.daemon_changed == ("metrics_names",)
    assert done.names(Action.KEEP) == ("gw",)
