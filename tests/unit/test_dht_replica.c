/* Tests for dht/replica.c: every reason a STORE is refused, replacement and tombstones, the
 * end of key ownership, quotas per key and per owner, source rates, full and failing stores. */
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

#include "dht/replica.h"

#define NOW UINT64_C(1767225600000)	/* 2026-01-01T00:00:00Z in ms */
#define MIN UINT64_C(60000)
#define HOUR UINT64_C(3600000)
#define TTL_BOUND ((uint64_t)DHT_MAX_TTL_MS + DHT_CLOCK_SKEW_MS)

enum {
	IDS = 160,		/* owners the tests may use */
	ALICE = 0, BOB = 1, CAROL = 2,
	FAST = 1000000,		/* a source rate no test reaches */
	BIG = 100000,		/* records of an unbounded memory store */
	TABLE_OWNERS = 100,	/* owners of many_owners: over the table's first size */
	TABLE_LATE = 50,	/* owners refused by the full store there */
};

static struct identity *ids[IDS];

static int
setup(void **state)
{
	uint8_t seed[ID_SEED_LEN];

	(void)state;
	for (size_t i = 0; i < IDS; i++) {
		memset(seed, 0, sizeof(seed));
		seed[0] = (uint8_t)i;
		seed[1] = (uint8_t)(i >> 8);
		seed[31] = 0x5a;
		if (identity_from_seed(&ids[i], seed, 4) != 0)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < IDS; i++)
		identity_free(ids[i]);
	return 0;
}

/* A memory store that counts the calls the replica makes and fails on demand. */
struct spy {
	struct dht_store base;		/* first */
	struct dht_store *inner;
	unsigned puts, gets, foreachs;
	int put_err, get_err, foreach_err;	/* returned instead of calling inner */
};

static struct spy *
spy_of(struct dht_store *s)
{
	return (struct spy *)s;
}

static int
spy_put(struct dht_store *s, const struct dht_record *r)
{
	struct spy *p = spy_of(s);

	p->puts++;
	if (p->put_err != 0)
		return p->put_err;
	return p->inner->ops->put(p->inner, r);
}

static int
spy_get(struct dht_store *s, const struct nodeid *key,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	struct spy *p = spy_of(s);

	p->gets++;
	if (p->get_err != 0)
		return p->get_err;
	return p->inner->ops->get(p->inner, key, fn, arg);
}

static int
spy_del(struct dht_store *s, const struct dht_record *slot)
{
	struct spy *p = spy_of(s);

	return p->inner->ops->del(p->inner, slot);
}

static int
spy_foreach(struct dht_store *s, int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	struct spy *p = spy_of(s);

	p->foreachs++;
	if (p->foreach_err != 0)
		return p->foreach_err;
	return p->inner->ops->foreach(p->inner, fn, arg);
}

static long
spy_expire(struct dht_store *s, uint64_t now)
{
	struct spy *p = spy_of(s);

	return p->inner->ops->expire(p->inner, now);
}

static size_t
spy_count(struct dht_store *s)
{
	struct spy *p = spy_of(s);

	return p->inner->ops->count(p->inner);
}

static void
spy_close(struct dht_store *s)
{
	struct spy *p = spy_of(s);

	p->inner->ops->close(p->inner);
	free(p);
}

static const struct dht_store_ops spy_ops = {
	.put = spy_put,
	.get = spy_get,
	.del = spy_del,
	.foreach = spy_foreach,
	.expire = spy_expire,
	.count = spy_count,
	.close = spy_close,
};

struct fx {
	struct spy *spy;
	struct dht_store *store;	/* &spy->base */
	struct dht_replica *rep;
};

static void
fx_store(struct fx *f, size_t max_records)
{
	memset(f, 0, sizeof(*f));
	f->spy = calloc(1, sizeof(*f->spy));
	assert_non_null(f->spy);
	f->spy->base.ops = &spy_ops;
	f->spy->inner = dht_store_mem_new(max_records);
	assert_non_null(f->spy->inner);
	f->store = &f->spy->base;
}

static void
fx_replica(struct fx *f, unsigned per_key, unsigned quota, unsigned rate)
{
	struct dht_replica_limits l = {
		.max_per_key = per_key, .owner_quota = quota, .source_rate = rate,
	};

	f->rep = dht_replica_new(f->store, &l);
	assert_non_null(f->rep);
}

static void
fx_open(struct fx *f, size_t max_records, unsigned per_key, unsigned quota, unsigned rate)
{
	fx_store(f, max_records);
	fx_replica(f, per_key, quota, rate);
}

static void
fx_close(struct fx *f)
{
	dht_replica_free(f->rep);
	f->store->ops->close(f->store);
	memset(f, 0, sizeof(*f));
}

static void
key_n(struct nodeid *k, unsigned n)
{
	char name[32];
	int len = snprintf(name, sizeof(name), "name-%u.p2p", n);

	assert_true(len > 0);
	assert_int_equal(nodeid_sha1(k, name, (size_t)len), 0);
}

static void
source_n(struct nodeid *s, unsigned n)
{
	memset(s->b, 0x77, NODEID_LEN);
	s->b[0] = (uint8_t)(n >> 8);
	s->b[1] = (uint8_t)n;
}

/* A signed record of owner under key n; value NULL makes a tombstone. */
static void
rec(struct dht_record *r, unsigned owner, unsigned key, uint32_t id, uint64_t seq,
    uint64_t expiry, const char *value)
{
	memset(r, 0, sizeof(*r));
	key_n(&r->key, key);
	r->kind = 1;
	r->id = id;
	r->seq = seq;
	r->expiry = expiry;
	memcpy(r->owner, ids[owner]->pub, ID_PUBKEY_LEN);
	if (value == NULL) {
		r->flags = DHT_REC_TOMBSTONE;
	} else {
		r->value_len = (uint16_t)strlen(value);
		memcpy(r->value, value, r->value_len);
	}
	assert_int_equal(dht_record_sign(r, ids[owner]), 0);
}

static enum dht_reason
store(struct fx *f, uint64_t now, unsigned source, const struct dht_record *r)
{
	struct nodeid s;

	source_n(&s, source);
	return dht_replica_store(f->rep, now, &s, r);
}

#define STORE(f, now, source, r, want)                                          \
	do {                                                                    \
		enum dht_reason got_ = store((f), (now), (source), (r));        \
		if (got_ != (want))                                             \
			print_error("store: got %s, want %s\n",                 \
			    dht_reason_name(got_), dht_reason_name(want));      \
		assert_int_equal(got_, (want));                                 \
	} while (0)

/* The live records under key n; fails the test on an error. */
static int
find(struct fx *f, uint64_t now, unsigned key, struct dht_record *out, size_t max)
{
	struct nodeid k;
	int n;

	key_n(&k, key);
	n = dht_replica_find(f->rep, now, &k, out, max);
	assert_true(n >= 0);
	return n;
}

static void
assert_refused_total(const struct fx *f, uint64_t want)
{
	uint64_t n = 0;

	for (int why = DHT_OK; why <= DHT_ERR_INTERNAL; why++)
		n += dht_replica_refused(f->rep, (enum dht_reason)why);
	assert_int_equal(n, want);
}

static void
each_verify_reason(void **state)
{
	struct dht_record good, r;
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&good, ALICE, 1, 0, 1, NOW + HOUR, "sip:alice@192.0.2.1");
	/* a bad signature */
	r = good;
	r.sig[7] ^= 0x10;
	STORE(&f, NOW, 1, &r, DHT_ERR_SIGNATURE);
	r = good;
	r.value[0] ^= 1;
	STORE(&f, NOW, 1, &r, DHT_ERR_SIGNATURE);
	/* an oversized value (no one can sign it) */
	r = good;
	r.value_len = DHT_MAX_VALUE + 1;
	STORE(&f, NOW, 1, &r, DHT_ERR_TOO_BIG);
	/* malformed: an unknown flag */
	r = good;
	r.flags |= 0x40;
	STORE(&f, NOW, 1, &r, DHT_ERR_MALFORMED);
	/* a TTL over the maximum (and the clock skew), properly signed */
	rec(&r, ALICE, 1, 0, 1, NOW + TTL_BOUND + 1, "far");
	STORE(&f, NOW, 1, &r, DHT_ERR_TTL);
	/* expired: at and before now */
	rec(&r, ALICE, 1, 0, 1, NOW, "gone");
	STORE(&f, NOW, 1, &r, DHT_ERR_EXPIRED);
	rec(&r, ALICE, 1, 0, 1, NOW - HOUR, "gone");
	STORE(&f, NOW, 1, &r, DHT_ERR_EXPIRED);
	/* nothing reached the store */
	assert_int_equal(f.spy->puts, 0);
	assert_int_equal(dht_replica_count(f.rep), 0);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_SIGNATURE), 2);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_TOO_BIG), 1);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_MALFORMED), 1);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_TTL), 1);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_EXPIRED), 2);
	assert_refused_total(&f, 7);
	/* the TTL bound itself and the good record are fine */
	rec(&r, ALICE, 2, 0, 1, NOW + TTL_BOUND, "edge");
	STORE(&f, NOW, 1, &r, DHT_OK);
	STORE(&f, NOW, 1, &good, DHT_OK);
	assert_int_equal(dht_replica_count(f.rep), 2);
	/* a forged newer version does not touch the stored one */
	r = good;
	r.seq = 2;
	STORE(&f, NOW, 1, &r, DHT_ERR_SIGNATURE);
	{
		struct dht_record got[4];

		assert_int_equal(find(&f, NOW, 1, got, 4), 1);
		assert_true(dht_record_equal(&got[0], &good));
	}
	assert_int_equal(dht_replica_refused(f.rep, DHT_OK), 0);
	assert_int_equal(dht_replica_refused(f.rep, (enum dht_reason)99), 0);
	fx_close(&f);
}

static void
foreign_owner_refused(void **state)
{
	struct dht_record a, b, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&a, ALICE, 1, 0, 1, NOW + HOUR, "alice");
	STORE(&f, NOW, 1, &a, DHT_OK);
	/* bob under alice's key: a value, a tombstone, a higher seq, another kind */
	rec(&b, BOB, 1, 0, 1, NOW + HOUR, "bob");
	STORE(&f, NOW, 2, &b, DHT_ERR_FOREIGN_OWNER);
	rec(&b, BOB, 1, 0, 99, NOW + HOUR, NULL);
	STORE(&f, NOW, 2, &b, DHT_ERR_FOREIGN_OWNER);
	rec(&b, BOB, 1, 7, 1, NOW + HOUR, "bob");
	b.kind = 28;
	assert_int_equal(dht_record_sign(&b, ids[BOB]), 0);
	STORE(&f, NOW, 2, &b, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_FOREIGN_OWNER), 3);
	assert_int_equal(find(&f, NOW, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &a));
	/* the signature is checked first: a forged record says signature, not owner */
	rec(&b, BOB, 1, 0, 1, NOW + HOUR, "bob");
	b.sig[0] ^= 1;
	STORE(&f, NOW, 2, &b, DHT_ERR_SIGNATURE);
	/* bob's own key is his; alice is the stranger there */
	rec(&b, BOB, 2, 0, 1, NOW + HOUR, "bob");
	STORE(&f, NOW, 2, &b, DHT_OK);
	rec(&a, ALICE, 2, 0, 1, NOW + HOUR, "alice");
	STORE(&f, NOW, 1, &a, DHT_ERR_FOREIGN_OWNER);
	/* more records of the owner under its key are fine */
	rec(&a, ALICE, 1, 1, 1, NOW + HOUR, "alice 2");
	STORE(&f, NOW, 1, &a, DHT_OK);
	assert_int_equal(find(&f, NOW, 1, got, 4), 2);
	assert_int_equal(dht_replica_count(f.rep), 3);
	fx_close(&f);
}

static void
stale_seq_refused(void **state)
{
	struct dht_record one, r, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&one, ALICE, 1, 0, 5, NOW + HOUR, "one");
	STORE(&f, NOW, 1, &one, DHT_OK);
	/* the same seq with other content: value, expiry, tombstone */
	rec(&r, ALICE, 1, 0, 5, NOW + HOUR, "two");
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	rec(&r, ALICE, 1, 0, 5, NOW + 2 * HOUR, "one");
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	rec(&r, ALICE, 1, 0, 5, NOW + HOUR, NULL);
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	/* lower seqs */
	rec(&r, ALICE, 1, 0, 4, NOW + 2 * HOUR, "older");
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	rec(&r, ALICE, 1, 0, 0, NOW + 2 * HOUR, "oldest");
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_STALE), 5);
	assert_int_equal(f.spy->puts, 1);
	assert_int_equal(find(&f, NOW, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &one));
	/* another id of the same kind is another slot */
	rec(&r, ALICE, 1, 1, 0, NOW + HOUR, "other id");
	STORE(&f, NOW, 1, &r, DHT_OK);
	assert_int_equal(find(&f, NOW, 1, got, 4), 2);
	fx_close(&f);
}

static void
identical_store_writes_once(void **state)
{
	struct dht_record r, copy;
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&r, ALICE, 1, 0, 3, NOW + HOUR, "same");
	STORE(&f, NOW, 1, &r, DHT_OK);
	assert_int_equal(f.spy->puts, 1);
	assert_int_equal(dht_replica_count(f.rep), 1);
	/* again, from the same and from other sources, later: no write */
	copy = r;
	STORE(&f, NOW, 1, &copy, DHT_OK);
	STORE(&f, NOW + 5, 2, &copy, DHT_OK);
	STORE(&f, NOW + MIN, 3, &copy, DHT_OK);
	assert_int_equal(f.spy->puts, 1);
	assert_int_equal(dht_replica_count(f.rep), 1);
	assert_refused_total(&f, 0);
	/* bytes past value_len are not part of the record */
	copy.value[copy.value_len] = 0xee;
	STORE(&f, NOW, 1, &copy, DHT_OK);
	assert_int_equal(f.spy->puts, 1);
	/* once it has expired, the same record is refused as expired */
	STORE(&f, r.expiry, 1, &r, DHT_ERR_EXPIRED);
	fx_close(&f);
}

static void
higher_seq_replaces(void **state)
{
	struct dht_record v1, v2, v3, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&v1, ALICE, 1, 0, 1, NOW + 2 * HOUR, "sip:alice@192.0.2.1");
	STORE(&f, NOW, 1, &v1, DHT_OK);
	rec(&v2, ALICE, 1, 0, 2, NOW + HOUR, "sip:alice@198.51.100.7");
	STORE(&f, NOW + 1, 1, &v2, DHT_OK);
	assert_int_equal(find(&f, NOW + 1, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &v2));
	assert_int_equal(dht_replica_count(f.rep), 1);
	/* the older one cannot come back, even with its later expiry */
	STORE(&f, NOW + 2, 1, &v1, DHT_ERR_STALE);
	/* a jump in seq is fine */
	rec(&v3, ALICE, 1, 0, UINT64_MAX, NOW + HOUR, "last");
	STORE(&f, NOW + 3, 1, &v3, DHT_OK);
	assert_int_equal(find(&f, NOW + 3, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &v3));
	assert_int_equal(f.spy->puts, 3);
	/* when the slot's record has expired, the slot is free again, any seq */
	assert_int_equal(find(&f, v3.expiry, 1, got, 4), 0);
	rec(&v1, ALICE, 1, 0, 1, v3.expiry + HOUR, "again");
	STORE(&f, v3.expiry, 1, &v1, DHT_OK);
	assert_int_equal(find(&f, v3.expiry, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &v1));
	assert_int_equal(dht_replica_count(f.rep), 1);
	fx_close(&f);
}

static void
tombstone_blocks_older_copies(void **state)
{
	struct dht_record old, t, r, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&old, ALICE, 1, 0, 1, NOW + HOUR, "alice");
	STORE(&f, NOW, 1, &old, DHT_OK);
	rec(&t, ALICE, 1, 0, 2, NOW + 2 * HOUR, NULL);
	STORE(&f, NOW + 1, 1, &t, DHT_OK);
	assert_int_equal(find(&f, NOW + 1, 1, got, 4), 1);
	assert_true(got[0].flags & DHT_REC_TOMBSTONE);
	assert_true(dht_record_equal(&got[0], &t));
	assert_int_equal(dht_replica_count(f.rep), 1);
	/* the older record, pushed again by a replica that missed the removal */
	STORE(&f, NOW + 2, 2, &old, DHT_ERR_STALE);
	/* a tombstone with the same or a lower seq does not replace it either */
	rec(&r, ALICE, 1, 0, 2, NOW + 3 * HOUR, NULL);
	STORE(&f, NOW + 2, 1, &r, DHT_ERR_STALE);
	/* the tombstone still binds the key */
	rec(&r, BOB, 1, 0, 1, NOW + 3 * HOUR, "bob");
	STORE(&f, NOW + HOUR, 2, &r, DHT_ERR_FOREIGN_OWNER);
	/* a newer value after the tombstone is the owner's to store */
	rec(&r, ALICE, 1, 0, 3, NOW + 2 * HOUR, "alice is back");
	STORE(&f, NOW + HOUR, 1, &r, DHT_OK);
	rec(&t, ALICE, 1, 0, 4, NOW + 2 * HOUR, NULL);
	STORE(&f, NOW + HOUR, 1, &t, DHT_OK);
	/* after the tombstone expired the key is free for bob: by time alone ... */
	assert_int_equal(find(&f, t.expiry, 1, got, 4), 0);
	rec(&r, BOB, 1, 0, 1, t.expiry + HOUR, "bob");
	STORE(&f, t.expiry - 1, 2, &r, DHT_ERR_FOREIGN_OWNER);
	STORE(&f, t.expiry, 2, &r, DHT_OK);
	assert_int_equal(find(&f, t.expiry, 1, got, 4), 1);
	assert_memory_equal(got[0].owner, ids[BOB]->pub, ID_PUBKEY_LEN);
	/* now alice is the stranger */
	rec(&r, ALICE, 1, 0, 9, t.expiry + HOUR, "alice");
	STORE(&f, t.expiry, 1, &r, DHT_ERR_FOREIGN_OWNER);
	/* ... and after dht_replica_expire dropped it (with alice's under key 1) */
	rec(&t, ALICE, 2, 0, 1, NOW + 2 * HOUR, NULL);
	STORE(&f, NOW, 1, &t, DHT_OK);
	rec(&r, CAROL, 2, 0, 1, t.expiry + HOUR, "carol");
	STORE(&f, NOW + HOUR, 3, &r, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_replica_expire(f.rep, t.expiry), 2);
	assert_int_equal(dht_replica_count(f.rep), 1);
	assert_int_equal(find(&f, t.expiry, 2, got, 4), 0);
	STORE(&f, t.expiry, 3, &r, DHT_OK);
	fx_close(&f);
}

static void
ownership_ends_with_last_record(void **state)
{
	struct dht_record a1, a2, b, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&a1, ALICE, 1, 1, 1, NOW + HOUR, "short");
	rec(&a2, ALICE, 1, 2, 1, NOW + 2 * HOUR, "long");
	STORE(&f, NOW, 1, &a1, DHT_OK);
	STORE(&f, NOW, 1, &a2, DHT_OK);
	rec(&b, BOB, 1, 1, 1, NOW + 5 * HOUR, "bob");
	/* one of alice's records has expired: the other still binds */
	STORE(&f, NOW + HOUR, 2, &b, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), 1);
	STORE(&f, NOW + HOUR, 2, &b, DHT_ERR_FOREIGN_OWNER);
	STORE(&f, NOW + 2 * HOUR - 1, 2, &b, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(find(&f, NOW + 2 * HOUR - 1, 1, got, 4), 1);
	/* the last one has expired (still in the store): bob is accepted */
	STORE(&f, NOW + 2 * HOUR, 2, &b, DHT_OK);
	assert_int_equal(dht_replica_count(f.rep), 2);
	assert_int_equal(find(&f, NOW + 2 * HOUR, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &b));
	/* and binds the key in turn */
	rec(&a1, ALICE, 1, 1, 2, NOW + 3 * HOUR, "mine");
	STORE(&f, NOW + 2 * HOUR, 1, &a1, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_replica_expire(f.rep, NOW + 2 * HOUR), 1);
	STORE(&f, NOW + 2 * HOUR, 1, &a1, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_replica_count(f.rep), 1);
	fx_close(&f);
}

static void
quota_per_key(void **state)
{
	struct dht_record r, got[8];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, 3, DHT_OWNER_QUOTA, FAST);
	rec(&r, ALICE, 1, 0, 1, NOW + 3 * HOUR, "0");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 1, 1, NOW + 3 * HOUR, "1");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 2, 1, NOW + HOUR, "2");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 3, 1, NOW + 3 * HOUR, "3");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_QUOTA), 1);
	/* at the limit, replacements still go through: a value and a tombstone */
	rec(&r, ALICE, 1, 1, 2, NOW + 3 * HOUR, "1 again");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 0, 2, NOW + 3 * HOUR, NULL);
	STORE(&f, NOW, 1, &r, DHT_OK);
	/* stale is found before the quota */
	rec(&r, ALICE, 1, 1, 1, NOW + 3 * HOUR, "1 old");
	STORE(&f, NOW, 1, &r, DHT_ERR_STALE);
	/* replacements did not make room */
	rec(&r, ALICE, 1, 3, 1, NOW + 3 * HOUR, "3");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* other keys are not affected */
	rec(&r, ALICE, 2, 3, 1, NOW + 3 * HOUR, "elsewhere");
	STORE(&f, NOW, 1, &r, DHT_OK);
	/* id 2 expired: room for one, still in the store or not */
	rec(&r, ALICE, 1, 3, 1, NOW + 3 * HOUR, "3");
	STORE(&f, NOW + HOUR, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 4, 1, NOW + 3 * HOUR, "4");
	STORE(&f, NOW + HOUR, 1, &r, DHT_ERR_QUOTA);
	/* the expired record of id 2 is replaced as a new slot: it needs room too */
	rec(&r, ALICE, 1, 2, 2, NOW + 3 * HOUR, "2 new");
	STORE(&f, NOW + HOUR, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), 1);
	STORE(&f, NOW + HOUR, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(find(&f, NOW + HOUR, 1, got, 8), 3);
	assert_int_equal(dht_replica_count(f.rep), 4);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_QUOTA), 5);
	fx_close(&f);
}

static void
quota_per_owner(void **state)
{
	struct dht_record r;
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, 4, FAST);
	/* four keys, the first expiring first */
	for (unsigned k = 0; k < 4; k++) {
		rec(&r, ALICE, k, 0, 1, NOW + (k + 1) * HOUR, "a");
		STORE(&f, NOW, 1, &r, DHT_OK);
	}
	rec(&r, ALICE, 10, 0, 1, NOW + 9 * HOUR, "fifth");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* a second record under a key the owner holds counts the same */
	rec(&r, ALICE, 3, 1, 1, NOW + 9 * HOUR, "fifth");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* bob has his own quota */
	for (unsigned k = 20; k < 24; k++) {
		rec(&r, BOB, k, 0, 1, NOW + 9 * HOUR, "b");
		STORE(&f, NOW, 2, &r, DHT_OK);
	}
	/* replacing a record (by a value or a tombstone) is not a new one */
	rec(&r, ALICE, 1, 0, 2, NOW + 9 * HOUR, "a2");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 2, 0, 2, NOW + 9 * HOUR, NULL);
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 10, 0, 1, NOW + 9 * HOUR, "fifth");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* key 0's record expires: expired records in the store do not count */
	STORE(&f, NOW + HOUR - 1, 1, &r, DHT_ERR_QUOTA);
	STORE(&f, NOW + HOUR, 1, &r, DHT_OK);
	rec(&r, ALICE, 11, 0, 1, NOW + 9 * HOUR, "sixth");
	STORE(&f, NOW + HOUR, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_count(f.rep), 9);
	/* after the expiry dropped it the count is still right */
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), 1);
	assert_int_equal(dht_replica_count(f.rep), 8);
	STORE(&f, NOW + HOUR, 1, &r, DHT_ERR_QUOTA);
	/* key 3's record (4 h) goes next; the replaced ones now live 9 h */
	STORE(&f, NOW + 4 * HOUR - 1, 1, &r, DHT_ERR_QUOTA);
	STORE(&f, NOW + 4 * HOUR, 1, &r, DHT_OK);
	rec(&r, ALICE, 12, 0, 1, NOW + 9 * HOUR, "seventh");
	STORE(&f, NOW + 4 * HOUR, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_expire(f.rep, NOW + 4 * HOUR), 1);
	STORE(&f, NOW + 4 * HOUR, 1, &r, DHT_ERR_QUOTA);
	/* bob is at his quota too; then everything expires and the quota is whole again */
	rec(&r, BOB, 30, 0, 1, NOW + 9 * HOUR, "b");
	STORE(&f, NOW + 4 * HOUR, 2, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_expire(f.rep, NOW + 9 * HOUR), 8);
	assert_int_equal(dht_replica_count(f.rep), 0);
	for (unsigned k = 40; k < 44; k++) {
		rec(&r, ALICE, k, 0, 1, NOW + 10 * HOUR, "a");
		STORE(&f, NOW + 9 * HOUR, 1, &r, DHT_OK);
	}
	rec(&r, ALICE, 44, 0, 1, NOW + 10 * HOUR, "a");
	STORE(&f, NOW + 9 * HOUR, 1, &r, DHT_ERR_QUOTA);
	fx_close(&f);
}

/* Stores below the quota never walk the whole store; at the quota one walk is reused until
 * one of the owner's records expires. */
static void
quota_without_full_walks(void **state)
{
	struct dht_record r;
	struct fx f;
	unsigned walks;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	walks = f.spy->foreachs;
	for (unsigned k = 0; k < DHT_OWNER_QUOTA; k++) {
		rec(&r, ALICE, k, 0, 1, NOW + HOUR + k * MIN, "a");
		STORE(&f, NOW, 1, &r, DHT_OK);
		rec(&r, BOB, 1000 + k, 0, 1, NOW + HOUR, "b");
		STORE(&f, NOW, 2, &r, DHT_OK);
	}
	assert_int_equal(f.spy->foreachs, walks);
	rec(&r, ALICE, 5000, 0, 1, NOW + 9 * HOUR, "over");
	for (int i = 0; i < 10; i++)
		STORE(&f, NOW + (uint64_t)i, 1, &r, DHT_ERR_QUOTA);
	assert_true(f.spy->foreachs <= walks + 1);
	/* the first of alice's records expires: one walk finds the room */
	walks = f.spy->foreachs;
	STORE(&f, NOW + HOUR, 1, &r, DHT_OK);
	assert_true(f.spy->foreachs <= walks + 1);
	rec(&r, ALICE, 5001, 0, 1, NOW + 9 * HOUR, "over");
	walks = f.spy->foreachs;
	for (int i = 0; i < 10; i++)
		STORE(&f, NOW + HOUR + (uint64_t)i, 1, &r, DHT_ERR_QUOTA);
	assert_true(f.spy->foreachs <= walks + 1);
	assert_int_equal(dht_replica_count(f.rep), 2 * DHT_OWNER_QUOTA + 1);
	fx_close(&f);
}

/* Records that had expired (but were still stored) are live again if the clock goes back. */
static void
quota_when_the_clock_goes_back(void **state)
{
	struct dht_record r;
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, 3, FAST);
	rec(&r, ALICE, 0, 0, 1, NOW + HOUR, "a");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 1, 0, 1, NOW + 3 * HOUR, "b");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 2, 0, 1, NOW + HOUR, "c");
	STORE(&f, NOW, 1, &r, DHT_OK);
	/* two hours on, two have expired: room for two */
	rec(&r, ALICE, 3, 0, 1, NOW + 3 * HOUR, "d");
	STORE(&f, NOW + 2 * HOUR, 1, &r, DHT_OK);
	/* back at NOW they are live: four records, over the quota */
	rec(&r, ALICE, 4, 0, 1, NOW + 3 * HOUR, "e");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	STORE(&f, NOW + 2 * HOUR, 1, &r, DHT_OK);
	rec(&r, ALICE, 5, 0, 1, NOW + 3 * HOUR, "f");
	STORE(&f, NOW + 2 * HOUR, 1, &r, DHT_ERR_QUOTA);
	/* once dropped they are gone for good */
	assert_int_equal(dht_replica_expire(f.rep, NOW + 2 * HOUR), 2);
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_count(f.rep), 3);
	fx_close(&f);
}

static void
rate_per_source(void **state)
{
	struct dht_record r, bad;
	struct fx f;
	unsigned ok;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, DHT_SOURCE_RATE);
	rec(&r, ALICE, 1, 0, 1, NOW + 3 * HOUR, "alice");
	/* a burst of two seconds' worth */
	for (unsigned i = 0; i < 2 * DHT_SOURCE_RATE; i++)
		STORE(&f, NOW, 1, &r, DHT_OK);
	STORE(&f, NOW, 1, &r, DHT_ERR_RATE);
	/* the rate comes first: a bad record from the source is not even looked at */
	bad = r;
	bad.sig[0] ^= 1;
	STORE(&f, NOW, 1, &bad, DHT_ERR_RATE);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_RATE), 2);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_SIGNATURE), 0);
	/* other sources are not affected */
	STORE(&f, NOW, 2, &r, DHT_OK);
	STORE(&f, NOW, 2, &bad, DHT_ERR_SIGNATURE);
	/* one token every 1000 / rate ms */
	STORE(&f, NOW + 1000 / DHT_SOURCE_RATE - 1, 1, &r, DHT_ERR_RATE);
	STORE(&f, NOW + 1000 / DHT_SOURCE_RATE, 1, &r, DHT_OK);
	STORE(&f, NOW + 1000 / DHT_SOURCE_RATE, 1, &r, DHT_ERR_RATE);
	/* a second later, a second's worth */
	ok = 0;
	for (unsigned i = 0; i < 4 * DHT_SOURCE_RATE; i++)
		ok += store(&f, NOW + 1000 / DHT_SOURCE_RATE + 1000, 1, &r) == DHT_OK;
	assert_int_equal(ok, DHT_SOURCE_RATE);
	/* never more than the burst, however long the pause */
	ok = 0;
	for (unsigned i = 0; i < 4 * DHT_SOURCE_RATE; i++)
		ok += store(&f, NOW + HOUR, 1, &r) == DHT_OK;
	assert_int_equal(ok, 2 * DHT_SOURCE_RATE);
	/* only one record was ever written */
	assert_int_equal(f.spy->puts, 1);
	fx_close(&f);
}

static void
rate_sources_least_recently_used_replaced(void **state)
{
	struct dht_record r;
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, DHT_SOURCE_RATE);
	rec(&r, ALICE, 1, 0, 1, NOW + 3 * HOUR, "alice");
	/* sources 0 and 1 use up their buckets, 0 first */
	for (unsigned s = 0; s < 2; s++) {
		for (unsigned i = 0; i < 2 * DHT_SOURCE_RATE; i++)
			STORE(&f, NOW + s, s, &r, DHT_OK);
		STORE(&f, NOW + s, s, &r, DHT_ERR_RATE);
	}
	/* the others fill the tracker */
	for (unsigned s = 2; s < DHT_SOURCES; s++)
		STORE(&f, NOW + 2, s, &r, DHT_OK);
	/* one more source replaces the least recently used, source 0 */
	STORE(&f, NOW + 3, DHT_SOURCES, &r, DHT_OK);
	/* source 1 is still tracked and still empty ... */
	STORE(&f, NOW + 3, 1, &r, DHT_ERR_RATE);
	/* ... source 0 starts again with a full bucket */
	for (unsigned i = 0; i < 2 * DHT_SOURCE_RATE; i++)
		STORE(&f, NOW + 3, 0, &r, DHT_OK);
	STORE(&f, NOW + 3, 0, &r, DHT_ERR_RATE);
	fx_close(&f);
}

static void
full_store_keeps_records(void **state)
{
	struct dht_record a, b, c, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, 2, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	rec(&a, ALICE, 1, 0, 1, NOW + HOUR, "a");
	rec(&b, ALICE, 2, 0, 1, NOW + 2 * HOUR, "b");
	rec(&c, BOB, 3, 0, 1, NOW + 2 * HOUR, "c");
	STORE(&f, NOW, 1, &a, DHT_OK);
	STORE(&f, NOW, 1, &b, DHT_OK);
	STORE(&f, NOW, 2, &c, DHT_ERR_FULL);
	rec(&c, ALICE, 3, 0, 1, NOW + 2 * HOUR, "c");
	STORE(&f, NOW, 1, &c, DHT_ERR_FULL);
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_FULL), 2);
	assert_int_equal(dht_replica_count(f.rep), 2);
	assert_int_equal(find(&f, NOW, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &a));
	assert_int_equal(find(&f, NOW, 2, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &b));
	assert_int_equal(find(&f, NOW, 3, got, 4), 0);
	/* a full store still takes a replacement */
	rec(&a, ALICE, 1, 0, 2, NOW + HOUR, "a2");
	STORE(&f, NOW, 1, &a, DHT_OK);
	assert_int_equal(find(&f, NOW, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &a));
	/* room again once a record is dropped */
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), 1);
	rec(&c, BOB, 3, 0, 1, NOW + 2 * HOUR, "c");
	STORE(&f, NOW + HOUR, 2, &c, DHT_OK);
	rec(&c, BOB, 4, 0, 1, NOW + 2 * HOUR, "d");
	STORE(&f, NOW + HOUR, 2, &c, DHT_ERR_FULL);
	fx_close(&f);
}

static void
store_failures_are_internal(void **state)
{
	struct dht_record a, b, got[4];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, 2, FAST);
	rec(&a, ALICE, 1, 0, 1, NOW + HOUR, "a");
	STORE(&f, NOW, 1, &a, DHT_OK);
	/* a failing put changes nothing */
	f.spy->put_err = -EIO;
	rec(&b, ALICE, 1, 0, 2, NOW + HOUR, "b");
	STORE(&f, NOW, 1, &b, DHT_ERR_INTERNAL);
	rec(&b, BOB, 2, 0, 1, NOW + HOUR, "b");
	STORE(&f, NOW, 1, &b, DHT_ERR_INTERNAL);
	f.spy->put_err = 0;
	assert_int_equal(find(&f, NOW, 1, got, 4), 1);
	assert_true(dht_record_equal(&got[0], &a));
	assert_int_equal(dht_replica_count(f.rep), 1);
	/* a failing read refuses the STORE and fails find */
	f.spy->get_err = -EIO;
	rec(&b, ALICE, 2, 0, 1, NOW + HOUR, "b");
	STORE(&f, NOW, 1, &b, DHT_ERR_INTERNAL);
	{
		struct nodeid k;

		key_n(&k, 1);
		assert_int_equal(dht_replica_find(f.rep, NOW, &k, got, 4), -EIO);
	}
	f.spy->get_err = 0;
	assert_int_equal(dht_replica_refused(f.rep, DHT_ERR_INTERNAL), 3);
	/* the counts did not move: alice has room for exactly one more */
	STORE(&f, NOW, 1, &b, DHT_OK);
	rec(&b, ALICE, 3, 0, 1, NOW + HOUR, "c");
	STORE(&f, NOW, 1, &b, DHT_ERR_QUOTA);
	/* a walk that fails after an expiry: the counts are rebuilt before the next STORE */
	f.spy->foreach_err = -EIO;
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), 2);
	rec(&b, ALICE, 4, 0, 1, NOW + 2 * HOUR, "d");
	STORE(&f, NOW + HOUR, 1, &b, DHT_ERR_INTERNAL);
	f.spy->foreach_err = 0;
	STORE(&f, NOW + HOUR, 1, &b, DHT_OK);
	rec(&b, ALICE, 5, 0, 1, NOW + 2 * HOUR, "e");
	STORE(&f, NOW + HOUR, 1, &b, DHT_OK);
	rec(&b, ALICE, 6, 0, 1, NOW + 2 * HOUR, "f");
	STORE(&f, NOW + HOUR, 1, &b, DHT_ERR_QUOTA);
	fx_close(&f);
	/* a replica cannot start without counting its store */
	fx_store(&f, BIG);
	f.spy->foreach_err = -EIO;
	{
		struct dht_replica_limits l;

		dht_replica_limits_default(&l);
		assert_null(dht_replica_new(f.store, &l));
	}
	f.spy->foreach_err = 0;
	fx_replica(&f, 1, 1, 1);
	fx_close(&f);
}

/* A store that already holds records, some of them expired. */
static void
new_counts_existing_records(void **state)
{
	struct dht_record r, got[8];
	struct fx f;

	(void)state;
	fx_store(&f, BIG);
	/* alice: two live, three expired; bob: one expired under key 6 and one live */
	rec(&r, ALICE, 0, 0, 1, NOW + HOUR, "live");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 1, 0, 1, NOW + HOUR, "live");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 2, 0, 5, NOW, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 3, 0, 1, NOW - HOUR, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 0, 1, 1, NOW - 1, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, BOB, 6, 0, 1, NOW - 1, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, BOB, 7, 0, 1, NOW + HOUR, "live");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	fx_replica(&f, 2, 3, FAST);
	assert_int_equal(dht_replica_count(f.rep), 7);
	/* the expired ones are not found */
	assert_int_equal(find(&f, NOW, 0, got, 8), 1);
	assert_int_equal(find(&f, NOW, 2, got, 8), 0);
	/* bob's expired record does not bind key 6 */
	rec(&r, ALICE, 6, 0, 1, NOW + HOUR, "mine now");
	STORE(&f, NOW, 1, &r, DHT_OK);
	/* alice has three live now: the quota is reached */
	rec(&r, ALICE, 8, 0, 1, NOW + HOUR, "fourth");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* dropping the expired ones changes nothing for alice ... */
	assert_int_equal(dht_replica_expire(f.rep, NOW), 4);
	assert_int_equal(dht_replica_count(f.rep), 4);
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	/* ... nor for bob, who has one live record */
	rec(&r, BOB, 9, 0, 1, NOW + HOUR, "b");
	STORE(&f, NOW, 2, &r, DHT_OK);
	rec(&r, BOB, 10, 0, 1, NOW + HOUR, "b");
	STORE(&f, NOW, 2, &r, DHT_OK);
	rec(&r, BOB, 11, 0, 1, NOW + HOUR, "b");
	STORE(&f, NOW, 2, &r, DHT_ERR_QUOTA);
	fx_close(&f);

	/* before any expiry: an expired slot takes an older seq; key 0's expired record
	 * does not count against the two a key may hold */
	fx_store(&f, BIG);
	rec(&r, ALICE, 0, 0, 1, NOW + HOUR, "live");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 0, 1, 1, NOW - 1, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 2, 0, 9, NOW, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	rec(&r, ALICE, 3, 0, 1, NOW - HOUR, "expired");
	assert_int_equal(f.store->ops->put(f.store, &r), 0);
	fx_replica(&f, 2, 3, FAST);
	rec(&r, ALICE, 2, 0, 1, NOW + HOUR, "older seq, slot expired");
	STORE(&f, NOW, 1, &r, DHT_OK);
	rec(&r, ALICE, 0, 2, 1, NOW + HOUR, "second under key 0");
	STORE(&f, NOW, 1, &r, DHT_OK);
	assert_int_equal(find(&f, NOW, 0, got, 8), 2);
	rec(&r, ALICE, 4, 0, 1, NOW + HOUR, "fourth");
	STORE(&f, NOW, 1, &r, DHT_ERR_QUOTA);
	assert_int_equal(dht_replica_count(f.rep), 5);
	fx_close(&f);
}

/* More owners than the owner table's first size, and owners added and dropped again. */
static void
many_owners(void **state)
{
	struct dht_record r;
	struct fx f;
	unsigned walks;

	(void)state;
	fx_open(&f, 2 * TABLE_OWNERS, DHT_MAX_PER_KEY, 2, FAST);
	for (unsigned o = 0; o < TABLE_OWNERS; o++) {
		rec(&r, o, 2 * o, 0, 1, NOW + (o % 2 ? HOUR : 2 * HOUR), "x");
		STORE(&f, NOW, o, &r, DHT_OK);
		rec(&r, o, 2 * o + 1, 0, 1, NOW + 2 * HOUR, "y");
		STORE(&f, NOW, o, &r, DHT_OK);
	}
	assert_int_equal(dht_replica_count(f.rep), 2 * TABLE_OWNERS);
	/* the store is full: newcomers are refused (and leave nothing behind) */
	for (unsigned o = TABLE_OWNERS; o < TABLE_OWNERS + TABLE_LATE; o++) {
		rec(&r, o, 1000 + o, 0, 1, NOW + 2 * HOUR, "late");
		STORE(&f, NOW, o, &r, DHT_ERR_FULL);
	}
	/* every owner is still counted: its third record is over the quota, not full */
	for (int round = 0; round < 2; round++) {
		walks = f.spy->foreachs;
		for (unsigned o = 0; o < TABLE_OWNERS; o++) {
			rec(&r, o, 5000 + o, 0, 1, NOW + 2 * HOUR, "third");
			STORE(&f, NOW, o, &r, DHT_ERR_QUOTA);
		}
		/* the live counts are computed once, then reused */
		if (round == 1)
			assert_int_equal(f.spy->foreachs, walks);
	}
	/* the odd owners' first records expire */
	assert_int_equal(dht_replica_expire(f.rep, NOW + HOUR), TABLE_OWNERS / 2);
	for (unsigned o = 0; o < TABLE_OWNERS; o++) {
		rec(&r, o, 5000 + o, 0, 1, NOW + 2 * HOUR, "third");
		STORE(&f, NOW + HOUR, o, &r, o % 2 ? DHT_OK : DHT_ERR_QUOTA);
	}
	assert_int_equal(dht_replica_count(f.rep), 2 * TABLE_OWNERS);
	fx_close(&f);
}

static void
find_returns_live_records(void **state)
{
	struct dht_record r, got[8];
	struct fx f;

	(void)state;
	fx_open(&f, BIG, DHT_MAX_PER_KEY, DHT_OWNER_QUOTA, FAST);
	for (uint32_t id = 0; id < 5; id++) {
		rec(&r, ALICE, 1, id, 1, NOW + (id + 1) * HOUR, id == 4 ? NULL : "v");
		STORE(&f, NOW, 1, &r, DHT_OK);
	}
	assert_int_equal(find(&f, NOW, 1, got, 8), 5);
	assert_int_equal(find(&f, NOW + HOUR, 1, got, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_true(got[i].expiry > NOW + HOUR);
	assert_int_equal(find(&f, NOW + 4 * HOUR, 1, got, 8), 1);
	assert_true(got[0].flags & DHT_REC_TOMBSTONE);
	assert_int_equal(find(&f, NOW + 5 * HOUR, 1, got, 8), 0);
	/* bounded by max */
	assert_int_equal(find(&f, NOW, 1, got, 2), 2);
	assert_int_equal(find(&f, NOW, 1, NULL, 0), 0);
	assert_int_equal(find(&f, NOW, 99, got, 8), 0);
	{
		struct nodeid k;

		key_n(&k, 1);
		assert_int_equal(dht_replica_find(f.rep, NOW, &k, NULL, 1), -EINVAL);
	}
	fx_close(&f);
}

static void
bad_arguments(void **state)
{
	struct dht_replica_limits l;
	struct dht_record r;
	struct nodeid s;
	struct fx f;

	(void)state;
	fx_store(&f, BIG);
	dht_replica_limits_default(&l);
	assert_int_equal(l.max_per_key, DHT_MAX_PER_KEY);
	assert_int_equal(l.owner_quota, DHT_OWNER_QUOTA);
	assert_int_equal(l.source_rate, DHT_SOURCE_RATE);
	assert_null(dht_replica_new(NULL, &l));
	l.owner_quota = 0;
	assert_null(dht_replica_new(f.store, &l));
	fx_replica(&f, 1, 1, 1);
	rec(&r, ALICE, 1, 0, 1, NOW + HOUR, "a");
	source_n(&s, 1);
	/* a NULL source is this node itself: stored, never rate limited */
	for (int i = 0; i < 3 * DHT_SOURCE_RATE; i++)
		assert_int_equal(dht_replica_store(f.rep, NOW, NULL, &r), DHT_OK);
	assert_int_equal(dht_replica_store(f.rep, NOW, &s, NULL), DHT_ERR_INTERNAL);
	assert_int_equal(dht_replica_store(NULL, NOW, &s, &r), DHT_ERR_INTERNAL);
	assert_int_equal(dht_replica_expire(NULL, NOW), -EINVAL);
	assert_int_equal(dht_replica_count(NULL), 0);
	assert_int_equal(dht_replica_refused(NULL, DHT_ERR_RATE), 0);
	dht_replica_free(NULL);
	fx_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_verify_reason),
		cmocka_unit_test(foreign_owner_refused),
		cmocka_unit_test(stale_seq_refused),
		cmocka_unit_test(identical_store_writes_once),
		cmocka_unit_test(higher_seq_replaces),
		cmocka_unit_test(tombstone_blocks_older_copies),
		cmocka_unit_test(ownership_ends_with_last_record),
		cmocka_unit_test(quota_per_key),
		cmocka_unit_test(quota_per_owner),
		cmocka_unit_test(quota_without_full_walks),
		cmocka_unit_test(quota_when_the_clock_goes_back),
		cmocka_unit_test(rate_per_source),
		cmocka_unit_test(rate_sources_least_recently_used_replaced),
		cmocka_unit_test(full_store_keeps_records),
		cmocka_unit_test(store_failures_are_internal),
		cmocka_unit_test(new_counts_existing_records),
		cmocka_unit_test(many_owners),
		cmocka_unit_test(find_returns_live_records),
		cmocka_unit_test(bad_arguments),
	};

	return cmocka_run_group_tests_name("dht/replica", tests, setup, teardown);
}
