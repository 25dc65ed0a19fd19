"""Hostile-packet runs against live vrrpd processes (root, network namespaces, never skipped).

The oracle for every packet is vrrpd's own pure receive path (`vrrpd.receive.Receiver`) run
here on the same bytes: it says which packets are invalid (only those are sent) and under
which reason each daemon must count it. The daemons are then held to it exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from netns_lab.lab import Lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("fuzz runs need root (network namespaces, raw sockets)")
    with Lab() as the_lab:
        yield the_lab
