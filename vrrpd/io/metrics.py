"""Prometheus metrics: a custom collector over the daemon's status records and a tiny asyncio
HTTP server for `GET /metrics`.

The collector reads the same records as `vrrpctl status` (`vrrpd.api.RouterStatus`, one per
virtual router) at scrape time, so there is no second copy of any counter to keep in step.
Its families (`Families`) are written as text by `exposition`, the bytes prometheus_client's
`generate_latest` would write over a registry holding only this collector (`make_registry`;
never prometheus_client's global one, whose process/platform collectors would add noise).

The server is not prometheus_client's `start_http_server` because that one runs a thread and
the daemon is a single asyncio loop whose state must not be read from another thread. It is a
deliberately small HTTP/1.1 subset: one request per connection (`Connection: close`), the
request head read under a byte limit and one overall deadline (so a client that trickles bytes
is dropped as surely as one that sends nothing), `GET`/`HEAD` only, a bounded number of
simultaneous connections.

Exposed metrics (`[daemon] metrics_names = "vrrpd"`, the default), labelled by `name`,
`interface`, `vrid`, `family` ("4" or "6"):

    vrrp_state{state="INITIALIZE"|"BACKUP"|"MASTER"|"FAULT"}  1 for the current state, else 0
    vrrp_priority, vrrp_effective_priority                    gauges
    vrrp_transitions_total                                    counter
    vrrp_last_transition_timestamp_seconds                    when it entered its state
    vrrp_<counter>_total                                      one counter per `api.Counter`
    vrrp_tracked_object_state{object, kind, state="unknown"|"ok"|"failing"}   1 / 0
    vrrp_tracked_object_term{object, kind}                    what it adds to the priority

and, without labels, `vrrp_up` (1; 0 when reading the status failed), `vrrp_virtual_routers`
(the number of rows) and `vrrp_build_info{version, python}` (1). With "keepalived" the names
and labels of the keepalived exporter instead, with "both" both (`vrrpd.metricnames`).

The HTTP server caches the rendered body for `cache_ttl` seconds (1 s), so a scrape flood
costs the protocol loop one rendering a second, not one per request, and renders in slices
that let the loop run between them (`MetricsServer`; tools/scrape_flood.py measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import platform
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from .. import __version__
from ..api import Counter, RouterStatus
from ..config import parse_listen
from ..metricnames import (
    DEFAULT_NAMES,
    KEEPALIVED,
    KEEPALIVED_COUNTERS,
    KEEPALIVED_STATE,
    VRRPD,
    keepalived_intf,
    keepalived_ip,
    serves,
    summed,
    timestamp,
)

log = logging.getLogger("vrrpd")

CONTENT_TYPE: str = CONTENT_TYPE_LATEST

RowsSource = Callable[[], Iterable[RouterStatus]]

STATES: tuple[str, ...] = ("INITIALIZE", "BACKUP", "MASTER", "FAULT")
LABELS: tuple[str, ...] = ("name", "interface", "vrid", "family")

# The families that are not `vrrp_<counter>_total`; no Counter may take one of these names
# (vrrp_up_total and vrrp_up would be the same family to an OpenMetrics parser).
FIXED_FAMILIES: tuple[str, ...] = (
    "vrrp_up",
    "vrrp_virtual_routers",
    "vrrp_state",
    "vrrp_priority",
    "vrrp_effective_priority",
    "vrrp_transitions",
    "vrrp_last_transition_timestamp_seconds",
    "vrrp_build_info",
    "vrrp_tracked_object_state",
    "vrrp_tracked_object_term",
)
TRACKED_STATES: tuple[str, ...] = ("unknown", "ok", "failing")

# The keepalived exporter's families vrrpd serves with metrics_names "keepalived" or "both".
KEEPALIVED_FAMILIES: tuple[str, ...] = (
    "keepalived_up",
    "keepalived_vrrp_state",
    *KEEPALIVED_COUNTERS,
    "keepalived_script_status",
)

# The HELP text of each `vrrp_<counter>_total` (a unit test checks that every Counter has one).
COUNTER_HELP: Mapping[Counter, str] = {
    Counter.ADVERTS_SENT: "Advertisements sent.",
    Counter.ADVERTS_RECEIVED: "Advertisements received and accepted for this virtual router.",
    Counter.BECAME_MASTER: "Transitions to MASTER.",
    Counter.LEFT_MASTER: "Transitions from MASTER to another state (mastership released).",
    Counter.PRIORITY0_SENT: "Priority 0 advertisements sent (mastership released, RFC 5798 6.4.3).",
    Counter.PRIORITY0_RECEIVED: "Priority 0 advertisements received (the master is leaving).",
    Counter.CHECKSUM_RFC5798: "Advertisements received whose checksum covers the "
    "pseudo-header (RFC 5798 as implemented; always for IPv6).",
    Counter.CHECKSUM_RFC9568: "VRRPv3 IPv4 advertisements received whose checksum covers the "
    "message only (RFC 9568), and VRRPv2 advertisements.",
    Counter.ADDRESS_LIST_MISMATCH: "Advertisements accepted whose address list differs from "
    "ours (RFC 5798 7.1 MAY drop; vrrpd accepts).",
    Counter.INTERVAL_MISMATCH: "Advertisements accepted whose interval differs from ours.",
    Counter.SEND_ERRORS: "Advertisements the kernel refused to send.",
    Counter.LOWER_PRIORITY_MASTER: "Advertisements received while Master from another Master "
    "of lower priority (or equal priority and lower address): a split brain healing.",
    Counter.ANNOUNCEMENTS_SENT: "Gratuitous ARP / unsolicited NA frames sent as master "
    "(bursts on becoming master, garp_delay, garp_refresh).",
    Counter.DISCARD_IP_HEADER: "Received packets discarded: malformed IP header "
    "(counted for every virtual router on the interface and family).",
    Counter.DISCARD_TTL: "Received packets discarded: TTL or hop limit not 255 (RFC 5798 7.1).",
    Counter.DISCARD_LENGTH: "Received packets discarded: too short or a length that does not "
    "match the address count (counted for every virtual router on the interface and family).",
    Counter.DISCARD_VERSION: "Received packets discarded: VRRP version "
    "not the configured one (or not 2 or 3, or VRRPv2 over IPv6).",
    Counter.DISCARD_TYPE: "Received packets discarded: VRRP type not ADVERTISEMENT.",
    Counter.DISCARD_COUNT_ZERO: "Received packets discarded: address count 0.",
    Counter.DISCARD_INTERVAL_ZERO: "Received packets discarded: advertisement interval 0.",
    Counter.DISCARD_CHECKSUM: "Received packets discarded: bad VRRP checksum.",
    Counter.DISCARD_VRID: "Received packets discarded: VRID not configured on the interface "
    "(counted for every virtual router on the interface and family).",
    Counter.DISCARD_OWN: "Received packets discarded: our own advertisement looped back.",
    Counter.DISCARD_PEER: "Received packets discarded: unicast source not a configured peer.",
    Counter.DISCARD_INTERVAL: "Received packets discarded: VRRPv2 interval not ours "
    "(RFC 3768 7.1).",
    Counter.DISCARD_AUTH: "Received packets discarded: VRRPv2 authentication mismatch.",
}

_HELP_UP = "1 if vrrpd answered this scrape with its status, 0 if reading the status failed."


def _number(value: object) -> float | None:
    """`value` as a sample value, or None for anything that is not an int or float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def counter_family(counter: Counter) -> str:
    """The metric family of `counter`: `vrrp_<counter>` (samples `vrrp_<counter>_total`)."""
    return f"vrrp_{counter.value}"


class StatusCollector:
    """A prometheus_client custom collector over `rows()`, the daemon's status records.

    `names` is the name set ("vrrpd", "keepalived" or "both", `vrrpd.metricnames`). Every
    `Counter` is a family, with its help, whether or not any row has it. Tolerant by
    design, a scrape must not fail over one odd row: a counter a row's `counters` lacks gets
    no sample for that router (nothing is invented), keys that are not a `Counter` are not
    exported, non-numeric values are left out, and a row that is not a `RouterStatus` is
    skipped. A state outside the four gets its own sample at 1 so it is visible rather than
    lost. If `rows()` raises, the scrape still answers, with `vrrp_up 0` only (the exporter
    convention: the target is up, the thing it watches is not readable), and the exception is
    logged.
    """

    def __init__(self, rows: RowsSource, names: str = DEFAULT_NAMES) -> None:
        self._rows = rows
        self.names = names

    def collect(self) -> Iterator[Metric]:
        rows = _read(self._rows)
        if rows is None:
            yield from _unreadable(self.names)
            return
        families = Families(self.names, len(rows))
        for row in rows:
            families.add(row)
        yield from families.all()


def _read(rows: RowsSource) -> list[RouterStatus] | None:
    """The records `rows()` gives (not a RouterStatus: skipped; a second row for one
    (name, interface, vrid, family): skipped), or None if it raised (logged)."""
    try:
        found = [row for row in rows() if isinstance(row, RouterStatus)]
    except Exception:
        log.exception("metrics: reading the status rows failed")
        return None
    seen: set[tuple[str, str, int, int]] = set()
    out = []
    for row in found:
        key = (row.name, row.interface, row.vrid, row.family)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _unreadable(names: str) -> list[Metric]:
    """The answer when the status could not be read: `vrrp_up 0` (`keepalived_up 0`)."""
    out: list[Metric] = []
    if serves(names, VRRPD):
        out.append(GaugeMetricFamily("vrrp_up", _HELP_UP, value=0))
    if serves(names, KEEPALIVED):
        out.append(GaugeMetricFamily("keepalived_up", _HELP_UP, value=0))
    return out


class Families:
    """The metric families of one scrape of `count` virtual routers in the name set
    `names`, filled one status record at a time (`add`), so that a rendering can let the
    event loop run between records."""

    def __init__(self, names: str, count: int) -> None:
        self.ours, self.theirs = serves(names, VRRPD), serves(names, KEEPALIVED)
        self._fixed: list[Metric] = []
        if self.ours:
            info = GaugeMetricFamily(
                "vrrp_build_info",
                "vrrpd's version and the Python running it (always 1).",
                labels=["version", "python"],
            )
            info.add_metric([__version__, platform.python_version()], 1)
            self._fixed = [
                GaugeMetricFamily("vrrp_up", _HELP_UP, value=1),
                GaugeMetricFamily("vrrp_virtual_routers", "Virtual routers configured.", count),
                info,
            ]
        self.state = GaugeMetricFamily(
            "vrrp_state",
            "Current state of the virtual router: 1 for the current state, 0 for the others.",
            labels=[*LABELS, "state"],
        )
        self.priority = GaugeMetricFamily(
            "vrrp_priority", "Configured priority (RFC 5798 5.2.4).", labels=LABELS
        )
        self.effective = GaugeMetricFamily(
            "vrrp_effective_priority",
            "Priority advertised now: configured priority adjusted by tracked objects.",
            labels=LABELS,
        )
        self.transitions = CounterMetricFamily(
            "vrrp_transitions", "State transitions of the virtual router.", labels=LABELS
        )
        self.changed = GaugeMetricFamily(
            "vrrp_last_transition_timestamp_seconds",
            "When the virtual router entered its current state (seconds since the epoch).",
            labels=LABELS,
        )
        self.counters = {
            c: CounterMetricFamily(counter_family(c), COUNTER_HELP[c], labels=LABELS)
            for c in Counter
        }
        self.tracked = GaugeMetricFamily(
            "vrrp_tracked_object_state",
            "State of each tracked object: 1 for the current state (unknown: no input yet, "
            "ok, failing), 0 for the others.",
            labels=[*LABELS, "object", "kind", "state"],
        )
        self.term = GaugeMetricFamily(
            "vrrp_tracked_object_term",
            "What each tracked object adds to the priority now (0 while ok).",
            labels=[*LABELS, "object", "kind"],
        )
        # The keepalived exporter's families (`vrrpd.metricnames`).
        self.ka_state = GaugeMetricFamily(
            "keepalived_vrrp_state",
            "State of vrrp (keepalived's numbers: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT), "
            "one sample per virtual address.",
            labels=["iname", "intf", "vrid", "ip_address"],
        )
        self.ka_counters = {
            family: CounterMetricFamily(family, text, labels=["iname", "intf", "vrid"])
            for family, (_, text) in KEEPALIVED_COUNTERS.items()
        }
        self.ka_scripts = GaugeMetricFamily(
            "keepalived_script_status",
            "Tracker Script Status (1 GOOD, 0 BAD; no sample before its first run).",
            labels=["name"],
        )
        self._ka_states: set[tuple[str, ...]] = set()
        self._ka_names: set[str] = set()
        self._ka_scripts: set[str] = set()

    def add(self, row: RouterStatus) -> None:
        if self.ours:
            self._add_ours(row)
        if self.theirs:
            self._add_theirs(row)

    def all(self) -> list[Metric]:
        out: list[Metric] = []
        if self.ours:
            out += self._fixed
            out += [self.state, self.priority, self.effective, self.transitions, self.changed]
            out += self.counters.values()
            out += [self.tracked, self.term]
        if self.theirs:
            out.append(GaugeMetricFamily("keepalived_up", _HELP_UP, value=1))
            out += [self.ka_state, *self.ka_counters.values(), self.ka_scripts]
        return out

    def _add_ours(self, row: RouterStatus) -> None:
        labels = [row.name, row.interface, str(row.vrid), str(row.family)]
        for s in STATES:
            self.state.add_metric([*labels, s], 1.0 if s == row.state else 0.0)
        if row.state and row.state not in STATES:
            self.state.add_metric([*labels, str(row.state)], 1.0)
        gauges = ((self.priority, row.priority), (self.effective, row.effective_priority))
        for gauge, raw in gauges:
            value = _number(raw)
            if value is not None:
                gauge.add_metric(labels, value)
        value = _number(row.transitions)
        if value is not None:
            self.transitions.add_metric(labels, value)
        when = timestamp(row.last_transition)
        if when is not None:
            self.changed.add_metric(labels, when)
        for counter, family in self.counters.items():
            value = _number(row.counters.get(counter))
            if value is not None:
                family.add_metric(labels, value)
        for obj in row.tracked:
            for s in TRACKED_STATES:
                self.tracked.add_metric(
                    [*labels, obj.name, obj.kind, s], 1.0 if s == obj.state else 0.0
                )
            self.term.add_metric([*labels, obj.name, obj.kind], float(obj.term))

    def _add_theirs(self, row: RouterStatus) -> None:
        if row.name in self._ka_names:
            return  # one instance name, one set of samples (the first row)
        self._ka_names.add(row.name)
        intf, vrid = keepalived_intf(row), str(row.vrid)
        number = KEEPALIVED_STATE.get(row.state)
        if number is not None:
            for vip in row.virtual_ips or ("",):
                key = (row.name, intf, vrid, keepalived_ip(vip) if vip else "")
                if key not in self._ka_states:
                    self._ka_states.add(key)
                    self.ka_state.add_metric(list(key), float(number))
        for family, (which, _) in KEEPALIVED_COUNTERS.items():
            value = summed(row.counters, which)
            if value is not None:
                self.ka_counters[family].add_metric([row.name, intf, vrid], value)
        for obj in row.tracked:
            if obj.kind == "script" and obj.state != "unknown" and obj.name not in self._ka_scripts:
                self._ka_scripts.add(obj.name)
                self.ka_scripts.add_metric([obj.name], 1.0 if obj.state == "ok" else 0.0)


def make_registry(rows: RowsSource, names: str = DEFAULT_NAMES) -> CollectorRegistry:
    """A fresh registry holding only a `StatusCollector` over `rows`."""
    registry = CollectorRegistry()
    registry.register(StatusCollector(rows, names))
    return registry


def render(rows: Iterable[RouterStatus] | RowsSource, names: str = DEFAULT_NAMES) -> bytes:
    """The exposition text (`CONTENT_TYPE`) for `rows`: a list of records or a callable.

    The same bytes as prometheus_client's `generate_latest` over `make_registry(rows,
    names)` (a unit test compares them), written by `exposition` in half the CPU time.
    """
    if callable(rows):
        return exposition(StatusCollector(rows, names).collect())
    fixed = list(rows)

    def source() -> list[RouterStatus]:
        return fixed

    return exposition(StatusCollector(source, names).collect())


# A rendering on the event loop gives it back after this many status records or samples
# (each slice about 1-2 ms on a 2-core machine; 200 virtual routers take ~40 slices).
ROWS_PER_SLICE = 8
SAMPLES_PER_SLICE = 512

_number_text = functools.lru_cache(maxsize=4096)(floatToGoString)  # 0, 1 and friends recur


def exposition(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format (0.0.4) of gauge and counter families without timestamps,
    byte for byte what `generate_latest` writes for them: HELP and TYPE under the sample name
    (`_total` for a counter), labels sorted by name, values as Go formats them."""
    return "".join(exposition_pieces(families, SAMPLES_PER_SLICE)).encode()


def exposition_pieces(families: Iterable[Metric], samples: int) -> Iterator[str]:
    """`exposition` as text pieces of about `samples` samples each (a caller on the event
    loop lets it run between two pieces)."""
    out: list[str] = []
    for metric in families:
        if metric.type not in ("gauge", "counter"):
            raise ValueError(f"{metric.name}: {metric.type} is not a gauge or a counter")
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n")
        for sample in metric.samples:
            value = _number_text(sample.value)
            if sample.labels:
                labels = ",".join(
                    [f'{k}="{_label_text(v)}"' for k, v in sorted(sample.labels.items())]
                )
                out.append(f"{sample.name}{{{labels}}} {value}\n")
            else:
                out.append(f"{sample.name} {value}\n")
            if len(out) >= samples:
                yield "".join(out)
                out = []
    yield "".join(out)


@functools.lru_cache(maxsize=4096)  # names, interfaces, VRIDs, states recur
def _label_text(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


# --- listen address -----------------------------------------------------------------------


def _format_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- HTTP ---------------------------------------------------------------------------------

MAX_HEAD = 8 * 1024  # request line + headers, bytes
MAX_HEADERS = 64
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}

_INDEX = (
    b"<html><head><title>vrrpd</title></head><body>"
    b'<h1>vrrpd</h1><p><a href="/metrics">/metrics</a></p></body></html>\n'
)


class _BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class MetricsServer:
    """Serves `GET /metrics` (and `HEAD`) from `rows()` on `listen` ("HOST:PORT").

    `timeout` bounds reading the request head and, separately, writing the answer;
    `max_connections` bounds simultaneous clients (more are closed at once), so a handful
    of stuck clients cannot take the daemon's memory or file descriptors. `names` is the
    name set (`vrrpd.metricnames`, settable: a reload changes it); a rendered body is served
    again for `cache_ttl` seconds (0: every scrape renders).

    A rendering reads `rows()` once, then builds the text in slices (`ROWS_PER_SLICE`
    records, `SAMPLES_PER_SLICE` samples), giving the loop back between two: 200 virtual
    routers take 60-300 ms of CPU on a busy 2-core machine, which in one piece would delay
    every timer by as much (a 10 ms advertisement interval's backup would take over). Not a
    thread: under CPU contention a rendering thread that holds the interpreter lock while
    descheduled stalls the loop for longer. Scrapes that arrive during a rendering wait for
    that one.
    """

    def __init__(
        self,
        listen: str,
        rows: RowsSource,
        *,
        timeout: float = 5.0,
        max_connections: int = 16,
        names: str = DEFAULT_NAMES,
        cache_ttl: float = 1.0,
    ) -> None:
        self.listen = listen
        self.host, self._port = parse_listen(listen, allow_port_zero=True)
        self.timeout = timeout
        self.max_connections = max_connections
        self.cache_ttl = cache_ttl
        self.rows = rows
        self._names = names
        self._cached: tuple[float, bytes] | None = None  # (monotonic time rendered, body)
        self._rendering: asyncio.Future[bytes] | None = None  # the rendering under way
        self.renders = 0  # bodies rendered (the rest of the scrapes were served cached)
        self.server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    @property
    def names(self) -> str:
        return self._names

    @names.setter
    def names(self, names: str) -> None:
        self._names = names
        self._cached = None

    async def body(self) -> bytes:
        """The exposition text: the cached one if younger than `cache_ttl`, else fresh (the
        rendering under way, if any: a reload that changes `names` starts a new one)."""
        cached = self._cached
        if cached is not None and 0 <= time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        if self._rendering is None:
            self._rendering = asyncio.ensure_future(self._render())
        # Shielded: a client that goes away does not cancel the others' rendering.
        return await asyncio.shield(self._rendering)

    async def _read(self) -> list[RouterStatus] | None:
        """`_read(self.rows)`, taking the records `ROWS_PER_SLICE` at a time from an
        iterator (the daemon's `status_rows`), the loop running between two slices."""
        fixed: list[RouterStatus] = []
        try:
            for n, row in enumerate(self.rows(), 1):
                fixed.append(row)
                if n % ROWS_PER_SLICE == 0:
                    await asyncio.sleep(0)
        except Exception:
            log.exception("metrics: reading the status rows failed")
            return None
        return _read(lambda: fixed)

    async def _render(self) -> bytes:
        try:
            began, names = time.monotonic(), self._names
            rows = await self._read()
            if rows is None:
                body = exposition(_unreadable(names))
            else:
                families = Families(names, len(rows))
                for n, row in enumerate(rows, 1):
                    families.add(row)
                    if n % ROWS_PER_SLICE == 0:
                        await asyncio.sleep(0)
                pieces = []
                for piece in exposition_pieces(families.all(), SAMPLES_PER_SLICE):
                    pieces.append(piece)
                    await asyncio.sleep(0)
                body = "".join(pieces).encode()
            self.renders += 1
            if names == self._names:
                self._cached = (began, body)
            return body
        finally:
            self._rendering = None

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0), the configured one before."""
        return self._port

    @property
    def connections(self) -> int:
        """Connections being served right now."""
        return len(self._clients)

    async def start(self) -> None:
        """Bind and listen; OSError with a one-line message naming `metrics_listen`."""
        where = f"metrics_listen {self.listen}"
        try:
            self.server = await asyncio.start_server(
                self._client, self.host, self._port, limit=MAX_HEAD, reuse_address=True
            )
        except socket.gaierror as e:
            raise _oserror(e, f"{where}: cannot resolve {self.host!r} ({e.strerror})") from None
        except OSError as e:
            why = {
                errno.EADDRINUSE: "address in use",
                errno.EADDRNOTAVAIL: "address not available on this host",
                errno.EACCES: "permission denied",
            }.get(e.errno or 0, e.strerror or str(e))
            raise _oserror(e, f"{where}: {why}") from None
        sockets = self.server.sockets
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info("metrics on http://%s/metrics", _format_listen(self.host, self._port))

    async def close(self) -> None:
        """Stop listening and drop the connections in progress."""
        if self.server is None:
            return
        self.server.close()
        if self._rendering is not None:
            self._rendering.cancel()
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.server.wait_closed()
        self.server = None

    # -- one connection --------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._clients) >= self.max_connections:
            writer.close()
            return
        self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # a bug here must not take the daemon's loop down
            log.exception("metrics: request failed")
        finally:
            self._clients.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers: dict[str, str] = {}
        try:
            async with asyncio.timeout(self.timeout):
                method, target = await self._read_head(reader)
        except TimeoutError:
            status, body, method = 408, b"request timeout\n", "GET"
        except _BadRequest as e:
            status, body, method = e.status, f"{e}\n".encode(), "GET"
        else:
            status, headers, body = await self._answer(method, target)
        async with asyncio.timeout(self.timeout):
            await self._send(writer, status, headers, b"" if method == "HEAD" else body, len(body))
            # Lingering close: half-close, then read what the client still sends until it
            # closes, so unread request bytes do not turn our close into a reset that may
            # destroy the answer before the client has read it.
            if writer.can_write_eof():
                writer.write_eof()
            received = 0
            while received < 64 * 1024:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                received += len(chunk)

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
        """Read the request line and headers; (method, target) or _BadRequest."""
        total = 0
        lines: list[bytes] = []
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                if not e.partial and not lines:
                    raise ConnectionResetError("closed before a request") from None
                raise _BadRequest(400, "incomplete request") from None
            except asyncio.LimitOverrunError:
                raise _BadRequest(431, "request head too large") from None
            total += len(line)
            if total > MAX_HEAD:
                raise _BadRequest(431, "request head too large")
            line = line.rstrip(b"\n").removesuffix(b"\r")
            if not line:
                if not lines:
                    continue  # RFC 9112 2.2: ignore empty lines before the request line
                break
            lines.append(line)
            if len(lines) > MAX_HEADERS + 1:
                raise _BadRequest(431, "too many header fields")
        m = _REQUEST_LINE.fullmatch(lines[0])
        if m is None:
            raise _BadRequest(400, "malformed request line")
        if m.group(3) != b"1":
            raise _BadRequest(505, "only HTTP/1.x is supported")
        for field in lines[1:]:
            name, colon, _value = field.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):  # also rejects obs-fold (RFC 9112 5.2)
                raise _BadRequest(400, "malformed header field")
        return m.group(1).decode("ascii"), m.group(2).decode("ascii", "replace")

    async def _answer(self, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
        if target.startswith("/"):
            path = target.partition("?")[0]
        elif target.startswith(("http://", "https://")):  # absolute-form, RFC 9112 3.2.2
            path = urlsplit(target).path or "/"
        else:
            return 400, {}, b"malformed request target\n"
        if path not in ("/metrics", "/"):
            return 404, {}, b"not found; metrics are at /metrics\n"
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b"method not allowed\n"
        if path == "/":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, _INDEX
        try:
            body = await self.body()
        except Exception:
            log.exception("metrics: rendering failed")
            return 500, {}, b"internal error, see the vrrpd log\n"
        return 200, {"Content-Type": CONTENT_TYPE}, body

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        body: bytes,
        length: int,
    ) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        headers = {"Content-Type": "text/plain; charset=utf-8", **headers}
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += [f"Content-Length: {length}", "Connection: close", "", ""]
        writer.write("\r\n".join(head).encode("latin-1") + body)
        await writer.drain()


def _oserror(cause: OSError, message: str) -> OSError:
    """An OSError whose str() is `message`, keeping the errno of `cause`."""
    err = OSError(message)
    err.errno = cause.errno
    return err
