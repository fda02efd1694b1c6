/*
 * Published JWS examples, copied from the RFC texts with line breaks removed:
 * RFC 7515 Appendix A.1-A.5 (JWT claims payload with CRLFs, exp 1300819380
 * = 2011-03-22T18:43:00Z: verify with a fixed clock) and RFC 8037 A.2/A.4
 * (Ed25519). A.1 was re-checked here with Python hmac, the others with
 * jwcrypto (../shared/notes/jwt.md §3.1).
 */
#ifndef RFC_EXAMPLES_H
#define RFC_EXAMPLES_H

#define RFC7515_EXP 1300819380u
/* {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true} */
#define RFC7515_PAYLOAD_B64                                                                                            \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

/* A.1 HS256; header {"typ":"JWT",\r\n "alg":"HS256"} */
static const char rfc7515_a1_jwk[] =
	"{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}";
static const char rfc7515_a1_token[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC7515_PAYLOAD_B64 ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/* A.2 RS256, 2048-bit key */
static const char rfc7515_a2_jwk[] =
	"{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
	"4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5"
	"rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_"
	"h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"}";
static const char rfc7515_a2_token[] =
	"eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD_B64
	".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t"
	"1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12j"
	"zDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQ"
	"Ge77Rw";

/* A.3 ES256 */
static const char rfc7515_a3_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
				     "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
				     "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char rfc7515_a3_token[] =
	"eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD_B64
	".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* A.4 ES512 (P-521); payload is the text "Payload", not JSON */
static const char rfc7515_a4_jwk[] =
	"{\"kty\":\"EC\",\"crv\":\"P-521\","
	"\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk\","
	"\"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2\"}";
static const char rfc7515_a4_token[] =
	"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0a"
	"w_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

/* A.5 unsecured JWS: {"alg":"none"}, empty signature */
static const char rfc7515_a5_token[] = "eyJhbGciOiJub25lIn0." RFC7515_PAYLOAD_B64 ".";

/* RFC 8037 A.2 public key and A.4 EdDSA signature of "Example of Ed25519 signing" */
static const char rfc8037_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
				  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char rfc8037_a4_token[] =
	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4"
	"iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#endif
