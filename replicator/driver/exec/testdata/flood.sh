#!/bin/sh
# A hook that prints far more than the driver keeps, then fails.
head -c 5000000 /dev/zero | tr '\0' o
yes "stderr line" | head -n 200000 >&2
echo "the last line" >&2
exit 7
