#!/usr/bin/env bash
# The reference gateway on loopback, in the foreground:  scripts/demo.sh [AGENT_BINARY]
# (make demo runs it with build/release/spoa-jwt). Ctrl-C stops every process it started.
#
# Starts: nginx serving the JWKS at /auth/v1, the LLM stand-in, the default-backend stand-in,
# spoa-jwt and HAProxy (HTTPS with a self-signed certificate, ALPN h2 + http/1.1, and plain HTTP).
# Keys, tokens, certificate and logs go to $DEMO_DIR (default ./demo, git-ignored).
#
# Ports (environment, defaults):
#   DEMO_HTTPS_PORT=8443 DEMO_HTTP_PORT=8080 DEMO_JWKS_PORT=8081 DEMO_LLM_PORT=8082
#   DEMO_DEFAULT_PORT=8083 DEMO_AGENT_PORT=12345
# Also: PROVIDER_API_KEY (default sk-demo-provider-key), ROUTE_HEADER/ROUTE_VALUE (k / v),
#   DEMO_DIR, HAPROXY_BIN (default: haproxy in PATH), NGINX_BIN, DEMO_LOG_LEVEL (info).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
agent=${1:-$top/build/release/spoa-jwt}
case $agent in /*) ;; *) agent=$PWD/$agent ;; esac
PY=/usr/bin/python3
HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
DEMO_DIR=${DEMO_DIR:-$top/demo}
HTTPS_PORT=${DEMO_HTTPS_PORT:-8443}
HTTP_PORT=${DEMO_HTTP_PORT:-8080}
JWKS_PORT=${DEMO_JWKS_PORT:-8081}
LLM_PORT=${DEMO_LLM_PORT:-8082}
DEFAULT_PORT=${DEMO_DEFAULT_PORT:-8083}
AGENT_PORT=${DEMO_AGENT_PORT:-12345}
ROUTE_HEADER=${ROUTE_HEADER:-k}
ROUTE_VALUE=${ROUTE_VALUE:-v}
PROVIDER_API_KEY=${PROVIDER_API_KEY:-sk-demo-provider-key}

die() { echo "demo: $*" >&2; exit 1; }

[ -x "$agent" ] || die "agent binary $agent not found (run: make demo)"
[ -x "$HAPROXY_BIN" ] || die "haproxy not found (apt-get install haproxy)"
[ -x "$NGINX_BIN" ] || die "nginx not found (apt-get install nginx-light)"
[ -x "$PY" ] || die "$PY not found (apt-get install python3 python3-jwcrypto)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for v in HTTPS_PORT HTTP_PORT JWKS_PORT LLM_PORT DEFAULT_PORT AGENT_PORT; do
	port_busy "${!v}" && die "port ${!v} (DEMO_$v) is already in use on 127.0.0.1: set DEMO_$v to a free port"
done

pids=()
names=()
stop_all() {
	local i pid n
	trap - INT TERM EXIT
	echo
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[$i]}
		kill -TERM "$pid" 2>/dev/null && echo "demo: stopped ${names[$i]} (pid $pid)"
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[$i]}
		for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# start NAME LOGFILE CMD...: background process, recorded by pid.
start() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

wait_port() {
	local port=$1 name=$2 i
	for ((i = 0; i < 100; i++)); do
		port_busy "$port" && return 0
		sleep 0.1
	done
	die "$name did not listen on 127.0.0.1:$port; see $DEMO_DIR/$name.log"
}

mkdir -p "$DEMO_DIR"
chmod 755 "$DEMO_DIR"
rm -rf "$DEMO_DIR/keys" "$DEMO_DIR/nginx"
echo "demo: keys, JWKS and tokens (python3-jwcrypto) -> $DEMO_DIR/keys"
"$PY" "$top/scripts/mkkeys.py" "$DEMO_DIR/keys" || die "mkkeys.py failed"
echo "demo: self-signed certificate for localhost/127.0.0.1 -> $DEMO_DIR/cert.pem"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=localhost \
	-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
	-keyout "$DEMO_DIR/tls.key" -out "$DEMO_DIR/tls.crt" >"$DEMO_DIR/openssl.log" 2>&1 ||
	die "openssl req failed: see $DEMO_DIR/openssl.log"
cat "$DEMO_DIR/tls.crt" "$DEMO_DIR/tls.key" >"$DEMO_DIR/cert.pem"
chmod 600 "$DEMO_DIR/cert.pem" "$DEMO_DIR/tls.key"

mkdir -p "$DEMO_DIR/nginx"
sed -e "s|@PREFIX@|$DEMO_DIR/nginx|g" -e "s|@PORT@|$JWKS_PORT|g" -e "s|@JWKS_DIR@|$DEMO_DIR/keys|g" \
	"$top/conf/nginx-jwks.conf" >"$DEMO_DIR/nginx/nginx.conf"
start nginx "$DEMO_DIR/nginx.log" "$NGINX_BIN" -p "$DEMO_DIR/nginx" -c "$DEMO_DIR/nginx/nginx.conf"
wait_port "$JWKS_PORT" nginx
jwks_uri=http://127.0.0.1:$JWKS_PORT/auth/v1

start llm "$DEMO_DIR/llm.log" "$PY" "$top/tests/llm_stub.py" --name llm --port "$LLM_PORT" \
	--log "$DEMO_DIR/llm-requests.jsonl" --pid-file "$DEMO_DIR/llm.pid"
start default "$DEMO_DIR/default.log" "$PY" "$top/tests/llm_stub.py" --name default \
	--port "$DEFAULT_PORT" --log "$DEMO_DIR/default-requests.jsonl" --pid-file "$DEMO_DIR/default.pid"
wait_port "$LLM_PORT" llm
wait_port "$DEFAULT_PORT" default

start agent "$DEMO_DIR/agent.log" "$agent" --listen "127.0.0.1:$AGENT_PORT" --jwks-uri "$jwks_uri" \
	--log-level "${DEMO_LOG_LEVEL:-info}"
wait_port "$AGENT_PORT" agent

export HTTPS_BIND=127.0.0.1:$HTTPS_PORT HTTP_BIND=127.0.0.1:$HTTP_PORT TLS_CERT=$DEMO_DIR/cert.pem
export AGENT_ADDR=127.0.0.1:$AGENT_PORT LLM_ADDR=127.0.0.1:$LLM_PORT DEFAULT_ADDR=127.0.0.1:$DEFAULT_PORT
export PROVIDER_API_KEY ROUTE_HEADER ROUTE_VALUE SPOE_CONF=$top/conf/spoe-jwt.conf
"$HAPROXY_BIN" -c -q -f "$top/conf/haproxy.cfg" || die "haproxy -c failed on conf/haproxy.cfg"
start haproxy "$DEMO_DIR/haproxy.log" "$HAPROXY_BIN" -db -f "$top/conf/haproxy.cfg"
wait_port "$HTTPS_PORT" haproxy
wait_port "$HTTP_PORT" haproxy

token=$(cat "$DEMO_DIR/keys/token.valid")
url=https://127.0.0.1:$HTTPS_PORT/v1/chat/completions
body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'

# Self-check: the three reference requests, statuses only.
probe() {
	curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" \
		-H 'content-type: application/json' "$@" --data "$body" "$url"
}
s1=$(probe -H "Authorization: Bearer $token")
s2=$(probe -H 'Authorization: Bearer wrong-jwt-token')
s3=$(probe)

cat <<EOF

spoa-jwt demo is running (state and logs in $DEMO_DIR):
  HTTPS  https://127.0.0.1:$HTTPS_PORT   (h2, http/1.1; self-signed: use curl -k)
  HTTP   http://127.0.0.1:$HTTP_PORT
  JWKS   $jwks_uri
  LLM stand-in 127.0.0.1:$LLM_PORT, default backend 127.0.0.1:$DEFAULT_PORT, spoa-jwt 127.0.0.1:$AGENT_PORT
  pids: $(for i in "${!pids[@]}"; do printf '%s=%s ' "${names[$i]}" "${pids[$i]}"; done)
Self-check: valid token -> $s1, wrong-jwt-token -> $s2, no token -> $s3 (expected 200, 401, 401)

1) valid token -> 200 and the LLM's JSON answer:
curl -k -i -X POST '$url' -H '$ROUTE_HEADER: $ROUTE_VALUE' -H 'content-type: application/json' -H 'Authorization: Bearer $token' --data '$body'

2) wrong-jwt-token -> 401 "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections":
curl -k -i -X POST '$url' -H '$ROUTE_HEADER: $ROUTE_VALUE' -H 'content-type: application/json' -H 'Authorization: Bearer wrong-jwt-token' --data '$body'

3) no token -> 401 "Jwt is missing":
curl -k -i -X POST '$url' -H '$ROUTE_HEADER: $ROUTE_VALUE' -H 'content-type: application/json' --data '$body'

More tokens in $DEMO_DIR/keys (token.expired, token.other-key, ...). Requests the LLM received:
$DEMO_DIR/llm-requests.jsonl. Press Ctrl-C to stop.
EOF

# Foreground until Ctrl-C or until one of the processes dies.
while :; do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "demo: ${names[$i]} (pid ${pids[$i]}) exited; see $DEMO_DIR/${names[$i]}.log" >&2
			stop_all
			exit 1
		fi
	done
	sleep 1
done
