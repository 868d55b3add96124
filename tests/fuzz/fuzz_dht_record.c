/* libFuzzer target: DHT records (decode, encode, verify, replica rules, vote, stream) and every
 * dht/msg.h body decoder on the whole input. Layout in tests/fuzz/common.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dht/msg.h"
#include "dht/replica.h"
#include "dht/store.h"
#include "dht/vote.h"
#include "tests/fuzz/common.h"

enum {
	MAX_ITEMS = 16,
	STORE_MAX = 24,			/* small, so that a full store is reachable */
	LIM_PER_KEY = 4,
	LIM_OWNER = 6,
	LIM_RATE = 2,			/* STOREs per second from one source */
	VOTE_SPLIT = 3,			/* answers made of the input's records */
	DAY_MS = 24 * 3600 * 1000,
};

static const uint64_t waits[4] = {0, 1000, 3600 * 1000, 8ULL * DAY_MS};

struct ctx {
	uint64_t now;
	struct dht_store *store;
	struct dht_replica *rep;
	struct dht_record *recs;	/* the records decoded, after any re-signing */
	size_t nrecs;
	struct dht_record *before, *after;	/* a key's records around a STORE */
};

/* ---- message bodies ---- */

static void
check_bodies(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(KBR_MAX_APP_BODY);
	struct dht_store_msg s;
	struct dht_store_answer a;
	struct dht_find_msg f;
	struct dht_value_msg v;

	FUZZ_CHECK(out != NULL);
	if (dht_msg_store_decode(&s, data, size) == 0) {
		FUZZ_CHECK(s.len > 0 && s.offset + s.len <= s.total && s.total <= DHT_REC_MAX);
		FUZZ_CHECK(dht_msg_store_encode(&s, out, KBR_MAX_APP_BODY) == (int)size);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	if (dht_msg_store_answer_decode(&a, data, size) == 0) {
		FUZZ_CHECK(dht_msg_store_answer_encode(&a, out, KBR_MAX_APP_BODY) == (int)size);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	if (dht_msg_find_decode(&f, data, size) == 0) {
		FUZZ_CHECK(dht_msg_find_encode(&f, out, KBR_MAX_APP_BODY) == (int)size);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	if (dht_msg_value_decode(&v, data, size) == 0) {
		FUZZ_CHECK((uint64_t)v.offset + v.len <= v.total && v.total <= DHT_STREAM_MAX);
		FUZZ_CHECK(dht_msg_value_encode(&v, out, KBR_MAX_APP_BODY) == (int)size);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	free(out);
}

/* The whole input as a VALUE stream: what parses is built again into the same bytes. */
static void
check_stream(const uint8_t *data, size_t size)
{
	struct dht_record *recs = calloc(DHT_MAX_PER_KEY, sizeof(*recs));
	uint8_t *out = malloc(size ? size : 1);
	int n;

	FUZZ_CHECK(recs != NULL && out != NULL);
	n = dht_stream_parse(data, size, recs, DHT_MAX_PER_KEY);
	FUZZ_CHECK(n == -EBADMSG || (n >= 0 && n <= DHT_MAX_PER_KEY));
	if (n >= 0) {
		FUZZ_CHECK(dht_stream_build(recs, (size_t)n, out, size) == (long)size);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
		FUZZ_CHECK(dht_stream_version(out, size) == dht_stream_version(data, size));
	}
	free(out);
	free(recs);
}

/* ---- the replica ---- */

static int
find(struct ctx *c, const struct nodeid *key, struct dht_record *out)
{
	int n = dht_replica_find(c->rep, c->now, key, out, DHT_MAX_PER_KEY);

	FUZZ_CHECK(n >= 0 && n <= LIM_PER_KEY);
	return n;
}

struct owner_count {
	const uint8_t *pub;
	uint64_t now;
	size_t live;
};

static int
count_owner(void *arg, const struct dht_record *r)
{
	struct owner_count *oc = arg;

	if (r->expiry > oc->now && memcmp(r->owner, oc->pub, ID_PUBKEY_LEN) == 0)
		oc->live++;
	return 0;
}

/* What the replica holds for r's key and owner after a STORE of r answered why. */
static void
check_replica(struct ctx *c, const struct dht_record *r, enum dht_reason why, int nbefore,
    size_t count_before)
{
	struct owner_count oc = {.pub = r->owner, .now = c->now};
	int n = find(c, &r->key, c->after);
	bool held = false;

	/* live records under one key have one owner: the first binds the key */
	for (int i = 1; i < n; i++)
		FUZZ_CHECK(memcmp(c->after[i].owner, c->after[0].owner, ID_PUBKEY_LEN) == 0);
	for (int i = 0; i < n; i++)
		held = held || dht_record_equal(&c->after[i], r);
	if (why == DHT_OK) {
		FUZZ_CHECK(held);
	} else {
		/* a refused STORE changes nothing */
		FUZZ_CHECK(dht_replica_count(c->rep) == count_before && n == nbefore);
		for (int i = 0; i < n; i++)
			FUZZ_CHECK(dht_record_equal(&c->after[i], &c->before[i]));
	}
	FUZZ_CHECK(dht_replica_foreach(c->rep, count_owner, &oc) == 0);
	FUZZ_CHECK(oc.live <= LIM_OWNER);
}

static int
none_expired(void *arg, const struct dht_record *r)
{
	FUZZ_CHECK(r->expiry > *(const uint64_t *)arg);
	return 0;
}

static void
item(struct ctx *c, uint8_t ctrl, const uint8_t *enc, size_t len)
{
	struct dht_record *r = &c->recs[c->nrecs];
	uint8_t *out;
	enum dht_reason why, st;
	struct nodeid source;
	size_t count_before;
	int err, nbefore;

	c->now += waits[(ctrl & REC_CTRL_WAIT_MASK) >> REC_CTRL_WAIT_SHIFT];
	if (ctrl & REC_CTRL_EXPIRE) {
		FUZZ_CHECK(dht_replica_expire(c->rep, c->now) >= 0);
		FUZZ_CHECK(dht_replica_foreach(c->rep, none_expired, &c->now) == 0);
	}
	err = dht_record_decode(r, enc, len);
	FUZZ_CHECK(err == 0 || err == -EBADMSG);
	if (err != 0)
		return;
	out = malloc(DHT_REC_MAX);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(dht_record_size(r) == len);
	FUZZ_CHECK(dht_record_encode(r, out, DHT_REC_MAX) == (int)len);
	FUZZ_CHECK(memcmp(out, enc, len) == 0);
	free(out);

	if (ctrl & REC_CTRL_RELATIVE)
		r->expiry = c->now + r->expiry % (8ULL * DAY_MS) - DAY_MS;
	if (ctrl & REC_CTRL_RESIGN) {
		const struct identity *o = fuzz_owner(r->owner[0]);

		memcpy(r->owner, o->pub, ID_PUBKEY_LEN);
		FUZZ_CHECK(dht_record_sign(r, o) == 0);
	}
	why = dht_record_verify(r, c->now);
	if (ctrl & REC_CTRL_RESIGN)
		FUZZ_CHECK(why == DHT_OK || why == DHT_ERR_EXPIRED || why == DHT_ERR_TTL);
	c->nrecs++;

	if (ctrl & REC_CTRL_DROP) {
		err = dht_replica_drop(c->rep, r);
		FUZZ_CHECK(err == 0 || err == -ENOENT);
		nbefore = find(c, &r->key, c->after);
		for (int i = 0; i < nbefore; i++)
			FUZZ_CHECK(!dht_record_same_slot(&c->after[i], r));
		return;
	}
	memset(&source, ctrl & REC_CTRL_SOURCE, sizeof(source));
	nbefore = find(c, &r->key, c->before);
	count_before = dht_replica_count(c->rep);
	st = dht_replica_store(c->rep, c->now, ctrl & REC_CTRL_SOURCE ? &source : NULL, r);
	FUZZ_CHECK(st <= DHT_ERR_INTERNAL);
	/* the record's own faults come first, after the source's rate */
	FUZZ_CHECK(st == why || st == DHT_ERR_RATE || why == DHT_OK);
	FUZZ_CHECK(st != DHT_ERR_RATE || (ctrl & REC_CTRL_SOURCE));
	FUZZ_CHECK(st == DHT_OK || dht_replica_refused(c->rep, st) > 0);
	check_replica(c, r, st, nbefore, count_before);
}

/* ---- the vote ---- */

static bool
slot_before(const struct dht_record *a, const struct dht_record *b)
{
	return a->kind < b->kind || (a->kind == b->kind && a->id < b->id);
}

static void
check_result(const struct ctx *c, const struct nodeid *key, const struct dht_vote_answer *ans,
    size_t n, const struct dht_vote_result *res)
{
	FUZZ_CHECK(res->answers == n);
	if (res->status == DHT_VOTE_FOUND || res->status == DHT_VOTE_EMPTY)
		FUZZ_CHECK(2 * res->votes_for_owner > n);
	if (res->status != DHT_VOTE_FOUND) {
		FUZZ_CHECK(res->nrecords == 0);
		return;
	}
	FUZZ_CHECK(res->nrecords >= 1 && res->nrecords <= DHT_VOTE_MAX_RECORDS);
	for (size_t i = 0; i < res->nrecords; i++) {
		const struct dht_record *r = &res->records[i];

		FUZZ_CHECK(nodeid_eq(&r->key, key));
		FUZZ_CHECK(memcmp(r->owner, res->owner, ID_PUBKEY_LEN) == 0);
		FUZZ_CHECK(dht_record_verify(r, c->now) == DHT_OK);
		FUZZ_CHECK(i == 0 || slot_before(&res->records[i - 1], r));
	}
	/* an answer that needs no repair holds every winning record */
	for (size_t a = 0; a < n; a++) {
		if (res->repair[a])
			continue;
		for (size_t i = 0; i < res->nrecords; i++) {
			bool held = false;

			for (size_t j = 0; j < ans[a].n; j++)
				held = held || dht_record_equal(&ans[a].records[j], &res->records[i]);
			FUZZ_CHECK(held);
		}
	}
}

/* Votes over what the replica holds and the input's records split in VOTE_SPLIT answers,
 * then again with the answers in reverse order: the outcome must not depend on it. */
static void
vote(struct ctx *c)
{
	struct dht_vote_answer ans[1 + VOTE_SPLIT], rev[1 + VOTE_SPLIT];
	struct dht_record *split = calloc(MAX_ITEMS, sizeof(*split));
	struct dht_vote_result *res = malloc(sizeof(*res)), *res2 = malloc(sizeof(*res2));
	struct nodeid key;
	size_t n = 0, used = 0;

	FUZZ_CHECK(split != NULL && res != NULL && res2 != NULL);
	if (c->nrecs > 0)
		key = c->recs[0].key;
	else
		FUZZ_CHECK(nodeid_sha1(&key, FUZZ_NAME, strlen(FUZZ_NAME)) == 0);
	ans[n].records = c->after;
	ans[n++].n = (size_t)find(c, &key, c->after);
	for (size_t s = 0; s < VOTE_SPLIT && s < c->nrecs; s++) {
		ans[n].records = split + used;
		ans[n].n = 0;
		for (size_t i = s; i < c->nrecs; i += VOTE_SPLIT)
			split[used + ans[n].n++] = c->recs[i];
		used += ans[n++].n;
	}
	FUZZ_CHECK(dht_vote(&key, c->now, ans, n, res) == 0);
	check_result(c, &key, ans, n, res);
	for (size_t i = 0; i < n; i++)
		rev[i] = ans[n - 1 - i];
	FUZZ_CHECK(dht_vote(&key, c->now, rev, n, res2) == 0);
	FUZZ_CHECK(res2->status == res->status && res2->nrecords == res->nrecords);
	FUZZ_CHECK(res2->votes_for_owner == res->votes_for_owner);
	for (size_t i = 0; i < res->nrecords; i++)
		FUZZ_CHECK(dht_record_equal(&res->records[i], &res2->records[i]));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(res->repair[i] == res2->repair[n - 1 - i]);
	free(res2);
	free(res);
	free(split);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dht_replica_limits lim = {
		.max_per_key = LIM_PER_KEY, .owner_quota = LIM_OWNER, .source_rate = LIM_RATE,
	};
	struct ctx c;
	size_t off = 0;

	check_bodies(data, size);
	check_stream(data, size);

	memset(&c, 0, sizeof(c));
	c.now = FUZZ_T0;
	c.store = dht_store_mem_new(STORE_MAX);
	FUZZ_CHECK(c.store != NULL);
	c.rep = dht_replica_new(c.store, &lim);
	c.recs = calloc(MAX_ITEMS, sizeof(*c.recs));
	c.before = calloc(DHT_MAX_PER_KEY, sizeof(*c.before));
	c.after = calloc(DHT_MAX_PER_KEY, sizeof(*c.after));
	FUZZ_CHECK(c.rep != NULL && c.recs != NULL && c.before != NULL && c.after != NULL);
	for (unsigned n = 0; n < MAX_ITEMS && size - off >= REC_ITEM_HDR; n++) {
		uint8_t ctrl = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		uint8_t *enc;

		off += REC_ITEM_HDR;
		if (len > size - off)
			len = size - off;
		/* exactly len bytes, so that reading past the record is caught */
		enc = malloc(len ? len : 1);
		FUZZ_CHECK(enc != NULL);
		memcpy(enc, data + off, len);
		off += len;
		item(&c, ctrl, enc, len);
		free(enc);
	}
	vote(&c);

	free(c.after);
	free(c.before);
	free(c.recs);
	dht_replica_free(c.rep);
	c.store->ops->close(c.store);
	return 0;
}
