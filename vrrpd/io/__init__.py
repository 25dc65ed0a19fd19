"""Thin I/O adapters around the pure core: raw sockets, netlink, L2 announcements."""
