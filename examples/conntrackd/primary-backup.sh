#!/bin/sh
# conntrackd's standard primary-backup sequence, split for vrrpd's hooks:
#
#   primary-backup.sh commit  [CONF]  before_master (every member): commit the external cache
#                                     to the kernel table, before the addresses move
#   primary-backup.sh primary [CONF]  on_master (the sync group's): flush the caches, resync
#                                     the internal cache with the kernel, bulk-send to the peer
#   primary-backup.sh backup  [CONF]  on_backup: shorten the kernel timers, request a resync
#   primary-backup.sh fault   [CONF]  on_fault: shorten the kernel timers
#
# CONF defaults to /etc/conntrackd/conntrackd.conf. Every step is tried; the exit code is 1
# if any failed (vrrpd logs it; a failed commit does not stop the takeover).
#
# commit is serialised with flock on CONF itself (no lock file left behind): the two virtual
# routers of a sync group decide to become master at the same moment and run before_master
# together, and conntrackd answers a commit requested while another is still in progress at
# once ("commit already in progress, skipping") instead of waiting for it, so without the lock
# one router's addresses could come up before a large commit ends. The second commit finds
# the entries already committed. A single virtual router may call conntrackd -c directly.
set -u
MODE=${1:-}
CONF=${2:-/etc/conntrackd/conntrackd.conf}
BIN=${CONNTRACKD:-/usr/sbin/conntrackd}
status=0

run() {
    if ! "$BIN" -C "$CONF" "$@"; then
        logger -t vrrpd-conntrackd "conntrackd -C $CONF $* failed" 2>/dev/null
        echo "conntrackd -C $CONF $* failed" >&2
        status=1
    fi
}

case "$MODE" in
    commit)
        exec 9<"$CONF"
        flock 9
        run -c
        ;;
    primary)
        run -f
        run -R
        run -B
        ;;
    backup)
        run -t
        run -n
        ;;
    fault)
        run -t
        ;;
    *)
        echo "usage: $0 commit|primary|backup|fault [CONF]" >&2
        exit 2
        ;;
esac
exit $status
