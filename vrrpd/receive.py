"""Receive-side validation and dispatch (RFC 5798 §7.1 with RFC 9568 errata), pure.

A `Receiver` belongs to one (interface, family) socket. It takes one received message with the
facts the socket gives (source, destination, TTL or hop limit), checks it in the order of
§7.1, and returns either `Accepted` (for the virtual router with that VRID) or `Discarded`
with a stable reason word. It keeps no counters and does no I/O: the adapter counts.

Reasons (`DISCARD_REASONS`): the codec's own (`ip_header`, `length`, `version`, `type`,
`count_zero`, `interval_zero`, `checksum`), `ttl` (§7.1: TTL/hop limit must be 255), `vrid`
(§7.1: VRID not configured on this interface) and `own` (our own packet looped back).

An address list that differs from the configured one is *not* a reason to drop (§7.1 says
MAY drop; dropping makes two routers master when VIPs are added on one before the other):
`Accepted.address_mismatch` reports it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from . import packet
from .packet import Advertisement, ChecksumForm, DecodeError

IPAddress = IPv4Address | IPv6Address

VRRP_TTL = 255

DISCARD_REASONS: tuple[str, ...] = (
    *packet.DECODE_REASONS,
    "vrid",
    "own",
)


@dataclass(frozen=True, slots=True)
class RouterView:
    """What validation needs to know of one configured virtual router."""

    version: int
    addresses: frozenset[IPAddress]


@dataclass(frozen=True, slots=True)
class Accepted:
    vrid: int
    advert: Advertisement
    src: IPAddress
    checksum_form: ChecksumForm
    address_mismatch: bool


@dataclass(frozen=True, slots=True)
class Discarded:
    """`vrid` is the configured virtual router the packet was meant for, if any."""

    reason: str
    vrid: int | None
    detail: str


Verdict = Accepted | Discarded


class Receiver:
    """Validation for one (interface, family) socket; `routers` maps VRID -> RouterView."""

    def __init__(self, routers: Mapping[int, RouterView], local: Collection[IPAddress]) -> None:
        self.routers = dict(routers)
        self.local = set(local)

    def receive_ipv4(self, datagram: bytes) -> Verdict:
        """A whole IPv4 packet as a raw socket delivers it (header included)."""
        try:
            ip = packet.parse_ipv4(datagram)
        except DecodeError as e:
            return Discarded(e.reason, None, str(e))
        return self.receive(ip.payload, ip.src, ip.dst, ip.ttl)

    def receive(self, message: bytes, src: IPAddress, dst: IPAddress, ttl: int) -> Verdict:
        vrid = packet.peek_vrid(message)
        if vrid is None or vrid not in self.routers:
            # §7.1: MUST discard if the VRID is not configured on the receiving interface.
            reason = "length" if vrid is None else "vrid"
            return Discarded(reason, None, f"VRID {vrid} not configured")
        if src in self.local:
            return Discarded("own", vrid, f"own packet from {src}")
        if ttl != VRRP_TTL:
            # §7.1: MUST verify that the IP TTL / hop limit is 255.
            return Discarded("ttl", vrid, f"TTL {ttl} from {src}")
        try:
            decoded = packet.decode(message, src, dst)
        except DecodeError as e:
            return Discarded(e.reason, vrid, f"{e} from {src}")
        adv = decoded.advert
        view = self.routers[vrid]
        if adv.version != view.version:
            # §7.1: MUST verify the version field; a v2 and a v3 router do not mix.
            return Discarded("version", vrid, f"version {adv.version} from {src}")
        mismatch = frozenset(adv.addresses) != view.addresses
        return Accepted(vrid, adv, src, decoded.checksum_form, mismatch)
