/* p2pns-sim: a discrete-event simulator that runs many instances of the real kbr/ core over
 * an in-memory network. Shared declarations of the simulator's modules. */
#ifndef P2PNS_SIM_SIM_H
#define P2PNS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/kbr.h"
#include "puzzle/identity.h"

enum sim_attack {
	ATTACK_NONE = 0,
	ATTACK_CLOSER,		/* answer FIND_NODE only with malicious nodes close to the target */
	ATTACK_DROP,		/* never answer anything */
	ATTACK_GARBAGE,		/* answer FIND_NODE with made-up contacts */
};

enum sim_build {
	BUILD_JOIN = 0,		/* every node joins through the real protocol */
	BUILD_GLOBAL,		/* tables filled from global knowledge (large sweeps) */
};

struct sim_options {
	unsigned nodes;
	struct kbr_params p;	/* k, s, d, alpha; c1/c2 and crypto as the run uses them */
	double malicious;	/* fraction of the nodes */
	enum sim_attack attack;
	unsigned lookups;
	double churn;		/* fraction of the nodes replaced during the lookup phase */
	uint64_t seed;
	unsigned latency_ms;	/* mean one-way latency; each datagram gets 50%..150% of it */
	double loss;		/* probability that a datagram is lost */
	enum sim_build build;
	unsigned join_interval_ms;	/* between two joins (BUILD_JOIN) */
	unsigned settle_ms;	/* after the build, before lookups */
	unsigned lookup_interval_ms;	/* between two lookup starts */
};

struct node_io;

struct sim_node {
	struct kbr *k;
	struct identity *ident;
	struct node_io *io;		/* the kbr_io argument: (sim, index) */
	struct kbr_addr addr;
	uint64_t timer_at;	/* time of the tick event that counts; 0: none */
	uint32_t index;
	bool alive;
	bool malicious;
};

struct sim_event;
struct lookup_rec;

struct sim_result {
	unsigned lookups_counted;	/* lookups whose target stayed alive */
	unsigned successes;
	double mean_hops;		/* over successful lookups */
	unsigned max_hops;
	double msgs_per_lookup;		/* requests and replies the lookups sent */
	double mean_lookup_ms;		/* simulated duration of successful lookups */
	unsigned max_lookup_ms;
	uint64_t datagrams;		/* all datagrams the network carried */
	uint64_t lost;			/* of which lost (loss or dead receiver) */
	unsigned joined, left;		/* churn */
	double sim_seconds;
};

struct sim {
	struct sim_options o;
	struct sim_node *nodes;
	uint32_t n, cap;
	uint64_t now;
	uint64_t rng;
	/* event queue: a binary min-heap on (time, seq) */
	struct sim_event **heap;
	size_t nheap, heapcap;
	uint64_t seq;
	bool attacking;			/* malicious nodes misbehave (the lookup phase) */
	uint32_t *malicious_sorted;	/* malicious node indices sorted by node ID */
	uint32_t nmalicious;
	struct sim_result r;
	uint64_t hops_sum;
	uint64_t msgs_sum;
	unsigned outstanding;		/* lookups started, not yet finished */
	unsigned lookups_done;
	struct lookup_rec *recs;	/* the lookup phase's records */
	unsigned nrecs;
	uint64_t lookup_ms_sum;		/* duration of successful lookups */
};

/* sim.c: the engine */
uint64_t sim_rand(struct sim *s);
double sim_uniform(struct sim *s);
int sim_init(struct sim *s, const struct sim_options *o);
void sim_free(struct sim *s);
/* Adds a node with a fresh identity; it is alive and not joined. Returns its index or -1. */
int sim_add_node(struct sim *s);
void sim_remove_node(struct sim *s, uint32_t i);
struct sim_node *sim_node_at(struct sim *s, const struct kbr_addr *a);
/* Re-arms the node's tick after anything happened to it. */
void sim_touch(struct sim *s, uint32_t i);
/* Runs events until the queue is empty or the time limit. */
void sim_run_until(struct sim *s, uint64_t until);
void sim_send(struct sim *s, uint32_t from, const struct kbr_addr *to, const uint8_t *buf,
    size_t len);
/* Schedules fn(s, arg) at time t. */
void sim_at(struct sim *s, uint64_t t, void (*fn)(struct sim *, uintptr_t), uintptr_t arg);

/* build.c: overlays, and the exact closest nodes among a sorted set */
/* Sorts node indices by node ID. */
void sim_sort_by_id(const struct sim *s, uint32_t *idx, size_t n);
/* The up to max nodes of sorted[0..n) closest to target (XOR), closest first, skipping
 * the node `skip` and dead nodes; out receives node indices. Returns how many. */
unsigned sim_closest_of(const struct sim *s, const uint32_t *sorted, size_t n,
    const struct nodeid *target, uint32_t skip, uint32_t *out, unsigned max);

int sim_build_global(struct sim *s);
int sim_build_join(struct sim *s);
void sim_choose_malicious(struct sim *s);

/* attack.c: what malicious nodes do with a datagram addressed to them */
void sim_attack_input(struct sim *s, uint32_t i, const uint8_t *buf, size_t len,
    const struct kbr_addr *from);

/* workload.c: lookups and churn */
int sim_run_lookups(struct sim *s);

const char *sim_attack_name(enum sim_attack a);
int sim_attack_parse(const char *name, enum sim_attack *out);

#endif
