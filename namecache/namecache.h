/* Name cache (sans-I/O): resolved names (records or a negative answer) and node addresses,
 * each table bounded in entries, least recently used first out, every entry with an expiry. */
#ifndef P2PNS_NAMECACHE_NAMECACHE_H
#define P2PNS_NAMECACHE_NAMECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"
#include "kbr/types.h"
#include "puzzle/nodeid.h"

enum {
	NC_MAX_RECORDS = 16,		/* records cached for one name */
	NC_MAX_ENTRIES = 1000000,	/* largest size of either table */
};

struct nc_table_stats {
	uint64_t hits;			/* live entry found (positive for names) */
	uint64_t negative_hits;		/* live negative entry found (names only) */
	uint64_t misses;		/* absent or expired */
	uint64_t evictions;		/* live entries pushed out by a full table */
	uint64_t expirations;		/* expired entries removed */
};

struct nc_stats {
	struct nc_table_stats names;
	struct nc_table_stats addrs;
};

struct namecache;

/* Times are milliseconds of the caller's clock; an entry is live while now < its expiry.
 * max_ttl_ms bounds the lifetime of every entry, positive or negative, and of addresses.
 * Returns NULL on bad arguments (a size of 0 or over NC_MAX_ENTRIES) or without memory. */
struct namecache *nc_new(size_t max_names, size_t max_addrs, uint64_t max_ttl_ms);
void nc_free(struct namecache *nc);

/* Caches copies of n (1..NC_MAX_RECORDS) records for key, replacing any entry, until
 * min(earliest record expiry, now + max_ttl_ms), max_ttl_ms itself bounded by the one given
 * to nc_new. Records that are already dead store nothing and drop the entry.
 * Returns 0, -EINVAL or -ENOMEM (the old entry stays). */
int nc_put_records(struct namecache *nc, uint64_t now, const struct nodeid *key,
    const struct dht_record *recs, size_t n, uint64_t max_ttl_ms);
/* Caches "not found" for key until now + min(ttl_ms, max_ttl_ms); a TTL of 0 drops the
 * entry. Returns 0, -EINVAL or -ENOMEM. */
int nc_put_negative(struct namecache *nc, uint64_t now, const struct nodeid *key,
    uint64_t ttl_ms);
/* Copies up to max records of a live entry to out and marks it most recently used.
 * Returns the number copied (0 with *negative set for a negative entry), -ENOENT if absent
 * or expired (an expired entry is removed), or -EINVAL. negative may be NULL. */
int nc_get_records(struct namecache *nc, uint64_t now, const struct nodeid *key,
    struct dht_record *out, size_t max, bool *negative);
/* Removes the entry of key, if any. */
void nc_invalidate(struct namecache *nc, const struct nodeid *key);

/* Caches addr for node id until now + min(ttl_ms, max_ttl_ms), replacing any entry; a TTL
 * of 0 drops the entry. Returns 0, -EINVAL or -ENOMEM. */
int nc_put_addr(struct namecache *nc, uint64_t now, const struct nodeid *id,
    const struct kbr_addr *addr, uint64_t ttl_ms);
/* Copies the live address of id to out. Returns 0, -ENOENT or -EINVAL. */
int nc_get_addr(struct namecache *nc, uint64_t now, const struct nodeid *id,
    struct kbr_addr *out);
void nc_invalidate_addr(struct namecache *nc, const struct nodeid *id);

void nc_get_stats(const struct namecache *nc, struct nc_stats *out);
/* Entries held, expired ones not yet removed included. */
size_t nc_count_names(const struct namecache *nc);
size_t nc_count_addrs(const struct namecache *nc);

#endif
