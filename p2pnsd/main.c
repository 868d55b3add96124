/* p2pnsd: the p2pns daemon. Reads its options (config.c), loads or creates the node
 * identity, runs the secure-Kademlia node over UDP on one libevent loop with the DHT on top
 * of it (its replica records in an LMDB store in the data directory) and offers the debug
 * control socket. SIGTERM and SIGINT stop it, SIGHUP reopens the log file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "dht/dht.h"
#include "dht/replica.h"
#include "dht/store.h"
#include "kbr/kbr.h"
#include "p2pnsd/config.h"
#include "p2pnsd/contacts.h"
#include "p2pnsd/control.h"
#include "p2pnsd/frontend.h"
#include "p2pnsd/log.h"
#include "p2pnsd/p2pnsd.h"
#include "p2pnsd/udp.h"
#include "puzzle/puzzle.h"

enum {
	SAVE_INTERVAL_S = 60,		/* contacts are saved this often */
	KICK_MAX_MS = 10 * 1000,	/* longest timer wait (the wall clock may jump) */
};

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

/* SIGHUP: logrotate has moved the log file away. The configuration is not read again. */
static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_info("received SIGHUP, reopening the log");
	if (log_reopen() == 0)
		log_info("log reopened");
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

/* The name service and the XML-RPC server over the DHT. */
static int
frontend_begin(struct p2pnsd *d, const struct options *o)
{
	static struct frontend fe;
	struct frontend_opts fo;

	memset(&fo, 0, sizeof(fo));
	fo.rpc = o->rpc_listen.family != KBR_AF_NONE;
	fo.rpc_listen = o->rpc_listen;
	memcpy(fo.allow, o->rpc_write_allow, sizeof(fo.allow));
	fo.n_allow = o->rpc_nwrite_allow;
	fo.max_conns = o->rpc_max_conns;
	fo.cache_size = o->cache_size;
	fo.cache_ttl_s = o->cache_ttl_s;
	fo.per_name_keys = o->name_keys == CONFIG_NAME_KEYS_PER_NAME;
	d->fe = &fe;
	return frontend_start(d->fe, d, &fo);
}

static void
daemon_free(struct p2pnsd *d)
{
	/*
	 * The DHT before the replica and the KBR it borrows, the KBR before the store the
	 * replica wrote to. Neither calls back when freed, so the control's requests (lookups,
	 * puts, gets) go last: they must outlive every callback that could still name them.
	 * The same holds for the calls the XML-RPC server has waiting on the DHT: the server
	 * closes first, the calls are dropped after the DHT and the KBR are gone.
	 */
	if (d->fe != NULL)
		frontend_stop(d->fe);
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
	if (d->fe != NULL)
		frontend_free(d->fe);
	d->fe = NULL;
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
	if (d->sig_hup != NULL)
		event_free(d->sig_hup);
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
	if (o->identity[0] != '\0') {
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
	if (dht_start(d, o) != 0 || frontend_begin(d, o) != 0)
		return -1;
	d->timer = evtimer_new(d->base, on_timer, d);
	d->save_timer = event_new(d->base, -1, EV_PERSIST, on_save_timer, d);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_sighup, d);
	if (d->timer == NULL || d->save_timer == NULL || d->sig_term == NULL ||
	    d->sig_int == NULL || d->sig_hup == NULL || event_add(d->save_timer, &save_tv) != 0 ||
	    evsignal_add(d->sig_term, NULL) != 0 || evsignal_add(d->sig_int, NULL) != 0 ||
	    evsignal_add(d->sig_hup, NULL) != 0) {
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
	static struct options o;
	int rc, err;

	rc = config_parse(&o, argc, argv);
	if (rc >= 0)
		return rc;
	err = log_init(o.loglevel, o.log_file[0] != '\0' ? o.log_file : NULL, o.syslog);
	if (err != 0) {
		fprintf(stderr, "p2pnsd: cannot open log file %s: %s\n", o.log_file,
		    strerror(-err));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* until the event loop takes it over */

	if (daemon_start(&d, &o) != 0) {
		daemon_free(&d);
		libevent_global_shutdown();
		log_close();
		return 1;
	}
	if (event_base_dispatch(d.base) < 0)
		log_errx("event loop failed");
	/* a second SIGTERM must not cut the shutdown short (the loop's handlers go below) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	save_contacts(&d, true);
	daemon_free(&d);
	libevent_global_shutdown();
	log_info("exiting");
	log_close();
	return 0;
}
