/* Round-trip estimates after RFC 6298: a smoothed round-trip time and its variation, and a
 * retransmission timeout from them. Samples and timeouts are milliseconds; the estimate is
 * kept in sixteenths of a millisecond, so that loopback's sub-millisecond round trips
 * still smooth. */
#ifndef P2PNS_KBR_RTT_H
#define P2PNS_KBR_RTT_H

#include <stdbool.h>
#include <stdint.h>

struct kbr_rtt {
	uint32_t srtt, rttvar;		/* 1/16 ms; srtt 0: no sample yet */
	bool valid;
};

/* Takes one round-trip sample (ms; 0 for a sub-millisecond round trip). */
void kbr_rtt_sample(struct kbr_rtt *r, uint64_t ms);
/* SRTT + 4 RTTVAR (at least 1 ms), within floor..ceil; ceil without a sample. */
unsigned kbr_rtt_timeout(const struct kbr_rtt *r, unsigned floor, unsigned ceil);
/* SRTT in ms, rounded up (0 without a sample). */
unsigned kbr_rtt_srtt(const struct kbr_rtt *r);

#endif
