#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "jwks.h"
#include "jwt.h"
#include "spop.h"
#include "status.h"

/* ---- key files ----
 * A private key file is PEM (PKCS#8) preceded by "kid:" and "alg:" lines,
 * which OpenSSL skips, so `openssl pkey -in FILE` still reads it. HS keys
 * have a "secret:" line (base64url) instead of PEM. */

struct keyfile {
	char kid[256];
	enum jws_alg alg;
	EVP_PKEY *pkey;
	uint8_t secret[64];
	size_t secret_len;
};

static int b64url_field(json_t *jwk, const char *name, const uint8_t *data, size_t len)
{
	char buf[2048];

	if (b64url_encode(data, len, buf, sizeof(buf)) < 0)
		return -1;
	return json_object_set_new(jwk, name, json_string(buf));
}

static int bn_field(json_t *jwk, const char *name, EVP_PKEY *pkey, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n, rc = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	if (n > 0 && (size_t)n <= sizeof(buf) && BN_bn2bin(bn, buf) == n)
		rc = b64url_field(jwk, name, buf, (size_t)n);
	BN_free(bn);
	return rc;
}

/* EC coordinates are written at their full width (RFC 7518 §6.2.1.2). */
static int ec_coord(json_t *jwk, const char *name, EVP_PKEY *pkey, const char *param, int width)
{
	BIGNUM *bn = NULL;
	uint8_t buf[66];
	int rc = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		return -1;
	if (width <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, width) == width)
		rc = b64url_field(jwk, name, buf, (size_t)width);
	BN_free(bn);
	return rc;
}

static json_t *public_jwk(const struct keyfile *k)
{
	json_t *jwk = json_object();
	const char *alg = jws_alg_name(k->alg);
	int rc = 0;

	if (!jwk)
		return NULL;
	rc |= json_object_set_new(jwk, "kid", json_string(k->kid));
	rc |= json_object_set_new(jwk, "alg", json_string(alg));
	rc |= json_object_set_new(jwk, "use", json_string("sig"));
	switch (k->alg) {
	case JWS_RS256:
		rc |= json_object_set_new(jwk, "kty", json_string("RSA"));
		rc |= bn_field(jwk, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N);
		rc |= bn_field(jwk, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E);
		break;
	case JWS_ES256:
		rc |= json_object_set_new(jwk, "kty", json_string("EC"));
		rc |= json_object_set_new(jwk, "crv", json_string("P-256"));
		rc |= ec_coord(jwk, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		rc |= ec_coord(jwk, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		break;
	case JWS_EDDSA: {
		uint8_t pub[32];
		size_t n = sizeof(pub);

		rc |= json_object_set_new(jwk, "kty", json_string("OKP"));
		rc |= json_object_set_new(jwk, "crv", json_string("Ed25519"));
		if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &n) != 1 || n != 32)
			rc = -1;
		else
			rc |= b64url_field(jwk, "x", pub, n);
		break;
	}
	case JWS_HS256:
		/* Symmetric: the "public" set holds the secret itself. */
		rc |= json_object_set_new(jwk, "kty", json_string("oct"));
		rc |= b64url_field(jwk, "k", k->secret, k->secret_len);
		break;
	default:
		rc = -1;
	}
	if (rc) {
		json_decref(jwk);
		return NULL;
	}
	return jwk;
}

static int write_keyfile(const char *path, const struct keyfile *k)
{
	FILE *f;
	int ok = 0;
	char secret[128];

	umask(077);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "kid: %s\nalg: %s\n", k->kid, jws_alg_name(k->alg));
	if (k->pkey)
		ok = PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) == 1;
	else
		ok = b64url_encode(k->secret, k->secret_len, secret, sizeof(secret)) >= 0 &&
		     fprintf(f, "secret: %s\n", secret) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Reads the kid/alg/secret header lines, then the PEM key if any. */
static int read_keyfile(const char *path, struct keyfile *k)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	long pem_at = -1;

	memset(k, 0, sizeof(*k));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "kid: ", 5) == 0 && strlen(line + 5) < sizeof(k->kid))
			memcpy(k->kid, line + 5, strlen(line + 5) + 1);
		else if (strncmp(line, "alg: ", 5) == 0)
			k->alg = jws_alg_from_name(line + 5);
		else if (strncmp(line, "secret: ", 8) == 0) {
			long n = b64url_decode(line + 8, strlen(line + 8), k->secret, sizeof(k->secret));

			k->secret_len = n > 0 ? (size_t)n : 0;
		} else if (strncmp(line, "-----BEGIN", 10) == 0) {
			pem_at = 0;
			break;
		}
	}
	if (pem_at == 0) {
		rewind(f);
		k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (k->alg == JWS_ALG_NONE || (!k->pkey && k->secret_len == 0))
		return -1;
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {{"alg", required_argument, NULL, 'a'},
	                                     {"kid", required_argument, NULL, 'k'},
	                                     {"out", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	const char *alg = NULL, *kid = NULL, *out = NULL;
	char path[4096];
	struct keyfile k;
	json_t *set = NULL, *jwk;
	int opt, status = 1;

	memset(&k, 0, sizeof(k));
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'a')
			alg = optarg;
		else if (opt == 'k')
			kid = optarg;
		else if (opt == 'o')
			out = optarg;
		else
			return 2;
	}
	if (!alg || !kid || strlen(kid) >= sizeof(k.kid)) {
		fprintf(stderr,
		        "usage: spoa-jwt keygen --alg RS256|ES256|EdDSA|HS256 --kid KID [--out PREFIX]\n");
		return 2;
	}
	snprintf(k.kid, sizeof(k.kid), "%s", kid);
	k.alg = jws_alg_from_name(alg);
	switch (k.alg) {
	case JWS_RS256:
		k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case JWS_ES256:
		k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JWS_EDDSA:
		k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case JWS_HS256:
		k.secret_len = 32;
		if (RAND_bytes(k.secret, 32) != 1)
			k.secret_len = 0;
		break;
	default:
		fprintf(stderr, "spoa-jwt keygen: --alg: expected RS256, ES256, EdDSA or HS256\n");
		return 2;
	}
	if (!k.pkey && !k.secret_len) {
		fprintf(stderr, "spoa-jwt keygen: key generation failed\n");
		goto out;
	}
	if (!out)
		out = kid;
	snprintf(path, sizeof(path), "%s.key", out);
	if (write_keyfile(path, &k) < 0) {
		fprintf(stderr, "spoa-jwt keygen: cannot write %s: %s\n", path, strerror(errno));
		goto out;
	}
	set = json_object();
	jwk = public_jwk(&k);
	if (!set || !jwk || json_object_set_new(set, "keys", json_pack("[o]", jwk)) != 0) {
		fprintf(stderr, "spoa-jwt keygen: cannot build the JWKS\n");
		goto out;
	}
	snprintf(path, sizeof(path), "%s.jwks.json", out);
	if (json_dump_file(set, path, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "spoa-jwt keygen: cannot write %s\n", path);
		goto out;
	}
	printf("%s.key (private) and %s.jwks.json (public key set) written\n", out, out);
	status = 0;
out:
	json_decref(set);
	EVP_PKEY_free(k.pkey);
	OPENSSL_cleanse(k.secret, sizeof(k.secret));
	return status;
}

/* JOSE wants ECDSA signatures as r||s of fixed width, OpenSSL gives DER. */
static int der_to_jose(const uint8_t *der, size_t der_len, uint8_t *out, int width)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int rc = -1;

	if (!sig)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, width) == width && BN_bn2binpad(s, out + width, width) == width)
		rc = 2 * width;
	ECDSA_SIG_free(sig);
	return rc;
}

static long sign_input(const struct keyfile *k, const char *in, size_t in_len, uint8_t *sig, size_t room)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t der[256];
	size_t n = room;
	long rc = -1;

	if (k->alg == JWS_HS256) {
		size_t out_len = 0;

		if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret, k->secret_len,
		               (const unsigned char *)in, in_len, sig, room, &out_len))
			return -1;
		return (long)out_len;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx ||
	    EVP_DigestSignInit(ctx, NULL, k->alg == JWS_EDDSA ? NULL : EVP_sha256(), NULL, k->pkey) != 1)
		goto out;
	if (k->alg == JWS_ES256) {
		n = sizeof(der);
		if (EVP_DigestSign(ctx, der, &n, (const unsigned char *)in, in_len) == 1)
			rc = der_to_jose(der, n, sig, 32);
	} else if (EVP_DigestSign(ctx, sig, &n, (const unsigned char *)in, in_len) == 1) {
		rc = (long)n;
	}
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* "3600", "3600s", "90m", "2h", "1d". */
static long parse_exp(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		return v;
	case 'm':
		return v * 60;
	case 'h':
		return v * 3600;
	case 'd':
		return v * 86400;
	}
	return -1;
}

static char *b64url_json(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS), *out = NULL;
	size_t len;

	if (!text)
		return NULL;
	len = strlen(text);
	out = malloc(len * 4 / 3 + 8);
	if (out && b64url_encode((const uint8_t *)text, len, out, len * 4 / 3 + 8) < 0) {
		free(out);
		out = NULL;
	}
	free(text);
	return out;
}

static int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
	                                     {"claims", required_argument, NULL, 'c'},
	                                     {"exp", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	const char *keypath = NULL, *claims_text = "{}", *exp = NULL;
	struct keyfile k;
	json_t *hdr = NULL, *claims = NULL;
	json_error_t je;
	char *h64 = NULL, *p64 = NULL, *input = NULL, sig64[1024];
	uint8_t sig[600];
	long sig_len, exp_s = -1;
	int opt, status = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'k')
			keypath = optarg;
		else if (opt == 'c')
			claims_text = optarg;
		else if (opt == 'e')
			exp = optarg;
		else
			return 2;
	}
	if (!keypath || (exp && (exp_s = parse_exp(exp)) < 0)) {
		fprintf(stderr, "usage: spoa-jwt sign --key FILE --claims JSON [--exp DURATION]\n");
		return 2;
	}
	if (read_keyfile(keypath, &k) < 0) {
		fprintf(stderr, "spoa-jwt sign: %s: not a key file written by spoa-jwt keygen\n", keypath);
		return 1;
	}
	claims = json_loads(claims_text, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(claims)) {
		fprintf(stderr, "spoa-jwt sign: --claims: a JSON object is required (%s)\n", je.text);
		goto out;
	}
	if (!json_object_get(claims, "iat"))
		json_object_set_new(claims, "iat", json_integer((json_int_t)time(NULL)));
	if (exp_s >= 0)
		json_object_set_new(claims, "exp", json_integer((json_int_t)(time(NULL) + exp_s)));
	hdr = json_pack("{s:s, s:s, s:s}", "alg", jws_alg_name(k.alg), "kid", k.kid, "typ", "JWT");
	h64 = hdr ? b64url_json(hdr) : NULL;
	p64 = b64url_json(claims);
	if (!h64 || !p64 || asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		fprintf(stderr, "spoa-jwt sign: out of memory\n");
		goto out;
	}
	sig_len = sign_input(&k, input, strlen(input), sig, sizeof(sig));
	if (sig_len <= 0 || b64url_encode(sig, (size_t)sig_len, sig64, sizeof(sig64)) < 0) {
		fprintf(stderr, "spoa-jwt sign: signing failed\n");
		goto out;
	}
	printf("%s.%s\n", input, sig64);
	status = 0;
out:
	free(h64);
	free(p64);
	free(input);
	json_decref(hdr);
	json_decref(claims);
	EVP_PKEY_free(k.pkey);
	OPENSSL_cleanse(k.secret, sizeof(k.secret));
	return status;
}

static char *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	*len = buf ? fread(buf, 1, max + 1, f) : 0;
	fclose(f);
	if (buf && *len > max) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The gateway's checks that need no HAProxy: parse, issuer, time,
 * audience, signature; the same status strings as the 401 bodies. */
static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"jwks", required_argument, NULL, 'j'},
	                                     {"issuer", required_argument, NULL, 'i'},
	                                     {"audience", required_argument, NULL, 'a'},
	                                     {"now", required_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	const char *jwks_path = NULL, *iss = NULL, *aud = NULL, *tok;
	uint64_t now = (uint64_t)time(NULL);
	struct jwks *set = NULL;
	struct jwt jwt;
	enum jwt_status st;
	char *text, err[256] = "";
	size_t len;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j')
			jwks_path = optarg;
		else if (opt == 'i')
			iss = optarg;
		else if (opt == 'a')
			aud = optarg;
		else if (opt == 'n')
			now = strtoull(optarg, NULL, 10);
		else
			return 2;
	}
	if (!jwks_path || optind != argc - 1) {
		fprintf(stderr, "usage: spoa-jwt verify --jwks FILE [--issuer ISS] [--audience AUD] TOKEN\n");
		return 2;
	}
	tok = argv[optind];
	text = read_file(jwks_path, JWKS_MAX_BYTES, &len);
	if (!text) {
		fprintf(stderr, "spoa-jwt verify: %s: cannot read (or over %u bytes)\n", jwks_path,
		        JWKS_MAX_BYTES);
		return 2;
	}
	st = jwks_parse(text, len, &set, err, sizeof(err));
	free(text);
	memset(&jwt, 0, sizeof(jwt));
	if (st == JWT_OK)
		st = jwt_parse(tok, strlen(tok), &jwt);
	if (st == JWT_OK && iss && (!jwt.iss || strcmp(jwt.iss, iss) != 0))
		st = JWT_UNKNOWN_ISSUER;
	if (st == JWT_OK)
		st = jwt_check_time(&jwt, now, 60);
	if (st == JWT_OK && aud) {
		st = JWT_AUDIENCE_NOT_ALLOWED;
		for (size_t i = 0; i < jwt.n_aud; i++)
			if (strcmp(jwt.aud[i], aud) == 0)
				st = JWT_OK;
	}
	if (st == JWT_OK)
		st = jwt_verify_jwks(&jwt, set, NULL);
	printf("%s\n", st == JWT_OK ? "Jwt is valid" : jwt_status_str(st));
	jwt_free(&jwt);
	jwks_unref(set);
	return st == JWT_OK ? 0 : 1;
}

static int connect_to(const char *addr, int timeout_ms)
{
	char host[256], *colon;
	struct addrinfo hints = {0}, *res = NULL;
	struct pollfd pfd;
	int fd = -1, err = 0;
	socklen_t elen = sizeof(err);

	if (snprintf(host, sizeof(host), "%s", addr) >= (int)sizeof(host) || !(colon = strrchr(host, ':')))
		return -1;
	*colon = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host[0] == '[' ? host + 1 : host, colon + 1, &hints, &res) != 0)
		return -1;
	if (host[0] == '[')
		host[strlen(host) - 1] = '\0';
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The HELLO HAProxy's `option spop-check` sends (notes §2.6): an agent
 * that answers it with a valid AGENT-HELLO is what HAProxy marks UP. */
static int cmd_healthcheck(int argc, char **argv)
{
	uint8_t out[128], in[1024];
	struct spop_buf b;
	struct spop_frame f;
	struct pollfd pfd;
	size_t start, got = 0;
	long n = 0;
	int timeout_ms = 2000, fd;

	if (argc >= 3 && strcmp(argv[1], "--timeout") == 0) {
		timeout_ms = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || timeout_ms <= 0) {
		fprintf(stderr, "usage: spoa-jwt healthcheck [--timeout MS] ADDR:PORT\n");
		return 2;
	}
	fd = connect_to(argv[1], timeout_ms);
	if (fd < 0) {
		fprintf(stderr, "spoa-jwt healthcheck: %s: cannot connect\n", argv[1]);
		return 1;
	}
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
	spop_put_kv_str(&b, "supported-versions", "2.0", 3);
	spop_put_kv_uint(&b, "max-frame-size", SPOP_DEFAULT_FRAME_SIZE);
	spop_put_kv_str(&b, "capabilities", "", 0);
	spop_put_kv_bool(&b, "healthcheck", true);
	if (!spop_frame_end(&b, start, SPOP_DEFAULT_FRAME_SIZE) ||
	    send(fd, out, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
		goto bad;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (got < sizeof(in) && poll(&pfd, 1, timeout_ms) == 1) {
		ssize_t r = recv(fd, in + got, sizeof(in) - got, 0);

		if (r <= 0)
			break;
		got += (size_t)r;
		n = spop_frame_parse(in, got, SPOP_DEFAULT_FRAME_SIZE, &f);
		if (n != 0)
			break;
	}
	if (n > 0 && f.type == SPOP_FRM_AGENT_HELLO &&
	    memmem(f.payload, f.payload_len,
	           "\x07version\x08\x03"
	           "2.0",
	           13)) {
		close(fd);
		printf("SPOA server is ok\n");
		return 0;
	}
bad:
	close(fd);
	fprintf(stderr, "spoa-jwt healthcheck: %s: no valid AGENT-HELLO\n", argv[1]);
	return 1;
}

int cli_run(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	optind = 0;
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "healthcheck") == 0)
		return cmd_healthcheck(argc - 1, argv + 1);
	return -1;
}
