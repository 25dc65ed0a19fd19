"""Entry points: `vrrpd` (the daemon, also `python -m vrrpd`) and `vrrpctl` (its client)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from . import config as config_mod
from .api import DISCARD_COUNTER, Command, RouterStatus
from .config import DEFAULT_CONTROL_SOCKET, ConfigError

# asyncio, the daemon and the control client are imported where they are used: `vrrpd
# --check-config` (systemd's ExecStartPre, before every start) needs none of them.


def _die(lines: list[str], code: int = 1) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return code


def vrrpd_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vrrpd", description="VRRP (RFC 5798 / RFC 3768) daemon")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", metavar="FILE", help="run in the foreground with this config")
    mode.add_argument("--check-config", metavar="FILE", help="validate FILE and exit")
    mode.add_argument(
        "--cleanup",
        metavar="FILE",
        help="undo what a vrrpd run with FILE left behind (killed, not restarted) and exit",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    args = p.parse_args(argv)
    path = args.check_config or args.config or args.cleanup
    try:
        cfg = config_mod.load(path)
    except ConfigError as e:
        return _die(e.problems)
    if args.check_config:
        print(f"{path}: OK, {len(cfg.virtual_routers)} virtual router(s)")
        return 0
    _setup_logging(cfg.daemon.log_target, cfg.daemon.journal_socket, args.log_level)
    import asyncio

    from .daemon import StartupError, cleanup, serve

    try:
        if args.cleanup:
            return asyncio.run(cleanup(cfg))
        return asyncio.run(serve(cfg, path))
    except StartupError as e:
        return _die([f"vrrpd: {e}"])
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


def _setup_logging(target: str, journal_socket: str, level: str) -> None:
    """stderr, or journald's native protocol (structured VRRP_* fields) when asked for, or
    with target "auto" when stderr is connected to the journal (systemd sets JOURNAL_STREAM).
    vrrpd.io.journal is imported only then."""
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(
        logging.Formatter(
            "%(asctime)s.%(msecs)03d vrrpd[%(process)d] %(levelname)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
    )
    handler: logging.Handler = stderr
    if target == "journal" or (target == "auto" and "JOURNAL_STREAM" in os.environ):
        from .io.journal import JournalHandler, stderr_is_journal

        if target == "journal" or stderr_is_journal():
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

_DISCARDS = frozenset(DISCARD_COUNTER.values())


def _cell(row: RouterStatus, key: str) -> str:
    v = getattr(row, key)
    if v is None:
        return "-"
    if key == "time_in_state":
        return f"{float(v):.1f}s"
    if key == "advert_interval":
        return f"{float(v):g}s"
    return str(v)


def format_status(rows: list[RouterStatus]) -> str:
    """The `vrrpctl status` table, then one line of counters per router (zero discard
    counters left out)."""
    table = [[h for h, _ in STATUS_COLUMNS]]
    table += [[_cell(r, k) for _, k in STATUS_COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(STATUS_COLUMNS))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    for r in rows:
        shown = " ".join(f"{k}={v}" for k, v in r.counters.items() if v or k not in _DISCARDS)
        out.append(f"  {r.name}: {shown}")
    return "\n".join(out)


def parse_status(result: Any) -> list[RouterStatus]:
    """The daemon's `status` result as records; ControlError (one line) if it is not a list
    of status rows."""
    from .io.control import ControlError

    if not isinstance(result, list):
        raise ControlError(f"status: expected a list of rows, got {type(result).__name__}")
    rows = []
    for i, row in enumerate(result):
        if not isinstance(row, dict):
            raise ControlError(f"status row {i}: expected an object, got {type(row).__name__}")
        try:
            rows.append(RouterStatus.from_json(row))
        except (ValueError, TypeError) as e:
            name = row.get("name")
            which = f"status row {i}" + (f" ({name})" if isinstance(name, str) else "")
            raise ControlError(f"{which}: {e}") from None
    return rows


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
    elif kind == "other-master":
        more = f" ({event['unsaid']} more since the last)" if event.get("unsaid") else ""
        print(
            f"{when} {event['name']}: another master {event['address']} with priority "
            f"{event['priority']} (ours {event['ours']}){more}"
        )
    else:
        rest = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("seq", "time", "type"))
        print(f"{when} {kind}: {rest}")


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the virtual router")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")


def _explain_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("--json", action="store_true", help="print the JSON answer")


def _events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _maintenance_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("mode", choices=["on", "off"])


def _no_args(p: argparse.ArgumentParser) -> None:
    pass


# Per control command (vrrpd.api.Command, the one list of names): its help, its arguments.
SUBCOMMANDS: dict[Command, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    Command.STATUS: ("one row per virtual router, with counters", _status_args),
    Command.EXPLAIN: ("the effective priority as a sum of named terms", _explain_args),
    Command.EVENTS: ("follow transitions, priority and track changes", _events_args),
    Command.TAKEOVER: ("make this backup the master now (holds priority 254)", _name),
    Command.RELEASE: ("end a takeover: back to the configured priority", _name),
    Command.MAINTENANCE: ("step down and stay backup (priority 1) until off", _maintenance_args),
    Command.RELOAD: ("re-read the configuration file (like SIGHUP)", _no_args),
}


def vrrpctl_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vrrpctl", description="query and drive a running vrrpd")
    p.add_argument(
        "--socket",
        default=DEFAULT_CONTROL_SOCKET,
        help=f"control socket (default: {DEFAULT_CONTROL_SOCKET})",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for cmd in Command:
        text, add_arguments = SUBCOMMANDS[cmd]
        add_arguments(sub.add_parser(cmd.value, help=text))
    # Local, not a control command: no socket, no daemon.
    ka = sub.add_parser(
        IMPORT_KEEPALIVED,
        help="print keepalived.conf FILE as vrrpd TOML; differences on stderr "
        "(exit 0 faithful, 1 unreadable, 2 something differs)",
    )
    ka.add_argument("file", metavar="FILE", help="keepalived.conf (includes are followed)")
    ka.add_argument(
        "--config-id", help="keepalived's -i ID: resolves @ID / @^ID conditional lines"
    )
    return p


IMPORT_KEEPALIVED = "import-keepalived"
IMPORT_DIFFERS = 2  # exit status: TOML written, but something was changed or dropped


def import_keepalived(path: str, config_id: str | None) -> int:
    """`vrrpctl import-keepalived FILE`: TOML on stdout, one line per difference on stderr."""
    import shutil

    from . import kaconf, kaimport
    from .scriptsafety import SCRIPT_PATH
    from .toml_out import dumps

    try:
        parsed = kaconf.load(path, config_id)
    except kaconf.KaSyntaxError as e:
        return _die([f"vrrpctl: {e}"])
    result = kaimport.convert(parsed, lambda prog: shutil.which(prog, path=SCRIPT_PATH))
    if not result.doc["virtual_router"]:
        result.report.append(f"{path}: no vrrp_instance vrrpd can run")
    sys.stdout.write(kaimport.header(path, result.report) + dumps(result.doc))
    sys.stdout.flush()
    for line in result.report:
        print(line, file=sys.stderr)
    return 0 if result.faithful else IMPORT_DIFFERS


def vrrpctl_main(argv: list[str] | None = None) -> int:
    from .io.control import ControlError

    args = vrrpctl_parser().parse_args(argv)
    try:
        if args.command == IMPORT_KEEPALIVED:
            return import_keepalived(args.file, args.config_id)
        _run(Command(args.command), args)
    except ControlError as e:
        return _die([f"vrrpctl: {line}" for line in str(e).splitlines()])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


def _run(cmd: Command, args: argparse.Namespace) -> None:
    from .io.control import follow, request

    path: str = args.socket
    match cmd:
        case Command.STATUS:
            result = request(path, {"cmd": cmd})
            rows = parse_status(result)
            print(json.dumps(result, indent=2) if args.json else format_status(rows))
        case Command.EXPLAIN:
            answer = request(path, {"cmd": cmd, "name": args.name})
            print(json.dumps(answer, indent=2) if args.json else answer["explain"])
        case Command.EVENTS:
            for event in follow(path, {"cmd": cmd}):
                if args.json:
                    print(json.dumps(event), flush=True)
                else:
                    _print_event(event)
                    sys.stdout.flush()
        case Command.TAKEOVER | Command.RELEASE:
            answer = request(path, {"cmd": cmd, "name": args.name}, timeout=10)
            print(f"{answer['name']}: {cmd} done, priority {answer['priority']}")
        case Command.MAINTENANCE:
            on = args.mode == "on"
            answer = request(path, {"cmd": cmd, "name": args.name, "on": on})
            print(f"{answer['name']}: maintenance {args.mode}, priority {answer['priority']}")
        case Command.RELOAD:
            answer = request(path, {"cmd": cmd}, timeout=60)
            print(", ".join(f"{k}: {' '.join(v) or '-'}" for k, v in answer.items()))
