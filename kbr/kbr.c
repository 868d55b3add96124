/* The secure Kademlia node: input pipeline (rate limits, then the sessions), RPCs with
 * timeouts and retries, lookups, joining and table maintenance. Sans-I/O: see kbr.h.
 *
 * Timers (all driven by kbr_tick):
 *   RPC deadline     the peer's round-trip timeout after the first attempt (see
 *                    kbr_params), twice the last wait after each retry: resend with a
 *                    fresh transaction id (rpc_retries times; the peer's session is renewed
 *                    first), then report the failure to the table or lookup. A lookup's
 *                    RPC has its soft timeout at the first deadline: the lookup stops
 *                    waiting for it, while an answer to any attempt is still taken.
 *   maintenance      every refresh_ms / 4: refresh lookups for buckets not heard from in
 *                    refresh_ms, bootstrap pings while the table is empty.
 *   sessions         kbr_session_tick (kbr/session.c lists its own).
 */
#include "kbr/kbr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbr/guard.h"
#include "kbr/lookup.h"
#include "kbr/session.h"
#include "kbr/table.h"
#include "kbr/wire.h"

enum rpc_purpose {
	RPC_BOOTSTRAP = 1,	/* PING to an address whose node we do not know yet */
	RPC_ADMIT,		/* PING to a contact's new address, named in a NODES reply */
	RPC_STALE,		/* PING to a bucket's least recently seen entry */
	RPC_USER_PING,		/* kbr_ping */
	RPC_LOOKUP,		/* FIND_NODE for a lookup path */
	RPC_APP,		/* an application request (kbr_app_request) */
};

enum lookup_purpose {
	LOOKUP_USER = 1,
	LOOKUP_JOIN,		/* own ID, after the first bootstrap answer */
	LOOKUP_REFRESH,		/* random ID in a bucket */
};

enum {
	MAX_BOOTSTRAP = 16,
	MAINTENANCE_REFRESHES = 4,	/* bucket refresh lookups started per maintenance run */
	MAX_MOVED_PINGS = 2,		/* moved-contact checks started per NODES reply */
};

struct rpc {
	uint64_t tid;
	uint64_t prev_tid;		/* the attempt before: its late answer counts too */
	uint64_t deadline;
	uint64_t sent_at;		/* of the first attempt */
	unsigned wait;			/* ms the last attempt waits */
	bool sample;			/* an answer to the first attempt times the round trip */
	struct kbr_addr to;
	struct nodeid id;		/* valid if id_known */
	bool id_known;
	uint8_t purpose;		/* enum rpc_purpose */
	uint8_t tries;
	uint8_t req_type;
	struct nodeid target;		/* FIND_NODE */
	unsigned path;
	uint64_t lookup_gen;		/* which lookup (0: none) */
	uint8_t *body;			/* RPC_APP: the request's body (for retries) */
	uint16_t body_len;
	kbr_app_cb cb;			/* RPC_APP */
	void *cb_arg;
};

struct lookup_slot {
	struct kbr_lookup *l;
	uint64_t gen;
	uint8_t purpose;		/* enum lookup_purpose */
	kbr_lookup_cb cb;
	kbr_lookup_progress_cb progress;
	void *arg;
};

struct kbr {
	struct kbr_params p;
	const struct identity *self;
	struct kbr_io io;
	struct kbr_table *table;

	struct rpc *rpcs;
	size_t nrpcs, rpc_cap;

	struct lookup_slot lookups[KBR_MAX_LOOKUPS];
	uint64_t next_gen;

	struct kbr_sessions *sess;
	struct kbr_ratelimit rate;

	struct kbr_addr bootstrap[MAX_BOOTSTRAP];
	size_t nbootstrap;
	bool joined;			/* join lookup started */
	uint64_t next_maintenance;

	struct kbr_addr observed;
	struct kbr_rtt rtt;		/* over all peers: for peers without an estimate */
	struct kbr_stats stats;
	uint64_t now;			/* of the running (or last) call */
};

/* ---- sending ---- */

static uint64_t
random64(struct kbr *k)
{
	uint64_t v = 0;

	k->io.random(k->io.arg, &v, sizeof(v));
	return v;
}

/* Seals m for the node id (NULL: whoever is at `to`) and sends it to `to`. */
static void
send_msg(struct kbr *k, uint64_t now, const struct kbr_msg *m, const struct kbr_addr *to,
    const struct nodeid *id)
{
	uint8_t buf[KBR_MAX_MSG];
	int n = kbr_wire_encode(m, buf, sizeof(buf));

	if (n <= 0)
		return;
	(void)kbr_session_send(k->sess, now, id, to, buf, (size_t)n);
}

/* How long the first attempt of a request to id (NULL: known by address only) waits (see
 * kbr_params). */
static unsigned
first_wait(struct kbr *k, uint64_t now, const struct nodeid *id)
{
	unsigned lo = k->p.rpc_timeout_min_ms, hi = k->p.rpc_timeout_ms, t;
	const struct kbr_rtt *est;

	if (id == NULL)
		return hi;	/* an identity and a handshake to find out first */
	est = kbr_session_rtt(k->sess, id);
	if (kbr_session_established(k->sess, id, now)) {
		if (est != NULL && est->valid)
			return kbr_rtt_timeout(est, lo, hi);
		return kbr_rtt_timeout(&k->rtt, lo, hi);
	}
	/* a handshake's round trip comes first: one more SRTT */
	est = est != NULL && est->valid ? est : &k->rtt;
	if (!est->valid)
		return hi;
	t = kbr_rtt_timeout(est, lo, hi) + kbr_rtt_srtt(est);
	return t > hi ? hi : t;
}

unsigned
kbr_request_wait(struct kbr *k, uint64_t now, const struct nodeid *id)
{
	return first_wait(k, now, id);
}

static void
send_request(struct kbr *k, uint64_t now, struct rpc *r)
{
	struct kbr_msg m;

	memset(&m, 0, sizeof(m));
	r->prev_tid = r->tid;
	r->tid = random64(k);
	if (r->tries == 0) {
		r->wait = first_wait(k, now, r->id_known ? &r->id : NULL);
		r->sent_at = now;
		r->sample = r->id_known && kbr_session_established(k->sess, &r->id, now);
	} else {
		r->wait = r->wait >= k->p.rpc_timeout_ms / 2 ? k->p.rpc_timeout_ms : 2 * r->wait;
		r->sample = false;	/* Karn: a retried request times nothing */
	}
	r->deadline = now + r->wait;
	r->tries++;
	m.type = r->req_type;
	m.tid = r->tid;
	if (r->purpose == RPC_APP) {
		m.u.app.data = r->body;
		m.u.app.len = r->body_len;
	} else if (r->req_type == KBR_FIND_NODE) {
		m.u.find.target = r->target;
		m.u.find.count = (uint8_t)(k->p.k < KBR_MAX_NODES ? k->p.k : KBR_MAX_NODES);
	}
	send_msg(k, now, &m, &r->to, r->id_known ? &r->id : NULL);
}

static struct rpc *
rpc_find_id(struct kbr *k, const struct nodeid *id, uint8_t purpose)
{
	for (size_t i = 0; i < k->nrpcs; i++)
		if (k->rpcs[i].id_known && k->rpcs[i].purpose == purpose &&
		    nodeid_eq(&k->rpcs[i].id, id))
			return &k->rpcs[i];
	return NULL;
}

/* Starts an RPC (PING or FIND_NODE). id may be NULL for a bootstrap PING. */
static int
rpc_start(struct kbr *k, uint64_t now, uint8_t purpose, uint8_t type,
    const struct kbr_addr *to, const struct nodeid *id, const struct nodeid *target,
    uint64_t gen, unsigned path)
{
	struct rpc *r;

	if (k->nrpcs == k->rpc_cap) {
		size_t cap = k->rpc_cap ? k->rpc_cap * 2 : 16;
		struct rpc *n;

		if (k->rpc_cap >= KBR_MAX_RPCS)
			return -EBUSY;
		if (cap > KBR_MAX_RPCS)
			cap = KBR_MAX_RPCS;
		n = realloc(k->rpcs, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		k->rpcs = n;
		k->rpc_cap = cap;
	}
	r = &k->rpcs[k->nrpcs++];
	memset(r, 0, sizeof(*r));
	r->purpose = purpose;
	r->req_type = type;
	r->to = *to;
	if (id != NULL) {
		r->id = *id;
		r->id_known = true;
	}
	if (target != NULL)
		r->target = *target;
	r->lookup_gen = gen;
	r->path = path;
	if (purpose != RPC_APP)
		send_request(k, now, r);
	return 0;
}

/* Takes RPC i out of the table; its body (if any) now belongs to the caller. */
static void
rpc_remove(struct kbr *k, size_t i)
{
	k->rpcs[i] = k->rpcs[--k->nrpcs];
}

int
kbr_app_request(struct kbr *k, uint64_t now, const struct kbr_contact *to, uint8_t type,
    const uint8_t *body, size_t len, kbr_app_cb cb, void *arg)
{
	struct rpc *r;
	uint8_t *copy;
	int err;

	k->now = now;
	if (to == NULL || cb == NULL || type < KBR_APP_MIN || type > KBR_APP_MAX ||
	    (type & 1) == 0 || len > KBR_MAX_APP_BODY || (body == NULL && len > 0) ||
	    nodeid_eq(&to->id, &k->self->id))
		return -EINVAL;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(copy, body, len);
	err = rpc_start(k, now, RPC_APP, type, &to->addr, &to->id, NULL, 0, 0);
	if (err != 0) {
		free(copy);
		return err;
	}
	r = &k->rpcs[k->nrpcs - 1];
	r->body = copy;
	r->body_len = (uint16_t)len;
	r->cb = cb;
	r->cb_arg = arg;
	k->stats.app_requests_out++;
	send_request(k, now, r);
	return 0;
}

/* ---- lookups ---- */

static struct lookup_slot *
lookup_by_gen(struct kbr *k, uint64_t gen)
{
	for (size_t i = 0; i < KBR_MAX_LOOKUPS; i++)
		if (k->lookups[i].l != NULL && k->lookups[i].gen == gen)
			return &k->lookups[i];
	return NULL;
}

static void refresh_far_buckets(struct kbr *k, uint64_t now);

/* Sends what the lookup wants sent; completes it when it is done. */
static void
lookup_pump(struct kbr *k, uint64_t now, struct lookup_slot *s)
{
	struct kbr_lookup_query q[KBR_MAX_D * KBR_MAX_ALPHA];
	size_t n;

	/* A query that cannot be sent fails at once, which may free a slot for another:
	 * ask again until the lookup has nothing more to send. */
	while ((n = kbr_lookup_next(s->l, q, sizeof(q) / sizeof(q[0]))) > 0) {
		size_t failed = 0;

		for (size_t i = 0; i < n; i++) {
			if (rpc_start(k, now, RPC_LOOKUP, KBR_FIND_NODE, &q[i].contact.addr,
			    &q[i].contact.id, kbr_lookup_target(s->l), s->gen, q[i].path) != 0) {
				kbr_lookup_failed(s->l, q[i].path, &q[i].contact.id);
				failed++;
			}
		}
		if (failed == 0)
			break;
	}
	if (!kbr_lookup_done(s->l))
		return;

	struct kbr_contact res[KBR_MAX_S];
	struct kbr_lookup *l = s->l;
	struct nodeid target = *kbr_lookup_target(l);
	size_t nres = kbr_lookup_result(l, res, k->p.s);
	struct kbr_lookup_stats st;

	kbr_lookup_stats(l, &st);
	kbr_lookup_cb cb = s->cb;
	void *arg = s->arg;
	uint8_t purpose = s->purpose;

	/* free the slot first: the callback may start another lookup */
	s->l = NULL;
	kbr_lookup_free(l);
	k->stats.lookups_done++;
	if (purpose == LOOKUP_JOIN)
		refresh_far_buckets(k, now);
	if (cb != NULL)
		cb(arg, &target, res, nres, &st);
}

/* The k contacts closest to target that are not known to have failed (those only if
 * there are no others). */
static size_t
lookup_initial(struct kbr *k, const struct nodeid *target, struct kbr_contact *out)
{
	struct kbr_contact c[2 * KBR_MAX_K];
	size_t n = kbr_table_closest(k->table, target, c, 2 * k->p.k), got = 0;

	for (size_t i = 0; i < n && got < k->p.k; i++)
		if (c[i].fails == 0)
			out[got++] = c[i];
	for (size_t i = 0; i < n && got == 0 && i < k->p.k; i++)
		out[i] = c[i];
	return got > 0 ? got : (n < k->p.k ? n : k->p.k);
}

static int
lookup_begin(struct kbr *k, uint64_t now, const struct nodeid *target, uint8_t purpose,
    const struct kbr_lookup_opts *o, kbr_lookup_cb cb, void *arg)
{
	struct kbr_contact init[KBR_MAX_K];
	struct lookup_slot *s = NULL;
	size_t n;

	for (size_t i = 0; i < KBR_MAX_LOOKUPS; i++) {
		if (k->lookups[i].l == NULL) {
			s = &k->lookups[i];
			break;
		}
	}
	if (o != NULL && (o->want < 1 || o->want > k->p.s))
		return -EINVAL;
	/* no slot, or no room for its first requests: the caller hears it now, rather than
	 * get an empty result from a lookup that could ask nobody */
	if (s == NULL || k->nrpcs + (size_t)k->p.d * k->p.alpha > KBR_MAX_RPCS)
		return -EBUSY;
	n = lookup_initial(k, target, init);
	s->l = kbr_lookup_new(target, &k->p, &k->self->id, init, n);
	if (s->l == NULL)
		return -ENOMEM;
	(void)kbr_lookup_want(s->l, o != NULL ? o->want : k->p.s);
	/* a join asks widely: the nodes around the new one must all learn of it */
	if (purpose == LOOKUP_JOIN)
		(void)kbr_lookup_window(s->l, k->p.k);
	s->gen = ++k->next_gen;
	s->purpose = purpose;
	s->cb = cb;
	s->progress = o != NULL ? o->progress : NULL;
	s->arg = arg;
	k->stats.lookups_started++;
	lookup_pump(k, now, s);
	return 0;
}

int
kbr_lookup_start(struct kbr *k, uint64_t now, const struct nodeid *target, kbr_lookup_cb cb,
    void *arg)
{
	k->now = now;
	return lookup_begin(k, now, target, LOOKUP_USER, NULL, cb, arg);
}

int
kbr_lookup_start_opts(struct kbr *k, uint64_t now, const struct nodeid *target,
    const struct kbr_lookup_opts *o, kbr_lookup_cb cb, void *arg)
{
	k->now = now;
	return lookup_begin(k, now, target, LOOKUP_USER, o, cb, arg);
}

static void
refresh_bucket(struct kbr *k, uint64_t now, unsigned i)
{
	uint8_t rnd[NODEID_LEN];
	struct nodeid target;

	k->io.random(k->io.arg, rnd, sizeof(rnd));
	kbr_table_bucket_random_id(k->table, i, rnd, &target);
	(void)lookup_begin(k, now, &target, LOOKUP_REFRESH, NULL, NULL, NULL);
}

/* After the join lookup: refresh every bucket farther away than the closest neighbour. */
static void
refresh_far_buckets(struct kbr *k, uint64_t now)
{
	struct kbr_contact closest;
	unsigned limit;

	if (kbr_table_closest(k->table, &k->self->id, &closest, 1) == 0)
		return;
	limit = kbr_table_bucket_of(k->table, &closest.id);
	for (unsigned i = 0; i < limit; i++)
		refresh_bucket(k, now, i);
}

/* ---- handling verified messages ---- */

static void
table_seen(struct kbr *k, uint64_t now, const struct nodeid *id, const struct kbr_addr *addr)
{
	struct kbr_contact stale;
	int r = kbr_table_update(k->table, id, addr, now, &stale);

	/* A full bucket: its least recently seen entry is asked whether it is still there,
	 * unless it was heard from recently enough to be presumed alive. */
	if (r == KBR_TABLE_PENDING && stale.last_seen + k->p.refresh_ms / 4 < now &&
	    rpc_find_id(k, &stale.id, RPC_STALE) == NULL)
		(void)rpc_start(k, now, RPC_STALE, KBR_PING, &stale.addr, &stale.id, NULL, 0, 0);
}

static void
handle_request(struct kbr *k, uint64_t now, const struct kbr_msg *m, const struct kbr_addr *from)
{
	struct kbr_msg reply;
	struct kbr_contact known;

	memset(&reply, 0, sizeof(reply));
	reply.tid = m->tid;
	if (k->io.intercept != NULL && k->io.intercept(k->io.arg, now, m, from, &reply)) {
		if (reply.type != 0)
			send_msg(k, now, &reply, from, &m->sender);
		return;
	}
	switch (m->type) {
	case KBR_PING:
		reply.type = KBR_PONG;
		reply.u.observed = *from;
		break;
	case KBR_FIND_NODE: {
		size_t want = m->u.find.count < k->p.k ? m->u.find.count : k->p.k;

		reply.type = KBR_NODES;
		reply.u.nodes.count = (uint8_t)kbr_table_closest(k->table, &m->u.find.target,
		    reply.u.nodes.nodes, want);
		break;
	}
	default: {
		/* an application request: the layer above answers it */
		uint8_t answer[KBR_MAX_APP_BODY];
		size_t alen = sizeof(answer);
		struct kbr_contact c;

		memset(&c, 0, sizeof(c));
		c.id = m->sender;
		c.addr = *from;
		k->stats.app_requests_in++;
		reply.type = 0;
		if (k->io.app_request != NULL)
			reply.type = k->io.app_request(k->io.arg, now, &c, m->type, m->u.app.data,
			    m->u.app.len, answer, &alen);
		if (reply.type == m->type + 1 && alen <= sizeof(answer)) {
			reply.u.app.data = answer;
			reply.u.app.len = alen;
			send_msg(k, now, &reply, from, &m->sender);
		}
		goto admit;
	}
	}
	send_msg(k, now, &reply, from, &m->sender);
admit:

	/* The session proved the sender's key and that it receives at `from`: a known contact
	 * is seen (and follows its address), a stranger enters the table if its bucket has
	 * room. A full bucket keeps its long-lived entries and does not even ask them: only
	 * nodes we asked (replies) may wait as replacements. */
	if (kbr_table_find(k->table, &m->sender, &known) == 0 ||
	    kbr_table_has_room(k->table, &m->sender))
		table_seen(k, now, &m->sender, from);
}

/* A NODES reply names a contact of ours at another address: it may have moved. The hint
 * is not trusted; a PING to the new address moves the contact only if the node itself
 * answers from there with a signed PONG. */
static void
check_moved_contacts(struct kbr *k, uint64_t now, const struct kbr_msg *m)
{
	unsigned pinged = 0;

	for (unsigned i = 0; i < m->u.nodes.count && pinged < MAX_MOVED_PINGS; i++) {
		const struct kbr_contact *c = &m->u.nodes.nodes[i];
		struct kbr_contact known;

		if (kbr_table_find(k->table, &c->id, &known) != 0 ||
		    kbr_addr_eq(&known.addr, &c->addr) || rpc_find_id(k, &c->id, RPC_ADMIT) != NULL)
			continue;
		(void)rpc_start(k, now, RPC_ADMIT, KBR_PING, &c->addr, &c->id, NULL, 0, 0);
		pinged++;
	}
}

static void
handle_reply(struct kbr *k, uint64_t now, const struct kbr_msg *m, const struct kbr_addr *from)
{
	struct rpc r;
	size_t i;

	for (i = 0; i < k->nrpcs; i++)
		if (k->rpcs[i].tid == m->tid ||
		    (k->rpcs[i].tries > 1 && k->rpcs[i].prev_tid == m->tid))
			break;
	if (i == k->nrpcs) {
		k->stats.dropped_unsolicited++;
		return;
	}
	r = k->rpcs[i];
	if ((r.req_type == KBR_PING && m->type != KBR_PONG) ||
	    (r.req_type == KBR_FIND_NODE && m->type != KBR_NODES) ||
	    (r.purpose == RPC_APP && m->type != r.req_type + 1) ||
	    (r.id_known && !nodeid_eq(&r.id, &m->sender)) ||
	    (!r.id_known && !kbr_addr_eq(&r.to, from))) {
		k->stats.dropped_unsolicited++;
		return;
	}
	rpc_remove(k, i);	/* a reply is accepted once: replays find no RPC */

	if (r.sample && r.tid == m->tid) {
		struct kbr_rtt *est = kbr_session_rtt(k->sess, &m->sender);
		uint64_t ms = now > r.sent_at ? now - r.sent_at : 0;

		if (est != NULL)
			kbr_rtt_sample(est, ms);
		kbr_rtt_sample(&k->rtt, ms);
	}
	table_seen(k, now, &m->sender, from);
	if (r.purpose == RPC_APP) {
		struct kbr_contact c;

		memset(&c, 0, sizeof(c));
		c.id = m->sender;
		c.addr = *from;
		r.cb(r.cb_arg, 0, &c, m->type, m->u.app.data, m->u.app.len);
		free(r.body);
		return;
	}
	if (m->type == KBR_PONG) {
		k->observed = m->u.observed;
		if (r.purpose == RPC_BOOTSTRAP && !k->joined) {
			k->joined = true;
			(void)lookup_begin(k, now, &k->self->id, LOOKUP_JOIN, NULL, NULL, NULL);
		}
		return;
	}
	check_moved_contacts(k, now, m);
	if (r.purpose == RPC_LOOKUP) {
		struct lookup_slot *s = lookup_by_gen(k, r.lookup_gen);

		if (s == NULL)
			return;
		/* the node answered where its session has it, which need not be where it was
		 * asked (a message that waited for a handshake goes to the proven address) */
		(void)kbr_lookup_answered_from(s->l, r.path, &m->sender, from);
		kbr_lookup_reply(s->l, r.path, &m->sender, m->u.nodes.nodes, m->u.nodes.count);
		if (s->progress != NULL) {
			struct kbr_contact c;

			memset(&c, 0, sizeof(c));
			c.id = m->sender;
			c.addr = *from;
			s->progress(s->arg, kbr_lookup_target(s->l), &c, m->u.nodes.nodes,
			    m->u.nodes.count);
		}
		/* the progress callback may not end the lookup, but may start others */
		if ((s = lookup_by_gen(k, r.lookup_gen)) != NULL)
			lookup_pump(k, now, s);
	}
}

static bool
is_app(uint8_t type)
{
	return type >= KBR_APP_MIN && type <= KBR_APP_MAX;
}

/* Requests: PING, FIND_NODE and the odd application types; answers are the rest. */
static bool
is_request(uint8_t type)
{
	return type == KBR_PING || type == KBR_FIND_NODE || (is_app(type) && (type & 1));
}

/* A sealed message from a session: decoded and handled. */
static void
on_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *buf, size_t len)
{
	struct kbr *k = arg;
	struct kbr_msg m;

	if (kbr_wire_decode(&m, buf, len) != 0) {
		k->stats.dropped_malformed++;
		return;
	}
	m.sender = *peer;
	if (is_request(m.type))
		handle_request(k, now, &m, from);
	else
		handle_reply(k, now, &m, from);
}

static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct kbr *k = arg;

	k->io.send(k->io.arg, to, buf, len);
}

static void
on_random(void *arg, void *buf, size_t len)
{
	struct kbr *k = arg;

	k->io.random(k->io.arg, buf, len);
}

void
kbr_input(struct kbr *k, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from)
{
	k->now = now;

	k->stats.rx++;
	if (from == NULL || (from->family != KBR_AF_INET && from->family != KBR_AF_INET6) ||
	    buf == NULL || len > KBR_MAX_DATAGRAM) {
		k->stats.dropped_malformed++;
		return;
	}
	if (!kbr_ratelimit_allow(&k->rate, now, from)) {
		k->stats.dropped_rate++;
		return;
	}
	kbr_session_input(k->sess, now, buf, len, from);
}

/* ---- timers ---- */

static void
rpc_failed(struct kbr *k, uint64_t now, const struct rpc *r)
{
	k->stats.rpcs_timed_out++;
	switch (r->purpose) {
	case RPC_LOOKUP: {
		struct lookup_slot *s = lookup_by_gen(k, r->lookup_gen);

		(void)kbr_table_failed(k->table, &r->id, k->p.max_fails);
		if (s != NULL) {
			kbr_lookup_failed(s->l, r->path, &r->id);
			lookup_pump(k, now, s);
		}
		break;
	}
	case RPC_STALE:
		/* it had its retries: the newcomer waiting in the replacement cache wins */
		(void)kbr_table_failed(k->table, &r->id, 1);
		break;
	case RPC_USER_PING:
		if (r->id_known)
			(void)kbr_table_failed(k->table, &r->id, k->p.max_fails);
		break;
	case RPC_APP: {
		struct kbr_contact c;

		(void)kbr_table_failed(k->table, &r->id, k->p.max_fails);
		memset(&c, 0, sizeof(c));
		c.id = r->id;
		c.addr = r->to;
		r->cb(r->cb_arg, -ETIMEDOUT, &c, 0, NULL, 0);
		free(r->body);
		break;
	}
	default:
		break;
	}
}

static void
maintenance(struct kbr *k, uint64_t now)
{
	unsigned started = 0, nb = kbr_table_bucket_count(k->table);

	/* Until a bootstrap node answered, keep asking them, even when others have found
	 * us meanwhile (those may be as new to the overlay as we are). */
	if (kbr_table_size(k->table) == 0 || !k->joined) {
		for (size_t i = 0; i < k->nbootstrap; i++)
			(void)rpc_start(k, now, RPC_BOOTSTRAP, KBR_PING, &k->bootstrap[i], NULL,
			    NULL, 0, 0);
	}
	if (kbr_table_size(k->table) > 0) {
		for (unsigned i = 0; i < nb && started < MAINTENANCE_REFRESHES; i++) {
			uint64_t oldest = kbr_table_bucket_last_seen(k->table, i);

			if (kbr_table_bucket_size(k->table, i) > 0 &&
			    oldest + k->p.refresh_ms < now) {
				refresh_bucket(k, now, i);
				started++;
			}
		}
	}
}

uint64_t
kbr_tick(struct kbr *k, uint64_t now)
{
	uint64_t next;

	k->now = now;

	for (size_t i = 0; i < k->nrpcs;) {
		struct rpc *r = &k->rpcs[i];

		if (r->deadline > now) {
			i++;
			continue;
		}
		/* A lookup may have ended without this request (not waited for): it still runs
		 * its course, so that a late answer still refreshes the table and a node that
		 * is gone still counts as failed there. */
		/* the node a lookup looks for gets one attempt more: it is the answer */
		if (r->tries <= k->p.rpc_retries + (r->purpose == RPC_LOOKUP && r->id_known &&
		    nodeid_eq(&r->id, &r->target))) {
			bool soft = r->tries == 1 && r->purpose == RPC_LOOKUP;
			/* a peer in session is waited for (its datagram may have been lost); a
			 * node that never completed a handshake with us is most likely gone */
			bool wait = r->id_known && kbr_session_established(k->sess, &r->id, now);
			uint64_t gen = r->lookup_gen;
			unsigned path = r->path;
			struct nodeid id = r->id;
			struct lookup_slot *s;

			/* no answer: the retry goes over a new session, in case the peer lost
			 * the old one (a restart) */
			if (r->id_known)
				kbr_session_suspect(k->sess, &r->id);
			send_request(k, now, r);
			i++;
			/* the soft timeout: the path asks its next candidate meanwhile (new
			 * RPCs go at the end and are not due) */
			if (soft && (s = lookup_by_gen(k, gen)) != NULL &&
			    kbr_lookup_slow(s->l, path, &id, wait) == 0) {
				k->stats.rpcs_slow++;
				lookup_pump(k, now, s);
			}
			continue;
		}
		struct rpc dead = *r;

		rpc_remove(k, i);
		rpc_failed(k, now, &dead);	/* may add RPCs at the end: they are not due */
	}
	if (now >= k->next_maintenance) {
		maintenance(k, now);
		k->next_maintenance = now + k->p.refresh_ms / 4;
	}
	next = k->next_maintenance;
	{
		uint64_t t = kbr_session_tick(k->sess, now);

		if (t < next)
			next = t;
	}
	for (size_t i = 0; i < k->nrpcs; i++)
		if (k->rpcs[i].deadline < next)
			next = k->rpcs[i].deadline;
	return next;
}

/* ---- setup and accessors ---- */

struct kbr *
kbr_new(const struct kbr_params *p, const struct identity *self, const struct kbr_io *io)
{
	struct kbr *k;

	if (p == NULL || self == NULL || io == NULL || io->send == NULL || io->random == NULL ||
	    kbr_params_check(p) != 0)
		return NULL;
	if (identity_check(self->pub, ID_PUBKEY_LEN, &self->id, &self->nonce, p->c1, p->c2) != 0)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->p = *p;
	k->self = self;
	k->io = *io;
	k->table = kbr_table_new(&self->id, p);
	if (k->table == NULL) {
		free(k);
		return NULL;
	}
	kbr_ratelimit_init(&k->rate, p->rate_per_source, p->rate_total, p->rate_sources);
	{
		struct kbr_session_cfg sc;
		struct kbr_session_io sio = {.arg = k, .send = on_send, .random = on_random,
		    .deliver = on_deliver};

		kbr_session_cfg_default(&sc);
		sc.c1 = p->c1;
		sc.c2 = p->c2;
		sc.window_ms = p->msg_window_ms;
		sc.max_peers = p->sessions;
		sc.max_halfopen = p->halfopen;
		sc.hs_per_source = p->handshakes_per_source;
		sc.hs_total = p->handshakes_total;
		sc.rekey_after_ms = p->rekey_ms;
		sc.crypto = p->crypto;
		k->sess = kbr_sessions_new(&sc, self, &sio, &k->stats, 0);
	}
	if (k->sess == NULL) {
		kbr_ratelimit_free(&k->rate);
		kbr_table_free(k->table);
		free(k);
		return NULL;
	}
	return k;
}

void
kbr_free(struct kbr *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < KBR_MAX_LOOKUPS; i++)
		kbr_lookup_free(k->lookups[i].l);
	kbr_table_free(k->table);
	for (size_t i = 0; i < k->nrpcs; i++)
		free(k->rpcs[i].body);
	free(k->rpcs);
	kbr_sessions_free(k->sess);
	kbr_ratelimit_free(&k->rate);
	free(k);
}

int
kbr_bootstrap(struct kbr *k, uint64_t now, const struct kbr_addr *addr)
{
	k->now = now;
	if (addr == NULL || (addr->family != KBR_AF_INET && addr->family != KBR_AF_INET6))
		return -EINVAL;
	if (k->nbootstrap < MAX_BOOTSTRAP) {
		bool dup = false;

		for (size_t i = 0; i < k->nbootstrap; i++)
			dup = dup || kbr_addr_eq(&k->bootstrap[i], addr);
		if (!dup)
			k->bootstrap[k->nbootstrap++] = *addr;
	}
	return rpc_start(k, now, RPC_BOOTSTRAP, KBR_PING, addr, NULL, NULL, 0, 0);
}

int
kbr_add_contact(struct kbr *k, uint64_t now, const struct nodeid *id,
    const struct kbr_addr *addr)
{
	return kbr_table_update(k->table, id, addr, now, NULL);
}

int
kbr_ping(struct kbr *k, uint64_t now, const struct kbr_addr *addr)
{
	k->now = now;
	if (addr == NULL || (addr->family != KBR_AF_INET && addr->family != KBR_AF_INET6))
		return -EINVAL;
	return rpc_start(k, now, RPC_USER_PING, KBR_PING, addr, NULL, NULL, 0, 0);
}

uint64_t
kbr_now(const struct kbr *k)
{
	return k->now;
}

const struct kbr_params *
kbr_get_params(const struct kbr *k)
{
	return &k->p;
}

const struct kbr_table *
kbr_get_table(const struct kbr *k)
{
	return k->table;
}

const struct nodeid *
kbr_self_id(const struct kbr *k)
{
	return &k->self->id;
}

void
kbr_get_stats(const struct kbr *k, struct kbr_stats *st)
{
	*st = k->stats;
}

void
kbr_observed_addr(const struct kbr *k, struct kbr_addr *out)
{
	*out = k->observed;
}

size_t
kbr_session_count(const struct kbr *k)
{
	return kbr_sessions_count(k->sess);
}

size_t
kbr_memory(const struct kbr *k)
{
	size_t n = sizeof(*k);

	n += k->rpc_cap * sizeof(struct rpc);
	n += kbr_sessions_memory(k->sess);
	n += kbr_ratelimit_memory(&k->rate);
	/* the table's contacts (buckets, siblings and replacements, approximately) */
	n += kbr_table_size(k->table) * sizeof(struct kbr_contact);
	for (unsigned i = 0; i < kbr_table_bucket_count(k->table); i++)
		n += kbr_table_replacement_count(k->table, i) * sizeof(struct kbr_contact);
	return n;
}
