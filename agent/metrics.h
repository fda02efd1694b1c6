/*
 * Counters and a latency histogram, Prometheus text exposition on
 * --metrics ADDR:PORT (/metrics, /healthz), served by libmicrohttpd in its
 * own thread. Each worker writes only its own block with relaxed atomic
 * adds (no lock, no sharing of cache lines between workers); the scrape sums
 * the blocks.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "status.h"

#define METRICS_LAT_BUCKETS 12

struct keys_metrics {
	atomic_ulong fetch_ok;
	atomic_ulong fetch_failed;
	atomic_ullong last_ok_ms; /* wall clock of the last good set, 0 = never */
};

struct worker_metrics {
	atomic_ulong verdicts[JWT_STATUS_COUNT];
	atomic_ulong cache_hits, cache_misses;
	atomic_long conns_open;
	atomic_ulong conns_total;
	atomic_ulong notify_frames, ack_frames, hello_frames, healthchecks;
	atomic_ulong disconnects_sent[14];             /* by SPOP status 0..13 */
	atomic_ulong lat_buckets[METRICS_LAT_BUCKETS]; /* cumulative at scrape */
	atomic_ulong lat_count;
	atomic_ullong lat_sum_us;
	struct keys_metrics keys[CONFIG_MAX_PROVIDERS];
} __attribute__((aligned(64)));

static inline void metric_inc(atomic_ulong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Records one verdict and how long it took. */
void metrics_verdict(struct worker_metrics *m, enum jwt_status st, double seconds);

struct metrics_server;

/* Starts serving <n> worker blocks on cfg->metrics_addr; NULL when the
 * address is unset (not an error: *failed stays 0) or on failure (*failed 1). */
struct metrics_server *metrics_start(const struct config *cfg, struct worker_metrics *const *workers,
                                     unsigned n, int *failed);
void metrics_stop(struct metrics_server *s);
/* After a reload: provider names come from <cfg> from now on. */
void metrics_set_config(struct metrics_server *s, const struct config *cfg);

/* Renders the exposition text into a new buffer (caller frees). For tests. */
char *metrics_render(const struct config *cfg, struct worker_metrics *const *workers, unsigned n);

#endif
