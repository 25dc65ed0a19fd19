"""vrrpd/status.schema.json, the documented schema of `vrrpctl status --json`: it names every
field of `RouterStatus` and every counter, nothing more, and a record in every shape the
daemon makes validates (tests/netns/test_status_schema.py checks real output)."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from tests.unit.status_samples import record
from vrrpd.api import Counter, RouterStatus


def schema() -> Any:
    return json.loads(resources.files("vrrpd").joinpath("status.schema.json").read_text())


def validate(rows: list[dict[str, Any]]) -> None:
    jsonschema.validate(rows, schema(), cls=jsonschema.Draft202012Validator)


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_every_field_and_counter_is_in_the_schema_and_nothing_else() -> None:
    item = schema()["items"]
    names = [f.name for f in dataclasses.fields(RouterStatus)]
    assert list(item["properties"]) == names
    assert item["required"] == names
    assert item["additionalProperties"] is False
    assert set(item["properties"]["counters"]["required"]) == {c.value for c in Counter}
    for name, prop in item["properties"].items():
        assert prop.get("description"), f"{name}: no description"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"state": "BACKUP", "master": "192.0.2.2", "last_adv_source": "192.0.2.2"},
        {"state": "FAULT", "master": None, "fault_reasons": ("interface eth0 down",)},
        {"family": 6, "virtual_ips": ("fe80::200:5eff:fe00:233/64", "2001:db8::fe/64")},
        {"vmac": "vrrp4.51", "unicast_peers": ("192.0.2.2",), "up_since": None},
        {"is_owner": True, "priority": 255, "effective_priority": 255, "master_since": None},
    ],
)
def test_records_validate(changes: dict[str, Any]) -> None:
    validate([record(**changes).to_json()])


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"state": "STANDBY"}, "state"),
        ({"vrid": 0}, "vrid"),
        ({"new_master_reason": "because"}, "new_master_reason"),
        ({"up_since": "yesterday"}, "up_since"),
        ({"counters": {"adverts_sent": 1}}, "counters"),
    ],
)
def test_the_schema_rejects_what_the_daemon_never_says(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as e:
        validate([record(**changes).to_json()])
    assert where in "/".join(str(p) for p in e.value.absolute_path) + e.value.message


def test_an_unknown_field_is_rejected() -> None:
    row = record().to_json() | {"surprise": 1}
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        validate([row])
