/* libFuzzer target: XML-RPC bodies through rpc_dispatch with the node's methods over a one-node
 * sans-I/O stack; every call gets exactly one answer, and that answer parses as XML-RPC. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>

#include "dht/store.h"
#include "rpc/methods.h"
#include "rpc/xmlrpc.h"
#include "tests/fuzz/common.h"

enum {
	MAX_METHODS = 32,
	STORE_RECORDS = 256,
	CACHE_ENTRIES = 64,
};

static const uint64_t waits[4] = {0, 1000, 3600 * 1000, 8ULL * 24 * 3600 * 1000};
/* After the last call: timers until everything the calls started is over, re-publishing too. */
static const uint64_t drain[] = {1000, 60 * 1000, 11 * 60 * 1000, 2 * 3600 * 1000};

/* The node's clock (rpc_node.now takes no argument): set for every input. */
static uint64_t clock_ms;

struct stack {
	struct fuzz_rng rng;
	struct kbr *k;
	struct dht_store *store;
	struct dht_replica *rep;
	struct dht *d;
	struct p2pns *ns;
	struct rpc_node node;
	struct rpc_method methods[MAX_METHODS];
	struct rpc_dispatcher *disp;
	unsigned answers[RPC_MAX_INPUT_CALLS];
};

struct waiter {
	struct stack *s;
	unsigned call;
};

static uint64_t
now_ms(void)
{
	return clock_ms;
}

static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	(void)arg;
	(void)to;
	(void)buf;
	(void)len;
}

static void
on_random(void *arg, void *buf, size_t len)
{
	struct stack *s = arg;

	fuzz_random(&s->rng, buf, len);
}

static uint8_t
on_app_request(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct stack *s = arg;

	return dht_handle_request(s->d, now, from, type, body, len, answer, answer_len);
}

static void
kick(void *arg)
{
	struct stack *s = arg;

	(void)kbr_tick(s->k, clock_ms);
	(void)dht_tick(s->d, clock_ms);
}

/* Every answer is a methodResponse a client can parse: a result or a fault. */
static void
on_done(void *arg, const char *xml, size_t len)
{
	struct waiter *w = arg;
	xmlrpc_env env;
	xmlrpc_value *result = NULL;
	const char *fault = NULL;
	int code = 0;

	w->s->answers[w->call]++;
	xmlrpc_env_init(&env);
	xmlrpc_parse_response2(&env, xml, len, &result, &code, &fault);
	if (env.fault_occurred)
		fprintf(stderr, "unparsable answer (%s):\n%.*s\n", env.fault_string, (int)len, xml);
	FUZZ_CHECK(!env.fault_occurred);
	FUZZ_CHECK((result != NULL) != (fault != NULL));
	if (result != NULL)
		xmlrpc_DECREF(result);
	free((void *)(uintptr_t)fault);
	xmlrpc_env_clean(&env);
}

static void
stack_new(struct stack *s)
{
	struct kbr_params p;
	struct kbr_io io = {0};
	struct p2pns_params pp;
	struct dht_params dp = {.r = DHT_DEFAULT_R};
	size_t n;

	memset(s, 0, sizeof(*s));
	s->rng.s = 1;
	kbr_params_default(&p);
	p.c1 = p.c2 = 0;
	p.rate_sources = 16;
	io.arg = s;
	io.send = on_send;
	io.random = on_random;
	io.app_request = on_app_request;
	s->k = kbr_new(&p, fuzz_self(), &io);
	s->store = dht_store_mem_new(STORE_RECORDS);
	FUZZ_CHECK(s->k != NULL && s->store != NULL);
	s->rep = dht_replica_new(s->store, NULL);
	FUZZ_CHECK(s->rep != NULL);
	s->d = dht_new(s->k, s->rep, &dp);
	FUZZ_CHECK(s->d != NULL);
	p2pns_params_default(&pp);
	pp.cache_names = pp.cache_addrs = CACHE_ENTRIES;
	FUZZ_CHECK(kbr_addr_parse(&pp.self_addr, "192.0.2.10:3631") == 0);
	s->ns = p2pns_new(s->k, s->d, fuzz_self(), &pp);
	FUZZ_CHECK(s->ns != NULL);

	s->node.kbr = s->k;
	s->node.dht = s->d;
	s->node.rep = s->rep;
	s->node.ns = s->ns;
	s->node.started = clock_ms;
	s->node.now = now_ms;
	s->node.kick = kick;
	s->node.kick_arg = s;
	s->node.addrs[0] = pp.self_addr;
	s->node.naddrs = 1;
	s->node.version = "fuzz";
	n = rpc_node_methods(&s->node, s->methods, MAX_METHODS);
	FUZZ_CHECK(rpc_dispatcher_new(&s->disp, s->methods, n, NULL, 0, 0) == 0);
}

/* In the order the daemon uses: nothing below can call back any more when the calls still
 * waiting are answered, and the dispatcher outlives them. */
static void
stack_free(struct stack *s)
{
	dht_free(s->d);
	kbr_free(s->k);
	rpc_node_drop_pending(&s->node);
	rpc_dispatcher_free(s->disp);
	p2pns_free(s->ns);
	dht_replica_free(s->rep);
	s->store->ops->close(s->store);
}

static void
peer_addr(struct kbr_addr *a, uint8_t ctrl, unsigned call)
{
	bool remote = ctrl & (1u << call);

	if (ctrl & RPC_CTRL_V6)
		FUZZ_CHECK(kbr_addr_parse(a, remote ? "[2001:db8::9]:40000" : "[::1]:40000") == 0);
	else
		FUZZ_CHECK(kbr_addr_parse(a, remote ? "192.0.2.9:40000" : "127.0.0.1:40000") == 0);
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
	const size_t seplen = strlen(RPC_SEPARATOR);
	struct stack *s = malloc(sizeof(*s));
	struct waiter w[RPC_MAX_INPUT_CALLS];
	int rc[RPC_MAX_INPUT_CALLS];
	unsigned ncalls = 0;
	size_t off = 1;
	uint8_t ctrl;

	if (size == 0) {
		free(s);
		return 0;
	}
	FUZZ_CHECK(s != NULL);
	ctrl = data[0];
	clock_ms = FUZZ_T0;
	stack_new(s);
	while (ncalls < RPC_MAX_INPUT_CALLS && (off < size || ncalls == 0)) {
		const uint8_t *body = data + off;
		size_t len = size - off, next = size;
		struct rpc_call *pending = NULL;
		struct kbr_addr peer;
		uint8_t *copy;

		for (size_t i = off; i + seplen <= size; i++) {
			if (memcmp(data + i, RPC_SEPARATOR, seplen) == 0) {
				len = i - off;
				next = i + seplen;
				break;
			}
		}
		/* a copy of exactly the body, so that reading past it is caught */
		copy = malloc(len ? len : 1);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, body, len);
		if (ncalls > 0)
			clock_ms += waits[(ctrl >> RPC_CTRL_WAIT_SHIFT) & 3];
		peer_addr(&peer, ctrl, ncalls);
		w[ncalls].s = s;
		w[ncalls].call = ncalls;
		rc[ncalls] = rpc_dispatch(s->disp, copy, len, &peer, on_done, &w[ncalls], &pending);
		FUZZ_CHECK(rc[ncalls] == 0 || rc[ncalls] == -EINPROGRESS);
		FUZZ_CHECK((rc[ncalls] == -EINPROGRESS) == (pending != NULL));
		/* answered now, or later and not yet */
		FUZZ_CHECK(s->answers[ncalls] == (rc[ncalls] == 0 ? 1u : 0u));
		free(copy);
		kick(s);
		ncalls++;
		off = next;
	}
	for (size_t i = 0; i < sizeof(drain) / sizeof(drain[0]); i++) {
		clock_ms += drain[i];
		kick(s);
	}
	stack_free(s);
	for (unsigned i = 0; i < ncalls; i++)
		FUZZ_CHECK(s->answers[i] == 1);
	free(s);
	return 0;
}
