#!/usr/bin/env bash
# OIDC discovery: the provider names only its issuer (http://127.0.0.1:PORT); the agent reads
# <issuer>/.well-known/openid-configuration, takes jwks_uri from it and fetches the keys. A
# discovery document whose "issuer" differs from the configured one is refused (OIDC Discovery
# §4.3), which leaves that provider without keys: "Jwks remote fetch is failed".
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
K=$T/k
tok key "$K" idp-key || bail "tok key"
ISS=http://127.0.0.1:$JWKS_PORT
W=$T/www
mkdir -p "$W/.well-known" "$W/keys" "$W/evil/.well-known"
tok jwks "$W/keys/jwks.json" "$K" idp-key
cat >"$W/.well-known/openid-configuration" <<JSON
{"issuer": "$ISS", "jwks_uri": "$ISS/keys/jwks.json", "id_token_signing_alg_values_supported": ["ES256"]}
JSON
# a second issuer (same server, path /evil) whose document claims to be someone else
cat >"$W/evil/.well-known/openid-configuration" <<JSON
{"issuer": "https://somebody-else.example", "jwks_uri": "$ISS/keys/jwks.json"}
JSON
start_static idp "$JWKS_PORT" "$W"
cat >"$T/agent.json" <<JSON
{"providers": {
  "default": {"issuer": "$ISS", "oidc_discovery": true,
              "remote_jwks": {"http_uri": {"uri": "http://unused.invalid/", "timeout": "1s"}}},
  "evil": {"issuer": "$ISS/evil", "oidc_discovery": true}}}
JSON
if "$AGENT_BIN" -c --config "$T/agent.json" >/dev/null 2>&1; then
	not_ok "a provider with both oidc_discovery and remote_jwks is refused"
else
	ok "a provider with both oidc_discovery and remote_jwks is refused"
fi
cat >"$T/agent.json" <<JSON
{"providers": {
  "default": {"issuer": "$ISS", "oidc_discovery": true},
  "evil": {"issuer": "$ISS/evil", "oidc_discovery": true}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json" --threads 1
JWT_PROVIDER=default,evil       # the route accepts both; the token's iss picks one
start_gateway

jwt_req good "$(tok sign "$K" idp-key --iss "$ISS")"
check_eq "token of the discovered issuer -> 200" 200 "$R_VERDICT"
check_eq "discovery document fetched once" 1 "$(fetch_count idp /.well-known/openid-configuration)"
check_eq "JWKS fetched once, from the discovered jwks_uri" 1 "$(fetch_count idp /keys/jwks.json)"
jwt_req good2 "$(tok sign "$K" idp-key --iss "$ISS" --sub other)"
check_eq "second token -> 200, no new fetch" "200 1 1" \
	"$R_VERDICT $(fetch_count idp /.well-known/openid-configuration) $(fetch_count idp /keys/jwks.json)"
jwt_req other "$(tok sign "$K" idp-key --iss "https://not-configured.example")"
check_eq "token of an issuer no provider has -> 401 Jwt issuer is not configured" \
	"$(verdict 401 "Jwt issuer is not configured")" "$R_VERDICT"
jwt_req evil "$(tok sign "$K" idp-key --iss "$ISS/evil")"
check_eq "issuer whose discovery document names another issuer -> 401 Jwks remote fetch is failed" \
	"$(verdict 401 "Jwks remote fetch is failed")" "$R_VERDICT"
check_eq "its document was read" 1 "$(( $(fetch_count idp /evil/.well-known/openid-configuration) >= 1 ))"
check_contains "the agent says why" "issuer mismatch" "$(cat "$T/agent.log")"
check_eq "only the two good requests reached the LLM" 2 "$(stub_lines llm)"

check_agent_exit
