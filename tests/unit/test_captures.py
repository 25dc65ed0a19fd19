"""Real keepalived 2.2.7 and FRR 8.4.4 packets (tests/data/captures) decode with our codec,
re-encode to the same bytes, and pass the receiver's validation."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

from vrrpd import packet
from vrrpd.packet import ChecksumForm, decode, encode
from vrrpd.receive import Accepted, Discarded, Receiver, RouterView
from vrrpd.types import IPAddress

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


@dataclass(frozen=True)
class Frame:
    number: int  # 1-based frame number in the file
    src: IPAddress
    dst: IPAddress
    ttl: int
    ip: bytes  # the whole IP packet (IPv4) or header + payload (IPv6)
    message: bytes  # the VRRP message, sized from the IP length


def vrrp_frames(name: str) -> list[Frame]:
    frames: list[Frame] = []
    for number, pkt in enumerate(rdpcap(str(CAPTURES / name)), start=1):
        if IP in pkt and pkt[IP].proto == 112:
            raw = bytes(pkt[IP])
            ip = packet.parse_ipv4(raw)
            frames.append(Frame(number, ip.src, ip.dst, ip.ttl, raw, ip.payload))
        elif IPv6 in pkt and pkt[IPv6].nh == 112:
            raw = bytes(pkt[IPv6])
            plen = struct.unpack_from("!H", raw, 4)[0]
            frames.append(
                Frame(
                    number,
                    IPv6Address(raw[8:24]),
                    IPv6Address(raw[24:40]),
                    raw[7],
                    raw,
                    raw[40 : 40 + plen],
                )
            )
    return frames


FILES = {
    # file: (VRRP packets, version, family)
    "keepalived-v3-ipv4.pcap": (7, 3, 4),
    "keepalived-v3-ipv6.pcap": (7, 3, 6),
    "keepalived-v3-ipv6-global-only.pcap": (7, 3, 6),
    "keepalived-v2.pcap": (7, 2, 4),
    "keepalived-v2-authpass.pcap": (7, 2, 4),
    "keepalived-v3-unicast.pcap": (7, 3, 4),
    "keepalived-vmac.pcap": (7, 3, 4),
    "frr-v3-ipv4.pcap": (11, 3, 4),
    "keepalived-multi.pcap": (12, 3, 4),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_vrrp_packet_decodes_and_reencodes(name: str) -> None:
    count, version, family = FILES[name]
    frames = vrrp_frames(name)
    assert len(frames) == count
    for f in frames:
        assert f.ttl == 255
        decoded = decode(f.message, f.src, f.dst)
        adv = decoded.advert
        assert adv.version == version
        assert adv.family == family
        # Every v3 packet in the captures uses the pseudo-header; v2 the message alone.
        expected_form = ChecksumForm.PSEUDO if version == 3 else ChecksumForm.PLAIN
        assert decoded.checksum_form is expected_form
        assert encode(adv, f.src, f.dst, expected_form) == f.message


@pytest.mark.parametrize("name", sorted(FILES))
def test_receiver_accepts_every_captured_advert(name: str) -> None:
    frames = vrrp_frames(name)
    adverts = [decode(f.message, f.src, f.dst).advert for f in frames]
    views = {
        a.vrid: RouterView(
            a.version,
            frozenset(a.addresses),
            interval_cs=a.interval_cs,
            auth_pass=a.auth_data.rstrip(b"\x00") if a.auth_type == 1 else b"",
        )
        for a in adverts
    }
    receiver = Receiver(views, local={ip_address("192.0.2.100"), ip_address("2001:db8::100")})
    for f, adv in zip(frames, adverts, strict=True):
        if isinstance(f.src, IPv4Address):
            verdict = receiver.receive_ipv4(f.ip)
        else:
            verdict = receiver.receive(f.message, f.src, f.dst, f.ttl)
        assert isinstance(verdict, Accepted), verdict
        assert verdict.advert == adv
        assert verdict.address_mismatch is False


def test_keepalived_v3_ipv4_layout() -> None:
    frames = vrrp_frames("keepalived-v3-ipv4.pcap")
    first = frames[0]
    assert first.number == 1
    assert first.ip[:20] == bytes.fromhex("45c0002000030000ff701897c0000201e0000012")
    assert first.message == bytes.fromhex("31339601 0064d2d7 c00002fe")
    got = [(str(f.src), decode(f.message, f.src, f.dst).advert.priority) for f in frames]
    assert got[:5] == [
        ("192.0.2.1", 150),
        ("192.0.2.1", 150),
        ("192.0.2.1", 150),
        ("192.0.2.1", 0),
        ("192.0.2.2", 100),
    ]
    assert all(p == 100 and s == "192.0.2.2" for s, p in got[5:])
    # Priority 0 from 192.0.2.1: checksum 0x68d8 (README).
    assert frames[3].message[6:8] == b"\x68\xd8"


def test_keepalived_v3_ipv4_is_not_the_rfc9568_form() -> None:
    f = vrrp_frames("keepalived-v3-ipv4.pcap")[0]
    adv = decode(f.message, f.src, f.dst).advert
    assert encode(adv, f.src, f.dst, ChecksumForm.PLAIN)[6:8] == b"\x75\x68"
    assert f.message[6:8] == b"\xd2\xd7"


def test_keepalived_v3_ipv6_addresses_in_config_order() -> None:
    f = vrrp_frames("keepalived-v3-ipv6.pcap")[0]
    assert f.src.is_link_local
    assert f.dst == IPv6Address("ff02::12")
    adv = decode(f.message, f.src, f.dst).advert
    assert adv.addresses == (
        IPv6Address("fe80::200:5eff:fe00:233"),
        IPv6Address("2001:db8::fe"),
    )
    assert f.message[6:8] == b"\xdd\xa5"


def test_keepalived_v3_ipv6_global_only_is_accepted() -> None:
    # No link-local first address (erratum 8300): decode accepts it (interop).
    f = vrrp_frames("keepalived-v3-ipv6-global-only.pcap")[0]
    adv = decode(f.message, f.src, f.dst).advert
    assert adv.addresses == (IPv6Address("2001:db8::fe"),)
    assert f.message[6:8] == b"\x75\xf4"


def test_keepalived_v2_auth() -> None:
    plain = decode(*_first("keepalived-v2.pcap")).advert
    assert (plain.auth_type, plain.auth_data, plain.interval_cs) == (0, b"\x00" * 8, 100)
    auth = decode(*_first("keepalived-v2-authpass.pcap")).advert
    assert (auth.auth_type, auth.auth_data) == (1, b"secret\x00\x00")


def test_keepalived_unicast_uses_real_destination() -> None:
    f = vrrp_frames("keepalived-v3-unicast.pcap")[0]
    assert (f.src, f.dst) == (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"))
    assert f.message[6:8] == b"\xf0\xe7"
    with pytest.raises(packet.ChecksumError):
        decode(f.message, f.src, packet.VRRP_GROUP_V4)


def test_frr_interval_and_priority_0() -> None:
    frames = vrrp_frames("frr-v3-ipv4.pcap")
    adverts = [decode(f.message, f.src, f.dst).advert for f in frames]
    assert [a.priority for a in adverts[:5]] == [150, 150, 150, 150, 0]
    assert all(a.interval_cs == 10 for a in adverts)
    assert frames[0].message[6:8] == b"\xd3\x31"


def test_keepalived_multi_vrids() -> None:
    adverts = [decode(f.message, f.src, f.dst).advert for f in vrrp_frames("keepalived-multi.pcap")]
    assert [a.vrid for a in adverts] == [1, 2, 3] * 4
    assert [a.priority for a in adverts[9:]] == [0, 0, 0]
    assert adverts[0].addresses == (IPv4Address("192.0.2.11"), IPv4Address("192.0.2.12"))


def _first(name: str) -> tuple[bytes, IPAddress, IPAddress]:
    f = vrrp_frames(name)[0]
    return f.message, f.src, f.dst


def test_keepalived_auth_pass_must_match() -> None:
    frames = vrrp_frames("keepalived-v2-authpass.pcap")
    adv = decode(frames[0].message, frames[0].src, frames[0].dst).advert
    assert adv.auth_type == 1
    for password, ok in ((adv.auth_data.rstrip(b"\x00"), True), (b"wrong", False), (b"", False)):
        view = RouterView(2, frozenset(adv.addresses), adv.interval_cs, auth_pass=password)
        verdict = Receiver({adv.vrid: view}, local=set()).receive_ipv4(frames[0].ip)
        assert isinstance(verdict, Accepted) is ok, (password, verdict)
        if not ok:
            assert isinstance(verdict, Discarded) and verdict.reason == "auth"
