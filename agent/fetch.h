/*
 * HTTP GET over libcurl's multi interface, driven by a libev loop
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION; the recipe of curl's
 * docs/examples/evhiperfifo.c, corrected as in ../shared/notes/spop.md §5.5
 * and style.md). Never blocks the loop. One fetcher per loop.
 */
#ifndef FETCH_H
#define FETCH_H

#include <stddef.h>

#include <ev.h>

struct fetcher;

struct fetch_result {
	int ok;           /* 1: HTTP 200 and body within the cap */
	long http_code;   /* 0 if no HTTP answer */
	const char *body; /* NUL-terminated copy, valid during the callback only */
	size_t body_len;
	const char *error; /* short reason when !ok: "timeout", "HTTP 500", "body over 1048576 bytes", curl's
	                      text ... */
};

typedef void (*fetch_cb)(void *arg, const struct fetch_result *res);

/* curl_global_init must have been called (main does it before any thread). */
struct fetcher *fetcher_new(struct ev_loop *loop);
/* Cancels transfers in flight without calling their callbacks. NULL ok. */
void fetcher_free(struct fetcher *f);

/* Starts GET <url> (http or https only; at most 3 redirects). <cb> is called
 * exactly once, from the loop, never from inside fetch_get. Returns 0, or -1
 * if the transfer could not be started (then <cb> is not called). */
int fetch_get(struct fetcher *f, const char *url, long timeout_ms, size_t max_bytes, fetch_cb cb, void *arg);

/* Cancels, without calling back, every transfer started with this <cb> and
 * <arg> (an owner going away while its fetch is in flight: keys_free).
 * Safe from inside a fetch callback. */
void fetch_cancel(struct fetcher *f, fetch_cb cb, void *arg);

#endif
