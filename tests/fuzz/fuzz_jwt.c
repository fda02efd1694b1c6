/*
 * libFuzzer target: jwt_parse + jwt_check_time + jwt_verify_jwks against a
 * small fixed JWKS (one key of each type, from tests/vectors/gen_tokens.h,
 * the same keys that signed the seed corpus in corpus/jwt).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent \
 *       tests/fuzz/fuzz_jwt.c agent/jwt.c agent/jwks.c agent/b64.c agent/status.c \
 *       $(pkg-config --cflags --libs openssl jansson) -o fuzz_jwt
 *   ./fuzz_jwt -max_len=9000 tests/fuzz/corpus/jwt
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "jwks.h"
#include "jwt.h"
#include "status.h"

#include "../vectors/gen_tokens.h"

static struct jwks *keys;

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
	char err[256];

	json_object_seed(1);
	if (jwks_parse(gen_jwks, strlen(gen_jwks), &keys, err, sizeof(err)) != JWT_OK) {
		fprintf(stderr, "fixed JWKS does not parse: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct jwk *used = NULL;
	enum jwt_status st, vst;
	struct jwt j;
	size_t i;

	st = jwt_parse((const char *)data, size, &j);
	if (st != JWT_OK) {
		/* a failed parse leaves nothing behind */
		if (j.header || j.payload || j.sig)
			abort();
		jwt_free(&j);
		return 0;
	}
	/* invariants of a parsed token */
	if (j.alg == JWS_ALG_NONE || !j.alg_name || !j.sig || !j.sig_len || j.n_aud > JWT_MAX_AUD ||
	    j.signing_input != (const char *)data || j.signing_input_len >= size)
		abort();
	for (i = 0; i < j.n_aud; i++)
		(void)strlen(j.aud[i]);
	(void)jwt_check_time(&j, 1700000000, 60);
	vst = jwt_verify_jwks(&j, keys, &used);
	if ((vst == JWT_OK) != (used != NULL))
		abort();
	if (vst != JWT_OK && vst != JWT_VERIFICATION_FAIL && vst != JWKS_KID_ALG_MISMATCH &&
	    vst != JWT_ED25519_SIGNATURE_WRONG_LENGTH)
		abort();
	if (ERR_peek_error())
		abort();               /* jws_verify_raw must leave the queue clean */
	jwt_free(&j);
	return 0;
}
