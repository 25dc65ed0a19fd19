"""Per-router options of config.py: auth_pass, use_vmac, unicast_*, accept_mode, garp_*, and
the IPv6 link-local address (given or derived)."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import pytest

from tests.unit.helpers import one_router, problems, write
from vrrpd.config import VirtualRouterConfig, load, parse
from vrrpd.packet import ChecksumForm

V6 = '["2001:db8::fe/64"]'


def router(tmp_path: Path, **keys: object) -> VirtualRouterConfig:
    (vr,) = load(write(tmp_path, one_router(**keys))).virtual_routers
    return vr


def bad(tmp_path: Path, **keys: object) -> list[str]:
    """The problem lines of a one-router file, with the file name cut off."""
    path = write(tmp_path, one_router(**keys))
    prefix = f"{path}: "
    lines = problems(path)
    assert all(line.startswith(prefix) for line in lines)
    return [line[len(prefix) :] for line in lines]


class TestDefaults:
    def test_new_keys_left_out(self, tmp_path: Path) -> None:
        vr = router(tmp_path)
        assert vr.auth_pass == b""
        assert vr.use_vmac is False
        assert vr.unicast_peers == ()
        assert vr.unicast_source is None
        assert vr.unicast_ttl_check is True
        assert vr.accept_mode is True
        assert vr.garp_interval == Fraction(0)
        assert isinstance(vr.garp_interval, Fraction)
        assert vr.garp_refresh == Fraction(0)
        assert isinstance(vr.garp_refresh, Fraction)
        assert vr.link_local_derived is False
        assert vr.advert_addresses == (IPv4Address("192.0.2.254"),)

    def test_old_constructor_still_works(self) -> None:
        vr = VirtualRouterConfig(
            name="gw",
            interface="eth0",
            vrid=1,
            priority=100,
            advert_interval_cs=100,
            preempt=True,
            preempt_delay=Fraction(0),
            version=3,
            virtual_ips=(IPv4Interface("192.0.2.1/24"),),
            checksum=ChecksumForm.PSEUDO,
            garp_repeat=5,
        )
        assert vr.auth_pass == b""
        assert vr.unicast_peers == ()
        assert vr.accept_mode is True
        assert vr.key == ("eth0", 1, 4)


class TestAuthPass:
    @pytest.mark.parametrize("text", ["x", "secret", "8charsOK", "a b~!#$%", "        "])
    def test_valid(self, tmp_path: Path, text: str) -> None:
        vr = router(tmp_path, version="2", advert_interval="1", auth_pass=f'"{text}"')
        assert vr.auth_pass == text.encode("ascii")  # not padded to 8 octets

    def test_with_version_3(self, tmp_path: Path) -> None:
        assert bad(tmp_path, auth_pass='"secret"') == [
            "virtual_router[0].auth_pass: only applies to version 2, got version 3"
        ]

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ('""', "must be 1..8 printable ASCII characters, got 0 characters (value not shown)"),
            (
                '"123456789"',
                "must be 1..8 printable ASCII characters, got 9 characters (value not shown)",
            ),
            (
                '"caf\u00e9"',
                "must be 1..8 printable ASCII characters, got a character that is not printable "
                "ASCII at position 4 (value not shown)",
            ),
            (
                '"a\\tb"',
                "must be 1..8 printable ASCII characters, got a character that is not printable "
                "ASCII at position 2 (value not shown)",
            ),
            ("12345678", "must be a string of 1..8 printable ASCII characters, got an integer"),
            ("true", "must be a string of 1..8 printable ASCII characters, got a boolean"),
            ('["a"]', "must be a string of 1..8 printable ASCII characters, got an array"),
        ],
    )
    def test_bad(self, tmp_path: Path, value: str, message: str) -> None:
        assert bad(tmp_path, version="2", auth_pass=value) == [
            f"virtual_router[0].auth_pass: {message}"
        ]

    def test_password_never_shown(self, tmp_path: Path) -> None:
        (line,) = bad(tmp_path, version="2", auth_pass='"TopSecret"')
        assert "TopSecret" not in line


class TestBooleans:
    @pytest.mark.parametrize("key", ["use_vmac", "accept_mode"])
    @pytest.mark.parametrize("value", [True, False])
    def test_valid(self, tmp_path: Path, key: str, value: bool) -> None:
        vr = router(tmp_path, **{key: "true" if value else "false"})
        assert getattr(vr, key) is value

    @pytest.mark.parametrize("key", ["use_vmac", "accept_mode", "unicast_ttl_check"])
    @pytest.mark.parametrize(("value", "shown"), [('"yes"', "'yes'"), ("1", "1")])
    def test_bad(self, tmp_path: Path, key: str, value: str, shown: str) -> None:
        keys: dict[str, object] = {key: value, "unicast_peers": '["192.0.2.2"]'}
        assert bad(tmp_path, **keys) == [
            f"virtual_router[0].{key}: must be true or false, got {shown}"
        ]


class TestGarpTimers:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("0", Fraction(0)),
            ("0.0", Fraction(0)),
            ("0.001", Fraction(1, 1000)),
            ("0.25", Fraction(1, 4)),
            ("1", Fraction(1)),
            ("9.999", Fraction(9999, 1000)),
            ("10", Fraction(10)),
        ],
    )
    def test_interval_valid(self, tmp_path: Path, text: str, value: Fraction) -> None:
        vr = router(tmp_path, garp_interval=text)
        assert vr.garp_interval == value
        assert isinstance(vr.garp_interval, Fraction)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("-0.001", "must be a number of seconds 0..10, got -0.001"),
            ("10.001", "must be a number of seconds 0..10, got 10.001"),
            ("11", "must be a number of seconds 0..10, got 11"),
            ("inf", "must be a number of seconds 0..10, got inf"),
            ("nan", "must be a number of seconds 0..10, got nan"),
            ("true", "must be a number of seconds 0..10, got true"),
            ('"1"', "must be a number of seconds 0..10, got '1'"),
            ("0.0005", "must be 0..10 seconds in steps of 0.001, got 0.0005"),
            ("1.2345", "must be 0..10 seconds in steps of 0.001, got 1.2345"),
        ],
    )
    def test_interval_bad(self, tmp_path: Path, value: str, message: str) -> None:
        assert bad(tmp_path, garp_interval=value) == [f"virtual_router[0].garp_interval: {message}"]

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("0", Fraction(0)),
            ("1", Fraction(1)),
            ("1.5", Fraction(3, 2)),
            ("60", Fraction(60)),
            ("86399.999", Fraction(86399999, 1000)),
            ("86400", Fraction(86400)),
        ],
    )
    def test_refresh_valid(self, tmp_path: Path, text: str, value: Fraction) -> None:
        vr = router(tmp_path, garp_refresh=text)
        assert vr.garp_refresh == value
        assert isinstance(vr.garp_refresh, Fraction)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("0.5", "must be 0 (off) or a number of seconds 1..86400, got 0.5"),
            ("0.999", "must be 0 (off) or a number of seconds 1..86400, got 0.999"),
            ("-1", "must be 0 (off) or a number of seconds 1..86400, got -1"),
            ("86401", "must be 0 (off) or a number of seconds 1..86400, got 86401"),
            ("inf", "must be 0 (off) or a number of seconds 1..86400, got inf"),
            ("false", "must be 0 (off) or a number of seconds 1..86400, got false"),
            ("1.0001", "must be 0 (off) or 1..86400 seconds in steps of 0.001, got 1.0001"),
        ],
    )
    def test_refresh_bad(self, tmp_path: Path, value: str, message: str) -> None:
        assert bad(tmp_path, garp_refresh=value) == [f"virtual_router[0].garp_refresh: {message}"]

    @pytest.mark.parametrize(
        ("text", "value"),
        [("0", Fraction(0)), ("0.5", Fraction(1, 2)), ("5", Fraction(5)), ("3600", Fraction(3600))],
    )
    def test_delay_valid(self, tmp_path: Path, text: str, value: Fraction) -> None:
        assert router(tmp_path).garp_delay == Fraction(0)  # off unless asked (keepalived: 5)
        vr = router(tmp_path, garp_delay=text)
        assert vr.garp_delay == value
        assert isinstance(vr.garp_delay, Fraction)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("-1", "must be a number of seconds 0..3600, got -1"),
            ("3601", "must be a number of seconds 0..3600, got 3601"),
            ("true", "must be a number of seconds 0..3600, got true"),
            ("0.0001", "must be 0 (off) or 0.001..3600 seconds in steps of 0.001, got 0.0001"),
        ],
    )
    def test_delay_bad(self, tmp_path: Path, value: str, message: str) -> None:
        assert bad(tmp_path, garp_delay=value) == [f"virtual_router[0].garp_delay: {message}"]


class TestUnicast:
    def test_ipv4_peers(self, tmp_path: Path) -> None:
        vr = router(
            tmp_path,
            unicast_peers='["192.0.2.2", "198.51.100.7"]',
            unicast_source='"192.0.2.1"',
            unicast_ttl_check="false",
        )
        assert vr.unicast_peers == (IPv4Address("192.0.2.2"), IPv4Address("198.51.100.7"))
        assert vr.unicast_source == IPv4Address("192.0.2.1")
        assert vr.unicast_ttl_check is False

    def test_ipv6_peers(self, tmp_path: Path) -> None:
        vr = router(
            tmp_path,
            virtual_ips=V6,
            unicast_peers='["fe80::2", "2001:db8::2"]',
            unicast_source='"2001:db8::1"',
        )
        assert vr.unicast_peers == (IPv6Address("fe80::2"), IPv6Address("2001:db8::2"))
        assert vr.unicast_source == IPv6Address("2001:db8::1")
        assert vr.unicast_ttl_check is True

    def test_peers_without_source(self, tmp_path: Path) -> None:
        vr = router(tmp_path, unicast_peers='["192.0.2.2"]')
        assert vr.unicast_peers == (IPv4Address("192.0.2.2"),)
        assert vr.unicast_source is None
        assert vr.unicast_ttl_check is True

    def test_empty_peers(self, tmp_path: Path) -> None:
        assert bad(tmp_path, unicast_peers="[]") == [
            "virtual_router[0].unicast_peers: must list at least one peer; leave the key out "
            "for multicast, got []"
        ]

    @pytest.mark.parametrize(
        ("value", "shown"), [('"192.0.2.2"', "'192.0.2.2'"), ("[1]", "[1]"), ("true", "true")]
    )
    def test_peers_not_a_list_of_strings(self, tmp_path: Path, value: str, shown: str) -> None:
        assert bad(tmp_path, unicast_peers=value) == [
            f"virtual_router[0].unicast_peers: must be a list of address strings, got {shown}"
        ]

    @pytest.mark.parametrize(
        ("peers", "message"),
        [
            ('["2001:db8::2"]', "must be IPv4 like virtual_ips, got '2001:db8::2'"),
            ('["224.0.0.18"]', "must not be a multicast address, got '224.0.0.18'"),
            ('["0.0.0.0"]', "must not be the unspecified address, got '0.0.0.0'"),
            ('["192.0.2.300"]', "must be an IPv4 or IPv6 address, got '192.0.2.300'"),
            ('["192.0.2.2/24"]', "must be an IPv4 or IPv6 address, got '192.0.2.2/24'"),
            ('["peer1"]', "must be an IPv4 or IPv6 address, got 'peer1'"),
        ],
    )
    def test_bad_ipv4_peer(self, tmp_path: Path, peers: str, message: str) -> None:
        assert bad(tmp_path, unicast_peers=peers) == [
            f"virtual_router[0].unicast_peers[0]: {message}"
        ]

    @pytest.mark.parametrize(
        ("peer", "message"),
        [
            ("192.0.2.2", "must be IPv6 like virtual_ips, got '192.0.2.2'"),
            ("ff02::12", "must not be a multicast address, got 'ff02::12'"),
            ("::", "must not be the unspecified address, got '::'"),
            (
                "fe80::2%eth0",
                "must be an address without %scope (the router's interface), got 'fe80::2%eth0'",
            ),
        ],
    )
    def test_bad_ipv6_peer(self, tmp_path: Path, peer: str, message: str) -> None:
        assert bad(tmp_path, virtual_ips=V6, unicast_peers=f'["2001:db8::2", "{peer}"]') == [
            f"virtual_router[0].unicast_peers[1]: {message}"
        ]

    def test_duplicate_peer(self, tmp_path: Path) -> None:
        assert bad(tmp_path, unicast_peers='["192.0.2.2", "192.0.2.3", "192.0.2.2"]') == [
            "virtual_router[0].unicast_peers[2]: duplicate address '192.0.2.2'"
        ]

    def test_duplicate_peer_other_spelling(self, tmp_path: Path) -> None:
        text = '["2001:db8::2", "2001:DB8:0::0:2"]'
        assert bad(tmp_path, virtual_ips=V6, unicast_peers=text) == [
            "virtual_router[0].unicast_peers[1]: duplicate address '2001:DB8:0::0:2'"
        ]

    def test_every_bad_peer_reported(self, tmp_path: Path) -> None:
        assert bad(tmp_path, unicast_peers='["224.0.0.1", "x", "192.0.2.2"]') == [
            "virtual_router[0].unicast_peers[0]: must not be a multicast address, got '224.0.0.1'",
            "virtual_router[0].unicast_peers[1]: must be an IPv4 or IPv6 address, got 'x'",
        ]

    def test_source_without_peers(self, tmp_path: Path) -> None:
        assert bad(tmp_path, unicast_source='"192.0.2.1"') == [
            "virtual_router[0].unicast_source: only applies with unicast_peers, got '192.0.2.1'"
        ]

    @pytest.mark.parametrize("value", ["true", "false"])
    def test_ttl_check_without_peers(self, tmp_path: Path, value: str) -> None:
        assert bad(tmp_path, unicast_ttl_check=value) == [
            "virtual_router[0].unicast_ttl_check: only applies with unicast_peers (multicast "
            f"advertisements are always checked for TTL 255), got {value}"
        ]

    def test_source_and_ttl_check_with_bad_peers_report_only_the_peers(
        self, tmp_path: Path
    ) -> None:
        keys = {
            "unicast_peers": "[]",
            "unicast_source": '"192.0.2.1"',
            "unicast_ttl_check": "false",
        }
        assert bad(tmp_path, **keys) == [
            "virtual_router[0].unicast_peers: must list at least one peer; leave the key out "
            "for multicast, got []"
        ]

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ('"2001:db8::1"', "must be IPv4 like virtual_ips, got '2001:db8::1'"),
            ('"224.0.0.18"', "must not be a multicast address, got '224.0.0.18'"),
            ('"0.0.0.0"', "must not be the unspecified address, got '0.0.0.0'"),
            ('"192.0.2.1/24"', "must be an IPv4 or IPv6 address, got '192.0.2.1/24'"),
            ("1", "must be an address string, got 1"),
            ('"192.0.2.2"', "must not be one of unicast_peers, got '192.0.2.2'"),
        ],
    )
    def test_bad_source(self, tmp_path: Path, value: str, message: str) -> None:
        assert bad(tmp_path, unicast_peers='["192.0.2.2"]', unicast_source=value) == [
            f"virtual_router[0].unicast_source: {message}"
        ]

    def test_family_unknown_when_virtual_ips_bad(self, tmp_path: Path) -> None:
        # Only the virtual_ips problem: the peers' family cannot be judged.
        assert bad(tmp_path, virtual_ips='["nope"]', unicast_peers='["2001:db8::2"]') == [
            "virtual_router[0].virtual_ips[0]: must be an IPv4 or IPv6 address with optional "
            "/prefix, got 'nope'"
        ]

    def test_parse_directly(self) -> None:
        raw = {"name": "a", "interface": "eth0", "vrid": 1, "virtual_ips": ["192.0.2.1"]}
        raw["unicast_peers"] = ["192.0.2.2"]
        (vr,) = parse({"virtual_router": [raw]}, "inline").virtual_routers
        assert vr.unicast_peers == (IPv4Address("192.0.2.2"),)


class TestLinkLocal:
    @pytest.mark.parametrize(
        ("vrid", "derived"),
        [
            (51, "fe80::200:5eff:fe00:233/64"),
            (7, "fe80::200:5eff:fe00:207/64"),
            (1, "fe80::200:5eff:fe00:201/64"),
            (255, "fe80::200:5eff:fe00:2ff/64"),
        ],
    )
    def test_derived(self, tmp_path: Path, vrid: int, derived: str) -> None:
        vr = router(tmp_path, vrid=str(vrid), virtual_ips='["2001:db8::fe/64", "2001:db8::fd"]')
        assert vr.virtual_ips == (
            IPv6Interface(derived),
            IPv6Interface("2001:db8::fe/64"),
            IPv6Interface("2001:db8::fd/128"),
        )
        assert vr.link_local_derived is True
        assert vr.advert_addresses == (
            IPv6Interface(derived).ip,
            IPv6Address("2001:db8::fe"),
            IPv6Address("2001:db8::fd"),
        )

    def test_given_link_local_moved_first(self, tmp_path: Path) -> None:
        vr = router(tmp_path, virtual_ips='["2001:db8::fe/64", "2001:db8::fd", "fe80::1/64"]')
        assert vr.virtual_ips == (
            IPv6Interface("fe80::1/64"),
            IPv6Interface("2001:db8::fe/64"),
            IPv6Interface("2001:db8::fd/128"),
        )
        assert vr.link_local_derived is False
        assert vr.advert_addresses[0] == IPv6Address("fe80::1")

    def test_given_link_local_already_first(self, tmp_path: Path) -> None:
        vr = router(tmp_path, virtual_ips='["fe80::200:5eff:fe00:233/64", "2001:db8::fe/64"]')
        assert vr.virtual_ips[0] == IPv6Interface("fe80::200:5eff:fe00:233/64")
        assert len(vr.virtual_ips) == 2
        assert vr.link_local_derived is False

    def test_only_a_link_local(self, tmp_path: Path) -> None:
        vr = router(tmp_path, virtual_ips='["fe80::1/64"]')
        assert vr.virtual_ips == (IPv6Interface("fe80::1/64"),)
        assert vr.link_local_derived is False

    @pytest.mark.parametrize(
        ("text", "stored"),
        [
            ("fe80::1", "fe80::1/64"),  # no prefix written: /64, not ip_interface's /128
            ("fe80::1/128", "fe80::1/128"),  # written: kept
            ("fe80::1/10", "fe80::1/10"),
            ("febf::1", "febf::1/64"),  # the end of fe80::/10
        ],
    )
    def test_link_local_prefix(self, tmp_path: Path, text: str, stored: str) -> None:
        vr = router(tmp_path, virtual_ips=f'["2001:db8::fe/64", "{text}"]')
        assert vr.virtual_ips[0] == IPv6Interface(stored)
        assert vr.virtual_ips[0].network.prefixlen == IPv6Interface(stored).network.prefixlen

    def test_fec0_is_not_link_local(self, tmp_path: Path) -> None:
        vr = router(tmp_path, vrid="7", virtual_ips='["fec0::1/64"]')
        assert vr.virtual_ips[0] == IPv6Interface("fe80::200:5eff:fe00:207/64")
        assert vr.link_local_derived is True

    def test_two_link_locals(self, tmp_path: Path) -> None:
        assert bad(tmp_path, virtual_ips='["fe80::1/64", "2001:db8::fe/64", "fe80::2"]') == [
            "virtual_router[0].virtual_ips: at most one link-local address (the virtual "
            "router's own), got 'fe80::1/64', 'fe80::2'"
        ]

    @pytest.mark.parametrize("listed", [90, 255])
    def test_derived_counts_toward_the_mtu_limit(self, tmp_path: Path, listed: int) -> None:
        # 40 + 8 + 16 * 91 = 1504 > 1500: the derived address is the one too many.
        vips = ", ".join(f'"2001:db8::{i:x}"' for i in range(1, listed + 1))
        assert bad(tmp_path, virtual_ips=f"[{vips}]") == [
            "virtual_router[0].virtual_ips: an advertisement carries at most 90 IPv6 addresses "
            f"at MTU 1500, got {listed + 1} (including the derived link-local address)"
        ]

    def test_89_plus_derived_fits(self, tmp_path: Path) -> None:
        vips = ", ".join(f'"2001:db8::{i:x}"' for i in range(1, 90))
        vr = router(tmp_path, virtual_ips=f"[{vips}]")
        assert len(vr.virtual_ips) == 90
        assert vr.link_local_derived is True

    def test_ipv4_untouched(self, tmp_path: Path) -> None:
        vr = router(tmp_path, virtual_ips='["192.0.2.254/24", "192.0.2.1"]')
        assert vr.virtual_ips == (IPv4Interface("192.0.2.254/24"), IPv4Interface("192.0.2.1"))
        assert vr.link_local_derived is False

    def test_version_2_ipv6_still_one_error(self, tmp_path: Path) -> None:
        assert bad(tmp_path, version="2", virtual_ips='["fe80::1", "fe80::2"]') == [
            "virtual_router[0].virtual_ips: must be IPv4 for version 2"
        ]


class TestKey:
    def test_same_vrid_both_families_on_one_interface(self, tmp_path: Path) -> None:
        text = one_router(name='"v4"', use_vmac="true") + one_router(
            name='"v6"', virtual_ips=V6, use_vmac="true"
        )
        v4, v6 = load(write(tmp_path, text)).virtual_routers
        assert v4.key == ("eth0", 51, 4)
        assert v6.key == ("eth0", 51, 6)
        assert v6.link_local_derived is True

    def test_same_key_twice_with_use_vmac(self, tmp_path: Path) -> None:
        text = one_router(name='"a"', use_vmac="true") + one_router(
            name='"b"', use_vmac="true", virtual_ips='["192.0.2.100/24"]'
        )
        path = write(tmp_path, text)
        assert problems(path) == [
            f"{path}: virtual_router[1].vrid: vrid 51 on eth0 for IPv4 is already used by "
            "virtual_router[0] ('a')"
        ]

    def test_same_ipv6_key_twice(self, tmp_path: Path) -> None:
        text = one_router(name='"a"', virtual_ips=V6) + one_router(
            name='"b"', virtual_ips='["2001:db8::fd/64"]'
        )
        path = write(tmp_path, text)
        assert problems(path) == [
            f"{path}: virtual_router[1].vrid: vrid 51 on eth0 for IPv6 is already used by "
            "virtual_router[0] ('a')"
        ]
