/*
 * Structured logs on stderr: one line per event, key=value, with a level.
 * Values that come from the network or from tokens go through log_quote(),
 * which bounds and escapes them, so no claim can forge a log line.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The level is configuration: set once in main before any thread starts. */
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
/* JSON lines instead of key=value (same keys); set once in main. */
void log_set_json(int on);
/* Parses "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

/* Writes "ts=... level=... event=<event> <fmt...>\n" in one write(). */
__attribute__((format(printf, 3, 4))) void log_event(enum log_level level, const char *event, const char *fmt,
                                                     ...);

#define LOG_QUOTE_MAX 256 /* bytes of input kept by log_quote */

/* Writes <in> (<len> bytes) into <out> as a double-quoted string: '"', '\\'
 * and bytes outside 0x20..0x7e are escaped as \" \\ \xHH; input beyond
 * LOG_QUOTE_MAX bytes is cut and marked with "...". <out> must hold
 * LOG_QUOTE_BUF bytes. Returns <out>. */
#define LOG_QUOTE_BUF (LOG_QUOTE_MAX * 4 + 8)
char *log_quote(char *out, const void *in, size_t len);

/* log_quote of a URL with any "user:password@" replaced by "***@", so
 * credentials in a JWKS or issuer URL never reach a log. */
char *log_quote_url(char *out, const char *url);

#endif
