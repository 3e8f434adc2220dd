# lockbench.mk -- the lock benchmark coordlockbench (test/bench/lockbench/,
# issue 6 part 8; reused by issue 9's comparison) and `make bench-lock`: a
# fresh 3-node cluster on 127.0.0.1/.2/.3 measured by scripts/bench-lock.sh
# with 1, 8 and 32 contending clients (figures in docs/benchmarks.md,
# "Lock").
#
#   make bench-lock [BENCH_SECONDS=10] [LOCK_CLIENTS="1 8 32"]
#   build/bin/coordlockbench --help

LOCKBENCH_SRC := test/bench/lockbench/lockbench.c test/bench/coordbench/hist.c \
                 test/bench/coordbench/args.c
LOCKBENCH_BIN := $(BUILD)/bin/coordlockbench

# The client side only: recipes, libcoord and its shared code.
$(LOCKBENCH_BIN): $(call obj,$(LOCKBENCH_SRC)) $(A_RECIPES) $(A_CLIENT) \
                  $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXTRA_BINS += $(LOCKBENCH_BIN)

LOCK_CLIENTS ?= 1 8 32
.PHONY: bench-lock
bench-lock: $(LOCKBENCH_BIN) $(BUILD)/bin/coordd $(BUILD)/bin/coordbench
	BUILD=$(BUILD) BENCH_SECONDS=$(BENCH_SECONDS) \
		LOCK_CLIENTS="$(LOCK_CLIENTS)" scripts/bench-lock.sh

# Its smoke test in `make test` (a single coordd of its own; no figures).
TEST_EXTRA_BINS += $(LOCKBENCH_BIN)
TEST_EXTRA_SUITES += bench:lockbench-smoke|test/bench/lockbench/smoke.sh
