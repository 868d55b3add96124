/* The XML-RPC front end: HTTP (libmicrohttpd inside the caller's libevent loop) carrying
 * XML-RPC calls (parsed and serialised by xmlrpc-c) to a table of methods the caller
 * registers. A method may answer at once or later: its connection is suspended until the
 * call is finished, so one thread serves every client while calls wait on the overlay.
 *
 *   POST /RPC2 or /      an XML-RPC call; anything else gets 404 (other paths) or 405
 *   body > max_body      HTTP 413, decided from Content-Length before the body is read
 *                        (and while reading, for bodies without one)
 *   bad XML              fault RPC_FAULT_PARSE; unknown method: RPC_FAULT_NO_METHOD
 *   wrong count / type   fault RPC_FAULT_PARAMS, checked against the method's signatures
 *                        before its handler runs
 *   writing method from  fault RPC_FAULT_ACCESS unless the client's address is in the
 *   another address      write-allow list (default: 127.0.0.0/8 and ::1)
 *   call not finished    fault RPC_FAULT_FAILED after call_timeout_ms (30 s); a late finish
 *                        is then ignored
 *
 * system.listMethods, system.methodHelp and system.methodSignature are built in. */
#ifndef P2PNS_RPC_RPC_H
#define P2PNS_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xmlrpc-c/base.h>

#include "kbr/types.h"

struct event_base;
struct rpc_server;
struct rpc_call;

/* Fault codes. 9 and 22 are OverSim's; the negative ones are xmlrpc-c's own numbers for
 * the same conditions. */
enum {
	RPC_FAULT_NOT_FOUND = 9,	/* name not found */
	RPC_FAULT_FAILED = 22,		/* operation failed or timed out */
	RPC_FAULT_REFUSED = 1,		/* the replicas refused it (another owner, stale, ...) */
	RPC_FAULT_ACCESS = 13,		/* writing method from a client not allowed to write */
	RPC_FAULT_BUSY = 16,		/* too many calls in flight; try again */
	RPC_FAULT_TOO_BIG = 27,		/* a value or name over the limits */
	RPC_FAULT_PARAMS = XMLRPC_TYPE_ERROR,		/* -501: wrong count or type */
	RPC_FAULT_PARSE = XMLRPC_PARSE_ERROR,		/* -503: not an XML-RPC call */
	RPC_FAULT_NO_METHOD = XMLRPC_NO_SUCH_METHOD_ERROR,	/* -506 */
	RPC_FAULT_INTERNAL = XMLRPC_INTERNAL_ERROR,	/* -500 */
};

enum {
	RPC_MAX_ARGS = 8,
	RPC_MAX_BODY = 64 * 1024,	/* default and largest request body */
	RPC_MAX_CONNS = 256,		/* default connection limit */
	RPC_CONN_TIMEOUT_S = 30,	/* idle connection timeout */
	RPC_CALL_TIMEOUT_MS = 30 * 1000,
	RPC_MAX_CALLS = 1024,		/* unfinished calls (suspended connections) */
	RPC_MAX_ALLOW = 16,		/* write-allow networks */
};

/* A network a writing client may come from: addr with its first `prefix` bits. */
struct rpc_net {
	struct kbr_addr addr;		/* port ignored */
	unsigned prefix;
};

struct rpc_config {
	struct kbr_addr listen;		/* IPv4 or IPv6 address and TCP port (0: any free port) */
	size_t max_body;		/* 0: RPC_MAX_BODY; at most RPC_MAX_BODY */
	unsigned max_conns;		/* 0: RPC_MAX_CONNS */
	unsigned conn_timeout_s;	/* 0: RPC_CONN_TIMEOUT_S */
	unsigned call_timeout_ms;	/* 0: RPC_CALL_TIMEOUT_MS */
	struct rpc_net allow[RPC_MAX_ALLOW];	/* n_allow == 0: 127.0.0.0/8 and ::1/128 */
	size_t n_allow;
};

/* A checked argument. Types in signatures (xmlrpc-c's letters):
 *   i int   b boolean   d double   s string   6 base64 (a string is accepted too)
 *   A array   S struct */
struct rpc_arg {
	char type;			/* the signature letter it matched */
	int64_t i;			/* i, b */
	double d;			/* d */
	const uint8_t *bytes;		/* s, 6: the string's or the base64 value's bytes */
	size_t len;			/* (bytes is NUL-terminated after len for convenience) */
	xmlrpc_value *value;		/* always: the argument itself (borrowed) */
};

/* A handler runs with the checked arguments and must finish the call exactly once, before
 * it returns or later, with rpc_reply or rpc_fault. Everything in args lives only until the
 * handler returns. */
typedef void (*rpc_handler)(void *arg, struct rpc_call *call, const struct rpc_arg *args,
    size_t nargs);

struct rpc_method {
	const char *name;
	/* xmlrpc-c signature strings, alternatives separated by commas: "i:6iii6i" returns
	 * an int and takes base64, int, int, int, base64, int. system.methodSignature lists
	 * them; a call must match one of them (first match wins). */
	const char *signature;
	const char *help;
	bool writing;			/* only from write-allowed clients */
	rpc_handler handler;
	void *arg;
};

/* Opens the listening socket and registers it with base. methods (n of them, names
 * unique) are borrowed and must outlive the server. Returns 0 or a negative errno (also
 * -EADDRINUSE); *out stays NULL on failure. */
int rpc_server_new(struct rpc_server **out, struct event_base *base,
    const struct rpc_config *cfg, const struct rpc_method *methods, size_t n);
/* Closes the socket and every connection; unfinished calls are dropped (their handles stay
 * valid for rpc_reply / rpc_fault, which then only free them). */
void rpc_server_free(struct rpc_server *s);
/* The address actually listened on (the port chosen when 0 was asked). */
void rpc_server_addr(const struct rpc_server *s, struct kbr_addr *out);

/* Finishes a call with result (the reference is taken over, even on failure). */
void rpc_reply(struct rpc_call *call, xmlrpc_value *result);
/* Finishes a call with a fault; fmt is printf-style. */
void rpc_fault(struct rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The client's address (port included). */
const struct kbr_addr *rpc_call_peer(const struct rpc_call *call);
const char *rpc_call_method(const struct rpc_call *call);

/* Parses "ADDR/PREFIX" or "ADDR" (whole address) into a network. Returns 0 or -EINVAL. */
int rpc_net_parse(struct rpc_net *out, const char *s);
bool rpc_net_contains(const struct rpc_net *net, const struct kbr_addr *a);

struct rpc_stats {
	uint64_t connections;		/* accepted */
	uint64_t requests;		/* HTTP requests */
	uint64_t calls;			/* XML-RPC calls dispatched to a method */
	uint64_t faults;		/* faults answered (any reason) */
	uint64_t refused_access;	/* writing methods refused */
	uint64_t too_big;		/* 413 answers */
	uint64_t timeouts;		/* calls ended by call_timeout_ms */
	uint64_t in_flight;		/* calls not finished yet */
};
void rpc_server_stats(const struct rpc_server *s, struct rpc_stats *out);

#endif
