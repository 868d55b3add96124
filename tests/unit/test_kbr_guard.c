/* Tests for kbr/guard.c: token-bucket rate limits per source and in total, and that a source
 * flooding beyond its own bucket costs the others nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kbr/guard.h"

static void
addr(struct kbr_addr *a, unsigned host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = KBR_AF_INET;
	a->ip[0] = 10;
	a->ip[2] = (uint8_t)(host >> 8);
	a->ip[3] = (uint8_t)host;
	a->port = port;
}

static unsigned
allowed(struct kbr_ratelimit *r, uint64_t now, const struct kbr_addr *a, unsigned tries)
{
	unsigned n = 0;

	for (unsigned i = 0; i < tries; i++)
		n += kbr_ratelimit_allow(r, now, a);
	return n;
}

static void
per_source_burst_and_refill(void **state)
{
	struct kbr_ratelimit r;
	struct kbr_addr a, a_other_port, b;

	(void)state;
	kbr_ratelimit_init(&r, 10, 1000, 4);
	addr(&a, 1, 1000);
	addr(&a_other_port, 1, 2000);
	addr(&b, 2, 1000);
	/* a burst of two seconds' worth, then nothing */
	assert_int_equal(allowed(&r, 0, &a, 100), 20);
	/* the port does not make another source */
	assert_int_equal(allowed(&r, 0, &a_other_port, 5), 0);
	/* another address has its own bucket */
	assert_int_equal(allowed(&r, 0, &b, 5), 5);
	/* 10 per second come back with time, never more than the burst */
	assert_int_equal(allowed(&r, 500, &a, 100), 5);
	assert_int_equal(allowed(&r, 100000, &a, 100), 20);
	kbr_ratelimit_free(&r);
}

static void
total_limit_holds_across_sources(void **state)
{
	struct kbr_ratelimit r;
	unsigned n = 0;

	(void)state;
	kbr_ratelimit_init(&r, 1000, 50, 16);
	for (unsigned host = 0; host < 200; host++) {
		struct kbr_addr a;

		addr(&a, host, 1);
		n += allowed(&r, 0, &a, 1);
	}
	assert_int_equal(n, 100);
	kbr_ratelimit_free(&r);
}

static void
sources_bounded_least_recently_used_replaced(void **state)
{
	struct kbr_ratelimit r;
	struct kbr_addr a;
	size_t mem;

	(void)state;
	kbr_ratelimit_init(&r, 1, 1000000, 8);
	addr(&a, 0, 1);
	assert_int_equal(allowed(&r, 0, &a, 10), 2);		/* source 0 exhausted */
	mem = kbr_ratelimit_memory(&r);
	for (unsigned host = 1; host < 5000; host++) {
		struct kbr_addr other;

		addr(&other, host, 1);
		(void)kbr_ratelimit_allow(&r, host, &other);
	}
	/* memory did not grow with the sources; source 0 was forgotten and starts afresh */
	assert_int_equal(kbr_ratelimit_memory(&r), mem);
	assert_int_equal(allowed(&r, 5000, &a, 10), 2);
	kbr_ratelimit_free(&r);
}

/* The source's bucket is charged before the total one: what a flooding source sends beyond
 * its share is refused before it can take the tokens every other source lives on. */
static void
flooding_source_does_not_spend_the_total(void **state)
{
	struct kbr_ratelimit r;
	struct kbr_addr flood, other, third;
	unsigned got = 0;

	(void)state;
	/* per source 10/s (bursts of 20), in all 25/s (bursts of 50) */
	kbr_ratelimit_init(&r, 10, 25, 8);
	addr(&flood, 1, 1);
	addr(&other, 2, 1);
	addr(&third, 3, 1);
	/* 1000 at once: its burst passes, the other 980 cost the total nothing */
	assert_int_equal(allowed(&r, 0, &flood, 1000), 20);
	/* so the 30 tokens left in the total are there for the others */
	assert_int_equal(allowed(&r, 0, &other, 20), 20);
	assert_int_equal(allowed(&r, 0, &third, 20), 10);
	assert_int_equal(allowed(&r, 0, &other, 1), 0);

	/* a sustained flood, 10 datagrams every millisecond for a second, while another
	 * source sends one every 100 ms (its own rate): the total refills by 25 in that
	 * second, the flood gets its 10 and every one of the other's passes */
	for (uint64_t t = 1; t <= 1000; t++) {
		(void)allowed(&r, t, &flood, 10);
		if (t % 100 == 0)
			got += allowed(&r, t, &third, 1);
	}
	assert_int_equal(got, 10);
	kbr_ratelimit_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_source_burst_and_refill),
		cmocka_unit_test(total_limit_holds_across_sources),
		cmocka_unit_test(sources_bounded_least_recently_used_replaced),
		cmocka_unit_test(flooding_source_does_not_spend_the_total),
	};

	return cmocka_run_group_tests_name("kbr/guard", tests, NULL, NULL);
}
