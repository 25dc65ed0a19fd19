"""VRRP wire codec: VRRPv3 (RFC 5798 / RFC 9568) and VRRPv2 (RFC 3768), pure and strict.

`decode` validates everything a receiver must check in the VRRP message itself (RFC 5798
§7.1 with RFC 9568 errata 8299/8301) and raises one `DecodeError` subclass per reason, each
with a stable `reason` string used as a counter name. It never raises anything else on any
input (a property test holds it to that).

VRRPv3 over IPv4 has two checksum forms in the field:

* ``ChecksumForm.PSEUDO``: the message plus an IPv4 pseudo-header (source, destination,
  zero, protocol 112, length), as RFC 5798 §5.2.8 is read by keepalived, FRR and scapy;
* ``ChecksumForm.PLAIN``: the message alone, as RFC 9568 §5.2.8 specifies for IPv4 and
  Cisco/Arista send.

Receive accepts both and reports which one matched. IPv6 always uses the IPv6 pseudo-header;
VRRPv2 always checksums the message alone (auth data included).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .types import IPPROTO_VRRP as IPPROTO_VRRP
from .types import VRRP_GROUP_V4 as VRRP_GROUP_V4
from .types import VRRP_GROUP_V6 as VRRP_GROUP_V6
from .types import VRRP_TTL, IPAddress

DSCP_CS6_TOS = 0xC0
ADVERTISEMENT = 1


class ChecksumForm(enum.Enum):
    """Which bytes a VRRP checksum covers."""

    PSEUDO = "rfc5798"  # pseudo-header + message (RFC 5798 as implemented; always for IPv6)
    PLAIN = "rfc9568"  # message only (RFC 9568 for IPv4; always for VRRPv2)


# --- errors: one class per discard reason -------------------------------------------------


class DecodeError(Exception):
    """A packet a receiver must discard. `reason` is a stable counter name."""

    reason = "malformed"


class IpHeaderError(DecodeError):
    reason = "ip_header"


class TtlError(DecodeError):
    reason = "ttl"


class LengthError(DecodeError):
    reason = "length"


class VersionError(DecodeError):
    reason = "version"


class TypeError_(DecodeError):
    reason = "type"


class CountZeroError(DecodeError):
    reason = "count_zero"


class IntervalZeroError(DecodeError):
    reason = "interval_zero"


class ChecksumError(DecodeError):
    reason = "checksum"


# Every reason decode() and parse_ipv4() can report, for counters that must exist up front.
DECODE_REASONS: tuple[str, ...] = (
    IpHeaderError.reason,
    TtlError.reason,
    LengthError.reason,
    VersionError.reason,
    TypeError_.reason,
    CountZeroError.reason,
    IntervalZeroError.reason,
    ChecksumError.reason,
)


# --- the message --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One VRRP advertisement, as on the wire.

    `interval_cs` is the advertisement interval in centiseconds for both versions (VRRPv2
    carries whole seconds; they are stored times 100 so the state machine has one unit).
    """

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[IPAddress, ...]
    auth_type: int = 0  # VRRPv2 only
    auth_data: bytes = b""  # VRRPv2 only: 8 bytes on the wire

    @property
    def family(self) -> int:
        return 6 if self.addresses and isinstance(self.addresses[0], IPv6Address) else 4


@dataclass(frozen=True, slots=True)
class Decoded:
    advert: Advertisement
    checksum_form: ChecksumForm


@dataclass(frozen=True, slots=True)
class IPv4Packet:
    src: IPv4Address
    dst: IPv4Address
    ttl: int
    tos: int
    protocol: int
    payload: bytes


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum of 16-bit words, complemented."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    if isinstance(src, IPv4Address):
        return src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)


def vrrp_checksum(message: bytes, src: IPAddress, dst: IPAddress, form: ChecksumForm) -> int:
    """Checksum of `message` (its checksum field must be zero) in the given form."""
    if form is ChecksumForm.PLAIN:
        return internet_checksum(message)
    return internet_checksum(_pseudo_header(src, dst, len(message)) + message)


# --- encode -------------------------------------------------------------------------------


def encode(
    adv: Advertisement,
    src: IPAddress,
    dst: IPAddress,
    form: ChecksumForm = ChecksumForm.PSEUDO,
) -> bytes:
    """The VRRP message bytes for `adv` sent from `src` to `dst` (checksum filled in).

    The form is forced where the protocol fixes it: VRRPv2 is always PLAIN, IPv6 always
    PSEUDO. Raises ValueError for an advertisement that cannot be put on the wire.
    """
    if not 1 <= adv.vrid <= 255:
        raise ValueError(f"vrid must be 1..255, got {adv.vrid}")
    if not 0 <= adv.priority <= 255:
        raise ValueError(f"priority must be 0..255, got {adv.priority}")
    if not 1 <= len(adv.addresses) <= 255:
        raise ValueError(f"address count must be 1..255, got {len(adv.addresses)}")
    family = type(adv.addresses[0])
    if any(type(a) is not family for a in adv.addresses) or type(src) is not family:
        raise ValueError("addresses and source must be of one family")
    addrs = b"".join(a.packed for a in adv.addresses)
    if adv.version == 3:
        if not 1 <= adv.interval_cs <= 0xFFF:
            raise ValueError(f"v3 interval must be 1..4095 cs, got {adv.interval_cs}")
        head = struct.pack(
            "!BBBBH", 0x31, adv.vrid, adv.priority, len(adv.addresses), adv.interval_cs
        )
        message = head + b"\x00\x00" + addrs
        if family is IPv6Address:
            form = ChecksumForm.PSEUDO
    elif adv.version == 2:
        if family is not IPv4Address:
            raise ValueError("VRRPv2 carries IPv4 addresses only")
        seconds, rest = divmod(adv.interval_cs, 100)
        if rest or not 1 <= seconds <= 255:
            raise ValueError(f"v2 interval must be whole seconds 1..255, got {adv.interval_cs} cs")
        if len(adv.auth_data) > 8:
            raise ValueError("v2 auth data is at most 8 bytes")
        head = struct.pack(
            "!BBBBBB", 0x21, adv.vrid, adv.priority, len(adv.addresses), adv.auth_type, seconds
        )
        message = head + b"\x00\x00" + addrs + adv.auth_data.ljust(8, b"\x00")
        form = ChecksumForm.PLAIN
    else:
        raise ValueError(f"version must be 2 or 3, got {adv.version}")
    checksum = vrrp_checksum(message, src, dst, form)
    return message[:6] + struct.pack("!H", checksum) + message[8:]


# --- decode -------------------------------------------------------------------------------


def peek_vrid(message: bytes) -> int | None:
    """The VRID byte of a message, if it has one, before any validation (for dispatch)."""
    return message[1] if len(message) >= 2 else None


def decode(message: bytes, src: IPAddress, dst: IPAddress) -> Decoded:
    """Validate and parse one VRRP message received from `src` to `dst`.

    The address family comes from `src`. Raises a DecodeError subclass, never anything else.
    """
    if len(message) < 8:
        raise LengthError(f"message of {len(message)} bytes is shorter than the 8-byte header")
    version, kind = message[0] >> 4, message[0] & 0x0F
    if version not in (2, 3):
        raise VersionError(f"version {version}")
    if kind != ADVERTISEMENT:
        raise TypeError_(f"type {kind}")
    vrid, priority, count = message[1], message[2], message[3]
    v6 = isinstance(src, IPv6Address)
    if version == 2 and v6:
        raise VersionError("VRRPv2 over IPv6")
    if count == 0:
        raise CountZeroError("address count 0")  # RFC 9568 erratum 8299
    size = 16 if v6 else 4
    expected = 8 + count * size + (8 if version == 2 else 0)
    if len(message) != expected:
        raise LengthError(f"length {len(message)} does not match count {count} ({expected})")

    if version == 3:
        interval_cs = struct.unpack_from("!H", message, 4)[0] & 0x0FFF  # 4 reserved bits ignored
        auth_type, auth_data = 0, b""
    else:
        auth_type, interval_cs = message[4], message[5] * 100
        auth_data = message[expected - 8 :]
    if interval_cs == 0:
        raise IntervalZeroError("advertisement interval 0")  # RFC 9568 erratum 8301

    received = struct.unpack_from("!H", message, 6)[0]
    zeroed = message[:6] + b"\x00\x00" + message[8:]
    if version == 2:
        forms: tuple[ChecksumForm, ...] = (ChecksumForm.PLAIN,)
    elif v6:
        forms = (ChecksumForm.PSEUDO,)
    else:
        forms = (ChecksumForm.PSEUDO, ChecksumForm.PLAIN)
    for form in forms:
        if vrrp_checksum(zeroed, src, dst, form) == received:
            break
    else:
        raise ChecksumError(f"checksum 0x{received:04x} matches no accepted form")

    addresses: tuple[IPAddress, ...]
    if v6:
        addresses = tuple(IPv6Address(message[8 + i * 16 : 24 + i * 16]) for i in range(count))
    else:
        addresses = tuple(IPv4Address(message[8 + i * 4 : 12 + i * 4]) for i in range(count))
    adv = Advertisement(version, vrid, priority, interval_cs, addresses, auth_type, auth_data)
    return Decoded(adv, form)


# --- IPv4 header (raw sockets deliver it; with IP_HDRINCL we send our own) ----------------


def parse_ipv4(packet: bytes) -> IPv4Packet:
    """Split a received IPv4 packet; the payload is sized by the IP total length."""
    if len(packet) < 20:
        raise IpHeaderError(f"IPv4 packet of {len(packet)} bytes")
    ver_ihl, tos, total = struct.unpack_from("!BBH", packet, 0)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < 20 or total < ihl or len(packet) < total:
        raise IpHeaderError("bad IPv4 header")
    ttl, protocol = packet[8], packet[9]
    return IPv4Packet(
        src=IPv4Address(packet[12:16]),
        dst=IPv4Address(packet[16:20]),
        ttl=ttl,
        tos=tos,
        protocol=protocol,
        payload=packet[ihl:total],
    )


def ipv4_header(
    src: IPv4Address,
    dst: IPv4Address,
    payload_len: int,
    ident: int = 0,
    ttl: int = VRRP_TTL,
    tos: int = DSCP_CS6_TOS,
) -> bytes:
    """A 20-byte IPv4 header for protocol 112, checksum filled in, DF clear."""
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        tos,
        20 + payload_len,
        ident,
        0,
        ttl,
        IPPROTO_VRRP,
        0,
        src.packed,
        dst.packed,
    )
    return head[:10] + struct.pack("!H", internet_checksum(head)) + head[12:]


def ipv6_header(
    src: IPv6Address,
    dst: IPv6Address,
    payload_len: int,
    hop_limit: int = VRRP_TTL,
    tclass: int = DSCP_CS6_TOS,
    next_header: int = IPPROTO_VRRP,
) -> bytes:
    """A 40-byte IPv6 header (no extension headers, flow label 0); protocol 112 unless
    `next_header` says otherwise (58, ICMPv6, for Neighbor Discovery)."""
    first = (6 << 28) | (tclass << 20)
    return (
        struct.pack("!IHBB", first, payload_len, next_header, hop_limit) + src.packed + dst.packed
    )
