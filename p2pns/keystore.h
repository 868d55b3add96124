/* Per-name identities: the Ed25519 key that owns a name (or a value key) on this node, in
 * DIR/<SHA-1 of the name in lower-case hex>.pem (mode 0600), with the recently used ones
 * kept in memory (bounded, least recently used first out; they reload from disk). */
#ifndef P2PNS_P2PNS_KEYSTORE_H
#define P2PNS_P2PNS_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "puzzle/identity.h"

enum {
	KS_MAX_LOADED = 4096,		/* identities kept in memory */
	KS_PATH_MAX = 4096,		/* longest key file path */
};

struct keystore;

/* Opens dir, creating it with mode 0700 if missing. Refuses (NULL) a path that is not a
 * directory, a directory that group or others may write, and a path too long for key files.
 * max_loaded: identities kept in memory (0: KS_MAX_LOADED). */
struct keystore *ks_new(const char *dir, size_t max_loaded);
void ks_free(struct keystore *ks);

/* The identity of name, from memory or its file. Returns 0 with *out set, -ENOENT if this
 * node holds no key for the name, or another negative errno (an unreadable or unsafe file:
 * see identity_load). *out stays valid until the next ks_* call on ks. */
int ks_get(struct keystore *ks, const uint8_t *name, size_t len, const struct identity **out);
/* The same for a name already hashed: key = SHA-1(name). */
int ks_get_key(struct keystore *ks, const struct nodeid *key, const struct identity **out);
/* Like ks_get, but creates, saves (crash-safe) and returns a fresh identity if the name
 * has none yet: leap of faith on the first registration. */
int ks_get_or_create(struct keystore *ks, const uint8_t *name, size_t len,
    const struct identity **out);

/* Identities held in memory. */
size_t ks_loaded(const struct keystore *ks);

#endif
