/* Wiring of the P2PNS core and the XML-RPC server into the daemon. */
#include "p2pnsd/frontend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "p2pnsd/log.h"
#include "p2pnsd/p2pnsd.h"
#include "p2pnsd/udp.h"

static void
kick(void *arg)
{
	p2pnsd_kick(arg);
}

static bool
is_wildcard(const struct kbr_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, a->family == KBR_AF_INET ? 4 : 16) == 0;
}

/* "127.0.0.0/8, ::1/128": the networks writing clients may come from. */
static void
allowed(const struct frontend_opts *o, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	size_t used = 0;

	snprintf(out, len, "loopback");
	for (size_t i = 0; i < o->n_allow && used < len; i++) {
		const struct rpc_net *n = &o->allow[i];

		if (inet_ntop(n->addr.family == KBR_AF_INET6 ? AF_INET6 : AF_INET, n->addr.ip, ip,
		    sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		used += (size_t)snprintf(out + used, len - used, "%s%s/%u", i ? ", " : "", ip,
		    n->prefix);
	}
}

int
frontend_start(struct frontend *f, struct p2pnsd *d, const struct frontend_opts *o)
{
	struct p2pns_params pp;
	struct rpc_config rc;
	char s[KBR_ADDR_STRLEN], nets[RPC_MAX_ALLOW * (INET6_ADDRSTRLEN + 6)];
	int err;

	memset(f, 0, sizeof(*f));
	p2pns_params_default(&pp);
	pp.cache_names = o->cache_size;
	pp.cache_addrs = o->cache_size;
	pp.cache_ttl_ms = (uint64_t)o->cache_ttl_s * 1000;
	if (pp.addr_ttl_ms > pp.cache_ttl_ms)
		pp.addr_ttl_ms = pp.cache_ttl_ms;
	if (pp.negative_ttl_ms > pp.cache_ttl_ms)
		pp.negative_ttl_ms = pp.cache_ttl_ms;
	if (o->per_name_keys) {
		if ((size_t)snprintf(f->keystore, sizeof(f->keystore), "%s/keys", d->datadir) >=
		    sizeof(f->keystore)) {
			log_errx("data directory path too long");
			return -1;
		}
		pp.keystore_dir = f->keystore;
	}

	f->node.naddrs = udp_bound(d->udp, f->node.addrs, RPC_NODE_MAX_ADDRS);
	for (size_t i = 0; i < f->node.naddrs; i++) {
		if (!is_wildcard(&f->node.addrs[i])) {
			pp.self_addr = f->node.addrs[i];
			break;
		}
	}
	f->ns = p2pns_new(d->kbr, d->dht, d->ident, &pp);
	if (f->ns == NULL) {
		log_errx("cannot start the name service%s%s", o->per_name_keys ?
		    " (key store " : "", o->per_name_keys ? f->keystore : "");
		if (o->per_name_keys)
			log_errx("check that %s is a directory this user can write", f->keystore);
		return -1;
	}
	log_info("name service: cache of %zu names, at most %u s; %s", o->cache_size,
	    o->cache_ttl_s, o->per_name_keys ? "a key per name in DATA_DIR/keys" :
	    "names signed with the node's key");

	f->node.kbr = d->kbr;
	f->node.dht = d->dht;
	f->node.rep = d->rep;
	f->node.ns = f->ns;
	f->node.started = p2pnsd_now();
	f->node.now = p2pnsd_now;
	f->node.kick = kick;
	f->node.kick_arg = d;
	f->node.version = P2PNS_VERSION;
	f->nmethods = rpc_node_methods(&f->node, f->methods, FRONTEND_MAX_METHODS);
	if (!o->rpc) {
		log_info("XML-RPC disabled");
		return 0;
	}

	memset(&rc, 0, sizeof(rc));
	rc.listen = o->rpc_listen;
	rc.max_conns = o->max_conns;
	memcpy(rc.allow, o->allow, sizeof(rc.allow));
	rc.n_allow = o->n_allow;
	err = rpc_server_new(&f->server, d->base, &rc, f->methods, f->nmethods);
	kbr_addr_format(&o->rpc_listen, s, sizeof(s));
	if (err != 0) {
		log_errx("cannot serve XML-RPC on %s: %s", s, err == -EADDRINUSE ?
		    "address in use (another p2pnsd? see --rpc-listen)" : strerror(-err));
		return -1;
	}
	f->node.server = f->server;
	rpc_server_addr(f->server, &rc.listen);
	kbr_addr_format(&rc.listen, s, sizeof(s));
	allowed(o, nets, sizeof(nets));
	log_info("XML-RPC on http://%s/RPC2 (writing methods from %s)", s, nets);
	return 0;
}

void
frontend_stop(struct frontend *f)
{
	if (f->server != NULL)
		rpc_server_free(f->server);
	f->server = NULL;
	f->node.server = NULL;
}

void
frontend_free(struct frontend *f)
{
	frontend_stop(f);
	rpc_node_drop_pending(&f->node);
	if (f->ns != NULL)
		p2pns_free(f->ns);
	f->ns = NULL;
}
