"""config.py's checks of single values that used to slip through or crash: integers too large
for a float in the keys of seconds, and names with a trailing newline. Each mistake is
exactly one line; the good neighbour of each still loads."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, bad, one_router, problems, write
from vrrpd.config import ConfigError, load, parse

HUGE = "9" * 400  # float() overflows from 2**1024 (309 digits): math.isfinite raised
SHOWN = "99999999999999999999... (400 digits)"


def script(**keys: str) -> str:
    fields = {"name": '"s"', "command": '["/bin/true"]', **keys}
    return "track_scripts = [{ " + ", ".join(f"{k} = {v}" for k, v in fields.items()) + " }]\n"


# --- integers too large for a float -------------------------------------------------------

SECONDS = [
    ("advert_interval", "must be a number of seconds 0.01..255"),
    ("preempt_delay", "must be a number of seconds 0..3600"),
    ("garp_interval", "must be a number of seconds 0..10"),
    ("garp_refresh", "must be 0 (off) or a number of seconds 1..86400"),
    ("garp_delay", "must be a number of seconds 0..3600"),
    ("before_master_timeout", "must be a number of seconds 0.1..60"),
    ("notify_timeout", "must be a number of seconds 0.1..3600"),
]


class TestHugeIntegers:
    @pytest.mark.parametrize(("key", "message"), SECONDS)
    @pytest.mark.parametrize(("value", "shown"), [(HUGE, SHOWN), (f"-{HUGE}", f"-{SHOWN}")])
    def test_router_keys(
        self, tmp_path: Path, key: str, message: str, value: str, shown: str
    ) -> None:
        assert bad(tmp_path, one_router(**{key: value})) == [
            f"virtual_router[0].{key}: {message}, got {shown}"
        ]

    @pytest.mark.parametrize("key", ["interval", "timeout"])
    def test_track_script_keys(self, tmp_path: Path, key: str) -> None:
        assert bad(tmp_path, ROUTER + script(**{key: HUGE})) == [
            f"virtual_router[0].track_scripts[0].{key}: must be a number of seconds "
            f"0.1..3600, got {SHOWN}"
        ]

    def test_up_to_50_digits_are_shown_in_full(self, tmp_path: Path) -> None:
        text = one_router(preempt_delay="9" * 50) + one_router(
            name='"b"', vrid="2", virtual_ips='["192.0.2.253/24"]', preempt_delay="9" * 51
        )
        assert bad(tmp_path, text) == [
            f"virtual_router[0].preempt_delay: must be a number of seconds 0..3600, got {'9' * 50}",
            "virtual_router[1].preempt_delay: must be a number of seconds 0..3600, "
            "got 99999999999999999999... (51 digits)",
        ]

    def test_parse_directly(self) -> None:
        raw = {
            "name": "gw",
            "interface": "eth0",
            "vrid": 51,
            "virtual_ips": ["192.0.2.254"],
            "advert_interval": -(10**400),
        }
        with pytest.raises(ConfigError) as info:
            parse({"virtual_router": [raw]}, "x.toml")
        assert info.value.problems == [
            "x.toml: virtual_router[0].advert_interval: must be a number of seconds "
            "0.01..255, got -10000000000000000000... (401 digits)"
        ]

    def test_more_digits_than_python_reads(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(preempt_delay="9" * 5000))
        assert problems(path) == [
            f"{path}: TOML value out of range: Exceeds the limit (4300 digits) for integer "
            "string conversion: value has 5000 digits"
        ]

    def test_largest_good_values_load(self, tmp_path: Path) -> None:
        text = one_router(
            advert_interval="40",
            preempt_delay="3600",
            garp_interval="10",
            garp_refresh="86400",
            notify_timeout="3600",
        ) + script(interval="3600", timeout="3600")
        (vr,) = load(write(tmp_path, text)).virtual_routers
        assert vr.advert_interval_cs == 4000
        assert vr.preempt_delay == 3600
        assert vr.garp_interval == 10
        assert vr.garp_refresh == 86400
        assert vr.notify_timeout == 3600
        assert vr.track_scripts[0].interval == Fraction(3600)
        assert vr.track_scripts[0].timeout == Fraction(3600)

    @pytest.mark.parametrize(("key", "message"), SECONDS)
    def test_one_past_the_range_is_the_same_line(
        self, tmp_path: Path, key: str, message: str
    ) -> None:
        assert bad(tmp_path, one_router(**{key: "100000"})) == [
            f"virtual_router[0].{key}: {message}, got 100000"
        ]


# --- names are whole strings --------------------------------------------------------------

NAME = "must be 1-32 characters of A-Z a-z 0-9 _ . -"
IFNAME = "must be an interface name"


class TestTrailingNewline:
    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("name", '"gw\\n"', f"{NAME}, got 'gw\\n'"),
            ("interface", '"eth0\\n"', f"{IFNAME}, got 'eth0\\n'"),
            ("name", '"\\ngw"', f"{NAME}, got '\\ngw'"),
        ],
    )
    def test_router(self, tmp_path: Path, key: str, value: str, message: str) -> None:
        assert bad(tmp_path, one_router(**{key: value})) == [f"virtual_router[0].{key}: {message}"]

    def test_tracked_interface(self, tmp_path: Path) -> None:
        text = ROUTER + 'track_interfaces = [{ interface = "eth1\\n", name = "up" }]\n'
        assert bad(tmp_path, text) == [
            f"virtual_router[0].track_interfaces[0].interface: {IFNAME}, got 'eth1\\n'"
        ]

    def test_tracked_object_name(self, tmp_path: Path) -> None:
        assert bad(tmp_path, ROUTER + script(name='"s\\n"')) == [
            f"virtual_router[0].track_scripts[0].name: {NAME}, got 's\\n'"
        ]

    def test_sync_group_name(self, tmp_path: Path) -> None:
        text = (
            one_router(name='"a"', vrid="1")
            + one_router(name='"b"', vrid="2", virtual_ips='["192.0.2.253/24"]')
            + '[[sync_group]]\nname = "g\\n"\nmembers = ["a", "b"]\n'
        )
        assert bad(tmp_path, text) == [f"sync_group[0].name: {NAME}, got 'g\\n'"]

    @pytest.mark.parametrize(
        ("name", "interface"),
        [("gw", "eth0"), ("a" * 32, "e" * 15), ("gw.v4_1-a", "eth0.100"), ("9", "br-lan")],
    )
    def test_neighbours_load(self, tmp_path: Path, name: str, interface: str) -> None:
        text = one_router(name=f'"{name}"', interface=f'"{interface}"')
        (vr,) = load(write(tmp_path, text)).virtual_routers
        assert (vr.name, vr.interface) == (name, interface)

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("name", "a" * 33, NAME),
            ("interface", "e" * 16, IFNAME),
        ],
    )
    def test_one_too_long(self, tmp_path: Path, key: str, value: str, message: str) -> None:
        assert bad(tmp_path, one_router(**{key: f'"{value}"'})) == [
            f"virtual_router[0].{key}: {message}, got '{value}'"
        ]
