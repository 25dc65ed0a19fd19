"""Facts shared by the whole package, each stated once: address types and the protocol's
fixed numbers (RFC 5798 §5.1, §5.2.4, §6.1)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

IPPROTO_VRRP = 112  # RFC 5798 §5.1.1.4 / §5.1.2.3
VRRP_TTL = 255  # sent with, and required on receive (§5.1.1.3, §5.1.2.3)
VRRP_GROUP_V4 = IPv4Address("224.0.0.18")  # §5.1.1.2
VRRP_GROUP_V6 = IPv6Address("ff02::12")  # §5.1.2.2
OWNER_PRIORITY = 255  # §5.2.4: the address owner
MIN_PRIORITY = 1
MAX_BACKUP_PRIORITY = 254


def vrrp_group(family: int) -> IPAddress:
    """The multicast group advertisements go to for an address family (4 or 6)."""
    return VRRP_GROUP_V4 if family == 4 else VRRP_GROUP_V6
