"""Hypothesis: the codec and the receiver never crash on any input, and encode/decode round-trip."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vrrpd import packet
from vrrpd.packet import (
    Advertisement,
    ChecksumError,
    ChecksumForm,
    Decoded,
    DecodeError,
    decode,
    encode,
    ipv4_header,
    parse_ipv4,
)
from vrrpd.receive import DISCARD_REASONS, Accepted, Discarded, Receiver, RouterView
from vrrpd.types import IPAddress

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Documentation ranges only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
# fe80::/10), plus the VRRP groups.
V4_NETS = (
    int(IPv4Address("192.0.2.0")),
    int(IPv4Address("198.51.100.0")),
    int(IPv4Address("203.0.113.0")),
)
V6_NETS = ((int(IPv6Address("2001:db8::")), 96), (int(IPv6Address("fe80::")), 64))

ipv4s: st.SearchStrategy[IPv4Address] = st.builds(
    lambda net, host: IPv4Address(net + host), st.sampled_from(V4_NETS), st.integers(0, 255)
)
ipv6s: st.SearchStrategy[IPv6Address] = st.builds(
    lambda net, host: IPv6Address(net[0] + host % (1 << net[1])),
    st.sampled_from(V6_NETS),
    st.integers(0, (1 << 96) - 1),
)
dst4s = st.one_of(st.just(packet.VRRP_GROUP_V4), ipv4s)
dst6s = st.one_of(st.just(packet.VRRP_GROUP_V6), ipv6s)
endpoints = st.one_of(st.tuples(ipv4s, dst4s), st.tuples(ipv6s, dst6s))


@st.composite
def adverts(draw: st.DrawFn) -> tuple[Advertisement, IPAddress, IPAddress, ChecksumForm]:
    """A valid advertisement with a source, destination and a requested checksum form."""
    version = draw(st.sampled_from([2, 3]))
    v6 = version == 3 and draw(st.booleans())
    count = draw(st.integers(1, 20))
    src: IPAddress
    dst: IPAddress
    addresses: tuple[IPAddress, ...]
    if v6:
        src, dst = draw(ipv6s), draw(dst6s)
        addresses = tuple(draw(st.lists(ipv6s, min_size=count, max_size=count)))
    else:
        src, dst = draw(ipv4s), draw(dst4s)
        addresses = tuple(draw(st.lists(ipv4s, min_size=count, max_size=count)))
    if version == 3:
        interval_cs = draw(st.integers(1, 0xFFF))
        auth_type, auth_data = 0, b""
    else:
        interval_cs = 100 * draw(st.integers(1, 255))
        auth_type = draw(st.integers(0, 255))
        auth_data = draw(st.binary(min_size=8, max_size=8))
    adv = Advertisement(
        version=version,
        vrid=draw(st.integers(1, 255)),
        priority=draw(st.integers(0, 255)),
        interval_cs=interval_cs,
        addresses=addresses,
        auth_type=auth_type,
        auth_data=auth_data,
    )
    return adv, src, dst, draw(st.sampled_from(ChecksumForm))


def effective_form(adv: Advertisement, requested: ChecksumForm) -> ChecksumForm:
    if adv.version == 2:
        return ChecksumForm.PLAIN
    if adv.family == 6:
        return ChecksumForm.PSEUDO
    return requested


def decode_or_error(message: bytes, src: IPAddress, dst: IPAddress) -> Decoded | DecodeError:
    """decode(); anything but a DecodeError propagates and fails the test."""
    try:
        return decode(message, src, dst)
    except DecodeError as e:
        assert e.reason in packet.DECODE_REASONS
        return e


# --- never crash --------------------------------------------------------------------------


@SETTINGS
@given(message=st.binary(max_size=400), ends=endpoints)
def test_decode_arbitrary_bytes(message: bytes, ends: tuple[IPAddress, IPAddress]) -> None:
    decode_or_error(message, *ends)


@SETTINGS
@given(
    head=st.sampled_from([0x31, 0x21, 0x32, 0x41, 0x30, 0x11]),
    rest=st.binary(max_size=120),
    ends=endpoints,
)
def test_decode_plausible_headers(
    head: int, rest: bytes, ends: tuple[IPAddress, IPAddress]
) -> None:
    decode_or_error(bytes([head]) + rest, *ends)


@st.composite
def mutations(draw: st.DrawFn, message: bytes) -> bytes:
    data = bytearray(message)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "extend", "insert", "delete"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=40))
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i : i + draw(st.integers(1, 16))]
    return bytes(data)


@SETTINGS
@given(case=adverts(), data=st.data())
def test_decode_mutated_valid_messages(
    case: tuple[Advertisement, IPAddress, IPAddress, ChecksumForm], data: st.DataObject
) -> None:
    adv, src, dst, form = case
    message = encode(adv, src, dst, form)
    mutated = data.draw(mutations(message))
    result = decode_or_error(mutated, src, dst)
    if isinstance(result, Decoded):
        # Whatever decodes is a well-formed advertisement.
        assert 1 <= len(result.advert.addresses) <= 255
        assert result.advert.interval_cs > 0
        assert result.advert.version in (2, 3)


@SETTINGS
@given(case=adverts(), data=st.data())
def test_single_bit_flip_is_always_caught(
    case: tuple[Advertisement, IPAddress, IPAddress, ChecksumForm], data: st.DataObject
) -> None:
    """With one checksum form (v2, IPv6) any single-bit error is discarded; with two (v3
    IPv4) it is discarded or, at worst, matches the *other* form's checksum."""
    adv, src, dst, form = case
    message = encode(adv, src, dst, form)
    i = data.draw(st.integers(0, len(message) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(message)
    flipped[i] ^= 1 << bit
    result = decode_or_error(bytes(flipped), src, dst)
    if isinstance(result, Decoded):
        assert adv.version == 3 and adv.family == 4
        assert result.checksum_form is not effective_form(adv, form)


@SETTINGS
@given(datagram=st.binary(max_size=200))
def test_parse_ipv4_arbitrary_bytes(datagram: bytes) -> None:
    try:
        ip = parse_ipv4(datagram)
    except DecodeError as e:
        assert e.reason == "ip_header"
    else:
        assert len(ip.payload) <= len(datagram) - 20


def _receiver() -> Receiver:
    return Receiver(
        {
            1: RouterView(3, frozenset({IPv4Address("192.0.2.254")})),
            51: RouterView(3, frozenset({IPv4Address("192.0.2.253")})),
            52: RouterView(2, frozenset({IPv4Address("192.0.2.252")})),
        },
        local={IPv4Address("192.0.2.2")},
    )


def _check_verdict(verdict: object) -> None:
    assert isinstance(verdict, Accepted | Discarded)
    if isinstance(verdict, Discarded):
        assert verdict.reason in DISCARD_REASONS
        assert isinstance(verdict.detail, str)


@SETTINGS
@given(datagram=st.binary(max_size=200))
def test_receive_ipv4_arbitrary_bytes(datagram: bytes) -> None:
    _check_verdict(_receiver().receive_ipv4(datagram))


@SETTINGS
@given(
    src=ipv4s,
    ttl=st.sampled_from([255, 254, 64, 1, 0]),
    vrid=st.sampled_from([1, 51, 52, 99]),
    body=st.binary(max_size=80),
    first=st.sampled_from([0x31, 0x21, 0x32]),
)
def test_receive_ipv4_valid_header_arbitrary_message(
    src: IPv4Address, ttl: int, vrid: int, body: bytes, first: int
) -> None:
    message = bytes([first, vrid]) + body
    datagram = ipv4_header(src, packet.VRRP_GROUP_V4, len(message), ttl=ttl) + message
    verdict = _receiver().receive_ipv4(datagram)
    _check_verdict(verdict)
    if ttl != 255 and vrid != 99 and src != IPv4Address("192.0.2.2"):
        assert isinstance(verdict, Discarded) and verdict.reason == "ttl"


@SETTINGS
@given(message=st.binary(max_size=120), ends=endpoints, ttl=st.integers(0, 255))
def test_receive_arbitrary_message(
    message: bytes, ends: tuple[IPAddress, IPAddress], ttl: int
) -> None:
    _check_verdict(_receiver().receive(message, ends[0], ends[1], ttl))


# --- round trip ---------------------------------------------------------------------------


@SETTINGS
@given(case=adverts())
def test_round_trip(case: tuple[Advertisement, IPAddress, IPAddress, ChecksumForm]) -> None:
    adv, src, dst, form = case
    message = encode(adv, src, dst, form)
    size = 4 if adv.family == 4 else 16
    assert len(message) == 8 + size * len(adv.addresses) + (8 if adv.version == 2 else 0)
    assert decode(message, src, dst) == Decoded(adv, effective_form(adv, form))


@SETTINGS
@given(case=adverts())
def test_round_trip_through_ipv4_header(
    case: tuple[Advertisement, IPAddress, IPAddress, ChecksumForm],
) -> None:
    adv, src, dst, form = case
    assume(isinstance(src, IPv4Address) and isinstance(dst, IPv4Address))
    assert isinstance(src, IPv4Address) and isinstance(dst, IPv4Address)
    message = encode(adv, src, dst, form)
    ip = parse_ipv4(ipv4_header(src, dst, len(message), ident=9) + message)
    assert (ip.src, ip.dst, ip.ttl, ip.protocol) == (src, dst, 255, 112)
    assert decode(ip.payload, ip.src, ip.dst).advert == adv


@SETTINGS
@given(case=adverts(), data=st.data())
def test_pseudo_form_binds_the_source(
    case: tuple[Advertisement, IPAddress, IPAddress, ChecksumForm], data: st.DataObject
) -> None:
    """A pseudo-header checksum only verifies with a source of the same 16-bit word sum."""
    adv, src, dst, _ = case
    assume(adv.version == 3)
    other: IPAddress = data.draw(ipv6s) if adv.family == 6 else data.draw(ipv4s)
    assume(packet.internet_checksum(other.packed) != packet.internet_checksum(src.packed))
    message = encode(adv, src, dst, ChecksumForm.PSEUDO)
    result = decode_or_error(message, other, dst)
    if isinstance(result, Decoded):
        # Only by coincidence of the plain sum; never in the pseudo form.
        assert result.checksum_form is ChecksumForm.PLAIN
    else:
        assert isinstance(result, ChecksumError)


def test_checksum_field_is_big_endian() -> None:
    adv = Advertisement(3, 51, 150, 100, (IPv4Address("192.0.2.254"),))
    message = encode(adv, IPv4Address("192.0.2.1"), packet.VRRP_GROUP_V4)
    assert struct.unpack_from("!H", message, 6)[0] == 0xD2D7
