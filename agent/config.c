#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "log.h"
#include "spop.h"

#ifndef SPOA_JWT_VERSION
#define SPOA_JWT_VERSION "0.2.0"
#endif

enum {
	OPT_LISTEN = 256,
	OPT_JWKS_URI,
	OPT_JWKS_FILE,
	OPT_OIDC,
	OPT_CACHE_TIME,
	OPT_FETCH_TIMEOUT,
	OPT_MAX_STALE,
	OPT_REFETCH,
	OPT_HEADER,
	OPT_PREFIX,
	OPT_SKEW,
	OPT_ISSUER,
	OPT_AUDIENCE,
	OPT_REQUIRE_EXP,
	OPT_MAX_LIFETIME,
	OPT_CLAIM_VAR,
	OPT_REQUIRE_CLAIM,
	OPT_FRAME,
	OPT_TOKEN,
	OPT_CLAIM,
	OPT_CACHE_SIZE,
	OPT_CACHE_BYTES,
	OPT_THREADS,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_METRICS,
	OPT_CONFIG,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"jwks-uri", required_argument, NULL, OPT_JWKS_URI},
    {"jwks-file", required_argument, NULL, OPT_JWKS_FILE},
    {"oidc-discovery", no_argument, NULL, OPT_OIDC},
    {"cache-time", required_argument, NULL, OPT_CACHE_TIME},
    {"fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT},
    {"max-stale", required_argument, NULL, OPT_MAX_STALE},
    {"refetch-interval", required_argument, NULL, OPT_REFETCH},
    {"header", required_argument, NULL, OPT_HEADER},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"clock-skew", required_argument, NULL, OPT_SKEW},
    {"issuer", required_argument, NULL, OPT_ISSUER},
    {"audience", required_argument, NULL, OPT_AUDIENCE},
    {"require-expiration", no_argument, NULL, OPT_REQUIRE_EXP},
    {"max-lifetime", required_argument, NULL, OPT_MAX_LIFETIME},
    {"claim-to-var", required_argument, NULL, OPT_CLAIM_VAR},
    {"require-claim", required_argument, NULL, OPT_REQUIRE_CLAIM},
    {"max-frame-size", required_argument, NULL, OPT_FRAME},
    {"max-token-size", required_argument, NULL, OPT_TOKEN},
    {"max-claim-size", required_argument, NULL, OPT_CLAIM},
    {"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
    {"cache-bytes", required_argument, NULL, OPT_CACHE_BYTES},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void config_usage(FILE *out)
{
	fputs("Usage: spoa-jwt --jwks-uri URL [options]\n"
	      "       spoa-jwt --config FILE [-c] [options]\n"
	      "\n"
	      "A HAProxy SPOE agent that verifies JWTs and answers with txn.jwt.* variables\n"
	      "(see README.md). Without --config the flags below define one provider named\n"
	      "\"default\"; with --config the providers come from the file and only the\n"
	      "agent-wide flags may be given.\n"
	      "\n"
	      "Provider (without --config):\n"
	      "  --jwks-uri URL           remote JWKS, http:// or https://\n"
	      "  --jwks-file FILE         local JWKS file, re-read on SIGHUP\n"
	      "  --oidc-discovery         find the JWKS through <issuer>/.well-known/\n"
	      "                           openid-configuration (needs --issuer)\n"
	      "                           (exactly one of these three is required)\n"
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
	      "  --require-expiration     refuse tokens without exp\n"
	      "  --max-lifetime SECONDS   refuse tokens whose exp is further away than this\n"
	      "  --claim-to-var CLAIM=VAR export claim (dotted path) as txn.jwt.claim.VAR\n"
	      "  --require-claim CLAIM=VALUE  the claim must equal VALUE or contain it (an\n"
	      "                           array, or space-separated words as in scope);\n"
	      "                           failure answers 403; repeatable\n"
	      "\n"
	      "Agent:\n"
	      "  --config FILE            JSON configuration (see README.md)\n"
	      "  -c                       check the configuration and exit (0 ok, 2 bad)\n"
	      "  --listen ADDR:PORT       SPOP address, IPv4 or [IPv6] (default 127.0.0.1:12345)\n"
	      "  --threads N              worker threads, each with its own loop, socket\n"
	      "                           and caches (1-64, default: online CPUs)\n"
	      "  --max-frame-size BYTES   largest SPOP frame (256..1048576, default 16380)\n"
	      "  --max-token-size BYTES   longest token accepted (default 8192)\n"
	      "  --max-claim-size BYTES   longest claim exported as a variable (default 256)\n"
	      "  --cache-size N           verified tokens remembered per thread (default\n"
	      "                           10000; 0 disables the cache)\n"
	      "  --cache-bytes BYTES      memory bound of that cache per thread (default\n"
	      "                           16777216)\n"
	      "  --log-level LEVEL        error, warn, info or debug (default info)\n"
	      "  --log-format FORMAT      kv (key=value, default) or json, one line per event\n"
	      "  --metrics ADDR:PORT      Prometheus metrics at /metrics, liveness at\n"
	      "                           /healthz (default: off)\n"
	      "  --help                   this text\n"
	      "  --version                the version\n"
	      "\n"
	      "Exit status: 0 after a clean stop, 2 on a configuration error.\n",
	      out);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parses a non-negative number of seconds: "300", "1.5", or protobuf JSON
 * Duration text "300s" / "0.250s"; also "250ms" for convenience. */
static int parse_duration(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		v /= 1000.0;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	if (v > max)
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
static int parse_hostport(const char *s, char *host_out, size_t host_room, char *port_out, size_t port_room)
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
	if (host_len == 0 || host_len >= host_room)
		return -1;
	if (parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -1;
	memcpy(host_out, host, host_len);
	host_out[host_len] = '\0';
	snprintf(port_out, port_room, "%u", (unsigned)port);
	return 0;
}

static int parse_listen(const char *s, struct config *cfg)
{
	return parse_hostport(s, cfg->listen_host, sizeof(cfg->listen_host), cfg->listen_port,
	                      sizeof(cfg->listen_port));
}

/* The URL must parse (curl's own parser, so what we accept is what it
 * fetches), use http or https, and name a host. */
static const char *check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *why = NULL;

	if (!u)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		why = "not a valid URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	         (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		why = "scheme must be http or https";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		why = "no host";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

/* RFC 9110 token characters: what a header, cookie or parameter name may be. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* Variable names: HAProxy silently drops names outside [A-Za-z0-9._]. */
static bool is_var_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_MAX_VAR_NAME)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.')
			return false;
	return true;
}

static char *xstrdup(const char *s, bool *oom)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		*oom = true;
	return p;
}

static void provider_defaults(struct provider *p)
{
	memset(p, 0, sizeof(*p));
	p->cache_time_s = 300;
	p->fetch_timeout_ms = 1000;
	p->max_stale_s = 600;
	p->refetch_interval_s = 30;
	p->clock_skew_s = 60;
}

static int add_source(struct provider *p, enum source_kind kind, const char *name, const char *prefix,
                      const char *where, char *err, size_t errlen)
{
	struct source *s;
	bool oom = false;
	size_t i, len = strlen(name);

	if (!is_token(name) || len > 100)
		return fail(err, errlen, "%s: \"%s\" is not a valid name", where, name);
	if (p->n_sources == CONFIG_MAX_SOURCES)
		return fail(err, errlen, "%s: too many token locations (at most %d)", where,
		            CONFIG_MAX_SOURCES);
	s = &p->sources[p->n_sources];
	s->kind = kind;
	s->name = xstrdup(name, &oom);
	s->prefix = xstrdup(kind == SOURCE_HEADER ? prefix : "", &oom);
	s->arg = malloc(len + 8);
	if (oom || !s->arg) {
		free(s->name);
		free(s->prefix);
		free(s->arg);
		return fail(err, errlen, "%s: out of memory", where);
	}
	if (kind == SOURCE_HEADER) {
		for (i = 0; i <= len; i++)
			s->name[i] = (char)tolower((unsigned char)name[i]);
		memcpy(s->arg, s->name, len + 1);
	} else {
		snprintf(s->arg, len + 8, "%s%s", kind == SOURCE_PARAM ? "param." : "cookie.", name);
	}
	p->n_sources++;
	return 0;
}

/* "header-name" -> variable "header_name" (HAProxy variables take no '-'). */
static int add_export(struct provider *p, const char *claim, const char *var, const char *where, char *err,
                      size_t errlen)
{
	struct claim_export *e;
	bool oom = false;

	if (!*claim)
		return fail(err, errlen, "%s: the claim name is empty", where);
	if (p->n_exports == CONFIG_MAX_CLAIMS)
		return fail(err, errlen, "%s: too many claims (at most %d)", where, CONFIG_MAX_CLAIMS);
	e = &p->exports[p->n_exports];
	e->claim = xstrdup(claim, &oom);
	e->var = xstrdup(var, &oom);
	if (oom)
		return free(e->claim), free(e->var), fail(err, errlen, "%s: out of memory", where);
	for (char *c = e->var; *c; c++)
		*c = *c == '-' ? '_' : (char)tolower((unsigned char)*c);
	if (!is_var_name(e->var)) {
		fail(err, errlen,
		     "%s: \"%s\" does not make a variable name ([A-Za-z0-9._-], at most %d bytes)", where,
		     var, CONFIG_MAX_VAR_NAME);
		free(e->claim);
		free(e->var);
		return -1;
	}
	p->n_exports++;
	return 0;
}

static int add_rule(struct provider *p, const char *claim, const char *value, const char *where, char *err,
                    size_t errlen)
{
	struct claim_rule *r;
	bool oom = false;

	if (!*claim)
		return fail(err, errlen, "%s: the claim name is empty", where);
	if (p->n_required == CONFIG_MAX_CLAIMS)
		return fail(err, errlen, "%s: too many claims (at most %d)", where, CONFIG_MAX_CLAIMS);
	r = &p->required[p->n_required];
	r->claim = xstrdup(claim, &oom);
	r->value = xstrdup(value, &oom);
	if (oom)
		return free(r->claim), free(r->value), fail(err, errlen, "%s: out of memory", where);
	p->n_required++;
	return 0;
}

/* Rules shared by flags and file once a provider is complete. */
static int provider_finish(struct provider *p, const char *where, char *err, size_t errlen)
{
	int n_keys = !!p->jwks_uri + !!p->jwks_file + !!p->oidc_discovery;

	if (n_keys != 1)
		return fail(err, errlen, "%s: exactly one key source is required (%s)", where,
		            n_keys ? "several given" : "remote JWKS URI, local JWKS file or OIDC discovery");
	if (p->oidc_discovery) {
		const char *why;

		if (!p->issuer)
			return fail(err, errlen, "%s: OIDC discovery needs an issuer", where);
		why = check_url(p->issuer);
		if (why)
			return fail(err, errlen,
			            "%s: the issuer must be an http(s) URL for OIDC discovery: %s", where,
			            why);
	}
	if ((double)p->fetch_timeout_ms / 1000.0 > p->cache_time_s)
		return fail(err, errlen, "%s: the fetch timeout must not exceed the cache time", where);
	if (p->n_sources == 0) {
		/* Envoy's defaults when no location is configured. */
		if (add_source(p, SOURCE_HEADER, "Authorization", "Bearer ", where, err, errlen) < 0 ||
		    add_source(p, SOURCE_PARAM, "access_token", NULL, where, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void provider_free(struct provider *p)
{
	size_t i;

	free(p->name);
	free(p->issuer);
	for (i = 0; i < p->n_audiences; i++)
		free(p->audiences[i]);
	free(p->jwks_uri);
	free(p->jwks_file);
	for (i = 0; i < p->n_sources; i++) {
		free(p->sources[i].name);
		free(p->sources[i].prefix);
		free(p->sources[i].arg);
	}
	for (i = 0; i < p->n_exports; i++) {
		free(p->exports[i].claim);
		free(p->exports[i].var);
	}
	for (i = 0; i < p->n_required; i++) {
		free(p->required[i].claim);
		free(p->required[i].value);
	}
	memset(p, 0, sizeof(*p));
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_providers; i++)
		provider_free(&cfg->providers[i]);
	cfg->n_providers = 0;
}

const struct provider *config_provider(const struct config *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->n_providers; i++)
		if (strlen(cfg->providers[i].name) == len && memcmp(cfg->providers[i].name, name, len) == 0)
			return &cfg->providers[i];
	return NULL;
}

/* ---- JSON configuration file ---- */

struct jctx {
	char *err;
	size_t errlen;
};

/* Checks that <obj> has only <allowed> members (NULL-terminated). */
static int only_fields(json_t *obj, const char *path, const char *const *allowed, struct jctx *j)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val)
	{
		const char *const *a;

		for (a = allowed; *a && strcmp(*a, key) != 0; a++)
			;
		if (!*a)
			return fail(j->err, j->errlen, "%s%s%s: unknown field", path, *path ? "." : "", key);
	}
	return 0;
}

static int get_string(json_t *obj, const char *key, const char *path, const char **out, struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fail(j->err, j->errlen, "%s.%s: expected a non-empty string", path, key);
	*out = json_string_value(v);
	return 1;
}

static int get_bool(json_t *obj, const char *key, const char *path, bool *out, struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(j->err, j->errlen, "%s.%s: expected true or false", path, key);
	*out = json_is_true(v);
	return 1;
}

static int get_uint(json_t *obj, const char *key, const char *path, uint64_t min, uint64_t max, uint64_t *out,
                    struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
	    (uint64_t)json_integer_value(v) > max)
		return fail(j->err, j->errlen, "%s.%s: expected an integer from %llu to %llu", path, key,
		            (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

/* Durations as protobuf JSON writes them ("300s", "0.5s") or a number of seconds. */
static int get_duration(json_t *obj, const char *key, const char *path, double max, double *out,
                        struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= max) {
		*out = json_number_value(v);
		return 1;
	}
	if (json_is_string(v) && parse_duration(json_string_value(v), max, out) == 0)
		return 1;
	return fail(j->err, j->errlen, "%s.%s: expected a duration such as \"300s\"", path, key);
}

static int get_object(json_t *obj, const char *key, const char *path, json_t **out, struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_object(v))
		return fail(j->err, j->errlen, "%s.%s: expected an object", path, key);
	*out = v;
	return 1;
}

static int get_array(json_t *obj, const char *key, const char *path, json_t **out, struct jctx *j)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_array(v))
		return fail(j->err, j->errlen, "%s.%s: expected an array", path, key);
	*out = v;
	return 1;
}

static int parse_remote_jwks(json_t *rj, const char *path, struct provider *p, struct jctx *j)
{
	static const char *const fields[] = {"http_uri", "cache_duration", "max_stale", "refetch_interval",
	                                     NULL};
	static const char *const uri_fields[] = {"uri", "timeout", "cluster", NULL};
	char sub[300];
	json_t *hu = NULL;
	const char *uri = NULL, *why;
	double d;
	bool oom = false;

	if (only_fields(rj, path, fields, j) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s.http_uri", path);
	if (get_object(rj, "http_uri", path, &hu, j) <= 0)
		return j->err[0] ? -1 : fail(j->err, j->errlen, "%s: required", sub);
	if (only_fields(hu, sub, uri_fields, j) < 0 || get_string(hu, "uri", sub, &uri, j) < 0)
		return -1;
	if (!uri)
		return fail(j->err, j->errlen, "%s.uri: required", sub);
	why = check_url(uri);
	if (why)
		return fail(j->err, j->errlen, "%s.uri: %s", sub, why);
	p->jwks_uri = xstrdup(uri, &oom);
	if (oom)
		return fail(j->err, j->errlen, "%s.uri: out of memory", sub);
	switch (get_duration(hu, "timeout", sub, 60, &d, j)) {
	case -1:
		return -1;
	case 1:
		if (d < 0.001)
			return fail(j->err, j->errlen, "%s.timeout: must be at least 1ms", sub);
		p->fetch_timeout_ms = (long)(d * 1000.0 + 0.5);
	}
	switch (get_duration(rj, "cache_duration", path, 9e9, &d, j)) {
	case -1:
		return -1;
	case 1:
		if (d < 0.001)
			return fail(j->err, j->errlen, "%s.cache_duration: must be at least 1ms", path);
		p->cache_time_s = d;
	}
	if (get_duration(rj, "max_stale", path, 9e9, &p->max_stale_s, j) < 0 ||
	    get_duration(rj, "refetch_interval", path, 86400, &p->refetch_interval_s, j) < 0)
		return -1;
	return 0;
}

static int parse_sources(json_t *po, const char *path, struct provider *p, struct jctx *j)
{
	static const char *const hfields[] = {"name", "value_prefix", NULL};
	char where[300];
	json_t *arr = NULL, *v;
	size_t i;

	if (get_array(po, "from_headers", path, &arr, j) < 0)
		return -1;
	json_array_foreach(arr, i, v)
	{
		const char *name = NULL, *prefix = "";

		snprintf(where, sizeof(where), "%s.from_headers[%zu]", path, i);
		if (!json_is_object(v))
			return fail(j->err, j->errlen, "%s: expected an object", where);
		if (only_fields(v, where, hfields, j) < 0 || get_string(v, "name", where, &name, j) < 0)
			return -1;
		if (json_object_get(v, "value_prefix")) {
			json_t *pv = json_object_get(v, "value_prefix");

			if (!json_is_string(pv))
				return fail(j->err, j->errlen, "%s.value_prefix: expected a string", where);
			prefix = json_string_value(pv);
		}
		if (!name)
			return fail(j->err, j->errlen, "%s.name: required", where);
		if (add_source(p, SOURCE_HEADER, name, prefix, where, j->err, j->errlen) < 0)
			return -1;
	}
	for (int k = 0; k < 2; k++) {
		const char *key = k == 0 ? "from_params" : "from_cookies";

		arr = NULL;
		if (get_array(po, key, path, &arr, j) < 0)
			return -1;
		json_array_foreach(arr, i, v)
		{
			snprintf(where, sizeof(where), "%s.%s[%zu]", path, key, i);
			if (!json_is_string(v))
				return fail(j->err, j->errlen, "%s: expected a string", where);
			if (add_source(p, k == 0 ? SOURCE_PARAM : SOURCE_COOKIE, json_string_value(v), NULL,
			               where, j->err, j->errlen) < 0)
				return -1;
		}
	}
	return 0;
}

static int parse_claims(json_t *po, const char *path, struct provider *p, struct jctx *j)
{
	static const char *const efields[] = {"header_name", "claim_name", NULL};
	static const char *const rfields[] = {"name", "value", NULL};
	char where[300];
	json_t *arr = NULL, *v;
	size_t i;

	if (get_array(po, "claim_to_headers", path, &arr, j) < 0)
		return -1;
	json_array_foreach(arr, i, v)
	{
		const char *h = NULL, *c = NULL;

		snprintf(where, sizeof(where), "%s.claim_to_headers[%zu]", path, i);
		if (!json_is_object(v))
			return fail(j->err, j->errlen, "%s: expected an object", where);
		if (only_fields(v, where, efields, j) < 0 || get_string(v, "header_name", where, &h, j) < 0 ||
		    get_string(v, "claim_name", where, &c, j) < 0)
			return -1;
		if (!h || !c)
			return fail(j->err, j->errlen, "%s: header_name and claim_name are required", where);
		if (add_export(p, c, h, where, j->err, j->errlen) < 0)
			return -1;
	}
	arr = NULL;
	if (get_array(po, "required_claims", path, &arr, j) < 0)
		return -1;
	json_array_foreach(arr, i, v)
	{
		const char *n = NULL, *val = NULL;

		snprintf(where, sizeof(where), "%s.required_claims[%zu]", path, i);
		if (!json_is_object(v))
			return fail(j->err, j->errlen, "%s: expected an object", where);
		if (only_fields(v, where, rfields, j) < 0 || get_string(v, "name", where, &n, j) < 0 ||
		    get_string(v, "value", where, &val, j) < 0)
			return -1;
		if (!n || !val)
			return fail(j->err, j->errlen, "%s: name and value are required", where);
		if (add_rule(p, n, val, where, j->err, j->errlen) < 0)
			return -1;
	}
	return 0;
}

static int parse_provider(const char *name, json_t *po, struct provider *p, struct jctx *j)
{
	static const char *const fields[] = {"issuer",
	                                     "audiences",
	                                     "remote_jwks",
	                                     "local_jwks",
	                                     "oidc_discovery",
	                                     "from_headers",
	                                     "from_params",
	                                     "from_cookies",
	                                     "clock_skew_seconds",
	                                     "require_expiration",
	                                     "max_lifetime",
	                                     "claim_to_headers",
	                                     "required_claims",
	                                     "forward",
	                                     NULL};
	char path[200];
	const char *iss = NULL, *file = NULL;
	json_t *obj = NULL, *arr = NULL, *v;
	bool oom = false, forward = false;
	uint64_t u;
	double d;
	size_t i;

	snprintf(path, sizeof(path), "providers.%s", name);
	if (!json_is_object(po))
		return fail(j->err, j->errlen, "%s: expected an object", path);
	if (strlen(name) > 64 || !is_var_name(name))
		return fail(j->err, j->errlen, "%s: provider names use [A-Za-z0-9._], at most 64 bytes",
		            path);
	if (only_fields(po, path, fields, j) < 0)
		return -1;
	p->name = xstrdup(name, &oom);
	if (get_string(po, "issuer", path, &iss, j) < 0)
		return -1;
	p->issuer = xstrdup(iss, &oom);
	if (get_array(po, "audiences", path, &arr, j) < 0)
		return -1;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0)
			return fail(j->err, j->errlen, "%s.audiences[%zu]: expected a non-empty string", path,
			            i);
		if (p->n_audiences == CONFIG_MAX_AUDIENCES)
			return fail(j->err, j->errlen, "%s.audiences: at most %d", path,
			            CONFIG_MAX_AUDIENCES);
		p->audiences[p->n_audiences++] = xstrdup(json_string_value(v), &oom);
	}
	if (get_object(po, "remote_jwks", path, &obj, j) < 0)
		return -1;
	if (obj) {
		char sub[250];

		snprintf(sub, sizeof(sub), "%s.remote_jwks", path);
		if (parse_remote_jwks(obj, sub, p, j) < 0)
			return -1;
	}
	obj = NULL;
	if (get_object(po, "local_jwks", path, &obj, j) < 0)
		return -1;
	if (obj) {
		static const char *const lf[] = {"filename", NULL};
		char sub[250];

		snprintf(sub, sizeof(sub), "%s.local_jwks", path);
		if (only_fields(obj, sub, lf, j) < 0 || get_string(obj, "filename", sub, &file, j) < 0)
			return -1;
		if (!file)
			return fail(j->err, j->errlen, "%s.filename: required", sub);
		p->jwks_file = xstrdup(file, &oom);
	}
	if (get_bool(po, "oidc_discovery", path, &p->oidc_discovery, j) < 0 ||
	    get_bool(po, "require_expiration", path, &p->require_expiration, j) < 0 ||
	    get_bool(po, "forward", path, &forward, j) < 0)
		return -1;
	if (forward)
		return fail(j->err, j->errlen,
		            "%s.forward: not supported: HAProxy removes the token header (conf/haproxy.cfg)",
		            path);
	if (get_uint(po, "clock_skew_seconds", path, 0, 86400, &u, j) < 0)
		return -1;
	if (json_object_get(po, "clock_skew_seconds"))
		p->clock_skew_s = u;
	switch (get_duration(po, "max_lifetime", path, 9e9, &d, j)) {
	case -1:
		return -1;
	case 1:
		if (d < 1)
			return fail(j->err, j->errlen, "%s.max_lifetime: must be at least 1s", path);
		p->max_lifetime_s = (uint64_t)d;
	}
	if (parse_sources(po, path, p, j) < 0 || parse_claims(po, path, p, j) < 0)
		return -1;
	if (oom)
		return fail(j->err, j->errlen, "%s: out of memory", path);
	return provider_finish(p, path, j->err, j->errlen);
}

static int parse_agent_fields(json_t *root, struct config *cfg, struct jctx *j)
{
	const char *s = NULL;
	uint64_t u;

	if (get_string(root, "listen", "", &s, j) < 0)
		return -1;
	if (s && parse_listen(s, cfg) < 0)
		return fail(j->err, j->errlen, "listen: expected ADDR:PORT or [IPv6]:PORT with port 1-65535");
	s = NULL;
	if (get_string(root, "log_level", "", &s, j) < 0)
		return -1;
	if (s) {
		if (log_level_parse(s) < 0)
			return fail(j->err, j->errlen, "log_level: expected error, warn, info or debug");
		cfg->log_level = log_level_parse(s);
	}
	s = NULL;
	if (get_string(root, "log_format", "", &s, j) < 0)
		return -1;
	if (s) {
		if (strcmp(s, "json") != 0 && strcmp(s, "kv") != 0)
			return fail(j->err, j->errlen, "log_format: expected kv or json");
		cfg->log_json = strcmp(s, "json") == 0;
	}
	s = NULL;
	if (get_string(root, "metrics", "", &s, j) < 0)
		return -1;
	if (s && parse_hostport(s, cfg->metrics_host, sizeof(cfg->metrics_host), cfg->metrics_port,
	                        sizeof(cfg->metrics_port)) < 0)
		return fail(j->err, j->errlen,
		            "metrics: expected ADDR:PORT or [IPv6]:PORT with port 1-65535");
	if (get_uint(root, "threads", "", 1, 64, &u, j) < 0)
		return -1;
	if (json_object_get(root, "threads"))
		cfg->threads = (unsigned)u;
	if (get_uint(root, "max_frame_size", "", SPOP_MIN_FRAME_SIZE, 1048576, &u, j) < 0)
		return -1;
	if (json_object_get(root, "max_frame_size"))
		cfg->max_frame_size = (uint32_t)u;
	if (get_uint(root, "max_token_size", "", 16, 65536, &u, j) < 0)
		return -1;
	if (json_object_get(root, "max_token_size"))
		cfg->max_token_len = (size_t)u;
	if (get_uint(root, "max_claim_size", "", 1, 4096, &u, j) < 0)
		return -1;
	if (json_object_get(root, "max_claim_size"))
		cfg->max_claim_len = (size_t)u;
	if (get_uint(root, "jwt_cache_size", "", 0, 10000000, &u, j) < 0)
		return -1;
	if (json_object_get(root, "jwt_cache_size"))
		cfg->cache_entries = (size_t)u;
	return 0;
}

static int load_file(const char *file, struct config *cfg, char *err, size_t errlen)
{
	static const char *const fields[] = {
	    "listen",         "threads",        "log_level",      "log_format", "metrics", "max_frame_size",
	    "max_token_size", "max_claim_size", "jwt_cache_size", "providers",  NULL};
	struct jctx j = {err, errlen};
	json_error_t je;
	json_t *root, *providers, *po;
	const char *name;
	int ret = -1;

	err[0] = '\0';
	root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, errlen, "%s:%d:%d: %s", file, je.line, je.column, je.text);
	if (!json_is_object(root)) {
		fail(err, errlen, "%s: the top level must be an object", file);
		goto out;
	}
	if (only_fields(root, "", fields, &j) < 0 || parse_agent_fields(root, cfg, &j) < 0)
		goto out;
	providers = json_object_get(root, "providers");
	if (!json_is_object(providers) || json_object_size(providers) == 0) {
		fail(err, errlen, "providers: required, an object of at least one provider");
		goto out;
	}
	if (json_object_size(providers) > CONFIG_MAX_PROVIDERS) {
		fail(err, errlen, "providers: at most %d", CONFIG_MAX_PROVIDERS);
		goto out;
	}
	json_object_foreach(providers, name, po)
	{
		struct provider *p = &cfg->providers[cfg->n_providers++];

		provider_defaults(p);
		if (parse_provider(name, po, p, &j) < 0)
			goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* ---- flags ---- */

static void set_defaults(struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	snprintf(cfg->listen_port, sizeof(cfg->listen_port), "12345");
	cfg->threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
	cfg->max_frame_size = SPOP_DEFAULT_FRAME_SIZE;
	cfg->max_token_len = 8192;
	cfg->max_claim_len = 256;
	cfg->cache_entries = 10000;
	cfg->cache_bytes = 16u << 20;
	cfg->log_level = LOG_INFO;
}

/* Splits "CLAIM=VALUE" for --claim-to-var and --require-claim. */
static int split_pair(const char *arg, char *left, size_t room, const char **right)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || (size_t)(eq - arg) >= room || !eq[1])
		return -1;
	memcpy(left, arg, (size_t)(eq - arg));
	left[eq - arg] = '\0';
	*right = eq + 1;
	return 0;
}

/* Flags that describe the provider; refused alongside --config. */
static int apply_provider_opt(struct provider *p, int opt, const char *flag, const char *arg, char *err,
                              size_t errlen)
{
	char left[256];
	const char *right, *why;
	uint64_t u;
	double d;
	bool oom = false;

	switch (opt) {
	case OPT_JWKS_URI:
		why = check_url(arg);
		if (why)
			return fail(err, errlen, "%s: %s", flag, why);
		free(p->jwks_uri);
		p->jwks_uri = xstrdup(arg, &oom);
		break;
	case OPT_JWKS_FILE:
		free(p->jwks_file);
		p->jwks_file = xstrdup(arg, &oom);
		break;
	case OPT_OIDC:
		p->oidc_discovery = true;
		break;
	case OPT_CACHE_TIME:
		if (parse_duration(arg, 9e9, &d) < 0 || d < 0.001)
			return fail(err, errlen, "%s: expected seconds > 0", flag);
		p->cache_time_s = d;
		break;
	case OPT_FETCH_TIMEOUT:
		if (parse_u64(arg, 1, 60000, &u) < 0)
			return fail(err, errlen, "%s: expected milliseconds, 1-60000", flag);
		p->fetch_timeout_ms = (long)u;
		break;
	case OPT_MAX_STALE:
		if (parse_duration(arg, 9e9, &d) < 0)
			return fail(err, errlen, "%s: expected seconds >= 0", flag);
		p->max_stale_s = d;
		break;
	case OPT_REFETCH:
		if (parse_duration(arg, 86400, &d) < 0)
			return fail(err, errlen, "%s: expected seconds, 0-86400", flag);
		p->refetch_interval_s = d;
		break;
	case OPT_HEADER:
		if (!is_token(arg) || strlen(arg) > 100)
			return fail(err, errlen, "%s: expected an HTTP header name", flag);
		free(p->sources[0].name);
		free(p->sources[0].arg);
		p->sources[0].name = xstrdup(arg, &oom);
		p->sources[0].arg = xstrdup(arg, &oom);
		for (char *c = p->sources[0].name; c && *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (char *c = p->sources[0].arg; c && *c; c++)
			*c = (char)tolower((unsigned char)*c);
		break;
	case OPT_PREFIX:
		free(p->sources[0].prefix);
		p->sources[0].prefix = xstrdup(arg, &oom);
		break;
	case OPT_SKEW:
		if (parse_u64(arg, 0, 86400, &u) < 0)
			return fail(err, errlen, "%s: expected seconds, 0-86400", flag);
		p->clock_skew_s = u;
		break;
	case OPT_ISSUER:
		if (!*arg)
			return fail(err, errlen, "%s: must not be empty", flag);
		free(p->issuer);
		p->issuer = xstrdup(arg, &oom);
		break;
	case OPT_AUDIENCE:
		if (!*arg)
			return fail(err, errlen, "%s: must not be empty", flag);
		if (p->n_audiences == CONFIG_MAX_AUDIENCES)
			return fail(err, errlen, "%s: too many (at most %d)", flag, CONFIG_MAX_AUDIENCES);
		p->audiences[p->n_audiences++] = xstrdup(arg, &oom);
		break;
	case OPT_REQUIRE_EXP:
		p->require_expiration = true;
		break;
	case OPT_MAX_LIFETIME:
		if (parse_duration(arg, 9e9, &d) < 0 || d < 1)
			return fail(err, errlen, "%s: expected seconds >= 1", flag);
		p->max_lifetime_s = (uint64_t)d;
		break;
	case OPT_CLAIM_VAR:
		if (split_pair(arg, left, sizeof(left), &right) < 0)
			return fail(err, errlen, "%s: expected CLAIM=VAR", flag);
		return add_export(p, left, right, flag, err, errlen);
	case OPT_REQUIRE_CLAIM:
		if (split_pair(arg, left, sizeof(left), &right) < 0)
			return fail(err, errlen, "%s: expected CLAIM=VALUE", flag);
		return add_rule(p, left, right, flag, err, errlen);
	default:
		return fail(err, errlen, "%s: unknown option (see --help)", flag);
	}
	return oom ? fail(err, errlen, "%s: out of memory", flag) : 0;
}

static int apply_agent_opt(struct config *cfg, int opt, const char *flag, const char *arg, char *err,
                           size_t errlen)
{
	uint64_t u;

	switch (opt) {
	case OPT_LISTEN:
		if (parse_listen(arg, cfg) < 0)
			return fail(err, errlen, "%s: expected ADDR:PORT or [IPv6]:PORT with port 1-65535",
			            flag);
		break;
	case OPT_FRAME:
		if (parse_u64(arg, SPOP_MIN_FRAME_SIZE, 1048576, &u) < 0)
			return fail(err, errlen, "%s: expected bytes, 256-1048576", flag);
		cfg->max_frame_size = (uint32_t)u;
		break;
	case OPT_TOKEN:
		if (parse_u64(arg, 16, 65536, &u) < 0)
			return fail(err, errlen, "%s: expected bytes, 16-65536", flag);
		cfg->max_token_len = (size_t)u;
		break;
	case OPT_CLAIM:
		if (parse_u64(arg, 1, 4096, &u) < 0)
			return fail(err, errlen, "%s: expected bytes, 1-4096", flag);
		cfg->max_claim_len = (size_t)u;
		break;
	case OPT_CACHE_SIZE:
		if (parse_u64(arg, 0, 10000000, &u) < 0)
			return fail(err, errlen, "%s: expected entries, 0-10000000", flag);
		cfg->cache_entries = (size_t)u;
		break;
	case OPT_CACHE_BYTES:
		if (parse_u64(arg, 65536, (uint64_t)1 << 40, &u) < 0)
			return fail(err, errlen, "%s: expected bytes >= 65536", flag);
		cfg->cache_bytes = (size_t)u;
		break;
	case OPT_THREADS:
		if (parse_u64(arg, 1, 64, &u) < 0)
			return fail(err, errlen, "%s: expected 1-64", flag);
		cfg->threads = (unsigned)u;
		break;
	case OPT_LOG_LEVEL:
		if (log_level_parse(arg) < 0)
			return fail(err, errlen, "%s: expected error, warn, info or debug", flag);
		cfg->log_level = log_level_parse(arg);
		break;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "json") != 0 && strcmp(arg, "kv") != 0)
			return fail(err, errlen, "%s: expected kv or json", flag);
		cfg->log_json = strcmp(arg, "json") == 0;
		break;
	case OPT_METRICS:
		if (parse_hostport(arg, cfg->metrics_host, sizeof(cfg->metrics_host), cfg->metrics_port,
		                   sizeof(cfg->metrics_port)) < 0)
			return fail(err, errlen, "%s: expected ADDR:PORT or [IPv6]:PORT with port 1-65535",
			            flag);
		break;
	default:
		return 1; /* not an agent option */
	}
	return 0;
}

static const char *flag_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

enum config_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	struct provider *p = &cfg->providers[0];
	bool provider_flags = false;
	char flag[64];
	int opt, rc;

	set_defaults(cfg);
	provider_defaults(p);
	cfg->n_providers = 1;
	if (add_source(p, SOURCE_HEADER, "Authorization", "Bearer ", "--header", err, errlen) < 0)
		return CONFIG_ERROR;
	p->name = strdup("default");
	if (!p->name)
		return fail(err, errlen, "out of memory"), CONFIG_ERROR;
	/* 0, not 1: glibc then also forgets a half-read "-xc" bundle of an
	 * earlier call (SIGHUP re-parses, tests parse many times). */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c", long_opts, NULL)) != -1) {
		if (opt == OPT_HELP || opt == OPT_VERSION) {
			if (opt == OPT_HELP)
				config_usage(stdout);
			else
				printf("spoa-jwt %s\n", SPOA_JWT_VERSION);
			return CONFIG_EXIT;
		}
		if (opt == '?' || opt == ':') {
			if (optopt > 0 && optopt < 256 && optopt != 'c')
				fail(err, errlen, "-%c: unknown option (see --help)", optopt);
			else
				fail(err, errlen, "%s: unknown option or missing value (see --help)",
				     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			return CONFIG_ERROR;
		}
		if (opt == 'c') {
			cfg->check_only = true;
			continue;
		}
		if (opt == OPT_CONFIG) {
			cfg->config_file = optarg;
			continue;
		}
		snprintf(flag, sizeof(flag), "--%s", flag_name(opt));
		rc = apply_agent_opt(cfg, opt, flag, optarg, err, errlen);
		if (rc < 0)
			return CONFIG_ERROR;
		if (rc == 0)
			continue;
		provider_flags = true;
		if (apply_provider_opt(p, opt, flag, optarg, err, errlen) < 0)
			return CONFIG_ERROR;
	}
	if (optind < argc)
		return fail(err, errlen, "%s: unexpected argument", argv[optind]), CONFIG_ERROR;
	if (cfg->config_file) {
		if (provider_flags)
			return fail(
			           err, errlen,
			           "--config: provider flags (--jwks-uri, --issuer, ...) belong in the file"),
			       CONFIG_ERROR;
		config_free(cfg);
		return load_file(cfg->config_file, cfg, err, errlen) < 0 ? CONFIG_ERROR : CONFIG_OK;
	}
	if (!p->jwks_uri && !p->jwks_file && !p->oidc_discovery)
		return fail(err, errlen, "--jwks-uri: is required (or --jwks-file, or --oidc-discovery)"),
		       CONFIG_ERROR;
	if (p->jwks_uri && p->jwks_file)
		return fail(err, errlen, "--jwks-file: not with --jwks-uri"), CONFIG_ERROR;
	if (provider_finish(p, "default provider", err, errlen) < 0) {
		if (strstr(err, "fetch timeout"))
			fail(err, errlen, "--fetch-timeout: must not exceed --cache-time");
		else if (strstr(err, "OIDC"))
			fail(err, errlen, "--oidc-discovery: needs --issuer with an http(s) URL");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}
