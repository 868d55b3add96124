/* Name cache: two hash tables (chaining over a fixed bucket array sized from the maximum)
 * with an intrusive doubly linked LRU list each; O(1) expected per operation. */
#include "namecache/namecache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Common head of every entry; the table only sees this. */
struct nc_node {
	struct nodeid key;
	uint64_t expiry;		/* live while now < expiry */
	struct nc_node *hnext;		/* hash chain */
	struct nc_node *prev, *next;	/* LRU list: prev is older, next is newer */
};

struct nc_name {
	struct nc_node node;		/* first: a node pointer is an entry pointer */
	bool negative;
	size_t n;
	struct dht_record *recs;	/* n records, NULL if negative */
};

struct nc_addr {
	struct nc_node node;		/* first */
	struct kbr_addr addr;
};

struct nc_table {
	struct nc_node **buckets;
	size_t mask;			/* buckets - 1, a power of two minus one */
	struct nc_node *oldest, *newest;
	size_t count, max;
	bool names;			/* entries are struct nc_name, else struct nc_addr */
	uint64_t seed;			/* secret: names are chosen by others */
	struct nc_table_stats stats;
};

struct namecache {
	struct nc_table names, addrs;
	uint64_t max_ttl_ms;
};

/* Keys are SHA-1 outputs of names anyone may choose, so that grinding names into one bucket
 * needs the table's random seed: every key byte goes through a keyed multiply-xorshift. */
static size_t
bucket_of(const struct nc_table *t, const struct nodeid *key)
{
	uint64_t h = t->seed;

	for (int i = 0; i < NODEID_LEN; i++) {
		h ^= key->b[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	h ^= t->seed >> 7;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)(h & t->mask);
}

static uint64_t
deadline(uint64_t now, uint64_t ttl)
{
	return ttl > UINT64_MAX - now ? UINT64_MAX : now + ttl;
}

static int
table_init(struct nc_table *t, size_t max, bool names)
{
	size_t nb = 16;

	while (nb < max)
		nb <<= 1;
	memset(t, 0, sizeof(*t));
	if (getentropy(&t->seed, sizeof(t->seed)) != 0)
		t->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return -ENOMEM;
	t->mask = nb - 1;
	t->max = max;
	t->names = names;
	return 0;
}

static void
node_free(const struct nc_table *t, struct nc_node *e)
{
	if (t->names)
		free(((struct nc_name *)(void *)e)->recs);
	free(e);
}

static void
lru_unlink(struct nc_table *t, struct nc_node *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->oldest = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		t->newest = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_append(struct nc_table *t, struct nc_node *e)
{
	e->prev = t->newest;
	e->next = NULL;
	if (t->newest != NULL)
		t->newest->next = e;
	else
		t->oldest = e;
	t->newest = e;
}

static struct nc_node *
table_find(const struct nc_table *t, const struct nodeid *key)
{
	struct nc_node *e;

	for (e = t->buckets[bucket_of(t, key)]; e != NULL; e = e->hnext)
		if (nodeid_eq(&e->key, key))
			return e;
	return NULL;
}

static void
table_remove(struct nc_table *t, struct nc_node *e)
{
	struct nc_node **pp = &t->buckets[bucket_of(t, &e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	node_free(t, e);
	t->count--;
}

/* Inserts a new entry (its key not in the table) as the most recently used, first pushing
 * out the least recently used one if the table is full. */
static void
table_insert(struct nc_table *t, uint64_t now, struct nc_node *e)
{
	size_t b;

	if (t->count >= t->max) {
		struct nc_node *victim = t->oldest;

		if (victim->expiry <= now)
			t->stats.expirations++;
		else
			t->stats.evictions++;
		table_remove(t, victim);
	}
	b = bucket_of(t, &e->key);
	e->hnext = t->buckets[b];
	t->buckets[b] = e;
	lru_append(t, e);
	t->count++;
}

/* Finds a live entry and makes it the most recently used; removes an expired one. */
static struct nc_node *
table_lookup(struct nc_table *t, uint64_t now, const struct nodeid *key)
{
	struct nc_node *e = table_find(t, key);

	if (e == NULL) {
		t->stats.misses++;
		return NULL;
	}
	if (e->expiry <= now) {
		t->stats.expirations++;
		t->stats.misses++;
		table_remove(t, e);
		return NULL;
	}
	lru_unlink(t, e);
	lru_append(t, e);
	return e;
}

static void
table_drop(struct nc_table *t, const struct nodeid *key)
{
	struct nc_node *e = table_find(t, key);

	if (e != NULL)
		table_remove(t, e);
}

static void
table_free(struct nc_table *t)
{
	struct nc_node *e, *next;

	for (e = t->oldest; e != NULL; e = next) {
		next = e->next;
		node_free(t, e);
	}
	free(t->buckets);
	t->buckets = NULL;
}

struct namecache *
nc_new(size_t max_names, size_t max_addrs, uint64_t max_ttl_ms)
{
	struct namecache *nc;

	if (max_names == 0 || max_names > NC_MAX_ENTRIES ||
	    max_addrs == 0 || max_addrs > NC_MAX_ENTRIES)
		return NULL;
	nc = calloc(1, sizeof(*nc));
	if (nc == NULL)
		return NULL;
	if (table_init(&nc->names, max_names, true) < 0) {
		free(nc);
		return NULL;
	}
	if (table_init(&nc->addrs, max_addrs, false) < 0) {
		table_free(&nc->names);
		free(nc);
		return NULL;
	}
	nc->max_ttl_ms = max_ttl_ms;
	return nc;
}

void
nc_free(struct namecache *nc)
{
	if (nc == NULL)
		return;
	table_free(&nc->names);
	table_free(&nc->addrs);
	free(nc);
}

/* Stores recs (n records, or a negative entry if recs is NULL) under key until expiry.
 * On failure the old entry, if any, is left as it was. */
static int
put_name(struct namecache *nc, uint64_t now, const struct nodeid *key,
    const struct dht_record *recs, size_t n, uint64_t expiry)
{
	struct nc_table *t = &nc->names;
	struct dht_record *copy = NULL;
	struct nc_name *e;

	if (expiry <= now) {
		table_drop(t, key);
		return 0;
	}
	if (recs != NULL) {
		copy = malloc(n * sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, recs, n * sizeof(*copy));
	}
	e = (struct nc_name *)(void *)table_find(t, key);
	if (e != NULL) {
		lru_unlink(t, &e->node);
		lru_append(t, &e->node);
		free(e->recs);
	} else {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			free(copy);
			return -ENOMEM;
		}
		e->node.key = *key;
		table_insert(t, now, &e->node);
	}
	e->node.expiry = expiry;
	e->negative = recs == NULL;
	e->n = recs == NULL ? 0 : n;
	e->recs = copy;
	return 0;
}

int
nc_put_records(struct namecache *nc, uint64_t now, const struct nodeid *key,
    const struct dht_record *recs, size_t n, uint64_t max_ttl_ms)
{
	uint64_t expiry;

	if (nc == NULL || key == NULL || recs == NULL || n == 0 || n > NC_MAX_RECORDS)
		return -EINVAL;
	if (max_ttl_ms > nc->max_ttl_ms)
		max_ttl_ms = nc->max_ttl_ms;
	expiry = deadline(now, max_ttl_ms);
	for (size_t i = 0; i < n; i++)
		if (recs[i].expiry < expiry)
			expiry = recs[i].expiry;
	return put_name(nc, now, key, recs, n, expiry);
}

int
nc_put_negative(struct namecache *nc, uint64_t now, const struct nodeid *key,
    uint64_t ttl_ms)
{
	if (nc == NULL || key == NULL)
		return -EINVAL;
	if (ttl_ms > nc->max_ttl_ms)
		ttl_ms = nc->max_ttl_ms;
	return put_name(nc, now, key, NULL, 0, deadline(now, ttl_ms));
}

int
nc_get_records(struct namecache *nc, uint64_t now, const struct nodeid *key,
    struct dht_record *out, size_t max, bool *negative)
{
	struct nc_name *e;
	size_t n;

	if (nc == NULL || key == NULL || (out == NULL && max > 0))
		return -EINVAL;
	if (negative != NULL)
		*negative = false;
	e = (struct nc_name *)(void *)table_lookup(&nc->names, now, key);
	if (e == NULL)
		return -ENOENT;
	if (e->negative) {
		nc->names.stats.negative_hits++;
		if (negative != NULL)
			*negative = true;
		return 0;
	}
	nc->names.stats.hits++;
	n = e->n < max ? e->n : max;
	if (n > 0)
		memcpy(out, e->recs, n * sizeof(*out));
	return (int)n;
}

void
nc_invalidate(struct namecache *nc, const struct nodeid *key)
{
	if (nc != NULL && key != NULL)
		table_drop(&nc->names, key);
}

int
nc_put_addr(struct namecache *nc, uint64_t now, const struct nodeid *id,
    const struct kbr_addr *addr, uint64_t ttl_ms)
{
	struct nc_table *t;
	struct nc_addr *e;

	if (nc == NULL || id == NULL || addr == NULL)
		return -EINVAL;
	t = &nc->addrs;
	if (ttl_ms > nc->max_ttl_ms)
		ttl_ms = nc->max_ttl_ms;
	if (ttl_ms == 0) {
		table_drop(t, id);
		return 0;
	}
	e = (struct nc_addr *)(void *)table_find(t, id);
	if (e != NULL) {
		lru_unlink(t, &e->node);
		lru_append(t, &e->node);
	} else {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		e->node.key = *id;
		table_insert(t, now, &e->node);
	}
	e->node.expiry = deadline(now, ttl_ms);
	e->addr = *addr;
	return 0;
}

int
nc_get_addr(struct namecache *nc, uint64_t now, const struct nodeid *id,
    struct kbr_addr *out)
{
	struct nc_addr *e;

	if (nc == NULL || id == NULL || out == NULL)
		return -EINVAL;
	e = (struct nc_addr *)(void *)table_lookup(&nc->addrs, now, id);
	if (e == NULL)
		return -ENOENT;
	nc->addrs.stats.hits++;
	*out = e->addr;
	return 0;
}

void
nc_invalidate_addr(struct namecache *nc, const struct nodeid *id)
{
	if (nc != NULL && id != NULL)
		table_drop(&nc->addrs, id);
}

void
nc_get_stats(const struct namecache *nc, struct nc_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (nc == NULL)
		return;
	out->names = nc->names.stats;
	out->addrs = nc->addrs.stats;
}

size_t
nc_count_names(const struct namecache *nc)
{
	return nc == NULL ? 0 : nc->names.count;
}

size_t
nc_count_addrs(const struct namecache *nc)
{
	return nc == NULL ? 0 : nc->addrs.count;
}
