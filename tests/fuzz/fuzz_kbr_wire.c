/* libFuzzer target: one input through every decoder of kbr/wire.h. As a datagram,
 * kbr_wire_packet_type and each kbr_pkt_*_decode agree on its type, and what decodes encodes
 * again to the same bytes; the sealed part of a DATA is tried as a plaintext. As a sealed
 * message, kbr_wire_decode accepts exactly what kbr_wire_encode writes back byte for byte,
 * addresses survive printing, and the encoder fails cleanly on a buffer one byte short. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbr/wire.h"
#include "tests/fuzz/common.h"

/* An address printed and parsed back is the same address. */
static void
check_addr(const struct kbr_addr *a)
{
	char s[KBR_ADDR_STRLEN];
	struct kbr_addr back;

	FUZZ_CHECK(a->family == KBR_AF_INET || a->family == KBR_AF_INET6);
	FUZZ_CHECK(a->port != 0);
	kbr_addr_format(a, s, sizeof(s));
	FUZZ_CHECK(kbr_addr_parse(&back, s) == 0);
	FUZZ_CHECK(kbr_addr_eq(&back, a));
	FUZZ_CHECK(memcmp(back.ip, a->ip, sizeof(a->ip)) == 0);
}

static void
check_same(const struct kbr_msg *a, const struct kbr_msg *b)
{
	FUZZ_CHECK(a->type == b->type && a->tid == b->tid);
	switch (a->type) {
	case KBR_PONG:
		FUZZ_CHECK(kbr_addr_eq(&a->u.observed, &b->u.observed));
		break;
	case KBR_FIND_NODE:
		FUZZ_CHECK(nodeid_eq(&a->u.find.target, &b->u.find.target));
		FUZZ_CHECK(a->u.find.count == b->u.find.count);
		break;
	case KBR_NODES:
		FUZZ_CHECK(a->u.nodes.count == b->u.nodes.count);
		for (unsigned i = 0; i < a->u.nodes.count; i++) {
			FUZZ_CHECK(nodeid_eq(&a->u.nodes.nodes[i].id, &b->u.nodes.nodes[i].id));
			FUZZ_CHECK(kbr_addr_eq(&a->u.nodes.nodes[i].addr,
			    &b->u.nodes.nodes[i].addr));
		}
		break;
	case KBR_PING:
		break;
	default:
		FUZZ_CHECK(a->u.app.len == b->u.app.len);
		FUZZ_CHECK(a->u.app.len == 0 ||
		    memcmp(a->u.app.data, b->u.app.data, a->u.app.len) == 0);
		break;
	}
}

/* The input as a sealed message (the plaintext inside a DATA). */
static void
check_sealed(const uint8_t *data, size_t size)
{
	struct kbr_msg m, m2;
	uint8_t *out, *shortbuf;
	int err, n;

	err = kbr_wire_decode(&m, data, size);
	(void)kbr_msg_type_name(m.type);
	FUZZ_CHECK(err == 0 || err == -EBADMSG);
	if (err != 0)
		return;
	FUZZ_CHECK(size >= KBR_MSG_HEADER_LEN && size <= KBR_MAX_MSG);
	FUZZ_CHECK(m.type == data[0] && m.tid == fuzz_get64(data + 1));
	FUZZ_CHECK(m.type != KBR_KEEPALIVE && m.type < KBR_CHALLENGE);
	if (m.type == KBR_PONG)
		check_addr(&m.u.observed);
	if (m.type == KBR_FIND_NODE)
		FUZZ_CHECK(m.u.find.count >= 1 && m.u.find.count <= KBR_MAX_NODES);
	if (m.type == KBR_NODES) {
		FUZZ_CHECK(m.u.nodes.count <= KBR_MAX_NODES);
		for (unsigned i = 0; i < m.u.nodes.count; i++)
			check_addr(&m.u.nodes.nodes[i].addr);
	}
	if (m.type >= KBR_APP_MIN && m.type <= KBR_APP_MAX)
		FUZZ_CHECK(m.u.app.data == data + KBR_MSG_HEADER_LEN &&
		    m.u.app.len == size - KBR_MSG_HEADER_LEN);

	/* the format is exact: the same bytes again, and not one byte fewer */
	out = malloc(size);
	shortbuf = malloc(size - 1);
	FUZZ_CHECK(out != NULL && shortbuf != NULL);
	n = kbr_wire_encode(&m, out, size);
	FUZZ_CHECK(n == (int)size && memcmp(out, data, size) == 0);
	FUZZ_CHECK(kbr_wire_encode(&m, shortbuf, size - 1) == -EMSGSIZE);
	FUZZ_CHECK(kbr_wire_decode(&m2, out, size) == 0);
	check_same(&m, &m2);
	/* the session layer's own types are never a caller's to send */
	m2.type = KBR_KEEPALIVE;
	FUZZ_CHECK(kbr_wire_encode(&m2, out, size) == -EINVAL);
	m2.type = KBR_CHALLENGE;
	FUZZ_CHECK(kbr_wire_encode(&m2, out, size) == -EINVAL);
	free(shortbuf);
	free(out);
}

/* decode -> encode gives the input back, for each fixed-length outer type. */
#define ROUND_TRIP(kind, want_type) do {					\
	struct kbr_pkt_##kind p_;						\
	bool ok_ = kbr_pkt_##kind##_decode(&p_, data, size) == 0;		\
									\
	FUZZ_CHECK(!ok_ || type == (want_type));				\
	if (ok_) {								\
		FUZZ_CHECK(kbr_pkt_##kind##_encode(&p_, out) == size);		\
		FUZZ_CHECK(memcmp(out, data, size) == 0);			\
	}									\
	decoded += ok_;							\
} while (0)

/* The input as a datagram. */
static void
check_outer(const uint8_t *data, size_t size)
{
	uint8_t out[KBR_MAX_DATAGRAM];
	struct kbr_pkt_data d;
	int type = kbr_wire_packet_type(data, size);
	unsigned decoded = 0;

	FUZZ_CHECK(type == -EPROTONOSUPPORT || (type >= 0 && type <= KBR_PKT_DATA));
	if (type == -EPROTONOSUPPORT)
		FUZZ_CHECK(size >= KBR_PREFIX_LEN && size <= KBR_MAX_DATAGRAM &&
		    data[0] != KBR_VERSION);
	if (type > 0)
		FUZZ_CHECK(size <= KBR_MAX_DATAGRAM && data[0] == KBR_VERSION &&
		    data[1] == type && data[2] == 0 && data[3] == 0);

	ROUND_TRIP(hello, KBR_PKT_HELLO);
	ROUND_TRIP(identity, KBR_PKT_IDENTITY);
	ROUND_TRIP(init, KBR_PKT_HS_INIT);
	ROUND_TRIP(resp, KBR_PKT_HS_RESP);
	ROUND_TRIP(cookie, KBR_PKT_COOKIE);
	if (kbr_pkt_data_decode(&d, data, size) == 0) {
		FUZZ_CHECK(type == KBR_PKT_DATA);
		FUZZ_CHECK(kbr_pkt_data_header(d.receiver, d.counter, out) ==
		    KBR_DATA_HEADER_LEN);
		FUZZ_CHECK(memcmp(out, data, KBR_DATA_HEADER_LEN) == 0);
		FUZZ_CHECK(d.sealed == data + KBR_DATA_HEADER_LEN &&
		    d.sealed_len == size - KBR_DATA_HEADER_LEN);
		FUZZ_CHECK(d.sealed_len >= KBR_TAG_LEN + KBR_MSG_HEADER_LEN &&
		    d.sealed_len <= KBR_TAG_LEN + KBR_MAX_MSG);
		decoded++;
		/* with crypto off the sealed part is the plaintext */
		check_sealed(d.sealed, d.sealed_len - KBR_TAG_LEN);
	}
	/* every well-formed datagram decodes as its type; only a HELLO's padding can differ */
	if (type > 0 && decoded == 0) {
		bool zero = true;

		FUZZ_CHECK(type == KBR_PKT_HELLO);
		for (size_t i = KBR_PREFIX_LEN + KBR_INDEX_LEN; i < size; i++)
			zero = zero && data[i] == 0;
		FUZZ_CHECK(!zero);
	}
	FUZZ_CHECK(decoded <= 1);
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
	check_outer(data, size);
	check_sealed(data, size);
	return 0;
}
