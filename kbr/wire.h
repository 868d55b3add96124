/* The KBR wire format, protocol version 2: every datagram layout and limit. doc/protocol.md
 * describes the same bytes; keep the two in step. All integers are big-endian.
 *
 * Every datagram starts with version (1, = 2), type (1) and two zero bytes. Then:
 *
 *   HELLO      sender index (4), zero padding (56)                                 64 bytes
 *   IDENTITY   receiver index (4), public key (32), dynamic-puzzle nonce (20)      60 bytes
 *   HS_INIT    sender index (4), responder node ID (20), initiator public key (32),
 *              nonce (20), ephemeral X25519 key (32), timestamp ms (8),
 *              Ed25519 signature (64), cookie (16)                                200 bytes
 *   HS_RESP    sender index (4), receiver index (4), responder public key (32),
 *              nonce (20), ephemeral X25519 key (32), Ed25519 signature (64)      160 bytes
 *   COOKIE     receiver index (4), cookie (16)                                     24 bytes
 *   DATA       receiver index (4), counter (8), sealed message, Poly1305 tag (16)
 *
 * An answer to an address that has not proven it receives is never larger than what came
 * from it: HELLO > IDENTITY, HS_INIT > HS_RESP > COOKIE. DATA flows only in sessions.
 *
 * A sealed message (the plaintext inside DATA) is: type (1), transaction id (8), body,
 * exactly as long as the ciphertext. kbr_wire_encode and kbr_wire_decode handle it; the
 * outer layouts are kbr/session.c's and kbr/cookie.c's. */
#ifndef P2PNS_KBR_WIRE_H
#define P2PNS_KBR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kbr/types.h"
#include "puzzle/identity.h"

enum {
	KBR_VERSION = 2,
	KBR_MAX_DATAGRAM = 1200,
	KBR_PREFIX_LEN = 4,		/* version, type, two zero bytes */
	KBR_INDEX_LEN = 4,
	KBR_EPH_LEN = 32,		/* X25519 public key */
	KBR_COOKIE_LEN = 16,
	KBR_TAG_LEN = 16,		/* Poly1305 */
	KBR_KEY_LEN = 32,		/* ChaCha20-Poly1305 key */

	KBR_HELLO_LEN = 64,
	KBR_IDENTITY_LEN = KBR_PREFIX_LEN + 4 + ID_PUBKEY_LEN + NODEID_LEN,
	/* the part of HS_INIT its signature covers, and the part hashed into the keys */
	KBR_INIT_SIGNED_LEN = KBR_PREFIX_LEN + 4 + NODEID_LEN + ID_PUBKEY_LEN + NODEID_LEN +
	    KBR_EPH_LEN + 8,
	KBR_INIT_HASHED_LEN = KBR_INIT_SIGNED_LEN + ID_SIG_LEN,
	KBR_INIT_LEN = KBR_INIT_HASHED_LEN + KBR_COOKIE_LEN,
	KBR_RESP_SIGNED_LEN = KBR_PREFIX_LEN + 4 + 4 + ID_PUBKEY_LEN + NODEID_LEN + KBR_EPH_LEN,
	KBR_RESP_LEN = KBR_RESP_SIGNED_LEN + ID_SIG_LEN,
	KBR_COOKIE_MSG_LEN = KBR_PREFIX_LEN + 4 + KBR_COOKIE_LEN,
	KBR_DATA_HEADER_LEN = KBR_PREFIX_LEN + 4 + 8,
	KBR_DATA_OVERHEAD = KBR_DATA_HEADER_LEN + KBR_TAG_LEN,

	KBR_MSG_HEADER_LEN = 1 + 8,	/* sealed message: type, transaction id */
	KBR_MAX_BODY = 1035,		/* the body of one sealed message */
	KBR_MAX_MSG = KBR_MSG_HEADER_LEN + KBR_MAX_BODY,
	KBR_MAX_NODES = 20,		/* contacts in one NODES reply */
	KBR_MAX_APP_BODY = KBR_MAX_BODY,
};

/* Outer datagram types (byte 1). */
enum kbr_packet_type {
	KBR_PKT_HELLO = 1,
	KBR_PKT_IDENTITY = 2,
	KBR_PKT_HS_INIT = 3,
	KBR_PKT_HS_RESP = 4,
	KBR_PKT_COOKIE = 5,
	KBR_PKT_DATA = 6,
};

/* Sealed message types. */
enum kbr_msg_type {
	KBR_KEEPALIVE = 0,		/* body empty; confirms a new session, nothing else */
	KBR_PING = 1,			/* body empty */
	KBR_PONG = 2,			/* body: address the PING came from */
	KBR_FIND_NODE = 3,		/* body: target (20), count (1) */
	KBR_NODES = 4,			/* body: count (1), contacts */
	/* 5..15 are the DHT's (STORE, FIND_VALUE and replies); carried as opaque bodies */
	KBR_APP_MIN = 5,
	KBR_APP_MAX = 15,
	KBR_CHALLENGE = 16,		/* body empty; the transaction id is the challenge */
	KBR_RESPONSE = 17,		/* body empty; the challenge's transaction id */
};

/* Address on the wire: family (1: 4 or 6), address (4 or 16), port (2). */
enum { KBR_WIRE_ADDR4_LEN = 7, KBR_WIRE_ADDR6_LEN = 19 };

struct kbr_msg {
	uint8_t type;
	uint64_t tid;			/* a reply carries its request's */
	struct nodeid sender;		/* set by the receiver: the session's peer */
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
			const uint8_t *data;		/* points into the message */
			size_t len;
		} app;					/* KBR_APP_MIN..KBR_APP_MAX */
	} u;
};

/* Writes the sealed-message plaintext of m. Returns its length, or -EMSGSIZE, -EINVAL. */
int kbr_wire_encode(const struct kbr_msg *m, uint8_t *buf, size_t buflen);

/* Parses a sealed-message plaintext: type known, exact lengths, field values in range.
 * Returns 0 or -EBADMSG. */
int kbr_wire_decode(struct kbr_msg *m, const uint8_t *buf, size_t len);

/* The outer type of a datagram whose length is exactly right for it (and whose version
 * and zero bytes are), else 0; -EPROTONOSUPPORT for another version. */
int kbr_wire_packet_type(const uint8_t *buf, size_t len);

/* The outer datagrams, decoded field by field (kbr_pkt_*_decode check the exact length). */
struct kbr_pkt_hello {
	uint32_t sender;
};

struct kbr_pkt_identity {
	uint32_t receiver;
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid nonce;
};

struct kbr_pkt_init {
	uint32_t sender;
	struct nodeid responder;
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid nonce;
	uint8_t eph[KBR_EPH_LEN];
	uint64_t timestamp;
	uint8_t sig[ID_SIG_LEN];
	uint8_t cookie[KBR_COOKIE_LEN];		/* zero: none */
};

struct kbr_pkt_resp {
	uint32_t sender, receiver;
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid nonce;
	uint8_t eph[KBR_EPH_LEN];
	uint8_t sig[ID_SIG_LEN];
};

struct kbr_pkt_cookie {
	uint32_t receiver;
	uint8_t cookie[KBR_COOKIE_LEN];
};

struct kbr_pkt_data {
	uint32_t receiver;
	uint64_t counter;
	const uint8_t *sealed;		/* ciphertext and tag, pointing into the datagram */
	size_t sealed_len;		/* ciphertext length + KBR_TAG_LEN */
};

/* Each writes exactly its datagram's length into buf (room for it is the caller's) and
 * returns that length. */
size_t kbr_pkt_hello_encode(const struct kbr_pkt_hello *p, uint8_t buf[KBR_HELLO_LEN]);
size_t kbr_pkt_identity_encode(const struct kbr_pkt_identity *p,
    uint8_t buf[KBR_IDENTITY_LEN]);
size_t kbr_pkt_init_encode(const struct kbr_pkt_init *p, uint8_t buf[KBR_INIT_LEN]);
size_t kbr_pkt_resp_encode(const struct kbr_pkt_resp *p, uint8_t buf[KBR_RESP_LEN]);
size_t kbr_pkt_cookie_encode(const struct kbr_pkt_cookie *p,
    uint8_t buf[KBR_COOKIE_MSG_LEN]);
/* The 16-byte DATA header; the sealed part follows it. */
size_t kbr_pkt_data_header(uint32_t receiver, uint64_t counter,
    uint8_t buf[KBR_DATA_HEADER_LEN]);

/* Each returns 0, or -EBADMSG when buf is not exactly such a datagram. */
int kbr_pkt_hello_decode(struct kbr_pkt_hello *p, const uint8_t *buf, size_t len);
int kbr_pkt_identity_decode(struct kbr_pkt_identity *p, const uint8_t *buf, size_t len);
int kbr_pkt_init_decode(struct kbr_pkt_init *p, const uint8_t *buf, size_t len);
int kbr_pkt_resp_decode(struct kbr_pkt_resp *p, const uint8_t *buf, size_t len);
int kbr_pkt_cookie_decode(struct kbr_pkt_cookie *p, const uint8_t *buf, size_t len);
int kbr_pkt_data_decode(struct kbr_pkt_data *p, const uint8_t *buf, size_t len);

const char *kbr_msg_type_name(unsigned type);

#endif
