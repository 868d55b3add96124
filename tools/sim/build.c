/* Building a simulated overlay: through the real join protocol, or (for large sweeps, as the
 * S/Kademlia evaluation did) from global knowledge of every node ID; and choosing the
 * malicious nodes. */
#include "tools/sim/sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbr/table.h"

/* ---- through the protocol ---- */

static void
join_one(struct sim *s, uintptr_t arg)
{
	(void)arg;
	uint32_t existing = s->n;
	int i = sim_add_node(s);

	if (i < 0 || existing == 0)
		return;
	/* bootstrap from a random node that is already there (and alive) */
	for (unsigned tries = 0; tries < 64; tries++) {
		uint32_t b = (uint32_t)(sim_rand(s) % existing);

		if (!s->nodes[b].alive)
			continue;
		(void)kbr_bootstrap(s->nodes[i].k, s->now, &s->nodes[b].addr);
		break;
	}
	sim_touch(s, (uint32_t)i);
	s->r.joined++;
}

int
sim_build_join(struct sim *s)
{
	uint64_t start = s->now;

	for (unsigned j = 0; j < s->o.nodes; j++)
		sim_at(s, start + (uint64_t)j * s->o.join_interval_ms, join_one, 0);
	sim_run_until(s, start + (uint64_t)s->o.nodes * s->o.join_interval_ms + s->o.settle_ms);
	s->r.joined = 0;
	return s->n == s->o.nodes ? 0 : -ENOMEM;
}

/* ---- from global knowledge ---- */

static const struct sim *sort_sim;

static int
cmp_by_id(const void *a, const void *b)
{
	const struct sim_node *x = &sort_sim->nodes[*(const uint32_t *)a];
	const struct sim_node *y = &sort_sim->nodes[*(const uint32_t *)b];

	return nodeid_cmp(&x->ident->id, &y->ident->id);
}

/* Sorts node indices by node ID (qsort needs the node array: a file-static pointer that
 * only lives during the call). */
void
sim_sort_by_id(const struct sim *s, uint32_t *idx, size_t n)
{
	sort_sim = s;
	qsort(idx, n, sizeof(*idx), cmp_by_id);
	sort_sim = NULL;
}

/* First position in sorted whose ID is >= id (or > id with after). */
static size_t
bound(const struct sim *s, const uint32_t *sorted, size_t n, const struct nodeid *id,
    bool after)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = nodeid_cmp(&s->nodes[sorted[mid]].ident->id, id);

		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The IDs with the first `depth` bits of x and the next bit flipped: [lo, hi]. */
static void
depth_range(const struct nodeid *x, unsigned depth, struct nodeid *lo, struct nodeid *hi)
{
	*lo = *x;
	lo->b[depth / 8] ^= (uint8_t)(0x80 >> (depth % 8));
	*hi = *lo;
	for (unsigned bit = depth + 1; bit < NODEID_BITS; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		lo->b[bit / 8] &= (uint8_t)~m;
		hi->b[bit / 8] |= m;
	}
}

/* The IDs whose first `len` bits are those of x: [lo, hi]. */
static void
prefix_range(const struct nodeid *x, unsigned len, struct nodeid *lo, struct nodeid *hi)
{
	*lo = *x;
	*hi = *x;
	for (unsigned bit = len; bit < NODEID_BITS; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		lo->b[bit / 8] &= (uint8_t)~m;
		hi->b[bit / 8] |= m;
	}
}

static const struct nodeid *dist_target;
static const struct sim *dist_sim;

static int
cmp_by_distance(const void *a, const void *b)
{
	return kbr_distance_cmp(dist_target, &dist_sim->nodes[*(const uint32_t *)a].ident->id,
	    &dist_sim->nodes[*(const uint32_t *)b].ident->id);
}

/* Every node sharing a longer prefix with the target is closer than every node sharing a
 * shorter one, and the nodes sharing at least `len` bits are a contiguous run of the
 * sorted array. So: find the longest prefix whose run holds more than max nodes; every
 * node of the next longer run is in the answer, and the rest are the closest of this run. */
unsigned
sim_closest_of(const struct sim *s, const uint32_t *sorted, size_t n,
    const struct nodeid *target, uint32_t skip, uint32_t *out, unsigned max)
{
	size_t a = 0, b = n;
	unsigned got = 0;
	uint32_t *run;

	for (unsigned len = NODEID_BITS; len-- > 0;) {
		struct nodeid lo, hi;

		prefix_range(target, len, &lo, &hi);
		a = bound(s, sorted, n, &lo, false);
		b = bound(s, sorted, n, &hi, true);
		if (b - a > max + 1u)	/* room for skip */
			break;
	}
	run = malloc((b - a) * sizeof(*run) + 1);
	if (run == NULL)
		return 0;
	memcpy(run, sorted + a, (b - a) * sizeof(*run));
	dist_target = target;
	dist_sim = s;
	qsort(run, b - a, sizeof(*run), cmp_by_distance);
	dist_target = NULL;
	dist_sim = NULL;
	for (size_t j = 0; j < b - a && got < max; j++)
		if (run[j] != skip && s->nodes[run[j]].alive)
			out[got++] = run[j];
	free(run);
	return got;
}

/* Fills node x's table the way a long-lived overlay would have it: every node of the
 * deepest (closest) ranges until the sibling table and its neighbourhood are full, then
 * k random nodes of each farther range. */
static void
fill_table(struct sim *s, const uint32_t *sorted, size_t n, size_t pos)
{
	const struct sim_node *x = &s->nodes[sorted[pos]];
	unsigned maxdepth = 0, k = s->o.p.k;
	size_t want_close = (size_t)KBR_SIBLING_FACTOR * s->o.p.s + k, added = 0;

	/* the longest common prefix is with a neighbour in sorted order */
	if (pos > 0)
		maxdepth = kbr_common_prefix(&x->ident->id, &s->nodes[sorted[pos - 1]].ident->id);
	if (pos + 1 < n) {
		unsigned c = kbr_common_prefix(&x->ident->id, &s->nodes[sorted[pos + 1]].ident->id);

		if (c > maxdepth)
			maxdepth = c;
	}
	if (maxdepth >= NODEID_BITS)
		maxdepth = NODEID_BITS - 1;
	for (int depth = (int)maxdepth; depth >= 0; depth--) {
		struct nodeid lo, hi;
		size_t a, b, size;

		depth_range(&x->ident->id, (unsigned)depth, &lo, &hi);
		a = bound(s, sorted, n, &lo, false);
		b = bound(s, sorted, n, &hi, true);
		size = b - a;
		if (size == 0)
			continue;
		if (added < want_close || size <= k) {
			for (size_t j = a; j < b; j++) {
				const struct sim_node *y = &s->nodes[sorted[j]];

				(void)kbr_add_contact(x->k, s->now, &y->ident->id, &y->addr);
			}
			added += size;
			continue;
		}
		/* k distinct random members of a large range */
		uint32_t picked[KBR_MAX_K];
		unsigned np = 0;

		while (np < k) {
			uint32_t j = (uint32_t)(a + sim_rand(s) % size);
			bool dup = false;

			for (unsigned t = 0; t < np; t++)
				dup = dup || picked[t] == j;
			if (dup)
				continue;
			picked[np++] = j;
			(void)kbr_add_contact(x->k, s->now, &s->nodes[sorted[j]].ident->id,
			    &s->nodes[sorted[j]].addr);
		}
		added += k;
	}
}

int
sim_build_global(struct sim *s)
{
	uint32_t *sorted;

	for (unsigned j = 0; j < s->o.nodes; j++)
		if (sim_add_node(s) < 0)
			return -ENOMEM;
	sorted = malloc(s->n * sizeof(*sorted));
	if (sorted == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++)
		sorted[i] = i;
	sim_sort_by_id(s, sorted, s->n);
	for (size_t pos = 0; pos < s->n; pos++)
		fill_table(s, sorted, s->n, pos);
	free(sorted);
	for (uint32_t i = 0; i < s->n; i++)
		sim_touch(s, i);
	return 0;
}

/* ---- malicious nodes ---- */

void
sim_choose_malicious(struct sim *s)
{
	uint32_t want = (uint32_t)(s->o.malicious * s->n + 0.5), *perm;

	free(s->malicious_sorted);
	s->malicious_sorted = NULL;
	s->nmalicious = 0;
	if (want == 0 || s->o.attack == ATTACK_NONE || sim_attack_is_dht(s->o.attack))
		return;	/* the DHT attacks' liars are chosen later, among a key's replicas */
	perm = malloc(s->n * sizeof(*perm));
	if (perm == NULL)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		perm[i] = i;
	for (uint32_t i = 0; i < want && i < s->n; i++) {
		uint32_t j = i + (uint32_t)(sim_rand(s) % (s->n - i)), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
		s->nodes[perm[i]].malicious = true;
	}
	s->nmalicious = want;
	sim_sort_by_id(s, perm, want);
	s->malicious_sorted = perm;
}
