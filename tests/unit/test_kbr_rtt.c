/* Tests for kbr/rtt.c: RFC 6298's estimator and the timeout drawn from it, with its floor
 * and ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/rtt.h"

/* No sample: the ceiling. The first sample R gives SRTT = R, RTTVAR = R/2: R + 2R. */
static void
rtt_first_sample(void **state)
{
	struct kbr_rtt r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(kbr_rtt_timeout(&r, 200, 1000), 1000);
	kbr_rtt_sample(&r, 100);
	assert_int_equal(kbr_rtt_timeout(&r, 1, 1000), 300);
	assert_int_equal(kbr_rtt_timeout(&r, 400, 1000), 400);		/* the floor */
	assert_int_equal(kbr_rtt_timeout(&r, 1, 250), 250);		/* the ceiling */
}

/* Steady samples: the variation shrinks and the timeout approaches the round trip. */
static void
rtt_converges(void **state)
{
	struct kbr_rtt r;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 200; i++)
		kbr_rtt_sample(&r, 80);
	assert_in_range(kbr_rtt_timeout(&r, 1, 10000), 80, 82);
	/* a jump is followed within a few samples */
	for (int i = 0; i < 3; i++)
		kbr_rtt_sample(&r, 400);
	assert_true(kbr_rtt_timeout(&r, 1, 10000) > 400);
}

/* Round trips the clock cannot see still give a timeout of at least 1 ms; huge samples
 * are clipped rather than overflowing. */
static void
rtt_extremes(void **state)
{
	struct kbr_rtt r;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 50; i++)
		kbr_rtt_sample(&r, 0);
	assert_in_range(kbr_rtt_timeout(&r, 0, 1000), 1, 2);
	memset(&r, 0, sizeof(r));
	kbr_rtt_sample(&r, UINT64_MAX);
	assert_int_equal(kbr_rtt_timeout(&r, 1, 60000), 60000);
	kbr_rtt_sample(&r, 10);
	assert_true(kbr_rtt_timeout(&r, 1, 1000000) > 60000);	/* smoothed, not reset */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rtt_first_sample),
		cmocka_unit_test(rtt_converges),
		cmocka_unit_test(rtt_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
