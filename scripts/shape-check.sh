#!/bin/sh
# SPDX-License-Identifier: MIT
#
# scripts/shape-check.sh - checks the tree's shape against the rules of
# docs/architecture.md ("Layers"):
#
#   - no file under src/ longer than MAX_FILE lines (800);
#   - no function in src/ or algorithms/ longer than MAX_FUNC lines (80),
#     counted from its opening brace to its closing one (kernel style: both
#     in the first column);
#   - every #include "..." between directories of src/ goes downward: a
#     directory may include only those listed for it in ALLOWED below, so
#     that src/core and src/net never reach up into the engine, and there is
#     no circle of includes between directories;
#   - the same for calls, read from the built objects: nothing in src/net
#     or src/core calls a function of the engine.
#
# Prints one line per breach, "file:line: what", and ends with a count.
# Exit status: 0 when the tree keeps every rule, 1 otherwise.
#
#   sh scripts/shape-check.sh            the whole tree
#   MAX_FUNC=60 sh scripts/shape-check.sh  a stricter look

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
MAX_FILE=${MAX_FILE:-800}
MAX_FUNC=${MAX_FUNC:-80}

# What each directory of src/ may include and call, besides itself and the
# public headers in include/.  Lower layers first; an entry lists only
# layers below it.  "engine-api" is the engine's public side only: the
# functions of include/crystal/ (cr_*, not cr__*) and the node's interface
# header, src/engine/node.h.
ALLOWED='
core:
net:core
metrics:core
engine:core net metrics
stream:core engine-api
scenario:core engine-api
algorithms:core stream engine-api
builtins:algorithms engine-api
cli:core metrics scenario builtins engine-api
'

breaches=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# files too long
for f in $(find src -name '*.[ch]' | sort); do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$MAX_FILE" ]; then
		echo "$f:1: $n lines (at most $MAX_FILE)" >>"$out"
	fi
done

# functions too long: a line that is exactly "{" opens a function body, the
# next line that is exactly "}" closes it; the function's name is on the
# line before the brace (or the one before that, for a wrapped signature)
for f in $(find src algorithms -name '*.c' | sort); do
	awk -v max="$MAX_FUNC" -v file="$f" '
	/^{$/ { start = NR; name = prev; next }
	/^}/ && start {
		len = NR - start - 1
		if (len > max) {
			n = name; sub(/\(.*/, "", n); sub(/.*[ *]/, "", n)
			printf "%s:%d: function %s is %d lines (at most %d)\n", file, start, n, len, max
		}
		start = 0
	}
	/\(/ && !start { prev = $0 }
	' "$f" >>"$out"
done

# includes between directories
dir_of() { # FILE -> its directory's short name
	case $1 in
	src/*/*) d=${1#src/}; echo "${d%%/*}" ;;
	src/*) echo src ;;
	algorithms/*) echo algorithms ;;
	*) echo other ;;
	esac
}
allowed() { # FROM TO [SYMBOL | HEADER]
	[ "$1" = "$2" ] && return 0
	list=$(printf '%s\n' "$ALLOWED" | sed -n "s/^$1://p")
	for a in $list; do
		[ "$a" = "$2" ] && return 0
		# the public API is implemented in the engine and in net
		if [ "$a" = engine-api ] && { [ "$2" = engine ] || [ "$2" = net ]; }; then
			case ${3:-} in
			cr__*) ;;
			src/engine/node.h) return 0 ;;
			cr_*) return 0 ;;
			esac
		fi
	done
	return 1
}
for f in $(find src algorithms -name '*.[ch]' | sort); do
	from=$(dir_of "$f")
	grep -n '^#include "' "$f" | while IFS= read -r line; do
		ln=${line%%:*}
		inc=$(printf '%s' "$line" | sed 's/^[0-9]*:#include "\(.*\)".*/\1/')
		target=$(cd "$(dirname "$f")" && realpath -m --relative-to="$ROOT" "$inc")
		case $target in
		include/*) continue ;;
		esac
		to=$(dir_of "$target")
		if [ "$from" = src ] || [ "$to" = src ]; then
			echo "$f:$ln: includes $inc: a header at the top of src/ belongs to no layer" >>"$out"
		elif ! allowed "$from" "$to" "$target"; then
			echo "$f:$ln: includes $inc: $from may not include $to" >>"$out"
		fi
	done
done

# calls between directories, from the built objects (BUILD, default
# build): every symbol an object uses must be defined in its own directory
# or one it may include.  Skipped, with a note, when nothing is built.
OBJ=${BUILD:-build}/obj
if [ -d "$OBJ/src" ]; then
	defs=$(mktemp)
	for o in $(find "$OBJ/src" "$OBJ/algorithms" -name '*.o' 2>/dev/null | sort); do
		src=${o#"$OBJ"/}
		[ -f "${src%.o}.c" ] || continue # left from a file since removed
		nm --defined-only "$o" | awk -v d="$(dir_of "${src%.o}.c")" '$2 ~ /^[TDBR]$/ { print $3, d }'
	done | sort -u >"$defs"
	for o in $(find "$OBJ/src" "$OBJ/algorithms" -name '*.o' 2>/dev/null | sort); do
		src=${o#"$OBJ"/}
		c=${src%.o}.c
		[ -f "$c" ] || continue
		from=$(dir_of "$c")
		nm --undefined-only "$o" | awk '{ print $2 }' | sort -u |
			join - "$defs" | while read -r sym to; do
				allowed "$from" "$to" "$sym" ||
					echo "$c:1: calls $sym, of $to: $from may not use $to" >>"$out"
			done
	done
	rm -f "$defs"
else
	echo "shape: $OBJ not built: calls between directories not checked" >&2
fi

cat "$out"
breaches=$(wc -l <"$out")
echo "shape: $breaches breaches (files <= $MAX_FILE lines, functions <= $MAX_FUNC lines, includes downward)"
[ "$breaches" -eq 0 ]
