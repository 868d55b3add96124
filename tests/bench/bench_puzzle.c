/* Benchmark of puzzle/: identity creation rate, time to solve the static puzzle (c1 = 16) and
 * a whole default identity, and the rates of signing, signature and puzzle verification.
 * Every loop is bounded in count and time. P2PNS_BENCH_RUNS sets the solve runs (default 9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "puzzle/identity.h"
#include "puzzle/puzzle.h"

enum {
	RATE_SECONDS = 1,		/* each rate is measured for about this long */
	RATE_MAX_OPS = 2000000,
	MAX_RUNS = 50,
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
report(const char *name, double value, const char *unit)
{
	printf("%-44s %14.1f %s\n", name, value, unit);
}

/* Times n identity creations at (c1, c2) with the given threads; returns the median. */
static int
solve_runs(unsigned c1, unsigned c2, unsigned threads, int n, double *med, double *worst)
{
	double t[MAX_RUNS];

	for (int i = 0; i < n; i++) {
		struct identity_solve opts = {.c1 = c1, .c2 = c2, .threads = threads};
		struct identity *ident;
		double start = now();

		if (identity_create(&ident, &opts) != 0)
			return -1;
		t[i] = now() - start;
		identity_free(ident);
	}
	*med = median(t, n);
	*worst = t[n - 1];
	return 0;
}

int
main(void)
{
	const char *env = getenv("P2PNS_BENCH_RUNS");
	int runs = env ? atoi(env) : 9, ops;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct identity_solve one = {.c1 = 0, .c2 = 0, .threads = 1};
	struct identity *ident;
	double start, med, worst;
	uint8_t sig[ID_SIG_LEN];
	static const char msg[] = "a 64-byte message, about the size of a small overlay header.....";

	if (runs < 1 || runs > MAX_RUNS)
		runs = 9;
	printf("== puzzle/ benchmark (%ld CPUs, %d solve runs)\n", cpus, runs);

	/* identity creation rate: key pairs with their node IDs, one thread */
	start = now();
	for (ops = 0; ops < RATE_MAX_OPS && now() - start < RATE_SECONDS; ops++) {
		if (identity_create(&ident, &one) != 0)
			return 1;
		identity_free(ident);
	}
	report("identity creation, no puzzle (1 thread)", ops / (now() - start), "identities/s");

	if (solve_runs(16, 0, 0, runs, &med, &worst) != 0)
		return 1;
	report("static puzzle c1=16, all CPUs: median", med, "s");
	printf("%-44s %14.1f s\n", "static puzzle c1=16, all CPUs: slowest", worst);
	printf("%-44s %16s\n", "target: median <= 5 s", med <= 5.0 ? "met" : "NOT MET");
	if (solve_runs(16, 0, 1, runs, &med, &worst) != 0)
		return 1;
	report("static puzzle c1=16, 1 thread: median", med, "s");
	if (solve_runs(0, 20, 1, runs, &med, &worst) != 0)
		return 1;
	report("dynamic puzzle c2=20: median", med, "s");
	if (solve_runs(16, 20, 0, runs, &med, &worst) != 0)
		return 1;
	report("identity c1=16 c2=20, all CPUs: median", med, "s");

	/* signing and verification rates with one c1=16, c2=20 identity */
	struct identity_solve def = {.c1 = 16, .c2 = 20};
	if (identity_create(&ident, &def) != 0)
		return 1;
	start = now();
	for (ops = 0; ops < RATE_MAX_OPS && now() - start < RATE_SECONDS; ops++)
		if (identity_sign(ident, msg, sizeof(msg), sig) != 0)
			return 1;
	report("Ed25519 sign (64-byte message)", ops / (now() - start), "signatures/s");
	start = now();
	for (ops = 0; ops < RATE_MAX_OPS && now() - start < RATE_SECONDS; ops++)
		if (identity_verify(ident->pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig, ID_SIG_LEN) != 0)
			return 1;
	report("Ed25519 verify (64-byte message)", ops / (now() - start), "verifications/s");
	start = now();
	for (ops = 0; ops < RATE_MAX_OPS && now() - start < RATE_SECONDS; ops++)
		if (identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce, 16, 20) != 0)
			return 1;
	report("puzzle check (ID = SHA-1(key), c1, c2)", ops / (now() - start), "checks/s");
	identity_free(ident);
	return 0;
}
