#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "spop.h"

#ifndef SPOA_JWT_VERSION
#define SPOA_JWT_VERSION "0.1.0"
#endif

enum {
	OPT_LISTEN = 256, OPT_JWKS_URI, OPT_CACHE_TIME, OPT_FETCH_TIMEOUT, OPT_MAX_STALE,
	OPT_REFETCH, OPT_HEADER, OPT_PREFIX, OPT_SKEW, OPT_ISSUER, OPT_AUDIENCE,
	OPT_FRAME, OPT_TOKEN, OPT_CLAIM, OPT_CACHE_SIZE, OPT_CACHE_BYTES, OPT_THREADS, OPT_LOG_LEVEL, OPT_HELP, OPT_VERSION,
};

static const struct option long_opts[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"jwks-uri", required_argument, NULL, OPT_JWKS_URI},
	{"cache-time", required_argument, NULL, OPT_CACHE_TIME},
	{"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
	{"max-stale", required_argument, NULL, OPT_MAX_STALE},
	{"refetch-interval", required_argument, NULL, OPT_REFETCH},
	{"header", required_argument, NULL, OPT_HEADER},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"clock-skew", required_argument, NULL, OPT_SKEW},
	{"issuer", required_argument, NULL, OPT_ISSUER},
	{"audience", required_argument, NULL, OPT_AUDIENCE},
	{"max-frame-size", required_argument, NULL, OPT_FRAME},
	{"max-token-size", required_argument, NULL, OPT_TOKEN},
	{"max-claim-size", required_argument, NULL, OPT_CLAIM},
	{"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
	{"cache-bytes", required_argument, NULL, OPT_CACHE_BYTES},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

void config_usage(FILE *out)
{
	fputs("Usage: spoa-jwt --jwks-uri URL [options]\n"
	      "\n"
	      "A HAProxy SPOE agent that verifies JWTs against a remote JWKS and answers\n"
	      "with txn.jwt.* variables (see README.md).\n"
	      "\n"
	      "  --listen ADDR:PORT       SPOP address, IPv4 or [IPv6] (default 127.0.0.1:12345)\n"
	      "  --jwks-uri URL           JWKS location, http:// or https:// (required)\n"
	      "  --cache-time SECONDS     how long fetched keys are used (default 300)\n"
	      "  --fetch-timeout MS       JWKS fetch timeout in milliseconds (default 1000)\n"
	      "  --max-stale SECONDS      keep using keys this long past --cache-time when\n"
	      "                           refreshes fail (default 600; 0 = never)\n"
	      "  --refetch-interval SECONDS  least time between refetches caused by an\n"
	      "                           unknown kid (default 30)\n"
	      "  --header NAME            request header carrying the token (default\n"
	      "                           Authorization); HAProxy sends it as the SPOE\n"
	      "                           argument of the same name, lower-cased\n"
	      "  --prefix STR             text before the token in that header (default\n"
	      "                           \"Bearer \"; case-sensitive, as Envoy; \"\" = none)\n"
	      "  --clock-skew SECONDS     leeway for exp and nbf (default 60)\n"
	      "  --issuer ISS             require this iss (default: not checked)\n"
	      "  --audience AUD           accept tokens for this audience; repeatable\n"
	      "                           (default: not checked); failure answers 403\n"
	      "  --max-frame-size BYTES   largest SPOP frame (256..1048576, default 16380)\n"
	      "  --max-token-size BYTES   longest token accepted (default 8192)\n"
	      "  --max-claim-size BYTES   longest claim exported as a variable (default 256)\n"
	      "  --cache-size N           verified tokens remembered per thread (default\n"
	      "                           10000; 0 disables the cache)\n"
	      "  --cache-bytes BYTES      memory bound of that cache per thread (default\n"
	      "                           16777216)\n"
	      "  --threads N              worker threads, each with its own loop, socket\n"
	      "                           and caches (1-64, default: online CPUs)\n"
	      "  --log-level LEVEL        error, warn, info or debug (default info)\n"
	      "  --help                   this text\n"
	      "  --version                the version\n"
	      "\n"
	      "Exit status: 0 after a clean stop, 2 on a configuration error.\n",
	      out);
}

static void set_err(char *err, size_t errlen, const char *flag, const char *what)
{
	snprintf(err, errlen, "%s: %s", flag, what);
}

/* Parses a non-negative decimal number with at most millisecond precision. */
static int parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ADDR:PORT or [ADDR]:PORT; the address itself is checked when binding. */
static int parse_listen(const char *s, struct config *cfg)
{
	const char *colon, *host = s;
	size_t host_len;
	uint64_t port;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		host_len = (size_t)(colon - s);
		if (memchr(s, ':', host_len))
			return -1; /* bare IPv6 needs brackets */
	}
	if (host_len == 0 || host_len >= sizeof(cfg->listen_host))
		return -1;
	if (parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -1;
	memcpy(cfg->listen_host, host, host_len);
	cfg->listen_host[host_len] = '\0';
	snprintf(cfg->listen_port, sizeof(cfg->listen_port), "%u", (unsigned)port);
	return 0;
}

/* The URL must parse (curl's own parser, so what we accept is what it
 * fetches), use http or https, and name a host. */
static int check_url(const char *url, char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ret = -1;

	if (!u) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(why, whylen, "not a valid URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(why, whylen, "scheme must be http or https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		snprintf(why, whylen, "no host");
		goto out;
	}
	ret = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

static void set_defaults(struct config *cfg)
{
	long cpus;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	snprintf(cfg->listen_port, sizeof(cfg->listen_port), "12345");
	cfg->cache_time_s = 300;
	cfg->fetch_timeout_ms = 1000;
	cfg->max_stale_s = 600;
	cfg->refetch_interval_s = 30;
	snprintf(cfg->header, sizeof(cfg->header), "authorization");
	cfg->prefix = "Bearer ";
	cfg->clock_skew_s = 60;
	cfg->max_frame_size = SPOP_DEFAULT_FRAME_SIZE;
	cfg->max_token_len = 8192;
	cfg->max_claim_len = 256;
	cfg->cache_entries = 10000;
	cfg->cache_bytes = 16u << 20;
	cfg->log_level = LOG_INFO;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
}

static int set_header(struct config *cfg, const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= sizeof(cfg->header))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* RFC 9110 token characters only */
		if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
			return -1;
		cfg->header[i] = (char)tolower(c);
	}
	cfg->header[len] = '\0';
	return 0;
}

static int apply_opt(struct config *cfg, int opt, const char *arg, char *err, size_t errlen)
{
	uint64_t u;
	double d;
	char why[128];

	switch (opt) {
	case OPT_LISTEN:
		if (parse_listen(arg, cfg) < 0)
			return set_err(err, errlen, "--listen", "expected ADDR:PORT or [IPv6]:PORT with port 1-65535"), -1;
		break;
	case OPT_JWKS_URI:
		if (check_url(arg, why, sizeof(why)) < 0)
			return set_err(err, errlen, "--jwks-uri", why), -1;
		cfg->jwks_uri = arg;
		break;
	case OPT_CACHE_TIME:
		if (parse_seconds(arg, 9e9, &d) < 0 || d < 0.001)
			return set_err(err, errlen, "--cache-time", "expected seconds > 0"), -1;
		cfg->cache_time_s = d;
		break;
	case OPT_FETCH_TIMEOUT:
		if (parse_u64(arg, 1, 60000, &u) < 0)
			return set_err(err, errlen, "--fetch-timeout", "expected milliseconds, 1-60000"), -1;
		cfg->fetch_timeout_ms = (long)u;
		break;
	case OPT_MAX_STALE:
		if (parse_seconds(arg, 9e9, &d) < 0)
			return set_err(err, errlen, "--max-stale", "expected seconds >= 0"), -1;
		cfg->max_stale_s = d;
		break;
	case OPT_REFETCH:
		if (parse_seconds(arg, 86400, &d) < 0)
			return set_err(err, errlen, "--refetch-interval", "expected seconds, 0-86400"), -1;
		cfg->refetch_interval_s = d;
		break;
	case OPT_HEADER:
		if (set_header(cfg, arg) < 0)
			return set_err(err, errlen, "--header", "expected an HTTP header name"), -1;
		break;
	case OPT_PREFIX:
		cfg->prefix = arg;
		break;
	case OPT_SKEW:
		if (parse_u64(arg, 0, 86400, &u) < 0)
			return set_err(err, errlen, "--clock-skew", "expected seconds, 0-86400"), -1;
		cfg->clock_skew_s = u;
		break;
	case OPT_ISSUER:
		if (!*arg)
			return set_err(err, errlen, "--issuer", "must not be empty"), -1;
		cfg->issuer = arg;
		break;
	case OPT_AUDIENCE:
		if (!*arg)
			return set_err(err, errlen, "--audience", "must not be empty"), -1;
		if (cfg->n_audiences == CONFIG_MAX_AUDIENCES)
			return set_err(err, errlen, "--audience", "too many (at most 16)"), -1;
		cfg->audiences[cfg->n_audiences++] = arg;
		break;
	case OPT_FRAME:
		if (parse_u64(arg, SPOP_MIN_FRAME_SIZE, 1048576, &u) < 0)
			return set_err(err, errlen, "--max-frame-size", "expected bytes, 256-1048576"), -1;
		cfg->max_frame_size = (uint32_t)u;
		break;
	case OPT_TOKEN:
		if (parse_u64(arg, 16, 65536, &u) < 0)
			return set_err(err, errlen, "--max-token-size", "expected bytes, 16-65536"), -1;
		cfg->max_token_len = (size_t)u;
		break;
	case OPT_CLAIM:
		if (parse_u64(arg, 1, 4096, &u) < 0)
			return set_err(err, errlen, "--max-claim-size", "expected bytes, 1-4096"), -1;
		cfg->max_claim_len = (size_t)u;
		break;
	case OPT_CACHE_SIZE:
		if (parse_u64(arg, 0, 10000000, &u) < 0)
			return set_err(err, errlen, "--cache-size", "expected entries, 0-10000000"), -1;
		cfg->cache_entries = (size_t)u;
		break;
	case OPT_CACHE_BYTES:
		if (parse_u64(arg, 65536, (uint64_t)1 << 40, &u) < 0)
			return set_err(err, errlen, "--cache-bytes", "expected bytes >= 65536"), -1;
		cfg->cache_bytes = (size_t)u;
		break;
	case OPT_THREADS:
		if (parse_u64(arg, 1, 64, &u) < 0)
			return set_err(err, errlen, "--threads", "expected 1-64"), -1;
		cfg->threads = (unsigned)u;
		break;
	case OPT_LOG_LEVEL:
		if (log_level_parse(arg) < 0)
			return set_err(err, errlen, "--log-level", "expected error, warn, info or debug"), -1;
		cfg->log_level = log_level_parse(arg);
		break;
	default:
		return set_err(err, errlen, "usage", "unknown option (see --help)"), -1;
	}
	return 0;
}

enum config_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	int opt;

	set_defaults(cfg);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			config_usage(stdout);
			return CONFIG_EXIT;
		}
		if (opt == OPT_VERSION) {
			printf("spoa-jwt %s\n", SPOA_JWT_VERSION);
			return CONFIG_EXIT;
		}
		if (opt == '?' || opt == ':') {
			snprintf(err, errlen, "%s: unknown option or missing value (see --help)",
			         optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			return CONFIG_ERROR;
		}
		if (apply_opt(cfg, opt, optarg, err, errlen) < 0)
			return CONFIG_ERROR;
	}
	if (optind < argc) {
		snprintf(err, errlen, "%s: unexpected argument", argv[optind]);
		return CONFIG_ERROR;
	}
	if (!cfg->jwks_uri) {
		set_err(err, errlen, "--jwks-uri", "is required");
		return CONFIG_ERROR;
	}
	if ((double)cfg->fetch_timeout_ms / 1000.0 > cfg->cache_time_s) {
		set_err(err, errlen, "--fetch-timeout", "must not exceed --cache-time");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}
