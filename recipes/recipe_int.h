/* recipe_int.h -- helpers shared by the recipes (the recipes/ sources): a watch
 * waiter, deadlines, path creation and the ephemeral-sequential node
 * protocol (create with a per-handle GUID, find our node after a lost
 * reply, find the lowest node and our immediate predecessor). Internal to
 * recipes/; uses only the public coord.h API and never libcoord
 * internals. */
#ifndef RECIPE_INT_H
#define RECIPE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"

/* The project's only allocator (libcoord/shared/alloc.c, linked with
 * libcoord). tidy.sh keeps recipes/ from including shared/ headers, so its
 * two prototypes are repeated here; keep them identical. */
void *coord_calloc(size_t n, size_t size);
void coord_free(void *p);

#define RCP_GUID_LEN 16       /* hex characters */
#define RCP_NAME_MAX 128      /* prefix-guid-seq */
#define RCP_PATH_MAX 512      /* recipe paths are kept short */

/* Wakes a thread when a one-shot watch fires. Freed with rcp_wait_free();
 * it is leaked (never freed) while a watch on it may still fire. */
struct rcp_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t fired;              /* events seen */
    int armed;                   /* registered, not yet fired */
    int armed_kind;              /* enum coord_watch_kind */
    char armed_path[RCP_PATH_MAX];
};

int rcp_wait_new(struct rcp_wait **out);
void rcp_wait_free(struct rcp_wait *w, struct coord_client *c);
uint64_t rcp_wait_seen(struct rcp_wait *w);
/* The watcher to pass to a read; call rcp_wait_armed() after the read
 * registered it (status 0). */
struct coord_watcher rcp_watcher(struct rcp_wait *w);
void rcp_wait_armed(struct rcp_wait *w, const char *path, int kind);
/* Until fired != seen (0), deadline (COORD_ETIMEDOUT) or the session ends
 * (COORD_ESESSIONEXPIRED / COORD_ECLOSED). */
int rcp_wait_until(struct rcp_wait *w, uint64_t seen, int64_t deadline,
                   struct coord_client *c);

/* Monotonic ms; deadline -1 = never. */
int64_t rcp_now_ms(void);
int64_t rcp_deadline(int timeout_ms);
/* Creates path and its missing parents (persistent, empty). */
int rcp_mkpath(struct coord_client *c, const char *path);
void rcp_guid(char out[RCP_GUID_LEN + 1]);

/* One ephemeral-sequential node of ours under dir. */
struct rcp_node {
    char name[RCP_NAME_MAX];  /* "" when none */
    uint64_t czxid;
};
/* Creates dir/<prefix>-<guid>-<seq>, resolving a lost create reply by
 * listing dir for our guid. */
int rcp_node_create(struct coord_client *c, const char *dir,
                    const char *prefix, const char *guid,
                    const void *value, size_t len, struct rcp_node *n);
/* 1 if n is the lowest node of prefix under dir, 0 if not (pred set to
 * the immediate predecessor's name), COORD_ENONODE if n is gone. */
int rcp_node_position(struct coord_client *c, const char *dir,
                      const char *prefix, const struct rcp_node *n,
                      char pred[RCP_NAME_MAX]);
/* Waits until n is the lowest: 0, COORD_ETIMEDOUT, COORD_ENONODE, ... */
int rcp_node_await(struct coord_client *c, const char *dir,
                   const char *prefix, const struct rcp_node *n,
                   struct rcp_wait *w, int64_t deadline);
/* Deletes dir/n (ENONODE counts as done) and clears n. */
int rcp_node_delete(struct coord_client *c, const char *dir,
                    struct rcp_node *n);
/* Deletes every node of ours (guid) under dir: the ones whose create
 * outcome we never learnt. */
int rcp_node_purge(struct coord_client *c, const char *dir,
                   const char *guid);
/* The sequence number at the end of a name, or -1. */
int64_t rcp_seq(const char *name);
/* dir + "/" + name into out; COORD_ETOOBIG if too long. */
int rcp_join(char *out, size_t cap, const char *dir, const char *name);

#endif /* RECIPE_INT_H */
