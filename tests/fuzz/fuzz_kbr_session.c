/* libFuzzer target: kbr/session.c on its own. The sessions under test (S) talk to four peers
 * the harness plays (tests/fuzz/remote.h) over a queue of datagrams in flight that the input
 * delivers, loses, reorders and replays; the input also hands S datagrams of its own (made
 * valid by a peer if it asks) from any address, has both sides send sealed messages, and
 * moves the clock. Layout in tests/fuzz/common.h.
 *
 * With crypto on, S
 *   - sends an address that has not proven it receives (S's application did not choose it,
 *     and no peer there read an HS_RESP or a DATA from S) no more bytes than it got from it;
 *   - hands up only messages a peer sealed, no more often than twice per send (see
 *     struct msgset), and only from an address of that peer that has proven it receives.
 * In both modes what S and the peers hand up is well formed and the peers get only what S's
 * application sent them; every datagram S sends is well formed; kbr_session_tick's next
 * deadline lies ahead; the sessions and the memory held stay within S's limits. */
#include <errno.h>
#include <sanitizer/allocator_interface.h>
#include <stdlib.h>
#include <string.h>

#include "kbr/kbr.h"
#include "kbr/session.h"
#include "kbr/wire.h"
#include "tests/fuzz/common.h"
#include "tests/fuzz/net.h"
#include "tests/fuzz/remote.h"

enum {
	ADDRS = 512,			/* addresses tracked: more than an input can name */
	MSGSET = 512,			/* messages tracked per direction and peer */
	MSG_COPIES = 2,			/* times a message may be handed up per send */
	PUMP_MAX = 256,			/* datagrams delivered after one operation */
	/* room for what S may hold, per item of its limits (its structs are private) */
	ROOM_PEER = 1024,
	ROOM_HANDSHAKE = 512,
	ROOM_HALFOPEN = 256,
	ROOM_QUEUED = 2 + KBR_MAX_MSG,
	ROOM_HMAP_ENTRY = 12,		/* key and value */
	ROOM_HMAP_MIN = 64,
	ROOM_RATE_SOURCES = 256,	/* session.c's handshake rate limiter */
	ROOM_RATE_SOURCE = 64,
	ROOM_HEAP_SLACK = 1 << 20,	/* OpenSSL's own, the harness's copies */
};

static const uint64_t units[8] = {1, 10, 100, 1000, 5000, 30000, 120000, 600000};
static const unsigned counts[4] = {1, 2, 4, 64};
static const unsigned max_peers[4] = {2, 3, 5, 64};

/* What S sent to and got from an address. */
struct addr_stat {
	struct kbr_addr a;
	uint64_t rx, tx;
	bool chosen;			/* S's application sent there */
	bool proven;			/* a peer there read an HS_RESP or DATA from S */
};

/* A multiset of messages by hash: what one side sent the other and may still be handed up.
 * A sender that doubts a session sends in it and again in a new one (after
 * kbr_session_suspect, or a HELLO answered by a node it holds a session with), so each
 * message may arrive twice; a replay gets it there a third time. */
struct msgset {
	uint64_t h[MSGSET];
	uint16_t n[MSGSET];
	unsigned used;
	bool full;			/* then take always succeeds */
};

struct world {
	bool crypto, echo;
	uint64_t now;
	struct fuzz_rng rng;
	struct kbr_session_cfg cfg;
	struct kbr_stats st;
	struct kbr_sessions *s;
	struct kbr_addr self_addr;
	struct fuzz_net net;
	struct fuzz_remote rem[FUZZ_PEERS];
	struct addr_stat addrs[ADDRS];
	unsigned naddrs;
	struct msgset to_s[FUZZ_PEERS];		/* sealed by peer j for S */
	struct msgset from_s[FUZZ_PEERS];	/* sent by S's application to peer j */
	size_t mem_base, mem_room, heap_base, heap_room;
};

/* The input, read byte by byte; zeros once it is used up. */
struct in {
	const uint8_t *p;
	size_t left;
};

static uint8_t
in_u8(struct in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

/* ---- bookkeeping ---- */

static struct addr_stat *
addr_find(struct world *w, const struct kbr_addr *a)
{
	for (unsigned i = 0; i < w->naddrs; i++)
		if (kbr_addr_eq(&w->addrs[i].a, a))
			return &w->addrs[i];
	return NULL;
}

static struct addr_stat *
addr_get(struct world *w, const struct kbr_addr *a)
{
	struct addr_stat *st = addr_find(w, a);

	if (st != NULL)
		return st;
	FUZZ_CHECK(w->naddrs < ADDRS);
	st = &w->addrs[w->naddrs++];
	memset(st, 0, sizeof(*st));
	st->a = *a;
	return st;
}

static uint64_t
msg_hash(const uint8_t *m, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ len;

	for (size_t i = 0; i < len; i++)
		h = (h ^ m[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void
msgset_add(struct msgset *s, const uint8_t *m, size_t len)
{
	uint64_t h = msg_hash(m, len);

	for (unsigned i = 0; i < s->used; i++) {
		if (s->h[i] == h) {
			s->n[i] = (uint16_t)(s->n[i] + MSG_COPIES);
			return;
		}
	}
	if (s->used == MSGSET) {
		s->full = true;
		return;
	}
	s->h[s->used] = h;
	s->n[s->used++] = MSG_COPIES;
}

/* True when m was added more often than taken (and takes it once). */
static bool
msgset_take(struct msgset *s, const uint8_t *m, size_t len)
{
	uint64_t h = msg_hash(m, len);

	for (unsigned i = 0; i < s->used; i++) {
		if (s->h[i] == h && s->n[i] > 0) {
			s->n[i]--;
			return true;
		}
	}
	return s->full;
}

/* The peer whose node ID id is, or -1. */
static int
peer_index(const struct nodeid *id)
{
	for (unsigned j = 0; j < FUZZ_PEERS; j++)
		if (nodeid_eq(id, &fuzz_peer(j)->id))
			return (int)j;
	return -1;
}

/* What sessions with cfg may hold beyond what they hold when new, from the limits of
 * kbr/session.h. */
static size_t
mem_room(const struct kbr_session_cfg *c)
{
	size_t peers = c->max_peers, half = c->max_halfopen;
	size_t indices = 3 * peers + half + 1;	/* two sessions and a handshake per peer */

	return peers * (ROOM_PEER + ROOM_HANDSHAKE + (KBR_SESSION_QUEUE + 1) * ROOM_QUEUED) +
	    half * ROOM_HALFOPEN + KBR_SESSION_HELLOS * KBR_SESSION_QUEUE * ROOM_QUEUED +
	    (4 * (peers + 1 + indices) + 2 * ROOM_HMAP_MIN) * ROOM_HMAP_ENTRY +
	    ROOM_RATE_SOURCES * ROOM_RATE_SOURCE;
}

/* ---- S's callbacks ---- */

static void
s_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct world *w = arg;
	struct addr_stat *st;

	FUZZ_CHECK(to->family == KBR_AF_INET || to->family == KBR_AF_INET6);
	FUZZ_CHECK(len <= KBR_MAX_DATAGRAM);
	FUZZ_CHECK(kbr_wire_packet_type(buf, len) > 0);
	st = addr_get(w, to);
	/* no amplification: an address that has not proven it receives gets no more than it
	 * sent (with crypto off, proofs mean nothing: whoever guesses an index passes) */
	if (w->crypto && !st->chosen && !st->proven)
		FUZZ_CHECK(st->tx + len <= st->rx);
	st->tx += len;
	fuzz_net_push(&w->net, &w->self_addr, to, buf, len);
}

static void
s_random(void *arg, void *buf, size_t len)
{
	struct world *w = arg;

	fuzz_random(&w->rng, buf, len);
}

static int
s_app_send(struct world *w, const struct nodeid *id, int j, const struct kbr_addr *to,
    const uint8_t *msg, size_t len)
{
	int err;

	addr_get(w, to)->chosen = true;
	err = kbr_session_send(w->s, w->now, id, to, msg, len);
	fuzz_trace("S sends peer %d type %u len %zu: %d", j, len ? msg[0] : 0, len, err);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -EMSGSIZE || err == -EBUSY ||
	    err == -ENOMEM);
	if (err == 0 && j >= 0)
		msgset_add(&w->from_s[j], msg, len);
	return err;
}

/* With SESS_SETUP_ECHO, an odd type is answered at once, from inside the callback, the way
 * kbr.c answers requests; type % 4 == 3 also sends to a node ID made from the message (as
 * kbr.c's admission PING of a stale contact does: a new session slot, perhaps a larger
 * table or an eviction, while S is inside its own input). peer and from must stay what
 * they were all the while: kbr.c reads them after such sends. */
static void
echo(struct world *w, const struct nodeid *peer, const struct kbr_addr *from, int j,
    const uint8_t *msg, size_t len)
{
	uint8_t reply[KBR_MSG_HEADER_LEN + 16];
	size_t n = len < sizeof(reply) ? len : sizeof(reply);
	struct nodeid peer_was = *peer, other;
	struct kbr_addr from_was = *from, to;

	if (msg[0] + 1 >= KBR_CHALLENGE)
		return;
	memcpy(reply, msg, n);
	reply[0] = (uint8_t)(msg[0] + 1);
	(void)s_app_send(w, peer, j, from, reply, n);
	if (msg[0] % 4 == 3) {
		FUZZ_CHECK(nodeid_sha1(&other, msg, len) == 0);
		fuzz_peer_addr(j >= 0 ? (unsigned)j + 1 : 0, &to);
		(void)s_app_send(w, &other, peer_index(&other), &to, reply, n);
	}
	FUZZ_CHECK(nodeid_eq(peer, &peer_was) && kbr_addr_eq(from, &from_was));
}

static void
s_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct world *w = arg;
	int j = peer_index(peer);

	fuzz_trace("S hands up from peer %d type %u len %zu", j, msg[0], len);
	FUZZ_CHECK(now == w->now);
	FUZZ_CHECK(len >= KBR_MSG_HEADER_LEN && len <= KBR_MAX_MSG);
	FUZZ_CHECK(msg[0] != KBR_KEEPALIVE && msg[0] != KBR_CHALLENGE && msg[0] != KBR_RESPONSE);
	FUZZ_CHECK(!nodeid_eq(peer, &fuzz_self()->id));
	if (w->crypto) {
		const struct addr_stat *st = addr_find(w, from);

		FUZZ_CHECK(j >= 0 && fuzz_peer_of(from) == j);
		FUZZ_CHECK(st != NULL && st->proven);
		FUZZ_CHECK(msgset_take(&w->to_s[j], msg, len));
	}
	if (w->echo && (msg[0] & 1))
		echo(w, peer, from, j, msg, len);
}

/* What S sealed for peer j opens there, from S, and S's application sent it to j. */
static void
peer_deliver(void *arg, struct fuzz_remote *r, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *from, const uint8_t *msg, size_t len)
{
	struct world *w = arg;

	FUZZ_CHECK(now == w->now);
	FUZZ_CHECK(nodeid_eq(peer, &fuzz_self()->id));
	FUZZ_CHECK(kbr_addr_eq(from, &w->self_addr));
	FUZZ_CHECK(len >= KBR_MSG_HEADER_LEN && len <= KBR_MAX_MSG);
	fuzz_trace("peer %u hands up type %u len %zu", r->i, msg[0], len);
	FUZZ_CHECK(msgset_take(&w->from_s[r->i], msg, len));
}

/* ---- the network ---- */

/* S gets a datagram from `from`, as an exact copy (reading past it is caught). */
static void
s_input(struct world *w, const uint8_t *buf, size_t len, const struct kbr_addr *from)
{
	uint8_t *copy = malloc(len ? len : 1);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, len);
	fuzz_trace_dgram("S gets", from, &w->self_addr, buf, len);
	addr_get(w, from)->rx += len;
	kbr_session_input(w->s, w->now, copy, len, from);
	free(copy);
}

/* Delivers up to max datagrams in flight: to S, to the peer at the address, or nowhere. */
static void
deliver(struct world *w, unsigned max)
{
	struct fuzz_dgram d;
	int j, type;

	for (unsigned n = 0; n < max && fuzz_net_pop(&w->net, &d); n++) {
		if (kbr_addr_eq(&d.to, &w->self_addr)) {
			s_input(w, d.b, d.len, &d.from);
			continue;
		}
		j = fuzz_peer_of(&d.to);
		fuzz_trace_dgram(j < 0 ? "lost" : "peer reads", &d.from, &d.to, d.b, d.len);
		if (j < 0)
			continue;		/* nobody reads there */
		type = kbr_wire_packet_type(d.b, d.len);
		if (type == KBR_PKT_HS_RESP || type == KBR_PKT_DATA)
			addr_get(w, &d.to)->proven = true;
		fuzz_remote_read(&w->rem[j], w->now, &d);
	}
}

/* ---- operations ---- */

static void
read_addr(struct in *in, struct kbr_addr *a)
{
	uint8_t sel = in_u8(in) & 0x0f;

	if (sel < SESS_ADDR_ALT) {
		fuzz_peer_addr(sel, a);
	} else if (sel < SESS_ADDR_VICTIM) {
		fuzz_alt_addr(sel - SESS_ADDR_ALT, a);
	} else if (sel < SESS_ADDR_SELF) {
		fuzz_victim_addr(sel - SESS_ADDR_VICTIM, a);
	} else if (sel == SESS_ADDR_SELF) {
		fuzz_self_addr(a);
	} else {
		memset(a, 0, sizeof(*a));
		a->family = in_u8(in) & 1 ? KBR_AF_INET6 : KBR_AF_INET;
		for (unsigned i = 0; i < 16; i++)
			a->ip[i] = in_u8(in);
		if (a->family == KBR_AF_INET)
			memset(a->ip + 4, 0, 12);
		a->port = (uint16_t)(in_u8(in) << 8);
		a->port |= in_u8(in);
	}
}

/* A sealed message: a length byte (0xf0 and up: near KBR_MAX_MSG, 0xff one byte over),
 * then that many bytes (zeros past the input's end), into an exact heap copy. */
static uint8_t *
read_msg(struct in *in, size_t *len)
{
	uint8_t l = in_u8(in);
	size_t n = l < 0xf0 ? l : (size_t)KBR_MAX_MSG + l - 0xfe;
	uint8_t *m = calloc(1, n ? n : 1);

	FUZZ_CHECK(m != NULL);
	for (size_t i = 0; i < n && in->left > 0; i++)
		m[i] = in_u8(in);
	*len = n;
	return m;
}

static void
op_raw(struct world *w, struct in *in, unsigned arg)
{
	struct fuzz_remote *r = &w->rem[arg & 3];
	uint8_t buf[KBR_MAX_DATAGRAM];
	struct kbr_addr from;
	const uint8_t *p;
	size_t len;

	read_addr(in, &from);
	len = (size_t)in_u8(in) << 8;
	len |= in_u8(in);
	if (len > in->left)
		len = in->left;
	p = in->p;
	in->p += len;
	in->left -= len;
	if (len > sizeof(buf) || !(arg & 4)) {
		s_input(w, p, len, &from);
		return;
	}
	memcpy(buf, p, len);
	len = fuzz_remote_stamp(r, w->now, kbr_addr_eq(&from, &r->addr[1]), buf, len);
	s_input(w, buf, len, &from);
}

static void
op_peer(struct world *w, struct in *in, unsigned arg)
{
	struct fuzz_remote *r = &w->rem[arg & 3];
	size_t len;
	uint8_t *msg = read_msg(in, &len);
	int err;

	r->src = arg & 4 ? 1 : 0;
	err = fuzz_remote_send(r, w->now, arg & 8, msg, len);
	fuzz_trace("peer %u sends type %u len %zu from %u: %d", r->i, len ? msg[0] : 0, len,
	    r->src, err);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -EMSGSIZE || err == -EBUSY ||
	    err == -ENOMEM);
	if (err == 0)
		msgset_add(&w->to_s[r->i], msg, len);
	free(msg);
}

static void
op_send(struct world *w, struct in *in)
{
	const struct nodeid *id;
	struct nodeid given;
	struct kbr_addr to;
	unsigned whom;
	size_t len;
	uint8_t *msg;
	int j = -1, err;

	read_addr(in, &to);
	whom = in_u8(in) % 8;
	if (whom == 7) {
		for (unsigned i = 0; i < NODEID_LEN; i++)
			given.b[i] = in_u8(in);
	}
	msg = read_msg(in, &len);
	/* the application sends what kbr_wire_encode writes: never the session's own types */
	if (len > 0 && (msg[0] == KBR_KEEPALIVE || msg[0] >= KBR_CHALLENGE))
		msg[0] = (uint8_t)(1 + msg[0] % (KBR_CHALLENGE - 1));
	if (whom < FUZZ_PEERS) {
		id = &fuzz_peer(whom)->id;
		j = (int)whom;
	} else if (whom == 4) {
		id = NULL;		/* whoever answers the HELLO there */
		j = fuzz_peer_of(&to);
	} else if (whom == 5) {
		id = &fuzz_self()->id;
	} else if (whom == 6) {
		id = &fuzz_owner(0)->id;	/* nobody in the harness has that key */
	} else {
		id = &given;
		j = peer_index(id);
	}
	err = s_app_send(w, id, j, &to, msg, len);
	if (whom == 5)
		FUZZ_CHECK(err != 0);
	free(msg);
}

static void
op_net(struct world *w, struct in *in, unsigned arg)
{
	unsigned count = counts[(arg >> 2) & 3];
	const struct fuzz_dgram *d;
	struct kbr_addr from;
	uint8_t pick;

	switch (arg & 3) {
	case SESS_NET_DELIVER:
		deliver(w, count);
		break;
	case SESS_NET_DROP:
		fuzz_net_drop(&w->net, count);
		break;
	case SESS_NET_SWAP:
		fuzz_net_swap(&w->net, count);
		break;
	default:
		pick = in_u8(in);
		read_addr(in, &from);
		d = fuzz_net_seen(&w->net, pick);
		if (d != NULL)
			s_input(w, d->b, d->len, &from);
		break;
	}
}

static void
op_time(struct world *w, struct in *in, unsigned arg)
{
	uint64_t next;

	w->now += (uint64_t)(in_u8(in) + 1) * units[arg & 7];
	next = kbr_session_tick(w->s, w->now);
	FUZZ_CHECK(next > w->now);
	for (unsigned j = 0; j < FUZZ_PEERS; j++)
		(void)kbr_session_tick(w->rem[j].sess, w->now);
}

static void
op_query(struct world *w)
{
	for (unsigned j = 0; j < FUZZ_PEERS; j++)
		(void)kbr_session_established(w->s, &fuzz_peer(j)->id, w->now);
	FUZZ_CHECK(!kbr_session_established(w->s, &fuzz_self()->id, w->now));
	/* nobody holds an owner's key here; with crypto off any key would do */
	if (w->crypto)
		FUZZ_CHECK(!kbr_session_established(w->s, &fuzz_owner(0)->id, w->now));
}

static void
check_bounds(struct world *w)
{
	size_t heap = __sanitizer_get_current_allocated_bytes();

	FUZZ_CHECK(kbr_sessions_count(w->s) <= w->cfg.max_peers);
	FUZZ_CHECK(kbr_sessions_memory(w->s) <= w->mem_base + w->mem_room);
	FUZZ_CHECK(heap <= w->heap_base + w->heap_room);
}

/* ---- setup ---- */

static struct world *
world_new(uint8_t setup)
{
	struct world *w = calloc(1, sizeof(*w));
	struct kbr_session_io io = {.send = s_send, .random = s_random, .deliver = s_deliver};
	struct kbr_session_cfg rc;

	FUZZ_CHECK(w != NULL);
	w->heap_base = __sanitizer_get_current_allocated_bytes();
	w->crypto = !(setup & SESS_SETUP_PLAIN);
	w->echo = setup & SESS_SETUP_ECHO;
	w->now = FUZZ_T0;
	w->rng.s = 1;
	fuzz_self_addr(&w->self_addr);
	fuzz_net_init(&w->net);
	kbr_session_cfg_default(&w->cfg);
	w->cfg.c1 = w->cfg.c2 = 0;
	w->cfg.crypto = w->crypto;
	w->cfg.max_peers = max_peers[(setup >> SESS_SETUP_PEERS_SHIFT) & 3];
	w->cfg.max_halfopen = 2u << ((setup >> SESS_SETUP_HALF_SHIFT) & 3);
	if (setup & SESS_SETUP_SLOW) {
		w->cfg.hs_per_source = 1;
		w->cfg.hs_total = 2;
	}
	if (setup & SESS_SETUP_REKEY) {
		w->cfg.rekey_after_ms = 1000;
		w->cfg.rekey_after_msgs = 4;
	}
	io.arg = w;
	w->s = kbr_sessions_new(&w->cfg, fuzz_self(), &io, &w->st, w->now);
	FUZZ_CHECK(w->s != NULL);
	w->mem_base = kbr_sessions_memory(w->s);
	w->mem_room = mem_room(&w->cfg);

	kbr_session_cfg_default(&rc);
	rc.c1 = rc.c2 = 0;
	rc.crypto = w->crypto;
	rc.max_peers = 4;
	rc.max_halfopen = 4;
	rc.rekey_after_ms = w->cfg.rekey_after_ms;
	rc.rekey_after_msgs = w->cfg.rekey_after_msgs;
	for (unsigned j = 0; j < FUZZ_PEERS; j++) {
		fuzz_remote_init(&w->rem[j], j, &rc, &w->net, &fuzz_self()->id, &w->self_addr,
		    w->now);
		w->rem[j].deliver = peer_deliver;
		w->rem[j].arg = w;
	}
	/* everything above, S's and the peers' limits, and slack */
	w->heap_room = sizeof(*w) + w->mem_base + w->mem_room +
	    FUZZ_PEERS * (kbr_sessions_memory(w->rem[0].sess) + mem_room(&rc)) + ROOM_HEAP_SLACK;
	return w;
}

static void
world_free(struct world *w)
{
	kbr_sessions_free(w->s);
	for (unsigned j = 0; j < FUZZ_PEERS; j++)
		fuzz_remote_free(&w->rem[j]);
	free(w);
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
	struct in in = {.p = data, .left = size};
	struct world *w = world_new(in_u8(&in));

	for (unsigned ops = 0; ops < SESS_MAX_OPS && in.left > 0; ops++) {
		uint8_t op = in_u8(&in);
		unsigned arg = op >> SESS_OP_ARG_SHIFT;

		fuzz_trace("op %u arg %u%s at +%llu ms", op & 7, arg,
		    op & SESS_OP_HOLD ? " hold" : "", (unsigned long long)(w->now - FUZZ_T0));
		switch (op & 7) {
		case SESS_OP_RAW:
			op_raw(w, &in, arg);
			break;
		case SESS_OP_PEER:
			op_peer(w, &in, arg);
			break;
		case SESS_OP_SEND:
			op_send(w, &in);
			break;
		case SESS_OP_NET:
			op_net(w, &in, arg);
			break;
		case SESS_OP_TIME:
			op_time(w, &in, arg);
			break;
		case SESS_OP_SUSPECT:
			if (arg & 4)
				kbr_session_suspect(w->rem[arg & 3].sess, &fuzz_self()->id);
			else
				kbr_session_suspect(w->s, &fuzz_peer(arg & 3)->id);
			break;
		case SESS_OP_RESTART:
			fuzz_remote_restart(&w->rem[arg & 3], w->now);
			break;
		default:
			op_query(w);
			break;
		}
		if (!(op & SESS_OP_HOLD))
			deliver(w, PUMP_MAX);
		check_bounds(w);
	}
	world_free(w);
	return 0;
}
