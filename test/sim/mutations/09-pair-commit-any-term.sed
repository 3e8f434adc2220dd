# mutation: pair commit of an entry of an older term (Figure 8: the leader
# holds it durably, yet a voter lacking it may still win).
# file: replication.c
s/if (k <= r->commit || raft_log_term(r, k) != r->term)/if (k <= r->commit)/
