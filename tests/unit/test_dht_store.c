/* Tests for dht/store_mem.c and dht/store_lmdb.c: one contract run against both backends,
 * then bounds, persistence across close and crash, and corrupt entries in the LMDB file. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "dht/store.h"

#define T0 UINT64_C(1700000000000)	/* "now" of the records, ms */

enum {
	OWNERS = 3,
	COLLECT_MAX = 8192,		/* records one listing may return */
	MEM_BOUND = 100000,		/* the contract's memory store */
	LMDB_MAP = 16 << 20,		/* the contract's LMDB map */
	TINY_MAP = 64 << 10,		/* fills up after a few dozen records */
	DBKEY_LEN = NODEID_LEN + ID_PUBKEY_LEN + 4 + 4,	/* the LMDB store's key */
	CHILD_PUTS = 40,		/* puts of the child that exits */
	KILLED_PUTS = 2000,		/* at most, of the child that is killed */
	KILL_AFTER = 10,		/* acknowledged puts before the kill */
};

struct fixture;

/* A backend the contract runs on. */
struct backend {
	/* The store; a persistent one opens the data of the fixture's directory anew. */
	struct dht_store *(*open)(struct fixture *f);
	unsigned many;			/* records of the test at scale */
};

struct fixture {
	const struct backend *be;	/* NULL for the tests of one backend */
	char dir[64];			/* temporary, removed by teardown */
	char db[96];			/* dir/db: the LMDB environment */
	struct identity *owner[OWNERS];
};

/* Records one listing returned. */
struct collect {
	struct dht_record *v;
	size_t n;
	size_t stop;			/* stop the listing after this many; 0: never */
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
shuffle(unsigned *v, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng(&seed) % i);
		unsigned t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Keys that differ only in their last two bytes: neighbours test the prefix bounds. */
static void
key_n(struct nodeid *k, unsigned n)
{
	memset(k->b, 0xa5, NODEID_LEN);
	k->b[NODEID_LEN - 2] = (uint8_t)(n >> 8);
	k->b[NODEID_LEN - 1] = (uint8_t)n;
}

/* A signed record; no cmocka assertions, so that a forked child may use it. */
static int
rec_fill(struct dht_record *r, const struct fixture *f, unsigned owner,
    const struct nodeid *key, uint32_t kind, uint32_t id, uint64_t seq, uint64_t expiry,
    const char *value)
{
	size_t len = strlen(value);

	memset(r, 0, sizeof(*r));
	if (owner >= OWNERS || len > DHT_MAX_VALUE)
		return -EINVAL;
	r->key = *key;
	r->kind = kind;
	r->id = id;
	r->seq = seq;
	r->expiry = expiry;
	memcpy(r->owner, f->owner[owner]->pub, ID_PUBKEY_LEN);
	r->value_len = (uint16_t)len;
	memcpy(r->value, value, len);
	return dht_record_sign(r, f->owner[owner]);
}

static void
rec(struct dht_record *r, const struct fixture *f, unsigned owner, const struct nodeid *key,
    uint32_t kind, uint32_t id, uint64_t seq, uint64_t expiry, const char *value)
{
	assert_int_equal(rec_fill(r, f, owner, key, kind, id, seq, expiry, value), 0);
	assert_int_equal(dht_record_verify(r, T0), DHT_OK);
}

/* The i-th record of the child tests. */
static int
child_rec(struct dht_record *r, const struct fixture *f, unsigned i)
{
	struct nodeid k;
	char value[32];

	key_n(&k, i % 7);
	snprintf(value, sizeof(value), "child record %u", i);
	return rec_fill(r, f, i % OWNERS, &k, 1, i, i + 1, T0 + 5000, value);
}

static void
put_ok(struct dht_store *s, const struct dht_record *r)
{
	assert_int_equal(s->ops->put(s, r), 0);
}

static int
collect_fn(void *arg, const struct dht_record *r)
{
	struct collect *c = arg;

	assert_true(c->n < COLLECT_MAX);
	c->v[c->n++] = *r;
	return c->stop != 0 && c->n >= c->stop;
}

static void
collect_init(struct collect *c)
{
	c->v = calloc(COLLECT_MAX, sizeof(*c->v));
	assert_non_null(c->v);
	c->n = 0;
	c->stop = 0;
}

static size_t
get_all(struct dht_store *s, const struct nodeid *key, struct collect *c)
{
	c->n = 0;
	assert_int_equal(s->ops->get(s, key, collect_fn, c), 0);
	return c->n;
}

static size_t
foreach_all(struct dht_store *s, struct collect *c)
{
	c->n = 0;
	assert_int_equal(s->ops->foreach(s, collect_fn, c), 0);
	return c->n;
}

/* The stable order: key, owner, then kind and id as numbers. */
static int
slot_order(const struct dht_record *a, const struct dht_record *b)
{
	int c = nodeid_cmp(&a->key, &b->key);

	if (c == 0)
		c = memcmp(a->owner, b->owner, ID_PUBKEY_LEN);
	if (c == 0 && a->kind != b->kind)
		c = a->kind < b->kind ? -1 : 1;
	if (c == 0 && a->id != b->id)
		c = a->id < b->id ? -1 : 1;
	return c;
}

static int
slot_qsort(const void *a, const void *b)
{
	return slot_order(a, b);
}

static void
assert_sorted(const struct collect *c)
{
	for (size_t i = 1; i < c->n; i++)
		assert_true(slot_order(&c->v[i - 1], &c->v[i]) < 0);
}

/* c holds exactly the n records of want, in the stable order. */
static void
assert_listing(const struct collect *c, const struct dht_record *want, size_t n)
{
	struct dht_record *w = calloc(n ? n : 1, sizeof(*w));

	assert_non_null(w);
	memcpy(w, want, n * sizeof(*w));
	qsort(w, n, sizeof(*w), slot_qsort);
	assert_int_equal(c->n, n);
	for (size_t i = 0; i < n; i++)
		assert_true(dht_record_equal(&c->v[i], &w[i]));
	free(w);
}

/* get(key) lists exactly the n records of want. */
static void
expect_get(struct dht_store *s, const struct nodeid *key, struct collect *c,
    const struct dht_record *want, size_t n)
{
	(void)get_all(s, key, c);
	assert_listing(c, want, n);
}

/* foreach lists exactly the n records of want. */
static void
expect_all(struct dht_store *s, struct collect *c, const struct dht_record *want, size_t n)
{
	(void)foreach_all(s, c);
	assert_listing(c, want, n);
}

/* The store holds r (in r's slot, byte for byte). */
static void
assert_holds(struct dht_store *s, const struct dht_record *r, struct collect *c)
{
	size_t n = get_all(s, &r->key, c);
	bool found = false;

	for (size_t i = 0; i < n; i++)
		if (dht_record_same_slot(&c->v[i], r)) {
			assert_true(dht_record_equal(&c->v[i], r));
			found = true;
		}
	assert_true(found);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t seed[ID_SEED_LEN];

	if (f == NULL)
		return -1;
	f->be = *state;
	snprintf(f->dir, sizeof(f->dir), "/tmp/p2pns-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	for (unsigned i = 0; i < OWNERS; i++) {
		memset(seed, (int)(0x31 + i), sizeof(seed));
		if (identity_from_seed(&f->owner[i], seed, 0) != 0)
			return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int rc;

	for (unsigned i = 0; i < OWNERS; i++)
		identity_free(f->owner[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

static struct dht_store *
open_mem(struct fixture *f)
{
	(void)f;
	return dht_store_mem_new(MEM_BOUND);
}

static struct dht_store *
open_lmdb_map(struct fixture *f, size_t map)
{
	struct dht_store *s;
	int err = 1;

	s = dht_store_lmdb_open(f->db, map, &err);
	assert_non_null(s);
	assert_int_equal(err, 0);
	return s;
}

static struct dht_store *
open_lmdb(struct fixture *f)
{
	return open_lmdb_map(f, LMDB_MAP);
}

static struct dht_store *
open_be(struct fixture *f)
{
	struct dht_store *s = f->be->open(f);

	assert_non_null(s);
	return s;
}

/* The contract, run on every backend. */

static void
put_get(void **state)
{
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record r, big, tomb, bad;
	struct collect c;
	struct nodeid k1, k2;

	collect_init(&c);
	key_n(&k1, 1);
	key_n(&k2, 2);
	assert_int_equal(s->ops->count(s), 0);
	assert_int_equal(get_all(s, &k1, &c), 0);
	assert_int_equal(foreach_all(s, &c), 0);

	rec(&r, f, 0, &k1, 1, 0, 1, T0 + 1000, "10.0.0.1");
	put_ok(s, &r);
	assert_int_equal(s->ops->count(s), 1);
	expect_get(s, &k1, &c, &r, 1);
	assert_int_equal(get_all(s, &k2, &c), 0);
	expect_all(s, &c, &r, 1);

	/* the largest value with a removal secret; a tombstone */
	memset(&big, 0, sizeof(big));
	big.key = k2;
	big.kind = 55;
	big.seq = 7;
	big.expiry = T0 + 2000;
	big.flags = DHT_REC_SECRET;
	memcpy(big.owner, f->owner[1]->pub, ID_PUBKEY_LEN);
	memset(big.secret_hash, 0x5e, NODEID_LEN);
	big.value_len = DHT_MAX_VALUE;
	for (size_t i = 0; i < DHT_MAX_VALUE; i++)
		big.value[i] = (uint8_t)(i * 7);
	assert_int_equal(dht_record_sign(&big, f->owner[1]), 0);
	put_ok(s, &big);
	rec(&tomb, f, 2, &k2, 28, 3, 9, T0 + 3000, "");
	tomb.flags = DHT_REC_TOMBSTONE;
	assert_int_equal(dht_record_sign(&tomb, f->owner[2]), 0);
	put_ok(s, &tomb);
	assert_int_equal(s->ops->count(s), 3);
	assert_holds(s, &big, &c);
	assert_holds(s, &tomb, &c);
	assert_int_equal(get_all(s, &k2, &c), 2);

	/* what cannot be encoded is refused and changes nothing */
	bad = r;
	bad.id = 99;
	bad.value_len = DHT_MAX_VALUE + 1;
	assert_int_equal(s->ops->put(s, &bad), -EINVAL);
	bad.value_len = 1;
	bad.flags = 0x80;
	assert_int_equal(s->ops->put(s, &bad), -EINVAL);
	bad.flags = DHT_REC_TOMBSTONE;
	assert_int_equal(s->ops->put(s, &bad), -EINVAL);
	assert_int_equal(s->ops->count(s), 3);
	assert_int_equal(get_all(s, &k1, &c), 1);

	s->ops->close(s);
	free(c.v);
}

static void
replace_slot(void **state)
{
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record a, b, d, other;
	struct collect c;
	struct nodeid k;

	collect_init(&c);
	key_n(&k, 1);
	rec(&a, f, 0, &k, 1, 0, 5, T0 + 1000, "first");
	rec(&b, f, 0, &k, 1, 0, 3, T0 + 900, "second, longer than the first");
	put_ok(s, &a);
	/* a lower seq replaces too: the rules are the caller's */
	put_ok(s, &b);
	assert_int_equal(s->ops->count(s), 1);
	expect_get(s, &k, &c, &b, 1);

	memset(&d, 0, sizeof(d));
	d = b;
	d.seq = 9;
	d.flags = DHT_REC_SECRET;
	memset(d.secret_hash, 0x42, NODEID_LEN);
	d.value_len = 1;
	assert_int_equal(dht_record_sign(&d, f->owner[0]), 0);
	put_ok(s, &d);
	assert_int_equal(s->ops->count(s), 1);
	expect_get(s, &k, &c, &d, 1);

	/* the next id is another slot */
	rec(&other, f, 0, &k, 1, 1, 1, T0 + 1000, "other");
	put_ok(s, &other);
	assert_int_equal(s->ops->count(s), 2);
	put_ok(s, &a);
	assert_int_equal(s->ops->count(s), 2);
	assert_holds(s, &a, &c);
	assert_holds(s, &other, &c);

	s->ops->close(s);
	free(c.v);
}

static void
stable_order(void **state)
{
	static const uint32_t kinds[] = {1, 28, 256};	/* 256 < 1 little-endian */
	static const uint32_t ids[] = {0, 1, 0x01000000};
	enum { N = OWNERS * 3 * 3, SIDE = 4 };
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record want[N], side[2 * SIDE];
	unsigned order[N];
	struct collect c, again;
	struct nodeid k0, k1, k2;
	size_t n = 0;

	collect_init(&c);
	collect_init(&again);
	key_n(&k0, 0x00ff);
	key_n(&k1, 0x0100);
	key_n(&k2, 0x0101);
	for (unsigned o = 0; o < OWNERS; o++)
		for (unsigned i = 0; i < 3; i++)
			for (unsigned j = 0; j < 3; j++) {
				char v[32];

				snprintf(v, sizeof(v), "o%u k%u i%u", o, kinds[i], ids[j]);
				rec(&want[n++], f, o, &k1, kinds[i], ids[j], 1, T0 + 1000, v);
			}
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N, 7);
	/* neighbours on both sides, put in between */
	for (unsigned i = 0; i < SIDE; i++) {
		rec(&side[i], f, i % OWNERS, &k0, 0xffffffffu, i, 1, T0 + 1000, "below");
		rec(&side[SIDE + i], f, i % OWNERS, &k2, 0, i, 1, T0 + 1000, "above");
	}
	for (unsigned i = 0; i < N; i++) {
		put_ok(s, &want[order[i]]);
		if (i < 2 * SIDE)
			put_ok(s, &side[i]);
	}
	assert_int_equal(s->ops->count(s), N + 2 * SIDE);

	assert_int_equal(get_all(s, &k1, &c), N);
	assert_sorted(&c);
	assert_listing(&c, want, N);
	assert_int_equal(get_all(s, &k1, &again), N);
	for (size_t i = 0; i < N; i++)
		assert_true(dht_record_equal(&c.v[i], &again.v[i]));
	expect_get(s, &k0, &again, side, SIDE);
	expect_get(s, &k2, &again, side + SIDE, SIDE);

	/* stopping early */
	again.stop = 5;
	assert_int_equal(get_all(s, &k1, &again), 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(dht_record_equal(&c.v[i], &again.v[i]));

	s->ops->close(s);
	free(c.v);
	free(again.v);
}

static void
del_slot(void **state)
{
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record r[5], slot;
	struct collect c;
	struct nodeid k1, k2;

	collect_init(&c);
	key_n(&k1, 1);
	key_n(&k2, 2);
	rec(&r[0], f, 0, &k1, 1, 0, 1, T0 + 1000, "a");
	rec(&r[1], f, 0, &k1, 1, 1, 1, T0 + 1000, "b");
	rec(&r[2], f, 1, &k1, 1, 0, 1, T0 + 1000, "c");
	rec(&r[3], f, 1, &k1, 28, 0, 1, T0 + 1000, "d");
	rec(&r[4], f, 0, &k2, 1, 0, 1, T0 + 1000, "e");
	for (unsigned i = 0; i < 5; i++)
		put_ok(s, &r[i]);

	/* only the slot counts */
	memset(&slot, 0, sizeof(slot));
	slot.key = k1;
	memcpy(slot.owner, r[0].owner, ID_PUBKEY_LEN);
	slot.kind = 1;
	assert_int_equal(s->ops->del(s, &slot), 0);
	assert_int_equal(s->ops->count(s), 4);
	expect_get(s, &k1, &c, r + 1, 3);
	assert_int_equal(s->ops->del(s, &slot), -ENOENT);
	slot.kind = 2;
	assert_int_equal(s->ops->del(s, &slot), -ENOENT);
	slot.kind = 1;
	key_n(&slot.key, 0);
	assert_int_equal(s->ops->del(s, &slot), -ENOENT);
	assert_int_equal(s->ops->count(s), 4);

	assert_int_equal(s->ops->del(s, &r[4]), 0);
	assert_int_equal(get_all(s, &k2, &c), 0);
	assert_int_equal(get_all(s, &k1, &c), 3);
	put_ok(s, &r[0]);
	expect_get(s, &k1, &c, r, 4);
	assert_int_equal(s->ops->count(s), 4);

	s->ops->close(s);
	free(c.v);
}

static void
foreach_all_records(void **state)
{
	enum { N = 10 };
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record want[N];
	unsigned order[N];
	struct collect c;

	collect_init(&c);
	for (unsigned i = 0; i < N; i++) {
		struct nodeid k;

		key_n(&k, 4 - i % 5);
		rec(&want[i], f, i % OWNERS, &k, 1 + i % 2, i, 1, T0 + 1000, "v");
		order[i] = i;
	}
	shuffle(order, N, 3);
	for (unsigned i = 0; i < N; i++)
		put_ok(s, &want[order[i]]);
	assert_int_equal(s->ops->count(s), N);
	assert_int_equal(foreach_all(s, &c), N);
	assert_sorted(&c);
	assert_listing(&c, want, N);
	c.stop = 3;
	assert_int_equal(foreach_all(s, &c), 3);

	s->ops->close(s);
	free(c.v);
}

static void
expire_records(void **state)
{
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	struct dht_record r[4];
	struct collect c;
	struct nodeid k;

	collect_init(&c);
	key_n(&k, 1);
	rec(&r[0], f, 0, &k, 1, 0, 1, T0 + 100, "100");
	rec(&r[1], f, 1, &k, 1, 0, 1, T0 + 200, "200");
	key_n(&k, 2);
	rec(&r[2], f, 2, &k, 1, 0, 1, T0 + 200, "200 too");
	rec(&r[3], f, 0, &k, 1, 0, 1, T0 + 300, "300");
	for (unsigned i = 0; i < 4; i++)
		put_ok(s, &r[i]);

	assert_int_equal(s->ops->expire(s, T0 + 99), 0);
	assert_int_equal(s->ops->count(s), 4);
	/* at the expiry is expired */
	assert_int_equal(s->ops->expire(s, T0 + 200), 3);
	assert_int_equal(s->ops->count(s), 1);
	expect_all(s, &c, &r[3], 1);
	assert_int_equal(s->ops->expire(s, T0 + 200), 0);
	assert_int_equal(s->ops->expire(s, UINT64_MAX), 1);
	assert_int_equal(s->ops->count(s), 0);
	assert_int_equal(s->ops->expire(s, UINT64_MAX), 0);
	assert_int_equal(foreach_all(s, &c), 0);

	s->ops->close(s);
	free(c.v);
}

/* Many records under many keys, in random order; expiry removes most of them. */
static void
at_scale(void **state)
{
	enum { KEYS = 97 };
	struct fixture *f = *state;
	struct dht_store *s = open_be(f);
	unsigned n = f->be->many, gone = 0, total = 0;
	struct dht_record *want = calloc(n, sizeof(*want));
	unsigned *order = calloc(n, sizeof(*order));
	struct collect c;

	assert_non_null(want);
	assert_non_null(order);
	assert_true(n <= COLLECT_MAX);
	collect_init(&c);
	for (unsigned i = 0; i < n; i++) {
		struct nodeid k;
		char v[32];

		key_n(&k, i % KEYS);
		snprintf(v, sizeof(v), "record %u", i);
		/* two of three expire at T0 + 1000 */
		rec(&want[i], f, i % OWNERS, &k, i % 2 ? 1 : 28, i, 1,
		    i % 3 ? T0 + 1000 : T0 + 2000, v);
		gone += i % 3 != 0;
		order[i] = i;
	}
	shuffle(order, n, 11);
	for (unsigned i = 0; i < n; i++)
		put_ok(s, &want[order[i]]);
	assert_int_equal(s->ops->count(s), n);
	for (unsigned i = 0; i < KEYS; i++) {
		struct nodeid k;

		key_n(&k, i);
		total += get_all(s, &k, &c);
		assert_sorted(&c);
		for (size_t j = 0; j < c.n; j++)
			assert_int_equal(c.v[j].id % KEYS, i);
	}
	assert_int_equal(total, n);
	expect_all(s, &c, want, n);

	assert_int_equal(s->ops->expire(s, T0 + 1000), gone);
	assert_int_equal(s->ops->count(s), n - gone);
	assert_int_equal(foreach_all(s, &c), n - gone);
	assert_sorted(&c);
	for (size_t j = 0; j < c.n; j++) {
		assert_int_equal(c.v[j].expiry, T0 + 2000);
		assert_true(dht_record_equal(&c.v[j], &want[c.v[j].id]));
	}

	s->ops->close(s);
	free(c.v);
	free(want);
	free(order);
}

/* get's callback changes the store: the listing goes on after the slot it delivered. */
struct churn {
	struct dht_store *s;
	const struct dht_record *before, *after;	/* put on the first call */
	struct collect c;
};

static int
churn_fn(void *arg, const struct dht_record *r)
{
	struct churn *ch = arg;

	if (ch->c.n == 0) {
		put_ok(ch->s, ch->before);
		put_ok(ch->s, ch->after);
	}
	assert_int_equal(ch->s->ops->del(ch->s, r), 0);
	return collect_fn(&ch->c, r);
}

static void
get_callback_changes_store(void **state)
{
	enum { N = 6 };
	struct fixture *f = *state;
	struct churn ch;
	struct dht_record want[N + 1], before, *first;
	struct collect c;
	struct nodeid k;

	collect_init(&c);
	collect_init(&ch.c);
	ch.s = open_be(f);
	key_n(&k, 1);
	for (unsigned i = 0; i < N; i++) {
		rec(&want[i], f, i % OWNERS, &k, 10, i, 1, T0 + 1000, "x");
		put_ok(ch.s, &want[i]);
	}
	/* before the first slot: kind 1 of the first owner; after the last: kind 99 */
	assert_int_equal(get_all(ch.s, &k, &c), N);
	first = &c.v[0];
	rec(&before, f, 0, &k, 1, 0, 1, T0 + 1000, "before");
	memcpy(before.owner, first->owner, ID_PUBKEY_LEN);
	for (unsigned o = 0; o < OWNERS; o++)
		if (memcmp(f->owner[o]->pub, first->owner, ID_PUBKEY_LEN) == 0)
			assert_int_equal(dht_record_sign(&before, f->owner[o]), 0);
	rec(&want[N], f, 0, &k, 99, 0, 1, T0 + 1000, "after");
	ch.before = &before;
	ch.after = &want[N];

	assert_int_equal(ch.s->ops->get(ch.s, &k, churn_fn, &ch), 0);
	assert_listing(&ch.c, want, N + 1);
	assert_int_equal(ch.s->ops->count(ch.s), 1);
	expect_get(ch.s, &k, &c, &before, 1);

	ch.s->ops->close(ch.s);
	free(c.v);
	free(ch.c.v);
}

/* The memory store's bound. */

static void
mem_bound(void **state)
{
	enum { MAX = 8 };
	struct fixture *f = *state;
	struct dht_store *s = dht_store_mem_new(MAX);
	struct dht_record r[MAX + 1], newer;
	struct collect c;
	struct nodeid k;

	assert_non_null(s);
	collect_init(&c);
	key_n(&k, 1);
	for (unsigned i = 0; i <= MAX; i++)
		rec(&r[i], f, i % OWNERS, &k, 1, i, 1, T0 + 1000, "bounded");
	for (unsigned i = 0; i < MAX; i++)
		put_ok(s, &r[i]);
	assert_int_equal(s->ops->put(s, &r[MAX]), -ENOSPC);
	assert_int_equal(s->ops->count(s), MAX);
	expect_get(s, &k, &c, r, MAX);
	/* a full store still replaces */
	rec(&newer, f, 3 % OWNERS, &k, 1, 3, 2, T0 + 1000, "newer");
	put_ok(s, &newer);
	assert_int_equal(s->ops->count(s), MAX);
	assert_holds(s, &newer, &c);
	r[3] = newer;
	expect_get(s, &k, &c, r, MAX);
	/* room again after a delete */
	assert_int_equal(s->ops->del(s, &r[0]), 0);
	put_ok(s, &r[MAX]);
	assert_int_equal(s->ops->put(s, &r[0]), -ENOSPC);
	expect_get(s, &k, &c, r + 1, MAX);
	assert_int_equal(s->ops->expire(s, UINT64_MAX), MAX);
	for (unsigned i = 0; i < MAX; i++)
		put_ok(s, &r[i]);
	s->ops->close(s);

	s = dht_store_mem_new(0);
	assert_non_null(s);
	assert_int_equal(s->ops->put(s, &r[0]), -ENOSPC);
	assert_int_equal(s->ops->count(s), 0);
	s->ops->close(s);
	free(c.v);
}

/* The LMDB store. */

static void
lmdb_map_full(void **state)
{
	enum { MAX_TRIES = 1000 };
	struct fixture *f = *state;
	struct dht_store *s = open_lmdb_map(f, TINY_MAP);
	struct dht_record *r = calloc(MAX_TRIES, sizeof(*r)), newer;
	char value[601];
	unsigned acked = 0;
	struct collect c;
	int rc = 0;

	assert_non_null(r);
	collect_init(&c);
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (unsigned i = 0; i < MAX_TRIES; i++) {
		struct nodeid k;

		key_n(&k, i);
		rec(&r[i], f, i % OWNERS, &k, 1, i, 1, T0 + 1000, value);
		rc = s->ops->put(s, &r[i]);
		if (rc != 0)
			break;
		acked++;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(acked > 10);
	assert_int_equal(s->ops->count(s), acked);
	expect_all(s, &c, r, acked);
	/* replacing in a full map: either it fits or the old record stays */
	newer = r[0];
	newer.seq = 2;
	assert_int_equal(dht_record_sign(&newer, f->owner[0]), 0);
	rc = s->ops->put(s, &newer);
	assert_true(rc == 0 || rc == -ENOSPC);
	if (rc == 0)
		r[0] = newer;
	assert_holds(s, &r[0], &c);
	s->ops->close(s);

	s = open_lmdb_map(f, TINY_MAP);
	assert_int_equal(s->ops->count(s), acked);
	expect_all(s, &c, r, acked);
	/* a full store can still delete, and then store again */
	assert_int_equal(s->ops->del(s, &r[1]), 0);
	assert_int_equal(s->ops->expire(s, UINT64_MAX), acked - 1);
	assert_int_equal(s->ops->count(s), 0);
	for (unsigned i = 0; i < acked / 2; i++)
		put_ok(s, &r[i]);
	expect_all(s, &c, r, acked / 2);
	s->ops->close(s);
	free(c.v);
	free(r);
}

static void
lmdb_reopen(void **state)
{
	enum { N = 50, DELETED = 5 };
	struct fixture *f = *state;
	struct dht_store *s = open_lmdb(f);
	struct dht_record want[N];
	struct collect c;

	collect_init(&c);
	for (unsigned i = 0; i < N; i++) {
		struct nodeid k;
		char v[32];

		key_n(&k, i % 10);
		snprintf(v, sizeof(v), "kept %u", i);
		rec(&want[i], f, i % OWNERS, &k, i % 4 ? 1 : 33, i, i, T0 + 1000 + i, v);
		put_ok(s, &want[i]);
	}
	for (unsigned i = 0; i < DELETED; i++)
		assert_int_equal(s->ops->del(s, &want[i]), 0);
	s->ops->close(s);

	s = open_lmdb(f);
	assert_int_equal(s->ops->count(s), N - DELETED);
	expect_all(s, &c, want + DELETED, N - DELETED);
	s->ops->close(s);
	/* another map size opens the same data */
	s = open_lmdb_map(f, 2 * LMDB_MAP);
	expect_all(s, &c, want + DELETED, N - DELETED);
	s->ops->close(s);
	free(c.v);
}

/* A child puts records from first to last, writes the index of each put that returned 0
 * to fd, and leaves without closing the store. */
static void
child_puts(const struct fixture *f, int fd, unsigned first, unsigned last)
{
	struct dht_store *s;
	struct dht_record r;
	int err;

	s = dht_store_lmdb_open(f->db, LMDB_MAP, &err);
	if (s == NULL)
		_exit(2);
	for (unsigned i = first; i < last; i++) {
		if (child_rec(&r, f, i) != 0)
			_exit(3);
		if (s->ops->put(s, &r) == 0 && write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
	_exit(0);
}

/* Runs child_puts in a child, killed after kill_after acknowledgements if that is not 0;
 * marks in acked[] what it acknowledged. Returns the child's wait status. */
static int
run_child(const struct fixture *f, unsigned first, unsigned last, unsigned kill_after,
    bool *acked)
{
	unsigned i, n = 0;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_puts(f, fds[1], first, last);
	}
	close(fds[1]);
	while (read(fds[0], &i, sizeof(i)) == sizeof(i)) {
		assert_true(i >= first && i < last);
		acked[i] = true;
		if (++n == kill_after)
			assert_int_equal(kill(pid, SIGKILL), 0);
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
lmdb_crash(void **state)
{
	struct fixture *f = *state;
	bool *acked = calloc(CHILD_PUTS + KILLED_PUTS, sizeof(*acked));
	struct dht_store *s;
	struct dht_record r;
	struct collect c;
	unsigned n;
	int status;

	assert_non_null(acked);
	collect_init(&c);
	/* a child that exits without closing */
	status = run_child(f, 0, CHILD_PUTS, 0, acked);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s = open_lmdb(f);
	assert_int_equal(s->ops->count(s), CHILD_PUTS);
	for (unsigned i = 0; i < CHILD_PUTS; i++) {
		assert_true(acked[i]);
		assert_int_equal(child_rec(&r, f, i), 0);
		assert_holds(s, &r, &c);
	}
	s->ops->close(s);

	/* a child killed while it puts */
	status = run_child(f, CHILD_PUTS, CHILD_PUTS + KILLED_PUTS, KILL_AFTER, acked);
	assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	s = open_lmdb(f);
	n = 0;
	for (unsigned i = 0; i < CHILD_PUTS + KILLED_PUTS; i++) {
		if (!acked[i])
			continue;
		n++;
		assert_int_equal(child_rec(&r, f, i), 0);
		assert_holds(s, &r, &c);
	}
	assert_true(n >= CHILD_PUTS + KILL_AFTER);
	/* whatever else is there is whole: at most the one put the kill interrupted */
	assert_true(s->ops->count(s) == n || s->ops->count(s) == n + 1);
	assert_int_equal(foreach_all(s, &c), s->ops->count(s));
	for (size_t j = 0; j < c.n; j++) {
		assert_true(c.v[j].id < CHILD_PUTS + KILLED_PUTS);
		assert_int_equal(child_rec(&r, f, c.v[j].id), 0);
		assert_true(dht_record_equal(&c.v[j], &r));
	}
	s->ops->close(s);
	free(c.v);
	free(acked);
}

static void
raw_dbkey(uint8_t *out, const struct nodeid *key, const uint8_t *owner, uint32_t kind,
    uint32_t id)
{
	memcpy(out, key->b, NODEID_LEN);
	memcpy(out + NODEID_LEN, owner, ID_PUBKEY_LEN);
	for (unsigned i = 0; i < 4; i++) {
		out[NODEID_LEN + ID_PUBKEY_LEN + i] = (uint8_t)(kind >> (24 - 8 * i));
		out[NODEID_LEN + ID_PUBKEY_LEN + 4 + i] = (uint8_t)(id >> (24 - 8 * i));
	}
}

static void
raw_put(MDB_txn *txn, MDB_dbi dbi, uint8_t *key, size_t klen, uint8_t *val, size_t vlen)
{
	MDB_val k = {.mv_size = klen, .mv_data = key};
	MDB_val v = {.mv_size = vlen, .mv_data = val};

	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

/* Entries written behind the store's back: garbage, empty, truncated, oversized, filed
 * under another slot, keys of the wrong length. Listings pass over them. */
static void
lmdb_corrupt(void **state)
{
	enum { GOOD = 4, BAD = 9 };
	struct fixture *f = *state;
	struct dht_store *s = open_lmdb(f);
	struct dht_record good[GOOD], slot;
	uint8_t kb[DBKEY_LEN + 1], vb[DHT_REC_MAX + 16];
	struct collect c;
	struct nodeid k1, k2;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int len;

	collect_init(&c);
	key_n(&k1, 1);
	key_n(&k2, 2);
	for (unsigned o = 0; o < OWNERS; o++)
		rec(&good[o], f, o, &k1, 1, 0, 1, T0 + 1000, "good");
	rec(&good[3], f, 0, &k2, 1, 0, 1, T0 + 1000, "good too");
	for (unsigned i = 0; i < GOOD; i++)
		put_ok(s, &good[i]);
	s->ops->close(s);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, LMDB_MAP), 0);
	assert_int_equal(mdb_env_open(env, f->db, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	/* garbage right after the first good record of each owner */
	memset(vb, 0xee, sizeof(vb));
	for (unsigned o = 0; o < OWNERS; o++) {
		raw_dbkey(kb, &k1, good[o].owner, 1, 1);
		raw_put(txn, dbi, kb, DBKEY_LEN, vb, 100);
	}
	raw_dbkey(kb, &k1, good[0].owner, 2, 0);
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, 0);
	/* truncated, and oversized, encodings of a record of that slot */
	len = dht_record_encode(&good[1], vb, sizeof(vb));
	assert_true(len > 0);
	raw_dbkey(kb, &k1, good[1].owner, 1, 0);
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, (size_t)len - 1);	/* replaces good[1]... */
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, (size_t)len);	/* ... and restores it */
	raw_dbkey(kb, &k1, good[1].owner, 5, 0);
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, (size_t)len - 1);
	raw_dbkey(kb, &k1, good[1].owner, 6, 0);
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, sizeof(vb));
	/* a good record filed under another slot, under a bare key, under a long key */
	len = dht_record_encode(&good[3], vb, sizeof(vb));
	assert_true(len > 0);
	raw_dbkey(kb, &k1, good[2].owner, 7, 0);
	raw_put(txn, dbi, kb, DBKEY_LEN, vb, (size_t)len);
	memcpy(kb, k1.b, NODEID_LEN);
	len = dht_record_encode(&good[0], vb, sizeof(vb));
	raw_put(txn, dbi, kb, NODEID_LEN, vb, (size_t)len);
	raw_dbkey(kb, &k1, good[0].owner, 1, 0);
	kb[DBKEY_LEN] = 0;
	raw_put(txn, dbi, kb, DBKEY_LEN + 1, vb, (size_t)len);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	s = open_lmdb(f);
	/* count reports the database's entries, undecodable ones too */
	assert_int_equal(s->ops->count(s), GOOD + BAD);
	expect_get(s, &k1, &c, good, OWNERS);
	expect_get(s, &k2, &c, good + 3, 1);
	expect_all(s, &c, good, GOOD);
	c.stop = 2;
	assert_int_equal(get_all(s, &k1, &c), 2);
	c.stop = 0;
	assert_int_equal(s->ops->expire(s, T0), 0);
	assert_int_equal(s->ops->expire(s, UINT64_MAX), GOOD);
	assert_int_equal(s->ops->count(s), BAD);
	assert_int_equal(foreach_all(s, &c), 0);
	/* del takes away a slot whatever its value */
	memset(&slot, 0, sizeof(slot));
	slot.key = k1;
	memcpy(slot.owner, good[0].owner, ID_PUBKEY_LEN);
	slot.kind = 2;
	assert_int_equal(s->ops->del(s, &slot), 0);
	assert_int_equal(s->ops->count(s), BAD - 1);
	put_ok(s, &good[0]);
	expect_get(s, &k1, &c, good, 1);
	s->ops->close(s);
	free(c.v);
}

static void
lmdb_open_errors(void **state)
{
	struct fixture *f = *state;
	struct dht_store *s;
	char path[128];
	struct stat st;
	FILE *fp;
	int err;

	/* a regular file */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fclose(fp), 0);
	err = 0;
	assert_null(dht_store_lmdb_open(path, LMDB_MAP, &err));
	assert_int_equal(err, -ENOTDIR);
	/* a missing parent */
	snprintf(path, sizeof(path), "%s/missing/db", f->dir);
	err = 0;
	assert_null(dht_store_lmdb_open(path, LMDB_MAP, &err));
	assert_int_equal(err, -ENOENT);
	/* no room at all */
	err = 0;
	assert_null(dht_store_lmdb_open(f->db, 0, &err));
	assert_int_equal(err, -EINVAL);
	/* a directory whose data file is not LMDB's */
	snprintf(path, sizeof(path), "%s/junk", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/junk/data.mdb", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (unsigned i = 0; i < 3 * 4096; i++)
		assert_int_not_equal(fputc((int)(i * 31 % 251), fp), EOF);
	assert_int_equal(fclose(fp), 0);
	snprintf(path, sizeof(path), "%s/junk", f->dir);
	err = 0;
	assert_null(dht_store_lmdb_open(path, LMDB_MAP, &err));
	assert_true(err < 0);
	/* a missing directory is made, private */
	s = open_lmdb(f);
	assert_int_equal(stat(f->db, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	s->ops->close(s);
}

#define CONTRACT(fn) \
	{"mem " #fn, fn, setup, teardown, &backends[0]}, \
	{"lmdb " #fn, fn, setup, teardown, &backends[1]}

int
main(void)
{
	struct backend backends[] = {
		{.open = open_mem, .many = 5000},
		{.open = open_lmdb, .many = 600},
	};
	const struct CMUnitTest tests[] = {
		CONTRACT(put_get),
		CONTRACT(replace_slot),
		CONTRACT(stable_order),
		CONTRACT(del_slot),
		CONTRACT(foreach_all_records),
		CONTRACT(expire_records),
		CONTRACT(at_scale),
		CONTRACT(get_callback_changes_store),
		cmocka_unit_test_setup_teardown(mem_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(lmdb_map_full, setup, teardown),
		cmocka_unit_test_setup_teardown(lmdb_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(lmdb_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(lmdb_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(lmdb_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests_name("dht/store", tests, NULL, NULL);
}
