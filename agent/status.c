/*
 * jwt_verify_lib status strings and names (../shared/notes/jwt.md §2.1).
 * The strings are what Envoy jwt_authn puts in the 401/403 body: byte for
 * byte, including the trailing period of 35, 36, 38 and 39 and the odd
 * grammar ("is an invalid Base64url encoded"). Do not "fix" them.
 */
#include "status.h"

static const struct {
	const char *name;
	const char *msg;
} jwt_status_tab[JWT_STATUS_COUNT] = {
    [JWT_OK] = {"Ok", "OK"},
    [JWT_MISSED] = {"JwtMissed", "Jwt is missing"},
    [JWT_NOT_YET_VALID] = {"JwtNotYetValid", "Jwt not yet valid"},
    [JWT_EXPIRED] = {"JwtExpired", "Jwt is expired"},
    [JWT_BAD_FORMAT] = {"JwtBadFormat",
                        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"},
    [JWT_HEADER_BAD_BASE64] = {"JwtHeaderParseErrorBadBase64", "Jwt header is an invalid Base64url encoded"},
    [JWT_HEADER_BAD_JSON] = {"JwtHeaderParseErrorBadJson", "Jwt header is an invalid JSON"},
    [JWT_HEADER_BAD_ALG] = {"JwtHeaderBadAlg", "Jwt header [alg] field is required and must be a string"},
    [JWT_HEADER_NOT_IMPLEMENTED_ALG] = {"JwtHeaderNotImplementedAlg", "Jwt header [alg] is not supported"},
    [JWT_HEADER_BAD_KID] = {"JwtHeaderBadKid", "Jwt header [kid] field is not a string"},
    [JWT_PAYLOAD_BAD_BASE64] = {"JwtPayloadParseErrorBadBase64",
                                "Jwt payload is an invalid Base64url encoded"},
    [JWT_PAYLOAD_BAD_JSON] = {"JwtPayloadParseErrorBadJson", "Jwt payload is an invalid JSON"},
    [JWT_PAYLOAD_ISS_NOT_STRING] = {"JwtPayloadParseErrorIssNotString",
                                    "Jwt payload [iss] field is not a string"},
    [JWT_PAYLOAD_SUB_NOT_STRING] = {"JwtPayloadParseErrorSubNotString",
                                    "Jwt payload [sub] field is not a string"},
    [JWT_PAYLOAD_IAT_NOT_INTEGER] = {"JwtPayloadParseErrorIatNotInteger",
                                     "Jwt payload [iat] field is not an integer"},
    [JWT_PAYLOAD_IAT_OUT_OF_RANGE] = {"JwtPayloadParseErrorIatOutOfRange",
                                      "Jwt payload [iat] field is not a positive 64 bit integer"},
    [JWT_PAYLOAD_NBF_NOT_INTEGER] = {"JwtPayloadParseErrorNbfNotInteger",
                                     "Jwt payload [nbf] field is not an integer"},
    [JWT_PAYLOAD_NBF_OUT_OF_RANGE] = {"JwtPayloadParseErrorNbfOutOfRange",
                                      "Jwt payload [nbf] field is not a positive 64 bit integer"},
    [JWT_PAYLOAD_EXP_NOT_INTEGER] = {"JwtPayloadParseErrorExpNotInteger",
                                     "Jwt payload [exp] field is not an integer"},
    [JWT_PAYLOAD_EXP_OUT_OF_RANGE] = {"JwtPayloadParseErrorExpOutOfRange",
                                      "Jwt payload [exp] field is not a positive 64 bit integer"},
    [JWT_PAYLOAD_JTI_NOT_STRING] = {"JwtPayloadParseErrorJtiNotString",
                                    "Jwt payload [jti] field is not a string"},
    [JWT_PAYLOAD_AUD_NOT_STRING] = {"JwtPayloadParseErrorAudNotString",
                                    "Jwt payload [aud] field is not a string or string list"},
    [JWT_SIGNATURE_BAD_BASE64] = {"JwtSignatureParseErrorBadBase64",
                                  "Jwt signature is an invalid Base64url encoded"},
    [JWT_ED25519_SIGNATURE_WRONG_LENGTH] = {"JwtEd25519SignatureWrongLength",
                                            "Jwt ED25519 signature is wrong length"},
    [JWT_UNKNOWN_ISSUER] = {"JwtUnknownIssuer", "Jwt issuer is not configured"},
    [JWT_AUDIENCE_NOT_ALLOWED] = {"JwtAudienceNotAllowed", "Audiences in Jwt are not allowed"},
    [JWT_VERIFICATION_FAIL] = {"JwtVerificationFail", "Jwt verification fails"},
    [JWT_MULTIPLE_TOKENS] = {"JwtMultipleTokens", "Found multiple Jwt tokens"},
    [JWKS_PARSE_ERROR] = {"JwksParseError", "Jwks is an invalid JSON"},
    [JWKS_NO_KEYS] = {"JwksNoKeys", "Jwks does not have [keys] field"},
    [JWKS_BAD_KEYS] = {"JwksBadKeys", "[keys] in Jwks is not an array"},
    [JWKS_NO_VALID_KEYS] = {"JwksNoValidKeys", "Jwks doesn't have any valid public key"},
    [JWKS_KID_ALG_MISMATCH] = {"JwksKidAlgMismatch", "Jwks doesn't have key to match kid or alg from Jwt"},
    [JWKS_RSA_PARSE_ERROR] = {"JwksRsaParseError",
                              "Jwks RSA [n] or [e] field is missing or has a parse error"},
    [JWKS_EC_CREATE_KEY_FAIL] = {"JwksEcCreateKeyFail", "Jwks EC create key fail"},
    [JWKS_EC_X_OR_Y_BAD_BASE64] = {"JwksEcXorYBadBase64", "Jwks EC [x] or [y] field is an invalid Base64."},
    [JWKS_EC_PARSE_ERROR] = {"JwksEcParseError", "Jwks EC [x] and [y] fields have a parse error."},
    [JWKS_OCT_BAD_BASE64] = {"JwksOctBadBase64", "Jwks Oct key is an invalid Base64"},
    [JWKS_OKP_X_BAD_BASE64] = {"JwksOKPXBadBase64", "Jwks OKP [x] field is an invalid Base64."},
    [JWKS_OKP_X_WRONG_LENGTH] = {"JwksOKPXWrongLength", "Jwks OKP [x] field is wrong length."},
    [JWKS_FETCH_FAIL] = {"JwksFetchFail", "Jwks remote fetch is failed"},
    [JWKS_MISSING_KTY] = {"JwksMissingKty", "[kty] is missing in [keys]"},
    [JWKS_BAD_KTY] = {"JwksBadKty", "[kty] is bad in [keys]"},
    [JWKS_NOT_IMPLEMENTED_KTY] = {"JwksNotImplementedKty", "[kty] is not supported in [keys]"},
    [JWKS_RSA_KEY_BAD_ALG] = {"JwksRSAKeyBadAlg", "[alg] is not started with [RS] or [PS] for an RSA key"},
    [JWKS_RSA_KEY_MISSING_N] = {"JwksRSAKeyMissingN", "[n] field is missing for a RSA key"},
    [JWKS_RSA_KEY_BAD_N] = {"JwksRSAKeyBadN", "[n] field is not string for a RSA key"},
    [JWKS_RSA_KEY_MISSING_E] = {"JwksRSAKeyMissingE", "[e] field is missing for a RSA key"},
    [JWKS_RSA_KEY_BAD_E] = {"JwksRSAKeyBadE", "[e] field is not string for a RSA key"},
    [JWKS_EC_KEY_BAD_ALG] = {"JwksECKeyBadAlg", "[alg] is not started with [ES] for an EC key"},
    [JWKS_EC_KEY_BAD_CRV] = {"JwksECKeyBadCrv", "[crv] field is not string for an EC key"},
    [JWKS_EC_KEY_ALG_OR_CRV_UNSUPPORTED] = {"JwksECKeyAlgOrCrvUnsupported",
                                            "[crv] or [alg] field is not supported for an EC key"},
    [JWKS_EC_KEY_ALG_NOT_COMPATIBLE_WITH_CRV] =
        {"JwksECKeyAlgNotCompatibleWithCrv",
         "[crv] field specified is not compatible with [alg] for an EC key"},
    [JWKS_EC_KEY_MISSING_X] = {"JwksECKeyMissingX", "[x] field is missing for an EC key"},
    [JWKS_EC_KEY_BAD_X] = {"JwksECKeyBadX", "[x] field is not string for an EC key"},
    [JWKS_EC_KEY_MISSING_Y] = {"JwksECKeyMissingY", "[y] field is missing for an EC key"},
    [JWKS_EC_KEY_BAD_Y] = {"JwksECKeyBadY", "[y] field is not string for an EC key"},
    [JWKS_HMAC_KEY_BAD_ALG] = {"JwksHMACKeyBadAlg", "[alg] does not start with [HS] for an HMAC key"},
    [JWKS_HMAC_KEY_MISSING_K] = {"JwksHMACKeyMissingK", "[k] field is missing for an HMAC key"},
    [JWKS_HMAC_KEY_BAD_K] = {"JwksHMACKeyBadK", "[k] field is not string for an HMAC key"},
    [JWKS_OKP_KEY_BAD_ALG] = {"JwksOKPKeyBadAlg", "[alg] is not [EdDSA] for an OKP key"},
    [JWKS_OKP_KEY_MISSING_CRV] = {"JwksOKPKeyMissingCrv", "[crv] field is missing for an OKP key"},
    [JWKS_OKP_KEY_BAD_CRV] = {"JwksOKPKeyBadCrv", "[crv] field is not string for an OKP key"},
    [JWKS_OKP_KEY_CRV_UNSUPPORTED] = {"JwksOKPKeyCrvUnsupported",
                                      "[crv] field is not supported for an OKP key"},
    [JWKS_OKP_KEY_MISSING_X] = {"JwksOKPKeyMissingX", "[x] field is missing for an OKP key"},
    [JWKS_OKP_KEY_BAD_X] = {"JwksOKPKeyBadX", "[x] field is not string for an OKP key"},
    [JWKS_X509_BIO_WRITE_ERROR] = {"JwksX509BioWriteError",
                                   "X509 parse pubkey internal fails: memory allocation"},
    [JWKS_X509_PARSE_ERROR] = {"JwksX509ParseError", "X509 parse pubkey fails"},
    [JWKS_X509_GET_PUBKEY_ERROR] = {"JwksX509GetPubkeyError", "X509 parse pubkey internal fails: get pubkey"},
    [JWKS_PEM_NOT_IMPLEMENTED_KTY] = {"JwksPemNotImplementedKty", "PEM Key type is not supported"},
    [JWKS_PEM_BAD_BASE64] = {"JwksPemBadBase64", "PEM pubkey parse fails"},
    [JWKS_PEM_GET_RAW_ED25519_ERROR] = {"JwksPemGetRawEd25519Error", "PEM failed to get raw ED25519 key"},
    [JWKS_BIO_ALLOC_ERROR] = {"JwksBioAllocError", "Failed to create BIO due to memory allocation failure"},
    [JWT_CLAIMS_NOT_ALLOWED] = {"JwtClaimsNotAllowed", "Claims in Jwt are not allowed"},
};

const char *jwt_status_str(enum jwt_status st)
{
	if ((unsigned)st >= JWT_STATUS_COUNT)
		return "Unknown status";
	return jwt_status_tab[st].msg;
}

const char *jwt_status_name(enum jwt_status st)
{
	if ((unsigned)st >= JWT_STATUS_COUNT)
		return "Unknown";
	return jwt_status_tab[st].name;
}

/* Envoy filter.cc: audience failures are 403, every other failure 401
 * (JWT_OK is not a failure; 200 keeps a careless caller from denying it). */
int jwt_status_http(enum jwt_status st)
{
	if (st == JWT_OK)
		return 200;
	return st == JWT_AUDIENCE_NOT_ALLOWED || st == JWT_CLAIMS_NOT_ALLOWED ? 403 : 401;
}
