/* Configuration (flags and JSON file), token extraction, audience and
 * claim rules, claim export rendering. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "log.h"
#include "t.h"
#include "verify.h"

#define ARGV(...) ((char *[]){"spoa-jwt", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"spoa-jwt", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...) parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, err, sizeof(err))

static enum config_result parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	static bool used;
	enum config_result r;

	if (used)
		config_free(cfg);
	used = true;
	err[0] = '\0';
	r = config_parse(argc, argv, cfg, err, errlen);
	return r;
}

static void test_flags(struct config *cfg)
{
	const struct provider *p = &cfg->providers[0];
	char err[256];

	ok(PARSE(cfg, err, "--jwks-uri", "http://127.0.0.1:8081/auth/v1") == CONFIG_OK, "minimal config");
	ok(strcmp(cfg->listen_host, "127.0.0.1") == 0 && strcmp(cfg->listen_port, "12345") == 0, "default listen");
	ok(cfg->n_providers == 1 && strcmp(p->name, "default") == 0, "one provider named default");
	ok(p->cache_time_s == 300 && p->fetch_timeout_ms == 1000 && p->clock_skew_s == 60, "defaults");
	ok(p->n_sources == 1 && strcmp(p->sources[0].arg, "authorization") == 0 &&
	       strcmp(p->sources[0].prefix, "Bearer ") == 0,
	   "default header/prefix");
	ok(PARSE(cfg, err, "--listen", "[::1]:9000", "--jwks-uri", "https://idp.example/jwks") == CONFIG_OK &&
	       strcmp(cfg->listen_host, "::1") == 0 && strcmp(cfg->listen_port, "9000") == 0,
	   "IPv6 listen");
	ok(PARSE(cfg, err, "--header", "X-Token", "--prefix", "", "--jwks-uri", "http://a/") == CONFIG_OK &&
	       strcmp(p->sources[0].arg, "x-token") == 0 && strcmp(p->sources[0].prefix, "") == 0,
	   "header lower-cased, empty prefix");
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--claim-to-var", "sub=x-user", "--require-claim",
	         "scope=chat") == CONFIG_OK &&
	       p->n_exports == 1 && strcmp(p->exports[0].var, "x_user") == 0 && p->n_required == 1,
	   "claim export and required claim flags");
	ok(PARSE(cfg, err, "--jwks-file", "/nonexistent.json", "--threads", "3") == CONFIG_OK && p->jwks_file &&
	       cfg->threads == 3,
	   "local JWKS file");
	ok(PARSE(cfg, err, "--oidc-discovery", "--issuer", "https://idp.example") == CONFIG_OK && p->oidc_discovery,
	   "OIDC discovery");
	ok(PARSE(cfg, err, "--oidc-discovery") == CONFIG_ERROR && strstr(err, "--oidc-discovery"),
	   "OIDC discovery without issuer: %s", err);

	ok(PARSE(cfg, err, "--listen", "127.0.0.1:1") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "missing --jwks-uri names the flag: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "ftp://a/b") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "ftp URL refused: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "not a url") == CONFIG_ERROR && strstr(err, "--jwks-uri"),
	   "garbage URL refused: %s", err);
	ok(PARSE(cfg, err, "--listen", "127.0.0.1:70000", "--jwks-uri", "http://a/") == CONFIG_ERROR &&
	       strstr(err, "--listen"),
	   "port out of range: %s", err);
	ok(PARSE(cfg, err, "--listen", "127.0.0.1:0", "--jwks-uri", "http://a/") == CONFIG_ERROR, "port 0");
	ok(PARSE(cfg, err, "--listen", "127.0.0.1", "--jwks-uri", "http://a/") == CONFIG_ERROR, "no port");
	ok(PARSE(cfg, err, "--listen", "::1:80", "--jwks-uri", "http://a/") == CONFIG_ERROR, "bare IPv6");
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--cache-time", "-1") == CONFIG_ERROR &&
	       strstr(err, "--cache-time"),
	   "negative cache time: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--fetch-timeout", "abc") == CONFIG_ERROR &&
	       strstr(err, "--fetch-timeout"),
	   "bad timeout: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--cache-time", "0.5") == CONFIG_ERROR &&
	       strstr(err, "--fetch-timeout"),
	   "timeout over cache time: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--header", "bad header") == CONFIG_ERROR, "bad header");
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--bogus") == CONFIG_ERROR, "unknown flag: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "extra") == CONFIG_ERROR, "stray argument");
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--max-frame-size", "255") == CONFIG_ERROR,
	   "frame size below 256");
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--claim-to-var", "sub=bad var") == CONFIG_ERROR,
	   "unusable variable name: %s", err);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--jwks-file", "x") == CONFIG_ERROR, "two key sources");
}

static const char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/spoa-jwt-cfg-%d.json", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_file(struct config *cfg)
{
	static const char good[] =
		"{\"listen\": \"127.0.0.1:9999\", \"threads\": 2, \"log_level\": \"debug\",\n"
		" \"providers\": {\n"
		"  \"corp\": {\"issuer\": \"https://corp.example\", \"audiences\": [\"llm\"],\n"
		"    \"remote_jwks\": {\"http_uri\": {\"uri\": \"https://corp.example/jwks\", \"timeout\": \"0.5s\"},\n"
		"                      \"cache_duration\": \"600s\"},\n"
		"    \"from_headers\": [{\"name\": \"X-Jwt\", \"value_prefix\": \"\"}],\n"
		"    \"from_cookies\": [\"session\"],\n"
		"    \"claim_to_headers\": [{\"header_name\": \"x-jwt-sub\", \"claim_name\": \"sub\"}],\n"
		"    \"required_claims\": [{\"name\": \"scope\", \"value\": \"chat\"}],\n"
		"    \"require_expiration\": true, \"max_lifetime\": \"86400s\", \"clock_skew_seconds\": 30},\n"
		"  \"partner\": {\"local_jwks\": {\"filename\": \"/etc/partner.json\"}}\n"
		" }}\n";
	const struct provider *corp, *partner;
	char err[256];
	const char *path = write_tmp(good);

	ok(path && PARSE(cfg, err, "--config", (char *)path) == CONFIG_OK, "JSON config parses: %s", err);
	corp = config_provider(cfg, "corp", 4);
	partner = config_provider(cfg, "partner", 7);
	ok(cfg->n_providers == 2 && corp && partner, "two providers");
	ok(strcmp(cfg->listen_port, "9999") == 0 && cfg->threads == 2, "agent fields");
	ok(corp && corp->fetch_timeout_ms == 500 && corp->cache_time_s == 600 && corp->clock_skew_s == 30 &&
	       corp->require_expiration && corp->max_lifetime_s == 86400,
	   "durations and flags");
	ok(corp && corp->n_sources == 2 && strcmp(corp->sources[0].arg, "x-jwt") == 0 &&
	       strcmp(corp->sources[1].arg, "cookie.session") == 0,
	   "token locations and their SPOE argument names");
	ok(corp && corp->n_exports == 1 && strcmp(corp->exports[0].var, "x_jwt_sub") == 0, "claim_to_headers");
	ok(partner && partner->n_sources == 2 && strcmp(partner->sources[0].arg, "authorization") == 0 &&
	       strcmp(partner->sources[1].arg, "param.access_token") == 0,
	   "Envoy's default locations when none are given");
	ok(PARSE(cfg, err, "--config", (char *)path, "--listen", "127.0.0.1:7000") == CONFIG_OK &&
	       strcmp(cfg->listen_port, "9999") == 0,
	   "the file's listen wins over flags given before it is read");
	ok(PARSE(cfg, err, "--config", (char *)path, "--jwks-uri", "http://a/") == CONFIG_ERROR &&
	       strstr(err, "--config"),
	   "provider flags refused with --config: %s", err);

	path = write_tmp("{\"providers\": {\"a\": {\"remote_jwks\": {\"http_uri\": {\"uri\": 5}}}}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR &&
	       strstr(err, "providers.a.remote_jwks.http_uri.uri"),
	   "wrong type names the field: %s", err);
	path = write_tmp("{\"providers\": {\"a\": {\"local_jwks\": {\"filename\": \"f\"}, \"isuer\": \"x\"}}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR && strstr(err, "providers.a.isuer"),
	   "unknown field names the field: %s", err);
	path = write_tmp("{\"providers\": {\"a\": {\"issuer\": \"x\"}}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR && strstr(err, "providers.a"),
	   "no key source: %s", err);
	path = write_tmp("{\"providers\": {\"a\": {\"local_jwks\": {\"filename\": \"f\"}, \"max_lifetime\": \"x\"}}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR && strstr(err, "providers.a.max_lifetime"),
	   "bad duration: %s", err);
	path = write_tmp("{\"providers\": {}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR && strstr(err, "providers"),
	   "no providers: %s", err);
	path = write_tmp("{\"providers\": {\"a\": {}, \"a\": {}}}");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR, "duplicate provider: %s", err);
	path = write_tmp("{\"providers\": ");
	ok(PARSE(cfg, err, "--config", (char *)path) == CONFIG_ERROR && strstr(err, ":1:"),
	   "truncated JSON gives line and column: %s", err);
	ok(PARSE(cfg, err, "--config", "/nonexistent/spoa.json") == CONFIG_ERROR, "missing file: %s", err);
	unlink(path);
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

static void test_rules(struct config *cfg)
{
	const struct provider *p = &cfg->providers[0];
	struct jwt jwt;
	char err[256], *out;
	size_t out_len;
	json_error_t je;

	memset(&jwt, 0, sizeof(jwt));
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/", "--audience", "https://api.example.com/", "--audience", "b",
	         "--require-claim", "scope=chat", "--require-claim", "roles=admin", "--claim-to-var", "sub=sub",
	         "--claim-to-var", "org.id=org", "--claim-to-var", "n=n", "--claim-to-var", "bad=bad",
	         "--claim-to-var", "arr=arr") == CONFIG_OK,
	   "rules parsed: %s", err);
	jwt.n_aud = 1;
	jwt.aud[0] = "api.example.com";
	ok(verify_audience_allowed(p, &jwt), "scheme and trailing slash ignored");
	jwt.aud[0] = "http://b/";
	ok(verify_audience_allowed(p, &jwt), "second audience");
	jwt.aud[0] = "c";
	ok(!verify_audience_allowed(p, &jwt), "other audience refused");
	jwt.n_aud = 0;
	ok(!verify_audience_allowed(p, &jwt), "no aud claim refused when audiences are configured");

	jwt.payload = json_loads("{\"scope\":\"read chat write\",\"roles\":[\"user\",\"admin\"],\"sub\":\"alice\","
	                         "\"org\":{\"id\":42},\"n\":1.5,\"bad\":\"a\\r\\nb\",\"arr\":[1]}",
	                         0, &je);
	ok(jwt.payload && verify_claims_allowed(p, &jwt), "scope word and array member satisfy the rules");
	json_object_set_new(jwt.payload, "scope", json_string("chatty read"));
	ok(!verify_claims_allowed(p, &jwt), "a word must match whole");
	json_object_set_new(jwt.payload, "scope", json_string("chat"));
	json_object_del(jwt.payload, "roles");
	ok(!verify_claims_allowed(p, &jwt), "missing claim fails");
	ok(verify_render_exports(p, &jwt, cfg->max_claim_len, &out, &out_len) == 0 && out &&
	       out_len == sizeof("sub\0alice\0org\0" "42\0n\0" "1.5") &&
	       memcmp(out, "sub\0alice\0org\0" "42\0n\0" "1.5", out_len) == 0,
	   "exports: string, nested integer, real; CR/LF value and array skipped");
	free(out);
	json_decref(jwt.payload);
	ok(PARSE(cfg, err, "--jwks-uri", "http://a/") == CONFIG_OK && verify_audience_allowed(p, &jwt),
	   "no audiences configured: not checked");
}

static void test_log_quote(void)
{
	char q[LOG_QUOTE_BUF];

	ok(strcmp(log_quote_url(q, "https://user:secret@idp.example/jwks"), "\"https://***@idp.example/jwks\"") == 0,
	   "credentials in a URL are redacted: %s", q);
	ok(strcmp(log_quote_url(q, "https://idp.example/a@b"), "\"https://idp.example/a@b\"") == 0,
	   "an @ in the path is not userinfo: %s", q);
	ok(strcmp(log_quote(q, "a\"b\r\nc", 6), "\"a\\\"b\\x0d\\x0ac\"") == 0, "quotes, CR and LF escaped: %s", q);
}

int main(void)
{
	struct config cfg;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&cfg, 0, sizeof(cfg));
	test_flags(&cfg);
	test_file(&cfg);
	test_extract();
	test_rules(&cfg);
	test_log_quote();
	config_free(&cfg);
	curl_global_cleanup();
	return t_done("test_config");
}
