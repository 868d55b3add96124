/* Rate limits (token buckets per source address and in total) and the replay cache. */
#include "kbr/guard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	REPLAY_MIN = 64,
};

struct kbr_rate_source {
	uint8_t ip[16];
	uint8_t family;
	uint64_t tokens_milli;			/* tokens * 1000 */
	uint64_t last;
};

void
kbr_ratelimit_init(struct kbr_ratelimit *r, unsigned per_source, unsigned total,
    unsigned nsources)
{
	memset(r, 0, sizeof(*r));
	r->per_source = per_source;
	r->total = total;
	r->nsources = nsources ? nsources : 1;
	r->total_tokens_milli = (uint64_t)total * 2 * 1000;
}

void
kbr_ratelimit_free(struct kbr_ratelimit *r)
{
	free(r->src);
	r->src = NULL;
}

/* Refills a bucket of per_second tokens a second (holding two seconds' worth) and takes
 * one token if there is one. */
static bool
take(uint64_t *tokens_milli, uint64_t *last, uint64_t now, unsigned per_second)
{
	uint64_t cap = (uint64_t)per_second * 2 * 1000, t = *tokens_milli;

	if (now > *last)
		t += (now - *last) * per_second;
	if (t > cap)
		t = cap;
	*last = now;
	if (t < 1000) {
		*tokens_milli = t;
		return false;
	}
	*tokens_milli = t - 1000;
	return true;
}

bool
kbr_ratelimit_allow(struct kbr_ratelimit *r, uint64_t now, const struct kbr_addr *from)
{
	struct kbr_rate_source *e = NULL, *victim = NULL;
	size_t n = from->family == KBR_AF_INET ? 4 : 16;

	if (!take(&r->total_tokens_milli, &r->total_last, now, r->total))
		return false;
	if (r->src == NULL) {
		r->src = calloc(r->nsources, sizeof(*r->src));
		if (r->src == NULL)
			return true;	/* per-source limits need memory; the total still holds */
	}
	for (unsigned i = 0; i < r->nsources; i++) {
		struct kbr_rate_source *c = &r->src[i];

		if (c->family == from->family && memcmp(c->ip, from->ip, n) == 0) {
			e = c;
			break;
		}
		/* an empty slot, else the least recently used one */
		if (victim == NULL || (victim->family != KBR_AF_NONE &&
		    (c->family == KBR_AF_NONE || c->last < victim->last)))
			victim = c;
	}
	if (e == NULL) {
		e = victim;
		memset(e, 0, sizeof(*e));
		e->family = from->family;
		memcpy(e->ip, from->ip, n);
		e->tokens_milli = (uint64_t)r->per_source * 2 * 1000;
		e->last = now;
	}
	return take(&e->tokens_milli, &e->last, now, r->per_source);
}

size_t
kbr_ratelimit_memory(const struct kbr_ratelimit *r)
{
	return r->src != NULL ? r->nsources * sizeof(*r->src) : 0;
}

void
kbr_replay_init(struct kbr_replay *c, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->max = max;
}

void
kbr_replay_free(struct kbr_replay *c)
{
	free(c->key);
	free(c->exp);
	c->key = c->exp = NULL;
	c->cap = c->n = 0;
}

uint64_t
kbr_replay_key(const struct nodeid *sender, uint64_t tid)
{
	uint64_t h = 0;

	/* Only the sender's own (signed) messages can produce its keys, so collisions can
	 * only hurt the sender itself. */
	for (size_t i = 0; i < 8; i++)
		h = h << 8 | sender->b[i];
	h ^= tid * 0x9e3779b97f4a7c15ULL;
	return h ? h : 1;
}

bool
kbr_replay_seen(const struct kbr_replay *c, uint64_t key, uint64_t now)
{
	if (c->cap == 0)
		return false;
	for (size_t i = key % c->cap, n = 0; n < c->cap; i = (i + 1) % c->cap, n++) {
		if (c->key[i] == 0)
			return false;
		if (c->key[i] == key)
			return c->exp[i] >= now;
	}
	return false;
}

/* Rebuilds the table at capacity cap with the entries that have not expired. */
static int
rebuild(struct kbr_replay *c, size_t cap, uint64_t now)
{
	uint64_t *keys = calloc(cap, sizeof(*keys)), *exp = calloc(cap, sizeof(*exp));
	size_t n = 0;

	if (keys == NULL || exp == NULL) {
		free(keys);
		free(exp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->cap; i++) {
		size_t j;

		if (c->key[i] == 0 || c->exp[i] < now)
			continue;
		for (j = c->key[i] % cap; keys[j] != 0; j = (j + 1) % cap)
			;
		keys[j] = c->key[i];
		exp[j] = c->exp[i];
		n++;
	}
	free(c->key);
	free(c->exp);
	c->key = keys;
	c->exp = exp;
	c->cap = cap;
	c->n = n;
	return 0;
}

int
kbr_replay_insert(struct kbr_replay *c, uint64_t key, uint64_t exp, uint64_t now)
{
	size_t i;

	/* keep the load at most one half */
	if (c->n + 1 > c->cap / 2) {
		size_t cap = c->cap ? c->cap : REPLAY_MIN;

		if (rebuild(c, cap, now) != 0)
			return -ENOMEM;
		if (c->n + 1 > cap / 2) {
			if (c->n >= c->max)
				return -EBUSY;
			if (rebuild(c, cap * 2, now) != 0)
				return -ENOMEM;
		}
	}
	for (i = key % c->cap; c->key[i] != 0 && c->key[i] != key; i = (i + 1) % c->cap)
		;
	if (c->key[i] == 0)
		c->n++;
	c->key[i] = key;
	c->exp[i] = exp;
	return 0;
}

void
kbr_replay_purge(struct kbr_replay *c, uint64_t now)
{
	size_t cap = c->cap;

	if (cap == 0)
		return;
	(void)rebuild(c, cap, now);
	while (cap > REPLAY_MIN && c->n < cap / 8)
		cap /= 2;
	if (cap != c->cap)
		(void)rebuild(c, cap, now);
}

size_t
kbr_replay_memory(const struct kbr_replay *c)
{
	return c->cap * 2 * sizeof(uint64_t);
}
