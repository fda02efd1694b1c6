/*
 * One provider's key set over time: the remote JWKS fetched with fetch.c,
 * cached for cache_time, refreshed in the background before it ends, kept
 * after a failed refresh for at most max_stale, refetched (coalesced and
 * rate-limited) when a token names an unknown kid.
 *
 * Requests that need keys not yet available park a keys_waiter; every
 * waiter is answered exactly once, when the fetch it waits for ends (a
 * fetch never outlives fetch_timeout), unless cancelled first.
 */
#ifndef KEYS_H
#define KEYS_H

#include <stdbool.h>

#include <ev.h>

#include "fetch.h"
#include "jwks.h"

struct keys_conf {
	const char *uri;                /* JWKS URL */
	double cache_time_s;            /* default 300 */
	long fetch_timeout_ms;          /* default 1000 */
	double max_stale_s;             /* how long a set outlives cache_time when refreshes fail */
	double refetch_interval_s;      /* min gap between unknown-kid refetches (rate limit) */
	double failed_retry_s;          /* background retry after a failed fetch (default 1) */
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

/* Creates the provider state and starts the first fetch at once. */
struct keys *keys_new(struct ev_loop *loop, struct fetcher *fetcher, const struct keys_conf *conf);
void keys_free(struct keys *k);

/* The set to verify with now (borrowed), or NULL. When NULL and a fetch is
 * under way or can start now, <w> is parked and *parked set true; when NULL
 * and nothing can be done (the last fetch failed moments ago), *parked is
 * false and the caller answers "Jwks remote fetch is failed" at once. */
struct jwks *keys_get(struct keys *k, struct keys_waiter *w, bool *parked);

/* The set usable now (borrowed), or NULL; never parks, never fetches.
 * For the token cache: a hit is valid only for the current generation. */
struct jwks *keys_peek(struct keys *k);

/* The token's kid is not in <seen> (the set the caller just used): asks for
 * one refetch unless one ran within refetch_interval_s. Returns true and
 * parks <w> when a refetch is under way; false when rate-limited (answer
 * with the current set's verdict). */
bool keys_refetch_for_kid(struct keys *k, const struct jwks *seen, struct keys_waiter *w);

/* Removes a parked waiter (its connection went away). No-op if not parked. */
void keys_cancel(struct keys *k, struct keys_waiter *w);

#endif
