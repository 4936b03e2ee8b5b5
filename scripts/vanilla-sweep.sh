#!/bin/sh
# Runs the Vanilla case study (examples/vanilla-500.ini) with every peer
# class's upload scaled by each factor given, and prints the table of
# docs/case-study-vanilla.md: the upload supply (the peers' mean upload plus
# the source's share, over the stream rate) against continuity, startup
# delay, segment latency, control overhead and duplicates.
#
#   scripts/vanilla-sweep.sh [-o DIR] [FACTOR...]     (default 1 0.75 0.5 0.35)
#
# Every run is kept under DIR (default runs/vanilla-sweep): open
# `build/crystal report DIR/*` for the plots.  Needs build/crystal (make).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
crystal=${CRYSTAL:-$here/build/crystal}
exp=${EXPERIMENT:-$here/examples/vanilla-500.ini}
out=runs/vanilla-sweep
if [ "${1:-}" = "-o" ]; then
	out=$2
	shift 2
fi
[ $# -gt 0 ] || set -- 1 0.75 0.5 0.35
[ -x "$crystal" ] || { echo "$0: no $crystal: run make first" >&2; exit 2; }
mkdir -p "$out"

# The experiment with each non-source class's upload times $1; prints the
# peers' mean upload in KB/s on stderr.
scale() {
	awk -v f="$1" '
	function kbps(v,   n, u) {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "MB/s") return n * 1000
		if (u == "KB/s") return n
		if (u == "B/s" || u == "") return n / 1000
		printf "cannot scale upload %s\n", v > "/dev/stderr"; exit 2
	}
	/^\[/ { sec = $0; cls = (sec ~ /^\[class / && sec !~ /^\[class source\]/) }
	cls && $1 == "count" { cnt = $3; total += cnt }
	cls && $1 == "upload" {
		k = kbps($3) * f; sum += k * cnt
		printf "upload = %gKB/s\n", k; next
	}
	{ print }
	END { printf "%.1f\n", sum / total > "/dev/stderr" }' "$exp"
}

runs=""
printf '%-7s %-12s %s\n' factor "peer upload" run
for f in "$@"; do
	d="$out/x$f"
	rm -rf "$d" "$d.in"
	mkdir -p "$d.in"
	cp "$(dirname "$exp")"/*.events "$d.in/" 2>/dev/null || true
	up=$(scale "$f" 2>&1 >"$d.in/exp.ini")
	printf '%-7s %-12s %s\n' "$f" "$up KB/s" "$d"
	"$crystal" run "$d.in/exp.ini" --out "$d" --quiet ||
		echo "$0: the run at factor $f failed (kept in $d)" >&2
	rm -rf "$d.in"
	runs="$runs $d"
done
# shellcheck disable=SC2086
"$crystal" report --text $runs
"$crystal" report $runs --out "$out/report.html" >/dev/null 2>&1 &&
	echo "plots: $out/report.html"
