#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

/* How long SIGTERM waits for in-flight verifications before exiting. */
#define DRAIN_TIMEOUT_S 5.0

static int listen_on(const struct config *cfg)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	int fd = -1, one = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(cfg->listen_host, cfg->listen_port, &hints, &res);
	if (rc != 0) {
		log_event(LOG_ERR, "listen_failed", "flag=--listen addr=%s reason=\"%s\"", cfg->listen_host,
		          gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	if (fd < 0)
		log_event(LOG_ERR, "listen_failed", "flag=--listen addr=%s port=%s reason=\"%s\"", cfg->listen_host,
		          cfg->listen_port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	int fd, one = 1, i;

	/* Bounded so a reconnect storm cannot starve established connections. */
	for (i = 0; i < 64; i++) {
		fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_event(LOG_WARN, "accept_failed", "reason=\"%s\"", strerror(errno));
			return;
		}
		/* ACKs are small and latency matters more than packet count. */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_event(LOG_DEBUG, "setsockopt_failed", "option=TCP_NODELAY reason=\"%s\"", strerror(errno));
		conn_new(w, fd);
	}
}

void server_conn_closed(struct worker *w)
{
	if (w->draining && w->n_conns == 0)
		ev_break(w->loop, EVBREAK_ALL);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	log_event(LOG_WARN, "drain_timeout", "connections=%u", ((struct worker *)t->data)->n_conns);
	ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct worker *w = s->data;
	struct conn *c, *next;

	if (w->draining)
		return;
	log_event(LOG_INFO, "stopping", "signal=%d connections=%u", s->signum, w->n_conns);
	w->draining = true;
	ev_io_stop(loop, &w->accept_io);
	close(w->listen_fd);
	w->listen_fd = -1;
	for (c = w->conns; c; c = next) {
		next = conn_next(c);
		conn_drain(c);
	}
	if (w->n_conns == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_init(&w->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_S, 0.);
	w->drain_timer.data = w;
	ev_timer_start(loop, &w->drain_timer);
}

static int worker_init(struct worker *w, const struct config *cfg)
{
	struct keys_conf kc = {
		.uri = cfg->jwks_uri,
		.cache_time_s = cfg->cache_time_s,
		.fetch_timeout_ms = cfg->fetch_timeout_ms,
		.max_stale_s = cfg->max_stale_s,
		.refetch_interval_s = cfg->refetch_interval_s,
		.failed_retry_s = 1.0,
	};

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->listen_fd = -1;
	w->loop = ev_default_loop(EVFLAG_AUTO);
	if (!w->loop) {
		log_event(LOG_ERR, "loop_failed", "reason=\"ev_default_loop\"");
		return -1;
	}
	w->listen_fd = listen_on(cfg);
	if (w->listen_fd < 0)
		return -1;
	w->fetcher = fetcher_new(w->loop);
	if (!w->fetcher)
		return -1;
	w->keys = keys_new(w->loop, w->fetcher, &kc);
	if (!w->keys)
		return -1;
	w->verifier.loop = w->loop;
	w->verifier.cfg = cfg;
	w->verifier.keys = w->keys;
	ev_io_init(&w->accept_io, on_accept, w->listen_fd, EV_READ);
	w->accept_io.data = w;
	ev_io_start(w->loop, &w->accept_io);
	ev_signal_init(&w->sigint, on_signal, SIGINT);
	ev_signal_init(&w->sigterm, on_signal, SIGTERM);
	w->sigint.data = w->sigterm.data = w;
	ev_signal_start(w->loop, &w->sigint);
	ev_signal_start(w->loop, &w->sigterm);
	return 0;
}

static void worker_fini(struct worker *w)
{
	conn_close_all(w);
	keys_free(w->keys);
	fetcher_free(w->fetcher);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	if (w->loop)
		ev_loop_destroy(w->loop);
}

int server_run(const struct config *cfg)
{
	struct worker w;
	int status = 1;

	/* A peer that resets must not kill us; send() also says MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);
	if (worker_init(&w, cfg) == 0) {
		log_event(LOG_INFO, "listening", "addr=%s port=%s jwks_uri=%s", cfg->listen_host, cfg->listen_port,
		          cfg->jwks_uri);
		ev_run(w.loop, 0);
		log_event(LOG_INFO, "stopped", "connections=%u", w.n_conns);
		status = 0;
	}
	worker_fini(&w);
	return status;
}
