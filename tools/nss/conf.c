/* libnss_p2pns: /etc/p2pns/nss.conf ("url", "suffix", "timeout-ms"), read on every call with
 * open/read; a missing file means the defaults. No DNS: the URL holds an address literal. */
#define _GNU_SOURCE			/* secure_getenv */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/nss/nss_p2pns.h"

enum {
	KEY_MAX = 16,
	PORT_DEFAULT = 80,		/* a URL without a port */
	PORT_DIGITS_MAX = 5,
	TIMEOUT_DIGITS_MAX = 6,
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Unsigned decimal of 1..max_digits digits; -1 if not. */
static long
parse_uint(const char *s, size_t len, size_t max_digits)
{
	long v = 0;

	if (len == 0 || len > max_digits)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
nss_conf_set_url(struct nss_conf *conf, const char *url, size_t len)
{
	static const char scheme[] = "http://";
	const size_t slen = sizeof(scheme) - 1;
	char addr[INET6_ADDRSTRLEN];
	const char *p, *end = url + len, *host, *path;
	size_t alen;
	long port = PORT_DEFAULT;
	bool v6;

	if (len < slen)
		return -1;
	for (size_t i = 0; i < slen; i++)
		if (lower(url[i]) != scheme[i])
			return -1;
	host = p = url + slen;
	v6 = p < end && *p == '[';
	if (v6) {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (close == NULL)
			return -1;
		alen = (size_t)(close - p - 1);
		if (alen >= sizeof(addr))
			return -1;
		memcpy(addr, p + 1, alen);
		p = close + 1;
	} else {
		const char *q = p;
		while (q < end && *q != ':' && *q != '/')
			q++;
		alen = (size_t)(q - p);
		if (alen >= sizeof(addr))
			return -1;
		memcpy(addr, p, alen);
		p = q;
	}
	addr[alen] = '\0';
	if (p < end && *p == ':') {
		const char *q = ++p;
		while (q < end && *q != '/')
			q++;
		port = parse_uint(p, (size_t)(q - p), PORT_DIGITS_MAX);
		if (port < 1 || port > 65535)
			return -1;
		p = q;
	}
	if ((size_t)(p - host) > NSS_HOST_MAX)
		return -1;
	path = p;
	if (path < end && *path != '/')
		return -1;
	if ((size_t)(end - path) > NSS_PATH_MAX)
		return -1;
	for (const char *q = path; q < end; q++)	/* nothing that could end the request line */
		if (*q <= ' ' || *q >= 0x7f)
			return -1;

	memset(&conf->node, 0, sizeof(conf->node));
	if (v6) {
		if (inet_pton(AF_INET6, addr, &conf->node.v6.sin6_addr) != 1)
			return -1;
		conf->node.v6.sin6_family = AF_INET6;
		conf->node.v6.sin6_port = htons((uint16_t)port);
		conf->node_len = sizeof(conf->node.v6);
	} else {
		if (inet_pton(AF_INET, addr, &conf->node.v4.sin_addr) != 1)
			return -1;
		conf->node.v4.sin_family = AF_INET;
		conf->node.v4.sin_port = htons((uint16_t)port);
		conf->node_len = sizeof(conf->node.v4);
	}
	memcpy(conf->host, host, (size_t)(p - host));
	conf->host[p - host] = '\0';
	if (path == end) {
		strcpy(conf->path, "/");
	} else {
		memcpy(conf->path, path, (size_t)(end - path));
		conf->path[end - path] = '\0';
	}
	return 0;
}

/* ".p2p", "p2p" or "p2p." -> ".p2p": labels of letters, digits, '-' and '_', none empty. */
static int
set_suffix(struct nss_conf *conf, const char *s, size_t len)
{
	size_t n = 0;

	if (len > 0 && s[0] == '.') {
		s++;
		len--;
	}
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len + 1 > NSS_SUFFIX_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool label = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!label && !(c == '.' && i > 0 && s[i - 1] != '.'))
			return -1;
	}
	if (s[len - 1] == '.')
		return -1;
	conf->suffix[n++] = '.';
	memcpy(conf->suffix + n, s, len);
	conf->suffix_len = n + len;
	conf->suffix[conf->suffix_len] = '\0';
	return 0;
}

static int
set_defaults(struct nss_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->timeout_ms = NSS_TIMEOUT_MS_DEFAULT;
	if (nss_conf_set_url(conf, NSS_DEFAULT_URL, strlen(NSS_DEFAULT_URL)) < 0 ||
	    set_suffix(conf, NSS_DEFAULT_SUFFIX, strlen(NSS_DEFAULT_SUFFIX)) < 0)
		return NSS_ERR_CONF;
	return 0;
}

/* One "key value" line (no comment, not blank). */
static int
parse_line(struct nss_conf *conf, const char *p, const char *end)
{
	const char *key = p, *val;
	size_t klen, vlen;
	long ms;

	while (p < end && !is_space(*p))
		p++;
	klen = (size_t)(p - key);
	while (p < end && is_space(*p))
		p++;
	val = p;
	while (p < end && !is_space(*p))
		p++;
	vlen = (size_t)(p - val);
	while (p < end && is_space(*p))
		p++;
	if (p != end || vlen == 0 || klen > KEY_MAX)
		return -1;
	if (klen == 3 && memcmp(key, "url", 3) == 0)
		return nss_conf_set_url(conf, val, vlen);
	if (klen == 6 && memcmp(key, "suffix", 6) == 0)
		return set_suffix(conf, val, vlen);
	if (klen == 10 && memcmp(key, "timeout-ms", 10) == 0) {
		ms = parse_uint(val, vlen, TIMEOUT_DIGITS_MAX);
		if (ms < 1)
			return -1;
		conf->timeout_ms = ms > NSS_TIMEOUT_MS_MAX ? NSS_TIMEOUT_MS_MAX : (int)ms;
		return 0;
	}
	return -1;
}

/* The whole file into buf; its length, 0 when it does not exist, -1 on an error. */
static ssize_t
read_file(const char *path, char *buf, size_t cap)
{
	struct stat st;
	size_t len = 0;
	int fd;

	/* O_NONBLOCK: a FIFO given as the file must not block the host program */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && len + (size_t)n == cap)) {	/* an error, or too big */
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

int
nss_conf_load(struct nss_conf *conf)
{
	char buf[NSS_CONF_FILE_MAX + 1];
	const char *path = secure_getenv(NSS_CONF_ENV);
	const char *p, *end;
	ssize_t len;

	if (set_defaults(conf) < 0)
		return NSS_ERR_CONF;
	if (path == NULL || path[0] == '\0')
		path = NSS_CONF_PATH;
	len = read_file(path, buf, sizeof(buf));
	if (len < 0)
		return NSS_ERR_CONF;
	for (p = buf, end = buf + len; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol != NULL ? eol : end;
		while (p < line_end && is_space(*p))
			p++;
		if (p < line_end && *p != '#' && parse_line(conf, p, line_end) < 0)
			return NSS_ERR_CONF;
		p = line_end + (eol != NULL);
	}
	return 0;
}
