/* RFC 6298 section 2, in sixteenths of a millisecond: alpha = 1/8, beta = 1/4, K = 4. */
#include "kbr/rtt.h"

enum {
	RTT_SCALE = 16,
	RTT_MAX_SAMPLE_MS = 60 * 1000,	/* larger samples are clipped */
};

void
kbr_rtt_sample(struct kbr_rtt *r, uint64_t ms)
{
	uint32_t m = (uint32_t)(ms > RTT_MAX_SAMPLE_MS ? RTT_MAX_SAMPLE_MS : ms) * RTT_SCALE;

	/* a round trip the clock could not see counts as half a millisecond */
	if (m == 0)
		m = RTT_SCALE / 2;
	if (!r->valid) {
		r->srtt = m;
		r->rttvar = m / 2;
		r->valid = true;
		return;
	}
	{
		uint32_t diff = r->srtt > m ? r->srtt - m : m - r->srtt;

		r->rttvar = r->rttvar - r->rttvar / 4 + diff / 4;
		r->srtt = r->srtt - r->srtt / 8 + m / 8;
	}
}

unsigned
kbr_rtt_timeout(const struct kbr_rtt *r, unsigned floor, unsigned ceil)
{
	uint64_t t;

	if (!r->valid)
		return ceil;
	t = ((uint64_t)r->srtt + 4 * (uint64_t)r->rttvar + RTT_SCALE - 1) / RTT_SCALE;
	if (t < 1)
		t = 1;
	if (t < floor)
		t = floor;
	if (t > ceil)
		t = ceil;
	return (unsigned)t;
}

unsigned
kbr_rtt_srtt(const struct kbr_rtt *r)
{
	return r->valid ? (r->srtt + RTT_SCALE - 1) / RTT_SCALE : 0;
}
