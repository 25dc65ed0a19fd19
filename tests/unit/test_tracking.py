"""Tracked objects -> effective priority and FAULT (pure), with exact `explain` texts."""

from __future__ import annotations

import json

import pytest

from vrrpd.tracking import Kind, Term, Tracker, TrackSpec

IFACE, SCRIPT, FILE = Kind.INTERFACE, Kind.SCRIPT, Kind.FILE


def iface(name: str, weight: int | None, target: str = "") -> TrackSpec:
    return TrackSpec(name, IFACE, weight, target=target)


def script(name: str, weight: int | None, rise: int = 1, fall: int = 1) -> TrackSpec:
    return TrackSpec(name, SCRIPT, weight, rise, fall, target=f"/usr/local/bin/check-{name}")


def file(name: str, weight: int | None, path: str) -> TrackSpec:
    return TrackSpec(name, FILE, weight, target=path)


def started(base: int, *specs: TrackSpec) -> Tracker:
    """A tracker whose objects have all reported OK (links up, scripts ok, files 0)."""
    t = Tracker(base, specs)
    for s in specs:
        if s.kind is IFACE:
            t.interface(s.target, True)
        elif s.kind is SCRIPT:
            t.script_result(s.name, True)
        else:
            t.file_value(s.name, 0)
    assert t.awaiting() == []
    return t


# -- TrackSpec validation ----------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0, 255, -255, 1000, True])
def test_weight_out_of_range_is_rejected(weight: int) -> None:
    with pytest.raises(ValueError, match=r"track 'up': weight must be -254\.\.254 and non-zero"):
        TrackSpec("up", IFACE, weight)


@pytest.mark.parametrize("weight", [-254, -1, 1, 254, None])
def test_weight_limits_are_accepted(weight: int | None) -> None:
    assert TrackSpec("up", IFACE, weight).weight == weight


@pytest.mark.parametrize(("rise", "fall", "key"), [(0, 1, "rise"), (1, 0, "fall"), (-2, 1, "rise")])
def test_rise_and_fall_must_be_at_least_one(rise: int, fall: int, key: str) -> None:
    with pytest.raises(ValueError, match=rf"track 'chk': {key} must be an integer >= 1"):
        TrackSpec("chk", SCRIPT, -10, rise, fall)


def test_rise_and_fall_apply_to_scripts_only() -> None:
    with pytest.raises(ValueError, match="track 'up': fall applies to scripts only, not to a"):
        TrackSpec("up", IFACE, -10, fall=3)
    with pytest.raises(ValueError, match="track 'ld': rise applies to scripts only, not to a file"):
        TrackSpec("ld", FILE, -10, rise=2)


def test_empty_name_and_bad_kind_are_rejected() -> None:
    with pytest.raises(ValueError, match="track name must be a non-empty string"):
        TrackSpec("", IFACE, -10)
    with pytest.raises(ValueError, match="kind must be one of interface, script, file"):
        TrackSpec("x", "interface", -10)  # type: ignore[arg-type]


def test_target_defaults_to_name() -> None:
    assert TrackSpec("eth1", IFACE, -10).target == "eth1"
    assert TrackSpec("uplink", IFACE, -10, target="eth1").target == "eth1"


def test_spec_is_frozen() -> None:
    spec = TrackSpec("eth1", IFACE, -10)
    with pytest.raises(AttributeError):
        spec.weight = 5  # type: ignore[misc]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="track 'x': duplicate name"):
        Tracker(100, [iface("x", -10), script("x", -20)])


@pytest.mark.parametrize("base", [0, 256, -1])
def test_base_priority_range(base: int) -> None:
    with pytest.raises(ValueError, match=r"base priority must be an integer 1\.\.255"):
        Tracker(base, [])
    t = Tracker(100, [])
    with pytest.raises(ValueError, match=r"base priority must be an integer 1\.\.255"):
        t.set_base(base)


# -- unknown names -------------------------------------------------------------------------


def test_unknown_names_raise_key_error_with_clear_message() -> None:
    t = Tracker(100, [iface("eth1", -10), script("nginx", -20), file("load", -10, "/run/load")])
    with pytest.raises(KeyError, match=r"no tracked interface named 'eth9' \(known: eth1\)"):
        t.interface("eth9", False)
    with pytest.raises(KeyError, match=r"no tracked script named 'apache' \(known: nginx\)"):
        t.script_result("apache", False)
    with pytest.raises(KeyError, match=r"no tracked file named 'x' \(known: load\)"):
        t.file_value("x", 1)
    with pytest.raises(KeyError, match="track 'nginx' is a script, not a file"):
        t.file_value("nginx", 1)
    with pytest.raises(KeyError, match="track 'load' is a file, not a script"):
        t.script_result("load", True)


def test_unknown_name_with_no_object_of_that_kind() -> None:
    with pytest.raises(KeyError, match=r"no tracked script named 'a' \(known: none\)"):
        Tracker(100, []).script_result("a", True)


def test_file_value_must_be_int_or_none() -> None:
    t = Tracker(100, [file("load", -10, "/run/load")])
    with pytest.raises(TypeError, match="track 'load': file value must be an int or None"):
        t.file_value("load", "3")  # type: ignore[arg-type]


# -- no tracking, base ---------------------------------------------------------------------


def test_no_objects() -> None:
    t = Tracker(100, [])
    assert t.effective_priority == 100
    assert not t.fault
    assert t.fault_reasons() == []
    assert t.terms() == []
    assert t.explain() == "base 100 = 100"


def test_all_ok_lists_no_terms() -> None:
    t = started(150, iface("uplink", -50, "eth1"), script("nginx", -20), file("ld", -5, "/r"))
    assert t.effective_priority == 150
    assert t.explain() == "base 150 = 150"


def test_set_base_changes_effective_and_reports_it() -> None:
    t = started(100, iface("eth1", -10))
    assert t.set_base(120) is True
    assert t.effective_priority == 120
    assert t.set_base(120) is False
    t.interface("eth1", False)
    assert t.effective_priority == 110
    assert t.set_base(150) is True
    assert t.explain() == "base 150, -10 interface eth1 down = 140"
    assert t.base_priority == 150


# -- interfaces ----------------------------------------------------------------------------


def test_interface_down_applies_weight_and_up_removes_it() -> None:
    t = started(150, iface("uplink", -50, "eth1"))
    assert t.interface("eth1", False) is True
    assert t.effective_priority == 100
    assert t.explain() == "base 150, -50 uplink eth1 down = 100"
    assert t.interface("eth1", False) is False  # no change
    assert t.interface("eth1", True) is True
    assert t.effective_priority == 150
    assert t.explain() == "base 150 = 150"
    assert t.interface("eth1", True) is False


def test_interface_by_track_name_when_no_interface_has_that_name() -> None:
    t = started(150, iface("uplink", -50, "eth1"))
    assert t.interface("uplink", False) is True
    assert t.explain() == "base 150, -50 uplink eth1 down = 100"


def test_interface_name_matches_targets_before_track_names() -> None:
    # A track named "eth0" watching eth1, and a track "lan" watching eth0.
    t = started(150, iface("eth0", -50, "eth1"), iface("lan", -20, "eth0"))
    t.interface("eth0", False)
    assert t.explain() == "base 150, -20 lan eth0 down = 130"


def test_one_interface_event_updates_every_track_watching_it() -> None:
    t = started(150, iface("a", -10, "eth1"), iface("b", None, "eth1"))
    assert t.interface("eth1", False) is True
    assert t.effective_priority == 140
    assert t.fault
    assert t.fault_reasons() == ["b eth1 down"]


def test_positive_weight_raises_priority() -> None:
    t = started(100, iface("eth1", 20))
    t.interface("eth1", False)
    assert t.effective_priority == 120
    assert t.explain() == "base 100, +20 interface eth1 down = 120"


def test_interface_fault() -> None:
    t = started(100, iface("eth0", None))
    assert t.interface("eth0", False) is True
    assert t.fault
    assert t.effective_priority == 100  # FAULT does not touch the priority
    assert t.fault_reasons() == ["interface eth0 down"]
    assert t.explain() == "base 100 = 100; FAULT: interface eth0 down"
    assert t.interface("eth0", True) is True
    assert not t.fault
    assert t.explain() == "base 100 = 100"


def test_terms_with_fault_and_weights_together() -> None:
    t = started(
        150, iface("uplink", -50, "eth1"), script("nginx", -20, fall=3), iface("eth0", None)
    )
    t.interface("eth1", False)
    for _ in range(3):
        t.script_result("nginx", False)
    t.interface("eth0", False)
    assert t.explain() == (
        "base 150, -50 uplink eth1 down, -20 script nginx failing (3/3) = 80; "
        "FAULT: interface eth0 down"
    )


# -- scripts: rise / fall ------------------------------------------------------------------


def test_fall_needs_consecutive_failures() -> None:
    t = started(100, script("nginx", -20, rise=2, fall=3))
    assert t.script_result("nginx", False) is False
    assert t.script_result("nginx", False) is False
    assert t.effective_priority == 100  # still OK after 2 of 3
    assert t.terms()[0].text == "script nginx ok (fall 2/3)"
    assert t.script_result("nginx", False) is True
    assert t.effective_priority == 80
    assert t.explain() == "base 100, -20 script nginx failing (3/3) = 80"
    # More failures change nothing and the count stays at fall.
    assert t.script_result("nginx", False) is False
    assert t.explain() == "base 100, -20 script nginx failing (3/3) = 80"


def test_rise_needs_consecutive_successes() -> None:
    t = started(100, script("nginx", -20, rise=2, fall=3))
    for _ in range(3):
        t.script_result("nginx", False)
    assert t.script_result("nginx", True) is False
    assert t.effective_priority == 80  # still failing after 1 of 2
    assert t.explain() == "base 100, -20 script nginx failing (rise 1/2) = 80"
    assert t.script_result("nginx", True) is True
    assert t.effective_priority == 100
    assert t.terms()[0].text == "script nginx ok"


def test_interleaved_results_reset_the_count() -> None:
    t = started(100, script("nginx", -20, rise=2, fall=3))
    # fail, fail, ok (reset), fail, fail: never 3 in a row -> stays OK.
    for ok in (False, False, True, False, False):
        assert t.script_result("nginx", ok) is False
    assert t.effective_priority == 100
    assert t.script_result("nginx", False) is True  # third in a row
    # ok, fail (reset), ok: never 2 in a row -> stays failing.
    for ok in (True, False, True):
        assert t.script_result("nginx", ok) is False
    assert t.effective_priority == 80
    assert t.script_result("nginx", True) is True
    assert t.effective_priority == 100


def test_rise_and_fall_of_one_follow_every_result() -> None:
    t = started(100, script("chk", -10))
    assert t.script_result("chk", False) is True
    assert t.explain() == "base 100, -10 script chk failing (1/1) = 90"
    assert t.script_result("chk", True) is True
    assert t.script_result("chk", True) is False


def test_script_fault() -> None:
    t = started(100, script("chk", None, fall=2))
    t.script_result("chk", False)
    assert not t.fault
    assert t.script_result("chk", False) is True
    assert t.fault
    assert t.fault_reasons() == ["script chk failing (2/2)"]
    assert t.explain() == "base 100 = 100; FAULT: script chk failing (2/2)"
    assert t.script_result("chk", True) is True  # rise 1
    assert not t.fault


# -- start-up: the UNKNOWN state -----------------------------------------------------------


def test_unknown_weighted_objects_do_not_move_priority() -> None:
    t = Tracker(
        100, [iface("eth1", -10), script("nginx", -20, rise=3, fall=3), file("ld", -5, "/run/load")]
    )
    assert t.effective_priority == 100
    assert not t.fault
    assert t.explain() == "base 100 = 100"
    assert t.awaiting() == ["eth1", "nginx", "ld"]
    assert [term.failing for term in t.terms()] == [False, False, False]
    assert [term.text for term in t.terms()] == [
        "interface eth1 state unknown",
        "script nginx not run yet",
        "file ld /run/load not read yet",
    ]


def test_unknown_fault_objects_hold_fault() -> None:
    t = Tracker(100, [iface("eth0", None), script("chk", None, rise=3), file("f", None, "/f")])
    assert t.fault
    assert t.fault_reasons() == [
        "interface eth0 state unknown",
        "script chk not run yet",
        "file f /f not read yet",
    ]
    assert all(term.failing for term in t.terms())
    assert t.interface("eth0", True) is False  # still FAULT (two others unknown)
    assert t.file_value("f", 0) is False
    # The first script result decides at once, whatever rise says.
    assert t.script_result("chk", True) is True
    assert not t.fault
    assert t.awaiting() == []


def test_first_script_failure_decides_at_once() -> None:
    t = Tracker(100, [script("nginx", -20, rise=2, fall=3)])
    assert t.script_result("nginx", False) is True
    assert t.explain() == "base 100, -20 script nginx failing (1/3) = 80"
    # Then ordinary debounce: rise 2.
    assert t.script_result("nginx", True) is False
    assert t.script_result("nginx", True) is True


def test_first_script_success_decides_at_once_then_fall_applies() -> None:
    t = Tracker(100, [script("nginx", -20, rise=3, fall=2)])
    assert t.script_result("nginx", True) is False  # priority was not moved while unknown
    assert t.awaiting() == []
    assert t.script_result("nginx", False) is False
    assert t.script_result("nginx", False) is True


def test_first_interface_down_applies_weight() -> None:
    t = Tracker(100, [iface("eth1", -10)])
    assert t.interface("eth1", False) is True
    assert t.effective_priority == 90


# -- files ---------------------------------------------------------------------------------


def test_file_value_times_weight() -> None:
    t = started(100, file("load", -10, "/run/load"))
    assert t.file_value("load", 3) is True
    assert t.effective_priority == 70
    assert t.explain() == "base 100, -30 file load /run/load = 3 x -10 = 70"
    assert t.file_value("load", 3) is False
    assert t.file_value("load", -2) is True
    assert t.explain() == "base 100, +20 file load /run/load = -2 x -10 = 120"
    assert t.file_value("load", 0) is True
    assert t.explain() == "base 100 = 100"


def test_unreadable_file_counts_as_one() -> None:
    t = started(100, file("load", -10, "/run/load"))
    assert t.file_value("load", None) is True
    assert t.effective_priority == 90
    assert t.explain() == "base 100, -10 file load /run/load unreadable (as 1 x -10) = 90"
    assert t.terms()[0].failing
    # Value 1 gives the same priority: nothing changed for the state machine.
    assert t.file_value("load", 1) is False
    assert t.explain() == "base 100, -10 file load /run/load = 1 x -10 = 90"


def test_file_fault_while_non_zero_or_unreadable() -> None:
    t = started(100, file("maint", None, "/etc/maint"))
    assert t.file_value("maint", 1) is True
    assert t.fault_reasons() == ["file maint /etc/maint = 1"]
    assert t.explain() == "base 100 = 100; FAULT: file maint /etc/maint = 1"
    assert t.file_value("maint", -7) is False
    assert t.fault_reasons() == ["file maint /etc/maint = -7"]
    assert t.file_value("maint", 0) is True
    assert not t.fault
    assert t.file_value("maint", None) is True
    assert t.fault_reasons() == ["file maint /etc/maint unreadable"]


def test_large_file_values_are_clamped() -> None:
    t = started(100, file("load", 254, "/run/load"))
    t.file_value("load", 10**6)
    assert t.effective_priority == 254
    assert t.explain().endswith(f"= {100 + 254 * 10**6}, clamped to 254")


# -- clamping ------------------------------------------------------------------------------


def test_clamped_to_one() -> None:
    t = started(50, iface("eth1", -60))
    assert t.interface("eth1", False) is True
    assert t.effective_priority == 1
    assert t.explain() == "base 50, -60 interface eth1 down = -10, clamped to 1"


def test_clamped_to_254() -> None:
    t = started(250, iface("eth1", 10))
    t.interface("eth1", False)
    assert t.effective_priority == 254
    assert t.explain() == "base 250, +10 interface eth1 down = 260, clamped to 254"


def test_exactly_at_the_limits_is_not_clamped() -> None:
    t = started(11, iface("eth1", -10))
    t.interface("eth1", False)
    assert t.explain() == "base 11, -10 interface eth1 down = 1"
    t = started(244, iface("eth1", 10))
    t.interface("eth1", False)
    assert t.explain() == "base 244, +10 interface eth1 down = 254"


def test_change_inside_the_clamp_is_not_reported() -> None:
    t = started(50, iface("a", -100), iface("b", -100))
    assert t.interface("a", False) is True  # 50 -> 1
    assert t.interface("b", False) is False  # -50 -> -150: still 1
    assert t.interface("b", True) is False
    assert t.interface("a", True) is True


def test_clamp_and_fault_together() -> None:
    t = started(50, iface("eth1", -60), iface("eth0", None))
    t.interface("eth1", False)
    t.interface("eth0", False)
    assert t.explain() == (
        "base 50, -60 interface eth1 down = -10, clamped to 1; FAULT: interface eth0 down"
    )


def test_base_254_unmoved_by_up_objects() -> None:
    assert started(254, iface("eth1", 10)).effective_priority == 254


# -- owner ---------------------------------------------------------------------------------


def test_owner_is_never_moved_by_weights() -> None:
    t = started(255, iface("eth1", -50), script("chk", -100), file("f", 20, "/f"))
    assert t.owner
    assert t.interface("eth1", False) is False
    assert t.script_result("chk", False) is False
    assert t.file_value("f", 5) is False
    assert t.effective_priority == 255
    assert t.explain() == "base 255 (owner: weights do not apply) = 255"
    # The terms are still computed (for display), just not applied.
    assert [term.value for term in t.terms()] == [-50, -100, 100]


def test_owner_fault_still_applies() -> None:
    t = started(255, iface("eth0", None))
    assert t.interface("eth0", False) is True
    assert t.fault
    assert t.explain() == (
        "base 255 (owner: weights do not apply) = 255; FAULT: interface eth0 down"
    )


def test_becoming_owner_and_back() -> None:
    t = started(100, iface("eth1", -50))
    t.interface("eth1", False)
    assert t.set_base(255) is True
    assert t.effective_priority == 255
    assert t.set_base(200) is True
    assert t.effective_priority == 150


# -- terms and snapshot --------------------------------------------------------------------


def test_terms() -> None:
    t = started(100, iface("uplink", -50, "eth1"), script("chk", None), file("ld", -10, "/l"))
    t.interface("eth1", False)
    t.file_value("ld", 2)
    assert t.terms() == [
        Term("uplink", IFACE, -50, "uplink eth1 down", True),
        Term("chk", SCRIPT, 0, "script chk ok", False),
        Term("ld", FILE, -20, "file ld /l = 2 x -10", True),
    ]


def test_snapshot_is_json_friendly() -> None:
    t = started(150, iface("uplink", -50, "eth1"), script("chk", None, fall=2))
    t.interface("eth1", False)
    t.script_result("chk", False)
    t.script_result("chk", False)
    snap = t.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    assert snap == {
        "base": 150,
        "effective": 100,
        "fault": True,
        "fault_reasons": ["script chk failing (2/2)"],
        "explain": "base 150, -50 uplink eth1 down = 100; FAULT: script chk failing (2/2)",
        "objects": [
            {
                "name": "uplink",
                "kind": "interface",
                "target": "eth1",
                "state": "failing",
                "weight": -50,
                "term": -50,
                "detail": "uplink eth1 down",
            },
            {
                "name": "chk",
                "kind": "script",
                "target": "/usr/local/bin/check-chk",
                "state": "failing",
                "weight": None,
                "term": 0,
                "detail": "script chk failing (2/2)",
            },
        ],
    }


def test_snapshot_unknown_state() -> None:
    objects = Tracker(100, [script("chk", -10)]).snapshot()["objects"]
    assert isinstance(objects, list)
    assert objects[0]["state"] == "unknown"
