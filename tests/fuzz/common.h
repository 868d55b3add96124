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
/* Which peer's address a is, or -1. */
int fuzz_peer_of(const struct kbr_addr *a);
/* Record i, signed by owner 0, expiring at FUZZ_T0 + FUZZ_RECORD_TTL_MS. */
const struct dht_record *fuzz_record(unsigned i);
/* Fills r with an unsigned record under SHA-1(FUZZ_NAME) for owner o (the caller signs). */
void fuzz_record_init(struct dht_record *r, unsigned o, uint32_t kind, uint32_t id,
    uint64_t seq, uint64_t expiry, const char *value);

/* A finding, like a sanitizer report: prints what did not hold and aborts. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

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
 * control (1, NODE_CTRL_*), length (2, big-endian) and a datagram. Each frame first lets the
 * virtual time advance, then hands the datagram (after the stamps its control asks for) to
 * kbr_input from peer i's address, then runs kbr_tick and dht_tick.
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
	NODE_CTRL_FRAME = 0x04,		/* stamp magic, version, flags, peer i's ID, key and
					 * nonce, the body length and the trailer's header */
	NODE_CTRL_TIME = 0x08,		/* stamp the current time as the timestamp */
	NODE_CTRL_REPLY = 0x10,		/* stamp the tid of a request the node sent to peer i:
					 * the (first tid byte % 4)-th most recent one */
	NODE_CTRL_SIGN = 0x20,		/* crypto target: sign with peer i's key */
	NODE_CTRL_WAIT_SHIFT = 6,	/* time advance first: 0, 100 ms, 1.5 s, 31 s */

	NODE_FRAME_HDR = 3,
	NODE_TIDS = 4,			/* requests remembered per peer */
};

/* Datagram offsets of the stamped header fields (kbr/wire.h). */
enum {
	WIRE_OFF_TYPE = 5,
	WIRE_OFF_TID = 8,
	WIRE_OFF_TIME = 16,
	WIRE_OFF_SENDER = 24,
	WIRE_OFF_PUB = 44,
	WIRE_OFF_NONCE = 76,
	WIRE_OFF_BODYLEN = 96,
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
