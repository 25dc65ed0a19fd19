"""Thin I/O adapters around the pure core: everything that touches sockets, netlink, the
kernel, processes or files, the control socket (server and client), notify and track scripts
and the Prometheus endpoint included."""
