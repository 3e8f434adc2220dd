# Makefile -- the one build of coord: coordd, libcoord, recipes, coordctl,
# tests, fuzzers and benchmarks. Non-recursive except for the sanitizer build
# (the same rules rerun with SAN=1 into build/asan). Objects go to $(BUILD).
#
# Sources are discovered by directory: a .c file added to a module folder is
# built into that module's archive with no edit here. Targets that need more
# than the generic rules live in mk/*.mk.
#
#   make            build everything (installs Debian deps first if missing)
#   make test       every suite a change must pass; ends with "N passed, N failed"
#   make asan       the unit tests built with -fsanitize=address,undefined
#   make run        start coord locally in the foreground
#   make tidy       include-boundary and banned-call checks
#   make fuzz       run the libFuzzer targets for FUZZ_SECONDS each
#   make install    PREFIX=/usr/local DESTDIR=

SHELL := /bin/bash
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= gcc
FUZZ_SECONDS ?= 60

ifeq ($(SAN),1)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
       -fno-sanitize-recover=undefined -DCOORD_DEBUG
SANLD := -fsanitize=address,undefined
else
OPT := -O2
SANLD :=
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers -Werror
CPPFLAGS := -Ilibcoord/include -iquote . -D_GNU_SOURCE
CFLAGS := -std=gnu11 $(OPT) -g $(WARN) -MMD -MP -pthread
# Recursive (=) so pkg-config runs after `deps` has installed the packages.
MSGPACK_PC = $(shell pkg-config --exists msgpack-c && echo msgpack-c || echo msgpack)
PKG_CFLAGS = $(shell pkg-config --cflags rocksdb $(MSGPACK_PC) libsodium libsystemd inih 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs rocksdb $(MSGPACK_PC) libsodium libsystemd inih 2>/dev/null) -lev
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
LDLIBS = $(PKG_LIBS) -lpthread -lm
LDFLAGS := -pthread $(SANLD)

# ---- modules ---------------------------------------------------------------
SHARED_SRC  := $(wildcard libcoord/shared/*.c)
CLIENT_SRC  := $(wildcard libcoord/*.c)
RAFT_SRC    := $(wildcard coordd/raft/*.c)
TREE_SRC    := $(wildcard coordd/tree/*.c)
STORE_SRC   := $(wildcard coordd/store/*.c)
NET_SRC     := $(wildcard coordd/net/*.c)
SERVER_SRC  := $(filter-out coordd/main.c,$(wildcard coordd/*.c))
RECIPES_SRC := $(wildcard recipes/*.c)
CTL_SRC     := $(wildcard coordctl/*.c)
TESTLIB_SRC := $(wildcard test/lib/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

A_SHARED  := $(BUILD)/libcoordshared.a
A_CLIENT  := $(BUILD)/libcoordclient.a
A_RAFT    := $(BUILD)/libraft.a
A_TREE    := $(BUILD)/libtree.a
A_STORE   := $(BUILD)/libstore.a
A_NET     := $(BUILD)/libnet.a
A_SERVER  := $(BUILD)/libcoordd.a
A_RECIPES := $(BUILD)/librecipes.a
A_TESTLIB := $(BUILD)/libtestlib.a

# Link order: dependents first.
ALL_ARCHIVES := $(A_TESTLIB) $(A_SERVER) $(A_NET) $(A_STORE) $(A_TREE) \
                $(A_RAFT) $(A_RECIPES) $(A_CLIENT) $(A_SHARED)

$(A_SHARED):  $(call obj,$(SHARED_SRC))
$(A_CLIENT):  $(call obj,$(CLIENT_SRC))
$(A_RAFT):    $(call obj,$(RAFT_SRC))
$(A_TREE):    $(call obj,$(TREE_SRC))
$(A_STORE):   $(call obj,$(STORE_SRC))
$(A_NET):     $(call obj,$(NET_SRC))
$(A_SERVER):  $(call obj,$(SERVER_SRC))
$(A_RECIPES): $(call obj,$(RECIPES_SRC))
$(A_TESTLIB): $(call obj,$(TESTLIB_SRC))

$(BUILD)/%.a:
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(BUILD)/.empty.o)

$(BUILD)/.empty.o: | deps
	@mkdir -p $(@D)
	echo 'static int coord__empty;' | $(CC) -x c -c -o $@ -

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# Archives with no sources yet still link.
$(ALL_ARCHIVES): | $(BUILD)/.empty.o

# Helper fragments (sim, fuzz, bench, run, install) may add to EXTRA_BINS,
# TEST_EXTRA_BINS, ASAN_EXTRA_BINS and TEST_EXTRA_SUITES; included here so
# the rules below see their variables.
-include mk/*.mk

# ---- programs ----------------------------------------------------------------
BINS :=
ifneq ($(wildcard coordd/main.c),)
BINS += $(BUILD)/bin/coordd
$(BUILD)/bin/coordd: $(call obj,coordd/main.c) $(A_SERVER) $(A_NET) $(A_STORE) \
                 $(A_TREE) $(A_RAFT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif
ifneq ($(CTL_SRC),)
BINS += $(BUILD)/bin/coordctl
$(BUILD)/bin/coordctl: $(call obj,$(CTL_SRC)) $(A_RECIPES) $(A_CLIENT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif

# ---- tests ---------------------------------------------------------------------
# test/unit/test_X.c and test/integration/test_X.c: one cmocka binary each.
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst %.c,$(BUILD)/%,$(UNIT_SRC))
INTEG_SRC := $(wildcard test/integration/test_*.c)
INTEG_BINS := $(patsubst %.c,$(BUILD)/%,$(INTEG_SRC))

$(BUILD)/test/unit/%: $(BUILD)/test/unit/%.o $(ALL_ARCHIVES)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)
$(BUILD)/test/integration/%: $(BUILD)/test/integration/%.o $(ALL_ARCHIVES)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)

# Benchmarks: test/bench/bench_X.c, one binary each.
BENCH_SRC := $(wildcard test/bench/bench_*.c)
BENCH_BINS := $(patsubst %.c,$(BUILD)/%,$(BENCH_SRC))
$(BUILD)/test/bench/%: $(BUILD)/test/bench/%.o $(ALL_ARCHIVES)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: all deps test asan unit-bins test-bins tidy run install clean fuzz \
        fuzz-bins bench
.DEFAULT_GOAL := all
.SECONDARY:

deps:
	@deploy/deps.sh test

all: $(BINS) $(UNIT_BINS) $(INTEG_BINS) $(BENCH_BINS) $(EXTRA_BINS)

unit-bins: $(UNIT_BINS)

# Everything `make test` runs, built once normally and once sanitized.
test-bins: $(BINS) $(UNIT_BINS) $(INTEG_BINS) $(TEST_EXTRA_BINS)

# Each suite is one line "name|command"; test/run.sh runs them all and sums.
TEST_SUITES = tidy|test/tidy.sh
TEST_SUITES += $(foreach b,$(UNIT_BINS),unit:$(notdir $(b))|$(b))
TEST_SUITES += $(foreach b,$(UNIT_BINS),asan:$(notdir $(b))|build/asan/$(b:$(BUILD)/%=%))
TEST_SUITES += $(TEST_EXTRA_SUITES)
TEST_SUITES += $(foreach b,$(INTEG_BINS),integ:$(notdir $(b))|$(b))
# The same integration tests against a sanitized coordd.
TEST_SUITES += $(foreach b,$(INTEG_BINS),integ-asan:$(notdir $(b))|COORDD_BIN=build/asan/bin/coordd $(b))

test: test-bins
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan unit-bins \
		build/asan/bin/coordd $(ASAN_EXTRA_BINS)
	@printf '%s\n' $(foreach s,$(TEST_SUITES),'$(s)') | test/run.sh

asan:
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan unit-bins
	@printf '%s\n' $(foreach b,$(UNIT_BINS),'asan:$(notdir $(b))|build/asan/$(b:$(BUILD)/%=%)') | test/run.sh

tidy:
	@test/tidy.sh

clean:
	rm -rf build

DEPFILES := $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(DEPFILES)
