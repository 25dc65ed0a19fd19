"""The pure core imports no adapter: no vrrpd.io module, no netlink library, no
prometheus_client, no asyncio, no sockets. `frames` is checked apart: it builds bytes with
scapy, which imports `socket` for itself (frames opens none)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PURE = (
    "types",
    "timing",
    "packet",
    "receive",
    "fsm",
    "tracking",
    "config",
    "api",
    "addresses",
    "reload",
    "instance",
    "groups",
    "timers",
    "bpf",
    "throttle",
    "access",
    "scriptsafety",
    "privilege",
    "linkfollow",
    "leftovers",
    "hooks",
    "kaconf",
    "kaimport",
    "metricnames",
    "toml_out",
)
FORBIDDEN = ("vrrpd.io", "pyroute2", "prometheus_client", "asyncio", "socket")


def loaded(modules: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """The forbidden modules that importing `modules` (in a fresh interpreter) loads."""
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__('vrrpd.' + m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}"
        f" or m.startswith('vrrpd.io'))\n"
        "print(' '.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_pure_modules_import_no_adapter() -> None:
    assert loaded(PURE, FORBIDDEN) == []


def test_frames_import_no_adapter() -> None:
    assert loaded(("frames",), tuple(m for m in FORBIDDEN if m != "socket")) == []
