"""config.load / config.parse: a valid file, and one exact line per problem."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path

import pytest

from tests.unit.helpers import ROUTER, one_router, problems, write
from vrrpd.config import (
    DEFAULT_CONTROL_SOCKET,
    ConfigError,
    load,
    parse,
)
from vrrpd.packet import ChecksumForm

VALID = """\
[daemon]
control_socket = "/run/vrrpd-test/ctl.sock"

[[virtual_router]]
name = "gw4"
interface = "eth0"
vrid = 51
priority = 150
advert_interval = 0.1
preempt = false
preempt_delay = 2.5
checksum = "rfc9568"
garp_repeat = 3
virtual_ips = ["192.0.2.254/24", "192.0.2.253"]

[[virtual_router]]
name = "gw6"
interface = "eth0"
vrid = 51
virtual_ips = ["fe80::200:5eff:fe00:233/64", "2001:db8::fe/64"]

[[virtual_router]]
name = "legacy"
interface = "eth1"
vrid = 7
version = 2
advert_interval = 3
virtual_ips = ["198.51.100.1/24"]
"""


class TestValid:
    def test_full_file(self, tmp_path: Path) -> None:
        cfg = load(write(tmp_path, VALID))
        assert cfg.daemon.control_socket == "/run/vrrpd-test/ctl.sock"
        gw4, gw6, legacy = cfg.virtual_routers
        assert gw4.name == "gw4"
        assert gw4.interface == "eth0"
        assert gw4.vrid == 51
        assert gw4.priority == 150
        assert gw4.advert_interval_cs == 10
        assert gw4.preempt is False
        assert gw4.preempt_delay == Fraction(5, 2)
        assert gw4.checksum is ChecksumForm.PLAIN
        assert gw4.garp_repeat == 3
        assert gw4.virtual_ips == (
            IPv4Interface("192.0.2.254/24"),
            IPv4Interface("192.0.2.253/32"),
        )
        assert gw4.version == 3
        assert gw4.family == 4
        assert gw4.key == ("eth0", 51, 4)
        # Same interface and VRID, other family: a different virtual router.
        assert gw6.key == ("eth0", 51, 6)
        assert gw6.virtual_ips[0] == IPv6Interface("fe80::200:5eff:fe00:233/64")
        assert legacy.version == 2
        assert legacy.advert_interval_cs == 300
        assert legacy.family == 4

    def test_defaults(self, tmp_path: Path) -> None:
        cfg = load(write(tmp_path, ROUTER))
        assert cfg.daemon.control_socket == DEFAULT_CONTROL_SOCKET
        (vr,) = cfg.virtual_routers
        assert vr.priority == 100
        assert vr.advert_interval_cs == 100
        assert vr.preempt is True
        assert vr.preempt_delay == 0
        assert vr.version == 3
        assert vr.checksum is ChecksumForm.PSEUDO
        assert vr.garp_repeat == 5

    @pytest.mark.parametrize(
        ("text", "cs"),
        [("0.01", 1), ("0.29", 29), ("1", 100), ("1.0", 100), ("40.95", 4095), ("0.57", 57)],
    )
    def test_v3_intervals(self, tmp_path: Path, text: str, cs: int) -> None:
        cfg = load(write(tmp_path, one_router(advert_interval=text)))
        assert cfg.virtual_routers[0].advert_interval_cs == cs

    def test_parse_directly(self) -> None:
        cfg = parse(
            {
                "virtual_router": [
                    {"name": "a", "interface": "eth0", "vrid": 1, "virtual_ips": ["192.0.2.1"]}
                ]
            },
            "inline",
        )
        assert cfg.virtual_routers[0].name == "a"
        assert cfg.virtual_routers[0].priority == 100

    def test_frozen(self, tmp_path: Path) -> None:
        cfg = load(write(tmp_path, ROUTER))
        with pytest.raises(AttributeError):
            cfg.virtual_routers[0].vrid = 52  # type: ignore[misc]


class TestProblems:
    def test_vrid_out_of_range(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(vrid="300"))
        assert problems(path) == [
            f"{path}: virtual_router[0].vrid: must be an integer 1..255, got 300"
        ]

    @pytest.mark.parametrize(
        ("value", "shown"), [("0", "0"), ("true", "true"), ('"51"', "'51'"), ("5.0", "5.0")]
    )
    def test_vrid_wrong(self, tmp_path: Path, value: str, shown: str) -> None:
        path = write(tmp_path, one_router(vrid=value))
        assert problems(path) == [
            f"{path}: virtual_router[0].vrid: must be an integer 1..255, got {shown}"
        ]

    def test_priority(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(priority="0"))
        assert problems(path) == [
            f"{path}: virtual_router[0].priority: must be an integer 1..255, got 0"
        ]

    def test_unknown_key(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(prio="100"))
        assert problems(path) == [
            f"{path}: virtual_router[0].prio: unknown key (allowed: accept_mode, "
            "advert_interval, auth_pass, before_master, before_master_timeout, checksum, "
            "garp_delay, garp_interval, garp_refresh, garp_repeat, gate_grace, gate_interval, "
            "gate_timeout, "
            "interface, name, notify, notify_timeout, on_backup, on_fault, on_master, on_stop, "
            "preempt, preempt_delay, priority, "
            "router_advertisements, takeover_gate, track_files, track_interfaces, track_scripts, "
            "unicast_peers, unicast_source, unicast_ttl_check, use_vmac, version, virtual_ips, "
            "vrid)"
        ]

    def test_unknown_top_level_and_daemon_keys(self, tmp_path: Path) -> None:
        path = write(tmp_path, 'colour = "blue"\n[daemon]\nsocket = "/x"\n' + ROUTER)
        lines = problems(path)
        assert (
            f"{path}: daemon.socket: unknown key (allowed: control_group, control_idle_timeout, "
            "control_socket, journal_socket, kernel_filter, log_target, metrics_listen, "
            "metrics_names, script_group, script_user)" in lines
        )
        assert any(line.startswith(f"{path}: colour: unknown key (allowed: ") for line in lines)
        assert len(lines) == 2

    def test_missing_required(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[[virtual_router]]\nvrid = 51\n")
        assert problems(path) == [
            f"{path}: virtual_router[0].name: is required",
            f"{path}: virtual_router[0].interface: is required",
            f"{path}: virtual_router[0].virtual_ips: is required",
        ]

    def test_no_virtual_router(self, tmp_path: Path) -> None:
        path = write(tmp_path, "")
        assert problems(path) == [f"{path}: virtual_router: is required"]

    def test_duplicate_names(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(vrid="1") + one_router(vrid="2"))
        assert problems(path) == [f"{path}: virtual_router[1].name: duplicate name 'gw'"]

    def test_duplicate_interface_vrid_family(self, tmp_path: Path) -> None:
        text = one_router(name='"a"') + one_router(name='"b"', virtual_ips='["192.0.2.100/24"]')
        path = write(tmp_path, text)
        assert problems(path) == [
            f"{path}: virtual_router[1].vrid: vrid 51 on eth0 for IPv4 is already used by "
            "virtual_router[0] ('a')"
        ]

    def test_same_vrid_other_interface_is_fine(self, tmp_path: Path) -> None:
        text = one_router(name='"a"') + one_router(
            name='"b"', interface='"eth1"', virtual_ips='["198.51.100.254/24"]'
        )
        assert len(load(write(tmp_path, text)).virtual_routers) == 2

    def test_interval_too_small(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(advert_interval="0.005"))
        assert problems(path) == [
            f"{path}: virtual_router[0].advert_interval: must be a number of seconds "
            "0.01..255, got 0.005"
        ]

    @pytest.mark.parametrize("value", ["41", "0.015", "40.96", "1.234"])
    def test_interval_not_v3(self, tmp_path: Path, value: str) -> None:
        path = write(tmp_path, one_router(advert_interval=value))
        assert problems(path) == [
            f"{path}: virtual_router[0].advert_interval: must be 0.01..40.95 seconds in "
            f"steps of 0.01 for version 3, got {value}"
        ]

    @pytest.mark.parametrize("value", ["1.5", "0.5"])
    def test_interval_not_v2(self, tmp_path: Path, value: str) -> None:
        path = write(tmp_path, one_router(version="2", advert_interval=value))
        assert problems(path) == [
            f"{path}: virtual_router[0].advert_interval: must be whole seconds 1..255 for "
            f"version 2, got {value}"
        ]

    def test_interval_not_a_number(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(advert_interval="nan"))
        assert problems(path) == [
            f"{path}: virtual_router[0].advert_interval: must be a number of seconds "
            "0.01..255, got nan"
        ]

    def test_mixed_families(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(virtual_ips='["192.0.2.254/24", "2001:db8::fe/64"]'))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips: must be all IPv4 or all IPv6 (use two "
            "virtual routers with the same vrid)"
        ]

    def test_v2_ipv6(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(version="2", virtual_ips='["2001:db8::fe/64"]'))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips: must be IPv4 for version 2"
        ]

    def test_bad_address(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(virtual_ips='["192.0.2.300/24"]'))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips[0]: must be an IPv4 or IPv6 address with "
            "optional /prefix, got '192.0.2.300/24'"
        ]

    def test_duplicate_address(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(virtual_ips='["192.0.2.254/24", "192.0.2.254/24"]'))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips[1]: duplicate address '192.0.2.254/24'"
        ]

    def test_duplicate_address_with_another_prefix(self, tmp_path: Path) -> None:
        # The same address twice would be advertised twice and added twice.
        path = write(tmp_path, one_router(virtual_ips='["192.0.2.254/24", "192.0.2.254/32"]'))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips[1]: duplicate address '192.0.2.254/32'"
        ]

    def test_empty_vip_list(self, tmp_path: Path) -> None:
        path = write(tmp_path, one_router(virtual_ips="[]"))
        assert problems(path) == [
            f"{path}: virtual_router[0].virtual_ips: must be a list of 1..255 address strings, "
            "got []"
        ]

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("version", "4", "must be 3 or 2, got 4"),
            ("checksum", '"rfc1234"', "must be 'rfc5798' or 'rfc9568', got 'rfc1234'"),
            ("preempt", '"yes"', "must be true or false, got 'yes'"),
            ("preempt_delay", "-1", "must be a number of seconds 0..3600, got -1"),
            ("garp_repeat", "101", "must be an integer 0..100, got 101"),
            (
                "name",
                '"has space"',
                "must be 1-32 characters of A-Z a-z 0-9 _ . -, got 'has space'",
            ),
            ("interface", '"eth0/1"', "must be an interface name, got 'eth0/1'"),
        ],
    )
    def test_other_keys(self, tmp_path: Path, key: str, value: str, message: str) -> None:
        path = write(tmp_path, one_router(**{key: value}))
        assert problems(path) == [f"{path}: virtual_router[0].{key}: {message}"]

    def test_control_socket_must_be_absolute(self, tmp_path: Path) -> None:
        path = write(tmp_path, '[daemon]\ncontrol_socket = "run/x.sock"\n' + ROUTER)
        assert problems(path) == [
            f"{path}: daemon.control_socket: must be an absolute path shorter than 108 "
            "characters, got 'run/x.sock'"
        ]

    def test_all_problems_collected(self, tmp_path: Path) -> None:
        text = one_router(vrid="0", priority="256") + one_router(name='"b"', advert_interval="41")
        path = write(tmp_path, text)
        assert problems(path) == [
            f"{path}: virtual_router[0].vrid: must be an integer 1..255, got 0",
            f"{path}: virtual_router[0].priority: must be an integer 1..255, got 256",
            f"{path}: virtual_router[1].advert_interval: must be 0.01..40.95 seconds in steps "
            "of 0.01 for version 3, got 41",
        ]

    def test_router_not_a_table(self) -> None:
        with pytest.raises(ConfigError) as info:
            parse({"virtual_router": [1]}, "x.toml")
        assert info.value.problems == ["x.toml: virtual_router[0]: must be a table"]

    def test_invalid_toml(self, tmp_path: Path) -> None:
        path = write(tmp_path, ROUTER + "priority = \n")
        (line,) = problems(path)
        assert line.startswith(f"{path}: TOML syntax error: ")
        assert "line 6" in line

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.toml"
        assert problems(path) == [f"{path}: cannot read: No such file or directory"]

    def test_directory(self, tmp_path: Path) -> None:
        (line,) = problems(tmp_path)
        assert line.startswith(f"{tmp_path}: cannot read: ")

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.toml"
        path.write_bytes(b"# caf\xe9\n" + ROUTER.encode())
        assert problems(path) == [f"{path}: not UTF-8 text"]
