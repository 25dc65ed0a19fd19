"""An interface (`Port`: link facts, packet socket) and one address family on it (`Channel`:
the protocol-112 socket and the receive checks of the virtual routers on it)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ..api import CHANNEL_COUNTERS, Counter
from ..receive import Receiver, RouterView
from ..types import IPAddress
from . import rawsock
from .announce import Announcer
from .netlink import Link

if TYPE_CHECKING:
    from .executor import Executor


class Port:
    """One interface: its link facts and its packet socket (frames: adverts, ARP, NA)."""

    def __init__(self, link: Link) -> None:
        self.name = link.name
        self.index = link.index
        self.mac = link.mac
        self.announcer: Announcer | None = None

    def open(self) -> None:
        self.announcer = Announcer(self.name)

    def close(self) -> None:
        if self.announcer is not None:
            self.announcer.close()
            self.announcer = None


class Channel:
    """One (interface, family): its raw socket, its virtual routers by VRID, and their
    receive checks."""

    def __init__(self, port: Port, family: int, primary: IPAddress) -> None:
        self.port = port
        self.family = family
        self.primary = primary
        self.routers: dict[int, Executor] = {}
        self.counters: dict[Counter, int] = dict.fromkeys(CHANNEL_COUNTERS, 0)
        self.sock: socket.socket | None = None
        self.receiver = Receiver({}, {primary})

    @property
    def label(self) -> str:
        return f"{self.port.name}/ipv{self.family}"

    def open(self) -> None:
        self.sock = rawsock.open_socket(self.family, self.port.name, self.port.index)

    def refresh(self) -> None:
        """Validation follows the virtual routers on this channel."""
        views: dict[int, RouterView] = {}
        local: set[IPAddress] = {self.primary}
        for vrid, ex in self.routers.items():
            views[vrid] = ex.inst.view()
            local.add(ex.inst.src)
        self.receiver = Receiver(views, local)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
