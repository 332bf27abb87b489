/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum rc_log_level max_level = RC_LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void
rc_log_set_level(enum rc_log_level lvl)
{
	max_level = lvl;
}

void
rc_log(enum rc_log_level lvl, const char *fmt, ...)
{
	char stamp[32], line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (lvl > max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ldZ roomcastd %s: %s\n", stamp, ts.tv_nsec / 1000000, names[lvl],
		line);
}
