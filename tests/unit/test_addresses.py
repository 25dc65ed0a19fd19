"""The start-up cleanup decision (vrrpd.addresses) and the kernel release test. The record
that stands in for the address protocol on older kernels (vrrpd.io.addrrecord) is tested in
test_leftovers.py."""

from __future__ import annotations

import os
from ipaddress import ip_address, ip_interface

import pytest

from vrrpd.addresses import (
    VRRPD_ADDR_PROTO,
    Address,
    StartupPlan,
    kernel_keeps_addr_proto,
    recorded_on,
    startup_plan,
)
from vrrpd.io import netlink as nl
from vrrpd.types import IPAddress

KERNEL_LL = 3  # IFAPROT_KERNEL_LL: the kernel's own link-local address


def addr(text: str, proto: int = 0, primary: bool = True) -> Address:
    return Address(ip_interface(text), primary, proto)


def ips(*texts: str) -> set[IPAddress]:
    return {ip_address(t) for t in texts}


HOST = addr("192.0.2.1/24")  # the interface's own address
LINK_LOCAL = addr("fe80::1/64", KERNEL_LL)


def test_the_protocol_is_vrrps_number_everywhere() -> None:
    assert VRRPD_ADDR_PROTO == 112
    assert nl.VRRPD_ADDR_PROTO == VRRPD_ADDR_PROTO
    assert nl.Address is Address  # netlink builds the pure module's records


def test_owner_keeps_its_own_address_and_reports_it_host_owned() -> None:
    # RFC 5798 address owner: the VIP is the interface's own address, not added by vrrpd.
    for keeps in (True, False):
        plan = startup_plan([HOST, LINK_LOCAL], ips("192.0.2.1"), set(), keeps, ips("192.0.2.1"))
        assert plan == StartupPlan((), frozenset(ips("192.0.2.1")))


def test_marked_stale_vip_is_removed_and_the_host_address_kept() -> None:
    stale = addr("192.0.2.254/24", VRRPD_ADDR_PROTO, primary=False)
    plan = startup_plan([HOST, stale, LINK_LOCAL], ips("192.0.2.254"), set(), True)
    assert plan.remove == (ip_interface("192.0.2.254/24"),)
    assert plan.host_owned == frozenset()


def test_owner_and_stale_vip_on_one_interface() -> None:
    stale6 = addr("2001:db8::254/64", VRRPD_ADDR_PROTO)
    vips = ips("192.0.2.1", "2001:db8::254")
    plan = startup_plan([HOST, stale6, LINK_LOCAL], vips, set(), True, ips("192.0.2.1"))
    assert plan.remove == (ip_interface("2001:db8::254/64"),)
    assert plan.host_owned == frozenset(ips("192.0.2.1"))


def test_unmarked_vip_of_a_non_owner_is_a_leftover_and_removed() -> None:
    # keepalived (or a vrrpd from before the mark) left it; an old record changes nothing.
    vip = addr("192.0.2.254/24", primary=False)
    for recorded in (set(), ips("192.0.2.254")):
        plan = startup_plan([HOST, vip], ips("192.0.2.254"), recorded, True)
        assert plan.remove == plan.leftovers == (ip_interface("192.0.2.254/24"),)
        assert plan.host_owned == frozenset() and plan.claimed == ()


def test_unmarked_vip_of_an_owner_is_kept_whatever_the_record_says() -> None:
    vip = addr("192.0.2.254/24", primary=False)
    plan = startup_plan(
        [HOST, vip], ips("192.0.2.254"), ips("192.0.2.254"), True, ips("192.0.2.254")
    )
    assert plan == StartupPlan((), frozenset(ips("192.0.2.254")))


def test_a_non_owners_unmarked_primary_or_ipv6_vip_is_claimed_never_removed() -> None:
    # The host's own primary address listed by a non-owner, or a leftover we cannot tell
    # from it: never removed; the daemon refuses with a line saying how to tell.
    plan = startup_plan([HOST, LINK_LOCAL], ips("192.0.2.1"), set(), True)
    assert plan.remove == () and plan.claimed == (ip_address("192.0.2.1"),)
    other = addr("198.51.100.7/24")  # another primary: still the host's own possibly
    plan = startup_plan([HOST, other], ips("192.0.2.1"), set(), True)
    assert plan.remove == () and plan.claimed == (ip_address("192.0.2.1"),)
    glob = addr("2001:db8::1/64")
    plan6 = startup_plan([glob, LINK_LOCAL], ips("2001:db8::1"), set(), True)
    assert plan6.remove == () and plan6.claimed == (ip_address("2001:db8::1"),)


def test_without_the_protocol_a_recorded_vip_is_removed() -> None:
    vip = addr("192.0.2.254/24", primary=False)  # proto 0: the kernel dropped the mark
    plan = startup_plan([HOST, vip], ips("192.0.2.254"), ips("192.0.2.254"), False)
    assert plan.remove == (ip_interface("192.0.2.254/24"),)
    assert plan.host_owned == frozenset()


def test_without_the_protocol_an_unrecorded_owner_vip_is_kept() -> None:
    vip = addr("192.0.2.254/24", primary=False)
    plan = startup_plan([HOST, vip], ips("192.0.2.254"), set(), False, ips("192.0.2.254"))
    assert plan.remove == ()
    assert plan.host_owned == frozenset(ips("192.0.2.254"))


def test_the_record_never_takes_the_owners_address_unless_it_lists_it() -> None:
    # Record of another address only: the owner's own address stays.
    plan = startup_plan([HOST], ips("192.0.2.1"), ips("192.0.2.254"), False, ips("192.0.2.1"))
    assert plan == StartupPlan((), frozenset(ips("192.0.2.1")))


def test_marked_address_no_longer_configured_is_removed() -> None:
    # A predecessor with another configuration left it: nobody else would ever remove it.
    old = addr("192.0.2.253/24", VRRPD_ADDR_PROTO, primary=False)
    plan = startup_plan([HOST, old], ips("192.0.2.254"), set(), True)
    assert plan.remove == (ip_interface("192.0.2.253/24"),)
    assert plan.host_owned == frozenset()


def test_recorded_address_no_longer_configured_is_removed_without_the_protocol() -> None:
    old = addr("192.0.2.253/24", primary=False)
    plan = startup_plan([HOST, old], ips("192.0.2.254"), ips("192.0.2.253"), False)
    assert plan.remove == (ip_interface("192.0.2.253/24"),)


def test_unconfigured_host_addresses_are_left_alone_and_not_reported() -> None:
    other = addr("198.51.100.7/24", primary=True)
    plan = startup_plan([HOST, other, LINK_LOCAL], ips("192.0.2.254"), set(), True)
    assert plan == StartupPlan((), frozenset())


def test_a_mark_counts_even_where_the_kernel_seems_too_old() -> None:
    # A backport that keeps IFA_PROTO on a "5.x" kernel: the mark is still only ever ours.
    vip = addr("192.0.2.254/24", VRRPD_ADDR_PROTO)
    plan = startup_plan([HOST, vip], ips("192.0.2.254"), set(), False)
    assert plan.remove == (ip_interface("192.0.2.254/24"),)


def test_remove_keeps_kernel_order_and_every_prefix() -> None:
    a = addr("192.0.2.254/24", VRRPD_ADDR_PROTO)
    b = addr("2001:db8::254/64", VRRPD_ADDR_PROTO)
    c = addr("192.0.2.254/32", VRRPD_ADDR_PROTO)  # same address, another prefix
    plan = startup_plan([b, HOST, a, c], ips("192.0.2.254", "2001:db8::254"), set(), True)
    assert plan.remove == (b.iface, a.iface, c.iface)


def test_recorded_on_picks_one_interface() -> None:
    entries = {
        ("eth0", ip_interface("192.0.2.254/24")),
        ("eth1", ip_interface("198.51.100.254/24")),
        ("eth0", ip_interface("2001:db8::254/64")),
    }
    assert recorded_on(entries, "eth0") == frozenset(ips("192.0.2.254", "2001:db8::254"))
    assert recorded_on(entries, "eth2") == frozenset()


@pytest.mark.parametrize(
    ("release", "keeps"),
    [
        ("6.1.0-13-amd64", True),
        ("6.1", True),
        ("6.18.44-fc-v1045", True),
        ("7.0.0", True),
        ("10.2.1", True),
        ("6.0.19", False),
        ("5.15.0-91-generic", False),
        ("4.19.0", False),
        ("6", False),
        ("", False),
        ("garbage", False),
    ],
)
def test_kernel_release(release: str, keeps: bool) -> None:
    assert kernel_keeps_addr_proto(release) is keeps


def test_netlink_asks_the_running_kernel() -> None:
    assert nl.Netlink.keeps_proto() is kernel_keeps_addr_proto(os.uname().release)


def test_at_a_reload_only_the_starting_routers_addresses_are_removed() -> None:
    running = addr("192.0.2.253/24", VRRPD_ADDR_PROTO, primary=False)  # another router's
    starting = addr("192.0.2.254/24", VRRPD_ADDR_PROTO, primary=False)
    plan = startup_plan([HOST, running, starting], ips("192.0.2.254"), set(), True)
    assert plan.remove == (running.iface, starting.iface)
    assert plan.at_reload(ips("192.0.2.254")) == (starting.iface,)
