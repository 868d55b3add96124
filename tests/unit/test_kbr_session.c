/* Tests for kbr/session.c: several struct kbr_sessions talking through captured datagrams on a
 * fake clock. Handshakes, sealing both ways, replays, forgeries, misdirected and truncated
 * handshakes, puzzles, timestamps, cookies under load, amplification, roaming and the
 * attacks on it, rekeying, eviction, memory, the HELLO path and crypto=false. */
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
#include "kbr/suite.h"
#include "kbr/wire.h"
#include "puzzle/puzzle.h"

#define T0 1767225600000ULL

enum {
	MAX_NODES = 48,
	MAX_OUT = 1024,
	MAX_GOT = 512,
	MSG_APP = KBR_APP_MIN,		/* the message type the tests send */
};

struct dgram {
	struct kbr_addr from, to;
	size_t len;
	uint8_t buf[KBR_MAX_DATAGRAM];
};

struct got {
	struct nodeid peer;
	struct kbr_addr from;
	uint64_t tid;
	size_t len;			/* of the body */
	uint8_t body[KBR_MAX_BODY];
};

struct world;
struct node;

/* Called after a delivery was recorded, with what the session layer passed. */
typedef void (*deliver_hook)(struct node *n, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *from);

struct node {
	struct world *w;
	struct identity *id;
	struct kbr_session_cfg cfg;
	struct kbr_sessions *s;
	struct kbr_stats st;
	struct kbr_addr addr;
	struct got *got;
	size_t ngot;
	deliver_hook hook;
};

struct world {
	struct node n[MAX_NODES];
	unsigned nn;
	struct dgram *out;		/* sent, not delivered yet (FIFO) */
	size_t head, tail;
	uint64_t now;
	uint64_t rng;
};

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
w_random(void *arg, void *buf, size_t len)
{
	struct node *n = arg;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift(&n->w->rng);
}

static void
w_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct node *n = arg;
	struct world *w = n->w;
	struct dgram *d;

	assert_true(len <= KBR_MAX_DATAGRAM);
	assert_true(w->tail < MAX_OUT);
	d = &w->out[w->tail++];
	d->from = n->addr;
	d->to = *to;
	d->len = len;
	memcpy(d->buf, buf, len);
}

static void
w_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct node *n = arg;
	struct got *g;

	assert_true(len >= KBR_MSG_HEADER_LEN && len <= KBR_MAX_MSG);
	assert_true(n->ngot < MAX_GOT);
	g = &n->got[n->ngot++];
	g->peer = *peer;
	g->from = *from;
	g->tid = 0;
	for (int i = 0; i < 8; i++)
		g->tid = g->tid << 8 | msg[1 + i];
	assert_int_equal(msg[0], MSG_APP);
	g->len = len - KBR_MSG_HEADER_LEN;
	memcpy(g->body, msg + KBR_MSG_HEADER_LEN, g->len);
	if (n->hook != NULL)
		n->hook(n, now, peer, from);
}

static void
addr_of(struct kbr_addr *a, unsigned host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 10;
	a->ip[2] = (uint8_t)(host >> 8);
	a->ip[3] = (uint8_t)host;
	a->port = port;
}

static void
cfg_test(struct kbr_session_cfg *c)
{
	kbr_session_cfg_default(c);
	c->c1 = 0;
	c->c2 = 4;
}

static struct world *
world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->out = calloc(MAX_OUT, sizeof(*w->out));
	assert_non_null(w->out);
	w->rng = 0x2545f4914f6cdd1dULL;
	w->now = T0;
	return w;
}

static struct identity *
ident_from(unsigned tag)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;

	memset(seed, (int)(tag & 0xff), sizeof(seed));
	seed[0] = (uint8_t)(tag >> 8);
	seed[1] = 0x5e;
	assert_int_equal(identity_from_seed(&id, seed, 4), 0);
	return id;
}

static void
node_start(struct node *n)
{
	struct kbr_session_io io = {.arg = n, .send = w_send, .random = w_random,
	    .deliver = w_deliver};

	n->s = kbr_sessions_new(&n->cfg, n->id, &io, &n->st, n->w->now);
	assert_non_null(n->s);
}

static struct node *
node_add_cfg(struct world *w, const struct kbr_session_cfg *cfg)
{
	struct node *n;

	assert_true(w->nn < MAX_NODES);
	n = &w->n[w->nn];
	n->w = w;
	n->id = ident_from(w->nn + 1);
	n->cfg = *cfg;
	addr_of(&n->addr, w->nn + 1, (uint16_t)(4000 + w->nn));
	n->got = calloc(MAX_GOT, sizeof(*n->got));
	assert_non_null(n->got);
	w->nn++;
	node_start(n);
	return n;
}

static struct node *
node_add(struct world *w)
{
	struct kbr_session_cfg c;

	cfg_test(&c);
	return node_add_cfg(w, &c);
}

static void
world_free(struct world *w)
{
	for (unsigned i = 0; i < w->nn; i++) {
		kbr_sessions_free(w->n[i].s);
		identity_free(w->n[i].id);
		free(w->n[i].got);
	}
	free(w->out);
	free(w);
}

static size_t
pending(const struct world *w)
{
	return w->tail - w->head;
}

/* The oldest datagram not delivered yet, taken out of the queue. */
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

/* The i-th datagram waiting, left in the queue. */
static const struct dgram *
peek(const struct world *w, size_t i)
{
	assert_true(i < pending(w));
	return &w->out[w->head + i];
}

static void
drop_all(struct world *w)
{
	w->head = w->tail = 0;
}

static struct node *
node_at(struct world *w, const struct kbr_addr *a)
{
	for (unsigned i = 0; i < w->nn; i++)
		if (kbr_addr_eq(&w->n[i].addr, a))
			return &w->n[i];
	return NULL;
}

static int
ptype(const struct dgram *d)
{
	return kbr_wire_packet_type(d->buf, d->len);
}

/* Hands d to the node at d->to (if any) at d->from. Whatever is sent in answer to a HELLO
 * or an HS_INIT (an address that has not shown it receives) is no larger than it. */
static void
deliver_to(struct world *w, struct node *n, const struct dgram *d)
{
	size_t before = w->tail;
	int t = ptype(d);

	kbr_session_input(n->s, w->now, d->buf, d->len, &d->from);
	if (t == KBR_PKT_HELLO || t == KBR_PKT_HS_INIT) {
		for (size_t i = before; i < w->tail; i++) {
			assert_true(kbr_addr_eq(&w->out[i].to, &d->from));
			assert_true(w->out[i].len <= d->len);
		}
	}
}

static void
route(struct world *w, const struct dgram *d)
{
	struct node *n = node_at(w, &d->to);

	if (n != NULL)
		deliver_to(w, n, d);
}

/* Delivers everything (and what it causes) in order. */
static void
pump(struct world *w)
{
	for (unsigned rounds = 0; pending(w) > 0; rounds++) {
		struct dgram d = pop(w);

		assert_true(rounds < 100000);
		route(w, &d);
	}
}

static size_t
make_msg(uint64_t tid, const char *text, uint8_t *buf)
{
	struct kbr_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = MSG_APP;
	m.tid = tid;
	m.u.app.data = (const uint8_t *)text;
	m.u.app.len = strlen(text);
	n = kbr_wire_encode(&m, buf, KBR_MAX_MSG);
	assert_true(n > 0);
	return (size_t)n;
}

/* a sends text to b's node ID at address to (b's own if NULL). */
static int
send_to(struct node *a, struct node *b, const struct kbr_addr *to, uint64_t tid,
    const char *text)
{
	uint8_t buf[KBR_MAX_MSG];
	size_t n = make_msg(tid, text, buf);

	return kbr_session_send(a->s, a->w->now, &b->id->id, to ? to : &b->addr, buf, n);
}

static void
send_text(struct node *a, struct node *b, uint64_t tid, const char *text)
{
	assert_int_equal(send_to(a, b, NULL, tid, text), 0);
}

static void
check_got(const struct node *n, size_t i, const struct node *from, const struct kbr_addr *addr,
    uint64_t tid, const char *text)
{
	const struct got *g;

	assert_true(i < n->ngot);
	g = &n->got[i];
	assert_true(nodeid_eq(&g->peer, &from->id->id));
	assert_true(kbr_addr_eq(&g->from, addr ? addr : &from->addr));
	assert_int_equal(g->tid, tid);
	assert_int_equal(g->len, strlen(text));
	assert_memory_equal(g->body, text, g->len);
}

static bool
established(const struct node *a, const struct node *b)
{
	return kbr_session_established(a->s, &b->id->id, a->w->now);
}

/* a starts a session with b and both sides confirm it. */
static void
connect_nodes(struct node *a, struct node *b)
{
	size_t got = b->ngot;

	send_text(a, b, 1, "hi");
	pump(a->w);
	assert_int_equal(b->ngot, got + 1);
	assert_true(established(a, b));
	assert_true(established(b, a));
}

static bool
contains(const uint8_t *buf, size_t len, const char *text)
{
	size_t n = strlen(text);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, text, n) == 0)
			return true;
	return false;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the handshake ---- */

static void
handshake_and_messages_both_ways(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d;

	(void)state;
	assert_false(established(a, b));
	send_text(a, b, 100, "hello b");
	/* the message waits; an HS_INIT goes to b */
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_INIT);
	assert_int_equal(peek(w, 0)->len, KBR_INIT_LEN);
	assert_true(kbr_addr_eq(&peek(w, 0)->to, &b->addr));
	assert_false(established(a, b));
	/* HS_RESP back, and the message in the first DATA, which confirms the session */
	d = pop(w);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_RESP);
	assert_int_equal(peek(w, 0)->len, KBR_RESP_LEN);
	assert_true(kbr_addr_eq(&peek(w, 0)->to, &a->addr));
	assert_false(established(b, a));	/* half-open: no session slot yet */
	assert_int_equal(kbr_sessions_count(b->s), 0);
	d = pop(w);
	route(w, &d);
	assert_true(established(a, b));
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_DATA);
	assert_int_equal(peek(w, 0)->len, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN + 7);
	/* the plaintext is not in the datagram */
	assert_false(contains(peek(w, 0)->buf, peek(w, 0)->len, "hello b"));
	d = pop(w);
	route(w, &d);
	assert_int_equal(pending(w), 0);
	assert_int_equal(b->ngot, 1);
	check_got(b, 0, a, NULL, 100, "hello b");
	assert_true(established(b, a));
	assert_int_equal(kbr_sessions_count(a->s), 1);
	assert_int_equal(kbr_sessions_count(b->s), 1);
	assert_int_equal(a->st.handshakes_started, 1);
	assert_int_equal(b->st.handshakes_started, 0);
	assert_int_equal(a->st.handshakes_done, 1);
	assert_int_equal(b->st.handshakes_done, 1);

	/* the other way at once, with no handshake */
	send_text(b, a, 101, "hello a");
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_DATA);
	pump(w);
	assert_int_equal(a->ngot, 1);
	check_got(a, 0, b, NULL, 101, "hello a");

	/* many both ways, in order */
	for (uint64_t i = 0; i < 100; i++) {
		char text[32];

		snprintf(text, sizeof(text), "a->b %u", (unsigned)i);
		send_text(a, b, 1000 + i, text);
		snprintf(text, sizeof(text), "b->a %u", (unsigned)i);
		send_text(b, a, 2000 + i, text);
		w->now++;
	}
	pump(w);
	assert_int_equal(a->ngot, 101);
	assert_int_equal(b->ngot, 101);
	for (uint64_t i = 0; i < 100; i++) {
		char text[32];

		snprintf(text, sizeof(text), "a->b %u", (unsigned)i);
		check_got(b, 1 + i, a, NULL, 1000 + i, text);
		snprintf(text, sizeof(text), "b->a %u", (unsigned)i);
		check_got(a, 1 + i, b, NULL, 2000 + i, text);
	}
	assert_int_equal(a->st.handshakes_done + b->st.handshakes_done, 2);
	assert_int_equal(a->st.dropped_tag + b->st.dropped_tag + a->st.dropped_index +
	    b->st.dropped_index + a->st.dropped_replay + b->st.dropped_replay, 0);
	world_free(w);
}

static void
queued_messages_wait_for_the_handshake(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w), *c = node_add(w);

	(void)state;
	/* three messages before the handshake: one HS_INIT, all three delivered in order */
	send_text(a, b, 1, "one");
	w->now += 10;
	send_text(a, b, 2, "two");
	send_text(a, b, 3, "three");
	assert_int_equal(pending(w), 1);
	pump(w);
	assert_int_equal(b->ngot, 3);
	check_got(b, 0, a, NULL, 1, "one");
	check_got(b, 1, a, NULL, 2, "two");
	check_got(b, 2, a, NULL, 3, "three");
	assert_int_equal(a->st.handshakes_started, 1);
	/* at most KBR_SESSION_QUEUE wait: the oldest give way */
	for (uint64_t i = 0; i < KBR_SESSION_QUEUE + 2; i++) {
		char text[16];

		snprintf(text, sizeof(text), "m%u", (unsigned)i);
		send_text(a, c, 10 + i, text);
	}
	pump(w);
	assert_int_equal(c->ngot, KBR_SESSION_QUEUE);
	check_got(c, 0, a, NULL, 12, "m2");
	check_got(c, KBR_SESSION_QUEUE - 1, a, NULL, 10 + KBR_SESSION_QUEUE + 1, "m9");
	world_free(w);
}

static void
bad_arguments(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct kbr_session_io io = {.arg = a, .send = w_send, .random = w_random,
	    .deliver = w_deliver};
	struct kbr_session_cfg c;
	uint8_t buf[KBR_MAX_MSG + 1];
	struct kbr_stats st;

	(void)state;
	cfg_test(&c);
	assert_null(kbr_sessions_new(NULL, a->id, &io, &st, T0));
	assert_null(kbr_sessions_new(&c, NULL, &io, &st, T0));
	assert_null(kbr_sessions_new(&c, a->id, &io, NULL, T0));
	io.deliver = NULL;
	assert_null(kbr_sessions_new(&c, a->id, &io, &st, T0));
	io.deliver = w_deliver;
	c.max_peers = 1;
	assert_null(kbr_sessions_new(&c, a->id, &io, &st, T0));
	cfg_test(&c);
	c.max_halfopen = 1;
	assert_null(kbr_sessions_new(&c, a->id, &io, &st, T0));
	cfg_test(&c);
	c.rekey_after_ms = 999;
	assert_null(kbr_sessions_new(&c, a->id, &io, &st, T0));
	cfg_test(&c);
	c.hs_per_source = 0;
	assert_null(kbr_sessions_new(&c, a->id, &io, &st, T0));

	memset(buf, 0, sizeof(buf));
	buf[0] = MSG_APP;
	assert_int_equal(kbr_session_send(a->s, T0, &b->id->id, NULL, buf, 9), -EINVAL);
	assert_int_equal(kbr_session_send(a->s, T0, &b->id->id, &b->addr, NULL, 9), -EINVAL);
	assert_int_equal(kbr_session_send(a->s, T0, &b->id->id, &b->addr, buf, 8), -EINVAL);
	assert_int_equal(kbr_session_send(a->s, T0, &b->id->id, &b->addr, buf,
	    KBR_MAX_MSG + 1), -EMSGSIZE);
	assert_int_equal(kbr_session_send(a->s, T0, &a->id->id, &b->addr, buf, 9), -EINVAL);
	assert_int_equal(pending(w), 0);
	assert_int_equal(kbr_session_send(a->s, T0, &b->id->id, &b->addr, buf, KBR_MAX_MSG), 0);
	pump(w);
	assert_int_equal(b->ngot, 1);
	assert_int_equal(b->got[0].len, KBR_MAX_BODY);
	world_free(w);
}

static void
simultaneous_open(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);

	(void)state;
	/* both start a handshake before either hears from the other */
	send_text(a, b, 1, "from a");
	send_text(b, a, 2, "from b");
	assert_int_equal(pending(w), 2);
	pump(w);
	check_got(b, 0, a, NULL, 1, "from a");
	check_got(a, 0, b, NULL, 2, "from b");
	for (uint64_t i = 0; i < 20; i++) {
		send_text(a, b, 10 + i, "x");
		send_text(b, a, 30 + i, "y");
		pump(w);
		w->now += 100;
	}
	assert_int_equal(a->ngot, 21);
	assert_int_equal(b->ngot, 21);
	assert_int_equal(a->st.dropped_tag + b->st.dropped_tag + a->st.dropped_index +
	    b->st.dropped_index, 0);
	assert_int_equal(kbr_sessions_count(a->s), 1);
	assert_int_equal(kbr_sessions_count(b->s), 1);
	world_free(w);
}

/* ---- replays and forgeries ---- */

static void
replayed_data_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct kbr_addr elsewhere;
	struct dgram d, batch[300];

	(void)state;
	connect_nodes(a, b);
	send_text(a, b, 5, "once");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->ngot, 2);
	/* the same datagram again, later, and from another address */
	w->now += 1000;
	route(w, &d);
	addr_of(&elsewhere, 99, 9999);
	d.from = elsewhere;
	route(w, &d);
	assert_int_equal(b->ngot, 2);
	assert_int_equal(b->st.dropped_replay, 2);
	assert_int_equal(b->st.challenges_sent, 0);
	assert_int_equal(pending(w), 0);

	/* out of order inside the window is fine, each once */
	for (int i = 0; i < 3; i++)
		send_text(a, b, 10 + (uint64_t)i, "r");
	for (int i = 0; i < 3; i++)
		batch[i] = pop(w);
	route(w, &batch[2]);
	route(w, &batch[0]);
	route(w, &batch[1]);
	route(w, &batch[0]);
	assert_int_equal(b->ngot, 5);
	assert_int_equal(b->got[2].tid, 12);
	assert_int_equal(b->got[3].tid, 10);
	assert_int_equal(b->got[4].tid, 11);
	assert_int_equal(b->st.dropped_replay, 3);

	/* far below the highest counter seen is too old, even if never seen */
	for (int i = 0; i < 300; i++) {
		send_text(a, b, 100 + (uint64_t)i, "w");
		batch[i] = pop(w);
	}
	route(w, &batch[299]);
	route(w, &batch[299 - 254]);		/* inside the window */
	assert_int_equal(b->ngot, 7);
	route(w, &batch[299 - KBR_SESSION_WINDOW]);
	route(w, &batch[0]);
	assert_int_equal(b->ngot, 7);
	assert_int_equal(b->st.dropped_replay, 5);
	assert_int_equal(b->st.dropped_tag, 0);
	world_free(w);
}

static void
forged_data_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d, bad;
	struct kbr_stats before;
	uint64_t rng = 3;

	(void)state;
	connect_nodes(a, b);
	send_text(a, b, 7, "the real one");
	d = pop(w);
	before = b->st;
	/* one flipped bit anywhere */
	for (size_t i = 0; i < d.len; i++) {
		bad = d;
		bad.buf[i] ^= (uint8_t)(1u << (i % 8));
		route(w, &bad);
	}
	assert_int_equal(b->ngot, 1);
	assert_int_equal(pending(w), 0);
	assert_int_equal(b->st.dropped_version - before.dropped_version, 1);
	assert_int_equal(b->st.dropped_malformed - before.dropped_malformed, 3);
	assert_int_equal(b->st.dropped_index - before.dropped_index, 4);
	/* a changed counter is seen before (replay) or fails the tag: it is authenticated */
	assert_int_equal(b->st.dropped_tag - before.dropped_tag +
	    b->st.dropped_replay - before.dropped_replay, 8 + (d.len - KBR_DATA_HEADER_LEN));
	assert_true(b->st.dropped_tag - before.dropped_tag >= d.len - KBR_DATA_HEADER_LEN);
	/* random tags, and the tag of another datagram */
	for (int i = 0; i < 50; i++) {
		bad = d;
		for (size_t j = d.len - KBR_TAG_LEN; j < d.len; j++)
			bad.buf[j] = (uint8_t)xorshift(&rng);
		route(w, &bad);
	}
	assert_int_equal(b->ngot, 1);
	assert_int_equal(b->st.challenges_sent, 0);
	assert_int_equal(b->st.roams, 0);
	/* none of that poisoned the replay window: the real datagram still gets in */
	route(w, &d);
	assert_int_equal(b->ngot, 2);
	check_got(b, 1, a, NULL, 7, "the real one");
	world_free(w);
}

static void
unknown_index_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d, init;
	uint32_t hs_index;

	(void)state;
	/* a DATA for an index nobody gave out */
	memset(&d, 0, sizeof(d));
	d.from = a->addr;
	d.to = b->addr;
	kbr_pkt_data_header(0x12345678, 0, d.buf);
	d.len = KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN;
	route(w, &d);
	assert_int_equal(b->st.dropped_index, 1);
	/* a DATA for the index of a handshake in progress: no session on it yet */
	send_text(a, b, 1, "x");
	init = pop(w);
	hs_index = get32(init.buf + 4);
	kbr_pkt_data_header(hs_index, 0, d.buf);
	d.from = b->addr;
	d.to = a->addr;
	route(w, &d);
	assert_int_equal(a->st.dropped_index, 1);
	assert_int_equal(pending(w), 0);
	/* and the handshake is still good */
	route(w, &init);
	pump(w);
	assert_int_equal(b->ngot, 1);
	world_free(w);
}

/* Routes d cut to every shorter length, and with one zero byte more. Returns how many. */
static size_t
wrong_lengths(struct world *w, const struct dgram *d)
{
	struct dgram bad = *d;

	for (size_t len = 0; len < d->len; len++) {
		bad.len = len;
		route(w, &bad);
	}
	bad.buf[d->len] = 0;
	bad.len = d->len + 1;
	route(w, &bad);
	return d->len + 1;
}

/* Every shorter length and one more, of every handshake datagram: malformed, unanswered. */
static void
truncated_handshakes_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram hello, ident, init, resp, cookie;
	uint8_t msg[KBR_MAX_MSG];
	size_t n = make_msg(1, "x", msg), expect_a, expect_b;
	uint64_t ma, mb;

	(void)state;
	assert_int_equal(kbr_session_send(a->s, w->now, NULL, &b->addr, msg, n), 0);
	hello = pop(w);
	assert_int_equal(hello.len, KBR_HELLO_LEN);
	route(w, &hello);
	ident = pop(w);
	assert_int_equal(ident.len, KBR_IDENTITY_LEN);
	route(w, &ident);
	init = pop(w);
	assert_int_equal(init.len, KBR_INIT_LEN);
	route(w, &init);
	resp = pop(w);
	assert_int_equal(resp.len, KBR_RESP_LEN);
	{
		struct kbr_pkt_cookie c = {.receiver = get32(init.buf + 4)};

		memset(c.cookie, 0xcc, sizeof(c.cookie));
		cookie = resp;
		cookie.len = kbr_pkt_cookie_encode(&c, cookie.buf);
	}

	ma = a->st.dropped_malformed;
	mb = b->st.dropped_malformed;
	expect_b = wrong_lengths(w, &hello) + wrong_lengths(w, &init);
	expect_a = wrong_lengths(w, &ident) + wrong_lengths(w, &resp) + wrong_lengths(w, &cookie);
	assert_int_equal(expect_b, KBR_HELLO_LEN + KBR_INIT_LEN + 2);
	assert_int_equal(expect_a, KBR_IDENTITY_LEN + KBR_RESP_LEN + KBR_COOKIE_MSG_LEN + 3);
	assert_int_equal(a->st.dropped_malformed - ma, expect_a);
	assert_int_equal(b->st.dropped_malformed - mb, expect_b);
	assert_int_equal(pending(w), 0);
	assert_false(established(a, b));
	/* the whole HS_RESP still completes the handshake */
	route(w, &resp);
	pump(w);
	assert_int_equal(b->ngot, 1);
	world_free(w);
}

static void
unexpected_hs_resp_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w), *c = node_add(w);
	struct dgram init, resp, stray, first_init;

	(void)state;
	send_text(a, b, 1, "x");
	init = pop(w);
	route(w, &init);
	resp = pop(w);
	/* at a node that has no handshake with that index */
	stray = resp;
	stray.to = c->addr;
	route(w, &stray);
	assert_int_equal(c->st.dropped_handshake, 1);
	assert_int_equal(pending(w), 0);
	/* the real one, then the same again */
	route(w, &resp);
	pump(w);
	assert_int_equal(b->ngot, 1);
	route(w, &resp);
	assert_int_equal(a->st.dropped_handshake, 1);
	assert_int_equal(pending(w), 0);
	assert_int_equal(a->st.handshakes_done, 1);

	/* the answer to a handshake that was started again since: the old index is gone */
	send_text(a, c, 2, "y");
	first_init = pop(w);
	w->now += 500;
	send_text(a, c, 3, "z");		/* within KBR_HS_RETRY_MS: no new HS_INIT */
	assert_int_equal(pending(w), 0);
	w->now += 600;
	send_text(a, c, 4, "w");
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_INIT);
	assert_int_not_equal(get32(peek(w, 0)->buf + 4), get32(first_init.buf + 4));
	assert_int_equal(a->st.handshakes_started, 3);	/* b's, and c's twice */
	init = pop(w);
	route(w, &first_init);
	resp = pop(w);
	route(w, &resp);
	assert_int_equal(a->st.dropped_handshake, 2);
	assert_false(established(a, c));
	/* c answers the newer one; everything that waited arrives */
	w->now += 1;
	route(w, &init);
	pump(w);
	assert_true(established(a, c));
	assert_int_equal(c->ngot, 3);
	check_got(c, 0, a, NULL, 2, "y");
	check_got(c, 2, a, NULL, 4, "w");
	world_free(w);
}

static void
init_for_another_node_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w), *c = node_add(w);

	(void)state;
	/* a thinks b is at c's address: c is not who the HS_INIT names */
	assert_int_equal(send_to(a, b, &c->addr, 1, "for b"), 0);
	pump(w);
	assert_int_equal(c->st.dropped_receiver, 1);
	assert_int_equal(c->st.tx, 0);
	assert_int_equal(c->ngot + b->ngot, 0);
	assert_false(established(a, b));
	assert_false(established(a, c));
	world_free(w);
}

static void
init_failing_the_puzzles_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b, *c, *d;
	struct kbr_session_cfg cfg;
	unsigned dyn = puzzle_dynamic_bits(&a->id->id, &a->id->nonce);
	unsigned stat = puzzle_static_bits(&a->id->id);

	(void)state;
	assert_true(dyn >= 4 && dyn < PUZZLE_MAX_BITS);
	cfg_test(&cfg);
	cfg.c2 = dyn + 1;		/* a's nonce does not reach it */
	b = node_add_cfg(w, &cfg);
	cfg_test(&cfg);
	cfg.c1 = stat + 1;		/* nor does a's ID */
	c = node_add_cfg(w, &cfg);
	cfg_test(&cfg);
	cfg.c1 = stat;			/* exactly what a meets */
	cfg.c2 = dyn;
	d = node_add_cfg(w, &cfg);
	send_text(a, b, 1, "x");
	send_text(a, c, 2, "x");
	pump(w);
	assert_int_equal(b->st.dropped_puzzle, 1);
	assert_int_equal(c->st.dropped_puzzle, 1);
	assert_int_equal(b->st.tx + c->st.tx, 0);
	assert_int_equal(b->ngot + c->ngot, 0);
	send_text(a, d, 3, "x");
	pump(w);
	assert_int_equal(d->ngot, 1);
	assert_int_equal(d->st.dropped_puzzle, 0);

	/* the other way: the responder's identity fails the initiator's puzzles */
	struct node *f = node_add(w);
	cfg_test(&cfg);
	cfg.c2 = puzzle_dynamic_bits(&f->id->id, &f->id->nonce) + 1;
	struct node *e = node_add_cfg(w, &cfg);
	send_text(e, f, 4, "x");
	pump(w);
	assert_int_equal(f->st.dropped_puzzle, 0);	/* f took e's HS_INIT */
	assert_int_equal(e->st.dropped_puzzle, 1);	/* e refused f's HS_RESP */
	assert_false(established(e, f));
	assert_int_equal(f->ngot, 0);
	world_free(w);
}

/* Builds an HS_RESP to init as signer would, but with the public key and nonce of
 * claimed. The signature is over "p2pns hs resp v2", SHA-256(init[0..184)), resp[0..96). */
static void
forge_resp(const struct dgram *init, const struct identity *signer,
    const struct identity *claimed, struct dgram *out, uint64_t *rng)
{
	static const char ctx[] = "p2pns hs resp v2";
	uint8_t priv[SUITE_X25519_LEN], h[SUITE_SHA256_LEN];
	uint8_t tosign[16 + SUITE_SHA256_LEN + KBR_RESP_SIGNED_LEN];
	struct kbr_pkt_resp r;

	memset(&r, 0, sizeof(r));
	r.sender = 0x0a0b0c0d;
	r.receiver = get32(init->buf + 4);
	memcpy(r.pub, claimed->pub, ID_PUBKEY_LEN);
	r.nonce = claimed->nonce;
	for (size_t i = 0; i < sizeof(priv); i++)
		priv[i] = (uint8_t)xorshift(rng);
	assert_int_equal(suite_x25519_public(priv, r.eph), 0);
	out->from = init->to;
	out->to = init->from;
	out->len = kbr_pkt_resp_encode(&r, out->buf);
	suite_sha256(init->buf, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, h);
	memcpy(tosign, ctx, 16);
	memcpy(tosign + 16, h, sizeof(h));
	memcpy(tosign + 16 + sizeof(h), out->buf, KBR_RESP_SIGNED_LEN);
	assert_int_equal(identity_sign(signer, tosign, sizeof(tosign),
	    out->buf + KBR_RESP_SIGNED_LEN), 0);
}

static void
resp_from_the_wrong_key_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w), *c = node_add(w);
	struct dgram init, resp, forged;
	uint64_t rng = 5;

	(void)state;
	send_text(a, b, 1, "for b only");
	init = pop(w);
	route(w, &init);
	resp = pop(w);
	/* c answers in its own name, correctly signed: SHA-1 of its key is not b's ID */
	forge_resp(&init, c->id, c->id, &forged, &rng);
	route(w, &forged);
	assert_int_equal(a->st.dropped_handshake, 1);
	assert_false(established(a, b));
	assert_int_equal(pending(w), 0);
	/* c answers with b's key and nonce, signed by c */
	forge_resp(&init, c->id, b->id, &forged, &rng);
	route(w, &forged);
	assert_int_equal(a->st.dropped_signature, 1);
	assert_false(established(a, b));
	assert_int_equal(pending(w), 0);
	/* b's real answer with its ephemeral key replaced: the signature covers it */
	forged = resp;
	forged.buf[70] ^= 0x01;
	route(w, &forged);
	assert_int_equal(a->st.dropped_signature, 2);
	/* b's real answer with a nonce that does not solve its puzzle */
	forged = resp;
	for (int i = 0; i < 256; i++) {
		forged.buf[44 + NODEID_LEN - 1] = (uint8_t)i;
		if (!puzzle_dynamic_ok(&b->id->id, (const struct nodeid *)(forged.buf + 44), 4))
			break;
	}
	route(w, &forged);
	assert_int_equal(a->st.dropped_puzzle, 1);
	assert_false(established(a, b));
	/* none of that cancelled the handshake: b's real answer completes it */
	route(w, &resp);
	pump(w);
	assert_true(established(a, b));
	assert_int_equal(b->ngot, 1);
	assert_int_equal(c->ngot, 0);
	world_free(w);
}

static void
init_timestamps_checked(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram init;
	uint64_t sent = w->now;

	(void)state;
	send_text(a, b, 1, "x");
	init = pop(w);
	/* b's clock far ahead of a's: stale; far behind: from the future */
	w->now = sent + b->cfg.window_ms + 1;
	route(w, &init);
	w->now = sent - b->cfg.window_ms - 1;
	route(w, &init);
	assert_int_equal(b->st.dropped_time, 2);
	assert_int_equal(pending(w), 0);
	/* at the edge of the window it is taken */
	w->now = sent + b->cfg.window_ms;
	route(w, &init);
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_RESP);
	pump(w);
	assert_int_equal(b->ngot, 1);
	world_free(w);
}

static void
replayed_init_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram init, resp, again;
	struct kbr_addr elsewhere;

	(void)state;
	send_text(a, b, 1, "x");
	init = pop(w);
	route(w, &init);
	resp = pop(w);
	/* again while it is half-open: from its address it is a copy whose answer was lost,
	 * and gets the same HS_RESP, no new keys; from another address nothing */
	route(w, &init);
	assert_int_equal(pending(w), 1);
	again = pop(w);
	assert_int_equal(again.len, resp.len);
	assert_memory_equal(again.buf, resp.buf, resp.len);
	assert_int_equal(b->st.dropped_replay, 0);
	again = init;
	addr_of(&elsewhere, 77, 7777);
	again.from = elsewhere;
	route(w, &again);
	assert_int_equal(b->st.dropped_replay, 1);
	assert_int_equal(pending(w), 0);
	route(w, &resp);
	pump(w);
	assert_int_equal(b->ngot, 1);
	/* after the session was confirmed, for as long as the timestamp is in the window */
	for (int i = 0; i < 3; i++) {
		w->now += 10000;
		route(w, &init);
		route(w, &again);
		(void)kbr_session_tick(b->s, w->now);
	}
	assert_int_equal(b->st.dropped_replay, 7);
	assert_int_equal(pending(w), 0);
	assert_int_equal(kbr_sessions_count(b->s), 1);
	/* the session is untouched */
	send_text(a, b, 2, "still here");
	send_text(b, a, 3, "yes");
	pump(w);
	assert_int_equal(b->ngot, 2);
	assert_int_equal(a->ngot, 1);
	assert_int_equal(a->st.handshakes_started, 1);
	world_free(w);
}

/* ---- under load ---- */

static void
cookies_under_load(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *b, *a, *flood[4];
	struct dgram init, cookie, with_cookie, relayed;
	struct kbr_addr elsewhere;

	(void)state;
	cfg_test(&cfg);
	cfg.max_halfopen = 8;
	b = node_add_cfg(w, &cfg);
	a = node_add(w);
	/* half the half-open entries taken by initiators that never confirm */
	for (int i = 0; i < 4; i++) {
		flood[i] = node_add(w);
		send_text(flood[i], b, 1, "never");
		init = pop(w);
		route(w, &init);
		assert_int_equal(pending(w), 1);
		assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_RESP);
		drop_all(w);
	}
	assert_int_equal(b->st.cookies_sent, 0);
	/* now a's HS_INIT is answered with a COOKIE, nothing else, and nothing is kept */
	send_text(a, b, 2, "through");
	init = pop(w);
	size_t mem = kbr_sessions_memory(b->s);
	route(w, &init);
	assert_int_equal(pending(w), 1);
	cookie = pop(w);
	assert_int_equal(ptype(&cookie), KBR_PKT_COOKIE);
	assert_int_equal(cookie.len, KBR_COOKIE_MSG_LEN);
	assert_true(kbr_addr_eq(&cookie.to, &a->addr));
	assert_int_equal(get32(cookie.buf + 4), get32(init.buf + 4));
	assert_int_equal(b->st.cookies_sent, 1);
	assert_int_equal(kbr_sessions_memory(b->s), mem);
	/* the same HS_INIT sent again with the cookie */
	route(w, &cookie);
	assert_int_equal(pending(w), 1);
	with_cookie = pop(w);
	assert_int_equal(ptype(&with_cookie), KBR_PKT_HS_INIT);
	assert_memory_equal(with_cookie.buf, init.buf, KBR_INIT_HASHED_LEN);
	assert_memory_equal(with_cookie.buf + KBR_INIT_HASHED_LEN, cookie.buf + 8,
	    KBR_COOKIE_LEN);
	/* the cookie is good only from the address it was made for */
	relayed = with_cookie;
	addr_of(&elsewhere, 66, 6666);
	relayed.from = elsewhere;
	route(w, &relayed);
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_COOKIE);
	assert_true(kbr_addr_eq(&peek(w, 0)->to, &elsewhere));
	drop_all(w);
	assert_int_equal(b->st.cookies_sent, 2);
	route(w, &with_cookie);
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_RESP);
	pump(w);
	assert_true(established(a, b));
	assert_int_equal(b->ngot, 1);
	check_got(b, 0, a, NULL, 2, "through");
	/* a second COOKIE for a handshake is not followed */
	route(w, &cookie);
	assert_int_equal(a->st.dropped_handshake, 1);
	assert_int_equal(pending(w), 0);
	/* a remembers the cookie: its next handshake carries it from the start (a suspect
	 * peer gets the message in the old session and again in the new one) */
	kbr_session_suspect(a->s, &b->id->id);
	w->now += 100;
	send_text(a, b, 3, "again");
	assert_int_equal(pending(w), 2);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_DATA);
	assert_int_equal(ptype(peek(w, 1)), KBR_PKT_HS_INIT);
	assert_memory_equal(peek(w, 1)->buf + KBR_INIT_HASHED_LEN, cookie.buf + 8,
	    KBR_COOKIE_LEN);
	pump(w);
	assert_int_equal(b->ngot, 3);
	check_got(b, 2, a, NULL, 3, "again");
	assert_int_equal(b->st.cookies_sent, 2);
	assert_int_equal(b->st.handshakes_done, 2);
	/* once the half-open entries expired, no cookies are asked for */
	w->now += KBR_HALFOPEN_MS + 1000;
	(void)kbr_session_tick(b->s, w->now);
	struct node *late = node_add(w);
	send_text(late, b, 4, "no load");
	init = pop(w);
	route(w, &init);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_RESP);
	pump(w);
	assert_int_equal(b->st.cookies_sent, 2);
	assert_int_equal(b->ngot, 4);
	world_free(w);
}

static void
handshake_rate_limited(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *b, *a[8];
	unsigned resp = 0;

	(void)state;
	cfg_test(&cfg);
	cfg.hs_per_source = 2;		/* bursts of 4 */
	b = node_add_cfg(w, &cfg);
	/* eight initiators behind one IP address, on different ports */
	for (int i = 0; i < 8; i++) {
		struct dgram init;

		a[i] = node_add(w);
		a[i]->addr = b->addr;
		a[i]->addr.ip[3] = 200;
		a[i]->addr.port = (uint16_t)(5000 + i);
		send_text(a[i], b, 1, "x");
		init = pop(w);
		route(w, &init);
		while (pending(w) > 0) {
			struct dgram d = pop(w);

			resp += ptype(&d) == KBR_PKT_HS_RESP;
		}
	}
	assert_int_equal(resp, 4);
	assert_int_equal(b->st.dropped_rate, 4);
	/* another address is not held back; the first recovers with time */
	struct node *other = node_add(w);
	send_text(other, b, 2, "y");
	pump(w);
	assert_int_equal(b->ngot, 1);
	w->now += 1000;
	send_text(a[7], b, 3, "z");		/* a new handshake: the old one is 1 s old */
	pump(w);
	assert_int_equal(b->ngot, 3);
	check_got(b, 1, a[7], NULL, 1, "x");
	check_got(b, 2, a[7], NULL, 3, "z");
	world_free(w);
}

/* Every answer to an address that has not shown it receives is at most as large as what
 * came from it (deliver_to checks HELLO and HS_INIT in every test; here each case once). */
static void
no_amplification(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *a, *b, *c;
	struct dgram d, ch;
	uint8_t msg[KBR_MAX_MSG];
	size_t n;

	(void)state;
	cfg_test(&cfg);
	cfg.max_halfopen = 2;		/* one half-open handshake is load */
	a = node_add(w);
	b = node_add(w);
	c = node_add_cfg(w, &cfg);
	/* HELLO 64 -> IDENTITY 60 */
	n = make_msg(1, "", msg);
	assert_int_equal(kbr_session_send(a->s, w->now, NULL, &b->addr, msg, n), 0);
	d = pop(w);
	assert_int_equal(d.len, 64);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	assert_int_equal(peek(w, 0)->len, 60);
	/* HS_INIT 200 -> HS_RESP 160 */
	d = pop(w);
	route(w, &d);
	d = pop(w);
	assert_int_equal(d.len, 200);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	assert_int_equal(peek(w, 0)->len, 160);
	pump(w);
	/* HS_INIT 200 -> COOKIE 24 under load */
	send_text(a, c, 2, "x");
	d = pop(w);
	route(w, &d);
	drop_all(w);
	send_text(b, c, 3, "x");
	d = pop(w);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	assert_int_equal(peek(w, 0)->len, 24);
	drop_all(w);
	/* a smallest DATA (an empty body) from a new address -> a CHALLENGE no larger; its
	 * RESPONSE is exactly as large */
	a->addr.port++;
	send_text(a, b, 4, "");
	d = pop(w);
	assert_int_equal(d.len, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	ch = pop(w);
	assert_true(kbr_addr_eq(&ch.to, &a->addr));
	assert_true(ch.len <= d.len);
	route(w, &ch);
	assert_int_equal(pending(w), 1);
	assert_int_equal(peek(w, 0)->len, ch.len);
	pump(w);
	assert_int_equal(b->st.roams, 1);
	world_free(w);
}

/* ---- roaming ---- */

static void
roaming_needs_an_answered_challenge(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct kbr_addr old = a->addr, moved;
	struct dgram d, ch;

	(void)state;
	connect_nodes(a, b);
	/* a moves; its next message is opened but held, and its new address challenged */
	addr_of(&moved, 150, 5150);
	a->addr = moved;
	send_text(a, b, 10, "from my new address");
	d = pop(w);
	assert_true(kbr_addr_eq(&d.from, &moved));
	route(w, &d);
	assert_int_equal(b->ngot, 1);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(pending(w), 1);
	ch = pop(w);
	assert_int_equal(ptype(&ch), KBR_PKT_DATA);
	assert_true(kbr_addr_eq(&ch.to, &moved));
	/* a second datagram from there in the meantime replaces the held one, no new challenge */
	send_text(a, b, 11, "the latest");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(pending(w), 0);
	assert_int_equal(b->ngot, 1);
	/* the answer comes from the new address: the held message is delivered from there */
	route(w, &ch);
	assert_int_equal(a->ngot, 0);		/* a CHALLENGE is not a message */
	pump(w);
	assert_int_equal(b->st.roams, 1);
	assert_int_equal(b->ngot, 2);
	check_got(b, 1, a, &moved, 11, "the latest");
	/* from now on a's messages come through at once */
	send_text(a, b, 12, "settled");
	pump(w);
	assert_int_equal(b->ngot, 3);
	check_got(b, 2, a, &moved, 12, "settled");
	assert_int_equal(b->st.challenges_sent, 1);
	/* and b's answers reach a there */
	send_text(b, a, 13, "ok");
	pump(w);
	assert_int_equal(a->ngot, 1);
	check_got(a, 0, b, NULL, 13, "ok");
	/* the old address has no standing any more: a datagram from it is challenged */
	a->addr = old;
	send_text(a, b, 14, "back");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.challenges_sent, 2);
	assert_int_equal(b->ngot, 3);
	pump(w);
	assert_int_equal(b->ngot, 4);
	assert_int_equal(b->st.roams, 2);
	world_free(w);
}

/* At most one challenge per peer at a time, and one a KBR_CHALLENGE_MS. */
static void
one_challenge_per_peer_at_a_time(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct kbr_addr first, second;
	struct dgram d;

	(void)state;
	connect_nodes(a, b);
	addr_of(&first, 160, 6160);
	addr_of(&second, 161, 6161);
	a->addr = first;
	send_text(a, b, 40, "from the first");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.challenges_sent, 1);
	drop_all(w);			/* the challenge is lost */
	/* another new address within the period: neither challenged nor delivered */
	a->addr = second;
	w->now += KBR_CHALLENGE_MS - 1;
	send_text(a, b, 41, "from the second");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(pending(w), 0);
	assert_int_equal(b->ngot, 1);
	/* after it, the new address is challenged, answers, and its message arrives */
	w->now += 1;
	send_text(a, b, 42, "later");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.challenges_sent, 2);
	pump(w);
	assert_int_equal(b->st.roams, 1);
	assert_int_equal(b->ngot, 2);
	check_got(b, 1, a, &second, 42, "later");
	world_free(w);
}

static void
captured_data_from_elsewhere_moves_nothing(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct kbr_addr attacker;
	struct dgram d, stolen;

	(void)state;
	connect_nodes(a, b);
	addr_of(&attacker, 66, 666);
	/* a DATA the attacker saw and re-sends, from its address, before the original */
	send_text(a, b, 20, "intercepted");
	stolen = pop(w);
	stolen.from = attacker;
	route(w, &stolen);
	assert_int_equal(b->ngot, 1);
	assert_int_equal(b->st.challenges_sent, 1);
	/* the challenge goes to the attacker, who cannot open it; it hands it to a as if
	 * from b: a's RESPONSE comes from a's own address, not the challenged one */
	assert_int_equal(pending(w), 1);
	assert_true(kbr_addr_eq(&peek(w, 0)->to, &attacker));
	d = pop(w);
	d.from = b->addr;
	d.to = a->addr;
	route(w, &d);
	assert_int_equal(pending(w), 1);
	assert_true(kbr_addr_eq(&peek(w, 0)->from, &a->addr));
	pump(w);
	assert_int_equal(b->st.roams, 0);
	assert_int_equal(b->ngot, 1);
	/* re-sent again, and after the challenge period: a replay now */
	route(w, &stolen);
	w->now += KBR_CHALLENGE_MS + 1;
	route(w, &stolen);
	assert_int_equal(b->st.dropped_replay, 2);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(pending(w), 0);
	/* the held message dies with its challenge */
	w->now += KBR_HALFOPEN_MS;
	(void)kbr_session_tick(b->s, w->now);
	/* a's address never moved: its messages arrive from where they always did */
	send_text(a, b, 21, "from a");
	send_text(b, a, 22, "to a");
	assert_true(kbr_addr_eq(&peek(w, 1)->to, &a->addr));
	pump(w);
	assert_int_equal(b->ngot, 2);
	check_got(b, 1, a, NULL, 21, "from a");
	assert_int_equal(a->ngot, 1);
	assert_int_equal(b->st.roams, 0);
	/* a DATA that was delivered already, re-sent from elsewhere: a replay, no challenge */
	send_text(a, b, 23, "seen");
	d = pop(w);
	route(w, &d);
	d.from = attacker;
	route(w, &d);
	assert_int_equal(b->st.dropped_replay, 3);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(b->ngot, 3);
	for (size_t i = 0; i < b->ngot; i++)
		assert_false(kbr_addr_eq(&b->got[i].from, &attacker));
	world_free(w);
}

static void
captured_datagrams_useless_at_another_node(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w), *c = node_add(w);
	struct dgram init, resp, d;

	(void)state;
	/* c has a session with a of its own */
	connect_nodes(a, c);
	send_text(a, b, 1, "x");
	init = pop(w);
	route(w, &init);
	resp = pop(w);
	route(w, &resp);
	d = pop(w);			/* a's first DATA to b */
	route(w, &d);
	send_text(a, b, 2, "y");
	/* each of them shown to c instead */
	init.to = resp.to = d.to = c->addr;
	route(w, &init);
	route(w, &d);
	d = pop(w);
	d.to = c->addr;
	route(w, &d);
	resp.to = a->addr;		/* and the HS_RESP again, to a's other session */
	route(w, &resp);
	assert_int_equal(c->st.dropped_receiver, 1);
	assert_int_equal(c->st.dropped_index + c->st.dropped_tag, 2);
	assert_int_equal(a->st.dropped_handshake, 1);
	assert_int_equal(pending(w), 0);
	assert_int_equal(c->ngot, 1);
	assert_int_equal(b->ngot, 1);
	world_free(w);
}

/* A deliver callback may send (which may grow the session table): what it was handed
 * must stay valid while it runs, also for a message held for a challenge. */
static struct node *hook_target;
static struct kbr_addr hook_from;
static unsigned hook_calls;

static void
send_to_strangers(struct node *n, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *from)
{
	uint8_t msg[KBR_MAX_MSG];
	size_t len = make_msg(9, "fan out", msg);

	for (unsigned i = 0; i < 40; i++) {
		struct nodeid id;
		struct kbr_addr to;

		memset(&id, 0, sizeof(id));
		id.b[0] = 0xee;
		id.b[1] = (uint8_t)hook_calls;
		id.b[2] = (uint8_t)i;
		addr_of(&to, 300 + i, 7000);
		assert_int_equal(kbr_session_send(n->s, now, &id, &to, msg, len), 0);
	}
	hook_calls++;
	assert_true(nodeid_eq(peer, &hook_target->id->id));
	assert_true(kbr_addr_eq(from, &hook_from));
}

static void
deliver_callback_may_send(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d;

	(void)state;
	connect_nodes(a, b);
	hook_target = a;
	b->hook = send_to_strangers;
	addr_of(&hook_from, 151, 5151);
	a->addr = hook_from;
	send_text(a, b, 30, "held, then delivered");
	d = pop(w);
	route(w, &d);
	pump(w);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(b->st.roams, 1);
	check_got(b, 1, a, &hook_from, 30, "held, then delivered");
	b->hook = NULL;
	world_free(w);
}

/* ---- timers, rekeying, restarts ---- */

static void
handshakes_given_up_and_halfopen_expired(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram init, resp, d;
	uint64_t next;

	(void)state;
	/* nothing pending: the next work is the cookie secret's rotation */
	next = kbr_session_tick(a->s, w->now);
	assert_true(next > w->now + 1000);
	/* an unanswered handshake: the tick comes back at least once a second */
	send_text(a, b, 1, "lost");
	drop_all(w);
	next = kbr_session_tick(a->s, w->now);
	assert_true(next > w->now && next <= w->now + 1000);
	/* after KBR_HS_GIVEUP_MS the handshake goes, with what waited for it */
	w->now += KBR_HS_GIVEUP_MS;
	(void)kbr_session_tick(a->s, w->now);
	send_text(a, b, 2, "new");
	pump(w);
	assert_int_equal(b->ngot, 1);
	check_got(b, 0, a, NULL, 2, "new");

	/* a responder forgets a half-open handshake after KBR_HALFOPEN_MS */
	struct node *c = node_add(w);
	send_text(c, b, 3, "slow");
	init = pop(w);
	route(w, &init);
	resp = pop(w);
	w->now += KBR_HALFOPEN_MS;
	(void)kbr_session_tick(b->s, w->now);
	route(w, &resp);		/* c completes its side, too late */
	assert_true(established(c, b));
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.dropped_index, 1);
	assert_int_equal(b->ngot, 1);
	assert_false(established(b, c));
	world_free(w);
}

static void
rekey_keeps_messages_flowing(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *a, *b;
	struct dgram old_data, d;
	uint32_t first_index;
	uint64_t b_created;

	(void)state;
	cfg_test(&cfg);
	cfg.rekey_after_ms = 2000;
	a = node_add_cfg(w, &cfg);
	b = node_add_cfg(w, &cfg);
	send_text(a, b, 1, "first");
	pump(w);
	send_text(a, b, 2, "second");
	d = pop(w);
	first_index = get32(d.buf + 4);
	route(w, &d);
	assert_int_equal(b->ngot, 2);

	/* past rekey_after_ms: the message goes in the old session, and a handshake starts */
	w->now += 2001;
	send_text(a, b, 3, "in flight");
	assert_int_equal(pending(w), 2);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_DATA);
	assert_int_equal(ptype(peek(w, 1)), KBR_PKT_HS_INIT);
	assert_int_equal(a->st.handshakes_started, 2);
	old_data = pop(w);
	assert_int_equal(get32(old_data.buf + 4), first_index);
	b_created = w->now;
	/* HS_INIT, HS_RESP, and a KEEPALIVE (nothing waited) that confirms it to b */
	d = pop(w);
	route(w, &d);
	d = pop(w);
	assert_int_equal(ptype(&d), KBR_PKT_HS_RESP);
	route(w, &d);
	assert_int_equal(pending(w), 1);
	d = pop(w);
	assert_int_equal(d.len, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN);
	assert_int_not_equal(get32(d.buf + 4), first_index);
	route(w, &d);
	assert_int_equal(b->ngot, 2);		/* a KEEPALIVE is not delivered */
	assert_int_equal(b->st.handshakes_done, 2);
	/* the datagram of the old session still arrives */
	route(w, &old_data);
	assert_int_equal(b->ngot, 3);
	check_got(b, 2, a, NULL, 3, "in flight");
	/* new messages use the new session, both ways */
	send_text(a, b, 4, "new session");
	assert_int_not_equal(get32(peek(w, 0)->buf + 4), first_index);
	send_text(b, a, 5, "back");
	pump(w);
	assert_int_equal(b->ngot, 4);
	assert_int_equal(a->ngot, 1);
	assert_int_equal(a->st.handshakes_started, 2);
	assert_int_equal(b->st.handshakes_started, 0);
	/* the responder renews KBR_REKEY_GRACE_MS later than the initiator would */
	w->now = b_created + 2000 + KBR_REKEY_GRACE_MS - 1;
	send_text(b, a, 6, "not yet");
	assert_int_equal(b->st.handshakes_started, 0);
	pump(w);
	w->now = b_created + 2000 + KBR_REKEY_GRACE_MS;
	send_text(b, a, 7, "now");
	assert_int_equal(b->st.handshakes_started, 1);
	pump(w);
	assert_int_equal(a->ngot, 3);
	send_text(b, a, 8, "renewed");
	send_text(a, b, 9, "fine");
	pump(w);
	assert_int_equal(a->ngot, 4);
	assert_int_equal(b->ngot, 5);

	/* a session is never used past rekey_after_ms + KBR_REJECT_AFTER_MS_EXTRA */
	send_text(a, b, 10, "very late");
	d = pop(w);
	drop_all(w);
	w->now += 2000 + KBR_REJECT_AFTER_MS_EXTRA;
	route(w, &d);
	assert_int_equal(b->ngot, 5);
	assert_true(b->st.dropped_index >= 1);
	assert_false(established(a, b));
	world_free(w);
}

static void
rekey_after_messages(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *a, *b;

	(void)state;
	cfg_test(&cfg);
	cfg.rekey_after_msgs = 5;
	a = node_add_cfg(w, &cfg);
	b = node_add_cfg(w, &cfg);
	for (uint64_t i = 0; i < 12; i++) {
		send_text(a, b, i, "m");
		pump(w);
		w->now += 10;
	}
	assert_int_equal(b->ngot, 12);
	assert_true(a->st.handshakes_started >= 3);
	assert_int_equal(a->st.dropped_tag + b->st.dropped_tag + b->st.dropped_index, 0);
	world_free(w);
}

static void
suspect_and_restarted_peer(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d;

	(void)state;
	connect_nodes(a, b);
	/* suspect: the next message goes in the session, and again in a new one */
	w->now += 1000;
	kbr_session_suspect(a->s, &b->id->id);
	send_text(a, b, 2, "renewed");
	assert_int_equal(pending(w), 2);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_DATA);
	assert_int_equal(ptype(peek(w, 1)), KBR_PKT_HS_INIT);
	pump(w);
	assert_int_equal(b->ngot, 3);
	check_got(b, 1, a, NULL, 2, "renewed");
	check_got(b, 2, a, NULL, 2, "renewed");
	assert_int_equal(a->st.handshakes_started, 2);
	assert_int_equal(b->st.handshakes_done, 2);
	/* an answer cleared the suspicion: no more handshakes */
	send_text(b, a, 3, "answer");
	pump(w);
	send_text(a, b, 4, "plain");
	assert_int_equal(pending(w), 1);
	pump(w);
	assert_int_equal(b->ngot, 4);
	assert_int_equal(a->st.handshakes_started, 2);

	/* b restarts and has forgotten every session */
	w->now += 100;
	kbr_sessions_free(b->s);
	memset(&b->st, 0, sizeof(b->st));
	b->ngot = 0;
	node_start(b);
	send_text(a, b, 3, "lost");
	d = pop(w);
	assert_int_equal(ptype(&d), KBR_PKT_DATA);
	route(w, &d);
	assert_int_equal(b->st.dropped_index, 1);
	assert_int_equal(pending(w), 0);
	/* a's caller noticed the missing answer */
	kbr_session_suspect(a->s, &b->id->id);
	send_text(a, b, 4, "after the restart");
	pump(w);
	assert_int_equal(b->st.dropped_index, 2);	/* the copy in the old session */
	assert_int_equal(b->ngot, 1);
	check_got(b, 0, a, NULL, 4, "after the restart");
	send_text(b, a, 5, "hello again");
	pump(w);
	check_got(a, 1, b, NULL, 5, "hello again");
	world_free(w);
}

/* ---- bounded tables ---- */

static void
least_recently_used_evicted(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *b, *a1, *a2, *a3;
	struct dgram d;

	(void)state;
	cfg_test(&cfg);
	cfg.max_peers = 2;
	b = node_add_cfg(w, &cfg);
	a1 = node_add(w);
	a2 = node_add(w);
	a3 = node_add(w);
	connect_nodes(a1, b);
	w->now += 10;
	connect_nodes(a2, b);
	w->now += 10;
	send_text(a1, b, 2, "a1 again");	/* a2 is now the least recently used */
	pump(w);
	w->now += 10;
	connect_nodes(a3, b);
	assert_int_equal(b->st.sessions_evicted, 1);
	assert_int_equal(kbr_sessions_count(b->s), 2);
	assert_false(established(b, a2));
	assert_true(established(b, a1));
	assert_true(established(b, a3));
	/* a2's session is gone at b */
	send_text(a2, b, 3, "a2");
	d = pop(w);
	route(w, &d);
	assert_int_equal(b->st.dropped_index, 1);
	size_t got = b->ngot;
	send_text(a1, b, 4, "a1");
	send_text(a3, b, 5, "a3");
	pump(w);
	assert_int_equal(b->ngot, got + 2);
	/* a2 comes back through a new handshake, and someone else makes room */
	kbr_session_suspect(a2->s, &b->id->id);
	w->now += 10;
	send_text(a2, b, 6, "a2 back");
	pump(w);
	assert_int_equal(b->ngot, got + 3);
	check_got(b, got + 2, a2, NULL, 6, "a2 back");
	assert_int_equal(b->st.dropped_index, 2);
	assert_int_equal(b->st.sessions_evicted, 2);
	assert_int_equal(kbr_sessions_count(b->s), 2);
	world_free(w);
}

static void
memory_follows_the_sessions(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *b, *small;
	size_t m0, m1 = 0, m20 = 0, m40, s4 = 0, s30;

	(void)state;
	b = node_add(w);
	cfg_test(&cfg);
	cfg.max_peers = 4;
	small = node_add_cfg(w, &cfg);
	m0 = kbr_sessions_memory(b->s);
	assert_true(m0 > 0);
	for (unsigned i = 0; i < 40; i++) {
		struct node *a = node_add(w);

		connect_nodes(a, b);
		connect_nodes(a, small);
		w->now += 10;
		if (i == 0)
			m1 = kbr_sessions_memory(b->s);
		if (i == 3)
			s4 = kbr_sessions_memory(small->s);
		if (i == 19)
			m20 = kbr_sessions_memory(b->s);
	}
	m40 = kbr_sessions_memory(b->s);
	s30 = kbr_sessions_memory(small->s);
	assert_int_equal(kbr_sessions_count(b->s), 40);
	assert_int_equal(kbr_sessions_count(small->s), 4);
	assert_true(m1 > m0);
	assert_true(m20 > m1);
	assert_true(m40 > m20);
	/* at its limit, the table does not grow */
	assert_int_equal(s30, s4);
	assert_int_equal(small->st.sessions_evicted, 36);
	/* messages waiting for a handshake count too */
	size_t before = kbr_sessions_memory(b->s);
	struct nodeid stranger;
	memset(&stranger, 0x42, sizeof(stranger));
	uint8_t msg[KBR_MAX_MSG];
	size_t n = make_msg(1, "waiting", msg);
	struct kbr_addr nowhere;
	addr_of(&nowhere, 999, 9);
	assert_int_equal(kbr_session_send(b->s, w->now, &stranger, &nowhere, msg, n), 0);
	assert_true(kbr_sessions_memory(b->s) > before);
	drop_all(w);
	world_free(w);
}

/* ---- HELLO: from an address to a node ID ---- */

static void
hello_finds_the_node_behind_an_address(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram hello, ident, bad;
	uint8_t msg[KBR_MAX_MSG];
	size_t n;

	(void)state;
	n = make_msg(1, "who is there", msg);
	assert_int_equal(kbr_session_send(a->s, w->now, NULL, &b->addr, msg, n), 0);
	n = make_msg(2, "and again", msg);
	assert_int_equal(kbr_session_send(a->s, w->now, NULL, &b->addr, msg, n), 0);
	assert_int_equal(pending(w), 1);		/* one HELLO for both */
	hello = pop(w);
	assert_int_equal(ptype(&hello), KBR_PKT_HELLO);
	/* nonzero padding: malformed, unanswered */
	bad = hello;
	bad.buf[63] = 1;
	route(w, &bad);
	assert_int_equal(b->st.dropped_malformed, 1);
	assert_int_equal(pending(w), 0);
	route(w, &hello);
	ident = pop(w);
	assert_int_equal(ptype(&ident), KBR_PKT_IDENTITY);
	assert_memory_equal(ident.buf + 8, b->id->pub, ID_PUBKEY_LEN);
	/* an IDENTITY for an index a never sent */
	bad = ident;
	bad.buf[4] ^= 0xff;
	route(w, &bad);
	assert_int_equal(a->st.dropped_handshake, 1);
	/* one whose nonce fails the puzzle */
	bad = ident;
	for (int i = 0; i < 256; i++) {
		bad.buf[40 + NODEID_LEN - 1] = (uint8_t)i;
		if (!puzzle_dynamic_ok(&b->id->id, (const struct nodeid *)(bad.buf + 40), 4))
			break;
	}
	route(w, &bad);
	assert_int_equal(a->st.dropped_puzzle, 1);
	assert_int_equal(pending(w), 0);
	/* the real one: a handshake with b's ID at that address, then both messages */
	route(w, &ident);
	assert_int_equal(pending(w), 1);
	assert_int_equal(ptype(peek(w, 0)), KBR_PKT_HS_INIT);
	assert_memory_equal(peek(w, 0)->buf + 8, b->id->id.b, NODEID_LEN);
	pump(w);
	assert_int_equal(b->ngot, 2);
	check_got(b, 0, a, NULL, 1, "who is there");
	check_got(b, 1, a, NULL, 2, "and again");
	assert_true(established(a, b));
	/* the same IDENTITY again: its HELLO is done */
	route(w, &ident);
	assert_int_equal(a->st.dropped_handshake, 2);
	assert_int_equal(pending(w), 0);

	/* a HELLO to its own address finds itself, and goes no further */
	n = make_msg(3, "me?", msg);
	assert_int_equal(kbr_session_send(a->s, w->now, NULL, &a->addr, msg, n), 0);
	pump(w);
	assert_int_equal(a->st.dropped_handshake, 3);
	assert_int_equal(a->ngot, 0);
	assert_int_equal(a->st.handshakes_started, 1);
	world_free(w);
}

static void
version_and_garbage_dropped(void **state)
{
	struct world *w = world_new();
	struct node *a = node_add(w), *b = node_add(w);
	struct dgram d;
	uint64_t rng = 99;

	(void)state;
	connect_nodes(a, b);
	send_text(a, b, 2, "v");
	d = pop(w);
	d.buf[0] = 1;
	route(w, &d);
	d.buf[0] = 3;
	route(w, &d);
	assert_int_equal(b->st.dropped_version, 2);
	for (int i = 0; i < 2000; i++) {
		struct dgram g;

		g.from = a->addr;
		g.to = b->addr;
		g.len = xorshift(&rng) % (KBR_MAX_DATAGRAM + 1);
		for (size_t j = 0; j < g.len; j++)
			g.buf[j] = (uint8_t)xorshift(&rng);
		if (g.len >= 4 && i % 2 == 0) {
			g.buf[0] = KBR_VERSION;
			g.buf[1] = (uint8_t)(1 + i % 6);
			g.buf[2] = g.buf[3] = 0;
		}
		route(w, &g);
	}
	assert_int_equal(b->ngot, 1);
	assert_int_equal(pending(w), 0);
	/* still talking */
	d.buf[0] = KBR_VERSION;
	route(w, &d);
	assert_int_equal(b->ngot, 2);
	world_free(w);
}

/* ---- crypto off (simulators) ---- */

static void
crypto_off_end_to_end(void **state)
{
	struct world *w = world_new();
	struct kbr_session_cfg cfg;
	struct node *a, *b;
	struct dgram d;

	(void)state;
	cfg_test(&cfg);
	cfg.crypto = false;
	a = node_add_cfg(w, &cfg);
	b = node_add_cfg(w, &cfg);
	connect_nodes(a, b);
	send_text(a, b, 2, "plain");
	d = pop(w);
	/* nothing sealed: the message as it is, and a zero tag */
	assert_int_equal(d.buf[KBR_DATA_HEADER_LEN], MSG_APP);
	assert_memory_equal(d.buf + KBR_DATA_HEADER_LEN + KBR_MSG_HEADER_LEN, "plain", 5);
	for (size_t i = d.len - KBR_TAG_LEN; i < d.len; i++)
		assert_int_equal(d.buf[i], 0);
	route(w, &d);
	route(w, &d);
	assert_int_equal(b->ngot, 2);
	assert_int_equal(b->st.dropped_replay, 1);
	send_text(b, a, 3, "back");
	pump(w);
	check_got(a, 0, b, NULL, 3, "back");
	/* roaming still asks the new address first */
	a->addr.port++;
	send_text(a, b, 4, "moved");
	pump(w);
	assert_int_equal(b->st.challenges_sent, 1);
	assert_int_equal(b->st.roams, 1);
	check_got(b, 2, a, &a->addr, 4, "moved");
	world_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_and_messages_both_ways),
		cmocka_unit_test(queued_messages_wait_for_the_handshake),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(simultaneous_open),
		cmocka_unit_test(replayed_data_dropped),
		cmocka_unit_test(forged_data_dropped),
		cmocka_unit_test(unknown_index_dropped),
		cmocka_unit_test(truncated_handshakes_dropped),
		cmocka_unit_test(unexpected_hs_resp_dropped),
		cmocka_unit_test(init_for_another_node_dropped),
		cmocka_unit_test(init_failing_the_puzzles_dropped),
		cmocka_unit_test(resp_from_the_wrong_key_dropped),
		cmocka_unit_test(init_timestamps_checked),
		cmocka_unit_test(replayed_init_dropped),
		cmocka_unit_test(cookies_under_load),
		cmocka_unit_test(handshake_rate_limited),
		cmocka_unit_test(no_amplification),
		cmocka_unit_test(roaming_needs_an_answered_challenge),
		cmocka_unit_test(one_challenge_per_peer_at_a_time),
		cmocka_unit_test(captured_data_from_elsewhere_moves_nothing),
		cmocka_unit_test(captured_datagrams_useless_at_another_node),
		cmocka_unit_test(deliver_callback_may_send),
		cmocka_unit_test(handshakes_given_up_and_halfopen_expired),
		cmocka_unit_test(rekey_keeps_messages_flowing),
		cmocka_unit_test(rekey_after_messages),
		cmocka_unit_test(suspect_and_restarted_peer),
		cmocka_unit_test(least_recently_used_evicted),
		cmocka_unit_test(memory_follows_the_sessions),
		cmocka_unit_test(hello_finds_the_node_behind_an_address),
		cmocka_unit_test(version_and_garbage_dropped),
		cmocka_unit_test(crypto_off_end_to_end),
	};

	return cmocka_run_group_tests_name("kbr/session", tests, NULL, NULL);
}
