/* Write-allow networks: parsing "ADDR[/PREFIX]" and matching client addresses, with
 * IPv4-mapped IPv6 clients (::ffff:a.b.c.d) treated as the IPv4 addresses they are. */
#include "rpc/xmlrpc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <arpa/inet.h>

enum {
	MAPPED_LEN = 12,		/* ::ffff: before the IPv4 address */
	MAPPED_BITS = MAPPED_LEN * 8,
	PREFIX_DIGITS = 3,
	NET_STRLEN = INET6_ADDRSTRLEN + 2 + 1 + PREFIX_DIGITS,	/* [v6]/128 */
};

static const uint8_t mapped[MAPPED_LEN] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

static bool
is_mapped(const struct kbr_addr *a)
{
	return a->family == KBR_AF_INET6 && memcmp(a->ip, mapped, MAPPED_LEN) == 0;
}

void
rpc_addr_unmap(struct kbr_addr *out, const struct kbr_addr *a)
{
	*out = *a;
	if (is_mapped(a)) {
		memset(out->ip, 0, sizeof(out->ip));
		memcpy(out->ip, a->ip + MAPPED_LEN, 4);
		out->family = KBR_AF_INET;
	}
}

static unsigned
max_prefix(uint8_t family)
{
	return family == KBR_AF_INET ? 32 : family == KBR_AF_INET6 ? 128 : 0;
}

/* A mapped network as wide as the mapped range or narrower is an IPv4 network; written
 * either way it must match the same clients. */
static void
net_unmap(struct rpc_net *out, const struct rpc_net *n)
{
	*out = *n;
	if (is_mapped(&n->addr) && n->prefix >= MAPPED_BITS) {
		rpc_addr_unmap(&out->addr, &n->addr);
		out->prefix = n->prefix - MAPPED_BITS;
	}
}

static bool
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static int
parse_prefix(const char *p, unsigned max, unsigned *out)
{
	unsigned v = 0, digits = 0;

	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || ++digits > PREFIX_DIGITS)
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (digits == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
rpc_net_parse(struct rpc_net *out, const char *s)
{
	char buf[NET_STRLEN];
	struct rpc_net net;
	const char *slash;
	size_t alen;
	bool bracket = false;

	if (out == NULL || s == NULL)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen > 0 && s[0] == '[') {
		if (alen < 2 || s[alen - 1] != ']')
			return -EINVAL;
		s++;
		alen -= 2;
		bracket = true;
	}
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';

	memset(&net, 0, sizeof(net));
	if (!bracket && inet_pton(AF_INET, buf, net.addr.ip) == 1)
		net.addr.family = KBR_AF_INET;
	else if (inet_pton(AF_INET6, buf, net.addr.ip) == 1)
		net.addr.family = KBR_AF_INET6;
	else
		return -EINVAL;
	net.prefix = max_prefix(net.addr.family);
	if (slash != NULL && parse_prefix(slash + 1, net.prefix, &net.prefix) != 0)
		return -EINVAL;

	net_unmap(out, &net);
	/* Host bits are cleared so that the stored network prints as what it matches. */
	for (unsigned i = out->prefix; i < max_prefix(out->addr.family); i++)
		out->addr.ip[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

bool
rpc_net_contains(const struct rpc_net *net, const struct kbr_addr *a)
{
	struct rpc_net n;
	struct kbr_addr u;

	if (net == NULL || a == NULL)
		return false;
	net_unmap(&n, net);
	rpc_addr_unmap(&u, a);
	if (n.addr.family != u.family || max_prefix(n.addr.family) == 0 ||
	    n.prefix > max_prefix(n.addr.family))
		return false;
	return prefix_eq(n.addr.ip, u.ip, n.prefix);
}
