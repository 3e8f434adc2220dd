/* snapfork.h -- runs a snapshot serializer in a forked child, so that the
 * event loop keeps serving while a large tree serializes (docs/snapshots.md).
 * The child sees the tree as of the fork (copy-on-write), writes its bytes
 * into a pipe and exits; a collector thread of the parent reads the pipe to
 * its end and learns the child's exit status; the loop thread reaps it.
 *
 * Used by node.c only. Rules:
 * - The child of a multi-threaded process may only make async-signal-safe
 *   calls: the child function must not allocate (malloc and the ASan
 *   allocator may be locked by a thread that does not exist in the child),
 *   sort with qsort, log, lock, or touch any descriptor but the one given;
 *   snapfork_write is the write it should use. Everything it needs is made
 *   before snapfork_start (tree_snapshot_prepare).
 * - A child is reaped only by the thread that started it, after the
 *   collector is done (snapfork_reap), so its PID cannot be reused while
 *   anyone may still signal it (snapfork_kill, from either thread).
 * - Nothing else in coordd may reap children: no waitpid(-1), no SIGCHLD
 *   set to SIG_IGN (children would reap themselves), no libev default
 *   loop (its SIGCHLD watcher calls waitpid(-1); net/loop.c uses
 *   ev_loop_new). The collector's waitid would then fail and every
 *   snapshot would count as a failed child.
 * - Must not use libev or anything of coordd's but check.h/alloc.h.
 */
#ifndef COORDD_SNAPFORK_H
#define COORDD_SNAPFORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit status of a child whose coord_assert failed (written to stderr with
 * write(2), no stdio, then _exit). */
#define SNAPFORK_EXIT_PANIC 3

/* Runs in the child with the pipe's write end; returns 0 when it wrote a
 * whole snapshot (the child then exits 0), or a negative code (exit 1). */
typedef int (*snapfork_fn)(void *data, int fd);

struct snapfork {
    pid_t pid;       /* > 0 from start until reaped */
    int fd;          /* the pipe's read end; -1 once closed */
    bool exited;     /* the collector saw the child end: */
    int exit_code;   /* its exit status, or -1 if a signal ended it */
    int signo;       /* the signal that ended it, or 0 */
};

/* Forks a child that runs fn(data, fd) and exits. The child keeps only the
 * pipe's write end open (a client socket it held would outlive its close
 * in the parent) and dies with its parent. 0, or COORD_EIO when pipe or
 * fork fails (nothing started; errno kept). */
int snapfork_start(struct snapfork *f, snapfork_fn fn, void *data);

/* Collector (any one thread): reads the child's bytes to the end into *buf
 * (grown with coord_realloc; *len bytes used of *cap), closes the pipe and
 * waits for the child to exit without reaping it. 0 when the child exited
 * 0 after the whole stream was read; COORD_EIO if it failed, was killed or
 * exited otherwise; COORD_ENOMEM (the child is killed then). */
int snapfork_collect(struct snapfork *f, uint8_t **buf, size_t *len,
                     size_t *cap);

/* SIGKILL to the child unless reaped; safe from the loop while the
 * collector runs (its read then ends, and it sees a killed child). */
void snapfork_kill(struct snapfork *f);

/* The thread that started the child, after the collector returned (or if
 * none ever ran: it closes the pipe and waits): reaps it. */
void snapfork_reap(struct snapfork *f);

/* A short description of the child's end for logs ("exit 0", "signal 9"),
 * into buf (at least 16 bytes). */
const char *snapfork_describe(const struct snapfork *f, char *buf,
                              size_t cap);

/* For the child: writes all of p to fd (retrying EINTR and short writes).
 * 0 or COORD_EIO. Async-signal-safe. */
int snapfork_write(int fd, const void *p, size_t len);

#endif /* COORDD_SNAPFORK_H */
