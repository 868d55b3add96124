/* Tests for kbr/table.c: bucket splits, eviction and replacement rules, the sibling table,
 * the ID/locator split, and random operations checked against a naive reference. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/table.h"

enum {
	MAX_COLLECT = 2048,		/* more than any table here can hold */
	POOL = 600,			/* IDs the random test draws from */
	RANDOM_OPS = 4000,		/* per parameter set */
};

/* xorshift64: a fixed seed makes every run the same. */
static uint64_t
rng(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void
rng_bytes(uint64_t *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(rng(s) >> 24);
}

static void
self_id(struct nodeid *id)
{
	for (size_t i = 0; i < NODEID_LEN; i++)
		id->b[i] = (uint8_t)(i * 29 + 7);
}

static void
flip_bit(struct nodeid *id, unsigned bit)
{
	id->b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
}

/* An ID whose common prefix with self is exactly cp; tag tells IDs at the same cp apart. */
static void
id_cp(struct nodeid *out, const struct nodeid *self, unsigned cp, uint16_t tag)
{
	assert_true(cp < NODEID_BITS - 16 || tag == 0);
	*out = *self;
	flip_bit(out, cp);
	out->b[NODEID_LEN - 2] ^= (uint8_t)(tag >> 8);
	out->b[NODEID_LEN - 1] ^= (uint8_t)tag;
	assert_int_equal(kbr_common_prefix(self, out), cp);
}

/* A random ID at common prefix cp with self. */
static void
rand_id_cp(struct nodeid *out, const struct nodeid *self, unsigned cp, uint64_t *s)
{
	struct nodeid r;

	rng_bytes(s, r.b, NODEID_LEN);
	*out = *self;
	flip_bit(out, cp);
	for (unsigned bit = cp + 1; bit < NODEID_BITS; bit++)
		if ((r.b[bit / 8] ^ out->b[bit / 8]) & (0x80 >> (bit % 8)))
			flip_bit(out, bit);
}

static struct kbr_addr
addr_n(unsigned n)
{
	struct kbr_addr a;

	memset(&a, 0, sizeof(a));
	a.family = KBR_AF_INET;
	a.ip[0] = 10;
	a.ip[2] = (uint8_t)(n >> 8);
	a.ip[3] = (uint8_t)n;
	a.port = (uint16_t)(4000 + n % 1000);
	return a;
}

static void
params(struct kbr_params *p, unsigned k, unsigned s, unsigned repl)
{
	kbr_params_default(p);
	p->k = k;
	p->s = s;
	p->replacements = repl;
	p->rpc_timeout_ms = 1000;
	p->rpc_retries = 1;
	p->max_fails = 2;
}

static int
add(struct kbr_table *t, const struct nodeid *id, uint64_t now, struct kbr_contact *stale)
{
	struct kbr_addr a = addr_n(id->b[NODEID_LEN - 1]);

	return kbr_table_update(t, id, &a, now, stale);
}

static bool
known(const struct kbr_table *t, const struct nodeid *id)
{
	struct kbr_contact c;

	return kbr_table_find(t, id, &c) == 0;
}

/* Five very close contacts fill the sibling table of s = 1, so later ones go to buckets. */
static void
fill_siblings(struct kbr_table *t, const struct nodeid *self)
{
	struct nodeid id;

	for (unsigned cp = 150; cp < 155; cp++) {
		id_cp(&id, self, cp, 0);
		assert_int_equal(add(t, &id, 1, NULL), KBR_TABLE_ADDED);
	}
	assert_int_equal(kbr_table_sibling_count(t), 5);
	assert_int_equal(kbr_table_bucket_size(t, 0), 0);
}

struct collect {
	struct kbr_contact *v;
	size_t n;
};

static void
collect_fn(void *arg, const struct kbr_contact *c)
{
	struct collect *co = arg;

	assert_true(co->n < MAX_COLLECT);
	co->v[co->n++] = *c;
}

static size_t
collect(const struct kbr_table *t, struct kbr_contact *v)
{
	struct collect co = { v, 0 };

	kbr_table_foreach(t, collect_fn, &co);
	return co.n;
}

static bool
is_sibling(const struct kbr_table *t, const struct nodeid *id)
{
	struct kbr_contact *v = calloc(MAX_COLLECT, sizeof(*v));
	size_t ns = kbr_table_sibling_count(t);
	bool found = false;

	assert_non_null(v);
	assert_true(collect(t, v) >= ns);
	for (size_t i = 0; i < ns; i++)
		found = found || nodeid_eq(&v[i].id, id);
	free(v);
	return found;
}

static void
bucket_splitting(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, id, c0[10], c1[3], c2, c3, c5, deep[5];
	struct kbr_contact stale;

	(void)state;
	self_id(&self);
	params(&p, 4, 1, 2);

	/* the classic sequence, one split at a time */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	fill_siblings(t, &self);
	assert_int_equal(kbr_table_bucket_count(t), 1);
	for (unsigned i = 0; i < 2; i++) {
		id_cp(&c0[i], &self, 0, (uint16_t)(i + 1));
		id_cp(&c1[i], &self, 1, (uint16_t)(i + 1));
		assert_int_equal(add(t, &c0[i], 10, NULL), KBR_TABLE_ADDED);
		assert_int_equal(add(t, &c1[i], 10, NULL), KBR_TABLE_ADDED);
	}
	assert_int_equal(kbr_table_bucket_count(t), 1);
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);
	/* the only bucket is full and covers self: it splits into cp 0 and cp >= 1 */
	id_cp(&c2, &self, 2, 1);
	assert_int_equal(add(t, &c2, 20, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_count(t), 2);
	assert_int_equal(kbr_table_bucket_size(t, 0), 2);
	assert_int_equal(kbr_table_bucket_size(t, 1), 3);
	id_cp(&c3, &self, 3, 1);
	assert_int_equal(add(t, &c3, 20, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_count(t), 2);
	assert_int_equal(kbr_table_bucket_size(t, 1), 4);
	/* the last bucket overflows: cp 1 stays, cp 2, 3 and 5 go to the new last bucket */
	id_cp(&c5, &self, 5, 1);
	assert_int_equal(add(t, &c5, 30, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_count(t), 3);
	assert_int_equal(kbr_table_bucket_size(t, 0), 2);
	assert_int_equal(kbr_table_bucket_size(t, 1), 2);
	assert_int_equal(kbr_table_bucket_size(t, 2), 3);
	assert_int_equal(kbr_table_bucket_of(t, &c5), 2);
	assert_int_equal(kbr_table_bucket_of(t, &c3), 2);
	assert_int_equal(kbr_table_bucket_of(t, &c2), 2);
	assert_int_equal(kbr_table_bucket_of(t, &c1[0]), 1);
	assert_int_equal(kbr_table_bucket_of(t, &self), 2);
	/* prefix 0 fills bucket 0 and then never splits anything */
	for (unsigned i = 2; i < 10; i++) {
		int r;

		id_cp(&c0[i], &self, 0, (uint16_t)(i + 1));
		r = add(t, &c0[i], 40 + i, &stale);
		if (i < 4)
			assert_int_equal(r, KBR_TABLE_ADDED);
		else
			assert_true(r == KBR_TABLE_PENDING || r == KBR_TABLE_CACHED);
		assert_int_equal(kbr_table_bucket_count(t), 3);
	}
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);
	assert_int_equal(kbr_table_replacement_count(t, 0), 2);
	/* a full bucket 1 does not split either */
	id_cp(&c1[2], &self, 1, 3);
	assert_int_equal(add(t, &c1[2], 60, NULL), KBR_TABLE_ADDED);
	id_cp(&id, &self, 1, 4);
	assert_int_equal(add(t, &id, 61, NULL), KBR_TABLE_ADDED);
	id_cp(&id, &self, 1, 5);
	assert_int_equal(add(t, &id, 62, &stale), KBR_TABLE_PENDING);
	assert_true(nodeid_eq(&stale.id, &c1[0]));
	assert_int_equal(kbr_table_bucket_count(t), 3);
	assert_int_equal(kbr_table_bucket_size(t, 1), 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_true(known(t, &c0[i]));
		assert_int_equal(kbr_table_bucket_of(t, &c0[i]), 0);
	}
	for (unsigned i = 4; i < 10; i++)
		assert_false(known(t, &c0[i]));
	assert_int_equal(kbr_table_size(t), 5 + 4 + 4 + 3);
	kbr_table_free(t);

	/* one newcomer splits many times when everything lands in the new last bucket */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	fill_siblings(t, &self);
	for (unsigned i = 0; i < 5; i++) {
		id_cp(&deep[i], &self, 10 + i, 1);
		assert_int_equal(add(t, &deep[i], 10, NULL), KBR_TABLE_ADDED);
		assert_int_equal(kbr_table_bucket_count(t), i < 4 ? 1 : 12);
	}
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(kbr_table_bucket_size(t, i), i == 10 ? 1 : i == 11 ? 4 : 0);
	assert_int_equal(kbr_table_bucket_of(t, &deep[0]), 10);
	for (unsigned i = 1; i < 5; i++)
		assert_int_equal(kbr_table_bucket_of(t, &deep[i]), 11);
	kbr_table_free(t);

	/* after the splits the newcomer's bucket is full and not the last: a replacement */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	fill_siblings(t, &self);
	for (unsigned i = 0; i < 4; i++) {
		id_cp(&id, &self, 3, (uint16_t)(i + 1));
		assert_int_equal(add(t, &id, 10, NULL), KBR_TABLE_ADDED);
	}
	id_cp(&id, &self, 3, 9);
	assert_int_equal(add(t, &id, 20, NULL), KBR_TABLE_PENDING);
	assert_int_equal(kbr_table_bucket_count(t), 5);
	assert_int_equal(kbr_table_bucket_size(t, 3), 4);
	assert_int_equal(kbr_table_bucket_size(t, 4), 0);
	assert_int_equal(kbr_table_replacement_count(t, 3), 1);
	kbr_table_free(t);
}

static void
eviction_rules(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, e[4], far, n1, n2, n3, n4, n5;
	struct kbr_contact stale, c;

	(void)state;
	self_id(&self);
	params(&p, 4, 1, 2);	/* a stale entry is reported again after 2 * 1000 ms */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	assert_int_equal(kbr_table_bucket_last_seen(t, 0), 0);
	fill_siblings(t, &self);
	for (unsigned i = 0; i < 4; i++) {
		id_cp(&e[i], &self, 0, (uint16_t)(i + 1));
		assert_int_equal(add(t, &e[i], 100 * (i + 1), NULL), KBR_TABLE_ADDED);
	}
	id_cp(&far, &self, 6, 1);
	assert_int_equal(add(t, &far, 450, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_count(t), 2);
	assert_int_equal(kbr_table_bucket_last_seen(t, 0), 100);
	assert_int_equal(kbr_table_bucket_last_seen(t, 1), 450);
	assert_int_equal(kbr_table_bucket_last_seen(t, 7), 0);

	/* bucket 0 is full and not the last: the newcomer waits, the oldest gets pinged */
	id_cp(&n1, &self, 0, 11);
	memset(&stale, 0, sizeof(stale));
	assert_int_equal(add(t, &n1, 500, &stale), KBR_TABLE_PENDING);
	assert_true(nodeid_eq(&stale.id, &e[0]));
	assert_int_equal(stale.last_seen, 100);
	/* soon after, the same stale entry is not reported again */
	id_cp(&n2, &self, 0, 12);
	assert_int_equal(add(t, &n2, 600, &stale), KBR_TABLE_CACHED);
	assert_int_equal(kbr_table_replacement_count(t, 0), 2);
	for (unsigned i = 0; i < 4; i++)
		assert_true(known(t, &e[i]));
	assert_false(known(t, &n1));
	assert_false(known(t, &n2));
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);

	/* the cache is bounded: its least recently seen (n1) goes */
	id_cp(&n3, &self, 0, 13);
	assert_int_equal(add(t, &n3, 700, NULL), KBR_TABLE_CACHED);
	assert_int_equal(kbr_table_replacement_count(t, 0), 2);
	assert_int_equal(kbr_table_remove(t, &n1), -ENOENT);
	/* a replacement that sends again is refreshed where it is */
	assert_int_equal(add(t, &n2, 800, NULL), KBR_TABLE_CACHED);
	assert_int_equal(add(t, &n3, 2400, NULL), KBR_TABLE_CACHED);
	assert_int_equal(kbr_table_replacement_count(t, 0), 2);

	/* the window has passed: e[0] is reported again; n2 (800) leaves the cache */
	id_cp(&n4, &self, 0, 14);
	assert_int_equal(add(t, &n4, 2500, &stale), KBR_TABLE_PENDING);
	assert_true(nodeid_eq(&stale.id, &e[0]));
	assert_int_equal(kbr_table_remove(t, &n2), -ENOENT);
	/* e[0] answers the ping, so e[1] is now the least recently seen */
	assert_int_equal(add(t, &e[0], 2600, NULL), KBR_TABLE_UPDATED);
	assert_int_equal(kbr_table_bucket_last_seen(t, 0), 200);
	id_cp(&n5, &self, 0, 15);
	assert_int_equal(add(t, &n5, 2700, &stale), KBR_TABLE_PENDING);
	assert_true(nodeid_eq(&stale.id, &e[1]));
	assert_int_equal(kbr_table_replacement_count(t, 0), 2);	/* n4, n5 */

	/* e[1] does not answer: after max_fails it goes and n5 (most recent) takes its place */
	assert_int_equal(kbr_table_failed(t, &e[1], p.max_fails), 0);
	assert_int_equal(kbr_table_find(t, &e[1], &c), 0);
	assert_int_equal(c.fails, 1);
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);
	assert_int_equal(kbr_table_failed(t, &e[1], p.max_fails), 1);
	assert_int_equal(kbr_table_find(t, &e[1], &c), -ENOENT);
	assert_int_equal(kbr_table_failed(t, &e[1], p.max_fails), -ENOENT);
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);
	assert_int_equal(kbr_table_replacement_count(t, 0), 1);
	assert_int_equal(kbr_table_find(t, &n5, &c), 0);
	assert_int_equal(c.first_seen, 2700);
	assert_int_equal(kbr_table_bucket_of(t, &n5), 0);
	assert_false(known(t, &n4));
	assert_true(known(t, &e[0]));
	assert_true(known(t, &e[2]));
	assert_true(known(t, &e[3]));

	/* an answer resets the failure count */
	assert_int_equal(kbr_table_failed(t, &e[2], p.max_fails), 0);
	assert_int_equal(add(t, &e[2], 2800, NULL), KBR_TABLE_UPDATED);
	assert_int_equal(kbr_table_find(t, &e[2], &c), 0);
	assert_int_equal(c.fails, 0);
	assert_int_equal(kbr_table_failed(t, &e[2], p.max_fails), 0);
	assert_true(known(t, &e[2]));

	/* a replacement that keeps failing is dropped too */
	assert_int_equal(kbr_table_failed(t, &n4, p.max_fails), 0);
	assert_int_equal(kbr_table_failed(t, &n4, p.max_fails), 1);
	assert_int_equal(kbr_table_replacement_count(t, 0), 0);
	assert_int_equal(kbr_table_failed(t, &n4, p.max_fails), -ENOENT);

	/* with an empty cache a removed entry leaves a hole that the next newcomer fills */
	assert_int_equal(kbr_table_remove(t, &e[3]), 0);
	assert_int_equal(kbr_table_bucket_size(t, 0), 3);
	assert_int_equal(add(t, &n1, 2900, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_size(t, 0), 4);
	kbr_table_free(t);
}

/* Sorting with a target for the naive reference. */
static const struct nodeid *sort_target;

static int
by_distance(const void *a, const void *b)
{
	const struct kbr_contact *ca = a, *cb = b;

	return kbr_distance_cmp(sort_target, &ca->id, &cb->id);
}

static int
by_id(const void *a, const void *b)
{
	const struct kbr_contact *ca = a, *cb = b;

	return nodeid_cmp(&ca->id, &cb->id);
}

static void
sibling_table(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, sib[10], far, near, id;
	struct kbr_contact *all, *ref;
	uint64_t seed = 0x5eed5eed1234ULL;
	size_t n;

	(void)state;
	self_id(&self);
	params(&p, 4, 2, 2);	/* 10 siblings */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	for (unsigned i = 0; i < 10; i++) {
		id_cp(&sib[i], &self, 20 + i, 0);
		assert_int_equal(add(t, &sib[i], i + 1, NULL), KBR_TABLE_ADDED);
	}
	assert_int_equal(kbr_table_sibling_count(t), 10);
	assert_int_equal(kbr_table_size(t), 10);
	assert_int_equal(kbr_table_bucket_size(t, 0), 0);

	/* farther than every sibling: into a bucket */
	id_cp(&far, &self, 5, 1);
	assert_int_equal(add(t, &far, 20, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_sibling_count(t), 10);
	assert_int_equal(kbr_table_bucket_size(t, 0), 1);
	assert_false(is_sibling(t, &far));

	/* closer than the farthest sibling (sib[0]), which moves down into its bucket */
	id_cp(&near, &self, 40, 0);
	assert_int_equal(add(t, &near, 30, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_sibling_count(t), 10);
	assert_int_equal(kbr_table_size(t), 12);
	assert_true(is_sibling(t, &near));
	assert_false(is_sibling(t, &sib[0]));
	assert_true(known(t, &sib[0]));
	assert_int_equal(kbr_table_bucket_size(t, 0), 2);

	/* a sibling leaves: the closest bucket entry (sib[0], not far) moves up */
	assert_int_equal(kbr_table_remove(t, &near), 0);
	assert_int_equal(kbr_table_sibling_count(t), 10);
	assert_true(is_sibling(t, &sib[0]));
	assert_false(is_sibling(t, &far));
	assert_int_equal(kbr_table_size(t), 11);
	/* the same when a sibling fails */
	assert_int_equal(kbr_table_failed(t, &sib[3], 1), 1);
	assert_int_equal(kbr_table_sibling_count(t), 10);
	assert_true(is_sibling(t, &far));
	assert_int_equal(kbr_table_bucket_size(t, 0), 0);
	/* nothing left to move up */
	assert_int_equal(kbr_table_remove(t, &sib[4]), 0);
	assert_int_equal(kbr_table_sibling_count(t), 9);
	assert_int_equal(kbr_table_size(t), 9);
	kbr_table_free(t);

	/* with many random contacts the siblings are exactly the 10 closest */
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	all = calloc(MAX_COLLECT, sizeof(*all));
	ref = calloc(MAX_COLLECT, sizeof(*ref));
	assert_non_null(all);
	assert_non_null(ref);
	for (unsigned i = 0; i < 300; i++) {
		rand_id_cp(&id, &self, (unsigned)(rng(&seed) % 30), &seed);
		assert_true(add(t, &id, 100 + i, NULL) > 0);
		n = collect(t, all);
		memcpy(ref, all, n * sizeof(*ref));
		sort_target = &self;
		qsort(ref, n, sizeof(*ref), by_distance);
		assert_int_equal(kbr_table_sibling_count(t), n < 10 ? n : 10);
		for (size_t j = 0; j < kbr_table_sibling_count(t); j++)
			assert_true(nodeid_eq(&all[j].id, &ref[j].id));	/* kept sorted too */
	}
	free(all);
	free(ref);
	kbr_table_free(t);
}

static void
id_locator_split(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, a, b, e[4], split, r;
	struct kbr_addr a1 = addr_n(1), a2;
	struct kbr_contact c;

	(void)state;
	self_id(&self);
	assert_int_equal(kbr_addr_parse(&a2, "[2001:db8::7]:9999"), 0);
	params(&p, 4, 1, 2);
	t = kbr_table_new(&self, &p);
	assert_non_null(t);

	/* a sibling */
	id_cp(&a, &self, 3, 7);
	assert_int_equal(kbr_table_update(t, &a, &a1, 10, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_find(t, &a, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &a1));
	assert_int_equal(c.first_seen, 10);
	assert_int_equal(c.last_seen, 10);
	assert_int_equal(kbr_table_failed(t, &a, 5), 0);
	assert_int_equal(kbr_table_update(t, &a, &a2, 50, NULL), KBR_TABLE_UPDATED);
	assert_int_equal(kbr_table_find(t, &a, &c), 0);
	assert_true(nodeid_eq(&c.id, &a));
	assert_true(kbr_addr_eq(&c.addr, &a2));
	assert_int_equal(c.first_seen, 10);
	assert_int_equal(c.last_seen, 50);
	assert_int_equal(c.fails, 0);
	assert_int_equal(kbr_table_size(t), 1);
	assert_int_equal(kbr_table_remove(t, &a), 0);

	/* a bucket entry */
	fill_siblings(t, &self);
	id_cp(&b, &self, 2, 1);
	assert_int_equal(kbr_table_update(t, &b, &a1, 20, NULL), KBR_TABLE_ADDED);
	assert_int_equal(kbr_table_bucket_size(t, 0), 1);
	assert_int_equal(kbr_table_update(t, &b, &a2, 30, NULL), KBR_TABLE_UPDATED);
	assert_int_equal(kbr_table_find(t, &b, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &a2));
	assert_int_equal(c.first_seen, 20);
	assert_int_equal(c.last_seen, 30);
	assert_int_equal(kbr_table_size(t), 6);
	assert_int_equal(kbr_table_remove(t, &b), 0);

	/* a replacement keeps its new address when it is promoted */
	for (unsigned i = 0; i < 4; i++) {
		id_cp(&e[i], &self, 0, (uint16_t)(i + 1));
		assert_int_equal(add(t, &e[i], 40, NULL), KBR_TABLE_ADDED);
	}
	id_cp(&split, &self, 6, 1);
	assert_int_equal(add(t, &split, 40, NULL), KBR_TABLE_ADDED);
	id_cp(&r, &self, 0, 99);
	assert_int_equal(kbr_table_update(t, &r, &a1, 100, NULL), KBR_TABLE_PENDING);
	assert_int_equal(kbr_table_update(t, &r, &a2, 200, NULL), KBR_TABLE_CACHED);
	assert_int_equal(kbr_table_find(t, &r, &c), -ENOENT);
	assert_int_equal(kbr_table_remove(t, &e[2]), 0);
	assert_int_equal(kbr_table_replacement_count(t, 0), 0);
	assert_int_equal(kbr_table_find(t, &r, &c), 0);
	assert_true(kbr_addr_eq(&c.addr, &a2));
	assert_int_equal(c.first_seen, 100);
	assert_int_equal(c.last_seen, 200);
	kbr_table_free(t);
}

/* The invariants that hold after every operation. all has MAX_COLLECT slots. */
static void
check_invariants(const struct kbr_table *t, const struct nodeid *self,
    const struct kbr_params *p, struct kbr_contact *all)
{
	struct kbr_contact *sorted, c;
	size_t n = collect(t, all), ns = kbr_table_sibling_count(t), sum = ns, at, far, near;
	size_t smax = KBR_SIBLING_FACTOR * p->s;
	unsigned nb = kbr_table_bucket_count(t);

	assert_int_equal(n, kbr_table_size(t));
	assert_true(ns <= smax);
	/* as full as the table allows */
	assert_int_equal(ns, n < smax ? n : smax);
	assert_true(nb >= 1 && nb <= NODEID_BITS);
	for (unsigned i = 0; i < nb; i++) {
		size_t bs = kbr_table_bucket_size(t, i), rs = kbr_table_replacement_count(t, i);

		assert_true(bs <= p->k);
		assert_true(rs <= p->replacements);
		/* replacements wait only for full buckets, and the last bucket splits instead */
		if (rs > 0)
			assert_int_equal(bs, p->k);
		if (i == nb - 1)
			assert_int_equal(rs, 0);
		sum += bs;
	}
	assert_int_equal(sum, n);
	assert_int_equal(kbr_table_bucket_size(t, nb), 0);

	/* no ID twice, and never self */
	sorted = calloc(n + 1, sizeof(*sorted));
	assert_non_null(sorted);
	memcpy(sorted, all, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), by_id);
	for (size_t i = 1; i < n; i++)
		assert_true(nodeid_cmp(&sorted[i - 1].id, &sorted[i].id) != 0);
	free(sorted);
	for (size_t i = 0; i < n; i++) {
		assert_false(nodeid_eq(&all[i].id, self));
		assert_int_equal(kbr_table_find(t, &all[i].id, &c), 0);
		assert_memory_equal(&c, &all[i], sizeof(c));
	}

	/* foreach gives the siblings first, then bucket 0, 1, ...: each where bucket_of says */
	at = ns;
	for (unsigned i = 0; i < nb; i++) {
		size_t bs = kbr_table_bucket_size(t, i);

		for (size_t j = 0; j < bs; j++, at++)
			assert_int_equal(kbr_table_bucket_of(t, &all[at].id), i);
	}

	/* every sibling is closer to self than every bucket entry */
	if (ns == 0 || ns == n)
		return;
	far = 0;
	near = ns;
	for (size_t i = 1; i < ns; i++)
		if (kbr_distance_cmp(self, &all[i].id, &all[far].id) > 0)
			far = i;
	for (size_t i = ns + 1; i < n; i++)
		if (kbr_distance_cmp(self, &all[i].id, &all[near].id) < 0)
			near = i;
	assert_true(kbr_distance_cmp(self, &all[far].id, &all[near].id) < 0);
}

/* Compares kbr_table_closest with a full sort of every contact. */
static void
check_closest(const struct kbr_table *t, const struct nodeid *target, size_t max,
    struct kbr_contact *all, struct kbr_contact *out)
{
	size_t n = collect(t, all), got, want;

	sort_target = target;
	qsort(all, n, sizeof(*all), by_distance);
	want = max < n ? max : n;
	got = kbr_table_closest(t, target, out, max);
	assert_int_equal(got, want);
	for (size_t i = 0; i < got; i++)
		assert_memory_equal(&out[i], &all[i], sizeof(out[i]));
}

static void
random_run(const struct kbr_params *p, uint64_t seed)
{
	struct kbr_table *t;
	struct nodeid self, target;
	struct nodeid *pool;
	struct kbr_contact *all, *out, before, after, stale;
	uint64_t now = 1000;
	size_t size, seen[KBR_TABLE_SELF + 1] = { 0 }, dropped = 0;
	unsigned max_nb = 0;
	int r;

	rng_bytes(&seed, self.b, NODEID_LEN);
	pool = calloc(POOL, sizeof(*pool));
	all = calloc(MAX_COLLECT, sizeof(*all));
	out = calloc(MAX_COLLECT, sizeof(*out));
	assert_non_null(pool);
	assert_non_null(all);
	assert_non_null(out);
	for (unsigned i = 0; i < POOL; i++) {
		unsigned cp;

		/* half like real random IDs (mostly short prefixes), half spread deeper */
		if (rng(&seed) % 2) {
			cp = 0;
			while (cp < 40 && rng(&seed) % 2)
				cp++;
		} else {
			cp = (unsigned)(rng(&seed) % 48);
		}
		rand_id_cp(&pool[i], &self, cp, &seed);
	}
	t = kbr_table_new(&self, p);
	assert_non_null(t);
	for (unsigned op = 0; op < RANDOM_OPS; op++) {
		const struct nodeid *id = &pool[rng(&seed) % POOL];
		unsigned what = (unsigned)(rng(&seed) % 100);
		bool was = kbr_table_find(t, id, &before) == 0;
		bool room = kbr_table_has_room(t, id);
		struct kbr_addr a = addr_n((unsigned)(rng(&seed) % 500));

		/* a contact the table holds has no use for room; one without room is never
		 * added (it can only become a replacement) */
		if (was)
			assert_false(room);

		now += rng(&seed) % 400;
		size = kbr_table_size(t);
		if (what < 70) {
			r = kbr_table_update(t, id, &a, now, &stale);
			assert_true(r >= KBR_TABLE_ADDED && r <= KBR_TABLE_CACHED);
			seen[r]++;
			if (was) {
				assert_int_equal(r, KBR_TABLE_UPDATED);
				assert_int_equal(kbr_table_find(t, id, &after), 0);
				assert_true(kbr_addr_eq(&after.addr, &a));
				assert_int_equal(after.first_seen, before.first_seen);
				assert_int_equal(after.last_seen, now);
				assert_int_equal(after.fails, 0);
				assert_int_equal(kbr_table_size(t), size);
			} else if (r == KBR_TABLE_ADDED) {
				assert_true(room);
				assert_int_equal(kbr_table_find(t, id, &after), 0);
				assert_int_equal(after.first_seen, now);
				assert_true(kbr_table_size(t) == size + 1 || kbr_table_size(t) == size);
			} else {
				unsigned b = kbr_table_bucket_of(t, id);

				assert_true(r == KBR_TABLE_PENDING || r == KBR_TABLE_CACHED);
				assert_false(known(t, id));
				assert_int_equal(kbr_table_size(t), size);
				assert_int_equal(kbr_table_bucket_size(t, b), p->k);
				if (r == KBR_TABLE_PENDING) {
					assert_true(known(t, &stale.id));
					assert_int_equal(kbr_table_bucket_of(t, &stale.id), b);
					assert_int_equal(stale.last_seen,
					    kbr_table_bucket_last_seen(t, b));
				}
			}
		} else if (what < 85) {
			r = kbr_table_failed(t, id, p->max_fails);
			assert_true(r == 0 || r == 1 || r == -ENOENT);
			if (was) {
				assert_true(r >= 0);
				if (r == 1) {
					dropped++;
					assert_false(known(t, id));
				} else {
					assert_int_equal(kbr_table_find(t, id, &after), 0);
					assert_int_equal(after.fails, before.fails + 1);
				}
			}
		} else {
			r = kbr_table_remove(t, id);
			assert_true(r == 0 || r == -ENOENT);
			if (was)
				assert_int_equal(r, 0);
			assert_false(known(t, id));
			if (was)
				assert_true(kbr_table_size(t) == size || kbr_table_size(t) + 1 == size);
			else
				assert_int_equal(kbr_table_size(t), size);
		}
		check_invariants(t, &self, p, all);
		if (kbr_table_bucket_count(t) > max_nb)
			max_nb = kbr_table_bucket_count(t);
		if (op % 5 != 0)
			continue;
		for (unsigned j = 0; j < 4; j++) {
			size_t max = (size_t)(rng(&seed) % (kbr_table_size(t) + 3)) + 1;

			if (j == 0) {
				target = self;
			} else if (j == 1) {
				/* near a known ID, where the order matters most */
				target = pool[rng(&seed) % POOL];
				target.b[NODEID_LEN - 1] ^= (uint8_t)rng(&seed);
			} else {
				rng_bytes(&seed, target.b, NODEID_LEN);
			}
			check_closest(t, &target, max, all, out);
		}
		check_closest(t, &pool[rng(&seed) % POOL], MAX_COLLECT, all, out);
	}
	assert_int_equal(kbr_table_closest(t, &self, out, 0), 0);
	/* the run went through every case */
	print_message("k %u s %u: buckets %u, added %zu, updated %zu, pending %zu, cached %zu, "
	    "dropped %zu\n", p->k, p->s, max_nb, seen[KBR_TABLE_ADDED], seen[KBR_TABLE_UPDATED],
	    seen[KBR_TABLE_PENDING], seen[KBR_TABLE_CACHED], dropped);
	assert_true(max_nb >= 5);
	assert_true(seen[KBR_TABLE_ADDED] > 0 && seen[KBR_TABLE_UPDATED] > 0);
	assert_true(seen[KBR_TABLE_PENDING] > 0 && seen[KBR_TABLE_CACHED] > 0);
	assert_true(dropped > 0);
	kbr_table_free(t);
	free(pool);
	free(all);
	free(out);
}

static void
random_against_reference(void **state)
{
	struct kbr_params p;

	(void)state;
	params(&p, 4, 2, 3);
	random_run(&p, 0x0123456789abcdefULL);
	params(&p, 1, 1, 0);
	random_run(&p, 0x9e3779b97f4a7c15ULL);
	params(&p, 8, 1, 8);
	p.max_fails = 1;
	random_run(&p, 0xdeadbeefcafef00dULL);
	params(&p, 3, 4, 1);
	p.max_fails = 3;
	random_run(&p, 0x243f6a8885a308d3ULL);
}

static void
bad_input(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, id;
	struct kbr_contact c, stale;

	(void)state;
	self_id(&self);
	kbr_table_free(NULL);
	params(&p, 0, 2, 2);
	assert_null(kbr_table_new(&self, &p));
	params(&p, KBR_MAX_K + 1, 2, 2);
	assert_null(kbr_table_new(&self, &p));
	params(&p, 4, 0, 2);
	assert_null(kbr_table_new(&self, &p));
	params(&p, 4, KBR_MAX_S + 1, 2);
	assert_null(kbr_table_new(&self, &p));
	params(&p, 4, 2, KBR_MAX_K + 1);
	assert_null(kbr_table_new(&self, &p));
	assert_null(kbr_table_new(&self, NULL));
	params(&p, KBR_MAX_K, KBR_MAX_S, KBR_MAX_K);
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	kbr_table_free(t);

	params(&p, 4, 2, 2);
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	assert_int_equal(add(t, &self, 10, &stale), KBR_TABLE_SELF);
	assert_int_equal(kbr_table_size(t), 0);
	assert_int_equal(kbr_table_find(t, &self, &c), -ENOENT);
	id_cp(&id, &self, 7, 1);
	assert_int_equal(kbr_table_find(t, &id, &c), -ENOENT);
	assert_int_equal(kbr_table_remove(t, &id), -ENOENT);
	assert_int_equal(kbr_table_failed(t, &id, 2), -ENOENT);
	assert_int_equal(kbr_table_closest(t, &id, &c, 1), 0);
	assert_int_equal(add(t, &id, 10, NULL), KBR_TABLE_ADDED);
	id_cp(&id, &self, 8, 1);
	assert_int_equal(kbr_table_remove(t, &id), -ENOENT);
	assert_int_equal(kbr_table_failed(t, &id, 2), -ENOENT);
	assert_int_equal(kbr_table_size(t), 1);
	assert_int_equal(kbr_table_bucket_size(t, 5), 0);
	assert_int_equal(kbr_table_replacement_count(t, 5), 0);
	kbr_table_free(t);
}

static void
check_random_ids(const struct kbr_table *t, const struct nodeid *self, uint64_t *seed)
{
	unsigned nb = kbr_table_bucket_count(t);
	uint8_t rnd[NODEID_LEN];
	struct nodeid id;

	for (unsigned i = 0; i < nb; i++) {
		for (unsigned n = 0; n < 40; n++) {
			unsigned cp;

			rng_bytes(seed, rnd, sizeof(rnd));
			if (n == 0)
				memcpy(rnd, self->b, sizeof(rnd));	/* the worst case */
			kbr_table_bucket_random_id(t, i, rnd, &id);
			cp = kbr_common_prefix(self, &id);
			assert_int_equal(kbr_table_bucket_of(t, &id), i);
			if (i < nb - 1)
				assert_int_equal(cp, i);
			else
				assert_true(cp >= i);
			/* the bits below the prefix come from rnd */
			for (unsigned bit = i + 1; bit < NODEID_BITS; bit++)
				assert_int_equal(id.b[bit / 8] & (0x80 >> (bit % 8)),
				    rnd[bit / 8] & (0x80 >> (bit % 8)));
		}
	}
}

static void
bucket_random_ids(void **state)
{
	struct kbr_params p;
	struct kbr_table *t;
	struct nodeid self, id;
	uint64_t seed = 42;

	(void)state;
	self_id(&self);
	params(&p, 1, 1, 2);
	t = kbr_table_new(&self, &p);
	assert_non_null(t);
	check_random_ids(t, &self, &seed);
	/* five siblings at cp 100..96, then one contact per bucket down to cp 0 */
	for (unsigned cp = 101; cp-- > 0;) {
		id_cp(&id, &self, cp, 1);
		assert_int_equal(add(t, &id, 10, NULL), KBR_TABLE_ADDED);
	}
	assert_int_equal(kbr_table_bucket_count(t), 96);
	for (unsigned i = 0; i < 96; i++)
		assert_int_equal(kbr_table_bucket_size(t, i), 1);
	check_random_ids(t, &self, &seed);
	kbr_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_splitting),
		cmocka_unit_test(eviction_rules),
		cmocka_unit_test(sibling_table),
		cmocka_unit_test(id_locator_split),
		cmocka_unit_test(random_against_reference),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(bucket_random_ids),
	};

	return cmocka_run_group_tests_name("kbr/table", tests, NULL, NULL);
}
