"""Helpers shared by the suites that run vrrpd in lab namespaces (netns, conformance, fuzz,
interop, system): the default virtual router table and the root check behind every `lab`
fixture. The function-scoped `lab` fixture itself is in tests/conftest.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from netns_lab.lab import Lab, Node, Vrrpd

VIP = "192.0.2.254/24"
VIP_ADDR = VIP.split("/")[0]

# [daemon] keys of a test that counts discards by reason: without the kernel filter every
# packet reaches vrrpd's checks. With it (the default) junk is dropped by the kernel and
# counted nowhere (tests/netns/test_kernel_filter.py).
NO_KERNEL_FILTER: dict[str, Any] = {"kernel_filter": False}


def vr(**overrides: Any) -> dict[str, Any]:
    """One [[virtual_router]] table with the defaults these tests use."""
    table: dict[str, Any] = {
        "name": "gw",
        "interface": "eth0",
        "vrid": 51,
        "priority": 100,
        "advert_interval": 0.1,
        "preempt": True,
        "virtual_ips": [VIP],
    }
    table.update(overrides)
    return table


def master_and_backup(
    lab: Lab, timeout: float = 10.0, daemon: Mapping[str, Any] | None = None, **keys: Any
) -> tuple[Node, Node, Vrrpd, Vrrpd]:
    """r1 (192.0.2.1, priority 200) and r2 (192.0.2.2, priority 100) running `vr(**keys)`
    (and the [daemon] keys `daemon`); returns once r1 is MASTER and r2 BACKUP."""
    r1 = lab.add_router("r1", "192.0.2.1/24")
    r2 = lab.add_router("r2", "192.0.2.2/24")
    d1 = r1.start_vrrpd([vr(priority=200, **keys)], daemon=daemon)
    d2 = r2.start_vrrpd([vr(priority=100, **keys)], daemon=daemon)
    d1.wait_state("gw", "MASTER", timeout=timeout)
    d2.wait_state("gw", "BACKUP", timeout=timeout)
    return r1, r2, d1, d2


def need_root(what: str, needs: str = "network namespaces, raw sockets") -> None:
    """Fail (never skip: CI runs as root, a skipped test would hide a broken daemon)."""
    if os.geteuid() != 0:
        pytest.fail(f"{what} need root ({needs})")


def lab_for(what: str, daemon: Mapping[str, Any] | None = None) -> Iterator[Lab]:
    """The body of a `lab` fixture: a lab, removed (namespaces, processes) after use. With
    `daemon`, every vrrpd started meanwhile gets these [daemon] keys (a call's own win)."""
    need_root(what)
    with Lab() as the_lab, daemon_defaults(daemon or {}):
        yield the_lab


@contextlib.contextmanager
def daemon_defaults(keys: Mapping[str, Any]) -> Iterator[None]:
    """`Node.start_vrrpd` adds `keys` to the [daemon] table while this lasts."""
    if not keys:
        yield
        return
    original = Node.start_vrrpd

    def start_vrrpd(
        self: Node,
        routers: Sequence[Mapping[str, Any]],
        *,
        daemon: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Vrrpd:
        return original(self, routers, daemon={**keys, **(daemon or {})}, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Node, "start_vrrpd", start_vrrpd)
        yield
