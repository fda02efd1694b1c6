/*
 * libFuzzer target for the SPOP codec (spop/spop.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ispop \
 *         tests/fuzz/fuzz_spop.c spop/spop.c -o /tmp/fuzz_spop
 *   mkdir -p /tmp/spop-corpus
 *   /tmp/fuzz_spop -max_total_time=60 /tmp/spop-corpus tests/fuzz/corpus/spop
 *
 * (New inputs go to the first directory: keep the seed directory clean.)
 *
 * The input is read as a byte stream from HAProxy: frames are cut with
 * spop_frame_parse and each complete one goes to the decoder its type calls
 * for, down to the last KV. Beyond "no crash, no over-read", a few properties
 * are checked (trap on failure): views stay inside the frame, decoded ids and
 * integers survive a varint round trip, a decoded DISCONNECT re-encodes to an
 * equivalent frame, a HELLO we accept yields an AGENT-HELLO that parses back.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spop.h"

#define check(cond) ((cond) ? (void)0 : __builtin_trap())

static void check_view(struct spop_str s, const uint8_t *p, size_t len)
{
	check(s.len <= len);
	check(s.len == 0 || (s.ptr >= p && (size_t)(s.ptr - p) <= len - s.len));
}

static void check_varint(uint64_t v)
{
	uint8_t tmp[SPOP_VARINT_MAX];
	uint64_t back = 0;
	size_t n;

	n = spop_varint_encode(v, tmp, sizeof(tmp));
	check(n >= 1 && n <= SPOP_VARINT_MAX);
	check(spop_varint_decode(tmp, n, &back) == (int)n && back == v);
	/* one byte short must be "need more", never a wrong value */
	check(spop_varint_decode(tmp, n - 1, &back) == 0);
}

static void check_value(const struct spop_value *v, const uint8_t *p, size_t len)
{
	check(v->type <= SPOP_DATA_BINARY);
	switch (v->type) {
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		check_varint(v->u.u);
		break;
	case SPOP_DATA_STRING:
	case SPOP_DATA_BINARY:
		check_view(v->u.s, p, len);
		break;
	}
}

/* LIST-OF-MESSAGES: name, NB-ARGS, exactly NB-ARGS KV items, to the end */
static void fuzz_notify(const uint8_t *p, size_t len)
{
	struct spop_reader r;
	struct spop_str name;
	struct spop_value v;
	unsigned int nargs, i;

	spop_reader_init(&r, p, len);
	while (!spop_reader_done(&r)) {
		if (spop_read_message(&r, &name, &nargs) < 0)
			return;
		check_view(name, p, len);
		check(nargs <= 255);
		for (i = 0; i < nargs; i++) {
			if (spop_read_kv(&r, &name, &v) < 0)
				return;
			check_view(name, p, len);
			check_value(&v, p, len);
		}
	}
	check(r.p == p + len);
}

/* LIST-OF-ACTIONS (notes §2.9): the codec only encodes actions, but walking
 * an ACK exercises the raw readers on the layout HAProxy decodes.
 */
static void fuzz_ack(const uint8_t *p, size_t len)
{
	struct spop_reader r;
	struct spop_str name;
	struct spop_value v;
	uint8_t type, nargs;

	spop_reader_init(&r, p, len);
	while (!spop_reader_done(&r)) {
		if ((size_t)(r.end - r.p) < 3)
			return;
		type = r.p[0];
		nargs = r.p[1];
		r.p += 3;
		if (spop_read_str(&r, &name) < 0)
			return;
		check_view(name, p, len);
		if (type == 1 && nargs == 3) {
			if (spop_read_value(&r, &v) < 0)
				return;
			check_value(&v, p, len);
		} else if (type != 2 || nargs != 2) {
			return;
		}
	}
}

static void fuzz_hello(const uint8_t *p, size_t len)
{
	struct spop_hello h;
	struct spop_frame f;
	struct spop_buf b;
	uint8_t out[128];
	enum spop_status st;
	uint32_t mfs;
	size_t n;

	st = spop_hello_decode(p, len, &h);
	check(st == SPOP_ERR_NONE || st == SPOP_ERR_INVALID || st == SPOP_ERR_NO_VSN ||
	      st == SPOP_ERR_NO_FRAME_SIZE || st == SPOP_ERR_BAD_VSN || st == SPOP_ERR_BAD_FRAME_SIZE);
	if (st != SPOP_ERR_NONE)
		return;
	check(h.has_versions && h.supports_20 && h.has_max_frame_size);
	check(h.max_frame_size >= SPOP_MIN_FRAME_SIZE);
	check(!h.pipelining || h.has_capabilities);

	/* what conn.c will answer: negotiated down, never refused */
	mfs =
	    h.max_frame_size < SPOP_DEFAULT_FRAME_SIZE ? (uint32_t)h.max_frame_size : SPOP_DEFAULT_FRAME_SIZE;
	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_hello(&b, mfs, h.pipelining);
	check(n > 0 && n == b.len);
	check(spop_frame_parse(out, n, mfs, &f) == (long)n);
	check(f.type == SPOP_FRM_AGENT_HELLO && f.flags == SPOP_FL_FIN && f.sid == 0 && f.fid == 0);
}

static void fuzz_disconnect(const uint8_t *p, size_t len)
{
	struct spop_disconnect d, back;
	struct spop_frame f;
	struct spop_buf b;
	uint8_t out[512];
	char msg[256];
	size_t n, mlen;

	if (spop_disconnect_decode(p, len, &d) < 0)
		return;
	check_view(d.message, p, len);

	/* Echo it as an AGENT-DISCONNECT: the message is cut at a NUL and at
	 * 255 bytes, the status goes out as UINT32.
	 */
	mlen = d.message.len < sizeof(msg) - 1 ? d.message.len : sizeof(msg) - 1;
	if (mlen)
		memcpy(msg, d.message.ptr, mlen);
	msg[mlen] = '\0';
	mlen = strlen(msg);
	spop_buf_init(&b, out, sizeof(out));
	n = spop_agent_disconnect(&b, (enum spop_status)(uint32_t)d.status, msg);
	check(n > 0 && n == b.len);
	check(spop_frame_parse(out, n, UINT32_MAX, &f) == (long)n);
	check(f.type == SPOP_FRM_AGENT_DISCONNECT && f.flags == SPOP_FL_FIN && f.sid == 0 && f.fid == 0);
	check(spop_disconnect_decode(f.payload, f.payload_len, &back) == 0);
	check(back.status == (uint32_t)d.status);
	check(back.message.len == (mlen < 255 ? mlen : 255));
	check(memcmp(back.message.ptr, msg, back.message.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spop_frame f;
	size_t off = 0;
	long r;

	while (off < size) {
		r = spop_frame_parse(data + off, size - off, SPOP_DEFAULT_FRAME_SIZE, &f);
		if (r <= 0) {
			check(r == 0 || r == -SPOP_ERR_TOO_BIG || r == -SPOP_ERR_INVALID);
			break;
		}
		check((size_t)r <= size - off && r >= 4 + (long)SPOP_MIN_FRAME_LEN);
		check(f.frame_len == (size_t)r - 4 && f.frame_len <= SPOP_DEFAULT_FRAME_SIZE);
		check(f.payload >= data + off + 4 + 7 && f.payload + f.payload_len == data + off + r);
		check_varint(f.sid);
		check_varint(f.fid);

		switch (f.type) {
		case SPOP_FRM_HAPROXY_HELLO:
		case SPOP_FRM_AGENT_HELLO:
			fuzz_hello(f.payload, f.payload_len);
			break;
		case SPOP_FRM_HAPROXY_DISCONNECT:
		case SPOP_FRM_AGENT_DISCONNECT:
			fuzz_disconnect(f.payload, f.payload_len);
			break;
		case SPOP_FRM_NOTIFY:
			fuzz_notify(f.payload, f.payload_len);
			break;
		case SPOP_FRM_ACK:
			fuzz_ack(f.payload, f.payload_len);
			break;
		}
		off += (size_t)r;
	}
	return 0;
}
