"""A Backup receiving adverts (RFC 5798 §6.4.2): learning the Master's interval, priority 0,
equal and lower priorities with and without preemption.

One lab: r2 (192.0.2.2) runs "gw" (VRID 51, priority 100, 0.1 s, preempt) and "np" (VRID 52,
priority 100, 0.1 s, preempt = false), alone: c1 plays the Master with a stream of adverts
(a thread sending every 0.1 s) and captures. Times come from the capture (kernel stamps):
when the stream stops, r2's first advert tells when its Master_Down_Timer fired.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from netns_lab import wire
from netns_lab.craft import Injector
from netns_lab.lab import Capture, Lab, Node, Vrrpd, wait_for
from tests.conformance.conftest import (
    VIP_ADDR,
    WAIT,
    Stream,
    adverts,
    capture,
    counters,
    delta,
    discards,
    vr,
    vrrp_message,
    wait_adverts,
    wait_counter,
)
from vrrpd.timing import master_down_interval, skew_time

pytestmark = pytest.mark.netns

R2, C1 = "192.0.2.2", "192.0.2.100"
NP_VIP = "192.0.2.253"
EVERY = 0.1  # the fake master's send period


@dataclass
class Subject:
    r2: Node
    c1: Node
    d2: Vrrpd
    inj: Injector
    cap: Capture

    def ready(self) -> None:
        self.d2.wait_states({"gw": "MASTER", "np": "MASTER"}, timeout=WAIT)

    def sent_by_c1(self, vrid: int) -> list[float]:
        return sorted(float(p.time) for p in adverts(self.cap, vrid=vrid) if p.src == self.c1.mac)

    def first_advert_after(self, vrid: int, t: float) -> float:
        return min(float(p.time) for p in wait_adverts(self.cap, 1, src=R2, vrid=vrid, after=t))


@pytest.fixture(scope="module")
def s(lab: Lab) -> Iterator[Subject]:
    r2 = lab.add_router("r2", f"{R2}/24")
    c1 = lab.add_client("c1", f"{C1}/24")
    cap = capture(c1, "ip proto 112 or arp")
    d2 = r2.start_vrrpd(
        [
            vr(name="gw", priority=100),
            vr(name="np", vrid=52, priority=100, preempt=False, virtual_ips=[f"{NP_VIP}/24"]),
        ]
    )
    inj = c1.injector()
    subject = Subject(r2, c1, d2, inj, cap)
    subject.ready()
    yield subject
    inj.close()


def advert(s: Subject, priority: int, interval: int = 10, vrid: int = 51) -> bytes:
    vip = VIP_ADDR if vrid == 51 else NP_VIP
    return s.inj.craft(vrid=vrid, priority=priority, interval=interval, addresses=[vip])


def test_backup_learns_master_adver_interval(s: Subject) -> None:
    """§6.4.2 MUST learn Master_Adver_Interval from an accepted advert and reset the timer.

    Master_Down_Interval is recomputed from the learned interval: 1.8 s here, not 0.36 s.
    """
    s.ready()
    with Stream(s.inj, advert(s, 254, interval=50), EVERY) as stream:
        s.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        row = s.d2.router("gw")
        assert row["master_adver_interval"] == 0.5
        assert row["master"] == C1
        # Followed for about 4 s, more than twice the learned Master_Down_Interval (1.8 s):
        # every advert restarts the timer.
        wait_counter(s.d2, "adverts_received", counters(s.d2)["adverts_received"] + 40)
        assert s.d2.router("gw")["state"] == "BACKUP"
        stream.stop()
    last = wait_for(lambda: s.sent_by_c1(51)[-1:], WAIT, what="the stream captured")[0]
    took = s.first_advert_after(51, last) - last
    mdi = float(master_down_interval(100, 50, 3))  # 1.5 + 0.3047 s, not 0.36 s (own 0.1 s)
    assert mdi - 0.02 <= took <= mdi + 2.0
    assert "gw: state BACKUP -> MASTER reason=master-down" in s.d2.log_text()
    s.ready()


def test_master_down_timer_fires(s: Subject) -> None:
    """§6.4.2 MUST: when Master_Down_Timer fires, advertise, announce and become Master."""
    s.ready()
    with Stream(s.inj, advert(s, 254), EVERY):
        s.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        wait_for(lambda: not s.r2.has_address(VIP_ADDR), WAIT, what="VIP removed")
    last = wait_for(lambda: s.sent_by_c1(51)[-1:], WAIT, what="the stream captured")[0]
    first = s.first_advert_after(51, last)
    m = [vrrp_message(p) for p in adverts(s.cap, src=R2, vrid=51) if float(p.time) == first]
    assert m[0][2] == 100  # its own priority
    s.d2.wait_state("gw", "MASTER", timeout=WAIT)
    wait_for(lambda: s.r2.has_address(VIP_ADDR), WAIT, what="VIP added")
    garps = [p for p in wire.garps(s.cap.packets(), VIP_ADDR) if float(p.time) >= first]
    assert garps, "no gratuitous ARP after becoming Master"


def test_backup_priority_0_sets_skew_time(s: Subject) -> None:
    """§6.4.2 MUST: on a priority-0 advert set the Master_Down_Timer to Skew_Time."""
    s.ready()
    with Stream(s.inj, advert(s, 254, interval=100), EVERY):
        s.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        wait_counter(s.d2, "adverts_received", counters(s.d2)["adverts_received"] + 5)
    before = counters(s.d2)
    s.inj.send(advert(s, 0, interval=100))
    zero = wait_for(
        lambda: [
            float(p.time)
            for p in adverts(s.cap, vrid=51)
            if p.src == s.c1.mac and vrrp_message(p)[2] == 0
        ],
        WAIT,
        what="the priority-0 advert captured",
    )[-1]
    took = s.first_advert_after(51, zero) - zero
    skew = float(skew_time(100, 100, 3))  # 0.609 s
    mdi = float(master_down_interval(100, 100, 3))  # 3.609 s: what silence alone would take
    assert skew - 0.02 <= took <= skew + 1.0 < mdi
    assert delta(s.d2, before)["priority0_received"] == 1
    assert "gw: state BACKUP -> MASTER reason=priority-0" in s.d2.log_text()
    s.ready()


def test_backup_follows_equal_priority(s: Subject) -> None:
    """§6.4.2 MUST accept an advert of priority >= local and reset Master_Down_Timer.

    So an equal-priority Backup does not preempt.
    """
    s.ready()
    with Stream(s.inj, advert(s, 100), EVERY):
        # As Master, r2 yields to the same priority from a greater address (§6.4.3) ...
        s.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        before = counters(s.d2)
        # ... and as Backup it follows it for 2 s (Master_Down_Interval is 0.36 s).
        wait_counter(s.d2, "adverts_received", before["adverts_received"] + 20)
        row = s.d2.router("gw")
        assert row["state"] == "BACKUP"
        assert row["master"] == C1
        assert delta(s.d2, before).get("became_master", 0) == 0
    s.ready()


def test_backup_preempts_lower_priority(s: Subject) -> None:
    """§6.4.2 Preempt_Mode True: MUST discard a lower priority, then preempt.

    The discarded adverts do not restart Master_Down_Timer: the Backup becomes Master.
    """
    s.ready()
    with Stream(s.inj, advert(s, 254), EVERY) as stream:
        s.d2.wait_state("gw", "BACKUP", timeout=WAIT)
        wait_counter(s.d2, "adverts_received", counters(s.d2)["adverts_received"] + 3)
        before = counters(s.d2)
        stream.switch(advert(s, 50))
        s.d2.wait_state("gw", "MASTER", timeout=WAIT)
        assert discards(delta(s.d2, before)) == {}  # received (counted), then ignored
    assert "gw: state BACKUP -> MASTER reason=preempted" in s.d2.log_text()
    high = [
        float(p.time)
        for p in adverts(s.cap, vrid=51)
        if p.src == s.c1.mac and vrrp_message(p)[2] == 254
    ]
    took = s.first_advert_after(51, max(high)) - max(high)
    assert took >= float(master_down_interval(100, 10, 3)) - 0.02  # timer not reset by 50s
    s.ready()


def test_no_preempt_follows_lower_priority(s: Subject) -> None:
    """§6.4.2 Preempt_Mode False: MUST accept a lower priority and reset the timer."""
    s.ready()
    with Stream(s.inj, advert(s, 254, vrid=52), EVERY) as stream:
        s.d2.wait_state("np", "BACKUP", timeout=WAIT)
        stream.switch(advert(s, 50, vrid=52))
        wait_for(
            lambda: (
                s.d2.router("np")["master"] == C1
                and any(
                    vrrp_message(p)[2] == 50 for p in adverts(s.cap, vrid=52) if p.src == s.c1.mac
                )
            ),
            WAIT,
            what="priority-50 adverts on the wire",
        )
        before = counters(s.d2, "np")
        wait_counter(s.d2, "adverts_received", before["adverts_received"] + 20, "np")
        row = s.d2.router("np")
        assert row["state"] == "BACKUP"
        assert row["master"] == C1
        assert delta(s.d2, before, "np").get("became_master", 0) == 0
        assert s.d2.router("gw")["state"] == "MASTER"  # VRID 51 untouched
    s.ready()
