/* The debug control socket: per connection, read one command line (bounded in size and
 * time), run it against the KBR and write one JSON line back. A lookup answers from its
 * completion callback; if the client left meanwhile, the request is only marked gone. */
#include "p2pnsd/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "kbr/table.h"
#include "p2pnsd/log.h"
#include "p2pnsd/p2pnsd.h"
#include "p2pnsd/udp.h"

enum {
	CTL_ACCEPT_BATCH = 16,		/* connections accepted per wakeup */
	CTL_BACKLOG = 64,
};

/* A growing output buffer, bounded by CTL_OUT_MAX; failed once anything did not fit. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

enum conn_state {
	CONN_READ,			/* reading the command line */
	CONN_WAIT,			/* a lookup is running */
	CONN_WRITE,			/* writing the answer */
};

struct ctl_lookup;

struct ctl_conn {
	struct control *ctl;
	int fd;
	struct event *ev;
	enum conn_state state;
	uint64_t since;			/* monotonic ms the state began: bounds reads and writes */
	bool eof;			/* the client ended its side with the command */
	char in[CTL_LINE_MAX + 1];
	size_t inlen;
	struct jbuf out;
	size_t outoff;
	struct ctl_lookup *lookup;	/* while CONN_WAIT */
	LIST_ENTRY(ctl_conn) entry;
};

/* The argument of one kbr_lookup_start; lives until the callback, even if the client
 * that asked has gone (conn == NULL then). */
struct ctl_lookup {
	struct control *ctl;
	struct ctl_conn *conn;
	LIST_ENTRY(ctl_lookup) entry;
};

struct control {
	struct p2pnsd *d;
	int fd;
	struct event *ev;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	LIST_HEAD(, ctl_conn) conns;
	LIST_HEAD(, ctl_lookup) lookups;
	unsigned nconns;
	bool bound;			/* the socket file is ours to remove */
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
jb_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t avail = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, avail, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < avail) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap : 256;
			char *p;

			while (cap < b->len + (size_t)n + 1)
				cap *= 2;
			if (cap > CTL_OUT_MAX || (p = realloc(b->p, cap)) == NULL) {
				b->failed = true;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

/* A JSON string of plain text: quotes, backslashes and control characters escaped. */
static void
jb_str(struct jbuf *b, const char *s)
{
	jb_printf(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jb_printf(b, "\\%c", c);
		else if (c < 0x20)
			jb_printf(b, "\\u%04x", c);
		else
			jb_printf(b, "%c", c);
	}
	jb_printf(b, "\"");
}

static void
jb_id(struct jbuf *b, const struct nodeid *id)
{
	char hex[NODEID_HEX_LEN + 1];

	nodeid_to_hex(id, hex);
	jb_printf(b, "\"%s\"", hex);
}

static void
jb_addr(struct jbuf *b, const struct kbr_addr *a)
{
	char s[KBR_ADDR_STRLEN];

	if (a->family == KBR_AF_NONE) {
		jb_printf(b, "null");
		return;
	}
	kbr_addr_format(a, s, sizeof(s));
	jb_str(b, s);
}

static void
jb_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void conn_event(evutil_socket_t fd, short what, void *arg);

static void
conn_close(struct ctl_conn *conn)
{
	struct control *c = conn->ctl;

	if (conn->lookup != NULL)
		conn->lookup->conn = NULL;	/* the callback will only free the request */
	if (conn->ev != NULL)
		event_free(conn->ev);
	close(conn->fd);
	jb_free(&conn->out);
	LIST_REMOVE(conn, entry);
	c->nconns--;
	free(conn);
}

/* Switches the connection's event to the state's direction and time limit.
 * Returns 0 or -ENOMEM (the connection then has no event: the caller ends it). */
static int
conn_set_state(struct ctl_conn *conn, enum conn_state state)
{
	struct timeval tv = {CTL_IO_TIMEOUT_S, 0};
	short what = EV_READ | EV_PERSIST;
	evutil_socket_t fd = conn->fd;

	if (state == CONN_WAIT)
		tv.tv_sec = CTL_LOOKUP_TIMEOUT_S;
	if (state == CONN_WRITE)
		what = EV_WRITE | EV_PERSIST;
	if (conn->ev != NULL)
		event_free(conn->ev);
	conn->state = state;
	conn->since = mono_ms();
	/* a client that ended its side is not watched for reading while it waits */
	if (state == CONN_WAIT && conn->eof) {
		what = EV_TIMEOUT;
		fd = -1;
	}
	conn->ev = event_new(conn->ctl->d->base, fd, what, conn_event, conn);
	if (conn->ev == NULL || event_add(conn->ev, &tv) != 0)
		return -ENOMEM;
	return 0;
}

/* Queues the answer in b (taken over) followed by a newline; it is written from the event
 * loop, never from here, so that callers up the stack may still use conn. */
static void
conn_reply(struct ctl_conn *conn, struct jbuf *b)
{
	jb_printf(b, "\n");
	if (b->failed) {
		jb_free(b);
		jb_printf(b, "{\"error\":\"answer too large or out of memory\"}\n");
	}
	jb_free(&conn->out);
	conn->out = *b;
	memset(b, 0, sizeof(*b));
	conn->outoff = 0;
	if (conn_set_state(conn, CONN_WRITE) != 0) {
		/* no event to write from: give up on this client */
		shutdown(conn->fd, SHUT_RDWR);
	}
}

static void
conn_error(struct ctl_conn *conn, const char *msg)
{
	struct jbuf b = {0};

	jb_printf(&b, "{\"error\":");
	jb_str(&b, msg);
	jb_printf(&b, "}");
	conn_reply(conn, &b);
}

static void
cmd_id(struct ctl_conn *conn)
{
	struct p2pnsd *d = conn->ctl->d;
	struct kbr_addr obs, bound[UDP_MAX_SOCKETS];
	size_t n = udp_bound(d->udp, bound, UDP_MAX_SOCKETS);
	struct jbuf b = {0};

	kbr_observed_addr(d->kbr, &obs);
	jb_printf(&b, "{\"node_id\":");
	jb_id(&b, kbr_self_id(d->kbr));
	jb_printf(&b, ",\"addr\":");
	jb_addr(&b, &obs);
	jb_printf(&b, ",\"bound\":[");
	for (size_t i = 0; i < n; i++) {
		jb_printf(&b, "%s", i ? "," : "");
		jb_addr(&b, &bound[i]);
	}
	jb_printf(&b, "]}");
	conn_reply(conn, &b);
}

struct table_dump {
	struct jbuf *b;
	size_t n;
};

static void
table_contact(void *arg, const struct kbr_contact *c)
{
	struct table_dump *t = arg;

	jb_printf(t->b, "%s{\"id\":", t->n++ ? "," : "");
	jb_id(t->b, &c->id);
	jb_printf(t->b, ",\"addr\":");
	jb_addr(t->b, &c->addr);
	jb_printf(t->b, ",\"first_seen\":%llu,\"last_seen\":%llu,\"fails\":%u}",
	    (unsigned long long)c->first_seen, (unsigned long long)c->last_seen, c->fails);
}

static void
cmd_table(struct ctl_conn *conn)
{
	const struct kbr_table *t = kbr_get_table(conn->ctl->d->kbr);
	struct jbuf b = {0};
	struct table_dump dump = {&b, 0};

	jb_printf(&b, "{\"size\":%zu,\"siblings\":%zu,\"buckets\":%u,\"contacts\":[",
	    kbr_table_size(t), kbr_table_sibling_count(t), kbr_table_bucket_count(t));
	kbr_table_foreach(t, table_contact, &dump);
	jb_printf(&b, "]}");
	conn_reply(conn, &b);
}

static void
lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct ctl_lookup *req = arg;
	struct ctl_conn *conn = req->conn;
	struct jbuf b = {0};

	LIST_REMOVE(req, entry);
	free(req);
	if (conn == NULL)
		return;		/* the client has gone */
	conn->lookup = NULL;
	jb_printf(&b, "{\"target\":");
	jb_id(&b, target);
	jb_printf(&b, ",\"nodes\":[");
	for (size_t i = 0; i < n; i++) {
		jb_printf(&b, "%s{\"id\":", i ? "," : "");
		jb_id(&b, &res[i].id);
		jb_printf(&b, ",\"addr\":");
		jb_addr(&b, &res[i].addr);
		jb_printf(&b, "}");
	}
	jb_printf(&b, "],\"hops\":%u,\"queries\":%u,\"failures\":%u}", st->hops, st->queries,
	    st->failures);
	conn_reply(conn, &b);
}

static void
cmd_lookup(struct ctl_conn *conn, const char *arg)
{
	struct control *c = conn->ctl;
	struct ctl_lookup *req;
	struct nodeid target;
	int err;

	if (arg == NULL || nodeid_from_hex(&target, arg, strlen(arg)) != 0) {
		conn_error(conn, "usage: lookup HEX40");
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		conn_error(conn, "out of memory");
		return;
	}
	req->ctl = c;
	req->conn = conn;
	LIST_INSERT_HEAD(&c->lookups, req, entry);
	conn->lookup = req;
	/* before the start: the callback may run at once and switch to writing */
	if (conn_set_state(conn, CONN_WAIT) != 0)
		shutdown(conn->fd, SHUT_RDWR);
	err = kbr_lookup_start(c->d->kbr, p2pnsd_now(), &target, lookup_done, req);
	if (err != 0) {
		LIST_REMOVE(req, entry);
		free(req);
		conn->lookup = NULL;
		conn_error(conn, err == -EBUSY ? "too many lookups" : strerror(-err));
	}
	p2pnsd_kick(c->d);
}

static void
cmd_ping(struct ctl_conn *conn, const char *arg)
{
	struct p2pnsd *d = conn->ctl->d;
	struct kbr_addr a;
	struct jbuf b = {0};
	int err;

	if (arg == NULL || kbr_addr_parse(&a, arg) != 0) {
		conn_error(conn, "usage: ping IPV4:PORT or [IPV6]:PORT");
		return;
	}
	err = kbr_ping(d->kbr, p2pnsd_now(), &a);
	p2pnsd_kick(d);
	if (err != 0) {
		conn_error(conn, err == -EBUSY ? "too many RPCs in flight" : strerror(-err));
		return;
	}
	jb_printf(&b, "{\"ok\":true}");
	conn_reply(conn, &b);
}

/* Resident set size in KiB from /proc/self/statm; 0 if unknown. */
static unsigned long
rss_kb(void)
{
	unsigned long size = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return page > 0 ? resident * ((unsigned long)page / 1024) : 0;
}

static void
cmd_stats(struct ctl_conn *conn)
{
	struct p2pnsd *d = conn->ctl->d;
	struct kbr_stats ks;
	struct udp_stats us;
	struct jbuf b = {0};

	kbr_get_stats(d->kbr, &ks);
	udp_get_stats(d->udp, &us);
#define U(x) ((unsigned long long)(x))
	jb_printf(&b, "{\"rx\":%llu,\"tx\":%llu,\"dropped_malformed\":%llu,"
	    "\"dropped_version\":%llu,\"dropped_rate\":%llu,\"dropped_time\":%llu,"
	    "\"dropped_puzzle\":%llu,\"dropped_replay\":%llu,\"dropped_signature\":%llu,"
	    "\"dropped_unsolicited\":%llu,\"lookups_started\":%llu,\"lookups_done\":%llu,"
	    "\"rpcs_timed_out\":%llu,\"app_requests_in\":%llu,\"app_requests_out\":%llu,",
	    U(ks.rx), U(ks.tx), U(ks.dropped_malformed), U(ks.dropped_version),
	    U(ks.dropped_rate), U(ks.dropped_time), U(ks.dropped_puzzle), U(ks.dropped_replay),
	    U(ks.dropped_signature), U(ks.dropped_unsolicited), U(ks.lookups_started),
	    U(ks.lookups_done), U(ks.rpcs_timed_out), U(ks.app_requests_in),
	    U(ks.app_requests_out));
	jb_printf(&b, "\"udp_rx\":%llu,\"udp_rx_truncated\":%llu,\"udp_rx_errors\":%llu,"
	    "\"udp_tx\":%llu,\"udp_tx_dropped\":%llu,\"udp_tx_errors\":%llu,"
	    "\"udp_tx_no_socket\":%llu,",
	    U(us.rx), U(us.rx_truncated), U(us.rx_errors), U(us.tx), U(us.tx_dropped),
	    U(us.tx_errors), U(us.tx_no_socket));
#undef U
	jb_printf(&b, "\"table_size\":%zu,\"control_connections\":%u,\"memory\":%zu,"
	    "\"rss_kb\":%lu}",
	    kbr_table_size(kbr_get_table(d->kbr)), conn->ctl->nconns, kbr_memory(d->kbr),
	    rss_kb());
	conn_reply(conn, &b);
}

/* Runs the command line in conn->in (NUL-terminated, newline removed). */
static void
conn_command(struct ctl_conn *conn)
{
	char *cmd = conn->in, *arg, *end;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	end = cmd + strlen(cmd);
	while (end > cmd && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	arg = strpbrk(cmd, " \t");
	if (arg != NULL) {
		*arg++ = '\0';
		while (*arg == ' ' || *arg == '\t')
			arg++;
		if (*arg == '\0')
			arg = NULL;
	}
	if (strcmp(cmd, "id") == 0 && arg == NULL)
		cmd_id(conn);
	else if (strcmp(cmd, "table") == 0 && arg == NULL)
		cmd_table(conn);
	else if (strcmp(cmd, "stats") == 0 && arg == NULL)
		cmd_stats(conn);
	else if (strcmp(cmd, "lookup") == 0)
		cmd_lookup(conn, arg);
	else if (strcmp(cmd, "ping") == 0)
		cmd_ping(conn, arg);
	else
		conn_error(conn, "unknown command (id, table, lookup HEX40, ping ADDR, stats)");
}

static void
conn_read(struct ctl_conn *conn)
{
	ssize_t n;
	char *nl;

	n = recv(conn->fd, conn->in + conn->inlen, CTL_LINE_MAX - conn->inlen, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(conn);
		return;
	}
	if (n == 0) {
		if (conn->inlen == 0) {
			conn_close(conn);
			return;
		}
		/* a command without its newline, then the end of the client's side */
		conn->eof = true;
		conn->in[conn->inlen] = '\0';
		conn_command(conn);
		return;
	}
	conn->inlen += (size_t)n;
	conn->in[conn->inlen] = '\0';
	nl = memchr(conn->in, '\n', conn->inlen);
	if (nl != NULL) {
		*nl = '\0';
		conn_command(conn);
	} else if (memchr(conn->in, '\0', conn->inlen) != NULL) {
		conn_error(conn, "NUL byte in command");
	} else if (conn->inlen >= CTL_LINE_MAX) {
		conn_error(conn, "command line too long");
	}
}

static void
conn_write(struct ctl_conn *conn)
{
	ssize_t n;

	n = send(conn->fd, conn->out.p + conn->outoff, conn->out.len - conn->outoff,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(conn);
		return;
	}
	conn->outoff += (size_t)n;
	if (conn->outoff >= conn->out.len)
		conn_close(conn);
}

static void
conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *conn = arg;
	char scratch[256];
	ssize_t n;

	(void)fd;
	/* a persistent event's timeout restarts with every wakeup: bound the whole phase */
	if (conn->state != CONN_WAIT && mono_ms() - conn->since > CTL_IO_TIMEOUT_S * 1000) {
		log_debug("control: connection too slow, closed");
		conn_close(conn);
		return;
	}
	if (what & EV_TIMEOUT) {
		if (conn->state == CONN_WAIT && conn->lookup != NULL) {
			/* the request stays with the KBR, marked gone */
			conn->lookup->conn = NULL;
			conn->lookup = NULL;
			conn_error(conn, "lookup timed out");
		} else {
			log_debug("control: connection timed out");
			conn_close(conn);
		}
		return;
	}
	switch (conn->state) {
	case CONN_READ:
		conn_read(conn);
		break;
	case CONN_WAIT:
		/* only an end or an error matters: the client gave up */
		n = recv(conn->fd, scratch, sizeof(scratch), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			conn_close(conn);
		break;
	case CONN_WRITE:
		conn_write(conn);
		break;
	}
}

static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct control *c = arg;

	(void)what;
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		struct ctl_conn *conn;
		int fd, fl;

		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		if (c->nconns >= CTL_MAX_CONNS) {
			log_debug("control: %u connections open, refusing another", c->nconns);
			close(fd);
			continue;
		}
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
		    (conn = calloc(1, sizeof(*conn))) == NULL) {
			close(fd);
			continue;
		}
		conn->ctl = c;
		conn->fd = fd;
		LIST_INSERT_HEAD(&c->conns, conn, entry);
		c->nconns++;
		if (conn_set_state(conn, CONN_READ) != 0)
			conn_close(conn);
	}
}

/* Removes a stale socket file at path; refuses a live one and anything else. */
static int
remove_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, err;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (err == 0)
		return -EADDRINUSE;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	log_debug("control: removed stale socket %s", path);
	return 0;
}

int
control_open(struct control **out, struct p2pnsd *d, const char *path)
{
	struct sockaddr_un sun;
	struct control *c;
	mode_t mask;
	int err;

	*out = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	err = remove_stale(path, &sun);
	if (err != 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->d = d;
	LIST_INIT(&c->conns);
	LIST_INIT(&c->lookups);
	memcpy(c->path, sun.sun_path, sizeof(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = -errno;
		free(c);
		return err;
	}
	mask = umask(0177);
	err = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : -errno;
	umask(mask);
	c->bound = err == 0;
	if (err == 0 && chmod(path, 0600) != 0)
		err = -errno;
	if (err == 0 && listen(c->fd, CTL_BACKLOG) != 0)
		err = -errno;
	if (err == 0) {
		c->ev = event_new(d->base, c->fd, EV_READ | EV_PERSIST, control_accept, c);
		if (c->ev == NULL || event_add(c->ev, NULL) != 0)
			err = -ENOMEM;
	}
	if (err != 0) {
		control_free(c);
		return err;
	}
	*out = c;
	return 0;
}

void
control_free(struct control *c)
{
	struct ctl_conn *conn;
	struct ctl_lookup *req;

	if (c == NULL)
		return;
	while ((conn = LIST_FIRST(&c->conns)) != NULL)
		conn_close(conn);
	while ((req = LIST_FIRST(&c->lookups)) != NULL) {
		LIST_REMOVE(req, entry);
		free(req);
	}
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->fd >= 0)
		close(c->fd);
	if (c->bound)
		unlink(c->path);
	free(c);
}

unsigned
control_connections(const struct control *c)
{
	return c->nconns;
}
