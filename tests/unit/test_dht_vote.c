/* Tests for dht/vote.c: majorities, ties and splits, stale, withholding and forging replicas,
 * records that do not count, slots combined across answers, read repair, answer order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dht/vote.h"

#define NOW 1767225600000ULL	/* 2026-01-01T00:00:00Z in ms */
#define HOUR (3600 * 1000ULL)

enum {
	PER_ANSWER = 8,			/* records one answer of the fixture holds */
	MANY = DHT_VOTE_MAX_RECORDS + 6,	/* slots of the overflow test */
	SHUFFLES = 200,
};

static struct identity *alice;		/* the owner: seed 00 01 02 ... 1f */
static struct identity *bob;		/* a forger: seed aa aa ... */
static struct identity *carol;		/* another forger: seed 5c 5c ... */
static struct nodeid key;		/* SHA-1("sip:alice@example.org") */
static struct nodeid other_key;		/* SHA-1("sip:bob@example.org") */

/* The answers of one test and the result of the vote over them. */
struct world {
	struct dht_record rec[DHT_VOTE_MAX_ANSWERS][PER_ANSWER];
	size_t nrec[DHT_VOTE_MAX_ANSWERS];
	struct dht_vote_answer ans[DHT_VOTE_MAX_ANSWERS];
	struct dht_vote_result res;
};

static int
setup(void **state)
{
	uint8_t seed[ID_SEED_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	if (identity_from_seed(&alice, seed, 4) != 0)
		return -1;
	memset(seed, 0xaa, sizeof(seed));
	if (identity_from_seed(&bob, seed, 4) != 0)
		return -1;
	memset(seed, 0x5c, sizeof(seed));
	if (identity_from_seed(&carol, seed, 4) != 0)
		return -1;
	if (nodeid_sha1(&key, "sip:alice@example.org", 21) != 0)
		return -1;
	return nodeid_sha1(&other_key, "sip:bob@example.org", 19);
}

static int
teardown(void **state)
{
	(void)state;
	identity_free(alice);
	identity_free(bob);
	identity_free(carol);
	return 0;
}

/* The result is large: every test gets its world from the heap. */
static int
world_new(void **state)
{
	*state = calloc(1, sizeof(struct world));
	return *state == NULL ? -1 : 0;
}

static int
world_free(void **state)
{
	free(*state);
	return 0;
}

/* A record of who under k, signed; a NULL value makes a tombstone. */
static void
mk_key(struct dht_record *r, const struct identity *who, const struct nodeid *k,
    uint32_t kind, uint32_t id, uint64_t seq, const char *value)
{
	memset(r, 0, sizeof(*r));
	r->key = *k;
	r->kind = kind;
	r->id = id;
	r->seq = seq;
	r->expiry = NOW + HOUR;
	memcpy(r->owner, who->pub, ID_PUBKEY_LEN);
	if (value == NULL)
		r->flags = DHT_REC_TOMBSTONE;
	else {
		r->value_len = (uint16_t)strlen(value);
		memcpy(r->value, value, r->value_len);
	}
	assert_int_equal(dht_record_sign(r, who), 0);
	assert_int_equal(dht_record_verify(r, NOW), DHT_OK);
}

static void
mk(struct dht_record *r, const struct identity *who, uint32_t kind, uint32_t id,
    uint64_t seq, const char *value)
{
	mk_key(r, who, &key, kind, id, seq, value);
}

static void
clear(struct world *w)
{
	memset(w->nrec, 0, sizeof(w->nrec));
}

/* Appends r to answer i. */
static void
add(struct world *w, size_t i, const struct dht_record *r)
{
	assert_true(i < DHT_VOTE_MAX_ANSWERS);
	assert_true(w->nrec[i] < PER_ANSWER);
	w->rec[i][w->nrec[i]++] = *r;
}

/* Appends r to the answers from .. to - 1. */
static void
fill(struct world *w, size_t from, size_t to, const struct dht_record *r)
{
	for (size_t i = from; i < to; i++)
		add(w, i, r);
}

/* Votes over the first n answers of w (the result starts as garbage). */
static const struct dht_vote_result *
decide(struct world *w, size_t n)
{
	for (size_t i = 0; i < DHT_VOTE_MAX_ANSWERS; i++) {
		w->ans[i].records = w->rec[i];
		w->ans[i].n = w->nrec[i];
	}
	memset(&w->res, 0xa5, sizeof(w->res));
	assert_int_equal(dht_vote(&key, NOW, w->ans, n, &w->res), 0);
	assert_int_equal(w->res.answers, n);
	return &w->res;
}

/* want[i] is '1' where answer i should be repaired; the flags past it are all false. */
static void
assert_repair(const struct dht_vote_result *res, const char *want)
{
	size_t n = strlen(want);

	for (size_t i = 0; i < DHT_VOTE_MAX_ANSWERS; i++) {
		bool expect = i < n && want[i] == '1';

		if (res->repair[i] != expect)
			fail_msg("repair[%zu] is %d, want %d (%s)", i, res->repair[i], expect,
			    want);
	}
}

static void
assert_found(const struct dht_vote_result *res, const struct identity *who, unsigned votes,
    size_t nrecords)
{
	assert_int_equal(res->status, DHT_VOTE_FOUND);
	assert_memory_equal(res->owner, who->pub, ID_PUBKEY_LEN);
	assert_int_equal(res->votes_for_owner, votes);
	assert_int_equal(res->nrecords, nrecords);
}

/* Nothing won: no owner, no record, no repair. */
static void
assert_no_winner(const struct dht_vote_result *res, enum dht_vote_status status,
    unsigned votes)
{
	static const uint8_t zero[ID_PUBKEY_LEN];

	assert_int_equal(res->status, status);
	assert_int_equal(res->votes_for_owner, votes);
	assert_memory_equal(res->owner, zero, ID_PUBKEY_LEN);
	assert_int_equal(res->nrecords, 0);
	assert_repair(res, "");
}

static void
assert_record(const struct dht_vote_result *res, size_t i, const struct dht_record *want)
{
	assert_true(i < res->nrecords);
	assert_true(dht_record_equal(&res->records[i], want));
	assert_int_equal(dht_record_verify(&res->records[i], NOW), DHT_OK);
}

static void
majority_of_five(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 9, "203.0.113.66");	/* the forger's own key, higher seq */

	fill(w, 0, 5, &a);
	res = decide(w, 5);
	assert_found(res, alice, 5, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "00000");

	clear(w);
	fill(w, 0, 2, &a);
	add(w, 2, &f);
	fill(w, 3, 5, &a);
	res = decide(w, 5);
	assert_found(res, alice, 4, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "00100");

	clear(w);
	add(w, 0, &f);
	fill(w, 1, 4, &a);
	add(w, 4, &f);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "10001");

	/* the vote only counts: three forgers beat two honest replicas */
	clear(w);
	fill(w, 0, 2, &a);
	fill(w, 2, 5, &f);
	res = decide(w, 5);
	assert_found(res, bob, 3, 1);
	assert_record(res, 0, &f);
	assert_repair(res, "11000");
}

static void
majority_of_four(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");

	fill(w, 0, 3, &a);
	add(w, 3, &f);
	res = decide(w, 4);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "0001");

	clear(w);
	fill(w, 0, 2, &a);
	fill(w, 2, 4, &f);
	assert_no_winner(decide(w, 4), DHT_VOTE_CONFLICT, 0);
}

static void
majority_of_three_and_one(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f, bad;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");

	add(w, 0, &a);
	add(w, 1, &f);
	add(w, 2, &a);
	res = decide(w, 3);
	assert_found(res, alice, 2, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "010");

	/* a single answer is a majority of one */
	clear(w);
	add(w, 0, &a);
	res = decide(w, 1);
	assert_found(res, alice, 1, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "0");

	clear(w);
	assert_no_winner(decide(w, 1), DHT_VOTE_EMPTY, 1);

	bad = a;
	bad.value[0] ^= 1;
	add(w, 0, &bad);
	assert_no_winner(decide(w, 1), DHT_VOTE_EMPTY, 1);
}

static void
tie_is_conflict(void **state)
{
	struct world *w = *state;
	struct dht_record a, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");

	add(w, 0, &a);
	add(w, 1, &f);
	assert_no_winner(decide(w, 2), DHT_VOTE_CONFLICT, 0);

	/* owner against forger, owner against withholders */
	clear(w);
	add(w, 0, &f);
	fill(w, 1, 3, &a);
	add(w, 3, &f);
	assert_no_winner(decide(w, 4), DHT_VOTE_CONFLICT, 0);
	clear(w);
	fill(w, 0, 2, &a);
	assert_no_winner(decide(w, 4), DHT_VOTE_CONFLICT, 0);

	/* half is not a majority, however many answered */
	clear(w);
	fill(w, 0, 3, &a);
	fill(w, 3, 6, &f);
	assert_no_winner(decide(w, 6), DHT_VOTE_CONFLICT, 0);
	clear(w);
	fill(w, 0, DHT_VOTE_MAX_ANSWERS / 2, &a);
	assert_no_winner(decide(w, DHT_VOTE_MAX_ANSWERS), DHT_VOTE_CONFLICT, 0);
}

static void
split_without_majority(void **state)
{
	struct world *w = *state;
	struct dht_record a, f, g;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");
	mk(&g, carol, 1, 0, 5, "198.51.100.7");

	/* 2-2-1: alice, bob, nobody */
	fill(w, 0, 2, &a);
	fill(w, 2, 4, &f);
	assert_no_winner(decide(w, 5), DHT_VOTE_CONFLICT, 0);

	/* 2-1-1-1: alice, bob, carol, nobody */
	clear(w);
	add(w, 0, &f);
	add(w, 1, &a);
	add(w, 3, &g);
	add(w, 4, &a);
	assert_no_winner(decide(w, 5), DHT_VOTE_CONFLICT, 0);

	/* 3-2-1 of six */
	clear(w);
	fill(w, 0, 3, &a);
	fill(w, 3, 5, &g);
	assert_no_winner(decide(w, 6), DHT_VOTE_CONFLICT, 0);

	/* every replica for someone else */
	clear(w);
	add(w, 0, &a);
	add(w, 1, &f);
	add(w, 2, &g);
	assert_no_winner(decide(w, 4), DHT_VOTE_CONFLICT, 0);
}

static void
majority_of_empty_answers(void **state)
{
	struct world *w = *state;
	struct dht_record a, f, bad;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");

	add(w, 1, &a);
	add(w, 3, &a);
	assert_no_winner(decide(w, 5), DHT_VOTE_EMPTY, 3);

	clear(w);
	add(w, 2, &f);
	assert_no_winner(decide(w, 5), DHT_VOTE_EMPTY, 4);

	/* an answer of records that do not count is a vote for nobody */
	clear(w);
	bad = a;
	bad.seq++;			/* the signature no longer matches */
	add(w, 0, &a);
	add(w, 1, &bad);
	add(w, 3, &a);
	assert_no_winner(decide(w, 5), DHT_VOTE_EMPTY, 3);
}

static void
stale_replicas_repaired(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record old, cur;

	mk(&old, alice, 1, 0, 3, "192.0.2.1");
	mk(&cur, alice, 1, 0, 5, "192.0.2.2");

	/* the up-to-date copies are the minority, yet the highest seq wins */
	add(w, 0, &cur);
	add(w, 1, &old);
	add(w, 2, &cur);
	add(w, 3, &old);
	add(w, 4, &old);
	res = decide(w, 5);
	assert_found(res, alice, 5, 1);
	assert_record(res, 0, &cur);
	assert_repair(res, "01011");

	/* a replica that also still holds the old copy has the new one: no repair */
	add(w, 1, &cur);
	res = decide(w, 5);
	assert_found(res, alice, 5, 1);
	assert_record(res, 0, &cur);
	assert_repair(res, "00011");
}

static void
withholding_replicas_repaired(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");

	add(w, 0, &a);
	add(w, 2, &a);
	add(w, 4, &a);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "01010");

	clear(w);
	fill(w, 3, 7, &a);
	res = decide(w, 7);
	assert_found(res, alice, 4, 1);
	assert_repair(res, "1110000");
}

static void
forged_records_outvoted(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f, claim;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 99, "203.0.113.66");
	/* claims alice as its owner, but bob signed it */
	claim = a;
	claim.seq = 100;
	memcpy(claim.value, "203.0.113.66", 12);
	claim.value_len = 12;
	memcpy(claim.owner, bob->pub, ID_PUBKEY_LEN);
	assert_int_equal(dht_record_sign(&claim, bob), 0);
	memcpy(claim.owner, alice->pub, ID_PUBKEY_LEN);
	assert_int_equal(dht_record_verify(&claim, NOW), DHT_ERR_SIGNATURE);

	add(w, 0, &f);
	add(w, 1, &a);
	add(w, 2, &claim);
	add(w, 3, &a);
	add(w, 4, &a);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "10100");

	/* the forged claim next to alice's record does not count either */
	add(w, 1, &claim);
	add(w, 3, &claim);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "10100");
}

static void
invalid_records_ignored(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, elsewhere, broken, expired;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	/* newer, but for another key */
	mk_key(&elsewhere, alice, &other_key, 1, 0, 8, "192.0.2.8");
	/* newer, but the signature is broken */
	mk(&broken, alice, 1, 0, 9, "192.0.2.9");
	broken.sig[0] ^= 0x80;
	/* newer, but expired */
	mk(&expired, alice, 1, 0, 10, "192.0.2.10");
	expired.expiry = NOW;
	assert_int_equal(dht_record_sign(&expired, alice), 0);

	add(w, 0, &elsewhere);
	add(w, 0, &broken);
	add(w, 0, &a);
	add(w, 0, &expired);
	add(w, 1, &a);
	add(w, 2, &a);
	add(w, 2, &broken);
	res = decide(w, 3);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "000");

	/* answers of nothing but such records vote for nobody */
	clear(w);
	add(w, 0, &elsewhere);
	add(w, 1, &broken);
	add(w, 1, &expired);
	add(w, 2, &a);
	assert_no_winner(decide(w, 3), DHT_VOTE_EMPTY, 2);

	/* and they are repaired when the owner wins */
	add(w, 3, &a);
	add(w, 4, &a);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "11000");
}

static void
mixed_owners_invalid(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 28, 0, 5, "2001:db8::66");

	/* two honest answers, two that mix alice's record with bob's: no majority */
	add(w, 0, &a);
	add(w, 1, &a);
	add(w, 1, &f);
	add(w, 2, &a);
	add(w, 3, &f);
	add(w, 3, &a);
	assert_no_winner(decide(w, 4), DHT_VOTE_CONFLICT, 0);

	/* three liars are a majority for nobody */
	clear(w);
	add(w, 0, &a);
	add(w, 0, &f);
	add(w, 1, &a);
	add(w, 2, &f);
	add(w, 2, &a);
	add(w, 3, &a);
	add(w, 4, &a);
	add(w, 4, &f);
	assert_no_winner(decide(w, 5), DHT_VOTE_EMPTY, 3);

	/* outvoted liars: bob's record never reaches the result */
	clear(w);
	add(w, 0, &a);
	add(w, 0, &f);
	fill(w, 1, 4, &a);
	add(w, 4, &f);
	add(w, 4, &a);
	res = decide(w, 5);
	assert_found(res, alice, 3, 1);
	assert_record(res, 0, &a);
	/* they do hold alice's record byte for byte */
	assert_repair(res, "00000");
}

static void
tombstones_win(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, t, old_t;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&t, alice, 1, 0, 7, NULL);
	mk(&old_t, alice, 1, 0, 4, NULL);

	add(w, 0, &a);
	add(w, 1, &t);
	add(w, 2, &a);
	add(w, 3, &a);
	add(w, 4, &t);
	res = decide(w, 5);
	assert_found(res, alice, 5, 1);
	assert_record(res, 0, &t);
	assert_true(res->records[0].flags & DHT_REC_TOMBSTONE);
	assert_int_equal(res->records[0].value_len, 0);
	assert_repair(res, "10110");

	/* an older tombstone does not */
	clear(w);
	fill(w, 0, 3, &old_t);
	add(w, 3, &a);
	res = decide(w, 4);
	assert_found(res, alice, 4, 1);
	assert_record(res, 0, &a);
	assert_repair(res, "1110");
}

static void
slots_combined(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, a_new, aaaa, srv1, srv2, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&a_new, alice, 1, 0, 6, "192.0.2.2");
	mk(&aaaa, alice, 28, 0, 2, "2001:db8::1");
	mk(&srv1, alice, 33, 1, 1, "0 0 5060 sip1.example.org");
	mk(&srv2, alice, 33, 2, 1, "0 0 5060 sip2.example.org");
	mk(&f, bob, 1, 0, 50, "203.0.113.66");

	add(w, 0, &srv1);
	add(w, 0, &a);
	add(w, 1, &aaaa);
	add(w, 1, &a_new);
	add(w, 2, &srv2);		/* the one replica with every winner */
	add(w, 2, &srv1);
	add(w, 2, &aaaa);
	add(w, 2, &a_new);
	add(w, 3, &a);
	add(w, 4, &f);
	res = decide(w, 5);
	assert_found(res, alice, 4, 4);
	assert_record(res, 0, &a_new);
	assert_record(res, 1, &aaaa);
	assert_record(res, 2, &srv1);
	assert_record(res, 3, &srv2);
	assert_repair(res, "11011");

	/* no replica has them all: every winner is still found, every replica repaired */
	w->nrec[2] = 1;
	res = decide(w, 5);
	assert_found(res, alice, 4, 4);
	assert_record(res, 0, &a_new);
	assert_record(res, 1, &aaaa);
	assert_record(res, 2, &srv1);
	assert_record(res, 3, &srv2);
	assert_repair(res, "11111");
}

/* Two different records of one slot at the same seq: the larger signature, in any order. */
static void
equal_seq_larger_signature(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record x, y, *big, *small;

	mk(&x, alice, 1, 0, 5, "192.0.2.1");
	mk(&y, alice, 1, 0, 5, "192.0.2.2");
	assert_false(dht_record_equal(&x, &y));
	if (memcmp(x.sig, y.sig, ID_SIG_LEN) > 0) {
		big = &x;
		small = &y;
	} else {
		big = &y;
		small = &x;
	}
	for (int order = 0; order < 2; order++) {
		clear(w);
		add(w, 0, order ? big : small);
		add(w, 1, order ? small : big);
		add(w, 2, small);
		add(w, 2, big);
		res = decide(w, 3);
		assert_found(res, alice, 3, 1);
		assert_record(res, 0, big);
		assert_repair(res, order ? "010" : "100");
	}
}

static void
too_many_slots(void **state)
{
	struct world *w = *state;
	struct dht_record *many;
	struct dht_vote_answer ans[3];
	struct dht_vote_result *res = &w->res;

	many = calloc(2 * MANY, sizeof(*many));
	assert_non_null(many);
	/* answer 0 in ascending (kind, id), answer 1 the same records in descending order */
	for (size_t i = 0; i < MANY; i++) {
		mk(&many[i], alice, 1 + (uint32_t)(i / 10), (uint32_t)(i % 10), 3,
		    "192.0.2.1");
		many[2 * MANY - 1 - i] = many[i];
	}
	ans[0].records = many;
	ans[0].n = MANY;
	ans[1].records = many + MANY;
	ans[1].n = MANY;
	/* answer 2 has only the slots that do not fit */
	ans[2].records = many + DHT_VOTE_MAX_RECORDS;
	ans[2].n = MANY - DHT_VOTE_MAX_RECORDS;
	/* the lowest slots are kept, whatever the order of the records and of the answers */
	for (size_t n = 1; n <= 3; n++) {
		assert_int_equal(dht_vote(&key, NOW, ans, n, res), 0);
		assert_found(res, alice, (unsigned)n, DHT_VOTE_MAX_RECORDS);
		for (size_t i = 0; i < DHT_VOTE_MAX_RECORDS; i++)
			assert_record(res, i, &many[i]);
		assert_repair(res, n < 3 ? "00" : "001");
	}
	ans[0] = ans[1];
	ans[1].records = many;
	for (size_t n = 1; n <= 2; n++) {
		assert_int_equal(dht_vote(&key, NOW, ans, n, res), 0);
		assert_found(res, alice, (unsigned)n, DHT_VOTE_MAX_RECORDS);
		for (size_t i = 0; i < DHT_VOTE_MAX_RECORDS; i++)
			assert_record(res, i, &many[i]);
		assert_repair(res, "00");
	}
	free(many);
}

/* One answer of each sort: with the answers in any order the result is the same. */
static void
shuffled_order_same_result(void **state)
{
	struct world *w = *state;
	struct dht_vote_result *ref;
	struct dht_vote_answer ans[DHT_VOTE_MAX_ANSWERS];
	struct dht_record a, a_new, dirty, x, y, aaaa, t, f, broken;
	size_t perm[DHT_VOTE_MAX_ANSWERS], n = 11;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;

	ref = malloc(sizeof(*ref));
	assert_non_null(ref);
	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&a_new, alice, 1, 0, 6, "192.0.2.2");
	mk(&x, alice, 33, 7, 2, "0 0 5060 sip1.example.org");	/* same slot and seq */
	mk(&y, alice, 33, 7, 2, "0 0 5060 sip2.example.org");
	mk(&aaaa, alice, 28, 0, 2, "2001:db8::1");
	mk(&t, alice, 28, 1, 9, NULL);
	mk(&f, bob, 1, 0, 50, "203.0.113.66");
	broken = a_new;
	broken.seq = 60;
	/* the same record, with bytes no field uses (nor the signature covers) set */
	dirty = a_new;
	memset(dirty.value + dirty.value_len, 0x77, DHT_MAX_VALUE - dirty.value_len);
	memset(dirty.secret_hash, 0x77, NODEID_LEN);
	assert_true(dht_record_equal(&dirty, &a_new));
	assert_int_equal(dht_record_verify(&dirty, NOW), DHT_OK);

	add(w, 0, &a);			/* stale */
	add(w, 0, &x);
	add(w, 1, &dirty);
	add(w, 1, &y);
	add(w, 2, &aaaa);
	add(w, 2, &t);
	add(w, 2, &a);
	add(w, 3, &x);
	add(w, 3, &y);
	add(w, 3, &a_new);
	add(w, 3, &aaaa);
	add(w, 3, &t);
	add(w, 4, &f);			/* forger */
	add(w, 5, &f);			/* liar */
	add(w, 5, &a_new);
	add(w, 6, &broken);		/* nothing valid */
	/* 7: withholding */
	add(w, 8, &t);
	add(w, 8, &broken);
	add(w, 9, &y);
	add(w, 9, &x);
	add(w, 10, &a);
	(void)decide(w, n);
	*ref = w->res;
	assert_found(ref, alice, 7, 4);
	assert_record(ref, 0, &a_new);
	assert_record(ref, 1, &aaaa);
	assert_record(ref, 2, &t);
	assert_record(ref, 3, memcmp(x.sig, y.sig, ID_SIG_LEN) > 0 ? &x : &y);
	assert_repair(ref, "11101111111");
	for (size_t i = 0; i < ref->nrecords; i++) {
		const struct dht_record *r = &ref->records[i];
		static const uint8_t zero[DHT_MAX_VALUE];

		assert_memory_equal(r->value + r->value_len, zero,
		    DHT_MAX_VALUE - r->value_len);
		assert_memory_equal(r->secret_hash, zero, NODEID_LEN);
	}

	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (int round = 0; round < SHUFFLES; round++) {
		for (size_t i = n; i > 1; i--) {
			size_t j, tmp;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			j = (size_t)(rng % i);
			tmp = perm[i - 1];
			perm[i - 1] = perm[j];
			perm[j] = tmp;
		}
		for (size_t i = 0; i < n; i++) {
			ans[i].records = w->rec[perm[i]];
			ans[i].n = w->nrec[perm[i]];
		}
		memset(&w->res, 0x5a, sizeof(w->res));
		assert_int_equal(dht_vote(&key, NOW, ans, n, &w->res), 0);
		assert_int_equal(w->res.status, ref->status);
		assert_memory_equal(w->res.owner, ref->owner, ID_PUBKEY_LEN);
		assert_int_equal(w->res.votes_for_owner, ref->votes_for_owner);
		assert_int_equal(w->res.answers, ref->answers);
		assert_int_equal(w->res.nrecords, ref->nrecords);
		/* the same bytes, including those no field uses */
		for (size_t i = 0; i < ref->nrecords; i++) {
			const struct dht_record *got = &w->res.records[i];

			assert_true(dht_record_equal(got, &ref->records[i]));
			assert_memory_equal(got->value, ref->records[i].value, DHT_MAX_VALUE);
			assert_memory_equal(got->secret_hash, ref->records[i].secret_hash,
			    NODEID_LEN);
		}
		for (size_t i = 0; i < DHT_VOTE_MAX_ANSWERS; i++)
			assert_int_equal(w->res.repair[i],
			    i < n ? ref->repair[perm[i]] : false);
	}
	free(ref);
}

static void
bad_arguments(void **state)
{
	struct world *w = *state;
	const struct dht_vote_result *res;
	struct dht_record a, f;

	mk(&a, alice, 1, 0, 5, "192.0.2.1");
	mk(&f, bob, 1, 0, 5, "203.0.113.66");
	for (size_t i = 0; i < DHT_VOTE_MAX_ANSWERS; i++) {
		w->ans[i].records = w->rec[i];
		w->ans[i].n = 0;
	}
	assert_int_equal(dht_vote(&key, NOW, w->ans, DHT_VOTE_MAX_ANSWERS + 1, &w->res),
	    -EINVAL);
	assert_int_equal(w->res.status, DHT_VOTE_NO_ANSWER);
	assert_int_equal(w->res.nrecords, 0);
	assert_int_equal(dht_vote(&key, NOW, w->ans, SIZE_MAX, &w->res), -EINVAL);
	assert_int_equal(dht_vote(NULL, NOW, w->ans, 1, &w->res), -EINVAL);
	assert_int_equal(dht_vote(&key, NOW, w->ans, 1, NULL), -EINVAL);
	assert_int_equal(dht_vote(&key, NOW, NULL, 1, &w->res), -EINVAL);
	w->ans[1].records = NULL;
	w->ans[1].n = 1;
	assert_int_equal(dht_vote(&key, NOW, w->ans, 2, &w->res), -EINVAL);

	/* no answer at all; an answer of no records may have none */
	memset(&w->res, 0xa5, sizeof(w->res));
	assert_int_equal(dht_vote(&key, NOW, NULL, 0, &w->res), 0);
	assert_no_winner(&w->res, DHT_VOTE_NO_ANSWER, 0);
	assert_int_equal(w->res.answers, 0);
	w->ans[1].n = 0;
	assert_int_equal(dht_vote(&key, NOW, w->ans, 2, &w->res), 0);
	assert_no_winner(&w->res, DHT_VOTE_EMPTY, 2);

	/* the most answers allowed */
	fill(w, 0, DHT_VOTE_MAX_ANSWERS / 2 + 1, &a);
	fill(w, DHT_VOTE_MAX_ANSWERS / 2 + 1, DHT_VOTE_MAX_ANSWERS, &f);
	res = decide(w, DHT_VOTE_MAX_ANSWERS);
	assert_found(res, alice, DHT_VOTE_MAX_ANSWERS / 2 + 1, 1);
	assert_repair(res, "0000000001111111");
}

#define T(f) cmocka_unit_test_setup_teardown(f, world_new, world_free)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(majority_of_five),
		T(majority_of_four),
		T(majority_of_three_and_one),
		T(tie_is_conflict),
		T(split_without_majority),
		T(majority_of_empty_answers),
		T(stale_replicas_repaired),
		T(withholding_replicas_repaired),
		T(forged_records_outvoted),
		T(invalid_records_ignored),
		T(mixed_owners_invalid),
		T(tombstones_win),
		T(slots_combined),
		T(equal_seq_larger_signature),
		T(too_many_slots),
		T(shuffled_order_same_result),
		T(bad_arguments),
	};

	return cmocka_run_group_tests_name("dht/vote", tests, setup, teardown);
}
