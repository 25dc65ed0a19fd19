"""receive.Receiver: every discard reason of DISCARD_REASONS, and what Accepted reports."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from vrrpd import packet
from vrrpd.packet import Advertisement, ChecksumForm, encode, ipv4_header
from vrrpd.receive import DISCARD_REASONS, Accepted, Discarded, Receiver, RouterView, Verdict
from vrrpd.types import IPAddress

ME = IPv4Address("192.0.2.2")
PEER = IPv4Address("192.0.2.1")
GROUP = packet.VRRP_GROUP_V4
VIP = IPv4Address("192.0.2.254")
VIP2 = IPv4Address("192.0.2.253")
VIP3 = IPv4Address("192.0.2.252")
VIP4 = IPv4Address("192.0.2.251")
UNICAST_PEER = IPv4Address("192.0.2.3")

ME6 = IPv6Address("fe80::2")
PEER6 = IPv6Address("fe80::1")
VIP6 = (IPv6Address("fe80::200:5eff:fe00:233"), IPv6Address("2001:db8::fe"))


def receiver() -> Receiver:
    return Receiver(
        {
            51: RouterView(3, frozenset({VIP})),
            52: RouterView(2, frozenset({VIP2})),
            53: RouterView(3, frozenset({VIP3}), peers=frozenset({UNICAST_PEER})),
            54: RouterView(2, frozenset({VIP4}), auth_pass=b"secret"),
        },
        local={ME},
    )


def v3(
    priority: int = 150,
    vrid: int = 51,
    addresses: tuple[IPAddress, ...] = (VIP,),
    src: IPAddress = PEER,
    dst: IPAddress = GROUP,
    form: ChecksumForm = ChecksumForm.PSEUDO,
) -> bytes:
    return encode(Advertisement(3, vrid, priority, 100, addresses), src, dst, form)


def v2(
    vrid: int = 52,
    addresses: tuple[IPv4Address, ...] = (VIP2,),
    interval_cs: int = 100,
    auth: bytes = b"",
) -> bytes:
    adv = Advertisement(
        2, vrid, 150, interval_cs, addresses, auth_type=1 if auth else 0, auth_data=auth
    )
    return encode(adv, PEER, GROUP)


def datagram(message: bytes, src: IPv4Address = PEER, ttl: int = 255) -> bytes:
    return ipv4_header(src, GROUP, len(message), ident=1, ttl=ttl) + message


def fix(message: bytes) -> bytes:
    """Recompute the pseudo-header checksum of a crafted v3 IPv4 message from PEER."""
    zeroed = message[:6] + b"\x00\x00" + message[8:]
    ck = packet.vrrp_checksum(zeroed, PEER, GROUP, ChecksumForm.PSEUDO)
    return zeroed[:6] + struct.pack("!H", ck) + zeroed[8:]


def discarded(verdict: Verdict) -> Discarded:
    assert isinstance(verdict, Discarded), verdict
    assert verdict.detail
    return verdict


# Every reason in DISCARD_REASONS, through receive_ipv4 (a whole IPv4 packet): reason,
# datagram, and the VRID the verdict must name (None when the packet names none we have).
REASON_CASES: list[tuple[str, bytes, int | None]] = [
    ("ip_header", datagram(v3())[:19], None),
    ("ip_header", datagram(v3())[:-1], None),  # shorter than its total length
    ("ttl", datagram(v3(), ttl=64), 51),
    ("ttl", datagram(v3(), ttl=254), 51),
    ("ttl", datagram(v3(), ttl=0), 51),
    ("vrid", datagram(v3(vrid=99, src=PEER)), None),
    ("own", datagram(v3(src=ME), src=ME), 51),
    ("length", datagram(b"\x31"), None),  # no VRID byte at all
    ("length", datagram(v3()[:7]), 51),
    ("length", datagram(v3() + b"\x00" * 4), 51),
    ("version", datagram(fix(b"\x41" + v3()[1:])), 51),  # version 4
    ("version", datagram(v2(vrid=51, addresses=(VIP,))), 51),  # v2 for a v3 router
    ("version", datagram(v3(vrid=52, addresses=(VIP2,))), 52),  # v3 for a v2 router
    ("type", datagram(fix(b"\x32" + v3()[1:])), 51),
    ("count_zero", datagram(fix(v3()[:3] + b"\x00" + v3()[4:8])), 51),
    ("interval_zero", datagram(fix(v3()[:4] + b"\x00\x00" + v3()[6:])), 51),
    ("checksum", datagram(v3()[:6] + b"\x00\x00" + v3()[8:]), 51),
    ("checksum", datagram(v3(src=IPv4Address("192.0.2.9"))), 51),  # checksummed for another src
    ("peer", datagram(v3(vrid=53, addresses=(VIP3,))), 53),  # unicast: PEER is not listed
    ("interval", datagram(v2(interval_cs=200)), 52),  # RFC 3768 §7.1
    ("auth", datagram(v2(vrid=54, addresses=(VIP4,))), 54),  # auth type 0, router wants 1
    ("auth", datagram(v2(vrid=54, addresses=(VIP4,), auth=b"guess")), 54),
]


@pytest.mark.parametrize(("reason", "data", "vrid"), REASON_CASES)
def test_discard_reason(reason: str, data: bytes, vrid: int | None) -> None:
    verdict = discarded(receiver().receive_ipv4(data))
    assert verdict.reason == reason
    assert verdict.vrid == vrid


def test_every_discard_reason_is_covered() -> None:
    assert {r for r, _, _ in REASON_CASES} == set(DISCARD_REASONS)
    assert len(set(DISCARD_REASONS)) == len(DISCARD_REASONS)
    assert set(packet.DECODE_REASONS) <= set(DISCARD_REASONS)


def test_ttl_64_via_receive() -> None:
    verdict = discarded(receiver().receive(v3(), PEER, GROUP, 64))
    assert (verdict.reason, verdict.vrid) == ("ttl", 51)


def test_unconfigured_vrid_via_receive() -> None:
    verdict = discarded(receiver().receive(v3(vrid=1), PEER, GROUP, 255))
    assert (verdict.reason, verdict.vrid) == ("vrid", None)


def test_empty_message_is_length() -> None:
    verdict = discarded(receiver().receive(b"", PEER, GROUP, 255))
    assert verdict.reason == "length"


def test_own_source_any_local_address() -> None:
    other_local = IPv4Address("198.51.100.2")
    r = Receiver({51: RouterView(3, frozenset({VIP}))}, local={ME, other_local})
    message = v3(src=other_local)
    assert discarded(r.receive(message, other_local, GROUP, 255)).reason == "own"


class TestAccepted:
    def test_pseudo_form_matching_addresses(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v3()))
        assert verdict == Accepted(
            vrid=51,
            advert=Advertisement(3, 51, 150, 100, (VIP,)),
            src=PEER,
            checksum_form=ChecksumForm.PSEUDO,
            address_mismatch=False,
        )

    def test_plain_form_reported(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v3(form=ChecksumForm.PLAIN)))
        assert isinstance(verdict, Accepted)
        assert verdict.checksum_form is ChecksumForm.PLAIN
        assert verdict.address_mismatch is False

    def test_address_mismatch_is_reported_not_dropped(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v3(addresses=(VIP, VIP2))))
        assert isinstance(verdict, Accepted)
        assert verdict.address_mismatch is True
        verdict = receiver().receive_ipv4(datagram(v3(addresses=(VIP2,))))
        assert isinstance(verdict, Accepted)
        assert verdict.address_mismatch is True

    def test_address_order_is_not_a_mismatch(self) -> None:
        r = Receiver({51: RouterView(3, frozenset({VIP, VIP2}))}, local={ME})
        verdict = r.receive_ipv4(datagram(v3(addresses=(VIP2, VIP))))
        assert isinstance(verdict, Accepted)
        assert verdict.address_mismatch is False

    def test_priority_0_is_accepted(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v3(priority=0)))
        assert isinstance(verdict, Accepted)
        assert verdict.advert.priority == 0

    def test_v2_router(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v2()))
        assert isinstance(verdict, Accepted)
        assert verdict.vrid == 52
        assert verdict.checksum_form is ChecksumForm.PLAIN
        assert verdict.advert.version == 2
        assert verdict.address_mismatch is False

    def test_ethernet_padding_after_the_packet(self) -> None:
        verdict = receiver().receive_ipv4(datagram(v3()) + b"\x00" * 18)
        assert isinstance(verdict, Accepted)


class TestIPv6:
    def receiver6(self) -> Receiver:
        return Receiver({51: RouterView(3, frozenset(VIP6))}, local={ME6})

    def message(self, src: IPv6Address = PEER6) -> bytes:
        return encode(Advertisement(3, 51, 100, 100, VIP6), src, packet.VRRP_GROUP_V6)

    def test_accepted(self) -> None:
        verdict = self.receiver6().receive(self.message(), PEER6, packet.VRRP_GROUP_V6, 255)
        assert isinstance(verdict, Accepted)
        assert verdict.checksum_form is ChecksumForm.PSEUDO
        assert verdict.address_mismatch is False
        assert verdict.src == PEER6

    def test_hop_limit(self) -> None:
        verdict = self.receiver6().receive(self.message(), PEER6, packet.VRRP_GROUP_V6, 1)
        assert discarded(verdict).reason == "ttl"

    def test_own(self) -> None:
        verdict = self.receiver6().receive(self.message(ME6), ME6, packet.VRRP_GROUP_V6, 255)
        assert discarded(verdict).reason == "own"

    def test_checksum_of_wrong_source(self) -> None:
        other = IPv6Address("fe80::9")
        verdict = self.receiver6().receive(self.message(), other, packet.VRRP_GROUP_V6, 255)
        assert discarded(verdict).reason == "checksum"

    def test_v2_over_ipv6_is_version(self) -> None:
        message = encode(Advertisement(2, 51, 100, 100, (VIP,)), PEER, GROUP)
        verdict = self.receiver6().receive(message, PEER6, packet.VRRP_GROUP_V6, 255)
        assert discarded(verdict).reason == "version"


def test_v2_matching_password_is_accepted() -> None:
    verdict = receiver().receive_ipv4(datagram(v2(vrid=54, addresses=(VIP4,), auth=b"secret")))
    assert isinstance(verdict, Accepted)
    assert verdict.advert.auth_data == b"secret\x00\x00"


def test_unicast_peer_accepted_and_ttl_check_can_be_off() -> None:
    def view(ttl_check: bool) -> Receiver:
        return Receiver(
            {53: RouterView(3, frozenset({VIP3}), peers=frozenset({PEER}), ttl_check=ttl_check)},
            local={ME},
        )

    routed = datagram(v3(vrid=53, addresses=(VIP3,)), ttl=63)
    assert discarded(view(True).receive_ipv4(routed)).reason == "ttl"
    assert isinstance(view(False).receive_ipv4(routed), Accepted)


def test_v3_interval_mismatch_is_accepted_and_flagged() -> None:
    message = encode(Advertisement(3, 51, 150, 50, (VIP,)), PEER, GROUP)
    verdict = receiver().receive_ipv4(datagram(message))
    assert isinstance(verdict, Accepted)
    assert verdict.interval_mismatch
    same = receiver().receive_ipv4(datagram(v3()))
    assert isinstance(same, Accepted) and not same.interval_mismatch


# --- the steady-state fast path: a repeated packet gets the same verdict object -----------


def test_a_repeated_advert_gets_the_same_verdict_without_decoding() -> None:
    r = receiver()
    first = r.receive_ipv4(datagram(v3()))
    assert isinstance(first, Accepted)
    # Another IP ID (and so another header checksum): the same advert all the same.
    again = ipv4_header(PEER, GROUP, len(v3()), ident=999) + v3()
    assert r.receive_ipv4(again) is first
    assert r.receive(v3(), PEER, GROUP, 255) is r.receive(v3(), PEER, GROUP, 255)


@pytest.mark.parametrize(
    "changed",
    [
        datagram(v3(), ttl=254),  # TTL
        datagram(v3(priority=151)),  # payload
        datagram(v3(), src=IPv4Address("192.0.2.9")),  # source (checksum then fails)
    ],
)
def test_any_field_that_decides_gives_a_fresh_verdict(changed: bytes) -> None:
    r = receiver()
    first = r.receive_ipv4(datagram(v3()))
    other = r.receive_ipv4(changed)
    assert other is not first and other != first


def test_a_wrong_total_length_is_not_taken_for_the_remembered_advert() -> None:
    r = receiver()
    good = datagram(v3())
    assert isinstance(r.receive_ipv4(good), Accepted)
    short = good[:2] + struct.pack("!H", len(good) + 4) + good[4:]
    assert discarded(r.receive_ipv4(short)).reason == "ip_header"


def test_remembered_verdicts_are_bounded() -> None:
    from vrrpd.receive import RECENT_MAX

    r = receiver()
    for i in range(RECENT_MAX + 10):
        r.receive(bytes([0x31, 51, i % 256, i // 256]), PEER, GROUP, 255)
    assert len(r._recent) <= RECENT_MAX
