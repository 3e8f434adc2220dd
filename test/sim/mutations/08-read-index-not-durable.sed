# mutation: pair commit, but the leader fixes a read's index at its commit
# index alone, not at the highest durable index it told a follower (which
# may have answered a write up to it).
# file: read.c
s/rd->index = r->commit > r->durable_sent ? r->commit/rd->index = 1 ? r->commit/
