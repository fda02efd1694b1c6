#include "metrics.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"

/* Upper bounds in seconds: a cache hit is microseconds, an RSA verify tens
 * of microseconds, a JWKS fetch up to the fetch timeout. */
static const double lat_bounds[METRICS_LAT_BUCKETS] = {0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                       0.0025,  0.005,   0.01,   0.1,     0.5,    1.0};

struct metrics_server {
	struct MHD_Daemon *daemon;
	_Atomic(const struct config *) cfg; /* swapped by a reload; old ones live until exit */
	struct worker_metrics *const *workers;
	unsigned n;
};

void metrics_verdict(struct worker_metrics *m, enum jwt_status st, double seconds)
{
	unsigned i;

	if ((unsigned)st < JWT_STATUS_COUNT)
		metric_inc(&m->verdicts[st]);
	for (i = 0; i < METRICS_LAT_BUCKETS && seconds > lat_bounds[i]; i++)
		;
	if (i < METRICS_LAT_BUCKETS)
		metric_inc(&m->lat_buckets[i]);
	metric_inc(&m->lat_count);
	atomic_fetch_add_explicit(&m->lat_sum_us, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
}

struct out {
	char *buf;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *p = realloc(o->buf, o->cap * 2 + (size_t)n);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->buf = p;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

#define SUM(field)                                                                                           \
	({                                                                                                   \
		unsigned long long _s = 0;                                                                   \
		for (unsigned _i = 0; _i < n; _i++)                                                          \
			_s += atomic_load_explicit(&w[_i]->field, memory_order_relaxed);                     \
		_s;                                                                                          \
	})

static void render_counter(struct out *o, const char *name, const char *help, unsigned long long v)
{
	put(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

char *metrics_render(const struct config *cfg, struct worker_metrics *const *w, unsigned n)
{
	struct out o = {malloc(8192), 0, 8192, 0};
	unsigned long long cum = 0;
	struct timespec now;
	unsigned i;

	if (!o.buf)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	put(&o, "# HELP spoajwt_verdicts_total Verdicts by jwt_verify_lib status.\n"
	        "# TYPE spoajwt_verdicts_total counter\n");
	for (i = 0; i < JWT_STATUS_COUNT; i++) {
		unsigned long long v = SUM(verdicts[i]);

		/* Statuses never produced stay out, except the ones every
		 * dashboard wants to see at zero. */
		if (v || i == JWT_OK || i == JWT_MISSED || i == JWT_VERIFICATION_FAIL || i == JWKS_FETCH_FAIL)
			put(&o, "spoajwt_verdicts_total{status=\"%s\"} %llu\n",
			    jwt_status_name((enum jwt_status)i), v);
	}
	render_counter(&o, "spoajwt_token_cache_hits_total", "Verified-token cache hits.", SUM(cache_hits));
	render_counter(&o, "spoajwt_token_cache_misses_total", "Verified-token cache misses.",
	               SUM(cache_misses));
	put(&o, "# HELP spoajwt_jwks_fetches_total JWKS fetches by result.\n# TYPE "
	        "spoajwt_jwks_fetches_total counter\n");
	for (size_t p = 0; p < cfg->n_providers; p++) {
		put(&o, "spoajwt_jwks_fetches_total{provider=\"%s\",result=\"ok\"} %llu\n",
		    cfg->providers[p].name, SUM(keys[p].fetch_ok));
		put(&o, "spoajwt_jwks_fetches_total{provider=\"%s\",result=\"failed\"} %llu\n",
		    cfg->providers[p].name, SUM(keys[p].fetch_failed));
	}
	put(&o, "# HELP spoajwt_jwks_age_seconds Age of the newest key set (-1: none yet).\n"
	        "# TYPE spoajwt_jwks_age_seconds gauge\n");
	for (size_t p = 0; p < cfg->n_providers; p++) {
		unsigned long long newest = 0;

		for (i = 0; i < n; i++) {
			unsigned long long t =
			    atomic_load_explicit(&w[i]->keys[p].last_ok_ms, memory_order_relaxed);

			newest = t > newest ? t : newest;
		}
		put(&o, "spoajwt_jwks_age_seconds{provider=\"%s\"} %.3f\n", cfg->providers[p].name,
		    newest ? (double)now.tv_sec + now.tv_nsec / 1e9 - (double)newest / 1000.0 : -1.0);
	}
	put(&o,
	    "# HELP spoajwt_connections Open SPOP connections.\n# TYPE spoajwt_connections gauge\n"
	    "spoajwt_connections %lld\n",
	    (long long)SUM(conns_open));
	render_counter(&o, "spoajwt_connections_total", "Accepted SPOP connections.", SUM(conns_total));
	put(&o,
	    "# HELP spoajwt_frames_total SPOP frames by type.\n# TYPE spoajwt_frames_total counter\n"
	    "spoajwt_frames_total{type=\"haproxy-hello\"} %llu\nspoajwt_frames_total{type=\"notify\"} %llu\n"
	    "spoajwt_frames_total{type=\"ack\"} %llu\n",
	    SUM(hello_frames), SUM(notify_frames), SUM(ack_frames));
	render_counter(&o, "spoajwt_healthchecks_total", "SPOP health checks answered.", SUM(healthchecks));
	put(&o, "# HELP spoajwt_disconnects_total AGENT-DISCONNECT frames sent, by SPOP status.\n"
	        "# TYPE spoajwt_disconnects_total counter\n");
	for (i = 0; i < 14; i++) {
		unsigned long long v = SUM(disconnects_sent[i]);

		if (v)
			put(&o, "spoajwt_disconnects_total{status=\"%u\"} %llu\n", i, v);
	}
	put(&o, "# HELP spoajwt_verify_duration_seconds Time from NOTIFY to verdict.\n"
	        "# TYPE spoajwt_verify_duration_seconds histogram\n");
	for (i = 0; i < METRICS_LAT_BUCKETS; i++) {
		cum += SUM(lat_buckets[i]);
		put(&o, "spoajwt_verify_duration_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i], cum);
	}
	put(&o, "spoajwt_verify_duration_seconds_bucket{le=\"+Inf\"} %llu\n", SUM(lat_count));
	put(&o, "spoajwt_verify_duration_seconds_sum %.6f\n", (double)SUM(lat_sum_us) / 1e6);
	put(&o, "spoajwt_verify_duration_seconds_count %llu\n", SUM(lat_count));
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **ctx)
{
	struct metrics_server *s = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char *body = NULL;
	const char *type = "text/plain; charset=utf-8";

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		body = strdup("method not allowed\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") == 0) {
		body = metrics_render(atomic_load(&s->cfg), s->workers, s->n);
		type = "text/plain; version=0.0.4; charset=utf-8";
		if (!body)
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else if (strcmp(url, "/healthz") == 0) {
		body = strdup("ok\n");
	} else {
		body = strdup("not found\n");
		status = MHD_HTTP_NOT_FOUND;
	}
	resp = MHD_create_response_from_buffer(body ? strlen(body) : 0, body ? body : (void *)"",
	                                       body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct metrics_server *metrics_start(const struct config *cfg, struct worker_metrics *const *workers,
                                     unsigned n, int *failed)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct metrics_server *s;
	int rc;

	*failed = 0;
	if (!cfg->metrics_host[0])
		return NULL;
	*failed = 1;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(cfg->metrics_host, cfg->metrics_port, &hints, &res);
	if (rc != 0) {
		log_event(LOG_ERR, "metrics_failed", "flag=--metrics reason=\"%s\"", gai_strerror(rc));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s) {
		s->cfg = cfg;
		s->workers = workers;
		s->n = n;
		s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
		                                 (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		                             0, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR, res->ai_addr,
		                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
		                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	}
	freeaddrinfo(res);
	if (!s || !s->daemon) {
		log_event(LOG_ERR, "metrics_failed",
		          "flag=--metrics addr=%s port=%s reason=\"cannot listen\"", cfg->metrics_host,
		          cfg->metrics_port);
		free(s);
		return NULL;
	}
	*failed = 0;
	return s;
}

void metrics_set_config(struct metrics_server *s, const struct config *cfg)
{
	if (s)
		atomic_store(&s->cfg, cfg);
}

void metrics_stop(struct metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
