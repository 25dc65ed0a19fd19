"""The VRRP codec: golden vectors (keepalived capture, RFC 9568 form, scapy's vrrp.uts),
scapy as the oracle in both directions, and one crafted message per discard reason."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.utils import checksum as scapy_checksum

from vrrpd import packet
from vrrpd.packet import (
    DECODE_REASONS,
    Advertisement,
    ChecksumError,
    ChecksumForm,
    CountZeroError,
    DecodeError,
    IntervalZeroError,
    IpHeaderError,
    LengthError,
    TtlError,
    TypeError_,
    VersionError,
    decode,
    encode,
    ipv4_header,
    parse_ipv4,
)
from vrrpd.types import IPAddress

R1 = IPv4Address("192.0.2.1")
R2 = IPv4Address("192.0.2.2")
GROUP4 = IPv4Address("224.0.0.18")
GROUP6 = IPv6Address("ff02::12")
VIP = IPv4Address("192.0.2.254")

# keepalived 2.2.7, VRID 51, priority 150, 100 cs, VIP 192.0.2.254, from 192.0.2.1.
KEEPALIVED_VRRP = bytes.fromhex("31 33 96 01 00 64 d2 d7 c0 00 02 fe")
KEEPALIVED_IP = bytes.fromhex("45 c0 00 20 00 03 00 00 ff 70 18 97 c0 00 02 01 e0 00 00 12")
KEEPALIVED_ADVERT = Advertisement(
    version=3, vrid=51, priority=150, interval_cs=100, addresses=(VIP,)
)


def a4(*texts: str) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(t) for t in texts)


def a6(*texts: str) -> tuple[IPv6Address, ...]:
    return tuple(IPv6Address(t) for t in texts)


def with_checksum(message: bytes, src: IPAddress, dst: IPAddress, form: ChecksumForm) -> bytes:
    """`message` with its checksum field recomputed in `form` (for crafted messages)."""
    zeroed = message[:6] + b"\x00\x00" + message[8:]
    ck = packet.vrrp_checksum(zeroed, src, dst, form)
    return zeroed[:6] + struct.pack("!H", ck) + zeroed[8:]


def checksum_of(message: bytes) -> int:
    return int(struct.unpack_from("!H", message, 6)[0])


# --- golden vectors -----------------------------------------------------------------------


class TestKeepalivedGolden:
    def test_encode_pseudo_gives_captured_bytes(self) -> None:
        assert encode(KEEPALIVED_ADVERT, R1, GROUP4, ChecksumForm.PSEUDO) == KEEPALIVED_VRRP

    def test_encode_default_form_is_pseudo(self) -> None:
        assert encode(KEEPALIVED_ADVERT, R1, GROUP4) == KEEPALIVED_VRRP

    def test_decode_captured_bytes(self) -> None:
        decoded = decode(KEEPALIVED_VRRP, R1, GROUP4)
        assert decoded.advert == KEEPALIVED_ADVERT
        assert decoded.checksum_form is ChecksumForm.PSEUDO
        assert decoded.advert.family == 4

    def test_rfc9568_plain_form(self) -> None:
        plain = encode(KEEPALIVED_ADVERT, R1, GROUP4, ChecksumForm.PLAIN)
        assert checksum_of(plain) == 0x7568
        assert plain == KEEPALIVED_VRRP[:6] + b"\x75\x68" + KEEPALIVED_VRRP[8:]
        decoded = decode(plain, R1, GROUP4)
        assert decoded.advert == KEEPALIVED_ADVERT
        assert decoded.checksum_form is ChecksumForm.PLAIN

    def test_plain_form_does_not_depend_on_addresses(self) -> None:
        plain = encode(KEEPALIVED_ADVERT, R2, IPv4Address("192.0.2.77"), ChecksumForm.PLAIN)
        assert checksum_of(plain) == 0x7568

    @pytest.mark.parametrize(
        ("src", "dst", "priority", "expected"),
        [
            (R1, GROUP4, 0, 0x68D8),
            (R2, GROUP4, 100, 0x04D7),
            (R2, GROUP4, 0, 0x68D7),
            (R1, R2, 150, 0xF0E7),  # keepalived unicast: the real destination in the pseudo-header
        ],
    )
    def test_other_captured_checksums(
        self, src: IPv4Address, dst: IPv4Address, priority: int, expected: int
    ) -> None:
        adv = Advertisement(3, 51, priority, 100, (VIP,))
        message = encode(adv, src, dst, ChecksumForm.PSEUDO)
        assert checksum_of(message) == expected
        assert decode(message, src, dst) == packet.Decoded(adv, ChecksumForm.PSEUDO)

    def test_unicast_message_does_not_verify_against_the_group(self) -> None:
        message = encode(KEEPALIVED_ADVERT, R1, R2, ChecksumForm.PSEUDO)
        with pytest.raises(ChecksumError):
            decode(message, R1, GROUP4)

    def test_ipv4_header(self) -> None:
        assert ipv4_header(R1, GROUP4, 12, ident=3) == KEEPALIVED_IP

    def test_ipv4_header_defaults_tos_cs6_ttl_255_df_clear(self) -> None:
        head = ipv4_header(R1, GROUP4, 12)
        assert head[1] == 0xC0
        assert head[8] == 255
        assert head[9] == 112
        assert head[6:8] == b"\x00\x00"  # flags (DF) and fragment offset clear
        assert packet.internet_checksum(head) == 0  # a valid header sums to zero

    def test_parse_ipv4_of_the_capture(self) -> None:
        ip = parse_ipv4(KEEPALIVED_IP + KEEPALIVED_VRRP)
        assert (ip.src, ip.dst, ip.ttl, ip.tos, ip.protocol) == (R1, GROUP4, 255, 0xC0, 112)
        assert ip.payload == KEEPALIVED_VRRP

    def test_parse_ipv4_sizes_payload_from_total_length(self) -> None:
        # Ethernet padding after the IP packet is not part of the VRRP message.
        ip = parse_ipv4(KEEPALIVED_IP + KEEPALIVED_VRRP + b"\x00" * 14)
        assert ip.payload == KEEPALIVED_VRRP


class TestScapyVectors:
    """The vectors of scapy's test/scapy/layers/vrrp.uts, and scapy as an oracle."""

    def test_v3_ipv4_uts_vector(self) -> None:
        frame = (
            Ether(src="00:00:5e:00:02:02", dst="01:00:5e:00:00:12")
            / IP(src="20.0.0.3", dst="224.0.0.18", ttl=255)
            / VRRPv3(priority=254, vrid=2, version=3, adv=1, addrlist=["20.0.1.2", "20.0.1.3"])
        )
        raw = bytes(frame)
        assert Ether(raw)[VRRPv3].chksum == 0xB25E
        src, dst = IPv4Address("20.0.0.3"), GROUP4
        adv = Advertisement(3, 2, 254, 1, a4("20.0.1.2", "20.0.1.3"))
        ours = encode(adv, src, dst, ChecksumForm.PSEUDO)
        assert checksum_of(ours) == 0xB25E
        assert ours == raw[14 + 20 :]
        ip = parse_ipv4(raw[14:])
        assert decode(ip.payload, ip.src, ip.dst) == packet.Decoded(adv, ChecksumForm.PSEUDO)

    def test_v3_ipv6_uts_vector(self) -> None:
        frame = (
            Ether(src="00:00:5e:00:02:02", dst="33:33:00:00:00:12")
            / IPv6(src="2001:db8::1", dst="ff02::12", hlim=255)
            / VRRPv3(
                priority=254,
                vrid=2,
                version=3,
                adv=1,
                ipcount=2,
                addrlist=["2001:db8::2", "2001:db8::3"],
            )
        )
        raw = bytes(frame)
        assert Ether(raw)[VRRPv3].chksum == 0x481B
        src = IPv6Address("2001:db8::1")
        adv = Advertisement(3, 2, 254, 1, a6("2001:db8::2", "2001:db8::3"))
        ours = encode(adv, src, GROUP6)
        assert checksum_of(ours) == 0x481B
        assert ours == raw[14 + 40 :]
        decoded = decode(raw[14 + 40 :], src, GROUP6)
        assert decoded == packet.Decoded(adv, ChecksumForm.PSEUDO)

    def test_v3_ipv6_plain_request_is_forced_to_pseudo(self) -> None:
        src = IPv6Address("2001:db8::1")
        adv = Advertisement(3, 2, 254, 1, a6("2001:db8::2", "2001:db8::3"))
        assert checksum_of(encode(adv, src, GROUP6, ChecksumForm.PLAIN)) == 0x481B

    def test_uts_default_builds_are_rejected(self) -> None:
        # scapy's default v2 build carries no address (count 0: erratum 8299 says discard);
        # its default v3 IPv6 build says count 1 but carries no address (too short).
        raw4 = bytes(IP() / VRRP())
        assert IP(raw4)[VRRP].chksum == 0x7AFD
        ip = parse_ipv4(raw4)
        with pytest.raises(CountZeroError):
            decode(ip.payload, ip.src, ip.dst)
        raw6 = bytes(IPv6() / VRRPv3())
        assert IPv6(raw6)[VRRPv3].chksum == 0x6A1F
        assert raw6[40:] == bytes.fromhex("3101640100646a1f")
        with pytest.raises(LengthError):
            decode(raw6[40:], IPv6Address("::1"), IPv6Address("::1"))


V4_CASES = [
    # (src, dst, vrid, priority, interval_cs, addresses)
    ("192.0.2.1", "224.0.0.18", 51, 150, 100, ("192.0.2.254",)),
    ("192.0.2.2", "224.0.0.18", 1, 1, 1, ("192.0.2.10", "192.0.2.11")),
    ("198.51.100.7", "224.0.0.18", 255, 255, 4095, ("198.51.100.1",)),
    ("203.0.113.9", "203.0.113.10", 200, 0, 10, tuple(f"203.0.113.{i}" for i in range(1, 21))),
    ("192.0.2.200", "224.0.0.18", 7, 254, 300, ("192.0.2.1", "198.51.100.1", "203.0.113.1")),
]

V6_CASES = [
    ("fe80::1", "ff02::12", 51, 150, 100, ("fe80::200:5eff:fe00:233", "2001:db8::fe")),
    ("fe80::2", "ff02::12", 1, 0, 1, ("2001:db8::fe",)),
    ("fe80::abcd:1", "ff02::12", 255, 255, 4095, tuple(f"2001:db8::{i:x}" for i in range(1, 9))),
    ("2001:db8::1", "2001:db8::2", 9, 100, 25, ("fe80::9", "2001:db8:1::9")),
]

V2_CASES = [
    # (src, vrid, priority, adv seconds, authtype, auth bytes, addresses)
    ("192.0.2.1", 51, 150, 1, 0, b"", ("192.0.2.254",)),
    ("192.0.2.2", 51, 0, 1, 1, b"secret", ("192.0.2.254",)),
    ("192.0.2.3", 255, 255, 255, 0, b"", ("192.0.2.1", "192.0.2.2", "192.0.2.3")),
    ("198.51.100.4", 3, 1, 3, 1, b"12345678", ("198.51.100.31", "198.51.100.32")),
]


class TestScapyOracle:
    @pytest.mark.parametrize(("src", "dst", "vrid", "prio", "interval", "addrs"), V4_CASES)
    def test_v3_ipv4_against_scapy(
        self, src: str, dst: str, vrid: int, prio: int, interval: int, addrs: tuple[str, ...]
    ) -> None:
        raw = bytes(
            IP(src=src, dst=dst, ttl=255)
            / VRRPv3(vrid=vrid, priority=prio, adv=interval, addrlist=list(addrs))
        )
        s, d = IPv4Address(src), IPv4Address(dst)
        adv = Advertisement(3, vrid, prio, interval, a4(*addrs))
        assert encode(adv, s, d, ChecksumForm.PSEUDO) == raw[20:]
        ip = parse_ipv4(raw)
        assert decode(ip.payload, ip.src, ip.dst) == packet.Decoded(adv, ChecksumForm.PSEUDO)

    @pytest.mark.parametrize(("src", "dst", "vrid", "prio", "interval", "addrs"), V4_CASES)
    def test_v3_ipv4_plain_against_scapy_checksum(
        self, src: str, dst: str, vrid: int, prio: int, interval: int, addrs: tuple[str, ...]
    ) -> None:
        adv = Advertisement(3, vrid, prio, interval, a4(*addrs))
        s, d = IPv4Address(src), IPv4Address(dst)
        ours = encode(adv, s, d, ChecksumForm.PLAIN)
        zeroed = ours[:6] + b"\x00\x00" + ours[8:]
        assert checksum_of(ours) == scapy_checksum(zeroed)
        assert decode(ours, s, d) == packet.Decoded(adv, ChecksumForm.PLAIN)

    @pytest.mark.parametrize(("src", "dst", "vrid", "prio", "interval", "addrs"), V4_CASES)
    def test_scapy_dissects_our_ipv4_packet(
        self, src: str, dst: str, vrid: int, prio: int, interval: int, addrs: tuple[str, ...]
    ) -> None:
        s, d = IPv4Address(src), IPv4Address(dst)
        message = encode(Advertisement(3, vrid, prio, interval, a4(*addrs)), s, d)
        pkt = IP(ipv4_header(s, d, len(message), ident=7) + message)
        assert (pkt.src, pkt.dst, pkt.ttl, pkt.tos, pkt.proto, pkt.id) == (
            src,
            dst,
            255,
            0xC0,
            112,
            7,
        )
        v = pkt[VRRPv3]
        assert (v.version, v.type, v.vrid, v.priority, v.ipcount, v.adv) == (
            3,
            1,
            vrid,
            prio,
            len(addrs),
            interval,
        )
        assert v.addrlist == list(addrs)
        # scapy recomputes the checksum from scratch and agrees with ours.
        rebuilt = pkt.copy()
        del rebuilt[VRRPv3].chksum
        del rebuilt[IP].chksum
        assert bytes(rebuilt) == bytes(pkt)

    @pytest.mark.parametrize(("src", "dst", "vrid", "prio", "interval", "addrs"), V6_CASES)
    def test_v3_ipv6_against_scapy(
        self, src: str, dst: str, vrid: int, prio: int, interval: int, addrs: tuple[str, ...]
    ) -> None:
        raw = bytes(
            IPv6(src=src, dst=dst, hlim=255)
            / VRRPv3(vrid=vrid, priority=prio, adv=interval, addrlist=list(addrs))
        )
        s, d = IPv6Address(src), IPv6Address(dst)
        adv = Advertisement(3, vrid, prio, interval, a6(*addrs))
        assert encode(adv, s, d) == raw[40:]
        assert decode(raw[40:], s, d) == packet.Decoded(adv, ChecksumForm.PSEUDO)
        ours = encode(adv, s, d)
        back = IPv6(bytes(IPv6(src=src, dst=dst, hlim=255, nh=112, plen=len(ours)))[:40] + ours)
        v = back[VRRPv3]
        assert (v.vrid, v.priority, v.ipcount, v.adv) == (vrid, prio, len(addrs), interval)
        assert v.addrlist == list(addrs)
        rebuilt = back.copy()
        del rebuilt[VRRPv3].chksum
        assert bytes(rebuilt)[40:] == ours

    @pytest.mark.parametrize(
        ("src", "vrid", "prio", "adv_s", "authtype", "auth", "addrs"), V2_CASES
    )
    def test_v2_against_scapy(
        self,
        src: str,
        vrid: int,
        prio: int,
        adv_s: int,
        authtype: int,
        auth: bytes,
        addrs: tuple[str, ...],
    ) -> None:
        padded = auth.ljust(8, b"\x00")
        auth1, auth2 = struct.unpack("!II", padded)
        raw = bytes(
            IP(src=src, dst="224.0.0.18", ttl=255)
            / VRRP(
                version=2,
                vrid=vrid,
                priority=prio,
                adv=adv_s,
                authtype=authtype,
                auth1=auth1,
                auth2=auth2,
                addrlist=list(addrs),
            )
        )
        s = IPv4Address(src)
        adv = Advertisement(2, vrid, prio, adv_s * 100, a4(*addrs), authtype, padded)
        # VRRPv2 is always the message-only checksum, whatever form is asked for.
        assert encode(adv, s, GROUP4, ChecksumForm.PSEUDO) == raw[20:]
        assert encode(adv, s, GROUP4, ChecksumForm.PLAIN) == raw[20:]
        ip = parse_ipv4(raw)
        decoded = decode(ip.payload, ip.src, ip.dst)
        assert decoded == packet.Decoded(adv, ChecksumForm.PLAIN)
        assert decoded.advert.interval_cs == adv_s * 100

    def test_v2_short_auth_data_is_padded_on_the_wire(self) -> None:
        adv = Advertisement(2, 51, 100, 100, (VIP,), 1, b"secret")
        message = encode(adv, R1, GROUP4)
        assert message.endswith(b"secret\x00\x00")
        assert decode(message, R1, GROUP4).advert.auth_data == b"secret\x00\x00"


# --- decode: one crafted message per reason -----------------------------------------------


def _v3(
    first: int = 0x31,
    vrid: int = 51,
    prio: int = 100,
    count: int = 1,
    interval_field: int = 100,
    addrs: bytes = VIP.packed,
) -> bytes:
    head = struct.pack("!BBBBHH", first, vrid, prio, count, interval_field, 0)
    return with_checksum(head + addrs, R1, GROUP4, ChecksumForm.PSEUDO)


def _v2(adv_s: int = 1, count: int = 1, addrs: bytes = VIP.packed) -> bytes:
    head = struct.pack("!BBBBBBH", 0x21, 51, 100, count, 0, adv_s, 0)
    return with_checksum(head + addrs + b"\x00" * 8, R1, GROUP4, ChecksumForm.PLAIN)


def _bad_checksum() -> bytes:
    good = bytearray(KEEPALIVED_VRRP)
    good[7] ^= 0x01
    return bytes(good)


DECODE_CASES: list[tuple[type[DecodeError], bytes, IPAddress]] = [
    (LengthError, b"", R1),
    (LengthError, KEEPALIVED_VRRP[:7], R1),
    (LengthError, _v3(count=2), R1),  # count 2, one address
    (LengthError, KEEPALIVED_VRRP + b"\x00\x00\x00\x00", R1),  # trailing bytes
    (LengthError, _v2(addrs=b""), R1),
    (LengthError, _v3(addrs=VIP.packed), IPv6Address("fe80::1")),  # IPv4-sized on IPv6
    (VersionError, _v3(first=0x41), R1),
    (VersionError, _v3(first=0x11), R1),
    (VersionError, _v3(first=0x01), R1),
    (VersionError, _v2(), IPv6Address("fe80::1")),  # VRRPv2 over IPv6
    (TypeError_, _v3(first=0x32), R1),
    (TypeError_, _v3(first=0x30), R1),
    (TypeError_, _v3(first=0x2F), R1),
    (CountZeroError, _v3(count=0, addrs=b""), R1),
    (IntervalZeroError, _v3(interval_field=0), R1),
    (IntervalZeroError, _v3(interval_field=0xF000), R1),  # reserved bits set, interval 0
    (IntervalZeroError, _v2(adv_s=0), R1),
    (ChecksumError, _bad_checksum(), R1),
    (ChecksumError, KEEPALIVED_VRRP, R2),  # right bytes, wrong source
]


@pytest.mark.parametrize(("error", "message", "src"), DECODE_CASES)
def test_decode_raises_exactly(error: type[DecodeError], message: bytes, src: IPAddress) -> None:
    dst: IPAddress = GROUP6 if isinstance(src, IPv6Address) else GROUP4
    with pytest.raises(DecodeError) as info:
        decode(message, src, dst)
    assert type(info.value) is error
    assert info.value.reason == error.reason
    assert str(info.value)  # a message for the log


IP_HEADER_CASES: list[bytes] = [
    b"",
    KEEPALIVED_IP[:19],
    bytes([0x65]) + KEEPALIVED_IP[1:] + KEEPALIVED_VRRP,  # version 6 nibble
    bytes([0x44]) + KEEPALIVED_IP[1:] + KEEPALIVED_VRRP,  # IHL 4 words
    KEEPALIVED_IP[:2] + b"\x00\x10" + KEEPALIVED_IP[4:] + KEEPALIVED_VRRP,  # total < IHL
    KEEPALIVED_IP + KEEPALIVED_VRRP[:-1],  # shorter than the total length
]


@pytest.mark.parametrize("datagram", IP_HEADER_CASES)
def test_parse_ipv4_raises_ip_header(datagram: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        parse_ipv4(datagram)
    assert type(info.value) is IpHeaderError
    assert info.value.reason == "ip_header"


def test_every_decode_reason_has_a_crafted_case() -> None:
    covered = {e.reason for e, _, _ in DECODE_CASES} | {IpHeaderError.reason}
    # `ttl` is decided by the receiver (the socket reports the TTL), not by decode().
    assert covered | {TtlError.reason} == set(DECODE_REASONS)
    classes = {cls.reason: cls for cls in DecodeError.__subclasses__()}
    assert set(classes) == set(DECODE_REASONS)
    assert len(DECODE_REASONS) == len(set(DECODE_REASONS))


def test_v3_reserved_bits_are_ignored() -> None:
    message = _v3(interval_field=0xF064)
    decoded = decode(message, R1, GROUP4)
    assert decoded.advert.interval_cs == 100


def test_options_in_ipv4_header_are_skipped() -> None:
    message = KEEPALIVED_VRRP
    head = bytearray(ipv4_header(R1, GROUP4, len(message) + 4, ident=3))
    head[0] = 0x46  # IHL 6: one word of options
    options = b"\x94\x04\x00\x00"  # router alert
    ip = parse_ipv4(bytes(head) + options + message)
    assert ip.payload == message
    assert decode(ip.payload, ip.src, ip.dst).advert == KEEPALIVED_ADVERT


def test_peek_vrid() -> None:
    assert packet.peek_vrid(KEEPALIVED_VRRP) == 51
    assert packet.peek_vrid(b"\x31\x07") == 7
    assert packet.peek_vrid(b"\x31") is None
    assert packet.peek_vrid(b"") is None


def test_internet_checksum_rfc1071_example() -> None:
    # RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
    assert packet.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert packet.internet_checksum(b"\x01") == packet.internet_checksum(b"\x01\x00")


# --- encode refuses what cannot go on the wire --------------------------------------------


@pytest.mark.parametrize(
    ("adv", "src"),
    [
        (Advertisement(3, 0, 100, 100, (VIP,)), R1),
        (Advertisement(3, 256, 100, 100, (VIP,)), R1),
        (Advertisement(3, 1, 256, 100, (VIP,)), R1),
        (Advertisement(3, 1, -1, 100, (VIP,)), R1),
        (Advertisement(3, 1, 100, 100, ()), R1),
        (Advertisement(3, 1, 100, 100, (VIP,) * 256), R1),
        (Advertisement(3, 1, 100, 0, (VIP,)), R1),
        (Advertisement(3, 1, 100, 4096, (VIP,)), R1),
        (Advertisement(3, 1, 100, 100, (VIP, IPv6Address("2001:db8::1"))), R1),
        (Advertisement(3, 1, 100, 100, (VIP,)), IPv6Address("fe80::1")),
        (Advertisement(2, 1, 100, 100, a6("2001:db8::1")), IPv6Address("fe80::1")),
        (Advertisement(2, 1, 100, 150, (VIP,)), R1),
        (Advertisement(2, 1, 100, 0, (VIP,)), R1),
        (Advertisement(2, 1, 100, 25600, (VIP,)), R1),
        (Advertisement(2, 1, 100, 100, (VIP,), 1, b"123456789"), R1),
        (Advertisement(4, 1, 100, 100, (VIP,)), R1),
        (Advertisement(1, 1, 100, 100, (VIP,)), R1),
    ],
)
def test_encode_rejects(adv: Advertisement, src: IPAddress) -> None:
    dst: IPAddress = GROUP6 if isinstance(src, IPv6Address) else GROUP4
    with pytest.raises(ValueError):
        encode(adv, src, dst)


def test_family_property() -> None:
    assert KEEPALIVED_ADVERT.family == 4
    assert Advertisement(3, 1, 1, 1, a6("fe80::1")).family == 6
    assert ip_address("192.0.2.1") == R1
