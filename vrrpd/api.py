"""What the daemon tells the outside, declared once: the control commands, the counter names
and the status record that the control socket, the metrics endpoint and `vrrpctl` share.

Pure: no I/O. `RouterStatus.to_json()` is the wire form (one JSON object per virtual router,
as `vrrpctl status --json` prints it); `RouterStatus.from_json()` reads it back, so the CLI and
the metrics collector work on the same typed record the daemon built.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class Command(enum.StrEnum):
    """Control socket commands (`{"cmd": ...}`), the daemon's and `vrrpctl`'s one list."""

    STATUS = "status"
    EXPLAIN = "explain"
    EVENTS = "events"
    TAKEOVER = "takeover"
    RELEASE = "release"
    MAINTENANCE = "maintenance"
    RELOAD = "reload"


COMMANDS: tuple[str, ...] = tuple(c.value for c in Command)


def unknown_command(cmd: str) -> str:
    """The control socket's one-line answer to a `cmd` that is not in `COMMANDS`."""
    return f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}"


class Counter(enum.StrEnum):
    """Every per-router counter, by its name in `vrrpctl status` and `vrrp_<name>_total`."""

    ADVERTS_SENT = "adverts_sent"
    ADVERTS_RECEIVED = "adverts_received"
    BECAME_MASTER = "became_master"
    LEFT_MASTER = "left_master"
    PRIORITY0_SENT = "priority0_sent"
    PRIORITY0_RECEIVED = "priority0_received"
    CHECKSUM_RFC5798 = "checksum_rfc5798"
    CHECKSUM_RFC9568 = "checksum_rfc9568"
    ADDRESS_LIST_MISMATCH = "address_list_mismatch"
    INTERVAL_MISMATCH = "interval_mismatch"
    SEND_ERRORS = "send_errors"
    LOWER_PRIORITY_MASTER = "lower_priority_master"
    ANNOUNCEMENTS_SENT = "announcements_sent"
    DISCARD_IP_HEADER = "discard_ip_header"
    DISCARD_TTL = "discard_ttl"
    DISCARD_LENGTH = "discard_length"
    DISCARD_VERSION = "discard_version"
    DISCARD_TYPE = "discard_type"
    DISCARD_COUNT_ZERO = "discard_count_zero"
    DISCARD_INTERVAL_ZERO = "discard_interval_zero"
    DISCARD_CHECKSUM = "discard_checksum"
    DISCARD_VRID = "discard_vrid"
    DISCARD_OWN = "discard_own"
    DISCARD_PEER = "discard_peer"
    DISCARD_INTERVAL = "discard_interval"
    DISCARD_AUTH = "discard_auth"


# The counter of each discard reason word (vrrpd.receive.DISCARD_REASONS; a unit test checks
# that the two lists agree).
DISCARD_COUNTER: Mapping[str, Counter] = {
    "ip_header": Counter.DISCARD_IP_HEADER,
    "ttl": Counter.DISCARD_TTL,
    "length": Counter.DISCARD_LENGTH,
    "version": Counter.DISCARD_VERSION,
    "type": Counter.DISCARD_TYPE,
    "count_zero": Counter.DISCARD_COUNT_ZERO,
    "interval_zero": Counter.DISCARD_INTERVAL_ZERO,
    "checksum": Counter.DISCARD_CHECKSUM,
    "vrid": Counter.DISCARD_VRID,
    "own": Counter.DISCARD_OWN,
    "peer": Counter.DISCARD_PEER,
    "interval": Counter.DISCARD_INTERVAL,
    "auth": Counter.DISCARD_AUTH,
}

# Discards that name no configured VRID belong to the (interface, family) channel and show in
# the row of every virtual router on it.
CHANNEL_COUNTERS: tuple[Counter, ...] = (
    Counter.DISCARD_VRID,
    Counter.DISCARD_IP_HEADER,
    Counter.DISCARD_LENGTH,
)


def zero_counters() -> dict[Counter, int]:
    return dict.fromkeys(Counter, 0)


@dataclass(frozen=True, slots=True)
class TrackedStatus:
    """One tracked object of a virtual router (`vrrpd.tracking`), as status shows it."""

    name: str
    kind: str  # "interface", "script" or "file"
    state: str  # "unknown" (no input yet), "ok" or "failing"
    weight: int | None  # None: FAULT while it fails
    term: int  # what it adds to the priority now

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "weight": self.weight,
            "term": self.term,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrackedStatus:
        weight = data.get("weight")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            state=str(data["state"]),
            weight=None if weight is None else int(weight),
            term=int(data.get("term", 0)),
        )


@dataclass(frozen=True)
class RouterStatus:
    """One virtual router as `vrrpctl status` shows it."""

    name: str
    interface: str
    vrid: int
    family: int
    version: int
    state: str
    priority: int  # configured
    effective_priority: int
    transitions: int
    maintenance: bool
    takeover: bool
    fault_reasons: tuple[str, ...]
    advert_interval: float  # seconds
    master_adver_interval: float
    master: str | None
    primary: str
    time_in_state: float
    virtual_ips: tuple[str, ...]
    checksum: str
    vmac: str | None
    unicast_peers: tuple[str, ...]
    accept_mode: bool
    # RFC 8347 (ietf-vrrp) operational leaves; times are ISO 8601 UTC, null when not yet.
    is_owner: bool  # priority 255 (is-owner)
    master_down_interval: float  # seconds, from the master's interval (master-down-interval)
    skew_time: float  # seconds (skew-time)
    last_adv_source: str | None  # source of the last advertisement accepted (last-adv-source)
    new_master_reason: str  # why it last became master (new-master-reason; see NEW_MASTER_REASON)
    up_since: str | None  # when it left Initialize (up-datetime)
    last_transition: str | None  # when it entered its current state
    master_since: str | None  # last_transition while MASTER, else null
    counters: Mapping[str, int] = field(default_factory=dict)
    tracked: tuple[TrackedStatus, ...] = ()  # tracked objects, in configuration order

    def to_json(self) -> dict[str, Any]:
        # Field by field, one level deep: dataclasses.asdict copies recursively and was 70 %
        # of a status answer (40 ms for 200 routers on a slow machine, on the protocol loop).
        out: dict[str, Any] = {}
        for name in _STATUS_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        out["counters"] = {str(k): v for k, v in self.counters.items()}
        out["tracked"] = [t.to_json() for t in self.tracked]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouterStatus:
        """The record back from its JSON form; unknown keys are ignored (a newer daemon),
        missing ones are an error (ValueError naming the key)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in ("counters", "tracked"):
                    continue
                raise ValueError(f"status row without {f.name!r}")
            value = data[f.name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
        values["counters"] = {str(k): int(v) for k, v in dict(data.get("counters", {})).items()}
        values["tracked"] = tuple(TrackedStatus.from_json(t) for t in data.get("tracked", ()))
        return cls(**values)


_STATUS_FIELDS = tuple(
    f.name for f in fields(RouterStatus) if f.name not in ("counters", "tracked")
)
