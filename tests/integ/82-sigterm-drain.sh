#!/usr/bin/env bash
# SIGTERM drains. Verifications are parked on a slow JWKS refetch (the server answers after
# 800 ms, --fetch-timeout 1000): tokens whose kid is only in the next JWKS. While they wait the
# agent gets SIGTERM:
#   - every in-flight request through HAProxy still gets its verdict (200 here, never 503);
#   - a raw SPOP peer with 5 parked NOTIFYs gets its 5 ACKs, then AGENT-DISCONNECT status 0,
#     then EOF, and nothing after the DISCONNECT;
#   - the agent exits 0, without a sanitizer report; afterwards the route fails closed (503).
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
write_jwks_ctl
jwks_mode good
start_jwks_ctl "$JWKS_PORT"
AGENT_FLAGS="--threads 1 --fetch-timeout 1000 --refetch-interval 0" START_NGINX=0 start_stack

# The next JWKS also publishes the key under the kid of token.unknown-kid.
"$PY" - "$T/keys/jwks.json" "$T/keys/jwks-next.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
k = dict(d["keys"][0]); k["kid"] = k["kid"] + "-unknown"
d["keys"].append(k)
json.dump(d, open(sys.argv[2], "w"))
EOF
NEXT_TOKEN=$(cat "$T/keys/token.unknown-kid")
RH="$ROUTE_HEADER: $ROUTE_VALUE"
URL=http://127.0.0.1:$HTTP_PORT/v1/chat/completions

req before --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$URL"
check_eq "before: valid token -> 200" 200 "$R_STATUS"
jwks_mode "800/file:$T/keys/jwks-next.json"

# In-flight requests through HAProxy: 6 that park on the refetch, 2 valid, 2 forged.
cls=(next next next next next next valid valid forged forged)
for i in "${!cls[@]}"; do
	case ${cls[$i]} in
	next) tok=$NEXT_TOKEN ;;
	valid) tok=$TOKEN_VALID ;;
	forged) tok=$(cat "$T/keys/token.other-key") ;;
	esac
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST -H "$RH" -H "x-test-id: ${cls[$i]}-$i" \
		-H "Authorization: Bearer $tok" --data "$CHAT_BODY" "$URL" >"$T/inflight-$i.status" 2>/dev/null &
	PIDS+=("$!")
	CURL_PIDS+=("$!")
done
# A raw SPOP peer with 5 parked NOTIFYs on its own connection.
"$PY" "$SPOP_CLIENT" --port "$AGENT_PORT" drain --token "$NEXT_TOKEN" --count 5 \
	--ready-file "$T/drain.ready" --timeout 10 >"$T/drain.out" 2>"$T/drain.err" &
DRAIN_PID=$!
PIDS+=("$DRAIN_PID")
wait_file "$T/drain.ready" 5 || bail "the raw SPOP peer did not send its NOTIFYs"
sleep 0.3
t_term=$(now_s)
kill -TERM "$AGENT_PID"
if wait_pid_gone "$AGENT_PID" 10; then
	check_eq "agent exits 0 after SIGTERM" 0 "$WAIT_RC"
	diag "agent exited $(awk -v a="$(now_s)" -v b="$t_term" 'BEGIN { printf "%.2f", a - b }') s after SIGTERM"
else
	not_ok "agent exits within 10 s of SIGTERM"
fi
for p in "${CURL_PIDS[@]}"; do wait_pid_gone "$p" 12; done
wait_pid_gone "$DRAIN_PID" 12

got=""
for i in "${!cls[@]}"; do got+="${cls[$i]}=$(cat "$T/inflight-$i.status") "; done
check_eq "in-flight requests answered, none 503" \
	"next=200 next=200 next=200 next=200 next=200 next=200 valid=200 valid=200 forged=401 forged=401 " "$got"
out=$(cat "$T/drain.out")
diag "raw peer: $out"
check_eq "raw peer: 5 ACKs for the 5 parked NOTIFYs" 5 "$(kv acks "$out")"
check_eq "raw peer: the ACKs came after SIGTERM (they were parked)" 1 \
	"$(awk -v a="$(kv first_ack_ts "$out")" -v b="$t_term" 'BEGIN { print (a > b) ? 1 : 0 }')"
check_eq "raw peer: all 5 valid (the refetch found the kid)" 5 "$(kv valid "$out")"
check_eq "raw peer: then AGENT-DISCONNECT status 0" 0 "$(kv disconnect "$out")"
check_eq "raw peer: nothing after the DISCONNECT" 0 "$(kv acks_after_disconnect "$out")"
check_eq "raw peer: then EOF" yes "$(kv eof "$out")"
check_contains "agent log: stopping on the signal" "event=stopping signal=15" "$(cat "$T/agent.log")"
check_contains "agent log: stopped" "event=stopped" "$(cat "$T/agent.log")"
check_not_contains "agent log: no drain timeout" "event=drain_timeout" "$(cat "$T/agent.log")"
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/agent.log"; then
	not_ok "no sanitizer report in the agent's log"
else
	ok "no sanitizer report in the agent's log"
fi

req after --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" --data "$CHAT_BODY" "$URL"
check_eq "after the agent left: valid token -> 503 (fail closed)" 503 "$R_STATUS"
check_eq "the LLM got the before request and the 8 in-flight valid ones" 9 "$(stub_lines llm)"
