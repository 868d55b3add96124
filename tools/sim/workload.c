/* The lookup phase: lookups from random honest nodes for the IDs of random honest nodes,
 * started at a steady pace, with churn (nodes leaving without notice, new ones joining
 * through the protocol) spread over the same time. A lookup succeeds when the node it looks
 * for is the closest node in its result; it counts only if its source and target were alive
 * from its start to its end. With a DHT workload (--puts) the churn happens in the DHT
 * phase instead (dhtload.c), with the same steps. */
#include "tools/sim/sim.h"

#include <stdlib.h>
#include <string.h>

enum {
	LOOKUP_GRACE_MS = 120 * 1000,	/* the phase ends this long after the last start */
};

struct lookup_rec {
	struct sim *s;
	uint32_t source, target;
	uint64_t started_at;
	bool started, done, counted, success;
	unsigned hops;
	uint32_t ms;			/* a successful lookup's duration */
};

static bool
usable(const struct sim_node *nd)
{
	return nd->alive && !nd->malicious && !nd->liar;
}

int64_t
sim_random_honest(struct sim *s)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		uint32_t i = (uint32_t)(sim_rand(s) % s->n);

		if (usable(&s->nodes[i]))
			return i;
	}
	return -1;
}

static void
lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct lookup_rec *r = arg;
	struct sim *s = r->s;

	(void)target;
	r->done = true;
	s->outstanding--;
	s->lookups_done++;
	s->msgs_sum += st->queries + st->replies;
	if (!s->nodes[r->target].alive || !s->nodes[r->source].alive)
		return;
	r->counted = true;
	s->r.lookups_counted++;
	if (n > 0 && nodeid_eq(&res[0].id, &s->nodes[r->target].ident->id)) {
		uint64_t ms = s->now - r->started_at;

		r->success = true;
		r->ms = (uint32_t)ms;
		r->hops = st->hops;
		s->r.successes++;
		s->hops_sum += st->hops;
		if (st->hops > s->r.max_hops)
			s->r.max_hops = st->hops;
		s->lookup_ms_sum += ms;
		if (ms > s->r.max_lookup_ms)
			s->r.max_lookup_ms = (unsigned)ms;
	}
}

static void
start_lookup(struct sim *s, uintptr_t arg)
{
	struct lookup_rec *r = (struct lookup_rec *)arg;
	struct kbr_lookup_opts o = {.want = s->o.want};
	int64_t src = sim_random_settled(s), dst;

	if (src < 0)
		return;
	do
		dst = sim_random_settled(s);
	while (dst == src && s->n > 1);
	if (dst < 0)
		return;
	r->s = s;
	r->source = (uint32_t)src;
	r->target = (uint32_t)dst;
	r->started_at = s->now;
	s->outstanding++;	/* before the start: the callback may run at once */
	if (kbr_lookup_start_opts(s->nodes[src].k, s->now, &s->nodes[dst].ident->id, &o,
	    lookup_done, r) != 0) {
		s->outstanding--;
		return;
	}
	r->started = true;
	sim_touch(s, (uint32_t)src);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int64_t
sim_percentile(uint32_t *v, unsigned n, unsigned pct)
{
	unsigned rank;

	if (n == 0 || v == NULL)
		return -1;
	qsort(v, n, sizeof(*v), cmp_u32);
	rank = (unsigned)(((uint64_t)pct * n + 99) / 100);	/* nearest rank, 1-based */
	return v[rank > 0 ? rank - 1 : 0];
}

int64_t
sim_random_settled(struct sim *s)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		int64_t i = sim_random_honest(s);

		if (i < 0)
			return -1;
		if (s->nodes[i].joined_at == 0 || s->nodes[i].joined_at + SIM_JOIN_GRACE_MS <= s->now)
			return i;
	}
	return -1;
}

void
sim_churn_step(struct sim *s, uintptr_t arg)
{
	int64_t victim = sim_random_honest(s);
	int i;

	(void)arg;
	if (victim >= 0) {
		/* its own lookups end with it, uncounted (kbr_free does not call back) */
		for (unsigned j = 0; j < s->nrecs; j++) {
			struct lookup_rec *r = &s->recs[j];

			if (r->started && !r->done && r->source == (uint32_t)victim) {
				r->done = true;
				s->outstanding--;
			}
		}
		sim_remove_node(s, (uint32_t)victim);
		s->r.left++;
	}
	i = sim_add_node(s);
	if (i < 0)
		return;
	s->nodes[i].joined_at = s->now;
	for (unsigned tries = 0; tries < 64; tries++) {
		int64_t b = sim_random_honest(s);

		if (b >= 0 && b != i) {
			(void)kbr_bootstrap(s->nodes[i].k, s->now, &s->nodes[b].addr);
			break;
		}
	}
	sim_touch(s, (uint32_t)i);
	s->r.joined++;
}

int
sim_run_lookups(struct sim *s)
{
	struct lookup_rec *recs = calloc(s->o.lookups ? s->o.lookups : 1, sizeof(*recs));
	uint64_t start = s->now, span = (uint64_t)s->o.lookups * s->o.lookup_interval_ms;
	/* with a DHT workload the churn happened before the gets */
	unsigned churns = s->o.puts > 0 ? 0 : (unsigned)(s->o.churn * s->o.nodes + 0.5);

	if (recs == NULL)
		return -1;
	s->recs = recs;
	s->nrecs = s->o.lookups;
	s->attacking = true;
	/* churn runs over the first half of the phase, so that maintenance has run before
	 * the later lookups */
	for (unsigned j = 0; j < churns; j++)
		sim_at(s, start + (span / 2) * j / churns, sim_churn_step, 0);
	for (unsigned j = 0; j < s->o.lookups; j++)
		sim_at(s, start + (uint64_t)j * s->o.lookup_interval_ms, start_lookup,
		    (uintptr_t)&recs[j]);
	sim_run_until(s, start + span);
	/* let the last lookups finish (bounded) */
	for (uint64_t t = s->now; s->outstanding > 0 && t < start + span + LOOKUP_GRACE_MS;
	    t += 1000)
		sim_run_until(s, t + 1000);
	s->attacking = false;
	if (s->r.successes > 0) {
		s->r.mean_hops = (double)s->hops_sum / s->r.successes;
		s->r.mean_lookup_ms = (double)s->lookup_ms_sum / s->r.successes;
	}
	if (s->lookups_done > 0)
		s->r.msgs_per_lookup = (double)s->msgs_sum / s->lookups_done;
	{
		uint32_t *ms = malloc((s->r.successes ? s->r.successes : 1) * sizeof(*ms));
		unsigned n = 0;

		for (unsigned j = 0; ms != NULL && j < s->o.lookups; j++)
			if (recs[j].success && n < s->r.successes)
				ms[n++] = recs[j].ms;
		s->r.median_lookup_ms = sim_percentile(ms, n, 50);
		s->r.p99_lookup_ms = sim_percentile(ms, n, 99);
		free(ms);
	}
	/* lookups still running keep a pointer into recs: the simulation ends here (their
	 * nodes are freed without calling back) */
	s->recs = NULL;
	s->nrecs = 0;
	free(recs);
	return 0;
}
