#!/usr/bin/env bash
# The offline tools: keygen/sign/verify for every algorithm they offer, checked
# against an independent implementation (python3-jwcrypto) both ways; the SPOP
# health check against a running agent; config checking with -c.
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

cd "$T" || bail "no temp dir"
for alg in RS256 ES256 EdDSA HS256; do
	out=$("$AGENT_BIN" keygen --alg "$alg" --kid "k-$alg" 2>&1)
	check_eq "keygen $alg exits 0" 0 $?
	[ -f "k-$alg.key" ] && [ -f "k-$alg.jwks.json" ] && ok "keygen $alg wrote the key and the JWKS" ||
		not_ok "keygen $alg wrote the key and the JWKS: $out"
	check_eq "keygen $alg: private key file is 0600" 600 "$(stat -c %a "k-$alg.key")"
	tok=$("$AGENT_BIN" sign --key "k-$alg.key" --claims '{"sub":"alice","iss":"cli-test"}' --exp 1h)
	check_eq "sign $alg exits 0" 0 $?
	res=$("$AGENT_BIN" verify --jwks "k-$alg.jwks.json" "$tok")
	check_eq "verify $alg: our token verifies" "Jwt is valid" "$res"
	# jwcrypto verifies our token with our JWKS: both the signature and the JWK encoding.
	res=$("$PY" - "k-$alg.jwks.json" "$tok" <<'PYEOF'
import sys, json
from jwcrypto import jwk, jwt
ks = jwk.JWKSet.from_json(open(sys.argv[1]).read())
t = jwt.JWT(jwt=sys.argv[2], key=ks, algs=["RS256", "ES256", "EdDSA", "HS256"])
print(json.loads(t.claims)["sub"])
PYEOF
	)
	check_eq "jwcrypto verifies the $alg token spoa-jwt signed" alice "$res"
	# A flipped last signature character must fail.
	last=${tok: -2:1}
	[ "$last" = A ] && repl=B || repl=A
	bad="${tok:0:${#tok}-2}$repl${tok: -1}"
	res=$("$AGENT_BIN" verify --jwks "k-$alg.jwks.json" "$bad")
	rc=$?
	check_eq "verify $alg: altered signature refused (exit 1)" "1 Jwt verification fails" "$rc $res"
done

# jwcrypto signs, spoa-jwt verifies (both directions of interop).
"$PY" - <<'PYEOF' >"$T/py.out"
import json, time
from jwcrypto import jwk, jwt
keys = []
for kid, kw, alg in [("py-rs", dict(kty="RSA", size=2048), "RS256"),
                     ("py-es", dict(kty="EC", crv="P-256"), "ES256"),
                     ("py-ed", dict(kty="OKP", crv="Ed25519"), "EdDSA")]:
    k = jwk.JWK.generate(kid=kid, **kw)
    keys.append(json.loads(k.export_public()))
    t = jwt.JWT(header={"alg": alg, "kid": kid}, claims={"sub": "bob", "exp": int(time.time()) + 600})
    t.make_signed_token(k)
    print(alg, t.serialize())
    t = jwt.JWT(header={"alg": alg, "kid": kid}, claims={"sub": "bob", "exp": int(time.time()) - 600})
    t.make_signed_token(k)
    print(alg + "-expired", t.serialize())
json.dump({"keys": keys}, open("py.jwks.json", "w"))
PYEOF
while read -r alg tok; do
	res=$("$AGENT_BIN" verify --jwks py.jwks.json "$tok")
	case $alg in
	*-expired) check_eq "spoa-jwt verify: jwcrypto $alg token" "Jwt is expired" "$res" ;;
	*) check_eq "spoa-jwt verify: jwcrypto $alg token" "Jwt is valid" "$res" ;;
	esac
done <"$T/py.out"
res=$("$AGENT_BIN" verify --jwks py.jwks.json wrong-jwt-token)
check_eq "verify: wrong-jwt-token" \
	"Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections" "$res"
"$AGENT_BIN" sign --key /nonexistent --claims '{}' >/dev/null 2>&1
check_eq "sign with a missing key file exits 1" 1 $?
"$AGENT_BIN" keygen --alg none --kid x >/dev/null 2>&1
check_eq "keygen --alg none is a usage error (exit 2)" 2 $?

# healthcheck: a real SPOP exchange with a running agent.
read -r AP CLOSED < <(free_ports 2)
start_agent "$AP" "http://127.0.0.1:$CLOSED/jwks"
out=$("$AGENT_BIN" healthcheck "127.0.0.1:$AP" 2>&1)
check_eq "healthcheck against the agent" "0 SPOA server is ok" "$? $out"
"$AGENT_BIN" healthcheck "127.0.0.1:$CLOSED" >/dev/null 2>&1
check_eq "healthcheck against a closed port exits 1" 1 $?
"$PY" -c 'import socket,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1]); sys.stdout.flush()
c,_=s.accept(); c.recv(100); c.sendall(b"HTTP/1.1 200 OK\r\n\r\n"); c.close()' >"$T/fake.port" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
"$AGENT_BIN" healthcheck --timeout 1000 "127.0.0.1:$(cat "$T/fake.port")" >/dev/null 2>&1
check_eq "healthcheck against a non-SPOP server exits 1" 1 $?

# -c checks a configuration like haproxy -c.
cat >"$T/good.json" <<JSON
{"providers": {"default": {"remote_jwks": {"http_uri": {"uri": "http://127.0.0.1:$CLOSED/jwks"}}}}}
JSON
printf '{"providers": {"default": {"remote_jwks": {"http_uri": {"uri": "gopher://x"}}}}}' >"$T/bad.json"
"$AGENT_BIN" --config "$T/good.json" -c >/dev/null 2>&1
check_eq "-c on a good config exits 0" 0 $?
out=$("$AGENT_BIN" --config "$T/bad.json" -c 2>&1)
check_eq "-c on a bad config exits 2" 2 $?
check_contains "the error names the field" "providers.default.remote_jwks.http_uri.uri" "$out"
out=$("$AGENT_BIN" --listen 127.0.0.1:99999 --jwks-uri http://a/ 2>&1)
check_eq "bad port exits 2" 2 $?
check_contains "bad port names the flag" "--listen" "$out"
check_agent_exit
