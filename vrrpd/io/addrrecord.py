"""The record of addresses vrrpd added, for kernels that drop the address protocol.

Linux older than 6.1 does not keep IFA_PROTO, so an address carries no mark saying vrrpd
added it. This file stands in for the mark: a JSON list of ``[ifname, "address/prefix"]``
pairs, kept next to the control socket (``<control_socket>.addresses``, see `path_for`) so
that several daemons with their own control sockets never share one. The control socket
normally lives under /run, which is emptied at boot, as the addresses themselves are.

Every write replaces the whole file atomically (a temporary file in the same directory,
then rename): a crash leaves the old record or the new one, never half of one. A missing
file is an empty record; an unreadable or corrupt one is too, with a warning, since refusing
to start over it would be worse than forgetting (at worst a stale address stays, as before
the record existed).

To be of use the daemon records an address *before* adding it (a crash in between leaves an
entry for an absent address, which does no harm) and forgets it *after* removing it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable
from ipaddress import ip_interface
from pathlib import Path

from ..types import IPInterface

log = logging.getLogger("vrrpd")

Entry = tuple[str, IPInterface]  # (interface name, address/prefix)


def path_for(control_socket: str | os.PathLike[str]) -> Path:
    """Where the record of the daemon with this control socket lives."""
    return Path(f"{os.fspath(control_socket)}.addresses")


def load(path: str | os.PathLike[str]) -> set[Entry]:
    """The recorded (ifname, address/prefix) pairs; empty if the file is missing, and with a
    warning if it cannot be read or is not a record."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError) as e:
        log.warning("address record %s unreadable, taken as empty: %s", path, e)
        return set()
    try:
        return _parse(json.loads(text))
    except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
        log.warning("address record %s corrupt, taken as empty: %s", path, e)
        return set()


def _parse(data: object) -> set[Entry]:
    if not isinstance(data, list):
        raise TypeError("not a list")
    out: set[Entry] = set()
    for item in data:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and item[0]
        ):
            raise TypeError(f"entry {item!r} is not [ifname, address/prefix]")
        out.add((item[0], ip_interface(item[1])))  # ValueError if not an address
    return out


def save(path: str | os.PathLike[str], entries: Iterable[Entry]) -> None:
    """Replace the record with `entries`, atomically. Raises OSError if it cannot be
    written (the old record, if any, is then unchanged)."""
    target = Path(path)
    rows = sorted([name, str(iface)] for name, iface in set(entries))
    # One writer (the daemon, which holds the control socket's lock): a name of its own,
    # never followed if something else put a link there (tempfile costs ~1 MiB to import).
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(rows, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add(path: str | os.PathLike[str], ifname: str, *ifaces: IPInterface) -> None:
    """Record that vrrpd adds (or is about to add) `ifaces` on `ifname`."""
    entries = load(path)
    new = {(ifname, i) for i in ifaces}
    if not new <= entries:
        save(path, entries | new)


def remove(path: str | os.PathLike[str], ifname: str, *ifaces: IPInterface) -> None:
    """Forget `ifaces` on `ifname` (vrrpd removed them)."""
    entries = load(path)
    gone = {(ifname, i) for i in ifaces}
    if entries & gone:
        save(path, entries - gone)


def forget_interface(path: str | os.PathLike[str], ifname: str) -> None:
    """Forget everything recorded on `ifname`: after the start-up cleanup removed what the
    record listed there, what is left is stale."""
    entries = load(path)
    kept = {e for e in entries if e[0] != ifname}
    if kept != entries:
        save(path, kept)
