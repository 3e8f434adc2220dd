# mutation: pair commit with 4 or 5 voters too, where leader and one
# follower are not a quorum (both sides' checks removed).
# file: replication.c
s/return raft_quorum(r) == 2 \&\& raft_is_voter/return raft_is_voter/
