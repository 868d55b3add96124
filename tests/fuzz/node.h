/* The node the fuzz_kbr_node targets drive: a sans-I/O KBR node with a DHT over a memory
 * store, talking to four peers the harness plays (tests/fuzz/remote.h), fed the frames of
 * one input (layout in tests/fuzz/common.h). */
#ifndef P2PNS_TESTS_FUZZ_NODE_H
#define P2PNS_TESTS_FUZZ_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs one input on a fresh node and fresh peers; crypto: sessions signed and encrypted.
 * Checks the node's invariants (what it sends, what it hands up, callbacks) and aborts when
 * one does not hold. */
void fuzz_node_run(const uint8_t *data, size_t size, bool crypto);

#endif
