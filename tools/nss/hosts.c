/* libnss_p2pns: the glibc NSS "hosts" entry points. Names under the suffix are resolved by the
 * local p2pnsd (HITs and IPv6 for AF_INET6, IPv4 for AF_INET); other names are not ours. */
#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tools/nss/nss_p2pns.h"

#define NSS_EXPORT __attribute__((visibility("default")))

/* The prototypes are glibc's own (nss.h), so a mismatch cannot compile. */
NSS_EXPORT nss_gethostbyname4_r _nss_p2pns_gethostbyname4_r;
NSS_EXPORT nss_gethostbyname3_r _nss_p2pns_gethostbyname3_r;
NSS_EXPORT nss_gethostbyname2_r _nss_p2pns_gethostbyname2_r;
NSS_EXPORT nss_gethostbyname_r _nss_p2pns_gethostbyname_r;

/* How a lookup ended, for the caller: an NSS status, errno and h_errno. */
struct outcome {
	enum nss_status status;
	int err, herr;
};

static const struct outcome not_found = { NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND };
static const struct outcome no_data = { NSS_STATUS_NOTFOUND, ENOENT, NO_DATA };
static const struct outcome too_small = { NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL };

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The length of name without one trailing dot when it lies under the suffix — a non-empty
 * label before it, case-insensitive — and is short enough; 0 otherwise. */
static size_t
name_under_suffix(const struct nss_conf *conf, const char *name)
{
	size_t len, slen = conf->suffix_len;
	const char *tail;

	if (name == NULL)
		return 0;
	len = strnlen(name, NSS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len > NSS_NAME_MAX || len <= slen || name[len - slen - 1] == '.')
		return 0;
	tail = name + len - slen;
	for (size_t i = 0; i < slen; i++)
		if (lower(tail[i]) != lower(conf->suffix[i]))
			return 0;
	return len;
}

/* Asks the node for every record of the name (len bytes, no trailing dot). */
static struct outcome
ask_node(const struct nss_conf *conf, const char *name, size_t len, struct nss_answer *ans)
{
	char req[NSS_REQUEST_MAX];
	const char *body;
	size_t body_len;
	char *buf;
	int n, r, sys_err = 0;

	n = nss_xmlrpc_request(conf, name, len, req, sizeof(req));
	if (n < 0)
		return (struct outcome){ NSS_STATUS_UNAVAIL, EINVAL, NO_RECOVERY };
	/* on the heap: the host program's thread may have a small stack */
	buf = malloc(NSS_RESPONSE_MAX);
	if (buf == NULL)
		return (struct outcome){ NSS_STATUS_TRYAGAIN, ENOMEM, TRY_AGAIN };
	r = nss_http_post(conf, req, (size_t)n, buf, NSS_RESPONSE_MAX, &body, &body_len, &sys_err);
	if (r == NSS_OK)
		r = nss_xmlrpc_answer(body, body_len, ans);
	free(buf);

	switch (r) {
	case NSS_OK:
		return (struct outcome){ NSS_STATUS_SUCCESS, 0, NETDB_SUCCESS };
	case NSS_ERR_NOT_FOUND:
		return not_found;
	case NSS_ERR_DOWN:		/* the node may be back soon */
		return (struct outcome){ NSS_STATUS_UNAVAIL, sys_err ? sys_err : EIO, TRY_AGAIN };
	case NSS_ERR_FAULT:		/* the overlay failed or is busy */
		return (struct outcome){ NSS_STATUS_UNAVAIL, EAGAIN, TRY_AGAIN };
	default:			/* not an answer of ours */
		return (struct outcome){ NSS_STATUS_UNAVAIL, EBADMSG, NO_RECOVERY };
	}
}

/* Configuration, suffix check and the call. The name asked for is the one given in lower
 * case (host names are case-insensitive) without its trailing dot: into qname (NSS_NAME_MAX
 * + 1 bytes), its length into *len. */
static struct outcome
lookup(const char *name, char *qname, size_t *len, struct nss_answer *ans)
{
	struct nss_conf conf;

	if (nss_conf_load(&conf) < 0)
		return (struct outcome){ NSS_STATUS_UNAVAIL, EINVAL, NO_RECOVERY };
	*len = name_under_suffix(&conf, name);
	if (*len == 0)
		return not_found;	/* not ours: no I/O at all */
	for (size_t i = 0; i < *len; i++)
		qname[i] = lower(name[i]);
	qname[*len] = '\0';
	return ask_node(&conf, qname, *len, ans);
}

/* Hands the outcome to the caller; errno is as it was (errnop may point to it). */
static enum nss_status
finish(struct outcome o, int saved_errno, int *errnop, int *h_errnop)
{
	errno = saved_errno;
	if (o.status != NSS_STATUS_SUCCESS)
		*errnop = o.err;
	*h_errnop = o.herr;
	return o.status;
}

/* Room for n items of size bytes aligned to align at *used in a buffer of cap bytes: their
 * offset (and *used advanced), or -1. */
static long
reserve(size_t *used, size_t cap, uintptr_t base, size_t align, size_t n, size_t size)
{
	size_t pad = (size_t)(-(base + *used) % align);
	size_t off;

	if (pad > cap - *used)
		return -1;
	off = *used + pad;
	if (n != 0 && size > (cap - off) / n)
		return -1;
	*used = off + n * size;
	return (long)off;
}

enum nss_status
_nss_p2pns_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp)
{
	static const int order[] = { NSS_SLOT_HIT, NSS_SLOT_IPV6, NSS_SLOT_IPV4 };
	int saved_errno = errno;
	struct nss_answer ans;
	struct gaih_addrtuple *tuples;
	struct outcome o;
	char qname[NSS_NAME_MAX + 1];
	size_t len = 0, n = 0, used = 0, k = 0;
	long toff, noff;
	char *hname;

	(void)ttlp;			/* the node does not tell the records' TTL */
	o = lookup(name, qname, &len, &ans);
	if (o.status != NSS_STATUS_SUCCESS)
		return finish(o, saved_errno, errnop, h_errnop);
	for (int s = 0; s < NSS_SLOTS; s++)
		n += ans.count[s];
	if (n == 0)
		return finish(no_data, saved_errno, errnop, h_errnop);

	toff = reserve(&used, buflen, (uintptr_t)buffer, _Alignof(struct gaih_addrtuple), n,
	    sizeof(struct gaih_addrtuple));
	noff = toff < 0 ? -1 : reserve(&used, buflen, (uintptr_t)buffer, 1, len + 1, 1);
	if (noff < 0)
		return finish(too_small, saved_errno, errnop, h_errnop);
	tuples = (struct gaih_addrtuple *)(void *)(buffer + toff);
	hname = buffer + noff;
	memcpy(hname, qname, len);
	hname[len] = '\0';

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int slot = order[i];
		for (size_t j = 0; j < ans.count[slot]; j++, k++) {
			struct gaih_addrtuple *t = &tuples[k];
			memset(t, 0, sizeof(*t));
			t->next = k + 1 < n ? &tuples[k + 1] : NULL;
			t->name = hname;
			t->family = slot == NSS_SLOT_IPV4 ? AF_INET : AF_INET6;
			memcpy(t->addr, ans.addr[slot][j], slot == NSS_SLOT_IPV4 ? 4 : 16);
		}
	}
	/* a caller that passes a tuple of its own gets the first one there */
	if (*pat != NULL)
		**pat = tuples[0];
	else
		*pat = tuples;
	return finish(o, saved_errno, errnop, h_errnop);
}

enum nss_status
_nss_p2pns_gethostbyname3_r(const char *name, int af, struct hostent *host, char *buffer,
    size_t buflen, int *errnop, int *h_errnop, int32_t *ttlp, char **canonp)
{
	int saved_errno = errno;
	struct nss_answer ans;
	struct outcome o;
	const int slots[2] = { af == AF_INET ? NSS_SLOT_IPV4 : NSS_SLOT_HIT, NSS_SLOT_IPV6 };
	const size_t nslots = af == AF_INET ? 1 : 2;
	const size_t alen = af == AF_INET ? 4 : 16;
	char qname[NSS_NAME_MAX + 1];
	size_t len = 0, n = 0, used = 0, k = 0;
	long loff, aoff, doff, noff;
	char **list, **aliases, *hname;

	(void)ttlp;
	if (af != AF_INET && af != AF_INET6) {
		o = (struct outcome){ NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_DATA };
		return finish(o, saved_errno, errnop, h_errnop);
	}
	o = lookup(name, qname, &len, &ans);
	if (o.status != NSS_STATUS_SUCCESS)
		return finish(o, saved_errno, errnop, h_errnop);
	for (size_t i = 0; i < nslots; i++)
		n += ans.count[slots[i]];
	if (n == 0)
		return finish(no_data, saved_errno, errnop, h_errnop);

	/* h_addr_list (n + 1 pointers), h_aliases (one NULL), the addresses, the name */
	loff = reserve(&used, buflen, (uintptr_t)buffer, _Alignof(char *), n + 1, sizeof(char *));
	aoff = loff < 0 ? -1 : reserve(&used, buflen, (uintptr_t)buffer, _Alignof(char *), 1,
	    sizeof(char *));
	doff = aoff < 0 ? -1 : reserve(&used, buflen, (uintptr_t)buffer, _Alignof(uint32_t), n,
	    alen);
	noff = doff < 0 ? -1 : reserve(&used, buflen, (uintptr_t)buffer, 1, len + 1, 1);
	if (noff < 0)
		return finish(too_small, saved_errno, errnop, h_errnop);
	list = (char **)(void *)(buffer + loff);
	aliases = (char **)(void *)(buffer + aoff);
	hname = buffer + noff;
	memcpy(hname, qname, len);
	hname[len] = '\0';
	for (size_t i = 0; i < nslots; i++) {
		for (size_t j = 0; j < ans.count[slots[i]]; j++, k++) {
			list[k] = buffer + doff + k * alen;
			memcpy(list[k], ans.addr[slots[i]][j], alen);
		}
	}
	list[n] = NULL;
	aliases[0] = NULL;

	host->h_name = hname;
	host->h_aliases = aliases;
	host->h_addrtype = af;
	host->h_length = (int)alen;
	host->h_addr_list = list;
	if (canonp != NULL)
		*canonp = hname;
	return finish(o, saved_errno, errnop, h_errnop);
}

enum nss_status
_nss_p2pns_gethostbyname2_r(const char *name, int af, struct hostent *host, char *buffer,
    size_t buflen, int *errnop, int *h_errnop)
{
	return _nss_p2pns_gethostbyname3_r(name, af, host, buffer, buflen, errnop, h_errnop,
	    NULL, NULL);
}

enum nss_status
_nss_p2pns_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
    size_t buflen, int *errnop, int *h_errnop)
{
	return _nss_p2pns_gethostbyname3_r(name, AF_INET, host, buffer, buflen, errnop, h_errnop,
	    NULL, NULL);
}
