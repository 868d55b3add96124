/* p2pns-keygen: create, show, export and import p2pns node identities
 * (Ed25519 key, node ID = SHA-1(public key), solved S/Kademlia puzzles). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/cli.h"
#include "puzzle/identity.h"
#include "puzzle/puzzle.h"

#ifndef P2PNS_VERSION
#define P2PNS_VERSION "0.1.0"
#endif

enum {
	EXIT_USAGE = 2,
	IMPORT_MAX = 4096,	/* longest text read by import */
};

static const char *prog = "p2pns-keygen";

static const char usage_main[] =
    "usage: p2pns-keygen COMMAND [OPTIONS]\n"
    "\n"
    "Creates and manages p2pns node identities: an Ed25519 key pair whose node ID\n"
    "(SHA-1 of the public key) solves the S/Kademlia static and dynamic crypto puzzles.\n"
    "\n"
    "commands:\n"
    "  create -o FILE [--c1 N] [--c2 N] [--threads N] [--force] [--quiet] [--progress]\n"
    "                      create an identity, solving both puzzles\n"
    "  show FILE           print the node ID, public key, nonce and puzzle bits\n"
    "  export FILE [-o OUT] [--force]\n"
    "                      print the identity as one line of text (it holds the private key)\n"
    "  import -o FILE [-i IN] [--force]\n"
    "                      write an identity file from that text (stdin or IN)\n"
    "\n"
    "options:\n"
    "  -h, --help          help; 'p2pns-keygen COMMAND --help' for one command\n"
    "  -V, --version       print the version\n"
    "\n"
    "Identity files are PEM, mode 0600; files that group or others can read are refused.\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

static const char usage_create[] =
    "usage: p2pns-keygen create -o FILE [--c1 N] [--c2 N] [--threads N] [--force]\n"
    "                           [--quiet] [--progress]\n"
    "\n"
    "Generates key pairs until SHA-1(node ID) has at least c1 leading zero bits (static\n"
    "puzzle), then searches a nonce X such that SHA-1(node ID XOR X) has at least c2\n"
    "leading zero bits (dynamic puzzle), and writes the identity to FILE (mode 0600).\n"
    "Every node of an overlay must meet that overlay's c1 and c2.\n"
    "\n"
    "  -o, --output FILE   identity file to write (refused if it exists, unless --force)\n"
    "      --c1 N          static puzzle difficulty in bits, 0..40 (default 16)\n"
    "      --c2 N          dynamic puzzle difficulty in bits, 0..40 (default 20)\n"
    "      --threads N     worker threads, 1..64 (default: one per CPU)\n"
    "  -f, --force         overwrite FILE\n"
    "  -q, --quiet         no progress and no summary\n"
    "      --progress      show progress even when stderr is not a terminal\n"
    "  -h, --help          this help\n";

static const char usage_show[] =
    "usage: p2pns-keygen show FILE\n"
    "\n"
    "Prints the identity in FILE: node ID and public key (hex), the dynamic-puzzle nonce,\n"
    "the difficulties it was made for and the leading zero bits it actually has.\n"
    "\n"
    "  -h, --help          this help\n";

static const char usage_export[] =
    "usage: p2pns-keygen export FILE [-o OUT] [--force]\n"
    "\n"
    "Prints the identity in FILE as one line of text (" ID_EXPORT_PREFIX "...) that\n"
    "'p2pns-keygen import' turns back into an identity file on another device. The text\n"
    "holds the private key: keep it as secret as the file.\n"
    "\n"
    "  -o, --output OUT    write the text to OUT (mode 0600) instead of standard output\n"
    "  -f, --force         overwrite OUT\n"
    "  -h, --help          this help\n";

static const char usage_import[] =
    "usage: p2pns-keygen import -o FILE [-i IN] [--force]\n"
    "\n"
    "Reads the text made by 'p2pns-keygen export' from IN (default: standard input),\n"
    "checks it (check sum, node ID, puzzles) and writes the identity file FILE (mode 0600).\n"
    "\n"
    "  -o, --output FILE   identity file to write (refused if it exists, unless --force)\n"
    "  -i, --input IN      read the text from IN\n"
    "  -f, --force         overwrite FILE\n"
    "  -h, --help          this help\n";

__attribute__((format(printf, 2, 3)))
static int usage_error(const char *usage, const char *fmt, ...);

static int
usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	return EXIT_USAGE;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress {
	double start;			/* of the current phase */
	double last;			/* last line printed (not on a terminal) */
	enum identity_phase phase;
	unsigned c1, c2;
	int tty;			/* rewrite one line in place */
	int shown;			/* a progress line is on screen */
};

static int
show_progress(void *arg, enum identity_phase phase, uint64_t attempts)
{
	struct progress *p = arg;
	double elapsed;

	if (phase != p->phase) {
		if (p->shown)
			fputc('\n', stderr);
		p->phase = phase;
		p->start = now_seconds();
		p->last = 0;
		p->shown = 0;
	}
	elapsed = now_seconds() - p->start;
	if (!p->tty) {
		/* a log, not a screen: a line a second, and none for the start */
		if (attempts == 0 || (p->shown && elapsed - p->last < 1.0))
			return 0;
		p->last = elapsed;
	}
	fputs(p->tty ? "\r" : (p->shown ? "\n" : ""), stderr);
	if (phase == ID_PHASE_STATIC)
		fprintf(stderr, "static puzzle  c1=%-2u %12llu keys   %9.0f keys/s   %6.1f s",
		    p->c1, (unsigned long long)attempts,
		    elapsed > 0 ? (double)attempts / elapsed : 0.0, elapsed);
	else
		fprintf(stderr, "dynamic puzzle c2=%-2u %12llu nonces %9.0f nonces/s %6.1f s",
		    p->c2, (unsigned long long)attempts,
		    elapsed > 0 ? (double)attempts / elapsed : 0.0, elapsed);
	fflush(stderr);
	p->shown = 1;
	return 0;
}

static int
cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"c1", required_argument, NULL, '1'},
		{"c2", required_argument, NULL, '2'},
		{"threads", required_argument, NULL, 't'},
		{"force", no_argument, NULL, 'f'},
		{"quiet", no_argument, NULL, 'q'},
		{"progress", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct identity_solve solve = {
		.c1 = PUZZLE_DEFAULT_C1,
		.c2 = PUZZLE_DEFAULT_C2,
	};
	struct progress prog_state;
	struct identity *ident = NULL;
	const char *out = NULL;
	int c, force = 0, quiet = 0, progress = -1, err;
	double start;
	char hex[NODEID_HEX_LEN + 1];

	while ((c = getopt_long(argc, argv, "o:fqh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case '1':
			if (cli_parse_uint(optarg, 0, PUZZLE_MAX_BITS, &solve.c1) != 0)
				return usage_error(usage_create, "--c1 takes 0..40, not '%s'", optarg);
			break;
		case '2':
			if (cli_parse_uint(optarg, 0, PUZZLE_MAX_BITS, &solve.c2) != 0)
				return usage_error(usage_create, "--c2 takes 0..40, not '%s'", optarg);
			break;
		case 't':
			if (cli_parse_uint(optarg, 1, ID_SOLVE_MAX_THREADS, &solve.threads) != 0)
				return usage_error(usage_create, "--threads takes 1..64, not '%s'",
				    optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'p':
			progress = 1;
			break;
		case 'h':
			fputs(usage_create, stdout);
			return 0;
		default:
			fprintf(stderr, "\n%s", usage_create);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error(usage_create, "unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return usage_error(usage_create, "%s", "create needs -o FILE");
	if (!force && access(out, F_OK) == 0) {
		fprintf(stderr, "%s: %s exists (use --force to overwrite it)\n", prog, out);
		return 1;
	}
	if (progress < 0)
		progress = isatty(STDERR_FILENO);
	if (quiet)
		progress = 0;

	memset(&prog_state, 0, sizeof(prog_state));
	prog_state.c1 = solve.c1;
	prog_state.c2 = solve.c2;
	prog_state.tty = isatty(STDERR_FILENO);
	if (progress) {
		solve.progress = show_progress;
		solve.arg = &prog_state;
	}
	start = now_seconds();
	err = identity_create(&ident, &solve);
	if (prog_state.shown)
		fputc('\n', stderr);
	if (err != 0) {
		fprintf(stderr, "%s: cannot create identity: %s\n", prog, identity_strerror(err));
		return 1;
	}
	err = identity_save(ident, out, force);
	if (err != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, out, identity_strerror(err));
		identity_free(ident);
		return 1;
	}
	if (!quiet) {
		nodeid_to_hex(&ident->id, hex);
		fprintf(stderr, "%s: wrote %s in %.1f s\n", prog, out, now_seconds() - start);
		printf("node-id: %s\n", hex);
	}
	identity_free(ident);
	return 0;
}

/* Parses the options of a command that only knows --help (and maybe -o/--force). */
static int
simple_opts(int argc, char **argv, const char *usage, const char *shortopts,
    const char **out, const char **in, int *force)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"input", required_argument, NULL, 'i'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c != '?' && strchr(shortopts, c) == NULL) {
			fprintf(stderr, "%s: option '%s' does not apply here\n\n%s", prog,
			    argv[optind - 1], usage);
			return EXIT_USAGE;
		}
		switch (c) {
		case 'o':
			*out = optarg;
			break;
		case 'i':
			*in = optarg;
			break;
		case 'f':
			*force = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "\n%s", usage);
			return EXIT_USAGE;
		}
	}
	return -1;
}

static int
load_or_complain(struct identity **ident, const char *path)
{
	int err = identity_load(ident, path);

	if (err != 0)
		fprintf(stderr, "%s: %s: %s\n", prog, path, identity_strerror(err));
	return err;
}

static int
cmd_show(int argc, char **argv)
{
	struct identity *ident;
	const char *out = NULL, *in = NULL;
	int force = 0, rc;
	char hex[2 * ID_PUBKEY_LEN + 1];

	rc = simple_opts(argc, argv, usage_show, "h", &out, &in, &force);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return usage_error(usage_show, "%s", "show takes exactly one FILE");
	if (load_or_complain(&ident, argv[optind]) != 0)
		return 1;
	nodeid_to_hex(&ident->id, hex);
	printf("node-id:    %s\n", hex);
	hex_encode(hex, ident->pub, ID_PUBKEY_LEN);
	printf("public-key: %s\n", hex);
	nodeid_to_hex(&ident->nonce, hex);
	printf("nonce:      %s\n", hex);
	printf("c1:         %u (SHA-1(node-id) has %u leading zero bits)\n", ident->c1,
	    puzzle_static_bits(&ident->id));
	printf("c2:         %u (SHA-1(node-id XOR nonce) has %u leading zero bits)\n", ident->c2,
	    puzzle_dynamic_bits(&ident->id, &ident->nonce));
	identity_free(ident);
	return 0;
}

/* Opens a new file with mode 0600, refusing an existing one unless force. */
static FILE *
open_secret(const char *path, int force)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return NULL;
	}
	return f;
}

static int
cmd_export(int argc, char **argv)
{
	struct identity *ident;
	const char *out = NULL, *in = NULL;
	char text[ID_EXPORT_SIZE];
	int force = 0, rc, err;
	FILE *f = stdout;

	rc = simple_opts(argc, argv, usage_export, "o:fh", &out, &in, &force);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return usage_error(usage_export, "%s", "export takes exactly one FILE");
	if (load_or_complain(&ident, argv[optind]) != 0)
		return 1;
	err = identity_export(ident, text, sizeof(text));
	identity_free(ident);
	if (err != 0) {
		fprintf(stderr, "%s: cannot export: %s\n", prog, identity_strerror(err));
		return 1;
	}
	if (out != NULL && (f = open_secret(out, force)) == NULL) {
		fprintf(stderr, "%s: cannot write %s: %s%s\n", prog, out, strerror(errno),
		    errno == EEXIST ? " (use --force to overwrite it)" : "");
		OPENSSL_cleanse(text, sizeof(text));
		return 1;
	}
	fprintf(f, "%s\n", text);
	OPENSSL_cleanse(text, sizeof(text));
	if (fflush(f) != 0 || ferror(f) || (f != stdout && fclose(f) != 0)) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		return 1;
	}
	return 0;
}

static int
cmd_import(int argc, char **argv)
{
	struct identity *ident = NULL;
	const char *out = NULL, *in = NULL;
	char buf[IMPORT_MAX + 1];
	size_t len = 0;
	int force = 0, rc, err, fd = STDIN_FILENO;

	rc = simple_opts(argc, argv, usage_import, "o:i:fh", &out, &in, &force);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return usage_error(usage_import, "unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return usage_error(usage_import, "%s", "import needs -o FILE");
	if (in != NULL && (fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, in, strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: read error: %s\n", prog, strerror(errno));
			rc = 1;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf)) {
			fprintf(stderr, "%s: input longer than %d bytes is not an identity\n", prog,
			    IMPORT_MAX);
			rc = 1;
			goto out;
		}
	}
	err = identity_import(&ident, buf, len);
	if (err != 0) {
		fprintf(stderr, "%s: cannot import: %s\n", prog, identity_strerror(err));
		rc = 1;
		goto out;
	}
	err = identity_save(ident, out, force);
	if (err != 0) {
		fprintf(stderr, "%s: cannot write %s: %s%s\n", prog, out, identity_strerror(err),
		    err == -EEXIST ? " (use --force to overwrite it)" : "");
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	identity_free(ident);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} cmds[] = {
		{"create", cmd_create},
		{"show", cmd_show},
		{"export", cmd_export},
		{"import", cmd_import},
	};
	const char *cmd;

	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("p2pns-keygen %s\n", P2PNS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name) == 0) {
			/* getopt sees the command as argv[0] */
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\n\n%s", prog, cmd, usage_main);
	return EXIT_USAGE;
}
