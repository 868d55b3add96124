/* Tests for kbr/guard.c: token-bucket rate limits and the replay cache. */
#include <errno.h>
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

static void
replay_seen_until_expiry(void **state)
{
	struct kbr_replay c;
	struct nodeid s1, s2;

	(void)state;
	memset(&s1, 1, sizeof(s1));
	memset(&s2, 2, sizeof(s2));
	kbr_replay_init(&c, 100);
	uint64_t k1 = kbr_replay_key(&s1, 7), k2 = kbr_replay_key(&s2, 7);
	assert_true(k1 != k2 && k1 != 0);
	assert_false(kbr_replay_seen(&c, k1, 0));
	assert_int_equal(kbr_replay_insert(&c, k1, 1000, 0), 0);
	assert_true(kbr_replay_seen(&c, k1, 999));
	assert_true(kbr_replay_seen(&c, k1, 1000));
	assert_false(kbr_replay_seen(&c, k2, 10));
	assert_false(kbr_replay_seen(&c, k1, 1001));
	kbr_replay_purge(&c, 2000);
	assert_int_equal(c.n, 0);
	kbr_replay_free(&c);
}

static void
replay_full_refuses_instead_of_forgetting(void **state)
{
	struct kbr_replay c;
	struct nodeid s;
	unsigned ok = 0;

	(void)state;
	memset(&s, 9, sizeof(s));
	kbr_replay_init(&c, 1000);
	for (uint64_t tid = 1; tid <= 5000; tid++) {
		int err = kbr_replay_insert(&c, kbr_replay_key(&s, tid), 100000, 0);

		if (err == 0)
			ok++;
		else
			assert_int_equal(err, -EBUSY);
	}
	assert_true(ok >= 1000 && ok < 5000);
	/* everything accepted is still remembered */
	for (uint64_t tid = 1; tid <= ok; tid++)
		assert_true(kbr_replay_seen(&c, kbr_replay_key(&s, tid), 50000));
	size_t full = kbr_replay_memory(&c);
	/* once they expire there is room again, and purging shrinks the table */
	assert_int_equal(kbr_replay_insert(&c, kbr_replay_key(&s, 99999), 300000, 200000), 0);
	kbr_replay_purge(&c, 200000);
	assert_true(kbr_replay_memory(&c) < full);
	assert_true(kbr_replay_seen(&c, kbr_replay_key(&s, 99999), 200001));
	kbr_replay_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_source_burst_and_refill),
		cmocka_unit_test(total_limit_holds_across_sources),
		cmocka_unit_test(sources_bounded_least_recently_used_replaced),
		cmocka_unit_test(replay_seen_until_expiry),
		cmocka_unit_test(replay_full_refuses_instead_of_forgetting),
	};

	return cmocka_run_group_tests_name("kbr/guard", tests, NULL, NULL);
}
