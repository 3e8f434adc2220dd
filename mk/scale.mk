# scale.mk -- `make bench-scale` (issue 9 part 5): scale curves of a
# single coordd and a 3-node cluster as the tree, the sessions, the
# watches and the values grow, plus restart time and snapshot transfer to
# a new member (scripts/bench-scale.sh; figures and plots in
# docs/benchmarks.md, "Scale"). coordscale (test/bench/scale/) builds the
# large states coordbench cannot: 10^6 nodes, 10^4 sessions, 10^6 watches.
#
#   make bench-scale [SCALE_MAX_NODES=1000000] [SCALE_MAX_SESSIONS=10000]
#                    [SCALE_WATCHES=1000000] [BENCH_SECONDS=5]

COORDSCALE_SRC := test/bench/scale/coordscale.c
COORDSCALE_BIN := $(BUILD)/bin/coordscale

# The client side only: libcoord and its shared code.
$(COORDSCALE_BIN): $(call obj,$(COORDSCALE_SRC)) $(A_CLIENT) $(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

EXTRA_BINS += $(COORDSCALE_BIN)

.PHONY: bench-scale
bench-scale: $(COORDSCALE_BIN) $(BUILD)/bin/coordd $(BUILD)/bin/coordctl \
             $(BUILD)/bin/coordbench
	BUILD=$(BUILD) scripts/bench-scale.sh
