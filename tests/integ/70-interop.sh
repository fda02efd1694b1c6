#!/usr/bin/env bash
# Cross-implementation catalogue through the real gateway (HAProxy + spoa-jwt + nginx JWKS).
# tests/interop/mint.py mints fresh keys for every JWS algorithm (RS/PS/ES 256-512, EdDSA,
# HS256-512) with python3-jwcrypto and with PyJWT, publishes their public keys (oct keys for HS)
# as one JWKS, and writes a catalogue: every good token of every alg from both libraries (200),
# one flipped bit in each part of each of them, and the hostile tokens of ../shared/notes/jwt.md
# §4.1, each with the exact jwt_verify_lib message expected (401/403 + www-authenticate as Envoy).
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

ISS=https://interop.spoa-jwt.test
AUD=llm-gateway
pick_ports
"$PY" "$TOP/tests/interop/mint.py" "$T/mint" --iss "$ISS" --aud "$AUD" >"$T/mint.log" 2>&1 ||
	bail "tests/interop/mint.py failed: $(tail -3 "$T/mint.log")"
diag "$(cat "$T/mint.log")"
mkdir -p "$T/www" && cp "$T/mint/jwks.json" "$T/www/jwks.json"
start_static jwks "$JWKS_PORT" "$T/www"

cat >"$T/agent.json" <<JSON
{"providers": {"default": {
  "issuer": "$ISS", "audiences": ["$AUD"],
  "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS_PORT/jwks.json", "timeout": "1s"},
                  "cache_duration": "300s"},
  "from_headers": [{"name": "Authorization", "value_prefix": "Bearer "}]}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json"
start_gateway

n_good=0 n_bad=0 n_haproxy=0
while IFS=$'\t' read -r name status msg _ _ _ _ token; do
	[ "$msg" = - ] && msg=
	if [ "$status" = 0 ]; then
		# too big for HAProxy's request buffer: HAProxy's own refusal, never the LLM
		llm_before=$(stub_lines llm)
		jwt_req big "$token"
		case $R_STATUS in
		400 | 431) ok "$name -> refused by HAProxy before the agent ($R_STATUS, ${#token} bytes)" ;;
		*) not_ok "$name -> refused by HAProxy before the agent"; diag "got $R_STATUS" ;;
		esac
		check_eq "$name never reaches the LLM" "$llm_before" "$(stub_lines llm)"
		n_haproxy=$((n_haproxy + 1))
		continue
	fi
	jwt_req tok "$token"
	check_eq "$name -> $status${msg:+ $msg}" "$(verdict "$status" "$msg")" "$R_VERDICT"
	if [ "$status" = 200 ]; then n_good=$((n_good + 1)); else n_bad=$((n_bad + 1)); fi
done <"$T/mint/catalogue.tsv"
diag "catalogue: $n_good accepted, $n_bad refused by the agent, $n_haproxy refused by HAProxy"

# Every refusal above happened before the LLM; only the accepted ones reached it.
check_eq "only accepted tokens reached the LLM" "$n_good" "$(stub_lines llm)"
# Unknown kids asked for refetches; refetch_interval (30 s) keeps it to at most one more fetch.
fetches=$(fetch_count jwks /jwks.json)
if [ "$fetches" -ge 1 ] && [ "$fetches" -le 2 ]; then
	ok "JWKS fetched $fetches time(s) for the whole catalogue (unknown kids are rate-limited)"
else
	not_ok "JWKS fetched 1 or 2 times for the whole catalogue"; diag "fetched $fetches times"
fi

check_agent_exit
