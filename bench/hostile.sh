#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/hostile.sh - a clean relay's throughput beside hostile connections
# held on its peers (issue 12): the built-in chains (--peers peers in
# chains of 10, as fast as they go) alone, beside 2,000 connections that
# said a valid hello and nothing more, spread evenly over the chains' peers,
# beside connections that each began a 16 MiB frame and trickle it a byte
# a second, and beside 24 that each send all of a 16 MiB frame but its last
# byte to the chains' tails (which never stop reading: a peer under
# back-pressure would leave the bytes in its sockets), whose cost is the
# memory in the RSS column.  The hostile connections come from
# bench/hostile.c and are held for the whole run: the default limits keep
# the idle and trickling ones (30 s idle and frame times, a cap of twice the
# peers plus 64 connections a peer), so what is measured is what holding
# them costs; the stalled frames meet the node's budget of unfinished
# frames (256 MiB).  Every point is run several times,
# the builds and modes interleaved, and the medians are quoted, of the
# per-peer rate after the warm-up and of the CPU.  `make bench` runs it
# (BENCH_FIGS=hostile); bench/README.md has its latest numbers.
#
#   sh bench/hostile.sh
#   BENCH_HOSTILE_BEFORE=/path/to/other/crystal sh bench/hostile.sh
#                          the same rows for another build, interleaved
#
# Environment (all optional):
#   BENCH_HOSTILE_RUNS     runs per point (default 5)
#   BENCH_HOSTILE_SECONDS  measured seconds per run, after a 2 s warm-up
#                          (default 5)
#   BENCH_HOSTILE_PEERS    receiving peers (default 50)
#   BENCH_HOSTILE_MODES    any of clean, idle, trickle, stall (default all)
#   BENCH_HOSTILE_IDLE     idle connections (default 2000)
#   BENCH_HOSTILE_TRICKLE  trickling connections (default 200)
#   BENCH_HOSTILE_STALL    stalled 16 MiB frames (default 24)
#   BENCH_HOSTILE_BEFORE   another crystal binary, measured the same way
#   BENCH_BASE_PORT        the source's port (default 28000)
#   BENCH_RESULTS          directory for hostile.csv and hostile-runs.csv
#                          (default bench/results)
#   BUILD                  where crystal is (default build); bench/hostile
#                          is built there
#
# Exit status: 0 when every run completed, 1 when one failed, 2 on bad
# settings, 130/143 when interrupted.  No timing is ever a failure.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
RUNS=${BENCH_HOSTILE_RUNS:-5}
SECS=${BENCH_HOSTILE_SECONDS:-5}
PEERS=${BENCH_HOSTILE_PEERS:-50}
MODES=${BENCH_HOSTILE_MODES:-clean idle trickle stall}
NIDLE=${BENCH_HOSTILE_IDLE:-2000}
NTRICKLE=${BENCH_HOSTILE_TRICKLE:-200}
NSTALL=${BENCH_HOSTILE_STALL:-24}
BEFORE=${BENCH_HOSTILE_BEFORE:-}
BASE=${BENCH_BASE_PORT:-28000}
WARMUP=2
CHAIN=10

warn() { printf 'bench: %s\n' "$*" >&2; }
usage_err() { warn "$*"; exit 2; }

for v in "$RUNS" "$SECS" "$PEERS" "$NIDLE" "$NTRICKLE" "$NSTALL" "$BASE"; do
	case $v in '' | *[!0-9]* | 0) usage_err "runs, seconds, peers, connection counts and ports must be positive integers (got '$v')" ;; esac
done
for m in $MODES; do
	case $m in clean | idle | trickle | stall) ;; *) usage_err "BENCH_HOSTILE_MODES takes clean, idle, trickle and stall (got '$m')" ;; esac
done
[ "$PEERS" -ge "$CHAIN" ] || usage_err "BENCH_HOSTILE_PEERS must be at least $CHAIN (a whole chain)"
[ -x "$BUILD/crystal" ] || usage_err "$BUILD/crystal is missing: 'make' builds it"
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || usage_err "BENCH_HOSTILE_BEFORE: no program $BEFORE"
make -s -C "$ROOT" -f bench/bench.mk BUILD="$BUILD" "$BUILD/bench/hostile" ||
	usage_err "cannot build $BUILD/bench/hostile"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-hostile.XXXXXX") || usage_err "cannot create a temporary directory"
crystal_pid='' hostile_pid=''
cleanup() {
	for pid in $crystal_pid $hostile_pid; do
		kill -TERM "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The binaries as they are now: others may rebuild build/ meanwhile.
mkdir "$TMP/bin"
cp "$BUILD/crystal" "$TMP/bin/after"
cp "$BUILD/bench/hostile" "$TMP/bin/hostile"
BUILDS=after
if [ -n "$BEFORE" ]; then
	cp "$BEFORE" "$TMP/bin/before"
	BUILDS="before after"
fi
LABEL_after=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo this)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	LABEL_after="$LABEL_after+changes"
fi
LABEL_before=before
if [ -n "$BEFORE" ]; then
	LABEL_before=$(git -C "$(dirname "$BEFORE")" rev-parse --short HEAD 2>/dev/null || echo before)
fi

IDTEXT="chains 127.0.0.1:$BASE $PEERS $CHAIN 1"
NPORTS=$((PEERS + 1))
DURATION=$((WARMUP + SECS))

# one BUILD MODE: a run, its line of numbers appended to $TMP/BUILD-MODE
one() {
	out=$TMP/run-$1-$2
	rm -rf "$out"
	"$TMP/bin/$1" run --peers "$PEERS" --chain-length "$CHAIN" \
		--duration "$DURATION" --warmup "$WARMUP" --base-port "$BASE" \
		--quiet --out "$out" >"$TMP/stdout" 2>"$TMP/stderr" &
	crystal_pid=$!
	case $2 in
	idle | trickle | stall)
		sleep 0.3
		n=$NIDLE ports=$BASE:$NPORTS
		[ "$2" = trickle ] && n=$NTRICKLE
		[ "$2" = stall ] && n=$NSTALL ports=$((BASE + CHAIN)):$((PEERS / CHAIN)):$CHAIN
		"$TMP/bin/hostile" --ports "$ports" --conns "$n" \
			--mode "$2" --id-text "$IDTEXT" \
			--seconds $((DURATION + 5)) >"$TMP/hostile.out" &
		hostile_pid=$!
		;;
	esac
	rc=0
	wait "$crystal_pid" || rc=$?
	crystal_pid=''
	if [ -n "$hostile_pid" ]; then
		kill -TERM "$hostile_pid" 2>/dev/null || :
		wait "$hostile_pid" 2>/dev/null || :
		hostile_pid=''
	fi
	if [ "$rc" != 0 ] || [ ! -f "$out/summary.json" ]; then
		warn "FAILED: $1 $2 (exit status $rc)"
		tail -n 20 "$TMP/stderr" >&2
		exit 1
	fi
	awk '
	{ s = s $0 "\n" }
	function num(k, re) {
		re = "\"" k "\"[ \t\n]*:[ \t\n]*-?[0-9.]+([eE][-+]?[0-9]+)?"
		if (!match(s, re)) return -1
		v = substr(s, RSTART, RLENGTH)
		sub(/^[^:]*:[ \t\n]*/, "", v)
		return v + 0
	}
	END {
		closed = num("idle_closed") + num("frame_timeouts") + num("connections_refused") + num("partial_frames_closed")
		printf "%.0f %.2f %.0f %d\n", num("per_peer_rate_Bps"), num("cpu_percent"),
			num("max_rss_kb"), closed < 0 ? 0 : closed
	}' "$out/summary.json" >>"$TMP/$1-$2"
	tail -n 1 "$TMP/$1-$2" | tr ' ' ',' | sed "s/^/$1,$2,/" >>"$TMP/runs"
}

median() {
	awk -v c="$2" '
	{ v[NR] = $c + 0 }
	END {
		for (i = 2; i <= NR; i++) {
			x = v[i]
			for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
			v[j + 1] = x
		}
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.6f\n", m
	}' "$1"
}

total=0
for b in $BUILDS; do for m in $MODES; do total=$((total + RUNS)); done; done
done_runs=0
r=1
while [ "$r" -le "$RUNS" ]; do
	for b in $BUILDS; do
		for m in $MODES; do
			done_runs=$((done_runs + 1))
			printf '\rbench: hostile %d/%d (%s, %s)   ' "$done_runs" "$total" "$b" "$m" >&2
			one "$b" "$m"
		done
	done
	r=$((r + 1))
done
printf '\n' >&2

mkdir -p "$RESULTS"
csv=$RESULTS/hostile.csv
{
	echo "# bench/hostile.sh: $PEERS peers in chains of $CHAIN, $SECS s after a $WARMUP s warm-up, $RUNS runs a point, medians; $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs"
	echo "build,label,mode,connections,per_peer_rate_Bps,vs_clean,cpu_percent,bytes_per_cpu_second,max_rss_kb,closed_by_limits"
} >"$csv.tmp"
printf '\n%-8s %-16s %-8s %6s %14s %9s %7s %16s %9s\n' build label mode conns "per peer" "vs clean" CPU "per CPU-second" RSS
for b in $BUILDS; do
	eval "label=\$LABEL_$b"
	clean_rate=''
	for m in $MODES; do
		f=$TMP/$b-$m
		rate=$(median "$f" 1)
		cpu=$(median "$f" 2)
		rss=$(median "$f" 3)
		closed=$(median "$f" 4)
		n=0
		[ "$m" = idle ] && n=$NIDLE
		[ "$m" = trickle ] && n=$NTRICKLE
		[ "$m" = stall ] && n=$NSTALL
		[ "$m" = clean ] && clean_rate=$rate
		vs=$(awk -v r="$rate" -v c="$clean_rate" 'BEGIN { if (c > 0) printf "%.3f", r / c; else printf "" }')
		per_cpu=$(awk -v r="$rate" -v c="$cpu" -v p="$PEERS" 'BEGIN { if (c > 0) printf "%.0f", r * p / (c / 100); else printf "0" }')
		printf '%s,%s,%s,%d,%.0f,%s,%.1f,%s,%.0f,%.0f\n' "$b" "$label" "$m" "$n" "$rate" "$vs" "$cpu" "$per_cpu" "$rss" "$closed" >>"$csv.tmp"
		awk -v b="$b" -v l="$label" -v m="$m" -v n="$n" -v r="$rate" -v vs="$vs" -v c="$cpu" -v pc="$per_cpu" -v rss="$rss" 'BEGIN {
			printf "%-8s %-16s %-8s %6d %9.1f MB/s %9s %6.0f%% %11.1f MB/s %6.1f MiB\n", b, l, m, n, r / 1e6, vs == "" ? "-" : sprintf("%.2f", vs), c, pc / 1e6, rss / 1024
		}'
	done
done
mv "$csv.tmp" "$csv"
{
	echo "build,mode,per_peer_rate_Bps,cpu_percent,max_rss_kb,closed_by_limits"
	cat "$TMP/runs"
} >"$RESULTS/hostile-runs.csv"
printf '\n(CSV in %s, every run in hostile-runs.csv; per CPU-second: all peers'"'"' bytes over the CPU the run took)\n' "$csv"
