/* A fresh KBR node with a DHT per fuzz input, fed datagrams from four peers at virtual times;
 * what it sends must decode (and verify), and every operation started must end exactly once. */
#include "tests/fuzz/node.h"

#include <stdlib.h>
#include <string.h>

#include "dht/dht.h"
#include "dht/store.h"
#include "kbr/kbr.h"
#include "kbr/wire.h"
#include "tests/fuzz/common.h"

enum {
	NODE_MAX_FRAMES = 64,		/* datagrams one input may send */
	DRAIN_STEP_MS = 500,
	DRAIN_MS = 90 * 1000,		/* the node's own timers after the last datagram */
	VERIFY_SENT = 8,		/* sent datagrams whose signature is checked */
	DHT_R = 3,
	STORE_RECORDS = 256,
};

static const uint64_t waits[4] = {0, 100, 1500, 31 * 1000};

struct world {
	bool crypto;
	uint64_t now;
	struct fuzz_rng rng;
	struct kbr_params p;
	struct kbr *k;
	struct dht_store *store;
	struct dht_replica *rep;
	struct dht *d;
	/* the latest requests sent to each peer, most recent last */
	uint64_t tids[FUZZ_PEERS][NODE_TIDS];
	unsigned ntids[FUZZ_PEERS];
	struct nodeid key;		/* of the operations started by the setup byte */
	unsigned started, ended;	/* operations with a callback */
	unsigned sent;
};

static bool
is_request(uint8_t type)
{
	return type == KBR_PING || type == KBR_FIND_NODE ||
	    (type >= KBR_APP_MIN && type <= KBR_APP_MAX && (type & 1));
}

/* Everything the node sends is a well-formed datagram of its own, signed when it signs (the
 * signatures of the first VERIFY_SENT are checked: verifying costs more than the rest). */
static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct world *w = arg;
	struct kbr_msg m;
	int peer;

	FUZZ_CHECK(to->family == KBR_AF_INET || to->family == KBR_AF_INET6);
	FUZZ_CHECK(len <= KBR_MAX_DATAGRAM);
	FUZZ_CHECK(kbr_wire_decode(&m, buf, len) == 0);
	FUZZ_CHECK(nodeid_eq(&m.sender, &fuzz_self()->id));
	FUZZ_CHECK(m.timestamp == w->now);
	if (w->crypto && w->sent++ < VERIFY_SENT)
		FUZZ_CHECK(kbr_wire_verify(&m, w->p.c1, w->p.c2) == 0);
	peer = fuzz_peer_of(to);
	if (peer < 0 || !is_request(m.type))
		return;
	if (w->ntids[peer] == NODE_TIDS) {
		memmove(w->tids[peer], w->tids[peer] + 1, (NODE_TIDS - 1) * sizeof(uint64_t));
		w->ntids[peer]--;
	}
	w->tids[peer][w->ntids[peer]++] = m.tid;
}

static void
on_random(void *arg, void *buf, size_t len)
{
	struct world *w = arg;

	fuzz_random(&w->rng, buf, len);
}

static uint8_t
on_app_request(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct world *w = arg;
	size_t room = *answer_len;
	uint8_t t;

	FUZZ_CHECK(now == w->now && (type & 1) && len <= KBR_MAX_APP_BODY);
	t = dht_handle_request(w->d, now, from, type, body, len, answer, answer_len);
	FUZZ_CHECK(t == 0 || (t == type + 1 && *answer_len <= room));
	return t;
}

static void
put_done(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	struct world *w = arg;

	FUZZ_CHECK(stored <= asked && asked <= DHT_R);
	FUZZ_CHECK((status == 0) == (2 * stored > asked));
	FUZZ_CHECK(refused <= DHT_ERR_INTERNAL);
	w->ended++;
}

static void
get_done(void *arg, int status, const struct dht_vote_result *res)
{
	struct world *w = arg;

	w->ended++;
	if (status != 0)
		return;
	FUZZ_CHECK(res->answers <= DHT_R);
	if (res->status != DHT_VOTE_FOUND)
		return;
	FUZZ_CHECK(res->nrecords >= 1 && 2 * res->votes_for_owner > res->answers);
	for (size_t i = 0; i < res->nrecords; i++) {
		const struct dht_record *r = &res->records[i];

		FUZZ_CHECK(nodeid_eq(&r->key, &w->key));
		FUZZ_CHECK(memcmp(r->owner, res->owner, ID_PUBKEY_LEN) == 0);
		FUZZ_CHECK(dht_record_verify(r, kbr_now(w->k)) == DHT_OK);
	}
}

static void
lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct world *w = arg;

	(void)st;
	FUZZ_CHECK(n <= w->p.s);
	for (size_t i = 1; i < n; i++)
		FUZZ_CHECK(kbr_distance_cmp(target, &res[i - 1].id, &res[i].id) < 0);
	w->ended++;
}

static void
tick(struct world *w)
{
	(void)kbr_tick(w->k, w->now);
	(void)dht_tick(w->d, w->now);
}

static void
setup(struct world *w, uint8_t flags)
{
	const struct dht_record *r = fuzz_record(flags & NODE_SETUP_BIG ? 1 : 0);
	struct kbr_addr a;

	w->key = r->key;
	if (flags & NODE_SETUP_CONTACTS) {
		for (unsigned i = 1; i < FUZZ_PEERS; i++) {
			fuzz_peer_addr(i, &a);
			FUZZ_CHECK(kbr_add_contact(w->k, w->now, &fuzz_peer(i)->id, &a) > 0);
		}
	}
	if (flags & NODE_SETUP_HOLD)
		FUZZ_CHECK(dht_replica_store(w->rep, w->now, NULL, r) == DHT_OK);
	if (flags & NODE_SETUP_BOOTSTRAP) {
		fuzz_peer_addr(0, &a);
		FUZZ_CHECK(kbr_bootstrap(w->k, w->now, &a) == 0);
	}
	/* each started operation ends exactly once; count those that start */
	if ((flags & NODE_SETUP_PUT) && dht_put(w->d, w->now, r, put_done, w) == 0)
		w->started++;
	if ((flags & NODE_SETUP_PUBLISH) && dht_publish(w->d, w->now, r, put_done, w) == 0)
		w->started++;
	if ((flags & NODE_SETUP_GET) && dht_get(w->d, w->now, &r->key, get_done, w) == 0)
		w->started++;
	if ((flags & NODE_SETUP_LOOKUP) &&
	    kbr_lookup_start(w->k, w->now, &r->key, lookup_done, w) == 0)
		w->started++;
	tick(w);
}

/* The stamps a frame's control byte asks for, on a copy of the datagram. */
static void
stamp(struct world *w, uint8_t ctrl, uint8_t *buf, size_t len)
{
	unsigned peer = ctrl & NODE_CTRL_PEER;
	const struct identity *id = fuzz_peer(peer);

	if ((ctrl & NODE_CTRL_FRAME) && len >= KBR_HEADER_LEN + KBR_TRAILER_LEN) {
		memcpy(buf, KBR_MAGIC, 4);
		buf[4] = KBR_VERSION;
		buf[6] = buf[7] = 0;
		memcpy(buf + WIRE_OFF_SENDER, id->id.b, NODEID_LEN);
		memcpy(buf + WIRE_OFF_PUB, id->pub, ID_PUBKEY_LEN);
		memcpy(buf + WIRE_OFF_NONCE, id->nonce.b, NODEID_LEN);
		fuzz_put16(buf + WIRE_OFF_BODYLEN,
		    (uint16_t)(len - KBR_HEADER_LEN - KBR_TRAILER_LEN));
		buf[len - KBR_TRAILER_LEN] = KBR_AUTH_ED25519;
		fuzz_put16(buf + len - KBR_TRAILER_LEN + 1, ID_SIG_LEN);
	}
	if ((ctrl & NODE_CTRL_TIME) && len >= WIRE_OFF_TIME + 8)
		fuzz_put64(buf + WIRE_OFF_TIME, w->now);
	if ((ctrl & NODE_CTRL_REPLY) && len >= WIRE_OFF_TID + 8 && w->ntids[peer] > 0) {
		unsigned back = buf[WIRE_OFF_TID] % w->ntids[peer];

		fuzz_put64(buf + WIRE_OFF_TID, w->tids[peer][w->ntids[peer] - 1 - back]);
	}
	if (w->crypto && (ctrl & NODE_CTRL_SIGN) && len >= KBR_HEADER_LEN + KBR_TRAILER_LEN)
		FUZZ_CHECK(identity_sign(id, buf, len - ID_SIG_LEN, buf + len - ID_SIG_LEN) == 0);
}

static void
world_free(struct world *w)
{
	dht_free(w->d);
	kbr_free(w->k);
	dht_replica_free(w->rep);
	if (w->store != NULL)
		w->store->ops->close(w->store);
}

void
fuzz_node_run(const uint8_t *data, size_t size, bool crypto)
{
	struct world w;
	struct kbr_io io = {0};
	struct dht_params dp = {.r = DHT_R, .maintain_ms = 30 * 1000, .republish_ms = 60 * 1000};
	size_t off = 0;
	uint64_t end;

	memset(&w, 0, sizeof(w));
	w.crypto = crypto;
	w.now = FUZZ_T0;
	w.rng.s = 1;
	kbr_params_default(&w.p);
	w.p.k = 8;
	w.p.s = 4;
	w.p.d = 2;
	w.p.alpha = 2;
	w.p.c1 = w.p.c2 = 0;
	w.p.rate_sources = 16;
	w.p.crypto = crypto;
	io.arg = &w;
	io.send = on_send;
	io.random = on_random;
	io.app_request = on_app_request;
	w.k = kbr_new(&w.p, fuzz_self(), &io);
	w.store = dht_store_mem_new(STORE_RECORDS);
	w.rep = w.store != NULL ? dht_replica_new(w.store, NULL) : NULL;
	w.d = w.k != NULL && w.rep != NULL ? dht_new(w.k, w.rep, &dp) : NULL;
	FUZZ_CHECK(w.d != NULL);

	setup(&w, size > 0 ? data[off++] : 0);
	for (unsigned frames = 0; frames < NODE_MAX_FRAMES && size - off >= NODE_FRAME_HDR;
	    frames++) {
		uint8_t ctrl = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		struct kbr_addr from;
		uint8_t *buf;

		off += NODE_FRAME_HDR;
		if (len > size - off)
			len = size - off;
		/* a copy of exactly len bytes, so that reading past the datagram is caught */
		buf = malloc(len ? len : 1);
		FUZZ_CHECK(buf != NULL);
		memcpy(buf, data + off, len);
		off += len;
		w.now += waits[ctrl >> NODE_CTRL_WAIT_SHIFT];
		tick(&w);
		stamp(&w, ctrl, buf, len);
		fuzz_peer_addr(ctrl & NODE_CTRL_PEER, &from);
		kbr_input(w.k, w.now, buf, len, &from);
		free(buf);
		tick(&w);
	}
	for (end = w.now + DRAIN_MS; w.now < end; w.now += DRAIN_STEP_MS)
		tick(&w);
	FUZZ_CHECK(w.ended == w.started);
	world_free(&w);
}
