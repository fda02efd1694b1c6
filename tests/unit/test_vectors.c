/*
 * Third-party vectors from $VECTORS_DIR (default ../shared/vectors, relative
 * to the repo root where tests run; see ../shared/vectors/README.md):
 *   - Wycheproof json_web_signature_test.json and json_web_key_test.json end
 *     to end (jwks_parse + jwt_parse + jwt_verify_jwks, fixed clock);
 *   - Wycheproof primitive files (ECDSA P1363, Ed25519, HMAC, RSA PKCS#1 v1.5
 *     and PSS) through jws_verify_raw;
 *   - RFC 7520 §4.1-4.5 (JOSE cookbook) at the signature layer.
 * Every test is compared with its expected result; the deliberate
 * deviations are listed in the table below with the reason, and each is
 * checked to still behave as documented. A missing directory is a failure,
 * not a skip.
 *
 * The Wycheproof JWS payloads ("foo", "Test", "", binary) are not JSON
 * claims sets, so jwt_parse stops at status 11. For those the driver
 * finishes at the JWS layer: every check jwt_parse performs before the
 * payload JSON has passed, the signature is decoded with the same strict
 * b64url_decode, and jwt_verify_jwks does key selection and verification.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"
#include "t.h"

#define NOW 1700000000u

/* Deliberate deviations from the expected results. we_accept: our verdict. */
static const struct deviation {
	const char *file;
	int tc;
	bool we_accept;
	const char *why;
} deviations[] = {
	/* json_web_signature_test.json */
	{ "json_web_signature_test.json", 259, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 264, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 268, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 272, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 320, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 325, false, "empty payload segment: not a JWT (JVL also says 4)" },
	{ "json_web_signature_test.json", 346, false, "key alg PS256, token PS384: key alg enforced (as JVL; needed for 331-340)" },
	{ "json_web_signature_test.json", 350, false, "key alg PS256, token PS384: key alg enforced (as JVL; needed for 331-340)" },
	{ "json_web_signature_test.json", 347, false, "key alg \"ES521\" (sic) on P-521: key refused with 52 (as JVL)" },
	{ "json_web_signature_test.json", 351, false, "key alg \"ES521\" (sic) on P-521: key refused with 52 (as JVL)" },
	{ "json_web_signature_test.json", 367, true, "label bug: jws byte-identical to valid tc 357 (C2SP/wycheproof#236)" },
	{ "json_web_signature_test.json", 370, true, "label bug: jws byte-identical to valid tc 357 (C2SP/wycheproof#236)" },
	{ "json_web_signature_test.json", 372, false, "'?' inside a base64url segment: strict base64url (RFC 7515 §2)" },
	{ "json_web_signature_test.json", 373, false, "'?' inside a base64url segment: strict base64url (RFC 7515 §2)" },
	/* json_web_key_test.json */
	{ "json_web_key_test.json", 1, true,
	  "mixed oct + EC set accepted: the modelled product's JWKS mixes RSA and oct keys; kty/alg binding stops "
	  "confusion (Wycheproof flags it Ambiguous)" },
	{ "json_web_key_test.json", 4, true,
	  "duplicate kid accepted: every key with the kid is tried, as JVL; refusing the set would turn an IdP slip into "
	  "an outage (Ambiguous)" },
};

static const struct deviation *deviation_of(const char *file, int tc)
{
	const char *base = strrchr(file, '/');
	size_t i;

	file = base ? base + 1 : file;
	for (i = 0; i < sizeof(deviations) / sizeof(deviations[0]); i++)
		if (deviations[i].tc == tc && strcmp(deviations[i].file, file) == 0)
			return &deviations[i];
	return NULL;
}

struct counts {
	int total, as_expected, deviations, unexpected, jws_layer, not_applicable;
};

static struct counts grand;

/* One verdict against the expectation: "valid" must be accepted,
 * "invalid" refused, "acceptable" either. */
static void judge(const char *file, struct counts *c, int tc, const char *result, bool accepted, const char *detail)
{
	const struct deviation *d = deviation_of(file, tc);
	bool want_accept = strcmp(result, "valid") == 0;

	c->total++;
	if (d) {
		if (accepted == d->we_accept) {
			c->deviations++;
			ok(1, "%s tc %d: expected deviation (%s, Wycheproof says %s): %s", file, tc,
			   accepted ? "accepted" : "refused", result, d->why);
		} else {
			c->unexpected++;
			ok(0, "%s tc %d: documented deviation no longer happens (%s, %s)", file, tc,
			   accepted ? "accepted" : "refused", detail);
		}
		return;
	}
	if (strcmp(result, "acceptable") == 0 || accepted == want_accept) {
		if (strcmp(result, "acceptable") == 0)
			printf("# %s tc %d: \"acceptable\", we %s (%s)\n", file, tc, accepted ? "accept" : "refuse", detail);
		c->as_expected++;
		return;
	}
	c->unexpected++;
	ok(0, "%s tc %d: expected %s, we %s (%s)", file, tc, result, accepted ? "accepted" : "refused", detail);
}

static void report(const char *file, const struct counts *c)
{
	char extra[160] = "";

	if (c->jws_layer)
		snprintf(extra, sizeof(extra), "; %d finished at the JWS layer (payload not JSON)", c->jws_layer);
	if (c->not_applicable)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "; %d not applicable to JWS, refused",
		         c->not_applicable);
	ok(c->unexpected == 0 && c->total > 0, "%s: %d tests, %d passed, %d expected deviations, %d unexpected%s",
	   file, c->total, c->as_expected + c->not_applicable, c->deviations, c->unexpected, extra);
	grand.total += c->total;
	grand.as_expected += c->as_expected + c->not_applicable;
	grand.deviations += c->deviations;
	grand.unexpected += c->unexpected;
}

static json_t *load(const char *dir, const char *name)
{
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	j = json_load_file(path, 0, &err);
	ok(j != NULL, "load %s%s%s", path, j ? "" : ": ", j ? "" : err.text);
	return j;
}

static size_t hex2bin(const char *hex, uint8_t *out, size_t room)
{
	size_t n = strlen(hex) / 2, i;
	unsigned v;

	if (n > room)
		return (size_t)-1;
	for (i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return (size_t)-1;
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct jwks *jwks_of(const json_t *set_or_key, enum jwt_status *st)
{
	struct jwks *set = NULL;
	json_t *doc;
	char *txt;

	if (json_object_get(set_or_key, "keys"))
		doc = json_incref((json_t *)set_or_key);
	else
		doc = json_pack("{s:[O]}", "keys", set_or_key);
	txt = json_dumps(doc, JSON_COMPACT);
	*st = jwks_parse(txt, strlen(txt), &set, NULL, 0);
	free(txt);
	json_decref(doc);
	return set;
}

/* Full verdict on <tok> with <set> (NULL: the key set was refused). */
static enum jwt_status check_token(const char *tok, const struct jwks *set, bool *jws_layer)
{
	uint8_t hdr[8192], sig[8192];
	const char *d1, *d2;
	struct jwt j;
	enum jwt_status st;
	json_t *h;
	long n;

	*jws_layer = false;
	st = jwt_parse(tok, strlen(tok), &j);
	if (st == JWT_OK) {
		st = jwt_check_time(&j, NOW, 60);
		if (st == JWT_OK)
			st = set ? jwt_verify_jwks(&j, set, NULL) : JWKS_NO_VALID_KEYS;
		jwt_free(&j);
		return st;
	}
	if (st != JWT_PAYLOAD_BAD_JSON)
		return st;
	/* JWS layer, see the file comment */
	*jws_layer = true;
	d1 = strchr(tok, '.');
	d2 = strrchr(tok, '.');
	n = b64url_decode(tok, (size_t)(d1 - tok), hdr, sizeof(hdr));
	h = json_loadb((const char *)hdr, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	memset(&j, 0, sizeof(j));
	j.alg_name = json_string_value(json_object_get(h, "alg"));
	j.alg = jws_alg_from_name(j.alg_name);
	j.kid = json_string_value(json_object_get(h, "kid"));
	j.signing_input = tok;
	j.signing_input_len = (size_t)(d2 - tok);
	n = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
	if (n < 0) {
		st = JWT_SIGNATURE_BAD_BASE64;
	} else {
		j.sig = sig;
		j.sig_len = (size_t)n;
		st = set ? jwt_verify_jwks(&j, set, NULL) : JWKS_NO_VALID_KEYS;
	}
	json_decref(h);
	return st;
}

/* json_web_signature_test.json (one key per group) and json_web_key_test.json
 * (a key set per group) */
static void run_jose_file(const char *dir, const char *file)
{
	json_t *root = load(dir, file), *g, *t;
	struct counts c = { 0 };
	size_t gi, ti;

	if (!root)
		return;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		const json_t *key = json_object_get(g, "public") ? json_object_get(g, "public") : json_object_get(g, "private");
		enum jwt_status kst;
		struct jwks *set = jwks_of(key, &kst);

		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const json_t *jv = json_object_get(t, "jws");
			char *tok = json_is_string(jv) ? strdup(json_string_value(jv)) : json_dumps(jv, JSON_COMPACT);
			int tc = (int)json_integer_value(json_object_get(t, "tcId"));
			bool layer;
			enum jwt_status st = check_token(tok, set, &layer);
			char detail[256];

			snprintf(detail, sizeof(detail), "status %d %s; key set %d %s; %s", st, jwt_status_name(st), kst,
			         jwt_status_name(kst), json_string_value(json_object_get(t, "comment")));
			c.jws_layer += layer;
			judge(file, &c, tc, json_string_value(json_object_get(t, "result")), st == JWT_OK, detail);
			free(tok);
		}
		jwks_unref(set);
	}
	report(file, &c);
	json_decref(root);
}

/* EC key of a P1363 group: publicKeyJwk, else publicKey.wx/wy (hex, maybe
 * with a leading 00) normalised to the coordinate length. */
static json_t *ec_jwk_of_group(const json_t *g, size_t clen, const char *crv)
{
	const json_t *pk = json_object_get(g, "publicKey");
	uint8_t xb[80], yb[80], xo[80] = { 0 }, yo[80] = { 0 };
	char x64[128], y64[128];
	size_t xl, yl;

	if (json_object_get(g, "publicKeyJwk"))
		return json_incref(json_object_get(g, "publicKeyJwk"));
	xl = hex2bin(json_string_value(json_object_get(pk, "wx")), xb, sizeof(xb));
	yl = hex2bin(json_string_value(json_object_get(pk, "wy")), yb, sizeof(yb));
	if (xl == (size_t)-1 || yl == (size_t)-1)
		return NULL;
	while (xl > clen && xb[0] == 0)
		memmove(xb, xb + 1, --xl);
	while (yl > clen && yb[0] == 0)
		memmove(yb, yb + 1, --yl);
	if (xl > clen || yl > clen)
		return NULL;
	memcpy(xo + clen - xl, xb, xl);
	memcpy(yo + clen - yl, yb, yl);
	b64url_encode(xo, clen, x64, sizeof(x64));
	b64url_encode(yo, clen, y64, sizeof(y64));
	return json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", crv, "x", x64, "y", y64);
}

static const char *sha_of(enum jws_alg alg)
{
	switch (alg) {
	case JWS_RS256: case JWS_PS256: case JWS_ES256: case JWS_HS256:
		return "SHA-256";
	case JWS_RS384: case JWS_PS384: case JWS_ES384: case JWS_HS384:
		return "SHA-384";
	default:
		return "SHA-512";
	}
}

/* ECDSA P1363, Ed25519, RSA PKCS#1 v1.5 and PSS files: one public key per
 * group, {msg, sig} per test, through jws_verify_raw. Groups whose hash,
 * MGF hash or salt length differ from what <alg> means in JWS would change
 * the expected verdict: they are counted as not applicable (none in the
 * copied files). */
static void run_sig_file(const char *dir, const char *file, enum jws_alg alg)
{
	json_t *root = load(dir, file), *g, *t;
	struct counts c = { 0 };
	size_t gi, ti;
	static uint8_t msg[1 << 16], sig[1 << 12];

	if (!root)
		return;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		const char *sha = json_string_value(json_object_get(g, "sha"));
		const json_t *mgf = json_object_get(g, "mgfSha"), *slen = json_object_get(g, "sLen");
		size_t clen = alg == JWS_ES256 ? 32 : alg == JWS_ES384 ? 48 : 66;
		const char *crv = alg == JWS_ES256 ? "P-256" : alg == JWS_ES384 ? "P-384" : "P-521";
		json_t *kj;
		struct jwk key;
		enum jwt_status kst = JWT_OK;
		bool applicable = true;

		if (alg >= JWS_ES256 && alg <= JWS_ES512)
			kj = ec_jwk_of_group(g, clen, crv);
		else
			kj = json_incref(json_object_get(g, json_object_get(g, "keyJwk") ? "keyJwk" : "publicKeyJwk"));
		if (sha && strcmp(sha, sha_of(alg)) != 0)
			applicable = false;
		if (mgf && (strcmp(json_string_value(mgf), sha_of(alg)) != 0 ||
		            json_integer_value(slen) != (alg == JWS_PS256 ? 32 : alg == JWS_PS384 ? 48 : 64)))
			applicable = false;
		kst = kj ? jwk_parse(kj, &key) : JWKS_PARSE_ERROR;
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			int tc = (int)json_integer_value(json_object_get(t, "tcId"));
			size_t ml = hex2bin(json_string_value(json_object_get(t, "msg")), msg, sizeof(msg));
			size_t sl = hex2bin(json_string_value(json_object_get(t, "sig")), sig, sizeof(sig));
			bool accepted = false;
			char detail[256];

			if (!applicable) {
				c.total++;
				c.not_applicable++;
				continue;
			}
			if (kst == JWT_OK && ml != (size_t)-1 && sl != (size_t)-1)
				accepted = jws_verify_raw(alg, &key, msg, ml, sig, sl) == 1;
			snprintf(detail, sizeof(detail), "key %s; %s", jwt_status_name(kst),
			         json_string_value(json_object_get(t, "comment")));
			judge(file, &c, tc, json_string_value(json_object_get(t, "result")), accepted, detail);
		}
		if (kst == JWT_OK)
			jwk_clear(&key);
		json_decref(kj);
	}
	report(file, &c);
	json_decref(root);
}

/* HMAC files: key per test. JWS uses the full tag only (RFC 7518 §3.2), so
 * truncated-tag groups must all be refused; full-tag groups with a key
 * shorter than the hash are refused by our key-size rule (listed as
 * deviations when the test is valid). */
static void run_hmac_file(const char *dir, const char *file, enum jws_alg alg)
{
	json_t *root = load(dir, file), *g, *t;
	struct counts c = { 0 };
	int hash_bits = alg == JWS_HS256 ? 256 : alg == JWS_HS384 ? 384 : 512, short_key_valid = 0;
	size_t gi, ti;
	static uint8_t msg[1 << 16], tag[128], kb[1024];
	char k64[2048];

	if (!root)
		return;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		int tag_bits = (int)json_integer_value(json_object_get(g, "tagSize"));
		int key_bits = (int)json_integer_value(json_object_get(g, "keySize"));

		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *result = json_string_value(json_object_get(t, "result"));
			size_t ml = hex2bin(json_string_value(json_object_get(t, "msg")), msg, sizeof(msg));
			size_t tl = hex2bin(json_string_value(json_object_get(t, "tag")), tag, sizeof(tag));
			size_t kl = hex2bin(json_string_value(json_object_get(t, "key")), kb, sizeof(kb));
			int tc = (int)json_integer_value(json_object_get(t, "tcId"));
			struct jwk key;
			json_t *kj;
			bool accepted = false;

			b64url_encode(kb, kl, k64, sizeof(k64));
			kj = json_pack("{s:s,s:s}", "kty", "oct", "k", k64);
			if (jwk_parse(kj, &key) == JWT_OK) {
				accepted = jws_verify_raw(alg, &key, msg, ml, tag, tl) == 1;
				jwk_clear(&key);
			}
			json_decref(kj);
			c.total++;
			if (tag_bits != hash_bits) {
				/* not applicable: every test must be refused */
				c.not_applicable++;
				if (accepted) {
					c.unexpected++;
					ok(0, "%s tc %d: truncated tag accepted", file, tc);
				}
				continue;
			}
			if (key_bits < hash_bits && strcmp(result, "valid") == 0 && !accepted) {
				c.deviations++;
				short_key_valid++;
				continue;
			}
			c.total--;
			judge(file, &c, tc, result, accepted, json_string_value(json_object_get(t, "comment")));
		}
	}
	ok(short_key_valid > 0, "%s: %d valid tests with a %s key under %d bits refused (RFC 7518 §3.2)", file,
	   short_key_valid, "full-tag", hash_bits);
	report(file, &c);
	json_decref(root);
}

/* RFC 7520 §4.1-4.4 at the signature layer; 4.5 (detached payload) must
 * fail as a compact JWT; 3.6 (A256GCM key) must not load. */
static void run_rfc7520(const char *dir)
{
	static const char *const files[] = { "rfc7520/jws/4_1.rsa_v15_signature.json",
		                             "rfc7520/jws/4_2.rsa-pss_signature.json",
		                             "rfc7520/jws/4_3.ecdsa_signature.json",
		                             "rfc7520/jws/4_4.hmac-sha2_integrity_protection.json" };
	uint8_t sig[1024];
	struct counts c = { 0 };
	size_t i;
	json_t *root;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *tok, *d2;
		enum jws_alg alg;
		struct jwk key;
		bool accepted = false;
		long n;

		root = load(dir, files[i]);
		if (!root)
			continue;
		tok = json_string_value(json_object_get(json_object_get(root, "output"), "compact"));
		alg = jws_alg_from_name(json_string_value(json_object_get(json_object_get(root, "input"), "alg")));
		d2 = strrchr(tok, '.');
		n = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
		if (jwk_parse(json_object_get(json_object_get(root, "input"), "key"), &key) == JWT_OK) {
			accepted = n > 0 && jws_verify_raw(alg, &key, (const uint8_t *)tok, (size_t)(d2 - tok), sig,
			                                   (size_t)n) == 1;
			jwk_clear(&key);
		}
		judge("rfc7520", &c, (int)i + 1, "valid", accepted, files[i]);
		ok(accepted, "RFC 7520 %s verifies at the signature layer (%s)", files[i], jws_alg_name(alg));
		{
			struct jwt j;

			ok(jwt_parse(tok, strlen(tok), &j) == JWT_PAYLOAD_BAD_JSON,
			   "RFC 7520 %s as a JWT: 11 (the payload is text)", files[i]);
			jwt_free(&j);
		}
		json_decref(root);
	}
	root = load(dir, "rfc7520/jws/4_5.signature_with_detached_content.json");
	if (root) {
		const char *tok = json_string_value(json_object_get(json_object_get(root, "output"), "compact"));
		struct jwt j;

		ok(jwt_parse(tok, strlen(tok), &j) == JWT_BAD_FORMAT, "RFC 7520 4.5 detached content (h..s): 4");
		c.total++;
		c.as_expected++;
		json_decref(root);
	}
	root = load(dir, "rfc7520/jwk/3_6.symmetric_key_encryption.json");
	if (root) {
		struct jwk key;

		ok(jwk_parse(root, &key) == JWKS_HMAC_KEY_BAD_ALG, "RFC 7520 3.6 A256GCM key refused for signatures: 57");
		c.total++;
		c.as_expected++;
		json_decref(root);
	}
	report("rfc7520 (4.1-4.5, 3.6)", &c);
}

int main(void)
{
	const char *dir = getenv("VECTORS_DIR");
	char probe[1024];
	FILE *f;

	if (!dir || !*dir)
		dir = "../shared/vectors";
	snprintf(probe, sizeof(probe), "%s/README.md", dir);
	f = fopen(probe, "r");
	ok(f != NULL, "vectors directory %s present (set VECTORS_DIR)", dir);
	if (!f)
		return t_done("test_vectors");
	fclose(f);

	run_jose_file(dir, "wycheproof/json_web_signature_test.json");
	run_jose_file(dir, "wycheproof/json_web_key_test.json");
	run_sig_file(dir, "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", JWS_ES256);
	run_sig_file(dir, "wycheproof/ecdsa_secp384r1_sha384_p1363_test.json", JWS_ES384);
	run_sig_file(dir, "wycheproof/ecdsa_secp521r1_sha512_p1363_test.json", JWS_ES512);
	run_sig_file(dir, "wycheproof/ed25519_test.json", JWS_EDDSA);
	run_sig_file(dir, "wycheproof/rsa_signature_2048_sha256_test.json", JWS_RS256);
	run_sig_file(dir, "wycheproof/rsa_signature_2048_sha384_test.json", JWS_RS384);
	run_sig_file(dir, "wycheproof/rsa_signature_2048_sha512_test.json", JWS_RS512);
	run_sig_file(dir, "wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json", JWS_PS256);
	run_sig_file(dir, "wycheproof/rsa_pss_2048_sha384_mgf1_48_test.json", JWS_PS384);
	run_sig_file(dir, "wycheproof/rsa_pss_4096_sha512_mgf1_64_test.json", JWS_PS512);
	run_hmac_file(dir, "wycheproof/hmac_sha256_test.json", JWS_HS256);
	run_hmac_file(dir, "wycheproof/hmac_sha384_test.json", JWS_HS384);
	run_hmac_file(dir, "wycheproof/hmac_sha512_test.json", JWS_HS512);
	run_rfc7520(dir);
	ok(ERR_peek_error() == 0, "no OpenSSL error left in the queue");
	printf("# summary: %d vector tests, %d passed, %d expected deviations, %d unexpected\n", grand.total,
	       grand.as_expected, grand.deviations, grand.unexpected);
	ok(grand.unexpected == 0, "summary: %d vector tests, %d passed, %d expected deviations, %d unexpected",
	   grand.total, grand.as_expected, grand.deviations, grand.unexpected);
	return t_done("test_vectors");
}
