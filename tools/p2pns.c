/* p2pns: the command line client of the local p2pns node (p2pnsd), over XML-RPC: register,
 * resolve and unregister names, put, get and remove values, look up nodes, show the status. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#include "common/cli.h"

#ifndef P2PNS_VERSION
#define P2PNS_VERSION "0.1.0"
#endif

/* xmlrpc-c's XMLRPC_CXPSIZE and XMLRPC_CPSIZE without their member access through a null
 * pointer, which UBSan rejects: the size of a parameter struct up to member m. */
#define MEMBER_END(type, m) (offsetof(type, m) + sizeof(((type *)NULL)->m))

#define DEFAULT_URL "http://127.0.0.1:3631/RPC2"
#define APPLICATION "p2pns"		/* the OpenDHT "application" argument */

enum {
	BAD_OPTION_SHOWN = 64,		/* bytes of a bad option named in a message */
	EXIT_NOT_FOUND = 2,
	FAULT_NOT_FOUND = 9,		/* the server's "name not found" */
	DEFAULT_TIMEOUT_S = 35,		/* a bit above the server's own 30 s */
	MAX_TIMEOUT_S = 3600,
	DEFAULT_TTL_S = 3600,
	MAX_TTL_S = 7 * 24 * 3600,
	MAX_KIND = 65535,
	MAX_ID = 2147483647,		/* an XML-RPC int */
	DEFAULT_SIBLINGS = 8,
	MAX_SIBLINGS = 64,
	GET_MAX_VALUES = 10000,		/* values printed by one get */
	GET_MAX_ROUNDS = 1000,		/* placemarks followed by one get */
	GET_BATCH = 100,		/* maxvals asked for in one round */
	SECRET_MAX = 1024,		/* bytes of a removal secret */
	MAX_DEPTH = 16,			/* nesting printed by status */
	MAX_MEMBERS = 10000,		/* members of one struct or array printed by status */
	PATH_MAX_LEN = 512,		/* a status line's "a.b[3].c" */
	SHA1_LEN = 20,
};

/* Set by SIGALRM when a call has taken --timeout seconds; xmlrpc-c's transport watches it
 * (xmlrpc_client_set_interrupt) and abandons the call. The curl transport's own timeout
 * is too coarse (whole seconds, checked every few seconds) to be the only one. */
static int interrupted;

static const char prog[] = "p2pns";
static char prog_arg0[] = "p2pns";	/* argv[0] for getopt's own messages */

static const char usage_main[] =
    "usage: p2pns [--url URL] [--json] [--timeout S] COMMAND ARGS...\n"
    "\n"
    "Asks the local p2pns node (p2pnsd) over XML-RPC.\n"
    "\n"
    "commands:\n"
    "  resolve NAME [--kind K]            the name's addresses, one per line\n"
    "  register NAME ADDRESS [--kind K] [--id I] [--ttl S]\n"
    "                                     bind NAME to ADDRESS (host:port, an IP address,\n"
    "                                     a HIT, or self[:PORT] for this node)\n"
    "  unregister NAME --kind K [--id I]  remove a registration\n"
    "  put KEY VALUE [--ttl S] [--secret SECRET | --secret-file FILE]\n"
    "                                     store a value (removable with the secret)\n"
    "  get KEY [--max N]                  every value under KEY, one per line\n"
    "  rm KEY VALUE (--secret SECRET | --secret-file FILE) [--ttl S]\n"
    "                                     remove a value stored with a secret\n"
    "  lookup KEY [--siblings N]          the nodes responsible for KEY: IP PORT NODEID\n"
    "  status                             the node's status\n"
    "\n"
    "options (before or after the command):\n"
    "  --url URL           the node's XML-RPC URL (default $P2PNS_URL, else\n"
    "                      " DEFAULT_URL ")\n"
    "  --json              print one JSON document\n"
    "  --timeout S         give up after S seconds, 1..3600 (default 35)\n"
    "  -h, --help          help; 'p2pns COMMAND --help' for one command\n"
    "  -V, --version       print the version\n"
    "\n"
    "Bytes that are not printable UTF-8, or that start with \"0x\", are printed as 0x and\n"
    "hex. The node takes writes only from the addresses it allows (loopback by default).\n"
    "Exit status: 0 success, 2 not found, 1 any other error.\n";

static const char usage_resolve[] =
    "usage: p2pns resolve NAME [--kind K]\n"
    "\n"
    "Prints NAME's addresses, one per line; with --json an array of\n"
    "{\"address\", \"kind\", \"id\"}. Exits with 2 if the name is not found.\n"
    "\n"
    "  --kind K            only records of kind K, 1..65535 (default 0: every kind)\n";

static const char usage_register[] =
    "usage: p2pns register NAME ADDRESS [--kind K] [--id I] [--ttl S]\n"
    "\n"
    "Binds NAME to ADDRESS: host:port, an IPv4 or IPv6 address, a HIT, or \"self\" or\n"
    "\"self:PORT\" (two-stage: the node stores its node ID, and resolvers get the node's\n"
    "current IP address, with PORT). The node signs the record and refreshes it until\n"
    "the TTL runs out.\n"
    "\n"
    "  --kind K            1..65535 (default: 1 for an IPv4 address, 28 for an IPv6 address,\n"
    "                      33 otherwise); give 55 for a HIT\n"
    "  --id I              tells records of one name and kind apart, 0..2147483647\n"
    "                      (default 0)\n"
    "  --ttl S             lifetime in seconds, 1..604800 (default 3600)\n";

static const char usage_unregister[] =
    "usage: p2pns unregister NAME --kind K [--id I]\n"
    "\n"
    "Removes the record (NAME, K, I) registered through this node.\n"
    "\n"
    "  --kind K            the kind it was registered with, 1..65535 (required)\n"
    "  --id I              its id, 0..2147483647 (default 0)\n";

static const char usage_put[] =
    "usage: p2pns put KEY VALUE [--ttl S] [--secret SECRET | --secret-file FILE]\n"
    "\n"
    "Stores VALUE under KEY, beside the values stored there already. With a secret\n"
    "only SHA-1(SECRET) is sent, and 'p2pns rm' with the same secret removes the value.\n"
    "\n"
    "  --ttl S             lifetime in seconds, 1..604800 (default 3600)\n"
    "  --secret SECRET     the removal secret\n"
    "  --secret-file FILE  read the secret from the first line of FILE (- for stdin)\n";

static const char usage_get[] =
    "usage: p2pns get KEY [--max N]\n"
    "\n"
    "Prints every value stored under KEY, one per line; with --json an array of strings.\n"
    "Exits with 2 if there is none.\n"
    "\n"
    "  --max N             print at most N values, 1..10000 (default 10000)\n";

static const char usage_rm[] =
    "usage: p2pns rm KEY VALUE (--secret SECRET | --secret-file FILE) [--ttl S]\n"
    "\n"
    "Removes VALUE from KEY; it must have been put with the same secret.\n"
    "\n"
    "  --ttl S             how long the removal is remembered, 1..604800 (default 3600)\n"
    "  --secret SECRET     the secret given to 'p2pns put'\n"
    "  --secret-file FILE  read the secret from the first line of FILE (- for stdin)\n";

static const char usage_lookup[] =
    "usage: p2pns lookup KEY [--siblings N]\n"
    "\n"
    "Prints the nodes closest to SHA-1(KEY) as \"IP PORT NODEID\" lines; with --json an\n"
    "array of {\"ip\", \"port\", \"node_id\"}.\n"
    "\n"
    "  --siblings N        how many nodes, 1..64 (default 8)\n";

static const char usage_status[] =
    "usage: p2pns status\n"
    "\n"
    "Prints the node's status as \"key: value\" lines, sorted, nested members as\n"
    "\"table.size\" and list items as \"addresses[0]\"; with --json one object.\n";

/* Options: the long ones only (besides -h and -V); val is a letter that commands list. */
static const struct option options[] = {
	{"url", required_argument, NULL, 'u'},
	{"json", no_argument, NULL, 'j'},
	{"timeout", required_argument, NULL, 'T'},
	{"kind", required_argument, NULL, 'k'},
	{"id", required_argument, NULL, 'i'},
	{"ttl", required_argument, NULL, 't'},
	{"secret", required_argument, NULL, 's'},
	{"secret-file", required_argument, NULL, 'S'},
	{"max", required_argument, NULL, 'm'},
	{"siblings", required_argument, NULL, 'n'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};
#define GLOBAL_OPTS "ujTh"

struct cli {
	const char *url;
	unsigned timeout_s;
	bool json;
	bool has_kind, has_max;
	unsigned kind, id, ttl, max, siblings;
	const char *secret, *secret_file;
};

struct session;

struct command {
	const char *name;
	const char *opts;		/* option letters besides GLOBAL_OPTS */
	int nargs;			/* positional arguments */
	const char *usage;
	bool list;			/* with --json prints an array: [] when not found */
	int (*run)(struct session *s, char **args);
};

/* One run of a command: the client, the output (shown only if the command succeeds) and
 * what error messages name. */
struct session {
	const struct cli *cli;
	xmlrpc_env env;
	xmlrpc_client *client;
	FILE *out;
	const char *cmd;
	const char *subject;		/* the name or key, or NULL */
	bool quiet_not_found;		/* the command reports fault 9 itself */
	bool global;			/* xmlrpc-c's global constants are set up */
};

__attribute__((format(printf, 2, 3)))
static int usage_error(const char *usage, const char *fmt, ...);

/* The argument getopt looked at last: named by bad_option, which has no argv. */
static const char *bad_arg;
__attribute__((format(printf, 2, 3)))
static int fail(struct session *s, const char *fmt, ...);

static int
usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	return 1;
}

/* Text from elsewhere (a fault string, a name) on stderr with control characters as '?'. */
static void
put_sanitized(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* The start of an error message: "p2pns: CMD SUBJECT: ". */
static void
fail_start(const struct session *s)
{
	fprintf(stderr, "%s: %s", prog, s->cmd);
	if (s->subject != NULL) {
		fputc(' ', stderr);
		put_sanitized(stderr, s->subject);
	}
	fputs(": ", stderr);
}

/* "p2pns: CMD SUBJECT: message"; returns 1. */
static int
fail(struct session *s, const char *fmt, ...)
{
	va_list ap;

	fail_start(s);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Frees what xmlrpc-c hands out as const. */
static void
free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

/* Whether p[0..len) is UTF-8 (shortest forms, no surrogates) without control characters. */
static bool
printable_utf8(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i], n;
		uint32_t cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += n + 1;
	}
	return true;
}

/* Bytes are shown as text unless that could be misread: then as "0x" and hex. */
static bool
shown_as_text(const unsigned char *p, size_t len)
{
	if (len >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		return false;
	return printable_utf8(p, len);
}

static void
put_hex(FILE *f, const unsigned char *p, size_t len)
{
	fputs("0x", f);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

static void
put_bytes(FILE *f, const unsigned char *p, size_t len)
{
	if (shown_as_text(p, len))
		fwrite(p, 1, len, f);
	else
		put_hex(f, p, len);
}

/* A JSON string of valid UTF-8: quote, backslash and control characters escaped. */
static void
put_json_escaped(FILE *f, const unsigned char *p, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] < 0x20)
			fprintf(f, "\\u%04x", p[i]);
		else
			fputc(p[i], f);
	}
	fputc('"', f);
}

/* Bytes as a JSON string, by the same rule as put_bytes. */
static void
put_json_bytes(FILE *f, const unsigned char *p, size_t len)
{
	if (shown_as_text(p, len)) {
		put_json_escaped(f, p, len);
	} else {
		fputc('"', f);
		put_hex(f, p, len);
		fputc('"', f);
	}
}

static void
put_json_str(FILE *f, const char *s)
{
	put_json_bytes(f, (const unsigned char *)s, strlen(s));
}

/* The shortest of %.1g .. %.17g that reads back as d. */
static void
format_double(char *buf, size_t size, double d)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* A string or base64 value's bytes, to be freed with free_const. */
static bool
read_bytes(xmlrpc_env *env, xmlrpc_value *v, const unsigned char **p, size_t *len)
{
	const char *str;

	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_BASE64:
		xmlrpc_read_base64(env, v, len, p);
		return !env->fault_occurred;
	case XMLRPC_TYPE_STRING:
		xmlrpc_read_string_lp(env, v, len, &str);
		*p = (const unsigned char *)str;
		return !env->fault_occurred;
	default:
		xmlrpc_env_set_fault(env, XMLRPC_TYPE_ERROR, "expected a string or base64");
		return false;
	}
}

/* Item i of array v as an int. */
static bool
read_item_int(xmlrpc_env *env, xmlrpc_value *v, unsigned i, int *out)
{
	xmlrpc_value *item;

	xmlrpc_array_read_item(env, v, i, &item);
	if (env->fault_occurred)
		return false;
	xmlrpc_read_int(env, item, out);
	xmlrpc_DECREF(item);
	return !env->fault_occurred;
}

/* Item i of array v as bytes (*p, *len, to be freed with free_const). */
static bool
read_item_bytes(xmlrpc_env *env, xmlrpc_value *v, unsigned i, const unsigned char **p,
    size_t *len)
{
	xmlrpc_value *item;
	bool ok;

	xmlrpc_array_read_item(env, v, i, &item);
	if (env->fault_occurred)
		return false;
	ok = read_bytes(env, item, p, len);
	xmlrpc_DECREF(item);
	return ok;
}

/* The size of array v, at most MAX_MEMBERS; -1 (with a fault in env) if it is none. */
static int
array_size(xmlrpc_env *env, xmlrpc_value *v)
{
	int n = xmlrpc_array_size(env, v);

	if (env->fault_occurred)
		return -1;
	if (n > MAX_MEMBERS) {
		xmlrpc_env_set_fault(env, XMLRPC_LIMIT_EXCEEDED_ERROR, "too many items");
		return -1;
	}
	return n;
}

/* An answer that does not have the expected form; returns 1. */
static int
malformed(struct session *s)
{
	fail_start(s);
	fputs("unexpected answer from ", stderr);
	put_sanitized(stderr, s->cli->url);
	fputs(" (", stderr);
	put_sanitized(stderr, s->env.fault_string != NULL ? s->env.fault_string : "wrong type");
	fputs(")\n", stderr);
	xmlrpc_env_clean(&s->env);
	xmlrpc_env_init(&s->env);
	return 1;
}

/* Reports the failure of a call: EXIT_NOT_FOUND for the server's fault 9, 1 otherwise.
 * xmlrpc-c marks faults that the server sent with server_prefix. */
static int
call_failed(struct session *s)
{
	static const char server_prefix[] = "RPC failed at server.";
	static const char curl_prefix[] = "libcurl failed to execute the HTTP POST transaction, "
	    "explaining:";
	const char *msg = s->env.fault_string != NULL ? s->env.fault_string : "unknown error";
	int code = s->env.fault_code, rc = 1;
	bool server = strncmp(msg, server_prefix, strlen(server_prefix)) == 0;

	if (server) {
		msg += strlen(server_prefix);
		msg += strspn(msg, " ");
		if (code == FAULT_NOT_FOUND)
			rc = EXIT_NOT_FOUND;
	} else if (strncmp(msg, curl_prefix, strlen(curl_prefix)) == 0) {
		msg += strlen(curl_prefix);
		msg += strspn(msg, " ");
	}
	if (rc == EXIT_NOT_FOUND && s->quiet_not_found) {
		/* the command says it */
	} else if (server) {
		fail_start(s);
		put_sanitized(stderr, msg);
		fprintf(stderr, " (fault %d)\n", code);
	} else if (interrupted) {
		fail_start(s);
		fputs("no answer from ", stderr);
		put_sanitized(stderr, s->cli->url);
		fprintf(stderr, " within %u s\n", s->cli->timeout_s);
	} else if (code == XMLRPC_NETWORK_ERROR && strncmp(msg, "HTTP ", 5) != 0) {
		fprintf(stderr, "%s: cannot reach ", prog);
		put_sanitized(stderr, s->cli->url);
		fputs(": ", stderr);
		put_sanitized(stderr, msg);
		fputc('\n', stderr);
	} else {
		/* an HTTP error status, or an answer xmlrpc-c could not parse */
		fail_start(s);
		fputs("bad answer from ", stderr);
		put_sanitized(stderr, s->cli->url);
		fputs(": ", stderr);
		put_sanitized(stderr, msg);
		fputc('\n', stderr);
	}
	xmlrpc_env_clean(&s->env);
	xmlrpc_env_init(&s->env);
	return rc;
}

/* Calls method with arguments built from fmt (xmlrpc_build_value's letters). Returns 0
 * with *result set, or the exit status after reporting the failure. */
static int
call(struct session *s, const char *method, xmlrpc_value **result, const char *fmt, ...)
{
	va_list ap;

	interrupted = 0;
	alarm(s->cli->timeout_s);
	va_start(ap, fmt);
	xmlrpc_client_call2f_va(&s->env, s->client, s->cli->url, method, fmt, result, ap);
	va_end(ap);
	alarm(0);
	return s->env.fault_occurred ? call_failed(s) : 0;
}

/* The int answer of a writing method: 0 ok, or OpenDHT's 1 (over capacity), 2 (again). */
static int
write_result(struct session *s, xmlrpc_value *result)
{
	int code;

	xmlrpc_read_int(&s->env, result, &code);
	xmlrpc_DECREF(result);
	if (s->env.fault_occurred)
		return malformed(s);
	if (code == 1)
		return fail(s, "the node is over capacity (code 1)");
	if (code == 2)
		return fail(s, "the node is busy, try again later (code 2)");
	if (code != 0)
		return fail(s, "failed with code %d", code);
	if (s->cli->json)
		fputs("{\"result\":0}\n", s->out);
	return 0;
}

static int
cmd_resolve(struct session *s, char **args)
{
	xmlrpc_value *result;
	int n, rc, kind, id;
	const unsigned char *addr;
	size_t len;

	rc = call(s, "resolve", &result, "(6i)", (const unsigned char *)args[0], strlen(args[0]),
	    (int)s->cli->kind);
	if (rc != 0)
		return rc;
	if ((n = array_size(&s->env, result)) < 0) {
		xmlrpc_DECREF(result);
		return malformed(s);
	}
	if (s->cli->json)
		fputc('[', s->out);
	for (int i = 0; i < n && !s->env.fault_occurred; i++) {
		xmlrpc_value *rec;

		xmlrpc_array_read_item(&s->env, result, (unsigned)i, &rec);
		if (s->env.fault_occurred)
			break;
		addr = NULL;
		if (read_item_bytes(&s->env, rec, 0, &addr, &len) &&
		    read_item_int(&s->env, rec, 1, &kind) && read_item_int(&s->env, rec, 2, &id)) {
			if (s->cli->json) {
				fputs(i > 0 ? ",{\"address\":" : "{\"address\":", s->out);
				put_json_bytes(s->out, addr, len);
				fprintf(s->out, ",\"kind\":%d,\"id\":%d}", kind, id);
			} else {
				put_bytes(s->out, addr, len);
				fputc('\n', s->out);
			}
		}
		free_const(addr);
		xmlrpc_DECREF(rec);
	}
	xmlrpc_DECREF(result);
	if (s->env.fault_occurred)
		return malformed(s);
	if (s->cli->json)
		fputs("]\n", s->out);
	if (n == 0) {
		fail(s, "no addresses");
		return EXIT_NOT_FOUND;
	}
	return 0;
}

/* The kind an address is registered with unless --kind says otherwise. */
static unsigned
default_kind(const char *addr)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, addr, buf) == 1)
		return 1;
	if (inet_pton(AF_INET6, addr, buf) == 1)
		return 28;
	return 33;
}

static int
cmd_register(struct session *s, char **args)
{
	const char *addr = args[1];
	unsigned kind = s->cli->has_kind ? s->cli->kind : default_kind(addr);
	xmlrpc_value *result;
	int rc;

	rc = call(s, "register", &result, "(6ii6i)", (const unsigned char *)args[0],
	    strlen(args[0]), (int)kind, (int)s->cli->id, (const unsigned char *)addr,
	    strlen(addr), (int)s->cli->ttl);
	return rc != 0 ? rc : write_result(s, result);
}

static int
cmd_unregister(struct session *s, char **args)
{
	xmlrpc_value *result;
	int rc;

	rc = call(s, "unregister", &result, "(6ii)", (const unsigned char *)args[0],
	    strlen(args[0]), (int)s->cli->kind, (int)s->cli->id);
	return rc != 0 ? rc : write_result(s, result);
}

static bool
sha1(const void *data, size_t len, unsigned char out[SHA1_LEN])
{
	unsigned n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) && n == SHA1_LEN;
}

/* Reads the secret from --secret or the first line of --secret-file into buf. */
static int
load_secret(struct session *s, char *buf, size_t *len)
{
	const char *path = s->cli->secret_file;
	size_t n = 0;
	int fd;

	if (path == NULL) {
		n = strlen(s->cli->secret);
		if (n > SECRET_MAX)
			return fail(s, "the secret is longer than %d bytes", SECRET_MAX);
		memcpy(buf, s->cli->secret, n);
	} else {
		fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(s, "cannot read the secret: %s: %s", path, strerror(errno));
		while (n <= SECRET_MAX && memchr(buf, '\n', n) == NULL) {
			ssize_t r = read(fd, buf + n, SECRET_MAX + 1 - n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		if (fd != STDIN_FILENO)
			close(fd);
		for (size_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				n = i > 0 && buf[i - 1] == '\r' ? i - 1 : i;
				break;
			}
		}
		if (n > SECRET_MAX)
			return fail(s, "the secret in %s is longer than %d bytes", path,
			    SECRET_MAX);
	}
	if (n == 0)
		return fail(s, "the secret is empty");
	*len = n;
	return 0;
}

static int
cmd_put(struct session *s, char **args)
{
	const char *key = args[0], *value = args[1];
	unsigned char hash[SHA1_LEN];
	char secret[SECRET_MAX + 1];
	xmlrpc_value *result;
	size_t slen;
	int rc;

	if (s->cli->secret == NULL && s->cli->secret_file == NULL) {
		rc = call(s, "put", &result, "(66is)", (const unsigned char *)key, strlen(key),
		    (const unsigned char *)value, strlen(value), (int)s->cli->ttl, APPLICATION);
		return rc != 0 ? rc : write_result(s, result);
	}
	rc = load_secret(s, secret, &slen);
	if (rc == 0 && !sha1(secret, slen, hash))
		rc = fail(s, "%s", "SHA-1 failed");
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc != 0)
		return rc;
	rc = call(s, "put_removable", &result, "(66s6is)", (const unsigned char *)key,
	    strlen(key), (const unsigned char *)value, strlen(value), "SHA", hash,
	    (size_t)SHA1_LEN, (int)s->cli->ttl, APPLICATION);
	return rc != 0 ? rc : write_result(s, result);
}

static int
cmd_rm(struct session *s, char **args)
{
	const char *key = args[0], *value = args[1];
	unsigned char hash[SHA1_LEN];
	char secret[SECRET_MAX + 1];
	xmlrpc_value *result = NULL;
	size_t slen;
	int rc;

	if (!sha1(value, strlen(value), hash))
		return fail(s, "%s", "SHA-1 failed");
	rc = load_secret(s, secret, &slen);
	if (rc == 0)
		rc = call(s, "rm", &result, "(66s6is)", (const unsigned char *)key, strlen(key),
		    hash, (size_t)SHA1_LEN, "SHA", (const unsigned char *)secret, slen,
		    (int)s->cli->ttl, APPLICATION);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc != 0 ? rc : write_result(s, result);
}

/* One round of get: prints its values (up to *left of them) and takes the next placemark
 * (*pm, *pm_len: empty when there are no more). Returns 0 or the exit status. */
static int
get_round(struct session *s, const char *key, unsigned *left, unsigned *shown,
    const unsigned char **pm, size_t *pm_len)
{
	static const unsigned char none[1];	/* the first, empty placemark */
	xmlrpc_value *result, *vals = NULL;
	const unsigned char *v, *next;
	size_t len;
	int rc, n = 0;

	rc = call(s, "get", &result, "(6i6s)", (const unsigned char *)key, strlen(key),
	    (int)(*left < GET_BATCH ? *left : GET_BATCH), *pm != NULL ? *pm : none, *pm_len,
	    APPLICATION);
	if (rc != 0)
		return rc;
	xmlrpc_array_read_item(&s->env, result, 0, &vals);
	if (!s->env.fault_occurred)
		n = array_size(&s->env, vals);
	for (int i = 0; i < n && !s->env.fault_occurred && *left > 0; i++) {
		if (!read_item_bytes(&s->env, vals, (unsigned)i, &v, &len))
			break;
		if (s->cli->json) {
			fputs(*shown > 0 ? "," : "", s->out);
			put_json_bytes(s->out, v, len);
		} else {
			put_bytes(s->out, v, len);
			fputc('\n', s->out);
		}
		free_const(v);
		(*shown)++;
		(*left)--;
	}
	if (vals != NULL)
		xmlrpc_DECREF(vals);
	if (!s->env.fault_occurred && read_item_bytes(&s->env, result, 1, &next, &len)) {
		free_const(*pm);
		*pm = next;
		*pm_len = len;
	}
	xmlrpc_DECREF(result);
	return s->env.fault_occurred ? malformed(s) : 0;
}

static int
cmd_get(struct session *s, char **args)
{
	const unsigned char *pm = NULL;
	size_t pm_len = 0;
	unsigned left = s->cli->max, shown = 0, round;
	int rc = 0;

	s->quiet_not_found = true;	/* fault 9: no (more) values */
	if (s->cli->json)
		fputc('[', s->out);
	for (round = 0; round < GET_MAX_ROUNDS && left > 0; round++) {
		rc = get_round(s, args[0], &left, &shown, &pm, &pm_len);
		if (rc != 0 || pm_len == 0)
			break;
	}
	free_const(pm);
	if (rc == EXIT_NOT_FOUND) {
		rc = 0;
		pm_len = 0;
	}
	if (rc != 0)
		return rc;
	if (s->cli->json)
		fputs("]\n", s->out);
	if (pm_len > 0 && !s->cli->has_max) {
		fail_start(s);
		fprintf(stderr, "stopped after %u values in %u calls; the node has more\n", shown,
		    round < GET_MAX_ROUNDS ? round + 1 : round);
	}
	if (shown == 0) {
		fail(s, "no values");
		return EXIT_NOT_FOUND;
	}
	return 0;
}

static int
cmd_lookup(struct session *s, char **args)
{
	xmlrpc_value *result;
	const unsigned char *ip, *id;
	size_t ip_len, id_len;
	int n, rc, port;

	rc = call(s, "lookup", &result, "(6i)", (const unsigned char *)args[0], strlen(args[0]),
	    (int)s->cli->siblings);
	if (rc != 0)
		return rc;
	if ((n = array_size(&s->env, result)) < 0) {
		xmlrpc_DECREF(result);
		return malformed(s);
	}
	if (s->cli->json)
		fputc('[', s->out);
	for (int i = 0; i < n && !s->env.fault_occurred; i++) {
		xmlrpc_value *node;

		xmlrpc_array_read_item(&s->env, result, (unsigned)i, &node);
		if (s->env.fault_occurred)
			break;
		ip = id = NULL;
		if (read_item_bytes(&s->env, node, 0, &ip, &ip_len) &&
		    read_item_int(&s->env, node, 1, &port) &&
		    read_item_bytes(&s->env, node, 2, &id, &id_len)) {
			if (s->cli->json) {
				fputs(i > 0 ? ",{\"ip\":" : "{\"ip\":", s->out);
				put_json_bytes(s->out, ip, ip_len);
				fprintf(s->out, ",\"port\":%d,\"node_id\":", port);
				put_json_bytes(s->out, id, id_len);
				fputc('}', s->out);
			} else {
				put_bytes(s->out, ip, ip_len);
				fprintf(s->out, " %d ", port);
				put_bytes(s->out, id, id_len);
				fputc('\n', s->out);
			}
		}
		free_const(ip);
		free_const(id);
		xmlrpc_DECREF(node);
	}
	xmlrpc_DECREF(result);
	if (s->env.fault_occurred)
		return malformed(s);
	if (s->cli->json)
		fputs("]\n", s->out);
	if (n == 0) {
		fail(s, "no nodes found");
		return EXIT_NOT_FOUND;
	}
	return 0;
}

/* A struct's members, sorted by name for a stable output. */
struct member {
	const unsigned char *key;
	size_t key_len;
	xmlrpc_value *value;
};

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	return c != 0 ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static void
members_free(struct member *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_const(m[i].key);
		xmlrpc_DECREF(m[i].value);
	}
	free(m);
}

/* Reads v's members into *out (sorted); *n of them. */
static bool
members_read(xmlrpc_env *env, xmlrpc_value *v, struct member **out, size_t *n)
{
	int size = xmlrpc_struct_size(env, v);
	struct member *m;
	size_t got = 0;

	if (env->fault_occurred)
		return false;
	if (size > MAX_MEMBERS) {
		xmlrpc_env_set_fault(env, XMLRPC_LIMIT_EXCEEDED_ERROR, "too many members");
		return false;
	}
	if ((m = calloc((size_t)size + 1, sizeof(*m))) == NULL) {
		xmlrpc_env_set_fault(env, XMLRPC_INTERNAL_ERROR, "out of memory");
		return false;
	}
	for (; got < (size_t)size; got++) {
		xmlrpc_value *key;

		xmlrpc_struct_read_member(env, v, (unsigned)got, &key, &m[got].value);
		if (env->fault_occurred)
			break;
		read_bytes(env, key, &m[got].key, &m[got].key_len);
		xmlrpc_DECREF(key);
		if (env->fault_occurred) {
			xmlrpc_DECREF(m[got].value);
			break;
		}
	}
	if (env->fault_occurred) {
		members_free(m, got);
		return false;
	}
	qsort(m, got, sizeof(*m), member_cmp);
	*out = m;
	*n = got;
	return true;
}

/* A scalar as text (text mode) or as a JSON value. */
static bool
put_scalar(xmlrpc_env *env, FILE *f, xmlrpc_value *v, bool json)
{
	const unsigned char *p;
	const char *str;
	char num[64];
	size_t len;
	double d;
	int i;
	xmlrpc_int64 i8;
	xmlrpc_bool b;

	switch (xmlrpc_value_type(v)) {
	case XMLRPC_TYPE_INT:
		xmlrpc_read_int(env, v, &i);
		fprintf(f, "%d", i);
		break;
	case XMLRPC_TYPE_I8:
		xmlrpc_read_i8(env, v, &i8);
		fprintf(f, "%lld", (long long)i8);
		break;
	case XMLRPC_TYPE_BOOL:
		xmlrpc_read_bool(env, v, &b);
		fputs(b ? "true" : "false", f);
		break;
	case XMLRPC_TYPE_DOUBLE:
		xmlrpc_read_double(env, v, &d);
		format_double(num, sizeof(num), d);
		fputs(json && !isfinite(d) ? "null" : num, f);
		break;
	case XMLRPC_TYPE_STRING:
	case XMLRPC_TYPE_BASE64:
		if (read_bytes(env, v, &p, &len)) {
			(json ? put_json_bytes : put_bytes)(f, p, len);
			free_const(p);
		}
		break;
	case XMLRPC_TYPE_DATETIME:
		xmlrpc_read_datetime_8601(env, v, &str);
		if (!env->fault_occurred) {
			(json ? put_json_str : put_sanitized)(f, str);
			free_const(str);
		}
		break;
	default:
		fputs(json ? "null" : "(nil)", f);
		break;
	}
	return !env->fault_occurred;
}

static bool put_json_value(xmlrpc_env *env, FILE *f, xmlrpc_value *v, unsigned depth);

static bool
put_json_struct(xmlrpc_env *env, FILE *f, xmlrpc_value *v, unsigned depth)
{
	struct member *m;
	size_t n;
	bool ok = true;

	if (!members_read(env, v, &m, &n))
		return false;
	fputc('{', f);
	for (size_t i = 0; i < n && ok; i++) {
		fputs(i > 0 ? "," : "", f);
		put_json_bytes(f, m[i].key, m[i].key_len);
		fputc(':', f);
		ok = put_json_value(env, f, m[i].value, depth + 1);
	}
	fputc('}', f);
	members_free(m, n);
	return ok;
}

/* Any value as JSON: structs as objects with sorted keys. */
static bool
put_json_value(xmlrpc_env *env, FILE *f, xmlrpc_value *v, unsigned depth)
{
	xmlrpc_value *item;
	int n;
	bool ok = true;

	if (depth > MAX_DEPTH) {
		xmlrpc_env_set_fault(env, XMLRPC_LIMIT_EXCEEDED_ERROR, "nested too deep");
		return false;
	}
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_STRUCT)
		return put_json_struct(env, f, v, depth);
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_ARRAY)
		return put_scalar(env, f, v, true);
	if ((n = array_size(env, v)) < 0)
		return false;
	fputc('[', f);
	for (int i = 0; i < n && ok; i++) {
		xmlrpc_array_read_item(env, v, (unsigned)i, &item);
		if (env->fault_occurred)
			return false;
		fputs(i > 0 ? "," : "", f);
		ok = put_json_value(env, f, item, depth + 1);
		xmlrpc_DECREF(item);
	}
	fputc(']', f);
	return ok;
}

static bool put_text_value(xmlrpc_env *env, FILE *f, char *path, size_t plen, xmlrpc_value *v,
    unsigned depth);

/* Appends sep and part (by the rule of put_bytes) to path[0..plen), NUL-terminated, into
 * *nlen bytes; false if it does not fit in PATH_MAX_LEN. */
static bool
path_add(xmlrpc_env *env, char *path, size_t plen, size_t *nlen, const char *sep,
    const unsigned char *part, size_t len)
{
	bool text = shown_as_text(part, len);
	size_t n = plen + strlen(sep);

	if (len >= PATH_MAX_LEN || n + 3 + 2 * len >= PATH_MAX_LEN) {
		xmlrpc_env_set_fault(env, XMLRPC_LIMIT_EXCEEDED_ERROR, "member names too long");
		return false;
	}
	memcpy(path + plen, sep, strlen(sep));
	if (text) {
		memcpy(path + n, part, len);
		n += len;
	} else {
		n += (size_t)sprintf(path + n, "0x");
		for (size_t i = 0; i < len; i++)
			n += (size_t)sprintf(path + n, "%02x", part[i]);
	}
	path[n] = '\0';
	*nlen = n;
	return true;
}

static bool
put_text_struct(xmlrpc_env *env, FILE *f, char *path, size_t plen, xmlrpc_value *v,
    unsigned depth)
{
	struct member *m;
	size_t n, nlen;
	bool ok = true;

	if (!members_read(env, v, &m, &n))
		return false;
	if (n == 0 && plen > 0)
		fprintf(f, "%s: {}\n", path);
	for (size_t i = 0; i < n && ok; i++) {
		ok = path_add(env, path, plen, &nlen, plen > 0 ? "." : "", m[i].key,
		    m[i].key_len) && put_text_value(env, f, path, nlen, m[i].value, depth + 1);
		path[plen] = '\0';
	}
	members_free(m, n);
	return ok;
}

/* Any value as "path: value" lines: struct members as path.key, array items as path[i]. */
static bool
put_text_value(xmlrpc_env *env, FILE *f, char *path, size_t plen, xmlrpc_value *v,
    unsigned depth)
{
	xmlrpc_value *item;
	char idx[24];
	size_t nlen;
	int n;
	bool ok = true;

	if (depth > MAX_DEPTH) {
		xmlrpc_env_set_fault(env, XMLRPC_LIMIT_EXCEEDED_ERROR, "nested too deep");
		return false;
	}
	if (xmlrpc_value_type(v) == XMLRPC_TYPE_STRUCT)
		return put_text_struct(env, f, path, plen, v, depth);
	if (xmlrpc_value_type(v) != XMLRPC_TYPE_ARRAY) {
		fprintf(f, "%s%s", path, plen > 0 ? ": " : "");
		ok = put_scalar(env, f, v, false);
		fputc('\n', f);
		return ok;
	}
	if ((n = array_size(env, v)) < 0)
		return false;
	if (n == 0 && plen > 0)
		fprintf(f, "%s: []\n", path);
	for (int i = 0; i < n && ok; i++) {
		snprintf(idx, sizeof(idx), "[%d]", i);
		if (!path_add(env, path, plen, &nlen, "", (const unsigned char *)idx, strlen(idx)))
			return false;
		xmlrpc_array_read_item(env, v, (unsigned)i, &item);
		if (env->fault_occurred)
			return false;
		ok = put_text_value(env, f, path, nlen, item, depth + 1);
		xmlrpc_DECREF(item);
		path[plen] = '\0';
	}
	return ok;
}

static int
cmd_status(struct session *s, char **args)
{
	xmlrpc_value *result;
	char path[PATH_MAX_LEN] = "";
	bool ok;
	int rc;

	(void)args;
	rc = call(s, "status", &result, "()");
	if (rc != 0)
		return rc;
	if (s->cli->json) {
		ok = put_json_value(&s->env, s->out, result, 0);
		fputc('\n', s->out);
	} else {
		ok = put_text_value(&s->env, s->out, path, 0, result, 0);
	}
	xmlrpc_DECREF(result);
	return ok ? 0 : malformed(s);
}

static const struct command commands[] = {
	{"resolve", "k", 1, usage_resolve, true, cmd_resolve},
	{"register", "kit", 2, usage_register, false, cmd_register},
	{"unregister", "ki", 1, usage_unregister, false, cmd_unregister},
	{"put", "tsS", 2, usage_put, false, cmd_put},
	{"get", "m", 1, usage_get, true, cmd_get},
	{"rm", "tsS", 2, usage_rm, false, cmd_rm},
	{"lookup", "n", 1, usage_lookup, true, cmd_lookup},
	{"status", "", 0, usage_status, false, cmd_status},
};

/* A numeric option: its range and where it goes. */
static int
take_number(struct cli *cli, int c, const char *name, const char *usage)
{
	const struct {
		char c;
		unsigned lo, hi;
		unsigned *dst;
	} nums[] = {
		{'T', 1, MAX_TIMEOUT_S, &cli->timeout_s},
		{'k', 0, MAX_KIND, &cli->kind},
		{'i', 0, MAX_ID, &cli->id},
		{'t', 1, MAX_TTL_S, &cli->ttl},
		{'m', 1, GET_MAX_VALUES, &cli->max},
		{'n', 1, MAX_SIBLINGS, &cli->siblings},
	};

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (nums[i].c != c)
			continue;
		if (cli_parse_uint(optarg, nums[i].lo, nums[i].hi, nums[i].dst) != 0)
			return usage_error(usage, "--%s takes %u..%u, not '%s'", name, nums[i].lo,
			    nums[i].hi, optarg);
		cli->has_kind |= c == 'k';
		cli->has_max |= c == 'm';
		return -1;
	}
	return usage_error(usage, "unknown option --%s", name);
}

/* An option getopt could not take (opterr is off: its own messages would echo a value,
 * perhaps a secret). Names the option without its value. */
static int
bad_option(const char *usage)
{
	const char *arg = bad_arg;
	size_t n = arg != NULL ? strcspn(arg, "=") : 0;

	if (arg == NULL || arg[0] != '-' || (arg[1] != '-' && optopt != 0))
		return usage_error(usage, "unknown option or missing value: -%c",
		    optopt != 0 ? optopt : '?');
	if (n > BAD_OPTION_SHOWN)
		n = BAD_OPTION_SHOWN;
	return usage_error(usage, "unknown or ambiguous option, or missing value: '%.*s'",
	    (int)n, arg);
}

/* Takes one option (c, from options[li]) into cli if allowed says it applies. Returns -1
 * to go on, or the exit status. */
static int
take_option(struct cli *cli, int c, int li, const char *allowed, const char *usage,
    const char *cmd)
{
	const char *name = li >= 0 ? options[li].name : "";

	if (c == '?')
		return bad_option(usage);
	if (strchr(allowed, c) == NULL)
		return usage_error(usage, "option --%s does not apply %s%s", name,
		    cmd != NULL ? "to " : "before the command", cmd != NULL ? cmd : "");
	switch (c) {
	case 'h':
		fputs(usage, stdout);
		return 0;
	case 'V':
		printf("p2pns %s\n", P2PNS_VERSION);
		return 0;
	case 'u':
		if (*optarg == '\0')
			return usage_error(usage, "%s", "--url needs a URL");
		cli->url = optarg;
		return -1;
	case 'j':
		cli->json = true;
		return -1;
	case 's':
		cli->secret = optarg;
		return -1;
	case 'S':
		cli->secret_file = optarg;
		return -1;
	default:
		return take_number(cli, c, name, usage);
	}
}

/* Checks what getopt cannot: argument count and values, and options that go together. */
static int
check_args(const struct command *cmd, const struct cli *cli, int argc, char **argv)
{
	const char *addr;
	unsigned port;

	if (argc != cmd->nargs)
		return usage_error(cmd->usage, "%s takes %d argument%s, not %d", cmd->name,
		    cmd->nargs, cmd->nargs == 1 ? "" : "s", argc);
	if (cmd->nargs > 0 && argv[0][0] == '\0')
		return usage_error(cmd->usage, "%s", "the name or key is empty");
	if (cli->secret != NULL && cli->secret_file != NULL)
		return usage_error(cmd->usage, "%s", "give --secret or --secret-file, not both");
	if (strcmp(cmd->name, "rm") == 0 && cli->secret == NULL && cli->secret_file == NULL)
		return usage_error(cmd->usage, "%s", "rm needs --secret or --secret-file");
	if (strcmp(cmd->name, "unregister") == 0 && !cli->has_kind)
		return usage_error(cmd->usage, "%s", "unregister needs --kind");
	if ((strcmp(cmd->name, "register") == 0 || strcmp(cmd->name, "unregister") == 0) &&
	    cli->has_kind && cli->kind == 0)
		return usage_error(cmd->usage, "%s", "--kind takes 1..65535 here");
	if (strcmp(cmd->name, "register") != 0)
		return -1;
	addr = argv[1];
	if (*addr == '\0')
		return usage_error(cmd->usage, "%s", "the address is empty");
	if (strncmp(addr, "self:", 5) == 0 && cli_parse_uint(addr + 5, 1, 65535, &port) != 0)
		return usage_error(cmd->usage, "self:PORT takes a port 1..65535, not '%s'",
		    addr + 5);
	return -1;
}

static void
on_alarm(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Sets up the XML-RPC client (curl transport) and the SIGALRM timeout. Returns 0 or 1. */
static int
session_open(struct session *s)
{
	struct xmlrpc_curl_xportparms curl;
	struct xmlrpc_clientparms parms;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: the transport's wait must end */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0) {
		fprintf(stderr, "%s: sigaction: %s\n", prog, strerror(errno));
		return 1;
	}
	memset(&curl, 0, sizeof(curl));
	curl.timeout = (s->cli->timeout_s + 1) * 1000;	/* ms; a backstop for SIGALRM */
	curl.user_agent = "p2pns/" P2PNS_VERSION;
	curl.proxy = "";			/* the node is not reached through a proxy */
	memset(&parms, 0, sizeof(parms));
	parms.transport = "curl";
	parms.transportparmsP = &curl;
	parms.transportparm_size = MEMBER_END(struct xmlrpc_curl_xportparms, proxy);

	xmlrpc_client_setup_global_const(&s->env);
	if (!s->env.fault_occurred) {
		s->global = true;
		xmlrpc_client_create(&s->env, XMLRPC_CLIENT_NO_FLAGS, prog, P2PNS_VERSION, &parms,
		    MEMBER_END(struct xmlrpc_clientparms, transportparm_size), &s->client);
	}
	if (s->env.fault_occurred) {
		fprintf(stderr, "%s: cannot start the XML-RPC client: %s\n", prog,
		    s->env.fault_string);
		return 1;
	}
	xmlrpc_client_set_interrupt(s->client, &interrupted);
	return 0;
}

static void
session_close(struct session *s)
{
	if (s->client != NULL)
		xmlrpc_client_destroy(s->client);
	if (s->global)
		xmlrpc_client_teardown_global_const();
	xmlrpc_env_clean(&s->env);
}

/* Runs the command against the node. Its output reaches stdout only if it succeeds; with
 * --json a command that prints a list prints [] when nothing was found. */
static int
run(const struct command *cmd, const struct cli *cli, char **args)
{
	struct session s = {.cli = cli, .cmd = cmd->name};
	char *buf = NULL;
	const char *text;
	size_t len = 0;
	int rc;

	if (cmd->nargs > 0)
		s.subject = args[0];
	if ((s.out = open_memstream(&buf, &len)) == NULL) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		return 1;
	}
	xmlrpc_env_init(&s.env);
	rc = session_open(&s);
	if (rc == 0)
		rc = cmd->run(&s, args);
	session_close(&s);
	if (fclose(s.out) != 0 && rc == 0) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		rc = 1;
	}
	text = rc == 0 ? buf : NULL;
	if (rc == EXIT_NOT_FOUND && cli->json && cmd->list) {
		text = "[]\n";
		len = strlen(text);
	}
	if (text != NULL && len > 0 &&
	    (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		rc = 1;
	}
	free(buf);
	return rc;
}

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct cli cli = {
		.url = DEFAULT_URL,
		.timeout_s = DEFAULT_TIMEOUT_S,
		.ttl = DEFAULT_TTL_S,
		.max = GET_MAX_VALUES,
		.siblings = DEFAULT_SIBLINGS,
	};
	const struct command *cmd;
	const char *env_url = getenv("P2PNS_URL");
	char allowed[32];
	int c, li, rc;

	opterr = 0;
	if (env_url != NULL && *env_url != '\0')
		cli.url = env_url;
	if (argc > 0)
		argv[0] = prog_arg0;
	/* the options before the command */
	for (;;) {
		li = -1;
		optopt = 0;
		if ((c = getopt_long(argc, argv, "+hV", options, &li)) == -1)
			break;
		bad_arg = argv[optind - 1];
		if ((rc = take_option(&cli, c, li, GLOBAL_OPTS "V", usage_main, NULL)) >= 0)
			return rc;
	}
	if (optind >= argc) {
		fputs(usage_main, stderr);
		return 1;
	}
	if (strcmp(argv[optind], "help") == 0) {
		cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
		fputs(cmd != NULL ? cmd->usage : usage_main, stdout);
		return 0;
	}
	if ((cmd = find_command(argv[optind])) == NULL)
		return usage_error(usage_main, "unknown command '%s'", argv[optind]);

	/* the command's options and arguments, in any order; getopt sees the command as
	 * argv[0] */
	argc -= optind;
	argv += optind;
	argv[0] = prog_arg0;
	optind = 0;
	snprintf(allowed, sizeof(allowed), "%s%s", GLOBAL_OPTS, cmd->opts);
	for (;;) {
		li = -1;
		optopt = 0;
		if ((c = getopt_long(argc, argv, "h", options, &li)) == -1)
			break;
		bad_arg = argv[optind - 1];
		if ((rc = take_option(&cli, c, li, allowed, cmd->usage, cmd->name)) >= 0)
			return rc;
	}
	if ((rc = check_args(cmd, &cli, argc - optind, argv + optind)) >= 0)
		return rc;
	return run(cmd, &cli, argv + optind);
}
