"""Status records (`vrrpd.api.RouterStatus`) for the CLI, control socket and metrics tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from vrrpd.api import Counter, RouterStatus, zero_counters


def record(**changes: Any) -> RouterStatus:
    """A MASTER IPv4 router "gw" on eth0, VRID 51, all counters zero; `changes` replace fields."""
    base = RouterStatus(
        name="gw",
        interface="eth0",
        vrid=51,
        family=4,
        version=3,
        state="MASTER",
        priority=150,
        effective_priority=130,
        transitions=3,
        maintenance=False,
        takeover=False,
        fault_reasons=(),
        advert_interval=1.0,
        master_adver_interval=1.0,
        master="192.0.2.1",
        primary="192.0.2.1",
        time_in_state=12.345,
        virtual_ips=("192.0.2.254/24",),
        checksum="rfc5798",
        vmac=None,
        unicast_peers=(),
        accept_mode=False,
        is_owner=False,
        master_down_interval=3.414,
        skew_time=0.414,
        last_adv_source=None,
        new_master_reason="no-response",
        up_since="2026-12-02T13:00:00.000+00:00",
        last_transition="2026-12-02T13:00:03.500+00:00",
        master_since="2026-12-02T13:00:03.500+00:00",
        counters={str(k): v for k, v in zero_counters().items()},
    )
    return dataclasses.replace(base, **changes)


def counters(**values: int) -> dict[str, int]:
    """All counters zero but `values` (keyword = Counter value)."""
    out = {str(k): v for k, v in zero_counters().items()}
    for key, value in values.items():
        out[str(Counter(key))] = value
    return out
