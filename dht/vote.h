/* Deciding a get from the answers of several replicas (DHT section of the design): every
 * replica that answered votes for the owner of the records it returned (or for "nobody" when
 * it returned none); the owner backed by a strict majority of the answers wins, a tie or no
 * majority is a conflict. Among the winner's records the highest seq per (kind, id) wins;
 * records that do not verify, or whose key is not the key asked for, are ignored (and a
 * replica that returned only such records votes for nobody, as does one whose valid records
 * have more than one owner: it is lying). Replicas that answered without the winning record
 * of some slot (missing or older) should get it pushed back: read repair.
 * Pure computation: no time but the `now` given, no I/O. */
#ifndef P2PNS_DHT_VOTE_H
#define P2PNS_DHT_VOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"

enum {
	DHT_VOTE_MAX_ANSWERS = 16,	/* replicas asked in one get */
	DHT_VOTE_MAX_RECORDS = 64,	/* winning records kept (slots) */
};

/* What one replica answered. */
struct dht_vote_answer {
	const struct dht_record *records;
	size_t n;
};

enum dht_vote_status {
	DHT_VOTE_FOUND = 0,		/* an owner won; records[] holds its live slots */
	DHT_VOTE_EMPTY,			/* a strict majority answered nothing (valid) */
	DHT_VOTE_CONFLICT,		/* no strict majority: tie or split */
	DHT_VOTE_NO_ANSWER,		/* nobody answered */
};

struct dht_vote_result {
	enum dht_vote_status status;
	uint8_t owner[ID_PUBKEY_LEN];	/* DHT_VOTE_FOUND */
	unsigned votes_for_owner, answers;	/* the winner's votes (for nobody if EMPTY) */
	/* the winning record of each slot, tombstones included (the caller hides them), sorted
	 * by (kind, id), the lowest slots kept; at equal seq the larger signature wins */
	struct dht_record records[DHT_VOTE_MAX_RECORDS];
	size_t nrecords;
	/* repair[i]: answer i lacks (or has an older copy of) at least one winning record */
	bool repair[DHT_VOTE_MAX_ANSWERS];
};

/* Decides from n answers (n <= DHT_VOTE_MAX_ANSWERS) for key at time now. Returns 0 or
 * -EINVAL (too many answers, NULL arguments). */
int dht_vote(const struct nodeid *key, uint64_t now, const struct dht_vote_answer *answers,
    size_t n, struct dht_vote_result *out);
/* The same, where signatures_checked[i] says that every record of answer i has a valid
 * signature already (the caller checked each as it arrived, or took it from its own
 * store, which checks what it accepts): only form and time are checked for those. */
int dht_vote_checked(const struct nodeid *key, uint64_t now,
    const struct dht_vote_answer *answers, size_t n, const bool *signatures_checked,
    struct dht_vote_result *out);

#endif
