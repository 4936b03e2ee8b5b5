#!/bin/sh
# Runs every test program given, in order, and ends with one line CI can
# read: "N passed, N failed".  Each program is a cmocka group; its own
# summary lines are summed, and a program that crashes or hangs counts as
# one failure more.  A failure makes the script exit 1.
#
# TEST_TIMEOUT (seconds, default 300) bounds each program, so that a hang
# is reported as a failure rather than stalling CI.
set -u
passed=0
failed=0
TIMEOUT=${TEST_TIMEOUT:-300}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
	name=$(basename "$t")
	echo "== $name"
	start=$(date +%s)
	timeout "$TIMEOUT" "$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	echo "-- $name: $(($(date +%s) - start)) s"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -eq 124 ]; then
		echo "!! $name did not finish in $TIMEOUT s"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $name exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
