#!/usr/bin/env bash
# The JWKS server goes down after good fetches: the last good key set keeps working for
# max_stale past its cache time, then requests fail with "Jwks remote fetch is failed"; when the
# server is back, keys are fetched again without restart. cache_duration 2 s, max_stale 2 s; the
# agent refreshes every cache/2 = 1 s while the server is up, so if the server stops at S the
# last good fetch was in [S-1, S]: the cache time has surely ended at S+2.3 while max_stale surely
# still holds (until >= S+3), and at S+4.6 it has surely ended.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

now() { date +%s.%N; }
# sleep_until BASE OFFSET: sleeps until BASE+OFFSET seconds (no-op if past)
sleep_until() {
	local d
	d=$(awk -v b="$1" -v o="$2" -v n="$(now)" 'BEGIN { d = b + o - n; printf "%.3f", (d > 0 ? d : 0) }')
	sleep "$d"
}
since() { awk -v b="$1" -v n="$(now)" 'BEGIN { printf "%.1f", n - b }'; }

pick_ports
K=$T/k
tok key "$K" key-a || bail "tok key"
mkdir -p "$T/www"
tok jwks "$T/www/jwks.json" "$K" key-a
start_static jwks "$JWKS_PORT" "$T/www"
cat >"$T/agent.json" <<JSON
{"providers": {"default": {
  "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS_PORT/jwks.json", "timeout": "0.5s"},
                  "cache_duration": "2s", "max_stale": "2s", "refetch_interval": "30s"}}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json" --threads 1
start_gateway
toks=()
for i in 1 2 3 4 5; do toks+=("$(tok sign "$K" key-a --sub "user-$i")"); done

jwt_req t1 "${toks[0]}"
check_eq "JWKS server up -> 200" 200 "$R_VERDICT"
sleep 1.5
before=$(fetch_count jwks /jwks.json)
if [ "$before" -ge 2 ]; then ok "the agent refreshes in the background ($before fetches)"; else not_ok "the agent refreshes in the background"; diag "$before fetches"; fi

stop_static jwks
S=$(now)
sleep_until "$S" 2.3
jwt_req t2 "${toks[1]}"
check_eq "server down, past the cache time, within max_stale -> 200 (stale keys), at +$(since "$S") s" 200 "$R_VERDICT"
sleep_until "$S" 4.6
jwt_req t3 "${toks[2]}"
check_eq "past cache time + max_stale -> 401 Jwks remote fetch is failed, at +$(since "$S") s" \
	"$(verdict 401 "Jwks remote fetch is failed")" "$R_VERDICT"
jwt_req t3b "${toks[0]}"
check_eq "a token accepted before is refused too (no cached verdict outlives the keys)" \
	"$(verdict 401 "Jwks remote fetch is failed")" "$R_VERDICT"
if grep -q 'level=warn' "$T/agent.log"; then ok "the agent logged the failed fetches"; else not_ok "the agent logged the failed fetches"; fi

start_static jwks "$JWKS_PORT" "$T/www"
R=$(now)
for ((i = 0; i < 50; i++)); do
	jwt_req t4 "${toks[3]}"
	[ "$R_VERDICT" = 200 ] && break
	sleep 0.1
done
check_eq "server back -> 200 again without restart (after $(since "$R") s)" 200 "$R_VERDICT"
jwt_req t5 "${toks[4]}"
check_eq "and stays so" 200 "$R_VERDICT"
check_eq "no refused request reached the LLM" 4 "$(stub_lines llm)"

check_agent_exit
