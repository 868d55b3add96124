/* Tests for kbr/kbr.c over the v2 sessions, on a fake clock: the node under test talks to
 * test peers that are real struct kbr_sessions with identities of their own, through a pump
 * that moves the datagrams. Admission of strangers, PONG addresses, bootstrap by address,
 * timeouts and retries over new handshakes, rate limits, application requests, unsolicited
 * replies, malformed input; and a small overlay of struct kbr nodes in which every lookup
 * finds its node, also after a node moved. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/kbr.h"
#include "kbr/session.h"
#include "kbr/table.h"
#include "kbr/wire.h"

#define T0 1767225600000ULL

enum { MAX_PEERS = 8, MAX_OUT = 4096, MAX_GOT = 64, NET_MAX = 64 };

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct identity *
ident_from(uint8_t tag)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;

	memset(seed, tag, sizeof(seed));
	assert_int_equal(identity_from_seed(&id, seed, 4), 0);
	return id;
}

static void
addr_of(struct kbr_addr *a, unsigned host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 127;
	a->ip[2] = (uint8_t)(host >> 8);
	a->ip[3] = (uint8_t)host;
	a->port = port;
}

static void
params(struct kbr_params *p)
{
	kbr_params_default(p);
	p->c1 = 0;
	p->c2 = 4;
}

/* ---- one node under test and its test peers ---- */

struct dgram {
	struct kbr_addr from, to;
	size_t len;
	uint8_t buf[KBR_MAX_DATAGRAM];
};

/* A message a peer received, decoded. */
struct got {
	struct kbr_msg m;
	struct kbr_addr from;
	uint8_t body[KBR_MAX_BODY];	/* m.u.app.data points here */
};

struct world;

struct peer {
	struct world *w;
	struct identity *id;
	struct kbr_sessions *s;
	struct kbr_stats st;
	struct kbr_addr addr;
	bool silent;			/* answers no request */
	struct got got[MAX_GOT];
	size_t ngot;
};

struct world {
	struct kbr *k;
	struct identity *self;
	struct kbr_addr k_addr;
	struct peer p[MAX_PEERS];
	unsigned np;
	struct dgram *out;
	size_t head, tail;
	uint64_t now;
	uint64_t rng;
	size_t k_sent;			/* datagrams the node sent */
};

static void
push(struct world *w, const struct kbr_addr *from, const struct kbr_addr *to,
    const uint8_t *buf, size_t len)
{
	struct dgram *d;

	assert_true(len <= KBR_MAX_DATAGRAM);
	assert_true(w->tail < MAX_OUT);
	d = &w->out[w->tail++];
	d->from = *from;
	d->to = *to;
	d->len = len;
	memcpy(d->buf, buf, len);
}

static void
k_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct world *w = arg;

	w->k_sent++;
	push(w, &w->k_addr, to, buf, len);
}

static void
k_random(void *arg, void *buf, size_t len)
{
	struct world *w = arg;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)xorshift(&w->rng);
}

static void
p_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct peer *p = arg;

	push(p->w, &p->addr, to, buf, len);
}

static void
p_random(void *arg, void *buf, size_t len)
{
	struct peer *p = arg;

	k_random(p->w, buf, len);
}

/* p seals m for the node under test, to `to` (the node's address if NULL). */
static void
peer_send_to(struct peer *p, const struct kbr_msg *m, const struct kbr_addr *to)
{
	uint8_t buf[KBR_MAX_MSG];
	int n = kbr_wire_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(kbr_session_send(p->s, p->w->now, &p->w->self->id,
	    to ? to : &p->w->k_addr, buf, (size_t)n), 0);
}

static void
peer_send(struct peer *p, uint8_t type, uint64_t tid)
{
	struct kbr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tid = tid;
	if (type == KBR_FIND_NODE) {
		m.u.find.target = p->id->id;
		m.u.find.count = 16;
	}
	if (type == KBR_PONG)
		addr_of(&m.u.observed, 1, 3631);
	peer_send_to(p, &m, NULL);
}

static void
peer_send_app(struct peer *p, uint8_t type, uint64_t tid, const char *body)
{
	struct kbr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tid = tid;
	m.u.app.data = (const uint8_t *)body;
	m.u.app.len = strlen(body);
	peer_send_to(p, &m, NULL);
}

/* Records what came and answers PING and FIND_NODE (unless silent); application requests
 * are answered by the test itself. */
static void
p_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct peer *p = arg;
	struct got *g;
	struct kbr_msg reply;

	(void)now;
	assert_true(nodeid_eq(peer, &p->w->self->id));
	assert_true(p->ngot < MAX_GOT);
	g = &p->got[p->ngot++];
	assert_int_equal(kbr_wire_decode(&g->m, msg, len), 0);
	g->from = *from;
	if (g->m.type >= KBR_APP_MIN && g->m.type <= KBR_APP_MAX) {
		memcpy(g->body, g->m.u.app.data, g->m.u.app.len);
		g->m.u.app.data = g->body;
	}
	if (p->silent)
		return;
	memset(&reply, 0, sizeof(reply));
	reply.tid = g->m.tid;
	if (g->m.type == KBR_PING) {
		reply.type = KBR_PONG;
		reply.u.observed = *from;
	} else if (g->m.type == KBR_FIND_NODE) {
		reply.type = KBR_NODES;		/* knows nobody */
	} else {
		return;
	}
	peer_send_to(p, &reply, from);
}

static struct peer *
peer_add(struct world *w, uint8_t tag)
{
	struct kbr_session_io io;
	struct kbr_session_cfg cfg;
	struct peer *p;

	assert_true(w->np < MAX_PEERS);
	p = &w->p[w->np];
	p->w = w;
	p->id = ident_from(tag);
	addr_of(&p->addr, tag, (uint16_t)(4000 + tag));
	w->np++;
	kbr_session_cfg_default(&cfg);
	cfg.c1 = 0;
	cfg.c2 = 4;
	io.arg = p;
	io.send = p_send;
	io.random = p_random;
	io.deliver = p_deliver;
	p->s = kbr_sessions_new(&cfg, p->id, &io, &p->st, w->now);
	assert_non_null(p->s);
	return p;
}

static uint8_t reverse_app(void *arg, uint64_t now, const struct kbr_contact *from,
    uint8_t type, const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len);

static struct world *
world_new(const struct kbr_params *kp, bool app)
{
	struct world *w = calloc(1, sizeof(*w));
	struct kbr_params p;
	struct kbr_io io = {0};

	assert_non_null(w);
	w->out = calloc(MAX_OUT, sizeof(*w->out));
	assert_non_null(w->out);
	w->rng = 42;
	w->now = T0;
	w->self = ident_from(1);
	addr_of(&w->k_addr, 1, 3631);
	if (kp == NULL) {
		params(&p);
		kp = &p;
	}
	io.arg = w;
	io.send = k_send;
	io.random = k_random;
	if (app)
		io.app_request = reverse_app;
	w->k = kbr_new(kp, w->self, &io);
	assert_non_null(w->k);
	return w;
}

static void
world_free(struct world *w)
{
	kbr_free(w->k);
	identity_free(w->self);
	for (unsigned i = 0; i < w->np; i++) {
		kbr_sessions_free(w->p[i].s);
		identity_free(w->p[i].id);
	}
	free(w->out);
	free(w);
}

static size_t
pending(const struct world *w)
{
	return w->tail - w->head;
}

static struct dgram
pop(struct world *w)
{
	struct dgram d;

	assert_true(pending(w) > 0);
	d = w->out[w->head++];
	if (w->head == w->tail)
		w->head = w->tail = 0;
	return d;
}

static void
drop_all(struct world *w)
{
	w->head = w->tail = 0;
}

static void
route(struct world *w, const struct dgram *d)
{
	if (kbr_addr_eq(&d->to, &w->k_addr)) {
		kbr_input(w->k, w->now, d->buf, d->len, &d->from);
		return;
	}
	for (unsigned i = 0; i < w->np; i++) {
		if (kbr_addr_eq(&d->to, &w->p[i].addr)) {
			kbr_session_input(w->p[i].s, w->now, d->buf, d->len, &d->from);
			return;
		}
	}
	/* nobody there: lost */
}

static void
pump(struct world *w)
{
	for (unsigned rounds = 0; pending(w) > 0; rounds++) {
		struct dgram d = pop(w);

		assert_true(rounds < 100000);
		route(w, &d);
	}
}

static struct kbr_stats
stats(const struct world *w)
{
	struct kbr_stats st;

	kbr_get_stats(w->k, &st);
	return st;
}

static const struct got *
last_got(const struct peer *p)
{
	assert_true(p->ngot > 0);
	return &p->got[p->ngot - 1];
}

static struct kbr_contact
contact_of(const struct peer *p)
{
	struct kbr_contact c;

	memset(&c, 0, sizeof(c));
	c.id = p->id->id;
	c.addr = p->addr;
	return c;
}

static bool
in_table(const struct world *w, const struct peer *p)
{
	struct kbr_contact c;

	return kbr_table_find(kbr_get_table(w->k), &p->id->id, &c) == 0;
}

static size_t
table_size(const struct world *w)
{
	return kbr_table_size(kbr_get_table(w->k));
}

/* ---- admission and addresses ---- */

static void
stranger_enters_the_table_after_a_request(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2), *q = peer_add(w, 3);
	struct kbr_contact c;
	struct kbr_addr moved;
	const struct got *g;

	(void)state;
	peer_send(p, KBR_PING, 77);
	pump(w);
	/* a PONG telling p the address it was seen at, and nothing else */
	assert_int_equal(p->ngot, 1);
	g = last_got(p);
	assert_int_equal(g->m.type, KBR_PONG);
	assert_int_equal(g->m.tid, 77);
	assert_true(kbr_addr_eq(&g->m.u.observed, &p->addr));
	assert_int_equal(w->k_sent, 2);		/* HS_RESP and the PONG: no admission PING */
	/* its session proved its key and address: it is in the table */
	assert_int_equal(table_size(w), 1);
	assert_int_equal(kbr_table_find(kbr_get_table(w->k), &p->id->id, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &p->addr));
	assert_int_equal(kbr_session_count(w->k), 1);

	/* a FIND_NODE is answered from the table */
	peer_send(p, KBR_FIND_NODE, 78);
	pump(w);
	g = last_got(p);
	assert_int_equal(g->m.type, KBR_NODES);
	assert_int_equal(g->m.tid, 78);
	assert_int_equal(g->m.u.nodes.count, 1);
	assert_true(nodeid_eq(&g->m.u.nodes.nodes[0].id, &p->id->id));

	/* a stranger that only sends a reply does not get in */
	peer_send(q, KBR_PONG, 5555);
	pump(w);
	assert_int_equal(stats(w).dropped_unsolicited, 1);
	assert_int_equal(table_size(w), 1);
	assert_int_equal(q->ngot, 0);

	/* ID/locator split: p moves; after its new address answered the challenge, the contact
	 * follows it and the answer goes there */
	addr_of(&moved, 33, 5000);
	p->addr = moved;
	peer_send(p, KBR_FIND_NODE, 79);
	pump(w);
	assert_int_equal(stats(w).challenges_sent, 1);
	assert_int_equal(stats(w).roams, 1);
	g = last_got(p);
	assert_int_equal(g->m.type, KBR_NODES);
	assert_int_equal(g->m.tid, 79);
	assert_int_equal(kbr_table_find(kbr_get_table(w->k), &p->id->id, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &moved));
	world_free(w);
}

static void
bootstrap_by_address(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2), *q = peer_add(w, 3);
	static const struct {
		bool from_k;
		int type;
		size_t len;
	} want[] = {
		{true, KBR_PKT_HELLO, KBR_HELLO_LEN},
		{false, KBR_PKT_IDENTITY, KBR_IDENTITY_LEN},
		{true, KBR_PKT_HS_INIT, KBR_INIT_LEN},
		{false, KBR_PKT_HS_RESP, KBR_RESP_LEN},
		{true, KBR_PKT_DATA, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN},	/* PING */
	};
	struct kbr_addr obs;
	struct dgram d;
	uint64_t ping_tid;

	(void)state;
	/* q has a session with the node already (it pinged it) */
	peer_send(q, KBR_PING, 1);
	pump(w);
	assert_int_equal(table_size(w), 1);

	p->silent = true;
	assert_int_equal(kbr_bootstrap(w->k, w->now, &p->addr), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(pending(w) >= 1);
		d = pop(w);
		assert_true(kbr_addr_eq(&d.from, want[i].from_k ? &w->k_addr : &p->addr));
		assert_true(kbr_addr_eq(&d.to, want[i].from_k ? &p->addr : &w->k_addr));
		assert_int_equal(kbr_wire_packet_type(d.buf, d.len), want[i].type);
		assert_int_equal(d.len, want[i].len);
		route(w, &d);
	}
	assert_int_equal(pending(w), 0);
	assert_int_equal(p->ngot, 1);
	assert_int_equal(last_got(p)->m.type, KBR_PING);
	ping_tid = last_got(p)->m.tid;

	/* a PONG with that transaction id from another node at another address is not it */
	peer_send(q, KBR_PONG, ping_tid);
	pump(w);
	assert_int_equal(stats(w).dropped_unsolicited, 1);
	assert_false(in_table(w, p));

	/* p's answer: it enters the table, and the join lookup of the node's own ID starts */
	{
		struct kbr_msg pong;

		memset(&pong, 0, sizeof(pong));
		pong.type = KBR_PONG;
		pong.tid = ping_tid;
		pong.u.observed = w->k_addr;
		peer_send_to(p, &pong, NULL);
	}
	pump(w);
	assert_true(in_table(w, p));
	kbr_observed_addr(w->k, &obs);
	assert_true(kbr_addr_eq(&obs, &w->k_addr));
	assert_true(p->ngot >= 2);
	assert_int_equal(p->got[1].m.type, KBR_FIND_NODE);
	assert_true(nodeid_eq(&p->got[1].m.u.find.target, &w->self->id));
	/* the same PONG again finds no PING in flight */
	{
		struct kbr_msg pong;

		memset(&pong, 0, sizeof(pong));
		pong.type = KBR_PONG;
		pong.tid = ping_tid;
		pong.u.observed = w->k_addr;
		peer_send_to(p, &pong, NULL);
	}
	pump(w);
	assert_int_equal(stats(w).dropped_unsolicited, 2);
	world_free(w);
}

static void
pong_tells_the_observed_address(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2);
	struct kbr_addr obs, none;

	(void)state;
	memset(&none, 0, sizeof(none));
	kbr_observed_addr(w->k, &obs);
	assert_int_equal(obs.family, KBR_AF_NONE);
	assert_int_equal(kbr_ping(w->k, w->now, &p->addr), 0);
	pump(w);
	kbr_observed_addr(w->k, &obs);
	assert_true(kbr_addr_eq(&obs, &w->k_addr));
	assert_true(in_table(w, p));
	assert_int_equal(kbr_ping(w->k, w->now, &none), -EINVAL);
	world_free(w);
}

/* ---- timeouts and retries ---- */

struct app_answer {
	int calls, status;
	uint8_t type;
	struct kbr_contact from;
	char body[64];
};

static void
on_app_answer(void *arg, int status, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len)
{
	struct app_answer *a = arg;

	assert_non_null(from);
	a->calls++;
	a->status = status;
	a->type = type;
	a->from = *from;
	assert_true(len < sizeof(a->body));
	if (len > 0)
		memcpy(a->body, body, len);
	a->body[len] = '\0';
}

static void
timeouts_and_retries_over_a_new_handshake(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2);
	struct kbr_contact c = contact_of(p);
	struct app_answer a = {0};
	uint64_t next, tid1, tid2;
	struct kbr_stats st;

	(void)state;
	p->silent = true;
	(void)kbr_tick(w->k, w->now);
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 7, (const uint8_t *)"get", 3,
	    on_app_answer, &a), 0);
	pump(w);
	assert_int_equal(p->ngot, 1);
	assert_int_equal(last_got(p)->m.type, 7);
	tid1 = last_got(p)->m.tid;
	st = stats(w);
	assert_int_equal(st.handshakes_started, 1);
	next = kbr_tick(w->k, w->now + 999);
	assert_int_equal(next, T0 + 1000);
	assert_int_equal(pending(w), 0);
	/* no answer: the retry, with a fresh transaction id, goes in the session and over a
	 * new handshake (p may have lost the session) */
	w->now += 1000;
	(void)kbr_tick(w->k, w->now);
	assert_int_equal(pending(w), 2);
	pump(w);
	assert_int_equal(stats(w).handshakes_started, 2);
	assert_true(p->ngot >= 2);
	tid2 = last_got(p)->m.tid;
	assert_int_not_equal(tid1, tid2);
	for (size_t i = 1; i < p->ngot; i++) {
		assert_int_equal(p->got[i].m.type, 7);
		assert_int_equal(p->got[i].m.tid, tid2);
		assert_int_equal(p->got[i].m.u.app.len, 3);
		assert_memory_equal(p->got[i].m.u.app.data, "get", 3);
	}
	assert_int_equal(a.calls, 0);
	/* then it failed, exactly once */
	w->now += 1000;
	(void)kbr_tick(w->k, w->now);
	(void)kbr_tick(w->k, w->now + 5000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_true(nodeid_eq(&a.from.id, &p->id->id));
	assert_int_equal(stats(w).rpcs_timed_out, 1);
	/* a late answer to either attempt is unsolicited now */
	peer_send_app(p, 8, tid2, "late");
	peer_send_app(p, 8, tid1, "later");
	pump(w);
	assert_int_equal(stats(w).dropped_unsolicited, 2);
	assert_int_equal(a.calls, 1);
	world_free(w);
}

static void
bootstrap_retries_then_maintenance(void **state)
{
	struct world *w = world_new(NULL, false);
	struct kbr_addr nobody;
	struct dgram d;

	(void)state;
	addr_of(&nobody, 200, 9);
	(void)kbr_tick(w->k, w->now);
	assert_int_equal(kbr_bootstrap(w->k, w->now, &nobody), 0);
	assert_int_equal(pending(w), 1);
	d = pop(w);
	assert_int_equal(kbr_wire_packet_type(d.buf, d.len), KBR_PKT_HELLO);
	assert_int_equal(kbr_tick(w->k, w->now + 999), T0 + 1000);
	assert_int_equal(pending(w), 0);
	(void)kbr_tick(w->k, T0 + 1000);
	assert_int_equal(pending(w), 1);		/* the retry */
	d = pop(w);
	assert_int_equal(kbr_wire_packet_type(d.buf, d.len), KBR_PKT_HELLO);
	(void)kbr_tick(w->k, T0 + 2000);
	assert_int_equal(stats(w).rpcs_timed_out, 1);
	assert_int_equal(pending(w), 0);
	/* with the table empty, maintenance asks the bootstrap address again */
	(void)kbr_tick(w->k, T0 + 60000);
	assert_true(pending(w) > 0);
	d = pop(w);
	assert_int_equal(kbr_wire_packet_type(d.buf, d.len), KBR_PKT_HELLO);
	assert_true(kbr_addr_eq(&d.to, &nobody));
	world_free(w);
}

/* ---- rate limits ---- */

static size_t
flood(struct world *w, const struct kbr_addr *from, const struct dgram *d, unsigned n)
{
	size_t before = w->k_sent;

	for (unsigned i = 0; i < n; i++)
		kbr_input(w->k, w->now, d->buf, d->len, from);
	drop_all(w);
	return w->k_sent - before;
}

static void
rate_limited(void **state)
{
	struct world *w = world_new(NULL, false);
	struct kbr_params kp;
	struct kbr_addr a, b;
	struct dgram hello;
	struct kbr_pkt_hello h = {.sender = 1};

	(void)state;
	addr_of(&a, 20, 1);
	addr_of(&b, 21, 1);
	memset(&hello, 0, sizeof(hello));
	hello.len = kbr_pkt_hello_encode(&h, hello.buf);
	/* 1000 HELLOs from one address in the same millisecond: the burst allowance (2 s
	 * worth) is answered, the rest dropped before anything else looks at them */
	assert_int_equal(flood(w, &a, &hello, 1000), 400);
	assert_int_equal(stats(w).dropped_rate, 600);
	/* another source is not affected, and the first recovers with time */
	assert_int_equal(flood(w, &b, &hello, 10), 10);
	w->now += 1000;
	assert_int_equal(flood(w, &a, &hello, 1000), 200);
	world_free(w);

	/* a source flooding beyond its bucket does not spend the total budget */
	params(&kp);
	kp.rate_total = 300;		/* bursts of 600 */
	w = world_new(&kp, false);
	assert_int_equal(flood(w, &a, &hello, 1000), 400);
	assert_int_equal(flood(w, &b, &hello, 150), 150);
	assert_int_equal(stats(w).dropped_rate, 600);
	assert_int_equal(flood(w, &b, &hello, 100), 50);	/* now the total is spent */
	world_free(w);
}

/* ---- application messages (the DHT's) ---- */

/* Answers type t with type t + 1 and the body reversed; type 9 gets no answer. */
static uint8_t
reverse_app(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	(void)arg;
	(void)now;
	(void)from;
	if (type == 9 || len > *answer_len)
		return 0;
	for (size_t i = 0; i < len; i++)
		answer[i] = body[len - 1 - i];
	*answer_len = len;
	return (uint8_t)(type + 1);
}

static void
app_requests_served_by_the_layer_above(void **state)
{
	struct world *w = world_new(NULL, true);
	struct peer *p = peer_add(w, 2);
	const struct got *g;

	(void)state;
	peer_send_app(p, 5, 42, "hello");
	pump(w);
	assert_int_equal(p->ngot, 1);
	g = last_got(p);
	assert_int_equal(g->m.type, 6);
	assert_int_equal(g->m.tid, 42);
	assert_int_equal(g->m.u.app.len, 5);
	assert_memory_equal(g->m.u.app.data, "olleh", 5);
	assert_true(in_table(w, p));
	/* a type the layer does not answer, and an answer type nobody asked for */
	peer_send_app(p, 9, 43, "x");
	peer_send_app(p, 6, 44, "x");
	pump(w);
	assert_int_equal(p->ngot, 1);
	assert_int_equal(stats(w).app_requests_in, 2);
	assert_int_equal(stats(w).dropped_unsolicited, 1);
	/* the largest body there is, answered in full */
	{
		static char big[KBR_MAX_APP_BODY + 1];

		memset(big, 'z', KBR_MAX_APP_BODY);
		big[0] = 'a';
		peer_send_app(p, 11, 45, big);
		pump(w);
		g = last_got(p);
		assert_int_equal(g->m.type, 12);
		assert_int_equal(g->m.u.app.len, KBR_MAX_APP_BODY);
		assert_int_equal(g->m.u.app.data[KBR_MAX_APP_BODY - 1], 'a');
	}
	world_free(w);

	/* a node without a layer above answers no application request */
	w = world_new(NULL, false);
	p = peer_add(w, 2);
	peer_send_app(p, 5, 46, "hello");
	pump(w);
	assert_int_equal(p->ngot, 0);
	assert_int_equal(stats(w).app_requests_in, 1);
	world_free(w);
}

static void
app_requests_answered(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2), *q = peer_add(w, 3);
	struct kbr_contact c = contact_of(p), me;
	struct app_answer a = {0};
	const struct got *g;
	size_t sent;

	(void)state;
	p->silent = true;
	/* bad arguments: even type, out of range, no callback, to self, body too large */
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 6, NULL, 0, on_app_answer, &a),
	    -EINVAL);
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 17, NULL, 0, on_app_answer, &a),
	    -EINVAL);
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 5, NULL, 0, NULL, &a), -EINVAL);
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 5, NULL, 1, on_app_answer, &a),
	    -EINVAL);
	me = c;
	me.id = w->self->id;
	assert_int_equal(kbr_app_request(w->k, w->now, &me, 5, NULL, 0, on_app_answer, &a),
	    -EINVAL);
	{
		static uint8_t big[KBR_MAX_APP_BODY + 1];

		assert_int_equal(kbr_app_request(w->k, w->now, &c, 5, big, sizeof(big),
		    on_app_answer, &a), -EINVAL);
	}
	assert_int_equal(pending(w), 0);

	/* the request goes out sealed, with its body; the callback is not called from here */
	assert_int_equal(kbr_app_request(w->k, w->now, &c, 5, (const uint8_t *)"store", 5,
	    on_app_answer, &a), 0);
	assert_int_equal(a.calls, 0);
	pump(w);
	g = last_got(p);
	assert_int_equal(g->m.type, 5);
	assert_int_equal(g->m.u.app.len, 5);
	assert_memory_equal(g->m.u.app.data, "store", 5);
	assert_int_equal(stats(w).app_requests_out, 1);
	/* an answer of the wrong type, or from another node, is not it */
	peer_send_app(p, 8, g->m.tid, "nope");
	peer_send_app(q, 6, g->m.tid, "nope");
	pump(w);
	assert_int_equal(a.calls, 0);
	assert_int_equal(stats(w).dropped_unsolicited, 2);
	/* the answer */
	peer_send_app(p, 6, g->m.tid, "erots");
	pump(w);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.type, 6);
	assert_string_equal(a.body, "erots");
	assert_true(nodeid_eq(&a.from.id, &p->id->id));
	assert_true(kbr_addr_eq(&a.from.addr, &p->addr));
	/* the same answer again (a new datagram): its request is done */
	sent = w->k_sent;
	peer_send_app(p, 6, g->m.tid, "erots");
	pump(w);
	assert_int_equal(a.calls, 1);
	assert_int_equal(stats(w).dropped_unsolicited, 3);
	assert_int_equal(w->k_sent, sent);
	world_free(w);
}

/* ---- what is dropped ---- */

static void
unsolicited_replies_dropped(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2);

	(void)state;
	peer_send(p, KBR_PONG, 12345);
	peer_send(p, KBR_NODES, 12346);
	pump(w);
	assert_int_equal(stats(w).dropped_unsolicited, 2);
	assert_int_equal(table_size(w), 0);
	assert_int_equal(p->ngot, 0);
	world_free(w);
}

static void
malformed_dropped(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2);
	uint8_t buf[KBR_MAX_DATAGRAM + 100], msg[KBR_MAX_MSG];
	struct kbr_addr none;
	struct kbr_pkt_hello h = {.sender = 9};
	size_t n;
	uint64_t malformed;

	(void)state;
	memset(buf, 0, sizeof(buf));
	n = kbr_pkt_hello_encode(&h, buf);
	for (size_t len = 0; len < n; len++)
		kbr_input(w->k, w->now, buf, len, &p->addr);
	kbr_input(w->k, w->now, buf, n + 1, &p->addr);
	kbr_input(w->k, w->now, buf, KBR_MAX_DATAGRAM + 1, &p->addr);
	kbr_input(w->k, w->now, NULL, 0, &p->addr);
	kbr_input(w->k, w->now, buf, n, NULL);
	memset(&none, 0, sizeof(none));
	kbr_input(w->k, w->now, buf, n, &none);
	assert_int_equal(stats(w).dropped_malformed, n + 5);
	malformed = stats(w).dropped_malformed;
	assert_int_equal(pending(w), 0);
	/* another version of the protocol (version 1 began with "P2PN") */
	buf[0] = 1;
	kbr_input(w->k, w->now, buf, n, &p->addr);
	memcpy(buf, "P2PN\x01\x01", 6);
	kbr_input(w->k, w->now, buf, 200, &p->addr);
	assert_int_equal(stats(w).dropped_version, 2);
	assert_int_equal(pending(w), 0);
	assert_int_equal(stats(w).rx, n + 7);

	/* sealed in a good session but not a well-formed message: a PING with a body */
	peer_send(p, KBR_PING, 1);
	pump(w);
	assert_int_equal(p->ngot, 1);
	n = 0;
	msg[n++] = KBR_PING;
	for (int i = 0; i < 8; i++)
		msg[n++] = (uint8_t)i;
	msg[n++] = 0;
	assert_int_equal(kbr_session_send(p->s, w->now, &w->self->id, &w->k_addr, msg, n), 0);
	/* and the session layer's own types, which are no message of the node's */
	msg[0] = KBR_CHALLENGE + 2;
	assert_int_equal(kbr_session_send(p->s, w->now, &w->self->id, &w->k_addr, msg, n - 1),
	    0);
	pump(w);
	assert_int_equal(stats(w).dropped_malformed, malformed + 2);
	assert_int_equal(p->ngot, 1);
	world_free(w);
}

static void
memory_and_sessions_counted(void **state)
{
	struct world *w = world_new(NULL, false);
	size_t m0 = kbr_memory(w->k);

	(void)state;
	assert_int_equal(kbr_session_count(w->k), 0);
	for (uint8_t tag = 2; tag < 2 + MAX_PEERS; tag++) {
		struct peer *p = peer_add(w, tag);

		peer_send(p, KBR_PING, tag);
		pump(w);
	}
	assert_int_equal(kbr_session_count(w->k), MAX_PEERS);
	assert_int_equal(table_size(w), MAX_PEERS);
	assert_true(kbr_memory(w->k) > m0);
	world_free(w);
}

/* ---- lookups ---- */

struct one_lookup {
	bool done;
	size_t n;
	struct kbr_contact res[KBR_MAX_S];
};

static void
on_one_lookup(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct one_lookup *r = arg;

	(void)target;
	(void)st;
	r->done = true;
	r->n = n;
	memcpy(r->res, res, n * sizeof(*res));
}

/* The node's FIND_NODE to a contact's old address waits for a handshake; the contact,
 * moved, starts a session from its new address, and the question goes there: the lookup
 * gives the contact where it answered from, as does the table. */
static void
lookup_gives_the_address_a_node_answered_from(void **state)
{
	struct world *w = world_new(NULL, false);
	struct peer *p = peer_add(w, 2);
	struct kbr_addr old = p->addr, moved;
	struct one_lookup r = {0};
	struct kbr_contact c;
	struct dgram d;

	(void)state;
	assert_true(kbr_add_contact(w->k, w->now, &p->id->id, &old) > 0);
	addr_of(&moved, 44, 4444);
	p->addr = moved;
	assert_int_equal(kbr_lookup_start(w->k, w->now, &p->id->id, on_one_lookup, &r), 0);
	d = pop(w);
	assert_int_equal(kbr_wire_packet_type(d.buf, d.len), KBR_PKT_HS_INIT);
	assert_true(kbr_addr_eq(&d.to, &old));		/* nobody there any more */
	assert_int_equal(pending(w), 0);
	peer_send(p, KBR_PING, 3);
	pump(w);
	assert_true(r.done);
	assert_int_equal(r.n, 1);
	assert_true(nodeid_eq(&r.res[0].id, &p->id->id));
	assert_true(kbr_addr_eq(&r.res[0].addr, &moved));
	assert_int_equal(kbr_table_find(kbr_get_table(w->k), &p->id->id, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &moved));
	world_free(w);
}

/* ---- a small overlay in memory ---- */

struct packet {
	unsigned to;
	struct kbr_addr from;
	size_t len;
	uint8_t buf[KBR_MAX_DATAGRAM];
};

struct net {
	struct kbr *nodes[NET_MAX];
	struct identity *ids[NET_MAX];
	struct kbr_addr addrs[NET_MAX];
	unsigned n;
	struct packet *queue;
	size_t qhead, qtail, qcap;
	uint64_t rng;
	uint64_t now;
};

struct node_io {
	struct net *net;
	unsigned index;
};

static void
net_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct node_io *nio = arg;
	struct net *net = nio->net;

	for (unsigned i = 0; i < net->n; i++) {
		if (!kbr_addr_eq(&net->addrs[i], to))
			continue;
		if (net->qtail - net->qhead == net->qcap)
			return;	/* queue full: a lost datagram */
		struct packet *p = &net->queue[net->qtail++ % net->qcap];
		p->to = i;
		p->from = net->addrs[nio->index];
		p->len = len;
		memcpy(p->buf, buf, len);
		return;
	}
}

static void
net_random(void *arg, void *buf, size_t len)
{
	struct node_io *nio = arg;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)xorshift(&nio->net->rng);
}

/* Delivers queued datagrams (each 1 ms later) and runs timers until nothing is left to do
 * or the time limit is reached. */
static void
net_run(struct net *net, uint64_t until)
{
	for (unsigned rounds = 0; rounds < 1000000 && net->now < until; rounds++) {
		if (net->qhead != net->qtail) {
			struct packet *p = &net->queue[net->qhead++ % net->qcap];
			struct packet copy = *p;

			net->now++;
			kbr_input(net->nodes[copy.to], net->now, copy.buf, copy.len, &copy.from);
			continue;
		}
		uint64_t next = UINT64_MAX;
		for (unsigned i = 0; i < net->n; i++) {
			uint64_t t = kbr_tick(net->nodes[i], net->now);

			if (t < next)
				next = t;
		}
		if (net->qhead != net->qtail)
			continue;
		if (next <= net->now)
			next = net->now + 1;
		net->now = next < until ? next : until;
	}
}

struct lookup_result {
	unsigned hops;
	bool done;
	struct kbr_contact first;
	size_t n;
};

static void
on_lookup(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct lookup_result *r = arg;

	(void)target;
	r->done = true;
	r->n = n;
	r->hops = st->hops;
	assert_true(st->replies <= st->queries);
	if (n > 0)
		r->first = res[0];
}

static void
overlay_lookups_find_every_node(void **state)
{
	static struct node_io nio[NET_MAX];
	struct net *net = calloc(1, sizeof(*net));
	struct kbr_params p;

	(void)state;
	params(&p);
	net->n = 48;
	net->rng = 7;
	net->qcap = 8192;
	net->queue = calloc(net->qcap, sizeof(*net->queue));
	net->now = T0;
	for (unsigned i = 0; i < net->n; i++) {
		struct kbr_io io = {0};

		nio[i].net = net;
		nio[i].index = i;
		io.arg = &nio[i];
		io.send = net_send;
		io.random = net_random;
		net->ids[i] = ident_from((uint8_t)(i + 1));
		addr_of(&net->addrs[i], i + 1, (uint16_t)(4000 + i));
		net->nodes[i] = kbr_new(&p, net->ids[i], &io);
		assert_non_null(net->nodes[i]);
	}
	/* every node bootstraps from one or two earlier ones */
	for (unsigned i = 1; i < net->n; i++) {
		assert_int_equal(kbr_bootstrap(net->nodes[i], net->now, &net->addrs[i / 2]), 0);
		if (i > 2)
			assert_int_equal(kbr_bootstrap(net->nodes[i], net->now,
			    &net->addrs[i - 1]), 0);
		net_run(net, net->now + 50);
	}
	net_run(net, net->now + 130000);	/* two refresh periods */

	unsigned found = 0, total = 0;
	for (unsigned from = 0; from < net->n; from += 3) {
		for (unsigned to = 0; to < net->n; to++) {
			struct lookup_result r = {0};

			if (to == from)
				continue;
			assert_int_equal(kbr_lookup_start(net->nodes[from], net->now,
			    &net->ids[to]->id, on_lookup, &r), 0);
			net_run(net, net->now + 20000);
			assert_true(r.done);
			total++;
			if (r.n > 0 && nodeid_eq(&r.first.id, &net->ids[to]->id) &&
			    kbr_addr_eq(&r.first.addr, &net->addrs[to])) {
				found++;
				/* at least the step to the node itself, never absurdly many */
				assert_true(r.hops >= 1 && r.hops <= 10);
			}
		}
	}
	print_message("overlay of %u nodes: %u of %u lookups found their node first\n", net->n,
	    found, total);
	assert_int_equal(found, total);

	/* node 5 restarts at a new address with the same identity (ID/locator split): its
	 * peers' sessions with it are gone with it */
	struct kbr_io io = {.arg = &nio[5], .send = net_send, .random = net_random};
	kbr_free(net->nodes[5]);
	addr_of(&net->addrs[5], 200, 6000);
	net->nodes[5] = kbr_new(&p, net->ids[5], &io);
	assert_non_null(net->nodes[5]);
	assert_int_equal(kbr_bootstrap(net->nodes[5], net->now, &net->addrs[0]), 0);
	net_run(net, net->now + 130000);
	found = 0;
	total = 0;
	for (unsigned from = 0; from < net->n; from++) {
		struct lookup_result r = {0};

		if (from == 5)
			continue;
		assert_int_equal(kbr_lookup_start(net->nodes[from], net->now, &net->ids[5]->id,
		    on_lookup, &r), 0);
		net_run(net, net->now + 20000);
		assert_true(r.done);
		total++;
		if (r.n > 0 && nodeid_eq(&r.first.id, &net->ids[5]->id) &&
		    kbr_addr_eq(&r.first.addr, &net->addrs[5]))
			found++;
	}
	print_message("after the move: %u of %u lookups found it at its new address\n", found,
	    total);
	assert_int_equal(found, total);
	for (unsigned i = 0; i < net->n; i++) {
		struct kbr_stats st;

		kbr_get_stats(net->nodes[i], &st);
		/* honest nodes never see a forgery, a failing puzzle or a malformed datagram */
		assert_int_equal(st.dropped_signature + st.dropped_puzzle + st.dropped_malformed +
		    st.dropped_tag + st.dropped_version + st.dropped_rate, 0);
		assert_true(st.handshakes_done > 0);
		assert_true(kbr_table_size(kbr_get_table(net->nodes[i])) > 0);
		assert_true(kbr_session_count(net->nodes[i]) > 0);
		kbr_free(net->nodes[i]);
		identity_free(net->ids[i]);
	}
	free(net->queue);
	free(net);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stranger_enters_the_table_after_a_request),
		cmocka_unit_test(bootstrap_by_address),
		cmocka_unit_test(pong_tells_the_observed_address),
		cmocka_unit_test(timeouts_and_retries_over_a_new_handshake),
		cmocka_unit_test(bootstrap_retries_then_maintenance),
		cmocka_unit_test(rate_limited),
		cmocka_unit_test(app_requests_served_by_the_layer_above),
		cmocka_unit_test(app_requests_answered),
		cmocka_unit_test(unsolicited_replies_dropped),
		cmocka_unit_test(malformed_dropped),
		cmocka_unit_test(memory_and_sessions_counted),
		cmocka_unit_test(lookup_gives_the_address_a_node_answered_from),
		cmocka_unit_test(overlay_lookups_find_every_node),
	};

	return cmocka_run_group_tests_name("kbr/kbr", tests, NULL, NULL);
}
