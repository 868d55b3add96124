/* The routing table of secure Kademlia: k-buckets that split when the bucket covering the
 * own ID overflows, a sibling table holding the 5*s nodes closest to the own ID, and a
 * replacement cache per bucket. Long-lived contacts are kept: a full bucket does not take a
 * new node, it asks the caller to ping its least recently seen entry and keeps the newcomer
 * as a replacement. Only contacts whose identity and address a session proved may be given
 * to kbr_table_update; the table itself never sends anything. */
#ifndef P2PNS_KBR_TABLE_H
#define P2PNS_KBR_TABLE_H

#include "kbr/types.h"

struct kbr_table;

enum kbr_table_result {
	KBR_TABLE_ADDED = 1,		/* new contact, in a bucket or the sibling table */
	KBR_TABLE_UPDATED,		/* known contact: last_seen (and address) updated */
	KBR_TABLE_PENDING,		/* bucket full: kept as replacement; *stale should be pinged */
	KBR_TABLE_CACHED,		/* bucket full, its oldest entry was pinged recently: kept as replacement */
	KBR_TABLE_SELF,			/* the own ID: ignored */
};

/* k, s and replacements are taken from p. Returns NULL on allocation failure. */
struct kbr_table *kbr_table_new(const struct nodeid *self, const struct kbr_params *p);
void kbr_table_free(struct kbr_table *t);

/* A verified message came from (id, addr) at time now (ms). Adds or refreshes the contact;
 * a known contact's address is replaced by addr (ID/locator split) and its fails reset.
 * Returns an enum kbr_table_result, or -ENOMEM. For KBR_TABLE_PENDING, *stale (if not NULL)
 * receives the bucket's least recently seen entry, which the caller should ping and report
 * with kbr_table_failed when the ping times out. */
int kbr_table_update(struct kbr_table *t, const struct nodeid *id, const struct kbr_addr *addr,
    uint64_t now, struct kbr_contact *stale);

/* Whether an unknown id would get a place of its own (in the sibling table or a bucket
 * with room, or the last bucket, which splits) rather than only a replacement slot.
 * False for known IDs and self. Lets a node skip checking strangers it would not keep. */
bool kbr_table_has_room(const struct kbr_table *t, const struct nodeid *id);

/* An RPC to id timed out. After max_fails consecutive failures the contact is removed and
 * the most recently seen replacement of its bucket (if any) takes its place.
 * Returns 1 if the contact was removed, 0 if only counted, -ENOENT if unknown. */
int kbr_table_failed(struct kbr_table *t, const struct nodeid *id, unsigned max_fails);

/* Removes a contact (from a bucket, the sibling table or a replacement cache).
 * Returns 0 or -ENOENT. */
int kbr_table_remove(struct kbr_table *t, const struct nodeid *id);

/* Copies the contact with this ID (not replacements). Returns 0 or -ENOENT. */
int kbr_table_find(const struct kbr_table *t, const struct nodeid *id, struct kbr_contact *out);

/* The up to max contacts closest to target (siblings and buckets, not replacements),
 * closest first. Returns how many were written. */
size_t kbr_table_closest(const struct kbr_table *t, const struct nodeid *target,
    struct kbr_contact *out, size_t max);

/* Number of contacts in buckets and sibling table (not replacements). */
size_t kbr_table_size(const struct kbr_table *t);
size_t kbr_table_sibling_count(const struct kbr_table *t);
unsigned kbr_table_bucket_count(const struct kbr_table *t);
/* Entries of bucket i (0 = farthest, covering IDs whose first bit differs from self). */
size_t kbr_table_bucket_size(const struct kbr_table *t, unsigned i);
size_t kbr_table_replacement_count(const struct kbr_table *t, unsigned i);

/* Calls fn for every contact (siblings, then buckets; not replacements). */
void kbr_table_foreach(const struct kbr_table *t,
    void (*fn)(void *arg, const struct kbr_contact *c), void *arg);

/* The bucket index a contact with this ID belongs to (given the current splits). */
unsigned kbr_table_bucket_of(const struct kbr_table *t, const struct nodeid *id);
/* Oldest last_seen in bucket i, 0 when empty: drives bucket refreshes. */
uint64_t kbr_table_bucket_last_seen(const struct kbr_table *t, unsigned i);
/* A random ID inside bucket i's range, from 20 random bytes rnd. */
void kbr_table_bucket_random_id(const struct kbr_table *t, unsigned i, const uint8_t *rnd,
    struct nodeid *out);

#endif
