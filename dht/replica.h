/* The replica side of the DHT: the rules a node applies before it keeps a record for
 * others, over a dht_store. A record is refused (with a dht_reason) unless it verifies on
 * its own, its key is not bound to another owner, its seq is higher than the slot's, and the
 * owner's and the source's quotas allow it.
 *
 * Ownership: the first valid record under a key binds the key to its owner for as long as
 * any record of that owner under the key (tombstones included) has not expired; records
 * signed by another key are refused meanwhile. A tombstone (DHT_REC_TOMBSTONE) with a higher
 * seq replaces the slot's record and is kept until its own expiry, so that older copies
 * cannot come back. */
#ifndef P2PNS_DHT_REPLICA_H
#define P2PNS_DHT_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"
#include "dht/store.h"

enum {
	DHT_MAX_PER_KEY = 64,		/* records under one key on one replica */
	DHT_OWNER_QUOTA = 256,		/* records of one owner on one replica */
	DHT_SOURCE_RATE = 50,		/* STOREs per second from one node (burst 2x) */
	DHT_SOURCES = 256,		/* sources the rate limiter tracks */
};

struct dht_replica;

struct dht_replica_limits {
	unsigned max_per_key;		/* DHT_MAX_PER_KEY */
	unsigned owner_quota;		/* DHT_OWNER_QUOTA */
	unsigned source_rate;		/* DHT_SOURCE_RATE */
};

void dht_replica_limits_default(struct dht_replica_limits *l);

/* The replica keeps its records in store (borrowed; it must outlive the replica). */
struct dht_replica *dht_replica_new(struct dht_store *store,
    const struct dht_replica_limits *l);
void dht_replica_free(struct dht_replica *rep);

/* A STORE of r from the node `source` at time now (NULL: from this node itself, which
 * the per-source rate does not limit). DHT_OK when r is now stored (durably,
 * if the store is) or was already stored byte for byte; otherwise the reason it was
 * refused, and nothing stored changed. */
enum dht_reason dht_replica_store(struct dht_replica *rep, uint64_t now,
    const struct nodeid *source, const struct dht_record *r);

/* The live (unexpired at now) records under key, tombstones included, up to max, in the
 * store's order. Returns how many, or a negative errno. */
int dht_replica_find(struct dht_replica *rep, uint64_t now, const struct nodeid *key,
    struct dht_record *out, size_t max);

/* Calls fn for every record held (expired ones too, which the caller may skip); fn must
 * not store or remove. Returns 0 or a negative errno. */
int dht_replica_foreach(struct dht_replica *rep,
    int (*fn)(void *arg, const struct dht_record *r), void *arg);

/* Removes the record in slot's (key, owner, kind, id) slot: a node hands over a record it
 * is no longer responsible for. Returns 0, -ENOENT or a negative errno. */
int dht_replica_drop(struct dht_replica *rep, const struct dht_record *slot);

/* Drops expired records. Returns how many, or a negative errno. */
long dht_replica_expire(struct dht_replica *rep, uint64_t now);

/* Counts for status output: records held, refusals by reason. */
size_t dht_replica_count(struct dht_replica *rep);
uint64_t dht_replica_refused(const struct dht_replica *rep, enum dht_reason why);

#endif
