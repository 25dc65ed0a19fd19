"""Gratuitous ARP for virtual IPv4 addresses (RFC 5798 §6.4.1/§6.4.2, RFC 5227 §3).

Frames are built once with scapy (only the layers used are imported) when a virtual router is
set up, and sent as bytes on one AF_PACKET socket per interface: no scapy on the hot path.
The frame is an ARP request from the VIP to the VIP, broadcast: Linux hosts update an existing
neighbour entry from it (and, with arp_accept, create one), as do switches' MAC tables.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

from scapy.layers.l2 import ARP, Ether

BROADCAST = "ff:ff:ff:ff:ff:ff"


def garp_frame(mac: str, vip: IPv4Address) -> bytes:
    frame = Ether(src=mac, dst=BROADCAST) / ARP(
        op=1, hwsrc=mac, psrc=str(vip), hwdst="00:00:00:00:00:00", pdst=str(vip)
    )
    return bytes(frame)


class Announcer:
    """One L2 socket on one interface; `send(frames, repeat)` puts each frame out `repeat` times."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.bind((ifname, 0))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def send(self, frames: list[bytes], repeat: int) -> int:
        """Send; return how many frames could not be queued (the link may be down)."""
        failed = 0
        for _ in range(repeat):
            for frame in frames:
                try:
                    self.sock.send(frame)
                except OSError:
                    failed += 1
        return failed

    def close(self) -> None:
        self.sock.close()
