"""Virtual MAC on a Backup (RFC 5798 §6.4.2): its macvlan is down, so frames sent to the
virtual MAC that reach it (flooded before a switch learns the MAC, or a stale entry) are
dropped by the kernel; it comes up when the router becomes Master."""

from __future__ import annotations

import pytest

from netns_lab.lab import Lab, Node, wait_for
from tests.helpers import master_and_backup

pytestmark = pytest.mark.netns


def _vmac_up(node: Node, name: str | None) -> bool | None:
    entry = node.link(name) if name else None
    return None if entry is None else bool(entry["up"])


def test_backup_discards_frames_to_the_virtual_mac(lab: Lab) -> None:
    """§6.4.2 MUST discard packets sent to the virtual MAC while Backup."""
    r1, r2, d1, d2 = master_and_backup(lab, 15, use_vmac=True)
    vmac1, vmac2 = d1.router("gw")["vmac"], d2.router("gw")["vmac"]
    assert vmac1 and vmac2
    wait_for(lambda: _vmac_up(r1, vmac1) is True, 5, what="the master's macvlan up")
    wait_for(lambda: _vmac_up(r2, vmac2) is False, 5, what="the backup's macvlan down")
    d1.stop()
    d2.wait_state("gw", "MASTER", timeout=10)
    wait_for(lambda: _vmac_up(r2, vmac2) is True, 5, what="the new master's macvlan up")
