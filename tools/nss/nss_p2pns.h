/* libnss_p2pns: the internal interface of the NSS hosts module — its configuration, the one
 * HTTP exchange with the local node, the XML-RPC request and answer. None of it is exported. */
#ifndef P2PNS_TOOLS_NSS_NSS_P2PNS_H
#define P2PNS_TOOLS_NSS_NSS_P2PNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#define NSS_CONF_PATH "/etc/p2pns/nss.conf"
#define NSS_CONF_ENV "P2PNS_NSS_CONF"	/* read with secure_getenv: ignored in setuid programs */
#define NSS_DEFAULT_URL "http://127.0.0.1:3631/RPC2"
#define NSS_DEFAULT_SUFFIX ".p2p"

enum {
	NSS_CONF_FILE_MAX = 4096,	/* bytes of nss.conf */
	NSS_HOST_MAX = 64,		/* the URL's "address:port" ("[v6]:port" is at most 47) */
	NSS_PATH_MAX = 256,		/* the URL's path */
	NSS_SUFFIX_MAX = 64,		/* the suffix with its leading dot */
	NSS_NAME_MAX = 253,		/* a host name without its trailing dot (DNS's limit) */
	NSS_TIMEOUT_MS_DEFAULT = 500,
	NSS_TIMEOUT_MS_MAX = 500,	/* for connect, send and receive together */
	NSS_REQUEST_MAX = 2048,		/* the HTTP request: headers and XML-RPC call */
	NSS_RESPONSE_MAX = 65536,	/* the HTTP response read: headers and body */
	NSS_ADDRS_MAX = 16,		/* addresses kept per kind (HIT, IPv6, IPv4) */
	NSS_ADDR_TEXT_MAX = 63,		/* bytes of one address's text (INET6_ADDRSTRLEN is 46) */
	NSS_FAULT_NOT_FOUND = 9,	/* the node's "name not found" */
};

/* DNS RR type numbers of the records the module uses. */
enum {
	NSS_KIND_ANY = 0,
	NSS_KIND_IPV4 = 1,
	NSS_KIND_IPV6 = 28,
	NSS_KIND_HIT = 55,
};

/* What a lookup came to; every failure is negative. */
enum {
	NSS_OK = 0,
	NSS_ERR_NOT_FOUND = -1,		/* fault 9: the node knows no record of the name */
	NSS_ERR_DOWN = -2,		/* no connection, or no whole answer in time */
	NSS_ERR_FAULT = -3,		/* another fault: the overlay failed or is busy */
	NSS_ERR_BAD_ANSWER = -4,	/* not an answer of the expected shape */
	NSS_ERR_NO_MEMORY = -5,
	NSS_ERR_CONF = -6,		/* nss.conf is unreadable or wrong */
};

struct nss_conf {
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} node;				/* the node's XML-RPC address */
	socklen_t node_len;
	char host[NSS_HOST_MAX + 1];	/* "address:port" as in the URL, for the Host header */
	char path[NSS_PATH_MAX + 1];
	char suffix[NSS_SUFFIX_MAX + 1];	/* with its leading dot, without a trailing one */
	size_t suffix_len;
	int timeout_ms;
};

/* The usable addresses of an answer, by kind, in the order the node gave them, without
 * duplicates; the AF_INET6 ones are the HITs, then the IPv6 addresses. */
enum { NSS_SLOT_HIT, NSS_SLOT_IPV6, NSS_SLOT_IPV4, NSS_SLOTS };

struct nss_answer {
	unsigned char addr[NSS_SLOTS][NSS_ADDRS_MAX][16];	/* IPv4 in the first 4 bytes */
	size_t count[NSS_SLOTS];
};

/* conf.c: reads the file named by $P2PNS_NSS_CONF or /etc/p2pns/nss.conf into conf (the
 * defaults where the file is missing). 0 or NSS_ERR_CONF. */
int nss_conf_load(struct nss_conf *conf);
/* Parses an "http://IPv4:port/path" or "http://[IPv6]:port/path" URL into conf. 0 or -1. */
int nss_conf_set_url(struct nss_conf *conf, const char *url, size_t len);

/* http.c: sends req (len bytes) to the configured node and reads the response into buf
 * (cap bytes) within conf->timeout_ms; on 0, *body and *body_len are the body of a complete
 * "200" response. Otherwise NSS_ERR_DOWN (*sys_err says why), NSS_ERR_BAD_ANSWER. */
int nss_http_post(const struct nss_conf *conf, const char *req, size_t len, char *buf,
    size_t cap, const char **body, size_t *body_len, int *sys_err);

/* xmlrpc.c: writes the HTTP request for resolve(base64 name, 0) into out; its length, or
 * -1 when it does not fit. */
int nss_xmlrpc_request(const struct nss_conf *conf, const char *name, size_t name_len,
    char *out, size_t cap);
/* Parses a resolve answer (the HTTP body) into ans: NSS_OK, NSS_ERR_NOT_FOUND,
 * NSS_ERR_FAULT or NSS_ERR_BAD_ANSWER. */
int nss_xmlrpc_answer(const char *body, size_t len, struct nss_answer *ans);

/* base64 (RFC 4648) into out, NUL-terminated; the length written, or -1 when out is too small. */
int nss_base64_encode(const unsigned char *in, size_t len, char *out, size_t cap);
/* Decodes base64 text, skipping white space, into out (cap bytes): the length decoded, -1
 * for text that is not base64, -2 when the data does not fit. */
int nss_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
