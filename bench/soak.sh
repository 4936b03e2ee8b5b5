#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/soak.sh - a long run with churn, watched for leaks: about 1,000
# peers alive at a time, streaming with Vanilla through a tracker in the
# node, born and dying all along (an events file from `crystal gen-events`:
# Poisson births, Weibull lifetimes), for an hour by default.  Every
# SOAK_SAMPLE seconds it reads the crystal process's resident memory and
# open descriptors from /proc, and the peers alive from the run's node.csv,
# into a CSV; at the end it says how both moved once the population had
# built up (from twice the lifetime on).  Not part of `make check` or `make bench`: run it by hand, in a
# network namespace of its own if others share the machine.
#
#   sh bench/soak.sh                   an hour
#   SOAK_MINUTES=3 SOAK_LIFETIME=60 sh bench/soak.sh   a short check
#
# Environment (all optional):
#   SOAK_MINUTES   the experiment's length (default 60)
#   SOAK_PEERS     peers alive at a time, in the steady state (default 1000)
#   SOAK_LIFETIME  mean seconds a peer stays (default 600): births come at
#                  SOAK_PEERS / SOAK_LIFETIME a second, each of another
#                  address (born once), so the population builds up over
#                  about one lifetime and then holds
#   SOAK_RATE      the stream's rate (default 32KB/s)
#   SOAK_SAMPLE    seconds between samples (default 60)
#   SOAK_IP        the peers' address (default 127.0.0.9)
#   SOAK_BASE_PORT the tracker's port; the source and the peers follow
#                  (default 12000: the addresses stay below the kernel's
#                  ephemeral ports)
#   SOAK_SEED      seed of the events and the run (default 1)
#   SOAK_OUT       the run directory (default a temporary one, removed)
#   BENCH_RESULTS  directory for soak.csv (default bench/results)
#   BUILD          where crystal is (default build)
#
# Exit status: 0 when the run completed, 1 when it failed, 2 on bad
# settings, 130/143 when interrupted.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
MINUTES=${SOAK_MINUTES:-60}
ALIVE=${SOAK_PEERS:-1000}
LIFETIME=${SOAK_LIFETIME:-600}
RATE=${SOAK_RATE:-32KB/s}
SAMPLE=${SOAK_SAMPLE:-60}
IP=${SOAK_IP:-127.0.0.9}
BASE=${SOAK_BASE_PORT:-12000}
SEED=${SOAK_SEED:-1}

warn() { printf 'soak: %s\n' "$*" >&2; }
usage_err() { warn "$*"; exit 2; }

for v in "$MINUTES" "$ALIVE" "$LIFETIME" "$SAMPLE" "$BASE" "$SEED"; do
	case $v in '' | *[!0-9]* | 0) usage_err "minutes, peers, lifetime, sample, port and seed must be positive integers (got '$v')" ;; esac
done
[ -x "$BUILD/crystal" ] || usage_err "$BUILD/crystal is missing: 'make' builds it"
[ -d /proc/self/fd ] || usage_err "/proc is needed to sample the process"

SECS=$((MINUTES * 60))
NADDR=$((ALIVE * SECS / LIFETIME))
[ "$NADDR" -ge "$ALIVE" ] || NADDR=$ALIVE
LAST=$((BASE + 1 + NADDR))
[ "$LAST" -le 32767 ] || usage_err "$NADDR peers from port $BASE reach the ephemeral ports: a longer SOAK_LIFETIME, fewer SOAK_PEERS or a lower SOAK_BASE_PORT"
# Weibull shape 1.2: its mean is 0.9407 of its scale
SCALE=$(awk -v l="$LIFETIME" 'BEGIN { printf "%.0f", l / 0.9407 }')
ARRIVAL=$(awk -v n="$ALIVE" -v l="$LIFETIME" 'BEGIN { printf "%.4f", n / l }')

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-soak.XXXXXX") || usage_err "cannot create a temporary directory"
OUT=${SOAK_OUT:-$TMP/run}
pid=''
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The experiment: a source and NADDR peers, each born once; the events
# file decides who lives when.
write_ini() { # FILE [EVENTS]
	{
		echo "[experiment]"
		echo "name = soak"
		echo "duration = ${SECS}s"
		echo "seed = $SEED"
		echo "algorithm = vanilla"
		[ $# -lt 2 ] || echo "events = $2"
		echo
		echo "[class source]"
		echo "count = 1"
		echo "addresses = $IP:$((BASE + 1))"
		echo "upload = 2MB/s"
		echo "delay = 5ms"
		echo
		echo "[class peer]"
		echo "count = $NADDR"
		echo "addresses = $IP:$((BASE + 2))-$((BASE + 1 + NADDR))"
		echo "upload = 256KB/s"
		echo "download = 1MB/s"
		echo "delay = 10ms"
		echo
		echo "[session 1]"
		echo "source = $IP:$((BASE + 1))"
		echo "rate = $RATE"
		echo "message_size = 1KiB"
		echo "segment = 1s"
		echo
		echo "[tracker]"
		echo "mode = inproc"
		echo "address = $IP:$BASE"
		echo "peers_per_reply = 20"
	} >"$1"
}
write_ini "$TMP/gen.ini"
"$BUILD/crystal" gen-events --experiment "$TMP/gen.ini" --seed "$SEED" \
	--arrival-rate "$ARRIVAL" --lifetime "weibull:1.2,${SCALE}s" \
	-o "$TMP/soak.events" || { warn "FAILED: crystal gen-events"; exit 1; }
write_ini "$TMP/soak.ini" soak.events

mkdir -p "$RESULTS"
csv=$RESULTS/soak.csv
echo "# bench/soak.sh: $MINUTES min, about $ALIVE peers alive ($NADDR born once each, $ARRIVAL a second, mean life ${LIFETIME} s), vanilla at $RATE; $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" >"$csv.tmp"
echo "t_s,rss_kb,rss_peak_kb,fds,threads,peers_alive" >>"$csv.tmp"

"$BUILD/crystal" run "$TMP/soak.ini" --quiet --out "$OUT" >"$TMP/stdout" 2>"$TMP/stderr" &
pid=$!
start=$(date +%s)
printf 'soak: %s peers in all, about %s alive, for %s min; pid %s; sampling every %s s into %s\n' \
	"$NADDR" "$ALIVE" "$MINUTES" "$pid" "$SAMPLE" "$csv"

# one sample of the process, from /proc
sample() {
	t=$(($(date +%s) - start))
	[ -r "/proc/$pid/status" ] || return 1
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
	fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
	alive=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "peers_alive") c = i; next }
		c { v = $c } END { print v == "" ? "" : v }' "$OUT/node.csv" 2>/dev/null || :)
	[ -n "$rss" ] || return 1
	echo "$t,$rss,$hwm,$fds,$thr,$alive" >>"$csv.tmp"
	printf 'soak: %5d s  RSS %7d KiB  descriptors %6d  peers alive %s\n' "$t" "$rss" "$fds" "${alive:--}"
}

sleep 2
sample || :
next=$SAMPLE
while kill -0 "$pid" 2>/dev/null; do
	now=$(($(date +%s) - start))
	# not in the last seconds, when the run is closing its peers
	if [ "$now" -ge "$next" ] && [ "$now" -lt $((SECS - 2)) ]; then
		sample || :
		next=$((next + SAMPLE))
	fi
	sleep 1
done
rc=0
wait "$pid" || rc=$?
pid=''
mv "$csv.tmp" "$csv"
if [ "$rc" != 0 ]; then
	warn "FAILED: crystal run exited with status $rc"
	tail -n 20 "$TMP/stderr" >&2
	exit 1
fi
# How memory and descriptors moved once the population had built up (from
# twice the lifetime on): a leak grows there, churn alone does not.
awk -F, -v from=$((2 * LIFETIME)) 'NR > 2 && $1 >= from { t[++n] = $1; r[n] = $2; f[n] = $4; a[n] = $6 }
END {
	if (n < 2) { printf "soak: fewer than two samples after %d s: nothing to compare\n", from; exit }
	printf "soak: from %d s to %d s: RSS %d -> %d KiB (%+.1f%%), descriptors %d -> %d, peers alive %s -> %s\n",
		t[1], t[n], r[1], r[n], r[1] ? 100 * (r[n] - r[1]) / r[1] : 0, f[1], f[n], a[1], a[n]
}' "$csv"
awk '
{ s = s $0 "\n" }
END {
	split("births deaths failed_births bad_frames max_rss_kb", k, " ")
	line = "soak:"
	for (i = 1; i <= 5; i++)
		if (match(s, "\"" k[i] "\"[ \t\n]*:[ \t\n]*[0-9]+")) {
			v = substr(s, RSTART, RLENGTH); sub(/^[^:]*:[ \t\n]*/, "", v)
			line = line " " k[i] " " v
		}
	print line
}' "$OUT/summary.json"
echo "soak: CSV in $csv"
