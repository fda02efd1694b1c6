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
		/* SO_REUSEPORT: one socket per worker, the kernel spreads connections. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	if (fd < 0)
		log_event(LOG_ERR, "listen_failed", "flag=--listen addr=%s port=%s reason=\"%s\"",
		          cfg->listen_host, cfg->listen_port, strerror(errno));
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
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_event(LOG_WARN, "accept_failed", "reason=\"%s\"", strerror(errno));
			return;
		}
		/* ACKs are small and latency matters more than packet count. */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_event(LOG_DEBUG, "setsockopt_failed", "option=TCP_NODELAY reason=\"%s\"",
			          strerror(errno));
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

/* Runs on the worker's own loop: stop accepting, answer what is in
 * flight, say goodbye on every connection, then leave the loop. */
static void on_stop(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	struct conn *c, *next;

	if (w->draining)
		return;
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

/* SIGHUP: local key files are read again, remote sets refetched now. A
 * file that no longer parses keeps the old set (keys.c logs why). */
/* Same key source and timings: the key cache (and what it holds) carries over. */
static bool same_keys(const struct provider *a, const struct provider *b)
{
#define SAME_STR(x) ((!a->x && !b->x) || (a->x && b->x && strcmp(a->x, b->x) == 0))
	return strcmp(a->name, b->name) == 0 && SAME_STR(jwks_uri) && SAME_STR(jwks_file) &&
	       SAME_STR(issuer) && a->oidc_discovery == b->oidc_discovery &&
	       a->cache_time_s == b->cache_time_s && a->fetch_timeout_ms == b->fetch_timeout_ms &&
	       a->max_stale_s == b->max_stale_s && a->refetch_interval_s == b->refetch_interval_s;
#undef SAME_STR
}

static struct keys *new_keys(struct worker *w, const struct provider *p, size_t i)
{
	struct keys_conf kc;

	verify_keys_conf(&kc, p);
	kc.metrics = w->metrics ? &w->metrics->keys[i] : NULL;
	return keys_new(w->loop, w->fetcher, &kc);
}

/* Switches this worker to <nc>: providers whose keys are configured the
 * same keep their key cache; others get a new one; removed ones answer
 * their parked requests and go. Requests in flight keep pointers into the
 * old configuration, which lives until exit. */
static void apply_config(struct worker *w, const struct config *nc)
{
	const struct config *oc = w->cfg;
	struct keys *nk[CONFIG_MAX_PROVIDERS] = {0};
	bool taken[CONFIG_MAX_PROVIDERS] = {0};
	struct tcache *cache = NULL;
	size_t i, j;

	for (i = 0; i < nc->n_providers; i++) {
		for (j = 0; j < oc->n_providers; j++)
			if (!taken[j] && same_keys(&oc->providers[j], &nc->providers[i]))
				break;
		if (j < oc->n_providers) {
			nk[i] = w->verifier.keys[j];
			taken[j] = true;
		} else if (!(nk[i] = new_keys(w, &nc->providers[i], i))) {
			goto fail;
		}
	}
	if (nc->cache_entries && !(cache = tcache_new(nc->cache_entries, nc->cache_bytes)))
		goto fail;
	for (j = 0; j < oc->n_providers; j++)
		if (!taken[j])
			keys_abandon(w->verifier.keys[j]);
	memcpy(w->verifier.keys, nk, sizeof(nk));
	/* Entries were keyed by provider index and verified under the old rules. */
	tcache_free(w->verifier.cache);
	w->verifier.cache = cache;
	w->cfg = nc;
	w->verifier.cfg = nc;
	return;
fail:
	log_event(LOG_ERR, "reload_failed", "worker=%u reason=\"out of memory\" keeps=previous", w->id);
	for (i = 0; i < nc->n_providers; i++) {
		for (j = 0; j < oc->n_providers; j++)
			if (nk[i] == w->verifier.keys[j])
				break;
		if (nk[i] && j == oc->n_providers)
			keys_free(nk[i]);
	}
}

static void on_reload(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	const struct config *nc = atomic_exchange(&w->next_cfg, NULL);

	if (nc)
		apply_config(w, nc);
	for (size_t i = 0; i < w->cfg->n_providers; i++)
		keys_reload(w->verifier.keys[i]);
}

/* Each worker fetches its own keys: no state crosses threads (design
 * §2.4 allows a shared fetch thread; per-worker keeps the hot path free of
 * any synchronisation at the cost of one fetch per thread per refresh). */
static int start_keys(struct worker *w, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_providers; i++) {
		w->verifier.keys[i] = new_keys(w, &cfg->providers[i], i);
		if (!w->verifier.keys[i])
			return -1;
	}
	return 0;
}

static int worker_init(struct worker *w, unsigned id, const struct config *cfg)
{
	w->id = id;
	w->cfg = cfg;
	w->listen_fd = -1;
	w->loop = ev_loop_new(EVFLAG_AUTO);
	if (!w->loop) {
		log_event(LOG_ERR, "loop_failed", "reason=\"ev_loop_new\"");
		return -1;
	}
	w->listen_fd = listen_on(cfg);
	if (w->listen_fd < 0)
		return -1;
	w->fetcher = fetcher_new(w->loop);
	if (!w->fetcher)
		return -1;
	w->verifier.loop = w->loop;
	w->verifier.cfg = cfg;
	w->verifier.metrics = w->metrics;
	if (start_keys(w, cfg) < 0)
		return -1;
	if (cfg->cache_entries > 0) {
		w->verifier.cache = tcache_new(cfg->cache_entries, cfg->cache_bytes);
		if (!w->verifier.cache)
			return -1;
	}
	ev_io_init(&w->accept_io, on_accept, w->listen_fd, EV_READ);
	w->accept_io.data = w;
	ev_io_start(w->loop, &w->accept_io);
	ev_async_init(&w->stop_async, on_stop);
	w->stop_async.data = w;
	ev_async_start(w->loop, &w->stop_async);
	ev_async_init(&w->reload_async, on_reload);
	w->reload_async.data = w;
	ev_async_start(w->loop, &w->reload_async);
	return 0;
}

static void worker_fini(struct worker *w)
{
	conn_close_all(w);
	tcache_free(w->verifier.cache);
	for (size_t i = 0; i < CONFIG_MAX_PROVIDERS; i++)
		keys_free(w->verifier.keys[i]);
	fetcher_free(w->fetcher);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	if (w->loop)
		ev_loop_destroy(w->loop);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	ev_run(w->loop, 0);
	jwt_thread_cleanup();
	return NULL;
}

struct sigctx {
	struct worker *workers;
	unsigned n;
	int argc;
	char **argv;
	const struct config *current;
	struct config **old; /* every reloaded config, freed at exit */
	size_t n_old;
	struct metrics_server *ms;
};

/* SIGHUP: parse the same command line (and so the same --config file)
 * again. A bad result is refused and everything keeps running as it was.
 * Listening address, threads and metrics address need a restart. */
static void reload(struct sigctx *sc)
{
	struct config *nc = calloc(1, sizeof(*nc)), **grown;
	char err[512];

	if (!nc || !(grown = realloc(sc->old, (sc->n_old + 1) * sizeof(*grown)))) {
		log_event(LOG_ERR, "reload_refused", "reason=\"out of memory\" keeps=previous");
		free(nc);
		return;
	}
	sc->old = grown;
	if (config_parse(sc->argc, sc->argv, nc, err, sizeof(err)) != CONFIG_OK) {
		char q[LOG_QUOTE_BUF];

		log_event(LOG_WARN, "reload_refused", "reason=%s keeps=previous",
		          log_quote(q, err, strlen(err)));
		config_free(nc);
		free(nc);
		return;
	}
	if (strcmp(nc->listen_host, sc->current->listen_host) ||
	    strcmp(nc->listen_port, sc->current->listen_port) || nc->threads != sc->current->threads ||
	    strcmp(nc->metrics_host, sc->current->metrics_host) ||
	    strcmp(nc->metrics_port, sc->current->metrics_port))
		log_event(LOG_WARN, "reload_partial",
		          "reason=\"listen, threads and metrics change only on restart\"");
	log_set_level(nc->log_level);
	sc->old[sc->n_old++] = nc;
	sc->current = nc;
	metrics_set_config(sc->ms, nc);
	for (unsigned i = 0; i < sc->n; i++)
		atomic_store(&sc->workers[i].next_cfg, nc);
	log_event(LOG_INFO, "reloaded", "providers=%zu", nc->n_providers);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct sigctx *sc = s->data;

	if (s->signum == SIGHUP) {
		reload(sc);
		for (unsigned i = 0; i < sc->n; i++)
			ev_async_send(sc->workers[i].loop, &sc->workers[i].reload_async);
		return;
	}
	log_event(LOG_INFO, "stopping", "signal=%d", s->signum);
	for (unsigned i = 0; i < sc->n; i++)
		ev_async_send(sc->workers[i].loop, &sc->workers[i].stop_async);
	ev_break(loop, EVBREAK_ALL);
}

/* Starts the worker threads with SIGINT/SIGTERM blocked, so only the main
 * thread's loop sees them. Returns how many started. */
static unsigned start_workers(struct worker *ws, unsigned n)
{
	sigset_t block, old;
	unsigned i;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < n; i++) {
		int rc = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);

		if (rc != 0) {
			log_event(LOG_ERR, "thread_failed", "reason=\"%s\"", strerror(rc));
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return i;
}

int server_run(const struct config *cfg, int argc, char **argv)
{
	unsigned n = cfg->threads, started = 0, i;
	struct worker *ws = calloc(n, sizeof(*ws));
	struct ev_loop *main_loop = ev_default_loop(EVFLAG_AUTO);
	ev_signal sigint, sigterm, sighup;
	struct sigctx sc = {ws, n, argc, argv, cfg, NULL, 0, NULL};
	struct worker_metrics **wm = calloc(n, sizeof(*wm));
	struct metrics_server *ms = NULL;
	int status = 1, mfail = 0;

	/* A peer that resets must not kill us; send() also says MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);
	if (!ws || !main_loop || !wm) {
		log_event(LOG_ERR, "start_failed", "reason=\"out of memory\"");
		free(ws);
		free(wm);
		return 1;
	}
	for (i = 0; i < n; i++) {
		ws[i].listen_fd = -1;
		/* One cache-line-aligned block per worker: no false sharing. */
		wm[i] = ws[i].metrics = aligned_alloc(64, sizeof(struct worker_metrics));
		if (!wm[i])
			goto out;
		memset(wm[i], 0, sizeof(struct worker_metrics));
	}
	for (i = 0; i < n; i++)
		if (worker_init(&ws[i], i, cfg) < 0)
			goto out;
	ms = metrics_start(cfg, wm, n, &mfail);
	sc.ms = ms;
	if (mfail)
		goto out;
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sighup, on_signal, SIGHUP);
	sigint.data = sigterm.data = sighup.data = &sc;
	ev_signal_start(main_loop, &sigint);
	ev_signal_start(main_loop, &sigterm);
	ev_signal_start(main_loop, &sighup);
	started = start_workers(ws, n);
	if (started == n) {
		log_event(LOG_INFO, "listening", "addr=%s port=%s threads=%u providers=%zu", cfg->listen_host,
		          cfg->listen_port, n, cfg->n_providers);
		for (i = 0; i < cfg->n_providers; i++) {
			const struct provider *p = &cfg->providers[i];
			char qs[LOG_QUOTE_BUF], qi[LOG_QUOTE_BUF];

			log_event(LOG_INFO, "provider", "name=%s keys=%s source=%s issuer=%s", p->name,
			          p->jwks_uri    ? "remote"
			          : p->jwks_file ? "file"
			                         : "oidc",
			          log_quote_url(qs, p->jwks_uri    ? p->jwks_uri
			                            : p->jwks_file ? p->jwks_file
			                                           : p->issuer),
			          log_quote_url(qi, p->issuer ? p->issuer : "-"));
		}
		ev_run(main_loop, 0);
		status = 0;
	} else {
		for (i = 0; i < started; i++)
			ev_async_send(ws[i].loop, &ws[i].stop_async);
	}
	for (i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	ev_signal_stop(main_loop, &sigint);
	ev_signal_stop(main_loop, &sigterm);
	ev_signal_stop(main_loop, &sighup);
	log_event(LOG_INFO, "stopped", "threads=%u", started);
out:
	metrics_stop(ms);
	for (i = 0; i < n; i++) {
		worker_fini(&ws[i]);
		free(ws[i].metrics);
	}
	free(ws);
	free(wm);
	for (i = 0; i < sc.n_old; i++) {
		config_free(sc.old[i]);
		free(sc.old[i]);
	}
	free(sc.old);
	ev_loop_destroy(main_loop);
	return status;
}
