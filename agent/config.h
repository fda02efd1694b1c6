/*
 * Configuration, parsed once into an immutable struct config: from flags
 * (one provider named "default") or from a JSON file (--config) whose
 * provider fields follow Envoy's JwtProvider names. Errors name the flag or
 * the field's path and make main exit with status 2.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_PROVIDERS 16
#define CONFIG_MAX_AUDIENCES 16
#define CONFIG_MAX_SOURCES   8
#define CONFIG_MAX_CLAIMS    16
/* "txn.jwt.claim." + name must stay under HAProxy's 64-byte variable name */
#define CONFIG_MAX_VAR_NAME 48

/* Where a token may be: an HTTP header with a prefix, a query parameter or
 * a cookie. HAProxy sends each as a SPOE argument named after it: the header
 * name lower-cased, "param.<name>", "cookie.<name>". */
enum source_kind { SOURCE_HEADER, SOURCE_PARAM, SOURCE_COOKIE };

struct source {
	enum source_kind kind;
	char *name;   /* header lower-cased; param/cookie as given */
	char *prefix; /* headers only; "" = whole value */
	char *arg;    /* the SPOE argument name */
};

struct claim_export {
	char *claim; /* dotted path: "a.b.c" */
	char *var;   /* exported as txn.jwt.claim.<var> */
};

struct claim_rule {
	char *claim; /* dotted path */
	char *value; /* claim == value, or contains it (array, or space-separated words) */
};

struct provider {
	char *name;
	char *issuer; /* NULL: iss not checked */
	size_t n_audiences;
	char *audiences[CONFIG_MAX_AUDIENCES];
	char *jwks_uri;            /* remote_jwks.http_uri.uri */
	char *jwks_file;           /* local_jwks.filename */
	bool oidc_discovery;       /* keys from <issuer>/.well-known/openid-configuration */
	double cache_time_s;       /* remote_jwks.cache_duration, default 300 */
	long fetch_timeout_ms;     /* remote_jwks.http_uri.timeout, default 1000 */
	double max_stale_s;        /* default 600 */
	double refetch_interval_s; /* unknown-kid refetch rate limit, default 30 */
	size_t n_sources;
	struct source sources[CONFIG_MAX_SOURCES];
	uint64_t clock_skew_s; /* clock_skew_seconds, default 60 */
	bool require_expiration;
	uint64_t max_lifetime_s; /* 0 = no limit */
	size_t n_exports;
	struct claim_export exports[CONFIG_MAX_CLAIMS]; /* claim_to_headers */
	size_t n_required;
	struct claim_rule required[CONFIG_MAX_CLAIMS]; /* required_claims */
};

struct config {
	char listen_host[256]; /* numeric address or name, without brackets */
	char listen_port[8];
	unsigned threads;        /* --threads, default: online CPUs */
	uint32_t max_frame_size; /* --max-frame-size, default 16380 */
	size_t max_token_len;    /* --max-token-size, default 8192 */
	size_t max_claim_len;    /* --max-claim-size, default 256 */
	size_t cache_entries;    /* --cache-size, per thread, default 10000; 0 = off */
	size_t cache_bytes;      /* --cache-bytes, per thread, default 16 MiB */
	int log_level;           /* --log-level */
	bool log_json;           /* --log-format json */
	char metrics_host[256];  /* --metrics ADDR:PORT; empty = no metrics server */
	char metrics_port[8];
	const char *config_file; /* --config */
	bool check_only;         /* -c: check the configuration and exit */
	size_t n_providers;
	struct provider providers[CONFIG_MAX_PROVIDERS];
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT = 1, CONFIG_ERROR = -1 };

/* Fills <cfg> from argv (and the file --config names). CONFIG_EXIT after
 * --help/--version (printed to stdout); CONFIG_ERROR with a message naming
 * the flag or field in <err>. config_free() in every case. */
enum config_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
void config_usage(FILE *out);

/* The provider called <name> (<len> bytes), or NULL. */
const struct provider *config_provider(const struct config *cfg, const char *name, size_t len);

#endif
