# compare.mk -- `make bench-compare`: coord vs ZooKeeper 3.8 vs etcd 3.4,
# one system at a time on this machine (test/bench/compare/compare.sh;
# figures in docs/benchmarks.md, "Side by side: ZooKeeper and etcd").
# The load generators for the other two systems (zkbench on ZooKeeper's C
# client, etcdbench on etcd's Go client) and coord's failover probe are
# built only here, never by plain `make`: their deps come from
# `deploy/deps.sh bench`, which the target runs first.
#
#   make bench-compare [BENCH_SECONDS=10] [BENCH_REPEAT=3]
#       [BENCH_SYSTEMS="coord zk etcd"] [BENCH_WORKLOADS="set ..."]
#   quick: make bench-compare BENCH_SECONDS=2 BENCH_REPEAT=1 \
#       BENCH_SYSTEMS="coord zk" BENCH_WORKLOADS="set"

COMPARE_DIR := test/bench/compare
ZKBENCH_BIN := $(BUILD)/bin/zkbench
ETCDBENCH_BIN := $(BUILD)/bin/etcdbench
COORDPROBE_BIN := $(BUILD)/bin/coordprobe
COMPARE_BINS := $(ZKBENCH_BIN) $(ETCDBENCH_BIN) $(COORDPROBE_BIN)

# ZooKeeper's mt client needs THREADED (set in the source); no coord code.
$(ZKBENCH_BIN): $(COMPARE_DIR)/zkbench.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(OPT) -g $(WARN) -pthread -o $@ $< \
		-lzookeeper_mt -lpthread

$(COORDPROBE_BIN): $(call obj,$(COMPARE_DIR)/coordprobe.c) $(A_CLIENT) \
		$(A_SHARED)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Offline: Debian's golang-etcd-server-dev under /usr/share/gocode.
$(ETCDBENCH_BIN): $(COMPARE_DIR)/etcdbench/main.go
	@mkdir -p $(@D)
	cd $(COMPARE_DIR)/etcdbench && GO111MODULE=off GOPATH=/usr/share/gocode \
		GOCACHE=$(abspath $(BUILD))/gocache GOFLAGS= GOPROXY=off \
		go build -o $(abspath $@) .

BENCH_REPEAT ?= 3
.PHONY: bench-compare
bench-compare:
	deploy/deps.sh bench
	$(MAKE) $(COMPARE_BINS) $(BUILD)/bin/coordbench $(BUILD)/bin/coordd \
		$(BUILD)/bin/coordctl
	BUILD=$(BUILD) BENCH_SECONDS=$(BENCH_SECONDS) \
		BENCH_REPEAT=$(BENCH_REPEAT) $(COMPARE_DIR)/compare.sh

# report.awk (the tables and ratios) checked on synthetic lines in
# `make test`; needs neither ZooKeeper nor etcd.
TEST_EXTRA_SUITES += bench:compare-report|test/bench/compare/report_test.sh
