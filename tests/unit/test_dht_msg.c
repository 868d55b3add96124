/* Tests for dht/msg.c: the DHT message bodies and the chunked record stream, with every
 * truncation and wrong length refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dht/msg.h"

#define T0 1767225600000ULL

static struct identity *owner;

static int
setup(void **state)
{
	uint8_t seed[ID_SEED_LEN];

	(void)state;
	memset(seed, 0x42, sizeof(seed));
	return identity_from_seed(&owner, seed, 0);
}

static int
teardown(void **state)
{
	(void)state;
	identity_free(owner);
	return 0;
}

static void
make_record(struct dht_record *r, uint32_t id, size_t value_len)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(nodeid_sha1(&r->key, "sip:alice@example.org", 21), 0);
	r->kind = 33;
	r->id = id;
	r->seq = 1;
	r->expiry = T0 + 3600 * 1000;
	memcpy(r->owner, owner->pub, ID_PUBKEY_LEN);
	r->value_len = (uint16_t)value_len;
	for (size_t i = 0; i < value_len; i++)
		r->value[i] = (uint8_t)(i * 7);
	assert_int_equal(dht_record_sign(r, owner), 0);
}

static void
store_round_trip_and_chunks(void **state)
{
	struct dht_record r;
	uint8_t enc[DHT_REC_MAX], body[KBR_MAX_APP_BODY], again[DHT_REC_MAX];
	int n;
	size_t off = 0, parts = 0;

	(void)state;
	/* the largest record takes two chunks */
	make_record(&r, 1, DHT_MAX_VALUE);
	n = dht_record_encode(&r, enc, sizeof(enc));
	assert_int_equal(n, DHT_REC_MAX - NODEID_LEN);
	while (off < (size_t)n) {
		struct dht_store_msg m = {.transfer = 77, .total = (uint16_t)n,
		    .offset = (uint16_t)off, .chunk = enc + off};
		struct dht_store_msg d;
		int k;

		m.len = (size_t)n - off < DHT_STORE_CHUNK ? (size_t)n - off : DHT_STORE_CHUNK;
		k = dht_msg_store_encode(&m, body, sizeof(body));
		assert_true(k > 0 && k <= KBR_MAX_APP_BODY);
		assert_int_equal(dht_msg_store_decode(&d, body, (size_t)k), 0);
		assert_int_equal(d.transfer, 77);
		assert_int_equal(d.total, n);
		assert_int_equal(d.offset, off);
		memcpy(again + off, d.chunk, d.len);
		off += d.len;
		parts++;
		/* every truncation of the header, and a chunk running past total */
		for (int t = 0; t <= DHT_STORE_HDR; t++)
			assert_int_equal(dht_msg_store_decode(&d, body, (size_t)t), -EBADMSG);
	}
	assert_int_equal(parts, 2);
	assert_memory_equal(again, enc, (size_t)n);
	/* bad requests to the encoder, bad fields to the decoder */
	struct dht_store_msg bad = {.transfer = 1, .total = 10, .offset = 5, .chunk = enc, .len = 6};
	assert_int_equal(dht_msg_store_encode(&bad, body, sizeof(body)), -EINVAL);
	bad.len = 0;
	assert_int_equal(dht_msg_store_encode(&bad, body, sizeof(body)), -EINVAL);
	bad.total = DHT_REC_MAX + 1;
	bad.len = 1;
	bad.offset = 0;
	assert_int_equal(dht_msg_store_encode(&bad, body, sizeof(body)), -EINVAL);
	struct dht_store_msg ok = {.transfer = 1, .total = 4, .offset = 0, .chunk = enc, .len = 4};
	n = dht_msg_store_encode(&ok, body, sizeof(body));
	assert_int_equal(n, DHT_STORE_HDR + 4);
	assert_int_equal(dht_msg_store_encode(&ok, body, 5), -EMSGSIZE);
	struct dht_store_msg d;
	body[5] = 3;	/* total 3 < offset + chunk */
	assert_int_equal(dht_msg_store_decode(&d, body, (size_t)n), -EBADMSG);
	body[4] = 0xff;	/* total over DHT_REC_MAX */
	body[5] = 0xff;
	assert_int_equal(dht_msg_store_decode(&d, body, (size_t)n), -EBADMSG);
	assert_int_equal(dht_msg_store_decode(&d, NULL, 10), -EBADMSG);
}

static void
answers_and_finds(void **state)
{
	uint8_t body[64];
	struct dht_store_answer a = {.transfer = 9, .status = DHT_ERR_FOREIGN_OWNER}, ad;
	struct dht_find_msg f, fd;

	(void)state;
	assert_int_equal(dht_msg_store_answer_encode(&a, body, sizeof(body)), DHT_STORE_ANSWER_LEN);
	assert_int_equal(dht_msg_store_answer_decode(&ad, body, DHT_STORE_ANSWER_LEN), 0);
	assert_int_equal(ad.transfer, 9);
	assert_int_equal(ad.status, DHT_ERR_FOREIGN_OWNER);
	for (size_t len = 0; len < 12; len++)
		if (len != DHT_STORE_ANSWER_LEN)
			assert_int_equal(dht_msg_store_answer_decode(&ad, body, len), -EBADMSG);
	body[4] = 200;	/* no such status */
	assert_int_equal(dht_msg_store_answer_decode(&ad, body, DHT_STORE_ANSWER_LEN), -EBADMSG);
	a.status = 200;
	assert_int_equal(dht_msg_store_answer_encode(&a, body, sizeof(body)), -EINVAL);
	a.status = DHT_STORE_PART;
	a.next = 1021;
	assert_int_equal(dht_msg_store_answer_encode(&a, body, sizeof(body)), DHT_STORE_ANSWER_LEN);
	assert_int_equal(dht_msg_store_answer_decode(&ad, body, DHT_STORE_ANSWER_LEN), 0);
	assert_int_equal(ad.next, 1021);

	memset(&f, 0, sizeof(f));
	f.key.b[0] = 0xab;
	f.offset = 4096;
	assert_int_equal(dht_msg_find_encode(&f, body, sizeof(body)), DHT_FIND_LEN);
	assert_int_equal(dht_msg_find_decode(&fd, body, DHT_FIND_LEN), 0);
	assert_true(nodeid_eq(&fd.key, &f.key));
	assert_int_equal(fd.offset, 4096);
	for (size_t len = 0; len < 40; len++)
		if (len != DHT_FIND_LEN)
			assert_int_equal(dht_msg_find_decode(&fd, body, len), -EBADMSG);
	f.offset = DHT_STREAM_MAX + 1;
	assert_int_equal(dht_msg_find_encode(&f, body, sizeof(body)), DHT_FIND_LEN);
	assert_int_equal(dht_msg_find_decode(&fd, body, DHT_FIND_LEN), -EBADMSG);
}

static void
value_stream_in_chunks(void **state)
{
	struct dht_record *recs = calloc(DHT_MAX_PER_KEY, sizeof(*recs));
	struct dht_record *back = calloc(DHT_MAX_PER_KEY, sizeof(*back));
	uint8_t *stream = malloc(DHT_STREAM_MAX), *got = malloc(DHT_STREAM_MAX);
	uint8_t body[KBR_MAX_APP_BODY];
	long slen;
	uint32_t version, off = 0;
	unsigned chunks = 0;

	(void)state;
	assert_non_null(recs);
	assert_non_null(back);
	/* a full key of the largest records */
	for (unsigned i = 0; i < DHT_MAX_PER_KEY; i++)
		make_record(&recs[i], i, DHT_MAX_VALUE);
	slen = dht_stream_build(recs, DHT_MAX_PER_KEY, stream, DHT_STREAM_MAX);
	assert_true(slen > 0 && slen <= DHT_STREAM_MAX);
	version = dht_stream_version(stream, (size_t)slen);
	while (off < (uint32_t)slen) {
		struct dht_value_msg v = {.total = (uint32_t)slen, .version = version,
		    .offset = off, .chunk = stream + off};
		struct dht_value_msg d;
		int k;

		v.len = (size_t)slen - off < DHT_VALUE_CHUNK ? (size_t)slen - off : DHT_VALUE_CHUNK;
		k = dht_msg_value_encode(&v, body, sizeof(body));
		assert_true(k > 0 && k <= KBR_MAX_APP_BODY);
		assert_int_equal(dht_msg_value_decode(&d, body, (size_t)k), 0);
		assert_int_equal(d.version, version);
		memcpy(got + d.offset, d.chunk, d.len);
		off += (uint32_t)d.len;
		chunks++;
	}
	assert_true(chunks > DHT_MAX_PER_KEY);
	assert_int_equal(dht_stream_version(got, (size_t)slen), version);
	assert_int_equal(dht_stream_parse(got, (size_t)slen, back, DHT_MAX_PER_KEY),
	    DHT_MAX_PER_KEY);
	for (unsigned i = 0; i < DHT_MAX_PER_KEY; i++)
		assert_true(dht_record_equal(&recs[i], &back[i]));
	/* a stream one byte short, one byte long, or with more records than room */
	assert_int_equal(dht_stream_parse(got, (size_t)slen - 1, back, DHT_MAX_PER_KEY), -EBADMSG);
	got[slen] = 0;
	assert_int_equal(dht_stream_parse(got, (size_t)slen + 1, back, DHT_MAX_PER_KEY), -EBADMSG);
	assert_int_equal(dht_stream_parse(got, (size_t)slen, back, DHT_MAX_PER_KEY - 1), -EBADMSG);
	/* a damaged length prefix */
	got[0] ^= 0x01;
	assert_int_equal(dht_stream_parse(got, (size_t)slen, back, DHT_MAX_PER_KEY), -EBADMSG);
	/* building into too small a buffer */
	assert_int_equal(dht_stream_build(recs, DHT_MAX_PER_KEY, stream, 1000), -EMSGSIZE);
	/* the empty stream: one VALUE with no chunk */
	struct dht_value_msg e = {.total = 0, .version = dht_stream_version(stream, 0)}, d;
	int k = dht_msg_value_encode(&e, body, sizeof(body));
	assert_int_equal(k, DHT_VALUE_HDR);
	assert_int_equal(dht_msg_value_decode(&d, body, (size_t)k), 0);
	assert_int_equal(dht_stream_parse(stream, 0, back, 1), 0);
	/* VALUE decoder: chunks past total, empty chunks of a non-empty stream, short bodies */
	struct dht_value_msg v = {.total = 10, .version = 1, .offset = 8, .chunk = stream, .len = 3};
	assert_int_equal(dht_msg_value_encode(&v, body, sizeof(body)), -EINVAL);
	v.len = 2;
	k = dht_msg_value_encode(&v, body, sizeof(body));
	assert_int_equal(k, DHT_VALUE_HDR + 2);
	body[3] = 9;	/* total 9 < offset 8 + 2 */
	assert_int_equal(dht_msg_value_decode(&d, body, (size_t)k), -EBADMSG);
	body[3] = 10;
	assert_int_equal(dht_msg_value_decode(&d, body, DHT_VALUE_HDR), -EBADMSG);
	for (int t = 0; t < DHT_VALUE_HDR; t++)
		assert_int_equal(dht_msg_value_decode(&d, body, (size_t)t), -EBADMSG);
	free(recs);
	free(back);
	free(stream);
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(store_round_trip_and_chunks),
		cmocka_unit_test(answers_and_finds),
		cmocka_unit_test(value_stream_in_chunks),
	};

	return cmocka_run_group_tests_name("dht/msg", tests, setup, teardown);
}
