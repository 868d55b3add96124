/* The session cipher suite, all of it OpenSSL 3 EVP: X25519 key agreement, HKDF-SHA256,
 * ChaCha20-Poly1305 and SHA-256. Nothing here is crypto of our own. */
#ifndef P2PNS_KBR_SUITE_H
#define P2PNS_KBR_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	SUITE_X25519_LEN = 32,
	SUITE_KEY_LEN = 32,
	SUITE_TAG_LEN = 16,
	SUITE_SHA256_LEN = 32,
};

/* An AEAD context pair (one to seal, one to open), set up once and re-keyed per message. */
struct suite_aead;

struct suite_aead *suite_aead_new(void);
void suite_aead_free(struct suite_aead *a);

/* ChaCha20-Poly1305 with the 12-byte nonce 0 0 0 0 || counter (big-endian). out gets len
 * bytes of ciphertext and then the tag. Returns 0 or -EIO. */
int suite_seal(struct suite_aead *a, const uint8_t key[SUITE_KEY_LEN], uint64_t counter,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);
/* Opens len bytes of ciphertext followed by the tag into out (len bytes). Returns 0, or
 * -EBADMSG when the tag does not verify (out is then wiped). */
int suite_open(struct suite_aead *a, const uint8_t key[SUITE_KEY_LEN], uint64_t counter,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);

/* The X25519 public key of a raw private key. Returns 0 or -EIO. */
int suite_x25519_public(const uint8_t priv[SUITE_X25519_LEN], uint8_t pub[SUITE_X25519_LEN]);
/* The shared secret; -EIO also for a peer key that gives the all-zero secret. */
int suite_x25519_shared(const uint8_t priv[SUITE_X25519_LEN],
    const uint8_t peer[SUITE_X25519_LEN], uint8_t out[SUITE_X25519_LEN]);

/* HKDF-SHA256 (RFC 5869) extract-and-expand into outlen bytes. Returns 0 or -EIO. */
int suite_hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* SHA-256 of the concatenation of up to three parts (a part may be NULL with length 0). */
void suite_sha256(const void *a, size_t alen, const void *b, size_t blen, const void *c,
    size_t clen, uint8_t out[SUITE_SHA256_LEN]);

/* HMAC-SHA256 of data under key, truncated to outlen (at most 32) bytes. */
void suite_hmac(const uint8_t *key, size_t keylen, const void *data, size_t len, uint8_t *out,
    size_t outlen);

/* Constant-time comparison. */
bool suite_equal(const void *a, const void *b, size_t len);
/* Wipes secrets so that the compiler cannot drop it. */
void suite_wipe(void *p, size_t len);

#endif
