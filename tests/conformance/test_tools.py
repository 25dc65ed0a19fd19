"""netns_lab.craft (command line: tools/vrrp_craft.py), the packet source of the conformance
and fuzz runs, checked against real peers' packets and scapy (pure, no lab): if the crafting
tool were wrong, every conformance verdict built on it would be too."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRPv3
from scapy.utils import rdpcap

from netns_lab import craft, wire

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def test_keepalived_golden_bytes() -> None:
    """Tool: the advert keepalived 2.2.7 sends (RFC-NOTES.md) is crafted byte for byte."""
    m = craft.craft_message(src="192.0.2.1", priority=150, addresses=["192.0.2.254"])
    assert m == bytes.fromhex("31339601 0064d2d7 c00002fe")
    for src, prio, want in (("192.0.2.1", 0, 0x68D8), ("192.0.2.2", 100, 0x04D7)):
        m = craft.craft_message(src=src, priority=prio, addresses=["192.0.2.254"])
        assert int.from_bytes(m[6:8], "big") == want


@pytest.mark.parametrize(
    "name", ["keepalived-v3-ipv4.pcap", "keepalived-v3-ipv6.pcap", "keepalived-v2.pcap"]
)
def test_captured_adverts_recrafted(name: str) -> None:
    """Tool: real adverts (keepalived captures) are rebuilt identically from their fields."""
    done = 0
    for pkt in wire.adverts(rdpcap(str(CAPTURES / name))):
        ip = wire.ip_of(pkt)
        message = wire.vrrp_bytes(pkt)
        v2 = message[0] >> 4 == 2
        size = 4 if ip.version == 4 else 16
        addrs = [
            str(ip_address(message[8 + i * size : 8 + (i + 1) * size])) for i in range(message[3])
        ]
        again = craft.craft_message(
            src=str(ip.src),
            dst=str(ip.dst),
            version=message[0] >> 4,
            vrid=message[1],
            priority=message[2],
            interval=message[5] if v2 else int.from_bytes(message[4:6], "big") & 0xFFF,
            auth_type=message[4] if v2 else 0,
            auth_data=message[-8:] if v2 else b"",
            addresses=addrs,
        )
        assert again == message
        done += 1
    assert done > 0


def test_checksum_forms_and_scapy() -> None:
    """Tool: checksums agree with scapy's; "bad" matches neither IPv4 form."""
    src, dst = "192.0.2.1", "224.0.0.18"
    scapy4 = IP(bytes(IP(src=src, dst=dst) / VRRPv3(vrid=7, priority=9, addrlist=["192.0.2.9"])))
    mine = craft.craft_message(src=src, vrid=7, priority=9, addresses=["192.0.2.9"])
    assert int.from_bytes(mine[6:8], "big") == scapy4[VRRPv3].chksum
    six = ["fe80::200:5eff:fe00:207", "2001:db8::9"]
    scapy6 = bytes(IPv6(src="fe80::1", dst="ff02::12") / VRRPv3(vrid=7, addrlist=six))
    assert craft.craft_message(src="fe80::1", vrid=7, addresses=six) == scapy6[40:]
    bad = craft.craft_message(src=src, checksum="bad", addresses=["192.0.2.9"])
    value = int.from_bytes(bad[6:8], "big")
    for form in ("rfc5798", "rfc9568"):
        assert value != craft.checksum_of(bad, src, dst, form)


def test_random_packets_reproducible() -> None:
    """Tool: --random N --seed S sends the same packets for the same seed."""
    a = craft.random_packets(200, 7, srcs=["192.0.2.100"])
    assert a == craft.random_packets(200, 7, srcs=["192.0.2.100"])
    assert a != craft.random_packets(200, 8, srcs=["192.0.2.100"])
    assert all(p[9] == 112 for p in a)  # every one on protocol 112
