/*
 * JWS compact parsing and signature checking (OpenSSL 3 EVP). No I/O, no
 * clock: callers pass "now". Check order and statuses follow jwt_verify_lib
 * (../shared/notes/jwt.md §1.6, §2.3); where we are stricter than it
 * (base64url, exact ECDSA length, key sizes, duplicate JSON members) the
 * implementation says so where it decides.
 */
#ifndef JWT_H
#define JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "status.h"

struct jwks;
struct jwk;

enum jws_alg {
	JWS_ALG_NONE = 0, /* unset/unsupported; never verifies */
	JWS_RS256,
	JWS_RS384,
	JWS_RS512,
	JWS_PS256,
	JWS_PS384,
	JWS_PS512,
	JWS_ES256,
	JWS_ES384,
	JWS_ES512,
	JWS_HS256,
	JWS_HS384,
	JWS_HS512,
	JWS_EDDSA,
	JWS_ALG_COUNT,
};

#define JWT_MAX_TOKEN_LEN 8192u /* default cap on the compact token */
#define JWT_MAX_AUD       16u

/* A parsed token. Strings point into the JSON trees (valid until jwt_free).
 * Payload numbers are jansson integers, except that when some integer in the
 * payload does not fit json_int_t the whole payload is read with
 * JSON_DECODE_INT_AS_REAL (JVL reads every number as a double): use
 * json_number_value() on claims. */
struct jwt {
	json_t *header;  /* owned */
	json_t *payload; /* owned */
	enum jws_alg alg;
	const char *alg_name;   /* as in the token */
	const char *kid;        /* NULL if absent */
	const char *iss;        /* NULL if absent */
	const char *sub;        /* NULL if absent */
	uint64_t exp, nbf, iat; /* 0 if absent */
	size_t n_aud;
	const char *aud[JWT_MAX_AUD];
	const char *signing_input; /* "header.payload" as received, not owned */
	size_t signing_input_len;
	uint8_t *sig; /* decoded signature, owned */
	size_t sig_len;
};

/* Parses <token> (<len> bytes, not NUL-terminated) into <jwt>. On success
 * the caller must jwt_free(). On failure <jwt> holds nothing to free (freeing
 * it anyway is harmless). Returns JWT_OK or the first parse status.
 * Stricter than jwt_verify_lib (jwt.c says why): exactly two dots and three
 * non-empty segments, strict base64url, no duplicate JSON members, JSON
 * depth <= 32, and a "crit" header (or "b64" not true) gives
 * JWT_VERIFICATION_FAIL. "Ed25519" is accepted as EdDSA (RFC 9864); alg_name
 * keeps the token's spelling. Only the first JWT_MAX_AUD audiences are kept
 * in aud[] (all are type-checked). */
enum jwt_status jwt_parse(const char *token, size_t len, struct jwt *jwt);
void jwt_free(struct jwt *jwt);

/* nbf/exp against <now> with <skew_s> seconds of leeway (jwt_verify_lib:
 * now + skew < nbf -> NotYetValid; exp && now > exp + skew -> Expired). */
enum jwt_status jwt_check_time(const struct jwt *jwt, uint64_t now, uint64_t skew_s);

/* Signature against a key set: kid/alg selection as jwt_verify_lib's
 * verify.cc (skip a key whose kid or alg differs; try the rest). Returns
 * JWT_OK, JWT_VERIFICATION_FAIL (a candidate key existed), or
 * JWKS_KID_ALG_MISMATCH (no candidate), or JWT_ED25519_SIGNATURE_WRONG_LENGTH.
 * On success *used (if non-NULL) is the key that verified (borrowed). */
enum jwt_status jwt_verify_jwks(const struct jwt *jwt, const struct jwks *keys, const struct jwk **used);

/* Signature primitive: does <sig> sign <msg> with <key> under <alg>?
 * Returns 1 valid, 0 invalid (wrong key type for alg, bad length, bad sig).
 * Exposed for test vectors (Wycheproof primitives). */
int jws_verify_raw(enum jws_alg alg, const struct jwk *key, const uint8_t *msg, size_t msg_len,
                   const uint8_t *sig, size_t sig_len);

/* Nesting depth of JSON text (brackets outside strings) stays within <max>:
 * checked before jansson parses a token part or a JWKS, so its recursion is
 * bounded. Malformed text is jansson's business. */
bool json_depth_ok(const void *text, size_t len, int max);

/* Frees this thread's remembered verification contexts; a worker thread
 * calls it before it ends. */
void jwt_thread_cleanup(void);

enum jws_alg jws_alg_from_name(const char *name);
const char *jws_alg_name(enum jws_alg alg);

/* Strict base64url (RFC 7515 §2: no padding, no whitespace, zero unused bits).
 * Decodes <in> into <out> (room >= in_len * 3 / 4 + 1). Returns the decoded
 * length, or -1 if malformed. */
long b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t room);
/* Encodes without padding; returns the length written (room >= 4*ceil(n/3)+1,
 * NUL-terminated), or -1 if <room> is too small. */
long b64url_encode(const uint8_t *in, size_t in_len, char *out, size_t room);

#endif
