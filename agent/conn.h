/*
 * One HAProxy connection: bytes in -> SPOP frames -> verdicts -> ACK frames
 * out. States: HELLO (waiting for HAPROXY-HELLO), RUNNING, CLOSING (a
 * DISCONNECT is queued; close once written). ../shared/notes/spop.md §4.4
 * gives the answer to every protocol error handled here.
 */
#ifndef CONN_H
#define CONN_H

struct worker;
struct conn;

/* Takes ownership of the accepted, non-blocking socket <fd>. */
void conn_new(struct worker *w, int fd);

/* Asks a connection to finish: answer what is pending, then AGENT-DISCONNECT
 * status 0 and close (SIGTERM). */
void conn_drain(struct conn *c);

#endif

/* Closes every connection of <w> at once (end of the loop). */
void conn_close_all(struct worker *w);

/* The next connection in the worker's list (for iterations that may close). */
struct conn *conn_next(struct conn *c);
