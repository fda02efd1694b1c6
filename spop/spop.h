/*
 * SPOP 2.0 codec: pure functions over byte buffers. No I/O, no allocation,
 * no knowledge of JWTs. Wire format: ../shared/notes/spop.md §2 (and the
 * traps of §8). HAProxy's own reference: doc/SPOE.txt, include/haproxy/spoe.h.
 *
 * Decoders are tri-state where a partial buffer is possible:
 *   > 0  bytes consumed, 0  need more bytes, < 0  malformed.
 * Encoders write into a struct spop_buf and latch an overflow flag instead of
 * failing each call, so a frame is built with a run of calls and checked once.
 */
#ifndef SPOP_H
#define SPOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frame types (include/haproxy/spoe-t.h) */
enum spop_frame_type {
	SPOP_FRM_UNSET = 0,
	SPOP_FRM_HAPROXY_HELLO = 1,
	SPOP_FRM_HAPROXY_DISCONNECT = 2,
	SPOP_FRM_NOTIFY = 3,
	SPOP_FRM_AGENT_HELLO = 101,
	SPOP_FRM_AGENT_DISCONNECT = 102,
	SPOP_FRM_ACK = 103,
};

#define SPOP_FL_FIN   0x00000001u
#define SPOP_FL_ABORT 0x00000002u

/* Typed data: type in the LOW nibble, flags in the high nibble (trap 1). */
enum spop_data_type {
	SPOP_DATA_NULL = 0,
	SPOP_DATA_BOOL = 1,
	SPOP_DATA_INT32 = 2,
	SPOP_DATA_UINT32 = 3,
	SPOP_DATA_INT64 = 4,
	SPOP_DATA_UINT64 = 5,
	SPOP_DATA_IPV4 = 6,
	SPOP_DATA_IPV6 = 7,
	SPOP_DATA_STRING = 8,
	SPOP_DATA_BINARY = 9,
};

/* Variable scopes of the set-var/unset-var actions. */
enum spop_scope {
	SPOP_SCOPE_PROC = 0,
	SPOP_SCOPE_SESS = 1,
	SPOP_SCOPE_TXN = 2,
	SPOP_SCOPE_REQ = 3,
	SPOP_SCOPE_RES = 4,
};

/* DISCONNECT status codes (doc/SPOE.txt §3.5, notes §2.10). */
enum spop_status {
	SPOP_ERR_NONE = 0,
	SPOP_ERR_IO = 1,
	SPOP_ERR_TOUT = 2,
	SPOP_ERR_TOO_BIG = 3,
	SPOP_ERR_INVALID = 4,
	SPOP_ERR_NO_VSN = 5,
	SPOP_ERR_NO_FRAME_SIZE = 6,
	SPOP_ERR_NO_CAP = 7,
	SPOP_ERR_BAD_VSN = 8,
	SPOP_ERR_BAD_FRAME_SIZE = 9,
	SPOP_ERR_FRAG_NOT_SUPPORTED = 10,
	SPOP_ERR_INTERLACED_FRAMES = 11,
	SPOP_ERR_FRAMEID_NOTFOUND = 12,
	SPOP_ERR_RES = 13,
	SPOP_ERR_UNKNOWN = 99,
};

#define SPOP_MIN_FRAME_SIZE     256u   /* smallest max-frame-size a peer may use */
#define SPOP_DEFAULT_FRAME_SIZE 16380u /* HAProxy's tune.bufsize - 4 */
#define SPOP_MIN_FRAME_LEN      7u     /* type + flags + two 1-byte varints */
#define SPOP_VARINT_MAX         10u

/* A view into a buffer; never NUL-terminated. */
struct spop_str {
	const uint8_t *ptr;
	size_t len;
};

struct spop_value {
	uint8_t type; /* enum spop_data_type */
	union {
		bool b;
		int64_t i;         /* INT32, INT64 */
		uint64_t u;        /* UINT32, UINT64 */
		uint8_t ip[16];    /* IPV4 uses the first 4 bytes */
		struct spop_str s; /* STRING, BINARY */
	} u;
};

/* One decoded frame header; payload points into the caller's buffer. */
struct spop_frame {
	uint8_t type;
	uint32_t flags;
	uint64_t sid;
	uint64_t fid;
	const uint8_t *payload;
	size_t payload_len;
	size_t frame_len; /* the length field: bytes after the 4-byte prefix */
};

/* ---- varints ("peers" encoding, not LEB128: trap 2) ---- */

/* Encodes <v> into <out> (room <room>). Returns bytes written (1..10), or 0 if
 * <room> is too small. */
size_t spop_varint_encode(uint64_t v, uint8_t *out, size_t room);

/* Decodes a varint at <p> (<len> bytes available). Returns bytes consumed,
 * 0 if more bytes are needed, -1 if malformed (longer than 10 bytes or the
 * value overflows 64 bits). */
int spop_varint_decode(const uint8_t *p, size_t len, uint64_t *v);

/* ---- frames ---- */

/* Parses one frame at the start of <buf> (<len> bytes buffered). <max_len> is
 * the largest length field accepted (negotiated max-frame-size).
 * Returns the total bytes of the frame (4 + length) when complete, 0 when more
 * bytes are needed, or -(enum spop_status) when the frame must be refused:
 * -SPOP_ERR_TOO_BIG when the length exceeds <max_len> (known from the first 4
 * bytes, nothing else read), -SPOP_ERR_INVALID when the length is below 7 or
 * the header does not fit the frame. */
long spop_frame_parse(const uint8_t *buf, size_t len, uint32_t max_len, struct spop_frame *f);

/* ---- payload readers: all bounded by the frame, return 0 ok, -1 malformed ---- */

struct spop_reader {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void spop_reader_init(struct spop_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = p + len;
}

static inline bool spop_reader_done(const struct spop_reader *r)
{
	return r->p >= r->end;
}

/* Reads a STRING (varint length + bytes). */
int spop_read_str(struct spop_reader *r, struct spop_str *s);
/* Reads one TYPED-DATA. Unknown types 10..15 are malformed. */
int spop_read_value(struct spop_reader *r, struct spop_value *v);
/* Reads one KV item: name STRING + TYPED-DATA. */
int spop_read_kv(struct spop_reader *r, struct spop_str *name, struct spop_value *v);
/* Reads a message header of a NOTIFY's LIST-OF-MESSAGES: name + nb-args byte.
 * The caller then reads exactly <nargs> KV items. */
int spop_read_message(struct spop_reader *r, struct spop_str *name, unsigned *nargs);

/* True when <s> equals the C string <lit> exactly (length and bytes: trap 9). */
bool spop_str_eq(struct spop_str s, const char *lit);

/* ---- HELLO / DISCONNECT payloads ---- */

struct spop_hello {
	bool has_versions;
	bool supports_20; /* "2.0" (or any 2.x) in supported-versions */
	bool has_max_frame_size;
	uint64_t max_frame_size;
	bool has_capabilities;
	bool pipelining; /* offered by HAProxy */
	bool healthcheck;
};

/* Decodes a HAPROXY-HELLO payload. Returns SPOP_ERR_NONE, or the status to put
 * in the AGENT-DISCONNECT: INVALID (malformed KV), NO_VSN, NO_FRAME_SIZE,
 * BAD_VSN, BAD_FRAME_SIZE (< 256). Missing capabilities is tolerated. */
enum spop_status spop_hello_decode(const uint8_t *p, size_t len, struct spop_hello *h);

struct spop_disconnect {
	uint64_t status;
	struct spop_str message;
};

/* Decodes a DISCONNECT payload; missing items are left 0/empty. 0 ok, -1 malformed. */
int spop_disconnect_decode(const uint8_t *p, size_t len, struct spop_disconnect *d);

/* ---- encoder ---- */

struct spop_buf {
	uint8_t *data;
	size_t size;   /* capacity */
	size_t len;    /* bytes used */
	bool overflow; /* latched by any write that did not fit */
};

static inline void spop_buf_init(struct spop_buf *b, uint8_t *data, size_t size)
{
	b->data = data;
	b->size = size;
	b->len = 0;
	b->overflow = false;
}

/* Starts a frame at b->len: reserves the 4-byte length, writes type, FIN
 * flags, sid and fid. Returns the frame's start offset (for spop_frame_end). */
size_t spop_frame_begin(struct spop_buf *b, uint8_t type, uint64_t sid, uint64_t fid);
/* Fills in the length of the frame started at <start>. Returns the frame's total
 * size, or 0 if the buffer overflowed or the frame exceeds <max_len> (then
 * b->len is rolled back to <start> and the overflow latch is cleared, so
 * another frame may still be queued). */
size_t spop_frame_end(struct spop_buf *b, size_t start, uint32_t max_len);

void spop_put_str(struct spop_buf *b, const void *s, size_t len);
void spop_put_kv_str(struct spop_buf *b, const char *name, const void *s, size_t len);
void spop_put_kv_uint(struct spop_buf *b, const char *name, uint64_t v); /* UINT32 type */
void spop_put_kv_bool(struct spop_buf *b, const char *name, bool v);

/* ACK actions (notes §2.9): 01 03 <scope> <name> <typed value>. */
void spop_put_set_var_bool(struct spop_buf *b, uint8_t scope, const char *name, bool v);
void spop_put_set_var_int(struct spop_buf *b, uint8_t scope, const char *name, int64_t v);
void spop_put_set_var_str(struct spop_buf *b, uint8_t scope, const char *name, const void *s, size_t len);
void spop_put_unset_var(struct spop_buf *b, uint8_t scope, const char *name);

/* Whole frames, appended to <b>; each returns the frame size or 0 on overflow. */
size_t spop_agent_hello(struct spop_buf *b, uint32_t max_frame_size, bool pipelining);
size_t spop_agent_disconnect(struct spop_buf *b, enum spop_status status, const char *message);

/* HAProxy's text for a status code ("frame is too big", ...). */
const char *spop_status_str(enum spop_status status);

#endif
