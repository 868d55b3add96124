/* The debug control socket: a UNIX stream socket taking one command line per connection
 * and answering with one JSON line (id, table, lookup HEX40, ping ADDR, stats; the DHT's
 * put NAME VALUE [TTL], get NAME, remove NAME, store, holds NAME). */
#ifndef P2PNS_P2PNSD_CONTROL_H
#define P2PNS_P2PNSD_CONTROL_H

struct p2pnsd;
struct control;

enum {
	CTL_MAX_CONNS = 32,		/* further connections are closed at once */
	CTL_LINE_MAX = 512,		/* longest command line but put */
	CTL_PUT_LINE_MAX = 2048,	/* longest put line: name, value and TTL fit */
	CTL_IO_TIMEOUT_S = 2,		/* to send the command, and to take the answer */
	CTL_LOOKUP_TIMEOUT_S = 60,	/* a lookup, put or get answer is given up after this */
	CTL_NAME_MAX = 255,		/* bytes of a name (its SHA-1 is the DHT key) */
	CTL_KIND = 33,			/* the record kind of put and remove (SRV) */
	CTL_TTL_DEFAULT_S = 3600,	/* put's TTL if none is given */
	CTL_TOMBSTONE_TTL_S = 600,	/* how long a remove's tombstone lives */
	CTL_OUT_MAX = 4 << 20,		/* largest answer */
};

/* Listens at path (mode 0600). A stale socket file is removed; a live one (another daemon
 * on the same data directory) gives -EADDRINUSE, another kind of file -EEXIST, a path
 * too long for a UNIX socket -ENAMETOOLONG. */
int control_open(struct control **out, struct p2pnsd *d, const char *path);
/* Closes every connection and the socket and removes the socket file. Call it after
 * dht_free and kbr_free: lookups, puts and gets still pending there hold pointers into the
 * control. */
void control_free(struct control *c);
unsigned control_connections(const struct control *c);

#endif
