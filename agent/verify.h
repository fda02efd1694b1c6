/*
 * One token's verdict, in Envoy jwt_authn's order (../shared/notes/jwt.md
 * §1.6; design §2.2): extract -> parse -> issuer -> time -> audiences ->
 * keys (fetching, possibly waiting) -> signature. The first failure wins.
 *
 * A verification either finishes inside verify_start() or parks on the key
 * cache and finishes later through vreq->done. Either way the caller reads
 * vreq->status and, on JWT_OK, the claims in vreq->jwt, then calls
 * verify_release().
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "cache.h"
#include "config.h"
#include "jwt.h"
#include "keys.h"

struct verifier {
	struct ev_loop *loop;
	const struct config *cfg;
	struct keys *keys;
	struct tcache *cache;           /* NULL when --cache-size 0 */
	unsigned long cache_hits, cache_misses;
};

struct vreq {
	struct keys_waiter waiter;      /* first: keys.c hands it back */
	struct verifier *v;
	void (*done)(struct vreq *r);   /* called when a parked verification ends */
	enum jwt_status status;
	struct jwt jwt;                 /* parsed token, valid until verify_release */
	bool has_jwt;
	bool refetched;                 /* an unknown-kid refetch was already tried */
	bool parked;
	bool cached;                    /* verdict came from the token cache */
	const char *tok;                /* the token inside the caller's buffer */
	size_t tok_len;
	/* On JWT_OK: claims for the ACK, from the token or the cache entry,
	 * valid until verify_release (cache: until the next verification). */
	const char *sub, *iss, *kid, *alg;
};

/* Starts verifying the token header value <hdr> (<len> bytes; NULL when the
 * header was absent). Returns true when r->status is final, false when the
 * verification is parked (r->done will be called exactly once, unless
 * verify_cancel is called first). */
bool verify_start(struct verifier *v, struct vreq *r, const char *hdr, size_t len);

/* Abandons a parked verification (its connection went away). */
void verify_cancel(struct vreq *r);

/* Frees what the verification holds. Safe to call twice. */
void verify_release(struct vreq *r);

/* Finds the token in a header value: <prefix> searched case-sensitively
 * anywhere in the value (as Envoy's value_prefix), then the token is the run
 * of base64url and '.' characters after it. Empty prefix: the whole value,
 * trimmed of spaces. Returns false when there is no token. Exposed for tests. */
bool verify_extract(const char *prefix, const char *hdr, size_t len, const char **tok, size_t *tok_len);

/* jwt_verify_lib's audience match: "http://", "https://" and one trailing '/'
 * are ignored on both sides. Exposed for tests. */
bool verify_audience_allowed(const struct config *cfg, const struct jwt *jwt);

#endif
