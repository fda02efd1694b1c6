#!/usr/bin/env bash
# Fail closed: with the agent stopped, the JWT route answers 503 "Jwt authentication unavailable"
# and nothing reaches the LLM; requests without the route header still work.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
path=/v1/chat/completions
req before --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
	-H 'content-type: application/json' --data "$CHAT_BODY" "https://127.0.0.1:$HTTPS_PORT$path"
check_eq "agent up: valid token -> 200" 200 "$R_STATUS"

check_agent_exit
n0=$(stub_lines llm)

t0=$SECONDS
for tr in h2 http1; do
	case $tr in
	h2) base=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k) ;;
	http1) base=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1) ;;
	esac
	req "$tr-valid" "${flags[@]}" -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$base$path"
	check_eq "$tr: agent down, valid token -> 503" 503 "$R_STATUS"
	check_eq "$tr: agent down -> body" "Jwt authentication unavailable" "$R_BODY"
	check_eq "$tr: agent down -> content-type" text/plain "$(hdr content-type)"
	req "$tr-none" "${flags[@]}" -X POST -H "$RH" --data "$CHAT_BODY" "$base$path"
	check_eq "$tr: agent down, no token -> 503" 503 "$R_STATUS"
	req "$tr-wrong" "${flags[@]}" -X POST -H "$RH" -H 'Authorization: Bearer wrong-jwt-token' \
		--data "$CHAT_BODY" "$base$path"
	check_eq "$tr: agent down, wrong-jwt-token -> 503" 503 "$R_STATUS"
done
check_eq "agent down: nothing forwarded to the LLM" "$n0" "$(stub_lines llm)"
diag "6 requests with the agent down took $((SECONDS - t0)) s"

req default --http1.1 -H 'Authorization: Bearer abc' "http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
check_eq "agent down: no route header -> default backend still answers" "200 default" "$R_STATUS $(hdr x-stub-name)"
