/* Iterative S/Kademlia lookups over d disjoint paths: per-path candidate lists sorted by
 * distance, one lookup-wide set of claimed node IDs, and the choice of whom to ask next. */
#include "kbr/lookup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum cand_state {
	CAND_NEW = 0,
	CAND_IN_FLIGHT,
	CAND_ANSWERED,
	CAND_FAILED,
	CAND_SLOW,		/* had its soft timeout: the path does not end without it */
	CAND_STRAY,		/* had it, and is not waited for; a late answer still counts */
};

/* One path: its candidates, closest to the target first, each claimed by this path. */
struct lookup_path {
	struct kbr_contact cand[KBR_LOOKUP_MAX_CANDIDATES];
	uint8_t state[KBR_LOOKUP_MAX_CANDIDATES];	/* enum cand_state */
	uint8_t moved[KBR_LOOKUP_MAX_CANDIDATES];	/* re-asked at another address once */
	uint8_t hops[KBR_LOOKUP_MAX_CANDIDATES];	/* steps from the initial contacts */
	unsigned n;
	unsigned in_flight;
};

enum {
	LOOKUP_MAX_ALT = 8,		/* other addresses remembered for nodes in flight */
};

/* A node in flight that another node reported at a different address (it may have moved:
 * the ID/locator split). If the RPC fails, the owning path asks it once more there. */
struct alt_addr {
	struct nodeid id;
	struct kbr_addr addr;
};

struct kbr_lookup {
	struct nodeid target;
	struct nodeid self;
	bool has_self;
	unsigned k, s, d, alpha;
	unsigned want;			/* results the caller needs (1..s) */
	unsigned window;		/* closest candidates a path waits for: want / d, rounded up */
	unsigned turn;			/* path kbr_lookup_next serves first */
	struct kbr_lookup_stats st;
	/* IDs on any path's list, sorted by nodeid_cmp. Every claimed ID is on exactly one
	 * list, so there are at most d * KBR_LOOKUP_MAX_CANDIDATES of them. */
	struct nodeid *claimed;
	size_t nclaimed, maxclaimed;
	struct alt_addr alt[LOOKUP_MAX_ALT];
	unsigned nalt;
	struct lookup_path path[];
};

static bool
params_ok(const struct kbr_params *p)
{
	return p->k >= 1 && p->k <= KBR_MAX_K && p->s >= 1 && p->s <= KBR_MAX_S &&
	    p->d >= 1 && p->d <= KBR_MAX_D && p->alpha >= 1 && p->alpha <= KBR_MAX_ALPHA;
}

static bool
is_self(const struct kbr_lookup *l, const struct nodeid *id)
{
	return l->has_self && nodeid_eq(&l->self, id);
}

/* Index in the claimed set where id is or would go. */
static size_t
claim_pos(const struct kbr_lookup *l, const struct nodeid *id, bool *found)
{
	size_t lo = 0, hi = l->nclaimed;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = nodeid_cmp(&l->claimed[mid], id);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
claimed(const struct kbr_lookup *l, const struct nodeid *id)
{
	bool found;

	(void)claim_pos(l, id, &found);
	return found;
}

static int
claim_add(struct kbr_lookup *l, const struct nodeid *id)
{
	bool found;
	size_t i = claim_pos(l, id, &found);

	if (found)
		return -EEXIST;
	if (l->nclaimed == l->maxclaimed)
		return -ENOSPC;
	memmove(&l->claimed[i + 1], &l->claimed[i], (l->nclaimed - i) * sizeof(l->claimed[0]));
	l->claimed[i] = *id;
	l->nclaimed++;
	return 0;
}

static void
claim_del(struct kbr_lookup *l, const struct nodeid *id)
{
	bool found;
	size_t i = claim_pos(l, id, &found);

	if (!found)
		return;
	memmove(&l->claimed[i], &l->claimed[i + 1], (l->nclaimed - i - 1) * sizeof(l->claimed[0]));
	l->nclaimed--;
}

/* Index of the first candidate on p that is not closer to the target than id. */
static unsigned
path_pos(const struct kbr_lookup *l, const struct lookup_path *p, const struct nodeid *id)
{
	unsigned lo = 0, hi = p->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (kbr_distance_cmp(&l->target, &p->cand[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
path_find(const struct kbr_lookup *l, const struct lookup_path *p, const struct nodeid *id)
{
	unsigned i = path_pos(l, p, id);

	if (i < p->n && nodeid_eq(&p->cand[i].id, id))
		return (int)i;
	return -1;
}

static void
path_remove(struct lookup_path *p, unsigned i)
{
	memmove(&p->cand[i], &p->cand[i + 1], (p->n - i - 1) * sizeof(p->cand[0]));
	memmove(&p->state[i], &p->state[i + 1], (p->n - i - 1) * sizeof(p->state[0]));
	memmove(&p->moved[i], &p->moved[i + 1], (p->n - i - 1) * sizeof(p->moved[0]));
	memmove(&p->hops[i], &p->hops[i + 1], (p->n - i - 1) * sizeof(p->hops[0]));
	p->n--;
}

/* Gives a failed candidate a second chance at another address, once. */
static void
readdress(struct lookup_path *p, unsigned i, const struct kbr_addr *addr)
{
	p->cand[i].addr = *addr;
	p->state[i] = CAND_NEW;
	p->moved[i] = 1;
}

/* A reply named an already claimed node at addr. If it failed at another address, the
 * path that owns it asks it there (once); if it is in flight, remember addr for when it
 * fails. The same path asks again, so no node is queried by two paths. */
static void
other_address(struct kbr_lookup *l, const struct kbr_contact *c)
{
	for (unsigned q = 0; q < l->d; q++) {
		struct lookup_path *p = &l->path[q];
		int i = path_find(l, p, &c->id);

		if (i < 0)
			continue;
		if (p->moved[i] || kbr_addr_eq(&p->cand[i].addr, &c->addr))
			return;
		if (p->state[i] == CAND_FAILED) {
			readdress(p, (unsigned)i, &c->addr);
		} else if (p->state[i] == CAND_IN_FLIGHT && l->nalt < LOOKUP_MAX_ALT) {
			for (unsigned a = 0; a < l->nalt; a++)
				if (nodeid_eq(&l->alt[a].id, &c->id))
					return;
			l->alt[l->nalt].id = c->id;
			l->alt[l->nalt].addr = c->addr;
			l->nalt++;
		}
		return;
	}
}

/* Adds c, which no path has claimed, as a NEW candidate of p. A full path makes room by
 * dropping its farthest NEW candidate if that is farther than c (the dropped node is
 * released); queried candidates are never dropped, so no node is ever queried twice. */
static void
path_add(struct kbr_lookup *l, struct lookup_path *p, const struct kbr_contact *c,
    unsigned hops)
{
	unsigned i = path_pos(l, p, &c->id), j;

	if (p->n == KBR_LOOKUP_MAX_CANDIDATES) {
		for (j = p->n; j > i && p->state[j - 1] != CAND_NEW; j--)
			;
		if (j == i)
			return;
		claim_del(l, &p->cand[j - 1].id);
		path_remove(p, j - 1);
	}
	if (claim_add(l, &c->id) != 0)
		return;
	memmove(&p->cand[i + 1], &p->cand[i], (p->n - i) * sizeof(p->cand[0]));
	memmove(&p->state[i + 1], &p->state[i], (p->n - i) * sizeof(p->state[0]));
	memmove(&p->moved[i + 1], &p->moved[i], (p->n - i) * sizeof(p->moved[0]));
	memmove(&p->hops[i + 1], &p->hops[i], (p->n - i) * sizeof(p->hops[0]));
	p->cand[i] = *c;
	p->state[i] = CAND_NEW;
	p->moved[i] = 0;
	p->hops[i] = (uint8_t)(hops < UINT8_MAX ? hops : UINT8_MAX);
	p->n++;
}

/* Looks at the window (the closest candidates of p that neither failed nor are slow):
 * returns the index of the closest NEW one (or -1) and tells whether any of them, or a slow
 * candidate closer than the window's end, is in flight. The path has ended when neither is
 * the case. */
static int
path_window(const struct lookup_path *p, unsigned window, bool *busy)
{
	unsigned seen = 0;
	int next = -1;

	*busy = false;
	for (unsigned i = 0; i < p->n && seen < window; i++) {
		if (p->state[i] == CAND_FAILED || p->state[i] == CAND_STRAY)
			continue;
		if (p->state[i] == CAND_SLOW) {
			/* not waited for to ask the next (it is not counted), but closer than
			 * the window's end: the path does not end while it may still answer */
			*busy = true;
			continue;
		}
		seen++;
		if (p->state[i] == CAND_NEW && next < 0)
			next = (int)i;
		else if (p->state[i] == CAND_IN_FLIGHT)
			*busy = true;
	}
	return next;
}

static bool
counted(uint8_t state)
{
	return state != CAND_FAILED && state != CAND_SLOW && state != CAND_STRAY;
}

/* Each path's window: its own, or more where the want closest candidates of the whole
 * lookup (neither failed nor slow) reach further into it, so that the merged result holds
 * them all (a node claimed by one path is never asked by another). */
static void
windows(const struct kbr_lookup *l, unsigned *w)
{
	unsigned pos[KBR_MAX_D] = {0}, g[KBR_MAX_D] = {0};

	for (unsigned taken = 0; taken < l->want; taken++) {
		int best = -1;

		for (unsigned pi = 0; pi < l->d; pi++) {
			const struct lookup_path *p = &l->path[pi];

			while (pos[pi] < p->n && !counted(p->state[pos[pi]]))
				pos[pi]++;
			if (pos[pi] < p->n && (best < 0 || kbr_distance_cmp(&l->target,
			    &p->cand[pos[pi]].id, &l->path[best].cand[pos[best]].id) < 0))
				best = (int)pi;
		}
		if (best < 0)
			break;
		g[best]++;
		pos[best]++;
	}
	for (unsigned pi = 0; pi < l->d; pi++)
		w[pi] = g[pi] > l->window ? g[pi] : l->window;
}

/* Inserts c into out (closest first, at most max entries), dropping the farthest. */
static void
best_add(const struct nodeid *target, struct kbr_contact *out, size_t *n, size_t max,
    const struct kbr_contact *c)
{
	size_t i = *n;

	while (i > 0 && kbr_distance_cmp(target, &c->id, &out[i - 1].id) < 0)
		i--;
	if (i > 0 && nodeid_eq(&out[i - 1].id, &c->id))
		return;		/* duplicate */
	if (i == max)
		return;
	if (*n == max)
		(*n)--;
	memmove(&out[i + 1], &out[i], (*n - i) * sizeof(out[0]));
	out[i] = *c;
	(*n)++;
}

struct kbr_lookup *
kbr_lookup_new(const struct nodeid *target, const struct kbr_params *p,
    const struct nodeid *self, const struct kbr_contact *initial, size_t n)
{
	struct kbr_contact best[KBR_MAX_K];
	struct kbr_lookup *l;
	size_t nbest = 0;

	if (target == NULL || p == NULL || !params_ok(p) || (initial == NULL && n > 0))
		return NULL;
	l = calloc(1, sizeof(*l) + p->d * sizeof(l->path[0]));
	if (l == NULL)
		return NULL;
	l->maxclaimed = (size_t)p->d * KBR_LOOKUP_MAX_CANDIDATES;
	l->claimed = calloc(l->maxclaimed, sizeof(l->claimed[0]));
	if (l->claimed == NULL) {
		free(l);
		return NULL;
	}
	l->target = *target;
	if (self != NULL) {
		l->self = *self;
		l->has_self = true;
	}
	l->k = p->k;
	l->s = p->s;
	l->d = p->d;
	l->alpha = p->alpha;
	(void)kbr_lookup_want(l, p->s);

	for (size_t i = 0; i < n; i++)
		if (!is_self(l, &initial[i].id))
			best_add(target, best, &nbest, l->k, &initial[i]);
	for (size_t i = 0; i < nbest; i++)
		path_add(l, &l->path[i % l->d], &best[i], 1);
	return l;
}

int
kbr_lookup_want(struct kbr_lookup *l, unsigned want)
{
	if (l == NULL || want < 1 || want > l->s)
		return -EINVAL;
	l->want = want;
	/* want / d rounded up, at most k (Kademlia's own end: the k closest answered), but at
	 * least alpha + 1: a path always has a candidate beyond those it asks in parallel, to
	 * route around a liar */
	l->window = (want + l->d - 1) / l->d;
	if (l->window > l->k)
		l->window = l->k;
	if (l->window < l->alpha + 1)
		l->window = l->alpha + 1;
	return 0;
}

int
kbr_lookup_window(struct kbr_lookup *l, unsigned window)
{
	if (l == NULL || window < 1 || window > KBR_LOOKUP_MAX_CANDIDATES)
		return -EINVAL;
	l->window = window;
	return 0;
}

void
kbr_lookup_free(struct kbr_lookup *l)
{
	if (l == NULL)
		return;
	free(l->claimed);
	free(l);
}

size_t
kbr_lookup_next(struct kbr_lookup *l, struct kbr_lookup_query *out, size_t max)
{
	unsigned w[KBR_MAX_D];
	size_t got = 0;
	bool busy;

	if (l == NULL || out == NULL)
		return 0;
	windows(l, w);
	for (unsigned t = 0; t < l->d && got < max; t++) {
		unsigned pi = (l->turn + t) % l->d;
		struct lookup_path *p = &l->path[pi];
		int i;

		while (got < max && p->in_flight < l->alpha &&
		    (i = path_window(p, w[pi], &busy)) >= 0) {
			p->state[i] = CAND_IN_FLIGHT;
			p->in_flight++;
			l->st.queries++;
			out[got].path = pi;
			out[got].contact = p->cand[i];
			got++;
		}
	}
	l->turn = (l->turn + 1) % l->d;
	return got;
}

/* The candidate id asked on path and not yet answered (in flight or slow), or -1. */
static int
in_flight_at(const struct kbr_lookup *l, unsigned path, const struct nodeid *id)
{
	int i;

	if (path >= l->d)
		return -1;
	i = path_find(l, &l->path[path], id);
	if (i < 0 || (l->path[path].state[i] != CAND_IN_FLIGHT &&
	    l->path[path].state[i] != CAND_SLOW && l->path[path].state[i] != CAND_STRAY))
		return -1;
	return i;
}

/* Leaves the in-flight state: the path may ask another candidate in its place. */
static void
leave_flight(struct lookup_path *p, unsigned i, uint8_t state)
{
	if (p->state[i] == CAND_IN_FLIGHT)
		p->in_flight--;
	p->state[i] = state;
}

int
kbr_lookup_reply(struct kbr_lookup *l, unsigned path, const struct nodeid *id,
    const struct kbr_contact *contacts, size_t n)
{
	struct lookup_path *p;
	unsigned hops;
	int i;

	if (l == NULL || id == NULL || (contacts == NULL && n > 0))
		return -EINVAL;
	i = in_flight_at(l, path, id);
	if (i < 0)
		return -ENOENT;
	p = &l->path[path];
	leave_flight(p, (unsigned)i, CAND_ANSWERED);
	l->st.replies++;
	hops = p->hops[i] + 1u;		/* i moves as candidates are added below */
	for (size_t j = 0; j < n; j++) {
		const struct kbr_contact *c = &contacts[j];

		if (is_self(l, &c->id))
			continue;
		if (!claimed(l, &c->id))
			path_add(l, p, c, hops);
		else
			other_address(l, c);
	}
	return 0;
}

int
kbr_lookup_answered_from(struct kbr_lookup *l, unsigned path, const struct nodeid *id,
    const struct kbr_addr *addr)
{
	int i;

	if (l == NULL || id == NULL || addr == NULL)
		return -EINVAL;
	i = in_flight_at(l, path, id);
	if (i < 0)
		return -ENOENT;
	l->path[path].cand[i].addr = *addr;
	return 0;
}

int
kbr_lookup_failed(struct kbr_lookup *l, unsigned path, const struct nodeid *id)
{
	struct lookup_path *p;
	int i;

	if (l == NULL || id == NULL)
		return -EINVAL;
	i = in_flight_at(l, path, id);
	if (i < 0)
		return -ENOENT;
	p = &l->path[path];
	leave_flight(p, (unsigned)i, CAND_FAILED);
	l->st.failures++;
	for (unsigned a = 0; a < l->nalt; a++) {
		if (!nodeid_eq(&l->alt[a].id, id))
			continue;
		if (!p->moved[i])
			readdress(p, (unsigned)i, &l->alt[a].addr);
		l->alt[a] = l->alt[--l->nalt];
		break;
	}
	return 0;
}

int
kbr_lookup_slow(struct kbr_lookup *l, unsigned path, const struct nodeid *id, bool wait)
{
	int i;

	if (l == NULL || id == NULL)
		return -EINVAL;
	i = in_flight_at(l, path, id);
	if (i < 0 || l->path[path].state[i] != CAND_IN_FLIGHT)
		return -ENOENT;
	/* the node looked for itself is never given up before its retries */
	if (nodeid_eq(id, &l->target))
		wait = true;
	leave_flight(&l->path[path], (unsigned)i, wait ? CAND_SLOW : CAND_STRAY);
	l->st.slow++;
	return 0;
}

/* True when the node whose ID is the target answered. */
static bool
target_answered(const struct kbr_lookup *l)
{
	for (unsigned pi = 0; pi < l->d; pi++) {
		const struct lookup_path *p = &l->path[pi];

		if (p->n > 0 && nodeid_eq(&p->cand[0].id, &l->target) &&
		    p->state[0] == CAND_ANSWERED)
			return true;
	}
	return false;
}

bool
kbr_lookup_done(const struct kbr_lookup *l)
{
	unsigned w[KBR_MAX_D];
	bool busy;

	if (l->want == 1 && target_answered(l))
		return true;
	windows(l, w);
	for (unsigned i = 0; i < l->d; i++)
		if (path_window(&l->path[i], w[i], &busy) >= 0 || busy)
			return false;
	return true;
}

size_t
kbr_lookup_result(const struct kbr_lookup *l, struct kbr_contact *out, size_t max)
{
	size_t lim = max < l->s ? max : l->s, n = 0;

	if (out == NULL || lim == 0)
		return 0;
	for (unsigned pi = 0; pi < l->d; pi++) {
		const struct lookup_path *p = &l->path[pi];

		for (unsigned i = 0; i < p->n; i++) {
			if (p->state[i] != CAND_ANSWERED)
				continue;
			if (n == lim && kbr_distance_cmp(&l->target, &p->cand[i].id,
			    &out[n - 1].id) >= 0)
				break;
			best_add(&l->target, out, &n, lim, &p->cand[i]);
		}
	}
	return n;
}

void
kbr_lookup_stats(const struct kbr_lookup *l, struct kbr_lookup_stats *st)
{
	const struct nodeid *best = NULL;

	*st = l->st;
	st->hops = 0;
	for (unsigned pi = 0; pi < l->d; pi++) {
		const struct lookup_path *p = &l->path[pi];

		/* candidates are sorted: the first answered one is the path's closest */
		for (unsigned i = 0; i < p->n; i++) {
			if (p->state[i] != CAND_ANSWERED)
				continue;
			if (best == NULL || kbr_distance_cmp(&l->target, &p->cand[i].id, best) < 0) {
				best = &p->cand[i].id;
				st->hops = p->hops[i];
			}
			break;
		}
	}
}

const struct nodeid *
kbr_lookup_target(const struct kbr_lookup *l)
{
	return &l->target;
}
