/* The DHT's message bodies (STORE, STORE_ANSWER, FIND_VALUE, VALUE) and the record stream
 * that VALUE answers carry in chunks. Layouts in dht/msg.h; every length is checked first. */
#include "dht/msg.h"

#include <errno.h>
#include <string.h>

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
dht_msg_store_encode(const struct dht_store_msg *m, uint8_t *buf, size_t len)
{
	if (m->len == 0 || m->len > DHT_STORE_CHUNK || m->total > DHT_REC_MAX ||
	    (size_t)m->offset + m->len > m->total || m->chunk == NULL)
		return -EINVAL;
	if (len < DHT_STORE_HDR + m->len)
		return -EMSGSIZE;
	put32(buf, m->transfer);
	put16(buf + 4, m->total);
	put16(buf + 6, m->offset);
	memcpy(buf + DHT_STORE_HDR, m->chunk, m->len);
	return (int)(DHT_STORE_HDR + m->len);
}

int
dht_msg_store_decode(struct dht_store_msg *m, const uint8_t *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (buf == NULL || len <= DHT_STORE_HDR || len > DHT_STORE_HDR + DHT_STORE_CHUNK)
		return -EBADMSG;
	m->transfer = get32(buf);
	m->total = get16(buf + 4);
	m->offset = get16(buf + 6);
	m->chunk = buf + DHT_STORE_HDR;
	m->len = len - DHT_STORE_HDR;
	if (m->total > DHT_REC_MAX || (size_t)m->offset + m->len > m->total) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return 0;
}

int
dht_msg_store_answer_encode(const struct dht_store_answer *m, uint8_t *buf, size_t len)
{
	if (m->status > DHT_ERR_INTERNAL && m->status != DHT_STORE_PART)
		return -EINVAL;
	if (len < DHT_STORE_ANSWER_LEN)
		return -EMSGSIZE;
	put32(buf, m->transfer);
	buf[4] = m->status;
	put16(buf + 5, m->next);
	return DHT_STORE_ANSWER_LEN;
}

int
dht_msg_store_answer_decode(struct dht_store_answer *m, const uint8_t *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (buf == NULL || len != DHT_STORE_ANSWER_LEN)
		return -EBADMSG;
	m->transfer = get32(buf);
	m->status = buf[4];
	m->next = get16(buf + 5);
	if (m->status > DHT_ERR_INTERNAL && m->status != DHT_STORE_PART) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return 0;
}

int
dht_msg_find_encode(const struct dht_find_msg *m, uint8_t *buf, size_t len)
{
	if (len < DHT_FIND_LEN)
		return -EMSGSIZE;
	memcpy(buf, m->key.b, NODEID_LEN);
	put32(buf + NODEID_LEN, m->offset);
	return DHT_FIND_LEN;
}

int
dht_msg_find_decode(struct dht_find_msg *m, const uint8_t *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (buf == NULL || len != DHT_FIND_LEN)
		return -EBADMSG;
	memcpy(m->key.b, buf, NODEID_LEN);
	m->offset = get32(buf + NODEID_LEN);
	if (m->offset > DHT_STREAM_MAX) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return 0;
}

int
dht_msg_value_encode(const struct dht_value_msg *m, uint8_t *buf, size_t len)
{
	if (m->len > DHT_VALUE_CHUNK || m->total > DHT_STREAM_MAX ||
	    (uint64_t)m->offset + m->len > m->total || (m->len == 0 && m->total != 0) ||
	    (m->chunk == NULL && m->len > 0))
		return -EINVAL;
	if (len < DHT_VALUE_HDR + m->len)
		return -EMSGSIZE;
	put32(buf, m->total);
	put32(buf + 4, m->version);
	put32(buf + 8, m->offset);
	if (m->len > 0)
		memcpy(buf + DHT_VALUE_HDR, m->chunk, m->len);
	return (int)(DHT_VALUE_HDR + m->len);
}

int
dht_msg_value_decode(struct dht_value_msg *m, const uint8_t *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (buf == NULL || len < DHT_VALUE_HDR || len > DHT_VALUE_HDR + DHT_VALUE_CHUNK)
		return -EBADMSG;
	m->total = get32(buf);
	m->version = get32(buf + 4);
	m->offset = get32(buf + 8);
	m->chunk = buf + DHT_VALUE_HDR;
	m->len = len - DHT_VALUE_HDR;
	if (m->total > DHT_STREAM_MAX || (uint64_t)m->offset + m->len > m->total ||
	    (m->len == 0 && m->total != 0)) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return 0;
}

long
dht_stream_build(const struct dht_record *recs, size_t n, uint8_t *buf, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		int k;

		if (len - off < 2)
			return -EMSGSIZE;
		k = dht_record_encode(&recs[i], buf + off + 2, len - off - 2);
		if (k < 0)
			return k == -EMSGSIZE ? -EMSGSIZE : -EINVAL;
		put16(buf + off, (uint16_t)k);
		off += 2 + (size_t)k;
	}
	return (long)off;
}

uint32_t
dht_stream_version(const uint8_t *stream, size_t len)
{
	struct nodeid h;

	if (nodeid_sha1(&h, stream, len) != 0)
		return 0;
	return get32(h.b);
}

int
dht_stream_parse(const uint8_t *stream, size_t len, struct dht_record *out, size_t max)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		size_t k;

		if (len - off < 2 || (size_t)n == max)
			return -EBADMSG;
		k = get16(stream + off);
		off += 2;
		if (k > len - off || dht_record_decode(&out[n], stream + off, k) != 0)
			return -EBADMSG;
		off += k;
		n++;
	}
	return n;
}
