/* Sessions: the handshake state machine, sealing and opening, replay windows, address
 * validation and the bounded tables they live in. See kbr/session.h and doc/protocol.md.
 *
 * Timers (kbr_session_tick, at most once a second while anything is pending):
 *   cookie secret   changes every KBR_COOKIE_ROTATE_MS.
 *   handshakes      an initiator's unanswered handshake is dropped, with the messages
 *                   waiting for it, after KBR_HS_GIVEUP_MS; a responder's half-open one
 *                   after KBR_HALFOPEN_MS; a HELLO after KBR_HS_GIVEUP_MS.
 *   challenges      a held datagram whose address did not answer is dropped after
 *                   KBR_HALFOPEN_MS.
 * Session keys expire lazily: a session past rekey_after_ms starts a new handshake when it
 * is next used, and past rekey_after_ms + KBR_REJECT_AFTER_MS_EXTRA it is not used. */
#include "kbr/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbr/cookie.h"
#include "kbr/guard.h"
#include "kbr/kbr.h"
#include "kbr/suite.h"
#include "kbr/wire.h"

static const char CTX_INIT[] = "p2pns hs init v2";
static const char CTX_RESP[] = "p2pns hs resp v2";
static const char CTX_KEYS[] = "p2pns keys v2";
#define CTX_LEN(c) (sizeof(c) - 1)

/* a session seals at most this many messages, far below the nonce's range */
#define REJECT_AFTER_MSGS_HARD (UINT64_C(1) << 40)

enum {
	SWEEP_MS = 1000,
	HMAP_MIN = 64,
};

struct window {
	uint64_t top;				/* highest counter seen + 1 */
	uint64_t bits[KBR_SESSION_WINDOW / 64];
};

struct keypair {
	uint32_t index;				/* ours (0: slot unused) */
	uint32_t remote;			/* the peer's */
	uint8_t send_key[KBR_KEY_LEN], recv_key[KBR_KEY_LEN];
	uint64_t send_counter;
	uint64_t created;
	bool initiator;
	struct window w;
};

struct queued {
	uint16_t len;
	uint8_t msg[KBR_MAX_MSG];
};

struct handshake {				/* ours, as initiator */
	uint32_t index;
	uint8_t eph[SUITE_X25519_LEN];		/* private */
	uint8_t init[KBR_INIT_LEN];		/* as sent, for a resend with a cookie */
	struct kbr_addr to;
	uint64_t started;
	uint64_t resend_at;			/* the next copy of the HS_INIT */
	uint8_t resends;
	bool cookie_used;
};

struct peer {
	bool used;
	struct nodeid id;
	struct kbr_addr addr;			/* proven to receive */
	bool have_addr;
	uint64_t last_used;
	uint64_t last_init_ts;			/* newest HS_INIT accepted from it */
	struct keypair kp[2];			/* current, previous */
	struct handshake *hs;
	bool suspect;				/* a request went unanswered */
	bool restart;				/* the next send starts a new handshake */
	uint8_t cookie[KBR_COOKIE_LEN];		/* the peer's cookie for us */
	uint64_t cookie_at;			/* 0: none */
	/* an address that has not answered its challenge yet, and the datagram held */
	struct kbr_addr roam_addr;
	uint64_t roam_token, roam_at;		/* roam_at 0: none */
	struct queued *held;
	struct queued *queue[KBR_SESSION_QUEUE];
	uint8_t nqueue;
	struct kbr_rtt rtt;			/* round trips of requests to it */
};

struct halfopen {				/* a responder's, until the first DATA */
	uint32_t index, remote;
	struct nodeid id;
	struct kbr_addr addr;
	uint8_t send_key[KBR_KEY_LEN], recv_key[KBR_KEY_LEN];
	uint64_t created, init_ts;
	uint8_t h_init[SUITE_SHA256_LEN];	/* of the HS_INIT answered */
	uint8_t resp[KBR_RESP_LEN];		/* the answer, sent again to a copy of it */
};

struct hello {
	uint32_t index;				/* 0: unused */
	struct kbr_addr to;
	uint64_t started;
	struct queued *queue[KBR_SESSION_QUEUE];
	uint8_t nqueue;
};

/* Open addressing from a 64-bit key to a slot; several entries may share a key. */
struct hmap {
	uint64_t *key;
	uint32_t *val;				/* slot + 1; 0: empty */
	size_t cap, n;
};

enum { IDX_PEER = 0, IDX_HALFOPEN = 1u << 31 };

struct kbr_sessions {
	struct kbr_session_cfg cfg;
	const struct identity *self;
	struct kbr_session_io io;
	struct kbr_stats *st;
	struct suite_aead *aead;

	struct peer *peers;
	size_t npeers, peer_cap, peers_used;
	struct hmap by_id;			/* SHA-1 prefix of a node ID -> peer slot */
	struct hmap by_index;			/* our index -> peer slot or IDX_HALFOPEN|slot */

	struct halfopen *half;
	size_t half_cap, nhalf;

	uint32_t *hs_slots;			/* peers with a handshake of ours in flight */
	size_t nhs, hs_cap;

	struct hello hellos[KBR_SESSION_HELLOS];
	struct kbr_cookie_checker cookies;
	struct kbr_ratelimit hs_rate;

	size_t pending;				/* handshakes, half-opens, hellos, challenges */
	uint64_t next_sweep;
};

/* ---- small tables ---- */

static size_t
hslot(const struct hmap *h, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 17) & (h->cap - 1);
}

static int
hmap_grow(struct hmap *h)
{
	size_t cap = h->cap ? h->cap * 2 : HMAP_MIN;
	uint64_t *key = calloc(cap, sizeof(*key));
	uint32_t *val = calloc(cap, sizeof(*val));
	struct hmap n = {.key = key, .val = val, .cap = cap, .n = 0};

	if (key == NULL || val == NULL) {
		free(key);
		free(val);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->cap; i++) {
		if (h->val[i] == 0)
			continue;
		size_t j = hslot(&n, h->key[i]);

		while (n.val[j] != 0)
			j = (j + 1) & (cap - 1);
		n.key[j] = h->key[i];
		n.val[j] = h->val[i];
		n.n++;
	}
	free(h->key);
	free(h->val);
	*h = n;
	return 0;
}

static int
hmap_put(struct hmap *h, uint64_t key, uint32_t val)
{
	size_t i;

	if ((h->n + 1) * 2 > h->cap && hmap_grow(h) != 0)
		return -ENOMEM;
	for (i = hslot(h, key); h->val[i] != 0; i = (i + 1) & (h->cap - 1))
		;
	h->key[i] = key;
	h->val[i] = val + 1;
	h->n++;
	return 0;
}

/* The first entry under key for which match says yes; UINT32_MAX if none. */
static uint32_t
hmap_get(const struct hmap *h, uint64_t key, bool (*match)(const void *, uint32_t),
    const void *arg)
{
	if (h->cap == 0)
		return UINT32_MAX;
	for (size_t i = hslot(h, key); h->val[i] != 0; i = (i + 1) & (h->cap - 1))
		if (h->key[i] == key && (match == NULL || match(arg, h->val[i] - 1)))
			return h->val[i] - 1;
	return UINT32_MAX;
}

/* Removes the entry (key, val), shifting later entries of its run back. */
static void
hmap_del(struct hmap *h, uint64_t key, uint32_t val)
{
	size_t i, j;

	if (h->cap == 0)
		return;
	for (i = hslot(h, key); h->val[i] != 0; i = (i + 1) & (h->cap - 1))
		if (h->key[i] == key && h->val[i] == val + 1)
			break;
	if (h->val[i] == 0)
		return;
	h->val[i] = 0;
	h->n--;
	for (j = (i + 1) & (h->cap - 1); h->val[j] != 0; j = (j + 1) & (h->cap - 1)) {
		size_t home = hslot(h, h->key[j]);

		/* move j into the hole at i unless its home lies cyclically in (i, j] */
		if ((i < j) ? (home <= i || home > j) : (home <= i && home > j)) {
			h->key[i] = h->key[j];
			h->val[i] = h->val[j];
			h->val[j] = 0;
			i = j;
		}
	}
}

static void
hmap_free(struct hmap *h)
{
	free(h->key);
	free(h->val);
	memset(h, 0, sizeof(*h));
}

static uint64_t
id_key(const struct nodeid *id)
{
	uint64_t k = 0;

	for (int i = 0; i < 8; i++)
		k = k << 8 | id->b[i];
	return k;
}

struct id_match {
	const struct kbr_sessions *s;
	const struct nodeid *id;
};

static bool
match_id(const void *arg, uint32_t slot)
{
	const struct id_match *m = arg;

	return nodeid_eq(&m->s->peers[slot].id, m->id);
}

/* ---- helpers ---- */

static void
rnd(struct kbr_sessions *s, void *buf, size_t len)
{
	s->io.random(s->io.arg, buf, len);
}

static void
tx(struct kbr_sessions *s, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	s->st->tx++;
	s->io.send(s->io.arg, to, buf, len);
}

static void
queue_clear(struct queued **q, uint8_t *n)
{
	for (uint8_t i = 0; i < *n; i++) {
		suite_wipe(q[i], sizeof(*q[i]));
		free(q[i]);
	}
	*n = 0;
}

/* Appends a copy of msg; a full queue drops its oldest message. */
static int
queue_push(struct queued **q, uint8_t *n, const uint8_t *msg, size_t len)
{
	struct queued *e = malloc(sizeof(*e));

	if (e == NULL)
		return -ENOMEM;
	e->len = (uint16_t)len;
	memcpy(e->msg, msg, len);
	if (*n == KBR_SESSION_QUEUE) {
		free(q[0]);
		memmove(q, q + 1, (KBR_SESSION_QUEUE - 1) * sizeof(*q));
		(*n)--;
	}
	q[(*n)++] = e;
	return 0;
}

/* A fresh index of ours, unused and never 0, mapped to val. */
static int
new_index(struct kbr_sessions *s, uint32_t val, uint32_t *out)
{
	uint32_t idx;

	do
		rnd(s, &idx, sizeof(idx));
	while (idx == 0 || hmap_get(&s->by_index, idx, NULL, NULL) != UINT32_MAX);
	if (hmap_put(&s->by_index, idx, val) != 0)
		return -ENOMEM;
	*out = idx;
	return 0;
}

static void
keypair_clear(struct kbr_sessions *s, struct keypair *kp, uint32_t val)
{
	if (kp->index != 0)
		hmap_del(&s->by_index, kp->index, val);
	suite_wipe(kp, sizeof(*kp));
}

static void
hs_unlist(struct kbr_sessions *s, uint32_t slot)
{
	for (size_t i = 0; i < s->nhs; i++) {
		if (s->hs_slots[i] == slot) {
			s->hs_slots[i] = s->hs_slots[--s->nhs];
			return;
		}
	}
}

/* Frees the peer's handshake; its index goes too unless a session took it (index 0). */
static void
handshake_clear(struct kbr_sessions *s, struct peer *p, uint32_t slot)
{
	if (p->hs == NULL)
		return;
	if (p->hs->index != 0)
		hmap_del(&s->by_index, p->hs->index, slot);
	suite_wipe(p->hs, sizeof(*p->hs));
	free(p->hs);
	p->hs = NULL;
	hs_unlist(s, slot);
	s->pending--;
}

static void
roam_clear(struct kbr_sessions *s, struct peer *p)
{
	if (p->roam_at == 0)
		return;
	p->roam_at = 0;
	if (p->held != NULL) {
		suite_wipe(p->held, sizeof(*p->held));
		free(p->held);
		p->held = NULL;
	}
	s->pending--;
}

static void
peer_clear(struct kbr_sessions *s, uint32_t slot)
{
	struct peer *p = &s->peers[slot];

	if (!p->used)
		return;
	hmap_del(&s->by_id, id_key(&p->id), slot);
	keypair_clear(s, &p->kp[0], slot);
	keypair_clear(s, &p->kp[1], slot);
	handshake_clear(s, p, slot);
	roam_clear(s, p);
	queue_clear(p->queue, &p->nqueue);
	memset(p, 0, sizeof(*p));
	s->peers_used--;
}

static uint32_t
peer_find(const struct kbr_sessions *s, const struct nodeid *id)
{
	struct id_match m = {.s = s, .id = id};

	return hmap_get(&s->by_id, id_key(id), match_id, &m);
}

/* The peer slot of id, made (evicting the least recently used) if there is none. */
static uint32_t
peer_get(struct kbr_sessions *s, uint64_t now, const struct nodeid *id)
{
	uint32_t slot = peer_find(s, id);

	if (slot != UINT32_MAX)
		return slot;
	if (s->npeers < s->peer_cap) {
		slot = (uint32_t)s->npeers;
	} else if (s->peer_cap < s->cfg.max_peers) {
		size_t cap = s->peer_cap ? s->peer_cap * 2 : 16;
		struct peer *n;

		if (cap > s->cfg.max_peers)
			cap = s->cfg.max_peers;
		n = realloc(s->peers, cap * sizeof(*n));
		if (n == NULL)
			return UINT32_MAX;
		memset(n + s->peer_cap, 0, (cap - s->peer_cap) * sizeof(*n));
		s->peers = n;
		s->peer_cap = cap;
		slot = (uint32_t)s->npeers;
	} else {
		uint64_t oldest = UINT64_MAX;

		for (uint32_t i = 0; i < s->npeers; i++) {
			if (!s->peers[i].used) {
				slot = i;
				break;
			}
			if (s->peers[i].last_used < oldest) {
				oldest = s->peers[i].last_used;
				slot = i;
			}
		}
		if (s->peers[slot].used) {
			peer_clear(s, slot);
			s->st->sessions_evicted++;
		}
	}
	if (slot == s->npeers)
		s->npeers++;
	if (hmap_put(&s->by_id, id_key(id), slot) != 0)
		return UINT32_MAX;
	memset(&s->peers[slot], 0, sizeof(s->peers[slot]));
	s->peers[slot].used = true;
	s->peers[slot].id = *id;
	s->peers[slot].last_used = now;
	s->peers_used++;
	return slot;
}

static uint64_t
reject_after(const struct kbr_sessions *s)
{
	return s->cfg.rekey_after_ms + KBR_REJECT_AFTER_MS_EXTRA;
}

static bool
keypair_usable(const struct kbr_sessions *s, const struct keypair *kp, uint64_t now)
{
	return kp->index != 0 && now < kp->created + reject_after(s) &&
	    kp->send_counter < REJECT_AFTER_MSGS_HARD;
}

static bool
keypair_old(const struct kbr_sessions *s, const struct keypair *kp, uint64_t now)
{
	uint64_t age = kp->created + s->cfg.rekey_after_ms +
	    (kp->initiator ? 0 : KBR_REKEY_GRACE_MS);

	return now >= age || kp->send_counter >= s->cfg.rekey_after_msgs;
}

/* ---- replay window: a bitmap of the KBR_SESSION_WINDOW counters up to the highest seen
 * (top - 1); anything older is refused ---- */

static bool
window_ok(const struct window *w, uint64_t c)
{
	/* no sender seals that many (keypair_usable): refused before top could wrap around */
	if (c >= REJECT_AFTER_MSGS_HARD)
		return false;
	if (c >= w->top)
		return true;
	if (c + KBR_SESSION_WINDOW < w->top)
		return false;
	return !(w->bits[(c / 64) % (KBR_SESSION_WINDOW / 64)] & (1ULL << (c % 64)));
}

static void
window_mark(struct window *w, uint64_t c)
{
	if (c >= w->top) {
		if (c - w->top >= KBR_SESSION_WINDOW) {
			memset(w->bits, 0, sizeof(w->bits));
		} else {
			for (uint64_t i = w->top; i <= c; i++)
				w->bits[(i / 64) % (KBR_SESSION_WINDOW / 64)] &= ~(1ULL << (i % 64));
		}
		w->top = c + 1;
	}
	w->bits[(c / 64) % (KBR_SESSION_WINDOW / 64)] |= 1ULL << (c % 64);
}

/* ---- sealing ---- */

/* Seals msg (a sealed message or one of the session's own) in kp and sends it to `to`. */
static int
seal_send(struct kbr_sessions *s, struct keypair *kp, const struct kbr_addr *to,
    const uint8_t *msg, size_t len)
{
	uint8_t buf[KBR_MAX_DATAGRAM];
	uint64_t ctr = kp->send_counter++;

	if (len > KBR_MAX_DATAGRAM - KBR_DATA_OVERHEAD)
		return -EMSGSIZE;
	kbr_pkt_data_header(kp->remote, ctr, buf);
	if (s->cfg.crypto) {
		if (suite_seal(s->aead, kp->send_key, ctr, buf, KBR_DATA_HEADER_LEN, msg, len,
		    buf + KBR_DATA_HEADER_LEN) != 0)
			return -EIO;
	} else {
		memcpy(buf + KBR_DATA_HEADER_LEN, msg, len);
		memset(buf + KBR_DATA_HEADER_LEN + len, 0, KBR_TAG_LEN);
	}
	tx(s, to, buf, KBR_DATA_OVERHEAD + len);
	return 0;
}

static int
send_control(struct kbr_sessions *s, struct keypair *kp, const struct kbr_addr *to,
    uint8_t type, uint64_t tid)
{
	uint8_t msg[KBR_MSG_HEADER_LEN];

	msg[0] = type;
	for (int i = 0; i < 8; i++)
		msg[1 + i] = (uint8_t)(tid >> (56 - 8 * i));
	return seal_send(s, kp, to, msg, sizeof(msg));
}

/* Sends what waited for the session (or a KEEPALIVE, which confirms it to a responder). */
static void
flush_queue(struct kbr_sessions *s, struct peer *p, const struct kbr_addr *to, bool confirm)
{
	if (p->nqueue == 0 && confirm)
		(void)send_control(s, &p->kp[0], to, KBR_KEEPALIVE, 0);
	for (uint8_t i = 0; i < p->nqueue; i++)
		(void)seal_send(s, &p->kp[0], to, p->queue[i]->msg, p->queue[i]->len);
	queue_clear(p->queue, &p->nqueue);
}

/* Makes kp the peer's current session; the current one becomes the previous. */
static void
install(struct kbr_sessions *s, uint32_t slot, const struct keypair *kp)
{
	struct peer *p = &s->peers[slot];

	keypair_clear(s, &p->kp[1], slot);
	p->kp[1] = p->kp[0];
	p->kp[0] = *kp;
	p->suspect = false;
	p->restart = false;
	s->st->handshakes_done++;
}

/* ---- handshake: initiator ---- */

static int
sign_part(struct kbr_sessions *s, const char *ctx, size_t ctxlen, const uint8_t *h,
    size_t hlen, const uint8_t *part, size_t len, uint8_t *sig)
{
	uint8_t buf[64 + SUITE_SHA256_LEN + KBR_INIT_SIGNED_LEN];
	size_t n = 0;

	if (!s->cfg.crypto) {
		memset(sig, 0, ID_SIG_LEN);
		return 0;
	}
	memcpy(buf, ctx, ctxlen);
	n += ctxlen;
	if (hlen > 0)
		memcpy(buf + n, h, hlen);
	n += hlen;
	memcpy(buf + n, part, len);
	n += len;
	return identity_sign(s->self, buf, n, sig);
}

static bool
verify_part(const struct kbr_sessions *s, const uint8_t *pub, const char *ctx, size_t ctxlen,
    const uint8_t *h, size_t hlen, const uint8_t *part, size_t len, const uint8_t *sig)
{
	uint8_t buf[64 + SUITE_SHA256_LEN + KBR_INIT_SIGNED_LEN];
	size_t n = 0;

	if (!s->cfg.crypto)
		return true;
	memcpy(buf, ctx, ctxlen);
	n += ctxlen;
	if (hlen > 0)
		memcpy(buf + n, h, hlen);
	n += hlen;
	memcpy(buf + n, part, len);
	n += len;
	return identity_verify(pub, ID_PUBKEY_LEN, buf, n, sig, ID_SIG_LEN) == 0;
}

/* An ephemeral key pair: the private key from the caller's randomness. */
static int
ephemeral(struct kbr_sessions *s, uint8_t priv[SUITE_X25519_LEN], uint8_t pub[SUITE_X25519_LEN])
{
	rnd(s, priv, SUITE_X25519_LEN);
	if (!s->cfg.crypto) {
		memcpy(pub, priv, SUITE_X25519_LEN);
		return 0;
	}
	return suite_x25519_public(priv, pub);
}

/* The session keys: HKDF over the X25519 secret, salted with the hash of the HS_INIT and
 * bound to the HS_RESP. out: initiator-to-responder key, then responder-to-initiator. */
static int
derive(struct kbr_sessions *s, const uint8_t priv[SUITE_X25519_LEN],
    const uint8_t peer[SUITE_X25519_LEN], const uint8_t h_init[SUITE_SHA256_LEN],
    const uint8_t *resp_signed, uint8_t out[2 * KBR_KEY_LEN])
{
	uint8_t shared[SUITE_X25519_LEN], info[CTX_LEN(CTX_KEYS) + KBR_RESP_SIGNED_LEN];
	int err;

	if (!s->cfg.crypto) {
		memset(out, 0, 2 * KBR_KEY_LEN);
		return 0;
	}
	memcpy(info, CTX_KEYS, CTX_LEN(CTX_KEYS));
	memcpy(info + CTX_LEN(CTX_KEYS), resp_signed, KBR_RESP_SIGNED_LEN);
	err = suite_x25519_shared(priv, peer, shared);
	if (err == 0)
		err = suite_hkdf(h_init, SUITE_SHA256_LEN, shared, sizeof(shared), info,
		    sizeof(info), out, 2 * KBR_KEY_LEN);
	suite_wipe(shared, sizeof(shared));
	return err;
}

static void
handshake_start(struct kbr_sessions *s, uint64_t now, uint32_t slot, const struct kbr_addr *to)
{
	struct peer *p = &s->peers[slot];
	struct kbr_pkt_init in;
	struct handshake *hs;

	handshake_clear(s, p, slot);
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		return;
	memset(&in, 0, sizeof(in));
	if (new_index(s, slot, &hs->index) != 0) {
		free(hs);
		return;
	}
	if (s->nhs == s->hs_cap) {
		size_t cap = s->hs_cap ? s->hs_cap * 2 : 16;
		uint32_t *n = realloc(s->hs_slots, cap * sizeof(*n));

		if (n == NULL) {
			hmap_del(&s->by_index, hs->index, slot);
			free(hs);
			return;
		}
		s->hs_slots = n;
		s->hs_cap = cap;
	}
	s->hs_slots[s->nhs++] = slot;
	p->hs = hs;
	s->pending++;
	if (ephemeral(s, hs->eph, in.eph) != 0) {
		handshake_clear(s, p, slot);
		return;
	}
	in.sender = hs->index;
	in.responder = p->id;
	memcpy(in.pub, s->self->pub, ID_PUBKEY_LEN);
	in.nonce = s->self->nonce;
	in.timestamp = now;
	kbr_pkt_init_encode(&in, hs->init);
	if (sign_part(s, CTX_INIT, CTX_LEN(CTX_INIT), NULL, 0, hs->init, KBR_INIT_SIGNED_LEN,
	    hs->init + KBR_INIT_SIGNED_LEN) != 0) {
		handshake_clear(s, p, slot);
		return;
	}
	hs->to = *to;
	hs->started = now;
	hs->resend_at = now + KBR_HS_RESEND_MS;
	s->st->handshakes_started++;
	if (p->cookie_at != 0 && now < p->cookie_at + KBR_COOKIE_ROTATE_MS) {
		uint8_t buf[KBR_INIT_LEN];

		memcpy(buf, hs->init, KBR_INIT_LEN);
		memcpy(buf + KBR_INIT_HASHED_LEN, p->cookie, KBR_COOKIE_LEN);
		tx(s, to, buf, KBR_INIT_LEN);
		return;
	}
	tx(s, to, hs->init, KBR_INIT_LEN);
}

static bool
identity_ok(const struct kbr_sessions *s, const uint8_t *pub, const struct nodeid *nonce,
    struct nodeid *id)
{
	if (nodeid_sha1(id, pub, ID_PUBKEY_LEN) != 0)
		return false;
	return identity_check(pub, ID_PUBKEY_LEN, id, nonce, s->cfg.c1, s->cfg.c2) == 0;
}

/* The peer whose handshake in flight has our index receiver, or NULL. */
static struct peer *
handshake_of(struct kbr_sessions *s, uint32_t receiver, uint32_t *slot)
{
	*slot = hmap_get(&s->by_index, receiver, NULL, NULL);
	if (*slot == UINT32_MAX || (*slot & IDX_HALFOPEN) || s->peers[*slot].hs == NULL ||
	    s->peers[*slot].hs->index != receiver)
		return NULL;
	return &s->peers[*slot];
}

static void
input_resp(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len)
{
	struct kbr_pkt_resp r;
	uint8_t h_init[SUITE_SHA256_LEN], keys[2 * KBR_KEY_LEN];
	struct keypair kp;
	struct nodeid id;
	uint32_t slot;
	struct peer *p;

	if (kbr_pkt_resp_decode(&r, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	if ((p = handshake_of(s, r.receiver, &slot)) == NULL) {
		s->st->dropped_handshake++;
		return;
	}
	if (!identity_ok(s, r.pub, &r.nonce, &id)) {
		s->st->dropped_puzzle++;
		return;
	}
	if (!nodeid_eq(&id, &p->id)) {
		s->st->dropped_handshake++;
		return;
	}
	suite_sha256(p->hs->init, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, h_init);
	if (!verify_part(s, r.pub, CTX_RESP, CTX_LEN(CTX_RESP), h_init, sizeof(h_init), buf,
	    KBR_RESP_SIGNED_LEN, r.sig)) {
		s->st->dropped_signature++;
		return;
	}
	if (derive(s, p->hs->eph, r.eph, h_init, buf, keys) != 0) {
		s->st->dropped_handshake++;
		return;
	}
	memset(&kp, 0, sizeof(kp));
	kp.index = p->hs->index;
	kp.remote = r.sender;
	memcpy(kp.send_key, keys, KBR_KEY_LEN);
	memcpy(kp.recv_key, keys + KBR_KEY_LEN, KBR_KEY_LEN);
	kp.created = now;
	kp.initiator = true;
	suite_wipe(keys, sizeof(keys));
	/* the index now belongs to the session: take it from the handshake */
	p->hs->index = 0;
	p->addr = p->hs->to;
	p->have_addr = true;
	handshake_clear(s, p, slot);
	install(s, slot, &kp);
	suite_wipe(&kp, sizeof(kp));
	p->last_used = now;
	flush_queue(s, p, &p->addr, true);
}

static void
input_cookie(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len)
{
	struct kbr_pkt_cookie c;
	uint8_t out[KBR_INIT_LEN];
	uint32_t slot;
	struct peer *p;

	if (kbr_pkt_cookie_decode(&c, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	if ((p = handshake_of(s, c.receiver, &slot)) == NULL || p->hs->cookie_used) {
		s->st->dropped_handshake++;
		return;
	}
	memcpy(p->cookie, c.cookie, KBR_COOKIE_LEN);
	p->cookie_at = now;
	p->hs->cookie_used = true;
	memcpy(out, p->hs->init, KBR_INIT_LEN);
	memcpy(out + KBR_INIT_HASHED_LEN, c.cookie, KBR_COOKIE_LEN);
	tx(s, &p->hs->to, out, KBR_INIT_LEN);
}

/* ---- handshake: responder ---- */

static bool
under_load(const struct kbr_sessions *s)
{
	return s->nhalf * 2 >= s->cfg.max_halfopen;
}

/* A slot for a half-open handshake: a free one, else the oldest. */
static uint32_t
halfopen_slot(struct kbr_sessions *s)
{
	uint64_t oldest = UINT64_MAX;
	uint32_t slot = 0;

	if (s->half_cap < s->cfg.max_halfopen && s->nhalf == s->half_cap) {
		size_t cap = s->half_cap ? s->half_cap * 2 : 8;
		struct halfopen *n;

		if (cap > s->cfg.max_halfopen)
			cap = s->cfg.max_halfopen;
		n = realloc(s->half, cap * sizeof(*n));
		if (n != NULL) {
			memset(n + s->half_cap, 0, (cap - s->half_cap) * sizeof(*n));
			s->half = n;
			s->half_cap = cap;
		}
	}
	for (uint32_t i = 0; i < s->half_cap; i++) {
		if (s->half[i].index == 0)
			return i;
		if (s->half[i].created < oldest) {
			oldest = s->half[i].created;
			slot = i;
		}
	}
	return s->half_cap > 0 ? slot : UINT32_MAX;
}

static void
halfopen_clear(struct kbr_sessions *s, uint32_t slot)
{
	struct halfopen *h = &s->half[slot];

	if (h->index == 0)
		return;
	hmap_del(&s->by_index, h->index, IDX_HALFOPEN | slot);
	suite_wipe(h, sizeof(*h));
	s->nhalf--;
	s->pending--;
}

static void
input_init(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from)
{
	struct kbr_pkt_init in;
	struct kbr_pkt_resp r;
	uint8_t h_init[SUITE_SHA256_LEN], keys[2 * KBR_KEY_LEN], eph[SUITE_X25519_LEN];
	uint8_t out[KBR_RESP_LEN];
	struct nodeid id;
	struct halfopen *h;
	uint32_t slot, known;

	if (kbr_pkt_init_decode(&in, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	if (!nodeid_eq(&in.responder, &s->self->id)) {
		s->st->dropped_receiver++;
		return;
	}
	if (in.timestamp + s->cfg.window_ms < now || in.timestamp > now + s->cfg.window_ms) {
		s->st->dropped_time++;
		return;
	}
	if (under_load(s) && !kbr_cookie_valid(&s->cookies, from, in.cookie)) {
		struct kbr_pkt_cookie c = {.receiver = in.sender};
		uint8_t cbuf[KBR_COOKIE_MSG_LEN];

		kbr_cookie_make(&s->cookies, from, c.cookie);
		kbr_pkt_cookie_encode(&c, cbuf);
		s->st->cookies_sent++;
		tx(s, from, cbuf, sizeof(cbuf));
		return;
	}
	if (!kbr_ratelimit_allow(&s->hs_rate, now, from)) {
		s->st->dropped_rate++;
		return;
	}
	if (!identity_ok(s, in.pub, &in.nonce, &id)) {
		s->st->dropped_puzzle++;
		return;
	}
	if (nodeid_eq(&id, &s->self->id)) {
		s->st->dropped_malformed++;
		return;
	}
	/* The same HS_INIT again (our HS_RESP was lost, or it is a replay): from the address
	 * it came from, the same answer once more, no new keys; from anywhere else nothing. */
	for (uint32_t i = 0; i < s->half_cap; i++) {
		struct halfopen *o = &s->half[i];

		if (o->index == 0 || !nodeid_eq(&o->id, &id) || o->init_ts != in.timestamp)
			continue;
		suite_sha256(buf, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, h_init);
		if (kbr_addr_eq(from, &o->addr) && suite_equal(h_init, o->h_init, sizeof(h_init)))
			tx(s, from, o->resp, sizeof(o->resp));
		else
			s->st->dropped_replay++;
		return;
	}
	known = peer_find(s, &id);
	if (known != UINT32_MAX && in.timestamp <= s->peers[known].last_init_ts) {
		s->st->dropped_replay++;
		return;
	}
	if (!verify_part(s, in.pub, CTX_INIT, CTX_LEN(CTX_INIT), NULL, 0, buf,
	    KBR_INIT_SIGNED_LEN, in.sig)) {
		s->st->dropped_signature++;
		return;
	}
	/* one half-open handshake per initiator: a newer HS_INIT replaces it */
	for (uint32_t i = 0; i < s->half_cap; i++) {
		if (s->half[i].index != 0 && nodeid_eq(&s->half[i].id, &id)) {
			if (in.timestamp <= s->half[i].init_ts) {
				s->st->dropped_replay++;
				return;
			}
			halfopen_clear(s, i);
		}
	}
	slot = halfopen_slot(s);
	if (slot == UINT32_MAX)
		return;
	halfopen_clear(s, slot);
	h = &s->half[slot];
	if (new_index(s, IDX_HALFOPEN | slot, &h->index) != 0)
		return;
	s->nhalf++;
	s->pending++;
	memset(&r, 0, sizeof(r));
	r.sender = h->index;
	r.receiver = in.sender;
	memcpy(r.pub, s->self->pub, ID_PUBKEY_LEN);
	r.nonce = s->self->nonce;
	suite_sha256(buf, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, h_init);
	if (ephemeral(s, eph, r.eph) != 0)
		goto fail;
	kbr_pkt_resp_encode(&r, out);
	if (sign_part(s, CTX_RESP, CTX_LEN(CTX_RESP), h_init, sizeof(h_init), out,
	    KBR_RESP_SIGNED_LEN, out + KBR_RESP_SIGNED_LEN) != 0 ||
	    derive(s, eph, in.eph, h_init, out, keys) != 0)
		goto fail;
	h->remote = in.sender;
	h->id = id;
	h->addr = *from;
	memcpy(h->recv_key, keys, KBR_KEY_LEN);
	memcpy(h->send_key, keys + KBR_KEY_LEN, KBR_KEY_LEN);
	h->created = now;
	h->init_ts = in.timestamp;
	memcpy(h->h_init, h_init, sizeof(h_init));
	memcpy(h->resp, out, sizeof(out));
	if (known != UINT32_MAX)
		s->peers[known].last_init_ts = in.timestamp;
	tx(s, from, out, sizeof(out));
	suite_wipe(keys, sizeof(keys));
	suite_wipe(eph, sizeof(eph));
	return;
fail:
	suite_wipe(keys, sizeof(keys));
	suite_wipe(eph, sizeof(eph));
	halfopen_clear(s, slot);
	s->st->dropped_handshake++;
}

/* ---- HELLO and IDENTITY: learning the node ID behind an address ---- */

static void
input_hello(struct kbr_sessions *s, const uint8_t *buf, size_t len, const struct kbr_addr *from)
{
	struct kbr_pkt_hello h;
	struct kbr_pkt_identity id;
	uint8_t out[KBR_IDENTITY_LEN];

	if (kbr_pkt_hello_decode(&h, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	id.receiver = h.sender;
	memcpy(id.pub, s->self->pub, ID_PUBKEY_LEN);
	id.nonce = s->self->nonce;
	kbr_pkt_identity_encode(&id, out);
	tx(s, from, out, sizeof(out));
}

static void
hello_clear(struct kbr_sessions *s, struct hello *h)
{
	if (h->index == 0)
		return;
	queue_clear(h->queue, &h->nqueue);
	memset(h, 0, sizeof(*h));
	s->pending--;
}

static void
send_via_peer(struct kbr_sessions *s, uint64_t now, uint32_t slot, const struct kbr_addr *to,
    const uint8_t *msg, size_t len);

static void
input_identity(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len)
{
	struct kbr_pkt_identity in;
	struct hello *h = NULL;
	struct nodeid id;
	uint32_t slot;

	if (kbr_pkt_identity_decode(&in, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	for (size_t i = 0; i < KBR_SESSION_HELLOS; i++)
		if (s->hellos[i].index != 0 && s->hellos[i].index == in.receiver)
			h = &s->hellos[i];
	if (h == NULL) {
		s->st->dropped_handshake++;
		return;
	}
	if (!identity_ok(s, in.pub, &in.nonce, &id)) {
		s->st->dropped_puzzle++;
		return;
	}
	if (nodeid_eq(&id, &s->self->id)) {
		s->st->dropped_handshake++;
		hello_clear(s, h);
		return;
	}
	slot = peer_get(s, now, &id);
	if (slot == UINT32_MAX) {
		hello_clear(s, h);
		return;
	}
	/* A handshake older than this HELLO went unanswered: the messages go in a new one.
	 * A session we hold may be one the node lost (it restarted at that address): they go
	 * in it and in a new one too. */
	if ((s->peers[slot].hs != NULL && s->peers[slot].hs->started <= h->started) ||
	    s->peers[slot].kp[0].index != 0) {
		s->peers[slot].restart = true;
		s->peers[slot].suspect = s->peers[slot].kp[0].index != 0;
	}
	for (uint8_t i = 0; i < h->nqueue; i++)
		send_via_peer(s, now, slot, &h->to, h->queue[i]->msg, h->queue[i]->len);
	hello_clear(s, h);
}

static int
hello_send(struct kbr_sessions *s, uint64_t now, const struct kbr_addr *to, const uint8_t *msg,
    size_t len)
{
	struct kbr_pkt_hello hp;
	uint8_t out[KBR_HELLO_LEN];
	struct hello *h = NULL, *oldest = NULL;

	for (size_t i = 0; i < KBR_SESSION_HELLOS; i++) {
		struct hello *c = &s->hellos[i];

		if (c->index != 0 && kbr_addr_eq(&c->to, to))
			h = c;
		if (oldest == NULL || c->index == 0 ||
		    (oldest->index != 0 && c->started < oldest->started))
			oldest = c;
	}
	if (h == NULL) {
		h = oldest;
		hello_clear(s, h);
		do
			rnd(s, &h->index, sizeof(h->index));
		while (h->index == 0);
		h->to = *to;
		h->started = now;
		s->pending++;
	} else if (now < h->started + KBR_HS_RETRY_MS) {
		return queue_push(h->queue, &h->nqueue, msg, len);
	}
	h->started = now;
	if (queue_push(h->queue, &h->nqueue, msg, len) != 0)
		return -ENOMEM;
	hp.sender = h->index;
	kbr_pkt_hello_encode(&hp, out);
	tx(s, to, out, sizeof(out));
	return 0;
}

/* ---- DATA ---- */

static void
deliver(struct kbr_sessions *s, uint64_t now, uint32_t slot, struct keypair *kp,
    const struct kbr_addr *from, const uint8_t *pt, size_t len)
{
	struct peer *p = &s->peers[slot];
	uint64_t tid = 0;

	for (int i = 0; i < 8; i++)
		tid = tid << 8 | pt[1 + i];
	switch (pt[0]) {
	case KBR_KEEPALIVE:
		return;
	case KBR_CHALLENGE:
		/* answered where it came from: the answer is no larger than the challenge */
		if (len == KBR_MSG_HEADER_LEN)
			(void)send_control(s, kp, from, KBR_RESPONSE, tid);
		return;
	case KBR_RESPONSE:
		if (len != KBR_MSG_HEADER_LEN || p->roam_at == 0 || tid != p->roam_token ||
		    !kbr_addr_eq(from, &p->roam_addr))
			return;
		p->addr = p->roam_addr;
		p->have_addr = true;
		s->st->roams++;
		if (p->held != NULL) {
			struct queued *held = p->held;
			struct nodeid id = p->id;
			struct kbr_addr addr = p->addr;

			p->held = NULL;
			roam_clear(s, p);
			/* copies: the callback may send, which may move the peer table */
			s->io.deliver(s->io.arg, now, &id, &addr, held->msg, held->len);
			suite_wipe(held, sizeof(*held));
			free(held);
		} else {
			roam_clear(s, p);
		}
		return;
	default:
		break;
	}
	if (p->have_addr && kbr_addr_eq(from, &p->addr)) {
		struct nodeid id = p->id;

		s->io.deliver(s->io.arg, now, &id, from, pt, len);
		return;
	}
	/* a new address: hold the datagram until the address answers a challenge (one
	 * challenge per peer at a time, at most one a KBR_CHALLENGE_MS) */
	if (p->roam_at != 0 && now < p->roam_at + KBR_CHALLENGE_MS) {
		if (kbr_addr_eq(from, &p->roam_addr) && p->held != NULL &&
		    len <= sizeof(p->held->msg)) {
			p->held->len = (uint16_t)len;
			memcpy(p->held->msg, pt, len);
		}
		return;
	}
	roam_clear(s, p);
	p->held = malloc(sizeof(*p->held));
	if (p->held == NULL)
		return;
	p->held->len = (uint16_t)len;
	memcpy(p->held->msg, pt, len);
	p->roam_addr = *from;
	p->roam_at = now;
	s->pending++;
	rnd(s, &p->roam_token, sizeof(p->roam_token));
	s->st->challenges_sent++;
	(void)send_control(s, kp, from, KBR_CHALLENGE, p->roam_token);
}

static int
open_in(struct kbr_sessions *s, const uint8_t key[KBR_KEY_LEN], const uint8_t *buf,
    const struct kbr_pkt_data *d, uint8_t *pt)
{
	size_t n = d->sealed_len - KBR_TAG_LEN;

	if (!s->cfg.crypto) {
		memcpy(pt, d->sealed, n);
		return 0;
	}
	return suite_open(s->aead, key, d->counter, buf, KBR_DATA_HEADER_LEN, d->sealed, n, pt);
}

/* The first DATA of a half-open handshake: the initiator holds the keys and received our
 * HS_RESP at its address. It becomes a session. */
static void
confirm(struct kbr_sessions *s, uint64_t now, uint32_t hslot_, const uint8_t *buf,
    const struct kbr_pkt_data *d, const struct kbr_addr *from)
{
	struct halfopen *h = &s->half[hslot_];
	uint8_t pt[KBR_MAX_MSG];
	struct keypair kp;
	uint32_t slot;
	struct peer *p;
	size_t n = d->sealed_len - KBR_TAG_LEN;
	const struct window fresh = {0};

	if (!window_ok(&fresh, d->counter)) {
		s->st->dropped_replay++;
		return;
	}
	if (open_in(s, h->recv_key, buf, d, pt) != 0) {
		s->st->dropped_tag++;
		return;
	}
	slot = peer_get(s, now, &h->id);
	if (slot == UINT32_MAX)
		return;
	p = &s->peers[slot];
	memset(&kp, 0, sizeof(kp));
	kp.index = h->index;
	kp.remote = h->remote;
	memcpy(kp.send_key, h->send_key, KBR_KEY_LEN);
	memcpy(kp.recv_key, h->recv_key, KBR_KEY_LEN);
	kp.created = h->created;
	window_mark(&kp.w, d->counter);
	p->addr = h->addr;
	p->have_addr = true;
	if (h->init_ts > p->last_init_ts)
		p->last_init_ts = h->init_ts;
	/* the index moves from the half-open table to the peer */
	hmap_del(&s->by_index, h->index, IDX_HALFOPEN | hslot_);
	h->index = 0;
	suite_wipe(h, sizeof(*h));
	s->nhalf--;
	s->pending--;
	if (hmap_put(&s->by_index, kp.index, slot) != 0) {
		suite_wipe(&kp, sizeof(kp));
		return;
	}
	install(s, slot, &kp);
	suite_wipe(&kp, sizeof(kp));
	p->last_used = now;
	/* what waited for a session of our own (both sides started one) goes now */
	if (p->nqueue > 0)
		flush_queue(s, p, &p->addr, false);
	deliver(s, now, slot, &p->kp[0], from, pt, n);
	suite_wipe(pt, n);
}

static void
input_data(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from)
{
	struct kbr_pkt_data d;
	uint8_t pt[KBR_MAX_MSG];
	struct keypair *kp = NULL;
	uint32_t slot;
	struct peer *p;
	size_t n;

	if (kbr_pkt_data_decode(&d, buf, len) != 0) {
		s->st->dropped_malformed++;
		return;
	}
	slot = hmap_get(&s->by_index, d.receiver, NULL, NULL);
	if (slot == UINT32_MAX) {
		s->st->dropped_index++;
		return;
	}
	if (slot & IDX_HALFOPEN) {
		confirm(s, now, slot & ~IDX_HALFOPEN, buf, &d, from);
		return;
	}
	p = &s->peers[slot];
	for (int i = 0; i < 2; i++)
		if (p->kp[i].index == d.receiver)
			kp = &p->kp[i];
	if (kp == NULL) {		/* the handshake's index: no session on it yet */
		s->st->dropped_index++;
		return;
	}
	if (now >= kp->created + reject_after(s)) {
		s->st->dropped_index++;
		return;
	}
	if (!window_ok(&kp->w, d.counter)) {
		s->st->dropped_replay++;
		return;
	}
	n = d.sealed_len - KBR_TAG_LEN;
	if (open_in(s, kp->recv_key, buf, &d, pt) != 0) {
		s->st->dropped_tag++;
		return;
	}
	window_mark(&kp->w, d.counter);
	p->last_used = now;
	p->suspect = false;
	deliver(s, now, slot, kp, from, pt, n);
	suite_wipe(pt, n);
}

void
kbr_session_input(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from)
{
	int type = kbr_wire_packet_type(buf, len);

	switch (type) {
	case KBR_PKT_HELLO:
		input_hello(s, buf, len, from);
		break;
	case KBR_PKT_IDENTITY:
		input_identity(s, now, buf, len);
		break;
	case KBR_PKT_HS_INIT:
		input_init(s, now, buf, len, from);
		break;
	case KBR_PKT_HS_RESP:
		input_resp(s, now, buf, len);
		break;
	case KBR_PKT_COOKIE:
		input_cookie(s, now, buf, len);
		break;
	case KBR_PKT_DATA:
		input_data(s, now, buf, len, from);
		break;
	case -EPROTONOSUPPORT:
		s->st->dropped_version++;
		break;
	default:
		s->st->dropped_malformed++;
		break;
	}
}

/* ---- sending ---- */

static void
send_via_peer(struct kbr_sessions *s, uint64_t now, uint32_t slot, const struct kbr_addr *to,
    const uint8_t *msg, size_t len)
{
	struct peer *p = &s->peers[slot];
	struct keypair *kp = &p->kp[0];

	p->last_used = now;
	/* Only an empty message (a PING) may go to an address of the peer's that has not
	 * proven it receives, to find out whether it moved; anything larger goes where the
	 * peer proved to be. */
	if (p->have_addr && len > KBR_MSG_HEADER_LEN && !kbr_addr_eq(to, &p->addr))
		to = &p->addr;
	if (keypair_usable(s, kp, now)) {
		(void)seal_send(s, kp, to, msg, len);
		if (!p->suspect) {
			if (keypair_old(s, kp, now) && p->hs == NULL)
				handshake_start(s, now, slot, to);
			return;
		}
		/* A request to the peer went unanswered: it may have lost the session (a
		 * restart). The message went in the session; it goes again in a new one. */
	}
	(void)queue_push(p->queue, &p->nqueue, msg, len);
	if (p->hs == NULL || p->restart || now >= p->hs->started + KBR_HS_RETRY_MS ||
	    !kbr_addr_eq(&p->hs->to, to)) {
		p->restart = false;
		handshake_start(s, now, slot, to);
	}
}

int
kbr_session_send(struct kbr_sessions *s, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *to, const uint8_t *msg, size_t len)
{
	uint32_t slot;

	if (to == NULL || msg == NULL || len < KBR_MSG_HEADER_LEN)
		return -EINVAL;
	if (len > KBR_MAX_MSG)
		return -EMSGSIZE;
	if (peer == NULL)
		return hello_send(s, now, to, msg, len);
	if (nodeid_eq(peer, &s->self->id))
		return -EINVAL;
	slot = peer_get(s, now, peer);
	if (slot == UINT32_MAX)
		return -ENOMEM;
	send_via_peer(s, now, slot, to, msg, len);
	return 0;
}

void
kbr_session_suspect(struct kbr_sessions *s, const struct nodeid *peer)
{
	uint32_t slot = peer_find(s, peer);

	if (slot != UINT32_MAX) {
		s->peers[slot].suspect = true;
		s->peers[slot].restart = true;
	}
}

bool
kbr_session_established(const struct kbr_sessions *s, const struct nodeid *peer, uint64_t now)
{
	uint32_t slot = peer_find(s, peer);

	return slot != UINT32_MAX && keypair_usable(s, &s->peers[slot].kp[0], now);
}

struct kbr_rtt *
kbr_session_rtt(struct kbr_sessions *s, const struct nodeid *peer)
{
	uint32_t slot = peer_find(s, peer);

	return slot == UINT32_MAX ? NULL : &s->peers[slot].rtt;
}

/* ---- timers ---- */

uint64_t
kbr_session_tick(struct kbr_sessions *s, uint64_t now)
{
	uint64_t next;

	if (kbr_cookie_due(&s->cookies, now)) {
		uint8_t fresh[KBR_COOKIE_SECRET_LEN];

		rnd(s, fresh, sizeof(fresh));
		kbr_cookie_rotate(&s->cookies, now, fresh);
		suite_wipe(fresh, sizeof(fresh));
	}
	/* our unanswered HS_INITs go again, unchanged, a few times before the handshake is
	 * started anew by the next send */
	for (size_t i = 0; i < s->nhs; i++) {
		struct peer *p = &s->peers[s->hs_slots[i]];
		struct handshake *hs = p->hs;
		uint8_t buf[KBR_INIT_LEN];

		if (hs == NULL || now < hs->resend_at)
			continue;
		if (hs->resends >= KBR_HS_RESENDS) {
			hs->resend_at = UINT64_MAX;
			continue;
		}
		hs->resends++;
		hs->resend_at = now + ((uint64_t)KBR_HS_RESEND_MS << hs->resends);
		memcpy(buf, hs->init, KBR_INIT_LEN);
		if (p->cookie_at != 0 && now < p->cookie_at + KBR_COOKIE_ROTATE_MS)
			memcpy(buf + KBR_INIT_HASHED_LEN, p->cookie, KBR_COOKIE_LEN);
		s->st->handshakes_resent++;
		tx(s, &hs->to, buf, KBR_INIT_LEN);
	}
	if (s->pending > 0 && now >= s->next_sweep) {
		for (uint32_t i = 0; i < s->npeers; i++) {
			struct peer *p = &s->peers[i];

			if (!p->used)
				continue;
			if (p->hs != NULL && now >= p->hs->started + KBR_HS_GIVEUP_MS) {
				handshake_clear(s, p, i);
				queue_clear(p->queue, &p->nqueue);
			}
			if (p->roam_at != 0 && now >= p->roam_at + KBR_HALFOPEN_MS)
				roam_clear(s, p);
		}
		for (uint32_t i = 0; i < s->half_cap; i++)
			if (s->half[i].index != 0 && now >= s->half[i].created + KBR_HALFOPEN_MS)
				halfopen_clear(s, i);
		for (size_t i = 0; i < KBR_SESSION_HELLOS; i++)
			if (s->hellos[i].index != 0 &&
			    now >= s->hellos[i].started + KBR_HS_GIVEUP_MS)
				hello_clear(s, &s->hellos[i]);
		s->next_sweep = now + SWEEP_MS;
	}
	next = s->cookies.rotated + KBR_COOKIE_ROTATE_MS;
	if (s->pending > 0 && s->next_sweep < next)
		next = s->next_sweep > now ? s->next_sweep : now + SWEEP_MS;
	for (size_t i = 0; i < s->nhs; i++) {
		const struct handshake *hs = s->peers[s->hs_slots[i]].hs;

		if (hs != NULL && hs->resend_at < next)
			next = hs->resend_at > now ? hs->resend_at : now + 1;
	}
	return next;
}

/* ---- setup ---- */

void
kbr_session_cfg_default(struct kbr_session_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->c1 = 16;
	c->c2 = 20;
	c->window_ms = 30000;
	c->max_peers = 1024;
	c->max_halfopen = 256;
	c->hs_per_source = 50;
	c->hs_total = 1000;
	c->rekey_after_ms = 600000;
	c->rekey_after_msgs = 1u << 30;
	c->crypto = true;
}

struct kbr_sessions *
kbr_sessions_new(const struct kbr_session_cfg *cfg, const struct identity *self,
    const struct kbr_session_io *io, struct kbr_stats *stats, uint64_t now)
{
	struct kbr_sessions *s;
	uint8_t fresh[KBR_COOKIE_SECRET_LEN];

	if (cfg == NULL || self == NULL || io == NULL || stats == NULL || io->send == NULL ||
	    io->random == NULL || io->deliver == NULL || cfg->max_peers < 2 ||
	    cfg->max_peers > KBR_SESSION_MAX_PEERS || cfg->max_halfopen < 2 ||
	    cfg->max_halfopen > KBR_SESSION_MAX_PEERS || cfg->hs_per_source < 1 ||
	    cfg->hs_total < 1 || cfg->rekey_after_ms < 1000 || cfg->rekey_after_msgs < 1)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = *cfg;
	s->self = self;
	s->io = *io;
	s->st = stats;
	if (cfg->crypto && (s->aead = suite_aead_new()) == NULL) {
		free(s);
		return NULL;
	}
	rnd(s, fresh, sizeof(fresh));
	kbr_cookie_init(&s->cookies, now, fresh);
	suite_wipe(fresh, sizeof(fresh));
	kbr_ratelimit_init(&s->hs_rate, cfg->hs_per_source, cfg->hs_total, 256);
	return s;
}

void
kbr_sessions_free(struct kbr_sessions *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->npeers; i++)
		peer_clear(s, i);
	for (size_t i = 0; i < KBR_SESSION_HELLOS; i++)
		hello_clear(s, &s->hellos[i]);
	if (s->half != NULL)
		suite_wipe(s->half, s->half_cap * sizeof(*s->half));
	free(s->half);
	free(s->hs_slots);
	free(s->peers);
	hmap_free(&s->by_id);
	hmap_free(&s->by_index);
	kbr_cookie_clear(&s->cookies);
	kbr_ratelimit_free(&s->hs_rate);
	suite_aead_free(s->aead);
	free(s);
}

size_t
kbr_sessions_count(const struct kbr_sessions *s)
{
	return s->peers_used;
}

size_t
kbr_sessions_memory(const struct kbr_sessions *s)
{
	size_t n = sizeof(*s) + s->peer_cap * sizeof(struct peer) +
	    s->half_cap * sizeof(struct halfopen) + s->hs_cap * sizeof(uint32_t) +
	    (s->by_id.cap + s->by_index.cap) * (sizeof(uint64_t) + sizeof(uint32_t)) +
	    kbr_ratelimit_memory(&s->hs_rate);

	for (uint32_t i = 0; i < s->npeers; i++) {
		const struct peer *p = &s->peers[i];

		n += p->nqueue * sizeof(struct queued);
		n += p->hs != NULL ? sizeof(struct handshake) : 0;
		n += p->held != NULL ? sizeof(struct queued) : 0;
	}
	for (size_t i = 0; i < KBR_SESSION_HELLOS; i++)
		n += s->hellos[i].nqueue * sizeof(struct queued);
	return n;
}
