"""Requirements on a virtual router's parameters (RFC 5798 §5.2.3, §5.2.4, §6.1 with RFC 9568
erratum 8301), checked where vrrpd enforces them: its configuration (pure, no lab)."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest

from vrrpd.config import ConfigError, VirtualRouterConfig, parse


def one(**overrides: Any) -> VirtualRouterConfig:
    table: dict[str, Any] = {
        "name": "gw",
        "interface": "eth0",
        "vrid": 51,
        "virtual_ips": ["192.0.2.254/24"],
    }
    table.update(overrides)
    return parse({"virtual_router": [table]}, "test.toml").virtual_routers[0]


def refused(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as e:
        one(**overrides)
    return str(e.value)


def test_vrid_range() -> None:
    """§5.2.3 The VRID is configurable in the range 1-255."""
    assert one(vrid=1).vrid == 1
    assert one(vrid=255).vrid == 255
    for bad in (0, 256):
        assert "vrid" in refused(vrid=bad)


def test_priority_range() -> None:
    """§5.2.4 MUST: backups use priorities 1-254, the owner 255; 0 is never configured."""
    assert one(priority=1).priority == 1
    assert one(priority=254).priority == 254
    assert one(priority=255).priority == 255
    for bad in (0, 256):
        assert "priority" in refused(priority=bad)


def test_advertisement_interval_range() -> None:
    """§6.1 (erratum 8301) Advertisement_Interval is configurable in 1-4095 centiseconds."""
    assert one(advert_interval=0.01).advert_interval_cs == 1
    assert one(advert_interval=40.95).advert_interval_cs == 4095
    for bad in (0, 0.001, 40.96):
        assert "advert_interval" in refused(advert_interval=bad)


def test_defaults_priority_interval_preempt() -> None:
    """§6.1 Defaults: Priority 100, Advertisement_Interval 100 cs, Preempt_Mode True."""
    vr = one()
    assert (vr.priority, vr.advert_interval_cs, vr.preempt) == (100, 100, True)


def test_accept_mode_default() -> None:
    """§6.1 Accept_Mode default is False: vrrpd defaults to True."""
    assert one().accept_mode is True
    assert one(accept_mode=False).accept_mode is False


def test_ipv6_first_address_link_local() -> None:
    """§6.1 MUST: the first IPv6 address of a virtual router is its link-local address."""
    derived = one(virtual_ips=["2001:db8::254/64"]).advert_addresses
    assert derived[0] == ip_address("fe80::200:5eff:fe00:233")  # derived from the vmac
    assert derived[1:] == (ip_address("2001:db8::254"),)
    given = one(virtual_ips=["2001:db8::254/64", "fe80::1/64"]).advert_addresses
    assert given == (ip_address("fe80::1"), ip_address("2001:db8::254"))
