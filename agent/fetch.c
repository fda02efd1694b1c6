/*
 * HTTP GET over libcurl's multi interface on a libev loop.
 *
 * The recipe is curl's docs/examples/evhiperfifo.c and multi-event.c with
 * the corrections of ../shared/notes/spop.md §5.5 and style.md §2:
 * CURLMOPT_TIMERFUNCTION only (re)arms an ev_timer (0 ms included, -1
 * stops it) and never calls libcurl itself (spop.md trap 38); an ev_io is
 * stopped before it is re-armed; finished transfers are drained with
 * curl_multi_info_read and their result copied before the easy handle is
 * removed, since the message dies with the handle.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>

#include "fetch.h"
#include "log.h"

/* The largest cap we accept: it keeps len + 1 and the doubling below far
 * from overflowing size_t. */
#define FETCH_MAX_BYTES ((size_t)1 << 30)

struct fetch_sock;

struct fetch_xfer {
	struct fetcher *f;
	CURL *easy;
	fetch_cb cb;
	void *arg;
	char *buf; /* body so far, room for a final NUL */
	size_t len, cap, max_bytes;
	bool is_over_cap;             /* WRITEFUNCTION refused: body too large */
	bool is_oom;                  /* WRITEFUNCTION refused: realloc failed */
	char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
	struct fetch_xfer *prev, *next;
};

/* One per socket curl asks us to watch (curl_multi_assign keeps the link). */
struct fetch_sock {
	ev_io io;
	struct fetcher *f;
	curl_socket_t fd;
	struct fetch_sock *prev, *next;
};

struct fetcher {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;           /* curl's single timeout */
	struct fetch_xfer *xfers; /* transfers in flight, for cancel/free */
	struct fetch_sock *socks; /* watched sockets, for free */
	bool is_dispatching;      /* inside drain */
	bool is_freed;            /* fetcher_free ran during the drain */
};

static void xfer_unlink(struct fetch_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->f->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* Detaches <x> from the multi and frees it, without calling back. */
static void xfer_destroy(struct fetch_xfer *x)
{
	xfer_unlink(x);
	if (x->easy) {
		/* Nothing sensible to do if removal fails: the handle is
		 * cleaned up regardless, which curl also tolerates. */
		if (curl_multi_remove_handle(x->f->multi, x->easy) != CURLM_OK)
			log_event(LOG_WARN, "fetch_remove_failed", "%s", "");
		curl_easy_cleanup(x->easy);
	}
	free(x->buf);
	free(x);
}

static void sock_unlink(struct fetch_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->f->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fetch_xfer *x = userp;
	size_t n = size * nmemb;
	size_t need, cap;
	char *p;

	/* Returning anything but n makes curl abort with CURLE_WRITE_ERROR:
	 * that is how a body over the cap ends the transfer early. */
	if (n > x->max_bytes - x->len) {
		x->is_over_cap = true;
		return 0;
	}
	need = x->len + n + 1;
	if (need > x->cap) {
		cap = x->cap ? x->cap : 4096;
		while (cap < need)
			cap *= 2;
		p = realloc(x->buf, cap);
		if (!p) {
			x->is_oom = true;
			return 0;
		}
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

/* Builds the result of a finished transfer, frees it, then calls back.
 * <x> is already detached from the multi list when this returns. */
static void xfer_done(struct fetch_xfer *x, CURLcode code)
{
	struct fetch_result res = {0};
	char reason[CURL_ERROR_SIZE + 64];
	long http_code = 0;
	fetch_cb cb = x->cb;
	void *arg = x->arg;
	char *body = x->buf;
	size_t body_len = x->len;

	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http_code) != CURLE_OK)
		http_code = 0;

	if (code == CURLE_OK && http_code == 200) {
		res.ok = 1;
		reason[0] = '\0';
	} else if (code == CURLE_OK) {
		snprintf(reason, sizeof(reason), "HTTP %ld", http_code);
	} else if (x->is_over_cap || code == CURLE_FILESIZE_EXCEEDED) {
		/* FILESIZE_EXCEEDED: CURLOPT_MAXFILESIZE saw a Content-Length
		 * over the cap before any byte of the body. */
		snprintf(reason, sizeof(reason), "body over %zu bytes", x->max_bytes);
	} else if (x->is_oom) {
		snprintf(reason, sizeof(reason), "out of memory");
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		snprintf(reason, sizeof(reason), "timeout");
	} else if (code == CURLE_TOO_MANY_REDIRECTS) {
		snprintf(reason, sizeof(reason), "too many redirects");
	} else {
		snprintf(reason, sizeof(reason), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
	}

	/* The body is handed over to this frame so the transfer can be freed
	 * before the callback runs: the callback may then start, cancel or
	 * free anything, this transfer is no longer reachable. */
	x->buf = NULL;
	xfer_destroy(x);

	res.http_code = http_code;
	res.body = body ? body : "";
	res.body_len = body_len;
	res.error = res.ok ? NULL : reason;
	cb(arg, &res);
	free(body);
}

/* Hands every finished transfer to its callback (style.md §2 step 5). */
static void drain(struct fetcher *f)
{
	struct fetch_xfer *x;
	CURLMsg *msg;
	CURLcode code;
	CURL *easy;
	char *priv;
	int left;

	f->is_dispatching = true;
	while (!f->is_freed && (msg = curl_multi_info_read(f->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* Copy now: <msg> is freed with its easy handle. */
		easy = msg->easy_handle;
		code = msg->data.result;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) {
			/* Not one of ours: cannot happen, but don't leave it
			 * in the multi forever. */
			if (curl_multi_remove_handle(f->multi, easy) != CURLM_OK)
				log_event(LOG_WARN, "fetch_remove_failed", "%s", "");
			curl_easy_cleanup(easy);
			continue;
		}
		x = (struct fetch_xfer *)priv;
		xfer_done(x, code);
	}
	f->is_dispatching = false;
	/* A callback called fetcher_free: it released everything but <f>. */
	if (f->is_freed)
		free(f);
}

static void timer_ev_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fetcher *f = w->data;
	int running;

	if (curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
		log_event(LOG_WARN, "fetch_socket_action_failed", "%s", "");
	drain(f);
}

static void io_ev_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fetch_sock *s = w->data;
	struct fetcher *f = s->f;
	int mask = 0;
	int running;

	/* CURL_CSELECT_* and CURL_POLL_* differ in meaning though some
	 * examples mix them up (style.md §2 step 4). */
	if (revents & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (revents & EV_ERROR)
		mask |= CURL_CSELECT_ERR;
	/* <s> may be freed by the socket callback inside this call. */
	if (curl_multi_socket_action(f->multi, s->fd, mask, &running) != CURLM_OK)
		log_event(LOG_WARN, "fetch_socket_action_failed", "%s", "");
	drain(f);
}

/* CURLMOPT_TIMERFUNCTION: only arms our timer; libcurl must not be called
 * from here (CURLMOPT_TIMERFUNCTION.md, WARNING). */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetcher *f = userp;

	ev_timer_stop(f->loop, &f->timer);
	if (timeout_ms < 0)
		return 0; /* -1: no timeout wanted any more */
	/* Floating division: evhiperfifo.c's integer 1000 turns 999 ms
	 * into 0 s. 0 ms means "as soon as possible": next iteration. */
	ev_timer_set(&f->timer, (double)timeout_ms / 1000.0, 0.0);
	ev_timer_start(f->loop, &f->timer);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: keeps one ev_io per socket in line with what
 * curl wants to wait for. */
static int multi_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct fetcher *f = userp;
	struct fetch_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(f->loop, &s->io);
			sock_unlink(s);
			free(s);
			if (curl_multi_assign(f->multi, fd, NULL) != CURLM_OK)
				return -1;
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->f = f;
		s->fd = fd;
		ev_init(&s->io, io_ev_cb);
		s->io.data = s;
		if (curl_multi_assign(f->multi, fd, s) != CURLM_OK) {
			free(s);
			return -1;
		}
		s->next = f->socks;
		if (f->socks)
			f->socks->prev = s;
		f->socks = s;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	/* An active watcher belongs to the loop: stop before ev_io_set. */
	ev_io_stop(f->loop, &s->io);
	ev_io_set(&s->io, fd, events);
	if (events)
		ev_io_start(f->loop, &s->io);
	return 0;
}

struct fetcher *fetcher_new(struct ev_loop *loop)
{
	struct fetcher *f;

	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->loop = loop;
	ev_init(&f->timer, timer_ev_cb);
	f->timer.data = f;
	f->multi = curl_multi_init();
	if (!f->multi)
		goto fail;
	if (curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK)
		goto fail;
	return f;
fail:
	fetcher_free(f);
	return NULL;
}

void fetcher_free(struct fetcher *f)
{
	struct fetch_sock *s;

	if (!f || f->is_freed)
		return;
	while (f->xfers)
		xfer_destroy(f->xfers);
	/* curl_multi_cleanup may still call both callbacks (closing cached
	 * connections): <f> stays valid until it returns. */
	if (f->multi && curl_multi_cleanup(f->multi) != CURLM_OK)
		log_event(LOG_WARN, "fetch_multi_cleanup_failed", "%s", "");
	/* Sockets curl did not report as removed. */
	while ((s = f->socks)) {
		ev_io_stop(f->loop, &s->io);
		sock_unlink(s);
		free(s);
	}
	f->multi = NULL;
	ev_timer_stop(f->loop, &f->timer);
	if (f->is_dispatching) {
		/* From a fetch callback: drain still reads <f>, frees it. */
		f->is_freed = true;
		return;
	}
	free(f);
}

int fetch_get(struct fetcher *f, const char *url, long timeout_ms, size_t max_bytes, fetch_cb cb, void *arg)
{
	struct fetch_xfer *x;
	CURL *e;

	if (!f || !url || !cb || timeout_ms <= 0 || max_bytes == 0 || max_bytes > FETCH_MAX_BYTES)
		return -1;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	x->f = f;
	x->cb = cb;
	x->arg = arg;
	x->max_bytes = max_bytes;
	e = curl_easy_init();
	if (!e) {
		free(x);
		return -1;
	}
	/* NOSIGNAL: a multi-threaded agent must not get SIGALRM from the
	 * resolver (spop.md trap 38). Protocols are restricted on redirects
	 * too, so a JWKS URL cannot bounce to file:// or gopher://. */
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "spoa-jwt") != CURLE_OK) {
		curl_easy_cleanup(e);
		free(x);
		return -1;
	}
	/* Adding arms the timer through multi_timer_cb (0 ms): the transfer
	 * starts, and can only finish, on a later loop iteration, so <cb>
	 * never runs inside fetch_get. */
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		free(x);
		return -1;
	}
	x->easy = e;
	x->next = f->xfers;
	if (f->xfers)
		f->xfers->prev = x;
	f->xfers = x;
	return 0;
}

void fetch_cancel(struct fetcher *f, fetch_cb cb, void *arg)
{
	struct fetch_xfer *x, *next;

	if (!f)
		return;
	for (x = f->xfers; x; x = next) {
		next = x->next;
		if (x->cb == cb && x->arg == arg)
			xfer_destroy(x);
	}
}
