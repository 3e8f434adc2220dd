/* probe.h -- coordbench's floor probes (probe.c, pipeline.c): what one
 * durable append, a majority of three concurrent ones on one file system,
 * one loopback round trip, and a write through an ideal 3-replica
 * pipeline cost on this machine, to compare a 1x1 write's latency with.
 * Each prints one key=value line on stdout and returns 0, or 1 after an
 * error message on stderr. No coord involved. */
#ifndef COORDBENCH_PROBE_H
#define COORDBENCH_PROBE_H

#include <stddef.h>
#include <stdint.h>

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

/* The pipeline probe (pipeline.c): n writes one at a time through an
 * ideal 3-replica pipeline in four processes -- a client, a "leader" and
 * two "followers" over loopback TCP, each replica writing a 4 KiB block
 * O_DIRECT|O_DSYNC per write to its own file in dir, and doing nothing
 * else -- first sent to the leader, then to a follower. Prints one line:
 * pipe_leader_n, pipe_leader_p10_us .. p99, pipe_follower_p50_us,
 * pipe_follower_p99_us, pipe_direct (1 or 0). */
int probe_pipeline(const char *dir, unsigned n);

/* Shared by the probes. */

/* A log writer's unit (coord's log block) and the zero-filled file it
 * overwrites block after block, wrapping around. */
#define PROBE_BLOCK_BYTES 4096
#define PROBE_LOG_FILE_BYTES (1024 * 1024)

struct hist;

uint64_t probe_now_ns(void); /* CLOCK_MONOTONIC */
/* Prints what_n and what_p10_us .. what_p99_us, no newline. */
void probe_print_hist_kv(const char *what, const struct hist *h);
/* Prints " what_p50_us=.. what_p99_us=..", no newline. */
void probe_print_p50_p99(const char *what, const struct hist *h);
/* Makes writer idx's log file in dir: PROBE_LOG_FILE_BYTES of zeros,
 * durable, then reopened for O_DIRECT|O_DSYNC overwrites (*direct stays
 * 1) or, where the file system refuses O_DIRECT (tmpfs), for pwrite +
 * fdatasync (*direct set to 0); unlinked once open. -1 after a message. */
int probe_log_open(const char *dir, unsigned idx, int *direct);
/* A connected pair over 127.0.0.1 with TCP_NODELAY (fds[0] the client,
 * fds[1] accepted); -1 after a message. */
int probe_loopback_pair(int fds[2]);
/* Reads exactly n bytes; -1 on EOF or error. */
int probe_read_full(int fd, char *p, size_t n);

#endif /* COORDBENCH_PROBE_H */
