#!/usr/bin/env bash
# Tokens that parse but must be refused: signed by another key with the same kid, a changed
# signature, expired. Each gets 401 with the jwt_verify_lib message and error="invalid_token".
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
path=/v1/chat/completions
realm="Bearer realm=\"https://127.0.0.1:$HTTPS_PORT$path\", error=\"invalid_token\""

# name of the token file, expected body
cases=(
	"other-key|Jwt verification fails"
	"bad-signature|Jwt verification fails"
	"expired|Jwt is expired"
)
for c in "${cases[@]}"; do
	name=${c%%|*} msg=${c#*|}
	tok=$(cat "$T/keys/token.$name")
	req "$name" --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $tok" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "https://127.0.0.1:$HTTPS_PORT$path"
	check_eq "token.$name -> 401" 401 "$R_STATUS"
	check_eq "token.$name -> body" "$msg" "$R_BODY"
	check_eq "token.$name -> www-authenticate" "$realm" "$(hdr www-authenticate)"
	check_eq "token.$name -> content-type" text/plain "$(hdr content-type)"
done
check_eq "refused tokens never reach the LLM" 0 "$(stub_lines llm)"

# The valid token still passes after the refusals (the key set was not poisoned).
req valid --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
	-H 'content-type: application/json' --data "$CHAT_BODY" "https://127.0.0.1:$HTTPS_PORT$path"
check_eq "valid token after the refusals -> 200" 200 "$R_STATUS"

# A header without the "Bearer " prefix holds no token for us: "Jwt is missing", no error (Envoy).
req basic --http2 -k -X POST -H "$RH" -H 'Authorization: Basic dXNlcjpwYXNz' --data "$CHAT_BODY" \
	"https://127.0.0.1:$HTTPS_PORT$path"
check_eq "Authorization: Basic ... -> 401 Jwt is missing" "401 Jwt is missing" "$R_STATUS $R_BODY"
check_eq "Authorization: Basic ... -> www-authenticate without error" \
	"Bearer realm=\"https://127.0.0.1:$HTTPS_PORT$path\"" "$(hdr www-authenticate)"
check_eq "refused tokens never reached the LLM" 1 "$(stub_lines llm)"

# The 403 (audience) path is tested by 55-audience.sh.

check_agent_exit
