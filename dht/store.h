/* Where a node keeps the records it holds as a replica: a small interface with two
 * backends, LMDB (the daemon: crash-safe, every put durable before it returns) and memory
 * (the simulator, unit tests). The store only keeps what it is given; the rules (owners,
 * sequence numbers, quotas) are the DHT's, in dht/replica.c. */
#ifndef P2PNS_DHT_STORE_H
#define P2PNS_DHT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"

struct dht_store;

struct dht_store_ops {
	/* Inserts or replaces the record of the same (key, owner, kind, id) slot. Durable
	 * when it returns 0 (LMDB: committed). -ENOSPC when the store or its disk is full. */
	int (*put)(struct dht_store *s, const struct dht_record *r);
	/* Calls fn for every record under key (any owner), in a stable order; stops early
	 * if fn returns non-zero. Returns 0 or a negative errno. */
	int (*get)(struct dht_store *s, const struct nodeid *key,
	    int (*fn)(void *arg, const struct dht_record *r), void *arg);
	/* Removes the slot's record. Returns 0 or -ENOENT. */
	int (*del)(struct dht_store *s, const struct dht_record *slot);
	/* Calls fn for every record (for maintenance and expiry); fn must not modify the
	 * store. Stops early if fn returns non-zero. */
	int (*foreach)(struct dht_store *s,
	    int (*fn)(void *arg, const struct dht_record *r), void *arg);
	/* Deletes every record whose expiry is at or before now; returns how many, or a
	 * negative errno. */
	long (*expire)(struct dht_store *s, uint64_t now);
	/* Number of records. */
	size_t (*count)(struct dht_store *s);
	void (*close)(struct dht_store *s);
};

struct dht_store {
	const struct dht_store_ops *ops;
};

/* A store in memory, holding at most max_records records (then put gives -ENOSPC). */
struct dht_store *dht_store_mem_new(size_t max_records);
/* An LMDB environment in directory dir (created if missing, mode 0700), at most max_bytes
 * big (the map size; a full map or disk gives -ENOSPC and leaves the stored records intact).
 * Returns NULL and sets *err on failure. */
struct dht_store *dht_store_lmdb_open(const char *dir, size_t max_bytes, int *err);

#endif
