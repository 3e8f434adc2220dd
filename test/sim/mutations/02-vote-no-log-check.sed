# mutation: grant a vote without the log up-to-date check (§5.4.1).
# file: election.c
s/bool grant = can \&\& raft_log_up_to_date(r, m->index, m->log_term);/bool grant = can;/
