"""The ledger and the tests agree (pure, no lab): every conformance test is in the ledger
once, every tested entry names a test that exists, and the test's docstring starts with the
entry's section and requirement."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from tests.conformance.ledger import LEDGER, STATUSES

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NOT_REQUIREMENTS = {"test_ledger.py", "test_tools.py"}  # about the ledger and the tools


def conformance_tests() -> dict[str, str]:
    """node id -> first docstring line, for every test function of the requirement files."""
    found: dict[str, str] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name in NOT_REQUIREMENTS:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                found[f"{path.relative_to(REPO)}::{node.name}"] = doc.split("\n", 1)[0]
    return found


def test_entries_are_well_formed() -> None:
    """Ledger: statuses known; tests where tested; a reason wherever something is missing."""
    for e in LEDGER:
        assert e["status"] in STATUSES, e
        assert e["section"] and e["requirement"], e
        if e["status"] == "tested":
            assert e["test"], e
        if e["status"] in ("not-implemented", "not-applicable"):
            assert e["test"] is None and e["note"], e
        if e["status"] == "deviation":
            assert e["note"], e


def test_every_test_is_in_the_ledger_once() -> None:
    """Ledger: each conformance test backs exactly one entry, and each entry's test exists."""
    tests = conformance_tests()
    named = Counter(e["test"] for e in LEDGER if e["test"])
    assert [t for t, n in named.items() if n > 1] == []
    assert sorted(set(tests) - set(named)) == []  # a test no entry mentions
    assert sorted(set(named) - set(tests)) == []  # an entry naming no test


def test_docstrings_match_the_ledger() -> None:
    """Ledger: a test's docstring starts with its entry's section and requirement."""
    tests = conformance_tests()
    wrong = [
        (e["test"], tests[e["test"]], f"{e['section']} {e['requirement']}")
        for e in LEDGER
        if e["test"] in tests and tests[e["test"]] != f"{e['section']} {e['requirement']}"
    ]
    assert wrong == []
