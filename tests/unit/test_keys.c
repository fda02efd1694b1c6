/*
 * fetch.c and keys.c against a small HTTP responder running on the same
 * libev loop (127.0.0.1, port chosen by the kernel): no external process,
 * every loop run bounded by a watchdog timer, alarm() as the last resort.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "fetch.h"
#include "jwks.h"
#include "keys.h"
#include "httpd.h"
#include "t.h"

/* Two RSA-2048 public keys (generated with jwcrypto for this test). */
#define BIG_BYTES (2u * 1024u * 1024u)
#define CAP_BYTES (1024u * 1024u)

/* ---------------------------------------------------------------------- */
/* Test HTTP responder                                                     */

/* What /jwks answers; switched by the tests. */
enum jwks_mode {
	MODE_GOOD1,  /* 200, one key */
	MODE_GOOD12, /* 200, two keys */
	MODE_500,
	MODE_404,
	MODE_HTML,   /* 200 text/html */
	MODE_TRUNC,  /* 200, JSON cut in the middle */
	MODE_EMPTY,  /* 200, empty body */
	MODE_NOKEYS, /* 200, {"keys":[]} */
	MODE_SLOW,   /* never answers */
};

struct srv {
	struct httpd h;
	enum jwks_mode mode;
	int hits_total;
	int hits_jwks;
	int hits_slow;
};

static void reply(struct hconn *c, const char *status, const char *extra_hdrs, const char *body, size_t body_len,
                  bool with_length)
{
	httpd_reply(c, status, extra_hdrs, body, body_len, with_length, 0.0);
}

static void reply_big(struct hconn *c, bool with_length)
{
	char *body = malloc(BIG_BYTES);

	if (!body) {
		hconn_close(c);
		return;
	}
	memset(body, ' ', BIG_BYTES);
	reply(c, "200 OK", "Content-Type: application/json\r\n", body, BIG_BYTES, with_length);
	free(body);
}

static void reply_jwks(struct hconn *c, enum jwks_mode mode)
{
	const char *ct = "Content-Type: application/json\r\n";

	switch (mode) {
	case MODE_GOOD1:
		reply(c, "200 OK", ct, JWKS1, strlen(JWKS1), true);
		break;
	case MODE_GOOD12:
		reply(c, "200 OK", ct, JWKS12, strlen(JWKS12), true);
		break;
	case MODE_500:
		reply(c, "500 Internal Server Error", "", "oops", 4, true);
		break;
	case MODE_404:
		reply(c, "404 Not Found", "", "nope", 4, true);
		break;
	case MODE_HTML:
		reply(c, "200 OK", "Content-Type: text/html\r\n", "<html>login</html>", 18, true);
		break;
	case MODE_TRUNC:
		reply(c, "200 OK", ct, JWKS1, strlen(JWKS1) / 2, true);
		break;
	case MODE_EMPTY:
		reply(c, "200 OK", ct, "", 0, true);
		break;
	case MODE_NOKEYS:
		reply(c, "200 OK", ct, "{\"keys\":[]}", 11, true);
		break;
	case MODE_SLOW:
		break; /* no answer: the connection stays until the client gives up */
	}
}

static void on_request(struct hconn *c, const char *path, void *arg)
{
	struct srv *s = arg;

	s->hits_total++;
	if (!strcmp(path, "/jwks")) {
		s->hits_jwks++;
		reply_jwks(c, s->mode);
	} else if (!strcmp(path, "/good")) {
		reply(c, "200 OK", "", JWKS1, strlen(JWKS1), true);
	} else if (!strcmp(path, "/500")) {
		reply(c, "500 Internal Server Error", "", "oops", 4, true);
	} else if (!strcmp(path, "/404")) {
		reply(c, "404 Not Found", "", "nope", 4, true);
	} else if (!strcmp(path, "/html")) {
		reply(c, "200 OK", "Content-Type: text/html\r\n", "<html></html>", 13, true);
	} else if (!strcmp(path, "/big")) {
		reply_big(c, true);
	} else if (!strcmp(path, "/bigclose")) {
		reply_big(c, false); /* no length: curl reads until close */
	} else if (!strcmp(path, "/loop")) {
		reply(c, "302 Found", "Location: /loop\r\n", "", 0, true);
	} else if (!strcmp(path, "/r1")) {
		reply(c, "302 Found", "Location: /good\r\n", "", 0, true);
	} else if (!strcmp(path, "/r2")) {
		reply(c, "302 Found", "Location: /r1\r\n", "", 0, true);
	} else if (!strcmp(path, "/r3")) {
		reply(c, "302 Found", "Location: /r2\r\n", "", 0, true);
	} else if (!strcmp(path, "/r4")) {
		reply(c, "302 Found", "Location: /r3\r\n", "", 0, true);
	} else if (!strcmp(path, "/slow")) {
		s->hits_slow++;
	} else {
		reply(c, "404 Not Found", "", "", 0, true);
	}
}

static int srv_start(struct srv *s, struct ev_loop *loop)
{
	memset(s, 0, sizeof(*s));
	return httpd_start(&s->h, loop, on_request, s);
}

static void srv_stop(struct srv *s)
{
	httpd_stop(&s->h);
}

static char base_url[64];

static const char *url(const char *path)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s%s", base_url, path);
	return buf;
}

/* ---------------------------------------------------------------------- */
/* fetch.c                                                                  */

struct fres {
	int calls;
	int ok;
	long http_code;
	char error[256];
	size_t body_len;
	bool body_is_jwks1;
	double at;
	struct fetcher *free_me; /* freed from inside the callback */
};

static int fetch_answers;

static void fres_cb(void *arg, const struct fetch_result *r)
{
	struct fres *fr = arg;

	fr->calls++;
	fetch_answers++;
	fr->ok = r->ok;
	fr->http_code = r->http_code;
	snprintf(fr->error, sizeof(fr->error), "%s", r->error ? r->error : "");
	fr->body_len = r->body_len;
	fr->body_is_jwks1 = r->body && r->body_len == strlen(JWKS1) && !memcmp(r->body, JWKS1, r->body_len) &&
	                    r->body[r->body_len] == '\0';
	fr->at = ev_time();
	if (fr->free_me) {
		fetcher_free(fr->free_me);
		fr->free_me = NULL;
	}
}

/* One GET, run to completion; checks it did not call back synchronously. */
static void get(struct ev_loop *loop, struct fetcher *f, const char *u, long timeout_ms, size_t cap,
                struct fres *fr)
{
	int rc;

	memset(fr, 0, sizeof(*fr));
	rc = fetch_get(f, u, timeout_ms, cap, fres_cb, fr);
	ok(rc == 0, "fetch_get %s started", u);
	ok(fr->calls == 0, "fetch_get %s did not call back synchronously", u);
	ok(run_until(loop, (double)timeout_ms / 1000.0 + 2.0, &fr->calls, 1), "GET %s answered", u);
}

static void test_fetch(struct ev_loop *loop, struct srv *s)
{
	struct fetcher *f, *f2;
	struct fres fr, a, b, many[5];
	char refused[64];
	double t0;
	int port, fd, rc, i;

	f = fetcher_new(loop);
	ok(f != NULL, "fetcher_new");
	if (!f)
		return;

	get(loop, f, url("/good"), 1000, CAP_BYTES, &fr);
	ok(fr.ok && fr.http_code == 200 && fr.body_is_jwks1, "200 with the body (ok=%d code=%ld len=%zu)",
	   fr.ok, fr.http_code, fr.body_len);

	get(loop, f, url("/500"), 1000, CAP_BYTES, &fr);
	ok(!fr.ok && fr.http_code == 500 && !strcmp(fr.error, "HTTP 500"), "500 fails: %s", fr.error);

	get(loop, f, url("/404"), 1000, CAP_BYTES, &fr);
	ok(!fr.ok && fr.http_code == 404 && !strcmp(fr.error, "HTTP 404"), "404 fails: %s", fr.error);

	get(loop, f, url("/html"), 1000, CAP_BYTES, &fr);
	ok(fr.ok && fr.http_code == 200, "HTML 200 is a transport success (content is keys.c's business)");

	get(loop, f, url("/big"), 2000, CAP_BYTES, &fr);
	ok(!fr.ok && !strcmp(fr.error, "body over 1048576 bytes"), "2 MiB with Content-Length capped: %s",
	   fr.error);

	get(loop, f, url("/bigclose"), 2000, CAP_BYTES, &fr);
	ok(!fr.ok && !strcmp(fr.error, "body over 1048576 bytes"), "2 MiB without length capped: %s",
	   fr.error);

	get(loop, f, url("/big"), 2000, BIG_BYTES, &fr);
	ok(fr.ok && fr.body_len == BIG_BYTES, "2 MiB within a 2 MiB cap (len=%zu)", fr.body_len);

	get(loop, f, url("/r3"), 1000, CAP_BYTES, &fr);
	ok(fr.ok && fr.body_is_jwks1, "3 redirects followed: %s", fr.error);

	get(loop, f, url("/r4"), 1000, CAP_BYTES, &fr);
	ok(!fr.ok && !strcmp(fr.error, "too many redirects"), "4 redirects refused: %s", fr.error);

	get(loop, f, url("/loop"), 1000, CAP_BYTES, &fr);
	ok(!fr.ok && !strcmp(fr.error, "too many redirects"), "redirect loop refused: %s", fr.error);

	t0 = ev_time();
	get(loop, f, url("/slow"), 300, CAP_BYTES, &fr);
	ok(!fr.ok && !strcmp(fr.error, "timeout") && fr.http_code == 0, "slow answer times out: %s",
	   fr.error);
	ok(fr.at - t0 >= 0.25 && fr.at - t0 < 1.0, "timeout after %.3f s (300 ms)", fr.at - t0);

	/* A port nobody listens on: bind one, read it back, close it. */
	fd = listen_local(&port);
	ok(fd != -1, "spare port");
	close(fd);
	snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/x", port);
	get(loop, f, refused, 1000, CAP_BYTES, &fr);
	ok(!fr.ok && fr.http_code == 0 && fr.error[0], "connection refused fails: %s", fr.error);

	memset(&fr, 0, sizeof(fr));
	rc = fetch_get(f, "ftp://127.0.0.1/x", 1000, CAP_BYTES, fres_cb, &fr);
	if (rc == 0)
		run_until(loop, 2.0, &fr.calls, 1);
	ok((rc == -1 && fr.calls == 0) || (rc == 0 && fr.calls == 1 && !fr.ok), "ftp:// refused (rc=%d): %s",
	   rc, fr.error);

	/* Parallel transfers on one multi. */
	fetch_answers = 0;
	for (i = 0; i < 5; i++) {
		memset(&many[i], 0, sizeof(many[i]));
		ok(fetch_get(f, url("/good"), 1000, CAP_BYTES, fres_cb, &many[i]) == 0, "parallel %d", i);
	}
	run_until(loop, 3.0, &fetch_answers, 5);
	for (i = 0; i < 5; i++)
		ok(many[i].calls == 1 && many[i].ok, "parallel %d answered once", i);

	/* fetch_cancel: the cancelled transfer never calls back. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ok(fetch_get(f, url("/slow"), 500, CAP_BYTES, fres_cb, &a) == 0, "slow started");
	ok(fetch_get(f, url("/good"), 1000, CAP_BYTES, fres_cb, &b) == 0, "good started");
	run_for(loop, 0.05);
	fetch_cancel(f, fres_cb, &a);
	run_until(loop, 2.0, &b.calls, 1);
	run_for(loop, 0.7);
	ok(a.calls == 0 && b.calls == 1 && b.ok, "cancelled transfer silent, the other answered");

	/* fetcher_free with a transfer in flight: no callback, no leak. */
	f2 = fetcher_new(loop);
	ok(f2 != NULL, "second fetcher");
	memset(&a, 0, sizeof(a));
	ok(f2 && fetch_get(f2, url("/slow"), 500, CAP_BYTES, fres_cb, &a) == 0, "slow on the second fetcher");
	run_for(loop, 0.1);
	fetcher_free(f2);
	run_for(loop, 0.6);
	ok(a.calls == 0, "fetcher_free cancels silently");

	/* fetcher_free from inside a callback, another transfer in flight. */
	f2 = fetcher_new(loop);
	ok(f2 != NULL, "third fetcher");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.free_me = f2;
	ok(f2 && fetch_get(f2, url("/good"), 1000, CAP_BYTES, fres_cb, &a) == 0, "good on the third fetcher");
	ok(f2 && fetch_get(f2, url("/slow"), 300, CAP_BYTES, fres_cb, &b) == 0, "slow on the third fetcher");
	run_until(loop, 2.0, &a.calls, 1);
	run_for(loop, 0.5);
	ok(a.calls == 1 && a.ok && b.calls == 0, "fetcher freed by a callback: the rest is silent");

	fetcher_free(f);
}

/* ---------------------------------------------------------------------- */
/* keys.c                                                                   */

enum tw_action {
	TW_NONE,
	TW_FREE_SELF, /* the waiter lives in a malloc'd object freed by its callback */
	TW_CANCEL,    /* cancels <other>, parked in the same batch */
	TW_GET_AGAIN, /* calls keys_get from the callback */
	TW_KEYS_FREE, /* frees the keys from the callback */
};

struct tw {
	struct keys_waiter w; /* first: the callback casts back */
	int calls;
	struct jwks *set; /* not a reference: compared, and read while current */
	uint64_t gen;
	size_t n_keys;
	double at;
	enum tw_action action;
	struct keys *k;
	struct tw *other;
	struct jwks *again;
	bool again_parked;
};

static int answered;
static int freed_waiters;

static void tw_cb(struct keys_waiter *w, struct jwks *set)
{
	struct tw *t = (struct tw *)w;

	answered++;
	t->calls++;
	t->set = set;
	t->gen = set ? set->generation : 0;
	t->n_keys = set ? set->n_keys : 0;
	t->at = ev_time();
	switch (t->action) {
	case TW_NONE:
		break;
	case TW_FREE_SELF:
		freed_waiters++;
		free(t);
		break;
	case TW_CANCEL:
		keys_cancel(t->k, &t->other->w);
		break;
	case TW_GET_AGAIN:
		t->again = keys_get(t->k, &t->w, &t->again_parked);
		break;
	case TW_KEYS_FREE:
		keys_free(t->k);
		break;
	}
}

static void tw_init(struct tw *t, struct keys *k, enum tw_action action)
{
	memset(t, 0, sizeof(*t));
	t->w.cb = tw_cb;
	t->k = k;
	t->action = action;
}

static struct keys_conf conf_for(double cache_s, double stale_s, double refetch_s, double retry_s,
                                 long timeout_ms)
{
	struct keys_conf c = {
	    .uri = url("/jwks"),
	    .cache_time_s = cache_s,
	    .fetch_timeout_ms = timeout_ms,
	    .max_stale_s = stale_s,
	    .refetch_interval_s = refetch_s,
	    .failed_retry_s = retry_s,
	};
	return c;
}

/* First fetch, waiters, cancel, re-entrant callbacks, unknown-kid refetch. */
static void test_keys_first(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_for(10.0, 0.0, 0.5, 0.3, 1000);
	struct tw a, b, c, e, x, r1, r2, g;
	struct tw *d;
	struct keys *k;
	struct jwks *set;
	bool parked, p1, p2, reached;
	int hits;

	s->mode = MODE_GOOD1;
	s->hits_jwks = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new");
	if (!k)
		return;
	ok(s->hits_jwks == 0, "keys_new does not block");

	tw_init(&a, k, TW_NONE);
	tw_init(&b, k, TW_CANCEL);
	tw_init(&c, k, TW_NONE);
	b.other = &c;
	d = malloc(sizeof(*d));
	ok(d != NULL, "malloc waiter");
	if (!d)
		return;
	tw_init(d, k, TW_FREE_SELF);
	tw_init(&e, k, TW_GET_AGAIN);
	tw_init(&x, k, TW_NONE);

	answered = 0;
	freed_waiters = 0;
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "first keys_get parks");
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "parking the same waiter twice is harmless");
	ok(keys_get(k, &b.w, &parked) == NULL && parked, "b parked");
	ok(keys_get(k, &c.w, &parked) == NULL && parked, "c parked");
	ok(keys_get(k, &d->w, &parked) == NULL && parked, "d parked");
	ok(keys_get(k, &e.w, &parked) == NULL && parked, "e parked");
	ok(keys_get(k, &x.w, &parked) == NULL && parked, "x parked");
	keys_cancel(k, &x.w);
	ok(!x.w.parked, "cancelled waiter unparked");
	keys_cancel(k, &x.w); /* no-op */

	reached = run_until(loop, 2.0, &answered, 4);
	ok(reached, "first fetch answers the waiters (%d)", answered);
	run_for(loop, 0.2);
	ok(a.calls == 1 && a.set && a.gen == 1 && a.n_keys == 1, "a answered once with generation 1");
	ok(b.calls == 1 && b.set == a.set, "b answered once");
	ok(c.calls == 0 && !c.w.parked, "c cancelled by b's callback, never called");
	ok(freed_waiters == 1, "d freed its own waiter in its callback");
	ok(e.calls == 1 && e.again == a.set && !e.again_parked, "keys_get from a callback sees the new set");
	ok(x.calls == 0, "x cancelled before the fetch ended");
	ok(answered == 4, "exactly 4 answers (%d)", answered);
	ok(s->hits_jwks == 1, "one fetch for all waiters (%d)", s->hits_jwks);

	tw_init(&g, k, TW_NONE);
	set = keys_get(k, &g.w, &parked);
	ok(set && set == a.set && !parked && set->generation == 1, "cached set served at once");

	/* Unknown kid right after a fetch: rate-limited. */
	tw_init(&r1, k, TW_NONE);
	ok(!keys_refetch_for_kid(k, set, &r1.w) && !r1.w.parked, "kid refetch rate-limited after a fetch");

	run_for(loop, 0.6);
	s->mode = MODE_GOOD12;
	hits = s->hits_jwks;
	answered = 0;
	tw_init(&r1, k, TW_NONE);
	tw_init(&r2, k, TW_NONE);
	p1 = keys_refetch_for_kid(k, set, &r1.w);
	p2 = keys_refetch_for_kid(k, set, &r2.w);
	ok(p1 && p2 && r1.w.parked && r2.w.parked, "kid refetch starts, the second joins it");
	ok(run_until(loop, 2.0, &answered, 2), "kid refetch answers both");
	ok(s->hits_jwks == hits + 1, "coalesced: one request (%d)", s->hits_jwks - hits);
	ok(r1.calls == 1 && r2.calls == 1 && r1.set == r2.set && r1.n_keys == 2 && r1.gen == 2,
	   "both got the new set (keys=%zu gen=%llu)", r1.n_keys, (unsigned long long)r1.gen);
	tw_init(&r1, k, TW_NONE);
	ok(!keys_refetch_for_kid(k, r2.set, &r1.w), "refetch rate-limited again");
	set = keys_get(k, &g.w, &parked);
	ok(set && set->generation == 2 && set->n_keys == 2 && !parked, "keys_get serves the new set");
	run_for(loop, 0.1);
	ok(s->hits_jwks == hits + 1, "no further request");

	keys_free(k);
}

/* Failures answer NULL within the timeout and do not cause a fetch storm. */
static void test_keys_fail(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	static const struct {
		enum jwks_mode mode;
		const char *name;
	} bad[] = {
	    {MODE_500, "500"},     {MODE_404, "404"},
	    {MODE_HTML, "HTML"},   {MODE_TRUNC, "truncated JSON"},
	    {MODE_EMPTY, "empty"}, {MODE_NOKEYS, "no keys"},
	    {MODE_SLOW, "slow"},
	};
	struct keys_conf conf = conf_for(10.0, 5.0, 0.5, 0.4, 300);
	struct keys *k;
	struct tw a, b;
	bool parked;
	double t0;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s->mode = bad[i].mode;
		s->hits_jwks = 0;
		answered = 0;
		t0 = ev_time();
		k = keys_new(loop, f, &conf);
		ok(k != NULL, "keys_new (%s)", bad[i].name);
		if (!k)
			continue;
		tw_init(&a, k, TW_NONE);
		ok(keys_get(k, &a.w, &parked) == NULL && parked, "%s: parked", bad[i].name);
		ok(run_until(loop, 1.5, &answered, 1), "%s: answered", bad[i].name);
		ok(a.calls == 1 && a.set == NULL, "%s: answered NULL", bad[i].name);
		ok(a.at - t0 < 0.3 + 0.4, "%s: within the fetch timeout (%.3f s)", bad[i].name, a.at - t0);
		tw_init(&b, k, TW_NONE);
		ok(keys_get(k, &b.w, &parked) == NULL && !parked, "%s: no new fetch right after a failure",
		   bad[i].name);
		ok(s->hits_jwks == 1, "%s: one request (%d)", bad[i].name, s->hits_jwks);
		keys_free(k);
	}

	/* Background retry after failed_retry_s, then recovery. */
	s->mode = MODE_500;
	s->hits_jwks = 0;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new (retry)");
	if (!k)
		return;
	run_until(loop, 1.0, &s->hits_jwks, 1);
	run_for(loop, 0.2);
	tw_init(&a, k, TW_NONE);
	ok(keys_get(k, &a.w, &parked) == NULL && !parked, "failed: not parked");
	ok(s->hits_jwks == 1, "no storm (%d)", s->hits_jwks);
	run_for(loop, 0.3);
	ok(s->hits_jwks == 2, "retried in the background after failed_retry_s (%d)", s->hits_jwks);
	s->mode = MODE_GOOD1;
	run_for(loop, 0.5);
	ok(s->hits_jwks == 3, "retried again (%d)", s->hits_jwks);
	ok(keys_get(k, &a.w, &parked) != NULL && !parked, "recovered without any request waiting");
	keys_free(k);
}

/* A set outlives cache_time by max_stale while refreshes fail, then goes. */
static void test_keys_stale(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_for(1.0, 1.0, 0.5, 0.3, 300);
	struct keys *k;
	struct jwks *set;
	struct tw a, b;
	bool parked;
	double t0;

	s->mode = MODE_GOOD1;
	s->hits_jwks = 0;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new (stale)");
	if (!k)
		return;
	tw_init(&a, k, TW_NONE);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "stale: parked");
	ok(run_until(loop, 1.0, &answered, 1) && a.set, "stale: first set");
	t0 = ev_time();
	s->mode = MODE_500;

	run_for(loop, 1.3);
	tw_init(&b, k, TW_NONE);
	set = keys_get(k, &b.w, &parked);
	ok(set && set->generation == 1 && !parked, "past cache_time, within max_stale: old set served");
	ok(s->hits_jwks >= 3, "refresh and retries ran (%d requests)", s->hits_jwks);

	run_for(loop, 2.2 - (ev_time() - t0));
	set = keys_get(k, &b.w, &parked);
	ok(set == NULL, "past cache_time + max_stale: no set");
	keys_cancel(k, &b.w);
	keys_free(k);
}

static int refresh_nulls, refresh_calls;

static void refresh_probe_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct keys *k = w->data;
	struct keys_waiter pw = {.cb = tw_cb};
	bool parked;

	refresh_calls++;
	if (!keys_get(k, &pw, &parked)) {
		refresh_nulls++;
		if (parked)
			keys_cancel(k, &pw);
	}
}

/* The refresh runs before cache_time ends: a cached request never waits. */
static void test_keys_refresh(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_for(1.0, 0.0, 0.5, 0.3, 300);
	struct keys *k;
	struct jwks *set;
	ev_timer probe;
	struct tw a;
	bool parked;

	s->mode = MODE_GOOD1;
	s->hits_jwks = 0;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new (refresh)");
	if (!k)
		return;
	tw_init(&a, k, TW_NONE);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "refresh: parked");
	ok(run_until(loop, 1.0, &answered, 1) && a.set, "refresh: first set");

	refresh_nulls = refresh_calls = 0;
	ev_timer_init(&probe, refresh_probe_cb, 0.02, 0.02);
	probe.data = k;
	ev_timer_start(loop, &probe);
	run_for(loop, 0.9);
	set = keys_get(k, &a.w, &parked);
	ok(s->hits_jwks == 2 && set && set->generation == 2,
	   "refreshed at cache_time/2 (%d requests, gen %llu)", s->hits_jwks,
	   set ? (unsigned long long)set->generation : 0ULL);
	run_for(loop, 1.1);
	set = keys_get(k, &a.w, &parked);
	ok(s->hits_jwks >= 4 && set && set->generation >= 4, "keeps refreshing (%d requests)", s->hits_jwks);
	ev_timer_stop(loop, &probe);
	ok(refresh_calls > 50 && refresh_nulls == 0,
	   "never without keys across refreshes (%d probes, %d misses)", refresh_calls, refresh_nulls);
	ok(a.calls == 1, "the first waiter was answered once");
	keys_free(k);
}

/* keys_free with a fetch in flight and from inside a waiter's callback. */
static void test_keys_free(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_for(10.0, 0.0, 0.5, 0.3, 300);
	struct keys *k;
	struct tw a, b;
	bool parked;

	s->mode = MODE_SLOW;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new (free)");
	if (!k)
		return;
	tw_init(&a, k, TW_NONE);
	tw_init(&b, k, TW_NONE);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "free: a parked");
	ok(keys_get(k, &b.w, &parked) == NULL && parked, "free: b parked");
	run_for(loop, 0.05);
	keys_free(k);
	ok(!a.w.parked && !b.w.parked, "keys_free unparks the waiters");
	run_for(loop, 0.5);
	ok(answered == 0, "keys_free drops waiters without callback");

	s->mode = MODE_GOOD1;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "keys_new (free from callback)");
	if (!k)
		return;
	tw_init(&a, k, TW_KEYS_FREE);
	tw_init(&b, k, TW_NONE);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "free: a parked");
	ok(keys_get(k, &b.w, &parked) == NULL && parked, "free: b parked");
	ok(run_until(loop, 1.0, &answered, 1), "a answered");
	run_for(loop, 0.1);
	ok(a.calls == 1 && a.set && b.calls == 0 && !b.w.parked, "keys freed by a's callback drops b");
}

int main(void)
{
	struct ev_loop *loop;
	struct fetcher *f;
	struct srv s;

	/* The whole test takes ~12 s; kill it well before a CI timeout. */
	alarm(40);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	loop = ev_loop_new(EVFLAG_AUTO);
	if (!loop)
		return 1;
	if (srv_start(&s, loop) != 0) {
		fprintf(stderr, "cannot listen on 127.0.0.1\n");
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", s.h.port);

	test_fetch(loop, &s);

	f = fetcher_new(loop);
	ok(f != NULL, "fetcher for keys");
	if (f) {
		test_keys_first(loop, f, &s);
		test_keys_fail(loop, f, &s);
		test_keys_stale(loop, f, &s);
		test_keys_refresh(loop, f, &s);
		test_keys_free(loop, f, &s);
		fetcher_free(f);
	}

	srv_stop(&s);
	ev_loop_destroy(loop);
	curl_global_cleanup();
	return t_done("test_keys");
}
