"""The kernel filter (issue 9): junk sent at a real vrrpd is dropped by its protocol-112
socket's BPF program and never counted, while valid adverts get through; with
``kernel_filter = false`` the same junk is counted reason by reason; after a reload that adds
a VRID, that VRID's adverts get through (the program follows the configuration).

"Nothing was counted" is shown against something that is: junk is followed, on the same
socket, by a sentinel the filter keeps and the daemon discards (a bad checksum). The socket
queue is in order, so once the sentinel is counted the junk before it has been dealt with.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import VIP_ADDR, vr
from tests.netns.test_ipv6 import VIP6_ADDR, VR_LL, vr6
from tests.netns.test_operations import ctl_ok

pytestmark = pytest.mark.netns

R1, R2, C1 = "192.0.2.1", "192.0.2.2", "192.0.2.100"
WAIT = 10.0
JUNK_REASONS = ("discard_ttl", "discard_vrid", "discard_version", "discard_type")


def counters(d: Vrrpd, name: str = "gw") -> dict[str, int]:
    return {k: v for k, v in d.counters(name).items() if k.startswith("discard_")}


def send_junk_then_sentinel(c1: Node, d: Vrrpd, **fields: Any) -> dict[str, int]:
    """From c1: 3 adverts with TTL 64, 2 for an unconfigured VRID, 4 of VRRPv2 at a v3
    router, 1 of type 2, all priority 254 (accepted, any would take mastership); then one
    with a bad checksum, and wait until `d` counts it. The discard counters' growth."""
    before = counters(d)
    fields = {"priority": 254, **fields}
    c1.inject(3, ttl=64, **fields)
    c1.inject(2, **{**fields, "vrid": 52})
    c1.inject(4, version=2, **fields)
    c1.inject(1, type=2, **fields)
    c1.inject(1, checksum="bad", **fields)
    want = before["discard_checksum"] + 1
    wait_for(lambda: counters(d)["discard_checksum"] >= want, WAIT, what="the sentinel counted")
    after = counters(d)
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def pair(lab: Lab, kernel_filter: bool | None) -> tuple[Vrrpd, Vrrpd, Node]:
    """r1 (200) Master, r2 (100) Backup of "gw" (VRID 51), c1 a client; `kernel_filter`
    None: the default."""
    daemon = {} if kernel_filter is None else {"kernel_filter": kernel_filter}
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    d1 = r1.start_vrrpd([vr(priority=200)], daemon=daemon)
    d1.wait_state("gw", "MASTER", timeout=WAIT)
    d2 = r2.start_vrrpd([vr(priority=100)], daemon=daemon)
    d2.wait_state("gw", "BACKUP", timeout=WAIT)
    wait_for(lambda: d2.router("gw")["master"] == R1, WAIT, what="r2 to follow r1")
    return d1, d2, c1


@pytest.mark.parametrize("kernel_filter", [None, False], ids=["default-on", "off"])
def test_junk_dropped_by_the_kernel_or_counted_when_off(
    lab: Lab, kernel_filter: bool | None
) -> None:
    d1, d2, c1 = pair(lab, kernel_filter)
    received = d2.counters("gw")["adverts_received"]
    for d in (d1, d2):
        grown = send_junk_then_sentinel(c1, d, addresses=[VIP_ADDR])
        if kernel_filter is None:
            assert grown == {"discard_checksum": 1}, d
        else:
            want = {"discard_ttl": 3, "discard_vrid": 2, "discard_version": 4}
            assert grown == {**want, "discard_type": 1, "discard_checksum": 1}, d
    # None of it moved anything; r1's adverts keep reaching r2.
    assert d1.router("gw")["state"] == "MASTER"
    assert d2.router("gw")["master"] == R1
    d2.wait_counter("gw", "adverts_received", received + 5, timeout=WAIT)
    # A valid advert from c1 is kept and acted on: r1 yields to priority 254.
    c1.inject(1, addresses=[VIP_ADDR], priority=254)
    d1.wait_state("gw", "BACKUP", timeout=WAIT)
    assert d1.router("gw")["master"] == C1


def test_ipv6_junk_dropped_by_the_kernel(lab: Lab) -> None:
    r1 = lab.add_router("r1", None, "2001:db8::1/64")
    c1 = lab.add_client("c1", None, "2001:db8::100/64")
    d1 = r1.start_vrrpd([vr6(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=WAIT)
    ll = c1.link_local()
    assert ll is not None
    fields: dict[str, Any] = {"src": ll, "addresses": [VR_LL, VIP6_ADDR]}
    assert send_junk_then_sentinel(c1, d1, **fields) == {"discard_checksum": 1}
    assert d1.router("gw")["state"] == "MASTER"
    c1.inject(1, priority=254, **fields)
    d1.wait_state("gw", "BACKUP", timeout=WAIT)
    assert d1.router("gw")["master"] == ll


def test_reload_adding_a_vrid_lets_its_adverts_through(lab: Lab) -> None:
    """r2 runs VRIDs 51 and 52, r1 only 51: r1's kernel drops r2's VRID 52 adverts
    (discard_vrid stays 0). A reload adds VRID 52 to r1 at a lower priority: it must hear r2
    and stay Backup (with the old program it would hear nothing and become Master)."""
    r1 = lab.add_router("r1", f"{R1}/24")
    r2 = lab.add_router("r2", f"{R2}/24")
    gw2 = {"name": "gw2", "vrid": 52, "virtual_ips": ["192.0.2.253/24"]}
    d2 = r2.start_vrrpd([vr(priority=100), vr(priority=200, **gw2)])
    d2.wait_state("gw2", "MASTER", timeout=WAIT)
    d1 = r1.start_vrrpd([vr(priority=200)])
    d1.wait_state("gw", "MASTER", timeout=WAIT)
    d2.wait_state("gw", "BACKUP", timeout=WAIT)
    sent = d2.counters("gw2")["adverts_sent"]
    d2.wait_counter("gw2", "adverts_sent", sent + 10, timeout=WAIT)
    assert d1.counters("gw")["discard_vrid"] == 0  # VRID 52 never reached Python

    doc = tomllib.loads(d1.config_path.read_text())
    doc["virtual_router"].append(vr(priority=100, **gw2))
    d1.config_path.write_text(dumps(doc))
    out = ctl_ok(d1, "reload").strip()
    assert out == "unchanged: gw, updated: -, restarted: -, added: gw2, removed: -"
    d1.wait_state("gw2", "BACKUP", timeout=WAIT)
    d1.wait_counter("gw2", "adverts_received", 5, timeout=WAIT)
    assert d1.router("gw2")["master"] == R2
    assert d1.router("gw2")["counters"]["became_master"] == 0
    assert d1.router("gw")["state"] == "MASTER"


def test_reload_switches_the_filter_off_and_on_at_once(lab: Lab) -> None:
    """`kernel_filter` alone changed by a reload applies to every interface straight away."""
    d1, _d2, c1 = pair(lab, None)
    assert send_junk_then_sentinel(c1, d1, addresses=[VIP_ADDR]) == {"discard_checksum": 1}
    for on in (False, True):
        doc = tomllib.loads(d1.config_path.read_text())
        doc["daemon"]["kernel_filter"] = on
        d1.config_path.write_text(dumps(doc))
        ctl_ok(d1, "reload")
        grown = send_junk_then_sentinel(c1, d1, addresses=[VIP_ADDR])
        if on:
            assert grown == {"discard_checksum": 1}
        else:
            assert grown["discard_ttl"] == 3 and grown["discard_vrid"] == 2
    assert d1.router("gw")["state"] == "MASTER"
