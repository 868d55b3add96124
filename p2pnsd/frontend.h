/* What clients talk to: the P2PNS core (name cache, keystore, two-stage resolution) over the
 * DHT, and the XML-RPC server in the daemon's event loop serving it. */
#ifndef P2PNS_P2PNSD_FRONTEND_H
#define P2PNS_P2PNSD_FRONTEND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "p2pns/p2pns.h"
#include "rpc/methods.h"
#include "rpc/rpc.h"

struct p2pnsd;

enum { FRONTEND_MAX_METHODS = 32 };

struct frontend_opts {
	bool rpc;			/* serve XML-RPC at all */
	struct kbr_addr rpc_listen;
	struct rpc_net allow[RPC_MAX_ALLOW];	/* n_allow 0: loopback */
	size_t n_allow;
	unsigned max_conns;		/* 0: RPC_MAX_CONNS */
	size_t cache_size;		/* names and node addresses; 0: no cache */
	unsigned cache_ttl_s;		/* longest life of a cached name */
	bool per_name_keys;		/* each name its own key in DATA_DIR/keys */
};

struct frontend {
	struct p2pns *ns;
	struct rpc_server *server;
	struct rpc_node node;
	struct rpc_method methods[FRONTEND_MAX_METHODS];
	size_t nmethods;
	char keystore[PATH_MAX];
};

/* Starts the core over d's KBR and DHT, then the XML-RPC server. Returns 0 or -1 (logged). */
int frontend_start(struct frontend *f, struct p2pnsd *d, const struct frontend_opts *o);
/* Closes the XML-RPC server: to be called before the DHT and KBR are freed. */
void frontend_stop(struct frontend *f);
/* Frees the rest: after the DHT and KBR are gone (no callback can come any more). */
void frontend_free(struct frontend *f);

#endif
