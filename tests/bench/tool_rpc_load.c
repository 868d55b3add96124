/* Load generator for bench_rpc.py: XML-RPC calls over many HTTP/1.1 keep-alive connections
 * from one epoll thread, one call in flight per connection; prints one JSON line and can
 * write every measured call's latency to a file. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cli.h"

enum {
	MAX_CLIENTS = 1024,
	MAX_NAMES = 1000000,
	MAX_NAME = 200,			/* bytes of one name before base64 */
	MAX_SECONDS = 3600,
	MAX_RESPONSE = 64 * 1024,	/* a bigger response is an error */
	MAX_EVENTS = 256,
	RETRY_MS = 10,			/* wait before reconnecting after a refused connect */
	MAX_CONNECT_FAILS = 1000,	/* refused or failed connects before giving up */
	ONCE_TIMEOUT_S = 30,
	MAX_SAMPLES = 4 * 1024 * 1024,	/* latencies kept for --samples; later calls are not */
	FIRST_SAMPLES = 64 * 1024,	/* the sample array starts this big and doubles */
};

static const uint64_t MAX_REQUESTS = 50000000;	/* hard cap on calls per run */

/* Latency histogram over nanoseconds: values below 2 * HIST_SUB exactly, above that
 * HIST_SUB buckets per power of two (under 1.6 % error). */
enum {
	HIST_SUB = 64,
	HIST_SHIFTS = 40,
	HIST_BUCKETS = 2 * HIST_SUB + HIST_SHIFTS * HIST_SUB,
};

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, max;
};

/* Raw latencies in ns, in the order the calls finished (--samples). */
struct samples {
	uint64_t *ns;
	size_t n, size;
	bool full;			/* MAX_SAMPLES reached or out of memory */
};

struct request {
	char *data;
	size_t len;
};

enum conn_state { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING, C_RETRY };

struct conn {
	int fd;
	enum conn_state state;
	const struct request *req;
	size_t sent;
	size_t have;
	uint64_t started;		/* ns: the call was sent */
	uint64_t retry_at;		/* ns, in C_RETRY */
	bool want_out;			/* EPOLLOUT registered */
	char buf[MAX_RESPONSE];
};

struct opts {
	const char *url;
	char host[256], port[16], path[256];
	unsigned clients, seconds, warmup, names, kind;
	const char *prefix, *method;
	const char *samples_path;	/* --samples FILE, or NULL */
	bool once;
};

struct load {
	struct opts o;
	struct addrinfo *ai;
	struct request *reqs;
	struct conn *conns;
	struct hist hist;
	struct samples samples;
	int ep;
	unsigned next_name;
	uint64_t measure_from, stop_at;
	uint64_t sent_total;
	uint64_t ok, errors, faults, reconnects, connect_fails;
	bool stopping;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static unsigned
hist_index(uint64_t v)
{
	unsigned shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	shift = (unsigned)(63 - __builtin_clzll(v)) - 6;	/* v >> shift in [64, 127] */
	if (shift > HIST_SHIFTS)
		return HIST_BUCKETS - 1;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i. */
static double
hist_value(unsigned i)
{
	unsigned shift;

	if (i < 2 * HIST_SUB)
		return i;
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	return ((double)(HIST_SUB + (i - 2 * HIST_SUB) % HIST_SUB) + 0.5) * (double)(1ull << shift);
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* The p-th percentile (0 < p <= 100) in ms; 0 for an empty histogram. */
static double
hist_pct_ms(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			double v = hist_value(i);

			return (v > (double)h->max ? (double)h->max : v) / 1e6;
		}
	}
	return (double)h->max / 1e6;
}

/* Keeps v unless the array is full; growing it may fail, which ends the keeping. */
static void
samples_add(struct samples *s, uint64_t v)
{
	if (s->full)
		return;
	if (s->n == s->size) {
		size_t size = s->size ? 2 * s->size : FIRST_SAMPLES;
		uint64_t *ns;

		if (size > MAX_SAMPLES)
			size = MAX_SAMPLES;
		ns = size > s->size ? realloc(s->ns, size * sizeof(*ns)) : NULL;
		if (ns == NULL) {
			s->full = true;
			return;
		}
		s->ns = ns;
		s->size = size;
	}
	s->ns[s->n++] = v;
}

/* Writes the samples to path, one latency in ms a line. Returns 0 or -1. */
static int
samples_write(const struct samples *s, const char *path)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "tool_rpc_load: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%.4f\n", (double)s->ns[i] / 1e6);
	if (ferror(f))
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "tool_rpc_load: cannot write %s\n", path);
	return rc;
}

/* ---- options and requests --------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tool_rpc_load --url [http://]HOST:PORT[/PATH] [--clients N] [--seconds S]\n"
	    "                     [--warmup S] [--names N] [--prefix P] [--method M] [--kind K]\n"
	    "                     [--samples FILE]\n"
	    "       tool_rpc_load --url ... --once [--prefix P] [--method M] [--kind K]\n"
	    "Sends M(base64 name, int K) (default resolve, K 0) to POST PATH (default /RPC2) over\n"
	    "N keep-alive connections (default 16), one call at a time on each, names cycling\n"
	    "through PREFIX0..PREFIX{N-1} (default 100 names, prefix \"name\"). Runs S seconds\n"
	    "(default 5) after a warm-up (default 1 s) that is not counted, at most %llu calls,\n"
	    "and prints one JSON line. A response is ok with HTTP 200 and a <methodResponse>\n"
	    "without <fault>; errors count everything else, faults included. --samples writes\n"
	    "the latency of each measured call (the first %d) to FILE, in ms, one a line.\n"
	    "--once sends one call for PREFIX0 and prints the response body.\n",
	    (unsigned long long)MAX_REQUESTS, MAX_SAMPLES);
}

/* Splits [http://]HOST:PORT[/PATH]; HOST may be [IPv6]. */
static int
parse_url(struct opts *o)
{
	const char *s = o->url, *slash, *colon, *host_end;
	size_t hlen;

	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	slash = strchr(s, '/');
	if (slash == NULL)
		slash = s + strlen(s);
	if (*s == '[') {
		host_end = memchr(s, ']', (size_t)(slash - s));
		if (host_end == NULL || host_end[1] != ':')
			return -1;
		colon = host_end + 1;
		s++;
	} else {
		colon = NULL;
		for (const char *p = s; p < slash; p++)
			if (*p == ':')
				colon = p;
		if (colon == NULL)
			return -1;
		host_end = colon;
	}
	hlen = (size_t)(host_end - s);
	if (hlen == 0 || hlen >= sizeof(o->host) || (size_t)(slash - colon - 1) == 0 ||
	    (size_t)(slash - colon - 1) >= sizeof(o->port) || strlen(slash) >= sizeof(o->path))
		return -1;
	memcpy(o->host, s, hlen);
	o->host[hlen] = '\0';
	memcpy(o->port, colon + 1, (size_t)(slash - colon - 1));
	o->port[slash - colon - 1] = '\0';
	snprintf(o->path, sizeof(o->path), "%s", *slash != '\0' ? slash : "/RPC2");
	return 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	unsigned ignored;

	o->clients = 16;
	o->seconds = 5;
	o->warmup = 1;
	o->names = 100;
	o->prefix = "name";
	o->method = "resolve";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(a, "--once") == 0) {
			o->once = true;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(a, "--url") == 0)
			o->url = v;
		else if (strcmp(a, "--clients") == 0)
			bad = cli_parse_uint(v, 1, MAX_CLIENTS, &o->clients);
		else if (strcmp(a, "--seconds") == 0)
			bad = cli_parse_uint(v, 1, MAX_SECONDS, &o->seconds);
		else if (strcmp(a, "--warmup") == 0)
			bad = cli_parse_uint(v, 0, MAX_SECONDS, &o->warmup);
		else if (strcmp(a, "--names") == 0)
			bad = cli_parse_uint(v, 1, MAX_NAMES, &o->names);
		else if (strcmp(a, "--kind") == 0)
			bad = cli_parse_uint(v, 0, 2147483647, &o->kind);
		else if (strcmp(a, "--prefix") == 0)
			o->prefix = v;
		else if (strcmp(a, "--method") == 0)
			o->method = v;
		else if (strcmp(a, "--samples") == 0)
			o->samples_path = v;
		else
			return -1;
		if (bad != 0)
			return -1;
	}
	if (o->url == NULL || parse_url(o) != 0 || cli_parse_uint(o->port, 1, 65535,
	    &ignored) != 0)
		return -1;
	if (strlen(o->prefix) + 7 > MAX_NAME || strlen(o->method) == 0 ||
	    strlen(o->method) > 64 || strpbrk(o->method, "<>&") != NULL)
		return -1;
	return 0;
}

#define REQUEST_FMT \
	"POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: tool_rpc_load\r\n" \
	"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s"

/* Builds the whole HTTP request for name number i. */
static int
build_request(const struct opts *o, unsigned i, struct request *out)
{
	char name[MAX_NAME + 1], body[1024];
	unsigned char b64[(MAX_NAME + 2) / 3 * 4 + 1];
	int nlen, blen, len;

	nlen = snprintf(name, sizeof(name), "%s%u", o->prefix, i);
	if (nlen < 0 || (size_t)nlen >= sizeof(name))
		return -1;
	EVP_EncodeBlock(b64, (const unsigned char *)name, nlen);
	blen = snprintf(body, sizeof(body),
	    "<?xml version=\"1.0\"?>\r\n<methodCall><methodName>%s</methodName><params>"
	    "<param><value><base64>%s</base64></value></param>"
	    "<param><value><int>%u</int></value></param></params></methodCall>\r\n",
	    o->method, (const char *)b64, o->kind);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	len = snprintf(NULL, 0, REQUEST_FMT, o->path, o->host, o->port, blen, body);
	if (len < 0)
		return -1;
	out->data = malloc((size_t)len + 1);
	if (out->data == NULL)
		return -1;
	snprintf(out->data, (size_t)len + 1, REQUEST_FMT, o->path, o->host, o->port, blen, body);
	out->len = (size_t)len;
	return 0;
}

/* ---- HTTP responses --------------------------------------------------------------------- */

enum verdict { V_PARTIAL, V_OK, V_FAULT, V_BAD };

struct response {
	size_t total;			/* header + body bytes */
	const char *body;
	size_t body_len;
	unsigned status;
	bool close;			/* Connection: close */
};

/* The first needle in hay[0..n), or NULL. */
static const char *
find(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (const char *p = hay; m <= n && p <= hay + (n - m); p++) {
		p = memchr(p, needle[0], n - m + 1 - (size_t)(p - hay));
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, m) == 0)
			return p;
	}
	return NULL;
}

/* Looks at buf[0..n): V_PARTIAL until a whole response is there, then its verdict. */
static enum verdict
parse_response(const char *buf, size_t n, struct response *r)
{
	const char *end = find(buf, n, "\r\n\r\n"), *line, *next;
	size_t hlen;
	bool have_len = false;
	unsigned long long clen = 0;

	memset(r, 0, sizeof(*r));
	if (end == NULL)
		return n >= MAX_RESPONSE ? V_BAD : V_PARTIAL;
	hlen = (size_t)(end - buf) + 4;
	if (hlen < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return V_BAD;
	r->status = (unsigned)strtoul(buf + 9, NULL, 10);
	r->close = buf[7] == '0';	/* HTTP/1.0 closes unless told otherwise */
	for (line = (const char *)memchr(buf, '\n', hlen) + 1; line < end; line = next + 1) {
		next = memchr(line, '\n', (size_t)(end + 2 - line));
		if (next == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtoull(line + 15, NULL, 10);
			have_len = true;
		} else if (strncasecmp(line, "Connection:", 11) == 0) {
			const char *v = line + 11;

			while (*v == ' ')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				r->close = true;
			else if (strncasecmp(v, "keep-alive", 10) == 0)
				r->close = false;
		}
	}
	if (!have_len || clen > MAX_RESPONSE - hlen) {
		r->close = true;
		return V_BAD;
	}
	if (n < hlen + clen)
		return V_PARTIAL;
	r->total = hlen + (size_t)clen;
	r->body = buf + hlen;
	r->body_len = (size_t)clen;
	if (r->status != 200 || find(r->body, r->body_len, "<methodResponse>") == NULL)
		return V_BAD;
	if (find(r->body, r->body_len, "<fault>") != NULL)
		return V_FAULT;
	return V_OK;
}

/* ---- connections ------------------------------------------------------------------------ */

static void
watch(struct load *l, struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c };

	if (c->want_out != out) {
		epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = out;
	}
}

static void send_more(struct load *l, struct conn *c);

/* Starts the next call on c, if the run goes on. */
static void
start_call(struct load *l, struct conn *c)
{
	if (l->stopping || l->sent_total >= MAX_REQUESTS) {
		c->state = C_IDLE;
		watch(l, c, false);
		return;
	}
	c->req = &l->reqs[l->next_name];
	l->next_name = (l->next_name + 1) % l->o.names;
	l->sent_total++;
	c->sent = 0;
	c->have = 0;
	c->started = now_ns();
	c->state = C_SENDING;
	send_more(l, c);
}

/* Opens c's connection; the first call starts when the connect completes. */
static int
open_conn(struct load *l, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(l->ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, l->ai->ai_addr, l->ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->want_out = true;
	c->state = C_CONNECTING;
	return 0;
}

static void
retry_later(struct load *l, struct conn *c)
{
	l->connect_fails++;
	c->state = C_RETRY;
	c->retry_at = now_ns() + (uint64_t)RETRY_MS * 1000000u;
}

/* The server closed c or something failed on it: an unfinished call is an error, and the
 * connection is opened again. */
static void
drop(struct load *l, struct conn *c, bool call_failed)
{
	if (call_failed && now_ns() >= l->measure_from)
		l->errors++;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_IDLE;
	if (l->stopping)
		return;
	l->reconnects++;
	if (open_conn(l, c) != 0)
		retry_later(l, c);
}

static void
send_more(struct load *l, struct conn *c)
{
	while (c->sent < c->req->len) {
		ssize_t n = send(c->fd, c->req->data + c->sent, c->req->len - c->sent,
		    MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(l, c, true);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			drop(l, c, true);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = C_RECEIVING;
	watch(l, c, false);
}

static void
finish_call(struct load *l, struct conn *c, enum verdict v, uint64_t t)
{
	if (t >= l->measure_from) {
		if (v == V_OK) {
			l->ok++;
		} else {
			l->errors++;
			if (v == V_FAULT)
				l->faults++;
		}
		hist_add(&l->hist, t - c->started);
		if (l->o.samples_path != NULL)
			samples_add(&l->samples, t - c->started);
	}
}

static void
receive(struct load *l, struct conn *c)
{
	struct response r;
	enum verdict v;
	ssize_t n;
	uint64_t t;

	n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		drop(l, c, c->state == C_SENDING || c->state == C_RECEIVING);
		return;
	}
	if (c->state != C_RECEIVING && c->state != C_SENDING) {
		drop(l, c, false);	/* bytes nobody asked for */
		return;
	}
	c->have += (size_t)n;
	v = parse_response(c->buf, c->have, &r);
	if (v == V_PARTIAL)
		return;
	t = now_ns();
	finish_call(l, c, v, t);
	if (v == V_BAD || r.close || c->have != r.total || c->state != C_RECEIVING) {
		drop(l, c, false);
		return;
	}
	start_call(l, c);
}

static void
on_event(struct load *l, struct conn *c, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
			retry_later(l, c);
			return;
		}
		start_call(l, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		receive(l, c);
	if (c->fd >= 0 && c->state == C_SENDING && (events & EPOLLOUT))
		send_more(l, c);
}

/* Reopens connections whose retry time has come; returns the ms until the next one is due
 * (-1 if none waits). */
static int
retry_due(struct load *l, uint64_t t)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < l->o.clients; i++) {
		struct conn *c = &l->conns[i];

		if (c->state != C_RETRY)
			continue;
		if (c->retry_at <= t) {
			if (open_conn(l, c) != 0)
				retry_later(l, c);
		}
		if (c->state == C_RETRY && c->retry_at < next)
			next = c->retry_at;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= t ? 0 : (int)((next - t) / 1000000u) + 1;
}

static int
run(struct load *l)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t start = now_ns();

	l->measure_from = start + (uint64_t)l->o.warmup * 1000000000u;
	l->stop_at = l->measure_from + (uint64_t)l->o.seconds * 1000000000u;
	for (unsigned i = 0; i < l->o.clients; i++) {
		if (open_conn(l, &l->conns[i]) != 0) {
			fprintf(stderr, "tool_rpc_load: cannot connect to %s:%s: %s\n", l->o.host,
			    l->o.port, strerror(errno));
			return -1;
		}
	}
	for (;;) {
		uint64_t t = now_ns();
		int timeout, retry, n;

		if (t >= l->stop_at || l->sent_total >= MAX_REQUESTS)
			break;
		if (l->connect_fails > MAX_CONNECT_FAILS) {
			fprintf(stderr, "tool_rpc_load: %llu failed connects to %s:%s, giving up\n",
			    (unsigned long long)l->connect_fails, l->o.host, l->o.port);
			return -1;
		}
		timeout = (int)((l->stop_at - t) / 1000000u) + 1;
		retry = retry_due(l, t);
		if (retry >= 0 && retry < timeout)
			timeout = retry;
		n = epoll_wait(l->ep, evs, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			perror("tool_rpc_load: epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++)
			on_event(l, evs[i].data.ptr, evs[i].events);
	}
	l->stopping = true;
	return 0;
}

/* ---- --once ------------------------------------------------------------------------------ */

static int
once(struct load *l)
{
	const struct request *req = &l->reqs[0];
	struct timeval tv = { .tv_sec = ONCE_TIMEOUT_S };
	struct response r;
	enum verdict v = V_PARTIAL;
	size_t have = 0, sent = 0;
	char *buf = malloc(MAX_RESPONSE);
	int fd, rc = 1;

	if (buf == NULL)
		return 1;
	fd = socket(l->ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, l->ai->ai_addr, l->ai->ai_addrlen) != 0) {
		fprintf(stderr, "tool_rpc_load: cannot connect to %s:%s: %s\n", l->o.host,
		    l->o.port, strerror(errno));
		goto out;
	}
	while (sent < req->len) {
		ssize_t n = send(fd, req->data + sent, req->len - sent, MSG_NOSIGNAL);

		if (n <= 0) {
			fprintf(stderr, "tool_rpc_load: send: %s\n", strerror(errno));
			goto out;
		}
		sent += (size_t)n;
	}
	while (v == V_PARTIAL && have < MAX_RESPONSE) {
		ssize_t n = recv(fd, buf + have, MAX_RESPONSE - have, 0);

		if (n <= 0) {
			fprintf(stderr, "tool_rpc_load: %s before a whole response\n",
			    n == 0 ? "connection closed" : strerror(errno));
			goto out;
		}
		have += (size_t)n;
		v = parse_response(buf, have, &r);
	}
	if (v == V_PARTIAL) {
		fprintf(stderr, "tool_rpc_load: response over %d bytes\n", MAX_RESPONSE);
		goto out;
	}
	fprintf(stderr, "HTTP status %u, %s\n", r.status,
	    v == V_OK ? "ok" : v == V_FAULT ? "fault" : "not an XML-RPC response");
	if (r.body != NULL)
		fwrite(r.body, 1, r.body_len, stdout);
	else
		fwrite(buf, 1, have, stdout);
	rc = v == V_OK ? 0 : 1;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

static void
print_result(const struct load *l, double seconds, double cpu)
{
	printf("{\"clients\":%u,\"seconds\":%.3f,\"requests\":%llu,\"ok\":%llu,\"errors\":%llu,"
	    "\"faults\":%llu,\"reconnects\":%llu,\"rps\":%.1f,\"p50_ms\":%.3f,"
	    "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"cpu_pct\":%.1f,\"samples\":%zu}\n",
	    l->o.clients, seconds, (unsigned long long)(l->ok + l->errors),
	    (unsigned long long)l->ok, (unsigned long long)l->errors,
	    (unsigned long long)l->faults, (unsigned long long)l->reconnects,
	    seconds > 0 ? (double)l->ok / seconds : 0.0, hist_pct_ms(&l->hist, 50),
	    hist_pct_ms(&l->hist, 99), (double)l->hist.max / 1e6, cpu, l->samples.n);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static struct load l;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	unsigned nreq;
	double cpu0, wall0;
	int err, rc = 1;

	if (parse_args(&l.o, argc, argv) != 0) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	err = getaddrinfo(l.o.host, l.o.port, &hints, &l.ai);
	if (err != 0) {
		fprintf(stderr, "tool_rpc_load: %s:%s: %s\n", l.o.host, l.o.port,
		    gai_strerror(err));
		return 1;
	}
	nreq = l.o.once ? 1 : l.o.names;
	l.reqs = calloc(nreq, sizeof(*l.reqs));
	l.conns = calloc(l.o.clients, sizeof(*l.conns));
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.reqs == NULL || l.conns == NULL || l.ep < 0) {
		fprintf(stderr, "tool_rpc_load: out of memory or descriptors\n");
		goto out;
	}
	for (unsigned i = 0; i < nreq; i++) {
		if (build_request(&l.o, i, &l.reqs[i]) != 0) {
			fprintf(stderr, "tool_rpc_load: cannot build request %u\n", i);
			goto out;
		}
	}
	for (unsigned i = 0; i < l.o.clients; i++)
		l.conns[i].fd = -1;
	if (l.o.once) {
		rc = once(&l);
		goto out;
	}
	cpu0 = cpu_seconds();
	wall0 = (double)now_ns() / 1e9;
	if (run(&l) == 0) {
		double end = (double)now_ns() / 1e9;
		double measured = end - (double)l.measure_from / 1e9;

		print_result(&l, measured, 100.0 * (cpu_seconds() - cpu0) / (end - wall0));
		rc = 0;
		if (l.o.samples_path != NULL && samples_write(&l.samples, l.o.samples_path) != 0)
			rc = 1;
	}
out:
	for (unsigned i = 0; l.conns != NULL && i < l.o.clients; i++)
		if (l.conns[i].fd >= 0)
			close(l.conns[i].fd);
	for (unsigned i = 0; l.reqs != NULL && i < nreq; i++)
		free(l.reqs[i].data);
	free(l.reqs);
	free(l.conns);
	free(l.samples.ns);
	if (l.ep >= 0)
		close(l.ep);
	freeaddrinfo(l.ai);
	return rc;
}
