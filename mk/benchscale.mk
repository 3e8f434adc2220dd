# benchscale.mk -- `make bench-scale`: a fresh single-node coordd grown to
# 10^6 nodes by scripts/bench-scale.sh (set throughput, latency and memory
# per tree size; restart time; large values; many sessions). Figures in
# docs/benchmarks.md, "Closing the gap".
#
#   make bench-scale [SCALE_NODES="1000 10000 100000 1000000"]
#                    [SCALE_SECONDS=5]

.PHONY: bench-scale
bench-scale: $(BUILD)/bin/coordbench $(BUILD)/bin/coordd
	BUILD=$(BUILD) scripts/bench-scale.sh
