# mutation: commit an entry of an earlier term by counting replicas
# (the Raft paper's Figure 8; LogCabin #44, canonical/raft #220).
# file: progress.c replication.c
s/if (q <= r->commit || raft_log_term(r, q) != r->term)/if (q <= r->commit)/
# (and drop the core's own assertion of the rule, so that the simulator's
# invariants, not the core, must notice)
/coord_assert(raft_log_term(r, r->commit) == r->term);/d
