"""config.py's checks of virtual addresses: kinds that cannot be virtual addresses, one address
in two virtual routers, and address lists whose advertisement would not fit the MTU. Each
mistake is exactly one line; the good neighbour of each still loads."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path

import pytest

from tests.unit.helpers import bad, one_router, write
from vrrpd.config import ConfigError, VirtualRouterConfig, _max_addresses, load, parse


def router(tmp_path: Path, **keys: object) -> VirtualRouterConfig:
    (vr,) = load(write(tmp_path, one_router(**keys))).virtual_routers
    return vr


def vips(*texts: str) -> str:
    return "[" + ", ".join(f'"{t}"' for t in texts) + "]"


# --- kinds of address ---------------------------------------------------------------------


class TestUnusableKinds:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("224.0.0.18", "must not be a multicast address"),
            ("239.1.2.3/24", "must not be a multicast address"),
            ("127.0.0.1", "must not be a loopback address"),
            ("127.1.2.3/8", "must not be a loopback address"),
            ("0.0.0.0", "must not be the unspecified address"),
            ("0.0.0.0/0", "must not be the unspecified address"),
            ("ff02::12", "must not be a multicast address"),
            ("ff05::1/64", "must not be a multicast address"),
            ("::1", "must not be a loopback address"),
            ("::1/128", "must not be a loopback address"),
            ("::", "must not be the unspecified address"),
            ("::/0", "must not be the unspecified address"),
        ],
    )
    def test_one_line(self, tmp_path: Path, text: str, message: str) -> None:
        assert bad(tmp_path, one_router(virtual_ips=vips(text))) == [
            f"virtual_router[0].virtual_ips[0]: {message}, got '{text}'"
        ]

    @pytest.mark.parametrize(
        ("good", "bad_one"),
        [("192.0.2.254/24", "224.0.0.18"), ("2001:db8::fe/64", "ff02::1")],
    )
    def test_among_good_ones_still_one_line(self, tmp_path: Path, good: str, bad_one: str) -> None:
        assert bad(tmp_path, one_router(virtual_ips=vips(good, bad_one))) == [
            f"virtual_router[0].virtual_ips[1]: must not be a multicast address, got '{bad_one}'"
        ]

    @pytest.mark.parametrize(
        "text",
        [
            "223.255.255.254",  # the last address before 224/4
            "128.0.0.1",  # the first after 127/8
            "169.254.1.1/16",  # IPv4 link-local: allowed
            "192.0.2.254/24",
        ],
    )
    def test_ipv4_neighbours_load(self, tmp_path: Path, text: str) -> None:
        vr = router(tmp_path, virtual_ips=vips(text))
        assert vr.virtual_ips == (IPv4Interface(text),)

    @pytest.mark.parametrize(
        ("text", "first"),
        [
            ("fe80::1/64", "fe80::1/64"),  # IPv6 link-local: the virtual router's own
            ("2001:db8::1", "fe80::200:5eff:fe00:233/64"),
            ("::2", "fe80::200:5eff:fe00:233/64"),  # next to ::1
            ("fec0::1/64", "fe80::200:5eff:fe00:233/64"),
        ],
    )
    def test_ipv6_neighbours_load(self, tmp_path: Path, text: str, first: str) -> None:
        vr = router(tmp_path, virtual_ips=vips(text))
        assert vr.virtual_ips[0] == IPv6Interface(first)
        assert IPv6Interface(text).ip in vr.advert_addresses


# --- one address, two virtual routers -----------------------------------------------------


class TestShared:
    def test_same_interface_other_prefix(self, tmp_path: Path) -> None:
        text = one_router(name='"a"', vrid="1", virtual_ips=vips("192.0.2.254/24")) + one_router(
            name='"b"', vrid="2", virtual_ips=vips("192.0.2.1/24", "192.0.2.254/32")
        )
        assert bad(tmp_path, text) == [
            "virtual_router[1].virtual_ips[1]: is also an address of virtual_router[0] ('a'): "
            "'b' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '192.0.2.254/32'"
        ]

    def test_other_interface(self, tmp_path: Path) -> None:
        text = one_router(name='"a"') + one_router(name='"b"', interface='"eth1"')
        assert bad(tmp_path, text) == [
            "virtual_router[1].virtual_ips[0]: is also an address of virtual_router[0] ('a'): "
            "'b' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '192.0.2.254/24'"
        ]

    def test_ipv6(self, tmp_path: Path) -> None:
        text = one_router(name='"a"', vrid="1", virtual_ips=vips("2001:db8::fe/64")) + one_router(
            name='"b"', vrid="2", virtual_ips=vips("2001:db8::fe")
        )
        assert bad(tmp_path, text) == [
            "virtual_router[1].virtual_ips[0]: is also an address of virtual_router[0] ('a'): "
            "'b' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '2001:db8::fe'"
        ]

    def test_names_the_right_router_after_a_broken_one(self, tmp_path: Path) -> None:
        text = (
            one_router(name='"a"', vrid="1")
            + one_router(name='"b"', vrid="0", virtual_ips=vips("198.51.100.1"))
            + one_router(name='"c"', vrid="3", virtual_ips=vips("198.51.100.2", "192.0.2.254"))
        )
        assert bad(tmp_path, text) == [
            "virtual_router[1].vrid: must be an integer 1..255, got 0",
            "virtual_router[2].virtual_ips[1]: is also an address of virtual_router[0] ('a'): "
            "'c' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '192.0.2.254'",
        ]

    def test_shared_with_two_routers_is_one_line(self, tmp_path: Path) -> None:
        text = (
            one_router(name='"a"', vrid="1", virtual_ips=vips("192.0.2.254/24"))
            + one_router(name='"b"', vrid="2", interface='"eth1"', virtual_ips=vips("192.0.2.254"))
            + one_router(name='"c"', vrid="3", virtual_ips=vips("192.0.2.254"))
        )
        assert bad(tmp_path, text) == [
            "virtual_router[1].virtual_ips[0]: is also an address of virtual_router[0] ('a'): "
            "'b' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '192.0.2.254'",
            "virtual_router[2].virtual_ips[0]: is also an address of virtual_router[0] ('a'): "
            "'c' and 'a' must not share an address (each adds and deletes it on its own), "
            "got '192.0.2.254'",
        ]

    def test_duplicate_key_is_reported_once(self, tmp_path: Path) -> None:
        # Same interface, VRID and family: the vrid line says it; no second line for the VIP.
        text = one_router(name='"a"') + one_router(name='"b"')
        assert bad(tmp_path, text) == [
            "virtual_router[1].vrid: vrid 51 on eth0 for IPv4 is already used by "
            "virtual_router[0] ('a')"
        ]

    def test_link_local_on_the_same_interface(self, tmp_path: Path) -> None:
        text = one_router(
            name='"a"', vrid="1", virtual_ips=vips("fe80::1/64", "2001:db8::1")
        ) + one_router(name='"b"', vrid="2", virtual_ips=vips("fe80::1", "2001:db8::2"))
        assert bad(tmp_path, text) == [
            "virtual_router[1].virtual_ips[0]: is also an address of virtual_router[0] ('a'): "
            "'b' and 'a' must not share an address (each adds and deletes it on its own), "
            "got 'fe80::1'"
        ]

    def test_neighbours_load(self, tmp_path: Path) -> None:
        # Other addresses; the same link-local address on another link; and the derived
        # link-local address of the same VRID on two interfaces.
        text = (
            one_router(name='"a"', vrid="1", virtual_ips=vips("192.0.2.254/24"))
            + one_router(name='"b"', vrid="2", virtual_ips=vips("192.0.2.253/24"))
            + one_router(name='"c"', vrid="3", virtual_ips=vips("fe80::1/64", "2001:db8::1"))
            + one_router(name='"d"', vrid="3", interface='"eth1"', virtual_ips=vips("fe80::1/64"))
            + one_router(name='"e"', vrid="9", virtual_ips=vips("2001:db8::9"))
            + one_router(
                name='"f"', vrid="9", interface='"eth1"', virtual_ips=vips("2001:db8:1::9")
            )
        )
        cfg = load(write(tmp_path, text))
        assert [r.name for r in cfg.virtual_routers] == ["a", "b", "c", "d", "e", "f"]
        assert cfg.virtual_routers[4].virtual_ips[0] == cfg.virtual_routers[5].virtual_ips[0]


# --- the advertisement must fit the MTU ----------------------------------------------------


class TestMtu:
    @pytest.mark.parametrize(
        ("family", "version", "fit"),
        [(6, 3, 90), (4, 3, 368), (4, 2, 366)],  # (1500 - 40 - 8) // 16 etc.
    )
    def test_what_fits(self, family: int, version: int, fit: int) -> None:
        assert _max_addresses(family, version) == fit

    def test_91_ipv6_with_a_given_link_local(self, tmp_path: Path) -> None:
        addresses = ["fe80::1", *(f"2001:db8::{i:x}" for i in range(1, 91))]
        assert bad(tmp_path, one_router(virtual_ips=vips(*addresses))) == [
            "virtual_router[0].virtual_ips: an advertisement carries at most 90 IPv6 "
            "addresses at MTU 1500, got 91"
        ]

    def test_90_ipv6_fit(self, tmp_path: Path) -> None:
        addresses = ["fe80::1", *(f"2001:db8::{i:x}" for i in range(1, 90))]
        vr = router(tmp_path, virtual_ips=vips(*addresses))
        assert len(vr.advert_addresses) == 90
        assert 40 + 8 + 16 * len(vr.advert_addresses) <= 1500

    def test_90_listed_plus_derived(self) -> None:
        raw = {
            "name": "gw",
            "interface": "eth0",
            "vrid": 51,
            "virtual_ips": [f"2001:db8::{i:x}" for i in range(1, 91)],
        }
        with pytest.raises(ConfigError) as info:
            parse({"virtual_router": [raw]}, "x.toml")
        assert info.value.problems == [
            "x.toml: virtual_router[0].virtual_ips: an advertisement carries at most 90 IPv6 "
            "addresses at MTU 1500, got 91 (including the derived link-local address)"
        ]

    @pytest.mark.parametrize("version", ["3", "2"])
    def test_255_ipv4_fit(self, tmp_path: Path, version: str) -> None:
        addresses = [f"198.51.100.{i}" for i in range(1, 256)]
        vr = router(tmp_path, version=version, virtual_ips=vips(*addresses))
        assert len(vr.virtual_ips) == 255


def test_vip_with_a_scope_is_refused(tmp_path: Path) -> None:
    text = one_router(virtual_ips='["fe80::1%eth0/64", "2001:db8::1/64"]')
    assert bad(tmp_path, text) == [
        "virtual_router[0].virtual_ips[0]: must be an address without %scope (the router's "
        "interface), got 'fe80::1%eth0/64'"
    ]
