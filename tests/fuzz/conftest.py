"""Hostile-packet runs against live vrrpd processes (root, network namespaces, never skipped).

The oracle for every packet is vrrpd's own pure receive path (`vrrpd.receive.Receiver`) run
here on the same bytes: it says which packets are invalid (only those are sent) and under
which reason each daemon must count it. The daemons are then held to it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netns_lab.lab import Lab
from tests.helpers import NO_KERNEL_FILTER, lab_for


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """Without the kernel filter: every invalid packet reaches the daemon and is counted."""
    yield from lab_for("fuzz runs", daemon=NO_KERNEL_FILTER)
