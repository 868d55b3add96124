/* The KBR wire format: encoding and signing, and a decoder that checks every length before it
 * reads and accepts only complete, exact datagrams. Layouts are in kbr/wire.h. */
#include "kbr/wire.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "puzzle/puzzle.h"

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
kbr_wire_encode(const struct kbr_msg *m, const struct identity *self, uint8_t *buf,
    size_t buflen)
{
	return kbr_wire_encode_opt(m, self, true, buf, buflen);
}

int
kbr_wire_encode_opt(const struct kbr_msg *m, const struct identity *self, bool sign,
    uint8_t *buf, size_t buflen)
{
	struct byte_writer w = {.p = buf, .left = buflen < KBR_MAX_DATAGRAM ? buflen : KBR_MAX_DATAGRAM};
	uint8_t *lenp, *body;
	size_t body_len, signed_len;
	int err;

	bw_bytes(&w, KBR_MAGIC, 4);
	bw_u8(&w, KBR_VERSION);
	bw_u8(&w, m->type);
	bw_u16(&w, 0);
	bw_u64(&w, m->tid);
	bw_u64(&w, m->timestamp);
	bw_bytes(&w, self->id.b, NODEID_LEN);
	bw_bytes(&w, self->pub, ID_PUBKEY_LEN);
	bw_bytes(&w, self->nonce.b, NODEID_LEN);
	lenp = bw_take(&w, 2);
	body = w.p;
	err = encode_body(m, &w);
	if (err != 0)
		return err;
	if (w.full)
		return -EMSGSIZE;
	body_len = (size_t)(w.p - body);
	if (body_len > KBR_MAX_BODY)
		return -EMSGSIZE;
	lenp[0] = (uint8_t)(body_len >> 8);
	lenp[1] = (uint8_t)body_len;
	bw_u8(&w, KBR_AUTH_ED25519);
	bw_u16(&w, ID_SIG_LEN);
	signed_len = (size_t)(w.p - buf);
	{
		uint8_t *sig = bw_take(&w, ID_SIG_LEN);

		if (sig == NULL || w.full)
			return -EMSGSIZE;
		if (!sign)
			memset(sig, 0, ID_SIG_LEN);
		else if (identity_sign(self, buf, signed_len, sig) != 0)
			return -EIO;
	}
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
	const uint8_t *magic, *body;
	uint16_t flags, body_len, auth_len;
	uint8_t version, auth_type;
	struct byte_reader br;
	int err;

	memset(m, 0, sizeof(*m));
	if (buf == NULL)
		return -EBADMSG;
	if (len > KBR_MAX_DATAGRAM)
		return -EMSGSIZE;
	if (len < KBR_HEADER_LEN + KBR_TRAILER_LEN)
		return -EBADMSG;
	magic = br_take(&r, 4);
	if (memcmp(magic, KBR_MAGIC, 4) != 0)
		return -EBADMSG;
	version = br_u8(&r);
	if (version != KBR_VERSION)
		return -EPROTONOSUPPORT;
	m->type = br_u8(&r);
	flags = br_u16(&r);
	if (flags != 0)
		return -EBADMSG;
	m->tid = br_u64(&r);
	m->timestamp = br_u64(&r);
	br_bytes(&r, m->sender.b, NODEID_LEN);
	br_bytes(&r, m->pub, ID_PUBKEY_LEN);
	br_bytes(&r, m->nonce.b, NODEID_LEN);
	body_len = br_u16(&r);
	if (body_len > KBR_MAX_BODY)
		return -EBADMSG;
	body = br_take(&r, body_len);
	if (body == NULL)
		return -EBADMSG;
	auth_type = br_u8(&r);
	auth_len = br_u16(&r);
	if (r.bad)
		return -EBADMSG;
	if (auth_type != KBR_AUTH_ED25519)
		return auth_type == KBR_AUTH_MAC ? -ENOTSUP : -EBADMSG;
	if (auth_len != ID_SIG_LEN || r.left != ID_SIG_LEN)
		return -EBADMSG;
	m->signed_part = buf;
	m->signed_len = len - ID_SIG_LEN;
	m->sig = br_take(&r, ID_SIG_LEN);

	br.p = body;
	br.left = body_len;
	br.bad = false;
	err = decode_body(m, &br, body_len);
	if (err != 0) {
		memset(&m->u, 0, sizeof(m->u));
		return err;
	}
	return 0;
}

int
kbr_wire_verify_signature(const struct kbr_msg *m)
{
	if (m->sig == NULL ||
	    identity_verify(m->pub, ID_PUBKEY_LEN, m->signed_part, m->signed_len, m->sig,
	    ID_SIG_LEN) != 0)
		return -EBADMSG;
	return 0;
}

int
kbr_wire_verify(const struct kbr_msg *m, unsigned c1, unsigned c2)
{
	if (identity_check(m->pub, ID_PUBKEY_LEN, &m->sender, &m->nonce, c1, c2) != 0)
		return -EKEYREJECTED;
	return kbr_wire_verify_signature(m);
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
	default:
		return type >= KBR_APP_MIN && type <= KBR_APP_MAX ? "APP" : "UNKNOWN";
	}
}
