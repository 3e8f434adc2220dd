# mutation: the follower's commit is not bounded by what the leader has
# verified in its log: heartbeats carry the leader's full commit instead of
# min(match, commit), and the follower takes min(leaderCommit, its own last
# index), so it commits stale, unverified entries (copycat #265, scylladb
# #9965; etcd sends min(match, committed) for this reason).
# file: replication.c
s/m->commit = p->match < r->commit ? p->match : r->commit;/m->commit = r->commit;/
