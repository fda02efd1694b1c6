/*
 * One provider's key set over time (Envoy's remote JWKS semantics,
 * ../shared/notes/jwt.md §1.3, plus max_stale and unknown-kid refetch;
 * OIDC discovery §3.8; a local JWKS file, Envoy's local_jwks).
 *
 * A fetch succeeds only on HTTP 200, a non-empty body and a JWKS with at
 * least one usable key (jwks_parse == JWT_OK). After a success the next
 * fetch runs in the background before cache_time ends, so requests whose
 * keys are cached never wait; after a failure it runs failed_retry_s later.
 * At most one fetch is in flight: first-fetch waiters, unknown-kid
 * refetches and background refreshes all share it.
 *
 * With OIDC discovery a "fetch" has two steps, discovery then the JWKS,
 * and is_fetching covers both: waiters parked during discovery are
 * answered when the JWKS fetch that follows ends (or when discovery
 * fails). The discovered JWKS URL is kept; a failed JWKS fetch forgets it,
 * so the next attempt starts from discovery again.
 *
 * A local file is read synchronously (bounded to JWKS_MAX_BYTES, regular
 * files only); its set never expires and nothing is ever fetched for it.
 *
 * Everything runs on the loop that owns the fetcher; nothing blocks but
 * the small local file read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "fetch.h"
#include "jwks.h"
#include "keys.h"
#include "log.h"
#include "status.h"

/* Envoy refreshes 5 s before expiry (jwks_async_fetcher.cc). */
#define KEYS_REFRESH_AHEAD_S 5.0

/* A discovery document is small; a bigger one is not one. */
#define KEYS_DISCOVERY_MAX_BYTES (64u * 1024u)
#define KEYS_WELL_KNOWN          "/.well-known/openid-configuration"

enum keys_source { KEYS_SRC_REMOTE, KEYS_SRC_OIDC, KEYS_SRC_FILE };

struct keys {
	struct ev_loop *loop;
	struct fetcher *fetcher;
	struct keys_conf conf; /* string members point to the copies below, or NULL */
	enum keys_source source;
	char *uri;           /* JWKS URL: configured (remote), discovered or NULL (OIDC) */
	char *file;          /* file */
	char *issuer;        /* OIDC: as configured, compared exactly */
	char *discovery_url; /* OIDC: <issuer without trailing '/'>/.well-known/... */

	struct jwks *set;    /* current set (one reference), or NULL */
	double fetched_at;   /* ev_now when <set> was published */
	uint64_t generation; /* of the last published set */

	bool is_fetching;        /* a fetch (OIDC: discovery or JWKS) is in flight */
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
static void discovery_done(void *arg, const struct fetch_result *res);

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
	if (k->source == KEYS_SRC_FILE)
		return k->set != NULL; /* a local file never expires */
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
	char qu[LOG_QUOTE_BUF], qr[LOG_QUOTE_BUF];
	const char *u = k->uri ? k->uri : "";

	log_event(LOG_WARN, "jwks_fetch_failed", "uri=%s reason=%s", log_quote_url(qu, u),
	          log_quote(qr, reason, strlen(reason)));
}

static void log_discovery_failure(const struct keys *k, const char *reason)
{
	char qi[LOG_QUOTE_BUF], qr[LOG_QUOTE_BUF];

	log_event(LOG_WARN, "oidc_discovery_failed", "issuer=%s reason=%s",
	          log_quote(qi, k->issuer, strlen(k->issuer)), log_quote(qr, reason, strlen(reason)));
}

/* For the metrics thread: wall-clock time of the newest good set. */
static void note_success(struct keys *k)
{
	if (!k->conf.metrics)
		return;
	metric_inc(&k->conf.metrics->fetch_ok);
	atomic_store_explicit(&k->conf.metrics->last_ok_ms, (unsigned long long)(ev_time() * 1000.0),
	                      memory_order_relaxed);
}

/* Records a failed fetch or discovery (or one that could not start): the
 * set is kept while still usable, the next attempt runs failed_retry_s
 * later. The caller has logged the reason. */
static void note_failure(struct keys *k)
{
	double now = ev_now(k->loop);

	if (k->conf.metrics)
		metric_inc(&k->conf.metrics->fetch_failed);
	k->failed_at = now;
	expire_set(k, now);
	schedule(k, k->conf.failed_retry_s);
}

/* A JWKS fetch failed: with OIDC the JWKS URL may have moved, so the next
 * attempt starts from discovery again. */
static void jwks_failed(struct keys *k, const char *reason)
{
	log_failure(k, reason);
	if (k->source == KEYS_SRC_OIDC) {
		free(k->uri);
		k->uri = NULL;
	}
	note_failure(k);
}

static int start_jwks_fetch(struct keys *k)
{
	return fetch_get(k->fetcher, k->uri, k->conf.fetch_timeout_ms, JWKS_MAX_BYTES, fetch_done, k);
}

/* Starts a fetch unless one is in flight: the JWKS, or for OIDC without a
 * known JWKS URL the discovery document. Returns true when a fetch is
 * under way afterwards. */
static bool start_fetch(struct keys *k)
{
	if (k->is_fetching)
		return true;
	if (k->source == KEYS_SRC_FILE)
		return false;
	/* The background timer would only find the fetch in flight: the end
	 * of the fetch schedules the next one. */
	ev_timer_stop(k->loop, &k->timer);
	k->fetch_started_at = ev_now(k->loop);
	if (!k->uri) {
		if (fetch_get(k->fetcher, k->discovery_url, k->conf.fetch_timeout_ms,
		              KEYS_DISCOVERY_MAX_BYTES, discovery_done, k) != 0) {
			log_discovery_failure(k, "fetch could not start");
			note_failure(k);
			return false;
		}
	} else if (start_jwks_fetch(k) != 0) {
		jwks_failed(k, "fetch could not start");
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
	free(k->file);
	free(k->issuer);
	free(k->discovery_url);
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
		jwks_failed(k, res->error ? res->error : "fetch failed");
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}
	if (res->body_len == 0) {
		jwks_failed(k, "empty body");
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
		jwks_failed(k, reason);
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}

	set->generation = ++k->generation;
	if (k->set)
		jwks_unref(k->set);
	k->set = set;
	k->fetched_at = now;
	k->failed_at = -1.0;
	note_success(k);
	/* Before expiry so cached requests never wait; half the lifetime
	 * when cache_time is too short for Envoy's 5 s margin. */
	refresh_s = k->conf.cache_time_s - KEYS_REFRESH_AHEAD_S;
	if (refresh_s < k->conf.cache_time_s / 2.0)
		refresh_s = k->conf.cache_time_s / 2.0;
	schedule(k, refresh_s);
	answer_waiters(k, set);
}

/* "http://" or "https://" (any case) followed by at least one byte, and no
 * byte a URL cannot carry unescaped (spaces, controls). */
static bool is_http_url(const char *u)
{
	size_t n;

	if (!strncasecmp(u, "http://", 7))
		n = 7;
	else if (!strncasecmp(u, "https://", 8))
		n = 8;
	else
		return false;
	if (!u[n])
		return false;
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || (unsigned char)*u == 0x7f)
			return false;
	return true;
}

/* Reads the JWKS URL out of a discovery answer (OIDC Discovery §4.3: the
 * document's "issuer" must equal the configured issuer exactly). Returns
 * an owned copy, or NULL with <reason> filled. */
static char *discovery_parse(const struct keys *k, const struct fetch_result *res, char *reason, size_t len)
{
	json_error_t jerr;
	json_t *root, *iss, *ju;
	const char *u;
	char *copy;

	if (!res->ok) {
		snprintf(reason, len, "%s", res->error ? res->error : "fetch failed");
		return NULL;
	}
	if (res->body_len == 0) {
		snprintf(reason, len, "empty body");
		return NULL;
	}
	root = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(reason, len, "invalid JSON: %s", jerr.text);
		return NULL;
	}
	copy = NULL;
	iss = json_object_get(root, "issuer");
	ju = json_object_get(root, "jwks_uri");
	if (!json_is_object(root)) {
		snprintf(reason, len, "not a JSON object");
	} else if (!json_is_string(iss)) {
		snprintf(reason, len, "issuer missing or not a string");
	} else if (json_string_length(iss) != strlen(k->issuer) ||
	           memcmp(json_string_value(iss), k->issuer, strlen(k->issuer)) != 0) {
		snprintf(reason, len, "issuer mismatch: %.200s", json_string_value(iss));
	} else if (!json_is_string(ju)) {
		snprintf(reason, len, "jwks_uri missing or not a string");
	} else {
		u = json_string_value(ju);
		if (json_string_length(ju) != strlen(u) || !is_http_url(u)) {
			snprintf(reason, len, "jwks_uri not an http(s) URL: %.200s", u);
		} else {
			copy = strdup(u);
			if (!copy)
				snprintf(reason, len, "out of memory");
		}
	}
	json_decref(root);
	return copy;
}

/* Discovery ended: on success the JWKS fetch starts at once and the
 * waiters stay parked for it (is_fetching stays true); on failure they are
 * answered now. */
static void discovery_done(void *arg, const struct fetch_result *res)
{
	struct keys *k = arg;
	char reason[256];
	char qi[LOG_QUOTE_BUF], qu[LOG_QUOTE_BUF];
	char *uri;
	double now = ev_now(k->loop);

	uri = discovery_parse(k, res, reason, sizeof(reason));
	if (!uri) {
		k->is_fetching = false;
		log_discovery_failure(k, reason);
		note_failure(k);
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
		return;
	}
	free(k->uri);
	k->uri = uri;
	log_event(LOG_INFO, "oidc_discovered", "issuer=%s jwks_uri=%s", log_quote_url(qi, k->issuer),
	          log_quote_url(qu, uri));
	if (start_jwks_fetch(k) != 0) {
		k->is_fetching = false;
		jwks_failed(k, "fetch could not start");
		answer_waiters(k, set_is_usable(k, now) ? k->set : NULL);
	}
}

/* Reads a small regular file into a NUL-terminated buffer. Returns 0, or
 * -1 with <reason> filled. O_NONBLOCK: a FIFO must not hang the loop at
 * open (it is then refused as not regular). */
static int read_small_file(const char *path, char **out, size_t *out_len, char *reason, size_t rlen)
{
	struct stat st;
	char ebuf[128];
	char *buf = NULL, *nbuf;
	size_t len = 0, cap;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		err = errno;
		snprintf(reason, rlen, "open: %s", strerror_r(err, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		err = errno;
		snprintf(reason, rlen, "fstat: %s", strerror_r(err, ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(reason, rlen, "not a regular file");
		goto fail;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > JWKS_MAX_BYTES) {
		snprintf(reason, rlen, "file over %u bytes", JWKS_MAX_BYTES);
		goto fail;
	}
	/* The size is a hint: the file may change while we read it. One byte
	 * more than the size so the end is seen without growing. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		snprintf(reason, rlen, "out of memory");
		goto fail;
	}
	for (;;) {
		if (len > JWKS_MAX_BYTES) {
			snprintf(reason, rlen, "file over %u bytes", JWKS_MAX_BYTES);
			goto fail;
		}
		if (len == cap) {
			cap = cap * 2 > JWKS_MAX_BYTES + 1 ? JWKS_MAX_BYTES + 1 : cap * 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				snprintf(reason, rlen, "out of memory");
				goto fail;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err = errno;
			snprintf(reason, rlen, "read: %s", strerror_r(err, ebuf, sizeof(ebuf)));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* Read-only descriptor: a close error loses nothing. */
	(void)close(fd);
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
fail:
	free(buf);
	(void)close(fd);
	return -1;
}

/* Reads and parses the file; on success publishes the set as a new
 * generation. On failure the current set (if any) stays. */
static int load_file(struct keys *k, bool is_reload)
{
	struct jwks *set = NULL;
	char reason[256], err[128];
	char qf[LOG_QUOTE_BUF], qr[LOG_QUOTE_BUF];
	enum jwt_status st;
	size_t len;
	char *buf;

	if (read_small_file(k->file, &buf, &len, reason, sizeof(reason)) == 0) {
		err[0] = '\0';
		st = jwks_parse(buf, len, &set, err, sizeof(err));
		free(buf);
		if (st == JWT_OK && set) {
			set->generation = ++k->generation;
			if (k->set)
				jwks_unref(k->set);
			k->set = set;
			k->fetched_at = ev_now(k->loop);
			note_success(k);
			if (is_reload)
				log_event(LOG_INFO, "jwks_reloaded", "file=%s keys=%zu generation=%llu",
				          log_quote(qf, k->file, strlen(k->file)), set->n_keys,
				          (unsigned long long)set->generation);
			return 0;
		}
		if (set)
			jwks_unref(set);
		if (err[0])
			snprintf(reason, sizeof(reason), "bad JWKS: %s: %s", jwt_status_str(st), err);
		else
			snprintf(reason, sizeof(reason), "bad JWKS: %s", jwt_status_str(st));
	}
	log_event(is_reload ? LOG_WARN : LOG_ERR, is_reload ? "jwks_reload_failed" : "jwks_load_failed",
	          "file=%s reason=%s keeps=%s", log_quote(qf, k->file, strlen(k->file)),
	          log_quote(qr, reason, strlen(reason)), k->set ? "previous" : "none");
	return -1;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct keys *k = w->data;

	/* Drop a set that went past max_stale even when nobody asks. */
	expire_set(k, ev_now(loop));
	start_fetch(k);
}

/* Copies <s> into <*dst>; NULL stays NULL. Returns -1 when out of memory. */
static int dup_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -1;
}

/* <issuer without trailing '/'>/.well-known/openid-configuration */
static char *make_discovery_url(const char *issuer)
{
	size_t n = strlen(issuer), m = sizeof(KEYS_WELL_KNOWN);
	char *u;

	while (n > 0 && issuer[n - 1] == '/')
		n--;
	u = malloc(n + m);
	if (!u)
		return NULL;
	memcpy(u, issuer, n);
	memcpy(u + n, KEYS_WELL_KNOWN, m);
	return u;
}

struct keys *keys_new(struct ev_loop *loop, struct fetcher *fetcher, const struct keys_conf *conf)
{
	struct keys *k;
	enum keys_source source;

	if (!loop || !conf)
		return NULL;
	if (conf->file)
		source = KEYS_SRC_FILE;
	else if (conf->uri)
		source = KEYS_SRC_REMOTE;
	else if (conf->issuer_discovery && is_http_url(conf->issuer_discovery))
		source = KEYS_SRC_OIDC;
	else
		return NULL;
	if (source != KEYS_SRC_FILE && !fetcher)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->source = source;
	k->loop = loop;
	k->fetcher = fetcher;
	k->conf = *conf;
	k->conf.uri = k->conf.file = k->conf.issuer_discovery = NULL;
	switch (source) {
	case KEYS_SRC_FILE:
		if (dup_opt(&k->file, conf->file) != 0)
			goto oom;
		k->conf.file = k->file;
		break;
	case KEYS_SRC_REMOTE:
		if (dup_opt(&k->uri, conf->uri) != 0)
			goto oom;
		k->conf.uri = k->uri;
		break;
	case KEYS_SRC_OIDC:
		if (dup_opt(&k->issuer, conf->issuer_discovery) != 0)
			goto oom;
		k->discovery_url = make_discovery_url(k->issuer);
		if (!k->discovery_url)
			goto oom;
		k->conf.issuer_discovery = k->issuer;
		break;
	}
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

	if (source == KEYS_SRC_FILE) {
		/* A bad file is logged and leaves no set; keys_reload may fix it. */
		(void)load_file(k, false);
		return k;
	}
	/* A start failure is already logged and retried by note_failure. */
	start_fetch(k);
	return k;
oom:
	keys_destroy(k);
	return NULL;
}

void keys_free(struct keys *k)
{
	if (!k)
		return;
	fetch_cancel(k->fetcher, fetch_done, k);
	fetch_cancel(k->fetcher, discovery_done, k);
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
	if (k->source == KEYS_SRC_FILE)
		return NULL; /* nothing to wait for: keys_reload is the only way */
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
	if (k->source == KEYS_SRC_FILE)
		return false;
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

enum jwt_status keys_last_status(const struct keys *k)
{
	if (set_is_usable(k, ev_now(k->loop)))
		return JWT_OK;
	return k->source == KEYS_SRC_FILE ? JWKS_NO_VALID_KEYS : JWKS_FETCH_FAIL;
}

int keys_reload(struct keys *k)
{
	if (!k)
		return -1;
	if (k->source == KEYS_SRC_FILE)
		return load_file(k, true);
	return start_fetch(k) ? 0 : -1;
}

void keys_abandon(struct keys *k)
{
	if (!k)
		return;
	/* Nothing parked may wait for a fetch that will never end: answer
	 * "no keys" now. The callbacks (verify.c) do not free <k>. */
	answer_waiters(k, NULL);
	keys_free(k);
}
