/* Input guards of a KBR node, checked before any signature: token-bucket rate limits per
 * source address and in total, and the cache of requests already accepted (replays). */
#ifndef P2PNS_KBR_GUARD_H
#define P2PNS_KBR_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/types.h"

struct kbr_rate_source;

struct kbr_ratelimit {
	unsigned per_source, total;		/* datagrams per second; bursts of twice that */
	unsigned nsources;			/* sources tracked (least recently used replaced) */
	struct kbr_rate_source *src;		/* allocated on first use */
	uint64_t total_tokens_milli;
	uint64_t total_last;
};

void kbr_ratelimit_init(struct kbr_ratelimit *r, unsigned per_source, unsigned total,
    unsigned nsources);
void kbr_ratelimit_free(struct kbr_ratelimit *r);
/* Takes one token from the total and from from's bucket; false: drop the datagram. */
bool kbr_ratelimit_allow(struct kbr_ratelimit *r, uint64_t now, const struct kbr_addr *from);
size_t kbr_ratelimit_memory(const struct kbr_ratelimit *r);

/* Open addressing over (key, expiry); key 0 marks an empty slot. */
struct kbr_replay {
	uint64_t *key, *exp;
	size_t cap, n;
	size_t max;				/* live entries at most */
};

void kbr_replay_init(struct kbr_replay *c, size_t max);
void kbr_replay_free(struct kbr_replay *c);
uint64_t kbr_replay_key(const struct nodeid *sender, uint64_t tid);
/* True if key was inserted and has not expired by now. */
bool kbr_replay_seen(const struct kbr_replay *c, uint64_t key, uint64_t now);
/* Remembers key until exp. Returns 0, -EBUSY when max live entries are held (the request
 * must be refused rather than an entry forgotten early) or -ENOMEM. */
int kbr_replay_insert(struct kbr_replay *c, uint64_t key, uint64_t exp, uint64_t now);
/* Drops expired entries and shrinks the table when it is mostly empty. */
void kbr_replay_purge(struct kbr_replay *c, uint64_t now);
size_t kbr_replay_memory(const struct kbr_replay *c);

#endif
