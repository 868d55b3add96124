/* Logging for p2pnsd in the OpenBSD style: one line per message with a timestamp and a
 * level, to stderr, a log file or syslog; log_warn and fatal append strerror(errno). */
#ifndef P2PNS_P2PNSD_LOG_H
#define P2PNS_P2PNSD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/* Logs at level (a syslog priority: LOG_ERR, LOG_WARNING, LOG_INFO or LOG_DEBUG) to stderr,
 * or appended to the file at path (created with mode 0640), or to syslog (facility daemon,
 * ident p2pnsd). Returns 0 or a negative errno (the file cannot be opened; stderr then). */
int log_init(int level, const char *path, bool to_syslog);
/* For SIGHUP: opens the log file's path again (after logrotate moved it) or reconnects to
 * syslog. On failure the old file stays in use and a warning is logged. Returns 0 or a
 * negative errno. */
int log_reopen(void);
/* Closes the log file or the syslog connection; later messages go to stderr. */
void log_close(void);
void log_setlevel(int level);
int log_getlevel(void);
/* "error", "warn", "info", "debug" -> the syslog priority; -1 for anything else. */
int log_level_parse(const char *name);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog(int pri, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Log at error level and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
