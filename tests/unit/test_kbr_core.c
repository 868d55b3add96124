/* Tests for kbr/kbr.c driven with hand-made datagrams and a fake clock: admission after a
 * signed answer, PONG addresses, replays, forged signatures, failing puzzles, stale
 * timestamps, malformed input, unsolicited replies, timeouts and retries, rate limits, the
 * ID/locator split; and a small in-memory overlay in which every lookup finds its node. */
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
#include "kbr/table.h"
#include "kbr/wire.h"
#include "puzzle/puzzle.h"

#define T0 1767225600000ULL

enum { MAX_SENT = 4096, NET_MAX = 64 };

struct sent {
	struct kbr_addr to;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t len;
};

/* The world of one test: captured datagrams and a deterministic random source. */
struct world {
	struct sent *sent;
	size_t nsent;
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
w_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct world *w = arg;

	assert_true(len <= KBR_MAX_DATAGRAM);
	if (w->nsent == MAX_SENT)
		return;
	w->sent[w->nsent].to = *to;
	memcpy(w->sent[w->nsent].buf, buf, len);
	w->sent[w->nsent].len = len;
	w->nsent++;
}

static void
w_random(void *arg, void *buf, size_t len)
{
	struct world *w = arg;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift(&w->rng);
}

static struct identity *
ident_from(uint8_t tag, unsigned c2)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;

	memset(seed, tag, sizeof(seed));
	assert_int_equal(identity_from_seed(&id, seed, c2), 0);
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

struct fixture {
	struct world w;
	struct identity *self, *peer;
	struct kbr *k;
	struct kbr_addr peer_addr;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kbr_params p;
	struct kbr_io io = {0};

	f->w.sent = calloc(MAX_SENT, sizeof(*f->w.sent));
	f->w.rng = 42;
	f->self = ident_from(1, 4);
	f->peer = ident_from(2, 4);
	params(&p);
	io.arg = &f->w;
	io.send = w_send;
	io.random = w_random;
	f->k = kbr_new(&p, f->self, &io);
	assert_non_null(f->k);
	addr_of(&f->peer_addr, 2, 4000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	kbr_free(f->k);
	identity_free(f->self);
	identity_free(f->peer);
	free(f->w.sent);
	free(f);
	return 0;
}

static size_t
make(const struct identity *from, uint8_t type, uint64_t tid, uint64_t ts, uint8_t *buf)
{
	struct kbr_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tid = tid;
	m.timestamp = ts;
	if (type == KBR_FIND_NODE) {
		m.u.find.target = from->id;
		m.u.find.count = 16;
	}
	if (type == KBR_PONG)
		addr_of(&m.u.observed, 1, 3631);
	n = kbr_wire_encode(&m, from, buf, KBR_MAX_DATAGRAM);
	assert_true(n > 0);
	return (size_t)n;
}

/* Decodes sent datagram i (which must be valid and signed by the node under test). */
static void
sent_msg(const struct fixture *f, size_t i, struct kbr_msg *m)
{
	assert_true(i < f->w.nsent);
	assert_int_equal(kbr_wire_decode(m, f->w.sent[i].buf, f->w.sent[i].len), 0);
	assert_int_equal(kbr_wire_verify(m, 0, 4), 0);
	assert_true(nodeid_eq(&m->sender, &f->self->id));
}

static struct kbr_stats
stats(const struct fixture *f)
{
	struct kbr_stats st;

	kbr_get_stats(f->k, &st);
	return st;
}

static void
stranger_admitted_after_answering(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	struct kbr_msg m, ping;
	struct kbr_contact c;
	size_t n = make(f->peer, KBR_PING, 77, T0, buf);

	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	/* a PONG telling the peer its address, and an admission PING */
	assert_int_equal(f->w.nsent, 2);
	sent_msg(f, 0, &m);
	assert_int_equal(m.type, KBR_PONG);
	assert_int_equal(m.tid, 77);
	assert_true(kbr_addr_eq(&m.u.observed, &f->peer_addr));
	assert_true(kbr_addr_eq(&f->w.sent[0].to, &f->peer_addr));
	sent_msg(f, 1, &ping);
	assert_int_equal(ping.type, KBR_PING);
	/* not in the table before it answered */
	assert_int_equal(kbr_table_size(kbr_get_table(f->k)), 0);
	n = make(f->peer, KBR_PONG, ping.tid, T0 + 5, buf);
	kbr_input(f->k, T0 + 5, buf, n, &f->peer_addr);
	assert_int_equal(kbr_table_size(kbr_get_table(f->k)), 1);
	assert_int_equal(kbr_table_find(kbr_get_table(f->k), &f->peer->id, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &f->peer_addr));

	/* ID/locator split: a signed message from a new address moves the contact */
	struct kbr_addr moved;
	addr_of(&moved, 3, 5000);
	n = make(f->peer, KBR_FIND_NODE, 78, T0 + 10, buf);
	kbr_input(f->k, T0 + 10, buf, n, &moved);
	assert_int_equal(kbr_table_find(kbr_get_table(f->k), &f->peer->id, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &moved));
	sent_msg(f, f->w.nsent - 1, &m);
	assert_int_equal(m.type, KBR_NODES);
	assert_int_equal(m.tid, 78);
	assert_true(kbr_addr_eq(&f->w.sent[f->w.nsent - 1].to, &moved));
	/* the answer to the PONG replay: nothing, it is no longer in flight */
	n = make(f->peer, KBR_PONG, ping.tid, T0 + 11, buf);
	kbr_input(f->k, T0 + 11, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_unsolicited, 1);
}

static void
replay_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n = make(f->peer, KBR_PING, 99, T0, buf);

	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	size_t before = f->w.nsent;
	kbr_input(f->k, T0 + 1000, buf, n, &f->peer_addr);
	kbr_input(f->k, T0 + 20000, buf, n, &f->peer_addr);
	assert_int_equal(f->w.nsent, before);
	assert_int_equal(stats(f).dropped_replay, 2);
	/* the same transaction id from another sender is a different request */
	struct identity *other = ident_from(3, 4);
	n = make(other, KBR_PING, 99, T0 + 2, buf);
	kbr_input(f->k, T0 + 2, buf, n, &f->peer_addr);
	assert_true(f->w.nsent > before);
	identity_free(other);
}

static void
forged_signature_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n = make(f->peer, KBR_PING, 5, T0, buf);

	buf[n - 1] ^= 0x40;
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	buf[n - 1] ^= 0x40;
	buf[10] ^= 0x01;	/* the transaction id: signed, so the signature no longer matches */
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(f->w.nsent, 0);
	assert_int_equal(stats(f).dropped_signature, 2);
	/* a forged message does not poison the replay cache: the real one still gets in */
	buf[10] ^= 0x01;
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_true(f->w.nsent > 0);
}

static void
puzzle_failing_id_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	struct kbr_params p;
	struct kbr_io io = {.arg = &f->w, .send = w_send, .random = w_random};
	struct identity *strong, *weak = NULL;
	struct kbr *k;

	/* a node of an overlay with c1 = 6, c2 = 6 */
	struct identity_solve solve = {.c1 = 6, .c2 = 6, .threads = 1};
	assert_int_equal(identity_create(&strong, &solve), 0);
	params(&p);
	p.c1 = 6;
	p.c2 = 6;
	k = kbr_new(&p, strong, &io);
	assert_non_null(k);
	/* an identity below c1 cannot even create a node there */
	for (uint8_t tag = 10; weak == NULL; tag++) {
		struct identity *t = ident_from(tag, 6);

		if (puzzle_static_bits(&t->id) < 6)
			weak = t;
		else
			identity_free(t);
	}
	assert_null(kbr_new(&p, weak, &io));
	size_t n = make(weak, KBR_PING, 1, T0, buf);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	struct kbr_stats st;
	kbr_get_stats(k, &st);
	assert_int_equal(st.dropped_puzzle, 1);
	assert_int_equal(f->w.nsent, 0);
	/* a good ID with a wrong dynamic nonce: patch the nonce (it is signed too, so
	 * rejected either way, but the puzzle check comes first) */
	struct identity *good = NULL;
	for (uint8_t tag = 100; good == NULL; tag++) {
		struct identity *t = ident_from(tag, 6);

		if (puzzle_static_bits(&t->id) >= 6)
			good = t;
		else
			identity_free(t);
	}
	n = make(good, KBR_PING, 2, T0, buf);
	memset(buf + 76, 0xee, NODEID_LEN);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	kbr_get_stats(k, &st);
	if (!puzzle_dynamic_ok(&good->id, (const struct nodeid *)(buf + 76), 6))
		assert_int_equal(st.dropped_puzzle, 2);
	/* and unpatched it is answered */
	n = make(good, KBR_PING, 3, T0, buf);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	assert_true(f->w.nsent > 0);
	kbr_free(k);
	identity_free(strong);
	identity_free(weak);
	identity_free(good);
}

static void
stale_timestamps_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n;

	n = make(f->peer, KBR_PING, 1, T0 - 30001, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	n = make(f->peer, KBR_PING, 2, T0 + 30001, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_time, 2);
	assert_int_equal(f->w.nsent, 0);
	n = make(f->peer, KBR_PING, 3, T0 - 29000, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_true(f->w.nsent > 0);
}

static void
malformed_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM + 100];
	size_t n = make(f->peer, KBR_FIND_NODE, 1, T0, buf);
	struct kbr_addr none;

	for (size_t len = 0; len < n; len++)
		kbr_input(f->k, T0, buf, len, &f->peer_addr);
	memset(buf + n, 0, 100);
	kbr_input(f->k, T0, buf, n + 1, &f->peer_addr);
	kbr_input(f->k, T0, buf, KBR_MAX_DATAGRAM + 100, &f->peer_addr);
	kbr_input(f->k, T0, NULL, 0, &f->peer_addr);
	memset(&none, 0, sizeof(none));
	kbr_input(f->k, T0, buf, n, &none);
	assert_int_equal(stats(f).dropped_malformed, n + 4);
	buf[4] = 9;
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_version, 1);
	/* a DHT type this layer does not handle yet */
	buf[4] = KBR_VERSION;
	buf[5] = KBR_APP_MIN;
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(f->w.nsent, 0);
	/* a message from our own ID (a reflection) */
	n = make(f->self, KBR_PING, 1, T0, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(f->w.nsent, 0);
}

static void
unsolicited_replies_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];
	struct kbr_msg ping;
	struct identity *other = ident_from(7, 4);
	size_t n;

	n = make(f->peer, KBR_PONG, 12345, T0, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	n = make(f->peer, KBR_NODES, 12346, T0, buf);
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_unsolicited, 2);
	/* bootstrap PING to an address: an answer from another address does not count */
	assert_int_equal(kbr_bootstrap(f->k, T0, &f->peer_addr), 0);
	sent_msg(f, f->w.nsent - 1, &ping);
	struct kbr_addr elsewhere;
	addr_of(&elsewhere, 9, 9);
	n = make(other, KBR_PONG, ping.tid, T0 + 1, buf);
	kbr_input(f->k, T0 + 1, buf, n, &elsewhere);
	assert_int_equal(stats(f).dropped_unsolicited, 3);
	assert_int_equal(kbr_table_size(kbr_get_table(f->k)), 0);
	/* the right answer: the bootstrap node enters the table, the join lookup starts */
	size_t before = f->w.nsent;
	n = make(f->peer, KBR_PONG, ping.tid, T0 + 2, buf);
	kbr_input(f->k, T0 + 2, buf, n, &f->peer_addr);
	assert_int_equal(kbr_table_size(kbr_get_table(f->k)), 1);
	struct kbr_msg find;
	assert_true(f->w.nsent > before);
	sent_msg(f, before, &find);
	assert_int_equal(find.type, KBR_FIND_NODE);
	assert_true(nodeid_eq(&find.u.find.target, &f->self->id));
	/* its observed address was recorded */
	struct kbr_addr obs, want;
	kbr_observed_addr(f->k, &obs);
	addr_of(&want, 1, 3631);
	assert_true(kbr_addr_eq(&obs, &want));
	identity_free(other);
}

static void
timeouts_and_retries(void **state)
{
	struct fixture *f = *state;
	struct kbr_msg first, second;
	uint64_t next;

	next = kbr_tick(f->k, T0);
	assert_int_equal(kbr_bootstrap(f->k, T0, &f->peer_addr), 0);
	assert_int_equal(f->w.nsent, 1);
	sent_msg(f, 0, &first);
	next = kbr_tick(f->k, T0 + 999);
	assert_int_equal(next, T0 + 1000);
	assert_int_equal(f->w.nsent, 1);
	kbr_tick(f->k, T0 + 1000);
	assert_int_equal(f->w.nsent, 2);	/* one retry, with a fresh transaction id */
	sent_msg(f, 1, &second);
	assert_int_equal(second.type, KBR_PING);
	assert_int_not_equal(second.tid, first.tid);
	kbr_tick(f->k, T0 + 2000);
	assert_int_equal(stats(f).rpcs_timed_out, 1);
	assert_int_equal(f->w.nsent, 2);
	/* a late answer to either attempt is unsolicited now */
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n = make(f->peer, KBR_PONG, second.tid, T0 + 2001, buf);
	kbr_input(f->k, T0 + 2001, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_unsolicited, 1);
	/* with the table empty, maintenance pings the bootstrap address again */
	kbr_tick(f->k, T0 + 60000);
	assert_true(f->w.nsent > 2);
}

static void
rate_limited(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[KBR_MAX_DATAGRAM];

	/* 1000 valid PINGs from one address in the same millisecond: the burst allowance
	 * (2 s worth) passes, the rest is dropped before any signature is checked */
	for (uint64_t i = 0; i < 1000; i++) {
		size_t n = make(f->peer, KBR_PING, 1000 + i, T0, buf);

		kbr_input(f->k, T0, buf, n, &f->peer_addr);
	}
	assert_int_equal(stats(f).dropped_rate, 1000 - 2 * 200);
	/* another source is not affected, and the first recovers with time */
	struct kbr_addr other;
	addr_of(&other, 50, 1);
	size_t n = make(f->peer, KBR_PING, 5000, T0, buf);
	kbr_input(f->k, T0, buf, n, &other);
	assert_int_equal(stats(f).dropped_rate, 1000 - 2 * 200);
	n = make(f->peer, KBR_PING, 5001, T0 + 1000, buf);
	kbr_input(f->k, T0 + 1000, buf, n, &f->peer_addr);
	assert_int_equal(stats(f).dropped_rate, 1000 - 2 * 200);
}

/* ---- application messages (the DHT's) ---- */

struct app_answer {
	int calls, status;
	uint8_t type;
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
	assert_true(len < sizeof(a->body));
	if (len > 0)
		memcpy(a->body, body, len);
	a->body[len] = '\0';
}

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

static size_t
make_app(const struct identity *from, uint8_t type, uint64_t tid, uint64_t ts, const char *body,
    uint8_t *buf)
{
	struct kbr_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tid = tid;
	m.timestamp = ts;
	m.u.app.data = (const uint8_t *)body;
	m.u.app.len = strlen(body);
	n = kbr_wire_encode(&m, from, buf, KBR_MAX_DATAGRAM);
	assert_true(n > 0);
	return (size_t)n;
}

static void
app_requests_answered_and_timed_out(void **state)
{
	struct fixture *f = *state;
	struct kbr_contact peer;
	struct app_answer a = {0}, late = {0};
	struct kbr_msg req;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n;

	memset(&peer, 0, sizeof(peer));
	peer.id = f->peer->id;
	peer.addr = f->peer_addr;
	/* bad arguments: even type, out of range, to self, no callback */
	assert_int_equal(kbr_app_request(f->k, T0, &peer, 6, NULL, 0, on_app_answer, &a), -EINVAL);
	assert_int_equal(kbr_app_request(f->k, T0, &peer, 17, NULL, 0, on_app_answer, &a), -EINVAL);
	assert_int_equal(kbr_app_request(f->k, T0, &peer, 5, NULL, 0, NULL, &a), -EINVAL);
	struct kbr_contact me = peer;
	me.id = f->self->id;
	assert_int_equal(kbr_app_request(f->k, T0, &me, 5, NULL, 0, on_app_answer, &a), -EINVAL);
	assert_int_equal(f->w.nsent, 0);

	/* a request goes out signed, with its body; the answer comes back to the callback */
	assert_int_equal(kbr_app_request(f->k, T0, &peer, 5, (const uint8_t *)"store", 5,
	    on_app_answer, &a), 0);
	assert_int_equal(a.calls, 0);
	sent_msg(f, 0, &req);
	assert_int_equal(req.type, 5);
	assert_int_equal(req.u.app.len, 5);
	assert_memory_equal(req.u.app.data, "store", 5);
	/* an answer of the wrong type, or from another node, is not it */
	n = make_app(f->peer, 8, req.tid, T0 + 1, "nope", buf);
	kbr_input(f->k, T0 + 1, buf, n, &f->peer_addr);
	struct identity *other = ident_from(9, 4);
	n = make_app(other, 6, req.tid, T0 + 1, "nope", buf);
	kbr_input(f->k, T0 + 1, buf, n, &f->peer_addr);
	assert_int_equal(a.calls, 0);
	assert_int_equal(stats(f).dropped_unsolicited, 2);
	n = make_app(f->peer, 6, req.tid, T0 + 2, "erots", buf);
	kbr_input(f->k, T0 + 2, buf, n, &f->peer_addr);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.type, 6);
	assert_string_equal(a.body, "erots");
	/* the same answer again is a replay of an answer: nothing */
	kbr_input(f->k, T0 + 3, buf, n, &f->peer_addr);
	assert_int_equal(a.calls, 1);

	/* no answer: one retry with the same body, then -ETIMEDOUT, exactly once */
	size_t before = f->w.nsent;
	assert_int_equal(kbr_app_request(f->k, T0 + 10, &peer, 7, (const uint8_t *)"get", 3,
	    on_app_answer, &late), 0);
	kbr_tick(f->k, T0 + 1010);
	assert_int_equal(f->w.nsent, before + 2);
	sent_msg(f, before + 1, &req);
	assert_int_equal(req.type, 7);
	assert_memory_equal(req.u.app.data, "get", 3);
	assert_int_equal(late.calls, 0);
	kbr_tick(f->k, T0 + 2010);
	kbr_tick(f->k, T0 + 5000);
	assert_int_equal(late.calls, 1);
	assert_int_equal(late.status, -ETIMEDOUT);
	identity_free(other);
}

static void
app_requests_served_by_the_layer_above(void **state)
{
	struct fixture *f = *state;
	struct kbr_params p;
	struct kbr_io io = {.arg = &f->w, .send = w_send, .random = w_random,
	    .app_request = reverse_app};
	struct kbr *k;
	struct kbr_msg m;
	uint8_t buf[KBR_MAX_DATAGRAM];
	size_t n;

	params(&p);
	k = kbr_new(&p, f->self, &io);
	assert_non_null(k);
	n = make_app(f->peer, 5, 42, T0, "hello", buf);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	sent_msg(f, 0, &m);
	assert_int_equal(m.type, 6);
	assert_int_equal(m.tid, 42);
	assert_int_equal(m.u.app.len, 5);
	assert_memory_equal(m.u.app.data, "olleh", 5);
	assert_true(kbr_addr_eq(&f->w.sent[0].to, &f->peer_addr));
	/* replayed: dropped before the layer above sees it */
	size_t before = f->w.nsent;
	kbr_input(k, T0 + 5, buf, n, &f->peer_addr);
	assert_int_equal(f->w.nsent, before);
	/* a type the layer does not answer, and an unsolicited answer type */
	n = make_app(f->peer, 9, 43, T0, "x", buf);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	n = make_app(f->peer, 6, 44, T0, "x", buf);
	kbr_input(k, T0, buf, n, &f->peer_addr);
	for (size_t i = before; i < f->w.nsent; i++) {
		sent_msg(f, i, &m);
		assert_int_not_equal(m.type, 10);
		assert_int_not_equal(m.type, 7);
	}
	struct kbr_stats st;
	kbr_get_stats(k, &st);
	assert_int_equal(st.app_requests_in, 2);
	assert_int_equal(st.dropped_unsolicited, 1);
	/* the node without a layer above answers nothing */
	n = make_app(f->peer, 5, 45, T0, "hello", buf);
	before = f->w.nsent;
	kbr_input(f->k, T0, buf, n, &f->peer_addr);
	for (size_t i = before; i < f->w.nsent; i++) {
		sent_msg(f, i, &m);
		assert_int_not_equal(m.type, 6);
	}
	kbr_free(k);
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
		net->ids[i] = ident_from((uint8_t)(i + 1), 4);
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

	/* node 5 restarts at a new address with the same identity (ID/locator split) */
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
		assert_int_equal(st.dropped_signature + st.dropped_puzzle + st.dropped_malformed, 0);
		assert_true(kbr_table_size(kbr_get_table(net->nodes[i])) > 0);
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
		cmocka_unit_test_setup_teardown(stranger_admitted_after_answering, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(forged_signature_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(puzzle_failing_id_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_timestamps_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(unsolicited_replies_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(timeouts_and_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(app_requests_answered_and_timed_out, setup, teardown),
		cmocka_unit_test_setup_teardown(app_requests_served_by_the_layer_above, setup,
		    teardown),
		cmocka_unit_test(overlay_lookups_find_every_node),
	};

	return cmocka_run_group_tests_name("kbr/kbr", tests, NULL, NULL);
}
