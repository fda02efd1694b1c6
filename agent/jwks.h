/*
 * JWK and JWK Set: parsing into immutable, refcounted key sets.
 * A set is built once and never changed; holders take a reference
 * (jwks_ref) and drop it (jwks_unref), so a new set can replace an old one
 * while verifications still use the old one (design §2.3, §2.4).
 */
#ifndef JWKS_H
#define JWKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "jwt.h"
#include "status.h"

#define JWKS_MAX_KEYS  64u
#define JWKS_MAX_BYTES (1024u * 1024u)

enum jwk_kty { JWK_KTY_RSA = 1, JWK_KTY_EC, JWK_KTY_OKP, JWK_KTY_OCT };

struct jwk {
	enum jwk_kty kty;
	char *kid;        /* NULL if absent */
	enum jws_alg alg; /* JWS_ALG_NONE if the key has no "alg" */
	EVP_PKEY *pkey;   /* RSA, EC, OKP */
	uint8_t *secret;  /* oct */
	size_t secret_len;
	int bits; /* RSA modulus / EC field size in bits */
};

struct jwks {
	atomic_int refcount; /* jwks_ref/jwks_unref only */
	size_t n_keys;
	struct jwk *keys;
	uint64_t generation; /* set by the owner when published; 0 for parsed sets */
};

/* Parses a JWK Set document (<len> bytes). Keys that do not parse, keys not
 * meant for verifying ("use" other than "sig", "key_ops" without "verify"),
 * RSA keys under 2048 bits, HMAC keys shorter than their hash and EC points
 * that fail validation are skipped; the set fails only if none survives,
 * with the first key's status (JWKS_NO_VALID_KEYS if no key gave one), as
 * jwt_verify_lib does. Only the first JWKS_MAX_KEYS entries are looked at;
 * the document is at most JWKS_MAX_BYTES (else JWKS_PARSE_ERROR). On
 * success *out holds a set with refcount 1. <err>/<errlen> (may be NULL)
 * receive a short reason, also on success when keys were skipped or
 * ignored (for the log). Any thread; no shared state. */
enum jwt_status jwks_parse(const char *json, size_t len, struct jwks **out, char *err, size_t errlen);

/* Parses one JWK object into <key> (caller-owned storage; jwk_clear frees
 * its members), with the same per-key rules as jwks_parse. On failure <key>
 * holds nothing to free. */
enum jwt_status jwk_parse(const json_t *obj, struct jwk *key);
void jwk_clear(struct jwk *key);

struct jwks *jwks_ref(struct jwks *set);
void jwks_unref(struct jwks *set);

#endif
