#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "log.h"

/* Cache entries are valid for one provider's key-set generation. */
#define GEN_KEY(pidx, gen) (((uint64_t)(pidx) << 48) | ((gen)&0xffffffffffffull))

/* base64url and '.', the characters of a compact JWS. A table: the token
 * is scanned on every request, cache hits included. */
static const bool token_chars[256] = {
    ['-'] = true, ['.'] = true, ['_'] = true, ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true,
    ['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true, ['A'] = true,
    ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true, ['F'] = true, ['G'] = true, ['H'] = true,
    ['I'] = true, ['J'] = true, ['K'] = true, ['L'] = true, ['M'] = true, ['N'] = true, ['O'] = true,
    ['P'] = true, ['Q'] = true, ['R'] = true, ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true,
    ['W'] = true, ['X'] = true, ['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true,
    ['d'] = true, ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true,
    ['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true, ['q'] = true,
    ['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true, ['w'] = true, ['x'] = true,
    ['y'] = true, ['z'] = true,
};

static inline bool is_token_char(unsigned char c)
{
	return token_chars[c];
}

bool verify_extract(const char *prefix, const char *hdr, size_t len, const char **tok, size_t *tok_len)
{
	size_t plen = strlen(prefix), start, end;
	const char *at;

	if (!hdr)
		return false;
	if (plen == 0) {
		start = 0;
		end = len;
		while (start < end && hdr[start] == ' ')
			start++;
		while (end > start && hdr[end - 1] == ' ')
			end--;
	} else {
		/* Almost always the value starts with the prefix. */
		if (len >= plen && memcmp(hdr, prefix, plen) == 0)
			at = hdr;
		else
			at = memmem(hdr, len, prefix, plen);
		if (!at)
			return false;
		start = (size_t)(at - hdr) + plen;
		/* Envoy: the token starts at the first JWT character after the
		 * prefix and ends at the first character that cannot be in one. */
		while (start < len && !is_token_char((unsigned char)hdr[start]))
			start++;
		end = start;
		while (end < len && is_token_char((unsigned char)hdr[end]))
			end++;
	}
	if (end == start)
		return false;
	*tok = hdr + start;
	*tok_len = end - start;
	return true;
}

/* Strips a scheme and one trailing slash, as jwt_verify_lib's
 * check_audience.cc does, so "https://api/" matches "api". */
static void aud_normalize(const char *s, const char **out, size_t *out_len)
{
	size_t len = strlen(s);

	if (len >= 8 && strncmp(s, "https://", 8) == 0) {
		s += 8;
		len -= 8;
	} else if (len >= 7 && strncmp(s, "http://", 7) == 0) {
		s += 7;
		len -= 7;
	}
	if (len > 0 && s[len - 1] == '/')
		len--;
	*out = s;
	*out_len = len;
}

bool verify_audience_allowed(const struct provider *p, const struct jwt *jwt)
{
	if (p->n_audiences == 0)
		return true;
	for (size_t i = 0; i < jwt->n_aud; i++) {
		const char *a, *b;
		size_t alen, blen;

		aud_normalize(jwt->aud[i], &a, &alen);
		for (size_t j = 0; j < p->n_audiences; j++) {
			aud_normalize(p->audiences[j], &b, &blen);
			if (alen == blen && memcmp(a, b, alen) == 0)
				return true;
		}
	}
	return false;
}

/* Follows a dotted path ("realm_access.roles") into the payload. */
static json_t *claim_at(json_t *payload, const char *path)
{
	char key[256];
	const char *dot;
	json_t *cur = payload;

	while (cur && *path) {
		size_t n;

		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		if (n == 0 || n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		path += n + (dot ? 1 : 0);
	}
	return cur;
}

/* <words> holds <want> as one of its space-separated words (OAuth scope). */
static bool has_word(const char *words, const char *want)
{
	size_t n = strlen(want);
	const char *p = words;

	while ((p = strstr(p, want))) {
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

bool verify_claims_allowed(const struct provider *p, const struct jwt *jwt)
{
	for (size_t i = 0; i < p->n_required; i++) {
		json_t *c = claim_at(jwt->payload, p->required[i].claim), *v;
		const char *want = p->required[i].value;
		bool found = false;
		size_t k;

		if (json_is_string(c))
			found =
			    strcmp(json_string_value(c), want) == 0 || has_word(json_string_value(c), want);
		else if (json_is_array(c))
			json_array_foreach(c, k, v) found |=
			    json_is_string(v) && strcmp(json_string_value(v), want) == 0;
		else if (json_is_true(c) || json_is_false(c))
			found = strcmp(want, json_is_true(c) ? "true" : "false") == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool value_is_safe(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= max || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int verify_render_exports(const struct provider *p, const struct jwt *jwt, size_t max_len, char **out,
                          size_t *out_len)
{
	size_t cap = 0, len = 0, i;
	char *buf;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < p->n_exports; i++)
		cap += strlen(p->exports[i].var) + max_len + 32;
	if (cap == 0)
		return 0;
	buf = malloc(cap);
	if (!buf)
		return -1;
	for (i = 0; i < p->n_exports; i++) {
		json_t *c = claim_at(jwt->payload, p->exports[i].claim);
		char num[32];
		const char *val = NULL;
		size_t vn, nn;

		/* Envoy's claim_to_headers: strings, numbers and booleans only. */
		if (json_is_string(c) && strlen(json_string_value(c)) == json_string_length(c))
			val = json_string_value(c);
		else if (json_is_integer(c))
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(c)), val = num;
		else if (json_is_real(c))
			snprintf(num, sizeof(num), "%.17g", json_real_value(c)), val = num;
		else if (json_is_boolean(c))
			val = json_is_true(c) ? "true" : "false";
		if (!val || !value_is_safe(val, max_len))
			continue;
		nn = strlen(p->exports[i].var) + 1;
		vn = strlen(val) + 1;
		memcpy(buf + len, p->exports[i].var, nn);
		memcpy(buf + len + nn, val, vn);
		len += nn + vn;
	}
	if (len == 0) {
		free(buf);
		return 0;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

void verify_keys_conf(struct keys_conf *kc, const struct provider *p)
{
	*kc = (struct keys_conf){
	    .uri = p->jwks_uri,
	    .file = p->jwks_file,
	    .issuer_discovery = p->oidc_discovery ? p->issuer : NULL,
	    .cache_time_s = p->cache_time_s,
	    .fetch_timeout_ms = p->fetch_timeout_ms,
	    .max_stale_s = p->max_stale_s,
	    .refetch_interval_s = p->refetch_interval_s,
	    .failed_retry_s = 1.0,
	};
}

/* ---- the verification ---- */

/* Which providers this request may use: the "provider" argument lists
 * names separated by commas; absent means every configured provider. */
static int candidates(const struct config *cfg, const struct verify_input *in, unsigned *mask)
{
	const char *p = in->provider, *end;

	*mask = 0;
	if (!p) {
		*mask = (1u << cfg->n_providers) - 1;
		return 0;
	}
	end = p + in->provider_len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
		const struct provider *pr;

		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		pr = config_provider(cfg, p, n);
		if (!pr)
			return -1;
		*mask |= 1u << (pr - cfg->providers);
		p += n;
		while (p < end && (*p == ',' || *p == ' '))
			p++;
	}
	return *mask ? 0 : -1;
}

static const struct verify_arg *find_arg(const struct verify_input *in, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < in->n_args; i++)
		if (in->args[i].name_len == n && memcmp(in->args[i].name, name, n) == 0)
			return &in->args[i];
	return NULL;
}

/* Looks in every location the candidate providers declare. The token and
 * the set of providers that declared where it was found come back. Two
 * different tokens: Envoy would verify both; we refuse the request. */
static enum jwt_status extract(const struct config *cfg, unsigned mask, const struct verify_input *in,
                               const char **tok, size_t *tok_len, unsigned *declared)
{
	*tok = NULL;
	*declared = 0;
	for (unsigned i = 0; i < cfg->n_providers; i++) {
		const struct provider *p = &cfg->providers[i];

		if (!(mask & (1u << i)))
			continue;
		for (size_t s = 0; s < p->n_sources; s++) {
			const struct verify_arg *a = find_arg(in, p->sources[s].arg);
			const char *t;
			size_t tl;

			if (!a || !a->val || !verify_extract(p->sources[s].prefix, a->val, a->len, &t, &tl))
				continue;
			if (*tok && (tl != *tok_len || memcmp(t, *tok, tl) != 0))
				return JWT_MULTIPLE_TOKENS;
			*tok = t;
			*tok_len = tl;
			*declared |= 1u << i;
		}
	}
	return *tok ? JWT_OK : JWT_MISSED;
}

/* Envoy's findByIssuer among the candidates: equal issuer first, then the
 * first provider without one. The location must be one it declared. */
static int select_provider(const struct config *cfg, unsigned mask, unsigned declared, const char *iss)
{
	int any = -1;

	for (unsigned i = 0; i < cfg->n_providers; i++) {
		const struct provider *p = &cfg->providers[i];

		if (!(mask & (1u << i)))
			continue;
		if (p->issuer && iss && strcmp(p->issuer, iss) == 0)
			return declared & (1u << i) ? (int)i : -1;
		if (!p->issuer && any < 0 && (declared & (1u << i)))
			any = (int)i;
	}
	return any;
}

/* Checks that need no keys, in Envoy's order after parsing. */
static enum jwt_status check_claims(struct verifier *v, const struct provider *p, const struct jwt *jwt)
{
	uint64_t now = (uint64_t)ev_now(v->loop);
	enum jwt_status st;

	if (p->issuer && (!jwt->iss || strcmp(jwt->iss, p->issuer) != 0))
		return JWT_UNKNOWN_ISSUER;
	st = jwt_check_time(jwt, now, p->clock_skew_s);
	if (st != JWT_OK)
		return st;
	/* Envoy's isLifetimeAllowed: max_lifetime (or require_expiration, an
	 * infinite one) refuses tokens without exp and, for max_lifetime,
	 * those whose remaining life reaches the limit. */
	if ((p->require_expiration || p->max_lifetime_s) && jwt->exp == 0)
		return JWT_EXPIRED;
	if (p->max_lifetime_s && jwt->exp > now && jwt->exp - now >= p->max_lifetime_s)
		return JWT_EXPIRED;
	if (!verify_audience_allowed(p, jwt))
		return JWT_AUDIENCE_NOT_ALLOWED;
	if (!verify_claims_allowed(p, jwt))
		return JWT_CLAIMS_NOT_ALLOWED;
	return JWT_OK;
}

/* Only values HAProxy may copy into a header or a log line become
 * variables: checked once here, so a cache hit reuses them as they are. */
static void set_claims_from_jwt(struct vreq *r)
{
	size_t max = r->v->cfg->max_claim_len;

	r->sub = r->jwt.sub && value_is_safe(r->jwt.sub, max) ? r->jwt.sub : NULL;
	r->iss = r->jwt.iss && value_is_safe(r->jwt.iss, max) ? r->jwt.iss : NULL;
	r->kid = r->jwt.kid && value_is_safe(r->jwt.kid, max) ? r->jwt.kid : NULL;
	r->alg = r->jwt.alg_name && value_is_safe(r->jwt.alg_name, max) ? r->jwt.alg_name : NULL;
}

/* With a key set in hand: verify, or ask for one refetch when the token
 * names a kid the set does not have (key rotation, OIDC Core §10.1.1).
 * Returns true when r->status is final. */
static bool check_signature(struct vreq *r, struct jwks *set)
{
	struct keys *k = r->keys;
	enum jwt_status st;

	if (!set) {
		st = keys_last_status(k);
		r->status = st == JWT_OK ? JWKS_FETCH_FAIL : st;
		return true;
	}
	st = jwt_verify_jwks(&r->jwt, set, NULL);
	if (st == JWKS_KID_ALG_MISMATCH && r->jwt.kid && !r->refetched) {
		r->refetched = true;
		if (keys_refetch_for_kid(k, set, &r->waiter)) {
			r->parked = true;
			return false;
		}
	}
	r->status = st;
	if (st != JWT_OK)
		return true;
	set_claims_from_jwt(r);
	if (verify_render_exports(r->provider, &r->jwt, r->v->cfg->max_claim_len, &r->exports_owned,
	                          &r->exports_len) < 0) {
		r->status = JWT_VERIFICATION_FAIL; /* fail closed on allocation failure */
		return true;
	}
	r->exports = r->exports_owned;
	tcache_put(r->v->cache, r->tok, r->tok_len, &r->jwt, GEN_KEY(r->provider_idx, set->generation),
	           &(struct tcache_claims){r->sub, r->iss, r->kid, r->alg}, r->exports, r->exports_len);
	return true;
}

static void on_keys(struct keys_waiter *w, struct jwks *set)
{
	struct vreq *r = (struct vreq *)w;

	r->parked = false;
	if (!check_signature(r, set))
		return; /* parked again for a refetch */
	r->done(r);
}

/* A token verified before with the key set still in use: only the time
 * claims can have changed (issuer, audiences and claim rules are fixed
 * configuration), so only they are checked again (Envoy's jwt_cache.cc). */
static bool lookup_cache(struct verifier *v, struct vreq *r, const char *tok, size_t len, unsigned declared)
{
	const struct tcache_entry *e = NULL;
	unsigned i;
	struct jwt t;

	for (i = 0; i < v->cfg->n_providers && !e; i++) {
		struct jwks *set;

		if (!(declared & (1u << i)) || !(set = keys_peek(v->keys[i])))
			continue;
		e = tcache_get(v->cache, tok, len, GEN_KEY(i, set->generation));
	}
	if (!e) {
		if (v->metrics)
			metric_inc(&v->metrics->cache_misses);
		return false;
	}
	if (v->metrics)
		metric_inc(&v->metrics->cache_hits);
	r->provider_idx = i - 1;
	r->provider = &v->cfg->providers[i - 1];
	memset(&t, 0, sizeof(t));
	t.exp = e->exp;
	t.nbf = e->nbf;
	r->status = jwt_check_time(&t, (uint64_t)ev_now(v->loop), r->provider->clock_skew_s);
	r->cached = true;
	r->sub = e->sub;
	r->iss = e->iss;
	r->kid = e->kid;
	r->alg = e->alg;
	r->exports = e->extra;
	r->exports_len = e->extra_len;
	return true;
}

static void vreq_reset(struct verifier *v, struct vreq *r)
{
	void (*done)(struct vreq *) = r->done;

	memset(r, 0, sizeof(*r));
	r->v = v;
	r->done = done;
	r->waiter.cb = on_keys;
}

bool verify_start(struct verifier *v, struct vreq *r, const struct verify_input *in)
{
	const struct config *cfg = v->cfg;
	unsigned mask, declared;
	const char *tok;
	size_t tok_len = 0;
	struct jwks *set;
	bool parked = false;
	int idx;

	vreq_reset(v, r);
	if (candidates(cfg, in, &mask) < 0) {
		log_event(LOG_WARN, "unknown_provider", "provider_arg_len=%zu", in->provider_len);
		r->status = JWT_UNKNOWN_ISSUER;
		return true;
	}
	r->status = extract(cfg, mask, in, &tok, &tok_len, &declared);
	if (r->status != JWT_OK)
		return true;
	if (tok_len > cfg->max_token_len) {
		r->status = JWT_BAD_FORMAT;
		return true;
	}
	if (v->cache && lookup_cache(v, r, tok, tok_len, declared))
		return true;
	r->tok = malloc(tok_len);
	if (!r->tok) {
		r->status = JWT_VERIFICATION_FAIL;
		return true;
	}
	memcpy(r->tok, tok, tok_len);
	r->tok_len = tok_len;
	r->status = jwt_parse(r->tok, tok_len, &r->jwt);
	if (r->status != JWT_OK)
		return true;
	r->has_jwt = true;
	idx = select_provider(cfg, mask, declared, r->jwt.iss);
	if (idx < 0) {
		r->status = JWT_UNKNOWN_ISSUER;
		return true;
	}
	r->provider_idx = (unsigned)idx;
	r->provider = &cfg->providers[idx];
	r->keys = v->keys[idx];
	r->status = check_claims(v, r->provider, &r->jwt);
	if (r->status != JWT_OK)
		return true;
	set = keys_get(v->keys[idx], &r->waiter, &parked);
	if (!set && parked) {
		r->parked = true;
		return false;
	}
	return check_signature(r, set);
}

void verify_cancel(struct vreq *r)
{
	if (r->parked) {
		keys_cancel(r->keys, &r->waiter);
		r->parked = false;
	}
}

void verify_release(struct vreq *r)
{
	verify_cancel(r);
	if (r->has_jwt) {
		jwt_free(&r->jwt);
		r->has_jwt = false;
	}
	free(r->tok);
	r->tok = NULL;
	free(r->exports_owned);
	r->exports_owned = NULL;
}
