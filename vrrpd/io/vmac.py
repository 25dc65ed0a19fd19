"""The virtual MAC (RFC 5798 §7.3): a macvlan per virtual router, and the sysctls it needs.

vrrpd creates `vr{family}.{vrid}.{ifindex}` in bridge mode with 00-00-5E-00-01-{VRID} (IPv4)
or 00-00-5E-00-02-{VRID} (IPv6), replacing a stale one from a crash. It never forms an IPv6
interface identifier from the virtual MAC (§7.4: addr_gen_mode none; IPv6 off on an IPv4
macvlan). For IPv4 the parent and the macvlan get arp_ignore=1 (or the host answers ARP for
the VIP with its real MAC) and arp_announce=2 (or its own ARP requests announce the VIP from
the real MAC).

The daemon's record (vrrpd.io.addrrecord) gets the macvlan's name before it is created and
the parent's original values before they are first changed: the parent's values go back at
exit, at the next start after SIGKILL, or with `vrrpd --cleanup`. The macvlan's own sysctls
go with it.
"""

from __future__ import annotations

import logging

from . import sysctl
from .addrrecord import RecordFile
from .netlink import Link, Netlink

log = logging.getLogger("vrrpd")

ARP_SYSCTLS = {"arp_ignore": 1, "arp_announce": 2}


def vmac_address(family: int, vrid: int) -> str:
    """RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6."""
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


def macvlan_name(family: int, vrid: int, parent_index: int) -> str:
    """The macvlan's name (vrrpd.leftovers.MACVLAN_RE says what a record may hold)."""
    return f"vr{family}.{vrid}.{parent_index}"[:15]


class Vmacs:
    """Creates and deletes macvlans, recording them and the parents' sysctls in `record`."""

    def __init__(self, record: RecordFile) -> None:
        self.record = record

    async def create(
        self, nl: Netlink, parent: str, parent_index: int, family: int, vrid: int, who: str
    ) -> Link:
        name = macvlan_name(family, vrid, parent_index)
        stale = await nl.find_link(name)
        if stale is not None:
            await nl.del_link(stale.index)
            log.info("%s: removed stale macvlan %s found at start-up", who, name)
        self.record.update(self.record.state.with_macvlan(name))
        mac = vmac_address(family, vrid)
        link = await nl.add_macvlan(parent_index, name, mac)
        sysctl.write(6, name, "addr_gen_mode", 1)
        if family == 4:
            sysctl.write(6, name, "disable_ipv6", 1)
            for key in ARP_SYSCTLS:  # the first value seen is the original (a later is ours)
                current = sysctl.read(4, parent, key)
                self.record.update(self.record.state.with_original((4, parent, key), current))
            for iface in (parent, name):
                for key, value in ARP_SYSCTLS.items():
                    sysctl.write(4, iface, key, value)
        log.info("%s: virtual MAC %s on macvlan %s (up while master)", who, mac, name)
        return link

    async def delete(self, nl: Netlink, link: Link) -> None:
        """Delete a macvlan of ours and forget it; one that cannot be deleted stays recorded."""
        await nl.del_link(link.index)
        self.record.update(self.record.state.without_macvlan(link.name))
