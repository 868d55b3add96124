/* Node IDs: 160-bit identifiers of the overlay's key space, SHA-1 into that space,
 * and the hex form used in files, logs and on the command line. */
#ifndef P2PNS_PUZZLE_NODEID_H
#define P2PNS_PUZZLE_NODEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	NODEID_LEN = 20,		/* bytes: SHA-1 output, Kademlia's ID space */
	NODEID_BITS = NODEID_LEN * 8,
	NODEID_HEX_LEN = NODEID_LEN * 2,
};

struct nodeid {
	uint8_t b[NODEID_LEN];
};

/* SHA-1 of data into out. Returns 0, or -EIO if the digest could not be computed. */
int nodeid_sha1(struct nodeid *out, const void *data, size_t len);

int nodeid_cmp(const struct nodeid *a, const struct nodeid *b);
bool nodeid_eq(const struct nodeid *a, const struct nodeid *b);
void nodeid_xor(struct nodeid *out, const struct nodeid *a, const struct nodeid *b);
/* Number of leading zero bits, 0..NODEID_BITS. */
unsigned nodeid_leading_zeros(const struct nodeid *id);

/* out must hold NODEID_HEX_LEN + 1 bytes; lower-case, NUL-terminated. */
void nodeid_to_hex(const struct nodeid *id, char *out);
/* Exactly NODEID_HEX_LEN hex digits (either case). Returns 0 or -EINVAL. */
int nodeid_from_hex(struct nodeid *out, const char *hex, size_t len);

/* Generic hex helpers. hex_encode writes 2*len digits and a NUL.
 * hex_decode needs exactly 2*outlen digits; returns 0 or -EINVAL. */
void hex_encode(char *out, const uint8_t *in, size_t len);
int hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen);

#endif
