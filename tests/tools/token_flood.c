/*
 * token_flood: sends COUNT NOTIFYs, each with a different valid HS256 token,
 * straight to a spoa-jwt over SPOP (pipelined), and prints the agent's
 * resident size every STEP tokens. For the memory bound of the benchmark
 * (tests/bench/memory.sh); never installed.
 *
 *   token_flood ADDR PORT SECRET_B64URL KID COUNT [PIPELINE] [AGENT_PID] [STEP] [MODE]
 *
 * MODE "distinct" (default): a new token per NOTIFY. MODE "latency": one
 * token for all (cache hits), one NOTIFY in flight, and the round-trip time
 * of each is recorded: prints p50/p99/max in microseconds at the end.
 *
 * Tokens are signed here with OpenSSL's HMAC, not with the agent's code.
 * Exit 1 if any token is refused (the memory figure would mean nothing).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jwt.h"
#include "spop.h"

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static long rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one whole frame into buf; returns its total size or -1. */
static long read_frame(int fd, uint8_t *buf, size_t room, size_t *have, struct spop_frame *f)
{
	for (;;) {
		long n = spop_frame_parse(buf, *have, 1u << 20, f);
		ssize_t r;

		if (n != 0)
			return n;
		r = recv(fd, buf + *have, room - *have, 0);
		if (r <= 0)
			return -1;
		*have += (size_t)r;
	}
}

static void consume(uint8_t *buf, size_t *have, long n)
{
	memmove(buf, buf + n, *have - (size_t)n);
	*have -= (size_t)n;
}

static size_t make_token(char *out, size_t room, const char *h64, const uint8_t *key, size_t key_len, long i,
                         long exp)
{
	char payload[128], p64[256], sig64[64], input[512];
	uint8_t sig[32];
	size_t sig_len = 0;
	int n = snprintf(payload, sizeof(payload), "{\"sub\":\"user-%ld\",\"exp\":%ld,\"jti\":\"%ld\"}", i,
	                 exp, i);

	b64url_encode((const uint8_t *)payload, (size_t)n, p64, sizeof(p64));
	n = snprintf(input, sizeof(input), "%s.%s", h64, p64);
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, (uint8_t *)input, (size_t)n, sig,
	               sizeof(sig), &sig_len))
		return 0;
	b64url_encode(sig, sig_len, sig64, sizeof(sig64));
	return (size_t)snprintf(out, room, "Bearer %s.%s", input, sig64);
}

int main(int argc, char **argv)
{
	static uint8_t in[1 << 20], out[1 << 20];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	long count, pipeline, pid, step, sent = 0, valid = 0, refused = 0;
	uint8_t key[128];
	char hdr[128], h64[256], tok[1024];
	struct spop_frame f;
	struct spop_buf b;
	size_t have = 0, start;
	long key_len, exp = (long)time(NULL) + 3600, n;
	int fd, latency_mode = argc > 9 && strcmp(argv[9], "latency") == 0;
	long *lat = NULL, t0 = 0;

	if (argc < 6) {
		fprintf(
		    stderr,
		    "usage: token_flood ADDR PORT SECRET_B64URL KID COUNT [PIPELINE] [AGENT_PID] [STEP]\n");
		return 2;
	}
	count = atol(argv[5]);
	pipeline = argc > 6 ? atol(argv[6]) : 20;
	pid = argc > 7 ? atol(argv[7]) : 0;
	step = argc > 8 ? atol(argv[8]) : 100000;
	key_len = b64url_decode(argv[3], strlen(argv[3]), key, sizeof(key));
	if (key_len <= 0 || pipeline < 1 || pipeline > 200 || step < 1 || count < 1)
		return 2;
	if (latency_mode) {
		pipeline = 1;
		lat = calloc((size_t)count, sizeof(*lat));
		if (!lat)
			return 1;
	}
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", argv[4]);
	b64url_encode((const uint8_t *)hdr, strlen(hdr), h64, sizeof(h64));
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 1;
	}
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
	spop_put_kv_str(&b, "supported-versions", "2.0", 3);
	spop_put_kv_uint(&b, "max-frame-size", SPOP_DEFAULT_FRAME_SIZE);
	spop_put_kv_str(&b, "capabilities", "pipelining", 10);
	if (!spop_frame_end(&b, start, SPOP_DEFAULT_FRAME_SIZE) || send_all(fd, out, b.len) < 0 ||
	    (n = read_frame(fd, in, sizeof(in), &have, &f)) <= 0 || f.type != SPOP_FRM_AGENT_HELLO) {
		fprintf(stderr, "token_flood: no AGENT-HELLO\n");
		return 1;
	}
	consume(in, &have, n);
	printf("tokens=0 rss_kb=%ld\n", pid ? rss_kb(pid) : -1L);
	while (sent < count) {
		long batch = count - sent < pipeline ? count - sent : pipeline, k;

		spop_buf_init(&b, out, sizeof(out));
		for (k = 0; k < batch; k++) {
			size_t tl = make_token(tok, sizeof(tok), h64, key, (size_t)key_len,
			                       latency_mode ? 0 : sent + k, exp);

			start = spop_frame_begin(&b, SPOP_FRM_NOTIFY, (uint64_t)(sent + k + 1), 1);
			spop_put_str(&b, "check-jwt", 9);
			if (b.len < b.size)
				b.data[b.len++] = 1;
			spop_put_kv_str(&b, "authorization", tok, tl);
			if (!spop_frame_end(&b, start, SPOP_DEFAULT_FRAME_SIZE))
				return 1;
		}
		t0 = now_us();
		if (send_all(fd, out, b.len) < 0)
			return 1;
		for (k = 0; k < batch; k++) {
			n = read_frame(fd, in, sizeof(in), &have, &f);
			if (n <= 0 || f.type != SPOP_FRM_ACK) {
				fprintf(stderr, "token_flood: connection lost after %ld tokens\n", sent + k);
				return 1;
			}
			/* first action: set-var txn valid <bool>: 01 03 02 05 "valid" <type byte> */
			if (f.payload_len >= 10 && f.payload[9] == 0x11)
				valid++;
			else
				refused++;
			consume(in, &have, n);
			if (lat)
				lat[sent + k] = now_us() - t0;
		}
		sent += batch;
		if (sent % step == 0 || sent == count)
			printf("tokens=%ld rss_kb=%ld valid=%ld refused=%ld\n", sent, pid ? rss_kb(pid) : -1L,
			       valid, refused);
		fflush(stdout);
	}
	close(fd);
	if (lat) {
		qsort(lat, (size_t)count, sizeof(*lat), cmp_long);
		printf("latency_us p50=%ld p99=%ld p999=%ld max=%ld n=%ld\n", lat[count / 2],
		       lat[count * 99 / 100], lat[count * 999 / 1000], lat[count - 1], count);
		free(lat);
	}
	return refused ? 1 : 0;
}
