#!/usr/bin/env bash
# Memory under many distinct tokens (issue 4): one spoa-jwt (release build,
# one thread, default caches, HS256 key from a local JWKS file) receives
# BENCH_MEMORY_TOKENS [1000000] NOTIFYs, each with a different valid token,
# straight over SPOP (tests/tools/token_flood.c, 20 in flight); its resident
# size is printed every 100,000 tokens. The bound: the verified-token cache
# is capped by --cache-size entries and --cache-bytes (16 MiB) per thread,
# so RSS must level off instead of growing with the token count.
# Loopback only; the agent is stopped by its pid.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$TOP/build/release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
N=${BENCH_MEMORY_TOKENS:-1000000}
OUT=$TOP/build/bench
mkdir -p "$OUT"
T=$(mktemp -d "${TMPDIR:-/tmp}/spoa-jwt-mem.XXXXXX") || exit 2
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

[ -x "$BUILD/tests/token_flood" ] && [ -x "$BUILD/spoa-jwt" ] || { echo "memory: build first (make)" >&2; exit 1; }
secret=$(openssl rand 32 | basenc --base64url | tr -d '=\n')
printf '{"keys":[{"kty":"oct","kid":"mem","alg":"HS256","use":"sig","k":"%s"}]}\n' "$secret" >"$T/jwks.json"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/spoa-jwt" --listen "127.0.0.1:$port" --jwks-file "$T/jwks.json" --threads 1 --log-level warn \
	>"$T/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.05
done
start=$SECONDS
"$BUILD/tests/token_flood" 127.0.0.1 "$port" "$secret" mem "$N" 20 "$AGENT_PID" 100000 >"$T/flood.out" 2>&1
rc=$?
secs=$((SECONDS - start))
res=$OUT/memory-$(date +%Y%m%d-%H%M%S).txt
{
	echo "spoa-jwt memory under distinct tokens $(date -Is)"
	echo "agent: --threads 1, --cache-size 10000, --cache-bytes 16777216 (defaults); HS256 tokens, all distinct and valid"
	echo "tokens      agent RSS"
	awk -F'[ =]' '/^tokens=/ { printf "%8d   %7.1f MiB\n", $2, $4 / 1024 }' "$T/flood.out"
	awk -F'[ =]' '/^tokens=/ { if ($4 > max) max = $4; if ($2 == 100000) at = $4; last = $4 }
		END { printf "max %.1f MiB; from 100,000 tokens to the end: %+.1f MiB\n", max / 1024, (last - at) / 1024 }' \
		"$T/flood.out"
	echo "duration: ${secs}s; token_flood exit status $rc ($(tail -n 1 "$T/flood.out"))"
	echo "bound: RSS <= base (about 10 MiB) + 16 MiB token cache + connection buffers, per thread"
} | tee "$res"
[ "$rc" -eq 0 ]
