/*
 * One provider's key set over time (Envoy's remote JWKS semantics,
 * ../shared/notes/jwt.md §1.3, plus max_stale and unknown-kid refetch).
 *
 * A fetch succeeds only on HTTP 200, a non-empty body and a JWKS with at
 * least one usable key (jwks_parse == JWT_OK). After a success the next
 * fetch runs in the background before cache_time ends, so requests whose
 * keys are cached never wait; after a failure it runs failed_retry_s later.
 * At most one fetch is in flight: first-fetch waiters, unknown-kid
 * refetches and background refreshes all share it.
 *
 * Everything runs on the loop that owns the fetcher; nothing blocks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "fetch.h"
#include "jwks.h"
#include "keys.h"
#include "log.h"
#include "status.h"

/* Envoy refreshes 5 s before expiry (jwks_async_fetcher.cc). */
#define KEYS_REFRESH_AHEAD_S 5.0

struct keys {
	struct ev_loop *loop;
	struct fetcher *fetcher;
	struct keys_conf conf; /* conf.uri points to uri below */
	char *uri;

	struct jwks *set;    /* current set (one reference), or NULL */
	double fetched_at;   /* ev_now when <set> was published */
	uint64_t generation; /* of the last published set */

	bool is_fetching;        /* a fetch is in flight */
	double fetch_started_at; /* last start; < 0: never (rate limit) */
	double failed_at;        /* last failure; < 0: none since a success */

	/* Parked waiters: circular list around a sentinel, so a waiter can be
	 * unlinked in O(1) without knowing which list holds it (the parked
	 * list, or the batch being answered). */
	struct keys_waiter waiters;
	struct keys_waiter batch; /* waiters being answered now */
	bool is_dispatching;      /* inside answer_waiters */
	bool is_freed;            /* keys_free ran during the dispatch */

	ev_timer timer; /* next background fetch */
};

static void fetch_done(void *arg, const struct fetch_result *res);

static void wlist_init(struct keys_waiter *head)
{
	head->next = head->prev = head;
}

static bool wlist_empty(const struct keys_waiter *head)
{
	return head->next == head;
}

static void wlist_append(struct keys_waiter *head, struct keys_waiter *w)
{
	w->prev = head->prev;
	w->next = head;
	head->prev->next = w;
	head->prev = w;
}

static void waiter_unlink(struct keys_waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->parked = false;
}

/* Unlinks every waiter of <head> without calling back. */
static void wlist_drop(struct keys_waiter *head)
{
	while (!wlist_empty(head))
		waiter_unlink(head->next);
}

static bool set_is_usable(const struct keys *k, double now)
{
	return k->set && now < k->fetched_at + k->conf.cache_time_s + k->conf.max_stale_s;
}

/* Drops the set once it is past cache_time + max_stale: a failed IdP must
 * not keep old keys alive for ever. */
static void expire_set(struct keys *k, double now)
{
	if (k->set && !set_is_usable(k, now)) {
		jwks_unref(k->set);
		k->set = NULL;
	}
}

static void schedule(struct keys *k, double after_s)
{
	ev_timer_stop(k->loop, &k->timer);
	ev_timer_set(&k->timer, after_s > 0.0 ? after_s : 0.0, 0.0);
	ev_timer_start(k->loop, &k->timer);
}

static void log_failure(const struct keys *k, const char *reason)
{
	char q[LOG_QUOTE_BUF];

	log_event(LOG_WARN, "jwks_fetch_failed", "uri=%s reason=%s", k->uri, log_quote(q, reason, strlen(reason)));
}

/* Records a failed fetch (or one that could not start): the set is kept
 * while still usable, the next attempt runs failed_retry_s later. */
static void note_failure(struct keys *k, const char *reason)
{
	double now = ev_now(k->loop);

	log_failure(k, reason);
	k->failed_at = now;
	expire_set(k, now);
	schedule(k, k->conf.failed_retry_s);
}

/* Starts a fetch unless one is in flight. Returns true when a fetch is
 * under way afterwards. */
static bool start_fetch(struct keys *k)
{
	if (k->is_fetching)
		return true;
	/* The background timer would only find the fetch in flight: the end
	 * of the fetch schedules the next one. */
	ev_timer_stop(k->loop, &k->timer);
	k->fetch_started_at = ev_now(k->loop);
	if (fetch_get(k->fetcher, k->uri, k->conf.fetch_timeout_ms, JWKS_MAX_BYTES, fetch_done, k) != 0) {
		note_failure(k, "fetch could not start");
		return false;
	}
	k->is_fetching = true;
	return true;
}

static void park(struct keys *k, struct keys_waiter *w)
{
	/* Parking twice would corrupt the list; the first park stands. */
	if (w->parked)
		return;
	wlist_append(&k->waiters, w);
	w->parked = true;
}

static void keys_destroy(struct keys *k)
{
	free(k->uri);
	free(k);
}

/* Answers every waiter parked now, each exactly once. The list is moved to
 * a batch first: a callback may park again (it waits for the next fetch),
 * cancel another waiter of the batch, free its own waiter, or free <k>
 * (then the memory goes here, at the end). Dispatches never nest: nothing
 * a callback can call answers waiters synchronously. Must be the last use
 * of <k> by its caller. */
static void answer_waiters(struct keys *k, struct jwks *set)
{
	struct keys_waiter *w;

	if (wlist_empty(&k->waiters))
		return;
	k->batch.next = k->waiters.next;
	k->batch.prev = k->waiters.prev;
	k->batch.next->prev = &k->batch;
	k->batch.prev->next = &k->batch;
	wlist_init(&k->waiters);

	/* A callback may unref the set we pass (through keys_free); hold it
	 * for the whole batch. */
	if (set)
		jwks_ref(set);
	k->is_dispatching = true;
	while (!wlist_empty(&k->batch)) {
		w = k->batch.next;
		waiter_unlink(w);
		w->cb(w, set);
	}
	k->is_dispatching = false;
	if (set)
		jwks_unref(set);
	if (k->is_freed)
		keys_destroy(k);
}

static void fetch_done(void *arg, const struct fetch_result *res)
{
	struct keys *k = arg;
	struct jwks *set = NULL;
	char err[128];
	char reason[256];
	double now = ev_now(k->loop);
	double refresh_s;
	enum jwt_status st;

	k->is_fetching = false;
	if (!res->ok) {
		note_failure(k, res->error ? res->error : "fetch failed");
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}
	if (res->body_len == 0) {
		note_failure(k, "empty body");
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}
	err[0] = '\0';
	st = jwks_parse(res->body, res->body_len, &set, err, sizeof(err));
	if (st != JWT_OK || !set) {
		if (err[0])
			snprintf(reason, sizeof(reason), "bad JWKS: %s: %s", jwt_status_str(st), err);
		else
			snprintf(reason, sizeof(reason), "bad JWKS: %s", jwt_status_str(st));
		note_failure(k, reason);
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}

	set->generation = ++k->generation;
	if (k->set)
		jwks_unref(k->set);
	k->set = set;
	k->fetched_at = now;
	k->failed_at = -1.0;
	/* Before expiry so cached requests never wait; half the lifetime
	 * when cache_time is too short for Envoy's 5 s margin. */
	refresh_s = k->conf.cache_time_s - KEYS_REFRESH_AHEAD_S;
	if (refresh_s < k->conf.cache_time_s / 2.0)
		refresh_s = k->conf.cache_time_s / 2.0;
	schedule(k, refresh_s);
	answer_waiters(k, set);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct keys *k = w->data;

	/* Drop a set that went past max_stale even when nobody asks. */
	expire_set(k, ev_now(loop));
	start_fetch(k);
}

struct keys *keys_new(struct ev_loop *loop, struct fetcher *fetcher, const struct keys_conf *conf)
{
	struct keys *k;

	if (!loop || !fetcher || !conf || !conf->uri)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->uri = strdup(conf->uri);
	if (!k->uri) {
		free(k);
		return NULL;
	}
	k->loop = loop;
	k->fetcher = fetcher;
	k->conf = *conf;
	k->conf.uri = k->uri;
	/* Zero means "not configured": apply keys.h's defaults rather than
	 * refetching in a loop. */
	if (k->conf.cache_time_s <= 0.0)
		k->conf.cache_time_s = 300.0;
	if (k->conf.fetch_timeout_ms <= 0)
		k->conf.fetch_timeout_ms = 1000;
	if (k->conf.failed_retry_s <= 0.0)
		k->conf.failed_retry_s = 1.0;
	if (k->conf.max_stale_s < 0.0)
		k->conf.max_stale_s = 0.0;
	if (k->conf.refetch_interval_s < 0.0)
		k->conf.refetch_interval_s = 0.0;
	k->fetch_started_at = -1.0;
	k->failed_at = -1.0;
	wlist_init(&k->waiters);
	wlist_init(&k->batch);
	ev_init(&k->timer, timer_cb);
	k->timer.data = k;

	/* A start failure is already logged and retried by note_failure. */
	start_fetch(k);
	return k;
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	fetch_cancel(k->fetcher, fetch_done, k);
	ev_timer_stop(k->loop, &k->timer);
	wlist_drop(&k->waiters);
	wlist_drop(&k->batch);
	if (k->set)
		jwks_unref(k->set);
	k->set = NULL;
	if (k->is_dispatching) {
		/* Called from a waiter's callback: answer_waiters is still
		 * walking <k> and frees it when done. */
		k->is_freed = true;
		return;
	}
	keys_destroy(k);
}

struct jwks *keys_get(struct keys *k, struct keys_waiter *w, bool *parked)
{
	double now = ev_now(k->loop);

	*parked = false;
	if (set_is_usable(k, now))
		return k->set;
	expire_set(k, now);
	if (k->is_fetching) {
		park(k, w);
		*parked = true;
		return NULL;
	}
	/* No fetch storm: a fetch that failed moments ago would fail again,
	 * the background retry is already scheduled. */
	if (k->failed_at >= 0.0 && now - k->failed_at < k->conf.failed_retry_s)
		return NULL;
	if (!start_fetch(k))
		return NULL;
	park(k, w);
	*parked = true;
	return NULL;
}

bool keys_refetch_for_kid(struct keys *k, const struct jwks *seen, struct keys_waiter *w)
{
	double now = ev_now(k->loop);

	/* <seen> is not compared with the current set: callers verify with
	 * the set keys_get just returned, on this same loop turn, so a newer
	 * set cannot have been published in between. */
	(void)seen;
	if (!k->is_fetching) {
		/* Rate limit on any fetch start, background ones included:
		 * tokens with random kids must not drive the IdP. */
		if (k->fetch_started_at >= 0.0 && now - k->fetch_started_at < k->conf.refetch_interval_s)
			return false;
		if (!start_fetch(k))
			return false;
	}
	park(k, w);
	return true;
}

void keys_cancel(struct keys *k, struct keys_waiter *w)
{
	if (!w || !w->parked)
		return;
	waiter_unlink(w);
}

struct jwks *keys_peek(struct keys *k)
{
	return set_is_usable(k, ev_now(k->loop)) ? k->set : NULL;
}
