# shellcheck shell=bash disable=SC2034 # variables set here are read by the sourcing scripts
# Helpers for the integration tests (tests/integ/NN-*.sh). Source it:
#     . "$(dirname "$0")/lib.sh"
# Environment (set by tests/run.sh; defaults for running a script by hand):
#     TOP (repo root), AGENT_BIN, HAPROXY_BIN, PY (/usr/bin/python3), BUILD
# Everything listens on 127.0.0.1, on ports picked free at run time. Every process a script starts
# is recorded by pid and killed by pid on exit (never by name). Every loop is bounded.

set -u

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$TOP/build/asan}
AGENT_BIN=${AGENT_BIN:-$BUILD/spoa-jwt}
HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}
PY=${PY:-/usr/bin/python3}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
export TOP BUILD AGENT_BIN HAPROXY_BIN PY

T=$(mktemp -d "${TMPDIR:-/tmp}/spoa-jwt-integ.XXXXXX") || exit 2
chmod 755 "$T"
PIDS=()          # every pid we started, in start order
TEST_N=0
TEST_FAILED=0

# ---------------------------------------------------------------- TAP

ok() { TEST_N=$((TEST_N + 1)); echo "ok $TEST_N - $*"; }
not_ok() { TEST_N=$((TEST_N + 1)); TEST_FAILED=$((TEST_FAILED + 1)); echo "not ok $TEST_N - $*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
skip() { echo "# skip: $*"; }

# check_eq WHAT EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "expected: $(printf '%q' "$2")" "     got: $(printf '%q' "$3")"
	fi
}

# check_contains WHAT NEEDLE HAYSTACK
check_contains() {
	case $3 in
	*"$2"*) ok "$1" ;;
	*) not_ok "$1"; diag "expected to contain: $2" "got: $(printf '%q' "$3" | head -c 600)" ;;
	esac
}

# check_not_contains WHAT NEEDLE HAYSTACK
check_not_contains() {
	case $3 in
	*"$2"*) not_ok "$1"; diag "must not contain: $2" ;;
	*) ok "$1" ;;
	esac
}

# ---------------------------------------------------------------- processes

# free_ports N: prints N distinct free TCP ports on 127.0.0.1 (bound together, then released).
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

# wait_port PORT [SECONDS [PID]]: waits until 127.0.0.1:PORT accepts connections (0.1 s steps);
# gives up at once if PID (the process that should listen) has exited.
wait_port() {
	local port=$1 secs=${2:-10} pid=${3:-} i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# wait_pid_gone PID [SECONDS]: waits for PID to exit (a child: reaps it, status in WAIT_RC).
WAIT_RC=
wait_pid_gone() {
	local pid=$1 secs=${2:-5} i
	for ((i = 0; i < secs * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			WAIT_RC=$?
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL. Only for pids this script started.
stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	if ! wait_pid_gone "$pid" 5; then
		kill -KILL "$pid" 2>/dev/null
		wait_pid_gone "$pid" 2
	fi
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}"
	done
	if [ "$TEST_FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
		dump_logs
	fi
	if [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$T"
	else
		echo "# kept $T"
	fi
	[ "$TEST_FAILED" -eq 0 ] && exit "$rc"
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dump_logs: the tail of every process log, as TAP comments (into build/test-logs/...).
dump_logs() {
	local f
	for f in "$T"/*.log "$T"/nginx/error.log; do
		[ -s "$f" ] || continue
		if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
			echo "# ---- ${f#"$T"/} (sanitizer report, first 40 lines of it)"
			grep -E -A 39 -m 1 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | sed 's/^/#   /'
		fi
		echo "# ---- ${f#"$T"/} (last 30 lines)"
		tail -n 30 "$f" | sed 's/^/#   /'
	done
}

# bail WHY: a setup step failed; report it as a failed check and stop.
bail() {
	not_ok "$*"
	exit 1
}

# ---------------------------------------------------------------- pieces

# make_keys: keys, JWKS and tokens into $T/keys (scripts/mkkeys.py, python3-jwcrypto).
make_keys() {
	"$PY" "$TOP/scripts/mkkeys.py" "$T/keys" >"$T/mkkeys.log" 2>&1 || bail "mkkeys.py failed"
	TOKEN_VALID=$(cat "$T/keys/token.valid")
}

# make_cert: self-signed certificate for localhost/127.0.0.1 into $T/cert.pem (cert + key).
make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=localhost \
		-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
		-keyout "$T/tls.key" -out "$T/tls.crt" >"$T/openssl.log" 2>&1 || bail "openssl req failed"
	cat "$T/tls.crt" "$T/tls.key" >"$T/cert.pem"
}

# start_nginx PORT: serves $T/keys/jwks.json at http://127.0.0.1:PORT/auth/v1.
start_nginx() {
	local port=$1 p=$T/nginx
	mkdir -p "$p"
	sed -e "s|@PREFIX@|$p|g" -e "s|@PORT@|$port|g" -e "s|@JWKS_DIR@|$T/keys|g" \
		"$TOP/conf/nginx-jwks.conf" >"$p/nginx.conf"
	"$NGINX_BIN" -p "$p" -c "$p/nginx.conf" >"$T/nginx.log" 2>&1 &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_port "$port" 10 "$NGINX_PID" || bail "nginx did not listen on $port"
	JWKS_URI=http://127.0.0.1:$port/auth/v1
}

# start_stub NAME PORT: tests/llm_stub.py; requests logged to $T/NAME.jsonl.
start_stub() {
	local name=$1 port=$2
	shift 2
	"$PY" "$TOP/tests/llm_stub.py" --name "$name" --port "$port" --log "$T/$name.jsonl" \
		--pid-file "$T/$name.pid" "$@" >"$T/stub-$name.log" 2>&1 &
	PIDS+=("$!")
	eval "STUB_PID_$name=$!"
	wait_port "$port" 10 || bail "stub $name did not listen on $port"
}

# start_agent PORT JWKS_URI [FLAGS...]: $AGENT_BIN on 127.0.0.1:PORT, stderr to $T/agent.log.
start_agent() {
	local port=$1 uri=$2
	shift 2
	[ -x "$AGENT_BIN" ] || bail "agent binary $AGENT_BIN not found (build it first)"
	# AGENT_THREADS (e.g. make tsan-integ) adds --threads N.
	if [ -n "${AGENT_THREADS:-}" ]; then
		set -- --threads "$AGENT_THREADS" "$@"
	fi
	"$AGENT_BIN" --listen "127.0.0.1:$port" --jwks-uri "$uri" "$@" >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	if ! wait_port "$port" 10 "$AGENT_PID"; then
		kill -0 "$AGENT_PID" 2>/dev/null || { wait "$AGENT_PID"; diag "the agent exited with status $?"; }
		bail "agent did not listen on $port"
	fi
}

# haproxy_env: exports what conf/haproxy.cfg reads, from the *_PORT variables.
haproxy_env() {
	export HTTPS_BIND=127.0.0.1:$HTTPS_PORT HTTP_BIND=127.0.0.1:$HTTP_PORT
	export TLS_CERT=$T/cert.pem AGENT_ADDR=127.0.0.1:$AGENT_PORT
	export LLM_ADDR=127.0.0.1:$LLM_PORT DEFAULT_ADDR=127.0.0.1:$DEFAULT_PORT
	export PROVIDER_API_KEY=${PROVIDER_API_KEY:-sk-provider-test-key-0123456789}
	export ROUTE_HEADER=${ROUTE_HEADER:-k} ROUTE_VALUE=${ROUTE_VALUE:-v}
	export JWT_HEADER=${JWT_HEADER:-authorization} JWT_PROVIDER=${JWT_PROVIDER:-default}
	export SPOE_CONF=$TOP/conf/spoe-jwt.conf SPOE_TIMEOUT=${SPOE_TIMEOUT:-2s}
}

# start_haproxy: $HAPROXY_BIN -db -f conf/haproxy.cfg with haproxy_env; waits for both listeners.
start_haproxy() {
	haproxy_env
	"$HAPROXY_BIN" -db -f "$TOP/conf/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	PIDS+=("$HAPROXY_PID")
	wait_port "$HTTPS_PORT" 10 "$HAPROXY_PID" || bail "haproxy did not listen on $HTTPS_PORT"
	wait_port "$HTTP_PORT" 10 || bail "haproxy did not listen on $HTTP_PORT"
}

# warm_up [TRIES]: until a tokenless request on the JWT route gets the agent's verdict (not 503),
# at most TRIES requests 0.2 s apart. Nothing is forwarded upstream by these requests.
warm_up() {
	local tries=${1:-25} i
	for ((i = 0; i < tries; i++)); do
		req warmup -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" "http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
		[ "$R_STATUS" != 503 ] && [ "$R_STATUS" != 000 ] && return 0
		sleep 0.2
	done
	return 1
}

# start_stack: ports, keys, cert, nginx (JWKS), llm + default stubs, agent, haproxy.
# Sets HTTPS_PORT HTTP_PORT JWKS_PORT LLM_PORT DEFAULT_PORT AGENT_PORT, JWKS_URI, TOKEN_VALID.
# START_NGINX=0 leaves the JWKS server down (JWKS_URI still points at its port); AGENT_FLAGS and
# LLM_STUB_FLAGS add flags (word-split) to the agent and the llm stub. Ports already picked and a
# certificate already made are kept.
pick_ports() {
	read -r HTTPS_PORT HTTP_PORT JWKS_PORT LLM_PORT DEFAULT_PORT AGENT_PORT < <(free_ports 6)
	[ -n "${AGENT_PORT:-}" ] || bail "could not pick free ports"
}
start_stack() {
	[ -n "${HTTPS_PORT:-}" ] || pick_ports
	make_keys
	[ -f "$T/cert.pem" ] || make_cert
	if [ "${START_NGINX:-1}" = 1 ]; then
		start_nginx "$JWKS_PORT"
	else
		JWKS_URI=http://127.0.0.1:$JWKS_PORT/auth/v1
	fi
	# shellcheck disable=SC2086 # word splitting wanted
	start_stub llm "$LLM_PORT" ${LLM_STUB_FLAGS:-}
	start_stub default "$DEFAULT_PORT"
	# shellcheck disable=SC2086 # word splitting wanted
	start_agent "$AGENT_PORT" "$JWKS_URI" ${AGENT_FLAGS:-}
	start_haproxy
	warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"
}

# ---------------------------------------------------------------- requests

CHAT_BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'

# req NAME CURL-ARGS...: runs curl, saving NAME.body, NAME.hdr; sets R_STATUS, R_VERSION, R_BODY,
# R_HDRS (header block, CR stripped, names lower-cased).
req() {
	local name=$1 out
	shift
	out=$(curl -sS --max-time 15 -o "$T/$name.body" -D "$T/$name.hdr" \
		-w '%{http_code} %{http_version}' "$@" 2>"$T/$name.curlerr")
	R_STATUS=${out%% *}
	R_VERSION=${out##* }
	R_BODY=$(cat "$T/$name.body" 2>/dev/null; echo x)
	R_BODY=${R_BODY%x}
	R_HDRS=$(tr -d '\r' <"$T/$name.hdr" 2>/dev/null | awk -F': ' 'BEGIN{OFS=": "} /:/ {$1=tolower($1)} {print}')
}

# hdr NAME: the value of response header NAME from the last req (first occurrence, "" if none).
hdr() {
	printf '%s\n' "$R_HDRS" | awk -v n="$1" 'index($0, n ": ") == 1 { print substr($0, length(n) + 3); exit }'
}

# hdr_count NAME: how many times header NAME appears in the last response.
hdr_count() {
	printf '%s\n' "$R_HDRS" | awk -v n="$1" 'index($0, n ": ") == 1 { c++ } END { print c + 0 }'
}

# stub_lines NAME: number of requests the stub NAME has logged.
stub_lines() {
	if [ -f "$T/$1.jsonl" ]; then wc -l <"$T/$1.jsonl" | tr -d ' '; else echo 0; fi
}

# stub_last NAME EXPR: evaluates a Python expression on the last logged request of stub NAME;
# r = the record, h = {lower-case header name: [values]}.
stub_last() {
	"$PY" - "$T/$1.jsonl" "$2" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
if not lines:
    print("<no request>")
    sys.exit(0)
r = json.loads(lines[-1])
h = {}
for k, v in r["headers"]:
    h.setdefault(k.lower(), []).append(v)
print(eval(sys.argv[2]))
EOF
}

# check_agent_exit: SIGTERM the agent and check it exits 0 without a sanitizer report.
check_agent_exit() {
	local rc
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		wait "$AGENT_PID" 2>/dev/null
		rc=$?
		not_ok "agent was still running at the end (it exited with status $rc)"
		return
	fi
	kill -TERM "$AGENT_PID"
	if wait_pid_gone "$AGENT_PID" 10; then
		check_eq "agent exits 0 on SIGTERM" 0 "$WAIT_RC"
	else
		not_ok "agent exits within 10 s of SIGTERM"
	fi
	if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$T/agent.log"; then
		not_ok "no sanitizer report in the agent's log"
		grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$T/agent.log" | head -40 | sed 's/^/#   /'
	else
		ok "no sanitizer report in the agent's log"
	fi
}

# ---------------------------------------------------------------- faults, load, soak (80-89, tests/soak)
# Added for the fault/abuse/load tests; nothing above depends on these.

SPOP_CLIENT=${SPOP_CLIENT:-$TOP/tests/tools/spop_client.py}

# proc_rss_kb PID: VmRSS of PID in KiB ("" when gone). proc_fds PID: its open fd count.
proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l | tr -d ' '; }

# now_s: wall clock, seconds with milliseconds (same clock as Python's time.time()).
now_s() { date +%s.%3N; }

# wait_file FILE SECONDS: until FILE exists (0.05 s steps).
wait_file() {
	local f=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		[ -e "$f" ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_grep_count FILE REGEX N SECONDS: until FILE has at least N lines matching REGEX.
wait_grep_count() {
	local f=$1 re=$2 n=$3 secs=${4:-10} i c
	for ((i = 0; i < secs * 10; i++)); do
		c=$(grep -Ec -- "$re" "$f" 2>/dev/null)
		[ "${c:-0}" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# write_jwks_ctl: writes $T/jwks_ctl.py, a JWKS server whose behaviour is read from a mode file
# at every request. Mode syntax: [DELAY_MS/]KIND[:ARG]
#   good            the JWKS file given by --jwks        file:PATH    that file
#   500, 404        that status, small JSON body         html         200 text/html page
#   truncated       the JWKS cut in half (200)           empty        {"keys": []}
#   wrongtype       keys whose kty is unsupported/bad    huge         10 MiB body, Content-Length
#   huge-nolen      10 MiB, no Content-Length (close-delimited)
#   redirect        302 to itself, for ever              reset        connection reset, no answer
#   hang            accepts, reads, never answers (30 s) rotate:DIR:T0:EPOCH  DIR/jwks-<n>.json,
#                   n = int((now - T0) / EPOCH)
# Every request is logged to --log as "unix_time mode status".
write_jwks_ctl() {
	cat >"$T/jwks_ctl.py" <<'EOF'
import argparse, json, os, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--jwks", required=True)
ap.add_argument("--mode-file", required=True)
ap.add_argument("--log", required=True)
A = ap.parse_args()
LOCK = threading.Lock()


def log(mode, code):
    with LOCK, open(A.log, "a") as f:
        f.write("%.3f %s %s\n" % (time.time(), mode, code))


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        try:
            mode = open(A.mode_file).read().strip() or "good"
        except OSError:
            mode = "good"
        kind = mode
        if "/" in kind.split(":")[0]:
            delay, kind = kind.split("/", 1)
            time.sleep(min(float(delay), 30000) / 1000.0)
        kind, _, arg = kind.partition(":")
        code = 200
        try:
            if kind == "good":
                self.send(200, open(A.jwks, "rb").read())
            elif kind == "file":
                self.send(200, open(arg, "rb").read())
            elif kind == "rotate":
                d, t0, epoch = arg.split(":")
                n = int((time.time() - float(t0)) / float(epoch))
                self.send(200, open(os.path.join(d, "jwks-%d.json" % n), "rb").read())
            elif kind in ("500", "404"):
                code = int(kind)
                self.send(code, b'{"error":"nope"}')
            elif kind == "html":
                self.send(200, b"<!doctype html><html><body><h1>Sign in</h1></body></html>\n", "text/html")
            elif kind == "truncated":
                b = open(A.jwks, "rb").read()
                self.send(200, b[: len(b) // 2])
            elif kind == "empty":
                self.send(200, b'{"keys":[]}')
            elif kind == "wrongtype":
                self.send(200, json.dumps({"keys": [
                    {"kty": "XYZ", "kid": "demo-key-1", "n": "AQAB", "e": "AQAB"},
                    {"kty": 42, "kid": "demo-key-1"},
                    {"kid": "demo-key-1", "alg": "RS256"}]}).encode())
            elif kind == "huge":
                n = 10 << 20
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                chunk = b" " * 65536
                for _ in range(n // len(chunk)):
                    self.wfile.write(chunk)
            elif kind == "huge-nolen":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"keys":[')
                chunk = b" " * 65536
                for _ in range(160):
                    self.wfile.write(chunk)
                self.wfile.write(b"]}")
            elif kind == "redirect":
                code = 302
                self.send(302, b"", extra=[("Location", "http://127.0.0.1:%d%s" % (A.port, self.path))])
            elif kind == "reset":
                code = 0
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif kind == "hang":
                code = 0
                time.sleep(30)
            else:
                code = 500
                self.send(500, b"unknown mode")
        except (BrokenPipeError, ConnectionResetError, OSError):
            code = "aborted-%s" % code
        log(mode, code)


class S(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


S(("127.0.0.1", A.port), H).serve_forever()
EOF
}

# start_jwks_ctl PORT MODE: the server above on PORT serving $T/keys/jwks.json (or what MODE
# says); the mode lives in $T/jwks.mode (jwks_mode MODE changes it). Sets JWKS_CTL_PID.
start_jwks_ctl() {
	local port=$1
	[ -f "$T/jwks_ctl.py" ] || write_jwks_ctl
	[ -n "${2:-}" ] && jwks_mode "$2"
	"$PY" "$T/jwks_ctl.py" --port "$port" --jwks "$T/keys/jwks.json" --mode-file "$T/jwks.mode" \
		--log "$T/jwks-requests.txt" >"$T/jwks-ctl.log" 2>&1 &
	JWKS_CTL_PID=$!
	PIDS+=("$JWKS_CTL_PID")
	wait_port "$port" 10 "$JWKS_CTL_PID" || bail "the JWKS server did not listen on $port"
}

jwks_mode() { printf '%s\n' "$1" >"$T/jwks.mode.tmp" && mv "$T/jwks.mode.tmp" "$T/jwks.mode"; }

# write_load_py: writes $T/load.py, a bounded HTTP load client for the JWT route. Each request
# carries "x-test-id: CLASS-N"; one CSV line per request: t_start,t_end,class,id,status (0 =
# transport error). Classes (--mix CLASS:WEIGHT,...): valid expired forged bad-signature
# wrong-jwt-token missing unknown-kid alg-none not-yet-valid; tokens from --keys (mkkeys.py dir).
write_load_py() {
	cat >"$T/load.py" <<'EOF'
import argparse, base64, http.client, json, os, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--keys", required=True)
ap.add_argument("--mix", default="valid:1")
ap.add_argument("--n", type=int, default=0, help="stop after N requests (0: no count limit)")
ap.add_argument("--conc", type=int, default=10)
ap.add_argument("--duration", type=float, default=20, help="hard time bound, seconds")
ap.add_argument("--out", required=True)
ap.add_argument("--route", default="k: v")
A = ap.parse_args()


def tok(name):
    with open(os.path.join(A.keys, name)) as f:
        return f.read().strip()


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


valid = tok("token.valid")
claims = json.loads(base64.urlsafe_b64decode(valid.split(".")[1] + "=="))
TOKENS = {
    "valid": valid, "expired": tok("token.expired"), "forged": tok("token.other-key"),
    "bad-signature": tok("token.bad-signature"), "wrong-jwt-token": "wrong-jwt-token",
    "missing": None, "unknown-kid": tok("token.unknown-kid"),
    "alg-none": b64({"alg": "none", "typ": "JWT", "kid": "demo-key-1"}) + "." + b64(claims) + ".",
    "not-yet-valid": tok("token.not-yet-valid"),
}
mix = []
for part in A.mix.split(","):
    c, _, w = part.partition(":")
    if c not in TOKENS:
        sys.exit("unknown class " + c)
    mix += [c] * int(w or 1)
rh, rv = [x.strip() for x in A.route.split(":", 1)]
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
lock = threading.Lock()
counter = [0]
rows = []
t_stop = time.time() + A.duration


def next_id():
    with lock:
        if A.n and counter[0] >= A.n:
            return None
        counter[0] += 1
        return counter[0] - 1


def worker():
    conn = None
    while time.time() < t_stop:
        i = next_id()
        if i is None:
            break
        cls = mix[i % len(mix)]
        h = {rh: rv, "content-type": "application/json", "x-test-id": "%s-%d" % (cls, i)}
        if TOKENS[cls] is not None:
            h["authorization"] = "Bearer " + TOKENS[cls]
        t0 = time.time()
        status = 0
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", A.port, timeout=10)
            conn.request("POST", "/v1/chat/completions", body=BODY, headers=h)
            r = conn.getresponse()
            r.read()
            status = r.status
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception:
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            rows.append("%.3f,%.3f,%s,%s-%d,%d" % (t0, time.time(), cls, cls, i, status))
    if conn is not None:
        conn.close()


ths = [threading.Thread(target=worker, daemon=True) for _ in range(A.conc)]
for t in ths:
    t.start()
for t in ths:
    t.join(A.duration + 15)
with open(A.out, "w") as f:
    f.write("\n".join(rows) + ("\n" if rows else ""))
print("load sent=%d seconds=%.1f" % (len(rows), A.duration))
EOF
}

# load_report CSV STUB_JSONL [PROVIDER_KEY]: counts of a load run and of what the upstream stub
# received, as "key=value" lines: sent, sent_<class>, status_<class>_<code>, forwarded,
# forwarded_<class>, forwarded_without_valid_token (forwarded requests whose x-test-id class is
# not "valid", or that lack an x-test-id, or whose Authorization is not the provider key),
# forwarded_unknown_id (an x-test-id that was never sent), valid_not_200.
load_report() {
	"$PY" - "$1" "$2" "${3:-$PROVIDER_API_KEY}" <<'EOF'
import collections, json, sys
csv, jsonl, pkey = sys.argv[1:4]
sent = collections.Counter(); st = collections.Counter(); ids = {}
valid_not_200 = 0
for line in open(csv):
    if not line.strip():
        continue
    t0, t1, cls, rid, status = line.strip().split(",")
    sent[cls] += 1; st[(cls, status)] += 1; ids[rid] = cls
    if cls == "valid" and status != "200":
        valid_not_200 += 1
fwd = collections.Counter(); bad = 0; unknown = 0
try:
    lines = open(jsonl).read().splitlines()
except OSError:
    lines = []
for line in lines:
    r = json.loads(line)
    h = collections.defaultdict(list)
    for k, v in r["headers"]:
        h[k.lower()].append(v)
    tid = h.get("x-test-id", [""])[0]
    cls = tid.rsplit("-", 1)[0] if tid else "<none>"
    if tid and tid not in ids:
        unknown += 1
    fwd[cls] += 1
    if cls != "valid" or h.get("authorization") != ["Bearer " + pkey]:
        bad += 1
print("sent=%d" % sum(sent.values()))
for c in sorted(sent):
    print("sent_%s=%d" % (c, sent[c]))
for (c, s) in sorted(st):
    print("status_%s_%s=%d" % (c, s, st[(c, s)]))
print("forwarded=%d" % sum(fwd.values()))
for c in sorted(fwd):
    print("forwarded_%s=%d" % (c, fwd[c]))
print("forwarded_without_valid_token=%d" % bad)
print("forwarded_unknown_id=%d" % unknown)
print("valid_not_200=%d" % valid_not_200)
EOF
}

# kv KEY TEXT: the value of "KEY=value" in TEXT (words or lines), "" if absent.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2); exit }'; }

# ---------------------------------------------------------------- agent from a JSON config, static files
# (added for tests 70-79; the functions above are unchanged)

TOK=${TOK:-$TOP/tests/interop/tok.py}

# tok ARGS...: tests/interop/tok.py (key / jwks / sign, see its docstring).
tok() {
	"$PY" "$TOK" "$@"
}

# start_static NAME PORT ROOT: nginx serving the files under ROOT as they are (JSON by default) on
# 127.0.0.1:PORT, access log $T/NAME/access.log. Sets STATIC_PID_<NAME>. Restartable: a second
# call with the same NAME after stop_static reuses the log.
start_static() {
	local name=$1 port=$2 root=$3 p=$T/$1 pid
	mkdir -p "$p"
	cat >"$p/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $p/nginx.pid;
error_log $p/error.log info;
events { worker_connections 64; }
http {
    access_log $p/access.log;
    client_body_temp_path $p/client_body;
    proxy_temp_path $p/proxy;
    fastcgi_temp_path $p/fastcgi;
    uwsgi_temp_path $p/uwsgi;
    scgi_temp_path $p/scgi;
    server {
        listen 127.0.0.1:$port;
        root $root;
        default_type application/json;
        location / { try_files \$uri =404; }
    }
}
NGINX
	"$NGINX_BIN" -p "$p" -c "$p/nginx.conf" >"$T/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	eval "STATIC_PID_$name=$pid"
	wait_port "$port" 10 "$pid" || bail "nginx $name did not listen on $port"
}

# stop_static NAME: stops that nginx (it stays in PIDS; stopping it again is harmless).
stop_static() {
	local pid
	eval "pid=\${STATIC_PID_$1:-}"
	[ -n "$pid" ] && stop_pid "$pid"
}

# fetch_count NAME PATH: GET requests for PATH in nginx NAME's access log so far.
fetch_count() {
	if [ -f "$T/$1/access.log" ]; then
		grep -c "\"GET $2 " "$T/$1/access.log"
	else
		echo 0
	fi
}

# start_agent_config PORT CONFIG [FLAGS...]: $AGENT_BIN --config CONFIG on 127.0.0.1:PORT, stderr
# to $T/agent.log, AGENT_PID set (so check_agent_exit works as with start_agent).
start_agent_config() {
	local port=$1 cfg=$2
	shift 2
	[ -x "$AGENT_BIN" ] || bail "agent binary $AGENT_BIN not found (build it first)"
	if [ -n "${AGENT_THREADS:-}" ]; then
		set -- --threads "$AGENT_THREADS" "$@"
	fi
	"$AGENT_BIN" --config "$cfg" --listen "127.0.0.1:$port" "$@" >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	if ! wait_port "$port" 10 "$AGENT_PID"; then
		kill -0 "$AGENT_PID" 2>/dev/null || { wait "$AGENT_PID"; diag "the agent exited with status $?"; }
		bail "agent did not listen on $port"
	fi
}

# start_gateway: with the agent already listening on AGENT_PORT: certificate (if none yet), llm and
# default stubs, haproxy (conf/haproxy.cfg, haproxy_env), warm-up. Needs pick_ports first.
start_gateway() {
	[ -f "$T/cert.pem" ] || make_cert
	# shellcheck disable=SC2086 # word splitting wanted
	start_stub llm "$LLM_PORT" ${LLM_STUB_FLAGS:-}
	start_stub default "$DEFAULT_PORT"
	start_haproxy
	warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"
}

# restart_haproxy: stops the running haproxy and starts it again (e.g. with other ROUTE*/JWT_*
# environment); the old pid stays in PIDS, harmless.
restart_haproxy() {
	stop_pid "$HAPROXY_PID"
	start_haproxy
	warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"
}

# jwt_req NAME TOKEN [CURL-ARGS...]: POST CHAT_BODY on the JWT route over plain HTTP with
# "Authorization: Bearer TOKEN" (no header when TOKEN is empty); sets what req sets, plus
# R_VERDICT="status|body|www-authenticate" (for a 200 just "200").
JWT_PATH=${JWT_PATH:-/v1/chat/completions}
jwt_req() {
	local name=$1 tok=$2
	shift 2
	if [ -n "$tok" ]; then
		set -- -H "Authorization: Bearer $tok" "$@"
	fi
	req "$name" -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" -H 'content-type: application/json' \
		--data "$CHAT_BODY" "$@" "http://127.0.0.1:$HTTP_PORT$JWT_PATH"
	if [ "$R_STATUS" = 200 ]; then
		R_VERDICT=200
	else
		R_VERDICT="$R_STATUS|$R_BODY|$(hdr www-authenticate)"
	fi
}

# verdict STATUS MESSAGE [REALM-PATH]: the R_VERDICT that jwt_req should produce for an Envoy-like
# answer on plain HTTP (REALM-PATH defaults to JWT_PATH; "Jwt is missing" has no error=).
verdict() {
	local realm="Bearer realm=\"http://127.0.0.1:$HTTP_PORT${3:-$JWT_PATH}\""
	if [ "$1" = 200 ]; then
		echo 200
	elif [ "$2" = "Jwt is missing" ]; then
		echo "$1|$2|$realm"
	else
		echo "$1|$2|$realm, error=\"invalid_token\""
	fi
}
