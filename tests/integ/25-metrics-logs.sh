#!/usr/bin/env bash
# Operability: Prometheus metrics and /healthz on --metrics, JSON log lines with
# --log-format json, a per-request debug line that never carries the token.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
read -r METRICS_PORT < <(free_ports 1)
AGENT_FLAGS="--metrics 127.0.0.1:$METRICS_PORT --log-format json --log-level debug"
start_stack
wait_port "$METRICS_PORT" 10 "$AGENT_PID" || bail "metrics port not listening"

RH="$ROUTE_HEADER: $ROUTE_VALUE"
url="http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
for i in 1 2 3; do
	req ok$i -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$url"
	check_eq "valid request $i -> 200" 200 "$R_STATUS"
done
req miss -X POST -H "$RH" --data "$CHAT_BODY" "$url"
check_eq "missing token -> 401" 401 "$R_STATUS"
req bad -X POST -H "$RH" -H "Authorization: Bearer wrong-jwt-token" --data "$CHAT_BODY" "$url"
check_eq "bad token -> 401" 401 "$R_STATUS"

req metrics "http://127.0.0.1:$METRICS_PORT/metrics"
check_eq "/metrics -> 200" 200 "$R_STATUS"
check_contains "exposition content type" "text/plain; version=0.0.4" "$(hdr content-type)"
m=$R_BODY
metric() { printf '%s\n' "$m" | awk -v k="$1" '$1 == k { print $2 }'; }
# warm_up sends one missing-token request before the test's own.
ok_n=$(metric 'spoajwt_verdicts_total{status="Ok"}')
check_eq "three Ok verdicts counted" 3 "$ok_n"
miss_n=$(metric 'spoajwt_verdicts_total{status="JwtMissed"}')
[ "${miss_n:-0}" -ge 1 ] && ok "missing-token verdicts counted ($miss_n)" || not_ok "missing-token verdicts counted ($miss_n)"
check_eq "bad-format verdict counted" 1 "$(metric 'spoajwt_verdicts_total{status="JwtBadFormat"}')"
# Each worker thread has its own cache: with N threads, 3 requests give at least 3-N hits.
hits=$(metric spoajwt_token_cache_hits_total)
misses=$(metric spoajwt_token_cache_misses_total)
[ "${hits:-0}" -ge 1 ] && ok "the token cache served repeated tokens ($hits hits, $misses misses)" ||
	not_ok "the token cache served repeated tokens ($hits hits, $misses misses)"
fetch_ok=$(metric 'spoajwt_jwks_fetches_total{provider="default",result="ok"}')
[ "${fetch_ok:-0}" -ge 1 ] && ok "JWKS fetches counted ($fetch_ok)" || not_ok "JWKS fetches counted ($fetch_ok)"
age=$(metric 'spoajwt_jwks_age_seconds{provider="default"}')
awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 120) }' && ok "key-set age is a sane gauge ($age s)" ||
	not_ok "key-set age is a sane gauge ($age)"
total=$(metric 'spoajwt_verify_duration_seconds_count')
inf=$(metric 'spoajwt_verify_duration_seconds_bucket{le="+Inf"}')
check_eq "histogram +Inf bucket equals its count" "$total" "$inf"
conns=$(metric spoajwt_connections)
[ "${conns:-0}" -ge 1 ] && ok "open SPOP connections gauge ($conns)" || not_ok "open SPOP connections gauge ($conns)"
check_not_contains "no secret in the metrics" "$PROVIDER_API_KEY" "$m"

req healthz "http://127.0.0.1:$METRICS_PORT/healthz"
check_eq "/healthz -> 200 ok" "200 ok" "$R_STATUS $(printf %s "$R_BODY" | tr -d '\n')"
req nf "http://127.0.0.1:$METRICS_PORT/nope"
check_eq "unknown path -> 404" 404 "$R_STATUS"

# Every log line is one JSON object; the debug verdict lines name the status but
# never the token or the provider key.
bad_lines=$("$PY" - "$T/agent.log" <<'PYEOF'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith(("=", "#")):
        continue
    try:
        json.loads(line)
    except ValueError:
        bad += 1
print(bad)
PYEOF
)
check_eq "every agent log line parses as JSON" 0 "$bad_lines"
verdicts=$(grep -c '"event":"verdict"' "$T/agent.log")
[ "$verdicts" -ge 5 ] && ok "a debug line per verdict ($verdicts)" || not_ok "a debug line per verdict ($verdicts)"
check_contains "verdict line carries the status" '"status":"JwtBadFormat"' "$(cat "$T/agent.log")"
check_not_contains "the token never reaches the log" "${TOKEN_VALID%%.*}.${TOKEN_VALID#*.}" "$(cat "$T/agent.log")"
check_not_contains "wrong-jwt-token never reaches the log" "wrong-jwt-token" "$(cat "$T/agent.log")"
check_agent_exit
