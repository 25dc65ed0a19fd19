"""The classic BPF (cBPF) program a channel's protocol-112 socket runs in the kernel, pure.

A flood of packets that can only be discarded should not wake the daemon: the kernel runs this
program on every packet queued to the socket (SO_ATTACH_FILTER, `vrrpd.io.sockfilter`) and
keeps only a packet that

* is IPv4 (version 4, protocol 112) on an IPv4 channel, IPv6 (version 6) on an IPv6 one;
* has TTL / hop limit 255 (RFC 5798 §7.1), unless a virtual router on the channel does not
  check it (``unicast_ttl_check = false``: `RouterView.ttl_check`);
* starts with version/type ``version << 4 | 1`` (an advertisement) for a version the
  channel's virtual routers use;
* carries a VRID configured on the channel (compiled to ranges of consecutive VRIDs).

Everything else is dropped before Python sees it (and so is not in the per-reason discard
counters). What it keeps is checked again, in full, by `vrrpd.receive`.

Where the program sees the packet (found with real packets in a namespace, see
tests/netns/test_kernel_filter.py): an AF_INET raw socket sees the IPv4 header at offset 0
(its length, options included, is read with ``ldxb 4*([0]&0xf)``); an AF_INET6 raw socket
sees the VRRP message at offset 0 (the IPv6 header and any extension headers are pulled),
and the IPv6 header through the network-header base ``SKF_NET_OFF`` (hop limit at
``SKF_NET_OFF + 7``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .receive import RouterView
from .types import IPPROTO_VRRP, VRRP_TTL

# linux/bpf_common.h, linux/filter.h
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_B = 0x10
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MSH = 0xA0
BPF_AND = 0x50
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_K = 0x00

LDB_ABS = BPF_LD | BPF_B | BPF_ABS  # A = P[k]
LDB_IND = BPF_LD | BPF_B | BPF_IND  # A = P[X + k]
LDXB_MSH = BPF_LDX | BPF_B | BPF_MSH  # X = 4 * (P[k] & 0xf): the IPv4 header length
AND_K = BPF_ALU | BPF_AND | BPF_K
JEQ_K = BPF_JMP | BPF_JEQ | BPF_K
JGT_K = BPF_JMP | BPF_JGT | BPF_K
JGE_K = BPF_JMP | BPF_JGE | BPF_K
RET_K = BPF_RET | BPF_K

SKF_NET_OFF = -0x100000  # load relative to the network (IP) header
MAX_INSNS = 4096  # BPF_MAXINSNS
MAX_JUMP = 255  # jt / jf are 8-bit forward offsets
KEEP = 0xFFFFFFFF  # ret: keep the whole packet
DROP = 0

ADVERTISEMENT = 1  # the only VRRP type (RFC 5798 §5.2.2)
VERSIONS = (2, 3)


class Insn(NamedTuple):
    """One ``struct sock_filter``: opcode, jump offsets if true / false, constant."""

    code: int
    jt: int
    jf: int
    k: int


Program = tuple[Insn, ...]

DROP_ALL: Program = (Insn(RET_K, 0, 0, DROP),)


def vrid_ranges(vrids: Collection[int]) -> list[tuple[int, int]]:
    """The VRIDs as sorted, maximal ranges of consecutive values: {1, 2, 3, 7} -> [(1, 3),
    (7, 7)]."""
    out: list[tuple[int, int]] = []
    for v in sorted(set(vrids)):
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


@dataclass(frozen=True, slots=True)
class _Op:
    """An instruction whose jumps name labels (None: the next instruction)."""

    code: int
    k: int
    jt: str | None = None
    jf: str | None = None


def _k(value: int) -> int:
    return value & 0xFFFFFFFF  # a negative offset is its 32-bit two's complement


def program(
    family: int, vrids: Collection[int], versions: Collection[int], ttl_check: bool = True
) -> Program:
    """The filter for a channel of `family` (4 or 6) with virtual routers of `vrids` speaking
    `versions`; ``ttl_check=False`` keeps any TTL / hop limit. No VRIDs: drop everything."""
    if family not in (4, 6):
        raise ValueError(f"family must be 4 or 6, got {family}")
    if any(not 0 <= v <= 255 for v in vrids):
        raise ValueError(f"VRIDs must be 0..255, got {sorted(vrids)}")
    if not set(versions) <= set(VERSIONS):
        raise ValueError(f"versions must be among {VERSIONS}, got {sorted(versions)}")
    if not vrids or not versions:
        return DROP_ALL
    ops: list[_Op | str] = []  # a str is a label for the instruction after it
    if family == 4:
        ops += [
            _Op(LDB_ABS, 0),  # version / IHL
            _Op(AND_K, 0xF0),
            _Op(JEQ_K, 0x40, jf="drop"),
            _Op(LDB_ABS, 9),  # protocol
            _Op(JEQ_K, IPPROTO_VRRP, jf="drop"),
        ]
        if ttl_check:
            ops += [_Op(LDB_ABS, 8), _Op(JEQ_K, VRRP_TTL, jf="drop")]
        ops.append(_Op(LDXB_MSH, 0))  # X = the IPv4 header length: the VRRP message's offset
        load = LDB_IND
    else:
        ops += [
            _Op(LDB_ABS, _k(SKF_NET_OFF)),  # version / traffic class
            _Op(AND_K, 0xF0),
            _Op(JEQ_K, 0x60, jf="drop"),
        ]
        if ttl_check:
            ops += [_Op(LDB_ABS, _k(SKF_NET_OFF + 7)), _Op(JEQ_K, VRRP_TTL, jf="drop")]
        load = LDB_ABS  # offset 0 is the VRRP message
    ops.append(_Op(load, 0))  # version / type
    wanted = sorted(set(versions))
    for i, version in enumerate(wanted):
        last = i == len(wanted) - 1
        ops.append(_Op(JEQ_K, version << 4 | ADVERTISEMENT, jt="vrid", jf="drop" if last else None))
    ops += ["vrid", _Op(load, 1)]  # VRID
    ranges = vrid_ranges(vrids)
    for i, (lo, hi) in enumerate(ranges):
        after = "drop" if i == len(ranges) - 1 else f"range{i + 1}"
        if i:
            ops.append(f"range{i}")
        if lo == hi:
            ops.append(_Op(JEQ_K, lo, jt="keep", jf=after))
        else:
            # Ranges ascend: below this one is below every later one too.
            ops += [_Op(JGE_K, lo, jf="drop"), _Op(JGT_K, hi, jt=after, jf="keep")]
    ops += ["keep", _Op(RET_K, KEEP), "drop", _Op(RET_K, DROP)]
    return _assemble(ops)


def _assemble(ops: list[_Op | str]) -> Program:
    at: dict[str, int] = {}
    n = 0
    for op in ops:
        if isinstance(op, str):
            at[op] = n
        else:
            n += 1
    if n > MAX_INSNS:
        raise ValueError(f"{n} instructions, more than the kernel's {MAX_INSNS}")
    out: list[Insn] = []
    for op in ops:
        if isinstance(op, str):
            continue
        here = len(out) + 1  # jumps count from the next instruction
        jumps = [0 if t is None else at[t] - here for t in (op.jt, op.jf)]
        if any(not 0 <= j <= MAX_JUMP for j in jumps):
            raise ValueError(f"jump out of range at instruction {len(out)}: {jumps}")
        out.append(Insn(op.code, jumps[0], jumps[1], op.k))
    return tuple(out)


def channel_program(family: int, routers: Mapping[int, RouterView]) -> Program:
    """The filter for a channel's virtual routers (VRID -> RouterView, as its `Receiver`
    holds them): the TTL is checked only if every one of them checks it."""
    return program(
        family,
        routers.keys(),
        {view.version for view in routers.values()},
        all(view.ttl_check for view in routers.values()),
    )


_NAMES = {
    LDB_ABS: "ldb [{k}]",
    LDB_IND: "ldb [x + {k}]",
    LDXB_MSH: "ldxb 4*([{k}]&0xf)",
    AND_K: "and #{k:#x}",
    JEQ_K: "jeq #{k:#x}",
    JGT_K: "jgt #{k}",
    JGE_K: "jge #{k}",
    RET_K: "ret #{k:#x}",
}


def disassemble(prog: Program) -> str:
    """One line per instruction, tcpdump -d style (for logs and reports)."""
    lines = []
    for i, ins in enumerate(prog):
        k = ins.k - (1 << 32) if ins.k >= 1 << 31 and ins.code != RET_K else ins.k
        if ins.code in (LDB_ABS,) and k < 0:
            text = f"ldb [net + {k - SKF_NET_OFF}]"
        else:
            text = _NAMES.get(ins.code, f"code {ins.code:#x} k {ins.k:#x}").format(k=k)
        if ins.code & 0x07 == BPF_JMP:
            text += f" jt {i + 1 + ins.jt} jf {i + 1 + ins.jf}"
        lines.append(f"({i:03d}) {text}")
    return "\n".join(lines)
