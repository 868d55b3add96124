/* UDP transport of the KBR: non-blocking sockets read on the event loop until EAGAIN (at
 * most UDP_RECV_BATCH datagrams per wakeup), sends through a socket of the right family. */
#include "p2pnsd/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "p2pnsd/log.h"

struct udp_sock {
	int fd;
	struct kbr_addr addr;		/* as bound, with the real port */
	bool wildcard;			/* 0.0.0.0 or :: */
	bool loopback;			/* 127/8 or ::1 */
	struct event *ev;
	struct udp *u;
};

struct udp {
	struct event_base *base;
	udp_recv_fn recv;
	udp_batch_fn batch;
	void *arg;
	struct udp_sock socks[UDP_MAX_SOCKETS];
	size_t nsocks;
	struct udp_stats st;
	uint8_t buf[UDP_RECV_BUF];
};

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
udp_to_sockaddr(const struct kbr_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == KBR_AF_INET) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(a->port);
		memcpy(&sin.sin_addr, a->ip, 4);
		memcpy(ss, &sin, sizeof(sin));
		*len = sizeof(sin);
		return 0;
	}
	if (a->family == KBR_AF_INET6) {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a->port);
		memcpy(&sin6.sin6_addr, a->ip, 16);
		memcpy(ss, &sin6, sizeof(sin6));
		*len = sizeof(sin6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
udp_from_sockaddr(struct kbr_addr *a, const struct sockaddr_storage *ss, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, ss, sizeof(sin));
		a->family = KBR_AF_INET;
		memcpy(a->ip, &sin.sin_addr, 4);
		a->port = ntohs(sin.sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, ss, sizeof(sin6));
		if (memcmp(&sin6.sin6_addr, v4mapped, sizeof(v4mapped)) == 0) {
			a->family = KBR_AF_INET;
			memcpy(a->ip, (const uint8_t *)&sin6.sin6_addr + 12, 4);
		} else {
			a->family = KBR_AF_INET6;
			memcpy(a->ip, &sin6.sin6_addr, 16);
		}
		a->port = ntohs(sin6.sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static bool
addr_is_wildcard(const struct kbr_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, a->family == KBR_AF_INET ? 4 : 16) == 0;
}

static bool
addr_is_loopback(const struct kbr_addr *a)
{
	static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	if (a->family == KBR_AF_INET)
		return a->ip[0] == 127;
	return memcmp(a->ip, v6lo, 16) == 0;
}

static void
udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *s = arg;
	struct udp *u = s->u;
	unsigned n;

	(void)what;
	for (n = 0; n < UDP_RECV_BATCH; n++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		struct kbr_addr from;
		ssize_t len;

		len = recvfrom(fd, u->buf, sizeof(u->buf), MSG_TRUNC, (struct sockaddr *)&ss,
		    &sslen);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				u->st.rx_errors++;
				log_debug("udp: recvfrom: %s", strerror(errno));
			}
			break;
		}
		u->st.rx++;
		if ((size_t)len > sizeof(u->buf)) {
			/* MSG_TRUNC gave the real length: hand over the cut datagram
			 * with a length the KBR rejects as over its limit */
			u->st.rx_truncated++;
			len = (ssize_t)sizeof(u->buf);
		}
		if (udp_from_sockaddr(&from, &ss, sslen) != 0) {
			log_debug("udp: datagram from an unknown address family");
			continue;
		}
		u->recv(u->arg, u->buf, (size_t)len, &from);
	}
	if (n > 0 && u->batch != NULL)
		u->batch(u->arg);
}

struct udp *
udp_new(struct event_base *base, udp_recv_fn recv, udp_batch_fn batch, void *arg)
{
	struct udp *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->base = base;
	u->recv = recv;
	u->batch = batch;
	u->arg = arg;
	return u;
}

void
udp_free(struct udp *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->nsocks; i++) {
		if (u->socks[i].ev != NULL)
			event_free(u->socks[i].ev);
		close(u->socks[i].fd);
	}
	free(u);
}

int
udp_bind(struct udp *u, const struct kbr_addr *addr)
{
	struct udp_sock *s;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, err, on = 1, rcvbuf = UDP_SO_RCVBUF;

	if (u->nsocks >= UDP_MAX_SOCKETS)
		return -ENOSPC;
	if (udp_to_sockaddr(addr, &ss, &sslen) != 0)
		return -EAFNOSUPPORT;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
		err = -errno;
		goto fail;
	}
	/* best effort: a larger buffer absorbs bursts */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
		err = -errno;
		goto fail;
	}
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		err = -errno;
		goto fail;
	}
	s = &u->socks[u->nsocks];
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->u = u;
	if (udp_from_sockaddr(&s->addr, &ss, sslen) != 0) {
		err = -EAFNOSUPPORT;
		goto fail;
	}
	s->wildcard = addr_is_wildcard(&s->addr);
	s->loopback = addr_is_loopback(&s->addr);
	s->ev = event_new(u->base, fd, EV_READ | EV_PERSIST, udp_readable, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
		if (s->ev != NULL)
			event_free(s->ev);
		s->ev = NULL;
		err = -ENOMEM;
		goto fail;
	}
	u->nsocks++;
	return 0;
fail:
	close(fd);
	return err;
}

size_t
udp_bound(const struct udp *u, struct kbr_addr *out, size_t max)
{
	size_t n = u->nsocks < max ? u->nsocks : max;

	for (size_t i = 0; i < n; i++)
		out[i] = u->socks[i].addr;
	return n;
}

/* The socket to send to `to` from: of its family, preferring a wildcard bind, then one
 * whose loopback-ness matches the destination's. NULL if none has the family. */
static struct udp_sock *
udp_pick(struct udp *u, const struct kbr_addr *to)
{
	struct udp_sock *best = NULL;
	int best_score = -1;
	bool lo = addr_is_loopback(to);

	for (size_t i = 0; i < u->nsocks; i++) {
		struct udp_sock *s = &u->socks[i];
		int score;

		if (s->addr.family != to->family)
			continue;
		score = s->wildcard ? 2 : s->loopback == lo ? 1 : 0;
		if (score > best_score) {
			best = s;
			best_score = score;
		}
	}
	return best;
}

void
udp_send(void *arg, const struct kbr_addr *to, const uint8_t *buf, size_t len)
{
	struct udp *u = arg;
	struct udp_sock *s = udp_pick(u, to);
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (s == NULL || udp_to_sockaddr(to, &ss, &sslen) != 0) {
		u->st.tx_no_socket++;
		return;
	}
	for (;;) {
		if (sendto(s->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen) >= 0) {
			u->st.tx++;
			return;
		}
		if (errno != EINTR)
			break;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		u->st.tx_dropped++;
	} else {
		char a[KBR_ADDR_STRLEN];
		int e = errno;

		u->st.tx_errors++;
		if (log_getlevel() >= LOG_DEBUG) {
			kbr_addr_format(to, a, sizeof(a));
			log_debug("udp: sendto %s: %s", a, strerror(e));
		}
	}
}

void
udp_get_stats(const struct udp *u, struct udp_stats *st)
{
	*st = u->st;
}
