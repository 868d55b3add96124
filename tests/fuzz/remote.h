/* The peers the session and node harnesses play: each a kbr_sessions of its own under one of
 * the fixed peer identities, at two addresses, talking to the node under test over a
 * fuzz_net. It answers the node's HELLOs and handshakes by itself, so that an input only
 * has to say what the peer sends; and what it reads from the node (its indices, the hash of
 * its HS_INIT, cookies) lets it make hand-made datagrams valid (fuzz_remote_stamp). */
#ifndef P2PNS_TESTS_FUZZ_REMOTE_H
#define P2PNS_TESTS_FUZZ_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/kbr.h"
#include "kbr/session.h"
#include "kbr/suite.h"
#include "kbr/wire.h"
#include "tests/fuzz/common.h"
#include "tests/fuzz/net.h"

struct fuzz_remote;

/* A sealed message the remote opened: from the node `peer` (its ID as the handshake
 * proved it), which sent it from `from`. */
typedef void (*fuzz_remote_deliver_fn)(void *arg, struct fuzz_remote *r, uint64_t now,
    const struct nodeid *peer, const struct kbr_addr *from, const uint8_t *msg, size_t len);

struct fuzz_remote {
	unsigned i;			/* fuzz_peer(i) */
	struct kbr_addr addr[2];	/* fuzz_peer_addr(i), fuzz_alt_addr(i) */
	unsigned src;			/* which of them it sends from */
	struct kbr_addr node_addr;
	struct nodeid node_id;
	struct kbr_session_cfg cfg;
	struct kbr_sessions *sess;
	struct kbr_stats st;
	struct fuzz_rng rng;
	struct fuzz_net *net;
	fuzz_remote_deliver_fn deliver;	/* may be NULL */
	void *arg;
	/* learned from what the node sent to either address */
	uint32_t hello_index;		/* its latest HELLO's sender index */
	uint32_t init_index;		/* its latest HS_INIT's sender index */
	uint8_t init_hash[SUITE_SHA256_LEN];	/* and that HS_INIT's H */
	uint32_t sess_index;		/* its index of the latest session with us */
	uint8_t cookie[2][KBR_COOKIE_LEN];	/* per address */
	bool have_hello, have_init, have_sess, have_cookie[2];
};

/* Remote i of node `node` at node_addr, its sessions made with cfg (c1, c2 and crypto as the
 * node's). Aborts on failure. */
void fuzz_remote_init(struct fuzz_remote *r, unsigned i, const struct kbr_session_cfg *cfg,
    struct fuzz_net *net, const struct nodeid *node, const struct kbr_addr *node_addr,
    uint64_t now);
void fuzz_remote_free(struct fuzz_remote *r);
/* The remote loses every session (a restart); what it learned stays. */
void fuzz_remote_restart(struct fuzz_remote *r, uint64_t now);
/* A datagram of the network that went to one of the remote's addresses. */
void fuzz_remote_read(struct fuzz_remote *r, uint64_t now, const struct fuzz_dgram *d);
/* The remote sends the node a sealed message (hello: asking for its identity first).
 * Returns kbr_session_send's result. */
int fuzz_remote_send(struct fuzz_remote *r, uint64_t now, bool hello, const uint8_t *msg,
    size_t len);
/* Makes buf (len bytes, room for KBR_MAX_DATAGRAM) a valid datagram of the type in its
 * second byte, as the remote would send it from addr[slot]: version and reserved bytes,
 * the type's length (padded with zeros or cut), the remote's key and nonce, the indices,
 * hash and cookie it learned, the current time, its signature; DATA gets the node's
 * session index (its counter and sealed part stay; with crypto off that is a plaintext
 * DATA, its tag ignored). Other types are left alone. Returns the new length. */
size_t fuzz_remote_stamp(const struct fuzz_remote *r, uint64_t now, unsigned slot,
    uint8_t *buf, size_t len);

#endif
