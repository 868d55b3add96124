/* The daemon's shared state: one libevent loop driving one KBR node over UDP and the DHT
 * on top of it (replica records in an LMDB store), with the debug control socket and the
 * saved contacts. */
#ifndef P2PNS_P2PNSD_P2PNSD_H
#define P2PNS_P2PNSD_P2PNSD_H

#include <limits.h>
#include <stdint.h>

#include "kbr/kbr.h"

struct event_base;
struct event;
struct udp;
struct control;
struct frontend;
struct dht;
struct dht_replica;
struct dht_store;

struct p2pnsd {
	struct event_base *base;
	struct kbr *kbr;
	struct kbr_params params;
	struct identity *ident;
	struct udp *udp;
	struct dht_store *store;	/* DATADIR/store */
	struct dht_replica *rep;
	struct dht *dht;
	uint64_t last_seq;		/* of this node's latest record: seqs only grow */
	struct control *ctl;
	struct frontend *fe;		/* name service and XML-RPC server */
	struct event *timer;		/* the KBR and DHT deadline */
	struct event *save_timer;	/* saves the contacts periodically */
	struct event *sig_term, *sig_int, *sig_hup;
	char datadir[PATH_MAX];
	char contacts_path[PATH_MAX];
	char control_path[PATH_MAX];
	char store_path[PATH_MAX];
};

/* CLOCK_REALTIME in milliseconds: the clock of the KBR and of its message timestamps. */
uint64_t p2pnsd_now(void);
/* Runs the KBR and DHT timers due now and re-arms the timer to the earlier of their next
 * deadlines; to be called after every kbr_input (or batch of them) and every other kbr_* or
 * dht_* call. */
void p2pnsd_kick(struct p2pnsd *d);

#endif
