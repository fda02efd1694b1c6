/*
 * Verified-token cache, one per worker (no lock). Key: the exact token
 * bytes. An entry is good until the token's exp and only for the key-set
 * generation it was verified with, so a key that disappears from the JWKS
 * stops matching at once. Time claims are re-checked by the caller on a
 * hit. Bounded by entry count and bytes; least recently used goes first.
 */
#ifndef CACHE_H
#define CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

struct tcache;

struct tcache_entry {
	uint64_t exp, nbf; /* 0 = absent */
	uint64_t generation;
	const char *sub, *iss, *kid, *alg; /* NULL when absent; valid until the next put */
	const char *extra;                 /* caller's opaque bytes (exported claims) */
	size_t extra_len;
};

/* max_entries 0 disables the cache (tcache_new returns NULL then). */
struct tcache *tcache_new(size_t max_entries, size_t max_bytes);
void tcache_free(struct tcache *c);

/* The entry for <tok>, verified with key-set <generation>, or NULL. An
 * entry of another generation is dropped. */
const struct tcache_entry *tcache_get(struct tcache *c, const char *tok, size_t len, uint64_t generation);

/* Remembers a token that just verified. Tokens longer than the byte budget
 * allows are not cached. */
struct tcache_claims {
	const char *sub, *iss, *kid, *alg; /* NULL when absent or not exportable */
};
void tcache_put(struct tcache *c, const char *tok, size_t len, const struct jwt *jwt, uint64_t generation,
                const struct tcache_claims *claims, const char *extra, size_t extra_len);

size_t tcache_count(const struct tcache *c);

#endif
