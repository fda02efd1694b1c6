/*
 * One token's verdict, in Envoy jwt_authn's order (../shared/notes/jwt.md
 * §1.6; design §2.2): extract -> (cache) -> parse -> provider by iss ->
 * issuer -> time -> expiration rules -> audiences -> required claims ->
 * keys (fetching, possibly waiting) -> signature. The first failure wins.
 *
 * A verification either finishes inside verify_start() or parks on the key
 * cache and finishes later through vreq->done. Either way the caller reads
 * vreq->status and, on JWT_OK, the claims, then calls verify_release().
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
#include "metrics.h"

/* Per worker: one key cache per configured provider, one token cache. */
struct verifier {
	struct ev_loop *loop;
	const struct config *cfg;
	struct keys *keys[CONFIG_MAX_PROVIDERS];
	struct tcache *cache;           /* NULL when --cache-size 0 */
	struct worker_metrics *metrics; /* NULL: not counted */
};

/* One argument of the SPOE message, pointing into the NOTIFY frame. */
struct verify_arg {
	const char *name;
	size_t name_len;
	const char *val; /* NULL: absent or NULL sample */
	size_t len;
};

#define VERIFY_MAX_ARGS 32

struct verify_input {
	const char *provider; /* the "provider" argument; NULL = any configured */
	size_t provider_len;
	size_t n_args;
	struct verify_arg args[VERIFY_MAX_ARGS];
};

struct vreq {
	struct keys_waiter waiter; /* first: keys.c hands it back */
	struct verifier *v;
	void (*done)(struct vreq *r); /* called when a parked verification ends */
	enum jwt_status status;
	struct jwt jwt; /* parsed token, valid until verify_release */
	bool has_jwt;
	bool refetched; /* an unknown-kid refetch was already tried */
	bool parked;
	bool cached;                     /* verdict came from the token cache */
	const struct provider *provider; /* the provider that judged the token */
	unsigned provider_idx;
	struct keys *keys; /* that provider's keys (stable across a reload) */
	char *tok;         /* owned copy: jwt.c keeps pointers into it */
	size_t tok_len;
	/* On JWT_OK: claims for the ACK, from the token or the cache entry,
	 * valid until verify_release (cache: until the next verification). */
	const char *sub, *iss, *kid, *alg;
	/* Exported claims as "var\0value\0" pairs (claim_to_headers). */
	const char *exports;
	size_t exports_len;
	char *exports_owned;
};

/* The key-cache settings of provider <p> (failed_retry_s 1 s, no metrics):
 * what the worker gives keys_new for each provider. */
void verify_keys_conf(struct keys_conf *kc, const struct provider *p);

/* Starts verifying the token found in <in>. Returns true when r->status is
 * final, false when parked (r->done will be called exactly once, unless
 * verify_cancel is called first). */
bool verify_start(struct verifier *v, struct vreq *r, const struct verify_input *in);

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
bool verify_audience_allowed(const struct provider *p, const struct jwt *jwt);

/* The required claims of <p> against the token's payload. Exposed for tests. */
bool verify_claims_allowed(const struct provider *p, const struct jwt *jwt);

/* Renders the claims <p> exports as "var\0value\0" pairs into a new buffer
 * (*out, *out_len; NULL when none). Values: strings, integers (no ".0"),
 * booleans; arrays, objects and unsafe strings (control characters, over
 * <max_len>) are skipped. Returns 0, -1 on allocation failure. */
int verify_render_exports(const struct provider *p, const struct jwt *jwt, size_t max_len, char **out,
                          size_t *out_len);

#endif
