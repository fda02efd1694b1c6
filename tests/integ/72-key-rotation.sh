#!/usr/bin/env bash
# Key rotation without restart: a new kid published on the JWKS server is fetched when a token
# names it (OIDC Core §10.1.1), at most once per refetch_interval (3 s here), and concurrent
# requests for it share one fetch. nginx's access log counts the JWKS fetches. One agent thread:
# each thread keeps its own key set, fetches and rate limit (as each Envoy worker does), so with
# N threads the JWKS server sees up to N times these counts.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
K=$T/k
for kid in key-a key-b key-c key-d; do tok key "$K" "$kid" || bail "tok key $kid"; done
mkdir -p "$T/www"
tok jwks "$T/www/jwks.json" "$K" key-a
start_static jwks "$JWKS_PORT" "$T/www"
cat >"$T/agent.json" <<JSON
{"providers": {"default": {
  "issuer": "https://auth.spoa-jwt.test",
  "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS_PORT/jwks.json", "timeout": "1s"},
                  "cache_duration": "300s", "refetch_interval": "3s"}}}}
JSON
t_start=$SECONDS
start_agent_config "$AGENT_PORT" "$T/agent.json" --threads 1
for ((i = 0; i < 50; i++)); do [ "$(fetch_count jwks /jwks.json)" -ge 1 ] && break; sleep 0.1; done
t_first=$SECONDS
check_eq "the agent fetched the JWKS once at start" 1 "$(fetch_count jwks /jwks.json)"
start_gateway

ta=$(tok sign "$K" key-a) tb=$(tok sign "$K" key-b) tc=$(tok sign "$K" key-c) td=$(tok sign "$K" key-d)
jwt_req a "$ta"
check_eq "token of key-a -> 200" 200 "$R_VERDICT"

# Past the refetch interval of the first fetch, key-b appears.
sleep $((3 - (SECONDS - t_first) > 0 ? 3 - (SECONDS - t_first) + 1 : 1))
tok jwks "$T/www/jwks.json" "$K" key-a key-b
jwt_req b "$tb"
check_eq "token of the new key-b -> 200 without restart (refetch on unknown kid)" 200 "$R_VERDICT"
check_eq "that cost one JWKS fetch" 2 "$(fetch_count jwks /jwks.json)"
t_refetch=$SECONDS

# Within the interval: key-c is published but not fetched.
tok jwks "$T/www/jwks.json" "$K" key-a key-b key-c
jwt_req c1 "$tc"
check_eq "token of key-c within the refetch interval -> 401 (rate limit)" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"
for i in 1 2 3 4 5; do
	jwt_req rnd "$(tok sign "$K" key-a --claims '{"x":1}' | "$PY" -c '
import base64, json, sys
h, p, s = sys.stdin.read().split(".")
hd = json.loads(base64.urlsafe_b64decode(h + "=="))
hd["kid"] = "random-kid-'"$i"'"
print(base64.urlsafe_b64encode(json.dumps(hd).encode()).rstrip(b"=").decode() + "." + p + "." + s)')"
	[ "$R_STATUS" = 401 ] || break
done
check_eq "5 tokens with random kids -> 401" 401 "$R_STATUS"
check_eq "no JWKS fetch for them within the interval" 2 "$(fetch_count jwks /jwks.json)"
jwt_req b2 "$tb"
check_eq "key-b still accepted" 200 "$R_VERDICT"

# After the interval, key-c is fetched.
sleep $((3 - (SECONDS - t_refetch) > 0 ? 3 - (SECONDS - t_refetch) + 1 : 1))
jwt_req c2 "$tc"
check_eq "token of key-c after the interval -> 200" 200 "$R_VERDICT"
check_eq "that cost one more JWKS fetch" 3 "$(fetch_count jwks /jwks.json)"
t_refetch=$SECONDS

# Concurrent requests for a new kid share one fetch.
sleep $((3 - (SECONDS - t_refetch) > 0 ? 3 - (SECONDS - t_refetch) + 1 : 1))
tok jwks "$T/www/jwks.json" "$K" key-a key-b key-c key-d
pids=()
for i in $(seq 1 10); do
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' -X POST -H "$ROUTE_HEADER: $ROUTE_VALUE" \
		-H "Authorization: Bearer $td" -H 'content-type: application/json' --data "$CHAT_BODY" \
		"http://127.0.0.1:$HTTP_PORT/v1/chat/completions" >"$T/par.$i" 2>&1 &
	pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p"; done
check_eq "10 concurrent requests with the new key-d -> 200 each" "200 200 200 200 200 200 200 200 200 200" \
	"$(cat "$T"/par.* | tr '\n' ' ' | sed 's/ $//')"
check_eq "they caused exactly one fetch (coalesced)" 4 "$(fetch_count jwks /jwks.json)"
jwt_req a2 "$ta"
check_eq "key-a still accepted at the end" 200 "$R_VERDICT"
diag "elapsed: $((SECONDS - t_start)) s"

check_agent_exit
