/* Input guards of a KBR node, checked before any cryptography: token-bucket rate limits per
 * source address (charged first) and in total. Replays are the sessions' business. */
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
/* Takes one token from from's bucket, then one from the total; false: drop the datagram
 * (a datagram refused by its source's bucket costs the total nothing). */
bool kbr_ratelimit_allow(struct kbr_ratelimit *r, uint64_t now, const struct kbr_addr *from);
size_t kbr_ratelimit_memory(const struct kbr_ratelimit *r);

#endif
