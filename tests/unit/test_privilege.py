"""vrrpd.privilege: an operation refused for lack of privilege gives one line naming what it
lacks; every other failure keeps the caller's own message."""

from __future__ import annotations

import errno

import pytest

from vrrpd import privilege
from vrrpd.privilege import CAP_NET_ADMIN, CAP_NET_RAW, Op, Unprivileged

ALL = (1 << 12) | (1 << 13)


@pytest.mark.parametrize(
    ("op", "cap"),
    [
        (Op.RAW_SOCKET, CAP_NET_RAW),
        (Op.PACKET_SOCKET, CAP_NET_RAW),
        (Op.NETLINK, CAP_NET_ADMIN),
        (Op.SYSCTL, CAP_NET_ADMIN),
        (Op.NFT, CAP_NET_ADMIN),
    ],
)
@pytest.mark.parametrize("code", [errno.EPERM, errno.EACCES])
def test_a_refused_operation_names_its_capability(op: Op, cap: str, code: int) -> None:
    line = privilege.explain(op, "doing it on eth0", code)
    name = errno.errorcode[code]
    assert line == f"doing it on eth0 needs {cap} ({name}): run as root or grant the capability"
    assert "\n" not in line


def test_the_raw_socket_line_reads_as_documented() -> None:
    line = privilege.explain(Op.RAW_SOCKET, "opening the VRRP raw socket (IPv4) on eth0", 1)
    assert line == (
        "opening the VRRP raw socket (IPv4) on eth0 needs CAP_NET_RAW (EPERM): "
        "run as root or grant the capability"
    )


@pytest.mark.parametrize("op", list(Op))
@pytest.mark.parametrize("code", [None, errno.ENODEV, errno.EEXIST, errno.ENOENT, errno.EBUSY])
def test_other_failures_are_left_to_the_caller(op: Op, code: int | None) -> None:
    assert privilege.explain(op, "doing it", code) is None


def test_a_read_only_proc_sys_names_the_systemd_directive() -> None:
    line = privilege.explain(Op.SYSCTL, "setting /proc/sys/net/ipv4/conf/eth0/arp_ignore to 1", 30)
    assert line is not None and "(EROFS)" in line
    assert line.endswith(
        "ProtectKernelTunables=yes needs "
        "ReadWritePaths=/proc/sys/net/ipv4/conf -/proc/sys/net/ipv6/conf"
    )
    # EROFS elsewhere says nothing about privilege.
    assert privilege.explain(Op.NETLINK, "x", errno.EROFS) is None


def test_the_control_socket_needs_a_directory_it_may_write() -> None:
    line = privilege.explain(Op.CONTROL_SOCKET, "creating the control socket /x/s", 13)
    assert line is not None
    assert line.startswith("creating the control socket /x/s needs write access")
    assert "(EACCES)" in line and "mode 0700" in line and "CAP_" not in line


def test_refusal_wraps_only_refusals() -> None:
    refused = privilege.refusal(Op.PACKET_SOCKET, "opening it", PermissionError(1, "nope"))
    assert isinstance(refused, Unprivileged) and isinstance(refused, OSError)
    assert refused.errno == errno.EPERM
    assert str(refused) == (
        "opening it needs CAP_NET_RAW (EPERM): run as root or grant the capability"
    )
    other = OSError(errno.ENODEV, "No such device")
    assert privilege.refusal(Op.PACKET_SOCKET, "opening it", other) is other


def test_reported_keeps_the_line_alone() -> None:
    line = privilege.explain(Op.RAW_SOCKET, "opening", errno.EPERM)
    assert line is not None
    assert privilege.reported("eth0: cannot open sockets", Unprivileged(1, line)) == line
    plain = OSError(errno.ENODEV, "No such device")
    assert privilege.reported("eth0: cannot open sockets", plain) == (
        "eth0: cannot open sockets: [Errno 19] No such device"
    )


def test_refused_text_reads_nfts_error() -> None:
    nft = "netlink: Error: cache initialization failed: Operation not permitted"
    assert privilege.refused_text(nft) == errno.EPERM
    assert privilege.refused_text("Error: Permission denied") == errno.EACCES
    assert privilege.refused_text("Error: syntax error, unexpected '}'") is None


@pytest.mark.parametrize(
    ("mask", "lacking"),
    [
        (ALL, []),
        (-1, []),  # every bit set
        (0x1FFFFFFFFFF, []),
        (1 << 12, [CAP_NET_RAW]),
        (1 << 13, [CAP_NET_ADMIN]),
        (0, [CAP_NET_ADMIN, CAP_NET_RAW]),
        ((1 << 21) | (1 << 0), [CAP_NET_ADMIN, CAP_NET_RAW]),  # SYS_ADMIN, CHOWN: not these
    ],
)
def test_missing(mask: int, lacking: list[str]) -> None:
    assert privilege.missing(mask) == lacking


def test_missing_line_names_each_capability_and_its_use() -> None:
    one = privilege.missing_line([CAP_NET_RAW])
    assert one == (
        "needs CAP_NET_RAW (VRRP raw sockets, packet sockets), which this process lacks: "
        "run as root or grant the capability"
    )
    both = privilege.missing_line([CAP_NET_ADMIN, CAP_NET_RAW])
    assert both.startswith("needs CAP_NET_ADMIN (virtual addresses, macvlans, sysctls, nftables)")
    assert " and CAP_NET_RAW (" in both and "\n" not in both


# --- the adapters use it (no privileged call is made: the refusal is simulated) -------------


def test_netlink_failures_name_the_capability() -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    from vrrpd.io.netlink import _failure

    refused = _failure("adding 192.0.2.254/24 to interface 3", NetlinkError(errno.EPERM))
    assert str(refused) == (
        "adding 192.0.2.254/24 to interface 3 needs CAP_NET_ADMIN (EPERM): "
        "run as root or grant the capability"
    )
    assert refused.code == errno.EPERM
    other = _failure("adding 192.0.2.254/24 to interface 3", NetlinkError(errno.ENODEV))
    assert str(other).startswith("adding 192.0.2.254/24 to interface 3: ")
    assert "CAP_" not in str(other)


def test_sysctl_and_socket_refusals_name_the_capability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    from pathlib import Path

    from vrrpd.io import rawsock, sysctl
    from vrrpd.io.channel import Port
    from vrrpd.io.netlink import Link

    def refuse(*_args: object, **_kw: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(Unprivileged) as got:
        sysctl.write(4, "eth0", "arp_ignore", 1)
    assert str(got.value) == (
        "setting /proc/sys/net/ipv4/conf/eth0/arp_ignore to 1 needs CAP_NET_ADMIN (EACCES): "
        "run as root or grant the capability"
    )

    def no_socket(*_args: object, **_kw: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", no_socket)
    with pytest.raises(Unprivileged) as got:
        rawsock.open_socket(6, "eth0", 2)
    assert str(got.value).startswith("opening the VRRP raw socket (IPv6) on eth0 needs CAP_NET_RAW")
    with pytest.raises(Unprivileged) as got:
        Port(Link(2, "eth0", "02:00:00:00:00:01", True)).open()
    assert str(got.value).startswith("opening the packet socket on eth0 needs CAP_NET_RAW (EPERM)")
