/* Reference server for bench_rpc.py: libmicrohttpd + xmlrpc-c on one thread, the same parse
 * and serialise calls as the daemon's rpc/, answering every resolve with one fixed record. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <microhttpd.h>
#include <xmlrpc-c/base.h>

#include "common/cli.h"

/*
 * Two ways to run libmicrohttpd, both on a single thread:
 *   event (default)  MHD_USE_EPOLL without a thread of its own: its epoll descriptor and
 *                    MHD_get_timeout() drive a libevent loop, as in the daemon
 *   thread           MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD: one polling thread
 *                    inside libmicrohttpd, the main thread only waits for a signal
 */

enum {
	MAX_BODY = 64 * 1024,
	FIRST_BODY = 4 * 1024,		/* a body buffer starts this big and doubles */
	MAX_CONNS = 256,
	CONN_TIMEOUT_S = 30,
	LISTEN_BACKLOG = 128,
};

/* The answer to every resolve: [[base64 address, int kind, int id]]. */
static const char ANSWER_ADDR[] = "192.0.2.7:5060";
enum { ANSWER_KIND = 1, ANSWER_ID = 0 };

struct bare {
	struct MHD_Daemon *mhd;
	struct event_base *base;
	struct event *mhd_ev;		/* the MHD epoll descriptor (event mode) */
	struct event *timer;		/* MHD_get_timeout (event mode) */
	unsigned long long calls, faults, too_big;
};

/* A request body being read. */
struct body {
	size_t len, size;
	bool too_big;
	char *data;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tool_rpc_bare --listen ADDR:PORT [--mode event|thread]\n"
	    "Serves XML-RPC on POST /RPC2 and /: resolve(base64|string name, int kind) answers\n"
	    "[[base64 \"%s\", %d, %d]]; anything else is a fault. Port 0 picks a free port;\n"
	    "the address is printed as \"listening ADDR:PORT\". Runs until SIGTERM or SIGINT.\n",
	    ANSWER_ADDR, ANSWER_KIND, ANSWER_ID);
}

static int
parse_listen(const char *s, struct sockaddr_in *out)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	unsigned port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -1;
	if (cli_parse_uint(colon + 1, 0, 65535, &port) != 0)
		return -1;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

static int
open_listener(const struct sockaddr_in *sin, struct sockaddr_in *bound)
{
	socklen_t len = sizeof(*bound);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Checks resolve's arguments (2: base64 or string, int) and builds the fixed answer. */
static xmlrpc_value *
resolve(xmlrpc_env *env, xmlrpc_value *params)
{
	xmlrpc_value *name = NULL, *kind = NULL, *answer = NULL;
	xmlrpc_type t;

	if (xmlrpc_array_size(env, params) != 2 || env->fault_occurred) {
		if (!env->fault_occurred)
			xmlrpc_env_set_fault(env, XMLRPC_TYPE_ERROR, "resolve takes 2 arguments");
		return NULL;
	}
	xmlrpc_array_read_item(env, params, 0, &name);
	if (!env->fault_occurred)
		xmlrpc_array_read_item(env, params, 1, &kind);
	if (!env->fault_occurred) {
		t = xmlrpc_value_type(name);
		if ((t != XMLRPC_TYPE_BASE64 && t != XMLRPC_TYPE_STRING) ||
		    xmlrpc_value_type(kind) != XMLRPC_TYPE_INT)
			xmlrpc_env_set_fault(env, XMLRPC_TYPE_ERROR,
			    "resolve takes (base64 name, int kind)");
	}
	if (!env->fault_occurred)
		answer = xmlrpc_build_value(env, "((6ii))",
		    (const unsigned char *)ANSWER_ADDR, sizeof(ANSWER_ADDR) - 1,
		    (xmlrpc_int32)ANSWER_KIND, (xmlrpc_int32)ANSWER_ID);
	if (name != NULL)
		xmlrpc_DECREF(name);
	if (kind != NULL)
		xmlrpc_DECREF(kind);
	return env->fault_occurred ? NULL : answer;
}

/* Parses the call in b, runs it and queues the serialised response or fault. */
static enum MHD_Result
answer_call(struct bare *bare, struct MHD_Connection *conn, const struct body *b)
{
	xmlrpc_env env, out_env;
	xmlrpc_value *params = NULL, *result = NULL;
	xmlrpc_mem_block *out;
	const char *method = NULL;
	struct MHD_Response *r;
	enum MHD_Result ret;

	xmlrpc_env_init(&env);
	xmlrpc_env_init(&out_env);
	out = xmlrpc_mem_block_new(&out_env, 0);
	if (out == NULL) {
		xmlrpc_env_clean(&out_env);
		xmlrpc_env_clean(&env);
		return MHD_NO;
	}
	xmlrpc_parse_call(&env, b->data != NULL ? b->data : "", b->len, &method, &params);
	if (!env.fault_occurred) {
		if (strcmp(method, "resolve") == 0)
			result = resolve(&env, params);
		else
			xmlrpc_env_set_fault_formatted(&env, XMLRPC_NO_SUCH_METHOD_ERROR,
			    "no method '%s'", method);
	}
	bare->calls++;
	if (env.fault_occurred) {
		bare->faults++;
		xmlrpc_serialize_fault(&out_env, out, &env);
	} else {
		xmlrpc_serialize_response(&out_env, out, result);
	}
	if (result != NULL)
		xmlrpc_DECREF(result);
	if (params != NULL)
		xmlrpc_DECREF(params);
	if (method != NULL)
		free((void *)(uintptr_t)method);	/* xmlrpc-c allocates it with malloc */
	if (out_env.fault_occurred) {
		ret = send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "serialisation failed\n");
		goto out;
	}
	r = MHD_create_response_from_buffer(xmlrpc_mem_block_size(out),
	    xmlrpc_mem_block_contents(out), MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		ret = MHD_NO;
		goto out;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/xml");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
out:
	xmlrpc_mem_block_free(out);
	xmlrpc_env_clean(&out_env);
	xmlrpc_env_clean(&env);
	return ret;
}

/* Appends to b, growing it up to MAX_BODY; more than that marks it too big. */
static int
append(struct body *b, const char *data, size_t n)
{
	size_t size = b->size != 0 ? b->size : FIRST_BODY;
	char *p;

	if (b->too_big || n > MAX_BODY - b->len) {
		b->too_big = true;
		return 0;
	}
	while (size < b->len + n)
		size *= 2;
	if (size != b->size) {
		p = realloc(b->data, size);
		if (p == NULL)
			return -1;
		b->data = p;
		b->size = size;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct bare *bare = cls;
	struct body *b = *state;
	const char *clen;

	(void)version;
	if (b == NULL) {
		/* First call, headers only: decide what can be decided now. */
		if (strcmp(url, "/RPC2") != 0 && strcmp(url, "/") != 0)
			return send_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL && strtoull(clen, NULL, 10) > MAX_BODY) {
			bare->too_big++;
			return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
		}
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return MHD_NO;
		*state = b;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (append(b, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (b->too_big) {
		bare->too_big++;
		return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
	}
	return answer_call(bare, conn, b);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode why)
{
	struct body *b = *state;

	(void)cls;
	(void)conn;
	(void)why;
	if (b != NULL) {
		free(b->data);
		free(b);
	}
	*state = NULL;
}

/* Arms the timer for libmicrohttpd's next deadline (0 when it has work ready). */
static void
rearm(struct bare *bare)
{
	MHD_UNSIGNED_LONG_LONG ms;
	struct timeval tv;

	if (MHD_get_timeout(bare->mhd, &ms) != MHD_YES) {
		evtimer_del(bare->timer);
		return;
	}
	if (ms > 60 * 1000)
		ms = 60 * 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(bare->timer, &tv);
}

static void
on_mhd(evutil_socket_t fd, short what, void *arg)
{
	struct bare *bare = arg;

	(void)fd;
	(void)what;
	MHD_run(bare->mhd);
	rearm(bare);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct bare *bare = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(bare->base);
}

int
main(int argc, char **argv)
{
	struct bare bare = { 0 };
	struct sockaddr_in want, bound;
	struct event *sigterm = NULL, *sigint = NULL;
	const char *listen_at = NULL, *mode = "event";
	const union MHD_DaemonInfo *info;
	unsigned flags;
	int lfd, rc = 1;
	char addr[INET_ADDRSTRLEN];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_at = argv[++i];
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			mode = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	if (listen_at == NULL || parse_listen(listen_at, &want) != 0 ||
	    (strcmp(mode, "event") != 0 && strcmp(mode, "thread") != 0)) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = open_listener(&want, &bound);
	if (lfd < 0) {
		fprintf(stderr, "tool_rpc_bare: cannot listen on %s: %s\n", listen_at,
		    strerror(errno));
		return 1;
	}
	flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (strcmp(mode, "thread") == 0)
		flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
	bare.base = event_base_new();
	if (bare.base == NULL) {
		fprintf(stderr, "tool_rpc_bare: event_base_new failed\n");
		close(lfd);
		return 1;
	}
	bare.mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &bare,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &bare,
	    MHD_OPTION_END);
	if (bare.mhd == NULL) {
		fprintf(stderr, "tool_rpc_bare: MHD_start_daemon failed\n");
		close(lfd);
		goto out;
	}
	if (strcmp(mode, "event") == 0) {
		info = MHD_get_daemon_info(bare.mhd, MHD_DAEMON_INFO_EPOLL_FD);
		if (info == NULL) {
			fprintf(stderr, "tool_rpc_bare: no epoll descriptor from libmicrohttpd\n");
			goto out;
		}
		bare.mhd_ev = event_new(bare.base, info->epoll_fd, EV_READ | EV_PERSIST,
		    on_mhd, &bare);
		bare.timer = evtimer_new(bare.base, on_mhd, &bare);
		if (bare.mhd_ev == NULL || bare.timer == NULL || event_add(bare.mhd_ev, NULL) != 0)
			goto out;
		rearm(&bare);
	}
	sigterm = evsignal_new(bare.base, SIGTERM, on_signal, &bare);
	sigint = evsignal_new(bare.base, SIGINT, on_signal, &bare);
	if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) != 0 ||
	    event_add(sigint, NULL) != 0)
		goto out;
	inet_ntop(AF_INET, &bound.sin_addr, addr, sizeof(addr));
	printf("listening %s:%u\n", addr, (unsigned)ntohs(bound.sin_port));
	fflush(stdout);
	if (event_base_dispatch(bare.base) < 0) {
		fprintf(stderr, "tool_rpc_bare: event loop failed\n");
		goto out;
	}
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (bare.mhd_ev != NULL)
		event_free(bare.mhd_ev);
	if (bare.timer != NULL)
		event_free(bare.timer);
	if (bare.mhd != NULL)
		MHD_stop_daemon(bare.mhd);	/* closes the listening socket too */
	event_base_free(bare.base);
	if (rc == 0)
		fprintf(stderr, "tool_rpc_bare: %llu calls, %llu faults, %llu too large\n",
		    bare.calls, bare.faults, bare.too_big);
	return rc;
}
