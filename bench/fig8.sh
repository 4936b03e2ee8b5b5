#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/fig8.sh - the paper's Fig. 8: the per-peer rate and the CPU of the
# relay chains against the number of peers, on one node and spread over
# three nodes.  The three nodes are emulated hosts on this machine
# (network namespaces on a bridge, scripts/netns-hosts.sh, NET.1-3); the
# one node runs in the first of them.  `make bench` runs it
# (BENCH_FIGS=8); bench/README.md has its latest numbers.
#
# Each point is the relay chains experiment of Fig. 7 written as a file:
# P peers in chains of 10, 1 KB messages, every link's upload limited to
# 50 KB/s, the source's to chains x 50 KB/s, the source sending as fast
# as its links take it.  On one node every peer is at NET.1; on three,
# hop j of every chain is on node j mod 3 (the source on the first), so
# that every link of every chain crosses from one host to another, as
# peers spread over a cluster's servers do.  The three nodes start
# together, each `crystal run` of the same file in its namespace.
#
#   sh bench/fig8.sh                    (as root; about 6 minutes)
#   BENCH_F8_PEERS="300 1000" BENCH_F8_RUNS=1 sh bench/fig8.sh
#
# Environment (all optional):
#   BENCH_F8_PEERS    peer counts, multiples of 10 (default "300 1000 2000")
#   BENCH_F8_RUNS     runs per point, the median is quoted (default
#                     BENCH_RUNS, or 3; quick 1)
#   BENCH_F8_WARMUP   seconds before counting (default 3; quick 2)
#   BENCH_F8_SECONDS  seconds counted (default 5; quick 2)
#   BENCH_F8_WORKERS  --workers of the one node (default: online CPUs)
#   BENCH_F8_WORKERS3 --workers of each of the three nodes (default 1:
#                     three processes on this machine's cores)
#   BENCH_F8_NET      the hosts' network, /24 (default 10.81.0)
#   BENCH_RESULTS     directory for fig8.csv (default bench/results)
#   BENCH_KEEP        1: keep the run directories and print where
#   BUILD             where crystal is (default build)
#
# per-peer rate = what the chains' last links carried (headers included,
# as tail_wire_rate_Bps of summary.json), averaged over every tail of the
# run; share = that over the 50 KB/s limit; CPU = the nodes' cpu_percent
# summed (one core = 100 %).  Exit status: 0 when every run completed, 1
# when one failed (its error output is shown), 2 on bad settings or
# without root, 130/143 when interrupted.  A low rate is a result, not a
# failure.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
CRYSTAL=$BUILD/crystal
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
PEERS=${BENCH_F8_PEERS:-300 1000 2000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	RUNS=${BENCH_F8_RUNS:-1}
	WARM=${BENCH_F8_WARMUP:-2}
	SECS=${BENCH_F8_SECONDS:-2}
else
	RUNS=${BENCH_F8_RUNS:-${BENCH_RUNS:-3}}
	WARM=${BENCH_F8_WARMUP:-3}
	SECS=${BENCH_F8_SECONDS:-5}
fi
CPUS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
W1=${BENCH_F8_WORKERS:-$CPUS}
W3=${BENCH_F8_WORKERS3:-1}
NET=${BENCH_F8_NET:-10.81.0}
KEEP=${BENCH_KEEP:-0}
NS=f8h
CHAIN=10
LINK=50000

warn() { printf 'bench: %s\n' "$*" >&2; }
usage_err() { warn "$*"; exit 2; }

for p in $PEERS; do
	case $p in '' | *[!0-9]*) usage_err "BENCH_F8_PEERS takes peer counts (got '$p')" ;; esac
	[ $((p % CHAIN)) = 0 ] && [ "$p" -ge 30 ] ||
		usage_err "BENCH_F8_PEERS: $p is not a multiple of $CHAIN of at least 30 (chains of $CHAIN over 3 nodes)"
done
for v in "$RUNS" "$W1" "$W3"; do
	case $v in '' | *[!0-9]* | 0) usage_err "BENCH_F8_RUNS and the worker counts must be positive integers (got '$v')" ;; esac
done
for v in "$WARM" "$SECS"; do
	awk -v s="$v" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && s + 0 > 0) }' ||
		usage_err "BENCH_F8_WARMUP and BENCH_F8_SECONDS must be positive numbers of seconds (got '$v')"
done
printf '%s' "$NET" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' ||
	usage_err "BENCH_F8_NET must be the first three parts of an IPv4 address (got '$NET')"
[ -x "$CRYSTAL" ] || usage_err "$CRYSTAL is missing: 'make' builds it"
[ "$(id -u)" = 0 ] || usage_err "Fig. 8 makes network namespaces: run it as root"
command -v ip >/dev/null 2>&1 || usage_err "Fig. 8 needs ip (iproute2; make deps)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/crystal-fig8.XXXXXX")
cleanup() {
	sh "$ROOT/scripts/netns-hosts.sh" down "$NS" 2>/dev/null || :
	if [ "$KEEP" = 1 ]; then warn "run directories kept in $TMP"; else rm -rf "$TMP"; fi
	rm -f "$RESULTS/fig8.csv.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
sh "$ROOT/scripts/netns-hosts.sh" up "$NS" 3 "$NET" ||
	usage_err "the emulated hosts could not be made (scripts/netns-hosts.sh up $NS 3 $NET)"

# write_exp DIR PEERS HOSTS: DIR/exp.ini and DIR/exp.topology; DIR/tails
# gets the number of chain tails on each node, one line per node.
write_exp() {
	awk -v dir="$1" -v p="$2" -v h="$3" -v net="$NET" -v chain="$CHAIN" \
		-v link="$LINK" -v secs="$(awk -v w="$WARM" -v s="$SECS" 'BEGIN { print w + s }')" \
		-v warm="$WARM" 'BEGIN {
		chains = p / chain
		# peer (c, j): node j % h, port 20001 + its index on that node
		for (c = 0; c < chains; c++)
			for (j = 0; j < chain; j++) {
				n = j % h
				port[c, j] = 20001 + count[n]++
				addr[c, j] = net "." (n + 1) ":" port[c, j]
				if (j == chain - 1) tails[n]++
			}
		ini = dir "/exp.ini"
		printf "[experiment]\nname = fig8-%d-%d\nduration = %gs\nwarmup = %gs\n", p, h, secs, warm > ini
		printf "algorithm = relay\ntopology = exp.topology\n\n" > ini
		printf "[class source]\ncount = 1\naddresses = %s.1:20000\nupload = %d\n\n", net, chains * link > ini
		for (n = 0; n < h; n++)
			printf "[class relays%d]\ncount = %d\naddresses = %s.%d:20001-%d\nupload = %d\n\n",
				n, count[n], net, n + 1, 20000 + count[n], link > ini
		printf "[session 1]\nsource = %s.1:20000\nmessage_size = 1KiB\n", net > ini
		top = dir "/exp.topology"
		printf "%s.1:20000", net > top
		for (c = 0; c < chains; c++) printf " %s", addr[c, 0] > top
		printf "\n" > top
		for (c = 0; c < chains; c++)
			for (j = 0; j < chain - 1; j++)
				printf "%s %s\n", addr[c, j], addr[c, j + 1] > top
		for (n = 0; n < h; n++) print tails[n] + 0 > (dir "/tails")
	}'
}

# sjson FILE KEY: a top-level number or string of summary.json.
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

# run_point DIR HOSTS: the nodes of one run, started together, each in its
# namespace; "tail_rate cpu_sum cpu_max ok_nodes" of the run on stdout.
run_point() {
	_d=$1 _h=$2 _w=$W1 _pids=
	[ "$_h" = 1 ] || _w=$W3
	_i=0
	while [ "$_i" -lt "$_h" ]; do
		ip netns exec "$NS$_i" "$CRYSTAL" run "$_d/exp.ini" --workers "$_w" \
			--out "$_d/n$_i" --quiet >"$_d/n$_i.out" 2>"$_d/n$_i.err" &
		_pids="$_pids $!"
		_i=$((_i + 1))
	done
	_i=0
	for _pid in $_pids; do
		_rc=0
		wait "$_pid" || _rc=$?
		_s=$_d/n$_i/summary.json
		[ -d "$_d/n$_i" ] && [ ! -s "$_s" ] && _s=$(ls "$_d/n$_i"/*/summary.json 2>/dev/null | head -n 1)
		if [ "$_rc" != 0 ] || [ ! -s "$_s" ]; then
			warn "FAILED: node $_i of $_d (exit status $_rc); its error output:"
			tail -n 20 "$_d/n$_i.err" | sed 's/^/    /' >&2
			exit 1
		fi
		printf '%s %s %s\n' "$(sjson "$_s" tail_wire_rate_Bps)" \
			"$(sjson "$_s" cpu_percent)" "$(sjson "$_s" fidelity)" >>"$_d/nodes"
		_i=$((_i + 1))
	done
	paste -d ' ' "$_d/nodes" "$_d/tails" | awk '
		{ r += $1 * $4; t += $4; c += $2; if ($2 > m) m = $2; ok += $3 != "degraded" }
		END { printf "%.1f %.1f %.1f %d\n", t ? r / t : 0, c, m, ok }'
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mkdir -p "$RESULTS" || usage_err "cannot create $RESULTS"
COMMIT=${BENCH_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
CSV=$RESULTS/fig8.csv
{
	printf '# Crystal, Fig. 8: per-peer rate and CPU vs peers, one node vs three nodes (network namespaces on a bridge); relay chains of %d, 1 KB messages, %d B/s per link\n' "$CHAIN" "$LINK"
	printf '# commit %s; %s cores; load average %s; %s s counted after %s s; medians of %s runs; workers: one node %s, three nodes %s each\n' \
		"$COMMIT" "$CPUS" "$(cut -d' ' -f1-3 /proc/loadavg)" "$SECS" "$WARM" "$RUNS" "$W1" "$W3"
	echo "peers,nodes,runs,tail_wire_rate_Bps,tail_share,cpu_percent_sum,cpu_percent_max_node,fidelity_ok_nodes"
} >"$CSV.tmp"

echo
echo "Fig. 8: per-peer rate and CPU vs peers, one node vs three (chains of $CHAIN, $LINK B/s per link,"
echo "  1 KB messages; $SECS s counted after $WARM s; medians of $RUNS; three nodes: network namespaces"
echo "  on a bridge on this machine, every link crossing hosts; load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%7s %6s %12s %7s %9s %13s %9s\n' peers nodes "tail rate" share "CPU sum" "CPU max node" fidelity
for p in $PEERS; do
	for h in 1 3; do
		: >"$TMP/samples"
		r=1
		while [ "$r" -le "$RUNS" ]; do
			d=$TMP/p$p-h$h-r$r
			mkdir -p "$d"
			write_exp "$d" "$p" "$h"
			run_point "$d" "$h" >>"$TMP/samples"
			[ "$KEEP" = 1 ] || rm -rf "$d"
			r=$((r + 1))
		done
		rate=$(cut -d' ' -f1 "$TMP/samples" | median)
		cpu=$(cut -d' ' -f2 "$TMP/samples" | median)
		cmax=$(cut -d' ' -f3 "$TMP/samples" | median)
		ok=$(awk '{ s += $4 } END { print s }' "$TMP/samples")
		printf '%d,%d,%d,%.0f,%.4f,%.1f,%.1f,%d/%d\n' "$p" "$h" "$RUNS" "$rate" \
			"$(awk -v r="$rate" -v l="$LINK" 'BEGIN { print r / l }')" "$cpu" "$cmax" \
			"$ok" $((RUNS * h)) >>"$CSV.tmp"
		awk -v p="$p" -v h="$h" -v r="$rate" -v l="$LINK" -v c="$cpu" -v m="$cmax" \
			-v ok="$ok" -v n=$((RUNS * h)) 'BEGIN {
			printf "%7d %6d %8.1f KB/s %6.1f%% %8.1f%% %12.1f%% %5d/%d\n", p, h, r / 1000, 100 * r / l, c, m, ok, n
		}'
	done
done
mv "$CSV.tmp" "$CSV"
echo "  tail rate = what the chains' last links carried, headers included, mean over every tail;"
echo "  CPU sum = the nodes' cpu_percent added up (one core = 100%); fidelity = nodes judged ok / nodes"
