#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/run.sh - Crystal's relay benchmarks (the paper's Fig. 4, 5 and 9).
#
# Every point runs `crystal run` (the built-in chains experiment) and, in the
# same invocation, interleaved with it, the raw relay baseline through the
# same number of hops; it reports the medians and the ratio crystal/raw.
# Tables go to stdout, CSV to bench/results/.  See bench/README.md.
#
#   make bench                      the whole sweep (about 6 minutes on 2 cores)
#   BENCH_QUICK=1 make bench        one 1-second run per point (about 1 minute)
#   sh bench/run.sh                 the same without rebuilding
#
# Environment (all optional):
#   BENCH_RUNS        runs per point, the median is quoted (default 3; quick 1)
#   BENCH_SECONDS     seconds per run, may be fractional (default 3; quick 1)
#   BENCH_QUICK       1: the defaults above become 1 run of 1 second
#   BENCH_WORKERS     crystal --workers and raw_relay --threads
#                     (default: the number of online CPUs)
#   BENCH_FIGS        which sweeps: "4 9" (default), "4" (Fig. 4-5 and the
#                     targets) or "9"
#   BENCH_PEERS       Fig. 4-5 peer counts (default "10 50 100 200 500 1000")
#   BENCH_SIZES       Fig. 9 message sizes in bytes
#                     (default "1024 2048 5120 10240 20480 40960")
#   BENCH_SIZE_PEERS  Fig. 9 peer counts (default "10 100 200")
#   BENCH_BASE_PORT   crystal's --base-port (default 28000: clear of crystal's
#                     own default 20000 and of the ephemeral ports from 32768);
#                     if the ports are taken the run is retried from 12000,
#                     then from 15000
#   BENCH_RESULTS     directory for the CSV files (default bench/results)
#   BENCH_KEEP        1: keep the temporary run directories and print where
#   BENCH_COMMIT      the label of the build measured, for the CSV headers
#                     (default: this tree's commit, "+changes" if modified)
#   BUILD             build directory with crystal and bench/raw_relay
#                     (default build, next to this bench/ directory)
#
# Exit status: 0 when every run succeeded, 1 when a run failed (the message
# says which and shows its error output), 2 on bad settings, 130/143 when
# interrupted.  No timing is ever a failure: this measures, it does not test.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
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
FIGS=${BENCH_FIGS:-4 9}
PEERS=${BENCH_PEERS:-10 50 100 200 500 1000}
SIZES=${BENCH_SIZES:-1024 2048 5120 10240 20480 40960}
SIZE_PEERS=${BENCH_SIZE_PEERS:-10 100 200}
BASE_PORT=${BENCH_BASE_PORT:-28000}
KEEP=${BENCH_KEEP:-0}

is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -gt 0 ]
}
for v in "$RUNS" "$WORKERS" "$BASE_PORT"; do
	is_uint "$v" || usage_err "BENCH_RUNS, BENCH_WORKERS and BENCH_BASE_PORT must be positive integers (got '$v')"
done
for v in $PEERS $SIZES $SIZE_PEERS; do
	is_uint "$v" || usage_err "peer counts and message sizes must be positive integers (got '$v')"
done
awk -v s="$SECS" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && s + 0 > 0) }' ||
	usage_err "BENCH_SECONDS must be a positive number of seconds (got '$SECS')"
DO4=0 DO9=0
for f in $FIGS; do
	case $f in
	4 | 5 | 4-5) DO4=1 ;;
	9) DO9=1 ;;
	*) usage_err "BENCH_FIGS takes 4 and/or 9 (got '$f')" ;;
	esac
done

for b in "$CRYSTAL" "$RAW"; do
	[ -x "$b" ] || usage_err "$b is missing: 'make bench' builds it (BUILD=$BUILD)"
done

# A run that has not ended this long after its duration is stuck: a failure.
LIMIT=$(awk -v s="$SECS" 'BEGIN { printf "%d", s + 120 }')

if "$CRYSTAL" run --help 2>&1 | grep -q -- '--warmup'; then
	CRYSTAL_TIME="--duration $(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN { print s + w }') --warmup $WARMUP"
else
	CRYSTAL_TIME="--duration $SECS"
fi
if command -v timeout >/dev/null 2>&1; then HAVE_TIMEOUT=1; else HAVE_TIMEOUT=0; fi

# ---------------------------------------------------------------- cleanup

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-bench.XXXXXX") ||
	usage_err "cannot create a temporary directory"
child=
partial=
cleanup() {
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || :
		wait "$child" 2>/dev/null || :
		child=
	fi
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
	cp "$RAW" "$TMP/bin/raw_relay"; }; then
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

# csv_start FILE TITLE: a new CSV (written as FILE.tmp, renamed when complete).
csv_start() {
	partial="$partial $1.tmp"
	{
		printf '# %s\n' "$2"
		printf '# %s\n' "$ENV_LINE"
		printf '# crystal: %s run --chain-length %s --workers %s %s --quiet; raw: %s --chain %s --io-size %s --threads %s --seconds %s\n' \
			"$(basename "$CRYSTAL")" "$CHAIN" "$WORKERS" "$CRYSTAL_TIME" \
			"$(basename "$RAW")" "$CHAIN" "$RAW_IO" "$WORKERS" "$SECS"
		printf '%s\n' "$3"
	} >"$1.tmp"
}
csv_done() {
	mv "$1.tmp" "$1"
}

mkdir -p "$RESULTS" || usage_err "cannot create $RESULTS"
RUNS_CSV=$RESULTS/runs.csv
csv_start "$RUNS_CSV" "Crystal relay benchmarks: every single run (medians are in fig4-5.csv, fig9.csv)" \
	figure,program,peers,message_size,run,cumulative_Bps,per_peer_Bps,tail_rate_Bps,cpu_percent,max_rss_kb
RUNS_CSV=$RUNS_CSV.tmp

# ---------------------------------------------------------------- header

PLURAL=s
[ "$RUNS" = 1 ] && PLURAL=
echo "Crystal relay benchmarks, $DATE"
echo "  kernel $KERNEL, $CPUS CPUs, commit $COMMIT, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
echo "  crystal: $CRYSTAL run --workers $WORKERS $CRYSTAL_TIME (chains of $CHAIN, relay, no limits)"
echo "  raw:     $RAW --threads $WORKERS --io-size $RAW_IO --seconds $SECS (same hops, chains of $CHAIN)"
case $CRYSTAL_TIME in
*--warmup*) echo "  both count bytes only after the first $WARMUP s" ;;
*) echo "  this crystal has no --warmup: its rates include start-up; raw_relay's leave out $WARMUP s" ;;
esac
echo "  each point: median of $RUNS run$PLURAL of $SECS s; crystal and raw runs interleaved"
echo "  ratio = crystal cumulative / raw cumulative; 1 KB = 1024 B for message"
echo "  sizes, rates in 10^6 and 10^9 bytes per second"

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

csv_done "$RESULTS/runs.csv"

# ---------------------------------------------------------------- targets

# The project's benchmark targets that these sweeps measure: peers, required ratio.
TARGETS="100:0.25 1000:0.10"
if [ "$DO4" = 1 ]; then
	TG=$RESULTS/targets.csv
	csv_start "$TG" "Crystal relay benchmark targets: cumulative rate at 1 KB messages as a share of the raw 64 KB relay" \
		"$CSV_COLUMNS,required_ratio,status"
	echo
	echo "Targets (1 KB messages, cumulative rate as a share of the raw relay)"
	printf '%6s %12s %12s %8s %9s  %s\n' peers "crystal cum" "raw (64 KB)" ratio required status
	for t in $TARGETS; do
		p=${t%%:*}
		need=${t#*:}
		row=$(awk -F, -v p="$p" '!/^#/ && $1 == p && $2 == 1024 { print; exit }' "$FIG45")
		if [ -z "$row" ]; then
			printf '%s,1024,0,,,,,,,,%s,not measured\n' "$p" "$need" >>"$TG.tmp"
			printf '%6d %12s %12s %8s %9s  %s\n' "$p" - - - ">= $need" "not measured (not in BENCH_PEERS)"
			continue
		fi
		printf '%s\n' "$row" | awk -F, -v need="$need" -v tg="$TG.tmp" "$AWKLIB"'{
			st = ($8 + 0 >= need + 0) ? "reached" : "short"
			printf "%s,%.2f,%s\n", $0, need, st >> tg
			printf "%6d %12s %12s %8.3f %9s  %s (%.1f%% of raw, needs %.0f%%)\n",
				$1, rate($4), rate($7), $8, ">= " need, st, 100 * $8, 100 * need
		}'
	done
	csv_done "$TG"
fi

echo
echo "CSV in $RESULTS/"
