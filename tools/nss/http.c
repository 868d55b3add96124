/* libnss_p2pns: one HTTP/1.0 POST to the local node over a nonblocking TCP socket, with a
 * single CLOCK_MONOTONIC deadline across connect, send and receive; poll, no signals. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/nss/nss_p2pns.h"

#define NS_PER_S INT64_C(1000000000)

enum {
	NS_PER_MS = 1000000,
	STATUS_OK = 200,
	LENGTH_DIGITS_MAX = 9,		/* a Content-Length beyond NSS_RESPONSE_MAX is refused anyway */
};

static int64_t
ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

/* Whole milliseconds left before deadline (CLOCK_MONOTONIC, in ns), rounded down so that
 * the waits never go past it; 0 once less than 1 ms is left. */
static int
left_ms(int64_t deadline)
{
	struct timespec ts;
	int64_t left;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	left = (deadline - ns_of(&ts)) / NS_PER_MS;
	return left > 0 ? (int)left : 0;
}

/* Waits until fd is ready for events or the deadline passes: 0, or an errno value. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int ms = left_ms(deadline);
		int n;

		if (ms == 0)
			return ETIMEDOUT;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;		/* ready, or an error the next call reports */
		if (n < 0 && errno != EINTR)
			return errno;
	}
}

static bool
header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = line[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

/* What is known of the response read so far. */
struct response {
	size_t scanned;			/* bytes searched for the end of the headers */
	size_t body_off;		/* where the body starts; 0 until the headers are in */
	long length;			/* Content-Length, or -1 */
};

/* Checks the status line and the headers (buf up to the CRLF before the empty line). */
static int
parse_head(const char *buf, size_t head_len, long *length)
{
	static const char version[] = "HTTP/1.";
	const size_t vlen = sizeof(version) - 1;
	const char *p, *end, *head_end = buf + head_len;
	int status = 0;

	/* "HTTP/1.x 200 ..." */
	if (head_len < vlen + 6 || memcmp(buf, version, vlen) != 0 || buf[vlen + 1] != ' ')
		return NSS_ERR_BAD_ANSWER;
	for (size_t i = vlen + 2; i < vlen + 5; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return NSS_ERR_BAD_ANSWER;
		status = status * 10 + (buf[i] - '0');
	}
	if (status != STATUS_OK || (buf[vlen + 5] != ' ' && buf[vlen + 5] != '\r'))
		return NSS_ERR_BAD_ANSWER;

	*length = -1;
	p = memchr(buf, '\n', head_len);
	for (p = p + 1; p < head_end; p = end + 1) {
		const char *v;
		size_t digits = 0;

		end = memchr(p, '\n', (size_t)(head_end - p));
		if (end == NULL || end == p || end[-1] != '\r')
			return NSS_ERR_BAD_ANSWER;
		if (header_is(p, (size_t)(end - p), "transfer-encoding"))
			return NSS_ERR_BAD_ANSWER;	/* HTTP/1.0 asked for; no chunks expected */
		if (!header_is(p, (size_t)(end - p), "content-length"))
			continue;
		if (*length >= 0)
			return NSS_ERR_BAD_ANSWER;	/* twice */
		for (v = p + sizeof("content-length"); v < end && (*v == ' ' || *v == '\t'); v++)
			;
		*length = 0;
		for (; v < end - 1 && *v >= '0' && *v <= '9'; v++) {
			if (++digits > LENGTH_DIGITS_MAX)
				return NSS_ERR_BAD_ANSWER;
			*length = *length * 10 + (*v - '0');
		}
		while (v < end - 1 && (*v == ' ' || *v == '\t'))
			v++;
		if (digits == 0 || v != end - 1)
			return NSS_ERR_BAD_ANSWER;
	}
	return 0;
}

/* Looks at the response read so far (len bytes, at_eof: no more will come): 1 when it is a
 * complete "200" response, with *body and *body_len set; 0 when more must be read;
 * NSS_ERR_BAD_ANSWER. Without a Content-Length the body ends with the stream. Each byte is
 * searched once for the end of the headers. */
static int
response_done(struct response *r, const char *buf, size_t len, bool at_eof, const char **body,
    size_t *body_len)
{
	size_t have;

	if (r->body_off == 0) {
		size_t i = r->scanned >= 3 ? r->scanned - 3 : 0;
		for (; i + 3 < len; i++) {
			if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
				if (parse_head(buf, i + 2, &r->length) < 0)
					return NSS_ERR_BAD_ANSWER;
				r->body_off = i + 4;
				break;
			}
		}
		r->scanned = len;
		if (r->body_off == 0)
			return at_eof ? NSS_ERR_BAD_ANSWER : 0;
	}
	have = len - r->body_off;
	if (r->length >= 0 && have > (size_t)r->length)
		return NSS_ERR_BAD_ANSWER;	/* more than it announced */
	if (r->length < 0 ? !at_eof : have < (size_t)r->length)
		return at_eof ? NSS_ERR_BAD_ANSWER : 0;
	*body = buf + r->body_off;
	*body_len = have;
	return 1;
}

static int
exchange(int fd, const struct nss_conf *conf, const char *req, size_t len, char *buf,
    size_t cap, const char **body, size_t *body_len, int *sys_err)
{
	struct timespec ts;
	int64_t deadline;
	struct response resp = { .scanned = 0, .body_off = 0, .length = -1 };
	size_t off = 0, got = 0;
	socklen_t elen = sizeof(*sys_err);

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
		*sys_err = errno;
		return NSS_ERR_DOWN;
	}
	deadline = ns_of(&ts) + (int64_t)conf->timeout_ms * NS_PER_MS;

	if (connect(fd, (const struct sockaddr *)&conf->node, conf->node_len) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			*sys_err = errno;
			return NSS_ERR_DOWN;
		}
		if ((*sys_err = wait_fd(fd, POLLOUT, deadline)) != 0)
			return NSS_ERR_DOWN;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, sys_err, &elen) < 0)
			*sys_err = errno;
		if (*sys_err != 0)
			return NSS_ERR_DOWN;
	}

	while (off < len) {
		ssize_t n;

		if (left_ms(deadline) == 0) {
			*sys_err = ETIMEDOUT;
			return NSS_ERR_DOWN;
		}
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);	/* no SIGPIPE */
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((*sys_err = wait_fd(fd, POLLOUT, deadline)) != 0)
				return NSS_ERR_DOWN;
		} else if (n < 0 && errno != EINTR) {
			*sys_err = errno;
			return NSS_ERR_DOWN;
		}
	}

	for (;;) {
		ssize_t n;
		int done;

		if (left_ms(deadline) == 0) {	/* a server trickling bytes gets no more time */
			*sys_err = ETIMEDOUT;
			return NSS_ERR_DOWN;
		}
		n = recv(fd, buf + got, cap - got, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((*sys_err = wait_fd(fd, POLLIN, deadline)) != 0)
					return NSS_ERR_DOWN;
			} else if (errno != EINTR) {
				*sys_err = errno;
				return NSS_ERR_DOWN;
			}
			continue;
		}
		got += (size_t)n;
		done = response_done(&resp, buf, got, n == 0, body, body_len);
		if (done != 0) {
			*sys_err = done < 0 ? EBADMSG : 0;
			return done < 0 ? done : NSS_OK;
		}
		if (got == cap) {		/* too big for an answer of ours */
			*sys_err = EMSGSIZE;
			return NSS_ERR_BAD_ANSWER;
		}
	}
}

int
nss_http_post(const struct nss_conf *conf, const char *req, size_t len, char *buf,
    size_t cap, const char **body, size_t *body_len, int *sys_err)
{
	int fd, r;

	*sys_err = 0;
	fd = socket(conf->node.v4.sin_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*sys_err = errno;
		return NSS_ERR_DOWN;
	}
	r = exchange(fd, conf, req, len, buf, cap, body, body_len, sys_err);
	close(fd);
	return r;
}
