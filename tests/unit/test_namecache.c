/* Tests for namecache/namecache.c: expiry, negative entries, LRU bounds against a naive
 * reference model, invalidation, the address table, statistics and bad arguments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "namecache/namecache.h"

enum {
	T0 = 1000000,			/* a start time well away from zero */
	MAX_TTL = 60000,
	MODEL_KEYS = 48,		/* distinct keys the random test draws from */
	MODEL_MAX = 16,			/* table size in the random test */
	MODEL_OPS = 20000,
};

static void
mkkey(struct nodeid *k, unsigned i)
{
	memset(k, 0, sizeof(*k));
	k->b[0] = (uint8_t)(i >> 8);
	k->b[1] = (uint8_t)i;
	k->b[NODEID_LEN - 1] = 0x5a;
}

static void
mkrec(struct dht_record *r, const struct nodeid *key, uint32_t id, uint64_t expiry)
{
	memset(r, 0, sizeof(*r));
	r->key = *key;
	r->kind = 1;
	r->id = id;
	r->seq = id + 100;
	r->expiry = expiry;
	r->value_len = 4;
	r->value[0] = 10;
	r->value[3] = (uint8_t)id;
}

static void
mkaddr(struct kbr_addr *a, unsigned host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 10;
	a->ip[2] = (uint8_t)(host >> 8);
	a->ip[3] = (uint8_t)host;
	a->port = port;
}

/* Stores one record for key i, expiring far beyond the TTL bound. */
static void
put_one(struct namecache *nc, uint64_t now, unsigned i)
{
	struct nodeid k;
	struct dht_record r;

	mkkey(&k, i);
	mkrec(&r, &k, i, now + 10 * MAX_TTL);
	assert_int_equal(nc_put_records(nc, now, &k, &r, 1, MAX_TTL), 0);
}

static int
get_one(struct namecache *nc, uint64_t now, unsigned i)
{
	struct nodeid k;
	struct dht_record r;
	bool neg;

	mkkey(&k, i);
	return nc_get_records(nc, now, &k, &r, 1, &neg);
}

static void
put_get_round_trip(void **state)
{
	struct namecache *nc = nc_new(8, 8, MAX_TTL);
	struct dht_record in[3], out[NC_MAX_RECORDS];
	struct nodeid k, other;
	bool neg = true;

	(void)state;
	assert_non_null(nc);
	mkkey(&k, 1);
	mkkey(&other, 2);
	for (unsigned i = 0; i < 3; i++)
		mkrec(&in[i], &k, i, T0 + 30000);
	assert_int_equal(nc_put_records(nc, T0, &k, in, 3, MAX_TTL), 0);
	assert_int_equal(nc_count_names(nc), 1);
	assert_int_equal(nc_get_records(nc, T0 + 1, &k, out, NC_MAX_RECORDS, &neg), 3);
	assert_false(neg);
	assert_memory_equal(out, in, sizeof(in));
	/* fewer slots than records: copy what fits */
	memset(out, 0, sizeof(out));
	assert_int_equal(nc_get_records(nc, T0 + 1, &k, out, 2, NULL), 2);
	assert_memory_equal(out, in, 2 * sizeof(in[0]));
	assert_int_equal(nc_get_records(nc, T0 + 1, &other, out, 1, &neg), -ENOENT);
	/* the cache holds copies: changing the caller's array changes nothing */
	in[0].value[0] = 99;
	assert_int_equal(nc_get_records(nc, T0 + 1, &k, out, 1, NULL), 1);
	assert_int_equal(out[0].value[0], 10);
	/* a put replaces the entry */
	assert_int_equal(nc_put_records(nc, T0 + 2, &k, in, 1, MAX_TTL), 0);
	assert_int_equal(nc_get_records(nc, T0 + 3, &k, out, NC_MAX_RECORDS, NULL), 1);
	assert_int_equal(out[0].value[0], 99);
	assert_int_equal(nc_count_names(nc), 1);
	/* the most records allowed */
	{
		struct dht_record many[NC_MAX_RECORDS];

		for (unsigned i = 0; i < NC_MAX_RECORDS; i++)
			mkrec(&many[i], &other, i, T0 + 30000);
		assert_int_equal(nc_put_records(nc, T0, &other, many, NC_MAX_RECORDS,
		    MAX_TTL), 0);
		assert_int_equal(nc_get_records(nc, T0, &other, out, NC_MAX_RECORDS, NULL),
		    NC_MAX_RECORDS);
		assert_memory_equal(out, many, sizeof(many));
	}
	nc_free(nc);
}

static void
expiry_smaller_of_record_and_ttl(void **state)
{
	struct namecache *nc = nc_new(8, 8, MAX_TTL);
	struct dht_record r[2], out[2];
	struct nodeid k;

	(void)state;
	assert_non_null(nc);
	mkkey(&k, 1);
	/* the earliest record expiry wins over now + max_ttl */
	mkrec(&r[0], &k, 0, T0 + 5000);
	mkrec(&r[1], &k, 1, T0 + 1000);
	assert_int_equal(nc_put_records(nc, T0, &k, r, 2, 3000), 0);
	assert_int_equal(nc_get_records(nc, T0 + 999, &k, out, 2, NULL), 2);
	assert_int_equal(nc_get_records(nc, T0 + 1000, &k, out, 2, NULL), -ENOENT);
	/* removed on access */
	assert_int_equal(nc_count_names(nc), 0);

	/* now + max_ttl wins over a later record expiry */
	mkrec(&r[0], &k, 0, T0 + 50000);
	assert_int_equal(nc_put_records(nc, T0, &k, r, 1, 3000), 0);
	assert_int_equal(nc_get_records(nc, T0 + 2999, &k, out, 2, NULL), 1);
	assert_int_equal(nc_get_records(nc, T0 + 3000, &k, out, 2, NULL), -ENOENT);

	/* a per-call bound beyond the one given at creation is cut to it */
	mkrec(&r[0], &k, 0, T0 + 10 * MAX_TTL);
	assert_int_equal(nc_put_records(nc, T0, &k, r, 1, UINT64_MAX), 0);
	assert_int_equal(nc_get_records(nc, T0 + MAX_TTL - 1, &k, out, 2, NULL), 1);
	assert_int_equal(nc_get_records(nc, T0 + MAX_TTL, &k, out, 2, NULL), -ENOENT);

	/* records already dead store nothing and drop what was there */
	mkrec(&r[0], &k, 0, T0 + 50000);
	assert_int_equal(nc_put_records(nc, T0, &k, r, 1, MAX_TTL), 0);
	mkrec(&r[0], &k, 0, T0 + 100);
	assert_int_equal(nc_put_records(nc, T0 + 100, &k, r, 1, MAX_TTL), 0);
	assert_int_equal(nc_count_names(nc), 0);
	assert_int_equal(nc_get_records(nc, T0 + 100, &k, out, 2, NULL), -ENOENT);
	nc_free(nc);
}

static void
negative_entries_and_ttl(void **state)
{
	struct namecache *nc = nc_new(8, 8, MAX_TTL);
	struct dht_record r, out;
	struct nodeid k;
	bool neg = false;

	(void)state;
	assert_non_null(nc);
	mkkey(&k, 7);
	assert_int_equal(nc_put_negative(nc, T0, &k, 200), 0);
	assert_int_equal(nc_get_records(nc, T0 + 199, &k, &out, 1, &neg), 0);
	assert_true(neg);
	assert_int_equal(nc_get_records(nc, T0 + 200, &k, &out, 1, &neg), -ENOENT);
	assert_false(neg);
	/* bounded by the creation max_ttl */
	assert_int_equal(nc_put_negative(nc, T0, &k, 10 * MAX_TTL), 0);
	assert_int_equal(nc_get_records(nc, T0 + MAX_TTL - 1, &k, &out, 1, &neg), 0);
	assert_true(neg);
	assert_int_equal(nc_get_records(nc, T0 + MAX_TTL, &k, &out, 1, &neg), -ENOENT);
	/* records replace a negative entry, and a negative entry replaces records */
	assert_int_equal(nc_put_negative(nc, T0, &k, 1000), 0);
	mkrec(&r, &k, 1, T0 + 5000);
	assert_int_equal(nc_put_records(nc, T0 + 1, &k, &r, 1, MAX_TTL), 0);
	assert_int_equal(nc_get_records(nc, T0 + 2000, &k, &out, 1, &neg), 1);
	assert_false(neg);
	assert_int_equal(nc_put_negative(nc, T0 + 2000, &k, 100), 0);
	assert_int_equal(nc_get_records(nc, T0 + 2001, &k, &out, 1, &neg), 0);
	assert_true(neg);
	assert_int_equal(nc_count_names(nc), 1);
	/* a TTL of 0 drops the entry */
	assert_int_equal(nc_put_negative(nc, T0 + 2001, &k, 0), 0);
	assert_int_equal(nc_count_names(nc), 0);
	nc_free(nc);
}

static void
lru_eviction_order(void **state)
{
	struct namecache *nc = nc_new(3, 3, MAX_TTL);
	struct nc_stats st;

	(void)state;
	assert_non_null(nc);
	put_one(nc, T0, 1);
	put_one(nc, T0, 2);
	put_one(nc, T0, 3);
	/* touching 1 makes 2 the least recently used */
	assert_int_equal(get_one(nc, T0 + 1, 1), 1);
	put_one(nc, T0 + 2, 4);
	assert_int_equal(nc_count_names(nc), 3);
	assert_int_equal(get_one(nc, T0 + 3, 2), -ENOENT);
	assert_int_equal(get_one(nc, T0 + 3, 1), 1);
	assert_int_equal(get_one(nc, T0 + 3, 3), 1);
	assert_int_equal(get_one(nc, T0 + 3, 4), 1);
	/* order now 1, 3, 4: a put of an existing key also makes it recent */
	put_one(nc, T0 + 4, 1);
	put_one(nc, T0 + 5, 5);
	assert_int_equal(get_one(nc, T0 + 6, 3), -ENOENT);
	assert_int_equal(get_one(nc, T0 + 6, 1), 1);
	assert_int_equal(nc_count_names(nc), 3);
	nc_get_stats(nc, &st);
	assert_int_equal(st.names.evictions, 2);
	nc_free(nc);
}

/* The reference model: an array of entries with a use stamp; LRU by linear search. */
struct model_entry {
	bool used;
	unsigned key;
	uint64_t expiry;
	uint64_t stamp;
	int n;			/* records, 0 for a negative entry */
	uint32_t tag;		/* id of the first record, or the address port */
};

struct model {
	struct model_entry e[MODEL_MAX];
	size_t max, count;
	uint64_t clock;
	struct nc_table_stats st;
};

static struct model_entry *
model_find(struct model *m, unsigned key)
{
	for (size_t i = 0; i < m->max; i++)
		if (m->e[i].used && m->e[i].key == key)
			return &m->e[i];
	return NULL;
}

static void
model_drop(struct model *m, unsigned key)
{
	struct model_entry *e = model_find(m, key);

	if (e != NULL) {
		e->used = false;
		m->count--;
	}
}

static void
model_put(struct model *m, uint64_t now, unsigned key, uint64_t expiry, int n, uint32_t tag)
{
	struct model_entry *e;

	if (expiry <= now) {
		model_drop(m, key);
		return;
	}
	e = model_find(m, key);
	if (e == NULL) {
		if (m->count == m->max) {
			struct model_entry *old = NULL;

			for (size_t i = 0; i < m->max; i++)
				if (old == NULL || m->e[i].stamp < old->stamp)
					old = &m->e[i];
			if (old->expiry <= now)
				m->st.expirations++;
			else
				m->st.evictions++;
			old->used = false;
			m->count--;
		}
		for (size_t i = 0; i < m->max; i++)
			if (!m->e[i].used) {
				e = &m->e[i];
				break;
			}
		e->used = true;
		e->key = key;
		m->count++;
	}
	e->expiry = expiry;
	e->stamp = ++m->clock;
	e->n = n;
	e->tag = tag;
}

/* Returns the live entry and touches it, or NULL (dropping an expired one). */
static struct model_entry *
model_get(struct model *m, uint64_t now, unsigned key)
{
	struct model_entry *e = model_find(m, key);

	if (e == NULL) {
		m->st.misses++;
		return NULL;
	}
	if (e->expiry <= now) {
		m->st.misses++;
		m->st.expirations++;
		e->used = false;
		m->count--;
		return NULL;
	}
	e->stamp = ++m->clock;
	return e;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->max = MODEL_MAX;
	/* every slot starts unused; unused slots never win the oldest-stamp search while
	 * the model is full, as then every slot is used */
}

static void
stats_equal(const struct nc_table_stats *a, const struct nc_table_stats *b)
{
	assert_int_equal(a->hits, b->hits);
	assert_int_equal(a->negative_hits, b->negative_hits);
	assert_int_equal(a->misses, b->misses);
	assert_int_equal(a->evictions, b->evictions);
	assert_int_equal(a->expirations, b->expirations);
}

static void
random_names_against_model(void **state)
{
	struct namecache *nc = nc_new(MODEL_MAX, 4, MAX_TTL);
	struct dht_record recs[NC_MAX_RECORDS], out[NC_MAX_RECORDS];
	struct model m;
	struct nc_stats st;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, now = T0;

	(void)state;
	assert_non_null(nc);
	model_init(&m);
	for (unsigned op = 0; op < MODEL_OPS; op++) {
		unsigned key = (unsigned)(rnd(&seed) % MODEL_KEYS), what = (unsigned)(rnd(&seed) % 10);
		struct nodeid k;

		mkkey(&k, key);
		now += rnd(&seed) % 400;
		if (what < 3) {
			int n = 1 + (int)(rnd(&seed) % NC_MAX_RECORDS);
			uint64_t ttl = rnd(&seed) % 8000, expiry = now + 10000;

			for (int i = 0; i < n; i++) {
				uint64_t x = now + rnd(&seed) % 12000;

				mkrec(&recs[i], &k, (uint32_t)(op * 16 + (unsigned)i), x);
				if (x < expiry)
					expiry = x;
			}
			if (now + ttl < expiry)
				expiry = now + ttl;
			assert_int_equal(nc_put_records(nc, now, &k, recs, (size_t)n, ttl), 0);
			model_put(&m, now, key, expiry, n, op * 16);
		} else if (what < 4) {
			uint64_t ttl = rnd(&seed) % 3000;

			assert_int_equal(nc_put_negative(nc, now, &k, ttl), 0);
			model_put(&m, now, key, now + ttl, 0, 0);
		} else if (what < 9) {
			struct model_entry *e = model_get(&m, now, key);
			bool neg = false;
			int r = nc_get_records(nc, now, &k, out, NC_MAX_RECORDS, &neg);

			if (e == NULL) {
				assert_int_equal(r, -ENOENT);
			} else if (e->n == 0) {
				m.st.negative_hits++;
				assert_int_equal(r, 0);
				assert_true(neg);
			} else {
				m.st.hits++;
				assert_int_equal(r, e->n);
				assert_false(neg);
				assert_int_equal(out[0].id, e->tag);
				assert_memory_equal(&out[0].key, &k, sizeof(k));
			}
		} else {
			nc_invalidate(nc, &k);
			model_drop(&m, key);
		}
		assert_int_equal(nc_count_names(nc), m.count);
		assert_true(nc_count_names(nc) <= MODEL_MAX);
	}
	nc_get_stats(nc, &st);
	stats_equal(&st.names, &m.st);
	assert_true(m.st.evictions > 0);
	assert_true(m.st.expirations > 0);
	assert_true(m.st.negative_hits > 0);
	assert_true(m.st.hits > 0);
	nc_free(nc);
}

static void
random_addrs_against_model(void **state)
{
	struct namecache *nc = nc_new(4, MODEL_MAX, MAX_TTL);
	struct model m;
	struct nc_stats st;
	uint64_t seed = 0x0123456789abcdefULL, now = T0;

	(void)state;
	assert_non_null(nc);
	model_init(&m);
	for (unsigned op = 0; op < MODEL_OPS; op++) {
		unsigned key = (unsigned)(rnd(&seed) % MODEL_KEYS), what = (unsigned)(rnd(&seed) % 10);
		struct nodeid k;
		struct kbr_addr a;

		mkkey(&k, key);
		now += rnd(&seed) % 400;
		if (what < 4) {
			uint64_t ttl = rnd(&seed) % (2 * MAX_TTL / 10);
			uint16_t port = (uint16_t)(op & 0xffff);

			mkaddr(&a, key, port);
			assert_int_equal(nc_put_addr(nc, now, &k, &a, ttl), 0);
			model_put(&m, now, key, now + ttl, 1, port);
		} else if (what < 9) {
			struct model_entry *e = model_get(&m, now, key);
			int r = nc_get_addr(nc, now, &k, &a);

			if (e == NULL) {
				assert_int_equal(r, -ENOENT);
			} else {
				m.st.hits++;
				assert_int_equal(r, 0);
				assert_int_equal(a.port, e->tag);
				assert_int_equal(a.ip[3], (uint8_t)key);
			}
		} else {
			nc_invalidate_addr(nc, &k);
			model_drop(&m, key);
		}
		assert_int_equal(nc_count_addrs(nc), m.count);
		assert_true(nc_count_addrs(nc) <= MODEL_MAX);
	}
	nc_get_stats(nc, &st);
	stats_equal(&st.addrs, &m.st);
	assert_true(m.st.evictions > 0);
	assert_true(m.st.expirations > 0);
	assert_true(m.st.hits > 0);
	assert_int_equal(nc_count_names(nc), 0);
	nc_free(nc);
}

static void
invalidation(void **state)
{
	struct namecache *nc = nc_new(4, 4, MAX_TTL);
	struct nodeid k;

	(void)state;
	assert_non_null(nc);
	put_one(nc, T0, 1);
	put_one(nc, T0, 2);
	mkkey(&k, 1);
	nc_invalidate(nc, &k);
	assert_int_equal(nc_count_names(nc), 1);
	assert_int_equal(get_one(nc, T0, 1), -ENOENT);
	assert_int_equal(get_one(nc, T0, 2), 1);
	/* again, and of an unknown key: nothing happens */
	nc_invalidate(nc, &k);
	mkkey(&k, 99);
	nc_invalidate(nc, &k);
	assert_int_equal(nc_count_names(nc), 1);
	/* negative entries too */
	assert_int_equal(nc_put_negative(nc, T0, &k, 1000), 0);
	nc_invalidate(nc, &k);
	assert_int_equal(get_one(nc, T0, 99), -ENOENT);
	/* the address table is separate */
	{
		struct kbr_addr a;

		mkkey(&k, 2);
		mkaddr(&a, 2, 53);
		assert_int_equal(nc_put_addr(nc, T0, &k, &a, 1000), 0);
		nc_invalidate(nc, &k);
		assert_int_equal(nc_get_addr(nc, T0, &k, &a), 0);
		put_one(nc, T0, 2);
		nc_invalidate_addr(nc, &k);
		assert_int_equal(nc_get_addr(nc, T0, &k, &a), -ENOENT);
		assert_int_equal(get_one(nc, T0, 2), 1);
	}
	nc_free(nc);
}

static void
address_table(void **state)
{
	struct namecache *nc = nc_new(2, 2, MAX_TTL);
	struct nodeid a1, a2, a3;
	struct kbr_addr in, out;

	(void)state;
	assert_non_null(nc);
	mkkey(&a1, 1);
	mkkey(&a2, 2);
	mkkey(&a3, 3);
	memset(&in, 0, sizeof(in));
	in.family = KBR_AF_INET6;
	in.ip[0] = 0x20;
	in.ip[15] = 1;
	in.port = 4433;
	assert_int_equal(nc_put_addr(nc, T0, &a1, &in, 1000), 0);
	assert_int_equal(nc_get_addr(nc, T0 + 999, &a1, &out), 0);
	assert_memory_equal(&out, &in, sizeof(in));
	assert_int_equal(nc_get_addr(nc, T0 + 1000, &a1, &out), -ENOENT);
	assert_int_equal(nc_count_addrs(nc), 0);
	/* the TTL is bounded by max_ttl */
	assert_int_equal(nc_put_addr(nc, T0, &a1, &in, UINT64_MAX), 0);
	assert_int_equal(nc_get_addr(nc, T0 + MAX_TTL - 1, &a1, &out), 0);
	assert_int_equal(nc_get_addr(nc, T0 + MAX_TTL, &a1, &out), -ENOENT);
	/* LRU: a get keeps a1 */
	assert_int_equal(nc_put_addr(nc, T0, &a1, &in, 1000), 0);
	in.port = 2;
	assert_int_equal(nc_put_addr(nc, T0, &a2, &in, 1000), 0);
	assert_int_equal(nc_get_addr(nc, T0 + 1, &a1, &out), 0);
	in.port = 3;
	assert_int_equal(nc_put_addr(nc, T0 + 2, &a3, &in, 1000), 0);
	assert_int_equal(nc_count_addrs(nc), 2);
	assert_int_equal(nc_get_addr(nc, T0 + 3, &a2, &out), -ENOENT);
	assert_int_equal(nc_get_addr(nc, T0 + 3, &a1, &out), 0);
	assert_int_equal(out.port, 4433);
	assert_int_equal(nc_get_addr(nc, T0 + 3, &a3, &out), 0);
	assert_int_equal(out.port, 3);
	/* replacing an address, and a TTL of 0 dropping it */
	in.port = 4;
	assert_int_equal(nc_put_addr(nc, T0 + 4, &a3, &in, 1000), 0);
	assert_int_equal(nc_get_addr(nc, T0 + 5, &a3, &out), 0);
	assert_int_equal(out.port, 4);
	assert_int_equal(nc_put_addr(nc, T0 + 5, &a3, &in, 0), 0);
	assert_int_equal(nc_get_addr(nc, T0 + 5, &a3, &out), -ENOENT);
	assert_int_equal(nc_count_addrs(nc), 1);
	nc_free(nc);
}

static void
stats_counted(void **state)
{
	struct namecache *nc = nc_new(2, 2, MAX_TTL);
	struct nc_stats st;
	struct nodeid k;
	struct kbr_addr a;

	(void)state;
	assert_non_null(nc);
	nc_get_stats(nc, &st);
	assert_int_equal(st.names.hits + st.names.misses + st.addrs.hits, 0);
	put_one(nc, T0, 1);
	assert_int_equal(get_one(nc, T0, 1), 1);		/* hit */
	assert_int_equal(get_one(nc, T0, 1), 1);		/* hit */
	assert_int_equal(get_one(nc, T0, 2), -ENOENT);		/* miss */
	mkkey(&k, 2);
	assert_int_equal(nc_put_negative(nc, T0, &k, 10), 0);
	assert_int_equal(get_one(nc, T0 + 5, 2), 0);		/* negative hit */
	assert_int_equal(get_one(nc, T0 + 10, 2), -ENOENT);	/* miss, expiration */
	put_one(nc, T0 + 10, 3);
	put_one(nc, T0 + 10, 4);				/* evicts 1 */
	assert_int_equal(nc_put_negative(nc, T0 + 10, &k, 10), 0);	/* evicts 3 */
	/* an expired entry pushed out counts as an expiration, not an eviction */
	put_one(nc, T0 + 30, 5);				/* pushes out 4 (live) */
	put_one(nc, T0 + 30, 6);				/* pushes out 2 (expired) */
	nc_get_stats(nc, &st);
	assert_int_equal(st.names.hits, 2);
	assert_int_equal(st.names.negative_hits, 1);
	assert_int_equal(st.names.misses, 2);
	assert_int_equal(st.names.evictions, 3);
	assert_int_equal(st.names.expirations, 2);
	assert_int_equal(nc_count_names(nc), 2);
	/* the address table keeps its own */
	mkaddr(&a, 1, 1);
	assert_int_equal(nc_put_addr(nc, T0, &k, &a, 100), 0);
	assert_int_equal(nc_get_addr(nc, T0, &k, &a), 0);
	mkkey(&k, 9);
	assert_int_equal(nc_get_addr(nc, T0, &k, &a), -ENOENT);
	nc_get_stats(nc, &st);
	assert_int_equal(st.addrs.hits, 1);
	assert_int_equal(st.addrs.misses, 1);
	assert_int_equal(st.addrs.evictions + st.addrs.expirations + st.addrs.negative_hits, 0);
	assert_int_equal(st.names.hits, 2);
	nc_free(nc);
}

static void
bad_arguments(void **state)
{
	struct namecache *nc;
	struct dht_record r[NC_MAX_RECORDS + 1], out;
	struct nodeid k;
	struct kbr_addr a;
	struct nc_stats st;
	bool neg;

	(void)state;
	assert_null(nc_new(0, 1, MAX_TTL));
	assert_null(nc_new(1, 0, MAX_TTL));
	assert_null(nc_new(NC_MAX_ENTRIES + 1, 1, MAX_TTL));
	assert_null(nc_new(1, NC_MAX_ENTRIES + 1, MAX_TTL));
	nc_free(NULL);
	nc = nc_new(1, 1, MAX_TTL);
	assert_non_null(nc);
	mkkey(&k, 1);
	mkaddr(&a, 1, 1);
	for (unsigned i = 0; i <= NC_MAX_RECORDS; i++)
		mkrec(&r[i], &k, i, T0 + 1000);
	assert_int_equal(nc_put_records(NULL, T0, &k, r, 1, MAX_TTL), -EINVAL);
	assert_int_equal(nc_put_records(nc, T0, NULL, r, 1, MAX_TTL), -EINVAL);
	assert_int_equal(nc_put_records(nc, T0, &k, NULL, 1, MAX_TTL), -EINVAL);
	assert_int_equal(nc_put_records(nc, T0, &k, r, 0, MAX_TTL), -EINVAL);
	assert_int_equal(nc_put_records(nc, T0, &k, r, NC_MAX_RECORDS + 1, MAX_TTL), -EINVAL);
	assert_int_equal(nc_put_negative(NULL, T0, &k, 10), -EINVAL);
	assert_int_equal(nc_put_negative(nc, T0, NULL, 10), -EINVAL);
	assert_int_equal(nc_get_records(NULL, T0, &k, &out, 1, &neg), -EINVAL);
	assert_int_equal(nc_get_records(nc, T0, NULL, &out, 1, &neg), -EINVAL);
	assert_int_equal(nc_get_records(nc, T0, &k, NULL, 1, &neg), -EINVAL);
	assert_int_equal(nc_put_addr(NULL, T0, &k, &a, 10), -EINVAL);
	assert_int_equal(nc_put_addr(nc, T0, NULL, &a, 10), -EINVAL);
	assert_int_equal(nc_put_addr(nc, T0, &k, NULL, 10), -EINVAL);
	assert_int_equal(nc_get_addr(NULL, T0, &k, &a), -EINVAL);
	assert_int_equal(nc_get_addr(nc, T0, NULL, &a), -EINVAL);
	assert_int_equal(nc_get_addr(nc, T0, &k, NULL), -EINVAL);
	nc_invalidate(NULL, &k);
	nc_invalidate(nc, NULL);
	nc_invalidate_addr(NULL, &k);
	nc_invalidate_addr(nc, NULL);
	assert_int_equal(nc_count_names(NULL), 0);
	assert_int_equal(nc_count_addrs(NULL), 0);
	nc_get_stats(NULL, &st);
	assert_int_equal(st.names.hits, 0);
	nc_get_stats(nc, NULL);
	/* nothing was stored by the refused calls */
	assert_int_equal(nc_count_names(nc), 0);
	assert_int_equal(nc_count_addrs(nc), 0);
	/* max of 0 with out NULL only asks whether the name is cached */
	assert_int_equal(nc_put_records(nc, T0, &k, r, 2, MAX_TTL), 0);
	assert_int_equal(nc_get_records(nc, T0, &k, NULL, 0, NULL), 0);
	/* the largest sizes are accepted */
	nc_free(nc);
	nc = nc_new(NC_MAX_ENTRIES, NC_MAX_ENTRIES, MAX_TTL);
	assert_non_null(nc);
	nc_free(nc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_round_trip),
		cmocka_unit_test(expiry_smaller_of_record_and_ttl),
		cmocka_unit_test(negative_entries_and_ttl),
		cmocka_unit_test(lru_eviction_order),
		cmocka_unit_test(random_names_against_model),
		cmocka_unit_test(random_addrs_against_model),
		cmocka_unit_test(invalidation),
		cmocka_unit_test(address_table),
		cmocka_unit_test(stats_counted),
		cmocka_unit_test(bad_arguments),
	};

	return cmocka_run_group_tests_name("namecache", tests, NULL, NULL);
}
