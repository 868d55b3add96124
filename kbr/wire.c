/* The KBR wire format: the sealed messages (encoder, and a decoder that checks every length
 * before it reads and accepts only complete, exact messages), and the outer datagram types.
 * Layouts are in kbr/wire.h. */
#include "kbr/wire.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"

static void
get_addr(struct byte_reader *r, struct kbr_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = br_u8(r);
	if (a->family == KBR_AF_INET)
		br_bytes(r, a->ip, 4);
	else if (a->family == KBR_AF_INET6)
		br_bytes(r, a->ip, 16);
	else
		r->bad = true;
	a->port = br_u16(r);
	if (a->port == 0)
		r->bad = true;
}

static int
put_addr(struct byte_writer *w, const struct kbr_addr *a)
{
	if ((a->family != KBR_AF_INET && a->family != KBR_AF_INET6) || a->port == 0)
		return -EINVAL;
	bw_u8(w, a->family);
	bw_bytes(w, a->ip, a->family == KBR_AF_INET ? 4 : 16);
	bw_u16(w, a->port);
	return 0;
}

static int
encode_body(const struct kbr_msg *m, struct byte_writer *w)
{
	switch (m->type) {
	case KBR_PING:
		return 0;
	case KBR_PONG:
		return put_addr(w, &m->u.observed);
	case KBR_FIND_NODE:
		if (m->u.find.count == 0 || m->u.find.count > KBR_MAX_NODES)
			return -EINVAL;
		bw_bytes(w, m->u.find.target.b, NODEID_LEN);
		bw_u8(w, m->u.find.count);
		return 0;
	case KBR_NODES:
		if (m->u.nodes.count > KBR_MAX_NODES)
			return -EINVAL;
		bw_u8(w, m->u.nodes.count);
		for (unsigned i = 0; i < m->u.nodes.count; i++) {
			bw_bytes(w, m->u.nodes.nodes[i].id.b, NODEID_LEN);
			if (put_addr(w, &m->u.nodes.nodes[i].addr) != 0)
				return -EINVAL;
		}
		return 0;
	default:
		if (m->type < KBR_APP_MIN || m->type > KBR_APP_MAX)
			return -EINVAL;
		if (m->u.app.len > KBR_MAX_APP_BODY || (m->u.app.data == NULL && m->u.app.len))
			return -EINVAL;
		bw_bytes(w, m->u.app.data, m->u.app.len);
		return 0;
	}
}

int
kbr_wire_encode(const struct kbr_msg *m, uint8_t *buf, size_t buflen)
{
	struct byte_writer w = {.p = buf, .left = buflen < KBR_MAX_MSG ? buflen : KBR_MAX_MSG};
	uint8_t *body;
	int err;

	if (m->type == KBR_KEEPALIVE || m->type >= KBR_CHALLENGE)
		return -EINVAL;		/* the session layer's own, never a caller's */
	bw_u8(&w, m->type);
	bw_u64(&w, m->tid);
	body = w.p;
	err = encode_body(m, &w);
	if (err != 0)
		return err;
	if (w.full || (size_t)(w.p - body) > KBR_MAX_BODY)
		return -EMSGSIZE;
	return (int)(w.p - buf);
}

static int
decode_body(struct kbr_msg *m, struct byte_reader *r, size_t len)
{
	switch (m->type) {
	case KBR_PING:
		return len == 0 ? 0 : -EBADMSG;
	case KBR_PONG:
		get_addr(r, &m->u.observed);
		break;
	case KBR_FIND_NODE:
		br_bytes(r, m->u.find.target.b, NODEID_LEN);
		m->u.find.count = br_u8(r);
		if (m->u.find.count == 0 || m->u.find.count > KBR_MAX_NODES)
			return -EBADMSG;
		break;
	case KBR_NODES:
		m->u.nodes.count = br_u8(r);
		if (m->u.nodes.count > KBR_MAX_NODES)
			return -EBADMSG;
		for (unsigned i = 0; i < m->u.nodes.count && !r->bad; i++) {
			struct kbr_contact *c = &m->u.nodes.nodes[i];

			memset(c, 0, sizeof(*c));
			br_bytes(r, c->id.b, NODEID_LEN);
			get_addr(r, &c->addr);
		}
		break;
	default:
		if (m->type < KBR_APP_MIN || m->type > KBR_APP_MAX)
			return -EBADMSG;
		m->u.app.data = r->p;
		m->u.app.len = len;
		br_take(r, len);
		break;
	}
	return r->bad || r->left != 0 ? -EBADMSG : 0;
}

int
kbr_wire_decode(struct kbr_msg *m, const uint8_t *buf, size_t len)
{
	struct byte_reader r = {.p = buf, .left = len};
	int err;

	memset(m, 0, sizeof(*m));
	if (buf == NULL || len < KBR_MSG_HEADER_LEN || len > KBR_MAX_MSG)
		return -EBADMSG;
	m->type = br_u8(&r);
	m->tid = br_u64(&r);
	if (m->type == KBR_KEEPALIVE || m->type >= KBR_CHALLENGE)
		return -EBADMSG;
	err = decode_body(m, &r, r.left);
	if (err != 0) {
		memset(&m->u, 0, sizeof(m->u));
		return err;
	}
	return 0;
}

int
kbr_wire_packet_type(const uint8_t *buf, size_t len)
{
	size_t want;

	if (buf == NULL || len < KBR_PREFIX_LEN || len > KBR_MAX_DATAGRAM)
		return 0;
	if (buf[0] != KBR_VERSION)
		return -EPROTONOSUPPORT;
	if (buf[2] != 0 || buf[3] != 0)
		return 0;
	switch (buf[1]) {
	case KBR_PKT_HELLO:
		want = KBR_HELLO_LEN;
		break;
	case KBR_PKT_IDENTITY:
		want = KBR_IDENTITY_LEN;
		break;
	case KBR_PKT_HS_INIT:
		want = KBR_INIT_LEN;
		break;
	case KBR_PKT_HS_RESP:
		want = KBR_RESP_LEN;
		break;
	case KBR_PKT_COOKIE:
		want = KBR_COOKIE_MSG_LEN;
		break;
	case KBR_PKT_DATA:
		return len >= KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN &&
		    len <= KBR_DATA_OVERHEAD + KBR_MAX_MSG ? KBR_PKT_DATA : 0;
	default:
		return 0;
	}
	return len == want ? buf[1] : 0;
}

/* ---- outer datagrams ---- */

static void
put_prefix(struct byte_writer *w, uint8_t type)
{
	bw_u8(w, KBR_VERSION);
	bw_u8(w, type);
	bw_u16(w, 0);
}

size_t
kbr_pkt_hello_encode(const struct kbr_pkt_hello *p, uint8_t buf[KBR_HELLO_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_HELLO_LEN};

	memset(buf, 0, KBR_HELLO_LEN);
	put_prefix(&w, KBR_PKT_HELLO);
	bw_u32(&w, p->sender);
	return KBR_HELLO_LEN;
}

size_t
kbr_pkt_identity_encode(const struct kbr_pkt_identity *p, uint8_t buf[KBR_IDENTITY_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_IDENTITY_LEN};

	put_prefix(&w, KBR_PKT_IDENTITY);
	bw_u32(&w, p->receiver);
	bw_bytes(&w, p->pub, ID_PUBKEY_LEN);
	bw_bytes(&w, p->nonce.b, NODEID_LEN);
	return KBR_IDENTITY_LEN;
}

size_t
kbr_pkt_init_encode(const struct kbr_pkt_init *p, uint8_t buf[KBR_INIT_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_INIT_LEN};

	put_prefix(&w, KBR_PKT_HS_INIT);
	bw_u32(&w, p->sender);
	bw_bytes(&w, p->responder.b, NODEID_LEN);
	bw_bytes(&w, p->pub, ID_PUBKEY_LEN);
	bw_bytes(&w, p->nonce.b, NODEID_LEN);
	bw_bytes(&w, p->eph, KBR_EPH_LEN);
	bw_u64(&w, p->timestamp);
	bw_bytes(&w, p->sig, ID_SIG_LEN);
	bw_bytes(&w, p->cookie, KBR_COOKIE_LEN);
	return KBR_INIT_LEN;
}

size_t
kbr_pkt_resp_encode(const struct kbr_pkt_resp *p, uint8_t buf[KBR_RESP_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_RESP_LEN};

	put_prefix(&w, KBR_PKT_HS_RESP);
	bw_u32(&w, p->sender);
	bw_u32(&w, p->receiver);
	bw_bytes(&w, p->pub, ID_PUBKEY_LEN);
	bw_bytes(&w, p->nonce.b, NODEID_LEN);
	bw_bytes(&w, p->eph, KBR_EPH_LEN);
	bw_bytes(&w, p->sig, ID_SIG_LEN);
	return KBR_RESP_LEN;
}

size_t
kbr_pkt_cookie_encode(const struct kbr_pkt_cookie *p, uint8_t buf[KBR_COOKIE_MSG_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_COOKIE_MSG_LEN};

	put_prefix(&w, KBR_PKT_COOKIE);
	bw_u32(&w, p->receiver);
	bw_bytes(&w, p->cookie, KBR_COOKIE_LEN);
	return KBR_COOKIE_MSG_LEN;
}

size_t
kbr_pkt_data_header(uint32_t receiver, uint64_t counter, uint8_t buf[KBR_DATA_HEADER_LEN])
{
	struct byte_writer w = {.p = buf, .left = KBR_DATA_HEADER_LEN};

	put_prefix(&w, KBR_PKT_DATA);
	bw_u32(&w, receiver);
	bw_u64(&w, counter);
	return KBR_DATA_HEADER_LEN;
}

/* Starts a reader after the prefix of a datagram that must be exactly of type. */
static bool
open_pkt(struct byte_reader *r, const uint8_t *buf, size_t len, uint8_t type)
{
	if (kbr_wire_packet_type(buf, len) != type)
		return false;
	r->p = buf + KBR_PREFIX_LEN;
	r->left = len - KBR_PREFIX_LEN;
	r->bad = false;
	return true;
}

int
kbr_pkt_hello_decode(struct kbr_pkt_hello *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;
	const uint8_t *pad;

	if (!open_pkt(&r, buf, len, KBR_PKT_HELLO))
		return -EBADMSG;
	p->sender = br_u32(&r);
	pad = br_take(&r, r.left);
	for (size_t i = 0; pad != NULL && i < KBR_HELLO_LEN - KBR_PREFIX_LEN - 4; i++)
		if (pad[i] != 0)
			return -EBADMSG;
	return r.bad ? -EBADMSG : 0;
}

int
kbr_pkt_identity_decode(struct kbr_pkt_identity *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;

	if (!open_pkt(&r, buf, len, KBR_PKT_IDENTITY))
		return -EBADMSG;
	p->receiver = br_u32(&r);
	br_bytes(&r, p->pub, ID_PUBKEY_LEN);
	br_bytes(&r, p->nonce.b, NODEID_LEN);
	return r.bad || r.left != 0 ? -EBADMSG : 0;
}

int
kbr_pkt_init_decode(struct kbr_pkt_init *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;

	if (!open_pkt(&r, buf, len, KBR_PKT_HS_INIT))
		return -EBADMSG;
	p->sender = br_u32(&r);
	br_bytes(&r, p->responder.b, NODEID_LEN);
	br_bytes(&r, p->pub, ID_PUBKEY_LEN);
	br_bytes(&r, p->nonce.b, NODEID_LEN);
	br_bytes(&r, p->eph, KBR_EPH_LEN);
	p->timestamp = br_u64(&r);
	br_bytes(&r, p->sig, ID_SIG_LEN);
	br_bytes(&r, p->cookie, KBR_COOKIE_LEN);
	return r.bad || r.left != 0 ? -EBADMSG : 0;
}

int
kbr_pkt_resp_decode(struct kbr_pkt_resp *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;

	if (!open_pkt(&r, buf, len, KBR_PKT_HS_RESP))
		return -EBADMSG;
	p->sender = br_u32(&r);
	p->receiver = br_u32(&r);
	br_bytes(&r, p->pub, ID_PUBKEY_LEN);
	br_bytes(&r, p->nonce.b, NODEID_LEN);
	br_bytes(&r, p->eph, KBR_EPH_LEN);
	br_bytes(&r, p->sig, ID_SIG_LEN);
	return r.bad || r.left != 0 ? -EBADMSG : 0;
}

int
kbr_pkt_cookie_decode(struct kbr_pkt_cookie *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;

	if (!open_pkt(&r, buf, len, KBR_PKT_COOKIE))
		return -EBADMSG;
	p->receiver = br_u32(&r);
	br_bytes(&r, p->cookie, KBR_COOKIE_LEN);
	return r.bad || r.left != 0 ? -EBADMSG : 0;
}

int
kbr_pkt_data_decode(struct kbr_pkt_data *p, const uint8_t *buf, size_t len)
{
	struct byte_reader r;

	if (!open_pkt(&r, buf, len, KBR_PKT_DATA))
		return -EBADMSG;
	p->receiver = br_u32(&r);
	p->counter = br_u64(&r);
	p->sealed = r.p;
	p->sealed_len = r.left;
	return r.bad ? -EBADMSG : 0;
}

const char *
kbr_msg_type_name(unsigned type)
{
	switch (type) {
	case KBR_PING:
		return "PING";
	case KBR_PONG:
		return "PONG";
	case KBR_FIND_NODE:
		return "FIND_NODE";
	case KBR_NODES:
		return "NODES";
	case KBR_KEEPALIVE:
		return "KEEPALIVE";
	case KBR_CHALLENGE:
		return "CHALLENGE";
	case KBR_RESPONSE:
		return "RESPONSE";
	default:
		return type >= KBR_APP_MIN && type <= KBR_APP_MAX ? "APP" : "UNKNOWN";
	}
}
