#!/bin/sh
# check-stress.sh — the whole suite (make check) RUNS times in a row
# (default 5) while other processes keep every CPU busy, as on a shared
# CI machine: stress-ng --cpu N, one busy worker per CPU.  Stops at the
# first failing run; prints how many passed.
#
# The load is started and stopped by its own pid, and only it: nothing
# else on the machine is touched.
set -eu
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
cpus=$(nproc)
tests/install-deps.sh stress-ng
load=""

stop_load() {
	if [ -n "$load" ]; then
		kill "$load" 2>/dev/null || true
		wait "$load" 2>/dev/null || true
		load=""
	fi
}
trap stop_load EXIT INT TERM

passed=0
i=1
while [ "$i" -le "$runs" ]; do
	stress-ng --cpu "$cpus" --quiet &
	load=$!
	echo "check-stress: run $i of $runs, with stress-ng --cpu $cpus (pid $load) busy"
	if ! make --no-print-directory check; then
		echo "check-stress: run $i of $runs FAILED ($passed passed before it)" >&2
		exit 1
	fi
	stop_load
	passed=$((passed + 1))
	i=$((i + 1))
done
echo "check-stress: $passed of $runs runs of make check passed under load"
