# shellcheck shell=sh
# shellcheck disable=SC2034 # the D_ variables are for the hooks that source this
# Shared by the tether exec hooks for DRBD (status.sh, promote.sh, fence.sh,
# unfence.sh, follow.sh); sourced, not run. See README.md.
#
# Settings, from the environment (the exec driver's env):
#   DRBD_RESOURCE      the DRBD resource; default $TETHER_RESOURCE
#   DRBD_STATE_DIR     where the fence marker lives; default
#                      /var/lib/tether-drbd (not /run: a fence must
#                      survive a reboot)
#   DRBD_PROMOTE_FORCE yes: promote with --force when DRBD refuses (its
#                      data is not UpToDate); default no
#   DRBD_DEMOTE_FORCE  yes: demote with --force when the device is in use
#                      (its users get I/O errors; needs a DRBD whose
#                      drbdsetup(8) has "secondary --force"); default no
#   DRBD_FOLLOW_WAIT   seconds follow.sh watches the connection after
#                      connecting; default 5, keep it under the driver's
#                      timeout
#   DRBDADM, DRBDSETUP the tools; default drbdadm, drbdsetup from $PATH

set -u

RES=${DRBD_RESOURCE:-${TETHER_RESOURCE:?TETHER_RESOURCE is not set: run me from tether}}
STATE_DIR=${DRBD_STATE_DIR:-/var/lib/tether-drbd}
FENCED=$STATE_DIR/$RES.fenced
DRBDADM=${DRBDADM:-drbdadm}
DRBDSETUP=${DRBDSETUP:-drbdsetup}

die() {
	printf '%s\n' "$*" >&2
	exit 1
}

# adm runs drbdadm, its output on stderr (stdout is the hook's answer).
adm() {
	"$DRBDADM" "$@" >&2
}

# state reads the resource into D_ROLE (local role: Primary, Secondary),
# D_DISK (the worst local disk state of its volumes), D_PEER (the peer
# named $TETHER_PRIMARY if there is one, else the Primary peer, else the
# first: tether's node names are taken to be DRBD's host names),
# D_PEER_ROLE, D_CONN (connection to D_PEER: Connected, Connecting,
# StandAlone...), D_REPL (the worst replication state: Established,
# SyncTarget...) and D_OOS (KiB out of sync with D_PEER). It fails, with
# the tool's words in D_ERR, when DRBD cannot say (resource not up).
#
# It reads `drbdsetup status RES --verbose --statistics` (what `drbdadm
# status` shows, every field spelled out):
#   r0 node-id:0 role:Secondary suspended:no
#     volume:0 minor:0 disk:UpToDate ...
#     b node-id:1 connection:Connected role:Primary ...
#       volume:0 replication:Established peer-disk:UpToDate ...
#           received:0 sent:0 out-of-sync:0 pending:0 unacked:0
state() {
	D_ROLE='' D_DISK='' D_PEER='' D_PEER_ROLE='' D_CONN='' D_REPL='' D_OOS=0 D_ERR=''
	if ! out=$("$DRBDSETUP" status "$RES" --verbose --statistics 2>&1); then
		D_ERR=$out
		return 1
	fi
	parsed=$(printf '%s\n' "$out" | awk -v want="${TETHER_PRIMARY-}" '
		function kv(f) { p = index(f, ":"); if (!p) return 0; k = substr(f, 1, p - 1); v = substr(f, p + 1); return 1 }
		NR == 1 { for (i = 2; i <= NF; i++) if (kv($i) && k == "role") lrole = v; next }
		# A peer: indented two spaces, its name first (a name has no colon).
		/^  [^ ]/ && $1 !~ /:/ {
			peer = $1; names[++n] = peer; known[peer] = 1
			for (i = 2; i <= NF; i++) if (kv($i)) {
				if (k == "role") prole[peer] = v
				if (k == "connection") conn[peer] = v
			}
			next
		}
		{
			for (i = 1; i <= NF; i++) if (kv($i)) {
				if (peer == "" && k == "disk" && (disk == "" || disk == "UpToDate")) disk = v
				if (peer != "" && k == "replication" && (repl[peer] == "" || repl[peer] == "Established")) repl[peer] = v
				if (peer != "" && k == "out-of-sync") oos[peer] += v
			}
		}
		END {
			sel = ""
			if (want != "" && (want in known)) sel = want
			for (i = 1; sel == "" && i <= n; i++) if (prole[names[i]] == "Primary") sel = names[i]
			if (sel == "" && n > 0) sel = names[1]
			print "role=" lrole; print "disk=" disk; print "peer=" sel; print "peer_role=" prole[sel]
			print "conn=" conn[sel]; print "repl=" repl[sel]; print "oos=" (oos[sel] + 0)
		}')
	while IFS='=' read -r k v; do
		case $k in
		role) D_ROLE=$v ;;
		disk) D_DISK=$v ;;
		peer) D_PEER=$v ;;
		peer_role) D_PEER_ROLE=$v ;;
		conn) D_CONN=$v ;;
		repl) D_REPL=$v ;;
		oos) D_OOS=$v ;;
		esac
	done <<PARSED
$parsed
PARSED
	[ -n "$D_ROLE" ] || {
		D_ERR="cannot read the role in: $out"
		return 1
	}
}

fenced() { [ -f "$FENCED" ]; }

# mark_fenced records the fence before acting: if the hook dies half way,
# status already says fenced rather than primary.
mark_fenced() {
	mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
	: >"$FENCED" || die "cannot write $FENCED"
}

unmark_fenced() {
	rm -f "$FENCED" || die "cannot remove $FENCED"
}

# demote makes the local copy Secondary (read-only).
demote() {
	[ "$D_ROLE" = Secondary ] && return 0
	adm secondary "$RES" && return 0
	if [ "${DRBD_DEMOTE_FORCE:-no}" = yes ]; then
		adm secondary --force "$RES" && return 0
	fi
	die "drbdadm secondary $RES failed (device in use? stop its users, or see DRBD_DEMOTE_FORCE)"
}

# json_str prints $1 as a JSON string.
json_str() {
	printf '"%s"' "$(printf '%s' "$1" | tr '\n\t' '  ' | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
