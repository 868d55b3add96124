/* p2pns-sim: runs the real kbr/ core, with the DHT on top of it, on many simulated nodes
 * and reports put, get and lookup success, hops, messages, time, replicas and memory as one
 * JSON line per run; --table sweeps the malicious fraction and d into CSV, --plot draws it
 * with gnuplot. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "tools/sim/sim.h"

#ifndef P2PNS_VERSION
#define P2PNS_VERSION "0.1.0"
#endif

enum {
	EXIT_USAGE = 2,
	MAX_TABLE_D = 16,
};

static const char usage[] =
    "usage: p2pns-sim [OPTIONS]\n"
    "\n"
    "Simulates an overlay of p2pns nodes running the real secure-Kademlia code over an\n"
    "in-memory network, runs lookups (of random honest nodes' IDs, from random honest\n"
    "nodes) and prints one JSON line with the results. Every node runs the DHT too: with\n"
    "--puts, names are put and read back before the lookups. The same seed gives the same\n"
    "result.\n"
    "\n"
    "overlay:\n"
    "  --nodes N             nodes (default 1000)\n"
    "  --k N --s N           bucket size and siblings (16, 16)\n"
    "  --d N --alpha N       disjoint lookup paths and RPCs in flight per path (4, 3)\n"
    "  --want N              results a lookup needs (1, the node looked for, as when a\n"
    "                        name's node is located; up to s: its closest nodes)\n"
    "  --c1 N --c2 N         puzzle difficulties of the simulated overlay (2, 2)\n"
    "  --build join|global   join every node through the protocol (default), or fill the\n"
    "                        routing tables from global knowledge (large sweeps)\n"
    "  --crypto on|off       the sessions' cryptography (on); off for large sweeps\n"
    "  --join-interval MS    time between two joins (100)\n"
    "  --settle MS           time between the build and the lookups (join: 120000, global: 0)\n"
    "  --refresh MS          bucket refresh period of the nodes (60000)\n"
    "network:\n"
    "  --latency MS          mean one-way latency; each datagram takes 50%..150% (50)\n"
    "  --loss P              probability that a datagram is lost, 0..1 (0)\n"
    "workload and adversary:\n"
    "  --lookups L           lookups (1000)\n"
    "  --lookup-interval MS  time between two lookup starts (20)\n"
    "  --malicious F         fraction of malicious nodes, 0..1 (0)\n"
    "  --attack KIND         closer: answer lookups only with malicious nodes close to the\n"
    "                        target; drop: never answer; garbage: answer with made-up\n"
    "                        contacts (default closer); the DHT attacks, by --liars of the\n"
    "                        r closest nodes of every put key, answering its gets with\n"
    "                        stale: the owner's older record; forge: a record of their\n"
    "                        own; withhold: nothing\n"
    "  --churn R             fraction of the nodes that leave without notice, as many new\n"
    "                        ones joining, during the first half of the lookups (0); with\n"
    "                        --puts, between the puts and the gets instead\n"
    "  --seed S              random seed (1)\n"
    "DHT (every node, over a memory store of 4096 records):\n"
    "  --r N                 replicas of a record, odd, 1..15 (5)\n"
    "  --maintain MS         replica maintenance period (60000)\n"
    "  --puts P              names put after the build, one every --lookup-interval (0)\n"
    "  --gets G              gets of random put names after the puts (0)\n"
    "  --liars L             with a DHT attack: liars among the r closest of a key (2)\n"
    "  --churn-span MS       with --puts: the churn's length (5 x --maintain)\n"
    "  --settle-after-churn MS  with --puts: then time for maintenance before the gets\n"
    "                        (3 x --maintain)\n"
    "sweeps:\n"
    "  --table FILE.csv      sweep the malicious fraction (0..--table-max by --table-step)\n"
    "                        for each d in --table-d, one run per point, into CSV\n"
    "  --table-d LIST        d values of the sweep (1,2,4,8)\n"
    "  --table-max F         largest malicious fraction (0.5)\n"
    "  --table-step F        its step (0.05)\n"
    "  --plot FILE.png       with --table: draw success against malicious fraction, one line\n"
    "                        per d (needs gnuplot)\n"
    "  -h, --help            this help;  -V, --version\n"
    "\n"
    "A lookup succeeds when the node it looks for is first in its result; lookups whose source\n"
    "or target left during the lookup are not counted. A get succeeds when it finds exactly\n"
    "the latest record put under the name. Exit status: 0, 1 error, 2 usage.\n";

struct run_info {
	double wall_s;
	long peak_rss_kb;
	double bytes_per_node;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Current resident set size in bytes (0 if unknown). */
static long
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static int
run_once(const struct sim_options *o, struct sim_result *res, struct run_info *info)
{
	struct sim s;
	double t0 = now_s();
	long rss0 = rss_bytes();
	int err;

	if (sim_init(&s, o) != 0)
		return -ENOMEM;
	err = o->build == BUILD_GLOBAL ? sim_build_global(&s) : sim_build_join(&s);
	if (err == 0) {
		info->bytes_per_node = o->nodes ? (double)(rss_bytes() - rss0) / o->nodes : 0;
		if (o->build == BUILD_GLOBAL)
			sim_run_until(&s, s.now + o->settle_ms);
		sim_choose_malicious(&s);
		err = sim_run_dht(&s);
		if (err == 0)
			err = sim_run_lookups(&s);
		if (err == 0)
			sim_census(&s);
	}
	s.r.sim_seconds = (double)(s.now - 1767225600000ULL) / 1000.0;
	*res = s.r;
	sim_free(&s);
	info->wall_s = now_s() - t0;
	info->peak_rss_kb = peak_rss_kb();
	return err;
}

/* A number with the given decimals, or null when it is negative (nothing measured). */
static const char *
num_or_null(char *buf, size_t len, double v, int decimals)
{
	if (v < 0)
		snprintf(buf, len, "null");
	else
		snprintf(buf, len, "%.*f", decimals, v);
	return buf;
}

static void
print_json(FILE *f, const struct sim_options *o, const struct sim_result *r,
    const struct run_info *info)
{
	char ratio[32], gratio[32], getms[32], msgs[32], rmin[32], rmean[32];
	char lmed[32], lp99[32], gmed[32], gp99[32];

	/* no counted lookup: no ratio, rather than a ratio of 0 */
	if (r->lookups_counted > 0)
		snprintf(ratio, sizeof(ratio), "%.4f", (double)r->successes / r->lookups_counted);
	else
		snprintf(ratio, sizeof(ratio), "null");
	num_or_null(gratio, sizeof(gratio), r->gets ? (double)r->gets_ok / r->gets : -1, 4);
	num_or_null(getms, sizeof(getms), r->mean_get_ms, 1);
	num_or_null(msgs, sizeof(msgs), r->msgs_per_get, 2);
	num_or_null(rmin, sizeof(rmin), r->replicas_min, 0);
	num_or_null(rmean, sizeof(rmean), r->replicas_min < 0 ? -1 : r->replicas_mean, 3);
	num_or_null(lmed, sizeof(lmed), (double)r->median_lookup_ms, 0);
	num_or_null(lp99, sizeof(lp99), (double)r->p99_lookup_ms, 0);
	num_or_null(gmed, sizeof(gmed), (double)r->median_get_ms, 0);
	num_or_null(gp99, sizeof(gp99), (double)r->p99_get_ms, 0);
	fprintf(f, "{\"nodes\":%u,\"k\":%u,\"s\":%u,\"d\":%u,\"alpha\":%u,\"c1\":%u,\"c2\":%u,"
	    "\"build\":\"%s\",\"crypto\":\"%s\",\"malicious\":%.4f,\"attack\":\"%s\","
	    "\"want\":%u,\"lookups\":%u,\"churn\":%.4f,\"seed\":%llu,\"latency_ms\":%u,\"loss\":%.4f,"
	    "\"success_ratio\":%s,\"successes\":%u,\"lookups_counted\":%u,"
	    "\"mean_hops\":%.3f,\"max_hops\":%u,\"msgs_per_lookup\":%.2f,"
	    "\"mean_lookup_ms\":%.1f,\"median_lookup_ms\":%s,\"p99_lookup_ms\":%s,"
	    "\"max_lookup_ms\":%u,"
	    "\"datagrams\":%llu,\"lost\":%llu,\"joined\":%u,\"left\":%u,\"sim_seconds\":%.3f,"
	    "\"r\":%u,\"maintain_ms\":%u,\"liars\":%u,\"puts\":%u,\"puts_ok\":%u,"
	    "\"gets\":%u,\"gets_ok\":%u,\"gets_wrong\":%u,\"gets_conflict\":%u,"
	    "\"gets_empty\":%u,\"get_success_ratio\":%s,\"mean_get_ms\":%s,"
	    "\"median_get_ms\":%s,\"p99_get_ms\":%s,"
	    "\"msgs_per_get\":%s,\"replicas_min\":%s,\"replicas_mean\":%s,"
	    "\"wall_s\":%.3f,\"peak_rss_kb\":%ld,\"bytes_per_node\":%.0f}\n",
	    o->nodes, o->p.k, o->p.s, o->p.d, o->p.alpha, o->p.c1, o->p.c2,
	    o->build == BUILD_GLOBAL ? "global" : "join", o->p.crypto ? "on" : "off",
	    o->malicious, sim_attack_name(o->attack), o->want, o->lookups, o->churn,
	    (unsigned long long)o->seed, o->latency_ms, o->loss, ratio, r->successes,
	    r->lookups_counted, r->mean_hops, r->max_hops, r->msgs_per_lookup,
	    r->mean_lookup_ms, lmed, lp99, r->max_lookup_ms,
	    (unsigned long long)r->datagrams, (unsigned long long)r->lost, r->joined, r->left,
	    r->sim_seconds, o->dp.r, o->dp.maintain_ms, o->liars, r->puts, r->puts_ok, r->gets,
	    r->gets_ok, r->gets_wrong, r->gets_conflict, r->gets_empty, gratio, getms, gmed, gp99, msgs,
	    rmin, rmean, info->wall_s, info->peak_rss_kb, info->bytes_per_node);
	fflush(f);
}

static int
parse_d_list(const char *s, unsigned *out, unsigned *n)
{
	char buf[128], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_TABLE_D || cli_parse_uint(tok, 1, KBR_MAX_D, &out[*n]) != 0)
			return -EINVAL;
		(*n)++;
	}
	return *n > 0 ? 0 : -EINVAL;
}

struct table_point {
	unsigned d;
	double malicious, ratio, mean_hops, msgs;
	unsigned max_hops, counted;
	double wall_s;
};

static int
plot(const char *png, const struct table_point *pts, size_t n, const unsigned *ds,
    unsigned nd, const struct sim_options *o)
{
	FILE *g = popen("gnuplot", "w");
	int rc;

	if (g == NULL)
		return -errno;
	fprintf(g, "set terminal pngcairo size 900,600 font 'sans,11'\n");
	fprintf(g, "set output '%s'\n", png);
	fprintf(g, "set title 'p2pns-sim: lookups under the \"%s\" attack, "
	    "N = %u, k = %u, s = %u, alpha = %u, %u lookups a point'\n",
	    sim_attack_name(o->attack), o->nodes, o->p.k, o->p.s, o->p.alpha, o->lookups);
	fprintf(g, "set xlabel 'fraction of malicious nodes'\nset ylabel 'successful lookups (%%)'\n");
	fprintf(g, "set yrange [*:100.5]\nset grid\nset key bottom left\n");
	for (unsigned j = 0; j < nd; j++) {
		fprintf(g, "$d%u << EOD\n", ds[j]);
		for (size_t i = 0; i < n; i++)
			if (pts[i].d == ds[j])
				fprintf(g, "%.4f %.4f\n", pts[i].malicious, 100.0 * pts[i].ratio);
		fprintf(g, "EOD\n");
	}
	fprintf(g, "plot ");
	for (unsigned j = 0; j < nd; j++)
		fprintf(g, "%s$d%u with linespoints lw 2 title 'd = %u'", j ? ", " : "", ds[j],
		    ds[j]);
	fprintf(g, "\n");
	rc = pclose(g);
	return rc == 0 ? 0 : -EIO;
}

static int
run_table(struct sim_options *o, const char *csv, const char *png, const unsigned *ds,
    unsigned nd, double fmax, double step)
{
	unsigned steps = (unsigned)(fmax / step + 1e-9);	/* never past fmax */
	struct table_point *pts = calloc((size_t)nd * (steps + 1), sizeof(*pts));
	size_t n = 0;
	FILE *f;
	int err = 0;

	if (pts == NULL)
		return -ENOMEM;
	f = fopen(csv, "w");
	if (f == NULL) {
		err = -errno;
		fprintf(stderr, "p2pns-sim: %s: %s\n", csv, strerror(errno));
		free(pts);
		return err;
	}
	fprintf(f, "d,malicious,success_ratio,mean_hops,max_hops,msgs_per_lookup,"
	    "lookups_counted,wall_s\n");
	for (unsigned j = 0; j < nd && err == 0; j++) {
		for (unsigned i = 0; i <= steps; i++) {
			struct sim_result r;
			struct run_info info;
			struct table_point *pt = &pts[n];

			o->p.d = ds[j];
			o->malicious = step * i;
			err = run_once(o, &r, &info);
			if (err != 0) {
				fprintf(stderr, "p2pns-sim: the simulation failed (out of memory?)\n");
				break;
			}
			print_json(stdout, o, &r, &info);
			pt->d = ds[j];
			pt->malicious = o->malicious;
			pt->ratio = r.lookups_counted ? (double)r.successes / r.lookups_counted : 0;
			pt->mean_hops = r.mean_hops;
			pt->max_hops = r.max_hops;
			pt->msgs = r.msgs_per_lookup;
			pt->counted = r.lookups_counted;
			pt->wall_s = info.wall_s;
			fprintf(f, "%u,%.4f,%.4f,%.3f,%u,%.2f,%u,%.2f\n", pt->d, pt->malicious,
			    pt->ratio, pt->mean_hops, pt->max_hops, pt->msgs, pt->counted,
			    pt->wall_s);
			fflush(f);
			n++;
		}
	}
	if (fclose(f) != 0 && err == 0) {
		err = -errno;
		fprintf(stderr, "p2pns-sim: %s: %s\n", csv, strerror(errno));
	}
	if (err == 0 && png != NULL) {
		err = plot(png, pts, n, ds, nd, o);
		if (err != 0)
			fprintf(stderr, "p2pns-sim: gnuplot could not draw %s (is gnuplot installed?)\n",
			    png);
	}
	free(pts);
	return err;
}

int
main(int argc, char **argv)
{
	enum {
		O_NODES = 256, O_K, O_S, O_D, O_ALPHA, O_C1, O_C2, O_BUILD, O_CRYPTO, O_JOINIV,
		O_SETTLE, O_REFRESH, O_LATENCY, O_LOSS, O_LOOKUPS, O_LOOKUPIV, O_MALICIOUS,
		O_ATTACK, O_CHURN, O_SEED, O_TABLE, O_TABLE_D, O_TABLE_MAX, O_TABLE_STEP, O_PLOT,
		O_R, O_MAINTAIN, O_PUTS, O_GETS, O_LIARS, O_CHURN_SPAN, O_SETTLE_CHURN, O_WANT,
	};
	static const struct option opts[] = {
		{"nodes", required_argument, NULL, O_NODES},
		{"k", required_argument, NULL, O_K},
		{"s", required_argument, NULL, O_S},
		{"d", required_argument, NULL, O_D},
		{"alpha", required_argument, NULL, O_ALPHA},
		{"c1", required_argument, NULL, O_C1},
		{"c2", required_argument, NULL, O_C2},
		{"build", required_argument, NULL, O_BUILD},
		{"crypto", required_argument, NULL, O_CRYPTO},
		{"join-interval", required_argument, NULL, O_JOINIV},
		{"settle", required_argument, NULL, O_SETTLE},
		{"refresh", required_argument, NULL, O_REFRESH},
		{"latency", required_argument, NULL, O_LATENCY},
		{"loss", required_argument, NULL, O_LOSS},
		{"lookups", required_argument, NULL, O_LOOKUPS},
		{"lookup-interval", required_argument, NULL, O_LOOKUPIV},
		{"malicious", required_argument, NULL, O_MALICIOUS},
		{"attack", required_argument, NULL, O_ATTACK},
		{"churn", required_argument, NULL, O_CHURN},
		{"seed", required_argument, NULL, O_SEED},
		{"table", required_argument, NULL, O_TABLE},
		{"table-d", required_argument, NULL, O_TABLE_D},
		{"table-max", required_argument, NULL, O_TABLE_MAX},
		{"table-step", required_argument, NULL, O_TABLE_STEP},
		{"plot", required_argument, NULL, O_PLOT},
		{"r", required_argument, NULL, O_R},
		{"maintain", required_argument, NULL, O_MAINTAIN},
		{"puts", required_argument, NULL, O_PUTS},
		{"gets", required_argument, NULL, O_GETS},
		{"liars", required_argument, NULL, O_LIARS},
		{"churn-span", required_argument, NULL, O_CHURN_SPAN},
		{"settle-after-churn", required_argument, NULL, O_SETTLE_CHURN},
		{"want", required_argument, NULL, O_WANT},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct sim_options o;
	const char *table = NULL, *png = NULL;
	unsigned ds[MAX_TABLE_D] = {1, 2, 4, 8}, nd = 4, u;
	double fmax = 0.5, step = 0.05;
	bool settle_set = false, span_set = false, settle_churn_set = false;
	int c;

	memset(&o, 0, sizeof(o));
	kbr_params_default(&o.p);
	o.p.c1 = 2;
	o.p.c2 = 2;
	o.p.rate_sources = 16;	/* no flooding here: keep the per-node memory small */
	o.want = 1;
	o.nodes = 1000;
	o.attack = ATTACK_CLOSER;
	o.lookups = 1000;
	o.seed = 1;
	o.latency_ms = 50;
	o.build = BUILD_JOIN;
	o.join_interval_ms = 100;
	o.settle_ms = 120000;
	o.lookup_interval_ms = 20;
	o.dp.r = DHT_DEFAULT_R;
	o.dp.maintain_ms = DHT_MAINTAIN_MS;
	o.liars = 2;

#define UINT_OPT(lo, hi, dst, name)                                                   \
	do {                                                                          \
		if (cli_parse_uint(optarg, lo, hi, &u) != 0) {                            \
			fprintf(stderr, "p2pns-sim: --%s takes %lu..%lu, not '%s'\n", \
			    name, (unsigned long)(lo), (unsigned long)(hi), optarg);  \
			return EXIT_USAGE;                                            \
		}                                                                     \
		dst = u;                                                              \
	} while (0)

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_NODES: UINT_OPT(2, 10000000, o.nodes, "nodes"); break;
		case O_K: UINT_OPT(1, KBR_MAX_K, o.p.k, "k"); break;
		case O_S: UINT_OPT(1, KBR_MAX_S, o.p.s, "s"); break;
		case O_D: UINT_OPT(1, KBR_MAX_D, o.p.d, "d"); break;
		case O_ALPHA: UINT_OPT(1, KBR_MAX_ALPHA, o.p.alpha, "alpha"); break;
		case O_C1: UINT_OPT(0, 20, o.p.c1, "c1"); break;
		case O_C2: UINT_OPT(0, 20, o.p.c2, "c2"); break;
		case O_JOINIV: UINT_OPT(1, 3600000, o.join_interval_ms, "join-interval"); break;
		case O_SETTLE:
			UINT_OPT(0, 36000000, o.settle_ms, "settle");
			settle_set = true;
			break;
		case O_REFRESH: UINT_OPT(1000, 3600000, o.p.refresh_ms, "refresh"); break;
		case O_LATENCY: UINT_OPT(1, 10000, o.latency_ms, "latency"); break;
		case O_LOOKUPS: UINT_OPT(0, 10000000, o.lookups, "lookups"); break;
		case O_LOOKUPIV:
			UINT_OPT(1, 3600000, o.lookup_interval_ms, "lookup-interval");
			break;
		case O_BUILD:
			if (strcmp(optarg, "join") == 0)
				o.build = BUILD_JOIN;
			else if (strcmp(optarg, "global") == 0)
				o.build = BUILD_GLOBAL;
			else
				goto bad;
			break;
		case O_CRYPTO:
			if (strcmp(optarg, "on") == 0)
				o.p.crypto = true;
			else if (strcmp(optarg, "off") == 0)
				o.p.crypto = false;
			else
				goto bad;
			break;
		case O_LOSS:
			if (cli_parse_fraction(optarg, &o.loss) != 0)
				goto bad;
			break;
		case O_MALICIOUS:
			if (cli_parse_fraction(optarg, &o.malicious) != 0)
				goto bad;
			break;
		case O_CHURN:
			if (cli_parse_fraction(optarg, &o.churn) != 0)
				goto bad;
			break;
		case O_ATTACK:
			if (sim_attack_parse(optarg, &o.attack) != 0 || o.attack == ATTACK_NONE)
				goto bad;
			break;
		case O_SEED: {
			char *end;

			if (*optarg < '0' || *optarg > '9')
				goto bad;
			errno = 0;
			o.seed = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0')
				goto bad;
			break;
		}
		case O_TABLE: table = optarg; break;
		case O_TABLE_D:
			if (parse_d_list(optarg, ds, &nd) != 0)
				goto bad;
			break;
		case O_TABLE_MAX:
			if (cli_parse_fraction(optarg, &fmax) != 0)
				goto bad;
			break;
		case O_TABLE_STEP:
			if (cli_parse_fraction(optarg, &step) != 0 || step <= 0)
				goto bad;
			break;
		case O_PLOT: png = optarg; break;
		case O_R: UINT_OPT(1, DHT_MAX_R, o.dp.r, "r"); break;
		case O_MAINTAIN: UINT_OPT(1000, 3600000, o.dp.maintain_ms, "maintain"); break;
		case O_PUTS: UINT_OPT(0, SIM_MAX_PUTS, o.puts, "puts"); break;
		case O_GETS: UINT_OPT(0, SIM_MAX_GETS, o.gets, "gets"); break;
		case O_LIARS: UINT_OPT(0, DHT_MAX_R, o.liars, "liars"); break;
		case O_CHURN_SPAN:
			UINT_OPT(0, 36000000, o.churn_span_ms, "churn-span");
			span_set = true;
			break;
		case O_SETTLE_CHURN:
			UINT_OPT(0, 36000000, o.settle_after_churn_ms, "settle-after-churn");
			settle_churn_set = true;
			break;
		case O_WANT: UINT_OPT(1, KBR_MAX_S, o.want, "want"); break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("p2pns-sim %s\n", P2PNS_VERSION);
			return 0;
		default:
			fprintf(stderr, "\n%s", usage);
			return EXIT_USAGE;
		}
		continue;
bad:
		fprintf(stderr, "p2pns-sim: bad value '%s' for --%s\n", optarg,
		    opts[c - O_NODES].name);
		return EXIT_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "p2pns-sim: unexpected argument '%s'\n\n%s", argv[optind], usage);
		return EXIT_USAGE;
	}
	if (png != NULL && table == NULL) {
		fprintf(stderr, "p2pns-sim: --plot needs --table\n");
		return EXIT_USAGE;
	}
	if (!settle_set && o.build == BUILD_GLOBAL)
		o.settle_ms = 0;
	if (!span_set)
		o.churn_span_ms = 5 * o.dp.maintain_ms;
	if (!settle_churn_set)
		o.settle_after_churn_ms = 3 * o.dp.maintain_ms;
	if (o.want > o.p.s) {
		fprintf(stderr, "p2pns-sim: --want must not exceed --s\n");
		return EXIT_USAGE;
	}
	if (o.dp.r % 2 == 0) {
		fprintf(stderr, "p2pns-sim: --r must be odd (a majority decides)\n");
		return EXIT_USAGE;
	}
	if (sim_attack_is_dht(o.attack) && o.liars > o.dp.r) {
		fprintf(stderr, "p2pns-sim: --liars must not exceed --r\n");
		return EXIT_USAGE;
	}
	if (o.gets > 0 && o.puts == 0) {
		fprintf(stderr, "p2pns-sim: --gets needs --puts (gets read the names put)\n");
		return EXIT_USAGE;
	}
	if (sim_attack_is_dht(o.attack) && o.puts == 0) {
		fprintf(stderr, "p2pns-sim: --attack %s needs --puts (liars lie about names)\n",
		    sim_attack_name(o.attack));
		return EXIT_USAGE;
	}
	if (sim_attack_is_dht(o.attack) && o.malicious > 0) {
		fprintf(stderr, "p2pns-sim: --malicious is for the KBR attacks (closer, drop, "
		    "garbage); --attack %s uses --liars\n", sim_attack_name(o.attack));
		return EXIT_USAGE;
	}
	if (kbr_params_check(&o.p) != 0) {
		fprintf(stderr, "p2pns-sim: inconsistent overlay parameters\n");
		return EXIT_USAGE;
	}
	if (table != NULL) {
		/* run_table says what went wrong */
		return run_table(&o, table, png, ds, nd, fmax, step) == 0 ? 0 : 1;
	}

	struct sim_result r;
	struct run_info info;

	if (run_once(&o, &r, &info) != 0) {
		fprintf(stderr, "p2pns-sim: the simulation failed (out of memory?)\n");
		return 1;
	}
	print_json(stdout, &o, &r, &info);
	return 0;
}
