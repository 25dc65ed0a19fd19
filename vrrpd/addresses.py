"""Which addresses on an interface are vrrpd's: the start-up cleanup decision (pure).

A predecessor killed by SIGKILL may leave virtual addresses behind; a new daemon removes
them before it elects, or the host would keep answering for a VIP another router now holds.
It must remove only what a vrrpd added: an RFC 5798 address owner (priority 255) lists the
interface's own address as its VIP, and deleting that would cut the host off.

vrrpd marks every address it adds with the address protocol `VRRPD_ADDR_PROTO` (IFA_PROTO,
kept by Linux >= 6.1). On an older kernel the mark is lost, and a record file of what vrrpd
added (vrrpd.io.addrrecord) stands in for it.

No I/O here: the netlink adapter builds `Address` records, the daemon executes the plan.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .types import IPPROTO_VRRP, IPAddress, IPInterface

# The IFA_PROTO value vrrpd gives the addresses it adds. 112 is IANA's IP protocol number
# for VRRP, so `ip addr` (iproute2 >= 6.2 prints `proto 112`) says whose address it is at a
# glance; the kernel's own values are 0..3 (unspec, kernel_lo, kernel_ra, kernel_ll), so
# nothing the kernel or iproute2 creates by itself carries it. A name can be given in
# /etc/iproute2/rt_addrprotos ("112 vrrpd").
VRRPD_ADDR_PROTO = IPPROTO_VRRP

# Linux 6.1 added IFA_PROTO (kept with the address, reported in dumps).
ADDR_PROTO_SINCE = (6, 1)
_RELEASE = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Address:
    """One address on an interface, as the kernel reports it."""

    iface: IPInterface  # address/prefix
    primary: bool  # not IFA_F_SECONDARY (IPv4; IPv6 addresses are all primary)
    proto: int = 0  # IFA_PROTO; 0 when absent (not set, or a kernel older than 6.1)

    @property
    def ip(self) -> IPAddress:
        return self.iface.ip


@dataclass(frozen=True, slots=True)
class StartupPlan:
    """What the start-up cleanup does on one interface.

    `remove`: the addresses to delete (address/prefix, kernel order). `host_owned`: the
    address owners' VIPs that are the interface's own addresses: vrrpd never adds or removes
    those, and keeps them eligible as the primary (advertisement source) address.
    `leftovers`: the part of `remove` that carried no mark of vrrpd's: a non-owner's VIP found
    as an IPv4 secondary address (how keepalived, or a vrrpd from before the mark, leaves a
    VIP after SIGKILL): worth a warning. `claimed`: a non-owner's VIP found without the mark
    as a primary IPv4 address or an IPv6 address: it may be the host's own, so it is never
    removed, and a virtual router must not run with it: the daemon refuses.
    """

    remove: tuple[IPInterface, ...]
    host_owned: frozenset[IPAddress]
    leftovers: tuple[IPInterface, ...] = ()
    claimed: tuple[IPAddress, ...] = ()

    def at_reload(self, starting: Collection[IPAddress]) -> tuple[IPInterface, ...]:
        """What to remove when virtual routers start at a reload: only their own addresses
        (a marked address of another, running virtual router is in use, not stale)."""
        return tuple(a for a in self.remove if a.ip in starting)


def startup_plan(
    on_interface: Iterable[Address],
    vips: Collection[IPAddress],
    recorded: Collection[IPAddress],
    keeps_proto: bool,
    owner_vips: Collection[IPAddress] = (),
) -> StartupPlan:
    """Decide what to remove from one interface before the virtual routers start.

    `on_interface`: every address on it now. `vips`: the VIPs configured on it; `owner_vips`
    those of them that belong to an address owner (priority 255). `recorded`: the addresses
    the record file says vrrpd added on it. `keeps_proto`: whether the kernel keeps
    IFA_PROTO (`kernel_keeps_addr_proto`).

    An address is vrrpd's when it carries `VRRPD_ADDR_PROTO`, or, only when the kernel does
    not keep the protocol, when the record lists it. Every address of vrrpd's is removed,
    configured or not: one that is no longer configured was left by a predecessor with
    another configuration, and since no router of this run will ever remove it, keeping it
    would make the host answer for an address that may now belong to another router, for
    good. Nothing else sets protocol 112 (see `VRRPD_ADDR_PROTO`). The price: two vrrpd
    instances must not share an interface (the second would remove the first's VIPs).

    A configured VIP without the mark is the host's own when an owner lists it (RFC 5798
    §1: the owner has the address as a real interface address): never touched. Listed by a
    non-owner it is either a leftover (keepalived leaves its VIPs after SIGKILL and marks
    nothing; so did vrrpd before the mark) or the host's own address listed by mistake. An
    IPv4 secondary is taken for a leftover and removed (a VIP in the interface's subnet is
    added as a secondary; the host's own address is the primary). Anything else is `claimed`:
    never removed, for the daemon to refuse with a line saying how to tell the two apart.
    """
    remove: list[IPInterface] = []
    leftovers: list[IPInterface] = []
    host_owned: set[IPAddress] = set()
    claimed: list[IPAddress] = []
    for a in on_interface:
        if a.proto == VRRPD_ADDR_PROTO:
            # Marked by vrrpd (a kernel that seems too old but keeps it anyway counts too).
            remove.append(a.iface)
        elif not keeps_proto and a.ip in recorded:
            # The kernel drops the mark: the record says a vrrpd added it.
            remove.append(a.iface)
        elif a.ip in owner_vips:
            host_owned.add(a.ip)  # the owner's own address
        elif a.ip in vips:
            if a.ip.version == 4 and not a.primary:
                remove.append(a.iface)  # a leftover (see above)
                leftovers.append(a.iface)
            else:
                claimed.append(a.ip)  # maybe the host's own: never removed
        # Anything else is the host's and not configured: not our business.
    return StartupPlan(tuple(remove), frozenset(host_owned), tuple(leftovers), tuple(claimed))


def recorded_on(entries: Iterable[tuple[str, IPInterface]], ifname: str) -> frozenset[IPAddress]:
    """The addresses a record (`vrrpd.io.addrrecord.load`) lists for interface `ifname`."""
    return frozenset(iface.ip for name, iface in entries if name == ifname)


def kernel_keeps_addr_proto(release: str) -> bool:
    """Does a Linux kernel of this release (`os.uname().release`, e.g. "6.1.0-13-amd64")
    keep an address's protocol? A release that does not parse counts as too old: the record
    file is then kept as well, which is harmless (a marked address is vrrpd's either way)."""
    m = _RELEASE.match(release)
    if m is None:
        return False
    return (int(m.group(1)), int(m.group(2))) >= ADDR_PROTO_SINCE


def primary_address(
    family: int, on_interface: Iterable[Address], managed: Collection[IPAddress]
) -> IPAddress | None:
    """The address advertisements are sent from: the interface's primary IPv4 address, or
    its IPv6 link-local address (RFC 5798 §5.1.1.1, §5.1.2.1), never a virtual address
    vrrpd manages (the host's own, an owner's, is eligible: it is the interface's)."""
    for a in on_interface:
        if a.ip in managed or a.ip.version != family:
            continue
        if family == 4 and a.primary:
            return a.ip
        if family == 6 and a.ip.is_link_local:
            return a.ip
    return None


def filtered(routers: Iterable[tuple[bool, bool, Iterable[IPAddress]]]) -> list[IPAddress]:
    """The addresses the accept_mode filter drops traffic to, from (accept_mode, owner,
    virtual addresses) per virtual router: those of non-owners with accept_mode false
    (RFC 5798 §6.4.3: the owner always accepts), link-local ones excepted (ND must work)."""
    return [
        ip
        for accept, owner, ips in routers
        if not accept and not owner
        for ip in ips
        if not ip.is_link_local
    ]
