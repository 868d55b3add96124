/* The HTTP side of the XML-RPC front end: libmicrohttpd run from the caller's libevent loop
 * through MHD's epoll fd, a connection suspended while its call waits for the overlay. */
#include "rpc/rpc.h"
#include "rpc/xmlrpc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <microhttpd.h>

/*
 * Timers:
 *   s->tick      MHD's own deadline (MHD_get_timeout: idle connections, pending work),
 *                re-armed after every MHD_run; set to zero after a resume so that MHD_run
 *                picks the resumed connection up at once
 *   r->timer     call_timeout_ms of a suspended call: answers RPC_FAULT_FAILED and resumes
 */

enum {
	CONN_MEMORY = 32 * 1024,	/* MHD's pool per connection: headers and buffers */
	LISTEN_BACKLOG = 128,
	DISCARD_MAX = 4 * RPC_MAX_BODY,	/* chunked body read past max_body, then we hang up */
	BODY_MIN_ALLOC = 4096,
	TIMEOUT_TEXT = 32,
	HTTP_TOO_LARGE = 413,		/* MHD names it differently across versions */
};

/* One HTTP request (MHD's con_cls), from its headers until MHD reports it completed. */
struct req {
	struct rpc_server *s;
	struct MHD_Connection *conn;
	struct kbr_addr peer;
	uint8_t *body;
	size_t len, cap, expect;	/* expect: Content-Length, 0 if none */
	size_t discarded;		/* bytes dropped once too_big */
	bool too_big;
	bool failed;			/* no answer possible: hang up when MHD asks */
	bool suspended;
	struct rpc_call *call;		/* the unfinished call, borrowed (see xmlrpc.h) */
	struct MHD_Response *resp;	/* the answer, queued on the next access call */
	struct event *timer;
	struct req *prev, *next;	/* s->waiting while suspended */
};

struct rpc_server {
	struct event_base *base;
	struct MHD_Daemon *mhd;
	struct event *io, *tick;
	struct rpc_dispatcher *disp;
	struct kbr_addr addr;
	size_t max_body;
	unsigned call_timeout_ms;
	char timeout_text[TIMEOUT_TEXT];
	struct req *waiting;		/* suspended requests */
	bool run_soon;
	bool closing;
	struct MHD_Response *r404, *r405, *r413;
	struct rpc_stats st;		/* connections, requests, too_big, timeouts */
};

static void *
unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

static void
rearm(struct rpc_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;
	struct timeval tv = { 0, 0 };

	if (s->run_soon) {
		event_add(s->tick, &tv);
		return;
	}
	if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
		event_del(s->tick);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(s->tick, &tv);
}

static void
run(struct rpc_server *s)
{
	s->run_soon = false;
	MHD_run(s->mhd);
	rearm(s);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

static void
wake_soon(struct rpc_server *s)
{
	struct timeval tv = { 0, 0 };

	s->run_soon = true;
	event_add(s->tick, &tv);
}

static void
unlink_waiting(struct req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->s->waiting = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->suspended = false;
}

/* Puts a suspended request back into MHD's hands; MHD asks for its answer on the next run. */
static void
wake(struct req *r)
{
	if (!r->suspended)
		return;
	evtimer_del(r->timer);
	unlink_waiting(r);
	MHD_resume_connection(r->conn);
	wake_soon(r->s);
}

/* The dispatcher's answer, now (the access handler queues it on return) or later (the
 * connection is suspended and resumed here). */
static void
on_done(void *arg, const char *xml, size_t len)
{
	struct req *r = arg;

	r->call = NULL;
	r->resp = MHD_create_response_from_buffer(len, unconst(xml), MHD_RESPMEM_MUST_COPY);
	if (r->resp != NULL && MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/xml") != MHD_YES) {
		MHD_destroy_response(r->resp);
		r->resp = NULL;
	}
	if (r->resp == NULL)
		r->failed = true;
	wake(r);
}

static void
on_call_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	struct rpc_server *s = r->s;

	(void)fd;
	(void)what;
	s->st.timeouts++;
	/* Answers through on_done, which resumes the connection. */
	rpc_call_abort(r->call, RPC_FAULT_FAILED, "timed out after %s", s->timeout_text);
	if (r->call != NULL) {
		rpc_call_detach(r->call);
		r->call = NULL;
		r->failed = true;
		wake(r);
	}
}

static enum MHD_Result
respond(struct req *r)
{
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_OK, r->resp);

	MHD_destroy_response(r->resp);
	r->resp = NULL;
	return ret;
}

static enum MHD_Result
suspend(struct req *r)
{
	struct rpc_server *s = r->s;
	struct timeval tv;

	if (r->timer == NULL && (r->timer = evtimer_new(s->base, on_call_timeout, r)) == NULL) {
		rpc_call_abort(r->call, RPC_FAULT_INTERNAL, "out of memory");
		return r->resp != NULL ? respond(r) : MHD_NO;
	}
	tv.tv_sec = (time_t)(s->call_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(s->call_timeout_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	r->prev = NULL;
	r->next = s->waiting;
	if (s->waiting != NULL)
		s->waiting->prev = r;
	s->waiting = r;
	return MHD_YES;
}

static enum MHD_Result
dispatch(struct req *r)
{
	struct rpc_server *s = r->s;
	int rc;

	rc = rpc_dispatch(s->disp, r->body, r->len, &r->peer, on_done, r, &r->call);
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	if (rc == -EINPROGRESS)
		return suspend(r);
	return r->resp != NULL ? respond(r) : MHD_NO;
}

/* Keeps a body chunk; past max_body the rest is read and dropped (MHD cannot answer in the
 * middle of a body), up to DISCARD_MAX, after which the connection is closed. */
static enum MHD_Result
take(struct req *r, const char *data, size_t n)
{
	size_t max = r->s->max_body, cap;
	uint8_t *p;

	if (!r->too_big && n > max - r->len) {
		r->too_big = true;
		r->discarded = r->len;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
	}
	if (r->too_big) {
		r->discarded += n;
		return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (r->len + n > r->cap) {
		cap = r->cap != 0 ? r->cap * 2 : r->expect != 0 ? r->expect : BODY_MIN_ALLOC;
		if (cap < r->len + n)
			cap = r->len + n;
		if (cap > max)
			cap = max;
		if ((p = realloc(r->body, cap)) == NULL)
			return MHD_NO;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return MHD_YES;
}

/* The Content-Length, or 0 when there is none or MHD will refuse it anyway; saturates. */
static size_t
content_length(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	size_t n = 0;

	if (v == NULL)
		return 0;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n > (SIZE_MAX - 9) / 10 ? SIZE_MAX : n * 10 + (size_t)(*v - '0');
	return *v == '\0' ? n : 0;
}

static void
from_sockaddr(struct kbr_addr *out, const struct sockaddr *sa)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct kbr_addr a;

	memset(&a, 0, sizeof(a));
	if (sa != NULL && sa->sa_family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		a.family = KBR_AF_INET;
		memcpy(a.ip, &sin.sin_addr, 4);
		a.port = ntohs(sin.sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		a.family = KBR_AF_INET6;
		memcpy(a.ip, &sin6.sin6_addr, 16);
		a.port = ntohs(sin6.sin6_port);
	}
	rpc_addr_unmap(out, &a);
}

static enum MHD_Result
begin(struct rpc_server *s, struct MHD_Connection *conn, const char *url, const char *method,
    void **ctx)
{
	const union MHD_ConnectionInfo *ci;
	struct req *r;
	size_t cl;

	s->st.requests++;
	if (s->closing)
		return MHD_NO;
	if (strcmp(url, "/RPC2") != 0 && strcmp(url, "/") != 0)
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, s->r404);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, s->r405);
	/* Queued before the body is read: MHD then never reads it (nor says 100 Continue). */
	if ((cl = content_length(conn)) > s->max_body) {
		s->st.too_big++;
		return MHD_queue_response(conn, HTTP_TOO_LARGE, s->r413);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MHD_NO;
	r->s = s;
	r->conn = conn;
	r->expect = cl;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	from_sockaddr(&r->peer, ci != NULL ? ci->client_addr : NULL);
	*ctx = r;
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	struct rpc_server *s = cls;
	struct req *r = *ctx;
	enum MHD_Result ret;

	(void)version;
	if (r == NULL)
		return begin(s, conn, url, method, ctx);
	if (r->resp != NULL)
		return respond(r);
	if (s->closing || r->failed || r->suspended)
		return MHD_NO;
	if (*upload_size != 0) {
		ret = take(r, upload, *upload_size);
		*upload_size = 0;
		return ret;
	}
	if (r->too_big) {
		s->st.too_big++;
		return MHD_queue_response(conn, HTTP_TOO_LARGE, s->r413);
	}
	return dispatch(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *ctx;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (r->call != NULL)
		rpc_call_detach(r->call);
	/* MHD does not end suspended connections; unlink anyway rather than dangle. */
	if (r->suspended)
		unlink_waiting(r);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	free(r->body);
	free(r);
	*ctx = NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct rpc_server *s = cls;

	(void)conn;
	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		s->st.connections++;
}

/* MHD logs only with MHD_USE_ERROR_LOG, which is off; this keeps it off stderr even then. */
static void
on_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	(void)fmt;
	(void)ap;
}

static struct MHD_Response *
text_response(const char *text, const char *header, const char *value)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(text), unconst(text), MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return NULL;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES ||
	    (header != NULL && MHD_add_response_header(r, header, value) != MHD_YES)) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static int
listen_socket(const struct kbr_addr *a, int *out)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	socklen_t len;
	int fd, one = 1, rc;

	memset(&ss, 0, sizeof(ss));
	if (a->family == KBR_AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a->ip, 4);
		sin.sin_port = htons(a->port);
		memcpy(&ss, &sin, sizeof(sin));
		len = sizeof(sin);
	} else if (a->family == KBR_AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, a->ip, 16);
		sin6.sin6_port = htons(a->port);
		memcpy(&ss, &sin6, sizeof(sin6));
		len = sizeof(sin6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Bound here rather than by MHD so that the caller learns the real errno
	 * (EADDRINUSE above all), which MHD_start_daemon does not report. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static void
local_addr(int fd, struct kbr_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(out, 0, sizeof(*out));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		from_sockaddr(out, (struct sockaddr *)&ss);
}

int
rpc_server_new(struct rpc_server **out, struct event_base *base, const struct rpc_config *cfg,
    const struct rpc_method *methods, size_t n)
{
	const union MHD_DaemonInfo *info;
	struct rpc_server *s;
	unsigned flags;
	int fd = -1, rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (base == NULL || cfg == NULL || cfg->max_body > RPC_MAX_BODY)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->base = base;
	s->max_body = cfg->max_body != 0 ? cfg->max_body : RPC_MAX_BODY;
	s->call_timeout_ms = cfg->call_timeout_ms != 0 ? cfg->call_timeout_ms :
	    RPC_CALL_TIMEOUT_MS;
	if (s->call_timeout_ms % 1000 == 0)
		snprintf(s->timeout_text, sizeof(s->timeout_text), "%u s",
		    s->call_timeout_ms / 1000);
	else
		snprintf(s->timeout_text, sizeof(s->timeout_text), "%u ms", s->call_timeout_ms);

	if ((rc = rpc_dispatcher_new(&s->disp, methods, n, cfg->allow, cfg->n_allow, 0)) != 0)
		goto fail;
	rc = -ENOMEM;
	s->r404 = text_response("not found: XML-RPC is served at /RPC2\n", NULL, NULL);
	s->r405 = text_response("method not allowed: XML-RPC calls are POSTed\n",
	    MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_POST);
	/* The unread rest of the body would be taken for the next request. */
	s->r413 = text_response("request body too large\n", MHD_HTTP_HEADER_CONNECTION,
	    "close");
	s->tick = evtimer_new(base, on_io, s);
	if (s->r404 == NULL || s->r405 == NULL || s->r413 == NULL || s->tick == NULL)
		goto fail;
	if ((rc = listen_socket(&cfg->listen, &fd)) != 0)
		goto fail;
	local_addr(fd, &s->addr);

	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	if (cfg->listen.family == KBR_AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(cfg->max_conns != 0 ? cfg->max_conns : RPC_MAX_CONNS),
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(cfg->conn_timeout_s != 0 ? cfg->conn_timeout_s : RPC_CONN_TIMEOUT_S),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
	    MHD_OPTION_END);
	if (s->mhd == NULL) {
		close(fd);
		rc = -EIO;
		goto fail;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		rc = -EIO;
		goto fail;
	}
	if ((s->io = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, on_io, s)) == NULL ||
	    event_add(s->io, NULL) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	rearm(s);
	*out = s;
	return 0;
fail:
	rpc_server_free(s);
	return rc;
}

void
rpc_server_free(struct rpc_server *s)
{
	struct req *r;

	if (s == NULL)
		return;
	s->closing = true;
	/* MHD_stop_daemon must not find a suspended connection: every call is detached (its
	 * handler finishes it later into nothing) and its connection resumed, and one run
	 * lets MHD take them off its suspended list; the access handler then hangs up. */
	while ((r = s->waiting) != NULL) {
		if (r->call != NULL) {
			rpc_call_detach(r->call);
			r->call = NULL;
		}
		r->failed = true;
		wake(r);
	}
	if (s->io != NULL)
		event_free(s->io);	/* before MHD closes the epoll fd under it */
	if (s->mhd != NULL) {
		MHD_run(s->mhd);
		MHD_stop_daemon(s->mhd);
	}
	if (s->tick != NULL)
		event_free(s->tick);
	if (s->r404 != NULL)
		MHD_destroy_response(s->r404);
	if (s->r405 != NULL)
		MHD_destroy_response(s->r405);
	if (s->r413 != NULL)
		MHD_destroy_response(s->r413);
	rpc_dispatcher_free(s->disp);
	free(s);
}

void
rpc_server_addr(const struct rpc_server *s, struct kbr_addr *out)
{
	*out = s->addr;
}

void
rpc_server_stats(const struct rpc_server *s, struct rpc_stats *out)
{
	*out = s->st;
	rpc_dispatcher_stats(s->disp, out);
}
