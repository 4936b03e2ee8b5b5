#!/bin/sh
# Emulated hosts on this machine: network namespaces joined by a bridge,
# for the multi-host tests and benchmarks (docs/many-hosts.md).
#
#   scripts/netns-hosts.sh up PREFIX N [NET]   make PREFIX0 .. PREFIX(N-1)
#   scripts/netns-hosts.sh down PREFIX          remove them and the hub
#
# Host i is the namespace PREFIXi, with loopback up and eth0 at
# NET.(i+1)/24 (NET defaults to 10.77.0); its eth0 is one end of a veth
# pair whose other end is on a bridge in the namespace PREFIXhub, so the
# machine's own network is not touched.  `up` removes what an earlier run
# of the same PREFIX left first; `down` removes every namespace whose name
# starts with PREFIX and is idempotent.  Needs root and iproute2.  Exits 1
# with the failing command's message when something cannot be made (and
# leaves nothing behind).
set -eu

usage() {
	echo "usage: $0 up PREFIX N [NET] | down PREFIX" >&2
	exit 2
}

down() {
	for ns in $(ip netns list | awk '{print $1}'); do
		case $ns in "$1"*) ip netns del "$ns" 2>/dev/null || :;; esac
	done
}

up() {
	prefix=$1 n=$2 net=$3 hub=${1}hub
	case $n in ''|*[!0-9]*) usage;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 250 ] || usage
	down "$prefix"
	ip netns add "$hub"
	ip -n "$hub" link add br0 type bridge
	ip -n "$hub" link set br0 up
	i=0
	while [ "$i" -lt "$n" ]; do
		ns=$prefix$i
		ip netns add "$ns"
		ip -n "$hub" link add "v$i" type veth peer name eth0 netns "$ns"
		ip -n "$hub" link set "v$i" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$net.$((i + 1))/24" dev eth0
		ip -n "$ns" link set eth0 up
		i=$((i + 1))
	done
}

[ $# -ge 2 ] || usage
case $1 in
up)
	[ $# -ge 3 ] || usage
	if ! up "$2" "$3" "${4:-10.77.0}"; then
		down "$2"
		exit 1
	fi
	;;
down) down "$2" ;;
*) usage ;;
esac
