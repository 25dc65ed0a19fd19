"""What an operation refused for lack of privilege lacks, as one line for the operator (pure).

vrrpd needs two capabilities and nothing else (README "Running with least privilege"):
CAP_NET_RAW for its protocol-112 raw sockets and its packet sockets, CAP_NET_ADMIN for
addresses, macvlans, the sysctls under /proc/sys/net and nftables. A non-root daemon also
needs a control socket directory it may write to.

The adapters ask `explain(op, what, code)` when an operation fails with `code` (an errno):
if the errno says "not allowed", they report the line it returns (as `Unprivileged`) instead
of a bare "[Errno 1] Operation not permitted". `missing` reads the effective capability mask
(CapEff, read by vrrpd.io.scripthost.effective_capabilities), so that a daemon lacking one
refuses to start with one line rather than become a master that cannot add its address.
"""

from __future__ import annotations

import errno
from enum import Enum

CAP_NET_ADMIN = "CAP_NET_ADMIN"
CAP_NET_RAW = "CAP_NET_RAW"
# Bit numbers in the capability masks (linux/capability.h).
CAP_BITS = {CAP_NET_ADMIN: 12, CAP_NET_RAW: 13}
# What each capability is for, in the line that says it is missing.
USED_FOR = {
    CAP_NET_ADMIN: "virtual addresses, macvlans, sysctls, nftables",
    CAP_NET_RAW: "VRRP raw sockets, packet sockets",
}
REMEDY = "run as root or grant the capability"
# What a systemd unit with ProtectKernelTunables=yes must keep writable (the per-interface
# settings of the virtual MAC; "-": a kernel without IPv6 has no ipv6/conf).
WRITABLE_SYSCTLS = "ReadWritePaths=/proc/sys/net/ipv4/conf -/proc/sys/net/ipv6/conf"
# The errnos that mean "not allowed": EPERM from capability checks, EACCES from file modes
# (a sysctl file, a directory).
REFUSED = frozenset({errno.EPERM, errno.EACCES})


class Op(Enum):
    """A privileged operation of the daemon."""

    RAW_SOCKET = "raw socket"
    PACKET_SOCKET = "packet socket"
    NETLINK = "netlink"
    SYSCTL = "sysctl"
    NFT = "nft"
    CONTROL_SOCKET = "control socket"


# The capability each operation needs; None: write permission on a directory.
NEEDS: dict[Op, str | None] = {
    Op.RAW_SOCKET: CAP_NET_RAW,
    Op.PACKET_SOCKET: CAP_NET_RAW,
    Op.NETLINK: CAP_NET_ADMIN,
    Op.SYSCTL: CAP_NET_ADMIN,
    Op.NFT: CAP_NET_ADMIN,
    Op.CONTROL_SOCKET: None,
}


class Unprivileged(OSError):
    """An operation refused for lack of privilege; str() is the operator's one line."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(code, line)
        self.line = line

    def __str__(self) -> str:
        return self.line


def errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def explain(op: Op, what: str, code: int | None) -> str | None:
    """The one line for `what` (e.g. "opening the raw socket on eth0"), done as `op`, having
    failed with errno `code`; None if `code` does not say privilege was lacking (the caller
    keeps its own message)."""
    if code is None:
        return None
    name = errno_name(code)
    if op is Op.SYSCTL and code == errno.EROFS:
        return (
            f"{what}: /proc/sys is read-only here ({name}): under systemd, "
            f"ProtectKernelTunables=yes needs {WRITABLE_SYSCTLS}"
        )
    if code not in REFUSED:
        return None
    cap = NEEDS[op]
    if cap is None:
        return (
            f"{what} needs write access to its directory ({name}): run as root, or make the "
            "directory the daemon user's own with mode 0700 (systemd: RuntimeDirectory=vrrpd)"
        )
    return f"{what} needs {cap} ({name}): {REMEDY}"


def refusal(op: Op, what: str, e: OSError) -> OSError:
    """`e` as the adapter should raise it: `Unprivileged` with `explain`'s line when its errno
    says privilege was lacking, else `e` itself."""
    line = explain(op, what, e.errno)
    return e if line is None else Unprivileged(e.errno or errno.EPERM, line)


def reported(prefix: str, e: BaseException) -> str:
    """How a caller reports `e`: an `Unprivileged` line as it is, anything else after
    `prefix`."""
    return str(e) if isinstance(e, Unprivileged) else f"{prefix}: {e}"


def refused_text(text: str) -> int | None:
    """The errno an external tool's error `text` reports for a refusal (`nft` prints
    "Operation not permitted"), else None."""
    if "Operation not permitted" in text:
        return errno.EPERM
    if "Permission denied" in text:
        return errno.EACCES
    return None


def missing(effective: int) -> list[str]:
    """The capabilities vrrpd needs that the mask `effective` lacks, in a fixed order."""
    return [cap for cap, bit in CAP_BITS.items() if not effective >> bit & 1]


def missing_line(caps: list[str]) -> str:
    """One line naming every capability in `caps` (from `missing`) and what it is for."""
    parts = " and ".join(f"{cap} ({USED_FOR[cap]})" for cap in caps)
    return f"needs {parts}, which this process lacks: {REMEDY}"
