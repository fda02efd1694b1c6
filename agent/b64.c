/*
 * Strict base64url (RFC 7515 §2, RFC 4648 §5): alphabet A-Z a-z 0-9 - _,
 * no '=' padding, no whitespace, no length of 1 mod 4, and the unused low
 * bits of the last character must be zero (Wycheproof "ModifiedUnusedBits"),
 * so that every byte string has exactly one accepted encoding. This is
 * stricter than jwt_verify_lib's absl::WebSafeBase64Unescape, which accepts
 * padding: a JWS signing input is compared as received, and two spellings
 * of one token must not both verify.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

/* Alphabet position + 1, 0 for anything else (designated initializers
 * leave the rest zero, without GNU range syntax). */
static const uint8_t b64url_pos1[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

/* 0..63, or 0xff when <c> is not in the alphabet. */
static inline uint8_t b64url_val(char c)
{
	return (uint8_t)(b64url_pos1[(uint8_t)c] - 1);
}

static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t room)
{
	size_t full = in_len / 4, rest = in_len % 4, need, i, o = 0;
	uint32_t v;
	uint8_t a, b, c, d;

	if (rest == 1)
		return -1;
	need = full * 3 + (rest ? rest - 1 : 0);
	if (need > room || need > (size_t)LONG_MAX)
		return -1;
	for (i = 0; i < full * 4; i += 4) {
		a = b64url_val(in[i]);
		b = b64url_val(in[i + 1]);
		c = b64url_val(in[i + 2]);
		d = b64url_val(in[i + 3]);
		if ((a | b | c | d) & 0xc0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (rest == 2) {
		a = b64url_val(in[i]);
		b = b64url_val(in[i + 1]);
		/* 12 bits carry 8: the low 4 bits of <b> must be zero */
		if (((a | b) & 0xc0) || (b & 0x0f))
			return -1;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
	} else if (rest == 3) {
		a = b64url_val(in[i]);
		b = b64url_val(in[i + 1]);
		c = b64url_val(in[i + 2]);
		/* 18 bits carry 16: the low 2 bits of <c> must be zero */
		if (((a | b | c) & 0xc0) || (c & 0x03))
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
	}
	return (long)o;
}

long b64url_encode(const uint8_t *in, size_t in_len, char *out, size_t room)
{
	size_t need = in_len / 3 * 4 + (in_len % 3 ? in_len % 3 + 1 : 0), i, o = 0;
	uint32_t v;

	if (need >= room || need > (size_t)LONG_MAX)
		return -1;
	for (i = 0; i + 3 <= in_len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (in_len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (in_len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return (long)o;
}
