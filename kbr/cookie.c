/* Cookies for handshakes under load; see kbr/cookie.h. */
#include "kbr/cookie.h"

#include <string.h>

#include "kbr/suite.h"

void
kbr_cookie_init(struct kbr_cookie_checker *c, uint64_t now,
    const uint8_t fresh[KBR_COOKIE_SECRET_LEN])
{
	memcpy(c->secret[0], fresh, KBR_COOKIE_SECRET_LEN);
	memcpy(c->secret[1], fresh, KBR_COOKIE_SECRET_LEN);
	c->rotated = now;
}

bool
kbr_cookie_due(const struct kbr_cookie_checker *c, uint64_t now)
{
	return now >= c->rotated + KBR_COOKIE_ROTATE_MS || now < c->rotated;
}

void
kbr_cookie_rotate(struct kbr_cookie_checker *c, uint64_t now,
    const uint8_t fresh[KBR_COOKIE_SECRET_LEN])
{
	memcpy(c->secret[1], c->secret[0], KBR_COOKIE_SECRET_LEN);
	memcpy(c->secret[0], fresh, KBR_COOKIE_SECRET_LEN);
	c->rotated = now;
}

static void
cookie_under(const uint8_t *secret, const struct kbr_addr *from, uint8_t out[KBR_COOKIE_LEN])
{
	uint8_t data[1 + 16 + 2];

	data[0] = from->family;
	memcpy(data + 1, from->ip, 16);
	data[17] = (uint8_t)(from->port >> 8);
	data[18] = (uint8_t)from->port;
	suite_hmac(secret, KBR_COOKIE_SECRET_LEN, data, sizeof(data), out, KBR_COOKIE_LEN);
}

void
kbr_cookie_make(const struct kbr_cookie_checker *c, const struct kbr_addr *from,
    uint8_t out[KBR_COOKIE_LEN])
{
	cookie_under(c->secret[0], from, out);
}

bool
kbr_cookie_valid(const struct kbr_cookie_checker *c, const struct kbr_addr *from,
    const uint8_t cookie[KBR_COOKIE_LEN])
{
	uint8_t want[KBR_COOKIE_LEN];
	bool ok = false;

	for (int i = 0; i < 2 && !ok; i++) {
		cookie_under(c->secret[i], from, want);
		ok = suite_equal(want, cookie, KBR_COOKIE_LEN);
	}
	suite_wipe(want, sizeof(want));
	return ok;
}

void
kbr_cookie_clear(struct kbr_cookie_checker *c)
{
	suite_wipe(c, sizeof(*c));
}
