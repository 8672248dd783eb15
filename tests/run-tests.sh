#!/bin/sh
# run-tests.sh BUILD_DIR — runs every unit and integration test binary
# of a build and ends with one line: "N passed, N failed".
#
# A binary that dies (a sanitizer report, a signal) counts as one failed
# test on top of what it reported.  Integration tests find dshmd through
# $DSHMD and write their scratch files under $DSHM_TEST_DIR.
set -u

build=${1:-build/asan}
DSHMD=${DSHMD:-$(pwd)/$build/dshmd}
export DSHMD
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
DSHM_TEST_DIR=$(mktemp -d /tmp/dshm-tests.XXXXXX)
export DSHM_TEST_DIR
trap 'rm -rf "$DSHM_TEST_DIR"' EXIT

passed=0
failed=0
log=$DSHM_TEST_DIR/run.log
for t in "$build"/tests/unit/test_* "$build"/tests/integration/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	echo "=== $t"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "*** $t exited with status $rc"
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
