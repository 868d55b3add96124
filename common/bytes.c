/* Bounds-checked big-endian readers and writers for the wire formats. */
#include "common/bytes.h"

#include <string.h>

const uint8_t *
br_take(struct byte_reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t
br_uint(struct byte_reader *r, size_t n)
{
	const uint8_t *p = br_take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p != NULL && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

uint8_t
br_u8(struct byte_reader *r)
{
	return (uint8_t)br_uint(r, 1);
}

uint16_t
br_u16(struct byte_reader *r)
{
	return (uint16_t)br_uint(r, 2);
}

uint32_t
br_u32(struct byte_reader *r)
{
	return (uint32_t)br_uint(r, 4);
}

uint64_t
br_u64(struct byte_reader *r)
{
	return br_uint(r, 8);
}

void
br_bytes(struct byte_reader *r, void *out, size_t n)
{
	const uint8_t *p = br_take(r, n);

	if (p != NULL && n > 0)
		memcpy(out, p, n);
}

uint8_t *
bw_take(struct byte_writer *w, size_t n)
{
	uint8_t *p = w->p;

	if (w->full || n > w->left) {
		w->full = true;
		return NULL;
	}
	w->p += n;
	w->left -= n;
	return p;
}

static void
bw_uint(struct byte_writer *w, uint64_t v, size_t n)
{
	uint8_t *p = bw_take(w, n);

	for (size_t i = 0; p != NULL && i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void
bw_u8(struct byte_writer *w, uint8_t v)
{
	bw_uint(w, v, 1);
}

void
bw_u16(struct byte_writer *w, uint16_t v)
{
	bw_uint(w, v, 2);
}

void
bw_u32(struct byte_writer *w, uint32_t v)
{
	bw_uint(w, v, 4);
}

void
bw_u64(struct byte_writer *w, uint64_t v)
{
	bw_uint(w, v, 8);
}

void
bw_bytes(struct byte_writer *w, const void *data, size_t n)
{
	uint8_t *p = bw_take(w, n);

	if (p != NULL && n > 0)
		memcpy(p, data, n);
}
