/* The node's XML-RPC methods: argument checks beyond the signature, the calls into p2pns/,
 * dht/ and kbr/, and the answers in OverSim's and the OpenDHT gateway's shapes. */
#include "rpc/methods.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/sha.h>

#include "kbr/table.h"
#include "puzzle/nodeid.h"

enum {
	SHOW_MAX = 64,			/* bytes of a name shown in a fault */
	LABEL_LEN = SHOW_MAX * 4 + 8,
	PLACEMARK_LEN = 4,		/* a get placemark: the last value id, big-endian */
	NUM_MAX = 64,			/* nodes answered by lookup and local_lookup */
};

/* Bamboo's return codes of put_removable and rm. */
enum { BAMBOO_OK = 0, BAMBOO_CAPACITY = 1, BAMBOO_AGAIN = 2 };

struct rpc_pending {
	struct rpc_pending *prev, *next;
	struct rpc_node *node;
	struct rpc_call *call;
	bool bamboo;			/* answer write outcomes with Bamboo's return codes */
	int num;			/* lookup: nodes wanted; get: maxvals */
	bool have_placemark;
	uint32_t placemark;
	char label[LABEL_LEN];		/* the name or key, printable, for faults */
};

/* A name or key as printable text for messages: other bytes as \xNN, cut at SHOW_MAX. */
static void
show(char *out, size_t outlen, const uint8_t *p, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < SHOW_MAX && o + 5 < outlen; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i]);
	}
	if (len > SHOW_MAX && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
}

static struct rpc_pending *
pending_new(struct rpc_node *node, struct rpc_call *call, const struct rpc_arg *name)
{
	struct rpc_pending *p;

	if (node->npending >= RPC_NODE_MAX_PENDING) {
		rpc_fault(call, RPC_FAULT_BUSY, "too many calls waiting on the overlay; try again");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rpc_fault(call, RPC_FAULT_INTERNAL, "out of memory");
		return NULL;
	}
	p->node = node;
	p->call = call;
	if (name != NULL)
		show(p->label, sizeof(p->label), name->bytes, name->len);
	p->next = node->pending;
	if (p->next != NULL)
		p->next->prev = p;
	node->pending = p;
	node->npending++;
	return p;
}

/* Unlinks p and frees it; returns its call. */
static struct rpc_call *
pending_end(struct rpc_pending *p)
{
	struct rpc_node *node = p->node;
	struct rpc_call *call = p->call;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		node->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	node->npending--;
	free(p);
	return call;
}

void
rpc_node_drop_pending(struct rpc_node *node)
{
	while (node->pending != NULL)
		rpc_fault(pending_end(node->pending), RPC_FAULT_FAILED, "the node is shutting down");
}

static xmlrpc_value *
int_value(int v)
{
	xmlrpc_env env;
	xmlrpc_value *r;

	xmlrpc_env_init(&env);
	r = xmlrpc_int_new(&env, v);
	xmlrpc_env_clean(&env);
	return r;
}

/* A call that could not start: errno from p2pns_* or the like. */
static void
start_failed(struct rpc_pending *p, int err)
{
	struct rpc_call *call;
	bool bamboo = p->bamboo;

	call = pending_end(p);
	if (err == -EBUSY && bamboo) {
		rpc_reply(call, int_value(BAMBOO_AGAIN));
		return;
	}
	switch (err) {
	case -EINVAL:
		rpc_fault(call, RPC_FAULT_PARAMS, "bad argument (name or key 1..%d bytes, kind "
		    "1..%d, TTL 1..%d s, value at most %d bytes, \"self:PORT\" port 1..65535)",
		    P2PNS_MAX_NAME, P2PNS_MAX_KIND, DHT_MAX_TTL_MS / 1000, DHT_MAX_VALUE);
		break;
	case -EBUSY:
		rpc_fault(call, RPC_FAULT_BUSY, "too many operations in flight; try again");
		break;
	case -ENOSPC:
		rpc_fault(call, RPC_FAULT_BUSY, "this node publishes too many records already");
		break;
	case -EPERM:
		rpc_fault(call, RPC_FAULT_FAILED, "cannot use the key store of this node");
		break;
	case -EDQUOT:
		rpc_fault(call, RPC_FAULT_FAILED, "no room for a new key: the disk of this node's "
		    "data directory is full");
		break;
	default:
		rpc_fault(call, RPC_FAULT_FAILED, "cannot start: %s", strerror(-err));
		break;
	}
}

/* Appends v to the array a and drops the caller's reference; no-op on an earlier fault. */
static void
append(xmlrpc_env *env, xmlrpc_value *a, xmlrpc_value *v)
{
	if (v == NULL)
		return;
	if (!env->fault_occurred)
		xmlrpc_array_append_item(env, a, v);
	xmlrpc_DECREF(v);
}

static void
member(xmlrpc_env *env, xmlrpc_value *s, const char *key, xmlrpc_value *v)
{
	if (v == NULL)
		return;
	if (!env->fault_occurred)
		xmlrpc_struct_set_value(env, s, key, v);
	xmlrpc_DECREF(v);
}

/* Finishes call with result, or with an internal fault if building it failed. */
static void
reply_built(struct rpc_call *call, xmlrpc_env *env, xmlrpc_value *result)
{
	if (env->fault_occurred || result == NULL) {
		if (result != NULL)
			xmlrpc_DECREF(result);
		rpc_fault(call, RPC_FAULT_INTERNAL, "cannot build the answer: %s",
		    env->fault_string != NULL ? env->fault_string : "out of memory");
	} else {
		rpc_reply(call, result);
	}
	xmlrpc_env_clean(env);
}

static const char *
refusal(enum dht_reason why)
{
	switch (why) {
	case DHT_ERR_FOREIGN_OWNER:
		return "owned by another key";
	case DHT_ERR_STALE:
		return "a newer record is stored already";
	case DHT_ERR_QUOTA:
		return "over this owner's quota on the replicas";
	case DHT_ERR_FULL:
		return "the replicas' storage is full";
	case DHT_ERR_RATE:
		return "too many stores from this node; try again later";
	default:
		return dht_reason_name(why);
	}
}

static void
write_done(void *arg, enum p2pns_status st, enum dht_reason why)
{
	struct rpc_pending *p = arg;
	struct rpc_call *call;
	char label[LABEL_LEN];
	bool bamboo = p->bamboo;

	memcpy(label, p->label, sizeof(label));
	call = pending_end(p);
	if (st == P2PNS_OK) {
		rpc_reply(call, int_value(bamboo ? BAMBOO_OK : 0));
		return;
	}
	if (bamboo) {
		if (st == P2PNS_REFUSED && (why == DHT_ERR_QUOTA || why == DHT_ERR_FULL)) {
			rpc_reply(call, int_value(BAMBOO_CAPACITY));
			return;
		}
		if (st == P2PNS_FAILED || st == P2PNS_BUSY || st == P2PNS_CONFLICT ||
		    (st == P2PNS_REFUSED && why == DHT_ERR_RATE)) {
			rpc_reply(call, int_value(BAMBOO_AGAIN));
			return;
		}
	}
	switch (st) {
	case P2PNS_REFUSED:
		rpc_fault(call, RPC_FAULT_REFUSED, "'%s' refused: %s", label, refusal(why));
		break;
	case P2PNS_NOT_OWNER:
		rpc_fault(call, RPC_FAULT_REFUSED, "this node holds no key for '%s': only the "
		    "node that registered it can change it", label);
		break;
	case P2PNS_BAD_SECRET:
		rpc_fault(call, RPC_FAULT_REFUSED, "'%s': the secret does not match the value's "
		    "secret hash", label);
		break;
	case P2PNS_BUSY:
		rpc_fault(call, RPC_FAULT_BUSY, "too many operations in flight; try again");
		break;
	case P2PNS_CONFLICT:
		rpc_fault(call, RPC_FAULT_FAILED, "'%s': the replicas disagree (no majority)",
		    label);
		break;
	default:
		rpc_fault(call, RPC_FAULT_FAILED, "'%s': operation failed (%s)", label,
		    p2pns_status_name(st));
		break;
	}
}

static void
kick(struct rpc_node *node)
{
	if (node->kick != NULL)
		node->kick(node->kick_arg);
}

/* After a p2pns_* or kbr_* call that was to start p's work: answers p if it could not
 * start, and runs the timers for what did. */
static void
started(struct rpc_node *node, struct rpc_pending *p, int err)
{
	if (err != 0)
		start_failed(p, err);
	kick(node);
}

/* An int argument as a kind for register/unregister, or false (and a fault). */
static bool
arg_kind(struct rpc_call *call, const struct rpc_arg *a, int min, uint32_t *out)
{
	if (a->i < min || a->i > P2PNS_MAX_KIND) {
		rpc_fault(call, RPC_FAULT_PARAMS, "kind %lld out of range (%d..%d)",
		    (long long)a->i, min, P2PNS_MAX_KIND);
		return false;
	}
	*out = (uint32_t)a->i;
	return true;
}

static bool
arg_ttl(struct rpc_call *call, const struct rpc_arg *a, uint32_t *out)
{
	if (a->i < 1 || a->i > DHT_MAX_TTL_MS / 1000) {
		rpc_fault(call, RPC_FAULT_PARAMS, "ttl %lld out of range (1..%d seconds)",
		    (long long)a->i, DHT_MAX_TTL_MS / 1000);
		return false;
	}
	*out = (uint32_t)a->i;
	return true;
}

/* register(base64 name, int kind, int id, base64 address, int ttl) -> 0 */
static void
m_register(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t kind, ttl;
	int err;

	(void)n;
	if (!arg_kind(call, &a[1], 1, &kind) || !arg_ttl(call, &a[4], &ttl))
		return;
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	err = p2pns_register(node->ns, node->now(), a[0].bytes, a[0].len, kind,
	    (uint32_t)a[2].i, a[3].bytes, a[3].len, ttl, write_done, p);
	started(node, p, err);
}

/* unregister(base64 name, int kind, int id) -> 0 */
static void
m_unregister(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t kind;
	int err;

	(void)n;
	if (!arg_kind(call, &a[1], 1, &kind))
		return;
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	err = p2pns_unregister(node->ns, node->now(), a[0].bytes, a[0].len, kind,
	    (uint32_t)a[2].i, write_done, p);
	started(node, p, err);
}

static void
resolve_done(void *arg, enum p2pns_status st, const struct p2pns_result *res, size_t n)
{
	struct rpc_pending *p = arg;
	char label[LABEL_LEN];
	struct rpc_call *call;
	xmlrpc_env env;
	xmlrpc_value *list;

	memcpy(label, p->label, sizeof(label));
	call = pending_end(p);
	if (st == P2PNS_NOT_FOUND) {
		rpc_fault(call, RPC_FAULT_NOT_FOUND, "Name not found: '%s'", label);
		return;
	}
	if (st == P2PNS_CONFLICT) {
		rpc_fault(call, RPC_FAULT_FAILED, "'%s': the replicas disagree (no majority)",
		    label);
		return;
	}
	if (st != P2PNS_OK) {
		rpc_fault(call, RPC_FAULT_FAILED, "cannot resolve '%s': %s", label,
		    p2pns_status_name(st));
		return;
	}
	xmlrpc_env_init(&env);
	list = xmlrpc_array_new(&env);
	for (size_t i = 0; i < n && !env.fault_occurred; i++)
		append(&env, list, xmlrpc_build_value(&env, "(6ii)", res[i].addr,
		    (size_t)res[i].len, (xmlrpc_int32)res[i].kind, (xmlrpc_int32)res[i].id));
	reply_built(call, &env, list);
}

/* resolve(base64 name, int kind) -> [[base64 address, int kind, int id], ...] */
static void
m_resolve(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t kind;
	int err;

	(void)n;
	if (!arg_kind(call, &a[1], 0, &kind))
		return;
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	err = p2pns_resolve(node->ns, node->now(), a[0].bytes, a[0].len, kind, resolve_done, p);
	started(node, p, err);
}

/* put(base64 key, base64 value, int ttl, string application) -> 0 */
static void
m_put(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t ttl;
	int err;

	(void)n;
	if (!arg_ttl(call, &a[2], &ttl))
		return;
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	err = p2pns_put(node->ns, node->now(), a[0].bytes, a[0].len, a[1].bytes, a[1].len, ttl,
	    NULL, write_done, p);
	started(node, p, err);
}

static bool
check_sha(struct rpc_call *call, const struct rpc_arg *alg)
{
	if (alg->len != 3 || memcmp(alg->bytes, "SHA", 3) != 0) {
		rpc_fault(call, RPC_FAULT_PARAMS, "hash algorithm must be \"SHA\"");
		return false;
	}
	return true;
}

/* The checks put_removable and rm share (the "SHA" algorithm, the TTL, a[hash] a SHA-1
 * digest) and their pending call, answered with Bamboo's return codes; NULL after a fault. */
static struct rpc_pending *
bamboo_start(struct rpc_node *node, struct rpc_call *call, const struct rpc_arg *a,
    size_t hash, const char *what, uint32_t *ttl)
{
	struct rpc_pending *p;

	if (!check_sha(call, &a[2]) || !arg_ttl(call, &a[4], ttl))
		return NULL;
	if (a[hash].len != SHA_DIGEST_LENGTH) {
		rpc_fault(call, RPC_FAULT_PARAMS, "%s must be %d bytes (SHA-1), got %zu", what,
		    SHA_DIGEST_LENGTH, a[hash].len);
		return NULL;
	}
	if ((p = pending_new(node, call, &a[0])) != NULL)
		p->bamboo = true;
	return p;
}

/* put_removable(base64 key, base64 value, string "SHA", base64 secret_hash, int ttl,
 * string application) -> 0 ok, 1 over capacity, 2 try again */
static void
m_put_removable(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t ttl;
	int err;

	(void)n;
	if ((p = bamboo_start(node, call, a, 3, "secret hash", &ttl)) == NULL)
		return;
	err = p2pns_put(node->ns, node->now(), a[0].bytes, a[0].len, a[1].bytes, a[1].len, ttl,
	    a[3].bytes, write_done, p);
	started(node, p, err);
}

/* rm(base64 key, base64 value_hash, string "SHA", base64 secret, int ttl, string
 * application) -> 0, 1, 2 */
static void
m_rm(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	uint32_t ttl;
	int err;

	(void)n;
	if ((p = bamboo_start(node, call, a, 1, "value hash", &ttl)) == NULL)
		return;
	err = p2pns_rm(node->ns, node->now(), a[0].bytes, a[0].len, a[1].bytes, a[3].bytes,
	    a[3].len, write_done, p);
	started(node, p, err);
}

static void
get_done(void *arg, enum p2pns_status st, const struct dht_record *vals, size_t n)
{
	struct rpc_pending *p = arg;
	char label[LABEL_LEN];
	struct rpc_call *call;
	xmlrpc_env env;
	xmlrpc_value *list, *res;
	uint8_t pm[PLACEMARK_LEN];
	size_t first = 0, taken = 0, max = (size_t)p->num;
	bool more = false;

	if (p->have_placemark)
		while (first < n && vals[first].id <= p->placemark)
			first++;
	memcpy(label, p->label, sizeof(label));
	call = pending_end(p);
	if (st != P2PNS_OK && st != P2PNS_NOT_FOUND) {
		rpc_fault(call, RPC_FAULT_FAILED, "cannot get '%s': %s", label,
		    p2pns_status_name(st));
		return;
	}
	if (st == P2PNS_NOT_FOUND)
		n = 0;
	xmlrpc_env_init(&env);
	list = xmlrpc_array_new(&env);
	for (size_t i = first; i < n && !env.fault_occurred; i++) {
		if (taken == max) {
			more = true;
			break;
		}
		append(&env, list, xmlrpc_base64_new(&env, vals[i].value_len, vals[i].value));
		taken++;
	}
	if (more) {
		uint32_t last = vals[first + taken - 1].id;

		pm[0] = (uint8_t)(last >> 24);
		pm[1] = (uint8_t)(last >> 16);
		pm[2] = (uint8_t)(last >> 8);
		pm[3] = (uint8_t)last;
	}
	res = xmlrpc_build_value(&env, "(V6)", list, more ? pm : (const uint8_t *)"",
	    more ? sizeof(pm) : (size_t)0);
	if (list != NULL)
		xmlrpc_DECREF(list);
	reply_built(call, &env, res);
}

/* get(base64 key, int maxvals, base64 placemark, string application)
 *   -> [[base64 value, ...], base64 placemark] (an empty placemark: no more values) */
static void
m_get(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct rpc_pending *p;
	int err;

	(void)n;
	if (a[1].i < 1 || a[1].i > RPC_GET_MAX_VALS) {
		rpc_fault(call, RPC_FAULT_PARAMS, "maxvals %lld out of range (1..%d)",
		    (long long)a[1].i, RPC_GET_MAX_VALS);
		return;
	}
	if (a[2].len != 0 && a[2].len != PLACEMARK_LEN) {
		rpc_fault(call, RPC_FAULT_PARAMS, "bad placemark: give back the one a get "
		    "returned, or an empty one");
		return;
	}
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	p->num = (int)a[1].i;
	if (a[2].len == PLACEMARK_LEN) {
		p->have_placemark = true;
		p->placemark = (uint32_t)a[2].bytes[0] << 24 | (uint32_t)a[2].bytes[1] << 16 |
		    (uint32_t)a[2].bytes[2] << 8 | a[2].bytes[3];
	}
	err = p2pns_get(node->ns, node->now(), a[0].bytes, a[0].len, get_done, p);
	started(node, p, err);
}

static void
format_ip(const struct kbr_addr *a, char *out, size_t len)
{
	if (inet_ntop(a->family == KBR_AF_INET6 ? AF_INET6 : AF_INET, a->ip, out,
	    (socklen_t)len) == NULL)
		snprintf(out, len, "?");
}

/* [string ip, int port, string hexkey] for each contact */
static xmlrpc_value *
contact_list(xmlrpc_env *env, const struct kbr_contact *c, size_t n)
{
	xmlrpc_value *list = xmlrpc_array_new(env);
	char ip[KBR_ADDR_STRLEN], hex[NODEID_HEX_LEN + 1];

	for (size_t i = 0; i < n && !env->fault_occurred; i++) {
		format_ip(&c[i].addr, ip, sizeof(ip));
		nodeid_to_hex(&c[i].id, hex);
		append(env, list, xmlrpc_build_value(env, "(sis)", ip,
		    (xmlrpc_int32)c[i].addr.port, hex));
	}
	return list;
}

static bool
arg_num(struct rpc_call *call, const struct rpc_arg *a, const char *what)
{
	if (a->i < 1 || a->i > NUM_MAX) {
		rpc_fault(call, RPC_FAULT_PARAMS, "%s %lld out of range (1..%d)", what,
		    (long long)a->i, NUM_MAX);
		return false;
	}
	return true;
}

/* This node as a contact: where it is bound, or where peers see it when it is bound to
 * the unspecified address. */
static void
self_contact(const struct rpc_node *node, struct kbr_contact *c)
{
	static const uint8_t zero[16];

	memset(c, 0, sizeof(*c));
	c->id = *kbr_self_id(node->kbr);
	if (node->naddrs > 0)
		c->addr = node->addrs[0];
	if (node->naddrs == 0 || memcmp(c->addr.ip, zero, sizeof(zero)) == 0) {
		struct kbr_addr seen;

		kbr_observed_addr(node->kbr, &seen);
		if (seen.family != KBR_AF_NONE) {
			uint16_t port = c->addr.port;

			c->addr = seen;
			if (port != 0)
				c->addr.port = port;
		}
	}
}

/* The lookup's result with this node put in its place among them (a node is one of the
 * closest to some keys itself), at most want of them. */
static size_t
with_self(const struct rpc_node *node, const struct nodeid *target,
    const struct kbr_contact *res, size_t n, struct kbr_contact *out, size_t want)
{
	struct kbr_contact me;
	size_t got = 0, i = 0;
	bool placed = false;

	self_contact(node, &me);
	while (got < want && (i < n || !placed)) {
		if (!placed && (i == n || kbr_distance_cmp(target, &me.id, &res[i].id) < 0)) {
			out[got++] = me;
			placed = true;
		} else if (nodeid_eq(&res[i].id, &me.id)) {
			i++;
		} else {
			out[got++] = res[i++];
		}
	}
	return got;
}

static void
lookup_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct rpc_pending *p = arg;
	struct rpc_node *node = p->node;
	struct kbr_contact all[NUM_MAX];
	struct rpc_call *call;
	size_t want = (size_t)p->num, got;
	xmlrpc_env env;

	(void)st;
	got = with_self(node, target, res, n, all, want);
	call = pending_end(p);
	xmlrpc_env_init(&env);
	reply_built(call, &env, contact_list(&env, all, got));
}

/* lookup(base64 key, int numSiblings) -> [[string ip, int port, string hexkey], ...]: the
 * closest nodes, this one among them if it is one (as OverSim's KBR answers) */
static void
m_lookup(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct kbr_lookup_opts o = {0};
	struct rpc_pending *p;
	struct nodeid target;
	unsigned s = kbr_get_params(node->kbr)->s;
	int err;

	(void)n;
	if (!arg_num(call, &a[1], "numSiblings"))
		return;
	if ((p = pending_new(node, call, &a[0])) == NULL)
		return;
	p->num = (int)a[1].i;
	nodeid_sha1(&target, a[0].bytes, a[0].len);
	/* the lookup ends once the wanted nodes are settled; this node may be one of them */
	o.want = (unsigned)p->num < s ? (unsigned)p->num : s;
	err = kbr_lookup_start_opts(node->kbr, node->now(), &target, &o, lookup_done, p);
	started(node, p, err);
}

/* local_lookup(base64 key, int num, boolean safe) -> as lookup, from the routing table
 * alone. Every contact there answered a signed message itself, so "safe" changes nothing. */
static void
m_local_lookup(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	struct kbr_contact c[NUM_MAX];
	struct nodeid target;
	xmlrpc_env env;
	size_t got;

	(void)n;
	if (!arg_num(call, &a[1], "num"))
		return;
	nodeid_sha1(&target, a[0].bytes, a[0].len);
	got = kbr_table_closest(kbr_get_table(node->kbr), &target, c, (size_t)a[1].i);
	xmlrpc_env_init(&env);
	reply_built(call, &env, contact_list(&env, c, got));
}

static void
join_done(void *arg, const struct nodeid *target, const struct kbr_contact *res, size_t n,
    const struct kbr_lookup_stats *st)
{
	struct rpc_call *call = pending_end(arg);

	(void)target;
	(void)res;
	(void)st;
	if (n == 0)
		rpc_fault(call, RPC_FAULT_FAILED, "join failed: no node answered");
	else
		rpc_reply(call, int_value(0));
}

/* join(base64 nodeid) -> 0: looks up this node's own ID again (refreshing its neighbours).
 * A node's ID is the SHA-1 of its key, so joining under another ID is refused. */
static void
m_join(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	const struct nodeid *self = kbr_self_id(node->kbr);
	struct rpc_pending *p;
	struct nodeid want;
	int err;

	(void)n;
	if (a[0].len == NODEID_LEN) {
		memcpy(want.b, a[0].bytes, NODEID_LEN);
	} else if (a[0].len != NODEID_HEX_LEN ||
	    nodeid_from_hex(&want, (const char *)a[0].bytes, a[0].len) != 0) {
		rpc_fault(call, RPC_FAULT_PARAMS, "node ID must be 20 bytes or 40 hex digits");
		return;
	}
	if (nodeid_cmp(&want, self) != 0) {
		rpc_fault(call, RPC_FAULT_REFUSED, "this node's ID is the SHA-1 of its key; it "
		    "cannot join under another ID (use p2pns-keygen for a new identity)");
		return;
	}
	if ((p = pending_new(node, call, NULL)) == NULL)
		return;
	err = kbr_lookup_start(node->kbr, node->now(), self, join_done, p);
	started(node, p, err);
}

struct dump {
	xmlrpc_env *env;
	xmlrpc_value *list;
	uint64_t now;
	size_t left;
};

static int
dump_one(void *arg, const struct dht_record *r)
{
	struct dump *d = arg;
	char key[NODEID_HEX_LEN + 1], owner[2 * ID_PUBKEY_LEN + 1], seq[24];
	xmlrpc_value *s;

	if (r->expiry <= d->now)
		return 0;
	if (d->left == 0 || d->env->fault_occurred)
		return 1;
	d->left--;
	nodeid_to_hex(&r->key, key);
	hex_encode(owner, r->owner, ID_PUBKEY_LEN);
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r->seq);
	s = xmlrpc_build_value(d->env, "{s:s,s:i,s:i,s:s,s:6,s:i,s:b,s:s}",
	    "key", key, "kind", (xmlrpc_int32)r->kind, "id", (xmlrpc_int32)r->id,
	    "seq", seq, "value", r->value, (size_t)r->value_len,
	    "ttl", (xmlrpc_int32)((r->expiry - d->now) / 1000),
	    "removed", (xmlrpc_bool)((r->flags & DHT_REC_TOMBSTONE) != 0), "owner", owner);
	append(d->env, d->list, s);
	return 0;
}

/* dump_dht(int max) -> the records this node holds as a replica, at most max (<= 0: up to
 * RPC_DUMP_MAX): [{key, kind, id, seq, value, ttl, removed, owner}, ...] */
static void
m_dump_dht(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	xmlrpc_env env;
	struct dump d;

	(void)n;
	xmlrpc_env_init(&env);
	d.env = &env;
	d.list = xmlrpc_array_new(&env);
	d.now = node->now();
	d.left = a[0].i <= 0 || a[0].i > RPC_DUMP_MAX ? RPC_DUMP_MAX : (size_t)a[0].i;
	if (d.list != NULL && dht_replica_foreach(node->rep, dump_one, &d) < 0 &&
	    !env.fault_occurred)
		xmlrpc_faultf(&env, "cannot read the record store");
	reply_built(call, &env, d.list);
}

static xmlrpc_value *
i8(xmlrpc_env *env, uint64_t v)
{
	return xmlrpc_i8_new(env, v > INT64_MAX ? INT64_MAX : (xmlrpc_int64)v);
}

static xmlrpc_value *
status_cache(xmlrpc_env *env, const struct p2pns_stats *ps)
{
	const struct nc_table_stats *t = &ps->cache.names;
	uint64_t hits = t->hits + t->negative_hits, all = hits + t->misses;
	xmlrpc_value *s = xmlrpc_struct_new(env);

	member(env, s, "names", i8(env, ps->cached_names));
	member(env, s, "addresses", i8(env, ps->cached_addrs));
	member(env, s, "hits", i8(env, t->hits));
	member(env, s, "negative_hits", i8(env, t->negative_hits));
	member(env, s, "misses", i8(env, t->misses));
	member(env, s, "evictions", i8(env, t->evictions));
	member(env, s, "hit_ratio", xmlrpc_double_new(env, all ? (double)hits / (double)all : 0));
	member(env, s, "address_hits", i8(env, ps->cache.addrs.hits));
	member(env, s, "address_misses", i8(env, ps->cache.addrs.misses));
	return s;
}

static xmlrpc_value *
status_requests(xmlrpc_env *env, const struct rpc_node *node, const struct p2pns_stats *ps)
{
	xmlrpc_value *s = xmlrpc_struct_new(env);
	struct rpc_stats rs = {0};

	if (node->server != NULL)
		rpc_server_stats(node->server, &rs);
	member(env, s, "http_connections", i8(env, rs.connections));
	member(env, s, "http_requests", i8(env, rs.requests));
	member(env, s, "calls", i8(env, rs.calls));
	member(env, s, "faults", i8(env, rs.faults));
	member(env, s, "refused_access", i8(env, rs.refused_access));
	member(env, s, "too_big", i8(env, rs.too_big));
	member(env, s, "timed_out", i8(env, rs.timeouts));
	member(env, s, "in_flight", i8(env, rs.in_flight));
	member(env, s, "registers", i8(env, ps->registers));
	member(env, s, "unregisters", i8(env, ps->unregisters));
	member(env, s, "resolves", i8(env, ps->resolves));
	member(env, s, "resolves_found", i8(env, ps->resolves_found));
	member(env, s, "resolves_cached", i8(env, ps->resolves_cached));
	member(env, s, "stage2_lookups", i8(env, ps->stage2_lookups));
	member(env, s, "stage2_failed", i8(env, ps->stage2_failed));
	member(env, s, "puts", i8(env, ps->puts));
	member(env, s, "gets", i8(env, ps->gets));
	member(env, s, "rms", i8(env, ps->rms));
	return s;
}

static xmlrpc_value *
status_overlay(xmlrpc_env *env, const struct rpc_node *node)
{
	const struct kbr_table *t = kbr_get_table(node->kbr);
	xmlrpc_value *s = xmlrpc_struct_new(env);
	struct kbr_stats ks;
	struct dht_stats ds;

	kbr_get_stats(node->kbr, &ks);
	dht_get_stats(node->dht, &ds);
	member(env, s, "routing_table", i8(env, kbr_table_size(t)));
	member(env, s, "siblings", i8(env, kbr_table_sibling_count(t)));
	member(env, s, "buckets", i8(env, kbr_table_bucket_count(t)));
	member(env, s, "store_records", i8(env, dht_replica_count(node->rep)));
	member(env, s, "published", i8(env, dht_published_count(node->dht)));
	member(env, s, "datagrams_in", i8(env, ks.rx));
	member(env, s, "datagrams_out", i8(env, ks.tx));
	member(env, s, "dropped", i8(env, ks.dropped_malformed + ks.dropped_version +
	    ks.dropped_rate + ks.dropped_time + ks.dropped_puzzle + ks.dropped_replay +
	    ks.dropped_signature + ks.dropped_unsolicited));
	member(env, s, "lookups", i8(env, ks.lookups_done));
	member(env, s, "dht_puts", i8(env, ds.puts));
	member(env, s, "dht_puts_ok", i8(env, ds.puts_ok));
	member(env, s, "dht_gets", i8(env, ds.gets));
	member(env, s, "dht_gets_found", i8(env, ds.gets_found));
	member(env, s, "stores_served", i8(env, ds.stores_served));
	member(env, s, "finds_served", i8(env, ds.finds_served));
	return s;
}

/* status() -> {version, node_id, addresses, observed_address, uptime, overlay{...},
 * cache{...}, requests{...}} */
static void
m_status(void *arg, struct rpc_call *call, const struct rpc_arg *a, size_t n)
{
	struct rpc_node *node = arg;
	char hex[NODEID_HEX_LEN + 1], s[KBR_ADDR_STRLEN];
	struct p2pns_stats ps;
	struct kbr_addr seen;
	xmlrpc_value *st, *addrs;
	xmlrpc_env env;
	uint64_t now = node->now();

	(void)a;
	(void)n;
	p2pns_get_stats(node->ns, &ps);
	xmlrpc_env_init(&env);
	st = xmlrpc_struct_new(&env);
	nodeid_to_hex(kbr_self_id(node->kbr), hex);
	member(&env, st, "version", xmlrpc_string_new(&env, node->version));
	member(&env, st, "node_id", xmlrpc_string_new(&env, hex));
	addrs = xmlrpc_array_new(&env);
	for (size_t i = 0; i < node->naddrs && addrs != NULL; i++) {
		kbr_addr_format(&node->addrs[i], s, sizeof(s));
		append(&env, addrs, xmlrpc_string_new(&env, s));
	}
	member(&env, st, "addresses", addrs);
	kbr_observed_addr(node->kbr, &seen);
	if (seen.family == KBR_AF_NONE)
		snprintf(s, sizeof(s), "unknown");
	else
		kbr_addr_format(&seen, s, sizeof(s));
	member(&env, st, "observed_address", xmlrpc_string_new(&env, s));
	member(&env, st, "uptime", i8(&env, now > node->started ?
	    (now - node->started) / 1000 : 0));
	member(&env, st, "overlay", status_overlay(&env, node));
	member(&env, st, "cache", status_cache(&env, &ps));
	member(&env, st, "requests", status_requests(&env, node, &ps));
	reply_built(call, &env, st);
}

static const struct rpc_method methods[] = {
	{"register", "i:6ii6i",
	    "register(base64 name, int kind, int id, base64 address, int ttl): binds name to "
	    "address for ttl seconds, signed by the key that owns name on this node. kind: "
	    "1 IPv4, 28 IPv6, 33 host:port, 55 HIT. Address \"self\" or \"self:PORT\" "
	    "registers this node's ID (two-stage: resolvers get its current address). "
	    "Returns 0.", true, m_register, NULL},
	{"unregister", "i:6ii",
	    "unregister(base64 name, int kind, int id): removes a binding registered through "
	    "this node. Returns 0.", true, m_unregister, NULL},
	{"resolve", "A:6i",
	    "resolve(base64 name, int kind): the live bindings of name (kind 0: every kind) as "
	    "[[base64 address, int kind, int id], ...]. Fault 9: name not found.",
	    false, m_resolve, NULL},
	{"put", "i:66is",
	    "put(base64 key, base64 value, int ttl, string application): adds value under key "
	    "for ttl seconds. Returns 0.", true, m_put, NULL},
	{"get", "A:6i6s",
	    "get(base64 key, int maxvals, base64 placemark, string application): up to maxvals "
	    "values under key as [[base64 value, ...], base64 placemark]; pass the placemark "
	    "back for more, an empty one means no more.", false, m_get, NULL},
	{"put_removable", "i:66s6is",
	    "put_removable(base64 key, base64 value, string \"SHA\", base64 secret_hash, int "
	    "ttl, string application): put with SHA-1(secret) for a later rm. Returns 0 ok, 1 "
	    "over capacity, 2 try again.", true, m_put_removable, NULL},
	{"rm", "i:66s6is",
	    "rm(base64 key, base64 value_hash, string \"SHA\", base64 secret, int ttl, string "
	    "application): removes the value whose SHA-1 is value_hash. Returns 0 ok, 1 over "
	    "capacity, 2 try again.", true, m_rm, NULL},
	{"lookup", "A:6i",
	    "lookup(base64 key, int numSiblings): the nodes closest to SHA-1(key), found over "
	    "the overlay, as [[string ip, int port, string hexkey], ...].", false, m_lookup, NULL},
	{"local_lookup", "A:6ib",
	    "local_lookup(base64 key, int num, boolean safe): like lookup, from this node's "
	    "routing table alone (every contact there is verified).", false, m_local_lookup,
	    NULL},
	{"join", "i:6",
	    "join(base64 nodeid): looks up this node's own ID again; the ID must be this "
	    "node's. Returns 0.", true, m_join, NULL},
	{"dump_dht", "A:i",
	    "dump_dht(int max): up to max records this node stores for the overlay.",
	    true, m_dump_dht, NULL},
	{"status", "S:",
	    "status(): node ID, addresses, uptime, routing table and store sizes, name cache "
	    "hit ratio and request counters.", false, m_status, NULL},
};

size_t
rpc_node_methods(struct rpc_node *node, struct rpc_method *out, size_t max)
{
	size_t n = sizeof(methods) / sizeof(methods[0]);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		out[i] = methods[i];
		out[i].arg = node;
	}
	return n;
}
