"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netns_lab.lab import Lab
from tests.helpers import lab_for


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh lab (bridge + namespaces) for one test. Suites that share one lab per module
    (conformance, fuzz) or need more (interop) define their own."""
    yield from lab_for("namespace tests")
