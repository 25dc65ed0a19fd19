"""The real daemon logging to a real systemd-journald (the private namespace journald of
tests/system/conftest.py), read back with journalctl: structured VRRP_* fields on every
transition, syslog priorities, and journalctl's field matches finding them.

vrrpd runs in a lab namespace with `[daemon] log_target = "journal"` and `journal_socket` set
to the private journald's socket (a path, so it crosses network namespaces).
"""

from __future__ import annotations

import json
import signal
import subprocess

from netns_lab.lab import Lab, wait_for
from tests.helpers import VIP, vr
from tests.system.conftest import Entry, Journal


def journalctl(journal: Journal, *matches: str) -> list[dict[str, str]]:
    """journalctl's own field matching (what an operator types), as JSON entries."""
    base = ["journalctl", f"--namespace={journal.namespace}", "--no-pager"]
    subprocess.run([*base, "--sync"], check=False, capture_output=True, timeout=10)
    cp = subprocess.run(
        [*base, "-o", "json", *matches], check=False, capture_output=True, text=True, timeout=10
    )
    return [json.loads(line) for line in cp.stdout.splitlines() if line.strip()]


def test_transitions_are_structured_journal_entries(lab: Lab, journald: Journal) -> None:
    r1 = lab.add_router("r1", "192.0.2.1/24")
    d = r1.start_vrrpd(
        [vr(priority=150)],
        daemon={"log_target": "journal", "journal_socket": journald.socket_path},
    )
    d.wait_state("gw", "MASTER", timeout=15)
    pid = str(d.pid)

    def ours(e: Entry) -> bool:
        return e.get("_PID") == pid

    master = journald.wait_for(lambda e: ours(e) and e.get("VRRP_STATE") == "MASTER")
    assert master["MESSAGE"] == (
        "gw: state BACKUP -> MASTER reason=master-down vrid=51 iface=eth0 family=ipv4 priority=150"
    )
    assert master["PRIORITY"] == "6"
    assert master["SYSLOG_IDENTIFIER"] == "vrrpd"
    assert master["_TRANSPORT"] == "journal"
    want = {
        "VRRP_NAME": "gw",
        "VRRP_VRID": "51",
        "VRRP_IFACE": "eth0",
        "VRRP_STATE": "MASTER",
        "VRRP_OLD_STATE": "BACKUP",
        "VRRP_REASON": "master-down",
        "VRRP_PRIORITY": "150",
    }
    assert {k: master.get(k) for k in want} == want
    backup = journald.wait_for(lambda e: ours(e) and e.get("VRRP_STATE") == "BACKUP")
    assert backup["MESSAGE"].startswith("gw: state INITIALIZE -> BACKUP reason=startup ")
    assert (backup["VRRP_REASON"], backup["PRIORITY"]) == ("startup", "6")

    # A warning is a warning: the VIP removed by hand is put back, PRIORITY=4.
    r1.del_address(VIP)
    warning = journald.wait_for(lambda e: ours(e) and "putting it back" in e.get("MESSAGE", ""))
    assert warning["MESSAGE"] == (
        "gw: virtual address 192.0.2.254 removed while master; putting it back"
    )
    assert warning["PRIORITY"] == "4"
    wait_for(lambda: r1.has_address(VIP), 5, what="the VIP to be back")

    # What the README promises an operator: journalctl VRRP_NAME=gw VRRP_STATE=MASTER.
    found = journalctl(journald, f"_PID={pid}", "VRRP_NAME=gw", "VRRP_STATE=MASTER")
    assert [e["MESSAGE"] for e in found] == [master["MESSAGE"]]

    # Shutdown is logged there too; nothing went to stderr instead.
    d.process.send_signal(signal.SIGTERM)
    assert d.process.wait(timeout=20) == 0
    journald.wait_for(lambda e: ours(e) and e.get("VRRP_REASON") == "shutdown")
    stderr = d.log_text()
    assert "state BACKUP -> MASTER" not in stderr and "Traceback" not in stderr, stderr
