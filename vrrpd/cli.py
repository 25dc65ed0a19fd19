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
from .control import ControlError, follow, request


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
    _setup_logging(cfg.daemon.log_target, cfg.daemon.journal_socket, args.log_level)
    from .daemon import StartupError, serve  # the daemon's imports (scapy) only when running

    try:
        return asyncio.run(serve(cfg, path))
    except StartupError as e:
        return _die([f"vrrpd: {e}"])
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


def _setup_logging(target: str, journal_socket: str, level: str) -> None:
    """stderr, or journald's native protocol (structured VRRP_* fields) when asked for, or
    with target "auto" when stderr is connected to the journal (systemd sets JOURNAL_STREAM)."""
    from .io.journal import JournalHandler, stderr_is_journal

    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(
        logging.Formatter(
            "%(asctime)s.%(msecs)03d vrrpd[%(process)d] %(levelname)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    handler: logging.Handler = stderr
    if target == "journal" or (target == "auto" and stderr_is_journal()):
        handler = JournalHandler(socket_path=journal_socket, fallback=stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


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


def _print_event(event: dict[str, Any]) -> None:
    kind = event.get("type")
    when = str(event.get("time", ""))[11:23]
    if kind == "transition":
        print(
            f"{when} {event['name']}: {event['old']} -> {event['new']} "
            f"reason={event['reason']} priority={event['priority']}"
        )
    elif kind == "priority":
        print(
            f"{when} {event['name']}: priority {event['old']} -> {event['new']}: {event['explain']}"
        )
    elif kind == "track":
        print(f"{when} {event['name']}: {event['change']}: {event['explain']}")
    else:
        rest = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("seq", "time", "type"))
        print(f"{when} {kind}: {rest}")


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
    ex = sub.add_parser("explain", help="the effective priority as a sum of named terms")
    ex.add_argument("name")
    ex.add_argument("--json", action="store_true")
    ev = sub.add_parser("events", help="follow transitions, priority and track changes")
    ev.add_argument("--json", action="store_true", help="one JSON object per line")
    tk = sub.add_parser("takeover", help="make this backup the master now (holds priority 254)")
    tk.add_argument("name")
    rl = sub.add_parser("release", help="end a takeover: back to the configured priority")
    rl.add_argument("name")
    mt = sub.add_parser("maintenance", help="step down and stay backup (priority 1) until off")
    mt.add_argument("name")
    mt.add_argument("mode", choices=["on", "off"])
    sub.add_parser("reload", help="re-read the configuration file (like SIGHUP)")
    args = p.parse_args(argv)
    try:
        if args.command == "status":
            rows = request(args.socket, {"cmd": "status"})
            print(json.dumps(rows, indent=2) if args.json else format_status(rows))
        elif args.command == "explain":
            answer = request(args.socket, {"cmd": "explain", "name": args.name})
            print(json.dumps(answer, indent=2) if args.json else answer["explain"])
        elif args.command == "events":
            for event in follow(args.socket, {"cmd": "events"}):
                if args.json:
                    print(json.dumps(event), flush=True)
                else:
                    _print_event(event)
                    sys.stdout.flush()
        elif args.command in ("takeover", "release"):
            answer = request(args.socket, {"cmd": args.command, "name": args.name}, timeout=10)
            print(f"{answer['name']}: {args.command} done, priority {answer['priority']}")
        elif args.command == "maintenance":
            on = args.mode == "on"
            answer = request(args.socket, {"cmd": "maintenance", "name": args.name, "on": on})
            print(f"{answer['name']}: maintenance {args.mode}, priority {answer['priority']}")
        elif args.command == "reload":
            answer = request(args.socket, {"cmd": "reload"}, timeout=60)
            print(", ".join(f"{k}: {' '.join(v) or '-'}" for k, v in answer.items()))
    except ControlError as e:
        return _die([f"vrrpctl: {line}" for line in str(e).splitlines()])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0
