"""An interface (`Port`: link facts, packet socket) and one address family on it (`Channel`:
the protocol-112 socket, its kernel filter and the receive checks of the virtual routers on
it).

Both are bound to the interface's index. An interface deleted and re-created with the same
name has a new one: `Port.relink` and `Channel.reopen` open them again on it, as
`vrrpd.linkfollow` decides (the daemon carries it out)."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

from .. import bpf, privilege
from ..api import CHANNEL_COUNTERS, Counter
from ..linkfollow import Follow
from ..privilege import Op
from ..receive import Receiver, RouterView
from ..types import IPAddress
from . import rawsock, sockfilter
from .announce import Announcer
from .netlink import Link

if TYPE_CHECKING:
    from .executor import Executor

log = logging.getLogger("vrrpd")


class Port:
    """One interface: its link facts and its packet socket (frames: adverts, ARP, NA)."""

    def __init__(self, link: Link) -> None:
        self.name = link.name
        self.index = link.index
        self.mac = link.mac
        self.follow = Follow(link.name, link.index)  # which index, and is it opened
        self.vmacs_on = link.index  # the index the virtual MACs' macvlans were made on
        self.announcer: Announcer | None = None

    def open(self) -> None:
        try:
            self.announcer = Announcer(self.name)
        except OSError as e:
            what = f"opening the packet socket on {self.name}"
            raise privilege.refusal(Op.PACKET_SOCKET, what, e) from None

    def relink(self, link: Link) -> None:
        """Bind to `link`, the interface of this name now (re-created: a new index, maybe a
        new MAC): the packet socket is opened again (OSError if it cannot be)."""
        self.close()
        self.index, self.mac = link.index, link.mac
        self.open()

    def close(self) -> None:
        if self.announcer is not None:
            self.announcer.close()
            self.announcer = None


class Channel:
    """One (interface, family): its raw socket, its virtual routers by VRID, and their
    receive checks."""

    def __init__(
        self, port: Port, family: int, primary: IPAddress, kernel_filter: bool = True
    ) -> None:
        self.port = port
        self.kernel_filter = kernel_filter  # [daemon] kernel_filter
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
        sock = rawsock.open_socket(self.family, self.port.name, self.port.index)
        try:
            # No virtual router yet: the kernel drops everything until `refresh`.
            sockfilter.attach(sock, bpf.DROP_ALL)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def reopen(self, primary: IPAddress) -> None:
        """A new socket on the port's interface as it is now (`Port.relink`), sending from
        `primary`, with the receive checks and kernel filter of the virtual routers on it.
        The old socket is closed: the caller takes it out of the reactor first and puts the
        new one in. OSError: no socket (`sock` is None)."""
        self.close()
        self.primary = primary
        self.open()
        self.refresh()

    def refresh(self) -> None:
        """Validation, and the kernel filter, follow the virtual routers on this channel."""
        views: dict[int, RouterView] = {}
        local: set[IPAddress] = {self.primary}
        for vrid, ex in self.routers.items():
            views[vrid] = ex.inst.view()
            local.add(ex.inst.src)
        self.receiver = Receiver(views, local)
        self._filter(views)

    def _filter(self, views: dict[int, RouterView]) -> None:
        """The kernel keeps only what these receive checks could accept (`vrrpd.bpf`); off,
        every packet reaches them (and is counted by reason)."""
        if self.sock is None:
            return
        try:
            if self.kernel_filter:
                sockfilter.attach(self.sock, bpf.channel_program(self.family, views))
            else:
                sockfilter.detach(self.sock)
        except OSError as e:
            # The filter only saves work: without it every packet is still checked.
            log.warning("%s: kernel filter not updated, removed: %s", self.label, e)
            try:
                sockfilter.detach(self.sock)
            except OSError as e2:
                log.error("%s: kernel filter cannot be removed: %s", self.label, e2)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
