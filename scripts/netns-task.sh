#!/bin/sh
# Runs a command in the emulated host of this task: the network namespace
# PREFIX<N>, N the task's rank given by the launcher (docs/many-hosts.md,
# "Testing on one machine").  With namespaces made by
# scripts/netns-hosts.sh, a launcher that starts the same command several
# times on this machine then starts one node per emulated host:
#
#   srun -n 3 scripts/netns-task.sh hs build/crystal run EXP.ini --out DIR
#   pdsh -R exec -w 'ns[0-2]' env CRYSTAL_TASK=%h ... (see the docs)
#   for i in 0 1 2; do CRYSTAL_TASK=$i scripts/netns-task.sh hs ... & done
#
#   scripts/netns-task.sh PREFIX COMMAND [ARG...]
#
# The rank is the first of CRYSTAL_TASK (set it yourself, for an ssh loop
# or pdsh), SLURM_PROCID (srun), OMPI_COMM_WORLD_RANK and PMI_RANK (mpirun)
# that is set; a value such as "ns2" counts by its trailing digits.  Exits
# 2 with a message when no rank is set or PREFIX<N> does not exist; else
# it becomes the command (ip netns exec), whose exit status is its own.
# Needs root and iproute2.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 PREFIX COMMAND [ARG...]" >&2
	exit 2
fi
prefix=$1
shift
rank=${CRYSTAL_TASK:-${SLURM_PROCID:-${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-}}}}
rank=$(printf '%s' "$rank" | sed 's/^.*[^0-9]\([0-9][0-9]*\)$/\1/')
case $rank in
'' | *[!0-9]*)
	echo "netns-task: no task rank: set CRYSTAL_TASK, or start it with srun (SLURM_PROCID)" >&2
	exit 2
	;;
esac
ns=$prefix$rank
if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
	echo "netns-task: no network namespace $ns (task $rank): make them with scripts/netns-hosts.sh up $prefix N" >&2
	exit 2
fi
exec ip netns exec "$ns" "$@"
