# mutation (APPEND path): a follower takes min(leaderCommit, its last index) instead of
# min(leaderCommit, last index this message verified) (copycat #265,
# scylladb #9965).
# file: replication.c
s/uint64_t c = m->commit < last ? m->commit : last;/uint64_t c = m->commit < raft_log_last(r) ? m->commit : raft_log_last(r);/
