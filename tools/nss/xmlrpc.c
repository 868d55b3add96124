/* libnss_p2pns: the resolve call written by hand and a small bounded parser for exactly the
 * answers p2pnsd sends: an array of [base64 address, int kind, int id], or a fault. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "tools/nss/nss_p2pns.h"

enum {
	INT_DIGITS_MAX = 10,		/* an i4 */
	NAME_TAG_MAX = 32,		/* a struct member's name */
	BASE64_NAME_MAX = (NSS_NAME_MAX + 2) / 3 * 4,
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
nss_base64_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
	size_t need = (len + 2) / 3 * 4, o = 0;

	if (need >= cap)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 0x3f];
		out[o++] = b64_alphabet[v >> 12 & 0x3f];
		out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 0x3f] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 0x3f] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
nss_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	size_t o = 0, quad = 0, pad = 0;
	bool too_long = false;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (is_space(in[i]))
			continue;
		if (in[i] == '=') {
			/* only as the last one or two characters of a group of four */
			if (quad < 2 || ++pad + quad > 4)
				return -1;
			continue;
		}
		if (pad > 0 || (v = b64_value(in[i])) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (++quad == 4) {
			for (int k = 2; k >= 0; k--) {
				if (o < cap)
					out[o] = (unsigned char)(acc >> (8 * k));
				else
					too_long = true;
				o++;
			}
			quad = 0;
			acc = 0;
		}
	}
	if (quad != 0) {
		/* a group of 2 or 3 characters ending with the padding: 1 or 2 bytes */
		if (quad + pad != 4)
			return -1;
		acc <<= 6 * (unsigned)pad;
		for (size_t k = 0; k < 3 - pad; k++) {
			if (o < cap)
				out[o] = (unsigned char)(acc >> (16 - 8 * k));
			else
				too_long = true;
			o++;
		}
	} else if (pad != 0) {
		return -1;
	}
	return too_long ? -2 : (int)o;
}

int
nss_xmlrpc_request(const struct nss_conf *conf, const char *name, size_t name_len,
    char *out, size_t cap)
{
	char b64[BASE64_NAME_MAX + 1];
	char body[NSS_REQUEST_MAX];
	int blen, n;

	if (name_len > NSS_NAME_MAX ||
	    nss_base64_encode((const unsigned char *)name, name_len, b64, sizeof(b64)) < 0)
		return -1;
	/* kind 0: every record in one round trip; the module picks its kinds */
	blen = snprintf(body, sizeof(body),
	    "<?xml version=\"1.0\"?>\r\n"
	    "<methodCall><methodName>resolve</methodName><params>"
	    "<param><value><base64>%s</base64></value></param>"
	    "<param><value><int>%d</int></value></param>"
	    "</params></methodCall>\r\n", b64, NSS_KIND_ANY);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	n = snprintf(out, cap,
	    "POST %s HTTP/1.0\r\n"
	    "Host: %s\r\n"
	    "User-Agent: libnss_p2pns\r\n"
	    "Content-Type: text/xml\r\n"
	    "Content-Length: %d\r\n"
	    "\r\n"
	    "%s", conf->path, conf->host, blen, body);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

/* ---- the answer ------------------------------------------------------------------------ */

struct cursor {
	const char *p, *end;
};

static void
skip_space(struct cursor *c)
{
	while (c->p < c->end && is_space(*c->p))
		c->p++;
}

/* After optional white space, the exact text lit: consumed and true, or false. */
static bool
take(struct cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	skip_space(c);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Character data up to the next '<' (which must come): its start and length. */
static bool
text(struct cursor *c, const char **start, size_t *len)
{
	const char *lt = memchr(c->p, '<', (size_t)(c->end - c->p));

	if (lt == NULL)
		return false;
	*start = c->p;
	*len = (size_t)(lt - c->p);
	c->p = lt;
	return true;
}

/* <value><i4>N</i4></value> or <int>; N fits 32 bits. */
static bool
int_value(struct cursor *c, long *out)
{
	const char *close, *s;
	size_t len, i = 0;
	bool neg = false;
	long v = 0;

	if (!take(c, "<value>"))
		return false;
	if (take(c, "<i4>"))
		close = "</i4>";
	else if (take(c, "<int>"))
		close = "</int>";
	else
		return false;
	if (!text(c, &s, &len))
		return false;
	while (len > 0 && is_space(s[len - 1]))
		len--;
	while (i < len && is_space(s[i]))
		i++;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len || len - i > INT_DIGITS_MAX)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > (neg ? 2147483648L : 2147483647L))
		return false;
	*out = neg ? -v : v;
	return take(c, close) && take(c, "</value>");
}

/* <value><base64>...</base64></value> into out: the length, 0 for data that does not fit
 * an address (skipped, not an error), -1 for a malformed value. */
static int
base64_value(struct cursor *c, unsigned char *out, size_t cap)
{
	const char *s;
	size_t len;
	int n;

	if (!take(c, "<value>"))
		return -1;
	if (take(c, "<base64/>"))
		return take(c, "</value>") ? 0 : -1;
	if (!take(c, "<base64>") || !text(c, &s, &len))
		return -1;
	n = nss_base64_decode(s, len, out, cap);
	if (n == -1 || !take(c, "</base64>") || !take(c, "</value>"))
		return -1;
	return n < 0 ? 0 : n;
}

/* The address text of a record of kind, checked with inet_pton, into ans (once). */
static void
add_address(struct nss_answer *ans, long kind, const unsigned char *txt, int len)
{
	char buf[NSS_ADDR_TEXT_MAX + 1];
	unsigned char addr[16] = { 0 };
	int slot, af;

	switch (kind) {
	case NSS_KIND_HIT:
		slot = NSS_SLOT_HIT;
		af = AF_INET6;
		break;
	case NSS_KIND_IPV6:
		slot = NSS_SLOT_IPV6;
		af = AF_INET6;
		break;
	case NSS_KIND_IPV4:
		slot = NSS_SLOT_IPV4;
		af = AF_INET;
		break;
	default:
		return;			/* a kind the module does not use */
	}
	if (len <= 0 || (size_t)len > NSS_ADDR_TEXT_MAX || memchr(txt, '\0', (size_t)len) != NULL)
		return;
	memcpy(buf, txt, (size_t)len);
	buf[len] = '\0';
	if (inet_pton(af, buf, addr) != 1)
		return;
	for (size_t i = 0; i < ans->count[slot]; i++)
		if (memcmp(ans->addr[slot][i], addr, sizeof(addr)) == 0)
			return;
	if (ans->count[slot] < NSS_ADDRS_MAX)
		memcpy(ans->addr[slot][ans->count[slot]++], addr, sizeof(addr));
}

/* <value><array><data> <value>base64</value> <value>int</value> <value>int</value>
 * </data></array></value> */
static bool
record(struct cursor *c, struct nss_answer *ans)
{
	unsigned char txt[NSS_ADDR_TEXT_MAX];
	long kind, id;
	int len;

	if (!take(c, "<value>") || !take(c, "<array>") || !take(c, "<data>"))
		return false;
	len = base64_value(c, txt, sizeof(txt));
	if (len < 0 || !int_value(c, &kind) || !int_value(c, &id))
		return false;
	if (!take(c, "</data>") || !take(c, "</array>") || !take(c, "</value>"))
		return false;
	add_address(ans, kind, txt, len);
	return true;
}

/* <value> with a string (typed or not) that the module does not need. */
static bool
skip_string_value(struct cursor *c)
{
	const char *s;
	size_t len;

	if (!take(c, "<value>"))
		return false;
	if (take(c, "<string/>"))
		return take(c, "</value>");
	if (take(c, "<string>")) {
		if (!text(c, &s, &len) || !take(c, "</string>"))
			return false;
	} else if (!text(c, &s, &len)) {
		return false;
	}
	return take(c, "</value>");
}

/* <fault><value><struct> members </struct></value></fault>: the faultCode. */
static int
fault(struct cursor *c)
{
	long code = 0;
	bool have_code = false;

	if (!take(c, "<value>") || !take(c, "<struct>"))
		return NSS_ERR_BAD_ANSWER;
	while (!take(c, "</struct>")) {
		const char *name;
		size_t len;

		if (!take(c, "<member>") || !take(c, "<name>") || !text(c, &name, &len) ||
		    len > NAME_TAG_MAX || !take(c, "</name>"))
			return NSS_ERR_BAD_ANSWER;
		if (len == 9 && memcmp(name, "faultCode", 9) == 0) {
			if (have_code || !int_value(c, &code))
				return NSS_ERR_BAD_ANSWER;
			have_code = true;
		} else if (!skip_string_value(c)) {
			return NSS_ERR_BAD_ANSWER;
		}
		if (!take(c, "</member>"))
			return NSS_ERR_BAD_ANSWER;
	}
	if (!have_code || !take(c, "</value>") || !take(c, "</fault>"))
		return NSS_ERR_BAD_ANSWER;
	return code == NSS_FAULT_NOT_FOUND ? NSS_ERR_NOT_FOUND : NSS_ERR_FAULT;
}

/* <params><param><value><array><data> records </data></array></value></param></params> */
static int
params(struct cursor *c, struct nss_answer *ans)
{
	if (!take(c, "<params>") || !take(c, "<param>") || !take(c, "<value>") ||
	    !take(c, "<array>"))
		return NSS_ERR_BAD_ANSWER;
	if (!take(c, "<data/>")) {
		if (!take(c, "<data>"))
			return NSS_ERR_BAD_ANSWER;
		while (!take(c, "</data>"))
			if (!record(c, ans))
				return NSS_ERR_BAD_ANSWER;
	}
	if (!take(c, "</array>") || !take(c, "</value>") || !take(c, "</param>") ||
	    !take(c, "</params>"))
		return NSS_ERR_BAD_ANSWER;
	return NSS_OK;
}

int
nss_xmlrpc_answer(const char *body, size_t len, struct nss_answer *ans)
{
	struct cursor c = { body, body + len };
	int r;

	memset(ans, 0, sizeof(*ans));
	if (take(&c, "<?xml")) {
		const char *q = c.p;
		while (q + 1 < c.end && !(q[0] == '?' && q[1] == '>'))
			q++;
		if (q + 1 >= c.end)
			return NSS_ERR_BAD_ANSWER;
		c.p = q + 2;
	}
	if (!take(&c, "<methodResponse>"))
		return NSS_ERR_BAD_ANSWER;
	r = take(&c, "<fault>") ? fault(&c) : params(&c, ans);
	if (r == NSS_ERR_BAD_ANSWER || !take(&c, "</methodResponse>"))
		return NSS_ERR_BAD_ANSWER;
	skip_space(&c);
	if (c.p != c.end)
		return NSS_ERR_BAD_ANSWER;
	return r;
}
