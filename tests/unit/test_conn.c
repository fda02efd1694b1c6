/*
 * The connection state machine end to end over a socketpair: HELLO
 * negotiation, health checks, NOTIFY -> ACK (sync and parked verdicts),
 * pipelining, and every protocol error's AGENT-DISCONNECT status. The JWKS
 * URL points at a closed port, so key fetches fail fast and for real.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "conn.h"
#include "server.h"
#include "spop.h"
#include "t.h"

static struct config cfg;
static struct worker w;

/* server.c's hook; the test has no listener to drain. */
void server_conn_closed(struct worker *wk)
{
	(void)wk;
}

static int setup(void)
{
	char err[256];
	char *argv[] = {"spoa-jwt", "--jwks-uri", "http://127.0.0.1:1/jwks", "--fetch-timeout", "300",
	                "--cache-time", "1", NULL};
	struct keys_conf kc;

	if (config_parse(7, argv, &cfg, err, sizeof(err)) != CONFIG_OK)
		return -1;
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.loop = ev_loop_new(EVFLAG_AUTO);
	w.fetcher = fetcher_new(w.loop);
	kc = (struct keys_conf){.uri = cfg.providers[0].jwks_uri, .cache_time_s = 1, .fetch_timeout_ms = 300,
	                        .max_stale_s = 0, .refetch_interval_s = 1, .failed_retry_s = 0.2};
	w.verifier = (struct verifier){.loop = w.loop, .cfg = &cfg};
	w.verifier.keys[0] = keys_new(w.loop, w.fetcher, &kc);
	return w.loop && w.fetcher && w.verifier.keys[0] ? 0 : -1;
}

static void teardown(void)
{
	conn_close_all(&w);
	keys_free(w.verifier.keys[0]);
	config_free(&cfg);
	fetcher_free(w.fetcher);
	ev_loop_destroy(w.loop);
}

/* A new agent connection; returns the HAProxy side of the socketpair. */
static int connect_agent(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	conn_new(&w, sv[0]);
	return sv[1];
}

/* Runs the loop until <want> bytes arrived on <fd>, EOF, or <secs>. Returns
 * bytes read; *eof set when the agent closed. */
static size_t pump(int fd, uint8_t *out, size_t room, size_t want, double secs, int *eof)
{
	size_t got = 0;
	ev_tstamp end = ev_time() + secs;
	ssize_t n;

	*eof = 0;
	while (ev_time() < end) {
		ev_run(w.loop, EVRUN_NOWAIT);
		n = read(fd, out + got, room - got);
		if (n > 0) {
			got += (size_t)n;
			if (got >= want)
				break;
			continue;
		}
		if (n == 0) {
			*eof = 1;
			break;
		}
		if (errno != EAGAIN)
			break;
		usleep(1000);
	}
	return got;
}

static void run_loop(double secs)
{
	ev_tstamp end = ev_time() + secs;

	while (ev_time() < end) {
		ev_run(w.loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static size_t hex2bin(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (*hex) {
		if (*hex == ' ' || *hex == '\n') {
			hex++;
			continue;
		}
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* HAProxy 3.3's HELLO (notes §2.6), built with our encoder. */
static size_t make_hello(uint8_t *buf, size_t room, bool healthcheck, uint64_t max)
{
	struct spop_buf b;
	size_t start;

	spop_buf_init(&b, buf, room);
	start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
	spop_put_kv_str(&b, "supported-versions", "2.0", 3);
	spop_put_kv_uint(&b, "max-frame-size", max);
	spop_put_kv_str(&b, "capabilities", healthcheck ? "" : "pipelining", healthcheck ? 0 : 10);
	if (healthcheck)
		spop_put_kv_bool(&b, "healthcheck", true);
	else
		spop_put_kv_str(&b, "engine-id", "d7c1eb77-5d0c-4457-9604-11e31be7f510", 36);
	return spop_frame_end(&b, start, 1u << 20);
}

/* NOTIFY with message check-jwt { provider="default", authorization=<tok or NULL> }. */
static size_t make_notify(uint8_t *buf, size_t room, uint64_t sid, uint64_t fid, const char *auth)
{
	struct spop_buf b;
	size_t start;

	spop_buf_init(&b, buf, room);
	start = spop_frame_begin(&b, SPOP_FRM_NOTIFY, sid, fid);
	spop_put_str(&b, "check-jwt", 9);
	if (b.len < b.size)
		b.data[b.len++] = 2;
	spop_put_kv_str(&b, "provider", "default", 7);
	if (auth) {
		spop_put_kv_str(&b, "authorization", auth, strlen(auth));
	} else {
		spop_put_str(&b, "authorization", 13);
		if (b.len < b.size)
			b.data[b.len++] = SPOP_DATA_NULL;
	}
	return spop_frame_end(&b, start, 1u << 20);
}

struct ack {
	uint64_t sid, fid;
	int valid;              /* -1 absent */
	int64_t status;
	char message[256];
	int missing;
};

/* Decodes one ACK frame's set-var actions. Returns frame size, 0 on error. */
static size_t read_ack(const uint8_t *p, size_t len, struct ack *a)
{
	struct spop_frame f;
	struct spop_reader rd;
	long n = spop_frame_parse(p, len, 1u << 20, &f);

	memset(a, 0, sizeof(*a));
	a->valid = a->missing = -1;
	if (n <= 0 || f.type != SPOP_FRM_ACK)
		return 0;
	a->sid = f.sid;
	a->fid = f.fid;
	spop_reader_init(&rd, f.payload, f.payload_len);
	while (!spop_reader_done(&rd)) {
		struct spop_str name;
		struct spop_value v;

		if (rd.end - rd.p < 3 || rd.p[0] != 1 || rd.p[1] != 3 || rd.p[2] != SPOP_SCOPE_TXN)
			return 0;
		rd.p += 3;
		if (spop_read_str(&rd, &name) < 0 || spop_read_value(&rd, &v) < 0)
			return 0;
		if (spop_str_eq(name, "valid"))
			a->valid = v.u.b;
		else if (spop_str_eq(name, "missing"))
			a->missing = v.u.b;
		else if (spop_str_eq(name, "status"))
			a->status = v.u.i;
		else if (spop_str_eq(name, "message") && v.u.s.len < sizeof(a->message))
			memcpy(a->message, v.u.s.ptr, v.u.s.len);
	}
	return (size_t)n;
}

/* Expects an AGENT-DISCONNECT with <status>, then EOF. */
static void expect_disconnect(int fd, enum spop_status status, const char *what)
{
	uint8_t buf[4096];
	struct spop_frame f;
	struct spop_disconnect d = {0};
	int eof;
	size_t n = pump(fd, buf, sizeof(buf), sizeof(buf), 2.0, &eof);
	long fl = spop_frame_parse(buf, n, 1u << 20, &f);

	ok(fl > 0 && f.type == SPOP_FRM_AGENT_DISCONNECT &&
	       spop_disconnect_decode(f.payload, f.payload_len, &d) == 0 && d.status == status,
	   "%s: AGENT-DISCONNECT status %d (got frame type %d status %llu)", what, status, fl > 0 ? f.type : -1,
	   (unsigned long long)d.status);
	ok(eof, "%s: connection closed after the DISCONNECT", what);
	close(fd);
}

static int handshake(int fd)
{
	uint8_t buf[512];
	size_t n = make_hello(buf, sizeof(buf), false, 16380);
	int eof;

	if (send_all(fd, buf, n) < 0)
		return -1;
	return pump(fd, buf, sizeof(buf), 68, 2.0, &eof) == 68 ? 0 : -1;
}

static void test_hello(void)
{
	static const char agent_hello[] =
		"000000406500000001000007 76657273696f6e 0803 322e30 0e 6d61782d6672616d652d73697a65 03fcf006"
		"0c 6361706162696c6974696573 080a 706970656c696e696e67";
	uint8_t want[128], buf[512];
	size_t wn = hex2bin(agent_hello, want), n;
	int fd = connect_agent(), eof;

	n = make_hello(buf, sizeof(buf), false, 16380);
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), wn, 2.0, &eof);
	ok(n == wn && memcmp(buf, want, wn) == 0, "AGENT-HELLO is the 68 bytes of the notes (got %zu)", n);
	close(fd);

	/* HAProxy offers a larger frame: we negotiate down to ours. */
	fd = connect_agent();
	n = make_hello(buf, sizeof(buf), false, 65536);
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), wn, 2.0, &eof);
	ok(n == wn && memcmp(buf, want, wn) == 0, "larger HAProxy max-frame-size negotiated down to 16380");
	close(fd);

	/* Health check: one AGENT-HELLO with empty capabilities, then close. */
	fd = connect_agent();
	n = make_hello(buf, sizeof(buf), true, 16380);
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), sizeof(buf), 2.0, &eof);
	{
		struct spop_frame f;
		long fl = spop_frame_parse(buf, n, 16380, &f);

		ok(fl > 0 && (size_t)fl == n && f.type == SPOP_FRM_AGENT_HELLO && f.flags == SPOP_FL_FIN,
		   "health check answered by exactly one AGENT-HELLO (%zu bytes)", n);
		ok(fl > 0 && memmem(f.payload, f.payload_len, "\x0c" "capabilities\x08\x00", 15) != NULL,
		   "health check AGENT-HELLO carries an empty capabilities item");
	}
	ok(eof, "health check connection closed by the agent");
	close(fd);

	/* A TCP check: connect and close without a byte. */
	fd = connect_agent();
	close(fd);
	ev_run(w.loop, EVRUN_NOWAIT);
	ev_run(w.loop, EVRUN_NOWAIT);
	ok(w.n_conns == 0, "silent connect/close leaves no connection behind (%u)", w.n_conns);
}

static void test_notify_sync(void)
{
	uint8_t buf[4096];
	struct ack a;
	size_t n;
	int fd = connect_agent(), eof;

	ok(handshake(fd) == 0, "handshake");
	n = make_notify(buf, sizeof(buf), 0, 1, NULL);
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), 16, 2.0, &eof);
	ok(read_ack(buf, n, &a) && a.sid == 0 && a.fid == 1, "ACK echoes stream-id 0 / frame-id 1");
	ok(a.valid == 0 && a.status == 401 && strcmp(a.message, "Jwt is missing") == 0 && a.missing == 1,
	   "no header: valid=false 401 'Jwt is missing' missing=true (got %d %lld '%s' %d)", a.valid,
	   (long long)a.status, a.message, a.missing);

	n = make_notify(buf, sizeof(buf), 5, 7, "Bearer wrong-jwt-token");
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), 16, 2.0, &eof);
	ok(read_ack(buf, n, &a) && a.sid == 5 && a.fid == 7 && a.valid == 0 && a.missing == 0 &&
	       strcmp(a.message, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections") ==
	           0,
	   "wrong-jwt-token: bad format (got '%s')", a.message);

	n = make_notify(buf, sizeof(buf), 6, 1, "Basic dXNlcjpwYXNz");
	send_all(fd, buf, n);
	n = pump(fd, buf, sizeof(buf), 16, 2.0, &eof);
	ok(read_ack(buf, n, &a) && a.valid == 0 && a.missing == 1, "other scheme counts as missing");
	close(fd);
}

/* eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0 = {"alg":"RS256","kid":"k1"};
 * payload {"sub":"a","exp":4102444800} (2100): reaches the key step. */
#define FUTURE_TOKEN "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln"

static void test_notify_parked_and_pipelined(void)
{
	uint8_t buf[8192];
	struct ack a;
	size_t n = 0, off, got;
	int fd = connect_agent(), eof, seen = 0, fetch_failed = 0;

	ok(handshake(fd) == 0, "handshake");
	/* Three NOTIFYs in one write: one parked on the JWKS, two answered now. */
	n += make_notify(buf + n, sizeof(buf) - n, 2, 1, FUTURE_TOKEN);
	n += make_notify(buf + n, sizeof(buf) - n, 4, 1, NULL);
	n += make_notify(buf + n, sizeof(buf) - n, 6, 1, "Bearer wrong-jwt-token");
	send_all(fd, buf, n);
	got = pump(fd, buf, sizeof(buf), 3 * 60, 3.0, &eof);
	for (off = 0; off < got;) {
		size_t fl = read_ack(buf + off, got - off, &a);

		if (!fl)
			break;
		seen |= 1 << (a.sid / 2);
		if (a.sid == 2 && a.valid == 0 && strcmp(a.message, "Jwks remote fetch is failed") == 0)
			fetch_failed = 1;
		off += fl;
	}
	ok(seen == (1 << 1 | 1 << 2 | 1 << 3), "three pipelined NOTIFYs, three ACKs (mask %d)", seen);
	ok(fetch_failed, "parked verification answered 'Jwks remote fetch is failed' when the JWKS is down");

	/* Close while a verification is parked: nothing leaks, no late write. */
	n = make_notify(buf, sizeof(buf), 8, 1, FUTURE_TOKEN);
	send_all(fd, buf, n);
	ev_run(w.loop, EVRUN_NOWAIT);
	close(fd);
	run_loop(0.5);
	ok(w.n_conns == 0, "connection with a parked verification closed cleanly");
}

static void test_protocol_errors(void)
{
	uint8_t buf[512];
	size_t n;
	int fd;

	fd = connect_agent();
	n = make_notify(buf, sizeof(buf), 1, 1, NULL);
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_INVALID, "NOTIFY before HELLO");

	fd = connect_agent();
	send_all(fd, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
	expect_disconnect(fd, SPOP_ERR_TOO_BIG, "HTTP request on the SPOP port");

	fd = connect_agent();
	send_all(fd, (const uint8_t *)"\xff\xff\xff\xff", 4);
	expect_disconnect(fd, SPOP_ERR_TOO_BIG, "4 GiB frame length");

	fd = connect_agent();
	send_all(fd, (const uint8_t *)"\x00\x00\x00\x03\x01\x00\x00", 7);
	expect_disconnect(fd, SPOP_ERR_INVALID, "frame shorter than 7 bytes");

	fd = connect_agent();
	n = make_hello(buf, sizeof(buf), false, 16380);
	buf[8] = 0; /* clear FIN */
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_FRAG_NOT_SUPPORTED, "HELLO without FIN");

	fd = connect_agent();
	{
		struct spop_buf b;
		size_t start;

		spop_buf_init(&b, buf, sizeof(buf));
		start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
		spop_put_kv_uint(&b, "max-frame-size", 16380);
		spop_put_kv_str(&b, "capabilities", "", 0);
		n = spop_frame_end(&b, start, 16380);
	}
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_NO_VSN, "HELLO without supported-versions");

	fd = connect_agent();
	{
		struct spop_buf b;
		size_t start;

		spop_buf_init(&b, buf, sizeof(buf));
		start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
		spop_put_kv_str(&b, "supported-versions", "1.0", 3);
		spop_put_kv_uint(&b, "max-frame-size", 16380);
		spop_put_kv_str(&b, "capabilities", "", 0);
		n = spop_frame_end(&b, start, 16380);
	}
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_BAD_VSN, "HELLO without 2.0");

	fd = connect_agent();
	ok(handshake(fd) == 0, "handshake");
	n = make_notify(buf, sizeof(buf), 1, 1, NULL);
	buf[4] = 0; /* type UNSET: a fragment */
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_FRAG_NOT_SUPPORTED, "UNSET (fragment) frame");

	fd = connect_agent();
	ok(handshake(fd) == 0, "handshake");
	n = make_notify(buf, sizeof(buf), 1, 1, NULL);
	buf[11] = 200; /* message name length now runs past the frame */
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_INVALID, "NOTIFY with a string past the frame end");

	fd = connect_agent();
	ok(handshake(fd) == 0, "handshake");
	{
		struct spop_buf b;
		size_t start;

		spop_buf_init(&b, buf, sizeof(buf));
		start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_DISCONNECT, 0, 0);
		spop_put_kv_uint(&b, "status-code", 2);
		spop_put_kv_str(&b, "message", "a timeout occurred", 18);
		n = spop_frame_end(&b, start, 16380);
	}
	send_all(fd, buf, n);
	expect_disconnect(fd, SPOP_ERR_NONE, "HAPROXY-DISCONNECT answered with status 0");
}

/* Every byte in its own write: all "need more" paths of the reader. */
static void test_byte_at_a_time(void)
{
	uint8_t out[8192], in[256];
	size_t n = 0, i, got = 0;
	struct ack a;
	int fd = connect_agent(), eof;

	n += make_hello(out, sizeof(out), false, 16380);
	n += make_notify(out + n, sizeof(out) - n, 3, 1, "Bearer wrong-jwt-token");
	for (i = 0; i < n; i++) {
		send_all(fd, out + i, 1);
		ev_run(w.loop, EVRUN_NOWAIT);
	}
	got = pump(fd, in, sizeof(in), 68 + 16, 2.0, &eof);
	ok(got > 68 && read_ack(in + 68, got - 68, &a) && a.sid == 3 && a.valid == 0,
	   "HELLO and NOTIFY fed one byte at a time still answered (%zu bytes)", got);
	close(fd);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_object_seed(0);
	if (setup() < 0) {
		ok(0, "setup");
		return t_done("test_conn");
	}
	test_hello();
	test_notify_sync();
	test_notify_parked_and_pipelined();
	test_protocol_errors();
	test_byte_at_a_time();
	teardown();
	curl_global_cleanup();
	return t_done("test_conn");
}
