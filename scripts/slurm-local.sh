#!/bin/sh
# A Slurm cluster of one node on this machine, for the Slurm launcher's
# test (tests/test-slurm.c) and for trying docs/many-hosts.md without a
# cluster.
#
#   scripts/slurm-local.sh up [DIR]     start munged, slurmctld and slurmd
#   scripts/slurm-local.sh down [DIR]   stop them and remove DIR
#   scripts/slurm-local.sh env [DIR]    print the SLURM_CONF line to use it
#
# Everything lives in DIR (default /tmp/crystal-slurm): a private munge key
# and socket, slurm.conf, the daemons' state, spool, logs and pid files.
# Nothing under /etc is read or written, no systemd is needed, and a real
# cluster's configuration is never touched: the commands find this one by
# SLURM_CONF=DIR/slurm.conf, which `up` prints, e.g.
#
#   eval "$(scripts/slurm-local.sh up)"
#   srun -n 3 hostname
#   scripts/slurm-local.sh down
#
# The node is this machine under its host name, with CPUS (default 8)
# slots whatever its cores, so that `srun -n 3` runs three tasks on it.
# `up` waits until sinfo shows the node idle (up to 60 s), or stops
# what it started and exits 1 naming the daemon that failed and the end
# of its log.  `down` stops only the daemons whose pid files are in DIR.
# The ports are SLURM_LOCAL_PORT (default 6917) and the next one.  Needs
# root and the Debian packages slurm-wlm and munge (`make deps`).
set -eu

usage() {
	echo "usage: $0 up|down|env [DIR]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
DIR=${2:-/tmp/crystal-slurm}
PORT=${SLURM_LOCAL_PORT:-6917}
CPUS=${SLURM_LOCAL_CPUS:-8}
NODE=$(hostname -s)

# The last lines of a daemon's log, for an error message.
log_tail() {
	[ -f "$DIR/$1.log" ] && tail -n 5 "$DIR/$1.log" | sed 's/^/  /' >&2 || :
}

stop_pid() {
	f=$DIR/$1.pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	case $pid in '' | *[!0-9]*) rm -f "$f"; return 0 ;; esac
	if kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || :
	fi
	rm -f "$f"
}

down() {
	[ -d "$DIR" ] || return 0
	stop_pid slurmd
	stop_pid slurmctld
	stop_pid munged
	rm -rf "$DIR"
}

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "slurm-local: $1 not found: install Slurm and munge with 'make deps' (Debian: slurm-wlm, munge)" >&2
	return 1
}

write_conf() {
	cat >"$DIR/slurm.conf" <<EOF
# A private one-node cluster written by scripts/slurm-local.sh
ClusterName=crystal-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

start_munge() {
	dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 2>/dev/null
	chmod 600 "$DIR/munge.key"
	munged --force --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" \
		--pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" \
		--seed-file="$DIR/munged.seed" >>"$DIR/munged.log" 2>&1 || {
		log_tail munged
		return 1
	}
}

# Waits until sinfo shows the node idle: 0, or 1 after 60 s.
wait_idle() {
	i=0
	while [ $i -lt 600 ]; do
		state=$(SLURM_CONF=$DIR/slurm.conf sinfo -h -N -o %T 2>/dev/null | head -n 1)
		[ "$state" = idle ] && return 0
		for d in slurmctld slurmd; do
			pid=$(cat "$DIR/$d.pid" 2>/dev/null || :)
			if [ $i -gt 30 ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; then
				echo "slurm-local: $d is not running (its log, $DIR/$d.log, ends:)" >&2
				log_tail "$d"
				return 1
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
	echo "slurm-local: the node is not idle after 60 s (sinfo says '${state:-nothing}'); slurmctld's log ends:" >&2
	log_tail slurmctld
	return 1
}

# Errors of up: said, and up returns 1 (the caller stops what started).
say() {
	echo "slurm-local: $*" >&2
	return 1
}

up() {
	[ "$(id -u)" -eq 0 ] || say "must run as root (slurmd starts jobs as any user)" || return 1
	for c in munged slurmctld slurmd sinfo srun; do
		need "$c" || return 1
	done
	down
	mkdir -p "$DIR/state" "$DIR/spool" && chmod 700 "$DIR" && write_conf ||
		say "cannot write $DIR" || return 1
	start_munge || say "munged did not start" || return 1
	SLURM_CONF=$DIR/slurm.conf slurmctld -i >>"$DIR/slurmctld.log" 2>&1 || {
		log_tail slurmctld
		say "slurmctld did not start"
		return 1
	}
	SLURM_CONF=$DIR/slurm.conf slurmd -N "$NODE" >>"$DIR/slurmd.log" 2>&1 || {
		log_tail slurmd
		say "slurmd did not start"
		return 1
	}
	wait_idle || say "the local cluster did not come up" || return 1
	echo "SLURM_CONF=$DIR/slurm.conf; export SLURM_CONF"
}

case $1 in
up)
	if ! up; then
		down
		exit 1
	fi
	;;
down) down ;;
env) echo "SLURM_CONF=$DIR/slurm.conf; export SLURM_CONF" ;;
*) usage ;;
esac
