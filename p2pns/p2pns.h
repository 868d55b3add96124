/* The P2PNS core: register and resolve names over the DHT, with the name cache in front and
 * two-stage resolution (name -> node ID in the DHT, node ID -> current address through a
 * KBR lookup). Also the OpenDHT-style value operations (put, put with a removal secret,
 * get, rm) that share the same keys: every name or key is mapped to SHA-1 of its bytes.
 *
 * Sans-I/O like the layers below, except for the keystore: the identity that owns a name
 * on this node is the node's own, or, with a keystore directory, a per-name Ed25519
 * identity in KEYSTORE/<SHA-1 of the name in hex>.pem (mode 0600), created on the first
 * registration of the name (leap of faith) and used for every later write of it.
 *
 * Records: register(name, kind, id, address, ttl) stores a record of that kind and id under
 * SHA-1(name) whose value is the address bytes as given. An address "self" or "self:PORT"
 * is stored as the two-stage value "node:<40 hex digits of this node's ID>[:PORT]"; any
 * value of exactly that form resolves (stage 2) to the node's current address: the IP
 * alone, or "IP:PORT" ("[IPv6]:PORT") with the record's port. Values put with p2pns_put
 * are records of kind P2PNS_KIND_VALUE with id = the first 4 bytes of SHA-1(value), big
 * endian; resolve never returns them and get returns only them.
 *
 * Callbacks run from a kbr_input / kbr_tick (through the DHT), or before the starting call
 * returns (cache hits, errors found at once, a one-node overlay). After every call that
 * starts an operation the caller must run the KBR and DHT timers (p2pnsd_kick). */
#ifndef P2PNS_P2PNS_P2PNS_H
#define P2PNS_P2PNS_P2PNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"
#include "kbr/kbr.h"
#include "namecache/namecache.h"
#include "puzzle/identity.h"

enum {
	P2PNS_KIND_VALUE = 0x10000,	/* put/get values; register kinds are 1..65535 */
	P2PNS_MAX_KIND = 65535,
	P2PNS_MAX_NAME = 1024,		/* bytes of a name or key */
	P2PNS_MAX_RESULTS = DHT_VOTE_MAX_RECORDS,
	P2PNS_MAX_STAGE2 = 4,		/* node IDs looked up for one resolve */
	P2PNS_TOMBSTONE_TTL_S = 24 * 3600,	/* how long a removal is kept */
	P2PNS_MAX_OPS = 512,		/* operations in flight */
};

struct p2pns_params {
	size_t cache_names;		/* name cache entries (0: no caching of names) */
	size_t cache_addrs;		/* node address cache entries (0: none) */
	uint64_t cache_ttl_ms;		/* longest life of a cached name (also bounded by the records) */
	uint64_t negative_ttl_ms;	/* life of a "not found" entry */
	uint64_t addr_ttl_ms;		/* life of a node ID -> address entry */
	const char *keystore_dir;	/* per-name identities; NULL: the node's identity signs */
	struct kbr_addr self_addr;	/* this node's address for two-stage values naming it,
					 * when no peer has told it the address it is seen at */
};
void p2pns_params_default(struct p2pns_params *p);	/* 10000, 10000, 60 s, 5 s, 30 s */

/* Outcome of an operation (stable: the RPC layer maps them to faults). */
enum p2pns_status {
	P2PNS_OK = 0,
	P2PNS_NOT_FOUND,		/* no live record of the name (of that kind) */
	P2PNS_REFUSED,			/* replicas refused it: reason tells why */
	P2PNS_NOT_OWNER,		/* this node holds no key for the name (unregister, rm) */
	P2PNS_BAD_SECRET,		/* rm: the secret does not match the record's hash */
	P2PNS_CONFLICT,			/* replicas disagree without a majority */
	P2PNS_FAILED,			/* no majority answered, lookup failed, node unreachable */
	P2PNS_BUSY,			/* too many operations in flight */
	P2PNS_INVALID,			/* bad argument (size, kind, TTL) */
	P2PNS_INTERNAL,			/* keystore or signing failure */
};
const char *p2pns_status_name(enum p2pns_status st);

struct p2pns;

/* kbr, dht and node are borrowed and must outlive it. Returns NULL on bad parameters, an
 * unusable keystore directory (created with mode 0700 if missing) or without memory. */
struct p2pns *p2pns_new(struct kbr *kbr, struct dht *dht, const struct identity *node,
    const struct p2pns_params *p);
/* Pending operations are dropped without their callbacks. */
void p2pns_free(struct p2pns *ns);

/* Writes: status P2PNS_OK when a majority of the replicas stored the record; reason is
 * the replicas' refusal for P2PNS_REFUSED (DHT_ERR_FOREIGN_OWNER: another key owns it). */
typedef void (*p2pns_write_cb)(void *arg, enum p2pns_status st, enum dht_reason reason);

/* Registers (name, kind 1..65535, id) -> address for ttl_s seconds (1..one week), signed
 * by the name's identity on this node and re-published by this node until it expires.
 * Invalidates the cached entry of the name. Returns 0 (cb will be called) or a negative
 * errno with cb not called: -EINVAL (bad argument), -EPERM (keystore), -EDQUOT (no room on
 * the disk for the name's new key), -EBUSY, -ENOSPC (too many published), -ENOMEM. */
int p2pns_register(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, uint32_t id, const uint8_t *addr, size_t addr_len, uint32_t ttl_s,
    p2pns_write_cb cb, void *arg);
/* Removes (name, kind, id) with a signed tombstone; P2PNS_NOT_OWNER (through cb) if this
 * node holds no identity for the name. */
int p2pns_unregister(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, uint32_t id, p2pns_write_cb cb, void *arg);

struct p2pns_result {
	uint32_t kind, id;
	uint64_t expiry;		/* ms since the Unix epoch */
	bool two_stage;			/* address came from stage 2 */
	uint16_t len;
	uint8_t addr[DHT_MAX_VALUE];	/* the address (stage 2: "IP" or "IP:PORT") */
};
/* P2PNS_OK with n >= 1 results, sorted by (kind, id); P2PNS_NOT_FOUND; or a failure. */
typedef void (*p2pns_resolve_cb)(void *arg, enum p2pns_status st,
    const struct p2pns_result *res, size_t n);
/* Resolves name's live records of kind (0: every kind 1..65535). Two-stage values whose
 * node cannot be found are left out (P2PNS_FAILED if nothing else is left). */
int p2pns_resolve(struct p2pns *ns, uint64_t now, const uint8_t *name, size_t name_len,
    uint32_t kind, p2pns_resolve_cb cb, void *arg);

/* OpenDHT-style values under SHA-1(key). secret_hash (20 bytes) may be NULL; with it the
 * value can later be removed with p2pns_rm by whoever knows the secret (through the node
 * holding the owner's key). */
int p2pns_put(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len, uint32_t ttl_s, const uint8_t *secret_hash,
    p2pns_write_cb cb, void *arg);
/* Removes the value whose SHA-1 is value_hash if SHA-1(secret) matches its secret hash.
 * A value that is not there is removed already: P2PNS_OK. */
int p2pns_rm(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    const uint8_t value_hash[20], const uint8_t *secret, size_t secret_len,
    p2pns_write_cb cb, void *arg);
/* P2PNS_OK with the live values (records of kind P2PNS_KIND_VALUE, sorted by id), or
 * P2PNS_NOT_FOUND, or a failure. */
typedef void (*p2pns_get_cb)(void *arg, enum p2pns_status st, const struct dht_record *vals,
    size_t n);
int p2pns_get(struct p2pns *ns, uint64_t now, const uint8_t *key, size_t key_len,
    p2pns_get_cb cb, void *arg);

struct p2pns_stats {
	uint64_t registers, unregisters, resolves, resolves_found, resolves_cached;
	uint64_t stage2_lookups, stage2_failed, puts, gets, rms;
	struct nc_stats cache;
	size_t cached_names, cached_addrs;
	size_t keys;			/* per-name identities loaded */
};
void p2pns_get_stats(const struct p2pns *ns, struct p2pns_stats *st);

#endif
