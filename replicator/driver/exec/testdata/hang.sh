#!/bin/sh
# A hook that never ends: it forks a child that sleeps, records both pids
# in $HANG_DIR, says "ready" on the fifo $HANG_DIR/ready if there is one,
# and waits. It ignores SIGTERM: only SIGKILL of its whole group ends it.
trap '' TERM
sleep 600 &
echo $! >"$HANG_DIR/child.tmp"
mv "$HANG_DIR/child.tmp" "$HANG_DIR/child.pid"
echo $$ >"$HANG_DIR/leader.tmp"
mv "$HANG_DIR/leader.tmp" "$HANG_DIR/leader.pid"
if [ -p "$HANG_DIR/ready" ]; then
	echo ready >"$HANG_DIR/ready"
fi
wait
