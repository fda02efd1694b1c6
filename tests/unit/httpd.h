/*
 * A tiny HTTP/1.1 responder on a libev loop, for the key-cache tests
 * (test_keys.c, test_keys_sources.c): 127.0.0.1, port chosen by the kernel,
 * one request per connection, no external process. The test's handler sees
 * each request's path and answers with httpd_reply(), or not at all (the
 * connection then stays open until the client gives up: a "slow" server).
 * Also: two RSA-2048 JWKs both tests use, and bounded loop runs.
 */
#ifndef TEST_HTTPD_H
#define TEST_HTTPD_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#define JWK_K1                                                                                               \
	"{\"alg\":\"RS256\",\"e\":\"AQAB\",\"kid\":\"k1\",\"kty\":\"RSA\",\"n\":"                            \
	"\"tA2msjwko2d9-8vx-kWpxrh12sy3znH6p471XPEB7HvjczAfT9O4HOKGa0oAc_RRd7jxPVmnr4SOA6ThuJT_USVSgyTOtixh" \
	"vIqPx5ME6k2q_5MygnaPhb8rNzLj6IUiSmSMQhk87HYulshYPpPYz0y-S__Ae6n5drch-fPbTWQ-P9-qUZcErir6QLY4zUDJEy" \
	"lu5qgMVvyhvHfKlppo5U3l3vc1L5CJR_Wbzx_60L8vZmnXpIOu8RatrK1kFI8AkBJRQyl8Mni5tjrltMEa5sSd4Fa_226kZ_c"  \
	"M8X2ZwSR-pUpheq4mpDv3s_jSfok9peGes0r7IebVOqBHgFazyw\",\"use\":\"sig\"}"
#define JWK_K2                                                                                               \
	"{\"alg\":\"RS256\",\"e\":\"AQAB\",\"kid\":\"k2\",\"kty\":\"RSA\",\"n\":"                            \
	"\"sTxmK_eJ2LDKamvwqt_Punu1z8IUMBGG8_07hZjmYEqvUwksmBKHE2VzOWbtnVtw-nXhgtk4XW7Hl6DR2C0ncE3SpNN0VCiv" \
	"yL1JxqN7hSlDfZ0TdnWXzkm0eJTg6Ss1YHKF_8U-_A7qFDLxAI-r80o-6eiZGgJ2MHlz-Rp0_UBTnbv0JKwxKVVAudCoRPLL"   \
	"dGYV_TY4lRpCeSdqKvR4H0iQUjnVW7c1KlhRZN-w-mS1ticn7dH6fmEwywcot53-YMo8ShhfWmQyog9Ek-4rka7QhQdFhk3U"   \
	"Qlua03l4cA9Z7vXuwDFHl0JrMxpDYKbSlrFc9FgZej8Pq6IQUkGJPQ\",\"use\":\"sig\"}"

static const char JWKS1[] = "{\"keys\":[" JWK_K1 "]}";
static const char JWKS12[] = "{\"keys\":[" JWK_K1 "," JWK_K2 "]}";

struct httpd;
struct hconn;

/* Called once per request; <arg> is httpd_start's. */
typedef void (*httpd_handler)(struct hconn *c, const char *path, void *arg);

struct hconn {
	struct httpd *srv;
	int fd;
	ev_io rio, wio;
	ev_timer delay;
	char in[4096];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool is_handled; /* request seen (answered or left hanging) */
	struct hconn *prev, *next;
};

struct httpd {
	struct ev_loop *loop;
	int fd;
	int port;
	ev_io accept_io;
	struct hconn *conns;
	httpd_handler handler;
	void *arg;
};

static void hconn_close(struct hconn *c)
{
	struct httpd *s = c->srv;

	ev_io_stop(s->loop, &c->rio);
	ev_io_stop(s->loop, &c->wio);
	ev_timer_stop(s->loop, &c->delay);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	free(c->out);
	free(c);
}

static void hconn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hconn *c = w->data;
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* The client gave up (body cap, timeout): normal here. */
			hconn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	hconn_close(c);
}

static void hconn_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hconn *c = w->data;

	ev_io_start(loop, &c->wio);
}

/* Queues "HTTP/1.1 <status>" with <extra_hdrs> (each ending in CRLF), a
 * Content-Length unless <with_length> is false (then the client reads to
 * the close), and <body>; sent after <delay_s> seconds. */
static void httpd_reply(struct hconn *c, const char *status, const char *extra_hdrs, const void *body,
                        size_t body_len, bool with_length, double delay_s)
{
	char hdr[512];
	int h;

	h = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %s\r\nConnection: close\r\n%s", status, extra_hdrs);
	if (with_length)
		h += snprintf(hdr + h, sizeof(hdr) - (size_t)h, "Content-Length: %zu\r\n", body_len);
	h += snprintf(hdr + h, sizeof(hdr) - (size_t)h, "\r\n");
	c->out = malloc((size_t)h + body_len);
	if (!c->out) {
		hconn_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)h);
	if (body_len)
		memcpy(c->out + h, body, body_len);
	c->out_len = (size_t)h + body_len;
	ev_io_stop(c->srv->loop, &c->rio);
	if (delay_s > 0.0) {
		ev_timer_set(&c->delay, delay_s, 0.0);
		ev_timer_start(c->srv->loop, &c->delay);
	} else {
		ev_io_start(c->srv->loop, &c->wio);
	}
}

static void hconn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hconn *c = w->data;
	char path[256], scratch[512];
	ssize_t n;

	if (c->is_handled) {
		/* Unanswered request: wait for the client to give up. */
		n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			hconn_close(c);
		return;
	}
	if (c->in_len == sizeof(c->in) - 1) {
		hconn_close(c);
		return;
	}
	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		hconn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (!strstr(c->in, "\r\n\r\n"))
		return;
	if (sscanf(c->in, "GET %255s HTTP/1.1", path) != 1) {
		hconn_close(c);
		return;
	}
	c->is_handled = true;
	c->srv->handler(c, path, c->srv->arg);
}

static void httpd_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct httpd *s = w->data;
	struct hconn *c;
	int fd;

	fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	ev_io_init(&c->rio, hconn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, hconn_write_cb, fd, EV_WRITE);
	ev_init(&c->delay, hconn_delay_cb);
	c->rio.data = c->wio.data = c->delay.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	ev_io_start(loop, &c->rio);
}

/* Returns a listening socket on 127.0.0.1:<*port> (the kernel picks). */
static int listen_local(int *port)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int httpd_start(struct httpd *s, struct ev_loop *loop, httpd_handler handler, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	s->fd = listen_local(&s->port);
	if (s->fd == -1)
		return -1;
	ev_io_init(&s->accept_io, httpd_accept_cb, s->fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(loop, &s->accept_io);
	return 0;
}

static void httpd_stop(struct httpd *s)
{
	while (s->conns)
		hconn_close(s->conns);
	ev_io_stop(s->loop, &s->accept_io);
	close(s->fd);
}

/* ---- bounded loop runs ---- */

static bool watchdog_fired;

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	watchdog_fired = true;
}

/* Runs the loop until *<counter> >= <target> or <max_s> seconds passed.
 * Returns whether the target was reached. */
static bool run_until(struct ev_loop *loop, double max_s, const int *counter, int target)
{
	ev_timer wd;

	watchdog_fired = false;
	ev_timer_init(&wd, watchdog_cb, max_s, 0.0);
	ev_now_update(loop);
	ev_timer_start(loop, &wd);
	while ((!counter || *counter < target) && !watchdog_fired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &wd);
	return !counter || *counter >= target;
}

static void run_for(struct ev_loop *loop, double s)
{
	run_until(loop, s, NULL, 0);
}

#endif
