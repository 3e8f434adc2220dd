# mutation: pair commit counts the follower's own entries before they are
# durable on its disk.
# file: replication.c
s/uint64_t k = r->lead_durable < r->stable ? r->lead_durable : r->stable;/uint64_t k = r->lead_durable < raft_log_last(r) ? r->lead_durable : raft_log_last(r);/
