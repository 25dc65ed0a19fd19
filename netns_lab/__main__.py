"""``python -m netns_lab demo|cleanup|list|chaos|migrate|standby``: the demo, removal of a
crashed run's leftovers, the chaos scenarios (`netns_lab.chaos`), the migration from keepalived
(`netns_lab.migrate`) and hot, warm and cold standby side by side (`netns_lab.standby`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .chaos import add_arguments as chaos_arguments
from .chaos import command as chaos_command
from .failover import interval_arg
from .lab import STATE_DIR, LabError, _netns_exists, _same_process, cleanup
from .migrate import add_arguments as migrate_arguments
from .migrate import command as migrate_command
from .standby import add_arguments as standby_arguments
from .standby import command as standby_command


def _list() -> int:
    paths = sorted(STATE_DIR.glob("*.json"))
    if not paths:
        print(f"no labs recorded in {STATE_DIR}")
        return 0
    for path in paths:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            print(f"{path}: unreadable ({e})")
            continue
        owner = state.get("owner_pid")
        live = isinstance(owner, int) and _same_process(owner, state.get("owner_start"))
        spaces = [ns for ns in state.get("namespaces", []) if _netns_exists(ns)]
        print(
            f"{state.get('prefix', path.stem)}: "
            f"{'running (pid ' + str(owner) + ')' if live else 'left over (its run is gone)'}, "
            f"namespaces: {' '.join(spaces) or '-'}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m netns_lab",
        description="Network-namespace lab for vrrpd (needs root).",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="3 routers + a client: kill the master, then stop the new one gracefully",
    )
    demo.add_argument(
        "--interval",
        type=interval_arg,
        default=1.0,
        help="advertisement interval in seconds (default 1; e.g. 0.1)",
    )
    demo.add_argument("--keep-logs", action="store_true", help="keep the vrrpd configs and logs")
    demo.add_argument(
        "--png",
        metavar="FILE",
        help="also draw each failover's timeline as a PNG: FILE-hard.png, FILE-graceful.png "
        "(needs matplotlib: pip install 'vrrpd[plot]')",
    )
    clean = sub.add_parser("cleanup", help="remove what crashed lab runs left behind")
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help=f"every lab recorded in {STATE_DIR}")
    which.add_argument("--prefix", help="the lab with this prefix, e.g. vl3f2a")
    clean.add_argument(
        "--force", action="store_true", help="also labs whose controller is still running"
    )
    sub.add_parser("list", help=f"labs recorded in {STATE_DIR}")
    migrate_arguments(
        sub.add_parser(
            "migrate",
            help="a keepalived pair replaced node by node by vrrpd with the imported configs",
        )
    )
    chaos_arguments(
        sub.add_parser(
            "chaos",
            help="fault scenarios with invariants, vrrpd and/or keepalived side by side",
        )
    )
    standby_arguments(
        sub.add_parser(
            "standby",
            help="hot, warm and cold standby across a hard failover of a stateful gateway",
        )
    )
    args = ap.parse_args(argv)

    if os.geteuid() != 0:
        print("netns_lab: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 1
    if args.command == "list":
        return _list()
    if args.command == "cleanup":
        try:
            n = cleanup(args.prefix, all_=args.all, force=args.force)
        except LabError as e:
            print(f"netns_lab: {e}", file=sys.stderr)
            return 1
        if args.all and n == 0:
            print("nothing to clean up")
        return 0
    if args.command == "chaos":
        return chaos_command(args)
    if args.command == "migrate":
        return migrate_command(args)
    if args.command == "standby":
        return standby_command(args)
    from .demo import run_demo

    return run_demo(interval=args.interval, keep_logs=args.keep_logs, png=args.png)


if __name__ == "__main__":
    sys.exit(main())
