"""A network-namespace lab for vrrpd: a bridge, router and client namespaces, real processes.

    from netns_lab import Lab
    with Lab() as lab:
        r1 = lab.add_router("r1", "192.0.2.1/24")
        c1 = lab.add_client("c1", "192.0.2.100/24")
        d = r1.start_vrrpd([{"name": "gw", "interface": "eth0", "vrid": 51,
                             "virtual_ips": ["192.0.2.254/24"]}])
        d.wait_state("gw", "MASTER", timeout=10)

Two segments joined by a routing namespace (forwarding on, default routes set)::

        lab.add_segment("b")
        lab.add_gateway("gw", {"a": "192.0.2.250/24", "b": "198.51.100.250/24"})
        r2 = lab.add_router("r2", "198.51.100.2/24", segment="b")

Nodes also give their links (`Node.links`, macvlans included), addresses with flags,
neighbours (ARP and ND), sysctls, nftables (`Node.block_vrrp` for partitions and loss),
tcpdump captures read with scapy (`Node.capture`, `netns_lab.wire`) and hand-made adverts
(`Node.inject`, `netns_lab.craft`: any field wrong on purpose, IPv6, VRRPv2 authentication).

Everything the lab creates carries a per-run name prefix, is recorded in
/run/netns_lab/PREFIX.json and is removed on close, on Ctrl-C and on SIGTERM;
`python -m netns_lab cleanup --all` removes what a killed run left behind.
"""

from __future__ import annotations

from .lab import (
    Capture,
    ControlError,
    Lab,
    LabError,
    Node,
    ProbeError,
    ProbeRun,
    Vrrpd,
    VrrpdError,
    check_config,
    cleanup,
    master_down_interval,
    skew_time,
    wait_for,
)

__all__ = [
    "Capture",
    "ControlError",
    "Lab",
    "LabError",
    "Node",
    "ProbeError",
    "ProbeRun",
    "Vrrpd",
    "VrrpdError",
    "check_config",
    "cleanup",
    "master_down_interval",
    "skew_time",
    "wait_for",
]
