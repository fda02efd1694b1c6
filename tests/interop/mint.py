#!/usr/bin/python3
"""Fresh keys, a JWKS and a catalogue of good and hostile tokens, minted by two independent
JOSE libraries (Debian python3-jwcrypto and python3-jwt / PyJWT), for the interop tests
(tests/integ/70-interop.sh, 71-native-jwt-verify.sh).

    /usr/bin/python3 tests/interop/mint.py OUTDIR [--iss ISS] [--aud AUD] [--now EPOCH]

Nothing is reused between runs: every key is generated here, every token signed here.

OUTDIR/
  jwks.json            public keys of every signing key below (oct keys for HS*), one per
                       (alg, library), kid "<alg>-<lib>" ("EdDSA-jwcrypto", "HS256-pyjwt", ...).
                       jwcrypto keys carry "alg" and "use": "sig"; PyJWT keys are exported with
                       PyJWT's own to_jwk() and carry neither (kid-only selection).
  keys/<kid>.pub.pem   public key (RS*, PS*, ES*, EdDSA), SubjectPublicKeyInfo PEM
  keys/<kid>.secret    HMAC secret (HS*): printable ASCII, so HAProxy's jwt_verify can take it
  catalogue.json       [{name, token, status, message, native}], see below
  catalogue.tsv        the same, one line per token: name TAB status TAB message TAB native_alg
                       TAB native_kid TAB native_expect TAB token (native_* "-" when n/a)

Expectations: status is the HTTP status of the reference gateway (HAProxy + spoa-jwt with one
provider: issuer ISS, audiences [AUD], remote JWKS = jwks.json, clock skew 60 s), message the
exact body (jwt_verify_lib status string; "" for 200). They were decided by reading
agent/jwt.c, agent/jwks.c and agent/verify.c against jwt_verify_lib (../shared/notes/jwt.md
§2); the "why" of each is in the catalogue entry's "why". native is what HAProxy's own
jwt_verify(<alg>, <pem or secret of kid>) returns (1 = verified, 0 = not), or null where it
does not apply (EdDSA, which it lacks; tokens refused by HAProxy before any check).
"""

import argparse
import base64
import hmac
import json
import os
import secrets
import sys
import time

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from jwcrypto import jwk, jws
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

RS = ["RS256", "RS384", "RS512"]
PS = ["PS256", "PS384", "PS512"]
ES = ["ES256", "ES384", "ES512"]
HS = ["HS256", "HS384", "HS512"]
ALGS = RS + PS + ES + ["EdDSA"] + HS
CURVE = {"ES256": ("P-256", ec.SECP256R1, 32), "ES384": ("P-384", ec.SECP384R1, 48),
         "ES512": ("P-521", ec.SECP521R1, 66)}
HS_LEN = {"HS256": 32, "HS384": 48, "HS512": 64}
LIBS = ["jwcrypto", "pyjwt"]

# jwt_verify_lib messages (status.c), byte for byte
M = {
    "missing": "Jwt is missing",
    "nyv": "Jwt not yet valid",
    "expired": "Jwt is expired",
    "format": "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    "hdr_b64": "Jwt header is an invalid Base64url encoded",
    "hdr_json": "Jwt header is an invalid JSON",
    "alg": "Jwt header [alg] field is required and must be a string",
    "alg_ni": "Jwt header [alg] is not supported",
    "kid": "Jwt header [kid] field is not a string",
    "pl_b64": "Jwt payload is an invalid Base64url encoded",
    "pl_json": "Jwt payload is an invalid JSON",
    "iss_type": "Jwt payload [iss] field is not a string",
    "exp_type": "Jwt payload [exp] field is not an integer",
    "exp_range": "Jwt payload [exp] field is not a positive 64 bit integer",
    "aud_type": "Jwt payload [aud] field is not a string or string list",
    "sig_b64": "Jwt signature is an invalid Base64url encoded",
    "ed_len": "Jwt ED25519 signature is wrong length",
    "issuer": "Jwt issuer is not configured",
    "aud": "Audiences in Jwt are not allowed",
    "fail": "Jwt verification fails",
    "kidalg": "Jwks doesn't have key to match kid or alg from Jwt",
}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Key:
    """One signing key: alg, lib, kid, private key object for signing, public JWK."""

    def __init__(self, alg, lib):
        self.alg, self.lib, self.kid = alg, lib, "%s-%s" % (alg, lib)
        if lib == "jwcrypto":
            self._gen_jwcrypto()
        else:
            self._gen_pyjwt()

    def _gen_jwcrypto(self):
        a = self.alg
        if a in HS:
            secret = secrets.token_urlsafe(HS_LEN[a] + 16)[:HS_LEN[a] + 16].encode()
            self.jwk = jwk.JWK(kty="oct", k=b64(secret))
            self.secret = secret
        elif a in ES:
            self.jwk = jwk.JWK.generate(kty="EC", crv=CURVE[a][0])
        elif a == "EdDSA":
            self.jwk = jwk.JWK.generate(kty="OKP", crv="Ed25519")
        else:
            self.jwk = jwk.JWK.generate(kty="RSA", size=2048)
        pub = json.loads(self.jwk.export() if a in HS else self.jwk.export_public())
        pub.update({"kid": self.kid, "alg": a, "use": "sig"})
        self.pub = pub
        if a not in HS:
            self.pem = self.jwk.export_to_pem(private_key=False)
            self.crypto = self.jwk.get_op_key("sign")  # cryptography private key

    def _gen_pyjwt(self):
        a = self.alg
        if a in HS:
            self.secret = secrets.token_urlsafe(HS_LEN[a] + 16)[:HS_LEN[a] + 16].encode()
            pub = json.loads(HMACAlgorithm.to_jwk(self.secret))
        elif a in ES:
            # PyJWT 2.6 to_jwk() writes x and y in minimal length (RFC 7518 §6.2.1.2 wants the
            # full coordinate size); draw keys until both are full size, the short case has its
            # own catalogue entry ("pyjwt-short-ec-coordinates").
            for _ in range(200):
                k = ec.generate_private_key(CURVE[a][1]())
                pub = json.loads(ECAlgorithm.to_jwk(k.public_key()))
                if len(unb64(pub["x"])) == CURVE[a][2] and len(unb64(pub["y"])) == CURVE[a][2]:
                    break
            self.crypto = k
        elif a == "EdDSA":
            self.crypto = ed25519.Ed25519PrivateKey.generate()
            pub = json.loads(OKPAlgorithm.to_jwk(self.crypto.public_key()))
        else:
            self.crypto = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = json.loads(RSAAlgorithm.to_jwk(self.crypto.public_key()))
        pub["kid"] = self.kid
        self.pub = pub
        if a not in HS:
            self.pem = self.crypto.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims, header=None, alg=None):
        """A compact JWS of <claims> by this key's own library."""
        alg = alg or self.alg
        h = {"alg": alg, "kid": self.kid, "typ": "JWT"}
        if header is not None:
            h = header
        if self.lib == "jwcrypto":
            t = jws.JWS(js(claims))
            t.add_signature(self.jwk, alg=None, protected=json.dumps(h))
            return t.serialize(compact=True)
        extra = {k: v for k, v in h.items() if k != "alg"}
        key = self.secret if alg in HS else self.crypto
        tok = pyjwt.encode(claims, key, algorithm=alg, headers=extra)
        return tok if isinstance(tok, str) else tok.decode()


def raw_sign(key, alg, signing_input):
    """Signature bytes of <signing_input> (bytes) by <key> (cryptography / secret)."""
    if alg in HS:
        # plain hmac: PyJWT refuses PEM-looking secrets (its CVE-2022-29217 fix), which the
        # key-confusion tokens need
        return hmac.new(key.secret, signing_input, "sha" + alg[2:]).digest()
    return pyjwt.get_algorithm_by_name(alg).sign(signing_input, key.crypto)


def compact(header, claims, sign_with=None, alg=None, sig=None):
    """Hand-made token: header and claims as given (dict or raw bytes)."""
    h = header if isinstance(header, bytes) else js(header)
    p = claims if isinstance(claims, bytes) else js(claims)
    si = (b64(h) + "." + b64(p)).encode()
    if sig is None:
        sig = raw_sign(sign_with, alg or sign_with.alg, si)
    return si.decode() + "." + b64(sig)


def flip_in_json(part_b64, needle):
    """Flips the low bit of the last byte of <needle> inside the decoded part; re-encodes."""
    raw = bytearray(unb64(part_b64))
    i = bytes(raw).find(needle)
    if i < 0:
        raise SystemExit("flip_in_json: %r not found" % needle)
    raw[i + len(needle) - 1] ^= 0x01
    return b64(bytes(raw))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--iss", default="https://interop.spoa-jwt.test")
    ap.add_argument("--aud", default="llm-gateway")
    ap.add_argument("--now", type=int, default=int(time.time()))
    a = ap.parse_args()
    os.makedirs(os.path.join(a.outdir, "keys"), exist_ok=True)
    now = a.now

    keys = {}
    for alg in ALGS:
        for lib in LIBS:
            k = Key(alg, lib)
            keys[k.kid] = k
    # the short-coordinate PyJWT P-521 key (see Key._gen_pyjwt)
    for _ in range(200):
        ck = ec.generate_private_key(ec.SECP521R1())
        cpub = json.loads(ECAlgorithm.to_jwk(ck.public_key()))
        if len(unb64(cpub["x"])) < 66:
            break
    cpub["kid"] = "ES512-pyjwt-short"
    attacker = jwk.JWK.generate(kty="RSA", size=2048)
    attacker_pub = json.loads(attacker.export_public())
    attacker_pub["kid"] = "attacker"

    jwks_keys = [k.pub for k in keys.values()] + [cpub]
    with open(os.path.join(a.outdir, "jwks.json"), "w") as f:
        json.dump({"keys": jwks_keys}, f, indent=1)
        f.write("\n")
    for k in keys.values():
        if k.alg in HS:
            path, data = os.path.join(a.outdir, "keys", k.kid + ".secret"), k.secret
        else:
            path, data = os.path.join(a.outdir, "keys", k.kid + ".pub.pem"), k.pem
        with open(path, "wb") as f:
            f.write(data)

    def claims(sub, **kw):
        c = {"iss": a.iss, "sub": sub, "aud": a.aud, "iat": now, "exp": now + 3600}
        c.update(kw)
        return {k: v for k, v in c.items() if v is not None}

    cat = []

    def add(name, token, status, message, why, native_kid=None, native_alg=None, native=None,
            unpinned=None):
        """native: 1 if HAProxy's jwt_verify(native_alg, key of native_kid) accepts the token,
        0 if it returns anything else; unpinned: the same with the alg taken from the token."""
        if native_kid and keys[native_kid].alg == "EdDSA":
            native_kid = None
        if native_kid and native_alg is None:
            native_alg = keys[native_kid].alg
        cat.append({"name": name, "token": token, "status": status, "message": message,
                    "why": why,
                    "native": None if not native_kid or native is None else
                    dict({"alg": native_alg, "kid": native_kid, "expect": native},
                         **({} if unpinned is None else {"unpinned": unpinned}))})

    # ---- good: every alg, both libraries, with kid; and without kid (PyJWT) ----
    for kid, k in keys.items():
        add("good/%s" % kid, k.sign(claims("user-" + kid)), 200, "",
            "signed by %s with its own key" % k.lib, kid, native=1)
    for alg in ALGS:
        k = keys["%s-pyjwt" % alg]
        add("good-nokid/%s" % alg, k.sign(claims("nokid-" + alg), header={"alg": alg, "typ": "JWT"}),
            200, "", "no kid: every key whose alg is absent or equal is tried (jwt_verify_lib)",
            k.kid, native=1)
    k = keys["EdDSA-jwcrypto"]
    add("good/Ed25519-alias", compact({"alg": "Ed25519", "kid": k.kid, "typ": "JWT"},
                                      claims("ed25519-alias"), k, "EdDSA"),
        200, "", "RFC 9864 alg name Ed25519 = EdDSA over Ed25519 (accepted beyond jwt_verify_lib)")

    # ---- one flipped bit in each part, every alg and library ----
    for kid, k in keys.items():
        h, p, s = k.sign(claims("flip-" + kid)).split(".")
        sig = bytearray(unb64(s))
        sig[len(sig) // 2] ^= 0x01
        for part, tok in (("header", ".".join((flip_in_json(h, b'"JWT'), p, s))),
                          ("payload", ".".join((h, flip_in_json(p, b'"flip-' + kid.encode()), s))),
                          ("signature", ".".join((h, p, b64(bytes(sig)))))):
            add("flip-%s/%s" % (part, kid), tok, 401, M["fail"],
                "one bit of the %s changed (typ JWT->JWU, last char of sub, middle of the "
                "signature): still well-formed, signature fails" % part, kid, native=0)

    # ---- hostile catalogue ----
    rs = keys["RS256-jwcrypto"]
    rs_nalg = keys["RS256-pyjwt"]       # no "alg" in its JWK
    good_claims = claims("hostile")

    # alg none and its spellings
    add("alg-none/empty-signature",
        b64(js({"alg": "none", "typ": "JWT"})) + "." + b64(js(good_claims)) + ".", 401, M["format"],
        "unsecured JWS 'h.p.' has an empty third part: format error (JVL: parts skip empties -> 2)",
        rs.kid, native=0, unpinned=1)
    for spelling in ("none", "None", "nOnE", "NONE"):
        add("alg-none/%s" % spelling,
            compact({"alg": spelling, "typ": "JWT"}, good_claims, sig=b"\x00" * 32), 401,
            M["alg_ni"], "alg %s is not in the allowlist (any case)" % spelling, rs.kid, "RS256", native=0)
    add("alg-none/kid-of-rs256", compact({"alg": "none", "kid": rs.kid}, good_claims,
                                         sig=raw_sign(rs, "RS256", b"x")),
        401, M["alg_ni"], "alg none with a real kid and a real-looking signature", rs.kid, "RS256", native=0)
    add("alg-none/real-rs256-signature", compact({"alg": "none", "kid": rs.kid}, good_claims, rs, "RS256"),
        401, M["alg_ni"], "header says none, signature is a valid RS256 one: the header decides "
        "(native jwt_verify never reads the header)", rs.kid, "RS256", native=1)
    add("alg/missing", compact({"typ": "JWT", "kid": rs.kid}, good_claims, rs, "RS256"), 401,
        M["alg"], "no alg member", rs.kid, "RS256", native=1)
    add("alg/not-a-string", compact({"alg": 256, "kid": rs.kid}, good_claims, rs, "RS256"), 401,
        M["alg"], "alg is a number", rs.kid, "RS256", native=1)
    add("alg/ES256K", compact({"alg": "ES256K", "kid": "x"}, good_claims, sig=b"\x01" * 64), 401,
        M["alg_ni"], "secp256k1 is not implemented (JVL neither)")

    # HS256 MACed with the RSA public key's bytes (key confusion)
    pem = rs.pem

    class Fake:
        pass

    def hs_with(secret, kid):
        f = Fake()
        f.secret, f.alg = secret, "HS256"
        hdr = {"alg": "HS256", "typ": "JWT"}
        if kid:
            hdr["kid"] = kid
        return compact(hdr, good_claims, f)

    add("confusion/hs256-rsa-pem/kid-of-alg-bound-key", hs_with(pem, rs.kid), 401, M["kidalg"],
        "the kid's key is bound to RS256 (JWK alg): no key matches kid+alg", rs.kid, "RS256", native=0)
    add("confusion/hs256-rsa-pem/kid-of-alg-free-key", hs_with(rs_nalg.pem, rs_nalg.kid), 401,
        M["fail"], "kid matches an RSA key without alg: tried, an RSA key never verifies HS256",
        rs_nalg.kid, "RS256", native=0)
    add("confusion/hs256-rsa-pem/no-kid", hs_with(rs_nalg.pem, None), 401, M["fail"],
        "no kid: every HS256/alg-less key is tried, none verifies", rs_nalg.kid, "RS256", native=0)
    add("confusion/hs256-rsa-jwk-bytes", hs_with(json.dumps(rs_nalg.pub).encode(), rs_nalg.kid), 401,
        M["fail"], "MAC keyed with the public JWK's JSON text", rs_nalg.kid, "RS256", native=0)
    esk = keys["ES256-pyjwt"]
    add("confusion/hs256-ec-pem", hs_with(esk.pem, esk.kid), 401, M["fail"],
        "MAC keyed with the EC public key PEM", esk.kid, "ES256", native=0)

    # ECDSA psychic signatures and lengths
    for alg in ES:
        k = keys["%s-pyjwt" % alg]
        n = CURVE[alg][2]
        hdr = {"alg": alg, "kid": k.kid, "typ": "JWT"}
        add("ecdsa/r=s=0/%s" % alg, compact(hdr, good_claims, sig=b"\x00" * (2 * n)), 401, M["fail"],
            "r = s = 0 (CVE-2022-21449)", k.kid, native=0)
        good = k.sign(claims("ecdsa-" + alg), header=hdr)
        h, p, s = good.split(".")
        rs_ = unb64(s)
        der = utils.encode_dss_signature(int.from_bytes(rs_[:n], "big"), int.from_bytes(rs_[n:], "big"))
        add("ecdsa/der-signature/%s" % alg, ".".join((h, p, b64(der))), 401, M["fail"],
            "the same signature DER-encoded instead of JOSE r||s", k.kid, native=0)
        add("ecdsa/truncated/%s" % alg, ".".join((h, p, b64(rs_[:-1]))), 401, M["fail"],
            "r||s one byte short", k.kid, native=0)
        add("ecdsa/zero-appended/%s" % alg, ".".join((h, p, b64(rs_ + b"\x00"))), 401, M["fail"],
            "r||s with a trailing zero byte", k.kid, native=0)
        add("ecdsa/zero-prefixed-halves/%s" % alg,
            ".".join((h, p, b64(b"\x00" + rs_[:n] + b"\x00" + rs_[n:]))), 401, M["fail"],
            "r and s each one byte longer with a leading zero (same integers): a second "
            "spelling of a valid signature (native jwt_verify splits at len/2 and accepts)",
            k.kid, native=1)
    k = keys["ES256-pyjwt"]
    hdr = {"alg": "ES384", "kid": k.kid, "typ": "JWT"}
    add("ecdsa/p256-key-labelled-ES384", compact(hdr, good_claims, sig=b"\x01" * 96), 401, M["fail"],
        "ES384 token for a P-256 key without alg: key/curve mismatch")

    # other wrong lengths
    for kid in ("RS256-pyjwt", "PS256-pyjwt", "HS256-pyjwt"):
        k = keys[kid]
        h, p, s = k.sign(claims("len-" + kid)).split(".")
        raw = unb64(s)
        add("length/truncated/%s" % kid, ".".join((h, p, b64(raw[:-1]))), 401, M["fail"],
            "signature one byte short", kid, native=0)
        add("length/extended/%s" % kid, ".".join((h, p, b64(raw + b"\x00"))), 401, M["fail"],
            "signature with one extra byte", kid, native=0)
    for kid in ("EdDSA-jwcrypto", "EdDSA-pyjwt"):
        k = keys[kid]
        h, p, s = k.sign(claims("len-" + kid)).split(".")
        raw = unb64(s)
        add("length/truncated/%s" % kid, ".".join((h, p, b64(raw[:-1]))), 401, M["ed_len"],
            "Ed25519 signature of 63 bytes (JVL status 23)")
        add("length/extended/%s" % kid, ".".join((h, p, b64(raw + b"\x00"))), 401, M["ed_len"],
            "Ed25519 signature of 65 bytes")

    # kid injection: real RS256 key signs, kid is a path / SQL / empty-key bait
    for label, kid in (("path", "../../../../../../etc/passwd"), ("sql", "x' UNION SELECT 'k'--"),
                       ("devnull", "/dev/null"), ("nul-free-long", "k" * 200)):
        add("kid-injection/%s" % label, compact({"alg": "RS256", "kid": kid, "typ": "JWT"}, good_claims, rs),
            401, M["kidalg"], "kid is an opaque map key: not in the JWKS (one rate-limited refetch)",
            rs.kid, native=1)
    f = Fake()
    f.secret, f.alg = b"", "HS256"
    add("kid-injection/devnull-empty-hmac",
        compact({"alg": "HS256", "kid": "../../../../dev/null"}, good_claims,
                sig=raw_sign(type("S", (), {"secret": b"\x00", "alg": "HS256"})(), "HS256",
                             b"x")), 401, M["kidalg"], "HS256 MAC with an empty/NUL key, kid /dev/null")
    add("kid/not-a-string", compact({"alg": "RS256", "kid": 7}, good_claims, rs), 401, M["kid"],
        "kid is a number", rs.kid, native=1)

    # jku / x5u / jwk / x5c headers naming attacker keys: never used
    akey = Fake()
    akey.crypto, akey.alg = attacker.get_op_key("sign"), "RS256"
    for label, extra in (("jwk", {"jwk": attacker_pub}),
                         ("jku", {"jku": "http://127.0.0.1:9/attacker-jwks.json"}),
                         ("x5u", {"x5u": "http://127.0.0.1:9/attacker.pem"}),
                         ("x5c", {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]})):
        hdr = {"alg": "RS256", "kid": rs.kid, "typ": "JWT"}
        hdr.update(extra)
        add("embedded-key/%s/real-kid" % label, compact(hdr, good_claims, akey), 401, M["fail"],
            "signed by the attacker's key, %s names it, kid is the real key's: verified with the "
            "real key only" % label, rs.kid, native=0)
        hdr = {"alg": "RS256", "kid": "attacker"}
        hdr.update(extra)
        add("embedded-key/%s/attacker-kid" % label, compact(hdr, good_claims, akey), 401, M["kidalg"],
            "attacker kid, not in the JWKS", rs.kid, native=0)

    # duplicate members, claim types
    base = js(good_claims)[:-1]
    add("duplicate/sub", compact({"alg": "RS256", "kid": rs.kid}, base + b',"sub":"admin"}', rs), 401,
        M["pl_json"], "duplicate member names are refused (stricter than JVL, which keeps one)",
        rs.kid, native=1)
    add("duplicate/exp", compact({"alg": "RS256", "kid": rs.kid},
                                 base + b',"exp":%d}' % (now + 10 * 365 * 86400), rs), 401,
        M["pl_json"], "two exp: which one counts? refused", rs.kid, native=1)
    add("duplicate/alg-in-header", compact(b'{"alg":"RS256","kid":"%s","alg":"none"}' % rs.kid.encode(),
                                           good_claims, rs, "RS256"), 401, M["hdr_json"],
        "two alg members in the header", rs.kid, "RS256", native=1)
    add("claims/exp-string", compact({"alg": "RS256", "kid": rs.kid}, claims("x", exp=str(now + 3600)), rs),
        401, M["exp_type"], "exp as a JSON string", rs.kid, native=1)
    add("claims/exp-negative", compact({"alg": "RS256", "kid": rs.kid}, claims("x", exp=-1), rs), 401,
        M["exp_range"], "exp = -1", rs.kid, native=1)
    add("claims/iss-number", compact({"alg": "RS256", "kid": rs.kid}, claims("x", iss=42), rs), 401,
        M["iss_type"], "iss is a number", rs.kid, native=1)
    add("claims/aud-number", compact({"alg": "RS256", "kid": rs.kid}, claims("x", aud=[1, 2]), rs), 401,
        M["aud_type"], "aud is a list of numbers", rs.kid, native=1)
    add("claims/payload-not-object", compact({"alg": "RS256", "kid": rs.kid}, b'["a"]', rs), 401,
        M["pl_json"], "payload is a JSON array", rs.kid, native=1)

    # shapes
    good = rs.sign(claims("shape"))
    h, p, s = good.split(".")
    add("shape/jwe-5-parts", ".".join((b64(js({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": rs.kid})),
                                       b64(b"k" * 256), b64(b"i" * 12), b64(b"c" * 40), b64(b"t" * 16))),
        401, M["format"], "JWE compact serialisation (5 parts) is never accepted", rs.kid, native=0)
    add("shape/trailing-dot", good + ".", 401, M["format"],
        "h.p.s. (JVL skips the empty part and would accept: Wycheproof tc 14)", rs.kid, native=None)
    add("shape/two-parts", h + "." + p, 401, M["format"], "no signature part", rs.kid, native=None)
    # (a character outside [A-Za-z0-9-_.] would end the token at the extractor, as in Envoy,
    # so bad base64 is spelt with token characters: an impossible length, or unused bits set)
    def bad_len(part):
        return part + "A" * ((1 - len(part)) % 4)
    add("shape/header-bad-base64", bad_len(h) + "." + p + "." + s, 401, M["hdr_b64"],
        "header of 4k+1 base64url characters", rs.kid, native=None)
    add("shape/payload-bad-base64", h + "." + bad_len(p) + "." + s, 401, M["pl_b64"],
        "payload of 4k+1 base64url characters", rs.kid, native=None)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(s) % 4 == 2  # 256-byte RSA signature: the last character has 4 unused bits
    add("shape/signature-unused-bits", h + "." + p + "." + s[:-1] + alphabet[alphabet.index(s[-1]) ^ 1],
        401, M["sig_b64"], "same signature bytes, non-zero unused bits in the last character "
        "(strict base64url: one token, one spelling)", rs.kid, native=None)
    add("shape/signature-padded", good + "==", 200, "",
        "'=' is not a token character: the extractor ends the token before it (Envoy's rule)",
        rs.kid, native=None)
    add("shape/header-not-json", b64(b"not json") + "." + p + "." + s, 401, M["hdr_json"],
        "header is not JSON", rs.kid, native=None)
    add("shape/crit", compact({"alg": "RS256", "kid": rs.kid, "crit": ["exp"], "exp": 1}, good_claims, rs),
        401, M["fail"], "crit names an extension we do not understand (RFC 7515 §4.1.11)",
        rs.kid, native=1)
    # over --max-token-size (8192) but under HAProxy's buffer: refused by the agent
    add("size/9kb", rs.sign(claims("big", pad="x" * 6800)), 401, M["format"],
        "longer than --max-token-size 8192", rs.kid, native=1)
    # 100 KB: cannot cross HAProxy's 16 KB request buffer; the test expects HAProxy's own refusal
    add("size/100kb", rs.sign(claims("huge", pad="y" * 75000)), 0, "",
        "100 KB header: HAProxy refuses the request (400/431) before the agent sees it")

    # claims checks in Envoy's order
    add("time/expired", rs.sign(claims("old", iat=now - 7200, exp=now - 3600)), 401, M["expired"],
        "exp one hour ago (skew 60 s)", rs.kid, native=1)
    t = int(time.time())
    add("time/expired-within-skew", rs.sign(claims("skew", iat=t - 600, exp=t - 2)), 200, "",
        "exp passed (2 s before minting) but inside the 60 s clock skew", rs.kid, native=1)
    add("time/nbf-future", rs.sign(claims("early", nbf=now + 3600)), 401, M["nyv"],
        "nbf in one hour", rs.kid, native=1)
    add("iss/wrong", rs.sign(claims("x", iss="https://evil.example")), 401, M["issuer"],
        "iss of another issuer", rs.kid, native=1)
    add("iss/missing", rs.sign(claims("x", iss=None)), 401, M["issuer"],
        "no iss while the provider has an issuer", rs.kid, native=1)
    add("aud/wrong", rs.sign(claims("x", aud="another-service")), 403, M["aud"],
        "aud of another service: 403", rs.kid, native=1)
    add("aud/list-with-ours", rs.sign(claims("aud-list", aud=["other", "https://" + a.aud + "/"])), 200,
        "", "aud list, ours with https:// and trailing / (JVL normalisation)", rs.kid, native=1)
    add("order/expired-and-bad-signature",
        ".".join(rs.sign(claims("o", iat=now - 7200, exp=now - 3600)).split(".")[:2]) + "." + s, 401,
        M["expired"], "time is checked before the signature (Envoy order)", rs.kid, native=0)
    add("order/wrong-iss-and-expired", rs.sign(claims("o", iss="https://evil.example", exp=now - 3600)),
        401, M["issuer"], "issuer is checked before time", rs.kid, native=1)
    add("order/wrong-aud-and-bad-signature",
        ".".join(rs.sign(claims("o", aud="another")).split(".")[:2]) + "." + s, 403, M["aud"],
        "audience is checked before the signature", rs.kid, native=0)

    # keys
    add("key/unknown-kid", rs.sign(claims("x"), header={"alg": "RS256", "kid": "no-such-kid"}), 401,
        M["kidalg"], "kid not in the JWKS", rs.kid, native=1)
    add("key/alg-bound-key-other-alg", compact({"alg": "PS256", "kid": rs.kid}, good_claims,
                                               type("K", (), {"crypto": rs.crypto, "alg": "PS256"})()),
        401, M["kidalg"], "RS256-bound key used for PS256 (alg switching)", rs.kid, "PS256", native=1)
    add("key/alg-free-key-other-alg", compact({"alg": "RS384", "kid": rs_nalg.kid}, good_claims,
                                              type("K", (), {"crypto": rs_nalg.crypto, "alg": "RS384"})()),
        200, "", "a JWK without alg is usable with any RSA alg (JVL; RFC 7517 alg is optional)",
        rs_nalg.kid, "RS384", native=1)
    ck_obj = type("K", (), {"crypto": ck, "alg": "ES512"})()
    add("key/pyjwt-short-ec-coordinates",
        compact({"alg": "ES512", "kid": "ES512-pyjwt-short", "typ": "JWT"}, good_claims, ck_obj), 200,
        "",
        "PyJWT 2.6 to_jwk() wrote x or y shorter than 66 bytes (RFC 7518 §6.2.1.2 wants the full "
        "length); the agent left-pads short coordinates, as jwt_verify_lib accepts them")

    with open(os.path.join(a.outdir, "catalogue.json"), "w") as f:
        json.dump(cat, f, indent=1)
    with open(os.path.join(a.outdir, "catalogue.tsv"), "w") as f:
        for c in cat:
            n = c["native"] or {}
            f.write("\t".join((c["name"], str(c["status"]), c["message"] or "-", n.get("alg", "-"),
                               n.get("kid", "-"), str(n.get("expect", "-")),
                               str(n.get("unpinned", "-")), c["token"])) + "\n")
    print("%d keys, %d catalogue entries" % (len(jwks_keys), len(cat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
