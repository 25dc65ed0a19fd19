"""The Prometheus endpoint: real TCP sockets on 127.0.0.1 (port 0), the asyncio server in the
test's loop, blocking clients (urllib, plain sockets) in threads via asyncio.to_thread; the
answers are parsed with prometheus_client's own parser. No mocks."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import select
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.status_samples import counters, record
from vrrpd import __version__
from vrrpd.api import Counter, RouterStatus, TrackedStatus
from vrrpd.io.metrics import (
    CONTENT_TYPE,
    COUNTER_HELP,
    FIXED_FAMILIES,
    KEEPALIVED_FAMILIES,
    ROWS_PER_SLICE,
    MetricsServer,
    counter_family,
    exposition,
    make_registry,
    render,
)
from vrrpd.metricnames import KEEPALIVED_COUNTERS

ROWS: list[RouterStatus] = [
    record(
        counters=counters(
            adverts_sent=10,
            adverts_received=2,
            became_master=1,
            checksum_rfc5798=2,
            discard_ttl=4,
            discard_vrid=5,
        ),
    ),
    record(
        # Only a few counters: the others get no sample for this router.
        name="gw6",
        interface="eth1",
        vrid=7,
        family=6,
        state="BACKUP",
        priority=100,
        effective_priority=100,
        transitions=0,
        counters={"adverts_received": 9, "discard_auth": 1},
    ),
]

GW = {"name": "gw", "interface": "eth0", "vrid": "51", "family": "4"}
GW6 = {"name": "gw6", "interface": "eth1", "vrid": "7", "family": "6"}
STATES = ("INITIALIZE", "BACKUP", "MASTER", "FAULT")


def run(coro: Awaitable[Any]) -> Any:
    async def wrapped() -> Any:
        return await asyncio.wait_for(coro, timeout=20)

    return asyncio.run(wrapped())


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Metric], sample: str, **labels: str) -> float:
    """The value of the one sample named `sample` with exactly `labels`."""
    family = sample.removesuffix("_total")
    found = [s.value for s in fams[family].samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, fams[family].samples)
    return found[0]


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Blocking HTTP request: (status, headers, body), also for 4xx/5xx."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def raw(port: int, data: bytes, half_close: bool = False) -> bytes:
    """Send raw bytes (then shut our side down if `half_close`), read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        return _read_all(s)


async def serving(
    rows: Callable[[], Iterable[RouterStatus]] = lambda: ROWS, **kwargs: Any
) -> MetricsServer:
    server = MetricsServer("127.0.0.1:0", rows, **kwargs)
    await server.start()
    assert server.port != 0
    return server


def scrape(path: str = "/metrics", method: str = "GET", **kwargs: Any) -> Any:
    """Start a server, make one request with urllib, close; the fetch() result."""

    async def main() -> Any:
        server = await serving(**kwargs)
        try:
            url = f"http://127.0.0.1:{server.port}{path}"
            return await asyncio.to_thread(fetch, url, method)
        finally:
            await server.close()

    return run(main())


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# --- the collector ------------------------------------------------------------------------


def test_render_all_metrics_labels_and_values() -> None:
    fams = families(render(ROWS).decode())
    assert fams["vrrp_up"].type == "gauge"
    assert value(fams, "vrrp_up") == 1
    assert value(fams, "vrrp_virtual_routers") == 2
    assert value(fams, "vrrp_priority", **GW) == 150
    assert value(fams, "vrrp_effective_priority", **GW) == 130
    assert fams["vrrp_transitions"].type == "counter"
    assert value(fams, "vrrp_transitions_total", **GW) == 3
    for counter in Counter:
        assert fams[f"vrrp_{counter}"].type == "counter"
        assert value(fams, f"vrrp_{counter}_total", **GW) == ROWS[0].counters[counter]
    assert value(fams, "vrrp_discard_vrid_total", **GW) == 5
    for fam in fams.values():
        assert fam.documentation, fam.name  # every family has HELP


def test_exactly_the_declared_families() -> None:
    fams = families(render(ROWS).decode())
    assert set(fams) == set(FIXED_FAMILIES) | {counter_family(c) for c in Counter}


def test_every_counter_has_help() -> None:
    assert set(COUNTER_HELP) == set(Counter)
    for counter, text in COUNTER_HELP.items():
        assert text.strip() and "\n" not in text, counter
    fams = families(render([]).decode())  # declared even with no virtual router
    for counter in Counter:
        assert fams[counter_family(counter)].documentation == COUNTER_HELP[counter]


def test_counter_names_do_not_clash_with_fixed_families() -> None:
    names = {counter_family(c) for c in Counter}
    assert len(names) == len(Counter)
    assert not names & set(FIXED_FAMILIES)


def test_counters_a_row_lacks_have_no_sample() -> None:
    fams = families(render(ROWS).decode())
    assert value(fams, "vrrp_effective_priority", **GW6) == 100
    assert value(fams, "vrrp_transitions_total", **GW6) == 0
    assert value(fams, "vrrp_adverts_received_total", **GW6) == 9
    assert value(fams, "vrrp_discard_auth_total", **GW6) == 1
    # A counter only gw has is not invented for gw6.
    assert not [s for s in fams["vrrp_adverts_sent"].samples if s.labels == GW6]


def test_state_enum() -> None:
    fams = families(render(ROWS).decode())
    assert fams["vrrp_state"].type == "gauge"
    for labels, current in ((GW, "MASTER"), (GW6, "BACKUP")):
        for state in STATES:
            want = 1 if state == current else 0
            assert value(fams, "vrrp_state", **labels, state=state) == want
    assert len(fams["vrrp_state"].samples) == 8


@pytest.mark.parametrize("state", STATES)
def test_state_enum_each_state(state: str) -> None:
    fams = families(render([dataclasses.replace(ROWS[0], state=state)]).decode())
    ones = [s.labels["state"] for s in fams["vrrp_state"].samples if s.value == 1]
    assert ones == [state]


def test_render_odd_rows_do_not_break_the_scrape() -> None:
    odd_counters: dict[str, Any] = {
        "adverts_sent": "ten",
        "adverts_received": 1,
        "odd-key": 2,
        "transitions": 5,
    }
    rows: list[Any] = [
        dataclasses.replace(ROWS[0], counters=odd_counters, state="STRANGE"),
        "not a row",
        ROWS[1].to_json(),  # a dict, not a record
    ]
    fams = families(render(rows).decode())
    assert value(fams, "vrrp_virtual_routers") == 1
    assert not fams["vrrp_adverts_sent"].samples  # non-numeric: left out
    assert value(fams, "vrrp_adverts_received_total", **GW) == 1
    assert not [name for name in fams if "odd" in name]  # not a Counter: not exported
    assert value(fams, "vrrp_transitions_total", **GW) == 3  # the counter key is not used
    assert value(fams, "vrrp_state", **GW, state="STRANGE") == 1
    assert [value(fams, "vrrp_state", **GW, state=s) for s in STATES] == [0, 0, 0, 0]


def test_duplicate_rows_first_wins() -> None:
    rows = [ROWS[0], dataclasses.replace(ROWS[0], transitions=99)]
    fams = families(render(rows).decode())
    assert value(fams, "vrrp_transitions_total", **GW) == 3


def test_render_accepts_a_callable_and_no_rows() -> None:
    fams = families(render(lambda: []).decode())
    assert value(fams, "vrrp_up") == 1
    assert value(fams, "vrrp_virtual_routers") == 0


def test_rows_failing_gives_up_0() -> None:
    def broken() -> list[RouterStatus]:
        raise RuntimeError("boom")

    fams = families(render(broken).decode())
    assert set(fams) == {"vrrp_up"}
    assert value(fams, "vrrp_up") == 0


def test_last_transition_timestamp_and_build_info() -> None:
    rows = [ROWS[0], dataclasses.replace(ROWS[1], last_transition=None)]
    fams = families(render(rows).decode())
    stamp = "vrrp_last_transition_timestamp_seconds"
    assert value(fams, stamp, **GW) == 1796216403.5  # 2026-12-02T13:00:03.500Z
    assert not [s for s in fams[stamp].samples if s.labels == GW6]  # null: no sample
    (info,) = fams["vrrp_build_info"].samples
    assert info.value == 1
    assert info.labels["version"] == __version__
    assert info.labels["python"].count(".") == 2


TRACKED = (
    TrackedStatus("uplink", "interface", "failing", -60, -60),
    TrackedStatus("chk", "script", "unknown", None, 0),
    TrackedStatus("eth0", "interface", "ok", None, 0),
)


def test_tracked_objects() -> None:
    fams = families(render([dataclasses.replace(ROWS[0], tracked=TRACKED)]).decode())
    for obj in TRACKED:
        ones = [
            s.labels["state"]
            for s in fams["vrrp_tracked_object_state"].samples
            if s.labels["object"] == obj.name and s.value == 1
        ]
        assert ones == [obj.state]
        labels = {**GW, "object": obj.name, "kind": obj.kind}
        assert value(fams, "vrrp_tracked_object_term", **labels) == obj.term
    assert len(fams["vrrp_tracked_object_state"].samples) == 9


KA = {"iname": "gw", "intf": "eth0", "vrid": "51"}


def test_keepalived_names_only() -> None:
    rows = [
        dataclasses.replace(
            ROWS[0],
            virtual_ips=("192.0.2.254/24", "192.0.2.253/32"),
            counters=counters(
                adverts_received=7,
                adverts_sent=8,
                became_master=2,
                left_master=1,
                interval_mismatch=2,
                discard_interval=3,
                discard_auth=4,
                priority0_sent=1,
            ),
            tracked=TRACKED,
        ),
        dataclasses.replace(ROWS[1], vmac="vrrp6.3.7", virtual_ips=("2001:db8::1/64",)),
    ]
    fams = families(render(rows, "keepalived").decode())
    assert set(fams) == set(KEEPALIVED_FAMILIES)
    assert value(fams, "keepalived_up") == 1
    state = "keepalived_vrrp_state"
    assert value(fams, state, **KA, ip_address="192.0.2.254/24") == 2  # MASTER
    assert value(fams, state, **KA, ip_address="192.0.2.253") == 2
    ka6 = {"iname": "gw6", "intf": "vrrp6.3.7", "vrid": "7"}
    assert value(fams, state, **ka6, ip_address="2001:db8::1/64") == 1  # BACKUP
    assert value(fams, "keepalived_advertisements_received_total", **KA) == 7
    assert value(fams, "keepalived_advertisements_sent_total", **KA) == 8
    assert value(fams, "keepalived_become_master_total", **KA) == 2
    assert value(fams, "keepalived_release_master_total", **KA) == 1
    assert value(fams, "keepalived_advertisements_interval_errors_total", **KA) == 5
    assert value(fams, "keepalived_authentication_failure_total", **KA) == 4
    assert value(fams, "keepalived_priority_zero_sent_total", **KA) == 1
    assert value(fams, "keepalived_advertisements_received_total", **ka6) == 9
    # gw6 lacks the other counters: no sample, nothing invented.
    assert not [s for s in fams["keepalived_become_master"].samples if s.labels == ka6]
    for family in KEEPALIVED_COUNTERS:
        assert fams[family].type == "counter"
    # Scripts by name, as keepalived's tracker scripts: not before their first verdict.
    assert [(s.labels, s.value) for s in fams["keepalived_script_status"].samples] == []
    ok = (TrackedStatus("chk", "script", "ok", None, 0),)
    fams = families(render([dataclasses.replace(ROWS[0], tracked=ok)], "keepalived").decode())
    assert value(fams, "keepalived_script_status", name="chk") == 1


@pytest.mark.parametrize(("state", "number"), [(s, n) for n, s in enumerate(STATES)])
def test_keepalived_state_numbers(state: str, number: int) -> None:
    rows = [dataclasses.replace(ROWS[0], state=state)]
    fams = families(render(rows, "keepalived").decode())
    assert value(fams, "keepalived_vrrp_state", **KA, ip_address="192.0.2.254/24") == number


def test_keepalived_strange_state_has_no_sample() -> None:
    rows = [dataclasses.replace(ROWS[0], state="STRANGE")]
    fams = families(render(rows, "keepalived").decode())
    assert not fams["keepalived_vrrp_state"].samples


def test_both_name_sets() -> None:
    fams = families(render(ROWS, "both").decode())
    ours = set(FIXED_FAMILIES) | {counter_family(c) for c in Counter}
    assert set(fams) == ours | set(KEEPALIVED_FAMILIES)
    assert not ours & set(KEEPALIVED_FAMILIES)


def test_rows_failing_in_keepalived_names() -> None:
    def broken() -> list[RouterStatus]:
        raise RuntimeError("boom")

    fams = families(render(broken, "both").decode())
    assert set(fams) == {"vrrp_up", "keepalived_up"}
    assert value(fams, "keepalived_up") == 0


@pytest.mark.parametrize("names", ["vrrpd", "keepalived", "both"])
def test_exposition_is_what_prometheus_client_writes(names: str) -> None:
    odd = dataclasses.replace(
        ROWS[0],
        name='g"w\\1',
        interface="eth\n0",
        virtual_ips=("192.0.2.254/24", "2001:db8::1/128"),
        tracked=TRACKED,
        counters=counters(adverts_sent=10**17, adverts_received=123456789),
    )
    rows = [odd, *ROWS]
    assert render(rows, names) == generate_latest(make_registry(lambda: rows, names))
    assert b'name="g\\"w\\\\1"' in render(rows, names) or names == "keepalived"


def test_exposition_refuses_what_it_does_not_write() -> None:
    with pytest.raises(ValueError, match="histogram is not a gauge or a counter"):
        exposition([Metric("h", "a histogram", "histogram")])


# --- the HTTP server ----------------------------------------------------------------------


def test_scrape_over_http() -> None:
    status, headers, body = scrape()
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    fams = families(body.decode())
    assert value(fams, "vrrp_adverts_sent_total", **GW) == 10
    assert value(fams, "vrrp_discard_ttl_total", **GW) == 4
    assert value(fams, "vrrp_state", **GW6, state="BACKUP") == 1


def test_scrape_reads_rows_each_time() -> None:
    rows = [ROWS[0]]

    async def main() -> list[float]:
        server = await serving(lambda: rows, cache_ttl=0)
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            seen = []
            for n in (3, 4):
                rows[0] = dataclasses.replace(rows[0], transitions=n)
                _, _, body = await asyncio.to_thread(fetch, url)
                seen.append(value(families(body.decode()), "vrrp_transitions_total", **GW))
            return seen
        finally:
            await server.close()

    assert run(main()) == [3, 4]


def test_scrape_body_cached_for_cache_ttl() -> None:
    rows = [ROWS[0]]

    async def main() -> None:
        server = await serving(lambda: rows, cache_ttl=3600)
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"

            async def transitions() -> float:
                _, _, body = await asyncio.to_thread(fetch, url)
                return value(families(body.decode()), "vrrp_transitions_total", **GW)

            seen = []
            for n in (3, 4, 5):
                rows[0] = dataclasses.replace(rows[0], transitions=n)
                seen.append(await transitions())
            assert seen == [3, 3, 3]  # one rendering, served three times
            assert server.renders == 1
            server.cache_ttl = 0.2  # the next scrape after 0.2 s renders again
            deadline = time.monotonic() + 10
            while await transitions() != 5:
                assert time.monotonic() < deadline, "the cached body never expired"
            assert server.renders == 2
            server.names = "keepalived"  # a reload: the cached body is dropped at once
            _, _, body = await asyncio.to_thread(fetch, url)
            assert "keepalived_up" in families(body.decode())
            assert server.renders == 3
        finally:
            await server.close()

    run(main())


def test_rendering_lets_the_loop_run_between_slices() -> None:
    """The records are taken ROWS_PER_SLICE at a time and the text written in slices: a
    task that counts loop turns runs many times during one rendering."""
    turns = 0
    seen: list[int] = []

    def rows() -> Iterator[RouterStatus]:
        for n in range(10 * ROWS_PER_SLICE):
            seen.append(turns)
            yield dataclasses.replace(ROWS[0], name=f"gw{n}")

    async def main() -> bytes:
        nonlocal turns
        server = await serving(rows, cache_ttl=0)
        stop = False

        async def count() -> None:
            nonlocal turns
            while not stop:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.get_running_loop().create_task(count())
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            _, _, body = await asyncio.to_thread(fetch, url)
            return body
        finally:
            stop = True
            await counter
            await server.close()

    body = run(main())
    fams = families(body.decode())
    assert value(fams, "vrrp_virtual_routers") == 10 * ROWS_PER_SLICE
    # The loop ran between two slices of records: at least 9 times while reading.
    assert len(set(seen)) >= 10, seen


def test_rows_failing_midway_over_http_gives_up_0() -> None:
    def rows() -> Iterator[RouterStatus]:
        yield ROWS[0]
        raise RuntimeError("boom")

    status, _, body = scrape(rows=rows, names="both")
    assert status == 200
    fams = families(body.decode())
    assert set(fams) == {"vrrp_up", "keepalived_up"}
    assert value(fams, "vrrp_up") == 0


def test_head() -> None:
    status, headers, body = scrape(method="HEAD")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) == len(render(ROWS))


def test_index_points_to_metrics() -> None:
    status, headers, body = scrape("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'href="/metrics"' in body


def test_query_string_ignored() -> None:
    assert scrape("/metrics?x=1")[0] == 200


@pytest.mark.parametrize("path", ["/metric", "/metrics/", "/favicon.ico", "/x/../metrics"])
def test_other_paths_404(path: str) -> None:
    status, _, body = scrape(path)
    assert status == 404
    assert b"/metrics" in body


def test_other_methods_405() -> None:
    status, headers, _ = scrape(method="POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage\r\n\r\n",
        b"\x00\xff\xfe binary \r\n\r\n",
        b"GET /metrics\r\n\r\n",  # HTTP/0.9 style: no version
        b"GET /metrics HTTP/1.1 extra\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",  # not origin-form
        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",  # closed before the blank line
        b"GET /metr",  # closed in the request line
    ],
)
def test_malformed_400(request_bytes: bytes) -> None:
    async def main() -> bytes:
        server = await serving()
        try:
            return await asyncio.to_thread(raw, server.port, request_bytes, True)
        finally:
            await server.close()

    answer = run(main())
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"\r\nConnection: close\r\n" in answer


def test_oversized_head_431_and_http2_505() -> None:
    async def main() -> list[bytes]:
        server = await serving()
        try:
            return [
                await asyncio.to_thread(raw, server.port, req)
                for req in (
                    b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
                    b"GET /metrics HTTP/2.0\r\n\r\n",
                )
            ]
        finally:
            await server.close()

    long_line, many, http2 = run(main())
    assert long_line.startswith(b"HTTP/1.1 431 "), long_line
    assert many.startswith(b"HTTP/1.1 431 "), many
    assert http2.startswith(b"HTTP/1.1 505 "), http2


def test_http10_and_leading_blank_line() -> None:
    async def main() -> bytes:
        server = await serving()
        try:
            return await asyncio.to_thread(raw, server.port, b"\r\nGET /metrics HTTP/1.0\r\n\r\n")
        finally:
            await server.close()

    answer = run(main())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert value(families(body.decode()), "vrrp_up") == 1


def test_two_concurrent_scrapes() -> None:
    async def main() -> list[tuple[int, dict[str, str], bytes]]:
        server = await serving()
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            return list(
                await asyncio.gather(asyncio.to_thread(fetch, url), asyncio.to_thread(fetch, url))
            )
        finally:
            await server.close()

    first, second = run(main())
    assert first[0] == second[0] == 200
    assert first[2] == second[2]
    assert value(families(first[2].decode()), "vrrp_up") == 1


def test_silent_client_dropped_without_blocking_scrapes() -> None:
    timeout = 1.5

    async def main() -> tuple[int, bool, bytes, float]:
        server = await serving(timeout=timeout)
        try:
            silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                await wait_for(lambda: server.connections == 1)  # being served now
                started = time.monotonic()
                status, _, _ = await asyncio.to_thread(
                    fetch, f"http://127.0.0.1:{server.port}/metrics"
                )
                # The scrape was answered while the silent client is still connected.
                still_open = _is_open(silent)
                answer = await asyncio.to_thread(_read_all, silent)
                return status, still_open, answer, time.monotonic() - started
            finally:
                silent.close()
        finally:
            await server.close()

    status, still_open, answer, waited = run(main())
    assert status == 200
    assert still_open
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert waited < timeout + 3


def test_trickling_client_dropped_at_one_deadline() -> None:
    """One deadline for the whole head: a byte every 0.1 s does not keep the client alive."""
    timeout = 1.0

    def trickle(port: int) -> tuple[bytes, float]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            started = time.monotonic()
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
            while time.monotonic() - started < timeout + 5:
                if select.select([s], [], [], 0.1)[0]:
                    break  # the server answered (or closed)
                s.sendall(b"a")
            return _read_all(s), time.monotonic() - started

    async def main() -> tuple[bytes, float]:
        server = await serving(timeout=timeout)
        try:
            return await asyncio.to_thread(trickle, server.port)
        finally:
            await server.close()

    answer, waited = run(main())
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert timeout <= waited < timeout + 2


def _is_open(s: socket.socket) -> bool:
    """True if the peer has neither sent anything nor closed (not readable right now)."""
    return not select.select([s], [], [], 0)[0]


def _read_all(s: socket.socket) -> bytes:
    buf = b""
    try:
        while chunk := s.recv(65536):
            buf += chunk
    except ConnectionResetError:
        pass
    return buf


def test_close_drops_connections_and_stops_listening() -> None:
    async def main() -> tuple[bytes, int]:
        server = await serving()
        port = server.port
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            await wait_for(lambda: server.connections == 1)
            await server.close()
            await server.close()  # idempotent
            return await asyncio.to_thread(_read_all, s), port
        finally:
            s.close()

    answer, port = run(main())
    assert answer == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_too_many_connections_closed_at_once() -> None:
    async def main() -> tuple[bytes, int]:
        server = await serving(max_connections=1)
        try:
            held = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                await wait_for(lambda: server.connections == 1)
                extra = await asyncio.to_thread(raw, server.port, b"GET /metrics HTTP/1.1\r\n\r\n")
                held.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
                answer = await asyncio.to_thread(_read_all, held)
                return extra, answer.count(b"200 OK")
            finally:
                held.close()
        finally:
            await server.close()

    extra, ok = run(main())
    assert extra == b""
    assert ok == 1


def test_ipv6_loopback() -> None:
    """The endpoint on [::1] (this machine and CI have IPv6 loopback; never skipped)."""

    async def main() -> int:
        server = MetricsServer("[::1]:0", lambda: ROWS)
        await server.start()
        try:
            status, _, _ = await asyncio.to_thread(fetch, f"http://[::1]:{server.port}/metrics")
            return status
        finally:
            await server.close()

    assert run(main()) == 200


def test_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        async def main() -> None:
            await MetricsServer(f"127.0.0.1:{port}", lambda: ROWS).start()

        with pytest.raises(OSError) as info:
            run(main())
    assert str(info.value) == f"metrics_listen 127.0.0.1:{port}: address in use"
    assert info.value.errno == errno.EADDRINUSE


def test_address_not_on_this_host() -> None:
    async def main() -> None:
        await MetricsServer("192.0.2.1:9650", lambda: ROWS).start()

    with pytest.raises(OSError) as info:
        run(main())
    assert str(info.value) == "metrics_listen 192.0.2.1:9650: address not available on this host"


def test_bad_listen_rejected_by_the_server_too() -> None:
    with pytest.raises(ValueError, match="needs brackets"):
        MetricsServer("::1:9650", lambda: ROWS)
