#!/bin/sh
# tether exec hook "fence" for DRBD: makes the local copy refuse writes by
# demoting it to Secondary, keeping its data and its connection, and marks
# it fenced so that status says "fenced" until unfence, promote or follow.
# A copy that is already Secondary refuses writes already: nothing to do.
# See README.md (auto-promote must be off).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

state || die "drbdsetup status $RES: $D_ERR"
[ "$D_ROLE" = Primary ] || exit 0
echo "fencing $RES: ${TETHER_REASON:-no reason given}" >&2
mark_fenced
demote
