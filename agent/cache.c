#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

struct centry {
	struct centry *hnext;       /* bucket chain */
	struct centry *prev, *next; /* LRU list, most recent first */
	uint64_t hash;
	size_t tok_len;
	size_t bytes; /* what this entry costs against the budget */
	struct tcache_entry e;
	char data[]; /* token, then the claim strings */
};

struct tcache {
	struct centry **buckets;
	size_t n_buckets; /* power of two */
	size_t count, max_entries;
	size_t bytes, max_bytes;
	struct centry *head, *tail;
	uint64_t seed; /* random: chains cannot be aimed at */
};

/* FNV-1a over 8-byte words, seeded: fast for 300-1000 byte tokens, and
 * only verified tokens are ever inserted, so collisions cannot be chosen
 * in bulk by a caller without keys. */
static uint64_t hash_tok(uint64_t seed, const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	h ^= h >> 32;
	return h;
}

struct tcache *tcache_new(size_t max_entries, size_t max_bytes)
{
	struct tcache *c;
	size_t n = 16;

	if (max_entries == 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	while (n < max_entries && n < (1u << 24))
		n <<= 1;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets || RAND_bytes((unsigned char *)&c->seed, sizeof(c->seed)) != 1) {
		free(c->buckets);
		free(c);
		return NULL;
	}
	c->n_buckets = n;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static void lru_unlink(struct tcache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct tcache *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void remove_entry(struct tcache *c, struct centry *e)
{
	struct centry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	c->bytes -= e->bytes;
	free(e);
}

void tcache_free(struct tcache *c)
{
	struct centry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(c->buckets);
	free(c);
}

const struct tcache_entry *tcache_get(struct tcache *c, const char *tok, size_t len, uint64_t generation)
{
	uint64_t h;
	struct centry *e;

	if (!c)
		return NULL;
	h = hash_tok(c->seed, tok, len);
	for (e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->hnext) {
		if (e->hash != h || e->tok_len != len || memcmp(e->data, tok, len) != 0)
			continue;
		if (e->e.generation != generation) {
			remove_entry(c, e);
			return NULL;
		}
		lru_unlink(c, e);
		lru_push(c, e);
		return &e->e;
	}
	return NULL;
}

static char *copy_str(char **at, const char *s)
{
	char *p = *at;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at += n;
	return p;
}

void tcache_put(struct tcache *c, const char *tok, size_t len, const struct jwt *jwt, uint64_t generation,
                const struct tcache_claims *claims, const char *extra, size_t extra_len)
{
	const char *strs[4] = {claims->sub, claims->iss, claims->kid, claims->alg};
	size_t need = sizeof(struct centry) + len + extra_len, i;
	struct centry *e, *old;
	char *at;

	if (!c)
		return;
	for (i = 0; i < 4; i++)
		need += strs[i] ? strlen(strs[i]) + 1 : 0;
	if (need > c->max_bytes / 4)
		return; /* one entry may not take a quarter of the budget */
	/* Replace an existing entry for the same token. */
	old = NULL;
	for (e = c->buckets[hash_tok(c->seed, tok, len) & (c->n_buckets - 1)]; e; e = e->hnext)
		if (e->tok_len == len && memcmp(e->data, tok, len) == 0)
			old = e;
	if (old)
		remove_entry(c, old);
	while (c->tail && (c->count >= c->max_entries || c->bytes + need > c->max_bytes))
		remove_entry(c, c->tail);
	e = malloc(need);
	if (!e)
		return; /* a cache miss later costs only a verification */
	e->hash = hash_tok(c->seed, tok, len);
	e->tok_len = len;
	e->bytes = need;
	memcpy(e->data, tok, len);
	at = e->data + len;
	e->e.exp = jwt->exp;
	e->e.nbf = jwt->nbf;
	e->e.generation = generation;
	e->e.sub = copy_str(&at, strs[0]);
	e->e.iss = copy_str(&at, strs[1]);
	e->e.kid = copy_str(&at, strs[2]);
	e->e.alg = copy_str(&at, strs[3]);
	e->e.extra = extra_len ? at : NULL;
	e->e.extra_len = extra_len;
	if (extra_len)
		memcpy(at, extra, extra_len);
	e->hnext = c->buckets[e->hash & (c->n_buckets - 1)];
	c->buckets[e->hash & (c->n_buckets - 1)] = e;
	lru_push(c, e);
	c->count++;
	c->bytes += need;
}

size_t tcache_count(const struct tcache *c)
{
	return c ? c->count : 0;
}
