/*
 * JWK / JWK Set parsing (RFC 7517, RFC 7518 §6, RFC 8037) into immutable,
 * refcounted sets of ready EVP_PKEYs.
 *
 * Statuses and their order follow jwt_verify_lib src/jwks.cc
 * (../shared/notes/jwt.md §2.2-2.3): a key that fails is skipped, the set
 * fails only when no key survives, with the first key's status, or
 * JWKS_NO_VALID_KEYS when no key produced one. Stricter than JVL, each
 * skipping the key (the status used is given where it is decided):
 *   - "use" other than "sig", "key_ops" without "verify" (RFC 7517 §4.2-4.3;
 *     Wycheproof json_web_signature tc 353-356);
 *   - a non-string "alg", or one no token alg can ever match (JVL keeps such
 *     keys, which then match nothing, or everything when the alg is not a
 *     string);
 *   - RSA moduli under 2048 bits (RFC 7518 §3.3) or over 8192, even moduli,
 *     and ROCA-weak moduli (CVE-2017-15361);
 *   - EC x or y longer than the coordinate length (shorter ones are
 *     left-padded, as PyJWT writes them), or a point that fails
 *     EVP_PKEY_public_check (RFC 8725 §3.4);
 *   - oct keys shorter than the hash of their alg (RFC 7518 §3.2), 32 bytes
 *     when the key has no alg;
 *   - duplicate member names anywhere in the document.
 * Not supported (JVL has them): Google's x509 map and PEM input.
 * No deprecated RSA_* / EC_KEY_* call: keys are built with EVP_PKEY_fromdata.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"

#define JWKS_MAX_JSON_DEPTH 32
#define JWK_RSA_MIN_BITS    2048
#define JWK_RSA_MAX_BITS    8192
#define JWK_MAX_FIELD       2048 /* base64url chars of n, x, y, k: 8192-bit n is 1366 */

/* JVL StructUtils::GetString: 0 string (*out set), 1 missing, 2 wrong type. */
static int jwk_get_string(const json_t *obj, const char *key, const char **out)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return 1;
	if (!json_is_string(v))
		return 2;
	*out = json_string_value(v);
	return 0;
}

/* Decodes the base64url member <b64> into a fresh buffer; -1 if malformed
 * or longer than JWK_MAX_FIELD characters. */
static long jwk_b64(const char *b64, uint8_t **out)
{
	size_t len = strlen(b64);
	long n;

	*out = NULL;
	if (len > JWK_MAX_FIELD)
		return -1;
	*out = malloc(len / 4 * 3 + 3);
	if (!*out)
		return -1;
	n = b64url_decode(b64, len, *out, len / 4 * 3 + 3);
	if (n < 0) {
		free(*out);
		*out = NULL;
	}
	return n;
}

/* EVP_PKEY of <type> ("RSA", "EC") from <params>, public part only. */
static EVP_PKEY *jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* ROCA (CVE-2017-15361, Nemec et al. 2017): Infineon moduli are
 * 65537^k mod M for a primorial M, so n mod p lies in the subgroup that
 * 65537 generates mod p for each of these small primes. The same primes as
 * the authors' detector; a random modulus passes them all with negligible
 * probability. Wycheproof json_web_key tc 7. */
static bool jwk_rsa_is_roca(const BIGNUM *n)
{
	static const unsigned primes[] = {3,   5,   7,   11,  13,  17,  19,  23,  29,  31,  37,  41,  43,
	                                  47,  53,  59,  61,  67,  71,  73,  79,  83,  89,  97,  101, 103,
	                                  107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167};
	size_t i;

	for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++) {
		unsigned p = primes[i], g = 65537 % p, x = 1;
		BN_ULONG r = BN_mod_word(n, p);
		bool in = false;

		if (r == (BN_ULONG)-1)
			return false;
		do {
			if (x == r) {
				in = true;
				break;
			}
			x = x * g % p;
		} while (x != 1);
		if (!in)
			return false;
	}
	return true;
}

/* JVL extractJwkFromJwkRSA + createEvpPkeyFromJwkRSA. */
static enum jwt_status jwk_parse_rsa(const json_t *obj, const char *alg_name, struct jwk *key)
{
	const char *n_s = NULL, *e_s = NULL;
	uint8_t *n_b = NULL, *e_b = NULL;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	enum jwt_status st;
	long n_len, e_len;
	int r;

	if (alg_name) {
		/* JVL: must start with RS or PS (44); we also want a real one */
		st = JWKS_RSA_KEY_BAD_ALG;
		key->alg = jws_alg_from_name(alg_name);
		if (strncmp(alg_name, "RS", 2) != 0 && strncmp(alg_name, "PS", 2) != 0)
			goto out;
		if (key->alg < JWS_RS256 || key->alg > JWS_PS512)
			goto out;
	}
	r = jwk_get_string(obj, "n", &n_s);
	st = r == 1 ? JWKS_RSA_KEY_MISSING_N : JWKS_RSA_KEY_BAD_N;
	if (r)
		goto out;
	r = jwk_get_string(obj, "e", &e_s);
	st = r == 1 ? JWKS_RSA_KEY_MISSING_E : JWKS_RSA_KEY_BAD_E;
	if (r)
		goto out;

	st = JWKS_RSA_PARSE_ERROR;
	n_len = jwk_b64(n_s, &n_b);
	e_len = jwk_b64(e_s, &e_b);
	if (n_len <= 0 || e_len <= 0)
		goto out;
	/* Base64urlUInt should be minimal (RFC 7518 §6.3.1.1); leading zeros
	 * are tolerated, as every library does, since BN_bin2bn drops them. */
	n = BN_bin2bn(n_b, (int)n_len, NULL);
	e = BN_bin2bn(e_b, (int)e_len, NULL);
	if (!n || !e)
		goto out;
	/* JVL: e is 3 or 65537 (also rules out e = 1, Wycheproof jwk tc 9) */
	if (!BN_is_word(e, 3) && !BN_is_word(e, 65537))
		goto out;
	if (!BN_is_odd(n) || BN_num_bits(n) < JWK_RSA_MIN_BITS || BN_num_bits(n) > JWK_RSA_MAX_BITS)
		goto out;
	if (jwk_rsa_is_roca(n))
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	key->pkey = jwk_fromdata("RSA", bld);
	if (!key->pkey)
		goto out;
	key->bits = EVP_PKEY_get_bits(key->pkey);
	st = JWT_OK;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(n_b);
	free(e_b);
	return st;
}

static const struct {
	const char *crv;
	const char *group; /* OpenSSL group name */
	enum jws_alg alg;
	int bits;
} jwk_curves[] = {
    {"P-256", "prime256v1", JWS_ES256, 256},
    {"P-384", "secp384r1", JWS_ES384, 384},
    {"P-521", "secp521r1", JWS_ES512, 521},
};

/* JVL extractJwkFromJwkEC + createEcKeyFromJwkEC. */
static enum jwt_status jwk_parse_ec(const json_t *obj, const char *alg_name, struct jwk *key)
{
	const char *crv = NULL, *x_s = NULL, *y_s = NULL;
	uint8_t *x = NULL, *y = NULL, pub[1 + 2 * 66];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *cctx = NULL;
	enum jwt_status st;
	size_t clen, i, c = 0;
	long x_len, y_len;
	bool found = false;
	int r;

	st = JWKS_EC_KEY_BAD_ALG;
	if (alg_name && strncmp(alg_name, "ES", 2) != 0)
		goto out;
	r = jwk_get_string(obj, "crv", &crv);
	st = JWKS_EC_KEY_BAD_CRV;
	if (r == 2)
		goto out;
	if (r == 1 || !crv[0])
		crv = NULL;
	/* alg and crv, when both given, must pair; neither means P-256 */
	if (alg_name && crv) {
		st = JWKS_EC_KEY_ALG_NOT_COMPATIBLE_WITH_CRV;
		for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++)
			if (strcmp(alg_name, jws_alg_name(jwk_curves[i].alg)) == 0 &&
			    strcmp(crv, jwk_curves[i].crv) == 0)
				break;
		if (i == sizeof(jwk_curves) / sizeof(jwk_curves[0]))
			goto out;
	}
	if (!alg_name && !crv)
		crv = "P-256";
	for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++) {
		if ((alg_name && strcmp(alg_name, jws_alg_name(jwk_curves[i].alg)) == 0) ||
		    (crv && strcmp(crv, jwk_curves[i].crv) == 0)) {
			c = i;
			found = true;
			break;
		}
	}
	st = JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED;
	if (!found)
		goto out;
	if (alg_name)
		key->alg = jwk_curves[c].alg;

	r = jwk_get_string(obj, "x", &x_s);
	st = r == 1 ? JWKS_EC_KEY_MISSING_X : JWKS_EC_KEY_BAD_X;
	if (r)
		goto out;
	r = jwk_get_string(obj, "y", &y_s);
	st = r == 1 ? JWKS_EC_KEY_MISSING_Y : JWKS_EC_KEY_BAD_Y;
	if (r)
		goto out;
	st = JWKS_EC_X_OR_Y_BAD_BASE64;
	x_len = jwk_b64(x_s, &x);
	y_len = jwk_b64(y_s, &y);
	if (x_len < 0 || y_len < 0)
		goto out;
	/* RFC 7518 §6.2.1.2 wants x and y at the full coordinate length, but
	 * PyJWT 2.6 writes them minimal (about half of its P-521 keys come out
	 * short) and JVL takes them: shorter ones are left-padded, longer ones
	 * refused. A P-256 point labelled P-384 (Wycheproof jwk tc 23) still
	 * fails: padded, it is not on P-384. */
	st = JWKS_EC_PARSE_ERROR;
	clen = ((size_t)jwk_curves[c].bits + 7) / 8;
	if (x_len == 0 || y_len == 0 || (size_t)x_len > clen || (size_t)y_len > clen)
		goto out;
	memset(pub, 0, sizeof(pub));
	pub[0] = 0x04; /* SEC 1 uncompressed point */
	memcpy(pub + 1 + clen - (size_t)x_len, x, (size_t)x_len);
	memcpy(pub + 1 + 2 * clen - (size_t)y_len, y, (size_t)y_len);
	st = JWKS_EC_CREATE_KEY_FAIL;
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, jwk_curves[c].group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * clen))
		goto out;
	/* decoding the point checks it is on the curve; public_check adds the
	 * range and order checks (invalid-curve attacks: RFC 8725 §3.4) */
	st = JWKS_EC_PARSE_ERROR;
	key->pkey = jwk_fromdata("EC", bld);
	if (!key->pkey)
		goto out;
	cctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (!cctx || EVP_PKEY_public_check(cctx) != 1)
		goto out;
	key->bits = jwk_curves[c].bits;
	st = JWT_OK;
out:
	EVP_PKEY_CTX_free(cctx);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return st;
}

/* JVL extractJwkFromJwkOct. */
static enum jwt_status jwk_parse_oct(const json_t *obj, const char *alg_name, struct jwk *key)
{
	const char *k_s = NULL;
	size_t min_len = 32;
	uint8_t *k = NULL;
	long k_len;
	int r;

	if (alg_name) {
		key->alg = jws_alg_from_name(alg_name);
		if (key->alg < JWS_HS256 || key->alg > JWS_HS512)
			return JWKS_HMAC_KEY_BAD_ALG;
		min_len = key->alg == JWS_HS256 ? 32 : key->alg == JWS_HS384 ? 48 : 64;
	}
	r = jwk_get_string(obj, "k", &k_s);
	if (r)
		return r == 1 ? JWKS_HMAC_KEY_MISSING_K : JWKS_HMAC_KEY_BAD_K;
	k_len = jwk_b64(k_s, &k);
	/* JVL: empty is 37. RFC 7518 §3.2: "a key of the same size as the hash
	 * output or larger MUST be used"; a short key is skipped with 37 too. */
	if (k_len < (long)min_len) {
		if (k)
			OPENSSL_clear_free(k, (size_t)k_len);
		return JWKS_OCT_BAD_BASE64;
	}
	key->secret = k;
	key->secret_len = (size_t)k_len;
	key->bits = (int)k_len * 8;
	return JWT_OK;
}

/* JVL extractJwkFromJwkOKP. */
static enum jwt_status jwk_parse_okp(const json_t *obj, const char *alg_name, struct jwk *key)
{
	const char *crv = NULL, *x_s = NULL;
	enum jwt_status st;
	uint8_t *x = NULL;
	long x_len;
	int r;

	/* JVL wants "EdDSA"; RFC 9864 "Ed25519" names the same thing here */
	if (alg_name && strcmp(alg_name, "EdDSA") != 0 && strcmp(alg_name, "Ed25519") != 0)
		return JWKS_OKP_KEY_BAD_ALG;
	if (alg_name)
		key->alg = JWS_EDDSA;
	r = jwk_get_string(obj, "crv", &crv);
	if (r)
		return r == 1 ? JWKS_OKP_KEY_MISSING_CRV : JWKS_OKP_KEY_BAD_CRV;
	if (strcmp(crv, "Ed25519") != 0)
		return JWKS_OKP_KEY_CRV_UNSUPPORTED;
	r = jwk_get_string(obj, "x", &x_s);
	if (r)
		return r == 1 ? JWKS_OKP_KEY_MISSING_X : JWKS_OKP_KEY_BAD_X;
	st = JWKS_OKP_X_BAD_BASE64;
	x_len = jwk_b64(x_s, &x);
	if (x_len < 0)
		goto out;
	st = JWKS_OKP_X_WRONG_LENGTH;
	if (x_len != 32)
		goto out;
	st = JWKS_OKP_X_BAD_BASE64;
	key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
	if (!key->pkey)
		goto out;
	key->bits = 256;
	st = JWT_OK;
out:
	free(x);
	return st;
}

/* RFC 7517 §4.2-4.3: the key must be meant for verifying signatures. */
static bool jwk_usable_for_verify(const json_t *obj)
{
	const json_t *use = json_object_get(obj, "use"), *ops = json_object_get(obj, "key_ops"), *op;
	size_t i;

	if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
		return false;
	if (!ops)
		return true;
	if (!json_is_array(ops))
		return false;
	json_array_foreach(ops, i, op) if (json_is_string(op) &&
	                                   strcmp(json_string_value(op), "verify") == 0) return true;
	return false;
}

void jwk_clear(struct jwk *key)
{
	if (!key)
		return;
	free(key->kid);
	EVP_PKEY_free(key->pkey);
	if (key->secret)
		OPENSSL_clear_free(key->secret, key->secret_len);
	memset(key, 0, sizeof(*key));
}

/*
 * One JWK object (JVL extractJwk): "kty" required string (41/42), "kid"
 * kept when a string (JVL ignores other types, so do we: a kid-less key is
 * tried for every token anyway), "alg" optional, then the per-type rules.
 * A key not meant for verification ("use", "key_ops") is refused with
 * JWKS_NO_VALID_KEYS: none of JVL's statuses describes it, and this one
 * reads right when it is the only key.
 */
enum jwt_status jwk_parse(const json_t *obj, struct jwk *key)
{
	const char *kty = NULL, *kid = NULL, *alg_name = NULL;
	const json_t *alg;
	enum jwt_status st;
	int r;

	memset(key, 0, sizeof(*key));
	if (!json_is_object(obj))
		return JWKS_PARSE_ERROR;
	r = jwk_get_string(obj, "kty", &kty);
	if (r)
		return r == 1 ? JWKS_MISSING_KTY : JWKS_BAD_KTY;
	alg = json_object_get(obj, "alg");
	if (json_is_string(alg))
		alg_name = json_string_value(alg);

	if (strcmp(kty, "EC") == 0) {
		key->kty = JWK_KTY_EC;
		st = alg && !alg_name ? JWKS_EC_KEY_BAD_ALG : jwk_parse_ec(obj, alg_name, key);
	} else if (strcmp(kty, "RSA") == 0) {
		key->kty = JWK_KTY_RSA;
		st = alg && !alg_name ? JWKS_RSA_KEY_BAD_ALG : jwk_parse_rsa(obj, alg_name, key);
	} else if (strcmp(kty, "oct") == 0) {
		key->kty = JWK_KTY_OCT;
		st = alg && !alg_name ? JWKS_HMAC_KEY_BAD_ALG : jwk_parse_oct(obj, alg_name, key);
	} else if (strcmp(kty, "OKP") == 0) {
		key->kty = JWK_KTY_OKP;
		st = alg && !alg_name ? JWKS_OKP_KEY_BAD_ALG : jwk_parse_okp(obj, alg_name, key);
	} else {
		st = JWKS_NOT_IMPLEMENTED_KTY;
	}
	if (st == JWT_OK && !jwk_usable_for_verify(obj))
		st = JWKS_NO_VALID_KEYS;
	if (st == JWT_OK && jwk_get_string(obj, "kid", &kid) == 0) {
		key->kid = strdup(kid);
		if (!key->kid)
			st = JWKS_PARSE_ERROR;
	}
	if (st != JWT_OK)
		jwk_clear(key);
	/* keys that fail leave OpenSSL errors behind (see jwt.c) */
	ERR_clear_error();
	return st;
}

static void jwks_free(struct jwks *set)
{
	size_t i;

	for (i = 0; i < set->n_keys; i++)
		jwk_clear(&set->keys[i]);
	free(set->keys);
	free(set);
}

/*
 * JVL Jwks::createFromJwksCore for the {"keys": [...]} form: 28 invalid
 * JSON (or not an object, or over JWKS_MAX_BYTES), 29 no "keys", 30 "keys"
 * not an array; entries that are not objects are skipped silently; only the
 * first JWKS_MAX_KEYS entries are looked at.
 */
enum jwt_status jwks_parse(const char *json, size_t len, struct jwks **out, char *err, size_t errlen)
{
	enum jwt_status st = JWKS_PARSE_ERROR, first = JWT_OK, kst;
	size_t i, n_entries, n_skipped = 0, first_idx = 0;
	struct jwks *set = NULL;
	json_t *root = NULL;
	const json_t *keys;
	json_error_t jerr;

	*out = NULL;
	if (!errlen)
		err = NULL;
	if (err)
		err[0] = '\0';
	if (!json || len > JWKS_MAX_BYTES) {
		if (err)
			snprintf(err, errlen, "document larger than %u bytes", JWKS_MAX_BYTES);
		goto out;
	}
	if (!json_depth_ok(json, len, JWKS_MAX_JSON_DEPTH)) {
		if (err)
			snprintf(err, errlen, "JSON nested deeper than %d", JWKS_MAX_JSON_DEPTH);
		goto out;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		if (err)
			snprintf(err, errlen, "%s", root ? "not a JSON object" : jerr.text);
		goto out;
	}
	st = JWKS_NO_KEYS;
	keys = json_object_get(root, "keys");
	if (!keys)
		goto out;
	st = JWKS_BAD_KEYS;
	if (!json_is_array(keys))
		goto out;

	n_entries = json_array_size(keys);
	st = JWKS_PARSE_ERROR;
	set = calloc(1, sizeof(*set));
	if (!set)
		goto out;
	atomic_init(&set->refcount, 1);
	set->keys = calloc(n_entries < JWKS_MAX_KEYS ? (n_entries ? n_entries : 1) : JWKS_MAX_KEYS,
	                   sizeof(*set->keys));
	if (!set->keys)
		goto out;
	for (i = 0; i < n_entries && i < JWKS_MAX_KEYS; i++) {
		const json_t *k = json_array_get(keys, i);

		if (!json_is_object(k))
			continue;
		kst = jwk_parse(k, &set->keys[set->n_keys]);
		if (kst == JWT_OK) {
			set->n_keys++;
			continue;
		}
		n_skipped++;
		if (first == JWT_OK) {
			first = kst;
			first_idx = i;
		}
	}
	if (err && first != JWT_OK)
		snprintf(err, errlen, "%zu key(s) skipped, first: key %zu: %s", n_skipped, first_idx,
		         jwt_status_str(first));
	if (err && n_entries > JWKS_MAX_KEYS) {
		size_t used = strlen(err);

		snprintf(err + used, errlen - used, "%s%zu key(s) beyond the first %u ignored",
		         used ? "; " : "", n_entries - JWKS_MAX_KEYS, JWKS_MAX_KEYS);
	}
	if (set->n_keys == 0) {
		st = first != JWT_OK ? first : JWKS_NO_VALID_KEYS;
		goto out;
	}
	*out = set;
	set = NULL;
	st = JWT_OK;
out:
	if (set)
		jwks_free(set);
	json_decref(root);
	return st;
}

struct jwks *jwks_ref(struct jwks *set)
{
	if (set)
		atomic_fetch_add_explicit(&set->refcount, 1, memory_order_relaxed);
	return set;
}

/* The last holder frees. acq_rel: every holder's reads of the set happen
 * before the free (the usual refcount pairing, as in json_decref). */
void jwks_unref(struct jwks *set)
{
	if (set && atomic_fetch_sub_explicit(&set->refcount, 1, memory_order_acq_rel) == 1)
		jwks_free(set);
}
