/* Benchmark of kbr/session.c: authenticated datagrams sealed and opened per second on one core
 * (protocol v2, ChaCha20-Poly1305 in an established session), next to what it replaces, an
 * Ed25519 signature made and verified per datagram (v1), measured in the same run, and the
 * ratio; also whole handshakes per second. Two struct kbr_sessions talk through captured
 * datagrams, no sockets, one thread. Every loop is bounded in count and time.
 * --json: one JSON object per figure on stdout, the readable lines on stderr. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "kbr/kbr.h"
#include "kbr/session.h"
#include "kbr/wire.h"
#include "puzzle/identity.h"

enum {
	ROUNDS = 3,			/* each kind is measured this often, the kinds in turn */
	MAX_OPS = 5000000,		/* per round */
	OUTBOX = KBR_SESSION_QUEUE + 4,	/* datagrams one side sends before they are moved */
	PUMP_STEPS = 16,		/* exchanges a handshake may take at most */
	TYPICAL_CONTACTS = 3,		/* NODES reply of 91 bytes: about a FIND_NODE exchange */
	FULL_CONTACTS = KBR_MAX_NODES,
	BASE_MS = 1000000,		/* the sessions' clock at the start */
};

static const double ROUND_SECONDS = 0.5;
static const double TARGET_PAIRS = 200000;	/* seal+open pairs per second, one core */

static FILE *human;		/* the readable lines: stdout, or stderr with --json */
static bool json;
static uint64_t vnow = BASE_MS;	/* the sessions' clock (ms), advanced per handshake */

struct side {
	struct identity *ident;
	struct kbr_addr addr;
	struct kbr_sessions *s;
	struct kbr_stats st;
	uint8_t out[OUTBOX][KBR_MAX_DATAGRAM];
	size_t outlen[OUTBOX];
	unsigned nout;
	bool overflow;
	uint64_t delivered;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
figure(const char *name, double value, const char *unit, const char *cmp, double target)
{
	if (!json)
		return;
	printf("{\"bench\":\"session\",\"figure\":\"%s\",\"value\":%.9g,\"unit\":\"%s\"", name,
	    value, unit);
	if (cmp != NULL)
		printf(",\"cmp\":\"%s\",\"target\":%.9g", cmp, target);
	printf("}\n");
	fflush(stdout);
}

/* ---- the two sides: captured datagrams instead of a socket ---- */

static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct side *sd = arg;

	(void)to;
	if (sd->nout == OUTBOX || len > KBR_MAX_DATAGRAM) {
		sd->overflow = true;
		return;
	}
	memcpy(sd->out[sd->nout], buf, len);
	sd->outlen[sd->nout++] = len;
}

static void
on_random(void *arg, void *buf, size_t len)
{
	(void)arg;
	if (RAND_bytes(buf, (int)len) != 1) {
		fprintf(stderr, "bench_session: RAND_bytes failed\n");
		_Exit(1);
	}
}

static void
on_deliver(void *arg, uint64_t t, const struct nodeid *peer, const struct kbr_addr *from,
    const uint8_t *msg, size_t len)
{
	struct side *sd = arg;

	(void)t;
	(void)peer;
	(void)from;
	(void)msg;
	sd->delivered += len >= KBR_MSG_HEADER_LEN;
}

static int
side_init(struct side *sd, const char *addr)
{
	struct identity_solve none = {.c1 = 0, .c2 = 0, .threads = 1};
	struct kbr_session_cfg cfg;
	struct kbr_session_io io = {.arg = sd, .send = on_send, .random = on_random,
	    .deliver = on_deliver};

	memset(sd, 0, sizeof(*sd));
	if (kbr_addr_parse(&sd->addr, addr) != 0 || identity_create(&sd->ident, &none) != 0)
		return -1;
	kbr_session_cfg_default(&cfg);
	cfg.c1 = 0;
	cfg.c2 = 0;
	/* one source handshakes as fast as it can here: no per-source limit in the way */
	cfg.hs_per_source = 1000000;
	cfg.hs_total = 1000000;
	sd->s = kbr_sessions_new(&cfg, sd->ident, &io, &sd->st, vnow);
	return sd->s != NULL ? 0 : -1;
}

static void
side_free(struct side *sd)
{
	kbr_sessions_free(sd->s);
	identity_free(sd->ident);
}

/* Hands from's datagrams to `to`; to's answers stay in its own outbox. */
static void
flush(struct side *from, struct side *to)
{
	for (unsigned i = 0; i < from->nout; i++)
		kbr_session_input(to->s, vnow, from->out[i], from->outlen[i], &from->addr);
	from->nout = 0;
}

/* Moves datagrams both ways until both sides are quiet (or PUMP_STEPS). */
static void
pump(struct side *a, struct side *b)
{
	for (int i = 0; i < PUMP_STEPS && (a->nout > 0 || b->nout > 0); i++) {
		flush(a, b);
		flush(b, a);
	}
}

/* A sealed NODES reply with n IPv4 contacts; returns its length or -1. */
static int
nodes_msg(uint8_t *buf, size_t buflen, unsigned n)
{
	struct kbr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = KBR_NODES;
	m.tid = 0x0123456789abcdefULL;
	m.u.nodes.count = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		struct kbr_contact *c = &m.u.nodes.nodes[i];

		memset(c->id.b, (int)(0x10 + i), NODEID_LEN);
		c->addr.family = KBR_AF_INET;
		c->addr.ip[0] = 192;
		c->addr.ip[1] = 0;
		c->addr.ip[2] = 2;
		c->addr.ip[3] = (uint8_t)(1 + i);
		c->addr.port = 3631;
	}
	return kbr_wire_encode(&m, buf, buflen);
}

/* ---- what is measured ---- */

/* One message from a to b, which must start and finish a handshake (both ends count it)
 * and arrive. */
static int
handshake(struct side *a, struct side *b, const uint8_t *msg, size_t len)
{
	uint64_t before = b->delivered, done_a = a->st.handshakes_done,
	    done_b = b->st.handshakes_done;

	vnow++;
	if (kbr_session_send(a->s, vnow, &b->ident->id, &b->addr, msg, len) != 0)
		return -1;
	pump(a, b);
	if (a->overflow || b->overflow || b->delivered == before ||
	    a->st.handshakes_done != done_a + 1 || b->st.handshakes_done != done_b + 1 ||
	    !kbr_session_established(a->s, &b->ident->id, vnow))
		return -1;
	return 0;
}

/* Seal (kbr_session_send on a) and open (kbr_session_input on b) pairs per second. */
static double
seal_open_rate(struct side *a, struct side *b, const uint8_t *msg, size_t len)
{
	uint64_t before = b->delivered;
	double start = now(), t;
	long ops;

	for (ops = 0; ops < MAX_OPS; ops++) {
		if ((ops & 255) == 0 && now() - start >= ROUND_SECONDS)
			break;
		if (kbr_session_send(a->s, vnow, &b->ident->id, &b->addr, msg, len) != 0 ||
		    a->nout != 1)
			return -1;
		kbr_session_input(b->s, vnow, a->out[0], a->outlen[0], &a->addr);
		a->nout = 0;
	}
	t = now() - start;
	if (b->delivered - before != (uint64_t)ops || b->nout != 0)
		return -1;		/* every datagram opened, nothing answered */
	return ops / t;
}

/* The v1 cost per datagram: an Ed25519 signature over it, made and verified. */
static double
sign_verify_rate(const struct identity *id, const uint8_t *msg, size_t len)
{
	uint8_t sig[ID_SIG_LEN];
	double start = now();
	long ops;

	for (ops = 0; ops < MAX_OPS; ops++) {
		if ((ops & 15) == 0 && now() - start >= ROUND_SECONDS)
			break;
		if (identity_sign(id, msg, len, sig) != 0 ||
		    identity_verify(id->pub, ID_PUBKEY_LEN, msg, len, sig, ID_SIG_LEN) != 0)
			return -1;
	}
	return ops / (now() - start);
}

/* Whole handshakes (HS_INIT, HS_RESP, the first DATA) per second: the pair's session is
 * suspected each time, so that the next message renews it (that message also goes once in
 * the old session: one seal+open more, next to a handshake's two signatures and two
 * verifications). */
static double
handshake_rate(struct side *a, struct side *b, const uint8_t *msg, size_t len)
{
	double start = now();
	long ops;

	for (ops = 0; ops < MAX_OPS && now() - start < ROUND_SECONDS; ops++) {
		kbr_session_suspect(a->s, &b->ident->id);
		if (handshake(a, b, msg, len) != 0)
			return -1;
	}
	return ops / (now() - start);
}

static double
best(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static void
line(const char *name, const double *v, int n, const char *unit)
{
	fprintf(human, "%-46s %10.0f %s  (rounds", name, best(v, n), unit);
	for (int i = 0; i < n; i++)
		fprintf(human, " %.0f", v[i]);
	fprintf(human, ")\n");
}

static int
run(struct side *a, struct side *b, struct side *c, struct side *d)
{
	uint8_t typical[KBR_MAX_MSG], full[KBR_MAX_MSG], v1msg[KBR_MAX_DATAGRAM];
	int tlen = nodes_msg(typical, sizeof(typical), TYPICAL_CONTACTS);
	int dlen = tlen + KBR_DATA_OVERHEAD;	/* the datagram v2 sends for it */
	int flen = nodes_msg(full, sizeof(full), FULL_CONTACTS);
	double v2[ROUNDS], v1[ROUNDS], v2full[ROUNDS], hs[ROUNDS], pairs, ratio;
	char name[2][64];
	int r;

	if (tlen <= 0 || flen <= 0 || handshake(a, b, typical, (size_t)tlen) != 0 ||
	    handshake(c, d, typical, (size_t)tlen) != 0) {
		fprintf(stderr, "bench_session: the first handshake failed\n");
		return -1;
	}
	fprintf(human, "== kbr/session.c benchmark: one thread, best of %d rounds of %.1f s, "
	    "kinds in turn\n", ROUNDS, ROUND_SECONDS);
	fprintf(human, "   message: NODES reply with %d contacts, %d bytes sealed, %d-byte "
	    "datagram; v1 signs a %d-byte datagram\n", TYPICAL_CONTACTS, tlen, dlen, dlen);
	/* v1 signed the whole datagram: the same content in as many bytes */
	memset(v1msg, 0, sizeof(v1msg));
	memcpy(v1msg, typical, (size_t)tlen);
	for (r = 0; r < ROUNDS; r++) {
		v2[r] = seal_open_rate(a, b, typical, (size_t)tlen);
		v1[r] = sign_verify_rate(a->ident, v1msg, (size_t)dlen);
		v2full[r] = seal_open_rate(a, b, full, (size_t)flen);
		hs[r] = handshake_rate(c, d, typical, (size_t)tlen);
		if (v2[r] <= 0 || v1[r] <= 0 || v2full[r] <= 0 || hs[r] <= 0) {
			fflush(human);
			fprintf(stderr, "bench_session: round %d failed (%s%s%s%s); receiver "
			    "dropped: tag %llu, index %llu, replay %llu, handshake %llu\n", r + 1,
			    v2[r] <= 0 ? " seal+open" : "", v1[r] <= 0 ? " sign+verify" : "",
			    v2full[r] <= 0 ? " seal+open (20 contacts)" : "",
			    hs[r] <= 0 ? " handshake" : "",
			    (unsigned long long)(b->st.dropped_tag + d->st.dropped_tag),
			    (unsigned long long)(b->st.dropped_index + d->st.dropped_index),
			    (unsigned long long)(b->st.dropped_replay + d->st.dropped_replay),
			    (unsigned long long)(b->st.dropped_handshake + d->st.dropped_handshake));
			return -1;
		}
	}
	snprintf(name[0], sizeof(name[0]), "v2 seal+open, %d-byte datagram", dlen);
	snprintf(name[1], sizeof(name[1]), "v1 Ed25519 sign+verify, %d-byte datagram", dlen);
	line(name[0], v2, ROUNDS, "pairs/s");
	line(name[1], v1, ROUNDS, "pairs/s");
	pairs = best(v2, ROUNDS);
	ratio = pairs / best(v1, ROUNDS);
	fprintf(human, "%-46s %10.1f x\n", "ratio v2 / v1 per datagram", ratio);
	fprintf(human, "%-46s %10.2f us (v1 %.2f us)\n", "  cost of one datagram, both ends",
	    1e6 / pairs, 1e6 / best(v1, ROUNDS));
	fprintf(human, "%-46s %10s (target >= %.0f pairs/s)\n", "  target",
	    pairs >= TARGET_PAIRS ? "PASS" : "BELOW", TARGET_PAIRS);
	figure(name[0], pairs, "pairs/s", ">=", TARGET_PAIRS);
	figure(name[1], best(v1, ROUNDS), "pairs/s", NULL, 0);
	figure("ratio v2 seal+open / v1 sign+verify", ratio, "x", NULL, 0);

	snprintf(name[0], sizeof(name[0]), "v2 seal+open, %d-byte NODES datagram",
	    flen + KBR_DATA_OVERHEAD);
	line(name[0], v2full, ROUNDS, "pairs/s");
	figure(name[0], best(v2full, ROUNDS), "pairs/s", NULL, 0);
	line("v2 handshakes (HS_INIT, HS_RESP, first DATA)", hs, ROUNDS, "handshakes/s");
	figure("v2 handshakes, both ends", best(hs, ROUNDS), "handshakes/s", NULL, 0);
	return 0;
}

int
main(int argc, char **argv)
{
	struct side *sd = calloc(4, sizeof(*sd));
	int err = -1;

	human = stdout;
	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		json = true;
		human = stderr;
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_session [--json]\n");
		return 2;
	}
	if (sd == NULL)
		return 1;
	/* a and b carry the datagrams; c and d renew their session over and over */
	if (side_init(&sd[0], "127.0.0.1:3631") == 0 && side_init(&sd[1], "127.0.0.2:3631") == 0 &&
	    side_init(&sd[2], "127.0.0.3:3631") == 0 && side_init(&sd[3], "127.0.0.4:3631") == 0)
		err = run(&sd[0], &sd[1], &sd[2], &sd[3]);
	else
		fprintf(stderr, "bench_session: cannot set up the sessions\n");
	for (int i = 0; i < 4; i++)
		side_free(&sd[i]);
	free(sd);
	return err == 0 ? 0 : 1;
}
