/* Bounds-checked reading and writing of big-endian wire formats. A reader or writer that
 * runs out of room marks itself bad (or full) and every later call is a no-op, so a decoder
 * checks once at the end instead of after every field. */
#ifndef P2PNS_COMMON_BYTES_H
#define P2PNS_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct byte_reader {
	const uint8_t *p;
	size_t left;
	bool bad;
};

struct byte_writer {
	uint8_t *p;
	size_t left;
	bool full;
};

/* The next n bytes, or NULL (and bad) if fewer are left. */
const uint8_t *br_take(struct byte_reader *r, size_t n);
uint8_t br_u8(struct byte_reader *r);
uint16_t br_u16(struct byte_reader *r);
uint32_t br_u32(struct byte_reader *r);
uint64_t br_u64(struct byte_reader *r);
void br_bytes(struct byte_reader *r, void *out, size_t n);

/* Room for the next n bytes, or NULL (and full) if there is not enough. */
uint8_t *bw_take(struct byte_writer *w, size_t n);
void bw_u8(struct byte_writer *w, uint8_t v);
void bw_u16(struct byte_writer *w, uint16_t v);
void bw_u32(struct byte_writer *w, uint32_t v);
void bw_u64(struct byte_writer *w, uint64_t v);
void bw_bytes(struct byte_writer *w, const void *data, size_t n);

#endif
