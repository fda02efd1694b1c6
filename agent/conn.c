#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "spop.h"
#include "status.h"
#include "verify.h"

/* Stop reading while this much output waits for a peer that does not read,
 * so a stuck HAProxy cannot make us buffer without bound. */
#define OUT_HIGH_WATER (256u * 1024u)
/* Parked verifications per connection before we stop reading (HAProxy
 * pipelines at most 20; anything beyond that is a misbehaving peer). */
#define MAX_PENDING 256u

enum conn_state { CONN_HELLO, CONN_RUNNING, CONN_CLOSING };

#define COUNT(c, field)                                                                                      \
	do {                                                                                                 \
		if ((c)->w->metrics)                                                                         \
			metric_inc(&(c)->w->metrics->field);                                                 \
	} while (0)

struct req {
	struct vreq v; /* first: verify.c hands it back */
	struct conn *c;
	uint64_t sid, fid;
	ev_tstamp t0;
	struct req *next, *prev;
};

struct conn {
	struct worker *w;
	int fd;
	ev_io rio, wio;
	enum conn_state state;
	bool reading;
	bool draining;
	bool healthcheck;
	bool pipelining;
	uint32_t max_frame; /* negotiated; before HELLO, our own maximum */
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	struct req *pending;
	unsigned n_pending;
	struct conn *next, *prev;
};

static void conn_close(struct conn *c);
static int conn_flush(struct conn *c);
static void conn_resume(struct conn *c);

static void update_reading(struct conn *c)
{
	bool want = c->state != CONN_CLOSING && c->n_pending < MAX_PENDING &&
	            c->out_len - c->out_off < OUT_HIGH_WATER;

	if (want && !c->reading)
		ev_io_start(c->w->loop, &c->rio);
	else if (!want && c->reading)
		ev_io_stop(c->w->loop, &c->rio);
	c->reading = want;
}

/* Makes room for <need> more output bytes. */
static int out_reserve(struct conn *c, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (c->out_off > 0 && c->out_off == c->out_len)
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

/* A confused HAProxy (or a port scanner) can reconnect thousands of times a
 * second (trap 23): at most 20 protocol-error lines per second per worker,
 * then one line saying how many were left out. */
static bool log_allowed(struct worker *w)
{
	double now = ev_now(w->loop);

	if (now - w->warn_window >= 1.0) {
		if (w->warn_count > 20)
			log_event(LOG_WARN, "spop_error_suppressed", "lines=%u", w->warn_count - 20);
		w->warn_window = now;
		w->warn_count = 0;
	}
	return ++w->warn_count <= 20;
}

/* Queues AGENT-DISCONNECT <status> and closes once it is written. Pending
 * verifications are dropped: HAProxy fails them with 256+status anyway. */
static void conn_fail(struct conn *c, enum spop_status status)
{
	struct spop_buf b;

	if (c->state == CONN_CLOSING)
		return;
	if (status != SPOP_ERR_NONE && log_allowed(c->w))
		log_event(LOG_WARN, "spop_error", "fd=%d status=%d reason=\"%s\"", c->fd, (int)status,
		          spop_status_str(status));
	c->state = CONN_CLOSING;
	if (out_reserve(c, 512) == 0) {
		spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
		if (spop_agent_disconnect(&b, status, spop_status_str(status))) {
			c->out_len += b.len;
			if ((unsigned)status < 14)
				COUNT(c, disconnects_sent[status]);
		}
	}
	update_reading(c);
}

/* verify.c hands over only values safe for a header or a log line. */
static void put_claim(struct spop_buf *b, const char *name, const char *value)
{
	if (value)
		spop_put_set_var_str(b, SPOP_SCOPE_TXN, name, value, strlen(value));
}

/* Exported claims: "var\0value\0" pairs already checked by verify.c, set as
 * txn.jwt.claim.<var>. */
static void put_exports(struct spop_buf *b, const char *p, size_t len)
{
	const char *end;
	char name[80];

	if (!p)
		return;
	end = p + len;
	while (p < end) {
		const char *val = p + strlen(p) + 1;

		snprintf(name, sizeof(name), "claim.%s", p);
		spop_put_set_var_str(b, SPOP_SCOPE_TXN, name, val, strlen(val));
		p = val + strlen(val) + 1;
	}
}

static size_t encode_ack(struct conn *c, const struct req *r, bool with_claims)
{
	const struct vreq *v = &r->v;
	struct spop_buf b;
	size_t start;

	spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
	start = spop_frame_begin(&b, SPOP_FRM_ACK, r->sid, r->fid);
	spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "valid", v->status == JWT_OK);
	if (v->status != JWT_OK) {
		const char *msg = jwt_status_str(v->status);

		spop_put_set_var_int(&b, SPOP_SCOPE_TXN, "status", jwt_status_http(v->status));
		spop_put_set_var_str(&b, SPOP_SCOPE_TXN, "message", msg, strlen(msg));
		spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "missing", v->status == JWT_MISSED);
	} else if (with_claims) {
		put_claim(&b, "sub", v->sub);
		put_claim(&b, "iss", v->iss);
		put_claim(&b, "kid", v->kid);
		put_claim(&b, "alg", v->alg);
		put_exports(&b, v->exports, v->exports_len);
	}
	return spop_frame_end(&b, start, c->max_frame);
}

static void log_verdict(const struct req *r, ev_tstamp now)
{
	char sub[LOG_QUOTE_BUF], kid[LOG_QUOTE_BUF];
	const struct vreq *v = &r->v;
	const char *s = v->has_jwt && v->jwt.sub ? v->jwt.sub : v->sub ? v->sub : "";
	const char *k = v->has_jwt && v->jwt.kid ? v->jwt.kid : v->kid ? v->kid : "";

	if (!log_enabled(LOG_DEBUG))
		return;
	log_event(LOG_DEBUG, "verdict",
	          "sid=%llu fid=%llu valid=%s status=%s cached=%s alg=%s kid=%s sub=%s reason=\"%s\" us=%.0f",
	          (unsigned long long)r->sid, (unsigned long long)r->fid,
	          v->status == JWT_OK ? "true" : "false", jwt_status_name(v->status),
	          v->cached ? "true" : "false",
	          v->has_jwt && v->jwt.alg_name ? v->jwt.alg_name
	          : v->alg                      ? v->alg
	                                        : "-",
	          log_quote(kid, k, strlen(k)), log_quote(sub, s, strlen(s)), jwt_status_str(v->status),
	          (now - r->t0) * 1e6);
}

/* Appends the ACK for a finished verification. Claims that make the ACK
 * larger than the frame are dropped rather than the verdict. */
static void send_verdict(struct conn *c, struct req *r)
{
	size_t n;

	log_verdict(r, ev_time());
	if (c->w->metrics)
		metrics_verdict(c->w->metrics, r->v.status, ev_time() - r->t0);
	if (c->state == CONN_CLOSING)
		return;
	if (out_reserve(c, c->max_frame + 4u) < 0) {
		log_event(LOG_ERR, "out_of_memory", "fd=%d", c->fd);
		conn_fail(c, SPOP_ERR_RES);
		return;
	}
	n = encode_ack(c, r, true);
	if (!n)
		n = encode_ack(c, r, false);
	if (!n) {
		conn_fail(c, SPOP_ERR_TOO_BIG);
		return;
	}
	c->out_len += n;
	COUNT(c, ack_frames);
}

static void req_unlink(struct conn *c, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		c->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	c->n_pending--;
}

/* Requests are recycled per worker: a cache hit then costs no malloc. */
#define REQ_POOL_MAX 1024u

static struct req *req_alloc(struct worker *w)
{
	struct req *r = w->req_pool;

	if (!r)
		return calloc(1, sizeof(*r));
	w->req_pool = r->next;
	w->req_pool_n--;
	memset(r, 0, sizeof(*r));
	return r;
}

static void req_free(struct worker *w, struct req *r)
{
	verify_release(&r->v);
	if (w->req_pool_n >= REQ_POOL_MAX) {
		free(r);
		return;
	}
	r->next = w->req_pool;
	w->req_pool = r;
	w->req_pool_n++;
}

/* A drained connection says goodbye once nothing is pending. */
static void maybe_finish_drain(struct conn *c)
{
	if (c->draining && c->n_pending == 0 && c->state == CONN_RUNNING)
		conn_fail(c, SPOP_ERR_NONE);
}

/* verify.c calls this when a parked verification ends. */
static void req_done(struct vreq *v)
{
	struct req *r = (struct req *)v;
	struct conn *c = r->c;

	req_unlink(c, r);
	send_verdict(c, r);
	req_free(c->w, r);
	maybe_finish_drain(c);
	conn_resume(c);
}

static void handle_hello(struct conn *c, const struct spop_frame *f)
{
	struct spop_hello h;
	enum spop_status st;
	struct spop_buf b;

	if (f->type != SPOP_FRM_HAPROXY_HELLO || f->sid != 0 || f->fid != 0) {
		conn_fail(c, SPOP_ERR_INVALID);
		return;
	}
	COUNT(c, hello_frames);
	st = spop_hello_decode(f->payload, f->payload_len, &h);
	if (st != SPOP_ERR_NONE) {
		conn_fail(c, st);
		return;
	}
	/* Negotiate down, never refuse a larger HAProxy value (trap 12). */
	if (h.max_frame_size < c->max_frame)
		c->max_frame = (uint32_t)h.max_frame_size;
	c->pipelining = h.pipelining;
	c->healthcheck = h.healthcheck;
	if (out_reserve(c, 256) < 0) {
		conn_fail(c, SPOP_ERR_RES);
		return;
	}
	spop_buf_init(&b, c->out + c->out_len, c->out_cap - c->out_len);
	if (!spop_agent_hello(&b, c->max_frame, c->pipelining)) {
		conn_fail(c, SPOP_ERR_RES);
		return;
	}
	c->out_len += b.len;
	/* A health check gets exactly one AGENT-HELLO, then we close: HAProxy
	 * 3.1+ fails the check if anything follows it (trap 15). */
	c->state = h.healthcheck ? CONN_CLOSING : CONN_RUNNING;
	if (h.healthcheck)
		COUNT(c, healthchecks);
	update_reading(c);
}

/* Collects the arguments of our message. Returns 0, or -1 when the
 * payload is malformed. Other messages are skipped. */
static int parse_notify(const struct spop_frame *f, bool *found, struct verify_input *in)
{
	struct spop_reader rd;
	struct spop_str name, key;
	struct spop_value val;
	unsigned nargs, i;

	*found = false;
	in->provider = NULL;
	in->provider_len = 0;
	in->n_args = 0;
	spop_reader_init(&rd, f->payload, f->payload_len);
	while (!spop_reader_done(&rd)) {
		bool ours;

		if (spop_read_message(&rd, &name, &nargs) < 0)
			return -1;
		ours = spop_str_eq(name, "check-jwt");
		*found |= ours;
		for (i = 0; i < nargs; i++) {
			struct verify_arg *a;

			if (spop_read_kv(&rd, &key, &val) < 0)
				return -1;
			if (!ours)
				continue;
			/* A fetch that failed (no such header) arrives as NULL;
			 * only strings carry a token. */
			if (val.type != SPOP_DATA_STRING && val.type != SPOP_DATA_BINARY)
				continue;
			if (spop_str_eq(key, "provider")) {
				in->provider = (const char *)val.u.s.ptr;
				in->provider_len = val.u.s.len;
				continue;
			}
			if (in->n_args == VERIFY_MAX_ARGS)
				continue;
			a = &in->args[in->n_args++];
			a->name = (const char *)key.ptr;
			a->name_len = key.len;
			a->val = (const char *)val.u.s.ptr;
			a->len = val.u.s.len;
		}
	}
	return 0;
}

static void handle_notify(struct conn *c, const struct spop_frame *f)
{
	struct verify_input in;
	struct req *r;
	bool found;

	COUNT(c, notify_frames);
	if (parse_notify(f, &found, &in) < 0) {
		conn_fail(c, SPOP_ERR_INVALID);
		return;
	}
	if (!found)
		log_event(LOG_WARN, "notify_without_check_jwt", "fd=%d sid=%llu", c->fd,
		          (unsigned long long)f->sid);
	r = req_alloc(c->w);
	if (!r) {
		conn_fail(c, SPOP_ERR_RES);
		return;
	}
	r->c = c;
	r->sid = f->sid;
	r->fid = f->fid;
	r->t0 = ev_time();
	r->v.done = req_done;
	if (!found) {
		/* Fail closed: a NOTIFY we do not understand never validates. */
		r->v.status = JWT_VERIFICATION_FAIL;
	} else if (!verify_start(&c->w->verifier, &r->v, &in)) {
		r->next = c->pending;
		if (r->next)
			r->next->prev = r;
		c->pending = r;
		c->n_pending++;
		update_reading(c);
		return;
	}
	send_verdict(c, r);
	req_free(c->w, r);
}

static void handle_frame(struct conn *c, const struct spop_frame *f)
{
	/* Fragmentation is never announced, so every frame must be whole. */
	if (!(f->flags & SPOP_FL_FIN) || f->type == SPOP_FRM_UNSET) {
		conn_fail(c, SPOP_ERR_FRAG_NOT_SUPPORTED);
		return;
	}
	if (c->state == CONN_HELLO) {
		handle_hello(c, f);
		return;
	}
	switch (f->type) {
	case SPOP_FRM_NOTIFY:
		handle_notify(c, f);
		break;
	case SPOP_FRM_HAPROXY_DISCONNECT: {
		struct spop_disconnect d = {0};
		char msg[LOG_QUOTE_BUF];

		if (spop_disconnect_decode(f->payload, f->payload_len, &d) == 0)
			log_event(LOG_DEBUG, "haproxy_disconnect", "fd=%d status=%llu message=%s", c->fd,
			          (unsigned long long)d.status, log_quote(msg, d.message.ptr, d.message.len));
		conn_fail(c, SPOP_ERR_NONE);
		break;
	}
	case SPOP_FRM_HAPROXY_HELLO:
		conn_fail(c, SPOP_ERR_INVALID);
		break;
	default:
		/* Unknown types may be skipped (doc/SPOE.txt §3.2). */
		log_event(LOG_DEBUG, "frame_skipped", "fd=%d type=%u", c->fd, f->type);
		break;
	}
}

/* Decodes every complete frame in the input buffer. */
static void process_input(struct conn *c)
{
	struct spop_frame f;
	size_t off = 0;
	long n;

	while (c->state != CONN_CLOSING && c->reading) {
		n = spop_frame_parse(c->in + off, c->in_len - off, c->max_frame, &f);
		if (n == 0)
			break;
		if (n < 0) {
			conn_fail(c, (enum spop_status) - n);
			break;
		}
		off += (size_t)n;
		handle_frame(c, &f);
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

/* Writes what is queued, in as few send() calls as the socket allows; a
 * frame is never split on purpose (trap 17). Returns -1 if <c> was freed. */
static int conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->w->loop, &c->wio);
			update_reading(c);
			return 0;
		}
		/* EPIPE/ECONNRESET: HAProxy went away, a normal close (trap 21). */
		conn_close(c);
		return -1;
	}
	c->out_off = c->out_len = 0;
	ev_io_stop(c->w->loop, &c->wio);
	if (c->state == CONN_CLOSING) {
		conn_close(c);
		return -1;
	}
	update_reading(c);
	return 0;
}

/* After back-pressure ends, frames already buffered are answered at once:
 * the socket may have nothing new to wake the read watcher. */
static void conn_resume(struct conn *c)
{
	if (conn_flush(c) < 0)
		return;
	if (c->reading && c->in_len > 0) {
		process_input(c);
		conn_flush(c);
	}
}

static void on_write(struct ev_loop *loop, ev_io *io, int revents)
{
	conn_resume(io->data);
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = io->data;
	ssize_t n;
	int rounds;

	if (!c->in) {
		/* Allocated on first data: idle and TCP-check connections cost nothing. */
		c->in_cap = (size_t)c->w->cfg->max_frame_size + 4u;
		c->in = malloc(c->in_cap);
		if (!c->in) {
			log_event(LOG_ERR, "out_of_memory", "fd=%d", c->fd);
			conn_close(c);
			return;
		}
	}
	for (rounds = 0; rounds < 16 && c->reading && c->state != CONN_CLOSING; rounds++) {
		if (c->in_len == c->in_cap)
			break; /* only while a complete frame waits for room to answer */
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			process_input(c);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		/* EOF or reset: normal end of an agent connection (trap 16, 21). */
		conn_close(c);
		return;
	}
	conn_flush(c);
}

void conn_new(struct worker *w, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		log_event(LOG_ERR, "out_of_memory", "fd=%d", fd);
		close(fd);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->state = CONN_HELLO;
	c->max_frame = w->cfg->max_frame_size;
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	c->next = w->conns;
	if (c->next)
		c->next->prev = c;
	w->conns = c;
	w->n_conns++;
	if (w->metrics) {
		metric_inc(&w->metrics->conns_total);
		atomic_fetch_add_explicit(&w->metrics->conns_open, 1, memory_order_relaxed);
	}
	update_reading(c);
	if (w->draining)
		conn_drain(c);
}

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	struct req *r;

	ev_io_stop(w->loop, &c->rio);
	ev_io_stop(w->loop, &c->wio);
	while ((r = c->pending)) {
		req_unlink(c, r);
		req_free(w, r);
	}
	close(c->fd);
	free(c->in);
	free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	if (w->metrics)
		atomic_fetch_sub_explicit(&w->metrics->conns_open, 1, memory_order_relaxed);
	free(c);
	server_conn_closed(w);
}

void conn_drain(struct conn *c)
{
	c->draining = true;
	if (c->state == CONN_HELLO) {
		conn_close(c);
		return;
	}
	maybe_finish_drain(c);
	conn_flush(c);
}

void conn_close_all(struct worker *w)
{
	struct req *r;

	while (w->conns)
		conn_close(w->conns);
	while ((r = w->req_pool)) {
		w->req_pool = r->next;
		free(r);
	}
	w->req_pool_n = 0;
}

struct conn *conn_next(struct conn *c)
{
	return c->next;
}
