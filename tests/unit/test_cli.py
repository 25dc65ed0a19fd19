"""`vrrpd --check-config`, `vrrpd --config` with a bad file, and `vrrpctl` without a daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.helpers import ROUTER, problems, write
from tests.unit.status_samples import counters, record
from vrrpd.api import DISCARD_COUNTER, Counter
from vrrpd.cli import format_status, parse_status, vrrpctl_main, vrrpd_main
from vrrpd.io.control import ControlError

REPO = Path(__file__).resolve().parents[2]

GOOD = (
    ROUTER
    + """
[[virtual_router]]
name = "gw6"
interface = "eth0"
vrid = 51
virtual_ips = ["fe80::200:5eff:fe00:233/64"]
"""
)

BAD = """\
[[virtual_router]]
name = "gw"
interface = "eth0"
vrid = 300
advert_interval = 0.015
virtual_ips = ["192.0.2.254/24", "2001:db8::fe/64"]
bogus = 1
"""


def vrrpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vrrpd", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_check_config_valid(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "good.toml")
    done = vrrpd("--check-config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: OK, 2 virtual router(s)"
    assert done.stderr == ""


def test_check_config_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad.toml")
    done = vrrpd("--check-config", str(path))
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines == problems(path)
    assert len(lines) == 4
    assert lines[0] == f"{path}: virtual_router[0].vrid: must be an integer 1..255, got 300"
    assert "Traceback" not in done.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    done = vrrpd("--check-config", str(path))
    assert done.returncode != 0
    assert done.stderr.splitlines() == [f"{path}: cannot read: No such file or directory"]


def test_check_config_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[[virtual_router]\n", "syntax.toml")
    done = vrrpd("--check-config", str(path))
    assert done.returncode != 0
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{path}: TOML syntax error: ")


def test_config_bad_refuses_to_start(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad.toml")
    done = vrrpd("--config", str(path))
    assert done.returncode != 0
    assert done.stderr.splitlines() == problems(path)


def test_in_process_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = write(tmp_path, GOOD, "good.toml"), write(tmp_path, BAD, "bad.toml")
    assert vrrpd_main(["--check-config", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK, 2 virtual router(s)\n"
    assert vrrpd_main(["--check-config", str(bad)]) == 1
    assert capsys.readouterr().err.splitlines() == problems(bad)


def test_mode_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        vrrpd_main([])
    assert info.value.code == 2
    assert "--config" in capsys.readouterr().err


def test_vrrpctl_without_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = tmp_path / "none.sock"
    assert vrrpctl_main(["--socket", str(sock), "status"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"vrrpctl: {sock}: no such socket (is vrrpd running?)"]


def test_format_status() -> None:
    rows = [
        record(counters={"adverts_sent": 3, "discard_ttl": 0, "discard_checksum": 2}),
        record(
            name="backup-router",
            interface="eth1",
            vrid=7,
            state="BACKUP",
            priority=100,
            advert_interval=0.1,
            master=None,
            time_in_state=0,
            counters={},
        ),
    ]
    lines = format_status(rows).splitlines()
    assert lines[0].split() == [
        "NAME", "IFACE", "VRID", "STATE", "PRIO", "INTERVAL", "MASTER", "IN", "STATE"
    ]  # fmt: skip
    assert lines[1].split() == ["gw", "eth0", "51", "MASTER", "150", "1s", "192.0.2.1", "12.3s"]
    assert lines[2].split() == ["backup-router", "eth1", "7", "BACKUP", "100", "0.1s", "-", "0.0s"]
    # Columns line up: every row starts its second column at the same offset.
    header, first, second = lines[:3]
    assert header.index("IFACE") == first.index("eth0") == second.index("eth1")
    # Zero discard counters are left out, others shown.
    assert lines[3] == "  gw: adverts_sent=3 discard_checksum=2"
    assert lines[4] == "  backup-router: "


def test_format_status_all_counters() -> None:
    (_, _, counter_line) = format_status([record(counters=counters(discard_vrid=4))]).splitlines()
    shown = dict(item.split("=") for item in counter_line.removeprefix("  gw: ").split())
    non_discard = {c.value for c in Counter if c not in DISCARD_COUNTER.values()}
    assert set(shown) == non_discard | {"discard_vrid"}
    assert shown["discard_vrid"] == "4"


def test_parse_status_rows() -> None:
    wire = [record().to_json(), record(name="gw6", family=6).to_json()]
    assert parse_status(wire) == [record(), record(name="gw6", family=6)]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"name": "gw"}, "status: expected a list of rows, got dict"),
        (["gw"], "status row 0: expected an object, got str"),
        ([{"name": "gw", "vrid": 51}], "status row 0 (gw): status row without 'interface'"),
    ],
)
def test_parse_status_bad_rows(result: Any, message: str) -> None:
    with pytest.raises(ControlError) as info:
        parse_status(result)
    assert str(info.value) == message


def test_missing_key_names_the_row() -> None:
    wire = [record().to_json(), record(name="gw6").to_json()]
    del wire[1]["state"]
    with pytest.raises(ControlError) as info:
        parse_status(wire)
    assert str(info.value) == "status row 1 (gw6): status row without 'state'"


def test_events_print_each_kind_as_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    from vrrpd.cli import _print_event

    when = "2026-12-02T10:00:00.123456"
    other = {"type": "other-master", "time": when, "name": "gw", "address": "192.0.2.2"}
    for unsaid in (0, 7):
        _print_event({**other, "priority": 100, "ours": 200, "unsaid": unsaid})
    _print_event({"type": "reload", "time": when, "changed": 1})
    assert capsys.readouterr().out.splitlines() == [
        "10:00:00.123 gw: another master 192.0.2.2 with priority 100 (ours 200)",
        "10:00:00.123 gw: another master 192.0.2.2 with priority 100 (ours 200)"
        " (7 more since the last)",
        "10:00:00.123 reload: changed=1",
    ]
