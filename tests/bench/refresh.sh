#!/usr/bin/env bash
# Does a slow JWKS refresh move the latency of requests whose key is cached?
# (issue 4). One spoa-jwt (release build, one thread) with a remote JWKS,
# --cache-time 2 (so a background refresh starts every second) and
# --fetch-timeout 1500; tests/tools/token_flood sends BENCH_REFRESH_REQUESTS
# [150000] NOTIFYs (about 6 s) one at a time with one cached token and records each
# round trip. Run twice, alternating: the JWKS server answering at once, and
# answering after 900 ms. Loopback only; processes stopped by their pids.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$TOP/build/release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
N=${BENCH_REFRESH_REQUESTS:-150000}
ROUNDS=${BENCH_REFRESH_ROUNDS:-2}
OUT=$TOP/build/bench
mkdir -p "$OUT"
T=$(mktemp -d "${TMPDIR:-/tmp}/spoa-jwt-refresh.XXXXXX") || exit 2
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

secret=$(openssl rand 32 | basenc --base64url | tr -d '=\n')
printf '{"keys":[{"kty":"oct","kid":"r","alg":"HS256","use":"sig","k":"%s"}]}\n' "$secret" >"$T/jwks.json"
cat >"$T/jwks_server.py" <<'PY'
import http.server, sys, time
body = open(sys.argv[2], "rb").read()
delay = float(sys.argv[3])
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        count[0] += 1
        time.sleep(delay)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        open(sys.argv[4], "w").write(str(count[0]))
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY

run_case() { # DELAY -> prints "p50 p99 p999 max fetches"
	local delay=$1 jp ap jpid apid line
	jp=$(free_port) ap=$(free_port)
	/usr/bin/python3 "$T/jwks_server.py" "$jp" "$T/jwks.json" "$delay" "$T/fetches" >/dev/null 2>&1 &
	jpid=$!
	PIDS+=("$jpid")
	wait_port "$jp" || return 1
	rm -f "$T/fetches"
	"$BUILD/spoa-jwt" --listen "127.0.0.1:$ap" --jwks-uri "http://127.0.0.1:$jp/jwks" --cache-time 2 \
		--fetch-timeout 1500 --threads 1 --log-level warn >"$T/agent.log" 2>&1 &
	apid=$!
	PIDS+=("$apid")
	wait_port "$ap" || return 1
	sleep $((1 + ${delay%.*}))  # the first fetch, slow or not, is over before we measure
	line=$("$BUILD/tests/token_flood" 127.0.0.1 "$ap" "$secret" r "$N" 1 0 1000000000 latency | grep latency_us)
	kill "$apid" "$jpid" 2>/dev/null
	wait "$apid" "$jpid" 2>/dev/null
	echo "$line fetches=$(cat "$T/fetches" 2>/dev/null || echo 0)"
}

res=$OUT/refresh-$(date +%Y%m%d-%H%M%S).txt
{
	echo "spoa-jwt: cached-key latency while the JWKS refreshes $(date -Is)"
	echo "agent: --threads 1 --cache-time 2 --fetch-timeout 1500; $N requests one at a time, one cached token"
	for r in $(seq "$ROUNDS"); do
		for d in 0 0.9; do
			printf 'round %s, JWKS answers after %4ss: %s\n' "$r" "$d" "$(run_case "$d")"
		done
	done
} | tee "$res"
