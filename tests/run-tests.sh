#!/bin/sh
# run-tests.sh BUILD_DIR [KINDS] — runs the test binaries of a build and
# ends with one line: "N passed, N failed".
#
# KINDS is a list of unit, integration and scripts (default: all three).
# $TEST_WRAPPER, when set, runs each binary under it (valgrind, say).
# A binary that dies (a sanitizer report, a signal, a valgrind error)
# counts as one failed test on top of what it reported.  Integration
# tests find dshmd through $DSHMD, dshm-ipcs through $DSHM_IPCS,
# dshm-ipcrm through $DSHM_IPCRM, dshm-run through $DSHM_RUN and the
# unmodified programs in $DSHM_PROGRAMS, and keep scratch files in
# $DSHM_TEST_DIR.
set -u

build=${1:-build/asan}
kinds=${2:-unit integration scripts}
DSHMD=${DSHMD:-$(pwd)/$build/dshmd}
DSHM_IPCS=${DSHM_IPCS:-$(pwd)/$build/dshm-ipcs}
DSHM_IPCRM=${DSHM_IPCRM:-$(pwd)/$build/dshm-ipcrm}
# dshm-run, its preload and the unmodified programs come from the release
# build whatever the variant under test: a preload cannot bring a sanitizer
# runtime into a program built without one.
DSHM_RUN=${DSHM_RUN:-$(pwd)/build/release/dshm-run}
DSHM_PROGRAMS=${DSHM_PROGRAMS:-$(pwd)/build/release/tests/programs}
export DSHMD DSHM_IPCS DSHM_IPCRM DSHM_RUN DSHM_PROGRAMS
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
DSHM_TEST_DIR=$(mktemp -d /tmp/dshm-tests.XXXXXX)
export DSHM_TEST_DIR
trap 'rm -rf "$DSHM_TEST_DIR"' EXIT

passed=0
failed=0
log=$DSHM_TEST_DIR/run.log

run_binary() {
	echo "=== $1"
	# shellcheck disable=SC2086
	${TEST_WRAPPER:-} "$1" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "*** $1 exited with status $rc"
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

for kind in $kinds; do
	case $kind in
	unit | integration)
		for t in "$build"/tests/"$kind"/test_*; do
			case "$t" in *.d) continue ;; esac
			[ -x "$t" ] && run_binary "$t"
		done
		;;
	scripts)
		# Script tests count as one test each.
		for t in tests/scripts/test_*.sh; do
			[ -x "$t" ] || continue
			echo "=== $t"
			if "$t" >"$log" 2>&1; then
				passed=$((passed + 1))
				cat "$log"
			else
				failed=$((failed + 1))
				cat "$log"
				echo "*** $t failed"
			fi
		done
		;;
	esac
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
