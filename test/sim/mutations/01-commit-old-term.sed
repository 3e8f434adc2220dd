# mutation: commit an entry of an earlier term by counting replicas
# (the Raft paper's Figure 8; LogCabin #44, canonical/raft #220).
# file: progress.c replication.c
s/if (q <= r->commit || raft_log_term(r, q) != r->term)/if (q <= r->commit)/
