/* The memory store (simulator, unit tests): compact records in an array sorted by
 * (key, owner, kind, id), found by binary search, at most max_records of them. */
#include "dht/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
	MEM_FIRST = 16,			/* slots of the array's first allocation */
};

/* One record as held: the value takes only value_len bytes. */
struct mem_rec {
	struct nodeid key;
	uint8_t owner[ID_PUBKEY_LEN];
	uint32_t kind;
	uint32_t id;
	uint64_t seq;
	uint64_t expiry;
	uint8_t flags;
	uint16_t value_len;
	uint8_t secret_hash[NODEID_LEN];
	uint8_t sig[ID_SIG_LEN];
	uint8_t value[];
};

/* Where a record is filed; the order is that of the LMDB store's database keys. */
struct mem_slot {
	struct nodeid key;
	uint8_t owner[ID_PUBKEY_LEN];
	uint32_t kind;
	uint32_t id;
};

struct mem_store {
	struct dht_store base;		/* first: the interface's pointer points here */
	struct mem_rec **v;		/* n records, sorted by slot */
	size_t n, cap, max;
};

static struct mem_store *
mem_of(struct dht_store *st)
{
	return (struct mem_store *)st;
}

static void
slot_of(struct mem_slot *sl, const struct dht_record *r)
{
	sl->key = r->key;
	memcpy(sl->owner, r->owner, ID_PUBKEY_LEN);
	sl->kind = r->kind;
	sl->id = r->id;
}

static int
slot_cmp(const struct mem_rec *e, const struct mem_slot *sl)
{
	int c = nodeid_cmp(&e->key, &sl->key);

	if (c == 0)
		c = memcmp(e->owner, sl->owner, ID_PUBKEY_LEN);
	if (c == 0 && e->kind != sl->kind)
		c = e->kind < sl->kind ? -1 : 1;
	if (c == 0 && e->id != sl->id)
		c = e->id < sl->id ? -1 : 1;
	return c;
}

/* Binary search; *pos is where sl is or would go. */
static bool
mem_search(const struct mem_store *s, const struct mem_slot *sl, size_t *pos)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (slot_cmp(s->v[mid], sl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < s->n && slot_cmp(s->v[lo], sl) == 0;
}

/* The form dht_record_encode accepts, so that both stores refuse the same records. */
static bool
form_ok(const struct dht_record *r)
{
	return (r->flags & ~DHT_REC_FLAGS) == 0 && r->value_len <= DHT_MAX_VALUE &&
	    !((r->flags & DHT_REC_TOMBSTONE) && r->value_len != 0);
}

/* Fills r as dht_record_decode would: unused bytes are zero. */
static void
mem_unpack(struct dht_record *r, const struct mem_rec *e)
{
	memset(r, 0, sizeof(*r));
	r->key = e->key;
	r->kind = e->kind;
	r->id = e->id;
	r->seq = e->seq;
	r->expiry = e->expiry;
	r->flags = e->flags;
	memcpy(r->owner, e->owner, ID_PUBKEY_LEN);
	if (e->flags & DHT_REC_SECRET)
		memcpy(r->secret_hash, e->secret_hash, NODEID_LEN);
	r->value_len = e->value_len;
	memcpy(r->value, e->value, e->value_len);
	memcpy(r->sig, e->sig, ID_SIG_LEN);
}

static struct mem_rec *
mem_pack(const struct dht_record *r)
{
	struct mem_rec *e = calloc(1, sizeof(*e) + r->value_len);

	if (e == NULL)
		return NULL;
	e->key = r->key;
	memcpy(e->owner, r->owner, ID_PUBKEY_LEN);
	e->kind = r->kind;
	e->id = r->id;
	e->seq = r->seq;
	e->expiry = r->expiry;
	e->flags = r->flags;
	if (r->flags & DHT_REC_SECRET)
		memcpy(e->secret_hash, r->secret_hash, NODEID_LEN);
	e->value_len = r->value_len;
	memcpy(e->value, r->value, r->value_len);
	memcpy(e->sig, r->sig, ID_SIG_LEN);
	return e;
}

/* Makes room for one more record; the caller checks s->n < s->max. */
static int
mem_reserve(struct mem_store *s)
{
	struct mem_rec **nv;
	size_t cap;

	if (s->n < s->cap)
		return 0;
	if (s->cap > SIZE_MAX / 2 / sizeof(*nv))
		return -ENOMEM;
	cap = s->cap ? s->cap * 2 : MEM_FIRST;
	if (cap > s->max)
		cap = s->max;
	if (cap <= s->n)
		return -ENOSPC;
	nv = realloc(s->v, cap * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	s->v = nv;
	s->cap = cap;
	return 0;
}

static int
mem_put(struct dht_store *st, const struct dht_record *r)
{
	struct mem_store *s = mem_of(st);
	struct mem_slot sl;
	struct mem_rec *e;
	size_t pos;
	bool found;
	int err;

	if (!form_ok(r))
		return -EINVAL;
	slot_of(&sl, r);
	found = mem_search(s, &sl, &pos);
	if (!found && s->n >= s->max)
		return -ENOSPC;
	if (!found && (err = mem_reserve(s)) != 0)
		return err;
	e = mem_pack(r);
	if (e == NULL)
		return -ENOMEM;
	if (found) {
		free(s->v[pos]);
	} else {
		memmove(&s->v[pos + 1], &s->v[pos], (s->n - pos) * sizeof(s->v[0]));
		s->n++;
	}
	s->v[pos] = e;
	return 0;
}

/* Calls fn for every record, or every record under key if key is not NULL, in slot order.
 * fn may change the store: the walk goes on after the slot it last delivered. */
static int
mem_walk(struct mem_store *s, const struct nodeid *key,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	struct dht_record r;
	struct mem_slot last;
	size_t i = 0;

	if (key != NULL) {
		memset(&last, 0, sizeof(last));	/* the lowest slot under key */
		last.key = *key;
		(void)mem_search(s, &last, &i);
	}
	for (;;) {
		if (i >= s->n || (key != NULL && !nodeid_eq(&s->v[i]->key, key)))
			return 0;
		mem_unpack(&r, s->v[i]);
		slot_of(&last, &r);
		if (fn(arg, &r) != 0)
			return 0;
		if (i < s->n && slot_cmp(s->v[i], &last) == 0)
			i++;
		else if (mem_search(s, &last, &i))
			i++;
	}
}

static int
mem_get(struct dht_store *st, const struct nodeid *key,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	return mem_walk(mem_of(st), key, fn, arg);
}

static int
mem_foreach(struct dht_store *st, int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	return mem_walk(mem_of(st), NULL, fn, arg);
}

static int
mem_del(struct dht_store *st, const struct dht_record *slot)
{
	struct mem_store *s = mem_of(st);
	struct mem_slot sl;
	size_t pos;

	slot_of(&sl, slot);
	if (!mem_search(s, &sl, &pos))
		return -ENOENT;
	free(s->v[pos]);
	memmove(&s->v[pos], &s->v[pos + 1], (s->n - pos - 1) * sizeof(s->v[0]));
	s->n--;
	return 0;
}

static long
mem_expire(struct dht_store *st, uint64_t now)
{
	struct mem_store *s = mem_of(st);
	size_t j = 0;
	long gone = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i]->expiry <= now) {
			free(s->v[i]);
			gone++;
		} else {
			s->v[j++] = s->v[i];
		}
	}
	s->n = j;
	/* give memory back after a large expiry; keeping the old array is fine too */
	if (s->cap > MEM_FIRST && s->n < s->cap / 4) {
		size_t cap = s->n * 2 > MEM_FIRST ? s->n * 2 : MEM_FIRST;
		struct mem_rec **nv = realloc(s->v, cap * sizeof(*nv));

		if (nv != NULL) {
			s->v = nv;
			s->cap = cap;
		}
	}
	return gone;
}

static size_t
mem_count(struct dht_store *st)
{
	return mem_of(st)->n;
}

static void
mem_close(struct dht_store *st)
{
	struct mem_store *s = mem_of(st);

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s);
}

static const struct dht_store_ops mem_ops = {
	.put = mem_put,
	.get = mem_get,
	.del = mem_del,
	.foreach = mem_foreach,
	.expire = mem_expire,
	.count = mem_count,
	.close = mem_close,
};

struct dht_store *
dht_store_mem_new(size_t max_records)
{
	struct mem_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->base.ops = &mem_ops;
	s->max = max_records;
	return &s->base;
}
