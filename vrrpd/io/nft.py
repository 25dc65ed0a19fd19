"""Accept_Mode false (RFC 5798 §6.1, §6.4.3): nftables rules that drop packets addressed to a
virtual address, except the ARP/ND a master must answer (ARP is not IP, so it never meets
these rules; for IPv6 Neighbor Solicitations/Advertisements are let through).

The rules live in our own table, `inet vrrpd`, replaced as a whole in one transaction and
deleted on exit. The daemon's record (vrrpd.io.addrrecord) says the table may exist before it
is created: after SIGKILL it is deleted at the next start, or by `vrrpd --cleanup`, even when
the new configuration has no accept_mode false.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from .. import privilege
from ..privilege import Op
from ..types import IPAddress

if TYPE_CHECKING:
    from .addrrecord import RecordFile

TABLE = "vrrpd"


def ruleset(addresses: Iterable[IPAddress]) -> str:
    v4 = sorted({a for a in addresses if isinstance(a, IPv4Address)})
    v6 = sorted({a for a in addresses if isinstance(a, IPv6Address)})
    rules = []
    if v6:
        six = ", ".join(str(a) for a in v6)
        rules.append(
            f"ip6 daddr {{ {six} }} icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }}"
            " accept"
        )
        rules.append(f"ip6 daddr {{ {six} }} counter drop")
    if v4:
        rules.append(f"ip daddr {{ {', '.join(str(a) for a in v4)} }} counter drop")
    body = "\n".join(f"    {r}" for r in rules)
    return (
        f"table inet {TABLE} {{}}\n"
        f"delete table inet {TABLE}\n"
        f"table inet {TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"{body}\n"
        "  }\n"
        "}\n"
    )


async def _nft(script: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            "nft",
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise OSError("nft not found: accept_mode = false needs nftables") from None
    _out, err = await proc.communicate(script.encode())
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip()
        what = "loading the accept_mode rules with nft"
        line = privilege.explain(Op.NFT, what, privilege.refused_text(text))
        if line is not None:  # "netlink: Error: cache initialization failed: Operation ..."
            raise privilege.Unprivileged(errno.EPERM, line)
        raise OSError(f"nft failed: {text}")


async def install(addresses: Iterable[IPAddress], record: RecordFile) -> None:
    """Replace the table with one dropping traffic to `addresses`, recorded first."""
    had = record.state.nft_table
    record.update(record.state.with_nft_table(True))
    try:
        await _nft(ruleset(addresses))
    except OSError:
        if not had:  # one transaction: a failed one created nothing
            record.update(record.state.with_nft_table(False))
        raise


async def remove(record: RecordFile) -> None:
    """Delete the table (absent already is fine), then forget it."""
    await _nft(f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
    record.update(record.state.with_nft_table(False))
