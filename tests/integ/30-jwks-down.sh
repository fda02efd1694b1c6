#!/usr/bin/env bash
# The JWKS server is down when the agent starts: a token that needs keys gets
# 401 "Jwks remote fetch is failed" with error="invalid_token", fail closed.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

START_NGINX=0 start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
path=/v1/chat/completions
for tr in h2 http1; do
	case $tr in
	h2) base=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k); scheme=https ;;
	http1) base=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1); scheme=http ;;
	esac
	req "$tr-valid" "${flags[@]}" -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$base$path"
	check_eq "$tr: JWKS down -> 401" 401 "$R_STATUS"
	check_eq "$tr: JWKS down -> body" "Jwks remote fetch is failed" "$R_BODY"
	check_eq "$tr: JWKS down -> www-authenticate" \
		"Bearer realm=\"$scheme://${base#*://}$path\", error=\"invalid_token\"" "$(hdr www-authenticate)"
	check_eq "$tr: JWKS down -> content-type" text/plain "$(hdr content-type)"
done
check_eq "nothing forwarded to the LLM" 0 "$(stub_lines llm)"

# A missing token is still "Jwt is missing" (no keys needed).
req none --http1.1 -X POST -H "$RH" --data "$CHAT_BODY" "http://127.0.0.1:$HTTP_PORT$path"
check_eq "JWKS down, no token -> 401 Jwt is missing" "401 Jwt is missing" "$R_STATUS $R_BODY"

check_agent_exit
