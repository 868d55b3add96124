/* libFuzzer target: the NSS module's resolve-answer, base64, nss.conf and URL parsers; the first
 * byte's two low bits pick the mode (the letters in common.h are the readable choices). */
#define _GNU_SOURCE			/* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/common.h"
#include "tools/nss/nss_p2pns.h"

enum {
	B64_CAP = 512,			/* decoded bytes the base64 mode allows */
};

/* nss.conf for nss_conf_load: a memory file named by $P2PNS_NSS_CONF, rewritten per input. */
static int conf_fd = -1;

static void
check_answer(const char *text, size_t len)
{
	struct nss_answer *ans = malloc(sizeof(*ans));
	int r;

	FUZZ_CHECK(ans != NULL);
	r = nss_xmlrpc_answer(text, len, ans);
	FUZZ_CHECK(r == NSS_OK || r == NSS_ERR_NOT_FOUND || r == NSS_ERR_FAULT ||
	    r == NSS_ERR_BAD_ANSWER);
	for (int s = 0; s < NSS_SLOTS; s++) {
		FUZZ_CHECK(ans->count[s] <= NSS_ADDRS_MAX);
		FUZZ_CHECK(r == NSS_OK || ans->count[s] == 0 || r == NSS_ERR_BAD_ANSWER);
		/* no duplicates */
		for (size_t i = 0; i < ans->count[s]; i++)
			for (size_t j = i + 1; j < ans->count[s]; j++)
				FUZZ_CHECK(memcmp(ans->addr[s][i], ans->addr[s][j], 16) != 0);
	}
	free(ans);
}

/* Decoding what decodes, encoding it and decoding again gives the same bytes; encoding the
 * text as bytes and decoding it gives the text. */
static void
check_base64(const char *text, size_t len)
{
	size_t cap = (len + 2) / 3 * 4 + 1;
	unsigned char *dec = malloc(B64_CAP), *dec2 = malloc(B64_CAP);
	char *enc = malloc(cap > B64_CAP * 2 ? cap : B64_CAP * 2);
	int n, m, e;

	FUZZ_CHECK(dec != NULL && dec2 != NULL && enc != NULL);
	n = nss_base64_decode(text, len, dec, B64_CAP);
	FUZZ_CHECK(n >= -2 && n <= B64_CAP);
	if (n >= 0) {
		e = nss_base64_encode(dec, (size_t)n, enc, B64_CAP * 2);
		FUZZ_CHECK(e == ((n + 2) / 3) * 4 && strlen(enc) == (size_t)e);
		m = nss_base64_decode(enc, (size_t)e, dec2, B64_CAP);
		FUZZ_CHECK(m == n && memcmp(dec, dec2, (size_t)n) == 0);
	}
	if (len <= B64_CAP) {
		e = nss_base64_encode((const unsigned char *)text, len, enc, cap);
		FUZZ_CHECK(e >= 0 && (size_t)e + 1 == cap);
		m = nss_base64_decode(enc, (size_t)e, dec, B64_CAP);
		FUZZ_CHECK(m == (int)len && memcmp(dec, text, len) == 0);
	}
	free(enc);
	free(dec2);
	free(dec);
}

static void
check_conf(const struct nss_conf *conf)
{
	FUZZ_CHECK(conf->node_len == sizeof(conf->node.v4) || conf->node_len == sizeof(conf->node.v6));
	FUZZ_CHECK(strlen(conf->host) <= NSS_HOST_MAX && strlen(conf->path) <= NSS_PATH_MAX);
	FUZZ_CHECK(conf->path[0] == '/');
	FUZZ_CHECK(conf->suffix[0] == '.' && strlen(conf->suffix) == conf->suffix_len);
	FUZZ_CHECK(conf->suffix_len >= 2 && conf->suffix_len <= NSS_SUFFIX_MAX);
	FUZZ_CHECK(conf->timeout_ms >= 1 && conf->timeout_ms <= NSS_TIMEOUT_MS_MAX);
}

static void
load_conf(const char *text, size_t len)
{
	struct nss_conf conf;
	int r;

	FUZZ_CHECK(ftruncate(conf_fd, 0) == 0);
	FUZZ_CHECK(pwrite(conf_fd, text, len, 0) == (ssize_t)len);
	r = nss_conf_load(&conf);
	FUZZ_CHECK(r == 0 || r == NSS_ERR_CONF);
	if (r == 0)
		check_conf(&conf);
}

/* "URL NAME": the URL into a configuration, then the request for NAME. */
static void
url_request(const char *text, size_t len)
{
	const char *sp = memchr(text, ' ', len);
	size_t ulen = sp != NULL ? (size_t)(sp - text) : len;
	const char *name = sp != NULL ? sp + 1 : text + len;
	size_t nlen = len - (size_t)(name - text);
	struct nss_conf conf;
	char *req = malloc(NSS_REQUEST_MAX);
	int n;

	FUZZ_CHECK(req != NULL);
	memset(&conf, 0, sizeof(conf));
	conf.timeout_ms = NSS_TIMEOUT_MS_DEFAULT;
	if (nss_conf_set_url(&conf, text, ulen) == 0) {
		memcpy(conf.suffix, NSS_DEFAULT_SUFFIX, sizeof(NSS_DEFAULT_SUFFIX));
		conf.suffix_len = strlen(NSS_DEFAULT_SUFFIX);
		check_conf(&conf);
		n = nss_xmlrpc_request(&conf, name, nlen, req, NSS_REQUEST_MAX);
		FUZZ_CHECK(n < NSS_REQUEST_MAX);
		if (n >= 0) {
			FUZZ_CHECK(strlen(req) == (size_t)n);
			FUZZ_CHECK(strncmp(req, "POST ", 5) == 0);
			FUZZ_CHECK(strstr(req, "\r\n\r\n") != NULL);
		}
	}
	free(req);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];

	(void)argc;
	(void)argv;
	conf_fd = memfd_create("nss.conf", MFD_CLOEXEC);
	FUZZ_CHECK(conf_fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", conf_fd);
	FUZZ_CHECK(setenv(NSS_CONF_ENV, path, 1) == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	size_t len;

	if (size == 0)
		return 0;
	/* a copy of exactly the text, so that reading past it is caught */
	len = size - 1;
	text = malloc(len ? len : 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data + 1, len);
	switch (data[0] & 3) {
	case NSS_MODE_ANSWER & 3:
		check_answer(text, len);
		break;
	case NSS_MODE_BASE64 & 3:
		check_base64(text, len);
		break;
	case NSS_MODE_CONF & 3:
		load_conf(text, len);
		break;
	default:
		url_request(text, len);
		break;
	}
	free(text);
	return 0;
}
