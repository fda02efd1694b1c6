#!/usr/bin/env bash
# JWKS server faults. A JWKS server we control (write_jwks_ctl in lib.sh) is switched through:
# down (process stopped: connection refused), reset (connection reset, no answer), slow (1.5 s,
# beyond --fetch-timeout 500), 500, 404, an HTML page, truncated JSON, a 10 MiB body (with and
# without Content-Length), a redirect loop, {"keys":[]} and keys of unsupported/bad kty.
#   A. No keys cached: a valid token gets 401 "Jwks remote fetch is failed" and the agent's
#      stderr names the reason; once the server is good again the agent recovers by itself.
#   B. Keys cached (--cache-time 1, --max-stale 4): during each fault valid tokens keep getting
#      200 (stale keys) while the refresh failures are logged; recovery is automatic.
#   C. A fault longer than cache-time + max-stale: the keys are dropped, 401 again; then back.
# Nothing reaches the LLM stub but the requests answered 200.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
AGENT_FLAGS="--threads 1 --fetch-timeout 500 --cache-time 1 --max-stale 4 --refetch-interval 1"
# The JWKS server is not running yet: the first fault is "down".
START_NGINX=0 start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
URL=http://127.0.0.1:$HTTP_PORT/v1/chat/completions
n200=0
valid_req() {
	req "$1" --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$URL"
	[ "$R_STATUS" = 200 ] && n200=$((n200 + 1))
	return 0
}

# Fault name -> mode of the JWKS server, and the reason the agent must log (ERE).
FAULTS=(down reset slow 500 404 html truncated huge huge-nolen redirect empty wrongtype)
declare -A MODE=([reset]=reset [slow]=1500/good [500]=500 [404]=404 [html]=html
	[truncated]=truncated [huge]=huge [huge-nolen]=huge-nolen [redirect]=redirect [empty]=empty
	[wrongtype]=wrongtype)
declare -A WHY=(
	[down]="reason=\"Failed to connect[^\"]*Couldn't connect"
	[reset]='reason="(Recv failure: Connection reset|Empty reply|[^"]*reset by peer)'
	[slow]='reason="timeout"'
	[500]='reason="HTTP 500"'
	[404]='reason="HTTP 404"'
	[html]='reason="bad JWKS: Jwks is an invalid JSON'
	[truncated]='reason="bad JWKS: Jwks is an invalid JSON'
	[huge]='reason="body over 1048576 bytes"'
	[huge-nolen]='reason="body over 1048576 bytes"'
	[redirect]='reason="too many redirects"'
	[empty]="reason=\"bad JWKS: Jwks doesn't have any valid public key"
	[wrongtype]='reason="bad JWKS: \[kty\] is not supported in \[keys\]'
)
server_up=0
fault_on() {
	if [ "$1" = down ]; then
		[ "$server_up" = 1 ] && stop_pid "$JWKS_CTL_PID"
		server_up=0
	else
		jwks_mode "${MODE[$1]}"
		if [ "$server_up" = 0 ]; then
			start_jwks_ctl "$JWKS_PORT"
			server_up=1
		fi
	fi
}
good_fetches() { grep -c ' good 200$' "$T/jwks-requests.txt" || true; }
: >"$T/jwks-requests.txt"
fault_off() {
	jwks_mode good
	if [ "$server_up" = 0 ]; then
		start_jwks_ctl "$JWKS_PORT"
		server_up=1
	fi
}
# wait_reason FAULT BEFORE: until the agent has logged one more failure with FAULT's reason.
wait_reason() {
	wait_grep_count "$T/agent.log" "event=jwks_fetch_failed .*${WHY[$1]}" $(($2 + 1)) 8
}
count_reason() { grep -Ec -- "event=jwks_fetch_failed .*${WHY[$1]}" "$T/agent.log"; }

# ---- A: no cached keys
t0=$SECONDS
for f in "${FAULTS[@]}"; do
	before=$(count_reason "$f")
	fault_on "$f"
	if wait_reason "$f" "$before"; then
		ok "A/$f: no keys: the agent logs why the fetch failed"
	else
		not_ok "A/$f: no keys: the agent logs why the fetch failed"
		diag "expected a jwks_fetch_failed line matching: ${WHY[$f]}" "last ones:" \
			"$(grep jwks_fetch_failed "$T/agent.log" | tail -n 2)"
	fi
	valid_req "A-$f"
	check_eq "A/$f: no keys: valid token -> 401 Jwks remote fetch is failed" \
		"401 Jwks remote fetch is failed" "$R_STATUS $R_BODY"
done
diag "phase A took $((SECONDS - t0)) s"
check_eq "A: nothing forwarded to the LLM" 0 "$(stub_lines llm)"

# Recovery by itself: the background retry (1 s) fetches the good set, no request needed.
g=$(good_fetches)
fault_off
if wait_grep_count "$T/jwks-requests.txt" ' good 200$' $((g + 1)) 5; then
	ok "A: the agent refetches by itself once the server is good"
else
	not_ok "A: the agent refetches by itself once the server is good"
fi
valid_req A-recovered
check_eq "A: after recovery: valid token -> 200" 200 "$R_STATUS"

# ---- B: cached keys, each fault shorter than cache-time + max-stale (5 s)
t0=$SECONDS
for f in "${FAULTS[@]}"; do
	# Start from a fresh good fetch so the set is well within its stale window.
	g=$(good_fetches)
	wait_grep_count "$T/jwks-requests.txt" ' good 200$' $((g + 1)) 5 || diag "B/$f: no good fetch before the fault"
	tf=$SECONDS
	before=$(count_reason "$f")
	fault_on "$f"
	if wait_reason "$f" "$before"; then
		ok "B/$f: cached keys: the refresh failure is logged with its reason"
	else
		not_ok "B/$f: cached keys: the refresh failure is logged with its reason"
		diag "last ones:" "$(grep jwks_fetch_failed "$T/agent.log" | tail -n 2)"
	fi
	valid_req "B-$f"
	check_eq "B/$f: stale keys still serve: valid token -> 200" 200 "$R_STATUS"
	req "B-$f-forged" --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $(cat "$T/keys/token.other-key")" \
		--data "$CHAT_BODY" "$URL"
	check_eq "B/$f: stale keys: forged token -> 401" 401 "$R_STATUS"
	[ $((SECONDS - tf)) -le 5 ] || diag "B/$f: the fault lasted $((SECONDS - tf)) s (stale window 5 s)"
	g=$(good_fetches)
	fault_off
	if wait_grep_count "$T/jwks-requests.txt" ' good 200$' $((g + 1)) 5; then
		ok "B/$f: the agent recovers by itself (a good fetch follows)"
	else
		not_ok "B/$f: the agent recovers by itself (a good fetch follows)"
	fi
done
diag "phase B took $((SECONDS - t0)) s"
valid_req B-after
check_eq "B: after the faults: valid token -> 200" 200 "$R_STATUS"

# ---- C: a fault longer than cache-time + max-stale
g=$(good_fetches)
wait_grep_count "$T/jwks-requests.txt" ' good 200$' $((g + 1)) 5
t_last_good=$(now_s)
fault_on 500
valid_req C-stale
check_eq "C: within max-stale: valid token -> 200" 200 "$R_STATUS"
# The set was fetched at t_last_good: usable until + 1 + 4 s. Wait past it (bounded).
for ((i = 0; i < 100; i++)); do
	awk -v a="$(now_s)" -v b="$t_last_good" 'BEGIN { exit !(a - b > 5.5) }' && break
	sleep 0.1
done
valid_req C-expired
check_eq "C: past cache-time + max-stale: valid token -> 401 Jwks remote fetch is failed" \
	"401 Jwks remote fetch is failed" "$R_STATUS $R_BODY"
fault_off
ok_c=0
for ((i = 0; i < 25; i++)); do
	valid_req "C-back-$i"
	[ "$R_STATUS" = 200 ] && { ok_c=1; break; }
	sleep 0.2
done
check_eq "C: server good again: valid token -> 200 within 5 s" 1 "$ok_c"

check_eq "only the requests answered 200 reached the LLM" "$n200" "$(stub_lines llm)"
check_eq "each of them with the provider key" "Bearer $PROVIDER_API_KEY" \
	"$(stub_last llm "h['authorization'][0]")"
check_agent_exit
