/*
 * Command-line configuration, parsed once into an immutable struct config.
 * Errors name the flag and make main exit with status 2.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_AUDIENCES 16

struct config {
	char listen_host[256];          /* numeric address or name, without brackets */
	char listen_port[8];
	const char *jwks_uri;           /* from argv */
	double cache_time_s;            /* --cache-time, default 300 */
	long fetch_timeout_ms;          /* --fetch-timeout, default 1000 */
	double max_stale_s;             /* --max-stale, default 600 */
	double refetch_interval_s;      /* --refetch-interval, default 30 */
	char header[128];               /* --header, lower-cased: the SPOE argument name */
	const char *prefix;             /* --prefix, default "Bearer " */
	uint64_t clock_skew_s;          /* --clock-skew, default 60 */
	const char *issuer;             /* --issuer, NULL = not checked */
	size_t n_audiences;
	const char *audiences[CONFIG_MAX_AUDIENCES]; /* --audience, repeatable */
	uint32_t max_frame_size;        /* --max-frame-size, default 16380 */
	size_t max_token_len;           /* --max-token-size, default 8192 */
	size_t max_claim_len;           /* --max-claim-size, default 256 */
	size_t cache_entries;           /* --cache-size, verified tokens per thread, default 10000; 0 = off */
	size_t cache_bytes;             /* --cache-bytes, per thread, default 16 MiB */
	unsigned threads;               /* --threads, default: online CPUs */
	int log_level;                  /* --log-level */
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT = 1, CONFIG_ERROR = -1 };

/* Fills <cfg> from argv. CONFIG_EXIT after --help/--version (printed to
 * stdout); CONFIG_ERROR with a message naming the flag in <err>. */
enum config_result config_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen);
void config_usage(FILE *out);

#endif
