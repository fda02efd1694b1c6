/*
 * SPOP 2.0 codec: see spop.h for the contract and ../shared/notes/spop.md §2
 * for the wire format; "trap N" refers to §8 of those notes.
 *
 * Nothing here allocates or does I/O. Every read is bounded by the buffer it
 * was given, lengths are compared as `len > (size_t)(end - p)` so that no
 * out-of-range pointer is ever formed, and readers advance only on success.
 */
#include <limits.h>
#include <string.h>

#include "spop.h"

/* Typed-data byte: type in the low nibble, flags in the high one (trap 1). */
#define SPOP_DATA_T_MASK  0x0Fu
#define SPOP_DATA_FL_TRUE 0x10u

/* ACK action ids and their NB-ARGS (notes §2.9, trap 10). */
#define SPOP_ACT_SET_VAR   1u
#define SPOP_ACT_UNSET_VAR 2u

/* HAProxy 2.6 refuses an AGENT-DISCONNECT whose message exceeds this (trap 22). */
#define SPOP_DISCONNECT_MSG_MAX 255u

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* ---- varints ---- */

size_t spop_varint_encode(uint64_t v, uint8_t *out, size_t room)
{
	uint8_t tmp[SPOP_VARINT_MAX];
	size_t n = 0;

	if (v < 240) {
		tmp[n++] = v;
		goto out;
	}
	/* The decoder adds every byte whole, the 0xF0 and 0x80 marks included
	 * (trap 2), so each step takes off what the byte just emitted will
	 * contribute. 2^64-1 needs exactly SPOP_VARINT_MAX bytes.
	 */
	tmp[n++] = (uint8_t)v | 0xF0;
	v = (v - 240) >> 4;
	while (v >= 128) {
		tmp[n++] = (uint8_t)v | 0x80;
		v = (v - 128) >> 7;
	}
	tmp[n++] = v;
out:
	if (n > room)
		return 0;
	memcpy(out, tmp, n);
	return n;
}

int spop_varint_decode(const uint8_t *p, size_t len, uint64_t *v)
{
	unsigned int shift = 4;
	uint64_t val, add;
	size_t i = 0;

	if (len == 0)
		return 0;
	val = p[0];
	if (val < 240)
		goto out;

	for (i = 1;; i++) {
		/* Tested before "need more": ten bytes that all continue can
		 * never become valid, so waiting for an 11th would stall.
		 */
		if (i >= SPOP_VARINT_MAX)
			return -1;
		if (i >= len)
			return 0;
		/* shift is at most 60 here (i <= 9), so the shift itself is
		 * defined; what must be caught is bits pushed out of the top
		 * and a carry out of the sum (HAProxy's decode_varint checks
		 * neither).
		 */
		add = (uint64_t)p[i] << shift;
		if (add >> shift != p[i] || val + add < val)
			return -1;
		val += add;
		if (p[i] < 128)
			break;
		shift += 7;
	}
out:
	*v = val;
	return (int)i + 1;
}

/* ---- frames ---- */

long spop_frame_parse(const uint8_t *buf, size_t len, uint32_t max_len, struct spop_frame *f)
{
	struct spop_frame fr;
	const uint8_t *p, *end;
	uint32_t flen;
	int n;

	if (len < 4)
		return 0;

	/* Trap 8: the length is judged before we wait for, or look at, a
	 * single byte of the body, so a hostile length costs nothing.
	 */
	flen = get_be32(buf);
	if (flen > max_len)
		return -SPOP_ERR_TOO_BIG;
#if ULONG_MAX <= 0xFFFFFFFFUL
	/* a 32-bit long could not carry 4 + length back to the caller */
	if (flen > (unsigned long)LONG_MAX - 4)
		return -SPOP_ERR_TOO_BIG;
#endif
	if (flen < SPOP_MIN_FRAME_LEN)
		return -SPOP_ERR_INVALID;
	if (flen > len - 4)
		return 0;

	p = buf + 4;
	end = p + flen;
	fr.frame_len = flen;
	fr.type = p[0];
	fr.flags = get_be32(p + 1);
	p += 5;

	/* The whole frame is buffered, so an id running past its end is a
	 * broken header, not a partial one.
	 */
	n = spop_varint_decode(p, (size_t)(end - p), &fr.sid);
	if (n <= 0)
		return -SPOP_ERR_INVALID;
	p += n;
	n = spop_varint_decode(p, (size_t)(end - p), &fr.fid);
	if (n <= 0)
		return -SPOP_ERR_INVALID;
	p += n;

	fr.payload = p;
	fr.payload_len = (size_t)(end - p);
	*f = fr;
	return 4 + (long)flen;
}

/* ---- payload readers ---- */

/* Bytes left to <r>; readers never move p past end, this only makes sure a
 * corrupted reader yields 0 rather than a huge size_t.
 */
static size_t reader_left(const struct spop_reader *r)
{
	return r->p < r->end ? (size_t)(r->end - r->p) : 0;
}

static int read_varint(struct spop_reader *r, uint64_t *v)
{
	int n;

	/* inside a frame "need more" (0) is as malformed as -1 */
	n = spop_varint_decode(r->p, reader_left(r), v);
	if (n <= 0)
		return -1;
	r->p += n;
	return 0;
}

int spop_read_str(struct spop_reader *r, struct spop_str *s)
{
	struct spop_reader t = *r;
	uint64_t len;

	if (read_varint(&t, &len) < 0)
		return -1;
	if (len > reader_left(&t))
		return -1;
	s->ptr = t.p;
	s->len = (size_t)len;
	r->p = t.p + len;
	return 0;
}

int spop_read_value(struct spop_reader *r, struct spop_value *v)
{
	struct spop_reader t = *r;
	uint8_t byte;
	uint64_t u;

	if (reader_left(&t) < 1)
		return -1;
	byte = *t.p++;
	v->type = byte & SPOP_DATA_T_MASK;

	switch (v->type) {
	case SPOP_DATA_NULL:
		break;
	case SPOP_DATA_BOOL:
		v->u.b = (byte & SPOP_DATA_FL_TRUE) != 0;
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		/* Negatives are the varint of the 64-bit two's complement
		 * (notes §2.4); the conversion back is modulo 2^64 on every
		 * compiler we build with. INT32 is not range-checked: HAProxy
		 * does not either, and it never sends INT32.
		 */
		if (read_varint(&t, &u) < 0)
			return -1;
		v->u.i = (int64_t)u;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		if (read_varint(&t, &u) < 0)
			return -1;
		v->u.u = u;
		break;
	case SPOP_DATA_IPV4:
		if (reader_left(&t) < 4)
			return -1;
		memcpy(v->u.ip, t.p, 4);
		t.p += 4;
		break;
	case SPOP_DATA_IPV6:
		if (reader_left(&t) < 16)
			return -1;
		memcpy(v->u.ip, t.p, 16);
		t.p += 16;
		break;
	case SPOP_DATA_STRING:
	case SPOP_DATA_BINARY:
		if (spop_read_str(&t, &v->u.s) < 0)
			return -1;
		break;
	default:
		/* 10..15 are reserved and their size unknown: nothing after
		 * them can be trusted (HAProxy skips the type byte alone and
		 * misparses the rest, notes §2.4).
		 */
		return -1;
	}
	r->p = t.p;
	return 0;
}

int spop_read_kv(struct spop_reader *r, struct spop_str *name, struct spop_value *v)
{
	struct spop_reader t = *r;

	/* KV names carry no type byte, only the value does (trap 3) */
	if (spop_read_str(&t, name) < 0 || spop_read_value(&t, v) < 0)
		return -1;
	r->p = t.p;
	return 0;
}

int spop_read_message(struct spop_reader *r, struct spop_str *name, unsigned *nargs)
{
	struct spop_reader t = *r;

	if (spop_read_str(&t, name) < 0 || reader_left(&t) < 1)
		return -1;
	*nargs = *t.p++;
	r->p = t.p;
	return 0;
}

bool spop_str_eq(struct spop_str s, const char *lit)
{
	size_t n = strlen(lit);

	/* both length and bytes: a prefix match accepts "m" for
	 * "max-frame-size" (trap 9)
	 */
	return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

/* ---- HELLO / DISCONNECT ---- */

static bool is_list_sep(uint8_t c)
{
	return c == ',' || c == ' ';
}

/* Calls <fn> on every token of a comma/space separated list (doc/SPOE.txt
 * §3.2.4: "spaces must be ignored"); stops and returns true at the first
 * token for which <fn> is true. Empty tokens are skipped.
 */
static bool list_any(struct spop_str list, bool (*fn)(const uint8_t *tok, size_t len))
{
	const uint8_t *p = list.ptr, *end = list.ptr + list.len;
	const uint8_t *tok;

	while (p < end) {
		while (p < end && is_list_sep(*p))
			p++;
		tok = p;
		while (p < end && !is_list_sep(*p))
			p++;
		if (p > tok && fn(tok, (size_t)(p - tok)))
			return true;
	}
	return false;
}

/* True for a "MAJOR.MINOR" token with major 2. We speak 2.0 and always answer
 * "2.0", but minor versions are meant to be compatible within a major, so an
 * offer of "2.1" alone still lets us talk to that peer; any other major is a
 * different protocol (1.0 was dropped for its host-order flags, notes §1).
 * Minor follows HAProxy's spoe_str_to_vsn: digits, at most 999.
 */
static bool vsn_is_2x(const uint8_t *tok, size_t len)
{
	unsigned int minor = 0;
	size_t i;

	/* "02.0" is not accepted: HAProxy never writes leading zeros */
	if (len < 3 || tok[0] != '2' || tok[1] != '.')
		return false;
	for (i = 2; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return false;
		minor = minor * 10 + (unsigned int)(tok[i] - '0');
		if (minor > 999)
			return false;
	}
	return true;
}

static bool cap_is_pipelining(const uint8_t *tok, size_t len)
{
	struct spop_str s = {tok, len};

	return spop_str_eq(s, "pipelining");
}

static bool value_is_int(const struct spop_value *v)
{
	return v->type == SPOP_DATA_INT32 || v->type == SPOP_DATA_UINT32 || v->type == SPOP_DATA_INT64 ||
	       v->type == SPOP_DATA_UINT64;
}

static bool value_is_signed(const struct spop_value *v)
{
	return v->type == SPOP_DATA_INT32 || v->type == SPOP_DATA_INT64;
}

enum spop_status spop_hello_decode(const uint8_t *p, size_t len, struct spop_hello *h)
{
	enum spop_status ret = SPOP_ERR_INVALID;
	struct spop_reader r;
	struct spop_str name;
	struct spop_value v;
	bool mfs_negative = false;

	memset(h, 0, sizeof(*h));
	spop_reader_init(&r, p, len);

	/* Items in any order; unknown ones (engine-id, future keys) are
	 * already skipped by having decoded their typed value (trap 9).
	 * A known key with the wrong type is a malformed HELLO.
	 */
	while (!spop_reader_done(&r)) {
		if (spop_read_kv(&r, &name, &v) < 0)
			goto out;

		if (spop_str_eq(name, "supported-versions")) {
			if (v.type != SPOP_DATA_STRING)
				goto out;
			h->has_versions = true;
			h->supports_20 = list_any(v.u.s, vsn_is_2x);
		} else if (spop_str_eq(name, "max-frame-size")) {
			/* UINT32 on the wire, but any integer is accepted
			 * (notes §2.6)
			 */
			if (!value_is_int(&v))
				goto out;
			h->has_max_frame_size = true;
			mfs_negative = value_is_signed(&v) && v.u.i < 0;
			h->max_frame_size = v.u.u;
		} else if (spop_str_eq(name, "capabilities")) {
			if (v.type != SPOP_DATA_STRING)
				goto out;
			h->has_capabilities = true;
			h->pipelining = list_any(v.u.s, cap_is_pipelining);
		} else if (spop_str_eq(name, "healthcheck")) {
			if (v.type != SPOP_DATA_BOOL)
				goto out;
			h->healthcheck = v.u.b;
		}
	}

	/* Judged after the loop so the status does not depend on item order.
	 * Only the floor is checked: a max-frame-size above ours is negotiated
	 * down by the caller, never refused (trap 12).
	 */
	if (!h->has_versions)
		ret = SPOP_ERR_NO_VSN;
	else if (!h->supports_20)
		ret = SPOP_ERR_BAD_VSN;
	else if (!h->has_max_frame_size)
		ret = SPOP_ERR_NO_FRAME_SIZE;
	else if (mfs_negative || h->max_frame_size < SPOP_MIN_FRAME_SIZE)
		ret = SPOP_ERR_BAD_FRAME_SIZE;
	else
		ret = SPOP_ERR_NONE;
out:
	return ret;
}

int spop_disconnect_decode(const uint8_t *p, size_t len, struct spop_disconnect *d)
{
	struct spop_reader r;
	struct spop_str name;
	struct spop_value v;

	memset(d, 0, sizeof(*d));
	spop_reader_init(&r, p, len);

	while (!spop_reader_done(&r)) {
		if (spop_read_kv(&r, &name, &v) < 0)
			return -1;
		if (spop_str_eq(name, "status-code")) {
			/* UINT32 on the wire; HAProxy accepts any integer */
			if (!value_is_int(&v))
				return -1;
			d->status = v.u.u;
		} else if (spop_str_eq(name, "message")) {
			if (v.type != SPOP_DATA_STRING)
				return -1;
			d->message = v.u.s;
		}
	}
	return 0;
}

/* ---- encoder ---- */

/* All-or-nothing append. Once the buffer has overflowed, later writes are
 * dropped too: a small item must not land after a missing big one.
 */
static void put_bytes(struct spop_buf *b, const void *p, size_t n)
{
	if (b->overflow)
		return;
	if (n > b->size - b->len) {
		b->overflow = true;
		return;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_byte(struct spop_buf *b, uint8_t c)
{
	put_bytes(b, &c, 1);
}

static void put_varint(struct spop_buf *b, uint64_t v)
{
	uint8_t tmp[SPOP_VARINT_MAX];
	size_t n;

	n = spop_varint_encode(v, tmp, sizeof(tmp));
	put_bytes(b, tmp, n);
}

size_t spop_frame_begin(struct spop_buf *b, uint8_t type, uint64_t sid, uint64_t fid)
{
	static const uint8_t len_placeholder[4];
	uint8_t flags[4];
	size_t start = b->len;

	/* The length is patched by spop_frame_end once the payload is known,
	 * so the frame and its size leave in one write (trap 17).
	 */
	put_bytes(b, len_placeholder, sizeof(len_placeholder));
	put_byte(b, type);
	/* Every frame we send is complete: FIN, big-endian (trap 4) */
	put_be32(flags, SPOP_FL_FIN);
	put_bytes(b, flags, sizeof(flags));
	put_varint(b, sid);
	put_varint(b, fid);
	return start;
}

size_t spop_frame_end(struct spop_buf *b, size_t start, uint32_t max_len)
{
	size_t flen;

	if (start > b->len) {
		/* caller bug: nothing of ours to roll back */
		return 0;
	}
	if (b->overflow || b->len - start < 4 + SPOP_MIN_FRAME_LEN)
		goto fail;
	flen = b->len - start - 4;
	if (flen > max_len)
		goto fail;
	put_be32(b->data + start, (uint32_t)flen);
	return flen + 4;

fail:
	/* The buffer is back to what it held at spop_frame_begin, so the
	 * latch is released with it: the caller may still queue another
	 * frame (e.g. an AGENT-DISCONNECT "frame is too big").
	 */
	b->len = start;
	b->overflow = false;
	return 0;
}

void spop_put_str(struct spop_buf *b, const void *s, size_t len)
{
	put_varint(b, len);
	put_bytes(b, s, len);
}

static void put_name(struct spop_buf *b, const char *name)
{
	spop_put_str(b, name, strlen(name));
}

void spop_put_kv_str(struct spop_buf *b, const char *name, const void *s, size_t len)
{
	put_name(b, name);
	put_byte(b, SPOP_DATA_STRING);
	spop_put_str(b, s, len);
}

void spop_put_kv_uint(struct spop_buf *b, const char *name, uint64_t v)
{
	/* UINT32 is what HAProxy sends and expects for max-frame-size and
	 * status-code; callers only pass 32-bit values here.
	 */
	put_name(b, name);
	put_byte(b, SPOP_DATA_UINT32);
	put_varint(b, v);
}

void spop_put_kv_bool(struct spop_buf *b, const char *name, bool v)
{
	put_name(b, name);
	put_byte(b, SPOP_DATA_BOOL | (v ? SPOP_DATA_FL_TRUE : 0));
}

/* Common head of a set-var action: the scope is a raw byte and the name an
 * untyped STRING, whatever the generic grammar suggests (trap 10).
 */
static void put_set_var_head(struct spop_buf *b, uint8_t scope, const char *name)
{
	put_byte(b, SPOP_ACT_SET_VAR);
	put_byte(b, 3);
	put_byte(b, scope);
	put_name(b, name);
}

void spop_put_set_var_bool(struct spop_buf *b, uint8_t scope, const char *name, bool v)
{
	put_set_var_head(b, scope, name);
	put_byte(b, SPOP_DATA_BOOL | (v ? SPOP_DATA_FL_TRUE : 0));
}

void spop_put_set_var_int(struct spop_buf *b, uint8_t scope, const char *name, int64_t v)
{
	/* HAProxy turns every integer type into a signed 64-bit sample
	 * (trap 28); INT64 says so on the wire. Negatives go out as the
	 * two's complement, 10 bytes.
	 */
	put_set_var_head(b, scope, name);
	put_byte(b, SPOP_DATA_INT64);
	put_varint(b, (uint64_t)v);
}

void spop_put_set_var_str(struct spop_buf *b, uint8_t scope, const char *name, const void *s, size_t len)
{
	put_set_var_head(b, scope, name);
	put_byte(b, SPOP_DATA_STRING);
	spop_put_str(b, s, len);
}

void spop_put_unset_var(struct spop_buf *b, uint8_t scope, const char *name)
{
	put_byte(b, SPOP_ACT_UNSET_VAR);
	put_byte(b, 2);
	put_byte(b, scope);
	put_name(b, name);
}

size_t spop_agent_hello(struct spop_buf *b, uint32_t max_frame_size, bool pipelining)
{
	size_t start;

	start = spop_frame_begin(b, SPOP_FRM_AGENT_HELLO, 0, 0);
	/* HAProxy accepts "2.0" and nothing else (trap 11) */
	spop_put_kv_str(b, "version", "2.0", 3);
	spop_put_kv_uint(b, "max-frame-size", max_frame_size);
	/* Present even when empty: the 3.1+ health check fails a HELLO
	 * without it (trap 15). Never "async" or "fragmentation" (trap 14).
	 */
	if (pipelining)
		spop_put_kv_str(b, "capabilities", "pipelining", 10);
	else
		spop_put_kv_str(b, "capabilities", "", 0);
	/* 64 bytes at most: fits the 256-byte floor every peer accepts */
	return spop_frame_end(b, start, SPOP_MIN_FRAME_SIZE);
}

size_t spop_agent_disconnect(struct spop_buf *b, enum spop_status status, const char *message)
{
	const char *nul;
	size_t start, len;

	if (!message)
		message = "";
	/* HAProxy 2.6 rejects a longer message as an invalid frame
	 * (trap 22); memchr stops at the NUL, so a short message is never
	 * read past. The cut may split a UTF-8 sequence: HAProxy only logs
	 * the bytes.
	 */
	nul = memchr(message, '\0', SPOP_DISCONNECT_MSG_MAX);
	len = nul ? (size_t)(nul - message) : SPOP_DISCONNECT_MSG_MAX;

	start = spop_frame_begin(b, SPOP_FRM_AGENT_DISCONNECT, 0, 0);
	spop_put_kv_uint(b, "status-code", (uint32_t)status);
	spop_put_kv_str(b, "message", message, len);
	/* At most 291 bytes. Past about 225 message bytes the frame exceeds
	 * the 256-byte floor, which a peer that negotiated exactly 256 would
	 * refuse; our callers send spop_status_str() texts (< 40 bytes).
	 */
	return spop_frame_end(b, start, UINT32_MAX);
}

const char *spop_status_str(enum spop_status status)
{
	/* HAProxy's own texts (spoe_frm_err_reasons / spop_err_reasons) so
	 * both sides log the same words.
	 */
	switch (status) {
	case SPOP_ERR_NONE:
		return "normal";
	case SPOP_ERR_IO:
		return "I/O error";
	case SPOP_ERR_TOUT:
		return "a timeout occurred";
	case SPOP_ERR_TOO_BIG:
		return "frame is too big";
	case SPOP_ERR_INVALID:
		return "invalid frame received";
	case SPOP_ERR_NO_VSN:
		return "version value not found";
	case SPOP_ERR_NO_FRAME_SIZE:
		return "max-frame-size value not found";
	case SPOP_ERR_NO_CAP:
		return "capabilities value not found";
	case SPOP_ERR_BAD_VSN:
		return "unsupported version";
	case SPOP_ERR_BAD_FRAME_SIZE:
		return "max-frame-size too big or too small";
	case SPOP_ERR_FRAG_NOT_SUPPORTED:
		return "fragmentation not supported";
	case SPOP_ERR_INTERLACED_FRAMES:
		return "invalid interlaced frames";
	case SPOP_ERR_FRAMEID_NOTFOUND:
		return "frame-id not found";
	case SPOP_ERR_RES:
		return "resource allocation error";
	case SPOP_ERR_UNKNOWN:
		break;
	}
	/* codes 14..98 have no text in HAProxy either; >= 100 map to 99 */
	return "an unknown error occurred";
}
