#!/usr/bin/env bash
# shellcheck disable=SC2031 # the *_PORT changes in start_gw's subshell are meant to stay there
# conf/examples/gateway-ratelimit-peers.cfg: per-user rate limit on txn.jwt.sub, shared by two
# HAProxy instances through "peers", and the access log carrying the verdict.
#   - haproxy -c of the example: two peers (-L gw1), four peers (PEER_GW3/4, -L gw4)
#   - two HAProxy instances on loopback (-L gw1, -L gw2), one agent, nginx JWKS, LLM stub
#   - user A: RATE_LIMIT requests on gw1 pass, the next one on gw2 (which saw none) gets 429;
#     user C the same from gw2 to gw1; the LLM saw only those that passed
#     (after waiting, bounded, for the other gateway's table to show the count)
#   - user B, afterwards, is unaffected on both gateways (h1 and h2)
#   - the table on each instance (stats socket) holds A's entry with the global rate
#   - the access log lines carry jwt_valid/jwt_status/jwt_sub/jwt_message, never the token
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

EX=$TOP/conf/examples/gateway-ratelimit-peers.cfg
RATE_LIMIT=6
HV=$("$HAPROXY_BIN" -v | awk 'NR == 1 { print $3 }')
make_cert

out=$(PROVIDER_API_KEY=x TLS_CERT=$T/cert.pem "$HAPROXY_BIN" -L gw1 -c -f "$EX" 2>&1)
check_eq "haproxy $HV -c of the example as gw1 of 2" 0 "$?"
check_not_contains "  ... without a warning" WARNING "$out"
out=$(PROVIDER_API_KEY=x TLS_CERT=$T/cert.pem PEER_GW3=127.0.0.1:10003 PEER_GW4=127.0.0.1:10004 \
	"$HAPROXY_BIN" -L gw4 -c -f "$EX" 2>&1)
check_eq "haproxy $HV -c of the example as gw4 of 4 (PEER_GW3, PEER_GW4)" 0 "$?"
check_not_contains "  ... without a warning" WARNING "$out"

# The example is conf/haproxy.cfg plus (a), (b), (c): every configuration line of the gateway
# (comments aside) must be in it, so a change of conf/haproxy.cfg is not silently missing here.
missing=$("$PY" - "$TOP/conf/haproxy.cfg" "$EX" <<'EOF'
import sys
def lines(p):
    return [l.strip() for l in open(p) if l.strip() and not l.lstrip().startswith("#")]
ex = set(lines(sys.argv[2]))
print("\n".join(l for l in lines(sys.argv[1]) if l not in ex))
EOF
)
check_eq "the example has every line of conf/haproxy.cfg" "" "$missing"

# ---------------------------------------------------------------- two gateways, one agent
read -r HTTPS_PORT HTTP_PORT HTTPS2_PORT HTTP2_PORT JWKS_PORT LLM_PORT DEFAULT_PORT AGENT_PORT PEER1 PEER2 \
	< <(free_ports 10)
[ -n "${PEER2:-}" ] || bail "could not pick free ports"
make_keys
# tokens for two users, signed with the JWKS key by jwcrypto (independent of the agent)
"$PY" - "$T/keys" <<'EOF' || bail "signing user tokens failed"
import json, sys
from jwcrypto import jwk, jwt
d = sys.argv[1]
key = jwk.JWK.from_pem(open(d + "/key.pem", "rb").read())
kid = json.load(open(d + "/jwks.json"))["keys"][0]["kid"]
claims = json.load(open(d + "/claims.json"))
for user in ("user-a", "user-b", "user-c", "user-d", "probe-1", "probe-2"):
    t = jwt.JWT(header={"alg": "RS256", "kid": kid, "typ": "JWT"}, claims=dict(claims, sub=user))
    t.make_signed_token(key)
    open("%s/token.%s" % (d, user), "w").write(t.serialize())
EOF
TOKEN_A=$(cat "$T/keys/token.user-a")
TOKEN_B=$(cat "$T/keys/token.user-b")
TOKEN_C=$(cat "$T/keys/token.user-c")
TOKEN_D=$(cat "$T/keys/token.user-d")
start_nginx "$JWKS_PORT"
start_stub llm "$LLM_PORT"
start_stub default "$DEFAULT_PORT"
start_agent "$AGENT_PORT" "$JWKS_URI"

# start_gw N HTTPS HTTP: haproxy -L gwN with the example, a stats socket added by a second file.
start_gw() {
	local n=$1 https=$2 http=$3
	printf 'global\n    stats socket %s/gw%s.sock level admin\n' "$T" "$n" >"$T/stats$n.cfg"
	(
		# shellcheck disable=SC2030 # this gateway's ports, for haproxy_env in this subshell only
		HTTPS_PORT=$https HTTP_PORT=$http
		haproxy_env
		export PEER_GW1=127.0.0.1:$PEER1 PEER_GW2=127.0.0.1:$PEER2 RATE_LIMIT
		exec "$HAPROXY_BIN" -db -L "gw$n" -f "$EX" -f "$T/stats$n.cfg"
	) >"$T/haproxy$n.log" 2>&1 &
	PIDS+=("$!")
	wait_port "$http" 10 "$!" || bail "gateway gw$n did not listen on $http"
}
start_gw 1 "$HTTPS_PORT" "$HTTP_PORT"
start_gw 2 "$HTTPS2_PORT" "$HTTP2_PORT"

# cli N COMMAND: a command on gateway N's stats socket
cli() {
	"$PY" - "$T/gw$1.sock" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode(errors="replace"))
EOF
}
# wait until each gateway's session to the other is established
for n in 1 2; do
	for ((i = 0; i < 50; i++)); do
		[[ $(cli "$n" "show peers") == *status=ESTA* ]] && break
		sleep 0.2
	done
	check_contains "gw$n: peers session established" "status=ESTA" "$(cli "$n" "show peers")"
done
haproxy_env # ROUTE_HEADER, ROUTE_VALUE, PROVIDER_API_KEY ... in this shell too
RH="$ROUTE_HEADER: $ROUTE_VALUE"
HTTP_PORT_SAVE=$HTTP_PORT
warm_up 25 || diag "gw1: the JWT route still answers $R_STATUS after warm-up"
HTTP_PORT=$HTTP2_PORT
warm_up 25 || diag "gw2: the JWT route still answers $R_STATUS after warm-up"
HTTP_PORT=$HTTP_PORT_SAVE

# chat USER-TOKEN GW-PORT NAME: one chat completion over HTTP/1.1; sets R_STATUS etc.
chat() {
	req "$3" --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $1" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "http://127.0.0.1:$2/v1/chat/completions"
}

# The first updates after the peers connect can go by while the gateways still exchange their
# tables (HAProxy 2.6): wait until one update made on each gateway is seen by the other.
synced=0
for ((i = 0; i < 25; i++)); do
	chat "$(cat "$T/keys/token.probe-1")" "$HTTP_PORT" probe1
	chat "$(cat "$T/keys/token.probe-2")" "$HTTP2_PORT" probe2
	sleep 0.2
	if [[ $(cli 2 "show table per_user") == *key=probe-1* && $(cli 1 "show table per_user") == *key=probe-2* ]]; then
		synced=1
		break
	fi
done
check_eq "the per_user table synchronises (gw1's probe user is on gw2 and gw2's on gw1; $((i + 1)) round(s))" 1 "$synced"
sleep 1

# wait_rate GW USER MIN: until gateway GW's table has USER with a rate >= MIN (at most 8 s; a
# peers session that HAProxy 2.6 reconnects re-sends the table, which can take a few seconds).
# Sets WAITED (seconds, 0.1 steps).
wait_rate() {
	local k r
	for ((k = 0; k < 80; k++)); do
		r=$(cli "$1" "show table per_user" | sed -n "s/.*key=$2 .*http_req_rate([0-9]*)=\([0-9]*\).*/\1/p")
		if [ "${r:-0}" -ge "$3" ]; then
			WAITED=$(printf '%d.%d' $((k / 10)) $((k % 10)))
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# user A: RATE_LIMIT requests on gw1 (all pass), then one on gw2, which has seen none of them:
# it refuses it only if gw1's count reached it. User C: the same the other way round.
n0=$(stub_lines llm)
sa=()
for ((i = 1; i <= RATE_LIMIT; i++)); do chat "$TOKEN_A" "$HTTP_PORT" "a$i"; sa+=("$R_STATUS"); done
check_eq "user A: $RATE_LIMIT requests on gw1 -> 200" "$(printf '200 %.0s' $(seq "$RATE_LIMIT") | sed 's/ $//')" "${sa[*]}"
if wait_rate 2 user-a "$RATE_LIMIT"; then ok "gw2 learned user A's count from gw1 (after ${WAITED}s)"; else not_ok "gw2 learned user A's count from gw1 within 8 s"; fi
chat "$TOKEN_A" "$HTTP2_PORT" a-gw2
check_eq "user A: the next request, on gw2 (which saw none of them) -> 429" 429 "$R_STATUS"
check_eq "429 answer: Retry-After and body" "10 Too Many Requests" "$(hdr retry-after) $R_BODY"
chat "$TOKEN_A" "$HTTP_PORT" a-gw1
check_eq "user A: and on gw1 -> 429" 429 "$R_STATUS"
sc=()
for ((i = 1; i <= RATE_LIMIT; i++)); do chat "$TOKEN_C" "$HTTP2_PORT" "c$i"; sc+=("$R_STATUS"); done
check_eq "user C: $RATE_LIMIT requests on gw2 -> 200" "$(printf '200 %.0s' $(seq "$RATE_LIMIT") | sed 's/ $//')" "${sc[*]}"
if wait_rate 1 user-c "$RATE_LIMIT"; then ok "gw1 learned user C's count from gw2 (after ${WAITED}s)"; else not_ok "gw1 learned user C's count from gw2 within 8 s"; fi
chat "$TOKEN_C" "$HTTP_PORT" c-gw1
check_eq "user C: the next request, on gw1 (which saw none of them) -> 429" 429 "$R_STATUS"
check_eq "the LLM received only the requests that passed" $((n0 + 2 * RATE_LIMIT)) "$(stub_lines llm)"
# the limited users stay limited while their window lasts
chat "$TOKEN_A" "$HTTP2_PORT" a-again
check_eq "user A: still 429 on gw2" 429 "$R_STATUS"

# user D, for information: 2 x RATE_LIMIT requests alternating gw1, gw2, 150 ms apart. Each
# gateway sees only RATE_LIMIT, so without synchronisation none would be refused. HAProxy's peers
# do not add counters up (the last update of an entry wins) and 2.6 sometimes reconnects its
# peers sessions, so increments can be lost and the limit bite late: not a pass/fail check.
sd=()
for ((i = 1; i <= 2 * RATE_LIMIT; i++)); do
	if ((i % 2)); then port=$HTTP_PORT; else port=$HTTP2_PORT; fi
	chat "$TOKEN_D" "$port" "d$i"
	sd+=("$R_STATUS")
	sleep 0.15
done
diag "user D, gw1/gw2 alternating (information): ${sd[*]}"

for n in 1 2; do
	t=$(cli "$n" "show table per_user")
	check_contains "gw$n: table per_user has user A's entry" "key=user-a" "$t"
	rate=$(printf '%s\n' "$t" | sed -n 's/.*key=user-a .*http_req_rate([0-9]*)=\([0-9]*\).*/\1/p')
	check_eq "gw$n: user A's synchronised rate is above RATE_LIMIT (more than this gateway saw)" yes \
		"$([ "${rate:-0}" -gt "$RATE_LIMIT" ] && echo yes || echo "no: ${rate:-none}")"
done

# user B is unaffected, on both gateways, h1 and h2
sb=()
for ((i = 1; i <= 2; i++)); do
	req "b1-$i" --http1.1 -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_B" --data "$CHAT_BODY" \
		"http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
	sb+=("$R_STATUS")
	req "b2-$i" --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_B" --data "$CHAT_BODY" \
		"https://127.0.0.1:$HTTPS2_PORT/v1/chat/completions"
	sb+=("$R_STATUS/$R_VERSION")
done
check_eq "user B, while A is limited: 200 on gw1 (h1) and gw2 (h2)" "200 200/2 200 200/2" "${sb[*]}"
req a-h2 --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_A" --data "$CHAT_BODY" \
	"https://127.0.0.1:$HTTPS2_PORT/v1/chat/completions"
check_eq "user A still limited over h2" "429 2" "$R_STATUS $R_VERSION"
# an invalid token is not counted and gets its 401 (not 429)
req bad --http1.1 -X POST -H "$RH" -H 'Authorization: Bearer wrong-jwt-token' --data "$CHAT_BODY" \
	"http://127.0.0.1:$HTTP_PORT/v1/chat/completions"
check_eq "invalid token -> 401, not 429" 401 "$R_STATUS"
req none --http1.1 -X POST -H "$RH" --data "$CHAT_BODY" "http://127.0.0.1:$HTTP_PORT/v1/chat/completions"

# ---------------------------------------------------------------- (c) access log
sleep 0.2
log1=$(cat "$T/haproxy1.log")
check_contains "log: a valid request carries the verdict and the sub" 'jwt_valid=1 jwt_status=- jwt_sub="user-a" jwt_message=""' "$log1"
check_contains "log: a limited request is logged with status 429 and the rate" ' 429 ' "$(grep 'jwt_sub="user-a"' <<<"$log1" | grep -E 'rate=[0-9]+' | tail -1)"
check_contains "log: an invalid token carries status and message" \
	'jwt_valid=0 jwt_status=401 jwt_sub="" jwt_message="Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"' "$log1"
check_contains "log: a missing token" 'jwt_message="Jwt is missing"' "$log1"
check_contains "log: the agent's processing time is logged" 'jwt_ms=' "$log1"
check_not_contains "log: never the token" "$TOKEN_A" "$log1$(cat "$T/haproxy2.log")"
check_not_contains "log: never the provider key" "$PROVIDER_API_KEY" "$log1$(cat "$T/haproxy2.log")"
diag "a log line: $(grep 'jwt_sub="user-a"' <<<"$log1" | tail -1)"

check_agent_exit
