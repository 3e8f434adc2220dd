# mutation: the leader counts its own entries toward the commit quorum
# before they are durable (etcd #14370).
# file: progress.c
s/uint64_t v = p->id == r->id ? r->stable : p->match;/uint64_t v = p->id == r->id ? raft_log_last(r) : p->match;/
