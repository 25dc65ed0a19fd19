"""Every wire mode, in both directions: election by priority, then graceful failover (priority 0).

Each case starts vrrpd (r1) and keepalived (r2) together on one VRID; the one given priority
200 must win over the one at 100. Then:

- vrrpd master: keepalived stays backup while vrrpd's adverts span its Master_Down_Interval
  more than once and logs no complaint; vrrpd stops (SIGTERM, priority 0) and keepalived
  takes over on the priority-0 advert ("Backup received priority 0 advertisement").
- keepalived master: vrrpd receives its adverts and discards none; keepalived stops
  (SIGTERM, priority 0) and vrrpd takes over with ``reason=priority-0``.

After each convergence exactly one router holds the VIP and the client reaches it.

Modes: VRRPv3 over IPv4 and IPv6, VRRPv2 with and without the PASS password, unicast
peers, and the virtual MAC on one side (vrrpd's ``use_vmac`` / keepalived's ``use_vmac``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from netns_lab import wire
from netns_lab.craft import auth_words
from netns_lab.keepalived import Keepalived, start_keepalived
from netns_lab.lab import Capture, Lab, Node, Vrrpd
from tests.interop.conftest import (
    VIP,
    VIP6,
    VIP6_LL,
    VR_NAME,
    VRID,
    assert_client_reaches,
    assert_keepalived_clean,
    assert_vrrpd_clean,
    describe,
    ka,
    vr,
    wait_ka_state,
    wait_keepalived_heard_vrrpd,
    wait_single_holder,
    wait_vrrpd_heard_keepalived,
    wait_vrrpd_state,
)

pytestmark = [pytest.mark.netns, pytest.mark.interop]


@dataclass(frozen=True)
class Mode:
    vrrpd: dict[str, Any] = field(default_factory=dict)
    keepalived: dict[str, Any] = field(default_factory=dict)
    global_defs: dict[str, Any] = field(default_factory=dict)
    vip: str = VIP
    ipv6: bool = False
    interval: float = 0.2

    @property
    def version(self) -> int:
        return int(self.vrrpd.get("version", 3))

    @property
    def heard(self) -> int:
        """Adverts that span keepalived's Master_Down_Interval (3.6 intervals at priority
        100) more than once."""
        return 5 if self.interval >= 1 else 8


MODES: dict[str, Mode] = {
    "v3-ipv4": Mode(),
    "v3-ipv6": Mode(
        vrrpd={"virtual_ips": [VIP6_LL, VIP6]},
        keepalived={"virtual_ipaddress": [VIP6_LL, VIP6]},
        vip=VIP6,
        ipv6=True,
    ),
    "v2": Mode(
        vrrpd={"version": 2, "advert_interval": 1},
        keepalived={"advert_int": 1},
        global_defs={"vrrp_version": 2},
        interval=1.0,
    ),
    "v2-pass": Mode(
        vrrpd={"version": 2, "advert_interval": 1, "auth_pass": "secret"},
        keepalived={
            "advert_int": 1,
            "authentication": {"auth_type": "PASS", "auth_pass": "secret"},
        },
        global_defs={"vrrp_version": 2},
        interval=1.0,
    ),
    "unicast": Mode(
        vrrpd={"unicast_peers": ["192.0.2.2"], "unicast_source": "192.0.2.1"},
        keepalived={"unicast_src_ip": "192.0.2.2", "unicast_peer": ["192.0.2.1"]},
    ),
    "vmac-vrrpd": Mode(vrrpd={"use_vmac": True}),
    "vmac-keepalived": Mode(keepalived={"use_vmac": True}),
}


def _nodes(lab: Lab, mode: Mode) -> tuple[Node, Node, Node]:
    v6 = mode.ipv6
    r1 = lab.add_router("r1", "192.0.2.1/24", "2001:db8::1/64" if v6 else None)
    r2 = lab.add_router("r2", "192.0.2.2/24", "2001:db8::2/64" if v6 else None)
    c1 = lab.add_client("c1", "192.0.2.100/24", "2001:db8::64/64" if v6 else None)
    return r1, r2, c1


def _start(
    r1: Node, r2: Node, mode: Mode, vrrpd_prio: int, ka_prio: int
) -> tuple[Vrrpd, Keepalived]:
    d = r1.start_vrrpd(
        [vr(**{"priority": vrrpd_prio, "advert_interval": mode.interval, **mode.vrrpd})]
    )
    k = start_keepalived(
        r2,
        [ka(**{"priority": ka_prio, "advert_int": mode.interval, **mode.keepalived})],
        global_defs=mode.global_defs,
    )
    return d, k


def _elected(
    lab: Lab, mode: Mode, *, vrrpd_wins: bool
) -> tuple[Node, Node, Node, Vrrpd, Keepalived]:
    """vrrpd in r1, keepalived in r2, the winner at priority 200 and the other at 100:
    election by priority; only the winner holds the VIP, the client reaches it, the backup
    heard it, and the winner's adverts on the wire are of `mode`."""
    r1, r2, c1 = _nodes(lab, mode)
    routers = [r1, r2]
    cap = r1.capture("ip proto 112 or ip6 proto 112")
    if vrrpd_wins:
        d, k = _start(r1, r2, mode, vrrpd_prio=200, ka_prio=100)
        wait_vrrpd_state(d, "MASTER", k)
        wait_ka_state(k, "BACKUP", d)
        winner, loser, winner_conf = r1, r2, mode.vrrpd
    else:
        d, k = _start(r1, r2, mode, vrrpd_prio=100, ka_prio=200)
        wait_ka_state(k, "MASTER", d)
        wait_vrrpd_state(d, "BACKUP", k)
        winner, loser, winner_conf = r2, r1, mode.keepalived
    single_holder(routers, mode, winner, d, k)
    assert_client_reaches(c1, mode.vip, winner, d, k)
    if vrrpd_wins:
        wait_keepalived_heard_vrrpd(k, d, mode.heard)
    else:
        wait_vrrpd_heard_keepalived(d, k, adverts=mode.heard)
    vmac = bool(winner_conf.get("use_vmac"))
    assert_wire(cap, mode, sender=winner, peer=loser, vmac=vmac)
    return r1, r2, c1, d, k


@pytest.mark.parametrize("mode_name", list(MODES))
def test_vrrpd_master_keepalived_backup(lab: Lab, mode_name: str) -> None:
    mode = MODES[mode_name]
    # Election by priority: vrrpd (200) wins over keepalived (100).
    r1, r2, c1, d, k = _elected(lab, mode, vrrpd_wins=True)
    routers = [r1, r2]
    if mode.vrrpd.get("use_vmac"):
        row = d.router(VR_NAME)
        assert row.get("vmac"), f"vrrpd status has no vmac: {row}"
        assert holders_on(r1, mode.vip) != ["eth0"], "vrrpd's VIP should be on its macvlan"
    assert d.router(VR_NAME)["master"] == "192.0.2.1" or mode.ipv6

    # Graceful failover vrrpd -> keepalived: vrrpd's priority 0 makes keepalived take over
    # after Skew_Time instead of Master_Down_Interval.
    assert d.stop() == 0, describe(d, k)
    wait_ka_state(k, "MASTER", d)
    assert any("Backup received priority 0 advertisement" in line for line in k.log_lines()), (
        f"keepalived took over without seeing vrrpd's priority 0\n{describe(d, k)}"
    )
    single_holder(routers, mode, r2, d, k)
    assert_client_reaches(c1, mode.vip, r2, d, k)
    assert_keepalived_clean(k, d)


@pytest.mark.parametrize("mode_name", list(MODES))
def test_keepalived_master_vrrpd_backup(lab: Lab, mode_name: str) -> None:
    mode = MODES[mode_name]
    # Election by priority: keepalived (200) wins over vrrpd (100).
    r1, r2, c1, d, k = _elected(lab, mode, vrrpd_wins=False)
    routers = [r1, r2]
    row = d.router(VR_NAME)
    if mode.ipv6:
        assert row["master"] == r2.link_local(), f"vrrpd's master {row['master']}"
    else:
        assert row["master"] == "192.0.2.2", f"vrrpd's master {row['master']}"
    if mode.keepalived.get("use_vmac"):
        assert holders_on(r2, mode.vip) != ["eth0"], "keepalived's VIP should be on its vmac"
    assert_keepalived_clean(k, d)  # it heard vrrpd too if vrrpd was master first

    # Graceful failover keepalived -> vrrpd.
    assert k.stop() == 0, describe(d, k)
    row = wait_vrrpd_state(d, "MASTER", k)
    assert "reason=priority-0" in d.log_text(), describe(d, k)
    assert row["counters"]["priority0_received"] >= 1, row["counters"]
    single_holder(routers, mode, r1, d, k)
    assert_client_reaches(c1, mode.vip, r1, d, k)
    assert_vrrpd_clean(d, k)


def single_holder(routers: list[Node], mode: Mode, holder: Node, d: Vrrpd, k: Keepalived) -> None:
    """Only `holder` has the VIP (and, for IPv6, the virtual router's link-local too)."""
    wait_single_holder(routers, mode.vip, holder, d, k)
    if mode.ipv6:
        wait_single_holder(routers, VIP6_LL, holder, d, k)


def holders_on(node: Node, vip: str) -> list[str]:
    return node.holders_of(vip.split("/")[0])


def assert_wire(cap: Capture, mode: Mode, *, sender: Node, peer: Node, vmac: bool) -> None:
    """The master's adverts on the wire (captured in r1) really are of the mode under test:
    version, multicast group or unicast peer, source MAC (the virtual MAC with use_vmac),
    TTL 255, and for VRRPv2 the authentication type and password."""
    if mode.ipv6:
        src = sender.link_local()
        assert src is not None
    else:
        assert sender.ipv4 is not None and peer.ipv4 is not None
        src = str(sender.ipv4.ip)
    ads = cap.wait_packets(
        lambda p: bool(wire.adverts([p], src=src, vrid=VRID)) and wire.vrrp_layer(p).priority > 0,
        3,
        10.0,
        f"3 adverts from {sender.name} ({src})",
    )
    if "unicast_peers" in mode.vrrpd:
        assert peer.ipv4 is not None
        want_dst = str(peer.ipv4.ip)
    else:
        want_dst = "ff02::12" if mode.ipv6 else "224.0.0.18"
    want_mac = wire.vmac(6 if mode.ipv6 else 4, VRID) if vmac else sender.mac
    password = mode.vrrpd.get("auth_pass")
    for p in ads:
        v = wire.vrrp_layer(p)
        where = f"advert from {sender.name}: {p.summary()}"
        assert v.version == mode.version, where
        assert wire.same_ip(wire.ip_of(p).dst, want_dst), where
        assert wire.ttl_of(p) == 255, where
        assert p.src.lower() == want_mac.lower(), f"{where}: source MAC {p.src}, want {want_mac}"
        if mode.version == 2:
            if password:
                assert v.authtype == 1, where
                assert (v.auth1, v.auth2) == auth_words(password), where
            else:
                assert v.authtype == 0, where
