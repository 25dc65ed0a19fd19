"""The two negative checks the interop tests rely on, shown to fire.

`Keepalived.complaints()` must catch what keepalived 2.2.7 prints when it rejects an advert,
and nothing it prints for a good one; vrrpd's ``discard_*`` counters must count a bad advert
from the wire. Otherwise "no complaint" and "no discard" in the other tests would prove
nothing. Bad adverts come from the client, made by netns_lab.craft (`Node.inject`: scapy,
independent of vrrpd's codec).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from netns_lab.keepalived import Keepalived, start_keepalived
from netns_lab.lab import Lab, wait_for
from tests.interop.conftest import (
    VIP6,
    VIP6_LL,
    VIP_ADDR,
    VR_NAME,
    assert_vrrpd_clean,
    ka,
    vr,
    wait_ka_state,
    wait_vrrpd_state,
)

pytestmark = [pytest.mark.netns, pytest.mark.interop]


def expect_complaint(k: Keepalived, send: Callable[[], object], word: str) -> str:
    """Run `send()` and wait for one new complaint containing `word`; return it."""
    before = len(k.complaints())
    send()

    def new() -> str | None:
        for line in k.complaints()[before:]:
            if word.lower() in line.lower():
                return line
        return None

    try:
        return wait_for(new, 10.0, what=f"keepalived to complain ({word!r})")
    except TimeoutError as e:
        raise AssertionError(f"{e}; log tail:\n{k.log_text()[-2000:]}") from None


def expect_accepted(k: Keepalived, send: Callable[[], object]) -> None:
    """Run `send()` (a valid lower-priority advert): keepalived logs that it saw it, and the
    detector reports nothing."""
    before = len(k.log_lines())
    send()
    wait_for(
        lambda: any("lower priority" in line for line in k.log_lines()[before:]),
        10.0,
        what="keepalived to log the valid lower-priority advert",
    )
    assert k.complaints() == [], k.complaints()


def test_keepalived_complaints_v3_ipv4(lab: Lab) -> None:
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    k = start_keepalived(r2, [ka(priority=150)])
    wait_ka_state(k, "MASTER")
    base: dict[str, Any] = {"vrid": 51, "priority": 100, "interval": 20, "addresses": [VIP_ADDR]}
    expect_accepted(k, lambda: c1.inject(**base))
    expect_complaint(k, lambda: c1.inject(**base, checksum="bad"), "checksum")
    expect_complaint(k, lambda: c1.inject(**base, ttl=64), "TTL")
    expect_complaint(k, lambda: c1.inject(**{**base, "version": 2, "interval": 1}), "version")
    expect_complaint(k, lambda: c1.inject(**base, type=2), "type")
    expect_complaint(k, lambda: c1.inject(**base, truncate=6), "too short")
    # keepalived 2.2.7 rejects the RFC 9568 IPv4 checksum (no pseudo-header): vrrpd must send
    # the RFC 5798 form to it, which is its default.
    expect_complaint(k, lambda: c1.inject(**base, checksum="rfc9568"), "checksum")
    other_vip = {**base, "addresses": ["192.0.2.253"]}
    expect_complaint(k, lambda: c1.inject(**other_vip), "not present")
    assert k.state("VI_1") == "MASTER"


def test_keepalived_complaints_v2_pass(lab: Lab) -> None:
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    auth = {"auth_type": "PASS", "auth_pass": "secret"}
    k = start_keepalived(
        r2, [ka(priority=150, advert_int=1, authentication=auth)], global_defs={"vrrp_version": 2}
    )
    wait_ka_state(k, "MASTER")
    base: dict[str, Any] = {"src": "192.0.2.100", "version": 2, "priority": 100}
    base["addresses"] = [VIP_ADDR]
    expect_accepted(k, lambda: c1.inject(**base, auth_type=1, auth_data=b"secret"))
    expect_complaint(k, lambda: c1.inject(**base, auth_type=1, auth_data=b"wrong"), "passwd")
    expect_complaint(k, lambda: c1.inject(**base), "auth")
    good = {**base, "auth_type": 1, "auth_data": b"secret"}
    expect_complaint(k, lambda: c1.inject(**good, interval=2), "interval")
    expect_complaint(k, lambda: c1.inject(**good, checksum="bad"), "checksum")


def test_keepalived_complaints_v3_ipv6(lab: Lab) -> None:
    r2 = lab.add_router("r2", "192.0.2.2/24", "2001:db8::2/64")
    c1 = lab.add_client("c1", "192.0.2.100/24", "2001:db8::64/64")
    k = start_keepalived(r2, [ka(priority=150, virtual_ipaddress=[VIP6_LL, VIP6])])
    wait_ka_state(k, "MASTER")
    ll = c1.link_local()
    assert ll is not None
    vips = [VIP6_LL.split("/")[0], VIP6.split("/")[0]]
    base: dict[str, Any] = {"src": ll, "priority": 100, "interval": 20}
    expect_accepted(k, lambda: c1.inject(**base, addresses=vips))
    expect_complaint(k, lambda: c1.inject(**base, addresses=vips, ttl=64), "TTL")
    # A list without the link-local (what keepalived itself sends with global VIPs only).
    expect_complaint(k, lambda: c1.inject(**base, addresses=vips[1:]), "count")
    # (A bad IPv6 checksum is dropped by the kernel, IPV6_CHECKSUM: keepalived never sees it.)


def test_vrrpd_discard_counters_fire(lab: Lab) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    c1 = lab.add_client("c1", "192.0.2.100/24")
    d = r1.start_vrrpd([vr(priority=100)])
    k = start_keepalived(r2, [ka(priority=200)])
    wait_ka_state(k, "MASTER", d)
    wait_vrrpd_state(d, "BACKUP", k)
    d.wait_counter(VR_NAME, "adverts_received", 3, 10.0)
    assert_vrrpd_clean(d, k)
    c1.inject(vrid=51, priority=250, interval=20, addresses=[VIP_ADDR], checksum="bad")
    d.wait_counter(VR_NAME, "discard_checksum", 1, 10.0)
    with pytest.raises(AssertionError, match="discard_checksum"):
        assert_vrrpd_clean(d, k)
