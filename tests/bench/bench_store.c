/* Benchmark of dht/ storage: records per second into LMDB with a durable commit per record
 * (what a replica does before it acknowledges a STORE), reads per second, and the same for
 * the memory store. Bounded in count and time.
 * --json: one JSON object per figure on stdout, the readable lines on stderr. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dht/record.h"
#include "dht/store.h"

enum {
	MAX_RECORDS = 20000,
	MAX_SECONDS = 5,
};

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
count_one(void *arg, const struct dht_record *r)
{
	(void)r;
	(*(unsigned *)arg)++;
	return 0;
}

/* With --json, one figure as {bench, figure, value, unit} on stdout. */
static void
figure(const char *store, const char *what, double value, const char *unit)
{
	if (!json)
		return;
	printf("{\"bench\":\"store\",\"figure\":\"%s %s\",\"value\":%.9g,\"unit\":\"%s\"}\n",
	    store, what, value, unit);
	fflush(stdout);
}

static int
run(const char *name, struct dht_store *s, struct dht_record *recs, unsigned n)
{
	double start = now(), t;
	unsigned put = 0, found = 0;
	bool durable = strcmp(name, "lmdb") == 0;

	for (put = 0; put < n && now() - start < MAX_SECONDS; put++)
		if (s->ops->put(s, &recs[put]) != 0)
			return -1;
	t = now() - start;
	fprintf(human, "%-8s put %-11s%8u records in %5.2f s  %10.0f records/s\n", name,
	    durable ? "(durable)" : "", put, t, put / t);
	figure(name, durable ? "put (durable)" : "put", put / t, "records/s");
	start = now();
	for (unsigned i = 0; i < put; i++)
		if (s->ops->get(s, &recs[i].key, count_one, &found) != 0)
			return -1;
	t = now() - start;
	fprintf(human, "%-8s get            %8u keys    in %5.2f s  %10.0f gets/s\n", name, put,
	    t, put / t);
	figure(name, "get", put / t, "gets/s");
	return found == put ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct identity *owner;
	uint8_t seed[ID_SEED_LEN];
	struct dht_record *recs = calloc(MAX_RECORDS, sizeof(*recs));
	char dir[] = "/tmp/p2pns-bench-store-XXXXXX", cmd[128];
	struct dht_store *s;
	int err = 0, rc = 0;

	human = stdout;
	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		json = true;
		human = stderr;
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_store [--json]\n");
		free(recs);
		return 2;
	}
	memset(seed, 7, sizeof(seed));
	if (recs == NULL || identity_from_seed(&owner, seed, 0) != 0 || mkdtemp(dir) == NULL)
		return 1;
	for (unsigned i = 0; i < MAX_RECORDS; i++) {
		struct dht_record *r = &recs[i];
		char name[32];

		snprintf(name, sizeof(name), "sip:user%u@example.org", i);
		nodeid_sha1(&r->key, name, strlen(name));
		r->kind = 33;
		r->seq = 1;
		r->expiry = 4102444800000ULL;	/* 2100 */
		memcpy(r->owner, owner->pub, ID_PUBKEY_LEN);
		r->value_len = (uint16_t)snprintf((char *)r->value, sizeof(r->value),
		    "192.0.2.%u:5060", i % 250);
		/* signing is not what is measured here: a fixed signature will do */
	}
	fprintf(human, "== dht/ store benchmark (records of %zu bytes encoded)\n",
	    dht_record_size(&recs[0]));
	s = dht_store_lmdb_open(dir, (size_t)256 << 20, &err);
	if (s == NULL) {
		fprintf(stderr, "bench_store: cannot open LMDB in %s: %d\n", dir, err);
		return 1;
	}
	if (run("lmdb", s, recs, MAX_RECORDS) != 0)
		rc = 1;
	s->ops->close(s);
	s = dht_store_mem_new(MAX_RECORDS);
	if (s == NULL || run("memory", s, recs, MAX_RECORDS) != 0)
		rc = 1;
	if (s != NULL)
		s->ops->close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	identity_free(owner);
	free(recs);
	return rc;
}
