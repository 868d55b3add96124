/* libFuzzer target: a sans-I/O KBR node with a DHT fed datagrams from four peers, signatures
 * switched off (kbr_params.crypto) so that inputs reach the handlers; see tests/fuzz/node.c. */
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
