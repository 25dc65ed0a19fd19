"""Craft VRRP advertisements, valid or broken in any field, and send them from a namespace.

The one packet-crafting library of the tests and the lab; ``tools/vrrp_craft.py`` is its
command line (``--random``, hex files, ``--print``), and `Node.inject` / `Node.injector` send
from a lab node with it.

Every field can be set on its own: version, type, VRID, priority, the *count* field
(independent of the address list actually carried), the interval field, the 4 reserved bits
(v3), authentication type and data (v2 layout), the checksum (right in either form, wrong, or
a given value), TTL / hop limit, traffic class, source, destination (multicast or unicast),
truncation and trailing bytes. scapy builds the layers (``VRRPv3`` / ``VRRP`` headers, ``IP``
/ ``IPv6``); the checksum is computed here, independently of vrrpd's codec, so the two can be
checked against each other: this is the test oracle side, it never imports vrrpd.

Frames are sent whole on an AF_PACKET socket: the kernel of the sender changes nothing (TTL,
source, checksum), so anything can be put on the wire. The destination MAC is derived for a
multicast destination, taken from ``neighbours`` / ``dst_mac``, or resolved by ARP / ND.

``craft(...) -> bytes`` (an IP packet), ``craft_message(...) -> bytes`` (the VRRP message),
``Sender(iface).send(packet)``, ``Injector`` (a Sender with a source address: craft and
send), ``send(packets, iface, ...)``, ``random_packets(n, seed, ...)`` (the ``--random``
generator), ``read_hex`` / ``write_hex`` (files of packets).

Units: ``interval`` is the raw field: centiseconds for the v3 layout (12 bits), seconds for
the v2 layout (8 bits).
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from .wire import internet_checksum

IPPROTO_VRRP = 112
GROUP = {4: "224.0.0.18", 6: "ff02::12"}
DSCP_CS6 = 0xC0
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD

# Checksum forms: "auto" is what a correct sender uses (v2: message only; v3 IPv4: RFC 5798
# pseudo-header; IPv6: pseudo-header); "rfc5798"/"pseudo" and "rfc9568"/"plain" force a form
# (RFC 9568's form for IPv4 is the message alone; for IPv6 it keeps the pseudo-header);
# "bad" is a value that matches neither form; an int is put in as given.
CHECKSUM_FORMS = ("auto", "rfc5798", "rfc9568", "pseudo", "plain", "bad")


# --- checksums (independent of vrrpd.packet on purpose; RFC 1071 sum: netns_lab.wire) ------


def pseudo_header(src: str, dst: str, length: int) -> bytes:
    """IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header for protocol 112."""
    s, d = ip_address(src), ip_address(dst)
    if isinstance(s, IPv4Address):
        return s.packed + d.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return s.packed + d.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)


def checksum_of(message: bytes, src: str, dst: str, form: str) -> int:
    """The checksum of `message` (its checksum field is zeroed first) in `form`:
    ``pseudo`` / ``rfc5798``, ``plain`` / ``rfc9568`` (IPv6: pseudo either way)."""
    zeroed = message[:6] + b"\x00\x00" + message[8:] if len(message) >= 8 else message
    v6 = ip_address(src).version == 6
    if (form in ("plain", "rfc9568") and not v6) or form == "plain":
        return internet_checksum(zeroed)
    return internet_checksum(pseudo_header(src, dst, len(zeroed)) + zeroed)


def family_of(addr: str) -> int:
    return ip_address(addr).version


def auth_words(data: str | bytes) -> tuple[int, int]:
    """VRRPv2 authentication data (RFC 2338 §5.3.6 simple text: up to 8 octets, zero padded)
    as the two 32-bit words of scapy's ``auth1`` / ``auth2``."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > 8:
        raise ValueError(f"authentication data longer than 8 octets: {data!r}")
    raw = raw.ljust(8, b"\0")
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")


# --- crafting ------------------------------------------------------------------------------


def craft_message(
    *,
    src: str,
    dst: str | None = None,
    version: int = 3,
    type: int = 1,
    vrid: int = 51,
    priority: int = 100,
    count: int | None = None,
    interval: int | None = None,
    reserved: int = 0,
    auth_type: int = 0,
    auth_data: bytes = b"",
    addresses: Sequence[str] = (),
    checksum: str | int = "auto",
    truncate: int | None = None,
    trailing: bytes = b"",
    layout: str | None = None,
) -> bytes:
    """One VRRP message (no IP header), every field as given.

    `count` defaults to ``len(addresses)``; `interval` to 100 cs (v3 layout) / 1 s (v2). The
    layout is RFC 3768's (auth type, 8-bit interval, 8 bytes of auth data after the
    addresses) for version 2, RFC 5798's otherwise (`layout` "v2"/"v3" forces one). The
    checksum covers the message as sent (trailing bytes included); `truncate` cuts the
    finished message to that many bytes.
    """
    from scapy.layers.vrrp import VRRP, VRRPv3

    dst = dst or GROUP[family_of(src)]
    layout = layout or ("v2" if version == 2 else "v3")
    addrs = b"".join(ip_address(a).packed for a in addresses)
    n = len(addresses) if count is None else count
    if layout == "v2":
        auth1, auth2 = auth_words(auth_data[:8])
        head = bytes(
            VRRP(
                version=version & 0xF,
                type=type & 0xF,
                vrid=vrid & 0xFF,
                priority=priority & 0xFF,
                ipcount=n & 0xFF,
                authtype=auth_type & 0xFF,
                adv=(1 if interval is None else interval) & 0xFF,
                chksum=0,
                addrlist=[],
                auth1=auth1,
                auth2=auth2,
            )
        )
        message = head[:8] + addrs + head[8:] + trailing
    else:
        head = bytes(
            VRRPv3(
                version=version & 0xF,
                type=type & 0xF,
                vrid=vrid & 0xFF,
                priority=priority & 0xFF,
                ipcount=n & 0xFF,
                res=reserved & 0xF,
                adv=(100 if interval is None else interval) & 0xFFF,
                chksum=0,
            )
        )
        message = head[:8] + addrs + trailing
    if isinstance(checksum, int):
        value = checksum & 0xFFFF
    elif checksum == "auto":
        value = checksum_of(message, src, dst, "plain" if layout == "v2" else "pseudo")
    elif checksum == "bad":
        good = {checksum_of(message, src, dst, f) for f in ("pseudo", "plain")}
        value = next(v for v in range(0x0001, 0x10000) if v not in good)
    elif checksum in CHECKSUM_FORMS:
        value = checksum_of(message, src, dst, checksum)
    else:
        raise ValueError(f"checksum must be one of {CHECKSUM_FORMS} or an int, got {checksum!r}")
    message = message[:6] + struct.pack("!H", value) + message[8:]
    if truncate is not None:
        message = message[:truncate]
    return message


def ip_packet(
    message: bytes,
    *,
    src: str,
    dst: str | None = None,
    ttl: int = 255,
    tos: int = DSCP_CS6,
    proto: int = IPPROTO_VRRP,
    ident: int = 0,
) -> bytes:
    """`message` in an IPv4 or IPv6 header (scapy fills lengths and the IPv4 checksum)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

    dst = dst or GROUP[family_of(src)]
    if family_of(src) == 4:
        return bytes(IP(src=src, dst=dst, ttl=ttl, tos=tos, proto=proto, id=ident) / Raw(message))
    return bytes(IPv6(src=src, dst=dst, hlim=ttl, tc=tos, nh=proto) / Raw(message))


def craft(
    *,
    src: str,
    dst: str | None = None,
    ttl: int = 255,
    tos: int = DSCP_CS6,
    **fields: Any,
) -> bytes:
    """A whole IP packet carrying one crafted VRRP message (`craft_message` fields)."""
    dst = dst or GROUP[family_of(src)]
    return ip_packet(craft_message(src=src, dst=dst, **fields), src=src, dst=dst, ttl=ttl, tos=tos)


def packet_dst(packet: bytes) -> str:
    """The destination address of an IP packet (IPv4 or IPv6)."""
    if packet[0] >> 4 == 6:
        return str(IPv6Address(packet[24:40]))
    return str(IPv4Address(packet[16:20]))


# --- sending -------------------------------------------------------------------------------


def multicast_mac(dst: str) -> str:
    """The Ethernet address of an IP multicast group (RFC 1112 §6.4, RFC 2464 §7)."""
    ip = ip_address(dst)
    b = ip.packed
    if isinstance(ip, IPv4Address):
        return f"01:00:5e:{b[1] & 0x7F:02x}:{b[2]:02x}:{b[3]:02x}"
    return "33:33:" + ":".join(f"{x:02x}" for x in b[12:])


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


CLONE_NEWNET = 0x40000000
SIOCGIFHWADDR = 0x8927


def _packet_socket(netns: str | None) -> socket.socket:
    """An AF_PACKET socket, created in network namespace `netns` (None: this one)."""
    if netns is None:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    import ctypes
    import threading

    got: list[socket.socket | BaseException] = []

    def inside() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            with open("/proc/thread-self/ns/net") as own, open(f"/run/netns/{netns}") as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
                try:
                    got.append(socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
                finally:
                    libc.setns(own.fileno(), CLONE_NEWNET)
        except BaseException as e:  # handed to the caller's thread
            got.append(e)

    t = threading.Thread(target=inside, name=f"setns-{netns}")
    t.start()
    t.join()
    if isinstance(got[0], BaseException):
        raise got[0]
    return got[0]


def _hwaddr(sock: socket.socket, iface: str) -> str:
    """The MAC of `iface`, asked through `sock` (so in the socket's namespace)."""
    import fcntl

    info = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", iface.encode()[:15]))
    return ":".join(f"{b:02x}" for b in info[18:24])


class Sender:
    """One AF_PACKET socket on `iface`; sends IP packets as Ethernet frames, untouched.

    With `netns` (a name in /run/netns) the socket is opened inside that namespace from this
    process (a helper thread enters it with setns(2) and leaves at once), so a test sends
    from a lab namespace without starting a process per packet.
    """

    def __init__(
        self,
        iface: str,
        *,
        netns: str | None = None,
        src_mac: str | None = None,
        neighbours: Mapping[str, str] | None = None,
    ) -> None:
        self.iface = iface
        self.netns = netns
        self.sock = _packet_socket(netns)
        try:
            self.sock.bind((iface, 0))
        except OSError:
            self.sock.close()
            raise
        self.src_mac = src_mac or _hwaddr(self.sock, iface)
        self._macs: dict[str, bytes] = {
            str(ip_address(k)): _mac_bytes(v) for k, v in (neighbours or {}).items()
        }
        self._src = _mac_bytes(self.src_mac)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dst_mac(self, dst: str) -> bytes:
        key = str(ip_address(dst))
        mac = self._macs.get(key)
        if mac is None:
            ip = ip_address(dst)
            if ip.is_multicast:
                mac = _mac_bytes(multicast_mac(key))
            else:
                mac = _mac_bytes(self._resolve(key))
            self._macs[key] = mac
        return mac

    def _resolve(self, dst: str) -> str:
        if self.netns is not None:  # scapy would ask in this process's namespace
            raise OSError(f"no MAC address for {dst} given (neighbours) for {self.netns}")
        from scapy.config import conf

        conf.iface = self.iface  # type: ignore[assignment]  # scapy resolves the name
        if family_of(dst) == 4:
            from scapy.layers.l2 import getmacbyip

            found = getmacbyip(dst)
        else:
            from scapy.layers.inet6 import getmacbyip6

            found = getmacbyip6(dst)
        if not found:
            raise OSError(f"no MAC address for {dst} on {self.iface} (give --dst-mac)")
        return str(found)

    def frame(self, packet: bytes, dst_mac: str | None = None) -> bytes:
        v6 = packet[0] >> 4 == 6
        mac = _mac_bytes(dst_mac) if dst_mac else self.dst_mac(packet_dst(packet))
        return mac + self._src + struct.pack("!H", ETH_P_IPV6 if v6 else ETH_P_IP) + packet

    def send(self, packet: bytes, dst_mac: str | None = None) -> None:
        self.sock.send(self.frame(packet, dst_mac))


class Injector:
    """A `Sender` with a source address: crafts adverts from `src` and sends them.

    `Node.injector()` opens one in a lab node's namespace, with the node's own address.
    """

    def __init__(
        self,
        iface: str,
        *,
        src: str,
        netns: str | None = None,
        neighbours: Mapping[str, str] | None = None,
    ) -> None:
        self.sender = Sender(iface, netns=netns, neighbours=neighbours)
        self.src = src

    def close(self) -> None:
        self.sender.close()

    def __enter__(self) -> Injector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, packets: bytes | Iterable[bytes], repeat: int = 1) -> int:
        """Send `packets` (one, or several in order) `repeat` times; returns how many."""
        items = [packets] if isinstance(packets, bytes) else list(packets)
        n = 0
        for _ in range(repeat):
            for p in items:
                self.sender.send(p)
                n += 1
        return n

    def craft(self, **fields: Any) -> bytes:
        """`craft(**fields)`, from this injector's source unless `src` is given."""
        fields.setdefault("src", self.src)
        return craft(**fields)

    def advert(self, repeat: int = 1, **fields: Any) -> int:
        """Craft one advert (`craft` fields; source: this injector's) and send it."""
        return self.send(self.craft(**fields), repeat)


Item = bytes | tuple[bytes, str | None]


def send(
    packets: Iterable[Item],
    iface: str,
    *,
    every: float = 0.0,
    dst_mac: str | None = None,
    src_mac: str | None = None,
    neighbours: Mapping[str, str] | None = None,
    netns: str | None = None,
    sent_log: list[bytes] | None = None,
) -> int:
    """Send each packet once (an item is a packet, or (packet, destination MAC or None)),
    `every` seconds apart (0: back to back); returns how many. Pacing follows a schedule
    from the first send, so a late send does not delay the rest. `sent_log` collects the
    packets as they go out."""
    sent = 0
    with Sender(iface, netns=netns, src_mac=src_mac, neighbours=neighbours) as s:
        start = time.monotonic()
        for i, item in enumerate(packets):
            packet, mac = item if isinstance(item, tuple) else (item, None)
            if every > 0:
                delay = start + i * every - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            s.send(packet, mac or dst_mac)
            if sent_log is not None:
                sent_log.append(packet)
            sent += 1
    return sent


# --- the random (fuzz) generator ------------------------------------------------------------


def random_packets(
    n: int,
    seed: int,
    *,
    srcs: Sequence[str],
    dsts: Sequence[str] = ("224.0.0.18",),
    vrid: int = 51,
    addresses: Sequence[str] = ("192.0.2.254",),
) -> list[bytes]:
    """`n` IP packets on protocol 112, reproducible from `seed`: adverts near `vrid` with
    random versions, types, counts, lengths, intervals, checksums and TTLs, byte-level
    mutations of valid adverts, and random bytes. Many are invalid; a valid one is possible
    (a caller that must send only invalid packets filters them with an oracle)."""
    rng = random.Random(seed)
    fam = family_of(srcs[0])
    pool = [a for a in addresses if family_of(a) == fam] or list(addresses)
    out: list[bytes] = []
    for _ in range(n):
        src, dst = rng.choice(srcs), rng.choice(dsts)
        ttl = rng.choice((255, 255, 255, 254, 64, 1, rng.randrange(1, 256)))
        kind = rng.random()
        if kind < 0.15:
            message = rng.randbytes(rng.randrange(0, 64))
        else:
            k = rng.choice((0, 1, 1, 2, 3, rng.randrange(0, 12)))
            addrs = [rng.choice(pool) for _ in range(k)]
            version = rng.choice((3, 3, 3, 2, rng.randrange(0, 16)))
            message = craft_message(
                src=src,
                dst=dst,
                version=version,
                type=rng.choice((1, 1, 1, rng.randrange(0, 16))),
                vrid=rng.choice((vrid, vrid, vrid, rng.randrange(0, 256))),
                priority=rng.randrange(0, 256),
                count=rng.choice((None, None, rng.randrange(0, 256))),
                interval=rng.choice((None, 0, rng.randrange(0, 4096 if version != 2 else 256))),
                reserved=rng.randrange(0, 16),
                auth_type=rng.choice((0, 0, 1, rng.randrange(0, 256))),
                auth_data=rng.randbytes(rng.choice((0, 8))),
                addresses=addrs,
                checksum=rng.choice(("auto", "auto", "rfc9568", "bad", rng.randrange(0, 65536))),
                truncate=rng.choice((None,) * 6 + (rng.randrange(0, 40),)),
                trailing=rng.choice((b"",) * 6 + (rng.randbytes(rng.randrange(1, 9)),)),
            )
            if kind > 0.85 and message:
                buf = bytearray(message)
                for _ in range(rng.randrange(1, 4)):
                    buf[rng.randrange(len(buf))] = rng.randrange(256)
                message = bytes(buf)
        out.append(ip_packet(message, src=src, dst=dst, ttl=ttl))
    return out


# --- files of packets ----------------------------------------------------------------------


def read_hex(lines: Iterable[str]) -> Iterator[tuple[bytes, str | None]]:
    """(IP packet, destination MAC or None) from lines ``HEX [MAC]``; blank lines and
    ``#`` comments are skipped. Lazy: a pipe is sent from as lines arrive."""
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if fields:
            yield bytes.fromhex(fields[0]), (fields[1] if len(fields) > 1 else None)


def write_hex(packets: Iterable[bytes], path: str | Path) -> None:
    Path(path).write_text("".join(p.hex() + "\n" for p in packets))
