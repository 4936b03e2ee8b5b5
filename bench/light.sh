#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/light.sh - the fidelity verdict of light runs: the examples a new
# user starts with, run many times, on an otherwise idle machine and beside
# one CPU-bound process, with the workers sleeping until their deadlines
# (the default, --spin off) and waking early to spin the last stretch
# (--spin auto).  It reports how many runs said "ok", the CPU they took and
# the share of it spent spinning, and the release lateness behind each
# verdict.  `make bench` runs it (BENCH_FIGS=light); bench/README.md has
# its latest numbers.
#
#   sh bench/light.sh                the default set (about 17 minutes)
#   BENCH_LIGHT_SPIN="off auto busy1" sh bench/light.sh   with the
#                                    busy-polling reference (26 minutes)
#   BENCH_LIGHT_RUNS=3 sh bench/light.sh
#
# Environment (all optional):
#   BENCH_LIGHT_RUNS      runs per row (default 10)
#   BENCH_LIGHT_EXAMPLES  experiment files, relative to the tree (default
#                         "examples/vanilla-50.ini examples/churn.ini")
#   BENCH_LIGHT_SECONDS   --duration of each run, seconds (default 12; 0:
#                         each example's own duration)
#   BENCH_LIGHT_SPIN      the modes compared (default "off auto"): a --spin
#                         value (off, auto, N%), w1 or w2 for --workers 1 or
#                         2, or busy1 for --busy-poll with one worker, the
#                         precise and costly reference
#   BENCH_LIGHT_LOADS     idle and/or hog (default "idle hog"); hog runs one
#                         CPU-bound process beside each run
#   BENCH_RESULTS         directory for light.csv (default bench/results)
#   BUILD                 where crystal is (default build)
#
# Exit status: 0 when every run completed, 1 when one failed, 2 on bad
# settings, 130/143 when interrupted.  A degraded run is a result, not a
# failure.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
RUNS=${BENCH_LIGHT_RUNS:-10}
EXAMPLES=${BENCH_LIGHT_EXAMPLES:-examples/vanilla-50.ini examples/churn.ini}
SECS=${BENCH_LIGHT_SECONDS:-12}
SPINS=${BENCH_LIGHT_SPIN:-off auto}
LOADS=${BENCH_LIGHT_LOADS:-idle hog}

warn() { printf 'bench: %s\n' "$*" >&2; }
usage_err() { warn "$*"; exit 2; }

case $RUNS in '' | *[!0-9]* | 0) usage_err "BENCH_LIGHT_RUNS must be a positive integer (got '$RUNS')" ;; esac
case $SECS in '' | *[!0-9]*) usage_err "BENCH_LIGHT_SECONDS must be a whole number of seconds (got '$SECS')" ;; esac
for l in $LOADS; do
	case $l in idle | hog) ;; *) usage_err "BENCH_LIGHT_LOADS takes idle and hog (got '$l')" ;; esac
done
for x in $EXAMPLES; do
	[ -f "$ROOT/$x" ] || usage_err "no experiment file $ROOT/$x"
done
[ -x "$BUILD/crystal" ] || usage_err "$BUILD/crystal is missing: 'make' builds it"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-light.XXXXXX") || usage_err "cannot create a temporary directory"
hog=
child=
cleanup() {
	for _p in $hog $child; do kill "$_p" 2>/dev/null || :; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# every run measures the same build, whatever rebuilds build/ meanwhile
cp "$BUILD/crystal" "$TMP/crystal"

# sjson FILE KEY: a number or string from summary.json (first match).
sjson() {
	awk -v k="$2" '
	{ s = s $0 "\n" }
	END {
		re = "\"" k "\"[ \t\n]*:[ \t\n]*(\"[^\"]*\"|-?[0-9.]+([eE][-+]?[0-9]+)?|null|true|false)"
		if (!match(s, re)) { print "-"; exit }
		v = substr(s, RSTART, RLENGTH)
		sub(/^[^:]*:[ \t\n]*/, "", v)
		gsub(/"/, "", v)
		print v
	}' "$1"
}

mkdir -p "$RESULTS"
CSV=$RESULTS/light.csv
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	COMMIT="$COMMIT+changes"
fi
{
	echo "# bench/light.sh at $COMMIT, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(getconf _NPROCESSORS_ONLN) CPUs, $RUNS runs of ${SECS}s"
	echo "example,load,spin,run,fidelity,cpu_percent,spin_cpu_percent,release_late_p99_us,download_late_p99_us,timer_lag_p99_us,wake_late_p99_us,wake_lead_mean_us,wakeups,spin_misses,cores_contended_percent,reason"
} >"$CSV.tmp"

n=0
for load in $LOADS; do
	if [ "$load" = hog ]; then
		sh -c 'while :; do :; done' &
		hog=$!
	fi
	# run by run, every example and spin in turn, so that a spell of
	# slow wake-ups (they come and go over minutes) weighs on all alike
	r=1
	while [ "$r" -le "$RUNS" ]; do
		for x in $EXAMPLES; do
			name=$(basename "$x" .ini)
			for spin in $SPINS; do
				n=$((n + 1))
				d=$TMP/run-$n
				if [ "$spin" = busy1 ]; then
					set -- run "$ROOT/$x" --quiet --busy-poll --workers 1 --out "$d"
				elif [ "$spin" = w1 ]; then
					set -- run "$ROOT/$x" --quiet --workers 1 --out "$d"
				elif [ "$spin" = w2 ]; then
					set -- run "$ROOT/$x" --quiet --workers 2 --out "$d"
				else
					set -- run "$ROOT/$x" --quiet --spin "$spin" --out "$d"
				fi
				[ "$SECS" -gt 0 ] && set -- "$@" --duration "$SECS"
				if [ -t 2 ]; then
					printf '\r\033[K%s %s --spin %s, run %d/%d' "$name" "$load" "$spin" "$r" "$RUNS" >&2
				fi
				"$TMP/crystal" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null &
				child=$!
				rc=0
				wait "$child" || rc=$?
				child=
				if [ "$rc" -ne 0 ] || [ ! -s "$d/summary.json" ]; then
					warn "FAILED: crystal $* (exit $rc)"
					tail -n 20 "$TMP/err" | sed 's/^/    /' >&2
					exit 1
				fi
				s=$d/summary.json
				printf '%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"%s"\n' \
					"$name" "$load" "$spin" "$r" "$(sjson "$s" fidelity)" \
					"$(sjson "$s" cpu_percent)" "$(sjson "$s" spin_cpu_percent)" \
					"$(sjson "$s" release_late_p99_us)" "$(sjson "$s" download_late_p99_us)" \
					"$(sjson "$s" timer_lag_p99_us)" "$(sjson "$s" wake_late_p99_us)" \
					"$(sjson "$s" wake_lead_mean_us)" "$(sjson "$s" wakeups)" \
					"$(sjson "$s" spin_misses)" "$(sjson "$s" cores_contended_percent)" \
					"$(sjson "$s" fidelity_reason | tr -d '",')" >>"$CSV.tmp"
				rm -rf "$d"
			done
		done
		r=$((r + 1))
	done
	if [ -n "$hog" ]; then
		kill "$hog" 2>/dev/null || :
		wait "$hog" 2>/dev/null || :
		hog=
	fi
done
[ -t 2 ] && printf '\r\033[K' >&2
mv "$CSV.tmp" "$CSV"

# The table: per example, load and spin, the verdicts and the medians.
awk -F, '
function med(key, col,    a, k, i, j, x, m) {
	m = 0
	for (i = 1; i <= cnt[key]; i++) a[i] = val[key, i, col] + 0
	for (i = 2; i <= cnt[key]; i++) {
		x = a[i]
		for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]
		a[j + 1] = x
	}
	k = cnt[key]
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
/^#/ { head = $0; next }
$1 == "example" { next }
{
	key = $1 SUBSEP $2 SUBSEP $3
	if (!(key in cnt)) order[++nk] = key
	cnt[key]++
	ok[key] += ($5 == "ok")
	for (c = 6; c <= 13; c++) val[key, cnt[key], c] = $c
}
END {
	print "Light runs: how often the examples say ok (median of each figure; bench/light.sh)"
	printf "%-12s %-5s %-5s %7s %6s %9s %12s %12s %12s %11s %9s\n", \
		"example", "load", "spin", "ok/runs", "CPU", "spin CPU", "release p99", \
		"download p99", "timer lag p99", "wake p99", "lead"
	for (i = 1; i <= nk; i++) {
		key = order[i]
		split(key, f, SUBSEP)
		printf "%-12s %-5s %-5s %4d/%-2d %5.0f%% %8.1f%% %9.0f us %9.0f us %10.0f us %8.0f us %6.0f us\n", \
			f[1], f[2], f[3], ok[key], cnt[key], med(key, 6), med(key, 7), \
			med(key, 8), med(key, 9), med(key, 10), med(key, 11), med(key, 12)
	}
}' "$CSV"
echo "(CSV: $CSV)"
