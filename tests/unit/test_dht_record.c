/* Tests for dht/record.c: the exact byte layout, round trips, every malformed encoding,
 * each verification rule and its reason, forged owners, the signature domain, random mutations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dht/record.h"

#define NOW 1767225600000ULL	/* 2026-01-01T00:00:00Z in ms */
#define TTL_BOUND ((uint64_t)DHT_MAX_TTL_MS + DHT_CLOCK_SKEW_MS)

enum {
	KINDS = 5,		/* plain, secret, tombstone, secret tombstone, largest value */
	OFF_KIND = NODEID_LEN, OFF_ID = OFF_KIND + 4, OFF_SEQ = OFF_ID + 4,
	OFF_EXPIRY = OFF_SEQ + 8, OFF_FLAGS = OFF_EXPIRY + 8, OFF_OWNER = OFF_FLAGS + 1,
	OFF_AFTER_OWNER = OFF_OWNER + ID_PUBKEY_LEN,	/* secret hash or value length */
};

static struct identity *alice;		/* seed 00 01 02 ... 1f */
static struct identity *bob;		/* seed aa aa ... */

static int
setup(void **state)
{
	uint8_t seed[ID_SEED_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	if (identity_from_seed(&alice, seed, 4) != 0)
		return -1;
	memset(seed, 0xaa, sizeof(seed));
	return identity_from_seed(&bob, seed, 4);
}

static int
teardown(void **state)
{
	(void)state;
	identity_free(alice);
	identity_free(bob);
	return 0;
}

/* An unsigned record of one of the KINDS, owned by owner. */
static void
build(struct dht_record *r, int which, const struct identity *owner)
{
	static const char value[] = "sip:alice@192.0.2.1:5060";
	struct nodeid h;

	memset(r, 0, sizeof(*r));
	assert_int_equal(nodeid_sha1(&r->key, "sip:alice@example.org", 21), 0);
	r->kind = 1;
	r->id = 0x01020304;
	r->seq = 0x1122334455667788ULL;
	r->expiry = NOW + 3600 * 1000;
	memcpy(r->owner, owner->pub, ID_PUBKEY_LEN);
	switch (which) {
	case 0:
		r->value_len = sizeof(value) - 1;
		memcpy(r->value, value, r->value_len);
		break;
	case 1:
		r->flags = DHT_REC_SECRET;
		assert_int_equal(nodeid_sha1(&h, "secret", 6), 0);
		memcpy(r->secret_hash, h.b, NODEID_LEN);
		r->value_len = sizeof(value) - 1;
		memcpy(r->value, value, r->value_len);
		break;
	case 2:
		r->flags = DHT_REC_TOMBSTONE;
		break;
	case 3:
		r->flags = DHT_REC_TOMBSTONE | DHT_REC_SECRET;
		memset(r->secret_hash, 0x5c, NODEID_LEN);
		break;
	default:
		r->kind = 55;
		r->value_len = DHT_MAX_VALUE;
		for (size_t i = 0; i < DHT_MAX_VALUE; i++)
			r->value[i] = (uint8_t)(i * 7 + 3);
		break;
	}
}

static void
make(struct dht_record *r, int which)
{
	build(r, which, alice);
	assert_int_equal(dht_record_sign(r, alice), 0);
}

static int
encode(const struct dht_record *r, uint8_t *buf)
{
	int n = dht_record_encode(r, buf, DHT_REC_MAX);

	assert_true(n > 0);
	assert_int_equal((size_t)n, dht_record_size(r));
	return n;
}

static void
assert_zeroed(const struct dht_record *r)
{
	static const struct dht_record zero;

	assert_memory_equal(r, &zero, sizeof(zero));
}

static void
be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void
layout_is_exact(void **state)
{
	uint8_t want[DHT_REC_MAX], got[DHT_REC_MAX], msg[DHT_REC_MAX + 16];
	struct dht_record r;
	size_t o = 0, dom = strlen(DHT_SIG_DOMAIN);
	int n;

	(void)state;
	assert_int_equal(DHT_REC_FIXED, 143);
	assert_int_equal(DHT_REC_MAX, 143 + 20 + 1024);
	make(&r, 1);
	memcpy(want + o, r.key.b, NODEID_LEN); o += NODEID_LEN;
	be(want + o, r.kind, 4); o += 4;
	be(want + o, r.id, 4); o += 4;
	be(want + o, r.seq, 8); o += 8;
	be(want + o, r.expiry, 8); o += 8;
	want[o++] = r.flags;
	memcpy(want + o, r.owner, ID_PUBKEY_LEN); o += ID_PUBKEY_LEN;
	memcpy(want + o, r.secret_hash, NODEID_LEN); o += NODEID_LEN;
	be(want + o, r.value_len, 2); o += 2;
	memcpy(want + o, r.value, r.value_len); o += r.value_len;
	/* the signature is alice's over the domain string and everything before it */
	memcpy(msg, DHT_SIG_DOMAIN, dom);
	memcpy(msg + dom, want, o);
	assert_int_equal(identity_sign(alice, msg, dom + o, want + o), 0);
	o += ID_SIG_LEN;
	n = encode(&r, got);
	assert_int_equal((size_t)n, o);
	assert_memory_equal(got, want, o);
	assert_int_equal(got[OFF_KIND + 3], 1);
	assert_int_equal(got[OFF_FLAGS], DHT_REC_SECRET);
}

static void
round_trip(void **state)
{
	uint8_t buf[DHT_REC_MAX];

	(void)state;
	for (int which = 0; which < KINDS; which++) {
		struct dht_record r, d;
		int n;

		make(&r, which);
		n = encode(&r, buf);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(dht_record_decode(&d, buf, (size_t)n), 0);
		assert_true(dht_record_equal(&r, &d));
		assert_true(dht_record_same_slot(&r, &d));
		assert_int_equal(d.flags, r.flags);
		assert_int_equal(d.value_len, r.value_len);
		assert_memory_equal(d.value, r.value, r.value_len);
		if (r.flags & DHT_REC_SECRET)
			assert_memory_equal(d.secret_hash, r.secret_hash, NODEID_LEN);
		assert_int_equal(dht_record_verify(&d, NOW), DHT_OK);
		/* re-encoding gives the same bytes */
		{
			uint8_t again[DHT_REC_MAX];

			assert_int_equal(encode(&d, again), n);
			assert_memory_equal(again, buf, (size_t)n);
		}
	}
	/* sizes: secret hash only with its flag; the largest record is DHT_REC_MAX */
	{
		struct dht_record r;

		make(&r, 2);
		assert_int_equal(dht_record_size(&r), DHT_REC_FIXED);
		make(&r, 3);
		assert_int_equal(dht_record_size(&r), DHT_REC_FIXED + NODEID_LEN);
		make(&r, 4);
		assert_int_equal(dht_record_size(&r), DHT_REC_FIXED + DHT_MAX_VALUE);
		r.flags |= DHT_REC_SECRET;
		assert_int_equal(dht_record_sign(&r, alice), 0);
		assert_int_equal(encode(&r, buf), DHT_REC_MAX);
	}
}

static void
encode_refuses(void **state)
{
	uint8_t buf[DHT_REC_MAX + 1];
	struct dht_record r;
	int n;

	(void)state;
	make(&r, 0);
	n = (int)dht_record_size(&r);
	assert_int_equal(dht_record_encode(&r, buf, (size_t)n), n);
	for (int len = 0; len < n; len++)
		assert_int_equal(dht_record_encode(&r, buf, (size_t)len), -EMSGSIZE);
	assert_int_equal(dht_record_encode(&r, NULL, 0), -EMSGSIZE);
	r.flags = 0x04;
	assert_int_equal(dht_record_encode(&r, buf, sizeof(buf)), -EINVAL);
	make(&r, 0);
	r.flags = DHT_REC_TOMBSTONE;
	assert_int_equal(dht_record_encode(&r, buf, sizeof(buf)), -EINVAL);
	make(&r, 0);
	r.value_len = DHT_MAX_VALUE + 1;
	assert_int_equal(dht_record_encode(&r, buf, sizeof(buf)), -EINVAL);
}

static void
truncated_and_extra_refused(void **state)
{
	uint8_t buf[DHT_REC_MAX + 1];
	struct dht_record d;

	(void)state;
	for (int which = 0; which < KINDS; which++) {
		struct dht_record r;
		int n;

		make(&r, which);
		n = encode(&r, buf);
		for (int len = 0; len < n; len++) {
			memset(&d, 0xa5, sizeof(d));
			assert_int_equal(dht_record_decode(&d, buf, (size_t)len), -EBADMSG);
			assert_zeroed(&d);
		}
		buf[n] = 0;
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(dht_record_decode(&d, buf, (size_t)n + 1), -EBADMSG);
		assert_zeroed(&d);
	}
	assert_int_equal(dht_record_decode(&d, NULL, 0), -EBADMSG);
	assert_int_equal(dht_record_decode(&d, NULL, DHT_REC_FIXED), -EBADMSG);
}

static void
bad_fields_refused(void **state)
{
	uint8_t good[DHT_REC_MAX], buf[DHT_REC_MAX + 8];
	struct dht_record r, d;
	size_t vlen_off = OFF_AFTER_OWNER;
	int n;

	(void)state;
	make(&r, 0);
	n = encode(&r, good);

#define REFUSED(len)                                                          \
	do {                                                                  \
		memset(&d, 0xa5, sizeof(d));                                  \
		assert_int_equal(dht_record_decode(&d, buf, (size_t)(len)), -EBADMSG); \
		assert_zeroed(&d);                                            \
	} while (0)

	/* every undefined flag bit */
	for (unsigned bit = 0x04; bit <= 0x80; bit <<= 1) {
		memcpy(buf, good, (size_t)n);
		buf[OFF_FLAGS] |= (uint8_t)bit;
		REFUSED(n);
	}
	/* a tombstone with a value */
	memcpy(buf, good, (size_t)n);
	buf[OFF_FLAGS] = DHT_REC_TOMBSTONE;
	REFUSED(n);
	/* the secret flag without room for the hash (the value length then reads wrong) */
	memcpy(buf, good, (size_t)n);
	buf[OFF_FLAGS] = DHT_REC_SECRET;
	REFUSED(n);
	/* value length one more and one less than present */
	memcpy(buf, good, (size_t)n);
	buf[vlen_off + 1]++;
	REFUSED(n);
	memcpy(buf, good, (size_t)n);
	buf[vlen_off + 1]--;
	REFUSED(n);
	/* a value length over DHT_MAX_VALUE, even when that many bytes follow */
	make(&r, 4);
	n = encode(&r, good);
	memcpy(buf, good, (size_t)n);
	be(buf + vlen_off, DHT_MAX_VALUE + 1, 2);
	memmove(buf + vlen_off + 2 + DHT_MAX_VALUE + 1, buf + vlen_off + 2 + DHT_MAX_VALUE,
	    ID_SIG_LEN);
	buf[vlen_off + 2 + DHT_MAX_VALUE] = 0x42;
	REFUSED(n + 1);
	memcpy(buf, good, (size_t)n);
	be(buf + vlen_off, 0xffff, 2);
	REFUSED(n);
	/* the largest value itself is fine */
	assert_int_equal(dht_record_decode(&d, good, (size_t)n), 0);
	assert_int_equal(dht_record_verify(&d, NOW), DHT_OK);
#undef REFUSED
}

/* Expects reason for r as it is, whatever its signature. */
static void
expect(const struct dht_record *r, uint64_t now, enum dht_reason reason)
{
	enum dht_reason got = dht_record_verify(r, now);

	if (got != reason)
		print_error("verify: got %s, want %s\n", dht_reason_name(got),
		    dht_reason_name(reason));
	assert_int_equal(got, reason);
}

static void
verify_form_and_time(void **state)
{
	struct dht_record r, t;

	(void)state;
	make(&r, 0);
	expect(&r, NOW, DHT_OK);
	/* malformed: unknown flags; a tombstone with a value */
	for (unsigned bit = 0x04; bit <= 0x80; bit <<= 1) {
		t = r;
		t.flags |= (uint8_t)bit;
		expect(&t, NOW, DHT_ERR_MALFORMED);
	}
	t = r;
	t.flags = DHT_REC_TOMBSTONE;
	expect(&t, NOW, DHT_ERR_MALFORMED);
	/* too big */
	t = r;
	t.value_len = DHT_MAX_VALUE + 1;
	expect(&t, NOW, DHT_ERR_TOO_BIG);
	t.value_len = 0xffff;
	expect(&t, NOW, DHT_ERR_TOO_BIG);
	make(&t, 4);
	expect(&t, NOW, DHT_OK);
	/* expired at and after the expiry, valid one ms before */
	expect(&r, r.expiry - 1, DHT_OK);
	expect(&r, r.expiry, DHT_ERR_EXPIRED);
	expect(&r, r.expiry + 1, DHT_ERR_EXPIRED);
	expect(&r, UINT64_MAX, DHT_ERR_EXPIRED);
	/* the TTL bound, at it and one ms over */
	build(&t, 0, alice);
	t.expiry = NOW + TTL_BOUND;
	assert_int_equal(dht_record_sign(&t, alice), 0);
	expect(&t, NOW, DHT_OK);
	expect(&t, NOW - 1, DHT_ERR_TTL);
	t.expiry = NOW + TTL_BOUND + 1;
	assert_int_equal(dht_record_sign(&t, alice), 0);
	expect(&t, NOW, DHT_ERR_TTL);
	expect(&t, NOW + 1, DHT_OK);
	/* no overflow near the end of time */
	t.expiry = UINT64_MAX;
	assert_int_equal(dht_record_sign(&t, alice), 0);
	expect(&t, UINT64_MAX - TTL_BOUND, DHT_OK);
	expect(&t, UINT64_MAX - TTL_BOUND - 1, DHT_ERR_TTL);
	expect(&t, 0, DHT_ERR_TTL);
	t.expiry = 0;
	expect(&t, 0, DHT_ERR_EXPIRED);
	/* cheap rules before the signature: a broken signature is not reported first */
	t = r;
	t.sig[0] ^= 1;
	expect(&t, NOW, DHT_ERR_SIGNATURE);
	expect(&t, t.expiry, DHT_ERR_EXPIRED);
	expect(&t, t.expiry - TTL_BOUND - 1, DHT_ERR_TTL);
	t.flags |= 0x80;
	expect(&t, NOW, DHT_ERR_MALFORMED);
	t.flags = 0;
	t.value_len = DHT_MAX_VALUE + 1;
	expect(&t, NOW, DHT_ERR_TOO_BIG);
}

static void
flip(void *p, size_t bit)
{
	((uint8_t *)p)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void
verify_bad_signature(void **state)
{
	(void)state;
	for (int which = 0; which < KINDS; which++) {
		struct dht_record r, t;

		make(&r, which);
		expect(&r, NOW, DHT_OK);
		/* every bit of the signature */
		for (size_t bit = 0; bit < 8 * ID_SIG_LEN; bit++) {
			t = r;
			flip(t.sig, bit);
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		/* some bits of every field */
		for (size_t bit = 0; bit < 8 * NODEID_LEN; bit += 7) {
			t = r;
			flip(t.key.b, bit);
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		for (size_t bit = 0; bit < 32; bit++) {
			t = r;
			t.kind ^= 1u << bit;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
			t = r;
			t.id ^= 1u << bit;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		for (size_t bit = 0; bit < 64; bit += 3) {
			t = r;
			t.seq ^= 1ULL << bit;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		for (size_t bit = 0; bit < 29; bit++) {	/* 2^28 ms: inside the TTL bound */
			t = r;
			t.expiry ^= 1ULL << bit;
			expect(&t, (t.expiry < r.expiry ? t.expiry : r.expiry) - 1,
			    DHT_ERR_SIGNATURE);
		}
		t = r;
		t.flags ^= DHT_REC_SECRET;
		expect(&t, NOW, DHT_ERR_SIGNATURE);
		if (r.value_len == 0) {
			t = r;
			t.flags ^= DHT_REC_TOMBSTONE;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		for (size_t bit = 0; bit < 8 * ID_PUBKEY_LEN; bit += 5) {
			t = r;
			flip(t.owner, bit);
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
		if (r.flags & DHT_REC_SECRET) {
			for (size_t bit = 0; bit < 8 * NODEID_LEN; bit += 3) {
				t = r;
				flip(t.secret_hash, bit);
				expect(&t, NOW, DHT_ERR_SIGNATURE);
			}
		} else {
			/* not signed, not encoded: a hash without the flag changes nothing */
			t = r;
			memset(t.secret_hash, 0xff, NODEID_LEN);
			expect(&t, NOW, DHT_OK);
		}
		if (r.value_len > 0) {
			for (size_t i = 0; i < r.value_len; i += 1 + r.value_len / 40) {
				t = r;
				t.value[i] ^= (uint8_t)(1u << (i % 8));
				expect(&t, NOW, DHT_ERR_SIGNATURE);
			}
			t = r;
			t.value_len--;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
			/* bytes past value_len are neither encoded nor signed */
			if (r.value_len < DHT_MAX_VALUE) {
				t = r;
				t.value[r.value_len] ^= 0xff;
				expect(&t, NOW, DHT_OK);
			}
		}
		if (r.value_len < DHT_MAX_VALUE && !(r.flags & DHT_REC_TOMBSTONE)) {
			t = r;
			t.value_len++;
			expect(&t, NOW, DHT_ERR_SIGNATURE);
		}
	}
}

static void
foreign_owner_refused(void **state)
{
	struct dht_record r, t;
	uint8_t sig[ID_SIG_LEN];

	(void)state;
	/* alice cannot sign a record whose owner field is bob */
	build(&r, 0, bob);
	memset(r.sig, 0x33, ID_SIG_LEN);
	memcpy(sig, r.sig, ID_SIG_LEN);
	assert_int_equal(dht_record_sign(&r, alice), -EINVAL);
	assert_memory_equal(r.sig, sig, ID_SIG_LEN);
	/* bob can */
	assert_int_equal(dht_record_sign(&r, bob), 0);
	expect(&r, NOW, DHT_OK);
	/* a forgery: bob's owner field, alice's signature over the same fields */
	build(&t, 0, alice);
	assert_int_equal(dht_record_sign(&t, alice), 0);
	memcpy(t.owner, bob->pub, ID_PUBKEY_LEN);
	expect(&t, NOW, DHT_ERR_SIGNATURE);
	/* and the other way round: bob's signature in alice's record */
	build(&t, 0, alice);
	memcpy(t.sig, r.sig, ID_SIG_LEN);
	expect(&t, NOW, DHT_ERR_SIGNATURE);
	/* sign refuses malformed records */
	build(&t, 0, alice);
	t.flags = 0x04;
	assert_int_equal(dht_record_sign(&t, alice), -EINVAL);
	build(&t, 0, alice);
	t.flags = DHT_REC_TOMBSTONE;
	assert_int_equal(dht_record_sign(&t, alice), -EINVAL);
	build(&t, 0, alice);
	t.value_len = DHT_MAX_VALUE + 1;
	assert_int_equal(dht_record_sign(&t, alice), -EINVAL);
}

static void
signature_covers_domain(void **state)
{
	uint8_t buf[DHT_REC_MAX], msg[DHT_REC_MAX + 32];
	size_t dom = strlen(DHT_SIG_DOMAIN), body;
	struct dht_record r, d;
	int n;

	(void)state;
	assert_int_equal(dom, 14);
	make(&r, 0);
	n = encode(&r, buf);
	body = (size_t)n - ID_SIG_LEN;
	/* alice's signature over the same bytes without the domain */
	assert_int_equal(identity_sign(alice, buf, body, buf + body), 0);
	assert_int_equal(dht_record_decode(&d, buf, (size_t)n), 0);
	expect(&d, NOW, DHT_ERR_SIGNATURE);
	/* with a different domain or the NUL included */
	memcpy(msg, "p2pns-record-2", dom);
	memcpy(msg + dom, buf, body);
	assert_int_equal(identity_sign(alice, msg, dom + body, buf + body), 0);
	assert_int_equal(dht_record_decode(&d, buf, (size_t)n), 0);
	expect(&d, NOW, DHT_ERR_SIGNATURE);
	memcpy(msg, DHT_SIG_DOMAIN, dom + 1);
	memcpy(msg + dom + 1, buf, body);
	assert_int_equal(identity_sign(alice, msg, dom + 1 + body, buf + body), 0);
	assert_int_equal(dht_record_decode(&d, buf, (size_t)n), 0);
	expect(&d, NOW, DHT_ERR_SIGNATURE);
	/* with exactly the domain: valid, and the signature dht_record_sign makes */
	memcpy(msg, DHT_SIG_DOMAIN, dom);
	memcpy(msg + dom, buf, body);
	assert_int_equal(identity_sign(alice, msg, dom + body, buf + body), 0);
	assert_int_equal(dht_record_decode(&d, buf, (size_t)n), 0);
	expect(&d, NOW, DHT_OK);
	assert_memory_equal(d.sig, r.sig, ID_SIG_LEN);
}

static void
same_slot_and_equal(void **state)
{
	struct dht_record a, b;

	(void)state;
	make(&a, 0);
	b = a;
	assert_true(dht_record_same_slot(&a, &b));
	assert_true(dht_record_equal(&a, &b));
	/* a newer version of the same slot: same slot, not equal */
	b.seq++;
	b.value_len = 3;
	memcpy(b.value, "new", 3);
	assert_int_equal(dht_record_sign(&b, alice), 0);
	assert_true(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	/* a tombstone of the slot */
	make(&b, 2);
	assert_true(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	/* another key, owner, kind or id: another slot */
	b = a;
	b.key.b[19] ^= 1;
	assert_false(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	build(&b, 0, bob);
	assert_int_equal(dht_record_sign(&b, bob), 0);
	assert_false(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.kind = 28;
	assert_false(dht_record_same_slot(&a, &b));
	b = a;
	b.id++;
	assert_false(dht_record_same_slot(&a, &b));
	/* equal looks at every field and the signature */
	b = a;
	b.seq++;
	assert_true(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.owner[0] ^= 1;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.kind++;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.id++;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.expiry++;
	assert_true(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.flags = DHT_REC_SECRET;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.value[0] ^= 1;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.value_len--;
	assert_false(dht_record_equal(&a, &b));
	b = a;
	b.sig[ID_SIG_LEN - 1] ^= 1;
	assert_false(dht_record_equal(&a, &b));
	/* but not at bytes past value_len, nor a secret hash without its flag */
	b = a;
	b.value[a.value_len] ^= 0xff;
	memset(b.secret_hash, 0x77, NODEID_LEN);
	assert_true(dht_record_equal(&a, &b));
	/* with the flag the secret hash counts */
	make(&a, 1);
	b = a;
	b.secret_hash[5] ^= 1;
	assert_true(dht_record_same_slot(&a, &b));
	assert_false(dht_record_equal(&a, &b));
	b = a;
	assert_true(dht_record_equal(&a, &b));
}

static void
reason_names(void **state)
{
	static const struct {
		enum dht_reason r;
		const char *name;
	} want[] = {
		{DHT_ERR_MALFORMED, "malformed"},
		{DHT_ERR_SIGNATURE, "bad signature"},
		{DHT_ERR_EXPIRED, "expired"},
		{DHT_ERR_TTL, "ttl too long"},
		{DHT_ERR_TOO_BIG, "value too big"},
		{DHT_ERR_FOREIGN_OWNER, "name owned by another key"},
		{DHT_ERR_STALE, "stale sequence number"},
		{DHT_ERR_QUOTA, "owner quota exceeded"},
		{DHT_ERR_RATE, "rate limited"},
		{DHT_ERR_FULL, "storage full"},
		{DHT_ERR_INTERNAL, "internal error"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(want[i].r, (int)i + 1);	/* the numbers are on the wire */
		assert_string_equal(dht_reason_name(want[i].r), want[i].name);
	}
	assert_string_equal(dht_reason_name(DHT_OK), "ok");
	assert_string_equal(dht_reason_name((enum dht_reason)12), "unknown");
	assert_string_equal(dht_reason_name((enum dht_reason)-1), "unknown");
	assert_string_equal(dht_reason_name((enum dht_reason)255), "unknown");
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
random_mutations_never_crash(void **state)
{
	uint8_t good[KINDS][DHT_REC_MAX], buf[DHT_REC_MAX + 64];
	int len_of[KINDS];
	struct dht_record r, d;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	unsigned decoded = 0;

	(void)state;
	for (int which = 0; which < KINDS; which++) {
		make(&r, which);
		len_of[which] = encode(&r, good[which]);
	}
	for (int round = 0; round < 10000; round++) {
		int which = round % KINDS, n = len_of[which], len = n;

		memcpy(buf, good[which], (size_t)n);
		for (int j = 0, flips = 1 + (int)(xorshift(&rng) % 4); j < flips; j++)
			buf[xorshift(&rng) % (uint64_t)n] ^= (uint8_t)(1 + xorshift(&rng) % 255);
		if (xorshift(&rng) % 4 == 0) {
			len = (int)(xorshift(&rng) % (DHT_REC_MAX + 64));
			for (int i = n; i < len; i++)
				buf[i] = (uint8_t)xorshift(&rng);
		}
		if (dht_record_decode(&d, buf, (size_t)len) != 0) {
			assert_zeroed(&d);
			continue;
		}
		decoded++;
		/* what decodes re-encodes to the same bytes */
		{
			uint8_t again[DHT_REC_MAX];

			assert_int_equal(dht_record_encode(&d, again, sizeof(again)), len);
			assert_memory_equal(again, buf, (size_t)len);
		}
		if (dht_record_verify(&d, NOW) == DHT_OK) {
			/* only possible if the bytes are unchanged */
			assert_int_equal(len, n);
			assert_memory_equal(buf, good[which], (size_t)n);
		}
	}
	assert_true(decoded > 0);
	/* pure noise, some of it with a plausible length */
	for (int round = 0; round < 5000; round++) {
		int len = (int)(xorshift(&rng) % (DHT_REC_MAX + 64));

		if (xorshift(&rng) % 2)
			len = len_of[xorshift(&rng) % KINDS];
		for (int i = 0; i < len; i++)
			buf[i] = (uint8_t)xorshift(&rng);
		if (dht_record_decode(&d, buf, (size_t)len) == 0)
			assert_int_not_equal(dht_record_verify(&d, NOW), DHT_OK);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_is_exact),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(encode_refuses),
		cmocka_unit_test(truncated_and_extra_refused),
		cmocka_unit_test(bad_fields_refused),
		cmocka_unit_test(verify_form_and_time),
		cmocka_unit_test(verify_bad_signature),
		cmocka_unit_test(foreign_owner_refused),
		cmocka_unit_test(signature_covers_domain),
		cmocka_unit_test(same_slot_and_equal),
		cmocka_unit_test(reason_names),
		cmocka_unit_test(random_mutations_never_crash),
	};

	return cmocka_run_group_tests_name("dht/record", tests, setup, teardown);
}
