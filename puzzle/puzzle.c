/* S/Kademlia static and dynamic crypto puzzles: verification and the dynamic solver. */
#include "puzzle/puzzle.h"

#include <errno.h>

#include <openssl/evp.h>

unsigned
puzzle_static_bits(const struct nodeid *id)
{
	struct nodeid h;

	if (nodeid_sha1(&h, id->b, NODEID_LEN) != 0)
		return 0;
	return nodeid_leading_zeros(&h);
}

unsigned
puzzle_dynamic_bits(const struct nodeid *id, const struct nodeid *x)
{
	struct nodeid t;

	nodeid_xor(&t, id, x);
	return puzzle_static_bits(&t);
}

bool
puzzle_static_ok(const struct nodeid *id, unsigned c1)
{
	return c1 <= PUZZLE_MAX_BITS && puzzle_static_bits(id) >= c1;
}

bool
puzzle_dynamic_ok(const struct nodeid *id, const struct nodeid *x, unsigned c2)
{
	return c2 <= PUZZLE_MAX_BITS && puzzle_dynamic_bits(id, x) >= c2;
}

/* Adds one to x as a big-endian counter (wrapping). */
static void
nonce_next(struct nodeid *x)
{
	for (size_t i = NODEID_LEN; i-- > 0;)
		if (++x->b[i] != 0)
			break;
}

int
puzzle_dynamic_solve(const struct nodeid *id, unsigned c2, uint64_t max_attempts,
    struct nodeid *x, uint64_t *attempts)
{
	EVP_MD *md = NULL;
	EVP_MD_CTX *ctx = NULL;
	struct nodeid cand, t, h;
	uint64_t n = 0;
	int err = -EIO;

	if (c2 > PUZZLE_MAX_BITS)
		return -EINVAL;
	md = EVP_MD_fetch(NULL, "SHA1", NULL);
	ctx = EVP_MD_CTX_new();
	if (md == NULL || ctx == NULL)
		goto out;
	cand = *x;
	for (;;) {
		if (max_attempts != 0 && n >= max_attempts) {
			*x = cand;
			err = -EAGAIN;
			break;
		}
		n++;
		nodeid_xor(&t, id, &cand);
		if (!EVP_DigestInit_ex2(ctx, md, NULL) ||
		    !EVP_DigestUpdate(ctx, t.b, NODEID_LEN) ||
		    !EVP_DigestFinal_ex(ctx, h.b, NULL))
			break;
		if (nodeid_leading_zeros(&h) >= c2) {
			*x = cand;
			err = 0;
			break;
		}
		nonce_next(&cand);
	}
out:
	if (attempts != NULL)
		*attempts = n;
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	return err;
}
