/*
 * spoa-jwt: a HAProxy SPOE agent that verifies JWTs against a remote JWKS.
 * main only parses the configuration and hands over to the server.
 */
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "server.h"

int main(int argc, char **argv)
{
	struct config cfg;
	char err[256];
	int status;

	/* Before any thread: both libraries say so. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "spoa-jwt: curl_global_init failed\n");
		return 1;
	}
	json_object_seed(0);
	status = cli_run(argc, argv);
	if (status >= 0) {
		curl_global_cleanup();
		return status;
	}
	switch (config_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CONFIG_EXIT:
		status = 0;
		goto out;
	case CONFIG_ERROR:
		fprintf(stderr, "spoa-jwt: %s\n", err);
		status = 2;
		goto out;
	case CONFIG_OK:
		break;
	}
	if (cfg.check_only) {
		printf("Configuration is valid: %zu provider(s)\n", cfg.n_providers);
		status = 0;
		goto out;
	}
	log_set_level(cfg.log_level);
	log_set_json(cfg.log_json);
	status = server_run(&cfg, argc, argv);
out:
	config_free(&cfg);
	curl_global_cleanup();
	return status;
}
