"""keepalived interop: real keepalived 2.2.7 and real vrrpd processes in lab namespaces.

Topology of every test: vrrpd in ``r1`` (192.0.2.1), keepalived in ``r2`` (192.0.2.2) unless
a test swaps the addresses, a client ``c1`` (192.0.2.100), one bridge. These need root and
never skip: without root they fail and say so.

What every scenario asserts once it has converged:
- exactly one router holds the VIP (``ip addr`` on every interface of every router
  namespace, macvlans included), and the client reaches it: a ping is answered and the
  client's neighbour entry for the VIP is a MAC of the holder;
- vrrpd discarded none of keepalived's adverts (every ``discard_*`` counter 0, no address
  list or interval mismatch) and counted some (``adverts_received`` > 0) while keepalived
  was master;
- keepalived logged no complaint about vrrpd's adverts (`Keepalived.complaints`, whose
  patterns test_detectors.py shows to fire on bad adverts) after hearing enough of them to
  span its Master_Down_Interval more than once while it stayed backup.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from ipaddress import ip_interface
from typing import Any

import pytest

from netns_lab.frr import Frr
from netns_lab.keepalived import Keepalived, stop_all
from netns_lab.lab import Lab, Node, Vrrpd, wait_for
from tests import helpers
from tests.helpers import VIP as VIP
from tests.helpers import VIP_ADDR as VIP_ADDR

# The daemons an interop test runs (for log tails in assertion messages).
Daemon = Vrrpd | Keepalived | Frr

VRID = 51
# IPv6: the virtual router's link-local (fe80::200:5eff:fe00:2XX, XX = VRID in hex) first, on
# both sides, so both send the same address list (vrrpd would derive it; keepalived would not).
VIP6_LL = "fe80::200:5eff:fe00:233/64"
VIP6 = "2001:db8::fe/64"
VIP6_ADDR = "2001:db8::fe"
V3_INTERVAL = 0.2  # seconds; keepalived takes fractions for v3. v2 is whole seconds (1).
CONVERGE = 20.0  # seconds: generous bounds for a loaded 2-core machine
KA_NAME = "VI_1"
VR_NAME = "gw"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop: keepalived interoperability (root, namespaces, keepalived)"
    )


def vr(**overrides: Any) -> dict[str, Any]:
    """One vrrpd [[virtual_router]] table with the defaults these tests use (name VR_NAME,
    VRID, VIP: tests.helpers.vr's), every V3_INTERVAL."""
    return helpers.vr(**{"advert_interval": V3_INTERVAL, **overrides})


def ka(**overrides: Any) -> dict[str, Any]:
    """One keepalived vrrp_instance with the defaults these tests use."""
    inst: dict[str, Any] = {
        "name": KA_NAME,
        "interface": "eth0",
        "virtual_router_id": VRID,
        "priority": 100,
        "advert_int": V3_INTERVAL,
        "virtual_ipaddress": [VIP],
    }
    inst.update(overrides)
    return inst


@pytest.fixture
def lab() -> Iterator[Lab]:
    helpers.need_root("interop tests", "network namespaces, raw sockets, keepalived")
    if not os.access("/usr/sbin/keepalived", os.X_OK):
        pytest.fail("interop tests need keepalived: apt-get install keepalived")
    with Lab() as the_lab:
        try:
            yield the_lab
        finally:
            # By PID, before the lab deletes the namespaces (it would stop them too).
            errors = stop_all(the_lab)
            if errors:
                pytest.fail("stopping keepalived: " + "; ".join(errors))


# --- VIP holders and the client ---------------------------------------------------------------


def holders(nodes: Sequence[Node], vip: str, *, up_only: bool = False) -> list[str]:
    """``node:ifname`` of every interface holding `vip`, macvlans included; with `up_only`
    only interfaces that are administratively and operationally up (a dead router's link is
    down but may keep the address)."""
    want = ip_interface(vip).ip
    out = []
    for n in nodes:
        links = {link["ifname"]: link for link in n.links()} if up_only else {}
        for ifname, addrs in n.all_addresses().items():
            if not any(ip_interface(a).ip == want for a in addrs):
                continue
            if up_only:
                raw = links.get(ifname, {}).get("raw", {})
                if "UP" not in raw.get("flags", []) or "LOWER_UP" not in raw.get("flags", []):
                    continue
            out.append(f"{n.name}:{ifname}")
    return out


def holder_nodes(nodes: Sequence[Node], vip: str, *, up_only: bool = False) -> list[str]:
    return sorted({h.split(":")[0] for h in holders(nodes, vip, up_only=up_only)})


def describe(*parts: Daemon | None) -> str:
    """Log tails of the daemons, for assertion messages."""
    out = []
    for p in parts:
        if p is None:
            continue
        kind = {Keepalived: "keepalived", Frr: "FRR"}.get(type(p), "vrrpd")
        out.append(f"--- {kind} in {p.node.name} ---\n{p.log_text()[-3000:]}")
    return "\n".join(out)


def wait_single_holder(
    nodes: Sequence[Node],
    vip: str,
    holder: Node,
    *daemons: Daemon | None,
    up_only: bool = False,
    timeout: float = CONVERGE,
) -> None:
    """Wait until `holder` is the only router holding `vip` (see `holders`)."""
    try:
        wait_for(
            lambda: holder_nodes(nodes, vip, up_only=up_only) == [holder.name],
            timeout,
            what=f"{holder.name} to be the only holder of {vip}",
        )
    except TimeoutError as e:
        raise AssertionError(
            f"{e}; holders now {holders(nodes, vip)}\n{describe(*daemons)}"
        ) from None


def node_macs(node: Node) -> set[str]:
    return {str(link["mac"]).lower() for link in node.links() if link.get("mac")}


def assert_client_reaches(
    client: Node, vip: str, holder: Node, *daemons: Daemon | None
) -> None:
    """The client's ping to `vip` is answered, and by `holder` (its neighbour entry for the
    VIP is one of the holder's MACs: its interface's, or the virtual MAC of a macvlan)."""
    addr = str(ip_interface(vip).ip)
    macs = node_macs(holder)

    def reached() -> bool:
        if not client.ping(addr, count=1, timeout=1.0):
            return False
        mac = client.neigh(addr)
        return mac is not None and mac.lower() in macs

    try:
        wait_for(
            reached, CONVERGE, interval=0.2, what=f"{client.name} to reach {addr} at {holder.name}"
        )
    except TimeoutError as e:
        raise AssertionError(
            f"{e}; client neighbour entry {client.neigh(addr)}, {holder.name} MACs {macs}\n"
            f"{describe(*daemons)}"
        ) from None


# --- the two daemons' views of each other ------------------------------------------------------


def assert_vrrpd_clean(d: Vrrpd, ka_: Keepalived | Frr | None = None) -> dict[str, int]:
    """vrrpd discarded nothing keepalived sent: every discard_* counter is 0, and the address
    lists and intervals matched."""
    counters = d.counters(VR_NAME)
    discards = {k: v for k, v in counters.items() if k.startswith("discard_")}
    assert discards, f"vrrpd status has no discard_* counters: {counters}"
    bad = {k: v for k, v in discards.items() if v}
    for k in ("address_list_mismatch", "interval_mismatch"):
        if counters.get(k):
            bad[k] = counters[k]
    assert not bad, f"vrrpd discarded/mismatched keepalived's adverts: {bad}\n{describe(d, ka_)}"
    return counters


def _wait_more(d: Vrrpd, ka_: Keepalived, counter: str, more: int, timeout: float) -> None:
    """Wait until vrrpd's `counter` has grown by `more`; both logs on failure."""
    base = int(d.counters(VR_NAME).get(counter, 0))
    try:
        d.wait_counter(VR_NAME, counter, base + more, timeout)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{describe(d, ka_)}") from None


def wait_vrrpd_heard_keepalived(
    d: Vrrpd, ka_: Keepalived, adverts: int = 5, timeout: float = CONVERGE
) -> dict[str, int]:
    """While keepalived is master and vrrpd backup, vrrpd receives `adverts` more of its
    adverts and discards none."""
    assert ka_.state(KA_NAME) == "MASTER", describe(d, ka_)
    assert d.router(VR_NAME)["state"] == "BACKUP", describe(d, ka_)
    _wait_more(d, ka_, "adverts_received", adverts, timeout)
    assert ka_.state(KA_NAME) == "MASTER", describe(d, ka_)
    row = d.router(VR_NAME)
    assert row["state"] == "BACKUP", describe(d, ka_)
    counters = assert_vrrpd_clean(d, ka_)
    assert counters["adverts_received"] > 0
    return counters


def assert_keepalived_clean(ka_: Keepalived, d: Vrrpd | None = None) -> None:
    complaints = ka_.complaints()
    assert not complaints, (
        "keepalived complained about received adverts:\n"
        + "\n".join(complaints)
        + "\n"
        + describe(d, ka_)
    )


def wait_keepalived_heard_vrrpd(
    ka_: Keepalived, d: Vrrpd, adverts: int, timeout: float = CONVERGE
) -> None:
    """While vrrpd is master and keepalived backup, vrrpd sends `adverts` more adverts (chosen
    to span keepalived's Master_Down_Interval more than once); keepalived stays backup all
    along (so it accepted them) and logs no complaint."""
    assert d.router(VR_NAME)["state"] == "MASTER", describe(d, ka_)
    assert ka_.state(KA_NAME) == "BACKUP", describe(d, ka_)
    masters = ka_.transitions(KA_NAME, "MASTER")
    _wait_more(d, ka_, "adverts_sent", adverts, timeout)
    assert ka_.state(KA_NAME) == "BACKUP", describe(d, ka_)
    assert ka_.transitions(KA_NAME, "MASTER") == masters, (
        f"keepalived became master while vrrpd was advertising\n{describe(d, ka_)}"
    )
    assert d.router(VR_NAME)["state"] == "MASTER", describe(d, ka_)
    assert_keepalived_clean(ka_, d)


def wait_vrrpd_state(
    d: Vrrpd, state: str, *others: Daemon | None, timeout: float = CONVERGE
) -> dict[str, Any]:
    """`Vrrpd.wait_state` for this module's router, with both logs in the failure message."""
    try:
        return d.wait_state(VR_NAME, state, timeout)
    except TimeoutError as e:
        try:
            row: object = d.router(VR_NAME)
        except Exception as e2:
            row = e2
        raise AssertionError(f"{e}; status {row}\n{describe(d, *others)}") from None


def wait_ka_state(
    k: Keepalived, state: str, *others: Daemon | None, timeout: float = CONVERGE
) -> None:
    """`Keepalived.wait_state` for this module's instance, with both logs on failure."""
    try:
        k.wait_state(KA_NAME, state, timeout)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{describe(k, *others)}") from None


VRRPD_START_MARK = "--- netns_lab: starting vrrpd"


def run_log(d: Vrrpd) -> str:
    """vrrpd's log of this run only (the lab appends every start of a node's vrrpd to one file)."""
    text = d.log_text()
    at = text.rfind(VRRPD_START_MARK)
    return text[at:] if at >= 0 else text
