/* probe.h -- coordbench's floor probes (probe.c): what one durable append,
 * a majority of three concurrent ones on one file system, and one loopback
 * round trip cost on this machine, to compare a 1x1 write's latency with.
 * Each prints one key=value line on stdout and returns 0, or 1 after an
 * error message on stderr. No coord involved. */
#ifndef COORDBENCH_PROBE_H
#define COORDBENCH_PROBE_H

/* n appends of 256 bytes, each followed by fdatasync, to a fresh file in
 * dir (unlinked at once). Prints fsync_n, fsync_p10_us .. fsync_p99_us. */
int probe_fsync(const char *dir, unsigned n);

/* n lock-step rounds of three threads, each writing one 4 KiB block to its
 * own fresh zero-filled file in dir (unlinked at once) with O_DIRECT|
 * O_DSYNC, as coord's log segments are written (pwrite + fdatasync where
 * the file system refuses O_DIRECT), started together by a barrier: a
 * 3-node cluster's replicas on one disk making the same entry durable. Per round, from the round's start (the first thread's clock
 * after the barrier) to the second completion (a majority of three), the
 * first and the third, and the start skew (last thread's start - first's).
 * Prints one line: majority_n, majority_p10_us .. majority_p99_us,
 * first_p50_us, first_p99_us, third_p50_us, third_p99_us,
 * start_skew_p50_us, start_skew_p99_us, majority_direct (1 or 0). */
int probe_majority(const char *dir, unsigned n);

/* n round trips of 64 bytes over a loopback TCP connection between this
 * thread and an echo thread. Prints rtt_n, rtt_p10_us .. rtt_p99_us. */
int probe_rtt(unsigned n);

#endif /* COORDBENCH_PROBE_H */
