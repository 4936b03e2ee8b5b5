#!/bin/sh
# Installs the Debian packages Crystal needs; quiet and quick when nothing
# is missing.  Run as root (or through sudo) on Debian 12.
set -eu
# libclang-rt-14-dev: the sanitizer and libFuzzer runtimes of Debian 12's
# clang (14), which clang only recommends (make check CC=clang SANITIZE=1,
# make fuzz)
# slurm-wlm, munge, pdsh: the launchers of runs over several hosts, for
# tests/test-slurm.c (a one-node Slurm of scripts/slurm-local.sh) and
# docs/many-hosts.md (the system services they install are not used:
# scripts/slurm-local.sh runs its own daemons from a private configuration)
PKGS="make gcc libc6-dev clang libclang-rt-14-dev pkg-config libuv1-dev libcmocka-dev libinih-dev libgsl-dev libjansson-dev libisal-dev gnuplot-nox ffmpeg iproute2 slurm-wlm munge pdsh"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
