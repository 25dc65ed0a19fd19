"""Configuration of tracking, notify, sync groups and the daemon's operator settings:
one exact line per problem."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, problems, write
from vrrpd.config import TrackFile, TrackInterface, TrackScript, load


def test_tracking_parsed_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ROUTER
        + """
track_interfaces = [{ interface = "eth1", weight = -50, name = "uplink" }, { interface = "eth2" }]
track_scripts = [{ name = "nginx", command = ["/usr/bin/true"], weight = -20, fall = 3 }]
track_files = [{ name = "load", path = "/run/load", weight = -10 }]
notify = ["/usr/local/bin/notify", "--verbose"]
""",
    )
    vr = load(path).virtual_routers[0]
    assert vr.track_interfaces == (
        TrackInterface("uplink", "eth1", -50),
        TrackInterface("eth2", "eth2", None),
    )
    assert vr.track_scripts == (
        TrackScript("nginx", ("/usr/bin/true",), Fraction(2), Fraction(2), 1, 3, -20),
    )
    assert vr.track_files == (TrackFile("load", "/run/load", -10),)
    assert vr.notify == ("/usr/local/bin/notify", "--verbose")
    assert vr.notify_timeout == 10


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            'track_interfaces = [{ interface = "eth1", weight = 0 }]',
            "virtual_router[0].track_interfaces[0].weight: must be a non-zero integer -254..254 "
            "(leave it out for FAULT), got 0",
        ),
        (
            'track_scripts = [{ name = "x", command = "true" }]',
            "virtual_router[0].track_scripts[0].command: must be a non-empty list of strings "
            "(program and arguments; no shell), got 'true'",
        ),
        (
            'track_scripts = [{ name = "x", command = ["true"] }]',
            "virtual_router[0].track_scripts[0].command: must start with an absolute program "
            "path, got ['true']",
        ),
        (
            'track_scripts = [{ name = "x", command = ["/bin/true"], interval = 1, timeout = 5 }]',
            "virtual_router[0].track_scripts[0].timeout: must not exceed interval (1), got 5",
        ),
        (
            'track_files = [{ name = "f", path = "relative" }]',
            "virtual_router[0].track_files[0].path: must be an absolute path, got 'relative'",
        ),
        (
            'track_interfaces = [{ interface = "eth1" }, { interface = "eth1" }]',
            "virtual_router[0].track_interfaces[1].name: duplicate tracked object name 'eth1'",
        ),
        (
            'track_interfaces = [{ interface = "eth1", colour = 1 }]',
            "virtual_router[0].track_interfaces[0].colour: unknown key (allowed: interface, "
            "name, weight)",
        ),
        (
            'notify = ["notify.sh"]',
            "virtual_router[0].notify: must start with an absolute program path, got ['notify.sh']",
        ),
    ],
)
def test_tracking_problems(tmp_path: Path, extra: str, line: str) -> None:
    path = write(tmp_path, ROUTER + extra + "\n")
    assert problems(path) == [f"{path}: {line}"]


def test_sync_groups(tmp_path: Path) -> None:
    two = ROUTER + ROUTER.replace('"gw"', '"gw2"').replace("51", "52").replace(".254/", ".253/")
    ok = write(tmp_path, two + '[[sync_group]]\nname = "g"\nmembers = ["gw", "gw2"]\n')
    (group,) = load(ok).sync_groups
    assert group.members == ("gw", "gw2")
    bad = write(tmp_path, two + '[[sync_group]]\nname = "g"\nmembers = ["gw", "nope"]\n')
    assert problems(bad) == [f"{bad}: sync_group[0].members: no virtual_router named 'nope'"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"127.0.0.1"', "'127.0.0.1': expected HOST:PORT, e.g. 127.0.0.1:10112 or [::1]:10112"),
        ('"127.0.0.1:0"', "'127.0.0.1:0': port 0 is out of range 1-65535"),
        ('"::1:9650"', "'::1:9650': an IPv6 address needs brackets, e.g. [::1]:10112"),
    ],
)
def test_metrics_listen(tmp_path: Path, value: str, why: str) -> None:
    path = write(tmp_path, f"[daemon]\nmetrics_listen = {value}\n" + ROUTER)
    shown = value.replace('"', "'")  # strings are shown as Python repr
    assert problems(path) == [
        f"{path}: daemon.metrics_listen: must be HOST:PORT or [IPv6]:PORT ({why}), got {shown}"
    ]


def test_metrics_listen_ok(tmp_path: Path) -> None:
    path = write(tmp_path, '[daemon]\nmetrics_listen = "[::1]:9650"\n' + ROUTER)
    assert load(path).daemon.metrics_listen == "[::1]:9650"


def test_checking_metrics_listen_needs_no_prometheus_client(tmp_path: Path) -> None:
    # A fresh interpreter: in this one another test may have imported prometheus_client.
    path = write(tmp_path, '[daemon]\nmetrics_listen = "127.0.0.1:9650"\n' + ROUTER)
    code = (
        "import sys, vrrpd.config\n"
        f"cfg = vrrpd.config.load({str(path)!r})\n"
        "assert cfg.daemon.metrics_listen == '127.0.0.1:9650', cfg\n"
        "assert 'prometheus_client' not in sys.modules, 'prometheus_client imported'\n"
        "print('clean')\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "clean\n", "")


def test_router_advertisements_ipv6_only(tmp_path: Path) -> None:
    path = write(tmp_path, ROUTER + "router_advertisements = true\n")
    assert problems(path) == [
        f"{path}: virtual_router[0].router_advertisements: only applies to IPv6 virtual "
        "routers, got true"
    ]
    six = write(
        tmp_path,
        ROUTER.replace("192.0.2.254/24", "2001:db8::fe/64") + "router_advertisements = true\n",
    )
    assert load(six).virtual_routers[0].router_advertisements
