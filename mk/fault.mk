# fault.mk -- the fault-injection runner (test/fault/runner/): real coordd
# clusters in private namespaces under a seeded nemesis, histories checked
# by the linearizability checker (docs/testing.md "Fault injection").
#
# The binary is build/test/fault/runner, so its objects go to
# build/test/fault/runner-obj/ (a directory cannot share the binary's name).
# `make test` runs a short schedule (test/fault/short.sh: 5 nodes, four
# fault kinds, fixed seed);
# `make fault-long` runs long varied schedules (test/fault/long.sh).

RUNNER_SRC := $(wildcard test/fault/runner/*.c)
RUNNER_OBJ := $(patsubst test/fault/runner/%.c,$(BUILD)/test/fault/runner-obj/%.o,$(RUNNER_SRC))
RUNNER_BIN := $(BUILD)/test/fault/runner

$(BUILD)/test/fault/runner-obj/%.o: test/fault/runner/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Wno-format-truncation -c -o $@ $<

$(RUNNER_BIN): $(RUNNER_OBJ) $(CHECKER_OBJ) $(A_TESTLIB) $(A_RECIPES) \
               $(A_CLIENT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(RUNNER_OBJ:.o=.d)

EXTRA_BINS += $(RUNNER_BIN)
TEST_EXTRA_BINS += $(RUNNER_BIN)

# Short run: 5 nodes, leader kills, partitions, pauses and power loss,
# about 45 s of nemesis. A fixed seed so CI reruns the same schedule; `make fault-long`
# draws fresh ones. No spaces in the command (TEST_SUITES splits on them).
TEST_EXTRA_SUITES += fault-short|test/fault/short.sh

.PHONY: fault-long
fault-long: $(RUNNER_BIN) $(BUILD)/bin/coordd
	test/fault/long.sh
