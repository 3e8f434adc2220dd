/* probe.h -- coordbench's floor probes (probe.c): what one durable append
 * and one loopback round trip cost on this machine, to compare a 1x1
 * write's latency with. Each prints one key=value line on stdout and
 * returns 0, or 1 after an error message on stderr. No coord involved. */
#ifndef COORDBENCH_PROBE_H
#define COORDBENCH_PROBE_H

/* n appends of 256 bytes, each followed by fdatasync, to a fresh file in
 * dir (unlinked at once). Prints fsync_n, fsync_p10_us .. fsync_p99_us. */
int probe_fsync(const char *dir, unsigned n);

/* n round trips of 64 bytes over a loopback TCP connection between this
 * thread and an echo thread. Prints rtt_n, rtt_p10_us .. rtt_p99_us. */
int probe_rtt(unsigned n);

#endif /* COORDBENCH_PROBE_H */
