#!/bin/sh
# tether exec hook "promote" for DRBD: makes the local copy Primary now and
# lifts tether's fence. The supervisor has decided (the old primary is
# fenced or dead), so with DRBD_PROMOTE_FORCE=yes it overrides DRBD's
# refusal to promote data that is not UpToDate. See README.md.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

state || die "drbdsetup status $RES: $D_ERR"
if [ "$D_ROLE" != Primary ]; then
	if ! adm primary "$RES"; then
		[ "${DRBD_PROMOTE_FORCE:-no}" = yes ] || die "drbdadm primary $RES failed (disk $D_DISK; see DRBD_PROMOTE_FORCE)"
		echo "drbdadm primary $RES failed; forcing (DRBD_PROMOTE_FORCE=yes)" >&2
		adm primary --force "$RES" || die "drbdadm primary --force $RES failed"
	fi
fi
unmark_fenced
