/*
 * JWS compact parsing and signature checks with OpenSSL 3 EVP.
 *
 * Parse order and statuses follow jwt_verify_lib src/jwt.cc
 * (../shared/notes/jwt.md §2.3), so a given bad token reports what Envoy
 * jwt_authn would report. Where we are stricter than it, the place that
 * decides says so:
 *   - exactly two dots and three non-empty segments (JVL skips empty parts,
 *     so "h.p.s." and ".h.p.s" verify there: Wycheproof tc 14);
 *   - strict base64url (b64.c): no padding, no stray characters, zero
 *     unused bits, so one token has one spelling;
 *   - duplicate JSON member names rejected (parser differentials: which "alg"
 *     or "exp" counts?), nesting depth bounded, NUL and bad UTF-8 refused
 *     (jansson defaults);
 *   - "crit" and "b64" headers refused (see jwt_parse);
 *   - ECDSA signatures exactly 2 x coordinate bytes; HMAC keys at least the
 *     hash size; key type bound to the alg family; key "alg" enforced in
 *     the primitive too.
 * Accepted beyond JVL: "Ed25519" as the RFC 9864 name of EdDSA/Ed25519.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"

/* Deeper JSON than this in a header or payload is refused before jansson
 * sees it: jansson recurses once per level (up to its own 2048) while
 * parsing and freeing, and no JWT needs more. */
#define JWT_MAX_JSON_DEPTH 32

enum jws_family { FAM_NONE, FAM_RS, FAM_PS, FAM_ES, FAM_HS, FAM_ED };

static const struct {
	const char *name;
	enum jws_family fam;
	int hash_bits; /* SHA-2 size; 0 for EdDSA */
	int ec_bits;   /* curve of ES* (P-521 for ES512) */
} jws_algs[JWS_ALG_COUNT] = {
    [JWS_ALG_NONE] = {"none", FAM_NONE, 0, 0}, [JWS_RS256] = {"RS256", FAM_RS, 256, 0},
    [JWS_RS384] = {"RS384", FAM_RS, 384, 0},   [JWS_RS512] = {"RS512", FAM_RS, 512, 0},
    [JWS_PS256] = {"PS256", FAM_PS, 256, 0},   [JWS_PS384] = {"PS384", FAM_PS, 384, 0},
    [JWS_PS512] = {"PS512", FAM_PS, 512, 0},   [JWS_ES256] = {"ES256", FAM_ES, 256, 256},
    [JWS_ES384] = {"ES384", FAM_ES, 384, 384}, [JWS_ES512] = {"ES512", FAM_ES, 512, 521},
    [JWS_HS256] = {"HS256", FAM_HS, 256, 0},   [JWS_HS384] = {"HS384", FAM_HS, 384, 0},
    [JWS_HS512] = {"HS512", FAM_HS, 512, 0},   [JWS_EDDSA] = {"EdDSA", FAM_ED, 0, 0},
};

enum jws_alg jws_alg_from_name(const char *name)
{
	int i;

	if (!name)
		return JWS_ALG_NONE;
	/* Case-sensitive as in JVL isImplemented(): "none", "None", "NONE",
	 * "rs256" all fall through to JWS_ALG_NONE (status 8). */
	for (i = JWS_ALG_NONE + 1; i < JWS_ALG_COUNT; i++)
		if (strcmp(name, jws_algs[i].name) == 0)
			return (enum jws_alg)i;
	/* RFC 9864 §2.2: fully-specified name for EdDSA over Ed25519, the only
	 * curve we (and JVL) support, so it is an exact alias. */
	if (strcmp(name, "Ed25519") == 0)
		return JWS_EDDSA;
	return JWS_ALG_NONE;
}

const char *jws_alg_name(enum jws_alg alg)
{
	if ((unsigned)alg >= JWS_ALG_COUNT)
		return "none";
	return jws_algs[alg].name;
}

/* OpenSSL 3 looks a legacy EVP_sha256() up by name in its provider tables
 * on every use; digests fetched once skip that (about 8% of an RS256
 * verification, tests/bench). Read-only after the first call. */
static EVP_MD *fetched_md[3];
static pthread_once_t fetched_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
	fetched_md[0] = EVP_MD_fetch(NULL, "SHA256", NULL);
	fetched_md[1] = EVP_MD_fetch(NULL, "SHA384", NULL);
	fetched_md[2] = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static const EVP_MD *jws_md(enum jws_alg alg)
{
	int i;

	switch (jws_algs[alg].hash_bits) {
	case 256:
		i = 0;
		break;
	case 384:
		i = 1;
		break;
	case 512:
		i = 2;
		break;
	default:
		return NULL;
	}
	if (pthread_once(&fetched_once, fetch_mds) != 0 || !fetched_md[i])
		return i == 0 ? EVP_sha256() : i == 1 ? EVP_sha384() : EVP_sha512();
	return fetched_md[i];
}

/* Nesting depth of the JSON text <buf> (brackets outside strings), stopping
 * as soon as it passes <max>. Malformed text is jansson's business; this
 * only has to be right for text jansson would accept. */
bool json_depth_ok(const void *text, size_t len, int max)
{
	const uint8_t *buf = text;
	bool in_str = false, esc = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* A JSON object from <buf>, or NULL. Duplicate member names are refused
 * (RFC 7515 §4 allows "reject"; accepting lets two parsers disagree on which
 * "alg" or "exp" counts). Integers that do not fit jansson's json_int_t
 * (e.g. "exp": 1e20 spelt out) are re-read as reals so that they reach the
 * range check (status 15/17/19) as in JVL, where every number is a double,
 * instead of failing as bad JSON. */
static json_t *jwt_json_object(const uint8_t *buf, size_t len)
{
	json_error_t err;
	json_t *j;

	if (!json_depth_ok(buf, len, JWT_MAX_JSON_DEPTH))
		return NULL;
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!j && json_error_code(&err) == json_error_numeric_overflow)
		j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
		               &err);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* JVL StructUtils::GetUInt64: 0 absent or valid (*out set), 1 not a number
 * (strings and null included), 2 negative or >= 2^64. Fractions truncate
 * (RFC 7519 NumericDate may be non-integer; JVL TestParsePayloadIatDecimalsDrop). */
static int jwt_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	double d;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return 2;
		*out = (uint64_t)i;
		return 0;
	}
	if (!json_is_real(v))
		return 1;
	d = json_real_value(v);
	if (!(d >= 0.0) || d >= 18446744073709551616.0)
		return 2;
	*out = (uint64_t)d;
	return 0;
}

/* Present and not a string. */
static bool jwt_bad_string(const json_t *obj, const char *key, const char **out)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return false;
	if (!json_is_string(v))
		return true;
	*out = json_string_value(v);
	return false;
}

void jwt_free(struct jwt *jwt)
{
	if (!jwt)
		return;
	json_decref(jwt->header);
	json_decref(jwt->payload);
	free(jwt->sig);
	memset(jwt, 0, sizeof(*jwt));
}

/*
 * Accepts "B64U(header).B64U(payload).B64U(signature)": exactly two dots,
 * every segment non-empty, at most JWT_MAX_TOKEN_LEN bytes (JWE's five
 * segments, JSON serialisation and unsecured "h.p." all fail as 4).
 * Header: JSON object, "alg" a string naming an implemented algorithm
 * ("none" in any case is 8), "kid" a string if present, no "crit" and no
 * "b64" other than true. Payload: JSON object whose registered claims have
 * the right types. "jku", "x5u", "x5c" and "jwk" are ignored: keys come only
 * from the configured JWKS (RFC 8725 §3.10; Wycheproof tc 32).
 */
enum jwt_status jwt_parse(const char *token, size_t len, struct jwt *jwt)
{
	/* decoded header or payload; base64url gives 3 bytes per 4 chars */
	uint8_t buf[JWT_MAX_TOKEN_LEN / 4 * 3 + 3];
	const char *d1, *d2, *alg_name = NULL, *s = NULL;
	size_t hlen, plen, slen, i;
	enum jwt_status st = JWT_BAD_FORMAT;
	const json_t *v, *crit;
	int r;
	long n;

	memset(jwt, 0, sizeof(*jwt));
	if (!token || len == 0 || len > JWT_MAX_TOKEN_LEN)
		goto fail;
	d1 = memchr(token, '.', len);
	if (!d1)
		goto fail;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		goto fail;
	hlen = (size_t)(d1 - token);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - token);
	/* JVL splits with SkipEmpty(): stricter here, see the file comment */
	if (hlen == 0 || plen == 0 || slen == 0)
		goto fail;

	st = JWT_HEADER_BAD_BASE64;
	n = b64url_decode(token, hlen, buf, sizeof(buf));
	if (n < 0)
		goto fail;
	st = JWT_HEADER_BAD_JSON;
	jwt->header = jwt_json_object(buf, (size_t)n);
	if (!jwt->header)
		goto fail;

	st = JWT_HEADER_BAD_ALG;
	v = json_object_get(jwt->header, "alg");
	if (!json_is_string(v))
		goto fail;
	alg_name = json_string_value(v);
	st = JWT_HEADER_NOT_IMPLEMENTED_ALG;
	jwt->alg = jws_alg_from_name(alg_name);
	if (jwt->alg == JWS_ALG_NONE)
		goto fail;
	jwt->alg_name = alg_name;
	st = JWT_HEADER_BAD_KID;
	if (jwt_bad_string(jwt->header, "kid", &jwt->kid))
		goto fail;

	/* RFC 7515 §4.1.11: a recipient that does not understand every listed
	 * extension must reject the JWS. We understand none, so any "crit"
	 * fails, as does RFC 7797 "b64" (only meaningful inside crit; false
	 * would change what was signed). JVL ignores both. No status fits
	 * exactly: the header is valid JSON (6 would lie) and the alg is
	 * supported (8 would lie); the JWS cannot be verified, which is what
	 * "Jwt verification fails" (26) tells the client. It is decided here,
	 * at parse time, so no code path can skip it. */
	st = JWT_VERIFICATION_FAIL;
	crit = json_object_get(jwt->header, "crit");
	v = json_object_get(jwt->header, "b64");
	if (crit || (v && !json_is_true(v)))
		goto fail;

	st = JWT_PAYLOAD_BAD_BASE64;
	n = b64url_decode(d1 + 1, plen, buf, sizeof(buf));
	if (n < 0)
		goto fail;
	st = JWT_PAYLOAD_BAD_JSON;
	jwt->payload = jwt_json_object(buf, (size_t)n);
	if (!jwt->payload)
		goto fail;

	st = JWT_PAYLOAD_ISS_NOT_STRING;
	if (jwt_bad_string(jwt->payload, "iss", &jwt->iss))
		goto fail;
	st = JWT_PAYLOAD_SUB_NOT_STRING;
	if (jwt_bad_string(jwt->payload, "sub", &jwt->sub))
		goto fail;
	r = jwt_get_u64(jwt->payload, "iat", &jwt->iat);
	if (r) {
		st = r == 1 ? JWT_PAYLOAD_IAT_NOT_INTEGER : JWT_PAYLOAD_IAT_OUT_OF_RANGE;
		goto fail;
	}
	r = jwt_get_u64(jwt->payload, "nbf", &jwt->nbf);
	if (r) {
		st = r == 1 ? JWT_PAYLOAD_NBF_NOT_INTEGER : JWT_PAYLOAD_NBF_OUT_OF_RANGE;
		goto fail;
	}
	r = jwt_get_u64(jwt->payload, "exp", &jwt->exp);
	if (r) {
		st = r == 1 ? JWT_PAYLOAD_EXP_NOT_INTEGER : JWT_PAYLOAD_EXP_OUT_OF_RANGE;
		goto fail;
	}
	st = JWT_PAYLOAD_JTI_NOT_STRING;
	if (jwt_bad_string(jwt->payload, "jti", &s))
		goto fail;

	/* "aud": a string or an array of strings (RFC 7519 §4.1.3). Every
	 * element is type-checked; only the first JWT_MAX_AUD are kept, so an
	 * audience check over jwt->aud can only wrongly deny, never admit. */
	st = JWT_PAYLOAD_AUD_NOT_STRING;
	v = json_object_get(jwt->payload, "aud");
	if (json_is_string(v)) {
		jwt->aud[jwt->n_aud++] = json_string_value(v);
	} else if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++) {
			const json_t *a = json_array_get(v, i);

			if (!json_is_string(a))
				goto fail;
			if (jwt->n_aud < JWT_MAX_AUD)
				jwt->aud[jwt->n_aud++] = json_string_value(a);
		}
	} else if (v) {
		goto fail;
	}

	st = JWT_SIGNATURE_BAD_BASE64;
	jwt->sig = malloc(slen / 4 * 3 + 3);
	if (!jwt->sig)
		goto fail;
	n = b64url_decode(d2 + 1, slen, jwt->sig, slen / 4 * 3 + 3);
	if (n < 0)
		goto fail;
	jwt->sig_len = (size_t)n;
	jwt->signing_input = token;
	jwt->signing_input_len = (size_t)(d2 - token);
	return JWT_OK;

fail:
	jwt_free(jwt);
	return st;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* JVL Jwt::verifyTimeConstraint, with saturating sums instead of wrapping. */
enum jwt_status jwt_check_time(const struct jwt *jwt, uint64_t now, uint64_t skew_s)
{
	if (sat_add(now, skew_s) < jwt->nbf)
		return JWT_NOT_YET_VALID;
	if (jwt->exp && now > sat_add(jwt->exp, skew_s))
		return JWT_EXPIRED;
	return JWT_OK;
}

/* EVP_DigestVerify with <md> (NULL for Ed25519) and the RSA padding <pad>
 * (0 to leave the key type's default). 1 only when OpenSSL says 1: 0 is a
 * bad signature, negative an error (EVP_DigestVerifyInit.pod). */
/* RSA verification contexts, remembered per thread: setting one up
 * (EVP_PKEY_CTX_new_from_pkey, verify_init, padding, digest) costs about
 * as much as hashing the token, and a gateway sees the same few keys all
 * day. Keyed by the EVP_PKEY pointer and the alg; the context holds a
 * reference on its key, so an address cannot be reused while it is here. */
#define CTX_CACHE_SIZE 8

struct ctx_entry {
	const EVP_PKEY *pkey;
	enum jws_alg alg;
	EVP_PKEY_CTX *ctx;
};

static _Thread_local struct ctx_entry ctx_cache[CTX_CACHE_SIZE];
static _Thread_local unsigned ctx_next;

void jwt_thread_cleanup(void)
{
	for (unsigned i = 0; i < CTX_CACHE_SIZE; i++) {
		EVP_PKEY_CTX_free(ctx_cache[i].ctx);
		ctx_cache[i] = (struct ctx_entry){0};
	}
}

static EVP_PKEY_CTX *rsa_ctx(EVP_PKEY *pkey, enum jws_alg alg, const EVP_MD *md, int pad)
{
	struct ctx_entry *e;
	EVP_PKEY_CTX *pctx;
	unsigned i;

	for (i = 0; i < CTX_CACHE_SIZE; i++)
		if (ctx_cache[i].ctx && ctx_cache[i].pkey == pkey && ctx_cache[i].alg == alg)
			return ctx_cache[i].ctx;
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!pctx || EVP_PKEY_verify_init(pctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, md) <= 0)
		goto fail;
	/* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
	 * OpenSSL would otherwise auto-detect any salt length on verify
	 * (Wycheproof "SaltLenChanged"). */
	if (pad == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto fail;
	e = &ctx_cache[ctx_next++ % CTX_CACHE_SIZE];
	EVP_PKEY_CTX_free(e->ctx);
	*e = (struct ctx_entry){pkey, alg, pctx};
	return pctx;
fail:
	EVP_PKEY_CTX_free(pctx);
	return NULL;
}

/* RSA: hash once, then verify the digest on a context set up before. */
static int jws_rsa_verify(EVP_PKEY *pkey, enum jws_alg alg, const EVP_MD *md, int pad, const uint8_t *msg,
                          size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_PKEY_CTX *pctx;

	if (EVP_Digest(msg, msg_len, dgst, &dlen, md, NULL) != 1)
		return 0;
	pctx = rsa_ctx(pkey, alg, md, pad);
	return pctx && EVP_PKEY_verify(pctx, sig, sig_len, dgst, dlen) == 1;
}

static int jws_evp_verify(EVP_PKEY *pkey, const EVP_MD *md, int pad, const uint8_t *msg, size_t msg_len,
                          const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL; /* belongs to <ctx>: never freed here */
	int ret = 0;

	if (!ctx || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) != 1)
		goto out;
	if (pad == RSA_PKCS1_PADDING) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
			goto out;
	} else if (pad == RSA_PKCS1_PSS_PADDING) {
		/* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the
		 * hash. OpenSSL would otherwise auto-detect any salt length on
		 * verify (Wycheproof "SaltLenChanged"). */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
			goto out;
	}
	ret = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* JOSE ECDSA signature (RFC 7518 §3.4): R||S, each exactly <clen> bytes,
 * re-encoded as the DER ECDSA-Sig-Value OpenSSL verifies. R or S of zero or
 * >= n are left to ECDSA verification, which refuses them. */
static int jws_ecdsa_verify(EVP_PKEY *pkey, const EVP_MD *md, size_t clen, const uint8_t *msg, size_t msg_len,
                            const uint8_t *sig, size_t sig_len)
{
	uint8_t der[2 * (66 + 3) + 4]; /* SEQUENCE of two INTEGERs of <= 67 bytes */
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	int der_len, ret = 0;

	if (sig_len != 2 * clen)
		goto out;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, (int)clen, NULL);
	s = BN_bin2bn(sig + clen, (int)clen, NULL);
	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by <es> now */
	/* size first: i2d_ECDSA_SIG writes without a bound */
	der_len = i2d_ECDSA_SIG(es, NULL);
	if (der_len <= 0 || (size_t)der_len > sizeof(der))
		goto out;
	if (i2d_ECDSA_SIG(es, &p) != der_len)
		goto out;
	ret = jws_evp_verify(pkey, md, 0, msg, msg_len, der, (size_t)der_len);
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}

/* HMAC-SHA2 (RFC 7518 §3.2): full-length tag only, key at least as long as
 * the hash, constant-time compare. */
static int jws_hmac_verify(enum jws_alg alg, const struct jwk *key, const uint8_t *msg, size_t msg_len,
                           const uint8_t *sig, size_t sig_len)
{
	static const char *const digest[] = {
	    [256 / 128] = "SHA256", [384 / 128] = "SHA384", [512 / 128] = "SHA512"};
	size_t dlen = (size_t)jws_algs[alg].hash_bits / 8, out_len = 0;
	uint8_t mac[EVP_MAX_MD_SIZE];
	int ret = 0;

	if (sig_len != dlen || !key->secret || key->secret_len < dlen)
		return 0;
	if (!EVP_Q_mac(NULL, "HMAC", NULL, digest[jws_algs[alg].hash_bits / 128], NULL, key->secret,
	               key->secret_len, msg, msg_len, mac, sizeof(mac), &out_len))
		goto out;
	ret = out_len == dlen && CRYPTO_memcmp(mac, sig, dlen) == 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

int jws_verify_raw(enum jws_alg alg, const struct jwk *key, const uint8_t *msg, size_t msg_len,
                   const uint8_t *sig, size_t sig_len)
{
	const EVP_MD *md;
	int ret = 0;

	if ((unsigned)alg >= JWS_ALG_COUNT || alg == JWS_ALG_NONE || !key || !sig || (!msg && msg_len))
		return 0;
	if (!msg)
		msg = (const uint8_t *)"";
	/* RFC 8725 §3.1: a key bound to one alg is used for that alg only */
	if (key->alg != JWS_ALG_NONE && key->alg != alg)
		return 0;
	md = jws_md(alg);
	/* the key type must fit the alg family: never HMAC with a public key's
	 * bytes, never RSA padding with an EC key (RFC 8725 §2.1 confusion) */
	switch (jws_algs[alg].fam) {
	case FAM_RS:
	case FAM_PS:
		if (key->kty != JWK_KTY_RSA || !key->pkey || sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
			break;
		ret = jws_rsa_verify(key->pkey, alg, md,
		                     jws_algs[alg].fam == FAM_PS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING,
		                     msg, msg_len, sig, sig_len);
		break;
	case FAM_ES:
		/* ES512 is P-521, not "any curve with SHA-512" */
		if (key->kty != JWK_KTY_EC || !key->pkey || key->bits != jws_algs[alg].ec_bits)
			break;
		ret =
		    jws_ecdsa_verify(key->pkey, md, ((size_t)key->bits + 7) / 8, msg, msg_len, sig, sig_len);
		break;
	case FAM_HS:
		if (key->kty != JWK_KTY_OCT)
			break;
		ret = jws_hmac_verify(alg, key, msg, msg_len, sig, sig_len);
		break;
	case FAM_ED:
		/* Ed25519 is pure EdDSA: one-shot EVP_DigestVerify, NULL md */
		if (key->kty != JWK_KTY_OKP || !key->pkey || sig_len != 64)
			break;
		ret = jws_evp_verify(key->pkey, NULL, 0, msg, msg_len, sig, sig_len);
		break;
	case FAM_NONE:
		break;
	}
	/* A failed verification leaves entries in this thread's OpenSSL error
	 * queue; a later, unrelated ERR_get_error() (TLS in the fetcher, the
	 * next key) would find them. A bad signature is not an error to log. */
	if (!ret)
		ERR_clear_error();
	return ret;
}

/*
 * Key selection as jwt_verify_lib verify.cc: a key is a candidate unless
 * both kids are non-empty and differ, or the key has an alg other than the
 * token's. Every candidate is tried in set order; OK on the first that
 * verifies. An Ed25519 candidate with a signature that is not 64 bytes
 * ends the search with status 23, as JVL does.
 */
enum jwt_status jwt_verify_jwks(const struct jwt *jwt, const struct jwks *keys, const struct jwk **used)
{
	bool matched = false;
	size_t i;

	if (used)
		*used = NULL;
	if (!jwt || jwt->alg == JWS_ALG_NONE || !jwt->sig)
		return JWT_VERIFICATION_FAIL;
	if (!keys)
		return JWKS_KID_ALG_MISMATCH;
	for (i = 0; i < keys->n_keys; i++) {
		const struct jwk *k = &keys->keys[i];

		if (jwt->kid && jwt->kid[0] && k->kid && k->kid[0] && strcmp(jwt->kid, k->kid) != 0)
			continue;
		if (k->alg != JWS_ALG_NONE && k->alg != jwt->alg)
			continue;
		matched = true;
		if (jwt->alg == JWS_EDDSA && k->kty == JWK_KTY_OKP && jwt->sig_len != 64)
			return JWT_ED25519_SIGNATURE_WRONG_LENGTH;
		if (jws_verify_raw(jwt->alg, k, (const uint8_t *)jwt->signing_input, jwt->signing_input_len,
		                   jwt->sig, jwt->sig_len)) {
			if (used)
				*used = k;
			return JWT_OK;
		}
	}
	return matched ? JWT_VERIFICATION_FAIL : JWKS_KID_ALG_MISMATCH;
}
