"""Waiting for a neighbour's MAC (vrrpd.io.netlink: `NeighbourWaits`, `Netlink.resolve`), the
hand-over's wait after a split brain: from the table when it is there, else as soon as the
monitor reports it, with the table looked at once more if the report never comes. The
neighbour table is a dict here: no socket, no root."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import pytest

from vrrpd.io.netlink import NeighbourWaits, NeighEvent, Netlink
from vrrpd.types import IPAddress

WINNER = IPv4Address("192.0.2.1")
MAC = "02:00:00:00:00:01"


class Table(Netlink):
    """A Netlink whose neighbour table is `entries`; counts lookups and asks."""

    def __init__(self, entries: dict[tuple[int, IPAddress], str] | None = None) -> None:
        self.neighbours = NeighbourWaits()
        self.entries = dict(entries or {})
        self.looked = 0
        self.asked = 0

    async def neighbour(self, index: int, address: IPAddress) -> str | None:
        self.looked += 1
        return self.entries.get((index, address))

    def ask(self) -> None:
        self.asked += 1


def test_known_neighbour_is_returned_without_asking() -> None:
    async def run() -> None:
        nl = Table({(3, WINNER): MAC})
        assert await nl.resolve(3, WINNER, 1.0, nl.ask) == MAC
        assert nl.asked == 0 and nl.looked == 1
        assert nl.neighbours._waiting == {}

    asyncio.run(run())


def test_unknown_neighbour_is_returned_as_soon_as_the_monitor_reports_it() -> None:
    async def run() -> None:
        nl = Table()
        loop = asyncio.get_running_loop()
        # Reports about other neighbours or interfaces do not end the wait.
        loop.call_later(0.01, nl.neighbours.seen, NeighEvent(4, WINNER, "02:00:00:00:00:04"))
        loop.call_later(0.01, nl.neighbours.seen, NeighEvent(3, IPv4Address("192.0.2.9"), "x"))
        loop.call_later(0.02, nl.neighbours.seen, NeighEvent(3, WINNER, MAC))
        start = loop.time()
        assert await nl.resolve(3, WINNER, 5.0, nl.ask) == MAC
        assert loop.time() - start < 2.5  # the report, not the timeout, ended it
        assert nl.asked == 1 and nl.looked == 1
        assert nl.neighbours._waiting == {}

    asyncio.run(run())


@pytest.mark.parametrize("late", [MAC, None])
def test_without_a_report_the_table_is_looked_at_once_more(late: str | None) -> None:
    # The monitor may have failed: what the kernel learnt meanwhile still counts.
    async def run() -> None:
        nl = Table()

        def ask() -> None:
            nl.ask()
            if late is not None:
                nl.entries[(3, WINNER)] = late

        assert await nl.resolve(3, WINNER, 0.05, ask) == late
        assert nl.asked == 1 and nl.looked == 2
        assert nl.neighbours._waiting == {}

    asyncio.run(run())


def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    async def run() -> None:
        nl = Table()
        task = asyncio.get_running_loop().create_task(nl.resolve(3, WINNER, 5.0, nl.ask))
        await asyncio.sleep(0.01)
        assert (3, WINNER) in nl.neighbours._waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert nl.neighbours._waiting == {}
        nl.neighbours.seen(NeighEvent(3, WINNER, MAC))  # nobody waits: nothing happens

    asyncio.run(run())


def test_two_waiters_for_one_neighbour_both_learn_it() -> None:
    async def run() -> None:
        waits = NeighbourWaits()
        with waits.waiting(3, WINNER) as a, waits.waiting(3, WINNER) as b:
            waits.seen(NeighEvent(3, WINNER, MAC))
            assert (await a, await b) == (MAC, MAC)
        assert waits._waiting == {}

    asyncio.run(run())
