"""Which metric names the Prometheus endpoint serves, and how vrrpd's status maps onto the
names of the keepalived exporter that migrated dashboards read; pure (no I/O, no
prometheus_client).

`[daemon] metrics_names` picks the set: "vrrpd" (the default, `vrrp_*`), "keepalived" (the
names and labels of mehdy/keepalived-exporter, formerly cafebazaar/keepalived-exporter, the
most used keepalived exporter, default port 9165) or "both".

That exporter's facts, as its collector builds them (read, not copied):
- `keepalived_vrrp_state{iname, intf, vrid, ip_address}`: one sample per virtual address,
  value keepalived's state number (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT); `ip_address` is the
  first word of keepalived's address line (the address, with `/prefix` unless it is a host
  prefix), `intf` the interface the address is on (the macvlan with `use_vmac`).
- per instance counters `keepalived_<name>_total{iname, intf, vrid}` (`KEEPALIVED_COUNTERS`);
- `keepalived_up` (1, or 0 when the status could not be read);
- `keepalived_script_status{name}`: a tracked script, 1 GOOD, 0 BAD.
What has no counterpart is in `KEEPALIVED_UNMAPPED`, with the reason.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping

from .api import Counter, RouterStatus

VRRPD = "vrrpd"
KEEPALIVED = "keepalived"
BOTH = "both"
NAME_SETS: tuple[str, ...] = (VRRPD, KEEPALIVED, BOTH)
DEFAULT_NAMES = VRRPD


def serves(names: str, which: str) -> bool:
    """Whether the name set `names` ("vrrpd", "keepalived", "both") includes `which`."""
    return names in (which, BOTH)


# keepalived's state numbers (VRRP_STATE_INIT .. VRRP_STATE_FAULT).
KEEPALIVED_STATE: Mapping[str, int] = {"INITIALIZE": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}

# keepalived exporter family (samples `<family>_total`) -> the vrrpd counters it sums, help.
KEEPALIVED_COUNTERS: Mapping[str, tuple[tuple[Counter, ...], str]] = {
    "keepalived_advertisements_received": ((Counter.ADVERTS_RECEIVED,), "Advertisements received"),
    "keepalived_advertisements_sent": ((Counter.ADVERTS_SENT,), "Advertisements sent"),
    "keepalived_become_master": ((Counter.BECAME_MASTER,), "Became master"),
    "keepalived_release_master": ((Counter.LEFT_MASTER,), "Released master"),
    "keepalived_packet_length_errors": ((Counter.DISCARD_LENGTH,), "Packet length errors"),
    "keepalived_advertisements_interval_errors": (
        (Counter.INTERVAL_MISMATCH, Counter.DISCARD_INTERVAL),
        "Advertisement interval errors",
    ),
    "keepalived_ip_ttl_errors": ((Counter.DISCARD_TTL,), "TTL errors"),
    "keepalived_invalid_type_received": ((Counter.DISCARD_TYPE,), "Invalid type errors"),
    "keepalived_address_list_errors": ((Counter.ADDRESS_LIST_MISMATCH,), "Address list errors"),
    "keepalived_authentication_failure": ((Counter.DISCARD_AUTH,), "Authentication failure"),
    "keepalived_priority_zero_received": (
        (Counter.PRIORITY0_RECEIVED,),
        "Priority zero received",
    ),
    "keepalived_priority_zero_sent": ((Counter.PRIORITY0_SENT,), "Priority zero sent"),
}

# The exporter's names vrrpd does not serve, and why (the README's mapping table says so too).
KEEPALIVED_UNMAPPED: Mapping[str, str] = {
    "keepalived_authentication_invalid_total": "vrrpd counts every VRRPv2 authentication "
    "that does not match, an unknown type included, as authentication_failure",
    "keepalived_authentication_mismatch_total": "counted as authentication_failure",
    "keepalived_gratuitous_arp_delay_total": "not a counter in keepalived either: its "
    "garp_master_delay setting (vrrpd's garp_delay is configuration, see vrrpctl status)",
    "keepalived_vrrp_excluded_state": "vrrpd has no excluded addresses (the importer moves "
    "them into virtual_ips)",
    "keepalived_script_state": "whether a check script is running now is not exported",
    "keepalived_exporter_check_script_status": "the exporter's own per-address probe script",
    "keepalived_exporter_build_info": "vrrp_build_info",
}

# vrrpd counters no keepalived name carries (served under vrrp_* only).
KEEPALIVED_UNSERVED: tuple[Counter, ...] = tuple(
    c for c in Counter if not any(c in cs for cs, _ in KEEPALIVED_COUNTERS.values())
)


def keepalived_intf(row: RouterStatus) -> str:
    """keepalived's `intf`: the interface the addresses are on (the macvlan with use_vmac)."""
    return row.vmac or row.interface


def keepalived_ip(vip: str) -> str:
    """keepalived's `ip_address` label for a configured virtual address: the address, with
    `/prefix` unless the prefix is a host prefix (/32, /128), as keepalived writes it."""
    try:
        iface = ipaddress.ip_interface(vip)
    except ValueError:
        return vip
    if iface.network.prefixlen == iface.max_prefixlen:
        return str(iface.ip)
    return f"{iface.ip}/{iface.network.prefixlen}"


def summed(counters: Mapping[str, object], which: tuple[Counter, ...]) -> float | None:
    """The sum of `which` in a row's counters; None if any is missing or not a number."""
    total = 0.0
    for counter in which:
        value = counters.get(counter)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        total += value
    return total


def timestamp(iso: str | None) -> float | None:
    """Seconds since the epoch of a status date (ISO 8601), None for null or unreadable."""
    if not isinstance(iso, str):
        return None
    try:
        return datetime.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None
