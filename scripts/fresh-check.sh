#!/bin/sh
# make fresh-check: proves the README's quick start on a fresh Debian 12.
#
# A developer's machine is never fresh: a package installed by hand hides a
# missing install step.  This builds a minimal Debian 12 root (mmdebstrap
# --variant=minbase, cached as a tarball), and for each command of the
# README's quick start unpacks a root of its own, clones the committed tree
# into it (uncommitted changes are not seen: commit first), and runs the
# command there as root, exactly as the README prints it.  Any error fails
# the check; the last lines of the command's output are shown.
#
# Needs root, mmdebstrap (installed here when missing), unshare and the
# Debian mirror.  Mounts live in a private mount namespace, so nothing is
# left mounted on the host even when the check is interrupted.  The root is
# given what a booted machine has before anyone logs in, and a chroot does
# not: its / is a mount point (`ip netns exec` remounts / as a slave; the
# multi-host tests use it), and the machine's control groups are mounted at
# /sys/fs/cgroup (slurmd will not start without them; test-slurm runs one).
#
# Environment (all optional):
#   FRESH_CACHE    where the root's tarball is kept (default
#                  /var/cache/crystal); delete it to build a new one
#   FRESH_WORK     where the roots are unpacked (default: a new directory
#                  under /var/tmp, removed afterwards)
#   FRESH_LINES    which quick-start commands, by number (default "1 2")
#   FRESH_TIMEOUT  seconds each command may take (default 2400)
#   FRESH_KEEP     1: keep the roots and print where they are
#   FRESH_LOGS     where each command's whole output is kept (default
#                  runs/fresh-check in this tree)
#
# Exit status: 0 when every command succeeded, 1 when one failed, 2 when
# the check itself could not run (not root, no mirror, no quick start).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FRESH_CACHE:-/var/cache/crystal}
TARBALL=$CACHE/bookworm-minbase.tar
LINES=${FRESH_LINES:-1 2}
TIMEOUT=${FRESH_TIMEOUT:-2400}
LOGS=${FRESH_LOGS:-$ROOT/runs/fresh-check}

die() {
	echo "fresh-check: $*" >&2
	exit 2
}

# Removes a root, never through a mount still inside it (the mounts live in
# the command's own namespace and end with it; this is the guard).
remove_root() {
	if awk -v r="$1/" 'index($2 "/", r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
		echo "fresh-check: $1 still has mounts; left in place" >&2
		return 0
	fi
	rm -rf "$1"
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it unpacks and enters Debian roots)"
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null || die "$ROOT is not a git checkout with a commit"

# The quick start: the commands of the first sh block after "## Quick start".
quickstart() {
	awk '/^## Quick start/ { q = 1; next }
	     q && /^```sh/ { b = 1; next }
	     b && /^```/ { exit }
	     b && NF { sub(/[ \t]+#.*$/, ""); print }' "$ROOT/README.md"
}
n_cmds=$(quickstart | wc -l)
[ "$n_cmds" -ge 1 ] || die "README.md has no sh block under '## Quick start'"

if ! command -v mmdebstrap >/dev/null; then
	echo "fresh-check: installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; } ||
		die "could not install mmdebstrap"
fi

if [ ! -s "$TARBALL" ]; then
	mkdir -p "$CACHE"
	echo "fresh-check: building a minbase Debian 12 root into $TARBALL"
	# mmdebstrap picks its output format from the name: keep ".tar" last.
	tmp=$CACHE/bookworm-minbase.partial.tar
	mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$tmp" ||
		{ rm -f "$tmp"; die "mmdebstrap failed"; }
	mv "$tmp" "$TARBALL"
fi

WORK=${FRESH_WORK:-}
if [ -z "$WORK" ]; then
	WORK=$(mktemp -d /var/tmp/crystal-fresh.XXXXXX)
	[ "${FRESH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi
mkdir -p "$WORK" "$LOGS"
commit=$(git -C "$ROOT" rev-parse --short HEAD)
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no | head -n 1)
[ -z "$dirty" ] || echo "fresh-check: note: uncommitted changes are not checked (testing $commit)"

failed=0
for i in $LINES; do
	cmd=$(quickstart | sed -n "${i}p")
	[ -n "$cmd" ] || die "the quick start has no command $i (it has $n_cmds)"
	r=$WORK/root-$i
	remove_root "$r"
	mkdir -p "$r"
	tar -C "$r" -xf "$TARBALL"
	cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
	git clone -q --no-hardlinks "$ROOT" "$r/root/crystal"
	echo "fresh-check: [$i] $cmd   (commit $commit, root $r)"
	start=$(date +%s)
	log=$LOGS/line-$i.log
	set +e
	timeout "$TIMEOUT" unshare --mount --propagation private sh -eu -c '
		r=$1; cmd=$2
		mount --bind "$r" "$r"
		mount -t proc proc "$r/proc"
		mount -t sysfs sysfs "$r/sys"
		if mountpoint -q /sys/fs/cgroup; then
			mount --rbind /sys/fs/cgroup "$r/sys/fs/cgroup"
		fi
		mount --rbind /dev "$r/dev"
		mount -t tmpfs tmpfs "$r/dev/shm"
		mount -t tmpfs tmpfs "$r/run"
		mount -t tmpfs tmpfs "$r/tmp"
		exec chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			/bin/sh -c "cd /root/crystal && $cmd"
	' fresh "$r" "$cmd" >"$log" 2>&1
	rc=$?
	set -e
	took=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ]; then
		echo "fresh-check: [$i] ok in ${took} s; its last lines:"
		tail -n 3 "$log" | sed 's/^/    /'
	else
		failed=1
		[ "$rc" -eq 124 ] && echo "fresh-check: [$i] did not finish in $TIMEOUT s"
		echo "fresh-check: [$i] FAILED (exit $rc) after ${took} s; what failed, then its last lines (all in $log):"
		grep -E '^\[  (FAILED|ERROR) |^\[   LINE   \]|^!! |error:' "$log" | head -n 40 | sed 's/^/    /'
		echo "    ..."
		tail -n 15 "$log" | sed 's/^/    /'
	fi
	[ "${FRESH_KEEP:-0}" = 1 ] && echo "fresh-check: [$i] kept in $r" || remove_root "$r"
done
if [ "$failed" -ne 0 ]; then
	echo "fresh-check: failed"
	exit 1
fi
echo "fresh-check: every quick-start command works on a fresh Debian 12"
