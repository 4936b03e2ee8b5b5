#!/bin/sh
# Runs the Vanilla case study (examples/vanilla-500.ini) with every peer
# class's upload scaled by each factor given (crystal run --scale-upload;
# the class named `source` keeps its own), and prints the table of
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

# The peers' mean upload in KB/s as run $1 used it: each class's upload
# limit from its summary.json ("upload_Bps.CLASS"), over the class's peers
# in its peers-final.csv, the source left out.
mean_upload() {
	awk -F, -v summary="$1/summary.json" '
	BEGIN {
		while ((getline line < summary) > 0)
			if (line ~ /"upload_Bps\./) {
				sub(/^[^"]*"upload_Bps\./, "", line)
				split(line, kv, /": */)
				up[kv[1]] = kv[2] + 0
			}
	}
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == "class") c = i; next }
	c && $c != "source" { n++; total += up[$c] }
	END { if (n) printf "%.1f\n", total / n / 1000 }' "$1/peers-final.csv"
}

runs=""
printf '%-7s %-12s %s\n' factor "peer upload" run
for f in "$@"; do
	d="$out/x$f"
	rm -rf "$d"
	if "$crystal" run "$exp" --scale-upload "$f" --scale-upload source=1 \
		--out "$d" --quiet; then
		printf '%-7s %-12s %s\n' "$f" "$(mean_upload "$d") KB/s" "$d"
	else
		echo "$0: the run at factor $f failed (kept in $d)" >&2
	fi
	runs="$runs $d"
done
# shellcheck disable=SC2086
"$crystal" report --text $runs
"$crystal" report $runs --out "$out/report.html" >/dev/null 2>&1 &&
	echo "plots: $out/report.html"
