# Fuzzing (tests/fuzz/): libFuzzer harnesses, always built with clang, ASan and UBSan into
# build/fuzz, whatever CC and SAN say. Included by the Makefile.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="fuzz_rpc ..."]
#                     runs each target for FUZZ_SECONDS (new inputs go to build/fuzz/new-corpus)
#   make fuzz-regress every target over its committed corpus (part of make check)
#   make fuzz-corpus  writes the seed corpora again from tests/fuzz/make_corpus.c

FUZZ_CC := clang
FUZZ_B := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 $(WARNINGS) -g -O1 $(FUZZ_SAN) -pthread -MMD -MP
FUZZ_LIBS := $(SYS_LIBS) $(RPC_LIBS)

FUZZ_ALL := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS := $(addprefix $(FUZZ_B)/,$(FUZZ_ALL))
# The layers' code, instrumented for coverage but without libFuzzer's main, in one archive.
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(foreach l,$(LAYERS),$(wildcard $(l)/*.c)))
FUZZ_LIB := $(FUZZ_B)/libp2pns.a
# The harnesses' shared helpers (tests/fuzz/*.c that are neither targets nor make_corpus).
FUZZ_HELPER_OBJ := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(filter-out tests/fuzz/fuzz_%.c \
	tests/fuzz/make_corpus.c,$(wildcard tests/fuzz/*.c)))
# fuzz_nss calls the NSS module's internal functions.
FUZZ_NSS_OBJ := $(FUZZ_B)/obj/tools/nss/xmlrpc.o $(FUZZ_B)/obj/tools/nss/conf.o
FUZZ_RUN := sh tests/fuzz/run.sh
FUZZ_MAKE = $(MAKE) --no-print-directory $(if $(filter 1,$(V)),,-s) -j$(JOBS)

.PHONY: fuzz-build fuzz-corpus

$(FUZZ_B)/obj/%.o: %.c
	$(call quiet,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(P2P_CPPFLAGS) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-c $< -o $@

$(FUZZ_B)/obj/tests/fuzz/fuzz_%.o: tests/fuzz/fuzz_%.c
	$(call quiet,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(P2P_CPPFLAGS) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	$(call quiet,AR,$@)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(FUZZ_B)/fuzz_nss: $(FUZZ_NSS_OBJ)

$(FUZZ_BINS): $(FUZZ_B)/%: $(FUZZ_B)/obj/tests/fuzz/%.o $(FUZZ_HELPER_OBJ) $(FUZZ_LIB)
	$(call quiet,LD,$@)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -pthread $(LDFLAGS) -o $@ \
		$(filter %.o,$^) $(FUZZ_LIB) $(FUZZ_LIBS)

$(FUZZ_B)/make_corpus: $(FUZZ_B)/obj/tests/fuzz/make_corpus.o $(FUZZ_HELPER_OBJ) $(FUZZ_LIB)
	$(call quiet,LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -pthread $(LDFLAGS) -o $@ $(filter %.o,$^) $(FUZZ_LIB) \
		$(FUZZ_LIBS)

-include $(patsubst %.o,%.d,$(FUZZ_LIB_OBJ) $(FUZZ_HELPER_OBJ) $(FUZZ_NSS_OBJ) \
	$(FUZZ_B)/obj/tests/fuzz/make_corpus.o $(FUZZ_BINS:$(FUZZ_B)/%=$(FUZZ_B)/obj/tests/fuzz/%.o))

fuzz-build: $(FUZZ_BINS)

fuzz:
	@$(FUZZ_MAKE) $(addprefix $(FUZZ_B)/,$(FUZZ_TARGETS))
	@$(FUZZ_RUN) fuzz $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress:
	@$(FUZZ_MAKE) fuzz-build
	@echo "== fuzz targets over their committed corpora"
	@$(FUZZ_RUN) regress $(FUZZ_B) $(FUZZ_ALL)

fuzz-corpus: $(FUZZ_B)/make_corpus
	$(FUZZ_B)/make_corpus tests/fuzz/corpus
