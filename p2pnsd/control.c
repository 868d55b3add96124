/* The debug control socket: per connection, read one command line (bounded in size and
 * time), run it against the KBR or the DHT and write one JSON line back. A lookup, put, get
 * or remove answers from its completion callback; if the client left meanwhile, the request
 * is only marked gone. Names are taken as bytes: the DHT key is the SHA-1 of the name as
 * given, records are of kind CTL_KIND, id 0, owned by this node's identity. */
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

#include "common/cli.h"
#include "dht/dht.h"
#include "dht/record.h"
#include "dht/replica.h"
#include "kbr/table.h"
#include "p2pnsd/log.h"
#include "p2pnsd/p2pnsd.h"
#include "p2pnsd/udp.h"

enum {
	CTL_ACCEPT_BATCH = 16,		/* connections accepted per wakeup */
	CTL_BACKLOG = 64,
	CTL_MAX_ARGS = 4,		/* words after the command; one more is an error */
};

/* A growing output buffer, bounded by CTL_OUT_MAX; failed once anything did not fit. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

enum conn_state {
	CONN_READ,			/* reading the command line */
	CONN_WAIT,			/* a lookup, put or get is running */
	CONN_WRITE,			/* writing the answer */
};

struct ctl_req;

struct ctl_conn {
	struct control *ctl;
	int fd;
	struct event *ev;
	enum conn_state state;
	uint64_t since;			/* monotonic ms the state began: bounds reads and writes */
	bool eof;			/* the client ended its side with the command */
	char in[CTL_PUT_LINE_MAX + 1];
	size_t inlen;
	struct jbuf out;
	size_t outoff;
	struct ctl_req *req;		/* while CONN_WAIT */
	LIST_ENTRY(ctl_conn) entry;
};

/* The argument of one kbr_lookup_start, dht_put or dht_get; lives until the callback, even
 * if the client that asked has gone (conn == NULL then). */
struct ctl_req {
	struct control *ctl;
	struct ctl_conn *conn;
	const char *what;		/* "lookup", "put", ...: for the time-out message */
	LIST_ENTRY(ctl_req) entry;
};

struct control {
	struct p2pnsd *d;
	int fd;
	struct event *ev;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	LIST_HEAD(, ctl_conn) conns;
	LIST_HEAD(, ctl_req) reqs;
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

	if (conn->req != NULL)
		conn->req->conn = NULL;		/* the callback will only free the request */
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

/* A request for a callback, the connection set to wait for it. Set up before the call
 * that takes it: the callback may run at once and switch to writing. NULL (after answering
 * the client) if there is no memory. */
static struct ctl_req *
req_new(struct ctl_conn *conn, const char *what)
{
	struct control *c = conn->ctl;
	struct ctl_req *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		conn_error(conn, "out of memory");
		return NULL;
	}
	req->ctl = c;
	req->conn = conn;
	req->what = what;
	LIST_INSERT_HEAD(&c->reqs, req, entry);
	conn->req = req;
	if (conn_set_state(conn, CONN_WAIT) != 0)
		shutdown(conn->fd, SHUT_RDWR);
	return req;
}

/* Ends a request from its callback: the connection to answer, or NULL if it has gone. */
static struct ctl_conn *
req_end(struct ctl_req *req)
{
	struct ctl_conn *conn = req->conn;

	LIST_REMOVE(req, entry);
	free(req);
	if (conn != NULL)
		conn->req = NULL;
	return conn;
}

/* The call that should have taken the request failed with err (no callback will come);
 * busy tells the client about -EBUSY. */
static void
req_failed(struct ctl_req *req, int err, const char *busy)
{
	struct ctl_conn *conn = req_end(req);

	if (conn != NULL)
		conn_error(conn, err == -EBUSY ? busy : strerror(-err));
}

static void
lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct ctl_conn *conn = req_end(arg);
	struct jbuf b = {0};

	if (conn == NULL)
		return;		/* the client has gone */
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
	struct ctl_req *req;
	struct nodeid target;
	int err;

	if (arg == NULL || nodeid_from_hex(&target, arg, strlen(arg)) != 0) {
		conn_error(conn, "usage: lookup HEX40");
		return;
	}
	if ((req = req_new(conn, "lookup")) == NULL)
		return;
	err = kbr_lookup_start(c->d->kbr, p2pnsd_now(), &target, lookup_done, req);
	if (err != 0)
		req_failed(req, err, "too many lookups");
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

/* ---- the DHT ---- */

/* Splits s in place into at most max blank-separated words. Returns how many words there
 * are (max + 1 if there are more), 0 for a NULL s. */
static size_t
split_words(char *s, char **words, size_t max)
{
	size_t n = 0;

	while (s != NULL && *s != '\0') {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (*s == '\0')
			break;
		if (n == max)
			return max + 1;
		words[n++] = s;
		s += strcspn(s, " \t");
	}
	return n;
}

/* The DHT key of a name (its bytes as given); false after answering the client if the
 * name is too long. */
static bool
name_key(struct ctl_conn *conn, const char *name, struct nodeid *key)
{
	size_t len = strlen(name);

	if (len > CTL_NAME_MAX) {
		conn_error(conn, "name too long (at most 255 bytes)");
		return false;
	}
	if (nodeid_sha1(key, name, len) != 0) {
		conn_error(conn, "cannot hash the name");
		return false;
	}
	return true;
}

/* Bytes as a JSON string: well-formed UTF-8 as it is, every other byte that is not
 * printable ASCII as \u00XX (so the answer is always valid JSON). */
static void
jb_bytes(struct jbuf *b, const uint8_t *p, size_t len)
{
	jb_printf(b, "\"");
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];
		size_t n = 0;

		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		if (n > 0 && i + n <= len) {
			bool ok = true;

			for (size_t j = 1; j < n; j++)
				ok = ok && (p[i + j] & 0xc0) == 0x80;
			/* no overlong forms, surrogates or code points past U+10FFFF */
			if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
			    (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
				ok = false;
			if (ok) {
				jb_printf(b, "%.*s", (int)n, (const char *)p + i);
				i += n;
				continue;
			}
		}
		if (c == '"' || c == '\\')
			jb_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			jb_printf(b, "\\u%04x", c);
		else
			jb_printf(b, "%c", c);
		i++;
	}
	jb_printf(b, "\"");
}

static void
jb_hex(struct jbuf *b, const uint8_t *p, size_t len)
{
	jb_printf(b, "\"");
	for (size_t i = 0; i < len; i++)
		jb_printf(b, "%02x", p[i]);
	jb_printf(b, "\"");
}

/* The seq of this node's next record: the time in ms, but always above the last one. */
static uint64_t
next_seq(struct p2pnsd *d, uint64_t now)
{
	d->last_seq = now > d->last_seq ? now : d->last_seq + 1;
	return d->last_seq;
}

static void
put_done(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	struct ctl_conn *conn = req_end(arg);
	struct jbuf b = {0};

	if (conn == NULL)
		return;
	if (status == 0) {
		jb_printf(&b, "{\"ok\":true,\"stored\":%u,\"asked\":%u}", stored, asked);
	} else {
		jb_printf(&b, "{\"ok\":false,\"error\":");
		jb_str(&b, refused != DHT_OK ? dht_reason_name(refused) :
		    "no majority of the replicas answered");
		jb_printf(&b, ",\"stored\":%u,\"asked\":%u}", stored, asked);
	}
	conn_reply(conn, &b);
}

/* Signs r (owner, key, kind and id set by the caller) and publishes it: put into the DHT
 * now and again every re-publication period until it expires. */
static void
put_record(struct ctl_conn *conn, struct dht_record *r, const char *what)
{
	struct p2pnsd *d = conn->ctl->d;
	struct ctl_req *req;
	int err;

	if (dht_record_sign(r, d->ident) != 0) {
		conn_error(conn, "cannot sign the record");
		return;
	}
	if ((req = req_new(conn, what)) == NULL)
		return;
	err = dht_publish(d->dht, p2pnsd_now(), r, put_done, req);
	if (err != 0)
		req_failed(req, err, err == -ENOSPC ? "too many records published by this node" :
		    "too many DHT operations in flight");
	p2pnsd_kick(d);
}

/* A record of NAME's slot owned by this node, with a fresh seq, expiring in ttl_s seconds
 * (value and flags left for the caller). False (and an error answered) for a bad name. */
static bool
own_record(struct ctl_conn *conn, const char *name, unsigned ttl_s, struct dht_record *r)
{
	struct p2pnsd *d = conn->ctl->d;
	uint64_t now;

	memset(r, 0, sizeof(*r));
	if (!name_key(conn, name, &r->key))
		return false;
	now = p2pnsd_now();
	r->kind = CTL_KIND;
	r->id = 0;
	r->seq = next_seq(d, now);
	r->expiry = now + (uint64_t)ttl_s * 1000;
	memcpy(r->owner, d->ident->pub, sizeof(r->owner));
	return true;
}

static void
cmd_put(struct ctl_conn *conn, char *arg)
{
	static const char use[] = "usage: put NAME VALUE [TTL_SECONDS]";
	struct dht_record r;
	char *w[CTL_MAX_ARGS];
	size_t n = split_words(arg, w, CTL_MAX_ARGS), vlen;
	unsigned ttl = CTL_TTL_DEFAULT_S;

	if (n < 2 || n > 3) {
		conn_error(conn, use);
		return;
	}
	vlen = strlen(w[1]);
	if (vlen > DHT_MAX_VALUE) {
		conn_error(conn, "value too long (at most 1024 bytes)");
		return;
	}
	if (n == 3 && cli_parse_uint(w[2], 1, DHT_MAX_TTL_MS / 1000, &ttl) != 0) {
		conn_error(conn, "bad TTL (1..604800 seconds)");
		return;
	}
	if (!own_record(conn, w[0], ttl, &r))
		return;
	r.value_len = (uint16_t)vlen;
	memcpy(r.value, w[1], vlen);
	put_record(conn, &r, "put");
}

static void
cmd_remove(struct ctl_conn *conn, char *arg)
{
	struct dht_record r;
	char *w[CTL_MAX_ARGS];

	if (split_words(arg, w, CTL_MAX_ARGS) != 1) {
		conn_error(conn, "usage: remove NAME");
		return;
	}
	if (!own_record(conn, w[0], CTL_TOMBSTONE_TTL_S, &r))
		return;
	r.flags = DHT_REC_TOMBSTONE;
	put_record(conn, &r, "remove");
}

static const char *
vote_status_name(enum dht_vote_status st)
{
	switch (st) {
	case DHT_VOTE_FOUND:
		return "found";
	case DHT_VOTE_EMPTY:
		return "empty";
	case DHT_VOTE_CONFLICT:
		return "conflict";
	case DHT_VOTE_NO_ANSWER:
		return "no answer";
	}
	return "unknown";
}

static void
get_done(void *arg, int status, const struct dht_vote_result *res)
{
	struct ctl_conn *conn = req_end(arg);
	struct jbuf b = {0};
	uint64_t now = p2pnsd_now();

	if (conn == NULL)
		return;
	if (status != 0 || res == NULL) {
		conn_error(conn, status != 0 ? strerror(-status) : "no result");
		return;
	}
	jb_printf(&b, "{\"status\":");
	jb_str(&b, vote_status_name(res->status));
	if (res->status == DHT_VOTE_FOUND) {
		jb_printf(&b, ",\"owner\":");
		jb_hex(&b, res->owner, sizeof(res->owner));
		jb_printf(&b, ",\"votes\":%u,\"answers\":%u,\"records\":[",
		    res->votes_for_owner, res->answers);
		for (size_t i = 0; i < res->nrecords; i++) {
			const struct dht_record *r = &res->records[i];

			jb_printf(&b, "%s{\"kind\":%lu,\"id\":%lu,\"seq\":%llu,\"value\":",
			    i ? "," : "", (unsigned long)r->kind, (unsigned long)r->id,
			    (unsigned long long)r->seq);
			jb_bytes(&b, r->value, r->value_len);
			jb_printf(&b, ",\"value_hex\":");
			jb_hex(&b, r->value, r->value_len);
			jb_printf(&b, ",\"expires_in_ms\":%lld,\"tombstone\":%s}",
			    (long long)(int64_t)(r->expiry - now),
			    r->flags & DHT_REC_TOMBSTONE ? "true" : "false");
		}
		jb_printf(&b, "]");
	}
	jb_printf(&b, "}");
	conn_reply(conn, &b);
}

static void
cmd_get(struct ctl_conn *conn, char *arg)
{
	struct p2pnsd *d = conn->ctl->d;
	struct ctl_req *req;
	struct nodeid key;
	char *w[CTL_MAX_ARGS];
	int err;

	if (split_words(arg, w, CTL_MAX_ARGS) != 1) {
		conn_error(conn, "usage: get NAME");
		return;
	}
	if (!name_key(conn, w[0], &key))
		return;
	if ((req = req_new(conn, "get")) == NULL)
		return;
	err = dht_get(d->dht, p2pnsd_now(), &key, get_done, req);
	if (err != 0)
		req_failed(req, err, "too many DHT operations in flight");
	p2pnsd_kick(d);
}

/* What this node holds as a replica for NAME's slot (kind CTL_KIND, id 0), any owner. */
static void
cmd_holds(struct ctl_conn *conn, char *arg)
{
	struct p2pnsd *d = conn->ctl->d;
	const struct dht_record *best = NULL;
	struct dht_record *recs;
	struct nodeid key;
	struct jbuf b = {0};
	char *w[CTL_MAX_ARGS];
	int n;

	if (split_words(arg, w, CTL_MAX_ARGS) != 1) {
		conn_error(conn, "usage: holds NAME");
		return;
	}
	if (!name_key(conn, w[0], &key))
		return;
	recs = calloc(DHT_MAX_PER_KEY, sizeof(*recs));
	if (recs == NULL) {
		conn_error(conn, "out of memory");
		return;
	}
	n = dht_replica_find(d->rep, p2pnsd_now(), &key, recs, DHT_MAX_PER_KEY);
	if (n < 0) {
		free(recs);
		conn_error(conn, strerror(-n));
		return;
	}
	for (int i = 0; i < n; i++)
		if (recs[i].kind == CTL_KIND && recs[i].id == 0 &&
		    (best == NULL || recs[i].seq > best->seq))
			best = &recs[i];
	jb_printf(&b, "{\"holds\":%s,\"seq\":%llu,\"tombstone\":%s", best ? "true" : "false",
	    best ? (unsigned long long)best->seq : 0ULL,
	    best && (best->flags & DHT_REC_TOMBSTONE) ? "true" : "false");
	if (best != NULL) {
		jb_printf(&b, ",\"owner\":");
		jb_hex(&b, best->owner, sizeof(best->owner));
	}
	jb_printf(&b, "}");
	free(recs);
	conn_reply(conn, &b);
}

/* The replica's records and its refusals, by dht_reason_name. */
static void
cmd_store(struct ctl_conn *conn)
{
	struct p2pnsd *d = conn->ctl->d;
	struct jbuf b = {0};

	jb_printf(&b, "{\"records\":%zu,\"refused\":{", dht_replica_count(d->rep));
	for (unsigned why = DHT_ERR_MALFORMED; why <= DHT_ERR_INTERNAL; why++) {
		jb_printf(&b, "%s", why > DHT_ERR_MALFORMED ? "," : "");
		jb_str(&b, dht_reason_name((enum dht_reason)why));
		jb_printf(&b, ":%llu", (unsigned long long)dht_replica_refused(d->rep,
		    (enum dht_reason)why));
	}
	jb_printf(&b, "}}");
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
	struct dht_stats ds;
	struct jbuf b = {0};

	kbr_get_stats(d->kbr, &ks);
	udp_get_stats(d->udp, &us);
	dht_get_stats(d->dht, &ds);
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
	jb_printf(&b, "\"dropped_index\":%llu,\"dropped_tag\":%llu,\"dropped_receiver\":%llu,"
	    "\"dropped_handshake\":%llu,\"handshakes_started\":%llu,\"handshakes_resent\":%llu,"
	    "\"handshakes_done\":%llu,"
	    "\"cookies_sent\":%llu,\"challenges_sent\":%llu,\"roams\":%llu,"
	    "\"sessions_evicted\":%llu,\"sessions\":%zu,\"rpcs_slow\":%llu,",
	    U(ks.dropped_index), U(ks.dropped_tag), U(ks.dropped_receiver),
	    U(ks.dropped_handshake), U(ks.handshakes_started), U(ks.handshakes_resent),
	    U(ks.handshakes_done),
	    U(ks.cookies_sent), U(ks.challenges_sent), U(ks.roams), U(ks.sessions_evicted),
	    kbr_session_count(d->kbr), U(ks.rpcs_slow));
	jb_printf(&b, "\"udp_rx\":%llu,\"udp_rx_truncated\":%llu,\"udp_rx_errors\":%llu,"
	    "\"udp_tx\":%llu,\"udp_tx_dropped\":%llu,\"udp_tx_errors\":%llu,"
	    "\"udp_tx_no_socket\":%llu,",
	    U(us.rx), U(us.rx_truncated), U(us.rx_errors), U(us.tx), U(us.tx_dropped),
	    U(us.tx_errors), U(us.tx_no_socket));
	jb_printf(&b, "\"puts\":%llu,\"puts_ok\":%llu,\"gets\":%llu,\"gets_found\":%llu,"
	    "\"gets_conflict\":%llu,\"stores_served\":%llu,\"finds_served\":%llu,"
	    "\"repairs_sent\":%llu,\"gets_early\":%llu,\"store_records\":%zu,",
	    U(ds.puts), U(ds.puts_ok), U(ds.gets), U(ds.gets_found), U(ds.gets_conflict),
	    U(ds.stores_served), U(ds.finds_served), U(ds.repairs_sent), U(ds.gets_early),
	    dht_replica_count(d->rep));
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
	else if (strcmp(cmd, "put") == 0)
		cmd_put(conn, arg);
	else if (strcmp(cmd, "get") == 0)
		cmd_get(conn, arg);
	else if (strcmp(cmd, "remove") == 0)
		cmd_remove(conn, arg);
	else if (strcmp(cmd, "holds") == 0)
		cmd_holds(conn, arg);
	else if (strcmp(cmd, "store") == 0 && arg == NULL)
		cmd_store(conn);
	else
		conn_error(conn, "unknown command (id, table, lookup HEX40, ping ADDR, stats, "
		    "put NAME VALUE [TTL], get NAME, remove NAME, holds NAME, store)");
}

/* The longest line allowed for what has been read so far: a put carries a value. */
static size_t
line_max(const char *in, size_t len)
{
	size_t i = 0;

	while (i < len && (in[i] == ' ' || in[i] == '\t'))
		i++;
	if (len - i >= 4 && memcmp(in + i, "put", 3) == 0 &&
	    (in[i + 3] == ' ' || in[i + 3] == '\t'))
		return CTL_PUT_LINE_MAX;
	return CTL_LINE_MAX;
}

static void
conn_read(struct ctl_conn *conn)
{
	ssize_t n;
	char *nl;

	n = recv(conn->fd, conn->in + conn->inlen, CTL_PUT_LINE_MAX - conn->inlen, 0);
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
	if (memchr(conn->in, '\0', nl != NULL ? (size_t)(nl - conn->in) : conn->inlen) != NULL) {
		conn_error(conn, "NUL byte in command");
	} else if (nl != NULL) {
		if ((size_t)(nl - conn->in) > line_max(conn->in, conn->inlen)) {
			conn_error(conn, "command line too long");
			return;
		}
		*nl = '\0';
		conn_command(conn);
	} else if (conn->inlen >= line_max(conn->in, conn->inlen)) {
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
		if (conn->state == CONN_WAIT && conn->req != NULL) {
			char msg[64];

			/* the request stays with the KBR or the DHT, marked gone */
			snprintf(msg, sizeof(msg), "%s timed out", conn->req->what);
			conn->req->conn = NULL;
			conn->req = NULL;
			conn_error(conn, msg);
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
	LIST_INIT(&c->reqs);
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
	struct ctl_req *req;

	if (c == NULL)
		return;
	while ((conn = LIST_FIRST(&c->conns)) != NULL)
		conn_close(conn);
	while ((req = LIST_FIRST(&c->reqs)) != NULL) {
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
