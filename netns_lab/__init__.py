"""A network-namespace lab for vrrpd: a bridge, router and client namespaces, real processes.

    from netns_lab import Lab
    with Lab() as lab:
        r1 = lab.add_router("r1", "192.0.2.1/24")
        c1 = lab.add_client("c1", "192.0.2.100/24")
        d = r1.start_vrrpd([{"name": "gw", "interface": "eth0", "vrid": 51,
                             "virtual_ips": ["192.0.2.254/24"]}])
        d.wait_state("gw", "MASTER", timeout=10)

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
