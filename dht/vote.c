/* Deciding a get by majority over the answers of several replicas (dht/vote.h): one vote per
 * answer, the highest seq per slot among the winner's records, and who needs a read repair. */
#include "dht/vote.h"

#include <errno.h>
#include <string.h>

/* One answer once its records are checked: whom it votes for and its best record of each
 * slot. Every record kept verifies, is for the key asked and has the same owner. */
struct ballot {
	const uint8_t *owner;		/* NULL: a vote for nobody */
	const struct dht_record *best[DHT_VOTE_MAX_RECORDS];	/* sorted by (kind, id) */
	size_t nbest;
};

/* Orders the slots of one owner under one key. */
static int
slot_cmp(const struct dht_record *a, const struct dht_record *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/* A total order on the records of one slot, highest seq last: at equal seq the larger
 * signature, then the larger encoding (two signatures alike over different bytes), so that
 * the pick never depends on which answer came first. Both records verify. */
static int
rec_cmp(const struct dht_record *a, const struct dht_record *b)
{
	uint8_t ea[DHT_REC_MAX], eb[DHT_REC_MAX];
	int c, na, nb;

	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	c = memcmp(a->sig, b->sig, ID_SIG_LEN);
	if (c != 0)
		return c;
	na = dht_record_encode(a, ea, sizeof(ea));
	nb = dht_record_encode(b, eb, sizeof(eb));
	if (na < 0 || nb < 0)		/* cannot happen for verified records */
		return na < nb ? -1 : na > nb;
	c = memcmp(ea, eb, (size_t)(na < nb ? na : nb));
	if (c != 0)
		return c;
	return na < nb ? -1 : na > nb;
}

/* Keeps r in best[] if it is the best of its slot so far. When every place is taken the
 * largest (kind, id) slot goes: whatever the order of the calls, best[] ends with the
 * DHT_VOTE_MAX_RECORDS lowest slots, a slot once dropped never coming back. */
static void
fold(const struct dht_record **best, size_t *nbest, const struct dht_record *r)
{
	size_t lo = 0, hi = *nbest;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = slot_cmp(best[mid], r);

		if (c == 0) {
			if (rec_cmp(r, best[mid]) > 0)
				best[mid] = r;
			return;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= DHT_VOTE_MAX_RECORDS)
		return;
	if (*nbest == DHT_VOTE_MAX_RECORDS)
		(*nbest)--;
	memmove(&best[lo + 1], &best[lo], (*nbest - lo) * sizeof(best[0]));
	best[lo] = r;
	(*nbest)++;
}

/* Records already checked in this vote: the replicas mostly answer with the same bytes,
 * and each distinct record needs its signature checked only once. */
enum { CHECKED_MAX = 64 };

struct checked {
	const struct dht_record *r[CHECKED_MAX];
	bool ok[CHECKED_MAX];
	size_t n;
};

static bool
record_ok(struct checked *c, const struct dht_record *r, uint64_t now, bool signature_checked)
{
	bool ok;

	if (signature_checked)
		return dht_record_check_time(r, now) == DHT_OK;

	for (size_t i = 0; i < c->n; i++)
		if (dht_record_equal(c->r[i], r))
			return c->ok[i];
	ok = dht_record_verify(r, now) == DHT_OK;
	if (c->n < CHECKED_MAX) {
		c->r[c->n] = r;
		c->ok[c->n++] = ok;
	}
	return ok;
}

/* Checks the records of one answer: a vote for the one owner of its valid records, or for
 * nobody when there is none or when there are several (a replica that mixes owners lies). */
static void
sift(struct ballot *b, const struct dht_vote_answer *a, const struct nodeid *key,
    uint64_t now, struct checked *c, bool signatures_checked)
{
	b->owner = NULL;
	b->nbest = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct dht_record *r = &a->records[i];

		if (!nodeid_eq(&r->key, key) || !record_ok(c, r, now, signatures_checked))
			continue;
		if (b->owner == NULL)
			b->owner = r->owner;
		else if (memcmp(b->owner, r->owner, ID_PUBKEY_LEN) != 0) {
			b->owner = NULL;
			b->nbest = 0;
			return;
		}
		fold(b->best, &b->nbest, r);
	}
}

static bool
same_vote(const struct ballot *a, const struct ballot *b)
{
	if (a->owner == NULL || b->owner == NULL)
		return a->owner == b->owner;
	return memcmp(a->owner, b->owner, ID_PUBKEY_LEN) == 0;
}

/* Whether answer a holds a byte-identical copy of r. */
static bool
holds(const struct dht_vote_answer *a, const struct dht_record *r)
{
	for (size_t i = 0; i < a->n; i++)
		if (dht_record_equal(r, &a->records[i]))
			return true;
	return false;
}

/* Copies a verified record, leaving the bytes no field uses zero. */
static void
copy_record(struct dht_record *dst, const struct dht_record *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = src->key;
	dst->kind = src->kind;
	dst->id = src->id;
	dst->seq = src->seq;
	dst->expiry = src->expiry;
	dst->flags = src->flags;
	memcpy(dst->owner, src->owner, ID_PUBKEY_LEN);
	if (src->flags & DHT_REC_SECRET)
		memcpy(dst->secret_hash, src->secret_hash, NODEID_LEN);
	dst->value_len = src->value_len;
	memcpy(dst->value, src->value, src->value_len);
	memcpy(dst->sig, src->sig, ID_SIG_LEN);
}

int
dht_vote(const struct nodeid *key, uint64_t now, const struct dht_vote_answer *answers,
    size_t n, struct dht_vote_result *out)
{
	return dht_vote_checked(key, now, answers, n, NULL, out);
}

int
dht_vote_checked(const struct nodeid *key, uint64_t now, const struct dht_vote_answer *answers,
    size_t n, const bool *signatures_checked, struct dht_vote_result *out)
{
	struct ballot ballots[DHT_VOTE_MAX_ANSWERS];
	const struct dht_record *best[DHT_VOTE_MAX_RECORDS];
	struct checked checked = {.n = 0};
	size_t nbest = 0, win = 0;
	unsigned votes = 0;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->status = DHT_VOTE_NO_ANSWER;
	if (key == NULL || n > DHT_VOTE_MAX_ANSWERS || (n > 0 && answers == NULL))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (answers[i].n > 0 && answers[i].records == NULL)
			return -EINVAL;
	out->answers = (unsigned)n;
	if (n == 0)
		return 0;

	for (size_t i = 0; i < n; i++)
		sift(&ballots[i], &answers[i], key, now, &checked,
		    signatures_checked != NULL && signatures_checked[i]);
	/* at most one candidate can have more than half of the votes */
	for (win = 0; win < n; win++) {
		votes = 0;
		for (size_t j = 0; j < n; j++)
			votes += same_vote(&ballots[win], &ballots[j]);
		if (2 * (size_t)votes > n)
			break;
	}
	if (win == n) {
		out->status = DHT_VOTE_CONFLICT;
		return 0;
	}
	out->votes_for_owner = votes;
	if (ballots[win].owner == NULL) {
		out->status = DHT_VOTE_EMPTY;
		return 0;
	}

	out->status = DHT_VOTE_FOUND;
	memcpy(out->owner, ballots[win].owner, ID_PUBKEY_LEN);
	for (size_t i = 0; i < n; i++) {
		if (!same_vote(&ballots[i], &ballots[win]))
			continue;
		for (size_t j = 0; j < ballots[i].nbest; j++)
			fold(best, &nbest, ballots[i].best[j]);
	}
	for (size_t k = 0; k < nbest; k++)
		copy_record(&out->records[k], best[k]);
	out->nrecords = nbest;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < nbest && !out->repair[i]; k++)
			out->repair[i] = !holds(&answers[i], best[k]);
	return 0;
}
