#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/run.sh - Crystal's benchmarks: the relay (the paper's Fig. 4, 5 and
# 9), the link emulation (a fidelity table, Fig. 6 and Fig. 7) and the
# relay chains over one node against three (Fig. 8, bench/fig8.sh).
#
# Every relay point runs `crystal run` (the built-in chains experiment) and,
# in the same invocation, interleaved with it, the raw relay baseline through
# the same number of hops; it reports the medians and the ratio crystal/raw.
# The link-emulation parts measure shaped links: rate and delay errors at
# the receivers beside the kernel's own shaper (fidelity), CPU against the
# per-link rate (Fig. 6) and the chain tails' rate against peers (Fig. 7),
# each beside a plain-C paced relay.  Tables go to stdout, CSV to
# bench/results/.  See bench/README.md.
#
#   make bench                      everything (about 40 minutes on 2 cores)
#   BENCH_QUICK=1 make bench        one short run per point (about 6 minutes)
#   sh bench/run.sh                 the same without rebuilding crystal
#
# Environment (all optional):
#   BENCH_RUNS        runs per point, the median is quoted (default 3; quick 1)
#   BENCH_SECONDS     measured seconds per run, may be fractional (default 3;
#                     quick 1)
#   BENCH_QUICK       1: the defaults above become 1 run of 1 second
#   BENCH_WORKERS     crystal --workers and raw_relay --threads
#                     (default: the number of online CPUs)
#   BENCH_FIGS        which parts, any of: 4 (Fig. 4-5), 9, fidelity, 6, 7,
#                     light (bench/light.sh: how often the light examples
#                     judge their fidelity ok, with their spin's CPU),
#                     hostile (bench/hostile.sh: the relay's rate beside
#                     2,000 idle connections and trickled frames held on
#                     its peers), coding (bench/coding.c: network coding's
#                     encode, decode and recode rates beside ISA-L's own
#                     encoder), 8 (bench/fig8.sh: per-peer rate and CPU vs
#                     peers, one node against three in network namespaces;
#                     as root, else left out with a line saying so),
#                     r2 (bench/r2.sh: 500 and 1,000 R2 peers coding in
#                     real time, continuity and fidelity)
#                     (fig4, fig9, fig6, fig7, fig8 and all are accepted too);
#                     default "4 9 fidelity 6 7 8 light hostile coding r2"
#   BENCH_PEERS       Fig. 4-5 peer counts (default "10 50 100 200 500 1000")
#   BENCH_SIZES       Fig. 9 message sizes in bytes
#                     (default "1024 2048 5120 10240 20480 40960")
#   BENCH_SIZE_PEERS  Fig. 9 peer counts (default "10 100 200")
#   BENCH_FID_LINKS   fidelity: concurrent shaped links (default "1 1000")
#   BENCH_FID_RATES   fidelity: link rates, bytes/s, at one link
#                     (default "10000 100000 1000000 10000000 100000000")
#   BENCH_FID_MANY_RATES  fidelity: the rates measured with more than one
#                     link (default "10000 100000": 1,000 links at 1 MB/s
#                     would be 1 GB/s of 1 KB frames)
#   BENCH_FID_DELAYS  fidelity: one-way delays, ms (default "1 10 50 200")
#   BENCH_FID_DELAY_RATE  fidelity: the link rate of the delay rows
#                     (default 50000)
#   BENCH_KERNEL      fidelity: 0 skips the kernel shaper (default: measure
#                     it when root, with ip and tc)
#   BENCH_F6_RATES    Fig. 6 per-link upload limits, bytes/s (default
#                     "50000 100000 200000 400000 600000 800000 1000000
#                     1200000 1400000 1700000")
#   BENCH_F6_BATCH    Fig. 6: the --batch window of its second crystal run
#                     per point (default 3ms)
#   BENCH_F7_PEERS    Fig. 7 peer counts (default
#                     "10 100 500 1000 2000 3000 4000 4500")
#   BENCH_F7_WARMUP   Fig. 7 seconds before counting (default 3; quick 2)
#   BENCH_F7_SECONDS  Fig. 7 seconds counted (default 5; quick: BENCH_SECONDS)
#   BENCH_CODING_REPS coding: interleaved reps per cell, the median is quoted
#                     (default 5; quick 3)
#   BENCH_CODING_SECONDS  coding: CPU seconds per operation and rep (default
#                     0.3; quick 0.1)
#   BENCH_BASE_PORT   crystal's --base-port (default 28000: clear of crystal's
#                     own default 20000 and of the ephemeral ports from 32768);
#                     if the ports are taken the run is retried from 12000,
#                     then from 15000
#   BENCH_RESULTS     directory for the CSV files (default bench/results)
#   BENCH_KEEP        1: keep the temporary run directories and print where
#   BENCH_COMMIT      the label of the build measured, for the CSV headers
#                     (default: this tree's commit, "+changes" if modified)
#   BUILD             build directory with crystal, libcrystal.a and
#                     bench/raw_relay (default build, next to this bench/
#                     directory); the link-emulation programs are built
#                     there by bench/bench.mk
#
# Exit status: 0 when every run succeeded, 1 when a run failed (the message
# says which and shows its error output), 2 on bad settings, 130/143 when
# interrupted.  No timing is ever a failure: this measures, it does not test.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
CRYSTAL=$BUILD/crystal
RAW=$BUILD/bench/raw_relay
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}

CHAIN=10
RAW_IO=65536
# raw_relay counts bytes only after a warm-up of 0.5 s; crystal runs 0.5 s
# longer and, when it has --warmup, leaves the same first 0.5 s out.
WARMUP=0.5

warn() { printf 'bench: %s\n' "$*" >&2; }
usage_err() { warn "$*"; exit 2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	RUNS=${BENCH_RUNS:-1}
	SECS=${BENCH_SECONDS:-1}
else
	RUNS=${BENCH_RUNS:-3}
	SECS=${BENCH_SECONDS:-3}
fi
CPUS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
WORKERS=${BENCH_WORKERS:-$CPUS}
FIGS=${BENCH_FIGS:-4 9 fidelity 6 7 8 light hostile coding r2}
PEERS=${BENCH_PEERS:-10 50 100 200 500 1000}
SIZES=${BENCH_SIZES:-1024 2048 5120 10240 20480 40960}
SIZE_PEERS=${BENCH_SIZE_PEERS:-10 100 200}
FID_LINKS=${BENCH_FID_LINKS:-1 1000}
FID_RATES=${BENCH_FID_RATES:-10000 100000 1000000 10000000 100000000}
FID_MANY_RATES=${BENCH_FID_MANY_RATES:-10000 100000}
FID_DELAYS=${BENCH_FID_DELAYS:-1 10 50 200}
FID_DELAY_RATE=${BENCH_FID_DELAY_RATE:-50000}
F6_RATES=${BENCH_F6_RATES:-50000 100000 200000 400000 600000 800000 1000000 1200000 1400000 1700000}
F6_BATCH=${BENCH_F6_BATCH:-3ms}
F7_PEERS=${BENCH_F7_PEERS:-10 100 500 1000 2000 3000 4000 4500}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	F7_WARMUP=${BENCH_F7_WARMUP:-2}
	F7_SECS=${BENCH_F7_SECONDS:-$SECS}
	CODING_REPS=${BENCH_CODING_REPS:-3}
	CODING_SECS=${BENCH_CODING_SECONDS:-0.1}
else
	F7_WARMUP=${BENCH_F7_WARMUP:-3}
	F7_SECS=${BENCH_F7_SECONDS:-5}
	CODING_REPS=${BENCH_CODING_REPS:-5}
	CODING_SECS=${BENCH_CODING_SECONDS:-0.3}
fi
KERNEL_WANT=${BENCH_KERNEL:-auto}
BASE_PORT=${BENCH_BASE_PORT:-28000}
KEEP=${BENCH_KEEP:-0}

is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -gt 0 ]
}
for v in "$RUNS" "$WORKERS" "$BASE_PORT"; do
	is_uint "$v" || usage_err "BENCH_RUNS, BENCH_WORKERS and BENCH_BASE_PORT must be positive integers (got '$v')"
done
for v in $PEERS $SIZES $SIZE_PEERS $F7_PEERS $FID_LINKS; do
	is_uint "$v" || usage_err "peer counts, link counts and message sizes must be positive integers (got '$v')"
done
for v in $FID_RATES $FID_MANY_RATES $FID_DELAY_RATE $F6_RATES; do
	is_uint "$v" || usage_err "rates must be positive integers, bytes/s (got '$v')"
done
for v in $FID_DELAYS; do
	is_uint "$v" || usage_err "BENCH_FID_DELAYS takes positive whole milliseconds (got '$v')"
done
awk -v s="$F7_WARMUP" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/) }' ||
	usage_err "BENCH_F7_WARMUP must be a number of seconds (got '$F7_WARMUP')"
awk -v s="$F7_SECS" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && s + 0 > 0) }' ||
	usage_err "BENCH_F7_SECONDS must be a positive number of seconds (got '$F7_SECS')"
awk -v s="$SECS" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && s + 0 > 0) }' ||
	usage_err "BENCH_SECONDS must be a positive number of seconds (got '$SECS')"
DO4=0 DO9=0 DOFID=0 DO6=0 DO7=0 DO8=0 DOLIGHT=0 DOHOSTILE=0 DOCODING=0 DOR2=0
for f in $(printf '%s' "$FIGS" | tr ',' ' '); do
	case $f in
	4 | 5 | 4-5 | fig4 | fig5 | fig4-5) DO4=1 ;;
	9 | fig9) DO9=1 ;;
	fidelity | fid) DOFID=1 ;;
	6 | fig6) DO6=1 ;;
	7 | fig7) DO7=1 ;;
	8 | fig8) DO8=1 ;;
	light) DOLIGHT=1 ;;
	hostile) DOHOSTILE=1 ;;
	coding) DOCODING=1 ;;
	r2) DOR2=1 ;;
	all) DO4=1 DO9=1 DOFID=1 DO6=1 DO7=1 DO8=1 DOLIGHT=1 DOHOSTILE=1 DOCODING=1 DOR2=1 ;;
	*) usage_err "BENCH_FIGS takes 4, 9, fidelity, 6, 7, 8, light, hostile, coding and r2 (got '$f')" ;;
	esac
done
DORELAY=0 DOLINK=0
if [ "$DO4" = 1 ] || [ "$DO9" = 1 ]; then DORELAY=1; fi
if [ "$DOFID" = 1 ] || [ "$DO6" = 1 ] || [ "$DO7" = 1 ]; then DOLINK=1; fi

[ -x "$CRYSTAL" ] || usage_err "$CRYSTAL is missing: 'make bench' builds it (BUILD=$BUILD)"
if [ "$DORELAY" = 1 ]; then
	[ -x "$RAW" ] || usage_err "$RAW is missing: 'make bench' builds it (BUILD=$BUILD)"
fi
# The link-emulation programs: built here, by bench/bench.mk, against this
# build's libcrystal.a.
FIDELITY=$BUILD/bench/fidelity
KSHAPE=$BUILD/bench/kshape
PACED=$BUILD/bench/paced_relay
CODINGB=$BUILD/bench/coding
if [ "$DOLINK" = 1 ] || [ "$DOCODING" = 1 ]; then
	[ -f "$BUILD/libcrystal.a" ] ||
		usage_err "$BUILD/libcrystal.a is missing: 'make bench' builds it (BUILD=$BUILD)"
	command -v make >/dev/null 2>&1 || usage_err "make is needed to build the benchmark programs"
	if ! make -s -C "$ROOT" -f bench/bench.mk BUILD="$BUILD" >"$BUILD/bench-build.log" 2>&1; then
		cat "$BUILD/bench-build.log" >&2
		warn "FAILED: building the benchmark programs (make -f bench/bench.mk BUILD=$BUILD)"
		exit 1
	fi
	rm -f "$BUILD/bench-build.log"
fi

# A run that has not ended this long after its duration is stuck: a failure.
LIMIT=$(awk -v s="$SECS" -v f="$F7_SECS" -v w="$F7_WARMUP" 'BEGIN { printf "%d", (s > f ? s : f) + w + 120 }')

if "$CRYSTAL" run --help 2>&1 | grep -q -- '--warmup'; then
	CRYSTAL_TIME="--duration $(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN { print s + w }') --warmup $WARMUP"
else
	CRYSTAL_TIME="--duration $SECS"
fi
if command -v timeout >/dev/null 2>&1; then HAVE_TIMEOUT=1; else HAVE_TIMEOUT=0; fi

# ---------------------------------------------------------------- cleanup

# The kernel shaper's two network namespaces (fidelity part), deleted on
# exit; see kernel_setup.
KNS_A='' KNS_B=''
kernel_teardown() {
	if [ -n "$KNS_A" ]; then ip netns del "$KNS_A" 2>/dev/null || :; fi
	if [ -n "$KNS_B" ]; then ip netns del "$KNS_B" 2>/dev/null || :; fi
	KNS_A='' KNS_B=''
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-bench.XXXXXX") ||
	usage_err "cannot create a temporary directory"
child=
kchild=
partial=
cleanup() {
	for _pid in $child $kchild; do
		kill -TERM "$_pid" 2>/dev/null || :
		wait "$_pid" 2>/dev/null || :
	done
	child='' kchild=''
	kernel_teardown
	for f in $partial; do rm -f "$f"; done
	if [ "$KEEP" = 1 ]; then
		warn "run directories kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Other work may rebuild build/ while the sweep runs: every run uses copies
# of the binaries taken now, so that all points measure the same build.
if ! { mkdir "$TMP/bin" && cp "$CRYSTAL" "$TMP/bin/crystal" &&
	{ [ "$DORELAY" = 0 ] || cp "$RAW" "$TMP/bin/raw_relay"; } &&
	{ [ "$DOLINK" = 0 ] || cp "$FIDELITY" "$KSHAPE" "$PACED" "$TMP/bin/"; } &&
	{ [ "$DOCODING" = 0 ] || cp "$CODINGB" "$TMP/bin/"; }; }; then
	usage_err "cannot copy the binaries to $TMP/bin"
fi

# The current run is started in the background and waited for, so that an
# interrupt is handled at once: the trap stops that one process (by its id).
run_bg() { # OUT ERR COMMAND...
	_o=$1 _e=$2
	shift 2
	if [ "$HAVE_TIMEOUT" = 1 ]; then
		timeout -k 5 "$LIMIT" "$@" >"$_o" 2>"$_e" </dev/null &
	else
		"$@" >"$_o" 2>"$_e" </dev/null &
	fi
	child=$!
	_rc=0
	wait "$child" || _rc=$?
	child=
	return "$_rc"
}

# fail WHAT RC ERRFILE [RUNDIR]: say what failed, show its output, exit 1.
fail() {
	printf '\n' >&2
	warn "FAILED: $1"
	case $2 in
	124) warn "it did not finish within $LIMIT s and was stopped" ;;
	'') ;;
	*) warn "exit status $2" ;;
	esac
	if [ -s "$3" ]; then
		warn "its error output (last 20 lines):"
		tail -n 20 "$3" | sed 's/^/    /' >&2
	fi
	if [ $# -ge 4 ] && [ -d "$4" ]; then
		for log in "$4"/*.log; do
			[ -s "$log" ] || continue
			if grep -qE ' (ERROR|WARN)' "$log"; then
				warn "errors and warnings in $(basename "$log") (last 10):"
				grep -E ' (ERROR|WARN)' "$log" | tail -n 10 | sed 's/^/    /' >&2
			fi
		done
	fi
	exit 1
}

# ---------------------------------------------------------------- helpers

# Shared awk functions: human-readable rates, sizes and memory.
AWKLIB='
function rate(b) {
	if (b >= 1e9) return sprintf("%.2f GB/s", b / 1e9)
	if (b >= 1e6) return sprintf("%.1f MB/s", b / 1e6)
	if (b >= 1e3) return sprintf("%.1f KB/s", b / 1e3)
	return sprintf("%.0f B/s", b)
}
function size(b) {
	if (b % 1024 == 0) return sprintf("%d KB", b / 1024)
	return sprintf("%d B", b)
}
function mem(kb) { return sprintf("%.1f MiB", kb / 1024) }
'

# median FILE COLUMN: the median of one column of numbers.
median() {
	awk -v c="$2" '
	{ v[NR] = $c + 0 }
	END {
		if (NR == 0) exit 1
		for (i = 2; i <= NR; i++) {
			x = v[i]
			for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
			v[j + 1] = x
		}
		if (NR % 2) m = v[(NR + 1) / 2]
		else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.6f\n", m
	}' "$1"
}

# The fields of summary.json the benchmark uses, on one line, in this order.
# Tolerant of layout (pretty or compact JSON); fails if one is missing or the
# run says it was interrupted.
SUMMARY_KEYS="cumulative_rate_Bps per_peer_rate_Bps tail_rate_Bps cpu_percent max_rss_kb"
summary_fields() {
	awk -v want="$SUMMARY_KEYS" '
	{ s = s $0 "\n" }
	END {
		if (match(s, /"interrupted"[ \t\n]*:[ \t\n]*true/)) {
			print "the run says it was interrupted" > "/dev/stderr"
			exit 1
		}
		n = split(want, k, " ")
		for (i = 1; i <= n; i++) {
			re = "\"" k[i] "\"[ \t\n]*:[ \t\n]*-?[0-9.]+([eE][-+]?[0-9]+)?"
			if (!match(s, re)) {
				print "no " k[i] " in summary.json" > "/dev/stderr"
				exit 1
			}
			v = substr(s, RSTART, RLENGTH)
			sub(/^[^:]*:[ \t\n]*/, "", v)
			printf "%s%s", (i > 1 ? " " : ""), v
		}
		printf "\n"
	}' "$1"
}

progress() {
	if [ -t 2 ]; then printf '\r\033[K%s' "$*" >&2; fi
}
progress_end() {
	if [ -t 2 ]; then printf '\r\033[K' >&2; fi
}

nrun=0

# crystal_once FIG PEERS SIZE RUN SAMPLES: one crystal run; appends
# "cumulative per_peer tail cpu rss" to SAMPLES.
crystal_once() {
	_fig=$1 _p=$2 _s=$3 _r=$4 _samples=$5
	nrun=$((nrun + 1))
	_dir=$TMP/run-$nrun
	_port=$BASE_PORT
	_ports="12000 15000"
	while :; do
		# $CRYSTAL_TIME is two or four words, split on purpose.
		# shellcheck disable=SC2086
		set -- "$TMP/bin/crystal" run --peers "$_p" --chain-length "$CHAIN" \
			--message-size "$_s" $CRYSTAL_TIME --workers "$WORKERS" \
			--base-port "$_port" --out "$_dir" --quiet
		rm -rf "$_dir"
		_rc=0
		run_bg "$_dir.out" "$_dir.err" "$@" || _rc=$?
		if [ "$_rc" = 1 ] && [ -n "$_ports" ] &&
			grep -q 'Address already in use' "$_dir.err"; then
			# Another experiment holds those ports: try elsewhere.
			_next=${_ports%% *}
			case $_ports in *' '*) _ports=${_ports#* } ;; *) _ports= ;; esac
			warn "ports from $_port are taken (another experiment running?); trying from $_next"
			_port=$_next
			continue
		fi
		break
	done
	shift
	_what="crystal, $_p peers, $_s-byte messages, run $_r: $CRYSTAL $*"
	[ "$_rc" = 0 ] || fail "$_what" "$_rc" "$_dir.err" "$_dir"
	[ -s "$_dir/summary.json" ] || fail "$_what (no summary.json)" "" "$_dir.err" "$_dir"
	_line=$(summary_fields "$_dir/summary.json" 2>"$_dir.parse") ||
		fail "$_what (summary.json unusable)" "" "$_dir.parse" "$_dir"
	# five numbers, split on purpose
	# shellcheck disable=SC2086
	set -- $_line
	awk -v c="$1" 'BEGIN { exit !(c > 0) }' ||
		fail "$_what (it relayed nothing: cumulative_rate_Bps = $1)" "" "$_dir.err" "$_dir"
	printf '%s\n' "$_line" >>"$_samples"
	printf '%s,crystal,%s,%s,%s,%s,%s,%s,%s,%s\n' "$_fig" "$_p" "$_s" "$_r" \
		"$1" "$2" "$3" "$4" "$5" >>"$RUNS_CSV"
	[ "$KEEP" = 1 ] || rm -rf "$_dir" "$_dir.out" "$_dir.err" "$_dir.parse"
}

# raw_once FIG HOPS RUN SAMPLES: one raw_relay run; appends its cumulative
# rate to SAMPLES.
raw_once() {
	nrun=$((nrun + 1))
	_out=$TMP/raw-$nrun
	_fig=$1 _p=$2 _r=$3 _samples=$4
	shift 4
	set -- "$TMP/bin/raw_relay" --hops "$_p" --chain "$CHAIN" --io-size "$RAW_IO" \
		--seconds "$SECS" --threads "$WORKERS"
	_rc=0
	run_bg "$_out.out" "$_out.err" "$@" || _rc=$?
	shift
	_what="raw_relay, $_p hops, run $_r: $RAW $*"
	[ "$_rc" = 0 ] || fail "$_what" "$_rc" "$_out.err"
	_c=$(sed -n 's/^raw_relay .*cumulative_Bps=\([0-9.eE+-]*\).*/\1/p' "$_out.out")
	if [ -z "$_c" ] || ! awk -v c="$_c" 'BEGIN { exit !(c > 0) }'; then
		cat "$_out.out" >>"$_out.err"
		fail "$_what (no cumulative_Bps in its output)" "" "$_out.err"
	fi
	printf '%s\n' "$_c" >>"$_samples"
	printf '%s,raw,%s,%s,%s,%s,,,,\n' "$_fig" "$_p" "$RAW_IO" "$_r" "$_c" >>"$RUNS_CSV"
	[ "$KEEP" = 1 ] || rm -f "$_out.out" "$_out.err"
}

# point_row PEERS SIZE CSAMPLES RSAMPLES: the medians of one point as a CSV row.
point_row() {
	_cc=$(median "$3" 1)
	_cp=$(median "$3" 2)
	_ct=$(median "$3" 3)
	_cu=$(median "$3" 4)
	_cm=$(median "$3" 5)
	_rc=$(median "$4" 1)
	awk -v p="$1" -v s="$2" -v n="$RUNS" -v cc="$_cc" -v cp="$_cp" \
		-v ct="$_ct" -v cu="$_cu" -v cm="$_cm" -v rc="$_rc" 'BEGIN {
		printf "%d,%d,%d,%.0f,%.0f,%.0f,%.0f,%.4f,%.1f,%.0f\n",
			p, s, n, cc, cp, ct, rc, cc / rc, cu, cm
	}'
}

# spread_note LABEL PROGRAM SAMPLES: when the runs of a point differ by more
# than 30% (max/min of the cumulative rate), note it for the footnotes of the
# table: on a shared machine other work takes the CPUs now and then.
NOTES=
spread_note() {
	[ "$RUNS" -gt 1 ] || return 0
	_n=$(awk -v label="$1" -v prog="$2" "$AWKLIB"'
	{ v = $1 + 0; if (NR == 1 || v < lo) lo = v; if (NR == 1 || v > hi) hi = v }
	END {
		if (lo > 0 && hi / lo > 1.3)
			printf "%s: %s runs ranged from %s to %s", label, prog, rate(lo), rate(hi)
	}' "$3")
	if [ -n "$_n" ]; then
		NOTES="$NOTES$_n
"
	fi
}
print_notes() {
	if [ -n "$NOTES" ]; then
		echo "  noisy points (runs more than 30% apart; see runs.csv):"
		printf '%s' "$NOTES" | sed 's/^/    /'
		NOTES=
	fi
}

CSV_COLUMNS=peers,message_size,runs,crystal_cumulative_Bps,crystal_per_peer_Bps,tail_rate_Bps,raw_cumulative_Bps,ratio,cpu_percent,max_rss_kb

DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
KERNEL=$(uname -r)
if [ -n "${BENCH_COMMIT:-}" ]; then
	COMMIT=$BENCH_COMMIT
else
	COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ "$COMMIT" != unknown ] &&
		[ -n "$(cd "$ROOT" && GIT_OPTIONAL_LOCKS=0 git status --porcelain -uno 2>/dev/null)" ]; then
		COMMIT=$COMMIT+changes
	fi
fi
ENV_LINE="date=$DATE kernel=$KERNEL cpus=$CPUS workers=$WORKERS runs=$RUNS seconds=$SECS commit=$COMMIT"

# csv_start FILE TITLE COLUMNS [HOW]: a new CSV (written as FILE.tmp, renamed
# when complete).  HOW, a comment line on how it was measured, defaults to
# the relay benchmarks' commands.
csv_start() {
	partial="$partial $1.tmp"
	{
		printf '# %s\n' "$2"
		printf '# %s\n' "$ENV_LINE"
		if [ $# -ge 4 ]; then
			printf '%s\n' "$4" | sed 's/^/# /'
		else
			printf '# crystal: %s run --chain-length %s --workers %s %s --quiet; raw: %s --chain %s --io-size %s --threads %s --seconds %s\n' \
				"$(basename "$CRYSTAL")" "$CHAIN" "$WORKERS" "$CRYSTAL_TIME" \
				"$(basename "$RAW")" "$CHAIN" "$RAW_IO" "$WORKERS" "$SECS"
		fi
		printf '%s\n' "$3"
	} >"$1.tmp"
}
csv_done() {
	mv "$1.tmp" "$1"
}

mkdir -p "$RESULTS" || usage_err "cannot create $RESULTS"
RUNS_CSV=$RESULTS/runs.csv
if [ "$DORELAY" = 1 ]; then
	csv_start "$RUNS_CSV" "Crystal relay benchmarks: every single run (medians are in fig4-5.csv, fig9.csv)" \
		figure,program,peers,message_size,run,cumulative_Bps,per_peer_Bps,tail_rate_Bps,cpu_percent,max_rss_kb
	RUNS_CSV=$RUNS_CSV.tmp
fi

# ---------------------------------------------------------------- header

PLURAL=s
[ "$RUNS" = 1 ] && PLURAL=
echo "Crystal benchmarks, $DATE"
echo "  kernel $KERNEL, $CPUS CPUs, commit $COMMIT, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
if [ "$DORELAY" = 1 ]; then
	echo "  crystal: $CRYSTAL run --workers $WORKERS $CRYSTAL_TIME (chains of $CHAIN, relay, no limits)"
	echo "  raw:     $RAW --threads $WORKERS --io-size $RAW_IO --seconds $SECS (same hops, chains of $CHAIN)"
	case $CRYSTAL_TIME in
	*--warmup*) echo "  both count bytes only after the first $WARMUP s" ;;
	*) echo "  this crystal has no --warmup: its rates include start-up; raw_relay's leave out $WARMUP s" ;;
	esac
	echo "  each point: median of $RUNS run$PLURAL of $SECS s; crystal and raw runs interleaved"
	echo "  ratio = crystal cumulative / raw cumulative; 1 KB = 1024 B for message"
	echo "  sizes, rates in 10^6 and 10^9 bytes per second"
fi

# ---------------------------------------------------------------- Fig. 4-5

FIG45=$RESULTS/fig4-5.csv
if [ "$DO4" = 1 ]; then
	csv_start "$FIG45" "Crystal relay benchmark, Fig. 4-5: cumulative and per-peer rate vs peers; chains of $CHAIN, 1 KB messages, no limits" \
		"$CSV_COLUMNS"
	echo
	echo "Fig. 4-5: rate vs peers (1 KB messages, chains of $CHAIN, no limits)"
	printf '%6s %12s %11s %11s %12s %8s %6s %10s\n' \
		peers "crystal cum" "per peer" "chain tail" "raw (64 KB)" ratio CPU "max RSS"
	for p in $PEERS; do
		cs=$TMP/f4-$p.crystal
		rs=$TMP/f4-$p.raw
		: >"$cs"
		: >"$rs"
		r=1
		while [ "$r" -le "$RUNS" ]; do
			progress "  fig 4-5: $p peers, run $r/$RUNS: crystal"
			crystal_once 4-5 "$p" 1024 "$r" "$cs"
			progress "  fig 4-5: $p peers, run $r/$RUNS: raw"
			raw_once 4-5 "$p" "$r" "$rs"
			r=$((r + 1))
		done
		progress_end
		row=$(point_row "$p" 1024 "$cs" "$rs")
		spread_note "$p peers" crystal "$cs"
		spread_note "$p peers" raw "$rs"
		printf '%s\n' "$row" >>"$FIG45.tmp"
		printf '%s\n' "$row" | awk -F, "$AWKLIB"'{
			printf "%6d %12s %11s %11s %12s %8.3f %5.0f%% %10s\n",
				$1, rate($4), rate($5), rate($6), rate($7), $8, $9, mem($10)
		}'
	done
	print_notes
	csv_done "$FIG45"
fi

# ---------------------------------------------------------------- Fig. 9

FIG9=$RESULTS/fig9.csv
if [ "$DO9" = 1 ]; then
	csv_start "$FIG9" "Crystal relay benchmark, Fig. 9: cumulative rate vs message size; chains of $CHAIN, no limits" \
		"$CSV_COLUMNS"
	echo
	echo "Fig. 9: cumulative rate vs message size (chains of $CHAIN, no limits)"
	printf '%6s %7s %12s %11s %12s %8s %6s %10s\n' \
		peers message "crystal cum" "per peer" "raw (64 KB)" ratio CPU "max RSS"
	for p in $SIZE_PEERS; do
		rs=$TMP/f9-$p.raw
		: >"$rs"
		for s in $SIZES; do : >"$TMP/f9-$p-$s.crystal"; done
		# One round = one raw run and one crystal run per size, so that
		# the baseline is sampled across the whole stretch of time.
		r=1
		while [ "$r" -le "$RUNS" ]; do
			progress "  fig 9: $p peers, run $r/$RUNS: raw"
			raw_once 9 "$p" "$r" "$rs"
			for s in $SIZES; do
				progress "  fig 9: $p peers, run $r/$RUNS: crystal, $s-byte messages"
				crystal_once 9 "$p" "$s" "$r" "$TMP/f9-$p-$s.crystal"
			done
			r=$((r + 1))
		done
		progress_end
		spread_note "$p peers" raw "$rs"
		for s in $SIZES; do
			spread_note "$p peers, $s-byte messages" crystal "$TMP/f9-$p-$s.crystal"
			row=$(point_row "$p" "$s" "$TMP/f9-$p-$s.crystal" "$rs")
			printf '%s\n' "$row" >>"$FIG9.tmp"
			printf '%s\n' "$row" | awk -F, "$AWKLIB"'{
				printf "%6d %7s %12s %11s %12s %8.3f %5.0f%% %10s\n",
					$1, size($2), rate($4), rate($5), rate($7), $8, $9, mem($10)
			}'
		done
	done
	print_notes
	csv_done "$FIG9"
fi

if [ "$DORELAY" = 1 ]; then csv_done "$RESULTS/runs.csv"; fi

# ---------------------------------------------------------------- link emulation: helpers

# sjson FILE KEY: the value of "KEY" in a summary.json (a number, or a
# string without its quotes); fails when the key is missing.
sjson() {
	awk -v k="$2" '
	{ s = s $0 "\n" }
	END {
		re = "\"" k "\"[ \t\n]*:[ \t\n]*(\"[^\"]*\"|-?[0-9.]+([eE][-+]?[0-9]+)?|null|true|false)"
		if (!match(s, re)) exit 1
		v = substr(s, RSTART, RLENGTH)
		sub(/^[^:]*:[ \t\n]*/, "", v)
		gsub(/"/, "", v)
		print v
	}' "$1"
}

# kv KEY LINE: the value of KEY=value in a line of key=value pairs.
kv() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# with_ports OUT ERR COMMAND...: runs COMMAND --base-port PORT from
# BASE_PORT, retried from 12000 then 15000 when those ports are taken;
# returns the command's status.
with_ports() {
	_wo=$1 _we=$2
	shift 2
	_port=$BASE_PORT
	_ports="12000 15000"
	while :; do
		_rc=0
		run_bg "$_wo" "$_we" "$@" --base-port "$_port" || _rc=$?
		if [ "$_rc" = 1 ] && [ -n "$_ports" ] && grep -q 'in use' "$_we"; then
			_next=${_ports%% *}
			case $_ports in *' '*) _ports=${_ports#* } ;; *) _ports= ;; esac
			warn "ports from $_port are taken (another experiment running?); trying from $_next"
			_port=$_next
			continue
		fi
		return "$_rc"
	done
}

# shaped_once DIR ARGS...: one `crystal run` with link limits, its run
# directory DIR.  Returns 3 when its descriptors do not fit (DIR.err says
# so); any other failure ends the benchmark.
shaped_once() {
	_sd=$1
	shift
	rm -rf "$_sd"
	_rc=0
	with_ports "$_sd.out" "$_sd.err" "$TMP/bin/crystal" run "$@" \
		--workers "$WORKERS" --out "$_sd" --quiet || _rc=$?
	if [ "$_rc" = 2 ] && grep -q 'file descriptors' "$_sd.err"; then
		return 3
	fi
	_what="crystal run $* --workers $WORKERS"
	[ "$_rc" = 0 ] || fail "$_what" "$_rc" "$_sd.err" "$_sd"
	[ -s "$_sd/summary.json" ] || fail "$_what (no summary.json)" "" "$_sd.err" "$_sd"
	if grep -q '"interrupted"[[:space:]]*:[[:space:]]*true' "$_sd/summary.json"; then
		fail "$_what (the run says it was interrupted)" "" "$_sd.err" "$_sd"
	fi
	return 0
}

# shaped_fields DIR: the fields of a shaped run's summary.json that Fig. 6
# and 7 use, on one line, in the order of SHAPED_KEYS.
SHAPED_KEYS="tail_wire_rate_Bps cpu_percent fidelity release_late_p99_us timer_lag_p99_us rate_error_worst_percent max_rss_kb frames_per_write release_early_max_us"
shaped_fields() {
	_line=
	for _k in $SHAPED_KEYS; do
		_v=$(sjson "$1/summary.json" "$_k") ||
			fail "crystal run in $1 (no $_k in summary.json)" "" /dev/null "$1"
		_line="$_line${_line:+ }$_v"
	done
	printf '%s\n' "$_line"
}

# paced_once HOPS RATE THREADS SECONDS: one paced_relay run (the CPU floor
# of relaying one frame per system call); sets PACED_TAIL, PACED_MIN and
# PACED_CPU.
paced_once() {
	nrun=$((nrun + 1))
	_po=$TMP/paced-$nrun
	set -- "$TMP/bin/paced_relay" --hops "$1" --chain "$CHAIN" --threads "$3" \
		--rate "$2" --frame "$FRAME" --seconds "$4"
	_rc=0
	run_bg "$_po.out" "$_po.err" "$@" || _rc=$?
	[ "$_rc" = 0 ] || fail "$*" "$_rc" "$_po.err"
	_l=$(grep '^paced_relay ' "$_po.out") || fail "$* (no result line)" "" "$_po.err"
	PACED_TAIL=$(kv tail_mean_Bps "$_l")
	PACED_MIN=$(kv tail_min_Bps "$_l")
	PACED_CPU=$(kv cpu_percent "$_l")
	[ "$KEEP" = 1 ] || rm -f "$_po.out" "$_po.err"
}

# count_ok FILE COLUMN: how many lines say "ok" in that column.
count_ok() {
	awk -v c="$2" '$c == "ok" { n++ } END { print n + 0 }' "$1"
}

# A 1 KB message is a 1,064-byte frame: the 40-byte header counts against
# the links' rates, as on a real access link.
FRAME=1064
# The runs behind the medians of Fig. 6 and 7.
RUNS2_CSV=$RESULTS/runs-shaped.csv
if [ "$DO6" = 1 ] || [ "$DO7" = 1 ]; then
	csv_start "$RUNS2_CSV" "Crystal link emulation, Fig. 6 and 7: every single run (medians are in fig6.csv, fig7.csv)" \
		figure,program,peers,link_upload_Bps,run,tail_wire_rate_Bps,cpu_percent,fidelity,release_late_p99_us,timer_lag_p99_us,rate_error_worst_percent,max_rss_kb,frames_per_write,release_early_max_us \
		"crystal: crystal run --chain-length $CHAIN --message-size 1024 --workers $WORKERS --quiet (see fig6.csv, fig7.csv); crystal-batch: the same with --batch $F6_BATCH; paced: paced_relay --chain $CHAIN --frame $FRAME --seconds $SECS"
	RUNS2_CSV=$RUNS2_CSV.tmp
fi

# ---------------------------------------------------------------- fidelity

# fid_once OUT ARGS...: one bench/fidelity run; its result line in OUT.
fid_once() {
	_fo=$1
	shift
	_rc=0
	with_ports "$_fo" "$_fo.err" "$TMP/bin/fidelity" "$@" --workers "$WORKERS" || _rc=$?
	[ "$_rc" = 0 ] || fail "fidelity $* --workers $WORKERS" "$_rc" "$_fo.err"
	grep -q '^fidelity ' "$_fo" || fail "fidelity $* (no result line)" "" "$_fo.err"
}

# The kernel's shaper: two network namespaces joined by a veth pair, with
# addresses in a private /30 that exists only inside them; the sending end
# carries the qdisc.  Sets KERNEL_OK (1: usable), HAVE_NETEM and the notes.
KERNEL_OK=0 HAVE_NETEM=0 KERNEL_NOTE='' NETEM_NOTE=''
KV_A=crb$$a KV_B=crb$$b
KSPORT=41000
kernel_setup() {
	if [ "$KERNEL_WANT" = 0 ]; then
		KERNEL_NOTE="not measured (BENCH_KERNEL=0)"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		KERNEL_NOTE="not measured: not root (network namespaces and tc need root)"
		return 0
	fi
	if ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then
		KERNEL_NOTE="not measured: ip and tc (iproute2) are not installed"
		return 0
	fi
	KNS_A=crbench-$$-tx
	KNS_B=crbench-$$-rx
	_ke=$TMP/kernel-setup.err
	if ! {
		ip netns add "$KNS_A" && ip netns add "$KNS_B" &&
			ip link add "$KV_A" netns "$KNS_A" type veth peer name "$KV_B" netns "$KNS_B" &&
			ip -n "$KNS_A" addr add 10.200.0.1/30 dev "$KV_A" &&
			ip -n "$KNS_B" addr add 10.200.0.2/30 dev "$KV_B" &&
			ip -n "$KNS_A" link set "$KV_A" up &&
			ip -n "$KNS_B" link set "$KV_B" up &&
			ip netns exec "$KNS_A" true && ip netns exec "$KNS_B" true
	} 2>"$_ke"; then
		KERNEL_NOTE="not measured: could not set up two network namespaces and a veth pair ($(head -n 1 "$_ke"))"
		kernel_teardown
		return 0
	fi
	# No GSO on the shaped end: the shaper then sees packets of wire size
	# (htb lets a GSO burst through as one packet, well over its rate).
	if ! ip -n "$KNS_A" link set dev "$KV_A" gso_max_segs 1 2>"$_ke"; then
		KERNEL_NOTE="GSO could not be turned off on the veth ($(head -n 1 "$_ke"))"
	fi
	if ip netns exec "$KNS_A" tc qdisc add dev "$KV_A" root netem delay 1ms 2>"$_ke"; then
		HAVE_NETEM=1
		ip netns exec "$KNS_A" tc qdisc del dev "$KV_A" root 2>/dev/null || :
	else
		NETEM_NOTE="this kernel has no netem (tc: $(head -n 1 "$_ke")): the kernel's added delay is not measured"
	fi
	KERNEL_OK=1
}

# kernel_qdisc LINKS RATE DELAY_MS: the qdisc of the sending end.  One link:
# tbf (burst 1600 B; under netem when there is a delay).  More: htb with a
# class per connection (the senders' source ports from KSPORT), each with a
# netem leaf when there is a delay.  The queue limit holds 100 ms of the
# rate, at least 64 KB, so that TCP is not cut back by drops.
kernel_qdisc() {
	_kl=$1 _kr=$2 _kd=$3
	_klim=$((_kr / 10))
	[ "$_klim" -ge 65536 ] || _klim=65536
	ip netns exec "$KNS_A" tc qdisc del dev "$KV_A" root 2>/dev/null || :
	awk -v n="$_kl" -v r="$_kr" -v d="$_kd" -v dev="$KV_A" -v lim="$_klim" -v sport="$KSPORT" 'BEGIN {
		if (n == 1 && d > 0) {
			printf "qdisc add dev %s root handle 1: netem delay %dms limit 100000\n", dev, d
			printf "qdisc add dev %s parent 1:1 handle 10: tbf rate %dbps burst 1600 limit %d\n", dev, r, lim
		} else if (n == 1) {
			printf "qdisc add dev %s root tbf rate %dbps burst 1600 limit %d\n", dev, r, lim
		} else {
			printf "qdisc add dev %s root handle 1: htb\n", dev
			for (i = 1; i <= n; i++) {
				printf "class add dev %s parent 1: classid 1:%x htb rate %dbps ceil %dbps burst 1600 cburst 1600 quantum 1514\n", dev, i, r, r
				if (d > 0)
					printf "qdisc add dev %s parent 1:%x handle %x: netem delay %dms limit 10000\n", dev, i, i + 1, d
				printf "filter add dev %s parent 1: protocol ip prio 1 u32 match ip sport %d 0xffff flowid 1:%x\n", dev, sport + i - 1, i
			}
		}
	}' >"$TMP/tc.batch"
	ip netns exec "$KNS_A" tc -batch "$TMP/tc.batch" >"$TMP/tc.err" 2>&1 ||
		fail "tc -batch (the kernel shaper for $_kl links at $_kr B/s, ${_kd} ms)" "" "$TMP/tc.err"
}

# kernel_run OUT LINKS MODE RATE EXPECT_NS INTERVAL_NS WARMUP: a kshape
# receiver in the receiving namespace and a sender in the sending one; the
# receiver's result line in OUT.
kernel_run() {
	_ko=$1 _kl=$2 _km=$3 _kr=$4 _ke=$5 _ki=$6 _kw=$7
	rm -f "$_ko"
	set -- ip netns exec "$KNS_B" "$TMP/bin/kshape" recv --bind 10.200.0.2 \
		--port 5201 --conns "$_kl" --mode "$_km" --size 64 --warmup "$_kw" \
		--seconds "$SECS" --rate "$_kr" --expect "$_ke"
	if [ "$HAVE_TIMEOUT" = 1 ]; then set -- timeout -k 5 "$LIMIT" "$@"; fi
	"$@" >"$_ko" 2>"$_ko.err" </dev/null &
	kchild=$!
	_n=0
	until grep -q '^listening' "$_ko" 2>/dev/null; do
		kill -0 "$kchild" 2>/dev/null || break
		_n=$((_n + 1))
		[ "$_n" -le 100 ] || break
		sleep 0.1
	done
	_rc=0
	run_bg "$_ko.send" "$_ko.send.err" ip netns exec "$KNS_A" "$TMP/bin/kshape" send \
		--connect 10.200.0.2 --port 5201 --conns "$_kl" --mode "$_km" --size 64 \
		--interval "$_ki" --sport-base "$KSPORT" \
		--seconds "$(awk -v w="$_kw" -v s="$SECS" 'BEGIN { print w + s + 30 }')" || _rc=$?
	if [ "$_rc" != 0 ]; then
		kill -TERM "$kchild" 2>/dev/null || :
		wait "$kchild" 2>/dev/null || :
		kchild=
		fail "kshape send ($_kl links, $_km, $_kr B/s)" "$_rc" "$_ko.send.err"
	fi
	_krc=0
	wait "$kchild" || _krc=$?
	kchild=
	[ "$_krc" = 0 ] || fail "kshape recv ($_kl links, $_km, $_kr B/s)" "$_krc" "$_ko.err"
	grep -q '^kshape ' "$_ko" || fail "kshape recv ($_kl links, $_km, $_kr B/s): no result line" "" "$_ko.err"
}

# in_list WORD LIST...: is WORD one of LIST?
in_list() {
	_w=$1
	shift
	for _x in "$@"; do [ "$_x" = "$_w" ] && return 0; done
	return 1
}

FIDCSV=$RESULTS/fidelity.csv
if [ "$DOFID" = 1 ]; then
	if [ "${BENCH_QUICK:-0}" = 1 ]; then FID_W1=1 FID_WMANY=2; else FID_W1=1 FID_WMANY=3; fi
	kernel_setup
	# The machine's own wake-up latency bounds every timer-driven release:
	# a lone timerfd, measured once beside the tables.
	progress "  fidelity: a lone timerfd"
	nrun=$((nrun + 1))
	_rc=0
	run_bg "$TMP/timer-$nrun" "$TMP/timer-$nrun.err" "$TMP/bin/kshape" timer \
		--seconds "$SECS" --interval 5000000 || _rc=$?
	[ "$_rc" = 0 ] || fail "kshape timer" "$_rc" "$TMP/timer-$nrun.err"
	tl=$(grep '^kshape ' "$TMP/timer-$nrun")
	TIMER_P50=$(kv late_p50_us "$tl")
	TIMER_P99=$(kv late_p99_us "$tl")
	TIMER_MAX=$(kv late_max_us "$tl")
	progress_end
	csv_start "$FIDCSV" "Crystal link emulation fidelity: configured vs measured at the receivers, beside the kernel's shaper" \
		links,rate_Bps,delay_ms,message_size,probe_size,probe_interval_ms,measured_mean_Bps,rate_err_mean_pct,rate_err_worst_pct,rate_err_p99_pct,delay_samples,delay_err_min_us,delay_err_p50_us,delay_err_p99_us,delay_err_max_us,engine_fidelity_rate_run,engine_fidelity_delay_run,cpu_rate_run_pct,cpu_delay_run_pct,kernel_shaper,kernel_wire_err_mean_pct,kernel_wire_err_worst_pct,kernel_goodput_err_mean_pct,kernel_goodput_err_worst_pct,kernel_delay_samples,kernel_delay_err_p50_us,kernel_delay_err_p99_us,kernel_delay_err_max_us,busy_delay_err_p50_us,busy_delay_err_p99_us,busy_delay_err_max_us,busy_cpu_pct \
		"crystal: fidelity --links N --rate R --delay D --mode rate|delay --message-size 1024 --probe-size 64 --warmup $FID_W1 (1 link) or $FID_WMANY s --seconds $SECS --workers $WORKERS; busy_*: the delay run again with --busy-poll; kernel: kshape recv|send over a veth pair between two namespaces, tbf burst 1600 (1 link) or htb (a class per connection), window $SECS s
a lone timerfd (kshape timer --interval 5000000 --seconds $SECS) woke late by p50 $TIMER_P50 us, p99 $TIMER_P99 us, max $TIMER_MAX us
kernel shaper: ${KERNEL_NOTE:-measured}${NETEM_NOTE:+; $NETEM_NOTE}"
	fid_rows=
	for r in $FID_RATES; do fid_rows="$fid_rows $r:0"; done
	for d in $FID_DELAYS; do fid_rows="$fid_rows $FID_DELAY_RATE:$d"; done
	for L in $FID_LINKS; do
		rows=$TMP/fid-$L.rows
		: >"$rows"
		skipped=
		if [ "$L" = 1 ]; then w=$FID_W1 iv=5000000; else w=$FID_WMANY iv=100000000; fi
		for rd in $fid_rows; do
			r=${rd%%:*}
			d=${rd#*:}
			# shellcheck disable=SC2086
			if [ "$L" != 1 ] && [ "$d" = 0 ] && ! in_list "$r" $FID_MANY_RATES; then
				skipped="$skipped $r"
				continue
			fi
			dns=$((d * 1000000))
			progress "  fidelity: $L links, $r B/s, $d ms: crystal, rate"
			fid_once "$TMP/fid.rate" --links "$L" --rate "$r" --delay "$dns" --mode rate \
				--message-size 1024 --warmup "$w" --seconds "$SECS"
			progress "  fidelity: $L links, $r B/s, $d ms: crystal, delay"
			fid_once "$TMP/fid.delay" --links "$L" --rate "$r" --delay "$dns" --mode delay \
				--probe-size 64 --probe-interval "$iv" --warmup "$w" --seconds "$SECS"
			progress "  fidelity: $L links, $r B/s, $d ms: crystal, delay, busy polling"
			fid_once "$TMP/fid.busy" --links "$L" --rate "$r" --delay "$dns" --mode delay \
				--probe-size 64 --probe-interval "$iv" --warmup "$w" --seconds "$SECS" --busy-poll
			fr=$(grep '^fidelity ' "$TMP/fid.rate")
			fd=$(grep '^fidelity ' "$TMP/fid.delay")
			fb=$(grep '^fidelity ' "$TMP/fid.busy")
			ksh=none kw='' kww='' kg='' kgw='' kds='' kd50='' kd99='' kdmax=''
			# the kernel's probes as far apart as crystal's were
			kiv=$(kv probe_interval_ns "$fd")
			if [ "$KERNEL_OK" = 1 ]; then
				if [ "$L" = 1 ]; then ksh=tbf; else ksh=htb; fi
				if [ "$d" = 0 ]; then
					progress "  fidelity: $L links, $r B/s: kernel, rate"
					kernel_qdisc "$L" "$r" 0
					kernel_run "$TMP/k.rate" "$L" rate "$r" 0 "$kiv" "$w"
					kl=$(grep '^kshape ' "$TMP/k.rate")
					kw=$(kv wire_err_mean_pct "$kl")
					kww=$(kv wire_err_worst_pct "$kl")
					kg=$(kv goodput_err_mean_pct "$kl")
					kgw=$(kv goodput_err_worst_pct "$kl")
				fi
				if [ "$d" = 0 ] || [ "$HAVE_NETEM" = 1 ]; then
					[ "$d" = 0 ] || ksh=$ksh+netem
					progress "  fidelity: $L links, $r B/s, $d ms: kernel, delay"
					kernel_qdisc "$L" "$r" "$d"
					kernel_run "$TMP/k.delay" "$L" delay "$r" "$dns" "$kiv" "$w"
					kl=$(grep '^kshape ' "$TMP/k.delay")
					kds=$(kv samples "$kl")
					kd50=$(kv delay_err_p50_us "$kl")
					kd99=$(kv delay_err_p99_us "$kl")
					kdmax=$(kv delay_err_max_us "$kl")
				fi
			fi
			printf '%s,%s,%s,1024,64,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
				"$L" "$r" "$d" "$(awk -v n="$kiv" 'BEGIN { print n / 1e6 }')" \
				"$(kv measured_mean_Bps "$fr")" "$(kv rate_err_mean_pct "$fr")" \
				"$(kv rate_err_worst_pct "$fr")" "$(kv rate_err_p99_pct "$fr")" \
				"$(kv samples "$fd")" "$(kv delay_err_min_us "$fd")" \
				"$(kv delay_err_p50_us "$fd")" "$(kv delay_err_p99_us "$fd")" \
				"$(kv delay_err_max_us "$fd")" \
				"$(kv engine_fidelity "$fr")" "$(kv engine_fidelity "$fd")" \
				"$(kv cpu_percent "$fr")" "$(kv cpu_percent "$fd")" \
				"$ksh" "$kw" "$kww" "$kg" "$kgw" "$kds" "$kd50" "$kd99" "$kdmax" \
				"$(kv delay_err_p50_us "$fb")" "$(kv delay_err_p99_us "$fb")" \
				"$(kv delay_err_max_us "$fb")" "$(kv cpu_percent "$fb")" >>"$rows"
		done
		progress_end
		cat "$rows" >>"$FIDCSV.tmp"
		echo
		if [ "$L" = 1 ]; then
			echo "Fidelity, 1 shaped link: configured vs measured at the receiver"
		else
			echo "Fidelity, $L shaped links at once: configured vs measured at the receivers"
		fi
		echo "  crystal: rate error in frame bytes (1 KB messages, links saturated); delay error of"
		echo "  64-byte probes = arrival - creation - (delay + frame/rate); 'engine' = the run's own"
		echo "  fidelity verdict (rate run/delay run); busy p99 = the delay run again with"
		echo "  --busy-poll (workers never sleep: no wake-up lateness, both cores busy), and its CPU"
		if [ "$KERNEL_OK" = 1 ]; then
			if [ "$L" = 1 ]; then
				echo "  kernel: tbf (burst 1600 B) on a veth pair between two network namespaces;"
			else
				echo "  kernel: htb, one class per connection (burst 1600 B), on a veth pair between two"
				echo "  network namespaces;"
			fi
			echo "  rate error on the wire (payload + Ethernet/IP/TCP headers of each segment) and in"
			echo "  goodput (TCP payload, as iperf3 reports it); delay error of 64-byte probes ="
			echo "  arrival - send - delay"
		else
			echo "  kernel shaper: $KERNEL_NOTE"
		fi
		awk -F, -v many="$([ "$L" = 1 ] && echo 0 || echo 1)" -v kok="$KERNEL_OK" "$AWKLIB"'
		BEGIN {
			# one link: signed errors; more: mean of the sizes / the worst, signed
			e = many ? 19 : 9
			fmt = "%10s %6s | %" e "s %9s %9s %9s %7s %9s %5s | %" e "s %" e "s %9s %9s\n"
			printf fmt, "rate", "delay", many ? "rate err mean/worst" : "rate err",
				"delay p50", "p99", "max", "engine", "busy p99", "CPU",
				many ? "wire err mean/worst" : "wire err",
				many ? "goodput mean/worst" : "goodput err", "delay p50", "p99"
		}
		function pct(v) { return v == "" ? "-" : sprintf("%+.3f%%", v) }
		function dly(us) {
			if (us == "") return "-"
			if (us >= 1000 || us <= -1000) return sprintf("%+.2f ms", us / 1000)
			return sprintf("%+.0f us", us)
		}
		function eng(v) { return v == "degraded" ? "deg" : v }
		function pair(m, w) { return m == "" ? "-" : sprintf("%.3f/%+.3f%%", m, w) }
		{
			kd50 = $26 != "" ? dly($26) : (kok && $3 > 0 ? "no netem" : "-")
			printf fmt, rate($2), $3 " ms", (many ? pair($8, $9) : pct($9)),
				dly($13), dly($14), dly($15), eng($16) "/" eng($17),
				dly($30), ($32 == "" ? "-" : sprintf("%.0f%%", $32)),
				(many ? pair($21, $22) : pct($22)),
				(many ? pair($23, $24) : pct($24)), kd50, dly($27)
		}' "$rows"
		if [ -n "$skipped" ]; then
			echo "  not measured at $L links:$(for r in $skipped; do printf ' %s' "$(awk -v b="$r" "$AWKLIB"'BEGIN { print rate(b) }')"; done)"
			echo "  ($L x the rate in 1 KB frames is beyond what 2 cores relay; BENCH_FID_MANY_RATES)"
		fi
		if [ "$KERNEL_OK" = 1 ] && [ "$HAVE_NETEM" = 0 ]; then
			echo "  kernel delay rows: $NETEM_NOTE"
		fi
	done
	echo
	echo "  The machine's own wake-up latency bounds every timer-driven release: a lone timerfd"
	echo "  (kshape timer, every ~5 ms for $SECS s) woke late by p50 $TIMER_P50 us, p99 $TIMER_P99 us,"
	echo "  max $TIMER_MAX us."
	[ -z "$KERNEL_NOTE" ] || [ "$KERNEL_OK" = 0 ] || echo "  note: $KERNEL_NOTE"
	csv_done "$FIDCSV"
	kernel_teardown
fi

# ---------------------------------------------------------------- Fig. 6

# shaped_point FIG PEERS RATE SAMPLES ARGS...: RUNS crystal runs of one
# point; their fields (SHAPED_KEYS) go to SAMPLES, one line per run.
# Returns 3 when the point does not fit in the descriptors.
shaped_point() {
	_fig=$1 _sp=$2 _sr=$3 _ss=$4
	shift 4
	: >"$_ss"
	_run=1
	while [ "$_run" -le "$RUNS" ]; do
		progress "  fig $_fig: $_sp peers, $_sr B/s per link, run $_run/$RUNS: crystal"
		nrun=$((nrun + 1))
		_d=$TMP/run-$nrun
		shaped_once "$_d" "$@" || return 3
		_f=$(shaped_fields "$_d")
		printf '%s\n' "$_f" >>"$_ss"
		printf '%s,%s,%s,%s,%s,%s\n' "$_fig" "${SP_PROG:-crystal}" "$_sp" "$_sr" "$_run" \
			"$(printf '%s' "$_f" | tr ' ' ',')" >>"$RUNS2_CSV"
		[ "$KEEP" = 1 ] || rm -rf "$_d" "$_d.out" "$_d.err"
		_run=$((_run + 1))
	done
	return 0
}

FIG6=$RESULTS/fig6.csv
F6_WARMUP=1
F6_TIME="--duration $(awk -v s="$SECS" -v w="$F6_WARMUP" 'BEGIN { print s + w }') --warmup $F6_WARMUP"
if [ "$DO6" = 1 ]; then
	csv_start "$FIG6" "Crystal link emulation, Fig. 6: CPU vs per-link upload limit; 10 peers in one chain, 1 KB messages, the source as fast as the links take it" \
		peers,link_upload_Bps,runs,tail_wire_rate_Bps,tail_share,cpu_percent,fidelity_ok_runs,release_late_p99_us,timer_lag_p99_us,rate_error_worst_percent,max_rss_kb,paced_tail_Bps,paced_cpu_percent,cpu_ratio,batch,batch_tail_share,batch_cpu_percent,batch_fidelity_ok_runs,batch_frames_per_write,batch_early_max_us,batch_rate_error_worst_percent \
		"crystal: crystal run --peers 10 --chain-length $CHAIN --message-size 1024 --link-upload RATE $F6_TIME --workers $WORKERS --quiet; batch_*: the same with --batch $F6_BATCH; baseline: paced_relay --hops 10 --chain $CHAIN --threads 1 --rate RATE --frame $FRAME --seconds $SECS"
	echo
	echo "Fig. 6: CPU vs per-link upload limit (10 peers in one chain, 1 KB messages; medians of $RUNS)"
	echo "  chain tail = what the last link carried, headers included (tail_wire_rate_Bps);"
	echo "  paced CPU = a plain-C relay of the same 10 hops writing each 1,064-byte frame with"
	echo "  its own system call at the same rate (bench/paced_relay.c): the floor without batching;"
	echo "  batch = the same crystal runs with --batch $F6_BATCH (releases due within it leave"
	echo "  together, up to $F6_BATCH early): its share, CPU, fidelity and frames per write"
	printf '%10s %11s %7s %6s %9s %10s %10s %6s | %7s %6s %9s %7s\n' \
		limit "chain tail" share CPU fidelity "late p99" "paced CPU" ratio \
		share CPU fidelity "fr/wr"
	for r in $F6_RATES; do
		cs=$TMP/f6-$r.crystal
		# $F6_TIME is four words, split on purpose
		# shellcheck disable=SC2086
		shaped_point 6 10 "$r" "$cs" --peers 10 --chain-length "$CHAIN" \
			--message-size 1024 --link-upload "$r" $F6_TIME ||
			fail "crystal run --peers 10 (descriptors)" "" "$TMP/run-$nrun.err"
		progress "  fig 6: 10 peers, $r B/s per link: paced relay"
		bs=$TMP/f6-$r.batch
		# shellcheck disable=SC2086
		SP_PROG=crystal-batch shaped_point 6 10 "$r" "$bs" --peers 10 \
			--chain-length "$CHAIN" --message-size 1024 --link-upload "$r" \
			--batch "$F6_BATCH" $F6_TIME ||
			fail "crystal run --peers 10 (descriptors)" "" "$TMP/run-$nrun.err"
		progress "  fig 6: 10 peers, $r B/s per link: paced relay"
		paced_once 10 "$r" 1 "$SECS"
		printf '6,paced_relay,10,%s,1,%s,%s,,,,,,,\n' "$r" "$PACED_TAIL" "$PACED_CPU" >>"$RUNS2_CSV"
		progress_end
		row=$(awk -v p=10 -v r="$r" -v n="$RUNS" -v tw="$(median "$cs" 1)" \
			-v cpu="$(median "$cs" 2)" -v ok="$(count_ok "$cs" 3)" \
			-v late="$(median "$cs" 4)" -v lag="$(median "$cs" 5)" \
			-v rew="$(median "$cs" 6)" -v rss="$(median "$cs" 7)" \
			-v pt="$PACED_TAIL" -v pc="$PACED_CPU" -v b="$F6_BATCH" \
			-v btw="$(median "$bs" 1)" -v bcpu="$(median "$bs" 2)" \
			-v bok="$(count_ok "$bs" 3)" -v bfw="$(median "$bs" 8)" \
			-v bearly="$(median "$bs" 9)" -v brew="$(median "$bs" 6)" 'BEGIN {
			printf "%d,%d,%d,%.0f,%.4f,%.1f,%d,%.0f,%.0f,%.3f,%.0f,%.0f,%.2f,%.2f,%s,%.4f,%.1f,%d,%.2f,%.0f,%.3f\n",
				p, r, n, tw, tw / r, cpu, ok, late, lag, rew, rss, pt, pc,
				(pc > 0 ? cpu / pc : 0), b, btw / r, bcpu, bok, bfw,
				bearly, brew
		}')
		printf '%s\n' "$row" >>"$FIG6.tmp"
		printf '%s\n' "$row" | awk -F, "$AWKLIB"'{
			printf "%10s %11s %6.1f%% %5.1f%% %4d/%-4d %7.2f ms %9.1f%% %6.2f | %6.1f%% %5.1f%% %4d/%-4d %7.2f\n",
				rate($2), rate($4), 100 * $5, $6, $7, $3, $8 / 1000, $13, $14,
				100 * $16, $17, $18, $3, $19
		}'
	done
	echo "  fidelity = runs the engine judged ok / runs; late p99 = release_late_p99_us;"
	echo "  fr/wr = frames per system call that wrote them (link_fidelity.frames_per_write)"
	csv_done "$FIG6"
fi

# ---------------------------------------------------------------- Fig. 7

FIG7=$RESULTS/fig7.csv
F7_RATE=50000
F7_NEED=49000
F7_TIME="--duration $(awk -v s="$F7_SECS" -v w="$F7_WARMUP" 'BEGIN { print s + w }') --warmup $F7_WARMUP"
F7_BEST='' F7_BEST_ANY='' F7_STOP=''
if [ "$DO7" = 1 ]; then
	csv_start "$FIG7" "Crystal link emulation, Fig. 7: chain tails' rate and CPU vs peers at 50 KB/s per link; chains of $CHAIN, 1 KB messages, source upload = chains x 50 KB/s" \
		peers,chains,source_upload_Bps,runs,tail_wire_rate_Bps,tail_share,cpu_percent,fidelity_ok_runs,release_late_p99_us,timer_lag_p99_us,rate_error_worst_percent,max_rss_kb,paced_tail_Bps,paced_tail_min_Bps,paced_cpu_percent,tails_98,tails_98_fidelity_ok \
		"crystal: crystal run --peers N --chain-length $CHAIN --message-size 1024 --link-upload $F7_RATE --source-upload CHAINSx$F7_RATE $F7_TIME --workers $WORKERS --quiet; baseline: paced_relay --hops N --chain $CHAIN --threads $WORKERS --rate $F7_RATE --frame $FRAME --seconds $F7_SECS"
	echo
	echo "Fig. 7: chain tails and CPU vs peers (50 KB/s per link, chains of $CHAIN, 1 KB messages;"
	echo "  source upload = chains x 50 KB/s; $F7_SECS s counted after a $F7_WARMUP s warm-up; medians of $RUNS)"
	echo "  chain tail = what the chains' last links carried, headers included; the target is"
	echo "  >= 98% of 50 KB/s ($F7_NEED B/s) with fidelity not degraded (most runs ok);"
	echo "  paced = the same chains relayed by plain C, one system call per frame, $WORKERS threads"
	printf '%6s %11s %7s %6s %9s %10s %10s %10s %11s %10s\n' \
		peers "chain tail" share CPU fidelity "late p99" "max RSS" "paced tail" "paced min" "paced CPU"
	for p in $F7_PEERS; do
		k=$(((p + CHAIN - 1) / CHAIN))
		su=$((k * F7_RATE))
		cs=$TMP/f7-$p.crystal
		# $F7_TIME is four words, split on purpose
		# shellcheck disable=SC2086
		if ! shaped_point 7 "$p" "$F7_RATE" "$cs" --peers "$p" --chain-length "$CHAIN" \
			--message-size 1024 --link-upload "$F7_RATE" --source-upload "$su" $F7_TIME; then
			progress_end
			F7_STOP="$p peers do not fit: $(sed -n 's/^crystal run: //p' "$TMP/run-$nrun.err" | head -n 1)"
			break
		fi
		progress "  fig 7: $p peers: paced relay"
		paced_once "$p" "$F7_RATE" "$WORKERS" "$F7_SECS"
		printf '7,paced_relay,%s,%s,1,%s,%s,,,,,,,\n' "$p" "$F7_RATE" "$PACED_TAIL" "$PACED_CPU" >>"$RUNS2_CSV"
		progress_end
		row=$(awk -v p="$p" -v k="$k" -v su="$su" -v n="$RUNS" -v tw="$(median "$cs" 1)" \
			-v cpu="$(median "$cs" 2)" -v ok="$(count_ok "$cs" 3)" \
			-v late="$(median "$cs" 4)" -v lag="$(median "$cs" 5)" \
			-v rew="$(median "$cs" 6)" -v rss="$(median "$cs" 7)" \
			-v pt="$PACED_TAIL" -v pm="$PACED_MIN" -v pc="$PACED_CPU" \
			-v rate="$F7_RATE" -v need="$F7_NEED" 'BEGIN {
			t98 = tw >= need ? 1 : 0
			printf "%d,%d,%d,%d,%.0f,%.4f,%.1f,%d,%.0f,%.0f,%.3f,%.0f,%.0f,%.0f,%.2f,%d,%d\n",
				p, k, su, n, tw, tw / rate, cpu, ok, late, lag, rew, rss, pt, pm, pc,
				t98, (t98 && 2 * ok > n)
		}')
		printf '%s\n' "$row" >>"$FIG7.tmp"
		printf '%s\n' "$row" | awk -F, "$AWKLIB"'{
			printf "%6d %11s %6.1f%% %5.0f%% %4d/%-4d %7.1f ms %10s %10s %11s %9.0f%%\n",
				$1, rate($5), 100 * $6, $7, $8, $4, $9 / 1000, mem($12), rate($13),
				rate($14), $15
		}'
		case $row in *,1,1) F7_BEST=$p ;; esac
		case $row in *,1,?) F7_BEST_ANY=$p ;; esac
	done
	[ -z "$F7_STOP" ] || echo "  stopped: $F7_STOP"
	echo "  largest peer count with chain tails >= 98% of 50 KB/s and fidelity not degraded: ${F7_BEST:-none}"
	echo "  largest peer count with chain tails >= 98% of 50 KB/s, whatever the fidelity: ${F7_BEST_ANY:-none}"
	csv_done "$FIG7"
fi

if [ "$DO6" = 1 ] || [ "$DO7" = 1 ]; then csv_done "$RESULTS/runs-shaped.csv"; fi

# ---------------------------------------------------------------- coding

# Network coding (bench/coding.c): MB/s of payload per CPU second of
# encode, decode and recode, beside ISA-L's own encoder on the same blocks,
# for block sizes 1, 4 and 16 KiB and k = 32 and 64.  The program
# interleaves its reps and prints the table; its CSV goes to coding.csv.
CODING=$RESULTS/coding.csv
if [ "$DOCODING" = 1 ]; then
	echo
	progress "  coding: $CODING_REPS reps of $CODING_SECS s per operation"
	# its own limit: 30 operations a rep, CPU seconds, on a busy machine
	limit_runs=$LIMIT
	LIMIT=$(awk -v r="$CODING_REPS" -v s="$CODING_SECS" 'BEGIN { printf "%d", r * s * 30 * 4 + 60 }')
	rc=0
	run_bg "$TMP/coding.out" "$TMP/coding.err" "$TMP/bin/coding" \
		--reps "$CODING_REPS" --seconds "$CODING_SECS" --csv "$TMP/coding.csv" || rc=$?
	LIMIT=$limit_runs
	progress_end
	[ "$rc" = 0 ] || fail "bench/coding --reps $CODING_REPS --seconds $CODING_SECS" "$rc" "$TMP/coding.err"
	cat "$TMP/coding.out"
	csv_start "$CODING" "Crystal network coding throughput (bench/coding.c): MB/s of payload per CPU second; ratios against ISA-L's encoder on the same row layout (isal_odd)" \
		"$(head -n 1 "$TMP/coding.csv")" \
		"coding --reps $CODING_REPS --seconds $CODING_SECS; medians of interleaved reps"
	tail -n +2 "$TMP/coding.csv" >>"$CODING.tmp"
	csv_done "$CODING"
fi

# ---------------------------------------------------------------- targets

# The project's benchmark targets that these sweeps measure, one row each in
# targets.csv.  A sweep replaces the rows of the parts it measured and keeps
# the others, each with the date and commit it was measured at.
TG=$RESULTS/targets.csv
TG_NEW=$TMP/targets.new
: >"$TG_NEW"
TG_COLUMNS=benchmark,target,measured,required,status,detail,date,commit

# target BENCHMARK TARGET MEASURED OP REQUIRED DETAIL: one row; OP is >= or <=,
# MEASURED empty when the sweep did not measure it.
target() {
	awk -v b="$1" -v t="$2" -v m="$3" -v op="$4" -v req="$5" -v d="$6" \
		-v date="$DATE" -v commit="$COMMIT" 'BEGIN {
		if (m == "") st = "not measured"
		else if (op == ">=") st = (m + 0 >= req + 0) ? "reached" : "short"
		else st = (m + 0 <= req + 0) ? "reached" : "short"
		gsub(/"/, "\"\"", d)
		printf "%s,\"%s\",%s,%s %s,%s,\"%s\",%s,%s\n", b, t, m, op, req, st, d, date, commit
	}' >>"$TG_NEW"
}

if [ "$DO4" = 1 ]; then
	for t in 100:0.25 1000:0.10; do
		p=${t%%:*}
		need=${t#*:}
		row=$(awk -F, -v p="$p" '!/^#/ && $1 == p && $2 == 1024 { print; exit }' "$FIG45")
		m='' d="$p peers not in BENCH_PEERS"
		if [ -n "$row" ]; then
			m=$(printf '%s\n' "$row" | cut -d, -f8)
			d=$(printf '%s\n' "$row" | awk -F, "$AWKLIB"'{ printf "crystal %s, raw relay %s", rate($4), rate($7) }')
		fi
		target fig4 "relay, no limits, 1 KB, $p peers: cumulative rate / raw relay" "$m" ">=" "$need" "$d"
	done
fi
if [ "$DO6" = 1 ]; then
	row=$(awk -F, '!/^#/ && $1 == 10 && $2 == 1700000 { print; exit }' "$FIG6")
	m='' mb='' d="1700000 not in BENCH_F6_RATES" db=$d
	if [ -n "$row" ]; then
		m=$(printf '%s\n' "$row" | cut -d, -f6)
		mb=$(printf '%s\n' "$row" | cut -d, -f17)
		d=$(printf '%s\n' "$row" | awk -F, "$AWKLIB"'{
			printf "exact releases (20 us window); chain tail %s; fidelity ok in %d of %d runs; paced relay floor %.1f%%", rate($4), $7, $3, $13 }')
		db=$(printf '%s\n' "$row" | awk -F, '{
			printf "with --batch %s: chain tail %.1f%% of the limit; fidelity ok in %d of %d runs; %.2f frames per write; frames up to %.0f us early", $15, 100 * $16, $18, $3, $19, $20 }')
	fi
	target fig6 "CPU at 10 peers x 1.7 MB/s per link, % of one core" "$m" "<=" 10 "$d"
	target fig6 "CPU at 10 peers x 1.7 MB/s per link with --batch $F6_BATCH, % of one core" "$mb" "<=" 10 "$db"
fi
if [ "$DO7" = 1 ]; then
	d="largest with chain tails >= 98% whatever the fidelity: ${F7_BEST_ANY:-none}"
	[ -z "$F7_STOP" ] || d="$d; stopped: $F7_STOP"
	target fig7 "peers at 50 KB/s per link with chain tails >= 98% and fidelity not degraded" \
		"${F7_BEST:-0}" ">=" 4000 "$d"
fi
if [ "$DOCODING" = 1 ]; then
	# the worst of encode, decode and recode over every block size and k
	m=$(awk -F, '!/^#/ && $1 ~ /^[0-9]+$/ {
		for (i = 9; i <= 11; i++) if (!n++ || $i < w) { w = $i; at = $1 " B, k " $2 }
	} END { if (n) printf "%.3f,%s\n", w, at }' "$CODING")
	target coding "network coding: encode, decode and recode rate / ISA-L's encoder, worst cell" \
		"${m%%,*}" ">=" 0.8 "worst at ${m#*,}; block sizes 1-16 KiB, k 32 and 64; per CPU second"
fi
if [ "$DOFID" = 1 ]; then
	# over the rows measured with the most links
	many=$(awk -F, '!/^#/ && $1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { print m + 0 }' "$FIDCSV")
	rate_m=$(awk -F, -v L="$many" '!/^#/ && $1 == L && $8 != "" {
		if (!n++ || $8 > m) { m = $8; w = $9; r = $2; d = $3 } }
		END { if (n) printf "%.3f %s %s %s\n", m, w, r, d }' "$FIDCSV")
	delay_m=$(awk -F, -v L="$many" '!/^#/ && $1 == L && $14 != "" {
		if (!n++ || $14 > m) { m = $14; r = $2; d = $3 } }
		END { if (n) printf "%.3f %s %s\n", m / 1000, r, d }' "$FIDCSV")
	busy_m=$(awk -F, -v L="$many" '!/^#/ && $1 == L && $30 != "" {
		if (!n++ || $30 > m) { m = $30; r = $2; d = $3; c = $32 } }
		END { if (n) printf "%.3f %s %s %s\n", m / 1000, r, d, c }' "$FIDCSV")
	if [ "$many" -ge 1000 ] && [ -n "$rate_m" ]; then
		# shellcheck disable=SC2086
		set -- $rate_m
		target fidelity "rate error with $many shaped links, % (mean over links, worst row)" "$1" "<=" 1 \
			"worst row $(awk -v b="$3" "$AWKLIB"'BEGIN { print rate(b) }'), $4 ms; its worst link $2%"
		# shellcheck disable=SC2086
		set -- $delay_m
		target fidelity "added-delay error p99 with $many shaped links, ms (worst row)" "$1" "<=" 1 \
			"worst row $(awk -v b="$2" "$AWKLIB"'BEGIN { print rate(b) }'), $3 ms"
		# shellcheck disable=SC2086
		set -- $busy_m
		target fidelity "added-delay error p99 with $many shaped links and --busy-poll, ms (worst row)" "$1" "<=" 1 \
			"worst row $(awk -v b="$2" "$AWKLIB"'BEGIN { print rate(b) }'), $3 ms; CPU $4% of one core (both busy by design)"
	else
		target fidelity "rate error with 1000 shaped links, % (mean over links, worst row)" "" "<=" 1 \
			"1000 not in BENCH_FID_LINKS"
		target fidelity "added-delay error p99 with 1000 shaped links, ms (worst row)" "" "<=" 1 \
			"1000 not in BENCH_FID_LINKS"
		target fidelity "added-delay error p99 with 1000 shaped links and --busy-poll, ms (worst row)" "" "<=" 1 \
			"1000 not in BENCH_FID_LINKS"
	fi
fi

# Keep the rows this sweep did not measure (a file in another layout is
# replaced): a target is known by its benchmark and text.
if [ -s "$TG_NEW" ]; then
	csv_start "$TG" "Crystal benchmark targets (the project's benchmark plan); each row says when and at which commit it was measured" \
		"$TG_COLUMNS" "written by bench/run.sh; the numbers behind each row are in the part's own CSV"
	old=/dev/null
	if [ -f "$TG" ] && grep -q "^$TG_COLUMNS\$" "$TG"; then old=$TG; fi
	awk -v h="$TG_COLUMNS" '
	function key(line) { return match(line, /^[^,]*,"[^"]*"/) ? substr(line, 1, RLENGTH) : line }
	function status(line) {
		split(substr(line, length(key(line)) + 2), f, ",")
		return f[3]
	}
	/^#/ || $0 == h { next }
	FILENAME == ARGV[1] { if (status($0) != "not measured") fresh[key($0)] = 1; new[++n] = $0; next }
	!(key($0) in fresh) { kept[key($0)] = 1; print }
	END {
		for (i = 1; i <= n; i++)
			if (status(new[i]) != "not measured" || !(key(new[i]) in kept))
				print new[i]
	}' "$TG_NEW" "$old" >>"$TG.tmp"
	csv_done "$TG"
	echo
	echo "Targets (the project's benchmark plan, on this machine)"
	awk -F, -v h="$TG_COLUMNS" '
	function unq(s) { gsub(/^"|"$/, "", s); gsub(/""/, "\"", s); return s }
	/^#/ || $0 == h { next }
	{
		# the quoted fields may hold commas: split by hand
		n = 0; f = ""; q = 0
		for (i = 1; i <= length($0); i++) {
			ch = substr($0, i, 1)
			if (ch == "\"") q = !q
			if (ch == "," && !q) { v[++n] = f; f = ""; continue }
			f = f ch
		}
		v[++n] = f
		printf "  %-9s %s\n", v[1], unq(v[2])
		printf "  %9s measured %s, required %s: %s (%s; %s)\n", "", (v[3] == "" ? "-" : v[3]),
			v[4], toupper(substr(v[5], 1, 1)) substr(v[5], 2), unq(v[6]), substr(v[7], 1, 10)
	}' "$TG"
fi

if [ "$DO8" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo
		echo "Fig. 8: not measured: its three hosts are network namespaces, which take root"
	else
		BUILD=$BUILD BENCH_RESULTS=$RESULTS BENCH_RUNS=$RUNS sh "$ROOT/bench/fig8.sh" || exit $?
	fi
fi

if [ "$DOR2" = 1 ]; then
	echo
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		BENCH_R2_PEERS=${BENCH_R2_PEERS:-500} BENCH_R2_SECONDS=${BENCH_R2_SECONDS:-40} \
			BUILD=$BUILD BENCH_RESULTS=$RESULTS sh "$ROOT/bench/r2.sh" || exit $?
	else
		BUILD=$BUILD BENCH_RESULTS=$RESULTS sh "$ROOT/bench/r2.sh" || exit $?
	fi
fi

if [ "$DOLIGHT" = 1 ]; then
	echo
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		BENCH_LIGHT_RUNS=${BENCH_LIGHT_RUNS:-2} BENCH_LIGHT_SECONDS=${BENCH_LIGHT_SECONDS:-6} \
			BUILD=$BUILD BENCH_RESULTS=$RESULTS sh "$ROOT/bench/light.sh" || exit $?
	else
		BUILD=$BUILD BENCH_RESULTS=$RESULTS sh "$ROOT/bench/light.sh" || exit $?
	fi
fi

if [ "$DOHOSTILE" = 1 ]; then
	echo
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		BENCH_HOSTILE_RUNS=${BENCH_HOSTILE_RUNS:-1} BENCH_HOSTILE_SECONDS=${BENCH_HOSTILE_SECONDS:-2} \
			BUILD=$BUILD BENCH_RESULTS=$RESULTS BENCH_BASE_PORT=$BASE_PORT sh "$ROOT/bench/hostile.sh" || exit $?
	else
		BUILD=$BUILD BENCH_RESULTS=$RESULTS BENCH_BASE_PORT=$BASE_PORT sh "$ROOT/bench/hostile.sh" || exit $?
	fi
fi

echo
echo "CSV in $RESULTS/"
