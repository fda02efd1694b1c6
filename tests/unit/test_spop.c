/*
 * Unit tests of the SPOP codec (spop/spop.c). Frames come from
 * ../shared/notes/spop.md (§2.3, §2.6-§2.10, Appendix A), most of them
 * captured from live HAProxy 2.6.12 / 3.3.0.
 *
 * Every decoder input is copied flush against the end of its own malloc'd
 * block, so a read one byte past the input is an ASan error (the guard-page
 * idea of h2o/picohttpparser: test.c, without the mmap).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spop.h"
#include "t.h"

#define MAXF 1024

/* ---- helpers ---- */

/* Turns "00 0e 'max-frame-size' 03 fcf006" into bytes: hex pairs, blanks
 * ignored, text between single quotes copied as is. Aborts on a typo so a
 * broken fixture cannot pass for a codec bug.
 */
static size_t unhex(const char *s, uint8_t *out, size_t room)
{
	size_t n = 0;
	int hi, lo;

	while (*s) {
		if (*s == ' ' || *s == '\n' || *s == '\t') {
			s++;
			continue;
		}
		if (*s == '\'') {
			for (s++; *s && *s != '\''; s++) {
				if (n >= room)
					abort();
				out[n++] = (uint8_t)*s;
			}
			if (!*s)
				abort();
			s++;
			continue;
		}
		hi = *s ? (s[0] >= 'a' ? s[0] - 'a' + 10 : s[0] - '0') : -1;
		lo = s[1] ? (s[1] >= 'a' ? s[1] - 'a' + 10 : s[1] - '0') : -1;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15 || n >= room)
			abort();
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n;
}

/* A copy of <n> bytes ending exactly at the end of its heap block. For n = 0
 * the pointer is the end of a 1-byte block: any read is an over-read.
 */
static uint8_t *flush_copy(const uint8_t *src, size_t n)
{
	uint8_t *p = calloc(n ? n : 1, 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, src, n);
	return n ? p : p + 1;
}

static void flush_free(uint8_t *p, size_t n)
{
	free(n ? p : p - 1);
}

static void dump(const char *what, const uint8_t *p, size_t n)
{
	size_t i;

	printf("# %s (%zu):", what, n);
	for (i = 0; i < n; i++)
		printf(" %02x", p[i]);
	putchar('\n');
}

/* ok() on "<got> equals the bytes of <want_hex>", dumping both on mismatch */
static void ok_bytes(const uint8_t *got, size_t got_len, const char *want_hex, const char *what)
{
	uint8_t want[MAXF];
	size_t want_len = unhex(want_hex, want, sizeof(want));
	int same = got_len == want_len && memcmp(got, want, want_len) == 0;

	ok(same, "%s: %zu bytes, byte-for-byte", what, want_len);
	if (!same) {
		dump("got ", got, got_len);
		dump("want", want, want_len);
	}
}

static long parse_copy(const uint8_t *src, size_t n, uint32_t max_len, struct spop_frame *f)
{
	uint8_t *p = flush_copy(src, n);
	long r = spop_frame_parse(p, n, max_len, f);

	flush_free(p, n);
	return r;
}

/* ---- fixtures (notes §2.6-§2.10, Appendix A) ---- */

/* Appendix A, verbatim */
static const char HC_HELLO[] =
    "0000004e0100000001000012737570706f727465642d76657273696f6e730803322e300e6d61782d6672616d652d"
    "73697a6503fcf0060c6361706162696c697469657308000b6865616c7468636865636b11";

static const char AGENT_HELLO[] =
    "000000406500000001000007 76657273696f6e 0803 322e30 0e 6d61782d6672616d652d73697a65 03fcf006"
    "0c 6361706162696c6974696573 080a 706970656c696e696e67";

static const char ACK_EX[] =
    "0000002c 67 00000001 01 01  010302 05 76616c6964 11  010302 03 737562 08 05 616c696365"
    "010302 03 657870 04 f081b6d433";

static const char AGENT_DISC[] =
    "0000002f 66 00000001 00 00  0b 7374617475732d636f6465 03 03  07 6d657373616765 08 10"
    "6672616d6520697320746f6f20626967";

/* §2.6, HAProxy 3.3.0 hex dump verbatim */
static const char HELLO_33[] = "00 00 00 7b 01 00 00 00 01 00 00 12 73 75 70 70"
                               "6f 72 74 65 64 2d 76 65 72 73 69 6f 6e 73 08 03"
                               "32 2e 30 0e 6d 61 78 2d 66 72 61 6d 65 2d 73 69"
                               "7a 65 03 fc f0 06 0c 63 61 70 61 62 69 6c 69 74"
                               "69 65 73 08 0a 70 69 70 65 6c 69 6e 69 6e 67 09"
                               "65 6e 67 69 6e 65 2d 69 64 08 24 64 37 63 31 65"
                               "62 37 37 2d 35 64 30 63 2d 34 34 35 37 2d 39 36"
                               "30 34 2d 31 31 65 33 31 62 65 37 66 35 31 30";

/* §2.6: 2.6.12 is the same except capabilities and the length */
static const char HELLO_26[] = "00000081 01 00000001 00 00"
                               "12 'supported-versions' 08 03 '2.0'"
                               "0e 'max-frame-size' 03 fcf006"
                               "0c 'capabilities' 08 10 'pipelining,async'"
                               "09 'engine-id' 08 24 'd7c1eb77-5d0c-4457-9604-11e31be7f510'";

/* §2.8, HAProxy 3.3.0 */
static const char NOTIFY_EX[] = "00000082 03 00000001 01 01"
                                "09 'check-jwt' 08"
                                "05 'token' 08 29 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'"
                                "02 'ip' 06 7f 00 00 01"
                                "06 'method' 08 03 'GET'"
                                "07 'nothere' 00"
                                "03 'int' 04 2a"
                                "03 'neg' 04 fd f0 fe fe fe fe fe fe fe 0e"
                                "01 'b' 11"
                                "00 08 07 'unnamed'";

/* §2.10: what 2.6 sends on `timeout idle` */
static const char HAPROXY_DISC[] = "00000031 02 00000001 00 00"
                                   "0b 'status-code' 03 02"
                                   "07 'message' 08 12 'a timeout occurred'";

/* The smallest legal frame: an empty NOTIFY with 2.6's stream-id 0 */
static const char MIN_FRAME[] = "00000007 03 00000001 00 00";

struct frame_case {
	const char *name;
	const char *hex;
	uint8_t type;
	uint64_t sid, fid;
	size_t payload_len;
};

static const struct frame_case frames[] = {
    {"health-check HAPROXY-HELLO", HC_HELLO, SPOP_FRM_HAPROXY_HELLO, 0, 0, 78 - 7},
    {"AGENT-HELLO", AGENT_HELLO, SPOP_FRM_AGENT_HELLO, 0, 0, 64 - 7},
    {"ACK", ACK_EX, SPOP_FRM_ACK, 1, 1, 44 - 7},
    {"AGENT-DISCONNECT", AGENT_DISC, SPOP_FRM_AGENT_DISCONNECT, 0, 0, 47 - 7},
    {"HAPROXY-HELLO 3.3", HELLO_33, SPOP_FRM_HAPROXY_HELLO, 0, 0, 123 - 7},
    {"HAPROXY-HELLO 2.6", HELLO_26, SPOP_FRM_HAPROXY_HELLO, 0, 0, 129 - 7},
    {"NOTIFY", NOTIFY_EX, SPOP_FRM_NOTIFY, 1, 1, 130 - 7},
    {"HAPROXY-DISCONNECT", HAPROXY_DISC, SPOP_FRM_HAPROXY_DISCONNECT, 0, 0, 49 - 7},
    {"minimal frame", MIN_FRAME, SPOP_FRM_NOTIFY, 0, 0, 0},
};

#define NFRAMES (sizeof(frames) / sizeof(frames[0]))

/* ---- varints (§2.3, trap 2) ---- */

struct varint_case {
	uint64_t v;
	const char *hex;
};

static const struct varint_case varints[] = {
    {0, "00"},
    {1, "01"},
    {239, "ef"},
    {240, "f000"},
    {1000, "f82f"},
    {2287, "ff7f"},
    {2288, "f08000"},
    {16380, "fcf006"},
    {65535, "fff01e"},
    {1767225600, "f081b6d433"},
    {UINT64_MAX, "fff0fefefefefefefe0e"},
    {(uint64_t)-3, "fdf0fefefefefefefe0e"},
};

/* Range edges of doc/SPOE.txt: value and expected encoded size */
static const struct {
	uint64_t v;
	size_t n;
} varint_sizes[] = {
    {239, 1},      {240, 2},      {2287, 2},       {2288, 3},       {264431, 3},      {264432, 4},
    {33818863, 4}, {33818864, 5}, {4328786159, 5}, {4328786160, 6}, {1ull << 63, 10}, {UINT64_MAX, 10},
};

static void test_varint(void)
{
	uint8_t want[16], out[16], *p;
	uint64_t v, x, got;
	size_t i, n, k, bad;
	int r;

	for (i = 0; i < sizeof(varints) / sizeof(varints[0]); i++) {
		n = unhex(varints[i].hex, want, sizeof(want));
		memset(out, 0xAA, sizeof(out));
		ok(spop_varint_encode(varints[i].v, out, sizeof(out)) == n && memcmp(out, want, n) == 0,
		   "varint encode %llu = %s", (unsigned long long)varints[i].v, varints[i].hex);
		ok(spop_varint_encode(varints[i].v, out, n - 1) == 0, "varint encode %llu, room %zu: 0",
		   (unsigned long long)varints[i].v, n - 1);

		p = flush_copy(want, n);
		v = 0;
		r = spop_varint_decode(p, n, &v);
		ok(r == (int)n && v == varints[i].v, "varint decode %s = %llu (r=%d)", varints[i].hex,
		   (unsigned long long)varints[i].v, r);
		flush_free(p, n);

		/* every strict prefix is "need more", never malformed */
		bad = 0;
		for (k = 0; k < n; k++) {
			p = flush_copy(want, k);
			if (spop_varint_decode(p, k, &v) != 0)
				bad++;
			flush_free(p, k);
		}
		ok(bad == 0, "varint %s: all %zu truncations need more", varints[i].hex, n);
	}

	for (i = 0; i < sizeof(varint_sizes) / sizeof(varint_sizes[0]); i++)
		ok(spop_varint_encode(varint_sizes[i].v, out, sizeof(out)) == varint_sizes[i].n,
		   "varint %llu takes %zu bytes", (unsigned long long)varint_sizes[i].v, varint_sizes[i].n);

	/* Round trips: every value near a power of two, plus a pseudo-random
	 * walk; a decoder must stop at its own end even with bytes following.
	 */
	bad = 0;
	x = 88172645463325252ull;
	for (i = 0; i < 64 * 3 + 200000; i++) {
		if (i < 64 * 3) {
			v = (1ull << (i / 3)) + (i % 3) - 1;
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = x >> (x & 63);
		}
		n = spop_varint_encode(v, out, sizeof(out));
		out[n] = 0xFF;
		if (n == 0 || spop_varint_decode(out, n + 1, &got) != (int)n || got != v)
			bad++;
	}
	ok(bad == 0, "varint: 200192 round trips (%zu bad)", bad);

	/* malformed */
	n = unhex("f0 80 80 80 80 80 80 80 80 80 00", want, sizeof(want));
	bad = 0;
	for (k = 0; k <= n; k++) {
		p = flush_copy(want, k);
		r = spop_varint_decode(p, k, &v);
		/* 10 continuing bytes are already hopeless */
		if (r != (k < 10 ? 0 : -1))
			bad++;
		flush_free(p, k);
	}
	ok(bad == 0, "11-byte varint: -1 from 10 bytes on, need more before");

	n = unhex("fff0fefefefefefefe0f", want, sizeof(want));
	p = flush_copy(want, n);
	ok(spop_varint_decode(p, n, &v) == -1, "varint 2^64-1 + 2^60: overflow of the sum is -1");
	flush_free(p, n);

	n = unhex("ff ff ff ff ff ff ff ff ff 0f", want, sizeof(want));
	p = flush_copy(want, n);
	ok(spop_varint_decode(p, n, &v) == -1, "varint of all-0xff bytes: overflow is -1");
	flush_free(p, n);

	n = unhex("f0 80 80 80 80 80 80 80 80 10", want, sizeof(want));
	p = flush_copy(want, n);
	ok(spop_varint_decode(p, n, &v) == -1, "varint whose 10th byte shifts bits out: -1");
	flush_free(p, n);

	n = unhex("f0 80 80 80 80 80 80 80 80 0e", want, sizeof(want));
	p = flush_copy(want, n);
	ok(spop_varint_decode(p, n, &v) == 10 && v == 0xf0204081020408f0ull,
	   "varint f0 80*8 0e: 10 bytes, fits 64 bits");
	flush_free(p, n);

	ok(spop_varint_encode(5, NULL, 0) == 0, "varint encode with no room: 0");
}

/* ---- typed data (§2.4, trap 1) ---- */

static void test_values(void)
{
	static const char ipv6[] = "20010db8000000000000000000000001";
	uint8_t buf[64], ip[16], *p;
	struct spop_reader r;
	struct spop_value v;
	struct spop_str s;
	size_t n, k, bad;
	int ret;

	struct {
		const char *hex;
		uint8_t type;
	} cases[] = {
	    {"00", SPOP_DATA_NULL},
	    {"01", SPOP_DATA_BOOL},
	    {"11", SPOP_DATA_BOOL},
	    {"02 05", SPOP_DATA_INT32},
	    {"02 fff0fefefefefefefe0e", SPOP_DATA_INT32},
	    {"03 fcf006", SPOP_DATA_UINT32},
	    {"04 2a", SPOP_DATA_INT64},
	    {"04 fdf0fefefefefefefe0e", SPOP_DATA_INT64},
	    {"05 fff0fefefefefefefe0e", SPOP_DATA_UINT64},
	    {"06 7f000001", SPOP_DATA_IPV4},
	    {"07 20010db8000000000000000000000001", SPOP_DATA_IPV6},
	    {"08 03 'GET'", SPOP_DATA_STRING},
	    {"08 00", SPOP_DATA_STRING},
	    {"09 04 00ff0102", SPOP_DATA_BINARY},
	    {"18 03 'GET'", SPOP_DATA_STRING},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = unhex(cases[i].hex, buf, sizeof(buf));
		p = flush_copy(buf, n);
		spop_reader_init(&r, p, n);
		memset(&v, 0, sizeof(v));
		ret = spop_read_value(&r, &v);
		ok(ret == 0 && v.type == cases[i].type && spop_reader_done(&r) && r.p == p + n,
		   "value %s: type %u, %zu bytes consumed", cases[i].hex, cases[i].type, n);

		switch (i) {
		case 1:
			ok(v.u.b == false, "BOOL 01 is false");
			break;
		case 2:
			ok(v.u.b == true, "BOOL 11 is true");
			break;
		case 3:
			ok(v.u.i == 5, "INT32 5");
			break;
		case 4:
			ok(v.u.i == -1, "INT32 -1 (64-bit two's complement)");
			break;
		case 5:
			ok(v.u.u == 16380, "UINT32 16380");
			break;
		case 6:
			ok(v.u.i == 42, "INT64 42");
			break;
		case 7:
			ok(v.u.i == -3, "INT64 -3");
			break;
		case 8:
			ok(v.u.u == UINT64_MAX, "UINT64 2^64-1");
			break;
		case 9:
			ok(memcmp(v.u.ip, "\x7f\x00\x00\x01", 4) == 0, "IPV4 127.0.0.1");
			break;
		case 10:
			unhex(ipv6, ip, sizeof(ip));
			ok(memcmp(v.u.ip, ip, 16) == 0, "IPV6 2001:db8::1");
			break;
		case 11:
			ok(spop_str_eq(v.u.s, "GET") && v.u.s.ptr == p + 2,
			   "STRING GET, pointing into the input");
			break;
		case 12:
			ok(v.u.s.len == 0, "empty STRING is the single byte 00");
			break;
		case 13:
			ok(v.u.s.len == 4 && memcmp(v.u.s.ptr, "\x00\xff\x01\x02", 4) == 0,
			   "BINARY 00 ff 01 02");
			break;
		case 14:
			ok(spop_str_eq(v.u.s, "GET"), "flags in the high nibble do not change the type");
			break;
		}
		flush_free(p, n);

		/* every truncation is malformed (inside a frame there is no
		 * "more"), and the reader stays where it was
		 */
		bad = 0;
		for (k = 0; k < n; k++) {
			p = flush_copy(buf, k);
			spop_reader_init(&r, p, k);
			if (spop_read_value(&r, &v) != -1 || r.p != p)
				bad++;
			flush_free(p, k);
		}
		ok(bad == 0, "value %s: every truncation is -1, reader unmoved", cases[i].hex);
	}

	bad = 0;
	for (unsigned t = 10; t <= 15; t++) {
		buf[0] = (uint8_t)t;
		buf[1] = buf[2] = 0;
		p = flush_copy(buf, 3);
		spop_reader_init(&r, p, 3);
		if (spop_read_value(&r, &v) != -1 || r.p != p)
			bad++;
		flush_free(p, 3);
	}
	ok(bad == 0, "reserved types 10..15 are malformed");

	/* strings */
	n = unhex("05 'hello' 00", buf, sizeof(buf));
	p = flush_copy(buf, n);
	spop_reader_init(&r, p, n);
	ok(spop_read_str(&r, &s) == 0 && spop_str_eq(s, "hello"), "read_str hello");
	ok(spop_read_str(&r, &s) == 0 && s.len == 0 && spop_reader_done(&r), "read_str empty, then done");
	ok(spop_read_str(&r, &s) == -1, "read_str at the end: -1");
	flush_free(p, n);

	n = unhex("06 'hello'", buf, sizeof(buf));
	p = flush_copy(buf, n);
	spop_reader_init(&r, p, n);
	ok(spop_read_str(&r, &s) == -1 && r.p == p, "read_str length 1 past the end: -1");
	flush_free(p, n);

	n = unhex("fff0fefefefefefefe0e 'x'", buf, sizeof(buf));
	p = flush_copy(buf, n);
	spop_reader_init(&r, p, n);
	ok(spop_read_str(&r, &s) == -1 && r.p == p, "read_str length 2^64-1: -1");
	flush_free(p, n);

	s.ptr = (const uint8_t *)"max-frame-size";
	s.len = 14;
	ok(spop_str_eq(s, "max-frame-size"), "str_eq exact");
	s.len = 1;
	ok(!spop_str_eq(s, "max-frame-size"), "str_eq: a prefix does not match (trap 9)");
	s.len = 14;
	ok(!spop_str_eq(s, "max-frame-siz"), "str_eq: a longer string does not match");
	s.len = 0;
	ok(!spop_str_eq(s, "max-frame-size") && spop_str_eq(s, ""), "str_eq: empty matches only empty");
	s.ptr = NULL;
	ok(spop_str_eq(s, ""), "str_eq: empty view with NULL ptr");
}

/* ---- frame header (§2.2, traps 5, 8) ---- */

static void test_frame_parse(void)
{
	uint8_t buf[MAXF], *p;
	struct spop_frame f;
	size_t n, k, bad;
	long r;

	for (size_t i = 0; i < NFRAMES; i++) {
		const struct frame_case *c = &frames[i];

		n = unhex(c->hex, buf, sizeof(buf));
		memset(&f, 0, sizeof(f));
		r = parse_copy(buf, n, SPOP_DEFAULT_FRAME_SIZE, &f);
		ok(r == (long)n && f.type == c->type && f.flags == SPOP_FL_FIN && f.sid == c->sid &&
		       f.fid == c->fid && f.payload_len == c->payload_len && f.frame_len == n - 4,
		   "%s: %zu bytes, type %u, FIN, sid %llu, fid %llu, payload %zu", c->name, n, c->type,
		   (unsigned long long)c->sid, (unsigned long long)c->fid, c->payload_len);

		bad = 0;
		for (k = 0; k < n; k++)
			if (parse_copy(buf, k, SPOP_DEFAULT_FRAME_SIZE, &f) != 0)
				bad++;
		ok(bad == 0, "%s: all %zu truncations need more", c->name, n);

		/* trailing bytes belong to the next frame */
		buf[n] = 0;
		ok(parse_copy(buf, n + 1, SPOP_DEFAULT_FRAME_SIZE, &f) == (long)n, "%s: followed by a byte",
		   c->name);
		ok(parse_copy(buf, n, (uint32_t)(n - 4), &f) == (long)n, "%s: length == max_len accepted",
		   c->name);
		ok(parse_copy(buf, n, (uint32_t)(n - 5), &f) == -SPOP_ERR_TOO_BIG,
		   "%s: length == max_len + 1 too big", c->name);
	}

	/* the length alone decides, with only the 4-byte prefix buffered */
	n = unhex("00003ffd", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_TOO_BIG, "length 16381 > 16380: TOO_BIG from 4 bytes");
	n = unhex("00003ffc", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == 0, "length 16380 with 4 bytes: need more");
	n = unhex("ffffffff", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_TOO_BIG, "4 GiB length: TOO_BIG");
	n = unhex("ffffffff 03", buf, sizeof(buf));
	ok(parse_copy(buf, n, UINT32_MAX - 1, &f) == -SPOP_ERR_TOO_BIG, "4 GiB length, max 4 GiB-2: TOO_BIG");
	n = unhex("'GET '", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_TOO_BIG,
	   "HTTP on the SPOP port: TOO_BIG, not a 1 GiB wait");
	n = unhex("00000000", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "length 0: INVALID");
	n = unhex("00000006 03 00000001 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "length 6: INVALID");
	n = unhex("00000006", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "length 6 with 4 bytes: INVALID at once");
	n = unhex("00000007 03 00000001 00 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 6, &f) == -SPOP_ERR_TOO_BIG, "length 7, max 6: TOO_BIG first");

	/* the header must fit the frame */
	n = unhex("00000007 03 00000001 f0 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "frame-id past the frame end: INVALID");
	n = unhex("00000008 03 00000001 01 f0 80 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID,
	   "frame-id varint cut by the frame end: INVALID");
	n = unhex("00000010 03 00000001 f0 80 80 80 80 80 80 80 80 80 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "11-byte stream-id: INVALID");
	n = unhex("00000010 03 00000001 fff0fefefefefefefe0f 00", buf, sizeof(buf));
	ok(parse_copy(buf, n, 16380, &f) == -SPOP_ERR_INVALID, "overflowing stream-id: INVALID");

	/* big ids survive as u64 (trap 19) */
	n = unhex("0000001d 67 00000003 fff0fefefefefefefe0e fdf0fefefefefefefe0e 'abcd'", buf, sizeof(buf));
	p = flush_copy(buf, n);
	r = spop_frame_parse(p, n, 16380, &f);
	ok(r == (long)n && f.sid == UINT64_MAX && f.fid == (uint64_t)-3 && f.flags == 3 &&
	       f.payload_len == 4 && f.payload == p + n - 4 && memcmp(f.payload, "abcd", 4) == 0,
	   "10-byte ids, FIN|ABORT flags, payload in place");
	flush_free(p, n);

	/* type and FIN are the caller's business */
	n = unhex("00000007 2a 00000000 05 06", buf, sizeof(buf));
	r = parse_copy(buf, n, 16380, &f);
	ok(r == 11 && f.type == 42 && f.flags == 0 && f.sid == 5 && f.fid == 6,
	   "unknown type, no FIN: parsed");
}

/* ---- byte-at-a-time feed (picohttpparser test_chunked_per_byte) ---- */

static void test_byte_feed(void)
{
	static const char *const stream[] = {HC_HELLO, NOTIFY_EX, ACK_EX, MIN_FRAME, HAPROXY_DISC, HELLO_26};
	uint8_t buf[MAXF], *p;
	size_t ends[8], total = 0, off = 0, have, nframes = 0, bad = 0;
	struct spop_frame f;
	long r;

	for (size_t i = 0; i < sizeof(stream) / sizeof(stream[0]); i++) {
		total += unhex(stream[i], buf + total, sizeof(buf) - total);
		ends[i] = total;
	}

	/* bytes arrive one by one; a frame must be reported exactly when its
	 * last byte is in, and the rest kept for the next call
	 */
	for (have = 1; have <= total; have++) {
		p = flush_copy(buf + off, have - off);
		r = spop_frame_parse(p, have - off, SPOP_DEFAULT_FRAME_SIZE, &f);
		flush_free(p, have - off);
		if (have == ends[nframes]) {
			if (r != (long)(have - off))
				bad++;
			off = have;
			nframes++;
		} else if (r != 0) {
			bad++;
		}
	}
	ok(bad == 0 && nframes == 6 && off == total,
	   "byte feed: %zu frames over %zu bytes, each exactly at its end", nframes, total);

	/* the same buffer whole: frames are consumed in turn */
	off = 0;
	nframes = 0;
	p = flush_copy(buf, total);
	while ((r = spop_frame_parse(p + off, total - off, SPOP_DEFAULT_FRAME_SIZE, &f)) > 0) {
		off += (size_t)r;
		nframes++;
	}
	flush_free(p, total);
	ok(r == 0 && nframes == 6 && off == total, "whole buffer: 6 frames, then need more");
}

/* ---- HAPROXY-HELLO (§2.6, traps 9, 11-13) ---- */

static enum spop_status hello_hex(const char *hex, struct spop_hello *h)
{
	uint8_t buf[MAXF], *p;
	enum spop_status st;
	size_t n;

	n = unhex(hex, buf, sizeof(buf));
	p = flush_copy(buf, n);
	st = spop_hello_decode(p, n, h);
	flush_free(p, n);
	return st;
}

static enum spop_status hello_frame(const char *hex, struct spop_hello *h)
{
	uint8_t buf[MAXF], *p;
	struct spop_frame f;
	enum spop_status st = SPOP_ERR_UNKNOWN;
	size_t n;

	n = unhex(hex, buf, sizeof(buf));
	p = flush_copy(buf, n);
	if (spop_frame_parse(p, n, SPOP_DEFAULT_FRAME_SIZE, &f) == (long)n)
		st = spop_hello_decode(f.payload, f.payload_len, h);
	flush_free(p, n);
	return st;
}

#define VSN   "12 'supported-versions' 08 03 '2.0'"
#define MFS   "0e 'max-frame-size' 03 fcf006"
#define CAPS  "0c 'capabilities' 08 0a 'pipelining'"
#define NOCAP "0c 'capabilities' 08 00"

static void test_hello(void)
{
	static const struct {
		const char *vsn;
		bool ok;
	} vsns[] = {
	    {"'2.0'", true},    {"'1.0,2.0'", true}, {"' 1.0 , 2.0 '", true}, {"'2.0,3.0'", true},
	    {"'2.1'", true},    {"'2.999'", true},   {"'1.0'", false},        {"'3.0'", false},
	    {"'20'", false},    {"''", false},       {"'2'", false},          {"'2.'", false},
	    {"'2.0.1'", false}, {"'2.1000'", false}, {"'12.0'", false},       {"'02.0'", false},
	    {"'2.0x'", false},  {"' , ,'", false},   {"'2,0'", false},        {"'2.-1'", false},
	};
	struct spop_hello h;
	enum spop_status st;
	size_t bad, n, k;
	uint8_t buf[MAXF], *p;

	st = hello_frame(HC_HELLO, &h);
	ok(st == SPOP_ERR_NONE && h.has_versions && h.supports_20 && h.has_max_frame_size &&
	       h.max_frame_size == 16380 && h.has_capabilities && !h.pipelining && h.healthcheck,
	   "health-check HELLO: 2.0, 16380, empty capabilities, healthcheck");
	st = hello_frame(HELLO_33, &h);
	ok(st == SPOP_ERR_NONE && h.supports_20 && h.max_frame_size == 16380 && h.pipelining &&
	       !h.healthcheck,
	   "3.3 HELLO: pipelining, engine-id skipped");
	st = hello_frame(HELLO_26, &h);
	ok(st == SPOP_ERR_NONE && h.supports_20 && h.max_frame_size == 16380 && h.pipelining &&
	       !h.healthcheck,
	   "2.6 HELLO: pipelining out of pipelining,async");

	/* every truncation of a HELLO payload is malformed or incomplete,
	 * never an over-read (ASan) nor a success claiming all items
	 */
	n = unhex(HC_HELLO, buf, sizeof(buf));
	bad = 0;
	for (k = 11; k < n; k++) {
		p = flush_copy(buf + 11, k - 11);
		st = spop_hello_decode(p, k - 11, &h);
		if (st == SPOP_ERR_NONE && h.healthcheck)
			bad++;
		flush_free(p, k - 11);
	}
	ok(bad == 0, "health-check HELLO: every truncated payload refused");

	ok(hello_hex(MFS CAPS, &h) == SPOP_ERR_NO_VSN && !h.has_versions, "no supported-versions: 5");
	ok(hello_hex(VSN CAPS, &h) == SPOP_ERR_NO_FRAME_SIZE && !h.has_max_frame_size,
	   "no max-frame-size: 6");
	ok(hello_hex(VSN MFS, &h) == SPOP_ERR_NONE && !h.has_capabilities && !h.pipelining,
	   "no capabilities: tolerated");
	ok(hello_hex("", &h) == SPOP_ERR_NO_VSN, "empty payload: 5");
	ok(hello_hex(CAPS NOCAP MFS "0b 'healthcheck' 01" VSN, &h) == SPOP_ERR_NONE && !h.pipelining &&
	       !h.healthcheck,
	   "any order; last capabilities wins; healthcheck false");
	ok(hello_hex("03 'foo' 07 20010db8000000000000000000000001 00 00" VSN "01 'x' 09 02 0102" MFS, &h) ==
	       SPOP_ERR_NONE,
	   "unknown keys (IPV6, empty name, BINARY) skipped");

	/* supported-versions: a list, exactly major 2 */
	for (size_t i = 0; i < sizeof(vsns) / sizeof(vsns[0]); i++) {
		char hex[256];
		size_t len = strlen(vsns[i].vsn) - 2;

		snprintf(hex, sizeof(hex), "12 'supported-versions' 08 %02zx %s" MFS, len, vsns[i].vsn);
		st = hello_hex(hex, &h);
		ok(st == (vsns[i].ok ? SPOP_ERR_NONE : SPOP_ERR_BAD_VSN) && h.has_versions,
		   "supported-versions %s: %s", vsns[i].vsn, vsns[i].ok ? "accepted" : "8");
	}
	ok(hello_hex("12 'supported-versions' 08 03 '1.0'", &h) == SPOP_ERR_BAD_VSN,
	   "bad version and no max-frame-size: 8 (version judged first)");

	/* max-frame-size: any integer type, >= 256 */
	ok(hello_hex(VSN "0e 'max-frame-size' 03 f1 00", &h) == SPOP_ERR_BAD_FRAME_SIZE &&
	       h.max_frame_size == 241,
	   "max-frame-size 241: 9");
	ok(hello_hex(VSN "0e 'max-frame-size' 03 ff 00", &h) == SPOP_ERR_BAD_FRAME_SIZE &&
	       h.max_frame_size == 255,
	   "max-frame-size 255: 9");
	ok(hello_hex(VSN "0e 'max-frame-size' 03 f0 01"
	                 "0e 'max-frame-size' 03 ff 00",
	             &h) == SPOP_ERR_BAD_FRAME_SIZE,
	   "max-frame-size 256 then 255: the last one counts, 9");
	ok(hello_hex(VSN "0e 'max-frame-size' 03 00", &h) == SPOP_ERR_BAD_FRAME_SIZE, "max-frame-size 0: 9");
	ok(hello_hex(VSN "0e 'max-frame-size' 03 f0 01", &h) == SPOP_ERR_NONE && h.max_frame_size == 256,
	   "max-frame-size 256 accepted");
	ok(hello_hex(VSN "0e 'max-frame-size' 04 fcf006", &h) == SPOP_ERR_NONE && h.max_frame_size == 16380,
	   "max-frame-size as INT64");
	ok(hello_hex(VSN "0e 'max-frame-size' 02 fcf006", &h) == SPOP_ERR_NONE && h.max_frame_size == 16380,
	   "max-frame-size as INT32");
	ok(hello_hex(VSN "0e 'max-frame-size' 05 fff0fefefefefefefe0e", &h) == SPOP_ERR_NONE &&
	       h.max_frame_size == UINT64_MAX,
	   "max-frame-size as UINT64 2^64-1: accepted, the caller negotiates down");
	ok(hello_hex(VSN "0e 'max-frame-size' 04 fff0fefefefefefefe0e", &h) == SPOP_ERR_BAD_FRAME_SIZE,
	   "max-frame-size INT64 -1: 9, not 2^64-1");
	ok(hello_hex(VSN "0e 'max-frame-size' 08 05 '16380'", &h) == SPOP_ERR_INVALID,
	   "max-frame-size as STRING: 4");
	ok(hello_hex(VSN "0d 'max-frame-siz' 03 fcf006", &h) == SPOP_ERR_NO_FRAME_SIZE,
	   "key 'max-frame-siz': 6");
	ok(hello_hex(VSN "0f 'max-frame-sizes' 03 fcf006", &h) == SPOP_ERR_NO_FRAME_SIZE,
	   "key 'max-frame-sizes': 6");
	ok(hello_hex("01 's' 08 03 '2.0'" MFS, &h) == SPOP_ERR_NO_VSN,
	   "key 's' is not supported-versions: 5");

	/* capabilities tokens */
	ok(hello_hex(VSN MFS "0c 'capabilities' 08 11 'async, pipelining'", &h) == SPOP_ERR_NONE &&
	       h.pipelining,
	   "capabilities 'async, pipelining'");
	ok(hello_hex(VSN MFS "0c 'capabilities' 08 0b 'pipelining2'", &h) == SPOP_ERR_NONE && !h.pipelining,
	   "capabilities 'pipelining2': not pipelining");
	ok(hello_hex(VSN MFS "0c 'capabilities' 08 09 'pipelinin'", &h) == SPOP_ERR_NONE && !h.pipelining,
	   "capabilities 'pipelinin': not pipelining");
	ok(hello_hex(VSN MFS "0c 'capabilities' 08 0c ' pipelining,'", &h) == SPOP_ERR_NONE && h.pipelining,
	   "capabilities ' pipelining,'");
	ok(hello_hex(VSN MFS "0c 'capabilities' 03 00", &h) == SPOP_ERR_INVALID, "capabilities as UINT32: 4");

	/* healthcheck */
	ok(hello_hex(VSN MFS NOCAP "0b 'healthcheck' 11", &h) == SPOP_ERR_NONE && h.healthcheck,
	   "healthcheck true");
	ok(hello_hex(VSN MFS NOCAP "0b 'healthcheck' 08 04 'true'", &h) == SPOP_ERR_INVALID,
	   "healthcheck STRING: 4");

	/* malformed KV: 4 wins over everything else */
	ok(hello_hex(VSN MFS "0c 'capabilities' 08 0b 'pipelining'", &h) == SPOP_ERR_INVALID,
	   "string length past the end: 4");
	ok(hello_hex(VSN MFS "0c 'capabilities'", &h) == SPOP_ERR_INVALID, "key without a value: 4");
	ok(hello_hex(VSN MFS "0c 'capabilities' 0a", &h) == SPOP_ERR_INVALID, "reserved type 10: 4");
	ok(hello_hex("0e 'max-frame-size' 03 fc f0", &h) == SPOP_ERR_INVALID, "cut varint: 4");
	ok(hello_hex("12 'supported-versions' 04 03 '2.0'", &h) == SPOP_ERR_INVALID,
	   "supported-versions as INT64 (then garbage): 4");
	ok(hello_hex("ff", &h) == SPOP_ERR_INVALID, "lone byte: 4");
}

/* ---- NOTIFY (§2.8, trap 35) ---- */

static void test_notify(void)
{
	uint8_t buf[MAXF], *p;
	struct spop_frame f;
	struct spop_reader r;
	struct spop_str name;
	struct spop_value v;
	unsigned nargs = 0;
	size_t n;

	n = unhex(NOTIFY_EX, buf, sizeof(buf));
	p = flush_copy(buf, n);
	ok(spop_frame_parse(p, n, SPOP_DEFAULT_FRAME_SIZE, &f) == (long)n, "NOTIFY: parsed");
	spop_reader_init(&r, f.payload, f.payload_len);

	ok(spop_read_message(&r, &name, &nargs) == 0 && spop_str_eq(name, "check-jwt") && nargs == 8,
	   "message check-jwt, 8 args");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "token") && v.type == SPOP_DATA_STRING &&
	       spop_str_eq(v.u.s, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"),
	   "arg token: STRING of 41 bytes");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "ip") && v.type == SPOP_DATA_IPV4 &&
	       memcmp(v.u.ip, "\x7f\0\0\x01", 4) == 0,
	   "arg ip: IPV4 127.0.0.1");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "method") && v.type == SPOP_DATA_STRING &&
	       spop_str_eq(v.u.s, "GET"),
	   "arg method: STRING GET");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "nothere") && v.type == SPOP_DATA_NULL,
	   "arg nothere: NULL (failed fetch)");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "int") && v.type == SPOP_DATA_INT64 &&
	       v.u.i == 42,
	   "arg int: INT64 42");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "neg") && v.type == SPOP_DATA_INT64 &&
	       v.u.i == -3,
	   "arg neg: INT64 -3");
	ok(spop_read_kv(&r, &name, &v) == 0 && spop_str_eq(name, "b") && v.type == SPOP_DATA_BOOL && v.u.b,
	   "arg b: BOOL true");
	ok(spop_read_kv(&r, &name, &v) == 0 && name.len == 0 && v.type == SPOP_DATA_STRING &&
	       spop_str_eq(v.u.s, "unnamed"),
	   "unnamed arg: empty name, STRING unnamed");
	ok(spop_reader_done(&r) && r.p == p + n, "NOTIFY payload consumed to the byte");
	ok(spop_read_message(&r, &name, &nargs) == -1, "no message after the end");
	flush_free(p, n);

	n = unhex("09 'check-jwt'", buf, sizeof(buf));
	p = flush_copy(buf, n);
	spop_reader_init(&r, p, n);
	ok(spop_read_message(&r, &name, &nargs) == -1 && r.p == p,
	   "message without NB-ARGS: -1, reader unmoved");
	flush_free(p, n);

	n = unhex("05 'token' 08 29 'abc'", buf, sizeof(buf));
	p = flush_copy(buf, n);
	spop_reader_init(&r, p, n);
	ok(spop_read_kv(&r, &name, &v) == -1 && r.p == p,
	   "kv with a string past the end: -1, reader unmoved");
	flush_free(p, n);
}

/* ---- DISCONNECT (§2.10, trap 22) ---- */

/* The decoded message points into the input, so the input lives until the
 * next call (or disc_hex(NULL) at the end).
 */
static int disc_hex(const char *hex, struct spop_disconnect *d)
{
	static uint8_t *last;
	static size_t last_n;
	uint8_t buf[MAXF];
	int r;

	if (last)
		flush_free(last, last_n);
	last = NULL;
	if (!hex)
		return 0;
	last_n = unhex(hex, buf, sizeof(buf));
	last = flush_copy(buf, last_n);
	r = spop_disconnect_decode(last, last_n, d);
	return r;
}

static void test_disconnect_decode(void)
{
	uint8_t buf[MAXF], *p;
	struct spop_disconnect d;
	struct spop_frame f;
	size_t n;

	n = unhex(HAPROXY_DISC, buf, sizeof(buf));
	p = flush_copy(buf, n);
	ok(spop_frame_parse(p, n, SPOP_DEFAULT_FRAME_SIZE, &f) == (long)n &&
	       spop_disconnect_decode(f.payload, f.payload_len, &d) == 0 && d.status == SPOP_ERR_TOUT &&
	       spop_str_eq(d.message, "a timeout occurred"),
	   "HAPROXY-DISCONNECT 2 'a timeout occurred'");
	flush_free(p, n);

	n = unhex(AGENT_DISC, buf, sizeof(buf));
	p = flush_copy(buf, n);
	ok(spop_frame_parse(p, n, SPOP_DEFAULT_FRAME_SIZE, &f) == (long)n &&
	       spop_disconnect_decode(f.payload, f.payload_len, &d) == 0 && d.status == SPOP_ERR_TOO_BIG &&
	       spop_str_eq(d.message, "frame is too big"),
	   "AGENT-DISCONNECT (Appendix A) 3 'frame is too big'");
	flush_free(p, n);

	ok(disc_hex("", &d) == 0 && d.status == 0 && d.message.len == 0, "empty DISCONNECT: 0, empty");
	ok(disc_hex("07 'message' 08 02 'hi'", &d) == 0 && d.status == 0 && spop_str_eq(d.message, "hi"),
	   "message only");
	ok(disc_hex("0b 'status-code' 04 09 03 'foo' 00", &d) == 0 && d.status == 9 && d.message.len == 0,
	   "status as INT64, unknown key skipped");
	ok(disc_hex("0b 'status-code' 08 01 '9'", &d) == -1, "status as STRING: -1");
	ok(disc_hex("07 'message' 03 02", &d) == -1, "message as UINT32: -1");
	ok(disc_hex("0b 'status-code' 03", &d) == -1, "status without its varint: -1");
	ok(disc_hex("07 'message' 08 03 'hi'", &d) == -1, "message past the end: -1");
	disc_hex(NULL, NULL);
}

/* ---- encoder (§2.7, §2.9, §2.10) ---- */

static void test_encode(void)
{
	uint8_t out[MAXF], *p;
	struct spop_buf b;
	struct spop_disconnect d;
	struct spop_frame f;
	char msg[400];
	size_t n, start, bad;

	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_hello(&b, 16380, true);
	ok(n == 68 && b.len == 68 && !b.overflow, "AGENT-HELLO (16380, pipelining): 68 bytes");
	ok_bytes(out, b.len, AGENT_HELLO, "AGENT-HELLO = Appendix A");

	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_hello(&b, 16380, false);
	ok_bytes(out, b.len,
	         "00000036 65 00000001 00 00 07 'version' 08 03 '2.0' 0e 'max-frame-size' 03 fcf006"
	         "0c 'capabilities' 08 00",
	         "AGENT-HELLO without pipelining: empty capabilities present");
	ok(n == 58, "AGENT-HELLO without pipelining: 58 bytes");

	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_hello(&b, 256, true);
	ok(n == 67 && out[4 + 7 + 13 + 15] == 0x03 && out[4 + 7 + 13 + 16] == 0xf0 &&
	       out[4 + 7 + 13 + 17] == 0x01,
	   "AGENT-HELLO max-frame-size 256 = f0 01");

	/* §2.9 ACK, built from the set-var helpers */
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_ACK, 1, 1);
	spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "valid", true);
	spop_put_set_var_str(&b, SPOP_SCOPE_TXN, "sub", "alice", 5);
	spop_put_set_var_int(&b, SPOP_SCOPE_TXN, "exp", 1767225600);
	n = spop_frame_end(&b, start, 16380);
	ok(start == 0 && n == 48, "ACK: 48 bytes");
	ok_bytes(out, b.len, ACK_EX, "ACK = Appendix A / §2.9");

	/* the other action encoders */
	spop_buf_init(&b, out, sizeof(out));
	spop_put_set_var_int(&b, SPOP_SCOPE_REQ, "neg", -3);
	spop_put_set_var_bool(&b, SPOP_SCOPE_SESS, "f", false);
	spop_put_unset_var(&b, SPOP_SCOPE_RES, "valid");
	spop_put_set_var_str(&b, SPOP_SCOPE_PROC, "e", "", 0);
	spop_put_kv_bool(&b, "healthcheck", true);
	spop_put_kv_uint(&b, "n", UINT32_MAX);
	ok_bytes(out, b.len,
	         "01 03 03 03 'neg' 04 fdf0fefefefefefefe0e"
	         "01 03 01 01 'f' 01"
	         "02 02 04 05 'valid'"
	         "01 03 00 01 'e' 08 00"
	         "0b 'healthcheck' 11"
	         "01 'n' 03 ff f0 fe fe 7e",
	         "set-var int/bool/str, unset-var, kv bool, kv uint");

	/* DISCONNECT encode, then decode it back */
	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_disconnect(&b, SPOP_ERR_TOO_BIG, spop_status_str(SPOP_ERR_TOO_BIG));
	ok(n == 51, "AGENT-DISCONNECT 3: 51 bytes");
	ok_bytes(out, b.len, AGENT_DISC, "AGENT-DISCONNECT = Appendix A");

	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_disconnect(&b, SPOP_ERR_NONE, NULL);
	ok_bytes(out, b.len, "0000001f 66 00000001 00 00 0b 'status-code' 03 00 07 'message' 08 00",
	         "AGENT-DISCONNECT 0 with a NULL message");

	/* message truncation at 255 (trap 22) */
	for (size_t len = 254; len <= 300; len += (len < 256 ? 1 : 44)) {
		memset(msg, 'x', len);
		msg[len] = '\0';
		spop_buf_init(&b, out, sizeof(out));
		n = spop_agent_disconnect(&b, SPOP_ERR_RES, msg);
		p = flush_copy(out, n);
		ok(n > 0 && spop_frame_parse(p, n, 16380, &f) == (long)n &&
		       f.type == SPOP_FRM_AGENT_DISCONNECT && f.sid == 0 && f.fid == 0 &&
		       spop_disconnect_decode(f.payload, f.payload_len, &d) == 0 &&
		       d.status == SPOP_ERR_RES && d.message.len == (len < 255 ? len : 255) &&
		       memcmp(d.message.ptr, msg, d.message.len) == 0,
		   "DISCONNECT message of %zu bytes goes out as %zu", len, len < 255 ? len : (size_t)255);
		flush_free(p, n);
	}
	/* a message exactly 255 long without a NUL after it: memchr must
	 * not look at byte 256 (ASan)
	 */
	p = flush_copy((const uint8_t *)msg, 255);
	spop_buf_init(&b, out, sizeof(out));
	ok(spop_agent_disconnect(&b, SPOP_ERR_UNKNOWN, (const char *)p) == 4 + 7 + 14 + 11 + 255,
	   "unterminated 255-byte message: read no further");
	flush_free(p, 255);

	/* overflow: every buffer shorter than the frame fails cleanly */
	bad = 0;
	for (size_t size = 0; size < 68; size++) {
		spop_buf_init(&b, out, size);
		if (spop_agent_hello(&b, 16380, true) != 0 || b.len != 0 || b.overflow)
			bad++;
	}
	spop_buf_init(&b, out, 68);
	ok(bad == 0 && spop_agent_hello(&b, 16380, true) == 68,
	   "AGENT-HELLO in 0..67 byte buffers: 0, rolled back; 68: fits");

	/* rollback keeps the frames already queued */
	spop_buf_init(&b, out, 100);
	n = spop_agent_hello(&b, 16380, true);
	ok(spop_agent_hello(&b, 16380, true) == 0 && b.len == 68 && !b.overflow,
	   "second AGENT-HELLO into 100 bytes: 0, first frame kept");
	ok(spop_agent_disconnect(&b, SPOP_ERR_TOO_BIG, "frame is too big") == 0 && b.len == 68,
	   "DISCONNECT does not fit either");
	spop_buf_init(&b, out, 68 + 51);
	spop_agent_hello(&b, 16380, true);
	ok(spop_agent_disconnect(&b, SPOP_ERR_TOO_BIG, "frame is too big") == 51 && b.len == 119,
	   "two frames back to back, exactly the buffer");
	ok_bytes(out + 68, 51, AGENT_DISC, "second frame intact");

	/* max_len on the frame, not on the buffer */
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_ACK, 7, 1);
	spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "valid", true);
	n = b.len - start - 4;
	ok(spop_frame_end(&b, start, (uint32_t)n - 1) == 0 && b.len == 0,
	   "frame over max_len: 0, rolled back");
	start = spop_frame_begin(&b, SPOP_FRM_ACK, 7, 1);
	spop_put_set_var_bool(&b, SPOP_SCOPE_TXN, "valid", true);
	ok(spop_frame_end(&b, start, (uint32_t)n) == n + 4, "frame of exactly max_len: accepted");

	/* latched overflow: a small write after a failed big one is dropped */
	spop_buf_init(&b, out, 20);
	start = spop_frame_begin(&b, SPOP_FRM_ACK, 1, 1);
	spop_put_set_var_str(&b, SPOP_SCOPE_TXN, "sub", msg, 100);
	n = b.len;
	spop_put_unset_var(&b, SPOP_SCOPE_TXN, "x");
	ok(b.overflow && b.len == n && n == 20, "overflow latched: later small writes dropped");
	ok(spop_frame_end(&b, start, 16380) == 0 && b.len == 0 && !b.overflow,
	   "frame_end: 0, rolled back, unlatched");

	/* large ids: ACKs echo u64 ids (trap 19) */
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_ACK, UINT64_MAX, 0);
	spop_put_unset_var(&b, SPOP_SCOPE_TXN, "v");
	n = spop_frame_end(&b, start, 16380);
	p = flush_copy(out, n);
	ok(n == 4 + 5 + 10 + 1 + 5 && spop_frame_parse(p, n, 16380, &f) == (long)n && f.sid == UINT64_MAX &&
	       f.fid == 0 && f.flags == SPOP_FL_FIN && f.payload_len == 5,
	   "ACK with stream-id 2^64-1 and frame-id 0");
	flush_free(p, n);

	/* encoded HELLO decodes as a HELLO too (same KV grammar) */
	spop_buf_init(&b, out, sizeof(out));
	start = spop_frame_begin(&b, SPOP_FRM_HAPROXY_HELLO, 0, 0);
	spop_put_kv_str(&b, "supported-versions", "2.0", 3);
	spop_put_kv_uint(&b, "max-frame-size", 16380);
	spop_put_kv_str(&b, "capabilities", "", 0);
	spop_put_kv_bool(&b, "healthcheck", true);
	n = spop_frame_end(&b, start, 16380);
	ok_bytes(out, n, HC_HELLO, "health-check HELLO rebuilt from the kv encoders");
}

static void test_status_str(void)
{
	static const struct {
		enum spop_status st;
		const char *text;
	} texts[] = {
	    {SPOP_ERR_NONE, "normal"},
	    {SPOP_ERR_IO, "I/O error"},
	    {SPOP_ERR_TOUT, "a timeout occurred"},
	    {SPOP_ERR_TOO_BIG, "frame is too big"},
	    {SPOP_ERR_INVALID, "invalid frame received"},
	    {SPOP_ERR_NO_VSN, "version value not found"},
	    {SPOP_ERR_NO_FRAME_SIZE, "max-frame-size value not found"},
	    {SPOP_ERR_NO_CAP, "capabilities value not found"},
	    {SPOP_ERR_BAD_VSN, "unsupported version"},
	    {SPOP_ERR_BAD_FRAME_SIZE, "max-frame-size too big or too small"},
	    {SPOP_ERR_FRAG_NOT_SUPPORTED, "fragmentation not supported"},
	    {SPOP_ERR_INTERLACED_FRAMES, "invalid interlaced frames"},
	    {SPOP_ERR_FRAMEID_NOTFOUND, "frame-id not found"},
	    {SPOP_ERR_RES, "resource allocation error"},
	    {SPOP_ERR_UNKNOWN, "an unknown error occurred"},
	    {(enum spop_status)14, "an unknown error occurred"},
	    {(enum spop_status)100, "an unknown error occurred"},
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		ok(strcmp(spop_status_str(texts[i].st), texts[i].text) == 0, "status %d: %s",
		   (int)texts[i].st, texts[i].text);
}

int main(void)
{
	test_varint();
	test_values();
	test_frame_parse();
	test_byte_feed();
	test_hello();
	test_notify();
	test_disconnect_decode();
	test_encode();
	test_status_str();
	return t_done("test_spop");
}
