/* Saved contacts: written atomically from the routing table, read back line by line with
 * every line bounded and checked. */
#include "p2pnsd/contacts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kbr/table.h"
#include "p2pnsd/log.h"

/* The most recently seen contacts, newest first. */
struct recent {
	struct kbr_contact c[CONTACTS_MAX];
	size_t n;
};

static void
recent_add(void *arg, const struct kbr_contact *c)
{
	struct recent *r = arg;
	size_t i;

	for (i = r->n; i > 0 && r->c[i - 1].last_seen < c->last_seen; i--)
		;
	if (i >= CONTACTS_MAX)
		return;
	if (r->n < CONTACTS_MAX)
		r->n++;
	memmove(&r->c[i + 1], &r->c[i], (r->n - 1 - i) * sizeof(r->c[0]));
	r->c[i] = *c;
}

int
contacts_save(const struct kbr_table *t, const char *path)
{
	struct recent r;
	char tmp[PATH_MAX];
	FILE *f;
	int fd, err = 0;

	r.n = 0;
	kbr_table_foreach(t, recent_add, &r);
	if (r.n == 0)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);	/* mode 0600 */
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (f == NULL) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	for (size_t i = 0; i < r.n; i++) {
		char hex[NODEID_HEX_LEN + 1], addr[KBR_ADDR_STRLEN];

		nodeid_to_hex(&r.c[i].id, hex);
		kbr_addr_format(&r.c[i].addr, addr, sizeof(addr));
		fprintf(f, "%s %s\n", hex, addr);
	}
	if (fflush(f) != 0 || ferror(f))
		err = -errno;
	if (err == 0 && fsync(fd) != 0)
		err = -errno;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err != 0) {
		unlink(tmp);
		return err;
	}
	return (int)r.n;
}

/* Parses "HEXID ADDR" (surrounding white space allowed). Returns 0 or -EINVAL. */
static int
parse_line(char *line, struct saved_contact *out)
{
	char *p = line, *end, *addr;
	size_t len;

	while (*p == ' ' || *p == '\t')
		p++;
	len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' ||
	    p[len - 1] == '\n'))
		p[--len] = '\0';
	end = strpbrk(p, " \t");
	if (end == NULL)
		return -EINVAL;
	if (nodeid_from_hex(&out->id, p, (size_t)(end - p)) != 0)
		return -EINVAL;
	addr = end;
	while (*addr == ' ' || *addr == '\t')
		addr++;
	return kbr_addr_parse(&out->addr, addr);
}

int
contacts_load(const char *path, struct saved_contact *out, size_t max)
{
	char line[CONTACTS_LINE_MAX + 2];
	struct stat st;
	unsigned lineno = 0;
	size_t n = 0;
	FILE *f;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		int err = -errno;

		close(fd);
		return err;
	}
	while (lineno < CONTACTS_MAX && n < max && fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);
		int c;

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			/* longer than CONTACTS_LINE_MAX: skip the rest of it */
			while ((c = getc(f)) != EOF && c != '\n')
				;
			log_warnx("%s:%u: line too long, skipped", path, lineno);
			continue;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > CONTACTS_LINE_MAX) {
			log_warnx("%s:%u: line too long, skipped", path, lineno);
			continue;
		}
		if (len == 0 || line[0] == '#')
			continue;
		if (parse_line(line, &out[n]) != 0) {
			log_warnx("%s:%u: not a contact (\"HEXID ADDR\"), skipped", path, lineno);
			continue;
		}
		n++;
	}
	fclose(f);
	return (int)n;
}
