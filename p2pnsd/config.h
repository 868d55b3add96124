/* p2pnsd's options: one table of every option, read from the configuration file
 * (p2pnsd.conf(5)) and from the command line, which overrides the file. */
#ifndef P2PNS_P2PNSD_CONFIG_H
#define P2PNS_P2PNSD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "kbr/types.h"
#include "p2pnsd/udp.h"
#include "rpc/rpc.h"

#ifndef P2PNS_VERSION
#define P2PNS_VERSION "0.1.0"
#endif

#define CONFIG_DEFAULT_FILE "/etc/p2pns/p2pnsd.conf"

enum {
	CONFIG_EXIT_USAGE = 2,		/* exit status after a usage or configuration error */
	CONFIG_LINE_MAX = 4096,		/* bytes of a line of the file, without its newline */
	CONFIG_FILE_MAX = 1 << 20,	/* bytes of the file */
	CONFIG_MAX_BOOTSTRAP = 64,	/* bootstrap addresses */
	CONFIG_STORE_MB_MAX = 64 * 1024,	/* the map is address space, reserved up front */
	CONFIG_RPC_CONNS_MAX = 4096,
	CONFIG_CACHE_TTL_MAX_S = 24 * 3600,
};

/* Who signs the names registered through this node. */
enum config_name_keys {
	CONFIG_NAME_KEYS_PER_NAME,	/* a key per name in DATA_DIR/keys/ */
	CONFIG_NAME_KEYS_NODE,		/* the node's identity */
};

/* Defaults in brackets. */
struct options {
	unsigned port;				/* UDP port of the overlay [3631] */
	struct kbr_addr binds[UDP_MAX_SOCKETS];	/* ports unset; none: 0.0.0.0 and :: */
	size_t nbinds;
	struct kbr_addr boots[CONFIG_MAX_BOOTSTRAP];	/* [none] */
	size_t nboots;
	char datadir[PATH_MAX];			/* [/var/lib/p2pns] */
	char identity[PATH_MAX];		/* "": DATA_DIR/identity.pem [""] */
	unsigned c1, c2;			/* puzzle difficulties [16, 20] */
	unsigned replicas;			/* odd [5] */
	unsigned store_mb;			/* [256] */
	int loglevel;				/* a syslog priority [LOG_INFO] */
	char log_file[PATH_MAX];		/* "": not to a file [""] */
	bool syslog;				/* [false]; at most one of log_file, syslog */
	struct kbr_addr rpc_listen;		/* XML-RPC TCP address, port 0 for any free
						 * one; family KBR_AF_NONE: no XML-RPC
						 * ("none") [127.0.0.1:3631] */
	struct rpc_net rpc_write_allow[RPC_MAX_ALLOW];	/* clients that may call writing
						 * methods [127.0.0.0/8, ::1] */
	size_t rpc_nwrite_allow;		/* [2] */
	unsigned rpc_max_conns;			/* 1..CONFIG_RPC_CONNS_MAX [256] */
	unsigned cache_size;			/* entries of the name cache and of the node
						 * address cache; 0: no cache [10000] */
	unsigned cache_ttl_s;			/* longest life of a cached name [60] */
	enum config_name_keys name_keys;	/* [CONFIG_NAME_KEYS_PER_NAME] */
};

/* Fills o from the defaults, then the configuration file (-c FILE, or CONFIG_DEFAULT_FILE
 * if it exists), then the rest of argv. Returns -1 to go on, or the exit status after a
 * message: 0 after --help or --version, CONFIG_EXIT_USAGE after an error. */
int config_parse(struct options *o, int argc, char **argv);

#endif
