"""One AF_PACKET socket per interface: sends frames as they are (gratuitous ARP / NA, RAs and
multicast advertisements, built once by `vrrpd.frames`)."""

from __future__ import annotations

import socket

from .mmsg import send_many


class Announcer:
    """One packet socket on one interface; sends frames as given."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self.sock.bind((ifname, 0))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def send(self, frames: list[bytes]) -> int:
        """Send each frame once (one sendmmsg); return how many could not be queued (link
        down, ...: the first refusal stops the rest)."""
        sent, _error = send_many(self.sock, frames)
        return len(frames) - sent

    def close(self) -> None:
        self.sock.close()
