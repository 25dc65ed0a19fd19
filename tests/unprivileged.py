"""Running this checkout's vrrpd as a user other than root (tests/netns/test_least_privilege.py,
tests/system/test_unit_security.py).

Such a user often cannot reach the Python that runs the tests: pyenv's lives under /root
(mode 0700), and systemd's ProtectHome= hides /root and /home altogether. So the interpreter's
installation, the virtual environment's packages and the checkout are bind-mounted, in a mount
namespace of the daemon's own, under a directory anybody may traverse, and the daemon runs
from there with PYTHONHOME, PYTHONPATH and LD_LIBRARY_PATH pointing at them.
"""

from __future__ import annotations

import os
import shlex
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
NOBODY = (65534, 65534)  # nobody:nogroup on Debian


class Code(NamedTuple):
    """Where the code is bind-mounted from and to, and how to run vrrpd from there."""

    mounts: list[tuple[str, str]]  # (source, target) pairs, targets under `at`
    env: dict[str, str]
    python: str  # the interpreter, under `at`

    def mount_script(self) -> str:
        """Shell lines making the targets and bind-mounting the sources there (root, in a
        mount namespace of its own)."""
        lines = []
        for source, target in self.mounts:
            lines.append(f"mkdir -p {shlex.quote(target)}")
            lines.append(f"mount --bind {shlex.quote(source)} {shlex.quote(target)}")
        return "\n".join(lines)

    def argv(self, *args: str) -> list[str]:
        """`env ... python -m vrrpd ARGS` from the mounted code."""
        return [
            "env",
            *(f"{k}={v}" for k, v in self.env.items()),
            self.python,
            "-m",
            "vrrpd",
            *args,
        ]


def code_at(at: str) -> Code:
    """This Python, the packages it imports and the checkout, mounted under `at`."""
    base = os.path.realpath(sys.base_prefix)
    exe = os.path.relpath(os.path.realpath(sys.executable), base)
    site = sysconfig.get_paths()["purelib"]
    return Code(
        mounts=[(base, f"{at}/python"), (site, f"{at}/site"), (str(ROOT), f"{at}/src")],
        env={
            "PYTHONHOME": f"{at}/python",
            "PYTHONPATH": f"{at}/src:{at}/site",
            "LD_LIBRARY_PATH": f"{at}/python/lib",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        python=f"{at}/python/{exe}",
    )
