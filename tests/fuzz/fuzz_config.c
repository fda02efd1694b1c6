/*
 * libFuzzer target for the configuration loader (agent/config.c).
 *
 * Built and run by tests/fuzz/run.sh. Two kinds of input:
 *   - starting with '{': a JSON configuration file; it is written to a
 *     temporary file and loaded with `spoa-jwt -c --config FILE`;
 *   - anything else: command-line arguments, split on NUL and newline
 *     (argv[0] is always "spoa-jwt"). An argument that would name a
 *     configuration file (--config, or an abbreviation of it) is dropped:
 *     the fuzzer must not make the loader read /dev/stdin or /dev/zero.
 * Every result must leave a well-formed configuration or an error message;
 * config_free is called in every case (LeakSanitizer checks it frees all).
 * config_usage is printed to /dev/null on one input in 64.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"

#define check(cond) ((cond) ? (void)0 : __builtin_trap())
#define MAX_ARGS 64

static FILE *devnull;
static int file_fd = -1;
static char file_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_object_seed(1);
	devnull = fopen("/dev/null", "w");
	snprintf(file_path, sizeof(file_path), "/tmp/fuzz_config.XXXXXX");
	file_fd = mkstemp(file_path);
	if (!devnull || file_fd < 0)
		abort();
	/* Unlinked at once and read back through /proc, so nothing is left in
	 * /tmp whatever way the fuzzer ends. */
	unlink(file_path);
	snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
	return 0;
}

/* "--config", "--conf=x", "--c": anything getopt_long could resolve to
 * --config (it accepts unambiguous prefixes). */
static bool names_config(const char *a)
{
	size_t n;

	if (a[0] != '-' || a[1] != '-' || a[2] == '\0')
		return false;
	a += 2;
	n = strcspn(a, "=");
	return n <= 6 && strncmp(a, "config", n) == 0;
}

static void check_result(enum config_result r, const struct config *cfg, const char *err)
{
	size_t i, j;

	if (r == CONFIG_ERROR) {
		check(memchr(err, '\0', 256) != NULL);
		check(err[0] != '\0');
		return;
	}
	if (r != CONFIG_OK)
		return;
	check(cfg->n_providers >= 1 && cfg->n_providers <= CONFIG_MAX_PROVIDERS);
	check(cfg->threads >= 1 && cfg->threads <= 64);
	check(cfg->max_frame_size >= 256 && cfg->max_frame_size <= 1048576);
	check(memchr(cfg->listen_host, '\0', sizeof(cfg->listen_host)) != NULL);
	check(memchr(cfg->listen_port, '\0', sizeof(cfg->listen_port)) != NULL);
	for (i = 0; i < cfg->n_providers; i++) {
		const struct provider *p = &cfg->providers[i];

		check(p->name != NULL);
		check(config_provider(cfg, p->name, strlen(p->name)) == p);
		check(p->jwks_uri || p->jwks_file || p->oidc_discovery);
		check(p->n_audiences <= CONFIG_MAX_AUDIENCES);
		check(p->n_sources >= 1 && p->n_sources <= CONFIG_MAX_SOURCES);
		check(p->n_exports <= CONFIG_MAX_CLAIMS && p->n_required <= CONFIG_MAX_CLAIMS);
		for (j = 0; j < p->n_audiences; j++)
			check(p->audiences[j] != NULL);
		for (j = 0; j < p->n_sources; j++)
			check(p->sources[j].name && p->sources[j].arg);
		for (j = 0; j < p->n_exports; j++)
			check(p->exports[j].claim && p->exports[j].var &&
			      strlen(p->exports[j].var) <= CONFIG_MAX_VAR_NAME);
	}
}

/* config_parse sets optind = 1, which does not reset glibc's getopt: after
 * an error inside a bundle of short options ("-xy") its next-character
 * pointer still points into the previous call's argv, and the next
 * config_parse reads from there (freed memory here). main parses once, so
 * only repeated callers (tests, this fuzzer) are affected; optind = 0 is the
 * full reset, done here so every input runs from a clean state. */
static void reset_getopt(void)
{
	char *argv[] = {"spoa-jwt", NULL};

	optind = 0;
	opterr = 0;
	while (getopt(1, argv, "") != -1)
		;
}

static void run(int argc, char **argv)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char err[256];
	enum config_result r;

	if (!cfg)
		return;
	memset(err, 0, sizeof(err));
	reset_getopt();
	r = config_parse(argc, argv, cfg, err, sizeof(err));
	check(r == CONFIG_OK || r == CONFIG_EXIT || r == CONFIG_ERROR);
	check_result(r, cfg, err);
	config_free(cfg);
	free(cfg);
}

static void run_file(const uint8_t *data, size_t size)
{
	char *argv[] = {"spoa-jwt", "-c", "--config", file_path, NULL};

	if (ftruncate(file_fd, 0) < 0 || pwrite(file_fd, data, size, 0) != (ssize_t)size)
		abort();
	run(4, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *args[MAX_ARGS + 1];
	char *argv[MAX_ARGS + 2];
	int n = 0, argc = 1, i;
	size_t start = 0, k;

	if ((size & 63) == 0)
		config_usage(devnull);
	if (size > 0 && data[0] == '{') {
		run_file(data, size);
		return 0;
	}
	/* One heap block per argument, sized exactly, so ASan sees any read
	 * past an argument's end. */
	for (k = 0; k <= size && n < MAX_ARGS; k++) {
		if (k < size && data[k] != '\0' && data[k] != '\n')
			continue;
		args[n] = malloc(k - start + 1);
		if (!args[n])
			break;
		memcpy(args[n], data + start, k - start);
		args[n][k - start] = '\0';
		n++;
		start = k + 1;
	}
	argv[0] = "spoa-jwt";
	for (i = 0; i < n; i++)
		if (!names_config(args[i]))
			argv[argc++] = args[i];
	argv[argc] = NULL;
	run(argc, argv);
	for (i = 0; i < n; i++)
		free(args[i]);
	return 0;
}
