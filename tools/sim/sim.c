/* The simulator's engine: a deterministic random source, nodes with virtual addresses (each
 * a kbr with a DHT on top of it, over a bounded memory store), an event queue (binary heap
 * on time, then insertion order) carrying datagrams with latency and loss, and the tick
 * events that drive each node's kbr and DHT timers. */
#include "tools/sim/sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum ev_kind {
	EV_DELIVER = 1,
	EV_TICK,
	EV_CALL,
};

struct sim_event {
	uint64_t t, seq;
	uint8_t kind;
	uint32_t node;			/* EV_DELIVER: receiver; EV_TICK: the node */
	void (*fn)(struct sim *, uintptr_t);
	uintptr_t arg;
	struct kbr_addr from;		/* EV_DELIVER */
	size_t len;
	uint8_t buf[];
};

enum {
	NODE_PORT = 4000,
};

/* splitmix64: small, fast and good enough for a simulation. */
uint64_t
sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double
sim_uniform(struct sim *s)
{
	return (double)(sim_rand(s) >> 11) / (double)(1ULL << 53);
}

/* ---- event queue ---- */

static bool
before(const struct sim_event *a, const struct sim_event *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void
push(struct sim *s, struct sim_event *e)
{
	size_t i;

	if (s->nheap == s->heapcap) {
		size_t cap = s->heapcap ? s->heapcap * 2 : 1024;
		struct sim_event **h = realloc(s->heap, cap * sizeof(*h));

		if (h == NULL) {
			free(e);	/* out of memory: the event is lost, like a datagram */
			return;
		}
		s->heap = h;
		s->heapcap = cap;
	}
	e->seq = s->seq++;
	i = s->nheap++;
	while (i > 0 && before(e, s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static struct sim_event *
pop(struct sim *s)
{
	struct sim_event *top = s->heap[0], *last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!before(s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap > 0)
		s->heap[i] = last;
	return top;
}

static struct sim_event *
event_new(uint64_t t, uint8_t kind, size_t len)
{
	struct sim_event *e = calloc(1, sizeof(*e) + len);

	if (e != NULL) {
		e->t = t;
		e->kind = kind;
		e->len = len;
	}
	return e;
}

void
sim_at(struct sim *s, uint64_t t, void (*fn)(struct sim *, uintptr_t), uintptr_t arg)
{
	struct sim_event *e = event_new(t, EV_CALL, 0);

	if (e == NULL)
		return;
	e->fn = fn;
	e->arg = arg;
	push(s, e);
}

/* ---- nodes ---- */

struct node_io {
	struct sim *s;
	uint32_t i;
};

static void
io_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct node_io *io = arg;

	sim_send(io->s, io->i, to, buf, len);
}

static void
io_random(void *arg, void *buf, size_t len)
{
	struct node_io *io = arg;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = sim_rand(io->s);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(p + i, &v, n);
	}
}

/* The kbr's application requests (STORE, FIND_VALUE) go to the node's DHT. */
static uint8_t
io_app(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct node_io *io = arg;
	struct sim_node *nd = &io->s->nodes[io->i];

	if (nd->dht == NULL)
		return 0;
	return dht_handle_request(nd->dht, now, from, type, body, len, answer, answer_len);
}

static bool
io_intercept(void *arg, uint64_t now, const struct kbr_msg *req, const struct kbr_addr *from,
    struct kbr_msg *answer)
{
	struct node_io *io = arg;

	(void)now;
	(void)from;
	return sim_attack_intercept(io->s, io->i, req, answer);
}

/* Node i lives at 127.a.b.c:4000 with a.b.c = i: virtual, nothing leaves the process. */
static void
node_addr(uint32_t i, struct kbr_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 127;
	a->ip[1] = (uint8_t)(i >> 16);
	a->ip[2] = (uint8_t)(i >> 8);
	a->ip[3] = (uint8_t)i;
	a->port = NODE_PORT;
}

struct sim_node *
sim_node_at(struct sim *s, const struct kbr_addr *a)
{
	uint32_t i;

	if (a->family != KBR_AF_INET || a->ip[0] != 127 || a->port != NODE_PORT)
		return NULL;
	i = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
	return i < s->n ? &s->nodes[i] : NULL;
}

/* An identity whose ID meets c1, found by trying deterministic seeds. */
static int
make_identity(struct sim *s, struct identity **out)
{
	for (unsigned tries = 0; tries < 1u << 24; tries++) {
		uint8_t seed[ID_SEED_LEN];
		int err;

		for (size_t i = 0; i < sizeof(seed); i += 8) {
			uint64_t v = sim_rand(s);

			memcpy(seed + i, &v, 8);
		}
		err = identity_from_seed(out, seed, s->o.p.c2);
		if (err != 0)
			return err;
		if ((*out)->c1 >= s->o.p.c1)
			return 0;
		identity_free(*out);
		*out = NULL;
	}
	return -EAGAIN;
}

int
sim_add_node(struct sim *s)
{
	struct sim_node *nd;
	struct node_io *io;
	struct kbr_io kio = {0};
	uint32_t i = s->n;

	if (s->n == s->cap)
		return -1;
	nd = &s->nodes[i];
	memset(nd, 0, sizeof(*nd));
	io = malloc(sizeof(*io));
	if (io == NULL || make_identity(s, &nd->ident) != 0) {
		free(io);
		return -1;
	}
	io->s = s;
	io->i = i;
	kio.arg = io;
	kio.send = io_send;
	kio.random = io_random;
	kio.app_request = io_app;
	kio.intercept = io_intercept;
	nd->k = kbr_new(&s->o.p, nd->ident, &kio);
	if (nd->k != NULL)
		nd->store = dht_store_mem_new(SIM_STORE_RECORDS);
	if (nd->store != NULL)
		nd->rep = dht_replica_new(nd->store, NULL);
	if (nd->rep != NULL)
		nd->dht = dht_new(nd->k, nd->rep, &s->o.dp);
	if (nd->dht == NULL) {
		dht_replica_free(nd->rep);
		if (nd->store != NULL)
			nd->store->ops->close(nd->store);
		kbr_free(nd->k);
		identity_free(nd->ident);
		free(io);
		memset(nd, 0, sizeof(*nd));
		return -1;
	}
	nd->io = io;
	nd->index = i;
	nd->alive = true;
	node_addr(i, &nd->addr);
	s->n++;
	return (int)i;
}

void
sim_remove_node(struct sim *s, uint32_t i)
{
	struct sim_node *nd = &s->nodes[i];

	if (!nd->alive)
		return;
	nd->alive = false;
	/* the DHT first: it borrows the kbr, the replica and the store (dht_free and kbr_free
	 * call nothing back) */
	dht_free(nd->dht);
	nd->dht = NULL;
	kbr_free(nd->k);
	nd->k = NULL;
	dht_replica_free(nd->rep);
	nd->rep = NULL;
	nd->store->ops->close(nd->store);
	nd->store = NULL;
	free(nd->io);
	nd->io = NULL;
	/* the identity stays: results and reports still name the node */
}

void
sim_touch(struct sim *s, uint32_t i)
{
	struct sim_node *nd = &s->nodes[i];
	uint64_t next, t;
	struct sim_event *e;

	if (!nd->alive)
		return;
	next = kbr_tick(nd->k, s->now);
	t = dht_tick(nd->dht, s->now);
	if (t < next)
		next = t;
	if (next <= s->now)
		next = s->now + 1;
	if (nd->timer_at != 0 && nd->timer_at <= next)
		return;		/* an earlier tick is already queued */
	e = event_new(next, EV_TICK, 0);
	if (e == NULL)
		return;
	e->node = i;
	nd->timer_at = next;
	push(s, e);
}

void
sim_send(struct sim *s, uint32_t from, const struct kbr_addr *to, const uint8_t *buf,
    size_t len)
{
	struct sim_node *dst = sim_node_at(s, to);
	struct sim_event *e;
	uint64_t delay;

	s->r.datagrams++;
	if (dst == NULL || (s->o.loss > 0 && sim_uniform(s) < s->o.loss)) {
		s->r.lost++;
		return;
	}
	delay = s->o.latency_ms / 2 + sim_rand(s) % (s->o.latency_ms + 1);
	e = event_new(s->now + (delay ? delay : 1), EV_DELIVER, len);
	if (e == NULL) {
		s->r.lost++;
		return;
	}
	e->node = dst->index;
	e->from = s->nodes[from].addr;
	memcpy(e->buf, buf, len);
	push(s, e);
}

static void
dispatch(struct sim *s, struct sim_event *e)
{
	struct sim_node *nd;

	switch (e->kind) {
	case EV_DELIVER:
		nd = &s->nodes[e->node];
		if (!nd->alive) {
			s->r.lost++;
			break;
		}
		if (nd->malicious && s->attacking && s->o.attack == ATTACK_DROP)
			break;		/* answers nothing at all */
		kbr_input(nd->k, s->now, e->buf, e->len, &e->from);
		sim_touch(s, e->node);
		break;
	case EV_TICK:
		nd = &s->nodes[e->node];
		if (!nd->alive || nd->timer_at != e->t)
			break;	/* superseded */
		nd->timer_at = 0;
		sim_touch(s, e->node);
		break;
	case EV_CALL:
		e->fn(s, e->arg);
		break;
	default:
		break;
	}
}

void
sim_run_until(struct sim *s, uint64_t until)
{
	while (s->nheap > 0 && s->heap[0]->t <= until) {
		struct sim_event *e = pop(s);

		s->now = e->t;
		dispatch(s, e);
		free(e);
	}
	if (s->now < until && until != UINT64_MAX)
		s->now = until;
}

int
sim_init(struct sim *s, const struct sim_options *o)
{
	uint64_t extra = (uint64_t)(o->churn * o->nodes) + 1;

	memset(s, 0, sizeof(*s));
	s->o = *o;
	s->rng = o->seed;
	s->now = 1767225600000ULL;	/* 2026-01-01: message timestamps look real */
	s->cap = (uint32_t)(o->nodes + extra);
	s->r.replicas_min = -1;		/* none of these until the DHT workload says */
	s->r.mean_get_ms = -1;
	s->r.median_get_ms = s->r.p99_get_ms = -1;
	s->r.median_lookup_ms = s->r.p99_lookup_ms = -1;
	s->r.msgs_per_get = -1;
	s->nodes = calloc(s->cap, sizeof(*s->nodes));
	return s->nodes == NULL ? -ENOMEM : 0;
}

void
sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		sim_remove_node(s, i);
		identity_free(s->nodes[i].ident);
	}
	while (s->nheap > 0)
		free(pop(s));
	free(s->heap);
	free(s->nodes);
	free(s->malicious_sorted);
	sim_dht_free(s);	/* after the nodes: late callbacks point into it */
}

const char *
sim_attack_name(enum sim_attack a)
{
	switch (a) {
	case ATTACK_CLOSER:
		return "closer";
	case ATTACK_DROP:
		return "drop";
	case ATTACK_GARBAGE:
		return "garbage";
	case ATTACK_STALE:
		return "stale";
	case ATTACK_FORGE:
		return "forge";
	case ATTACK_WITHHOLD:
		return "withhold";
	default:
		return "none";
	}
}

int
sim_attack_parse(const char *name, enum sim_attack *out)
{
	static const enum sim_attack all[] = {ATTACK_NONE, ATTACK_CLOSER, ATTACK_DROP,
	    ATTACK_GARBAGE, ATTACK_STALE, ATTACK_FORGE, ATTACK_WITHHOLD};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, sim_attack_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

bool
sim_attack_is_dht(enum sim_attack a)
{
	return a == ATTACK_STALE || a == ATTACK_FORGE || a == ATTACK_WITHHOLD;
}
