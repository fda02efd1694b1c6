/*
 * libFuzzer target for a whole agent connection (agent/conn.c and what it
 * drives: spop codec, verify.c, jwt.c, keys.c with a JWKS that is down).
 *
 * Built and run by tests/fuzz/run.sh; by hand (objects from run.sh):
 *   build/fuzz/fuzz_conn -close_fd_mask=3 build/fuzz/scratch/conn tests/fuzz/corpus/conn
 *
 * An input is 2 header bytes and the byte stream HAProxy would send:
 *   byte 0  bits 0-3: chunks are 1..2^n bytes long (n = 0: one byte per write)
 *           bit 4: half-close (shutdown SHUT_WR) after the last chunk
 *           bit 5: read nothing back until the end (a peer that does not read)
 *           bit 6: unused
 *           bit 7: use the second worker (flags, tight limits)
 *   byte 1  seed of the chunk lengths
 * Each chunk is written to a socketpair, then the agent's loop runs once, so
 * frames arrive split at fuzzer-chosen points (every "need more" path).
 * Inputs shorter than 2 bytes are sent as they are, in one write.
 *
 * Both workers are built by hand as tests/unit/test_conn.c does (server.c's
 * worker_init without the listener; LLVMFuzzerInitialize lists their
 * providers): a remote JWKS on a closed loopback port, so JWT-shaped tokens
 * park on a real fetch that fails fast, and a local key file, so tokens
 * signed with the test keys verify and export claims.
 *
 * Checked beyond ASan/UBSan/LSan (trap on failure): what the agent writes is
 * a sequence of well-formed agent frames whose exported strings carry no
 * control character and respect --max-claim-size; once we close our end, the
 * agent lets go of the connection within a bounded time.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cache.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "server.h"
#include "spop.h"

#include "../vectors/gen_tokens.h"

#define check(cond) ((cond) ? (void)0 : __builtin_trap())

/* Loop turns after the last chunk while the agent still answers. */
#define SETTLE_TURNS 64
/* A closed peer must be noticed within this (the longest wait inside the
 * agent is a parked fetch: --fetch-timeout 100 ms here). */
#define CLOSE_BOUND_S 2.0

struct fuzz_worker {
	struct config cfg;
	struct worker w;
	struct worker_metrics metrics; /* counted as in the agent; never read */
};

static struct fuzz_worker workers[2];
static char jwks_path[64], config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* server.c's hook; there is no listener to drain here. */
void server_conn_closed(struct worker *wk)
{
	(void)wk;
}

/* As server.c's worker_init, without the listener and the asyncs. */
static int setup(struct fuzz_worker *fw, int argc, char **argv)
{
	struct worker *w = &fw->w;
	const struct config *cfg = &fw->cfg;
	char err[256];

	if (config_parse(argc, argv, &fw->cfg, err, sizeof(err)) != CONFIG_OK) {
		fprintf(stderr, "fuzz_conn: config: %s\n", err);
		return -1;
	}
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->listen_fd = -1;
	w->metrics = &fw->metrics;
	w->loop = ev_loop_new(EVFLAG_AUTO);
	if (!w->loop)
		return -1;
	w->fetcher = fetcher_new(w->loop);
	if (!w->fetcher)
		return -1;
	w->verifier.loop = w->loop;
	w->verifier.cfg = cfg;
	w->verifier.metrics = w->metrics;
	for (size_t i = 0; i < cfg->n_providers; i++) {
		struct keys_conf kc;

		verify_keys_conf(&kc, &cfg->providers[i]);
		kc.failed_retry_s = 0.2;
		kc.metrics = &w->metrics->keys[i];

		w->verifier.keys[i] = keys_new(w->loop, w->fetcher, &kc);
		if (!w->verifier.keys[i])
			return -1;
	}
	if (cfg->cache_entries > 0)
		w->verifier.cache = tcache_new(cfg->cache_entries, cfg->cache_bytes);
	return 0;
}

static int write_temp(char *path, size_t size, const char *prefix, const char *text)
{
	int fd;
	size_t len = strlen(text);

	snprintf(path, size, "/tmp/%s.XXXXXX", prefix);
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Worker 0, from a configuration file: "remote" has its JWKS on a
	 * closed port (tokens park, the fetch fails); "local" reads the test
	 * keys of tests/vectors/gen_tokens.h from a file, so a token signed by
	 * them (the seeds have an HS256 one valid until 2100) goes all the way
	 * to an ACK with exported claims, and into the token cache. */
	static const char config_fmt[] =
	    "{\"max_claim_size\": 64, \"jwt_cache_size\": 64, \"providers\": {"
	    "\"remote\": {\"remote_jwks\": {\"http_uri\": {\"uri\": \"http://127.0.0.1:1/jwks\","
	    " \"timeout\": \"100ms\"}, \"cache_duration\": \"1s\"}},"
	    "\"local\": {\"issuer\": \"https://issuer.example\", \"audiences\": [\"api\"],"
	    " \"local_jwks\": {\"filename\": \"%s\"}, \"require_expiration\": true,"
	    " \"from_headers\": [{\"name\": \"authorization\", \"value_prefix\": \"Bearer \"}],"
	    " \"from_params\": [\"access_token\"], \"from_cookies\": [\"jwt\"],"
	    " \"claim_to_headers\": [{\"header_name\": \"sub\", \"claim_name\": \"sub\"},"
	    " {\"header_name\": \"tier\", \"claim_name\": \"org.tier\"},"
	    " {\"header_name\": \"n\", \"claim_name\": \"n\"}],"
	    " \"required_claims\": [{\"name\": \"scope\", \"value\": \"llm\"}]}}}";
	/* Worker 1, from flags, tight limits: smallest frames (ACKs that
	 * overflow, claims dropped), no prefix, issuer and audience checked, no
	 * token cache. */
	char *a1[] = {"spoa-jwt", "--jwks-uri", "http://127.0.0.1:1/jwks", "--fetch-timeout", "100",
	              "--cache-time", "1", "--max-frame-size", "256", "--prefix", "", "--max-token-size", "200",
	              "--max-claim-size", "1", "--issuer", "iss", "--audience", "https://aud/", "--cache-size", "0",
	              "--header", "X-Token", "--max-stale", "0", "--refetch-interval", "0", NULL};
	char *a0[] = {"spoa-jwt", "--config", config_path, NULL};
	char config_text[4096];

	(void)argc;
	(void)argv;
	/* Our own writes to a socket the agent closed must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_object_seed(1);
	if (write_temp(jwks_path, sizeof(jwks_path), "fuzz_conn_jwks", gen_jwks) < 0)
		abort();
	snprintf(config_text, sizeof(config_text), config_fmt, jwks_path);
	if (write_temp(config_path, sizeof(config_path), "fuzz_conn_config", config_text) < 0)
		abort();
	if (setup(&workers[0], 3, a0) < 0 || setup(&workers[1], (int)(sizeof(a1) / sizeof(a1[0])) - 1, a1) < 0) {
		fprintf(stderr, "fuzz_conn: setup failed\n");
		abort();
	}
	/* Both files have been read (the key file is read again only on
	 * SIGHUP): nothing is left behind in /tmp, even after a crash. */
	unlink(jwks_path);
	unlink(config_path);
	/* Debug, so the verdict and disconnect log lines (log_quote of peer
	 * data) run too; run.sh sends the target's stderr to /dev/null. */
	log_set_level(LOG_DEBUG);
	return 0;
}

/* xorshift32: chunk lengths from the seed byte, reproducible per input. */
static uint32_t next_rand(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* What the agent wrote on this connection, for check_output. */
static uint8_t out_buf[1u << 20];
static size_t out_len;
static bool out_truncated;

/* Reads what the agent wrote. Returns true when it wrote something, sets
 * *eof when it closed its end. */
static bool drain_output(int fd, bool *eof)
{
	uint8_t buf[65536];
	bool got = false;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			got = true;
			if ((size_t)n <= sizeof(out_buf) - out_len) {
				memcpy(out_buf + out_len, buf, (size_t)n);
				out_len += (size_t)n;
			} else {
				out_truncated = true;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			*eof = true;
		return got;
	}
}

/* A string the agent hands to HAProxy: HAProxy may copy it into a header
 * or a log line, so no control character may be in it (conn.c
 * claim_is_safe, verify_render_exports). */
static void check_safe_string(struct spop_str s, size_t max)
{
	check(s.len <= max);
	for (size_t i = 0; i < s.len; i++)
		check(s.ptr[i] >= 0x20 && s.ptr[i] != 0x7f);
}

/* Every complete frame the agent sent is well formed, within the largest
 * frame size it may use, and of a type an agent sends; an ACK holds only
 * set-var/unset-var actions on txn whose string values are safe. (An
 * incomplete tail is normal: we stop reading when we close.) */
static void check_output(const struct config *cfg)
{
	size_t off = 0;
	unsigned n_frames = 0;

	while (off < out_len) {
		struct spop_frame f;
		struct spop_reader rd;
		long n = spop_frame_parse(out_buf + off, out_len - off, cfg->max_frame_size, &f);

		check(n >= 0);
		if (n == 0)
			break;
		check(f.flags == SPOP_FL_FIN);
		if (n_frames++ == 0)
			check(f.type == SPOP_FRM_AGENT_HELLO || f.type == SPOP_FRM_AGENT_DISCONNECT);
		else
			check(f.type == SPOP_FRM_ACK || f.type == SPOP_FRM_AGENT_DISCONNECT);
		if (f.type == SPOP_FRM_ACK) {
			spop_reader_init(&rd, f.payload, f.payload_len);
			while (!spop_reader_done(&rd)) {
				struct spop_str name;
				struct spop_value v;
				bool set;

				check(rd.end - rd.p >= 3);
				set = rd.p[0] == 1 && rd.p[1] == 3;
				check(set || (rd.p[0] == 2 && rd.p[1] == 2));
				check(rd.p[2] == SPOP_SCOPE_TXN);
				rd.p += 3;
				check(spop_read_str(&rd, &name) == 0);
				check_safe_string(name, 64);
				if (!set)
					continue;
				check(spop_read_value(&rd, &v) == 0);
				if (v.type == SPOP_DATA_STRING || v.type == SPOP_DATA_BINARY)
					check_safe_string(v.u.s, spop_str_eq(name, "message") ? 256 : cfg->max_claim_len);
			}
		}
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_worker *fw = &workers[0];
	struct worker *w;
	uint32_t seed = 0x9e3779b9u, max_chunk = (uint32_t)size;
	bool half_close = false, lazy_reader = false, eof = false;
	const uint8_t *p = data;
	size_t left = size;
	ev_tstamp end;
	int sv[2], turns, idle;

	if (size >= 2) {
		max_chunk = 1u << (data[0] & 0x0f);
		half_close = data[0] & 0x10;
		lazy_reader = data[0] & 0x20;
		fw = &workers[data[0] >> 7];
		seed ^= (uint32_t)data[1] * 0x01000193u;
		p += 2;
		left -= 2;
	}
	if (max_chunk == 0)
		max_chunk = 1;
	w = &fw->w;
	check(w->n_conns == 0);
	out_len = 0;
	out_truncated = false;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	conn_new(w, sv[0]);

	/* Write phase: one chunk, one loop turn. A full socket (the agent stopped
	 * reading: back-pressure or closing) gets a bounded number of turns. */
	for (turns = 0; left > 0 && !eof && turns < 4096; turns++) {
		size_t len = 1 + next_rand(&seed) % max_chunk;
		ssize_t n;

		if (len > left)
			len = left;
		n = send(sv[1], p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			left -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			break; /* the agent closed: EPIPE */
		}
		ev_run(w->loop, EVRUN_NOWAIT);
		if (!lazy_reader)
			drain_output(sv[1], &eof);
	}
	if (half_close)
		shutdown(sv[1], SHUT_WR);

	/* Settle: let the agent answer what it can, until it goes quiet. */
	for (turns = 0, idle = 0; turns < SETTLE_TURNS && idle < 4 && !eof; turns++) {
		ev_run(w->loop, EVRUN_NOWAIT);
		idle = drain_output(sv[1], &eof) ? 0 : idle + 1;
	}

	drain_output(sv[1], &eof);
	if (!out_truncated)
		check_output(&fw->cfg);

	/* Close our end; the agent must let go of the connection by itself. */
	close(sv[1]);
	end = ev_time() + CLOSE_BOUND_S;
	while (w->n_conns > 0) {
		ev_run(w->loop, EVRUN_NOWAIT);
		if (w->n_conns == 0)
			break;
		if (ev_time() > end) {
			fprintf(stderr, "fuzz_conn: connection still open %.1f s after the peer closed\n",
			        CLOSE_BOUND_S);
			check(0);
		}
		usleep(200);
	}
	return 0;
}
