/* Tests for puzzle/nodeid.c: SHA-1 into the ID space, XOR, leading zero bits and hex. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "puzzle/nodeid.h"

static void
sha1_known_vectors(void **state)
{
	struct nodeid h;
	char hex[NODEID_HEX_LEN + 1];

	(void)state;
	assert_int_equal(nodeid_sha1(&h, "abc", 3), 0);
	nodeid_to_hex(&h, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(nodeid_sha1(&h, "", 0), 0);
	nodeid_to_hex(&h, hex);
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	assert_int_equal(nodeid_sha1(&h, NULL, 1), -EINVAL);
}

static void
hex_round_trip(void **state)
{
	struct nodeid a, b;
	char hex[NODEID_HEX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < NODEID_LEN; i++)
		a.b[i] = (uint8_t)(i * 37 + 11);
	nodeid_to_hex(&a, hex);
	assert_int_equal(strlen(hex), NODEID_HEX_LEN);
	assert_int_equal(nodeid_from_hex(&b, hex, strlen(hex)), 0);
	assert_true(nodeid_eq(&a, &b));
	/* upper case is accepted too */
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	memset(&b, 0, sizeof(b));
	assert_int_equal(nodeid_from_hex(&b, hex, strlen(hex)), 0);
	assert_true(nodeid_eq(&a, &b));
}

static void
hex_rejects_bad_input(void **state)
{
	static const char good[] = "00112233445566778899aabbccddeeff00112233";
	char buf[NODEID_HEX_LEN + 2];
	struct nodeid out, before;

	(void)state;
	memset(&out, 0x5a, sizeof(out));
	before = out;
	/* every wrong length, short and long */
	for (size_t len = 0; len <= NODEID_HEX_LEN + 1; len++) {
		if (len == NODEID_HEX_LEN)
			continue;
		memset(buf, '0', sizeof(buf));
		assert_int_equal(nodeid_from_hex(&out, buf, len), -EINVAL);
	}
	/* a non-hex digit in every position */
	for (size_t i = 0; i < NODEID_HEX_LEN; i++) {
		memcpy(buf, good, NODEID_HEX_LEN);
		buf[i] = (i % 2) ? 'g' : ' ';
		assert_int_equal(nodeid_from_hex(&out, buf, NODEID_HEX_LEN), -EINVAL);
	}
	assert_int_equal(nodeid_from_hex(&out, NULL, NODEID_HEX_LEN), -EINVAL);
	/* failures leave the output alone */
	assert_true(nodeid_eq(&out, &before));
	uint8_t one;
	assert_int_equal(hex_decode(&one, 1, "0x", 2), -EINVAL);
	assert_int_equal(hex_decode(&one, 1, "ff", 2), 0);
	assert_int_equal(one, 0xff);
}

static void
leading_zero_bits(void **state)
{
	struct nodeid id;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(nodeid_leading_zeros(&id), NODEID_BITS);
	id.b[0] = 0x80;
	assert_int_equal(nodeid_leading_zeros(&id), 0);
	id.b[0] = 0x01;
	assert_int_equal(nodeid_leading_zeros(&id), 7);
	id.b[0] = 0;
	id.b[1] = 0x40;
	assert_int_equal(nodeid_leading_zeros(&id), 9);
	id.b[1] = 0;
	id.b[NODEID_LEN - 1] = 1;
	assert_int_equal(nodeid_leading_zeros(&id), NODEID_BITS - 1);
	/* every single-bit position */
	for (unsigned bit = 0; bit < NODEID_BITS; bit++) {
		memset(&id, 0, sizeof(id));
		id.b[bit / 8] = (uint8_t)(0x80 >> (bit % 8));
		id.b[NODEID_LEN - 1] |= 1;	/* lower bits do not matter */
		assert_int_equal(nodeid_leading_zeros(&id), bit);
	}
}

static void
xor_and_order(void **state)
{
	struct nodeid a, b, c, d;

	(void)state;
	memset(&a, 0xf0, sizeof(a));
	memset(&b, 0x0f, sizeof(b));
	nodeid_xor(&c, &a, &b);
	for (size_t i = 0; i < NODEID_LEN; i++)
		assert_int_equal(c.b[i], 0xff);
	nodeid_xor(&d, &c, &b);
	assert_true(nodeid_eq(&d, &a));
	assert_true(nodeid_cmp(&a, &b) > 0);
	assert_true(nodeid_cmp(&b, &a) < 0);
	assert_int_equal(nodeid_cmp(&a, &a), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha1_known_vectors),
		cmocka_unit_test(hex_round_trip),
		cmocka_unit_test(hex_rejects_bad_input),
		cmocka_unit_test(leading_zero_bits),
		cmocka_unit_test(xor_and_order),
	};

	return cmocka_run_group_tests_name("puzzle/nodeid", tests, NULL, NULL);
}
