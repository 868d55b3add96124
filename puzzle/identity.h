/* Node identities: an Ed25519 key pair, node_id = SHA-1(public key), and the solution of the
 * dynamic puzzle. Creation (solving both puzzles), signing, verification, identity files
 * (PEM, mode 0600) and a one-line text form for moving an identity between devices. */
#ifndef P2PNS_PUZZLE_IDENTITY_H
#define P2PNS_PUZZLE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "puzzle/nodeid.h"

enum {
	ID_PUBKEY_LEN = 32,		/* raw Ed25519 public key */
	ID_SEED_LEN = 32,		/* raw Ed25519 private key */
	ID_SIG_LEN = 64,		/* Ed25519 signature */
	ID_FILE_MAX = 16 * 1024,	/* largest identity file we read */
	ID_SOLVE_MAX_THREADS = 64,
	/* "p2pns-identity-1:" + hex(c1, c2, seed, nonce, 4-byte check) + NUL */
	ID_EXPORT_PAYLOAD = 2 + ID_SEED_LEN + NODEID_LEN + 4,
	ID_EXPORT_SIZE = 17 + 2 * ID_EXPORT_PAYLOAD + 1,
};

#define ID_EXPORT_PREFIX "p2pns-identity-1:"
#define ID_PEM_PUZZLE "P2PNS PUZZLE"

struct evp_pkey_st;

struct identity {
	struct evp_pkey_st *key;	/* private and public key */
	uint8_t pub[ID_PUBKEY_LEN];
	struct nodeid id;		/* SHA-1(pub) */
	struct nodeid nonce;		/* dynamic puzzle solution X */
	unsigned c1, c2;		/* difficulties the identity was made for */
};

/* Phases reported to the progress callback. */
enum identity_phase {
	ID_PHASE_STATIC = 1,		/* generating key pairs until SHA-1(id) meets c1 */
	ID_PHASE_DYNAMIC = 2,		/* searching the nonce for c2 */
};

struct identity_solve {
	unsigned c1, c2;
	unsigned threads;		/* 0: one per online CPU; at most ID_SOLVE_MAX_THREADS */
	/* Called from the calling thread when a phase starts (attempts 0), about every
	 * 100 ms during it and when it ends, with the attempts of the phase so far; a
	 * non-zero return cancels the search. May be NULL. */
	int (*progress)(void *arg, enum identity_phase phase, uint64_t attempts);
	void *arg;
};

/* Creates a fresh identity that meets opts->c1 and opts->c2.
 * Returns 0, -EINVAL (bad difficulty or thread count), -ECANCELED, -ENOMEM or -EIO. */
int identity_create(struct identity **out, const struct identity_solve *opts);
/* Builds the identity of a given private key and solves only its dynamic puzzle for c2
 * (c1 is recorded as the number of bits the ID happens to meet, capped at PUZZLE_MAX_BITS).
 * Deterministic: the simulator and tests use it. */
int identity_from_seed(struct identity **out, const uint8_t seed[ID_SEED_LEN], unsigned c2);
void identity_free(struct identity *ident);

/* Signs msg; sig receives ID_SIG_LEN bytes. Returns 0 or -EIO. */
int identity_sign(const struct identity *ident, const void *msg, size_t len, uint8_t *sig);
/* Verifies an Ed25519 signature by the raw public key pub.
 * Returns 0, -EINVAL for wrong key or signature lengths, -EBADMSG for a bad signature. */
int identity_verify(const uint8_t *pub, size_t publen, const void *msg, size_t len,
    const uint8_t *sig, size_t siglen);
/* Checks that pub hashes to *id and that the puzzles hold for c1 and (with *nonce) c2.
 * Returns 0, -EINVAL for a wrong key length, -EKEYREJECTED otherwise. */
int identity_check(const uint8_t *pub, size_t publen, const struct nodeid *id,
    const struct nodeid *nonce, unsigned c1, unsigned c2);

/* PEM form: a PKCS#8 "PRIVATE KEY" block (readable by `openssl pkey`) followed by a
 * "P2PNS PUZZLE" block (version, c1, c2, nonce). identity_to_pem returns a NUL-terminated
 * buffer to be released with identity_free_secret. */
int identity_to_pem(const struct identity *ident, char **pem, size_t *len);
/* Returns 0, -EFBIG (over ID_FILE_MAX), -EBADMSG (malformed), -EKEYREJECTED (the node ID
 * does not meet the puzzles it records) or -ENOMEM. */
int identity_from_pem(struct identity **out, const char *pem, size_t len);
void identity_free_secret(char *buf, size_t len);

/* Writes the PEM form to path with mode 0600 (atomically: temporary file, fsync, then
 * rename or link). Without overwrite an existing path gives -EEXIST. */
int identity_save(const struct identity *ident, const char *path, bool overwrite);
/* Reads an identity file. Refuses (-EPERM) a file that group or others may access, that
 * another user owns, or that is not a regular file; otherwise as identity_from_pem,
 * or a negative errno from opening and reading it. */
int identity_load(struct identity **out, const char *path);

/* One-line text form ID_EXPORT_PREFIX + hex; out must hold ID_EXPORT_SIZE bytes. It holds
 * the private key: treat it like the identity file. Returns 0 or -EIO. */
int identity_export(const struct identity *ident, char *out, size_t outlen);
/* Parses the text form (surrounding white space allowed). Returns 0, -EBADMSG (wrong
 * prefix, length, digits or check), -EKEYREJECTED (puzzles not met) or -ENOMEM. */
int identity_import(struct identity **out, const char *text, size_t len);

/* Human-readable text for the error codes above. */
const char *identity_strerror(int err);

#endif
