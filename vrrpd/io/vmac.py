"""The virtual MAC (RFC 5798 §7.3): a macvlan per virtual router, and the sysctls it needs.

vrrpd creates `vr{family}.{vrid}.{ifindex}` in bridge mode with 00-00-5E-00-01-{VRID} (IPv4)
or 00-00-5E-00-02-{VRID} (IPv6), replacing a stale one from a crash. It never forms an IPv6
interface identifier from the virtual MAC (§7.4: addr_gen_mode none; IPv6 off on an IPv4
macvlan). For IPv4 the parent and the macvlan get arp_ignore=1 (or the host answers ARP for
the VIP with its real MAC) and arp_announce=2 (or its own ARP requests announce the VIP from
the real MAC); the parent's values are restored on exit.
"""

from __future__ import annotations

import contextlib
import logging

from . import sysctl
from .netlink import Link, Netlink

log = logging.getLogger("vrrpd")

ARP_SYSCTLS = {"arp_ignore": 1, "arp_announce": 2}


def vmac_address(family: int, vrid: int) -> str:
    """RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6."""
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


class Vmacs:
    """Creates macvlans and remembers the parents' sysctls to restore."""

    def __init__(self) -> None:
        self._restore: dict[tuple[str, str], str] = {}  # (parent, key) -> original value

    async def create(
        self, nl: Netlink, parent: str, parent_index: int, family: int, vrid: int, who: str
    ) -> Link:
        name = f"vr{family}.{vrid}.{parent_index}"[:15]
        stale = await nl.find_link(name)
        if stale is not None:
            await nl.del_link(stale.index)
            log.info("%s: removed stale macvlan %s found at start-up", who, name)
        mac = vmac_address(family, vrid)
        link = await nl.add_macvlan(parent_index, name, mac)
        sysctl.write(6, name, "addr_gen_mode", 1)
        if family == 4:
            sysctl.write(6, name, "disable_ipv6", 1)
            for iface in (parent, name):
                for key, value in ARP_SYSCTLS.items():
                    if iface == parent and (parent, key) not in self._restore:
                        self._restore[parent, key] = sysctl.read(4, parent, key)
                    sysctl.write(4, iface, key, value)
        log.info("%s: virtual MAC %s on macvlan %s (up while master)", who, mac, name)
        return link

    def restore(self) -> None:
        for (iface, key), value in self._restore.items():
            with contextlib.suppress(OSError):
                sysctl.write(4, iface, key, value)
        self._restore.clear()
