/* Writes the seed corpora of the fuzz targets (make fuzz-corpus): valid inputs of each kind,
 * deterministic (fixed identities, virtual time), into DIR/<target>/<name>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dht/msg.h"
#include "kbr/wire.h"
#include "tests/fuzz/common.h"

enum {
	BUF_MAX = 16384,
	/* node frame controls: a request of peer i in its session, and a reply to the node's
	 * latest request to i */
	REQ = NODE_CTRL_SEAL,
	REP = NODE_CTRL_SEAL | NODE_CTRL_REPLY,
	WAIT_100MS = 1 << NODE_CTRL_WAIT_SHIFT,
	WAIT_1500MS = 2 << NODE_CTRL_WAIT_SHIFT,
	WAIT_31S = 3 << NODE_CTRL_WAIT_SHIFT,
};

struct buf {
	uint8_t b[BUF_MAX];
	size_t n;
};

static const char *outdir;

static void
die(const char *what)
{
	fprintf(stderr, "make_corpus: %s\n", what);
	exit(1);
}

static void
put(struct buf *b, const void *p, size_t n)
{
	if (n > BUF_MAX - b->n)
		die("input too big");
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
put_str(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put16(struct buf *b, uint16_t v)
{
	uint8_t p[2];

	fuzz_put16(p, v);
	put(b, p, 2);
}

static void
save(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(path);
}

static void
save_buf(const char *target, const char *name, const struct buf *b)
{
	save(target, name, b->b, b->n);
}

/* ---- sealed messages ---- */

static size_t
encode(uint8_t *out, const struct kbr_msg *m)
{
	int n = kbr_wire_encode(m, out, KBR_MAX_MSG);

	if (n < 0)
		die("kbr_wire_encode");
	return (size_t)n;
}

static void
msg_init(struct kbr_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->tid = 0x00a1b2c3d4e5f607ULL;	/* first byte 0: REPLY stamps the latest tid */
}

static size_t
msg_app(uint8_t *out, uint8_t type, const uint8_t *body, size_t len)
{
	struct kbr_msg m;

	msg_init(&m, type);
	m.u.app.data = body;
	m.u.app.len = len;
	return encode(out, &m);
}

static size_t
msg_nodes(uint8_t *out, unsigned first, unsigned count)
{
	struct kbr_msg m;

	msg_init(&m, KBR_NODES);
	m.u.nodes.count = (uint8_t)count;
	for (unsigned i = 0; i < count; i++) {
		m.u.nodes.nodes[i].id = fuzz_peer(first + i)->id;
		fuzz_peer_addr(first + i, &m.u.nodes.nodes[i].addr);
	}
	return encode(out, &m);
}

static size_t
msg_simple(uint8_t *out, uint8_t type)
{
	struct kbr_msg m;

	msg_init(&m, type);
	if (type == KBR_PONG)
		(void)kbr_addr_parse(&m.u.observed, "203.0.113.5:3631");
	if (type == KBR_FIND_NODE) {
		(void)nodeid_sha1(&m.u.find.target, FUZZ_NAME, strlen(FUZZ_NAME));
		m.u.find.count = 8;
	}
	return encode(out, &m);
}

/* A STORE body carrying bytes [off, off + len) of a record's encoding of total bytes. */
static size_t
store_body(uint8_t *out, uint32_t transfer, const uint8_t *enc, size_t total, size_t off,
    size_t len)
{
	struct dht_store_msg s = {
		.transfer = transfer, .total = (uint16_t)total, .offset = (uint16_t)off,
		.chunk = enc + off, .len = len,
	};
	int n = dht_msg_store_encode(&s, out, KBR_MAX_APP_BODY);

	if (n < 0)
		die("dht_msg_store_encode");
	return (size_t)n;
}

static size_t
store_answer_body(uint8_t *out, uint32_t transfer, uint8_t status, uint16_t next)
{
	struct dht_store_answer a = {.transfer = transfer, .status = status, .next = next};

	return (size_t)dht_msg_store_answer_encode(&a, out, DHT_STORE_ANSWER_LEN);
}

static size_t
find_body(uint8_t *out, uint32_t offset)
{
	struct dht_find_msg f = {.offset = offset};

	(void)nodeid_sha1(&f.key, FUZZ_NAME, strlen(FUZZ_NAME));
	return (size_t)dht_msg_find_encode(&f, out, DHT_FIND_LEN);
}

/* The VALUE answer for the stream of records recs (the whole stream in one chunk). */
static size_t
value_body(uint8_t *out, const struct dht_record *recs, size_t n)
{
	uint8_t stream[2 * (2 + DHT_REC_MAX)];
	long len = dht_stream_build(recs, n, stream, sizeof(stream));
	struct dht_value_msg v;
	int k;

	if (len < 0 || (size_t)len > DHT_VALUE_CHUNK)
		die("dht_stream_build");
	v.total = (uint32_t)len;
	v.version = dht_stream_version(stream, (size_t)len);
	v.offset = 0;
	v.chunk = stream;
	v.len = (size_t)len;
	k = dht_msg_value_encode(&v, out, KBR_MAX_APP_BODY);
	if (k < 0)
		die("dht_msg_value_encode");
	return (size_t)k;
}

static size_t
record_enc(uint8_t *out, const struct dht_record *r)
{
	int n = dht_record_encode(r, out, DHT_REC_MAX);

	if (n < 0)
		die("dht_record_encode");
	return (size_t)n;
}

static void
frame(struct buf *b, uint8_t ctrl, const uint8_t *d, size_t len)
{
	put8(b, ctrl);
	put16(b, (uint16_t)len);
	put(b, d, len);
}

/* ---- datagrams ---- */

/* A DATA with msg as its plaintext and a zero tag (crypto off), to receiver index idx. */
static size_t
dgram_data(uint8_t *out, uint32_t idx, uint64_t counter, const uint8_t *msg, size_t len)
{
	kbr_pkt_data_header(idx, counter, out);
	memcpy(out + KBR_DATA_HEADER_LEN, msg, len);
	memset(out + KBR_DATA_HEADER_LEN + len, 0, KBR_TAG_LEN);
	return KBR_DATA_OVERHEAD + len;
}

/* Outer datagrams with plausible fields (unsigned: fuzz_kbr_wire checks only the form). */
static void
outer_corpus(void)
{
	const struct identity *p = fuzz_peer(0);
	uint8_t d[KBR_MAX_DATAGRAM], m[KBR_MAX_MSG];
	struct kbr_pkt_hello h = {.sender = 0x11223344};
	struct kbr_pkt_identity id = {.receiver = 0x11223344};
	struct kbr_pkt_init in = {.sender = 0x55667788, .timestamp = FUZZ_T0};
	struct kbr_pkt_resp r = {.sender = 0x99aabbcc, .receiver = 0x55667788};
	struct kbr_pkt_cookie c = {.receiver = 0x55667788};
	size_t n;

	memcpy(id.pub, p->pub, ID_PUBKEY_LEN);
	id.nonce = p->nonce;
	in.responder = fuzz_self()->id;
	memcpy(in.pub, p->pub, ID_PUBKEY_LEN);
	in.nonce = p->nonce;
	memset(in.eph, 0x09, sizeof(in.eph));
	memcpy(r.pub, fuzz_self()->pub, ID_PUBKEY_LEN);
	r.nonce = fuzz_self()->nonce;
	memset(r.eph, 0x0a, sizeof(r.eph));
	memset(c.cookie, 0xc0, sizeof(c.cookie));
	save("fuzz_kbr_wire", "pkt_hello", d, kbr_pkt_hello_encode(&h, d));
	d[40] = 1;
	save("fuzz_kbr_wire", "pkt_hello_padding", d, KBR_HELLO_LEN);
	save("fuzz_kbr_wire", "pkt_identity", d, kbr_pkt_identity_encode(&id, d));
	save("fuzz_kbr_wire", "pkt_init", d, kbr_pkt_init_encode(&in, d));
	save("fuzz_kbr_wire", "pkt_resp", d, kbr_pkt_resp_encode(&r, d));
	save("fuzz_kbr_wire", "pkt_cookie", d, kbr_pkt_cookie_encode(&c, d));
	n = dgram_data(d, 0x99aabbcc, 7, m, msg_nodes(m, 0, 2));
	save("fuzz_kbr_wire", "pkt_data_nodes", d, n);
	d[0] = 1;
	save("fuzz_kbr_wire", "pkt_version_1", d, n);
}

/* ---- fuzz_kbr_wire ---- */

static void
wire_corpus(void)
{
	uint8_t d[KBR_MAX_MSG], body[KBR_MAX_APP_BODY], enc[DHT_REC_MAX];
	struct kbr_msg m;
	size_t n;

	outer_corpus();
	save("fuzz_kbr_wire", "ping", d, msg_simple(d, KBR_PING));
	save("fuzz_kbr_wire", "pong", d, msg_simple(d, KBR_PONG));
	msg_init(&m, KBR_PONG);
	(void)kbr_addr_parse(&m.u.observed, "[2001:db8::77]:3631");
	save("fuzz_kbr_wire", "pong_v6", d, encode(d, &m));
	save("fuzz_kbr_wire", "find_node", d, msg_simple(d, KBR_FIND_NODE));
	save("fuzz_kbr_wire", "nodes_0", d, msg_nodes(d, 0, 0));
	save("fuzz_kbr_wire", "nodes_4", d, msg_nodes(d, 0, FUZZ_PEERS));
	n = record_enc(enc, fuzz_record(0));
	save("fuzz_kbr_wire", "store", d,
	    msg_app(d, DHT_STORE, body, store_body(body, 1, enc, n, 0, n)));
	save("fuzz_kbr_wire", "store_answer", d,
	    msg_app(d, DHT_STORE_ANSWER, body, store_answer_body(body, 1, 0, 0)));
	save("fuzz_kbr_wire", "find_value", d,
	    msg_app(d, DHT_FIND_VALUE, body, find_body(body, 0)));
	save("fuzz_kbr_wire", "value", d,
	    msg_app(d, DHT_VALUE, body, value_body(body, fuzz_record(0), 1)));
}

/* ---- fuzz_kbr_node ---- */

static void
node_save(const char *name, const struct buf *b)
{
	save_buf("fuzz_kbr_node", name, b);
	save_buf("fuzz_kbr_node_crypto", name, b);
}

static void
node_corpus(void)
{
	uint8_t d[KBR_MAX_DATAGRAM], body[KBR_MAX_APP_BODY], enc[DHT_REC_MAX], pt[KBR_MAX_MSG];
	const struct dht_record *small = fuzz_record(0), *big = fuzz_record(1);
	struct buf b;
	size_t n, elen;

	/* a stranger PINGs, the node answers and checks it with a PING of its own */
	b.n = 0;
	put8(&b, 0);
	frame(&b, REQ | 1, d, msg_simple(d, KBR_PING));
	frame(&b, REP | WAIT_100MS | 1, d, msg_simple(d, KBR_PONG));
	frame(&b, REQ | 2, d, msg_simple(d, KBR_FIND_NODE));
	node_save("ping_admit", &b);

	/* joining: the bootstrap node answers, names the others, and they answer the lookup */
	b.n = 0;
	put8(&b, NODE_SETUP_BOOTSTRAP);
	frame(&b, REP, d, msg_simple(d, KBR_PONG));
	frame(&b, REP | WAIT_100MS, d, msg_nodes(d, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_nodes(d, 0, FUZZ_PEERS));
	node_save("bootstrap_join", &b);

	/* a put: the lookup's answers, then the replicas' STORE answers (transfer 1) */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_PUT);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, msg_nodes(d, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_app(d, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, 0, 0)));
	node_save("put", &b);

	/* the same with the two-chunk record: "send the chunk at 1027" first */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_PUBLISH | NODE_SETUP_BIG);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, msg_nodes(d, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_app(d, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, DHT_STORE_PART, DHT_STORE_CHUNK)));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_app(d, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, DHT_ERR_STALE, 0)));
	node_save("publish_big", &b);

	/* a get: the lookup, then VALUE answers holding the record */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_GET | NODE_SETUP_HOLD);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, msg_nodes(d, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_app(d, DHT_VALUE, body,
		    value_body(body, small, i == 3 ? 0 : 1)));
	node_save("get", &b);

	/* a lookup that learns about every peer */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_LOOKUP);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_nodes(d, 0, FUZZ_PEERS));
	frame(&b, REP | WAIT_31S, d, msg_nodes(d, 0, 2));
	node_save("lookup", &b);

	/* serving: a STORE from peer 1, a FIND_VALUE from peer 2 */
	b.n = 0;
	put8(&b, 0);
	elen = record_enc(enc, small);
	frame(&b, REQ | 1, d, msg_app(d, DHT_STORE, body,
	    store_body(body, 7, enc, elen, 0, elen)));
	frame(&b, REQ | WAIT_100MS | 2, d, msg_app(d, DHT_FIND_VALUE, body, find_body(body, 0)));
	node_save("serve_store_find", &b);

	/* a two-chunk STORE, then the record is read back in two VALUE chunks */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS);
	elen = record_enc(enc, big);
	n = store_body(body, 9, enc, elen, 0, DHT_STORE_CHUNK);
	frame(&b, REQ | 1, d, msg_app(d, DHT_STORE, body, n));
	n = store_body(body, 9, enc, elen, DHT_STORE_CHUNK, elen - DHT_STORE_CHUNK);
	frame(&b, REQ | WAIT_100MS | 1, d, msg_app(d, DHT_STORE, body, n));
	frame(&b, REQ | 3, d, msg_app(d, DHT_FIND_VALUE, body, find_body(body, 0)));
	frame(&b, REQ | 3, d, msg_app(d, DHT_FIND_VALUE, body,
	    find_body(body, DHT_VALUE_CHUNK)));
	node_save("serve_big", &b);

	/* the node holds the record; time passes: maintenance sends it to the peers */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_HOLD);
	frame(&b, REQ | WAIT_31S | 1, d, msg_simple(d, KBR_PING));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, msg_app(d, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, 0, 0)));
	node_save("maintenance", &b);

	/* peer 1 moves to its second address: the node challenges it there first */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS);
	frame(&b, REQ | 1, d, msg_simple(d, KBR_PING));
	frame(&b, REQ | NODE_CTRL_ALT | WAIT_100MS | 1, d, msg_simple(d, KBR_FIND_NODE));
	frame(&b, REQ | NODE_CTRL_ALT | WAIT_1500MS | 1, d, msg_simple(d, KBR_PING));
	node_save("roam", &b);

	/* peer 2 starts a new handshake in the middle (as after a restart) */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_LOOKUP);
	frame(&b, REP | 2, d, msg_nodes(d, 0, 2));
	frame(&b, REQ | NODE_CTRL_RENEW | WAIT_1500MS | 2, d, msg_simple(d, KBR_PING));
	frame(&b, REP | NODE_CTRL_RENEW | WAIT_100MS | 3, d, msg_nodes(d, 1, 3));
	node_save("renew", &b);

	/* peer 1 names peer 0, which the node has a session with, at an address nobody reads:
	 * the lookup and the moved-contact check ask it there */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_LOOKUP);
	frame(&b, REQ, d, msg_simple(d, KBR_PING));
	{
		struct kbr_msg m;

		msg_init(&m, KBR_NODES);
		m.u.nodes.count = 1;
		m.u.nodes.nodes[0].id = fuzz_peer(0)->id;
		fuzz_victim_addr(0, &m.u.nodes.nodes[0].addr);
		frame(&b, REP | 1, d, encode(d, &m));
	}
	node_save("hint", &b);

	/* hand-made datagrams, made valid by the peers: HELLO, HS_INIT (signed), DATA (with
	 * crypto off a PING in plaintext), IDENTITY, COOKIE and HS_RESP answers to the node */
	b.n = 0;
	put8(&b, NODE_SETUP_BOOTSTRAP);
	memset(d, 0, sizeof(d));
	d[1] = KBR_PKT_HELLO;
	frame(&b, NODE_CTRL_STAMP | 1, d, 2);
	d[1] = KBR_PKT_HS_INIT;
	frame(&b, NODE_CTRL_STAMP | 1, d, 2);
	d[1] = KBR_PKT_IDENTITY;
	frame(&b, NODE_CTRL_STAMP, d, 2);
	d[1] = KBR_PKT_COOKIE;
	frame(&b, NODE_CTRL_STAMP, d, 2);
	d[1] = KBR_PKT_HS_RESP;
	memset(d + 64, 0x09, KBR_EPH_LEN);
	frame(&b, NODE_CTRL_STAMP, d, KBR_RESP_LEN);
	n = msg_simple(pt, KBR_PING);
	frame(&b, NODE_CTRL_STAMP | 1, d, dgram_data(d, 0, 1, pt, n));
	n = msg_simple(pt, KBR_PONG);
	frame(&b, NODE_CTRL_STAMP | NODE_CTRL_REPLY, d, dgram_data(d, 0, 2, pt, n));
	node_save("stamped", &b);
}

/* ---- fuzz_kbr_session ---- */

static void
sop(struct buf *b, unsigned kind, unsigned arg, bool hold)
{
	put8(b, (uint8_t)(kind | (hold ? SESS_OP_HOLD : 0) | arg << SESS_OP_ARG_SHIFT));
}

/* A length byte and the message (shorter than 0xf0 bytes). */
static void
sess_msg(struct buf *b, const uint8_t *m, size_t len)
{
	put8(b, (uint8_t)len);
	put(b, m, len);
}

/* Peer j (flags: 4 from its second address, 8 HELLO first) sends S a message. */
static void
s_peer(struct buf *b, unsigned j, unsigned flags, uint8_t type, bool hold)
{
	uint8_t m[KBR_MAX_MSG];

	sop(b, SESS_OP_PEER, j | flags, hold);
	sess_msg(b, m, msg_simple(m, type));
}

/* S sends a message to whom (SESS_OP_SEND) at the address addr. */
static void
s_send(struct buf *b, uint8_t addr, uint8_t whom, uint8_t type, bool hold)
{
	uint8_t m[KBR_MAX_MSG];

	sop(b, SESS_OP_SEND, 0, hold);
	put8(b, addr);
	put8(b, whom);
	sess_msg(b, m, msg_simple(m, type));
}

/* A datagram into S from addr, made valid by peer j if stamp. */
static void
s_raw(struct buf *b, uint8_t addr, unsigned j, bool stamp, const uint8_t *d, size_t len)
{
	sop(b, SESS_OP_RAW, j | (stamp ? 4u : 0u), false);
	put8(b, addr);
	put16(b, (uint16_t)len);
	put(b, d, len);
}

/* Only the type byte: the stamp pads and fills in the rest. */
static void
s_stamped(struct buf *b, uint8_t addr, unsigned j, uint8_t type)
{
	uint8_t d[2] = {KBR_VERSION, type};

	s_raw(b, addr, j, true, d, sizeof(d));
}

static void
s_net(struct buf *b, unsigned mode, unsigned count, bool hold)
{
	sop(b, SESS_OP_NET, mode | count << 2, hold);
}

static void
s_replay(struct buf *b, uint8_t pick, uint8_t addr)
{
	sop(b, SESS_OP_NET, SESS_NET_REPLAY, false);
	put8(b, pick);
	put8(b, addr);
}

/* The clock advances (steps + 1) units of units[unit] (1 ms, 10, 100, 1 s, 5 s, 30 s, 2 min,
 * 10 min). */
static void
s_time(struct buf *b, unsigned unit, uint8_t steps, bool hold)
{
	sop(b, SESS_OP_TIME, unit, hold);
	put8(b, steps);
}

static void
sess_save(const char *name, const struct buf *b)
{
	save_buf("fuzz_kbr_session", name, b);
}

static void
session_corpus(void)
{
	uint8_t d[KBR_MAX_DATAGRAM], m[KBR_MAX_MSG];
	struct buf b;
	size_t n;

	/* a peer starts a session and sends two messages */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_peer(&b, 0, 0, KBR_FIND_NODE, false);
	sess_save("peer_handshake", &b);

	/* S starts one; the peer's request is answered from the callback */
	b.n = 0;
	put8(&b, SESS_SETUP_ECHO);
	s_send(&b, SESS_ADDR_PEER + 1, 1, KBR_PING, false);
	s_peer(&b, 1, 0, KBR_PING, false);
	s_peer(&b, 1, 0, KBR_FIND_NODE, false);
	s_send(&b, SESS_ADDR_PEER + 2, 2, KBR_NODES, false);
	sess_save("s_handshake_echo", &b);

	/* identities asked for with HELLO, both ways */
	b.n = 0;
	put8(&b, 0);
	s_send(&b, SESS_ADDR_PEER + 2, 4, KBR_PING, false);
	s_peer(&b, 3, 8, KBR_PING, false);
	s_send(&b, SESS_ADDR_VICTIM, 4, KBR_PING, false);
	sess_save("hello", &b);

	/* the peer moves to its second address: a challenge there, then its messages */
	b.n = 0;
	put8(&b, SESS_SETUP_ECHO);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_peer(&b, 0, 4, KBR_PING, false);
	s_peer(&b, 0, 4, KBR_FIND_NODE, false);
	s_time(&b, 3, 0, false);
	s_peer(&b, 0, 4, KBR_PING, false);
	s_peer(&b, 0, 0, KBR_PING, false);
	sess_save("roam", &b);

	/* two half-open entries: under load S asks for a cookie */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 0, 0, KBR_PING, true);
	s_net(&b, SESS_NET_DELIVER, 0, true);
	s_net(&b, SESS_NET_DROP, 0, true);
	s_peer(&b, 1, 0, KBR_PING, false);
	s_time(&b, 3, 0, false);
	s_peer(&b, 0, 0, KBR_PING, false);
	sess_save("cookie", &b);

	/* datagrams seen on the network come again, from other addresses */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_send(&b, SESS_ADDR_PEER, 0, KBR_PONG, false);
	for (unsigned i = 0; i < 4; i++)
		s_replay(&b, (uint8_t)i, SESS_ADDR_VICTIM + i);
	s_replay(&b, 0, SESS_ADDR_ALT);
	s_replay(&b, 1, SESS_ADDR_SELF);
	s_replay(&b, 2, SESS_ADDR_PEER);
	sess_save("replay", &b);

	/* hand-made datagrams, made valid by a peer, from its own and from others' addresses */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_stamped(&b, SESS_ADDR_VICTIM, 2, KBR_PKT_HS_INIT);
	s_stamped(&b, SESS_ADDR_PEER + 2, 2, KBR_PKT_HS_INIT);
	s_stamped(&b, SESS_ADDR_VICTIM + 1, 0, KBR_PKT_HELLO);
	n = dgram_data(d, 0, 1, m, msg_simple(m, KBR_PING));
	s_raw(&b, SESS_ADDR_PEER, 0, true, d, n);
	s_send(&b, SESS_ADDR_PEER + 3, 4, KBR_PING, true);
	s_stamped(&b, SESS_ADDR_PEER + 3, 3, KBR_PKT_IDENTITY);
	s_send(&b, SESS_ADDR_PEER + 1, 1, KBR_PING, true);
	s_stamped(&b, SESS_ADDR_PEER + 1, 1, KBR_PKT_COOKIE);
	s_stamped(&b, SESS_ADDR_PEER + 1, 1, KBR_PKT_HS_RESP);
	sop(&b, SESS_OP_RAW, 0, false);
	put8(&b, SESS_ADDR_GIVEN);
	put8(&b, 1);
	for (unsigned i = 0; i < 16; i++)
		put8(&b, (uint8_t)(0x20 + i));
	put16(&b, 9999);
	put16(&b, KBR_HELLO_LEN);
	memset(d, 0, KBR_HELLO_LEN);
	d[0] = KBR_VERSION;
	d[1] = KBR_PKT_HELLO;
	put(&b, d, KBR_HELLO_LEN);
	sess_save("stamped", &b);

	/* sessions renewed by age and by message count */
	b.n = 0;
	put8(&b, SESS_SETUP_REKEY | SESS_SETUP_ECHO);
	for (unsigned i = 0; i < 5; i++)
		s_peer(&b, 0, 0, KBR_PING, false);
	s_time(&b, 3, 1, false);
	s_send(&b, SESS_ADDR_PEER, 0, KBR_FIND_NODE, false);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_time(&b, 7, 0, false);
	s_send(&b, SESS_ADDR_PEER, 0, KBR_FIND_NODE, false);
	sess_save("rekey", &b);

	/* a peer restarts and loses its sessions; suspicion renews them */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 1, 0, KBR_PING, false);
	s_send(&b, SESS_ADDR_PEER + 1, 1, KBR_PING, false);
	sop(&b, SESS_OP_RESTART, 1, false);
	s_send(&b, SESS_ADDR_PEER + 1, 1, KBR_PING, false);
	sop(&b, SESS_OP_SUSPECT, 1, false);
	s_send(&b, SESS_ADDR_PEER + 1, 1, KBR_PING, false);
	s_peer(&b, 1, 0, KBR_PING, false);
	sop(&b, SESS_OP_SUSPECT, 4 | 1, false);
	s_peer(&b, 1, 0, KBR_PING, false);
	sop(&b, SESS_OP_QUERY, 0, false);
	sess_save("restart_suspect", &b);

	/* more peers than sessions: the least recently used is evicted */
	b.n = 0;
	put8(&b, SESS_SETUP_ECHO | 3 << SESS_SETUP_HALF_SHIFT);
	for (unsigned j = 0; j < FUZZ_PEERS; j++)
		s_peer(&b, j, 0, KBR_FIND_NODE, false);
	s_send(&b, SESS_ADDR_PEER, 0, KBR_PING, false);
	sop(&b, SESS_OP_QUERY, 0, false);
	sess_save("evict", &b);

	/* crypto off: plaintext DATA made by hand reaches S's handlers */
	b.n = 0;
	put8(&b, SESS_SETUP_PLAIN | SESS_SETUP_ECHO);
	s_peer(&b, 0, 0, KBR_PING, false);
	n = dgram_data(d, 0, 5, m, msg_simple(m, KBR_PING));
	s_raw(&b, SESS_ADDR_PEER, 0, true, d, n);
	n = dgram_data(d, 0, 1000, m, msg_simple(m, KBR_FIND_NODE));
	s_raw(&b, SESS_ADDR_ALT, 0, true, d, n);
	s_stamped(&b, SESS_ADDR_VICTIM, 1, KBR_PKT_HS_INIT);
	sess_save("plain", &b);

	/* crypto off: counters at the top of their range (an endless loop once) */
	b.n = 0;
	put8(&b, SESS_SETUP_PLAIN);
	s_peer(&b, 0, 0, KBR_PING, false);
	n = dgram_data(d, 0, UINT64_MAX - 1, m, msg_simple(m, KBR_PING));
	s_raw(&b, SESS_ADDR_PEER, 0, true, d, n);
	n = dgram_data(d, 0, UINT64_MAX, m, msg_simple(m, KBR_PING));
	s_raw(&b, SESS_ADDR_PEER, 0, true, d, n);
	sess_save("counter_top", &b);

	/* handshakes rate-limited per source */
	b.n = 0;
	put8(&b, SESS_SETUP_SLOW);
	s_peer(&b, 0, 0, KBR_PING, false);
	sop(&b, SESS_OP_RESTART, 0, false);
	s_peer(&b, 0, 0, KBR_PING, false);
	s_stamped(&b, SESS_ADDR_PEER + 1, 1, KBR_PKT_HS_INIT);
	s_stamped(&b, SESS_ADDR_PEER + 1, 1, KBR_PKT_HS_INIT);
	s_time(&b, 3, 1, false);
	s_peer(&b, 0, 0, KBR_PING, false);
	sess_save("slow", &b);

	/* datagrams in flight reordered and lost; handshakes given up and half-open entries
	 * expired */
	b.n = 0;
	put8(&b, 0);
	s_peer(&b, 0, 0, KBR_PING, true);
	s_peer(&b, 1, 0, KBR_PING, true);
	s_net(&b, SESS_NET_SWAP, 0, true);
	s_net(&b, SESS_NET_DELIVER, 1, true);
	s_net(&b, SESS_NET_DROP, 0, true);
	s_time(&b, 4, 1, true);
	s_net(&b, SESS_NET_DELIVER, 3, false);
	s_send(&b, SESS_ADDR_PEER + 2, 2, KBR_PING, true);
	s_time(&b, 3, 10, false);
	s_peer(&b, 2, 0, KBR_PING, false);
	sess_save("network", &b);

	/* a held message handed up after the challenge, answered from the callback, which
	 * also sends to a new node ID when the session table is full: it grows meanwhile */
	b.n = 0;
	put8(&b, SESS_SETUP_ECHO | 3 << SESS_SETUP_PEERS_SHIFT);
	s_peer(&b, 0, 0, KBR_PING, false);
	for (unsigned i = 0; i < 15; i++) {
		sop(&b, SESS_OP_SEND, 0, false);
		put8(&b, SESS_ADDR_VICTIM);
		put8(&b, 7);
		for (unsigned k = 0; k < NODEID_LEN; k++)
			put8(&b, (uint8_t)(0x40 + i));
		sess_msg(&b, m, msg_simple(m, KBR_PING));
	}
	s_peer(&b, 0, 4, KBR_FIND_NODE, false);
	sess_save("held_echo", &b);

	/* the largest message, and one byte more */
	b.n = 0;
	put8(&b, 0);
	sop(&b, SESS_OP_PEER, 0, false);
	put8(&b, 0xfe);
	put8(&b, KBR_PING);
	sop(&b, SESS_OP_PEER, 0, false);
	put8(&b, 0xff);
	put8(&b, KBR_PING);
	sop(&b, SESS_OP_SEND, 0, false);
	put8(&b, SESS_ADDR_PEER);
	put8(&b, 0);
	put8(&b, 0xfe);
	put8(&b, DHT_STORE);
	sess_save("big", &b);
}

/* ---- fuzz_dht_record ---- */

static void
item(struct buf *b, uint8_t ctrl, const struct dht_record *r)
{
	uint8_t enc[DHT_REC_MAX];
	size_t n = record_enc(enc, r);

	put8(b, ctrl);
	put16(b, (uint16_t)n);
	put(b, enc, n);
}

static void
signed_record(struct dht_record *r, unsigned o, uint32_t kind, uint32_t id, uint64_t seq,
    uint64_t ttl, const char *value)
{
	fuzz_record_init(r, o, kind, id, seq, FUZZ_T0 + ttl, value);
	if (dht_record_sign(r, fuzz_owner(o)) != 0)
		die("dht_record_sign");
}

static void
record_corpus(void)
{
	uint8_t body[KBR_MAX_APP_BODY], enc[DHT_REC_MAX];
	struct dht_record r, r2;
	struct buf b;
	size_t n;

	b.n = 0;
	item(&b, 1, fuzz_record(0));
	save_buf("fuzz_dht_record", "one", &b);

	/* an update, a stale copy, another owner, a tombstone, a drop */
	b.n = 0;
	item(&b, 1, fuzz_record(0));
	signed_record(&r, 0, 33, 0, 2, 7200 * 1000, "192.0.2.8:5060");
	item(&b, 2, &r);
	item(&b, 3, fuzz_record(0));
	signed_record(&r2, 1, 33, 0, 9, 7200 * 1000, "198.51.100.1:5060");
	item(&b, 1, &r2);
	signed_record(&r, 0, 33, 0, 3, 7200 * 1000, NULL);
	r.flags = DHT_REC_TOMBSTONE;
	(void)dht_record_sign(&r, fuzz_owner(0));
	item(&b, 1 | (1 << REC_CTRL_WAIT_SHIFT), &r);
	item(&b, REC_CTRL_DROP, &r);
	save_buf("fuzz_dht_record", "owner_seq", &b);

	/* re-signed by the harness, relative expiries, time passing, quotas and rates */
	b.n = 0;
	for (unsigned i = 0; i < 10; i++) {
		signed_record(&r, 0, 1 + i % 3, i, 1, 3600 * 1000, "192.0.2.1");
		r.owner[0] = (uint8_t)(i % 2);
		r.expiry = 3600 * 1000 * (i + 1);
		item(&b, (uint8_t)(REC_CTRL_RESIGN | REC_CTRL_RELATIVE | (i % 4) |
		    (i == 6 ? REC_CTRL_EXPIRE | (2 << REC_CTRL_WAIT_SHIFT) : 0)), &r);
	}
	save_buf("fuzz_dht_record", "quota_rate", &b);

	/* the two-chunk record, a removable one, a big TTL, an expired one */
	b.n = 0;
	item(&b, 0, fuzz_record(1));
	signed_record(&r, 2, 0x10000, 0x11223344, 1, 3600 * 1000, "value");
	r.flags = DHT_REC_SECRET;
	memset(r.secret_hash, 0x5a, sizeof(r.secret_hash));
	(void)dht_record_sign(&r, fuzz_owner(2));
	item(&b, 2, &r);
	signed_record(&r, 1, 55, 0, 1, 7ULL * 24 * 3600 * 1000 + 30000, "2001:10::1");
	item(&b, 3, &r);
	item(&b, 3 << REC_CTRL_WAIT_SHIFT, fuzz_record(0));
	save_buf("fuzz_dht_record", "kinds", &b);

	/* whole inputs as message bodies and a VALUE stream */
	n = record_enc(enc, fuzz_record(0));
	save("fuzz_dht_record", "body_store", body, store_body(body, 1, enc, n, 0, n));
	save("fuzz_dht_record", "body_store_answer", body, store_answer_body(body, 1, 255, 10));
	save("fuzz_dht_record", "body_find", body, find_body(body, 0));
	save("fuzz_dht_record", "body_value", body, value_body(body, fuzz_record(0), 1));
	{
		uint8_t stream[2 * (2 + DHT_REC_MAX)];
		struct dht_record two[2];
		long len;

		two[0] = *fuzz_record(0);
		two[1] = r2;
		len = dht_stream_build(two, 2, stream, sizeof(stream));
		if (len < 0)
			die("dht_stream_build");
		save("fuzz_dht_record", "stream", stream, (size_t)len);
	}
}

/* ---- fuzz_identity ---- */

static void
identity_corpus(void)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;
	char *pem, text[ID_EXPORT_SIZE], *cut;
	size_t len;

	for (unsigned i = 0; i < 3; i++) {
		char name[32];

		memset(seed, 0x30 + (int)i, sizeof(seed));
		if (identity_from_seed(&id, seed, i * 4) != 0 || identity_to_pem(id, &pem, &len) != 0 ||
		    identity_export(id, text, sizeof(text)) != 0)
			die("identity");
		snprintf(name, sizeof(name), "pem_c2_%u", i * 4);
		save("fuzz_identity", name, pem, len);
		snprintf(name, sizeof(name), "export_c2_%u", i * 4);
		save("fuzz_identity", name, text, strlen(text));
		if (i == 0) {
			/* the key block alone, and the puzzle block alone */
			cut = strstr(pem, "-----BEGIN " ID_PEM_PUZZLE);
			if (cut == NULL)
				die("no puzzle block");
			save("fuzz_identity", "pem_key_only", pem, (size_t)(cut - pem));
			save("fuzz_identity", "pem_puzzle_only", cut, strlen(cut));
		}
		identity_free_secret(pem, len);
		identity_free(id);
	}
}

/* ---- fuzz_rpc ---- */

#define CALL(m, params) "<?xml version=\"1.0\"?><methodCall><methodName>" m \
	"</methodName><params>" params "</params></methodCall>"
#define S(x) "<param><value><string>" x "</string></value></param>"
#define I(x) "<param><value><int>" x "</int></value></param>"
#define I8(x) "<param><value><i8>" x "</i8></value></param>"
#define B64(x) "<param><value><base64>" x "</base64></value></param>"
#define BOOL(x) "<param><value><boolean>" x "</boolean></value></param>"
#define NEXT RPC_SEPARATOR

static void
rpc_save(const char *name, char ctrl, const char *calls)
{
	struct buf b;

	b.n = 0;
	put8(&b, (uint8_t)ctrl);
	put_str(&b, calls);
	save_buf("fuzz_rpc", name, &b);
}

static void
rpc_corpus(void)
{
	char hex[NODEID_HEX_LEN + 1], join[256];

	rpc_save("register_resolve", 0,
	    CALL("register", S("alice.p2p") I("1") I("0") S("192.0.2.7") I("3600")) NEXT
	    CALL("resolve", S("alice.p2p") I("0")));
	rpc_save("register_b64", 0,
	    CALL("register", B64("c2lwOmJvYkBleGFtcGxlLm9yZw==") I("33") I("2")
	    B64("MTkyLjAuMi43OjUwNjA=") I8("60")) NEXT
	    CALL("resolve", B64("c2lwOmJvYkBleGFtcGxlLm9yZw==") I("33")));
	rpc_save("two_stage", 0,
	    CALL("register", S("carol.p2p") I("33") I("0") S("self:5060") I("600")) NEXT
	    CALL("resolve", S("carol.p2p") I("33")));
	rpc_save("unregister", (char)(1 << RPC_CTRL_WAIT_SHIFT),
	    CALL("register", S("dave.p2p") I("28") I("1") S("2001:db8::1") I("60")) NEXT
	    CALL("unregister", S("dave.p2p") I("28") I("1")) NEXT
	    CALL("resolve", S("dave.p2p") I("28")));
	rpc_save("put_get", 0,
	    CALL("put", S("key") S("value-1") I("3600") S("app")) NEXT
	    CALL("put", S("key") S("value-2") I("3600") S("app")) NEXT
	    CALL("get", S("key") I("1") B64("") S("app")) NEXT
	    CALL("get", S("key") I("10") B64("AAAAAA==") S("app")));
	rpc_save("removable", 0,
	    CALL("put_removable", S("hit") S("2001:10::1") S("SHA")
	    B64("cDw3ZRLwWv0Hpfi1tASK2UmrsOY=") I("600") S("hip")) NEXT
	    CALL("rm", S("hit") B64("AAAAAAAAAAAAAAAAAAAAAAAAAAA=") S("SHA") S("secret") I("600")
	    S("hip")) NEXT
	    CALL("get", S("hit") I("5") B64("") S("hip")));
	rpc_save("lookup", 0,
	    CALL("lookup", S("key") I("4")) NEXT
	    CALL("local_lookup", S("key") I("4") BOOL("1")));
	rpc_save("dump_status", (char)(2 << RPC_CTRL_WAIT_SHIFT),
	    CALL("register", S("erin.p2p") I("1") I("0") S("192.0.2.9") I("60")) NEXT
	    CALL("dump_dht", I("0")) NEXT
	    CALL("status", "") NEXT
	    CALL("resolve", S("erin.p2p") I("1")));
	rpc_save("system", 0,
	    CALL("system.listMethods", "") NEXT
	    CALL("system.methodHelp", S("register")) NEXT
	    CALL("system.methodSignature", S("get")) NEXT
	    CALL("system.methodSignature", S("nope")));
	rpc_save("refused_remote", 0x0f,
	    CALL("register", S("mallory.p2p") I("1") I("0") S("192.0.2.66") I("60")) NEXT
	    CALL("resolve", S("mallory.p2p") I("0")));
	rpc_save("refused_remote_v6", 0x11,
	    CALL("put", S("k") S("v") I("60") S("app")) NEXT
	    CALL("put", S("k") S("v") I("60") S("app")));
	rpc_save("bad_params", 0,
	    CALL("register", S("x") I("0") I("0") S("y") I("0")) NEXT
	    CALL("resolve", I("1") I("1")) NEXT
	    CALL("get", S("k") I("1001") B64("AAA=") S("a")) NEXT
	    CALL("nosuch", "<param><value><array><data><value><struct><member><name>a"
	    "</name><value><double>1.5</double></value></member></struct></value></data>"
	    "</array></value></param>"));
	rpc_save("not_xml", 0, "<methodCall><methodName>status</methodName><params>");
	nodeid_to_hex(&fuzz_self()->id, hex);
	snprintf(join, sizeof(join), CALL("join", S("%s")) NEXT CALL("join", S("%s")), hex,
	    "0000000000000000000000000000000000000000");
	rpc_save("join", 0, join);
}

/* ---- fuzz_nss ---- */

static void
nss_save(const char *name, char mode, const char *text)
{
	struct buf b;

	b.n = 0;
	put8(&b, (uint8_t)mode);
	put_str(&b, text);
	save_buf("fuzz_nss", name, &b);
}

#define REC(addr, kind) "<value><array><data><value><base64>" addr "</base64></value>" \
	"<value><i4>" kind "</i4></value><value><i4>0</i4></value></data></array></value>"

static void
nss_corpus(void)
{
	nss_save("answer", NSS_MODE_ANSWER,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n"
	    "<param><value><array><data>\r\n"
	    REC("MTkyLjAuMi43", "1") REC("MjAwMTpkYjg6OjE=", "28") REC("MjAwMToxMDo6MQ==", "55")
	    REC("c2lwOmFsaWNl", "33") REC("MTkyLjAuMi43", "1")
	    "</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n");
	nss_save("answer_empty", NSS_MODE_ANSWER,
	    "<methodResponse><params><param><value><array><data/></array></value></param>"
	    "</params></methodResponse>");
	nss_save("fault_9", NSS_MODE_ANSWER,
	    "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>"
	    "<member><name>faultCode</name><value><int>9</int></value></member>"
	    "<member><name>faultString</name><value><string>Name not found</string></value>"
	    "</member></struct></value></fault></methodResponse>");
	nss_save("fault_22", NSS_MODE_ANSWER,
	    "<methodResponse><fault><value><struct><member><name>faultString</name>"
	    "<value>timed out</value></member><member><name>faultCode</name><value><i4>22</i4>"
	    "</value></member></struct></value></fault></methodResponse>");
	nss_save("base64", NSS_MODE_BASE64, "MTkyLjAuMi43OjUwNjA=");
	nss_save("base64_space", NSS_MODE_BASE64, " YWJj\r\nZA== ");
	nss_save("conf", NSS_MODE_CONF,
	    "# nss.conf\nurl http://127.0.0.1:3631/RPC2\nsuffix .p2p\ntimeout-ms 250\n");
	nss_save("conf_v6", NSS_MODE_CONF, "url http://[::1]:8080/\r\nsuffix p2p.example.\n");
	nss_save("url", NSS_MODE_URL, "http://127.0.0.1:3631/RPC2 alice.p2p");
	nss_save("url_v6", NSS_MODE_URL, "HTTP://[2001:db8::1]/x host.p2p");
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		die(outdir);
	fuzz_setup();
	wire_corpus();
	node_corpus();
	session_corpus();
	record_corpus();
	identity_corpus();
	rpc_corpus();
	nss_corpus();
	return 0;
}
