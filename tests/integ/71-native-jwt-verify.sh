#!/usr/bin/env bash
# The interop catalogue (tests/interop/mint.py) against HAProxy's native jwt_verify converter,
# next to the agent's verdicts (same keys, same tokens).
#
# What native jwt_verify(<alg>, <key>) is: a signature check with ONE key and ONE alg fixed in
# the configuration (one rule per key, see tests/interop/native_cfg.py). It cannot do, by design:
#   - EdDSA (no such alg in HAProxy 2.6 or 3.3);
#   - PS256/384/512 on 2.6 ("RSASSA-PSS JWS signing not managed yet": refused at config check);
#   - JWKS, kid-based key selection, rotation: the key is a PEM file or secret known at start;
#   - any claim: exp, nbf, iss, aud are never looked at; the header is never parsed either
#     (its alg is ignored: the configured alg is used).
# HAProxy 3.3.0 also refuses jwt_verify(HSxxx,"<constant secret>") at config check (missing
# "case" labels in src/sample.c sample_conv_jwt_verify_check), so the secrets go through variables.
#
# Checked here: every token whose native verdict the catalogue states gets exactly that verdict
# (1 = accepted, anything else = refused); the tokens native accepts but the agent refuses are
# sent through the gateway to show the refusal; and the "unpinned" mistake (alg taken from the
# token's header) makes native accept an unsigned alg=none token, which the agent refuses.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

ISS=https://interop.spoa-jwt.test
AUD=llm-gateway
pick_ports
read -r NATIVE_PORT < <(free_ports 1)
"$PY" "$TOP/tests/interop/mint.py" "$T/mint" --iss "$ISS" --aud "$AUD" >"$T/mint.log" 2>&1 ||
	bail "tests/interop/mint.py failed: $(tail -3 "$T/mint.log")"

is26=0
"$HAPROXY_BIN" -v | grep -q 'version 2\.6\.' && is26=1
if [ "$is26" = 1 ]; then
	# the documented limitation, checked
	printf 'defaults\n    mode http\nfrontend f\n    bind 127.0.0.1:%s\n    http-request deny if { req.hdr(a),jwt_verify(PS256,"%s") -m int 1 }\n' \
		"$NATIVE_PORT" "$T/mint/keys/PS256-pyjwt.pub.pem" >"$T/pss.cfg"
	out=$("$HAPROXY_BIN" -c -f "$T/pss.cfg" 2>&1)
	check_contains "HAProxy 2.6 refuses jwt_verify(PS256, ...) at config check" "RSASSA-PSS JWS signing not managed yet" "$out"
	"$PY" "$TOP/tests/interop/native_cfg.py" "$T/mint" "127.0.0.1:$NATIVE_PORT" --no-pss >"$T/native.cfg"
else
	"$PY" "$TOP/tests/interop/native_cfg.py" "$T/mint" "127.0.0.1:$NATIVE_PORT" >"$T/native.cfg"
fi
out=$("$HAPROXY_BIN" -c -f "$T/native.cfg" 2>&1)
check_eq "the native jwt_verify configuration passes haproxy -c" 0 "$?"
"$HAPROXY_BIN" -db -f "$T/native.cfg" >"$T/native.log" 2>&1 &
PIDS+=("$!")
wait_port "$NATIVE_PORT" 10 "$!" || bail "native haproxy did not listen"

# The gateway with the agent, for the side-by-side part.
mkdir -p "$T/www" && cp "$T/mint/jwks.json" "$T/www/jwks.json"
start_static jwks "$JWKS_PORT" "$T/www"
cat >"$T/agent.json" <<JSON
{"providers": {"default": {
  "issuer": "$ISS", "audiences": ["$AUD"],
  "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$JWKS_PORT/jwks.json", "timeout": "1s"}},
  "from_headers": [{"name": "Authorization", "value_prefix": "Bearer "}]}}}
JSON
start_agent_config "$AGENT_PORT" "$T/agent.json"
start_gateway

native() { # native PATH TOKEN -> jwt_verify's result
	curl -sS --max-time 5 -H "Authorization: Bearer $2" "http://127.0.0.1:$NATIVE_PORT$1" 2>&1
}

n_checked=0 n_skipped=0 wrongly=()
while IFS=$'\t' read -r name status msg nalg nkid nexp nunp token; do
	[ "$msg" = - ] && msg=
	if [ "$nalg" = - ]; then
		n_skipped=$((n_skipped + 1))
		continue
	fi
	if [ "$is26" = 1 ] && [ "${nalg#PS}" != "$nalg" ]; then
		n_skipped=$((n_skipped + 1))
		continue
	fi
	got=$(native "/native/$nalg/$nkid" "$token")
	if [ "$nexp" = 1 ]; then
		check_eq "native jwt_verify($nalg, $nkid) accepts $name" 1 "$got"
	else
		case $got in
		1 | "" | *[!0-9-]*) not_ok "native jwt_verify($nalg, $nkid) refuses $name"; diag "got: $got" ;;
		*) ok "native jwt_verify($nalg, $nkid) refuses $name (returns $got)" ;;
		esac
	fi
	n_checked=$((n_checked + 1))
	if [ "$nunp" != - ]; then
		got=$(native "/unpinned/$nkid" "$token")
		check_eq "unpinned native jwt_verify(<token's alg>, $nkid) on $name returns $nunp" "$nunp" "$got"
	fi
	# accepted natively, refused by the agent: show the agent's refusal through the gateway
	if { [ "$nexp" = 1 ] || [ "$nunp" = 1 ]; } && [ "$status" != 200 ]; then
		jwt_req tok "$token"
		check_eq "the agent refuses $name: $status $msg" "$(verdict "$status" "$msg")" "$R_VERDICT"
		wrongly+=("$name")
	fi
done <"$T/mint/catalogue.tsv"
pss_note=; [ "$is26" = 1 ] && pss_note=", PS* on 2.6"
diag "native checks: $n_checked; not applicable (EdDSA, no fixed key, refused before any check$pss_note): $n_skipped"
diag "accepted by native jwt_verify, refused by spoa-jwt (${#wrongly[@]}):" "${wrongly[@]/#/  }"

# Fair summary of the categories, each checked above:
#  - claims (expired, nbf, iss, aud, duplicate/ill-typed claims, crit, oversize): native is a
#    signature check only, so it says 1; the agent applies Envoy's checks;
#  - ECDSA r||s with zero-padded halves (a second spelling of a valid signature): native splits
#    at len/2 and accepts; the agent wants exactly 2 x coordinate bytes (RFC 7518 §3.4);
#  - header alg none/missing/ill-typed with a valid RS256 signature: native never reads the
#    header; harmless with a pinned alg, but an "unpinned" configuration (alg from the token)
#    accepts the unsigned "h.p." alg=none token, which the agent refuses at parse time.
check_agent_exit
