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
	/* frame controls: a request of peer i, and a reply to the node's latest request to i */
	REQ = NODE_CTRL_FRAME | NODE_CTRL_TIME | NODE_CTRL_SIGN,
	REP = NODE_CTRL_FRAME | NODE_CTRL_TIME | NODE_CTRL_REPLY | NODE_CTRL_SIGN,
	WAIT_100MS = 1 << NODE_CTRL_WAIT_SHIFT,
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

/* ---- datagrams ---- */

static size_t
encode(uint8_t *out, const struct kbr_msg *m, unsigned peer)
{
	int n = kbr_wire_encode(m, fuzz_peer(peer), out, KBR_MAX_DATAGRAM);

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
	m->timestamp = FUZZ_T0;
}

static size_t
dgram_app(uint8_t *out, unsigned peer, uint8_t type, const uint8_t *body, size_t len)
{
	struct kbr_msg m;

	msg_init(&m, type);
	m.u.app.data = body;
	m.u.app.len = len;
	return encode(out, &m, peer);
}

static size_t
dgram_nodes(uint8_t *out, unsigned peer, unsigned first, unsigned count)
{
	struct kbr_msg m;

	msg_init(&m, KBR_NODES);
	m.u.nodes.count = (uint8_t)count;
	for (unsigned i = 0; i < count; i++) {
		m.u.nodes.nodes[i].id = fuzz_peer(first + i)->id;
		fuzz_peer_addr(first + i, &m.u.nodes.nodes[i].addr);
	}
	return encode(out, &m, peer);
}

static size_t
dgram_simple(uint8_t *out, unsigned peer, uint8_t type)
{
	struct kbr_msg m;

	msg_init(&m, type);
	if (type == KBR_PONG)
		(void)kbr_addr_parse(&m.u.observed, "203.0.113.5:3631");
	if (type == KBR_FIND_NODE) {
		(void)nodeid_sha1(&m.u.find.target, FUZZ_NAME, strlen(FUZZ_NAME));
		m.u.find.count = 8;
	}
	return encode(out, &m, peer);
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

/* ---- fuzz_kbr_wire ---- */

static void
wire_corpus(void)
{
	uint8_t d[KBR_MAX_DATAGRAM], body[KBR_MAX_APP_BODY], enc[DHT_REC_MAX];
	struct kbr_msg m;
	size_t n;

	save("fuzz_kbr_wire", "ping", d, dgram_simple(d, 0, KBR_PING));
	save("fuzz_kbr_wire", "pong", d, dgram_simple(d, 1, KBR_PONG));
	msg_init(&m, KBR_PONG);
	(void)kbr_addr_parse(&m.u.observed, "[2001:db8::77]:3631");
	save("fuzz_kbr_wire", "pong_v6", d, encode(d, &m, 2));
	save("fuzz_kbr_wire", "find_node", d, dgram_simple(d, 0, KBR_FIND_NODE));
	save("fuzz_kbr_wire", "nodes_0", d, dgram_nodes(d, 0, 0, 0));
	save("fuzz_kbr_wire", "nodes_4", d, dgram_nodes(d, 0, 0, FUZZ_PEERS));
	n = record_enc(enc, fuzz_record(0));
	save("fuzz_kbr_wire", "store", d,
	    dgram_app(d, 1, DHT_STORE, body, store_body(body, 1, enc, n, 0, n)));
	save("fuzz_kbr_wire", "store_answer", d,
	    dgram_app(d, 1, DHT_STORE_ANSWER, body, store_answer_body(body, 1, 0, 0)));
	save("fuzz_kbr_wire", "find_value", d,
	    dgram_app(d, 1, DHT_FIND_VALUE, body, find_body(body, 0)));
	save("fuzz_kbr_wire", "value", d,
	    dgram_app(d, 1, DHT_VALUE, body, value_body(body, fuzz_record(0), 1)));
	n = dgram_simple(d, 0, KBR_PING);
	d[4] = 2;
	save("fuzz_kbr_wire", "version_2", d, n);
	d[4] = KBR_VERSION;
	d[n - KBR_TRAILER_LEN] = KBR_AUTH_MAC;
	save("fuzz_kbr_wire", "auth_mac", d, n);
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
	uint8_t d[KBR_MAX_DATAGRAM], body[KBR_MAX_APP_BODY], enc[DHT_REC_MAX];
	const struct dht_record *small = fuzz_record(0), *big = fuzz_record(1);
	struct buf b;
	size_t n, elen;

	/* a stranger PINGs, the node answers and checks it with a PING of its own */
	b.n = 0;
	put8(&b, 0);
	frame(&b, REQ | 1, d, dgram_simple(d, 1, KBR_PING));
	frame(&b, REP | WAIT_100MS | 1, d, dgram_simple(d, 1, KBR_PONG));
	frame(&b, REQ | 2, d, dgram_simple(d, 2, KBR_FIND_NODE));
	node_save("ping_admit", &b);

	/* joining: the bootstrap node answers, names the others, and they answer the lookup */
	b.n = 0;
	put8(&b, NODE_SETUP_BOOTSTRAP);
	frame(&b, REP, d, dgram_simple(d, 0, KBR_PONG));
	frame(&b, REP | WAIT_100MS, d, dgram_nodes(d, 0, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_nodes(d, (uint8_t)i, 0, FUZZ_PEERS));
	node_save("bootstrap_join", &b);

	/* a put: the lookup's answers, then the replicas' STORE answers (transfer 1) */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_PUT);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, dgram_nodes(d, (uint8_t)i, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_app(d, (uint8_t)i, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, 0, 0)));
	node_save("put", &b);

	/* the same with the two-chunk record: "send the chunk at 1027" first */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_PUBLISH | NODE_SETUP_BIG);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, dgram_nodes(d, (uint8_t)i, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_app(d, (uint8_t)i, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, DHT_STORE_PART, DHT_STORE_CHUNK)));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_app(d, (uint8_t)i, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, DHT_ERR_STALE, 0)));
	node_save("publish_big", &b);

	/* a get: the lookup, then VALUE answers holding the record */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_GET | NODE_SETUP_HOLD);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | i, d, dgram_nodes(d, (uint8_t)i, 1, 3));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_app(d, (uint8_t)i, DHT_VALUE, body,
		    value_body(body, small, i == 3 ? 0 : 1)));
	node_save("get", &b);

	/* a lookup that learns about every peer */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_LOOKUP);
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_nodes(d, (uint8_t)i, 0, FUZZ_PEERS));
	frame(&b, REP | WAIT_31S, d, dgram_nodes(d, 0, 0, 2));
	node_save("lookup", &b);

	/* serving: a STORE from peer 1, a FIND_VALUE from peer 2 */
	b.n = 0;
	put8(&b, 0);
	elen = record_enc(enc, small);
	frame(&b, REQ | 1, d, dgram_app(d, 1, DHT_STORE, body,
	    store_body(body, 7, enc, elen, 0, elen)));
	frame(&b, REQ | WAIT_100MS | 2, d, dgram_app(d, 2, DHT_FIND_VALUE, body, find_body(body, 0)));
	node_save("serve_store_find", &b);

	/* a two-chunk STORE, then the record is read back in two VALUE chunks */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS);
	elen = record_enc(enc, big);
	n = store_body(body, 9, enc, elen, 0, DHT_STORE_CHUNK);
	frame(&b, REQ | 1, d, dgram_app(d, 1, DHT_STORE, body, n));
	n = store_body(body, 9, enc, elen, DHT_STORE_CHUNK, elen - DHT_STORE_CHUNK);
	frame(&b, REQ | WAIT_100MS | 1, d, dgram_app(d, 1, DHT_STORE, body, n));
	frame(&b, REQ | 3, d, dgram_app(d, 3, DHT_FIND_VALUE, body, find_body(body, 0)));
	frame(&b, REQ | 3, d, dgram_app(d, 3, DHT_FIND_VALUE, body,
	    find_body(body, DHT_VALUE_CHUNK)));
	node_save("serve_big", &b);

	/* the node holds the record; time passes: maintenance sends it to the peers */
	b.n = 0;
	put8(&b, NODE_SETUP_CONTACTS | NODE_SETUP_HOLD);
	frame(&b, REQ | WAIT_31S | 1, d, dgram_simple(d, 1, KBR_PING));
	for (unsigned i = 1; i < FUZZ_PEERS; i++)
		frame(&b, REP | WAIT_100MS | i, d, dgram_app(d, (uint8_t)i, DHT_STORE_ANSWER,
		    body, store_answer_body(body, 1, 0, 0)));
	node_save("maintenance", &b);
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
	record_corpus();
	identity_corpus();
	rpc_corpus();
	nss_corpus();
	return 0;
}
