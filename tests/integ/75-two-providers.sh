#!/usr/bin/env bash
# Two providers (different issuers, keys and JWKS servers) on two routes of conf/haproxy.cfg:
# "k: v" -> provider "default" (JWT_PROVIDER), "k: v2" -> provider "partner" (ROUTE2_VALUE,
# JWT_PROVIDER2). A token of one provider on the other's route is refused with Envoy's
# "Jwt issuer is not configured" (EJA: the location's providers do not include the token's iss).
# Then one route accepting both (JWT_PROVIDER=default,partner), the provider chosen by iss; and a
# token claiming one issuer but signed with the other issuer's key is refused (keys are per issuer).
# Also: conf/spoa-jwt.example.json passes "spoa-jwt -c".
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

out=$("$AGENT_BIN" -c --config "$TOP/conf/spoa-jwt.example.json" 2>&1)
check_eq "conf/spoa-jwt.example.json passes spoa-jwt -c" 0 "$?"
[ -z "$out" ] || diag "$out"

pick_ports
read -r JWKS2_PORT < <(free_ports 1)
K=$T/k
tok key "$K" main-key || bail "tok key"
tok key "$K" partner-key --alg EdDSA || bail "tok key"
mkdir -p "$T/www1" "$T/www2"
tok jwks "$T/www1/jwks.json" "$K" main-key
tok jwks "$T/www2/jwks.json" "$K" partner-key
start_static jwks1 "$JWKS_PORT" "$T/www1"
start_static jwks2 "$JWKS2_PORT" "$T/www2"
ISS1=https://auth.main.test ISS2=https://login.partner.test
cat >"$T/agent.json" <<JSON
{"providers": {
  "default": {"issuer": "$ISS1", "audiences": ["llm-gateway"],
              "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS_PORT/jwks.json", "timeout": "1s"}}},
  "partner": {"issuer": "$ISS2", "audiences": ["partner-llm"],
              "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS2_PORT/jwks.json", "timeout": "1s"}}}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json"
export ROUTE2_VALUE=v2 JWT_PROVIDER2=partner
start_gateway

tA=$(tok sign "$K" main-key --iss "$ISS1" --aud llm-gateway --sub alice)
tB=$(tok sign "$K" partner-key --iss "$ISS2" --aud partner-llm --sub bob)
# claims issuer A, signed by B's key (whose kid A's JWKS does not have)
tAB=$(tok sign "$K" partner-key --iss "$ISS1" --aud llm-gateway --sub mallory)
# issuer B with A's audience
tBa=$(tok sign "$K" partner-key --iss "$ISS2" --aud llm-gateway --sub bob)

route() { # route VALUE NAME TOKEN
	local saved=$ROUTE_VALUE
	ROUTE_VALUE=$1
	jwt_req "$2" "$3"
	ROUTE_VALUE=$saved
}
route v a-on-1 "$tA"
check_eq "route 1 (default): token of issuer A -> 200" 200 "$R_VERDICT"
check_eq "it reached the LLM with the provider key, not the token" "1 Bearer $PROVIDER_API_KEY" \
	"$(stub_lines llm) $(stub_last llm "h['authorization'][0]")"
route v2 b-on-2 "$tB"
check_eq "route 2 (partner): token of issuer B (EdDSA) -> 200" 200 "$R_VERDICT"
route v b-on-1 "$tB"
check_eq "route 1: token of issuer B -> 401 Jwt issuer is not configured" \
	"$(verdict 401 "Jwt issuer is not configured")" "$R_VERDICT"
route v2 a-on-2 "$tA"
check_eq "route 2: token of issuer A -> 401 Jwt issuer is not configured" \
	"$(verdict 401 "Jwt issuer is not configured")" "$R_VERDICT"
route v ab-on-1 "$tAB"
check_eq "route 1: iss A signed with B's key -> 401 (kid not in A's JWKS)" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"
route v2 ba-on-2 "$tBa"
check_eq "route 2: issuer B with A's audience -> 403 (audiences are per provider)" \
	"$(verdict 403 "Audiences in Jwt are not allowed")" "$R_VERDICT"
route v2 none-on-2 ""
check_eq "route 2 without a token -> 401 Jwt is missing" "$(verdict 401 "Jwt is missing")" "$R_VERDICT"
req other -X POST -H "$ROUTE_HEADER: v3" --data "$CHAT_BODY" "http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
check_eq "k: v3 is no JWT route (default backend, no check)" "200 1" "$R_STATUS $(stub_lines default)"

# One route for both providers, chosen by the token's iss.
export JWT_PROVIDER=default,partner
unset ROUTE2_VALUE
restart_haproxy
route v a-on-both "$tA"
check_eq "route for default,partner: token of A -> 200" 200 "$R_VERDICT"
route v b-on-both "$tB"
check_eq "route for default,partner: token of B -> 200" 200 "$R_VERDICT"
route v ab-on-both "$tAB"
check_eq "route for default,partner: iss A signed with B's key -> 401" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"
route v x-on-both "$(tok sign "$K" main-key --iss https://third.test --aud llm-gateway)"
check_eq "route for default,partner: a third issuer -> 401 Jwt issuer is not configured" \
	"$(verdict 401 "Jwt issuer is not configured")" "$R_VERDICT"
route v2 v2-now-plain "$tB"
check_eq "without ROUTE2_VALUE, k: v2 is no JWT route any more" "200" "$R_STATUS"
check_eq "the LLM saw exactly the 4 accepted requests" 4 "$(stub_lines llm)"

# A provider name that the agent does not know: refused, not "any provider".
export JWT_PROVIDER=nosuch
restart_haproxy
route v unknown "$tA"
check_eq "route naming an unknown provider -> 401 Jwt issuer is not configured" \
	"$(verdict 401 "Jwt issuer is not configured")" "$R_VERDICT"

check_agent_exit
