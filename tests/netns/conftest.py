"""Namespace tests: a fresh lab per test (bridge + namespaces), real vrrpd processes.

These need root. They never skip: without root they fail, saying why, because CI runs as root
and a skipped namespace test would hide a broken daemon.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from netns_lab.lab import Lab

pytestmark = pytest.mark.netns

VIP = "192.0.2.254/24"
VIP_ADDR = VIP.split("/")[0]


def vr(**overrides: Any) -> dict[str, Any]:
    """One [[virtual_router]] table with the defaults these tests use."""
    table: dict[str, Any] = {
        "name": "gw",
        "interface": "eth0",
        "vrid": 51,
        "priority": 100,
        "advert_interval": 0.1,
        "preempt": True,
        "virtual_ips": [VIP],
    }
    table.update(overrides)
    return table


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("namespace tests need root (network namespaces, raw sockets)")
    with Lab() as the_lab:
        yield the_lab
