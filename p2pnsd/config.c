/* p2pnsd's options: one table (name on the command line and in the file, default, check,
 * help), the configuration file reader, the command line and the --help text. */
#include "p2pnsd/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "dht/dht.h"
#include "namecache/namecache.h"
#include "p2pnsd/log.h"
#include "puzzle/puzzle.h"

#define BLANKS " \t\r"

enum {
	REPLICAS_MAX = DHT_MAX_R % 2 ? DHT_MAX_R : DHT_MAX_R - 1,	/* odd */
	WHY_MAX = 128,			/* what a setter says about a bad value */
	MSG_MAX = 512,			/* an error message */
	SHOWN_MAX = 128,		/* bytes of a bad value or name quoted in a message */
	DEFAULT_MAX = 64,		/* bytes of a default */
	HELP_TEXT_MAX = 512,		/* one option's explanation */
	HELP_WIDTH = 80,		/* lines of --help are shorter */
	HELP_COLUMN = 24,		/* where the explanations start */
	OPT_VAL_BASE = 256,		/* getopt_long's values for the table's options */
};

struct opt_def;

/* Parses v into o: 0, -EINVAL (why, WHY_MAX bytes: what is allowed) or -E2BIG (why: the
 * limit). A repeatable option's setter empties its list for v NULL. */
typedef int (*opt_setter)(struct options *o, const struct opt_def *d, const char *v,
    char *why);

struct opt_def {
	const char *name;		/* --name on the command line, the key in the file */
	const char *arg;		/* the value's name in --help; NULL: a boolean */
	const char *def;		/* the default (a list's values separated by blanks) */
	opt_setter set;
	size_t off;			/* numbers: offsetof(struct options, field) */
	unsigned lo, hi;		/* numbers: the range; lists: hi is the most values */
	bool repeatable;
	const char *help;		/* --help adds the range, "may repeat", the default */
};

static int because(char *why, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
because(char *why, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_MAX, fmt, ap);
	va_end(ap);
	return err;
}

static int
set_number(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	unsigned *field = (unsigned *)(void *)((char *)o + d->off);

	if (cli_parse_uint(v, d->lo, d->hi, field) != 0)
		return because(why, -EINVAL, "%u..%u", d->lo, d->hi);
	return 0;
}

static int
set_replicas(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	unsigned r;

	if (cli_parse_uint(v, d->lo, d->hi, &r) != 0 || r % 2 == 0)
		return because(why, -EINVAL, "odd, %u..%u", d->lo, d->hi);
	o->replicas = r;
	return 0;
}

static int
set_path(char *out, const char *v, char *why)
{
	size_t len = strlen(v);

	if (len == 0 || len >= PATH_MAX)
		return because(why, -EINVAL, "a path of 1..%d bytes", PATH_MAX - 1);
	memcpy(out, v, len + 1);
	return 0;
}

static int
set_datadir(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	(void)d;
	return set_path(o->datadir, v, why);
}

static int
set_identity(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	(void)d;
	return set_path(o->identity, v, why);
}

/* log-file and syslog replace each other: the one set last wins. */
static int
set_log_file(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	(void)d;
	if (set_path(o->log_file, v, why) != 0)
		return -EINVAL;
	o->syslog = false;
	return 0;
}

static int
set_syslog(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	static const char *const yes[] = {"yes", "true", "1"}, *const no[] = {"no", "false", "0"};

	(void)d;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0) {
			o->syslog = true;
			o->log_file[0] = '\0';
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			o->syslog = false;
			return 0;
		}
	}
	return because(why, -EINVAL, "yes, no, true, false, 1 or 0");
}

static int
set_log_level(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	int level = log_level_parse(v);

	(void)d;
	if (level < 0)
		return because(why, -EINVAL, "error, warn, info or debug");
	o->loglevel = level;
	return 0;
}

static int
set_name_keys(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	(void)d;
	if (strcmp(v, "per-name") == 0)
		o->name_keys = CONFIG_NAME_KEYS_PER_NAME;
	else if (strcmp(v, "node") == 0)
		o->name_keys = CONFIG_NAME_KEYS_NODE;
	else
		return because(why, -EINVAL, "per-name or node");
	return 0;
}

/* An IP address without a port: "1.2.3.4", "::1" or "[::1]". */
static int
parse_ip(const char *s, struct kbr_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	memset(out, 0, sizeof(*out));
	if (len >= sizeof(buf))
		return -EINVAL;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, out->ip) != 1)
			return -EINVAL;
		out->family = KBR_AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, s, out->ip) == 1) {
		out->family = KBR_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->ip) == 1) {
		out->family = KBR_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static int
set_bind(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	if (v == NULL) {
		o->nbinds = 0;
		return 0;
	}
	if (o->nbinds >= d->hi)
		return because(why, -E2BIG, "at most %u", d->hi);
	if (parse_ip(v, &o->binds[o->nbinds]) != 0)
		return because(why, -EINVAL, "an IPv4 or IPv6 address without a port");
	o->nbinds++;
	return 0;
}

static int
set_bootstrap(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	if (v == NULL) {
		o->nboots = 0;
		return 0;
	}
	if (o->nboots >= d->hi)
		return because(why, -E2BIG, "at most %u", d->hi);
	if (kbr_addr_parse(&o->boots[o->nboots], v) != 0)
		return because(why, -EINVAL, "use 1.2.3.4:5 or [::1]:5");
	o->nboots++;
	return 0;
}

/* "none", or an address as kbr_addr_parse takes it, where port 0 (any free port) is
 * allowed too: it parses "ADDR:1" instead and sets the port to 0. */
static int
set_rpc_listen(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	char buf[KBR_ADDR_STRLEN];
	size_t len = strlen(v);
	int err;

	(void)d;
	if (strcmp(v, "none") == 0) {
		memset(&o->rpc_listen, 0, sizeof(o->rpc_listen));
		return 0;
	}
	if (len > 2 && len < sizeof(buf) && strcmp(v + len - 2, ":0") == 0) {
		memcpy(buf, v, len + 1);
		buf[len - 1] = '1';
		err = kbr_addr_parse(&o->rpc_listen, buf);
		o->rpc_listen.port = 0;
	} else {
		err = kbr_addr_parse(&o->rpc_listen, v);
	}
	if (err != 0) {
		memset(&o->rpc_listen, 0, sizeof(o->rpc_listen));
		return because(why, -EINVAL, "use 127.0.0.1:3631, [::1]:3631 or none");
	}
	return 0;
}

static int
set_rpc_write_allow(struct options *o, const struct opt_def *d, const char *v, char *why)
{
	if (v == NULL) {
		o->rpc_nwrite_allow = 0;
		return 0;
	}
	if (o->rpc_nwrite_allow >= d->hi)
		return because(why, -E2BIG, "at most %u", d->hi);
	if (rpc_net_parse(&o->rpc_write_allow[o->rpc_nwrite_allow], v) != 0)
		return because(why, -EINVAL, "an address or ADDR/PREFIX, such as 192.0.2.0/24");
	o->rpc_nwrite_allow++;
	return 0;
}

#define NUMBER(field) set_number, offsetof(struct options, field)

/* Every option, in the order of --help. */
static const struct opt_def opts[] = {
	{"port", "P", "3631", NUMBER(port), 1, 65535, false,
	    "UDP port of the overlay"},
	{"bind", "ADDR", NULL, set_bind, 0, 0, UDP_MAX_SOCKETS, true,
	    "IPv4 or IPv6 address to listen on (UDP), without a port; without any, 0.0.0.0 and "
	    ":: (the IPv6 socket IPv6-only)"},
	{"bootstrap", "HOST:PORT", NULL, set_bootstrap, 0, 0, CONFIG_MAX_BOOTSTRAP, true,
	    "a node to join through, \"192.0.2.1:3631\" or \"[2001:db8::1]:3631\""},
	{"data-dir", "DIR", "/var/lib/p2pns", set_datadir, 0, 0, 0, false,
	    "state directory (created with mode 0700): identity.pem, contacts, control.sock, "
	    "store/, keys/"},
	{"identity", "FILE", NULL, set_identity, 0, 0, 0, false,
	    "identity file, created if missing; without it DIR/identity.pem"},
	{"c1", "N", "16", NUMBER(c1), 0, PUZZLE_MAX_BITS, false,
	    "static puzzle difficulty of the overlay"},
	{"c2", "N", "20", NUMBER(c2), 0, PUZZLE_MAX_BITS, false,
	    "dynamic puzzle difficulty of the overlay"},
	{"replicas", "N", "5", set_replicas, 0, 1, REPLICAS_MAX, false,
	    "replicas of each DHT record, odd"},
	{"store-size", "MB", "256", NUMBER(store_mb), 1, CONFIG_STORE_MB_MAX, false,
	    "largest size of the record store DIR/store in MB"},
	{"log-level", "LEVEL", "info", set_log_level, 0, 0, 0, false,
	    "error, warn, info or debug"},
	{"log-file", "PATH", NULL, set_log_file, 0, 0, 0, false,
	    "append the log to PATH instead of standard error; SIGHUP reopens it"},
	{"syslog", NULL, "no", set_syslog, 0, 0, 0, false,
	    "log to syslog (facility daemon, ident p2pnsd) instead of standard error; in the "
	    "file: syslog yes or no"},
	{"rpc-listen", "ADDR:PORT", "127.0.0.1:3631", set_rpc_listen, 0, 0, 0, false,
	    "XML-RPC (HTTP) address, \"[::1]:3631\" for IPv6, port 0 for any free one, or "
	    "none"},
	{"rpc-write-allow", "NET", "127.0.0.0/8 ::1", set_rpc_write_allow, 0, 0, RPC_MAX_ALLOW,
	    true,
	    "network (ADDR or ADDR/PREFIX) whose clients may call the writing XML-RPC methods"},
	{"rpc-max-conns", "N", "256", NUMBER(rpc_max_conns), 1, CONFIG_RPC_CONNS_MAX, false,
	    "XML-RPC connections at once"},
	{"cache-size", "N", "10000", NUMBER(cache_size), 0, NC_MAX_ENTRIES, false,
	    "entries of the name cache and of the node address cache (0: none)"},
	{"cache-ttl", "SECONDS", "60", NUMBER(cache_ttl_s), 0, CONFIG_CACHE_TTL_MAX_S, false,
	    "longest life of a cached name"},
	{"name-keys", "MODE", "per-name", set_name_keys, 0, 0, 0, false,
	    "who signs names registered through this node: per-name (a key per name in "
	    "DIR/keys/) or node (the node's identity)"},
};

enum { NOPTS = sizeof(opts) / sizeof(opts[0]) };

static const char synopsis[] =
    "usage: p2pnsd [-c FILE] [--OPTION VALUE]...\n";

static const char intro[] =
    "\n"
    "Runs a p2pns node: the secure-Kademlia overlay over UDP (IPv4 and IPv6), the\n"
    "replicated DHT on top of it and the XML-RPC front end. Every option is also a\n"
    "key of the configuration file (\"port 3631\", see p2pnsd.conf(5)); the command\n"
    "line overrides the file, and a repeatable option given here replaces the\n"
    "file's list.\n"
    "\n"
    "  -c, --config FILE     configuration file (default " CONFIG_DEFAULT_FILE ",\n"
    "                        if it exists)\n";

static const char outro[] =
    "  -h, --help            this help\n"
    "  -V, --version         print the version\n"
    "\n"
    "Every node of an overlay must use the same c1 and c2, and should use the same\n"
    "replicas. The saved contacts let a node rejoin without --bootstrap. SIGTERM or\n"
    "SIGINT stop the node cleanly; SIGHUP reopens the log file.\n"
    "Exit status: 0 success, 1 error, 2 usage or configuration error.\n";

/* Prints words from column col (>= HELP_COLUMN), wrapping before HELP_WIDTH. */
static void
print_wrapped(FILE *f, size_t col, const char *text)
{
	bool first = true;

	text += strspn(text, " ");
	while (*text != '\0') {
		size_t w = strcspn(text, " ");

		if (!first && col + 1 + w >= HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_COLUMN, "");
			col = HELP_COLUMN;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, text);
		col += w;
		first = false;
		text += w;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void
print_option(FILE *f, const struct opt_def *d)
{
	char text[HELP_TEXT_MAX], range[32] = "", most[48] = "", def[DEFAULT_MAX + 16] = "";
	int col;

	if (d->set == set_number || d->set == set_replicas)
		snprintf(range, sizeof(range), ", %u..%u", d->lo, d->hi);
	if (d->repeatable)
		snprintf(most, sizeof(most), "; may repeat (at most %u)", d->hi);
	if (d->def != NULL)
		snprintf(def, sizeof(def), " (default %s)", d->def);
	snprintf(text, sizeof(text), "%s%s%s%s", d->help, range, most, def);
	col = fprintf(f, "  --%s%s%s", d->name, d->arg != NULL ? " " : "",
	    d->arg != NULL ? d->arg : "");
	if (col < 0)
		return;
	if (col >= HELP_COLUMN)
		fprintf(f, "\n%*s", HELP_COLUMN, "");
	else
		fprintf(f, "%*s", HELP_COLUMN - col, "");
	print_wrapped(f, HELP_COLUMN, text);
}

static void
print_usage(FILE *f)
{
	fputs(synopsis, f);
	fputs(intro, f);
	for (size_t i = 0; i < NOPTS; i++)
		print_option(f, &opts[i]);
	fputs(outro, f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("p2pnsd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s'p2pnsd --help' lists the options.\n", synopsis);
	return CONFIG_EXIT_USAGE;
}

static int file_error(const char *path, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "p2pnsd: FILE:LINE: message" (line 0: the whole file). */
static int
file_error(const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		fprintf(stderr, "p2pnsd: %s:%u: ", path, line);
	else
		fprintf(stderr, "p2pnsd: %s: ", path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CONFIG_EXIT_USAGE;
}

/* Sets option d to v; on failure writes the message (dashes "--" on the command line). */
static int
apply(struct options *o, const struct opt_def *d, const char *v, const char *dashes,
    char *msg)
{
	char why[WHY_MAX];
	int err = d->set(o, d, v, why);

	if (err == -E2BIG)
		snprintf(msg, MSG_MAX, "too many %s%s values (%s)", dashes, d->name, why);
	else if (err != 0)
		snprintf(msg, MSG_MAX, "bad %s%s '%.*s' (%s)", dashes, d->name, SHOWN_MAX, v,
		    why);
	return err;
}

static int
set_defaults(struct options *o)
{
	char buf[DEFAULT_MAX], msg[MSG_MAX];

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].def == NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s", opts[i].def);
		for (char *save, *v = strtok_r(buf, " ", &save); v != NULL;
		    v = strtok_r(NULL, " ", &save)) {
			if (apply(o, &opts[i], v, "--", msg) != 0) {
				fprintf(stderr, "p2pnsd: the default is wrong: %s\n", msg);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static const struct opt_def *
find_option(const char *name)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

/* Cuts a comment (a # at the start or after a blank) and the blanks at the end. */
static void
strip_comment(char *s)
{
	size_t n;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
			s[i] = '\0';
			break;
		}
	}
	n = strlen(s);
	while (n > 0 && strchr(BLANKS, s[n - 1]) != NULL)
		s[--n] = '\0';
}

/* One line: "name value" or "name = value". seen[i] is the first line that set option i.
 * Returns -1 to go on or the exit status. */
static int
parse_line(struct options *o, const char *path, unsigned line, char *s, unsigned *seen)
{
	const struct opt_def *d;
	char *name, *value, msg[MSG_MAX];
	size_t i;

	strip_comment(s);
	s += strspn(s, BLANKS);
	if (*s == '\0')
		return -1;
	name = s;
	s += strcspn(s, BLANKS "=");
	value = s + strspn(s, BLANKS);
	if (*value == '=')
		value += 1 + strspn(value + 1, BLANKS);
	*s = '\0';
	d = find_option(name);
	if (d == NULL)
		return file_error(path, line, "unknown option '%.*s'", SHOWN_MAX, name);
	i = (size_t)(d - opts);
	if (*value == '\0')
		return file_error(path, line, "%s needs a value", name);
	if (seen[i] != 0 && !d->repeatable)
		return file_error(path, line, "%s already set on line %u", name, seen[i]);
	if (seen[i] == 0) {
		seen[i] = line;
		if (d->repeatable)
			d->set(o, d, NULL, msg);
	}
	if (apply(o, d, value, "", msg) != 0)
		return file_error(path, line, "%s", msg);
	return -1;
}

static int
parse_text(struct options *o, const char *path, const char *buf, size_t len)
{
	unsigned seen[NOPTS] = {0}, line = 0;
	char s[CONFIG_LINE_MAX + 1];
	size_t pos = 0;
	int rc;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = (nl != NULL ? (size_t)(nl - buf) : len) - pos;

		line++;
		if (n > CONFIG_LINE_MAX)
			return file_error(path, line, "line longer than %d bytes", CONFIG_LINE_MAX);
		if (memchr(buf + pos, '\0', n) != NULL)
			return file_error(path, line, "NUL byte in the line");
		memcpy(s, buf + pos, n);
		s[n] = '\0';
		pos += n + 1;
		rc = parse_line(o, path, line, s, seen);
		if (rc >= 0)
			return rc;
	}
	return -1;
}

/* Reads all of fd into *buf (malloc'ed): 0, -EFBIG over CONFIG_FILE_MAX, or -errno. */
static int
read_all(int fd, char **buf, size_t *len)
{
	char *b = malloc(CONFIG_FILE_MAX + 1);
	size_t n = 0;

	if (b == NULL)
		return -ENOMEM;
	while (n <= CONFIG_FILE_MAX) {
		ssize_t r = read(fd, b + n, CONFIG_FILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(b);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX) {
		free(b);
		return -EFBIG;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* Applies the file at path; a missing file is fine unless must_exist. Returns -1 to go
 * on or the exit status. */
static int
read_file(struct options *o, const char *path, bool must_exist)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, err, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && !must_exist)
		return -1;
	if (fd < 0)
		return file_error(path, 0, "cannot open the configuration file: %s",
		    strerror(errno));
	/* a character device too: "-c /dev/null" reads nothing */
	if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
		close(fd);
		return file_error(path, 0, "not a regular file");
	}
	err = read_all(fd, &buf, &len);
	close(fd);
	if (err == -EFBIG)
		return file_error(path, 0, "larger than %d bytes", CONFIG_FILE_MAX);
	if (err != 0)
		return file_error(path, 0, "cannot read the configuration file: %s",
		    strerror(-err));
	rc = parse_text(o, path, buf, len);
	free(buf);
	return rc;
}

/* An option from the command line. */
struct cli_arg {
	const struct opt_def *d;
	const char *v;
};

/* Defaults, then the file, then the command line. Returns -1 to go on or the exit status. */
static int
apply_all(struct options *o, const char *file, const struct cli_arg *args, size_t nargs)
{
	bool given[NOPTS] = {false};
	char msg[MSG_MAX];
	int rc;

	if (set_defaults(o) != 0)
		return 1;
	rc = read_file(o, file != NULL ? file : CONFIG_DEFAULT_FILE, file != NULL);
	if (rc >= 0)
		return rc;
	for (size_t i = 0; i < nargs; i++) {
		const struct opt_def *d = args[i].d;
		size_t k = (size_t)(d - opts);

		if (d->repeatable && !given[k])
			d->set(o, d, NULL, msg);
		given[k] = true;
		if (apply(o, d, args[i].v, "--", msg) != 0)
			return usage_error("%s", msg);
	}
	return -1;
}

static void
make_longopts(struct option *lo)
{
	static const struct option fixed[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};

	for (size_t i = 0; i < NOPTS; i++) {
		lo[i].name = opts[i].name;
		/* a boolean is a plain flag; --syslog=no may still override the file */
		lo[i].has_arg = opts[i].arg != NULL ? required_argument : optional_argument;
		lo[i].flag = NULL;
		lo[i].val = OPT_VAL_BASE + (int)i;
	}
	memcpy(lo + NOPTS, fixed, sizeof(fixed));
}

int
config_parse(struct options *o, int argc, char **argv)
{
	struct option longopts[NOPTS + 4];
	struct cli_arg *args;
	const char *file = NULL;
	size_t nargs = 0;
	int c, rc = -1;

	args = calloc((size_t)argc, sizeof(*args));
	if (args == NULL) {
		fputs("p2pnsd: out of memory\n", stderr);
		return 1;
	}
	make_longopts(longopts);
	opterr = 0;
	while (rc < 0 && (c = getopt_long(argc, argv, ":c:hV", longopts, NULL)) != -1) {
		if (c >= OPT_VAL_BASE && c < OPT_VAL_BASE + (int)NOPTS) {
			args[nargs].d = &opts[c - OPT_VAL_BASE];
			args[nargs++].v = optarg != NULL ? optarg : "yes";
			continue;
		}
		switch (c) {
		case 'c':
			file = optarg;
			if (file[0] == '\0')
				rc = usage_error("empty --config");
			break;
		case 'h':
			print_usage(stdout);
			rc = 0;
			break;
		case 'V':
			printf("p2pnsd %s\n", P2PNS_VERSION);
			rc = 0;
			break;
		case ':':
			rc = usage_error("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			rc = usage_error("unknown option '%s'", argv[optind - 1]);
			break;
		}
	}
	if (rc < 0 && optind < argc)
		rc = usage_error("unexpected argument '%s'", argv[optind]);
	if (rc < 0)
		rc = apply_all(o, file, args, nargs);
	free(args);
	return rc;
}
