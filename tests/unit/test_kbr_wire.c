/* Tests for kbr/wire.c: round trips, every kind of malformed datagram, forged signatures and
 * failing puzzles, random mutations; and the examples of doc/protocol.md, decoded and
 * re-encoded byte for byte. `test_kbr_wire --print-examples` prints those examples. */
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
#include "puzzle/puzzle.h"

#define EXAMPLE_TID 0x0102030405060708ULL
#define EXAMPLE_TIME 1767225600000ULL	/* 2026-01-01T00:00:00Z in ms */

static struct identity *alice;		/* seed 00 01 02 ... 1f, c2 = 4 */

static int
setup(void **state)
{
	uint8_t seed[ID_SEED_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	return identity_from_seed(&alice, seed, 4);
}

static int
teardown(void **state)
{
	(void)state;
	identity_free(alice);
	return 0;
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

/* The four example messages of doc/protocol.md. */
static void
example_msg(int which, struct kbr_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->tid = EXAMPLE_TID;
	m->timestamp = EXAMPLE_TIME;
	switch (which) {
	case 0:
		m->type = KBR_PING;
		break;
	case 1:
		m->type = KBR_PONG;
		addr4(&m->u.observed, 127, 0, 0, 1, 3631);
		break;
	case 2:
		m->type = KBR_FIND_NODE;
		assert_int_equal(nodeid_sha1(&m->u.find.target, "sip:alice@example.org", 21), 0);
		m->u.find.count = 16;
		break;
	default:
		m->type = KBR_NODES;
		m->u.nodes.count = 2;
		assert_int_equal(nodeid_sha1(&m->u.nodes.nodes[0].id, "node one", 8), 0);
		addr4(&m->u.nodes.nodes[0].addr, 192, 0, 2, 1, 3631);
		assert_int_equal(nodeid_sha1(&m->u.nodes.nodes[1].id, "node two", 8), 0);
		assert_int_equal(kbr_addr_parse(&m->u.nodes.nodes[1].addr, "[2001:db8::2]:3632"), 0);
		break;
	}
}

static int
encode(const struct kbr_msg *m, uint8_t *buf)
{
	int n = kbr_wire_encode(m, alice, buf, KBR_MAX_DATAGRAM);

	assert_true(n > 0);
	return n;
}

static void
same_body(const struct kbr_msg *a, const struct kbr_msg *b)
{
	assert_int_equal(a->type, b->type);
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
	default:
		break;
	}
}

static void
round_trip_every_type(void **state)
{
	uint8_t buf[KBR_MAX_DATAGRAM];

	(void)state;
	for (int which = 0; which < 4; which++) {
		struct kbr_msg m, d;
		int n;

		example_msg(which, &m);
		n = encode(&m, buf);
		assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
		assert_int_equal(d.tid, EXAMPLE_TID);
		assert_int_equal(d.timestamp, EXAMPLE_TIME);
		assert_true(nodeid_eq(&d.sender, &alice->id));
		assert_memory_equal(d.pub, alice->pub, ID_PUBKEY_LEN);
		assert_true(nodeid_eq(&d.nonce, &alice->nonce));
		same_body(&m, &d);
		assert_int_equal(kbr_wire_verify(&d, 0, 4), 0);
	}
}

static void
full_nodes_reply_fits(void **state)
{
	uint8_t buf[KBR_MAX_DATAGRAM];
	struct kbr_msg m, d;
	int n;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = KBR_NODES;
	m.u.nodes.count = KBR_MAX_NODES;
	for (unsigned i = 0; i < KBR_MAX_NODES; i++) {
		m.u.nodes.nodes[i].id.b[0] = (uint8_t)i;
		assert_int_equal(kbr_addr_parse(&m.u.nodes.nodes[i].addr,
		    "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), 0);
	}
	n = kbr_wire_encode(&m, alice, buf, sizeof(buf));
	assert_true(n > 0 && n <= KBR_MAX_DATAGRAM);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	same_body(&m, &d);
	/* one more contact is refused by the encoder */
	m.u.nodes.count = KBR_MAX_NODES + 1;
	assert_int_equal(kbr_wire_encode(&m, alice, buf, sizeof(buf)), -EINVAL);
	/* a buffer too small */
	m.u.nodes.count = 2;
	assert_int_equal(kbr_wire_encode(&m, alice, buf, 100), -EMSGSIZE);
	/* an application body at the limit and one past it */
	static uint8_t big[KBR_MAX_BODY + 1];
	memset(&m, 0, sizeof(m));
	m.type = KBR_APP_MIN;
	m.u.app.data = big;
	m.u.app.len = KBR_MAX_BODY;
	n = kbr_wire_encode(&m, alice, buf, sizeof(buf));
	assert_int_equal(n, KBR_MAX_DATAGRAM);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(d.u.app.len, KBR_MAX_BODY);
	m.u.app.len = KBR_MAX_BODY + 1;
	assert_int_equal(kbr_wire_encode(&m, alice, buf, sizeof(buf)), -EINVAL);
}

static void
truncated_and_oversized_dropped(void **state)
{
	uint8_t buf[KBR_MAX_DATAGRAM + 16];
	struct kbr_msg m, d;

	(void)state;
	for (int which = 0; which < 4; which++) {
		int n;

		example_msg(which, &m);
		n = encode(&m, buf);
		for (int len = 0; len < n; len++)
			assert_int_not_equal(kbr_wire_decode(&d, buf, (size_t)len), 0);
		/* one byte too many */
		buf[n] = 0;
		assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n + 1), -EBADMSG);
	}
	memset(buf, 0, sizeof(buf));
	memcpy(buf, KBR_MAGIC, 4);
	assert_int_equal(kbr_wire_decode(&d, buf, KBR_MAX_DATAGRAM + 1), -EMSGSIZE);
	assert_int_equal(kbr_wire_decode(&d, NULL, 10), -EBADMSG);
}

/* Offsets of header fields, as doc/protocol.md gives them. */
enum {
	OFF_VERSION = 4, OFF_TYPE = 5, OFF_FLAGS = 6, OFF_BODYLEN = 96, OFF_BODY = 98,
};

static void
wrong_fields_dropped(void **state)
{
	uint8_t good[KBR_MAX_DATAGRAM], buf[KBR_MAX_DATAGRAM];
	struct kbr_msg m, d;
	int n;

	(void)state;
	example_msg(3, &m);	/* NODES: the richest body */
	n = encode(&m, good);
	assert_int_equal(good[OFF_BODYLEN] << 8 | good[OFF_BODYLEN + 1], n - OFF_BODY - KBR_TRAILER_LEN);

#define MUTATE(stmt, expect)                                          \
	do {                                                          \
		memcpy(buf, good, (size_t)n);                         \
		stmt;                                                 \
		assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), expect); \
	} while (0)

	MUTATE(buf[0] = 'X', -EBADMSG);				/* magic */
	MUTATE(buf[OFF_VERSION] = 2, -EPROTONOSUPPORT);		/* version */
	MUTATE(buf[OFF_VERSION] = 0, -EPROTONOSUPPORT);
	MUTATE(buf[OFF_TYPE] = 16, -EBADMSG);			/* unknown type */
	MUTATE(buf[OFF_TYPE] = 0, -EBADMSG);
	MUTATE(buf[OFF_TYPE] = KBR_PING, -EBADMSG);		/* PING with a body */
	MUTATE(buf[OFF_FLAGS + 1] = 1, -EBADMSG);			/* reserved flags */
	MUTATE(buf[OFF_BODYLEN + 1]++, -EBADMSG);			/* body length +1 */
	MUTATE(buf[OFF_BODYLEN + 1]--, -EBADMSG);			/* body length -1 */
	MUTATE(buf[OFF_BODYLEN] = 0xff, -EBADMSG);		/* body length huge */
	MUTATE(buf[OFF_BODY] = 3, -EBADMSG);			/* count 3, two present */
	MUTATE(buf[OFF_BODY] = 1, -EBADMSG);			/* count 1, two present */
	MUTATE(buf[OFF_BODY] = KBR_MAX_NODES + 1, -EBADMSG);
	MUTATE(buf[OFF_BODY + 1 + NODEID_LEN] = 5, -EBADMSG);	/* address family */
	MUTATE(buf[OFF_BODY + 1 + NODEID_LEN + 5] = 0;
	    buf[OFF_BODY + 1 + NODEID_LEN + 6] = 0, -EBADMSG);	/* port 0 */
	size_t trailer = (size_t)n - KBR_TRAILER_LEN;
	MUTATE(buf[trailer] = KBR_AUTH_MAC, -ENOTSUP);		/* reserved auth type */
	MUTATE(buf[trailer] = 9, -EBADMSG);			/* unknown auth type */
	MUTATE(buf[trailer + 2] = ID_SIG_LEN - 1, -EBADMSG);	/* auth length */
	MUTATE(buf[trailer + 2] = ID_SIG_LEN + 1, -EBADMSG);
#undef MUTATE

	/* FIND_NODE with count 0 and with too many */
	example_msg(2, &m);
	n = encode(&m, good);
	memcpy(buf, good, (size_t)n);
	buf[OFF_BODY + NODEID_LEN] = 0;
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), -EBADMSG);
	buf[OFF_BODY + NODEID_LEN] = KBR_MAX_NODES + 1;
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), -EBADMSG);
}

static void
forged_and_puzzle_failing_rejected(void **state)
{
	uint8_t good[KBR_MAX_DATAGRAM], buf[KBR_MAX_DATAGRAM];
	struct kbr_msg m, d;
	struct identity *mallory;
	uint8_t seed[ID_SEED_LEN];
	int n;

	(void)state;
	example_msg(2, &m);
	n = encode(&m, good);
	/* any flipped bit in the signed part or the signature fails verification */
	for (int i = 0; i < n; i++) {
		memcpy(buf, good, (size_t)n);
		buf[i] ^= 0x01;
		if (kbr_wire_decode(&d, buf, (size_t)n) != 0)
			continue;	/* caught by the decoder already */
		assert_int_not_equal(kbr_wire_verify(&d, 0, 0), 0);
	}
	/* mallory's key in alice's name: the ID is not SHA-1 of the key */
	memset(seed, 0xaa, sizeof(seed));
	assert_int_equal(identity_from_seed(&mallory, seed, 4), 0);
	memcpy(buf, good, (size_t)n);
	memcpy(buf + 44, mallory->pub, ID_PUBKEY_LEN);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(kbr_wire_verify(&d, 0, 0), -EKEYREJECTED);
	/* mallory signing her own message with alice's ID field */
	n = kbr_wire_encode(&m, mallory, buf, sizeof(buf));
	assert_true(n > 0);
	memcpy(buf + 24, alice->id.b, NODEID_LEN);
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(kbr_wire_verify(&d, 0, 0), -EKEYREJECTED);
	/* a correctly signed message from an ID below the overlay's puzzle difficulty */
	n = kbr_wire_encode(&m, mallory, buf, sizeof(buf));
	assert_int_equal(kbr_wire_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(kbr_wire_verify(&d, mallory->c1, 4), 0);
	assert_int_equal(kbr_wire_verify(&d, mallory->c1 + 1, 4), -EKEYREJECTED);
	assert_int_equal(kbr_wire_verify(&d, 0, puzzle_dynamic_bits(&mallory->id,
	    &mallory->nonce) + 1), -EKEYREJECTED);
	identity_free(mallory);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
random_mutations_never_crash(void **state)
{
	uint8_t good[KBR_MAX_DATAGRAM], buf[KBR_MAX_DATAGRAM + 64];
	struct kbr_msg m, d;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	unsigned accepted = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		int n, len;

		example_msg(round % 4, &m);
		n = encode(&m, good);
		memcpy(buf, good, (size_t)n);
		len = n;
		for (int j = 0, flips = 1 + (int)(xorshift(&rng) % 4); j < flips; j++)
			buf[xorshift(&rng) % (uint64_t)n] ^= (uint8_t)(1 + xorshift(&rng) % 255);
		if (xorshift(&rng) % 4 == 0)
			len = (int)(xorshift(&rng) % (KBR_MAX_DATAGRAM + 64));
		if (kbr_wire_decode(&d, buf, (size_t)len) == 0 && kbr_wire_verify(&d, 0, 0) == 0) {
			/* only possible if the bytes that count are unchanged */
			assert_int_equal(len, n);
			assert_memory_equal(buf, good, (size_t)n);
			accepted++;
		}
	}
	(void)accepted;
	/* pure noise */
	for (int round = 0; round < 5000; round++) {
		int len = (int)(xorshift(&rng) % (KBR_MAX_DATAGRAM + 64));

		for (int i = 0; i < len; i++)
			buf[i] = (uint8_t)xorshift(&rng);
		if (xorshift(&rng) % 2)
			memcpy(buf, KBR_MAGIC "\x01", len >= 5 ? 5 : (size_t)len);
		if (kbr_wire_decode(&d, buf, (size_t)len) == 0)
			assert_int_not_equal(kbr_wire_verify(&d, 0, 0), 0);
	}
}

/* ---- doc/protocol.md examples ---- */

static const char *example_names[] = {"ping", "pong", "find_node", "nodes"};

/* Reads the ```hex NAME block of doc/protocol.md into out: hex digit pairs, '#' starts a
 * comment that runs to the end of the line. Returns the byte count or -1. */
static int
doc_example(const char *name, uint8_t *out, size_t max)
{
	const char *path = getenv("P2PNS_PROTOCOL_MD") ? getenv("P2PNS_PROTOCOL_MD") :
	    "doc/protocol.md";
	FILE *f = fopen(path, "r");
	char line[512], want[64];
	bool in = false;
	int n = -1;

	if (f == NULL)
		return -1;
	snprintf(want, sizeof(want), "```hex %s\n", name);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!in) {
			if (strcmp(line, want) == 0) {
				in = true;
				n = 0;
			}
			continue;
		}
		if (strncmp(line, "```", 3) == 0)
			break;
		for (char *p = line; *p && *p != '#'; p++) {
			unsigned v;

			if (*p == ' ' || *p == '\n')
				continue;
			if (sscanf(p, "%2x", &v) != 1 || (size_t)n >= max) {
				fclose(f);
				return -1;
			}
			out[n++] = (uint8_t)v;
			p++;
		}
	}
	fclose(f);
	return in ? n : -1;
}

static void
protocol_md_examples_decode(void **state)
{
	(void)state;
	for (int which = 0; which < 4; which++) {
		uint8_t doc[KBR_MAX_DATAGRAM], mine[KBR_MAX_DATAGRAM];
		struct kbr_msg m, d;
		int n = doc_example(example_names[which], doc, sizeof(doc)), k;

		print_message("doc/protocol.md example %s: %d bytes\n", example_names[which], n);
		assert_true(n > 0);
		/* the example decodes and verifies with the decoder the daemon uses */
		assert_int_equal(kbr_wire_decode(&d, doc, (size_t)n), 0);
		assert_int_equal(kbr_wire_verify(&d, 0, 4), 0);
		example_msg(which, &m);
		same_body(&m, &d);
		/* and the encoder produces exactly those bytes (Ed25519 is deterministic) */
		k = encode(&m, mine);
		assert_int_equal(k, n);
		assert_memory_equal(mine, doc, (size_t)n);
	}
}

/* Prints the examples in the annotated form doc/protocol.md uses. */
static void
hexline(const uint8_t *p, size_t n, const char *what)
{
	char text[3 * 16 + 1] = "";

	for (size_t off = 0; off < n; off += 16) {
		size_t len = n - off < 16 ? n - off : 16;

		text[0] = '\0';
		for (size_t i = 0; i < len; i++)
			snprintf(text + 3 * i, 4, "%02x ", p[off + i]);
		if (off == 0)
			printf("%-48s # %s\n", text, what);
		else
			printf("%.*s\n", (int)(3 * len - 1), text);
	}
}

static void
print_examples(void)
{
	for (int which = 0; which < 4; which++) {
		uint8_t b[KBR_MAX_DATAGRAM];
		struct kbr_msg m;
		size_t o = 0;
		int n;

		example_msg(which, &m);
		n = kbr_wire_encode(&m, alice, b, sizeof(b));
		printf("```hex %s\n", example_names[which]);
		hexline(b + o, 4, "magic \"P2PN\""); o += 4;
		hexline(b + o, 1, "version 1"); o += 1;
		hexline(b + o, 1, kbr_msg_type_name(b[o])); o += 1;
		hexline(b + o, 2, "flags"); o += 2;
		hexline(b + o, 8, "transaction id"); o += 8;
		hexline(b + o, 8, "timestamp (ms)"); o += 8;
		hexline(b + o, 20, "sender node ID"); o += 20;
		hexline(b + o, 32, "sender public key"); o += 32;
		hexline(b + o, 20, "dynamic-puzzle nonce"); o += 20;
		hexline(b + o, 2, "body length"); o += 2;
		size_t body = (size_t)(b[o - 2] << 8 | b[o - 1]);
		if (body > 0)
			hexline(b + o, body, "body");
		o += body;
		hexline(b + o, 1, "auth type 1 (Ed25519)"); o += 1;
		hexline(b + o, 2, "auth length 64"); o += 2;
		hexline(b + o, (size_t)n - o, "signature");
		printf("```\n\n");
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_every_type),
		cmocka_unit_test(full_nodes_reply_fits),
		cmocka_unit_test(truncated_and_oversized_dropped),
		cmocka_unit_test(wrong_fields_dropped),
		cmocka_unit_test(forged_and_puzzle_failing_rejected),
		cmocka_unit_test(random_mutations_never_crash),
		cmocka_unit_test(protocol_md_examples_decode),
	};

	if (argc > 1 && strcmp(argv[1], "--print-examples") == 0) {
		if (setup(NULL) != 0)
			return 1;
		print_examples();
		teardown(NULL);
		return 0;
	}
	return cmocka_run_group_tests_name("kbr/wire", tests, setup, teardown);
}
