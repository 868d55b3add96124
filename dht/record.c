/* DHT records: the exact encoding of dht/record.h, the owner's signature over it, and the
 * checks a replica makes on one record before it looks at what it already stores. */
#include "dht/record.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"

enum {
	SIG_DOMAIN_LEN = sizeof(DHT_SIG_DOMAIN) - 1,	/* without the NUL */
	SIGNED_MAX = SIG_DOMAIN_LEN + DHT_REC_MAX - ID_SIG_LEN,
};

/* The form rules every record obeys. Returns DHT_OK, DHT_ERR_MALFORMED or DHT_ERR_TOO_BIG. */
static enum dht_reason
check_form(const struct dht_record *r)
{
	if ((r->flags & ~DHT_REC_FLAGS) != 0)
		return DHT_ERR_MALFORMED;
	if ((r->flags & DHT_REC_TOMBSTONE) && r->value_len != 0)
		return DHT_ERR_MALFORMED;
	if (r->value_len > DHT_MAX_VALUE)
		return DHT_ERR_TOO_BIG;
	return DHT_OK;
}

/* Writes every field before the signature. */
static void
put_unsigned(struct byte_writer *w, const struct dht_record *r)
{
	bw_bytes(w, r->key.b, NODEID_LEN);
	bw_u32(w, r->kind);
	bw_u32(w, r->id);
	bw_u64(w, r->seq);
	bw_u64(w, r->expiry);
	bw_u8(w, r->flags);
	bw_bytes(w, r->owner, ID_PUBKEY_LEN);
	if (r->flags & DHT_REC_SECRET)
		bw_bytes(w, r->secret_hash, NODEID_LEN);
	bw_u16(w, r->value_len);
	bw_bytes(w, r->value, r->value_len);
}

/* The bytes the owner signs: the domain string, then every field before the signature.
 * r must pass check_form; buf holds SIGNED_MAX bytes. Returns their length. */
static size_t
signed_bytes(const struct dht_record *r, uint8_t *buf)
{
	struct byte_writer w = {.p = buf, .left = SIGNED_MAX};

	bw_bytes(&w, DHT_SIG_DOMAIN, SIG_DOMAIN_LEN);
	put_unsigned(&w, r);
	return w.full ? 0 : (size_t)(w.p - buf);
}

const char *
dht_reason_name(enum dht_reason r)
{
	switch (r) {
	case DHT_OK:
		return "ok";
	case DHT_ERR_MALFORMED:
		return "malformed";
	case DHT_ERR_SIGNATURE:
		return "bad signature";
	case DHT_ERR_EXPIRED:
		return "expired";
	case DHT_ERR_TTL:
		return "ttl too long";
	case DHT_ERR_TOO_BIG:
		return "value too big";
	case DHT_ERR_FOREIGN_OWNER:
		return "name owned by another key";
	case DHT_ERR_STALE:
		return "stale sequence number";
	case DHT_ERR_QUOTA:
		return "owner quota exceeded";
	case DHT_ERR_RATE:
		return "rate limited";
	case DHT_ERR_FULL:
		return "storage full";
	case DHT_ERR_INTERNAL:
		return "internal error";
	}
	return "unknown";
}

int
dht_record_sign(struct dht_record *r, const struct identity *ident)
{
	uint8_t buf[SIGNED_MAX];
	size_t n;

	if (r == NULL || ident == NULL || check_form(r) != DHT_OK ||
	    memcmp(ident->pub, r->owner, ID_PUBKEY_LEN) != 0)
		return -EINVAL;
	n = signed_bytes(r, buf);
	if (n == 0 || identity_sign(ident, buf, n, r->sig) != 0)
		return -EIO;
	return 0;
}

size_t
dht_record_size(const struct dht_record *r)
{
	return DHT_REC_FIXED + (r->flags & DHT_REC_SECRET ? NODEID_LEN : 0) + r->value_len;
}

int
dht_record_encode(const struct dht_record *r, uint8_t *buf, size_t len)
{
	struct byte_writer w = {.p = buf, .left = len < DHT_REC_MAX ? len : DHT_REC_MAX};

	if (r == NULL || check_form(r) != DHT_OK)
		return -EINVAL;
	if (buf == NULL)
		w.left = 0;
	put_unsigned(&w, r);
	bw_bytes(&w, r->sig, ID_SIG_LEN);
	if (w.full)
		return -EMSGSIZE;
	return (int)(w.p - buf);
}

int
dht_record_decode(struct dht_record *r, const uint8_t *buf, size_t len)
{
	struct byte_reader rd = {.p = buf, .left = len};

	memset(r, 0, sizeof(*r));
	if (buf == NULL || len < DHT_REC_FIXED || len > DHT_REC_MAX)
		return -EBADMSG;
	br_bytes(&rd, r->key.b, NODEID_LEN);
	r->kind = br_u32(&rd);
	r->id = br_u32(&rd);
	r->seq = br_u64(&rd);
	r->expiry = br_u64(&rd);
	r->flags = br_u8(&rd);
	br_bytes(&rd, r->owner, ID_PUBKEY_LEN);
	/* before anything that depends on the flags (checked after the fixed-size owner:
	 * gcc 12 -O2 otherwise gives a false -Warray-bounds in get_bytes) */
	if ((r->flags & ~DHT_REC_FLAGS) != 0)
		goto bad;
	if (r->flags & DHT_REC_SECRET)
		br_bytes(&rd, r->secret_hash, NODEID_LEN);
	r->value_len = br_u16(&rd);
	if (r->value_len > DHT_MAX_VALUE ||
	    ((r->flags & DHT_REC_TOMBSTONE) && r->value_len != 0))
		goto bad;
	br_bytes(&rd, r->value, r->value_len);
	br_bytes(&rd, r->sig, ID_SIG_LEN);
	if (rd.bad || rd.left != 0)
		goto bad;
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return -EBADMSG;
}

enum dht_reason
dht_record_check_time(const struct dht_record *r, uint64_t now)
{
	enum dht_reason why = check_form(r);

	if (why != DHT_OK)
		return why;
	if (r->expiry <= now)
		return DHT_ERR_EXPIRED;
	/* expiry > now, so the difference cannot wrap where now + bound could */
	if (r->expiry - now > (uint64_t)DHT_MAX_TTL_MS + DHT_CLOCK_SKEW_MS)
		return DHT_ERR_TTL;
	return DHT_OK;
}

enum dht_reason
dht_record_verify(const struct dht_record *r, uint64_t now)
{
	uint8_t buf[SIGNED_MAX];
	enum dht_reason why;
	size_t n;

	why = dht_record_check_time(r, now);
	if (why != DHT_OK)
		return why;
	n = signed_bytes(r, buf);
	if (n == 0)
		return DHT_ERR_INTERNAL;
	if (identity_verify(r->owner, ID_PUBKEY_LEN, buf, n, r->sig, ID_SIG_LEN) != 0)
		return DHT_ERR_SIGNATURE;
	return DHT_OK;
}

bool
dht_record_same_slot(const struct dht_record *a, const struct dht_record *b)
{
	return nodeid_eq(&a->key, &b->key) &&
	    memcmp(a->owner, b->owner, ID_PUBKEY_LEN) == 0 &&
	    a->kind == b->kind && a->id == b->id;
}

bool
dht_record_equal(const struct dht_record *a, const struct dht_record *b)
{
	size_t vlen = a->value_len < DHT_MAX_VALUE ? a->value_len : DHT_MAX_VALUE;

	if (!dht_record_same_slot(a, b) || a->seq != b->seq || a->expiry != b->expiry ||
	    a->flags != b->flags || a->value_len != b->value_len)
		return false;
	if ((a->flags & DHT_REC_SECRET) &&
	    memcmp(a->secret_hash, b->secret_hash, NODEID_LEN) != 0)
		return false;
	return memcmp(a->value, b->value, vlen) == 0 &&
	    memcmp(a->sig, b->sig, ID_SIG_LEN) == 0;
}
