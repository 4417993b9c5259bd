#!/bin/sh
# tether exec hook "status" for DRBD: prints the local copy's state as the
# exec driver's JSON object. Exits 0 whenever it can tell, "down" included.
# See README.md.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! state; then
	printf '{"role":"down","detail":%s}\n' "$(json_str "drbdsetup status $RES: $D_ERR")"
	exit 0
fi

detail="role:$D_ROLE disk:$D_DISK"
[ -n "$D_PEER" ] && detail="$detail peer $D_PEER role:$D_PEER_ROLE connection:$D_CONN replication:$D_REPL out-of-sync:${D_OOS}KiB"
if fenced; then
	detail="$detail; fenced by tether ($FENCED)"
	[ "$D_ROLE" = Primary ] && detail="$detail, but still Primary: the fence's demotion failed"
fi

case $D_DISK in
Diskless | Failed | Detaching | Attaching | DUnknown | '') role=down ;;
*)
	case $D_ROLE in
	Primary) role=primary ;;
	Secondary) role=replica ;;
	*) role=down ;;
	esac
	;;
esac
# A fence demotes, so a fenced copy reads Secondary: the marker tells it
# from a replica. A Primary is never reported fenced: it takes writes.
if [ "$role" = replica ] && fenced; then
	role=fenced
fi

link_up=false
lag_at=''
if [ "$D_CONN" = Connected ]; then
	link_up=true
	# Connected: it hears the peer now.
	lag_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi

if [ "$role" = replica ]; then
	printf '{"role":"replica","following":%s,"link_up":%s,"lag":%s,"lag_at":%s,"detail":%s}\n' \
		"$(json_str "$D_PEER")" "$link_up" "$D_OOS" "$(json_str "$lag_at")" "$(json_str "$detail")"
else
	printf '{"role":"%s","detail":%s}\n' "$role" "$(json_str "$detail")"
fi
