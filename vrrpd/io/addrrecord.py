"""The record of what this daemon changed and must undo (vrrpd.leftovers), kept in a file.

Named for its first use, the addresses vrrpd added on kernels that drop the address
protocol; it now holds everything a SIGKILL would leave: those addresses, the original
values of the sysctls vrrpd sets, whether the accept_mode nft table may exist, the macvlans
created. The file is ``<control_socket>.record`` (`path_for`): next to the control socket,
so that daemons with their own control sockets (two namespaces, two configurations) never
share one, and under /run, which is emptied at boot as the kernel state it describes is.
The daemon holds the control socket's lock while it writes it: one writer.

Every change is recorded *before* it is made (`RecordFile.update`), and each write replaces
the whole file atomically (a temporary file in the same directory, fsync, rename): a crash
leaves the old record or the new one, never half of one, and never one that lists less
than was done. An empty record is no file: a clean exit leaves none. A missing file is an
empty record; an unreadable or corrupt one is too, with a warning, since refusing to start
over it would be worse than forgetting (at worst something stays, as before the record).

`undo` carries out `vrrpd.leftovers.undo_plan`: at start-up (what a killed predecessor
left), for `vrrpd --cleanup` (the same, without starting) and at a clean exit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from ..leftovers import EMPTY, Record, SysctlKey, from_json, to_json, undo_plan
from . import nft, sysctl
from .netlink import Netlink, NetlinkFailure

log = logging.getLogger("vrrpd")


def path_for(control_socket: str | os.PathLike[str]) -> Path:
    """Where the record of the daemon with this control socket lives."""
    return Path(f"{os.fspath(control_socket)}.record")


def load(path: str | os.PathLike[str]) -> Record:
    """The record in `path`; empty if the file is missing, and with a warning if it cannot
    be read or is not a record."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return EMPTY
    except (OSError, UnicodeDecodeError) as e:
        log.warning("record %s unreadable, taken as empty: %s", path, e)
        return EMPTY
    try:
        return from_json(json.loads(text))
    except (ValueError, TypeError, RecursionError) as e:  # JSONDecodeError is a ValueError
        log.warning("record %s corrupt, taken as empty: %s", path, e)
        return EMPTY


def save(path: str | os.PathLike[str], record: Record) -> None:
    """Replace the record in `path` with `record`, atomically; an empty record removes the
    file. Raises OSError if it cannot be written (the old record, if any, is then
    unchanged)."""
    target = Path(path)
    if record.empty:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return
    # One writer (the daemon, which holds the control socket's lock): a name of its own,
    # never followed if something else put a link there (tempfile costs ~1 MiB to import).
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(to_json(record), f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RecordFile:
    """The daemon's record: `state` in memory, the file kept equal to it. Nothing is read
    before `load` (called once the control socket's lock is held)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.state = EMPTY

    def load(self) -> Record:
        self.state = load(self.path)
        return self.state

    def update(self, new: Record) -> None:
        """Make `new` the record, before the change it describes is made. Raises OSError
        if it cannot be written: the change must then not be made."""
        if new != self.state:
            save(self.path, new)
            self.state = new


def _sysctl_name(key: SysctlKey) -> str:
    family, ifname, name = key
    return f"net.ipv{family}.conf.{ifname}.{name}"


def _read(key: SysctlKey) -> str | None:
    try:
        return sysctl.read(*key)
    except OSError:
        return None


async def undo(record: RecordFile, nl: Netlink) -> None:
    """Undo what `record` lists (addresses excepted: the start-up plan removes those, per
    interface): delete the macvlans, give the sysctls their original values back, delete the
    nft table. What fails is logged and stays recorded, to be tried again."""
    state = record.state
    if not state.pending:
        return
    links = {link.name: link for link in await nl.links()}
    plan = undo_plan(state, links, {key: _read(key) for key in state.sysctls})
    failed_links: list[str] = []
    failed_sysctls: list[SysctlKey] = []
    for name in plan.macvlans:
        try:
            await nl.del_link(links[name].index)
            log.info("removed macvlan %s (recorded in %s)", name, record.path)
        except NetlinkFailure as e:
            log.error("macvlan %s not removed: %s", name, e)
            failed_links.append(name)
    for key, original in plan.sysctls:
        try:
            sysctl.write(*key, original)
            log.info("restored %s to %s", _sysctl_name(key), original)
        except OSError as e:
            log.error("%s not restored to %s: %s", _sysctl_name(key), original, e)
            failed_sysctls.append(key)
    nft_failed = False
    if plan.nft_table:
        try:
            await nft.remove(record)
            log.info("removed the accept_mode nft table inet %s", nft.TABLE)
        except OSError as e:
            log.error("accept_mode nft table inet %s not removed: %s", nft.TABLE, e)
            nft_failed = True
    try:
        record.update(plan.left(failed_links, failed_sysctls, nft_failed))
    except OSError as e:
        log.error("record %s not updated after undoing: %s", record.path, e)
