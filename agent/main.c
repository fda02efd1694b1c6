/*
 * spoa-jwt: a HAProxy SPOE agent that verifies JWTs against a remote JWKS.
 * main only parses the configuration and hands over to the server.
 */
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

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
	switch (config_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CONFIG_EXIT:
		curl_global_cleanup();
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "spoa-jwt: %s\n", err);
		curl_global_cleanup();
		return 2;
	case CONFIG_OK:
		break;
	}
	log_set_level(cfg.log_level);
	status = server_run(&cfg);
	curl_global_cleanup();
	return status;
}
