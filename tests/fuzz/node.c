/* A fresh KBR node with a DHT per fuzz input, and four peers (tests/fuzz/remote.h) that send
 * it what the input says at virtual times. What the node sends must be well formed and what
 * it seals must open and decode at the peer; with crypto on it hands the DHT requests only
 * from a peer at one of that peer's addresses, and sends addresses nobody reads (NODES hints)
 * nothing but handshakes; every operation started ends exactly once. */
#include "tests/fuzz/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dht/dht.h"
#include "dht/store.h"
#include "kbr/kbr.h"
#include "kbr/wire.h"
#include "tests/fuzz/common.h"
#include "tests/fuzz/net.h"
#include "tests/fuzz/remote.h"

enum {
	NODE_MAX_FRAMES = 64,		/* frames one input may hold */
	DRAIN_STEP_MS = 500,
	DRAIN_MS = 90 * 1000,		/* the node's own timers after the last frame */
	PUMP_MAX = 256,			/* datagrams delivered at a time */
	DHT_R = 3,
	STORE_RECORDS = 256,
	NODE_SESSIONS = 8,		/* small tables, so that inputs reach their limits */
	NODE_HALFOPEN = 4,
	NODE_REKEY_MS = 60 * 1000,	/* sessions are renewed within one input's drain */
	NODE_MEMORY_MAX = 2 << 20,	/* kbr_memory with the limits above */
	HINT_QUERY_MAX = KBR_MSG_HEADER_LEN,	/* a sealed PING: what may probe a new address */
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
	struct kbr_addr self_addr;
	struct fuzz_net net;
	struct fuzz_remote rem[FUZZ_PEERS];
	/* the latest requests the node sent to each peer, most recent last */
	uint64_t tids[FUZZ_PEERS][NODE_TIDS];
	unsigned ntids[FUZZ_PEERS];
	struct nodeid key;		/* of the operations started by the setup byte */
	unsigned started, ended;	/* operations with a callback */
};

static bool
is_request(uint8_t type)
{
	return type == KBR_PING || type == KBR_FIND_NODE ||
	    (type >= KBR_APP_MIN && type <= KBR_APP_MAX && (type & 1));
}

/* Everything the node sends is a well-formed datagram. With crypto on, an address no peer
 * reads (a NODES hint) gets a handshake, or a query no larger than a FIND_NODE in the
 * session of a known node said to be there: the moved-contact PING of doc/protocol.md, and
 * a lookup's FIND_NODE (which the protocol does not allow: "hints get nothing but a
 * handshake"; tolerated here until kbr.c sends it to the proven address). Never more: no
 * answer, record or queue. With crypto off whoever guesses an index can pose as anyone. */
static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct world *w = arg;
	int type;

	FUZZ_CHECK(to->family == KBR_AF_INET || to->family == KBR_AF_INET6);
	FUZZ_CHECK(len <= KBR_MAX_DATAGRAM);
	type = kbr_wire_packet_type(buf, len);
	FUZZ_CHECK(type > 0);
	if (w->crypto && fuzz_peer_of(to) < 0)
		FUZZ_CHECK(type == KBR_PKT_HELLO || type == KBR_PKT_HS_INIT ||
		    (type == KBR_PKT_DATA && len <= KBR_DATA_OVERHEAD + HINT_QUERY_MAX));
	fuzz_net_push(&w->net, &w->self_addr, to, buf, len);
}

static void
on_random(void *arg, void *buf, size_t len)
{
	struct world *w = arg;

	fuzz_random(&w->rng, buf, len);
}

/* What the node sealed for a peer opens there, comes from the node and decodes; a PONG names
 * an address of that peer. The requests are remembered for NODE_CTRL_REPLY. */
static void
on_peer_deliver(void *arg, struct fuzz_remote *r, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *from, const uint8_t *msg, size_t len)
{
	struct world *w = arg;
	unsigned i = r->i;
	struct kbr_msg m;

	FUZZ_CHECK(now == w->now);
	FUZZ_CHECK(nodeid_eq(peer, &fuzz_self()->id));
	FUZZ_CHECK(kbr_addr_eq(from, &w->self_addr));
	FUZZ_CHECK(kbr_wire_decode(&m, msg, len) == 0);
	if (m.type == KBR_PONG)
		FUZZ_CHECK(fuzz_peer_of(&m.u.observed) == (int)i);
	if (!is_request(m.type))
		return;
	if (w->ntids[i] == NODE_TIDS) {
		memmove(w->tids[i], w->tids[i] + 1, (NODE_TIDS - 1) * sizeof(uint64_t));
		w->ntids[i]--;
	}
	w->tids[i][w->ntids[i]++] = m.tid;
}

static uint8_t
on_app_request(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct world *w = arg;
	size_t room = *answer_len;
	uint8_t t;

	FUZZ_CHECK(now == w->now && (type & 1) && len <= KBR_MAX_APP_BODY);
	if (w->crypto) {
		int i = fuzz_peer_of(&from->addr);

		FUZZ_CHECK(i >= 0 && nodeid_eq(&from->id, &fuzz_peer((unsigned)i)->id));
	}
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

/* Hands a datagram to the node as an exact copy, so that reading past it is caught. */
static void
node_input(struct world *w, const uint8_t *buf, size_t len, const struct kbr_addr *from)
{
	uint8_t *copy = malloc(len ? len : 1);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, len);
	kbr_input(w->k, w->now, copy, len, from);
	free(copy);
}

/* Delivers what is in flight: to the node, to the peer at the address, or nowhere. */
static void
pump(struct world *w)
{
	struct fuzz_dgram d;
	int i;

	for (unsigned n = 0; n < PUMP_MAX && fuzz_net_pop(&w->net, &d); n++) {
		if (kbr_addr_eq(&d.to, &w->self_addr))
			node_input(w, d.b, d.len, &d.from);
		else if ((i = fuzz_peer_of(&d.to)) >= 0)
			fuzz_remote_read(&w->rem[i], w->now, &d);
	}
}

static void
tick(struct world *w)
{
	(void)kbr_tick(w->k, w->now);
	(void)dht_tick(w->d, w->now);
	for (unsigned i = 0; i < FUZZ_PEERS; i++)
		(void)kbr_session_tick(w->rem[i].sess, w->now);
	pump(w);
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

/* NODE_CTRL_REPLY: the tid at msg + 1 becomes that of a recent request to peer i. */
static void
stamp_tid(const struct world *w, unsigned i, uint8_t *msg, size_t len)
{
	if (len < KBR_MSG_HEADER_LEN || w->ntids[i] == 0)
		return;
	fuzz_put64(msg + 1, w->tids[i][w->ntids[i] - 1 - msg[1] % w->ntids[i]]);
}

/* The peer sends the payload in its session (a handshake first if it has none). */
static void
frame_sealed(struct world *w, struct fuzz_remote *r, uint8_t ctrl, const uint8_t *data,
    size_t len)
{
	uint8_t *msg = malloc(len ? len : 1);
	int err;

	FUZZ_CHECK(msg != NULL);
	memcpy(msg, data, len);
	if (ctrl & NODE_CTRL_REPLY)
		stamp_tid(w, r->i, msg, len);
	if (ctrl & NODE_CTRL_RENEW)
		kbr_session_suspect(r->sess, &fuzz_self()->id);
	err = fuzz_remote_send(r, w->now, false, msg, len);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -EMSGSIZE || err == -ENOMEM ||
	    err == -EBUSY);
	free(msg);
}

/* The payload goes to the node as a datagram from the peer's address, stamped if asked. */
static void
frame_raw(struct world *w, struct fuzz_remote *r, uint8_t ctrl, const uint8_t *data,
    size_t len)
{
	uint8_t buf[KBR_MAX_DATAGRAM];

	if (len > sizeof(buf) || !(ctrl & (NODE_CTRL_STAMP | NODE_CTRL_REPLY))) {
		node_input(w, data, len, &r->addr[r->src]);
		return;
	}
	memcpy(buf, data, len);
	if (ctrl & NODE_CTRL_STAMP)
		len = fuzz_remote_stamp(r, w->now, r->src, buf, len);
	/* a plaintext DATA (crypto off) may carry a reply */
	if ((ctrl & NODE_CTRL_REPLY) && len >= KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN &&
	    buf[1] == KBR_PKT_DATA)
		stamp_tid(w, r->i, buf + KBR_DATA_HEADER_LEN, len - KBR_DATA_OVERHEAD);
	node_input(w, buf, len, &r->addr[r->src]);
}

static void
world_free(struct world *w)
{
	dht_free(w->d);
	kbr_free(w->k);
	dht_replica_free(w->rep);
	if (w->store != NULL)
		w->store->ops->close(w->store);
	for (unsigned i = 0; i < FUZZ_PEERS; i++)
		fuzz_remote_free(&w->rem[i]);
	free(w);
}

static struct world *
world_new(bool crypto)
{
	struct world *w = calloc(1, sizeof(*w));
	struct kbr_io io = {0};
	struct dht_params dp = {.r = DHT_R, .maintain_ms = 30 * 1000, .republish_ms = 60 * 1000};
	struct kbr_session_cfg sc;

	FUZZ_CHECK(w != NULL);
	w->crypto = crypto;
	w->now = FUZZ_T0;
	w->rng.s = 1;
	fuzz_self_addr(&w->self_addr);
	fuzz_net_init(&w->net);
	kbr_params_default(&w->p);
	w->p.k = 8;
	w->p.s = 4;
	w->p.d = 2;
	w->p.alpha = 2;
	w->p.c1 = w->p.c2 = 0;
	w->p.rate_sources = 16;
	w->p.sessions = NODE_SESSIONS;
	w->p.halfopen = NODE_HALFOPEN;
	w->p.rekey_ms = NODE_REKEY_MS;
	w->p.crypto = crypto;
	io.arg = w;
	io.send = on_send;
	io.random = on_random;
	io.app_request = on_app_request;
	w->k = kbr_new(&w->p, fuzz_self(), &io);
	w->store = dht_store_mem_new(STORE_RECORDS);
	w->rep = w->store != NULL ? dht_replica_new(w->store, NULL) : NULL;
	w->d = w->k != NULL && w->rep != NULL ? dht_new(w->k, w->rep, &dp) : NULL;
	FUZZ_CHECK(w->d != NULL);

	kbr_session_cfg_default(&sc);
	sc.c1 = sc.c2 = 0;
	sc.max_peers = 4;
	sc.max_halfopen = 4;
	sc.rekey_after_ms = NODE_REKEY_MS;
	sc.crypto = crypto;
	for (unsigned i = 0; i < FUZZ_PEERS; i++) {
		fuzz_remote_init(&w->rem[i], i, &sc, &w->net, &fuzz_self()->id, &w->self_addr,
		    w->now);
		w->rem[i].deliver = on_peer_deliver;
		w->rem[i].arg = w;
	}
	return w;
}

void
fuzz_node_run(const uint8_t *data, size_t size, bool crypto)
{
	struct world *w = world_new(crypto);
	size_t off = 0;
	uint64_t end;

	setup(w, size > 0 ? data[off++] : 0);
	for (unsigned frames = 0; frames < NODE_MAX_FRAMES && size - off >= NODE_FRAME_HDR;
	    frames++) {
		uint8_t ctrl = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		struct fuzz_remote *r = &w->rem[ctrl & NODE_CTRL_PEER];

		off += NODE_FRAME_HDR;
		if (len > size - off)
			len = size - off;
		w->now += waits[ctrl >> NODE_CTRL_WAIT_SHIFT];
		tick(w);
		r->src = ctrl & NODE_CTRL_ALT ? 1 : 0;
		if (ctrl & NODE_CTRL_SEAL)
			frame_sealed(w, r, ctrl, data + off, len);
		else
			frame_raw(w, r, ctrl, data + off, len);
		off += len;
		tick(w);
		FUZZ_CHECK(kbr_memory(w->k) <= NODE_MEMORY_MAX);
		FUZZ_CHECK(kbr_session_count(w->k) <= NODE_SESSIONS);
	}
	for (end = w->now + DRAIN_MS; w->now < end; w->now += DRAIN_STEP_MS)
		tick(w);
	FUZZ_CHECK(w->ended == w->started);
	world_free(w);
}
