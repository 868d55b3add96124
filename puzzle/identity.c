/* Node identities: Ed25519 keys through OpenSSL 3 EVP, puzzle solving with worker threads,
 * identity files and the text form used to move an identity between devices. */
#include "puzzle/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "puzzle/puzzle.h"

enum {
	PUZZLE_BLOCK_VERSION = 1,
	PUZZLE_BLOCK_LEN = 3 + NODEID_LEN,	/* version, c1, c2, nonce */
	DYNAMIC_CHUNK = 1 << 20,		/* nonces tried between progress reports */
	PROGRESS_NS = 100 * 1000 * 1000,
};

void
identity_free(struct identity *ident)
{
	if (ident == NULL)
		return;
	EVP_PKEY_free(ident->key);
	OPENSSL_cleanse(ident, sizeof(*ident));
	free(ident);
}

void
identity_free_secret(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

/* Wraps a private key (taking ownership) into an identity with pub and id filled in. */
static int
identity_wrap(struct identity **out, EVP_PKEY *key)
{
	struct identity *ident;
	size_t publen = ID_PUBKEY_LEN;
	int err;

	*out = NULL;
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return -EBADMSG;
	}
	ident = calloc(1, sizeof(*ident));
	if (ident == NULL) {
		EVP_PKEY_free(key);
		return -ENOMEM;
	}
	ident->key = key;
	if (!EVP_PKEY_get_raw_public_key(key, ident->pub, &publen) || publen != ID_PUBKEY_LEN) {
		identity_free(ident);
		return -EIO;
	}
	err = nodeid_sha1(&ident->id, ident->pub, ID_PUBKEY_LEN);
	if (err != 0) {
		identity_free(ident);
		return err;
	}
	*out = ident;
	return 0;
}

static int
identity_from_raw(struct identity **out, const uint8_t *seed)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, ID_SEED_LEN);

	*out = NULL;
	if (key == NULL)
		return -EIO;
	return identity_wrap(out, key);
}

/* Solves the dynamic puzzle for ident in chunks, reporting progress between them. */
static int
solve_dynamic(struct identity *ident, unsigned c2, const struct identity_solve *opts)
{
	struct nodeid x;
	uint64_t total = 0, n;
	int err;

	memset(&x, 0, sizeof(x));
	if (opts != NULL && opts->progress != NULL &&
	    opts->progress(opts->arg, ID_PHASE_DYNAMIC, 0) != 0)
		return -ECANCELED;
	for (;;) {
		err = puzzle_dynamic_solve(&ident->id, c2, DYNAMIC_CHUNK, &x, &n);
		total += n;
		if (err != -EAGAIN)
			break;
		if (opts != NULL && opts->progress != NULL &&
		    opts->progress(opts->arg, ID_PHASE_DYNAMIC, total) != 0)
			return -ECANCELED;
	}
	if (err != 0)
		return err;
	ident->nonce = x;
	ident->c2 = c2;
	if (opts != NULL && opts->progress != NULL)
		(void)opts->progress(opts->arg, ID_PHASE_DYNAMIC, total);
	return 0;
}

int
identity_from_seed(struct identity **out, const uint8_t seed[ID_SEED_LEN], unsigned c2)
{
	struct identity *ident;
	unsigned bits;
	int err;

	*out = NULL;
	if (c2 > PUZZLE_MAX_BITS)
		return -EINVAL;
	err = identity_from_raw(&ident, seed);
	if (err != 0)
		return err;
	bits = puzzle_static_bits(&ident->id);
	ident->c1 = bits > PUZZLE_MAX_BITS ? PUZZLE_MAX_BITS : bits;
	err = solve_dynamic(ident, c2, NULL);
	if (err != 0) {
		identity_free(ident);
		return err;
	}
	*out = ident;
	return 0;
}

/* The static puzzle is a search over key pairs; workers share this state. */
struct static_search {
	unsigned c1;
	atomic_uint_fast64_t attempts;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	unsigned running;		/* workers not yet finished, under lock */
	EVP_PKEY *found;		/* under lock */
	int err;			/* first worker error, under lock */
};

static void *
static_worker(void *arg)
{
	struct static_search *s = arg;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
	int err = 0;

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0)
		err = -EIO;
	while (err == 0 && !atomic_load(&s->stop)) {
		EVP_PKEY *key = NULL;
		uint8_t pub[ID_PUBKEY_LEN];
		size_t publen = sizeof(pub);
		struct nodeid id;

		if (EVP_PKEY_keygen(ctx, &key) <= 0 ||
		    !EVP_PKEY_get_raw_public_key(key, pub, &publen) || publen != ID_PUBKEY_LEN ||
		    nodeid_sha1(&id, pub, publen) != 0) {
			EVP_PKEY_free(key);
			err = -EIO;
			break;
		}
		atomic_fetch_add(&s->attempts, 1);
		if (!puzzle_static_ok(&id, s->c1)) {
			EVP_PKEY_free(key);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		if (s->found == NULL) {
			s->found = key;
			key = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		EVP_PKEY_free(key);
		atomic_store(&s->stop, true);
	}
	EVP_PKEY_CTX_free(ctx);
	pthread_mutex_lock(&s->lock);
	if (err != 0 && s->err == 0)
		s->err = err;
	if (err != 0)
		atomic_store(&s->stop, true);
	s->running--;
	pthread_cond_signal(&s->done_cv);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static unsigned
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > ID_SOLVE_MAX_THREADS ? ID_SOLVE_MAX_THREADS : (unsigned)n;
}

static int
solve_static(EVP_PKEY **found, const struct identity_solve *opts)
{
	struct static_search s;
	pthread_t tids[ID_SOLVE_MAX_THREADS];
	pthread_condattr_t ca;
	unsigned nthreads = opts->threads ? opts->threads : default_threads(), started = 0;
	int err = 0;

	memset(&s, 0, sizeof(s));
	s.c1 = opts->c1;
	atomic_init(&s.attempts, 0);
	atomic_init(&s.stop, false);
	pthread_mutex_init(&s.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.done_cv, &ca);
	pthread_condattr_destroy(&ca);

	if (opts->progress != NULL && opts->progress(opts->arg, ID_PHASE_STATIC, 0) != 0)
		err = -ECANCELED;
	pthread_mutex_lock(&s.lock);
	for (; err == 0 && started < nthreads; started++) {
		s.running++;
		if (pthread_create(&tids[started], NULL, static_worker, &s) != 0) {
			s.running--;
			break;
		}
	}
	if (err == 0 && started == 0)
		err = -EAGAIN;
	while (s.running > 0) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += PROGRESS_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s.done_cv, &s.lock, &until);
		if (s.running == 0 || opts->progress == NULL || atomic_load(&s.stop))
			continue;
		pthread_mutex_unlock(&s.lock);
		if (opts->progress(opts->arg, ID_PHASE_STATIC, atomic_load(&s.attempts)) != 0) {
			atomic_store(&s.stop, true);
			err = -ECANCELED;
		}
		pthread_mutex_lock(&s.lock);
	}
	pthread_mutex_unlock(&s.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	if (err == 0 && s.found == NULL)
		err = s.err ? s.err : -EIO;
	if (err == 0 && opts->progress != NULL)
		(void)opts->progress(opts->arg, ID_PHASE_STATIC, atomic_load(&s.attempts));
	if (err == 0)
		*found = s.found;
	else
		EVP_PKEY_free(s.found);
	pthread_cond_destroy(&s.done_cv);
	pthread_mutex_destroy(&s.lock);
	return err;
}

int
identity_create(struct identity **out, const struct identity_solve *opts)
{
	struct identity *ident;
	EVP_PKEY *key = NULL;
	int err;

	*out = NULL;
	if (opts == NULL || opts->c1 > PUZZLE_MAX_BITS || opts->c2 > PUZZLE_MAX_BITS ||
	    opts->threads > ID_SOLVE_MAX_THREADS)
		return -EINVAL;
	err = solve_static(&key, opts);
	if (err != 0)
		return err;
	err = identity_wrap(&ident, key);
	if (err != 0)
		return err;
	ident->c1 = opts->c1;
	err = solve_dynamic(ident, opts->c2, opts);
	if (err != 0) {
		identity_free(ident);
		return err;
	}
	*out = ident;
	return 0;
}

int
identity_sign(const struct identity *ident, const void *msg, size_t len, uint8_t *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = ID_SIG_LEN;
	int err = -EIO;

	if (ctx != NULL && EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, ident->key, NULL) > 0 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) > 0 && siglen == ID_SIG_LEN)
		err = 0;
	EVP_MD_CTX_free(ctx);
	return err;
}

int
identity_verify(const uint8_t *pub, size_t publen, const void *msg, size_t len,
    const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *key;
	EVP_MD_CTX *ctx;
	int err = -EBADMSG;

	if (pub == NULL || publen != ID_PUBKEY_LEN || sig == NULL || siglen != ID_SIG_LEN ||
	    (msg == NULL && len != 0))
		return -EINVAL;
	key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
	ctx = EVP_MD_CTX_new();
	if (key != NULL && ctx != NULL &&
	    EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) > 0 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
		err = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return err;
}

int
identity_check(const uint8_t *pub, size_t publen, const struct nodeid *id,
    const struct nodeid *nonce, unsigned c1, unsigned c2)
{
	struct nodeid h;

	if (pub == NULL || publen != ID_PUBKEY_LEN)
		return -EINVAL;
	if (nodeid_sha1(&h, pub, publen) != 0 || !nodeid_eq(&h, id))
		return -EKEYREJECTED;
	if (!puzzle_static_ok(id, c1) || !puzzle_dynamic_ok(id, nonce, c2))
		return -EKEYREJECTED;
	return 0;
}

/* Records the puzzle solution read from a file or text and checks the identity against
 * the difficulties it claims. */
static int
identity_set_puzzle(struct identity *ident, unsigned c1, unsigned c2, const uint8_t *nonce)
{
	ident->c1 = c1;
	ident->c2 = c2;
	memcpy(ident->nonce.b, nonce, NODEID_LEN);
	return identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce,
	    ident->c1, ident->c2);
}

int
identity_to_pem(const struct identity *ident, char **pem, size_t *len)
{
	uint8_t block[PUZZLE_BLOCK_LEN];
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int err = -EIO;

	*pem = NULL;
	*len = 0;
	if (bio == NULL)
		return -ENOMEM;
	block[0] = PUZZLE_BLOCK_VERSION;
	block[1] = (uint8_t)ident->c1;
	block[2] = (uint8_t)ident->c2;
	memcpy(block + 3, ident->nonce.b, NODEID_LEN);
	if (!PEM_write_bio_PrivateKey(bio, ident->key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio(bio, ID_PEM_PUZZLE, "", block, sizeof(block)))
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		goto out;
	*pem = malloc((size_t)n + 1);
	if (*pem == NULL) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	*len = (size_t)n;
	err = 0;
out:
	BIO_free(bio);
	return err;
}

/* Decodes the PKCS#8 DER of a "PRIVATE KEY" block, insisting that it is used up whole. */
static EVP_PKEY *
decode_private_key(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
	EVP_PKEY *key = NULL;

	if (p8 != NULL && p == der + len)
		key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return key;
}

int
identity_from_pem(struct identity **out, const char *pem, size_t len)
{
	BIO *bio;
	EVP_PKEY *key = NULL;
	uint8_t block[PUZZLE_BLOCK_LEN];
	bool have_block = false;
	struct identity *ident = NULL;
	int err = -EBADMSG;

	*out = NULL;
	if (pem == NULL)
		return -EINVAL;
	if (len > ID_FILE_MAX)
		return -EFBIG;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return -ENOMEM;
	ERR_clear_error();
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long dlen = 0;
		bool ok = false;

		if (!PEM_read_bio(bio, &name, &header, &data, &dlen))
			break;	/* no further block (or a broken one: caught below) */
		if (header[0] != '\0') {
			/* encrypted keys and other headers are not supported */
		} else if (strcmp(name, PEM_STRING_PKCS8INF) == 0 && key == NULL) {
			key = decode_private_key(data, dlen);
			ok = key != NULL;
		} else if (strcmp(name, ID_PEM_PUZZLE) == 0 && !have_block &&
		    dlen == PUZZLE_BLOCK_LEN && data[0] == PUZZLE_BLOCK_VERSION) {
			memcpy(block, data, PUZZLE_BLOCK_LEN);
			have_block = ok = true;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, dlen > 0 ? (size_t)dlen : 0);
		if (!ok)
			goto out;
	}
	/* Reading stops cleanly only where no further block starts; anything else is a
	 * broken block (missing end line, bad base64). */
	if (ERR_GET_LIB(ERR_peek_last_error()) != ERR_LIB_PEM ||
	    ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
		goto out;
	if (key == NULL || !have_block || block[1] > PUZZLE_MAX_BITS || block[2] > PUZZLE_MAX_BITS)
		goto out;
	err = identity_wrap(&ident, key);
	key = NULL;
	if (err != 0)
		goto out;
	err = identity_set_puzzle(ident, block[1], block[2], block + 3);
	if (err != 0)
		goto out;
	*out = ident;
	ident = NULL;
out:
	identity_free(ident);
	EVP_PKEY_free(key);
	BIO_free(bio);
	OPENSSL_cleanse(block, sizeof(block));
	ERR_clear_error();
	return err;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Directory part of path (for the temporary file and the directory fsync). */
static int
dir_of(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return snprintf(dir, dirlen, ".") < (int)dirlen ? 0 : -ENAMETOOLONG;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int
identity_save(const struct identity *ident, const char *path, bool overwrite)
{
	char dir[4096], tmp[4096 + 32];
	char *pem = NULL;
	size_t len = 0;
	int fd = -1, dfd, err;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	err = dir_of(path, dir, sizeof(dir));
	if (err != 0)
		return err;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.p2pns-id.XXXXXX", dir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	err = identity_to_pem(ident, &pem, &len);
	if (err != 0)
		return err;
	fd = mkstemp(tmp);	/* mode 0600 */
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = write_all(fd, pem, len);
	if (err == 0 && fsync(fd) != 0)
		err = -errno;
	if (close(fd) != 0 && err == 0)
		err = -errno;
	if (err == 0) {
		if (overwrite)
			err = rename(tmp, path) == 0 ? 0 : -errno;
		else
			err = link(tmp, path) == 0 ? 0 : -errno;
	}
	if (err != 0 || !overwrite)
		unlink(tmp);
	if (err == 0) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
out:
	identity_free_secret(pem, len);
	return err;
}

int
identity_load(struct identity **out, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, err = 0;

	*out = NULL;
	if (path == NULL)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		err = -EPERM;
		goto out;
	}
	if (st.st_size > ID_FILE_MAX) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc(ID_FILE_MAX + 1);
	if (buf == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, ID_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > ID_FILE_MAX) {
			err = -EFBIG;
			goto out;
		}
	}
	err = identity_from_pem(out, buf, len);
out:
	identity_free_secret(buf, ID_FILE_MAX + 1);
	close(fd);
	return err;
}

/* The export payload: c1, c2, seed, nonce, then the first 4 bytes of SHA-1 of those. */
static int
export_check(const uint8_t *payload, uint8_t *check)
{
	struct nodeid h;
	int err = nodeid_sha1(&h, payload, ID_EXPORT_PAYLOAD - 4);

	if (err == 0)
		memcpy(check, h.b, 4);
	return err;
}

int
identity_export(const struct identity *ident, char *out, size_t outlen)
{
	uint8_t payload[ID_EXPORT_PAYLOAD];
	size_t seedlen = ID_SEED_LEN;
	int err = -EIO;

	if (outlen < ID_EXPORT_SIZE)
		return -EINVAL;
	payload[0] = (uint8_t)ident->c1;
	payload[1] = (uint8_t)ident->c2;
	if (!EVP_PKEY_get_raw_private_key(ident->key, payload + 2, &seedlen) ||
	    seedlen != ID_SEED_LEN)
		goto out;
	memcpy(payload + 2 + ID_SEED_LEN, ident->nonce.b, NODEID_LEN);
	err = export_check(payload, payload + ID_EXPORT_PAYLOAD - 4);
	if (err != 0)
		goto out;
	memcpy(out, ID_EXPORT_PREFIX, sizeof(ID_EXPORT_PREFIX) - 1);
	hex_encode(out + sizeof(ID_EXPORT_PREFIX) - 1, payload, sizeof(payload));
out:
	OPENSSL_cleanse(payload, sizeof(payload));
	return err;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
identity_import(struct identity **out, const char *text, size_t len)
{
	const size_t plen = sizeof(ID_EXPORT_PREFIX) - 1;
	uint8_t payload[ID_EXPORT_PAYLOAD], check[4];
	struct identity *ident = NULL;
	int err = -EBADMSG;

	*out = NULL;
	if (text == NULL)
		return -EINVAL;
	while (len > 0 && is_space(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && is_space(text[len - 1]))
		len--;
	if (len != ID_EXPORT_SIZE - 1 || memcmp(text, ID_EXPORT_PREFIX, plen) != 0 ||
	    hex_decode(payload, sizeof(payload), text + plen, len - plen) != 0)
		goto out;
	if (export_check(payload, check) != 0 ||
	    CRYPTO_memcmp(check, payload + ID_EXPORT_PAYLOAD - 4, 4) != 0 ||
	    payload[0] > PUZZLE_MAX_BITS || payload[1] > PUZZLE_MAX_BITS)
		goto out;
	err = identity_from_raw(&ident, payload + 2);
	if (err != 0)
		goto out;
	err = identity_set_puzzle(ident, payload[0], payload[1], payload + 2 + ID_SEED_LEN);
	if (err != 0)
		goto out;
	*out = ident;
	ident = NULL;
out:
	identity_free(ident);
	OPENSSL_cleanse(payload, sizeof(payload));
	return err;
}

const char *
identity_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EBADMSG:
		return "malformed identity";
	case -EKEYREJECTED:
		return "node ID does not match the key or fails the crypto puzzles";
	case -EPERM:
		return "identity file must be a regular file owned by this user with mode 0600";
	case -EFBIG:
		return "identity file too large";
	case -ECANCELED:
		return "cancelled";
	default:
		return strerror(-err);
	}
}
