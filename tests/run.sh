#!/usr/bin/env bash
# Test runner: tests/run.sh unit|integ|fuzz|tsan|all BUILD_DIR
#   unit   every build/<variant>/tests/test_* binary
#   integ  every tests/integ/NN-*.sh against BUILD_DIR/spoa-jwt
#   fuzz   tests/fuzz/run.sh FUZZ_SECONDS (default 10) for each target
#   tsan   the ThreadSanitizer agent (build/tsan) with --threads 2 through
#          the integration tests in TSAN_TESTS
#   all    all four
# Every test program prints TAP lines ("ok N - ..." / "not ok N - ...").
# A program that exits non-zero without a "not ok" line counts as one failure.
# Ends with the closing line "N passed, N failed" and exits 1 on any failure.
set -u
what=${1:-all}
build=${2:-build/asan}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
logdir=$top/build/test-logs
mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export AGENT_BIN=${AGENT_BIN:-$top/$build/spoa-jwt}
export HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}
export PY=/usr/bin/python3
export TOP=$top BUILD=$top/$build

pass=0 fail=0 failed_names=()

run_one() {
	local name=$1; shift
	local log=$logdir/${name//\//_}.log
	local t0=$SECONDS rc p f
	"$@" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	p=${p:-0} f=${f:-1}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name ran no check" >>"$log"
	fi
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed_names+=("$name")
		printf '%-40s %4d passed, %4d failed  (%ds)  FAILED, log: %s\n' "$name" "$p" "$f" $((SECONDS - t0)) "$log"
		grep '^not ok' "$log" | head -20 | sed 's/^/    /'
	else
		printf '%-40s %4d passed, %4d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
	fi
}

if [ "$what" = unit ] || [ "$what" = all ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] && [ "${t%.d}" = "$t" ] || continue
		run_one "unit/$(basename "$t")" "$t"
	done
fi
if [ "$what" = integ ] || [ "$what" = all ]; then
	for t in tests/integ/[0-9]*.sh; do
		[ -f "$t" ] || continue
		run_one "integ/$(basename "$t" .sh)" bash "$t"
	done
fi
if [ "$what" = all ]; then
	run_one "style/clang-format" bash tests/fmt-check.sh
fi
if [ "$what" = fuzz ] || [ "$what" = all ]; then
	run_one "fuzz/all-targets" bash tests/fuzz/run.sh "${FUZZ_SECONDS:-10}"
fi
if [ "$what" = tsan ] || [ "$what" = all ]; then
	# Threads, key-set swaps, reloads and fetch hand-offs are where races
	# would be: these tests exercise them with two worker threads.
	TSAN_TESTS=${TSAN_TESTS:-"20-reference 26-reload 72-key-rotation 80-jwks-faults 82-sigterm-drain 85-load"}
	if make --no-print-directory -s SANITIZER=thread build/tsan/spoa-jwt >"$logdir/tsan-build.log" 2>&1; then
		for name in $TSAN_TESTS; do
			[ -f "tests/integ/$name.sh" ] || continue
			AGENT_BIN=$top/build/tsan/spoa-jwt AGENT_THREADS=2 \
				TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
				run_one "tsan/$name" bash "tests/integ/$name.sh"
		done
	else
		fail=$((fail + 1))
		failed_names+=("tsan/build")
		echo "tsan build failed, log: $logdir/tsan-build.log"
	fi
fi

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
if [ $((pass + fail)) -eq 0 ]; then
	echo "no test ran"
	fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
