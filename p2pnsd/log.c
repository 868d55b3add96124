/* Logging for p2pnsd: level-filtered lines with a UTC timestamp on stderr or appended to a
 * log file (reopened on SIGHUP), or syslog. Each line goes out with one write(2) so that
 * concurrent writers do not interleave. */
#include "p2pnsd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
static int log_fd = STDERR_FILENO;
static char log_path[PATH_MAX];		/* "": not logging to a file */

static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd >= 0 ? fd : -errno;
}

int
log_init(int level, const char *path, bool to_syslog)
{
	int fd;

	log_level = level;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog("p2pnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	if (path == NULL)
		return 0;
	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	fd = open_file(path);
	if (fd < 0)
		return fd;
	log_fd = fd;
	strcpy(log_path, path);
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_syslog) {
		closelog();
		openlog("p2pnsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return 0;
	}
	if (log_path[0] == '\0')
		return 0;
	fd = open_file(log_path);
	if (fd < 0) {
		log_warnx("cannot reopen log file %s, still writing to the old one: %s",
		    log_path, strerror(-fd));
		return fd;
	}
	close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_close(void)
{
	if (log_syslog)
		closelog();
	log_syslog = false;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	log_path[0] = '\0';
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
		ssize_t w = write(log_fd, line, n);

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
