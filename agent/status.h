/*
 * Verification outcomes: google/jwt_verify_lib's Status enum, numbering and
 * message strings kept byte for byte (../shared/notes/jwt.md §2.1), so the
 * 401 body, logs and metrics agree with Envoy jwt_authn.
 */
#ifndef STATUS_H
#define STATUS_H

enum jwt_status {
	JWT_OK = 0,
	JWT_MISSED = 1,
	JWT_NOT_YET_VALID = 2,
	JWT_EXPIRED = 3,
	JWT_BAD_FORMAT = 4,
	JWT_HEADER_BAD_BASE64 = 5,
	JWT_HEADER_BAD_JSON = 6,
	JWT_HEADER_BAD_ALG = 7,
	JWT_HEADER_NOT_IMPLEMENTED_ALG = 8,
	JWT_HEADER_BAD_KID = 9,
	JWT_PAYLOAD_BAD_BASE64 = 10,
	JWT_PAYLOAD_BAD_JSON = 11,
	JWT_PAYLOAD_ISS_NOT_STRING = 12,
	JWT_PAYLOAD_SUB_NOT_STRING = 13,
	JWT_PAYLOAD_IAT_NOT_INTEGER = 14,
	JWT_PAYLOAD_IAT_OUT_OF_RANGE = 15,
	JWT_PAYLOAD_NBF_NOT_INTEGER = 16,
	JWT_PAYLOAD_NBF_OUT_OF_RANGE = 17,
	JWT_PAYLOAD_EXP_NOT_INTEGER = 18,
	JWT_PAYLOAD_EXP_OUT_OF_RANGE = 19,
	JWT_PAYLOAD_JTI_NOT_STRING = 20,
	JWT_PAYLOAD_AUD_NOT_STRING = 21,
	JWT_SIGNATURE_BAD_BASE64 = 22,
	JWT_ED25519_SIGNATURE_WRONG_LENGTH = 23,
	JWT_UNKNOWN_ISSUER = 24,
	JWT_AUDIENCE_NOT_ALLOWED = 25,
	JWT_VERIFICATION_FAIL = 26,
	JWT_MULTIPLE_TOKENS = 27,
	JWKS_PARSE_ERROR = 28,
	JWKS_NO_KEYS = 29,
	JWKS_BAD_KEYS = 30,
	JWKS_NO_VALID_KEYS = 31,
	JWKS_KID_ALG_MISMATCH = 32,
	JWKS_RSA_PARSE_ERROR = 33,
	JWKS_EC_CREATE_KEY_FAIL = 34,
	JWKS_EC_X_OR_Y_BAD_BASE64 = 35,
	JWKS_EC_PARSE_ERROR = 36,
	JWKS_OCT_BAD_BASE64 = 37,
	JWKS_OKP_X_BAD_BASE64 = 38,
	JWKS_OKP_X_WRONG_LENGTH = 39,
	JWKS_FETCH_FAIL = 40,
	JWKS_MISSING_KTY = 41,
	JWKS_BAD_KTY = 42,
	JWKS_NOT_IMPLEMENTED_KTY = 43,
	JWKS_RSA_KEY_BAD_ALG = 44,
	JWKS_RSA_KEY_MISSING_N = 45,
	JWKS_RSA_KEY_BAD_N = 46,
	JWKS_RSA_KEY_MISSING_E = 47,
	JWKS_RSA_KEY_BAD_E = 48,
	JWKS_EC_KEY_BAD_ALG = 49,
	JWKS_EC_KEY_BAD_CRV = 50,
	JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED = 51,
	JWKS_EC_KEY_ALG_NOT_COMPATIBLE_WITH_CRV = 52,
	JWKS_EC_KEY_MISSING_X = 53,
	JWKS_EC_KEY_BAD_X = 54,
	JWKS_EC_KEY_MISSING_Y = 55,
	JWKS_EC_KEY_BAD_Y = 56,
	JWKS_HMAC_KEY_BAD_ALG = 57,
	JWKS_HMAC_KEY_MISSING_K = 58,
	JWKS_HMAC_KEY_BAD_K = 59,
	JWKS_OKP_KEY_BAD_ALG = 60,
	JWKS_OKP_KEY_MISSING_CRV = 61,
	JWKS_OKP_KEY_BAD_CRV = 62,
	JWKS_OKP_KEY_CRV_UNSUPPORTED = 63,
	JWKS_OKP_KEY_MISSING_X = 64,
	JWKS_OKP_KEY_BAD_X = 65,
	JWKS_X509_BIO_WRITE_ERROR = 66,
	JWKS_X509_PARSE_ERROR = 67,
	JWKS_X509_GET_PUBKEY_ERROR = 68,
	JWKS_PEM_NOT_IMPLEMENTED_KTY = 69,
	JWKS_PEM_BAD_BASE64 = 70,
	JWKS_PEM_GET_RAW_ED25519_ERROR = 71,
	JWKS_BIO_ALLOC_ERROR = 72,
	/* Ours, past jwt_verify_lib's list: a required claim (--require-claim,
	 * "required_claims") is absent or has another value. Worded like 25 and,
	 * like it, answered with 403 (RFC 6750 insufficient_scope). */
	JWT_CLAIMS_NOT_ALLOWED = 73,
	JWT_STATUS_COUNT = 74,
};

/* The jwt_verify_lib message for <st> ("Jwt is missing", ...); never NULL. */
const char *jwt_status_str(enum jwt_status st);
/* The enum name without prefix, e.g. "JwtMissed", for logs and metrics labels. */
const char *jwt_status_name(enum jwt_status st);
/* HTTP status Envoy answers with for a failure: 403 for audiences, else 401
 * (200 for JWT_OK). */
int jwt_status_http(enum jwt_status st);

#endif
