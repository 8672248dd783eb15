#!/bin/sh
# run.sh SECONDS BINARY... — for each libFuzzer target, one at a time:
# replays the inputs of past findings (tests/fuzz/regressions/<target>/),
# then fuzzes for SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/, which stays as it is) with the dictionary,
# and prints libFuzzer's final stats (executions, coverage).  Crashes go to
# build/fuzz/artifacts/<target>/.  Exits 1 if any target found something.
#
# One fuzzing process at a time; FUZZ_ARGS adds libFuzzer flags.
set -u

seconds=${1:?usage: run.sh SECONDS BINARY...}
shift
here=$(dirname "$0")
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0

for bin in "$@"; do
	target=$(basename "$bin" | sed 's/^fuzz_//')
	work=build/fuzz/work/$target
	artifacts=build/fuzz/artifacts/$target
	log=build/fuzz/$target.log
	rm -rf "$work"
	mkdir -p "$work" "$artifacts"
	cp "$here/corpus/$target"/* "$work"/ 2>/dev/null
	if [ -n "$(ls "$here/regressions/$target" 2>/dev/null)" ]; then
		echo "=== fuzz_$target: replaying $here/regressions/$target/"
		if ! "$bin" "$here/regressions/$target"/* >"$log" 2>&1; then
			grep -E 'ERROR|FUZZ FINDING|SUMMARY|Running:' "$log"
			echo "fuzz_$target: a past finding is back; log in $log"
			failed=1
			continue
		fi
	fi
	echo "=== fuzz_$target: $seconds s"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-max_len=16384 -dict="$here/dshm.dict" -artifact_prefix="$artifacts/" \
		${FUZZ_ARGS:-} "$work" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^Done|ERROR|FUZZ FINDING|SUMMARY|Test unit written' "$log"
	if [ "$rc" -ne 0 ]; then
		echo "fuzz_$target: FAILED (exit $rc); log in $log, inputs in $artifacts/"
		failed=1
	fi
done
exit "$failed"
