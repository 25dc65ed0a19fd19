"""The Debian package, as an operator uses it: tools/build-deb builds vrrpd_<version>_<arch>.deb,
`apt install ./vrrpd_*.deb` installs it on this machine (as root), the installed commands and
unit are checked, and `apt purge -y vrrpd` must leave nothing behind.

The install is real (this machine's dpkg database), so the test refuses to run over a vrrpd
package or an /opt/vrrpd that is already there, and purges in `finally` whatever happens. The
`vrrpd` user the package creates is removed afterwards too, if it did not exist before (the
package itself keeps it on purge, as Debian packages do with system users).
"""

from __future__ import annotations

import io
import os
import pwd
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import need_root
from tests.system.packaging import PYTHON, clean_env, run

ROOT = Path(__file__).resolve().parents[2]
BUILD_DEB = ROOT / "tools" / "build-deb"
UNIT = Path("/lib/systemd/system/vrrpd.service")
EXAMPLE = Path("/etc/vrrpd/vrrpd.toml.example")
APT_LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=300"]
APT_ENV = clean_env(DEBIAN_FRONTEND="noninteractive")


def package_status() -> str:
    """dpkg's status of the package `vrrpd` ("" when dpkg has never heard of it)."""
    cp = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "vrrpd", check=False)
    return cp.stdout.strip() if cp.returncode == 0 else ""


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The package, built once for the module (gzip: xz would add ~25 s of compression)."""
    out = tmp_path_factory.mktemp("deb")
    cp = run(BUILD_DEB, "--out", out, "--compression", "gzip")
    path = Path(cp.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.is_file(), cp.stdout
    yield path


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "--field", deb, name).stdout.strip()


def contents(deb: Path) -> dict[str, tarfile.TarInfo]:
    """The package's files by absolute path."""
    data = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True, timeout=120
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {"/" + m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers()}


def test_control_and_contents(deb: Path) -> None:
    pyver = run(PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    major, minor = (int(x) for x in pyver.split("."))
    version, arch = field(deb, "Version"), field(deb, "Architecture")
    assert deb.name == f"vrrpd_{version.split(':')[1]}_{arch}.deb", (deb.name, version)
    # The epoch outranks the old, unrelated vrrpd 1.0 (see tools/build-deb); exit 1 if not.
    run("dpkg", "--compare-versions", version, "gt", "1.0-2build1")
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    assert f"python3 (>= {pyver})" in depends, depends
    assert f"python3 (<< {major}.{minor + 1})" in depends, depends
    assert {"iproute2", "nftables", "systemd-sysusers"} <= set(depends), depends
    files = contents(deb)
    for path in (
        "/opt/vrrpd/bin/vrrpd",
        "/opt/vrrpd/bin/vrrpctl",
        f"/opt/vrrpd/lib/python{pyver}/site-packages/vrrpd/status.schema.json",
        "/lib/systemd/system/vrrpd.service",
        "/usr/lib/sysusers.d/vrrpd.conf",
        str(EXAMPLE),
        "/usr/share/doc/vrrpd/copyright",
        "/usr/share/doc/vrrpd/README.md",  # the unit's Documentation=
    ):
        assert path in files and files[path].isfile(), path
    assert files["/usr/sbin/vrrpd"].linkname == "/opt/vrrpd/bin/vrrpd"
    assert files["/usr/bin/vrrpctl"].linkname == "/opt/vrrpd/bin/vrrpctl"
    # Every file root-owned, nothing writable by others, no pip left in the environment.
    loose = [p for p, m in files.items() if m.uid or m.gid or (m.mode & 0o002 and not m.issym())]
    assert loose == [], loose
    assert not any("/site-packages/pip/" in p for p in files), "pip is in /opt/vrrpd"


def test_apt_install_check_config_verify_and_purge(deb: Path) -> None:
    need_root("installing the .deb", "apt install, as an operator would")
    status = package_status()
    if status and not status.startswith(("un", "pn")):
        pytest.fail(
            f"a vrrpd package is already on this machine (dpkg status {status!r}): this test "
            "installs and purges its own; remove it first (apt purge vrrpd)"
        )
    if Path("/opt/vrrpd").exists():
        pytest.fail("/opt/vrrpd exists and belongs to no vrrpd package: move it away first")
    files = contents(deb)
    existed = {p for p in files if os.path.lexists(p)}  # shared directories: /usr, /etc, ...
    had_user = user_exists("vrrpd")
    try:
        cp = run("apt", "install", "-y", "-q", *APT_LOCK_WAIT, deb, env=APT_ENV)
        # Installed, and not started or enabled: there is no configuration yet.
        assert package_status() == "ii", package_status()
        assert "systemctl enable --now vrrpd" in cp.stderr + cp.stdout
        enabled = run("systemctl", "is-enabled", "vrrpd.service", check=False)
        assert enabled.stdout.strip() == "disabled", enabled
        conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "vrrpd").stdout
        assert str(EXAMPLE) in conffiles, conffiles

        # The commands on PATH, from /opt/vrrpd, on the example configuration.
        assert Path("/usr/sbin/vrrpd").resolve() == Path("/opt/vrrpd/bin/vrrpd")
        out = run("vrrpd", "--check-config", EXAMPLE).stdout.strip()
        assert out == f"{EXAMPLE}: OK, 1 virtual router(s)", out
        assert "usage: vrrpctl" in run("vrrpctl", "--help").stdout
        where = run("/opt/vrrpd/bin/python", "-c", "import vrrpd; print(vrrpd.__file__)").stdout
        assert where.startswith("/opt/vrrpd/lib/"), where

        # The installed unit: valid, and every command it runs exists.
        cp = run("systemd-analyze", "verify", UNIT, check=False)
        assert (cp.returncode, cp.stderr.strip()) == (0, ""), cp.stderr
        execs = [
            line.split("=", 1)[1].split()[0]
            for line in UNIT.read_text().splitlines()
            if line.startswith(("ExecStart=", "ExecStartPre=", "ExecStopPost="))
        ]
        assert execs == ["/usr/sbin/vrrpd"] * 3, execs

        # The service's user, made by systemd-sysusers in postinst.
        user = pwd.getpwnam("vrrpd")
        assert 0 < user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin", user
    finally:
        purge = run("apt", "purge", "-y", "-q", *APT_LOCK_WAIT, "vrrpd", env=APT_ENV, check=False)
        if not had_user and user_exists("vrrpd"):
            run("userdel", "vrrpd", check=False)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert package_status() in ("", "un", "pn"), package_status()
    left = sorted(p for p in files if p not in existed and os.path.lexists(p))
    assert left == [], left
    for path in ("/opt/vrrpd", "/etc/vrrpd", str(UNIT), "/usr/sbin/vrrpd", "/usr/bin/vrrpctl"):
        assert not os.path.lexists(path), path
