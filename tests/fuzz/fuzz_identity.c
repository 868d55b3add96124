/* libFuzzer target: the identity loaders, identity_from_pem and identity_import, on the same
 * input. What loads must pass identity_check, sign and verify, and survive both forms again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "puzzle/identity.h"
#include "tests/fuzz/common.h"

static void
check_same(const struct identity *a, const struct identity *b)
{
	FUZZ_CHECK(memcmp(a->pub, b->pub, ID_PUBKEY_LEN) == 0);
	FUZZ_CHECK(nodeid_eq(&a->id, &b->id) && nodeid_eq(&a->nonce, &b->nonce));
	FUZZ_CHECK(a->c1 == b->c1 && a->c2 == b->c2);
}

static void
check_loaded(const struct identity *id)
{
	static const char msg[] = "p2pns fuzz";
	uint8_t sig[ID_SIG_LEN];
	struct identity *back;
	char *pem, text[ID_EXPORT_SIZE];
	size_t len;

	FUZZ_CHECK(identity_check(id->pub, ID_PUBKEY_LEN, &id->id, &id->nonce, id->c1,
	    id->c2) == 0);
	FUZZ_CHECK(identity_sign(id, msg, sizeof(msg), sig) == 0);
	FUZZ_CHECK(identity_verify(id->pub, ID_PUBKEY_LEN, msg, sizeof(msg), sig,
	    sizeof(sig)) == 0);

	FUZZ_CHECK(identity_to_pem(id, &pem, &len) == 0);
	FUZZ_CHECK(identity_from_pem(&back, pem, len) == 0);
	check_same(id, back);
	identity_free(back);
	identity_free_secret(pem, len);

	FUZZ_CHECK(identity_export(id, text, sizeof(text)) == 0);
	FUZZ_CHECK(strlen(text) == ID_EXPORT_SIZE - 1);
	FUZZ_CHECK(identity_import(&back, text, strlen(text)) == 0);
	check_same(id, back);
	identity_free(back);
}

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
	struct identity *id;
	int err;

	err = identity_from_pem(&id, (const char *)data, size);
	FUZZ_CHECK(err == 0 || err == -EBADMSG || err == -EKEYREJECTED || err == -EFBIG);
	FUZZ_CHECK((err == 0) == (id != NULL));
	FUZZ_CHECK(identity_strerror(err) != NULL);
	if (err == 0) {
		check_loaded(id);
		identity_free(id);
	}

	err = identity_import(&id, (const char *)data, size);
	FUZZ_CHECK(err == 0 || err == -EBADMSG || err == -EKEYREJECTED);
	FUZZ_CHECK((err == 0) == (id != NULL));
	if (err == 0) {
		check_loaded(id);
		identity_free(id);
	}
	return 0;
}
