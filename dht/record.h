/* DHT records: what is stored under a key, signed by its owner so that nobody else can
 * change it. Encoding (all integers big-endian), in this order:
 *
 *   key (20)  kind (4)  id (4)  seq (8)  expiry (8, ms since the Unix epoch)  flags (1)
 *   owner public key (32)  [secret hash (20), if flags has DHT_REC_SECRET]
 *   value length (2)  value (at most DHT_MAX_VALUE)  signature (64)
 *
 * The Ed25519 signature is by the owner key over the string "p2pns-record-1" followed by
 * every byte before the signature. A record is decoded only if it is exact and complete. */
#ifndef P2PNS_DHT_RECORD_H
#define P2PNS_DHT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puzzle/identity.h"
#include "puzzle/nodeid.h"

enum {
	DHT_MAX_VALUE = 1024,
	DHT_MAX_TTL_MS = 7 * 24 * 3600 * 1000,	/* one week */
	DHT_CLOCK_SKEW_MS = 60 * 1000,		/* tolerated beyond the maximum TTL */
	DHT_REC_FIXED = NODEID_LEN + 4 + 4 + 8 + 8 + 1 + ID_PUBKEY_LEN + 2 + ID_SIG_LEN,
	DHT_REC_MAX = DHT_REC_FIXED + NODEID_LEN + DHT_MAX_VALUE,
};

#define DHT_SIG_DOMAIN "p2pns-record-1"

/* flags */
enum {
	DHT_REC_TOMBSTONE = 0x01,	/* removal of (key, owner, kind, id); value empty */
	DHT_REC_SECRET = 0x02,		/* carries the SHA-1 of a removal secret (Bamboo rm) */
	DHT_REC_FLAGS = 0x03,		/* every defined flag */
};

struct dht_record {
	struct nodeid key;
	uint32_t kind;			/* DNS RR type numbers: 1 A, 28 AAAA, 33 SRV, 55 HIP */
	uint32_t id;			/* tells several records of one kind apart */
	uint64_t seq;			/* higher replaces lower */
	uint64_t expiry;		/* ms since the Unix epoch */
	uint8_t flags;
	uint8_t owner[ID_PUBKEY_LEN];
	uint8_t secret_hash[NODEID_LEN];	/* if DHT_REC_SECRET */
	uint16_t value_len;
	uint8_t value[DHT_MAX_VALUE];
	uint8_t sig[ID_SIG_LEN];
};

/* Why a record was refused: carried in STORE answers, so keep the numbers stable. */
enum dht_reason {
	DHT_OK = 0,
	DHT_ERR_MALFORMED = 1,		/* lengths, flags, tombstone with a value */
	DHT_ERR_SIGNATURE = 2,		/* the owner's signature does not verify */
	DHT_ERR_EXPIRED = 3,		/* expiry at or before now */
	DHT_ERR_TTL = 4,		/* expiry beyond now + DHT_MAX_TTL_MS (+ skew) */
	DHT_ERR_TOO_BIG = 5,		/* value over DHT_MAX_VALUE */
	DHT_ERR_FOREIGN_OWNER = 6,	/* another key owns this DHT key */
	DHT_ERR_STALE = 7,		/* seq not higher than the stored one */
	DHT_ERR_QUOTA = 8,		/* per-owner record quota of this replica */
	DHT_ERR_RATE = 9,		/* too many STOREs from this source */
	DHT_ERR_FULL = 10,		/* the replica's storage is full */
	DHT_ERR_INTERNAL = 11,		/* storage failure */
};

const char *dht_reason_name(enum dht_reason r);

/* Signs r (all fields but sig) with ident, whose public key must be r->owner. */
int dht_record_sign(struct dht_record *r, const struct identity *ident);

/* Encodes r into buf. Returns the length, or -EMSGSIZE / -EINVAL. */
int dht_record_encode(const struct dht_record *r, uint8_t *buf, size_t len);
/* Decodes exactly len bytes. Returns 0 or -EBADMSG (also for an oversized value). */
int dht_record_decode(struct dht_record *r, const uint8_t *buf, size_t len);
/* Length of the encoding of r. */
size_t dht_record_size(const struct dht_record *r);

/* Checks one record on its own at time now: form, size, TTL bounds, expiry, signature.
 * Returns DHT_OK or the reason. */
enum dht_reason dht_record_verify(const struct dht_record *r, uint64_t now);
/* The same without the signature (for a record whose signature was checked already). */
enum dht_reason dht_record_check_time(const struct dht_record *r, uint64_t now);

/* Same (key, owner, kind, id): the slot a newer seq replaces. */
bool dht_record_same_slot(const struct dht_record *a, const struct dht_record *b);
/* Byte-identical (same fields and signature). */
bool dht_record_equal(const struct dht_record *a, const struct dht_record *b);

#endif
