/* libFuzzer target: one datagram through kbr_wire_decode. What decodes must encode again to the
 * same bytes (the format is exact), survive signing and verifying, and keep its addresses. */
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

	kbr_addr_format(a, s, sizeof(s));
	FUZZ_CHECK(kbr_addr_parse(&back, s) == 0);
	FUZZ_CHECK(kbr_addr_eq(&back, a));
	FUZZ_CHECK(memcmp(back.ip, a->ip, sizeof(a->ip)) == 0);
}

static void
check_same(const struct kbr_msg *a, const struct kbr_msg *b)
{
	FUZZ_CHECK(a->type == b->type && a->tid == b->tid && a->timestamp == b->timestamp);
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
	struct kbr_msg m, m2;
	struct identity as_sender;
	uint8_t *out;
	int n, err;

	err = kbr_wire_decode(&m, data, size);
	FUZZ_CHECK(err == 0 || err == -EBADMSG || err == -EPROTONOSUPPORT || err == -EMSGSIZE ||
	    err == -ENOTSUP);
	kbr_msg_type_name(m.type);
	if (err != 0)
		return 0;
	FUZZ_CHECK(size <= KBR_MAX_DATAGRAM && m.signed_len == size - ID_SIG_LEN);
	FUZZ_CHECK(m.sig == data + size - ID_SIG_LEN);
	if (m.type == KBR_PONG)
		check_addr(&m.u.observed);
	if (m.type == KBR_NODES)
		for (unsigned i = 0; i < m.u.nodes.count; i++)
			check_addr(&m.u.nodes.nodes[i].addr);
	/* only a key that hashes to the sender's ID gets as far as the signature */
	(void)kbr_wire_verify(&m, 0, 0);

	out = malloc(KBR_MAX_DATAGRAM);
	FUZZ_CHECK(out != NULL);
	/* the same header fields: an identity with the sender's ID, key and nonce, unsigned */
	memset(&as_sender, 0, sizeof(as_sender));
	as_sender.id = m.sender;
	memcpy(as_sender.pub, m.pub, ID_PUBKEY_LEN);
	as_sender.nonce = m.nonce;
	n = kbr_wire_encode_opt(&m, &as_sender, false, out, KBR_MAX_DATAGRAM);
	FUZZ_CHECK(n == (int)size);
	FUZZ_CHECK(memcmp(out, data, size - ID_SIG_LEN) == 0);

	/* signed by a real identity, it decodes to the same message and verifies */
	n = kbr_wire_encode(&m, fuzz_self(), out, KBR_MAX_DATAGRAM);
	FUZZ_CHECK(n == (int)size);
	FUZZ_CHECK(kbr_wire_decode(&m2, out, (size_t)n) == 0);
	check_same(&m, &m2);
	FUZZ_CHECK(nodeid_eq(&m2.sender, &fuzz_self()->id));
	FUZZ_CHECK(kbr_wire_verify(&m2, 0, 0) == 0);
	free(out);
	return 0;
}
