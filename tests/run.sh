#!/usr/bin/env bash
# Test runner: tests/run.sh unit|integ|all BUILD_DIR
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
