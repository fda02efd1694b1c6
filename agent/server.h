/*
 * The listener and one worker: a libev loop that owns its connections, its
 * fetcher and its key cache. Signals: SIGINT/SIGTERM drain and stop.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>

#include <ev.h>

#include "config.h"
#include "fetch.h"
#include "keys.h"
#include "verify.h"

struct conn;

struct worker {
	struct ev_loop *loop;
	const struct config *cfg;
	struct fetcher *fetcher;
	struct keys *keys;
	struct verifier verifier;
	int listen_fd;
	ev_io accept_io;
	ev_signal sigint, sigterm;
	ev_timer drain_timer;
	struct conn *conns;             /* doubly linked through conn->next/prev */
	unsigned n_conns;
	bool draining;
};

/* Binds the listener and runs the loop until a signal stops it.
 * Returns the process exit status. */
int server_run(const struct config *cfg);

/* Called by conn.c when a connection is gone; ends a drain when it was the last. */
void server_conn_closed(struct worker *w);

#endif
