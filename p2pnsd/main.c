/* p2pnsd: the p2pns daemon. Loads or creates the node identity, runs the secure-Kademlia
 * node over UDP on one libevent loop with the DHT on top of it (its replica records in an
 * LMDB store in the data directory) and offers the debug control socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "common/cli.h"
#include "dht/dht.h"
#include "dht/replica.h"
#include "dht/store.h"
#include "kbr/kbr.h"
#include "p2pnsd/contacts.h"
#include "p2pnsd/control.h"
#include "p2pnsd/log.h"
#include "p2pnsd/p2pnsd.h"
#include "p2pnsd/udp.h"
#include "puzzle/puzzle.h"

#ifndef P2PNS_VERSION
#define P2PNS_VERSION "0.1.0"
#endif

enum {
	EXIT_USAGE = 2,
	MAX_BOOTSTRAP = 64,		/* --bootstrap addresses */
	SAVE_INTERVAL_S = 60,		/* contacts are saved this often */
	KICK_MAX_MS = 10 * 1000,	/* longest timer wait (the wall clock may jump) */
	STORE_SIZE_DEFAULT = 256,	/* --store-size, MB */
	STORE_SIZE_MAX = 64 * 1024,	/* MB: the map is address space, reserved up front */
	REPLICAS_MAX = DHT_MAX_R % 2 ? DHT_MAX_R : DHT_MAX_R - 1,	/* odd */
};

static const char usage[] =
    "usage: p2pnsd --port P --data-dir DIR [--bind ADDR]... [--bootstrap HOST:PORT]...\n"
    "              [--identity FILE] [--c1 N] [--c2 N] [--replicas N] [--store-size MB]\n"
    "              [--log-level LEVEL]\n"
    "\n"
    "Runs a p2pns node: the secure-Kademlia overlay over UDP (IPv4 and IPv6) and the\n"
    "replicated DHT on top of it.\n"
    "\n"
    "  --port P              UDP port, 1..65535 (required)\n"
    "  --bind ADDR           IPv4 or IPv6 address to listen on; may repeat\n"
    "                        (default: 0.0.0.0 and ::, IPv6 sockets are IPv6-only)\n"
    "  --bootstrap HOST:PORT a node to join through, \"1.2.3.4:5\" or \"[::1]:5\"; may repeat\n"
    "  --data-dir DIR        state directory (created with mode 0700): identity.pem,\n"
    "                        contacts, control.sock, store/ (required)\n"
    "  --identity FILE       identity file (default DIR/identity.pem; created if missing)\n"
    "  --c1 N                static puzzle difficulty of the overlay, 0..40 (default 16)\n"
    "  --c2 N                dynamic puzzle difficulty of the overlay, 0..40 (default 20)\n"
    "  --replicas N          replicas of each DHT record, odd, 1..15 (default 5)\n"
    "  --store-size MB       largest size of the record store DIR/store, 1..65536\n"
    "                        (default 256)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  -h, --help            this help\n"
    "  -V, --version         print the version\n"
    "\n"
    "Every node of an overlay must use the same c1 and c2, and should use the same\n"
    "replicas. The saved contacts let a node rejoin without --bootstrap. SIGTERM or\n"
    "SIGINT stop the node cleanly.\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

struct options {
	unsigned port;
	struct kbr_addr binds[UDP_MAX_SOCKETS];
	size_t nbinds;
	struct kbr_addr boots[MAX_BOOTSTRAP];
	size_t nboots;
	const char *datadir;
	const char *identity;
	unsigned c1, c2;
	unsigned replicas;
	unsigned store_mb;
	int loglevel;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("p2pnsd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	return EXIT_USAGE;
}

/* An IP address without a port: "1.2.3.4", "::1" or "[::1]". */
static int
parse_ip(const char *s, struct kbr_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	memset(out, 0, sizeof(*out));
	if (len >= sizeof(buf))
		return -EINVAL;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, out->ip) != 1)
			return -EINVAL;
		out->family = KBR_AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, s, out->ip) == 1) {
		out->family = KBR_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->ip) == 1) {
		out->family = KBR_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* Returns -1 to go on, or the exit status. */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"bind", required_argument, NULL, 'b'},
		{"bootstrap", required_argument, NULL, 'B'},
		{"data-dir", required_argument, NULL, 'd'},
		{"identity", required_argument, NULL, 'i'},
		{"c1", required_argument, NULL, '1'},
		{"c2", required_argument, NULL, '2'},
		{"replicas", required_argument, NULL, 'r'},
		{"store-size", required_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool have_port = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->c1 = 16;
	o->c2 = 20;
	o->replicas = DHT_DEFAULT_R;
	o->store_mb = STORE_SIZE_DEFAULT;
	o->loglevel = LOG_INFO;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_parse_uint(optarg, 1, 65535, &o->port) != 0)
				return usage_error("bad --port '%s' (1..65535)", optarg);
			have_port = true;
			break;
		case 'b':
			if (o->nbinds >= UDP_MAX_SOCKETS)
				return usage_error("at most %d --bind addresses", UDP_MAX_SOCKETS);
			if (parse_ip(optarg, &o->binds[o->nbinds]) != 0)
				return usage_error("bad --bind address '%s' (an IPv4 or IPv6 "
				    "address without a port)", optarg);
			o->nbinds++;
			break;
		case 'B':
			if (o->nboots >= MAX_BOOTSTRAP)
				return usage_error("at most %d --bootstrap addresses", MAX_BOOTSTRAP);
			if (kbr_addr_parse(&o->boots[o->nboots], optarg) != 0)
				return usage_error("bad --bootstrap address '%s' (use 1.2.3.4:5 "
				    "or [::1]:5)", optarg);
			o->nboots++;
			break;
		case 'd':
			if (optarg[0] == '\0')
				return usage_error("empty --data-dir");
			o->datadir = optarg;
			break;
		case 'i':
			if (optarg[0] == '\0')
				return usage_error("empty --identity");
			o->identity = optarg;
			break;
		case '1':
			if (cli_parse_uint(optarg, 0, PUZZLE_MAX_BITS, &o->c1) != 0)
				return usage_error("bad --c1 '%s' (0..%d)", optarg, PUZZLE_MAX_BITS);
			break;
		case '2':
			if (cli_parse_uint(optarg, 0, PUZZLE_MAX_BITS, &o->c2) != 0)
				return usage_error("bad --c2 '%s' (0..%d)", optarg, PUZZLE_MAX_BITS);
			break;
		case 'r':
			if (cli_parse_uint(optarg, 1, REPLICAS_MAX, &o->replicas) != 0 ||
			    o->replicas % 2 == 0)
				return usage_error("bad --replicas '%s' (odd, 1..%d)", optarg,
				    REPLICAS_MAX);
			break;
		case 's':
			if (cli_parse_uint(optarg, 1, STORE_SIZE_MAX, &o->store_mb) != 0)
				return usage_error("bad --store-size '%s' (1..%d MB)", optarg,
				    STORE_SIZE_MAX);
			break;
		case 'l':
			o->loglevel = log_level_parse(optarg);
			if (o->loglevel < 0)
				return usage_error("bad --log-level '%s' (error, warn, info, "
				    "debug)", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("p2pnsd %s\n", P2PNS_VERSION);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_port)
		return usage_error("--port is required");
	if (o->datadir == NULL)
		return usage_error("--data-dir is required");
	return -1;
}

uint64_t
p2pnsd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
p2pnsd_kick(struct p2pnsd *d)
{
	uint64_t now = p2pnsd_now(), next = kbr_tick(d->kbr, now), wait;
	struct timeval tv;

	if (d->dht != NULL) {
		uint64_t dnext = dht_tick(d->dht, now);

		if (dnext < next)
			next = dnext;
	}
	wait = next > now ? next - now : 0;
	if (wait > KICK_MAX_MS)
		wait = KICK_MAX_MS;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	if (evtimer_add(d->timer, &tv) != 0)
		fatalx("cannot arm the KBR and DHT timer");
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	p2pnsd_kick(arg);
}

static void
on_datagram(void *arg, const uint8_t *buf, size_t len, const struct kbr_addr *from)
{
	struct p2pnsd *d = arg;

	kbr_input(d->kbr, p2pnsd_now(), buf, len, from);
}

static void
on_batch(void *arg)
{
	p2pnsd_kick(arg);
}

static void
on_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct p2pnsd *d = arg;

	udp_send(d->udp, to, buf, len);
}

/* STORE and FIND_VALUE from other nodes: the DHT's (none before it exists). */
static uint8_t
on_app_request(void *arg, uint64_t now, const struct kbr_contact *from, uint8_t type,
    const uint8_t *body, size_t len, uint8_t *answer, size_t *answer_len)
{
	struct p2pnsd *d = arg;

	if (d->dht == NULL)
		return 0;
	return dht_handle_request(d->dht, now, from, type, body, len, answer, answer_len);
}

static void
on_random(void *arg, void *buf, size_t len)
{
	(void)arg;
	if (len > 0x7fffffff || RAND_bytes(buf, (int)len) != 1)
		fatalx("RAND_bytes failed");
}

static void
save_contacts(struct p2pnsd *d, bool verbose)
{
	int n = contacts_save(kbr_get_table(d->kbr), d->contacts_path);

	if (n < 0)
		log_warnx("cannot save contacts to %s: %s", d->contacts_path, strerror(-n));
	else if (n == 0)
		log_debug("no contacts to save");
	else if (verbose)
		log_info("saved %d contacts to %s", n, d->contacts_path);
	else
		log_debug("saved %d contacts to %s", n, d->contacts_path);
}

static void
on_save_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	save_contacts(arg, false);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct p2pnsd *d = arg;

	(void)what;
	log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(d->base);
}

/* Creates the data directory (one level, mode 0700) if it does not exist. */
static int
make_datadir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0) {
		log_info("created data directory %s", dir);
		return 0;
	}
	if (errno != EEXIST) {
		log_err("cannot create data directory %s", dir);
		return -1;
	}
	if (stat(dir, &st) != 0) {
		log_err("%s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_errx("data directory %s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* Loads the identity at path, creating it for (c1, c2) if there is none, and checks it
 * against the overlay's puzzles. */
static int
load_identity(struct identity **out, const char *path, unsigned c1, unsigned c2)
{
	struct identity *ident;
	char hex[NODEID_HEX_LEN + 1];
	int err;

	err = identity_load(&ident, path);
	if (err == -ENOENT) {
		struct identity_solve solve = {.c1 = c1, .c2 = c2};

		log_info("no identity at %s: creating one (c1 %u, c2 %u)", path, c1, c2);
		err = identity_create(&ident, &solve);
		if (err != 0) {
			log_errx("cannot create an identity: %s", identity_strerror(err));
			return -1;
		}
		err = identity_save(ident, path, false);
		if (err != 0) {
			log_errx("cannot write identity %s: %s", path, identity_strerror(err));
			identity_free(ident);
			return -1;
		}
		nodeid_to_hex(&ident->id, hex);
		log_info("created identity %s (node-id %s)", path, hex);
	} else if (err != 0) {
		log_errx("cannot load identity %s: %s", path, identity_strerror(err));
		return -1;
	}
	if (identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce, c1, c2) != 0) {
		log_errx("identity %s was made for c1 %u, c2 %u and does not meet this overlay's "
		    "puzzles (c1 %u, c2 %u): create one with p2pns-keygen create --c1 %u --c2 %u",
		    path, ident->c1, ident->c2, c1, c2, c1, c2);
		identity_free(ident);
		return -1;
	}
	*out = ident;
	return 0;
}

static int
path_join(char *out, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len) {
		log_errx("path %s/%s too long", dir, name);
		return -1;
	}
	return 0;
}

static int
bind_all(struct p2pnsd *d, const struct options *o)
{
	struct kbr_addr a;
	char s[KBR_ADDR_STRLEN];
	int err;

	if (o->nbinds > 0) {
		for (size_t i = 0; i < o->nbinds; i++) {
			a = o->binds[i];
			a.port = (uint16_t)o->port;
			err = udp_bind(d->udp, &a);
			if (err != 0) {
				kbr_addr_format(&a, s, sizeof(s));
				log_errx("cannot bind %s: %s", s, strerror(-err));
				return -1;
			}
		}
		return 0;
	}
	/* the defaults: IPv4 and IPv6 wildcards; a host without IPv6 gets IPv4 only */
	memset(&a, 0, sizeof(a));
	a.family = KBR_AF_INET;
	a.port = (uint16_t)o->port;
	err = udp_bind(d->udp, &a);
	if (err != 0) {
		log_errx("cannot bind 0.0.0.0:%u: %s", o->port, strerror(-err));
		return -1;
	}
	a.family = KBR_AF_INET6;
	err = udp_bind(d->udp, &a);
	if (err == -EAFNOSUPPORT || err == -EADDRNOTAVAIL) {
		log_warnx("no IPv6 (%s): listening on IPv4 only", strerror(-err));
	} else if (err != 0) {
		log_errx("cannot bind [::]:%u: %s", o->port, strerror(-err));
		return -1;
	}
	return 0;
}

static void
bootstrap_all(struct p2pnsd *d, const struct options *o)
{
	struct saved_contact saved[CONTACTS_MAX];
	char s[KBR_ADDR_STRLEN];
	int n, err;

	for (size_t i = 0; i < o->nboots; i++) {
		err = kbr_bootstrap(d->kbr, p2pnsd_now(), &o->boots[i]);
		kbr_addr_format(&o->boots[i], s, sizeof(s));
		if (err != 0)
			log_warnx("cannot bootstrap from %s: %s", s, strerror(-err));
		else
			log_info("bootstrapping from %s", s);
	}
	n = contacts_load(d->contacts_path, saved, CONTACTS_MAX);
	if (n == -ENOENT) {
		log_debug("no saved contacts in %s", d->contacts_path);
	} else if (n < 0) {
		log_warnx("cannot read saved contacts %s: %s", d->contacts_path, strerror(-n));
	} else {
		unsigned ok = 0;

		for (int i = 0; i < n; i++) {
			if (nodeid_eq(&saved[i].id, kbr_self_id(d->kbr)))
				continue;
			err = kbr_bootstrap(d->kbr, p2pnsd_now(), &saved[i].addr);
			if (err == 0) {
				ok++;
			} else {
				kbr_addr_format(&saved[i].addr, s, sizeof(s));
				log_warnx("cannot bootstrap from saved contact %s: %s", s,
				    strerror(-err));
			}
		}
		log_info("bootstrapping from %u saved contacts in %s", ok, d->contacts_path);
	}
	if (o->nboots == 0 && n <= 0)
		log_warnx("no bootstrap address and no saved contacts: waiting for other "
		    "nodes to contact this one");
	p2pnsd_kick(d);
}

static void
daemon_free(struct p2pnsd *d)
{
	/*
	 * The DHT before the replica and the KBR it borrows, the KBR before the store the
	 * replica wrote to. Neither calls back when freed, so the control's requests (lookups,
	 * puts, gets) go last: they must outlive every callback that could still name them.
	 */
	dht_free(d->dht);
	d->dht = NULL;
	dht_replica_free(d->rep);
	d->rep = NULL;
	if (d->kbr != NULL)
		kbr_free(d->kbr);
	d->kbr = NULL;
	if (d->store != NULL)
		d->store->ops->close(d->store);
	d->store = NULL;
	control_free(d->ctl);
	udp_free(d->udp);
	if (d->timer != NULL)
		event_free(d->timer);
	if (d->save_timer != NULL)
		event_free(d->save_timer);
	if (d->sig_term != NULL)
		event_free(d->sig_term);
	if (d->sig_int != NULL)
		event_free(d->sig_int);
	if (d->base != NULL)
		event_base_free(d->base);
	identity_free(d->ident);
	memset(d, 0, sizeof(*d));
}

/* The record store, the replica rules over it and the DHT over the KBR. */
static int
dht_start(struct p2pnsd *d, const struct options *o)
{
	struct dht_replica_limits lim;
	struct dht_params dp = {.r = o->replicas};
	int err = 0;

	d->store = dht_store_lmdb_open(d->store_path, (size_t)o->store_mb << 20, &err);
	if (d->store == NULL) {
		log_errx("cannot open the record store %s: %s", d->store_path,
		    err == -ENOTDIR ? "not a directory" : strerror(-err));
		return -1;
	}
	dht_replica_limits_default(&lim);
	d->rep = dht_replica_new(d->store, &lim);
	if (d->rep == NULL) {
		log_errx("cannot read the record store %s", d->store_path);
		return -1;
	}
	d->dht = dht_new(d->kbr, d->rep, &dp);
	if (d->dht == NULL) {
		log_errx("cannot start the DHT (%u replicas)", o->replicas);
		return -1;
	}
	return 0;
}

static int
daemon_start(struct p2pnsd *d, const struct options *o)
{
	struct timeval save_tv = {SAVE_INTERVAL_S, 0};
	struct kbr_io io = {0};
	struct kbr_addr bound[UDP_MAX_SOCKETS];
	char hex[NODEID_HEX_LEN + 1], idpath[PATH_MAX], s[KBR_ADDR_STRLEN];
	size_t nbound;
	int err;

	if ((size_t)snprintf(d->datadir, sizeof(d->datadir), "%s", o->datadir) >=
	    sizeof(d->datadir)) {
		log_errx("data directory path too long");
		return -1;
	}
	if (make_datadir(d->datadir) != 0 ||
	    path_join(d->contacts_path, sizeof(d->contacts_path), d->datadir, "contacts") != 0 ||
	    path_join(d->control_path, sizeof(d->control_path), d->datadir, "control.sock") != 0 ||
	    path_join(d->store_path, sizeof(d->store_path), d->datadir, "store") != 0)
		return -1;
	if (o->identity != NULL) {
		if ((size_t)snprintf(idpath, sizeof(idpath), "%s", o->identity) >= sizeof(idpath)) {
			log_errx("identity path too long");
			return -1;
		}
	} else if (path_join(idpath, sizeof(idpath), d->datadir, "identity.pem") != 0) {
		return -1;
	}

	kbr_params_default(&d->params);
	d->params.c1 = o->c1;
	d->params.c2 = o->c2;
	if (kbr_params_check(&d->params) != 0) {
		log_errx("bad overlay parameters");
		return -1;
	}
	if (load_identity(&d->ident, idpath, o->c1, o->c2) != 0)
		return -1;

	d->base = event_base_new();
	if (d->base == NULL) {
		log_errx("cannot create the event loop");
		return -1;
	}
	d->udp = udp_new(d->base, on_datagram, on_batch, d);
	if (d->udp == NULL) {
		log_errx("out of memory");
		return -1;
	}
	if (bind_all(d, o) != 0)
		return -1;
	io.arg = d;
	io.send = on_send;
	io.random = on_random;
	io.app_request = on_app_request;
	d->kbr = kbr_new(&d->params, d->ident, &io);
	if (d->kbr == NULL) {
		log_errx("cannot start the KBR node");
		return -1;
	}
	/* the control socket first: it tells a second daemon on this directory to go away */
	err = control_open(&d->ctl, d, d->control_path);
	if (err != 0) {
		log_errx("cannot open control socket %s: %s", d->control_path,
		    err == -EADDRINUSE ? "another p2pnsd is using this data directory" :
		    err == -EEXIST ? "a file that is not a socket is in the way" :
		    strerror(-err));
		return -1;
	}
	if (dht_start(d, o) != 0)
		return -1;
	d->timer = evtimer_new(d->base, on_timer, d);
	d->save_timer = event_new(d->base, -1, EV_PERSIST, on_save_timer, d);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	if (d->timer == NULL || d->save_timer == NULL || d->sig_term == NULL ||
	    d->sig_int == NULL || event_add(d->save_timer, &save_tv) != 0 ||
	    evsignal_add(d->sig_term, NULL) != 0 || evsignal_add(d->sig_int, NULL) != 0) {
		log_errx("cannot set up events");
		return -1;
	}

	nodeid_to_hex(kbr_self_id(d->kbr), hex);
	log_info("p2pnsd %s: node-id %s, overlay c1 %u c2 %u, data directory %s",
	    P2PNS_VERSION, hex, d->params.c1, d->params.c2, d->datadir);
	log_info("control socket %s", d->control_path);
	log_info("DHT: %u replicas per record; store %s (at most %u MB) holds %zu records",
	    o->replicas, d->store_path, o->store_mb, dht_replica_count(d->rep));
	bootstrap_all(d, o);
	nbound = udp_bound(d->udp, bound, UDP_MAX_SOCKETS);
	for (size_t i = 0; i < nbound; i++) {
		kbr_addr_format(&bound[i], s, sizeof(s));
		log_info("listening on %s node-id %s", s, hex);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct p2pnsd d;
	struct options o;
	int rc;

	rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	log_init(o.loglevel, false);
	signal(SIGPIPE, SIG_IGN);

	if (daemon_start(&d, &o) != 0) {
		daemon_free(&d);
		libevent_global_shutdown();
		return 1;
	}
	if (event_base_dispatch(d.base) < 0)
		log_errx("event loop failed");
	save_contacts(&d, true);
	daemon_free(&d);
	libevent_global_shutdown();
	log_info("exiting");
	return 0;
}
