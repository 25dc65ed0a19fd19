"""Receive-side validation and dispatch (RFC 5798 §7.1 with RFC 9568 errata), pure.

A `Receiver` belongs to one (interface, family) socket. It takes one received message with the
facts the socket gives (source, destination, TTL or hop limit), checks it in the order of
§7.1, and returns either `Accepted` (for the virtual router with that VRID) or `Discarded`
with a stable reason word. It keeps no counters and does no I/O: the adapter counts.

Reasons (`DISCARD_REASONS`): the codec's own (`ip_header`, `length`, `version`, `type`,
`count_zero`, `interval_zero`, `checksum`), `ttl` (§7.1: TTL/hop limit must be 255), `vrid`
(§7.1: VRID not configured on this interface), `own` (our own packet looped back), `peer`
(unicast: a source that is not a configured peer), `interval` (VRRPv2: an interval that is
not ours, RFC 3768 §7.1) and `auth` (VRRPv2: authentication that does not match).

An address list that differs from the configured one is *not* a reason to drop (§7.1 says
MAY drop; dropping makes two routers master when VIPs are added on one before the other):
`Accepted.address_mismatch` reports it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from . import packet
from .packet import Advertisement, ChecksumForm, DecodeError
from .types import VRRP_TTL, IPAddress

DISCARD_REASONS: tuple[str, ...] = (
    *packet.DECODE_REASONS,
    "vrid",
    "own",
    "peer",
    "interval",
    "auth",
)


@dataclass(frozen=True, slots=True)
class RouterView:
    """What validation needs to know of one configured virtual router."""

    version: int
    addresses: frozenset[IPAddress]
    interval_cs: int = 100
    auth_pass: bytes = b""  # VRRPv2 simple text password; b"" = auth type 0
    peers: frozenset[IPAddress] = frozenset()  # unicast: accept only these sources
    ttl_check: bool = True


@dataclass(frozen=True, slots=True)
class Accepted:
    vrid: int
    advert: Advertisement
    src: IPAddress
    checksum_form: ChecksumForm
    address_mismatch: bool
    interval_mismatch: bool = False  # VRRPv3: logged, not discarded


@dataclass(frozen=True, slots=True)
class Discarded:
    """`vrid` is the configured virtual router the packet was meant for, if any."""

    reason: str
    vrid: int | None
    detail: str


Verdict = Accepted | Discarded


RECENT_MAX = 4096  # verdicts remembered per receiver (a junk flood only clears them sooner)


class Receiver:
    """Validation for one (interface, family) socket; `routers` maps VRID -> RouterView.

    A verdict depends only on the packet and the views, so the receiver remembers recent
    ones: in the steady state every advertisement repeats the sender's previous one byte for
    byte, and gets the same verdict object back without decoding (`Instance.advert` knows it
    by identity). A receiver is rebuilt whenever its views change."""

    def __init__(self, routers: Mapping[int, RouterView], local: Collection[IPAddress]) -> None:
        self.routers = dict(routers)
        self.local = set(local)
        self._recent4: dict[bytes, tuple[bytes, Verdict]] = {}
        self._recent: dict[tuple[bytes, IPAddress, IPAddress, int], Verdict] = {}

    def receive_ipv4(self, datagram: bytes) -> Verdict:
        """A whole IPv4 packet as a raw socket delivers it (header included)."""
        # Remembered by source, destination and payload; the header fields that can change
        # the verdict (version, IHL, total length, TTL, protocol) must match too. The ID and
        # the header checksum may differ (the kernel checked the checksum).
        key = datagram[12:]
        fixed = datagram[:1] + datagram[2:4] + datagram[8:10]
        hit = self._recent4.get(key)
        if hit is not None and hit[0] == fixed:
            return hit[1]
        try:
            ip = packet.parse_ipv4(datagram)
        except DecodeError as e:
            return Discarded(e.reason, None, str(e))
        verdict = self._check(ip.payload, ip.src, ip.dst, ip.ttl)
        if len(self._recent4) >= RECENT_MAX:
            self._recent4.clear()
        self._recent4[key] = (fixed, verdict)
        return verdict

    def receive(self, message: bytes, src: IPAddress, dst: IPAddress, ttl: int) -> Verdict:
        """A message with the facts the socket gives (IPv6: the payload)."""
        key = (message, src, dst, ttl)
        verdict = self._recent.get(key)
        if verdict is None:
            verdict = self._check(message, src, dst, ttl)
            if len(self._recent) >= RECENT_MAX:
                self._recent.clear()
            self._recent[key] = verdict
        return verdict

    def _check(self, message: bytes, src: IPAddress, dst: IPAddress, ttl: int) -> Verdict:
        vrid = packet.peek_vrid(message)
        if vrid is None or vrid not in self.routers:
            # §7.1: MUST discard if the VRID is not configured on the receiving interface.
            reason = "length" if vrid is None else "vrid"
            return Discarded(reason, None, f"VRID {vrid} not configured")
        view = self.routers[vrid]
        if src in self.local:
            return Discarded("own", vrid, f"own packet from {src}")
        if view.peers and src not in view.peers:
            # Unicast: only the configured peers may speak for this virtual router.
            return Discarded("peer", vrid, f"{src} is not a configured unicast peer")
        if ttl != VRRP_TTL and view.ttl_check:
            # §7.1: MUST verify that the IP TTL / hop limit is 255.
            return Discarded("ttl", vrid, f"TTL {ttl} from {src}")
        try:
            decoded = packet.decode(message, src, dst)
        except DecodeError as e:
            return Discarded(e.reason, vrid, f"{e} from {src}")
        adv = decoded.advert
        if adv.version != view.version:
            # §7.1: MUST verify the version field; a v2 and a v3 router do not mix.
            return Discarded("version", vrid, f"version {adv.version} from {src}")
        if adv.version == 2:
            if adv.interval_cs != view.interval_cs:
                # RFC 3768 §7.1: MUST discard an advert whose interval differs from ours.
                return Discarded(
                    "interval", vrid, f"interval {adv.interval_cs // 100} s from {src}"
                )
            if not _auth_ok(adv, view.auth_pass):
                # RFC 3768 §5.3.6 / RFC 2338 §5.3.6.1: the authentication must match.
                return Discarded("auth", vrid, f"authentication type {adv.auth_type} from {src}")
        mismatch = frozenset(adv.addresses) != view.addresses
        interval_mismatch = adv.version == 3 and adv.interval_cs != view.interval_cs
        return Accepted(vrid, adv, src, decoded.checksum_form, mismatch, interval_mismatch)


AUTH_NONE = 0
AUTH_SIMPLE_TEXT = 1


def auth_data(auth_pass: bytes) -> bytes:
    """The 8 authentication bytes of a VRRPv2 advert (the password, zero padded)."""
    return auth_pass.ljust(8, b"\x00")


def _auth_ok(adv: Advertisement, auth_pass: bytes) -> bool:
    if not auth_pass:
        return adv.auth_type == AUTH_NONE
    return adv.auth_type == AUTH_SIMPLE_TEXT and adv.auth_data == auth_data(auth_pass)
