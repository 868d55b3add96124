/* The methods a node serves over XML-RPC: OverSim's P2PNS interface (register, resolve,
 * put, get, lookup, local_lookup, join, dump_dht), the OpenDHT gateway's put_removable and
 * rm, unregister, and status. They call down into p2pns/, dht/ and kbr/. */
#ifndef P2PNS_RPC_METHODS_H
#define P2PNS_RPC_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"
#include "dht/replica.h"
#include "kbr/kbr.h"
#include "p2pns/p2pns.h"
#include "rpc/rpc.h"

enum {
	RPC_NODE_MAX_ADDRS = 8,		/* bound UDP addresses shown by status */
	RPC_NODE_MAX_PENDING = 2048,	/* calls waiting on the overlay */
	RPC_GET_MAX_VALS = 1000,	/* largest maxvals of get */
	RPC_DUMP_MAX = 10000,		/* largest dump_dht */
};

struct rpc_pending;

struct rpc_node {
	struct kbr *kbr;
	struct dht *dht;
	struct dht_replica *rep;
	struct p2pns *ns;
	struct rpc_server *server;	/* request counters for status; may be NULL */
	uint64_t started;		/* ms since the Unix epoch */
	uint64_t (*now)(void);		/* the KBR's clock */
	void (*kick)(void *arg);	/* runs the KBR and DHT timers after a call started work */
	void *kick_arg;
	struct kbr_addr addrs[RPC_NODE_MAX_ADDRS];	/* UDP addresses bound */
	size_t naddrs;
	const char *version;
	/* calls waiting for a callback from below; owned here */
	struct rpc_pending *pending;
	size_t npending;
};

/* The method table (static; the arg of every entry must be set to the node by the caller,
 * which rpc_node_methods does into out). Returns the number of methods written (at most
 * max). */
size_t rpc_node_methods(struct rpc_node *node, struct rpc_method *out, size_t max);
/* Drops every call still waiting (after the server, DHT and KBR are gone: nothing can
 * call back any more). */
void rpc_node_drop_pending(struct rpc_node *node);

#endif
