"""The kernel filter of a channel's protocol-112 socket (`vrrpd.bpf`): its structure, and what
it keeps, run by a small cBPF interpreter (the opcodes vrrpd emits, with the kernel's
semantics) on packets built by scapy, the tests' oracle; a property test holds it to a plain
Python statement of what it must keep. The kernel itself accepts every program (attached to
an ordinary socket, no root needed); the namespace test runs them on real packets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, IPOption_NOP, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Packet

from tests.unit.test_layering import FORBIDDEN, loaded
from vrrpd import bpf
from vrrpd.bpf import (
    AND_K,
    BPF_JMP,
    DROP_ALL,
    JEQ_K,
    JGE_K,
    JGT_K,
    KEEP,
    LDB_ABS,
    LDB_IND,
    LDXB_MSH,
    MAX_INSNS,
    MAX_JUMP,
    RET_K,
    SKF_NET_OFF,
    Insn,
    Program,
    channel_program,
    program,
    vrid_ranges,
)
from vrrpd.config import ConfigError, load
from vrrpd.io import sockfilter
from vrrpd.receive import RouterView

SRC4, SRC6 = "192.0.2.1", "fe80::1"
GROUP4, GROUP6 = "224.0.0.18", "ff02::12"

# --- a cBPF interpreter: the opcodes vrrpd emits, as net/core/filter.c runs them ------------


class OutOfRange(Exception):
    """A load past the packet: the kernel's program returns 0 (drop)."""


def _byte(data: bytes, net: bytes, k: int) -> int:
    if k >= 1 << 31:  # a negative offset: a base other than the packet's start
        offset = k - (1 << 32)
        assert SKF_NET_OFF <= offset < -0x1000, f"unexpected negative offset {offset}"
        data, k = net, offset - SKF_NET_OFF
    if k >= len(data):
        raise OutOfRange
    return data[k]


def run(prog: Program, data: bytes, net: bytes | None = None) -> int:
    """What the kernel's filter returns for a packet: `data` from where the socket's filter
    sees it, `net` from the network (IP) header (IPv4: the same bytes)."""
    net = data if net is None else net
    a = x = 0
    pc = 0
    try:
        while True:
            ins = prog[pc]
            pc += 1
            if ins.code == LDB_ABS:
                a = _byte(data, net, ins.k)
            elif ins.code == LDB_IND:
                a = _byte(data, net, x + ins.k)
            elif ins.code == LDXB_MSH:
                x = 4 * (_byte(data, net, ins.k) & 0xF)
            elif ins.code == AND_K:
                a &= ins.k
            elif ins.code in (JEQ_K, JGT_K, JGE_K):
                taken = {JEQ_K: a == ins.k, JGT_K: a > ins.k, JGE_K: a >= ins.k}[ins.code]
                pc += ins.jt if taken else ins.jf
            elif ins.code == RET_K:
                return ins.k
            else:
                raise AssertionError(f"opcode {ins.code:#x} not interpreted")
    except OutOfRange:
        return 0


def kept(prog: Program, pkt: Packet) -> bool:
    """Run `prog` on a scapy packet as the channel's raw socket presents it: IPv4 from the IP
    header, IPv6 from the VRRP message (behind any extension headers)."""
    raw = bytes(pkt)
    if IPv6 in pkt:
        vrrp = pkt.getlayer(VRRPv3) or pkt.getlayer(VRRP)
        assert vrrp is not None
        return run(prog, bytes(vrrp), raw) != 0
    return run(prog, raw) != 0


def v4(ttl: int = 255, **vrrp: int) -> Packet:
    return IP(src=SRC4, dst=GROUP4, ttl=ttl, proto=112) / VRRPv3(**vrrp)


def v4v2(ttl: int = 255, **vrrp: int) -> Packet:
    return IP(src=SRC4, dst=GROUP4, ttl=ttl, proto=112) / VRRP(**vrrp)


def v6(hlim: int = 255, **vrrp: int) -> Packet:
    return IPv6(src=SRC6, dst=GROUP6, hlim=hlim, nh=112) / VRRPv3(**vrrp)


# --- structure ------------------------------------------------------------------------------


def check_structure(prog: Program) -> None:
    """Within the kernel's limits, every jump lands on an instruction, every path ends in a
    `ret` (jumps only go forward), the last instruction is one."""
    assert 1 <= len(prog) <= MAX_INSNS
    assert prog[-1].code == RET_K
    for i, ins in enumerate(prog):
        assert 0 <= ins.k < 1 << 32 and 0 <= ins.jt <= MAX_JUMP and 0 <= ins.jf <= MAX_JUMP
        if ins.code & 0x07 == BPF_JMP:
            assert i + 1 + max(ins.jt, ins.jf) < len(prog), (i, ins)
        else:
            assert ins.jt == ins.jf == 0
            assert i + 1 < len(prog) or ins.code == RET_K


def test_ranges_of_consecutive_vrids() -> None:
    assert vrid_ranges([7, 1, 3, 2, 9, 8]) == [(1, 3), (7, 9)]
    assert vrid_ranges([5]) == [(5, 5)]
    assert vrid_ranges(range(1, 256)) == [(1, 255)]
    assert vrid_ranges([1, 3, 5]) == [(1, 1), (3, 3), (5, 5)]
    assert vrid_ranges([]) == []


def test_typical_programs() -> None:
    one4 = program(4, {51}, {3})
    assert [i.code for i in one4] == [
        *(LDB_ABS, AND_K, JEQ_K),  # IPv4
        *(LDB_ABS, JEQ_K),  # protocol 112
        *(LDB_ABS, JEQ_K),  # TTL 255
        LDXB_MSH,  # the header's length
        *(LDB_IND, JEQ_K),  # version 3, advertisement
        *(LDB_IND, JEQ_K),  # VRID 51
        *(RET_K, RET_K),
    ]
    assert [(i.k, i.jt, i.jf) for i in one4[-5:]] == [
        (0x31, 0, 3),
        (1, 0, 0),
        (51, 0, 1),
        (KEEP, 0, 0),
        (0, 0, 0),
    ]
    assert len(program(4, range(1, 256), {3})) == 15  # one range: jge, jgt
    one6 = program(6, {51}, {3})
    assert len(one6) == 11
    assert one6[0] == Insn(LDB_ABS, 0, 0, SKF_NET_OFF + (1 << 32))
    assert one6[3] == Insn(LDB_ABS, 0, 0, SKF_NET_OFF + 7 + (1 << 32))  # hop limit
    assert len(program(4, {51}, {3}, ttl_check=False)) == 12
    assert len(program(4, {51}, {2, 3})) == 15
    for prog in (one4, one6, program(4, {1, 2, 3, 10, 200}, {2, 3}, False)):
        check_structure(prog)
    text = bpf.disassemble(one6)
    assert "ldb [net + 7]" in text and "ret #0xffffffff" in text


def test_the_longest_vrid_set_fits_the_jumps() -> None:
    """Pairs with gaps ({1, 2, 4, 5, ...}) make the most ranges of two: 85 of them, 170
    instructions to jump over; 8-bit offsets reach."""
    worst = [v for v in range(1, 256) if v % 3 != 0]
    prog = program(4, worst, {2, 3}, ttl_check=True)
    check_structure(prog)
    assert len(prog) == 12 + 2 * 85 + 2  # header, TTL, two versions; ranges; ret, ret
    assert all(run(prog, bytes(v4(vrid=v))) for v in worst)
    assert not any(run(prog, bytes(v4(vrid=v))) for v in range(256) if v not in worst)


def test_no_vrid_drops_everything() -> None:
    assert program(4, set(), {3}) == DROP_ALL
    assert channel_program(6, {}) == DROP_ALL
    assert not kept(DROP_ALL, v4(vrid=51))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="family"):
        program(5, {1}, {3})
    with pytest.raises(ValueError, match="VRIDs"):
        program(4, {256}, {3})
    with pytest.raises(ValueError, match="versions"):
        program(4, {1}, {4})


def test_jump_out_of_range_refused() -> None:
    ops: list[bpf._Op | str] = [bpf._Op(JEQ_K, 1, jt="far")]
    ops += [bpf._Op(RET_K, 0)] * 300
    ops += ["far", bpf._Op(RET_K, KEEP)]
    with pytest.raises(ValueError, match="jump out of range"):
        bpf._assemble(ops)


# --- behaviour on packets built by scapy ----------------------------------------------------

CH4 = program(4, {10, 11, 12, 51}, {3})
CH6 = program(6, {10, 11, 12, 51}, {3})


@pytest.mark.parametrize("vrid", [10, 11, 12, 51])
def test_valid_adverts_of_configured_vrids_kept(vrid: int) -> None:
    assert kept(CH4, v4(vrid=vrid, priority=100, ipcount=1, addrlist=["192.0.2.254"]))
    assert kept(CH6, v6(vrid=vrid, priority=100, ipcount=1, addrlist=["2001:db8::1"]))


@pytest.mark.parametrize("vrid", [0, 1, 9, 13, 50, 52, 255])
def test_unconfigured_vrid_dropped(vrid: int) -> None:
    assert not kept(CH4, v4(vrid=vrid))
    assert not kept(CH6, v6(vrid=vrid))


@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_bad_ttl_and_hop_limit_dropped(ttl: int) -> None:
    assert not kept(CH4, v4(ttl=ttl, vrid=51))
    assert not kept(CH6, v6(hlim=ttl, vrid=51))


@pytest.mark.parametrize("version", [0, 1, 2, 4, 15])
def test_wrong_version_dropped(version: int) -> None:
    assert not kept(CH4, v4(version=version, vrid=51))
    assert not kept(CH6, v6(version=version, vrid=51))


@pytest.mark.parametrize("kind", [0, 2, 15])
def test_wrong_type_dropped(kind: int) -> None:
    assert not kept(CH4, v4(type=kind, vrid=51))
    assert not kept(CH6, v6(type=kind, vrid=51))


def test_vrrpv2_channel() -> None:
    v2 = program(4, {51}, {2})
    assert kept(v2, v4v2(vrid=51, authtype=1, auth1=0x70617373))
    assert not kept(v2, v4(vrid=51))  # version 3
    assert not kept(v2, v4v2(vrid=52))
    both = program(4, {51}, {2, 3})
    assert kept(both, v4v2(vrid=51)) and kept(both, v4(vrid=51))


def test_ipv4_options_header() -> None:
    """IHL 6 (router alert) and 15 (ten NOPs, the longest header): the message is found."""
    alert = IP(src=SRC4, dst=GROUP4, proto=112, ttl=255, options=[IPOption_Router_Alert()])
    assert bytes(alert)[0] == 0x46
    assert kept(CH4, alert / VRRPv3(vrid=51))
    assert not kept(CH4, alert / VRRPv3(vrid=52))
    longest = IP(src=SRC4, dst=GROUP4, proto=112, ttl=255, options=[IPOption_NOP()] * 40)
    assert bytes(longest)[0] == 0x4F
    assert kept(CH4, longest / VRRPv3(vrid=12))
    assert not kept(CH4, longest / VRRPv3(vrid=13))
    cut = bytes(longest / VRRPv3(vrid=12))[: 60 + 1]  # the VRID is past the end
    assert run(CH4, cut) == 0


def test_ipv6_extension_header() -> None:
    """The socket shows the message behind the extension headers; the hop limit is read from
    the IPv6 header (network-header base)."""
    hbh = IPv6(src=SRC6, dst=GROUP6, hlim=255, nh=0) / IPv6ExtHdrHopByHop(nh=112)
    assert kept(CH6, hbh / VRRPv3(vrid=51))
    hbh.hlim = 64
    assert not kept(CH6, hbh / VRRPv3(vrid=51))


def test_not_ip_of_the_family_or_not_vrrp_dropped() -> None:
    udp = IP(src=SRC4, dst=GROUP4, ttl=255, proto=17) / VRRPv3(vrid=51)
    assert not kept(CH4, udp)
    not_v4 = bytearray(bytes(v4(vrid=51)))
    not_v4[0] = 0x65
    assert run(CH4, bytes(not_v4)) == 0
    message = bytes(VRRPv3(vrid=51))
    assert run(CH6, message, bytes(IPv6(hlim=255, nh=112)) + message) == KEEP
    assert run(CH6, message, bytes(IP(ttl=255, proto=112)) + message) == 0


def test_truncated_packets_dropped() -> None:
    whole = bytes(v4(vrid=51))
    assert run(CH4, whole) == KEEP
    assert run(CH4, whole[:22]) == KEEP  # version/type and VRID are all it reads
    for n in range(22):
        assert run(CH4, whole[:n]) == 0, n
    net = bytes(v6(vrid=51))
    assert run(CH6, net[40:41], net) == 0
    assert run(CH6, net[40:], net[:7]) == 0


def test_ttl_check_off_on_the_channel_keeps_any_ttl() -> None:
    """One virtual router with unicast_ttl_check = false: the filter does not check TTL for
    any of them (the receive checks do, per router)."""
    views = {
        51: RouterView(3, frozenset()),
        52: RouterView(3, frozenset(), ttl_check=False),
    }
    prog = channel_program(4, views)
    assert kept(prog, v4(ttl=1, vrid=51)) and kept(prog, v4(ttl=1, vrid=52))
    assert not kept(prog, v4(ttl=1, vrid=53))
    checked = channel_program(4, {51: RouterView(3, frozenset())})
    assert not kept(checked, v4(ttl=1, vrid=51))
    prog6 = channel_program(6, {7: RouterView(3, frozenset(), ttl_check=False)})
    assert kept(prog6, v6(hlim=1, vrid=7))


def test_versions_from_the_views() -> None:
    prog = channel_program(4, {1: RouterView(2, frozenset()), 2: RouterView(3, frozenset())})
    assert kept(prog, v4v2(vrid=1)) and kept(prog, v4(vrid=1)) and kept(prog, v4(vrid=2))
    only3 = channel_program(4, {2: RouterView(3, frozenset())})
    assert not kept(only3, v4v2(vrid=2))


# --- property: the interpreter against a plain statement of the rule ------------------------


def expected(
    family: int, data: bytes, net: bytes, vrids: set[int], versions: set[int], ttl: bool
) -> bool:
    """What the filter keeps, stated plainly (a byte past the end: dropped)."""
    try:
        if family == 4:
            if net[0] >> 4 != 4 or net[9] != 112 or (ttl and net[8] != 255):
                return False
            message = data[(net[0] & 0xF) * 4 :]
        else:
            if net[0] >> 4 != 6 or (ttl and net[7] != 255):
                return False
            message = data
        return message[0] in {v << 4 | 1 for v in versions} and message[1] in vrids
    except IndexError:
        return False


@st.composite
def ipv4_packets(draw: st.DrawFn) -> bytes:
    """Mostly near-valid IPv4 packets, each field sometimes wrong, sometimes cut short."""
    ihl = draw(st.sampled_from([5, 5, 5, 6, 15, 4, 0]))
    first = draw(st.sampled_from([4, 4, 4, 6, 0])) << 4 | ihl
    ttl = draw(st.sampled_from([255, 255, 254, 64, 1, 0]))
    proto = draw(st.sampled_from([112, 112, 17]))
    header = bytes([first, 0xC0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0]) + bytes(8)
    options = bytes(max(ihl * 4 - 20, 0))
    vrrp = bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])
    pkt = header + options + vrrp + draw(st.binary(max_size=12))
    cut = draw(st.none() | st.integers(0, len(pkt)))
    return pkt if cut is None else pkt[:cut]


@settings(max_examples=400, deadline=None)
@given(
    vrids=st.sets(st.integers(1, 255), min_size=1, max_size=255),
    versions=st.sets(st.sampled_from([2, 3]), min_size=1),
    ttl=st.booleans(),
    packets=st.lists(ipv4_packets() | st.binary(max_size=40), min_size=1, max_size=20),
    near=st.lists(st.integers(0, 255), max_size=8),
)
def test_ipv4_filter_is_the_rule(
    vrids: set[int], versions: set[int], ttl: bool, packets: list[bytes], near: list[int]
) -> None:
    prog = program(4, vrids, versions, ttl)
    check_structure(prog)
    # And valid adverts for VRIDs drawn at random, in the set or not.
    for vrid in near:
        packets.append(bytes(v4(vrid=vrid, version=max(versions))))
    for pkt in packets:
        assert (run(prog, pkt) != 0) == expected(4, pkt, pkt, vrids, versions, ttl), pkt.hex()


@settings(max_examples=300, deadline=None)
@given(
    vrids=st.sets(st.integers(1, 255), min_size=1, max_size=255),
    ttl=st.booleans(),
    first=st.sampled_from([0x60, 0x60, 0x6F, 0x40, 0x00]),
    hlim=st.sampled_from([255, 255, 254, 1, 0]),
    message=st.lists(st.integers(0, 255), max_size=4).map(bytes)
    | st.tuples(st.sampled_from([0x31, 0x31, 0x21, 0x32]), st.integers(0, 255)).map(bytes),
    net_cut=st.sampled_from([40, 40, 8, 7, 0]),
)
def test_ipv6_filter_is_the_rule(
    vrids: set[int], ttl: bool, first: int, hlim: int, message: bytes, net_cut: int
) -> None:
    prog = program(6, vrids, {3}, ttl)
    check_structure(prog)
    net = (bytes([first]) + bytes(6) + bytes([hlim]) + bytes(32))[:net_cut] + message
    assert (run(prog, message, net) != 0) == expected(6, message, net, vrids, {3}, ttl)


# --- the kernel accepts the programs; the pure module stays pure ----------------------------


@pytest.mark.parametrize(
    "prog",
    [
        program(4, {51}, {3}),
        program(4, range(1, 256), {2, 3}, ttl_check=False),
        program(4, [v for v in range(1, 256) if v % 3], {2, 3}),
        program(6, {51}, {3}),
        program(6, range(1, 256, 2), {3}),
        DROP_ALL,
    ],
)
def test_kernel_accepts_the_program(prog: Program) -> None:
    """The kernel's checker (sk_chk_filter) runs at attach time on any socket; no root."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        sockfilter.attach(s, prog)
        sockfilter.detach(s)
        sockfilter.detach(s)  # none attached: nothing to do


def test_kernel_refuses_a_broken_program() -> None:
    """The attach is checked by the kernel: a jump past the end is refused (EINVAL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
        sockfilter.attach(s, (Insn(JEQ_K, 5, 0, 1), Insn(RET_K, 0, 0, 0)))


def test_bpf_is_pure() -> None:
    assert loaded(("bpf",), FORBIDDEN) == []


# --- the [daemon] option --------------------------------------------------------------------

ROUTER = """
[[virtual_router]]
name = "gw"
interface = "eth0"
vrid = 51
virtual_ips = ["192.0.2.254/24"]
"""


def test_kernel_filter_option(tmp_path: Path) -> None:
    path = tmp_path / "vrrpd.toml"
    path.write_text(ROUTER)
    assert load(path).daemon.kernel_filter is True
    path.write_text("[daemon]\nkernel_filter = false\n" + ROUTER)
    assert load(path).daemon.kernel_filter is False
    path.write_text('[daemon]\nkernel_filter = "no"\n' + ROUTER)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert e.value.problems == [f"{path}: daemon.kernel_filter: must be true or false, got 'no'"]
