"""Per-state hooks (on_master, on_backup, on_fault, on_stop): which scripts a state change
runs (`vrrpd.hooks`, pure), their configuration and its errors, reload and safety checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, problems, write
from vrrpd.config import HOOK_KEYS, SyncGroup, load
from vrrpd.fsm import State
from vrrpd.hooks import commands, hook
from vrrpd.reload import KEYS, Effect
from vrrpd.scriptsafety import programs

ARGS = ("INSTANCE", "gw", "MASTER", "100")
ALL = SyncGroup(
    "g",
    ("a", "b"),
    ("/n",),
    on_master=("/m", "x"),
    on_backup=("/b",),
    on_fault=("/f",),
    on_stop=("/s",),
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.MASTER, (("/n", *ARGS), ("/m", "x"))),
        (State.BACKUP, (("/n", *ARGS), ("/b",))),
        (State.FAULT, (("/n", *ARGS), ("/f",))),
        (State.INITIALIZE, (("/s",),)),  # stopping: on_stop only, notify never ran there
    ],
)
def test_notify_first_then_the_hook_of_the_state_entered(
    state: State, expected: tuple[tuple[str, ...], ...]
) -> None:
    assert commands(ALL, state, ARGS) == expected


def test_only_what_is_set_runs() -> None:
    only_master = SyncGroup("g", ("a", "b"), on_master=("/m",))
    assert commands(only_master, State.MASTER, ARGS) == (("/m",),)
    assert commands(only_master, State.BACKUP, ARGS) == ()
    assert commands(only_master, State.INITIALIZE, ARGS) == ()
    assert commands(SyncGroup("g", ("a", "b"), ("/n",)), State.INITIALIZE, ARGS) == ()
    assert [hook(ALL, s) for s in State] == [("/s",), ("/b",), ("/m", "x"), ("/f",)]


HOOKS = """on_master = ["/usr/local/bin/up", "gw"]
on_backup = ["/usr/local/bin/down"]
on_fault = ["/usr/local/bin/fault"]
on_stop = ["/usr/local/bin/stop"]
"""


def test_hooks_parsed_for_routers_and_groups(tmp_path: Path) -> None:
    two = (
        ROUTER
        + HOOKS
        + ROUTER.replace('"gw"', '"gw2"').replace("51", "52").replace(".254/", ".253/")
    )
    path = write(tmp_path, two + '[[sync_group]]\nname = "g"\nmembers = ["gw", "gw2"]\n' + HOOKS)
    config = load(path)
    vr, vr2 = config.virtual_routers
    (group,) = config.sync_groups
    for c in (vr, group):
        assert c.on_master == ("/usr/local/bin/up", "gw")
        assert c.on_backup == ("/usr/local/bin/down",)
        assert c.on_fault == ("/usr/local/bin/fault",)
        assert c.on_stop == ("/usr/local/bin/stop",)
    assert vr2.on_master == vr2.on_stop == ()
    keys = [k for k, _ in programs(config)]
    assert keys == [f"virtual_router[0].{k}" for k in HOOK_KEYS] + [
        f"sync_group[0].{k}" for k in HOOK_KEYS
    ]


@pytest.mark.parametrize("key", HOOK_KEYS)
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('["up.sh"]', "must start with an absolute program path, got ['up.sh']"),
        ("[]", "must be a non-empty list of strings (program and arguments; no shell), got []"),
        (
            '"/bin/up"',
            "must be a non-empty list of strings (program and arguments; no shell), got '/bin/up'",
        ),
    ],
)
def test_hook_problems_are_one_line(tmp_path: Path, key: str, value: str, why: str) -> None:
    path = write(tmp_path, ROUTER + f"{key} = {value}\n")
    assert problems(path) == [f"{path}: virtual_router[0].{key}: {why}"]
    two = ROUTER + ROUTER.replace('"gw"', '"gw2"').replace("51", "52").replace(".254/", ".253/")
    bad = write(
        tmp_path, two + f'[[sync_group]]\nname = "g"\nmembers = ["gw", "gw2"]\n{key} = {value}\n'
    )
    assert problems(bad) == [f"{bad}: sync_group[0].{key}: {why}"]


def test_hooks_apply_in_place_on_reload() -> None:
    for key in HOOK_KEYS:
        assert KEYS[key].effect is Effect.IN_PLACE
