/*
 * keys.c's other key sources: a local JWKS file (load, reload) and OIDC
 * discovery (served by a small HTTP responder on the same libev loop,
 * 127.0.0.1, port chosen by the kernel), plus keys_reload on a remote
 * provider. Every loop run is bounded by a watchdog, alarm() is the last
 * resort. The agent's log lines (stderr) are captured around some calls to
 * check the events and reasons, and copied back to stderr.
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
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "fetch.h"
#include "jwks.h"
#include "keys.h"
#include "status.h"
#include "httpd.h"
#include "t.h"

#define DISC_PATH "/idp/.well-known/openid-configuration"

/* ---------------------------------------------------------------------- */
/* Test HTTP responder: a table of routes the tests edit                   */

#define MAX_ROUTES 8

struct route {
	char path[128];
	int status;       /* 0: never answer (the client times out) */
	const char *body; /* not owned; NULL: empty */
	size_t body_len;
	double delay_s; /* answer this much later */
	int hits;
};

struct srv {
	struct httpd h;
	struct route routes[MAX_ROUTES];
	size_t n_routes;
	int hits_total;
};

static struct route *srv_route(struct srv *s, const char *path, int status, const char *body, double delay_s)
{
	struct route *r = NULL;
	size_t i;

	for (i = 0; i < s->n_routes; i++)
		if (!strcmp(s->routes[i].path, path))
			r = &s->routes[i];
	if (!r) {
		if (s->n_routes == MAX_ROUTES)
			abort();
		r = &s->routes[s->n_routes++];
		memset(r, 0, sizeof(*r));
		snprintf(r->path, sizeof(r->path), "%s", path);
	}
	r->status = status;
	r->body = body;
	r->body_len = body ? strlen(body) : 0;
	r->delay_s = delay_s;
	return r;
}

static int route_hits(struct srv *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->n_routes; i++)
		if (!strcmp(s->routes[i].path, path))
			return s->routes[i].hits;
	return 0;
}

static void srv_reset(struct srv *s)
{
	s->n_routes = 0;
	s->hits_total = 0;
}

static const char *status_line(int status)
{
	switch (status) {
	case 200:
		return "200 OK";
	case 404:
		return "404 Not Found";
	default:
		return "500 Internal Server Error";
	}
}

static void on_request(struct hconn *c, const char *path, void *arg)
{
	struct srv *s = arg;
	size_t i;

	s->hits_total++;
	for (i = 0; i < s->n_routes; i++) {
		struct route *r = &s->routes[i];

		if (strcmp(r->path, path))
			continue;
		r->hits++;
		if (r->status)
			httpd_reply(c, status_line(r->status), "Content-Type: application/json\r\n", r->body,
			            r->body_len, true, r->delay_s);
		return; /* status 0: keep reading until the client gives up */
	}
	httpd_reply(c, status_line(404), "Content-Type: application/json\r\n", "", 0, true, 0.0);
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

/* ---------------------------------------------------------------------- */
/* Bounded loop runs, URLs, log capture, files                              */

/* Runs until the route got <target> hits. */
static bool run_until_hits(struct ev_loop *loop, struct srv *s, const char *path, int target, double max_s)
{
	size_t i;

	for (i = 0; i < s->n_routes; i++)
		if (!strcmp(s->routes[i].path, path))
			return run_until(loop, max_s, &s->routes[i].hits, target);
	return false;
}

static char base_url[64];

static const char *url(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "%s%s", base_url, path);
	return buf;
}

/* The agent logs to stderr. Between log_mark() and log_since(), fd 2 goes
 * to a file in the test's directory; log_since() puts stderr back, copies
 * what was written to it, and returns it. The file is removed at the end
 * only: if a sanitizer aborts inside a window its report stays there. */
static int real_stderr = -1;
static int cap_fd = -1;
static char cap_path[128];
static char cap_buf[65536];

static int log_capture_start(const char *dir)
{
	snprintf(cap_path, sizeof(cap_path), "%s/agent.log", dir);
	cap_fd = open(cap_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (cap_fd == -1)
		return -1;
	real_stderr = dup(STDERR_FILENO);
	if (real_stderr == -1)
		return -1;
	printf("# log windows captured in %s\n", cap_path);
	return 0;
}

/* Keeps the file when tests failed. */
static void log_capture_stop(bool keep)
{
	if (real_stderr != -1 && dup2(real_stderr, STDERR_FILENO) == -1)
		perror("dup2");
	if (real_stderr != -1)
		close(real_stderr);
	if (cap_fd != -1) {
		close(cap_fd);
		if (!keep)
			unlink(cap_path);
	}
}

static off_t log_mark(void)
{
	fflush(stderr);
	if (dup2(cap_fd, STDERR_FILENO) == -1)
		return -1;
	return lseek(cap_fd, 0, SEEK_END);
}

/* The log written since <mark>, NUL-terminated (static buffer). */
static const char *log_since(off_t mark)
{
	ssize_t n;

	if (dup2(real_stderr, STDERR_FILENO) == -1 || mark < 0)
		return "";
	n = pread(cap_fd, cap_buf, sizeof(cap_buf) - 1, mark);
	if (n < 0)
		n = 0;
	cap_buf[n] = '\0';
	if (n > 0 && write(STDERR_FILENO, cap_buf, (size_t)n) < 0)
		cap_buf[n] = '\0'; /* the copy is best effort */
	return cap_buf;
}

static char tmpdir[64];

static const char *tpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static bool write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool good;

	if (!f)
		return false;
	good = fwrite(data, 1, len, f) == len;
	if (fclose(f) != 0)
		good = false;
	return good;
}

/* ---------------------------------------------------------------------- */
/* Waiters                                                                  */

struct tw {
	struct keys_waiter w; /* first: the callback casts back */
	int calls;
	struct jwks *set; /* not a reference */
	uint64_t gen;
	size_t n_keys;
	double at;
};

static int answered;

static void tw_cb(struct keys_waiter *w, struct jwks *set)
{
	struct tw *t = (struct tw *)w;

	answered++;
	t->calls++;
	t->set = set;
	t->gen = set ? set->generation : 0;
	t->n_keys = set ? set->n_keys : 0;
	t->at = ev_time();
}

static void tw_init(struct tw *t)
{
	memset(t, 0, sizeof(*t));
	t->w.cb = tw_cb;
}

static struct keys_conf conf_base(void)
{
	struct keys_conf c = {
	    .cache_time_s = 10.0,
	    .fetch_timeout_ms = 300,
	    .max_stale_s = 0.0,
	    .refetch_interval_s = 0.2,
	    .failed_retry_s = 0.3,
	};
	return c;
}

/* ---------------------------------------------------------------------- */
/* Local file                                                               */

static void test_file_good(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	char p[128], u[128];
	struct keys *k;
	struct jwks *set;
	struct tw a;
	bool parked;

	ok(write_file(tpath(p, sizeof(p), "good.json"), JWKS1, strlen(JWKS1)), "write good.json");
	conf.file = p;
	conf.cache_time_s = 0.1;
	k = keys_new(loop, NULL, &conf);
	ok(k != NULL, "file: keys_new without a fetcher");
	if (!k)
		return;
	tw_init(&a);
	set = keys_get(k, &a.w, &parked);
	ok(set && !parked && set->generation == 1 && set->n_keys == 1, "file: set at once (gen 1, 1 key)");
	ok(keys_peek(k) == set, "file: keys_peek gives the same set");
	ok(keys_last_status(k) == JWT_OK, "file: status OK");
	ok(!keys_refetch_for_kid(k, set, &a.w) && !a.w.parked, "file: no kid refetch, not parked");
	run_for(loop, 0.3);
	ok(keys_get(k, &a.w, &parked) == set && !parked, "file: the set never expires (past cache_time)");
	ok(a.calls == 0, "file: no callback ever");
	keys_free(k);

	/* The file wins over a URI, and nothing is fetched. */
	srv_reset(s);
	srv_route(s, "/jwks", 200, JWKS1, 0.0);
	conf.uri = url(u, sizeof(u), "/jwks");
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "file+uri: keys_new");
	if (!k) {
		unlink(p);
		return;
	}
	run_for(loop, 0.2);
	ok(keys_peek(k) && s->hits_total == 0, "file+uri: the file is used, no request (%d)", s->hits_total);
	keys_free(k);
	unlink(p);
}

static void test_file_bad(struct ev_loop *loop)
{
	static const struct {
		const char *name;
		const char *content; /* NULL: do not create */
		const char *reason;  /* expected in the log */
	} cases[] = {
	    {"bad.json", "{\"keys\":[{\"kty\":", "bad JWKS"},
	    {"notobj.json", "[1,2,3]", "bad JWKS"},
	    {"nokeys.json", "{\"keys\":[]}", "bad JWKS"},
	    {"smallrsa.json", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "bad JWKS"},
	    {"empty.json", "", "bad JWKS"},
	    {"missing.json", NULL, "open: No such file or directory"},
	    {"adir", NULL, "not a regular file"},
	    {"big.json", NULL, "file over 1048576 bytes"},
	};
	struct keys_conf conf = conf_base();
	struct keys *k;
	struct tw a;
	char p[128];
	const char *log;
	char *big;
	bool parked;
	off_t mark;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tpath(p, sizeof(p), cases[i].name);
		if (cases[i].content) {
			ok(write_file(p, cases[i].content, strlen(cases[i].content)), "write %s",
			   cases[i].name);
		} else if (!strcmp(cases[i].name, "adir")) {
			ok(mkdir(p, 0700) == 0, "mkdir %s", p);
		} else if (!strcmp(cases[i].name, "big.json")) {
			big = malloc(JWKS_MAX_BYTES + 1);
			ok(big != NULL, "malloc big");
			if (!big)
				continue;
			memset(big, ' ', JWKS_MAX_BYTES + 1);
			memcpy(big, JWKS1, strlen(JWKS1));
			ok(write_file(p, big, JWKS_MAX_BYTES + 1), "write %s", cases[i].name);
			free(big);
		}
		conf.file = p;
		mark = log_mark();
		k = keys_new(loop, NULL, &conf);
		log = log_since(mark);
		ok(k != NULL, "%s: keys_new still gives a provider", cases[i].name);
		if (!k)
			continue;
		ok(strstr(log, "event=jwks_load_failed") && strstr(log, cases[i].reason),
		   "%s: logged jwks_load_failed with \"%s\"", cases[i].name, cases[i].reason);
		tw_init(&a);
		ok(keys_get(k, &a.w, &parked) == NULL && !parked, "%s: no set, not parked", cases[i].name);
		ok(keys_peek(k) == NULL, "%s: keys_peek NULL", cases[i].name);
		ok(keys_last_status(k) == JWKS_NO_VALID_KEYS, "%s: status %s", cases[i].name,
		   jwt_status_str(keys_last_status(k)));
		ok(!keys_refetch_for_kid(k, NULL, &a.w) && !a.w.parked, "%s: no refetch", cases[i].name);
		keys_free(k);
		if (!strcmp(cases[i].name, "adir"))
			rmdir(p);
		else
			unlink(p);
	}
	ok(answered == 0, "bad files: no callback");
}

static void test_file_reload(struct ev_loop *loop)
{
	struct keys_conf conf = conf_base();
	struct jwks *set1, *set2, *set;
	struct keys *k;
	struct tw a;
	char p[128];
	const char *log;
	bool parked;
	off_t mark;

	ok(write_file(tpath(p, sizeof(p), "reload.json"), JWKS1, strlen(JWKS1)), "write reload.json");
	conf.file = p;
	k = keys_new(loop, NULL, &conf);
	ok(k != NULL, "reload: keys_new");
	if (!k)
		return;
	tw_init(&a);
	set1 = keys_get(k, &a.w, &parked);
	ok(set1 && set1->generation == 1, "reload: first set");
	if (!set1) {
		keys_free(k);
		return;
	}
	jwks_ref(set1); /* as a verification in progress would */

	ok(write_file(p, JWKS12, strlen(JWKS12)), "rewrite with two keys");
	mark = log_mark();
	ok(keys_reload(k) == 0, "reload: success returns 0");
	log = log_since(mark);
	ok(strstr(log, "event=jwks_reloaded") != NULL, "reload: logged jwks_reloaded");
	set2 = keys_peek(k);
	ok(set2 && set2 != set1 && set2->generation == 2 && set2->n_keys == 2,
	   "reload: new set, generation 2");
	ok(set1->generation == 1 && set1->n_keys == 1, "reload: the old set is intact while referenced");
	jwks_unref(set1);
	ok(keys_last_status(k) == JWT_OK, "reload: status OK");

	ok(write_file(p, "garbage", 7), "rewrite with garbage");
	mark = log_mark();
	ok(keys_reload(k) == -1, "reload of garbage returns -1");
	log = log_since(mark);
	ok(strstr(log, "event=jwks_reload_failed") && strstr(log, "reason=\"bad JWKS") &&
	       strstr(log, "keeps=previous"),
	   "reload failure logged with its reason");
	set = keys_get(k, &a.w, &parked);
	ok(set == set2 && set->generation == 2 && !parked, "reload failure keeps the old set");
	ok(keys_last_status(k) == JWT_OK, "status still OK");

	ok(write_file(p, "{\"keys\":[]}", 11), "rewrite with no keys");
	ok(keys_reload(k) == -1 && keys_peek(k) == set2, "reload of an empty set: -1, old set kept");

	ok(unlink(p) == 0, "remove the file");
	mark = log_mark();
	ok(keys_reload(k) == -1 && keys_peek(k) == set2, "reload of a missing file: -1, old set kept");
	log = log_since(mark);
	ok(strstr(log, "event=jwks_reload_failed") && strstr(log, "open: "), "missing file logged");

	ok(write_file(p, JWKS1, strlen(JWKS1)), "restore the file");
	ok(keys_reload(k) == 0, "reload succeeds again");
	set = keys_peek(k);
	ok(set && set->generation == 3 && set->n_keys == 1, "generation 3 (failures publish nothing)");
	keys_free(k);

	/* A bad file at start, fixed by a reload. */
	ok(write_file(p, "{", 1), "write a bad file");
	k = keys_new(loop, NULL, &conf);
	ok(k != NULL && !keys_peek(k) && keys_last_status(k) == JWKS_NO_VALID_KEYS, "bad at start: no set");
	if (!k)
		return;
	ok(write_file(p, JWKS12, strlen(JWKS12)), "fix the file");
	ok(keys_reload(k) == 0, "reload fixes it");
	set = keys_get(k, &a.w, &parked);
	ok(set && set->generation == 1 && set->n_keys == 2 && !parked && keys_last_status(k) == JWT_OK,
	   "set available after the reload");
	keys_free(k);
	unlink(p);
	ok(a.calls == 0, "file reloads: no callback");
}

/* ---------------------------------------------------------------------- */
/* Remote reload                                                            */

static void test_remote_reload(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct keys *k;
	struct jwks *set;
	struct route *r;
	struct tw a;
	char u[128];
	bool parked;
	int r1, r2;

	srv_reset(s);
	r = srv_route(s, "/jwks", 200, JWKS1, 0.0);
	conf.uri = url(u, sizeof(u), "/jwks");
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "remote reload: keys_new");
	if (!k)
		return;
	answered = 0;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "remote: parked");
	ok(run_until(loop, 1.0, &answered, 1) && a.set && a.gen == 1, "remote: first set");

	srv_route(s, "/jwks", 200, JWKS12, 0.0);
	ok(keys_reload(k) == 0, "remote: keys_reload returns 0");
	ok(r->hits == 1, "remote: the fetch is asynchronous");
	ok(run_until(loop, 1.0, &r->hits, 2), "remote: reload fetched");
	run_for(loop, 0.05);
	set = keys_peek(k);
	ok(set && set->generation == 2 && set->n_keys == 2, "remote: new set after reload");

	r1 = keys_reload(k);
	r2 = keys_reload(k);
	ok(r1 == 0 && r2 == 0, "remote: two reloads return 0");
	run_for(loop, 0.2);
	ok(r->hits == 3, "remote: coalesced into one fetch (%d)", r->hits);
	set = keys_peek(k);
	ok(set && set->generation == 3, "remote: generation 3");

	/* A failed reload keeps the set; an immediate second reload is not
	 * held back by failed_retry_s (the operator asked). */
	srv_route(s, "/jwks", 500, "x", 0.0);
	ok(keys_reload(k) == 0, "remote: reload against a failing IdP");
	run_for(loop, 0.1);
	ok(r->hits == 4 && keys_peek(k) == set && keys_last_status(k) == JWT_OK,
	   "remote: failed reload keeps the set");
	ok(keys_reload(k) == 0, "remote: reload right after a failure");
	run_for(loop, 0.1);
	ok(r->hits == 5, "remote: not held back by failed_retry_s (%d)", r->hits);
	ok(a.calls == 1, "remote: the first waiter answered once");
	keys_free(k);

	/* Remote without a usable set: JWKS_FETCH_FAIL. */
	srv_route(s, "/jwks", 404, "", 0.0);
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "remote failing: keys_new");
	if (!k)
		return;
	answered = 0;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "remote failing: parked");
	ok(run_until(loop, 1.0, &answered, 1) && !a.set, "remote failing: answered NULL");
	ok(keys_last_status(k) == JWKS_FETCH_FAIL, "remote failing: status JwksFetchFail");
	keys_free(k);
}

/* ---------------------------------------------------------------------- */
/* OIDC discovery                                                           */

static char doc_buf[1024];

static const char *make_doc(const char *issuer, const char *jwks_field)
{
	snprintf(doc_buf, sizeof(doc_buf),
	         "{\"issuer\":\"%s\",%s\"id_token_signing_alg_values_supported\":[\"RS256\"],"
	         "\"response_types_supported\":[\"code\"]}",
	         issuer, jwks_field);
	return doc_buf;
}

static char jwks_field_buf[256];

static const char *jwks_field(const char *path)
{
	char u[128];

	snprintf(jwks_field_buf, sizeof(jwks_field_buf), "\"jwks_uri\":\"%s\",", url(u, sizeof(u), path));
	return jwks_field_buf;
}

static void test_oidc_ok(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	char iss[128], iss2[128];
	struct route *disc, *jr;
	struct keys *k;
	struct jwks *set;
	struct tw a, b, c;
	const char *log;
	bool parked;
	off_t mark;

	srv_reset(s);
	url(iss, sizeof(iss), "/idp");
	disc = srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.0);
	jr = srv_route(s, "/oidc/jwks", 200, JWKS1, 0.0);
	conf.issuer_discovery = iss;
	conf.cache_time_s = 0.8;
	mark = log_mark();
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "oidc: keys_new");
	if (!k)
		return;
	ok(s->hits_total == 0, "oidc: keys_new does not block");
	answered = 0;
	tw_init(&a);
	tw_init(&b);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "oidc: a parked");
	ok(keys_get(k, &b.w, &parked) == NULL && parked, "oidc: b parked");
	ok(run_until(loop, 1.5, &answered, 2), "oidc: both answered");
	run_for(loop, 0.05);
	ok(a.calls == 1 && b.calls == 1 && a.set && a.set == b.set && a.gen == 1 && a.n_keys == 1,
	   "oidc: each answered once with generation 1");
	ok(disc->hits == 1 && jr->hits == 1, "oidc: one discovery, one JWKS fetch (%d, %d)", disc->hits,
	   jr->hits);
	ok(keys_last_status(k) == JWT_OK, "oidc: status OK");
	log = log_since(mark);
	ok(strstr(log, "event=oidc_discovered") && strstr(log, "/oidc/jwks"), "oidc: discovery logged");

	/* Later fetches use the discovered URL. */
	ok(keys_reload(k) == 0, "oidc: reload");
	ok(run_until(loop, 1.0, &jr->hits, 2), "oidc: reload fetched the JWKS");
	run_for(loop, 0.05);
	set = keys_peek(k);
	ok(disc->hits == 1 && set && set->generation == 2, "oidc: no rediscovery on reload");
	tw_init(&c);
	run_for(loop, 0.25 - 0.05);
	ok(keys_refetch_for_kid(k, set, &c.w) && c.w.parked, "oidc: kid refetch parks");
	ok(run_until(loop, 1.0, &c.calls, 1) && c.set && c.gen == 3, "oidc: kid refetch answered");
	ok(disc->hits == 1 && jr->hits == 3, "oidc: kid refetch without rediscovery (%d, %d)", disc->hits,
	   jr->hits);
	/* Background refresh at cache_time/2. */
	ok(run_until(loop, 1.0, &jr->hits, 4), "oidc: background refresh");
	ok(disc->hits == 1, "oidc: still one discovery");
	keys_free(k);

	/* An issuer with a trailing slash: no "//" in the discovery URL, and
	 * the document's issuer compared with the configured one as is. */
	url(iss2, sizeof(iss2), "/idp/");
	srv_route(s, DISC_PATH, 200, make_doc(iss2, jwks_field("/oidc/jwks")), 0.0);
	conf.issuer_discovery = iss2;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "oidc slash: keys_new");
	if (!k)
		return;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "oidc slash: parked");
	ok(run_until(loop, 1.5, &answered, 1) && a.set, "oidc slash: discovered");
	ok(disc->hits == 2, "oidc slash: discovery path without a double slash");
	keys_free(k);
}

struct ocase {
	const char *name;
	int kind;
	const char *issuer;     /* in the document */
	const char *jwks_field; /* or the raw body */
	const char *reason;
};

static void test_oidc_fail(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	enum { DOC_OK, DOC_RAW, DOC_404, DOC_SLOW, DOC_BIG };
	char iss[128], other[128], slash[128], f_jwks[256];
	struct ocase cases[10];
	struct keys_conf conf = conf_base();
	struct route *disc, *jr;
	struct keys *k;
	struct tw a, b;
	const char *log;
	char *big;
	bool parked;
	double t0;
	off_t mark;
	size_t i, n = 0;

	url(iss, sizeof(iss), "/idp");
	url(other, sizeof(other), "/other");
	url(slash, sizeof(slash), "/idp/");
	snprintf(f_jwks, sizeof(f_jwks), "%s", jwks_field("/oidc/jwks"));
#define CASE(n_, k_, i_, j_, r_)                                                                             \
	cases[n++] = (struct ocase){.name = n_, .kind = k_, .issuer = i_, .jwks_field = j_, .reason = r_}
	CASE("wrong issuer", DOC_OK, other, f_jwks, "issuer mismatch");
	CASE("issuer with an extra slash", DOC_OK, slash, f_jwks, "issuer mismatch");
	CASE("missing jwks_uri", DOC_OK, iss, "", "jwks_uri missing");
	CASE("numeric jwks_uri", DOC_OK, iss, "\"jwks_uri\":42,", "jwks_uri missing or not a string");
	CASE("file jwks_uri", DOC_OK, iss, "\"jwks_uri\":\"file:///etc/passwd\",", "not an http(s) URL");
	CASE("empty http jwks_uri", DOC_OK, iss, "\"jwks_uri\":\"https://\",", "not an http(s) URL");
	CASE("not JSON", DOC_RAW, NULL, "<html>login</html>", "invalid JSON");
	CASE("not an object", DOC_RAW, NULL, "[\"issuer\"]", "not a JSON object");
	CASE("discovery 404", DOC_404, NULL, NULL, "HTTP 404");
	CASE("discovery timeout", DOC_SLOW, NULL, NULL, "timeout");
#undef CASE

	conf.issuer_discovery = iss;
	for (i = 0; i <= n; i++) {
		srv_reset(s);
		big = NULL;
		if (i == n) {
			big = malloc(70 * 1024 + 1);
			if (!big)
				break;
			memset(big, ' ', 70 * 1024);
			big[70 * 1024] = '\0';
			memcpy(big, "{\"a\":1}", 7);
			disc = srv_route(s, DISC_PATH, 200, big, 0.0);
		} else if (cases[i].kind == DOC_OK) {
			disc =
			    srv_route(s, DISC_PATH, 200, make_doc(cases[i].issuer, cases[i].jwks_field), 0.0);
		} else if (cases[i].kind == DOC_RAW) {
			disc = srv_route(s, DISC_PATH, 200, cases[i].jwks_field, 0.0);
		} else if (cases[i].kind == DOC_404) {
			disc = srv_route(s, DISC_PATH, 404, "nope", 0.0);
		} else {
			disc = srv_route(s, DISC_PATH, 0, NULL, 0.0);
		}
		jr = srv_route(s, "/oidc/jwks", 200, JWKS1, 0.0);
		const char *name = i == n ? "document over 64 KiB" : cases[i].name;
		const char *reason = i == n ? "body over 65536 bytes" : cases[i].reason;

		answered = 0;
		mark = log_mark();
		t0 = ev_time();
		k = keys_new(loop, f, &conf);
		ok(k != NULL, "%s: keys_new", name);
		if (!k) {
			free(big);
			continue;
		}
		tw_init(&a);
		ok(keys_get(k, &a.w, &parked) == NULL && parked, "%s: parked", name);
		ok(run_until(loop, 1.5, &answered, 1), "%s: answered", name);
		ok(a.calls == 1 && a.set == NULL, "%s: answered NULL", name);
		ok(a.at - t0 < 0.3 + 0.3, "%s: within one fetch timeout (%.3f s)", name, a.at - t0);
		ok(keys_last_status(k) == JWKS_FETCH_FAIL, "%s: status %s", name,
		   jwt_status_str(keys_last_status(k)));
		ok(disc->hits == 1 && jr->hits == 0, "%s: no JWKS fetch (%d, %d)", name, disc->hits,
		   jr->hits);
		log = log_since(mark);
		ok(strstr(log, "event=oidc_discovery_failed") && strstr(log, reason),
		   "%s: logged with \"%s\"", name, reason);
		tw_init(&b);
		ok(keys_get(k, &b.w, &parked) == NULL && !parked, "%s: no new attempt right after", name);
		keys_free(k);
		free(big);
	}
}

/* A JWKS fetch failing after discovery: the next attempt rediscovers (and
 * follows a jwks_uri that moved). */
static void test_oidc_rediscover(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct route *disc, *bad, *good;
	struct keys *k;
	struct jwks *set;
	struct tw a, b;
	const char *log;
	char iss[128];
	bool parked;
	off_t mark;

	srv_reset(s);
	url(iss, sizeof(iss), "/idp");
	disc = srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/old")), 0.0);
	bad = srv_route(s, "/oidc/old", 500, "gone", 0.0);
	good = srv_route(s, "/oidc/jwks", 200, JWKS1, 0.0);
	conf.issuer_discovery = iss;
	answered = 0;
	mark = log_mark();
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "rediscover: keys_new");
	if (!k)
		return;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "rediscover: parked");
	ok(run_until(loop, 1.5, &answered, 1) && a.calls == 1 && !a.set, "rediscover: JWKS 500 answers NULL");
	ok(disc->hits == 1 && bad->hits == 1, "rediscover: discovery then JWKS (%d, %d)", disc->hits,
	   bad->hits);
	ok(keys_last_status(k) == JWKS_FETCH_FAIL, "rediscover: status JwksFetchFail");
	log = log_since(mark);
	ok(strstr(log, "event=jwks_fetch_failed") && strstr(log, "HTTP 500"),
	   "rediscover: JWKS failure logged");
	tw_init(&b);
	ok(keys_get(k, &b.w, &parked) == NULL && !parked, "rediscover: no storm");

	/* The IdP moved its JWKS: the background retry discovers it. */
	srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.0);
	ok(run_until(loop, 1.5, &good->hits, 1), "rediscover: retry reached the new JWKS URL");
	run_for(loop, 0.05);
	set = keys_peek(k);
	ok(disc->hits == 2 && bad->hits == 1 && set && set->generation == 1,
	   "rediscover: discovered again, set published (%d, %d)", disc->hits, bad->hits);
	ok(a.calls == 1 && b.calls == 0, "rediscover: nobody answered twice");

	/* The JWKS fails with a set in hand: the set stays, the next attempt
	 * starts from discovery. */
	srv_route(s, "/oidc/jwks", 500, "x", 0.0);
	ok(keys_reload(k) == 0, "rediscover: reload");
	ok(run_until(loop, 1.0, &good->hits, 2), "rediscover: reload fetched the JWKS");
	run_for(loop, 0.05);
	ok(disc->hits == 2 && keys_peek(k) == set, "rediscover: failure keeps the set");
	srv_route(s, "/oidc/jwks", 200, JWKS12, 0.0);
	ok(run_until(loop, 1.5, &disc->hits, 3), "rediscover: retry starts from discovery");
	ok(run_until(loop, 1.0, &good->hits, 3), "rediscover: then the JWKS");
	run_for(loop, 0.05);
	set = keys_peek(k);
	ok(set && set->generation == 2 && set->n_keys == 2, "rediscover: new set");
	keys_free(k);
}

/* Waiters parked during discovery and during the JWKS fetch are answered
 * exactly once, when the JWKS fetch ends. */
static void test_oidc_waiters(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct route *disc, *jr;
	struct tw w1, w2, w3, w4, wc;
	struct keys *k;
	char iss[128];
	bool parked;
	double t0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		const char *what = pass == 0 ? "waiters" : "waiters, JWKS failing";

		srv_reset(s);
		url(iss, sizeof(iss), "/idp");
		disc = srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.15);
		jr = srv_route(s, "/oidc/jwks", pass == 0 ? 200 : 500, JWKS1, 0.15);
		conf.issuer_discovery = iss;
		conf.fetch_timeout_ms = 1000;
		answered = 0;
		t0 = ev_time();
		k = keys_new(loop, f, &conf);
		ok(k != NULL, "%s: keys_new", what);
		if (!k)
			return;
		tw_init(&w1);
		tw_init(&w2);
		tw_init(&w3);
		tw_init(&w4);
		tw_init(&wc);
		ok(keys_get(k, &w1.w, &parked) == NULL && parked, "%s: w1 parked before discovery", what);
		ok(run_until_hits(loop, s, DISC_PATH, 1, 1.0), "%s: discovery requested", what);
		ok(keys_get(k, &w2.w, &parked) == NULL && parked, "%s: w2 parked during discovery", what);
		ok(keys_get(k, &wc.w, &parked) == NULL && parked, "%s: wc parked during discovery", what);
		keys_cancel(k, &wc.w);
		ok(run_until_hits(loop, s, "/oidc/jwks", 1, 1.0), "%s: JWKS requested", what);
		ok(answered == 0, "%s: nobody answered after discovery alone", what);
		ok(keys_get(k, &w3.w, &parked) == NULL && parked, "%s: w3 parked during the JWKS fetch",
		   what);
		ok(keys_refetch_for_kid(k, NULL, &w4.w) && w4.w.parked, "%s: w4 joins through a kid refetch",
		   what);
		ok(run_until(loop, 1.5, &answered, 4), "%s: all answered", what);
		run_for(loop, 0.4); /* past failed_retry_s: a retry must not answer again */
		ok(w1.calls == 1 && w2.calls == 1 && w3.calls == 1 && w4.calls == 1 && wc.calls == 0,
		   "%s: each exactly once (%d %d %d %d, cancelled %d)", what, w1.calls, w2.calls, w3.calls,
		   w4.calls, wc.calls);
		if (pass == 0)
			ok(w1.set && w1.set == w2.set && w2.set == w3.set && w3.set == w4.set && w1.gen == 1,
			   "%s: all got generation 1", what);
		else
			ok(!w1.set && !w2.set && !w3.set && !w4.set, "%s: all got NULL", what);
		ok(w1.at - t0 >= 0.28 && w1.at - t0 < 1.0, "%s: answered after both steps (%.3f s)", what,
		   w1.at - t0);
		ok(answered == 4, "%s: 4 answers in all (%d)", what, answered);
		if (pass == 0)
			ok(disc->hits == 1 && jr->hits == 1, "%s: one discovery, one JWKS (%d, %d)", what,
			   disc->hits, jr->hits);
		keys_free(k);
	}
}

/* The documented bound: discovery then JWKS, each up to fetch_timeout. */
static void test_oidc_bound(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct keys *k;
	struct tw a;
	char iss[128];
	bool parked;
	double t0;

	srv_reset(s);
	url(iss, sizeof(iss), "/idp");
	srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.25);
	srv_route(s, "/oidc/jwks", 0, NULL, 0.0); /* never answers */
	conf.issuer_discovery = iss;
	conf.fetch_timeout_ms = 300;
	answered = 0;
	t0 = ev_time();
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "bound: keys_new");
	if (!k)
		return;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "bound: parked");
	ok(run_until(loop, 2.0, &answered, 1) && !a.set, "bound: answered NULL");
	ok(a.at - t0 > 0.3 && a.at - t0 < 0.6 + 0.15, "bound: longer than one timeout, within two (%.3f s)",
	   a.at - t0);
	keys_free(k);
}

/* keys_free with discovery or the JWKS fetch in flight: silent, no leak. */
static void test_oidc_free(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct keys *k;
	struct tw a;
	char iss[128];
	bool parked;

	srv_reset(s);
	url(iss, sizeof(iss), "/idp");
	srv_route(s, DISC_PATH, 0, NULL, 0.0);
	conf.issuer_discovery = iss;
	answered = 0;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "free: keys_new (discovery hanging)");
	if (!k)
		return;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "free: parked during discovery");
	run_for(loop, 0.05);
	keys_free(k);
	ok(!a.w.parked, "free: unparked");

	srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.0);
	srv_route(s, "/oidc/jwks", 0, NULL, 0.0);
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "free: keys_new (JWKS hanging)");
	if (!k)
		return;
	tw_init(&a);
	ok(keys_get(k, &a.w, &parked) == NULL && parked, "free: parked");
	ok(run_until_hits(loop, s, "/oidc/jwks", 1, 1.0), "free: JWKS requested");
	keys_free(k);
	run_for(loop, 0.45);
	ok(answered == 0 && !a.w.parked, "free: no callback after keys_free");
}

static void test_conf(struct ev_loop *loop, struct fetcher *f, struct srv *s)
{
	struct keys_conf conf = conf_base();
	struct keys *k;
	char iss[128], u[128];

	ok(keys_new(loop, f, &conf) == NULL, "conf: no source refused");
	conf.issuer_discovery = "ftp://idp.example";
	ok(keys_new(loop, f, &conf) == NULL, "conf: ftp issuer refused");
	conf.issuer_discovery = "idp.example";
	ok(keys_new(loop, f, &conf) == NULL, "conf: issuer without scheme refused");
	conf.issuer_discovery = url(iss, sizeof(iss), "/idp");
	ok(keys_new(loop, NULL, &conf) == NULL, "conf: OIDC without a fetcher refused");
	conf.issuer_discovery = NULL;
	conf.uri = url(u, sizeof(u), "/jwks");
	ok(keys_new(loop, NULL, &conf) == NULL, "conf: remote without a fetcher refused");

	/* uri wins over issuer_discovery. */
	srv_reset(s);
	srv_route(s, DISC_PATH, 200, make_doc(iss, jwks_field("/oidc/jwks")), 0.0);
	srv_route(s, "/jwks", 200, JWKS1, 0.0);
	conf.issuer_discovery = iss;
	k = keys_new(loop, f, &conf);
	ok(k != NULL, "conf: uri + issuer");
	if (!k)
		return;
	ok(run_until_hits(loop, s, "/jwks", 1, 1.0) && route_hits(s, DISC_PATH) == 0,
	   "conf: uri used, no discovery");
	keys_free(k);
	ok(keys_reload(NULL) == -1, "conf: keys_reload(NULL) is -1");
}

int main(void)
{
	struct ev_loop *loop;
	struct fetcher *f;
	struct srv s;
	int rc;

	/* About 7 s; kill it well before a CI timeout. */
	alarm(40);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_keys_sources_XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (log_capture_start(tmpdir) != 0)
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

	f = fetcher_new(loop);
	ok(f != NULL, "fetcher_new");
	if (f) {
		test_file_good(loop, f, &s);
		test_file_bad(loop);
		test_file_reload(loop);
		test_remote_reload(loop, f, &s);
		test_oidc_ok(loop, f, &s);
		test_oidc_fail(loop, f, &s);
		test_oidc_rediscover(loop, f, &s);
		test_oidc_waiters(loop, f, &s);
		test_oidc_bound(loop, f, &s);
		test_oidc_free(loop, f, &s);
		test_conf(loop, f, &s);
		fetcher_free(f);
	}

	srv_stop(&s);
	ev_loop_destroy(loop);
	curl_global_cleanup();
	rc = t_done("test_keys_sources");
	log_capture_stop(rc != 0);
	if (rc == 0)
		rmdir(tmpdir);
	return rc;
}
