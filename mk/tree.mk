# tree.mk -- extra targets of coordd/tree/ (the namespace state machine).
#   make bench-tree   build and run test/bench/bench_tree (1,000,000 nodes;
#                     figures go to docs/benchmarks.md, Tree section)
# The bench links only the archives it needs, so it builds while other
# modules are mid-edit.
.PHONY: bench-tree
BENCH_TREE := $(BUILD)/test/bench/bench_tree
BENCH_TREE_NODES ?= 1000000

bench-tree: $(BUILD)/test/bench/bench_tree.o $(A_TREE) $(A_SHARED)
	$(CC) $(LDFLAGS) -o $(BENCH_TREE) $^ $(LDLIBS)
	$(BENCH_TREE) $(BENCH_TREE_NODES)
