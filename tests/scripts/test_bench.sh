#!/bin/sh
# test_bench.sh — a few-second smoke of dshm-bench: against a dshmd of its
# own (2 workers) over the Unix socket and TCP, each workload runs to its
# request count and every value read back is the one written; the
# baseline's own server answers too; and a stale value is caught (a run
# that expects data an earlier run overwrote ends status=wrong, exit 1).
# No timing is asserted.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
bench=${DSHM_BENCH:-$top/build/release/dshm-bench}
dshmd=${DSHMD:-$top/build/release/dshmd}
[ -x "$bench" ] || make -s -C "$top" build/release/dshm-bench >/dev/null
work=$(mktemp -d "${DSHM_TEST_DIR:-/tmp}/bench.XXXXXX")
sock=$work/d.sock
log=$work/dshmd.log
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$dshmd" --workers 2 --unix "$sock" --listen 127.0.0.1:0 --memory 8M 2>"$log" &
pid=$!
i=0
until grep -q ' ready: ' "$log"; do
	i=$((i + 1))
	[ $i -le 1000 ] || { echo "dshmd did not become ready"; cat "$log"; exit 1; }
	kill -0 "$pid" || { echo "dshmd died"; cat "$log"; exit 1; }
	sleep 0.01
done
tcp=$(sed -n 's/.* tcp \([^ ]*\) workers.*/\1/p' "$log")

# run ARGS...: one bounded run that must end "status=ok" having verified reads.
run() {
	out=$("$bench" --requests 3000 --seconds 3 --keys 16 "$@") ||
		{ echo "dshm-bench $* failed: $out" >&2; exit 1; }
	echo "$out"
	case $out in *" status=ok"*) ;; *) echo "dshm-bench $*: not ok" >&2; exit 1 ;; esac
}
verified() { echo "$1" | sed -n 's/.* verified=\([0-9]*\) .*/\1/p'; }

out=$(run --addr "unix:$sock" --workload read)
[ "$(verified "$out")" -eq 3000 ] || { echo "read: not every value verified: $out"; exit 1; }
out=$(run --addr "$tcp" --workload mix --conns 8 --depth 16)
[ "$(verified "$out")" -gt 0 ] || { echo "mix: nothing verified: $out"; exit 1; }
run --addr "unix:$sock" --workload write --conns 3 --depth 4 >/dev/null
run --backend baseline --workload read --conns 2 --depth 4 >/dev/null
run --backend baseline --addr "unix:$work/b.sock" --workload write >/dev/null

# The data outlive the connections, and the check catches a stale value:
# a --reuse run expects version 1 of every key; after a run of writes
# (versions above 1) it must report wrong data.
run --addr "unix:$sock" --workload read --pid-base 910000 --keep >/dev/null
run --addr "unix:$sock" --workload read --pid-base 910000 --keep --reuse >/dev/null
run --addr "unix:$sock" --workload write --pid-base 910000 --keep --reuse >/dev/null
if out=$("$bench" --addr "unix:$sock" --requests 500 --keys 16 --pid-base 910000 --reuse 2>/dev/null); then
	echo "a read of overwritten values passed: $out"
	exit 1
fi
case $out in *" status=wrong"*) ;; *) echo "expected status=wrong: $out"; exit 1 ;; esac

kill -TERM "$pid"
wait "$pid" || { echo "dshmd exited with status $?"; cat "$log"; exit 1; }
pid=""
echo "bench: dshm-bench verified reads from dshmd over unix and tcp, and the baseline ran"
