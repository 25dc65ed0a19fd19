"""Per-interface sysctls through /proc/sys (of the network namespace we run in)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/proc/sys/net")


def path(family: int, ifname: str, key: str) -> Path:
    return ROOT / ("ipv4" if family == 4 else "ipv6") / "conf" / ifname / key


def write(family: int, ifname: str, key: str, value: int | str) -> None:
    """Set one value; raises OSError with the path when it cannot be written."""
    p = path(family, ifname, key)
    try:
        p.write_text(f"{value}\n")
    except OSError as e:
        raise OSError(e.errno, f"cannot set {p} to {value}: {e.strerror}") from None


def read(family: int, ifname: str, key: str) -> str:
    return path(family, ifname, key).read_text().strip()
