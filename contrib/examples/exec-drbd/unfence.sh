#!/bin/sh
# tether exec hook "unfence" for DRBD: lifts fence.sh's fence, making the
# local copy Primary again (quorum is back and nobody was promoted). No
# --force here: if DRBD refuses, something changed and a person should look.
# See README.md.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fenced || exit 0
state || die "drbdsetup status $RES: $D_ERR"
if [ "$D_ROLE" != Primary ]; then
	adm primary "$RES" || die "drbdadm primary $RES failed: still fenced"
fi
unmark_fenced
