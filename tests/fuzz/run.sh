#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...]: builds every tests/fuzz/fuzz_*.c as a
# clang libFuzzer binary under ASan+UBSan into build/fuzz/, runs each for
# SECONDS (one at a time) on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>; the seeds are never written to), and prints one
# TAP line per target:
#     ok N - fuzz_X: <execs> execs, cov <cov> ft <ft>, no crash
#     not ok N - fuzz_X: crash, artifact <path>
# Crash, leak and timeout inputs are kept under build/fuzz/artifacts/<name>/;
# replay one with: build/fuzz/fuzz_X <artifact>. Exits 1 on any failure.
# TARGET (e.g. conn) restricts the run to those targets.
set -u
secs=${1:-60}
shift || true
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2

case $secs in
'' | *[!0-9]*) echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2 ;;
esac

out=$top/build/fuzz
obj=$out/obj
logs=$out/logs
CC=${FUZZ_CC:-clang}
APT_LINE='apt-get install -y clang libclang-rt-14-dev'

# A missing toolchain is a failure, not a skip: `make test` must not pass
# without having fuzzed.
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "not ok 1 - clang not found; install it: $APT_LINE"
	exit 1
fi
probe=$(mktemp -d "${TMPDIR:-/tmp}/fuzzprobe.XXXXXX") || exit 2
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
	echo "not ok 1 - $CC cannot link a libFuzzer binary (libclang_rt.fuzzer missing?); install: $APT_LINE"
	sed 's/^/# /' "$probe/log" | head -5
	rm -rf "$probe"
	exit 1
fi
rm -rf "$probe"
# The agent's libraries: the Makefile's PKGS line, so a new dependency
# needs no change here.
read -r -a pkgs <<<"$(sed -n 's/^PKGS[[:space:]]*:=[[:space:]]*//p' Makefile)"
[ ${#pkgs[@]} -gt 0 ] || pkgs=(openssl libcurl jansson)
if ! pkg-config --exists "${pkgs[@]}" || [ ! -e /usr/include/ev.h ]; then
	echo "not ok 1 - build dependencies missing (pkg-config ${pkgs[*]}, libev); run: make deps (scripts/deps.sh)"
	exit 1
fi

mkdir -p "$obj" "$logs" "$out/artifacts" "$out/scratch"
SAN='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer'
# shellcheck disable=SC2207 # pkg-config output is meant to be word-split
PKG_CFLAGS=($(pkg-config --cflags "${pkgs[@]}"))
# shellcheck disable=SC2207
PKG_LIBS=($(pkg-config --libs "${pkgs[@]}"))
CFLAGS=(-std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter -Ispop -Iagent "${PKG_CFLAGS[@]}")

# The project's sources (all but main) as one archive, instrumented for
# coverage: each target pulls only the objects it needs, and may define its
# own server_conn_closed (server.o is then never linked in).
lib=$out/libspoajwt-fuzz.a
srcs=(spop/*.c)
for s in agent/*.c; do
	[ "$s" = agent/main.c ] || srcs+=("$s")
done
objs=()
for s in "${srcs[@]}"; do
	o=$obj/${s//\//_}.o
	objs+=("$o")
	if [ ! -e "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find spop agent -name '*.h' -newer "$o" -print -quit)" ]; then
		# shellcheck disable=SC2086 # $SAN is a flag list
		if ! "$CC" "${CFLAGS[@]}" $SAN -fsanitize=fuzzer-no-link -c "$s" -o "$o" 2>"$logs/build-lib.log"; then
			echo "not ok 1 - build of $s failed (log: $logs/build-lib.log)"
			sed 's/^/# /' "$logs/build-lib.log" | head -20
			exit 1
		fi
	fi
done
rm -f "$lib"
ar rcs "$lib" "${objs[@]}" || exit 1

targets=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		targets+=("tests/fuzz/fuzz_${t#fuzz_}.c")
	done
else
	targets=(tests/fuzz/fuzz_*.c)
fi

n=0 failed=0
for src in "${targets[@]}"; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	bin=$out/$name
	log=$logs/$name.log
	n=$((n + 1))
	if [ ! -f "$src" ]; then
		echo "not ok $n - $name: no such target $src"
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC2086
	if ! "$CC" "${CFLAGS[@]}" $SAN -fsanitize=fuzzer "$src" "$lib" "${PKG_LIBS[@]}" -lev -lpthread -lm \
		-o "$bin" >"$logs/build-$name.log" 2>&1; then
		echo "not ok $n - $name: build failed (log: $logs/build-$name.log)"
		sed 's/^/# /' "$logs/build-$name.log" | head -20
		failed=$((failed + 1))
		continue
	fi

	# Scratch corpus: new inputs land here, never in the seed directory.
	scratch=$out/scratch/$short
	arts=$out/artifacts/$short
	rm -rf "$scratch"
	mkdir -p "$scratch" "$arts"
	[ -d "tests/fuzz/corpus/$short" ] && cp -p "tests/fuzz/corpus/$short"/* "$scratch"/ 2>/dev/null

	extra=()
	case $short in
	jwt) extra=(-max_len=9000) ;;
	conn) extra=(-max_len=20000) ;;
	esac

	stamp=$out/scratch/.start-$short
	touch "$stamp"
	# -close_fd_mask=3: the agent's log lines and --help text go to
	# /dev/null; libFuzzer and sanitizer reports still reach the log.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$arts/" "${extra[@]}" \
		"$scratch" >"$log" 2>&1
	rc=$?
	new_art=$(find "$arts" -type f -newer "$stamp" -print -quit)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	# The last status line: "#123 DONE cov: 456 ft: 789 corp: ..."
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	if [ "$rc" -eq 0 ] && [ -z "$new_art" ]; then
		echo "ok $n - $name: ${execs:-?} execs, cov ${cov:-?} ft ${ft:-?}, no crash"
	else
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		[ -n "$art" ] || art=$new_art
		echo "not ok $n - $name: crash, artifact ${art:-none (exit status $rc, log $log)}"
		grep -E -m1 -A 25 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==[0-9]+==' "$log" |
			sed 's/^/# /' | head -30
		echo "# full log: $log"
		failed=$((failed + 1))
	fi
done

echo "1..$n"
echo "fuzz: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
