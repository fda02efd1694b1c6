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
	if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/agent.log"; then
		not_ok "no sanitizer report in the agent's log"
		grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/agent.log" | head -40 | sed 's/^/#   /'
	else
		ok "no sanitizer report in the agent's log"
	fi
}
