/*
 * Minimal TAP helper for unit tests (after h2o/picotest). Each check prints
 * "ok N - file:line: what" or "not ok ..."; t_done() prints the plan and the
 * closing "<name>: N passed, N failed" line and returns the exit status.
 */
#ifndef T_H
#define T_H

#include <stdio.h>

static int t_pass, t_fail;

#define ok(cond, ...) t_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5)))
static void t_ok(int cond, const char *file, int line, const char *fmt, ...);

#include <stdarg.h>
static void t_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (cond)
		t_pass++;
	else
		t_fail++;
	printf("%s %d - %s:%d: ", cond ? "ok" : "not ok", t_pass + t_fail, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static inline int t_done(const char *name)
{
	printf("1..%d\n%s: %d passed, %d failed\n", t_pass + t_fail, name, t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
