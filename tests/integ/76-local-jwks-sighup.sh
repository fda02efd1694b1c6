#!/usr/bin/env bash
# Local JWKS file (local_jwks.filename) re-read on SIGHUP: swap the file, signal the agent's pid,
# the new key is accepted and the old one refused without restart; a broken file on SIGHUP keeps
# the set in use (and says so in the log). A file provider never fetches, so an unknown kid is
# answered at once from the set it has.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
K=$T/k
tok key "$K" old-key || bail "tok key"
tok key "$K" new-key --alg RS256 || bail "tok key"
mkdir -p "$T/local"
tok jwks "$T/local/jwks.json" "$K" old-key
cat >"$T/agent.json" <<JSON
{"providers": {"default": {"issuer": "https://auth.spoa-jwt.test",
                           "local_jwks": {"filename": "$T/local/jwks.json"}}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json"
start_gateway

t_old=$(tok sign "$K" old-key) t_new=$(tok sign "$K" new-key)
jwt_req o1 "$t_old"
check_eq "old key from the file -> 200" 200 "$R_VERDICT"
jwt_req n1 "$t_new"
check_eq "new key not in the file yet -> 401" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"

# swap the file (atomic rename), then SIGHUP
tok jwks "$T/local/jwks.json" "$K" new-key
jwt_req n2 "$t_new"
check_eq "file swapped but no SIGHUP yet -> still refused" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"
kill -HUP "$AGENT_PID"
for ((i = 0; i < 50; i++)); do
	jwt_req n3 "$t_new"
	[ "$R_VERDICT" = 200 ] && break
	sleep 0.1
done
check_eq "after SIGHUP the new key -> 200" 200 "$R_VERDICT"
jwt_req o2 "$t_old"
check_eq "after SIGHUP the old key (verified and cached before) -> 401" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"
check_eq "the agent is still the same process" 0 "$(kill -0 "$AGENT_PID" 2>/dev/null; echo $?)"

# a broken file on SIGHUP keeps the current set
printf '{"keys": [ this is not json' >"$T/local/jwks.json.tmp" && mv "$T/local/jwks.json.tmp" "$T/local/jwks.json"
kill -HUP "$AGENT_PID"
for ((i = 0; i < 50; i++)); do grep -q 'jwks_reload_failed' "$T/agent.log" && break; sleep 0.1; done
check_contains "the failed reload is logged" "jwks_reload_failed" "$(cat "$T/agent.log")"
jwt_req n4 "$t_new"
check_eq "broken file on SIGHUP: the new key still -> 200" 200 "$R_VERDICT"
jwt_req n5 "$(tok sign "$K" new-key --sub someone-else)"
check_eq "and a token not seen before with it -> 200" 200 "$R_VERDICT"
jwt_req o3 "$t_old"
check_eq "the old key is still refused" \
	"$(verdict 401 "Jwks doesn't have key to match kid or alg from Jwt")" "$R_VERDICT"

# a file with no usable key on SIGHUP is a failed reload too
echo '{"keys": []}' >"$T/local/jwks.json"
n_fail=$(grep -c 'jwks_reload_failed' "$T/agent.log")
kill -HUP "$AGENT_PID"
for ((i = 0; i < 50; i++)); do [ "$(grep -c 'jwks_reload_failed' "$T/agent.log")" -gt "$n_fail" ] && break; sleep 0.1; done
jwt_req n6 "$t_new"
check_eq "empty key set on SIGHUP: the current set stays (new key -> 200)" 200 "$R_VERDICT"
# and a good file again
tok jwks "$T/local/jwks.json" "$K" old-key new-key
kill -HUP "$AGENT_PID"
for ((i = 0; i < 50; i++)); do
	jwt_req o4 "$t_old"
	[ "$R_VERDICT" = 200 ] && break
	sleep 0.1
done
check_eq "a good file with both keys: the old key -> 200 again" 200 "$R_VERDICT"
jwt_req n7 "$t_new"
check_eq "and the new key -> 200" 200 "$R_VERDICT"

check_agent_exit
