/* libFuzzer target: the node of fuzz_kbr_node with signing and verifying on, for the checks
 * before and at the signature (inputs may ask the harness to sign as a peer). */
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
	fuzz_node_run(data, size, true);
	return 0;
}
