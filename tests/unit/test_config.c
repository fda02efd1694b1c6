/* Command-line parsing and the token extraction / audience rules of verify.c. */
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "t.h"
#include "verify.h"

#define ARGV(...) ((char *[]){"spoa-jwt", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"spoa-jwt", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...) config_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, err, sizeof(err))

static void test_config(void)
{
	struct config cfg;
	char err[256];

	ok(PARSE(&cfg, err, "--jwks-uri", "http://127.0.0.1:8081/auth/v1") == CONFIG_OK, "minimal config");
	ok(strcmp(cfg.listen_host, "127.0.0.1") == 0 && strcmp(cfg.listen_port, "12345") == 0, "default listen");
	ok(cfg.cache_time_s == 300 && cfg.fetch_timeout_ms == 1000 && cfg.clock_skew_s == 60, "defaults");
	ok(strcmp(cfg.header, "authorization") == 0 && strcmp(cfg.prefix, "Bearer ") == 0, "default header/prefix");

	ok(PARSE(&cfg, err, "--listen", "[::1]:9000", "--jwks-uri", "https://idp.example/jwks") == CONFIG_OK &&
	       strcmp(cfg.listen_host, "::1") == 0 && strcmp(cfg.listen_port, "9000") == 0,
	   "IPv6 listen");
	ok(PARSE(&cfg, err, "--header", "X-Token", "--prefix", "", "--jwks-uri", "http://a/") == CONFIG_OK &&
	       strcmp(cfg.header, "x-token") == 0 && strcmp(cfg.prefix, "") == 0,
	   "header lower-cased, empty prefix");

	ok(PARSE(&cfg, err, "--listen", "127.0.0.1:1") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "missing --jwks-uri names the flag: %s", err);
	ok(PARSE(&cfg, err, "--jwks-uri", "ftp://a/b") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "ftp URL refused: %s", err);
	ok(PARSE(&cfg, err, "--jwks-uri", "not a url") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "garbage URL refused: %s", err);
	ok(PARSE(&cfg, err, "--listen", "127.0.0.1:70000", "--jwks-uri", "http://a/") == CONFIG_ERROR &&
	       strstr(err, "--listen"),
	   "port out of range: %s", err);
	ok(PARSE(&cfg, err, "--listen", "127.0.0.1:0", "--jwks-uri", "http://a/") == CONFIG_ERROR, "port 0");
	ok(PARSE(&cfg, err, "--listen", "127.0.0.1", "--jwks-uri", "http://a/") == CONFIG_ERROR, "no port");
	ok(PARSE(&cfg, err, "--listen", "::1:80", "--jwks-uri", "http://a/") == CONFIG_ERROR, "bare IPv6");
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--cache-time", "-1") == CONFIG_ERROR &&
	       strstr(err, "--cache-time"),
	   "negative cache time: %s", err);
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--fetch-timeout", "abc") == CONFIG_ERROR &&
	       strstr(err, "--fetch-timeout"),
	   "bad timeout: %s", err);
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--header", "bad header") == CONFIG_ERROR, "bad header");
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--bogus") == CONFIG_ERROR, "unknown flag: %s", err);
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "extra") == CONFIG_ERROR, "stray argument");
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--max-frame-size", "255") == CONFIG_ERROR,
	   "frame size below 256");
}

static void test_extract(void)
{
	const char *tok;
	size_t len;
	const char *h;

	h = "Bearer a.b.c";
	ok(verify_extract("Bearer ", h, strlen(h), &tok, &len) && len == 5 && memcmp(tok, "a.b.c", 5) == 0,
	   "Bearer prefix");
	h = "bearer a.b.c";
	ok(!verify_extract("Bearer ", h, strlen(h), &tok, &len), "prefix is case-sensitive (Envoy)");
	h = "Basic dXNlcjpwYXNz";
	ok(!verify_extract("Bearer ", h, strlen(h), &tok, &len), "other scheme: no token");
	h = "Bearer ";
	ok(!verify_extract("Bearer ", h, strlen(h), &tok, &len), "empty token: missing");
	h = "Bearer wrong-jwt-token";
	ok(verify_extract("Bearer ", h, strlen(h), &tok, &len) && len == 15, "wrong-jwt-token extracted");
	h = "Bearer a.b.c, other";
	ok(verify_extract("Bearer ", h, strlen(h), &tok, &len) && len == 5, "token ends at a non-JWT char");
	h = "  x.y.z ";
	ok(verify_extract("", h, strlen(h), &tok, &len) && len == 5, "no prefix: whole value trimmed");
	ok(!verify_extract("Bearer ", NULL, 0, &tok, &len), "absent header");
}

static void test_audience(void)
{
	struct config cfg;
	struct jwt jwt;
	char err[256];

	memset(&jwt, 0, sizeof(jwt));
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/", "--audience", "https://api.example.com/", "--audience", "b") ==
	       CONFIG_OK,
	   "audiences parsed");
	jwt.n_aud = 1;
	jwt.aud[0] = "api.example.com";
	ok(verify_audience_allowed(&cfg, &jwt), "scheme and trailing slash ignored");
	jwt.aud[0] = "http://b/";
	ok(verify_audience_allowed(&cfg, &jwt), "second audience");
	jwt.aud[0] = "c";
	ok(!verify_audience_allowed(&cfg, &jwt), "other audience refused");
	jwt.n_aud = 0;
	ok(!verify_audience_allowed(&cfg, &jwt), "no aud claim refused when audiences are configured");
	ok(PARSE(&cfg, err, "--jwks-uri", "http://a/") == CONFIG_OK && verify_audience_allowed(&cfg, &jwt),
	   "no audiences configured: not checked");
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_config();
	test_extract();
	test_audience();
	curl_global_cleanup();
	return t_done("test_config");
}
