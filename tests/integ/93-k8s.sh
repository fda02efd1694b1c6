#!/usr/bin/env bash
# conf/k8s/gateway.yaml (Deployment: HAProxy + spoa-jwt sidecar in one pod):
#   - up to date with its template and conf/ (conf/k8s/render.py --check)
#   - every document valid against the Kubernetes OpenAPI schema of its kind (kubernetes-models,
#     npm) and the validator rejects a broken Deployment
#   - structural checks (python3-yaml): kinds, the two containers, probes and their ports, the
#     agent on 127.0.0.1 = HAProxy's AGENT_ADDR, Secret for PROVIDER_API_KEY, ConfigMaps mounted
#     where the args and env point, Service ports, security contexts
#   - the ConfigMaps' files checked by the programs: `haproxy -c` (haproxy.cfg + health.cfg with the
#     pod's env), `spoa-jwt -c` (config.json)
#   - the pod run on loopback from those files (addresses and the JWKS URI changed to local ones):
#     a valid token -> 200, no token -> 401; health.cfg's /healthz and /ready answer 200; with
#     the agent stopped /ready turns 503 (HAProxy's SPOP check marks it DOWN) and /healthz stays 200
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck source=tests/container/tools.sh
. "$TOP/tests/container/tools.sh"
if tools_install >"$T/tools.log" 2>&1; then
	ok "validators installed (build/tools/npm, python3-yaml)"
else
	bail "install validators: $(cat "$T/tools.log")"
fi

M=$TOP/conf/k8s/gateway.yaml
out=$("$PY" "$TOP/conf/k8s/render.py" --check 2>&1)
check_eq "conf/k8s/gateway.yaml is up to date with its template and conf/ ($out)" 0 "$?"
relay "" node "$TOP/tests/container/validate.js" k8s "$M"
relay "" "$PY" "$TOP/tests/container/check_manifests.py" k8s "$M" "$T/pod"

HV=$("$HAPROXY_BIN" -v | awk 'NR == 1 { print $3 }')
mapfile -t PENV < <(grep -v '^$' "$T/pod/haproxy.env")
make_cert
# Paths inside the pod become the extracted files; LLM_ADDR an address (haproxy -c resolves names).
out=$(cd "$T/pod" && env "${PENV[@]}" TLS_CERT="$T/cert.pem" SPOE_CONF="$T/pod/spoe-jwt.conf" \
	LLM_ADDR=127.0.0.1:443 "$HAPROXY_BIN" -c -f haproxy.cfg -f health.cfg 2>&1)
rc=$?
check_eq "k8s: haproxy -c -f haproxy.cfg -f health.cfg with the pod's env ($HV)" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"
check_not_contains "k8s: haproxy -c gives no warning ($HV)" "WARNING" "$out"
out=$("$AGENT_BIN" -c --config "$T/pod/config.json" 2>&1)
check_eq "k8s: spoa-jwt -c --config config.json" "0 valid" "$? $(case $out in *valid*) echo valid ;; *) echo "$out" ;; esac)"

# ---------------------------------------------------------------- the pod on loopback
pick_ports
read -r HEALTH_PORT < <(free_ports 1)
make_keys
start_nginx "$JWKS_PORT"
start_stub llm "$LLM_PORT"
start_stub default "$DEFAULT_PORT"
"$PY" - "$T/pod/config.json" "$T/pod/config.local.json" "$AGENT_PORT" "$JWKS_URI" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["listen"] = "127.0.0.1:" + sys.argv[3]
p = c["providers"]["default"]
p["remote_jwks"]["http_uri"]["uri"] = sys.argv[4]
p["issuer"] = "https://auth.spoa-jwt.test"          # scripts/mkkeys.py's issuer
json.dump(c, open(sys.argv[2], "w"))
EOF
AGENT_FLAGS_K8S=(--config "$T/pod/config.local.json")
"$AGENT_BIN" "${AGENT_FLAGS_K8S[@]}" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_port "$AGENT_PORT" 10 "$AGENT_PID" || bail "agent (k8s config) did not listen on $AGENT_PORT"
# HAProxy with the ConfigMap files and the pod env, on loopback; plain-HTTP upstream stub.
(
	cd "$T/pod" || exit 1
	for kv in "${PENV[@]}"; do export "${kv?}"; done
	unset LLM_TLS_SNI
	export HTTPS_BIND=127.0.0.1:$HTTPS_PORT HTTP_BIND=127.0.0.1:$HTTP_PORT HEALTH_BIND=127.0.0.1:$HEALTH_PORT
	export TLS_CERT=$T/cert.pem SPOE_CONF=$T/pod/spoe-jwt.conf AGENT_ADDR=127.0.0.1:$AGENT_PORT
	export LLM_ADDR=127.0.0.1:$LLM_PORT DEFAULT_ADDR=127.0.0.1:$DEFAULT_PORT PROVIDER_API_KEY=sk-k8s-test
	exec "$HAPROXY_BIN" -db -f haproxy.cfg -f health.cfg
) >"$T/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
wait_port "$HTTP_PORT" 10 "$HAPROXY_PID" || bail "haproxy (k8s config) did not listen on $HTTP_PORT"
wait_port "$HEALTH_PORT" 10 "$HAPROXY_PID" || bail "haproxy (k8s config) did not listen on $HEALTH_PORT"
ROUTE_HEADER=$(grep '^ROUTE_HEADER=' "$T/pod/haproxy.env" | cut -d= -f2)
ROUTE_VALUE=$(grep '^ROUTE_VALUE=' "$T/pod/haproxy.env" | cut -d= -f2)
warm_up 25 || diag "the JWT route still answers $R_STATUS after warm-up"

req k8s-valid --http1.1 -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" -H "Authorization: Bearer $TOKEN_VALID" \
	-H 'content-type: application/json' --data "$CHAT_BODY" "http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
check_eq "pod config: valid token -> 200 from the LLM with the provider key" "200 Bearer sk-k8s-test" "$R_STATUS $(hdr x-echo-authorization)"
req k8s-none --http2 -k -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" --data "$CHAT_BODY" "https://127.0.0.1:$HTTPS_PORT/v1/chat/completions"
check_eq "pod config: no token -> 401 Jwt is missing (h2)" "401 Jwt is missing" "$R_STATUS $R_BODY"
req healthz "http://127.0.0.1:$HEALTH_PORT/healthz"
check_eq "pod config: /healthz -> 200" 200 "$R_STATUS"
req ready "http://127.0.0.1:$HEALTH_PORT/ready"
check_eq "pod config: /ready -> 200 while the agent is up" 200 "$R_STATUS"
req other "http://127.0.0.1:$HEALTH_PORT/other"
check_eq "pod config: other paths on the health port -> 404" 404 "$R_STATUS"
"$AGENT_BIN" healthcheck "127.0.0.1:$AGENT_PORT" >/dev/null 2>&1
check_eq "pod config: the agent's readiness probe command -> 0" 0 "$?"

check_agent_exit
ready=
for ((i = 0; i < 40; i++)); do
	req ready-down "http://127.0.0.1:$HEALTH_PORT/ready"
	[ "$R_STATUS" = 503 ] && { ready=503; break; }
	sleep 0.25
done
check_eq "pod config: /ready -> 503 once HAProxy's SPOP check marks the stopped agent DOWN" 503 "${ready:-$R_STATUS}"
req healthz-down "http://127.0.0.1:$HEALTH_PORT/healthz"
check_eq "pod config: /healthz stays 200 (liveness does not restart HAProxy for the agent)" 200 "$R_STATUS"
check_not_contains "pod config: probes are not logged" "/healthz" "$(cat "$T/haproxy.log")"
