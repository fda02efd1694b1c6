#!/usr/bin/env bash
# conf/haproxy.cfg + conf/spoe-jwt.conf pass "haproxy -c" with the environment the tests and the
# demo use, with the HTTPS-upstream variant, and fail without PROVIDER_API_KEY.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

pick_ports
make_cert
haproxy_env

out=$("$HAPROXY_BIN" -c -f "$TOP/conf/haproxy.cfg" 2>&1)
rc=$?
check_eq "haproxy -c accepts conf/ (plain HTTP upstream)" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"
check_not_contains "haproxy -c prints no warning" "WARNING" "$out"

out=$(LLM_TLS_SNI=localhost LLM_CA_FILE=$T/tls.crt "$HAPROXY_BIN" -c -f "$TOP/conf/haproxy.cfg" 2>&1)
rc=$?
check_eq "haproxy -c accepts conf/ (HTTPS upstream with SNI and verification)" 0 "$rc"
[ "$rc" -eq 0 ] || diag "$out"

out=$(ROUTE_HEADER=x-llm-route ROUTE_VALUE=secure JWT_HEADER=x-token JWT_PROVIDER=p2 \
	"$HAPROXY_BIN" -c -f "$TOP/conf/haproxy.cfg" 2>&1)
check_eq "haproxy -c accepts another route header and token header" 0 "$?"

out=$(env -u PROVIDER_API_KEY "$HAPROXY_BIN" -c -f "$TOP/conf/haproxy.cfg" 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then ok "haproxy -c refuses a config without PROVIDER_API_KEY"; else not_ok "haproxy -c refuses a config without PROVIDER_API_KEY"; fi
check_contains "the refusal names PROVIDER_API_KEY" "PROVIDER_API_KEY must be set" "$out"
