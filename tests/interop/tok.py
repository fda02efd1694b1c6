#!/usr/bin/python3
"""Small key/JWKS/token tool for the integration tests 72-77 (python3-jwcrypto).

    tok.py key DIR KID [--alg ES256]     DIR/KID.jwk (private, with kid and alg)
    tok.py jwks OUT DIR KID...           OUT = {"keys": [public JWK of each KID]}
    tok.py sign DIR KID [--iss ISS] [--aud AUD] [--sub SUB] [--ttl 3600] [--no-exp]
                        [--claims JSON]  token on stdout (no newline); --claims is merged last
                                         (null deletes a claim)

--alg: RS256 (RSA-2048), ES256 (P-256, the default: fast to generate), EdDSA (Ed25519).
"""
import argparse
import json
import os
import sys
import time

from jwcrypto import jwk, jwt


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("key")
    k.add_argument("dir")
    k.add_argument("kid")
    k.add_argument("--alg", default="ES256", choices=["RS256", "ES256", "EdDSA"])
    j = sub.add_parser("jwks")
    j.add_argument("out")
    j.add_argument("dir")
    j.add_argument("kids", nargs="*")
    s = sub.add_parser("sign")
    s.add_argument("dir")
    s.add_argument("kid")
    s.add_argument("--iss", default="https://auth.spoa-jwt.test")
    s.add_argument("--aud", default="llm-gateway")
    s.add_argument("--sub", default="demo-user")
    s.add_argument("--ttl", type=int, default=3600)
    s.add_argument("--no-exp", action="store_true")
    s.add_argument("--claims", default="{}")
    a = ap.parse_args()

    if a.cmd == "key":
        os.makedirs(a.dir, exist_ok=True)
        if a.alg == "RS256":
            key = jwk.JWK.generate(kty="RSA", size=2048)
        elif a.alg == "ES256":
            key = jwk.JWK.generate(kty="EC", crv="P-256")
        else:
            key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
        d = json.loads(key.export(private_key=True))
        d.update({"kid": a.kid, "alg": a.alg})
        with open(os.path.join(a.dir, a.kid + ".jwk"), "w") as f:
            json.dump(d, f)
        return 0
    if a.cmd == "jwks":
        keys = []
        for kid in a.kids:
            d = json.load(open(os.path.join(a.dir, kid + ".jwk")))
            pub = json.loads(jwk.JWK(**d).export_public())
            pub.update({"kid": kid, "alg": d["alg"], "use": "sig"})
            keys.append(pub)
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"keys": keys}, f)
        os.replace(tmp, a.out)          # atomic: a reader never sees half a file
        return 0
    d = json.load(open(os.path.join(a.dir, a.kid + ".jwk")))
    key = jwk.JWK(**d)
    now = int(time.time())
    claims = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "iat": now}
    if not a.no_exp:
        claims["exp"] = now + a.ttl
    claims.update(json.loads(a.claims))
    claims = {k: v for k, v in claims.items() if v is not None}
    t = jwt.JWT(header={"alg": d["alg"], "kid": a.kid, "typ": "JWT"}, claims=claims)
    t.make_signed_token(key)
    sys.stdout.write(t.serialize())
    return 0


if __name__ == "__main__":
    sys.exit(main())
