#!/usr/bin/env bash
# The LLM upstream over HTTPS (LLM_TLS_SNI set): SNI, Host and certificate verification.
# A certificate from an unknown CA, or one not matching the SNI name, is refused (503) and nothing
# reaches the LLM.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

# The stub serves HTTPS with the same self-signed localhost certificate as HAProxy's listener.
pick_ports
make_cert
LLM_STUB_FLAGS="--tls-cert $T/tls.crt --tls-key $T/tls.key"
export LLM_TLS_SNI=localhost LLM_CA_FILE=$T/tls.crt
start_stack

RH="$ROUTE_HEADER: $ROUTE_VALUE"
url=https://127.0.0.1:$HTTPS_PORT/v1/chat/completions
send_valid() {
	req "$1" --http2 -k -X POST -H "$RH" -H "Authorization: Bearer $TOKEN_VALID" \
		-H 'content-type: application/json' --data "$CHAT_BODY" "$url"
}

send_valid tls-ok
check_eq "HTTPS upstream, verified certificate -> 200" "200 llm" "$R_STATUS $(hdr x-stub-name)"
check_eq "HTTPS upstream got the provider key" "Bearer $PROVIDER_API_KEY" "$(hdr x-echo-authorization)"
check_eq "HTTPS upstream got Host = the SNI name" "['localhost']" "$(stub_last llm "h.get('host')")"

restart_haproxy() {
	stop_pid "$HAPROXY_PID"
	start_haproxy
}

# Unknown CA: verification must fail.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=other-ca \
	-keyout "$T/other.key" -out "$T/other.crt" >>"$T/openssl.log" 2>&1 || bail "openssl req failed"
n0=$(stub_lines llm)
LLM_CA_FILE=$T/other.crt
restart_haproxy
send_valid tls-badca
check_eq "HTTPS upstream, certificate from an unknown CA -> 503" 503 "$R_STATUS"
check_not_contains "  ... from HAProxy's upstream connection, not from the JWT check" "Jwt" "$R_BODY"

# Right CA, wrong name: SNI/verifyhost must fail.
LLM_CA_FILE=$T/tls.crt LLM_TLS_SNI=llm.example.com
restart_haproxy
send_valid tls-badname
check_eq "HTTPS upstream, certificate not valid for the SNI name -> 503" 503 "$R_STATUS"
check_not_contains "  ... from HAProxy's upstream connection, not from the JWT check" "Jwt" "$R_BODY"
check_eq "refused upstream certificates: nothing reached the LLM" "$n0" "$(stub_lines llm)"

check_agent_exit
