/* Tests for p2pns/p2pns.c and p2pns/keystore.c on a small overlay in memory (real kbr, dht,
 * replicas and memory stores, signed messages, a virtual clock): register and resolve
 * across nodes, the name cache, ownership, removal, two-stage resolution that follows a
 * node to its new address, values with and without removal secrets, the key store on disk,
 * bad arguments, a lonely node answering at once, and the bound on operations. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dht/store.h"
#include "kbr/table.h"
#include "kbr/wire.h"
#include "p2pns/keystore.h"
#include "p2pns/p2pns.h"

#define T0 1767225600000ULL
#define SEC 1000ULL

enum {
	NODES = 16,
	QCAP = 1 << 15,
	MAX_RES = 8,
	WAIT_MS = 30 * 1000,
	CACHE_TTL_MS = 10 * 1000,
	NEG_TTL_MS = 5 * 1000,
	ADDR_TTL_MS = 2 * 1000,
};

struct node {
	struct identity *ident;
	struct kbr *k;
	struct dht *d;
	struct dht_replica *rep;
	struct dht_store *store;
	struct p2pns *ns;
	struct p2pns_params pp;
	struct kbr_addr addr;
	char dir[96];			/* key store */
	struct net *net;
};

struct packet {
	unsigned to;
	struct kbr_addr from;
	size_t len;
	uint8_t buf[KBR_MAX_DATAGRAM];
};

struct net {
	struct node n[NODES];
	struct packet *q;
	size_t qhead, qtail;
	uint64_t now, rng;
	char root[64];
};

/* ---- the overlay ---- */

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
net_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct node *nd = arg;
	struct net *net = nd->net;

	for (unsigned i = 0; i < NODES; i++) {
		struct packet *p;

		if (net->n[i].k == NULL || !kbr_addr_eq(&net->n[i].addr, to))
			continue;
		if (net->qtail - net->qhead == QCAP)
			return;
		p = &net->q[net->qtail++ % QCAP];
		p->to = i;
		p->from = nd->addr;
		p->len = len;
		memcpy(p->buf, buf, len);
		return;
	}
}

static void
net_random(void *arg, void *buf, size_t len)
{
	struct node *nd = arg;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)xorshift(&nd->net->rng);
}

static uint8_t
net_app(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct node *nd = arg;

	return dht_handle_request(nd->d, now, from, type, body, len, answer, answer_len);
}

/* Delivers datagrams (1 ms each) and runs timers until quiet or the time limit. */
static void
net_run(struct net *net, uint64_t until)
{
	for (unsigned rounds = 0; rounds < 2000000 && net->now < until; rounds++) {
		if (net->qhead != net->qtail) {
			struct packet p = net->q[net->qhead++ % QCAP];

			net->now++;
			kbr_input(net->n[p.to].k, net->now, p.buf, p.len, &p.from);
			continue;
		}
		uint64_t next = UINT64_MAX;
		for (unsigned i = 0; i < NODES; i++) {
			uint64_t t = kbr_tick(net->n[i].k, net->now), u;

			u = dht_tick(net->n[i].d, net->now);
			if (t < next)
				next = t;
			if (u < next)
				next = u;
		}
		if (net->qhead != net->qtail)
			continue;
		net->now = next <= net->now ? net->now + 1 : (next < until ? next : until);
	}
}

static void
set_addr(struct kbr_addr *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = x;
	a->ip[1] = y;
	a->ip[2] = z;
	a->ip[3] = w;
	a->port = port;
}

static void
test_params(struct p2pns_params *pp, const char *dir)
{
	p2pns_params_default(pp);
	pp->cache_ttl_ms = CACHE_TTL_MS;
	pp->negative_ttl_ms = NEG_TTL_MS;
	pp->addr_ttl_ms = ADDR_TTL_MS;
	pp->keystore_dir = dir;
}

static struct net *
net_build(bool keystores)
{
	struct net *net = calloc(1, sizeof(*net));
	struct kbr_params p;
	struct dht_params dp = {.r = DHT_DEFAULT_R};
	struct dht_replica_limits lim;

	assert_non_null(net);
	net->q = calloc(QCAP, sizeof(*net->q));
	assert_non_null(net->q);
	strcpy(net->root, "/tmp/p2pns-test-XXXXXX");
	assert_non_null(mkdtemp(net->root));
	net->now = T0;
	net->rng = 77;
	kbr_params_default(&p);
	p.c1 = 0;
	p.c2 = 4;
	dht_replica_limits_default(&lim);
	for (unsigned i = 0; i < NODES; i++) {
		struct node *nd = &net->n[i];
		struct kbr_io io = {.arg = nd, .send = net_send, .random = net_random,
		    .app_request = net_app};
		uint8_t seed[ID_SEED_LEN];

		memset(seed, (int)(i + 41), sizeof(seed));
		nd->net = net;
		assert_int_equal(identity_from_seed(&nd->ident, seed, 4), 0);
		set_addr(&nd->addr, 127, 0, 0, (uint8_t)(i + 1), 3631);
		nd->k = kbr_new(&p, nd->ident, &io);
		nd->store = dht_store_mem_new(1000);
		nd->rep = dht_replica_new(nd->store, &lim);
		nd->d = dht_new(nd->k, nd->rep, &dp);
		assert_non_null(nd->k);
		assert_non_null(nd->d);
		snprintf(nd->dir, sizeof(nd->dir), "%s/keys%u", net->root, i);
		test_params(&nd->pp, keystores ? nd->dir : NULL);
		nd->pp.self_addr = nd->addr;
		nd->ns = p2pns_new(nd->k, nd->d, nd->ident, &nd->pp);
		assert_non_null(nd->ns);
	}
	for (unsigned i = 1; i < NODES; i++) {
		assert_int_equal(kbr_bootstrap(net->n[i].k, net->now, &net->n[i / 2].addr), 0);
		net_run(net, net->now + 100);
	}
	net_run(net, net->now + 130 * SEC);
	return net;
}

/* Removes dir and the files and directories in it (two levels are all the tests make). */
static void
rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[256];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The order the daemon frees in: the DHT and KBR first (their callbacks are dropped
 * unsent), then the name service with whatever it still had in flight. */
static void
net_free(struct net *net)
{
	for (unsigned i = 0; i < NODES; i++) {
		struct node *nd = &net->n[i];

		dht_free(nd->d);
		kbr_free(nd->k);
		p2pns_free(nd->ns);
		dht_replica_free(nd->rep);
		nd->store->ops->close(nd->store);
		identity_free(nd->ident);
	}
	rm_tree(net->root);
	free(net->q);
	free(net);
}

static int
setup_keys(void **state)
{
	*state = net_build(true);
	return 0;
}

static int
setup_node_keys(void **state)
{
	*state = net_build(false);
	return 0;
}

static int
teardown(void **state)
{
	net_free(*state);
	return 0;
}

/* ---- calls that wait for their answer ---- */

struct wres {
	bool done;
	enum p2pns_status st;
	enum dht_reason why;
};

static void
on_write(void *arg, enum p2pns_status st, enum dht_reason why)
{
	struct wres *w = arg;

	assert_false(w->done);
	w->done = true;
	w->st = st;
	w->why = why;
}

struct rres {
	bool done;
	enum p2pns_status st;
	size_t n;
	struct p2pns_result res[MAX_RES];
};

static void
on_resolve(void *arg, enum p2pns_status st, const struct p2pns_result *res, size_t n)
{
	struct rres *r = arg;

	assert_false(r->done);
	r->done = true;
	r->st = st;
	r->n = n;
	assert_true(st == P2PNS_OK ? n >= 1 && res != NULL : n == 0);
	assert_true(n <= MAX_RES);
	if (n > 0)
		memcpy(r->res, res, n * sizeof(*res));
}

struct gres {
	bool done;
	enum p2pns_status st;
	size_t n;
	struct dht_record vals[MAX_RES];
};

static void
on_get(void *arg, enum p2pns_status st, const struct dht_record *vals, size_t n)
{
	struct gres *g = arg;

	assert_false(g->done);
	g->done = true;
	g->st = st;
	g->n = n;
	assert_true(n <= MAX_RES);
	if (n > 0)
		memcpy(g->vals, vals, n * sizeof(*vals));
}

static void
wait_for(struct net *net, const bool *done)
{
	uint64_t end = net->now + WAIT_MS;

	while (!*done && net->now < end)
		net_run(net, net->now + 100);
	assert_true(*done);
}

static struct wres
reg_ttl(struct net *net, unsigned via, const char *name, uint32_t kind, uint32_t id,
    const char *addr, uint32_t ttl_s)
{
	struct wres w = {0};

	assert_int_equal(p2pns_register(net->n[via].ns, net->now, (const uint8_t *)name,
	    strlen(name), kind, id, (const uint8_t *)addr, strlen(addr), ttl_s, on_write, &w), 0);
	wait_for(net, &w.done);
	return w;
}

static struct wres
reg(struct net *net, unsigned via, const char *name, uint32_t kind, uint32_t id,
    const char *addr)
{
	return reg_ttl(net, via, name, kind, id, addr, 3600);
}

static struct wres
unreg(struct net *net, unsigned via, const char *name, uint32_t kind, uint32_t id)
{
	struct wres w = {0};

	assert_int_equal(p2pns_unregister(net->n[via].ns, net->now, (const uint8_t *)name,
	    strlen(name), kind, id, on_write, &w), 0);
	wait_for(net, &w.done);
	return w;
}

static void
resolve(struct net *net, unsigned via, const char *name, uint32_t kind, struct rres *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(p2pns_resolve(net->n[via].ns, net->now, (const uint8_t *)name,
	    strlen(name), kind, on_resolve, r), 0);
	wait_for(net, &r->done);
}

/* A resolve that must be answered before the call returns, without the DHT. */
static void
resolve_here(struct net *net, unsigned via, const char *name, uint32_t kind, struct rres *r)
{
	struct dht_stats before, after;

	dht_get_stats(net->n[via].d, &before);
	memset(r, 0, sizeof(*r));
	assert_int_equal(p2pns_resolve(net->n[via].ns, net->now, (const uint8_t *)name,
	    strlen(name), kind, on_resolve, r), 0);
	assert_true(r->done);
	dht_get_stats(net->n[via].d, &after);
	assert_int_equal(after.gets, before.gets);
}

static struct wres
put(struct net *net, unsigned via, const char *key, const char *value, const char *secret)
{
	struct wres w = {0};
	struct nodeid h;

	if (secret != NULL)
		assert_int_equal(nodeid_sha1(&h, secret, strlen(secret)), 0);
	assert_int_equal(p2pns_put(net->n[via].ns, net->now, (const uint8_t *)key, strlen(key),
	    (const uint8_t *)value, strlen(value), 600, secret != NULL ? h.b : NULL, on_write,
	    &w), 0);
	wait_for(net, &w.done);
	return w;
}

static struct wres
rm(struct net *net, unsigned via, const char *key, const char *value, const char *secret)
{
	struct wres w = {0};
	struct nodeid h;

	assert_int_equal(nodeid_sha1(&h, value, strlen(value)), 0);
	assert_int_equal(p2pns_rm(net->n[via].ns, net->now, (const uint8_t *)key, strlen(key),
	    h.b, (const uint8_t *)secret, strlen(secret), on_write, &w), 0);
	wait_for(net, &w.done);
	return w;
}

static void
get(struct net *net, unsigned via, const char *key, struct gres *g)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(p2pns_get(net->n[via].ns, net->now, (const uint8_t *)key, strlen(key),
	    on_get, g), 0);
	wait_for(net, &g->done);
}

static void
assert_addr(const struct p2pns_result *r, uint32_t kind, uint32_t id, const char *addr)
{
	assert_int_equal(r->kind, kind);
	assert_int_equal(r->id, id);
	assert_int_equal(r->len, strlen(addr));
	assert_memory_equal(r->addr, addr, r->len);
}

static struct p2pns_stats
stats(struct net *net, unsigned i)
{
	struct p2pns_stats st;

	p2pns_get_stats(net->n[i].ns, &st);
	return st;
}

/* ---- tests ---- */

static void
resolve_across_nodes_by_kind(void **state)
{
	struct net *net = *state;
	const char *name = "sip:alice@example.org";
	struct rres r;

	/* registered in another order than they come back */
	assert_int_equal(reg(net, 3, name, 33, 1, "10.0.0.2:5060").st, P2PNS_OK);
	assert_int_equal(reg(net, 3, name, 1, 0, "10.0.0.1").st, P2PNS_OK);
	assert_int_equal(reg(net, 3, name, 33, 0, "10.0.0.1:5060").st, P2PNS_OK);
	assert_int_equal(stats(net, 3).registers, 3);

	resolve(net, 11, name, 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 2);
	assert_addr(&r.res[0], 33, 0, "10.0.0.1:5060");
	assert_addr(&r.res[1], 33, 1, "10.0.0.2:5060");
	assert_false(r.res[0].two_stage);
	assert_true(r.res[0].expiry > net->now);
	assert_int_equal(stats(net, 11).resolves_cached, 0);

	/* the other kinds come from the same cache entry */
	resolve_here(net, 11, name, 1, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 1, 0, "10.0.0.1");
	resolve_here(net, 11, name, 0, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 3);
	assert_addr(&r.res[0], 1, 0, "10.0.0.1");
	assert_addr(&r.res[1], 33, 0, "10.0.0.1:5060");
	assert_addr(&r.res[2], 33, 1, "10.0.0.2:5060");
	resolve_here(net, 11, name, 28, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	struct p2pns_stats st = stats(net, 11);
	assert_int_equal(st.resolves, 4);
	assert_int_equal(st.resolves_cached, 3);
	assert_int_equal(st.resolves_found, 3);
	assert_int_equal(st.cache.names.hits, 3);
	assert_int_equal(st.cached_names, 1);

	/* every node finds all three */
	for (unsigned via = 0; via < NODES; via++) {
		resolve(net, via, name, 0, &r);
		assert_int_equal(r.st, P2PNS_OK);
		assert_int_equal(r.n, 3);
		assert_addr(&r.res[2], 33, 1, "10.0.0.2:5060");
	}
}

static void
unknown_names_are_cached_negative(void **state)
{
	struct net *net = *state;
	struct dht_stats d0, d1;
	struct rres r;

	dht_get_stats(net->n[5].d, &d0);
	resolve(net, 5, "sip:nobody@example.org", 0, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	dht_get_stats(net->n[5].d, &d1);
	assert_int_equal(d1.gets, d0.gets + 1);
	assert_int_equal(stats(net, 5).cached_names, 1);

	/* the second answer is the negative entry's, without the network */
	resolve_here(net, 5, "sip:nobody@example.org", 33, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	struct p2pns_stats st = stats(net, 5);
	assert_int_equal(st.resolves, 2);
	assert_int_equal(st.resolves_cached, 1);
	assert_int_equal(st.resolves_found, 0);
	assert_int_equal(st.cache.names.negative_hits, 1);

	/* the name appears; the negative entry hides it only for its short life */
	assert_int_equal(reg(net, 8, "sip:nobody@example.org", 33, 0, "10.1.1.1:5060").st,
	    P2PNS_OK);
	resolve_here(net, 5, "sip:nobody@example.org", 33, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	net_run(net, net->now + NEG_TTL_MS);
	resolve(net, 5, "sip:nobody@example.org", 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_addr(&r.res[0], 33, 0, "10.1.1.1:5060");
}

static void
updates_win_and_invalidate_the_cache(void **state)
{
	struct net *net = *state;
	const char *name = "sip:bob@example.org";
	struct rres r;

	assert_int_equal(reg(net, 2, name, 33, 0, "10.0.0.1:5060").st, P2PNS_OK);
	resolve(net, 2, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.1:5060");
	resolve(net, 9, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.1:5060");
	assert_int_equal(stats(net, 2).cached_names, 1);

	/* the update drops the registering node's entry: it sees the new address at once */
	assert_int_equal(reg(net, 2, name, 33, 0, "10.0.0.9:5060").st, P2PNS_OK);
	uint64_t cached = stats(net, 2).resolves_cached;
	resolve(net, 2, name, 33, &r);
	assert_int_equal(stats(net, 2).resolves_cached, cached);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 33, 0, "10.0.0.9:5060");
	/* a node that never asked sees it too; another node's cache until its entry ends */
	resolve(net, 13, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.9:5060");
	resolve_here(net, 9, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.1:5060");
	net_run(net, net->now + CACHE_TTL_MS);
	resolve(net, 9, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.9:5060");
	/* several updates in a row: the last one wins (higher seq) */
	assert_int_equal(reg(net, 2, name, 33, 0, "a").st, P2PNS_OK);
	assert_int_equal(reg(net, 2, name, 33, 0, "b").st, P2PNS_OK);
	assert_int_equal(reg(net, 2, name, 33, 0, "c").st, P2PNS_OK);
	resolve(net, 14, name, 33, &r);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 33, 0, "c");
}

static void
names_belong_to_their_first_key(void **state)
{
	struct net *net = *state;
	const char *name = "sip:carol@example.org";
	struct rres r;
	struct wres w;

	assert_int_equal(reg(net, 4, name, 33, 0, "10.0.0.4:5060").st, P2PNS_OK);
	size_t published = dht_published_count(net->n[10].d);
	w = reg(net, 10, name, 33, 0, "6.6.6.6:5060");
	assert_int_equal(w.st, P2PNS_REFUSED);
	assert_int_equal(w.why, DHT_ERR_FOREIGN_OWNER);
	/* a refused registration is not kept alive by the refused node */
	assert_int_equal(dht_published_count(net->n[10].d), published);
	/* a node that holds no key for the name cannot remove it ... */
	w = unreg(net, 12, name, 33, 0);
	assert_int_equal(w.st, P2PNS_NOT_OWNER);
	/* ... nor can the key made for the refused registration */
	w = unreg(net, 10, name, 33, 0);
	assert_int_equal(w.st, P2PNS_REFUSED);
	assert_int_equal(w.why, DHT_ERR_FOREIGN_OWNER);
	resolve(net, 7, name, 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 33, 0, "10.0.0.4:5060");
}

/* Without a key store the node's key signs: names still belong to one node, and a node
 * always holds a key, so the refusal comes from the replicas. */
static void
node_keys_own_names(void **state)
{
	struct net *net = *state;
	const char *name = "sip:dave@example.org";
	struct rres r;
	struct wres w;

	assert_int_equal(reg(net, 6, name, 33, 0, "10.0.0.6:5060").st, P2PNS_OK);
	w = reg(net, 1, name, 33, 0, "6.6.6.6:5060");
	assert_int_equal(w.st, P2PNS_REFUSED);
	assert_int_equal(w.why, DHT_ERR_FOREIGN_OWNER);
	w = unreg(net, 1, name, 33, 0);
	assert_int_equal(w.st, P2PNS_REFUSED);
	assert_int_equal(stats(net, 1).keys, 0);
	assert_int_equal(unreg(net, 6, name, 33, 0).st, P2PNS_OK);
	resolve(net, 0, name, 0, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	/* values too */
	assert_int_equal(put(net, 6, "k", "v", "s").st, P2PNS_OK);
	assert_int_equal(rm(net, 1, "k", "v", "s").st, P2PNS_NOT_OWNER);
	assert_int_equal(rm(net, 6, "k", "v", "s").st, P2PNS_OK);
}

static void
unregister_removes_names(void **state)
{
	struct net *net = *state;
	const char *name = "sip:erin@example.org";
	struct rres r;

	assert_int_equal(reg(net, 5, name, 33, 0, "10.0.0.5:5060").st, P2PNS_OK);
	assert_int_equal(reg(net, 5, name, 1, 0, "10.0.0.5").st, P2PNS_OK);
	resolve(net, 11, name, 0, &r);
	assert_int_equal(r.n, 2);

	assert_int_equal(unreg(net, 5, name, 33, 0).st, P2PNS_OK);
	assert_int_equal(stats(net, 5).unregisters, 1);
	/* gone at once for the removing node and for nodes that had not cached it */
	resolve(net, 5, name, 33, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	resolve(net, 2, name, 0, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 1, 0, "10.0.0.5");
	/* and everywhere once the cache entries ended */
	net_run(net, net->now + CACHE_TTL_MS);
	resolve(net, 11, name, 33, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);

	assert_int_equal(unreg(net, 5, name, 1, 0).st, P2PNS_OK);
	net_run(net, net->now + CACHE_TTL_MS);
	for (unsigned via = 0; via < NODES; via++) {
		resolve(net, via, name, 0, &r);
		assert_int_equal(r.st, P2PNS_NOT_FOUND);
	}
	/* the removal is re-published in place of the record, not next to it */
	assert_int_equal(dht_published_count(net->n[5].d), 2);
	/* registered again later: the owner's key still holds it */
	assert_int_equal(reg(net, 5, name, 33, 0, "10.0.0.55:5060").st, P2PNS_OK);
	resolve(net, 5, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.55:5060");
	/* the others, once their negative entries ended */
	net_run(net, net->now + NEG_TTL_MS);
	resolve(net, 3, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.55:5060");
}

static void
ping_contact(void *arg, const struct kbr_contact *c)
{
	struct node *nd = arg;

	assert_int_equal(kbr_ping(nd->k, nd->net->now, &c->addr), 0);
}

/* The mobile node registers its node ID ("self"); when its address changes, resolvers
 * find the new one through a KBR lookup without any re-registration. */
static void
two_stage_follows_moved_node(void **state)
{
	struct net *net = *state;
	const char *name = "sip:mobile@example.org";
	const unsigned a = 6, b = 12, c = 1;
	struct rres r;

	assert_int_equal(reg(net, a, name, 33, 0, "self:5060").st, P2PNS_OK);
	assert_int_equal(reg(net, a, name, 1, 0, "self").st, P2PNS_OK);
	resolve(net, b, name, 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 33, 0, "127.0.0.7:5060");
	assert_true(r.res[0].two_stage);
	assert_int_equal(stats(net, b).stage2_lookups, 1);
	assert_int_equal(stats(net, b).cached_addrs, 1);
	/* both kinds from the caches: name -> node ID -> address */
	resolve_here(net, b, name, 0, &r);
	assert_int_equal(r.n, 2);
	assert_addr(&r.res[0], 1, 0, "127.0.0.7");
	assert_addr(&r.res[1], 33, 0, "127.0.0.7:5060");
	assert_true(r.res[0].two_stage && r.res[1].two_stage);
	assert_int_equal(stats(net, b).stage2_lookups, 1);
	/* the node itself answers with the address its peers see it at */
	resolve(net, a, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "127.0.0.7:5060");
	assert_int_equal(stats(net, a).stage2_lookups, 0);
	/* the stored value names the node, not an address */
	struct gres g;
	get(net, c, name, &g);
	assert_int_equal(g.st, P2PNS_NOT_FOUND);

	/* the node moves: same identity and ID, new address; it tells its contacts by
	 * talking to them from there */
	struct kbr_contact contacts[64];
	set_addr(&net->n[a].addr, 10, 0, 0, 99, 4000);
	size_t n = kbr_table_closest(kbr_get_table(net->n[a].k), kbr_self_id(net->n[a].k),
	    contacts, 64);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		ping_contact(&net->n[a], &contacts[i]);
	net_run(net, net->now + 2 * ADDR_TTL_MS);

	resolve(net, b, name, 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 33, 0, "10.0.0.99:5060");
	assert_true(r.res[0].two_stage);
	assert_int_equal(stats(net, b).stage2_lookups, 2);
	resolve(net, c, name, 0, &r);
	assert_int_equal(r.n, 2);
	assert_addr(&r.res[0], 1, 0, "10.0.0.99");
	assert_addr(&r.res[1], 33, 0, "10.0.0.99:5060");
	resolve(net, a, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.99:5060");
	assert_int_equal(stats(net, a).registers, 2);
}

static void
two_stage_unknown_node_fails(void **state)
{
	struct net *net = *state;
	const char *name = "sip:ghost@example.org";
	char value[80], hex[NODEID_HEX_LEN + 1];
	struct nodeid ghost;
	struct rres r;

	assert_int_equal(nodeid_sha1(&ghost, "no such node", 12), 0);
	nodeid_to_hex(&ghost, hex);
	snprintf(value, sizeof(value), "node:%s:5060", hex);
	assert_int_equal(reg(net, 9, name, 33, 0, value).st, P2PNS_OK);
	resolve(net, 2, name, 33, &r);
	assert_int_equal(r.st, P2PNS_FAILED);
	assert_int_equal(stats(net, 2).stage2_lookups, 1);
	assert_int_equal(stats(net, 2).stage2_failed, 1);
	/* the records of the missing node are left out, the others stay */
	assert_int_equal(reg(net, 9, name, 1, 0, "192.0.2.1").st, P2PNS_OK);
	net_run(net, net->now + CACHE_TTL_MS);
	resolve(net, 2, name, 0, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 1, 0, "192.0.2.1");
	assert_int_equal(stats(net, 2).stage2_failed, 2);
	/* something that only looks like a two-stage value is an opaque address */
	snprintf(value, sizeof(value), "node:%s:0", hex);
	assert_int_equal(reg(net, 9, name, 33, 0, value).st, P2PNS_OK);
	net_run(net, net->now + CACHE_TTL_MS);
	resolve(net, 2, name, 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_addr(&r.res[0], 33, 0, value);
	assert_false(r.res[0].two_stage);
}

static bool
has_value(const struct gres *g, const char *v)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->vals[i].value_len == strlen(v) && memcmp(g->vals[i].value, v,
		    strlen(v)) == 0)
			return true;
	return false;
}

static void
put_and_get_values(void **state)
{
	struct net *net = *state;
	struct gres g;
	struct rres r;

	assert_int_equal(put(net, 3, "hip:key", "value one", NULL).st, P2PNS_OK);
	assert_int_equal(put(net, 3, "hip:key", "value two", NULL).st, P2PNS_OK);
	assert_int_equal(put(net, 3, "hip:key", "value three", NULL).st, P2PNS_OK);
	assert_int_equal(put(net, 3, "hip:key", "value two", NULL).st, P2PNS_OK);
	assert_int_equal(stats(net, 3).puts, 4);
	get(net, 14, "hip:key", &g);
	assert_int_equal(g.st, P2PNS_OK);
	assert_int_equal(g.n, 3);
	assert_true(has_value(&g, "value one"));
	assert_true(has_value(&g, "value two"));
	assert_true(has_value(&g, "value three"));
	for (size_t i = 0; i < g.n; i++) {
		struct nodeid h;

		assert_int_equal(g.vals[i].kind, P2PNS_KIND_VALUE);
		assert_int_equal(nodeid_sha1(&h, g.vals[i].value, g.vals[i].value_len), 0);
		assert_int_equal(g.vals[i].id, (uint32_t)h.b[0] << 24 | (uint32_t)h.b[1] << 16 |
		    (uint32_t)h.b[2] << 8 | h.b[3]);
		if (i > 0)
			assert_true(g.vals[i - 1].id < g.vals[i].id);
	}
	assert_int_equal(stats(net, 14).gets, 1);
	/* values are no names, and the second get comes from the cache */
	struct dht_stats d0, d1;
	dht_get_stats(net->n[14].d, &d0);
	resolve_here(net, 14, "hip:key", 0, &r);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);
	memset(&g, 0, sizeof(g));
	assert_int_equal(p2pns_get(net->n[14].ns, net->now, (const uint8_t *)"hip:key", 7, on_get,
	    &g), 0);
	assert_true(g.done);
	assert_int_equal(g.n, 3);
	dht_get_stats(net->n[14].d, &d1);
	assert_int_equal(d1.gets, d0.gets);
	get(net, 0, "hip:nothing", &g);
	assert_int_equal(g.st, P2PNS_NOT_FOUND);
	/* a name and values can share a key (and its owner) */
	assert_int_equal(reg(net, 3, "hip:key", 55, 0, "2001:db8::1").st, P2PNS_OK);
	resolve(net, 8, "hip:key", 0, &r);
	assert_int_equal(r.n, 1);
	assert_addr(&r.res[0], 55, 0, "2001:db8::1");
	get(net, 8, "hip:key", &g);
	assert_int_equal(g.n, 3);
}

static void
removable_values_need_secret_and_key(void **state)
{
	struct net *net = *state;
	const char *key = "hip:removable";
	struct gres g;

	assert_int_equal(put(net, 4, key, "removable", "s3cret").st, P2PNS_OK);
	assert_int_equal(put(net, 4, key, "plain", NULL).st, P2PNS_OK);
	get(net, 4, key, &g);
	assert_int_equal(g.n, 2);

	assert_int_equal(rm(net, 4, key, "removable", "wrong").st, P2PNS_BAD_SECRET);
	assert_int_equal(rm(net, 4, key, "plain", "s3cret").st, P2PNS_BAD_SECRET);
	/* the right secret, but this node holds no key for it */
	assert_int_equal(rm(net, 9, key, "removable", "s3cret").st, P2PNS_NOT_OWNER);
	get(net, 9, key, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(rm(net, 4, key, "removable", "s3cret").st, P2PNS_OK);
	assert_int_equal(stats(net, 4).rms, 3);
	/* gone for the removing node at once and for others after their cache entry */
	get(net, 4, key, &g);
	assert_int_equal(g.n, 1);
	assert_true(has_value(&g, "plain"));
	net_run(net, net->now + CACHE_TTL_MS);
	get(net, 9, key, &g);
	assert_int_equal(g.n, 1);
	assert_true(has_value(&g, "plain"));
	/* removed already, or never there: fine */
	assert_int_equal(rm(net, 4, key, "removable", "s3cret").st, P2PNS_OK);
	assert_int_equal(rm(net, 4, "hip:unknown", "x", "y").st, P2PNS_OK);
	/* put again after the removal: a newer seq than the tombstone's */
	assert_int_equal(put(net, 4, key, "removable", "s3cret").st, P2PNS_OK);
	get(net, 15, key, &g);
	assert_int_equal(g.n, 2);
}

static void
keys_persist_on_disk(void **state)
{
	struct net *net = *state;
	const char *name = "sip:keep@example.org";
	struct node *nd = &net->n[7];
	char hex[NODEID_HEX_LEN + 1], path[256];
	struct nodeid key;
	struct stat st;
	struct rres r;

	assert_int_equal(reg(net, 7, name, 33, 0, "10.0.0.7:5060").st, P2PNS_OK);
	assert_int_equal(put(net, 7, "hip:kept", "v", "s").st, P2PNS_OK);
	assert_int_equal(stats(net, 7).keys, 2);
	assert_int_equal(stat(nd->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(nodeid_sha1(&key, name, strlen(name)), 0);
	nodeid_to_hex(&key, hex);
	snprintf(path, sizeof(path), "%s/%s.pem", nd->dir, hex);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* the daemon restarts: the same key store still owns the name and the value */
	p2pns_free(nd->ns);
	nd->ns = p2pns_new(nd->k, nd->d, nd->ident, &nd->pp);
	assert_non_null(nd->ns);
	assert_int_equal(stats(net, 7).keys, 0);
	assert_int_equal(reg(net, 7, name, 33, 0, "10.0.0.77:5060").st, P2PNS_OK);
	assert_int_equal(stats(net, 7).keys, 1);
	resolve(net, 1, name, 33, &r);
	assert_addr(&r.res[0], 33, 0, "10.0.0.77:5060");
	assert_int_equal(rm(net, 7, "hip:kept", "v", "s").st, P2PNS_OK);
	assert_int_equal(unreg(net, 7, name, 33, 0).st, P2PNS_OK);

	/* key stores that are unsafe or no directory are refused */
	struct p2pns_params pp = nd->pp;
	char bad[128];
	snprintf(bad, sizeof(bad), "%s/open", net->root);
	assert_int_equal(mkdir(bad, 0700), 0);
	assert_int_equal(chmod(bad, 0777), 0);
	pp.keystore_dir = bad;
	assert_null(p2pns_new(nd->k, nd->d, nd->ident, &pp));
	pp.keystore_dir = path;		/* a file */
	assert_null(p2pns_new(nd->k, nd->d, nd->ident, &pp));
	/* the key store alone: a name without a key, then one made on first use */
	struct keystore *ks = ks_new(nd->dir, 2);
	const struct identity *id1, *id2;
	assert_non_null(ks);
	assert_int_equal(ks_get(ks, (const uint8_t *)"fresh", 5, &id1), -ENOENT);
	assert_int_equal(ks_get_or_create(ks, (const uint8_t *)"fresh", 5, &id1), 0);
	uint8_t pub[ID_PUBKEY_LEN];
	memcpy(pub, id1->pub, sizeof(pub));
	/* pushed out of the two-entry table, then read back from its file */
	assert_int_equal(ks_get(ks, (const uint8_t *)name, strlen(name), &id2), 0);
	assert_int_equal(ks_get(ks, (const uint8_t *)"hip:kept", 8, &id2), 0);
	assert_int_equal(ks_loaded(ks), 2);
	assert_int_equal(ks_get(ks, (const uint8_t *)"fresh", 5, &id1), 0);
	assert_memory_equal(id1->pub, pub, sizeof(pub));
	ks_free(ks);
}

static void
bad_arguments_are_refused(void **state)
{
	struct net *net = *state;
	struct p2pns *ns = net->n[0].ns;
	uint64_t now = net->now;
	const uint8_t *nm = (const uint8_t *)"sip:x@example.org";
	const uint8_t *ad = (const uint8_t *)"10.0.0.1:5060";
	static uint8_t big[P2PNS_MAX_NAME + 1];
	uint8_t hash[NODEID_LEN] = {0};
	struct wres w = {0};
	struct rres r = {0};
	struct gres g = {0};

	memset(big, 'a', sizeof(big));
	assert_int_equal(p2pns_register(ns, now, nm, 17, 0, 0, ad, 13, 60, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, 65536, 0, ad, 13, 60, on_write, &w),
	    -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, P2PNS_KIND_VALUE, 0, ad, 13, 60,
	    on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, 1, 0, ad, 13, 0, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, 1, 0, ad, 13, 7 * 24 * 3600 + 1,
	    on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, 1, 0, big, DHT_MAX_VALUE + 1, 60,
	    on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 0, 1, 0, ad, 13, 60, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, big, sizeof(big), 1, 0, ad, 13, 60, on_write,
	    &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, NULL, 3, 1, 0, ad, 13, 60, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_register(ns, now, nm, 17, 1, 0, ad, 13, 60, NULL, &w), -EINVAL);
	static const char *const selfs[] = {"self:0", "self:70000", "self:65536", "self:",
	    "self:abc", "self:-1", "self:080", "self:123456"};
	for (size_t i = 0; i < sizeof(selfs) / sizeof(selfs[0]); i++)
		assert_int_equal(p2pns_register(ns, now, nm, 17, 33, 0, (const uint8_t *)selfs[i],
		    strlen(selfs[i]), 60, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_unregister(ns, now, nm, 17, 0, 0, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_unregister(ns, now, nm, 0, 1, 0, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_resolve(ns, now, nm, 17, 65536, on_resolve, &r), -EINVAL);
	assert_int_equal(p2pns_resolve(ns, now, nm, 0, 1, on_resolve, &r), -EINVAL);
	assert_int_equal(p2pns_resolve(ns, now, big, sizeof(big), 1, on_resolve, &r), -EINVAL);
	assert_int_equal(p2pns_put(ns, now, nm, 17, big, DHT_MAX_VALUE + 1, 60, NULL, on_write,
	    &w), -EINVAL);
	assert_int_equal(p2pns_put(ns, now, nm, 17, ad, 13, 0, NULL, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_put(ns, now, nm, 0, ad, 13, 60, NULL, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_rm(ns, now, nm, 17, NULL, ad, 1, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_rm(ns, now, nm, 0, hash, ad, 1, on_write, &w), -EINVAL);
	assert_int_equal(p2pns_get(ns, now, nm, 0, on_get, &g), -EINVAL);
	assert_int_equal(p2pns_get(ns, now, big, sizeof(big), on_get, &g), -EINVAL);
	assert_false(w.done || r.done || g.done);
	assert_int_equal(stats(net, 0).keys, 0);
	/* the limits themselves are fine: one week, 1024 bytes, port 65535 */
	assert_int_equal(reg_ttl(net, 0, "sip:x@example.org", 33, 0, "self:65535",
	    7 * 24 * 3600).st, P2PNS_OK);
	w = (struct wres){0};
	assert_int_equal(p2pns_register(ns, net->now, big, P2PNS_MAX_NAME, 1, 0, big,
	    DHT_MAX_VALUE, 60, on_write, &w), 0);
	wait_for(net, &w.done);
	assert_int_equal(w.st, P2PNS_OK);
	resolve(net, 3, "sip:x@example.org", 33, &r);
	assert_int_equal(r.st, P2PNS_OK);
	assert_addr(&r.res[0], 33, 0, "127.0.0.1:65535");
	assert_int_equal(strcmp(p2pns_status_name(P2PNS_NOT_OWNER), "not owner"), 0);
}

/* A node alone: every answer comes before the call returns, through the same code. */
static void
lonely_node_answers_at_once(void **state)
{
	struct net *net = *state;
	struct node *nd = &net->n[0];
	struct kbr_params kp;
	struct dht_params dp = {.r = DHT_DEFAULT_R};
	struct dht_replica_limits lim;
	struct kbr_io io = {.arg = nd, .send = net_send, .random = net_random,
	    .app_request = net_app};
	struct identity *ident;
	uint8_t seed[ID_SEED_LEN];
	struct p2pns_params pp;
	char dir2[128];
	struct wres w = {0};
	struct rres r = {0};
	uint64_t now = T0;

	/* its own kbr and dht: it bootstrapped from nobody */
	memset(seed, 0x5a, sizeof(seed));
	assert_int_equal(identity_from_seed(&ident, seed, 4), 0);
	kbr_params_default(&kp);
	kp.c1 = 0;
	kp.c2 = 4;
	dht_replica_limits_default(&lim);
	struct kbr *k = kbr_new(&kp, ident, &io);
	struct dht_store *store = dht_store_mem_new(100);
	struct dht_replica *rep = dht_replica_new(store, &lim);
	struct dht *d = dht_new(k, rep, &dp);
	assert_non_null(d);
	test_params(&pp, nd->dir);
	set_addr(&pp.self_addr, 192, 0, 2, 7, 3631);
	struct p2pns *ns = p2pns_new(k, d, ident, &pp);
	assert_non_null(ns);

	assert_int_equal(p2pns_register(ns, now, (const uint8_t *)"me", 2, 33, 0,
	    (const uint8_t *)"self:5060", 9, 60, on_write, &w), 0);
	assert_true(w.done);
	assert_int_equal(w.st, P2PNS_OK);
	assert_int_equal(p2pns_resolve(ns, now, (const uint8_t *)"me", 2, 0, on_resolve, &r), 0);
	assert_true(r.done);
	assert_int_equal(r.st, P2PNS_OK);
	assert_addr(&r.res[0], 33, 0, "192.0.2.7:5060");
	/* an IPv6 node address; a node nobody knows (its lookup ends at once) */
	struct p2pns_params pp6;
	test_params(&pp6, NULL);
	pp6.self_addr.family = KBR_AF_INET6;
	pp6.self_addr.ip[0] = 0x20;
	pp6.self_addr.ip[1] = 0x01;
	pp6.self_addr.ip[2] = 0x0d;
	pp6.self_addr.ip[3] = 0xb8;
	pp6.self_addr.ip[15] = 7;
	struct p2pns *ns6 = p2pns_new(k, d, ident, &pp6);
	assert_non_null(ns6);
	r = (struct rres){0};
	assert_int_equal(p2pns_resolve(ns6, now, (const uint8_t *)"me", 2, 33, on_resolve, &r), 0);
	assert_true(r.done);
	assert_int_equal(r.st, P2PNS_OK);
	assert_addr(&r.res[0], 33, 0, "[2001:db8::7]:5060");
	p2pns_free(ns6);
	w = (struct wres){0};
	assert_int_equal(p2pns_register(ns, now, (const uint8_t *)"ghost", 5, 33, 0,
	    (const uint8_t *)"node:0123456789abcdef0123456789abcdef01234567:1", 47, 60, on_write,
	    &w), 0);
	assert_int_equal(w.st, P2PNS_OK);
	r = (struct rres){0};
	assert_int_equal(p2pns_resolve(ns, now, (const uint8_t *)"ghost", 5, 0, on_resolve, &r),
	    0);
	assert_true(r.done);
	assert_int_equal(r.st, P2PNS_FAILED);
	struct p2pns_stats st;
	p2pns_get_stats(ns, &st);
	assert_int_equal(st.stage2_lookups, 1);
	assert_int_equal(st.stage2_failed, 1);

	/* another key store on the same node cannot take the name; its refused record is
	 * not re-published */
	snprintf(dir2, sizeof(dir2), "%s/other", net->root);
	test_params(&pp, dir2);
	memset(&pp.self_addr, 0, sizeof(pp.self_addr));
	struct p2pns *ns2 = p2pns_new(k, d, ident, &pp);
	assert_non_null(ns2);
	w = (struct wres){0};
	assert_int_equal(p2pns_register(ns2, now, (const uint8_t *)"me", 2, 33, 0,
	    (const uint8_t *)"x", 1, 60, on_write, &w), 0);
	assert_true(w.done);
	assert_int_equal(w.st, P2PNS_REFUSED);
	assert_int_equal(w.why, DHT_ERR_FOREIGN_OWNER);
	assert_int_equal(dht_published_count(d), 2);
	/* without any address of its own, its own two-stage names cannot resolve */
	w = (struct wres){0};
	assert_int_equal(p2pns_register(ns2, now, (const uint8_t *)"me2", 3, 33, 0,
	    (const uint8_t *)"self", 4, 60, on_write, &w), 0);
	assert_int_equal(w.st, P2PNS_OK);
	r = (struct rres){0};
	assert_int_equal(p2pns_resolve(ns2, now, (const uint8_t *)"me2", 3, 0, on_resolve, &r), 0);
	assert_true(r.done);
	assert_int_equal(r.st, P2PNS_FAILED);

	w = (struct wres){0};
	assert_int_equal(p2pns_unregister(ns, now + 1, (const uint8_t *)"me", 2, 33, 0, on_write,
	    &w), 0);
	assert_true(w.done);
	assert_int_equal(w.st, P2PNS_OK);
	r = (struct rres){0};
	assert_int_equal(p2pns_resolve(ns, now + 1, (const uint8_t *)"me", 2, 0, on_resolve, &r),
	    0);
	assert_true(r.done);
	assert_int_equal(r.st, P2PNS_NOT_FOUND);

	dht_free(d);
	kbr_free(k);
	p2pns_free(ns);
	p2pns_free(ns2);
	dht_replica_free(rep);
	store->ops->close(store);
	identity_free(ident);
}

struct counter {
	unsigned done;
};

static void
count_resolve(void *arg, enum p2pns_status st, const struct p2pns_result *res, size_t n)
{
	struct counter *c = arg;

	(void)res;
	(void)n;
	assert_true(st == P2PNS_NOT_FOUND || st == P2PNS_FAILED);
	c->done++;
}

/* Operations in flight are bounded: the excess is refused at once, everything accepted
 * is answered, and what is still in flight at the end is dropped by p2pns_free. */
static void
operations_are_bounded(void **state)
{
	struct net *net = *state;
	static struct counter c;
	unsigned accepted = 0, busy = 0;
	char name[32];

	c.done = 0;
	for (unsigned i = 0; i < 2 * P2PNS_MAX_OPS; i++) {
		int n = snprintf(name, sizeof(name), "busy-%u", i);
		int err = p2pns_resolve(net->n[0].ns, net->now, (const uint8_t *)name, (size_t)n, 0,
		    count_resolve, &c);

		assert_true(err == 0 || err == -EBUSY);
		accepted += err == 0;
		busy += err == -EBUSY;
	}
	print_message("accepted %u, busy %u\n", accepted, busy);
	assert_true(accepted > 0);
	assert_true(busy > 0);
	net_run(net, net->now + WAIT_MS);
	assert_int_equal(c.done, accepted);
	/* left in flight for the teardown */
	assert_int_equal(p2pns_resolve(net->n[0].ns, net->now, (const uint8_t *)"late", 4, 0,
	    count_resolve, &c), 0);
	struct wres w = {0};
	assert_int_equal(p2pns_register(net->n[1].ns, net->now, (const uint8_t *)"late", 4, 1, 0,
	    (const uint8_t *)"x", 1, 60, on_write, &w), 0);
	assert_false(w.done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(resolve_across_nodes_by_kind, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(unknown_names_are_cached_negative, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(updates_win_and_invalidate_the_cache, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(names_belong_to_their_first_key, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(node_keys_own_names, setup_node_keys, teardown),
		cmocka_unit_test_setup_teardown(unregister_removes_names, setup_keys, teardown),
		cmocka_unit_test_setup_teardown(two_stage_follows_moved_node, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(two_stage_unknown_node_fails, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(put_and_get_values, setup_keys, teardown),
		cmocka_unit_test_setup_teardown(removable_values_need_secret_and_key, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(keys_persist_on_disk, setup_keys, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_are_refused, setup_keys, teardown),
		cmocka_unit_test_setup_teardown(lonely_node_answers_at_once, setup_keys,
		    teardown),
		cmocka_unit_test_setup_teardown(operations_are_bounded, setup_keys, teardown),
	};

	return cmocka_run_group_tests_name("p2pns/p2pns", tests, NULL, NULL);
}
