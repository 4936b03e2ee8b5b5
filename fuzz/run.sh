#!/bin/sh
# Runs each fuzz target named for FUZZ_SECONDS (default 60) on its corpus:
#   run.sh BUILD NAME...
# runs BUILD/fuzz/fuzz-NAME, starting from fuzz/corpus/NAME (the committed
# seeds, read only) and BUILD/corpus/NAME (what earlier runs found, where
# new inputs go).  Every seed is run first, so a regression on a committed
# input fails at once.  A crash, a sanitizer finding, a leak, a broken
# check, a time-out (FUZZ_TIMEOUT s, default 10, for one input) or running
# out of memory (2 GB) fails the target: its input is kept as
# BUILD/crashes/NAME-*, and the script names it and exits 1.
#
# FUZZ_MAX_LEN (default 8192) bounds the inputs libFuzzer makes.
set -u
build=$1
shift
secs=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
max_len=${FUZZ_MAX_LEN:-8192}
failed=0
total=0
mkdir -p "$build/crashes"
for t in "$@"; do
	bin=$build/fuzz/fuzz-$t
	work=$build/corpus/$t
	log=$build/fuzz-$t.log
	mkdir -p "$work"
	echo "== fuzz-$t: $secs s"
	"$bin" -max_total_time="$secs" -timeout="$timeout" \
		-rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$t-" \
		"$work" "fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -n 1 |
		sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
	echo "-- fuzz-$t: ${execs:-?} runs, coverage ${cov:-?}, $seeds seeds," \
		"$(find "$work" -type f | wc -l) inputs kept"
	total=$((total + ${execs:-0}))
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		tail -n 60 "$log"
		echo "!! fuzz-$t failed (status $rc); the input:"
		ls -1t "$build/crashes/$t-"* 2>/dev/null | head -n 1
		echo "   reproduce: $bin <that file>   (whole log: $log)"
	fi
done
echo "fuzz: $# targets, $total runs, $failed failed"
[ "$failed" -eq 0 ]
