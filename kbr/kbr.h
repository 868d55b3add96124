/* A secure Kademlia node as a sans-I/O state machine. It never touches a socket, a clock or
 * an event base: the caller hands in datagrams with the time and the sender's address
 * (kbr_input), calls kbr_tick when the deadline it returned has come, and supplies sending
 * and randomness through struct kbr_io. Times are milliseconds since the Unix epoch (the
 * caller's clock; the simulator's is virtual); message timestamps use the same clock.
 *
 * Incoming datagrams pass, in order: the rate limits (the source's bucket, then the total),
 * then the session layer (kbr/session.h: handshakes check the node ID, the puzzles and the
 * signature once per peer; every later datagram its receiver index, replay window and AEAD
 * tag), and replies must match an RPC in flight. Anything that fails is dropped silently
 * and counted. */
#ifndef P2PNS_KBR_KBR_H
#define P2PNS_KBR_KBR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/lookup.h"
#include "kbr/types.h"
#include "kbr/wire.h"
#include "puzzle/identity.h"

struct kbr;
struct kbr_table;

struct kbr_io {
	void *arg;
	/* Sends one datagram. Failures are the transport's business. */
	void (*send)(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len);
	/* Fills buf with len unpredictable bytes. */
	void (*random)(void *arg, void *buf, size_t len);
	/* An application request (odd type in KBR_APP_MIN..KBR_APP_MAX) arrived and passed
	 * every check; from is its verified sender. Writes the answer's body into answer
	 * (room for *answer_len bytes, updated to the length used) and returns the answer's
	 * type (the request's type + 1), or 0 to send no answer. May be NULL: no answers. */
	uint8_t (*app_request)(void *arg, uint64_t now, const struct kbr_contact *from,
	    uint8_t type, const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len);
	/* Simulators only (NULL on a real node: the malicious nodes of p2pns-sim): sees every
	 * request that passed the checks first; returns true when it dealt with it, having
	 * filled in *answer (its type 0: no answer; its tid is the request's). */
	bool (*intercept)(void *arg, uint64_t now, const struct kbr_msg *req,
	    const struct kbr_addr *from, struct kbr_msg *answer);
};

/* The answer to kbr_app_request: status 0 with the answer (from the node asked), or
 * -ETIMEDOUT after the retries (from, body NULL). */
typedef void (*kbr_app_cb)(void *arg, int status, const struct kbr_contact *from,
    uint8_t type, const uint8_t *body, size_t len);

/* Lookup completion: the up to s closest nodes that answered, closest first (n may be 0),
 * and the lookup's statistics (hops to the closest, RPCs, replies, failures). */
typedef void (*kbr_lookup_cb)(void *arg, const struct nodeid *target,
    const struct kbr_contact *res, size_t n, const struct kbr_lookup_stats *st);

/* Lookup progress: the node `from` answered the lookup, naming these contacts (hints). */
typedef void (*kbr_lookup_progress_cb)(void *arg, const struct nodeid *target,
    const struct kbr_contact *from, const struct kbr_contact *hints, size_t n);

struct kbr_lookup_opts {
	unsigned want;			/* results needed, 1..s (see kbr/lookup.h) */
	kbr_lookup_progress_cb progress;	/* may be NULL */
};

enum {
	KBR_MAX_LOOKUPS = 64,		/* concurrent lookups */
	KBR_MAX_RPCS = 1024,		/* RPCs in flight */
};

struct kbr_stats {
	uint64_t rx, tx;		/* datagrams in and out */
	uint64_t dropped_malformed, dropped_version, dropped_rate, dropped_time,
	    dropped_puzzle, dropped_replay, dropped_signature, dropped_unsolicited;
	/* sessions: unknown receiver index, failed AEAD tag, an HS_INIT naming another
	 * node, a handshake answer nobody asked for */
	uint64_t dropped_index, dropped_tag, dropped_receiver, dropped_handshake;
	uint64_t handshakes_started, handshakes_resent, handshakes_done, cookies_sent,
	    challenges_sent, roams, sessions_evicted;
	uint64_t lookups_started, lookups_done;
	uint64_t rpcs_timed_out;
	uint64_t rpcs_slow;		/* lookup RPCs past their soft timeout */
	uint64_t app_requests_in, app_requests_out;
};

/* self is borrowed and must outlive the node. Returns NULL for bad parameters or
 * allocation failure. */
struct kbr *kbr_new(const struct kbr_params *p, const struct identity *self,
    const struct kbr_io *io);
void kbr_free(struct kbr *k);

/* A datagram arrived from `from` at `now`. Never fails: bad input is dropped and counted. */
void kbr_input(struct kbr *k, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from);

/* Runs timers due at `now` (RPC timeouts and retries, lookups, bucket refresh, pings of
 * stale contacts). Returns the time of the next deadline. */
uint64_t kbr_tick(struct kbr *k, uint64_t now);

/* Joins through a node known only by address: PING it; when it answers it enters the
 * table and the node looks up its own ID, then refreshes the buckets farther than its
 * closest neighbour. May be called for several addresses. Returns 0 or -ENOMEM/-EBUSY. */
int kbr_bootstrap(struct kbr *k, uint64_t now, const struct kbr_addr *addr);

/* Starts an iterative lookup of target over d disjoint paths; cb is called exactly once,
 * from kbr_input or kbr_tick (or at once if the table is empty). Returns 0, -EBUSY (too
 * many lookups, or no room in the RPC table for the d * alpha requests it starts with) or
 * -ENOMEM. */
int kbr_lookup_start(struct kbr *k, uint64_t now, const struct nodeid *target,
    kbr_lookup_cb cb, void *arg);
/* The same with fewer results wanted (the lookup then ends sooner: each path waits for
 * want / d of its closest candidates) and a progress callback, which must not call
 * kbr_free. Returns 0, -EINVAL, -EBUSY or -ENOMEM. */
int kbr_lookup_start_opts(struct kbr *k, uint64_t now, const struct nodeid *target,
    const struct kbr_lookup_opts *o, kbr_lookup_cb cb, void *arg);

/* Puts a contact straight into the routing table, without any handshake. Only for
 * building an overlay from global knowledge (the simulator's large sweeps); a node on a
 * network must never call it. Returns a kbr_table_update result or a negative errno. */
int kbr_add_contact(struct kbr *k, uint64_t now, const struct nodeid *id,
    const struct kbr_addr *addr);

/* Sends an application request (odd type in KBR_APP_MIN..KBR_APP_MAX, body of at most
 * KBR_MAX_APP_BODY bytes) to a node, with the same timeouts, retries and checks as the
 * KBR's own RPCs; cb is called exactly once, from kbr_input or kbr_tick (never from this
 * call). Returns 0, -EINVAL, -EBUSY or -ENOMEM (then cb is not called). */
int kbr_app_request(struct kbr *k, uint64_t now, const struct kbr_contact *to, uint8_t type,
    const uint8_t *body, size_t len, kbr_app_cb cb, void *arg);

/* How long the first attempt of a request to the node id would wait for its answer now
 * (its soft timeout, from the round-trip estimates; see kbr_params). */
unsigned kbr_request_wait(struct kbr *k, uint64_t now, const struct nodeid *id);

/* PINGs addr; if it answers, it enters the table. Returns 0 or -EBUSY/-ENOMEM. */
int kbr_ping(struct kbr *k, uint64_t now, const struct kbr_addr *addr);

/* The time given to the kbr_* call that is running (inside a callback: the time of the
 * input or tick that caused it), or of the last one. */
uint64_t kbr_now(const struct kbr *k);

const struct kbr_table *kbr_get_table(const struct kbr *k);
const struct kbr_params *kbr_get_params(const struct kbr *k);
const struct nodeid *kbr_self_id(const struct kbr *k);
void kbr_get_stats(const struct kbr *k, struct kbr_stats *st);
/* The address peers saw us at (from the latest PONG); family KBR_AF_NONE if none yet. */
void kbr_observed_addr(const struct kbr *k, struct kbr_addr *out);
/* Bytes the node currently holds (table, lookups, RPCs, sessions and rate tables). */
size_t kbr_memory(const struct kbr *k);
/* Sessions currently kept. */
size_t kbr_session_count(const struct kbr *k);
#endif
