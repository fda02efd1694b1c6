#!/usr/bin/env bash
# Audiences (spoa-jwt --audience): a token for another audience gets 403
# "Audiences in Jwt are not allowed" with error="invalid_token"; a listed audience passes.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

if ! "$AGENT_BIN" --help 2>&1 | grep -q -- '--audience'; then
	not_ok "spoa-jwt --help documents --audience"
	exit 1
fi
AGENT_FLAGS="--audience https://other.example --audience llm-gateway" start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
path=/v1/embeddings
for tr in h2 http1; do
	case $tr in
	h2) base=https://127.0.0.1:$HTTPS_PORT; flags=(--http2 -k); scheme=https ;;
	http1) base=http://127.0.0.1:$HTTP_PORT; flags=(--http1.1); scheme=http ;;
	esac
	req "$tr-aud" "${flags[@]}" -X POST -H "$RH" -H "Authorization: Bearer $(cat "$T/keys/token.other-aud")" \
		-H 'content-type: application/json' --data '{"model":"m","input":"hi"}' "$base$path"
	check_eq "$tr: token for another audience -> 403" 403 "$R_STATUS"
	check_eq "$tr: token for another audience -> body" "Audiences in Jwt are not allowed" "$R_BODY"
	check_eq "$tr: token for another audience -> www-authenticate" \
		"Bearer realm=\"$scheme://${base#*://}$path\", error=\"invalid_token\"" "$(hdr www-authenticate)"
	check_eq "$tr: token for another audience -> content-type" text/plain "$(hdr content-type)"
done
check_eq "403s never reached the LLM" 0 "$(stub_lines llm)"

req valid --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
	-H 'content-type: application/json' --data '{"model":"m","input":"hi"}' "https://127.0.0.1:$HTTPS_PORT$path"
check_eq "token for a listed audience -> 200" 200 "$R_STATUS"

check_agent_exit
