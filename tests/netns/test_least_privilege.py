"""vrrpd as a non-root user holding CAP_NET_ADMIN and CAP_NET_RAW only (issue 10).

Each daemon starts as nobody:nogroup through `setpriv` (no supplementary groups; the two
capabilities inheritable, ambient and the whole bounding set), as the systemd unit runs it as
`vrrpd` (tools/systemd/vrrpd.service). Its configuration is world-readable, its control socket
in a directory of its own (owned by that uid, mode 0700: the control socket's directory check
accepts the daemon's own euid), and its code bind-mounted where that user can reach it
(tests/unprivileged.py).

Proved: election, failover when the master stops, the virtual MAC (the macvlan and its
sysctls), accept mode (the nft table) and `vrrpctl status` as root against the daemon's socket.
And that every missing privilege is one line on stderr naming it: a capability missing from
the start, capabilities held only in a user namespace that does not own the network namespace
(what systemd's PrivateUsers=yes does), and a control socket directory it may not write.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from netns_lab.toml_out import dumps
from tests.helpers import VIP, VIP_ADDR, vr
from tests.unprivileged import NOBODY, code_at

BOTH = "+net_admin,+net_raw"
REMEDY = "run as root or grant the capability"


class Place:
    """A directory any user may traverse (0755), removed afterwards: configurations, the
    bind-mounted code, and one control socket directory per daemon."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="vrrpd-lp-"))
        self.path.chmod(0o755)
        self.code = code_at(str(self.path / "code"))

    def run_dir(self, name: str, uid: int, gid: int) -> Path:
        d = self.path / f"{name}-run"
        d.mkdir(mode=0o700)
        os.chown(d, uid, gid)
        return d

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def place() -> Iterator[Place]:
    p = Place()
    try:
        yield p
    finally:
        p.remove()


def start_as(
    node: Node,
    place: Place,
    routers: list[dict[str, Any]],
    *,
    caps: str = BOTH,
    user: tuple[int, int] = NOBODY,
    run_dir: Path | None = None,
    userns: bool = False,
) -> Vrrpd:
    """vrrpd in `node` as `user` (uid, gid) with only the capabilities `caps` (setpriv's
    syntax, "" for none). `userns`: as root of a new user namespace instead (unshare
    --map-root-user): every capability, but in a namespace that does not own the node's
    network namespace."""
    uid, gid = user
    run = run_dir if run_dir is not None else place.run_dir(node.name, uid, gid)
    sock = run / "vrrpd.sock"
    conf = place.path / f"{node.name}.toml"
    conf.write_text(dumps({"daemon": {"control_socket": str(sock)}, "virtual_router": routers}))
    conf.chmod(0o644)
    log = node.lab.workdir / f"{node.name}.log"
    if userns:
        argv = ["unshare", "--user", "--map-root-user", sys.executable, "-m", "vrrpd"]
        argv += ["--config", str(conf)]
    else:
        drop = "-all" + (f",{caps}" if caps else "")
        setpriv = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            f"--inh-caps={drop}",
            f"--ambient-caps={drop}",
            f"--bounding-set={drop}",
        ]
        script = (
            place.code.mount_script()
            + "\nexec "
            + " ".join(map(shlex.quote, [*setpriv, *place.code.argv("--config", str(conf))]))
        )
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script]
    with open(log, "ab") as logf:
        proc = node.popen(argv, stdout=logf, stderr=subprocess.STDOUT)
    node.vrrpd = Vrrpd(node, proc, conf, log, sock, routers)
    return node.vrrpd


def status_of(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def vmac_of(node: Node) -> str:
    vmacs = [link["ifname"] for link in node.links() if link["kind"] == "macvlan"]
    assert len(vmacs) == 1, node.links()
    return str(vmacs[0])


def exit_line(d: Vrrpd, timeout: float = 20.0) -> str:
    """The daemon's exit: non-zero, and its whole output one line (returned)."""
    code = d.process.wait(timeout=timeout)
    out = d.log_text().strip()
    assert code not in (0, None), out
    lines = out.splitlines()
    assert len(lines) == 1, out
    return lines[0]


def test_unprivileged_election_failover_vmac_accept_mode_and_control(
    lab: Lab, place: Place
) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    keys = {"use_vmac": True, "accept_mode": False}
    d1 = start_as(r1, place, [vr(priority=200, **keys)])
    d2 = start_as(r2, place, [vr(priority=100, **keys)])
    d1.wait_state("gw", "MASTER", timeout=20)
    d2.wait_state("gw", "BACKUP", timeout=20)

    # Both run as nobody with exactly the two capabilities, nothing to gain more.
    for d in (d1, d2):
        st = status_of(d.pid)
        assert st["Uid"].split() == [str(NOBODY[0])] * 4, st["Uid"]
        assert st["Gid"].split() == [str(NOBODY[1])] * 4, st["Gid"]
        assert st["Groups"].strip() == "", st["Groups"]
        for field in ("CapEff", "CapPrm", "CapAmb", "CapBnd"):
            assert int(st[field], 16) == (1 << 12) | (1 << 13), (field, st[field])

    # The virtual MAC: the macvlan holds the VIP, and its sysctls and the parent's were set.
    vmac = vmac_of(r1)
    assert r1.has_address(VIP_ADDR, vmac), r1.all_addresses()
    assert not any(VIP_ADDR in a for a in r2.all_addresses().get("eth0", []))
    for node in (r1, r2):
        v = vmac_of(node)
        for iface in ("eth0", v):
            assert node.conf_sysctl(iface, "arp_ignore") == "1", (node.name, iface)
            assert node.conf_sysctl(iface, "arp_announce") == "2", (node.name, iface)
        assert node.conf_sysctl(v, "addr_gen_mode", 6) == "1"
        assert node.conf_sysctl(v, "disable_ipv6", 6) == "1"
        # Accept mode false: vrrpd's nft table, loaded by `nft` with the inherited capability.
        assert ("inet", "vrrpd") in node.nft_tables(), node.nft_ruleset()

    # The control socket: the daemon's uid owns it, root's vrrpctl reads it.
    sock = d1.socket_path.stat()
    assert (sock.st_uid, oct(sock.st_mode & 0o777)) == (NOBODY[0], "0o600")
    cp = subprocess.run(
        [sys.executable, "-m", "vrrpd.ctl", "--socket", str(d1.socket_path), "status"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert cp.returncode == 0, cp.stderr
    assert re.search(r"\bgw\b.*\bMASTER\b", cp.stdout), cp.stdout

    # Failover: the master stops (priority 0, releases everything as nobody); r2 takes over.
    assert d1.stop(timeout=20) == 0, d1.log_text()
    d2.wait_state("gw", "MASTER", timeout=20)
    v2 = vmac_of(r2)
    wait_for(lambda: r2.has_address(VIP_ADDR, v2), 10, what=f"{VIP} on r2's {v2}")
    assert r1.links() and not [x for x in r1.links() if x["kind"] == "macvlan"]
    assert ("inet", "vrrpd") not in r1.nft_tables(), r1.nft_ruleset()
    assert r1.conf_sysctl("eth0", "arp_ignore") == "0"
    assert r1.conf_sysctl("eth0", "arp_announce") == "0"
    for line in d1.log_text().splitlines() + d2.log_text().splitlines():
        assert "ERROR" not in line and "Traceback" not in line, line


@pytest.mark.parametrize(
    ("caps", "lacking"),
    [
        ("+net_admin", "CAP_NET_RAW (VRRP raw sockets, packet sockets)"),
        ("+net_raw", "CAP_NET_ADMIN (virtual addresses, macvlans, sysctls, nftables)"),
        (
            "",
            "CAP_NET_ADMIN (virtual addresses, macvlans, sysctls, nftables) and "
            "CAP_NET_RAW (VRRP raw sockets, packet sockets)",
        ),
    ],
)
def test_a_missing_capability_is_one_line(lab: Lab, place: Place, caps: str, lacking: str) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    d = start_as(r1, place, [vr(use_vmac=True, accept_mode=False)], caps=caps)
    line = exit_line(d)
    assert line == f"vrrpd: needs {lacking}, which this process lacks: {REMEDY}"
    # It touched nothing: no macvlan, no table, no sysctl.
    assert [x["kind"] for x in r1.links() if x["kind"] == "macvlan"] == []
    assert ("inet", "vrrpd") not in r1.nft_tables()
    assert r1.conf_sysctl("eth0", "arp_ignore") == "0"


def test_capabilities_of_another_user_namespace_are_one_line(lab: Lab, place: Place) -> None:
    # Every capability, but in a user namespace that does not own the network namespace:
    # the kernel refuses the packet socket (EPERM). The line names the operation.
    r1 = lab.add_router("r1", "192.0.2.1/24")
    d = start_as(r1, place, [vr()], user=(0, 0), userns=True)
    assert exit_line(d) == (
        f"vrrpd: opening the packet socket on eth0 needs CAP_NET_RAW (EPERM): {REMEDY}"
    )


def test_a_control_socket_directory_it_may_not_write_is_one_line(lab: Lab, place: Place) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    shared = place.path / "root-run"
    shared.mkdir(mode=0o755)  # root's, writable by root only: the directory check passes
    d = start_as(r1, place, [vr()], run_dir=shared)
    sock = shared / "vrrpd.sock"
    assert exit_line(d) == (
        f"vrrpd: creating the control socket {sock} needs write access to its directory "
        "(EACCES): run as root, or make the directory the daemon user's own with mode 0700 "
        "(systemd: RuntimeDirectory=vrrpd)"
    )
