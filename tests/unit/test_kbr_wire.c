/* Tests for kbr/wire.c, protocol version 2: sealed messages (round trips, limits, every kind of
 * malformed, truncated, oversized or unknown message), the outer datagrams (round trips, the
 * offsets doc/protocol.md gives, exact lengths, HELLO padding, versions) and random noise. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/wire.h"

#define TID 0x0102030405060708ULL

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
fill(uint64_t *rng, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift(rng);
}

static void
addr4(struct kbr_addr *a, uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = a0;
	a->ip[1] = a1;
	a->ip[2] = a2;
	a->ip[3] = a3;
	a->port = port;
}

/* ---- sealed messages ---- */

enum { NSAMPLES = 6 };

/* A PING, PONGs to an IPv4 and an IPv6 address, a FIND_NODE, a NODES of two contacts and
 * an application message. */
static void
sample(int which, struct kbr_msg *m)
{
	static const uint8_t app[] = "a record, opaque to the KBR";

	memset(m, 0, sizeof(*m));
	m->tid = TID;
	switch (which) {
	case 0:
		m->type = KBR_PING;
		break;
	case 1:
		m->type = KBR_PONG;
		addr4(&m->u.observed, 127, 0, 0, 1, 3631);
		break;
	case 2:
		m->type = KBR_PONG;
		assert_int_equal(kbr_addr_parse(&m->u.observed, "[2001:db8::1]:65535"), 0);
		break;
	case 3:
		m->type = KBR_FIND_NODE;
		assert_int_equal(nodeid_sha1(&m->u.find.target, "sip:alice@example.org", 21), 0);
		m->u.find.count = 16;
		break;
	case 4:
		m->type = KBR_NODES;
		m->u.nodes.count = 2;
		assert_int_equal(nodeid_sha1(&m->u.nodes.nodes[0].id, "node one", 8), 0);
		addr4(&m->u.nodes.nodes[0].addr, 192, 0, 2, 1, 3631);
		assert_int_equal(nodeid_sha1(&m->u.nodes.nodes[1].id, "node two", 8), 0);
		assert_int_equal(kbr_addr_parse(&m->u.nodes.nodes[1].addr, "[2001:db8::2]:3632"), 0);
		break;
	default:
		m->type = KBR_APP_MIN + 2;
		m->u.app.data = app;
		m->u.app.len = sizeof(app) - 1;
		break;
	}
}

/* The length each sample encodes to: type, tid, then the body. */
static size_t
sample_len(int which)
{
	static const size_t body[NSAMPLES] = {
		0, KBR_WIRE_ADDR4_LEN, KBR_WIRE_ADDR6_LEN, NODEID_LEN + 1,
		1 + NODEID_LEN + KBR_WIRE_ADDR4_LEN + NODEID_LEN + KBR_WIRE_ADDR6_LEN, 27,
	};

	return KBR_MSG_HEADER_LEN + body[which];
}

static size_t
encode(const struct kbr_msg *m, uint8_t *buf)
{
	int n = kbr_wire_encode(m, buf, KBR_MAX_MSG);

	assert_true(n >= KBR_MSG_HEADER_LEN && n <= KBR_MAX_MSG);
	return (size_t)n;
}

static void
same_msg(const struct kbr_msg *a, const struct kbr_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->tid, b->tid);
	switch (a->type) {
	case KBR_PONG:
		assert_true(kbr_addr_eq(&a->u.observed, &b->u.observed));
		break;
	case KBR_FIND_NODE:
		assert_true(nodeid_eq(&a->u.find.target, &b->u.find.target));
		assert_int_equal(a->u.find.count, b->u.find.count);
		break;
	case KBR_NODES:
		assert_int_equal(a->u.nodes.count, b->u.nodes.count);
		for (unsigned i = 0; i < a->u.nodes.count; i++) {
			assert_true(nodeid_eq(&a->u.nodes.nodes[i].id, &b->u.nodes.nodes[i].id));
			assert_true(kbr_addr_eq(&a->u.nodes.nodes[i].addr,
			    &b->u.nodes.nodes[i].addr));
		}
		break;
	case KBR_PING:
		break;
	default:
		assert_int_equal(a->u.app.len, b->u.app.len);
		if (a->u.app.len > 0)
			assert_memory_equal(a->u.app.data, b->u.app.data, a->u.app.len);
		break;
	}
}

static void
msg_round_trip_every_type(void **state)
{
	uint8_t buf[KBR_MAX_MSG];

	(void)state;
	for (int which = 0; which < NSAMPLES; which++) {
		struct kbr_msg m, d;
		size_t n;

		sample(which, &m);
		n = encode(&m, buf);
		assert_int_equal(n, sample_len(which));
		/* type, then the transaction id big-endian */
		assert_int_equal(buf[0], m.type);
		for (int i = 0; i < 8; i++)
			assert_int_equal(buf[1 + i], i + 1);
		assert_int_equal(kbr_wire_decode(&d, buf, n), 0);
		same_msg(&m, &d);
		/* the sender is the session's business, never the message's */
		struct nodeid zero;
		memset(&zero, 0, sizeof(zero));
		assert_true(nodeid_eq(&d.sender, &zero));
	}
	/* every application type, with an empty body */
	for (uint8_t t = KBR_APP_MIN; t <= KBR_APP_MAX; t++) {
		struct kbr_msg m = {.type = t, .tid = 7}, d;
		size_t n = encode(&m, buf);

		assert_int_equal(n, KBR_MSG_HEADER_LEN);
		assert_int_equal(kbr_wire_decode(&d, buf, n), 0);
		assert_int_equal(d.type, t);
		assert_int_equal(d.u.app.len, 0);
	}
	/* an application body is not copied: it points into the buffer */
	{
		struct kbr_msg m, d;
		size_t n;

		sample(5, &m);
		n = encode(&m, buf);
		assert_int_equal(kbr_wire_decode(&d, buf, n), 0);
		assert_ptr_equal(d.u.app.data, buf + KBR_MSG_HEADER_LEN);
	}
}

static void
msg_limits(void **state)
{
	static uint8_t big[KBR_MAX_BODY + 1];
	uint8_t buf[KBR_MAX_MSG + 16];
	struct kbr_msg m, d;
	int n;

	(void)state;
	/* a full NODES reply of IPv6 contacts fits */
	memset(&m, 0, sizeof(m));
	m.type = KBR_NODES;
	m.u.nodes.count = KBR_MAX_NODES;
	for (unsigned i = 0; i < KBR_MAX_NODES; i++) {
		m.u.nodes.nodes[i].id.b[0] = (uint8_t)i;
		assert_int_equal(kbr_addr_parse(&m.u.nodes.nodes[i].addr,
		    "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), 0);
	}
	n = kbr_wire_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, KBR_MSG_HEADER_LEN + 1 + KBR_MAX_NODES *
	    (NODEID_LEN + KBR_WIRE_ADDR6_LEN));
	assert_true(KBR_DATA_OVERHEAD + n <= KBR_MAX_DATAGRAM);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	same_msg(&m, &d);
	/* one contact more is refused */
	m.u.nodes.count = KBR_MAX_NODES + 1;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a contact without a usable address */
	m.u.nodes.count = 2;
	m.u.nodes.nodes[1].addr.family = 5;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.nodes.nodes[1].addr.family = KBR_AF_INET6;
	m.u.nodes.nodes[1].addr.port = 0;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a buffer too small, at every length */
	m.u.nodes.nodes[1].addr.port = 1;
	n = kbr_wire_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	for (int len = 0; len < n; len++)
		assert_int_equal(kbr_wire_encode(&m, buf, (size_t)len), -EMSGSIZE);
	assert_int_equal(kbr_wire_encode(&m, buf, (size_t)n), n);

	/* an application body at the limit, and one byte past it */
	memset(&m, 0, sizeof(m));
	m.type = KBR_APP_MAX;
	m.u.app.data = big;
	m.u.app.len = KBR_MAX_BODY;
	n = kbr_wire_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, KBR_MAX_MSG);
	assert_int_equal(KBR_DATA_OVERHEAD + KBR_MAX_MSG, 1076);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(d.u.app.len, KBR_MAX_BODY);
	m.u.app.len = KBR_MAX_BODY + 1;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a body pointer missing */
	m.u.app.data = NULL;
	m.u.app.len = 1;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* FIND_NODE counts */
	memset(&m, 0, sizeof(m));
	m.type = KBR_FIND_NODE;
	m.u.find.count = 0;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.find.count = KBR_MAX_NODES + 1;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.find.count = KBR_MAX_NODES;
	assert_true(kbr_wire_encode(&m, buf, sizeof(buf)) > 0);
	/* a PONG needs an address */
	memset(&m, 0, sizeof(m));
	m.type = KBR_PONG;
	assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
}

/* The session layer's own messages and unknown types are no caller's to send, and a
 * decoder never hands them up. */
static void
msg_reserved_and_unknown_types(void **state)
{
	static const uint8_t types[] = {
		KBR_KEEPALIVE, KBR_CHALLENGE, KBR_RESPONSE, 18, 100, 255,
	};
	uint8_t buf[KBR_MAX_MSG];
	struct kbr_msg m, d;

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		memset(&m, 0, sizeof(m));
		m.type = types[i];
		assert_int_equal(kbr_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
		memset(buf, 0, sizeof(buf));
		buf[0] = types[i];
		assert_int_equal(kbr_wire_decode(&d, buf, KBR_MSG_HEADER_LEN), -EBADMSG);
		assert_int_equal(kbr_wire_decode(&d, buf, KBR_MSG_HEADER_LEN + 5), -EBADMSG);
	}
	assert_string_equal(kbr_msg_type_name(KBR_PING), "PING");
	assert_string_equal(kbr_msg_type_name(KBR_NODES), "NODES");
	assert_string_equal(kbr_msg_type_name(KBR_KEEPALIVE), "KEEPALIVE");
	assert_string_equal(kbr_msg_type_name(KBR_CHALLENGE), "CHALLENGE");
	assert_string_equal(kbr_msg_type_name(KBR_RESPONSE), "RESPONSE");
	assert_string_equal(kbr_msg_type_name(KBR_APP_MIN), "APP");
	assert_string_equal(kbr_msg_type_name(200), "UNKNOWN");
}

static void
msg_truncated_and_oversized_rejected(void **state)
{
	uint8_t buf[KBR_MAX_MSG + 16];
	struct kbr_msg m, d;

	(void)state;
	for (int which = 0; which < NSAMPLES; which++) {
		size_t n;

		sample(which, &m);
		n = encode(&m, buf);
		for (size_t len = 0; len < n; len++) {
			if (which == 5 && len >= KBR_MSG_HEADER_LEN)
				continue;	/* a shorter opaque body is still a message */
			assert_int_equal(kbr_wire_decode(&d, buf, len), -EBADMSG);
			/* nothing half-parsed is left behind */
			assert_int_equal(d.u.nodes.count, 0);
		}
		/* one byte too many */
		buf[n] = 0;
		if (which != 5)
			assert_int_equal(kbr_wire_decode(&d, buf, n + 1), -EBADMSG);
	}
	memset(buf, 0, sizeof(buf));
	buf[0] = KBR_APP_MIN;
	assert_int_equal(kbr_wire_decode(&d, buf, KBR_MAX_MSG), 0);
	assert_int_equal(kbr_wire_decode(&d, buf, KBR_MAX_MSG + 1), -EBADMSG);
	assert_int_equal(kbr_wire_decode(&d, NULL, 10), -EBADMSG);
}

static void
msg_wrong_fields_rejected(void **state)
{
	uint8_t good[KBR_MAX_MSG], buf[KBR_MAX_MSG];
	struct kbr_msg m, d;
	size_t n;
	const size_t body = KBR_MSG_HEADER_LEN;

#define MUTATE(stmt)                                                          \
	do {                                                                  \
		memcpy(buf, good, n);                                         \
		stmt;                                                         \
		assert_int_equal(kbr_wire_decode(&d, buf, n), -EBADMSG);      \
	} while (0)

	(void)state;
	sample(4, &m);		/* NODES: the richest body */
	n = encode(&m, good);
	assert_int_equal(kbr_wire_decode(&d, good, n), 0);
	MUTATE(buf[0] = KBR_PING);				/* PING with a body */
	MUTATE(buf[0] = KBR_FIND_NODE);				/* wrong length for it */
	MUTATE(buf[0] = KBR_PONG);
	MUTATE(buf[body] = 3);					/* count 3, two present */
	MUTATE(buf[body] = 1);					/* count 1, two present */
	MUTATE(buf[body] = KBR_MAX_NODES + 1);
	MUTATE(buf[body + 1 + NODEID_LEN] = 5);			/* address family */
	MUTATE(buf[body + 1 + NODEID_LEN] = KBR_AF_NONE);
	MUTATE(buf[body + 1 + NODEID_LEN] = KBR_AF_INET6);	/* a v6 address too short */
	MUTATE(buf[body + 1 + NODEID_LEN + 5] = 0;
	    buf[body + 1 + NODEID_LEN + 6] = 0);		/* port 0 */

	/* FIND_NODE with count 0 and with too many */
	sample(3, &m);
	n = encode(&m, good);
	MUTATE(buf[body + NODEID_LEN] = 0);
	MUTATE(buf[body + NODEID_LEN] = KBR_MAX_NODES + 1);
	/* PONG: family and port */
	sample(1, &m);
	n = encode(&m, good);
	MUTATE(buf[body] = 6);
	MUTATE(buf[body + 5] = 0; buf[body + 6] = 0);
#undef MUTATE
}

/* ---- outer datagrams ---- */

static void
packet_types_and_exact_lengths(void **state)
{
	static const struct {
		uint8_t type;
		size_t len;
	} fixed[] = {
		{KBR_PKT_HELLO, 64}, {KBR_PKT_IDENTITY, 60}, {KBR_PKT_HS_INIT, 200},
		{KBR_PKT_HS_RESP, 160}, {KBR_PKT_COOKIE, 24},
	};
	uint8_t buf[KBR_MAX_DATAGRAM + 2];

	(void)state;
	assert_int_equal(KBR_HELLO_LEN, 64);
	assert_int_equal(KBR_IDENTITY_LEN, 60);
	assert_int_equal(KBR_INIT_LEN, 200);
	assert_int_equal(KBR_RESP_LEN, 160);
	assert_int_equal(KBR_COOKIE_MSG_LEN, 24);
	assert_int_equal(KBR_DATA_HEADER_LEN, 16);
	assert_int_equal(KBR_DATA_OVERHEAD, 32);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = KBR_VERSION;
		buf[1] = fixed[i].type;
		for (size_t len = 0; len <= KBR_MAX_DATAGRAM + 1; len++) {
			int want = len == fixed[i].len ? fixed[i].type : 0;

			assert_int_equal(kbr_wire_packet_type(buf, len), want);
		}
		/* the reserved bytes must be zero */
		buf[2] = 1;
		assert_int_equal(kbr_wire_packet_type(buf, fixed[i].len), 0);
		buf[2] = 0;
		buf[3] = 0x80;
		assert_int_equal(kbr_wire_packet_type(buf, fixed[i].len), 0);
		buf[3] = 0;
		/* any other version is not supported, at any length */
		for (unsigned v = 0; v < 256; v++) {
			if (v == KBR_VERSION)
				continue;
			buf[0] = (uint8_t)v;
			assert_int_equal(kbr_wire_packet_type(buf, fixed[i].len), -EPROTONOSUPPORT);
			assert_int_equal(kbr_wire_packet_type(buf, 4), -EPROTONOSUPPORT);
			assert_int_equal(kbr_wire_packet_type(buf, KBR_MAX_DATAGRAM),
			    -EPROTONOSUPPORT);
		}
		buf[0] = KBR_VERSION;
	}
	/* DATA: header, 9 .. 1044 bytes of sealed message, tag */
	memset(buf, 0, sizeof(buf));
	buf[0] = KBR_VERSION;
	buf[1] = KBR_PKT_DATA;
	for (size_t len = 0; len <= KBR_MAX_DATAGRAM + 1; len++) {
		bool ok = len >= KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN &&
		    len <= KBR_DATA_OVERHEAD + KBR_MAX_MSG;

		assert_int_equal(kbr_wire_packet_type(buf, len), ok ? KBR_PKT_DATA : 0);
	}
	assert_int_equal(kbr_wire_packet_type(buf, 41), KBR_PKT_DATA);
	assert_int_equal(kbr_wire_packet_type(buf, 40), 0);
	assert_int_equal(kbr_wire_packet_type(buf, 1076), KBR_PKT_DATA);
	assert_int_equal(kbr_wire_packet_type(buf, 1077), 0);
	/* unknown types, short and NULL datagrams; v1's first byte ('P' of its magic) */
	for (unsigned t = 0; t < 256; t++) {
		if (t >= KBR_PKT_HELLO && t <= KBR_PKT_DATA)
			continue;
		buf[1] = (uint8_t)t;
		for (size_t len = 0; len <= 260; len++)
			assert_int_equal(kbr_wire_packet_type(buf, len), 0);
	}
	assert_int_equal(kbr_wire_packet_type(NULL, 64), 0);
	buf[1] = KBR_PKT_HELLO;
	for (size_t len = 0; len < KBR_PREFIX_LEN; len++)
		assert_int_equal(kbr_wire_packet_type(buf, len), 0);
	memcpy(buf, "P2PN\x01", 5);
	assert_int_equal(kbr_wire_packet_type(buf, 200), -EPROTONOSUPPORT);
	/* too long is never anything, whatever the version */
	assert_int_equal(kbr_wire_packet_type(buf, KBR_MAX_DATAGRAM + 1), 0);
}

/* Checks that decode refuses every length but the right one, another type's prefix, and
 * another version. */
static void
check_exact(const uint8_t *good, size_t n, int (*dec)(void *, const uint8_t *, size_t))
{
	uint8_t buf[KBR_MAX_DATAGRAM + 1];
	union {
		struct kbr_pkt_hello h;
		struct kbr_pkt_identity i;
		struct kbr_pkt_init in;
		struct kbr_pkt_resp r;
		struct kbr_pkt_cookie c;
	} u;
	void *out = &u;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, good, n);
	assert_int_equal(dec(out, buf, n), 0);
	for (size_t len = 0; len < n; len++)
		assert_int_equal(dec(out, buf, len), -EBADMSG);
	assert_int_equal(dec(out, buf, n + 1), -EBADMSG);
	assert_int_equal(dec(out, NULL, n), -EBADMSG);
	buf[0] = 1;
	assert_int_equal(dec(out, buf, n), -EBADMSG);
	buf[0] = KBR_VERSION;
	buf[1] = (uint8_t)(good[1] == KBR_PKT_HELLO ? KBR_PKT_IDENTITY : KBR_PKT_HELLO);
	assert_int_equal(dec(out, buf, n), -EBADMSG);
	buf[1] = good[1];
	buf[3] = 1;
	assert_int_equal(dec(out, buf, n), -EBADMSG);
}

/* Adapters with one signature for check_exact. */
static int
dec_hello(void *p, const uint8_t *b, size_t n)
{
	return kbr_pkt_hello_decode(p, b, n);
}

static int
dec_identity(void *p, const uint8_t *b, size_t n)
{
	return kbr_pkt_identity_decode(p, b, n);
}

static int
dec_init(void *p, const uint8_t *b, size_t n)
{
	return kbr_pkt_init_decode(p, b, n);
}

static int
dec_resp(void *p, const uint8_t *b, size_t n)
{
	return kbr_pkt_resp_decode(p, b, n);
}

static int
dec_cookie(void *p, const uint8_t *b, size_t n)
{
	return kbr_pkt_cookie_decode(p, b, n);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void
check_prefix(const uint8_t *buf, uint8_t type)
{
	assert_int_equal(buf[0], KBR_VERSION);
	assert_int_equal(buf[1], type);
	assert_int_equal(buf[2], 0);
	assert_int_equal(buf[3], 0);
}

static void
hello_round_trip_and_padding(void **state)
{
	struct kbr_pkt_hello h = {.sender = 0xdeadbeef}, d;
	uint8_t buf[KBR_HELLO_LEN];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(kbr_pkt_hello_encode(&h, buf), KBR_HELLO_LEN);
	check_prefix(buf, KBR_PKT_HELLO);
	assert_int_equal(get32(buf + 4), 0xdeadbeef);
	for (size_t i = 8; i < KBR_HELLO_LEN; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(kbr_pkt_hello_decode(&d, buf, sizeof(buf)), 0);
	assert_int_equal(d.sender, 0xdeadbeef);
	check_exact(buf, sizeof(buf), dec_hello);
	/* every byte of the padding must be zero */
	for (size_t i = 8; i < KBR_HELLO_LEN; i++) {
		uint8_t bad[KBR_HELLO_LEN];

		memcpy(bad, buf, sizeof(bad));
		bad[i] = (uint8_t)(1u << (i % 8));
		assert_int_equal(kbr_wire_packet_type(bad, sizeof(bad)), KBR_PKT_HELLO);
		assert_int_equal(kbr_pkt_hello_decode(&d, bad, sizeof(bad)), -EBADMSG);
	}
}

static void
identity_round_trip(void **state)
{
	struct kbr_pkt_identity p, d;
	uint8_t buf[KBR_IDENTITY_LEN];
	uint64_t rng = 11;

	(void)state;
	fill(&rng, &p, sizeof(p));
	assert_int_equal(kbr_pkt_identity_encode(&p, buf), KBR_IDENTITY_LEN);
	check_prefix(buf, KBR_PKT_IDENTITY);
	assert_int_equal(get32(buf + 4), p.receiver);
	assert_memory_equal(buf + 8, p.pub, ID_PUBKEY_LEN);
	assert_memory_equal(buf + 40, p.nonce.b, NODEID_LEN);
	memset(&d, 0, sizeof(d));
	assert_int_equal(kbr_pkt_identity_decode(&d, buf, sizeof(buf)), 0);
	assert_int_equal(d.receiver, p.receiver);
	assert_memory_equal(d.pub, p.pub, ID_PUBKEY_LEN);
	assert_true(nodeid_eq(&d.nonce, &p.nonce));
	check_exact(buf, sizeof(buf), dec_identity);
}

static void
init_round_trip(void **state)
{
	struct kbr_pkt_init p, d;
	uint8_t buf[KBR_INIT_LEN];
	uint64_t rng = 12;

	(void)state;
	for (int round = 0; round < 100; round++) {
		fill(&rng, &p, sizeof(p));
		assert_int_equal(kbr_pkt_init_encode(&p, buf), KBR_INIT_LEN);
		check_prefix(buf, KBR_PKT_HS_INIT);
		/* the offsets of doc/protocol.md */
		assert_int_equal(get32(buf + 4), p.sender);
		assert_memory_equal(buf + 8, p.responder.b, NODEID_LEN);
		assert_memory_equal(buf + 28, p.pub, ID_PUBKEY_LEN);
		assert_memory_equal(buf + 60, p.nonce.b, NODEID_LEN);
		assert_memory_equal(buf + 80, p.eph, KBR_EPH_LEN);
		assert_int_equal(get64(buf + 112), p.timestamp);
		assert_memory_equal(buf + 120, p.sig, ID_SIG_LEN);
		assert_memory_equal(buf + 184, p.cookie, KBR_COOKIE_LEN);
		assert_int_equal(KBR_INIT_SIGNED_LEN, 120);
		assert_int_equal(KBR_INIT_HASHED_LEN, 184);
		memset(&d, 0, sizeof(d));
		assert_int_equal(kbr_pkt_init_decode(&d, buf, sizeof(buf)), 0);
		assert_int_equal(d.sender, p.sender);
		assert_true(nodeid_eq(&d.responder, &p.responder));
		assert_memory_equal(d.pub, p.pub, ID_PUBKEY_LEN);
		assert_true(nodeid_eq(&d.nonce, &p.nonce));
		assert_memory_equal(d.eph, p.eph, KBR_EPH_LEN);
		assert_int_equal(d.timestamp, p.timestamp);
		assert_memory_equal(d.sig, p.sig, ID_SIG_LEN);
		assert_memory_equal(d.cookie, p.cookie, KBR_COOKIE_LEN);
	}
	check_exact(buf, sizeof(buf), dec_init);
}

static void
resp_round_trip(void **state)
{
	struct kbr_pkt_resp p, d;
	uint8_t buf[KBR_RESP_LEN];
	uint64_t rng = 13;

	(void)state;
	for (int round = 0; round < 100; round++) {
		fill(&rng, &p, sizeof(p));
		assert_int_equal(kbr_pkt_resp_encode(&p, buf), KBR_RESP_LEN);
		check_prefix(buf, KBR_PKT_HS_RESP);
		assert_int_equal(get32(buf + 4), p.sender);
		assert_int_equal(get32(buf + 8), p.receiver);
		assert_memory_equal(buf + 12, p.pub, ID_PUBKEY_LEN);
		assert_memory_equal(buf + 44, p.nonce.b, NODEID_LEN);
		assert_memory_equal(buf + 64, p.eph, KBR_EPH_LEN);
		assert_memory_equal(buf + 96, p.sig, ID_SIG_LEN);
		assert_int_equal(KBR_RESP_SIGNED_LEN, 96);
		memset(&d, 0, sizeof(d));
		assert_int_equal(kbr_pkt_resp_decode(&d, buf, sizeof(buf)), 0);
		assert_int_equal(d.sender, p.sender);
		assert_int_equal(d.receiver, p.receiver);
		assert_memory_equal(d.pub, p.pub, ID_PUBKEY_LEN);
		assert_true(nodeid_eq(&d.nonce, &p.nonce));
		assert_memory_equal(d.eph, p.eph, KBR_EPH_LEN);
		assert_memory_equal(d.sig, p.sig, ID_SIG_LEN);
	}
	check_exact(buf, sizeof(buf), dec_resp);
}

static void
cookie_round_trip(void **state)
{
	struct kbr_pkt_cookie p, d;
	uint8_t buf[KBR_COOKIE_MSG_LEN];
	uint64_t rng = 14;

	(void)state;
	fill(&rng, &p, sizeof(p));
	assert_int_equal(kbr_pkt_cookie_encode(&p, buf), KBR_COOKIE_MSG_LEN);
	check_prefix(buf, KBR_PKT_COOKIE);
	assert_int_equal(get32(buf + 4), p.receiver);
	assert_memory_equal(buf + 8, p.cookie, KBR_COOKIE_LEN);
	memset(&d, 0, sizeof(d));
	assert_int_equal(kbr_pkt_cookie_decode(&d, buf, sizeof(buf)), 0);
	assert_int_equal(d.receiver, p.receiver);
	assert_memory_equal(d.cookie, p.cookie, KBR_COOKIE_LEN);
	check_exact(buf, sizeof(buf), dec_cookie);
}

static void
data_round_trip(void **state)
{
	uint8_t buf[KBR_MAX_DATAGRAM + 1];
	struct kbr_pkt_data d;
	uint64_t rng = 15;

	(void)state;
	assert_int_equal(kbr_pkt_data_header(0x01020304, 0x1112131415161718ULL, buf),
	    KBR_DATA_HEADER_LEN);
	check_prefix(buf, KBR_PKT_DATA);
	assert_int_equal(get32(buf + 4), 0x01020304);
	assert_int_equal(get64(buf + 8), 0x1112131415161718ULL);
	/* every length a DATA may have, and none it may not */
	for (size_t len = 0; len <= KBR_MAX_DATAGRAM + 1; len++) {
		bool ok = len >= KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN &&
		    len <= KBR_DATA_OVERHEAD + KBR_MAX_MSG;

		fill(&rng, buf + KBR_DATA_HEADER_LEN, sizeof(buf) - KBR_DATA_HEADER_LEN);
		memset(&d, 0, sizeof(d));
		if (!ok) {
			assert_int_equal(kbr_pkt_data_decode(&d, buf, len), -EBADMSG);
			continue;
		}
		assert_int_equal(kbr_pkt_data_decode(&d, buf, len), 0);
		assert_int_equal(d.receiver, 0x01020304);
		assert_int_equal(d.counter, 0x1112131415161718ULL);
		assert_ptr_equal(d.sealed, buf + KBR_DATA_HEADER_LEN);
		assert_int_equal(d.sealed_len, len - KBR_DATA_HEADER_LEN);
		assert_true(d.sealed_len >= KBR_MSG_HEADER_LEN + KBR_TAG_LEN);
	}
	assert_int_equal(kbr_pkt_data_decode(&d, NULL, 50), -EBADMSG);
	buf[0] = 1;
	assert_int_equal(kbr_pkt_data_decode(&d, buf, 50), -EBADMSG);
	buf[0] = KBR_VERSION;
	buf[2] = 1;
	assert_int_equal(kbr_pkt_data_decode(&d, buf, 50), -EBADMSG);
}

static bool
zero_padding(const uint8_t *hello)
{
	for (size_t i = 8; i < KBR_HELLO_LEN; i++)
		if (hello[i] != 0)
			return false;
	return true;
}

/* Noise and mutated datagrams: never a crash (run under the sanitizers), and the outer
 * type and the decoders always agree. */
static void
random_datagrams_consistent(void **state)
{
	uint8_t buf[KBR_MAX_DATAGRAM + 64];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	unsigned typed = 0;

	(void)state;
	for (int round = 0; round < 30000; round++) {
		size_t len = xorshift(&rng) % (KBR_MAX_DATAGRAM + 64);
		union {
			struct kbr_pkt_hello h;
			struct kbr_pkt_identity i;
			struct kbr_pkt_init in;
			struct kbr_pkt_resp r;
			struct kbr_pkt_cookie c;
			struct kbr_pkt_data d;
		} u;
		int t;

		fill(&rng, buf, len);
		/* mostly plausible prefixes and lengths, so that the decoders are reached */
		if (round % 4 != 0 && len >= 4) {
			static const size_t lens[] = {64, 60, 200, 160, 24};
			unsigned k = (unsigned)(xorshift(&rng) % 6);

			buf[0] = KBR_VERSION;
			buf[1] = (uint8_t)(k + 1);
			buf[2] = buf[3] = 0;
			if (k < 5 && round % 3 != 0)
				len = lens[k];
			if (k == 0 && round % 2 == 0)
				memset(buf + 8, 0, KBR_HELLO_LEN - 8);
		}
		t = kbr_wire_packet_type(buf, len);
		if (t > 0)
			typed++;
		assert_int_equal(kbr_pkt_hello_decode(&u.h, buf, len) == 0,
		    t == KBR_PKT_HELLO && zero_padding(buf));
		assert_int_equal(kbr_pkt_identity_decode(&u.i, buf, len) == 0,
		    t == KBR_PKT_IDENTITY);
		assert_int_equal(kbr_pkt_init_decode(&u.in, buf, len) == 0, t == KBR_PKT_HS_INIT);
		assert_int_equal(kbr_pkt_resp_decode(&u.r, buf, len) == 0, t == KBR_PKT_HS_RESP);
		assert_int_equal(kbr_pkt_cookie_decode(&u.c, buf, len) == 0, t == KBR_PKT_COOKIE);
		assert_int_equal(kbr_pkt_data_decode(&u.d, buf, len) == 0, t == KBR_PKT_DATA);
		/* and a sealed-message decoder fed the same bytes */
		{
			struct kbr_msg m;

			if (kbr_wire_decode(&m, buf, len) == 0) {
				assert_true(len >= KBR_MSG_HEADER_LEN && len <= KBR_MAX_MSG);
				assert_true(m.type >= KBR_PING && m.type <= KBR_APP_MAX);
			}
		}
	}
	assert_true(typed > 1000);
}

/* Re-encoding what decoded gives the same bytes (sealed messages: the encoder and the
 * decoder agree on every field of random valid messages). */
static void
msg_random_round_trips(void **state)
{
	uint64_t rng = 77;

	(void)state;
	for (int round = 0; round < 5000; round++) {
		uint8_t buf[KBR_MAX_MSG], again[KBR_MAX_MSG], body[KBR_MAX_BODY];
		struct kbr_msg m, d;
		size_t n;

		memset(&m, 0, sizeof(m));
		m.tid = xorshift(&rng);
		switch (xorshift(&rng) % 5) {
		case 0:
			m.type = KBR_PING;
			break;
		case 1:
			m.type = KBR_PONG;
			m.u.observed.family = xorshift(&rng) % 2 ? KBR_AF_INET : KBR_AF_INET6;
			fill(&rng, m.u.observed.ip, m.u.observed.family == KBR_AF_INET ? 4 : 16);
			m.u.observed.port = (uint16_t)(1 + xorshift(&rng) % 65535);
			break;
		case 2:
			m.type = KBR_FIND_NODE;
			fill(&rng, m.u.find.target.b, NODEID_LEN);
			m.u.find.count = (uint8_t)(1 + xorshift(&rng) % KBR_MAX_NODES);
			break;
		case 3:
			m.type = KBR_NODES;
			m.u.nodes.count = (uint8_t)(xorshift(&rng) % (KBR_MAX_NODES + 1));
			for (unsigned i = 0; i < m.u.nodes.count; i++) {
				struct kbr_contact *c = &m.u.nodes.nodes[i];

				fill(&rng, c->id.b, NODEID_LEN);
				c->addr.family = xorshift(&rng) % 2 ? KBR_AF_INET : KBR_AF_INET6;
				fill(&rng, c->addr.ip, c->addr.family == KBR_AF_INET ? 4 : 16);
				c->addr.port = (uint16_t)(1 + xorshift(&rng) % 65535);
			}
			break;
		default:
			m.type = (uint8_t)(KBR_APP_MIN + xorshift(&rng) % (KBR_APP_MAX - KBR_APP_MIN + 1));
			m.u.app.len = xorshift(&rng) % (KBR_MAX_BODY + 1);
			fill(&rng, body, m.u.app.len);
			m.u.app.data = body;
			break;
		}
		n = encode(&m, buf);
		assert_int_equal(kbr_wire_decode(&d, buf, n), 0);
		same_msg(&m, &d);
		assert_int_equal(encode(&d, again), n);
		assert_memory_equal(again, buf, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(msg_round_trip_every_type),
		cmocka_unit_test(msg_limits),
		cmocka_unit_test(msg_reserved_and_unknown_types),
		cmocka_unit_test(msg_truncated_and_oversized_rejected),
		cmocka_unit_test(msg_wrong_fields_rejected),
		cmocka_unit_test(msg_random_round_trips),
		cmocka_unit_test(packet_types_and_exact_lengths),
		cmocka_unit_test(hello_round_trip_and_padding),
		cmocka_unit_test(identity_round_trip),
		cmocka_unit_test(init_round_trip),
		cmocka_unit_test(resp_round_trip),
		cmocka_unit_test(cookie_round_trip),
		cmocka_unit_test(data_round_trip),
		cmocka_unit_test(random_datagrams_consistent),
	};

	return cmocka_run_group_tests_name("kbr/wire", tests, NULL, NULL);
}
