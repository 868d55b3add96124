/* Helpers of the fuzz harnesses: identities and records made once from fixed seeds, the
 * addresses, deterministic randomness and the check that turns a broken invariant into a crash. */
#include "tests/fuzz/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct identity *self_id, *peers[FUZZ_PEERS], *owners[FUZZ_OWNERS];
static struct dht_record records[FUZZ_RECORDS];
static bool ready;

void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant does not hold: %s\n", file, line, what);
	abort();
}

static struct identity *
make_identity(uint8_t tag)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *id;

	memset(seed, tag, sizeof(seed));
	if (identity_from_seed(&id, seed, 0) != 0)
		fuzz_fail(__FILE__, __LINE__, "identity_from_seed");
	return id;
}

void
fuzz_record_init(struct dht_record *r, unsigned o, uint32_t kind, uint32_t id, uint64_t seq,
    uint64_t expiry, const char *value)
{
	memset(r, 0, sizeof(*r));
	if (nodeid_sha1(&r->key, FUZZ_NAME, strlen(FUZZ_NAME)) != 0)
		fuzz_fail(__FILE__, __LINE__, "nodeid_sha1");
	r->kind = kind;
	r->id = id;
	r->seq = seq;
	r->expiry = expiry;
	memcpy(r->owner, owners[o % FUZZ_OWNERS]->pub, ID_PUBKEY_LEN);
	if (value != NULL) {
		r->value_len = (uint16_t)strlen(value);
		memcpy(r->value, value, r->value_len);
	}
}

void
fuzz_setup(void)
{
	if (ready)
		return;
	self_id = make_identity(0x51);
	for (unsigned i = 0; i < FUZZ_PEERS; i++)
		peers[i] = make_identity((uint8_t)(0x60 + i));
	for (unsigned i = 0; i < FUZZ_OWNERS; i++)
		owners[i] = make_identity((uint8_t)(0x70 + i));
	fuzz_record_init(&records[0], 0, 33, 0, 1, FUZZ_T0 + FUZZ_RECORD_TTL_MS,
	    "192.0.2.7:5060");
	fuzz_record_init(&records[1], 0, 33, 1, 1, FUZZ_T0 + FUZZ_RECORD_TTL_MS, NULL);
	records[1].value_len = FUZZ_BIG_VALUE;
	for (unsigned i = 0; i < FUZZ_BIG_VALUE; i++)
		records[1].value[i] = (uint8_t)('a' + i % 26);
	for (unsigned i = 0; i < FUZZ_RECORDS; i++)
		if (dht_record_sign(&records[i], owners[0]) != 0)
			fuzz_fail(__FILE__, __LINE__, "dht_record_sign");
	ready = true;
}

const struct identity *
fuzz_self(void)
{
	return self_id;
}

const struct identity *
fuzz_peer(unsigned i)
{
	return peers[i % FUZZ_PEERS];
}

const struct identity *
fuzz_owner(unsigned i)
{
	return owners[i % FUZZ_OWNERS];
}

const struct dht_record *
fuzz_record(unsigned i)
{
	return &records[i % FUZZ_RECORDS];
}

static void
parse(const char *s, struct kbr_addr *out)
{
	if (kbr_addr_parse(out, s) != 0)
		fuzz_fail(__FILE__, __LINE__, "kbr_addr_parse");
}

void
fuzz_peer_addr(unsigned i, struct kbr_addr *out)
{
	static const char *const addrs[FUZZ_PEERS] = {
		"192.0.2.1:3631", "192.0.2.2:3631", "[2001:db8::3]:3631", "198.51.100.4:3631",
	};

	parse(addrs[i % FUZZ_PEERS], out);
}

void
fuzz_alt_addr(unsigned i, struct kbr_addr *out)
{
	static const char *const addrs[FUZZ_PEERS] = {
		"192.0.2.1:50000", "203.0.113.2:3631", "[2001:db8::1:3]:3631",
		"198.51.100.4:50003",
	};

	parse(addrs[i % FUZZ_PEERS], out);
}

void
fuzz_victim_addr(unsigned i, struct kbr_addr *out)
{
	static const char *const addrs[FUZZ_PEERS] = {
		"203.0.113.66:53", "[2001:db8::66]:123", "192.0.2.99:3631", "198.51.100.99:3631",
	};

	parse(addrs[i % FUZZ_PEERS], out);
}

void
fuzz_self_addr(struct kbr_addr *out)
{
	parse("192.0.2.10:3631", out);
}

int
fuzz_peer_of(const struct kbr_addr *a)
{
	struct kbr_addr p;

	for (unsigned i = 0; i < FUZZ_PEERS; i++) {
		fuzz_peer_addr(i, &p);
		if (kbr_addr_eq(a, &p))
			return (int)i;
		fuzz_alt_addr(i, &p);
		if (kbr_addr_eq(a, &p))
			return (int)i;
	}
	return -1;
}

void
fuzz_trace(const char *fmt, ...)
{
	static int on = -1;
	va_list ap;

	if (on < 0)
		on = getenv("FUZZ_TRACE") != NULL;
	if (!on)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
fuzz_trace_dgram(const char *what, const struct kbr_addr *from, const struct kbr_addr *to,
    const uint8_t *buf, size_t len)
{
	char f[KBR_ADDR_STRLEN], t[KBR_ADDR_STRLEN];
	static const char *const names[] = {
		"?", "HELLO", "IDENTITY", "HS_INIT", "HS_RESP", "COOKIE", "DATA",
	};
	unsigned type = len >= 2 && buf[1] <= 6 ? buf[1] : 0;

	kbr_addr_format(from, f, sizeof(f));
	kbr_addr_format(to, t, sizeof(t));
	fuzz_trace("%s %s -> %s %s len %zu idx %08x%s%llu", what, f, t, names[type], len,
	    len >= 8 ? (unsigned)buf[4] << 24 | (unsigned)buf[5] << 16 | buf[6] << 8 | buf[7] : 0,
	    type == 6 ? " ctr " : " ", type == 6 && len >= 16 ?
	    (unsigned long long)fuzz_get64(buf + 8) : 0ULL);
}

void
fuzz_random(void *arg, void *buf, size_t len)
{
	struct fuzz_rng *rng = arg;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t z = (rng->s += UINT64_C(0x9e3779b97f4a7c15));

		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		z ^= z >> 31;
		memcpy(p + i, &z, len - i < 8 ? len - i : 8);
	}
}

void
fuzz_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
fuzz_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t
fuzz_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}
