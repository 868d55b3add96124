/* Addresses, parameters and XOR-distance helpers shared by the KBR modules. */
#include "kbr/types.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
kbr_addr_eq(const struct kbr_addr *a, const struct kbr_addr *b)
{
	size_t n = a->family == KBR_AF_INET ? 4 : 16;

	return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, n) == 0;
}

void
kbr_addr_format(const struct kbr_addr *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == KBR_AF_INET && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)) != NULL)
		snprintf(out, len, "%s:%u", ip, a->port);
	else if (a->family == KBR_AF_INET6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)) != NULL)
		snprintf(out, len, "[%s]:%u", ip, a->port);
	else
		snprintf(out, len, "(none)");
}

int
kbr_addr_parse(struct kbr_addr *out, const char *s)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	struct kbr_addr a;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s == NULL)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		port = close + 2;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, a.ip) != 1)
			return -EINVAL;
		a.family = KBR_AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, a.ip) != 1)
			return -EINVAL;
		a.family = KBR_AF_INET;
	}
	if (*port < '0' || *port > '9')
		return -EINVAL;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno != 0 || *end != '\0' || p == 0 || p > 65535)
		return -EINVAL;
	a.port = (uint16_t)p;
	*out = a;
	return 0;
}

void
kbr_params_default(struct kbr_params *p)
{
	memset(p, 0, sizeof(*p));
	p->k = 16;
	p->s = 16;
	p->d = 4;
	p->alpha = 3;
	p->c1 = 16;
	p->c2 = 20;
	p->rpc_timeout_ms = 1000;
	p->rpc_timeout_min_ms = 200;
	p->rpc_retries = 1;
	p->max_fails = 2;
	p->replacements = 8;
	p->refresh_ms = 60000;
	p->msg_window_ms = 30000;
	p->rate_per_source = 200;
	p->rate_total = 5000;
	p->rate_sources = 1024;
	p->sessions = 1024;
	p->halfopen = 256;
	p->handshakes_per_source = 50;
	p->handshakes_total = 1000;
	p->rekey_ms = 600000;
	p->crypto = true;
}

int
kbr_params_check(const struct kbr_params *p)
{
	if (p->k < 1 || p->k > KBR_MAX_K || p->s < 1 || p->s > KBR_MAX_S ||
	    p->d < 1 || p->d > KBR_MAX_D || p->alpha < 1 || p->alpha > KBR_MAX_ALPHA ||
	    p->c1 > 40 || p->c2 > 40 || p->rpc_timeout_ms < 1 || p->rpc_timeout_ms > 60000 ||
	    p->rpc_timeout_min_ms < 1 || p->rpc_timeout_min_ms > p->rpc_timeout_ms ||
	    p->rpc_retries > 5 || p->max_fails < 1 || p->max_fails > 100 ||
	    p->replacements > KBR_MAX_K || p->refresh_ms < 100 ||
	    p->msg_window_ms < 1000 || p->msg_window_ms > 3600 * 1000 ||
	    p->rate_per_source < 1 || p->rate_per_source > 1000000 ||
	    p->rate_total < 1 || p->rate_total > 10000000 ||
	    p->rate_sources < 1 || p->rate_sources > 65536 ||
	    p->sessions < 2 || p->sessions > (1u << 18) || p->halfopen < 2 ||
	    p->halfopen > 65536 || p->handshakes_per_source < 1 ||
	    p->handshakes_per_source > 1000000 || p->handshakes_total < 1 ||
	    p->handshakes_total > 10000000 || p->rekey_ms < 1000)
		return -EINVAL;
	return 0;
}

int
kbr_distance_cmp(const struct nodeid *target, const struct nodeid *a, const struct nodeid *b)
{
	for (size_t i = 0; i < NODEID_LEN; i++) {
		uint8_t da = a->b[i] ^ target->b[i], db = b->b[i] ^ target->b[i];

		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

unsigned
kbr_common_prefix(const struct nodeid *a, const struct nodeid *b)
{
	struct nodeid x;

	nodeid_xor(&x, a, b);
	return nodeid_leading_zeros(&x);
}
