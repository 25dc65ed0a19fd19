"""Entry points: `vrrpd` (the daemon, also `python -m vrrpd`) and `vrrpctl` (its client)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from . import config as config_mod
from .config import DEFAULT_CONTROL_SOCKET, ConfigError
from .control import ControlError, request


def _die(lines: list[str], code: int = 1) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return code


def vrrpd_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vrrpd", description="VRRP (RFC 5798 / RFC 3768) daemon")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", metavar="FILE", help="run in the foreground with this config")
    mode.add_argument("--check-config", metavar="FILE", help="validate FILE and exit")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    args = p.parse_args(argv)
    path = args.check_config or args.config
    try:
        cfg = config_mod.load(path)
    except ConfigError as e:
        return _die(e.problems)
    if args.check_config:
        print(f"{path}: OK, {len(cfg.virtual_routers)} virtual router(s)")
        return 0
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s.%(msecs)03d vrrpd[%(process)d] %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    from .daemon import StartupError, serve  # the daemon's imports (scapy) only when running

    try:
        return asyncio.run(serve(cfg))
    except StartupError as e:
        return _die([f"vrrpd: {e}"])
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


# --- vrrpctl --------------------------------------------------------------------------------

STATUS_COLUMNS = (
    ("NAME", "name"),
    ("IFACE", "interface"),
    ("VRID", "vrid"),
    ("STATE", "state"),
    ("PRIO", "priority"),
    ("INTERVAL", "advert_interval"),
    ("MASTER", "master"),
    ("IN STATE", "time_in_state"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    if key == "time_in_state":
        return f"{float(v):.1f}s"
    if key == "advert_interval":
        return f"{float(v):g}s"
    return str(v)


def format_status(rows: list[dict[str, Any]]) -> str:
    table = [[h for h, _ in STATUS_COLUMNS]]
    table += [[_cell(r, k) for _, k in STATUS_COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(STATUS_COLUMNS))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    for r in rows:
        counters = r.get("counters", {})
        shown = " ".join(f"{k}={v}" for k, v in counters.items() if v or not k.startswith("disc"))
        out.append(f"  {r['name']}: {shown}")
    return "\n".join(out)


def vrrpctl_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vrrpctl", description="query and drive a running vrrpd")
    p.add_argument(
        "--socket",
        default=DEFAULT_CONTROL_SOCKET,
        help=f"control socket (default: {DEFAULT_CONTROL_SOCKET})",
    )
    sub = p.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="one row per virtual router, with counters")
    st.add_argument("--json", action="store_true", help="print a JSON list of objects")
    args = p.parse_args(argv)
    try:
        rows = request(args.socket, {"cmd": "status"})
    except ControlError as e:
        return _die([f"vrrpctl: {e}"])
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_status(rows))
    return 0
