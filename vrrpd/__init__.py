"""vrrpd: a VRRPv3 / VRRPv2 first-hop redundancy daemon for Linux.

The pure, sans-IO core (packet, timing, fsm, config) has no sockets, clocks or logging;
the asyncio adapters in `vrrpd.io` and `vrrpd.daemon` drive it.
"""

__version__ = "0.1.0"
