"""netns_lab.chaos_rules: the chaos suite's rulesets, facts, invariants and table, without root."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from netns_lab import chaos_rules as rules
from netns_lab.chaos_rules import (
    SCENARIOS,
    LinkView,
    NodeView,
    Observation,
    Phases,
    Result,
    Snapshot,
)

VIP = "192.0.2.254/24"
R1_MAC, R2_MAC, VMAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "00:00:5e:00:01:33"
HOST = {"r1": ["192.0.2.1/24"], "r2": ["192.0.2.2/24"]}
FINAL = {"r1": "MASTER", "r2": "BACKUP"}

# --- rulesets -------------------------------------------------------------------------------


def test_loss_on_the_bridge_is_a_forward_chain_with_numgen() -> None:
    text = rules.loss_ruleset("chaos1", 25)
    assert text.startswith("table bridge chaos1 {")
    assert "type filter hook forward priority -10; policy accept;" in text
    assert "numgen random mod 100 < 25 drop" in text


def test_loss_at_a_routers_ingress_is_a_netdev_chain_on_its_device() -> None:
    text = rules.loss_ruleset("chaos2", 30, device="eth0")
    assert text.startswith("table netdev chaos2 {")
    assert 'type filter hook ingress device "eth0" priority -10;' in text
    assert "numgen random mod 100 < 30 drop" in text


def test_hundred_percent_is_a_plain_drop() -> None:
    assert "numgen" not in rules.loss_ruleset("chaos3", 100)
    assert "\n        drop\n" in rules.loss_ruleset("chaos3", 100)


@pytest.mark.parametrize("bad", [0, 101, -5, 2.5, True])
def test_loss_percent_must_be_whole_1_to_100(bad: object) -> None:
    with pytest.raises(ValueError, match=r"whole percent 1\.\.100"):
        rules.loss_ruleset("chaos1", bad)  # type: ignore[arg-type]


def test_one_way_drop_names_ingress_and_egress_port() -> None:
    text = rules.drop_ruleset("chaos4", [("vl1r1", "vl1r2")])
    assert 'iifname "vl1r1" oifname "vl1r2" drop' in text
    assert 'iifname "vl1r2"' not in text  # the other direction still passes


def test_drop_ruleset_refuses_what_nft_would_misread() -> None:
    with pytest.raises(ValueError, match="interface name"):
        rules.drop_ruleset("chaos5", [('a"b', "c")])
    with pytest.raises(ValueError, match="from itself"):
        rules.drop_ruleset("chaos5", [("a", "a")])
    with pytest.raises(ValueError, match="at least one"):
        rules.drop_ruleset("chaos5", [])
    with pytest.raises(ValueError, match="nft table name"):
        rules.drop_ruleset("Bad-Name", [("a", "b")])


def test_delete_table_is_idempotent_text() -> None:
    assert rules.delete_table("bridge", "chaos7") == (
        "table bridge chaos7 {}\ndelete table bridge chaos7\n"
    )
    with pytest.raises(ValueError, match="family"):
        rules.delete_table("nope", "chaos7")


def test_partition_cuts_every_pair_across_groups_both_ways() -> None:
    pairs = rules.cut_pairs([["r1"], ["r2", "c1"]])
    assert sorted(pairs) == sorted([("r1", "r2"), ("r1", "c1"), ("r2", "r1"), ("c1", "r1")])
    with pytest.raises(ValueError, match="two groups"):
        rules.cut_pairs([["r1"], ["r1", "r2"]])
    with pytest.raises(ValueError, match="at least two"):
        rules.cut_pairs([["r1", "r2"], []])


def test_heal_orders() -> None:
    pairs = [("r1", "r2"), ("r2", "r1")]
    assert rules.heal_steps(pairs, "together", "r1") == [pairs]
    assert rules.heal_steps(pairs, "winner-first", "r1") == [[("r1", "r2")], [("r2", "r1")]]
    assert rules.heal_steps(pairs, "loser-first", "r1") == [[("r2", "r1")], [("r1", "r2")]]
    with pytest.raises(ValueError, match="heal order"):
        rules.heal_steps(pairs, "random", "r1")


def test_scenario_names() -> None:
    assert rules.scenario_names("all") == list(SCENARIOS)
    assert rules.scenario_names("loss, sigstop") == ["loss", "sigstop"]
    assert rules.scenario_names("list") == []
    with pytest.raises(ValueError, match="unknown scenario nope"):
        rules.scenario_names("loss,nope")
    # the vocabulary is all there
    assert {
        "loss",
        "one-way",
        "partition",
        "link-down",
        "recreate",
        "sigstop",
        "vip-deleted",
        "vip-added",
        "restart-storm",
        "kill-storm",
    } <= set(SCENARIOS)


# --- facts ----------------------------------------------------------------------------------


def view(*, vip_on: str | None = None, up: bool = True, mac: str = R1_MAC) -> NodeView:
    links = {"lo": LinkView(1, True, "00:00:00:00:00:00"), "eth0": LinkView(2, up, mac)}
    addrs = {"eth0": frozenset({"192.0.2.1/24"})}
    if vip_on == "vmac":
        links["vr4.51.2"] = LinkView(3, up, VMAC)
        addrs["vr4.51.2"] = frozenset({VIP})
    elif vip_on is not None:
        addrs[vip_on] = addrs[vip_on] | {VIP}
    return NodeView(links, addrs, {})


def test_parse_view_reads_the_watchers_line() -> None:
    line = json.dumps(
        {
            "t": 12.5,
            "links": {"eth0": {"index": 2, "up": True, "mac": R1_MAC}},
            "addrs": {"eth0": ["192.0.2.1/24", VIP]},
            "neigh": {"192.0.2.254": None},
        }
    )
    t, v = rules.parse_view(line)
    assert t == 12.5
    assert v.holding("192.0.2.254") == ["eth0"]
    assert v.neigh == {"192.0.2.254": None}


def test_a_vip_on_a_link_that_is_down_is_not_held() -> None:
    assert view(vip_on="eth0").holding(VIP) == ["eth0"]
    assert view(vip_on="eth0", up=False).holding(VIP) == []
    assert view(vip_on="eth0", up=False).has(VIP)


def test_merge_starts_when_every_stream_has_a_value_and_keeps_the_last() -> None:
    merged = rules.merge({"a": [(1.0, "a1"), (3.0, "a3")], "b": [(2.0, "b2"), (3.0, "b3")]})
    assert merged == [(2.0, {"a": "a1", "b": "b2"}), (3.0, {"a": "a3", "b": "b3"})]
    assert rules.merge({"a": [(1.0, "x")], "b": []}) == []


def client(t: float, mac: str | None) -> tuple[float, NodeView]:
    return t, NodeView({}, {}, {"192.0.2.254": mac})


def test_observe_builds_holders_macs_and_missing_host_addresses() -> None:
    r1 = [(0.0, view(vip_on="eth0")), (5.0, view())]
    r2v = NodeView(
        {"eth0": LinkView(2, True, R2_MAC)}, {"eth0": frozenset({"192.0.2.2/24", VIP})}, {}
    )
    r2 = [(0.0, NodeView({"eth0": LinkView(2, True, R2_MAC)}, {}, {})), (5.0, r2v)]
    states = {"r1": [(0.0, "MASTER"), (5.0, "FAULT")], "r2": [(0.0, "BACKUP"), (5.0, "MASTER")]}
    tl = rules.observe({"r1": r1, "r2": r2}, states, [client(0.0, R1_MAC)], VIP, HOST)
    assert [o.t for o in tl] == [0.0, 5.0]
    first, second = tl
    assert first.holders == {"r1"} and first.macs["r1"] == {R1_MAC}
    assert first.host_missing == {"r1": frozenset(), "r2": frozenset({"192.0.2.2/24"})}
    assert second.holders == {"r2"} and second.states == {"r1": "FAULT", "r2": "MASTER"}
    assert first.client_mac == R1_MAC


# --- invariants -----------------------------------------------------------------------------


def obs(
    t: float,
    holders: set[str],
    states: Mapping[str, str] = FINAL,
    client_mac: str | None = R1_MAC,
    *,
    missing: Mapping[str, frozenset[str]] | None = None,
) -> Observation:
    macs = {"r1": frozenset({R1_MAC}), "r2": frozenset({R2_MAC})}
    return Observation(
        t=t,
        holders=frozenset(holders),
        states=dict(states),
        client_mac=client_mac,
        macs={r: (m if r in holders else frozenset()) for r, m in macs.items()},
        host_missing=dict(missing or {"r1": frozenset(), "r2": frozenset()}),
    )


SPLIT = {"r1": "MASTER", "r2": "MASTER"}


def test_holds_from_is_the_start_of_the_last_good_stretch() -> None:
    tl = [obs(0, {"r1"}), obs(1, {"r1", "r2"}, SPLIT), obs(2, {"r1"}), obs(3, {"r1"})]
    pred = rules.single_holder("r1")
    assert rules.holds_from(tl, 0.5, pred) == 2
    assert rules.holds_from(tl, 2.5, pred) == 2.5  # already holding at `since`
    assert rules.holds_from(tl[:2], 0.0, pred) is None  # broken at the end: never


def test_client_correct_needs_the_neighbour_entry_on_the_holders_mac() -> None:
    ok = rules.client_correct("r1")
    assert ok(obs(0, {"r1"}))
    assert not ok(obs(0, {"r1"}, client_mac=R2_MAC))  # stale entry on the old master
    assert not ok(obs(0, {"r1"}, client_mac=None))
    assert not ok(obs(0, {"r1", "r2"}, SPLIT))


def run_phases(**kw: float) -> Phases:
    base = {"start": 0.0, "fault_on": 10.0, "fault_off": 20.0, "effect": 20.0, "end": 30.0}
    base.update(kw)
    return Phases(**base)  # type: ignore[arg-type]


def judge(tl: list[Observation], name: str = "partition", **kw: float) -> rules.Verdict:
    return rules.evaluate(
        tl,
        run_phases(**kw),
        SCENARIOS[name],
        routers=["r1", "r2"],
        holder="r1",
        final_states=FINAL,
        mdi=0.361,
        slack=0.5,
        grace=0.3,
    )


def test_a_split_brain_during_a_partition_that_heals_at_once_is_no_violation() -> None:
    tl = [
        obs(0, {"r1"}),
        obs(10.4, {"r1", "r2"}, SPLIT, R2_MAC),  # r2 took over: allowed while partitioned
        obs(20.05, {"r1"}, FINAL, R2_MAC),
        obs(20.06, {"r1"}),  # the hand-over: the client is back on r1
    ]
    v = judge(tl)
    assert v.violations == ()
    assert v.heal_single == pytest.approx(0.05)
    assert v.heal_client == pytest.approx(0.06)
    assert v.settle == pytest.approx(0.06)


def test_a_client_left_on_the_old_master_is_a_violation() -> None:
    tl = [obs(0, {"r1"}), obs(10.4, {"r1", "r2"}, SPLIT, R2_MAC), obs(20.05, {"r1"}, FINAL, R2_MAC)]
    v = judge(tl)
    assert v.heal_single == pytest.approx(0.05)
    assert v.heal_client is None
    assert any("neighbour entry" in x and "never" in x for x in v.violations)


def test_two_holders_where_the_scenario_allows_one_is_a_violation() -> None:
    tl = [obs(0, {"r1"}), obs(10.4, {"r1", "r2"}, SPLIT, R2_MAC), obs(20.05, {"r1"})]
    v = judge(tl, "link-down")
    assert any(x.startswith("during the fault: more than 1 holder") for x in v.violations)


def test_a_breach_shorter_than_the_grace_is_tolerated() -> None:
    tl = [
        obs(0, {"r1"}),
        obs(5.0, {"r1", "r2"}, {"r1": "MASTER", "r2": "BACKUP"}),
        obs(5.2, {"r1"}),
    ]
    assert judge(tl).violations == ()
    tl = [
        obs(0, {"r1"}),
        obs(5.0, {"r1", "r2"}, {"r1": "MASTER", "r2": "BACKUP"}),
        obs(5.5, {"r1"}),
    ]
    v = judge(tl)
    assert v.violations == (
        "before: more than 1 holder(s) of the VIP (r1, r2) for 500 ms from -5000 ms",
        "before: the VIP on a router that is not master (r2) for 500 ms from -5000 ms",
    )


def test_a_master_without_the_vip_is_a_violation_unless_exempt() -> None:
    no_vip = [obs(0, {"r1"}), obs(10.1, set(), FINAL, None), obs(20.0, {"r1"})]
    v = judge(no_vip, "link-down")
    assert any("a master without the VIP (r1)" in x for x in v.violations)
    v = judge(no_vip, "recreate")  # r1's interface is gone: exempt while the fault is on
    assert not any("master without" in x for x in v.violations)


def test_the_final_state_must_come_within_master_down_interval_plus_slack() -> None:
    late = [obs(0, {"r1"}), obs(10.4, {"r2"}, {"r1": "BACKUP", "r2": "MASTER"}, R2_MAC)]
    late.append(obs(21.0, {"r1"}))
    v = judge(late, "link-down")
    assert v.heal_single == pytest.approx(1.0)
    assert any("not the single holder within" in x and "after 1000 ms" in x for x in v.violations)


def test_a_restart_storm_counts_its_bound_from_readiness() -> None:
    tl = [
        obs(0, {"r1"}),
        obs(10.2, {"r2"}, {"r1": "STOPPED", "r2": "MASTER"}, R2_MAC),
        obs(20.9, {"r1"}),  # 0.9 s after the last start, 0.4 s after it was ready
    ]
    v = judge(tl, "restart-storm", ready=20.5)
    assert v.violations == ()
    assert v.settle == pytest.approx(0.9)
    assert "r1 not the single holder" in "".join(judge(tl, "restart-storm").violations)


def test_a_lost_host_address_is_a_violation() -> None:
    gone = {"r1": frozenset({"192.0.2.1/24"}), "r2": frozenset()}
    tl = [obs(0, {"r1"}), obs(25.0, {"r1"}, missing=gone)]
    v = judge(tl, "recreate")
    assert any(x.startswith("after: a host address lost (r1)") for x in v.violations)


# --- leaks ----------------------------------------------------------------------------------


def snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "links": {"lo": "", "eth0": "veth"},
        "addresses": {"eth0": frozenset({"192.0.2.1/24"})},
        "nft_tables": frozenset(),
        "sysctls": {"ipv4/conf/eth0/arp_ignore": "0", "ipv4/conf/all/arp_ignore": "0"},
    }
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_no_leak_when_nothing_changed() -> None:
    assert rules.leaks("r1", snap(), snap()) == []


def test_leaks_name_what_was_left_or_lost() -> None:
    after = snap(
        links={"lo": "", "eth0": "veth", "vr4.51.2": "macvlan"},
        addresses={"eth0": frozenset({VIP})},
        nft_tables=frozenset({"inet vrrpd"}),
        sysctls={
            "ipv4/conf/eth0/arp_ignore": "1",
            "ipv4/conf/all/arp_ignore": "0",
            "ipv4/conf/vr4.51.2/arp_ignore": "1",
        },
    )
    assert rules.leaks("r1", snap(), after) == [
        "r1: macvlan vr4.51.2 left behind",
        "r1: nft table inet vrrpd left behind",
        f"r1: address {VIP} left on eth0",
        "r1: address 192.0.2.1/24 lost from eth0",
        "r1: sysctl ipv4/conf/eth0/arp_ignore 0 -> 1",
    ]


def test_parse_sysctls() -> None:
    text = (
        "/proc/sys/net/ipv4/conf/eth0/arp_ignore:1\n"
        "/proc/sys/net/ipv4/conf/vr4.51.2/arp_announce:2\n"
        "garbage\n"
    )
    assert rules.parse_sysctls(text) == {
        "ipv4/conf/eth0/arp_ignore": "1",
        "ipv4/conf/vr4.51.2/arp_announce": "2",
    }


# --- the table ------------------------------------------------------------------------------


def test_markdown_table_side_by_side() -> None:
    results = [
        Result("loss", "vrrpd", 0.0, 0.012, flaps=2, observed=1.0),
        Result("loss", "keepalived", 0.0, None, flaps=3, observed=60.0, violations=["x"]),
        Result("restart-storm", "vrrpd", 0.8, 0.8, settle=0.81, observed=1.8),
        Result("restart-storm", "keepalived", error="boom"),
    ]
    table = rules.markdown_table(results, loss=25, window=20)
    lines = table.splitlines()
    assert lines[0] == "| scenario | figure | vrrpd | keepalived 2.2.7 |"
    assert lines[1] == "|---|---|---:|---:|"
    assert "| loss | heal to single holder (ms) | 0 | 0 |" in lines
    assert "|  | heal to client-correct (ms) | 12 | > 60000 |" in lines
    assert "|  | flaps under 25 % loss (MASTER entries in 20 s) | 2 | 3 |" in lines
    assert "|  | settle time after the last restart (ms) | 810 | error |" in lines
    assert "|  | invariant violations | 0 | 1 |" in lines
    assert len([x for x in lines if "flaps" in x]) == 1  # only where it applies
    notes = rules.violation_notes(results)
    assert "- loss / keepalived 2.2.7: x" in notes
    assert "- restart-storm / keepalived 2.2.7: run failed: boom" in notes
