/* libFuzzer target: the node of fuzz_kbr_node with signed handshakes and encrypted sessions;
 * the peers the harness plays seal the input's messages with real keys, so inputs get past
 * the handshake, and hand-made datagrams are signed by a peer when asked. */
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
