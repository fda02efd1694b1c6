/*
 * One provider's key set over time, from one of three sources:
 *
 * - a remote JWKS (conf.uri) fetched with fetch.c, cached for cache_time,
 *   refreshed in the background before it ends, kept after a failed
 *   refresh for at most max_stale, refetched (coalesced and rate-limited)
 *   when a token names an unknown kid;
 * - OIDC discovery (conf.issuer_discovery, when uri is NULL): the JWKS URL
 *   is read from <issuer>/.well-known/openid-configuration, then handled as
 *   a remote JWKS; the discovered URL is kept for later refreshes and
 *   discovery runs again only after a JWKS fetch fails;
 * - a local JWKS file (conf.file, which wins over uri and issuer): read
 *   synchronously by keys_new and keys_reload, never expires, never fetched.
 *
 * Requests that need keys not yet available park a keys_waiter; every
 * waiter is answered exactly once, when the fetch it waits for ends (a
 * remote fetch never outlives fetch_timeout; with OIDC discovery one
 * "fetch" is discovery then the JWKS, two requests each bounded by
 * fetch_timeout, so a waiter waits at most 2 x fetch_timeout), unless
 * cancelled first. A file provider never parks anyone.
 */
#ifndef KEYS_H
#define KEYS_H

#include <stdbool.h>

#include <ev.h>

#include "fetch.h"
#include "jwks.h"
#include "metrics.h"
#include "status.h"

struct keys_conf {
	const char *uri;              /* JWKS URL */
	double cache_time_s;          /* default 300 */
	long fetch_timeout_ms;        /* default 1000 */
	double max_stale_s;           /* how long a set outlives cache_time when refreshes fail */
	double refetch_interval_s;    /* min gap between unknown-kid refetches (rate limit) */
	double failed_retry_s;        /* background retry after a failed fetch (default 1) */
	const char *file;             /* local JWKS file; when set, used instead of uri */
	const char *issuer_discovery; /* OIDC issuer URL (http/https); used when set and uri is NULL */
	struct keys_metrics *metrics; /* optional: fetch counters and set age (metrics.h) */
};

struct keys;
struct keys_waiter;

/* Called once per parked waiter. <set> is the usable key set (borrowed; take
 * jwks_ref to keep it past the callback) or NULL when none could be had. */
typedef void (*keys_cb)(struct keys_waiter *w, struct jwks *set);

struct keys_waiter {
	keys_cb cb;
	struct keys_waiter *next, *prev; /* owned by keys.c while parked */
	bool parked;
};

/* Creates the provider state. Remote and OIDC: starts the first fetch at
 * once (never blocks). File: reads and parses the file now; a file that
 * cannot be read or parsed is logged (event=jwks_load_failed) and leaves no
 * set (keys_get answers NULL, keys_last_status JWKS_NO_VALID_KEYS) until a
 * keys_reload succeeds. Returns NULL on a configuration error (no source,
 * an issuer that is not an http(s) URL, no fetcher for a remote source) or
 * out of memory. <fetcher> may be NULL for a file provider. */
struct keys *keys_new(struct ev_loop *loop, struct fetcher *fetcher, const struct keys_conf *conf);
void keys_free(struct keys *k);

/* The set to verify with now (borrowed), or NULL. When NULL and a fetch is
 * under way or can start now, <w> is parked and *parked set true; when NULL
 * and nothing can be done (the last fetch failed moments ago, or a file
 * provider without a set), *parked is false and the caller answers at once
 * with keys_last_status(k). */
struct jwks *keys_get(struct keys *k, struct keys_waiter *w, bool *parked);

/* The set usable now (borrowed), or NULL; never parks, never fetches.
 * For the token cache: a hit is valid only for the current generation. */
struct jwks *keys_peek(struct keys *k);

/* The token's kid is not in <seen> (the set the caller just used): asks for
 * one refetch unless one ran within refetch_interval_s. Returns true and
 * parks <w> when a refetch is under way; false when rate-limited or for a
 * file provider (answer with the current set's verdict). */
bool keys_refetch_for_kid(struct keys *k, const struct jwks *seen, struct keys_waiter *w);

/* Why no set is usable now: JWT_OK when one is; JWKS_NO_VALID_KEYS for a
 * file provider whose file could not be read or parsed (Envoy's local_jwks:
 * "Jwks doesn't have any valid public key"); JWKS_FETCH_FAIL for a remote
 * or OIDC provider (failed fetch or discovery, or none finished yet). Meant
 * for a keys_get that returned NULL without parking. */
enum jwt_status keys_last_status(const struct keys *k);

/* SIGHUP. File: re-reads the file; on success publishes a new set with a
 * new generation and returns 0; on failure keeps the current set, logs
 * event=jwks_reload_failed with the reason and returns -1. Remote/OIDC:
 * starts a refetch now unless one is in flight (ignoring failed_retry_s
 * and refetch_interval_s; OIDC reuses the discovered JWKS URL) and returns
 * 0, or -1 if it could not be started (logged, retried in the background).
 * Never calls a waiter synchronously. */
int keys_reload(struct keys *k);

/* Answers every parked waiter with NULL, then frees <k>: the provider was
 * removed or changed by a configuration reload. */
void keys_abandon(struct keys *k);

/* Removes a parked waiter (its connection went away). No-op if not parked. */
void keys_cancel(struct keys *k, struct keys_waiter *w);

#endif
