#!/usr/bin/python3
"""Keys, JWK Sets and tokens for `make bench` (tests/bench/run.sh). python3-jwcrypto only.

    /usr/bin/python3 tests/bench/mkbench.py OUTDIR [--ttl SECONDS]

Writes into OUTDIR, for each ALG in RS256 (RSA-2048), ES256 (P-256), EdDSA (Ed25519):
  jwks-ALG.json   {"keys": [the public key, kid "bench-ALG", alg ALG, use sig]}
  token-ALG       a signed JWT (kid, typ JWT; iss, sub, aud, iat, exp = now + ttl), no newline
and also:
  jwks.json       = jwks-RS256.json (what the agent fetches in the HAProxy cases)
  pub-RS256.pem   the RS256 public key as SPKI PEM (HAProxy's native jwt_verify)
"""

import argparse
import json
import os
import time

from jwcrypto import jwk, jwt

KEYGEN = {
    "RS256": dict(kty="RSA", size=2048),
    "ES256": dict(kty="EC", crv="P-256"),
    "EdDSA": dict(kty="OKP", crv="Ed25519"),
}


def write(path, data):
    with open(path, "w", encoding="ascii") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--ttl", type=int, default=86400)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    now = int(time.time())
    claims = {"iss": "https://auth.spoa-jwt.test", "sub": "bench-user", "aud": "llm-gateway",
              "iat": now, "exp": now + a.ttl}
    for alg, kw in KEYGEN.items():
        key = jwk.JWK.generate(**kw)
        kid = "bench-" + alg
        pub = json.loads(key.export_public())
        pub.update({"kid": kid, "alg": alg, "use": "sig"})
        doc = json.dumps({"keys": [pub]}, indent=2) + "\n"
        write(os.path.join(a.outdir, "jwks-%s.json" % alg), doc)
        t = jwt.JWT(header={"alg": alg, "kid": kid, "typ": "JWT"}, claims=claims)
        t.make_signed_token(key)
        write(os.path.join(a.outdir, "token-%s" % alg), t.serialize())
        if alg == "RS256":
            write(os.path.join(a.outdir, "jwks.json"), doc)
            write(os.path.join(a.outdir, "pub-RS256.pem"), key.export_to_pem().decode())


if __name__ == "__main__":
    main()
