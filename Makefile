# p2pns: build, test, demo, bench, install. GNU make; everything built goes under build/.
#   make [all]        daemon libraries and tools          make test    every test
#   make demo         a small local demonstration          make bench   benchmarks
#   make install      PREFIX=/usr/local DESTDIR=           make clean
#   SAN=1             AddressSanitizer + UBSan build (build/<cc>-san)
#   CC=clang          build with clang (build/clang)
#   V=1               show the whole compiler command lines

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

ifeq ($(origin CC),default)
CC := gcc
endif
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
PYTHON ?= /usr/bin/python3
SAN ?= 0
VERSION := 0.1.0

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-6s %s\n' $(1) $(2)
endif

VARIANT := $(notdir $(firstword $(CC)))$(if $(filter 1,$(SAN)),-san)
B := build/$(VARIANT)

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Wcast-qual -Wsign-compare -Wformat=2 -Wpointer-arith -Wundef -Wvla
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
P2P_CPPFLAGS := -I. -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DP2PNS_VERSION='"$(VERSION)"'
P2P_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(SANFLAGS) -pthread -MMD -MP
P2P_LDFLAGS = $(SANFLAGS) -pthread $(LDFLAGS)

# Layers, lowest first; a library may use those before it.
LAYERS := common puzzle kbr dht namecache p2pns rpc
LAYER_LIBS := $(foreach l,$(LAYERS),$(B)/lib$(l).a)
# Linked in reverse order so that each library finds the ones below it.
CORE_LIBS := $(foreach l,$(shell printf '%s\n' $(LAYERS) | tac),$(B)/lib$(l).a)
SYS_LIBS := -llmdb -lcrypto
# xmlrpc-c's value, parse and serialise libraries (the server side: rpc/), and its client.
XMLRPC_LIBS := -lxmlrpc -lxmlrpc_xmlparse -lxmlrpc_xmltok -lxmlrpc_util
XMLRPC_CLIENT_LIBS := -lxmlrpc_client $(XMLRPC_LIBS)
# What rpc/ needs below it: libmicrohttpd in a libevent loop.
RPC_LIBS := -lmicrohttpd -levent $(XMLRPC_LIBS)

define layer_rules
$(1)_OBJ := $$(patsubst %.c,$$(B)/%.o,$$(wildcard $(1)/*.c))
$$(B)/lib$(1).a: $$($(1)_OBJ)
	$$(call quiet,AR,$$@)
	@rm -f $$@
	$$(Q)$$(AR) rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

TOOLS := p2pns-keygen
BINS := $(addprefix $(B)/bin/,$(TOOLS))
$(B)/bin/p2pns-keygen: $(B)/tools/p2pns-keygen.o $(CORE_LIBS)
TOOL_OBJ := $(B)/tools/p2pns-keygen.o

# The simulator: tools/sim/*.c over the same kbr/ code as the daemon.
SIM_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard tools/sim/*.c))
BINS += $(B)/bin/p2pns-sim
$(B)/bin/p2pns-sim: $(SIM_OBJ) $(CORE_LIBS)
$(B)/bin/p2pns-sim: SYS_LIBS += -lm

# The daemon: p2pnsd/*.c over libevent.
DAEMON_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard p2pnsd/*.c))
ifneq ($(DAEMON_OBJ),)
BINS += $(B)/bin/p2pnsd
$(B)/bin/p2pnsd: $(DAEMON_OBJ) $(CORE_LIBS)
$(B)/bin/p2pnsd: SYS_LIBS += $(RPC_LIBS)
endif

# The command line client: tools/p2pns.c over xmlrpc-c's client library.
ifneq ($(wildcard tools/p2pns.c),)
BINS += $(B)/bin/p2pns
CLI_OBJ := $(B)/tools/p2pns.o
$(B)/bin/p2pns: $(CLI_OBJ) $(CORE_LIBS)
$(B)/bin/p2pns: SYS_LIBS += $(XMLRPC_CLIENT_LIBS)
endif

# The NSS hosts module: a self-contained shared object (libc only), loaded into every
# program that resolves host names, so never built with the sanitizers (their runtime
# would have to come first in the host program).
NSS_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard tools/nss/*.c))
ifneq ($(NSS_OBJ),)
NSS_LIB := $(B)/lib/libnss_p2pns.so.2
$(NSS_OBJ): SANFLAGS :=
$(NSS_OBJ): P2P_CFLAGS += -fPIC -fvisibility=hidden
$(NSS_LIB): $(NSS_OBJ)
	$(call quiet,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-soname,libnss_p2pns.so.2 -Wl,-z,defs -Wl,--as-needed $(LDFLAGS) \
		-o $@ $^
endif

UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
BENCH_BINS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(wildcard tests/bench/bench_*.c))
# Helpers the benchmark scripts run (load generators, reference servers): not run alone.
BENCH_TOOLS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(wildcard tests/bench/tool_*.c))

ALL_OBJ := $(foreach l,$(LAYERS),$($(l)_OBJ)) $(TOOL_OBJ) $(SIM_OBJ) $(DAEMON_OBJ) $(CLI_OBJ) $(NSS_OBJ) \
	$(UNIT_BINS:$(B)/tests/%=$(B)/tests/unit/%.o) \
	$(patsubst $(B)/bench/%,$(B)/tests/bench/%.o,$(BENCH_BINS) $(BENCH_TOOLS))
-include $(ALL_OBJ:.o=.d)

$(B)/%.o: %.c
	$(call quiet,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(P2P_CPPFLAGS) $(CPPFLAGS) $(P2P_CFLAGS) -c $< -o $@

$(BINS):
	$(call quiet,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(P2P_LDFLAGS) -o $@ $(filter %.o,$^) $(CORE_LIBS) $(SYS_LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(CORE_LIBS)
	$(call quiet,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(P2P_LDFLAGS) -o $@ $< $(CORE_LIBS) $(SYS_LIBS) $(RPC_LIBS) -lcmocka

$(B)/bench/%: $(B)/tests/bench/%.o $(CORE_LIBS)
	$(call quiet,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(P2P_LDFLAGS) -o $@ $< $(CORE_LIBS) $(SYS_LIBS) $(RPC_LIBS) -lm

.PHONY: all deps build-tests compilers test check unit integration demo bench install clean fuzz fuzz-regress

all: $(BINS) $(NSS_LIB)

build-tests: $(BINS) $(NSS_LIB) $(UNIT_BINS) $(BENCH_BINS) $(BENCH_TOOLS)

# Checks (and as root installs) the Debian packages; used by test, demo and .ci/run.
deps:
	@sh mk/deps.sh

# Everything must build without warnings under both gcc and clang.
compilers:
	@echo "== build with gcc$(if $(filter 1,$(SAN)), (sanitizers))"
	@$(MAKE) --no-print-directory -j$(JOBS) CC=gcc SAN=$(SAN) build-tests
	@echo "== build with clang$(if $(filter 1,$(SAN)), (sanitizers))"
	@$(MAKE) --no-print-directory -j$(JOBS) CC=clang SAN=$(SAN) build-tests

test: deps
	@$(MAKE) --no-print-directory compilers
	@$(MAKE) --no-print-directory check

check: unit integration fuzz-regress

ifeq ($(SAN),1)
# LeakSanitizer on; a sanitizer report fails the test that produced it.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
endif

unit: $(UNIT_BINS)
	@echo "== unit tests ($(VARIANT))"
	@failed=0; for t in $(UNIT_BINS); do \
		$(SAN_ENV) $$t || { echo "FAILED: $$t"; failed=$$((failed + 1)); }; \
	done; \
	echo "unit test programs: $(words $(UNIT_BINS)) run, $$failed failed"; \
	[ $$failed -eq 0 ]

integration: $(BINS) $(NSS_LIB)
	@echo "== integration tests ($(VARIANT))"
	@$(SAN_ENV) P2PNS_BUILD="$(abspath $(B))" $(PYTHON) -m pytest -p no:cacheprovider -ra \
		tests/integration

demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@exec sh tools/demo.sh "$(abspath $(B))"

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(BENCH_BINS) $(BENCH_TOOLS)
	@P2PNS_BUILD="$(abspath $(B))" $(PYTHON) tests/bench/report.py

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 doc/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(if $(wildcard doc/*.5),install -m 0644 doc/*.5 $(DESTDIR)$(MANDIR)/man5/)
	$(if $(NSS_LIB),install -d $(DESTDIR)$(LIBDIR) && \
		install -m 0644 $(NSS_LIB) $(DESTDIR)$(LIBDIR)/)
	install -m 0644 doc/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf build

include mk/fuzz.mk
