/* The replica's rules over a dht_store: per-source STORE rates, key ownership, sequence
 * numbers, and the per-key and per-owner counts, kept next to the store. */
#include "dht/replica.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OWNERS_FIRST = 64,		/* slots of the owner table's first allocation */
	REASONS = DHT_ERR_INTERNAL + 1,
	BURST_SECONDS = 2,		/* a source's bucket holds two seconds' worth */
};

_Static_assert(ID_PUBKEY_LEN % 8 == 0, "owner_hash reads whole 64-bit words");

/* The token bucket of one source node. */
struct replica_source {
	struct nodeid id;
	bool used;
	uint64_t tokens_milli;		/* tokens * 1000 */
	uint64_t last;			/* ms */
};

/* The records of one owner in the store. n counts every stored record, expired or not;
 * live is the number of live ones at any now in [live_from, live_until) (empty: unknown). */
struct replica_owner {
	uint8_t pub[ID_PUBKEY_LEN];
	bool used;
	size_t n;
	size_t live;
	uint64_t live_from, live_until;
};

/* Open addressing with linear probing, at most half full; cap is 0 or a power of two. */
struct owner_table {
	struct replica_owner *v;
	size_t cap, n;
};

struct dht_replica {
	struct dht_store *store;
	struct dht_replica_limits lim;
	uint64_t hash_key[2];		/* the owner table's SipHash key, random */
	struct owner_table owners;
	bool recount;			/* rebuild the owner counts before use */
	uint64_t refused[REASONS];
	struct replica_source *src;	/* DHT_SOURCES, allocated at the first remote STORE */
};

void
dht_replica_limits_default(struct dht_replica_limits *l)
{
	l->max_per_key = DHT_MAX_PER_KEY;
	l->owner_quota = DHT_OWNER_QUOTA;
	l->source_rate = DHT_SOURCE_RATE;
}

/* SipHash-2-4 of an owner key: owner keys are chosen by their owners, who must not be able
 * to make them collide in the table. */
static uint64_t
rotl(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

static void
sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

static uint64_t
owner_hash(const uint64_t key[2], const uint8_t *pub)
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
		key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL,
	};
	uint64_t m;

	for (size_t i = 0; i <= ID_PUBKEY_LEN; i += 8) {
		if (i < ID_PUBKEY_LEN) {
			m = 0;
			for (size_t j = 0; j < 8; j++)
				m |= (uint64_t)pub[i + j] << (8 * j);
		} else {
			/* the last block: the length, no bytes left over */
			m = (uint64_t)ID_PUBKEY_LEN << 56;
		}
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static struct replica_owner *
owner_find(const struct dht_replica *rep, const struct owner_table *t, const uint8_t *pub)
{
	size_t mask = t->cap - 1;

	if (t->cap == 0)
		return NULL;
	for (size_t i = owner_hash(rep->hash_key, pub) & mask;; i = (i + 1) & mask) {
		struct replica_owner *e = &t->v[i];

		if (!e->used)
			return NULL;
		if (memcmp(e->pub, pub, ID_PUBKEY_LEN) == 0)
			return e;
	}
}

/* Moves every entry of t into a table of cap slots. */
static int
owner_resize(const struct dht_replica *rep, struct owner_table *t, size_t cap)
{
	struct replica_owner *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->v[i].used)
			continue;
		for (j = owner_hash(rep->hash_key, t->v[i].pub) & (cap - 1); v[j].used;
		    j = (j + 1) & (cap - 1))
			;
		v[j] = t->v[i];
	}
	free(t->v);
	t->v = v;
	t->cap = cap;
	return 0;
}

/* The entry of pub, added (with no records) if missing; NULL without memory. */
static struct replica_owner *
owner_get(const struct dht_replica *rep, struct owner_table *t, const uint8_t *pub)
{
	struct replica_owner *e = owner_find(rep, t, pub);
	size_t i;

	if (e != NULL)
		return e;
	if ((t->n + 1) * 2 > t->cap) {
		if (t->cap > SIZE_MAX / 2 / sizeof(*t->v) ||
		    owner_resize(rep, t, t->cap ? t->cap * 2 : OWNERS_FIRST) != 0)
			return NULL;
	}
	for (i = owner_hash(rep->hash_key, pub) & (t->cap - 1); t->v[i].used;
	    i = (i + 1) & (t->cap - 1))
		;
	e = &t->v[i];
	memset(e, 0, sizeof(*e));
	e->used = true;
	memcpy(e->pub, pub, ID_PUBKEY_LEN);
	t->n++;
	return e;
}

/* Removes e, shifting back the entries of its probe run that it displaced. */
static void
owner_del(const struct dht_replica *rep, struct owner_table *t, struct replica_owner *e)
{
	size_t mask = t->cap - 1, hole = (size_t)(e - t->v);

	for (size_t i = (hole + 1) & mask; t->v[i].used; i = (i + 1) & mask) {
		size_t home = owner_hash(rep->hash_key, t->v[i].pub) & mask;

		/* i may move into the hole unless its home lies cyclically in (hole, i] */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->v[hole] = t->v[i];
			hole = i;
		}
	}
	memset(&t->v[hole], 0, sizeof(t->v[hole]));
	t->n--;
}

struct recount {
	const struct dht_replica *rep;
	struct owner_table *t;
	int err;
};

static int
recount_fn(void *arg, const struct dht_record *r)
{
	struct recount *c = arg;
	struct replica_owner *e = owner_get(c->rep, c->t, r->owner);

	if (e == NULL) {
		c->err = -ENOMEM;
		return 1;
	}
	e->n++;
	return 0;
}

/* Rebuilds the owner counts from the store; on failure the old ones stay, marked for a
 * rebuild before their next use. */
static int
recount(struct dht_replica *rep)
{
	struct owner_table t = {0};
	struct recount c = {.rep = rep, .t = &t};
	int err;

	err = rep->store->ops->foreach(rep->store, recount_fn, &c);
	if (err == 0)
		err = c.err;
	if (err != 0) {
		free(t.v);
		rep->recount = true;
		return err;
	}
	free(rep->owners.v);
	rep->owners = t;
	rep->recount = false;
	return 0;
}

struct dht_replica *
dht_replica_new(struct dht_store *store, const struct dht_replica_limits *l)
{
	struct dht_replica *rep;

	if (store == NULL || store->ops == NULL)
		return NULL;
	if (l != NULL && (l->max_per_key == 0 || l->owner_quota == 0 || l->source_rate == 0))
		return NULL;
	rep = calloc(1, sizeof(*rep));
	if (rep == NULL)
		return NULL;
	rep->store = store;
	if (l != NULL)
		rep->lim = *l;
	else
		dht_replica_limits_default(&rep->lim);
	/* without entropy the table still works; only collisions become predictable */
	if (getentropy(rep->hash_key, sizeof(rep->hash_key)) != 0) {
		rep->hash_key[0] = 0x0123456789abcdefULL;
		rep->hash_key[1] = 0xfedcba9876543210ULL;
	}
	if (recount(rep) != 0) {
		dht_replica_free(rep);
		return NULL;
	}
	return rep;
}

void
dht_replica_free(struct dht_replica *rep)
{
	if (rep == NULL)
		return;
	free(rep->owners.v);
	free(rep->src);
	free(rep);
}

/* Takes one token from source's bucket (source_rate a second, holding twice that); an
 * untracked source replaces the least recently used one with a full bucket. */
static bool
rate_take(struct dht_replica *rep, uint64_t now, const struct nodeid *source)
{
	struct replica_source *e = NULL, *victim = NULL;
	uint64_t rate = rep->lim.source_rate, cap = rate * BURST_SECONDS * 1000, t;

	/* the table costs about 10 KB: nodes that never serve a STORE (most of a large
	 * simulation's) do without it */
	if (rep->src == NULL && (rep->src = calloc(DHT_SOURCES, sizeof(*rep->src))) == NULL)
		return false;
	for (size_t i = 0; i < DHT_SOURCES; i++) {
		struct replica_source *c = &rep->src[i];

		if (c->used && nodeid_eq(&c->id, source)) {
			e = c;
			break;
		}
		if (victim == NULL || (victim->used && (!c->used || c->last < victim->last)))
			victim = c;
	}
	if (e == NULL) {
		e = victim;
		e->id = *source;
		e->used = true;
		e->tokens_milli = cap;
		e->last = now;
	}
	t = e->tokens_milli;
	if (now > e->last) {
		/* a bounded elapsed time cannot overflow the product */
		if (now - e->last >= (uint64_t)BURST_SECONDS * 1000)
			t = cap;
		else
			t += (now - e->last) * rate;
	}
	if (t > cap)
		t = cap;
	e->last = now;
	if (t < 1000) {
		e->tokens_milli = t;
		return false;
	}
	e->tokens_milli = t - 1000;
	return true;
}

/* What the store holds under a record's key. */
struct scan {
	const struct dht_record *r;
	uint64_t now;
	size_t live;			/* live records under the key */
	bool foreign;			/* one of them has another owner */
	bool slot_stored;		/* r's slot holds a record, live or not */
	bool slot_live;			/* ... a live one, */
	bool slot_equal;		/* ... byte for byte r, */
	uint64_t slot_seq;		/* ... with this seq */
};

static int
scan_fn(void *arg, const struct dht_record *s)
{
	struct scan *c = arg;
	bool live = s->expiry > c->now;

	if (dht_record_same_slot(s, c->r)) {
		c->slot_stored = true;
		if (live) {
			c->slot_live = true;
			c->slot_equal = dht_record_equal(s, c->r);
			c->slot_seq = s->seq;
		}
	}
	if (!live)
		return 0;
	c->live++;
	if (memcmp(s->owner, c->r->owner, ID_PUBKEY_LEN) != 0)
		c->foreign = true;
	return 0;
}

struct owner_scan {
	const uint8_t *pub;
	uint64_t now;
	size_t live;
	uint64_t until;			/* the earliest expiry of those */
};

static int
owner_scan_fn(void *arg, const struct dht_record *r)
{
	struct owner_scan *c = arg;

	if (r->expiry > c->now && memcmp(r->owner, c->pub, ID_PUBKEY_LEN) == 0) {
		c->live++;
		if (r->expiry < c->until)
			c->until = r->expiry;
	}
	return 0;
}

/* Whether e->live holds at now: none of the records counted has expired since, and no
 * record that had expired then is live again (the clock went back). */
static bool
live_known(const struct replica_owner *e, uint64_t now)
{
	return e->live_from <= now && now < e->live_until;
}

/* Whether the owner has owner_quota live records at now: 1, 0 or a negative errno. The
 * stored count settles it unless expired records may hide in it; then the live count is
 * computed (by one pass over the store) and reused until one of the records counted
 * expires. */
static int
owner_full(struct dht_replica *rep, uint64_t now, const uint8_t *pub)
{
	struct replica_owner *e = owner_find(rep, &rep->owners, pub);
	struct owner_scan c = {.pub = pub, .now = now, .until = UINT64_MAX};
	int err;

	if (e == NULL || e->n < rep->lim.owner_quota)
		return 0;
	if (!live_known(e, now)) {
		err = rep->store->ops->foreach(rep->store, owner_scan_fn, &c);
		if (err != 0)
			return err;
		e->live = c.live;
		e->live_from = now;
		e->live_until = c.until;
	}
	return e->live >= rep->lim.owner_quota;
}

static enum dht_reason
store_rules(struct dht_replica *rep, uint64_t now, const struct nodeid *source,
    const struct dht_record *r)
{
	struct dht_store *st = rep->store;
	struct scan c = {.r = r, .now = now};
	struct replica_owner *e;
	enum dht_reason why;
	int err;

	if (source != NULL && !rate_take(rep, now, source))
		return DHT_ERR_RATE;
	why = dht_record_verify(r, now);
	if (why != DHT_OK)
		return why;
	if (rep->recount && recount(rep) != 0)
		return DHT_ERR_INTERNAL;
	if (st->ops->get(st, &r->key, scan_fn, &c) != 0)
		return DHT_ERR_INTERNAL;
	if (c.foreign)
		return DHT_ERR_FOREIGN_OWNER;
	if (c.slot_live) {
		if (c.slot_equal)
			return DHT_OK;
		if (r->seq <= c.slot_seq)
			return DHT_ERR_STALE;
	} else {
		if (c.live >= rep->lim.max_per_key)
			return DHT_ERR_QUOTA;
		err = owner_full(rep, now, r->owner);
		if (err != 0)
			return err > 0 ? DHT_ERR_QUOTA : DHT_ERR_INTERNAL;
	}
	/* the entry first, so that a stored record is always counted */
	e = owner_get(rep, &rep->owners, r->owner);
	if (e == NULL)
		return DHT_ERR_INTERNAL;
	err = st->ops->put(st, r);
	if (err != 0) {
		if (e->n == 0)
			owner_del(rep, &rep->owners, e);
		return err == -ENOSPC ? DHT_ERR_FULL : DHT_ERR_INTERNAL;
	}
	if (!c.slot_stored)
		e->n++;
	if (live_known(e, now)) {
		if (!c.slot_live)
			e->live++;
		/* a replaced record's expiry may stay the bound: a recount comes early */
		if (r->expiry < e->live_until)
			e->live_until = r->expiry;
	}
	return DHT_OK;
}

enum dht_reason
dht_replica_store(struct dht_replica *rep, uint64_t now, const struct nodeid *source,
    const struct dht_record *r)
{
	enum dht_reason why;

	if (rep == NULL || r == NULL)
		return DHT_ERR_INTERNAL;
	why = store_rules(rep, now, source, r);
	if (why != DHT_OK && (unsigned)why < REASONS)
		rep->refused[why]++;
	return why;
}

struct find {
	uint64_t now;
	struct dht_record *out;
	size_t max, n;
};

static int
find_fn(void *arg, const struct dht_record *r)
{
	struct find *c = arg;

	if (r->expiry <= c->now)
		return 0;
	if (c->n >= c->max)
		return 1;
	c->out[c->n++] = *r;
	return 0;
}

int
dht_replica_find(struct dht_replica *rep, uint64_t now, const struct nodeid *key,
    struct dht_record *out, size_t max)
{
	struct find c = {.now = now, .out = out, .max = max};
	int err;

	if (rep == NULL || key == NULL || (out == NULL && max > 0))
		return -EINVAL;
	if (c.max > INT_MAX)
		c.max = INT_MAX;
	if (c.max == 0)
		return 0;
	err = rep->store->ops->get(rep->store, key, find_fn, &c);
	if (err != 0)
		return err;
	return (int)c.n;
}

long
dht_replica_expire(struct dht_replica *rep, uint64_t now)
{
	long gone;

	if (rep == NULL)
		return -EINVAL;
	gone = rep->store->ops->expire(rep->store, now);
	/* a failed expire may have dropped some records: count again in any case; a failed
	 * recount is retried by the next STORE */
	if (gone != 0 || rep->recount)
		(void)recount(rep);
	return gone;
}

int
dht_replica_drop(struct dht_replica *rep, const struct dht_record *slot)
{
	int err = rep->store->ops->del(rep->store, slot);

	if (err == 0)
		(void)recount(rep);	/* a failure is retried by the next STORE */
	return err;
}

int
dht_replica_foreach(struct dht_replica *rep,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	return rep->store->ops->foreach(rep->store, fn, arg);
}

size_t
dht_replica_count(struct dht_replica *rep)
{
	return rep != NULL ? rep->store->ops->count(rep->store) : 0;
}

uint64_t
dht_replica_refused(const struct dht_replica *rep, enum dht_reason why)
{
	if (rep == NULL || why == DHT_OK || (unsigned)why >= REASONS)
		return 0;
	return rep->refused[why];
}
