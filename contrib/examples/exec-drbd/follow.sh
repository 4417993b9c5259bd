#!/bin/sh
# tether exec hook "follow" for DRBD: makes the local copy a Secondary
# replicating from $TETHER_PRIMARY: demote, connect, and watch the
# connection for DRBD_FOLLOW_WAIT seconds. If DRBD drops it again (it does
# on split brain, when the two copies' histories diverged), it exits 3 with
# the recovery command on stdout, leaving the copy Secondary, disconnected
# and marked fenced. See README.md.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

primary=${TETHER_PRIMARY:?TETHER_PRIMARY is not set}
wait_s=${DRBD_FOLLOW_WAIT:-5}

diverged() {
	mark_fenced
	echo "drbdadm connect --discard-my-data $RES"
	echo "DRBD dropped the connection to $primary again after connecting ($1): split brain, most likely (see the kernel log); this copy stays Secondary and disconnected" >&2
	exit 3
}

state || die "drbdsetup status $RES: $D_ERR"
[ -n "$D_PEER" ] || die "resource $RES has no peer"
demote
if [ "$D_CONN" = StandAlone ]; then
	adm connect "$RES" || die "drbdadm connect $RES failed"
fi

i=0
while :; do
	state || die "drbdsetup status $RES: $D_ERR"
	case $D_CONN in
	StandAlone) diverged "connection:StandAlone" ;;
	Connected)
		case $D_REPL in
		Established | SyncTarget | PausedSyncT | WFBitMapT) break ;;
		esac
		;;
	esac
	i=$((i + 1))
	if [ "$i" -ge "$wait_s" ]; then
		# Still connecting: DRBD keeps trying; status shows link_up false.
		echo "not connected to $primary after ${wait_s}s (connection:$D_CONN replication:$D_REPL); DRBD keeps trying" >&2
		break
	fi
	sleep 1
done
unmark_fenced
