#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written by main (start, SIGHUP), read by every worker: atomics, relaxed. */
static atomic_int log_level = LOG_INFO;
static atomic_int log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void log_set_json(int on)
{
	atomic_store_explicit(&log_json, on, memory_order_relaxed);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Rewrites a key=value line as one JSON object. Values are bare words or
 * log_quote() strings, whose \xHH escapes become \u00HH. */
static size_t kv_to_json(const char *in, size_t len, char *out, size_t room)
{
	const char *p = in, *end = in + len;
	size_t n = 0;
	int first = 1;

#define EMIT(c)                                                                                              \
	do {                                                                                                 \
		if (n + 1 < room)                                                                            \
			out[n++] = (c);                                                                      \
	} while (0)
	EMIT('{');
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		if (!first)
			EMIT(',');
		first = 0;
		EMIT('"');
		while (p < end && *p != '=' && *p != ' ')
			EMIT(*p++);
		EMIT('"');
		EMIT(':');
		EMIT('"');
		if (p < end && *p == '=')
			p++;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end && p[1] == 'x' && p + 3 < end) {
					const char *u = "\\u00";

					while (*u)
						EMIT(*u++);
					EMIT(p[2]);
					EMIT(p[3]);
					p += 3;
				} else if (*p == '\\' && p + 1 < end) {
					EMIT(*p++);
					EMIT(*p);
				} else {
					EMIT(*p);
				}
			}
			if (p < end)
				p++;
		} else {
			while (p < end && *p != ' ') {
				if (*p == '"' || *p == '\\')
					EMIT('\\');
				EMIT(*p++);
			}
		}
		EMIT('"');
	}
	EMIT('}');
#undef EMIT
	return n;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int w;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	w = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s event=%s ", ts.tv_nsec / 1000000,
	             level_names[level], event);
	if (w > 0)
		n += (size_t)w;
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (w > 0)
			n += (size_t)w;
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		char js[sizeof(line) * 2];

		n = kv_to_json(line, n, js, sizeof(js) - 1);
		js[n++] = '\n';
		if (write(STDERR_FILENO, js, n) < 0)
			return;
		return;
	}
	/* One write per line so lines from several threads never interleave. */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

char *log_quote(char *out, const void *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t n = 0, i, max = len > LOG_QUOTE_MAX ? LOG_QUOTE_MAX : len;

	out[n++] = '"';
	for (i = 0; i < max; i++) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	if (max < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

char *log_quote_url(char *out, const char *url)
{
	const char *scheme = strstr(url, "://"), *host, *at, *slash;
	char buf[LOG_QUOTE_MAX + 8];

	if (!scheme)
		return log_quote(out, url, strlen(url));
	host = scheme + 3;
	slash = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(slash - host));
	if (!at)
		return log_quote(out, url, strlen(url));
	snprintf(buf, sizeof(buf), "%.*s***%s", (int)(host - url), url, at);
	return log_quote(out, buf, strlen(buf));
}
