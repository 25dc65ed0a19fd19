"""What vrrpd changed on the host and must undo: the record's contents and the decisions
about it (pure; the file and the undoing are vrrpd.io.addrrecord's).

A daemon killed with SIGKILL runs no teardown. What it changed stays: the accept_mode nft
table (`inet vrrpd`) keeps dropping traffic to the virtual addresses, the macvlans of the
virtual MAC keep their addresses, the parents keep the ARP sysctls it set. The record says
what there is to undo, and it is written *before* each change (so it may list more than
was done, never less):

- `addresses`: (interface, address/prefix) added, on kernels that do not keep the address
  protocol (vrrpd.addresses: otherwise the mark says it);
- `sysctls`: (family, interface, key) -> the value found before vrrpd first set it. Only
  the first value seen is kept (`with_original`): a later one is vrrpd's own, and a restart
  that read it as "original" would never give the host its own back;
- `nft_table`: the accept_mode table may exist;
- `macvlans`: the names of the macvlans created.

`undo_plan` decides, from the record and what the host has now, what to do at start-up,
for `vrrpd --cleanup` and at a clean exit: the same decision in all three.

A record comes from a file under /run: parsing checks every field, and names it will act on
must look like what vrrpd writes (an interface name cannot climb out of /proc/sys/net, a
macvlan name is one vrrpd gives), so a damaged file cannot make vrrpd delete eth0.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import ip_interface
from typing import Any

from .types import IPInterface

AddressEntry = tuple[str, IPInterface]  # (interface name, address/prefix)
SysctlKey = tuple[int, str, str]  # (family 4 or 6, interface name, key), net.ipv{4,6}.conf

VERSION = 1
# What a kernel accepts as an interface name, "." and ".." excepted (they are path steps).
IFNAME_RE = re.compile(r"(?!\.\.?$)[^\s/:]{1,15}")
# The names vrrpd.io.vmac.macvlan_name gives: vr{family}.{vrid}.{parent index}, cut to 15.
MACVLAN_RE = re.compile(r"vr[46]\.\d{1,3}\.\d{1,9}")
SYSCTL_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
SYSCTL_VALUE_RE = re.compile(r"[^\n\x00]{0,256}")


@dataclass(frozen=True)
class Record:
    """What a daemon changed and must undo. Every change returns a new record."""

    addresses: frozenset[AddressEntry] = frozenset()
    sysctls: Mapping[SysctlKey, str] = field(default_factory=dict)
    nft_table: bool = False
    macvlans: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.addresses or self.pending)

    @property
    def pending(self) -> bool:
        """Is there anything but addresses to undo (what `undo_plan` is about)?"""
        return bool(self.sysctls or self.nft_table or self.macvlans)

    def with_addresses(self, ifname: str, ifaces: Iterable[IPInterface]) -> Record:
        return replace(self, addresses=self.addresses | {(ifname, i) for i in ifaces})

    def without_addresses(self, ifname: str, ifaces: Iterable[IPInterface]) -> Record:
        return replace(self, addresses=self.addresses - {(ifname, i) for i in ifaces})

    def with_original(self, key: SysctlKey, value: str) -> Record:
        """Remember `value` as the original of `key`, unless one is already remembered: a
        value found later may be vrrpd's own."""
        if key in self.sysctls:
            return self
        return replace(self, sysctls={**self.sysctls, key: value})

    def with_macvlan(self, name: str) -> Record:
        return replace(self, macvlans=self.macvlans | {name})

    def without_macvlan(self, name: str) -> Record:
        return replace(self, macvlans=self.macvlans - {name})

    def with_nft_table(self, present: bool) -> Record:
        return replace(self, nft_table=present)


EMPTY = Record()


# -- the file's contents ---------------------------------------------------------------------


def to_json(record: Record) -> dict[str, Any]:
    """The record as a JSON object, in a stable order (the same record, the same text)."""
    return {
        "version": VERSION,
        "addresses": sorted([name, str(iface)] for name, iface in record.addresses),
        "sysctls": sorted(
            [f, name, key, value] for (f, name, key), value in record.sysctls.items()
        ),
        "nft_table": record.nft_table,
        "macvlans": sorted(record.macvlans),
    }


def from_json(data: object) -> Record:
    """The record a JSON value holds; ValueError or TypeError, naming the first bad part,
    if it is not one (a missing part is empty)."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r}, this vrrpd reads {VERSION}")
    unknown = set(data) - {"version", "addresses", "sysctls", "nft_table", "macvlans"}
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(sorted(unknown))}")
    addresses = set()
    for item in _list(data, "addresses"):
        if not (_row(item, 2) and _ifname(item[0]) and isinstance(item[1], str)):
            raise TypeError(f"addresses: {item!r} is not [interface, address/prefix]")
        addresses.add((item[0], ip_interface(item[1])))  # ValueError if not an address
    sysctls: dict[SysctlKey, str] = {}
    for item in _list(data, "sysctls"):
        if not (
            _row(item, 4)
            and item[0] in (4, 6)
            and type(item[0]) is int
            and _ifname(item[1])
            and isinstance(item[2], str)
            and SYSCTL_KEY_RE.fullmatch(item[2])
            and isinstance(item[3], str)
            and SYSCTL_VALUE_RE.fullmatch(item[3])
        ):
            raise TypeError(f"sysctls: {item!r} is not [4 or 6, interface, key, value]")
        sysctls[(item[0], item[1], item[2])] = item[3]
    nft_table = data.get("nft_table", False)
    if not isinstance(nft_table, bool):
        raise TypeError(f"nft_table: {nft_table!r} is not true or false")
    macvlans = set()
    for item in _list(data, "macvlans"):
        if not (isinstance(item, str) and MACVLAN_RE.fullmatch(item) and len(item) <= 15):
            raise TypeError(f"macvlans: {item!r} is not a name vrrpd gives a macvlan")
        macvlans.add(item)
    return Record(frozenset(addresses), sysctls, nft_table, frozenset(macvlans))


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise TypeError(f"{key}: not a list")
    return value


def _row(item: object, n: int) -> bool:
    return isinstance(item, list) and len(item) == n


def _ifname(name: object) -> bool:
    return isinstance(name, str) and IFNAME_RE.fullmatch(name) is not None


# -- undoing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Undo:
    """What to do to undo a record, given the host as it is now. `kept` is the record once
    it is all done: the addresses (the start-up plan of vrrpd.addresses removes those, per
    interface), nothing else."""

    macvlans: tuple[str, ...]  # to delete: recorded and present
    sysctls: tuple[tuple[SysctlKey, str], ...]  # to write back: (key, original)
    nft_table: bool  # delete the accept_mode table
    kept: Record

    @property
    def nothing(self) -> bool:
        return not (self.macvlans or self.sysctls or self.nft_table)

    def left(
        self,
        macvlans: Collection[str] = (),
        sysctls: Collection[SysctlKey] = (),
        nft_table: bool = False,
    ) -> Record:
        """The record after undoing, when the named steps failed: what failed stays
        recorded, to be tried again (next start, `vrrpd --cleanup`)."""
        originals = {k: v for k, v in self.sysctls if k in sysctls}
        return replace(
            self.kept,
            macvlans=self.kept.macvlans | frozenset(macvlans),
            sysctls={**self.kept.sysctls, **originals},
            nft_table=self.kept.nft_table or nft_table,
        )


def undo_plan(
    record: Record, links: Collection[str], current: Mapping[SysctlKey, str | None]
) -> Undo:
    """Decide how to undo `record`. `links`: the names of the interfaces that exist now;
    `current`: the value each recorded sysctl has now (None if it could not be read).

    A recorded macvlan that is gone needs nothing (a link deleted by hand, or by the run
    itself). A sysctl goes back to its original unless its interface is gone (a new
    interface of that name starts from the defaults: nothing of vrrpd's is left on it) or
    is a macvlan deleted here, or it already has that value; one that could not be read is
    written anyway. The nft table is deleted whenever recorded: deleting an absent one is
    harmless, and the accept_mode filter of a starting daemon replaces it anyway.
    """
    macvlans = tuple(sorted(n for n in record.macvlans if n in links))
    sysctls = tuple(
        (key, original)
        for key, original in sorted(record.sysctls.items())
        if key[1] in links and key[1] not in macvlans and current.get(key) != original
    )
    kept = Record(addresses=record.addresses)
    return Undo(macvlans, sysctls, record.nft_table, kept)
