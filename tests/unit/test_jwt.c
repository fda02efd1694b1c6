/*
 * jwt.c, b64.c, status.c: RFC 7515/8037 examples with a fixed clock, tokens
 * from independent signers (tests/vectors/gen_tokens.h, jwcrypto), every
 * parse status from a crafted token, time boundaries, kid/alg selection and
 * the usual attacks (../shared/notes/jwt.md §4.1).
 */
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

#define NOW_GEN (GEN_IAT + 10)

static const char *gen(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(gen_tokens) / sizeof(gen_tokens[0]); i++)
		if (strcmp(gen_tokens[i].name, name) == 0)
			return gen_tokens[i].token;
	printf("# no generated token %s\n", name);
	abort();
}

static struct jwks *set_of(const char *json)
{
	struct jwks *set = NULL;
	char err[256];
	enum jwt_status st = jwks_parse(json, strlen(json), &set, err, sizeof(err));

	if (st != JWT_OK)
		printf("# jwks_parse: %d %s (%s)\n", st, jwt_status_str(st), err);
	return set;
}

/* {"keys":[<jwk>]} */
static struct jwks *set_of_key(const char *jwk)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "{\"keys\":[%s]}", jwk);
	return set_of(buf);
}

static enum jwt_status parse_st(const char *tok)
{
	struct jwt j;
	enum jwt_status st = jwt_parse(tok, strlen(tok), &j);

	jwt_free(&j);
	return st;
}

/* parse, time (skew 60), signature: the order Envoy applies them */
static enum jwt_status full(const char *tok, const struct jwks *keys, uint64_t now)
{
	struct jwt j;
	enum jwt_status st = jwt_parse(tok, strlen(tok), &j);

	if (st != JWT_OK)
		return st;
	st = jwt_check_time(&j, now, 60);
	if (st == JWT_OK)
		st = jwt_verify_jwks(&j, keys, NULL);
	jwt_free(&j);
	return st;
}

/* b64url(header) "." b64url(payload) "." <sig_b64> into a static buffer */
static const char *craft(const char *hdr, const char *payload, const char *sig_b64)
{
	static char buf[3][16384];
	static int which;
	char *b = buf[which++ % 3];
	long n;

	n = b64url_encode((const uint8_t *)hdr, strlen(hdr), b, sizeof(buf[0]));
	b[n++] = '.';
	n += b64url_encode((const uint8_t *)payload, strlen(payload), b + n, sizeof(buf[0]) - (size_t)n);
	snprintf(b + n, sizeof(buf[0]) - (size_t)n, ".%s", sig_b64);
	return b;
}

#define HDR_RS256 "{\"alg\":\"RS256\"}"
#define PAY_OK "{\"sub\":\"x\"}"
#define SIG "c2ln"

/* strcat without strcat (poisoned in the tree, style.md §5) */
static void app(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, cap - n, "%s", s);
}

/* Replaces the signature of <tok> by <sig>/<len> (static buffer). */
static const char *with_sig(const char *tok, const uint8_t *sig, size_t len)
{
	static char buf[16384];
	const char *d2 = strrchr(tok, '.');
	size_t si = (size_t)(d2 - tok) + 1;

	memcpy(buf, tok, si);
	b64url_encode(sig, len, buf + si, sizeof(buf) - si);
	return buf;
}

/* decoded signature of <tok> into <out>; returns its length */
static size_t sig_of(const char *tok, uint8_t *out, size_t room)
{
	const char *d2 = strrchr(tok, '.') + 1;

	return (size_t)b64url_decode(d2, strlen(d2), out, room);
}

static void test_status(void)
{
	int i, n_null = 0;

	ok(strcmp(jwt_status_str(JWT_MISSED), "Jwt is missing") == 0, "status 1 string");
	ok(strcmp(jwt_status_str(JWT_EXPIRED), "Jwt is expired") == 0, "status 3 string");
	ok(strcmp(jwt_status_str(JWT_BAD_FORMAT),
	          "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections") == 0,
	   "status 4 string");
	ok(strcmp(jwt_status_str(JWT_VERIFICATION_FAIL), "Jwt verification fails") == 0, "status 26 string");
	ok(strcmp(jwt_status_str(JWKS_KID_ALG_MISMATCH), "Jwks doesn't have key to match kid or alg from Jwt") == 0,
	   "status 32 string");
	ok(strcmp(jwt_status_str(JWKS_EC_X_OR_Y_BAD_BASE64), "Jwks EC [x] or [y] field is an invalid Base64.") == 0,
	   "status 35 string (trailing period)");
	ok(strcmp(jwt_status_str(JWKS_FETCH_FAIL), "Jwks remote fetch is failed") == 0, "status 40 string");
	ok(strcmp(jwt_status_str(JWT_OK), "OK") == 0, "status 0 string");
	ok(strcmp(jwt_status_str(JWKS_BIO_ALLOC_ERROR), "Failed to create BIO due to memory allocation failure") == 0,
	   "status 72 string");
	ok(strcmp(jwt_status_str(JWT_HEADER_BAD_BASE64), "Jwt header is an invalid Base64url encoded") == 0,
	   "status 5 string");
	ok(strcmp(jwt_status_str(JWKS_OKP_X_WRONG_LENGTH), "Jwks OKP [x] field is wrong length.") == 0,
	   "status 39 string");
	ok(strcmp(jwt_status_name(JWT_MISSED), "JwtMissed") == 0, "status 1 name");
	ok(strcmp(jwt_status_name(JWKS_OKP_X_BAD_BASE64), "JwksOKPXBadBase64") == 0, "status 38 name");
	for (i = 0; i < JWT_STATUS_COUNT; i++)
		n_null += !jwt_status_str((enum jwt_status)i)[0] || !jwt_status_name((enum jwt_status)i)[0];
	ok(n_null == 0, "all %d statuses have a string and a name", JWT_STATUS_COUNT);
	ok(JWT_STATUS_COUNT >= 73 && JWKS_BIO_ALLOC_ERROR == 72, "jwt_verify_lib numbering kept (0..72)");
	ok(jwt_status_str(JWT_STATUS_COUNT) != NULL && jwt_status_str((enum jwt_status)-1) != NULL &&
	           jwt_status_name(JWT_STATUS_COUNT) != NULL,
	   "out-of-range status is not NULL");
	ok(jwt_status_http(JWT_AUDIENCE_NOT_ALLOWED) == 403, "audience -> 403");
	ok(jwt_status_http(JWT_EXPIRED) == 401 && jwt_status_http(JWT_MISSED) == 401 &&
	           jwt_status_http(JWKS_FETCH_FAIL) == 401 && jwt_status_http(JWT_VERIFICATION_FAIL) == 401,
	   "others -> 401");
	ok(jwt_status_http(JWT_OK) == 200, "JWT_OK -> 200");
}

static void test_b64(void)
{
	uint8_t out[64];
	char enc[64];
	long n;

	n = b64url_decode("", 0, out, sizeof(out));
	ok(n == 0, "b64 empty");
	n = b64url_decode("Zm9v", 4, out, sizeof(out));
	ok(n == 3 && memcmp(out, "foo", 3) == 0, "b64 foo");
	n = b64url_decode("Zm8", 3, out, sizeof(out));
	ok(n == 2 && memcmp(out, "fo", 2) == 0, "b64 fo");
	n = b64url_decode("Zg", 2, out, sizeof(out));
	ok(n == 1 && out[0] == 'f', "b64 f");
	ok(b64url_decode("Zg==", 4, out, sizeof(out)) == -1, "b64 padding refused");
	ok(b64url_decode("Zh", 2, out, sizeof(out)) == -1, "b64 non-zero unused bits (2 chars) refused");
	ok(b64url_decode("Zm9", 3, out, sizeof(out)) == -1, "b64 non-zero unused bits (3 chars) refused");
	ok(b64url_decode("Zm9vY", 5, out, sizeof(out)) == -1, "b64 length 1 mod 4 refused");
	ok(b64url_decode("Zm+v", 4, out, sizeof(out)) == -1, "b64 '+' refused");
	ok(b64url_decode("Zm/v", 4, out, sizeof(out)) == -1, "b64 '/' refused");
	ok(b64url_decode("Zm v", 4, out, sizeof(out)) == -1, "b64 space refused");
	ok(b64url_decode("Zm\0v", 4, out, sizeof(out)) == -1, "b64 NUL refused");
	ok(b64url_decode("-_-_", 4, out, sizeof(out)) == 3 && out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf,
	   "b64 url alphabet");
	ok(b64url_decode("Zm9vYmFy", 8, out, 5) == -1, "b64 room too small");
	n = b64url_encode((const uint8_t *)"\xfb\xff\xbf\x01", 4, enc, sizeof(enc));
	ok(n == 6 && strcmp(enc, "-_-_AQ") == 0, "b64 encode, no padding");
	ok(b64url_encode((const uint8_t *)"abc", 3, enc, 4) == -1, "b64 encode room for NUL");
}

static void test_rfc7515(void)
{
	struct jwks *a1 = set_of_key(rfc7515_a1_jwk), *a2 = set_of_key(rfc7515_a2_jwk);
	struct jwks *a3 = set_of_key(rfc7515_a3_jwk), *a4 = set_of_key(rfc7515_a4_jwk);
	struct jwks *ed = set_of_key(rfc8037_jwk);
	const uint64_t now = 1300819000;
	uint8_t sig[600];
	char tok[2048];
	const char *d1, *d2;
	struct jwt j;
	size_t len, i;
	int bad;

	ok(a1 && a2 && a3 && a4 && ed, "RFC example keys parse");
	if (!a1 || !a2 || !a3 || !a4 || !ed)
		goto out;
	ok(a2->keys[0].bits == 2048, "A.2 key is 2048 bits");

	/* A.2 RS256: claims, fixed clock */
	ok(jwt_parse(rfc7515_a2_token, strlen(rfc7515_a2_token), &j) == JWT_OK, "A.2 parses (CRLF in payload)");
	ok(j.alg == JWS_RS256 && strcmp(j.alg_name, "RS256") == 0 && !j.kid, "A.2 alg RS256, no kid");
	ok(j.iss && strcmp(j.iss, "joe") == 0 && j.exp == RFC7515_EXP && !j.nbf && !j.iat && !j.sub,
	   "A.2 claims");
	ok(j.sig_len == 256, "A.2 sig 256 bytes");
	ok(j.signing_input == rfc7515_a2_token && j.signing_input_len == strlen(rfc7515_a2_token) - 343,
	   "A.2 signing input is the received text");
	ok(jwt_verify_jwks(&j, a2, NULL) == JWT_OK, "A.2 verifies");
	jwt_free(&j);
	ok(full(rfc7515_a2_token, a2, now) == JWT_OK, "A.2 ok at now=1300819000");
	ok(full(rfc7515_a2_token, a2, RFC7515_EXP + 60) == JWT_OK, "A.2 ok at exp+skew");
	ok(full(rfc7515_a2_token, a2, RFC7515_EXP + 61) == JWT_EXPIRED, "A.2 expired at exp+skew+1");
	ok(full(rfc7515_a2_token, a2, 1700000000) == JWT_EXPIRED, "A.2 expired much later");
	ok(full(rfc7515_a2_token, a1, now) == JWT_VERIFICATION_FAIL, "A.2 with the A.1 oct key: 26");
	ok(full(rfc7515_a2_token, a3, now) == JWT_VERIFICATION_FAIL, "A.2 with the A.3 EC key: 26");

	/* A.2 with one bit flipped in header, payload, signature */
	d1 = strchr(rfc7515_a2_token, '.');
	d2 = strrchr(rfc7515_a2_token, '.');
	/* header {"alg":"RS256"}: '6' -> '7' gives alg RS257 */
	ok(full(craft("{\"alg\":\"RS257\"}", "{}", "AA"), a2, now) == JWT_HEADER_NOT_IMPLEMENTED_ALG,
	   "header bit flip in alg value: 8");
	/* first character 'e' -> 'f' makes the first byte 0x7f: not JSON */
	snprintf(tok, sizeof(tok), "%s", rfc7515_a2_token);
	tok[0] = 'f';
	ok(full(tok, a2, now) == JWT_HEADER_BAD_JSON, "header bit flip in '{': 6");
	/* header {"alg":"RS384"}: valid, but the signature does not match */
	snprintf(tok, sizeof(tok), "eyJhbGciOiJSUzM4NCJ9%s", d1);
	ok(full(tok, a2, now) == JWT_VERIFICATION_FAIL, "header changed to RS384: 26");
	snprintf(tok, sizeof(tok), "%s", rfc7515_a2_token);
	tok[3] = '*';
	ok(full(tok, a2, now) == JWT_HEADER_BAD_BASE64, "header char not base64url: 5");
	/* payload: "joe" -> "jof" (one bit) keeps valid JSON: signature fails */
	{
		char pay[] = "{\"iss\":\"jof\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

		snprintf(tok, sizeof(tok), "%s", craft("{\"alg\":\"RS256\"}", pay, d2 + 1));
		ok(full(tok, a2, now) == JWT_VERIFICATION_FAIL, "payload bit flip (iss): 26");
		pay[0] ^= 0x01;
		snprintf(tok, sizeof(tok), "%s", craft("{\"alg\":\"RS256\"}", pay, d2 + 1));
		ok(full(tok, a2, now) == JWT_PAYLOAD_BAD_JSON, "payload bit flip in '{': 11");
	}
	snprintf(tok, sizeof(tok), "%s", rfc7515_a2_token);
	tok[d1 - rfc7515_a2_token + 2] = '=';
	ok(full(tok, a2, now) == JWT_PAYLOAD_BAD_BASE64, "payload '=' inside: 10");
	/* signature: every single-bit flip fails (JVL test_common.h idea) */
	len = sig_of(rfc7515_a2_token, sig, sizeof(sig));
	for (i = 0, bad = 0; i < len * 8; i++) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		bad += full(with_sig(rfc7515_a2_token, sig, len), a2, now) != JWT_VERIFICATION_FAIL;
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	ok(bad == 0, "A.2: all %zu signature bit flips give 26", len * 8);
	ok(full(with_sig(rfc7515_a2_token, sig, len - 1), a2, now) == JWT_VERIFICATION_FAIL, "A.2 sig -1 byte: 26");
	memmove(sig + 1, sig, len);
	sig[0] = 0;
	ok(full(with_sig(rfc7515_a2_token, sig, len + 1), a2, now) == JWT_VERIFICATION_FAIL,
	   "A.2 sig with a leading zero byte: 26");
	snprintf(tok, sizeof(tok), "%s", rfc7515_a2_token);
	tok[strlen(tok) - 1] = '+';
	ok(full(tok, a2, now) == JWT_SIGNATURE_BAD_BASE64, "sig char '+': 22");
	snprintf(tok, sizeof(tok), "%s", rfc7515_a2_token);
	tok[strlen(tok) - 1] = 'x';     /* "Rw" -> "Rx": non-zero unused bits */
	ok(full(tok, a2, now) == JWT_SIGNATURE_BAD_BASE64, "sig non-canonical last char: 22");

	/* A.1 HS256 (header with CRLF and typ) */
	ok(full(rfc7515_a1_token, a1, now) == JWT_OK, "A.1 HS256 verifies");
	ok(full(rfc7515_a1_token, a2, now) == JWT_VERIFICATION_FAIL, "A.1 HS256 with the RSA key: 26");
	/* A.3 ES256 */
	ok(full(rfc7515_a3_token, a3, now) == JWT_OK, "A.3 ES256 verifies");
	ok(full(rfc7515_a3_token, a4, now) == JWT_VERIFICATION_FAIL, "A.3 ES256 with the P-521 key: 26");
	len = sig_of(rfc7515_a3_token, sig, sizeof(sig));
	for (i = 0, bad = 0; i < len * 8; i++) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		bad += full(with_sig(rfc7515_a3_token, sig, len), a3, now) != JWT_VERIFICATION_FAIL;
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	ok(bad == 0, "A.3: all %zu signature bit flips give 26", len * 8);

	/* A.4 ES512: payload "Payload" is not a claims set */
	ok(parse_st(rfc7515_a4_token) == JWT_PAYLOAD_BAD_JSON, "A.4 as a JWT: 11 (payload not JSON)");
	d2 = strrchr(rfc7515_a4_token, '.');
	len = sig_of(rfc7515_a4_token, sig, sizeof(sig));
	ok(len == 132, "A.4 sig 132 bytes");
	ok(jws_verify_raw(JWS_ES512, &a4->keys[0], (const uint8_t *)rfc7515_a4_token,
	                  (size_t)(d2 - rfc7515_a4_token), sig, len) == 1,
	   "A.4 ES512 verifies at the signature layer");
	ok(jws_verify_raw(JWS_ES256, &a4->keys[0], (const uint8_t *)rfc7515_a4_token,
	                  (size_t)(d2 - rfc7515_a4_token), sig, len) == 0,
	   "A.4 signature with alg ES256 on the P-521 key: refused");
	ok(jws_verify_raw(JWS_ES512, &a3->keys[0], (const uint8_t *)rfc7515_a4_token,
	                  (size_t)(d2 - rfc7515_a4_token), sig, len) == 0,
	   "ES512 on a P-256 key: refused");

	/* RFC 8037 A.4 EdDSA: payload is text too */
	ok(parse_st(rfc8037_a4_token) == JWT_PAYLOAD_BAD_JSON, "RFC 8037 A.4 as a JWT: 11");
	d2 = strrchr(rfc8037_a4_token, '.');
	len = sig_of(rfc8037_a4_token, sig, sizeof(sig));
	ok(jws_verify_raw(JWS_EDDSA, &ed->keys[0], (const uint8_t *)rfc8037_a4_token,
	                  (size_t)(d2 - rfc8037_a4_token), sig, len) == 1,
	   "RFC 8037 A.4 Ed25519 verifies at the signature layer");
	sig[10] ^= 4;
	ok(jws_verify_raw(JWS_EDDSA, &ed->keys[0], (const uint8_t *)rfc8037_a4_token,
	                  (size_t)(d2 - rfc8037_a4_token), sig, len) == 0,
	   "RFC 8037 A.4 with a flipped bit: refused");

	/* A.5 alg none */
	ok(parse_st(rfc7515_a5_token) == JWT_BAD_FORMAT, "A.5 as published (empty signature): 4");
	snprintf(tok, sizeof(tok), "%sAAAA", rfc7515_a5_token);
	ok(parse_st(tok) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "A.5 with a signature appended: 8");
	ok(full(craft("{\"alg\":\"None\"}", PAY_OK, SIG), a2, now) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg None: 8");
	ok(full(craft("{\"alg\":\"NONE\"}", PAY_OK, SIG), a2, now) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg NONE: 8");
	ok(full(craft("{\"alg\":\"nOnE\"}", PAY_OK, SIG), a2, now) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg nOnE: 8");
out:
	jwks_unref(a1);
	jwks_unref(a2);
	jwks_unref(a3);
	jwks_unref(a4);
	jwks_unref(ed);
}

static void test_generated(void)
{
	static const char *const algs[] = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
		                            "ES384", "ES512", "EdDSA", "Ed25519", "HS256", "HS384", "HS512" };
	static const char *const kids[] = { "rsa", "rsa", "rsa", "rsa", "rsa", "rsa", "ec256",
		                            "ec384", "ec521", "ed", "ed", "hs", "hs", "hs" };
	struct jwks *set = set_of(gen_jwks);
	const struct jwk *used;
	uint8_t sig[600];
	struct jwt j;
	size_t i, k, len;
	int bad;

	ok(set && set->n_keys == 6, "generated JWKS: 6 keys");
	if (!set)
		return;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		const char *tok = gen(algs[i]);
		enum jwt_status st = jwt_parse(tok, strlen(tok), &j);

		if (st == JWT_OK)
			st = jwt_check_time(&j, NOW_GEN, 60);
		if (st == JWT_OK)
			st = jwt_verify_jwks(&j, set, &used);
		ok(st == JWT_OK && used && strcmp(used->kid, kids[i]) == 0, "%s (jwcrypto) verifies with kid %s: %d",
		   algs[i], kids[i], st);
		if (st == JWT_OK && i == 0)
			ok(strcmp(j.iss, "https://issuer.example") == 0 && strcmp(j.sub, "user-1") == 0 &&
			           j.n_aud == 2 && strcmp(j.aud[0], "api") == 0 && strcmp(j.aud[1], "other") == 0 &&
			           j.iat == GEN_IAT && j.nbf == GEN_NBF && j.exp == GEN_EXP,
			   "claims read back");
		if (st == JWT_OK && strcmp(algs[i], "Ed25519") == 0)
			ok(j.alg == JWS_EDDSA && strcmp(j.alg_name, "Ed25519") == 0, "Ed25519 is EdDSA, name kept");
		jwt_free(&j);
		/* bit flips in the signature, for one alg of each family */
		if (i == 3 || i == 8 || i == 9 || i == 13) {
			len = sig_of(tok, sig, sizeof(sig));
			for (k = 0, bad = 0; k < len * 8; k += (i == 3 ? 7 : 1)) {
				sig[k / 8] ^= (uint8_t)(1u << (k % 8));
				bad += full(with_sig(tok, sig, len), set, NOW_GEN) != JWT_VERIFICATION_FAIL;
				sig[k / 8] ^= (uint8_t)(1u << (k % 8));
			}
			ok(bad == 0, "%s: signature bit flips give 26", algs[i]);
			for (k = 0, bad = 0; k < len; k++) {
				enum jwt_status want = strcmp(algs[i], "EdDSA") == 0 ? JWT_ED25519_SIGNATURE_WRONG_LENGTH
				                                                     : JWT_VERIFICATION_FAIL;

				if (k == 0 && want == JWT_VERIFICATION_FAIL)
					continue; /* an empty signature is a format error */
				bad += full(with_sig(tok, sig, k), set, NOW_GEN) != (k ? want : JWT_BAD_FORMAT);
			}
			ok(bad == 0, "%s: every truncation refused", algs[i]);
		}
	}
	/* time */
	ok(full(gen("RS256"), set, GEN_NBF - 61) == JWT_NOT_YET_VALID, "nbf - skew - 1: 2");
	ok(full(gen("RS256"), set, GEN_NBF - 60) == JWT_OK, "nbf - skew: ok");
	ok(full(gen("RS256"), set, GEN_EXP + 60) == JWT_OK, "exp + skew: ok");
	ok(full(gen("RS256"), set, GEN_EXP + 61) == JWT_EXPIRED, "exp + skew + 1: 3");

	/* kid selection */
	ok(full(gen("RS256_WRONGKID"), set, NOW_GEN) == JWKS_KID_ALG_MISMATCH, "unknown kid: 32");
	ok(jwt_parse(gen("RS256_NOKID"), strlen(gen("RS256_NOKID")), &j) == JWT_OK &&
	           jwt_verify_jwks(&j, set, &used) == JWT_OK && strcmp(used->kid, "rsa") == 0,
	   "no kid: every key tried, the RSA one verifies");
	jwt_free(&j);
	ok(full(gen("ES256_KID_EC384"), set, NOW_GEN) == JWT_VERIFICATION_FAIL,
	   "ES256 naming the P-384 key (no alg): candidate, curve mismatch: 26");
	ok(full(gen("ES256_EMBEDDED_JWK"), set, NOW_GEN) == JWT_VERIFICATION_FAIL,
	   "embedded jwk/jku/x5u never used: 26");
	ok(full(gen("ES256_JKU_OK"), set, NOW_GEN) == JWT_OK, "jku/x5u headers ignored on a good token");

	/* hostile */
	ok(full(gen("HS256_RSA_PEM"), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "HS256 MACed with the RSA PEM: 26");
	ok(full(gen("HS256_RSA_N"), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "HS256 MACed with the RSA n bytes: 26");
	ok(full(gen("HS256_EC_POINT"), set, NOW_GEN) == JWKS_KID_ALG_MISMATCH,
	   "HS256 MACed with the EC point, kid of an ES256 key: 32");
	ok(full(gen("ES256_DER"), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "ES256 with a DER signature: 26");
	ok(full(gen("PS256_MAXSALT"), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "PS256 with max salt length: 26");
	ok(full(gen("PS256_MGF1SHA1"), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "PS256 with MGF1-SHA1: 26");
	memset(sig, 0, 64);
	ok(full(with_sig(gen("ES256"), sig, 64), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "ES256 r = s = 0: 26");
	len = sig_of(gen("ES256"), sig, sizeof(sig));
	sig[len] = 0;
	ok(full(with_sig(gen("ES256"), sig, 65), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "ES256 65-byte sig: 26");
	memmove(sig + 1, sig, len);
	sig[0] = 0;
	ok(full(with_sig(gen("ES256"), sig, 65), set, NOW_GEN) == JWT_VERIFICATION_FAIL,
	   "ES256 sig with a leading zero: 26");
	{
		/* r = n (P-256 order), s = 1 */
		static const uint8_t n256[32] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
			                          0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
			                          0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 };

		memcpy(sig, n256, 32);
		memset(sig + 32, 0, 32);
		sig[63] = 1;
		ok(full(with_sig(gen("ES256"), sig, 64), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "ES256 r = n: 26");
	}
	len = sig_of(gen("HS256"), sig, sizeof(sig));
	ok(full(with_sig(gen("HS256"), sig, 16), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "HS256 truncated tag: 26");
	/* HS384 tag under an HS256 header (same key) */
	len = sig_of(gen("HS384"), sig, sizeof(sig));
	ok(full(with_sig(gen("HS256"), sig, len), set, NOW_GEN) == JWT_VERIFICATION_FAIL, "HS256 with 48-byte tag: 26");
	/* Ed25519 wrong length: 23, as JVL */
	len = sig_of(gen("EdDSA"), sig, sizeof(sig));
	ok(full(with_sig(gen("EdDSA"), sig, 63), set, NOW_GEN) == JWT_ED25519_SIGNATURE_WRONG_LENGTH,
	   "EdDSA 63-byte sig: 23");
	ok(full(with_sig(gen("EdDSA"), sig, 65), set, NOW_GEN) == JWT_ED25519_SIGNATURE_WRONG_LENGTH,
	   "EdDSA 65-byte sig: 23");

	/* the primitive alone */
	{
		const char *tok = gen("RS256"), *d2 = strrchr(tok, '.');
		const struct jwk *rsa = &set->keys[0], *ec = &set->keys[1], *hs = &set->keys[5];

		len = sig_of(tok, sig, sizeof(sig));
		ok(jws_verify_raw(JWS_RS256, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 1,
		   "raw RS256 ok");
		ok(jws_verify_raw(JWS_PS256, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0,
		   "raw: PKCS#1 v1.5 signature as PS256 refused");
		ok(jws_verify_raw(JWS_RS384, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0,
		   "raw: RS256 signature as RS384 refused");
		ok(jws_verify_raw(JWS_HS256, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, 32) == 0,
		   "raw: HS256 on an RSA key refused");
		ok(jws_verify_raw(JWS_RS256, hs, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0,
		   "raw: RS256 on an oct key refused");
		ok(jws_verify_raw(JWS_ES384, ec, (const uint8_t *)tok, (size_t)(d2 - tok), sig, 96) == 0,
		   "raw: ES384 on a key with alg ES256 refused");
		ok(jws_verify_raw(JWS_ALG_NONE, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0 &&
		           jws_verify_raw(JWS_RS256, NULL, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0 &&
		           jws_verify_raw((enum jws_alg)99, rsa, (const uint8_t *)tok, (size_t)(d2 - tok), sig, len) == 0,
		   "raw: none / NULL key / bad alg refused");
		ok(ERR_peek_error() == 0, "no OpenSSL error left in the queue");
	}
	/* key alg binding: oct key with alg HS512 is not a candidate for HS256 */
	{
		char buf[512];
		struct jwks *s512;

		snprintf(buf, sizeof(buf), "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS512\",\"kid\":\"hs\",\"k\":\"%s\"}]}",
		         gen_hs_secret_b64);
		s512 = set_of(buf);
		ok(s512 && full(gen("HS256"), s512, NOW_GEN) == JWKS_KID_ALG_MISMATCH &&
		           full(gen("HS512"), s512, NOW_GEN) == JWT_OK,
		   "key alg HS512: HS256 token 32, HS512 ok");
		jwks_unref(s512);
	}
	ok(jwt_parse(gen("RS256"), strlen(gen("RS256")), &j) == JWT_OK && jwt_verify_jwks(&j, NULL, NULL) ==
	           JWKS_KID_ALG_MISMATCH,
	   "no key set: 32");
	jwt_free(&j);
	jwks_unref(set);
}

/* one crafted token per parse status 4..22 (23 is in test_generated) */
static void test_statuses(void)
{
	static const char deep_pre[] = "{\"alg\":\"RS256\",\"x\":";
	char *big, *deep;
	size_t i;

	/* 4 */
	ok(parse_st("") == JWT_BAD_FORMAT, "empty: 4");
	ok(parse_st("abc") == JWT_BAD_FORMAT, "no dot: 4");
	ok(parse_st("a.b") == JWT_BAD_FORMAT, "one dot: 4");
	ok(parse_st("a.b.c.d") == JWT_BAD_FORMAT, "three dots: 4");
	ok(parse_st(".b.c") == JWT_BAD_FORMAT, "empty header: 4");
	ok(parse_st("a..c") == JWT_BAD_FORMAT, "empty payload: 4");
	ok(parse_st("a.b.") == JWT_BAD_FORMAT, "empty signature: 4");
	{
		char tok[256];

		snprintf(tok, sizeof(tok), "%s.", craft(HDR_RS256, PAY_OK, SIG));
		ok(parse_st(tok) == JWT_BAD_FORMAT, "h.p.s. (JVL accepts; Wycheproof tc 14): 4");
		snprintf(tok, sizeof(tok), ".%s", craft(HDR_RS256, PAY_OK, SIG));
		ok(parse_st(tok) == JWT_BAD_FORMAT, ".h.p.s: 4");
	}
	ok(parse_st("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgc"
	            "kCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2"
	            "Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eO"
	            "bdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_"
	            "ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XF"
	            "BoMYUZodetZdvTiFvSkQ") == JWT_BAD_FORMAT,
	   "5-segment JWE (RFC 7516 A.1): 4");
	ok(parse_st("{\"payload\":\"Zm9v\",\"signatures\":[]}") == JWT_BAD_FORMAT, "JSON serialization: 4");
	big = malloc(100 * 1024 + 1);
	memset(big, 'A', 100 * 1024);
	big[100] = '.';
	big[200] = '.';
	big[100 * 1024] = '\0';
	ok(parse_st(big) == JWT_BAD_FORMAT, "100 KB token: 4");
	memcpy(big, craft(HDR_RS256, PAY_OK, SIG), strlen(craft(HDR_RS256, PAY_OK, SIG)));
	big[JWT_MAX_TOKEN_LEN + 1] = '\0';
	ok(parse_st(big) == JWT_BAD_FORMAT, "JWT_MAX_TOKEN_LEN + 1 bytes: 4");
	free(big);
	{
		/* exactly JWT_MAX_TOKEN_LEN: a padded claim brings it to the cap */
		char pay[JWT_MAX_TOKEN_LEN], tok[JWT_MAX_TOKEN_LEN * 2];
		size_t n;

		for (n = 8; n < sizeof(pay) - 16; n++) {
			snprintf(pay, sizeof(pay), "{\"x\":\"%*s\"}", (int)n, "");
			snprintf(tok, sizeof(tok), "%s", craft(HDR_RS256, pay, SIG));
			if (strlen(tok) >= JWT_MAX_TOKEN_LEN - 3)
				break;
		}
		while (strlen(tok) < JWT_MAX_TOKEN_LEN)
			app(tok, sizeof(tok), "A");
		if ((strlen(tok) - (size_t)(strrchr(tok, '.') + 1 - tok)) % 4 == 1)
			tok[strlen(tok) - 1] = '\0';
		ok(strlen(tok) <= JWT_MAX_TOKEN_LEN && parse_st(tok) == JWT_OK, "token of %zu bytes (<= cap) parses",
		   strlen(tok));
	}
	/* 5 */
	ok(parse_st("eyJhbGciOiJSUzI1NiJ9=.e30.c2ln") == JWT_HEADER_BAD_BASE64, "header padding: 5");
	ok(parse_st("e.e30.c2ln") == JWT_HEADER_BAD_BASE64, "header 1 char: 5");
	ok(parse_st("ey Jh.e30.c2ln") == JWT_HEADER_BAD_BASE64, "header space: 5");
	/* 6 */
	ok(parse_st(craft("not json", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "header not JSON: 6");
	ok(parse_st(craft("[\"alg\",\"RS256\"]", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "header array: 6");
	ok(parse_st(craft("\"RS256\"", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "header string: 6");
	ok(parse_st(craft("{\"alg\":\"HS256\",\"alg\":\"RS256\"}", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON,
	   "duplicate alg: 6");
	ok(parse_st(craft("{\"alg\":\"RS256\"} x", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "trailing garbage: 6");
	ok(parse_st(craft("{\"alg\":\"RS\\u0000256\"}", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "NUL in string: 6");
	ok(parse_st(craft("{\"alg\":\"RS256\",\"x\":\"\xff\"}", PAY_OK, SIG)) == JWT_HEADER_BAD_JSON,
	   "invalid UTF-8: 6");
	deep = malloc(4096);
	snprintf(deep, 4096, "%s", deep_pre);
	for (i = 0; i < 40; i++)
		app(deep, 4096, "[");
	for (i = 0; i < 40; i++)
		app(deep, 4096, "]");
	app(deep, 4096, "}");
	ok(parse_st(craft(deep, PAY_OK, SIG)) == JWT_HEADER_BAD_JSON, "header nested 41 deep: 6");
	snprintf(deep, 4096, "%s", deep_pre);
	for (i = 0; i < 30; i++)
		app(deep, 4096, "[");
	for (i = 0; i < 30; i++)
		app(deep, 4096, "]");
	app(deep, 4096, "}");
	ok(parse_st(craft(deep, PAY_OK, SIG)) == JWT_OK, "header nested 31 deep: ok");
	snprintf(deep, 4096, "%s", "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}");
	ok(parse_st(craft(HDR_RS256, deep, SIG)) == JWT_OK, "brackets inside strings do not count");
	for (i = 0, deep[0] = '\0'; i < 2000; i++)
		app(deep, 4096, "[");
	ok(parse_st(craft(HDR_RS256, deep, SIG)) == JWT_PAYLOAD_BAD_JSON, "payload nested 2000 deep: 11");
	free(deep);
	/* 7 */
	ok(parse_st(craft("{\"typ\":\"JWT\"}", PAY_OK, SIG)) == JWT_HEADER_BAD_ALG, "no alg: 7");
	ok(parse_st(craft("{\"alg\":256}", PAY_OK, SIG)) == JWT_HEADER_BAD_ALG, "alg number: 7");
	ok(parse_st(craft("{\"alg\":null}", PAY_OK, SIG)) == JWT_HEADER_BAD_ALG, "alg null: 7");
	ok(parse_st(craft("{\"alg\":[\"RS256\"]}", PAY_OK, SIG)) == JWT_HEADER_BAD_ALG, "alg array: 7");
	/* 8 */
	ok(parse_st(craft("{\"alg\":\"none\"}", PAY_OK, SIG)) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg none: 8");
	ok(parse_st(craft("{\"alg\":\"rs256\"}", PAY_OK, SIG)) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg rs256: 8");
	ok(parse_st(craft("{\"alg\":\"ES256K\"}", PAY_OK, SIG)) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg ES256K: 8");
	ok(parse_st(craft("{\"alg\":\"Ed448\"}", PAY_OK, SIG)) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg Ed448: 8");
	ok(parse_st(craft("{\"alg\":\"\"}", PAY_OK, SIG)) == JWT_HEADER_NOT_IMPLEMENTED_ALG, "alg empty: 8");
	ok(parse_st(craft("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", PAY_OK, SIG)) ==
	           JWT_HEADER_NOT_IMPLEMENTED_ALG,
	   "JWE alg in 3 segments: 8");
	/* 9 */
	ok(parse_st(craft("{\"alg\":\"RS256\",\"kid\":7}", PAY_OK, SIG)) == JWT_HEADER_BAD_KID, "kid number: 9");
	ok(parse_st(craft("{\"alg\":\"RS256\",\"kid\":null}", PAY_OK, SIG)) == JWT_HEADER_BAD_KID, "kid null: 9");
	/* crit / b64 (our choice: 26, see jwt.c) */
	ok(parse_st(craft("{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", PAY_OK, SIG)) == JWT_VERIFICATION_FAIL,
	   "crit: 26");
	ok(parse_st(craft("{\"alg\":\"RS256\",\"crit\":[]}", PAY_OK, SIG)) == JWT_VERIFICATION_FAIL, "crit []: 26");
	ok(parse_st(craft("{\"alg\":\"RS256\",\"b64\":false}", PAY_OK, SIG)) == JWT_VERIFICATION_FAIL,
	   "b64 false: 26");
	ok(parse_st(craft("{\"alg\":\"RS256\",\"b64\":true}", PAY_OK, SIG)) == JWT_OK, "b64 true: ok");
	/* 10 */
	ok(parse_st("eyJhbGciOiJSUzI1NiJ9.e30=.c2ln") == JWT_PAYLOAD_BAD_BASE64, "payload padding: 10");
	ok(parse_st("eyJhbGciOiJSUzI1NiJ9.e3?0.c2ln") == JWT_PAYLOAD_BAD_BASE64, "payload '?': 10");
	/* 11 */
	ok(parse_st(craft(HDR_RS256, "[]", SIG)) == JWT_PAYLOAD_BAD_JSON, "payload array: 11");
	ok(parse_st(craft(HDR_RS256, "hello", SIG)) == JWT_PAYLOAD_BAD_JSON, "payload text: 11");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":1,\"exp\":2}", SIG)) == JWT_PAYLOAD_BAD_JSON, "duplicate exp: 11");
	ok(parse_st(craft(HDR_RS256, "{\"sub\":\"a\",\"sub\":\"b\"}", SIG)) == JWT_PAYLOAD_BAD_JSON,
	   "duplicate sub: 11");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":1e400}", SIG)) == JWT_PAYLOAD_BAD_JSON, "exp 1e400 (inf): 11");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":NaN}", SIG)) == JWT_PAYLOAD_BAD_JSON, "exp NaN: 11");
	/* 12..21 */
	ok(parse_st(craft(HDR_RS256, "{\"iss\":1}", SIG)) == JWT_PAYLOAD_ISS_NOT_STRING, "iss number: 12");
	ok(parse_st(craft(HDR_RS256, "{\"iss\":null}", SIG)) == JWT_PAYLOAD_ISS_NOT_STRING, "iss null: 12");
	ok(parse_st(craft(HDR_RS256, "{\"sub\":[\"a\"]}", SIG)) == JWT_PAYLOAD_SUB_NOT_STRING, "sub array: 13");
	ok(parse_st(craft(HDR_RS256, "{\"iat\":\"1\"}", SIG)) == JWT_PAYLOAD_IAT_NOT_INTEGER, "iat string: 14");
	ok(parse_st(craft(HDR_RS256, "{\"iat\":-1}", SIG)) == JWT_PAYLOAD_IAT_OUT_OF_RANGE, "iat -1: 15");
	ok(parse_st(craft(HDR_RS256, "{\"nbf\":true}", SIG)) == JWT_PAYLOAD_NBF_NOT_INTEGER, "nbf bool: 16");
	ok(parse_st(craft(HDR_RS256, "{\"nbf\":1.8446744073709552e19}", SIG)) == JWT_PAYLOAD_NBF_OUT_OF_RANGE,
	   "nbf 2^64 as real: 17");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":\"123\"}", SIG)) == JWT_PAYLOAD_EXP_NOT_INTEGER, "exp string: 18");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":{}}", SIG)) == JWT_PAYLOAD_EXP_NOT_INTEGER, "exp object: 18");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":-1}", SIG)) == JWT_PAYLOAD_EXP_OUT_OF_RANGE, "exp -1: 19");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":-0.5}", SIG)) == JWT_PAYLOAD_EXP_OUT_OF_RANGE, "exp -0.5: 19");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":18446744073709551616}", SIG)) == JWT_PAYLOAD_EXP_OUT_OF_RANGE,
	   "exp 2^64 spelt as an integer: 19");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":1e300}", SIG)) == JWT_PAYLOAD_EXP_OUT_OF_RANGE, "exp 1e300: 19");
	ok(parse_st(craft(HDR_RS256, "{\"jti\":5}", SIG)) == JWT_PAYLOAD_JTI_NOT_STRING, "jti number: 20");
	ok(parse_st(craft(HDR_RS256, "{\"aud\":1}", SIG)) == JWT_PAYLOAD_AUD_NOT_STRING, "aud number: 21");
	ok(parse_st(craft(HDR_RS256, "{\"aud\":[1]}", SIG)) == JWT_PAYLOAD_AUD_NOT_STRING, "aud [1]: 21");
	ok(parse_st(craft(HDR_RS256, "{\"aud\":[\"a\",null]}", SIG)) == JWT_PAYLOAD_AUD_NOT_STRING,
	   "aud [\"a\",null]: 21");
	ok(parse_st(craft(HDR_RS256, "{\"aud\":{\"a\":1}}", SIG)) == JWT_PAYLOAD_AUD_NOT_STRING, "aud object: 21");
	/* order: the first failing claim in JVL order wins */
	ok(parse_st(craft(HDR_RS256, "{\"aud\":1,\"exp\":\"x\",\"iss\":2}", SIG)) == JWT_PAYLOAD_ISS_NOT_STRING,
	   "iss checked before exp and aud");
	/* 22 */
	ok(parse_st(craft(HDR_RS256, PAY_OK, "c2ln=")) == JWT_SIGNATURE_BAD_BASE64, "sig padding: 22");
	ok(parse_st(craft(HDR_RS256, PAY_OK, "c")) == JWT_SIGNATURE_BAD_BASE64, "sig 1 char: 22");
	ok(parse_st(craft(HDR_RS256, PAY_OK, "c2l/")) == JWT_SIGNATURE_BAD_BASE64, "sig '/': 22");
	/* order between segments: header status wins over payload and signature */
	ok(parse_st("eyJhbGciOiJub25lIn0.!!!.!!!") == JWT_HEADER_NOT_IMPLEMENTED_ALG, "header first");
	ok(parse_st(craft(HDR_RS256, "{\"exp\":\"1\"}", "!!")) == JWT_PAYLOAD_EXP_NOT_INTEGER,
	   "payload before signature");
}

static void test_claims_and_time(void)
{
	struct jwt j;
	const char *tok;

	tok = craft(HDR_RS256, "{\"iat\":1.9,\"nbf\":1000.99,\"exp\":2000.5,\"aud\":\"one\"}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && j.iat == 1 && j.nbf == 1000 && j.exp == 2000 &&
	           j.n_aud == 1 && strcmp(j.aud[0], "one") == 0,
	   "fractions truncate, aud string");
	ok(jwt_check_time(&j, 939, 60) == JWT_NOT_YET_VALID, "now + skew < nbf: 2");
	ok(jwt_check_time(&j, 940, 60) == JWT_OK, "now + skew == nbf: ok");
	ok(jwt_check_time(&j, 2060, 60) == JWT_OK, "now == exp + skew: ok");
	ok(jwt_check_time(&j, 2061, 60) == JWT_EXPIRED, "now > exp + skew: 3");
	ok(jwt_check_time(&j, 999, 0) == JWT_NOT_YET_VALID && jwt_check_time(&j, 1000, 0) == JWT_OK,
	   "skew 0, nbf");
	ok(jwt_check_time(&j, 2000, 0) == JWT_OK && jwt_check_time(&j, 2001, 0) == JWT_EXPIRED, "skew 0, exp");
	ok(jwt_check_time(&j, UINT64_MAX, UINT64_MAX) == JWT_OK, "skew overflow saturates (no wrap)");
	ok(jwt_check_time(&j, UINT64_MAX - 5, 60) == JWT_EXPIRED, "now near 2^64: expired, no wrap");
	jwt_free(&j);
	jwt_free(&j);
	ok(j.header == NULL, "double jwt_free harmless");

	tok = craft(HDR_RS256, "{\"sub\":\"x\"}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && jwt_check_time(&j, UINT64_MAX, 60) == JWT_OK,
	   "no exp: never expires (JVL)");
	jwt_free(&j);
	tok = craft(HDR_RS256, "{\"exp\":0}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && jwt_check_time(&j, 5000, 60) == JWT_OK,
	   "exp 0 means none (JVL, envoy #3996)");
	jwt_free(&j);
	tok = craft(HDR_RS256, "{\"nbf\":18446744073709551615}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_PAYLOAD_NBF_OUT_OF_RANGE, "nbf 2^64-1 as integer: double 2^64, 17");
	jwt_free(&j);
	tok = craft(HDR_RS256, "{\"exp\":9223372036854775807}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && j.exp == 9223372036854775807ull, "exp 2^63-1 exact");
	jwt_free(&j);
	tok = craft(HDR_RS256,
	            "{\"aud\":[\"a1\",\"a2\",\"a3\",\"a4\",\"a5\",\"a6\",\"a7\",\"a8\",\"a9\",\"a10\",\"a11\",\"a12\","
	            "\"a13\",\"a14\",\"a15\",\"a16\",\"a17\",\"a18\"]}",
	            SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && j.n_aud == JWT_MAX_AUD && strcmp(j.aud[15], "a16") == 0,
	   "18 audiences: first 16 kept");
	jwt_free(&j);
	tok = craft(HDR_RS256, "{\"aud\":[]}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && j.n_aud == 0, "aud []: none");
	jwt_free(&j);
	tok = craft("{\"alg\":\"RS256\",\"kid\":\"\"}", PAY_OK, SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_OK && j.kid && !j.kid[0], "empty kid kept as empty");
	jwt_free(&j);
	/* a failed parse leaves nothing behind */
	tok = craft(HDR_RS256, "{\"exp\":\"x\"}", SIG);
	ok(jwt_parse(tok, strlen(tok), &j) == JWT_PAYLOAD_EXP_NOT_INTEGER && !j.header && !j.payload && !j.sig,
	   "failed parse: nothing to free");
	ok(jwt_parse(NULL, 0, &j) == JWT_BAD_FORMAT, "NULL token: 4");
	ok(jws_alg_from_name("EdDSA") == JWS_EDDSA && jws_alg_from_name("Ed25519") == JWS_EDDSA &&
	           jws_alg_from_name("none") == JWS_ALG_NONE && jws_alg_from_name(NULL) == JWS_ALG_NONE &&
	           jws_alg_from_name("PS384") == JWS_PS384,
	   "jws_alg_from_name");
	ok(strcmp(jws_alg_name(JWS_ES512), "ES512") == 0 && strcmp(jws_alg_name(JWS_EDDSA), "EdDSA") == 0,
	   "jws_alg_name");
}

int main(void)
{
	test_status();
	test_b64();
	test_rfc7515();
	test_generated();
	test_statuses();
	test_claims_and_time();
	return t_done("test_jwt");
}
