/* Benchmark of puzzle/: identity creation rate, time to solve the static puzzle (c1 = 16) and
 * a whole default identity, and the rates of signing, signature and puzzle verification.
 * Every loop is bounded in count and time. P2PNS_BENCH_RUNS sets the solve runs (default 9).
 * --json: one JSON object per figure on stdout, the readable lines on stderr. */
#include <stdbool.h>
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
	SOLVE_SECONDS = 25,		/* no new solve run of one kind starts after this */
};

static const double TARGET_STATIC_S = 5.0;	/* median of the static puzzle, all CPUs */

static FILE *human;		/* the readable lines: stdout, or stderr with --json */
static bool json;

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

/* One figure: a readable line, and with --json an object {bench, figure, value, unit} (with
 * cmp and target when target_cmp is not NULL). */
static void
report_target(const char *name, double value, const char *unit, const char *target_cmp,
    double target)
{
	fprintf(human, "%-44s %14.1f %s\n", name, value, unit);
	if (!json)
		return;
	printf("{\"bench\":\"puzzle\",\"figure\":\"%s\",\"value\":%.9g,\"unit\":\"%s\"", name,
	    value, unit);
	if (target_cmp != NULL)
		printf(",\"cmp\":\"%s\",\"target\":%.9g", target_cmp, target);
	printf("}\n");
	fflush(stdout);
}

static void
report(const char *name, double value, const char *unit)
{
	report_target(name, value, unit, NULL, 0);
}

/* Times up to n identity creations at (c1, c2) with the given threads, starting no new one
 * after SOLVE_SECONDS; returns the runs done (0 on an error) with their median and slowest. */
static int
solve_runs(unsigned c1, unsigned c2, unsigned threads, int n, double *med, double *worst)
{
	double t[MAX_RUNS], begin = now();
	int done = 0;

	while (done < n && (done == 0 || now() - begin < SOLVE_SECONDS)) {
		struct identity_solve opts = {.c1 = c1, .c2 = c2, .threads = threads};
		struct identity *ident;
		double start = now();

		if (identity_create(&ident, &opts) != 0)
			return 0;
		t[done++] = now() - start;
		identity_free(ident);
	}
	*med = median(t, done);
	*worst = t[done - 1];
	return done;
}

int
main(int argc, char **argv)
{
	const char *env = getenv("P2PNS_BENCH_RUNS");
	int runs = env ? atoi(env) : 9, ops, done;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct identity_solve one = {.c1 = 0, .c2 = 0, .threads = 1};
	struct identity *ident;
	double start, med, worst;
	uint8_t sig[ID_SIG_LEN];
	static const char msg[] = "a 64-byte message, about the size of a small overlay header.....";

	human = stdout;
	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		json = true;
		human = stderr;
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_puzzle [--json]\n");
		return 2;
	}
	if (runs < 1 || runs > MAX_RUNS)
		runs = 9;
	fprintf(human, "== puzzle/ benchmark (%ld CPUs, up to %d solve runs or %d s each)\n",
	    cpus, runs, SOLVE_SECONDS);

	/* identity creation rate: key pairs with their node IDs, one thread */
	start = now();
	for (ops = 0; ops < RATE_MAX_OPS && now() - start < RATE_SECONDS; ops++) {
		if (identity_create(&ident, &one) != 0)
			return 1;
		identity_free(ident);
	}
	report("identity creation, no puzzle (1 thread)", ops / (now() - start), "identities/s");

	done = solve_runs(16, 0, 0, runs, &med, &worst);
	if (done == 0)
		return 1;
	report_target("static puzzle c1=16, all CPUs: median", med, "s", "<=", TARGET_STATIC_S);
	report("static puzzle c1=16, all CPUs: slowest", worst, "s");
	fprintf(human, "%-44s %16s\n", "target: median <= 5 s",
	    med <= TARGET_STATIC_S ? "PASS" : "BELOW");
	fprintf(human, "%-44s %14d\n", "  (solve runs)", done);
	if (solve_runs(16, 0, 1, runs, &med, &worst) == 0)
		return 1;
	report("static puzzle c1=16, 1 thread: median", med, "s");
	if (solve_runs(0, 20, 1, runs, &med, &worst) == 0)
		return 1;
	report("dynamic puzzle c2=20: median", med, "s");
	if (solve_runs(16, 20, 0, runs, &med, &worst) == 0)
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
