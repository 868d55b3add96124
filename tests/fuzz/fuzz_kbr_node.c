/* libFuzzer target: a sans-I/O KBR node with a DHT and four peers that talk to it in
 * sessions, crypto switched off (kbr_params.crypto: plaintext DATA, no signatures), so that
 * hand-made datagrams reach every handler too; see tests/fuzz/node.c. */
#include "tests/fuzz/common.h"
#include "tests/fuzz/node.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_node_run(data, size, false);
	return 0;
}
