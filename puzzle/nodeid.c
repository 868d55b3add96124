/* Node IDs: comparison, XOR distance, leading zero bits, SHA-1 and hex. */
#include "puzzle/nodeid.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

/* SHA-1 fetched once: an implicit fetch per digest costs more than hashing a name. */
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;

static void
sha1_fetch(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

int
nodeid_sha1(struct nodeid *out, const void *data, size_t len)
{
	unsigned int n = 0;

	if (data == NULL && len != 0)
		return -EINVAL;
	if (pthread_once(&sha1_once, sha1_fetch) != 0 || sha1_md == NULL)
		return -EIO;
	if (!EVP_Digest(data, len, out->b, &n, sha1_md, NULL) || n != NODEID_LEN)
		return -EIO;
	return 0;
}

int
nodeid_cmp(const struct nodeid *a, const struct nodeid *b)
{
	return memcmp(a->b, b->b, NODEID_LEN);
}

bool
nodeid_eq(const struct nodeid *a, const struct nodeid *b)
{
	return memcmp(a->b, b->b, NODEID_LEN) == 0;
}

void
nodeid_xor(struct nodeid *out, const struct nodeid *a, const struct nodeid *b)
{
	for (size_t i = 0; i < NODEID_LEN; i++)
		out->b[i] = a->b[i] ^ b->b[i];
}

unsigned
nodeid_leading_zeros(const struct nodeid *id)
{
	unsigned n = 0;

	for (size_t i = 0; i < NODEID_LEN; i++) {
		uint8_t v = id->b[i];

		if (v == 0) {
			n += 8;
			continue;
		}
		while (!(v & 0x80)) {
			n++;
			v <<= 1;
		}
		break;
	}
	return n;
}

void
hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen)
{
	if (hex == NULL || outlen > SIZE_MAX / 2 || hexlen != 2 * outlen)
		return -EINVAL;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
nodeid_to_hex(const struct nodeid *id, char *out)
{
	hex_encode(out, id->b, NODEID_LEN);
}

int
nodeid_from_hex(struct nodeid *out, const char *hex, size_t len)
{
	struct nodeid tmp;
	int err = hex_decode(tmp.b, NODEID_LEN, hex, len);

	if (err == 0)
		*out = tmp;
	return err;
}
