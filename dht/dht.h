/* The DHT node: replicated, majority-voting storage on top of the KBR, sans-I/O like it.
 *
 *   put  look up the key, STORE the record to the r nodes closest to it (this node too, if
 *        it is one of them), succeed when a majority of them stored it
 *   get  look up the key, FIND_VALUE at the r closest nodes in parallel, decide by majority
 *        (dht/vote.h), push the winning records back to replicas that lacked them
 *   serve  answer other nodes' STORE and FIND_VALUE through dht/replica.h
 *
 * The glue that owns the kbr forwards its io.app_request to dht_handle_request. Callbacks
 * may run before dht_put / dht_get return (on a node that knows no other). */
#ifndef P2PNS_DHT_DHT_H
#define P2PNS_DHT_DHT_H

#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"
#include "dht/replica.h"
#include "dht/vote.h"
#include "kbr/kbr.h"

enum {
	DHT_DEFAULT_R = 5,
	DHT_MAX_R = DHT_VOTE_MAX_ANSWERS,
	DHT_MAX_OPS = 256,		/* puts and gets in flight */
	DHT_MAX_TRANSFERS = 32,		/* incoming multi-chunk STOREs being assembled */
	DHT_TRANSFER_MS = 10 * 1000,	/* an unfinished one is dropped after this */
	DHT_MAX_REPAIRS = 256,		/* read-repair STOREs in flight */
	DHT_EXPIRE_MS = 60 * 1000,	/* how often expired records are dropped */
	DHT_MAINTAIN_MS = 60 * 1000,	/* replica maintenance period */
	DHT_MAINTAIN_KEYS = 512,	/* keys looked at per maintenance run */
	DHT_MAX_PUBLISHED = 1024,	/* records this node keeps publishing */
	DHT_REPUBLISH_MS = 10 * 60 * 1000,
};

struct dht;

struct dht_params {
	unsigned r;			/* replicas (5); odd, for a majority */
	unsigned maintain_ms;		/* replica maintenance period (0: DHT_MAINTAIN_MS) */
	unsigned republish_ms;		/* owner re-publication period (0: DHT_REPUBLISH_MS) */
};

/* k and rep are borrowed and must outlive the DHT; self is the node's identity. Returns
 * NULL for bad parameters or allocation failure. */
struct dht *dht_new(struct kbr *k, struct dht_replica *rep, const struct dht_params *p);
void dht_free(struct dht *d);

/* Serves a STORE or FIND_VALUE (the kbr_io.app_request contract). */
uint8_t dht_handle_request(struct dht *d, uint64_t now, const struct kbr_contact *from,
    uint8_t type, const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len);

/* Expires records and stale transfers, and maintains the replicas: for every key it holds,
 * a node sends the key's live records to the others of the r closest nodes it knows (and,
 * when it is no longer among them, hands them over), so that records follow the nodes
 * responsible for them as nodes join and leave. Returns the time it wants to be called
 * again. */
uint64_t dht_tick(struct dht *d, uint64_t now);

/* status 0: a majority of the asked replicas stored the record; otherwise -EIO with
 * `refused` the reason most replicas gave (DHT_OK if they just did not answer). */
typedef void (*dht_put_cb)(void *arg, int status, unsigned stored, unsigned asked,
    enum dht_reason refused);
/* Returns 0, -EINVAL (r does not verify now), -EBUSY (too many operations), -ENOMEM. */
int dht_put(struct dht *d, uint64_t now, const struct dht_record *r, dht_put_cb cb,
    void *arg);

/* Puts r like dht_put and keeps putting it again every republish period until it expires
 * or is unpublished, so that the owner's records come back even if every replica lost
 * them. A record for a slot already published replaces it (a tombstone too). cb reports
 * the first put only. Returns as dht_put, or -ENOSPC (DHT_MAX_PUBLISHED reached). */
int dht_publish(struct dht *d, uint64_t now, const struct dht_record *r, dht_put_cb cb,
    void *arg);
/* Stops re-publishing the slot of r (key, owner, kind, id). Returns 0 or -ENOENT. */
int dht_unpublish(struct dht *d, const struct dht_record *slot);
size_t dht_published_count(const struct dht *d);

/* status 0 with res (res->status tells found / empty / conflict / no answer). The result
 * lives until the callback returns. */
typedef void (*dht_get_cb)(void *arg, int status, const struct dht_vote_result *res);
int dht_get(struct dht *d, uint64_t now, const struct nodeid *key, dht_get_cb cb, void *arg);

struct dht_stats {
	uint64_t puts, puts_ok, gets, gets_found, gets_conflict;
	uint64_t gets_early;		/* decided before every replica answered */
	uint64_t stores_served, finds_served, repairs_sent, republished;
};
void dht_get_stats(const struct dht *d, struct dht_stats *st);

#endif
