/* The P2PNS core: names and values as signed DHT records under SHA-1 of their bytes, the
 * name cache in front of the DHT, and stage 2 of two-stage resolution (node ID -> address).
 *
 * Operations and their lower-layer callbacks: an operation that waits for the DHT or for
 * KBR lookups is a struct op on the p2pns's list, and is the argument of every callback it
 * waits for (a stage-2 lookup gets one of the op's targets, which points back). An op is
 * freed only when the last callback it waits for has arrived, or by p2pns_free, which the
 * owner calls after dht_free and kbr_free (they drop their callbacks unsent). So a callback
 * always finds its op while the p2pns lives. */
#include "p2pns/p2pns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "p2pns/keystore.h"

enum {
	MAX_TTL_S = DHT_MAX_TTL_MS / 1000,
	PREFIX_LEN = 5,				/* "node:" and "self:" */
	NODE_VALUE_MIN = PREFIX_LEN + NODEID_HEX_LEN,
	NODE_VALUE_MAX = NODE_VALUE_MIN + 6,	/* ":65535" */
	MAX_PORT_DIGITS = 5,
	MAX_SECRET = DHT_MAX_VALUE,		/* bytes of an rm secret */
	ADDR_TEXT = INET6_ADDRSTRLEN + 8,	/* "[v6]:65535" */
};

enum op_type { OP_WRITE, OP_RESOLVE, OP_GET, OP_RM };

/* state of a stage-2 target */
enum { T_PENDING, T_FOUND, T_FAILED };

/* which[] of a record: its target's index, or one of these */
enum { W_PLAIN = -1, W_DROPPED = -2 };

struct op;

/* A node ID named by two-stage values of one resolve. */
struct target {
	struct op *op;
	struct nodeid id;
	struct kbr_addr addr;
	uint8_t state;
};

struct op {
	struct p2pns *ns;
	struct op *prev, *next;
	bool linked;			/* on ns->ops */
	uint8_t type;			/* enum op_type */
	unsigned pending;		/* lower-layer callbacks still to come */
	struct nodeid key;
	uint32_t kind;			/* resolve: 0 or one kind; get: P2PNS_KIND_VALUE */
	p2pns_write_cb write_cb;
	p2pns_resolve_cb resolve_cb;
	p2pns_get_cb get_cb;
	void *arg;
	struct dht_record slot;		/* write: the record published */
	/* resolve, get: the live records asked for, sorted by (kind, id) */
	struct dht_record *recs;
	size_t nrecs;
	int8_t which[P2PNS_MAX_RESULTS];
	uint16_t port[P2PNS_MAX_RESULTS];	/* stage 2: the record's port, 0 if none */
	struct target t[P2PNS_MAX_STAGE2];
	unsigned nt;
	/* rm */
	uint8_t value_hash[NODEID_LEN];
	uint8_t secret_hash[NODEID_LEN];	/* SHA-1 of the secret given */
};

struct p2pns {
	struct kbr *kbr;
	struct dht *dht;
	const struct identity *node;
	struct p2pns_params p;
	struct namecache *nc;		/* NULL: neither names nor addresses are cached */
	struct keystore *ks;		/* NULL: the node's identity signs */
	uint64_t last_seq;
	struct op *ops;
	size_t nops;
	/* set while dht_publish runs: a refusal reported from inside it lands here */
	bool *refused_now;
	struct p2pns_stats st;
};

void
p2pns_params_default(struct p2pns_params *p)
{
	memset(p, 0, sizeof(*p));
	p->cache_names = 10000;
	p->cache_addrs = 10000;
	p->cache_ttl_ms = 60 * 1000;
	p->negative_ttl_ms = 5 * 1000;
	p->addr_ttl_ms = 30 * 1000;
}

const char *
p2pns_status_name(enum p2pns_status st)
{
	switch (st) {
	case P2PNS_OK:
		return "ok";
	case P2PNS_NOT_FOUND:
		return "not found";
	case P2PNS_REFUSED:
		return "refused";
	case P2PNS_NOT_OWNER:
		return "not owner";
	case P2PNS_BAD_SECRET:
		return "bad secret";
	case P2PNS_CONFLICT:
		return "conflict";
	case P2PNS_FAILED:
		return "failed";
	case P2PNS_BUSY:
		return "busy";
	case P2PNS_INVALID:
		return "invalid";
	case P2PNS_INTERNAL:
		return "internal error";
	}
	return "unknown";
}

/* ---- helpers ---- */

/* Sequence numbers grow within a process and, being at least the time in ms, across
 * restarts too: replicas take only a higher seq for a slot. */
static uint64_t
next_seq(struct p2pns *ns, uint64_t now)
{
	ns->last_seq = now > ns->last_seq ? now : ns->last_seq + 1;
	return ns->last_seq;
}

static bool
name_ok(const uint8_t *name, size_t len)
{
	return name != NULL && len >= 1 && len <= P2PNS_MAX_NAME;
}

/* 1..65535 in decimal, no sign, no leading zero. */
static int
parse_port(const uint8_t *s, size_t len, uint16_t *out)
{
	uint32_t v = 0;

	if (len < 1 || len > MAX_PORT_DIGITS || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > UINT16_MAX)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* A two-stage value: "node:<40 hex>" or "node:<40 hex>:<port>" exactly. */
static bool
parse_node_value(const uint8_t *v, size_t len, struct nodeid *id, uint16_t *port)
{
	*port = 0;
	if (len < NODE_VALUE_MIN || len > NODE_VALUE_MAX || memcmp(v, "node:", PREFIX_LEN) != 0 ||
	    nodeid_from_hex(id, (const char *)v + PREFIX_LEN, NODEID_HEX_LEN) != 0)
		return false;
	if (len == NODE_VALUE_MIN)
		return true;
	return v[NODE_VALUE_MIN] == ':' &&
	    parse_port(v + NODE_VALUE_MIN + 1, len - NODE_VALUE_MIN - 1, port) == 0;
}

/* The value stored for a registered address: "self" and "self:PORT" become this node's
 * two-stage value, anything else is kept as given. */
static int
address_value(const struct p2pns *ns, const uint8_t *addr, size_t len, struct dht_record *r)
{
	char hex[NODEID_HEX_LEN + 1];
	uint16_t port = 0;
	int n;

	if (len == 4 && memcmp(addr, "self", 4) == 0) {
		port = 0;
	} else if (len >= PREFIX_LEN && memcmp(addr, "self:", PREFIX_LEN) == 0) {
		if (parse_port(addr + PREFIX_LEN, len - PREFIX_LEN, &port) != 0)
			return -EINVAL;
	} else {
		if (len > 0)
			memcpy(r->value, addr, len);
		r->value_len = (uint16_t)len;
		return 0;
	}
	nodeid_to_hex(kbr_self_id(ns->kbr), hex);
	if (port != 0)
		n = snprintf((char *)r->value, sizeof(r->value), "node:%s:%u", hex, port);
	else
		n = snprintf((char *)r->value, sizeof(r->value), "node:%s", hex);
	r->value_len = (uint16_t)n;
	return 0;
}

/* The identity that signs for key on this node: the node's own, or the name's key from
 * the keystore (created on first use if create). */
static int
signer(struct p2pns *ns, const uint8_t *name, size_t len, bool create,
    const struct identity **out)
{
	if (ns->ks == NULL) {
		*out = ns->node;
		return 0;
	}
	return create ? ks_get_or_create(ns->ks, name, len, out) : ks_get(ns->ks, name, len, out);
}

/* A keystore error as the writes return it: no room on the disk for a new name's key is
 * -EDQUOT (-ENOSPC means too many published records), any other failure -EPERM. */
static int
keystore_errno(int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return -EDQUOT;
	return err == -ENOMEM ? -ENOMEM : -EPERM;
}

static bool
is_live(const struct dht_record *r, uint64_t now)
{
	return !(r->flags & DHT_REC_TOMBSTONE) && r->expiry > now;
}

static int
cmp_slot(const void *a, const void *b)
{
	const struct dht_record *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static void
invalidate(struct p2pns *ns, const struct nodeid *key)
{
	if (ns->nc != NULL)
		nc_invalidate(ns->nc, key);
}

/* ---- operations ---- */

static struct op *
op_alloc(struct p2pns *ns, uint8_t type, const struct nodeid *key)
{
	struct op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->ns = ns;
	op->type = type;
	op->key = *key;
	return op;
}

/* Puts op on the list of operations in flight. Returns 0 or -EBUSY. */
static int
op_link(struct op *op)
{
	struct p2pns *ns = op->ns;

	if (ns->nops >= P2PNS_MAX_OPS)
		return -EBUSY;
	op->next = ns->ops;
	if (ns->ops != NULL)
		ns->ops->prev = op;
	ns->ops = op;
	ns->nops++;
	op->linked = true;
	return 0;
}

static void
op_free(struct op *op)
{
	struct p2pns *ns = op->ns;

	if (op->linked) {
		if (op->prev != NULL)
			op->prev->next = op->next;
		else
			ns->ops = op->next;
		if (op->next != NULL)
			op->next->prev = op->prev;
		ns->nops--;
	}
	free(op->recs);
	free(op);
}

/* ---- writes ---- */

static void
write_finish(struct op *op, enum p2pns_status st, enum dht_reason why)
{
	p2pns_write_cb cb = op->write_cb;
	void *arg = op->arg;

	/* again at the end: a resolve may have cached the old records meanwhile */
	invalidate(op->ns, &op->key);
	op_free(op);
	cb(arg, st, why);
}

static void
write_done(void *arg, int status, unsigned stored, unsigned asked, enum dht_reason refused)
{
	struct op *op = arg;
	struct p2pns *ns = op->ns;

	(void)stored;
	(void)asked;
	if (status == 0) {
		write_finish(op, P2PNS_OK, DHT_OK);
		return;
	}
	/* the replicas refused it (another key owns the name, storage full, stale, ...) and
	 * the client is told so: re-publishing would only be refused again, or store behind
	 * the user's back what they were told failed (and take the name once its owner's
	 * records expired) */
	if (refused != DHT_OK) {
		if (ns->refused_now != NULL)
			*ns->refused_now = true;
		else
			(void)dht_unpublish(ns->dht, &op->slot);
	}
	write_finish(op, refused != DHT_OK ? P2PNS_REFUSED : P2PNS_FAILED, refused);
}

/* Publishes op->slot; the node keeps re-publishing it until it expires. Returns 0 (the
 * op now belongs to the DHT callback, which may already have run) or a negative errno
 * (the op is still the caller's). */
static int
publish(struct op *op, uint64_t now)
{
	struct p2pns *ns = op->ns;
	struct dht_record slot = op->slot;
	bool refused = false, *outer = ns->refused_now;
	int err;

	invalidate(ns, &op->key);
	ns->refused_now = &refused;
	err = dht_publish(ns->dht, now, &slot, write_done, op);
	ns->refused_now = outer;
	/* refused before dht_publish added it to its list: take it off now */
	if (err == 0 && refused)
		(void)dht_unpublish(ns->dht, &slot);
	return err;
}

/* Signs r with ident and publishes it as a new write operation. */
static int
write_start(struct p2pns *ns, uint64_t now, struct dht_record *r, const struct identity *ident,
    p2pns_write_cb cb, void *arg)
{
	struct op *op;
	int err;

	memcpy(r->owner, ident->pub, ID_PUBKEY_LEN);
	if (dht_record_sign(r, ident) != 0)
		return -EIO;
	op = op_alloc(ns, OP_WRITE, &r->key);
	if (op == NULL)
		return -ENOMEM;
	op->write_cb = cb;
	op->arg = arg;
	op->slot = *r;
	err = op_link(op);
	if (err == 0)
		err = publish(op, now);
	if (err != 0)
		op_free(op);
	return err;
}

int
p2pns_register(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, uint32_t id, const uint8_t *addr, size_t addr_len, uint32_t ttl_s,
    p2pns_write_cb cb, void *arg)
{
	const struct identity *ident;
	struct dht_record r;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(name, name_len) || kind < 1 ||
	    kind > P2PNS_MAX_KIND || ttl_s < 1 || ttl_s > MAX_TTL_S ||
	    (addr == NULL && addr_len > 0) || addr_len > DHT_MAX_VALUE)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	if (address_value(ns, addr, addr_len, &r) != 0)
		return -EINVAL;
	err = signer(ns, name, name_len, true, &ident);
	if (err != 0)
		return keystore_errno(err);
	if (nodeid_sha1(&r.key, name, name_len) != 0)
		return -EIO;
	r.kind = kind;
	r.id = id;
	r.seq = next_seq(ns, now);
	r.expiry = now + (uint64_t)ttl_s * 1000;
	err = write_start(ns, now, &r, ident, cb, arg);
	if (err == 0)
		ns->st.registers++;
	return err;
}

int
p2pns_unregister(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, uint32_t id, p2pns_write_cb cb, void *arg)
{
	const struct identity *ident;
	struct dht_record r;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(name, name_len) || kind < 1 ||
	    kind > P2PNS_MAX_KIND)
		return -EINVAL;
	err = signer(ns, name, name_len, false, &ident);
	if (err == -ENOENT) {
		ns->st.unregisters++;
		cb(arg, P2PNS_NOT_OWNER, DHT_OK);
		return 0;
	}
	if (err != 0)
		return keystore_errno(err);
	memset(&r, 0, sizeof(r));
	if (nodeid_sha1(&r.key, name, name_len) != 0)
		return -EIO;
	r.kind = kind;
	r.id = id;
	r.seq = next_seq(ns, now);
	r.expiry = now + (uint64_t)P2PNS_TOMBSTONE_TTL_S * 1000;
	r.flags = DHT_REC_TOMBSTONE;
	err = write_start(ns, now, &r, ident, cb, arg);
	if (err == 0)
		ns->st.unregisters++;
	return err;
}

static uint32_t
value_id(const uint8_t digest[NODEID_LEN])
{
	return (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
	    (uint32_t)digest[2] << 8 | digest[3];
}

int
p2pns_put(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len, uint32_t ttl_s, const uint8_t *secret_hash,
    p2pns_write_cb cb, void *arg)
{
	const struct identity *ident;
	struct dht_record r;
	struct nodeid h;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(key, key_len) ||
	    (value == NULL && value_len > 0) || value_len > DHT_MAX_VALUE || ttl_s < 1 ||
	    ttl_s > MAX_TTL_S)
		return -EINVAL;
	err = signer(ns, key, key_len, true, &ident);
	if (err != 0)
		return keystore_errno(err);
	memset(&r, 0, sizeof(r));
	if (nodeid_sha1(&r.key, key, key_len) != 0 || nodeid_sha1(&h, value, value_len) != 0)
		return -EIO;
	r.kind = P2PNS_KIND_VALUE;
	r.id = value_id(h.b);
	r.seq = next_seq(ns, now);
	r.expiry = now + (uint64_t)ttl_s * 1000;
	if (secret_hash != NULL) {
		r.flags = DHT_REC_SECRET;
		memcpy(r.secret_hash, secret_hash, NODEID_LEN);
	}
	if (value_len > 0)
		memcpy(r.value, value, value_len);
	r.value_len = (uint16_t)value_len;
	err = write_start(ns, now, &r, ident, cb, arg);
	if (err == 0)
		ns->st.puts++;
	return err;
}

/* The live value record whose SHA-1 is the one asked for, or NULL. */
static const struct dht_record *
find_value(const struct op *op, const struct dht_vote_result *res, uint64_t now)
{
	for (size_t i = 0; i < res->nrecords; i++) {
		const struct dht_record *r = &res->records[i];
		struct nodeid h;

		if (r->kind != P2PNS_KIND_VALUE || !is_live(r, now) ||
		    r->id != value_id(op->value_hash) ||
		    nodeid_sha1(&h, r->value, r->value_len) != 0 ||
		    memcmp(h.b, op->value_hash, NODEID_LEN) != 0)
			continue;
		return r;
	}
	return NULL;
}

static void
rm_got(void *arg, int status, const struct dht_vote_result *res)
{
	struct op *op = arg;
	struct p2pns *ns = op->ns;
	uint64_t now = kbr_now(ns->kbr), seq;
	const struct identity *ident;
	const struct dht_record *r;
	int err;

	if (status != 0 || res == NULL || res->status == DHT_VOTE_NO_ANSWER) {
		write_finish(op, P2PNS_FAILED, DHT_OK);
		return;
	}
	if (res->status == DHT_VOTE_CONFLICT) {
		write_finish(op, P2PNS_CONFLICT, DHT_OK);
		return;
	}
	r = res->status == DHT_VOTE_FOUND ? find_value(op, res, now) : NULL;
	if (r == NULL) {		/* removed already */
		write_finish(op, P2PNS_OK, DHT_OK);
		return;
	}
	if (!(r->flags & DHT_REC_SECRET) ||
	    memcmp(r->secret_hash, op->secret_hash, NODEID_LEN) != 0) {
		write_finish(op, P2PNS_BAD_SECRET, DHT_OK);
		return;
	}
	ident = ns->node;
	err = ns->ks != NULL ? ks_get_key(ns->ks, &op->key, &ident) : 0;
	if (err != 0 || memcmp(ident->pub, r->owner, ID_PUBKEY_LEN) != 0) {
		write_finish(op, err == 0 || err == -ENOENT ? P2PNS_NOT_OWNER : P2PNS_INTERNAL,
		    DHT_OK);
		return;
	}
	seq = next_seq(ns, now);
	if (r->seq >= seq) {
		seq = r->seq + 1;
		ns->last_seq = seq;
	}
	memset(&op->slot, 0, sizeof(op->slot));
	op->slot.key = r->key;
	op->slot.kind = r->kind;
	op->slot.id = r->id;
	op->slot.seq = seq;
	op->slot.expiry = now + (uint64_t)P2PNS_TOMBSTONE_TTL_S * 1000;
	op->slot.flags = DHT_REC_TOMBSTONE;
	memcpy(op->slot.owner, ident->pub, ID_PUBKEY_LEN);
	if (dht_record_sign(&op->slot, ident) != 0) {
		write_finish(op, P2PNS_INTERNAL, DHT_OK);
		return;
	}
	op->type = OP_WRITE;
	err = publish(op, now);
	if (err != 0)
		write_finish(op, err == -EBUSY || err == -ENOSPC ? P2PNS_BUSY : P2PNS_FAILED,
		    DHT_OK);
}

int
p2pns_rm(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    const uint8_t value_hash[20], const uint8_t *secret, size_t secret_len,
    p2pns_write_cb cb, void *arg)
{
	struct nodeid k, h;
	struct op *op;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(key, key_len) || value_hash == NULL ||
	    (secret == NULL && secret_len > 0) || secret_len > MAX_SECRET)
		return -EINVAL;
	if (nodeid_sha1(&k, key, key_len) != 0 || nodeid_sha1(&h, secret, secret_len) != 0)
		return -EIO;
	op = op_alloc(ns, OP_RM, &k);
	if (op == NULL)
		return -ENOMEM;
	op->write_cb = cb;
	op->arg = arg;
	memcpy(op->value_hash, value_hash, NODEID_LEN);
	memcpy(op->secret_hash, h.b, NODEID_LEN);
	/* the records come from the replicas, never from the cache: the removal must see
	 * what they hold now */
	err = op_link(op);
	if (err == 0)
		err = dht_get(ns->dht, now, &k, rm_got, op);
	if (err != 0) {
		op_free(op);
		return err;
	}
	ns->st.rms++;
	return 0;
}

/* ---- reads: resolve and get ---- */

static bool
wanted(const struct op *op, const struct dht_record *r, uint64_t now)
{
	if (!is_live(r, now))
		return false;
	if (op->kind == 0)
		return r->kind >= 1 && r->kind <= P2PNS_MAX_KIND;
	return r->kind == op->kind;
}

/* Keeps the records op asks for, sorted by (kind, id). */
static int
take(struct op *op, uint64_t now, const struct dht_record *recs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += wanted(op, &recs[i], now);
	if (k > P2PNS_MAX_RESULTS)
		k = P2PNS_MAX_RESULTS;
	op->nrecs = 0;
	if (k == 0)
		return 0;
	op->recs = malloc(k * sizeof(*op->recs));
	if (op->recs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n && op->nrecs < k; i++)
		if (wanted(op, &recs[i], now))
			op->recs[op->nrecs++] = recs[i];
	qsort(op->recs, op->nrecs, sizeof(*op->recs), cmp_slot);
	return 0;
}

/* Caches what the replicas decided for key: the live records of every kind, or "not
 * found" when there are none. */
static void
cache_result(struct p2pns *ns, uint64_t now, const struct nodeid *key,
    const struct dht_vote_result *res)
{
	struct dht_record *live;
	size_t n = 0;

	if (ns->nc == NULL || ns->p.cache_names == 0)
		return;
	if (res->status == DHT_VOTE_EMPTY) {
		(void)nc_put_negative(ns->nc, now, key, ns->p.negative_ttl_ms);
		return;
	}
	for (size_t i = 0; i < res->nrecords; i++)
		n += is_live(&res->records[i], now);
	if (n == 0) {
		(void)nc_put_negative(ns->nc, now, key, ns->p.negative_ttl_ms);
		return;
	}
	/* more than an entry holds: better no entry than a partial one */
	live = n <= NC_MAX_RECORDS ? malloc(n * sizeof(*live)) : NULL;
	if (live == NULL) {
		nc_invalidate(ns->nc, key);
		return;
	}
	n = 0;
	for (size_t i = 0; i < res->nrecords; i++)
		if (is_live(&res->records[i], now))
			live[n++] = res->records[i];
	if (nc_put_records(ns->nc, now, key, live, n, ns->p.cache_ttl_ms) != 0)
		nc_invalidate(ns->nc, key);
	free(live);
}

/* Writes a stage-2 address: "IP" without a port, else "IP:PORT" or "[IPv6]:PORT". */
static int
format_addr(const struct kbr_addr *a, uint16_t port, struct p2pns_result *out)
{
	char ip[INET6_ADDRSTRLEN], text[ADDR_TEXT];
	int n;

	if (a->family != KBR_AF_INET && a->family != KBR_AF_INET6)
		return -EINVAL;
	if (inet_ntop(a->family == KBR_AF_INET6 ? AF_INET6 : AF_INET, a->ip, ip, sizeof(ip)) ==
	    NULL)
		return -EINVAL;
	if (port == 0)
		n = snprintf(text, sizeof(text), "%s", ip);
	else if (a->family == KBR_AF_INET6)
		n = snprintf(text, sizeof(text), "[%s]:%u", ip, port);
	else
		n = snprintf(text, sizeof(text), "%s:%u", ip, port);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -EINVAL;
	memcpy(out->addr, text, (size_t)n);
	out->len = (uint16_t)n;
	return 0;
}

static void
get_finish(struct op *op, enum p2pns_status st)
{
	p2pns_get_cb cb = op->get_cb;
	void *arg = op->arg;
	struct dht_record *recs = op->recs;
	size_t n = op->nrecs;

	op->recs = NULL;
	op_free(op);
	if (st == P2PNS_OK && n == 0)
		st = P2PNS_NOT_FOUND;
	cb(arg, st, st == P2PNS_OK ? recs : NULL, st == P2PNS_OK ? n : 0);
	free(recs);
}

/* Answers a resolve: plain values as they are, two-stage values with their node's address;
 * the records of nodes that could not be found are left out. */
static void
resolve_finish(struct op *op, enum p2pns_status st)
{
	struct p2pns *ns = op->ns;
	p2pns_resolve_cb cb = op->resolve_cb;
	void *arg = op->arg;
	struct p2pns_result *res = NULL;
	size_t n = 0, dropped = 0;

	if (st == P2PNS_OK && op->nrecs > 0) {
		res = calloc(op->nrecs, sizeof(*res));
		if (res == NULL)
			st = P2PNS_INTERNAL;
	}
	for (size_t i = 0; res != NULL && i < op->nrecs; i++) {
		const struct dht_record *r = &op->recs[i];
		struct p2pns_result *o = &res[n];

		o->kind = r->kind;
		o->id = r->id;
		o->expiry = r->expiry;
		if (op->which[i] == W_PLAIN) {
			memcpy(o->addr, r->value, r->value_len);
			o->len = r->value_len;
			n++;
			continue;
		}
		if (op->which[i] >= 0 && op->t[op->which[i]].state == T_FOUND &&
		    format_addr(&op->t[op->which[i]].addr, op->port[i], o) == 0) {
			o->two_stage = true;
			n++;
			continue;
		}
		dropped++;
	}
	for (unsigned j = 0; j < op->nt; j++)
		ns->st.stage2_failed += op->t[j].state != T_FOUND;
	if (st == P2PNS_OK && n == 0)
		st = dropped > 0 ? P2PNS_FAILED : P2PNS_NOT_FOUND;
	if (st == P2PNS_OK)
		ns->st.resolves_found++;
	op_free(op);
	cb(arg, st, st == P2PNS_OK ? res : NULL, st == P2PNS_OK ? n : 0);
	free(res);
}

static void
read_finish(struct op *op, enum p2pns_status st)
{
	if (op->type == OP_GET)
		get_finish(op, st);
	else
		resolve_finish(op, st);
}

static void
release(struct op *op)
{
	if (--op->pending == 0)
		resolve_finish(op, P2PNS_OK);
}

/* A stage-2 lookup ended: the node is found if it is among the nodes that answered. */
static void
located(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct target *t = arg;
	struct op *op = t->op;
	struct p2pns *ns = op->ns;

	(void)target;
	(void)st;
	t->state = T_FAILED;
	for (size_t i = 0; i < n; i++) {
		if (!nodeid_eq(&res[i].id, &t->id) || res[i].addr.family == KBR_AF_NONE)
			continue;
		t->addr = res[i].addr;
		t->state = T_FOUND;
		if (ns->nc != NULL && ns->p.cache_addrs > 0)
			(void)nc_put_addr(ns->nc, kbr_now(ns->kbr), &t->id, &t->addr,
			    ns->p.addr_ttl_ms);
		break;
	}
	release(op);
}

/* Where a node is without asking the network: this node's own address, or a cached one. */
static uint8_t
locate_here(struct p2pns *ns, uint64_t now, const struct nodeid *id, struct kbr_addr *out)
{
	if (nodeid_eq(id, kbr_self_id(ns->kbr))) {
		kbr_observed_addr(ns->kbr, out);
		if (out->family == KBR_AF_NONE)
			*out = ns->p.self_addr;
		return out->family == KBR_AF_NONE ? T_FAILED : T_FOUND;
	}
	if (ns->nc != NULL && ns->p.cache_addrs > 0 && nc_get_addr(ns->nc, now, id, out) == 0)
		return T_FOUND;
	return T_PENDING;
}

/* Finds the node IDs of the two-stage values (at most P2PNS_MAX_STAGE2; the records of
 * any further ones are dropped) and what is known of them here. */
static void
plan_stage2(struct op *op, uint64_t now)
{
	for (size_t i = 0; i < op->nrecs; i++) {
		const struct dht_record *r = &op->recs[i];
		struct nodeid id;
		unsigned j;

		op->which[i] = W_PLAIN;
		if (!parse_node_value(r->value, r->value_len, &id, &op->port[i]))
			continue;
		for (j = 0; j < op->nt; j++)
			if (nodeid_eq(&op->t[j].id, &id))
				break;
		if (j == op->nt) {
			if (op->nt == P2PNS_MAX_STAGE2) {
				op->which[i] = W_DROPPED;
				continue;
			}
			struct target *t = &op->t[op->nt++];

			t->op = op;
			t->id = id;
			t->state = locate_here(op->ns, now, &id, &t->addr);
		}
		op->which[i] = (int8_t)j;
	}
}

/* The records are known: answer, after stage 2 if some nodes must be looked up. Returns 0
 * or, for an op not yet in flight, -EBUSY (op freed, callback not called). */
static int
answer(struct op *op, uint64_t now)
{
	struct p2pns *ns = op->ns;
	struct kbr_lookup_opts one = {.want = 1};
	unsigned lookups = 0;

	if (op->type == OP_GET) {
		get_finish(op, P2PNS_OK);
		return 0;
	}
	plan_stage2(op, now);
	for (unsigned j = 0; j < op->nt; j++)
		lookups += op->t[j].state == T_PENDING;
	if (lookups == 0) {
		resolve_finish(op, P2PNS_OK);
		return 0;
	}
	if (!op->linked && op_link(op) != 0) {
		op_free(op);
		return -EBUSY;
	}
	/* one count for this loop, so that lookups ending at once cannot finish the op
	 * under it */
	op->pending = 1;
	for (unsigned j = 0; j < op->nt; j++) {
		struct target *t = &op->t[j];

		if (t->state != T_PENDING)
			continue;
		op->pending++;
		ns->st.stage2_lookups++;
		/* the node itself is wanted: the lookup ends when it answers */
		if (kbr_lookup_start_opts(ns->kbr, now, &t->id, &one, located, t) != 0) {
			t->state = T_FAILED;
			op->pending--;
		}
	}
	release(op);
	return 0;
}

static void
read_got(void *arg, int status, const struct dht_vote_result *res)
{
	struct op *op = arg;
	struct p2pns *ns = op->ns;
	uint64_t now = kbr_now(ns->kbr);

	if (status != 0 || res == NULL || res->status == DHT_VOTE_NO_ANSWER) {
		read_finish(op, P2PNS_FAILED);
		return;
	}
	if (res->status == DHT_VOTE_CONFLICT) {
		read_finish(op, P2PNS_CONFLICT);
		return;
	}
	cache_result(ns, now, &op->key, res);
	if (res->status == DHT_VOTE_EMPTY) {
		read_finish(op, P2PNS_NOT_FOUND);
		return;
	}
	if (take(op, now, res->records, res->nrecords) != 0) {
		read_finish(op, P2PNS_INTERNAL);
		return;
	}
	(void)answer(op, now);		/* in flight already: cannot fail */
}

/* Answers from the cache if it knows the key, else asks the replicas. */
static int
read_start(struct op *op, uint64_t now)
{
	struct p2pns *ns = op->ns;
	struct dht_record recs[NC_MAX_RECORDS];	/* ~20 KB: no heap round trip per hit */
	bool negative = false;
	int n, err;

	if (ns->nc != NULL && ns->p.cache_names > 0) {
		n = nc_get_records(ns->nc, now, &op->key, recs, NC_MAX_RECORDS, &negative);
		if (n >= 0) {
			if (op->type == OP_RESOLVE)
				ns->st.resolves_cached++;
			err = negative ? 0 : take(op, now, recs, (size_t)n);
			if (err != 0) {
				op_free(op);
				return err;
			}
			if (negative || op->nrecs == 0) {
				read_finish(op, P2PNS_NOT_FOUND);
				return 0;
			}
			return answer(op, now);
		}
	}
	err = op_link(op);
	if (err == 0)
		err = dht_get(ns->dht, now, &op->key, read_got, op);
	if (err != 0)
		op_free(op);
	return err;
}

int
p2pns_resolve(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, p2pns_resolve_cb cb, void *arg)
{
	struct nodeid key;
	struct op *op;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(name, name_len) || kind > P2PNS_MAX_KIND)
		return -EINVAL;
	if (nodeid_sha1(&key, name, name_len) != 0)
		return -EIO;
	op = op_alloc(ns, OP_RESOLVE, &key);
	if (op == NULL)
		return -ENOMEM;
	op->kind = kind;
	op->resolve_cb = cb;
	op->arg = arg;
	ns->st.resolves++;
	err = read_start(op, now);
	if (err != 0)
		ns->st.resolves--;
	return err;
}

int
p2pns_get(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    p2pns_get_cb cb, void *arg)
{
	struct nodeid k;
	struct op *op;
	int err;

	if (ns == NULL || cb == NULL || !name_ok(key, key_len))
		return -EINVAL;
	if (nodeid_sha1(&k, key, key_len) != 0)
		return -EIO;
	op = op_alloc(ns, OP_GET, &k);
	if (op == NULL)
		return -ENOMEM;
	op->kind = P2PNS_KIND_VALUE;
	op->get_cb = cb;
	op->arg = arg;
	ns->st.gets++;
	err = read_start(op, now);
	if (err != 0)
		ns->st.gets--;
	return err;
}

/* ---- setup ---- */

struct p2pns *
p2pns_new(struct kbr *kbr, struct dht *dht, const struct identity *node,
    const struct p2pns_params *p)
{
	struct p2pns *ns;
	uint64_t max_ttl;

	if (kbr == NULL || dht == NULL || node == NULL || p == NULL ||
	    p->cache_names > NC_MAX_ENTRIES || p->cache_addrs > NC_MAX_ENTRIES)
		return NULL;
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL)
		return NULL;
	ns->kbr = kbr;
	ns->dht = dht;
	ns->node = node;
	ns->p = *p;
	ns->p.keystore_dir = NULL;	/* the caller's string need not outlive the call */
	if (p->cache_names > 0 || p->cache_addrs > 0) {
		max_ttl = p->cache_ttl_ms;
		if (p->negative_ttl_ms > max_ttl)
			max_ttl = p->negative_ttl_ms;
		if (p->addr_ttl_ms > max_ttl)
			max_ttl = p->addr_ttl_ms;
		/* a table of size 0 is not a namecache: keep one entry that is never used */
		ns->nc = nc_new(p->cache_names ? p->cache_names : 1,
		    p->cache_addrs ? p->cache_addrs : 1, max_ttl);
		if (ns->nc == NULL) {
			free(ns);
			return NULL;
		}
	}
	if (p->keystore_dir != NULL) {
		ns->ks = ks_new(p->keystore_dir, 0);
		if (ns->ks == NULL) {
			nc_free(ns->nc);
			free(ns);
			return NULL;
		}
	}
	return ns;
}

void
p2pns_free(struct p2pns *ns)
{
	if (ns == NULL)
		return;
	while (ns->ops != NULL)
		op_free(ns->ops);
	nc_free(ns->nc);
	ks_free(ns->ks);
	free(ns);
}

void
p2pns_get_stats(const struct p2pns *ns, struct p2pns_stats *st)
{
	*st = ns->st;
	memset(&st->cache, 0, sizeof(st->cache));
	st->cached_names = st->cached_addrs = 0;
	if (ns->nc != NULL) {
		nc_get_stats(ns->nc, &st->cache);
		if (ns->p.cache_names > 0)
			st->cached_names = nc_count_names(ns->nc);
		if (ns->p.cache_addrs > 0)
			st->cached_addrs = nc_count_addrs(ns->nc);
	}
	st->keys = ks_loaded(ns->ks);
}
