/*
 * libFuzzer target: jwks_parse on arbitrary documents, then every key of a
 * parsed set is exercised once through jws_verify_raw (with garbage, so the
 * result is 0 but every key type meets OpenSSL), and the set is released
 * through the refcount.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent \
 *       tests/fuzz/fuzz_jwks.c agent/jwt.c agent/jwks.c agent/b64.c agent/status.c \
 *       $(pkg-config --cflags --libs openssl jansson) -o fuzz_jwks
 *   ./fuzz_jwks tests/fuzz/corpus/jwks
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int fuzz_init(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return fuzz_init();
}

static int fuzz_init(void)
{
	json_object_seed(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t sig[132];
	struct jwks *set = NULL;
	char err[128];
	enum jwt_status st;
	size_t i;
	int a;

	st = jwks_parse((const char *)data, size, &set, err, sizeof(err));
	if ((st == JWT_OK) != (set != NULL) || st >= JWT_STATUS_COUNT || strlen(err) >= sizeof(err))
		abort();
	if (!set)
		return 0;
	if (set->n_keys == 0 || set->n_keys > JWKS_MAX_KEYS || atomic_load(&set->refcount) != 1)
		abort();
	for (i = 0; i < set->n_keys; i++) {
		const struct jwk *k = &set->keys[i];

		if ((k->kty == JWK_KTY_OCT) != (k->secret != NULL) || (k->kty != JWK_KTY_OCT && !k->pkey))
			abort();
		/* the verdict is irrelevant (a crafted Ed25519 key can make an
		 * all-zero signature valid); memory safety and the error
		 * queue are what is checked */
		for (a = JWS_RS256; a < JWS_ALG_COUNT; a++)
			(void)jws_verify_raw((enum jws_alg)a, k, data, size, sig,
			                     a >= JWS_ES256 && a <= JWS_ES512 ? 64 : sizeof(sig));
	}
	if (ERR_peek_error())
		abort();
	jwks_unref(jwks_ref(set));
	jwks_unref(set);
	return 0;
}
