/*
 * fixed_rate: a small open-loop HTTP/1.1 load generator for `make bench` (wrk has no fixed rate
 * and wrk2 is not in Debian). Built by tests/bench/run.sh into build/bench/; never installed.
 *
 *     fixed_rate HOST PORT PATH RATE SECONDS CONNS [HEADER ...]
 *
 * Request i is due at t0 + i / RATE. A due request goes out on an idle keep-alive connection
 * (one request in flight per connection, no pipelining); when none is idle it waits, and its
 * latency is still counted from the moment it was due (no coordinated omission, as wrk2).
 * Scheduling uses a timerfd (sub-millisecond), so requests are not sent in millisecond bursts.
 * Answers must carry Content-Length (HAProxy and nginx do for these). Prints one line:
 * (rate = answers / max(SECONDS, time until the last answer): below RATE means over capacity)
 *   due=N done=N non2xx=N errors=N rate=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
 * Every loop is bounded by SECONDS + 5 s of wall time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct hconn {
	int fd;
	int busy;
	double due;                     /* scheduled time of the request in flight */
	size_t got;
	char buf[16384];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int dial(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd; /* blocking: a request (< 1 KB) always fits the send buffer */
}

/* Returns the full length of the response in b (headers + body) once complete, else 0; -1 bad. */
static long complete_len(const char *b, size_t n, int *status)
{
	const char *end = memmem(b, n, "\r\n\r\n", 4), *cl;
	long body;

	if (!end)
		return 0;
	if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(b + 9);
	cl = memmem(b, (size_t)(end - b), "\r\ncontent-length:", 17);
	if (!cl)
		cl = memmem(b, (size_t)(end - b), "\r\nContent-Length:", 17);
	if (!cl)
		return -1;
	body = atol(cl + 17);
	if ((size_t)(end + 4 - b) + (size_t)body > n)
		return 0;
	return (long)(end + 4 - b) + body;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char req[4096];
	size_t req_len;
	double rate, secs, t0, deadline, elapsed, *lat;
	unsigned long n_due, next = 0, done = 0, non2xx = 0, errors = 0, cap;
	int nconns, epfd, tfd, i;
	struct hconn *cs;

	if (argc < 7) {
		fprintf(stderr, "usage: %s HOST PORT PATH RATE SECONDS CONNS [HEADER ...]\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return 2;
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	rate = atof(argv[4]);
	secs = atof(argv[5]);
	nconns = atoi(argv[6]);
	if (rate <= 0 || secs <= 0 || nconns < 1 || nconns > 1000)
		return 2;
	req_len = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\n", argv[3], argv[1], argv[2]);
	for (i = 7; i < argc && req_len < sizeof(req) - 4; i++)
		req_len += (size_t)snprintf(req + req_len, sizeof(req) - req_len, "%s\r\n", argv[i]);
	if (req_len >= sizeof(req) - 3)
		return 2;
	req_len += (size_t)snprintf(req + req_len, sizeof(req) - req_len, "\r\n");

	n_due = (unsigned long)(rate * secs);
	cap = n_due + 1;
	lat = malloc(cap * sizeof(*lat));
	cs = calloc((size_t)nconns, sizeof(*cs));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!lat || !cs || epfd < 0 || tfd < 0)
		return 1;
	for (i = 0; i < nconns; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

		cs[i].fd = dial(&sa);
		if (cs[i].fd < 0) {
			perror("fixed_rate: connect");
			return 1;
		}
		epoll_ctl(epfd, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0xffffffffu};

		epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
	}
	t0 = now_s() + 0.05;
	deadline = t0 + secs + 5.0;
	while (done + errors < n_due) {
		struct epoll_event evs[64];
		double now = now_s();
		int n, k, wait_ms;

		if (now > deadline)
			break;
		/* send every due request that has an idle connection */
		for (k = 0; k < nconns && next < n_due && t0 + (double)next / rate <= now; k++) {
			struct hconn *c = &cs[k];

			if (c->busy)
				continue;
			c->busy = 1;
			c->got = 0;
			c->due = t0 + (double)next / rate;
			next++;
			if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
				errors++;
				c->busy = 0;
			}
		}
		wait_ms = 100;
		if (next < n_due) {
			double d = t0 + (double)next / rate;
			struct itimerspec its = {0};

			if (d <= now_s()) {
				/* already due: with an idle connection, go round again at once; with every
				 * connection busy, an answer will wake us (disarm: no spinning) */
				for (k = 0; k < nconns; k++)
					if (!cs[k].busy)
						wait_ms = 0;
				d = 0;
			}

			its.it_value.tv_sec = (time_t)d;
			its.it_value.tv_nsec = (long)((d - (double)(time_t)d) * 1e9);
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(epfd, evs, 64, wait_ms);
		for (k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			struct hconn *c;
			ssize_t r;
			long len;
			int status = 0;

			if (id == 0xffffffffu) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0) { /* drained; nothing else to do */
				}
				continue;
			}
			c = &cs[id];
			r = recv(c->fd, c->buf + c->got, sizeof(c->buf) - c->got, MSG_DONTWAIT);
			if (r <= 0) {
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				fprintf(stderr, "fixed_rate: connection %d closed\n", id);
				return 1;
			}
			c->got += (size_t)r;
			len = complete_len(c->buf, c->got, &status);
			if (len < 0 || (len == 0 && c->got == sizeof(c->buf))) {
				fprintf(stderr, "fixed_rate: unparsable answer\n");
				return 1;
			}
			if (len == 0 || !c->busy)
				continue;
			if (status < 200 || status > 299)
				non2xx++;
			lat[done++] = now_s() - c->due;
			c->busy = 0;
			c->got = 0;
		}
	}
	elapsed = now_s() - t0;
	qsort(lat, done, sizeof(*lat), cmp_d);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] * 1e6 : 0.0)
	printf("due=%lu done=%lu non2xx=%lu errors=%lu rate=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f "
	       "max_us=%.0f\n",
	       n_due, done, non2xx, errors, (double)done / (elapsed > secs ? elapsed : secs), PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
	       PCT(1.0));
	for (i = 0; i < nconns; i++)
		close(cs[i].fd);
	free(lat);
	free(cs);
	return done == n_due ? 0 : 1;
}
