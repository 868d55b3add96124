/* Sessions between nodes, sans-I/O: a signed 1-RTT handshake per peer (identity and puzzles
 * checked once), ephemeral X25519, HKDF-SHA256, then ChaCha20-Poly1305 on every datagram
 * with a receiver index, a counter and a replay window per session. The layouts are in
 * kbr/wire.h; doc/protocol.md tells the whole protocol, every check in order.
 *
 * What strangers can hold: a responder keeps nothing for a HELLO; for an HS_INIT it keeps
 * one entry in a bounded queue of half-open handshakes (never a peer slot, never an RPC);
 * under load it first asks for a cookie. A peer gets a session slot only once its first
 * sealed datagram proved that it holds the keys and receives at its address. Sessions are
 * kept per node ID, at most max_peers, the least recently used evicted.
 *
 * An address is trusted for a peer only after it proved that it receives: the address
 * the handshake ran over, or one that answered a CHALLENGE sealed in the session. A sealed
 * datagram from any other address is held (one per peer) until its challenge is answered. */
#ifndef P2PNS_KBR_SESSION_H
#define P2PNS_KBR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/rtt.h"
#include "kbr/types.h"
#include "puzzle/identity.h"

struct kbr_sessions;
struct kbr_stats;

struct kbr_session_cfg {
	unsigned c1, c2;		/* puzzle difficulties every peer must meet */
	unsigned window_ms;		/* HS_INIT timestamps accepted within +-window_ms */
	unsigned max_peers;		/* sessions kept (1024) */
	unsigned max_halfopen;		/* responder handshakes awaiting their first DATA (256) */
	unsigned hs_per_source;		/* handshakes verified per second from one IP (50) */
	unsigned hs_total;		/* handshakes verified per second in all (1000) */
	uint64_t rekey_after_ms;	/* a session is renewed after this long (600000) */
	uint64_t rekey_after_msgs;	/* or after this many sealed messages (2^30) */
	bool crypto;			/* false: no signatures, keys or encryption (simulators) */
};

enum {
	KBR_SESSION_QUEUE = 8,		/* messages waiting for a handshake, per peer */
	KBR_SESSION_HELLOS = 16,	/* addresses asked for their identity at a time */
	KBR_SESSION_MAX_PEERS = 1 << 18,
	KBR_SESSION_WINDOW = 256,	/* counters of the replay window */
	KBR_HS_RETRY_MS = 1000,		/* a send after this long restarts a handshake */
	KBR_HS_RESEND_MS = 400,		/* an unanswered HS_INIT goes again after this, */
	KBR_HS_RESENDS = 2,		/* then twice as long, this many times */
	KBR_HS_GIVEUP_MS = 10000,	/* an unanswered handshake (and its queue) is dropped */
	KBR_HALFOPEN_MS = 5000,		/* a half-open handshake waits this long for DATA */
	KBR_CHALLENGE_MS = 1000,	/* one address challenge per peer per this long */
	KBR_REKEY_GRACE_MS = 30000,	/* the responder renews this long after the initiator */
	KBR_REJECT_AFTER_MS_EXTRA = 120000,	/* a session unusable this long after rekey */
};

struct kbr_session_io {
	void *arg;
	void (*send)(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len);
	void (*random)(void *arg, void *buf, size_t len);
	/* A sealed message (type, tid, body; see kbr_wire_decode) from peer, whose address
	 * from has proven that it receives. */
	void (*deliver)(void *arg, uint64_t now, const struct nodeid *peer,
	    const struct kbr_addr *from, const uint8_t *msg, size_t len);
};

void kbr_session_cfg_default(struct kbr_session_cfg *c);

/* self is borrowed; stats is where the counters go (kbr's). NULL on bad parameters. */
struct kbr_sessions *kbr_sessions_new(const struct kbr_session_cfg *cfg,
    const struct identity *self, const struct kbr_session_io *io, struct kbr_stats *stats,
    uint64_t now);
/* Wipes every key. */
void kbr_sessions_free(struct kbr_sessions *s);

/* A datagram from `from` that passed the rate limits. Never fails: bad input is dropped
 * and counted. */
void kbr_session_input(struct kbr_sessions *s, uint64_t now, const uint8_t *buf, size_t len,
    const struct kbr_addr *from);

/* Sends a sealed message (kbr_wire_encode's) to the node peer at `to`; with peer NULL the
 * node at `to` is asked for its identity first. Without a session the message waits for
 * a handshake. Returns 0, -EMSGSIZE, -EINVAL, or -EBUSY/-ENOMEM (dropped). */
int kbr_session_send(struct kbr_sessions *s, uint64_t now, const struct nodeid *peer,
    const struct kbr_addr *to, const uint8_t *msg, size_t len);

/* A request to peer went unanswered: its next message goes in the current session and
 * again in a new handshake (the peer may have lost the session by restarting). The peer may
 * then get that message twice: requests are idempotent, and a second reply matches no RPC. */
void kbr_session_suspect(struct kbr_sessions *s, const struct nodeid *peer);

/* Expires handshakes, challenges and cookies. Returns the next time it has work. */
uint64_t kbr_session_tick(struct kbr_sessions *s, uint64_t now);

/* True when a session with peer can carry messages now. */
bool kbr_session_established(const struct kbr_sessions *s, const struct nodeid *peer,
    uint64_t now);
/* The round-trip estimate kept with peer's session state (it outlives rekeying and moves),
 * or NULL when the node keeps no state for peer. */
struct kbr_rtt *kbr_session_rtt(struct kbr_sessions *s, const struct nodeid *peer);
size_t kbr_sessions_count(const struct kbr_sessions *s);
size_t kbr_sessions_memory(const struct kbr_sessions *s);

#endif
