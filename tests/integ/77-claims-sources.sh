#!/usr/bin/env bash
# Claims and token locations, with a JSON-configured provider:
#   claim_to_headers x-jwt-sub <- sub: the upstream gets the token's sub; a client-sent x-jwt-sub
#   is removed first (even when the token is valid); a sub with CR/LF or longer than
#   max_claim_size is not exported (no header at all);
#   required_claims scope=llm.chat: missing or not one of the words -> 403 "Claims in Jwt are not
#   allowed"; require_expiration: no exp -> 401 "Jwt is expired";
#   from_params access_token / from_cookies access_token as well as the Authorization header; two
#   different tokens in two locations -> 401 "Found multiple Jwt tokens".
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
K=$T/k
tok key "$K" k1 || bail "tok key"
mkdir -p "$T/local"
tok jwks "$T/local/jwks.json" "$K" k1
ISS=https://auth.spoa-jwt.test
cat >"$T/agent.json" <<JSON
{"max_claim_size": 256,
 "providers": {"default": {
  "issuer": "$ISS", "audiences": ["llm-gateway"],
  "local_jwks": {"filename": "$T/local/jwks.json"},
  "from_headers": [{"name": "Authorization", "value_prefix": "Bearer "}],
  "from_params": ["access_token"], "from_cookies": ["access_token"],
  "require_expiration": true,
  "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}],
  "required_claims": [{"name": "scope", "value": "llm.chat"}]}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json"
start_gateway

sign() { tok sign "$K" k1 --iss "$ISS" --claims "$@"; }
# tamper TOKEN: one character changed inside the signature (10 from the end: all data bits)
tamper() {
	local t=$1 i=$((${#1} - 10)) c
	c=${t:i:1}
	if [ "$c" = A ]; then c=B; else c=A; fi
	echo "${t:0:i}$c${t:i+1}"
}
good=$(sign '{"sub": "user-42", "scope": "openid llm.chat"}')
SUBS="h.get('x-jwt-sub')"

jwt_req g1 "$good"
check_eq "valid token -> 200" 200 "$R_VERDICT"
check_eq "upstream x-jwt-sub = the token's sub" "['user-42']" "$(stub_last llm "$SUBS")"

jwt_req g2 "$good" -H 'x-jwt-sub: admin' -H 'X-JWT-Sub: root'
check_eq "valid token + client-sent x-jwt-sub (twice, any case) -> 200" 200 "$R_VERDICT"
check_eq "upstream x-jwt-sub is only the token's sub" "['user-42']" "$(stub_last llm "$SUBS")"

n=$(stub_lines llm)
jwt_req bad "$(tamper "$good")" -H 'x-jwt-sub: admin'
check_eq "bad signature + client-sent x-jwt-sub -> 401" \
	"$(verdict 401 "Jwt verification fails")" "$R_VERDICT"
check_eq "nothing reached the LLM" "$n" "$(stub_lines llm)"

jwt_req crlf "$(sign '{"sub": "eve\r\nx-injected: 1", "scope": "llm.chat"}')" -H 'x-jwt-sub: admin'
check_eq "sub with CR/LF: token valid -> 200" 200 "$R_VERDICT"
check_eq "no x-jwt-sub and no injected header upstream" "(None, None)" \
	"$(stub_last llm "$SUBS, h.get('x-injected')")"
long=$(printf 'u%.0s' $(seq 1 300))
jwt_req long "$(sign "{\"sub\": \"$long\", \"scope\": \"llm.chat\"}")"
check_eq "sub of 300 bytes (> max_claim_size 256): 200, no x-jwt-sub" "200 None" "$R_VERDICT $(stub_last llm "$SUBS")"
jwt_req num "$(sign '{"sub": "user-7", "scope": "llm.chat", "aud": ["x", "llm-gateway"]}')"
check_eq "audience list containing ours -> 200 with x-jwt-sub" "200 ['user-7']" "$R_VERDICT $(stub_last llm "$SUBS")"

jwt_req noscope "$(sign '{"sub": "user-42"}')"
check_eq "no scope -> 403 Claims in Jwt are not allowed" \
	"$(verdict 403 "Claims in Jwt are not allowed")" "$R_VERDICT"
jwt_req otherscope "$(sign '{"sub": "user-42", "scope": "llm.chatty openid"}')"
check_eq "scope without the word llm.chat -> 403" \
	"$(verdict 403 "Claims in Jwt are not allowed")" "$R_VERDICT"
jwt_req arrscope "$(sign '{"sub": "user-42", "scope": ["openid", "llm.chat"]}')"
check_eq "scope as an array holding llm.chat -> 200" 200 "$R_VERDICT"
jwt_req noexp "$(tok sign "$K" k1 --iss "$ISS" --no-exp --claims '{"scope": "llm.chat"}')"
check_eq "require_expiration, no exp -> 401 Jwt is expired" \
	"$(verdict 401 "Jwt is expired")" "$R_VERDICT"

# token locations
qtok=$(sign '{"sub": "by-query", "scope": "llm.chat"}')
JWT_PATH="/v1/chat/completions?access_token=$qtok" jwt_req q ""
check_eq "token in ?access_token= -> 200" 200 "$R_VERDICT"
check_eq "with its sub upstream" "['by-query']" "$(stub_last llm "$SUBS")"
qbad=$(tamper "$qtok")
JWT_PATH="/v1/chat/completions?a=1&access_token=$qbad" jwt_req qbad ""
check_eq "bad token in the query -> 401, realm with the query (Envoy)" \
	"$(verdict 401 "Jwt verification fails" "/v1/chat/completions?a=1&access_token=$qbad")" "$R_VERDICT"
ctok=$(sign '{"sub": "by-cookie", "scope": "llm.chat"}')
jwt_req c "" -H "Cookie: theme=dark; access_token=$ctok"
check_eq "token in the access_token cookie -> 200" 200 "$R_VERDICT"
check_eq "with its sub upstream" "['by-cookie']" "$(stub_last llm "$SUBS")"
JWT_PATH="/v1/chat/completions?access_token=$good" jwt_req same "$good"
check_eq "the same token in header and query -> 200" 200 "$R_VERDICT"
JWT_PATH="/v1/chat/completions?access_token=$qtok" jwt_req two "$good"
check_eq "different tokens in header and query -> 401 Found multiple Jwt tokens" \
	"$(verdict 401 "Found multiple Jwt tokens" "/v1/chat/completions?access_token=$qtok")" "$R_VERDICT"
jwt_req two2 "$good" -H "Cookie: access_token=$ctok"
check_eq "different tokens in header and cookie -> 401 Found multiple Jwt tokens" \
	"$(verdict 401 "Found multiple Jwt tokens")" "$R_VERDICT"
jwt_req none "" -H "Cookie: other=$ctok"
check_eq "token in a cookie no provider names -> 401 Jwt is missing" \
	"$(verdict 401 "Jwt is missing")" "$R_VERDICT"

check_agent_exit
