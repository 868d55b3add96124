/* Shared by the fuzz harnesses and make_corpus: fixed identities, addresses, records and the
 * virtual clock of the harnesses, invariant checks, and the layouts of their structured inputs. */
#ifndef P2PNS_TESTS_FUZZ_COMMON_H
#define P2PNS_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"
#include "kbr/types.h"
#include "puzzle/identity.h"

/* Virtual start time of every harness: ms since the Unix epoch (November 2023). */
#define FUZZ_T0 UINT64_C(1700000000000)
/* The name every harness record is stored under (key = SHA-1 of it). */
#define FUZZ_NAME "fuzz.p2p"

enum {
	FUZZ_PEERS = 4,			/* remote nodes a harness plays, each at its own address */
	FUZZ_OWNERS = 3,		/* record owners */
	FUZZ_RECORDS = 2,		/* ready-signed records: a small and a two-chunk one */
	FUZZ_RECORD_TTL_MS = 3600 * 1000,
	FUZZ_BIG_VALUE = 1000,		/* value bytes of record 1 (over one STORE chunk) */
};

/* libFuzzer's entry points, which every harness defines (Initialize: fuzz_setup). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Makes the identities (c1 = c2 = 0, from fixed seeds) and records once; aborts on failure. */
void fuzz_setup(void);
const struct identity *fuzz_self(void);
const struct identity *fuzz_peer(unsigned i);
const struct identity *fuzz_owner(unsigned i);
/* Peer i's address: 192.0.2.1, 192.0.2.2, [2001:db8::3], 198.51.100.4, all port 3631. */
void fuzz_peer_addr(unsigned i, struct kbr_addr *out);
/* Peer i's second address, where it roams to: 192.0.2.1:50000 (a new port behind the same
 * NAT), 203.0.113.2, [2001:db8::1:3], 198.51.100.4:50003. */
void fuzz_alt_addr(unsigned i, struct kbr_addr *out);
/* Addresses nobody in a harness reads (a spoofer's victims): 203.0.113.66:53,
 * [2001:db8::66]:123, 192.0.2.99, 198.51.100.99. */
void fuzz_victim_addr(unsigned i, struct kbr_addr *out);
/* The address of the node under test: 192.0.2.10:3631. */
void fuzz_self_addr(struct kbr_addr *out);
/* Which peer's address (either of them) a is, or -1. */
int fuzz_peer_of(const struct kbr_addr *a);
/* Record i, signed by owner 0, expiring at FUZZ_T0 + FUZZ_RECORD_TTL_MS. */
const struct dht_record *fuzz_record(unsigned i);
/* Fills r with an unsigned record under SHA-1(FUZZ_NAME) for owner o (the caller signs). */
void fuzz_record_init(struct dht_record *r, unsigned o, uint32_t kind, uint32_t id,
    uint64_t seq, uint64_t expiry, const char *value);

/* A finding, like a sanitizer report: prints what did not hold and aborts. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* With FUZZ_TRACE set in the environment, prints a line to stderr (to follow one input). */
void fuzz_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A datagram as one trace line: type, length, index or counter. */
void fuzz_trace_dgram(const char *what, const struct kbr_addr *from, const struct kbr_addr *to,
    const uint8_t *buf, size_t len);

/* Deterministic randomness for kbr_io.random: splitmix64, reset for every input. */
struct fuzz_rng {
	uint64_t s;
};
void fuzz_random(void *arg, void *buf, size_t len);

/* Big-endian helpers for stamping fields into datagrams. */
void fuzz_put16(uint8_t *p, uint16_t v);
void fuzz_put64(uint8_t *p, uint64_t v);
uint64_t fuzz_get64(const uint8_t *p);

/*
 * fuzz_kbr_node and fuzz_kbr_node_crypto input: a setup byte (NODE_SETUP_*), then frames of
 * control (1, NODE_CTRL_*), length (2, big-endian) and a payload. Each frame first lets the
 * virtual time advance, then one of the four peers the harness plays (tests/fuzz/remote.h:
 * sessions of their own, which answer the node's handshakes by themselves) acts:
 *   SEAL  the payload is a sealed message (type, tid, body) the peer sends the node in its
 *         session, after a handshake if it has none: this is how inputs reach the handlers
 *         with crypto on as well as off;
 *   else  the payload is a datagram handed to kbr_input from the peer's address as it is,
 *         or made valid first by the peer (STAMP, see fuzz_remote_stamp).
 * Then the datagrams in flight are delivered and kbr_tick and dht_tick run.
 */
enum {
	NODE_SETUP_CONTACTS = 0x01,	/* peers 1..3 start in the routing table */
	NODE_SETUP_BOOTSTRAP = 0x02,	/* bootstrap PING to peer 0's address */
	NODE_SETUP_PUT = 0x04,		/* dht_put of a harness record */
	NODE_SETUP_GET = 0x08,		/* dht_get of its key */
	NODE_SETUP_LOOKUP = 0x10,	/* kbr_lookup_start of the key */
	NODE_SETUP_PUBLISH = 0x20,	/* dht_publish of the record (re-published later) */
	NODE_SETUP_HOLD = 0x40,		/* the node holds the record as a replica already */
	NODE_SETUP_BIG = 0x80,		/* the record is the two-chunk one */

	NODE_CTRL_PEER = 0x03,		/* the sender: peer i */
	NODE_CTRL_SEAL = 0x04,		/* the payload is a sealed message for the session */
	NODE_CTRL_ALT = 0x08,		/* the peer is at its second address from now on */
	NODE_CTRL_REPLY = 0x10,		/* stamp the tid of a request the node sent to peer i
					 * (the (first tid byte % 4)-th most recent one) */
	NODE_CTRL_STAMP = 0x20,		/* datagram: the peer makes it valid first */
	NODE_CTRL_RENEW = 0x20,		/* sealed message: the peer starts a new handshake */
	NODE_CTRL_WAIT_SHIFT = 6,	/* time advance first: 0, 100 ms, 1.5 s, 31 s */

	NODE_FRAME_HDR = 3,
	NODE_TIDS = 4,			/* requests remembered per peer */
};

/*
 * fuzz_kbr_session input: a setup byte (SESS_SETUP_*), then operations: an op byte (the
 * SESS_OP_* kind in the low three bits, SESS_OP_HOLD, an argument in the high four bits)
 * and the operation's bytes. The sessions under test (S) talk to the four peers of
 * tests/fuzz/remote.h over the datagram queue of tests/fuzz/net.h; after each operation
 * that queue is delivered (but for HOLD) and the invariants are checked.
 *
 * An address byte picks a source or destination (SESS_ADDR_*; only the low four bits
 * count); SESS_ADDR_GIVEN is followed by family (1: odd IPv6, even IPv4), 16 address bytes
 * (IPv4: the first 4) and the port (2).
 */
enum {
	SESS_SETUP_PLAIN = 0x01,	/* crypto off (only the bounds are checked then) */
	SESS_SETUP_PEERS_SHIFT = 1,	/* 2 bits: S keeps 2, 3, 5 or 64 sessions */
	SESS_SETUP_HALF_SHIFT = 3,	/* 2 bits: S keeps 2 << n half-open handshakes */
	SESS_SETUP_SLOW = 0x20,		/* one handshake per second per source, two in all */
	SESS_SETUP_REKEY = 0x40,	/* sessions renewed after 1 s or 4 messages */
	SESS_SETUP_ECHO = 0x80,		/* S's deliver callback answers odd types at once
					 * (type + 1, as kbr.c does); type % 4 == 3 also sends
					 * to a new node ID (a new session slot) */

	SESS_OP_RAW = 0,		/* address, length (2), datagram: into S from the address;
					 * arg: peer j (bits 0-1), bit 2: j stamps it first */
	SESS_OP_PEER = 1,		/* length (1), sealed message: peer j sends it to S;
					 * arg: j, bit 2: j is at its second address (else its
					 * first), bit 3: j asks for S's identity first (HELLO) */
	SESS_OP_SEND = 2,		/* address, whom (1), length (1), sealed message: S sends
					 * it; whom % 8: peer 0..3's ID, 4 none (HELLO), 5 S's
					 * own, 6 an ID nobody has, 7 an ID that follows (20) */
	SESS_OP_NET = 3,		/* arg bits 0-1: SESS_NET_*, bits 2-3: count 1, 2, 4, 64 */
	SESS_OP_TIME = 4,		/* steps (1): the clock advances (steps + 1) units, then
					 * every side ticks; arg bits 0-2: the unit (1 ms .. 10 min) */
	SESS_OP_SUSPECT = 5,		/* arg: j; bit 2: j suspects S, else S suspects j */
	SESS_OP_RESTART = 6,		/* arg: peer j loses its sessions (a restart) */
	SESS_OP_QUERY = 7,		/* kbr_session_established for every peer */
	SESS_OP_HOLD = 0x08,
	SESS_OP_ARG_SHIFT = 4,

	SESS_NET_DELIVER = 0,		/* deliver the first count datagrams in flight */
	SESS_NET_DROP = 1,		/* lose them */
	SESS_NET_SWAP = 2,		/* the (count)-th goes first */
	SESS_NET_REPLAY = 3,		/* index (1), address: S gets a datagram seen on the
					 * network again, from that address */

	SESS_ADDR_PEER = 0,		/* 0..3: peer j's address */
	SESS_ADDR_ALT = 4,		/* 4..7: peer j's second address */
	SESS_ADDR_VICTIM = 8,		/* 8..11: addresses nobody reads */
	SESS_ADDR_SELF = 12,		/* S's own */
	SESS_ADDR_GIVEN = 13,		/* 13..15: read from the input */
	SESS_ADDR_GIVEN_LEN = 19,

	SESS_MAX_OPS = 256,
};

/*
 * fuzz_dht_record input: items of control (1, REC_CTRL_*), length (2, big-endian) and a
 * record encoding; each item is decoded, checked and offered to the replica.
 */
enum {
	REC_CTRL_SOURCE = 0x03,		/* the STORE's source: 0 this node, else node i */
	REC_CTRL_RESIGN = 0x04,		/* sign with harness owner (owner[0] % FUZZ_OWNERS) */
	REC_CTRL_RELATIVE = 0x08,	/* expiry := now + expiry % (8 days) - 1 day */
	REC_CTRL_WAIT_SHIFT = 4,	/* time advance first: 0, 1 s, 1 h, 8 days */
	REC_CTRL_WAIT_MASK = 0x30,
	REC_CTRL_DROP = 0x40,		/* drop the record's slot instead of storing */
	REC_CTRL_EXPIRE = 0x80,		/* run the replica's expiry first */
	REC_ITEM_HDR = 3,
};

/*
 * fuzz_rpc input: a control byte, then request bodies separated by RPC_SEPARATOR (at most
 * RPC_MAX_INPUT_CALLS). Bit i of the control byte (i < 4): call i comes from a
 * non-loopback peer; RPC_CTRL_V6: peers are IPv6; bits 5-6: time advance between calls.
 */
#define RPC_SEPARATOR "\n----\n"
enum {
	RPC_MAX_INPUT_CALLS = 4,
	RPC_CTRL_V6 = 0x10,
	RPC_CTRL_WAIT_SHIFT = 5,	/* 0, 1 s, 1 h, 8 days */
};

/* fuzz_nss input: a mode letter, then the mode's text. */
enum {
	NSS_MODE_ANSWER = 'x',		/* an XML-RPC resolve answer */
	NSS_MODE_BASE64 = 'b',		/* base64 text */
	NSS_MODE_CONF = 'c',		/* an nss.conf file */
	NSS_MODE_URL = 'u',		/* a URL, then a name for the request */
};

#endif
