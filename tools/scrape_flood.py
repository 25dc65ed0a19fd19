"""What a scrape flood costs the protocol loop: vrrpd's metrics server (vrrpd.io.metrics)
in an asyncio loop beside a 10 ms ticker that stands in for the advertisement timers, with
the status read from real `Instance` objects (what the daemon's `status()` does), while
another process hammers `GET /metrics` with several connections at once.

It reports the ticker's lateness (p50 / p99 / max, ms), the loop process's CPU share,
scrapes served and bodies rendered: without scrapes (the baseline), then under the flood as
the server was before issue 12 (every scrape rendered by generate_latest on the loop), with
only the 1 s body cache, with only the rendering in slices (vrrpd's own formatter, the loop
running between slices), and as it is now (cache and slices).

    .venv/bin/python tools/scrape_flood.py [--routers 200] [--clients 8] [--seconds 5]

No namespaces or root needed: the server listens on 127.0.0.1 (a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest

from vrrpd.api import RouterStatus
from vrrpd.config import parse
from vrrpd.instance import Instance
from vrrpd.io.metrics import MetricsServer, make_registry

TICK = 0.01  # seconds: a 10 ms advertisement interval


class OnLoop(MetricsServer):
    """The server's rendering as before issue 12: prometheus_client's generate_latest on
    the loop (cached if `cache_ttl`)."""

    async def body(self) -> bytes:
        cached = self._cached
        if cached is not None and 0 <= time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        began = time.monotonic()
        body = generate_latest(make_registry(self.rows, self.names))
        self.renders += 1
        self._cached = (began, body)
        return body


def instances(count: int) -> list[Instance]:
    """`count` started virtual routers (255 VRIDs per interface), each with a tracked file."""
    tables = [
        {
            "name": f"vr{n}",
            "interface": f"eth{n // 255}",
            "vrid": n % 255 + 1,
            "virtual_ips": [f"198.51.{100 + n // 250}.{n % 250 + 1}/24"],
            "track_files": [{"name": "load", "path": "/nonexistent", "weight": -10}],
        }
        for n in range(count)
    ]
    out = []
    for cfg in parse({"virtual_router": tables}, "flood.toml").virtual_routers:
        inst = Instance(cfg, IPv4Address("192.0.2.1"))
        inst.tracker.interface(cfg.interface, True)
        inst.start(0.0)
        out.append(inst)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    routers: int, ttl: float, clients: int, seconds: float, on_loop: bool
) -> dict[str, Any]:
    insts = instances(routers)
    loop = asyncio.get_running_loop()

    def rows() -> Iterator[RouterStatus]:  # as the daemon's status_rows
        now, wall = loop.time(), time.time()
        for inst in insts:
            yield inst.status(now, {}, None, wall)

    kind = OnLoop if on_loop else MetricsServer
    server = kind("127.0.0.1:0", rows, cache_ttl=ttl, max_connections=64)
    await server.start()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        due = loop.time()
        while not stop.is_set():
            due += TICK
            await asyncio.sleep(max(0.0, due - loop.time()))
            lags.append(loop.time() - due)
            due = max(due, loop.time() - TICK)  # a missed tick is late once, not forever

    flood = None
    if clients:
        url = f"http://127.0.0.1:{server.port}/metrics"
        flood = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            url,
            "--clients",
            str(clients),
            "--seconds",
            str(seconds),
            stdout=subprocess.PIPE,
        )
    task = loop.create_task(ticker())
    cpu, began = time.process_time(), time.monotonic()
    if flood is not None:
        out, _ = await flood.communicate()
        scrapes = json.loads(out)["scrapes"]
    else:
        await asyncio.sleep(seconds)
        scrapes = 0
    cpu, wall = time.process_time() - cpu, time.monotonic() - began
    stop.set()
    await task
    await server.close()
    ms = [lag * 1000 for lag in lags]
    return {
        "cache_ttl": ttl,
        "render": "on the loop" if on_loop else "sliced",
        "clients": clients,
        "scrapes": scrapes,
        "renders": server.renders,
        "lag_p50_ms": round(statistics.median(ms), 2),
        "lag_p99_ms": round(percentile(ms, 0.99), 2),
        "lag_max_ms": round(max(ms), 2),
        "cpu_percent": round(100 * cpu / wall, 1),
    }


def client(url: str, clients: int, seconds: float) -> None:
    """The flood: `clients` threads, each scraping back to back for `seconds`."""
    deadline = time.monotonic() + seconds
    counts = [0] * clients

    def hammer(i: int) -> None:
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
            counts[i] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"scrapes": sum(counts)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--routers", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client(args.client, args.clients, args.seconds)
        return
    runs = [
        ("no scrapes", 1.0, 0, False),
        ("before: on the loop, no cache", 0.0, args.clients, True),
        ("cache 1 s only", 1.0, args.clients, True),
        ("sliced only", 0.0, args.clients, False),
        ("now: cache 1 s + sliced", 1.0, args.clients, False),
    ]
    print(
        f"{args.routers} virtual routers, {args.clients} scraping connections, {args.seconds:g} s"
    )
    for label, ttl, clients, on_loop in runs:
        result = asyncio.run(measure(args.routers, ttl, clients, args.seconds, on_loop))
        print(f"{label:30} {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
