/* The LMDB store (the daemon): one environment in a directory, every change committed
 * durably before it returns. Database key key | owner | kind | id, value the encoding. */
#include "dht/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

enum {
	DBKEY_LEN = NODEID_LEN + ID_PUBKEY_LEN + 4 + 4,	/* key, owner, kind, id */
	EXPIRE_BATCH = 256,		/* deletions per expiry transaction */
};

struct lmdb_store {
	struct dht_store base;		/* first: the interface's pointer points here */
	MDB_env *env;
	MDB_dbi dbi;
	uint8_t doomed[EXPIRE_BATCH][DBKEY_LEN];	/* expire's batch */
};

static struct lmdb_store *
lmdb_of(struct dht_store *st)
{
	return (struct lmdb_store *)st;
}

/* LMDB's codes as negative errno: a full map is -ENOSPC, system errors stay themselves. */
static int
lmdb_errno(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_MAP_FULL)
		return -ENOSPC;
	if (rc > 0)
		return -rc;
	return -EIO;
}

/* Commits txn durably. LMDB reports a short write as EIO: on a disk without a free block
 * left that is the disk filling up, and is said so (-ENOSPC, as for a full map). */
static int
commit(struct lmdb_store *s, MDB_txn *txn)
{
	struct statvfs vfs;
	mdb_filehandle_t fd;
	int rc;

	rc = mdb_txn_commit(txn);
	if (rc == EIO && mdb_env_get_fd(s->env, &fd) == 0 && fstatvfs(fd, &vfs) == 0 &&
	    vfs.f_bavail == 0)
		return -ENOSPC;
	return lmdb_errno(rc);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The database key of r's slot: big-endian numbers sort as the numbers do. */
static void
dbkey(uint8_t out[DBKEY_LEN], const struct dht_record *r)
{
	memcpy(out, r->key.b, NODEID_LEN);
	memcpy(out + NODEID_LEN, r->owner, ID_PUBKEY_LEN);
	be32(out + NODEID_LEN + ID_PUBKEY_LEN, r->kind);
	be32(out + NODEID_LEN + ID_PUBKEY_LEN + 4, r->id);
}

/* Decodes one entry into r. False for anything but a record filed under its own slot:
 * such entries are passed over. */
static bool
entry_decode(const MDB_val *k, const MDB_val *v, struct dht_record *r)
{
	uint8_t want[DBKEY_LEN];

	if (k->mv_size != DBKEY_LEN || v->mv_size > DHT_REC_MAX ||
	    dht_record_decode(r, v->mv_data, v->mv_size) != 0)
		return false;
	dbkey(want, r);
	return memcmp(want, k->mv_data, DBKEY_LEN) == 0;
}

/* Reads the first good record at (after: past) the database key from[0..len), or the
 * first of all if from is NULL, whose key begins with from's first plen bytes. The read
 * transaction ends before this returns, so the caller's callback may use the store.
 * Returns 1 with *r and at[] filled, 0 when there is none, or a negative errno. */
static int
lmdb_seek(struct lmdb_store *s, const uint8_t *from, size_t len, bool after, size_t plen,
    struct dht_record *r, uint8_t at[DBKEY_LEN])
{
	uint8_t start[DBKEY_LEN];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	if (from == NULL)
		len = plen = 0;
	else
		memcpy(start, from, len);
	k.mv_size = len;
	k.mv_data = start;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return lmdb_errno(rc);
	}
	rc = mdb_cursor_get(cur, &k, &v, from != NULL ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0)
			break;
		if (after && k.mv_size == len && memcmp(k.mv_data, start, len) == 0)
			continue;
		if (entry_decode(&k, &v, r)) {
			memcpy(at, k.mv_data, DBKEY_LEN);
			ret = 1;
			break;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = lmdb_errno(rc);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* Calls fn for every good record, or those under key if key is not NULL, in key order.
 * Each step is its own read transaction, resumed after the key last delivered. */
static int
lmdb_walk(struct lmdb_store *s, const struct nodeid *key,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	struct dht_record r;
	uint8_t at[DBKEY_LEN];
	size_t plen = key != NULL ? NODEID_LEN : 0;
	int ret;

	if (key != NULL)
		memcpy(at, key->b, NODEID_LEN);
	ret = lmdb_seek(s, key != NULL ? at : NULL, plen, false, plen, &r, at);
	while (ret == 1) {
		if (fn(arg, &r) != 0)
			return 0;
		ret = lmdb_seek(s, at, DBKEY_LEN, true, plen, &r, at);
	}
	return ret;
}

static int
lmdb_get(struct dht_store *st, const struct nodeid *key,
    int (*fn)(void *arg, const struct dht_record *r), void *arg)
{
	return lmdb_walk(lmdb_of(st), key, fn, arg);
}

static int
lmdb_foreach(struct dht_store *st, int (*fn)(void *arg, const struct dht_record *r),
    void *arg)
{
	return lmdb_walk(lmdb_of(st), NULL, fn, arg);
}

static int
lmdb_put(struct dht_store *st, const struct dht_record *r)
{
	struct lmdb_store *s = lmdb_of(st);
	uint8_t kb[DBKEY_LEN], vb[DHT_REC_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int len, rc;

	len = dht_record_encode(r, vb, sizeof(vb));
	if (len < 0)
		return -EINVAL;
	dbkey(kb, r);
	k.mv_size = sizeof(kb);
	k.mv_data = kb;
	v.mv_size = (size_t)len;
	v.mv_data = vb;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_put(txn, s->dbi, &k, &v, 0);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return lmdb_errno(rc);
	}
	return commit(s, txn);
}

static int
lmdb_del(struct dht_store *st, const struct dht_record *slot)
{
	struct lmdb_store *s = lmdb_of(st);
	uint8_t kb[DBKEY_LEN];
	MDB_txn *txn;
	MDB_val k;
	int rc;

	dbkey(kb, slot);
	k.mv_size = sizeof(kb);
	k.mv_data = kb;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_del(txn, s->dbi, &k, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? -ENOENT : lmdb_errno(rc);
	}
	return commit(s, txn);
}

/* One expiry transaction: deletes up to EXPIRE_BATCH expired records at or past the
 * database key from (from the first if from is NULL). Returns how many. */
static long
expire_batch(struct lmdb_store *s, uint64_t now, const uint8_t *from)
{
	struct dht_record r;
	uint8_t start[DBKEY_LEN];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	if (from != NULL)
		memcpy(start, from, DBKEY_LEN);
	k.mv_size = DBKEY_LEN;
	k.mv_data = start;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return lmdb_errno(rc);
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0)
		goto fail;
	rc = mdb_cursor_get(cur, &k, &v, from != NULL ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0 && n < EXPIRE_BATCH; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (entry_decode(&k, &v, &r) && r.expiry <= now)
			memcpy(s->doomed[n++], k.mv_data, DBKEY_LEN);
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	if (n == 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		k.mv_size = DBKEY_LEN;
		k.mv_data = s->doomed[i];
		rc = mdb_del(txn, s->dbi, &k, NULL);
		if (rc != 0)
			goto fail;
	}
	rc = commit(s, txn);
	return rc == 0 ? (long)n : rc;
fail:
	mdb_txn_abort(txn);
	return lmdb_errno(rc);
}

/* Batches keep each write transaction small; every batch is committed durably. */
static long
lmdb_expire(struct dht_store *st, uint64_t now)
{
	struct lmdb_store *s = lmdb_of(st);
	uint8_t from[DBKEY_LEN];
	long n, total = 0;

	n = expire_batch(s, now, NULL);
	while (n == EXPIRE_BATCH) {
		total += n;
		/* the last one deleted: the next batch starts past it */
		memcpy(from, s->doomed[EXPIRE_BATCH - 1], DBKEY_LEN);
		n = expire_batch(s, now, from);
	}
	return n < 0 ? n : total + n;
}

/* Entries in the database, undecodable ones included: O(1) from LMDB's statistics. */
static size_t
lmdb_count(struct dht_store *st)
{
	struct lmdb_store *s = lmdb_of(st);
	MDB_stat ms;

	if (mdb_env_stat(s->env, &ms) != 0)
		return 0;
	return ms.ms_entries;
}

static void
lmdb_close(struct dht_store *st)
{
	struct lmdb_store *s = lmdb_of(st);

	if (s == NULL)
		return;
	mdb_env_close(s->env);
	free(s);
}

static const struct dht_store_ops lmdb_ops = {
	.put = lmdb_put,
	.get = lmdb_get,
	.del = lmdb_del,
	.foreach = lmdb_foreach,
	.expire = lmdb_expire,
	.count = lmdb_count,
	.close = lmdb_close,
};

/* The directory: made with mode 0700 if missing; anything but a directory is refused. */
static int
lmdb_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return -errno;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		if (stat(dir, &st) != 0)
			return -errno;
	}
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

struct dht_store *
dht_store_lmdb_open(const char *dir, size_t max_bytes, int *err)
{
	struct lmdb_store *s = NULL;
	MDB_txn *txn;
	long page = sysconf(_SC_PAGESIZE);
	int e, rc;

	if (dir == NULL || page <= 0) {
		e = -EINVAL;
		goto fail;
	}
	max_bytes -= max_bytes % (size_t)page;		/* at most max_bytes */
	if (max_bytes == 0) {
		e = -EINVAL;
		goto fail;
	}
	e = lmdb_dir(dir);
	if (e != 0)
		goto fail;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		e = -ENOMEM;
		goto fail;
	}
	s->base.ops = &lmdb_ops;
	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		s->env = NULL;
		e = lmdb_errno(rc);
		goto fail;
	}
	/* default flags: every commit is synced to disk before it returns */
	rc = mdb_env_set_mapsize(s->env, max_bytes);
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc != 0) {
		e = lmdb_errno(rc);
		goto fail;
	}
	if (err != NULL)
		*err = 0;
	return &s->base;
fail:
	if (s != NULL) {
		if (s->env != NULL)
			mdb_env_close(s->env);
		free(s);
	}
	if (err != NULL)
		*err = e;
	return NULL;
}
