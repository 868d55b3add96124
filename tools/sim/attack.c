/* What malicious nodes do with the datagrams sent to them once the attack has begun:
 *   closer   answer PINGs (to stay in routing tables) and answer FIND_NODE only with the
 *            malicious nodes closest to the target: the S/Kademlia adversary
 *   drop     answer nothing at all
 *   garbage  answer PINGs, and FIND_NODE with made-up contacts that look closer to the
 *            target than anything real, at addresses where nobody listens
 * Malicious nodes keep their sessions (valid identities, real handshakes); the attacks
 * answer the requests that arrive through them (kbr_io.intercept).
 *
 * The DHT attacks are made by liars instead: nodes among the r closest of a put key that
 * behave honestly in everything but their answers to FIND_VALUE for that key:
 *   stale     the owner's older record (seq 1; the workload puts every name twice)
 *   forge     a record for the key signed by the liar's own key
 *   withhold  an empty stream, as if they held nothing */
#include "tools/sim/sim.h"

#include <string.h>

#include "dht/msg.h"
#include "kbr/wire.h"

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

/* A malicious node's request under the KBR attacks: PINGs are answered as usual. */
static bool
attack_request(struct sim *s, uint32_t i, const struct kbr_msg *in, struct kbr_msg *out)
{
	unsigned want;

	switch (in->type) {
	case KBR_PING:
		return false;
	case KBR_FIND_NODE:
		out->type = KBR_NODES;
		want = in->u.find.count < s->o.p.k ? in->u.find.count : s->o.p.k;
		if (want > KBR_MAX_NODES)
			want = KBR_MAX_NODES;
		if (s->o.attack == ATTACK_CLOSER)
			out->u.nodes.count = (uint8_t)closest_malicious(s, i, &in->u.find.target,
			    out->u.nodes.nodes, want);
		else
			out->u.nodes.count = (uint8_t)garbage(s, &in->u.find.target,
			    out->u.nodes.nodes, want);
		return true;
	default:
		out->type = 0;		/* the DHT's requests: no answer */
		return true;
	}
}

/* A liar's FIND_VALUE for its key: answered with the lie. */
static bool
liar_request(struct sim *s, uint32_t i, const struct kbr_msg *in, struct kbr_msg *out)
{
	struct dht_find_msg f;
	struct dht_value_msg v;
	const struct sim_liar *l;
	struct dht_record rec;
	uint8_t stream[2 + DHT_REC_MAX];
	size_t nrec = 1;
	long slen;
	int n;

	if (in->type != DHT_FIND_VALUE ||
	    dht_msg_find_decode(&f, in->u.app.data, in->u.app.len) != 0 ||
	    (l = sim_liar_find(s, i, &f.key)) == NULL)
		return false;
	out->type = 0;
	switch (s->o.attack) {
	case ATTACK_STALE:
		sim_name_record(s, l->name, 1, &rec);
		break;
	case ATTACK_FORGE:
		sim_forged_record(s, l, &rec);
		break;
	default:
		nrec = 0;	/* withhold */
		break;
	}
	slen = dht_stream_build(&rec, nrec, stream, sizeof(stream));
	if (slen < 0 || f.offset > (uint32_t)slen)
		return true;	/* nothing sensible to lie with: swallow it */
	memset(&v, 0, sizeof(v));
	v.total = (uint32_t)slen;
	v.version = dht_stream_version(stream, (size_t)slen);
	v.offset = f.offset;
	v.chunk = stream + f.offset;
	v.len = (size_t)slen - f.offset < DHT_VALUE_CHUNK ? (size_t)slen - f.offset :
	    DHT_VALUE_CHUNK;
	if (v.len == 0 && v.total != 0)
		return true;
	n = dht_msg_value_encode(&v, s->lie, sizeof(s->lie));
	if (n < 0)
		return true;
	out->type = DHT_VALUE;
	out->u.app.data = s->lie;
	out->u.app.len = (size_t)n;
	return true;
}

bool
sim_attack_intercept(struct sim *s, uint32_t i, const struct kbr_msg *in, struct kbr_msg *out)
{
	const struct sim_node *nd = &s->nodes[i];

	if (nd->malicious && s->attacking && s->o.attack != ATTACK_DROP)
		return attack_request(s, i, in, out);
	if (nd->liar)
		return liar_request(s, i, in, out);
	return false;
}
