/* Per-name identities on disk (one PEM file per name) with a bounded in-memory table in
 * front: a hash table over SHA-1(name) plus an LRU list, O(1) expected per lookup. */
#include "p2pns/keystore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "puzzle/nodeid.h"

struct entry {
	struct nodeid key;		/* SHA-1 of the name */
	struct identity *ident;
	struct entry *hnext;		/* hash chain */
	struct entry *prev, *next;	/* LRU list: prev is older, next is newer */
};

/* "/" + 40 hex digits + ".pem" + NUL */
enum { FILE_PART = 1 + NODEID_HEX_LEN + 4 + 1 };

struct keystore {
	char dir[KS_PATH_MAX - FILE_PART + 1];	/* leaves room for every key file's name */
	struct entry **buckets;
	size_t mask;			/* buckets - 1 */
	struct entry *oldest, *newest;
	size_t count, max;
	uint64_t seed;			/* names are chosen by clients: keep buckets unguessable */
};

static size_t
bucket_of(const struct keystore *ks, const struct nodeid *key)
{
	uint64_t h = ks->seed;

	for (int i = 0; i < NODEID_LEN; i++) {
		h ^= key->b[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)(h & ks->mask);
}

static void
lru_unlink(struct keystore *ks, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		ks->oldest = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		ks->newest = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_append(struct keystore *ks, struct entry *e)
{
	e->prev = ks->newest;
	e->next = NULL;
	if (ks->newest != NULL)
		ks->newest->next = e;
	else
		ks->oldest = e;
	ks->newest = e;
}

static struct entry *
find(struct keystore *ks, const struct nodeid *key)
{
	for (struct entry *e = ks->buckets[bucket_of(ks, key)]; e != NULL; e = e->hnext) {
		if (nodeid_eq(&e->key, key)) {
			lru_unlink(ks, e);
			lru_append(ks, e);
			return e;
		}
	}
	return NULL;
}

static void
drop(struct keystore *ks, struct entry *e)
{
	struct entry **pp = &ks->buckets[bucket_of(ks, &e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(ks, e);
	identity_free(e->ident);
	free(e);
	ks->count--;
}

/* Takes ownership of ident (freed on failure). */
static int
insert(struct keystore *ks, const struct nodeid *key, struct identity *ident,
    const struct identity **out)
{
	struct entry *e;
	size_t b;

	if (ks->count == ks->max)
		drop(ks, ks->oldest);
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		identity_free(ident);
		return -ENOMEM;
	}
	e->key = *key;
	e->ident = ident;
	b = bucket_of(ks, key);
	e->hnext = ks->buckets[b];
	ks->buckets[b] = e;
	lru_append(ks, e);
	ks->count++;
	*out = ident;
	return 0;
}

static void
key_path(const struct keystore *ks, const struct nodeid *key, char *path)
{
	char hex[NODEID_HEX_LEN + 1];

	nodeid_to_hex(key, hex);
	(void)snprintf(path, KS_PATH_MAX, "%s/%s.pem", ks->dir, hex);
}

static int
load(struct keystore *ks, const struct nodeid *key, const struct identity **out)
{
	char path[KS_PATH_MAX];
	struct identity *ident;
	int err;

	key_path(ks, key, path);
	err = identity_load(&ident, path);
	if (err != 0)
		return err;
	return insert(ks, key, ident, out);
}

int
ks_get_key(struct keystore *ks, const struct nodeid *key, const struct identity **out)
{
	struct entry *e;

	if (ks == NULL || key == NULL || out == NULL)
		return -EINVAL;
	e = find(ks, key);
	if (e != NULL) {
		*out = e->ident;
		return 0;
	}
	return load(ks, key, out);
}

int
ks_get(struct keystore *ks, const uint8_t *name, size_t len, const struct identity **out)
{
	struct nodeid key;

	if (ks == NULL || (name == NULL && len > 0) || out == NULL)
		return -EINVAL;
	if (nodeid_sha1(&key, name, len) != 0)
		return -EIO;
	return ks_get_key(ks, &key, out);
}

int
ks_get_or_create(struct keystore *ks, const uint8_t *name, size_t len,
    const struct identity **out)
{
	/* names need no puzzle: the puzzles guard node IDs, a name's key is no node */
	const struct identity_solve opts = {.c1 = 0, .c2 = 0, .threads = 1};
	char path[KS_PATH_MAX];
	struct identity *ident;
	struct nodeid key;
	int err;

	err = ks_get(ks, name, len, out);
	if (err != -ENOENT)
		return err;
	(void)nodeid_sha1(&key, name, len);
	err = identity_create(&ident, &opts);
	if (err != 0)
		return err;
	key_path(ks, &key, path);
	/* written to a temporary file and linked into place: a crash leaves the old state or
	 * the whole new file, and a key that appeared meanwhile is never replaced */
	err = identity_save(ident, path, false);
	if (err == -EEXIST) {
		identity_free(ident);
		return load(ks, &key, out);
	}
	if (err != 0) {
		identity_free(ident);
		return err;
	}
	return insert(ks, &key, ident, out);
}

struct keystore *
ks_new(const char *dir, size_t max_loaded)
{
	struct keystore *ks;
	struct stat st;
	size_t len, nb = 16;

	if (dir == NULL || dir[0] == '\0' || max_loaded > KS_MAX_LOADED)
		return NULL;
	len = strlen(dir);
	if (len >= sizeof(ks->dir))
		return NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return NULL;
	/* private keys live here: whoever may write the directory could swap them */
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return NULL;
	memcpy(ks->dir, dir, len + 1);
	ks->max = max_loaded ? max_loaded : KS_MAX_LOADED;
	while (nb < ks->max)
		nb <<= 1;
	ks->buckets = calloc(nb, sizeof(*ks->buckets));
	if (ks->buckets == NULL) {
		free(ks);
		return NULL;
	}
	ks->mask = nb - 1;
	if (getentropy(&ks->seed, sizeof(ks->seed)) != 0)
		ks->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)ks;
	return ks;
}

void
ks_free(struct keystore *ks)
{
	if (ks == NULL)
		return;
	while (ks->oldest != NULL)
		drop(ks, ks->oldest);
	free(ks->buckets);
	free(ks);
}

size_t
ks_loaded(const struct keystore *ks)
{
	return ks == NULL ? 0 : ks->count;
}
