"""One AF_PACKET socket per interface: sends frames as they are (gratuitous ARP / NA, RAs and
multicast advertisements, built once by `vrrpd.frames`)."""

from __future__ import annotations

import socket


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
        """Send each frame once; return how many could not be queued (link down, ...)."""
        failed = 0
        for frame in frames:
            try:
                self.sock.send(frame)
            except OSError:
                failed += 1
        return failed

    def close(self) -> None:
        self.sock.close()
