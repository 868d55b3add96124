/* Tests for kbr/lookup.c: disjoint iterative lookups driven through a simulated network
 * of random node IDs with brute-force Kademlia routing tables, honest and adversarial. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/lookup.h"

enum {
	NET_N = 2000,
	NET_BUCKETS = 32,		/* common prefixes of 31 bits and more share the last */
	NET_BUCKET_K = 8,
	NET_TABLE_MAX = NET_BUCKETS * NET_BUCKET_K,
	REPLY_K = 16,			/* contacts in one reply */
	MAX_STEPS = 20000,		/* answers before a lookup counts as endless */
	MAX_PENDING = KBR_MAX_D * KBR_MAX_ALPHA,
	ADV_LOOKUPS = 200,
	NO_PATH = 0xff,
};

/* The simulated network; node i is at 10.0.(i >> 8).(i & 255):4000. */
struct net {
	struct nodeid id[NET_N];
	uint16_t tbl[NET_N][NET_BUCKETS][NET_BUCKET_K];
	uint8_t cnt[NET_N][NET_BUCKETS];
	bool malicious[NET_N];		/* 20%, used by the adversarial runs only */
	bool down[NET_N];		/* every third node, used by the timeout runs only */
};

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->s = x;
	return x;
}

static void
rng_id(struct rng *r, struct nodeid *id)
{
	for (size_t i = 0; i < NODEID_LEN; i++)
		id->b[i] = (uint8_t)(rng_next(r) >> 56);
}

static void
make_contact(const struct net *net, unsigned idx, struct kbr_contact *c)
{
	memset(c, 0, sizeof(*c));
	c->id = net->id[idx];
	c->addr.family = KBR_AF_INET;
	c->addr.ip[0] = 10;
	c->addr.ip[2] = (uint8_t)(idx >> 8);
	c->addr.ip[3] = (uint8_t)(idx & 0xff);
	c->addr.port = 4000;
}

/* The network node a contact names; fails the test for a contact that is not one. */
static unsigned
node_of(const struct net *net, const struct kbr_contact *c)
{
	unsigned idx = (unsigned)c->addr.ip[2] << 8 | c->addr.ip[3];

	assert_int_equal(c->addr.family, KBR_AF_INET);
	assert_true(idx < NET_N);
	assert_true(nodeid_eq(&c->id, &net->id[idx]));
	return idx;
}

static int
net_setup(void **state)
{
	struct net *net = calloc(1, sizeof(*net));
	struct rng r = { 0x9e3779b97f4a7c15ULL };

	if (net == NULL)
		return -1;
	for (unsigned i = 0; i < NET_N; i++) {
		rng_id(&r, &net->id[i]);
		net->malicious[i] = rng_next(&r) % 5 == 0;
		net->down[i] = i % 3 == 0;
	}
	for (unsigned i = 0; i < NET_N; i++) {
		for (unsigned j = 0; j < NET_N; j++) {
			unsigned b;

			if (i == j)
				continue;
			b = kbr_common_prefix(&net->id[i], &net->id[j]);
			if (b >= NET_BUCKETS)
				b = NET_BUCKETS - 1;
			if (net->cnt[i][b] < NET_BUCKET_K)
				net->tbl[i][b][net->cnt[i][b]++] = (uint16_t)j;
		}
	}
	*state = net;
	return 0;
}

static int
net_teardown(void **state)
{
	free(*state);
	return 0;
}

/* Inserts node i into best (closest to t first, at most REPLY_K). */
static void
top_add(const struct net *net, const struct nodeid *t, uint16_t *best, size_t *n, unsigned i)
{
	size_t j = *n;

	while (j > 0 && kbr_distance_cmp(t, &net->id[i], &net->id[best[j - 1]]) < 0)
		j--;
	if (j == REPLY_K)
		return;
	if (*n == REPLY_K)
		(*n)--;
	memmove(&best[j + 1], &best[j], (*n - j) * sizeof(best[0]));
	best[j] = (uint16_t)i;
	(*n)++;
}

/* Node idx answers a query for t: honest nodes with the closest entries of their table,
 * malicious ones (in adversarial runs) with the malicious nodes closest to t. */
static size_t
answer(const struct net *net, unsigned idx, const struct nodeid *t, bool adversarial,
    struct kbr_contact *out)
{
	uint16_t best[REPLY_K];
	size_t n = 0;

	if (adversarial && net->malicious[idx]) {
		for (unsigned i = 0; i < NET_N; i++)
			if (i != idx && net->malicious[i])
				top_add(net, t, best, &n, i);
	} else {
		for (unsigned b = 0; b < NET_BUCKETS; b++)
			for (unsigned j = 0; j < net->cnt[idx][b]; j++)
				top_add(net, t, best, &n, net->tbl[idx][b][j]);
	}
	for (size_t i = 0; i < n; i++)
		make_contact(net, best[i], &out[i]);
	return n;
}

enum node_filter {
	ANY_NODE,
	HONEST_NODE,
	UP_NODE,
};

/* The node other than self closest to t, by brute force. */
static unsigned
closest_node(const struct net *net, const struct nodeid *t, unsigned self, enum node_filter f)
{
	unsigned best = NET_N;

	for (unsigned i = 0; i < NET_N; i++) {
		if (i == self || (f == HONEST_NODE && net->malicious[i]) ||
		    (f == UP_NODE && net->down[i]))
			continue;
		if (best == NET_N || kbr_distance_cmp(t, &net->id[i], &net->id[best]) < 0)
			best = i;
	}
	return best;
}

/* The initial contacts of node self: its whole routing table, plus itself twice. */
static size_t
initial_contacts(const struct net *net, unsigned self, struct kbr_contact *out)
{
	size_t n = 0;

	make_contact(net, self, &out[n++]);
	for (unsigned b = 0; b < NET_BUCKETS; b++)
		for (unsigned j = 0; j < net->cnt[self][b]; j++)
			make_contact(net, net->tbl[self][b][j], &out[n++]);
	make_contact(net, self, &out[n++]);
	return n;
}

enum outcome {
	NOT_ASKED = 0,
	ASKED,
	ANSWERED,
	FAILED,
};

/* One lookup run: the inputs, then what the driver saw. */
struct run {
	unsigned self;
	struct nodeid target;
	struct kbr_params p;
	bool adversarial;		/* malicious nodes lie */
	bool use_down;			/* down nodes time out */
	struct kbr_contact res[KBR_MAX_S];
	size_t nres;
	struct kbr_lookup_stats st;
	unsigned steps;
	unsigned max_path_in_flight, max_in_flight;
};

/* Issues the queries next() hands out, checking each: a network node, never self, never
 * queried before by any path, and at most alpha in flight per path. */
static void
take_queries(const struct net *net, struct run *rn, struct kbr_lookup *l,
    struct kbr_lookup_query *pend, size_t *npend, uint8_t *qpath, unsigned *path_in_flight)
{
	size_t got = kbr_lookup_next(l, pend + *npend, MAX_PENDING - *npend);

	for (size_t i = *npend; i < *npend + got; i++) {
		unsigned idx, path = pend[i].path;

		assert_true(path < rn->p.d);
		idx = node_of(net, &pend[i].contact);
		assert_int_not_equal(idx, rn->self);
		assert_int_equal(qpath[idx], NO_PATH);	/* queried twice, or by two paths */
		qpath[idx] = (uint8_t)path;
		path_in_flight[path]++;
		assert_true(path_in_flight[path] <= rn->p.alpha);
		if (path_in_flight[path] > rn->max_path_in_flight)
			rn->max_path_in_flight = path_in_flight[path];
	}
	*npend += got;
	assert_true(*npend <= (size_t)rn->p.d * rn->p.alpha);
	if (*npend > rn->max_in_flight)
		rn->max_in_flight = (unsigned)*npend;
}

/* Runs one lookup to its end, answering one random query in flight at a time, and checks
 * the result: at most s nodes, closest first, every one of them queried and answering. */
static void
run_lookup(const struct net *net, struct run *rn, struct rng *r)
{
	struct kbr_contact init[NET_TABLE_MAX + 2], reply[REPLY_K];
	struct kbr_lookup_query pend[MAX_PENDING];
	unsigned path_in_flight[KBR_MAX_D] = { 0 }, asked = 0, answered = 0, failed = 0;
	uint8_t qpath[NET_N], outcome[NET_N];
	size_t ninit = initial_contacts(net, rn->self, init), npend = 0;
	struct kbr_lookup *l;

	memset(qpath, NO_PATH, sizeof(qpath));
	memset(outcome, NOT_ASKED, sizeof(outcome));
	rn->max_path_in_flight = rn->max_in_flight = 0;
	l = kbr_lookup_new(&rn->target, &rn->p, &net->id[rn->self], init, ninit);
	assert_non_null(l);
	assert_true(nodeid_eq(kbr_lookup_target(l), &rn->target));
	for (rn->steps = 0; !kbr_lookup_done(l); rn->steps++) {
		struct kbr_lookup_query q;
		unsigned idx;
		size_t j;

		assert_true(rn->steps < MAX_STEPS);
		take_queries(net, rn, l, pend, &npend, qpath, path_in_flight);
		assert_true(npend > 0);		/* not done, so something is in flight */
		j = (size_t)(rng_next(r) % npend);
		q = pend[j];
		pend[j] = pend[--npend];
		path_in_flight[q.path]--;
		idx = node_of(net, &q.contact);
		if (rn->use_down && net->down[idx]) {
			assert_int_equal(kbr_lookup_failed(l, q.path, &q.contact.id), 0);
			outcome[idx] = FAILED;
		} else {
			size_t n = answer(net, idx, &rn->target, rn->adversarial, reply);

			assert_int_equal(kbr_lookup_reply(l, q.path, &q.contact.id, reply, n), 0);
			outcome[idx] = ANSWERED;
		}
	}
	for (size_t i = 0; i < npend; i++)
		outcome[node_of(net, &pend[i].contact)] = ASKED;
	for (unsigned i = 0; i < NET_N; i++) {
		asked += outcome[i] != NOT_ASKED;
		answered += outcome[i] == ANSWERED;
		failed += outcome[i] == FAILED;
	}
	kbr_lookup_stats(l, &rn->st);
	assert_int_equal(rn->st.queries, asked);
	assert_int_equal(rn->st.replies, answered);
	assert_int_equal(rn->st.failures, failed);

	rn->nres = kbr_lookup_result(l, rn->res, KBR_MAX_S);
	assert_true(rn->nres <= rn->p.s);
	for (size_t i = 0; i < rn->nres; i++) {
		assert_int_equal(outcome[node_of(net, &rn->res[i])], ANSWERED);
		if (i > 0)
			assert_true(kbr_distance_cmp(&rn->target, &rn->res[i - 1].id,
			    &rn->res[i].id) < 0);
	}
	kbr_lookup_free(l);
}

static void
run_init(struct run *rn, struct rng *r, unsigned d)
{
	memset(rn, 0, sizeof(*rn));
	kbr_params_default(&rn->p);
	rn->p.d = d;
	rn->self = (unsigned)(rng_next(r) % NET_N);
	rng_id(r, &rn->target);
}

static bool
in_result(const struct net *net, const struct run *rn, unsigned idx)
{
	for (size_t i = 0; i < rn->nres; i++)
		if (node_of(net, &rn->res[i]) == idx)
			return true;
	return false;
}

/* 1) Every lookup ends and finds the node closest to the target, for d = 1, 2, 4, 8. */
static void
lookup_terminates_and_finds_closest(void **state)
{
	static const unsigned ds[] = { 1, 2, 4, 8 };
	const struct net *net = *state;
	struct rng r = { 12345 };
	struct run rn;

	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++) {
		for (unsigned t = 0; t < 25; t++) {
			unsigned best;

			run_init(&rn, &r, ds[di]);
			run_lookup(net, &rn, &r);
			best = closest_node(net, &rn.target, rn.self, ANY_NODE);
			assert_true(rn.nres > 0);
			assert_true(rn.steps < 50 * rn.p.k);
			assert_int_equal(node_of(net, &rn.res[0]), best);
			assert_int_equal(rn.st.failures, 0);
		}
	}
	/* the lookup of one's own ID (joining): self is never queried nor returned */
	run_init(&rn, &r, 4);
	rn.target = net->id[rn.self];
	run_lookup(net, &rn, &r);
	assert_true(rn.nres > 0);
	assert_false(in_result(net, &rn, rn.self));
	assert_int_equal(node_of(net, &rn.res[0]),
	    closest_node(net, &rn.target, rn.self, ANY_NODE));
}

/* 2) No node is queried twice, nor by two paths (checked on every query by run_lookup),
 * also under the pressure of liars who all hand out the same nodes. */
static void
lookup_paths_disjoint(void **state)
{
	static const unsigned ds[] = { 2, 4, 8, 16 };
	const struct net *net = *state;
	struct rng r = { 777 };
	struct run rn;

	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++) {
		for (unsigned t = 0; t < 20; t++) {
			run_init(&rn, &r, ds[di]);
			rn.adversarial = t % 2 == 1;
			run_lookup(net, &rn, &r);
			assert_true(rn.st.queries > rn.p.d);
		}
	}
}

/* 3) Never more than alpha in flight per path (checked by run_lookup), and the limit is
 * actually reached. */
static void
lookup_respects_alpha(void **state)
{
	static const unsigned alphas[] = { 1, 2, 3, 5 }, ds[] = { 1, 4, 16 };
	const struct net *net = *state;
	struct rng r = { 4242 };
	struct run rn;

	for (size_t ai = 0; ai < sizeof(alphas) / sizeof(alphas[0]); ai++) {
		for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++) {
			unsigned most = 0;

			for (unsigned t = 0; t < 5; t++) {
				run_init(&rn, &r, ds[di]);
				rn.p.alpha = alphas[ai];
				run_lookup(net, &rn, &r);
				assert_true(rn.max_in_flight <= ds[di] * alphas[ai]);
				if (rn.max_path_in_flight > most)
					most = rn.max_path_in_flight;
			}
			assert_int_equal(most, alphas[ai]);
		}
	}
}

/* 4) With every third node down the lookups still end; the dead never enter the result. */
static void
lookup_survives_timeouts(void **state)
{
	static const unsigned ds[] = { 1, 4, 8 };
	const struct net *net = *state;
	struct rng r = { 99 };
	struct run rn;

	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++) {
		for (unsigned t = 0; t < 20; t++) {
			run_init(&rn, &r, ds[di]);
			while (net->down[rn.self])
				rn.self = (rn.self + 1) % NET_N;
			rn.use_down = true;
			run_lookup(net, &rn, &r);
			assert_true(rn.st.failures > 0);
			assert_true(rn.nres > 0);
			for (size_t i = 0; i < rn.nres; i++)
				assert_false(net->down[node_of(net, &rn.res[i])]);
			assert_int_equal(node_of(net, &rn.res[0]),
			    closest_node(net, &rn.target, rn.self, UP_NODE));
		}
	}
}

static void
assert_same_state(const struct kbr_lookup *a, const struct kbr_lookup *b)
{
	struct kbr_lookup_stats sa, sb;
	struct kbr_contact ra[KBR_MAX_S], rb[KBR_MAX_S];
	size_t na = kbr_lookup_result(a, ra, KBR_MAX_S), nb = kbr_lookup_result(b, rb, KBR_MAX_S);

	kbr_lookup_stats(a, &sa);
	kbr_lookup_stats(b, &sb);
	assert_int_equal(sa.queries, sb.queries);
	assert_int_equal(sa.replies, sb.replies);
	assert_int_equal(sa.failures, sb.failures);
	assert_int_equal(kbr_lookup_done(a), kbr_lookup_done(b));
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_true(nodeid_eq(&ra[i].id, &rb[i].id));
}

/* Hands both lookups the same next() and checks they want the same queries. */
static size_t
next_both(struct kbr_lookup *a, struct kbr_lookup *b, struct kbr_lookup_query *q, size_t max)
{
	struct kbr_lookup_query qb[MAX_PENDING];
	size_t n = kbr_lookup_next(a, q, max);

	assert_int_equal(kbr_lookup_next(b, qb, max), n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(q[i].path, qb[i].path);
		assert_true(nodeid_eq(&q[i].contact.id, &qb[i].contact.id));
	}
	return n;
}

/* 5) Replies and failures for nodes not in flight on that path change nothing: lookup a
 * gets them, its twin b does not, and both then behave the same to the end. */
static void
lookup_ignores_stray_replies(void **state)
{
	const struct net *net = *state;
	struct kbr_contact init[NET_TABLE_MAX + 2], reply[REPLY_K], lure[REPLY_K];
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_params p;
	struct kbr_lookup *a, *b;
	struct nodeid target, stranger, third;
	struct rng r = { 31337 };
	unsigned self = 17, steps = 0;
	uint16_t best[REPLY_K];
	size_t ninit = initial_contacts(net, self, init), n, nbest = 0, nlure;

	rng_id(&r, &target);
	rng_id(&r, &stranger);
	kbr_params_default(&p);
	p.d = 2;
	p.alpha = 1;
	/* the true closest nodes: merged by mistake they would change everything */
	for (unsigned i = 0; i < NET_N; i++)
		if (i != self)
			top_add(net, &target, best, &nbest, i);
	for (size_t i = 0; i < nbest; i++)
		make_contact(net, best[i], &lure[i]);
	nlure = nbest;
	a = kbr_lookup_new(&target, &p, &net->id[self], init, ninit);
	b = kbr_lookup_new(&target, &p, &net->id[self], init, ninit);
	assert_non_null(a);
	assert_non_null(b);

	n = next_both(a, b, q, MAX_PENDING);
	assert_int_equal(n, 2);
	assert_int_not_equal(q[0].path, q[1].path);
	/* wrong path, unknown node, path out of range */
	assert_int_equal(kbr_lookup_reply(a, q[1].path, &q[0].contact.id, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_reply(a, q[0].path, &stranger, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_reply(a, p.d, &q[0].contact.id, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_reply(a, 1000, &q[0].contact.id, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_failed(a, q[1].path, &q[0].contact.id), -ENOENT);
	assert_int_equal(kbr_lookup_failed(a, q[0].path, &stranger), -ENOENT);
	assert_int_equal(kbr_lookup_reply(a, q[0].path, &net->id[self], lure, nlure), -ENOENT);
	/* a node on path 0 that was not queried yet: the third closest initial contact */
	nbest = 0;
	for (size_t i = 0; i < ninit; i++)
		if (node_of(net, &init[i]) != self)
			top_add(net, &target, best, &nbest, node_of(net, &init[i]));
	assert_true(nbest >= 3);
	third = net->id[best[2]];
	assert_int_equal(kbr_lookup_reply(a, 0, &third, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_reply(a, 1, &third, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_failed(a, 0, &third), -ENOENT);
	assert_same_state(a, b);

	/* the genuine reply, then the same again (duplicate) and a late failure */
	n = answer(net, node_of(net, &q[0].contact), &target, false, reply);
	assert_int_equal(kbr_lookup_reply(a, q[0].path, &q[0].contact.id, reply, n), 0);
	assert_int_equal(kbr_lookup_reply(b, q[0].path, &q[0].contact.id, reply, n), 0);
	assert_int_equal(kbr_lookup_reply(a, q[0].path, &q[0].contact.id, lure, nlure), -ENOENT);
	assert_int_equal(kbr_lookup_failed(a, q[0].path, &q[0].contact.id), -ENOENT);
	assert_same_state(a, b);
	assert_int_equal(kbr_lookup_failed(a, q[1].path, &q[1].contact.id), 0);
	assert_int_equal(kbr_lookup_failed(b, q[1].path, &q[1].contact.id), 0);
	assert_int_equal(kbr_lookup_reply(a, q[1].path, &q[1].contact.id, lure, nlure), -ENOENT);
	assert_same_state(a, b);

	/* both to the end in lockstep, answering in order */
	while (!kbr_lookup_done(a)) {
		assert_true(++steps < MAX_STEPS);
		n = next_both(a, b, q, MAX_PENDING);
		for (size_t i = 0; i < n; i++) {
			size_t m = answer(net, node_of(net, &q[i].contact), &target, false, reply);

			assert_int_equal(kbr_lookup_reply(a, q[i].path, &q[i].contact.id,
			    reply, m), 0);
			assert_int_equal(kbr_lookup_reply(b, q[i].path, &q[i].contact.id,
			    reply, m), 0);
		}
		assert_same_state(a, b);
	}
	assert_same_state(a, b);
	kbr_lookup_free(a);
	kbr_lookup_free(b);
}

/* Runs ADV_LOOKUPS lookups with k and alpha against the closer attack; returns how many
 * found the honest node closest to the target. */
static unsigned
closer_attack(const struct net *net, unsigned d, unsigned k, unsigned alpha)
{
	struct rng r = { 2024 };	/* the same lookups for every d */
	struct run rn;
	unsigned ok = 0;

	for (unsigned t = 0; t < ADV_LOOKUPS; t++) {
		run_init(&rn, &r, d);
		rn.p.k = k;
		rn.p.alpha = alpha;
		while (net->malicious[rn.self])
			rn.self = (rn.self + 1) % NET_N;
		rn.adversarial = true;
		run_lookup(net, &rn, &r);
		if (in_result(net, &rn, closest_node(net, &rn.target, rn.self, HONEST_NODE)))
			ok++;
	}
	return ok;
}

/* 6) The "closer" attack: a fifth of the nodes answer only with one another, closer to the
 * target than the honest nodes they displace. Disjoint paths should help, not hurt; with
 * the defaults the attack hardly bites, so a tighter k = 8, alpha = 1 is tried as well. */
static void
lookup_resists_closer_attack(void **state)
{
	static const unsigned cfg[][2] = { { 16, 3 }, { 8, 1 } };	/* k, alpha */
	const struct net *net = *state;

	for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		unsigned one = closer_attack(net, 1, cfg[i][0], cfg[i][1]);
		unsigned eight = closer_attack(net, 8, cfg[i][0], cfg[i][1]);

		print_message("closer attack, 20%% malicious, k=%u alpha=%u: d=1 found %u/%u "
		    "(%.1f%%), d=8 found %u/%u (%.1f%%)\n", cfg[i][0], cfg[i][1],
		    one, ADV_LOOKUPS, 100.0 * one / ADV_LOOKUPS,
		    eight, ADV_LOOKUPS, 100.0 * eight / ADV_LOOKUPS);
		assert_true(eight >= one);
	}
}

/* 7) Edge cases. No initial contacts: done at once, nothing to ask, no result. */
static void
lookup_no_contacts(void **state)
{
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[4];
	struct kbr_contact res[4], only;
	struct nodeid target, self;
	struct kbr_lookup_stats st;

	(void)state;
	kbr_params_default(&p);
	memset(&target, 0x11, sizeof(target));
	memset(&self, 0x22, sizeof(self));
	l = kbr_lookup_new(&target, &p, &self, NULL, 0);
	assert_non_null(l);
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_next(l, q, 4), 0);
	assert_int_equal(kbr_lookup_result(l, res, 4), 0);
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.queries + st.replies + st.failures, 0);
	kbr_lookup_free(l);
	/* only self in the list is the same as nothing */
	memset(&only, 0, sizeof(only));
	only.id = self;
	l = kbr_lookup_new(&target, &p, &self, &only, 1);
	assert_non_null(l);
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_next(l, q, 4), 0);
	kbr_lookup_free(l);
	kbr_lookup_free(NULL);
}

static void
fake_contact(struct kbr_contact *c, struct rng *r)
{
	memset(c, 0, sizeof(*c));
	rng_id(r, &c->id);
	c->addr.family = KBR_AF_INET6;
	c->addr.ip[15] = 1;
	c->addr.port = 4000;
}

/* Self in the initial list and in replies is never queried nor returned; duplicates in
 * the initial list are queried once; a node two paths hear of is kept by the first. */
static void
lookup_never_queries_self(void **state)
{
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact init[5], rep[3], res[KBR_MAX_S];
	struct nodeid target;
	struct rng r = { 5 };
	size_t n;

	(void)state;
	kbr_params_default(&p);
	p.d = 2;
	rng_id(&r, &target);
	fake_contact(&init[0], &r);		/* self */
	fake_contact(&init[1], &r);
	fake_contact(&init[2], &r);
	init[3] = init[1];
	init[4] = init[0];
	l = kbr_lookup_new(&target, &p, &init[0].id, init, 5);
	assert_non_null(l);
	n = kbr_lookup_next(l, q, MAX_PENDING);
	assert_int_equal(n, 2);
	assert_int_not_equal(q[0].path, q[1].path);
	for (size_t i = 0; i < n; i++)
		assert_false(nodeid_eq(&q[i].contact.id, &init[0].id));
	/* path 0 hears of self, of a new node, and of path 1's node */
	rep[0] = init[0];
	fake_contact(&rep[1], &r);
	rep[2] = q[1].path == 1 ? q[1].contact : q[0].contact;
	for (size_t i = 0; i < n; i++)
		if (q[i].path == 0)
			assert_int_equal(kbr_lookup_reply(l, 0, &q[i].contact.id, rep, 3), 0);
	n = kbr_lookup_next(l, q, MAX_PENDING);
	assert_int_equal(n, 1);
	assert_int_equal(q[0].path, 0);
	assert_true(nodeid_eq(&q[0].contact.id, &rep[1].id));
	assert_int_equal(kbr_lookup_reply(l, 0, &q[0].contact.id, rep, 3), 0);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 0);
	assert_false(kbr_lookup_done(l));	/* path 1 still in flight */
	assert_int_equal(kbr_lookup_reply(l, 1, &rep[2].id, rep, 3), 0);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 0);
	assert_true(kbr_lookup_done(l));
	n = kbr_lookup_result(l, res, KBR_MAX_S);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_false(nodeid_eq(&res[i].id, &init[0].id));
	kbr_lookup_free(l);
}

/* A reply with far more contacts than a path holds: only the closest are kept, so even
 * when every one of them times out the path asks at most KBR_LOOKUP_MAX_CANDIDATES. */
static void
lookup_bounds_big_reply(void **state)
{
	enum { BIG = 1000 };
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact first, res[KBR_MAX_S];
	struct kbr_contact *big = calloc(BIG, sizeof(*big));
	struct kbr_lookup_stats st;
	struct nodeid target;
	struct rng r = { 6 };
	unsigned steps = 0, far;

	(void)state;
	assert_non_null(big);
	kbr_params_default(&p);
	p.d = 1;
	p.alpha = 7;
	rng_id(&r, &target);
	fake_contact(&first, &r);
	for (size_t i = 0; i < BIG; i++)
		fake_contact(&big[i], &r);
	l = kbr_lookup_new(&target, &p, NULL, &first, 1);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_int_equal(kbr_lookup_reply(l, 0, &first.id, big, BIG), 0);
	while (!kbr_lookup_done(l)) {
		size_t n = kbr_lookup_next(l, q, MAX_PENDING);

		assert_true(++steps < MAX_STEPS);
		assert_true(n > 0 && n <= p.alpha);
		for (size_t i = 0; i < n; i++) {
			/* only the KBR_LOOKUP_MAX_CANDIDATES - 1 closest of big fit beside first */
			far = 0;
			for (size_t j = 0; j < BIG; j++)
				far += kbr_distance_cmp(&target, &big[j].id, &q[i].contact.id) < 0;
			assert_true(far < KBR_LOOKUP_MAX_CANDIDATES - 1);
			assert_int_equal(kbr_lookup_failed(l, 0, &q[i].contact.id), 0);
		}
	}
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.queries, KBR_LOOKUP_MAX_CANDIDATES);
	assert_int_equal(st.failures, KBR_LOOKUP_MAX_CANDIDATES - 1);
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 1);
	assert_true(nodeid_eq(&res[0].id, &first.id));
	kbr_lookup_free(l);
	free(big);
}

/* Sorts c[0..n) by distance to target, closest first. */
static void
sort_by_distance(const struct nodeid *target, struct kbr_contact *c, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && kbr_distance_cmp(target, &c[j].id, &c[j - 1].id) < 0;
		    j--) {
			struct kbr_contact t = c[j];

			c[j] = c[j - 1];
			c[j - 1] = t;
		}
}

/* A soft timeout frees the path's slot for the next candidate; the path does not end while
 * the slow node, closer than the others, may still answer (unless it is not to be waited
 * for); its late answer counts (it enters the result); once it failed, it is not waited
 * for. */
static void
lookup_soft_timeout_frees_slot(void **state)
{
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact init[3], res[KBR_MAX_S];
	struct kbr_lookup_stats st;
	struct nodeid target;
	struct rng r = { 11 };

	(void)state;
	kbr_params_default(&p);
	p.d = 1;
	p.alpha = 1;
	rng_id(&r, &target);
	for (size_t i = 0; i < 3; i++)
		fake_contact(&init[i], &r);
	sort_by_distance(&target, init, 3);
	l = kbr_lookup_new(&target, &p, NULL, init, 3);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &init[0].id));
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 0);	/* alpha = 1 */
	/* only a node in flight can be slow, once */
	assert_int_equal(kbr_lookup_slow(l, 0, &init[1].id, true), -ENOENT);
	assert_int_equal(kbr_lookup_slow(l, 0, &init[0].id, true), 0);
	assert_int_equal(kbr_lookup_slow(l, 0, &init[0].id, true), -ENOENT);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &init[1].id));
	assert_int_equal(kbr_lookup_reply(l, 0, &init[1].id, NULL, 0), 0);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &init[2].id));
	assert_int_equal(kbr_lookup_reply(l, 0, &init[2].id, NULL, 0), 0);
	/* nothing left to ask, but the slow node is closer: the path waits for it */
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 0);
	assert_false(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 2);
	/* its late answer counts: it is the closest, and the lookup is done */
	assert_int_equal(kbr_lookup_reply(l, 0, &init[0].id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 3);
	assert_true(nodeid_eq(&res[0].id, &init[0].id));
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.slow, 1);
	assert_int_equal(st.replies, 3);
	kbr_lookup_free(l);

	/* a slow node not waited for (one only heard of): done without it, and still taken */
	l = kbr_lookup_new(&target, &p, NULL, init, 3);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_int_equal(kbr_lookup_slow(l, 0, &init[0].id, false), 0);
	for (size_t k = 1; k < 3; k++) {
		assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
		assert_true(nodeid_eq(&q[0].contact.id, &init[k].id));
		assert_int_equal(kbr_lookup_reply(l, 0, &init[k].id, NULL, 0), 0);
	}
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 2);
	assert_int_equal(kbr_lookup_reply(l, 0, &init[0].id, NULL, 0), 0);
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 3);
	kbr_lookup_free(l);

	/* a slow node that fails for good is just failed */
	l = kbr_lookup_new(&target, &p, NULL, init, 3);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_int_equal(kbr_lookup_slow(l, 0, &init[0].id, true), 0);
	assert_int_equal(kbr_lookup_failed(l, 0, &init[0].id), 0);
	assert_int_equal(kbr_lookup_reply(l, 0, &init[0].id, NULL, 0), -ENOENT);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &init[1].id));
	assert_int_equal(kbr_lookup_reply(l, 0, &init[1].id, NULL, 0), 0);
	assert_int_equal(kbr_lookup_next(l, q, MAX_PENDING), 1);
	assert_int_equal(kbr_lookup_reply(l, 0, &init[2].id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	kbr_lookup_free(l);
}

/* A path ends once its window (want / d, at least alpha + 1) has answered: the farther
 * candidates are never asked. */
static void
lookup_ends_when_window_answered(void **state)
{
	enum { N = 10 };
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact init[N], res[KBR_MAX_S];
	struct kbr_lookup_stats st;
	struct nodeid target;
	struct rng r = { 12 };
	unsigned steps = 0;

	(void)state;
	kbr_params_default(&p);
	p.d = 1;
	p.alpha = 2;
	rng_id(&r, &target);
	for (size_t i = 0; i < N; i++)
		fake_contact(&init[i], &r);
	sort_by_distance(&target, init, N);
	l = kbr_lookup_new(&target, &p, NULL, init, N);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_want(l, 0), -EINVAL);
	assert_int_equal(kbr_lookup_want(l, p.s + 1), -EINVAL);
	assert_int_equal(kbr_lookup_want(l, 2), 0);	/* window: alpha + 1 = 3 */
	while (!kbr_lookup_done(l)) {
		size_t n = kbr_lookup_next(l, q, MAX_PENDING);

		assert_true(++steps < MAX_STEPS);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++) {
			bool in_window = false;

			for (size_t j = 0; j < 3; j++)
				in_window = in_window || nodeid_eq(&q[i].contact.id, &init[j].id);
			assert_true(in_window);
			assert_int_equal(kbr_lookup_reply(l, 0, &q[i].contact.id, NULL, 0), 0);
		}
	}
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.queries, 3);
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 3);
	assert_true(nodeid_eq(&res[0].id, &init[0].id));
	kbr_lookup_free(l);
}

/* Looking for one node: the lookup ends as soon as that node answered, whatever else is
 * in flight. */
static void
lookup_for_one_node_ends_when_it_answers(void **state)
{
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact init[6], res[KBR_MAX_S];
	struct rng r = { 13 };
	size_t n;

	(void)state;
	kbr_params_default(&p);
	p.d = 2;
	for (size_t i = 0; i < 6; i++)
		fake_contact(&init[i], &r);
	l = kbr_lookup_new(&init[3].id, &p, NULL, init, 6);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_want(l, 1), 0);
	n = kbr_lookup_next(l, q, MAX_PENDING);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		if (!nodeid_eq(&q[i].contact.id, &init[3].id))
			assert_int_equal(kbr_lookup_reply(l, q[i].path, &q[i].contact.id, NULL, 0),
			    0);
	assert_false(kbr_lookup_done(l));	/* the node itself has not answered */
	for (size_t i = 0; i < n; i++)
		if (nodeid_eq(&q[i].contact.id, &init[3].id))
			assert_int_equal(kbr_lookup_reply(l, q[i].path, &init[3].id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	assert_true(kbr_lookup_result(l, res, KBR_MAX_S) >= 1);
	assert_true(nodeid_eq(&res[0].id, &init[3].id));
	kbr_lookup_free(l);
}

static void
lookup_rejects_bad_params(void **state)
{
	struct kbr_params p;
	struct kbr_contact c;
	struct nodeid target;
	struct kbr_lookup *l;

	(void)state;
	memset(&target, 0, sizeof(target));
	memset(&c, 0, sizeof(c));
	c.id.b[0] = 1;
#define BAD(field, value) do {						\
	kbr_params_default(&p);						\
	p.field = (value);						\
	assert_null(kbr_lookup_new(&target, &p, NULL, &c, 1));		\
} while (0)
	BAD(k, 0);
	BAD(k, KBR_MAX_K + 1);
	BAD(s, 0);
	BAD(s, KBR_MAX_S + 1);
	BAD(d, 0);
	BAD(d, KBR_MAX_D + 1);
	BAD(alpha, 0);
	BAD(alpha, KBR_MAX_ALPHA + 1);
#undef BAD
	kbr_params_default(&p);
	assert_null(kbr_lookup_new(NULL, &p, NULL, &c, 1));
	assert_null(kbr_lookup_new(&target, NULL, NULL, &c, 1));
	assert_null(kbr_lookup_new(&target, &p, NULL, NULL, 1));
	/* the bounds themselves are fine */
	p.k = KBR_MAX_K;
	p.s = KBR_MAX_S;
	p.d = KBR_MAX_D;
	p.alpha = KBR_MAX_ALPHA;
	l = kbr_lookup_new(&target, &p, NULL, &c, 1);
	assert_non_null(l);
	kbr_lookup_free(l);
}

/* The k closest initial contacts are dealt round-robin, closest to path 0; the rest are
 * never asked; results are capped at s and at max. */
static void
lookup_deals_initial_round_robin(void **state)
{
	struct kbr_params p;
	struct kbr_lookup *l;
	struct kbr_lookup_query q[MAX_PENDING];
	struct kbr_contact init[10], res[KBR_MAX_S];
	struct nodeid target;
	struct rng r = { 8 };
	size_t n, order[10];

	(void)state;
	kbr_params_default(&p);
	p.k = 4;
	p.s = 3;
	p.d = 2;
	p.alpha = KBR_MAX_ALPHA;
	rng_id(&r, &target);
	for (size_t i = 0; i < 10; i++) {
		size_t j = i;

		fake_contact(&init[i], &r);
		while (j > 0 && kbr_distance_cmp(&target, &init[i].id, &init[order[j - 1]].id) < 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	l = kbr_lookup_new(&target, &p, NULL, init, 10);
	assert_non_null(l);
	/* max is respected and the rest comes next time */
	assert_int_equal(kbr_lookup_next(l, q, 1), 1);
	n = kbr_lookup_next(l, q + 1, MAX_PENDING - 1) + 1;
	assert_int_equal(n, 4);
	for (size_t rank = 0; rank < 4; rank++) {
		size_t hits = 0;

		for (size_t i = 0; i < n; i++) {
			if (!nodeid_eq(&q[i].contact.id, &init[order[rank]].id))
				continue;
			hits++;
			assert_int_equal(q[i].path, rank % 2);
		}
		assert_int_equal(hits, 1);
	}
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 0);	/* nobody answered */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kbr_lookup_reply(l, q[i].path, &q[i].contact.id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_result(l, res, KBR_MAX_S), 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(nodeid_eq(&res[i].id, &init[order[i]].id));
	assert_int_equal(kbr_lookup_result(l, res, 2), 2);
	assert_int_equal(kbr_lookup_result(l, res, 0), 0);
	kbr_lookup_free(l);
}

/* A node that moved: another node names it at a new address. Its path asks it there once
 * when the old address fails (whether the hint came while it was in flight or after), and
 * never a third time; no other path asks it. */
static void
lookup_retries_moved_node_once(void **state)
{
	struct kbr_params p;
	struct kbr_contact init[3], moved, hint;
	struct kbr_lookup_query q[8];
	struct nodeid target;
	struct rng r = {0x5eed};

	(void)state;
	kbr_params_default(&p);
	p.d = 2;
	p.alpha = 1;
	for (int round = 0; round < 2; round++) {
		struct kbr_lookup *l;
		size_t n;

		for (int i = 0; i < 3; i++)
			fake_contact(&init[i], &r);
		/* the target is init[0] itself, so it is the closest and goes to path 0 */
		target = init[0].id;
		l = kbr_lookup_new(&target, &p, NULL, init, 3);
		assert_non_null(l);
		n = kbr_lookup_next(l, q, 8);
		assert_int_equal(n, 2);
		assert_int_equal(q[0].path, 0);
		assert_true(nodeid_eq(&q[0].contact.id, &init[0].id));
		unsigned other = q[1].path;
		struct nodeid other_id = q[1].contact.id;
		moved = init[0];
		moved.addr.port = 5000;
		hint = moved;
		if (round == 1)	/* the old address failed before anyone named the new one */
			assert_int_equal(kbr_lookup_failed(l, 0, &init[0].id), 0);
		assert_int_equal(kbr_lookup_reply(l, other, &other_id, &hint, 1), 0);
		if (round == 0)
			assert_int_equal(kbr_lookup_failed(l, 0, &init[0].id), 0);
		/* path 0 asks the node again, at its new address */
		n = kbr_lookup_next(l, q, 8);
		bool asked = false;
		for (size_t i = 0; i < n; i++) {
			if (!nodeid_eq(&q[i].contact.id, &init[0].id))
				continue;
			assert_int_equal(q[i].path, 0);
			assert_int_equal(q[i].contact.addr.port, 5000);
			asked = true;
		}
		assert_true(asked);
		assert_int_equal(kbr_lookup_reply(l, 0, &init[0].id, NULL, 0), 0);
		struct kbr_contact res[4];
		assert_true(kbr_lookup_result(l, res, 4) >= 1);
		assert_true(nodeid_eq(&res[0].id, &init[0].id));
		assert_int_equal(res[0].addr.port, 5000);
		kbr_lookup_free(l);
	}
	/* a node that failed at both addresses is not asked a third time */
	struct kbr_contact many[6];
	unsigned asked = 0;
	for (int i = 0; i < 6; i++)
		fake_contact(&many[i], &r);
	target = many[0].id;
	struct kbr_lookup *l = kbr_lookup_new(&target, &p, NULL, many, 6);
	assert_non_null(l);
	for (int guard = 0; guard < 50 && !kbr_lookup_done(l); guard++) {
		size_t n = kbr_lookup_next(l, q, 8);

		for (size_t i = 0; i < n; i++) {
			if (nodeid_eq(&q[i].contact.id, &many[0].id)) {
				asked++;
				assert_int_equal(q[i].path, 0);
				assert_int_equal(q[i].contact.addr.port, asked == 1 ? 4000 : 5001);
				assert_int_equal(kbr_lookup_failed(l, 0, &many[0].id), 0);
				continue;
			}
			/* every other node names it at yet another address */
			hint = many[0];
			hint.addr.port = (uint16_t)(asked <= 1 ? 5001 : 5002);
			assert_int_equal(kbr_lookup_reply(l, q[i].path, &q[i].contact.id, &hint, 1), 0);
		}
	}
	assert_true(kbr_lookup_done(l));
	assert_int_equal(asked, 2);
	kbr_lookup_free(l);
}

/* Hops count the steps to the closest node that answered: initial contact 1, a node it
 * named 2, and so on. */
static void
lookup_counts_hops(void **state)
{
	struct kbr_params p;
	struct kbr_contact a, b, c;
	struct kbr_lookup_query q[4];
	struct kbr_lookup_stats st;
	struct rng r = {0xb0b};
	struct kbr_lookup *l;

	(void)state;
	kbr_params_default(&p);
	p.d = 1;
	p.alpha = 1;
	fake_contact(&a, &r);
	fake_contact(&b, &r);
	fake_contact(&c, &r);
	l = kbr_lookup_new(&c.id, &p, NULL, &a, 1);
	assert_non_null(l);
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.hops, 0);
	assert_int_equal(kbr_lookup_next(l, q, 4), 1);
	assert_int_equal(kbr_lookup_reply(l, 0, &a.id, &b, 1), 0);
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.hops, 1);
	assert_int_equal(kbr_lookup_next(l, q, 4), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &b.id));
	assert_int_equal(kbr_lookup_reply(l, 0, &b.id, &c, 1), 0);
	assert_int_equal(kbr_lookup_next(l, q, 4), 1);
	assert_true(nodeid_eq(&q[0].contact.id, &c.id));
	assert_int_equal(kbr_lookup_reply(l, 0, &c.id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	kbr_lookup_stats(l, &st);
	assert_int_equal(st.hops, 3);
	assert_int_equal(st.queries, 3);
	assert_int_equal(st.replies, 3);
	kbr_lookup_free(l);
}

/* A node that answers from another address than it was asked at (its session proved the
 * new one) is in the result at the address it answered from; a node not in flight is not
 * re-addressed. */
static void
lookup_records_where_answers_came_from(void **state)
{
	struct kbr_params p;
	struct kbr_contact a, b, res[4];
	struct kbr_lookup_query q[4];
	struct kbr_addr moved;
	struct rng r = {0xadd};
	struct kbr_lookup *l;

	(void)state;
	kbr_params_default(&p);
	p.d = 1;
	p.alpha = 1;
	fake_contact(&a, &r);
	fake_contact(&b, &r);
	moved = a.addr;
	moved.port++;
	l = kbr_lookup_new(&b.id, &p, NULL, &a, 1);
	assert_non_null(l);
	assert_int_equal(kbr_lookup_next(l, q, 4), 1);
	assert_true(kbr_addr_eq(&q[0].contact.addr, &a.addr));
	/* wrong path, or a node nobody asked */
	assert_int_equal(kbr_lookup_answered_from(l, 1, &a.id, &moved), -ENOENT);
	assert_int_equal(kbr_lookup_answered_from(l, 0, &b.id, &moved), -ENOENT);
	assert_int_equal(kbr_lookup_answered_from(NULL, 0, &a.id, &moved), -EINVAL);
	assert_int_equal(kbr_lookup_answered_from(l, 0, &a.id, NULL), -EINVAL);
	assert_int_equal(kbr_lookup_answered_from(l, 0, &a.id, &moved), 0);
	assert_int_equal(kbr_lookup_reply(l, 0, &a.id, &b, 1), 0);
	/* once answered it is not in flight any more */
	assert_int_equal(kbr_lookup_answered_from(l, 0, &a.id, &a.addr), -ENOENT);
	assert_int_equal(kbr_lookup_next(l, q, 4), 1);
	assert_int_equal(kbr_lookup_reply(l, 0, &b.id, NULL, 0), 0);
	assert_true(kbr_lookup_done(l));
	assert_int_equal(kbr_lookup_result(l, res, 4), 2);
	assert_true(nodeid_eq(&res[0].id, &b.id));
	assert_true(kbr_addr_eq(&res[0].addr, &b.addr));
	assert_true(nodeid_eq(&res[1].id, &a.id));
	assert_true(kbr_addr_eq(&res[1].addr, &moved));
	kbr_lookup_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup_terminates_and_finds_closest),
		cmocka_unit_test(lookup_paths_disjoint),
		cmocka_unit_test(lookup_respects_alpha),
		cmocka_unit_test(lookup_survives_timeouts),
		cmocka_unit_test(lookup_ignores_stray_replies),
		cmocka_unit_test(lookup_resists_closer_attack),
		cmocka_unit_test(lookup_no_contacts),
		cmocka_unit_test(lookup_never_queries_self),
		cmocka_unit_test(lookup_bounds_big_reply),
		cmocka_unit_test(lookup_rejects_bad_params),
		cmocka_unit_test(lookup_soft_timeout_frees_slot),
		cmocka_unit_test(lookup_ends_when_window_answered),
		cmocka_unit_test(lookup_for_one_node_ends_when_it_answers),
		cmocka_unit_test(lookup_deals_initial_round_robin),
		cmocka_unit_test(lookup_retries_moved_node_once),
		cmocka_unit_test(lookup_counts_hops),
		cmocka_unit_test(lookup_records_where_answers_came_from),
	};

	return cmocka_run_group_tests_name("kbr/lookup", tests, net_setup, net_teardown);
}
