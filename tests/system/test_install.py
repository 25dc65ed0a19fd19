"""`pip install .` and `pipx install .`, as a user would run them: one wheel is built from a
copy of this checkout (`pip wheel --no-deps -v`, so that setuptools' own warnings show) and
installed into a fresh virtual environment made with Debian's /usr/bin/python3, then with
Debian's pipx (PIPX_HOME and PIPX_BIN_DIR in a temporary directory), dependencies from the
configured package index. Each install must give working `vrrpd` and `vrrpctl` commands, the
package data (vrrpd/status.schema.json), and no deprecation warning from the build.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.system.packaging import PYTHON, clean_env, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "active-standby.toml"
# Build artefacts and caches that a copy of the checkout must not carry.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


class Built(NamedTuple):
    wheel: Path
    log: str  # what `pip wheel -v` printed: setuptools' warnings included


def output(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """What a command that must succeed printed, stdout and stderr."""
    cp = run(*args, env=env)
    return cp.stdout + cp.stderr


def make_venv(path: Path) -> Path:
    if not Path(PYTHON).exists():
        pytest.fail(f"{PYTHON} missing: install Debian's python3 and python3-venv")
    run(PYTHON, "-m", "venv", path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One wheel for the module, built like `pip install .` builds it."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE, symlinks=True)
    env = make_venv(work / "build-env")
    log = output(
        env / "bin" / "python",
        "-m",
        "pip",
        "wheel",
        "-v",
        "--no-deps",
        "-w",
        work,
        src,
        env=clean_env(),
    )
    wheels = list(work.glob("vrrpd-*.whl"))
    assert len(wheels) == 1, (wheels, log[-2000:])
    yield Built(wheels[0], log)


def check_installed(bindir: Path, site: Path) -> None:
    """The commands of an installed vrrpd work and its package data is there."""
    env = clean_env()
    assert "usage: vrrpd" in output(bindir / "vrrpd", "--help", env=env)
    out = output(bindir / "vrrpd", "--check-config", EXAMPLE, env=env)
    assert out.strip() == f"{EXAMPLE}: OK, 1 virtual router(s)", out
    assert "usage: vrrpctl" in output(bindir / "vrrpctl", "--help", env=env)
    schema = site / "vrrpd" / "status.schema.json"
    assert schema.is_file(), f"package data missing: {schema}"
    assert json.loads(schema.read_text())["type"] == "array"


def site_packages(venv: Path) -> Path:
    found = list(venv.glob("lib/python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def test_wheel_builds_without_deprecation_warnings(built: Built) -> None:
    # setuptools >= 77 warns (SetuptoolsDeprecationWarning) about a license table or license
    # classifiers on every build; `-v` shows the backend's output, so the warning would be here.
    assert "setuptools" in built.log.lower(), "the build log shows no setuptools output"
    warned = [line for line in built.log.splitlines() if "deprecat" in line.lower()]
    assert warned == [], "\n".join(warned)


def test_pip_install_into_fresh_venv(built: Built, tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    out = output(venv / "bin" / "python", "-m", "pip", "install", built.wheel)
    assert "Successfully installed" in out, out
    assert [line for line in out.splitlines() if "deprecat" in line.lower()] == [], out
    check_installed(venv / "bin", site_packages(venv))


def test_pipx_install(built: Built, tmp_path: Path) -> None:
    pipx = shutil.which("pipx", path="/usr/bin")
    if pipx is None:
        pytest.fail("pipx missing: install Debian's pipx package (tools/bootstrap does)")
    home, bindir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    env = clean_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bindir), USE_EMOJI="0")
    out = output(pipx, "install", "--python", PYTHON, built.wheel, env=env)
    assert "installed package vrrpd" in out, out
    assert {p.name for p in bindir.iterdir()} >= {"vrrpd", "vrrpctl"}, out
    check_installed(bindir, site_packages(home / "venvs" / "vrrpd"))
    listed = json.loads(output(pipx, "list", "--json", env=env))
    assert "vrrpd" in listed["venvs"], listed
