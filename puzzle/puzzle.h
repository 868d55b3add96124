/* S/Kademlia crypto puzzles. Static: SHA-1(node_id) has >= c1 leading zero bits, which makes
 * choosing a node ID expensive. Dynamic: a nonce X with SHA-1(node_id XOR X) having >= c2
 * leading zero bits, which makes mass-producing identities expensive. */
#ifndef P2PNS_PUZZLE_PUZZLE_H
#define P2PNS_PUZZLE_PUZZLE_H

#include <stdbool.h>
#include <stdint.h>

#include "puzzle/nodeid.h"

enum {
	PUZZLE_MAX_BITS = 40,		/* largest c1 / c2 an overlay may set */
	PUZZLE_DEFAULT_C1 = 16,
	PUZZLE_DEFAULT_C2 = 20,
};

/* Leading zero bits of SHA-1(id), and of SHA-1(id XOR x). 0 if hashing fails. */
unsigned puzzle_static_bits(const struct nodeid *id);
unsigned puzzle_dynamic_bits(const struct nodeid *id, const struct nodeid *x);

/* Checks; false for a difficulty above PUZZLE_MAX_BITS. */
bool puzzle_static_ok(const struct nodeid *id, unsigned c1);
bool puzzle_dynamic_ok(const struct nodeid *id, const struct nodeid *x, unsigned c2);

/* Searches X for the dynamic puzzle, starting at *x (as a big-endian counter) and trying
 * at most max_attempts nonces (0 = no limit). Returns 0 with the solution in *x, -EAGAIN
 * when the attempts ran out (*x is then where to go on), -EINVAL for c2 > PUZZLE_MAX_BITS,
 * -EIO if hashing failed. *attempts (if not NULL) receives the number of hashes. */
int puzzle_dynamic_solve(const struct nodeid *id, unsigned c2, uint64_t max_attempts,
    struct nodeid *x, uint64_t *attempts);

#endif
