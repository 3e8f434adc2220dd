# mutation: ReadIndex served without a quorum heartbeat round (a deposed,
# partitioned leader answers from its own state).
# file: read.c
s/if (rd->fixed \&\& rd->round <= r->read_done) {/if (rd->fixed) {/
