"""Per-interface sysctls through /proc/sys (of the network namespace we run in)."""

from __future__ import annotations

from pathlib import Path

from .. import privilege
from ..privilege import Op

ROOT = Path("/proc/sys/net")


def path(family: int, ifname: str, key: str) -> Path:
    return ROOT / ("ipv4" if family == 4 else "ipv6") / "conf" / ifname / key


def write(family: int, ifname: str, key: str, value: int | str) -> None:
    """Set one value; raises OSError with the path when it cannot be written (refused:
    `vrrpd.privilege.Unprivileged`, naming CAP_NET_ADMIN, or ReadWritePaths= for EROFS)."""
    p = path(family, ifname, key)
    try:
        p.write_text(f"{value}\n")
    except OSError as e:
        refused = privilege.refusal(Op.SYSCTL, f"setting {p} to {value}", e)
        if refused is not e:
            raise refused from None
        raise OSError(e.errno, f"cannot set {p} to {value}: {e.strerror}") from None


def read(family: int, ifname: str, key: str) -> str:
    return path(family, ifname, key).read_text().strip()
