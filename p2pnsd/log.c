/* Logging for p2pnsd: level-filtered lines with a UTC timestamp on stderr, or syslog.
 * Each line goes out with one write(2) so that concurrent writers do not interleave. */
#include "p2pnsd/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	LOG_LINE_MAX = 1024,		/* longer messages are cut */
};

static int log_level = LOG_INFO;
static bool log_syslog;

void
log_init(int level, bool to_syslog)
{
	log_level = level;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog("p2pnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

int
log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int pri;
	} levels[] = {
		{"error", LOG_ERR},
		{"warn", LOG_WARNING},
		{"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].name) == 0)
			return levels[i].pri;
	return -1;
}

static const char *
level_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:
		return "fatal";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warn";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n = 0;
	int saved = errno, r;

	if (pri > log_level)
		return;
	if (log_syslog) {
		vsyslog(pri, fmt, ap);
		errno = saved;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ p2pnsd[%ld] %s: ",
	    ts.tv_nsec / 1000000L, (long)getpid(), level_name(pri));
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		memmove(line, line + w, n - (size_t)w);
		n -= (size_t)w;
	}
	errno = saved;
}

static void logit(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
logit(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void vlog_errno(int pri, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Formats fmt and logs it followed by ": strerror(errno)". */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved = errno;

	if (pri > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	logit(pri, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
