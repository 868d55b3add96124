/* UDP transport of the KBR: IPv4 and IPv6 sockets on the event loop, conversion between
 * struct kbr_addr and socket addresses, and the kbr_io send callback. */
#ifndef P2PNS_P2PNSD_UDP_H
#define P2PNS_P2PNSD_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kbr/types.h"

struct event_base;
struct udp;

enum {
	UDP_MAX_SOCKETS = 8,		/* --bind addresses */
	UDP_RECV_BUF = 2048,		/* larger datagrams arrive cut (and are dropped) */
	UDP_RECV_BATCH = 256,		/* datagrams read per readiness event */
	UDP_SO_RCVBUF = 1 << 20,	/* asked for; the kernel may give less */
};

struct udp_stats {
	uint64_t rx;			/* datagrams received */
	uint64_t rx_truncated;		/* longer than UDP_RECV_BUF */
	uint64_t rx_errors;
	uint64_t tx;			/* datagrams sent */
	uint64_t tx_dropped;		/* EAGAIN, ENOBUFS */
	uint64_t tx_errors;		/* any other error */
	uint64_t tx_no_socket;		/* no socket of the destination's family */
};

/* A datagram arrived; from is its source. */
typedef void (*udp_recv_fn)(void *arg, const uint8_t *buf, size_t len,
    const struct kbr_addr *from);
/* A batch of datagrams has been handed over (at most UDP_RECV_BATCH per event). */
typedef void (*udp_batch_fn)(void *arg);

struct udp *udp_new(struct event_base *base, udp_recv_fn recv, udp_batch_fn batch, void *arg);
void udp_free(struct udp *u);

/* Binds a non-blocking socket to addr (IPv6 sockets with IPV6_V6ONLY) and starts reading
 * it. Returns 0, -ENOSPC (too many sockets) or the negative errno of socket/bind. */
int udp_bind(struct udp *u, const struct kbr_addr *addr);
/* The bound addresses (with the port the kernel gave). Returns how many were written. */
size_t udp_bound(const struct udp *u, struct kbr_addr *out, size_t max);

/* The kbr_io send callback (arg: the struct udp). Sends through a socket of to's family;
 * failures are only counted. */
void udp_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len);
void udp_get_stats(const struct udp *u, struct udp_stats *st);

/* Returns 0 or -EAFNOSUPPORT. */
int udp_to_sockaddr(const struct kbr_addr *a, struct sockaddr_storage *ss, socklen_t *len);
/* IPv4-mapped IPv6 addresses become IPv4. Returns 0 or -EAFNOSUPPORT. */
int udp_from_sockaddr(struct kbr_addr *a, const struct sockaddr_storage *ss, socklen_t len);

#endif
