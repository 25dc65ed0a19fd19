"""Every sample configuration Debian's keepalived package ships that has a vrrp_instance
converts, or is reported with reasons; the TOML printed by `vrrpctl import-keepalived` for
each passes `vrrpd --check-config`.

The samples come from /usr/share/doc/keepalived/samples (the keepalived package), or, where
keepalived is not installed, from the package itself (`apt-get download` + `dpkg-deb -x`).
If neither works the tests fail, saying so: they never skip."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vrrpd.cli import IMPORT_DIFFERS, vrrpctl_main, vrrpd_main

INSTALLED = Path("/usr/share/doc/keepalived/samples")

# sample -> (virtual routers, sync groups, what the report must say)
EXPECTED: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "keepalived.conf.SSL_GET": (1, 0, ("auth_type AH: not supported", "virtual_server: ignored")),
    "keepalived.conf.conditional_conf": (
        1,
        0,
        ("conditional line for configuration id high", "vrrp_script check_VI_0: no script"),
    ),
    "keepalived.conf.sample": (1, 0, ("virtual_server: ignored", "router_id: ignored")),
    "keepalived.conf.track_interface": (
        1,
        0,
        ("192.168.200.17 dev eth1: vrrpd adds its addresses on", "static_routes: ignored"),
    ),
    "keepalived.conf.vrrp": (4, 0, ("192.168.200.18: listed twice", "label eth0:1: ignored")),
    "keepalived.conf.vrrp.localcheck": (
        9,
        0,
        ("looks like shell syntax", "program 'killall' resolved to", "until its first result"),
    ),
    "keepalived.conf.vrrp.lvs_syncd": (
        3,
        0,
        ("vrrp_sync_group VG1: dropped (0 member", "lvs_sync_daemon_interface: ignored"),
    ),
    "keepalived.conf.vrrp.routes": (1, 0, ("virtual_routes: ignored", "static_routes: ignored")),
    "keepalived.conf.vrrp.rules": (1, 0, ("virtual_rules: ignored", "static_rules: ignored")),
    "keepalived.conf.vrrp.scripts": (3, 1, ("state MASTER: not emitted",)),
    "keepalived.conf.vrrp.static_ipaddress": (1, 0, ("static_ipaddress: ignored",)),
    "keepalived.conf.vrrp.sync": (9, 2, ("state MASTER: not emitted",)),
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if INSTALLED.is_dir():
        return INSTALLED
    where = tmp_path_factory.mktemp("keepalived-deb")
    got = subprocess.run(
        ["apt-get", "download", "keepalived"], cwd=where, capture_output=True, text=True
    )
    debs = sorted(where.glob("keepalived_*.deb"))
    assert got.returncode == 0 and debs, (
        f"the keepalived samples are needed: {INSTALLED} is missing and `apt-get download "
        f"keepalived` failed ({got.stderr.strip()}); install keepalived"
    )
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(where / "x")], check=True)
    found = where / "x" / INSTALLED.relative_to("/")
    assert found.is_dir(), f"the keepalived package has no {INSTALLED}"
    return found


def test_the_table_lists_every_vrrp_sample(samples: Path) -> None:
    vrrp = {p.name for p in samples.iterdir() if "vrrp_instance" in p.read_text(errors="replace")}
    assert vrrp == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_converts_and_passes_check_config(
    name: str, samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routers, groups, expected = EXPECTED[name]
    code = vrrpctl_main(["import-keepalived", str(samples / name)])
    out, err = capsys.readouterr()
    assert code == IMPORT_DIFFERS  # every sample has something keepalived-only
    report = err.splitlines()
    for line in report:
        assert line.startswith(f"{samples / name}:"), line
        assert "vrrpd would refuse" not in line, line
    for needle in expected:
        assert any(needle in line for line in report), (needle, report)
    assert out.count("[[virtual_router]]") == routers
    assert out.count("[[sync_group]]") == groups
    toml = tmp_path / "vrrpd.toml"
    toml.write_text(out)
    assert vrrpd_main(["--check-config", str(toml)]) == 0, capsys.readouterr().err
    assert f"OK, {routers} virtual router(s)" in capsys.readouterr().out
