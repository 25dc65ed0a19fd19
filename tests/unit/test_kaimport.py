"""keepalived.conf -> vrrpd: the traps, one test each, and the realistic configurations of
tests/data/keepalived (converted in-process, checked by vrrpd's own validation)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vrrpd import kaconf, kaimport
from vrrpd.config import parse

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): \S")


def convert(text: str, name: str = "keepalived.conf") -> kaimport.Imported:
    parsed = kaconf.parse_text(textwrap.dedent(text), name)
    result = kaimport.convert(parsed, resolve=lambda prog: f"/usr/bin/{prog}")
    check(result)
    return result


def check(result: kaimport.Imported) -> None:
    """Every report line cites FILE:LINE; the document passes vrrpd's validation untouched."""
    for line in result.report:
        assert LINE.match(line), line
        assert "vrrpd would refuse" not in line, line
    if result.doc["virtual_router"]:
        parse(result.doc, "imported")


def router(result: kaimport.Imported, i: int = 0) -> dict[str, Any]:
    vr: dict[str, Any] = result.doc["virtual_router"][i]
    return vr


def said(result: kaimport.Imported, *needles: str) -> list[str]:
    """The report lines that contain every needle."""
    return [r for r in result.report if all(n in r for n in needles)]


def instance(body: str, head: str = "", name: str = "VI_1") -> str:
    """A keepalived file: `head` (global_defs, vrrp_script ...) then one instance."""
    return f"""{head}
vrrp_instance {name} {{
    interface eth0
    virtual_router_id 51
{textwrap.indent(textwrap.dedent(body), "    ")}
}}
"""


VIP = """
virtual_ipaddress {
    192.0.2.254/24
}
"""


# --- VRRPv2 by default -------------------------------------------------------------------


def test_keepalived_defaults_to_v2_and_the_version_is_always_emitted() -> None:
    r = convert(instance("priority 100\n" + VIP))
    assert router(r)["version"] == 2
    assert r.faithful, r.report


def test_global_vrrp_version_3() -> None:
    r = convert(instance(VIP, head="global_defs {\n vrrp_version 3\n}"))
    assert router(r)["version"] == 3


def test_instance_version_beats_the_global_one() -> None:
    r = convert(instance("version 2\n" + VIP, head="global_defs {\n vrrp_version 3\n}"))
    assert router(r)["version"] == 2


def test_ipv6_is_v3_even_when_v2_is_the_global_default() -> None:
    r = convert(instance("virtual_ipaddress {\n fe80::1/64\n 2001:db8::1/64\n}"))
    assert router(r)["version"] == 3
    assert r.faithful, r.report


def test_ipv6_with_version_2_is_emitted_as_3_and_reported() -> None:
    r = convert(instance("version 2\nvirtual_ipaddress {\n fe80::1/64\n 2001:db8::1/64\n}"))
    assert router(r)["version"] == 3
    assert said(r, "keepalived.conf:5:", "IPv6 needs VRRPv3")


def test_v2_advert_int_is_rounded_to_whole_seconds_and_reported() -> None:
    r = convert(instance("advert_int 1.5\n" + VIP))
    assert router(r)["advert_interval"] == 2
    assert said(r, "advert_int 1.5", "whole seconds")


def test_v3_advert_int_keeps_centiseconds() -> None:
    r = convert(instance("version 3\nadvert_int 0.25\n" + VIP))
    assert router(r)["advert_interval"] == 0.25
    assert r.faithful, r.report


# --- weights -----------------------------------------------------------------------------

SCRIPT = """
global_defs {{
    script_user nobody
    enable_script_security
}}
vrrp_script chk {{
    script "/usr/local/bin/chk"
    interval 2
    {extra}
}}
"""


def tracked(weight_line: str, track_line: str = "chk", priority: int = 100) -> dict[str, Any]:
    r = convert(
        instance(
            f"priority {priority}\n{VIP}\ntrack_script {{\n {track_line}\n}}",
            head=SCRIPT.format(extra=weight_line),
        )
    )
    return router(r)


def test_positive_weight_is_base_plus_w_with_weight_minus_w() -> None:
    vr = tracked("weight 10")
    assert vr["priority"] == 110
    assert vr["track_scripts"][0]["weight"] == -10


def test_negative_weight_maps_directly() -> None:
    vr = tracked("weight -20")
    assert vr["priority"] == 100
    assert vr["track_scripts"][0]["weight"] == -20


def test_no_weight_is_fault() -> None:
    vr = tracked("")
    assert vr["priority"] == 100
    assert "weight" not in vr["track_scripts"][0]


def test_weight_zero_is_fault() -> None:
    assert "weight" not in tracked("weight 0")["track_scripts"][0]


def test_positive_weight_reverse_subtracts_while_up() -> None:
    vr = tracked("weight 5 reverse")
    assert (vr["priority"], vr["track_scripts"][0]["weight"]) == (95, 5)


def test_negative_weight_reverse_adds_while_down() -> None:
    vr = tracked("weight -5 reverse")
    assert (vr["priority"], vr["track_scripts"][0]["weight"]) == (100, 5)


def test_track_script_weight_overrides_the_scripts() -> None:
    vr = tracked("weight -5", track_line="chk weight 7")
    assert (vr["priority"], vr["track_scripts"][0]["weight"]) == (107, -7)


def test_track_script_noreverse_overrides_a_reversed_script() -> None:
    vr = tracked("weight 5 reverse", track_line="chk weight 5 noreverse")
    assert (vr["priority"], vr["track_scripts"][0]["weight"]) == (105, -5)


def test_weight_zero_reverse_is_dropped_and_reported() -> None:
    r = convert(
        instance(f"{VIP}\ntrack_script {{\n chk\n}}", head=SCRIPT.format(extra="weight 0 reverse"))
    )
    assert "track_scripts" not in router(r)
    assert said(r, "track_script chk", "weight 0 reverse")


def test_positive_weights_clamped_below_the_owner_priority() -> None:
    r = convert(
        instance(
            f"priority 200\n{VIP}\ntrack_script {{\n chk\n}}\n"
            "track_interface {\n eth1 weight 50\n}",
            head=SCRIPT.format(extra="weight 100"),
        )
    )
    vr = router(r)
    assert vr["priority"] == 254  # never 255: vrrpd would take that as the address owner
    assert said(r, "priority 200", "is 350, clamped to 254")


def test_reverse_weights_clamped_at_priority_1() -> None:
    r = convert(
        instance(
            f"priority 10\n{VIP}\ntrack_script {{\n chk\n}}",
            head=SCRIPT.format(extra="weight 50 reverse"),
        )
    )
    assert router(r)["priority"] == 1
    assert said(r, "clamped to 1")


def test_positive_weight_initial_state_difference_is_reported() -> None:
    r = convert(
        instance(f"{VIP}\ntrack_script {{\n chk\n}}", head=SCRIPT.format(extra="weight 10"))
    )
    assert said(r, "track_script chk", "first result", "neither way", "+10")


def test_negative_weight_starts_the_same_in_both() -> None:
    r = convert(
        instance(f"{VIP}\ntrack_script {{\n chk\n}}", head=SCRIPT.format(extra="weight -10"))
    )
    assert r.faithful, r.report


def test_init_fail_is_reported() -> None:
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n chk\n}}", head=SCRIPT.format(extra="weight -10\ninit_fail")
        )
    )
    assert said(r, "track_script chk: init_fail", "failed (-10)", "up (+0)")


def test_unweighted_init_fail_with_rise_is_reported() -> None:
    r = convert(
        instance(f"{VIP}\ntrack_script {{\n chk\n}}", head=SCRIPT.format(extra="init_fail\nrise 3"))
    )
    assert said(r, "init_fail with rise 3")


def test_track_interface_weights() -> None:
    r = convert(
        instance(
            f"priority 100\n{VIP}\ntrack_interface {{\n eth1 weight 20\n eth2 weight -30\n eth3\n}}"
        )
    )
    vr = router(r)
    assert vr["priority"] == 120
    got = {t["interface"]: t.get("weight") for t in vr["track_interfaces"]}
    assert got == {"eth1": -20, "eth2": -30, "eth3": None}
    assert r.faithful, r.report


def test_track_file_weight_is_value_times_weight() -> None:
    head = "vrrp_track_file f1 {\n file /run/f1\n weight -3\n}\ntrack_file f2 {\n file /run/f2\n}"
    r = convert(instance(f"{VIP}\ntrack_file {{\n f1\n f2 weight 4 reverse\n}}", head=head))
    files = {t["name"]: t for t in router(r)["track_files"]}
    assert files["f1"] == {"name": "f1", "path": "/run/f1", "weight": -3}
    assert files["f2"]["weight"] == -4


def test_sync_group_member_weights_follow_keepalived() -> None:
    head = SCRIPT.format(extra="weight 10") + "vrrp_track_file f {\n file /run/f\n}"
    text = (
        "vrrp_sync_group g {\n group {\n VI_1\n VI_2\n }\n}\n"
        + instance(
            f"priority 100\n{VIP}\ntrack_script {{\n chk\n}}\n"
            "track_interface {\n eth1 weight 20\n}\ntrack_file {\n f\n}",
            head=head,
        )
        + instance("virtual_ipaddress {\n 198.51.100.1/24\n}", name="VI_2").replace(
            "virtual_router_id 51", "virtual_router_id 52"
        )
    )
    r = convert(text)
    vr = router(r)
    assert vr["priority"] == 100
    assert "track_scripts" not in vr  # keepalived drops weighted scripts of a member
    assert vr["track_interfaces"] == [{"name": "eth1", "interface": "eth1"}]  # FAULT only
    assert vr["track_files"] == [{"name": "f", "path": "/run/f"}]  # default weight -> FAULT
    assert said(r, "track_script chk: dropped", "sync group")
    assert r.doc["sync_group"] == [{"name": "g", "members": ["VI_1", "VI_2"]}]


def test_owner_drops_weighted_tracking() -> None:
    r = convert(instance(f"priority 255\n{VIP}\ntrack_interface {{\n eth1 weight 20\n eth2\n}}"))
    vr = router(r)
    assert vr["priority"] == 255
    assert vr["track_interfaces"] == [{"name": "eth2", "interface": "eth2"}]
    assert said(r, "track_interface eth1: dropped", "priority 255")


# --- state and preemption ----------------------------------------------------------------


def test_state_master_forces_nothing_and_is_reported() -> None:
    r = convert(instance("state MASTER\npriority 150\n" + VIP))
    vr = router(r)
    assert vr["priority"] == 150 and vr["preempt"] is True
    assert "state" not in vr
    assert said(r, "keepalived.conf:5: state MASTER: not emitted")


def test_state_master_without_priority_is_the_owner() -> None:
    r = convert(instance("state MASTER\n" + VIP))
    assert router(r)["priority"] == 255
    assert said(r, "state MASTER without priority", "255")


def test_state_backup_is_silent() -> None:
    r = convert(instance("state BACKUP\n" + VIP))
    assert r.faithful, r.report


def test_nopreempt_with_state_backup() -> None:
    r = convert(instance("state BACKUP\nnopreempt\n" + VIP))
    assert router(r)["preempt"] is False
    assert r.faithful, r.report


def test_nopreempt_without_state_is_backup_too() -> None:
    assert router(convert(instance("nopreempt\n" + VIP)))["preempt"] is False


def test_nopreempt_with_state_master_is_cleared_as_keepalived_does() -> None:
    r = convert(instance("state MASTER\npriority 100\nnopreempt\n" + VIP))
    assert router(r)["preempt"] is True
    assert said(r, "nopreempt", "state MASTER", "state BACKUP")


def test_preempt_delay_kept_and_cleared_with_nopreempt() -> None:
    r = convert(instance("preempt_delay 30\n" + VIP))
    assert router(r)["preempt_delay"] == 30
    r = convert(instance("nopreempt\npreempt_delay 30\n" + VIP))
    assert "preempt_delay" not in router(r)
    assert said(r, "preempt_delay", "nopreempt")


# --- vrrp_strict ---------------------------------------------------------------------------

STRICT = "global_defs {\n vrrp_strict\n}"


def test_strict_means_no_accept_mode() -> None:
    r = convert(instance("priority 100\n" + VIP, head=STRICT))
    assert router(r)["accept_mode"] is False


def test_strict_owner_accepts() -> None:
    assert router(convert(instance("priority 255\n" + VIP, head=STRICT)))["accept_mode"] is True


def test_accept_is_the_default_without_strict() -> None:
    assert router(convert(instance(VIP)))["accept_mode"] is True
    assert router(convert(instance("no_accept\n" + VIP)))["accept_mode"] is False


def test_strict_v2_accept_is_reset() -> None:
    r = convert(instance("accept\n" + VIP, head=STRICT))
    assert router(r)["accept_mode"] is False
    assert said(r, "accept", "VRRPv2", "vrrp_strict")


def test_strict_refuses_authentication() -> None:
    r = convert(
        instance("authentication {\n auth_type PASS\n auth_pass secret\n}\n" + VIP, head=STRICT)
    )
    assert "auth_pass" not in router(r)
    assert said(r, "authentication: ignored", "vrrp_strict")


def test_strict_refuses_unicast() -> None:
    r = convert(
        instance("unicast_peer {\n 192.0.2.2\n}\n" + VIP, head=STRICT)
        + instance("virtual_ipaddress {\n 198.51.100.1\n}", name="other")
    )
    assert [vr["name"] for vr in r.doc["virtual_router"]] == ["other"]
    assert said(r, "VI_1: dropped", "vrrp_strict refuses unicast_peer")


def test_strict_mode_per_instance() -> None:
    r = convert(instance("strict_mode on\n" + VIP))
    assert router(r)["accept_mode"] is False


# --- authentication ------------------------------------------------------------------------


def test_pass_authentication_v2() -> None:
    r = convert(instance("authentication {\n auth_type PASS\n auth_pass 1111\n}\n" + VIP))
    assert router(r)["auth_pass"] == "1111"
    assert r.faithful, r.report


def test_auth_pass_longer_than_8_is_cut_as_keepalived_does() -> None:
    r = convert(instance("authentication {\n auth_type PASS\n auth_pass 0123456789\n}\n" + VIP))
    assert router(r)["auth_pass"] == "01234567"
    assert said(r, "first 8 characters")


def test_ah_is_an_error_line() -> None:
    r = convert(instance("authentication {\n auth_type AH\n auth_pass 1111\n}\n" + VIP))
    assert "auth_pass" not in router(r)
    assert said(r, "keepalived.conf:6: auth_type AH: not supported")


def test_v3_authentication_ignored_as_keepalived_does() -> None:
    r = convert(
        instance("version 3\nauthentication {\n auth_type PASS\n auth_pass 1111\n}\n" + VIP)
    )
    assert "auth_pass" not in router(r)
    assert said(r, "ignored", "VRRPv3")


# --- scripts -------------------------------------------------------------------------------


def test_split_command_honours_quotes() -> None:
    assert kaimport.split_command("\"/usr/bin/check --x 'a b'\"") == (
        ["/usr/bin/check", "--x", "a b"],
        [],
    )
    assert kaimport.split_command("/usr/bin/notify.sh user group") == (
        ["/usr/bin/notify.sh"],
        ["user", "group"],
    )


def test_script_becomes_an_argv_without_shell() -> None:
    vr = tracked("", track_line="chk").copy()
    assert vr["track_scripts"][0]["command"] == ["/usr/local/bin/chk"]
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n c\n}}",
            head="vrrp_script c {\n script \"/usr/bin/check --x 'a b'\"\n}",
        )
    )
    assert router(r)["track_scripts"][0]["command"] == ["/usr/bin/check", "--x", "a b"]


def test_shell_syntax_is_reported_and_passed_as_words() -> None:
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n c\n}}",
            head='vrrp_script c {\n script "/usr/bin/pidof haproxy || exit 1"\n}',
        )
    )
    assert router(r)["track_scripts"][0]["command"] == [
        "/usr/bin/pidof",
        "haproxy",
        "||",
        "exit",
        "1",
    ]
    assert said(r, "keepalived.conf:2:", "looks like shell syntax", "/bin/sh")


def test_program_without_path_is_resolved_and_reported() -> None:
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n c\n}}", head='vrrp_script c {\n script "killall -0 x"\n}'
        )
    )
    assert router(r)["track_scripts"][0]["command"] == ["/usr/bin/killall", "-0", "x"]
    assert said(r, "'killall' resolved to /usr/bin/killall")


def test_unquoted_script_words_after_the_first_are_dropped_like_keepalived() -> None:
    r = convert(
        instance(f"{VIP}\ntrack_script {{\n c\n}}", head="vrrp_script c {\n script /bin/x arg\n}")
    )
    assert router(r)["track_scripts"][0]["command"] == ["/bin/x"]
    assert said(r, "arg ignored", "first word")


def test_timeout_longer_than_interval_is_capped() -> None:
    vr = tracked("timeout 10")
    assert vr["track_scripts"][0]["timeout"] == 2


def test_unknown_track_script_is_reported() -> None:
    r = convert(instance(f"{VIP}\ntrack_script {{\n nope\n}}"))
    assert "track_scripts" not in router(r)
    assert said(r, "track_script nope: dropped")


# --- notify --------------------------------------------------------------------------------


def test_notify_scripts_become_hooks() -> None:
    r = convert(
        instance(
            VIP + 'notify_master "/usr/local/bin/up gw"\nnotify_backup /usr/local/bin/down\n'
            "notify_fault /usr/local/bin/fault\nnotify_stop /usr/local/bin/stop\n"
        )
    )
    vr = router(r)
    assert vr["on_master"] == ["/usr/local/bin/up", "gw"]
    assert vr["on_backup"] == ["/usr/local/bin/down"]
    assert vr["on_fault"] == ["/usr/local/bin/fault"]
    assert vr["on_stop"] == ["/usr/local/bin/stop"]


def test_notify_also_runs_at_stop_in_keepalived() -> None:
    r = convert(instance("priority 90\n" + VIP + "notify /usr/local/bin/n\n"))
    vr = router(r)
    assert vr["notify"] == ["/usr/local/bin/n"]
    assert vr["on_stop"] == ["/usr/local/bin/n", "INSTANCE", "VI_1", "STOP", "90"]
    assert said(r, "STOP")


def test_notify_user_is_reported() -> None:
    r = convert(instance(VIP + "notify_master /usr/local/bin/up root\n"))
    assert router(r)["on_master"] == ["/usr/local/bin/up"]
    assert said(r, "notify_master: user root ignored")


# --- gratuitous ARP --------------------------------------------------------------------------


def test_second_garp_burst_after_5_s_by_default() -> None:
    vr = router(convert(instance(VIP)))
    assert (vr["garp_repeat"], vr["garp_delay"]) == (5, 5)


def test_garp_master_delay_and_repeat() -> None:
    vr = router(convert(instance("garp_master_delay 10\ngarp_master_repeat 3\n" + VIP)))
    assert (vr["garp_repeat"], vr["garp_delay"]) == (3, 10)


def test_global_garp_settings_and_vrrp_min_garp() -> None:
    head = "global_defs {\n vrrp_garp_master_delay 0\n vrrp_garp_master_refresh 60\n}"
    vr = router(convert(instance(VIP, head=head)))
    assert (vr["garp_delay"], vr["garp_refresh"]) == (0, 60)
    vr = router(convert(instance(VIP, head="global_defs {\n vrrp_min_garp\n}")))
    assert (vr["garp_repeat"], vr["garp_delay"]) == (1, 0)


def test_instance_garp_beats_global() -> None:
    head = "global_defs {\n vrrp_garp_master_delay 1\n}"
    assert router(convert(instance("garp_master_delay 2\n" + VIP, head=head)))["garp_delay"] == 2


# --- addresses -------------------------------------------------------------------------------


def test_addresses_with_and_without_prefix_dev_and_label() -> None:
    r = convert(
        instance(
            "virtual_ipaddress {\n 192.0.2.1\n 192.0.2.2/24 dev eth0\n"
            " 192.0.2.3/24 dev eth1 label eth1:3\n}"
        )
    )
    assert router(r)["virtual_ips"] == ["192.0.2.1", "192.0.2.2/24", "192.0.2.3/24"]
    assert said(r, "192.0.2.3/24 dev eth1", "router's interface (eth0)")
    assert said(r, "label eth1:3: ignored")
    assert not said(r, "192.0.2.2/24 dev eth0")  # the router's own interface: nothing differs


def test_address_range() -> None:
    r = convert(instance("virtual_ipaddress {\n 192.0.2.10-12/24\n}"))
    assert router(r)["virtual_ips"] == ["192.0.2.10/24", "192.0.2.11/24", "192.0.2.12/24"]


def test_excluded_addresses_are_advertised_and_reported() -> None:
    r = convert(
        instance(VIP + "virtual_ipaddress_excluded {\n 192.0.2.200/24\n 2001:db8::200/64\n}")
    )
    assert router(r)["virtual_ips"] == ["192.0.2.254/24", "192.0.2.200/24"]
    assert said(r, "virtual_ipaddress_excluded: added to virtual_ips", "drops adverts")
    assert said(r, "2001:db8::200/64: dropped", "one family")


def test_duplicate_address_emitted_once() -> None:
    r = convert(instance("virtual_ipaddress {\n 192.0.2.1\n 192.0.2.1 label eth0:1\n}"))
    assert router(r)["virtual_ips"] == ["192.0.2.1"]
    assert said(r, "listed twice")


def test_ipv6_without_link_local_is_reported() -> None:
    r = convert(instance("virtual_ipaddress {\n 2001:db8::1/64\n}"))
    assert said(r, "no link-local", "fe80::200:5eff:fe00:233")


# --- unicast, vmac, names ------------------------------------------------------------------------


def test_unicast_peers_and_source() -> None:
    r = convert(
        instance(VIP + "unicast_src_ip 192.0.2.1\nunicast_peer {\n 192.0.2.2\n 192.0.2.3\n}")
    )
    vr = router(r)
    assert vr["unicast_peers"] == ["192.0.2.2", "192.0.2.3"]
    assert vr["unicast_source"] == "192.0.2.1"
    assert r.faithful, r.report


def test_use_vmac() -> None:
    r = convert(instance("use_vmac\n" + VIP))
    assert router(r)["use_vmac"] is True
    assert r.faithful, r.report
    r = convert(instance("use_vmac vrrp.51\n" + VIP))
    assert said(r, "use_vmac vrrp.51", "not used")


def test_instance_name_that_vrrpd_cannot_use_is_derived_and_reported() -> None:
    r = convert(instance(VIP, name='"web front/1"'))
    assert router(r)["name"] == "web_front_1"
    assert said(r, "named 'web_front_1'")


def test_every_unknown_keyword_is_reported_with_its_line() -> None:
    r = convert(
        "global_defs {\n router_id x\n frobnicate 1\n}\n"
        + instance(VIP + "mystery_option on\n")
        + "net_namespace blue\n"
    )
    assert said(r, "keepalived.conf:2: router_id: ignored")
    assert said(r, "keepalived.conf:3: frobnicate: ignored")
    assert said(r, "mystery_option: ignored")
    assert said(r, "keepalived.conf:16: net_namespace: ignored", "ip netns exec")


# --- sync groups -----------------------------------------------------------------------------


def test_one_member_sync_group_is_dropped_and_reported() -> None:
    r = convert("vrrp_sync_group g {\n group {\n VI_1\n }\n}\n" + instance(VIP))
    assert "sync_group" not in r.doc
    assert said(r, "vrrp_sync_group g: dropped (1 member")


# --- the realistic configurations -----------------------------------------------------------


def load(name: str) -> kaimport.Imported:
    result = kaimport.convert(kaconf.load(str(DATA / name)), resolve=lambda p: f"/usr/bin/{p}")
    check(result)
    return result


def test_active_standby_pair() -> None:
    master, backup = load("ab-master.conf"), load("ab-backup.conf")
    m, b = router(master), router(backup)
    # keepalived: 101 + 2 / 100 + 2 while haproxy runs, 101 / 100 when it fails
    assert (m["priority"], b["priority"]) == (103, 102)
    assert m["track_scripts"][0]["weight"] == b["track_scripts"][0]["weight"] == -2
    assert m["track_scripts"][0]["command"] == ["/usr/bin/pgrep", "-x", "haproxy"]
    for vr in (m, b):
        assert (vr["version"], vr["auth_pass"], vr["vrid"]) == (2, "s3cret", 51)
        assert vr["virtual_ips"] == ["192.0.2.100/24"]
    assert master.doc["daemon"] == {"script_user": "nobody"}
    assert said(master, "state MASTER: not emitted")
    assert not said(backup, "state")


def test_unicast_pair_is_faithful() -> None:
    r = load("unicast.conf")
    vr = router(r)
    assert vr["unicast_peers"] == ["192.0.2.12"] and vr["unicast_source"] == "192.0.2.11"
    assert (vr["version"], vr["advert_interval"], vr["preempt"]) == (3, 0.5, False)
    assert r.faithful, r.report


def test_sync_group_with_notify_scripts() -> None:
    r = load("sync-group.conf")
    (group,) = r.doc["sync_group"]
    assert group["members"] == ["inside", "outside"]
    assert group["on_master"] == ["/usr/local/sbin/fw-state", "master"]
    assert group["notify"] == ["/usr/local/sbin/fw-notify"]
    inside, outside = router(r, 0), router(r, 1)
    assert inside["track_interfaces"] == [{"name": "eth2", "interface": "eth2"}]
    assert inside["on_master"] == ["/usr/local/sbin/inside-up"]
    assert outside["notify"] == ["/usr/local/sbin/notify-all", "--verbose"]


def test_weighted_scripts() -> None:
    r = load("weights.conf")
    vr = router(r)
    # 100 + 10 (up10 up) + 30 (eth1 up) - 5 (rev5 up)
    assert vr["priority"] == 135
    weights = {t["name"]: t.get("weight") for t in vr["track_scripts"]}
    assert weights == {"up10": -10, "down20": -20, "rev5": 5, "must": None}
    assert vr["track_scripts"][0]["command"] == [
        "/usr/local/bin/check-service",
        "--name",
        "web front",
    ]
    assert vr["track_interfaces"][0]["weight"] == -30
    assert vr["track_files"][0]["weight"] == -3


def test_ipv6_v3() -> None:
    r = load("ipv6.conf")
    assert [vr["version"] for vr in r.doc["virtual_router"]] == [3, 3]
    assert router(r)["virtual_ips"] == ["fe80::200:5eff:fe00:250/64", "2001:db8::80/64"]
    assert len(said(r, "no link-local")) == 1  # only svc6 lacks one


def test_include_of_a_second_file() -> None:
    r = load("include-main.conf")
    vr = router(r)
    assert (vr["name"], vr["version"]) == ("web", 3)  # the main file's global_defs apply
    assert said(r, "10-web.conf:8: bogus_keyword: ignored")


def test_comments_and_quotes() -> None:
    r = load("comments.conf")
    vr = router(r)
    assert vr["track_scripts"][0]["command"] == ["/usr/local/bin/check", "--pattern", "a b", "c d"]
    assert vr["track_scripts"][0]["name"] == "quoted_name"
    assert vr["on_master"] == ["/usr/local/bin/say", "#1", "up"]
    assert vr["virtual_ips"] == ["203.0.113.99/24"]


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.conf")))
def test_every_data_file_converts(name: str) -> None:
    assert load(name).doc["virtual_router"]


def test_script_interval_in_whole_seconds_as_keepalived_reads_it() -> None:
    vr = tracked("")
    assert vr["track_scripts"][0]["interval"] == 2
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n c\n}}",
            head="vrrp_script c {\n script /bin/x\n interval 2.5\n}",
        )
    )
    assert router(r)["track_scripts"][0]["interval"] == 1  # keepalived ignores 2.5: 1 s
    assert said(r, "interval: ignored", "whole seconds")


def test_strict_differences_are_reported_once() -> None:
    r = convert(instance(VIP, head=STRICT) + instance(VIP.replace("254", "253"), name="b"))
    assert len(said(r, "keepalived.conf:2: vrrp_strict:", "lower-priority master")) == 1


def test_auth_pass_without_auth_type_authenticates_nothing() -> None:
    r = convert(instance("authentication {\n auth_pass 1111\n}\n" + VIP))
    assert "auth_pass" not in router(r)
    assert said(r, "no auth_type")


def test_empty_script_argument_and_odd_interface_names() -> None:
    r = convert(
        instance(
            f"{VIP}\ntrack_script {{\n c\n}}\ntrack_interface {{\n eth0:1\n}}",
            head="vrrp_script c {\n script \"/bin/x '' y\"\n}",
        )
    )
    vr = router(r)
    assert vr["track_scripts"][0]["command"] == ["/bin/x", "y"]
    assert "track_interfaces" not in vr
    assert said(r, "empty arguments dropped")
    assert said(r, "track_interface eth0:1: dropped")


def test_conditional_lines_and_parameters() -> None:
    text = instance("@high priority 200\n@^high priority 50\n$P=7\nadvert_int $P\n" + VIP).replace(
        "virtual_router_id 51", "virtual_router_id ${VRID}"
    )
    text = "$VRID=61\n" + text
    high = kaconf.parse_text(text, "k.conf", config_id="high")
    vr = kaimport.convert(high).doc["virtual_router"][0]
    assert (vr["vrid"], vr["priority"], vr["advert_interval"]) == (61, 200, 7)
    low = kaimport.convert(kaconf.parse_text(text, "k.conf", config_id="low"))
    assert low.doc["virtual_router"][0]["priority"] == 50
    unknown = kaimport.convert(kaconf.parse_text(text, "k.conf"))
    assert unknown.doc["virtual_router"][0]["priority"] == 100
    assert len([r for r in unknown.report if "give --config-id" in r]) == 2


def test_line_continuation_and_brace_on_one_line() -> None:
    r = convert(instance("priority \\\n 150\n" + "track_interface { eth1 weight -10 }\n" + VIP))
    vr = router(r)
    assert vr["priority"] == 150
    assert vr["track_interfaces"] == [{"name": "eth1", "weight": -10, "interface": "eth1"}]
