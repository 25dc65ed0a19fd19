"""Scripts run as [daemon] script_user (issue 10, least privilege), on real vrrpd processes.

- a notify script and a track script run with the configured uid, gid and no other group,
  from /, with a fixed environment, no capability and none of the daemon's sockets;
- a program that would run as root and that another user could change (group- or
  world-writable, in a world-writable directory without the sticky bit, missing under a
  world-writable directory) is refused with one line by `--check-config`, at start-up and on
  reload; a root-owned script in a sticky directory (like /tmp) is run;
- a reload changes who the next script runs as;
- a daemon that is not root and lacks CAP_SETUID / CAP_SETGID says so in one line at
  start-up; scripts get none of a non-root daemon's ambient capabilities (process level,
  with setpriv).

Scripts and their output live in a directory under /tmp made by each test (root's, mode
0755; the output directory belongs to the script user) and removed after it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import PACKAGE_ROOT, Lab, Vrrpd, check_config, wait_for
from tests.helpers import need_root, vr
from tests.netns.test_operations import ctl, ctl_ok
from tests.netns.test_reload import read_doc, write_doc

pytestmark = pytest.mark.netns

NOBODY = pwd.getpwnam("nobody")
OTHER = pwd.getpwuid(1)  # "daemon" on Debian: a user that exists and is neither of the above
EXTRA_GID = 4242  # a supplementary group of the daemon that scripts must not keep


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory under /tmp: root's, mode 0755, with `bin` (root's, 0755) for scripts and
    `out` (the nobody user's) for what they write."""
    need_root("script_user tests", "changing users, namespaces")
    base = Path(tempfile.mkdtemp(prefix="vrrpd-script-user-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "bin").mkdir(mode=0o755)
        out = base / "out"
        out.mkdir(mode=0o755)
        os.chown(out, NOBODY.pw_uid, NOBODY.pw_gid)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


# What a script reports about itself: one line of key=value words.
REPORT = (
    'caps=$(grep -E "^Cap(Inh|Prm|Eff|Amb):" /proc/$$/status | tr -s "\\t " ":" | tr "\\n" ",")\n'
    'socks=$(ls -l /proc/$$/fd | grep -c "socket:")\n'
    'echo "state=$3 uid=$(id -u) gid=$(id -g) groups=$(id -G | tr " " ,) cwd=$(pwd)'
    ' home=$HOME path=$PATH leak=${VRRPD_TEST_LEAK:-unset} socks=$socks caps=$caps"'
)


def notify_script(work: Path) -> tuple[Path, Path]:
    out = work / "out" / "notify.out"
    return script(work / "bin" / "notify", f"{REPORT} >> {out}\n"), out


def track_script(work: Path) -> tuple[Path, Path]:
    out = work / "out" / "track.out"
    body = f"id -u > {out}.tmp && mv -f {out}.tmp {out}\n"
    return script(work / "bin" / "track", body), out


def reports(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [dict(w.split("=", 1) for w in line.split(" ") if "=" in w) for line in lines]


def one_router(lab: Lab, daemon: dict[str, Any] | None = None, **keys: Any) -> Vrrpd:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    return r1.start_vrrpd([vr(priority=200, **keys)], daemon=daemon)


def wait_report(path: Path, state: str) -> dict[str, str]:
    def found() -> dict[str, str] | None:
        return next((r for r in reports(path) if r.get("state") == state), None)

    return wait_for(found, 20, what=f"the notify script's {state} line in {path}")


NO_CAPS = "CapInh:0000000000000000,CapPrm:0000000000000000,CapEff:0000000000000000,"


@pytest.mark.parametrize(
    ("user", "group", "gid"),
    [
        ("nobody", None, NOBODY.pw_gid),
        (NOBODY.pw_uid, OTHER.pw_name, OTHER.pw_gid),
    ],
    ids=["name-primary-group", "uid-and-group"],
)
def test_notify_and_track_scripts_run_as_script_user(
    lab: Lab,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    user: str | int,
    group: str | None,
    gid: int,
) -> None:
    monkeypatch.setenv("VRRPD_TEST_LEAK", "the-daemons-own")  # vrrpd inherits it; scripts not
    notify, notify_out = notify_script(work)
    track, track_out = track_script(work)
    daemon: dict[str, Any] = {"script_user": user}
    if group is not None:
        daemon["script_group"] = group
    tracked = {"name": "who", "command": [str(track)], "interval": 0.3}
    groups = os.getgroups()
    os.setgroups([*groups, EXTRA_GID])  # vrrpd inherits a supplementary group; scripts not
    try:
        d1 = one_router(lab, daemon, notify=[str(notify)], track_scripts=[tracked])
    finally:
        os.setgroups(groups)
    assert f"{EXTRA_GID}" in Path(f"/proc/{d1.pid}/status").read_text().split("Groups:")[1]
    d1.wait_state("gw", "MASTER", timeout=20)
    master = wait_report(notify_out, "MASTER")
    assert master["uid"] == str(NOBODY.pw_uid)
    assert master["gid"] == str(gid)
    assert master["groups"] == str(gid), "root's supplementary groups must not be kept"
    assert master["cwd"] == "/"
    assert master["home"] == NOBODY.pw_dir
    assert master["path"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert master["leak"] == "unset"
    assert master["socks"] == "0", "a script inherited one of the daemon's sockets"
    assert master["caps"].startswith(NO_CAPS)
    wait_for(lambda: track_out.exists(), 20, what="the track script's output")
    assert track_out.read_text().strip() == str(NOBODY.pw_uid)
    assert "script who failing" not in d1.log_text()


REFUSALS = [
    ("group-writable", "notify", "{bin}/notify", 0o775, None, "is writable by its group"),
    ("world-writable", "notify", "{bin}/notify", 0o757, None, "is writable by others"),
    ("open-directory", "notify", "{work}/open/notify", 0o755, 0o777, "{work}/open is writable"),
    ("missing-in-tmp", "notify", "{work}/sticky/later/n", None, 0o1777, "it does not exist"),
    ("track-script", "track", "{bin}/check", 0o777, None, "is writable by its group and"),
]


def _make(work: Path, template: str, mode: int | None, dir_mode: int | None) -> Path:
    path = Path(template.format(bin=work / "bin", work=work))
    if dir_mode is not None:
        top = work / path.relative_to(work).parts[0]
        top.mkdir()
        top.chmod(dir_mode)
    if mode is not None:
        script(path, "exit 0\n", mode)
    return path


@pytest.mark.parametrize(
    ("kind", "template", "mode", "dir_mode", "reason"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_unsafe_program_is_refused_when_scripts_run_as_root(
    lab: Lab,
    work: Path,
    kind: str,
    template: str,
    mode: int | None,
    dir_mode: int | None,
    reason: str,
) -> None:
    program = _make(work, template, mode, dir_mode)
    if kind == "notify":
        keys: dict[str, Any] = {"notify": [str(program)]}
        key = "virtual_router[0].notify"
    else:
        keys = {"track_scripts": [{"name": "c", "command": [str(program)]}]}
        key = "virtual_router[0].track_scripts[0].command"
    d1 = one_router(lab, **keys)
    assert d1.process.wait(timeout=60) == 1
    check = check_config(d1.config_path)
    assert check.returncode == 1
    (line,) = check.stderr.splitlines()
    assert line.startswith(f"{d1.config_path}: {key}: refusing to run {program} as root: ")
    assert reason.format(work=work) in line
    assert "chmod go-w" in line and "daemon.script_user" in line
    said = [x for x in d1.log_text().splitlines() if not x.startswith("--- netns_lab")]
    assert said == [line], "start-up must say the same one line as --check-config"


def test_root_script_in_a_sticky_directory_runs(lab: Lab, work: Path) -> None:
    """Like /tmp: root's entries in a sticky world-writable directory are root's to change."""
    sticky = work / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    out = work / "out" / "root.out"
    notify = script(sticky / "notify", f"{REPORT} >> {out}\n")
    d1 = one_router(lab, notify=[str(notify)])
    assert check_config(d1.config_path).returncode == 0
    d1.wait_state("gw", "MASTER", timeout=20)
    assert wait_report(out, "MASTER")["uid"] == "0"


def test_reload_refuses_an_unsafe_script_and_changes_the_user(lab: Lab, work: Path) -> None:
    track, track_out = track_script(work)
    tracked = {"name": "who", "command": [str(track)], "interval": 0.3}
    d1 = one_router(lab, track_scripts=[tracked])
    d1.wait_state("gw", "MASTER", timeout=20)
    wait_for(lambda: track_out.exists() and track_out.read_text() == "0\n", 20, what="as root")

    # Made group-writable while running: the reload is refused, the daemon runs on.
    track.chmod(0o775)
    refused = ctl(d1, "reload")
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert line == (
        f"vrrpctl: {d1.config_path}: virtual_router[0].track_scripts[0].command: refusing to "
        f"run {track} as root: {track} is writable by its group (mode 0775); make the file "
        "and every directory on its path owned by root and not writable by group or others "
        "(chown root, chmod go-w), or set daemon.script_user to an unprivileged user"
    )
    assert d1.alive and d1.router("gw")["state"] == "MASTER"

    # With script_user the same file is no longer run as root: accepted, and the next run
    # of the track script is the nobody user's.
    doc = read_doc(d1)
    doc["daemon"]["script_user"] = "nobody"
    write_doc(d1, doc)
    ctl_ok(d1, "reload")
    uid = f"{NOBODY.pw_uid}\n"
    wait_for(lambda: track_out.read_text() == uid, 20, what="the track script as nobody")
    assert d1.router("gw")["state"] == "MASTER"


# --- a daemon that is not root (process level) ----------------------------------------------------


def as_user(
    uid: int, gid: int, caps: str, argv: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run `argv` as uid/gid holding only the ambient capabilities `caps` (setpriv)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": PACKAGE_ROOT}
    pre = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    if caps:
        pre += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
    return subprocess.run(
        [*pre, *argv], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False
    )


def test_without_setuid_the_daemon_says_so_in_one_line(work: Path) -> None:
    conf = work / "vrrpd.toml"
    conf.write_text(
        f'[daemon]\nscript_user = "nobody"\ncontrol_socket = "{work}/out/s.sock"\n'
        '[[virtual_router]]\nname = "gw"\ninterface = "eth0"\nvrid = 51\n'
        'virtual_ips = ["192.0.2.254/24"]\n'
    )
    caps = "+net_admin,+net_raw"
    for mode in ("--check-config", "--config"):
        run = as_user(
            OTHER.pw_uid, OTHER.pw_gid, caps, [sys.executable, "-m", "vrrpd", mode, str(conf)], work
        )
        assert run.returncode == 1, run
        assert run.stderr.splitlines() == [
            f"{conf}: daemon.script_user: running scripts as nobody needs CAP_SETUID and "
            f"CAP_SETGID, which vrrpd lacks here (uid {OTHER.pw_uid}): grant them "
            "(AmbientCapabilities= and CapabilityBoundingSet= in the unit) or leave script_user "
            "out to run scripts as vrrpd's own user"
        ], mode


SPAWN = r"""
import asyncio, sys
from vrrpd.config import DaemonConfig
from vrrpd.io.scripthost import Launcher, identity, problems

async def main() -> None:
    user = sys.argv[1] or None
    launcher = Launcher(identity(DaemonConfig(script_user=user)))
    argv = ["/bin/sh", "-c", 'id -u; grep -E "^Cap(Inh|Prm|Eff|Amb):" /proc/$$/status']
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, **launcher.options({})
    )
    out, _ = await proc.communicate()
    print(out.decode(), end="")

print(open("/proc/self/status").read().split("CapAmb:")[1].split()[0])
asyncio.run(main())
"""


def _spawned(user: str, caps: str, work: Path) -> tuple[str, str, dict[str, str]]:
    """(the daemon's CapAmb, the script's uid, the script's capability masks)."""
    run = as_user(OTHER.pw_uid, OTHER.pw_gid, caps, [sys.executable, "-c", SPAWN, user], work)
    assert run.returncode == 0, run.stderr
    daemon_amb, uid, *masks = run.stdout.split("\n")
    return daemon_amb, uid, dict(m.replace("\t", "").split(":") for m in masks if m)


ZERO = "0000000000000000"


@pytest.mark.parametrize(
    ("user", "caps", "uid"),
    [
        ("", "+net_admin,+net_raw", OTHER.pw_uid),
        ("nobody", "+net_admin,+net_raw,+setuid,+setgid", NOBODY.pw_uid),
    ],
    ids=["own-user", "switched-user"],
)
def test_scripts_get_none_of_a_non_root_daemons_capabilities(
    work: Path, user: str, caps: str, uid: int
) -> None:
    """Ambient capabilities pass through execve to a non-root program: without the drop, a
    script of a daemon holding CAP_SETUID could make itself root."""
    daemon_amb, got_uid, masks = _spawned(user, caps, work)
    assert int(daemon_amb, 16) != 0, "the stand-in daemon holds ambient capabilities"
    assert got_uid == str(uid)
    assert masks == {"CapInh": ZERO, "CapPrm": ZERO, "CapEff": ZERO, "CapAmb": ZERO}


def test_a_plain_child_would_inherit_them(work: Path) -> None:
    """The control for the test above: what the drop prevents does happen without it."""
    code = "import subprocess; subprocess.run(['grep', 'CapAmb', '/proc/self/status'])"
    run = as_user(OTHER.pw_uid, OTHER.pw_gid, "+net_admin", [sys.executable, "-c", code], work)
    assert run.stdout.split()[1] != ZERO
