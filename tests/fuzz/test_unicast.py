"""A forged advert on a unicast virtual router: only the listed peers may speak for it.

Lab: r1 (192.0.2.1, priority 200) and r2 (192.0.2.2, priority 100) run VRID 51 with
unicast_peers naming each other; c1 forges a higher-priority advert - TTL 255, checksum right
for its destination, priority 254 - from addresses that are not listed peers, to each router
by unicast and to 224.0.0.18. Each copy must be discarded as `peer` and change nothing. The
control: the same advert claiming to come from r2, a listed peer, does make r1 yield.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netns_lab.lab import Lab
from tests.conformance import conftest
from tests.conformance.conftest import (
    C1,
    R1,
    R2,
    VIP_ADDR,
    counters,
    delta,
    discards,
    wait_counter,
)

pytestmark = pytest.mark.netns

OTHER = "192.0.2.3"
GROUP = "224.0.0.18"


class Pair(conftest.Pair):
    def forged(self, src: str, dst: str, ttl: int = 255) -> bytes:
        return self.inj.craft(
            src=src, dst=dst, ttl=ttl, priority=254, interval=10, addresses=[VIP_ADDR]
        )


@pytest.fixture(scope="module")
def p(lab: Lab) -> Iterator[Pair]:
    yield from conftest.pair(lab, Pair, {"unicast_peers": [R2]}, {"unicast_peers": [R1]})


def test_forged_advert_from_unlisted_source_changes_nothing(p: Pair) -> None:
    """Unicast: a valid, higher-priority advert from an unlisted source is discarded (peer)."""
    p.settled()
    before = {"r1": counters(p.d1), "r2": counters(p.d2)}
    p.inj.send(
        [
            p.forged(C1, R1),
            p.forged(C1, R2),
            p.forged(C1, GROUP),  # both routers still hear the group
            p.forged(OTHER, R1),
            p.forged(OTHER, R2),
        ]
    )
    # Sentinels: TTL 1 from each router's listed peer (the peer check comes first, so only
    # a listed source reaches the TTL check); once counted, all of the above was processed.
    p.inj.send([p.forged(R2, R1, ttl=1), p.forged(R1, R2, ttl=1)])
    for t, d in (("r1", p.d1), ("r2", p.d2)):
        wait_counter(d, "discard_ttl", before[t]["discard_ttl"] + 1)
        changed = delta(d, before[t])
        assert discards(changed) == {"discard_peer": 3, "discard_ttl": 1}, (t, changed)
        assert changed.get("became_master", 0) == 0, t
    assert p.d1.router("gw")["state"] == "MASTER"
    assert p.d2.router("gw")["state"] == "BACKUP"
    assert p.d2.router("gw")["master"] == R1
    assert p.r1.has_address(VIP_ADDR) and not p.r2.has_address(VIP_ADDR)


def test_same_advert_from_listed_peer_is_accepted(p: Pair) -> None:
    """Unicast control: the same advert from a listed peer's address makes the Master yield."""
    p.settled()
    p.inj.send(p.forged(R2, R1))
    p.d1.wait_state("gw", "BACKUP", timeout=10)
    assert p.d1.router("gw")["master"] == R2
    p.settled()  # nobody sends priority 254 any more: r1 takes over again
