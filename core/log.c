#define _GNU_SOURCE   /* program_invocation_short_name */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void log_line(const char *level, const char *fmt, va_list ap)
{
	char msg[2048], stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One fprintf per line keeps lines from concurrent threads whole. */
	fprintf(stderr, "%s %s[%ld] %s: %s\n", stamp, program_invocation_short_name, (long)getpid(),
		level, msg);
}

#define LOG_FN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_line(level, fmt, ap); \
		va_end(ap); \
	}

LOG_FN(log_info, "info")
LOG_FN(log_warn, "warning")
LOG_FN(log_error, "error")
