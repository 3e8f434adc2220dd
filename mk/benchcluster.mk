# benchcluster.mk -- `make bench-cluster`: a fresh 3-node coordd cluster on
# 127.0.0.1/.2/.3 measured by scripts/bench-cluster.sh (coordbench series
# and failover window after kill -9 of the leader; figures in
# docs/benchmarks.md, "3-node cluster").
#
#   make bench-cluster [BENCH_SECONDS=10] [FAILOVERS=5] [STOPS=0]
#   (STOPS: rounds of SIGSTOP of the leader; see the script's header)

FAILOVERS ?= 5
STOPS ?= 0
.PHONY: bench-cluster
bench-cluster: $(BUILD)/bin/coordbench $(BUILD)/bin/coordd $(BUILD)/bin/coordctl
	BUILD=$(BUILD) BENCH_SECONDS=$(BENCH_SECONDS) FAILOVERS=$(FAILOVERS) \
		STOPS=$(STOPS) \
		scripts/bench-cluster.sh
