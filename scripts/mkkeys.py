#!/usr/bin/python3
"""Make the keys, JWKS and tokens for the demo and the integration tests.

    /usr/bin/python3 scripts/mkkeys.py OUTDIR [--kid demo-key-1] [--iss ...] [--sub ...]
        [--aud ...] [--ttl 3600]

Independent of spoa-jwt's own code: uses python3-jwcrypto (Debian package). Writes into OUTDIR:

  key.pem              RSA-2048 private key (PKCS#8 PEM) whose public half is in jwks.json
  jwks.json            {"keys": [{kty RSA, kid, alg RS256, use sig, n, e}]}
  other-key.pem        a second RSA-2048 private key, NOT in jwks.json
  token.valid          RS256, kid, iss/sub/aud, iat=now, exp=now+ttl
  token.expired        same key, exp two hours ago (well beyond any clock skew)
  token.other-key      signed by other-key.pem but with the SAME kid -> bad signature
  token.bad-signature  token.valid with one signature character changed
  token.unknown-kid    signed by key.pem with a kid that is not in the JWKS
  token.not-yet-valid  nbf one hour in the future
  token.no-exp         token.valid without exp
  token.other-aud      token.valid for another audience ("another-service")
  claims.json          the claims of token.valid
Tokens are written without a trailing newline.
"""

import argparse
import json
import os
import sys
import time

from jwcrypto import jwk, jwt


def sign(key, kid, claims, alg="RS256"):
    t = jwt.JWT(header={"alg": alg, "kid": kid, "typ": "JWT"}, claims=claims)
    t.make_signed_token(key)
    return t.serialize()


def write(outdir, name, data, mode=0o644):
    path = os.path.join(outdir, name)
    with open(path, "w", encoding="ascii") as f:
        f.write(data)
    os.chmod(path, mode)


def main():
    ap = argparse.ArgumentParser(description="keys, JWKS and tokens for spoa-jwt tests")
    ap.add_argument("outdir")
    ap.add_argument("--kid", default="demo-key-1")
    ap.add_argument("--iss", default="https://auth.spoa-jwt.test")
    ap.add_argument("--sub", default="demo-user")
    ap.add_argument("--aud", default="llm-gateway")
    ap.add_argument("--ttl", type=int, default=3600, help="lifetime of token.valid, seconds")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)

    key = jwk.JWK.generate(kty="RSA", size=2048)
    other = jwk.JWK.generate(kty="RSA", size=2048)
    pub = json.loads(key.export_public())
    pub.update({"kid": a.kid, "alg": "RS256", "use": "sig"})
    write(a.outdir, "jwks.json", json.dumps({"keys": [pub]}, indent=2) + "\n")
    write(a.outdir, "key.pem", key.export_to_pem(private_key=True, password=None).decode(), 0o600)
    write(a.outdir, "other-key.pem",
          other.export_to_pem(private_key=True, password=None).decode(), 0o600)

    now = int(time.time())
    base = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "iat": now}
    claims = dict(base, exp=now + a.ttl)
    write(a.outdir, "claims.json", json.dumps(claims, indent=2) + "\n")
    valid = sign(key, a.kid, claims)
    write(a.outdir, "token.valid", valid)
    write(a.outdir, "token.expired", sign(key, a.kid, dict(base, iat=now - 7200, exp=now - 3600)))
    write(a.outdir, "token.other-key", sign(other, a.kid, claims))
    head, payload, sig = valid.split(".")
    # Change a character in the middle of the signature (the last one may only hold padding bits).
    i = len(sig) // 2
    sig = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
    write(a.outdir, "token.bad-signature", ".".join((head, payload, sig)))
    write(a.outdir, "token.unknown-kid", sign(key, a.kid + "-unknown", claims))
    write(a.outdir, "token.not-yet-valid", sign(key, a.kid, dict(claims, nbf=now + 3600)))
    write(a.outdir, "token.no-exp", sign(key, a.kid, base))
    write(a.outdir, "token.other-aud", sign(key, a.kid, dict(claims, aud="another-service")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
