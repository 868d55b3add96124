/* The DHT workload, run between the build and the lookups when --puts is given:
 *
 *   puts    --puts names "name-<j>", each put by a random honest node that owns it (its
 *           identity signs), one every --lookup-interval; under --attack stale every name
 *           is put twice, all the seq 1 records first, then all the seq 2 ones
 *   churn   with --churn, round(R * N) replacements spread over --churn-span, then
 *           --settle-after-churn of simulated time for replica maintenance
 *   liars   under a DHT attack, --liars of the r nodes closest to every key (by global
 *           knowledge, the name's owner excepted) lie about it from now on (attack.c)
 *   gets    --gets gets of random put names from random honest nodes; a get succeeds when
 *           the DHT finds a record and it is byte for byte the latest put of the name
 *
 * and, at the end of the run, the census: how many live honest nodes hold the latest record
 * of every name (a liar counts for the names it does not lie about). Every operation records
 * its outcome in an array that lives until sim_free, so that callbacks that come after their
 * phase (bounded by a grace period) are harmless. */
#include "tools/sim/sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	PHASE_GRACE_MS = 120 * 1000,	/* a phase ends this long after its last start */
	RECORD_TTL_MS = 24 * 3600 * 1000,	/* longer than any simulation */
	RECORD_KIND = 16,		/* TXT */
	FORGED_SEQ = 3,			/* above any seq the owner put */
};

static const char forged_value[] = "forged";

struct put_op {
	struct sim *s;
	uint32_t name;
	uint8_t seq;
	bool done, ok;
};

/* How a get ended. */
enum get_outcome {
	GET_NONE = 0,		/* did not start, did not finish, or no replica answered */
	GET_OK,			/* the latest record of the name, and only it */
	GET_WRONG,		/* an owner won with another record: the attack won */
	GET_CONFLICT,		/* no majority */
	GET_EMPTY,		/* a majority answered nothing */
};

struct get_op {
	struct sim *s;
	uint32_t name, source;
	uint64_t started_at, ms;
	bool done;
	uint8_t outcome;	/* enum get_outcome */
};

struct sim_dht_ops {
	struct put_op *puts;		/* o.puts a round; rounds of them */
	struct get_op *gets;		/* o.gets */
	unsigned puts_pending, gets_pending;
	bool tallied;			/* the gets' outcomes have been counted */
};

/* ---- records ---- */

static void
record_base(struct dht_record *r, const struct nodeid *key, uint64_t seq, uint64_t expiry,
    const uint8_t *owner)
{
	memset(r, 0, sizeof(*r));
	r->key = *key;
	r->kind = RECORD_KIND;
	r->id = 0;
	r->seq = seq;
	r->expiry = expiry;
	memcpy(r->owner, owner, ID_PUBKEY_LEN);
}

/* Name j's value for seq: a few bytes, different for every (name, seq). */
static void
record_value(struct dht_record *r, uint32_t j, unsigned seq)
{
	int n = snprintf((char *)r->value, sizeof(r->value), "v%u.%u", seq, (unsigned)j);

	r->value_len = (uint16_t)(n > 0 ? n : 0);
}

void
sim_name_record(const struct sim *s, uint32_t j, unsigned seq, struct dht_record *out)
{
	const struct sim_name *nm = &s->names[j];

	record_base(out, &nm->key, seq, nm->expiry, s->nodes[nm->owner].ident->pub);
	record_value(out, j, seq);
	memcpy(out->sig, nm->sig[seq - 1], ID_SIG_LEN);
}

static void
forged_base(const struct sim *s, const struct sim_liar *l, struct dht_record *out)
{
	record_base(out, &l->key, FORGED_SEQ, s->names[l->name].expiry,
	    s->nodes[l->node].ident->pub);
	memcpy(out->value, forged_value, sizeof(forged_value) - 1);
	out->value_len = sizeof(forged_value) - 1;
}

void
sim_forged_record(const struct sim *s, const struct sim_liar *l, struct dht_record *out)
{
	forged_base(s, l, out);
	memcpy(out->sig, l->forged_sig, ID_SIG_LEN);
}

/* ---- liars ---- */

static int
liar_cmp_key(const struct sim_liar *l, uint32_t node, const struct nodeid *key)
{
	if (l->node != node)
		return l->node < node ? -1 : 1;
	return nodeid_cmp(&l->key, key);
}

static int
liar_cmp(const void *a, const void *b)
{
	const struct sim_liar *y = b;

	return liar_cmp_key(a, y->node, &y->key);
}

const struct sim_liar *
sim_liar_find(const struct sim *s, uint32_t i, const struct nodeid *key)
{
	size_t lo = 0, hi = s->nliars;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = liar_cmp_key(&s->liars[mid], i, key);

		if (c == 0)
			return &s->liars[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* For every name: --liars of the r alive nodes closest to its key, other than its owner,
 * chosen at random, lie about it from now on. */
static int
choose_liars(struct sim *s)
{
	uint32_t *sorted, n = 0, idx[DHT_MAX_R + 1];
	unsigned r = s->o.dp.r;

	if (s->o.liars == 0)
		return 0;
	sorted = malloc(s->n * sizeof(*sorted));
	s->liars = calloc((size_t)s->nnames * s->o.liars, sizeof(*s->liars));
	if (sorted == NULL || s->liars == NULL) {
		free(sorted);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->n; i++)
		if (s->nodes[i].alive)
			sorted[n++] = i;
	sim_sort_by_id(s, sorted, n);
	for (uint32_t j = 0; j < s->nnames; j++) {
		unsigned got = sim_closest_of(s, sorted, n, &s->names[j].key, UINT32_MAX, idx,
		    r), m = 0;

		/* the owner does not lie about its own name */
		for (unsigned t = 0; t < got; t++)
			if (idx[t] != s->names[j].owner)
				idx[m++] = idx[t];
		for (unsigned t = 0; t < s->o.liars && t < m; t++) {
			unsigned u = t + (unsigned)(sim_rand(s) % (m - t));
			uint32_t x = idx[u];
			struct sim_liar *l = &s->liars[s->nliars++];

			idx[u] = idx[t];
			idx[t] = x;
			l->node = x;
			l->name = j;
			l->key = s->names[j].key;
			s->nodes[x].liar = true;
			if (s->o.attack == ATTACK_FORGE) {
				struct dht_record rec;

				forged_base(s, l, &rec);
				if (dht_record_sign(&rec, s->nodes[x].ident) != 0) {
					free(sorted);
					return -EIO;
				}
				memcpy(l->forged_sig, rec.sig, ID_SIG_LEN);
			}
		}
	}
	free(sorted);
	qsort(s->liars, s->nliars, sizeof(*s->liars), liar_cmp);
	return 0;
}

/* ---- puts ---- */

static void
put_done(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	struct put_op *op = arg;

	(void)stored;
	(void)asked;
	(void)refused;
	if (op->done)
		return;
	op->done = true;
	op->ok = status == 0;
	op->s->dops->puts_pending--;
}

static void
start_put(struct sim *s, uintptr_t arg)
{
	struct put_op *op = (struct put_op *)arg;
	struct sim_name *nm = &s->names[op->name];
	struct dht_record rec;
	int64_t via;

	op->done = true;	/* unless it starts */
	if (op->seq == 1) {
		/* a new name, owned by the node that puts it */
		via = sim_random_honest(s);
		if (via < 0)
			return;
		nm->owner = (uint32_t)via;
		nm->expiry = s->now + RECORD_TTL_MS;
	} else {
		/* its owner updates it (through another node if the owner left) */
		via = s->nodes[nm->owner].alive ? (int64_t)nm->owner : sim_random_honest(s);
		if (via < 0 || nm->nseq == 0)
			return;
	}
	record_base(&rec, &nm->key, op->seq, nm->expiry, s->nodes[nm->owner].ident->pub);
	record_value(&rec, op->name, op->seq);
	if (dht_record_sign(&rec, s->nodes[nm->owner].ident) != 0)
		return;
	memcpy(nm->sig[op->seq - 1], rec.sig, ID_SIG_LEN);
	nm->nseq = op->seq;
	op->done = false;
	s->dops->puts_pending++;	/* before the put: the callback may run at once */
	if (dht_put(s->nodes[via].dht, s->now, &rec, put_done, op) != 0) {
		op->done = true;
		s->dops->puts_pending--;
		return;
	}
	sim_touch(s, (uint32_t)via);
}

/* Runs the phase that starts the n operations start(arg_j) one every --lookup-interval,
 * then waits (bounded) until *pending is 0. */
static void
run_phase(struct sim *s, void (*start)(struct sim *, uintptr_t), uintptr_t first,
    size_t size, unsigned n, const unsigned *pending)
{
	uint64_t iv = s->o.lookup_interval_ms, begin = s->now, span = (uint64_t)n * iv;

	for (unsigned j = 0; j < n; j++)
		sim_at(s, begin + j * iv, start, first + j * size);
	sim_run_until(s, begin + span);
	for (uint64_t t = s->now; *pending > 0 && t < begin + span + PHASE_GRACE_MS; t += 1000)
		sim_run_until(s, t + 1000);
}

/* ---- gets ---- */

static void
get_done(void *arg, int status, const struct dht_vote_result *res)
{
	struct get_op *op = arg;
	struct sim *s = op->s;
	struct dht_record latest;

	if (op->done)
		return;
	op->done = true;
	s->dops->gets_pending--;
	if (s->dops->tallied)
		return;		/* too late: the phase is over */
	op->ms = s->now - op->started_at;
	if (status != 0 || res == NULL)
		return;
	switch (res->status) {
	case DHT_VOTE_FOUND:
		op->outcome = GET_WRONG;
		if (res->nrecords != 1 || s->names[op->name].nseq == 0)
			break;
		sim_name_record(s, op->name, s->names[op->name].nseq, &latest);
		if (dht_record_equal(&res->records[0], &latest))
			op->outcome = GET_OK;
		break;
	case DHT_VOTE_CONFLICT:
		op->outcome = GET_CONFLICT;
		break;
	case DHT_VOTE_EMPTY:
		op->outcome = GET_EMPTY;
		break;
	default:
		break;
	}
}

static void
start_get(struct sim *s, uintptr_t arg)
{
	struct get_op *op = (struct get_op *)arg;
	int64_t src = sim_random_honest(s);

	op->done = true;	/* unless it starts */
	op->name = (uint32_t)(sim_rand(s) % s->nnames);
	if (src < 0)
		return;
	op->source = (uint32_t)src;
	op->started_at = s->now;
	op->done = false;
	s->dops->gets_pending++;	/* before the get: the callback may run at once */
	if (dht_get(s->nodes[src].dht, s->now, &s->names[op->name].key, get_done, op) != 0) {
		op->done = true;
		s->dops->gets_pending--;
		return;
	}
	sim_touch(s, (uint32_t)src);
}

/* ---- the phases ---- */

int
sim_run_dht(struct sim *s)
{
	struct sim_dht_ops *d;
	unsigned rounds = s->o.attack == ATTACK_STALE ? 2 : 1, P = s->o.puts, G = s->o.gets;
	unsigned churns = (unsigned)(s->o.churn * s->o.nodes + 0.5);
	uint64_t dgrams, get_ms = 0;

	if (P == 0)
		return 0;
	d = calloc(1, sizeof(*d));
	s->dops = d;
	s->names = calloc(P, sizeof(*s->names));
	if (d == NULL || s->names == NULL)
		return -ENOMEM;
	d->puts = calloc((size_t)P * rounds, sizeof(*d->puts));
	d->gets = calloc(G ? G : 1, sizeof(*d->gets));
	if (d->puts == NULL || d->gets == NULL)
		return -ENOMEM;
	s->nnames = P;
	for (uint32_t j = 0; j < P; j++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "name-%u", (unsigned)j);

		if (nodeid_sha1(&s->names[j].key, name, (size_t)n) != 0)
			return -EIO;
	}
	s->attacking = true;	/* the KBR attacks (closer, drop, garbage) start now */

	/* puts, a round per seq */
	for (unsigned seq = 1; seq <= rounds; seq++) {
		struct put_op *ops = &d->puts[(size_t)(seq - 1) * P];

		for (unsigned j = 0; j < P; j++) {
			ops[j].s = s;
			ops[j].name = j;
			ops[j].seq = (uint8_t)seq;
		}
		run_phase(s, start_put, (uintptr_t)ops, sizeof(*ops), P, &d->puts_pending);
	}
	s->r.puts = P * rounds;
	for (size_t j = 0; j < (size_t)P * rounds; j++)
		s->r.puts_ok += d->puts[j].ok;

	/* churn, then time for maintenance */
	if (churns > 0) {
		uint64_t begin = s->now, span = s->o.churn_span_ms;

		for (unsigned j = 0; j < churns; j++)
			sim_at(s, begin + span * j / churns, sim_churn_step, 0);
		sim_run_until(s, begin + span);
		sim_run_until(s, s->now + s->o.settle_after_churn_ms);
	}

	if (sim_attack_is_dht(s->o.attack) && choose_liars(s) != 0)
		return -ENOMEM;

	/* gets */
	if (G == 0)
		return 0;
	for (unsigned j = 0; j < G; j++)
		d->gets[j].s = s;
	dgrams = s->r.datagrams;
	run_phase(s, start_get, (uintptr_t)d->gets, sizeof(*d->gets), G, &d->gets_pending);
	s->r.gets = G;
	d->tallied = true;
	for (unsigned j = 0; j < G; j++) {
		switch (d->gets[j].outcome) {
		case GET_OK:
			s->r.gets_ok++;
			get_ms += d->gets[j].ms;
			break;
		case GET_WRONG:
			s->r.gets_wrong++;
			break;
		case GET_CONFLICT:
			s->r.gets_conflict++;
			break;
		case GET_EMPTY:
			s->r.gets_empty++;
			break;
		default:
			break;
		}
	}
	if (s->r.gets_ok > 0)
		s->r.mean_get_ms = (double)get_ms / s->r.gets_ok;
	{
		uint32_t *ms = malloc((s->r.gets_ok ? s->r.gets_ok : 1) * sizeof(*ms));
		unsigned n = 0;

		for (unsigned j = 0; ms != NULL && j < G; j++)
			if (d->gets[j].outcome == GET_OK && n < s->r.gets_ok)
				ms[n++] = (uint32_t)d->gets[j].ms;
		s->r.median_get_ms = sim_percentile(ms, n, 50);
		s->r.p99_get_ms = sim_percentile(ms, n, 99);
		free(ms);
	}
	s->r.msgs_per_get = (double)(s->r.datagrams - dgrams) / G;
	return 0;
}

/* ---- the census ---- */

static const struct sim *census_sim;

static int
cmp_name_key(const void *a, const void *b)
{
	return nodeid_cmp(&census_sim->names[*(const uint32_t *)a].key,
	    &census_sim->names[*(const uint32_t *)b].key);
}

struct census {
	const struct sim *s;
	uint32_t node;			/* the node being counted */
	const uint32_t *by_key;		/* name indices sorted by key */
	uint32_t *holders;		/* per name */
};

static int
census_fn(void *arg, const struct dht_record *r)
{
	struct census *c = arg;
	const struct sim *s = c->s;
	size_t lo = 0, hi = s->nnames;
	struct dht_record latest;

	if (r->expiry <= s->now)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (nodeid_cmp(&s->names[c->by_key[mid]].key, &r->key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nnames || !nodeid_eq(&s->names[c->by_key[lo]].key, &r->key))
		return 0;
	if (s->names[c->by_key[lo]].nseq == 0 || (s->nodes[c->node].liar &&
	    sim_liar_find(s, c->node, &r->key) != NULL))
		return 0;	/* not put; or held by a node that lies about it */
	sim_name_record(s, c->by_key[lo], s->names[c->by_key[lo]].nseq, &latest);
	if (dht_record_equal(r, &latest))
		c->holders[c->by_key[lo]]++;
	return 0;
}

void
sim_census(struct sim *s)
{
	struct census c;
	uint32_t *by_key;
	uint64_t sum = 0;
	unsigned live = 0;
	int min = -1;

	if (s->nnames == 0)
		return;
	by_key = malloc(s->nnames * sizeof(*by_key));
	c.holders = calloc(s->nnames, sizeof(*c.holders));
	if (by_key == NULL || c.holders == NULL) {
		free(by_key);
		free(c.holders);
		return;
	}
	for (uint32_t j = 0; j < s->nnames; j++)
		by_key[j] = j;
	census_sim = s;
	qsort(by_key, s->nnames, sizeof(*by_key), cmp_name_key);
	census_sim = NULL;
	c.s = s;
	c.by_key = by_key;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_node *nd = &s->nodes[i];

		c.node = i;
		if (nd->alive && !nd->malicious)
			(void)dht_replica_foreach(nd->rep, census_fn, &c);
	}
	for (uint32_t j = 0; j < s->nnames; j++) {
		if (s->names[j].nseq == 0 || s->names[j].expiry <= s->now)
			continue;
		live++;
		sum += c.holders[j];
		if (min < 0 || c.holders[j] < (unsigned)min)
			min = (int)c.holders[j];
	}
	if (live > 0) {
		s->r.replicas_min = min;
		s->r.replicas_mean = (double)sum / live;
	}
	free(by_key);
	free(c.holders);
}

void
sim_dht_free(struct sim *s)
{
	if (s->dops != NULL) {
		free(s->dops->puts);
		free(s->dops->gets);
		free(s->dops);
		s->dops = NULL;
	}
	free(s->names);
	s->names = NULL;
	s->nnames = 0;
	free(s->liars);
	s->liars = NULL;
	s->nliars = 0;
}
