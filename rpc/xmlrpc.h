/* The XML-RPC dispatcher without HTTP: a request body in, checked arguments to a method, the
 * serialised response out through a callback, now or when the method finishes later. */
#ifndef P2PNS_RPC_XMLRPC_H
#define P2PNS_RPC_XMLRPC_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"

/*
 * Who owns a call. rpc_dispatch creates it and runs the handler; from then on the call is
 * owned by its handler, which must finish it (rpc_reply / rpc_fault) exactly once. The
 * waiter (the HTTP request) only borrows it: finishing hands the response to the waiter's
 * done callback and then frees the call. A waiter that goes away first (timeout, closed
 * connection, server shutdown) calls rpc_call_detach or rpc_call_abort and forgets the
 * pointer; the call then only frees itself when finished. Freeing the dispatcher detaches
 * every unfinished call the same way, so a handler never holds a dangling handle.
 */

struct rpc_dispatcher;

enum {
	RPC_MAX_METHODS = 128,		/* methods a dispatcher serves, built-ins excluded */
	RPC_MAX_ALTS = 8,		/* signature alternatives of one method */
	RPC_MAX_NAME = 64,		/* method name length */
	RPC_MAX_NESTING = 32,		/* XML-RPC value nesting a request may use */
	RPC_MAX_FAULT_MSG = 512,	/* fault strings are cut here */
};

/* Receives a serialised response (a methodResponse document); xml is valid only during
 * the call. */
typedef void (*rpc_done_fn)(void *arg, const char *xml, size_t len);

/* methods (n of them) are borrowed and must outlive the dispatcher. allow (n_allow,
 * 0: 127.0.0.0/8 and ::1/128) is copied. max_calls bounds unfinished calls (0:
 * RPC_MAX_CALLS); over it a call is answered with RPC_FAULT_BUSY before its handler runs.
 * Returns 0, -EINVAL (duplicate or bad name, bad signature, bad network) or -ENOMEM. */
int rpc_dispatcher_new(struct rpc_dispatcher **out, const struct rpc_method *methods,
    size_t n, const struct rpc_net *allow, size_t n_allow, unsigned max_calls);
/* Unfinished calls stay valid for their handlers and are freed when finished. */
void rpc_dispatcher_free(struct rpc_dispatcher *d);

/* Parses body (len bytes, at most RPC_MAX_BODY), checks the method, the peer's access and
 * the arguments, and runs the handler. Every request gets exactly one answer through done,
 * unless detached first. Returns 0 when done has already been called (parse errors, faults,
 * handlers that finished at once), or -EINPROGRESS when the handler finishes later: *pending
 * is then the call, for rpc_call_detach / rpc_call_abort. With pending NULL an unfinished
 * call is detached at once (nobody waits for it). */
int rpc_dispatch(struct rpc_dispatcher *d, const uint8_t *body, size_t len,
    const struct kbr_addr *peer, rpc_done_fn done, void *arg, struct rpc_call **pending);

/* The waiter goes away: done is never called for this call. */
void rpc_call_detach(struct rpc_call *call);
/* Answers the waiter now with a fault (through done, before returning) and detaches it;
 * the handler still finishes the call later, which then only frees it. */
void rpc_call_abort(struct rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills the dispatcher's counters (calls, faults, refused_access, in_flight) into out,
 * leaving the other fields alone. */
void rpc_dispatcher_stats(const struct rpc_dispatcher *d, struct rpc_stats *out);

/* a with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) turned into the IPv4 address. */
void rpc_addr_unmap(struct kbr_addr *out, const struct kbr_addr *a);

#endif
