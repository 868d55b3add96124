/* Tests for puzzle/puzzle.c: static and dynamic S/Kademlia puzzles at several difficulties,
 * checked against an independent SHA-1 computation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "puzzle/puzzle.h"

/* Reference: leading zero bits of SHA-1(data), computed bit by bit. */
static unsigned
ref_bits(const uint8_t *data, size_t len)
{
	uint8_t h[SHA_DIGEST_LENGTH];
	unsigned n = 0;

	SHA1(data, len, h);
	while (n < 160 && !(h[n / 8] & (0x80 >> (n % 8))))
		n++;
	return n;
}

static void
make_id(struct nodeid *id, uint32_t i)
{
	uint8_t buf[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};

	assert_int_equal(nodeid_sha1(id, buf, sizeof(buf)), 0);
}

static void
static_matches_reference(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < 2000; i++) {
		struct nodeid id;
		unsigned bits;

		make_id(&id, i);
		bits = ref_bits(id.b, NODEID_LEN);
		assert_int_equal(puzzle_static_bits(&id), bits);
		for (unsigned c = 0; c <= 12; c++)
			assert_int_equal(puzzle_static_ok(&id, c), bits >= c);
	}
}

static void
static_rejects_id_failing_c1(void **state)
{
	struct nodeid id;
	uint32_t i = 0;

	(void)state;
	/* find an ID whose hash has no leading zero bit at all */
	do
		make_id(&id, i++);
	while (ref_bits(id.b, NODEID_LEN) != 0);
	assert_true(puzzle_static_ok(&id, 0));
	assert_false(puzzle_static_ok(&id, 1));
	assert_false(puzzle_static_ok(&id, 16));
	/* and one that meets exactly 8 bits: fine at 8, refused at 9 */
	do
		make_id(&id, i++);
	while (ref_bits(id.b, NODEID_LEN) != 8);
	assert_true(puzzle_static_ok(&id, 8));
	assert_false(puzzle_static_ok(&id, 9));
	/* difficulties beyond the bound are refused, never searched */
	assert_false(puzzle_static_ok(&id, PUZZLE_MAX_BITS + 1));
}

static void
dynamic_solve_several_difficulties(void **state)
{
	static const unsigned levels[] = {0, 1, 4, 8, 12, 16};

	(void)state;
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		for (uint32_t i = 0; i < 4; i++) {
			struct nodeid id, x, t;
			uint64_t attempts = 0;

			make_id(&id, 1000 + i);
			memset(&x, 0, sizeof(x));
			assert_int_equal(puzzle_dynamic_solve(&id, levels[l], 0, &x, &attempts), 0);
			assert_true(attempts >= 1);
			assert_true(puzzle_dynamic_ok(&id, &x, levels[l]));
			nodeid_xor(&t, &id, &x);
			assert_true(ref_bits(t.b, NODEID_LEN) >= levels[l]);
			assert_int_equal(puzzle_dynamic_bits(&id, &x), ref_bits(t.b, NODEID_LEN));
		}
	}
}

static void
dynamic_rejects_wrong_nonce(void **state)
{
	struct nodeid id, x, bad, t;
	unsigned rejected = 0;

	(void)state;
	make_id(&id, 77);
	memset(&x, 0, sizeof(x));
	assert_int_equal(puzzle_dynamic_solve(&id, 12, 0, &x, NULL), 0);
	/* every one-bit change of the nonce is judged exactly as the reference judges it */
	for (unsigned bit = 0; bit < NODEID_BITS; bit++) {
		bad = x;
		bad.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		nodeid_xor(&t, &id, &bad);
		bool ref_ok = ref_bits(t.b, NODEID_LEN) >= 12;
		assert_int_equal(puzzle_dynamic_ok(&id, &bad, 12), ref_ok);
		if (!ref_ok)
			rejected++;
	}
	assert_true(rejected > NODEID_BITS - 4);
	/* a solution for one ID is not a solution for another */
	struct nodeid other;
	make_id(&other, 78);
	nodeid_xor(&t, &other, &x);
	assert_int_equal(puzzle_dynamic_ok(&other, &x, 12), ref_bits(t.b, NODEID_LEN) >= 12);
	/* the nonces the solver skipped all fail (it returns the first solution) */
	if (x.b[NODEID_LEN - 1] > 0) {
		bad = x;
		bad.b[NODEID_LEN - 1]--;
		assert_false(puzzle_dynamic_ok(&id, &bad, 12));
	}
}

static void
dynamic_bounded_and_resumable(void **state)
{
	struct nodeid id, x, x_full;
	uint64_t n = 0, total = 0;
	int err;

	(void)state;
	make_id(&id, 5);
	memset(&x_full, 0, sizeof(x_full));
	assert_int_equal(puzzle_dynamic_solve(&id, 14, 0, &x_full, NULL), 0);
	/* the same search in chunks of 100 attempts ends at the same nonce */
	memset(&x, 0, sizeof(x));
	while ((err = puzzle_dynamic_solve(&id, 14, 100, &x, &n)) == -EAGAIN) {
		assert_int_equal(n, 100);
		total += n;
		assert_true(total < 100000000);
	}
	assert_int_equal(err, 0);
	assert_true(nodeid_eq(&x, &x_full));
	assert_int_equal(puzzle_dynamic_solve(&id, PUZZLE_MAX_BITS + 1, 0, &x, NULL), -EINVAL);
	assert_false(puzzle_dynamic_ok(&id, &x, PUZZLE_MAX_BITS + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(static_matches_reference),
		cmocka_unit_test(static_rejects_id_failing_c1),
		cmocka_unit_test(dynamic_solve_several_difficulties),
		cmocka_unit_test(dynamic_rejects_wrong_nonce),
		cmocka_unit_test(dynamic_bounded_and_resumable),
	};

	return cmocka_run_group_tests_name("puzzle/puzzle", tests, NULL, NULL);
}
