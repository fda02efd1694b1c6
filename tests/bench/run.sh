#!/usr/bin/env bash
# `make bench`: HAProxy without auth, HAProxy's native jwt_verify, HAProxy + a null SPOE agent and
# HAProxy + spoa-jwt (cache hits, and --cache-size 0), side by side in one run with alternating
# rounds; then spoa-jwt's verify path alone against `openssl speed`. A benchmark, not a test:
# see tests/bench/README.md for what each case is and how to read the table.
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [3]  BENCH_SECONDS [10]      rounds of every case, seconds per wrk run
#   BENCH_CASES ["1 2 3 4 5"]                 subset of the HAProxy cases
#   BENCH_NBTHREAD [1]                        HAProxy nbthread (the same in every case)
#   BENCH_AGENT_THREADS [1]                   spoa-jwt --threads
#   BENCH_CONNECTIONS [50]  BENCH_WRK_THREADS [2]
#   BENCH_WARMUP_SECONDS [2]                  unmeasured wrk run per case before round 1
#   BENCH_RATE_SECONDS [4]  BENCH_RATE_ROUNDS [2]   fixed-rate runs per case at half the no-auth
#                                             rate, alternating; the best round counts (0 skips)
#   BENCH_VERIFY_SECONDS [1.5]                verify_bench CPU seconds per alg and mode (0 skips
#                                             case 6; openssl speed then is skipped too)
#   BENCH_VERIFY_ROUNDS [2]                   case 6 rounds (verify_bench and openssl speed
#                                             alternate per alg; the best round of each counts)
#   BENCH_BUILD [build/release]               where spoa-jwt and tests/{null_agent,verify_bench} are
#   HAPROXY_BIN [/usr/sbin/haproxy]           another HAProxy, e.g. /opt/haproxy-3/haproxy
#   BENCH_PERF ["" ]                          e.g. "4 5": one extra, unmeasured round of these cases
#                                             with perf record -g on HAProxy + the agent and perf stat
#                                             on the agent: build/bench/perf-case<N>.{txt,data,stat}
#   BENCH_KEEP=1                              keep the work directory (logs, configs, raw wrk output)
# Everything runs on 127.0.0.1 on ports picked free at run time; every process started here is
# stopped by its pid; every loop is bounded. Results: build/bench/results-<date>.txt.
# shellcheck disable=SC2034,SC2154 # PID_<name>, AGENT_OF_<n> are set and read through eval
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 2
BUILD=${BENCH_BUILD:-$TOP/build/release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
AGENT_BIN=${AGENT_BIN:-$BUILD/spoa-jwt}
NULL_AGENT=$BUILD/tests/null_agent
VERIFY_BENCH=$BUILD/tests/verify_bench
HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
PY=/usr/bin/python3

ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-10}
CASES=${BENCH_CASES:-1 2 3 4 5}
NBTHREAD=${BENCH_NBTHREAD:-1}
AGENT_THREADS=${BENCH_AGENT_THREADS:-1}
CONNS=${BENCH_CONNECTIONS:-50}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WARMUP=${BENCH_WARMUP_SECONDS:-2}
RATE_SECS=${BENCH_RATE_SECONDS:-4}
RATE_ROUNDS=${BENCH_RATE_ROUNDS:-2}
VERIFY_SECS=${BENCH_VERIFY_SECONDS:-1.5}
VERIFY_ROUNDS=${BENCH_VERIFY_ROUNDS:-2}
OUTDIR=$TOP/build/bench
PATH_Q=/v1/chat/completions
CLK_TCK=$(getconf CLK_TCK)

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites

need_pkg() { # need_pkg COMMAND DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" -eq 0 ] || die "$1 is missing: run as root  apt-get install -y $2"
	say "bench: installing $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >/dev/null; } ||
		die "could not install $2"
}
need_pkg wrk wrk
[ -x "$NGINX_BIN" ] || need_pkg nginx nginx-light
NGINX_BIN=$(command -v nginx || echo "$NGINX_BIN")
[ -x "$HAPROXY_BIN" ] || die "HAProxy not found at $HAPROXY_BIN"
need_pkg cc build-essential
if ! "$PY" -c 'import jwcrypto' 2>/dev/null; then
	[ "$(id -u)" -eq 0 ] || die "python3-jwcrypto is missing: run as root  apt-get install -y python3-jwcrypto"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-jwcrypto >/dev/null ||
		die "could not install python3-jwcrypto"
fi
for b in "$AGENT_BIN" "$NULL_AGENT" "$VERIFY_BENCH"; do
	[ -x "$b" ] || die "$b not found: run 'make' (or 'make bench') first"
done
mkdir -p "$OUTDIR"
FIXED_RATE=$OUTDIR/fixed_rate
if [ ! -x "$FIXED_RATE" ] || [ "$TOP/tests/bench/fixed_rate.c" -nt "$FIXED_RATE" ]; then
	cc -O2 -Wall -Wextra -o "$FIXED_RATE" "$TOP/tests/bench/fixed_rate.c" || die "could not build fixed_rate"
fi

# ---------------------------------------------------------------- processes

T=$(mktemp -d "${TMPDIR:-/tmp}/spoa-jwt-bench.XXXXXX") || exit 2
chmod 755 "$T"
PIDS=()

free_ports() {
	"$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() { # wait_port PORT SECONDS PID
	local port=$1 secs=$2 pid=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}"
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$T"/*.log "$T"/nginx/error.log; do
			[ -s "$f" ] || continue
			say "---- ${f#"$T"/} (last 15 lines)"
			tail -n 15 "$f" | sed 's/^/    /' >&2
		done
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then say "bench: kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME PORT CMD...: runs CMD in the background (log $T/NAME.log), records its pid in
# PID_<NAME>, waits for PORT.
start() {
	local name=$1 port=$2 pid
	shift 2
	"$@" >"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	eval "PID_$name=$pid"
	wait_port "$port" 15 "$pid" || die "$name did not listen on $port"
}

cpu_ticks() { # utime + stime of the whole process (all threads), in clock ticks
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# fields after "comm)": state(3) ... utime(14) stime(15) -> positions 12 and 13 here
	# shellcheck disable=SC2086 # word splitting wanted
	set -- $s
	echo $(("${12}" + "${13}"))
}

# ---------------------------------------------------------------- set-up

read -r P_UP P_JWKS P_NULL P_A4 P_A5 P_H1 P_H2 P_H3 P_H4 P_H5 < <(free_ports 10)
[ -n "${P_H5:-}" ] || die "could not pick free ports"

"$PY" "$TOP/tests/bench/mkbench.py" "$T/keys" >"$T/mkbench.log" 2>&1 || die "mkbench.py failed"
TOKEN=$(cat "$T/keys/token-RS256")

mkdir -p "$T/nginx"
sed -e "s|@PREFIX@|$T/nginx|g" -e "s|@UPSTREAM_PORT@|$P_UP|g" -e "s|@JWKS_PORT@|$P_JWKS|g" \
	-e "s|@KEYS_DIR@|$T/keys|g" "$TOP/tests/bench/nginx.conf" >"$T/nginx/nginx.conf"
start nginx "$P_UP" "$NGINX_BIN" -p "$T/nginx" -c "$T/nginx/nginx.conf"
wait_port "$P_JWKS" 5 "$PID_nginx" || die "nginx did not listen on $P_JWKS"
start null "$P_NULL" "$NULL_AGENT" --listen "127.0.0.1:$P_NULL"
AGENT_COMMON=(--jwks-uri "http://127.0.0.1:$P_JWKS/auth/v1" --threads "$AGENT_THREADS" --log-level warn)
start agent4 "$P_A4" "$AGENT_BIN" --listen "127.0.0.1:$P_A4" "${AGENT_COMMON[@]}"
start agent5 "$P_A5" "$AGENT_BIN" --listen "127.0.0.1:$P_A5" "${AGENT_COMMON[@]}" --cache-size 0

export BENCH_NBTHREAD=$NBTHREAD LLM_ADDR=127.0.0.1:$P_UP SPOE_CONF=$TOP/conf/spoe-jwt.conf
export JWT_PUBKEY=$T/keys/pub-RS256.pem PROVIDER_API_KEY=sk-provider-bench-key-0123456789
export JWT_HEADER=authorization JWT_PROVIDER=default SPOE_TIMEOUT=2s
start_haproxy() { # start_haproxy N CASE PORT [AGENT_PORT]
	BENCH_CASE=$2 BENCH_BIND=127.0.0.1:$3 AGENT_ADDR=127.0.0.1:${4:-1} \
		start "h$1" "$3" "$HAPROXY_BIN" -db -f "$TOP/tests/bench/haproxy.cfg"
}
start_haproxy 1 noauth "$P_H1"
start_haproxy 2 native "$P_H2"
start_haproxy 3 spoe "$P_H3" "$P_NULL"
start_haproxy 4 spoe "$P_H4" "$P_A4"
start_haproxy 5 spoe "$P_H5" "$P_A5"

NAME_1="no auth"; NAME_2="native jwt_verify"; NAME_3="null agent (SPOE floor)"
NAME_4="spoa-jwt, cache hits"; NAME_5="spoa-jwt, --cache-size 0"
AGENT_OF_1=; AGENT_OF_2=; AGENT_OF_3=$PID_null; AGENT_OF_4=$PID_agent4; AGENT_OF_5=$PID_agent5
port_of() { eval "echo \$P_H$1"; }

# Sanity: every case answers 200 from nginx with the token; the authenticating ones 401 without
# it and with a bad signature (cases 1 and 3 forward everything: they check nothing).
curl_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
BAD=${TOKEN%?????}AAAAA
for c in $CASES; do
	url=http://127.0.0.1:$(port_of "$c")$PATH_Q
	ok=0
	for ((i = 0; i < 50; i++)); do # the agent's first answer may wait for its JWKS fetch
		st=$(curl_status -H 'k: v' -H "Authorization: Bearer $TOKEN" "$url")
		[ "$st" = 200 ] && { ok=1; break; }
		sleep 0.2
	done
	[ $ok = 1 ] || die "case $c: a valid token gets $st, not 200"
	case $c in
	2 | 4 | 5)
		st=$(curl_status -H 'k: v' "$url")
		[ "$st" = 401 ] || die "case $c: no token gets $st, not 401"
		st=$(curl_status -H 'k: v' -H "Authorization: Bearer $BAD" "$url")
		[ "$st" = 401 ] || die "case $c: a bad signature gets $st, not 401"
		;;
	esac
done

# ---------------------------------------------------------------- HAProxy cases

WRK=(wrk -t"$WRK_THREADS" -c"$CONNS" --latency -H 'k: v' -H "Authorization: Bearer $TOKEN")
RAW=$T/rounds.tsv # round case rps p50_us p99_us requests non2xx errors hap_ticks agent_ticks
: >"$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

to_us() { # 1.23ms -> 1230
	awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
		m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : -1;
		printf "%.0f", (m < 0 ? -1 : n * m) }'
}

run_wrk() { # run_wrk CASE SECONDS OUTFILE
	timeout $(($2 + 30)) "${WRK[@]}" -d"${2}s" "http://127.0.0.1:$(port_of "$1")$PATH_Q" >"$3" 2>&1
}

if [ "$WARMUP" -gt 0 ]; then
	say "bench: warm-up, ${WARMUP}s per case"
	for c in $CASES; do run_wrk "$c" "$WARMUP" "$T/warmup-$c.txt" || die "wrk failed (case $c)"; done
fi

say "bench: $ROUNDS rounds x cases [$CASES] x ${SECS}s (wrk -t$WRK_THREADS -c$CONNS, haproxy nbthread $NBTHREAD)"
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $CASES; do
		hp=$(eval "echo \$PID_h$c")
		ap=$(eval "echo \$AGENT_OF_$c")
		h0=$(cpu_ticks "$hp"); a0=0; [ -n "$ap" ] && a0=$(cpu_ticks "$ap")
		out=$T/wrk-r$r-c$c.txt
		run_wrk "$c" "$SECS" "$out" || die "wrk failed (case $c): $(tail -n 3 "$out")"
		h1=$(cpu_ticks "$hp"); a1=0; [ -n "$ap" ] && a1=$(cpu_ticks "$ap")
		rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
		reqs=$(awk '/ requests in / { print $1 }' "$out")
		p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
		p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
		errs=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$out")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "${rps:-0}" "${p50:-0}" "${p99:-0}" \
			"${reqs:-0}" "${non2xx:-0}" "${errs:-0}" $((h1 - h0)) $((a1 - a0)) >>"$RAW"
		say "  round $r case $c: ${rps:-?} req/s  p99 ${p99:-?} us  cpu $((h1 - h0))+$((a1 - a0)) ticks${non2xx:+  NON-2XX $non2xx}"
	done
done

# Optional profile round (not measured): perf on the agent (and HAProxy) of the cases in BENCH_PERF.
PERF_CASES=${BENCH_PERF:-}
if [ -n "$PERF_CASES" ]; then
	command -v perf >/dev/null 2>&1 || need_pkg perf linux-perf
	for c in $PERF_CASES; do
		hp=$(eval "echo \${PID_h$c:-}")
		ap=$(eval "echo \${AGENT_OF_$c:-}")
		[ -n "$hp" ] || continue
		pp=$hp${ap:+,$ap}
		pf=$OUTDIR/perf-case$c
		say "bench: profile round, case $c (perf record -g on pids $pp; perf stat on the agent)"
		perf record -q -F 1999 -g -o "$pf.data" -p "$pp" -- sleep "$SECS" >"$T/perf-rec-$c.log" 2>&1 &
		prec=$!
		PIDS+=("$prec")
		pstat=
		if [ -n "$ap" ]; then
			perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -p "$ap" -o "$pf.stat" -- sleep "$SECS" >/dev/null 2>&1 &
			pstat=$!
			PIDS+=("$pstat")
		fi
		run_wrk "$c" "$SECS" "$T/wrk-perf-c$c.txt"
		wait "$prec"
		[ -n "$pstat" ] && wait "$pstat"
		reqs=$(awk '/ requests in / { print $1 }' "$T/wrk-perf-c$c.txt")
		{
			echo "case $c: $reqs requests in ${SECS}s under perf (not a measurement)"
			[ -n "$pstat" ] && awk -F, -v n="${reqs:-1}" '$3 == "task-clock" { printf "agent CPU: %.0f ms = %.2f us per request (perf adds some)\n", $1, $1 * 1000 / n }
				$3 != "" && $3 != "task-clock" { printf "agent %s: %s = %.3f per request\n", $3, $1, $1 / n }' "$pf.stat"
			echo
			echo "== self time by process, library and symbol (perf report --no-children)"
			perf report -i "$pf.data" --no-children --sort comm,dso,sym --percent-limit 0.7 --stdio 2>/dev/null |
				grep -v '^#' | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -60
			echo
			echo "== self time by library"
			perf report -i "$pf.data" --no-children --sort comm,dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -20
		} >"$pf.txt" 2>&1
		say "  $(head -n 1 "$pf.txt")  -> ${pf#"$TOP"/}.txt"
	done
fi

# p99 at half of the no-auth maximum rate (open loop, fixed rate).
RATE_RAW=$T/rate.tsv
: >"$RATE_RAW"
HALF=
if [ "$RATE_SECS" -gt 0 ] && [[ " $CASES " == *" 1 "* ]]; then
	HALF=$(awk -F'\t' '$2 == 1 { print $3 }' "$RAW" | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f", a[int((NR + 1) / 2)] / 2 }')
	say "bench: fixed rate $HALF req/s (half the no-auth median), $RATE_ROUNDS rounds x ${RATE_SECS}s per case"
	for ((r = 1; r <= RATE_ROUNDS; r++)); do
		for c in $CASES; do
			line=$(timeout $((RATE_SECS + 30)) "$FIXED_RATE" 127.0.0.1 "$(port_of "$c")" "$PATH_Q" "$HALF" "$RATE_SECS" "$CONNS" \
				'k: v' "Authorization: Bearer $TOKEN" 2>"$T/rate-$c.err") || say "  case $c: fixed_rate: $(cat "$T/rate-$c.err") $line"
			printf '%s\t%s\t%s\n' "$r" "$c" "$line" >>"$RATE_RAW"
			say "  round $r case $c: $line"
		done
	done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- case 6: the verify path alone

VERIFY_RAW=$T/verify.txt
SPEED_RAW=$T/speed.txt
: >"$VERIFY_RAW"
: >"$SPEED_RAW"
if [ "$VERIFY_SECS" != 0 ] && [ "$VERIFY_ROUNDS" -gt 0 ]; then
	say "bench: verify path alone: $VERIFY_ROUNDS rounds of (verify_bench ${VERIFY_SECS}s, openssl speed -seconds 3) per alg"
	for ((r = 1; r <= VERIFY_ROUNDS; r++)); do
		for alg in RS256:rsa2048 ES256:ecdsap256 EdDSA:ed25519; do
			timeout 120 "$VERIFY_BENCH" --seconds "$VERIFY_SECS" "$T/keys" "${alg%%:*}" >>"$VERIFY_RAW" 2>>"$T/verify.err" ||
				say "  verify_bench ${alg%%:*} failed: $(tail -n 2 "$T/verify.err")"
			timeout 120 openssl speed -seconds 3 -mr "${alg#*:}" >>"$SPEED_RAW" 2>&1 ||
				say "  openssl speed ${alg#*:} failed"
		done
		say "  round $r done"
	done
fi

# ---------------------------------------------------------------- report

STAMP=$(date +%Y%m%d-%H%M%S)
RESULT=$OUTDIR/results-$STAMP.txt
{
	echo "spoa-jwt bench $(date -Iseconds)"
	echo "nproc: $(nproc)   kernel: $(uname -r)   load average start: $LOAD_START  end: $LOAD_END"
	echo "haproxy: $("$HAPROXY_BIN" -v 2>&1 | head -n 1)"
	echo "openssl: $(openssl version)"
	echo "spoa-jwt: $("$AGENT_BIN" --version 2>&1 | head -n 1)   (agent threads: $AGENT_THREADS)"
	echo "nginx: $("$NGINX_BIN" -v 2>&1 | head -n 1)   wrk: $(wrk -v 2>&1 | head -n 1 | cut -c1-40)"
	echo "load: wrk -t$WRK_THREADS -c$CONNS, $ROUNDS rounds x ${SECS}s per case, alternating; haproxy nbthread $NBTHREAD; nothing pinned"
	echo
	"$PY" "$TOP/tests/bench/report.py" --rounds "$RAW" --rate "$RATE_RAW" --half "${HALF:-0}" \
		--verify "$VERIFY_RAW" --speed "$SPEED_RAW" --clk-tck "$CLK_TCK" \
		--names "1=$NAME_1" "2=$NAME_2" "3=$NAME_3" "4=$NAME_4" "5=$NAME_5"
} >"$RESULT.tmp" 2>&1 || { cat "$RESULT.tmp" >&2; die "report failed"; }
mv "$RESULT.tmp" "$RESULT"
cat "$RESULT"
echo "(saved to ${RESULT#"$TOP"/})"
