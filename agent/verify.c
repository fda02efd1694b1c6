#include "verify.h"

#include <string.h>

#include "jwks.h"
#include "log.h"

static bool is_token_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.';
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

bool verify_audience_allowed(const struct config *cfg, const struct jwt *jwt)
{
	if (cfg->n_audiences == 0)
		return true;
	for (size_t i = 0; i < jwt->n_aud; i++) {
		const char *a, *b;
		size_t alen, blen;

		aud_normalize(jwt->aud[i], &a, &alen);
		for (size_t j = 0; j < cfg->n_audiences; j++) {
			aud_normalize(cfg->audiences[j], &b, &blen);
			if (alen == blen && memcmp(a, b, alen) == 0)
				return true;
		}
	}
	return false;
}

/* Checks that need no keys, in Envoy's order after parsing. */
static enum jwt_status check_claims(struct verifier *v, const struct jwt *jwt)
{
	const struct config *cfg = v->cfg;
	enum jwt_status st;

	if (cfg->issuer && (!jwt->iss || strcmp(jwt->iss, cfg->issuer) != 0))
		return JWT_UNKNOWN_ISSUER;
	st = jwt_check_time(jwt, (uint64_t)ev_now(v->loop), cfg->clock_skew_s);
	if (st != JWT_OK)
		return st;
	if (!verify_audience_allowed(cfg, jwt))
		return JWT_AUDIENCE_NOT_ALLOWED;
	return JWT_OK;
}

/* With a key set in hand: verify, or ask for one refetch when the token
 * names a kid the set does not have (key rotation, OIDC Core §10.1.1).
 * Returns true when r->status is final. */
static void set_claims_from_jwt(struct vreq *r)
{
	r->sub = r->jwt.sub;
	r->iss = r->jwt.iss;
	r->kid = r->jwt.kid;
	r->alg = r->jwt.alg_name;
}

static bool check_signature(struct vreq *r, struct jwks *set)
{
	enum jwt_status st;

	if (!set) {
		r->status = JWKS_FETCH_FAIL;
		return true;
	}
	st = jwt_verify_jwks(&r->jwt, set, NULL);
	if (st == JWT_OK) {
		set_claims_from_jwt(r);
		tcache_put(r->v->cache, r->tok, r->tok_len, &r->jwt, set->generation);
	}
	if (st == JWKS_KID_ALG_MISMATCH && r->jwt.kid && !r->refetched) {
		r->refetched = true;
		if (keys_refetch_for_kid(r->v->keys, set, &r->waiter)) {
			r->parked = true;
			return false;
		}
	}
	r->status = st;
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
 * claims can have changed (issuer and audiences are fixed configuration),
 * so they are the only checks repeated (Envoy's jwt_cache.cc does the same). */
static bool lookup_cache(struct verifier *v, struct vreq *r)
{
	struct jwks *set = keys_peek(v->keys);
	const struct tcache_entry *e;
	struct jwt t;

	if (!set)
		return false;
	e = tcache_get(v->cache, r->tok, r->tok_len, set->generation);
	if (!e) {
		v->cache_misses++;
		return false;
	}
	v->cache_hits++;
	memset(&t, 0, sizeof(t));
	t.exp = e->exp;
	t.nbf = e->nbf;
	r->status = jwt_check_time(&t, (uint64_t)ev_now(v->loop), v->cfg->clock_skew_s);
	r->cached = true;
	r->sub = e->sub;
	r->iss = e->iss;
	r->kid = e->kid;
	r->alg = e->alg;
	return true;
}

bool verify_start(struct verifier *v, struct vreq *r, const char *hdr, size_t len)
{
	const char *tok;
	size_t tok_len;
	struct jwks *set;
	bool parked = false;

	r->v = v;
	r->waiter.cb = on_keys;
	r->has_jwt = false;
	r->refetched = false;
	r->parked = false;
	r->cached = false;
	r->sub = r->iss = r->kid = r->alg = NULL;
	if (!verify_extract(v->cfg->prefix, hdr, len, &tok, &tok_len)) {
		r->status = JWT_MISSED;
		return true;
	}
	if (tok_len > v->cfg->max_token_len) {
		r->status = JWT_BAD_FORMAT;
		return true;
	}
	r->tok = tok;
	r->tok_len = tok_len;
	if (v->cache && lookup_cache(v, r))
		return true;
	r->status = jwt_parse(tok, tok_len, &r->jwt);
	if (r->status != JWT_OK)
		return true;
	r->has_jwt = true;
	r->status = check_claims(v, &r->jwt);
	if (r->status != JWT_OK)
		return true;
	set = keys_get(v->keys, &r->waiter, &parked);
	if (!set && parked) {
		r->parked = true;
		return false;
	}
	return check_signature(r, set);
}

void verify_cancel(struct vreq *r)
{
	if (r->parked) {
		keys_cancel(r->v->keys, &r->waiter);
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
}
