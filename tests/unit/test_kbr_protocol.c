/* The examples of doc/protocol.md: decoded field by field, their signatures verified, the
 * session keys derived and the DATA opened, every datagram re-encoded byte for byte; and the
 * same exchange run through kbr/session.c with the examples' random bytes, which must send
 * exactly the documented datagrams. */
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

#include "kbr/kbr.h"
#include "kbr/session.h"
#include "kbr/suite.h"
#include "kbr/wire.h"

#define T0 1767225600000ULL	/* 2026-01-01T00:00:00Z */

enum { MAX_EXAMPLE = 1200 };

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

struct example {
	uint8_t b[MAX_EXAMPLE];
	size_t len;
};

static void
load(const char *name, struct example *e, size_t want_len)
{
	int n = doc_example(name, e->b, sizeof(e->b));

	if (n < 0)
		fail_msg("doc/protocol.md has no example %s", name);
	e->len = (size_t)n;
	assert_int_equal(e->len, want_len);
}

static void
seq(uint8_t *out, uint8_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(first + i);
}

static struct identity *
ident(uint8_t first)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;

	seq(seed, first, sizeof(seed));
	assert_int_equal(identity_from_seed(&id, seed, 4), 0);
	return id;
}

static void
sign_check(const uint8_t *pub, const char *ctx, const uint8_t *h, size_t hlen,
    const uint8_t *part, size_t len, const uint8_t *sig)
{
	uint8_t buf[512];
	size_t n = strlen(ctx);

	memcpy(buf, ctx, n);
	if (hlen > 0)
		memcpy(buf + n, h, hlen);
	memcpy(buf + n + hlen, part, len);
	assert_int_equal(identity_verify(pub, ID_PUBKEY_LEN, buf, n + hlen + len, sig,
	    ID_SIG_LEN), 0);
}

/* Decodes every example on its own, with nothing but the documented rules. */
static void
examples_decode_and_reencode(void **state)
{
	struct identity *I = ident(0x00), *R = ident(0x20);
	struct example hello, idm, init, resp, cookie, ping, pong, find;
	struct kbr_pkt_hello ph;
	struct kbr_pkt_identity pi;
	struct kbr_pkt_init pin;
	struct kbr_pkt_resp pr;
	struct kbr_pkt_cookie pc;
	struct kbr_pkt_data pd;
	uint8_t again[MAX_EXAMPLE], eph[32], pub[32], shared[32], h[32], keys[64];
	uint8_t info[13 + KBR_RESP_SIGNED_LEN], pt[KBR_MAX_MSG];
	struct suite_aead *a = suite_aead_new();
	struct nodeid id;
	struct kbr_msg m;

	(void)state;
	assert_non_null(a);
	load("hello", &hello, KBR_HELLO_LEN);
	load("identity", &idm, KBR_IDENTITY_LEN);
	load("hs_init", &init, KBR_INIT_LEN);
	load("hs_resp", &resp, KBR_RESP_LEN);
	load("cookie", &cookie, KBR_COOKIE_MSG_LEN);
	load("data_ping", &ping, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN);
	load("data_pong", &pong, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN + KBR_WIRE_ADDR4_LEN);
	load("data_find_node", &find, KBR_DATA_OVERHEAD + KBR_MSG_HEADER_LEN + NODEID_LEN + 1);

	assert_int_equal(kbr_pkt_hello_decode(&ph, hello.b, hello.len), 0);
	assert_int_equal(ph.sender, 0x01020304);
	assert_int_equal(kbr_pkt_hello_encode(&ph, again), hello.len);
	assert_memory_equal(again, hello.b, hello.len);

	assert_int_equal(kbr_pkt_identity_decode(&pi, idm.b, idm.len), 0);
	assert_int_equal(pi.receiver, 0x01020304);
	assert_memory_equal(pi.pub, R->pub, ID_PUBKEY_LEN);
	assert_int_equal(nodeid_sha1(&id, pi.pub, ID_PUBKEY_LEN), 0);
	assert_true(nodeid_eq(&id, &R->id));
	assert_int_equal(identity_check(pi.pub, ID_PUBKEY_LEN, &id, &pi.nonce, 0, 4), 0);
	assert_int_equal(kbr_pkt_identity_encode(&pi, again), idm.len);
	assert_memory_equal(again, idm.b, idm.len);

	/* HS_INIT: names R, signed by I, the ephemeral key is the one of 40 41 .. 5f */
	assert_int_equal(kbr_pkt_init_decode(&pin, init.b, init.len), 0);
	assert_int_equal(pin.sender, 0x01020304);
	assert_true(nodeid_eq(&pin.responder, &R->id));
	assert_memory_equal(pin.pub, I->pub, ID_PUBKEY_LEN);
	assert_int_equal(pin.timestamp, T0);
	seq(eph, 0x40, 32);
	assert_int_equal(suite_x25519_public(eph, pub), 0);
	assert_memory_equal(pin.eph, pub, 32);
	sign_check(pin.pub, "p2pns hs init v2", NULL, 0, init.b, KBR_INIT_SIGNED_LEN, pin.sig);
	for (size_t i = 0; i < KBR_COOKIE_LEN; i++)
		assert_int_equal(pin.cookie[i], 0);
	assert_int_equal(kbr_pkt_init_encode(&pin, again), init.len);
	assert_memory_equal(again, init.b, init.len);

	/* HS_RESP: bound to H = SHA-256(HS_INIT 0..183) */
	suite_sha256(init.b, KBR_INIT_HASHED_LEN, NULL, 0, NULL, 0, h);
	assert_int_equal(kbr_pkt_resp_decode(&pr, resp.b, resp.len), 0);
	assert_int_equal(pr.sender, 0x0a0b0c0d);
	assert_int_equal(pr.receiver, 0x01020304);
	assert_memory_equal(pr.pub, R->pub, ID_PUBKEY_LEN);
	sign_check(pr.pub, "p2pns hs resp v2", h, sizeof(h), resp.b, KBR_RESP_SIGNED_LEN, pr.sig);
	assert_int_equal(kbr_pkt_resp_encode(&pr, again), resp.len);
	assert_memory_equal(again, resp.b, resp.len);

	/* the keys: both sides get the same secret */
	assert_int_equal(suite_x25519_shared(eph, pr.eph, shared), 0);
	seq(eph, 0x60, 32);
	assert_int_equal(suite_x25519_shared(eph, pin.eph, keys), 0);
	assert_memory_equal(keys, shared, 32);
	memcpy(info, "p2pns keys v2", 13);
	memcpy(info + 13, resp.b, KBR_RESP_SIGNED_LEN);
	assert_int_equal(suite_hkdf(h, sizeof(h), shared, sizeof(shared), info, sizeof(info),
	    keys, sizeof(keys)), 0);

	assert_int_equal(kbr_pkt_cookie_decode(&pc, cookie.b, cookie.len), 0);
	assert_int_equal(pc.receiver, 0x01020304);
	assert_int_equal(pc.cookie[0], 0xc0);
	assert_int_equal(kbr_pkt_cookie_encode(&pc, again), cookie.len);
	assert_memory_equal(again, cookie.b, cookie.len);

	/* DATA from I (key 0..31) and from R (key 32..63) */
	struct {
		struct example *e;
		const uint8_t *key;
		uint32_t receiver;
		uint64_t counter;
		uint8_t type;
	} d[] = {
		{&ping, keys, 0x0a0b0c0d, 0, KBR_PING},
		{&pong, keys + 32, 0x01020304, 0, KBR_PONG},
		{&find, keys, 0x0a0b0c0d, 1, KBR_FIND_NODE},
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		size_t n;

		assert_int_equal(kbr_pkt_data_decode(&pd, d[i].e->b, d[i].e->len), 0);
		assert_int_equal(pd.receiver, d[i].receiver);
		assert_int_equal(pd.counter, d[i].counter);
		n = pd.sealed_len - KBR_TAG_LEN;
		assert_int_equal(suite_open(a, d[i].key, pd.counter, d[i].e->b, KBR_DATA_HEADER_LEN,
		    pd.sealed, n, pt), 0);
		assert_int_equal(kbr_wire_decode(&m, pt, n), 0);
		assert_int_equal(m.type, d[i].type);
		/* and back: the plaintext, the header and the seal give the same bytes */
		assert_int_equal(kbr_wire_encode(&m, again + KBR_DATA_HEADER_LEN + 100,
		    sizeof(again) - KBR_DATA_HEADER_LEN - 100), (int)n);
		assert_memory_equal(again + KBR_DATA_HEADER_LEN + 100, pt, n);
		kbr_pkt_data_header(pd.receiver, pd.counter, again);
		assert_int_equal(suite_seal(a, d[i].key, pd.counter, again, KBR_DATA_HEADER_LEN, pt,
		    n, again + KBR_DATA_HEADER_LEN), 0);
		assert_memory_equal(again, d[i].e->b, d[i].e->len);
		/* one flipped bit anywhere and it no longer opens */
		d[i].e->b[d[i].e->len - 1] ^= 1;
		assert_int_equal(suite_open(a, d[i].key, pd.counter, d[i].e->b, KBR_DATA_HEADER_LEN,
		    pd.sealed, n, pt), -EBADMSG);
		d[i].e->b[d[i].e->len - 1] ^= 1;
	}
	assert_int_equal(m.tid, 0x1112131415161718ULL);
	assert_int_equal(m.u.find.count, 16);
	assert_int_equal(nodeid_sha1(&id, "sip:alice@example.org", 21), 0);
	assert_true(nodeid_eq(&m.u.find.target, &id));
	suite_aead_free(a);
	identity_free(I);
	identity_free(R);
}

/* ---- the same exchange through kbr/session.c ---- */

enum { MAX_OUT = 16 };

struct side {
	const uint8_t *rnd;		/* the random bytes it will draw, in order */
	size_t rnd_len, rnd_used;
	struct example out[MAX_OUT];
	size_t nout;
	uint8_t got[KBR_MAX_MSG];	/* the last message delivered */
	size_t got_len;
	int delivered;
};

static void
s_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct side *s = arg;

	(void)to;
	assert_true(s->nout < MAX_OUT && len <= MAX_EXAMPLE);
	memcpy(s->out[s->nout].b, buf, len);
	s->out[s->nout++].len = len;
}

static void
s_random(void *arg, void *buf, size_t len)
{
	struct side *s = arg;

	assert_true(s->rnd_used + len <= s->rnd_len);
	memcpy(buf, s->rnd + s->rnd_used, len);
	s->rnd_used += len;
}

static void
s_deliver(void *arg, uint64_t now, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct side *s = arg;

	(void)now;
	(void)peer;
	(void)from;
	memcpy(s->got, msg, len);
	s->got_len = len;
	s->delivered++;
}

static void
addr(struct kbr_addr *a, uint8_t host)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 127;
	a->ip[3] = host;
	a->port = 3631;
}

static void
assert_example(const struct example *got, const char *name)
{
	struct example want;
	int n = doc_example(name, want.b, sizeof(want.b));

	assert_true(n > 0);
	assert_int_equal(got->len, (size_t)n);
	assert_memory_equal(got->b, want.b, got->len);
}

static void
sessions_send_the_examples(void **state)
{
	struct identity *I = ident(0x00), *R = ident(0x20);
	/* I: cookie secret (32), then for the HELLO its index; for the handshake its index and
	 * ephemeral key. R: cookie secret, then its index and ephemeral key. Indices are drawn
	 * as host-order integers. */
	uint8_t ir[32 + 4 + 4 + 32], rr[32 + 4 + 32];
	uint32_t idx_i = 0x01020304, idx_r = 0x0a0b0c0d;
	struct side si = {.rnd = ir, .rnd_len = sizeof(ir)}, sr = {.rnd = rr, .rnd_len = sizeof(rr)};
	struct kbr_session_io ioi = {.arg = &si, .send = s_send, .random = s_random,
	    .deliver = s_deliver};
	struct kbr_session_io ior = {.arg = &sr, .send = s_send, .random = s_random,
	    .deliver = s_deliver};
	struct kbr_stats sti, str;
	struct kbr_session_cfg cfg;
	struct kbr_sessions *a, *b;
	struct kbr_addr ai, ar;
	struct kbr_msg m;
	uint8_t msg[KBR_MAX_MSG];
	int n;

	(void)state;
	memset(ir, 0x55, 32);
	memcpy(ir + 32, &idx_i, 4);
	memcpy(ir + 36, &idx_i, 4);
	seq(ir + 40, 0x40, 32);
	memset(rr, 0x66, 32);
	memcpy(rr + 32, &idx_r, 4);
	seq(rr + 36, 0x60, 32);
	memset(&sti, 0, sizeof(sti));
	memset(&str, 0, sizeof(str));
	kbr_session_cfg_default(&cfg);
	cfg.c1 = 0;
	cfg.c2 = 4;
	a = kbr_sessions_new(&cfg, I, &ioi, &sti, T0);
	b = kbr_sessions_new(&cfg, R, &ior, &str, T0);
	assert_non_null(a);
	assert_non_null(b);
	addr(&ai, 1);
	addr(&ar, 2);

	/* I knows only R's address: HELLO, IDENTITY, HS_INIT */
	memset(&m, 0, sizeof(m));
	m.type = KBR_PING;
	m.tid = 0x0102030405060708ULL;
	n = kbr_wire_encode(&m, msg, sizeof(msg));
	assert_int_equal(kbr_session_send(a, T0, NULL, &ar, msg, (size_t)n), 0);
	assert_int_equal(si.nout, 1);
	assert_example(&si.out[0], "hello");
	kbr_session_input(b, T0, si.out[0].b, si.out[0].len, &ai);
	assert_int_equal(sr.nout, 1);
	assert_example(&sr.out[0], "identity");
	kbr_session_input(a, T0, sr.out[0].b, sr.out[0].len, &ar);
	assert_int_equal(si.nout, 2);
	assert_example(&si.out[1], "hs_init");
	/* HS_RESP, then I's PING */
	kbr_session_input(b, T0, si.out[1].b, si.out[1].len, &ai);
	assert_int_equal(sr.nout, 2);
	assert_example(&sr.out[1], "hs_resp");
	kbr_session_input(a, T0, sr.out[1].b, sr.out[1].len, &ar);
	assert_int_equal(si.nout, 3);
	assert_example(&si.out[2], "data_ping");
	kbr_session_input(b, T0, si.out[2].b, si.out[2].len, &ai);
	assert_int_equal(sr.delivered, 1);
	assert_int_equal(sr.got_len, (size_t)n);
	assert_memory_equal(sr.got, msg, (size_t)n);
	/* R's PONG */
	memset(&m, 0, sizeof(m));
	m.type = KBR_PONG;
	m.tid = 0x0102030405060708ULL;
	m.u.observed = ai;
	n = kbr_wire_encode(&m, msg, sizeof(msg));
	assert_int_equal(kbr_session_send(b, T0, &I->id, &ai, msg, (size_t)n), 0);
	assert_int_equal(sr.nout, 3);
	assert_example(&sr.out[2], "data_pong");
	kbr_session_input(a, T0, sr.out[2].b, sr.out[2].len, &ar);
	assert_int_equal(si.delivered, 1);
	/* I's FIND_NODE, counter 1 */
	memset(&m, 0, sizeof(m));
	m.type = KBR_FIND_NODE;
	m.tid = 0x1112131415161718ULL;
	assert_int_equal(nodeid_sha1(&m.u.find.target, "sip:alice@example.org", 21), 0);
	m.u.find.count = 16;
	n = kbr_wire_encode(&m, msg, sizeof(msg));
	assert_int_equal(kbr_session_send(a, T0, &R->id, &ar, msg, (size_t)n), 0);
	assert_int_equal(si.nout, 4);
	assert_example(&si.out[3], "data_find_node");
	kbr_session_input(b, T0, si.out[3].b, si.out[3].len, &ai);
	assert_int_equal(sr.delivered, 2);
	/* every random byte was used, in the documented order */
	assert_int_equal(si.rnd_used, sizeof(ir));
	assert_int_equal(sr.rnd_used, sizeof(rr));
	kbr_sessions_free(a);
	kbr_sessions_free(b);
	identity_free(I);
	identity_free(R);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(examples_decode_and_reencode),
		cmocka_unit_test(sessions_send_the_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
