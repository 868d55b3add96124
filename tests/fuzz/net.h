/* The harnesses' network: the datagrams in flight between the node under test and the
 * peers a harness plays, in a bounded queue whose order an input may change, and the latest
 * ones kept for replays. */
#ifndef P2PNS_TESTS_FUZZ_NET_H
#define P2PNS_TESTS_FUZZ_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/types.h"
#include "kbr/wire.h"

enum {
	FUZZ_NET_QUEUE = 64,		/* in flight; more are lost */
	FUZZ_NET_SEEN = 16,		/* kept for replays */
};

struct fuzz_dgram {
	struct kbr_addr from, to;
	size_t len;
	uint8_t b[KBR_MAX_DATAGRAM];
};

struct fuzz_net {
	struct fuzz_dgram q[FUZZ_NET_QUEUE];
	unsigned head, n;
	struct fuzz_dgram seen[FUZZ_NET_SEEN];
	unsigned pushed;		/* in all; the latest is seen[(pushed - 1) % SEEN] */
	unsigned lost;
};

void fuzz_net_init(struct fuzz_net *n);
/* Queues a datagram (at most KBR_MAX_DATAGRAM bytes: anything sent must fit). */
void fuzz_net_push(struct fuzz_net *n, const struct kbr_addr *from, const struct kbr_addr *to,
    const uint8_t *buf, size_t len);
/* Takes the first datagram in flight into out; false when there is none. */
bool fuzz_net_pop(struct fuzz_net *n, struct fuzz_dgram *out);
/* Loses the first k datagrams in flight. */
void fuzz_net_drop(struct fuzz_net *n, unsigned k);
/* Swaps the (k % in flight)-th datagram with the first. */
void fuzz_net_swap(struct fuzz_net *n, unsigned k);
/* One of the latest datagrams pushed (pick % how many are kept), or NULL before the first. */
const struct fuzz_dgram *fuzz_net_seen(const struct fuzz_net *n, unsigned pick);

#endif
