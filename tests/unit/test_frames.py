"""Every frame vrrpd puts on the wire (vrrpd.frames, built with struct) against scapy, the
independent oracle, byte for byte; and the daemon's modules never import scapy."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRPv3

from vrrpd.config import parse
from vrrpd.frames import Frames, garp_frame, na_frame, ra_frame

MAC = "00:00:5e:00:01:33"
OTHER = "02:00:00:00:00:07"
LL = IPv6Address("fe80::200:5eff:fe00:233")


@pytest.mark.parametrize("sender", [None, OTHER])
def test_garp(sender: str | None) -> None:
    vip = IPv4Address("192.0.2.254")
    oracle = Ether(src=sender or MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=MAC, psrc=str(vip), hwdst="00:00:00:00:00:00", pdst=str(vip)
    )
    assert garp_frame(MAC, vip, sender) == bytes(oracle)


@pytest.mark.parametrize("sender", [None, OTHER])
def test_unsolicited_na(sender: str | None) -> None:
    vip = IPv6Address("2001:db8::fe")
    oracle = (
        Ether(src=sender or MAC, dst="33:33:00:00:00:01")
        / IPv6(src=str(LL), dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(R=1, S=0, O=1, tgt=str(vip))
        / ICMPv6NDOptDstLLAddr(lladdr=MAC)
    )
    assert na_frame(MAC, LL, vip, sender) == bytes(oracle)


@pytest.mark.parametrize("lifetime", [1800, 0])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_router_advertisement(lifetime: int, count: int) -> None:
    prefixes = [(IPv6Address(f"2001:db8:{i}::"), 64 - i) for i in range(count)]
    oracle = (
        Ether(src=MAC, dst="33:33:00:00:00:01")
        / IPv6(src=str(LL), dst="ff02::1", hlim=255)
        / ICMPv6ND_RA(chlim=64, prf=0, routerlifetime=lifetime)  # medium preference
        / ICMPv6NDOptSrcLLAddr(lladdr=MAC)
    )
    for prefix, length in prefixes:
        oracle /= ICMPv6NDOptPrefixInfo(
            prefix=str(prefix),
            prefixlen=length,
            L=1,
            A=0,
            validlifetime=lifetime,
            preferredlifetime=0,
        )
    assert ra_frame(MAC, LL, prefixes, lifetime) == bytes(oracle)


def test_multicast_advert_frame_decodes_as_scapy_sees_it() -> None:
    cfg = parse(
        {
            "virtual_router": [
                {
                    "name": "gw",
                    "interface": "eth0",
                    "vrid": 51,
                    "priority": 150,
                    "virtual_ips": ["192.0.2.254/24"],
                }
            ]
        },
        "t",
    ).virtual_routers[0]
    frames = Frames(cfg, IPv4Address("192.0.2.1"), IPv4Address("192.0.2.1"), MAC)
    ((dst, frame),) = frames.advert(150)
    pkt = Ether(frame)
    assert str(dst) == "224.0.0.18" and pkt.dst == "01:00:5e:00:00:12" and pkt.src == MAC
    assert pkt[IP].ttl == 255 and pkt[IP].proto == 112 and pkt[IP].tos == 0xC0
    vrrp = pkt[VRRPv3]
    assert (vrrp.vrid, vrrp.priority, vrrp.ipcount, vrrp.addrlist) == (51, 150, 1, ["192.0.2.254"])
    again = Ether(bytes(Ether(frame)))  # scapy recomputes nothing it was given
    assert bytes(again) == frame
    assert frames.announcements(cfg.virtual_ips) == [garp_frame(MAC, IPv4Address("192.0.2.254"))]


def test_the_daemon_does_not_import_scapy() -> None:
    code = "import sys, vrrpd.daemon; print(sorted(m for m in sys.modules if 'scapy' in m))"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
