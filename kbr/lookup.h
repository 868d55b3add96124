/* Iterative lookups over d disjoint paths (S/Kademlia). The lookup object only decides whom
 * to ask next and when it is done; the caller sends the RPCs, handles timeouts and retries
 * and reports back. The k closest initial contacts are dealt round-robin into d paths; each
 * path keeps up to alpha RPCs in flight to its closest unqueried candidates; a node is
 * queried by at most one path (a node another path already claimed is skipped).
 *
 * A lookup wants `want` results (s unless kbr_lookup_want says fewer). A path's window is
 * its closest candidates that neither failed nor are slow: want / d of them (rounded up, at
 * most k) but at least alpha + 1, so that it always has a candidate beyond those it asks at
 * once; and it reaches as far as the want closest candidates of the whole lookup reach into
 * the path, so that all of them are asked (a node claimed by one path is never asked by
 * another). A path ends when every candidate of its window has answered and nothing closer is
 * pending: no candidate of the window in flight, no slow one waited for closer than its
 * end. A candidate that had its soft timeout (kbr_lookup_slow) gives its slot to the next
 * one (the window reaches one further) but may still answer; it counts when it does, and
 * stops being waited for when it fails. The lookup ends when every path has ended (or, when one result
 * is wanted, as soon as the node whose ID is the target answered: nothing is closer); its
 * result is the merge of the paths: the up-to-s closest nodes that answered, over all
 * paths. */
#ifndef P2PNS_KBR_LOOKUP_H
#define P2PNS_KBR_LOOKUP_H

#include "kbr/types.h"

struct kbr_lookup;

/* One RPC the lookup wants sent: ask contact for the nodes closest to the target. */
struct kbr_lookup_query {
	unsigned path;
	struct kbr_contact contact;
};

enum {
	KBR_LOOKUP_MAX_CANDIDATES = 4 * KBR_MAX_K,	/* per path */
};

/* target; p gives k, s, d, alpha; self (may be NULL) is never queried nor returned.
 * initial: contacts from the routing table, any order. Returns NULL on bad parameters
 * or allocation failure. With no initial contacts the lookup is done at once. */
struct kbr_lookup *kbr_lookup_new(const struct nodeid *target, const struct kbr_params *p,
    const struct nodeid *self, const struct kbr_contact *initial, size_t n);
void kbr_lookup_free(struct kbr_lookup *l);
/* The results the caller needs, 1..s (a DHT operation: its r replicas); before the first
 * kbr_lookup_next. Returns 0 or -EINVAL. */
int kbr_lookup_want(struct kbr_lookup *l, unsigned want);
/* Sets the window itself (1..KBR_LOOKUP_MAX_CANDIDATES; a join asks k per path). */
int kbr_lookup_window(struct kbr_lookup *l, unsigned window);

/* Fills out with up to max queries to send now (and marks them in flight). */
size_t kbr_lookup_next(struct kbr_lookup *l, struct kbr_lookup_query *out, size_t max);

/* The node id, queried by path, answered with these contacts (hints, unverified).
 * A reply from a node not in flight on that path is ignored (returns -ENOENT).
 * A contact that is already a candidate but named at another address may have moved:
 * if its RPC fails (or failed), the path that owns it asks it once more at that address. */
int kbr_lookup_reply(struct kbr_lookup *l, unsigned path, const struct nodeid *id,
    const struct kbr_contact *contacts, size_t n);
/* The node id, in flight on path, answered from addr, an address its session proved: the
 * result gives it there, not where it was asked (it may have moved since it was named).
 * Call it before kbr_lookup_reply. Returns 0, or -ENOENT as kbr_lookup_reply would. */
int kbr_lookup_answered_from(struct kbr_lookup *l, unsigned path, const struct nodeid *id,
    const struct kbr_addr *addr);
/* The RPC to id on path failed for good (after the caller's retries). */
int kbr_lookup_failed(struct kbr_lookup *l, unsigned path, const struct nodeid *id);
/* The RPC to id on path had its soft timeout: its slot goes to the next candidate, and its
 * answer (kbr_lookup_reply) still counts if one comes. wait: the path does not end while
 * it may still answer (a peer that proved itself, whose request or answer may have been
 * lost); otherwise it is not waited for (a node only heard of, most likely gone), unless
 * it is the node whose ID is the target. */
int kbr_lookup_slow(struct kbr_lookup *l, unsigned path, const struct nodeid *id, bool wait);

/* True when every path has ended (no candidate left to ask, nothing in flight). */
bool kbr_lookup_done(const struct kbr_lookup *l);

/* The up to max closest nodes that answered, closest first. Returns how many. */
size_t kbr_lookup_result(const struct kbr_lookup *l, struct kbr_contact *out, size_t max);

/* Statistics: RPCs issued, replies, failures, soft timeouts, and hops: the number of sequential steps
 * that led to the closest node that answered (an initial contact is 1 hop away, a node
 * learned from an n-hop node's reply n + 1), 0 if none answered. */
struct kbr_lookup_stats {
	unsigned queries, replies, failures;
	unsigned slow;			/* soft timeouts */
	unsigned hops;
};
void kbr_lookup_stats(const struct kbr_lookup *l, struct kbr_lookup_stats *st);
const struct nodeid *kbr_lookup_target(const struct kbr_lookup *l);

#endif
