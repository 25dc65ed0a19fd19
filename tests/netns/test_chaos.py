"""The chaos suite (netns_lab.chaos): every fault scenario with real vrrpd processes keeps its
invariants, the faults clean up after themselves, and the side-by-side path with keepalived
2.2.7 works (through the CLI, as the README's table is made).

Each scenario runs in the test's own lab: r1 (priority 200) and r2 (100) share
192.0.2.254/24, a client pings it; the invariants (netns_lab.chaos_rules.evaluate) are one
holder within Master_Down_Interval (+ slack) of the fault's effect, the client's neighbour
entry on the holder, no VIP on a non-master and no master without it, no host address lost,
and nothing leaked (links, nft tables, sysctls, addresses) once the daemons have stopped.

Interval 0.2 s and a slack of 1.5 s: generous for a shared 2-core machine; the figures
themselves are for the CLI, not asserted here.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from netns_lab.__main__ import main
from netns_lab.chaos import (
    LOSER,
    SCENARIOS,
    WINNER,
    Cut,
    Loss,
    Partition,
    Settings,
    one_way,
    run_scenario,
    switch_snapshot,
)
from netns_lab.chaos_rules import Result
from netns_lab.keepalived import KEEPALIVED
from netns_lab.lab import Lab, Node

pytestmark = pytest.mark.netns

SETTINGS = Settings(
    interval=0.2,
    window=4.0,
    hold=0.5,
    storm=3,
    slack=1.5,
    observe=12.0,
    steady=0.5,
    stable=0.5,
)


def check(result: Result) -> None:
    assert result.error is None, result.error
    assert result.violations == [], (
        f"{result.scenario} / {result.impl}: invariants broken:\n" + "\n".join(result.violations)
    )
    assert result.heal_single is not None and result.heal_client is not None


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "loss"])
def test_scenario_keeps_its_invariants_with_vrrpd(lab: Lab, name: str) -> None:
    check(run_scenario(name, "vrrpd", SETTINGS, lab=lab))


def test_loss_keeps_the_invariants_and_counts_flaps(lab: Lab) -> None:
    r = run_scenario("loss", "vrrpd", SETTINGS, lab=lab)
    check(r)
    # 25 % loss for 4 s at 0.2 s: a flap needs 3 adverts lost in a row (about 1 in 64)
    assert r.flaps is not None and 0 <= r.flaps <= 5, r.flaps


def test_partition_healed_loser_first(lab: Lab) -> None:
    """The winner first hears the loser (both master), then the loser hears the winner."""
    check(run_scenario("partition", "vrrpd", replace(SETTINGS, heal_order="loser-first"), lab=lab))


# --- the faults themselves ------------------------------------------------------------------


def nodes(lab: Lab) -> tuple[Node, Node, Node]:
    return (
        lab.add_router(WINNER, "192.0.2.1/24"),
        lab.add_router(LOSER, "192.0.2.2/24"),
        lab.add_client("c1", "192.0.2.100/24"),
    )


def test_faults_cut_what_they_say_and_always_clean_up(lab: Lab) -> None:
    r1, r2, c1 = nodes(lab)
    clean = switch_snapshot(lab)
    assert c1.ping("192.0.2.1") and c1.ping("192.0.2.2")

    with Loss(lab, 100, node=r1):  # everything into r1 lost: its netdev ingress
        assert not c1.ping("192.0.2.1", timeout=0.5)
        assert c1.ping("192.0.2.2")
    assert c1.ping("192.0.2.1")
    assert r1.nft_tables() == []

    with one_way(lab, r1, c1):  # requests reach r1, its replies never come back
        assert not c1.ping("192.0.2.1", timeout=0.5)
        assert c1.ping("192.0.2.2")

    p = Partition(lab, [[r1], [r2, c1]])
    with p:
        assert not c1.ping("192.0.2.1", timeout=0.5)
        assert r2.ping("192.0.2.100")
        steps: list[bool] = []
        p.heal("winner-first", WINNER, lambda: steps.append(c1.ping("192.0.2.1", timeout=0.5)))
        assert steps == [False]  # half-healed: r1's frames pass, the others' not yet
    assert c1.ping("192.0.2.1")

    with pytest.raises(RuntimeError, match="on purpose"), Cut(lab, [(c1, r2)]):
        raise RuntimeError("on purpose")
    assert c1.ping("192.0.2.2")
    assert switch_snapshot(lab) == clean  # every fault's table is gone


def test_interface_recreated_has_a_new_index_and_the_same_name_mac_and_address(
    lab: Lab,
) -> None:
    r1, _, c1 = nodes(lab)
    before = r1.link("eth0")
    assert before is not None
    r1.unplug()
    assert r1.link("eth0") is None
    r1.replug()
    after = r1.link("eth0")
    assert after is not None
    assert after["raw"]["ifindex"] != before["raw"]["ifindex"]
    assert after["mac"] == before["mac"]
    assert r1.has_address("192.0.2.1")
    assert c1.ping("192.0.2.1")


# --- side by side with keepalived, through the CLI ------------------------------------------


def test_cli_side_by_side_with_keepalived(capsys: pytest.CaptureFixture[str]) -> None:
    assert os.access(KEEPALIVED, os.X_OK), "apt-get install keepalived"
    code = main(
        [
            "chaos",
            "link-down",
            "--impl",
            "both",
            "--interval",
            "0.2",
            "--hold",
            "0.5",
            "--slack",
            "1.5",
            "--observe",
            "12",
            "--steady",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert "| scenario | figure | vrrpd | keepalived 2.2.7 |" in lines, out
    rows = {
        line.split("|")[2].strip(): [c.strip() for c in line.split("|")[3:5]]
        for line in lines
        if line.startswith("| ") and line.count("|") == 5
    }
    single = rows["heal to single holder (ms)"]
    client = rows["heal to client-correct (ms)"]
    assert all(c.isdigit() for c in single + client), out  # both healed: figures, not "> N"
    assert rows["invariant violations"][0] == "0", out  # vrrpd
