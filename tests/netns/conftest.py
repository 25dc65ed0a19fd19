"""Namespace tests: a fresh lab per test (bridge + namespaces), real vrrpd processes.

These need root. They never skip: without root they fail, saying why, because CI runs as root
and a skipped namespace test would hide a broken daemon. The `lab` fixture is tests/conftest.py's,
the default virtual router table `tests.helpers.vr`.
"""
