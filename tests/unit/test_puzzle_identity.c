/* Tests for puzzle/identity.c: creation, signatures, puzzle checks, identity files and the
 * export text, including truncated, oversized, tampered and badly permitted inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "puzzle/identity.h"
#include "puzzle/puzzle.h"

struct fixture {
	struct identity *ident;		/* c1 = 8, c2 = 8 */
	char dir[64];
};

static int
setup(void **state)
{
	static struct fixture f;
	struct identity_solve opts = {.c1 = 8, .c2 = 8, .threads = 2};

	memset(&f, 0, sizeof(f));
	if (identity_create(&f.ident, &opts) != 0)
		return -1;
	snprintf(f.dir, sizeof(f.dir), "/tmp/p2pns-unit-XXXXXX");
	if (mkdtemp(f.dir) == NULL)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	identity_free(f->ident);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_in(const struct fixture *f, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", f->dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static void
same_identity(const struct identity *a, const struct identity *b)
{
	assert_memory_equal(a->pub, b->pub, ID_PUBKEY_LEN);
	assert_true(nodeid_eq(&a->id, &b->id));
	assert_true(nodeid_eq(&a->nonce, &b->nonce));
	assert_int_equal(a->c1, b->c1);
	assert_int_equal(a->c2, b->c2);
}

static void
create_meets_puzzles(void **state)
{
	struct fixture *f = *state;
	uint8_t h[SHA_DIGEST_LENGTH];

	/* node ID is SHA-1 of the raw public key, computed here independently */
	SHA1(f->ident->pub, ID_PUBKEY_LEN, h);
	assert_memory_equal(h, f->ident->id.b, NODEID_LEN);
	assert_true(puzzle_static_ok(&f->ident->id, 8));
	assert_true(puzzle_dynamic_ok(&f->ident->id, &f->ident->nonce, 8));
	assert_int_equal(identity_check(f->ident->pub, ID_PUBKEY_LEN, &f->ident->id,
	    &f->ident->nonce, 8, 8), 0);

	/* one thread and zero difficulties work too */
	for (unsigned c = 0; c <= 4; c += 2) {
		struct identity_solve opts = {.c1 = c, .c2 = c, .threads = 1};
		struct identity *ident;

		assert_int_equal(identity_create(&ident, &opts), 0);
		assert_int_equal(identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id,
		    &ident->nonce, c, c), 0);
		identity_free(ident);
	}
}

static void
create_rejects_bad_options(void **state)
{
	struct identity *ident = (struct identity *)1;
	struct identity_solve opts = {.c1 = PUZZLE_MAX_BITS + 1};

	(void)state;
	assert_int_equal(identity_create(&ident, &opts), -EINVAL);
	assert_null(ident);
	opts.c1 = 0;
	opts.c2 = PUZZLE_MAX_BITS + 1;
	assert_int_equal(identity_create(&ident, &opts), -EINVAL);
	opts.c2 = 0;
	opts.threads = ID_SOLVE_MAX_THREADS + 1;
	assert_int_equal(identity_create(&ident, &opts), -EINVAL);
	assert_int_equal(identity_create(&ident, NULL), -EINVAL);
}

static int
cancel_after(void *arg, enum identity_phase phase, uint64_t attempts)
{
	int *calls = arg;

	(void)phase;
	(void)attempts;
	return ++*calls >= 2;
}

static void
create_can_be_cancelled(void **state)
{
	struct identity_solve opts = {.c1 = 36, .c2 = 0, .threads = 2};
	struct identity *ident;
	int calls = 0;

	(void)state;
	opts.progress = cancel_after;
	opts.arg = &calls;
	/* c1 = 36 would take days: only the cancellation ends it */
	assert_int_equal(identity_create(&ident, &opts), -ECANCELED);
	assert_null(ident);
	assert_int_equal(calls, 2);
}

static void
sign_and_verify(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "register sip:alice@example.org";
	uint8_t sig[ID_SIG_LEN], bad[ID_SIG_LEN], pub[ID_PUBKEY_LEN];
	char tampered[sizeof(msg)];

	assert_int_equal(identity_sign(f->ident, msg, sizeof(msg), sig), 0);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig,
	    ID_SIG_LEN), 0);
	/* every single-bit change of the signature is refused */
	for (size_t bit = 0; bit < ID_SIG_LEN * 8; bit++) {
		memcpy(bad, sig, ID_SIG_LEN);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, msg, sizeof(msg),
		    bad, ID_SIG_LEN), -EBADMSG);
	}
	/* a changed message */
	memcpy(tampered, msg, sizeof(msg));
	tampered[9] ^= 1;
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, tampered, sizeof(msg), sig,
	    ID_SIG_LEN), -EBADMSG);
	/* a changed public key, in several places */
	for (size_t i = 0; i < ID_PUBKEY_LEN; i += 5) {
		memcpy(pub, f->ident->pub, ID_PUBKEY_LEN);
		pub[i] ^= 0x20;
		assert_int_equal(identity_verify(pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig,
		    ID_SIG_LEN), -EBADMSG);
	}
	/* truncated and oversized keys and signatures */
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN - 1, msg, sizeof(msg), sig,
	    ID_SIG_LEN), -EINVAL);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN + 1, msg, sizeof(msg), sig,
	    ID_SIG_LEN), -EINVAL);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig,
	    ID_SIG_LEN - 1), -EINVAL);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig,
	    ID_SIG_LEN + 1), -EINVAL);
	assert_int_equal(identity_verify(NULL, ID_PUBKEY_LEN, msg, sizeof(msg), sig, ID_SIG_LEN),
	    -EINVAL);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, NULL, 5, sig, ID_SIG_LEN),
	    -EINVAL);
	/* an empty message signs and verifies */
	assert_int_equal(identity_sign(f->ident, "", 0, sig), 0);
	assert_int_equal(identity_verify(f->ident->pub, ID_PUBKEY_LEN, "", 0, sig, ID_SIG_LEN), 0);
}

static void
check_rejects_tampering(void **state)
{
	struct fixture *f = *state;
	const struct identity *id = f->ident;
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid other, nonce;

	/* tampered public key: ID no longer matches */
	memcpy(pub, id->pub, ID_PUBKEY_LEN);
	pub[0] ^= 1;
	assert_int_equal(identity_check(pub, ID_PUBKEY_LEN, &id->id, &id->nonce, 8, 8),
	    -EKEYREJECTED);
	/* claimed ID that is not SHA-1 of the key */
	other = id->id;
	other.b[NODEID_LEN - 1] ^= 1;
	assert_int_equal(identity_check(id->pub, ID_PUBKEY_LEN, &other, &id->nonce, 8, 8),
	    -EKEYREJECTED);
	/* wrong nonce: the nonces before the solver's first solution all fail */
	nonce = id->nonce;
	if (nonce.b[NODEID_LEN - 1] > 0) {
		nonce.b[NODEID_LEN - 1]--;
		assert_int_equal(identity_check(id->pub, ID_PUBKEY_LEN, &id->id, &nonce, 8, 8),
		    -EKEYREJECTED);
	}
	/* puzzles asked harder than the ID meets */
	unsigned s = puzzle_static_bits(&id->id), d = puzzle_dynamic_bits(&id->id, &id->nonce);
	if (s < PUZZLE_MAX_BITS)
		assert_int_equal(identity_check(id->pub, ID_PUBKEY_LEN, &id->id, &id->nonce, s + 1,
		    0), -EKEYREJECTED);
	if (d < PUZZLE_MAX_BITS)
		assert_int_equal(identity_check(id->pub, ID_PUBKEY_LEN, &id->id, &id->nonce, 0,
		    d + 1), -EKEYREJECTED);
	assert_int_equal(identity_check(id->pub, ID_PUBKEY_LEN - 1, &id->id, &id->nonce, 0, 0),
	    -EINVAL);
}

static void
key_failing_c1_rejected(void **state)
{
	uint8_t seed[ID_SEED_LEN];
	struct identity *ident = NULL;

	(void)state;
	/* deterministic keys until one whose node ID has no static-puzzle bit at all */
	memset(seed, 0, sizeof(seed));
	for (unsigned i = 0; i < 64; i++) {
		seed[0] = (uint8_t)i;
		assert_int_equal(identity_from_seed(&ident, seed, 4), 0);
		if (puzzle_static_bits(&ident->id) == 0)
			break;
		identity_free(ident);
		ident = NULL;
	}
	assert_non_null(ident);
	assert_int_equal(ident->c1, 0);
	assert_int_equal(identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce,
	    0, 4), 0);
	assert_int_equal(identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce,
	    1, 4), -EKEYREJECTED);
	assert_int_equal(identity_check(ident->pub, ID_PUBKEY_LEN, &ident->id, &ident->nonce,
	    16, 4), -EKEYREJECTED);

	/* its PEM, claiming c1 = 16, is refused on load */
	char *pem;
	size_t len;
	struct identity *back;
	ident->c1 = 16;
	assert_int_equal(identity_to_pem(ident, &pem, &len), 0);
	assert_int_equal(identity_from_pem(&back, pem, len), -EKEYREJECTED);
	assert_null(back);
	identity_free_secret(pem, len);
	identity_free(ident);

	/* the same seed gives the same identity */
	struct identity *a, *b;
	assert_int_equal(identity_from_seed(&a, seed, 6), 0);
	assert_int_equal(identity_from_seed(&b, seed, 6), 0);
	same_identity(a, b);
	identity_free(a);
	identity_free(b);
}

static void
pem_round_trip(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	char *pem;
	size_t len;

	assert_int_equal(identity_to_pem(f->ident, &pem, &len), 0);
	assert_int_equal(strlen(pem), len);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(pem, "-----BEGIN " ID_PEM_PUZZLE "-----"));
	assert_int_equal(identity_from_pem(&back, pem, len), 0);
	same_identity(f->ident, back);
	identity_free(back);
	identity_free_secret(pem, len);
}

static void
pem_truncated_refused(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	char *pem, *end;
	size_t len, last_end;

	assert_int_equal(identity_to_pem(f->ident, &pem, &len), 0);
	end = strstr(pem, "-----END " ID_PEM_PUZZLE "-----");
	assert_non_null(end);
	last_end = (size_t)(end - pem) + strlen("-----END " ID_PEM_PUZZLE "-----");
	for (size_t n = 0; n < len; n++) {
		char *copy = malloc(n ? n : 1);
		int err;

		assert_non_null(copy);
		memcpy(copy, pem, n);	/* no NUL: the parser must respect the length */
		err = identity_from_pem(&back, copy, n);
		if (n < last_end) {
			assert_int_not_equal(err, 0);
			assert_null(back);
		} else {
			/* only the final newline is missing: still the same identity */
			assert_int_equal(err, 0);
			same_identity(f->ident, back);
			identity_free(back);
		}
		free(copy);
	}
	identity_free_secret(pem, len);
}

static void
pem_malformed_refused(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	char *pem, *buf;
	size_t len;
	char *puzzle;

	assert_int_equal(identity_to_pem(f->ident, &pem, &len), 0);
	buf = malloc(ID_FILE_MAX * 2 + 1);
	assert_non_null(buf);
	puzzle = strstr(pem, "-----BEGIN " ID_PEM_PUZZLE);
	assert_non_null(puzzle);

	/* oversized: a valid identity followed by padding past the limit */
	memset(buf, '\n', ID_FILE_MAX + 1);
	memcpy(buf, pem, len);
	assert_int_equal(identity_from_pem(&back, buf, ID_FILE_MAX + 1), -EFBIG);
	assert_int_equal(identity_from_pem(&back, buf, ID_FILE_MAX), 0);
	identity_free(back);

	/* empty, garbage, binary */
	assert_int_equal(identity_from_pem(&back, "", 0), -EBADMSG);
	assert_int_equal(identity_from_pem(&back, "hello\n", 6), -EBADMSG);
	for (size_t i = 0; i < 4096; i++)
		buf[i] = (char)((i * 7919) >> 3);
	assert_int_equal(identity_from_pem(&back, buf, 4096), -EBADMSG);
	assert_int_equal(identity_from_pem(&back, NULL, 5), -EINVAL);

	/* private key only, puzzle block only */
	assert_int_equal(identity_from_pem(&back, pem, (size_t)(puzzle - pem)), -EBADMSG);
	assert_int_equal(identity_from_pem(&back, puzzle, strlen(puzzle)), -EBADMSG);

	/* the puzzle block twice, the key twice */
	snprintf(buf, ID_FILE_MAX, "%s%s", pem, puzzle);
	assert_int_equal(identity_from_pem(&back, buf, strlen(buf)), -EBADMSG);
	snprintf(buf, ID_FILE_MAX, "%.*s%s", (int)(puzzle - pem), pem, pem);
	assert_int_equal(identity_from_pem(&back, buf, strlen(buf)), -EBADMSG);

	/* a broken block after a valid identity */
	snprintf(buf, ID_FILE_MAX, "%s-----BEGIN P2PNS PUZZLE-----\nAAAA\n", pem);
	assert_int_equal(identity_from_pem(&back, buf, strlen(buf)), -EBADMSG);

	/* an unknown block */
	snprintf(buf, ID_FILE_MAX, "%s-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	    pem);
	assert_int_equal(identity_from_pem(&back, buf, strlen(buf)), -EBADMSG);

	/* puzzle blocks of the wrong length, version and difficulty */
	uint8_t block[3 + NODEID_LEN + 1];
	memset(block, 0, sizeof(block));
	const struct {
		uint8_t version, c1, c2;
		size_t len;
	} cases[] = {
		{1, 8, 8, 3 + NODEID_LEN - 1},
		{1, 8, 8, 3 + NODEID_LEN + 1},
		{2, 8, 8, 3 + NODEID_LEN},
		{1, PUZZLE_MAX_BITS + 1, 8, 3 + NODEID_LEN},
		{1, 8, 200, 3 + NODEID_LEN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;

		block[0] = cases[i].version;
		block[1] = cases[i].c1;
		block[2] = cases[i].c2;
		memcpy(block + 3, f->ident->nonce.b, NODEID_LEN);
		assert_true(BIO_write(bio, pem, (int)(puzzle - pem)) > 0);
		assert_true(PEM_write_bio(bio, ID_PEM_PUZZLE, "", block, (long)cases[i].len));
		n = BIO_get_mem_data(bio, &data);
		assert_int_equal(identity_from_pem(&back, data, (size_t)n), -EBADMSG);
		BIO_free(bio);
	}

	/* an Ed448 key in place of the Ed25519 key */
	EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	assert_non_null(ed448);
	assert_true(PEM_write_bio_PrivateKey(bio, ed448, NULL, NULL, 0, NULL, NULL));
	assert_true(BIO_puts(bio, puzzle) > 0);
	n = BIO_get_mem_data(bio, &data);
	assert_int_equal(identity_from_pem(&back, data, (size_t)n), -EBADMSG);
	BIO_free(bio);
	EVP_PKEY_free(ed448);

	/* a puzzle block that belongs to another identity (wrong nonce) */
	struct identity_solve opts = {.c1 = 0, .c2 = 12, .threads = 1};
	struct identity *other;
	char *opem, *opuzzle;
	size_t olen;
	assert_int_equal(identity_create(&other, &opts), 0);
	assert_int_equal(identity_to_pem(other, &opem, &olen), 0);
	opuzzle = strstr(opem, "-----BEGIN " ID_PEM_PUZZLE);
	snprintf(buf, ID_FILE_MAX, "%.*s%s", (int)(puzzle - pem), pem, opuzzle);
	int err = identity_from_pem(&back, buf, strlen(buf));
	/* fails unless the foreign nonce happens to solve this ID's puzzle for c2 = 12 */
	if (!puzzle_dynamic_ok(&f->ident->id, &other->nonce, 12))
		assert_int_equal(err, -EKEYREJECTED);
	else
		identity_free(back);
	identity_free_secret(opem, olen);
	identity_free(other);

	free(buf);
	identity_free_secret(pem, len);
}

static void
files_saved_0600_and_permissions_checked(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	struct stat st;
	char path[128], link_path[128], sub[128];

	path_in(f, "node.pem", path, sizeof(path));
	assert_int_equal(identity_save(f->ident, path, false), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(identity_load(&back, path), 0);
	same_identity(f->ident, back);
	identity_free(back);

	/* no overwrite unless asked */
	assert_int_equal(identity_save(f->ident, path, false), -EEXIST);
	assert_int_equal(identity_save(f->ident, path, true), 0);

	/* group or other access refused, owner-only read-only accepted */
	static const mode_t bad_modes[] = {0644, 0640, 0604, 0620, 0602, 0660, 0666, 0700 | 077};
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		assert_int_equal(chmod(path, bad_modes[i]), 0);
		back = (struct identity *)1;
		assert_int_equal(identity_load(&back, path), -EPERM);
		assert_null(back);
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(identity_load(&back, path), 0);
	identity_free(back);
	assert_int_equal(chmod(path, 0600), 0);

	/* not a regular file, a symbolic link, missing */
	path_in(f, "subdir", sub, sizeof(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(identity_load(&back, sub), -EPERM);
	path_in(f, "link.pem", link_path, sizeof(link_path));
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(identity_load(&back, link_path), -ELOOP);
	path_in(f, "missing.pem", link_path, sizeof(link_path));
	assert_int_equal(identity_load(&back, link_path), -ENOENT);
	assert_int_equal(identity_save(f->ident, "/nonexistent-dir/x.pem", false), -ENOENT);

	/* an oversized file */
	path_in(f, "big.pem", sub, sizeof(sub));
	FILE *fp = fopen(sub, "w");
	assert_non_null(fp);
	for (int i = 0; i <= ID_FILE_MAX; i++)
		fputc('\n', fp);
	fclose(fp);
	assert_int_equal(chmod(sub, 0600), 0);
	assert_int_equal(identity_load(&back, sub), -EFBIG);
}

static void
export_import_round_trip(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	char text[ID_EXPORT_SIZE], padded[ID_EXPORT_SIZE + 8];

	assert_int_equal(identity_export(f->ident, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), ID_EXPORT_SIZE - 1);
	assert_int_equal(strncmp(text, ID_EXPORT_PREFIX, strlen(ID_EXPORT_PREFIX)), 0);
	assert_int_equal(identity_import(&back, text, strlen(text)), 0);
	same_identity(f->ident, back);
	identity_free(back);
	/* surrounding white space, as a pasted line has */
	snprintf(padded, sizeof(padded), "  %s\r\n", text);
	assert_int_equal(identity_import(&back, padded, strlen(padded)), 0);
	same_identity(f->ident, back);
	identity_free(back);
	assert_int_equal(identity_export(f->ident, text, ID_EXPORT_SIZE - 1), -EINVAL);
}

static void
import_rejects_damage(void **state)
{
	struct fixture *f = *state;
	struct identity *back;
	char text[ID_EXPORT_SIZE], bad[2 * ID_EXPORT_SIZE];
	size_t len;

	assert_int_equal(identity_export(f->ident, text, sizeof(text)), 0);
	len = strlen(text);
	/* every truncation */
	for (size_t n = 0; n < len; n++) {
		assert_int_equal(identity_import(&back, text, n), -EBADMSG);
		assert_null(back);
	}
	/* too long */
	snprintf(bad, sizeof(bad), "%s0", text);
	assert_int_equal(identity_import(&back, bad, strlen(bad)), -EBADMSG);
	snprintf(bad, sizeof(bad), "%s%s", text, text);
	assert_int_equal(identity_import(&back, bad, strlen(bad)), -EBADMSG);
	/* every single changed character (typos): the check sum or the syntax catches it */
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, text, len + 1);
		bad[i] = bad[i] == '7' ? '8' : '7';
		assert_int_not_equal(identity_import(&back, bad, len), 0);
		assert_null(back);
	}
	assert_int_equal(identity_import(&back, NULL, 3), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_meets_puzzles),
		cmocka_unit_test(create_rejects_bad_options),
		cmocka_unit_test(create_can_be_cancelled),
		cmocka_unit_test(sign_and_verify),
		cmocka_unit_test(check_rejects_tampering),
		cmocka_unit_test(key_failing_c1_rejected),
		cmocka_unit_test(pem_round_trip),
		cmocka_unit_test(pem_truncated_refused),
		cmocka_unit_test(pem_malformed_refused),
		cmocka_unit_test(files_saved_0600_and_permissions_checked),
		cmocka_unit_test(export_import_round_trip),
		cmocka_unit_test(import_rejects_damage),
	};

	return cmocka_run_group_tests_name("puzzle/identity", tests, setup, teardown);
}
