/* The secure Kademlia routing table: k-buckets that split at the own ID, a sibling table of
 * the 5*s contacts closest to the own ID and a bounded replacement cache per bucket. */
#include "kbr/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A growable array of contacts; its user passes the bound it may never exceed. */
struct cvec {
	struct kbr_contact *v;
	uint16_t n, cap;
};

/* Bucket i holds the contacts whose common prefix with self is i (the last one: >= i).
 * The last bucket never has replacements: when it is full it splits instead (unless there
 * are NODEID_BITS buckets, and then its range holds a single ID besides self). */
struct bucket {
	struct cvec e;			/* entries, at most k */
	struct cvec r;			/* replacement cache, at most replacements */
	struct nodeid stale;		/* entry last reported as stale ... */
	bool stale_set;
	uint64_t stale_at;		/* ... at this time */
};

struct kbr_table {
	struct nodeid self;
	uint16_t k, sib_max, repl_max;
	uint64_t stale_wait;		/* ms before the same stale entry is reported again */
	struct cvec sib;		/* sorted by distance to self, closest first */
	struct bucket *b;		/* nb buckets, grown as they split */
	unsigned nb;
};

enum loc {
	LOC_NONE,
	LOC_SIB,
	LOC_ENTRY,
	LOC_REPL,
};

enum {
	CVEC_FIRST = 2,			/* slots of a vector's first allocation */
};

/* Makes room for one more element; the caller checks v->n < limit. */
static int
cvec_reserve(struct cvec *v, unsigned limit)
{
	struct kbr_contact *nv;
	unsigned cap;

	if (v->n < v->cap)
		return 0;
	cap = v->cap ? v->cap * 2u : CVEC_FIRST;
	if (cap > limit)
		cap = limit;
	if (cap <= v->n)
		return -ENOSPC;
	nv = realloc(v->v, cap * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	v->v = nv;
	v->cap = (uint16_t)cap;
	return 0;
}

static int
cvec_insert(struct cvec *v, unsigned pos, const struct kbr_contact *c, unsigned limit)
{
	int err = cvec_reserve(v, limit);

	if (err != 0)
		return err;
	memmove(&v->v[pos + 1], &v->v[pos], (v->n - pos) * sizeof(v->v[0]));
	v->v[pos] = *c;
	v->n++;
	return 0;
}

static void
cvec_delete(struct cvec *v, unsigned pos)
{
	memmove(&v->v[pos], &v->v[pos + 1], (v->n - pos - 1) * sizeof(v->v[0]));
	v->n--;
}

static int
cvec_find(const struct cvec *v, const struct nodeid *id)
{
	for (unsigned i = 0; i < v->n; i++)
		if (nodeid_eq(&v->v[i].id, id))
			return (int)i;
	return -1;
}

/* Index of the least recently seen element (the first of equals); v is not empty. */
static unsigned
cvec_oldest(const struct cvec *v)
{
	unsigned j = 0;

	for (unsigned i = 1; i < v->n; i++)
		if (v->v[i].last_seen < v->v[j].last_seen)
			j = i;
	return j;
}

/* Index of the most recently seen element (the last of equals); v is not empty. */
static unsigned
cvec_newest(const struct cvec *v)
{
	unsigned j = 0;

	for (unsigned i = 1; i < v->n; i++)
		if (v->v[i].last_seen >= v->v[j].last_seen)
			j = i;
	return j;
}

static unsigned
bucket_index(const struct kbr_table *t, const struct nodeid *id)
{
	unsigned cp = kbr_common_prefix(&t->self, id);

	return cp < t->nb ? cp : t->nb - 1;
}

/* Binary search of the sibling table by distance to self; *pos is where id is or goes. */
static bool
sib_search(const struct kbr_table *t, const struct nodeid *id, unsigned *pos)
{
	unsigned lo = 0, hi = t->sib.n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (kbr_distance_cmp(&t->self, &t->sib.v[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < t->sib.n && nodeid_eq(&t->sib.v[lo].id, id);
}

static enum loc
locate(const struct kbr_table *t, const struct nodeid *id, unsigned *b, unsigned *i)
{
	int j;

	*b = 0;
	if (sib_search(t, id, i))
		return LOC_SIB;
	*b = bucket_index(t, id);
	if ((j = cvec_find(&t->b[*b].e, id)) >= 0) {
		*i = (unsigned)j;
		return LOC_ENTRY;
	}
	if ((j = cvec_find(&t->b[*b].r, id)) >= 0) {
		*i = (unsigned)j;
		return LOC_REPL;
	}
	return LOC_NONE;
}

static struct kbr_contact *
contact_at(struct kbr_table *t, enum loc where, unsigned b, unsigned i)
{
	switch (where) {
	case LOC_SIB:
		return &t->sib.v[i];
	case LOC_ENTRY:
		return &t->b[b].e.v[i];
	case LOC_REPL:
		return &t->b[b].r.v[i];
	default:
		return NULL;
	}
}

/* Adds a bucket after the last one and moves the entries that belong there. */
static int
split(struct kbr_table *t)
{
	unsigned last = t->nb - 1, moving = 0, keep = 0;
	struct kbr_contact *v = NULL;
	struct bucket *nb, *old, *add;

	old = &t->b[last];
	for (unsigned i = 0; i < old->e.n; i++)
		if (kbr_common_prefix(&t->self, &old->e.v[i].id) > last)
			moving++;
	if (moving > 0 && moving < old->e.n) {
		v = malloc(moving * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
	}
	nb = realloc(t->b, (t->nb + 1) * sizeof(*nb));
	if (nb == NULL) {
		free(v);
		return -ENOMEM;
	}
	t->b = nb;
	old = &t->b[last];
	add = &t->b[last + 1];
	memset(add, 0, sizeof(*add));
	t->nb++;
	if (moving == 0)
		return 0;
	if (moving == old->e.n) {
		/* everything moves: hand the whole array over */
		add->e = old->e;
		memset(&old->e, 0, sizeof(old->e));
		return 0;
	}
	add->e.v = v;
	add->e.cap = (uint16_t)moving;
	for (unsigned i = 0; i < old->e.n; i++) {
		if (kbr_common_prefix(&t->self, &old->e.v[i].id) > last)
			add->e.v[add->e.n++] = old->e.v[i];
		else
			old->e.v[keep++] = old->e.v[i];
	}
	old->e.n = (uint16_t)keep;
	return 0;
}

/* Keeps c in bk's replacement cache; when it is full the least recently seen goes. */
static int
repl_add(struct kbr_table *t, struct bucket *bk, const struct kbr_contact *c)
{
	unsigned j;

	if (t->repl_max == 0)
		return 0;
	if (bk->r.n >= t->repl_max) {
		j = cvec_oldest(&bk->r);
		if (c->last_seen < bk->r.v[j].last_seen)
			return 0;
		cvec_delete(&bk->r, j);
	}
	return cvec_insert(&bk->r, bk->r.n, c, t->repl_max);
}

/* Puts a new contact into its bucket, splitting the last bucket as needed. report: the
 * newcomer sent a message, so a full bucket asks for its least recently seen entry to be
 * pinged (otherwise, for contacts moved around inside the table, it is silently cached). */
static int
bucket_place(struct kbr_table *t, const struct kbr_contact *c, uint64_t now,
    struct kbr_contact *stale, bool report)
{
	unsigned i = bucket_index(t, &c->id), j;
	struct bucket *bk;
	int err;

	while (i == t->nb - 1 && t->b[i].e.n >= t->k && t->nb < NODEID_BITS) {
		err = split(t);
		if (err != 0)
			return err;
		i = bucket_index(t, &c->id);
	}
	bk = &t->b[i];
	if (bk->e.n < t->k) {
		err = cvec_insert(&bk->e, bk->e.n, c, t->k);
		return err != 0 ? err : KBR_TABLE_ADDED;
	}
	err = repl_add(t, bk, c);
	if (err != 0)
		return err;
	if (!report)
		return KBR_TABLE_CACHED;
	j = cvec_oldest(&bk->e);
	if (bk->stale_set && nodeid_eq(&bk->stale, &bk->e.v[j].id) && now >= bk->stale_at &&
	    now - bk->stale_at < t->stale_wait)
		return KBR_TABLE_CACHED;
	bk->stale = bk->e.v[j].id;
	bk->stale_at = now;
	bk->stale_set = true;
	if (stale != NULL)
		*stale = bk->e.v[j];
	return KBR_TABLE_PENDING;
}

/* Puts a contact that is nowhere in the table into the sibling table or its bucket. */
static int
place(struct kbr_table *t, const struct kbr_contact *c, uint64_t now,
    struct kbr_contact *stale, bool report)
{
	struct kbr_contact out;
	unsigned pos;
	int err;

	if (t->sib.n < t->sib_max) {
		(void)sib_search(t, &c->id, &pos);
		err = cvec_insert(&t->sib, pos, c, t->sib_max);
		return err != 0 ? err : KBR_TABLE_ADDED;
	}
	out = t->sib.v[t->sib.n - 1];
	if (kbr_distance_cmp(&t->self, &c->id, &out.id) > 0)
		return bucket_place(t, c, now, stale, report);
	/* closer than the farthest sibling, which moves down into its bucket */
	err = bucket_place(t, &out, now, NULL, false);
	if (err < 0)
		return err;
	t->sib.n--;
	(void)sib_search(t, &c->id, &pos);
	(void)cvec_insert(&t->sib, pos, c, t->sib_max);	/* the slot is allocated */
	return KBR_TABLE_ADDED;
}

/* Refills bucket bi from its replacement cache, most recently seen first. */
static void
bucket_fill(struct kbr_table *t, unsigned bi)
{
	while (t->b[bi].e.n < t->k && t->b[bi].r.n > 0) {
		struct bucket *bk = &t->b[bi];
		unsigned j = cvec_newest(&bk->r);
		struct kbr_contact c = bk->r.v[j];

		cvec_delete(&bk->r, j);
		(void)place(t, &c, 0, NULL, false);	/* on -ENOMEM it is lost */
	}
}

/* Moves the closest bucket entry up into the sibling table. */
static void
sib_refill(struct kbr_table *t)
{
	struct bucket *bk;
	struct kbr_contact c;
	unsigned i = t->nb, j = 0, pos;

	while (i > 0 && t->b[i - 1].e.n == 0)
		i--;
	if (i == 0 || t->sib.n >= t->sib_max)
		return;
	bk = &t->b[--i];
	/* a higher bucket is closer; within the last one, compare */
	for (unsigned n = 1; n < bk->e.n; n++)
		if (kbr_distance_cmp(&t->self, &bk->e.v[n].id, &bk->e.v[j].id) < 0)
			j = n;
	c = bk->e.v[j];
	cvec_delete(&bk->e, j);
	(void)sib_search(t, &c.id, &pos);
	(void)cvec_insert(&t->sib, pos, &c, t->sib_max);	/* a sibling just left */
	bucket_fill(t, i);
}

static void
remove_at(struct kbr_table *t, enum loc where, unsigned b, unsigned i)
{
	switch (where) {
	case LOC_SIB:
		cvec_delete(&t->sib, i);
		sib_refill(t);
		break;
	case LOC_ENTRY:
		cvec_delete(&t->b[b].e, i);
		bucket_fill(t, b);
		break;
	case LOC_REPL:
		cvec_delete(&t->b[b].r, i);
		break;
	default:
		break;
	}
}

struct kbr_table *
kbr_table_new(const struct nodeid *self, const struct kbr_params *p)
{
	struct kbr_table *t;

	if (self == NULL || p == NULL || p->k < 1 || p->k > KBR_MAX_K || p->s < 1 ||
	    p->s > KBR_MAX_S || p->replacements > KBR_MAX_K)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->b = calloc(1, sizeof(*t->b));
	if (t->b == NULL) {
		free(t);
		return NULL;
	}
	t->nb = 1;
	t->self = *self;
	t->k = (uint16_t)p->k;
	t->sib_max = (uint16_t)(KBR_SIBLING_FACTOR * p->s);
	t->repl_max = (uint16_t)p->replacements;
	t->stale_wait = (uint64_t)p->rpc_timeout_ms * ((uint64_t)p->rpc_retries + 1);
	return t;
}

void
kbr_table_free(struct kbr_table *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nb; i++) {
		free(t->b[i].e.v);
		free(t->b[i].r.v);
	}
	free(t->b);
	free(t->sib.v);
	free(t);
}

int
kbr_table_update(struct kbr_table *t, const struct nodeid *id, const struct kbr_addr *addr,
    uint64_t now, struct kbr_contact *stale)
{
	struct kbr_contact c, *known;
	enum loc where;
	unsigned b, i;

	if (nodeid_eq(id, &t->self))
		return KBR_TABLE_SELF;
	where = locate(t, id, &b, &i);
	if (where != LOC_NONE) {
		known = contact_at(t, where, b, i);
		known->addr = *addr;
		known->last_seen = now;
		known->fails = 0;
		return where == LOC_REPL ? KBR_TABLE_CACHED : KBR_TABLE_UPDATED;
	}
	memset(&c, 0, sizeof(c));
	c.id = *id;
	c.addr = *addr;
	c.first_seen = now;
	c.last_seen = now;
	return place(t, &c, now, stale, true);
}

bool
kbr_table_has_room(const struct kbr_table *t, const struct nodeid *id)
{
	unsigned b, i;

	if (nodeid_eq(id, &t->self) || locate(t, id, &b, &i) != LOC_NONE)
		return false;
	if (t->sib.n < t->sib_max ||
	    kbr_distance_cmp(&t->self, id, &t->sib.v[t->sib.n - 1].id) < 0)
		return true;
	b = kbr_table_bucket_of(t, id);
	return t->b[b].e.n < t->k || (b == t->nb - 1 && t->nb < NODEID_BITS);
}

int
kbr_table_failed(struct kbr_table *t, const struct nodeid *id, unsigned max_fails)
{
	struct kbr_contact *c;
	enum loc where;
	unsigned b, i;

	where = locate(t, id, &b, &i);
	if (where == LOC_NONE)
		return -ENOENT;
	c = contact_at(t, where, b, i);
	if (c->fails < UINT8_MAX)
		c->fails++;
	if (c->fails < max_fails)
		return 0;
	remove_at(t, where, b, i);
	return 1;
}

int
kbr_table_remove(struct kbr_table *t, const struct nodeid *id)
{
	enum loc where;
	unsigned b, i;

	where = locate(t, id, &b, &i);
	if (where == LOC_NONE)
		return -ENOENT;
	remove_at(t, where, b, i);
	return 0;
}

int
kbr_table_find(const struct kbr_table *t, const struct nodeid *id, struct kbr_contact *out)
{
	enum loc where;
	unsigned b, i;

	where = locate(t, id, &b, &i);
	if (where == LOC_SIB)
		*out = t->sib.v[i];
	else if (where == LOC_ENTRY)
		*out = t->b[b].e.v[i];
	else
		return -ENOENT;
	return 0;
}

/* Insertion into out[0..*n), sorted by distance to target and cut at max. */
static void
closest_add(const struct nodeid *target, const struct kbr_contact *c, struct kbr_contact *out,
    size_t *n, size_t max)
{
	size_t pos = *n;

	if (*n == max) {
		if (kbr_distance_cmp(target, &c->id, &out[max - 1].id) >= 0)
			return;
		pos = max - 1;
	} else {
		(*n)++;
	}
	for (; pos > 0 && kbr_distance_cmp(target, &c->id, &out[pos - 1].id) < 0; pos--)
		out[pos] = out[pos - 1];
	out[pos] = *c;
}

size_t
kbr_table_closest(const struct kbr_table *t, const struct nodeid *target,
    struct kbr_contact *out, size_t max)
{
	size_t n = 0;

	if (max == 0)
		return 0;
	for (unsigned i = 0; i < t->sib.n; i++)
		closest_add(target, &t->sib.v[i], out, &n, max);
	for (unsigned b = 0; b < t->nb; b++)
		for (unsigned i = 0; i < t->b[b].e.n; i++)
			closest_add(target, &t->b[b].e.v[i], out, &n, max);
	return n;
}

size_t
kbr_table_size(const struct kbr_table *t)
{
	size_t n = t->sib.n;

	for (unsigned i = 0; i < t->nb; i++)
		n += t->b[i].e.n;
	return n;
}

size_t
kbr_table_sibling_count(const struct kbr_table *t)
{
	return t->sib.n;
}

unsigned
kbr_table_bucket_count(const struct kbr_table *t)
{
	return t->nb;
}

size_t
kbr_table_bucket_size(const struct kbr_table *t, unsigned i)
{
	return i < t->nb ? t->b[i].e.n : 0;
}

size_t
kbr_table_replacement_count(const struct kbr_table *t, unsigned i)
{
	return i < t->nb ? t->b[i].r.n : 0;
}

void
kbr_table_foreach(const struct kbr_table *t,
    void (*fn)(void *arg, const struct kbr_contact *c), void *arg)
{
	for (unsigned i = 0; i < t->sib.n; i++)
		fn(arg, &t->sib.v[i]);
	for (unsigned b = 0; b < t->nb; b++)
		for (unsigned i = 0; i < t->b[b].e.n; i++)
			fn(arg, &t->b[b].e.v[i]);
}

unsigned
kbr_table_bucket_of(const struct kbr_table *t, const struct nodeid *id)
{
	return bucket_index(t, id);
}

uint64_t
kbr_table_bucket_last_seen(const struct kbr_table *t, unsigned i)
{
	if (i >= t->nb || t->b[i].e.n == 0)
		return 0;
	return t->b[i].e.v[cvec_oldest(&t->b[i].e)].last_seen;
}

void
kbr_table_bucket_random_id(const struct kbr_table *t, unsigned i, const uint8_t *rnd,
    struct nodeid *out)
{
	bool last = i >= t->nb - 1;
	unsigned byte, bit;

	if (i >= NODEID_BITS)
		i = NODEID_BITS - 1;
	byte = i / 8;
	bit = i % 8;
	memcpy(out->b, t->self.b, byte);
	memcpy(out->b + byte, rnd + byte, NODEID_LEN - byte);
	/* the first i bits from self, the rest random */
	out->b[byte] = (uint8_t)((t->self.b[byte] & (0xff00u >> bit)) |
	    (rnd[byte] & (0xffu >> bit)));
	/* bit i differs from self, except in the last bucket whose range also holds longer
	 * common prefixes */
	if (!last) {
		uint8_t m = (uint8_t)(0x80u >> bit);

		out->b[byte] = (uint8_t)((out->b[byte] & ~m) | (~t->self.b[byte] & m));
	}
}
