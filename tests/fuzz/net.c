/* The harnesses' datagram queue; see tests/fuzz/net.h. */
#include "tests/fuzz/net.h"

#include <string.h>

#include "tests/fuzz/common.h"

void
fuzz_net_init(struct fuzz_net *n)
{
	n->head = n->n = n->pushed = n->lost = 0;
}

void
fuzz_net_push(struct fuzz_net *n, const struct kbr_addr *from, const struct kbr_addr *to,
    const uint8_t *buf, size_t len)
{
	struct fuzz_dgram *d = &n->seen[n->pushed++ % FUZZ_NET_SEEN];

	FUZZ_CHECK(len <= KBR_MAX_DATAGRAM);
	fuzz_trace_dgram("sent", from, to, buf, len);
	d->from = *from;
	d->to = *to;
	d->len = len;
	memcpy(d->b, buf, len);
	if (n->n == FUZZ_NET_QUEUE) {
		n->lost++;
		return;
	}
	n->q[(n->head + n->n++) % FUZZ_NET_QUEUE] = *d;
}

bool
fuzz_net_pop(struct fuzz_net *n, struct fuzz_dgram *out)
{
	if (n->n == 0)
		return false;
	*out = n->q[n->head];
	n->head = (n->head + 1) % FUZZ_NET_QUEUE;
	n->n--;
	return true;
}

void
fuzz_net_drop(struct fuzz_net *n, unsigned k)
{
	if (k > n->n)
		k = n->n;
	n->head = (n->head + k) % FUZZ_NET_QUEUE;
	n->n -= k;
}

void
fuzz_net_swap(struct fuzz_net *n, unsigned k)
{
	struct fuzz_dgram t;
	unsigned i;

	if (n->n < 2)
		return;
	i = (n->head + k % n->n) % FUZZ_NET_QUEUE;
	t = n->q[i];
	n->q[i] = n->q[n->head];
	n->q[n->head] = t;
}

const struct fuzz_dgram *
fuzz_net_seen(const struct fuzz_net *n, unsigned pick)
{
	unsigned kept = n->pushed < FUZZ_NET_SEEN ? n->pushed : FUZZ_NET_SEEN;

	if (kept == 0)
		return NULL;
	return &n->seen[(n->pushed - 1 - pick % kept) % FUZZ_NET_SEEN];
}
