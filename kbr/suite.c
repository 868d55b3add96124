/* The session cipher suite over OpenSSL 3 EVP; see kbr/suite.h. */
#include "kbr/suite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

struct suite_aead {
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *seal, *open;
};

struct suite_aead *
suite_aead_new(void)
{
	struct suite_aead *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	a->seal = EVP_CIPHER_CTX_new();
	a->open = EVP_CIPHER_CTX_new();
	if (a->cipher == NULL || a->seal == NULL || a->open == NULL ||
	    EVP_EncryptInit_ex2(a->seal, a->cipher, NULL, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(a->open, a->cipher, NULL, NULL, NULL) != 1) {
		suite_aead_free(a);
		return NULL;
	}
	return a;
}

void
suite_aead_free(struct suite_aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->seal);
	EVP_CIPHER_CTX_free(a->open);
	EVP_CIPHER_free(a->cipher);
	free(a);
}

static void
nonce_of(uint64_t counter, uint8_t iv[12])
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

int
suite_seal(struct suite_aead *a, const uint8_t key[SUITE_KEY_LEN], uint64_t counter,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[12];
	int n, fin;

	nonce_of(counter, iv);
	if (len > 0x7fffffff || aadlen > 0x7fffffff ||
	    EVP_EncryptInit_ex2(a->seal, NULL, key, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(a->seal, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(a->seal, out, &n, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(a->seal, out + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->seal, EVP_CTRL_AEAD_GET_TAG, SUITE_TAG_LEN, out + len) != 1)
		return -EIO;
	return 0;
}

int
suite_open(struct suite_aead *a, const uint8_t key[SUITE_KEY_LEN], uint64_t counter,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[12], tag[SUITE_TAG_LEN];
	int n, fin;

	nonce_of(counter, iv);
	memcpy(tag, in + len, SUITE_TAG_LEN);
	if (len > 0x7fffffff || aadlen > 0x7fffffff ||
	    EVP_DecryptInit_ex2(a->open, NULL, key, iv, NULL) != 1 ||
	    EVP_DecryptUpdate(a->open, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(a->open, out, &n, in, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->open, EVP_CTRL_AEAD_SET_TAG, SUITE_TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(a->open, out + n, &fin) != 1) {
		suite_wipe(out, len);
		return -EBADMSG;
	}
	return 0;
}

int
suite_x25519_public(const uint8_t priv[SUITE_X25519_LEN], uint8_t pub[SUITE_X25519_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
	    SUITE_X25519_LEN);
	size_t n = SUITE_X25519_LEN;
	int err = 0;

	if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != SUITE_X25519_LEN)
		err = -EIO;
	EVP_PKEY_free(k);
	return err;
}

int
suite_x25519_shared(const uint8_t priv[SUITE_X25519_LEN],
    const uint8_t peer[SUITE_X25519_LEN], uint8_t out[SUITE_X25519_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
	    SUITE_X25519_LEN);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer,
	    SUITE_X25519_LEN);
	EVP_PKEY_CTX *c = k != NULL ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t n = SUITE_X25519_LEN;
	int err = 0;

	/* OpenSSL refuses a derivation whose result is all zeros (a low-order peer key) */
	if (p == NULL || c == NULL || EVP_PKEY_derive_init(c) != 1 ||
	    EVP_PKEY_derive_set_peer(c, p) != 1 || EVP_PKEY_derive(c, out, &n) != 1 ||
	    n != SUITE_X25519_LEN)
		err = -EIO;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	if (err != 0)
		suite_wipe(out, SUITE_X25519_LEN);
	return err;
}

int
suite_hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int err = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm,
	    ikmlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)(uintptr_t)salt, saltlen);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)(uintptr_t)info, infolen);
	params[4] = OSSL_PARAM_construct_end();
	if (c == NULL || EVP_KDF_derive(c, out, outlen, params) != 1)
		err = -EIO;
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return err;
}

void
suite_sha256(const void *a, size_t alen, const void *b, size_t blen, const void *c,
    size_t clen, uint8_t out[SUITE_SHA256_LEN])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned n = 0;

	if (m == NULL || EVP_DigestInit_ex2(m, EVP_sha256(), NULL) != 1 ||
	    (alen > 0 && EVP_DigestUpdate(m, a, alen) != 1) ||
	    (blen > 0 && EVP_DigestUpdate(m, b, blen) != 1) ||
	    (clen > 0 && EVP_DigestUpdate(m, c, clen) != 1) ||
	    EVP_DigestFinal_ex(m, out, &n) != 1)
		memset(out, 0, SUITE_SHA256_LEN);	/* out of memory: no digest matches */
	EVP_MD_CTX_free(m);
}

void
suite_hmac(const uint8_t *key, size_t keylen, const void *data, size_t len, uint8_t *out,
    size_t outlen)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (keylen > 0x7fffffff ||
	    HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &n) == NULL || n < outlen)
		memset(md, 0, sizeof(md));
	memcpy(out, md, outlen);
	suite_wipe(md, sizeof(md));
}

bool
suite_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void
suite_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
