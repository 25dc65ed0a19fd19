"""What the packaging tests (test_install.py, test_deb.py) share: running a command as an
operator would, in a clean environment and outside this checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

PYTHON = "/usr/bin/python3"  # Debian's: what operators have, what the .deb depends on


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: nothing of this test run's venv, PYTHONPATH or PATH leaks in."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root", **extra}


def run(
    *args: str | Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command from / (so `import vrrpd` never finds this checkout) with `env` or a clean
    environment; with `check`, fail the test with its output when it exits non-zero."""
    cp = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env if env is not None else clean_env(),
        cwd="/",
    )
    if check:
        assert cp.returncode == 0, f"{args}: exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp
