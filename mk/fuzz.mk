# fuzz.mk -- fuzz targets (included by the Makefile).
#
# Each test/fuzz/fuzz_X.c is a libFuzzer target with its seed corpus in
# test/fuzz/corpus/X/ (FUZZ_TARGETS lists them): generated seeds at the top,
# a coverage-minimised set of fuzzer-grown inputs (libFuzzer -merge=1) in
# grown/, and any fixed crasher as crash-<what>.
#   make fuzz         builds every target with clang
#                     -fsanitize=fuzzer,address,undefined into build/fuzz/
#                     (the shared sources are compiled there too) and runs
#                     each for FUZZ_SECONDS on a copy of its corpus in
#                     build/fuzz/corpus/X/; crashers go to build/fuzz/crash/X/.
#   make test         replays every committed corpus through the same target
#                     code with the plain-C driver test/fuzz/replay.c, built
#                     with gcc normally and under ASan+UBSan.
#   make fuzz-corpus-wire   regenerates the wire seeds (gen_wire_corpus.c).
#   make fuzz-corpus-peer   regenerates the peer seeds (gen_peer_corpus.c).
# A target that needs more than libcoord/shared adds its sources to
# FUZZ_LINK_SRC and its archives as prerequisites of its replay binary.

FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_TARGETS := wire
FUZZ_TARGETS += peer
FUZZ_MAX_LEN ?= 16384
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
               -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined -DCOORD_DEBUG
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_LINK_SRC := $(SHARED_SRC)
FUZZ_LINK_SRC += coordd/net/peer_codec.c
FUZZ_LINK_OBJ = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LINK_SRC))
FUZZ_BINS := $(foreach t,$(FUZZ_TARGETS),$(FUZZ_DIR)/fuzz_$(t))

$(FUZZ_DIR)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/test/fuzz/fuzz_%.o $(FUZZ_LINK_OBJ)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz: fuzz-bins
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crash/$$t; \
	    cp -r test/fuzz/corpus/$$t/. $(FUZZ_DIR)/corpus/$$t/; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/crash/$$t/ $(FUZZ_DIR)/corpus/$$t; \
	done

# ---- corpus replay in `make test` ------------------------------------------
FUZZ_REPLAY_BINS := $(foreach t,$(FUZZ_TARGETS),$(BUILD)/test/fuzz/replay_$(t))

$(BUILD)/test/fuzz/replay_%: $(BUILD)/test/fuzz/replay.o \
                             $(BUILD)/test/fuzz/fuzz_%.o $(A_SHARED)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

TEST_EXTRA_BINS += $(FUZZ_REPLAY_BINS)
ASAN_EXTRA_BINS += $(foreach t,$(FUZZ_TARGETS),build/asan/test/fuzz/replay_$(t))
TEST_EXTRA_SUITES += $(foreach t,$(FUZZ_TARGETS),\
    fuzz-replay:$(t)|$(BUILD)/test/fuzz/replay_$(t) test/fuzz/corpus/$(t))
TEST_EXTRA_SUITES += $(foreach t,$(FUZZ_TARGETS),\
    asan:fuzz-replay:$(t)|build/asan/test/fuzz/replay_$(t) test/fuzz/corpus/$(t))

# ---- seed corpus ---------------------------------------------------------------
$(BUILD)/test/fuzz/gen_wire_corpus: $(BUILD)/test/fuzz/gen_wire_corpus.o \
                                    $(A_SHARED)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz-corpus-wire
fuzz-corpus-wire: $(BUILD)/test/fuzz/gen_wire_corpus
	mkdir -p test/fuzz/corpus/wire
	$< test/fuzz/corpus/wire

# ---- peer codec (coordd/net/peer_codec.c): also needs libnet --------------
$(BUILD)/test/fuzz/replay_peer: $(BUILD)/test/fuzz/replay.o \
                                $(BUILD)/test/fuzz/fuzz_peer.o \
                                $(A_NET) $(A_SHARED)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test/fuzz/gen_peer_corpus: $(BUILD)/test/fuzz/gen_peer_corpus.o \
                                    $(A_NET) $(A_SHARED)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz-corpus-peer
fuzz-corpus-peer: $(BUILD)/test/fuzz/gen_peer_corpus
	mkdir -p test/fuzz/corpus/peer
	$< test/fuzz/corpus/peer
