/*
 * null_agent: a minimal SPOP 2.0 agent for the benchmark (tests/bench/), never
 * installed. It answers every NOTIFY with an ACK that sets txn.<prefix>.valid
 * = true without looking at the arguments, so HAProxy + null_agent measures
 * what SPOE itself costs: the floor no real agent can beat.
 *
 *     null_agent [--listen 127.0.0.1:PORT] [--max-frame-size N]
 *
 * One thread, plain epoll (level-triggered), non-blocking sockets. Per
 * connection: read what is there, answer every complete frame, one send()
 * per batch (pipelining: HAProxy keeps up to 20 NOTIFYs in flight). HELLO is
 * negotiated as spoa-jwt does (max-frame-size = min, "pipelining" only if
 * offered); a health-check HELLO gets a bare AGENT-HELLO, then the
 * connection is closed once it is written. HAPROXY-DISCONNECT gets an
 * AGENT-DISCONNECT, then close. SIGTERM/SIGINT stop it (exit 0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spop.h"

#define MAX_EVENTS 64
#define OUT_HIGH_WATER (256u * 1024u)

struct nconn {
	int fd;
	bool hello_done;
	bool closing;                   /* close once the output is written */
	bool want_out;                  /* EPOLLOUT registered */
	uint32_t max_frame;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
};

static volatile sig_atomic_t stop;
static int epfd;
static uint32_t our_max_frame = SPOP_DEFAULT_FRAME_SIZE;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_free(struct nconn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static int out_reserve(struct nconn *c, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len >= need)
		return 0;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_cap - c->out_len >= need)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap - c->out_len < need)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

static void set_epollout(struct nconn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (on == c->want_out)
		return;
	c->want_out = on;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is queued. Returns -1 if the connection was freed. */
static int conn_flush(struct nconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_epollout(c, true);
			return 0;
		}
		conn_free(c);
		return -1;
	}
	c->out_off = c->out_len = 0;
	if (c->closing) {
		conn_free(c);
		return -1;
	}
	set_epollout(c, false);
	return 0;
}

static void queue_disconnect(struct nconn *c, enum spop_status st)
{
	struct spop_buf b;

	c->closing = true;
	if (out_reserve(c, 512) < 0)
		return;
	spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
	if (spop_agent_disconnect(&b, st, spop_status_str(st)))
		c->out_len += b.len;
}

static void handle_frame(struct nconn *c, const struct spop_frame *f)
{
	struct spop_buf b;

	if (!(f->flags & SPOP_FL_FIN)) {
		queue_disconnect(c, SPOP_ERR_FRAG_NOT_SUPPORTED);
		return;
	}
	if (!c->hello_done) {
		struct spop_hello h;
		enum spop_status st;

		if (f->type != SPOP_FRM_HAPROXY_HELLO) {
			queue_disconnect(c, SPOP_ERR_INVALID);
			return;
		}
		st = spop_hello_decode(f->payload, f->payload_len, &h);
		if (st != SPOP_ERR_NONE) {
			queue_disconnect(c, st);
			return;
		}
		if (h.max_frame_size < c->max_frame)
			c->max_frame = (uint32_t)h.max_frame_size;
		if (out_reserve(c, 256) < 0) {
			c->closing = true;
			return;
		}
		spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
		if (spop_agent_hello(&b, c->max_frame, h.pipelining))
			c->out_len += b.len;
		c->hello_done = true;
		/* health check: exactly one AGENT-HELLO, then close (3.1+ is strict) */
		c->closing = h.healthcheck;
		return;
	}
	switch (f->type) {
	case SPOP_FRM_NOTIFY: {
		size_t start;

		if (out_reserve(c, 64) < 0) {
			c->closing = true;
			return;
		}
		spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
		start = spop_frame_begin(&b, SPOP_FRM_ACK, f->sid, f->fid);
		spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "valid", true);
		if (spop_frame_end(&b, start, c->max_frame))
			c->out_len += b.len;
		break;
	}
	case SPOP_FRM_HAPROXY_DISCONNECT:
		queue_disconnect(c, SPOP_ERR_NONE);
		break;
	default:
		break; /* unknown frames may be skipped */
	}
}

/* Returns -1 if the connection was freed. */
static int on_readable(struct nconn *c)
{
	int rounds;

	if (!c->in) {
		c->in_cap = (size_t)our_max_frame + 4u;
		c->in = malloc(c->in_cap);
		if (!c->in) {
			conn_free(c);
			return -1;
		}
	}
	for (rounds = 0; rounds < 16 && !c->closing; rounds++) {
		struct spop_frame f;
		size_t off = 0, room = c->in_cap - c->in_len;
		ssize_t n;
		long k;

		if (c->out_len - c->out_off >= OUT_HIGH_WATER || room == 0)
			break; /* peer does not read: stop reading until it does */
		n = read(c->fd, c->in + c->in_len, room);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			conn_free(c); /* EOF or reset: normal close */
			return -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		c->in_len += (size_t)n;
		while (!c->closing) {
			k = spop_frame_parse(c->in + off, c->in_len - off, c->max_frame, &f);
			if (k == 0)
				break;
			if (k < 0) {
				queue_disconnect(c, (enum spop_status) - k);
				break;
			}
			off += (size_t)k;
			handle_frame(c, &f);
		}
		if (off > 0) {
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
		}
		if ((size_t)n < room)
			break; /* short read: the socket is drained, skip the EAGAIN read */
	}
	return conn_flush(c);
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || (hl = (size_t)(colon - s)) >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:12346";
	struct epoll_event evs[MAX_EVENTS], ev;
	struct sockaddr_in sa;
	struct sigaction sig;
	int lfd, one = 1, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_at = argv[++i];
		} else if (strcmp(argv[i], "--max-frame-size") == 0 && i + 1 < argc) {
			our_max_frame = (uint32_t)strtoul(argv[++i], NULL, 10);
			if (our_max_frame < SPOP_MIN_FRAME_SIZE)
				our_max_frame = SPOP_MIN_FRAME_SIZE;
		} else {
			fprintf(stderr, "usage: %s [--listen 127.0.0.1:PORT] [--max-frame-size N]\n", argv[0]);
			return 2;
		}
	}
	if (parse_listen(listen_at, &sa) < 0) {
		fprintf(stderr, "null_agent: bad --listen %s (IPv4:PORT)\n", listen_at);
		return 2;
	}
	memset(&sig, 0, sizeof(sig));
	sig.sa_handler = on_signal;
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0) {
		perror("null_agent: listen");
		return 1;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("null_agent: epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* NULL = the listener */
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	fprintf(stderr, "null_agent: listening on %s\n", listen_at);

	while (!stop) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);

		if (n < 0 && errno != EINTR) {
			perror("null_agent: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct nconn *c = evs[i].data.ptr;

			if (!c) {
				int k;

				for (k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->max_frame = our_max_frame;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (conn_flush(c) < 0)
					continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c);
		}
	}
	return 0;
}
