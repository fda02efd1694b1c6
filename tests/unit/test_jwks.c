/*
 * jwks.c: good key sets of every type, each jwt_verify_lib per-key status
 * (../shared/notes/jwt.md §2.1-2.3), our stricter skipping rules, limits and
 * the refcount (also from several threads).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"
#include "t.h"

#include "../vectors/gen_tokens.h"
#include "../vectors/rfc_examples.h"

#define P256_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define P256_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define P521_X "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk"
#define P521_Y "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"
#define ED_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define A2_N                                                                                                           \
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCg" \
	"NMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665" \
	"xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp" \
	"oQ"
/* Wycheproof json_web_key_test tc 7: an Infineon (ROCA, CVE-2017-15361) modulus */
#define ROCA_N                                                                                                         \
	"AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8s" \
	"YIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7" \
	"BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-" \
	"QYyE"
#define K32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static enum jwt_status parse(const char *json, struct jwks **out, char *err, size_t errlen)
{
	return jwks_parse(json, strlen(json), out, err, errlen);
}

/* status of a set holding only <jwk>; the set, if any, is dropped */
static enum jwt_status one(const char *jwk)
{
	char buf[8192];
	struct jwks *set = NULL;
	enum jwt_status st;

	snprintf(buf, sizeof(buf), "{\"keys\":[%s]}", jwk);
	st = parse(buf, &set, NULL, 0);
	if ((st == JWT_OK) != (set != NULL))
		printf("# status %d but set %p\n", st, (void *)set);
	jwks_unref(set);
	return st;
}

static void test_good(void)
{
	struct jwks *set = NULL;
	char err[256] = "x";
	char buf[8192];

	ok(parse(gen_jwks, &set, err, sizeof(err)) == JWT_OK && set && set->n_keys == 6 && !err[0],
	   "generated set: 6 keys, no error text");
	if (set) {
		ok(set->keys[0].kty == JWK_KTY_RSA && set->keys[0].bits == 2048 && set->keys[0].alg == JWS_ALG_NONE &&
		           strcmp(set->keys[0].kid, "rsa") == 0 && set->keys[0].pkey,
		   "RSA key");
		ok(set->keys[1].kty == JWK_KTY_EC && set->keys[1].bits == 256 && set->keys[1].alg == JWS_ES256,
		   "EC P-256 key, alg ES256");
		ok(set->keys[2].kty == JWK_KTY_EC && set->keys[2].bits == 384 && set->keys[2].alg == JWS_ALG_NONE,
		   "EC P-384 key, no alg");
		ok(set->keys[3].kty == JWK_KTY_EC && set->keys[3].bits == 521 && set->keys[3].alg == JWS_ES512,
		   "EC P-521 key");
		ok(set->keys[4].kty == JWK_KTY_OKP && set->keys[4].alg == JWS_EDDSA && set->keys[4].pkey, "OKP key");
		ok(set->keys[5].kty == JWK_KTY_OCT && set->keys[5].secret_len == 64 && !set->keys[5].pkey,
		   "oct key, 64 bytes");
		ok(atomic_load(&set->refcount) == 1 && set->generation == 0, "refcount 1, generation 0");
	}
	jwks_unref(set);

	ok(one(rfc7515_a2_jwk) == JWT_OK, "RFC 7515 A.2 RSA key");
	ok(one(rfc7515_a4_jwk) == JWT_OK, "RFC 7515 A.4 P-521 key");
	ok(one(rfc8037_jwk) == JWT_OK, "RFC 8037 Ed25519 key");
	ok(one("{\"kty\":\"EC\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWT_OK, "EC without alg or crv: P-256");
	ok(one("{\"kty\":\"EC\",\"crv\":\"\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWT_OK,
	   "EC with crv \"\": P-256");
	ok(one("{\"kty\":\"EC\",\"alg\":\"ES256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWT_OK,
	   "EC with alg only");
	ok(one("{\"kty\":\"EC\",\"alg\":\"ES512\",\"x\":\"" P521_X "\",\"y\":\"" P521_Y "\"}") == JWT_OK,
	   "EC ES512 alg only: P-521");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"Ed25519\",\"x\":\"" ED_X "\"}") == JWT_OK,
	   "OKP with alg Ed25519 (RFC 9864)");
	ok(one("{\"kty\":\"RSA\",\"alg\":\"PS384\",\"use\":\"sig\",\"key_ops\":[\"verify\"],\"e\":\"AQAB\",\"n\":\"AAAA" A2_N
	       "\"}") == JWT_OK,
	   "RSA with leading zero bytes in n, PS384, use sig, key_ops verify");
	ok(one("{\"kty\":\"RSA\",\"e\":\"Aw\",\"n\":\"" A2_N "\"}") == JWT_OK, "RSA e = 3 accepted (JVL)");
	ok(one("{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"" K32 "\"}") == JWT_OK, "oct 32 bytes HS256");
	ok(one("{\"kty\":\"oct\",\"k\":\"" K32 "\"}") == JWT_OK, "oct 32 bytes no alg");
	ok(one("{\"kty\":\"oct\",\"kid\":7,\"k\":\"" K32 "\",\"x5c\":[\"junk\"],\"unknown\":{}}") == JWT_OK,
	   "non-string kid and unknown members ignored (JVL)");

	/* duplicate kid: kept, both tried (Wycheproof jwk tc 4 deviation) */
	snprintf(buf, sizeof(buf),
	         "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"%s\"},{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"%s\"}]}",
	         K32, gen_hs_secret_b64);
	set = NULL;
	ok(parse(buf, &set, NULL, 0) == JWT_OK && set->n_keys == 2, "duplicate kid: both keys kept");
	if (set) {
		struct jwt j;
		const struct jwk *used = NULL;
		const char *tok = NULL;
		size_t i;

		for (i = 0; i < sizeof(gen_tokens) / sizeof(gen_tokens[0]); i++)
			if (strcmp(gen_tokens[i].name, "HS256") == 0)
				tok = gen_tokens[i].token;
		/* kid "hs" differs from "a": not candidates at all */
		ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && jwt_verify_jwks(&j, set, &used) == JWKS_KID_ALG_MISMATCH,
		   "kid mismatch against both: 32");
		jwt_free(&j);
	}
	jwks_unref(set);
}

static void test_jvl_statuses(void)
{
	/* kty */
	ok(one("{\"kid\":\"a\"}") == JWKS_MISSING_KTY, "41 missing kty");
	ok(one("{\"kty\":1}") == JWKS_BAD_KTY, "42 kty number");
	ok(one("{\"kty\":\"foo\"}") == JWKS_NOT_IMPLEMENTED_KTY, "43 kty foo");
	ok(one("{\"kty\":\"rsa\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}") == JWKS_NOT_IMPLEMENTED_KTY,
	   "43 kty is case-sensitive");
	/* RSA */
	ok(one("{\"kty\":\"RSA\",\"alg\":\"ES256\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}") == JWKS_RSA_KEY_BAD_ALG,
	   "44 RSA alg ES256");
	ok(one("{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}") == JWKS_RSA_KEY_BAD_ALG,
	   "44 RSA alg RSA-OAEP (RS prefix but no JWS alg; JVL keeps it)");
	ok(one("{\"kty\":\"RSA\",\"alg\":256,\"n\":\"" A2_N "\",\"e\":\"AQAB\"}") == JWKS_RSA_KEY_BAD_ALG,
	   "44 RSA alg not a string (JVL ignores it)");
	ok(one("{\"kty\":\"RSA\",\"e\":\"AQAB\"}") == JWKS_RSA_KEY_MISSING_N, "45 missing n");
	ok(one("{\"kty\":\"RSA\",\"n\":1,\"e\":\"AQAB\"}") == JWKS_RSA_KEY_BAD_N, "46 n number");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" A2_N "\"}") == JWKS_RSA_KEY_MISSING_E, "47 missing e");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":65537}") == JWKS_RSA_KEY_BAD_E, "48 e number");
	ok(one("{\"kty\":\"RSA\",\"n\":\"a+b\",\"e\":\"AQAB\"}") == JWKS_RSA_PARSE_ERROR, "33 n bad base64");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB=\"}") == JWKS_RSA_PARSE_ERROR, "33 e padded");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"EQ\"}") == JWKS_RSA_PARSE_ERROR, "33 e = 17");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQ\"}") == JWKS_RSA_PARSE_ERROR, "33 e = 1");
	ok(one("{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}") == JWKS_RSA_PARSE_ERROR, "33 n empty");
	/* EC */
	ok(one("{\"kty\":\"EC\",\"alg\":\"RS256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_EC_KEY_BAD_ALG,
	   "49 EC alg RS256");
	ok(one("{\"kty\":\"EC\",\"crv\":256,\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_EC_KEY_BAD_CRV,
	   "50 crv number");
	ok(one("{\"kty\":\"EC\",\"alg\":\"ES999\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED,
	   "51 alg ES999 without crv");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED,
	   "51 crv P-192");
	ok(one("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED,
	   "51 crv secp256k1");
	ok(one("{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-384\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_EC_KEY_ALG_NOT_COMPATIBLE_WITH_CRV,
	   "52 ES256 with P-384");
	ok(one("{\"kty\":\"EC\",\"alg\":\"ES521\",\"crv\":\"P-521\",\"x\":\"" P521_X "\",\"y\":\"" P521_Y "\"}") ==
	           JWKS_EC_KEY_ALG_NOT_COMPATIBLE_WITH_CRV,
	   "52 ES521 (sic) with P-521");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"y\":\"" P256_Y "\"}") == JWKS_EC_KEY_MISSING_X, "53 missing x");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":[],\"y\":\"" P256_Y "\"}") == JWKS_EC_KEY_BAD_X, "54 x array");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\"}") == JWKS_EC_KEY_MISSING_Y, "55 missing y");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":false}") == JWKS_EC_KEY_BAD_Y,
	   "56 y bool");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "=\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_EC_X_OR_Y_BAD_BASE64,
	   "35 x padded");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}") ==
	           JWKS_EC_PARSE_ERROR,
	   "36 point not on the curve");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_EC_X_OR_Y_BAD_BASE64,
	   "35 x of 45 chars (not base64url length)");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA" P256_X "\",\"y\":\"AAAA" P256_Y "\"}") ==
	           JWKS_EC_PARSE_ERROR,
	   "36 x, y with leading zero bytes (not the coordinate length)");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_EC_PARSE_ERROR,
	   "36 P-256 point labelled P-384");
	ok(one("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	       "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}") == JWKS_EC_PARSE_ERROR,
	   "36 point (0,0)");
	/* oct */
	ok(one("{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":\"" K32 "\"}") == JWKS_HMAC_KEY_BAD_ALG, "57 oct alg RS256");
	ok(one("{\"kty\":\"oct\",\"alg\":\"A256GCM\",\"k\":\"" K32 "\"}") == JWKS_HMAC_KEY_BAD_ALG, "57 oct alg A256GCM");
	ok(one("{\"kty\":\"oct\",\"alg\":\"HS1\",\"k\":\"" K32 "\"}") == JWKS_HMAC_KEY_BAD_ALG, "57 oct alg HS1");
	ok(one("{\"kty\":\"oct\"}") == JWKS_HMAC_KEY_MISSING_K, "58 missing k");
	ok(one("{\"kty\":\"oct\",\"k\":{}}") == JWKS_HMAC_KEY_BAD_K, "59 k object");
	ok(one("{\"kty\":\"oct\",\"k\":\"\"}") == JWKS_OCT_BAD_BASE64, "37 k empty");
	ok(one("{\"kty\":\"oct\",\"k\":\"!!!!\"}") == JWKS_OCT_BAD_BASE64, "37 k bad base64");
	/* OKP */
	ok(one("{\"kty\":\"OKP\",\"alg\":\"ES256\",\"crv\":\"Ed25519\",\"x\":\"" ED_X "\"}") == JWKS_OKP_KEY_BAD_ALG,
	   "60 OKP alg ES256");
	ok(one("{\"kty\":\"OKP\",\"x\":\"" ED_X "\"}") == JWKS_OKP_KEY_MISSING_CRV, "61 missing crv");
	ok(one("{\"kty\":\"OKP\",\"crv\":25519,\"x\":\"" ED_X "\"}") == JWKS_OKP_KEY_BAD_CRV, "62 crv number");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" ED_X "\"}") == JWKS_OKP_KEY_CRV_UNSUPPORTED,
	   "63 crv X25519");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" ED_X "\"}") == JWKS_OKP_KEY_CRV_UNSUPPORTED, "63 crv Ed448");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}") == JWKS_OKP_KEY_MISSING_X, "64 missing x");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":null}") == JWKS_OKP_KEY_BAD_X, "65 x null");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED_X "==\"}") == JWKS_OKP_X_BAD_BASE64, "38 x padded");
	ok(one("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUQ\"}") ==
	           JWKS_OKP_X_WRONG_LENGTH,
	   "39 x 31 bytes");
}

static void test_set_level(void)
{
	struct jwks *set = NULL;
	char err[256];
	char *buf;
	size_t i, n;

	ok(parse("{\"keys\":[", &set, err, sizeof(err)) == JWKS_PARSE_ERROR && !set && err[0], "28 invalid JSON (%s)",
	   err);
	ok(parse("[]", &set, NULL, 0) == JWKS_PARSE_ERROR, "28 top-level array");
	ok(parse("", &set, NULL, 0) == JWKS_PARSE_ERROR, "28 empty document");
	ok(parse("{\"keys\":[],\"keys\":[]}", &set, NULL, 0) == JWKS_PARSE_ERROR, "28 duplicate member");
	ok(parse("{\"foo\":1}", &set, NULL, 0) == JWKS_NO_KEYS, "29 no keys");
	ok(parse("{\"keys\":{}}", &set, NULL, 0) == JWKS_BAD_KEYS, "30 keys object");
	ok(parse("{\"keys\":\"x\"}", &set, NULL, 0) == JWKS_BAD_KEYS, "30 keys string");
	ok(parse("{\"keys\":[]}", &set, NULL, 0) == JWKS_NO_VALID_KEYS, "31 empty keys");
	ok(parse("{\"keys\":[1,\"a\",null,[]]}", &set, NULL, 0) == JWKS_NO_VALID_KEYS, "31 only non-objects");
	ok(parse("{\"keys\":[1,{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" ED_X "\"},{\"kty\":\"foo\"}]}", &set, err,
	         sizeof(err)) == JWKS_OKP_KEY_CRV_UNSUPPORTED &&
	           !set,
	   "no key survives: first key's status (63) [%s]", err);
	ok(parse("{\"keys\":[{\"kty\":\"foo\"},{\"kty\":\"EC\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}]}", &set, err,
	         sizeof(err)) == JWT_OK &&
	           set && set->n_keys == 1 && strstr(err, "1 key(s) skipped") && strstr(err, "key 0"),
	   "bad then good: ok, 1 key, reason reported [%s]", err);
	jwks_unref(set);
	set = NULL;

	/* skipping rules */
	ok(one("{\"kty\":\"EC\",\"use\":\"enc\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_NO_VALID_KEYS,
	   "use enc skipped");
	ok(one("{\"kty\":\"EC\",\"use\":\"foo\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_NO_VALID_KEYS,
	   "use other than sig skipped");
	ok(one("{\"kty\":\"EC\",\"use\":1,\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWKS_NO_VALID_KEYS,
	   "use not a string skipped");
	ok(one("{\"kty\":\"EC\",\"key_ops\":[\"encrypt\",\"sign\"],\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_NO_VALID_KEYS,
	   "key_ops without verify skipped");
	ok(one("{\"kty\":\"EC\",\"key_ops\":\"verify\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") ==
	           JWKS_NO_VALID_KEYS,
	   "key_ops not an array skipped");
	ok(one("{\"kty\":\"EC\",\"key_ops\":[\"sign\",\"verify\"],\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}") == JWT_OK,
	   "key_ops with verify kept");
	ok(parse(gen_jwks_1024, &set, NULL, 0) == JWKS_RSA_PARSE_ERROR, "RSA 1024 bits skipped (33)");
	ok(one("{\"kty\":\"RSA\",\"n\":\"" ROCA_N "\",\"e\":\"AQAB\"}") == JWKS_RSA_PARSE_ERROR,
	   "ROCA modulus skipped (33)");
	ok(parse(gen_jwks_short_oct, &set, NULL, 0) == JWKS_OCT_BAD_BASE64, "oct 16 bytes skipped (37)");
	ok(one("{\"kty\":\"oct\",\"alg\":\"HS384\",\"k\":\"" K32 "\"}") == JWKS_OCT_BAD_BASE64,
	   "oct 32 bytes for HS384 skipped (37)");
	{
		/* even modulus: the A.2 n with the last byte 0xa1 -> 0xa0 */
		char jwk[1024];

		snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}", A2_N);
		jwk[strlen(jwk) - 3] = 'A';     /* "oQ" -> "oA": last byte 0xa1 -> 0xa0 */
		ok(one(jwk) == JWKS_RSA_PARSE_ERROR, "even RSA modulus skipped");
	}

	/* limits */
	n = JWKS_MAX_KEYS + 3;
	buf = malloc(n * 128 + 64);
	snprintf(buf, 64, "{\"keys\":[");
	for (i = 0; i < n; i++) {
		size_t len = strlen(buf);

		snprintf(buf + len, 128, "%s{\"kty\":\"oct\",\"kid\":\"k%zu\",\"k\":\"%s\"}", i ? "," : "", i, K32);
	}
	snprintf(buf + strlen(buf), 8, "]}");
	ok(parse(buf, &set, err, sizeof(err)) == JWT_OK && set->n_keys == JWKS_MAX_KEYS &&
	           strstr(err, "3 key(s) beyond the first 64 ignored"),
	   "%zu keys: %u kept, rest reported [%s]", n, JWKS_MAX_KEYS, err);
	jwks_unref(set);
	set = NULL;
	free(buf);

	buf = malloc(JWKS_MAX_BYTES + 2);
	memset(buf, ' ', JWKS_MAX_BYTES + 1);
	memcpy(buf, "{\"keys\":[]}", 11);
	buf[JWKS_MAX_BYTES + 1] = '\0';
	ok(parse(buf, &set, err, sizeof(err)) == JWKS_PARSE_ERROR && strstr(err, "larger"), "> JWKS_MAX_BYTES: 28 [%s]",
	   err);
	buf[JWKS_MAX_BYTES] = '\0';
	ok(parse(buf, &set, NULL, 0) == JWKS_NO_VALID_KEYS, "== JWKS_MAX_BYTES: parsed");
	free(buf);

	buf = malloc(4096);
	snprintf(buf, 4096, "{\"keys\":[],\"x\":");
	for (i = 0; i < 100; i++)
		snprintf(buf + strlen(buf), 4, "[");
	for (i = 0; i < 100; i++)
		snprintf(buf + strlen(buf), 4, "]");
	snprintf(buf + strlen(buf), 4, "}");
	ok(parse(buf, &set, err, sizeof(err)) == JWKS_PARSE_ERROR && strstr(err, "nested"), "deep nesting: 28 [%s]",
	   err);
	free(buf);
	ok(jwks_parse(NULL, 0, &set, err, sizeof(err)) == JWKS_PARSE_ERROR && !set, "NULL document: 28");
}

static void test_jwk_parse(void)
{
	struct jwk key;
	json_t *o = json_loads("{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y
	                       "\"}",
	                       0, NULL);
	json_t *bad = json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\"}", 0, NULL);
	json_t *arr = json_loads("[1]", 0, NULL);

	ok(jwk_parse(o, &key) == JWT_OK && key.kty == JWK_KTY_EC && strcmp(key.kid, "k1") == 0 && key.bits == 256 &&
	           key.alg == JWS_ALG_NONE,
	   "jwk_parse EC");
	jwk_clear(&key);
	ok(key.pkey == NULL && key.kid == NULL, "jwk_clear resets");
	jwk_clear(&key);
	jwk_clear(NULL);
	ok(jwk_parse(bad, &key) == JWKS_EC_KEY_MISSING_Y && !key.pkey && !key.kid, "failed jwk_parse leaves nothing");
	ok(jwk_parse(arr, &key) == JWKS_PARSE_ERROR, "jwk_parse of a non-object");
	ok(jwk_parse(NULL, &key) == JWKS_PARSE_ERROR, "jwk_parse of NULL");
	ok(ERR_peek_error() == 0, "no OpenSSL error left in the queue");
	json_decref(o);
	json_decref(bad);
	json_decref(arr);
}

static void *ref_worker(void *arg)
{
	struct jwks *set = arg;
	int i;

	for (i = 0; i < 100000; i++)
		jwks_unref(jwks_ref(set));
	return NULL;
}

static void test_refcount(void)
{
	struct jwks *set = NULL;
	pthread_t th[4];
	int i, started = 0;

	ok(parse(gen_jwks, &set, NULL, 0) == JWT_OK, "set for refcount");
	if (!set)
		return;
	ok(jwks_ref(set) == set && atomic_load(&set->refcount) == 2, "ref: 2");
	jwks_unref(set);
	ok(atomic_load(&set->refcount) == 1, "unref: 1");
	ok(jwks_ref(NULL) == NULL, "ref NULL");
	jwks_unref(NULL);
	for (i = 0; i < 4; i++)
		started += pthread_create(&th[i], NULL, ref_worker, jwks_ref(set)) == 0;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	ok(started == 4 && atomic_load(&set->refcount) == 5, "4 threads x 100000 ref/unref: count back to 5");
	for (i = 0; i < 5; i++)
		jwks_unref(set);        /* the last one frees; ASan reports a leak or a double free otherwise */
	ok(1, "last unref frees (checked by ASan)");
}

int main(void)
{
	test_good();
	test_jvl_statuses();
	test_set_level();
	test_jwk_parse();
	test_refcount();
	return t_done("test_jwks");
}
