/* Tests for dht/dht.c on a small overlay in memory (real kbr, replicas and memory stores,
 * signed messages): put and get across nodes, updates, ownership, large records in chunks,
 * majority decisions against stale, forged and withheld answers, read repair, tombstones,
 * and puts that survive replicas that stopped answering. */
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

#include "dht/dht.h"
#include "dht/msg.h"
#include "dht/store.h"
#include "kbr/table.h"
#include "kbr/wire.h"

#define T0 1767225600000ULL
#define HOUR (3600ULL * 1000)

enum { NODES = 24, QCAP = 1 << 15 };

struct node {
	struct identity *ident;
	struct kbr *k;
	struct dht *d;
	struct dht_replica *rep;
	struct dht_store *store;
	struct kbr_addr addr;
	bool down;
	bool lure;		/* answers FIND_NODE with no one, and FIND_VALUE not at all */
	unsigned finds_swallowed;
	unsigned index;
	struct net *net;
};

struct packet {
	unsigned to;
	struct kbr_addr from;
	size_t len;
	uint8_t buf[KBR_MAX_DATAGRAM];
};

struct net {
	struct node n[NODES];
	struct packet *q;
	size_t qhead, qtail;
	uint64_t now, rng;
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
net_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct node *nd = arg;
	struct net *net = nd->net;

	for (unsigned i = 0; i < NODES; i++) {
		struct packet *p;

		if (!kbr_addr_eq(&net->n[i].addr, to))
			continue;
		if (net->qtail - net->qhead == QCAP)
			return;
		p = &net->q[net->qtail++ % QCAP];
		p->to = i;
		p->from = nd->addr;
		p->len = len;
		memcpy(p->buf, buf, len);
		return;
	}
}

static void
net_random(void *arg, void *buf, size_t len)
{
	struct node *nd = arg;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)xorshift(&nd->net->rng);
}

static uint8_t
net_app(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct node *nd = arg;

	return dht_handle_request(nd->d, now, from, type, body, len, answer, answer_len);
}

/* A lure looks like the node closest to every key (it names nobody closer) and never
 * gives a value: a get that trusted it would wait in vain or find nothing. */
static bool
net_intercept(void *arg, uint64_t now, const struct kbr_msg *req, const struct kbr_addr *from,
    struct kbr_msg *answer)
{
	struct node *nd = arg;

	(void)now;
	(void)from;
	if (!nd->lure)
		return false;
	if (req->type == KBR_FIND_NODE) {
		answer->type = KBR_NODES;
		answer->u.nodes.count = 0;
		return true;
	}
	if (req->type == DHT_FIND_VALUE) {
		nd->finds_swallowed++;
		answer->type = 0;
		return true;
	}
	return false;
}

/* Delivers datagrams (1 ms each) and runs timers until quiet or the time limit. */
static void
net_run(struct net *net, uint64_t until)
{
	for (unsigned rounds = 0; rounds < 2000000 && net->now < until; rounds++) {
		if (net->qhead != net->qtail) {
			struct packet p = net->q[net->qhead++ % QCAP];
			struct node *nd = &net->n[p.to];

			net->now++;
			if (!nd->down)
				kbr_input(nd->k, net->now, p.buf, p.len, &p.from);
			continue;
		}
		uint64_t next = UINT64_MAX;
		for (unsigned i = 0; i < NODES; i++) {
			uint64_t t = kbr_tick(net->n[i].k, net->now), u;

			u = dht_tick(net->n[i].d, net->now);
			if (t < next)
				next = t;
			if (u < next)
				next = u;
		}
		if (net->qhead != net->qtail)
			continue;
		net->now = next <= net->now ? net->now + 1 : (next < until ? next : until);
	}
}

static struct net *
net_build(void)
{
	struct net *net = calloc(1, sizeof(*net));
	struct kbr_params p;
	struct dht_params dp = {.r = DHT_DEFAULT_R};
	struct dht_replica_limits lim;

	assert_non_null(net);
	net->q = calloc(QCAP, sizeof(*net->q));
	assert_non_null(net->q);
	net->now = T0;
	net->rng = 99;
	kbr_params_default(&p);
	p.c1 = 0;
	p.c2 = 4;
	dht_replica_limits_default(&lim);
	for (unsigned i = 0; i < NODES; i++) {
		struct node *nd = &net->n[i];
		struct kbr_io io = {.arg = nd, .send = net_send, .random = net_random,
		    .app_request = net_app, .intercept = net_intercept};
		uint8_t seed[ID_SEED_LEN];

		memset(seed, (int)(i + 1), sizeof(seed));
		nd->net = net;
		nd->index = i;
		assert_int_equal(identity_from_seed(&nd->ident, seed, 4), 0);
		memset(&nd->addr, 0, sizeof(nd->addr));
		nd->addr.family = KBR_AF_INET;
		nd->addr.ip[0] = 127;
		nd->addr.ip[3] = (uint8_t)(i + 1);
		nd->addr.port = 3631;
		nd->k = kbr_new(&p, nd->ident, &io);
		nd->store = dht_store_mem_new(1000);
		nd->rep = dht_replica_new(nd->store, &lim);
		nd->d = dht_new(nd->k, nd->rep, &dp);
		assert_non_null(nd->k);
		assert_non_null(nd->d);
	}
	for (unsigned i = 1; i < NODES; i++) {
		assert_int_equal(kbr_bootstrap(net->n[i].k, net->now, &net->n[i / 2].addr), 0);
		net_run(net, net->now + 100);
	}
	net_run(net, net->now + 130 * 1000);
	return net;
}

static void
net_free(struct net *net)
{
	for (unsigned i = 0; i < NODES; i++) {
		struct node *nd = &net->n[i];

		dht_free(nd->d);
		kbr_free(nd->k);
		dht_replica_free(nd->rep);
		nd->store->ops->close(nd->store);
		identity_free(nd->ident);
	}
	free(net->q);
	free(net);
}

static int
setup(void **state)
{
	*state = net_build();
	return 0;
}

static int
teardown(void **state)
{
	net_free(*state);
	return 0;
}

static void
make_record(struct dht_record *r, const char *name, const struct identity *owner, uint64_t seq,
    uint64_t now, const char *value, size_t value_len)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(nodeid_sha1(&r->key, name, strlen(name)), 0);
	r->kind = 33;
	r->id = 0;
	r->seq = seq;
	r->expiry = now + HOUR;
	memcpy(r->owner, owner->pub, ID_PUBKEY_LEN);
	r->value_len = (uint16_t)value_len;
	memcpy(r->value, value, value_len);
	assert_int_equal(dht_record_sign(r, owner), 0);
}

struct put_result {
	bool done;
	int status;
	unsigned stored, asked;
	enum dht_reason refused;
};

static void
on_put(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	struct put_result *p = arg;

	p->done = true;
	p->status = status;
	p->stored = stored;
	p->asked = asked;
	p->refused = refused;
}

struct get_result {
	bool done;
	int status;
	struct dht_vote_result res;
};

static void
on_get(void *arg, int status, const struct dht_vote_result *res)
{
	struct get_result *g = arg;

	g->done = true;
	g->status = status;
	if (res != NULL)
		g->res = *res;
}

static struct put_result
put(struct net *net, unsigned via, const struct dht_record *r)
{
	struct put_result p = {0};

	uint64_t end = net->now + 30 * 1000;

	assert_int_equal(dht_put(net->n[via].d, net->now, r, on_put, &p), 0);
	while (!p.done && net->now < end)
		net_run(net, net->now + 100);
	assert_true(p.done);
	return p;
}

static struct get_result *
get(struct net *net, unsigned via, const struct nodeid *key)
{
	struct get_result *g = calloc(1, sizeof(*g));

	uint64_t end = net->now + 30 * 1000;

	assert_non_null(g);
	assert_int_equal(dht_get(net->n[via].d, net->now, key, on_get, g), 0);
	while (!g->done && net->now < end)
		net_run(net, net->now + 100);
	assert_true(g->done);
	assert_int_equal(g->status, 0);
	return g;
}

/* The nodes whose replica holds a record in r's slot (any seq); returns how many. */
static unsigned
holders(struct net *net, const struct dht_record *r, unsigned *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NODES; i++) {
		struct dht_record got[8];
		int k = dht_replica_find(net->n[i].rep, net->now, &r->key, got, 8);

		for (int j = 0; j < k; j++) {
			if (dht_record_same_slot(&got[j], r)) {
				out[n++] = i;
				break;
			}
		}
	}
	return n;
}

static bool
holds_exactly(struct net *net, unsigned i, const struct dht_record *r)
{
	struct dht_record got[8];
	int k = dht_replica_find(net->n[i].rep, net->now, &r->key, got, 8);

	for (int j = 0; j < k; j++)
		if (dht_record_equal(&got[j], r))
			return true;
	return false;
}

static void
put_then_get_everywhere(void **state)
{
	struct net *net = *state;
	struct dht_record r;
	unsigned h[NODES];

	make_record(&r, "sip:alice@example.org", net->n[0].ident, 1, net->now, "10.0.0.1:5060",
	    13);
	struct put_result p = put(net, 0, &r);
	assert_int_equal(p.status, 0);
	assert_int_equal(p.asked, DHT_DEFAULT_R);
	assert_int_equal(p.stored, DHT_DEFAULT_R);
	assert_int_equal(holders(net, &r, h), DHT_DEFAULT_R);
	for (unsigned via = 0; via < NODES; via++) {
		struct get_result *g = get(net, via, &r.key);

		assert_int_equal(g->res.status, DHT_VOTE_FOUND);
		assert_int_equal(g->res.nrecords, 1);
		assert_true(dht_record_equal(&g->res.records[0], &r));
		free(g);
	}
	/* an unknown name: empty, not a conflict */
	struct nodeid unknown;
	assert_int_equal(nodeid_sha1(&unknown, "nobody", 6), 0);
	struct get_result *g = get(net, 3, &unknown);
	assert_int_equal(g->res.status, DHT_VOTE_EMPTY);
	free(g);

	/* the owner updates it from another node; the newer seq wins everywhere */
	struct dht_record r2;
	make_record(&r2, "sip:alice@example.org", net->n[0].ident, 2, net->now, "10.0.0.2:5060",
	    13);
	assert_int_equal(put(net, 7, &r2).status, 0);
	g = get(net, 11, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	assert_true(dht_record_equal(&g->res.records[0], &r2));
	free(g);

	/* another key cannot take the name: a clear refusal, nothing changed */
	struct dht_record thief;
	make_record(&thief, "sip:alice@example.org", net->n[5].ident, 9, net->now, "6.6.6.6:1", 9);
	p = put(net, 5, &thief);
	assert_int_equal(p.status, -EIO);
	assert_int_equal(p.stored, 0);
	assert_int_equal(p.refused, DHT_ERR_FOREIGN_OWNER);
	g = get(net, 2, &r.key);
	assert_true(dht_record_equal(&g->res.records[0], &r2));
	free(g);
	/* the same seq again with other content is stale */
	struct dht_record same;
	make_record(&same, "sip:alice@example.org", net->n[0].ident, 2, net->now, "x", 1);
	p = put(net, 0, &same);
	assert_int_equal(p.status, -EIO);
	assert_int_equal(p.refused, DHT_ERR_STALE);
}

static void
large_records_travel_in_chunks(void **state)
{
	struct net *net = *state;
	struct dht_record r;
	char value[DHT_MAX_VALUE];

	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (char)('a' + i % 26);
	make_record(&r, "big", net->n[4].ident, 1, net->now, value, sizeof(value));
	assert_int_equal(put(net, 4, &r).status, 0);
	struct get_result *g = get(net, 19, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	assert_true(dht_record_equal(&g->res.records[0], &r));
	free(g);
}

/* Two of the five replicas misbehave in the three ways of the attacks: the majority of the
 * honest three decides, and read repair gives the liars the owner's latest record. */
static void
majority_beats_stale_forged_and_withheld(void **state)
{
	struct net *net = *state;
	struct dht_record old, cur, forged[2];
	unsigned h[NODES];

	make_record(&old, "sip:bob@example.org", net->n[1].ident, 1, net->now, "old", 3);
	make_record(&cur, "sip:bob@example.org", net->n[1].ident, 2, net->now, "new", 3);
	assert_int_equal(put(net, 1, &old).status, 0);
	assert_int_equal(put(net, 1, &cur).status, 0);
	assert_int_equal(holders(net, &cur, h), DHT_DEFAULT_R);

	for (int attack = 0; attack < 3; attack++) {
		for (unsigned j = 0; j < 2; j++) {
			struct dht_store *st = net->n[h[j]].store;

			assert_int_equal(st->ops->del(st, &cur), 0);
			if (attack == 0) {		/* stale */
				assert_int_equal(st->ops->put(st, &old), 0);
			} else if (attack == 1) {	/* forged by the replica's own key */
				make_record(&forged[j], "sip:bob@example.org", net->n[h[j]].ident, 5,
				    net->now, "evil", 4);
				assert_int_equal(st->ops->put(st, &forged[j]), 0);
			}					/* 2: withheld */
		}
		struct get_result *g = get(net, 20, &cur.key);
		assert_int_equal(g->res.status, DHT_VOTE_FOUND);
		assert_int_equal(g->res.nrecords, 1);
		assert_true(dht_record_equal(&g->res.records[0], &cur));
		free(g);
		net_run(net, net->now + 10 * 1000);
		/* read repair: the stale and withholding replicas have the latest again; a
		 * forger's own record binds the key on its replica, so it refuses the repair */
		for (unsigned j = 0; j < 2; j++) {
			if (attack == 1) {
				struct dht_store *st = net->n[h[j]].store;

				assert_false(holds_exactly(net, h[j], &cur));
				assert_int_equal(st->ops->del(st, &forged[j]), 0);
				assert_int_equal(st->ops->put(st, &cur), 0);
			} else {
				assert_true(holds_exactly(net, h[j], &cur));
			}
		}
	}
}

static void
puts_survive_two_silent_replicas(void **state)
{
	struct net *net = *state;
	struct dht_record first, r;
	unsigned h[NODES], n;

	make_record(&first, "sip:carol@example.org", net->n[2].ident, 1, net->now, "a", 1);
	assert_int_equal(put(net, 2, &first).status, 0);
	n = holders(net, &first, h);
	assert_int_equal(n, DHT_DEFAULT_R);
	/* two replica holders stop answering (the requester is not one of them) */
	unsigned via = 0;
	while (via == h[0] || via == h[1])
		via++;
	net->n[h[0]].down = true;
	net->n[h[1]].down = true;
	make_record(&r, "sip:carol@example.org", net->n[2].ident, 2, net->now, "b", 1);
	struct put_result p = put(net, via, &r);
	assert_int_equal(p.status, 0);
	assert_true(p.stored >= 3);
	struct get_result *g = get(net, via, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	assert_true(dht_record_equal(&g->res.records[0], &r));
	free(g);
	net->n[h[0]].down = false;
	net->n[h[1]].down = false;
}

/* A third of the nodes are lures that claim to be the closest to every key: a get asks
 * them early (they look like replicas), but only the lookup's r closest decide, so every
 * get still finds the record, and at once. */
static void
lures_do_not_decide_gets(void **state)
{
	struct net *net = *state;
	struct dht_record r;
	unsigned h[NODES], n, lures = 0, swallowed = 0;

	make_record(&r, "sip:dave@example.org", net->n[3].ident, 1, net->now, "d", 1);
	assert_int_equal(put(net, 3, &r).status, 0);
	n = holders(net, &r, h);
	assert_int_equal(n, DHT_DEFAULT_R);
	for (unsigned i = 0; i < NODES && lures < NODES / 3; i++) {
		bool holder = false;

		for (unsigned j = 0; j < n; j++)
			holder = holder || h[j] == i;
		if (!holder && i != 3) {
			net->n[i].lure = true;
			lures++;
		}
	}
	for (unsigned via = 0; via < NODES; via++) {
		if (net->n[via].lure)
			continue;
		uint64_t t0 = net->now;
		struct get_result *g = get(net, via, &r.key);

		assert_int_equal(g->res.status, DHT_VOTE_FOUND);
		assert_true(dht_record_equal(&g->res.records[0], &r));
		/* decided by the replicas' answers, not by a lure's timeout */
		assert_true(net->now - t0 < 1000);
		free(g);
	}
	for (unsigned i = 0; i < NODES; i++) {
		swallowed += net->n[i].finds_swallowed;
		net->n[i].lure = false;
	}
	print_message("%u lures swallowed %u early FIND_VALUEs\n", lures, swallowed);
	assert_true(swallowed > 0);	/* they were asked: the early path ran */
}

static void
tombstones_remove_names(void **state)
{
	struct net *net = *state;
	struct dht_record r, tomb;

	make_record(&r, "sip:dave@example.org", net->n[3].ident, 1, net->now, "here", 4);
	assert_int_equal(put(net, 3, &r).status, 0);
	make_record(&tomb, "sip:dave@example.org", net->n[3].ident, 2, net->now, "", 0);
	tomb.flags = DHT_REC_TOMBSTONE;
	tomb.expiry = net->now + 10 * 60 * 1000;
	assert_int_equal(dht_record_sign(&tomb, net->n[3].ident), 0);
	assert_int_equal(put(net, 3, &tomb).status, 0);
	struct get_result *g = get(net, 9, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	assert_true(g->res.records[0].flags & DHT_REC_TOMBSTONE);
	free(g);
	/* the older record cannot come back while the tombstone lives */
	struct put_result p = put(net, 3, &r);
	assert_int_equal(p.status, -EIO);
	assert_int_equal(p.refused, DHT_ERR_STALE);
	/* after the tombstone expired, the name is free, even for another key */
	net_run(net, tomb.expiry + 2 * 60 * 1000);
	struct dht_record other;
	make_record(&other, "sip:dave@example.org", net->n[8].ident, 1, net->now, "mine", 4);
	assert_int_equal(put(net, 8, &other).status, 0);
}

/* Two of the five replica holders leave for good: maintenance restores five live copies
 * on the nodes now closest to the key, and gets keep working. */
static void
records_follow_departures(void **state)
{
	struct net *net = *state;
	struct dht_record r;
	unsigned h[NODES], n, live;

	make_record(&r, "sip:erin@example.org", net->n[6].ident, 1, net->now, "x", 1);
	assert_int_equal(put(net, 6, &r).status, 0);
	n = holders(net, &r, h);
	assert_int_equal(n, DHT_DEFAULT_R);
	unsigned gone = 0;
	for (unsigned j = 0; j < n && gone < 2; j++) {
		if (h[j] == 6)
			continue;
		net->n[h[j]].down = true;
		gone++;
	}
	/* a few maintenance periods: failures are noticed, records move */
	net_run(net, net->now + 5 * DHT_MAINTAIN_MS);
	n = holders(net, &r, h);
	live = 0;
	for (unsigned j = 0; j < n; j++)
		live += !net->n[h[j]].down;
	print_message("live replicas after two left: %u (of %u holders)\n", live, n);
	assert_true(live >= DHT_DEFAULT_R);
	unsigned via = 0;
	while (net->n[via].down)
		via++;
	struct get_result *g = get(net, via, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	assert_true(dht_record_equal(&g->res.records[0], &r));
	free(g);
	/* in the longer run the extra copies are handed over and dropped, never below r */
	net_run(net, net->now + 25 * DHT_MAINTAIN_MS);
	n = holders(net, &r, h);
	live = 0;
	for (unsigned j = 0; j < n; j++)
		live += !net->n[h[j]].down;
	print_message("live replicas later: %u (of %u holders)\n", live, n);
	assert_true(live >= DHT_DEFAULT_R);
	assert_true(live <= DHT_DEFAULT_R + 2);
}

/* Every replica loses the record (disks wiped): the owner's node puts it again at its next
 * re-publication, and gets find it; unpublished records are not put again. */
static void
owner_republishes_lost_records(void **state)
{
	struct net *net = *state;
	struct dht_record r;
	struct put_result p = {0};
	unsigned h[NODES], n;

	make_record(&r, "sip:frank@example.org", net->n[12].ident, 1, net->now, "f", 1);
	assert_int_equal(dht_publish(net->n[12].d, net->now, &r, on_put, &p), 0);
	net_run(net, net->now + 10 * 1000);
	assert_true(p.done);
	assert_int_equal(p.status, 0);
	assert_int_equal(dht_published_count(net->n[12].d), 1);
	n = holders(net, &r, h);
	assert_int_equal(n, DHT_DEFAULT_R);
	for (unsigned j = 0; j < n; j++)
		assert_int_equal(dht_replica_drop(net->n[h[j]].rep, &r), 0);
	assert_int_equal(holders(net, &r, h), 0);
	net_run(net, net->now + DHT_REPUBLISH_MS + 30 * 1000);
	assert_true(holders(net, &r, h) >= DHT_DEFAULT_R);
	struct get_result *g = get(net, 1, &r.key);
	assert_int_equal(g->res.status, DHT_VOTE_FOUND);
	free(g);
	/* unpublished: lost for good after the next wipe */
	assert_int_equal(dht_unpublish(net->n[12].d, &r), 0);
	assert_int_equal(dht_unpublish(net->n[12].d, &r), -ENOENT);
	n = holders(net, &r, h);
	for (unsigned j = 0; j < n; j++)
		assert_int_equal(dht_replica_drop(net->n[h[j]].rep, &r), 0);
	net_run(net, net->now + DHT_REPUBLISH_MS + 30 * 1000);
	assert_int_equal(holders(net, &r, h), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_then_get_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(large_records_travel_in_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(majority_beats_stale_forged_and_withheld, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(puts_survive_two_silent_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(lures_do_not_decide_gets, setup, teardown),
		cmocka_unit_test_setup_teardown(tombstones_remove_names, setup, teardown),
		cmocka_unit_test_setup_teardown(records_follow_departures, setup, teardown),
		cmocka_unit_test_setup_teardown(owner_republishes_lost_records, setup, teardown),
	};

	return cmocka_run_group_tests_name("dht/dht", tests, NULL, NULL);
}
