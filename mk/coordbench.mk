# coordbench.mk -- the load generator coordbench (test/bench/coordbench/),
# its smoke test in `make test`, and `make bench-single`: a fresh
# single-node coordd measured by scripts/bench-single.sh (figures in
# docs/benchmarks.md, "Single node (coordd)").
#
#   make bench-single [BENCH_SECONDS=10]   the single-node table
#   build/bin/coordbench --help          the options

COORDBENCH_SRC := $(wildcard test/bench/coordbench/*.c)
COORDBENCH_BIN := $(BUILD)/bin/coordbench

# Only the client side: libcoord and its shared code.
$(COORDBENCH_BIN): $(call obj,$(COORDBENCH_SRC)) $(A_CLIENT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXTRA_BINS += $(COORDBENCH_BIN)
TEST_EXTRA_BINS += $(COORDBENCH_BIN)
TEST_EXTRA_SUITES += bench:coordbench-smoke|test/bench/coordbench/smoke.sh

BENCH_SECONDS ?= 10
.PHONY: bench-single
bench-single: $(COORDBENCH_BIN) $(BUILD)/bin/coordd
	BUILD=$(BUILD) BENCH_SECONDS=$(BENCH_SECONDS) scripts/bench-single.sh
