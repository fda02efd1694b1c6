#!/usr/bin/env bash
# SIGHUP: the agent parses its configuration again. A good new config takes
# effect without dropping HAProxy's connections; a bad one is refused with a
# log line and the old one keeps working.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
read -r METRICS_PORT < <(free_ports 1)
make_keys
make_cert
start_nginx "$JWKS_PORT"
start_stub llm "$LLM_PORT"
start_stub default "$DEFAULT_PORT"

cfg=$T/agent.json
write_cfg() { # ISSUER
	cat >"$cfg.tmp" <<JSON
{"listen": "127.0.0.1:$AGENT_PORT", "metrics": "127.0.0.1:$METRICS_PORT",
 "providers": {"default": {"issuer": "$1",
   "remote_jwks": {"http_uri": {"uri": "$JWKS_URI", "timeout": "1s"}, "cache_duration": "300s"}}}}
JSON
	mv "$cfg.tmp" "$cfg"
}
write_cfg https://auth.spoa-jwt.test
"$AGENT_BIN" --config "$cfg" ${AGENT_THREADS:+--threads "$AGENT_THREADS"} >"$T/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_port "$AGENT_PORT" 10 "$AGENT_PID" || bail "agent did not listen"
start_haproxy
warm_up 25 || diag "warm-up: $R_STATUS"

RH="$ROUTE_HEADER: $ROUTE_VALUE"
url="http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
send() { req "$1" -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$url"; }
conns_total() {
	curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "spoajwt_connections_total" { print $2 }'
}
reloads() { grep -c "event=$1" "$T/agent.log"; }

send before
check_eq "issuer matches -> 200" 200 "$R_STATUS"
c0=$(conns_total)

# A new issuer: the same token is now refused, and nothing reconnected.
write_cfg https://other-issuer.test
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(reloads reloaded)" -ge 1 ] && break; sleep 0.1; done
check_eq "agent logged the reload" 1 "$(reloads reloaded)"
sleep 0.3
send after
check_eq "new issuer in force -> 401" "401 Jwt issuer is not configured" "$R_STATUS $R_BODY"
check_eq "HAProxy's agent connections survived the reload" "$c0" "$(conns_total)"

# A broken file: refused, logged, old config (other-issuer) still in force.
printf '{"providers": {"default": {"remote_jwks": ' >"$cfg"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(reloads reload_refused)" -ge 1 ] && break; sleep 0.1; done
check_eq "broken config refused with a log line" 1 "$(reloads reload_refused)"
send broken
check_eq "the previous config still answers" "401 Jwt issuer is not configured" "$R_STATUS $R_BODY"
kill -0 "$AGENT_PID" && ok "agent still running after a bad reload" || not_ok "agent still running after a bad reload"

# Back to the original issuer: accepted again.
write_cfg https://auth.spoa-jwt.test
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(reloads reloaded)" -ge 2 ] && break; sleep 0.1; done
sleep 0.3
send back
check_eq "original issuer back -> 200" 200 "$R_STATUS"
check_agent_exit
