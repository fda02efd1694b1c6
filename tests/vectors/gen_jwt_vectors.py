#!/usr/bin/python3
"""Generate tests/vectors/gen_tokens.h: fresh keys and tokens from independent
signers (jwcrypto 1.1 for JWS, pyca/cryptography for hostile variants), used
by tests/unit/test_jwt.c and test_jwks.c. Run once and commit the output:

    /usr/bin/python3 tests/vectors/gen_jwt_vectors.py > tests/vectors/gen_tokens.h

Keys are random on every run; the tests only rely on the relations written
in the comments of the generated header.
"""
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwcrypto import jwk, jws

CLAIMS = {
    "iss": "https://issuer.example",
    "sub": "user-1",
    "aud": ["api", "other"],
    "iat": 1700000000,
    "nbf": 1700000000,
    "exp": 1700003600,
    "jti": "j1",
}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact(key, alg, kid, claims=CLAIMS, extra_hdr=None):
    hdr = {"alg": alg}
    if kid is not None:
        hdr["kid"] = kid
    if extra_hdr:
        hdr.update(extra_hdr)
    s = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    s.add_signature(key, alg=None, protected=json.dumps(hdr, separators=(",", ":")))
    return s.serialize(compact=True)


def signing_input(alg, kid, claims=CLAIMS):
    hdr = {"alg": alg}
    if kid is not None:
        hdr["kid"] = kid
    return (b64u(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
            b64u(json.dumps(claims, separators=(",", ":")).encode()))


def pub(k, kid, alg=None):
    d = json.loads(k.export_public())
    d["kid"] = kid
    if alg:
        d["alg"] = alg
    return d


rsa_k = jwk.JWK.generate(kty="RSA", size=2048)
ec256 = jwk.JWK.generate(kty="EC", crv="P-256")
ec384 = jwk.JWK.generate(kty="EC", crv="P-384")
ec521 = jwk.JWK.generate(kty="EC", crv="P-521")
ed = jwk.JWK.generate(kty="OKP", crv="Ed25519")
secret = bytes(range(64))
oct_k = jwk.JWK(kty="oct", k=b64u(secret))
rsa1024 = jwk.JWK.generate(kty="RSA", size=1024)

keys = [
    pub(rsa_k, "rsa"),                 # no alg: RS* and PS*
    pub(ec256, "ec256", "ES256"),
    pub(ec384, "ec384"),               # no alg, crv only
    pub(ec521, "ec521", "ES512"),
    pub(ed, "ed", "EdDSA"),
    {"kty": "oct", "kid": "hs", "k": b64u(secret)},  # no alg: HS256/384/512
]
jwks_all = json.dumps({"keys": keys}, separators=(",", ":"))

out = {}
for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
    out[alg] = compact(rsa_k, alg, "rsa")
out["ES256"] = compact(ec256, "ES256", "ec256")
out["ES384"] = compact(ec384, "ES384", "ec384")
out["ES512"] = compact(ec521, "ES512", "ec521")
out["EdDSA"] = compact(ed, "EdDSA", "ed")
# RFC 9864 name; jwcrypto 1.1 does not know it, so sign by hand
si = signing_input("Ed25519", "ed")
out["Ed25519"] = si + "." + b64u(ed.get_op_key("sign").sign(si.encode()))
for alg in ("HS256", "HS384", "HS512"):
    out[alg] = compact(oct_k, alg, "hs")

# RS256 without kid: tried against every key; with an unknown kid: 32.
out["RS256_NOKID"] = compact(rsa_k, "RS256", None)
out["RS256_WRONGKID"] = compact(rsa_k, "RS256", "nope")
# ES256 signed by ec256 but naming the kid of the P-384 key: fails (26).
out["ES256_KID_EC384"] = compact(ec256, "ES256", "ec384")
# jku/x5u/jwk headers pointing elsewhere must be ignored; the token is signed
# by an attacker key embedded as "jwk" and named kid "ec256".
atk = jwk.JWK.generate(kty="EC", crv="P-256")
out["ES256_EMBEDDED_JWK"] = compact(atk, "ES256", "ec256", extra_hdr={
    "jwk": json.loads(atk.export_public()),
    "jku": "https://attacker.example/jwks.json",
    "x5u": "https://attacker.example/cert.pem"})
# the same headers on a token really signed by ec256: still fine (ignored)
out["ES256_JKU_OK"] = compact(ec256, "ES256", "ec256", extra_hdr={
    "jku": "https://attacker.example/jwks.json", "x5u": "https://attacker.example/c.pem"})

# Key confusion: HS256 MACed with the RSA key's public PEM, and with its
# JWK "n" bytes; kid "rsa" so only the RSA key is a candidate.
rsa_pub = rsa_k.get_op_key("verify")
pem = rsa_pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
si = signing_input("HS256", "rsa")
out["HS256_RSA_PEM"] = si + "." + b64u(hmac.new(pem, si.encode(), hashlib.sha256).digest())
n_bytes = base64.urlsafe_b64decode(keys[0]["n"] + "==")
out["HS256_RSA_N"] = si + "." + b64u(hmac.new(n_bytes, si.encode(), hashlib.sha256).digest())
# ... and with the EC public point (x||y) under kid ec256
ec_pub = ec256.get_op_key("verify").public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
si = signing_input("HS256", "ec256")
out["HS256_EC_POINT"] = si + "." + b64u(hmac.new(ec_pub, si.encode(), hashlib.sha256).digest())

# ES256 signature in DER form instead of R||S.
si = signing_input("ES256", "ec256")
der = ec256.get_op_key("sign").sign(si.encode(), ec.ECDSA(hashes.SHA256()))
out["ES256_DER"] = si + "." + b64u(der)

# PS256 with the maximum salt length instead of 32: RFC 7518 wants 32.
si = signing_input("PS256", "rsa")
sig = rsa_k.get_op_key("sign").sign(si.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                               salt_length=padding.PSS.MAX_LENGTH),
                                      hashes.SHA256())
out["PS256_MAXSALT"] = si + "." + b64u(sig)
# PS256 with MGF1-SHA1: wrong MGF hash
sig = rsa_k.get_op_key("sign").sign(si.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32),
                                      hashes.SHA256())
out["PS256_MGF1SHA1"] = si + "." + b64u(sig)

# RS256 by a 1024-bit key, and its JWKS (skipped: < 2048 bits).
out["RS256_1024"] = compact(rsa1024, "RS256", "small")
jwks_1024 = json.dumps({"keys": [pub(rsa1024, "small")]}, separators=(",", ":"))

# HS256 with a 16-byte key, and its JWKS (skipped: shorter than SHA-256).
short = bytes(range(16))
out["HS256_SHORTKEY"] = compact(jwk.JWK(kty="oct", k=b64u(short)), "HS256", "short")
jwks_short = json.dumps({"keys": [{"kty": "oct", "kid": "short", "k": b64u(short)}]})


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


print("/* Generated by tests/vectors/gen_jwt_vectors.py (jwcrypto + pyca/cryptography). Do not edit. */")
print("#ifndef GEN_TOKENS_H\n#define GEN_TOKENS_H\n")
print("/* claims of every token: %s */" % json.dumps(CLAIMS))
print("#define GEN_IAT 1700000000u\n#define GEN_NBF 1700000000u\n#define GEN_EXP 1700003600u\n")
print("static const char gen_jwks[] =\n\t%s;" % cstr(jwks_all))
print("static const char gen_jwks_1024[] =\n\t%s;" % cstr(jwks_1024))
print("static const char gen_jwks_short_oct[] =\n\t%s;" % cstr(jwks_short))
print("static const char gen_hs_secret_b64[] = %s;\n" % cstr(b64u(secret)))
print("static const struct {\n\tconst char *name;\n\tconst char *token;\n} gen_tokens[] = {")
for k, v in out.items():
    print("\t{ %s,\n\t  %s }," % (cstr(k), cstr(v)))
print("};\n\n#endif")
