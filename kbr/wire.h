/* The KBR wire format: every message layout and limit. doc/protocol.md describes the same
 * bytes; keep the two in step. All integers are big-endian.
 *
 *   header   magic "P2PN" (4), version (1), type (1), flags (2, zero), transaction id (8),
 *            timestamp in ms since the Unix epoch (8), sender node ID (20), sender public
 *            key (32), sender dynamic-puzzle nonce (20), body length (2)    = 98 bytes
 *   body     type-specific, exactly body-length bytes
 *   trailer  auth type (1), auth length (2), auth data (auth length)
 *            type 1: Ed25519 signature (64) by the sender's key over every byte before
 *            the auth data (header, body, auth type and auth length)
 *            type 2: reserved for a session MAC, dropped for now
 *
 * A datagram is decoded only if it is complete and exact: no byte missing, none left over. */
#ifndef P2PNS_KBR_WIRE_H
#define P2PNS_KBR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/types.h"
#include "puzzle/identity.h"

#define KBR_MAGIC "P2PN"

enum {
	KBR_VERSION = 1,
	KBR_MAX_DATAGRAM = 1200,
	KBR_HEADER_LEN = 4 + 1 + 1 + 2 + 8 + 8 + NODEID_LEN + ID_PUBKEY_LEN + NODEID_LEN + 2,
	KBR_AUTH_ED25519 = 1,
	KBR_AUTH_MAC = 2,		/* reserved */
	KBR_TRAILER_LEN = 1 + 2 + ID_SIG_LEN,
	KBR_MAX_BODY = KBR_MAX_DATAGRAM - KBR_HEADER_LEN - KBR_TRAILER_LEN,
	KBR_MAX_NODES = 20,		/* contacts in one NODES reply */
	KBR_MAX_APP_BODY = KBR_MAX_BODY,
};

enum kbr_msg_type {
	KBR_PING = 1,			/* body empty */
	KBR_PONG = 2,			/* body: address the PING came from */
	KBR_FIND_NODE = 3,		/* body: target (20), count (1) */
	KBR_NODES = 4,			/* body: count (1), contacts */
	/* 5..15 are the DHT's (STORE, FIND_VALUE and replies); carried as opaque bodies */
	KBR_APP_MIN = 5,
	KBR_APP_MAX = 15,
};

/* Address on the wire: family (1: 4 or 6), address (4 or 16), port (2). */
enum { KBR_WIRE_ADDR4_LEN = 7, KBR_WIRE_ADDR6_LEN = 19 };

struct kbr_msg {
	uint8_t type;
	uint64_t tid;			/* a reply carries its request's */
	uint64_t timestamp;		/* ms since the Unix epoch */
	struct nodeid sender;
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid nonce;
	union {
		struct kbr_addr observed;		/* PONG */
		struct {
			struct nodeid target;
			uint8_t count;
		} find;					/* FIND_NODE */
		struct {
			uint8_t count;
			struct kbr_contact nodes[KBR_MAX_NODES];	/* id and addr only */
		} nodes;				/* NODES */
		struct {
			const uint8_t *data;		/* points into the datagram */
			size_t len;
		} app;					/* KBR_APP_MIN..KBR_APP_MAX */
	} u;
	/* set by kbr_wire_decode: what the signature covers, and the signature */
	const uint8_t *signed_part;
	size_t signed_len;
	const uint8_t *sig;
};

/* Builds and signs a datagram from m (type, tid, timestamp, body fields; sender, pub and
 * nonce are taken from self). Returns its length, or -EMSGSIZE, -EINVAL, -EIO. */
int kbr_wire_encode(const struct kbr_msg *m, const struct identity *self, uint8_t *buf,
    size_t buflen);
/* The same, but with sign false the signature is left zero (simulations without crypto). */
int kbr_wire_encode_opt(const struct kbr_msg *m, const struct identity *self, bool sign,
    uint8_t *buf, size_t buflen);

/* Parses a datagram: checks magic, version, lengths, field values and the trailer's form.
 * Does not verify the signature or the puzzles (kbr_wire_verify does). Returns 0, or
 * -EBADMSG for anything malformed, -EPROTONOSUPPORT for another version, -EMSGSIZE for a
 * datagram over KBR_MAX_DATAGRAM, -ENOTSUP for an unknown auth type. */
int kbr_wire_decode(struct kbr_msg *m, const uint8_t *buf, size_t len);

/* Checks that sender = SHA-1(pub), the puzzles for c1 and c2, and the Ed25519 signature.
 * Returns 0, -EKEYREJECTED (ID or puzzles) or -EBADMSG (signature). */
int kbr_wire_verify(const struct kbr_msg *m, unsigned c1, unsigned c2);
/* Only the signature. Returns 0 or -EBADMSG. */
int kbr_wire_verify_signature(const struct kbr_msg *m);

const char *kbr_msg_type_name(unsigned type);

#endif
