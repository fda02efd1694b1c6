/*
 * Writes the seed corpora of fuzz_conn (tests/fuzz/corpus/conn) and
 * fuzz_config (tests/fuzz/corpus/config). Frames are built with the agent's
 * own encoder (spop/spop.c), so the seeds follow the codec; the one valid
 * token is an HS256 JWT signed here with the "hs" key of
 * tests/vectors/gen_tokens.h (the key fuzz_conn's "local" provider loads).
 *
 *   cc -std=gnu11 -Ispop tests/fuzz/gen_seeds.c spop/spop.c -lcrypto -o /tmp/gen_seeds
 *   /tmp/gen_seeds tests/fuzz/corpus
 *
 * Existing files of the same name are overwritten; others (crash-*
 * regression inputs) are left alone. The output is deterministic.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "spop.h"

#define BUF_SIZE 65536

static const char *out_dir;

/* fuzz_conn's first two bytes: chunking and worker (see fuzz_conn.c). */
#define H_WHOLE 0x0f    /* chunks up to 32 KiB: usually one write */
#define H_BYTES 0x00    /* one byte per write */
#define H_SMALL 0x04    /* 1..16 bytes per write */
#define H_HALF 0x10     /* shutdown(SHUT_WR) after the last chunk */
#define H_LAZY 0x20     /* never read the answers */
#define H_TIGHT 0x80    /* worker 1: flags, 256-byte frames, no prefix */

struct seed {
	uint8_t data[BUF_SIZE];
	struct spop_buf b;
};

static void seed_begin(struct seed *s, uint8_t h0, uint8_t h1)
{
	spop_buf_init(&s->b, s->data, sizeof(s->data));
	s->data[0] = h0;
	s->data[1] = h1;
	s->b.len = 2;
}

static void write_file(const char *sub, const char *name, const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void seed_write(struct seed *s, const char *name)
{
	if (s->b.overflow) {
		fprintf(stderr, "seed %s overflowed\n", name);
		exit(1);
	}
	write_file("conn", name, s->data, s->b.len);
}

static void put_byte(struct spop_buf *b, uint8_t v)
{
	if (b->len < b->size)
		b->data[b->len++] = v;
	else
		b->overflow = true;
}

/* HAProxy 3.x's HELLO (notes §2.6). */
static void hello(struct spop_buf *b, bool healthcheck, uint64_t max_frame)
{
	size_t start = spop_frame_begin(b, SPOP_FRM_HAPROXY_HELLO, 0, 0);

	spop_put_kv_str(b, "supported-versions", "2.0", 3);
	spop_put_kv_uint(b, "max-frame-size", max_frame);
	spop_put_kv_str(b, "capabilities", healthcheck ? "" : "pipelining", healthcheck ? 0 : 10);
	if (healthcheck)
		spop_put_kv_bool(b, "healthcheck", true);
	else
		spop_put_kv_str(b, "engine-id", "d7c1eb77-5d0c-4457-9604-11e31be7f510", 36);
	spop_frame_end(b, start, 1u << 20);
}

struct arg {
	const char *name;
	const char *val;        /* NULL: a NULL sample (no such header) */
};

/* NOTIFY with message check-jwt and <n> arguments. */
static void notify(struct spop_buf *b, uint64_t sid, uint64_t fid, const struct arg *args, size_t n)
{
	size_t start = spop_frame_begin(b, SPOP_FRM_NOTIFY, sid, fid);

	spop_put_str(b, "check-jwt", 9);
	put_byte(b, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		if (args[i].val) {
			spop_put_kv_str(b, args[i].name, args[i].val, strlen(args[i].val));
		} else {
			spop_put_str(b, args[i].name, strlen(args[i].name));
			put_byte(b, SPOP_DATA_NULL);
		}
	}
	spop_frame_end(b, start, 1u << 20);
}

static void notify1(struct spop_buf *b, uint64_t sid, const char *provider, const char *name, const char *val)
{
	struct arg a[2] = {{"provider", provider}, {name, val}};

	notify(b, sid, 1, a, 2);
}

static void haproxy_disconnect(struct spop_buf *b)
{
	size_t start = spop_frame_begin(b, SPOP_FRM_HAPROXY_DISCONNECT, 0, 0);

	spop_put_kv_uint(b, "status-code", 2);
	spop_put_kv_str(b, "message", "a timeout occurred", 18);
	spop_frame_end(b, start, 1u << 20);
}

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[n++] = tab[v >> 18 & 63];
		out[n++] = tab[v >> 12 & 63];
		out[n++] = tab[v >> 6 & 63];
		out[n++] = tab[v & 63];
	}
	if (len - i == 1) {
		out[n++] = tab[in[i] >> 2];
		out[n++] = tab[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[n++] = tab[in[i] >> 2];
		out[n++] = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[n++] = tab[(in[i + 1] & 15) << 2];
	}
	out[n] = '\0';
	return n;
}

/* The 64 bytes 00..3f: gen_hs_secret_b64 of tests/vectors/gen_tokens.h. */
static void hs256_token(const char *header, const char *payload, char *out)
{
	uint8_t key[64], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	size_t n;

	for (int i = 0; i < 64; i++)
		key[i] = (uint8_t)i;
	n = b64url((const uint8_t *)header, strlen(header), out);
	out[n++] = '.';
	n += b64url((const uint8_t *)payload, strlen(payload), out + n);
	if (!HMAC(EVP_sha256(), key, sizeof(key), (const uint8_t *)out, n, mac, &mac_len)) {
		fprintf(stderr, "HMAC failed\n");
		exit(1);
	}
	out[n++] = '.';
	b64url(mac, mac_len, out + n);
}

/* {"alg":"RS256","kid":"k1"}.{"sub":"a","exp":4102444800}.c2ln: reaches the
 * key step and parks on the remote provider's fetch (test_conn.c). */
#define JWT_SHAPED "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln"

static char tok_valid[1024], tok_bad_aud[1024], tok_no_scope[1024], tok_crlf_sub[1024];
static char bearer_valid[1100];

static void make_tokens(void)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"kid\":\"hs\",\"typ\":\"JWT\"}";

	hs256_token(hdr,
	            "{\"iss\":\"https://issuer.example\",\"sub\":\"user-1\",\"aud\":[\"api\",\"other\"],"
	            "\"iat\":1700000000,\"exp\":4102444800,\"scope\":\"read llm\",\"org\":{\"tier\":\"gold\"},"
	            "\"n\":42}",
	            tok_valid);
	hs256_token(hdr,
	            "{\"iss\":\"https://issuer.example\",\"sub\":\"user-1\",\"aud\":\"elsewhere\","
	            "\"exp\":4102444800,\"scope\":\"llm\"}",
	            tok_bad_aud);
	hs256_token(hdr, "{\"iss\":\"https://issuer.example\",\"sub\":\"user-2\",\"aud\":\"api\",\"exp\":4102444800}",
	            tok_no_scope);
	hs256_token(hdr,
	            "{\"iss\":\"https://issuer.example\",\"sub\":\"a\\r\\nx-injected: 1\",\"aud\":\"api\","
	            "\"exp\":4102444800,\"scope\":\"llm\",\"org\":{\"tier\":\"gold\\u007f\"}}",
	            tok_crlf_sub);
	snprintf(bearer_valid, sizeof(bearer_valid), "Bearer %s", tok_valid);
}

static void conn_seeds(void)
{
	static const uint8_t heads[][2] = {{H_WHOLE, 0}, {H_BYTES, 0}, {H_SMALL, 7}, {H_WHOLE | H_HALF, 1},
	                                   {H_SMALL | H_LAZY, 3}};
	static const char *const head_names[] = {"whole", "bytes", "small", "halfclose", "lazy"};
	static struct seed s;
	char bearer[1100], name[64];

	/* The reference requests, pipelined, then HAProxy says goodbye. */
	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		seed_begin(&s, heads[h][0], heads[h][1]);
		hello(&s.b, false, 16380);
		notify1(&s.b, 1, NULL, "authorization", NULL);
		notify1(&s.b, 2, NULL, "authorization", "Bearer wrong-jwt-token");
		notify1(&s.b, 3, "remote", "authorization", "Bearer " JWT_SHAPED);
		notify1(&s.b, 4, "local", "authorization", bearer_valid);
		notify1(&s.b, 5, "local", "authorization", bearer_valid); /* token cache hit */
		haproxy_disconnect(&s.b);
		snprintf(name, sizeof(name), "reference-%s", head_names[h]);
		seed_write(&s, name);
	}

	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, true, 16380);
	seed_write(&s, "healthcheck");

	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	haproxy_disconnect(&s.b);
	seed_write(&s, "hello-disconnect");

	/* Every token location and provider selection of the "local" provider. */
	seed_begin(&s, H_SMALL, 11);
	hello(&s.b, false, 65536);
	notify1(&s.b, 1, "local", "param.access_token", tok_valid);
	notify1(&s.b, 2, "local", "cookie.jwt", tok_valid);
	notify1(&s.b, 3, NULL, "authorization", bearer_valid); /* provider chosen by iss */
	notify1(&s.b, 4, "remote,local", "authorization", bearer_valid);
	notify1(&s.b, 5, "nosuch", "authorization", bearer_valid);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok_bad_aud);
	notify1(&s.b, 6, "local", "authorization", bearer);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok_no_scope);
	notify1(&s.b, 7, "local", "authorization", bearer);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok_crlf_sub);
	notify1(&s.b, 8, "local", "authorization", bearer);
	notify1(&s.b, 9, "local", "authorization", "Basic dXNlcjpwYXNz");
	{
		struct arg a[] = {{"provider", "local"}, {"authorization", "Bearer x.y.z"}, {"cookie.jwt", tok_valid}};

		notify(&s.b, 10, 1, a, 3);
	}
	seed_write(&s, "locations");

	/* Worker 1: 256-byte frames, bare token in x-token, issuer "iss". */
	seed_begin(&s, H_TIGHT | H_SMALL, 5);
	hello(&s.b, false, 256);
	notify1(&s.b, 1, NULL, "x-token", JWT_SHAPED);
	notify1(&s.b, 2, NULL, "x-token", "  wrong-jwt-token  ");
	notify1(&s.b, 3, NULL, "x-token", NULL);
	notify1(&s.b, 4, NULL, "x-token", tok_valid);
	seed_write(&s, "tight");

	/* Protocol errors, one connection each. */
	seed_begin(&s, H_WHOLE, 0);
	notify1(&s.b, 1, NULL, "authorization", NULL);
	seed_write(&s, "err-notify-before-hello");

	seed_begin(&s, H_WHOLE, 0);
	memcpy(s.data + 2, "\xff\xff\xff\xff", 4);
	s.b.len = 6;
	seed_write(&s, "err-4gib-frame");

	seed_begin(&s, H_WHOLE, 0);
	{
		size_t start = spop_frame_begin(&s.b, SPOP_FRM_HAPROXY_HELLO, 0, 0);

		spop_put_kv_str(&s.b, "supported-versions", "1.0", 3);
		spop_put_kv_uint(&s.b, "max-frame-size", 16380);
		spop_put_kv_str(&s.b, "capabilities", "", 0);
		spop_frame_end(&s.b, start, 16380);
	}
	seed_write(&s, "err-hello-without-2.0");

	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	{
		size_t at = s.b.len;

		notify1(&s.b, 1, NULL, "authorization", NULL);
		s.data[at + 8] = 0; /* clear FIN: a fragment */
	}
	seed_write(&s, "err-fragment");

	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	{
		size_t start = spop_frame_begin(&s.b, 42, 0, 0); /* unknown type: skipped */

		spop_put_str(&s.b, "x", 1);
		spop_frame_end(&s.b, start, 16380);
	}
	notify1(&s.b, 1, NULL, "authorization", "Bearer wrong-jwt-token");
	seed_write(&s, "unknown-frame-type");

	/* Regression (fuzz_conn, first run): a NOTIFY without a "provider"
	 * argument made verify.c's candidates() compute NULL + 0 (UBSan). */
	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	{
		struct arg a[] = {{"authorization", "Bearer x"}};

		notify(&s.b, 1, 1, a, 1);
	}
	seed_write(&s, "crash-verify-null-provider");

	/* Regression (fuzz_conn): a valid token none of whose exported claims
	 * is safe to export (CR/LF in sub, DEL in org.tier) left no exports,
	 * and conn.c's put_exports computed NULL + 0 (UBSan). */
	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok_crlf_sub);
	notify1(&s.b, 1, "local", "authorization", bearer);
	seed_write(&s, "crash-conn-exports-null");

	/* A NOTIFY without check-jwt fails closed. */
	seed_begin(&s, H_WHOLE, 0);
	hello(&s.b, false, 16380);
	{
		size_t start = spop_frame_begin(&s.b, SPOP_FRM_NOTIFY, 1, 1);

		spop_put_str(&s.b, "other-msg", 9);
		put_byte(&s.b, 1);
		spop_put_kv_str(&s.b, "authorization", bearer_valid, strlen(bearer_valid));
		spop_frame_end(&s.b, start, 16380);
	}
	seed_write(&s, "notify-other-message");
}

/* Literals only: the length comes from sizeof, so NULs inside count. */
#define config_seed(name, lit) write_file("config", name, lit, sizeof(lit) - 1)

static void config_seeds(void)
{
	config_seed("minimal", "--jwks-uri\nhttp://127.0.0.1:1/jwks");
	config_seed("reference", "--listen\n127.0.0.1:12345\n--jwks-uri\nhttps://idp.example/auth/v1\n"
	                         "--cache-time\n300\n--fetch-timeout\n1000\n--max-stale\n600\n"
	                         "--refetch-interval\n30\n--header\nAuthorization\n--prefix\nBearer \n"
	                         "--clock-skew\n60\n--issuer\nhttps://issuer.example\n--audience\napi\n"
	                         "--audience\nhttps://other/\n--max-frame-size\n16380\n--max-token-size\n8192\n"
	                         "--max-claim-size\n256\n--cache-size\n10000\n--cache-bytes\n16777216\n"
	                         "--threads\n2\n--log-level\ndebug");
	config_seed("equals-forms", "--jwks-uri=http://[::1]:8080/jwks\0--listen=[::1]:9000\0--cache-time=0.5\0"
	                            "--fetch-timeout=500\0--prefix=\0--header=X-Token");
	config_seed("jwks-file", "--jwks-file\n/nonexistent/jwks.json\n--require-expiration\n"
	                         "--max-lifetime\n3600\n--claim-to-var\nsub=sub\n--claim-to-var\norg.tier=tier\n"
	                         "--require-claim\nscope=llm");
	config_seed("oidc", "--oidc-discovery\n--issuer\nhttps://issuer.example");
	config_seed("check-only", "-c\n--jwks-uri\nhttp://a/");
	config_seed("help", "--help");
	config_seed("version", "--version");
	config_seed("err-both-sources", "--jwks-uri\nhttp://a/\n--jwks-file\n/x");
	config_seed("err-bad-url", "--jwks-uri\nftp://a/\n--listen\nlocalhost");
	config_seed("err-timeout-over-cache", "--jwks-uri\nhttp://a/\n--cache-time\n1\n--fetch-timeout\n2000");
	config_seed("err-short-bundle", "-xc\n--jwks-uri\nhttp://a/");
	config_seed("file-reference",
	            "{\"listen\": \"127.0.0.1:12345\", \"threads\": 2, \"log_level\": \"info\",\n"
	            " \"max_frame_size\": 16380, \"max_token_size\": 8192, \"max_claim_size\": 256,\n"
	            " \"jwt_cache_size\": 10000,\n"
	            " \"providers\": {\n"
	            "  \"default\": {\"issuer\": \"https://issuer.example\", \"audiences\": [\"api\", \"https://x/\"],\n"
	            "   \"remote_jwks\": {\"http_uri\": {\"uri\": \"https://idp.example/jwks\", \"timeout\": \"1s\",\n"
	            "     \"cluster\": \"idp\"}, \"cache_duration\": \"300s\", \"max_stale\": \"600s\",\n"
	            "     \"refetch_interval\": 30},\n"
	            "   \"from_headers\": [{\"name\": \"Authorization\", \"value_prefix\": \"Bearer \"},\n"
	            "     {\"name\": \"x-jwt\"}],\n"
	            "   \"from_params\": [\"access_token\"], \"from_cookies\": [\"jwt\"],\n"
	            "   \"clock_skew_seconds\": 60, \"require_expiration\": true, \"max_lifetime\": \"86400s\",\n"
	            "   \"claim_to_headers\": [{\"header_name\": \"sub\", \"claim_name\": \"sub\"},\n"
	            "     {\"header_name\": \"tier\", \"claim_name\": \"org.tier\"}],\n"
	            "   \"required_claims\": [{\"name\": \"scope\", \"value\": \"llm\"}]},\n"
	            "  \"files\": {\"local_jwks\": {\"filename\": \"/etc/spoa-jwt/jwks.json\"}},\n"
	            "  \"oidc\": {\"issuer\": \"https://login.example\", \"oidc_discovery\": true,\n"
	            "   \"forward\": false}}}\n");
	config_seed("file-minimal", "{\"providers\": {\"p\": {\"remote_jwks\": {\"http_uri\": {\"uri\": \"http://a/\"}}}}}");
	config_seed("file-err-forward",
	            "{\"providers\": {\"p\": {\"local_jwks\": {\"filename\": \"x\"}, \"forward\": true}}}");
	config_seed("file-err-duplicate",
	            "{\"providers\": {\"p\": {\"local_jwks\": {\"filename\": \"x\"}}, \"p\": {}}}");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	make_tokens();
	conn_seeds();
	config_seeds();
	return 0;
}
