/* What malicious nodes do with the datagrams sent to them once the attack has begun:
 *   closer   answer PINGs (to stay in routing tables) and answer FIND_NODE only with the
 *            malicious nodes closest to the target: the S/Kademlia adversary
 *   drop     answer nothing at all
 *   garbage  answer PINGs, and FIND_NODE with made-up contacts that look closer to the
 *            target than anything real, at addresses where nobody listens
 * Answers are signed with the malicious node's own (valid) identity. */
#include "tools/sim/sim.h"

#include <string.h>

#include "kbr/wire.h"

static void
reply(struct sim *s, uint32_t i, struct kbr_msg *m, const struct kbr_addr *to)
{
	uint8_t buf[KBR_MAX_DATAGRAM];
	int n;

	m->timestamp = s->now;
	n = kbr_wire_encode_opt(m, s->nodes[i].ident, s->o.p.crypto, buf, sizeof(buf));
	if (n > 0)
		sim_send(s, i, to, buf, (size_t)n);
}

/* The up to max malicious nodes closest to target (other than self), closest first. */
static unsigned
closest_malicious(struct sim *s, uint32_t self, const struct nodeid *target,
    struct kbr_contact *out, unsigned max)
{
	uint32_t idx[KBR_MAX_NODES];
	unsigned n;

	if (max > KBR_MAX_NODES)
		max = KBR_MAX_NODES;
	n = sim_closest_of(s, s->malicious_sorted, s->nmalicious, target, self, idx, max);
	for (unsigned j = 0; j < n; j++) {
		memset(&out[j], 0, sizeof(out[j]));
		out[j].id = s->nodes[idx[j]].ident->id;
		out[j].addr = s->nodes[idx[j]].addr;
	}
	return n;
}

static unsigned
garbage(struct sim *s, const struct nodeid *target, struct kbr_contact *out, unsigned max)
{
	for (unsigned j = 0; j < max; j++) {
		memset(&out[j], 0, sizeof(out[j]));
		out[j].id = *target;
		/* keep the first 40 bits of the target, make up the rest */
		for (size_t b = 5; b < NODEID_LEN; b++)
			out[j].id.b[b] = (uint8_t)sim_rand(s);
		out[j].addr.family = KBR_AF_INET;
		out[j].addr.ip[0] = 127;
		out[j].addr.ip[1] = 255;
		out[j].addr.ip[2] = (uint8_t)sim_rand(s);
		out[j].addr.ip[3] = (uint8_t)sim_rand(s);
		out[j].addr.port = (uint16_t)(1 + sim_rand(s) % 65535);
		if (out[j].addr.port == 4000)
			out[j].addr.port = 4001;	/* never a real node's */
	}
	return max;
}

void
sim_attack_input(struct sim *s, uint32_t i, const uint8_t *buf, size_t len,
    const struct kbr_addr *from)
{
	struct kbr_msg in, out;
	unsigned want;

	if (s->o.attack == ATTACK_DROP || kbr_wire_decode(&in, buf, len) != 0)
		return;
	memset(&out, 0, sizeof(out));
	out.tid = in.tid;
	switch (in.type) {
	case KBR_PING:
		out.type = KBR_PONG;
		out.u.observed = *from;
		break;
	case KBR_FIND_NODE:
		out.type = KBR_NODES;
		want = in.u.find.count < s->o.p.k ? in.u.find.count : s->o.p.k;
		if (want > KBR_MAX_NODES)
			want = KBR_MAX_NODES;
		if (s->o.attack == ATTACK_CLOSER)
			out.u.nodes.count = (uint8_t)closest_malicious(s, i, &in.u.find.target,
			    out.u.nodes.nodes, want);
		else
			out.u.nodes.count = (uint8_t)garbage(s, &in.u.find.target,
			    out.u.nodes.nodes, want);
		break;
	default:
		return;		/* replies to a malicious node's own requests: it sends none */
	}
	reply(s, i, &out, from);
}
