/*
 * verify_bench: spoa-jwt's verification path alone, one thread, for the
 * benchmark (tests/bench/run.sh, case 6). Never installed.
 *
 *     verify_bench [--seconds S | --ops N] KEYDIR [ALG ...]   (default ALGs: RS256 ES256 EdDSA)
 *
 * --ops N runs exactly N operations per mode instead (for callgrind: instructions per op are
 * then the inclusive counts divided by N).
 *
 * KEYDIR holds jwks-ALG.json and token-ALG (tests/bench/mkbench.py). For each
 * ALG, timed on this thread's CPU clock (user + system, like `openssl speed`,
 * which counts user CPU time), each for about S seconds (default 2):
 *   full  = jwt_parse + jwt_verify_jwks + jwt_free   (what a cache miss costs)
 *   parse = jwt_parse + jwt_free                     (no signature)
 *   raw   = jws_verify_raw on the already decoded signature (what jwt_verify_jwks calls)
 *   evp   = what `openssl speed` times, in this process: EVP_PKEY_verify on a precomputed
 *           SHA-256 digest with one context set up once (RSA PKCS#1, ECDSA with the DER
 *           signature), EVP_DigestVerify on a reused context (Ed25519). The gap raw - evp is
 *           our per-call overhead (context set-up, hashing, r||s -> DER).
 * and prints one line per ALG:
 *   alg=RS256 full_per_s=... full_us=... parse_us=... raw_per_s=... raw_us=... evp_per_s=... evp_us=...
 * Exit 1 if a token does not verify (the numbers would mean nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "jwks.h"
#include "jwt.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *slurp(const char *dir, const char *pre, const char *alg, const char *suf, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s%s%s", dir, pre, alg, suf);
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

enum mode { FULL, PARSE, RAW, EVP };

/* The `openssl speed`-like set-up for mode EVP. */
static struct {
	EVP_PKEY_CTX *pctx;             /* RSA, ECDSA */
	EVP_MD_CTX *mctx;               /* Ed25519 */
	uint8_t dgst[32];
	uint8_t der[80];                /* ECDSA signature as DER */
	const uint8_t *sig;
	size_t sig_len;
	const uint8_t *msg;
	size_t msg_len;
} evp;

static int evp_setup(const struct jwt *pre, const struct jwk *key)
{
	memset(&evp, 0, sizeof(evp));
	evp.msg = (const uint8_t *)pre->signing_input;
	evp.msg_len = pre->signing_input_len;
	evp.sig = pre->sig;
	evp.sig_len = pre->sig_len;
	if (pre->alg == JWS_EDDSA) {
		evp.mctx = EVP_MD_CTX_new();
		return evp.mctx && EVP_DigestVerifyInit(evp.mctx, NULL, NULL, NULL, key->pkey) == 1 ? 0 : -1;
	}
	SHA256(evp.msg, evp.msg_len, evp.dgst);
	evp.pctx = EVP_PKEY_CTX_new(key->pkey, NULL);
	if (!evp.pctx || EVP_PKEY_verify_init(evp.pctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(evp.pctx, EVP_sha256()) != 1)
		return -1;
	if (pre->alg == JWS_RS256)
		return EVP_PKEY_CTX_set_rsa_padding(evp.pctx, RSA_PKCS1_PADDING) == 1 ? 0 : -1;
	if (pre->alg == JWS_ES256 && pre->sig_len == 64) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(pre->sig, 32, NULL), *s = BN_bin2bn(pre->sig + 32, 32, NULL);
		uint8_t *p = evp.der;
		int n;

		if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
			return -1;
		n = i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		if (n <= 0)
			return -1;
		evp.sig = evp.der;
		evp.sig_len = (size_t)n;
		return 0;
	}
	return -1;
}

static void evp_teardown(void)
{
	EVP_PKEY_CTX_free(evp.pctx);
	EVP_MD_CTX_free(evp.mctx);
	memset(&evp, 0, sizeof(evp));
}

/* One unit of work; returns 0 when it verified (or parsed) as expected. */
static int one(enum mode m, const char *tok, size_t tok_len, const struct jwks *set, const struct jwt *pre)
{
	struct jwt t;
	int rc = 0;

	if (m == EVP) {
		if (evp.mctx)
			return EVP_DigestVerify(evp.mctx, evp.sig, evp.sig_len, evp.msg, evp.msg_len) == 1 ? 0 : -1;
		return EVP_PKEY_verify(evp.pctx, evp.sig, evp.sig_len, evp.dgst, sizeof(evp.dgst)) == 1 ? 0 : -1;
	}
	if (m == RAW)
		return jws_verify_raw(pre->alg, &set->keys[0], (const uint8_t *)pre->signing_input,
		                      pre->signing_input_len, pre->sig, pre->sig_len) == 1 ? 0 : -1;
	if (jwt_parse(tok, tok_len, &t) != JWT_OK)
		return -1;
	if (m == FULL && jwt_verify_jwks(&t, set, NULL) != JWT_OK)
		rc = -1;
	jwt_free(&t);
	return rc;
}

static unsigned long fixed_ops;     /* --ops: exactly this many per mode */

/* Runs <m> in batches until <secs> of CPU time (or fixed_ops operations);
 * returns CPU seconds per op. */
static double measure(enum mode m, double secs, const char *tok, size_t tok_len, const struct jwks *set,
                      const struct jwt *pre, unsigned long *ops_out)
{
	unsigned long ops = 0, batch = 16, i;
	double t0, el = 0;

	for (i = 0; i < 50; i++) /* warm-up: caches, lazy OpenSSL init */
		if (one(m, tok, tok_len, set, pre) < 0)
			return -1;
	t0 = cpu_now();
	if (fixed_ops) {
		for (i = 0; i < fixed_ops; i++)
			if (one(m, tok, tok_len, set, pre) < 0)
				return -1;
		*ops_out = fixed_ops;
		return (cpu_now() - t0) / (double)fixed_ops;
	}
	while (el < secs) {
		for (i = 0; i < batch; i++)
			if (one(m, tok, tok_len, set, pre) < 0)
				return -1;
		ops += batch;
		el = cpu_now() - t0;
		if (batch < 4096 && el < secs / 20)
			batch *= 2;
	}
	*ops_out = ops;
	return el / (double)ops;
}

static int bench_alg(const char *dir, const char *alg, double secs)
{
	char err[256] = "";
	size_t jlen, tlen;
	char *jdoc = slurp(dir, "jwks-", alg, ".json", &jlen);
	char *tok = slurp(dir, "token-", alg, "", &tlen);
	struct jwks *set = NULL;
	struct jwt pre;
	double full, parse, raw, ev = -1;
	unsigned long nf = 0, np = 0, nr = 0, ne = 0;
	int rc = 1;

	if (!jdoc || !tok)
		goto out;
	if (jwks_parse(jdoc, jlen, &set, err, sizeof(err)) != JWT_OK || set->n_keys < 1) {
		fprintf(stderr, "verify_bench: %s: JWKS does not parse: %s\n", alg, err);
		goto out;
	}
	if (jwt_parse(tok, tlen, &pre) != JWT_OK) {
		fprintf(stderr, "verify_bench: %s: token does not parse\n", alg);
		goto out;
	}
	full = measure(FULL, secs, tok, tlen, set, &pre, &nf);
	parse = measure(PARSE, secs / 2, tok, tlen, set, &pre, &np);
	raw = measure(RAW, secs, tok, tlen, set, &pre, &nr);
	if (evp_setup(&pre, &set->keys[0]) == 0)
		ev = measure(EVP, secs, tok, tlen, set, &pre, &ne);
	else
		fprintf(stderr, "verify_bench: %s: no EVP set-up for this alg\n", alg);
	evp_teardown();
	jwt_free(&pre);
	if (full < 0 || parse < 0 || raw < 0) {
		fprintf(stderr, "verify_bench: %s: the token does not verify\n", alg);
		goto out;
	}
	printf("alg=%s full_per_s=%.0f full_us=%.2f parse_us=%.2f raw_per_s=%.0f raw_us=%.2f", alg, 1.0 / full,
	       full * 1e6, parse * 1e6, 1.0 / raw, raw * 1e6);
	if (ev > 0)
		printf(" evp_per_s=%.0f evp_us=%.2f", 1.0 / ev, ev * 1e6);
	printf(" ops=%lu/%lu/%lu/%lu\n", nf, np, nr, ne);
	fflush(stdout);
	rc = 0;
out:
	if (set)
		jwks_unref(set);
	free(jdoc);
	free(tok);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const def[] = {"RS256", "ES256", "EdDSA"};
	double secs = 2.0;
	int i = 1, rc = 0;

	if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
		secs = atof(argv[i + 1]);
		i += 2;
	} else if (i + 1 < argc && strcmp(argv[i], "--ops") == 0) {
		fixed_ops = strtoul(argv[i + 1], NULL, 10);
		i += 2;
	}
	if (i >= argc || secs <= 0) {
		fprintf(stderr, "usage: %s [--seconds S | --ops N] KEYDIR [ALG ...]\n", argv[0]);
		return 2;
	}
	if (i + 1 == argc) {
		for (size_t k = 0; k < sizeof(def) / sizeof(def[0]); k++)
			rc |= bench_alg(argv[i], def[k], secs);
	} else {
		for (int k = i + 1; k < argc; k++)
			rc |= bench_alg(argv[i], argv[k], secs);
	}
	return rc;
}
