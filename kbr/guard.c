/* Rate limits: token buckets per source address and in total. */
#include "kbr/guard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

	/* The source's own bucket first: what one address sends beyond its share is dropped
	 * before it can spend the budget of everybody else. */
	if (r->src == NULL)
		r->src = calloc(r->nsources, sizeof(*r->src));
	if (r->src != NULL) {
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
		if (!take(&e->tokens_milli, &e->last, now, r->per_source))
			return false;
	}
	/* without memory for per-source buckets the total still holds */
	return take(&r->total_tokens_milli, &r->total_last, now, r->total);
}

size_t
kbr_ratelimit_memory(const struct kbr_ratelimit *r)
{
	return r->src != NULL ? r->nsources * sizeof(*r->src) : 0;
}
