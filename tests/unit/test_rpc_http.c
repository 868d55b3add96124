/* Tests for rpc/http.c: a real server on 127.0.0.1 inside a libevent loop, clients in
 * threads over TCP; async answers, keep-alive, 413/405/404, call timeouts, late replies. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>

#include "rpc/rpc.h"

enum {
	BUF = 16384,
	MAX_REQS = 3,
	DEADLINE_MS = 3000,		/* a test step that takes longer has failed */
	SLOW_MS = 100,
	SHORT_TIMEOUT_MS = 200,
	HEARTBEAT_MS = 2,
	BIG_BODY = 1024 * 1024,
	CHUNK = 8192,
	CLOCK_SLACK_MS = 10,		/* libevent's timers run on the coarse clock */
};

struct http_resp {
	int status;
	char head[BUF];
	char body[BUF];
	size_t body_len;
};

/* One client connection in its own thread: sends reqs one after the other on a single
 * connection and reads an answer to each. */
struct job {
	uint16_t port;
	int family;			/* AF_INET or AF_INET6 */
	const char *reqs[MAX_REQS];
	size_t nreqs;
	bool hang_up;			/* close right after sending, read nothing */
	bool wait_close;		/* after the answers, wait for the server to close */
	bool chunked_big;		/* send an oversized chunked body after reqs[0] */
	struct http_resp resp[MAX_REQS];
	size_t answered;
	bool eof;			/* the server closed the connection */
	atomic_bool done;
	pthread_t thread;
};

static struct event_base *base;
static struct event *heartbeat;
static struct rpc_call *parked;		/* the call "never" keeps */
static struct rpc_server *srv;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static xmlrpc_value *
int_value(int v)
{
	xmlrpc_env env;
	xmlrpc_value *r;

	xmlrpc_env_init(&env);
	r = xmlrpc_int_new(&env, v);
	xmlrpc_env_clean(&env);
	return r;
}

static void
m_echo(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	xmlrpc_env env;
	xmlrpc_value *v;

	(void)arg;
	(void)nargs;
	xmlrpc_env_init(&env);
	v = xmlrpc_string_new_lp(&env, args[0].len, (const char *)args[0].bytes);
	xmlrpc_env_clean(&env);
	rpc_reply(call, v);
}

struct slow {
	struct event *ev;
	struct rpc_call *call;
};

static void
slow_fire(evutil_socket_t fd, short what, void *arg)
{
	struct slow *sl = arg;

	(void)fd;
	(void)what;
	rpc_reply(sl->call, int_value(1));
	event_free(sl->ev);
	free(sl);
}

/* Answers from a libevent timer SLOW_MS later. */
static void
m_slow(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	struct slow *sl = calloc(1, sizeof(*sl));
	struct timeval tv = { 0, SLOW_MS * 1000 };

	(void)arg;
	(void)args;
	(void)nargs;
	assert_non_null(sl);
	sl->call = call;
	sl->ev = evtimer_new(base, slow_fire, sl);
	assert_non_null(sl->ev);
	evtimer_add(sl->ev, &tv);
}

static void
m_never(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	assert_null(parked);
	parked = call;
}

static void
m_put(void *arg, struct rpc_call *call, const struct rpc_arg *args, size_t nargs)
{
	(void)arg;
	(void)args;
	(void)nargs;
	rpc_reply(call, int_value(0));
}

static const struct rpc_method methods[] = {
	{ "echo", "s:s", "Returns its string.", false, m_echo, NULL },
	{ "slow", "i:", "Answers 1 after 100 ms.", false, m_slow, NULL },
	{ "never", "i:", "Answers when the test says so.", false, m_never, NULL },
	{ "put", "i:", "A writing method.", true, m_put, NULL },
};
enum { N_METHODS = sizeof(methods) / sizeof(methods[0]) };

static void
beat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
setup(void **state)
{
	struct timeval tv = { 0, HEARTBEAT_MS * 1000 };

	(void)state;
	base = event_base_new();
	assert_non_null(base);
	/* EVLOOP_ONCE returns at least this often, to look at the clients' progress */
	heartbeat = event_new(base, -1, EV_PERSIST, beat, NULL);
	event_add(heartbeat, &tv);
	parked = NULL;
	srv = NULL;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rpc_server_free(srv);
	srv = NULL;
	event_free(heartbeat);
	event_base_free(base);
	return 0;
}

static void
config(struct rpc_config *cfg, const char *ip)
{
	memset(cfg, 0, sizeof(*cfg));
	if (inet_pton(AF_INET, ip, cfg->listen.ip) == 1) {
		cfg->listen.family = KBR_AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, cfg->listen.ip), 1);
		cfg->listen.family = KBR_AF_INET6;
	}
}

static uint16_t
start(const struct rpc_config *cfg)
{
	struct kbr_addr a;

	assert_int_equal(rpc_server_new(&srv, base, cfg, methods, N_METHODS), 0);
	rpc_server_addr(srv, &a);
	assert_int_equal(a.family, cfg->listen.family);
	assert_int_not_equal(a.port, 0);
	return a.port;
}

static uint16_t
start_default(void)
{
	struct rpc_config cfg;

	config(&cfg, "127.0.0.1");
	return start(&cfg);
}

/* Runs the loop until *flag or the deadline. */
static void
pump_until(atomic_bool *flag)
{
	uint64_t end = now_ms() + DEADLINE_MS;

	while (!atomic_load(flag)) {
		assert_true(now_ms() < end);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static void
pump_for(unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

static void
pump_until_parked(void)
{
	uint64_t end = now_ms() + DEADLINE_MS;

	while (parked == NULL) {
		assert_true(now_ms() < end);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static void
pump_until_in_flight(uint64_t n)
{
	uint64_t end = now_ms() + DEADLINE_MS;
	struct rpc_stats st;

	for (;;) {
		rpc_server_stats(srv, &st);
		if (st.in_flight == n)
			return;
		assert_true(now_ms() < end);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* The client side: plain blocking sockets with a receive timeout. */

static int
connect_to(uint16_t port, int family)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct timeval tv = { DEADLINE_MS / 1000, 0 };
	int fd = socket(family, SOCK_STREAM, 0), rc;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		sin6.sin6_addr = in6addr_loopback;
		rc = connect(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	}
	if (rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static const char *
find(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	return NULL;
}

static bool
has_header(const char *head, const char *line)
{
	size_t k = strlen(line);

	for (const char *p = head; (p = strchr(p, '\n')) != NULL; p++)
		if (strncasecmp(p + 1, line, k) == 0 && p[1 + k] == '\r')
			return true;
	return false;
}

/* Bytes read past one response stay in buf for the next. */
struct conn {
	int fd;
	char buf[BUF * 2];
	size_t len;
};

static int
fill(struct conn *c)
{
	ssize_t k;

	if (c->len == sizeof(c->buf))
		return -1;
	k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (k <= 0)
		return -1;
	c->len += (size_t)k;
	return 0;
}

static int
read_response(struct conn *c, struct http_resp *r)
{
	const char *end, *cl;
	size_t hlen, blen = 0;

	while ((end = find(c->buf, c->len, "\r\n\r\n")) == NULL)
		if (fill(c) != 0)
			return -1;
	hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	for (cl = r->head; (cl = strchr(cl, '\n')) != NULL; cl++)
		if (strncasecmp(cl + 1, "Content-Length:", 15) == 0)
			blen = strtoul(cl + 16, NULL, 10);
	if (blen >= sizeof(r->body))
		return -1;
	while (c->len < hlen + blen)
		if (fill(c) != 0)
			return -1;
	memcpy(r->body, c->buf + hlen, blen);
	r->body[blen] = '\0';
	r->body_len = blen;
	memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
	c->len -= hlen + blen;
	return 0;
}

static void
send_chunked_big(int fd)
{
	static char chunk[CHUNK];
	char line[32];

	memset(chunk, ' ', sizeof(chunk));
	for (size_t sent = 0; sent <= RPC_MAX_BODY; sent += CHUNK) {
		snprintf(line, sizeof(line), "%x\r\n", CHUNK);
		if (send_all(fd, line, strlen(line)) != 0 || send_all(fd, chunk, CHUNK) != 0 ||
		    send_all(fd, "\r\n", 2) != 0)
			return;
	}
	send_all(fd, "0\r\n\r\n", 5);
}

static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->fd = connect_to(j->port, j->family)) < 0)
		goto out;
	for (size_t i = 0; i < j->nreqs; i++) {
		if (send_all(c->fd, j->reqs[i], strlen(j->reqs[i])) != 0)
			break;
		if (j->chunked_big)
			send_chunked_big(c->fd);
		if (j->hang_up)
			break;
		if (read_response(c, &j->resp[i]) != 0)
			break;
		j->answered++;
	}
	if (!j->hang_up && j->answered == j->nreqs) {
		char b;

		/* does the server keep the connection open? */
		j->eof = recv(c->fd, &b, 1, j->wait_close ? 0 : MSG_DONTWAIT) == 0;
	} else if (!j->hang_up) {
		j->eof = true;
	}
	close(c->fd);
out:
	free(c);
	atomic_store(&j->done, true);
	return NULL;
}

static void
job_start(struct job *j, uint16_t port)
{
	j->port = port;
	if (j->family == 0)
		j->family = AF_INET;
	atomic_store(&j->done, false);
	assert_int_equal(pthread_create(&j->thread, NULL, job_run, j), 0);
}

static void
job_finish(struct job *j)
{
	pump_until(&j->done);
	pthread_join(j->thread, NULL);
}

static char *
post(const char *path, const char *method, const char *params)
{
	char body[2048], *req;
	int n;

	n = snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><methodCall><methodName>%s"
	    "</methodName><params>%s</params></methodCall>", method, params);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	req = malloc(BUF);
	assert_non_null(req);
	n = snprintf(req, BUF, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: text/xml\r\n"
	    "Content-Length: %d\r\n\r\n%s", path, n, body);
	assert_true(n > 0 && n < BUF);
	return req;
}

/* The same call with its body in two chunks. */
static char *
chunked_post(const char *method, const char *params)
{
	char body[2048], *req;
	int n, half;

	n = snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><methodCall><methodName>%s"
	    "</methodName><params>%s</params></methodCall>", method, params);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	half = n / 2;
	req = malloc(BUF);
	assert_non_null(req);
	n = snprintf(req, BUF, "POST /RPC2 HTTP/1.1\r\nHost: test\r\nContent-Type: text/xml\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n%x\r\n%.*s\r\n%x\r\n%s\r\n0\r\n\r\n", half,
	    half, body, n - half, body + half);
	assert_true(n > 0 && n < BUF);
	return req;
}

static void
free_reqs(struct job *j)
{
	for (size_t i = 0; i < j->nreqs; i++)
		free((void *)(uintptr_t)j->reqs[i]);
}

/* The response's result or fault. */
static void
parse(const struct http_resp *r, xmlrpc_value **v, int *fcode, const char **fstr)
{
	xmlrpc_env env;

	assert_int_equal(r->status, 200);
	assert_true(has_header(r->head, "Content-Type: text/xml"));
	xmlrpc_env_init(&env);
	*v = NULL;
	*fstr = NULL;
	*fcode = 0;
	xmlrpc_parse_response2(&env, r->body, r->body_len, v, fcode, fstr);
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
}

static int
result_int(const struct http_resp *r)
{
	xmlrpc_env env;
	xmlrpc_value *v;
	const char *fstr;
	int fcode, i = -1;

	parse(r, &v, &fcode, &fstr);
	if (fstr != NULL)
		fail_msg("fault %d: %s", fcode, fstr);
	xmlrpc_env_init(&env);
	xmlrpc_read_int(&env, v, &i);
	assert_false(env.fault_occurred);
	xmlrpc_env_clean(&env);
	xmlrpc_DECREF(v);
	return i;
}

static void
expect_fault(const struct http_resp *r, int code, const char *msg)
{
	xmlrpc_value *v;
	const char *fstr;
	int fcode;

	parse(r, &v, &fcode, &fstr);
	assert_null(v);
	assert_non_null(fstr);
	assert_int_equal(fcode, code);
	if (msg != NULL)
		assert_string_equal(fstr, msg);
	free((void *)(uintptr_t)fstr);
}

static void
expect_text(const struct http_resp *r, const char *want)
{
	xmlrpc_env env;
	xmlrpc_value *v;
	const char *fstr, *s;
	int fcode;

	parse(r, &v, &fcode, &fstr);
	if (fstr != NULL)
		fail_msg("fault %d: %s", fcode, fstr);
	xmlrpc_env_init(&env);
	xmlrpc_read_string(&env, v, &s);
	assert_false(env.fault_occurred);
	assert_string_equal(s, want);
	free((void *)(uintptr_t)s);
	xmlrpc_env_clean(&env);
	xmlrpc_DECREF(v);
}

#define ECHO_HI "<param><value><string>hi</string></value></param>"

static void
sync_call(void **state)
{
	struct job j = { .nreqs = 1 };
	struct job k = { .nreqs = 1 }, l = { .nreqs = 1 };
	uint16_t port = start_default();
	struct rpc_stats st;

	(void)state;
	j.reqs[0] = post("/RPC2", "echo", ECHO_HI);
	job_start(&j, port);
	job_finish(&j);
	assert_int_equal(j.answered, 1);
	expect_text(&j.resp[0], "hi");

	k.reqs[0] = post("/", "put", "");	/* writing, from 127.0.0.1 */
	job_start(&k, port);
	job_finish(&k);
	assert_int_equal(k.answered, 1);
	assert_int_equal(result_int(&k.resp[0]), 0);

	/* a chunked body within the limit is a body like any other */
	l.reqs[0] = chunked_post("echo", ECHO_HI);
	job_start(&l, port);
	job_finish(&l);
	assert_int_equal(l.answered, 1);
	expect_text(&l.resp[0], "hi");

	rpc_server_stats(srv, &st);
	assert_int_equal(st.connections, 3);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.calls, 3);
	assert_int_equal(st.faults, 0);
	free_reqs(&j);
	free_reqs(&k);
	free_reqs(&l);
}

static void
async_does_not_block(void **state)
{
	struct job a = { .nreqs = 1 }, b = { .nreqs = 1 };
	uint16_t port = start_default();
	uint64_t t0;

	(void)state;
	a.reqs[0] = post("/RPC2", "slow", "");
	b.reqs[0] = post("/RPC2", "echo", ECHO_HI);
	t0 = now_ms();
	job_start(&a, port);
	pump_until_in_flight(1);
	job_start(&b, port);
	job_finish(&b);
	/* b was answered while a's call was still waiting for its timer */
	assert_false(atomic_load(&a.done));
	expect_text(&b.resp[0], "hi");
	job_finish(&a);
	assert_int_equal(a.answered, 1);
	assert_int_equal(result_int(&a.resp[0]), 1);
	assert_true(now_ms() - t0 + CLOCK_SLACK_MS >= SLOW_MS);
	pump_until_in_flight(0);
	free_reqs(&a);
	free_reqs(&b);
}

static void
keep_alive(void **state)
{
	struct job j = { .nreqs = 3 };
	uint16_t port = start_default();
	struct rpc_stats st;

	(void)state;
	j.reqs[0] = post("/RPC2", "echo", ECHO_HI);
	j.reqs[1] = post("/RPC2", "slow", "");	/* suspends, and is resumed */
	j.reqs[2] = post("/", "echo", ECHO_HI);
	job_start(&j, port);
	job_finish(&j);
	assert_int_equal(j.answered, 3);
	assert_false(j.eof);
	expect_text(&j.resp[0], "hi");
	assert_int_equal(result_int(&j.resp[1]), 1);
	expect_text(&j.resp[2], "hi");
	rpc_server_stats(srv, &st);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.requests, 3);
	free_reqs(&j);
}

static void
too_big(void **state)
{
	struct job j = { .nreqs = 1, .wait_close = true };
	struct job k = { .nreqs = 1, .chunked_big = true, .wait_close = true };
	uint16_t port = start_default();
	char req[256];
	struct rpc_stats st;

	(void)state;
	/* only the headers: the answer must come without the body */
	snprintf(req, sizeof(req), "POST /RPC2 HTTP/1.1\r\nHost: test\r\nContent-Type: "
	    "text/xml\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
	j.reqs[0] = req;
	job_start(&j, port);
	job_finish(&j);
	assert_int_equal(j.answered, 1);
	assert_int_equal(j.resp[0].status, 413);
	assert_true(j.eof);

	k.reqs[0] = "POST /RPC2 HTTP/1.1\r\nHost: test\r\nContent-Type: text/xml\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	job_start(&k, port);
	job_finish(&k);
	assert_int_equal(k.answered, 1);
	assert_int_equal(k.resp[0].status, 413);
	assert_true(k.eof);

	rpc_server_stats(srv, &st);
	assert_int_equal(st.too_big, 2);
	assert_int_equal(st.calls, 0);
}

static void
wrong_method_or_path(void **state)
{
	struct job j = { .nreqs = 1 }, k = { .nreqs = 1 }, l = { .nreqs = 1 };
	uint16_t port = start_default();

	(void)state;
	j.reqs[0] = "GET /RPC2 HTTP/1.1\r\nHost: test\r\n\r\n";
	job_start(&j, port);
	job_finish(&j);
	assert_int_equal(j.resp[0].status, 405);
	assert_true(has_header(j.resp[0].head, "Allow: POST"));

	k.reqs[0] = post("/other", "echo", ECHO_HI);
	job_start(&k, port);
	job_finish(&k);
	assert_int_equal(k.resp[0].status, 404);

	l.reqs[0] = "GET /other HTTP/1.1\r\nHost: test\r\n\r\n";
	job_start(&l, port);
	job_finish(&l);
	assert_int_equal(l.resp[0].status, 404);
	free_reqs(&k);
}

static void
call_timeout(void **state)
{
	struct job j = { .nreqs = 1 }, k = { .nreqs = 1 };
	struct rpc_config cfg;
	uint16_t port;
	struct rpc_stats st;
	uint64_t t0;

	(void)state;
	config(&cfg, "127.0.0.1");
	cfg.call_timeout_ms = SHORT_TIMEOUT_MS;
	port = start(&cfg);
	j.reqs[0] = post("/RPC2", "never", "");
	t0 = now_ms();
	job_start(&j, port);
	job_finish(&j);
	assert_true(now_ms() - t0 + CLOCK_SLACK_MS >= SHORT_TIMEOUT_MS);
	assert_int_equal(j.answered, 1);
	expect_fault(&j.resp[0], RPC_FAULT_FAILED, "timed out after 200 ms");
	assert_non_null(parked);
	rpc_server_stats(srv, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.in_flight, 1);	/* the handler still owes its finish */

	/* the late answer goes nowhere */
	rpc_reply(parked, int_value(5));
	parked = NULL;
	rpc_server_stats(srv, &st);
	assert_int_equal(st.in_flight, 0);

	k.reqs[0] = post("/RPC2", "echo", ECHO_HI);
	job_start(&k, port);
	job_finish(&k);
	expect_text(&k.resp[0], "hi");
	free_reqs(&j);
	free_reqs(&k);
}

static void
client_gone_while_suspended(void **state)
{
	struct job j = { .nreqs = 1, .hang_up = true }, k = { .nreqs = 1 };
	uint16_t port = start_default();

	(void)state;
	j.reqs[0] = post("/RPC2", "never", "");
	job_start(&j, port);
	pump_until_parked();
	job_finish(&j);
	pump_for(20);

	/* resumes a connection whose client has left: MHD finds out and ends it */
	rpc_reply(parked, int_value(5));
	parked = NULL;
	pump_for(50);
	pump_until_in_flight(0);

	k.reqs[0] = post("/RPC2", "echo", ECHO_HI);
	job_start(&k, port);
	job_finish(&k);
	expect_text(&k.resp[0], "hi");
	free_reqs(&j);
	free_reqs(&k);
}

static void
free_with_suspended(void **state)
{
	struct job j = { .nreqs = 1 }, k = { .nreqs = 1 };
	uint16_t port = start_default();
	struct rpc_call *first;

	(void)state;
	j.reqs[0] = post("/RPC2", "never", "");
	k.reqs[0] = post("/RPC2", "never", "");
	job_start(&j, port);
	pump_until_parked();
	first = parked;
	parked = NULL;
	job_start(&k, port);
	pump_until_parked();

	rpc_server_free(srv);
	srv = NULL;
	job_finish(&j);
	job_finish(&k);
	assert_int_equal(j.answered, 0);
	assert_true(j.eof);
	assert_int_equal(k.answered, 0);

	/* the handles outlive the server */
	assert_string_equal(rpc_call_method(first), "never");
	rpc_reply(first, int_value(1));
	rpc_fault(parked, RPC_FAULT_FAILED, "late");
	parked = NULL;
	free_reqs(&j);
	free_reqs(&k);
}

static void
access_by_peer(void **state)
{
	struct job j = { .nreqs = 1 };
	struct rpc_config cfg;
	uint16_t port;

	(void)state;
	config(&cfg, "127.0.0.1");
	assert_int_equal(rpc_net_parse(&cfg.allow[0], "10.0.0.0/8"), 0);
	cfg.n_allow = 1;
	port = start(&cfg);
	j.reqs[0] = post("/RPC2", "put", "");
	job_start(&j, port);
	job_finish(&j);
	expect_fault(&j.resp[0], RPC_FAULT_ACCESS,
	    "writing method 'put' is refused for 127.0.0.1: not in the write-allow list");
	free_reqs(&j);
}

static void
ipv6_listen(void **state)
{
	struct job j = { .nreqs = 1, .family = AF_INET6 };
	struct rpc_config cfg;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6;
	uint16_t port;

	(void)state;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (fd >= 0)
			close(fd);
		skip();			/* no IPv6 loopback here */
	}
	close(fd);
	config(&cfg, "::1");
	port = start(&cfg);
	j.reqs[0] = post("/RPC2", "put", "");
	job_start(&j, port);
	job_finish(&j);
	assert_int_equal(result_int(&j.resp[0]), 0);
	free_reqs(&j);
}

static void
bad_config(void **state)
{
	struct rpc_config cfg;
	struct rpc_server *other = NULL;
	struct kbr_addr a;
	uint16_t port;

	(void)state;
	config(&cfg, "127.0.0.1");
	cfg.max_body = RPC_MAX_BODY + 1;
	assert_int_equal(rpc_server_new(&other, base, &cfg, methods, N_METHODS), -EINVAL);
	assert_null(other);
	cfg.max_body = 0;
	cfg.listen.family = 0;
	assert_int_equal(rpc_server_new(&other, base, &cfg, methods, N_METHODS), -EINVAL);
	assert_int_equal(rpc_server_new(&other, NULL, &cfg, methods, N_METHODS), -EINVAL);

	port = start_default();
	config(&cfg, "127.0.0.1");
	cfg.listen.port = port;
	assert_int_equal(rpc_server_new(&other, base, &cfg, methods, N_METHODS), -EADDRINUSE);
	assert_null(other);
	rpc_server_addr(srv, &a);
	assert_int_equal(a.port, port);
	rpc_server_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sync_call, setup, teardown),
		cmocka_unit_test_setup_teardown(async_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_method_or_path, setup, teardown),
		cmocka_unit_test_setup_teardown(call_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(client_gone_while_suspended, setup, teardown),
		cmocka_unit_test_setup_teardown(free_with_suspended, setup, teardown),
		cmocka_unit_test_setup_teardown(access_by_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(ipv6_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_config, setup, teardown),
	};

	return cmocka_run_group_tests_name("rpc_http", tests, NULL, NULL);
}
