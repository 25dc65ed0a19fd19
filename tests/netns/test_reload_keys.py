"""Keys a reload applies in place through the real runtime (the rebuilds of
vrrpd.instance.Part: frames, receive checks, tracking, the accept_mode filter), on a live
master/backup pair: no transition on either side, and each change visible where it acts."""

from __future__ import annotations

import pytest

from netns_lab.lab import Lab, wait_for
from tests.helpers import VIP_ADDR
from tests.netns.test_accept_mode import TABLE
from tests.netns.test_reload_in_place import pair, reload, set_router

pytestmark = pytest.mark.netns


def test_interval_accept_mode_unicast_and_tracking_change_in_place(lab: Lab) -> None:
    r1, r2, d1, d2 = pair(lab)
    before = [d.router("gw")["transitions"] for d in (d1, d2)]
    c1 = lab.add_client("c1", "192.0.2.100/24")
    assert c1.ping(VIP_ADDR, count=2, timeout=2)

    # advert_interval (frames + receive checks): the backup learns the master's new one.
    set_router(d1, advert_interval=0.2)
    assert "gw" in reload(d1)["updated"]
    wait_for(lambda: d2.router("gw")["master_adver_interval"] == 0.2, 10, what="r2 to learn 0.2 s")

    # accept_mode false (the nftables filter): the master stops answering at the VIP.
    set_router(d1, accept_mode=False)
    reload(d1)
    wait_for(lambda: TABLE in r1.nft_tables(), 10, what="table inet vrrpd on r1")
    assert not c1.ping(VIP_ADDR, count=2, timeout=1), r1.nft_ruleset()
    set_router(d1, accept_mode=True)
    reload(d1)
    wait_for(lambda: TABLE not in r1.nft_tables(), 10, what="table inet vrrpd gone")
    assert c1.ping(VIP_ADDR, count=2, timeout=2)

    # unicast_peers on both (frames + receive checks), one after the other.
    set_router(d1, unicast_peers=["192.0.2.2"])
    reload(d1)
    set_router(d2, unicast_peers=["192.0.2.1"])
    reload(d2)
    heard = d2.counters("gw")["adverts_received"]
    d2.wait_counter("gw", "adverts_received", heard + 10, timeout=15)
    assert d1.router("gw")["unicast_peers"] == ["192.0.2.2"]

    # tracking (a weighted interface): the master's priority drops by the weight, at once.
    set_router(d1, track_interfaces=[{"interface": "eth9", "weight": -20}])
    reload(d1)
    wait_for(lambda: d1.router("gw")["effective_priority"] == 130, 10, what="priority 130")
    wait_for(lambda: d2.router("gw")["master"] == "192.0.2.1", 5, what="r2 still following")

    assert [d.router("gw")["transitions"] for d in (d1, d2)] == before
    assert r1.has_address(VIP_ADDR) and not r2.has_address(VIP_ADDR)
