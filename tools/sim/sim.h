/* p2pns-sim: a discrete-event simulator that runs many instances of the real kbr/ core over
 * an in-memory network. Shared declarations of the simulator's modules. */
#ifndef P2PNS_SIM_SIM_H
#define P2PNS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"
#include "dht/replica.h"
#include "dht/store.h"
#include "kbr/kbr.h"
#include "puzzle/identity.h"

enum sim_attack {
	ATTACK_NONE = 0,
	ATTACK_CLOSER,		/* answer FIND_NODE only with malicious nodes close to the target */
	ATTACK_DROP,		/* never answer anything */
	ATTACK_GARBAGE,		/* answer FIND_NODE with made-up contacts */
	/* DHT attacks: --liars of the r closest nodes of every put key answer FIND_VALUE for
	 * that key dishonestly (the rest of what they do is honest) */
	ATTACK_STALE,		/* with the owner's older (seq 1) record */
	ATTACK_FORGE,		/* with a record for the key signed by the liar's own key */
	ATTACK_WITHHOLD,	/* with an empty stream */
};

enum {
	SIM_STORE_RECORDS = 4096,	/* records a simulated node's memory store holds */
	SIM_MAX_PUTS = 100000,
	SIM_MAX_GETS = 1000000,
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
	unsigned want;		/* results a lookup needs (1..s) */
	double churn;		/* fraction of the nodes replaced during the lookup phase */
	uint64_t seed;
	unsigned latency_ms;	/* mean one-way latency; each datagram gets 50%..150% of it */
	double loss;		/* probability that a datagram is lost */
	enum sim_build build;
	unsigned join_interval_ms;	/* between two joins (BUILD_JOIN) */
	unsigned settle_ms;	/* after the build, before lookups */
	unsigned lookup_interval_ms;	/* between two lookup starts (and puts and gets) */
	/* the DHT */
	struct dht_params dp;		/* r, maintain_ms */
	unsigned puts, gets;		/* names put, gets of them */
	unsigned liars;			/* DHT attacks: liars among the r closest of a key */
	unsigned churn_span_ms;		/* with puts: the churn phase's length */
	unsigned settle_after_churn_ms;	/* with puts: between the churn and the gets */
};

struct node_io;

enum {
	SIM_JOIN_GRACE_MS = 10 * 1000,	/* a joining node's join lookup and refreshes run */
};

struct sim_node {
	struct kbr *k;
	struct dht *dht;		/* over rep over store; NULL when the node is gone */
	struct dht_replica *rep;
	struct dht_store *store;
	struct identity *ident;
	struct node_io *io;		/* the kbr_io argument: (sim, index) */
	struct kbr_addr addr;
	uint64_t timer_at;	/* time of the tick event that counts; 0: none */
	uint32_t index;
	bool alive;
	bool malicious;
	bool liar;		/* answers FIND_VALUE for some keys dishonestly (sim_liar) */
	uint64_t joined_at;	/* a node added by churn: when it started to join (else 0) */
};

/* A name the DHT workload put: "name-<index>", owned by the node that put it. The records
 * are rebuilt from these fields (sim_name_record); only the signatures are kept. */
struct sim_name {
	struct nodeid key;
	uint32_t owner;			/* node index: its identity signs */
	uint64_t expiry;
	uint8_t nseq;			/* records put: seq 1 (and seq 2 with --attack stale) */
	uint8_t sig[2][ID_SIG_LEN];	/* of seq 1, seq 2 */
};

/* One (node, key) that the node answers dishonestly. */
struct sim_liar {
	uint32_t node, name;
	struct nodeid key;
	uint8_t forged_sig[ID_SIG_LEN];	/* --attack forge: the liar's record's signature */
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
	int64_t median_lookup_ms, p99_lookup_ms;	/* < 0: no successful lookup */
	uint64_t datagrams;		/* all datagrams the network carried */
	uint64_t lost;			/* of which lost (loss or dead receiver) */
	unsigned joined, left;		/* churn */
	double sim_seconds;
	/* the DHT workload */
	unsigned puts, puts_ok;		/* put operations (2 a name with stale), successful */
	unsigned gets, gets_ok;
	unsigned gets_wrong;		/* another record won: the attack's */
	unsigned gets_conflict, gets_empty;	/* no majority; a majority said nothing */
	double mean_get_ms;		/* over successful gets; < 0: none */
	int64_t median_get_ms, p99_get_ms;	/* < 0: none */
	double msgs_per_get;		/* datagrams of the get phase / gets; < 0: no gets */
	int replicas_min;		/* live honest holders of a record; < 0: none put */
	double replicas_mean;
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
	uint8_t lie[KBR_MAX_APP_BODY];	/* a liar's answer body, sent at once */
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
	/* the DHT workload (dhtload.c) */
	struct sim_name *names;		/* o.puts of them */
	uint32_t nnames;
	struct sim_liar *liars;		/* sorted by (node, key) */
	size_t nliars;
	struct sim_dht_ops *dops;	/* the put and get operations */
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

/* attack.c: node i's kbr_io.intercept. Malicious nodes under attack (closer, garbage)
 * answer FIND_NODE their way and nothing of the DHT's; liars answer FIND_VALUE for their
 * key with the lie. False: the node answers as usual. (Under "drop" the datagrams never
 * reach a malicious node: sim.c drops them.) */
bool sim_attack_intercept(struct sim *s, uint32_t i, const struct kbr_msg *in,
    struct kbr_msg *out);

/* workload.c: lookups and churn */
int sim_run_lookups(struct sim *s);
/* One churn step: a random honest node leaves without notice, a new node joins. */
void sim_churn_step(struct sim *s, uintptr_t arg);
/* A random alive honest node (not malicious, not a liar), or -1 if there seems to be none. */
int64_t sim_random_honest(struct sim *s);
/* The same among nodes that are not still joining: added by churn at least
 * SIM_JOIN_GRACE_MS ago, or part of the overlay from its build. */
int64_t sim_random_settled(struct sim *s);
/* The pct-th percentile (nearest rank) of n durations, which it sorts; -1 if n is 0. */
int64_t sim_percentile(uint32_t *v, unsigned n, unsigned pct);

/* dhtload.c: the DHT workload */
/* Puts, churn (with --puts), the liars of a DHT attack, gets. */
int sim_run_dht(struct sim *s);
/* Counts the live honest holders of every put name's latest record, at the end. */
void sim_census(struct sim *s);
/* The record of name j with seq 1 or 2, as its owner signed it. */
void sim_name_record(const struct sim *s, uint32_t j, unsigned seq, struct dht_record *out);
/* The record liar l answers with under --attack forge. */
void sim_forged_record(const struct sim *s, const struct sim_liar *l, struct dht_record *out);
/* The liar entry of (node i, key), or NULL. */
const struct sim_liar *sim_liar_find(const struct sim *s, uint32_t i, const struct nodeid *key);
void sim_dht_free(struct sim *s);

const char *sim_attack_name(enum sim_attack a);
int sim_attack_parse(const char *name, enum sim_attack *out);
/* The attacks on the DHT's values (stale, forge, withhold), as opposed to the KBR's. */
bool sim_attack_is_dht(enum sim_attack a);

#endif
