/* Basic KBR types shared by the wire format, the routing table, lookups and the node core:
 * transport addresses (independent of sockets), contacts, and the overlay parameters. */
#ifndef P2PNS_KBR_TYPES_H
#define P2PNS_KBR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puzzle/nodeid.h"

enum kbr_family {
	KBR_AF_NONE = 0,
	KBR_AF_INET = 4,
	KBR_AF_INET6 = 6,
};

/* A UDP transport address. For KBR_AF_INET only ip[0..3] is used, the rest is zero. */
struct kbr_addr {
	uint8_t family;			/* enum kbr_family */
	uint8_t ip[16];			/* network byte order */
	uint16_t port;			/* host byte order */
};

bool kbr_addr_eq(const struct kbr_addr *a, const struct kbr_addr *b);
/* "1.2.3.4:5" or "[::1]:5"; out needs KBR_ADDR_STRLEN bytes. */
enum { KBR_ADDR_STRLEN = 48 };
void kbr_addr_format(const struct kbr_addr *a, char *out, size_t len);
/* Parses "1.2.3.4:5", "[v6]:5" (a port is required). Returns 0 or -EINVAL. */
int kbr_addr_parse(struct kbr_addr *out, const char *s);

/* A node known by ID and address. Times are milliseconds of the caller's clock. */
struct kbr_contact {
	struct nodeid id;
	struct kbr_addr addr;
	uint64_t first_seen;		/* first verified message from it */
	uint64_t last_seen;		/* last verified message from it */
	uint8_t fails;			/* RPC timeouts since it last answered */
};

/* Overlay parameters; kbr_params_default fills in the defaults in parentheses. */
struct kbr_params {
	unsigned k;			/* bucket size (16) */
	unsigned s;			/* siblings a lookup returns (16); sibling table holds 5*s */
	unsigned d;			/* disjoint lookup paths (4) */
	unsigned alpha;			/* RPCs in flight per path (3) */
	unsigned c1, c2;		/* puzzle difficulties (16, 20) */
	/* An RPC's first attempt waits the peer's round-trip timeout (RFC 6298: SRTT + 4
	 * RTTVAR; for a peer without one, the node's estimate over all peers; one SRTT more
	 * when a handshake comes first), never less than rpc_timeout_min_ms nor more than
	 * rpc_timeout_ms; each retry waits twice as long as the attempt before it. */
	unsigned rpc_timeout_ms;	/* ceiling, and the timeout before any round trip (1000) */
	unsigned rpc_timeout_min_ms;	/* floor (200) */
	unsigned rpc_retries;		/* extra attempts after a timeout (1) */
	unsigned max_fails;		/* timeouts before a contact is dropped (2) */
	unsigned replacements;		/* replacement cache per bucket (8) */
	unsigned refresh_ms;		/* bucket refresh and maintenance period (60000) */
	unsigned msg_window_ms;		/* accepted clock difference in handshake timestamps (30000) */
	unsigned rate_per_source;	/* datagrams per second from one IP address (200) */
	unsigned rate_total;		/* datagrams per second in all (5000) */
	unsigned rate_sources;		/* source addresses the rate limiter tracks (1024) */
	unsigned sessions;		/* sessions kept, least recently used evicted (1024) */
	unsigned halfopen;		/* handshakes awaiting confirmation; half full: cookies (256) */
	unsigned handshakes_per_source;	/* handshakes verified per second from one IP (50) */
	unsigned handshakes_total;	/* handshakes verified per second in all (1000) */
	unsigned rekey_ms;		/* a session's keys are renewed after this long (600000) */
	bool crypto;			/* sign, verify, encrypt (true); only simulators of
					 * large overlays switch it off */
};

enum {
	KBR_MAX_K = 64,
	KBR_MAX_S = 64,
	KBR_MAX_D = 16,
	KBR_MAX_ALPHA = 16,
	KBR_SIBLING_FACTOR = 5,
};

void kbr_params_default(struct kbr_params *p);
/* Returns 0 or -EINVAL when a parameter is out of its bounds. */
int kbr_params_check(const struct kbr_params *p);

/* Compares the XOR distances of a and b to target: <0 if a is closer, 0 if equal. */
int kbr_distance_cmp(const struct nodeid *target, const struct nodeid *a, const struct nodeid *b);
/* Common prefix length in bits of a and b (NODEID_BITS if equal). */
unsigned kbr_common_prefix(const struct nodeid *a, const struct nodeid *b);

#endif
