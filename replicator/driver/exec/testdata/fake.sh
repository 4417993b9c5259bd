#!/bin/sh
# A fake back end for the driver's tests, one script for every hook (it
# dispatches on $TETHER_ACTION). Its state is files in $FAKE_DIR:
#   role, following   what status reports (no role file: down)
#   status.json       when present, printed by status as is
#   fail.ACTION       when present, ACTION fails with the exit code inside
#   diverged          when present, follow exits 3 (diverged)
#   env.ACTION        written by each run: what it saw
set -eu
d=$FAKE_DIR

read -r _ _ _ _ pgrp _ </proc/$$/stat
{
	env | grep '^TETHER_' | sort
	echo "args=$*"
	echo "pwd=$(pwd)"
	echo "stdin=$(readlink /proc/$$/fd/0)"
	echo "pid=$$"
	echo "pgrp=$pgrp"
	echo "extra=${FAKE_EXTRA-unset}"
} >"$d/env.$TETHER_ACTION"

# The driver runs one hook at a time: catch two at once.
if ! mkdir "$d/lock" 2>/dev/null; then
	echo "another hook is running" >&2
	exit 9
fi
trap 'rmdir "$d/lock"' EXIT

if [ -f "$d/fail.$TETHER_ACTION" ]; then
	echo "first complaint" >&2
	echo "backend refused $TETHER_ACTION" >&2
	exit "$(cat "$d/fail.$TETHER_ACTION")"
fi

role=down
[ -f "$d/role" ] && role=$(cat "$d/role")

case $TETHER_ACTION in
status)
	if [ -f "$d/status.json" ]; then
		cat "$d/status.json"
		exit 0
	fi
	case $role in
	replica)
		printf '{"role":"replica","following":"%s","link_up":true,"lag":12,"lag_at":"2024-05-01T10:00:00Z","offset":7,"detail":"following"}\n' "$(cat "$d/following")"
		;;
	*)
		printf '{"role":"%s","detail":"fake %s"}\n' "$role" "$role"
		;;
	esac
	;;
promote)
	echo primary >"$d/role"
	rm -f "$d/following"
	;;
fence)
	printf '%s\n' "$TETHER_REASON" >"$d/reason"
	if [ "$role" = primary ]; then
		echo fenced >"$d/role"
	fi
	;;
unfence)
	if [ "$role" = fenced ]; then
		echo primary >"$d/role"
	fi
	;;
follow)
	if [ -f "$d/diverged" ]; then
		echo fenced >"$d/role" # the contract: a diverged copy stays fenced
		echo "fake-resync --discard-my-data $TETHER_RESOURCE"
		echo "second line, not the command"
		echo "comparing histories" >&2
		echo "local history diverged from $TETHER_PRIMARY's" >&2
		exit 3
	fi
	echo replica >"$d/role"
	printf '%s\n' "$TETHER_PRIMARY" >"$d/following"
	;;
*)
	echo "unknown action $TETHER_ACTION" >&2
	exit 2
	;;
esac
