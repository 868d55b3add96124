/* Cookies: proof that a handshake's source address receives, asked for only under load
 * (WireGuard's mechanism). A cookie is HMAC-SHA256 under a secret that changes every
 * KBR_COOKIE_ROTATE_MS, over the source address and port, cut to 16 bytes; the current and
 * the previous secret are accepted, so a cookie lives between one and two periods. */
#ifndef P2PNS_KBR_COOKIE_H
#define P2PNS_KBR_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "kbr/types.h"
#include "kbr/wire.h"

enum {
	KBR_COOKIE_ROTATE_MS = 120000,
	KBR_COOKIE_SECRET_LEN = 32,
};

struct kbr_cookie_checker {
	uint8_t secret[2][KBR_COOKIE_SECRET_LEN];	/* [0] current, [1] previous */
	uint64_t rotated;				/* when [0] was made */
};

/* Starts with a fresh secret (random bytes from the caller) at now. */
void kbr_cookie_init(struct kbr_cookie_checker *c, uint64_t now,
    const uint8_t fresh[KBR_COOKIE_SECRET_LEN]);
/* True when the secret is due to change (then call kbr_cookie_rotate). */
bool kbr_cookie_due(const struct kbr_cookie_checker *c, uint64_t now);
void kbr_cookie_rotate(struct kbr_cookie_checker *c, uint64_t now,
    const uint8_t fresh[KBR_COOKIE_SECRET_LEN]);
void kbr_cookie_make(const struct kbr_cookie_checker *c, const struct kbr_addr *from,
    uint8_t out[KBR_COOKIE_LEN]);
bool kbr_cookie_valid(const struct kbr_cookie_checker *c, const struct kbr_addr *from,
    const uint8_t cookie[KBR_COOKIE_LEN]);
/* Wipes both secrets. */
void kbr_cookie_clear(struct kbr_cookie_checker *c);

#endif
