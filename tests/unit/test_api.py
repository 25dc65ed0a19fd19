"""vrrpd.api: the status record's JSON form and the names declared there agree with the
code that uses them (receive's discard reasons, the CLI's subcommands, Prometheus names)."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from tests.unit.status_samples import counters, record
from vrrpd.api import (
    CHANNEL_COUNTERS,
    COMMANDS,
    DISCARD_COUNTER,
    Command,
    Counter,
    RouterStatus,
    unknown_command,
    zero_counters,
)
from vrrpd.cli import IMPORT_KEEPALIVED, vrrpctl_parser
from vrrpd.receive import DISCARD_REASONS

PROMETHEUS_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def test_round_trip_through_json_text() -> None:
    original = record(
        fault_reasons=("track eth1 down",),
        virtual_ips=("192.0.2.254/24", "192.0.2.253/24"),
        unicast_peers=("192.0.2.2",),
        master=None,
        vmac="vrrp4.51",
        counters=counters(adverts_sent=7, discard_ttl=2),
    )
    wire = json.loads(json.dumps(original.to_json()))
    assert wire["virtual_ips"] == ["192.0.2.254/24", "192.0.2.253/24"]  # lists on the wire
    assert wire["counters"]["adverts_sent"] == 7
    assert RouterStatus.from_json(wire) == original


def test_to_json_keys_are_the_fields() -> None:
    wire = record().to_json()
    assert list(wire) == [f.name for f in RouterStatus.__dataclass_fields__.values()]
    assert set(wire["counters"]) == {c.value for c in Counter}


def test_from_json_ignores_unknown_keys() -> None:
    wire = {**record().to_json(), "from_a_newer_daemon": 1}
    assert RouterStatus.from_json(wire) == record()


@pytest.mark.parametrize("key", ["name", "vrid", "state", "accept_mode"])
def test_from_json_missing_key(key: str) -> None:
    wire = record().to_json()
    del wire[key]
    with pytest.raises(ValueError, match=f"without '{key}'"):
        RouterStatus.from_json(wire)


def test_from_json_without_counters_has_none() -> None:
    wire = record().to_json()
    del wire["counters"]
    assert RouterStatus.from_json(wire).counters == {}


def test_discard_counters_are_receive_reasons() -> None:
    assert set(DISCARD_COUNTER) == set(DISCARD_REASONS)
    assert len(set(DISCARD_COUNTER.values())) == len(DISCARD_COUNTER)  # one counter each
    for reason, counter in DISCARD_COUNTER.items():
        assert counter.value == f"discard_{reason}"


def test_channel_counters_are_discard_counters() -> None:
    assert set(CHANNEL_COUNTERS) <= set(DISCARD_COUNTER.values())
    assert len(set(CHANNEL_COUNTERS)) == len(CHANNEL_COUNTERS)


def test_counter_values_are_prometheus_names() -> None:
    for counter in Counter:
        assert PROMETHEUS_NAME.fullmatch(counter.value), counter
        assert not counter.value.endswith("_total"), counter  # the exporter adds it
        assert PROMETHEUS_NAME.fullmatch(f"vrrp_{counter.value}_total"), counter


def test_zero_counters() -> None:
    zero = zero_counters()
    assert list(zero) == list(Counter)
    assert set(zero.values()) == {0}
    zero[Counter.ADVERTS_SENT] += 1  # a fresh dict each time
    assert zero_counters()[Counter.ADVERTS_SENT] == 0


def test_commands_are_the_cli_subcommands() -> None:
    parser = vrrpctl_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    # The control commands, then the one that needs no daemon.
    assert list(sub.choices) == [*COMMANDS, IMPORT_KEEPALIVED]
    assert tuple(c.value for c in Command) == COMMANDS


def test_unknown_command_lists_every_command() -> None:
    assert unknown_command("bogus") == (
        "unknown command 'bogus'; known: status, explain, events, takeover, release, "
        "maintenance, reload"
    )
