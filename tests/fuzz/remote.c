/* The peers a harness plays; see tests/fuzz/remote.h. The signatures follow doc/protocol.md
 * (the ASCII context, then the signed bytes). */
#include "tests/fuzz/remote.h"

#include <stdlib.h>
#include <string.h>

static const char CTX_INIT[] = "p2pns hs init v2";
static const char CTX_RESP[] = "p2pns hs resp v2";
#define CTX_LEN(c) (sizeof(c) - 1)

static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct fuzz_remote *r = arg;

	fuzz_net_push(r->net, &r->addr[r->src], to, buf, len);
}

static void
on_random(void *arg, void *buf, size_t len)
{
	struct fuzz_remote *r = arg;

	fuzz_random(&r->rng, buf, len);
}

static void
on_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct fuzz_remote *r = arg;

	if (r->deliver != NULL)
		r->deliver(r->arg, r, now, peer, from, msg, len);
}

static void
open_sessions(struct fuzz_remote *r, uint64_t now)
{
	struct kbr_session_io io = {.arg = r, .send = on_send, .random = on_random,
	    .deliver = on_deliver};

	r->sess = kbr_sessions_new(&r->cfg, fuzz_peer(r->i), &io, &r->st, now);
	FUZZ_CHECK(r->sess != NULL);
}

void
fuzz_remote_init(struct fuzz_remote *r, unsigned i, const struct kbr_session_cfg *cfg,
    struct fuzz_net *net, const struct nodeid *node, const struct kbr_addr *node_addr,
    uint64_t now)
{
	memset(r, 0, sizeof(*r));
	r->i = i;
	fuzz_peer_addr(i, &r->addr[0]);
	fuzz_alt_addr(i, &r->addr[1]);
	r->node_addr = *node_addr;
	r->node_id = *node;
	r->cfg = *cfg;
	r->net = net;
	r->rng.s = 0x7e00 + i;		/* a stream of its own: no index repeats S's */
	open_sessions(r, now);
}

void
fuzz_remote_free(struct fuzz_remote *r)
{
	kbr_sessions_free(r->sess);
	r->sess = NULL;
}

void
fuzz_remote_restart(struct fuzz_remote *r, uint64_t now)
{
	kbr_sessions_free(r->sess);
	open_sessions(r, now);
}

/* Remembers what a datagram from the node tells, as a peer there would see it. */
static void
learn(struct fuzz_remote *r, unsigned slot, const uint8_t *buf, size_t len)
{
	struct kbr_pkt_hello h;
	struct kbr_pkt_init in;
	struct kbr_pkt_resp resp;
	struct kbr_pkt_cookie c;

	switch (kbr_wire_packet_type(buf, len)) {
	case KBR_PKT_HELLO:
		if (kbr_pkt_hello_decode(&h, buf, len) == 0) {
			r->hello_index = h.sender;
			r->have_hello = true;
		}
		break;
	case KBR_PKT_HS_INIT:
		if (kbr_pkt_init_decode(&in, buf, len) == 0) {
			r->init_index = r->sess_index = in.sender;
			suite_sha256(buf, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, r->init_hash);
			r->have_init = r->have_sess = true;
		}
		break;
	case KBR_PKT_HS_RESP:
		if (kbr_pkt_resp_decode(&resp, buf, len) == 0) {
			r->sess_index = resp.sender;
			r->have_sess = true;
		}
		break;
	case KBR_PKT_COOKIE:
		if (kbr_pkt_cookie_decode(&c, buf, len) == 0) {
			memcpy(r->cookie[slot], c.cookie, KBR_COOKIE_LEN);
			r->have_cookie[slot] = true;
		}
		break;
	default:
		break;
	}
}

void
fuzz_remote_read(struct fuzz_remote *r, uint64_t now, const struct fuzz_dgram *d)
{
	unsigned slot = kbr_addr_eq(&d->to, &r->addr[1]) ? 1 : 0;
	uint8_t *copy = malloc(d->len ? d->len : 1);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, d->b, d->len);
	learn(r, slot, copy, d->len);
	kbr_session_input(r->sess, now, copy, d->len, &d->from);
	free(copy);
}

int
fuzz_remote_send(struct fuzz_remote *r, uint64_t now, bool hello, const uint8_t *msg,
    size_t len)
{
	return kbr_session_send(r->sess, now, hello ? NULL : &r->node_id, &r->node_addr, msg,
	    len);
}

static void
sign(const struct identity *id, const char *ctx, size_t ctxlen, const uint8_t *h,
    size_t hlen, const uint8_t *part, size_t len, uint8_t *sig)
{
	uint8_t m[64 + SUITE_SHA256_LEN + KBR_INIT_SIGNED_LEN];

	memcpy(m, ctx, ctxlen);
	if (hlen > 0)
		memcpy(m + ctxlen, h, hlen);
	memcpy(m + ctxlen + hlen, part, len);
	FUZZ_CHECK(identity_sign(id, m, ctxlen + hlen + len, sig) == 0);
}

/* The length a datagram of type must have (DATA: len within its bounds), or 0. */
static size_t
want_len(uint8_t type, size_t len)
{
	switch (type) {
	case KBR_PKT_HELLO:
		return KBR_HELLO_LEN;
	case KBR_PKT_IDENTITY:
		return KBR_IDENTITY_LEN;
	case KBR_PKT_HS_INIT:
		return KBR_INIT_LEN;
	case KBR_PKT_HS_RESP:
		return KBR_RESP_LEN;
	case KBR_PKT_COOKIE:
		return KBR_COOKIE_MSG_LEN;
	case KBR_PKT_DATA:
		if (len < KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN)
			return KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN;
		if (len > KBR_DATA_OVERHEAD + KBR_MAX_MSG)
			return KBR_DATA_OVERHEAD + KBR_MAX_MSG;
		return len;
	default:
		return 0;
	}
}

size_t
fuzz_remote_stamp(const struct fuzz_remote *r, uint64_t now, unsigned slot, uint8_t *buf,
    size_t len)
{
	const struct identity *id = fuzz_peer(r->i);
	uint8_t type = len >= 2 ? buf[1] : 0;
	size_t want = want_len(type, len);
	union {
		struct kbr_pkt_hello h;
		struct kbr_pkt_identity id;
		struct kbr_pkt_init in;
		struct kbr_pkt_resp resp;
		struct kbr_pkt_cookie c;
	} p;

	if (want == 0 || len > KBR_MAX_DATAGRAM)
		return len;
	if (want > len)
		memset(buf + len, 0, want - len);
	len = want;
	buf[0] = KBR_VERSION;
	buf[2] = buf[3] = 0;
	slot &= 1;
	switch (type) {
	case KBR_PKT_HELLO:
		memset(buf + KBR_PREFIX_LEN + KBR_INDEX_LEN, 0,
		    KBR_HELLO_LEN - KBR_PREFIX_LEN - KBR_INDEX_LEN);
		FUZZ_CHECK(kbr_pkt_hello_decode(&p.h, buf, len) == 0);
		break;
	case KBR_PKT_IDENTITY:
		FUZZ_CHECK(kbr_pkt_identity_decode(&p.id, buf, len) == 0);
		if (r->have_hello)
			p.id.receiver = r->hello_index;
		memcpy(p.id.pub, id->pub, ID_PUBKEY_LEN);
		p.id.nonce = id->nonce;
		kbr_pkt_identity_encode(&p.id, buf);
		break;
	case KBR_PKT_HS_INIT:
		FUZZ_CHECK(kbr_pkt_init_decode(&p.in, buf, len) == 0);
		p.in.responder = r->node_id;
		memcpy(p.in.pub, id->pub, ID_PUBKEY_LEN);
		p.in.nonce = id->nonce;
		p.in.timestamp = now;
		if (r->have_cookie[slot])
			memcpy(p.in.cookie, r->cookie[slot], KBR_COOKIE_LEN);
		kbr_pkt_init_encode(&p.in, buf);
		sign(id, CTX_INIT, CTX_LEN(CTX_INIT), NULL, 0, buf, KBR_INIT_SIGNED_LEN,
		    buf + KBR_INIT_SIGNED_LEN);
		break;
	case KBR_PKT_HS_RESP:
		FUZZ_CHECK(kbr_pkt_resp_decode(&p.resp, buf, len) == 0);
		if (r->have_init)
			p.resp.receiver = r->init_index;
		memcpy(p.resp.pub, id->pub, ID_PUBKEY_LEN);
		p.resp.nonce = id->nonce;
		kbr_pkt_resp_encode(&p.resp, buf);
		sign(id, CTX_RESP, CTX_LEN(CTX_RESP), r->init_hash, SUITE_SHA256_LEN, buf,
		    KBR_RESP_SIGNED_LEN, buf + KBR_RESP_SIGNED_LEN);
		break;
	case KBR_PKT_COOKIE:
		FUZZ_CHECK(kbr_pkt_cookie_decode(&p.c, buf, len) == 0);
		if (r->have_init)
			p.c.receiver = r->init_index;
		kbr_pkt_cookie_encode(&p.c, buf);
		break;
	default: {			/* KBR_PKT_DATA */
		struct kbr_pkt_data d;

		FUZZ_CHECK(kbr_pkt_data_decode(&d, buf, len) == 0);
		kbr_pkt_data_header(r->have_sess ? r->sess_index : d.receiver, d.counter, buf);
		memset(buf + len - KBR_TAG_LEN, 0, KBR_TAG_LEN);
		break;
	}
	}
	return len;
}
