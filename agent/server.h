/*
 * Workers: one thread and one libev loop each, with its own SO_REUSEPORT
 * listening socket, connections, fetcher, key cache and token cache, so
 * nothing is shared between threads but the immutable configuration and
 * nothing on the request path takes a lock (design §2.4). The main thread
 * only waits for signals: SIGINT/SIGTERM make every worker drain and stop.
 */
#ifndef SERVER_H
#define SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <ev.h>

#include "config.h"
#include "fetch.h"
#include "keys.h"
#include "metrics.h"
#include "verify.h"

struct conn;

struct worker {
	struct ev_loop *loop;
	_Atomic(const struct config *) next_cfg; /* set by SIGHUP, taken by the worker */
	unsigned id;
	pthread_t thread;
	ev_async stop_async;   /* the main thread asks this worker to drain */
	ev_async reload_async; /* ... or to re-read its key files (SIGHUP) */
	const struct config *cfg;
	struct fetcher *fetcher;
	struct verifier verifier;
	struct worker_metrics *metrics; /* NULL: not counted (tests) */
	int listen_fd;
	ev_io accept_io;
	ev_timer drain_timer;
	struct conn *conns; /* doubly linked through conn->next/prev */
	double warn_window; /* rate limit of protocol-error log lines */
	unsigned warn_count;
	void *req_pool; /* conn.c's free requests: no malloc per NOTIFY */
	unsigned req_pool_n;
	unsigned n_conns;
	bool draining;
};

/* Binds the listener and runs the loop until a signal stops it. SIGHUP
 * parses <argv> again and, if the result is valid, hands it to every
 * worker. Returns the process exit status. */
int server_run(const struct config *cfg, int argc, char **argv);

/* Called by conn.c when a connection is gone; ends a drain when it was the last. */
void server_conn_closed(struct worker *w);

#endif
