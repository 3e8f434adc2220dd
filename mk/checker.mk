# checker.mk -- the linearizability checker (test/fault/checker/): its CLI
# build/test/fault/lincheck, the link rule that gives test_checker the
# checker objects, and `make bench-checker` (a benchmark figure, not a test).

CHECKER_SRC := test/fault/checker/checker.c test/fault/checker/gen.c
CHECKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(CHECKER_SRC))
LINCHECK_BIN := $(BUILD)/test/fault/lincheck
LINCHECK_BENCH := $(BUILD)/test/fault/lincheck_bench

$(LINCHECK_BIN): $(BUILD)/test/fault/checker/lincheck.o $(CHECKER_OBJ) \
                 $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LINCHECK_BENCH): $(BUILD)/test/fault/checker/bench.o $(CHECKER_OBJ) \
                   $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The unit test links the checker objects and the allocator only: this
# explicit rule replaces the generic one (test_checker.o + every archive),
# so the checker's tests do not depend on the server modules building.
$(BUILD)/test/unit/test_checker: $(BUILD)/test/unit/test_checker.o \
                                 $(CHECKER_OBJ) $(A_SHARED)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)

EXTRA_BINS += $(LINCHECK_BIN) $(LINCHECK_BENCH)
TEST_EXTRA_BINS += $(LINCHECK_BIN)

.PHONY: bench-checker
bench-checker: $(LINCHECK_BENCH)
	$(LINCHECK_BENCH) -n 10000 -k 10 -p 16 -i 30 -f 10 -r 5

# The CLI against the fixture histories (exit codes and messages). No
# spaces in the command: the Makefile splits TEST_SUITES on whitespace. The
# script runs build/test/fault/lincheck (built by TEST_EXTRA_BINS).
TEST_EXTRA_SUITES += checker-cli|test/fault/checker/cli_test.sh
