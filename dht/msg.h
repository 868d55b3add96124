/* The DHT's messages, carried by the KBR as application messages (kbr_app_request). A
 * record can be larger than one datagram holds, so both directions move byte streams in
 * chunks (all integers big-endian):
 *
 *   STORE (5)         transfer (4) total (2) offset (2) chunk       one record's encoding
 *   STORE_ANSWER (6)  transfer (4) status (1) next (2)
 *                     status 0: stored; 1..11: refused, a dht_reason; 255: chunk taken,
 *                     send the one at offset `next`
 *   FIND_VALUE (7)    key (20) offset (4)
 *   VALUE (8)         total (4) version (4) offset (4) chunk
 *                     the stream of the live records under the key, each as length (2)
 *                     and encoding; version = first 4 bytes of SHA-1(stream), so that a
 *                     stream that changed between two chunks is noticed
 *
 * Chunks are never empty (except the VALUE of an empty stream) and never run past total. */
#ifndef P2PNS_DHT_MSG_H
#define P2PNS_DHT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "dht/record.h"
#include "dht/replica.h"
#include "kbr/wire.h"

enum dht_msg_type {
	DHT_STORE = 5,
	DHT_STORE_ANSWER = 6,
	DHT_FIND_VALUE = 7,
	DHT_VALUE = 8,
};

enum {
	DHT_STORE_HDR = 8,
	DHT_STORE_CHUNK = KBR_MAX_APP_BODY - DHT_STORE_HDR,
	DHT_STORE_ANSWER_LEN = 7,
	DHT_STORE_PART = 255,		/* status: chunk taken, more to come */
	DHT_FIND_LEN = NODEID_LEN + 4,
	DHT_VALUE_HDR = 12,
	DHT_VALUE_CHUNK = KBR_MAX_APP_BODY - DHT_VALUE_HDR,
	/* the largest VALUE stream: a full key */
	DHT_STREAM_MAX = DHT_MAX_PER_KEY * (2 + DHT_REC_MAX),
};

struct dht_store_msg {
	uint32_t transfer;
	uint16_t total, offset;
	const uint8_t *chunk;
	size_t len;
};

struct dht_store_answer {
	uint32_t transfer;
	uint8_t status;
	uint16_t next;
};

struct dht_find_msg {
	struct nodeid key;
	uint32_t offset;
};

struct dht_value_msg {
	uint32_t total, version, offset;
	const uint8_t *chunk;
	size_t len;
};

/* Encoders return the body length or -EINVAL / -EMSGSIZE; decoders 0 or -EBADMSG. */
int dht_msg_store_encode(const struct dht_store_msg *m, uint8_t *buf, size_t len);
int dht_msg_store_decode(struct dht_store_msg *m, const uint8_t *buf, size_t len);
int dht_msg_store_answer_encode(const struct dht_store_answer *m, uint8_t *buf, size_t len);
int dht_msg_store_answer_decode(struct dht_store_answer *m, const uint8_t *buf, size_t len);
int dht_msg_find_encode(const struct dht_find_msg *m, uint8_t *buf, size_t len);
int dht_msg_find_decode(struct dht_find_msg *m, const uint8_t *buf, size_t len);
int dht_msg_value_encode(const struct dht_value_msg *m, uint8_t *buf, size_t len);
int dht_msg_value_decode(struct dht_value_msg *m, const uint8_t *buf, size_t len);

/* Builds the VALUE stream of n records into buf (at most len bytes). Returns its length
 * or -EMSGSIZE. */
long dht_stream_build(const struct dht_record *recs, size_t n, uint8_t *buf, size_t len);
uint32_t dht_stream_version(const uint8_t *stream, size_t len);
/* Parses a complete stream into at most max records (decoding each; a record that does not
 * decode makes the whole stream invalid). Returns how many, or -EBADMSG. */
int dht_stream_parse(const uint8_t *stream, size_t len, struct dht_record *out, size_t max);

#endif
