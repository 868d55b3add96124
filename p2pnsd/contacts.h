/* Saved contacts: DIR/contacts lists up to CONTACTS_MAX "HEXID ADDR" lines, most recently
 * seen first, so that a restarted node can rejoin without a --bootstrap address. */
#ifndef P2PNS_P2PNSD_CONTACTS_H
#define P2PNS_P2PNSD_CONTACTS_H

#include <stddef.h>

#include "kbr/types.h"

struct kbr_table;

enum {
	CONTACTS_MAX = 64,		/* lines written and read */
	CONTACTS_LINE_MAX = 200,	/* longer lines are skipped */
};

struct saved_contact {
	struct nodeid id;
	struct kbr_addr addr;
};

/* Writes the up to CONTACTS_MAX most recently seen contacts of t to path atomically
 * (temporary file, fsync, rename; mode 0600). An empty table leaves the file alone.
 * Returns how many were written, or a negative errno. */
int contacts_save(const struct kbr_table *t, const char *path);

/* Reads at most CONTACTS_MAX lines of path into out (max entries); lines that are too long
 * or unparsable are skipped with a warning. Returns how many were read, -ENOENT if there
 * is no file, or another negative errno. */
int contacts_load(const char *path, struct saved_contact *out, size_t max);

#endif
