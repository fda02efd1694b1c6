#!/usr/bin/python3
"""HAProxy configuration that checks tokens with HAProxy's native jwt_verify (no agent).

    /usr/bin/python3 tests/interop/native_cfg.py MINT_DIR BIND [--no-pss] > native.cfg

For every (alg, kid) pair that the catalogue (tests/interop/mint.py) names in its "native"
fields, and for every signing key's own alg:

  GET /native/<alg>/<kid>     "Authorization: Bearer <token>" -> 200, body = the result of
                              http_auth_bearer,jwt_verify(<alg>, <key of kid>)
                              (1 verified, 0 not, negative: HAProxy's error codes)
  GET /unpinned/<kid>         the same, but the algorithm is taken from the token's own header
                              (jwt_header_query('$.alg') in a variable): the classic mistake
                              that lets a token choose "none"

The key is "<MINT_DIR>/keys/<kid>.pub.pem" for RS*, PS*, ES*, and for HS* the secret, passed
through a variable: HAProxy 3.3.0 refuses jwt_verify(HSxxx,"<secret>") with a constant secret
(src/sample.c sample_conv_jwt_verify_check: "JWS_ALG_HS256:" lacks "case", so the secret is
loaded as a certificate file and the check fails), a variable skips that check on every
version. --no-pss leaves out PS* (HAProxy 2.6: "RSASSA-PSS JWS signing not managed yet").
EdDSA has no native verifier.
"""
import json
import os
import re
import sys


def main():
    mint, bind = sys.argv[1], sys.argv[2]
    no_pss = "--no-pss" in sys.argv[3:]
    cat = json.load(open(os.path.join(mint, "catalogue.json")))
    pairs = set()
    for c in cat:
        if c["native"]:
            pairs.add((c["native"]["alg"], c["native"]["kid"]))
    kids = set()
    for name in os.listdir(os.path.join(mint, "keys")):
        kid = name.split(".")[0]
        alg = kid.split("-")[0]
        if alg != "EdDSA":
            pairs.add((alg, kid))
            kids.add(kid)
    print("global\n    log stderr format raw local0 info\n"
          "defaults\n    mode http\n    timeout connect 5s\n    timeout client 10s\n"
          "    timeout server 10s\n    timeout http-request 5s\n"
          "frontend native\n    bind \"%s\"" % bind)
    print("    http-request set-var(txn.alg) http_auth_bearer,jwt_header_query('$.alg')")

    def keyarg(kid):
        if kid.startswith("HS"):
            var = "txn.k_" + re.sub(r"[^A-Za-z0-9]", "_", kid)
            secret = open(os.path.join(mint, "keys", kid + ".secret")).read()
            print("    http-request set-var(%s) str(%s)" % (var, secret))
            return var
        return '\\"%s\\"' % os.path.join(mint, "keys", kid + ".pub.pem")

    for alg, kid in sorted(pairs):
        if no_pss and alg.startswith("PS"):
            continue
        print('    http-request return status 200 content-type text/plain lf-string '
              '"%%[http_auth_bearer,jwt_verify(%s,%s)]" if { path /native/%s/%s }'
              % (alg, keyarg(kid), alg, kid))
    for kid in sorted(kids):
        if no_pss and kid.startswith("PS"):
            continue
        print('    http-request return status 200 content-type text/plain lf-string '
              '"%%[http_auth_bearer,jwt_verify(txn.alg,%s)]" if { path /unpinned/%s }'
              % (keyarg(kid), kid))
    print('    http-request return status 404 content-type text/plain string "no such rule"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
